//! Plugins registered at run time: a drop-in ConfigMap is picked up, replaced by a new version, and removed
//! while the controller runs; a plugin that fails to load is named on the runs that use it.

use super::fixture::{Env, metric, phase, yaml};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use serin::api::analysis::AnalysisRunSpec;
use serin::api::common::AnalysisPhase;
use std::collections::BTreeMap;

fn test_plugin(name: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("SERIN_TEST_PLUGIN_DIR")).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn drop_in(
    namespace: &str,
    cm_name: &str,
    plugin: &str,
    component: Vec<u8>,
    registration_extra: &str,
) -> ConfigMap {
    let mut labels = BTreeMap::new();
    labels.insert("serin.dev/plugin".to_string(), "true".to_string());
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(cm_name.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "plugin.yaml".to_string(),
            format!("name: {plugin}\n{registration_extra}"),
        )])),
        binary_data: Some(BTreeMap::from([("plugin.wasm".to_string(), ByteString(component))])),
        ..Default::default()
    }
}

fn run_spec(plugin: &str, config: &str) -> AnalysisRunSpec {
    yaml(&format!(
        r#"
metrics:
- name: m
  consecutiveErrorLimit: 0
  provider:
    plugin:
      {plugin}: {config:?}
"#
    ))
}

/// The value of the first measurement of the completed run `name`.
async fn measured_value(env: &Env, name: &str) -> (AnalysisPhase, Option<String>, Option<String>) {
    let run = env.completed(name).await;
    let m = metric(&run, "m").measurements.clone().unwrap_or_default();
    let first = m.first().cloned().unwrap_or_default();
    (phase(&run), first.value, first.message)
}

on_both_substrates! {
    async fn a_drop_in_plugin_is_loaded_replaced_and_removed_without_a_restart(s: &Substrate) {
        let env = Env::start(s).await;
        let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);

        // Version 1: the `constant` plugin judges the number in its config (1 when it is not a number).
        cms.create(&PostParams::default(), &drop_in(&env.ns, "acme-measure", "acme/measure", test_plugin("constant"), ""))
            .await
            .expect("drop-in v1");
        wait_registered(&env, "acme/measure", |e| e.error.is_none()).await;
        env.create_run("v1", run_spec("acme/measure", "ok")).await;
        assert_eq!(measured_value(&env, "v1").await, (AnalysisPhase::Successful, Some("1".into()), None));

        // Version 2 replaces it in place: the `hostile` plugin decides "fine" for the config `ok`.
        let v1_digest =
            env.controller.catalog().registry().get("acme/measure").expect("v1").info().sha256.clone();
        cms.replace(
            "acme-measure",
            &PostParams::default(),
            &drop_in(&env.ns, "acme-measure", "acme/measure", test_plugin("hostile"), ""),
        )
        .await
        .expect("drop-in v2");
        wait_for_digest_change(&env, "acme/measure", &v1_digest).await;
        env.create_run("v2", run_spec("acme/measure", "ok")).await;
        assert_eq!(measured_value(&env, "v2").await, (AnalysisPhase::Successful, Some("fine".into()), None));

        // Removed: runs say the plugin is not registered.
        cms.delete("acme-measure", &DeleteParams::default()).await.expect("delete");
        wait_unregistered(&env, "acme/measure").await;
        env.create_run("gone", run_spec("acme/measure", "ok")).await;
        let (p, _, message) = measured_value(&env, "gone").await;
        assert_eq!(
            (p, message.as_deref()),
            (AnalysisPhase::Error, Some("plugin acme/measure is not registered"))
        );
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_plugin_that_fails_to_load_is_named_on_every_run_that_uses_it(s: &Substrate) {
        let env = Env::start(s).await;
        let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);
        cms.create(&PostParams::default(), &drop_in(&env.ns, "broken", "acme/broken", b"not a component".to_vec(), ""))
            .await
            .expect("broken drop-in");
        let wrong_digest = format!("sha256: {}\n", "0".repeat(64));
        cms.create(
            &PostParams::default(),
            &drop_in(&env.ns, "tampered", "acme/tampered", test_plugin("constant"), &wrong_digest),
        )
        .await
        .expect("tampered drop-in");
        wait_registered(&env, "acme/broken", |e| e.error.is_some()).await;
        wait_registered(&env, "acme/tampered", |e| e.error.is_some()).await;

        env.create_run("broken", run_spec("acme/broken", "x")).await;
        let (p, _, message) = measured_value(&env, "broken").await;
        assert_eq!(p, AnalysisPhase::Error);
        let message = message.unwrap_or_default();
        assert!(
            message.starts_with(
                "plugin acme/broken failed to load: plugin acme/broken is not a valid WebAssembly component"
            ),
            "{message}"
        );

        env.create_run("tampered", run_spec("acme/tampered", "x")).await;
        let (_, _, message) = measured_value(&env, "tampered").await;
        assert!(message.unwrap_or_default().contains("sha256 mismatch"));

        // A hostile plugin is contained by its registered limits; the controller keeps serving.
        cms.create(
            &PostParams::default(),
            &drop_in(&env.ns, "looping", "acme/looping", test_plugin("hostile"), "limits: {timeout: 300ms}\n"),
        )
        .await
        .expect("hostile drop-in");
        wait_registered(&env, "acme/looping", |e| e.error.is_none()).await;
        env.create_run("loop", run_spec("acme/looping", "loop")).await;
        let (p, _, message) = measured_value(&env, "loop").await;
        assert_eq!(
            (p, message.as_deref()),
            (AnalysisPhase::Error, Some("plugin acme/looping exceeded its deadline of 300ms"))
        );
        env.stop().await;
    }
}

async fn wait_registered(env: &Env, name: &str, cond: impl Fn(&serin::plugin::catalog::Entry) -> bool) {
    let catalog = env.controller.catalog().clone();
    let ok = crate::harness::wait_for(std::time::Duration::from_secs(60), || {
        let found = catalog.entries().get(name).is_some_and(&cond);
        async move { found }
    })
    .await;
    assert!(ok.is_ok(), "plugin {name} never registered as expected: {:?}", catalog.entries().get(name));
}

async fn wait_unregistered(env: &Env, name: &str) {
    let catalog = env.controller.catalog().clone();
    let ok = crate::harness::wait_for(std::time::Duration::from_secs(60), || {
        let gone = !catalog.entries().contains_key(name);
        async move { gone }
    })
    .await;
    assert!(ok.is_ok(), "plugin {name} was never unregistered");
}

async fn wait_for_digest_change(env: &Env, name: &str, old: &str) {
    let catalog = env.controller.catalog().clone();
    let ok = crate::harness::wait_for(std::time::Duration::from_secs(60), || {
        let changed = catalog.registry().get(name).is_ok_and(|p| p.info().sha256 != old);
        async move { changed }
    })
    .await;
    assert!(ok.is_ok(), "plugin {name} was never replaced");
}

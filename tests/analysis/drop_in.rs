//! Plugins registered at run time: a drop-in ConfigMap is picked up, replaced by a new version, and removed
//! while the controller runs; a plugin that fails to load is named on the runs that use it; the operator's
//! ConfigMap outranks drop-ins and caps what they may be granted; plugins of both contract versions measure side by
//! side in one run.

use super::fixture::{Env, metric, phase, yaml};
use crate::e2e::plugins::{drop_in, test_plugin};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use serin::api::analysis::AnalysisRunSpec;
use serin::api::common::AnalysisPhase;

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

fn operator_config(namespace: &str, data: &[(&str, String)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some("serin-config".into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        data: Some(data.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()),
        ..Default::default()
    }
}

/// Waits until the ConfigMap `name` has an Event reading `wanted` ("Type Reason: message").
async fn config_map_event(env: &Env, name: &str, wanted: &str) {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(env.client.clone(), &env.ns);
    let lp = kube::api::ListParams::default()
        .fields(&format!("involvedObject.kind=ConfigMap,involvedObject.name={name}"));
    crate::e2e::wait::eventually(&format!("the Event {wanted:?} on ConfigMap {name}"), || async {
        let events = api.list(&lp).await.ok()?.items;
        events
            .iter()
            .any(|e| {
                format!(
                    "{} {}: {}",
                    e.type_.as_deref().unwrap_or_default(),
                    e.reason.as_deref().unwrap_or_default(),
                    e.message.as_deref().unwrap_or_default()
                ) == wanted
            })
            .then_some(())
    })
    .await
}

on_both_substrates! {
    async fn the_operators_config_map_outranks_drop_ins_and_caps_their_grants(s: &Substrate) {
        let env = Env::start(s).await;
        let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);
        let constant = std::path::PathBuf::from(env!("SERIN_TEST_PLUGIN_DIR")).join("constant.wasm");
        let registered = format!("- name: acme/measure\n  location: file://{}\n", constant.display());
        let cap = "http: [\"http://127.0.0.1:9\"]\n".to_string();
        cms.create(
            &PostParams::default(),
            &operator_config(&env.ns, &[("metricProviderPlugins", registered), ("dropInCapabilities", cap)]),
        )
        .await
        .expect("serin-config");
        wait_registered(&env, "acme/measure", |e| e.error.is_none() && e.source == "ConfigMap serin-config").await;

        // A drop-in of the same name does not replace the operator's plugin, and its ConfigMap says why.
        cms.create(&PostParams::default(), &drop_in(&env.ns, "shadow", "acme/measure", test_plugin("hostile"), ""))
            .await
            .expect("shadowing drop-in");
        config_map_event(
            &env,
            "shadow",
            "Warning PluginLoadFailed: plugin acme/measure is registered in ConfigMap serin-config, which takes \
             precedence over drop-ins; this drop-in is not used",
        )
        .await;

        // The 0.1.0 plugin and the built-in web provider (0.2.0) measure side by side in one run.
        let site = crate::analysis::fixture::serve(axum::Router::new().route(
            "/",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        ))
        .await;
        let spec: AnalysisRunSpec = yaml(&format!(
            r#"
metrics:
- name: m
  consecutiveErrorLimit: 0
  provider:
    plugin:
      acme/measure: "ok"
- name: w
  successCondition: result == true
  provider:
    web:
      url: "{site}/"
      jsonPath: "{{$.ok}}"
"#
        ));
        env.create_run("both", spec).await;
        let run = env.completed("both").await;
        let value = |m: &str| metric(&run, m).measurements.clone().unwrap_or_default().first().and_then(|x| x.value.clone());
        assert_eq!((phase(&run), value("m"), value("w")), (AnalysisPhase::Successful, Some("1".into()), Some("true".into())));

        // A drop-in asking for more than the cap is refused; runs that name it say what it asked for.
        let greedy = "capabilities:\n  http: [\"https://elsewhere.example\"]\n";
        cms.create(&PostParams::default(), &drop_in(&env.ns, "greedy", "acme/greedy", test_plugin("constant"), greedy))
            .await
            .expect("greedy drop-in");
        let refusal = "plugin acme/greedy asks for more than ConfigMap serin-config's dropInCapabilities allows \
                       drop-ins: http https://elsewhere.example:443";
        config_map_event(&env, "greedy", &format!("Warning PluginLoadFailed: {refusal}")).await;
        env.create_run("greedy", run_spec("acme/greedy", "ok")).await;
        let (p, _, message) = measured_value(&env, "greedy").await;
        assert_eq!((p, message), (AnalysisPhase::Error, Some(format!("plugin acme/greedy failed to load: {refusal}"))));
        // Within the cap, a drop-in loads.
        let modest = "capabilities:\n  http: [\"http://127.0.0.1:9\"]\n";
        cms.create(&PostParams::default(), &drop_in(&env.ns, "modest", "acme/modest", test_plugin("constant"), modest))
            .await
            .expect("modest drop-in");
        wait_registered(&env, "acme/modest", |e| e.error.is_none()).await;

        // Without the cap and without the operator's entry, both drop-ins are judged again and load.
        cms.replace("serin-config", &PostParams::default(), &operator_config(&env.ns, &[]))
            .await
            .expect("serin-config without entries");
        wait_registered(&env, "acme/greedy", |e| e.error.is_none()).await;
        wait_registered(&env, "acme/measure", |e| e.error.is_none() && e.source == "drop-in ConfigMap shadow").await;
        env.create_run("shadow", run_spec("acme/measure", "ok")).await;
        assert_eq!(measured_value(&env, "shadow").await, (AnalysisPhase::Successful, Some("fine".into()), None));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn the_controllers_own_network_policy_holds_unless_serin_config_sets_one(s: &Substrate) {
        let mut options = serin::controller::Options {
            namespace: Some(s.namespace.clone()),
            plugin_namespace: s.namespace.clone(),
            health_addr: Some("127.0.0.1:0".parse().expect("addr")),
            ..serin::controller::Options::default()
        };
        let base = serin::plugin::net::Cidr::parse("10.20.0.0/16").expect("cidr");
        options.runtime.network.allow_cidrs = vec![base];
        let controller = serin::controller::Controller::start(s.client.clone(), options).await.expect("controller");
        controller.ready().await;
        let policy = || controller.catalog().registry().runtime().network().policy.allow_cidrs.clone();
        assert_eq!(policy(), [base], "no serin-config: the controller's own policy");
        let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.namespace);
        let constant = std::path::PathBuf::from(env!("SERIN_TEST_PLUGIN_DIR")).join("constant.wasm");
        let registered = format!("- name: acme/measure\n  location: file://{}\n", constant.display());
        cms.create(&PostParams::default(), &operator_config(&s.namespace, &[("metricProviderPlugins", registered)]))
            .await
            .expect("serin-config");
        let catalog = controller.catalog().clone();
        crate::harness::wait_for(std::time::Duration::from_secs(60), || {
            let seen = catalog.entries().contains_key("acme/measure");
            async move { seen }
        })
        .await
        .expect("serin-config applied");
        assert_eq!(policy(), [base], "a serin-config without pluginNetwork leaves it");
        let with_network = operator_config(&s.namespace, &[("pluginNetwork", "allowCIDRs: [\"10.30.0.0/16\"]\n".to_string())]);
        cms.replace("serin-config", &PostParams::default(), &with_network).await.expect("pluginNetwork");
        let want = serin::plugin::net::Cidr::parse("10.30.0.0/16").expect("cidr");
        crate::harness::wait_for(std::time::Duration::from_secs(60), || {
            let now = controller.catalog().registry().runtime().network().policy.allow_cidrs.clone();
            async move { now == [want] }
        })
        .await
        .expect("pluginNetwork applied");
        cms.delete("serin-config", &DeleteParams::default()).await.expect("delete");
        crate::harness::wait_for(std::time::Duration::from_secs(60), || {
            let now = controller.catalog().registry().runtime().network().policy.allow_cidrs.clone();
            async move { now == [base] }
        })
        .await
        .expect("back to the controller's own policy once serin-config is gone");
        controller.shutdown().await;
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

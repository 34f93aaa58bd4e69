//! The contract's versions side by side: released WIT never changes, a world is the whole sandbox, 0.1.0 and
//! 0.2.0 plugins load and run in one host, 0.2.0 routers get their context, state and outcome, step plugins
//! run, and the kubernetes import keeps to the namespaces it is granted.

use super::helpers::{registry, test_plugin};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serin::plugin::contract::Version;
use serin::plugin::grants::{KubernetesGrant, Verb};
use serin::plugin::kube::KubeAccess;
use serin::plugin::metric::ObjectRef;
use serin::plugin::router::{
    HeaderMatch, HeaderRoute, RouterContext, RouterOutcome, StringMatch, Verification,
};
use serin::plugin::step::{StepContext, StepPhase};
use serin::plugin::{CallError, CallOptions, Grants, LoadError, Observation, PluginKind, Registry};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// The digest of every released contract directory. A released contract is frozen: if this fails, the change
/// belongs in a new version's directory.
const RELEASED: &[(&str, &str)] =
    &[("0.1.0", "ed817fc6e4173329b3daa68dd44226bbd24b839a63b339690e2022f54fe5dc8e")];

/// sha256 over every file of `dir` (sorted relative path, NUL, contents, NUL).
fn digest(dir: &Path) -> String {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read WIT directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).expect("relative").to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read(&path).expect("read WIT file")));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for (name, bytes) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(&bytes);
        h.update([0]);
    }
    hex::encode(h.finalize())
}

#[test]
fn released_contract_directories_never_change() {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("wit");
    for (version, expected) in RELEASED {
        assert_eq!(&digest(&wit.join(version)), expected, "wit/{version} is released and frozen");
        assert!(Version::parse(version).is_some(), "a released version stays supported: {version}");
    }
}

#[test]
fn a_world_is_the_whole_sandbox() {
    let reg = Registry::new(registry().runtime().clone());
    let cases = [
        (
            "overreach-evaluator",
            "imports wasi:http/types@0.2.12, which a condition evaluator's world \
             (serin:plugin/condition-evaluator-plugin@0.2.0) does not offer",
        ),
        (
            "overreach-router",
            "imports serin:plugin/prometheus@0.2.0, which a traffic router's world \
             (serin:plugin/traffic-router-plugin@0.2.0) does not offer",
        ),
    ];
    for (plugin, message) in cases {
        let err = reg.insert(&format!("acme/{plugin}"), &test_plugin(plugin), None).unwrap_err();
        assert!(matches!(err, LoadError::ImportNotInWorld { .. }), "{plugin}: {err}");
        assert!(err.to_string().contains(message), "{plugin}: {err}");
        assert_eq!(err.label(), "import-not-in-world");
    }
}

#[test]
fn the_built_ins_are_built_against_the_current_contract_and_old_plugins_still_load() {
    for b in serin::plugin::builtin::BUILTINS {
        let plugin = registry().get(b.name).expect("built-in");
        assert_eq!(plugin.info().contract, Version::V0_2_0, "{}", b.name);
    }
    for (name, kind) in [("constant", PluginKind::MetricProvider), ("router", PluginKind::TrafficRouter)] {
        let plugin = Registry::new(registry().runtime().clone())
            .insert(&format!("acme/{name}"), &test_plugin(name), None)
            .expect("a 0.1.0 plugin loads");
        assert_eq!((plugin.info().contract, plugin.kind()), (Version::V0_1_0, kind), "{name}");
    }
}

fn rollout_ref(namespace: &str) -> ObjectRef {
    ObjectRef {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Rollout".into(),
        namespace: namespace.into(),
        name: "checkout".into(),
        uid: "u1".into(),
    }
}

fn configmap_grant(namespaces: &[&str]) -> Grants {
    Grants {
        kubernetes: vec![KubernetesGrant {
            group: String::new(),
            resource: "configmaps".into(),
            verbs: vec![Verb::Get, Verb::Create, Verb::Patch, Verb::List],
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        }],
        ..Grants::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_of_both_versions_run_side_by_side_and_0_2_0_gets_context_state_and_outcome() {
    let cluster =
        serin::cluster::start(serin::cluster::ClusterConfig::builder().build()).await.expect("cluster");
    let client = cluster.client().expect("client");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(serde_json::json!({"metadata": {"name": "mesh"}})).expect("namespace");
    namespaces.create(&PostParams::default(), &ns).await.expect("namespace mesh");
    let reg = Registry::new(registry().runtime().clone());
    let old = reg.insert("acme/router", &test_plugin("router"), None).expect("0.1.0 router");
    let new = reg.insert("acme/router2", &test_plugin("router2"), None).expect("0.2.0 router");
    let opts = CallOptions {
        grants: configmap_grant(&[]),
        kube: Some(KubeAccess { client: client.clone(), namespace: "default".into() }),
        ..CallOptions::default()
    };
    let ctx = RouterContext {
        rollout: rollout_ref("default"),
        config: "{}".into(),
        traffic_routing: r#"{"managedRoutes":[{"name":"header"},{"name":"mirror"}]}"#.into(),
        managed_routes: vec!["header".into(), "mirror".into()],
        canary_service: "checkout-canary".into(),
        stable_service: "checkout-stable".into(),
        stable_hash: Some("5859f96865".into()),
        canary_hash: Some("6c5f9c8b7d".into()),
        max_weight: 100,
        state: None,
    };

    // The 0.1.0 router answers as it always did; it sees none of what 0.2.0 adds.
    let reply = old.set_weight(&opts, &ctx, 10, &[]).await.expect("0.1.0 call");
    assert_eq!((reply.outcome, reply.state), (RouterOutcome::Done, None));

    // 0.2.0: waiting for a load balancer is a retry with a message, and the state travels between calls.
    let waiting = RouterContext { config: r#"{"waitFor": 1}"#.into(), ..ctx.clone() };
    let reply = new.set_weight(&opts, &waiting, 20, &[]).await.expect("call");
    assert_eq!(
        reply.outcome,
        RouterOutcome::Retry {
            after: Duration::from_millis(10),
            message: "load balancer provisioning (1 of 1)".into()
        }
    );
    assert_eq!(reply.state.as_deref(), Some("calls=1"));
    let again = RouterContext { state: reply.state, ..waiting };
    let reply = new.set_weight(&opts, &again, 20, &[]).await.expect("call");
    assert_eq!((reply.outcome, reply.state.as_deref()), (RouterOutcome::Done, Some("calls=2")));

    // What it applied (server-side apply) carries the context; a header route is added by JSON patch.
    let route = HeaderRoute {
        name: "header".into(),
        matches: vec![HeaderMatch {
            header_name: "x-canary".into(),
            header_value: StringMatch::Exact("1".into()),
        }],
    };
    let reply = new.set_header_route(&opts, &ctx, &route).await.expect("call");
    assert_eq!(reply.outcome, RouterOutcome::Done);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = cms.get("checkout-routes").await.expect("routes");
    let data = cm.data.clone().expect("data");
    let field = |k: &str| data.get(k).map(String::as_str);
    assert_eq!(field("weight"), Some("20"));
    assert_eq!((field("stable-hash"), field("canary-hash")), (Some("5859f96865"), Some("6c5f9c8b7d")));
    assert_eq!(field("managed-routes"), Some("header,mirror"));
    assert_eq!(field("traffic-routing"), Some(ctx.traffic_routing.as_str()));
    assert_eq!(field("previous-state"), Some("calls=1"));
    assert_eq!(field("route.header"), Some("x-canary"));
    let managers: Vec<String> =
        cm.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.clone()).collect();
    assert!(managers.iter().any(|m| m == "serin-plugin-acme-router2"), "{managers:?}");
    let (verified, _) = new.verify_weight(&opts, &ctx, 20, &[]).await.expect("call");
    assert_eq!(verified, Verification::Verified);

    // Another namespace is out of reach unless the grant names it; an empty namespace never is.
    let elsewhere = RouterContext { config: r#"{"namespace": "mesh"}"#.into(), ..ctx.clone() };
    let denied = new.set_weight(&opts, &elsewhere, 30, &[]).await;
    assert!(
        matches!(&denied, Err(CallError::Denied { what, .. }) if what.contains("in namespace \"mesh\" is not granted")),
        "{denied:?}"
    );
    let granted = CallOptions { grants: configmap_grant(&["mesh"]), ..opts.clone() };
    let reply = new.set_weight(&granted, &elsewhere, 30, &[]).await.expect("granted namespace");
    assert_eq!(reply.outcome, RouterOutcome::Done);
    let mesh: Api<ConfigMap> = Api::namespaced(client.clone(), "mesh");
    assert_eq!(mesh.get("checkout-routes").await.expect("routes").data.expect("data")["weight"], "30");
    let nowhere = RouterContext { config: r#"{"namespace": ""}"#.into(), ..ctx.clone() };
    let denied = new.set_weight(&opts, &nowhere, 30, &[]).await;
    assert!(
        matches!(&denied, Err(CallError::Denied { what, .. }) if what.contains("an empty namespace is refused")),
        "{denied:?}"
    );

    // A 0.1.0 call names no namespace: serving an object without one, it reaches nothing.
    let unnamespaced = CallOptions {
        kube: Some(KubeAccess { client: client.clone(), namespace: String::new() }),
        ..opts.clone()
    };
    let denied = old.set_weight(&unnamespaced, &ctx, 10, &[]).await;
    assert!(
        matches!(&denied, Err(CallError::Denied { what, .. }) if what.contains("has no namespace")),
        "{denied:?}"
    );
    let _ = cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_plugin_runs_until_done_with_its_status_carried_between_calls() {
    let reg = Registry::new(registry().runtime().clone());
    let step = reg.insert("acme/step", &test_plugin("step"), None).expect("step plugin");
    assert_eq!((step.kind(), step.info().contract), (PluginKind::StepPlugin, Version::V0_2_0));
    let opts = CallOptions::default();
    let mut ctx = StepContext {
        rollout: rollout_ref("default"),
        rollout_object: r#"{"metadata":{"name":"checkout"}}"#.into(),
        step_index: 2,
        config: r#"{"succeedAfter": 2}"#.into(),
        status: None,
        executions: 0,
        started_at: Some(jiff::Timestamp::now()),
    };
    let first = step.step_run(&opts, &ctx).await.expect("run");
    assert_eq!(first.phase, StepPhase::Running);
    assert_eq!(first.requeue_after, Some(Duration::from_millis(100)));
    assert_eq!(first.message, "checkout step 2 run 1 of 2 (executions 0, started true)");
    (ctx.status, ctx.executions) = (first.status.clone(), 1);
    let second = step.step_run(&opts, &ctx).await.expect("run");
    assert_eq!((second.phase, second.status.as_deref()), (StepPhase::Successful, Some(r#"{"runs":2}"#)));
    ctx.status = second.status;
    assert_eq!(step.step_abort(&opts, &ctx).await.expect("abort").message, "aborted after 2 runs");
    assert_eq!(step.step_terminate(&opts, &ctx).await.expect("terminate").message, "terminated after 2 runs");
    let failing = StepContext { config: r#"{"fail": true}"#.into(), ..ctx };
    assert_eq!(step.step_run(&opts, &failing).await.expect("run").phase, StepPhase::Failed);

    // A step plugin is not a metric provider, and the other way round.
    let wrong = step.metric_run(&opts, &super::helpers::metric_call("{}")).await;
    assert!(matches!(wrong, Err(CallError::WrongKind { .. })), "{wrong:?}");
    let constant = registry().get("web").expect("web");
    let wrong = constant.step_run(&opts, &failing_ctx()).await;
    assert!(matches!(wrong, Err(CallError::WrongKind { .. })), "{wrong:?}");
}

fn failing_ctx() -> StepContext {
    StepContext { config: "{}".into(), ..StepContext::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_larger_than_the_output_cap_is_refused_before_it_is_held() {
    let cluster =
        serin::cluster::start(serin::cluster::ClusterConfig::builder().build()).await.expect("cluster");
    let client = cluster.client().expect("client");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "default");
    for i in 0..40 {
        let s = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("s{i}")},
            "stringData": {"blob": "x".repeat(2000)},
        }))
        .expect("secret");
        secrets.create(&PostParams::default(), &s).await.expect("create secret");
    }
    // The hostile plugin lists Secrets (0.1.0: every page, into one list).
    let hostile = super::helpers::loaded("hostile");
    let grant = |resource: &str| Grants {
        kubernetes: vec![KubernetesGrant {
            group: if resource == "*" { "*".into() } else { String::new() },
            resource: resource.into(),
            verbs: vec![Verb::List],
            namespaces: vec![],
        }],
        ..Grants::default()
    };
    let mut opts = CallOptions {
        grants: grant("secrets"),
        kube: Some(KubeAccess { client: client.clone(), namespace: "default".into() }),
        ..CallOptions::default()
    };
    opts.limits.output = 16 << 10;
    let call = super::helpers::metric_call("kubernetes");
    match hostile.metric_run(&opts, &call).await {
        Ok(Observation::Error(e)) => assert!(e.contains("output limit of 16384 bytes"), "{e}"),
        other => panic!("a list past the output cap was handed over: {other:?}"),
    }
    // With room, the same list arrives whole.
    opts.limits.output = 1 << 20;
    match hostile.metric_run(&opts, &call).await {
        Ok(Observation::Decided { value: Some(list), .. }) => {
            let list: serde_json::Value = serde_json::from_str(&list).expect("list");
            assert_eq!(list["items"].as_array().map(Vec::len), Some(40));
        }
        other => panic!("list: {other:?}"),
    }
    // A `*` grant covers everything but Secrets.
    opts.grants = grant("*");
    let denied = hostile.metric_run(&opts, &call).await;
    assert!(
        matches!(&denied, Err(CallError::Denied { what, .. }) if what.contains("list on secrets is not granted")),
        "{denied:?}"
    );
    let _ = cluster.shutdown().await;
}

//! A traffic-routed canary driven through a router plugin from a drop-in ConfigMap, on both substrates: the
//! weight of every step reaches the routed object, header routes come and go, abort returns all traffic to the
//! stable version, and a router denied what it needs stops the rollout with the reason on the Rollout.

use super::fixture::{
    Env, HASH_LABEL, canary_rollout, register_plugin, services, settled_split, sizes, status_of,
};
use crate::e2e::plugins::test_plugin;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::Api;
use serin::api::rollout::{PauseReason, RolloutConditionType, RolloutPhase};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Registers (or re-registers) the `router2` test plugin as `acme/router`, granted `verbs` on ConfigMaps.
async fn register_router(env: &Env<'_>, verbs: &str) {
    register(env, "acme/router", test_plugin("router2"), ("", "configmaps"), verbs).await;
}

/// Registers (or re-registers) a plugin and waits until the controller has loaded that registration.
async fn register(env: &Env<'_>, plugin: &str, component: Vec<u8>, resource: (&str, &str), verbs: &str) {
    let (group, plural) = resource;
    let grant = format!(
        "capabilities:\n  kubernetes:\n  - {{group: \"{group}\", resource: {plural}, verbs: [{verbs}]}}\n"
    );
    let wanted: Vec<String> = verbs.split(',').map(|v| v.trim().to_string()).collect();
    register_plugin(env, plugin, component, &grant, |e| {
        e.grants
            .kubernetes
            .iter()
            .any(|g| g.verbs.iter().map(|v| v.as_str().to_string()).collect::<Vec<_>>() == wanted)
    })
    .await;
}

/// The data of the ConfigMap the router keeps for `rollout`, once `cond` holds for it.
async fn wait_routes(
    env: &Env<'_>,
    rollout: &str,
    what: &str,
    cond: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let cms: Api<ConfigMap> = env.s.api();
    let start = Instant::now();
    loop {
        let data = cms.get_opt(&format!("{rollout}-routes")).await.expect("read routes").and_then(|c| c.data);
        if let Some(d) = &data
            && cond(d)
        {
            return d.clone();
        }
        assert!(
            start.elapsed() < crate::e2e::wait::WAIT * 2,
            "{}: the routes of {rollout} never reached: {what}; they are {data:?}",
            env.s.kind.name()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn routes_keys(data: &BTreeMap<String, String>) -> Vec<&str> {
    data.keys().filter(|k| k.starts_with("route.")).map(String::as_str).collect()
}

const STRATEGY: &str = r#"scaleDownDelaySeconds: 2
trafficRouting:
  managedRoutes: [{name: header}]
  plugins:
    acme/router: {}
steps:
- setWeight: 25
- pause: {}
- setHeaderRoute: {name: header, match: [{headerName: x-canary, headerValue: {exact: "yes"}}]}
- setWeight: 50
- pause: {}
"#;

/// Waits for the pause at step `index` with the split settled: (canary, stable) pods and the recorded weight.
async fn at_pause(env: &Env<'_>, name: &str, index: i32) -> ((i32, i32), i32) {
    at_pause_verified(env, name, index, Some(true)).await
}

/// [`at_pause`] with the verification expected of the router (`None`: it cannot tell).
async fn at_pause_verified(
    env: &Env<'_>,
    name: &str,
    index: i32,
    verified: Option<bool>,
) -> ((i32, i32), i32) {
    let (ro, rss) = env
        .wait(name, &format!("paused at step {index} with a settled split"), |ro, rss| {
            let s = status_of(ro);
            s.current_step_index == Some(index)
                && s.pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::CanaryPauseStep)
                && settled_split(ro, rss).is_some()
        })
        .await;
    let weights = status_of(&ro).canary.and_then(|c| c.weights).expect("weights recorded");
    assert_eq!(weights.verified, verified, "what the router verified");
    assert_eq!(weights.canary.weight + weights.stable.weight, 100);
    (settled_split(&ro, &rss).expect("settled"), weights.canary.weight)
}

async fn selector_hash(env: &Env<'_>, service: &str) -> Option<String> {
    let api: Api<Service> = env.s.api();
    let svc = api.get(service).await.expect("service");
    svc.spec.and_then(|s| s.selector).and_then(|s| s.get(HASH_LABEL).cloned())
}

on_both_substrates! {
    async fn a_router_plugin_gets_every_steps_weight_and_header_route_and_abort_returns_traffic(s: &Substrate) {
        let env = Env::start(s).await;
        register_router(&env, "get, create, patch").await;
        let name = "routed";
        env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 4, "app:v1", STRATEGY))).await;
        let (ro, _) = env.wait_healthy(name).await;
        let v1 = status_of(&ro).stable_rs.expect("stable");
        // The initial deploy: nothing on the canary, and the router told the stable hash.
        let routes = wait_routes(&env, name, "weight 0", |d| d.get("weight").map(String::as_str) == Some("0")).await;
        assert_eq!(routes.get("stable-hash"), Some(&v1));
        assert_eq!(routes.get("managed-routes").map(String::as_str), Some("header"));

        env.set_image(name, "app:v2").await;
        // Traffic-routed: the stable keeps all its pods; the canary gets ceil(25% of 4).
        assert_eq!(at_pause(&env, name, 1).await, ((1, 4), 25));
        let ro = env.rollout(name).await;
        let v2 = status_of(&ro).current_pod_hash.expect("canary hash");
        let routes = wait_routes(&env, name, "weight 25", |d| d.get("weight").map(String::as_str) == Some("25")).await;
        assert_eq!((routes.get("canary-hash"), routes.get("stable-hash")), (Some(&v2), Some(&v1)));
        assert!(routes_keys(&routes).is_empty(), "no header route before its step: {routes:?}");
        assert_eq!(selector_hash(&env, &format!("{name}-canary")).await, Some(v2.clone()));
        assert_eq!(selector_hash(&env, &format!("{name}-stable")).await, Some(v1.clone()));
        let state = status_of(&ro).canary.and_then(|c| c.traffic_router_statuses).expect("router statuses");
        assert_eq!(state.len(), 1);
        assert_eq!(state[0].name, "acme/router");
        assert!(state[0].state.as_deref().is_some_and(|s| s.starts_with("calls=")), "{state:?}");

        env.promote(name).await;
        assert_eq!(at_pause(&env, name, 4).await, ((2, 4), 50));
        let routes = wait_routes(&env, name, "weight 50", |d| d.get("weight").map(String::as_str) == Some("50")).await;
        assert_eq!(routes.get("route.header").map(String::as_str), Some("x-canary"));

        // Full promotion: all traffic to the new version, then the routes go and the old pods with them.
        env.promote(name).await;
        let (ro, rss) = env
            .wait(name, "v2 promoted with the old pods gone", |ro, rss| {
                status_of(ro).stable_rs.as_deref() == Some(v2.as_str()) && settled_split(ro, rss) == Some((4, 0))
            })
            .await;
        assert_eq!(status_of(&ro).phase, Some(RolloutPhase::Healthy), "{:?}", sizes(&rss));
        let routes = wait_routes(&env, name, "promoted routes", |d| routes_keys(d).is_empty()).await;
        assert_eq!(routes.get("stable-hash"), Some(&v2));

        // Abort after the header route was set: the route goes and every request returns to the stable.
        env.set_image(name, "app:v3").await;
        assert_eq!(at_pause(&env, name, 1).await, ((1, 4), 25));
        env.promote(name).await;
        assert_eq!(at_pause(&env, name, 4).await, ((2, 4), 50));
        wait_routes(&env, name, "the header route", |d| d.contains_key("route.header")).await;
        env.patch_status(name, r#"{"status":{"abort":true}}"#).await;
        let (ro, _) = env
            .wait(name, "aborted with no canary weight", |ro, _| {
                let s = status_of(ro);
                s.abort == Some(true)
                    && s.canary.and_then(|c| c.weights).is_some_and(|w| w.canary.weight == 0 && w.stable.weight == 100)
            })
            .await;
        assert_eq!(status_of(&ro).phase, Some(RolloutPhase::Degraded));
        let routes = wait_routes(&env, name, "aborted routes", |d| {
            d.get("weight").map(String::as_str) == Some("0") && routes_keys(d).is_empty()
        })
        .await;
        assert_eq!(routes.get("stable-hash"), Some(&v2));
        // The canary Service selects the stable pods again once the stable ReplicaSet is seen fully available,
        // which may be a pass after the weight went back.
        let canary = format!("{name}-canary");
        crate::e2e::wait::eventually("the aborted canary Service selecting the stable pods", || {
            let (env, canary, v2) = (&env, &canary, &v2);
            async move { (selector_hash(env, canary).await.as_ref() == Some(v2)).then_some(()) }
        })
        .await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_router_denied_what_it_needs_stops_the_rollout_with_the_reason_on_it(s: &Substrate) {
        let env = Env::start(s).await;
        register_router(&env, "get, create, patch").await;
        let name = "denied";
        env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 4, "app:v1", STRATEGY))).await;
        let (ro, _) = env.wait_healthy(name).await;
        let v1 = status_of(&ro).stable_rs.expect("stable");

        // The operator narrows the router's grant while it runs: it may read but no longer write.
        register_router(&env, "get").await;
        env.set_image(name, "app:v2").await;
        let (ro, rss) = env
            .wait(name, "the update stopped by a TrafficRouting condition", |ro, _| {
                let s = status_of(ro);
                s.current_pod_hash.as_deref() != Some(v1.as_str())
                    && s.conditions.iter().flatten().any(|c| c.type_ == RolloutConditionType::TrafficRouting)
            })
            .await;
        let status = status_of(&ro);
        let condition = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == RolloutConditionType::TrafficRouting)
            .expect("condition");
        assert_eq!((condition.status.as_str(), condition.reason.as_str()), ("False", "TrafficRoutingError"));
        assert!(
            condition.message.starts_with("traffic router acme/router failed:")
                && condition.message.contains("patch on configmaps is not granted"),
            "{}",
            condition.message
        );
        let router = status.canary.as_ref().and_then(|c| c.traffic_router_statuses.clone()).expect("statuses");
        assert!(router[0].message.as_deref().is_some_and(|m| m.contains("not granted")), "{router:?}");
        // Nothing moved: the stable keeps every pod and all the traffic, the step does not advance.
        assert_eq!(status.current_step_index, Some(0));
        assert_eq!(status.stable_rs.as_deref(), Some(v1.as_str()));
        let canary_pods: i32 = rss
            .iter()
            .filter(|rs| rs.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)) != Some(&v1))
            .map(|rs| rs.spec.replicas.unwrap_or(0))
            .sum();
        assert_eq!(canary_pods, 0, "{:?}", sizes(&rss));
        let routes = wait_routes(&env, name, "weight 0", |d| d.contains_key("weight")).await;
        assert_eq!(routes.get("weight").map(String::as_str), Some("0"));
        // Events are written in the background: wait for it.
        let selector = format!("involvedObject.name={name}");
        crate::e2e::wait::eventually("a TrafficRoutingError event", || async {
            let events = env.kubectl(&["get", "events", "--field-selector", &selector, "-o", "json"], None).await;
            events.contains("TrafficRoutingError").then_some(())
        })
        .await;

        // The grant restored, the rollout goes on by itself and the condition goes.
        register_router(&env, "get, create, patch").await;
        assert_eq!(at_pause(&env, name, 1).await, ((1, 4), 25));
        let ro = env.rollout(name).await;
        assert!(
            !status_of(&ro).conditions.iter().flatten().any(|c| c.type_ == RolloutConditionType::TrafficRouting),
            "{:?}",
            status_of(&ro).conditions
        );
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_router_written_in_c_drives_its_own_custom_resource_from_a_drop_in(s: &Substrate) {
        let env = Env::start(s).await;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/plugins/c-router/crd.yaml");
        let crd = std::fs::read_to_string(path).expect("crd");
        let crd = serin::api::decode::parse_stream(&crd).remove(0).value.expect("CRD document");
        crate::e2e::substrate::apply_crds(&env.s.client, vec![serde_json::from_value(crd).expect("a CRD")]).await;
        let component = crate::c_build::build("c-router", "0.1.0", "traffic-router-plugin");
        register(&env, "example/c-router", component, ("example.serin.dev", "weightedbackends"), "patch").await;
        let name = "checkout";
        let strategy =
            "trafficRouting:\n  plugins:\n    example/c-router: {object: checkout}\nsteps:\n- setWeight: 25\n- pause: {}\n";
        let backend = "apiVersion: example.serin.dev/v1\nkind: WeightedBackend\nmetadata: {name: checkout}\nspec: {}\n";
        env.apply(&format!("{}---\n{backend}---\n{}", services(name), canary_rollout(name, 4, "app:v1", strategy)))
            .await;
        env.wait_healthy(name).await;
        let gvk = kube::api::GroupVersionKind::gvk("example.serin.dev", "v1", "WeightedBackend");
        let backends: Api<kube::api::DynamicObject> = Api::namespaced_with(
            env.s.client.clone(),
            &env.s.namespace,
            &kube::api::ApiResource::from_gvk_with_plural(&gvk, "weightedbackends"),
        );
        let split = |canary: i64| {
            serde_json::json!({
                "canary": {"service": "checkout-canary", "weight": canary},
                "stable": {"service": "checkout-stable", "weight": 100 - canary},
            })
        };
        let wait = |want: serde_json::Value| {
            let backends = backends.clone();
            crate::e2e::wait::eventually("the WeightedBackend's split", move || {
                let (backends, want) = (backends.clone(), want.clone());
                async move { backends.get("checkout").await.ok().and_then(|o| (o.data["spec"] == want).then_some(())) }
            })
        };
        wait(split(0)).await;
        env.set_image(name, "app:v2").await;
        assert_eq!(at_pause_verified(&env, name, 1, None).await, ((1, 4), 25));
        wait(split(25)).await;
        env.promote(name).await;
        env.wait_healthy(name).await;
        wait(split(0)).await;
        env.stop().await;
    }
}

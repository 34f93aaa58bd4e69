//! The built-in traffic routers end to end on both substrates, with upstream's own router examples applied
//! unchanged: after each step the routed objects hold exactly the expected weights and routes, abort returns
//! all traffic to the stable version, and full promotion leaves each object as the user wrote it plus the
//! final weights.

use super::fixture::{Env, canary_rollout, services, settled_split, status_of};
use crate::support::{corpus_root, read_manifest};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};
use serin::api::rollout::{PauseReason, RolloutPhase};

/// Applies the CRDs in `tests/rollout/routers/<file>`.
async fn install(env: &Env<'_>, file: &str) {
    let path = format!("{}/tests/rollout/routers/{file}", env!("CARGO_MANIFEST_DIR"));
    install_from(env, &path).await;
}

/// Applies the CRDs in the file at `path`.
async fn install_from(env: &Env<'_>, path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let crds = serin::api::decode::parse_stream(&text)
        .into_iter()
        .map(|d| serde_json::from_value(d.value.expect("CRD document")).expect("a CRD"))
        .collect();
    crate::e2e::substrate::apply_crds(&env.s.client, crds).await;
}

/// Upstream's example `rel`, unchanged.
fn example(rel: &str) -> String {
    read_manifest(&corpus_root(), rel).0
}

/// The documents of upstream's example `rel` that are YAML (some hold templates that are not before their
/// placeholders are substituted), unchanged.
fn example_documents(rel: &str) -> String {
    let docs: Vec<String> = serin::api::decode::parse_stream(&example(rel))
        .into_iter()
        .filter_map(|d| d.value.ok())
        .map(|v| serde_json::to_string(&v).expect("json"))
        .collect();
    docs.join("\n---\n")
}

fn api(env: &Env<'_>, group: &str, version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        env.s.client.clone(),
        &env.s.namespace,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// The object once `cond` holds for it; a timeout shows it as last read.
async fn object_when(
    objects: &Api<DynamicObject>,
    name: &str,
    what: &str,
    cond: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    let mut last = None;
    let start = std::time::Instant::now();
    loop {
        if let Ok(o) = objects.get(name).await {
            if cond(&o) {
                return o;
            }
            last = Some(o);
        }
        assert!(
            start.elapsed() < crate::e2e::wait::WAIT * 2,
            "{name} never reached: {what}; it is {last:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The object's spec once `cond` holds for it.
async fn spec_when(
    objects: &Api<DynamicObject>,
    name: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    object_when(objects, name, what, |o| cond(&o.data["spec"])).await.data["spec"].clone()
}

/// (host[/subset], weight) of each destination of `spec.<kind>[i]`.
fn destinations(spec: &Value, kind: &str, i: usize) -> Vec<(String, i64)> {
    spec[kind][i]["route"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let host = d["destination"]["host"].as_str().unwrap_or("").to_string();
            let subset = d["destination"]["subset"].as_str().map(|s| format!("/{s}")).unwrap_or_default();
            (format!("{host}{subset}"), d["weight"].as_i64().unwrap_or(0))
        })
        .collect()
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(h, w)| (h.to_string(), *w)).collect()
}

/// Waits for the pause at step `index` with the split settled.
async fn paused_at(env: &Env<'_>, name: &str, index: i32) -> (i32, i32) {
    let (ro, rss) = env
        .wait(name, &format!("paused at step {index}"), |ro, rss| {
            let s = status_of(ro);
            s.current_step_index == Some(index)
                && s.pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::CanaryPauseStep)
                && settled_split(ro, rss).is_some()
        })
        .await;
    settled_split(&ro, &rss).expect("settled")
}

on_both_substrates! {
    async fn istio_host_split_moves_virtual_service_weights_and_abort_returns_them(s: &Substrate) {
        let env = Env::start(s).await;
        install(&env, "istio-crds.yaml").await;
        let name = "istio-host-split";
        env.apply(&example("test/e2e/istio/istio-host-split.yaml")).await;
        env.wait_healthy(name).await;
        let vs = api(&env, "networking.istio.io", "v1alpha3", "VirtualService", "virtualservices");
        let vsvc = "istio-host-split-vsvc";
        let user = pairs(&[("istio-host-split-stable", 100), ("istio-host-split-canary", 0)]);
        spec_when(&vs, vsvc, "all on stable", |s| destinations(s, "http", 0) == user).await;

        env.set_first_image(name, "nginx:1.20-alpine").await;
        assert_eq!(paused_at(&env, name, 1).await, (1, 1));
        let at10 = pairs(&[("istio-host-split-stable", 90), ("istio-host-split-canary", 10)]);
        spec_when(&vs, vsvc, "10% on canary", |s| destinations(s, "http", 0) == at10).await;
        let ro = env.rollout(name).await;
        let weights = status_of(&ro).canary.and_then(|c| c.weights).expect("weights");
        assert_eq!((weights.canary.weight, weights.stable.weight, weights.verified), (10, 90, None));

        env.promote(name).await;
        env.wait_healthy(name).await;
        let spec = spec_when(&vs, vsvc, "all on the new stable", |s| destinations(s, "http", 0) == user).await;
        assert_eq!(spec["hosts"], json!(["istio-host-split"]), "the rest is as the user wrote it");

        env.set_first_image(name, "nginx:1.21-alpine").await;
        paused_at(&env, name, 1).await;
        spec_when(&vs, vsvc, "10% on canary", |s| destinations(s, "http", 0) == at10).await;
        env.patch_status(name, r#"{"status":{"abort":true}}"#).await;
        env.wait_phase(name, RolloutPhase::Degraded, "RolloutAborted: Rollout aborted update to revision 3").await;
        spec_when(&vs, vsvc, "all back on stable", |s| destinations(s, "http", 0) == user).await;
        env.stop().await;
    }
}

/// Waits until the Rollout `name` is at its experiment step (index 1) with an Experiment current; its name.
async fn at_experiment_step(env: &Env<'_>, name: &str) -> String {
    let (ro, _) = env
        .wait(name, "at the experiment step with its experiment current", |ro, _| {
            let s = status_of(ro);
            s.current_step_index == Some(1) && s.canary.and_then(|c| c.current_experiment).is_some()
        })
        .await;
    status_of(&ro).canary.and_then(|c| c.current_experiment).expect("current experiment")
}

on_both_substrates! {
    async fn an_experiment_steps_weight_goes_to_its_templates_service_while_it_runs(s: &Substrate) {
        let env = Env::start(s).await;
        install(&env, "istio-crds.yaml").await;
        let name = "istio-host-split";
        env.apply(&example("examples/traffic-routing-experiment-step/istio-host-split-experiment-step.yaml")).await;
        env.wait_healthy(name).await;
        let vs = api(&env, "networking.istio.io", "v1alpha3", "VirtualService", "virtualservices");
        let vsvc = "istio-host-split-vsvc";
        env.set_first_image(name, "argoproj/rollouts-demo:yellow").await;
        // The experiment never ends by itself (no duration, no analyses): the step holds while it runs.
        let experiment = at_experiment_step(&env, name).await;
        let service = format!("{experiment}-experiment-istio");
        let three = pairs(&[("istio-host-split-stable", 70), ("istio-host-split-canary", 10), (service.as_str(), 20)]);
        spec_when(&vs, vsvc, "20% on the experiment's Service", |s| destinations(s, "http", 0) == three).await;
        let (ro, _) = env
            .wait(name, "the weights recorded", |ro, _| {
                status_of(ro).canary.and_then(|c| c.weights).is_some_and(|w| w.additional.is_some())
            })
            .await;
        let weights = status_of(&ro).canary.and_then(|c| c.weights).expect("weights");
        assert_eq!((weights.canary.weight, weights.stable.weight), (10, 70));
        let extra = weights.additional.clone().unwrap_or_default();
        assert_eq!(extra.len(), 1);
        assert_eq!((extra[0].weight, extra[0].service_name.as_deref()), (20, Some(service.as_str())));

        // Promoted past the step: the experiment is terminated and its share goes back.
        env.patch_status(name, r#"{"status":{"currentStepIndex":2}}"#).await;
        env.wait_healthy(name).await;
        let user = pairs(&[("istio-host-split-stable", 100), ("istio-host-split-canary", 0)]);
        spec_when(&vs, vsvc, "all on the new stable", |s| destinations(s, "http", 0) == user).await;
        let experiments: Api<serin::api::experiment::Experiment> = env.s.api();
        let ex = experiments.get(&experiment).await.expect("the experiment");
        assert_eq!(ex.spec.terminate, Some(true), "left behind, it is terminated");

        // Upstream's SMI example: the experiment's Service joins the TrafficSplit's backends.
        install(&env, "smi-crds.yaml").await;
        let name = "rollout-smi-experiment";
        env.apply(&example("examples/traffic-routing-experiment-step/rollout-smi-experiment-step.yaml")).await;
        env.wait_healthy(name).await;
        env.set_first_image(name, "argoproj/rollouts-demo:yellow").await;
        let experiment = at_experiment_step(&env, name).await;
        let ts = api(&env, "split.smi-spec.io", "v1alpha2", "TrafficSplit", "trafficsplits");
        let backends = json!([
            {"service": "rollout-smi-experiment-canary", "weight": 5},
            {"service": format!("{experiment}-experiment-smi"), "weight": 5},
            {"service": "rollout-smi-experiment-stable", "weight": 90},
        ]);
        spec_when(&ts, "rollout-smi-experiment-trafficsplit", "5% on the experiment's Service", |s| {
            s["backends"] == backends
        })
        .await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn istio_subset_split_points_destination_rule_subsets_at_each_replica_set(s: &Substrate) {
        let env = Env::start(s).await;
        install(&env, "istio-crds.yaml").await;
        let name = "istio-subset-split";
        env.apply(&example("test/e2e/istio/istio-subset-split.yaml")).await;
        let (ro, _) = env.wait_healthy(name).await;
        let v1 = status_of(&ro).stable_rs.expect("stable");
        let vs = api(&env, "networking.istio.io", "v1alpha3", "VirtualService", "virtualservices");
        let dr = api(&env, "networking.istio.io", "v1alpha3", "DestinationRule", "destinationrules");
        let hash = |s: &Value, i: usize| s["subsets"][i]["labels"]["rollouts-pod-template-hash"].as_str().map(str::to_string);
        spec_when(&dr, "istio-subset-split-destrule", "subsets on v1", |s| {
            hash(s, 0).as_deref() == Some(v1.as_str()) && hash(s, 1).as_deref() == Some(v1.as_str())
        })
        .await;

        env.set_first_image(name, "nginx:1.20-alpine").await;
        paused_at(&env, name, 1).await;
        let v2 = status_of(&env.rollout(name).await).current_pod_hash.expect("canary");
        let spec = spec_when(&dr, "istio-subset-split-destrule", "canary subset on v2", |s| {
            hash(s, 1).as_deref() == Some(v2.as_str())
        })
        .await;
        assert_eq!(hash(&spec, 0), Some(v1.clone()), "the stable subset stays");
        assert_eq!(spec["subsets"][1]["labels"]["app"], "istio-subset-split", "the user's labels stay");
        let at10 = pairs(&[("istio-subset-split/stable", 90), ("istio-subset-split/canary", 10)]);
        spec_when(&vs, "istio-subset-split-vsvc", "10% on the canary subset", |s| destinations(s, "http", 0) == at10)
            .await;

        env.promote(name).await;
        env.wait_healthy(name).await;
        spec_when(&dr, "istio-subset-split-destrule", "both subsets on v2", |s| {
            hash(s, 0).as_deref() == Some(v2.as_str()) && hash(s, 1).as_deref() == Some(v2.as_str())
        })
        .await;
        let user = pairs(&[("istio-subset-split/stable", 100), ("istio-subset-split/canary", 0)]);
        spec_when(&vs, "istio-subset-split-vsvc", "all on stable", |s| destinations(s, "http", 0) == user).await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn istio_mirror_route_is_set_at_its_step_and_removed_at_promotion(s: &Substrate) {
        let env = Env::start(s).await;
        install(&env, "istio-crds.yaml").await;
        let name = "istio-host-split";
        env.apply(&example("examples/istio/istio-mirror.yaml")).await;
        env.wait_healthy(name).await;
        let vs = api(&env, "networking.istio.io", "v1alpha3", "VirtualService", "virtualservices");
        let vsvc = "istio-host-split-vsvc";
        let original = spec_when(&vs, vsvc, "as written", |s| s["http"].as_array().is_some_and(|h| h.len() == 1)).await;

        env.set_first_image(name, "nginx:1.20-alpine").await;
        // setCanaryScale 50 of 4 pods, then the mirror route, then the pause.
        assert_eq!(paused_at(&env, name, 2).await, (2, 4));
        let spec = spec_when(&vs, vsvc, "the mirror route first", |s| s["http"][0]["name"] == "mirror-route").await;
        let mirror = &spec["http"][0];
        assert_eq!(mirror["mirror"], json!({"host": "istio-host-split-canary"}));
        assert_eq!(mirror["mirrorPercentage"], json!({"value": 50}));
        assert_eq!(mirror["match"], json!([{"method": {"exact": "POST"}, "uri": {"prefix": "/color"}}]));
        // Mirrored requests themselves keep the split: nothing is weighted to the canary by setCanaryScale.
        assert_eq!(
            destinations(&spec, "http", 0),
            pairs(&[("istio-host-split-stable", 100), ("istio-host-split-canary", 0)])
        );
        assert_eq!(spec["http"][1], original["http"][0]);

        env.promote(name).await;
        env.wait_healthy(name).await;
        spec_when(&vs, vsvc, "as the user wrote it", |s| *s == original).await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn smi_traffic_split_is_created_owned_and_weighted_in_the_version_the_cluster_serves(s: &Substrate) {
        let env = Env::start(s).await;
        install(&env, "smi-crds.yaml").await;
        let name = "rollout-linkerd";
        env.apply(&example_documents("examples/traffic-management/rollout-linkerd.yaml")).await;
        let (ro, _) = env.wait_healthy(name).await;
        let ts = api(&env, "split.smi-spec.io", "v1alpha2", "TrafficSplit", "trafficsplits");
        let backends = |w: i64| {
            json!([{"service": "rollout-linkerd-canary", "weight": w}, {"service": "rollout-linkerd-stable", "weight": 100 - w}])
        };
        let spec = spec_when(&ts, name, "all on stable", |s| s["backends"] == backends(0)).await;
        assert_eq!(spec["service"], "rollout-linkerd", "the root Service");
        let split = ts.get(name).await.expect("TrafficSplit");
        let owner = split.metadata.owner_references.clone().unwrap_or_default();
        assert_eq!(owner.len(), 1);
        assert_eq!((owner[0].kind.as_str(), owner[0].uid.as_str(), owner[0].controller), ("Rollout", ro.metadata.uid.as_deref().unwrap_or(""), Some(true)));

        env.set_first_image(name, "argoproj/rollouts-demo:green").await;
        // 5% of 5 pods is one canary pod; the stable keeps all five.
        assert_eq!(paused_at(&env, name, 1).await, (1, 5));
        spec_when(&ts, name, "5% on canary", |s| s["backends"] == backends(5)).await;
        env.promote(name).await;
        env.wait_healthy(name).await;
        spec_when(&ts, name, "all on the new stable", |s| s["backends"] == backends(0)).await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn nginx_canary_ingress_carries_each_weight_and_a_header_route(s: &Substrate) {
        let env = Env::start(s).await;
        // Upstream's e2e template with its placeholder filled in, as upstream's own test does, and steps added.
        let name = "replaceme";
        env.apply(&example("test/e2e/functional/nginx-template.yaml")).await;
        env.wait_healthy(name).await;
        let steps = json!({"spec": {"strategy": {"canary": {
            "trafficRouting": {
                "managedRoutes": [{"name": "header"}],
                "nginx": {"stableIngress": "replaceme-ingress", "additionalIngressAnnotations": {"canary-by-cookie": "beta"}},
            },
            "steps": [
                {"setWeight": 20},
                {"setHeaderRoute": {"name": "header", "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}},
                {"pause": {}},
            ],
        }}}});
        env.patch_spec(name, &steps.to_string()).await;
        env.wait_healthy(name).await;
        let ingresses = api(&env, "networking.k8s.io", "v1", "Ingress", "ingresses");
        let canary = "replaceme-replaceme-ingress-canary";
        let annotation = |o: &DynamicObject, k: &str| {
            o.metadata.annotations.as_ref().and_then(|a| a.get(&format!("nginx.ingress.kubernetes.io/{k}"))).cloned()
        };
        // The canary Ingress was created by the first revision; the added annotations come with the next pass.
        let ing = object_when(&ingresses, canary, "weight 0 with the added annotation", |o| {
            annotation(o, "canary-weight").as_deref() == Some("0")
                && annotation(o, "canary-by-cookie").as_deref() == Some("beta")
        })
        .await;
        assert_eq!(annotation(&ing, "canary").as_deref(), Some("true"));
        assert_eq!(
            ing.data["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
            "replaceme-canary"
        );
        assert_eq!(ing.metadata.owner_references.as_ref().map(|o| o[0].kind.clone()).as_deref(), Some("Rollout"));

        env.set_first_image(name, "nginx:1.20-alpine").await;
        // 20% of 4 pods; the stable keeps all four.
        assert_eq!(paused_at(&env, name, 2).await, (1, 4));
        let ing = object_when(&ingresses, canary, "weight 20 and the header route", |o| {
            annotation(o, "canary-weight").as_deref() == Some("20")
                && annotation(o, "canary-by-header").as_deref() == Some("x-canary")
        })
        .await;
        assert_eq!(annotation(&ing, "canary-by-header-value").as_deref(), Some("yes"));

        env.promote(name).await;
        env.wait_healthy(name).await;
        let ing = object_when(&ingresses, canary, "weight 0 without the header route", |o| {
            annotation(o, "canary-weight").as_deref() == Some("0") && annotation(o, "canary-by-header").is_none()
        })
        .await;
        assert_eq!(annotation(&ing, "canary-by-header-value"), None);
        assert_eq!(annotation(&ing, "canary-by-cookie").as_deref(), Some("beta"));
        let stable = ingresses.get("replaceme-ingress").await.expect("stable ingress");
        assert_eq!(
            stable.data["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
            "replaceme-stable",
            "the stable Ingress is as the user wrote it"
        );
        env.stop().await;
    }
}

on_both_substrates! {
    async fn gateway_api_route_weights_header_and_mirror_rules_as_the_labs_plugin_is_configured(s: &Substrate) {
        let env = Env::start(s).await;
        install(&env, "gateway-api-crds.yaml").await;
        let name = "gwapi";
        let route = json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "gwapi-route"},
            "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": "gwapi-stable", "port": 80, "weight": 100}, {"name": "gwapi-canary", "port": 80, "weight": 0}],
            }]},
        });
        // A Rollout written for the argoproj-labs Gateway API plugin, unchanged.
        let strategy = r#"trafficRouting:
  managedRoutes: [{name: header}, {name: mirror}]
  plugins:
    argoproj-labs/gatewayAPI:
      httpRoutes: [{name: gwapi-route, useHeaderRoutes: true}]
steps:
- setWeight: 30
- setHeaderRoute: {name: header, match: [{headerName: x-canary, headerValue: {exact: "yes"}}]}
- setMirrorRoute: {name: mirror, percentage: 25, match: [{method: {exact: POST}}]}
- pause: {}
"#;
        env.apply(&format!(
            "{}---\n{}\n---\n{}",
            services(name),
            serde_json::to_string(&route).expect("json"),
            canary_rollout(name, 4, "app:v1", strategy)
        ))
        .await;
        env.wait_healthy(name).await;
        let routes = api(&env, "gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes");
        let refs = |s: &Value, i: usize| -> Vec<(String, i64)> {
            s["rules"][i]["backendRefs"].as_array().into_iter().flatten()
                .map(|b| (b["name"].as_str().unwrap_or("").to_string(), b["weight"].as_i64().unwrap_or(1)))
                .collect()
        };
        let split = |w: i64| pairs(&[("gwapi-stable", 100 - w), ("gwapi-canary", w)]);
        spec_when(&routes, "gwapi-route", "all on stable", |s| refs(s, 0) == split(0)).await;

        env.set_image(name, "app:v2").await;
        assert_eq!(paused_at(&env, name, 3).await, (2, 4));
        let spec = spec_when(&routes, "gwapi-route", "30% with header and mirror rules", |s| {
            refs(s, 0) == split(30) && s["rules"].as_array().is_some_and(|r| r.len() == 3)
        })
        .await;
        assert_eq!(spec["rules"][1]["name"], "header");
        assert_eq!(spec["rules"][1]["matches"][0]["headers"], json!([{"name": "x-canary", "type": "Exact", "value": "yes"}]));
        assert_eq!(spec["rules"][1]["backendRefs"], json!([{"name": "gwapi-canary", "port": 80}]));
        assert_eq!(spec["rules"][2]["name"], "mirror");
        assert_eq!(spec["rules"][2]["matches"], json!([{"method": "POST"}]));
        assert_eq!(
            spec["rules"][2]["filters"],
            json!([{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "gwapi-canary", "port": 80}, "percent": 25}}])
        );
        assert_eq!(refs(&spec, 2), split(30));

        // Abort: the managed rules go and all traffic is back on the stable.
        env.patch_status(name, r#"{"status":{"abort":true}}"#).await;
        let spec = spec_when(&routes, "gwapi-route", "back to the user's rule", |s| {
            refs(s, 0) == split(0) && s["rules"].as_array().is_some_and(|r| r.len() == 1)
        })
        .await;
        assert_eq!(spec["rules"][0], route["spec"]["rules"][0], "as the user wrote it");
        env.stop().await;
    }
}

on_both_substrates! {
    async fn traefik_weighted_service_carries_each_weight_and_a_mirror_comes_and_goes(s: &Substrate) {
        let env = Env::start(s).await;
        install(&env, "traefik-crds.yaml").await;
        let name = "traefik";
        let service = json!({
            "apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
            "metadata": {"name": "traefik-weighted"},
            "spec": {"weighted": {"services": [
                {"name": "traefik-stable", "port": 80, "weight": 100},
                {"name": "traefik-canary", "port": 80, "weight": 0}]}},
        });
        // The IngressRoute uses the mirroring service, whose main service is the weighted one.
        let mirroring = json!({
            "apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
            "metadata": {"name": "traefik-mirror"},
            "spec": {"mirroring": {"name": "traefik-weighted", "kind": "TraefikService",
                "mirrors": [{"name": "audit", "port": 80, "percent": 5}]}},
        });
        let strategy = r#"trafficRouting:
  traefik: {weightedTraefikServiceName: traefik-weighted, mirrorTraefikServiceName: traefik-mirror}
  managedRoutes: [{name: shadow}]
steps:
- setWeight: 40
- pause: {}
- setMirrorRoute: {name: shadow, percentage: 25, match: [{path: {prefix: /}}]}
- pause: {}
"#;
        env.apply(&format!(
            "{}---\n{}\n---\n{}\n---\n{}",
            services(name),
            serde_json::to_string(&service).expect("json"),
            serde_json::to_string(&mirroring).expect("json"),
            canary_rollout(name, 5, "app:v1", strategy)
        ))
        .await;
        env.wait_healthy(name).await;
        let ts = api(&env, "traefik.io", "v1alpha1", "TraefikService", "traefikservices");
        let weights = |s: &Value| -> Vec<i64> {
            s["weighted"]["services"].as_array().into_iter().flatten().map(|s| s["weight"].as_i64().unwrap_or(-1)).collect()
        };
        let as_written = spec_when(&ts, "traefik-mirror", "as written", |_| true).await;
        spec_when(&ts, "traefik-weighted", "all on stable", |s| weights(s) == [100, 0]).await;
        env.set_image(name, "app:v2").await;
        assert_eq!(paused_at(&env, name, 1).await, (2, 5));
        spec_when(&ts, "traefik-weighted", "40% on canary", |s| weights(s) == [60, 40]).await;
        assert_eq!(spec_when(&ts, "traefik-mirror", "no mirror yet", |_| true).await, as_written);

        env.promote(name).await;
        paused_at(&env, name, 3).await;
        let mirrors = spec_when(&ts, "traefik-mirror", "the canary mirrored", |s| {
            s["mirroring"]["mirrors"].as_array().is_some_and(|m| m.len() == 2)
        })
        .await;
        assert_eq!(
            mirrors["mirroring"]["mirrors"],
            json!([{"name": "audit", "port": 80, "percent": 5}, {"name": "traefik-canary", "port": 80, "percent": 25}])
        );
        spec_when(&ts, "traefik-weighted", "still 40% on canary", |s| weights(s) == [60, 40]).await;

        env.promote(name).await;
        env.wait_healthy(name).await;
        spec_when(&ts, "traefik-weighted", "all on the new stable", |s| weights(s) == [100, 0]).await;
        let after = object_when(&ts, "traefik-mirror", "the mirror removed", |o| o.data["spec"] == as_written).await;
        assert!(
            !after.metadata.annotations.unwrap_or_default().contains_key("serin.dev/mirror-route"),
            "the route's mark goes with it"
        );
        env.stop().await;
    }
}

on_both_substrates! {
    async fn apisix_route_weights_and_a_header_route_of_its_own(s: &Substrate) {
        let env = Env::start(s).await;
        install_from(&env, &corpus_root().join("test/e2e/crds/apisix.yaml").display().to_string()).await;
        // Upstream's Services and ApisixRoute, with a Rollout that reaches a header route step.
        let upstream: Vec<String> = serin::api::decode::parse_stream(&example("test/e2e/apisix/rollout-apisix-canary.yaml"))
            .into_iter()
            .filter_map(|d| d.value.ok())
            .filter(|v| v["kind"] != "Rollout")
            .map(|v| serde_json::to_string(&v).expect("json"))
            .collect();
        let name = "rollout-apisix-canary";
        let rollout = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "app:v1"}]}},
                "strategy": {"canary": {
                    "canaryService": "rollout-apisix-canary-canary",
                    "stableService": "rollout-apisix-canary-stable",
                    "trafficRouting": {
                        "managedRoutes": [{"name": "set-header"}],
                        "apisix": {"route": {"name": "rollouts-apisix-route", "rules": ["rollouts-apisix"]}},
                    },
                    "steps": [
                        {"setWeight": 25},
                        {"setHeaderRoute": {"name": "set-header", "match": [{"headerName": "trace", "headerValue": {"exact": "debug"}}]}},
                        {"pause": {}},
                    ],
                }},
            },
        });
        env.apply(&format!("{}\n---\n{}", upstream.join("\n---\n"), rollout)).await;
        env.wait_healthy(name).await;
        let routes = api(&env, "apisix.apache.org", "v2", "ApisixRoute", "apisixroutes");
        let weights = |s: &Value| -> Vec<(String, i64)> {
            s["http"][0]["backends"].as_array().into_iter().flatten()
                .map(|b| (b["serviceName"].as_str().unwrap_or("").to_string(), b["weight"].as_i64().unwrap_or(-1)))
                .collect()
        };
        let split = |w: i64| pairs(&[("rollout-apisix-canary-stable", 100 - w), ("rollout-apisix-canary-canary", w)]);
        spec_when(&routes, "rollouts-apisix-route", "all on stable", |s| weights(s) == split(0)).await;

        env.set_image(name, "app:v2").await;
        assert_eq!(paused_at(&env, name, 2).await, (1, 4));
        spec_when(&routes, "rollouts-apisix-route", "25% on canary", |s| weights(s) == split(25)).await;
        let header = spec_when(&routes, "set-header", "the header route", |s| !s.is_null()).await;
        assert_eq!(weights(&header), pairs(&[("rollout-apisix-canary-canary", 100)]));
        assert_eq!(header["http"][0]["priority"], 1);
        assert_eq!(
            header["http"][0]["match"]["exprs"],
            json!([{"subject": {"scope": "Header", "name": "trace"}, "op": "Equal", "value": "debug"}])
        );

        env.promote(name).await;
        env.wait_healthy(name).await;
        spec_when(&routes, "rollouts-apisix-route", "all on the new stable", |s| weights(s) == split(0)).await;
        crate::e2e::wait::eventually("the header route removed", || {
            let routes = routes.clone();
            async move { routes.get_opt("set-header").await.ok().and_then(|o| o.is_none().then_some(())) }
        })
        .await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn several_routers_on_one_rollout_each_get_every_weight(s: &Substrate) {
        let env = Env::start(s).await;
        install(&env, "gateway-api-crds.yaml").await;
        install(&env, "traefik-crds.yaml").await;
        let name = "multi";
        let grpc = json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": "multi-grpc"},
            "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{
                "matches": [{"method": {"service": "shop.Checkout"}}],
                "backendRefs": [{"name": "multi-stable", "port": 9000, "weight": 100}, {"name": "multi-canary", "port": 9000, "weight": 0}],
            }]},
        });
        let weighted = json!({
            "apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
            "metadata": {"name": "multi-weighted"},
            "spec": {"weighted": {"services": [
                {"name": "multi-stable", "port": 80, "weight": 100}, {"name": "multi-canary", "port": 80, "weight": 0}]}},
        });
        let strategy = r#"trafficRouting:
  traefik: {weightedTraefikServiceName: multi-weighted}
  managedRoutes: [{name: header}]
  plugins:
    argoproj-labs/gatewayAPI: {grpcRoute: multi-grpc}
steps:
- setWeight: 50
- setHeaderRoute: {name: header, match: [{headerName: x-tenant, headerValue: {exact: beta}}]}
- pause: {}
"#;
        // The traefik router cannot route by header: the Rollout says so and its stable keeps all traffic.
        env.apply(&format!(
            "{}---\n{}\n---\n{}\n---\n{}",
            services(name),
            serde_json::to_string(&grpc).expect("json"),
            serde_json::to_string(&weighted).expect("json"),
            canary_rollout(name, 2, "app:v1", strategy)
        ))
        .await;
        env.wait_healthy(name).await;
        let grpc_routes = api(&env, "gateway.networking.k8s.io", "v1", "GRPCRoute", "grpcroutes");
        let traefik = api(&env, "traefik.io", "v1alpha1", "TraefikService", "traefikservices");
        let refs = |s: &Value| -> Vec<i64> {
            s["rules"][0]["backendRefs"].as_array().into_iter().flatten().map(|b| b["weight"].as_i64().unwrap_or(-1)).collect()
        };
        let shares = |s: &Value| -> Vec<i64> {
            s["weighted"]["services"].as_array().into_iter().flatten().map(|b| b["weight"].as_i64().unwrap_or(-1)).collect()
        };
        spec_when(&grpc_routes, "multi-grpc", "all on stable", |s| refs(s) == [100, 0]).await;
        spec_when(&traefik, "multi-weighted", "all on stable", |s| shares(s) == [100, 0]).await;

        env.set_image(name, "app:v2").await;
        // Both routers get the weight; then the header step fails on the first router that cannot express it.
        spec_when(&grpc_routes, "multi-grpc", "50% on canary", |s| refs(s) == [50, 50]).await;
        spec_when(&traefik, "multi-weighted", "50% on canary", |s| shares(s) == [50, 50]).await;
        let (ro, _) = env
            .wait(name, "the header step refused by traefik", |ro, _| {
                status_of(ro).conditions.iter().flatten().any(|c| {
                    c.type_ == serin::api::rollout::RolloutConditionType::TrafficRouting
                        && c.message.contains("traefik")
                        && c.message.contains("cannot route by header")
                })
            })
            .await;
        assert_eq!(status_of(&ro).current_step_index, Some(1), "the header step does not complete");
        let statuses = status_of(&ro).canary.and_then(|c| c.traffic_router_statuses).expect("statuses");
        let names: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["argoproj-labs/gatewayAPI", "traefik"]);

        // Abort: every router returns all traffic to the stable.
        env.patch_status(name, r#"{"status":{"abort":true}}"#).await;
        spec_when(&grpc_routes, "multi-grpc", "all back on stable", |s| refs(s) == [100, 0]).await;
        spec_when(&traefik, "multi-weighted", "all back on stable", |s| shares(s) == [100, 0]).await;
        env.stop().await;
    }
}

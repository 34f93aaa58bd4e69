//! The traffic-router contract end to end: a router plugin (plugins/testing/router) applies every call through
//! the host's Kubernetes import on the embedded cluster, confined to the Rollout's namespace and its grants.

use super::helpers::{registry, test_plugin};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serin::plugin::grants::{KubernetesGrant, Verb};
use serin::plugin::kube::KubeAccess;
use serin::plugin::metric::ObjectRef;
use serin::plugin::router::{
    HeaderMatch, HeaderRoute, MirrorRoute, RouteMatch, RouterContext, RouterOutcome, RouterReply,
    StringMatch, Verification, WeightDestination,
};
use serin::plugin::{CallError, CallOptions, Grants, PluginKind};

fn ctx() -> RouterContext {
    RouterContext {
        rollout: ObjectRef {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "Rollout".into(),
            namespace: "default".into(),
            name: "checkout".into(),
            uid: "u1".into(),
        },
        config: "{}".into(),
        canary_service: "checkout-canary".into(),
        stable_service: "checkout-stable".into(),
        max_weight: 100,
        ..RouterContext::default()
    }
}

/// What a 0.1.0 router's `Ok(())` is: done, with no state.
fn done() -> Result<RouterReply, CallError> {
    Ok(RouterReply { outcome: RouterOutcome::Done, state: None })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_plugin_applies_weights_routes_and_hashes() {
    let cluster =
        serin::cluster::start(serin::cluster::ClusterConfig::builder().build()).await.expect("cluster");
    let client = cluster.client().expect("client");
    let router = registry().insert("test/router", &test_plugin("router"), None).expect("router plugin");
    assert_eq!(router.kind(), PluginKind::TrafficRouter);
    let opts = CallOptions {
        grants: Grants {
            kubernetes: vec![KubernetesGrant {
                group: String::new(),
                resource: "configmaps".into(),
                verbs: vec![Verb::Get, Verb::Create, Verb::Patch],
                namespaces: vec![],
            }],
            ..Grants::default()
        },
        kube: Some(KubeAccess { client: client.clone(), namespace: "default".into() }),
        ..CallOptions::default()
    };
    let extra =
        [WeightDestination { service_name: "exp-svc".into(), pod_template_hash: "abc".into(), weight: 5 }];
    assert_eq!(router.set_weight(&opts, &ctx(), 20, &extra).await, done());
    assert_eq!(
        router.verify_weight(&opts, &ctx(), 20, &[]).await,
        Ok((Verification::Verified, done().unwrap()))
    );
    assert_eq!(
        router.verify_weight(&opts, &ctx(), 30, &[]).await,
        Ok((Verification::NotVerified, done().unwrap()))
    );
    assert_eq!(router.update_hash(&opts, &ctx(), "6c5f9c8b7d", "5859f96865", &[]).await, done());
    let header = HeaderRoute {
        name: "beta-users".into(),
        matches: vec![HeaderMatch {
            header_name: "x-beta".into(),
            header_value: StringMatch::Exact("true".into()),
        }],
    };
    assert_eq!(router.set_header_route(&opts, &ctx(), &header).await, done());
    let mirror = MirrorRoute {
        name: "shadow".into(),
        matches: vec![RouteMatch {
            method: Some(StringMatch::Exact("GET".into())),
            path: None,
            headers: vec![],
        }],
        percentage: Some(10),
    };
    assert_eq!(router.set_mirror_route(&opts, &ctx(), &mirror).await, done());

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let data = cms.get("checkout-routes").await.expect("routes").data.expect("data");
    assert_eq!(data.get("weight").map(String::as_str), Some("20"));
    assert_eq!(data.get("additional").map(String::as_str), Some("exp-svc=5@abc"));
    assert_eq!(data.get("canary-hash").map(String::as_str), Some("6c5f9c8b7d"));
    assert_eq!(data.get("route.beta-users").map(String::as_str), Some("x-beta=exact:true"));
    assert_eq!(data.get("route.shadow").map(String::as_str), Some("mirror 10% of 1 match(es)"));

    assert_eq!(router.remove_managed_routes(&opts, &ctx()).await, done());
    let data = cms.get("checkout-routes").await.expect("routes").data.expect("data");
    assert!(!data.keys().any(|k| k.starts_with("route.")), "{data:?}");
    assert_eq!(data.get("weight").map(String::as_str), Some("20"), "weights are not routes");

    // The router's own refusal is a value for the Rollout's status, not a failed call.
    let err = router.set_weight(&opts, &ctx(), 120, &[]).await;
    assert_eq!(
        err,
        Ok(RouterReply {
            outcome: RouterOutcome::Failed("weight 120 exceeds maxTrafficWeight 100".into()),
            state: None
        })
    );

    // Without the grant, the router cannot touch the cluster.
    let denied =
        router.set_weight(&CallOptions { grants: Grants::default(), ..opts.clone() }, &ctx(), 10, &[]).await;
    assert!(matches!(denied, Err(CallError::Denied { .. })), "{denied:?}");
    let _ = cluster.shutdown().await;
}

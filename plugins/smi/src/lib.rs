//! The built-in `smi` traffic router: Argo Rollouts' in-tree SMI routing over the host's `kubernetes` import.
//! `set-weight` creates the Rollout's TrafficSplit (owned by the Rollout) or edits its backends, in the first
//! TrafficSplit version the cluster serves of v1alpha1, v1alpha2 and v1alpha3; a TrafficSplit the Rollout
//! does not own is refused. Needs get, list, create and patch on split.smi-spec.io trafficsplits in the
//! Rollout's namespace, which the host grants.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "traffic-router-plugin",
    generate_all,
});

pub mod split;

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, Outcome, Reply, RouterContext, Verification, VerifyReply,
    WeightDestination,
};
use serde_json::{Value, json};
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};
use split::{Config, Split};

fn resource(version: &str) -> ApiResource {
    ApiResource { group: "split.smi-spec.io".into(), version: version.into(), plural: "trafficsplits".into() }
}

serin_plugin_support::router_replies!();

/// The first SMI version the cluster serves (a list of an unserved version fails with 404).
fn served_version(namespace: &str) -> Result<&'static str, String> {
    for v in split::VERSIONS {
        match k8s::list(&resource(v), namespace, "", 1, None) {
            Ok(_) => return Ok(v),
            Err(K8sError::Api(f)) if f.code == 404 => continue,
            Err(e) => return Err(format!("listing TrafficSplits: {}", err(e))),
        }
    }
    Err("the cluster serves no TrafficSplit version (split.smi-spec.io v1alpha1, v1alpha2 or v1alpha3)"
        .into())
}

fn set_weight(ctx: &RouterContext, weight: i32, extra: &[WeightDestination]) -> Result<(), String> {
    let cfg: Config = serde_json::from_str(&ctx.config).map_err(|e| format!("trafficRouting.smi: {e}"))?;
    let s = Split {
        rollout: ctx.rollout.name.clone(),
        rollout_uid: ctx.rollout.uid.clone(),
        namespace: ctx.rollout.namespace.clone(),
        canary_service: ctx.canary_service.clone(),
        stable_service: ctx.stable_service.clone(),
    };
    let version = served_version(&s.namespace)?;
    let name = cfg.name(&s);
    let extras: Vec<(String, i64)> =
        extra.iter().map(|d| (d.service_name.clone(), i64::from(d.weight))).collect();
    let spec = split::spec(&cfg, &s, version, i64::from(weight), &extras);
    let res = resource(version);
    let existing =
        k8s::get(&res, &s.namespace, &name).map_err(|e| format!("TrafficSplit {name}: {}", err(e)))?;
    let Some(existing) = existing else {
        let object = split::object(&cfg, &s, version, spec);
        return k8s::create(&res, &s.namespace, &object.to_string())
            .map(|_| ())
            .map_err(|e| format!("TrafficSplit `{name}` failed creation: {}", err(e)));
    };
    let existing: Value = serde_json::from_str(&existing).map_err(|e| format!("TrafficSplit {name}: {e}"))?;
    if !split::owned_by(&existing, &s.rollout_uid) {
        return Err(format!("Rollout does not own TrafficSplit `{name}`"));
    }
    if existing["spec"] == spec {
        return Ok(());
    }
    k8s::merge_patch(&res, &s.namespace, &name, &json!({"spec": spec}).to_string())
        .map(|_| ())
        .map_err(|e| format!("TrafficSplit {name}: {}", err(e)))
}

struct Smi;

impl Guest for Smi {
    fn set_weight(ctx: RouterContext, desired_weight: i32, extra: Vec<WeightDestination>) -> Reply {
        reply(set_weight(&ctx, desired_weight, &extra))
    }

    fn set_header_route(_ctx: RouterContext, route: HeaderRoute) -> Reply {
        // A TrafficSplit weighs Services; matching requests needs HTTPRouteGroups, which upstream does not
        // manage either. Refused rather than ignored, so that a step does not seem to have routed anything.
        if route.matches.is_empty() {
            return reply(Ok(()));
        }
        reply(Err("the smi router cannot route by header (a TrafficSplit only weighs Services)".into()))
    }

    fn set_mirror_route(_ctx: RouterContext, route: MirrorRoute) -> Reply {
        if route.matches.is_empty() {
            return reply(Ok(()));
        }
        reply(Err("the smi router cannot mirror requests (a TrafficSplit only weighs Services)".into()))
    }

    fn verify_weight(_ctx: RouterContext, _weight: i32, _extra: Vec<WeightDestination>) -> VerifyReply {
        VerifyReply { verification: Verification::NotImplemented, reply: reply(Ok(())) }
    }

    fn update_hash(
        _ctx: RouterContext,
        _canary: String,
        _stable: String,
        _extra: Vec<WeightDestination>,
    ) -> Reply {
        reply(Ok(()))
    }

    fn remove_managed_routes(_ctx: RouterContext) -> Reply {
        reply(Ok(()))
    }
}

export!(Smi);

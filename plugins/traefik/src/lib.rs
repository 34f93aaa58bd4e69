//! The built-in `traefik` traffic router: Argo Rollouts' in-tree Traefik routing over the host's `kubernetes`
//! import. `set-weight` sets the canary's and the stable's weights in the weighted TraefikService
//! (`traefik.io/v1alpha1`, upstream's default) that `weightedTraefikServiceName` names. Needs get and update on
//! traefik.io traefikservices in the Rollout's namespace, which the host grants.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "traffic-router-plugin",
    generate_all,
});

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, Outcome, Reply, RouterContext, Verification, VerifyReply,
    WeightDestination,
};
use serde_json::{Value, json};
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};

fn resource() -> ApiResource {
    ApiResource { group: "traefik.io".into(), version: "v1alpha1".into(), plural: "traefikservices".into() }
}

serin_plugin_support::router_replies!();

/// Upstream's `SetWeight`: the canary's and the stable's entries of `spec.weighted.services` get `weight` and
/// what is left of the total.
pub fn weigh(spec: &mut Value, canary: &str, stable: &str, weight: i64, max: i64) -> Result<(), String> {
    let services = spec
        .pointer_mut("/weighted/services")
        .and_then(Value::as_array_mut)
        .ok_or("spec.weighted.services was not found in traefik service manifest")?;
    let mut set = |name: &str, w: i64, what: &str| -> Result<(), String> {
        let s = services
            .iter_mut()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| format!("traefik {what} service was not found"))?;
        s["weight"] = json!(w);
        Ok(())
    };
    set(canary, weight, "canary")?;
    set(stable, (max - weight).max(0), "stable")
}

fn set_weight(ctx: &RouterContext, weight: i32) -> Result<(), String> {
    let cfg: Value = serde_json::from_str(&ctx.config).map_err(|e| format!("trafficRouting.traefik: {e}"))?;
    let name = cfg.get("weightedTraefikServiceName").and_then(Value::as_str).unwrap_or("");
    let ns = &ctx.rollout.namespace;
    let text = k8s::get(&resource(), ns, name)
        .map_err(|e| format!("TraefikService {name}: {}", err(e)))?
        .ok_or_else(|| format!("TraefikService {name} not found"))?;
    let before: Value = serde_json::from_str(&text).map_err(|e| format!("TraefikService {name}: {e}"))?;
    let mut object = before.clone();
    weigh(
        &mut object["spec"],
        &ctx.canary_service,
        &ctx.stable_service,
        weight.into(),
        ctx.max_weight.into(),
    )?;
    if object == before {
        return Ok(());
    }
    k8s::replace(&resource(), ns, name, &object.to_string())
        .map(|_| ())
        .map_err(|e| format!("Error updating traefik service \"{name}\": {}", err(e)))
}

struct Traefik;

impl Guest for Traefik {
    fn set_weight(ctx: RouterContext, desired_weight: i32, _extra: Vec<WeightDestination>) -> Reply {
        reply(set_weight(&ctx, desired_weight))
    }

    fn set_header_route(_ctx: RouterContext, route: HeaderRoute) -> Reply {
        if route.matches.is_empty() {
            return reply(Ok(()));
        }
        reply(Err(
            "the traefik router cannot route by header (a weighted TraefikService only weighs Services)"
                .into(),
        ))
    }

    fn set_mirror_route(_ctx: RouterContext, route: MirrorRoute) -> Reply {
        if route.matches.is_empty() {
            return reply(Ok(()));
        }
        reply(Err("the traefik router cannot mirror requests yet".into()))
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

export!(Traefik);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_and_the_stable_entries_get_their_weights() {
        let spec = || {
            json!({"weighted": {"services": [
            {"name": "stable", "port": 80, "weight": 100}, {"name": "canary", "port": 80, "weight": 0},
            {"name": "other", "port": 80, "weight": 5}]}})
        };
        // (weight, max, stable, canary)
        for (w, max, want_stable, want_canary) in [(0, 100, 100, 0), (20, 100, 80, 20), (100, 100, 0, 100)] {
            let mut s = spec();
            weigh(&mut s, "canary", "stable", w, max).unwrap();
            let services = s["weighted"]["services"].as_array().unwrap();
            assert_eq!(
                (services[0]["weight"].as_i64(), services[1]["weight"].as_i64()),
                (Some(want_stable), Some(want_canary))
            );
            assert_eq!(services[2]["weight"], 5, "other services stay");
        }
        let mut s = json!({"weighted": {"services": [{"name": "stable"}]}});
        assert_eq!(
            weigh(&mut s, "canary", "stable", 1, 100).unwrap_err(),
            "traefik canary service was not found"
        );
        let mut s = json!({});
        assert_eq!(
            weigh(&mut s, "canary", "stable", 1, 100).unwrap_err(),
            "spec.weighted.services was not found in traefik service manifest"
        );
    }
}

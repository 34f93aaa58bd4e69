//! The built-in `nginx` traffic router: Argo Rollouts' in-tree NGINX Ingress routing over the host's
//! `kubernetes` import. `set-weight` creates or patches, for each stable Ingress, the canary Ingress
//! `<rollout>-<stable>-canary` (owned by the Rollout) with the `canary-weight` annotation; header routes,
//! which upstream's NGINX router does not offer, are `canary-by-header` annotations on the canary Ingresses.
//! Needs get on networking.k8s.io ingresses and create and patch on them in the Rollout's namespace, which
//! the host grants.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "traffic-router-plugin",
    generate_all,
});

pub mod ingress;

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, Outcome, Reply, RouterContext, StringMatch, Verification, VerifyReply,
    WeightDestination,
};
use ingress::{Canary, Config, HeaderValue};
use serde_json::{Value, json};
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};

fn ingresses() -> ApiResource {
    ApiResource { group: "networking.k8s.io".into(), version: "v1".into(), plural: "ingresses".into() }
}

serin_plugin_support::router_replies!();

fn config(ctx: &RouterContext) -> Result<Config, String> {
    serde_json::from_str(&ctx.config).map_err(|e| format!("trafficRouting.nginx: {e}"))
}

fn get(namespace: &str, name: &str) -> Result<Option<Value>, String> {
    let text =
        k8s::get(&ingresses(), namespace, name).map_err(|e| format!("ingress `{name}`: {}", err(e)))?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| format!("ingress `{name}`: {e}"))).transpose()
}

fn max_weight(ctx: &RouterContext) -> Option<i64> {
    let routing: Value = serde_json::from_str(&ctx.traffic_routing).unwrap_or(Value::Null);
    routing.get("maxTrafficWeight").and_then(Value::as_i64)
}

fn set_weight(ctx: &RouterContext, weight: i32) -> Result<(), String> {
    let cfg = config(ctx)?;
    let ns = ctx.rollout.namespace.clone();
    let c = Canary {
        rollout: ctx.rollout.name.clone(),
        rollout_uid: ctx.rollout.uid.clone(),
        namespace: ns.clone(),
        canary_service: ctx.canary_service.clone(),
        stable_service: ctx.stable_service.clone(),
        weight: i64::from(weight),
        max_weight: max_weight(ctx),
    };
    for stable_name in cfg.stable_ingresses() {
        let stable = get(&ns, &stable_name)?
            .ok_or_else(|| format!("error retrieving stableIngress `{stable_name}`: not found"))?;
        let desired = ingress::desired(&cfg, &stable, &c)?;
        let name = ingress::canary_name(&c.rollout, &stable_name);
        let current = match get(&ns, &name)? {
            Some(current) => current,
            None => match k8s::create(&ingresses(), &ns, &desired.to_string()) {
                Ok(_) => continue,
                Err(K8sError::Api(f)) if f.code == 409 => {
                    get(&ns, &name)?.ok_or_else(|| format!("canary ingress `{name}` vanished"))?
                }
                Err(e) => return Err(format!("error creating canary ingress `{name}`: {}", err(e))),
            },
        };
        if !ingress::owned_by(&current, &c.rollout_uid) {
            return Err(format!("canary ingress `{name}` controlled by different object"));
        }
        if let Some(patch) = ingress::patch(cfg.prefix(), &current, &desired) {
            k8s::merge_patch(&ingresses(), &ns, &name, &patch.to_string())
                .map_err(|e| format!("error patching canary ingress `{name}`: {}", err(e)))?;
        }
    }
    Ok(())
}

/// Patches the annotations of every canary Ingress with what `annotations` computes from it.
fn annotate(
    ctx: &RouterContext,
    annotations: impl Fn(&Config, &Value) -> Result<Option<serde_json::Map<String, Value>>, String>,
) -> Result<(), String> {
    let cfg = config(ctx)?;
    let ns = &ctx.rollout.namespace;
    for stable_name in cfg.stable_ingresses() {
        let name = ingress::canary_name(&ctx.rollout.name, &stable_name);
        let Some(current) = get(ns, &name)? else { continue };
        if let Some(a) = annotations(&cfg, &current)? {
            let patch = json!({"metadata": {"annotations": a}});
            k8s::merge_patch(&ingresses(), ns, &name, &patch.to_string())
                .map_err(|e| format!("error patching canary ingress `{name}`: {}", err(e)))?;
        }
    }
    Ok(())
}

struct Nginx;

impl Guest for Nginx {
    fn set_weight(ctx: RouterContext, desired_weight: i32, _extra: Vec<WeightDestination>) -> Reply {
        reply(set_weight(&ctx, desired_weight))
    }

    fn set_header_route(ctx: RouterContext, route: HeaderRoute) -> Reply {
        let matches: Vec<(String, HeaderValue)> = route
            .matches
            .iter()
            .map(|m| {
                let value = match &m.header_value {
                    StringMatch::Exact(v) => HeaderValue::Exact(v.clone()),
                    StringMatch::Prefix(v) => HeaderValue::Prefix(v.clone()),
                    StringMatch::Regex(v) => HeaderValue::Regex(v.clone()),
                };
                (m.header_name.clone(), value)
            })
            .collect();
        reply(annotate(&ctx, |cfg, _| {
            ingress::header_route_patch(cfg.prefix(), &route.name, &matches).map(Some)
        }))
    }

    fn set_mirror_route(_ctx: RouterContext, route: MirrorRoute) -> Reply {
        if route.matches.is_empty() {
            return reply(Ok(()));
        }
        reply(Err("the nginx router cannot mirror requests to a canary Ingress".into()))
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

    fn remove_managed_routes(ctx: RouterContext) -> Reply {
        reply(annotate(&ctx, |cfg, current| Ok(ingress::remove_header_route_patch(cfg.prefix(), current))))
    }
}

export!(Nginx);

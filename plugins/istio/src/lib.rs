//! The built-in `istio` traffic router: Argo Rollouts' in-tree Istio routing over the host's `kubernetes` import.
//! `set-weight` edits the named VirtualService routes' destination weights (host-level split by Service, or
//! subset-level split with a DestinationRule), `update-hash` points the DestinationRule's canary and stable
//! subsets at the ReplicaSets' pods, header and mirror routes are HTTP routes of their own, first in
//! `managedRoutes` order, and `remove-managed-routes` removes them. Needs get and update on
//! networking.istio.io virtualservices (and destinationrules when one is configured), which the host grants
//! from the configuration in the namespaces it names.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "traffic-router-plugin",
    generate_all,
});

pub mod routes;

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, Outcome, Reply, RouterContext, StringMatch, Verification, VerifyReply,
    WeightDestination,
};
use routes::{Config, Extra, Targets, VirtualServiceRef};
use serde_json::{Value, json};
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};

/// Upstream's default Istio API version.
const API_VERSION: &str = "v1alpha3";

fn resource(plural: &str) -> ApiResource {
    ApiResource { group: "networking.istio.io".into(), version: API_VERSION.into(), plural: plural.into() }
}

serin_plugin_support::router_replies!();

fn config(ctx: &RouterContext) -> Result<Config, String> {
    serde_json::from_str(&ctx.config).map_err(|e| format!("trafficRouting.istio: {e}"))
}

fn get(plural: &str, kind: &str, namespace: &str, name: &str) -> Result<Value, String> {
    let text = k8s::get(&resource(plural), namespace, name)
        .map_err(|e| format!("{kind} {namespace}/{name}: {}", err(e)))?
        .ok_or_else(|| format!("{kind} {namespace}/{name} not found"))?;
    serde_json::from_str(&text).map_err(|e| format!("{kind} {namespace}/{name}: {e}"))
}

/// Writes `object` back when it changed (its resourceVersion guards against a lost update).
fn update(plural: &str, kind: &str, before: &Value, object: &Value) -> Result<(), String> {
    if before == object {
        return Ok(());
    }
    let ns = object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    k8s::replace(&resource(plural), ns, name, &object.to_string())
        .map(|_| ())
        .map_err(|e| format!("updating {kind} {ns}/{name}: {}", err(e)))
}

/// Applies `edit` to the spec of every VirtualService the configuration names.
fn each_virtual_service(
    ctx: &RouterContext,
    edit: impl Fn(&mut Value, &VirtualServiceRef, &Config) -> Result<(), String>,
) -> Result<(), String> {
    let cfg = config(ctx)?;
    for vs in cfg.virtual_services() {
        let (ns, name) = routes::split_name(&vs.name, &ctx.rollout.namespace);
        let before = get("virtualservices", "VirtualService", ns, name)?;
        let mut object = before.clone();
        let mut spec = object.get("spec").cloned().unwrap_or_else(|| json!({}));
        edit(&mut spec, &vs, &cfg).map_err(|e| format!("VirtualService {ns}/{name}: {e}"))?;
        object["spec"] = spec;
        update("virtualservices", "VirtualService", &before, &object)?;
    }
    Ok(())
}

fn targets(ctx: &RouterContext, cfg: &Config) -> Targets {
    let dr = cfg.destination_rule.as_ref();
    Targets {
        canary_service: ctx.canary_service.clone(),
        stable_service: ctx.stable_service.clone(),
        canary_subset: dr.map(|d| d.canary_subset_name.clone()).unwrap_or_default(),
        stable_subset: dr.map(|d| d.stable_subset_name.clone()).unwrap_or_default(),
    }
}

/// Where header and mirror routes send requests: the DestinationRule's host and canary subset, or the canary
/// Service.
fn canary_host(ctx: &RouterContext, cfg: &Config) -> Result<(String, String), String> {
    match &cfg.destination_rule {
        Some(d) => {
            let dr = get("destinationrules", "DestinationRule", &ctx.rollout.namespace, &d.name)?;
            let host = dr.pointer("/spec/host").and_then(Value::as_str).unwrap_or("").to_string();
            Ok((host, d.canary_subset_name.clone()))
        }
        None => Ok((ctx.canary_service.clone(), String::new())),
    }
}

fn extras(extra: &[WeightDestination]) -> Vec<Extra> {
    extra.iter().map(|d| Extra { service: d.service_name.clone(), weight: i64::from(d.weight) }).collect()
}

fn string_match(m: &StringMatch) -> (&'static str, &str) {
    match m {
        StringMatch::Exact(v) => ("exact", v),
        StringMatch::Prefix(v) => ("prefix", v),
        StringMatch::Regex(v) => ("regex", v),
    }
}

fn match_value(m: &StringMatch) -> Value {
    let (how, value) = string_match(m);
    json!({ how: value })
}

struct Istio;

impl Guest for Istio {
    fn set_weight(ctx: RouterContext, desired_weight: i32, extra: Vec<WeightDestination>) -> Reply {
        let extra = extras(&extra);
        reply(each_virtual_service(&ctx, |spec, vs, cfg| {
            let max = i64::from(ctx.max_weight);
            routes::set_weights(
                spec,
                vs,
                &ctx.managed_routes,
                &targets(&ctx, cfg),
                desired_weight.into(),
                max,
                &extra,
            )
        }))
    }

    fn set_header_route(ctx: RouterContext, route: HeaderRoute) -> Reply {
        let out = config(&ctx).and_then(|cfg| canary_host(&ctx, &cfg)).and_then(|(host, subset)| {
            let matches: Vec<Value> = route
                .matches
                .iter()
                .map(|m| {
                    let (how, value) = string_match(&m.header_value);
                    routes::header_match(&m.header_name, how, value)
                })
                .collect();
            each_virtual_service(&ctx, |spec, vs, _| {
                routes::set_header_route(
                    spec,
                    vs,
                    &route.name,
                    matches.clone(),
                    &host,
                    &subset,
                    &ctx.managed_routes,
                );
                Ok(())
            })
        });
        reply(out)
    }

    fn set_mirror_route(ctx: RouterContext, route: MirrorRoute) -> Reply {
        let out = config(&ctx).and_then(|cfg| canary_host(&ctx, &cfg)).and_then(|(host, subset)| {
            let matches: Vec<Value> = route
                .matches
                .iter()
                .map(|m| {
                    let mut out = serde_json::Map::new();
                    if let Some(method) = &m.method {
                        out.insert("method".into(), match_value(method));
                    }
                    if let Some(path) = &m.path {
                        out.insert("uri".into(), match_value(path));
                    }
                    if !m.headers.is_empty() {
                        let headers: serde_json::Map<String, Value> =
                            m.headers.iter().map(|(k, v)| (k.clone(), match_value(v))).collect();
                        out.insert("headers".into(), Value::Object(headers));
                    }
                    Value::Object(out)
                })
                .collect();
            let percentage = route.percentage.map(i64::from);
            each_virtual_service(&ctx, |spec, vs, _| {
                routes::set_mirror_route(
                    spec,
                    vs,
                    &route.name,
                    matches.clone(),
                    percentage,
                    &host,
                    &subset,
                    &ctx.managed_routes,
                )
            })
        });
        reply(out)
    }

    fn verify_weight(_ctx: RouterContext, _weight: i32, _extra: Vec<WeightDestination>) -> VerifyReply {
        // Upstream's Istio router cannot verify weights either.
        VerifyReply { verification: Verification::NotImplemented, reply: reply(Ok(())) }
    }

    fn update_hash(
        ctx: RouterContext,
        canary: String,
        stable: String,
        _extra: Vec<WeightDestination>,
    ) -> Reply {
        let out = config(&ctx).and_then(|cfg| {
            let Some(d) = &cfg.destination_rule else { return Ok(()) };
            let ns = ctx.rollout.namespace.clone();
            let before = get("destinationrules", "DestinationRule", &ns, &d.name)?;
            let mut dr = before.clone();
            routes::set_subset_hashes(&mut dr, d, &canary, &stable, &ctx.rollout.name);
            update("destinationrules", "DestinationRule", &before, &dr)
        });
        reply(out)
    }

    fn remove_managed_routes(ctx: RouterContext) -> Reply {
        reply(each_virtual_service(&ctx, |spec, _, _| {
            for name in &ctx.managed_routes {
                routes::remove_route(spec, name);
            }
            Ok(())
        }))
    }
}

export!(Istio);

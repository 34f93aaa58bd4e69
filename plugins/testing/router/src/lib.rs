//! Test plugin: a traffic router that keeps the routing it is asked for in a ConfigMap named
//! `<rollout>-routes` (data keys `weight`, `additional`, `canary-hash`, `stable-hash`, `route.<name>`), through
//! the host's Kubernetes import, so tests can check every router call end to end.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "traffic-router-plugin",
});

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, RouterContext, StringMatch, Verification, WeightDestination,
};
use serde_json::{Value, json};
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};

struct Router;

fn configmaps() -> ApiResource {
    ApiResource { group: String::new(), version: "v1".into(), plural: "configmaps".into() }
}

fn name(ctx: &RouterContext) -> String {
    format!("{}-routes", ctx.rollout.name)
}

fn err(e: K8sError) -> String {
    match e {
        K8sError::Denied(m) | K8sError::Unavailable(m) => m,
        K8sError::Api(f) => format!("{} ({}): {}", f.reason, f.code, f.message),
    }
}

/// Merges `data` into the ConfigMap, creating it on first use.
fn record(ctx: &RouterContext, data: Value) -> Result<(), String> {
    let patch = json!({ "data": data }).to_string();
    match k8s::merge_patch(&configmaps(), &name(ctx), &patch) {
        Ok(_) => Ok(()),
        Err(K8sError::Api(f)) if f.code == 404 => {
            let object = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": { "name": name(ctx), "namespace": ctx.rollout.namespace },
                "data": data,
            });
            k8s::create(&configmaps(), &object.to_string()).map(|_| ()).map_err(err)
        }
        Err(e) => Err(err(e)),
    }
}

fn describe(m: &StringMatch) -> String {
    match m {
        StringMatch::Exact(v) => format!("exact:{v}"),
        StringMatch::Prefix(v) => format!("prefix:{v}"),
        StringMatch::Regex(v) => format!("regex:{v}"),
    }
}

fn additional(extra: &[WeightDestination]) -> String {
    extra
        .iter()
        .map(|d| format!("{}={}@{}", d.service_name, d.weight, d.pod_template_hash))
        .collect::<Vec<_>>()
        .join(",")
}

impl Guest for Router {
    fn set_weight(
        ctx: RouterContext,
        desired_weight: i32,
        extra: Vec<WeightDestination>,
    ) -> Result<(), String> {
        if desired_weight > ctx.max_weight {
            return Err(format!("weight {desired_weight} exceeds maxTrafficWeight {}", ctx.max_weight));
        }
        record(&ctx, json!({ "weight": desired_weight.to_string(), "additional": additional(&extra) }))
    }

    fn set_header_route(ctx: RouterContext, route: HeaderRoute) -> Result<(), String> {
        let matches: Vec<String> = route
            .matches
            .iter()
            .map(|m| format!("{}={}", m.header_name, describe(&m.header_value)))
            .collect();
        let value = if matches.is_empty() { Value::Null } else { Value::String(matches.join(";")) };
        record(&ctx, json!({ format!("route.{}", route.name): value }))
    }

    fn set_mirror_route(ctx: RouterContext, route: MirrorRoute) -> Result<(), String> {
        let value = if route.matches.is_empty() {
            Value::Null
        } else {
            Value::String(format!(
                "mirror {}% of {} match(es)",
                route.percentage.unwrap_or(100),
                route.matches.len()
            ))
        };
        record(&ctx, json!({ format!("route.{}", route.name): value }))
    }

    fn verify_weight(
        ctx: RouterContext,
        desired_weight: i32,
        _extra: Vec<WeightDestination>,
    ) -> Result<Verification, String> {
        let current = k8s::get(&configmaps(), &name(&ctx)).map_err(err)?;
        let weight = current
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|cm| cm["data"]["weight"].as_str().map(str::to_string));
        Ok(if weight == Some(desired_weight.to_string()) {
            Verification::Verified
        } else {
            Verification::NotVerified
        })
    }

    fn update_hash(
        ctx: RouterContext,
        canary: String,
        stable: String,
        _extra: Vec<WeightDestination>,
    ) -> Result<(), String> {
        record(&ctx, json!({ "canary-hash": canary, "stable-hash": stable }))
    }

    fn remove_managed_routes(ctx: RouterContext) -> Result<(), String> {
        let current = k8s::get(&configmaps(), &name(&ctx)).map_err(err)?;
        let Some(cm) = current.and_then(|text| serde_json::from_str::<Value>(&text).ok()) else {
            return Ok(());
        };
        let routes: serde_json::Map<String, Value> = cm["data"]
            .as_object()
            .map(|d| d.keys().filter(|k| k.starts_with("route.")).map(|k| (k.clone(), Value::Null)).collect())
            .unwrap_or_default();
        record(&ctx, Value::Object(routes))
    }
}

export!(Router);

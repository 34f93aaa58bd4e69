//! Test plugin: a `serin:plugin@0.2.0` traffic router. It keeps what it is asked for in a ConfigMap named
//! `<rollout>-routes` (in the namespace its configuration names, else the Rollout's), written by server-side
//! apply, with header routes added (and removed) by JSON patch; it records the context 0.2.0 adds (hashes, managed routes,
//! the trafficRouting block, its previous state) and counts its calls in its state (until the first after its wait). With `"waitFor": N` in its
//! configuration, `set-weight` asks to be called again N times before it applies anything.

wit_bindgen::generate!({
    path: "../../../wit/0.2.0",
    world: "traffic-router-plugin",
    generate_all,
});

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, Outcome, Reply, RetryAfter, RouterContext, Verification, VerifyReply,
    WeightDestination,
};
use serde_json::{Value, json};
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};

struct Router;

fn configmaps() -> ApiResource {
    ApiResource { group: String::new(), version: "v1".into(), plural: "configmaps".into() }
}

fn config(ctx: &RouterContext) -> Value {
    serde_json::from_str(&ctx.config).unwrap_or(Value::Null)
}

fn namespace(ctx: &RouterContext) -> String {
    config(ctx)["namespace"].as_str().map_or_else(|| ctx.rollout.namespace.clone(), str::to_string)
}

fn name(ctx: &RouterContext) -> String {
    format!("{}-routes", ctx.rollout.name)
}

fn err(e: K8sError) -> String {
    match e {
        K8sError::Denied(m) | K8sError::Unavailable(m) | K8sError::TooLarge(m) => m,
        K8sError::Api(f) => format!("{} ({}): {}", f.reason, f.code, f.message),
    }
}

/// The number of calls so far, from the state the host kept.
fn calls(ctx: &RouterContext) -> u64 {
    ctx.state.as_deref().and_then(|s| s.strip_prefix("calls=")).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The calls are counted until the first one after the wait: a state that changed on every call would be
/// written to the Rollout, and start another pass, every time.
fn reply(ctx: &RouterContext, out: Result<(), String>) -> Reply {
    let counting = calls(ctx) <= config(ctx)["waitFor"].as_u64().unwrap_or(0);
    Reply {
        outcome: match out {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(e),
        },
        state: counting.then(|| format!("calls={}", calls(ctx) + 1)),
    }
}

fn apply(ctx: &RouterContext, data: Value) -> Result<(), String> {
    let object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name(ctx), "namespace": namespace(ctx) },
        "data": data,
    });
    k8s::apply(&configmaps(), &namespace(ctx), &name(ctx), &object.to_string(), true).map(|_| ()).map_err(err)
}

impl Guest for Router {
    fn set_weight(ctx: RouterContext, desired_weight: i32, _extra: Vec<WeightDestination>) -> Reply {
        if desired_weight > ctx.max_weight {
            let message = format!("weight {desired_weight} exceeds maxTrafficWeight {}", ctx.max_weight);
            return reply(&ctx, Err(message));
        }
        let wait_for = config(&ctx)["waitFor"].as_u64().unwrap_or(0);
        if calls(&ctx) < wait_for {
            return Reply {
                outcome: Outcome::Retry(RetryAfter {
                    after_ms: 10,
                    message: format!("load balancer provisioning ({} of {wait_for})", calls(&ctx) + 1),
                }),
                state: Some(format!("calls={}", calls(&ctx) + 1)),
            };
        }
        let data = json!({
            "weight": desired_weight.to_string(),
            "stable-hash": ctx.stable_hash.clone().unwrap_or_default(),
            "canary-hash": ctx.canary_hash.clone().unwrap_or_default(),
            "managed-routes": ctx.managed_routes.join(","),
            "traffic-routing": ctx.traffic_routing,
            "previous-state": ctx.state.clone().unwrap_or_default(),
        });
        let out = apply(&ctx, data);
        reply(&ctx, out)
    }

    fn set_header_route(ctx: RouterContext, route: HeaderRoute) -> Reply {
        let value: Vec<String> = route.matches.iter().map(|m| m.header_name.clone()).collect();
        let patch =
            json!([{ "op": "add", "path": format!("/data/route.{}", route.name), "value": value.join(";") }]);
        let out = k8s::json_patch(&configmaps(), &namespace(&ctx), &name(&ctx), &patch.to_string())
            .map(|_| ())
            .map_err(err);
        reply(&ctx, out)
    }

    fn set_mirror_route(ctx: RouterContext, _route: MirrorRoute) -> Reply {
        reply(&ctx, Ok(()))
    }

    fn verify_weight(ctx: RouterContext, desired_weight: i32, _extra: Vec<WeightDestination>) -> VerifyReply {
        match k8s::get(&configmaps(), &namespace(&ctx), &name(&ctx)) {
            Ok(current) => {
                let weight = current
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                    .and_then(|cm| cm["data"]["weight"].as_str().map(str::to_string));
                let verification = if weight == Some(desired_weight.to_string()) {
                    Verification::Verified
                } else {
                    Verification::NotVerified
                };
                VerifyReply { verification, reply: Reply { outcome: Outcome::Done, state: None } }
            }
            Err(e) => {
                VerifyReply { verification: Verification::NotVerified, reply: reply(&ctx, Err(err(e))) }
            }
        }
    }

    fn update_hash(
        ctx: RouterContext,
        _canary: String,
        _stable: String,
        _extra: Vec<WeightDestination>,
    ) -> Reply {
        reply(&ctx, Ok(()))
    }

    fn remove_managed_routes(ctx: RouterContext) -> Reply {
        let current = match k8s::get(&configmaps(), &namespace(&ctx), &name(&ctx)) {
            Ok(Some(text)) => serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            Ok(None) => return reply(&ctx, Ok(())),
            Err(e) => return reply(&ctx, Err(err(e))),
        };
        let ops: Vec<Value> = current["data"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("route."))
            .map(|(k, _)| json!({ "op": "remove", "path": format!("/data/{k}") }))
            .collect();
        if ops.is_empty() {
            return reply(&ctx, Ok(()));
        }
        let out =
            k8s::json_patch(&configmaps(), &namespace(&ctx), &name(&ctx), &Value::Array(ops).to_string())
                .map(|_| ())
                .map_err(err);
        reply(&ctx, out)
    }
}

export!(Router);

//! The built-in Gateway API traffic router, answering to `trafficRouting.plugins["argoproj-labs/gatewayAPI"]`
//! with that plugin's configuration: `set-weight` sets the canary and stable backendRef weights of the named
//! HTTPRoutes and GRPCRoutes; header routes are rules of their own (named after the managed route) sending
//! matching requests to the canary; mirror routes are rules with a RequestMirror filter. Needs get and update
//! on gateway.networking.k8s.io httproutes / grpcroutes in the configured namespace, which the host grants.

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
use routes::{Config, Kind, Route, Services};
use serde_json::Value;
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};

fn resource(kind: Kind) -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        plural: kind.plural().into(),
    }
}

serin_plugin_support::router_replies!();

fn config(ctx: &RouterContext) -> Result<Config, String> {
    serde_json::from_str(&ctx.config)
        .map_err(|e| format!("trafficRouting.plugins[\"argoproj-labs/gatewayAPI\"]: {e}"))
}

fn services(ctx: &RouterContext) -> Services {
    Services { canary: ctx.canary_service.clone(), stable: ctx.stable_service.clone() }
}

/// Applies `edit` to the spec of every route (that `which` selects) and writes back those that changed. A rule
/// named by the edit that the stored route no longer has means the CRD drops rule names.
fn each_route(
    ctx: &RouterContext,
    which: impl Fn(&Route) -> bool,
    expect_rule: Option<&str>,
    edit: impl Fn(Kind, &mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let cfg = config(ctx)?;
    let ns = cfg.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| ctx.rollout.namespace.clone());
    for route in cfg.routes().into_iter().filter(|r| which(r)) {
        let what = format!("{} {ns}/{}", route.kind.name(), route.name);
        let text = k8s::get(&resource(route.kind), &ns, &route.name)
            .map_err(|e| format!("{what}: {}", err(e)))?
            .ok_or_else(|| format!("{what} not found"))?;
        let before: Value = serde_json::from_str(&text).map_err(|e| format!("{what}: {e}"))?;
        let mut object = before.clone();
        edit(route.kind, &mut object["spec"]).map_err(|e| format!("{what}: {e}"))?;
        if object == before {
            continue;
        }
        let stored = k8s::replace(&resource(route.kind), &ns, &route.name, &object.to_string())
            .map_err(|e| format!("updating {what}: {}", err(e)))?;
        if let Some(rule) = expect_rule {
            let stored: Value = serde_json::from_str(&stored).unwrap_or(Value::Null);
            let kept = stored["spec"]["rules"].as_array().is_some_and(|rules| {
                rules.iter().any(|r| r.get("name").and_then(Value::as_str) == Some(rule))
            });
            if !kept {
                return Err(format!(
                    "{what}: the API server dropped the name of rule {rule}; managed routes need rule names (Gateway API 1.2 or later)"
                ));
            }
        }
    }
    Ok(())
}

fn how(m: &StringMatch) -> (&'static str, &str) {
    match m {
        StringMatch::Exact(v) => ("exact", v),
        StringMatch::Prefix(v) => ("prefix", v),
        StringMatch::Regex(v) => ("regex", v),
    }
}

struct GatewayApi;

impl Guest for GatewayApi {
    fn set_weight(ctx: RouterContext, desired_weight: i32, _extra: Vec<WeightDestination>) -> Reply {
        let s = services(&ctx);
        let max = i64::from(ctx.max_weight);
        reply(each_route(
            &ctx,
            |_| true,
            None,
            |_, spec| routes::set_weights(spec, &s, &ctx.managed_routes, desired_weight.into(), max),
        ))
    }

    fn set_header_route(ctx: RouterContext, route: HeaderRoute) -> Reply {
        let s = services(&ctx);
        let headers: Result<Vec<Value>, String> = route
            .matches
            .iter()
            .map(|m| {
                let (how, value) = how(&m.header_value);
                routes::header_match(&m.header_name, how, value)
            })
            .collect();
        let out = headers.and_then(|headers| {
            let expect = (!headers.is_empty()).then_some(route.name.as_str());
            each_route(
                &ctx,
                |r| r.header_routes,
                expect,
                |_, spec| routes::set_header_rule(spec, &s, &route.name, headers.clone()),
            )
        });
        reply(out)
    }

    fn set_mirror_route(ctx: RouterContext, route: MirrorRoute) -> Reply {
        let s = services(&ctx);
        let matches: Result<Vec<Value>, String> = route
            .matches
            .iter()
            .map(|m| {
                let headers: Vec<(String, &str, &str)> = m
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        let (h, v) = how(v);
                        (n.clone(), h, v)
                    })
                    .collect();
                routes::http_match(m.method.as_ref().map(how), m.path.as_ref().map(how), &headers)
            })
            .collect();
        let out = matches.and_then(|matches| {
            let expect = (!matches.is_empty()).then_some(route.name.as_str());
            let percentage = route.percentage.map(i64::from);
            // GRPCRoutes have no RequestMirror filter in Gateway API's standard channel.
            each_route(
                &ctx,
                |r| r.kind == Kind::Http,
                expect,
                |_, spec| routes::set_mirror_rule(spec, &s, &route.name, matches.clone(), percentage),
            )
        });
        reply(out)
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
        reply(each_route(
            &ctx,
            |_| true,
            None,
            |_, spec| {
                for name in &ctx.managed_routes {
                    routes::remove_rule(spec, name);
                }
                Ok(())
            },
        ))
    }
}

export!(GatewayApi);

//! The built-in `apisix` traffic router: Argo Rollouts' in-tree Apache APISIX routing over the host's
//! `kubernetes` import. `set-weight` sets the backends' weights of the named rules of the ApisixRoute
//! (`apisix.apache.org/v2`); a header route is an ApisixRoute of its own named after the managed route (owned by
//! the Rollout), removed with the managed routes. Needs get, create, update and delete on apisix.apache.org
//! apisixroutes in the Rollout's namespace, which the host grants.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "traffic-router-plugin",
    generate_all,
});

pub mod route;

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, Outcome, Reply, RouterContext, StringMatch, Verification, VerifyReply,
    WeightDestination,
};
use serde_json::{Value, json};
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};
use serin_plugin_support::routing::{self, owned_by};

fn resource() -> ApiResource {
    ApiResource { group: "apisix.apache.org".into(), version: "v2".into(), plural: "apisixroutes".into() }
}

serin_plugin_support::router_replies!();

fn config(ctx: &RouterContext) -> Result<Value, String> {
    serde_json::from_str(&ctx.config).map_err(|e| format!("trafficRouting.apisix: {e}"))
}

fn get(ns: &str, name: &str) -> Result<Option<Value>, String> {
    let text = k8s::get(&resource(), ns, name).map_err(|e| format!("ApisixRoute {name}: {}", err(e)))?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| format!("ApisixRoute {name}: {e}"))).transpose()
}

fn route_name(cfg: &Value) -> String {
    cfg.pointer("/route/name").and_then(Value::as_str).unwrap_or("").to_string()
}

fn set_weight(ctx: &RouterContext, weight: i32) -> Result<(), String> {
    let cfg = config(ctx)?;
    let (ns, name) = (&ctx.rollout.namespace, route_name(&cfg));
    let before = get(ns, &name)?.ok_or_else(|| format!("ApisixRoute {name} not found"))?;
    let mut object = before.clone();
    let rules = route::rule_names(&cfg);
    route::set_weights(
        &mut object["spec"],
        &rules,
        &ctx.canary_service,
        &ctx.stable_service,
        weight.into(),
        ctx.max_weight.into(),
    )?;
    if object == before {
        return Ok(());
    }
    k8s::replace(&resource(), ns, &name, &object.to_string())
        .map(|_| ())
        .map_err(|e| format!("Error updating apisix route \"{name}\": {}", err(e)))
}

fn set_header_route(ctx: &RouterContext, header: &HeaderRoute) -> Result<(), String> {
    let cfg = config(ctx)?;
    let ns = &ctx.rollout.namespace;
    let existing = get(ns, &header.name)?;
    if let Some(e) = &existing
        && !owned_by(e, &ctx.rollout.uid)
    {
        return Err(format!("duplicate ApisixRoute [{}] already exists", header.name));
    }
    if header.matches.is_empty() {
        if existing.is_some() {
            k8s::delete(&resource(), ns, &header.name)
                .map_err(|e| format!("Error delete apisix route \"{}\": {}", header.name, err(e)))?;
        }
        return Ok(());
    }
    let main = route_name(&cfg);
    let base = get(ns, &main)?.ok_or_else(|| format!("ApisixRoute {main} not found"))?;
    let exprs: Vec<Value> = header
        .matches
        .iter()
        .map(|m| {
            let (how, value) = match &m.header_value {
                StringMatch::Exact(v) => ("exact", v),
                StringMatch::Prefix(v) => ("prefix", v),
                StringMatch::Regex(v) => ("regex", v),
            };
            route::header_expr(&m.header_name, how, value)
        })
        .collect();
    let rules = route::rule_names(&cfg);
    match existing {
        None => {
            let spec = route::header_route_spec(
                &base["spec"],
                &rules,
                &ctx.canary_service,
                &ctx.stable_service,
                &exprs,
                true,
            )?;
            let object = json!({
                "apiVersion": "apisix.apache.org/v2",
                "kind": "ApisixRoute",
                "metadata": {
                    "name": header.name,
                    "namespace": ns,
                    "labels": base.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                    "ownerReferences": [routing::rollout_owner(&ctx.rollout.name, &ctx.rollout.uid)],
                },
                "spec": spec,
            });
            k8s::create(&resource(), ns, &object.to_string())
                .map(|_| ())
                .map_err(|e| format!("Error create apisix route \"{}\": {}", header.name, err(e)))
        }
        Some(mut current) => {
            let spec = route::header_route_spec(
                &current["spec"],
                &rules,
                &ctx.canary_service,
                &ctx.stable_service,
                &exprs,
                false,
            )?;
            if current["spec"] == spec {
                return Ok(());
            }
            current["spec"] = spec;
            k8s::replace(&resource(), ns, &header.name, &current.to_string())
                .map(|_| ())
                .map_err(|e| format!("Error update apisix route \"{}\": {}", header.name, err(e)))
        }
    }
}

fn remove_managed_routes(ctx: &RouterContext) -> Result<(), String> {
    let ns = &ctx.rollout.namespace;
    for name in &ctx.managed_routes {
        if let Some(o) = get(ns, name)?
            && owned_by(&o, &ctx.rollout.uid)
        {
            k8s::delete(&resource(), ns, name)
                .map_err(|e| format!("Error deleting apisix route \"{name}\": {}", err(e)))?;
        }
    }
    Ok(())
}

struct Apisix;

impl Guest for Apisix {
    fn set_weight(ctx: RouterContext, desired_weight: i32, _extra: Vec<WeightDestination>) -> Reply {
        reply(set_weight(&ctx, desired_weight))
    }

    fn set_header_route(ctx: RouterContext, route: HeaderRoute) -> Reply {
        reply(set_header_route(&ctx, &route))
    }

    fn set_mirror_route(_ctx: RouterContext, route: MirrorRoute) -> Reply {
        if route.matches.is_empty() {
            return reply(Ok(()));
        }
        reply(Err("the apisix router cannot mirror requests yet".into()))
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
        reply(remove_managed_routes(&ctx))
    }
}

export!(Apisix);

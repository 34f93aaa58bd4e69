//! The built-in `traefik` traffic router: Argo Rollouts' in-tree Traefik routing over the host's `kubernetes`
//! import. `set-weight` sets the canary's and the stable's weights in the weighted TraefikService
//! (`traefik.io/v1alpha1`, upstream's default) that `weightedTraefikServiceName` names. Mirror routes, which
//! upstream's Traefik router lacks, go through a mirroring TraefikService that `mirrorTraefikServiceName` names:
//! the canary Service becomes one of its mirrors at the route's percentage until the route is removed. Needs get
//! and update on traefik.io traefikservices in the Rollout's namespace, which the host grants.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "traffic-router-plugin",
    generate_all,
});

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, Outcome, Reply, RouteMatch, RouterContext, StringMatch, Verification,
    VerifyReply, WeightDestination,
};
use serde_json::{Value, json};
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};

/// The annotation on the mirroring TraefikService naming the mirror route whose canary mirror this router
/// added, so that removing the routes takes away that mirror and nothing the user wrote.
pub const MIRROR_ROUTE_ANNOTATION: &str = "serin.dev/mirror-route";

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

/// Whether a request match selects every request: a TraefikService mirrors all the requests it receives, so
/// only such matches can be expressed (the IngressRoute rule in front of the mirroring service selects them).
pub fn selects_everything(m: &RouteMatch) -> bool {
    let any_path = match &m.path {
        None => true,
        Some(StringMatch::Prefix(p)) => p.is_empty() || p == "/",
        Some(_) => false,
    };
    m.method.is_none() && m.headers.is_empty() && any_path
}

fn annotation_pointer() -> String {
    format!("/metadata/annotations/{}", MIRROR_ROUTE_ANNOTATION.replace('/', "~1"))
}

/// The mirror route `route` in a mirroring TraefikService: the canary Service (on `port`) becomes one of
/// `spec.mirroring.mirrors` with `percent`, and the object is marked as carrying that route's mirror. A mirror
/// of the canary that the user wrote is left alone, and the route refused.
pub fn add_mirror(
    object: &mut Value,
    route: &str,
    canary: &str,
    port: Option<&Value>,
    percent: i64,
) -> Result<(), String> {
    let marked = object.pointer(&annotation_pointer()).is_some();
    let mirrors = object
        .pointer_mut("/spec/mirroring")
        .and_then(Value::as_object_mut)
        .ok_or("spec.mirroring was not found in the mirroring traefik service manifest")?
        .entry("mirrors")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or("spec.mirroring.mirrors is not a list")?;
    let mut entry = json!({"name": canary, "percent": percent});
    if let Some(port) = port {
        entry["port"] = port.clone();
    }
    match mirrors.iter_mut().find(|m| m.get("name").and_then(Value::as_str) == Some(canary)) {
        Some(_) if !marked => {
            return Err(format!(
                "the mirroring TraefikService already mirrors to {canary} (a mirror this router did not add)"
            ));
        }
        Some(m) => *m = entry,
        None => mirrors.push(entry),
    }
    let meta = object["metadata"].as_object_mut().ok_or("the TraefikService has no metadata")?;
    meta.entry("annotations").or_insert_with(|| json!({}))[MIRROR_ROUTE_ANNOTATION] = json!(route);
    Ok(())
}

/// Takes away the canary mirror this router added for `route` (for any route when `None`), and the mark.
pub fn remove_mirror(object: &mut Value, canary: &str, route: Option<&str>) {
    let marked = object.pointer(&annotation_pointer()).and_then(Value::as_str);
    if marked.is_none() || route.is_some_and(|r| Some(r) != marked) {
        return;
    }
    if let Some(mirrors) = object.pointer_mut("/spec/mirroring/mirrors").and_then(Value::as_array_mut) {
        mirrors.retain(|m| m.get("name").and_then(Value::as_str) != Some(canary));
    }
    let meta = &mut object["metadata"];
    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove(MIRROR_ROUTE_ANNOTATION);
        if a.is_empty() {
            meta.as_object_mut().map(|m| m.remove("annotations"));
        }
    }
}

struct Config {
    weighted: String,
    mirror: Option<String>,
}

fn config(ctx: &RouterContext) -> Result<Config, String> {
    let cfg: Value = serde_json::from_str(&ctx.config).map_err(|e| format!("trafficRouting.traefik: {e}"))?;
    let text = |key: &str| cfg.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(Config {
        weighted: text("weightedTraefikServiceName").unwrap_or_default(),
        mirror: text("mirrorTraefikServiceName").filter(|s| !s.is_empty()),
    })
}

fn get(ns: &str, name: &str) -> Result<Value, String> {
    let text = k8s::get(&resource(), ns, name)
        .map_err(|e| format!("TraefikService {name}: {}", err(e)))?
        .ok_or_else(|| format!("TraefikService {name} not found"))?;
    serde_json::from_str(&text).map_err(|e| format!("TraefikService {name}: {e}"))
}

/// Reads the TraefikService `name`, applies `edit`, and writes it back when that changed it.
fn edit(ns: &str, name: &str, edit: impl FnOnce(&mut Value) -> Result<(), String>) -> Result<(), String> {
    let before = get(ns, name)?;
    let mut object = before.clone();
    edit(&mut object)?;
    if object == before {
        return Ok(());
    }
    k8s::replace(&resource(), ns, name, &object.to_string())
        .map(|_| ())
        .map_err(|e| format!("Error updating traefik service \"{name}\": {}", err(e)))
}

fn set_weight(ctx: &RouterContext, weight: i32) -> Result<(), String> {
    let cfg = config(ctx)?;
    edit(&ctx.rollout.namespace, &cfg.weighted, |object| {
        weigh(
            &mut object["spec"],
            &ctx.canary_service,
            &ctx.stable_service,
            weight.into(),
            ctx.max_weight.into(),
        )
    })
}

fn set_mirror_route(ctx: &RouterContext, route: &MirrorRoute) -> Result<(), String> {
    let cfg = config(ctx)?;
    let ns = &ctx.rollout.namespace;
    let canary = &ctx.canary_service;
    if route.matches.is_empty() {
        return match &cfg.mirror {
            Some(name) => edit(ns, name, |o| {
                remove_mirror(o, canary, Some(&route.name));
                Ok(())
            }),
            None => Ok(()),
        };
    }
    let name = cfg.mirror.ok_or(
        "trafficRouting.traefik.mirrorTraefikServiceName is not set: the traefik router mirrors requests \
         through the mirroring TraefikService it names",
    )?;
    if !route.matches.iter().all(selects_everything) {
        return Err(format!(
            "the traefik router cannot mirror route \"{}\" by method, path or headers: the TraefikService {name} \
             mirrors every request it receives, so select the requests in the IngressRoute that uses it and give \
             the route a match without conditions",
            route.name
        ));
    }
    // The mirror's port is the canary's in the weighted service, when that has one.
    let port = if cfg.weighted.is_empty() {
        None
    } else {
        let weighted = get(ns, &cfg.weighted)?;
        weighted
            .pointer("/spec/weighted/services")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(canary))
            .and_then(|s| s.get("port"))
            .cloned()
    };
    let percent = route.percentage.unwrap_or(100).into();
    edit(ns, &name, |o| add_mirror(o, &route.name, canary, port.as_ref(), percent))
}

fn remove_managed_routes(ctx: &RouterContext) -> Result<(), String> {
    match config(ctx)?.mirror {
        Some(name) => edit(&ctx.rollout.namespace, &name, |o| {
            remove_mirror(o, &ctx.canary_service, None);
            Ok(())
        }),
        None => Ok(()),
    }
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

    fn set_mirror_route(ctx: RouterContext, route: MirrorRoute) -> Reply {
        reply(set_mirror_route(&ctx, &route))
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

    fn route_match(method: Option<&str>, path: Option<StringMatch>, headers: &[&str]) -> RouteMatch {
        RouteMatch {
            method: method.map(|m| StringMatch::Exact(m.into())),
            path,
            headers: headers.iter().map(|h| (h.to_string(), StringMatch::Exact("1".into()))).collect(),
        }
    }

    #[test]
    fn only_matches_without_conditions_can_be_mirrored() {
        let cases = [
            (route_match(None, None, &[]), true),
            (route_match(None, Some(StringMatch::Prefix("/".into())), &[]), true),
            (route_match(None, Some(StringMatch::Prefix("".into())), &[]), true),
            (route_match(None, Some(StringMatch::Prefix("/api".into())), &[]), false),
            (route_match(None, Some(StringMatch::Exact("/".into())), &[]), false),
            (route_match(Some("GET"), None, &[]), false),
            (route_match(None, None, &["x-canary"]), false),
        ];
        for (m, want) in cases {
            assert_eq!(selects_everything(&m), want, "{m:?}");
        }
    }

    #[test]
    fn the_canary_mirror_comes_and_goes_with_its_route() {
        let written = json!({
            "metadata": {"name": "mirror"},
            "spec": {"mirroring": {"name": "weighted", "kind": "TraefikService",
                "mirrors": [{"name": "audit", "port": 80, "percent": 5}]}},
        });
        let mut o = written.clone();
        add_mirror(&mut o, "mirror-route", "canary", Some(&json!(8080)), 30).unwrap();
        assert_eq!(
            o["spec"]["mirroring"]["mirrors"],
            json!([{"name": "audit", "port": 80, "percent": 5}, {"name": "canary", "port": 8080, "percent": 30}])
        );
        assert_eq!(o["metadata"]["annotations"][MIRROR_ROUTE_ANNOTATION], "mirror-route");
        // Setting the route again updates its percentage in place.
        add_mirror(&mut o, "mirror-route", "canary", Some(&json!(8080)), 60).unwrap();
        assert_eq!(o["spec"]["mirroring"]["mirrors"][1]["percent"], 60);
        assert_eq!(o["spec"]["mirroring"]["mirrors"].as_array().unwrap().len(), 2);
        // Removing another route's mirror changes nothing; removing this one, or all, restores the object.
        let mut other = o.clone();
        remove_mirror(&mut other, "canary", Some("another"));
        assert_eq!(other, o);
        let mut one = o.clone();
        remove_mirror(&mut one, "canary", Some("mirror-route"));
        assert_eq!(one, written);
        remove_mirror(&mut o, "canary", None);
        assert_eq!(o, written);
        // Nothing to remove leaves the object alone.
        remove_mirror(&mut o, "canary", None);
        assert_eq!(o, written);
    }

    #[test]
    fn a_mirror_the_user_wrote_is_not_taken_over() {
        let mut o = json!({"metadata": {}, "spec": {"mirroring": {"name": "weighted",
            "mirrors": [{"name": "canary", "port": 80, "percent": 5}]}}});
        let before = o.clone();
        let e = add_mirror(&mut o, "m", "canary", None, 50).unwrap_err();
        assert!(e.contains("already mirrors to canary"), "{e}");
        remove_mirror(&mut o, "canary", None);
        assert_eq!(o, before, "the user's mirror stays");
        let mut none = json!({"metadata": {}, "spec": {"weighted": {}}});
        assert_eq!(
            add_mirror(&mut none, "m", "canary", None, 50).unwrap_err(),
            "spec.mirroring was not found in the mirroring traefik service manifest"
        );
    }
}

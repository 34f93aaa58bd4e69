//! The `istio` router's edits of VirtualServices and DestinationRules, without I/O (upstream's
//! `rollout/trafficrouting/istio`): which routes a Rollout names, the weights each destination gets, the managed
//! header and mirror routes and their order, the subsets' pod-template hashes.

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The label a DestinationRule subset selects a ReplicaSet's pods by.
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";
/// The annotation naming the Rollout that manages an object.
pub const MANAGED_BY: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// `trafficRouting.istio`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub virtual_service: Option<VirtualServiceRef>,
    #[serde(default)]
    pub virtual_services: Option<Vec<VirtualServiceRef>>,
    #[serde(default)]
    pub destination_rule: Option<DestinationRuleRef>,
}

impl Config {
    /// `virtualService` and `virtualServices`, in that order.
    pub fn virtual_services(&self) -> Vec<VirtualServiceRef> {
        self.virtual_service.iter().chain(self.virtual_services.iter().flatten()).cloned().collect()
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceRef {
    /// `name` or `namespace/name`.
    pub name: String,
    #[serde(default)]
    pub routes: Vec<String>,
    #[serde(default)]
    pub tls_routes: Vec<TlsRouteRef>,
    #[serde(default)]
    pub tcp_routes: Vec<TcpRouteRef>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRouteRef {
    #[serde(default)]
    pub port: i64,
    #[serde(default)]
    pub sni_hosts: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpRouteRef {
    #[serde(default)]
    pub port: i64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleRef {
    pub name: String,
    pub canary_subset_name: String,
    pub stable_subset_name: String,
}

/// `namespace/name` → (namespace, name); a bare name is in `default_ns`.
pub fn split_name<'a>(name: &'a str, default_ns: &'a str) -> (&'a str, &'a str) {
    match name.split_once('/') {
        Some((ns, n)) if !ns.is_empty() => (ns, n),
        Some((_, n)) => (default_ns, n),
        None => (default_ns, name),
    }
}

/// What the weights go to.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub canary_service: String,
    pub stable_service: String,
    pub canary_subset: String,
    pub stable_subset: String,
}

/// One experiment destination: its Service (or subset) and weight.
#[derive(Debug, Clone)]
pub struct Extra {
    pub service: String,
    pub weight: i64,
}

fn routes_of<'a>(spec: &'a Value, kind: &str) -> &'a [Value] {
    spec.get(kind).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// `getHttpRouteIndexesToPatch`: the HTTP routes the Rollout names; with none named, the only route, or else
/// the first unnamed one.
pub fn http_route_indexes(names: &[String], http: &[Value]) -> Result<Vec<usize>, String> {
    let name_of = |r: &Value| r.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    if names.is_empty() {
        if http.len() == 1 {
            return Ok(vec![0]);
        }
        return Ok(http.iter().position(|r| name_of(r).is_empty()).into_iter().collect());
    }
    names
        .iter()
        .map(|n| {
            http.iter()
                .position(|r| &name_of(r) == n)
                .ok_or_else(|| format!("HTTP Route '{n}' is not found in the defined Virtual Service."))
        })
        .collect()
}

/// The single port and the SNI hosts of a TLS or TCP route's matches; None when they name several ports.
fn route_port_and_sni(route: &Value) -> Option<(i64, Vec<String>)> {
    let mut ports: Vec<i64> = Vec::new();
    let mut sni: Vec<String> = Vec::new();
    for m in route.get("match").and_then(Value::as_array).into_iter().flatten() {
        let port = m.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !ports.contains(&port) {
            ports.push(port);
        }
        for h in m.get("sniHosts").and_then(Value::as_array).into_iter().flatten() {
            if let Some(h) = h.as_str()
                && !sni.iter().any(|s| s == h)
            {
                sni.push(h.to_string());
            }
        }
    }
    if ports.len() > 1 {
        return None;
    }
    Some((ports.first().copied().unwrap_or(0), sni))
}

fn same_hosts(a: &[String], b: &[String]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// `getTlsRouteIndexesToPatch` / `getTcpRouteIndexesToPatch`: the routes matching each reference by port (and
/// SNI hosts); none referenced means the first route, when there is one.
fn port_route_indexes(
    refs: &[(i64, Option<Vec<String>>)],
    routes: &[Value],
    kind: &str,
) -> Result<Vec<usize>, String> {
    if routes.is_empty() {
        // Upstream validates the references only against routes the VirtualService has.
        return Ok(vec![]);
    }
    if refs.is_empty() {
        return Ok(vec![0]);
    }
    let mut out = Vec::new();
    for (port, sni) in refs {
        let found: Vec<usize> = routes
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                route_port_and_sni(r).is_some_and(|(p, hosts)| {
                    p == *port && sni.as_ref().is_none_or(|want| same_hosts(want, &hosts))
                })
            })
            .map(|(i, _)| i)
            .collect();
        if found.is_empty() {
            return Err(format!("No matching {kind} routes found in the defined Virtual Service."));
        }
        out.extend(found);
    }
    Ok(out)
}

/// A destination's host up to its first dot (`svc.ns.svc.cluster.local` → `svc`).
fn short_host(dest: &Value) -> &str {
    let host = dest.pointer("/destination/host").and_then(Value::as_str).unwrap_or("");
    host.split('.').next().unwrap_or("")
}

/// `processRoutes`: the canary's and stable's destinations of one route get their weights; experiment
/// destinations theirs (added when missing); any other destination is removed.
fn weigh_route(route: &mut Value, t: &Targets, weight: i64, max: i64, extras: &[Extra]) {
    let stable_weight = (max - weight - extras.iter().map(|e| e.weight).sum::<i64>()).max(0);
    let Some(destinations) = route.get_mut("route").and_then(Value::as_array_mut) else { return };
    let mut pending: Vec<&Extra> = extras.iter().collect();
    destinations.retain_mut(|d| {
        let host = short_host(d).to_string();
        let subset = d.pointer("/destination/subset").and_then(Value::as_str).unwrap_or("").to_string();
        if host.is_empty() {
            return true;
        }
        let w = if host == t.canary_service || (!subset.is_empty() && subset == t.canary_subset) {
            weight
        } else if host == t.stable_service || (!subset.is_empty() && subset == t.stable_subset) {
            stable_weight
        } else if let Some(i) = pending.iter().position(|e| e.service == host) {
            pending.remove(i).weight
        } else {
            return false;
        };
        d["weight"] = json!(w);
        true
    });
    for e in pending {
        destinations.push(json!({"destination": {"host": e.service}, "weight": e.weight}));
    }
}

/// `reconcileVirtualService`: the weights of one VirtualService's spec: the named HTTP routes and the managed
/// mirror routes (so mirrored requests follow the split too), and the named TLS and TCP routes (the first of
/// each when none are named).
pub fn set_weights(
    spec: &mut Value,
    vs: &VirtualServiceRef,
    managed: &[String],
    t: &Targets,
    weight: i64,
    max: i64,
    extras: &[Extra],
) -> Result<(), String> {
    let mut names = vs.routes.clone();
    for r in routes_of(spec, "http") {
        let name = r.get("name").and_then(Value::as_str).unwrap_or("");
        if r.get("mirror").is_some() && managed.iter().any(|m| m == name) {
            names.push(name.to_string());
        }
    }
    let http = http_route_indexes(&names, routes_of(spec, "http"))?;
    let tls_refs: Vec<(i64, Option<Vec<String>>)> =
        vs.tls_routes.iter().map(|r| (r.port, Some(r.sni_hosts.clone()))).collect();
    let tcp_refs: Vec<(i64, Option<Vec<String>>)> = vs.tcp_routes.iter().map(|r| (r.port, None)).collect();
    let tls = port_route_indexes(&tls_refs, routes_of(spec, "tls"), "TLS")?;
    let tcp = port_route_indexes(&tcp_refs, routes_of(spec, "tcp"), "TCP")?;
    for (kind, indexes) in [("http", http), ("tls", tls), ("tcp", tcp)] {
        for i in indexes {
            if let Some(route) = spec.get_mut(kind).and_then(|r| r.get_mut(i)) {
                weigh_route(route, t, weight, max, extras);
            }
        }
    }
    Ok(())
}

/// `removeRoute`: the HTTP route named `name` goes.
pub fn remove_route(spec: &mut Value, name: &str) {
    if let Some(http) = spec.get_mut("http").and_then(Value::as_array_mut) {
        http.retain(|r| r.get("name").and_then(Value::as_str) != Some(name));
    }
}

/// `orderRoutes`: managed routes first, in `managedRoutes` order, then the others as they were.
pub fn order_routes(spec: &mut Value, managed: &[String]) {
    if managed.is_empty() {
        return;
    }
    let Some(http) = spec.get_mut("http").and_then(Value::as_array_mut) else { return };
    let name = |r: &Value| r.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    let mut ordered: Vec<Value> = Vec::with_capacity(http.len());
    for m in managed {
        ordered.extend(http.iter().filter(|r| &name(r) == m).cloned());
    }
    ordered.extend(http.iter().filter(|r| !managed.contains(&name(r))).cloned());
    *http = ordered;
}

/// The first named route's destinations (the weights a mirror route keeps for the traffic it does not mirror).
fn weighted_destinations(spec: &Value, vs: &VirtualServiceRef) -> Result<Vec<Value>, String> {
    let http = routes_of(spec, "http");
    let indexes = http_route_indexes(&vs.routes, http)?;
    Ok(indexes
        .first()
        .and_then(|i| http[*i].get("route"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// The canary's destination: `host` (the DestinationRule's host with subsets), its port, its subset.
fn canary_destination(spec: &Value, vs: &VirtualServiceRef, host: &str, subset: &str) -> Map<String, Value> {
    let mut dest = Map::new();
    dest.insert("host".into(), json!(host));
    let port = weighted_destinations(spec, vs)
        .ok()
        .and_then(|d| d.first().and_then(|d| d.pointer("/destination/port/number")).cloned());
    if let Some(p) = port {
        dest.insert("port".into(), json!({"number": p}));
    }
    if !subset.is_empty() {
        dest.insert("subset".into(), json!(subset));
    }
    dest
}

/// One header match as Istio writes it: `{"headers": {name: {exact|prefix|regex: value}}}`. Each header is a
/// match of its own, as upstream writes them: any one of them routes a request to the canary.
pub fn header_match(name: &str, how: &str, value: &str) -> Value {
    json!({"headers": {name: {how: value}}})
}

/// `createHeaderRoute` after `removeRoute`: the header route `name` (no matches: only removed), appended, then
/// the managed routes ordered.
pub fn set_header_route(
    spec: &mut Value,
    vs: &VirtualServiceRef,
    name: &str,
    matches: Vec<Value>,
    host: &str,
    subset: &str,
    managed: &[String],
) {
    remove_route(spec, name);
    if !matches.is_empty() {
        let dest = canary_destination(spec, vs, host, subset);
        let route = json!({"name": name, "match": matches, "route": [{"destination": dest, "weight": 100}]});
        match spec.get_mut("http").and_then(Value::as_array_mut) {
            Some(http) => http.push(route),
            None => spec["http"] = json!([route]),
        }
    }
    order_routes(spec, managed);
}

/// `createMirrorRoute` after `removeRoute`: the mirror route `name` (no matches: only removed) keeps the
/// current weights for the requests themselves and mirrors `percentage` of them to the canary; put first, then
/// the managed routes ordered.
#[allow(clippy::too_many_arguments)]
pub fn set_mirror_route(
    spec: &mut Value,
    vs: &VirtualServiceRef,
    name: &str,
    matches: Vec<Value>,
    percentage: Option<i64>,
    host: &str,
    subset: &str,
    managed: &[String],
) -> Result<(), String> {
    remove_route(spec, name);
    if !matches.is_empty() {
        let route = weighted_destinations(spec, vs)?;
        let mirror = canary_destination(spec, vs, host, subset);
        let mirror_route = json!({
            "name": name,
            "match": matches,
            "route": route,
            "mirror": mirror,
            "mirrorPercentage": {"value": percentage.unwrap_or(100)},
        });
        match spec.get_mut("http").and_then(Value::as_array_mut) {
            Some(http) => http.insert(0, mirror_route),
            None => return Err("spec.http not found".into()),
        }
    }
    order_routes(spec, managed);
    Ok(())
}

/// `UpdateHash`: the canary and stable subsets select their ReplicaSets' pods (an empty hash removes the
/// label); other subsets stay as they are. Whether anything changed.
pub fn set_subset_hashes(
    dr: &mut Value,
    r: &DestinationRuleRef,
    canary: &str,
    stable: &str,
    rollout: &str,
) -> bool {
    let before = dr.clone();
    if let Some(meta) = dr.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations[MANAGED_BY] = json!(rollout);
    }
    for subset in dr.pointer_mut("/spec/subsets").and_then(Value::as_array_mut).into_iter().flatten() {
        let name = subset.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let hash = if name == r.canary_subset_name {
            canary
        } else if name == r.stable_subset_name {
            stable
        } else {
            continue;
        };
        let labels = subset.as_object_mut().map(|s| s.entry("labels").or_insert_with(|| json!({})));
        let Some(labels) = labels.and_then(Value::as_object_mut) else { continue };
        if hash.is_empty() {
            labels.remove(HASH_LABEL);
        } else {
            labels.insert(HASH_LABEL.into(), json!(hash));
        }
    }
    *dr != before
}

#[cfg(test)]
mod tests;

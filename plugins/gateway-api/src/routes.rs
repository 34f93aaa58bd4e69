//! The `gateway-api` router's edits of HTTPRoutes and GRPCRoutes, without I/O: backendRef weights, header rules
//! and mirror rules. Configured as the argoproj-labs Gateway API plugin is, so its users' Rollouts work
//! unchanged. Managed rules carry the managed route's name (the rule `name` of Gateway API 1.2 and later), which
//! is how they are found again.

use serde::Deserialize;
use serde_json::{Value, json};
use serin_plugin_support::routing::regex_escape;

/// `trafficRouting.plugins["argoproj-labs/gatewayAPI"]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub http_route: Option<String>,
    #[serde(default)]
    pub http_routes: Vec<RouteRef>,
    #[serde(default)]
    pub grpc_route: Option<String>,
    #[serde(default)]
    pub grpc_routes: Vec<RouteRef>,
    /// Where the routes are (default: the Rollout's namespace).
    #[serde(default)]
    pub namespace: Option<String>,
    /// With a single `httpRoute` / `grpcRoute`: header routes go there too (they always do for a single route).
    #[serde(default)]
    pub use_header_routes: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRef {
    pub name: String,
    #[serde(default)]
    pub use_header_routes: bool,
}

/// HTTP or gRPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Grpc,
}

impl Kind {
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Http => "httproutes",
            Kind::Grpc => "grpcroutes",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Http => "HTTPRoute",
            Kind::Grpc => "GRPCRoute",
        }
    }
}

/// One route the Rollout names, and whether header routes go onto it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: Kind,
    pub name: String,
    pub header_routes: bool,
}

impl Config {
    pub fn routes(&self) -> Vec<Route> {
        let mut out = Vec::new();
        for (kind, single, list) in [
            (Kind::Http, &self.http_route, &self.http_routes),
            (Kind::Grpc, &self.grpc_route, &self.grpc_routes),
        ] {
            if let Some(name) = single.as_ref().filter(|n| !n.is_empty()) {
                out.push(Route { kind, name: name.clone(), header_routes: true });
            }
            for r in list {
                out.push(Route { kind, name: r.name.clone(), header_routes: r.use_header_routes });
            }
        }
        out
    }
}

/// The backends a weight goes to.
#[derive(Debug, Clone, Default)]
pub struct Services {
    pub canary: String,
    pub stable: String,
}

fn rule_name(rule: &Value) -> Option<&str> {
    rule.get("name").and_then(Value::as_str)
}

fn backend_name(b: &Value) -> &str {
    b.get("name").and_then(Value::as_str).unwrap_or("")
}

fn rules_mut(spec: &mut Value) -> Option<&mut Vec<Value>> {
    spec.get_mut("rules").and_then(Value::as_array_mut)
}

/// Canary and stable backendRefs get their weights in every rule but the header rules of managed routes (which
/// send everything they match to the canary); the stable gets what the canary and experiments leave.
/// An error when no rule sends traffic to the canary Service.
pub fn set_weights(
    spec: &mut Value,
    s: &Services,
    managed: &[String],
    weight: i64,
    max: i64,
) -> Result<(), String> {
    let stable_weight = (max - weight).max(0);
    let mut found = false;
    for rule in rules_mut(spec).into_iter().flatten() {
        let is_header_rule = rule_name(rule).is_some_and(|n| managed.iter().any(|m| m == n))
            && rule.get("filters").and_then(Value::as_array).is_none_or(|f| {
                !f.iter().any(|f| f.get("type").and_then(Value::as_str) == Some("RequestMirror"))
            });
        if is_header_rule {
            continue;
        }
        for b in rule.get_mut("backendRefs").and_then(Value::as_array_mut).into_iter().flatten() {
            if backend_name(b) == s.canary {
                b["weight"] = json!(weight);
                found = true;
            } else if backend_name(b) == s.stable {
                b["weight"] = json!(stable_weight);
            }
        }
    }
    if found { Ok(()) } else { Err(format!("no rule has a backendRef to the canary Service {}", s.canary)) }
}

/// Removes the rule named `name`.
pub fn remove_rule(spec: &mut Value, name: &str) {
    if let Some(rules) = rules_mut(spec) {
        rules.retain(|r| rule_name(r) != Some(name));
    }
}

/// The first rule sending traffic to both the canary and the stable Service (the one the split is in).
fn split_rule(spec: &Value, s: &Services) -> Result<Value, String> {
    spec.get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| {
            let refs: Vec<&str> = r
                .get("backendRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(backend_name)
                .collect();
            refs.contains(&s.canary.as_str()) && refs.contains(&s.stable.as_str())
        })
        .cloned()
        .ok_or_else(|| format!("no rule has backendRefs to both {} and {}", s.canary, s.stable))
}

/// The canary's backendRef as the split rule names it (its port and kind), without a weight.
fn canary_ref(rule: &Value, s: &Services) -> Value {
    let mut b = rule["backendRefs"]
        .as_array()
        .and_then(|refs| refs.iter().find(|b| backend_name(b) == s.canary))
        .cloned()
        .unwrap_or_else(|| json!({"name": s.canary}));
    if let Some(o) = b.as_object_mut() {
        o.remove("weight");
        o.remove("filters");
    }
    b
}

/// A header match as Gateway API spells it.
pub fn header_match(name: &str, how: &str, value: &str) -> Result<Value, String> {
    let (kind, value) = match how {
        "exact" => ("Exact", value.to_string()),
        "prefix" => ("RegularExpression", format!("{}.*", regex_escape(value))),
        "regex" => ("RegularExpression", value.to_string()),
        other => return Err(format!("unknown match type {other}")),
    };
    Ok(json!({"name": name, "type": kind, "value": value}))
}

/// The header rule `name`: the split rule's matches with these headers, its filters, and the canary as its only
/// backend; no headers removes it.
pub fn set_header_rule(
    spec: &mut Value,
    s: &Services,
    name: &str,
    headers: Vec<Value>,
) -> Result<(), String> {
    remove_rule(spec, name);
    if headers.is_empty() {
        return Ok(());
    }
    let split = split_rule(spec, s)?;
    let original: Vec<Value> = split.get("matches").and_then(Value::as_array).cloned().unwrap_or_default();
    let matches: Vec<Value> = if original.is_empty() {
        vec![json!({"headers": headers})]
    } else {
        original
            .iter()
            .map(|m| {
                let mut m = m.clone();
                m["headers"] = json!(headers);
                m
            })
            .collect()
    };
    let mut rule = json!({"name": name, "matches": matches, "backendRefs": [canary_ref(&split, s)]});
    if let Some(filters) = split.get("filters") {
        rule["filters"] = filters.clone();
    }
    rules_mut(spec).ok_or("the route has no rules")?.push(rule);
    Ok(())
}

/// The mirror rule `name`: requests matching `matches` keep the split rule's backends and weights, and a
/// RequestMirror filter copies `percentage` of them to the canary; no matches removes it.
pub fn set_mirror_rule(
    spec: &mut Value,
    s: &Services,
    name: &str,
    matches: Vec<Value>,
    percentage: Option<i64>,
) -> Result<(), String> {
    remove_rule(spec, name);
    if matches.is_empty() {
        return Ok(());
    }
    let split = split_rule(spec, s)?;
    let mut mirror = json!({"backendRef": canary_ref(&split, s)});
    if let Some(p) = percentage.filter(|p| *p != 100) {
        mirror["percent"] = json!(p);
    }
    let mut filters: Vec<Value> = split.get("filters").and_then(Value::as_array).cloned().unwrap_or_default();
    filters.push(json!({"type": "RequestMirror", "requestMirror": mirror}));
    let rule =
        json!({"name": name, "matches": matches, "filters": filters, "backendRefs": split["backendRefs"]});
    rules_mut(spec).ok_or("the route has no rules")?.push(rule);
    Ok(())
}

/// A mirror route's match as an HTTPRouteMatch: methods match exactly (Gateway API names them), paths and headers
/// exactly, by prefix or by regular expression.
pub fn http_match(
    method: Option<(&str, &str)>,
    path: Option<(&str, &str)>,
    headers: &[(String, &str, &str)],
) -> Result<Value, String> {
    let mut m = serde_json::Map::new();
    if let Some((how, value)) = method {
        if how != "exact" {
            return Err(format!("a Gateway API route matches a method exactly, not by {how}"));
        }
        m.insert("method".into(), json!(value));
    }
    if let Some((how, value)) = path {
        let kind = match how {
            "exact" => "Exact",
            "prefix" => "PathPrefix",
            _ => "RegularExpression",
        };
        m.insert("path".into(), json!({"type": kind, "value": value}));
    }
    if !headers.is_empty() {
        let hs: Result<Vec<Value>, String> =
            headers.iter().map(|(n, how, v)| header_match(n, how, v)).collect();
        m.insert("headers".into(), Value::Array(hs?));
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests;

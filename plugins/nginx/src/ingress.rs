//! The `nginx` router's canary Ingress, without I/O (upstream's `rollout/trafficrouting/nginx`): cloned from
//! the stable Ingress's rules that reach the stable Service, pointed at the canary Service, annotated with the
//! weight; header routes as `canary-by-header` annotations.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use serin_plugin_support::routing;
pub use serin_plugin_support::routing::owned_by;
use serin_plugin_support::routing::regex_escape;
use std::collections::BTreeMap;

/// Upstream's default annotation prefix.
pub const DEFAULT_PREFIX: &str = "nginx.ingress.kubernetes.io";
/// Upstream's canary Ingress name suffix.
pub const CANARY_SUFFIX: &str = "-canary";
/// Marks the annotations a header route set, with the route's name.
pub const HEADER_ROUTE_ANNOTATION: &str = "serin.dev/header-route";

/// `trafficRouting.nginx`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub annotation_prefix: Option<String>,
    #[serde(default)]
    pub stable_ingress: Option<String>,
    #[serde(default)]
    pub stable_ingresses: Option<Vec<String>>,
    #[serde(default)]
    pub additional_ingress_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub canary_ingress_annotations: BTreeMap<String, String>,
}

impl Config {
    pub fn prefix(&self) -> &str {
        self.annotation_prefix.as_deref().filter(|p| !p.is_empty()).unwrap_or(DEFAULT_PREFIX)
    }

    /// `stableIngresses` when set, else `stableIngress`.
    pub fn stable_ingresses(&self) -> Vec<String> {
        match &self.stable_ingresses {
            Some(list) => list.clone(),
            None => self.stable_ingress.iter().cloned().collect(),
        }
    }
}

/// `GetCanaryIngressName`: `<rollout>-<stable ingress>-canary`, trimmed to 253 characters.
pub fn canary_name(rollout: &str, stable_ingress: &str) -> String {
    let mut prefix = format!("{rollout}-{stable_ingress}");
    let max = 253 - CANARY_SUFFIX.len();
    if prefix.len() > max {
        let mut cut = max;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    format!("{prefix}{CANARY_SUFFIX}")
}

/// What the canary Ingress is for.
#[derive(Debug, Clone, Default)]
pub struct Canary {
    pub rollout: String,
    pub rollout_uid: String,
    pub namespace: String,
    pub canary_service: String,
    pub stable_service: String,
    pub weight: i64,
    /// `trafficRouting.maxTrafficWeight`, when set.
    pub max_weight: Option<i64>,
}

/// `buildCanaryIngress`: the canary Ingress for the stable Ingress `stable` (networking.k8s.io/v1).
pub fn desired(cfg: &Config, stable: &Value, c: &Canary) -> Result<Value, String> {
    let stable_name = stable.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let mut rules = Vec::new();
    for rule in stable.pointer("/spec/rules").and_then(Value::as_array).into_iter().flatten() {
        let mut rule = rule.clone();
        let mut uses_stable = false;
        for path in rule.pointer_mut("/http/paths").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(name) = path.pointer_mut("/backend/service/name")
                && name.as_str() == Some(c.stable_service.as_str())
            {
                *name = json!(c.canary_service);
                uses_stable = true;
            }
        }
        if uses_stable {
            rules.push(rule);
        }
    }
    if rules.is_empty() {
        return Err(format!(
            "ingress `{stable_name}` has no rules using service {} backend",
            c.stable_service
        ));
    }
    let mut spec = Map::new();
    spec.insert("rules".into(), Value::Array(rules));
    if let Some(tls) = stable.pointer("/spec/tls") {
        spec.insert("tls".into(), tls.clone());
    }
    if let Some(class) = stable.pointer("/spec/ingressClassName") {
        spec.insert("ingressClassName".into(), class.clone());
    }
    let prefix = cfg.prefix();
    let mut annotations = Map::new();
    if let Some(class) = stable.pointer("/metadata/annotations/kubernetes.io~1ingress.class") {
        annotations.insert("kubernetes.io/ingress.class".into(), class.clone());
    }
    for (k, v) in &cfg.additional_ingress_annotations {
        let k = if k.starts_with(prefix) { k.clone() } else { format!("{prefix}/{k}") };
        annotations.insert(k, json!(v));
    }
    for (k, v) in &cfg.canary_ingress_annotations {
        annotations.insert(k.clone(), json!(v));
    }
    annotations.insert(format!("{prefix}/canary"), json!("true"));
    annotations.insert(format!("{prefix}/canary-weight"), json!(c.weight.to_string()));
    if let Some(total) = c.max_weight {
        annotations.insert(format!("{prefix}/canary-weight-total"), json!(total.to_string()));
    }
    Ok(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": canary_name(&c.rollout, stable_name),
            "namespace": c.namespace,
            "annotations": annotations,
            "ownerReferences": [routing::rollout_owner(&c.rollout, &c.rollout_uid)],
        },
        "spec": spec,
    }))
}

/// `getDesiredAnnotations`: the desired annotations, plus those others (another controller) put on the canary
/// Ingress; while a header route is set, its `canary-by-header` annotations hold over the configuration's.
pub fn merged_annotations(prefix: &str, current: &Value, desired: &Value) -> Value {
    let current =
        current.pointer("/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut out =
        desired.pointer("/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default();
    if current.contains_key(HEADER_ROUTE_ANNOTATION) {
        for k in ["", "-value", "-pattern"] {
            out.remove(&format!("{prefix}/canary-by-header{k}"));
        }
    }
    for (k, v) in current {
        out.entry(k).or_insert(v);
    }
    Value::Object(out)
}

/// The merge patch that turns `current` into `desired` (annotations and spec), if any is needed.
pub fn patch(prefix: &str, current: &Value, desired: &Value) -> Option<Value> {
    let annotations = merged_annotations(prefix, current, desired);
    let same = current.pointer("/metadata/annotations").unwrap_or(&Value::Null) == &annotations
        && current.get("spec") == desired.get("spec");
    if same {
        return None;
    }
    // Spec fields the desired Ingress leaves out are removed (a merge patch's null).
    let mut spec = desired["spec"].as_object().cloned().unwrap_or_default();
    for k in current.get("spec").and_then(Value::as_object).into_iter().flatten().map(|(k, _)| k) {
        spec.entry(k.clone()).or_insert(Value::Null);
    }
    Some(json!({"metadata": {"annotations": annotations}, "spec": spec}))
}

/// How a header's value is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Exact(String),
    Prefix(String),
    Regex(String),
}

/// The annotations (as a merge patch: null removes) that route requests with the header to the canary:
/// `canary-by-header` with `canary-by-header-value` for an exact value, `canary-by-header-pattern` for a
/// prefix or a regular expression. NGINX routes by one header per canary Ingress; no matches removes the route.
pub fn header_route_patch(
    prefix: &str,
    route: &str,
    matches: &[(String, HeaderValue)],
) -> Result<Map<String, Value>, String> {
    let key = |k: &str| format!("{prefix}/canary-by-header{k}");
    let mut out = Map::new();
    for k in ["", "-value", "-pattern"] {
        out.insert(key(k), Value::Null);
    }
    out.insert(HEADER_ROUTE_ANNOTATION.into(), Value::Null);
    match matches {
        [] => {}
        [(name, value)] => {
            out.insert(key(""), json!(name));
            match value {
                HeaderValue::Exact(v) => out.insert(key("-value"), json!(v)),
                HeaderValue::Prefix(p) => out.insert(key("-pattern"), json!(format!("^{}", regex_escape(p)))),
                HeaderValue::Regex(r) => out.insert(key("-pattern"), json!(r)),
            };
            out.insert(HEADER_ROUTE_ANNOTATION.into(), json!(route));
        }
        _ => {
            return Err(format!(
                "header route {route}: NGINX routes to a canary by one header, and {} are given",
                matches.len()
            ));
        }
    }
    Ok(out)
}

/// The patch removing a header route's annotations, when the Ingress has one; the user's own
/// `canary-by-header` annotations (from the configuration) come back with the next weight.
pub fn remove_header_route_patch(prefix: &str, current: &Value) -> Option<Map<String, Value>> {
    let annotations = current.pointer("/metadata/annotations").and_then(Value::as_object)?;
    annotations.get(HEADER_ROUTE_ANNOTATION)?;
    header_route_patch(prefix, "", &[]).ok()
}

#[cfg(test)]
mod tests;

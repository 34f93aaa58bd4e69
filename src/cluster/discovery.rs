//! Discovery documents: `/api`, `/apis`, group and group-version resource lists, `/version`.
//!
//! Only the legacy (unaggregated) format is served; clients asking for aggregated discovery
//! (`as=APIGroupDiscoveryList`) get it anyway and fall back, as kubectl and client-go do.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::registry::{Registry, ResourceType, version_priority};

const VERBS: [&str; 8] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const SUB_VERBS: [&str; 3] = ["get", "patch", "update"];

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-serin",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// Served versions per group (core excluded), preferred first.
fn groups(reg: &Registry) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rt in reg.all().filter(|rt| !rt.group.is_empty()) {
        let vs = out.entry(rt.group.clone()).or_default();
        for v in &rt.versions {
            if !vs.contains(v) {
                vs.push(v.clone());
            }
        }
    }
    for vs in out.values_mut() {
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    out
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": name, "versions": vs, "preferredVersion": preferred})
}

/// `/apis`.
pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = groups(reg).iter().map(|(g, vs)| group_json(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, or None if the group is not served.
pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let gs = groups(reg);
    let vs = gs.get(group)?;
    let mut g = group_json(group, vs);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn resource_json(rt: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS,
    });
    if !rt.short_names.is_empty() {
        main["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        main["categories"] = json!(rt.categories);
    }
    let mut out = vec![main];
    if rt.status {
        out.push(json!({
            "name": format!("{}/status", rt.plural),
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": SUB_VERBS,
        }));
    }
    if rt.scale.is_some() {
        out.push(json!({
            "name": format!("{}/scale", rt.plural),
            "singularName": "",
            "namespaced": rt.namespaced,
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": SUB_VERBS,
        }));
    }
    if rt.group.is_empty() && rt.plural == "pods" {
        out.push(json!({
            "name": "pods/eviction",
            "singularName": "",
            "namespaced": true,
            "group": "policy",
            "version": "v1",
            "kind": "Eviction",
            "verbs": ["create"],
        }));
    }
    out
}

/// `/api/v1` or `/apis/<group>/<version>`, or None if not served.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<_> =
        reg.all().filter(|rt| rt.group == group && rt.versions.iter().any(|v| v == version)).collect();
    if types.is_empty() {
        return None;
    }
    let resources: Vec<Value> = types.iter().flat_map(|rt| resource_json(rt)).collect();
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_includes_subresources() {
        let reg = Registry::default();
        let l = resource_list(&reg, "", "v1").expect("core served");
        let names: Vec<&str> =
            l["resources"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str()).collect();
        assert!(names.contains(&"pods") && names.contains(&"pods/status") && names.contains(&"configmaps"));
        let apps = resource_list(&reg, "apps", "v1").expect("apps served");
        let scale =
            apps["resources"].as_array().into_iter().flatten().find(|r| r["name"] == "replicasets/scale");
        assert_eq!(scale.map(|s| s["kind"].clone()), Some(json!("Scale")));
        assert!(resource_list(&reg, "apps", "v2").is_none());
    }
}

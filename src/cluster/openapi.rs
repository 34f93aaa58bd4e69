//! OpenAPI v3 documents, as kubectl reads them: `/openapi/v3` lists one document per group-version, and each
//! document has the resources' paths (whose PATCH declares the `fieldValidation` parameter, which is how
//! `kubectl apply` learns it may validate on the server) and the kinds' schemas (a custom resource's is its
//! CRD's `openAPIV3Schema`, which `kubectl explain` shows; a built-in kind's is a bare object).

use serde_json::{Map, Value, json};

use super::registry::{Registry, ResourceType};

/// `/openapi/v3`: every group-version's document, with a hash of its content for clients' caches.
pub fn root(reg: &Registry, schema_of: &dyn Fn(&ResourceType, &str) -> Option<Value>) -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions(reg) {
        let doc = document(reg, &group, &version, schema_of).unwrap_or(Value::Null);
        let key = gv_path(&group, &version);
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", hash(&doc))}),
        );
    }
    json!({"paths": paths})
}

/// `api/v1` or `apis/GROUP/VERSION`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

fn group_versions(reg: &Registry) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for rt in reg.all() {
        for v in &rt.versions {
            let gv = (rt.group.clone(), v.clone());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
    }
    out.sort();
    out
}

/// The document of one group-version, or `None` when nothing is served there.
pub fn document(
    reg: &Registry,
    group: &str,
    version: &str,
    schema_of: &dyn Fn(&ResourceType, &str) -> Option<Value>,
) -> Option<Value> {
    let types: Vec<_> =
        reg.all().filter(|rt| rt.group == group && rt.versions.iter().any(|v| v == version)).collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in types {
        let gvk = json!({"group": group, "version": version, "kind": rt.kind});
        let prefix = format!("/{}", gv_path(group, version));
        let collection = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{prefix}/{}", rt.plural)
        };
        let op = |verb: &str, write: bool| {
            let mut parameters = vec![json!({"name": "dryRun", "in": "query", "schema": {"type": "string"}})];
            if write {
                parameters.push(json!({"name": "fieldManager", "in": "query", "schema": {"type": "string"}}));
                parameters
                    .push(json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}));
            }
            json!({
                "operationId": format!("{verb}{}", rt.kind),
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        paths.insert(collection.clone(), json!({"get": op("list", false), "post": op("post", true)}));
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"get": op("get", false), "put": op("put", true), "patch": op("patch", true), "delete": op("delete", false)}),
        );
        let mut schema = schema_of(rt, version).unwrap_or_else(|| json!({"type": "object"}));
        if let Some(m) = schema.as_object_mut() {
            m.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
        }
        schemas.insert(schema_name(group, version, &rt.kind), schema);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-serin"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// Kubernetes' names: `io.k8s.api.core.v1.Pod`, `io.k8s.api.apps.v1.Deployment`, `io.argoproj.v1alpha1.Rollout`.
fn schema_name(group: &str, version: &str, kind: &str) -> String {
    let prefix = match group {
        "" => "io.k8s.api.core".to_string(),
        g if !g.contains('.') => format!("io.k8s.api.{g}"),
        g => g.rsplit('.').collect::<Vec<_>>().join("."),
    };
    format!("{prefix}.{version}.{kind}")
}

/// FNV-1a of the document's JSON, in hex: changes whenever the document does.
fn hash(doc: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in doc.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_paths_with_field_validation_and_schemas_with_their_kinds() {
        let reg = Registry::default();
        let none = |_: &ResourceType, _: &str| None;
        let root = root(&reg, &none);
        let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().expect("apps/v1");
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
        assert!(root["paths"]["api/v1"].is_object());
        let doc = document(&reg, "apps", "v1", &none).expect("apps/v1");
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(
            patch["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        let schema = &doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(schema["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
        assert_eq!(schema_name("argoproj.io", "v1alpha1", "Rollout"), "io.argoproj.v1alpha1.Rollout");
        assert!(document(&reg, "nothing.example.com", "v1", &none).is_none());
    }
}

//! OpenAPI documents, as kubectl reads them: `/openapi/v3` lists one document per group-version, and each
//! document has the resources' paths (whose PATCH declares the `fieldValidation` parameter, which is how
//! `kubectl apply` learns it may validate on the server) and the kinds' schemas, which `kubectl explain` shows:
//! a built-in kind's from k8s-openapi (with everything it refers to), a custom resource's its CRD's
//! `openAPIV3Schema` with the standard `apiVersion`, `kind` and `metadata` (ObjectMeta) added, as the real
//! server publishes it. `/openapi/v2` is all of them in one Swagger 2.0 document.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use k8s_openapi::api::{apps, batch, coordination, core, events, networking};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use super::registry::{Registry, ResourceType};

/// Adds a built-in kind's schema and those it refers to; its definition's name, or `None` when it is not one.
fn builtin_schema(generator: &mut SchemaGenerator, group: &str, kind: &str) -> Option<String> {
    fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> Option<String> {
        generator.subschema_for::<T>();
        Some(T::schema_name().into_owned())
    }
    match (group, kind) {
        ("", "Namespace") => add::<core::v1::Namespace>(generator),
        ("", "Pod") => add::<core::v1::Pod>(generator),
        ("", "PodTemplate") => add::<core::v1::PodTemplate>(generator),
        ("", "Service") => add::<core::v1::Service>(generator),
        ("", "ConfigMap") => add::<core::v1::ConfigMap>(generator),
        ("", "Secret") => add::<core::v1::Secret>(generator),
        ("", "Event") => add::<core::v1::Event>(generator),
        ("", "ServiceAccount") => add::<core::v1::ServiceAccount>(generator),
        ("", "Node") => add::<core::v1::Node>(generator),
        ("apps", "ReplicaSet") => add::<apps::v1::ReplicaSet>(generator),
        ("apps", "Deployment") => add::<apps::v1::Deployment>(generator),
        ("batch", "Job") => add::<batch::v1::Job>(generator),
        ("networking.k8s.io", "Ingress") => add::<networking::v1::Ingress>(generator),
        ("coordination.k8s.io", "Lease") => add::<coordination::v1::Lease>(generator),
        ("events.k8s.io", "Event") => add::<events::v1::Event>(generator),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            add::<apiextensions::CustomResourceDefinition>(generator)
        }
        _ => None,
    }
}

/// The built-in kinds' schemas of one group-version, generated once: (kind → definition name, definitions).
type Builtins = Arc<(HashMap<String, String>, Map<String, Value>)>;

fn builtins(group: &str, version: &str, kinds: &[&str]) -> Builtins {
    static CACHE: LazyLock<Mutex<HashMap<String, Builtins>>> = LazyLock::new(Default::default);
    let key = format!("{group}/{version}/{}", kinds.join(","));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(key)
        .or_insert_with(|| {
            let mut generator = SchemaSettings::openapi3().into_generator();
            let names = kinds
                .iter()
                .filter_map(|k| builtin_schema(&mut generator, group, k).map(|n| (k.to_string(), n)))
                .collect();
            Arc::new((names, generator.take_definitions(true)))
        })
        .clone()
}

/// A custom resource's schema as the real server publishes it: `apiVersion`, `kind` and `metadata` are the
/// standard ones, whatever the CRD says of them.
fn custom_schema(mut schema: Value, generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<ObjectMeta>();
    if let Some(m) = schema.as_object_mut() {
        let properties = m.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = properties.as_object_mut() {
            p.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}));
            p.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}));
            p.insert("metadata".into(), json!({
                "allOf": [{"$ref": format!("#/components/schemas/{}", ObjectMeta::schema_name())}],
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            }));
        }
    }
    schema
}

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

/// `/openapi/v2`: every group-version's paths and definitions in one Swagger 2.0 document (JSON only; clients
/// that ask for its protobuf form are told it is not acceptable).
pub fn v2(reg: &Registry, schema_of: &dyn Fn(&ResourceType, &str) -> Option<Value>) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for (group, version) in group_versions(reg) {
        let Some(doc) = document(reg, &group, &version, schema_of) else { continue };
        if let Some(p) = doc["paths"].as_object() {
            paths.extend(p.clone());
        }
        if let Some(d) = doc["components"]["schemas"].as_object() {
            definitions.extend(d.clone());
        }
    }
    let mut doc = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-serin"},
        "paths": paths,
        "definitions": definitions,
    });
    rewrite_refs(&mut doc);
    doc
}

/// Points OpenAPI v3 references (`#/components/schemas/X`) at Swagger 2.0's definitions (`#/definitions/X`).
fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(r) if k == "$ref" => {
                        if let Some(name) = r.strip_prefix("#/components/schemas/") {
                            *r = format!("#/definitions/{name}");
                        }
                    }
                    _ => rewrite_refs(x),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
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
    let kinds: Vec<&str> = types.iter().filter(|rt| !rt.custom).map(|rt| rt.kind.as_str()).collect();
    let builtins = builtins(group, version, &kinds);
    for (k, v) in &builtins.1 {
        schemas.insert(k.clone(), v.clone());
    }
    let mut generator = SchemaSettings::openapi3().into_generator();
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
        let name = builtins.0.get(&rt.kind).cloned().unwrap_or_else(|| schema_name(group, version, &rt.kind));
        let mut schema = match schemas.remove(&name) {
            Some(s) if !rt.custom => s,
            _ => match schema_of(rt, version) {
                Some(s) => custom_schema(s, &mut generator),
                None => json!({"type": "object"}),
            },
        };
        if let Some(m) = schema.as_object_mut() {
            m.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
        }
        schemas.insert(name, schema);
    }
    for (k, v) in generator.take_definitions(true) {
        schemas.entry(k).or_insert(v);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-serin"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// A custom resource's definition name, as Kubernetes names them: `io.argoproj.v1alpha1.Rollout`.
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

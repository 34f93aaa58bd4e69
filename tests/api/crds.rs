//! The generated CRDs: checked in, structural, named and shaped like upstream's.

use std::path::Path;
use std::sync::OnceLock;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use serin::api::crds::{self, CHECKED_IN_DIR, REGENERATE_COMMAND};

/// Building the CRDs takes seconds in a debug build; build them once per test binary.
fn all() -> &'static [CustomResourceDefinition] {
    static CRDS: OnceLock<Vec<CustomResourceDefinition>> = OnceLock::new();
    CRDS.get_or_init(crds::crds)
}

/// The rendered files, once per test binary.
fn files() -> &'static [(String, String)] {
    static FILES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    FILES.get_or_init(|| crds::render_files().expect("CRDs render"))
}

fn crd(kind: &str) -> CustomResourceDefinition {
    all().iter().find(|c| c.spec.names.kind == kind).cloned().unwrap_or_else(|| panic!("no CRD for {kind}"))
}

#[test]
fn checked_in_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKED_IN_DIR);
    let files = files();
    for (name, rendered) in files {
        let path = dir.join(name);
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == *rendered,
            "{CHECKED_IN_DIR}/{name} is out of date with the API types; regenerate it with `{REGENERATE_COMMAND}`"
        );
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("manifests/crds exists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "stale files in {CHECKED_IN_DIR}; regenerate with `{REGENERATE_COMMAND}`");
}

#[test]
fn rendering_is_byte_stable_and_reads_back_as_the_same_crds() {
    let first = crds::render_all().expect("renders");
    let joined: String = files().iter().map(|(_, yaml)| format!("---\n{yaml}")).collect();
    assert_eq!(first, joined, "stdout rendering and file rendering agree, and rendering is repeatable");
    let docs: Vec<CustomResourceDefinition> =
        serde_saphyr::from_multiple(&first).expect("rendered YAML parses");
    let reparsed: Vec<Value> = docs.iter().map(|d| serde_json::to_value(d).expect("json")).collect();
    let built: Vec<Value> = all().iter().map(|d| serde_json::to_value(d).expect("json")).collect();
    assert_eq!(reparsed, built);
}

#[test]
fn names_scopes_columns_and_subresources_are_upstreams() {
    struct Want {
        kind: &'static str,
        plural: &'static str,
        short: &'static str,
        scope: &'static str,
        columns: &'static [&'static str],
        status_subresource: bool,
    }
    let wants = [
        Want {
            kind: "Rollout",
            plural: "rollouts",
            short: "ro",
            scope: "Namespaced",
            columns: &["Desired", "Current", "Up-to-date", "Available", "Age"],
            status_subresource: true,
        },
        Want {
            kind: "AnalysisTemplate",
            plural: "analysistemplates",
            short: "at",
            scope: "Namespaced",
            columns: &["Age"],
            status_subresource: false,
        },
        Want {
            kind: "ClusterAnalysisTemplate",
            plural: "clusteranalysistemplates",
            short: "cat",
            scope: "Cluster",
            columns: &["Age"],
            status_subresource: false,
        },
        Want {
            kind: "AnalysisRun",
            plural: "analysisruns",
            short: "ar",
            scope: "Namespaced",
            columns: &["Status", "Age"],
            status_subresource: false,
        },
        Want {
            kind: "Experiment",
            plural: "experiments",
            short: "exp",
            scope: "Namespaced",
            columns: &["Status", "Age"],
            status_subresource: false,
        },
    ];
    for want in wants {
        let c = crd(want.kind);
        assert_eq!(c.metadata.name.as_deref(), Some(format!("{}.argoproj.io", want.plural).as_str()));
        assert_eq!(c.spec.group, "argoproj.io");
        assert_eq!(c.spec.names.plural, want.plural);
        assert_eq!(c.spec.names.short_names, Some(vec![want.short.to_owned()]), "{}", want.kind);
        assert_eq!(c.spec.scope, want.scope, "{}", want.kind);
        let version = &c.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.served && version.storage);
        let columns: Vec<&str> =
            version.additional_printer_columns.iter().flatten().map(|c| c.name.as_str()).collect();
        assert_eq!(columns, want.columns, "{}", want.kind);
        let has_status = version.subresources.as_ref().is_some_and(|s| s.status.is_some());
        assert_eq!(has_status, want.status_subresource, "{}", want.kind);
    }
    let rollout = crd("Rollout");
    let scale = rollout.spec.versions[0].subresources.as_ref().and_then(|s| s.scale.as_ref()).expect("scale");
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(scale.status_replicas_path, ".status.HPAReplicas");
    assert_eq!(scale.label_selector_path.as_deref(), Some(".status.selector"));
}

/// Kubernetes' structural-schema rules, as the API server checks them on CRD creation.
fn structural_violations(node: &Value, path: &str, out: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        out.push(format!("{path}: schema is not an object"));
        return;
    };
    let int_or_string = map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if map.get("type").is_none() && !int_or_string && !preserve {
        out.push(format!("{path}: no type"));
    }
    if int_or_string && map.get("type").is_some() {
        out.push(format!("{path}: int-or-string with a type"));
    }
    for forbidden in ["$ref", "oneOf", "allOf", "not", "definitions", "$schema"] {
        if map.contains_key(forbidden) {
            out.push(format!("{path}: uses {forbidden}"));
        }
    }
    if map.contains_key("anyOf") && !int_or_string {
        out.push(format!("{path}: anyOf outside int-or-string"));
    }
    if map.contains_key("properties") && map.contains_key("additionalProperties") {
        out.push(format!("{path}: both properties and additionalProperties"));
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        for (k, v) in props {
            structural_violations(v, &format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = map.get("items") {
        structural_violations(items, &format!("{path}[]"), out);
    }
    if let Some(additional @ Value::Object(_)) = map.get("additionalProperties") {
        structural_violations(additional, &format!("{path}{{}}"), out);
    }
}

#[test]
fn every_crd_schema_is_structural_and_free_form_json_is_preserved() {
    for crd in all() {
        let schema =
            crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()).expect("schema");
        let value = serde_json::to_value(schema).expect("json");
        let mut violations = Vec::new();
        structural_violations(&value, "", &mut violations);
        assert!(violations.is_empty(), "{}: {violations:#?}", crd.spec.names.kind);
        assert!(value.get("description").is_some(), "root keeps its description");
        let text = serde_json::to_string(&value).expect("json");
        assert_eq!(
            text.matches("\"description\"").count(),
            1,
            "{}: only the root is described",
            crd.spec.names.kind
        );
        let compact = serde_json::to_string(crd).expect("json").len();
        assert!(
            compact < 256 * 1024,
            "{} CRD is {compact} bytes, too big for client-side apply",
            crd.spec.names.kind
        );
    }
    let rollout = serde_json::to_value(crd("Rollout")).expect("json");
    let spec =
        &rollout["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    let canary = &spec["strategy"]["properties"]["canary"]["properties"];
    assert_eq!(canary["maxSurge"]["x-kubernetes-int-or-string"], true);
    assert_eq!(
        canary["trafficRouting"]["properties"]["plugins"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert_eq!(
        canary["steps"]["items"]["properties"]["plugin"]["properties"]["config"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert_eq!(
        canary["steps"]["items"]["properties"]["pause"]["properties"]["duration"]["x-kubernetes-int-or-string"],
        true
    );
    assert_eq!(
        spec["template"]["properties"]["spec"]["properties"]["volumes"]["items"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    let spec_schema = &rollout["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert!(
        spec_schema.get("required").is_none(),
        "no Rollout spec field is required (workloadRef may replace template)"
    );
}

#[test]
fn crd_file_names_follow_upstream() {
    let names: Vec<String> = all().iter().map(crds::file_name).collect();
    assert_eq!(
        names,
        [
            "analysis-run-crd.yaml",
            "analysis-template-crd.yaml",
            "cluster-analysis-template-crd.yaml",
            "experiment-crd.yaml",
            "rollout-crd.yaml"
        ]
    );
}

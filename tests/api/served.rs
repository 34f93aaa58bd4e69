//! serin's CRDs as API servers serve them, on both substrates: upstream's manifests apply with strict
//! server-side field validation and read back with nothing pruned, and a status holding every field of the
//! schema survives a write and a read.

use crate::e2e::substrate::Substrate;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Map, Value, json};
use serin::api::decode::{self, Classification, parse_stream};

use super::support::{corpus_root, plain_manifests, read_manifest};

/// The API resource of one of serin's kinds.
fn resource(kind: &str) -> (ApiResource, bool) {
    let plural = match kind {
        "Rollout" => "rollouts",
        "AnalysisTemplate" => "analysistemplates",
        "ClusterAnalysisTemplate" => "clusteranalysistemplates",
        "AnalysisRun" => "analysisruns",
        "Experiment" => "experiments",
        other => panic!("not one of serin's kinds: {other}"),
    };
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind);
    (ApiResource::from_gvk_with_plural(&gvk, plural), kind != "ClusterAnalysisTemplate")
}

fn api(s: &Substrate, kind: &str) -> Api<DynamicObject> {
    let (ar, namespaced) = resource(kind);
    if namespaced {
        Api::namespaced_with(s.client.clone(), &s.namespace, &ar)
    } else {
        Api::all_with(s.client.clone(), &ar)
    }
}

/// Paths present in `sent` but absent or different in `stored` (what the server pruned or changed).
fn lost(sent: &Value, stored: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, stored) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => lost(v, w, &p, out),
                    None => out.push(format!("{p} pruned")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                lost(v, w, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: sent {a}, stored {b}")),
    }
}

on_both_substrates! {
    async fn upstream_examples_apply_with_strict_validation_and_nothing_is_pruned(s: &Substrate) {
        let root = corpus_root();
        let mut applied = 0;
        let mut problems = Vec::new();
        // examples/ and test/e2e/ (placeholders substituted as upstream's e2e suite does).
        for rel in plain_manifests(&root) {
            let (text, _) = read_manifest(&root, &rel);
            for doc in parse_stream(&text) {
                let Ok(mut value) = doc.value else { continue };
                let Classification::Served(kind) = decode::classify(&value) else { continue };
                let kind = kind.as_str();
                let (_, namespaced) = resource(kind);
                if namespaced {
                    value["metadata"]["namespace"] = json!(s.namespace);
                }
                if value["metadata"]["name"].is_null() {
                    // A few of upstream's e2e objects are created with generateName; apply needs a name.
                    let prefix = value["metadata"]["generateName"].as_str().expect("named or generateName");
                    value["metadata"]["name"] = json!(format!("{prefix}applied"));
                }
                let name = value["metadata"]["name"].as_str().expect("name").to_string();
                let api = api(s, kind);
                let params = PatchParams::apply("serin-tests").force().validation_strict();
                if let Err(e) = api.patch(&name, &params, &Patch::Apply(&value)).await {
                    problems.push(format!("{rel}:{}: {kind}/{name} refused: {e}", doc.index));
                    continue;
                }
                let stored = serde_json::to_value(api.get(&name).await.expect("read back")).expect("json");
                let mut diffs = Vec::new();
                for key in ["spec", "status"] {
                    if let Some(sent) = value.get(key) {
                        lost(sent, &stored[key], key, &mut diffs);
                    }
                }
                for d in diffs {
                    problems.push(format!("{rel}:{}: {kind}/{name}: {d}", doc.index));
                }
                if !namespaced {
                    let _ = api.delete(&name, &Default::default()).await;
                }
                applied += 1;
            }
        }
        println!("{}: {applied} upstream example objects applied and read back", s.kind.name());
        assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
        assert!(applied > 100, "the corpus holds over a hundred objects of serin's kinds, applied {applied}");
    }
}

/// A value for `schema` that fills every property it declares (one item per array, one entry per map), so a
/// round trip through a server exercises the whole schema.
fn every_field(schema: &Value) -> Value {
    if schema.get("x-kubernetes-int-or-string") == Some(&json!(true)) {
        return json!(7);
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2026-01-02T03:04:05Z"),
            _ => json!("text"),
        },
        Some("integer") => json!(3),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("array") => json!([every_field(schema.get("items").unwrap_or(&json!({})))]),
        _ => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    out.insert(k.clone(), every_field(v));
                }
            } else if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                out.insert("key".into(), every_field(values));
            } else if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
                out.insert("free".into(), json!({"form": [1, "two"]}));
            }
            Value::Object(out)
        }
    }
}

fn status_schema(kind: &str) -> Value {
    let crd = serin::api::crds::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("serin serves the kind");
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema");
    schema["openAPIV3Schema"]["properties"]["status"].clone()
}

fn leaves(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.values().map(leaves).sum(),
        Value::Array(a) => a.iter().map(leaves).sum(),
        _ => 1,
    }
}

on_both_substrates! {
    async fn a_status_with_every_field_survives_a_round_trip(s: &Substrate) {
        use serin::api::{AnalysisRun, Experiment, Rollout};
        let rollout = serde_json::to_value(Rollout::canary_fixture("full-status")).expect("json");
        let run = serde_json::to_value(AnalysisRun::fixture("full-status")).expect("json");
        let experiment = serde_json::to_value(Experiment::fixture("full-status")).expect("json");
        for (kind, mut object) in [("Rollout", rollout), ("AnalysisRun", run), ("Experiment", experiment)] {
            let status = every_field(&status_schema(kind));
            // serin's own types read and write every field of it.
            let typed = match kind {
                "Rollout" => serde_json::to_value(
                    serde_json::from_value::<serin::api::rollout::RolloutStatus>(status.clone()).expect("decodes"),
                ),
                "AnalysisRun" => serde_json::to_value(
                    serde_json::from_value::<serin::api::analysis::AnalysisRunStatus>(status.clone())
                        .expect("decodes"),
                ),
                _ => serde_json::to_value(
                    serde_json::from_value::<serin::api::experiment::ExperimentStatus>(status.clone())
                        .expect("decodes"),
                ),
            }
            .expect("encodes");
            let mut diffs = Vec::new();
            lost(&status, &typed, "status", &mut diffs);
            assert!(diffs.is_empty(), "{kind}: serin's status type loses fields: {diffs:#?}");

            let api = api(s, kind);
            object["metadata"]["namespace"] = json!(s.namespace);
            let obj: DynamicObject = serde_json::from_value(object).expect("object");
            let created = api.create(&PostParams::default(), &obj).await.expect("create");
            let mut with_status = serde_json::to_value(&created).expect("json");
            with_status["status"] = status.clone();
            let with_status: DynamicObject = serde_json::from_value(with_status).expect("object");
            let name = created.metadata.name.clone().expect("name");
            // Rollout has a status subresource; AnalysisRun and Experiment keep status in the main resource,
            // as upstream's CRDs do.
            if kind == "Rollout" {
                api.replace_status(&name, &PostParams::default(), &with_status).await
            } else {
                api.replace(&name, &PostParams::default(), &with_status).await
            }
            .unwrap_or_else(|e| panic!("{kind}: writing the full status: {e}"));
            let stored = serde_json::to_value(api.get(&name).await.expect("read")).expect("json");
            let mut diffs = Vec::new();
            lost(&status, &stored["status"], "status", &mut diffs);
            println!("{}: {kind} status with {} fields written and read back", s.kind.name(), leaves(&status));
            assert!(diffs.is_empty(), "{kind}: the server lost status fields: {diffs:#?}");
        }
    }
}

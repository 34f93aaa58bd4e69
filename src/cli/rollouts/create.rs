//! `create -f FILE` and `create analysisrun --from|--from-file TEMPLATE`: what upstream's `create` command builds,
//! as pure functions over JSON objects (the I/O is in the parent module).

use crate::api::decode::{self, Classification, Difference, Kind};
use serde_json::{Value, json};

/// The object in a file, decoded strictly as upstream decodes it (unknown fields are an error), with its kind.
/// Like upstream, a file holds one object; JSON and YAML are both read.
pub fn object_from_file(text: &str) -> Result<(Kind, Value), String> {
    let doc = decode::parse_stream(text).into_iter().next().ok_or("the file holds no object")?;
    let value = doc.value?;
    let kind = match decode::classify(&value) {
        Classification::Served(kind) => kind,
        Classification::WrongVersion(kind, api_version) => {
            return Err(format!("creates of {api_version}/{} unsupported", kind.as_str()));
        }
        Classification::Other { api_version, kind } => {
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            return Err(format!("creates of {group}/{kind} unsupported"));
        }
    };
    strict(kind, &value)?;
    Ok((kind, value))
}

/// Upstream decodes with `DisallowUnknownFields`; serin names where the unknown field is, too.
fn strict(kind: Kind, value: &Value) -> Result<(), String> {
    let object = decode::decode_object(kind, value).map_err(|e| e.to_string())?;
    let encoded = object.to_value().map_err(|e| e.to_string())?;
    for d in decode::diff(value, &encoded) {
        if let Difference::Unknown { path, field } = d {
            return Err(format!(
                "error unmarshaling JSON: while decoding JSON: json: unknown field {field:?} (at {path})"
            ));
        }
    }
    Ok(())
}

/// What `created` prints: `rollout.argoproj.io/NAME created`.
pub fn created_line(kind: Kind, name: &str) -> String {
    format!("{}.argoproj.io/{name} created", kind.as_str().to_ascii_lowercase())
}

/// `NAME=VALUE` flags, as upstream's `ParseArgFlags` reads them.
pub fn parse_arguments(flags: &[String]) -> Result<Vec<(String, String)>, String> {
    flags
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .ok_or_else(|| "arguments must be in the form NAME=VALUE".to_string())
        })
        .collect()
}

/// How `create analysisrun` names the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunNaming {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub instance_id: Option<String>,
}

/// An AnalysisRun from an AnalysisTemplate or ClusterAnalysisTemplate object, as upstream's
/// `NewAnalysisRunFromUnstructured` makes it: the template's spec as it is (references included, resolved by the
/// controller), its arguments merged with `args` (a given value replaces the template's; arguments the template
/// does not declare are dropped, unless it declares none) and all resolved, named `--name`, else
/// `--generate-name`, else `TEMPLATE-`. Unlike upstream, fields the server sets (uid, resourceVersion,
/// creationTimestamp, generation, managedFields) and any status are not copied from a template read back from
/// the cluster.
pub fn analysis_run(
    template: &Value,
    args: &[(String, String)],
    naming: &RunNaming,
    namespace: &str,
) -> Result<Value, String> {
    let template_name = template.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let (name, generate_name) = match (&naming.name, &naming.generate_name) {
        (Some(n), _) if !n.is_empty() => (n.clone(), String::new()),
        (_, Some(g)) if !g.is_empty() => (String::new(), g.clone()),
        _ => (String::new(), format!("{template_name}-")),
    };
    if name.is_empty() && generate_name == "-" {
        return Err("name is invalid".into());
    }
    let given: Vec<Value> = args.iter().map(|(n, v)| json!({"name": n, "value": v})).collect();
    let merged = match template.pointer("/spec/args").and_then(Value::as_array) {
        None => given,
        Some(declared) => {
            let mut merged = declared.clone();
            for (n, v) in args {
                if let Some(arg) =
                    merged.iter_mut().find(|a| a.get("name").and_then(Value::as_str) == Some(n))
                {
                    arg["value"] = json!(v);
                }
            }
            for arg in &merged {
                let resolved = arg.get("value").is_some_and(|v| !v.is_null())
                    || arg.get("valueFrom").is_some_and(|v| !v.is_null());
                if !resolved {
                    let n = arg.get("name").and_then(Value::as_str).unwrap_or("");
                    return Err(format!("args.{n} was not resolved"));
                }
            }
            merged
        }
    };

    let mut run = template.clone();
    let Some(object) = run.as_object_mut() else { return Err("the template is not an object".into()) };
    object.insert("kind".into(), json!("AnalysisRun"));
    object.remove("status");
    let metadata = object.entry("metadata").or_insert_with(|| json!({}));
    if !metadata.is_object() {
        *metadata = json!({});
    }
    let meta = metadata.as_object_mut().expect("an object");
    for server_set in ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"] {
        meta.remove(server_set);
    }
    meta.insert("name".into(), json!(name));
    meta.insert("generateName".into(), json!(generate_name));
    meta.insert("namespace".into(), json!(namespace));
    if let Some(id) = naming.instance_id.as_deref().filter(|i| !i.is_empty()) {
        // As upstream, the instance id's label replaces the template's labels.
        meta.insert("labels".into(), json!({"argo-rollouts.argoproj.io/controller-instance-id": id}));
    }
    if !merged.is_empty() {
        let spec = object.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("args".into(), Value::Array(merged));
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": {"name": "pass", "namespace": "other", "uid": "u1", "resourceVersion": "7",
                         "labels": {"team": "a"}},
            "spec": {
                "args": [{"name": "foo"}, {"name": "bar", "value": "b"}],
                "metrics": [{"name": "m", "provider": {"job": {}}}]
            },
            "status": {"x": 1}
        })
    }

    fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// Upstream's `create analysisrun` cases (create_test.go) and the merge rules of `MergeArgs`.
    #[test]
    fn analysis_runs_are_made_as_upstream_makes_them() {
        let t = template();
        let naming = RunNaming::default();
        assert_eq!(analysis_run(&t, &[], &naming, "ns").unwrap_err(), "args.foo was not resolved");
        let run = analysis_run(&t, &args(&[("foo", "bar"), ("extra", "x")]), &naming, "ns").expect("run");
        assert_eq!(run["kind"], "AnalysisRun");
        assert_eq!(run["metadata"]["name"], "");
        assert_eq!(run["metadata"]["generateName"], "pass-");
        assert_eq!(run["metadata"]["namespace"], "ns");
        assert_eq!(run["metadata"]["labels"], json!({"team": "a"}));
        assert!(run["metadata"].get("uid").is_none() && run["metadata"].get("resourceVersion").is_none());
        assert!(run.get("status").is_none());
        // Given values replace the template's; arguments it does not declare are dropped.
        assert_eq!(
            run["spec"]["args"],
            json!([{"name": "foo", "value": "bar"}, {"name": "bar", "value": "b"}])
        );
        assert_eq!(run["spec"]["metrics"], t["spec"]["metrics"]);

        let named = RunNaming { name: Some("my-run".into()), ..RunNaming::default() };
        let run = analysis_run(&t, &args(&[("foo", "1")]), &named, "ns").expect("run");
        assert_eq!(
            (run["metadata"]["name"].as_str(), run["metadata"]["generateName"].as_str()),
            (Some("my-run"), Some(""))
        );
        let generated = RunNaming { generate_name: Some("gen-".into()), ..RunNaming::default() };
        let run = analysis_run(&t, &args(&[("foo", "1")]), &generated, "ns").expect("run");
        assert_eq!(run["metadata"]["generateName"], "gen-");
        let with_id =
            RunNaming { name: Some("r".into()), instance_id: Some("test".into()), ..RunNaming::default() };
        let run = analysis_run(&t, &args(&[("foo", "1")]), &with_id, "ns").expect("run");
        assert_eq!(
            run["metadata"]["labels"],
            json!({"argo-rollouts.argoproj.io/controller-instance-id": "test"})
        );

        // A template without a name and no name given: upstream's "name is invalid".
        let mut nameless = template();
        nameless["metadata"].as_object_mut().expect("metadata").remove("name");
        assert_eq!(
            analysis_run(&nameless, &args(&[("foo", "1")]), &naming, "ns").unwrap_err(),
            "name is invalid"
        );
        // A template that declares no arguments takes the given ones as they are.
        let mut plain = template();
        plain["spec"].as_object_mut().expect("spec").remove("args");
        let run = analysis_run(&plain, &args(&[("x", "1")]), &naming, "ns").expect("run");
        assert_eq!(run["spec"]["args"], json!([{"name": "x", "value": "1"}]));
        let run = analysis_run(&plain, &[], &naming, "ns").expect("run");
        assert!(run["spec"].get("args").is_none());
    }

    #[test]
    fn arguments_and_files_are_read_as_upstream_reads_them() {
        assert_eq!(parse_arguments(&["a=b=c".into()]).expect("ok"), args(&[("a", "b=c")]));
        assert_eq!(
            parse_arguments(&["bad-syntax".into()]).unwrap_err(),
            "arguments must be in the form NAME=VALUE"
        );

        let (kind, value) = object_from_file(
            "{\"apiVersion\": \"argoproj.io/v1alpha1\", \"kind\": \"AnalysisTemplate\", \"metadata\": {\"name\": \"t\"}, \"spec\": {\"metrics\": [{\"name\": \"m\", \"provider\": {\"web\": {\"url\": \"http://x\"}}}]}}",
        )
        .expect("JSON is read");
        assert_eq!((kind, value["metadata"]["name"].as_str()), (Kind::AnalysisTemplate, Some("t")));
        let unknown = "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: m\n    intervall: 5m\n    provider: {web: {url: 'http://x'}}\n";
        assert_eq!(
            object_from_file(unknown).unwrap_err(),
            "error unmarshaling JSON: while decoding JSON: json: unknown field \"intervall\" (at spec.metrics[0].intervall)"
        );
        assert_eq!(
            object_from_file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n").unwrap_err(),
            "creates of /ConfigMap unsupported"
        );
        assert_eq!(object_from_file("").unwrap_err(), "the file holds no object");
        assert_eq!(
            created_line(Kind::ClusterAnalysisTemplate, "t"),
            "clusteranalysistemplate.argoproj.io/t created"
        );
    }
}

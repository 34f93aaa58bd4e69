//! serin's pod-template-hash and step hash against Argo Rollouts' own functions (`tests/podhash`, built with the
//! control plane): every Rollout template and step list of upstream's corpus, and templates written to reach
//! the corners of Go's encoding (field order, omitempty and omitzero, quantities, int-or-strings, times,
//! escaping, collision counts). The Go helper decodes each case into upstream's types and hashes it with
//! upstream's code, so the comparison is not circular.

#[macro_use]
#[path = "common/e2e.rs"]
mod e2e;

#[allow(dead_code)]
#[path = "api/support.rs"]
mod support;

use serde_json::{Value, json};
use serin::api::decode::{self, Classification, parse_stream};
use serin::strategy::hash;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs upstream's hashing on `cases` (JSON lines), returning (hash, Go JSON) per case; `None` when the real
/// control plane's tools are skipped.
fn upstream(cases: &[Value]) -> Option<Vec<(String, String)>> {
    if std::env::var(e2e::controlplane::SKIP_VAR).is_ok_and(|v| !v.is_empty() && v != "0") {
        eprintln!("SKIPPED: upstream hash comparison ({} is set)", e2e::controlplane::SKIP_VAR);
        return None;
    }
    let bin = e2e::controlplane::bin_dir().expect("control plane bin dir").join("podhash");
    assert!(bin.exists(), "{} is not built: run .ci/setup or tests/controlplane/build.sh", bin.display());
    let mut child =
        Command::new(&bin).arg("hash").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("podhash");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = cases.iter().map(|c| format!("{c}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("podhash output");
    writer.join().expect("writer").expect("write cases");
    assert!(out.status.success(), "podhash failed");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let (h, j) = l.split_once('\t').expect("hash<TAB>json");
            (h.to_string(), j.to_string())
        })
        .collect();
    assert_eq!(lines.len(), cases.len(), "one answer per case");
    Some(lines)
}

/// Every Rollout of upstream's corpus: its template and its canary steps.
fn corpus_rollouts() -> Vec<(String, Value)> {
    let root = support::corpus_root();
    let mut out = Vec::new();
    for rel in support::plain_manifests(&root) {
        let (text, _) = support::read_manifest(&root, &rel);
        for doc in parse_stream(&text) {
            let Ok(value) = doc.value else { continue };
            if decode::classify(&value) == Classification::Served(decode::Kind::Rollout) {
                out.push((format!("{rel}:{}", doc.index), value));
            }
        }
    }
    out
}

/// Templates reaching the corners of Go's encoding.
fn crafted_templates() -> Vec<Value> {
    vec![
        json!({}),
        json!({"metadata": {}}),
        json!({"spec": {}}),
        json!({"spec": {"containers": []}}),
        json!({"metadata": {"labels": {"b": "2", "a": "1"}, "annotations": {"x": "<tag> & \u{2028} \"q\" \\ \t\n"}},
               "spec": {"containers": [{"name": "app", "image": "nginx:1.19"}]}}),
        json!({"metadata": {"creationTimestamp": null, "name": "ignored-by-nobody"},
               "spec": {"containers": [{"name": "app", "image": "nginx"}]}}),
        json!({"metadata": {"creationTimestamp": "2024-03-04T05:06:07Z"}, "spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 0, "dnsPolicy": "ClusterFirst",
            "hostNetwork": false, "enableServiceLinks": true, "priority": 0,
            "nodeSelector": {"zone": "a", "disk": "ssd"},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                 "labelSelector": {"matchLabels": {"app": "x"}}}}]}},
            "volumes": [
                {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420, "items": [{"key": "k", "path": "p"}]}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "1024Mi", "medium": "Memory"}},
                {"name": "sec", "secret": {"secretName": "s", "optional": true}},
                {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}]}}
            ],
            "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
            "containers": [{
                "name": "app", "image": "app:1", "imagePullPolicy": "IfNotPresent",
                "args": ["--port=8080", ""], "workingDir": "/srv",
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}, {"containerPort": 9090}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": ""},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}],
                "envFrom": [{"configMapRef": {"name": "c"}, "prefix": "P_"}],
                "resources": {"requests": {"cpu": 0.25, "memory": "64Mi", "ephemeral-storage": "1G"},
                              "limits": {"cpu": "1000m", "memory": 134217728, "nvidia.com/gpu": 1}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP",
                                   "httpHeaders": [{"name": "X", "value": "y"}]},
                                   "initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3},
                "livenessProbe": {"tcpSocket": {"port": "http"}, "timeoutSeconds": 1},
                "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}},
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true, "subPath": "x"}],
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                    "capabilities": {"drop": ["ALL"], "add": []}},
                "stdin": false, "tty": false, "terminationMessagePolicy": "File"
            }]
        }}),
        json!({"spec": {"containers": [{"name": "q", "resources": {"requests": {
            "a": "0", "b": "0.0", "c": "1.5", "d": "1500m", "e": "1000", "f": "1.5Gi", "g": "0.5Ki", "h": "1e3",
            "i": "1.5e3", "j": "1E6", "k": "0.0000000001", "l": "1.1n", "m": "007", "n": 1000, "o": 0.5, "p": 2048,
            "q": "100Mi", "r": "1Ti", "s": "3", "t": "12345678901", "u": "1.000", "v": "10e-3", "w": "1024", "x": "8Ki"}}}]}}),
        json!({"spec": {"containers": [{"name": "p", "readinessProbe": {"httpGet": {"port": "8080"}}}]}}),
    ]
}

#[test]
fn pod_template_hashes_are_upstreams() {
    let mut templates: Vec<(String, Value)> = corpus_rollouts()
        .into_iter()
        .filter_map(|(at, r)| Some((at, r.pointer("/spec/template")?.clone())))
        .collect();
    templates.extend(crafted_templates().into_iter().enumerate().map(|(i, t)| (format!("crafted #{i}"), t)));
    let mut cases = Vec::new();
    let mut expected_inputs = Vec::new();
    for (at, template) in &templates {
        for collision in [None, Some(0), Some(1), Some(7)] {
            let mut case = json!({"template": template});
            if let Some(c) = collision {
                case["collisionCount"] = json!(c);
            }
            cases.push(case);
            expected_inputs.push((at.clone(), template.clone(), collision));
        }
    }
    let Some(answers) = upstream(&cases) else { return };
    let mut mismatches = Vec::new();
    for ((at, template, collision), (go_hash, go_json)) in expected_inputs.iter().zip(&answers) {
        let ours = hash::pod_template_hash(template, *collision).expect("serin hashes it");
        if &ours != go_hash {
            let our_json = hash::pod_template_go_json(template).expect("json");
            mismatches.push(format!(
                "{at} (collisionCount {collision:?}): upstream {go_hash}, serin {ours}\n  upstream hashed {go_json}\n  serin hashed    {our_json}"
            ));
        }
    }
    println!("{} pod-template hashes compared with upstream's ({} templates)", cases.len(), templates.len());
    assert!(templates.len() > 80, "the corpus has dozens of Rollouts");
    assert!(mismatches.is_empty(), "{} mismatch(es):\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn step_hashes_are_upstreams() {
    let mut step_lists: Vec<(String, Option<Value>)> = corpus_rollouts()
        .into_iter()
        .filter(|(_, r)| r.pointer("/spec/strategy/canary").is_some())
        .map(|(at, r)| (at, r.pointer("/spec/strategy/canary/steps").cloned()))
        .collect();
    step_lists.push(("no steps".into(), None));
    step_lists.push(("empty".into(), Some(json!([]))));
    step_lists.push((
        "every kind".into(),
        Some(json!([
            {"setWeight": 0}, {"pause": {"duration": 30}}, {"pause": {"duration": "1h"}}, {"pause": {}},
            {"setCanaryScale": {"replicas": 3}}, {"setCanaryScale": {"weight": 10, "matchTrafficWeight": false}},
            {"analysis": {"templates": [{"templateName": "t", "clusterScope": true}],
                          "args": [{"name": "a", "value": "<v>"}, {"name": "h", "valueFrom": {"podTemplateHashValue": "Stable"}},
                                   {"name": "f", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                          "dryRun": [{"metricName": "m"}], "measurementRetention": [{"metricName": "m", "limit": 5}],
                          "analysisRunMetadata": {"labels": {"b": "1", "a": "2"}}}},
            {"experiment": {"duration": "5m", "templates": [{"name": "c", "specRef": "canary", "replicas": 1, "weight": 5,
                            "service": {"name": "svc"}, "metadata": {"labels": {"x": "y"}}}],
                            "analyses": [{"name": "a", "templateName": "t", "requiredForCompletion": true}]}},
            {"setHeaderRoute": {"name": "h", "match": [{"headerName": "X", "headerValue": {"exact": "1"}}]}},
            {"setMirrorRoute": {"name": "m", "percentage": 50, "match": [{"method": {"exact": "GET"},
                                "headers": {"b": {"prefix": "x"}, "a": {"regex": ".*"}}}]}},
            {"plugin": {"name": "org/p", "config": {"z": [1, {"b": null, "a": "<&>"}], "a": true}}},
            {"plugin": {"name": "org/p"}}
        ])),
    ));
    let cases: Vec<Value> = step_lists.iter().map(|(_, s)| json!({"steps": s})).collect();
    let Some(answers) = upstream(&cases) else { return };
    let mut mismatches = Vec::new();
    for ((at, steps), (go_hash, go_json)) in step_lists.iter().zip(&answers) {
        let ours = hash::step_hash(steps.as_ref()).expect("serin hashes them");
        if &ours != go_hash {
            let our_json = hash::steps_go_json(steps.as_ref()).expect("json");
            mismatches.push(format!(
                "{at}: upstream {go_hash}, serin {ours}\n  upstream hashed {go_json}\n  serin hashed    {our_json}"
            ));
        }
    }
    println!("{} step hashes compared with upstream's", cases.len());
    assert!(mismatches.is_empty(), "{} mismatch(es):\n{}", mismatches.len(), mismatches.join("\n"));
}

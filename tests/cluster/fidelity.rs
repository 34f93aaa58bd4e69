//! Where the embedded cluster must answer as the real API server does, checked on both substrates: requests the
//! real server refuses (patches that change an object's identity, a CRD outside a dotted group) and those it
//! accepts (a POST whose kind comes from the URL).

use crate::e2e::substrate::Substrate;
use serde_json::{Value, json};

/// Sends a JSON request (no body for `null`) and returns the status code and the body as JSON (`null` when it is not JSON).
async fn send(s: &Substrate, method: &str, path: &str, content_type: &str, body: Value) -> (u16, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(if body.is_null() { Vec::new() } else { serde_json::to_vec(&body).expect("json") })
        .expect("request");
    let response = s.client.send(request.map(kube::client::Body::from)).await.expect("send");
    let status = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn summary(code: u16, body: &Value) -> String {
    format!("{code} {} {}", body["reason"].as_str().unwrap_or("-"), body["message"].as_str().unwrap_or("-"))
}

on_both_substrates! {
    async fn requests_the_real_server_refuses_are_refused(s: &Substrate) {
        let ns = &s.namespace;
        let base = format!("/api/v1/namespaces/{ns}/configmaps");
        let (code, body) = send(s, "POST", &base, "application/json", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})).await;
        assert_eq!(code, 201, "{body}");
        let at = format!("{base}/c");
        let forbid_rename = "400 BadRequest the name of the object (renamed) does not match the name on the URL (c)";
        let uid_immutable = "422 Invalid ConfigMap \"c\" is invalid: metadata.uid: Invalid value: \"00000000-0000-0000-0000-000000000000\": field is immutable";
        // (what, method, path, content type, body, the real server's code, reason and message; `None`: any message)
        type Case<'a> = (&'a str, &'a str, String, &'a str, Value, &'a str, Option<&'a str>);
        let cases: Vec<Case> = vec![
            // The kind and apiVersion default to the URL's, on both.
            ("POST without kind", "POST", base.clone(), "application/json", json!({"apiVersion": "v1", "metadata": {"name": "nokind"}}), "201 -", None),
            ("POST without apiVersion and kind", "POST", base.clone(), "application/json", json!({"metadata": {"name": "bare"}}), "201 -", None),
            ("POST of another kind", "POST", base.clone(), "application/json", json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other"}}), "400 BadRequest", None),
            ("merge patch renaming", "PATCH", at.clone(), "application/merge-patch+json", json!({"metadata": {"name": "renamed"}}), "", Some(forbid_rename)),
            ("json patch renaming", "PATCH", at.clone(), "application/json-patch+json", json!([{"op": "replace", "path": "/metadata/name", "value": "renamed"}]), "", Some(forbid_rename)),
            ("PUT renaming", "PUT", at.clone(), "application/json", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "renamed"}}), "", Some(forbid_rename)),
            ("merge patch changing uid", "PATCH", at.clone(), "application/merge-patch+json", json!({"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}}), "", Some(uid_immutable)),
            // Removing the uid keeps the stored one, on both.
            (
                "merge patch removing uid",
                "PATCH",
                at.clone(),
                "application/merge-patch+json",
                json!({"metadata": {"uid": null}}),
                "200 -",
                None,
            ),
            // The real server then fails to decode the object as the other kind; the embedded one says so.
            ("merge patch changing kind", "PATCH", at.clone(), "application/merge-patch+json", json!({"kind": "Secret"}), "422 Invalid", None),
            (
                "CRD in group core",
                "POST",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".into(),
                "application/json",
                json!({
                    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": "pods.core"},
                    "spec": {"group": "core", "scope": "Namespaced",
                             "names": {"plural": "pods", "singular": "pod", "kind": "Pod"},
                             "versions": [{"name": "v1", "served": true, "storage": true,
                                           "schema": {"openAPIV3Schema": {"type": "object"}}}]}
                }),
                "",
                Some("422 Invalid CustomResourceDefinition.apiextensions.k8s.io \"pods.core\" is invalid: spec.group: Invalid value: \"core\": should be a domain with at least one dot"),
            ),
        ];
        for (what, method, path, content_type, body, want, message) in cases {
            let (code, body) = send(s, method, &path, content_type, body).await;
            match message {
                Some(m) => assert_eq!(summary(code, &body), m, "{what}"),
                None => assert!(summary(code, &body).starts_with(want), "{what}: {}", summary(code, &body)),
            }
        }
        // The object defaulted its kind, and no refused patch changed it.
        let (code, stored) = send(s, "GET", &format!("{base}/nokind"), "application/json", Value::Null).await;
        assert_eq!((code, stored["kind"].as_str()), (200, Some("ConfigMap")), "{stored}");
        let (_, c) = send(s, "GET", &at, "application/json", Value::Null).await;
        assert_eq!((c["metadata"]["name"].as_str(), c["kind"].as_str()), (Some("c"), Some("ConfigMap")), "{c}");
    }
}

/// `(name, replicas, ready, revision annotation)` of the Deployment's ReplicaSets, by revision.
async fn replica_sets(s: &Substrate, app: &str) -> Vec<(String, i32, i32, String)> {
    let api: kube::Api<k8s_openapi::api::apps::v1::ReplicaSet> = s.api();
    let list = api.list(&kube::api::ListParams::default().labels(&format!("app={app}"))).await.expect("list");
    let mut out: Vec<_> = list
        .items
        .into_iter()
        .map(|rs| {
            let revision = rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                .cloned()
                .unwrap_or_default();
            let spec = rs.spec.replicas.unwrap_or(1);
            let ready = rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
            (rs.metadata.name.unwrap_or_default(), spec, ready, revision)
        })
        .collect();
    out.sort_by_key(|r| r.3.parse::<i32>().unwrap_or(0));
    out
}

on_both_substrates! {
    async fn deployments_roll_out_scale_and_roll_back_as_kubectl_expects(s: &Substrate) {
        use crate::e2e::wait::eventually;
        let manifest = |strategy: &str| format!(r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  strategy: {strategy}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: app, image: "app:v1"}}]
"#);
        let apply = |text: String| async move {
            s.kubectl_with_input(&["apply", "--validate=false", "-f", "-"], &text).await;
        };
        let rolled_out = || async {
            let out = s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=120s"]).await;
            assert!(out.trim_end().ends_with("deployment \"web\" successfully rolled out"), "{out}");
        };
        apply(manifest("{type: RollingUpdate}")).await;
        rolled_out().await;
        let first = replica_sets(s, "web").await;
        assert_eq!(first.len(), 1, "{first:?}");
        assert_eq!((first[0].1, first[0].2, first[0].3.as_str()), (3, 3, "1"), "{first:?}");
        assert!(first[0].0.starts_with("web-"), "{first:?}");

        // A new template: a second ReplicaSet takes over, the first is kept at zero as history.
        s.kubectl_ok(&["set", "image", "deployment/web", "app=app:v2"]).await;
        rolled_out().await;
        let second = replica_sets(s, "web").await;
        assert_eq!(second.iter().map(|r| (r.1, r.2, r.3.as_str())).collect::<Vec<_>>(), [(0, 0, "1"), (3, 3, "2")], "{second:?}");
        let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> = s.api();
        let status = deployments.get("web").await.expect("get").status.expect("status");
        assert_eq!((status.replicas, status.updated_replicas, status.available_replicas), (Some(3), Some(3), Some(3)));
        let conditions: Vec<(String, String)> = status.conditions.unwrap_or_default().into_iter().map(|c| (c.type_.unwrap_or_default(), c.reason.unwrap_or_default())).collect();
        assert!(conditions.contains(&("Available".into(), "MinimumReplicasAvailable".into())), "{conditions:?}");
        assert!(conditions.contains(&("Progressing".into(), "NewReplicaSetAvailable".into())), "{conditions:?}");

        // Scaled: the current ReplicaSet follows.
        s.kubectl_ok(&["scale", "deployment/web", "--replicas=1"]).await;
        eventually("one pod of web", || async {
            let rs = replica_sets(s, "web").await;
            (rs.last().map(|r| (r.1, r.2)) == Some((1, 1))).then_some(())
        })
        .await;

        // Rolled back: the first ReplicaSet is current again, with the newest revision.
        s.kubectl_ok(&["rollout", "undo", "deployment/web"]).await;
        rolled_out().await;
        let undone = replica_sets(s, "web").await;
        assert_eq!(undone.last().map(|r| (r.0.as_str(), r.1, r.3.as_str())), Some((first[0].0.as_str(), 1, "3")), "{undone:?}");

        // Recreate: the old pods go before any new one starts.
        apply(manifest("{type: Recreate}").replace("app:v1", "app:v3")).await;
        rolled_out().await;
        let recreated = replica_sets(s, "web").await;
        assert_eq!(recreated.iter().filter(|r| r.1 > 0).count(), 1, "{recreated:?}");
        assert_eq!(recreated.last().map(|r| (r.1, r.2, r.3.as_str())), Some((3, 3, "4")), "{recreated:?}");

        // Deleting the Deployment deletes its ReplicaSets and pods.
        s.kubectl_ok(&["delete", "deployment", "web", "--wait=true"]).await;
        eventually("web's ReplicaSets gone", || async { replica_sets(s, "web").await.is_empty().then_some(()) }).await;
    }
}

on_both_substrates! {
    async fn built_in_objects_are_validated_and_sizes_limited_as_the_real_server_does(s: &Substrate) {
        let ns = &s.namespace;
        let configmaps = format!("/api/v1/namespaces/{ns}/configmaps");
        let cm = |name: &str, extra: Value| {
            let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
            for (k, x) in extra.as_object().expect("object") {
                if k == "metadata" {
                    for (mk, mv) in x.as_object().expect("metadata") {
                        v["metadata"][mk] = mv.clone();
                    }
                } else {
                    v[k] = x.clone();
                }
            }
            v
        };
        let mib = |n: f64| "x".repeat((n * 1048576.0) as usize);
        let name_part = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        // (what, path, body, the real server's code and reason, its message or the start of it)
        let cases: Vec<(&str, String, Value, &str, String)> = vec![
            ("a number in a ConfigMap's data", configmaps.clone(), cm("n1", json!({"data": {"a": 1}})), "400 BadRequest", "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: ".into()),
            ("a containers string", format!("/api/v1/namespaces/{ns}/pods"), json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"}, "spec": {"containers": "nginx"}}), "400 BadRequest", "Pod in version \"v1\" cannot be handled as a Pod: ".into()),
            ("Secret data not base64", format!("/api/v1/namespaces/{ns}/secrets"), json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}, "data": {"a": "!!!"}}), "400 BadRequest", "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0".into()),
            ("binaryData not base64", configmaps.clone(), cm("n3", json!({"binaryData": {"a": "!!!"}})), "400 BadRequest", "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: illegal base64 data at input byte 0".into()),
            ("a ConfigMap key with a space", configmaps.clone(), cm("n2", json!({"data": {"a b": "1"}})), "422 Invalid", "ConfigMap \"n2\" is invalid: data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into()),
            ("a key in data and binaryData", configmaps.clone(), cm("n4", json!({"data": {"a": "x"}, "binaryData": {"a": "eA=="}})), "422 Invalid", "ConfigMap \"n4\" is invalid: data[a]: Invalid value: \"a\": duplicate of key present in binaryData".into()),
            ("a label key with a space", configmaps.clone(), cm("n5", json!({"metadata": {"labels": {"a b": "x"}}})), "422 Invalid", format!("ConfigMap \"n5\" is invalid: metadata.labels: Invalid value: \"a b\": {name_part}")),
            ("a label value of 64 bytes", configmaps.clone(), cm("n6", json!({"metadata": {"labels": {"a": "x".repeat(64)}}})), "422 Invalid", format!("ConfigMap \"n6\" is invalid: metadata.labels: Invalid value: \"{}\": must be no more than 63 bytes", "x".repeat(64))),
            ("a label value starting with -", configmaps.clone(), cm("n7", json!({"metadata": {"labels": {"a": "-x"}}})), "422 Invalid", "ConfigMap \"n7\" is invalid: metadata.labels: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into()),
            ("an annotation key with a space", configmaps.clone(), cm("n8", json!({"metadata": {"annotations": {"a b": "x"}}})), "422 Invalid", format!("ConfigMap \"n8\" is invalid: metadata.annotations: Invalid value: \"a b\": {name_part}")),
            ("1.4 MiB of ConfigMap data", configmaps.clone(), cm("big1", json!({"data": {"a": mib(1.4)}})), "422 Invalid", "ConfigMap \"big1\" is invalid: []: Too long: may not be more than 1048576 bytes".into()),
            ("a 3.5 MiB body", configmaps.clone(), cm("big2", json!({"data": {"a": mib(3.5)}})), "413 RequestEntityTooLarge", "Request entity too large: limit is 3145728".into()),
            ("a 50 MiB body", configmaps.clone(), cm("big3", json!({"data": {"a": mib(50.0)}})), "413 RequestEntityTooLarge", "Request entity too large: limit is 3145728".into()),
            ("a 2 MiB object", format!("/api/v1/namespaces/{ns}/podtemplates"), json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pt"}, "template": {"spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": mib(2.0)}]}]}}}), "500 -", "rpc error: code = ResourceExhausted desc = trying to send message larger than max (".into()),
            // Accepted on both: exactly 1 MiB of Secret data, 1.4 MiB in another kind, valid keys and labels.
            ("1 MiB of Secret data", format!("/api/v1/namespaces/{ns}/secrets"), json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"a": "x".repeat(1 << 20)}}), "201 -", "-".into()),
            ("a 1.4 MiB PodTemplate", format!("/api/v1/namespaces/{ns}/podtemplates"), json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pt-ok"}, "template": {"spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": mib(1.4)}]}]}}}), "201 -", "-".into()),
            ("valid keys and labels", configmaps.clone(), cm("fine", json!({"metadata": {"labels": {"app.kubernetes.io/name": "web", "empty": ""}, "annotations": {"example.com/Note": "x"}}, "data": {"a.b_c-D": "1"}, "binaryData": {"bin": "eHl6"}})), "201 -", "-".into()),
        ];
        for (what, path, body, want, message) in cases {
            let (code, body) = send(s, "POST", &path, "application/json", body).await;
            let got = format!("{code} {}", body["reason"].as_str().unwrap_or("-"));
            let text = body["message"].as_str().unwrap_or("-");
            assert_eq!(got, want, "{what}: {text}");
            assert!(text.starts_with(&message), "{what}: {text}\nwanted: {message}");
        }
    }
}

on_both_substrates! {
    async fn events_are_one_resource_at_both_versions(s: &Substrate) {
        let ns = &s.namespace;
        let (code, cm) = send(s, "POST", &format!("/api/v1/namespaces/{ns}/configmaps"), "application/json", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "subject"}})).await;
        assert_eq!(code, 201, "{cm}");
        let regarding = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "subject", "namespace": ns, "uid": cm["metadata"]["uid"]});
        let (code, created) = send(s, "POST", &format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"), "application/json", json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "new-style"},
            "eventTime": "2026-12-01T10:00:00.000000Z", "reportingController": "example.com/tester", "reportingInstance": "tester-1",
            "action": "Testing", "reason": "Tested", "type": "Normal", "note": "recorded through events.k8s.io", "regarding": regarding,
        })).await;
        assert_eq!(code, 201, "{created}");
        let (code, v1) = send(s, "GET", &format!("/api/v1/namespaces/{ns}/events/new-style"), "application/json", Value::Null).await;
        assert_eq!(code, 200, "{v1}");
        assert_eq!((v1["message"].as_str(), v1["reason"].as_str(), v1["type"].as_str()), (Some("recorded through events.k8s.io"), Some("Tested"), Some("Normal")), "{v1}");
        assert_eq!(v1["involvedObject"]["name"], "subject", "{v1}");
        assert_eq!(v1["reportingComponent"], "example.com/tester", "{v1}");
        assert_eq!(v1["metadata"]["uid"], created["metadata"]["uid"], "one object: {v1}");

        let (code, old) = send(s, "POST", &format!("/api/v1/namespaces/{ns}/events"), "application/json", json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "old-style"},
            "involvedObject": regarding, "reason": "Noticed", "message": "recorded through v1", "type": "Warning",
            "source": {"component": "tester"}, "count": 2,
            "firstTimestamp": "2026-12-01T10:00:00Z", "lastTimestamp": "2026-12-01T10:01:00Z",
        })).await;
        assert_eq!(code, 201, "{old}");
        let (code, new) = send(s, "GET", &format!("/apis/events.k8s.io/v1/namespaces/{ns}/events/old-style"), "application/json", Value::Null).await;
        assert_eq!(code, 200, "{new}");
        assert_eq!((new["note"].as_str(), new["deprecatedCount"].as_i64(), new["type"].as_str()), (Some("recorded through v1"), Some(2), Some("Warning")), "{new}");
        assert_eq!(new["regarding"]["name"], "subject", "{new}");
        assert_eq!(new["deprecatedSource"]["component"], "tester", "{new}");

        // kubectl finds both through the version it reads, and a deletion through either removes both.
        let listed = s.kubectl_ok(&["get", "events", "--field-selector", "involvedObject.name=subject", "-o", "name"]).await;
        assert_eq!(listed.lines().count(), 2, "{listed}");
        let (code, _) = send(s, "DELETE", &format!("/apis/events.k8s.io/v1/namespaces/{ns}/events/old-style"), "application/json", Value::Null).await;
        assert_eq!(code, 200);
        let (code, _) = send(s, "GET", &format!("/api/v1/namespaces/{ns}/events/old-style"), "application/json", Value::Null).await;
        assert_eq!(code, 404);
    }
}

on_both_substrates! {
    async fn custom_resources_are_pruned_and_validated_by_their_schema(s: &Substrate) {
        let ns = &s.namespace;
        let path = format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts");
        let base = |name: &str| json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                     "strategy": {"canary": {"steps": [{"setWeight": 10}]}}}});
        let invalid = |name: &str, causes: &[&str]| {
            let summary = if causes.len() == 1 { causes[0].to_string() } else { format!("[{}]", causes.join(", ")) };
            format!("422 Invalid Rollout.argoproj.io \"{name}\" is invalid: {summary}")
        };
        let mut cases: Vec<(&str, Value, String)> = Vec::new();
        let mut b = base("t1");
        b["spec"]["paused"] = json!("yes");
        cases.push(("a string for a boolean", b, invalid("t1", &["spec.paused: Invalid value: \"string\": spec.paused in body must be of type boolean: \"string\""])));
        let mut b = base("t2");
        b["spec"]["strategy"]["canary"]["steps"] = json!({});
        cases.push(("an object for a list", b, invalid("t2", &["spec.strategy.canary.steps: Invalid value: \"object\": spec.strategy.canary.steps in body must be of type array: \"object\""])));
        let mut b = base("t3");
        b["spec"]["minReadySeconds"] = json!(3000000000i64);
        cases.push(("an int32 out of range", b, invalid("t3", &["<nil>: Invalid value: \"\": Checked value must be of type integer with format int32 in spec.minReadySeconds"])));
        let mut b = base("t4");
        b["spec"]["strategy"]["canary"]["maxSurge"] = json!(true);
        cases.push(("a boolean for an int-or-string", b, invalid("t4", &["spec.strategy.canary.maxSurge: Invalid value: \"boolean\": spec.strategy.canary.maxSurge in body must be of type integer,string: \"boolean\""])));
        let mut b = base("t5");
        b["spec"]["paused"] = json!("yes");
        b["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = json!("ten");
        cases.push(("two problems", b, invalid("t5", &[
            "spec.paused: Invalid value: \"string\": spec.paused in body must be of type boolean: \"string\"",
            "spec.strategy.canary.steps[0].setWeight: Invalid value: \"string\": spec.strategy.canary.steps[0].setWeight in body must be of type integer: \"string\"",
        ])));
        for (what, body, want) in cases {
            let (code, body) = send(s, "POST", &path, "application/json", body).await;
            let got = format!("{code} {}", summary(code, &body).split_once(' ').map_or("", |(_, r)| r));
            // The real server lists several causes in no fixed order: compare them as a set.
            let causes = |m: &str| {
                let list = m.split_once(" is invalid: ").map_or("", |(_, l)| l);
                let mut items: Vec<String> = list.trim_start_matches('[').trim_end_matches(']').split(", spec.").map(|c| c.trim_start_matches("spec.").to_string()).collect();
                items.sort();
                (m.split_once(" is invalid: ").map(|(h, _)| h.to_string()), items)
            };
            assert_eq!(causes(&got), causes(&want), "{what}: {got}");
        }
        // Unknown fields are pruned, at every level the schema does not preserve.
        let mut b = base("pruned");
        b["spec"]["foo"] = json!(1);
        b["spec"]["strategy"]["canary"]["bar"] = json!({"x": 1});
        b["spec"]["template"]["spec"]["containers"][0]["zzz"] = json!(1);
        b["spec"]["template"]["metadata"]["zzz"] = json!(1);
        let (code, stored) = send(s, "POST", &path, "application/json", b).await;
        assert_eq!(code, 201, "{stored}");
        assert_eq!(stored["spec"], base("pruned")["spec"], "{stored}");
    }
}

on_both_substrates! {
    async fn kubectl_apply_validates_and_explain_reads_the_openapi_documents(s: &Substrate) {
        let manifest = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: applied}
data: {a: "1"}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: applied}
spec:
  selector: {matchLabels: {app: applied}}
  template:
    metadata: {labels: {app: applied}}
    spec:
      containers: [{name: app, image: "app:v1"}]
  strategy:
    canary:
      steps: [{setWeight: 50}]
"#;
        // Without --validate=false: kubectl reads the OpenAPI documents to decide how to validate.
        let text = s.kubectl_with_input(&["apply", "-f", "-"], manifest).await;
        assert!(text.contains("configmap/applied created") && text.contains("rollout.argoproj.io/applied created"), "{text}");
        // explain walks a CRD's schema.
        let explained = s.kubectl_ok(&["explain", "rollouts.spec.strategy"]).await;
        assert!(explained.contains("KIND:") && explained.contains("Rollout"), "{explained}");
        assert!(explained.contains("canary") && explained.contains("blueGreen"), "{explained}");
    }
}

on_both_substrates! {
    async fn field_validation_strict_warn_and_ignore_as_the_real_server(s: &Substrate) {
        let ns = &s.namespace;
        let unknown = ["spec.foo", "spec.strategy.canary.bar", "spec.template.spec.containers[0].zz"];
        let warnings: Vec<String> = unknown.iter().map(|f| format!("299 - \"unknown field \\\"{f}\\\"\"")).collect();
        let strict = format!(
            "Rollout in version \"v1alpha1\" cannot be handled as a Rollout: strict decoding error: {}",
            unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect::<Vec<_>>().join(", ")
        );
        for (i, (query, code, want_warnings, message)) in [
            ("?fieldValidation=Strict", 400, vec![], Some(strict.as_str())),
            ("?fieldValidation=Warn", 201, warnings.clone(), None),
            ("", 201, warnings.clone(), None),
            ("?fieldValidation=Ignore", 201, vec![], None),
        ]
        .into_iter()
        .enumerate()
        {
            let body = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": format!("s{i}")},
                "spec": {"foo": 1, "strategy": {"canary": {"bar": 2}}, "template": {"spec": {"containers": [{"name": "c", "image": "i", "zz": 1}]}}}});
            let request = http::Request::builder()
                .method("POST")
                .uri(format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts{query}"))
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).expect("json"))
                .expect("request");
            let response = s.client.send(request.map(kube::client::Body::from)).await.expect("send");
            assert_eq!(response.status().as_u16(), code, "{query}");
            let mut got: Vec<String> = response.headers().get_all("warning").iter().map(|v| v.to_str().unwrap_or("").to_string()).collect();
            got.sort();
            assert_eq!(got, want_warnings, "{query}");
            let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if let Some(m) = message {
                assert_eq!(v["message"], m, "{query}");
            } else {
                assert!(v["spec"].get("foo").is_none(), "{query}: pruned: {v}");
            }
        }
    }
}

on_both_substrates! {
    async fn unknown_fields_of_built_in_objects_are_dropped_or_refused(s: &Substrate) {
        let ns = &s.namespace;
        let post = |query: &str, body: Value| {
            let request = http::Request::builder()
                .method("POST")
                .uri(format!("/api/v1/namespaces/{ns}/configmaps{query}"))
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).expect("json"))
                .expect("request");
            s.client.send(request.map(kube::client::Body::from))
        };
        let body = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "bogus": 1}, "data": {"a": "1"}, "extra": true});
        let response = post("", body("warned")).await.expect("send");
        assert_eq!(response.status().as_u16(), 201);
        let mut warnings: Vec<String> = response.headers().get_all("warning").iter().map(|v| v.to_str().unwrap_or("").to_string()).collect();
        warnings.sort();
        assert_eq!(warnings, ["299 - \"unknown field \\\"extra\\\"\"", "299 - \"unknown field \\\"metadata.bogus\\\"\""]);
        let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
        let stored: Value = serde_json::from_slice(&bytes).expect("json");
        assert!(stored.get("extra").is_none() && stored["metadata"].get("bogus").is_none(), "{stored}");
        assert_eq!(stored["data"], json!({"a": "1"}));

        let strict = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "strict"}, "extra": true});
        let response = post("?fieldValidation=Strict", strict).await.expect("send");
        assert_eq!(response.status().as_u16(), 400);
        let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
        let status: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(status["message"], "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"extra\"");
        let response = post("?fieldValidation=Bogus", body("bogus")).await.expect("send");
        assert_eq!(response.status().as_u16(), 422);
        let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
        let status: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(status["message"], "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Bogus\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"");
        let response = post("?fieldValidation=Ignore", body("ignored")).await.expect("send");
        assert_eq!(response.status().as_u16(), 201);
        assert!(response.headers().get("warning").is_none());
    }
}

on_both_substrates! {
    async fn custom_resources_get_schema_defaults_and_value_bounds(s: &Substrate) {
        use crate::e2e::wait::eventually;
        let ns = &s.namespace;
        let int = |extra: Value| { let mut v = json!({"type": "integer"}); v.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone()); v };
        let properties = json!({
                        "max": int(json!({"maximum": 10})),
                        "min": int(json!({"minimum": 1})),
                        "exmax": int(json!({"maximum": 10, "exclusiveMaximum": true})),
                        "exmin": {"type": "number", "minimum": 1, "exclusiveMinimum": true},
                        "mult": int(json!({"multipleOf": 5})),
                        "short": {"type": "string", "maxLength": 3},
                        "long": {"type": "string", "minLength": 2},
                        "pat": {"type": "string", "pattern": "^[a-z]+$"},
                        "few": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                        "many": {"type": "array", "minItems": 2, "items": {"type": "string"}},
                        "props": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}},
                        "mprops": {"type": "object", "minProperties": 2, "additionalProperties": {"type": "string"}},
                        "withdef": {"type": "string", "default": "dflt"},
                        "objdef": {"type": "object", "default": {"a": 1}, "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 7}}},
                        "nested": {"type": "object", "properties": {"inner": {"type": "integer", "default": 3}}},
                        "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string", "default": "xx"}}}},
        });
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.probe.example.com"},
            "spec": {"group": "probe.example.com", "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": properties}}}}}]}});
        let (code, body) = send(s, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "application/json", crd).await;
        assert!(code == 201 || code == 409, "{body}");
        let path = format!("/apis/probe.example.com/v1/namespaces/{ns}/gadgets");
        let gadget = |name: &str, spec: Value| json!({"apiVersion": "probe.example.com/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec});
        // Served once the CRD is established.
        let (code, stored) = eventually("the Gadget CRD served", || async {
            let (code, body) = send(s, "POST", &path, "application/json", gadget("good", json!({"objdef": {"a": 2}, "list": [{}, {"x": "y"}], "nested": {}}))).await;
            (code != 404).then_some((code, body))
        })
        .await;
        assert_eq!(code, 201, "{stored}");
        assert_eq!(
            stored["spec"],
            json!({"withdef": "dflt", "objdef": {"a": 2, "b": 7}, "nested": {"inner": 3}, "list": [{"x": "xx"}, {"x": "y"}]}),
            "defaults filled in"
        );
        let (code, stored) = send(s, "POST", &path, "application/json", gadget("empty", json!({}))).await;
        assert_eq!(code, 201, "{stored}");
        assert_eq!(stored["spec"], json!({"withdef": "dflt", "objdef": {"a": 1, "b": 7}}), "an object's default gets its own");

        let bad = gadget("bad", json!({"max": 11, "min": 0, "exmax": 10, "exmin": 1, "mult": 7, "short": "abcd", "long": "a",
            "pat": "A1", "few": ["a", "b", "c"], "many": ["a"], "props": {"a": "1", "b": "2"}, "mprops": {"a": "1"}}));
        let (code, body) = send(s, "POST", &path, "application/json", bad).await;
        assert_eq!(code, 422, "{body}");
        let mut got: Vec<String> = body["details"]["causes"].as_array().expect("causes").iter()
            .map(|c| format!("{}: {}", c["field"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or(""))).collect();
        got.sort();
        let mut want = vec![
            "spec.max: Invalid value: 11: spec.max in body should be less than or equal to 10",
            "spec.min: Invalid value: 0: spec.min in body should be greater than or equal to 1",
            "spec.exmax: Invalid value: 10: spec.exmax in body should be less than 10",
            "spec.exmin: Invalid value: 1: spec.exmin in body should be greater than 1",
            "spec.mult: Invalid value: 7: spec.mult in body should be a multiple of 5",
            "spec.short: Too long: may not be more than 3 bytes",
            "spec.long: Invalid value: \"a\": spec.long in body should be at least 2 chars long",
            "spec.pat: Invalid value: \"A1\": spec.pat in body should match '^[a-z]+$'",
            "spec.few: Too many: 3: must have at most 2 items",
            "spec.many: Invalid value: 1: spec.many in body should have at least 2 items",
            "spec.props: Too many: 2: must have at most 1 item",
            "spec.mprops: Invalid value: 1: spec.mprops in body should have at least 2 properties",
        ];
        want.sort();
        assert_eq!(got, want);
    }
}

on_both_substrates! {
    async fn kubernetes_own_api_groups_need_the_api_review_annotation(s: &Substrate) {
        let crd = |annotations: Value| {
            json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "probes.fidelity.k8s.io", "annotations": annotations},
                "spec": {"group": "fidelity.k8s.io", "scope": "Namespaced",
                    "names": {"kind": "Probe", "plural": "probes", "singular": "probe", "listKind": "ProbeList"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
            })
        };
        let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
        let (code, body) = send(s, "POST", path, "application/json", crd(json!({}))).await;
        assert_eq!(
            summary(code, &body),
            "422 Invalid CustomResourceDefinition.apiextensions.k8s.io \"probes.fidelity.k8s.io\" is invalid: \
             metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval \
             annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111"
        );
        let approved = crd(json!({"api-approved.kubernetes.io": "https://github.com/kubernetes/enhancements/pull/1111"}));
        let (code, body) = send(s, "POST", path, "application/json", approved).await;
        assert!(code == 201 || code == 409, "{}", summary(code, &body));
    }
}

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
        let cases: Vec<(&str, &str, String, &str, Value, &str, Option<&str>)> = vec![
            // The kind and apiVersion default to the URL's, on both.
            ("POST without kind", "POST", base.clone(), "application/json", json!({"apiVersion": "v1", "metadata": {"name": "nokind"}}), "201 -", None),
            ("POST without apiVersion and kind", "POST", base.clone(), "application/json", json!({"metadata": {"name": "bare"}}), "201 -", None),
            ("POST of another kind", "POST", base.clone(), "application/json", json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other"}}), "400 BadRequest", None),
            ("merge patch renaming", "PATCH", at.clone(), "application/merge-patch+json", json!({"metadata": {"name": "renamed"}}), "", Some(forbid_rename)),
            ("json patch renaming", "PATCH", at.clone(), "application/json-patch+json", json!([{"op": "replace", "path": "/metadata/name", "value": "renamed"}]), "", Some(forbid_rename)),
            ("PUT renaming", "PUT", at.clone(), "application/json", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "renamed"}}), "", Some(forbid_rename)),
            ("merge patch changing uid", "PATCH", at.clone(), "application/merge-patch+json", json!({"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}}), "", Some(uid_immutable)),
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

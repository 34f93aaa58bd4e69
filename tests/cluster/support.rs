//! What the embedded-cluster tests share: imports, starting a cluster, manifests, stream and raw-HTTP helpers.

pub use crate::wait::{WAIT, eventually};
pub use std::path::Path;
pub use std::process::{Command, Stdio};
pub use std::sync::Arc;
pub use std::time::Duration;

pub use futures::StreamExt;
pub use k8s_openapi::api::apps::v1::ReplicaSet;
pub use k8s_openapi::api::batch::v1::Job;
pub use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
pub use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
pub use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
pub use kube::runtime::{Controller, controller::Action, watcher};
pub use serde_json::{Value, json};
pub use serin::cluster::{self, ClusterConfig, ClusterHandle, Faults, InjectedError, JobOutcome};

/// The next item of a stream, with a generous timeout.
pub async fn next<S: futures::Stream + Unpin>(s: &mut S, what: &str) -> S::Item {
    tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("stream ended before {what}"))
}

/// The next watch event that is not a bookmark.
pub async fn next_change<S, K>(s: &mut S, what: &str) -> WatchEvent<K>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<K>>> + Unpin,
{
    loop {
        match next(s, what).await.expect("watch event") {
            WatchEvent::Bookmark(_) => continue,
            e => return e,
        }
    }
}

pub async fn start(cfg: ClusterConfig) -> (ClusterHandle, kube::Client) {
    let c = cluster::start(cfg).await.expect("cluster starts");
    let client = c.client().expect("client");
    (c, client)
}

pub fn cm(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
    )
    .expect("configmap")
}

pub fn rs_manifest(name: &str, replicas: i64, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

pub const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

pub fn widget_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// One HTTP/1.1 request over a plain socket; returns the whole response text.
pub async fn raw_http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out)).await.expect("response in time").expect("read");
    out
}

pub async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Value,
) -> Result<Value, Box<kube::core::Status>> {
    let mut req = http::Request::builder().method(method).uri(path);
    if !content_type.is_empty() {
        req = req.header("content-type", content_type);
    }
    let body = if body.is_null() { vec![] } else { serde_json::to_vec(&body).expect("json") };
    match client.request_text(req.body(body).expect("request")).await {
        Ok(text) => Ok(serde_json::from_str(&text).unwrap_or(Value::String(text))),
        Err(kube::Error::Api(s)) => Err(s),
        Err(e) => panic!("{method} {path}: transport error {e:?}"),
    }
}

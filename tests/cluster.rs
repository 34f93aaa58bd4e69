//! End-to-end tests of the embedded cluster: the real kubectl, kube-rs clients and controllers, and a table of
//! protocol cases. Everything waits on conditions (never on sleeps) so it holds on a loaded machine.

#[path = "common/wait.rs"]
mod wait;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use wait::{WAIT, eventually};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{Controller, controller::Action, watcher};
use serde_json::{Value, json};
use serin::cluster::{self, ClusterConfig, ClusterHandle, Faults, InjectedError, JobOutcome};

/// The next item of a stream, with a generous timeout.
async fn next<S: futures::Stream + Unpin>(s: &mut S, what: &str) -> S::Item {
    tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("stream ended before {what}"))
}

/// The next watch event that is not a bookmark.
async fn next_change<S, K>(s: &mut S, what: &str) -> WatchEvent<K>
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

async fn start(cfg: ClusterConfig) -> (ClusterHandle, kube::Client) {
    let c = cluster::start(cfg).await.expect("cluster starts");
    let client = c.client().expect("client");
    (c, client)
}

fn cm(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
    )
    .expect("configmap")
}

fn rs_manifest(name: &str, replicas: i64, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
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

fn widget_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    Api::namespaced_with(client.clone(), ns, &ar)
}

// ---------------------------------------------------------------- kubectl

struct Kubectl {
    kubeconfig: std::path::PathBuf,
    cache: std::path::PathBuf,
}

impl Kubectl {
    fn new(c: &ClusterHandle, dir: &Path) -> Self {
        let kubeconfig = dir.join("kubeconfig");
        c.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
        Kubectl { kubeconfig, cache: dir.join("cache") }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).arg("--cache-dir").arg(&self.cache).args(args);
        cmd
    }

    /// Runs kubectl (blocking, off the runtime's async threads) and returns stdout; panics on failure.
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut cmd = self.command(args);
        let input = stdin.map(str::to_string);
        let shown = args.join(" ");
        tokio::task::spawn_blocking(move || {
            cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("kubectl runs");
            if let Some(i) = input {
                use std::io::Write;
                child.stdin.take().expect("stdin").write_all(i.as_bytes()).expect("stdin written");
            }
            let out = child.wait_with_output().expect("kubectl finishes");
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "kubectl {shown} failed: {}\n{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
        })
        .await
        .expect("blocking task")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drives_configmaps_replicasets_and_custom_resources() {
    let (c, client) = start(ClusterConfig::builder().ready_after(Duration::from_millis(100)).build()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let k = Kubectl::new(&c, dir.path());

    // ConfigMap: client-side apply, get, label selector, merge + json patch, delete.
    let cm_yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, labels: {tier: web}}\ndata: {color: blue}\n";
    assert!(
        k.run(&["apply", "--validate=false", "-f", "-"], Some(cm_yaml))
            .await
            .contains("configmap/settings created")
    );
    assert!(k.run(&["apply", "--validate=false", "-f", "-"], Some(cm_yaml)).await.contains("unchanged"));
    assert!(k.run(&["get", "configmaps"], None).await.contains("settings"));
    assert!(k.run(&["get", "cm", "-l", "tier=web", "-o", "name"], None).await.contains("configmap/settings"));
    assert_eq!(k.run(&["get", "cm", "-l", "tier=db", "-o", "name"], None).await.trim(), "");
    k.run(&["patch", "configmap", "settings", "--type", "merge", "-p", r#"{"data":{"size":"L"}}"#], None)
        .await;
    k.run(
        &[
            "patch",
            "configmap",
            "settings",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/data/color","value":"red"}]"#,
        ],
        None,
    )
    .await;
    let got: Value =
        serde_json::from_str(&k.run(&["get", "cm", "settings", "-o", "json"], None).await).expect("json");
    assert_eq!(got["data"], json!({"color": "red", "size": "L"}));
    // Server-side apply takes over the same object.
    let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {owner: ssa}\n";
    assert!(
        k.run(&["apply", "--server-side", "--validate=false", "-f", "-"], Some(ssa))
            .await
            .contains("serverside-applied")
    );
    let got: Value = serde_json::from_str(
        &k.run(&["get", "cm", "settings", "-o", "json", "--show-managed-fields"], None).await,
    )
    .expect("json");
    assert_eq!(got["data"]["owner"], "ssa");
    assert!(
        got["metadata"]["managedFields"]
            .as_array()
            .is_some_and(|m| m.iter().any(|e| e["manager"] == "kubectl"))
    );

    // get -w: spawn, read the initial line and one change, kill.
    let mut watch = k
        .command(&["get", "cm", "settings", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch runs");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(
        tokio::time::timeout(WAIT, rx.recv()).await.expect("first watch line").as_deref(),
        Some("configmap/settings")
    );
    k.run(&["patch", "cm", "settings", "--type", "merge", "-p", r#"{"data":{"w":"1"}}"#], None).await;
    assert_eq!(
        tokio::time::timeout(WAIT, rx.recv()).await.expect("second watch line").as_deref(),
        Some("configmap/settings")
    );
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(k.run(&["delete", "cm", "settings"], None).await.contains("deleted"));
    assert!(
        Api::<ConfigMap>::default_namespaced(client.clone())
            .get_opt("settings")
            .await
            .expect("get")
            .is_none()
    );

    // ReplicaSet whose pods become ready; scale; delete cascades to pods.
    let rs = serde_json::to_string(&rs_manifest("web", 2, "nginx:1.25")).expect("json");
    assert!(
        k.run(&["apply", "--validate=false", "-f", "-"], Some(&rs))
            .await
            .contains("replicaset.apps/web created")
    );
    eventually("2 ready pods listed by kubectl", || async {
        let out = k.run(&["get", "pods", "-l", "app=web", "--no-headers"], None).await;
        (out.lines().filter(|l| l.contains("1/1") && l.contains("Running")).count() == 2).then_some(())
    })
    .await;
    eventually("readyReplicas=2", || async {
        let out = k.run(&["get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}"], None).await;
        (out.trim() == "2").then_some(())
    })
    .await;
    k.run(&["scale", "rs", "web", "--replicas=3"], None).await;
    eventually("readyReplicas=3", || async {
        let out = k.run(&["get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}"], None).await;
        (out.trim() == "3").then_some(())
    })
    .await;
    assert!(
        k.run(&["apply", "--server-side", "--validate=false", "-f", "-"], Some(&rs))
            .await
            .contains("serverside-applied")
    );
    k.run(&["delete", "rs", "web"], None).await;
    eventually("pods garbage-collected", || async {
        let out = k.run(&["get", "pods", "-l", "app=web", "-o", "name"], None).await;
        out.trim().is_empty().then_some(())
    })
    .await;

    // A custom resource after its CRD.
    k.run(&["apply", "--validate=false", "-f", "-"], Some(WIDGET_CRD)).await;
    k.run(&["wait", "--for=condition=established", "crd/widgets.example.com", "--timeout=60s"], None).await;
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, labels: {app: w}}\nspec: {replicas: 1, color: blue}\n";
    assert!(
        k.run(&["apply", "--validate=false", "-f", "-"], Some(widget))
            .await
            .contains("widget.example.com/w1 created")
    );
    assert!(k.run(&["get", "widgets"], None).await.contains("w1"));
    assert!(k.run(&["get", "wd", "-l", "app=w", "-o", "name"], None).await.contains("widget.example.com/w1"));
    k.run(&["patch", "widget", "w1", "--type", "merge", "-p", r#"{"spec":{"color":"red"}}"#], None).await;
    k.run(
        &[
            "patch",
            "widget",
            "w1",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/spec/size","value":"L"}]"#,
        ],
        None,
    )
    .await;
    k.run(&["scale", "widget", "w1", "--replicas=5"], None).await;
    assert!(
        k.run(&["apply", "--server-side", "--validate=false", "-f", "-"], Some(widget))
            .await
            .contains("serverside-applied")
    );
    let got: Value =
        serde_json::from_str(&k.run(&["get", "widget", "w1", "-o", "json"], None).await).expect("json");
    assert_eq!(got["spec"]["color"], "blue", "server-side apply set color back");
    assert_eq!(got["spec"]["size"], "L");
    assert_eq!(got["metadata"]["generation"], 5);
    k.run(&["delete", "widget", "w1"], None).await;
    k.run(&["delete", "crd", "widgets.example.com"], None).await;
    c.shutdown().await.expect("clean shutdown");
}

// ---------------------------------------------------------------- kube-rs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_api_crud_get_opt_and_conflicts() {
    let (c, client) = start(ClusterConfig::default()).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    assert!(api.get_opt("missing").await.expect("get_opt").is_none());
    let created = api.create(&PostParams::default(), &cm("a", json!({"k": "1"}))).await.expect("create");
    let rv1 = created.metadata.resource_version.clone().expect("rv");
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert!(created.metadata.generation.is_none(), "configmaps have no generation upstream");
    let err = api.create(&PostParams::default(), &cm("a", json!({}))).await.expect_err("duplicate");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh.data = Some([("k".to_string(), "2".to_string())].into());
    let updated = api.replace("a", &PostParams::default(), &fresh).await.expect("replace");
    assert_ne!(updated.metadata.resource_version.as_deref(), Some(rv1.as_str()));
    stale.data = Some([("k".to_string(), "3".to_string())].into());
    let err = api.replace("a", &PostParams::default(), &stale).await.expect_err("stale write");
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert_eq!(
                s.message,
                "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // No resourceVersion: unconditional update.
    stale.metadata.resource_version = None;
    api.replace("a", &PostParams::default(), &stale).await.expect("unconditional replace");
    let patched = api
        .patch("a", &PatchParams::default(), &Patch::Merge(json!({"data": {"x": "y"}})))
        .await
        .expect("merge patch");
    assert_eq!(patched.data.as_ref().and_then(|d| d.get("x")).map(String::as_str), Some("y"));
    let applied = api
        .patch(
            "a",
            &PatchParams::apply("tester"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"z": "1"}})),
        )
        .await
        .expect("apply");
    assert_eq!(applied.data.as_ref().map(|d| d.len()), Some(3));
    let list = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);
    api.delete("a", &DeleteParams::default()).await.expect("delete");
    assert!(api.get_opt("a").await.expect("get_opt").is_none());
    let err = api.delete("a", &DeleteParams::default()).await.expect_err("gone");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404 && s.message == "configmaps \"a\" not found")
    );
    c.shutdown().await.expect("clean shutdown");
}

async fn watcher_sees_changes(streaming: bool) {
    let (c, client) = start(ClusterConfig::default()).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &cm("before", json!({}))).await.expect("create");
    let cfg =
        if streaming { watcher::Config::default().streaming_lists() } else { watcher::Config::default() };
    let mut events = watcher(api.clone(), cfg).boxed();
    let mut seen_init = false;
    loop {
        match next(&mut events, "initial events").await.expect("watch ok") {
            watcher::Event::Init => seen_init = true,
            watcher::Event::InitApply(o) => assert_eq!(o.metadata.name.as_deref(), Some("before")),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(seen_init);
    api.create(&PostParams::default(), &cm("after", json!({}))).await.expect("create");
    api.patch("after", &PatchParams::default(), &Patch::Merge(json!({"data": {"a": "b"}})))
        .await
        .expect("patch");
    api.delete("after", &DeleteParams::default()).await.expect("delete");
    let mut got = Vec::new();
    while got.len() < 3 {
        match next(&mut events, "changes").await.expect("watch ok") {
            watcher::Event::Apply(o) => got.push(format!(
                "apply {} {:?}",
                o.metadata.name.unwrap_or_default(),
                o.data.unwrap_or_default().get("a")
            )),
            watcher::Event::Delete(o) => got.push(format!("delete {}", o.metadata.name.unwrap_or_default())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, vec!["apply after None", "apply after Some(\"b\")", "delete after"]);
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_in_list_watch_mode_sees_adds_updates_deletes() {
    watcher_sees_changes(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_in_streaming_list_mode_sees_adds_updates_deletes() {
    watcher_sees_changes(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_after_410_gone() {
    let (c, client) = start(ClusterConfig::builder().history_window(2).build()).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &cm("one", json!({}))).await.expect("create");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    loop {
        if let watcher::Event::InitDone = next(&mut events, "init").await.expect("ok") {
            break;
        }
    }
    // Writes to another resource push the watcher's position out of the retained window (its stream moves on,
    // but kube-rs only remembers versions of ConfigMap events); then the stream is cut and re-watching gets 410.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::default_namespaced(client.clone());
    for i in 0..3 {
        let s = serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}})).expect("secret");
        secrets.create(&PostParams::default(), &s).await.expect("secret");
    }
    c.drop_watches();
    let mut saw_gone = false;
    loop {
        match next(&mut events, "410 then relist").await {
            Err(watcher::Error::WatchError(s)) if s.code == 410 => {
                assert_eq!(s.reason, "Expired");
                saw_gone = true;
            }
            Ok(watcher::Event::InitDone) if saw_gone => break,
            Ok(_) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    api.create(&PostParams::default(), &cm("two", json!({}))).await.expect("create");
    loop {
        if let watcher::Event::Apply(o) = next(&mut events, "apply after relist").await.expect("ok")
            && o.metadata.name.as_deref() == Some("two")
        {
            break;
        }
    }
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reconciles_on_changes() {
    let (c, client) = start(ClusterConfig::default()).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    async fn reconcile(obj: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>) -> Result<Action, kube::Error> {
        let want = obj.data.as_ref().and_then(|d| d.get("v")).cloned().unwrap_or_default();
        let have = obj.metadata.annotations.as_ref().and_then(|a| a.get("seen")).cloned();
        if have.as_deref() != Some(want.as_str()) {
            let name = obj.metadata.name.clone().unwrap_or_default();
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"seen": want}}})),
            )
            .await?;
        }
        Ok(Action::await_change())
    }
    let ctl = Controller::new(api.clone(), watcher::Config::default())
        .run(reconcile, |_, _, _| Action::requeue(Duration::from_millis(100)), Arc::new(api.clone()))
        .for_each(|_| async {});
    let task = tokio::spawn(ctl);
    api.create(&PostParams::default(), &cm("c", json!({"v": "1"}))).await.expect("create");
    let seen = |v: &'static str| {
        let api = api.clone();
        async move {
            eventually(&format!("annotation seen={v}"), || async {
                let o = api.get("c").await.ok()?;
                (o.metadata.annotations?.get("seen")? == v).then_some(())
            })
            .await
        }
    };
    seen("1").await;
    api.patch("c", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "2"}}))).await.expect("patch");
    seen("2").await;
    task.abort();
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_scale_subresources() {
    let (c, client) = start(ClusterConfig::builder().ready_after(Duration::from_millis(50)).build()).await;
    let rs_api: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let rs: ReplicaSet = serde_json::from_value(rs_manifest("app", 1, "img:1")).expect("rs");
    let created = rs_api.create(&PostParams::default(), &rs).await.expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let scale = rs_api.get_scale("app").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
    assert_eq!(scale.status.and_then(|s| s.selector).as_deref(), Some("app=app"));
    rs_api
        .patch_scale("app", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .expect("patch scale");
    let got = eventually("2 available", || async {
        let r = rs_api.get("app").await.ok()?;
        (r.status.as_ref()?.available_replicas == Some(2)).then_some(r)
    })
    .await;
    let st = got.status.expect("status");
    assert_eq!(
        (st.replicas, st.ready_replicas, st.fully_labeled_replicas, st.observed_generation),
        (2, Some(2), Some(2), Some(2))
    );
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let list = pods.list(&ListParams::default().labels("app=app")).await.expect("pods");
    assert_eq!(list.items.len(), 2);
    for p in &list.items {
        let name = p.metadata.name.clone().unwrap_or_default();
        assert!(name.starts_with("app-") && name.len() == 9, "{name}");
        let owner = &p.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("ReplicaSet", Some(true)));
    }
    // Writes to the main resource ignore status; status writes ignore everything else.
    let before = rs_api.get("app").await.expect("get");
    rs_api
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 99}, "metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("patch");
    let after = rs_api.get("app").await.expect("get");
    assert_eq!(after.status.as_ref().map(|s| s.replicas), Some(2));
    assert_eq!(
        after.metadata.generation, before.metadata.generation,
        "metadata-only change keeps generation"
    );

    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_saphyr::from_str(WIDGET_CRD).expect("crd yaml");
    crds.create(&PostParams::default(), &crd).await.expect("crd");
    let widgets = widget_api(&client, "default");
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"replicas": 1}, "status": {"ignored": true}})).expect("w");
    let w = widgets.create(&PostParams::default(), &w).await.expect("create widget");
    assert!(w.data.get("status").is_none(), "status is dropped on create with a status subresource");
    let w = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 3}, "spec": {"replicas": 7}})),
        )
        .await
        .expect("status patch");
    assert_eq!(
        (w.data["status"]["replicas"].clone(), w.data["spec"]["replicas"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(w.metadata.generation, Some(1), "status changes do not bump generation");
    let s = widgets.get_scale("w").await.expect("scale");
    assert_eq!((s.spec.and_then(|s| s.replicas), s.status.map(|s| s.replicas)), (Some(1), Some(3)));
    let mut s = widgets.get_scale("w").await.expect("scale");
    s.spec = Some(k8s_openapi::api::autoscaling::v1::ScaleSpec { replicas: Some(4) });
    widgets.replace_scale("w", &PostParams::default(), &s).await.expect("replace scale");
    let w = widgets.get("w").await.expect("get");
    assert_eq!((w.data["spec"]["replicas"].clone(), w.metadata.generation), (json!(4), Some(2)));
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_complete_or_fail_and_never_ready_images_stay_unready() {
    let cfg = ClusterConfig::builder()
        .ready_after(Duration::from_millis(20))
        .job_complete_after(Duration::from_millis(50))
        .job_outcome("fail:1", JobOutcome::Fail(Duration::from_millis(50)))
        .image_never_ready("broken:2")
        .build();
    let (c, client) = start(cfg).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    for (name, image) in [("ok", "busybox:1"), ("bad", "fail:1")] {
        let job: Job =
            serde_json::from_value(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image}]}}}}))
            .expect("job");
        jobs.create(&PostParams::default(), &job).await.expect("create job");
    }
    for (name, cond) in [("ok", "Complete"), ("bad", "Failed")] {
        let j = eventually(&format!("job {name} {cond}"), || async {
            let j = jobs.get(name).await.ok()?;
            j.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == cond && c.status == "True")
                .then_some(j)
        })
        .await;
        let st = j.status.expect("status");
        if cond == "Complete" {
            assert_eq!((st.succeeded, st.completion_time.is_some()), (Some(1), true));
        } else {
            assert_eq!(st.failed, Some(1));
        }
    }
    let bad_job = Job {
        metadata: kube::api::ObjectMeta { name: Some("always".into()), ..Default::default() },
        spec: serde_json::from_value(
            json!({"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "x"}]}}}),
        )
        .ok(),
        status: None,
    };
    let err = jobs.create(&PostParams::default(), &bad_job).await.expect_err("invalid");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("spec.template.spec.restartPolicy: Unsupported value: \"Always\"")),
        "{err:?}"
    );

    let rs_api: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let rs: ReplicaSet = serde_json::from_value(rs_manifest("broken", 2, "broken:2")).expect("rs");
    rs_api.create(&PostParams::default(), &rs).await.expect("create");
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    eventually("never-ready pods running", || async {
        let l = pods
            .list(&ListParams::default().labels("app=broken").fields("status.phase=Running"))
            .await
            .ok()?;
        (l.items.len() == 2).then_some(())
    })
    .await;
    let r = rs_api.get("broken").await.expect("get");
    assert_eq!(r.status.map(|s| (s.replicas, s.ready_replicas)), Some((2, None)));
    c.shutdown().await.expect("clean shutdown");
}

// ---------------------------------------------------------------- protocol table

/// One HTTP/1.1 request over a plain socket; returns the whole response text.
async fn raw_http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
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

async fn raw(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_cases_answer_like_upstream() {
    let (c, client) = start(ClusterConfig::default()).await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let ok_cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "1"}}});
    raw(&client, "POST", cms, "application/json", ok_cm.clone()).await.expect("create x");
    raw(&client, "POST", cms, "application/json", json!({"metadata": {"name": "y", "labels": {"a": "2"}}}))
        .await
        .expect("create y (kind defaulted)");
    raw(&client, "POST", cms, "application/json", json!({"metadata": {"generateName": "gen-"}}))
        .await
        .expect("generateName");
    let x = raw(&client, "GET", &format!("{cms}/x"), "", Value::Null).await.expect("get x");
    let x_rv = x["metadata"]["resourceVersion"].as_str().expect("rv").to_string();

    // (method, path, content type, body, expected code, reason, message fragment)
    let cases: Vec<(&str, String, &str, Value, u16, &str, &str)> = vec![
        ("GET", format!("{cms}/nope"), "", Value::Null, 404, "NotFound", "configmaps \"nope\" not found"),
        (
            "GET",
            "/apis/apps/v1/namespaces/default/replicasets/nope".into(),
            "",
            Value::Null,
            404,
            "NotFound",
            "replicasets.apps \"nope\" not found",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/nothings".into(),
            "",
            Value::Null,
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
        (
            "POST",
            cms.into(),
            "application/json",
            ok_cm.clone(),
            409,
            "AlreadyExists",
            "configmaps \"x\" already exists",
        ),
        (
            "POST",
            cms.into(),
            "application/json",
            json!({"metadata": {}}),
            422,
            "Invalid",
            "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required",
        ),
        (
            "POST",
            cms.into(),
            "application/json",
            json!({"metadata": {"name": "Bad_Name"}}),
            422,
            "Invalid",
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain",
        ),
        (
            "POST",
            cms.into(),
            "application/json",
            json!({"kind": "Secret", "metadata": {"name": "k"}}),
            400,
            "BadRequest",
            "kind",
        ),
        (
            "POST",
            cms.into(),
            "application/json",
            json!({"metadata": {"name": "n", "namespace": "other"}}),
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        ),
        (
            "POST",
            "/api/v1/namespaces/absent/configmaps".into(),
            "application/json",
            json!({"metadata": {"name": "n"}}),
            404,
            "NotFound",
            "namespaces \"absent\" not found",
        ),
        (
            "PUT",
            format!("{cms}/x"),
            "application/json",
            json!({"metadata": {"name": "x", "resourceVersion": "1"}}),
            409,
            "Conflict",
            "the object has been modified",
        ),
        (
            "PUT",
            format!("{cms}/x"),
            "application/json",
            json!({"metadata": {"name": "other"}}),
            400,
            "BadRequest",
            "the name of the object (other) does not match the name on the URL (x)",
        ),
        (
            "PUT",
            format!("{cms}/nope"),
            "application/json",
            json!({"metadata": {"name": "nope"}}),
            404,
            "NotFound",
            "configmaps \"nope\" not found",
        ),
        (
            "PATCH",
            format!("{cms}/nope"),
            "application/merge-patch+json",
            json!({}),
            404,
            "NotFound",
            "not found",
        ),
        (
            "PATCH",
            format!("{cms}/x"),
            "application/merge-patch+json",
            json!({"metadata": {"resourceVersion": "1"}}),
            409,
            "Conflict",
            "the object has been modified",
        ),
        (
            "PATCH",
            format!("{cms}/x"),
            "application/json-patch+json",
            json!([{"op": "test", "path": "/data", "value": 1}]),
            422,
            "Invalid",
            "",
        ),
        (
            "PATCH",
            format!("{cms}/x"),
            "text/plain",
            json!({}),
            415,
            "UnsupportedMediaType",
            "application/strategic-merge-patch+json",
        ),
        (
            "PATCH",
            format!("{cms}/x"),
            "application/apply-patch+yaml",
            json!({"apiVersion": "v1", "kind": "ConfigMap"}),
            422,
            "Invalid",
            "fieldManager: Required value: is required for apply patch",
        ),
        (
            "POST",
            format!("{cms}/x"),
            "application/json",
            json!({}),
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
        ("GET", format!("{cms}?labelSelector=a%20in%20()"), "", Value::Null, 400, "BadRequest", ""),
        (
            "GET",
            "/api/v1/pods?fieldSelector=spec.bogus%3D1".into(),
            "",
            Value::Null,
            400,
            "BadRequest",
            "field label not supported: spec.bogus",
        ),
        (
            "GET",
            format!("{cms}?fieldSelector=data.a%3D1"),
            "",
            Value::Null,
            400,
            "BadRequest",
            "field label not supported: data.a",
        ),
        (
            "DELETE",
            format!("{cms}/x"),
            "application/json",
            json!({"preconditions": {"uid": "not-it"}}),
            409,
            "Conflict",
            "Precondition failed: UID in precondition: not-it",
        ),
        ("GET", format!("{cms}?resourceVersion=1&resourceVersionMatch=Exact"), "", Value::Null, 200, "", ""),
        (
            "GET",
            format!("{cms}?resourceVersion=0&resourceVersionMatch=Exact"),
            "",
            Value::Null,
            422,
            "Invalid",
            "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        ),
        (
            "GET",
            format!("{cms}?limit=1&continue=abc&resourceVersion=1&resourceVersionMatch=NotOlderThan"),
            "",
            Value::Null,
            422,
            "Invalid",
            "resourceVersionMatch is forbidden when continue is provided",
        ),
        (
            "PATCH",
            format!("{cms}/x"),
            "application/json-patch+json",
            Value::Array(vec![json!({"op": "test", "path": "/kind", "value": "ConfigMap"}); 10_001]),
            422,
            "Invalid",
            "The allowed maximum operations in a JSON patch is 10000, got 10001",
        ),
        (
            "POST",
            "/apis/apps/v1/namespaces/default/replicasets".into(),
            "application/json",
            json!({"metadata": {"name": "neg"}, "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "1"}},
                "template": {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
            422,
            "Invalid",
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            "GET",
            format!("{cms}?watch=1&sendInitialEvents=true"),
            "",
            Value::Null,
            422,
            "Invalid",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ),
        ("DELETE", "/api/v1/namespaces/default".into(), "", Value::Null, 200, "", ""),
    ];
    for (method, path, ct, body, code, reason, msg) in cases {
        if path == "/api/v1/namespaces/default" {
            continue; // namespace deletion is covered below
        }
        match raw(&client, method, &path, ct, body).await {
            Ok(_) if code == 200 => {}
            Ok(v) => panic!("{method} {path}: expected {code} {reason}, got success {v}"),
            Err(s) => {
                assert_eq!((s.code, s.reason.as_str()), (code, reason), "{method} {path}: {}", s.message);
                assert!(s.message.contains(msg), "{method} {path}: message {:?} lacks {msg:?}", s.message);
                assert_eq!(s.status, Some(kube::core::response::StatusSummary::Failure));
            }
        }
    }

    // A resourceVersion from the future: 504 (kube-rs retries 504s, so this is checked below the client).
    let head = raw_http(c.addr(), "GET", &format!("{cms}?resourceVersion=99999999"), "").await;
    assert!(
        head.starts_with("HTTP/1.1 504") && head.contains("Too large resource version: 99999999"),
        "{head}"
    );

    // Lists: selectors, limit/continue, resourceVersion in list metadata.
    let all = raw(&client, "GET", cms, "", Value::Null).await.expect("list");
    assert_eq!(all["kind"], "ConfigMapList");
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3));
    let list_rv: u64 =
        all["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).expect("list rv");
    for (sel, want) in
        [("a=1", 1), ("a!=1", 2), ("a", 2), ("!a", 1), ("a%20in%20(1,2)", 2), ("a%20notin%20(1)", 2)]
    {
        let l =
            raw(&client, "GET", &format!("{cms}?labelSelector={sel}"), "", Value::Null).await.expect("list");
        assert_eq!(l["items"].as_array().map(Vec::len), Some(want), "selector {sel}");
    }
    let l = raw(&client, "GET", &format!("{cms}?fieldSelector=metadata.name%3Dx"), "", Value::Null)
        .await
        .expect("list");
    assert_eq!(l["items"].as_array().map(Vec::len), Some(1));
    let page1 = raw(&client, "GET", &format!("{cms}?limit=2"), "", Value::Null).await.expect("page 1");
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page1["metadata"]["remainingItemCount"], 1);
    let token = page1["metadata"]["continue"].as_str().expect("continue").to_string();
    // A change between pages does not show up: pages are consistent with the first page's resourceVersion.
    raw(&client, "POST", cms, "application/json", json!({"metadata": {"name": "zz-late"}}))
        .await
        .expect("create");
    let with_rv =
        raw(&client, "GET", &format!("{cms}?limit=2&continue={token}&resourceVersion=1"), "", Value::Null)
            .await
            .expect_err("continue with a resourceVersion");
    assert_eq!(
        (with_rv.code, with_rv.message.as_str()),
        (400, "specifying resource version is not allowed when using continue")
    );
    let page2 = raw(&client, "GET", &format!("{cms}?limit=2&continue={token}"), "", Value::Null)
        .await
        .expect("page 2");
    assert_eq!(page2["items"].as_array().map(Vec::len), Some(1));
    assert!(page2["metadata"].get("continue").is_none_or(|c| c.as_str() == Some("")));
    assert_eq!(page2["metadata"]["resourceVersion"], page1["metadata"]["resourceVersion"]);
    // Exact list at an older resourceVersion is rebuilt from history.
    let exact = raw(
        &client,
        "GET",
        &format!("{cms}?resourceVersion={list_rv}&resourceVersionMatch=Exact"),
        "",
        Value::Null,
    )
    .await
    .expect("exact");
    assert_eq!(exact["items"].as_array().map(Vec::len), Some(3));
    c.compact_history();
    let err = raw(&client, "GET", &format!("{cms}?limit=2&continue={token}"), "", Value::Null)
        .await
        .expect_err("expired token");
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
    let err = raw(
        &client,
        "GET",
        &format!("{cms}?resourceVersion={list_rv}&resourceVersionMatch=Exact"),
        "",
        Value::Null,
    )
    .await
    .expect_err("too old");
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));

    // Discovery.
    let api = raw(&client, "GET", "/api", "", Value::Null).await.expect("/api");
    assert_eq!(api["versions"], json!(["v1"]));
    let apps = raw(&client, "GET", "/apis/apps/v1", "", Value::Null).await.expect("/apis/apps/v1");
    assert!(apps["resources"].as_array().into_iter().flatten().any(|r| r["name"] == "replicasets/scale"));
    let v = raw(&client, "GET", "/version", "", Value::Null).await.expect("/version");
    assert_eq!(v["major"], "1");
    let _ = x_rv;
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resource_version_rules_bookmarks_and_selectors() {
    let (c, client) =
        start(ClusterConfig::builder().bookmark_interval(Duration::from_millis(200)).build()).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let a = api.create(&PostParams::default(), &cm("a", json!({}))).await.expect("a");
    let rv_a = a.metadata.resource_version.clone().expect("rv");
    let b = api.create(&PostParams::default(), &cm("b", json!({}))).await.expect("b");

    // From rv_a: only strictly newer events (b's ADDED), not a.
    let mut s = api.watch(&WatchParams::default().timeout(30), &rv_a).await.expect("watch").boxed();
    match next_change(&mut s, "b added").await {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("b")),
        other => panic!("unexpected {other:?}"),
    }
    // "0": synthetic ADDED for current objects.
    let mut s0 = api.watch(&WatchParams::default().timeout(30), "0").await.expect("watch").boxed();
    let mut names = vec![];
    for _ in 0..2 {
        if let WatchEvent::Added(o) = next_change(&mut s0, "initial").await {
            names.push(o.metadata.name.unwrap_or_default());
        }
    }
    assert_eq!(names, vec!["a", "b"]);
    // Streaming list: initial ADDED then the initial-events-end bookmark.
    let wp = WatchParams::streaming_lists().timeout(30);
    let mut sl = api.watch(&wp, "0").await.expect("watch").boxed();
    let mut initial = 0;
    loop {
        match next(&mut sl, "initial events").await.expect("event") {
            WatchEvent::Added(_) => initial += 1,
            WatchEvent::Bookmark(bm) => {
                assert_eq!(
                    bm.metadata.annotations.get("k8s.io/initial-events-end").map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, 2);
    // Periodic bookmarks when allowed.
    let rv_b = b.metadata.resource_version.clone().expect("rv");
    let mut bm = api.watch(&WatchParams::default().timeout(30), &rv_b).await.expect("watch").boxed();
    assert!(matches!(next(&mut bm, "periodic bookmark").await.expect("event"), WatchEvent::Bookmark(_)));

    // Label selector transitions: an object that stops matching is DELETED for this watcher.
    let mut sel =
        api.watch(&WatchParams::default().timeout(30).labels("team=x"), &rv_b).await.expect("watch").boxed();
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"team": "x"}}})))
        .await
        .expect("label");
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "v"}})))
        .await
        .expect("modify");
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"team": "y"}}})))
        .await
        .expect("relabel");
    let kinds: Vec<&str> = [
        next_change(&mut sel, "enter").await,
        next_change(&mut sel, "modify").await,
        next_change(&mut sel, "leave").await,
    ]
    .iter()
    .map(|e| match e {
        WatchEvent::Added(_) => "ADDED",
        WatchEvent::Modified(_) => "MODIFIED",
        WatchEvent::Deleted(_) => "DELETED",
        _ => "OTHER",
    })
    .collect();
    assert_eq!(kinds, vec!["ADDED", "MODIFIED", "DELETED"]);

    // 410 Gone in-stream for a position older than the retained history.
    c.compact_history();
    let mut old = api.watch(&WatchParams::default().timeout(30), &rv_a).await.expect("watch").boxed();
    match next_change(&mut old, "410").await {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(e.message.starts_with("too old resource version"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // timeoutSeconds ends the stream.
    let mut short = api
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), &c.resource_version().to_string())
        .await
        .expect("watch")
        .boxed();
    assert!(tokio::time::timeout(WAIT, short.next()).await.expect("stream ends").is_none());
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_finalizers_garbage_collection_and_namespaces() {
    let (c, client) = start(ClusterConfig::builder().ready_after(Duration::from_millis(10)).build()).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("ns"),
    )
    .await
    .expect("ns");
    let widgets_crd: DynamicObject = serde_saphyr::from_str(WIDGET_CRD).expect("crd");
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.create(&PostParams::default(), &widgets_crd).await.expect("crd");
    let widgets = widget_api(&client, "team");
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "finalizers": ["example.com/hold"]}, "spec": {"replicas": 1}}))
    .expect("w");
    let w = widgets.create(&PostParams::default(), &w).await.expect("widget");
    assert_eq!(w.metadata.generation, Some(1));
    let w2 = widgets
        .patch("w", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"l": "1"}}})))
        .await
        .expect("meta");
    assert_eq!(w2.metadata.generation, Some(1), "metadata change keeps generation");
    let w3 = widgets
        .patch("w", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .expect("spec");
    assert_eq!(w3.metadata.generation, Some(2), "spec change bumps generation");
    let same = widgets
        .patch("w", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .expect("noop");
    assert_eq!(
        same.metadata.resource_version, w3.metadata.resource_version,
        "no-op writes keep the resourceVersion"
    );

    // Owned ConfigMaps: background GC deletes, orphan keeps.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let owner_ref =
        |uid: &str| json!([{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": uid}]);
    let uid = w.metadata.uid.clone().expect("uid");
    for name in ["dep1", "dep2"] {
        let o: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": owner_ref(&uid)}}))
                .expect("cm");
        cms.create(&PostParams::default(), &o).await.expect("dependent");
    }
    // Delete with a finalizer: deletionTimestamp set, object stays until the finalizer goes.
    widgets.delete("w", &DeleteParams::default()).await.expect("delete");
    let held = widgets.get("w").await.expect("still there");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.metadata.generation, Some(3), "deletionTimestamp bumps generation");
    let err = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "more"]}})),
        )
        .await
        .expect_err("no new finalizers");
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 422), "{err:?}");
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([{"op": "remove", "path": "/metadata/finalizers"}]))
                    .expect("patch"),
            ),
        )
        .await
        .expect("drop finalizer");
    assert!(widgets.get_opt("w").await.expect("get").is_none());
    eventually("dependents collected", || async {
        cms.list(&ListParams::default()).await.ok()?.items.is_empty().then_some(())
    })
    .await;

    // Orphan propagation keeps dependents and strips the owner reference.
    let owner = cms.create(&PostParams::default(), &cm("owner", json!({}))).await.expect("owner");
    let ouid = owner.metadata.uid.clone().expect("uid");
    let dep: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "kept", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": ouid}]}})).expect("cm");
    cms.create(&PostParams::default(), &dep).await.expect("dep");
    let dp =
        DeleteParams { propagation_policy: Some(kube::api::PropagationPolicy::Orphan), ..Default::default() };
    cms.delete("owner", &dp).await.expect("orphan delete");
    let kept = cms.get("kept").await.expect("kept");
    assert!(kept.metadata.owner_references.is_none());

    // ReplicaSet pods go with the ReplicaSet.
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "team");
    rss.create(&PostParams::default(), &serde_json::from_value(rs_manifest("r", 2, "i:1")).expect("rs"))
        .await
        .expect("rs");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "team");
    eventually("2 pods", || async {
        (pods.list(&ListParams::default()).await.ok()?.items.len() == 2).then_some(())
    })
    .await;
    rss.delete("r", &DeleteParams::default()).await.expect("delete rs");
    eventually("pods gone", || async {
        pods.list(&ListParams::default()).await.ok()?.items.is_empty().then_some(())
    })
    .await;

    // Namespace deletion removes its objects; default namespaces exist.
    rss.create(&PostParams::default(), &serde_json::from_value(rs_manifest("r2", 1, "i:1")).expect("rs"))
        .await
        .expect("rs");
    nss.delete("team", &DeleteParams::default()).await.expect("delete ns");
    eventually("namespace gone", || async { nss.get_opt("team").await.ok()?.is_none().then_some(()) }).await;
    assert!(cms.list(&ListParams::default()).await.expect("list").items.is_empty());
    for ns in ["default", "kube-system"] {
        assert!(nss.get_opt(ns).await.expect("get").is_some());
    }
    let err = nss.delete("default", &DeleteParams::default()).await.expect_err("protected");
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 403), "{err:?}");
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_state_persistence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, client) = start(ClusterConfig::builder().state_dir(dir.path()).build()).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    // A raw request sees 429 with Retry-After (kube-rs itself retries 429s, so it is checked below the client).
    c.set_faults(Faults::none().failing_writes(1.0, &[InjectedError::TooManyRequests]).with_retry_after(7));
    let head =
        raw_http(c.addr(), "POST", "/api/v1/namespaces/default/configmaps", r#"{"metadata":{"name":"r"}}"#)
            .await;
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 7"), "{head}");
    assert!(head.contains("\"reason\":\"TooManyRequests\""), "{head}");
    // Reads are never failed; delay applies to everything.
    c.set_faults(Faults::none().with_delay(Duration::from_millis(1)));
    api.list(&ListParams::default()).await.expect("list with delay");
    c.set_faults(
        Faults::none().failing_writes(1.0, &[InjectedError::Internal, InjectedError::Conflict]).with_seed(3),
    );
    let mut codes = vec![];
    for i in 0..3 {
        match api.create(&PostParams::default(), &cm(&format!("f{i}"), json!({}))).await {
            Err(kube::Error::Api(s)) => codes.push(s.code),
            other => panic!("expected an injected error, got {other:?}"),
        }
    }
    assert_eq!(codes, vec![500, 409, 500]);
    // A fraction fails deterministically for a given seed.
    let run = |seed| {
        let api = api.clone();
        let c = &c;
        async move {
            c.set_faults(Faults::none().failing_writes(0.5, &[InjectedError::Conflict]).with_seed(seed));
            let mut outcome = vec![];
            for i in 0..8 {
                let r = api
                    .patch(
                        "kept",
                        &PatchParams::default(),
                        &Patch::Merge(json!({"data": {"i": i.to_string()}})),
                    )
                    .await;
                outcome.push(r.is_ok());
            }
            outcome
        }
    };
    c.set_faults(Faults::none());
    api.create(&PostParams::default(), &cm("kept", json!({"a": "1"}))).await.expect("create");
    let first = run(11).await;
    assert_eq!(first, run(11).await);
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
    c.set_faults(Faults::none());
    c.shutdown().await.expect("shutdown saves");
    assert!(dir.path().join("serin-state.yaml").exists());
    let (c2, client2) = start(ClusterConfig::builder().state_dir(dir.path()).build()).await;
    let api2: Api<ConfigMap> = Api::default_namespaced(client2);
    let kept = api2.get("kept").await.expect("restored");
    assert_eq!(kept.data.and_then(|d| d.get("a").cloned()).as_deref(), Some("1"));
    assert!(api2.get_opt("r").await.expect("get").is_none());
    c2.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collector_rules_unconditional_updates_and_event_ttl() {
    let (_c, client) = start(ClusterConfig::builder().event_ttl(Duration::ZERO).build()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owner = |o: &ConfigMap| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o.metadata.name, "uid": o.metadata.uid});
    let a = cms.create(&PostParams::default(), &cm("a", json!({}))).await.expect("a");
    let b = cms.create(&PostParams::default(), &cm("b", json!({}))).await.expect("b");

    // Two owners: deleting one strips its reference; deleting the last deletes the dependent.
    let two: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "two", "ownerReferences": [owner(&a), owner(&b)]}}),
    )
    .expect("cm");
    cms.create(&PostParams::default(), &two).await.expect("two owners");
    cms.delete("a", &DeleteParams::default()).await.expect("delete a");
    let kept = cms.get("two").await.expect("still owned by b");
    let uids: Vec<String> =
        kept.metadata.owner_references.unwrap_or_default().into_iter().map(|r| r.uid).collect();
    assert_eq!(uids, vec![b.metadata.uid.clone().expect("uid")]);
    cms.delete("b", &DeleteParams::default()).await.expect("delete b");
    assert!(cms.get_opt("two").await.expect("get").is_none(), "its last owner went");

    // An object created with only dangling owners is collected at once, as the garbage collector would.
    let orphan: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dangling",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "no-such-uid"}]}}))
    .expect("cm");
    cms.create(&PostParams::default(), &orphan).await.expect("create is accepted");
    assert!(cms.get_opt("dangling").await.expect("get").is_none());

    // Server-side apply of the same configuration twice writes once.
    let pp = PatchParams::apply("serin-test");
    let applied =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "v"}});
    let first = cms.patch("ssa", &pp, &Patch::Apply(&applied)).await.expect("apply");
    let again = cms.patch("ssa", &pp, &Patch::Apply(&applied)).await.expect("apply again");
    assert_eq!(again.metadata.resource_version, first.metadata.resource_version, "nothing changed");

    // A custom resource cannot be replaced without a resourceVersion.
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.create(&PostParams::default(), &serde_saphyr::from_str(WIDGET_CRD).expect("crd"))
        .await
        .expect("crd");
    let widgets = widget_api(&client, "default");
    let w: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"n": 1}}),
    )
    .expect("w");
    widgets.create(&PostParams::default(), &w).await.expect("widget");
    let Err(kube::Error::Api(s)) = widgets.replace("w", &PostParams::default(), &w).await else {
        panic!("an unconditional update of a custom resource must fail");
    };
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message.contains("metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")
    );
    let cm_without_rv = cm("a2", json!({}));
    cms.create(&PostParams::default(), &cm_without_rv).await.expect("a2");
    cms.replace("a2", &PostParams::default(), &cm_without_rv).await.expect("built-in types allow it");

    // Events expire after the TTL (zero here): creating one collects the expired ones of its type.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    for name in ["e1", "e2"] {
        let e = serde_json::from_value(json!({"metadata": {"name": name},
            "involvedObject": {"kind": "ConfigMap", "name": "a2", "namespace": "default"}, "message": "m"}))
        .expect("event");
        events.create(&PostParams::default(), &e).await.expect("event");
    }
    let names: Vec<String> = events
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|e| e.metadata.name)
        .collect();
    assert_eq!(names, vec!["e2".to_string()]);
}

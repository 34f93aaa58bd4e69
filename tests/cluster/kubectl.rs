//! The machine's real `kubectl` against the embedded cluster.

use super::support::*;

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

//! The kubectl verbs a user types, on both substrates: generators (which send protobuf), reads in every output
//! form, watches, describe with the Events the controllers record, patches of all three kinds, scale, label,
//! annotate, apply client- and server-side, waits, rollout status, cascading deletes and discovery.

use crate::e2e::wait::eventually;
use serde_json::Value;

on_both_substrates! {
    async fn kubectl_verbs_work_as_on_the_real_server(s: &Substrate) {
        let json_of = |text: String| -> Value { serde_json::from_str(&text).expect("kubectl prints JSON") };
        let other = format!("{}-made", s.namespace);
        assert_eq!(s.kubectl_ok(&["create", "namespace", &other]).await.trim(), format!("namespace/{other} created"));
        assert_eq!(s.kubectl_ok(&["create", "configmap", "c1", "--from-literal=a=1"]).await.trim(), "configmap/c1 created");
        s.kubectl_ok(&["create", "secret", "generic", "s1", "--from-literal=p=secret"]).await;
        s.kubectl_ok(&["create", "deployment", "web", "--image=app:v1", "--replicas=2"]).await;
        s.kubectl_ok(&["create", "job", "j1", "--image=app:v1", "--", "echo", "hi"]).await;
        s.kubectl_ok(&["create", "serviceaccount", "sa1"]).await;
        s.kubectl_ok(&["run", "p1", "--image=app:v1", "--labels=app=p1"]).await;

        let cm = json_of(s.kubectl_ok(&["get", "configmap", "c1", "-o", "json"]).await);
        assert_eq!(cm["data"]["a"], "1");
        let secret = s.kubectl_ok(&["get", "secret", "s1", "-o", "yaml"]).await;
        assert!(secret.contains("p: c2VjcmV0"), "{secret}");
        s.kubectl_ok(&["wait", "--for=condition=Ready", "pod/p1", "--timeout=120s"]).await;
        let wide = s.kubectl_ok(&["get", "pod", "p1", "-o", "wide"]).await;
        assert!(wide.lines().next().is_some_and(|h| h.contains("NODE") && h.contains("IP")), "{wide}");
        assert!(wide.contains("Running"), "{wide}");

        s.kubectl_ok(&["wait", "--for=condition=Available", "deployment/web", "--timeout=120s"]).await;
        s.kubectl_ok(&["scale", "deployment/web", "--replicas=3"]).await;
        let status = s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=120s"]).await;
        assert!(status.contains("successfully rolled out"), "{status}");
        s.kubectl_ok(&["wait", "--for=condition=Complete", "job/j1", "--timeout=120s"]).await;

        // describe shows the Events the scheduler and the controllers recorded.
        let described = s.kubectl_ok(&["describe", "pod", "p1"]).await;
        assert!(described.contains("Events:") && described.contains("Scheduled"), "{described}");
        let described = s.kubectl_ok(&["describe", "deployment", "web"]).await;
        assert!(described.contains("ScalingReplicaSet"), "{described}");

        s.kubectl_ok(&["label", "configmap", "c1", "tier=db"]).await;
        s.kubectl_ok(&["annotate", "configmap", "c1", "note=x"]).await;
        s.kubectl_ok(&["patch", "configmap", "c1", "--type=merge", "-p", r#"{"data":{"b":"2"}}"#]).await;
        s.kubectl_ok(&["patch", "configmap", "c1", "--type=json", "-p", r#"[{"op":"add","path":"/data/c","value":"3"}]"#]).await;
        let cm = json_of(s.kubectl_ok(&["get", "configmap", "c1", "-o", "json"]).await);
        assert_eq!(cm["metadata"]["labels"]["tier"], "db");
        assert_eq!(cm["metadata"]["annotations"]["note"], "x");
        assert_eq!((cm["data"]["a"].as_str(), cm["data"]["b"].as_str(), cm["data"]["c"].as_str()), (Some("1"), Some("2"), Some("3")));
        // A strategic patch merges the container list by name.
        s.kubectl_ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:v2"}]}}}}"#]).await;
        let web = json_of(s.kubectl_ok(&["get", "deployment", "web", "-o", "json"]).await);
        let containers = web["spec"]["template"]["spec"]["containers"].as_array().expect("containers");
        assert_eq!((containers.len(), containers[0]["image"].as_str()), (1, Some("app:v2")));
        s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=120s"]).await;

        // apply, client-side then server-side, without --validate=false.
        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied}\ndata: {a: \"1\"}\n";
        s.kubectl_with_input(&["apply", "-f", "-"], manifest).await;
        let changed = manifest.replace("\"1\"", "\"2\"");
        let out = s.kubectl_with_input(&["apply", "--server-side", "--force-conflicts", "-f", "-"], &changed).await;
        assert!(out.contains("configmap/applied serverside-applied"), "{out}");
        let applied = json_of(s.kubectl_ok(&["get", "configmap", "applied", "-o", "json"]).await);
        assert_eq!(applied["data"]["a"], "2");

        // get -w lists, then watches from the list's resourceVersion: what is created after the list shows.
        let mut watch = s
            .kubectl()
            .args(["get", "configmaps", "-w", "-o", "name"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl get -w");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(watch.stdout.take().expect("stdout")));
        let mut next = async || {
            tokio::time::timeout(std::time::Duration::from_secs(120), lines.next_line())
                .await
                .expect("kubectl get -w prints within two minutes")
                .expect("read")
                .expect("kubectl get -w keeps running")
        };
        while next().await != "configmap/c1" {}
        s.kubectl_ok(&["create", "configmap", "watched"]).await;
        while next().await != "configmap/watched" {}
        let _ = watch.kill().await;

        // Cascading deletes: foreground waits for the dependents, and the ReplicaSets go with the Deployment.
        s.kubectl_ok(&["delete", "deployment", "web", "--cascade=foreground", "--wait=true"]).await;
        eventually("web's ReplicaSets gone", || async {
            let out = s.kubectl_ok(&["get", "replicasets", "-l", "app=web", "-o", "name"]).await;
            out.trim().is_empty().then_some(())
        })
        .await;
        s.kubectl_ok(&["delete", "pod", "p1", "--wait=true"]).await;

        let resources = s.kubectl_ok(&["api-resources"]).await;
        assert!(resources.lines().any(|l| l.starts_with("rollouts ") && l.contains("argoproj.io/v1alpha1")), "{resources}");
        assert_eq!(resources.lines().filter(|l| l.starts_with("pods ")).count(), 1, "{resources}");
        let explained = s.kubectl_ok(&["explain", "rollouts.metadata.labels"]).await;
        assert!(explained.contains("map[string]string"), "{explained}");

        s.kubectl_ok(&["delete", "namespace", &other, "--wait=false"]).await;
    }
}

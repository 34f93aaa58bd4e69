//! Generation, finalizers, garbage collection, namespaces, faults, persistence and Event expiry.

use super::support::*;

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

/// `serin cluster --state-dir` saves on either clean stop: Ctrl-C (SIGINT) and SIGTERM (what `kill`, systemd and
/// Kubernetes send), so no acknowledged write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_command_saves_its_state_on_sigint_and_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let kubeconfig = dir.path().join("kubeconfig");
    for (signal, name) in [(libc::SIGTERM, "terminated"), (libc::SIGINT, "interrupted")] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_serin"))
            .args(["cluster", "--listen", &format!("127.0.0.1:{port}"), "--kubeconfig-out"])
            .arg(&kubeconfig)
            .arg("--state-dir")
            .arg(&state)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("serin cluster");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        loop {
            let line = lines.next_line().await.expect("read").expect("the cluster says it listens");
            if line.starts_with("serin cluster listening on ") {
                break;
            }
        }
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("config");
        let api: Api<ConfigMap> = Api::default_namespaced(kube::Client::try_from(config).expect("client"));
        api.create(&PostParams::default(), &cm(name, json!({"signal": name}))).await.expect("create");
        // SAFETY: signals the child this test spawned and still owns.
        assert_eq!(unsafe { libc::kill(child.id().expect("pid") as libc::pid_t, signal) }, 0);
        let rest: Vec<String> = {
            let mut rest = Vec::new();
            while let Some(line) = lines.next_line().await.expect("read") {
                rest.push(line);
            }
            rest
        };
        let status = child.wait().await.expect("exit");
        assert!(status.success(), "{name}: {status:?} {rest:?}");
        assert!(rest.contains(&format!("{name}: shutting down")), "{rest:?}");
        let saved = std::fs::read_to_string(state.join("serin-state.yaml")).expect("state saved");
        assert!(saved.contains(&format!("signal: {name}")), "{name} was not saved");
    }
    // Both writes survive: the second run loaded the first one's state and saved it again.
    let saved = std::fs::read_to_string(state.join("serin-state.yaml")).expect("state");
    assert!(saved.contains("signal: terminated") && saved.contains("signal: interrupted"));
}

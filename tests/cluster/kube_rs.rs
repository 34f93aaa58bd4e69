//! kube-rs against the embedded cluster: CRUD, watchers, a Controller, subresources and the simulated kubelet.

use super::support::*;

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
async fn eviction_deletes_the_pod_and_checks_its_name() {
    let (c, client) = start(ClusterConfig::builder().ready_after(Duration::from_millis(50)).build()).await;
    let rs_api: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let rs: ReplicaSet = serde_json::from_value(rs_manifest("ev", 1, "img:1")).expect("rs");
    rs_api.create(&PostParams::default(), &rs).await.expect("create");
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let first = eventually("a pod", || async {
        pods.list(&ListParams::default().labels("app=ev")).await.ok()?.items.into_iter().next()
    })
    .await;
    let name = first.metadata.name.clone().expect("name");
    let mismatch = client
        .request::<serde_json::Value>(
            http::Request::post(format!("/api/v1/namespaces/default/pods/{name}/eviction"))
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}})).expect("body"))
                .expect("request"),
        )
        .await;
    assert!(
        matches!(&mismatch, Err(kube::Error::Api(e)) if e.code == 400 && e.message.contains("does not match")),
        "{mismatch:?}"
    );
    pods.evict(&name, &Default::default()).await.expect("evict");
    eventually("a replacement pod", || async {
        let list = pods.list(&ListParams::default().labels("app=ev")).await.ok()?.items;
        (list.len() == 1 && list[0].metadata.name.as_deref() != Some(name.as_str())).then_some(())
    })
    .await;
    assert!(pods.get_opt(&name).await.expect("get").is_none(), "the evicted pod is gone");
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

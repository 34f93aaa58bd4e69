//! A table of protocol cases (status codes, reasons, list and watch resourceVersion rules, selectors).

use super::support::*;

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

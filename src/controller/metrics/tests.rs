//! Upstream's metric lines (`controller/metrics/*_test.go`) restated: the same objects give the same series.

use super::*;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use serde_json::json;

fn rollout(value: serde_json::Value) -> Rollout {
    serde_json::from_value(value).expect("rollout")
}

fn store<K>(objects: Vec<K>) -> Store<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&Event::Apply(o));
    }
    reader
}

#[test]
fn the_metric_phase_comes_from_the_conditions() {
    let with = |conditions: serde_json::Value| {
        rollout(json!({
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"strategy": {"canary": {}}},
            "status": {"conditions": conditions}
        }))
    };
    let progressing = |reason: &str| {
        json!({"type": "Progressing", "status": "True", "reason": reason, "message": "",
        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"})
    };
    let invalid = json!({"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": "",
        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"});
    let cases = [
        (json!([]), "Progressing"),
        (json!([progressing("ReplicaSetUpdated")]), "Progressing"),
        (json!([progressing("NewReplicaSetAvailable")]), "Completed"),
        (json!([progressing("RolloutPaused")]), "Paused"),
        (json!([progressing("ReplicaSetCreateError")]), "Error"),
        (json!([progressing("ProgressDeadlineExceeded")]), "Timeout"),
        (json!([progressing("RolloutAborted")]), "Abort"),
        (json!([progressing("NewReplicaSetAvailable"), invalid]), "InvalidSpec"),
    ];
    for (conditions, want) in cases {
        assert_eq!(rollout_metric_phase(&with(conditions.clone())), want, "{conditions}");
    }
}

#[test]
fn strategy_and_router_as_upstream_names_them() {
    let cases = [
        (json!({"blueGreen": {"activeService": "a"}}), ("blueGreen", "")),
        (json!({"canary": {}}), ("canary", "")),
        (json!({"canary": {"trafficRouting": {"smi": {}}}}), ("canary", "SMI")),
        (
            json!({"canary": {"trafficRouting": {"istio": {"virtualService": {"name": "v"}}, "smi": {}}}}),
            ("canary", "SMI"),
        ),
        (json!({"canary": {"trafficRouting": {"plugins": {"org/x": {}}}}}), ("canary", "Plugin")),
        (json!({}), ("none", "")),
    ];
    for (strategy, (want_strategy, want_router)) in cases {
        let ro = rollout(json!({"metadata": {"name": "r"}, "spec": {"strategy": strategy}}));
        let (s, r) = strategy_and_router(&ro);
        assert_eq!((s, r.as_str()), (want_strategy, want_router), "{strategy}");
    }
}

#[test]
fn the_scrape_has_upstreams_lines() {
    let metrics = Metrics::new();
    metrics.watch_rollouts(store(vec![
        rollout(json!({
            "metadata": {"name": "guestbook-canary", "namespace": "default"},
            "spec": {"replicas": 3, "strategy": {"canary": {"trafficRouting": {"smi": {}}}}},
            "status": {"replicas": 4, "availableReplicas": 3, "updatedReplicas": 1}
        })),
        rollout(json!({
            "metadata": {"name": "guestbook-bluegreen", "namespace": "default"},
            "spec": {"strategy": {"blueGreen": {"activeService": "a"}}}
        })),
    ]));
    let run: AnalysisRun = serde_json::from_value(json!({
        "metadata": {"name": "http-benchmark-test-tr8rn", "namespace": "jesse-test"},
        "spec": {"metrics": [{"name": "webmetric", "provider": {"web": {"url": "http://127.0.0.1"}}}]},
        "status": {"phase": "Error", "metricResults": [{"name": "webmetric", "phase": "Error"}]}
    }))
    .expect("run");
    metrics.watch_analysis_runs(store(vec![run]));
    let ex: Experiment = serde_json::from_value(json!({
        "metadata": {"name": "experiment-with-analysis", "namespace": "argo-rollouts"},
        "spec": {"templates": []},
        "status": {"phase": "Successful"}
    }))
    .expect("experiment");
    metrics.watch_experiments(store(vec![ex]));
    metrics.reconciled(Kind::Rollout, "default", "guestbook-canary", Duration::from_millis(1), true);
    metrics.rollout_event("default", "guestbook-bluegreen", true, "BazEvent");
    metrics.rollout_event("default", "guestbook-bluegreen", true, "BazEvent");
    let text = metrics.render();
    let version =
        format!(r#"argo_rollouts_controller_info{{version="serin-v{}"}} 1"#, env!("CARGO_PKG_VERSION"));
    assert!(text.lines().any(|l| l == version), "{text}");
    for line in [
        "# HELP rollout_info Information about rollout.",
        "# TYPE rollout_info gauge",
        r#"rollout_info{name="guestbook-bluegreen",namespace="default",phase="Progressing",strategy="blueGreen",traffic_router=""} 1"#,
        r#"rollout_info{name="guestbook-canary",namespace="default",phase="Progressing",strategy="canary",traffic_router="SMI"} 1"#,
        r#"rollout_info_replicas_unavailable{name="guestbook-bluegreen",namespace="default"} 0"#,
        r#"rollout_info_replicas_unavailable{name="guestbook-canary",namespace="default"} 1"#,
        r#"rollout_info_replicas_desired{name="guestbook-bluegreen",namespace="default"} 1"#,
        r#"rollout_info_replicas_updated{name="guestbook-canary",namespace="default"} 1"#,
        r#"rollout_phase{name="guestbook-canary",namespace="default",phase="Progressing",strategy="canary"} 1"#,
        r#"rollout_phase{name="guestbook-canary",namespace="default",phase="Paused",strategy="canary"} 0"#,
        r#"rollout_reconcile_bucket{name="guestbook-canary",namespace="default",le="0.01"} 1"#,
        r#"rollout_reconcile_bucket{name="guestbook-canary",namespace="default",le="+Inf"} 1"#,
        r#"rollout_reconcile_sum{name="guestbook-canary",namespace="default"} 0.001"#,
        r#"rollout_reconcile_count{name="guestbook-canary",namespace="default"} 1"#,
        r#"rollout_reconcile_error{name="guestbook-canary",namespace="default"} 1"#,
        r#"rollout_events_total{name="guestbook-bluegreen",namespace="default",reason="BazEvent",type="Warning"} 2"#,
        r#"analysis_run_info{name="http-benchmark-test-tr8rn",namespace="jesse-test",phase="Error"} 1"#,
        r#"analysis_run_metric_phase{dry_run="false",metric="webmetric",name="http-benchmark-test-tr8rn",namespace="jesse-test",phase="Error",type="Web"} 1"#,
        r#"analysis_run_metric_type{metric="webmetric",name="http-benchmark-test-tr8rn",namespace="jesse-test",type="Web"} 1"#,
        r#"analysis_run_phase{name="http-benchmark-test-tr8rn",namespace="jesse-test",phase="Failed"} 0"#,
        r#"analysis_run_phase{name="http-benchmark-test-tr8rn",namespace="jesse-test",phase="Error"} 1"#,
        r#"experiment_info{name="experiment-with-analysis",namespace="argo-rollouts",phase="Successful"} 1"#,
        r#"experiment_phase{name="experiment-with-analysis",namespace="argo-rollouts",phase="Error"} 0"#,
        r#"experiment_phase{name="experiment-with-analysis",namespace="argo-rollouts",phase="Successful"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    let empty = Metrics::new();
    assert!(!empty.render().contains("rollout_info{"), "no caches yet: no objects");
}

#[test]
fn recorded_series_of_deleted_objects_are_dropped() {
    let metrics = Metrics::new();
    let (reader, mut writer) = reflector::store();
    let ro = rollout(
        json!({"metadata": {"name": "kept", "namespace": "ns"}, "spec": {"strategy": {"canary": {}}}}),
    );
    writer.apply_watcher_event(&Event::Apply(ro.clone()));
    metrics.watch_rollouts(reader);
    for name in ["kept", "deleted"] {
        metrics.reconciled(Kind::Rollout, "ns", name, Duration::from_millis(1), true);
        metrics.rollout_event("ns", name, false, "RolloutUpdated");
    }
    let text = metrics.render();
    assert!(text.contains(r#"rollout_reconcile_count{name="kept",namespace="ns"} 1"#), "{text}");
    assert!(text.contains(r#"rollout_events_total{name="kept""#), "{text}");
    assert!(!text.contains(r#"name="deleted""#), "a Rollout no longer in the cache: {text}");
    writer.apply_watcher_event(&Event::Delete(ro));
    assert!(!metrics.render().contains(r#"name="kept""#), "gone once deleted");
}

#[test]
fn requests_are_labelled_as_upstream_labels_them() {
    use http::Method;
    let cases = [
        (
            Method::GET,
            "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/guestbook",
            ["rollouts", "ns", "guestbook", "Get"],
        ),
        (Method::GET, "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts", ["rollouts", "ns", "N/A", "List"]),
        (Method::GET, "/apis/apps/v1/replicasets", ["replicasets", "", "N/A", "List"]),
        (
            Method::PUT,
            "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/guestbook/status",
            ["rollouts", "ns", "guestbook", "Update"],
        ),
        (
            Method::PATCH,
            "/apis/apps/v1/namespaces/ns/replicasets/guestbook-abc",
            ["replicasets", "ns", "N/A", "Patch"],
        ),
        (Method::POST, "/api/v1/namespaces/ns/events", ["events", "ns", "N/A", "Create"]),
        (Method::POST, "/api/v1/namespaces/ns/pods/p/eviction", ["pods", "ns", "p", "Create"]),
        (
            Method::DELETE,
            "/apis/argoproj.io/v1alpha1/namespaces/ns/analysisruns/r",
            ["analysisruns", "ns", "N/A", "Delete"],
        ),
        (Method::GET, "/api/v1/namespaces/ns", ["namespaces", "", "ns", "Get"]),
        (Method::GET, "/version", ["Unknown", "Unknown", "Unknown", "Unknown"]),
        (Method::OPTIONS, "/api/v1/namespaces/ns/pods", ["Unknown", "Unknown", "Unknown", "Unknown"]),
    ];
    for (method, path, want) in cases {
        assert_eq!(request_labels(&method, path), want.map(String::from), "{method} {path}");
    }
}

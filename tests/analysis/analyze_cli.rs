//! `serin analyze` against a real Prometheus: both outcomes, with the exit codes and the status JSON.

use crate::harness::{Exporter, Prometheus};
use std::process::Output;

const TEMPLATE: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  args:
  - name: prometheus
  metrics:
  - name: error-rate
    interval: 1s
    count: 2
    successCondition: result[0] < 0.05
    provider:
      prometheus:
        address: "{{args.prometheus}}"
        query: app_error_ratio
"#;

async fn analyze(file: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_serin"));
    cmd.arg("analyze").arg(file).args(args);
    tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run serin analyze")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_runs_a_template_against_prometheus_with_both_outcomes() {
    let exporter = Exporter::default();
    exporter.set("app_error_ratio", "0.01");
    let prom = Prometheus::start(&exporter.serve().await).await;
    prom.wait_for_data("app_error_ratio").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("template.yaml");
    std::fs::write(&file, TEMPLATE).expect("write template");
    let arg = format!("prometheus={}", prom.url);

    let ok = analyze(&file, &["--arg", &arg, "-o", "json"]).await;
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let status: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("status JSON");
    assert_eq!(status["phase"], "Successful");
    assert_eq!(status["metricResults"][0]["count"], 2);
    assert_eq!(status["metricResults"][0]["measurements"][0]["value"], "[0.01]");
    // Progress goes to stderr when stdout carries the status.
    let progress = String::from_utf8_lossy(&ok.stderr);
    assert_eq!(
        progress.lines().filter(|l| l.contains("error-rate") && l.contains("Successful")).count(),
        2,
        "{progress}"
    );

    exporter.set("app_error_ratio", "0.3");
    prom.wait_for_value("app_error_ratio", "0.3").await;
    let failed = analyze(&file, &["--arg", &arg]).await;
    assert_eq!(failed.status.code(), Some(1), "{}", String::from_utf8_lossy(&failed.stderr));
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(text.contains("value=[0.3]"), "{text}");
    assert!(text.contains("Phase:   Failed"), "{text}");
    assert!(
        text.contains("Metric \"error-rate\" assessed Failed due to failed (1) > failureLimit (0)"),
        "{text}"
    );

    // Usage errors say what is wrong.
    let usage = analyze(&file, &[]).await;
    assert_eq!(usage.status.code(), Some(64));
    assert_eq!(String::from_utf8_lossy(&usage.stderr).trim(), "error: args.prometheus was not resolved");
}

/// Templates that could only ever measure Error are refused before anything is measured, with every reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_that_cannot_run_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "conditions",
            r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  args:
  - {name: min, value: "1 +"}
  - {name: floor, value: "0"}
  metrics:
  - name: broken
    interval: 1s
    successCondition: "result >>> 1"
    failureCondition: "result < 0"
    provider: {web: {url: "http://127.0.0.1:9/x"}}
  - name: argued
    successCondition: "result > {{args.min}}"
    failureCondition: "result < {{args.floor}}"
    provider: {web: {url: "http://127.0.0.1:9/x"}}
  - name: job
    provider:
      job:
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: c, image: busybox}]
"#,
            &[
                "metric \"broken\": successCondition \"result >>> 1\" does not compile: ",
                "metric \"job\": the job provider runs Jobs on a cluster: pass --kubeconfig",
                // Checked with the arguments' values in: "result > 1 +".
                "metric \"argued\": successCondition \"result > {{args.min}}\" does not compile: ",
            ],
        ),
        (
            "cycle",
            r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: a}
spec:
  templates: [{templateName: b}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: b}
spec:
  templates: [{templateName: a}]
"#,
            &[
                "templates reference each other in a cycle: AnalysisTemplate \"a\" → AnalysisTemplate \"b\" → AnalysisTemplate \"a\"",
            ],
        ),
    ];
    for (name, text, wants) in cases {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, text).expect("write template");
        let out = analyze(&file, &[]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{name}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{name}: nothing was measured: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for want in *wants {
            assert!(err.contains(want), "{name}: wanted {want:?} in {err}");
        }
        assert!(
            !err.contains("failureCondition"),
            "{name}: the condition that compiles is not reported: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_promotes_a_good_version_and_rolls_a_bad_one_back_by_itself() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_serin"));
    cmd.arg("demo");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run serin demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    // Each version, then the tree as it changes: v2 stable after its steps, v3 aborted by its analysis.
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle:?} missing from:\n{text}"));
    let (v1, v2, v3) = (at("▶ demo:v1"), at("▶ demo:v2"), at("▶ demo:v3"));
    assert!(v1 < v2 && v2 < v3, "{text}");
    assert!(text[v1..v2].contains("Status:          ✔ Healthy"), "{text}");
    assert!(text[v2..v3].contains("  Step:          1/6"), "the canary's steps are shown: {text}");
    assert!(text[v2..v3].contains("Images:          demo:v2 (stable)"), "{text}");
    let end = &text[v3..];
    assert!(end.contains("Status:          ✖ Degraded"), "{end}");
    assert!(
        end.contains("RolloutAborted: Rollout aborted update to revision 3: Background analysis phase error/failed: Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)"),
        "{end}"
    );
    assert!(end.contains("ReplicaSet   • ScaledDown") && end.contains("AnalysisRun  ✖ Failed"), "{end}");
    assert!(end.contains("nobody pressed a button"), "{end}");
    assert!(!text.contains('\x1b'), "no colour or cursor movement in a pipe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blue_green_demo_switches_only_to_a_preview_that_passed() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_serin"));
    cmd.args(["demo", "--blue-green"]);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run serin demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle:?} missing from:\n{text}"));
    let (v2, v3) = (at("▶ demo:v2"), at("▶ demo:v3"));
    assert!(text[v2..v3].contains("Images:          demo:v2 (stable, active)"), "{text}");
    assert!(
        text[v2..v3]
            .lines()
            .any(|l| l.contains("-2-pre ") && l.contains("AnalysisRun") && l.contains("✔ Successful")),
        "{text}"
    );
    let end = &text[v3..];
    assert!(end.contains("Blue/green pre-promotion analysis phase error/failed"), "{end}");
    // v3 was only ever the preview: every ReplicaSet shown active is v2's.
    let v2_rs = end
        .lines()
        .find(|l| l.contains("ReplicaSet") && l.contains("stable,active"))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("demo-")))
        .unwrap_or_else(|| panic!("no stable, active ReplicaSet: {end}"));
    assert!(
        end.lines().filter(|l| l.contains("ReplicaSet") && l.contains("active")).all(|l| l.contains(v2_rs)),
        "{end}"
    );
    assert!(!end.contains("demo:v3 (active"), "{end}");
    assert!(end.contains("the preview was scaled down: nobody pressed a button"), "{end}");
}

on_both_substrates! {
    async fn analyze_runs_a_job_metric_on_a_cluster_the_run_does_not_live_in(s: &Substrate) {
        // The run exists only on this machine: a Job it owned by reference would be garbage-collected by the
        // cluster at once, so its Jobs must carry no dangling owner.
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("job.yaml");
        std::fs::write(
            &file,
            r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers: [{name: smoke, image: busybox}]
"#,
        )
        .expect("write template");
        let kubeconfig = s.kubeconfig().to_str().expect("utf-8");
        let out = analyze(&file, &["--kubeconfig", kubeconfig, "-n", &s.namespace, "-o", "json"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        assert_eq!(status["phase"], "Successful", "{status}");
        let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = s.api();
        let left = jobs.list(&Default::default()).await.expect("list jobs").items;
        assert_eq!(left.len(), 1, "the measurement's Job is kept (within its retention), not collected");
        for job in &left {
            assert!(job.metadata.owner_references.is_none(), "{:?}", job.metadata);
        }
    }
}

//! The AnalysisRun controller with real providers, on both substrates.

use super::fixture::{Env, metric, phase, serve, yaml};
use crate::e2e::substrate::FAILING_IMAGE;
use crate::harness::{Exporter, Prometheus};
use axum::http::{HeaderMap, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serin::analysis::template::TemplateRef;
use serin::api::analysis::{AnalysisTemplate, ClusterAnalysisTemplate};
use serin::api::common::AnalysisPhase;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const APP_HEALTH: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: app-health
spec:
  args:
  - name: app-url
  - name: prometheus
  metrics:
  - name: health
    successCondition: result == true
    provider:
      web:
        url: "{{args.app-url}}/health"
        jsonPath: "{$.ok}"
  - name: banner
    successCondition: result == "ready"
    provider:
      web:
        url: "{{args.app-url}}/banner"
        jsonPath: "{$.status}"
  - name: error-rate
    interval: 1s
    count: 3
    failureLimit: 1
    successCondition: result[0] < 0.05
    provider:
      prometheus:
        address: "{{args.prometheus}}"
        query: app_error_ratio
"#;

on_both_substrates! {
    async fn a_web_and_a_prometheus_metric_pass_then_fail_when_the_error_rate_rises(s: &Substrate) {
        let exporter = Exporter::default();
        exporter.set("app_error_ratio", "0.01");
        let prom = Prometheus::start(&exporter.serve().await).await;
        prom.wait_for_data("app_error_ratio").await;
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let banner = healthy.clone();
        let app = serve(
            axum::Router::new()
                .route(
                    "/health",
                    axum::routing::get(move || {
                        let ok = flag.load(Ordering::SeqCst);
                        async move { axum::Json(serde_json::json!({ "ok": ok })) }
                    }),
                )
                // Plain text: the body itself is the result, whatever the jsonPath, and the conditions judge it.
                .route(
                    "/banner",
                    axum::routing::get(move || {
                        let ok = banner.load(Ordering::SeqCst);
                        async move { if ok { "ready" } else { "starting" } }
                    }),
                ),
        )
        .await;

        let env = Env::start(s).await;
        let templates: Api<AnalysisTemplate> = Api::namespaced(env.client.clone(), &env.ns);
        templates.create(&PostParams::default(), &yaml(APP_HEALTH)).await.expect("template");
        let from = [TemplateRef { name: "app-health".into(), cluster_scope: false }];
        let args = [("app-url", app.as_str()), ("prometheus", prom.url.as_str())];

        env.run_from("healthy", &from, &args).await;
        let run = env.completed("healthy").await;
        assert_eq!(phase(&run), AnalysisPhase::Successful, "{:#?}", run.status);
        let rate = metric(&run, "error-rate");
        assert_eq!(
            (rate.count, rate.successful, rate.failed),
            (Some(3), Some(3), None),
            "zero counters are omitted"
        );
        let values: Vec<_> =
            rate.measurements.iter().flatten().map(|m| m.value.clone().unwrap_or_default()).collect();
        assert_eq!(values, ["[0.01]", "[0.01]", "[0.01]"]);
        assert_eq!(
            rate.metadata.as_ref().and_then(|m| m.get("ResolvedPrometheusQuery")).map(String::as_str),
            Some("app_error_ratio")
        );
        assert_eq!(
            metric(&run, "health").measurements.as_ref().expect("health")[0].value.as_deref(),
            Some("true")
        );
        assert_eq!(
            metric(&run, "banner").measurements.as_ref().expect("banner")[0].value.as_deref(),
            Some("ready"),
            "a text body is recorded as it came"
        );
        let summary = run.status.as_ref().and_then(|s| s.run_summary.clone()).expect("summary");
        assert_eq!((summary.count, summary.successful), (Some(3), Some(3)));
        // Upstream's Events: each metric as it completes, then the run.
        let events = env.events("healthy", &["Normal AnalysisRunSuccessful: Analysis Completed. Result: Successful"]).await;
        let mut metrics: Vec<&String> = events.iter().filter(|e| e.contains("MetricSuccessful")).collect();
        metrics.sort();
        assert_eq!(
            metrics,
            [
                "Normal MetricSuccessful: Metric 'banner' Completed. Result: Successful",
                "Normal MetricSuccessful: Metric 'error-rate' Completed. Result: Successful",
                "Normal MetricSuccessful: Metric 'health' Completed. Result: Successful",
            ],
            "{events:#?}"
        );
        assert_eq!(events.last().map(String::as_str), Some("Normal AnalysisRunSuccessful: Analysis Completed. Result: Successful"));

        // The error rate rises: the run fails after failureLimit + 1 = 2 failed measurements.
        exporter.set("app_error_ratio", "0.2");
        prom.wait_for_value("app_error_ratio", "0.2").await;
        env.run_from("degraded", &from, &args).await;
        let run = env.completed("degraded").await;
        assert_eq!(phase(&run), AnalysisPhase::Failed, "{:#?}", run.status);
        let rate = metric(&run, "error-rate");
        assert_eq!((rate.count, rate.failed), (Some(2), Some(2)));
        assert_eq!(
            run.status.as_ref().and_then(|s| s.message.clone()).as_deref(),
            Some("Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)")
        );
        assert!(run.status.as_ref().and_then(|s| s.completed_at.clone()).is_some());
        env.events(
            "degraded",
            &[
                "Warning MetricFailed: Metric 'error-rate' Completed. Result: Failed",
                "Warning AnalysisRunFailed: Analysis Completed. Result: Failed",
            ],
        )
        .await;

        // A run that fails its web check fails on that metric.
        healthy.store(false, Ordering::SeqCst);
        env.run_from("unhealthy", &from, &args).await;
        let run = env.completed("unhealthy").await;
        assert_eq!(phase(&run), AnalysisPhase::Failed);
        assert_eq!(metric(&run, "health").phase, AnalysisPhase::Failed);
        assert_eq!(metric(&run, "banner").phase, AnalysisPhase::Failed, "the condition judged the text");
        env.stop().await;
    }
}

const WITH_TOKEN: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: with-token
spec:
  args:
  - name: base
  - name: token
    valueFrom:
      secretKeyRef:
        name: api-credentials
        key: token
  metrics:
  - name: authorized
    successCondition: result == "yes"
    provider:
      web:
        url: "{{args.base}}/check"
        headers:
        - key: Authorization
          value: "Bearer {{args.token}}"
        jsonPath: "{$.authorized}"
  - name: leaky
    provider:
      web:
        url: "http://127.0.0.1:1/{{args.token}}"
"#;

on_both_substrates! {
    async fn a_cluster_template_reads_a_secret_argument_at_measurement_time_and_redacts_it(s: &Substrate) {
        let api = serve(axum::Router::new().route(
            "/check",
            axum::routing::get(|h: HeaderMap| async move {
                match h.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Bearer s3cr3t-t0ken") => {
                        axum::Json(serde_json::json!({"authorized": "yes"})).into_response()
                    }
                    _ => StatusCode::UNAUTHORIZED.into_response(),
                }
            }),
        ))
        .await;
        let env = Env::start(s).await;
        let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "api-credentials"},
            "stringData": {"token": "s3cr3t-t0ken"}
        }))
        .expect("secret");
        secrets.create(&PostParams::default(), &secret).await.expect("create secret");
        let cats: Api<ClusterAnalysisTemplate> = Api::all(env.client.clone());
        cats.create(&PostParams::default(), &yaml(WITH_TOKEN)).await.expect("cluster template");

        let from = [TemplateRef { name: "with-token".into(), cluster_scope: true }];
        let created = env.run_from("secret-arg", &from, &[("base", api.as_str())]).await;
        // The secret is not copied into the run: it is read when measuring.
        let args = serde_json::to_string(&created.spec.args).expect("args");
        assert!(args.contains("secretKeyRef") && !args.contains("s3cr3t"), "{args}");

        let run = env.completed("secret-arg").await;
        assert_eq!(metric(&run, "authorized").phase, AnalysisPhase::Successful, "{:#?}", run.status);
        let leaky =
            metric(&run, "leaky").measurements.as_ref().expect("leaky")[0].message.clone().unwrap_or_default();
        assert!(leaky.contains("*****") && !leaky.contains("s3cr3t"), "secret not redacted: {leaky}");
        let everything = serde_json::to_string(&run.status).expect("status");
        assert!(!everything.contains("s3cr3t-t0ken"), "secret leaked into the status");
        env.stop().await;
    }
}

on_both_substrates! {
    async fn unresolvable_arguments_and_invalid_specs_are_an_error_on_the_run(s: &Substrate) {
        let env = Env::start(s).await;
        let spec: serin::api::analysis::AnalysisRunSpec = yaml(
            r#"
metrics:
- name: m
  provider:
    web:
      url: "{{args.missing}}/x"
"#,
        );
        env.create_run("unresolved", spec).await;
        let run = env.completed("unresolved").await;
        assert_eq!(phase(&run), AnalysisPhase::Error);
        assert_eq!(
            run.status.and_then(|s| s.message).as_deref(),
            Some("Unable to resolve metric arguments: failed to resolve {{args.missing}}")
        );

        let spec: serin::api::analysis::AnalysisRunSpec = yaml(
            r#"
metrics:
- name: m
  count: 3
  provider:
    web:
      url: "http://127.0.0.1:1/x"
"#,
        );
        env.create_run("invalid", spec).await;
        let run = env.completed("invalid").await;
        assert_eq!(phase(&run), AnalysisPhase::Error);
        let message = run.status.and_then(|s| s.message).unwrap_or_default();
        assert_eq!(message, "Analysis spec invalid: metrics[0]: interval must be specified when count > 1");

        // A provider serin has no plugin for says so on the measurement.
        let spec: serin::api::analysis::AnalysisRunSpec = yaml(
            r#"
metrics:
- name: dd
  consecutiveErrorLimit: 0
  provider:
    datadog:
      query: "avg:errors"
"#,
        );
        env.create_run("no-plugin", spec).await;
        let run = env.completed("no-plugin").await;
        assert_eq!(phase(&run), AnalysisPhase::Error);
        let m = &metric(&run, "dd").measurements.as_ref().expect("measured")[0];
        assert_eq!(
            m.message.as_deref(),
            Some(
                "the datadog provider has no built-in plugin in serin yet; register a plugin for it and use provider.plugin"
            )
        );
        env.stop().await;
    }
}

on_both_substrates! {
    async fn terminating_a_run_stops_it_and_says_so(s: &Substrate) {
        let app =
            serve(axum::Router::new().route("/ok", axum::routing::get(|| async { axum::Json(true) }))).await;
        let env = Env::start(s).await;
        let spec: serin::api::analysis::AnalysisRunSpec = yaml(&format!(
            r#"
metrics:
- name: forever
  interval: 1s
  successCondition: result == true
  provider:
    web:
      url: "{app}/ok"
"#
        ));
        env.create_run("forever", spec).await;
        env.wait_run("forever", |r| {
            r.status
                .as_ref()
                .is_some_and(|s| s.metric_results.iter().flatten().any(|m| m.count.unwrap_or(0) >= 2))
        })
        .await;
        let patch = serde_json::json!({"spec": {"terminate": true}});
        env.runs()
            .patch("forever", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
            .await
            .expect("terminate");
        let run = env.completed("forever").await;
        assert_eq!(phase(&run), AnalysisPhase::Successful);
        assert_eq!(run.status.and_then(|s| s.message).as_deref(), Some("Run Terminated"));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn the_controller_serves_health_and_readiness(s: &Substrate) {
        let env = Env::start(s).await;
        let addr = env.controller.health_addr().expect("health address");
        for path in ["healthz", "readyz"] {
            let body = reqwest_get(&format!("http://{addr}/{path}")).await;
            assert_eq!(body.as_deref(), Some(if path == "healthz" { "ok" } else { "ready" }), "{path}");
        }
        env.stop().await;
    }
}

async fn reqwest_get(url: &str) -> Option<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::get(url).await.ok()?;
    resp.status().is_success().then_some(())?;
    resp.text().await.ok()
}

use axum::response::IntoResponse;

on_both_substrates! {
    async fn a_job_metric_runs_a_job_that_completes_or_fails_on_the_cluster(s: &Substrate) {
        let env = Env::start(s).await;
        let job = |image: &str| -> serin::api::analysis::AnalysisRunSpec {
            yaml(&format!(
                r#"
metrics:
- name: smoke-test
  provider:
    job:
      metadata:
        labels:
          team: qa
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: test
              image: {image}
              command: [sh, -c, "exit 0"]
"#
            ))
        };
        env.create_run("job-passes", job("busybox:ok")).await;
        let run = env.completed("job-passes").await;
        assert_eq!(phase(&run), AnalysisPhase::Successful, "{:#?}", run.status);
        let m = &metric(&run, "smoke-test").measurements.as_ref().expect("measured")[0];
        let job_name = m.metadata.as_ref().and_then(|md| md.get("job-name")).cloned().expect("job-name metadata");
        let uid = run.metadata.uid.clone().expect("uid");
        assert_eq!(job_name, format!("{uid}.smoke-test.1"));
        let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(env.client.clone(), &env.ns);
        let created = jobs.get(&job_name).await.expect("the Job exists");
        assert_eq!(created.metadata.labels.as_ref().and_then(|l| l.get("team")).map(String::as_str), Some("qa"));
        assert_eq!(created.metadata.owner_references.as_ref().map(|o| o[0].uid.clone()), Some(uid));

        env.create_run("job-fails", job(FAILING_IMAGE)).await;
        let run = env.completed("job-fails").await;
        assert_eq!(phase(&run), AnalysisPhase::Failed, "{:#?}", run.status);
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_completed_run_is_deleted_when_its_ttl_passes(s: &Substrate) {
        let app =
            serve(axum::Router::new().route("/ok", axum::routing::get(|| async { axum::Json(true) }))).await;
        let env = Env::start(s).await;
        let spec: serin::api::analysis::AnalysisRunSpec = yaml(&format!(
            r#"
ttlStrategy:
  secondsAfterSuccess: 1
metrics:
- name: once
  successCondition: result == true
  provider:
    web:
      url: "{app}/ok"
"#
        ));
        env.create_run("short-lived", spec).await;
        let run = env.completed("short-lived").await;
        assert_eq!(phase(&run), AnalysisPhase::Successful);
        let runs = env.runs();
        let gone = crate::harness::wait_for(std::time::Duration::from_secs(60), || {
            let runs = runs.clone();
            async move { matches!(runs.get_opt("short-lived").await, Ok(None)) }
        })
        .await;
        assert!(gone.is_ok(), "the run was not deleted after its TTL");
        env.stop().await;
    }
}

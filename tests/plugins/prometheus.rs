//! The built-in `prometheus` provider against a real Prometheus scraping an exporter the test controls.

#[path = "../common/prometheus.rs"]
mod harness;

use super::helpers::{metric_call, registry};
use harness::{Exporter, Prometheus};
use serin::plugin::grants::PrometheusGrant;
use serin::plugin::{CallError, CallOptions, MetricValue, Observation};

fn granted(address: &str) -> CallOptions {
    let mut opts = CallOptions::default();
    opts.grants.prometheus.push(PrometheusGrant::for_address(address).expect("grant"));
    opts
}

async fn measure(opts: &CallOptions, config: serde_json::Value) -> Result<Observation, CallError> {
    registry()
        .get("prometheus")
        .expect("prometheus plugin")
        .metric_run(opts, &metric_call(config.to_string()))
        .await
}

fn judged(out: Result<Observation, CallError>) -> (MetricValue, String) {
    match out {
        Ok(Observation::Judge { result, display, .. }) => (result, display.expect("display value")),
        other => panic!("expected a value to judge, got {other:?}"),
    }
}

#[tokio::test]
async fn prometheus_results_become_argo_values() {
    let exporter = Exporter::default();
    exporter.set("app_error_ratio", "0.05");
    exporter.set("app_nan", "NaN");
    exporter.set("app_up{instance_kind=\"a\"}", "1");
    exporter.set("app_up{instance_kind=\"b\"}", "1");
    let target = exporter.serve().await;
    let prom = Prometheus::start(&target).await;
    prom.wait_for_data("app_error_ratio").await;
    let opts = granted(&prom.url);
    let q = |query: &str| serde_json::json!({"address": prom.url, "query": query});

    // Vector: a list of float64, shown as [v,…] with Prometheus' number format.
    let (v, d) = judged(measure(&opts, q("app_error_ratio")).await);
    assert_eq!(v, MetricValue::List(vec![MetricValue::Float(0.05)]));
    assert_eq!(d, "[0.05]");
    let (v, d) = judged(measure(&opts, q("sum(app_up) by (instance_kind)")).await);
    assert_eq!(d, "[1,1]");
    assert_eq!(v, MetricValue::List(vec![MetricValue::Float(1.0), MetricValue::Float(1.0)]));

    // Scalar: a float64.
    let (v, d) = judged(measure(&opts, q("scalar(app_error_ratio) * 2")).await);
    assert_eq!(v, MetricValue::Float(0.1));
    assert_eq!(d, "0.1");

    // NaN survives the trip.
    let (v, d) = judged(measure(&opts, q("app_nan")).await);
    assert_eq!(d, "[NaN]");
    assert!(
        matches!(&v, MetricValue::List(items) if matches!(items[0], MetricValue::Float(f) if f.is_nan()))
    );

    // No series: an empty list, which conditions report as "no data".
    let (v, d) = judged(measure(&opts, q("app_error_ratio{job=\"nope\"}")).await);
    assert_eq!((v.clone(), d.as_str()), (MetricValue::List(vec![]), "[]"));
    let expr = registry().get("expr").expect("expr");
    let verdict =
        expr.assess(&CallOptions::default(), Some("result[0] < 0.1"), None, &v).await.expect("call");
    assert_eq!(
        verdict,
        Err("could not evaluate successCondition \"result[0] < 0.1\": metric result is nil or empty: no data returned from the metric provider".into())
    );

    // A range query: the matrix flattened into one list of samples.
    let config = serde_json::json!({
        "address": prom.url,
        "query": "app_error_ratio",
        "rangeQuery": {"start": "now() - duration(\"30s\")", "end": "now()", "step": "1s"}
    });
    let (v, d) = judged(measure(&opts, config).await);
    match v {
        MetricValue::List(items) => {
            assert!(!items.is_empty(), "{d}");
            assert!(items.iter().all(|i| *i == MetricValue::Float(0.05)), "{d}");
        }
        other => panic!("range query gave {other:?}"),
    }

    // A query Prometheus rejects is an Error measurement carrying Prometheus' reason.
    match measure(&opts, q("sum(")).await {
        Ok(Observation::Error(e)) => assert!(e.contains("parse error"), "{e}"),
        other => panic!("bad query gave {other:?}"),
    }
    // Argo's configuration errors keep their texts.
    match measure(&opts, serde_json::json!({"query": "up"})).await {
        Ok(Observation::Error(e)) => assert_eq!(e, "prometheus address is not configured"),
        other => panic!("{other:?}"),
    }
    match measure(&opts, serde_json::json!({"address": prom.url, "query": "up", "timeout": -1})).await {
        Ok(Observation::Error(e)) => assert_eq!(e, "prometheus timeout should not be negative"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_answer_larger_than_the_output_cap_is_refused_while_it_is_read() {
    let exporter = Exporter::default();
    for i in 0..3000 {
        exporter.set(&format!("app_wide{{shard=\"{i:05}\"}}"), "1");
    }
    let target = exporter.serve().await;
    let prom = Prometheus::start(&target).await;
    prom.wait_for_data("app_wide").await;
    let mut opts = granted(&prom.url);
    // Well under one answer of 3000 labelled samples (~200 KiB), well over the measurement itself.
    opts.limits.output = 64 << 10;
    let q = serde_json::json!({"address": prom.url, "query": "app_wide"});
    match measure(&opts, q.clone()).await {
        Ok(Observation::Error(e)) => {
            assert_eq!(e, "the Prometheus response is larger than the plugin's output limit of 65536 bytes")
        }
        other => panic!("an oversized answer was accepted: {other:?}"),
    }
    // The same query aggregated fits.
    let q = serde_json::json!({"address": prom.url, "query": "count(app_wide)"});
    assert_eq!(judged(measure(&opts, q).await).1, "[3000]");
}

/// Debian's Prometheus (2.42) attaches warnings only for remote storage, so the API is served here the way
/// Prometheus answers with warnings.
#[tokio::test]
async fn prometheus_warnings_are_kept_on_the_measurement() {
    let router = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1700000000.0, "0.5"]}]},
                "warnings": ["remote read of shard 3 timed out", "partial response"],
            }))
        }),
    );
    let address = super::helpers::serve(router).await;
    let out = measure(&granted(&address), serde_json::json!({"address": address, "query": "x"})).await;
    match out {
        Ok(Observation::Judge { result, metadata, .. }) => {
            assert_eq!(result, MetricValue::List(vec![MetricValue::Float(0.5)]));
            assert_eq!(
                metadata,
                [(
                    "warnings".to_string(),
                    "\"remote read of shard 3 timed out\", \"partial response\"".to_string()
                )]
            );
        }
        other => panic!("{other:?}"),
    }
}

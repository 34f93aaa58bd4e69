//! The built-in `web` provider against a real HTTP server on 127.0.0.1.

use super::helpers::{metric_call, registry, serve};
use axum::extract::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serin::plugin::grants::HttpGrant;
use serin::plugin::{CallError, CallOptions, MetricValue, Observation};

async fn server() -> String {
    let router = axum::Router::new()
        .route("/status", get(|| async { Json(serde_json::json!({"data": {"ok": true, "rate": 0.97}, "items": [{"n": "a", "v": 1}, {"n": "b", "v": 2}]})) }))
        .route("/echo-headers", get(|h: HeaderMap| async move {
            let auth = h.get("x-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            Json(serde_json::json!({"token": auth}))
        }))
        .route("/echo-body", post(|h: HeaderMap, body: String| async move {
            let ct = h.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            Json(serde_json::json!({"contentType": ct, "body": body}))
        }).put(|body: String| async move { Json(serde_json::json!({"method": "PUT", "body": body})) }))
        .route("/fail", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route("/text", get(|| async { "plain words" }))
        .route("/slow", get(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "late"
        }))
        // Headers and the start of a JSON body, then nothing more.
        .route("/stall", get(|| async {
            let start = futures::stream::once(async { Ok::<_, std::convert::Infallible>(bytes::Bytes::from("{\"rate\": ")) });
            axum::body::Body::from_stream(futures::StreamExt::chain(start, futures::stream::pending()))
        }))
        .route("/moved", get(|| async { Redirect::temporary("/status") }))
        .route("/token", post(|h: HeaderMap, body: String| async move {
            let basic = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
            if basic == "Basic aWQ6c2VjcmV0" && body.contains("grant_type=client_credentials") {
                Json(serde_json::json!({"access_token": "tok-123", "token_type": "bearer"})).into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "bad client").into_response()
            }
        }))
        .route("/protected", get(|h: HeaderMap| async move {
            match h.get("authorization").and_then(|v| v.to_str().ok()) {
                Some("Bearer tok-123") => Json(serde_json::json!({"secret": 42})).into_response(),
                _ => StatusCode::FORBIDDEN.into_response(),
            }
        }));
    serve(router).await
}

fn granted(url: &str) -> CallOptions {
    let mut opts = CallOptions::default();
    opts.grants.http.push(HttpGrant::for_url(url, false).expect("grant"));
    opts
}

async fn web(opts: &CallOptions, config: serde_json::Value) -> Result<Observation, CallError> {
    registry().get("web").expect("web plugin").metric_run(opts, &metric_call(config.to_string())).await
}

fn judged(out: Result<Observation, CallError>) -> (MetricValue, String) {
    match out {
        Ok(Observation::Judge { result, display, .. }) => (result, display.expect("display value")),
        other => panic!("expected a value to judge, got {other:?}"),
    }
}

fn error(out: Result<Observation, CallError>) -> String {
    match out {
        Ok(Observation::Error(e)) => e,
        other => panic!("expected an Error measurement, got {other:?}"),
    }
}

#[tokio::test]
async fn json_path_selects_the_value_as_go_renders_it() {
    let base = server().await;
    let opts = granted(&base);
    let cases = [
        ("{$.data.rate}", MetricValue::Float(0.97), "0.97"),
        ("{.data.ok}", MetricValue::Bool(true), "true"),
        ("{.items[1].v}", MetricValue::Float(2.0), "2"),
        ("{.items[?(@.n=='b')].n}", MetricValue::Text("b".into()), "\"b\""),
    ];
    for (path, want, display) in cases {
        let (v, d) =
            judged(web(&opts, serde_json::json!({"url": format!("{base}/status"), "jsonPath": path})).await);
        assert_eq!(v, want, "{path}");
        assert_eq!(d, display, "{path}");
    }
    // The default path is the whole document, rendered like Go's json.Marshal (sorted keys).
    let (_, d) = judged(web(&opts, serde_json::json!({"url": format!("{base}/status")})).await);
    assert_eq!(d, r#"{"data":{"ok":true,"rate":0.97},"items":[{"n":"a","v":1},{"n":"b","v":2}]}"#);
}

#[tokio::test]
async fn headers_and_bodies_are_sent() {
    let base = server().await;
    let opts = granted(&base);
    let (v, _) = judged(
        web(&opts, serde_json::json!({"url": format!("{base}/echo-headers"), "headers": [{"key": "X-Token", "value": "t1"}], "jsonPath": "{$.token}"}))
            .await,
    );
    assert_eq!(v, MetricValue::Text("t1".into()));
    let (v, _) = judged(
        web(
            &opts,
            serde_json::json!({"method": "POST", "url": format!("{base}/echo-body"), "jsonBody": {"q": 1}}),
        )
        .await,
    );
    assert_eq!(v.render(), r#"{"body":"{\"q\":1}","contentType":"application/json"}"#);
    let (v, _) = judged(
        web(&opts, serde_json::json!({"method": "PUT", "url": format!("{base}/echo-body"), "body": "raw", "jsonPath": "{$.body}"}))
            .await,
    );
    assert_eq!(v, MetricValue::Text("raw".into()));
}

#[tokio::test]
async fn upstream_errors_are_error_measurements_with_upstream_texts() {
    let base = server().await;
    let opts = granted(&base);
    assert_eq!(
        error(web(&opts, serde_json::json!({"url": format!("{base}/fail")})).await),
        "received non 2xx response code: 500"
    );
    assert_eq!(
        error(
            web(&opts, serde_json::json!({"url": format!("{base}/status"), "body": "x", "jsonBody": {}}))
                .await
        ),
        "use either Body or JSONBody; both cannot exists for WebMetric payload"
    );
    assert_eq!(
        error(web(&opts, serde_json::json!({"url": format!("{base}/status"), "body": "x"})).await),
        "Body/JSONBody can only be used with POST or PUT WebMetric Method types"
    );
    assert_eq!(
        error(
            web(&opts, serde_json::json!({"url": format!("{base}/status"), "jsonPath": "{.missing}"})).await
        ),
        "result of web metric produced no value"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_the_value_itself() {
    let base = server().await;
    // With or without a jsonPath (upstream's "When_200Response_And_NonJsonBody_Then_Succeed"): the raw body,
    // recorded as it came, where a JSON string match would be recorded re-marshalled.
    for config in [
        serde_json::json!({"url": format!("{base}/text")}),
        serde_json::json!({"url": format!("{base}/text"), "jsonPath": "{$.key[0].key2.value}"}),
    ] {
        let (v, d) = judged(web(&granted(&base), config.clone()).await);
        assert_eq!((v, d.as_str()), (MetricValue::Text("plain words".into()), "plain words"), "{config}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_carries_a_hint_for_conditions_written_for_json() {
    let base = server().await;
    let out =
        web(&granted(&base), serde_json::json!({"url": format!("{base}/text")})).await.expect("observation");
    let Observation::Judge { metadata, .. } = &out else { panic!("expected a value to judge, got {out:?}") };
    let hint = metadata.iter().find(|(k, _)| k == "hint").map(|(_, v)| v.as_str()).unwrap_or_default();
    assert!(hint.starts_with("the response body is not JSON ("), "{metadata:?}");
    assert!(hint.ends_with("so result is the body as a string"), "{hint}");
    assert_eq!(out.explain("cannot evaluate".into()), format!("cannot evaluate ({hint})"));
    // A JSON body has no hint.
    let out = web(&granted(&base), serde_json::json!({"url": format!("{base}/status")}))
        .await
        .expect("observation");
    assert_eq!(out.explain("e".into()), "e");
}

/// `timeoutSeconds` bounds the whole exchange, as Go's `Client.Timeout`: a server that never answers, or one that
/// stalls in the middle of its body, gives Go's timeout message on every measurement.
#[tokio::test]
async fn timeout_seconds_bounds_the_request_body_included() {
    let base = server().await;
    let cases = [
        ("/slow", format!("Get \"{base}/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
        ("/stall", "Received no bytes in response: context deadline exceeded (Client.Timeout or context cancellation while reading body)".to_string()),
    ];
    for (path, want) in cases {
        // Were the plugin's own deadline to end the call first, it would be a CallError, not this measurement.
        for attempt in 0..3 {
            let e = error(
                web(
                    &granted(&base),
                    serde_json::json!({"url": format!("{base}{path}"), "timeoutSeconds": 1}),
                )
                .await,
            );
            assert_eq!(e, want, "{path}, measurement {attempt}");
        }
    }
}

#[tokio::test]
async fn redirects_are_followed_within_granted_origins_only() {
    let base = server().await;
    let other = server().await;
    let (v, _) = judged(
        web(&granted(&base), serde_json::json!({"url": format!("{base}/moved"), "jsonPath": "{.data.ok}"}))
            .await,
    );
    assert_eq!(v, MetricValue::Bool(true));

    // A redirect to another origin is a new request, checked like the first one.
    let router = axum::Router::new().route(
        "/away",
        get(move || {
            let to = format!("{other}/status");
            async move { Redirect::temporary(&to) }
        }),
    );
    let bouncer = serve(router).await;
    let out = web(&granted(&bouncer), serde_json::json!({"url": format!("{bouncer}/away")})).await;
    match out {
        Err(CallError::Denied { what, .. }) => assert!(what.contains("is not granted"), "{what}"),
        other => panic!("redirect to an ungranted origin was followed: {other:?}"),
    }
}

#[tokio::test]
async fn oauth2_client_credentials_are_exchanged_for_a_bearer_token() {
    let base = server().await;
    let config = serde_json::json!({
        "url": format!("{base}/protected"),
        "jsonPath": "{$.secret}",
        "authentication": {"oauth2": {"tokenUrl": format!("{base}/token"), "clientId": "id", "clientSecret": "secret"}}
    });
    let (v, _) = judged(web(&granted(&base), config).await);
    assert_eq!(v, MetricValue::Float(42.0));
}

#[tokio::test]
async fn without_a_grant_nothing_is_sent() {
    let base = server().await;
    let out = web(&CallOptions::default(), serde_json::json!({"url": format!("{base}/status")})).await;
    assert!(matches!(out, Err(CallError::Denied { .. })), "{out:?}");
}

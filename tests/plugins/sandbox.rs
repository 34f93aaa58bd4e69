//! Hostile plugins are contained: each misbehaviour ends within its deadline (plus a margin) as a `CallError`
//! value or an Error observation, and a well-behaved plugin called right after still answers.

use super::helpers::{loaded, metric_call, serve};
use serin::plugin::grants::PrometheusGrant;
use serin::plugin::{CallError, CallOptions, Grants, Limits, Observation};
use std::time::{Duration, Instant};

/// Generous bound on how far past its deadline a contained call may end on a loaded 2-core machine. It shows
/// the call is bounded, not how fast the host is (benchmarks measure that).
const MARGIN: Duration = Duration::from_secs(10);

fn limits(deadline_ms: u64) -> CallOptions {
    CallOptions {
        limits: Limits { deadline: Duration::from_millis(deadline_ms), memory: 32 << 20, output: 1 << 20 },
        ..CallOptions::default()
    }
}

async fn hostile(mode: &str, opts: &CallOptions) -> Result<Observation, CallError> {
    let plugin = loaded("hostile");
    let started = Instant::now();
    let out = plugin.metric_run(opts, &metric_call(mode)).await;
    assert!(
        started.elapsed() < opts.limits.deadline + MARGIN,
        "{mode}: took {:?} with a deadline of {:?}",
        started.elapsed(),
        opts.limits.deadline
    );
    out
}

/// After each misbehaviour a well-behaved call on the same runtime still answers.
async fn still_answers() {
    let out = loaded("constant").metric_run(&CallOptions::default(), &metric_call("2.5")).await;
    match out {
        Ok(Observation::Judge { result, .. }) => assert_eq!(result, serin::plugin::MetricValue::Float(2.5)),
        other => panic!("well-behaved plugin did not answer: {other:?}"),
    }
    let out = loaded("hostile").metric_run(&CallOptions::default(), &metric_call("ok")).await;
    assert!(matches!(out, Ok(Observation::Decided { .. })), "hostile plugin in `ok` mode: {out:?}");
}

#[tokio::test]
async fn endless_loop_is_interrupted_at_the_deadline() {
    let out = hostile("loop", &limits(300)).await;
    assert!(matches!(out, Err(CallError::Timeout { .. })), "{out:?}");
    assert_eq!(out.unwrap_err().label(), "timeout");
    still_answers().await;
}

#[tokio::test]
async fn blocking_in_a_host_call_is_cancelled_at_the_deadline() {
    let out = hostile("sleep", &limits(300)).await;
    assert!(matches!(out, Err(CallError::Timeout { .. })), "{out:?}");
    still_answers().await;
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_cap() {
    let out = hostile("memory", &limits(10_000)).await;
    match out {
        Err(CallError::MemoryExceeded { limit, plugin }) => {
            assert_eq!(limit, 32 << 20);
            assert_eq!(plugin, "hostile");
        }
        other => panic!("expected MemoryExceeded, got {other:?}"),
    }
    still_answers().await;
}

#[tokio::test]
async fn stack_overflow_is_a_trap_not_a_crash() {
    let out = hostile("stack", &limits(10_000)).await;
    assert!(matches!(out, Err(CallError::StackOverflow { .. })), "{out:?}");
    still_answers().await;
}

#[tokio::test]
async fn overflowing_the_guests_own_stack_in_linear_memory_is_a_trap() {
    let out = hostile("shadow-stack", &limits(10_000)).await;
    match out {
        Err(e @ CallError::Trap { .. }) => {
            assert!(e.to_string().contains("out of bounds memory access"), "{e}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    still_answers().await;
}

#[tokio::test]
async fn panic_is_reported_with_the_plugins_message() {
    let out = hostile("panic", &limits(10_000)).await;
    match out {
        Err(e @ CallError::Panic { .. }) => {
            let text = e.to_string();
            assert!(text.contains("panicked: hostile plugin panics on purpose (at "), "{text}");
            assert!(text.contains("lib.rs:") && text.ends_with(')'), "{text}");
            assert!(!text.contains("RUST_BACKTRACE") && !text.contains("thread '"), "{text}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    still_answers().await;
}

#[tokio::test]
async fn unreachable_instruction_is_a_trap() {
    let out = hostile("trap", &limits(10_000)).await;
    match out {
        Err(e @ CallError::Trap { .. }) => assert!(e.to_string().contains("unreachable"), "{e}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    still_answers().await;
}

#[tokio::test]
async fn huge_output_exceeds_the_output_cap() {
    let mut opts = limits(10_000);
    opts.limits.memory = 128 << 20;
    let out = hostile("huge-output", &opts).await;
    match out {
        Err(CallError::OutputTooLarge { size, limit, .. }) => {
            assert!(size >= 8 << 20, "{size}");
            assert_eq!(limit, 1 << 20);
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    still_answers().await;
}

#[tokio::test]
async fn request_to_an_origin_that_was_not_granted_is_denied_and_never_sent() {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let url = serve(axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { "secret" }
        }),
    ))
    .await;
    let out = hostile(&format!("http {url}/"), &limits(10_000)).await;
    match out {
        Err(CallError::Denied { what, .. }) => assert!(what.contains("is not granted"), "{what}"),
        other => panic!("expected Denied, got {other:?}"),
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "the request reached the server");
    still_answers().await;
}

#[tokio::test]
async fn files_are_not_reachable() {
    let out = hostile("file /etc/hostname", &limits(10_000)).await;
    match out {
        Ok(Observation::Error(e)) => assert!(e.starts_with("file:"), "{e}"),
        other => panic!("the plugin read a file: {other:?}"),
    }
    still_answers().await;
}

#[tokio::test]
async fn environment_variables_are_not_visible() {
    assert!(std::env::var_os("PATH").is_some(), "the host process has a PATH to leak");
    let out = hostile("env", &limits(10_000)).await;
    assert_eq!(out, Ok(Observation::Error("env: empty".into())));
    still_answers().await;
}

#[tokio::test]
async fn kubernetes_access_needs_a_grant() {
    let out = hostile("kubernetes", &limits(10_000)).await;
    match out {
        Err(CallError::Denied { what, .. }) => assert_eq!(what, "Kubernetes list on secrets is not granted"),
        other => panic!("expected Denied, got {other:?}"),
    }
}

#[tokio::test]
async fn prometheus_queries_need_a_grant_for_that_address() {
    let mut opts = limits(10_000);
    opts.grants = Grants {
        prometheus: vec![PrometheusGrant::for_address("http://127.0.0.1:1").expect("grant")],
        ..Grants::default()
    };
    let out = hostile("prometheus http://127.0.0.1:2", &opts).await;
    match out {
        Err(CallError::Denied { what, .. }) => assert!(what.contains("http://127.0.0.1:2"), "{what}"),
        other => panic!("expected Denied, got {other:?}"),
    }
}

#[tokio::test]
async fn concurrent_calls_are_isolated_from_each_other() {
    let constant = loaded("constant");
    let calls = (0..32).map(|i| {
        let constant = constant.clone();
        async move { constant.metric_run(&CallOptions::default(), &metric_call(i.to_string())).await }
    });
    let results = futures::future::join_all(calls).await;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(Observation::Judge { result, .. }) => {
                assert_eq!(result, serin::plugin::MetricValue::Float(i as f64))
            }
            other => panic!("call {i}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn host_side_resources_are_bounded_per_call() {
    // Header maps live in the host, outside the plugin's memory cap: a plugin piling them up is stopped at the
    // resource cap long before the host's memory suffers.
    let out = hostile("resources", &limits(30_000)).await;
    match out {
        Err(CallError::Trap { message, .. }) => assert!(message.contains("resource table"), "{message}"),
        Ok(Observation::Error(message)) => assert!(message.contains("fields refused"), "{message}"),
        other => panic!("expected the host to refuse more resources, got {other:?}"),
    }
    still_answers().await;
}

#[tokio::test]
async fn a_call_has_at_most_eight_requests_in_flight() {
    // A server that accepts connections and never answers, so admitted requests stay in flight.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mut opts = limits(30_000);
    let origin = format!("http://{addr}");
    opts.grants.http.push(serin::plugin::grants::HttpGrant::for_url(&origin, false).expect("grant"));
    let out = hostile(&format!("requests {addr}"), &opts).await;
    match out {
        Ok(Observation::Decided { value, .. }) => assert_eq!(value.as_deref(), Some("refused 12")),
        other => panic!("expected 12 requests refused, got {other:?}"),
    }
    accepted.abort();
    still_answers().await;
}

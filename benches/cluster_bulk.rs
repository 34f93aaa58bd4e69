//! The embedded cluster under bulk work: creating, listing, watching and deleting many objects, and how long an
//! unrelated request (`/version`, every 10 ms on its own connection) waits meanwhile.
//!
//! `cargo bench --bench cluster_bulk` uses 10,000 ConfigMaps; without `--bench` it makes a quick pass with 500.
//! `SERIN_BENCH_OBJECTS` sets the number. The server runs in this process, with its own runtime threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serin::cluster::ClusterConfig;

/// Requests in flight while creating.
const CONCURRENCY: usize = 16;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let objects: usize = std::env::var("SERIN_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 500 });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(run(objects, full));
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn run(objects: usize, full: bool) {
    let cluster = serin::cluster::start(ClusterConfig::builder().build()).await.expect("embedded cluster");
    let client = cluster.client().expect("client");
    let ns = "bulk";
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("namespace"),
        )
        .await
        .expect("create the namespace");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);

    // The unrelated request, on a client of its own.
    let probe_client = cluster.client().expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut waits = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                probe_client.apiserver_version().await.expect("/version");
                waits.push(start.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            waits
        }
    });

    // A watch opened before the first create sees every one of them.
    let rv = configmaps.list_metadata(&ListParams::default()).await.expect("list").metadata.resource_version;
    let mut stream = configmaps
        .watch(&WatchParams::default().timeout(290), rv.as_deref().unwrap_or("0"))
        .await
        .expect("watch")
        .boxed();
    let started = Instant::now();
    let watcher = tokio::spawn(async move {
        let mut seen = 0;
        while seen < objects {
            match stream.try_next().await {
                Ok(Some(WatchEvent::Added(_))) => seen += 1,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        (seen, started.elapsed())
    });

    let data = "x".repeat(256);
    futures::stream::iter(0..objects)
        .map(|i| {
            let configmaps = configmaps.clone();
            let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("cm-{i:05}"), "labels": {"bulk": "true"}},
                "data": {"payload": data},
            }))
            .expect("configmap");
            async move { configmaps.create(&PostParams::default(), &cm).await.expect("create") }
        })
        .buffer_unordered(CONCURRENCY)
        .for_each(|_| async {})
        .await;
    let created = started.elapsed();
    let (seen, watched) = watcher.await.expect("watcher");

    let start = Instant::now();
    let listed = configmaps.list(&ListParams::default()).await.expect("list").items.len();
    let list = start.elapsed();

    let start = Instant::now();
    namespaces.delete(ns, &DeleteParams::default()).await.expect("delete the namespace");
    while namespaces.get_opt(ns).await.expect("get the namespace").is_some() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deleted = start.elapsed();

    stop.store(true, Ordering::Relaxed);
    let mut waits = probe.await.expect("probe");
    waits.sort();
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "serin embedded cluster bulk benchmark ({} mode, {objects} ConfigMaps of 256 bytes, {CONCURRENCY} creates in flight; {} CPUs; load average {})\n",
        if full { "full" } else { "quick" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    );
    println!(
        "| create {objects} | watch sees all | list ({listed}) | namespace deleted | /version meanwhile: p50 / p99 / worst ({} requests) |",
        waits.len()
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {:.2} s | {:.2} s ({seen} events) | {:.3} s | {:.2} s | {:.1} / {:.1} / {:.1} ms |",
        created.as_secs_f64(),
        watched.as_secs_f64(),
        list.as_secs_f64(),
        deleted.as_secs_f64(),
        quantile(&waits, 0.5).as_secs_f64() * 1e3,
        quantile(&waits, 0.99).as_secs_f64() * 1e3,
        waits.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    assert_eq!((seen, listed), (objects, objects), "every object watched and listed");
    let _ = cluster.shutdown().await;
}

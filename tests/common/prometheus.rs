//! A real Prometheus (Debian's `prometheus` package) on a loopback port, scraping an exporter the test runs and
//! controls. Shared by test binaries through `#[path]`.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Gauges the exporter serves, set by the test.
#[derive(Clone, Default)]
pub struct Exporter {
    gauges: Arc<Mutex<Vec<(String, String)>>>,
}

impl Exporter {
    /// Sets (or adds) a sample line, e.g. `set("app_error_ratio", "0.05")` or with labels in the name.
    pub fn set(&self, series: &str, value: &str) {
        let mut g = self.gauges.lock().expect("exporter lock");
        match g.iter_mut().find(|(s, _)| s == series) {
            Some(entry) => entry.1 = value.to_string(),
            None => g.push((series.to_string(), value.to_string())),
        }
    }

    fn render(&self) -> String {
        let g = self.gauges.lock().expect("exporter lock");
        g.iter().map(|(s, v)| format!("{s} {v}\n")).collect()
    }

    /// Serves `/metrics` on a free loopback port; returns `host:port`.
    pub async fn serve(&self) -> String {
        let me = self.clone();
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let body = me.render();
                async move { body }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind exporter");
        let addr = listener.local_addr().expect("exporter addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        addr.to_string()
    }
}

/// A Prometheus process, killed when dropped.
pub struct Prometheus {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`) every second and waits until it is ready.
    pub async fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    \
                 scrape_interval: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus config");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus: install Debian's `prometheus` package (.ci/run does)");
        let p = Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let ready = format!("{}/-/ready", p.url);
        wait_for(Duration::from_secs(120), || {
            let ready = ready.clone();
            async move { reqwest_get(&ready).await.is_some_and(|(status, _)| status == 200) }
        })
        .await
        .expect("prometheus did not become ready");
        p
    }

    /// Waits until `query` returns at least one sample.
    pub async fn wait_for_data(&self, query: &str) {
        self.wait_for_result(query, |r| r.as_array().is_some_and(|a| !a.is_empty()))
            .await
            .unwrap_or_else(|_| panic!("prometheus never returned data for {query}"));
    }

    /// Waits until `query`'s first sample value equals `value` (Prometheus scrapes every second).
    pub async fn wait_for_value(&self, query: &str, value: &str) {
        self.wait_for_result(query, |r| r[0]["value"][1].as_str() == Some(value))
            .await
            .unwrap_or_else(|_| panic!("prometheus never returned {value} for {query}"));
    }

    async fn wait_for_result(
        &self,
        query: &str,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<(), ()> {
        let url = format!("{}/api/v1/query?query={}", self.url, urlencode(query));
        let cond = &cond;
        wait_for(Duration::from_secs(120), || {
            let url = url.clone();
            async move {
                reqwest_get(&url).await.is_some_and(|(_, body)| {
                    serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| cond(&v["data"]["result"]))
                })
            }
        })
        .await
    }
}

/// Polls `cond` with backoff until it holds or `timeout` passes.
pub async fn wait_for<F, Fut>(timeout: Duration, mut cond: F) -> Result<(), ()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(20);
    while start.elapsed() < timeout {
        if cond().await {
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
    Err(())
}

async fn reqwest_get(url: &str) -> Option<(u16, String)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::get(url).await.ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

//! The controller at scale: `serin controller` as its own process (so that its memory and CPU are its own)
//! against the embedded cluster or the real control plane, with many Rollouts at rest, many canaries moving at
//! once, many background analyses, and a soak of steady churn.
//!
//! `cargo bench --bench controller_scale` takes the full figures on the embedded cluster: 1,000 then 10,000
//! steady Rollouts, 1,000 simultaneous canary updates (three setWeight/pause steps, 10 s pauses) and 1,000
//! AnalysisRuns measuring a web metric every 10 s. Options after `--`:
//! - `--substrate real`: on the real control plane (tests/controlplane/build.sh), instead of the embedded cluster;
//! - `--rollouts N[,M…]`: the steady sizes (default 1000,10000);
//! - `--updates N`, `--analyses N`: the sizes of the update and analysis phases (default 1000 each; 0 skips);
//! - `--controller-args "FLAGS"`: more flags for the controller, e.g. `--controller-args "--qps=0"`;
//! - `--controller-wrapper "COMMAND"`: start the controller under another program, e.g. a heap profiler
//!   (`--controller-wrapper "heaptrack -o /tmp/serin"`); the RSS and CPU figures are then the wrapper's;
//! - `--settle SECONDS`: how long Rollouts at rest are left before their CPU is measured (default 30);
//! - `--soak MINUTES`: only the soak, with 1,000 Rollouts and steady churn, RSS sampled every 30 s.
//!
//! `cargo test` runs it without `--bench`: a quick pass with 50 of each and 1 s pauses on both substrates,
//! asserting only that everything converges, so that the benchmark cannot rot.

#[macro_use]
#[path = "../tests/common/e2e.rs"]
mod e2e;

use e2e::substrate::{Kind, Substrate};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serin::api::analysis::AnalysisRun;
use serin::api::rollout::{Rollout, RolloutPhase};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests the benchmark keeps in flight when it creates or updates objects.
const CONCURRENCY: usize = 32;
/// A Rollout's label, to watch only the benchmark's.
const LABEL: &str = "serin-bench";

struct Settings {
    full: bool,
    kind: Kind,
    steady: Vec<usize>,
    updates: usize,
    analyses: usize,
    pause: Duration,
    interval: Duration,
    /// How long the controller is watched at rest, and how long it is left to settle before.
    settle: Duration,
    window: Duration,
    soak: Option<Duration>,
    /// More flags for the controller (`--controller-args "--qps=0"`).
    controller_args: Vec<String>,
    /// A program to start the controller under (`--controller-wrapper "heaptrack -o FILE"`).
    controller_wrapper: Vec<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let number = |flag: &str, default: usize| {
        value(flag)
            .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{flag} takes a number, not {v:?}")))
    };
    let words = |flag: &str| -> Vec<String> {
        value(flag).map(|a| a.split_whitespace().map(String::from).collect()).unwrap_or_default()
    };
    let base = |kind| Settings {
        full,
        kind,
        steady: if full { vec![1_000, 10_000] } else { vec![50] },
        updates: number("--updates", if full { 1_000 } else { 50 }),
        analyses: number("--analyses", if full { 1_000 } else { 50 }),
        pause: if full { Duration::from_secs(10) } else { Duration::from_secs(1) },
        interval: if full { Duration::from_secs(10) } else { Duration::from_secs(2) },
        settle: Duration::from_secs(number("--settle", if full { 30 } else { 1 }) as u64),
        window: if full { Duration::from_secs(60) } else { Duration::from_secs(3) },
        soak: value("--soak").map(|m| {
            Duration::from_secs(
                60 * m.parse::<u64>().unwrap_or_else(|_| panic!("--soak takes minutes, not {m:?}")),
            )
        }),
        controller_args: words("--controller-args"),
        controller_wrapper: words("--controller-wrapper"),
    };
    let kinds = match value("--substrate").as_deref() {
        Some("real") => vec![Kind::Real],
        Some("embedded") => vec![Kind::Embedded],
        Some(other) => panic!("--substrate is `embedded` or `real`, not {other:?}"),
        None if full => vec![Kind::Embedded],
        None => vec![Kind::Embedded, Kind::Real],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    for kind in kinds {
        let mut settings = base(kind);
        if let Some(sizes) = value("--rollouts") {
            settings.steady = sizes
                .split(',')
                .map(|n| n.parse().unwrap_or_else(|_| panic!("--rollouts takes numbers, not {n:?}")))
                .collect();
        }
        runtime.block_on(run(settings));
    }
}

async fn run(settings: Settings) {
    let Some(s) = Substrate::start(settings.kind, "controller-scale").await else { return };
    let scratch = tempfile::tempdir().expect("tempdir");
    let controller = ControllerProcess::start(&s, scratch.path(), &settings).await;
    let idle_rss = controller.rss_kib();
    let bench = Bench::new(&s, &controller, &settings).await;
    println!(
        "serin controller scale benchmark ({} mode) on the {} {}; {} CPUs; load average {}\n",
        if settings.full { "full" } else { "quick" },
        if settings.kind == Kind::Real { "real control plane" } else { "embedded cluster" },
        if settings.kind == Kind::Real {
            "(kube-apiserver, etcd, KWOK)"
        } else {
            "(in the benchmark's process)"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
    );
    println!("controller at start, no Rollouts: RSS {:.1} MiB\n", idle_rss as f64 / 1024.0);

    if let Some(soak) = settings.soak {
        bench.soak(1_000, soak).await;
    } else {
        println!("| Rollouts at rest | RSS | RSS per Rollout | CPU at rest | to create and make Healthy |");
        println!("|---|---|---|---|---|");
        for &n in &settings.steady {
            bench.steady(n, idle_rss).await;
        }
        println!();
        if settings.updates > 0 {
            bench.update(settings.updates).await;
        }
        if settings.analyses > 0 {
            bench.analyses(settings.analyses).await;
        }
    }
    let log = controller.log();
    let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked")).collect();
    assert!(panics.is_empty(), "the controller panicked:\n{}", panics.join("\n"));
    drop(controller);
    s.stop().await;
}

fn loadavg() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `serin controller` as its own process, watching every namespace; killed when dropped.
struct ControllerProcess {
    child: std::process::Child,
    log: PathBuf,
    metrics_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

impl ControllerProcess {
    async fn start(s: &Substrate, dir: &Path, settings: &Settings) -> ControllerProcess {
        let log = dir.join("controller.log");
        let file = std::fs::File::create(&log).expect("log file");
        let (metrics_port, health_port) = (free_port(), free_port());
        let serin = env!("CARGO_BIN_EXE_serin");
        let mut command = match settings.controller_wrapper.split_first() {
            Some((wrapper, args)) => {
                let mut command = std::process::Command::new(wrapper);
                command.args(args).arg(serin);
                command
            }
            None => std::process::Command::new(serin),
        };
        // SAFETY: prctl is async-signal-safe and touches only the child being started.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                // A benchmark killed before its `Drop` runs takes its controller with it, rather than leaving a
                // process behind whose CPU would skew the next run's figures. (The signal follows the thread
                // that starts the child: `block_on`'s, the main thread, which lives as long as the benchmark.)
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .arg("controller")
            .arg(format!("--kubeconfig={}", s.kubeconfig().display()))
            .arg(format!("--plugin-namespace={}", s.namespace))
            .arg(format!("--health-addr=127.0.0.1:{health_port}"))
            .arg(format!("--metricsPort={metrics_port}"))
            .arg("--leader-elect=false")
            .arg("--loglevel=warn")
            .args(&settings.controller_args)
            .env_remove("RUST_LOG")
            .env_remove("KUBECONFIG")
            .env("SERIN_CACHE_DIR", dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start serin controller");
        let controller = ControllerProcess { child, log, metrics_port };
        let ready = format!("http://127.0.0.1:{health_port}/readyz");
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if reqwest::get(&ready).await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "the controller never became ready:\n{}", controller.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        controller
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn proc(&self, file: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).unwrap_or_default()
    }

    /// Resident memory, KiB.
    fn rss_kib(&self) -> u64 {
        let status = self.proc("status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// User and system CPU time used so far.
    fn cpu(&self) -> Duration {
        let stat = self.proc("stat");
        // The fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Duration::from_secs_f64(ticks as f64 / hz)
    }

    /// The API requests the controller has made so far (`controller_clientset_k8s_request_total`, summed).
    async fn requests(&self) -> f64 {
        self.requests_by_kind().await.values().sum()
    }

    /// The API requests the controller has made so far, by kind, verb and status code.
    async fn requests_by_kind(&self) -> BTreeMap<String, f64> {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await
            .expect("/metrics")
            .text()
            .await
            .expect("/metrics");
        let mut by_kind = BTreeMap::new();
        for line in text.lines() {
            let Some(series) = line.strip_prefix("controller_clientset_k8s_request_total{") else { continue };
            let Some((labels, value)) = series.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let label = |key: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix("=\""))
                    .unwrap_or("")
                    .trim_end_matches(['}', '"'])
                    .to_string()
            };
            let key = format!("{} {} {}", label("kind"), label("verb"), label("status_code"));
            *by_kind.entry(key).or_insert(0.0) += value;
        }
        by_kind
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the benchmark sees of each Rollout, through one watch of them all.
#[derive(Default)]
struct Tracking {
    since: Option<Instant>,
    /// Rollout → when the update was written, and when the Rollout was first seen at its first pause.
    updated: HashMap<String, Instant>,
    paused: HashMap<String, Instant>,
    /// Rollout → the pod hash it was stable on before the update.
    old_hash: HashMap<String, String>,
}

struct Bench<'a> {
    s: &'a Substrate,
    controller: &'a ControllerProcess,
    settings: &'a Settings,
    rollouts: Api<Rollout>,
    store: Store<Rollout>,
    tracking: Arc<Mutex<Tracking>>,
    /// How many Rollouts exist.
    created: Mutex<usize>,
}

fn name(i: usize) -> String {
    format!("app-{i:05}")
}

/// Whether a Rollout updated away from the pod hash `old` has reached its first pause: it is there, or (when
/// the moment was not seen, as when the benchmark's watch was re-listed) past it. The new pod hash in the
/// status says the step index is the new revision's, not the previous rollout's last one.
fn reached_first_pause(ro: &Rollout, old: Option<&String>) -> bool {
    let Some(status) = &ro.status else { return false };
    let index = status.current_step_index.unwrap_or(0);
    let paused = status.pause_conditions.as_ref().is_some_and(|p| !p.is_empty());
    status.current_pod_hash.as_ref() != old
        && ((index == 1 && paused) || index >= 2 || status.stable_rs.as_ref() != old)
}

fn healthy(ro: &Rollout) -> bool {
    let Some(status) = &ro.status else { return false };
    status.phase == Some(RolloutPhase::Healthy)
        && status.stable_rs.is_some()
        && status.stable_rs == status.current_pod_hash
        && status.observed_generation.as_deref() == ro.metadata.generation.map(|g| g.to_string()).as_deref()
}

impl<'a> Bench<'a> {
    async fn new(s: &'a Substrate, controller: &'a ControllerProcess, settings: &'a Settings) -> Bench<'a> {
        let rollouts: Api<Rollout> = s.api();
        let (store, writer) = reflector::store();
        let tracking = Arc::new(Mutex::new(Tracking::default()));
        let seen = tracking.clone();
        let stream = watcher(rollouts.clone(), watcher::Config::default().labels(LABEL))
            .default_backoff()
            .reflect(writer)
            .applied_objects();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ro) = stream.next().await {
                let Ok(ro) = ro else { continue };
                let mut t = seen.lock().expect("tracking");
                let name = ro.metadata.name.clone().unwrap_or_default();
                if t.since.is_some()
                    && t.updated.contains_key(&name)
                    && reached_first_pause(&ro, t.old_hash.get(&name))
                {
                    t.paused.entry(name).or_insert_with(Instant::now);
                }
            }
        });
        store.wait_until_ready().await.expect("the benchmark's watch of Rollouts");
        Bench { s, controller, settings, rollouts, store, tracking, created: Mutex::new(0) }
    }

    fn rollout(&self, i: usize) -> Rollout {
        let pause = format!("{}s", self.settings.pause.as_secs());
        let name = name(i);
        serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name, "labels": {LABEL: "true"}},
            "spec": {
                "replicas": 1,
                "revisionHistoryLimit": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}]},
                },
                "strategy": {"canary": {
                    "canaryService": format!("{name}-canary"),
                    "stableService": format!("{name}-stable"),
                    "steps": [
                        {"setWeight": 20}, {"pause": {"duration": pause}},
                        {"setWeight": 50}, {"pause": {"duration": pause}},
                        {"setWeight": 80}, {"pause": {"duration": pause}},
                    ],
                }},
            },
        }))
        .expect("a Rollout")
    }

    fn service(name: &str, app: &str) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]},
        }))
        .expect("a Service")
    }

    /// Rollouts (with their two Services) until there are `n`.
    async fn create(&self, n: usize) {
        let from = *self.created.lock().expect("count");
        let services: Api<Service> = self.s.api();
        futures::stream::iter(from..n)
            .map(|i| {
                let (services, rollouts) = (services.clone(), self.rollouts.clone());
                let (ro, name) = (self.rollout(i), name(i));
                async move {
                    let pp = PostParams::default();
                    for suffix in ["canary", "stable"] {
                        services
                            .create(&pp, &Self::service(&format!("{name}-{suffix}"), &name))
                            .await
                            .unwrap_or_else(|e| panic!("create Service {name}-{suffix}: {e}"));
                    }
                    rollouts.create(&pp, &ro).await.unwrap_or_else(|e| panic!("create Rollout {name}: {e}"));
                }
            })
            .buffer_unordered(CONCURRENCY)
            .for_each(|_| async {})
            .await;
        *self.created.lock().expect("count") = n.max(from);
    }

    /// Waits until `done` holds for `n` of the benchmark's Rollouts, failing with what is missing after
    /// `timeout`.
    async fn wait_for(&self, what: &str, n: usize, timeout: Duration, done: impl Fn(&Rollout) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.store.state();
            let count = state.iter().filter(|ro| done(ro)).count();
            if count >= n {
                return;
            }
            if Instant::now() > deadline {
                let stuck: Vec<String> = state
                    .iter()
                    .filter(|ro| !done(ro))
                    .take(3)
                    .map(|ro| format!("{}: {:?}", ro.metadata.name.as_deref().unwrap_or(""), ro.status))
                    .collect();
                let log = self.controller.log();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "{count} of {n} Rollouts {what} after {timeout:?}; for example:\n{}\ncontroller log (last lines, newest first):\n{}",
                    stuck.join("\n"),
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A generous bound for `n` Rollouts to converge on a loaded 2-core machine.
    fn timeout(&self, n: usize) -> Duration {
        Duration::from_secs(120) + Duration::from_millis(100 * n as u64)
    }

    /// `n` Rollouts at rest: created, Healthy, then the controller watched while nothing changes.
    async fn steady(&self, n: usize, idle_rss: u64) {
        let start = Instant::now();
        self.create(n).await;
        self.wait_for("Healthy", n, self.timeout(n), healthy).await;
        let converged = start.elapsed();
        // The Events of the new Rollouts are written in the background on a budget of their own: at rest means
        // after the last of them.
        self.events_written(self.timeout(n)).await;
        tokio::time::sleep(self.settings.settle).await;
        let (cpu, began) = (self.controller.cpu(), Instant::now());
        tokio::time::sleep(self.settings.window).await;
        let cpu_share = (self.controller.cpu() - cpu).as_secs_f64() / began.elapsed().as_secs_f64();
        let rss = self.controller.rss_kib();
        println!(
            "| {n} | {:.1} MiB | {:.1} KiB | {:.2} CPU s/min ({:.2}% of a core) | {:.1} s |",
            rss as f64 / 1024.0,
            rss.saturating_sub(idle_rss) as f64 / n as f64,
            cpu_share * 60.0,
            cpu_share * 100.0,
            converged.as_secs_f64(),
        );
    }

    /// Waits until the controller has written no Event for two seconds.
    async fn events_written(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let events = async || -> f64 {
            let by_kind = self.controller.requests_by_kind().await;
            by_kind.iter().filter(|(k, _)| k.starts_with("events ")).map(|(_, v)| v).sum()
        };
        let mut last = events().await;
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = events().await;
            if now == last || Instant::now() > deadline {
                return;
            }
            last = now;
        }
    }

    /// A new image for each of the first `m` Rollouts at once.
    async fn update(&self, m: usize) {
        let m = m.min(*self.created.lock().expect("count"));
        {
            let mut t = self.tracking.lock().expect("tracking");
            *t = Tracking::default();
            for ro in self.store.state() {
                let name = ro.metadata.name.clone().unwrap_or_default();
                if let Some(hash) = ro.status.as_ref().and_then(|s| s.stable_rs.clone()) {
                    t.old_hash.insert(name, hash);
                }
            }
            t.since = Some(Instant::now());
        }
        let requests = self.controller.requests_by_kind().await;
        let image = format!("app:{}", std::process::id());
        let start = Instant::now();
        futures::stream::iter(0..m)
            .map(|i| {
                let (rollouts, tracking, name) = (self.rollouts.clone(), self.tracking.clone(), name(i));
                let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
                    {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}
                ]))
                .expect("a JSON patch");
                async move {
                    // Taken before the write, so that the watch cannot see the Rollout move before it is known
                    // to be updated (the latency includes the write).
                    tracking.lock().expect("tracking").updated.insert(name.clone(), Instant::now());
                    rollouts
                        .patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
                        .await
                        .unwrap_or_else(|e| panic!("update Rollout {name}: {e}"));
                }
            })
            .buffer_unordered(CONCURRENCY)
            .for_each(|_| async {})
            .await;
        let written = start.elapsed();
        let updated: Vec<String> = (0..m).map(name).collect();
        let old = self.tracking.lock().expect("tracking").old_hash.clone();
        // As the watch saw them: Rollouts reach their first pause at different times, and the first ones are past
        // it before the last arrive.
        self.wait_for("at their first pause", m, self.timeout(m), |ro| {
            let name = ro.metadata.name.as_deref().unwrap_or("");
            self.tracking.lock().expect("tracking").paused.contains_key(name)
        })
        .await;
        self.wait_for("Healthy on the new version", m, self.timeout(m) + 3 * self.settings.pause, |ro| {
            let name = ro.metadata.name.as_deref().unwrap_or("");
            updated.iter().any(|u| u == name)
                && healthy(ro)
                && ro.status.as_ref().and_then(|s| s.stable_rs.as_ref()) != old.get(name)
        })
        .await;
        let all_healthy = start.elapsed();
        let after = self.controller.requests_by_kind().await;
        let by_kind: Vec<(String, f64)> = after
            .iter()
            .map(|(k, v)| (k.clone(), v - requests.get(k).copied().unwrap_or(0.0)))
            .filter(|(_, v)| *v > 0.0)
            .collect();
        let requests: f64 = by_kind.iter().map(|(_, v)| v).sum();
        // Events are written in the background on a budget of their own: the reconciles' writes are the rest.
        let events: f64 = by_kind.iter().filter(|(k, _)| k.starts_with("events ")).map(|(_, v)| v).sum();
        let t = self.tracking.lock().expect("tracking");
        let mut latencies: Vec<Duration> = t
            .paused
            .iter()
            .filter_map(|(name, at)| Some(at.saturating_duration_since(*t.updated.get(name)?)))
            .collect();
        latencies.sort();
        assert_eq!(latencies.len(), m, "every updated Rollout was seen at its first pause");
        let pauses = 3 * self.settings.pause;
        println!(
            "{m} Rollouts updated at once (canary: setWeight 20/50/80, each followed by a {}s pause), written in {}:\n",
            self.settings.pause.as_secs(),
            ms(written)
        );
        println!(
            "| update → first pause: p50 | p99 | worst | all Healthy after | of which beyond the pauses | API requests per Rollout per step | of which Events |"
        );
        println!("|---|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {} | {:.1} s | {:.1} s | {:.1} | {:.1} |\n",
            ms(quantile(&latencies, 0.5)),
            ms(quantile(&latencies, 0.99)),
            ms(latencies.last().copied().unwrap_or_default()),
            all_healthy.as_secs_f64(),
            all_healthy.saturating_sub(pauses).as_secs_f64(),
            requests / (m as f64 * 6.0),
            events / (m as f64 * 6.0),
        );
        println!("| requests (kind, verb, status) | per Rollout per step |\n|---|---|");
        for (key, count) in by_kind {
            println!("| {key} | {:.2} |", count / (m as f64 * 6.0));
        }
        println!();
    }

    /// `k` AnalysisRuns, each measuring a web metric every interval against one local HTTP server.
    async fn analyses(&self, k: usize) {
        let server = Arrivals::serve().await;
        let runs: Api<AnalysisRun> = self.s.api();
        let interval = format!("{}s", self.settings.interval.as_secs());
        let requests = self.controller.requests().await;
        let start = Instant::now();
        futures::stream::iter(0..k)
            .map(|i| {
                let runs = runs.clone();
                let run: AnalysisRun = serde_json::from_value(serde_json::json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "AnalysisRun",
                    "metadata": {"name": format!("bg-{i:05}"), "labels": {LABEL: "true"}},
                    "spec": {"metrics": [{
                        "name": "score",
                        "interval": interval,
                        "successCondition": "result == 1",
                        "provider": {"web": {"url": format!("{}/bg-{i:05}", server.url), "jsonPath": "{$.score}"}},
                    }]},
                }))
                .expect("an AnalysisRun");
                async move { runs.create(&PostParams::default(), &run).await.expect("create an AnalysisRun") }
            })
            .buffer_unordered(CONCURRENCY)
            .for_each(|_| async {})
            .await;
        // Measured once every run has taken two measurements, for a window of several intervals.
        let warm = Instant::now() + self.timeout(k);
        while server.min_count(k) < 2 {
            assert!(
                Instant::now() < warm,
                "not every AnalysisRun measured twice:\n{}",
                self.controller.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let window_start = Instant::now();
        let counted = server.total();
        let window = self.settings.window.max(self.settings.interval * 4);
        tokio::time::sleep(window).await;
        let calls = (server.total() - counted) as f64 / window_start.elapsed().as_secs_f64();
        let requests_per_measurement =
            (self.controller.requests().await - requests) / server.total().max(1) as f64;

        // Lag: when the server got measurement j, against when it was due (the previous one's finishedAt, as
        // written in the status, plus the interval).
        let arrivals = server.arrivals();
        let mut lags = Vec::new();
        for run in runs.list(&Default::default()).await.expect("list AnalysisRuns").items {
            let name = run.metadata.name.clone().unwrap_or_default();
            let Some(times) = arrivals.get(&name) else { continue };
            let Some(result) = run.status.and_then(|s| s.metric_results).and_then(|r| r.into_iter().next())
            else {
                continue;
            };
            let measurements = result.measurements.unwrap_or_default();
            // The status keeps the last measurements; the j-th measurement ever taken is the j-th request.
            let total = result.count.unwrap_or(0).max(0) as usize + result.error.unwrap_or(0).max(0) as usize;
            let first = total.saturating_sub(measurements.len());
            for (offset, pair) in measurements.windows(2).enumerate() {
                let j = first + offset + 1;
                let (Some(finished), Some(&(_, arrived))) = (pair[0].finished_at.as_ref(), times.get(j))
                else {
                    continue;
                };
                let due =
                    finished.0 + jiff::SignedDuration::try_from(self.settings.interval).expect("interval");
                let lag = arrived.duration_since(due);
                lags.push(Duration::try_from(lag).unwrap_or(Duration::ZERO));
            }
        }
        lags.sort();
        assert!(!lags.is_empty(), "no measurement lag could be computed");
        println!(
            "{k} background AnalysisRuns, a web metric every {} against one HTTP server on 127.0.0.1 (all measuring after {:.1} s):\n",
            interval,
            window_start.duration_since(start).as_secs_f64()
        );
        println!(
            "| measurement lag (due → taken): p50 | p99 | worst | plugin calls per second | API requests per measurement |"
        );
        println!("|---|---|---|---|---|");
        println!(
            "| {} | {} | {} | {:.0} | {:.2} |\n",
            ms(quantile(&lags, 0.5)),
            ms(quantile(&lags, 0.99)),
            ms(lags.last().copied().unwrap_or_default()),
            calls,
            requests_per_measurement,
        );
        runs.delete_collection(&DeleteParams::default(), &Default::default())
            .await
            .expect("delete AnalysisRuns");
    }

    /// `n` Rollouts under steady churn (a new image for a few Rollouts every 10 s) for `length`, with the
    /// controller's RSS sampled every 30 s.
    async fn soak(&self, n: usize, length: Duration) {
        self.create(n).await;
        self.wait_for("Healthy", n, self.timeout(n), healthy).await;
        let start = Instant::now();
        let mut samples: Vec<(Duration, u64)> = Vec::new();
        let mut next_sample = start;
        let mut round = 0usize;
        println!("| minute | RSS | CPU so far |");
        println!("|---|---|---|");
        let cpu0 = self.controller.cpu();
        while start.elapsed() < length {
            round += 1;
            for j in 0..10 {
                let i = (round * 10 + j) % n;
                let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
                    {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": format!("app:{round}")}
                ]))
                .expect("a JSON patch");
                let _ =
                    self.rollouts.patch(&name(i), &PatchParams::default(), &Patch::Json::<()>(patch)).await;
            }
            if Instant::now() >= next_sample {
                let rss = self.controller.rss_kib();
                samples.push((start.elapsed(), rss));
                println!(
                    "| {:.1} | {:.1} MiB | {:.1} s |",
                    start.elapsed().as_secs_f64() / 60.0,
                    rss as f64 / 1024.0,
                    (self.controller.cpu() - cpu0).as_secs_f64()
                );
                next_sample += Duration::from_secs(30);
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        let after5 = samples.iter().find(|(t, _)| *t >= Duration::from_secs(300)).map(|s| s.1);
        let last = samples.last().map(|s| s.1).unwrap_or(0);
        if let Some(base) = after5 {
            println!(
                "\nRSS growth after the first 5 minutes: {:+.1}% ({:.1} → {:.1} MiB)",
                (last as f64 - base as f64) * 100.0 / base as f64,
                base as f64 / 1024.0,
                last as f64 / 1024.0
            );
        }
    }
}

/// Path → when each request for it arrived.
type ArrivalLog = HashMap<String, Vec<(Instant, jiff::Timestamp)>>;

/// A web metric's server: answers `{"score": 1}` on any path, remembering when each path was asked.
struct Arrivals {
    url: String,
    seen: Arc<Mutex<ArrivalLog>>,
}

impl Arrivals {
    async fn serve() -> Arrivals {
        let seen: Arc<Mutex<ArrivalLog>> = Arc::default();
        let record = seen.clone();
        let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let path = uri.path().trim_start_matches('/').to_string();
            record
                .lock()
                .expect("arrivals")
                .entry(path)
                .or_default()
                .push((Instant::now(), jiff::Timestamp::now()));
            async { axum::Json(serde_json::json!({"score": 1})) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Arrivals { url, seen }
    }

    fn min_count(&self, k: usize) -> usize {
        let seen = self.seen.lock().expect("arrivals");
        if seen.len() < k {
            return 0;
        }
        seen.values().map(Vec::len).min().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.seen.lock().expect("arrivals").values().map(Vec::len).sum()
    }

    fn arrivals(&self) -> HashMap<String, Vec<(Instant, jiff::Timestamp)>> {
        self.seen.lock().expect("arrivals").clone()
    }
}

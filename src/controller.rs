//! The controller: reconcilers for serin's resources (Rollouts, AnalysisRuns and Experiments), plugin
//! registration from ConfigMaps, health endpoints and graceful shutdown.

pub mod analysis_run;
pub mod events;
pub mod experiment;
pub mod leader;
pub mod metrics;
pub mod plugins;
pub mod rollout;
pub mod throttle;

use crate::analysis::Engine;
use crate::plugin::catalog::Catalog;
use crate::plugin::{Registry, Runtime, RuntimeConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long in-flight reconciles may take to finish once shutdown begins.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs a kube-runtime controller until it ends by itself after `shutdown`, or until [`SHUTDOWN_GRACE`] has
/// passed since `shutdown`. kube-runtime's graceful shutdown waits for the first listing to finish when
/// shutdown comes before it, which on a real API server can take until its watch times out.
pub(crate) async fn bounded_shutdown(
    controller: impl std::future::Future<Output = ()>,
    shutdown: impl std::future::Future<Output = ()>,
    name: &str,
) {
    tokio::select! {
        () = controller => {}
        () = async { shutdown.await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("the {name} controller did not stop within {SHUTDOWN_GRACE:?}; stopping it now");
        }
    }
}

/// A kube-runtime controller of the objects `api` and `config` watch, its cache holding them without their
/// managed fields (most of an object's size once a few writers have touched it; the controllers never read
/// them, and a write of an object read from the cache sends an empty list, which the API server takes as
/// "keep them").
pub(crate) fn controller_of<K>(
    api: kube::Api<K>,
    config: kube::runtime::watcher::Config,
) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    use kube::runtime::WatchStreamExt;
    let (store, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::watcher(api, config)
        .default_backoff()
        .modify(|k| k.meta_mut().managed_fields = None)
        .reflect(writer)
        .applied_objects();
    kube::runtime::Controller::for_stream(stream, store)
}

/// Which objects a controller works on: a namespace (or all), and the instance id (upstream's `--instance-id`:
/// only Rollouts, AnalysisRuns and Experiments labelled `argo-rollouts.argoproj.io/controller-instance-id` with
/// it; with none, only unlabelled ones).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub namespace: Option<String>,
    pub instance_id: String,
}

impl Scope {
    /// The label selector of the objects this instance owns.
    pub fn selector(&self) -> String {
        let key = crate::strategy::rollout_analysis::INSTANCE_ID_LABEL;
        if self.instance_id.is_empty() { format!("!{key}") } else { format!("{key}={}", self.instance_id) }
    }

    /// A watch of the objects this instance owns.
    pub fn watched(&self) -> kube::runtime::watcher::Config {
        kube::runtime::watcher::Config::default().labels(&self.selector())
    }
}

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Watch only this namespace (default: all).
    pub namespace: Option<String>,
    /// Namespace of the controller's ConfigMap and of drop-in plugin ConfigMaps.
    pub plugin_namespace: String,
    /// Name of the controller's ConfigMap.
    pub config_map: String,
    /// Where to serve `/healthz` and `/readyz` (none: not served).
    pub health_addr: Option<SocketAddr>,
    pub runtime: RuntimeConfig,
    /// Rollouts reconciled at the same time.
    pub rollout_threads: u16,
    /// AnalysisRuns reconciled at the same time.
    pub analysis_threads: u16,
    /// Experiments reconciled at the same time.
    pub experiment_threads: u16,
    /// Where to serve `/metrics` (none: not served).
    pub metrics_addr: Option<SocketAddr>,
    /// Upstream's `--instance-id` (see [`Scope`]).
    pub instance_id: String,
    /// Client-side limit on API requests a second (upstream's `--qps`; ≤ 0: none) and the burst above it. None:
    /// follow the API server, with no limit once it shows it has priority and fairness, [`DEFAULT_QPS`] until
    /// then or without (see [`throttle`]).
    pub qps: Option<f32>,
    pub burst: u32,
    /// The same for writing Events, which have a budget of their own (the kubelet's `--event-qps`).
    pub event_qps: f32,
    pub event_burst: u32,
    /// Reconcile only while holding this Lease (none: always, as one replica).
    pub leader_election: Option<leader::LeaderElection>,
}

/// Upstream's `--rollout-threads` default.
pub const DEFAULT_ROLLOUT_THREADS: u16 = 10;
/// The limit serin keeps without `--qps` against an API server without priority and fairness, and its `--burst`
/// default: five times upstream's 40 and 80, which would take minutes to move a thousand Rollouts through one
/// step (a step costs each Rollout a few writes).
pub const DEFAULT_QPS: f32 = 200.0;
pub const DEFAULT_BURST: u32 = 400;
/// serin's `--event-qps` and `--event-burst` defaults: Events are written in the background, on a budget of their
/// own, so that announcing what a reconcile did never delays the next one's writes.
pub const DEFAULT_EVENT_QPS: f32 = 100.0;
pub const DEFAULT_EVENT_BURST: u32 = 200;
/// Upstream's `--analysis-threads` default.
pub const DEFAULT_ANALYSIS_THREADS: u16 = 30;
/// Upstream's `--experiment-threads` default.
pub const DEFAULT_EXPERIMENT_THREADS: u16 = 10;

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            plugin_namespace: "serin".into(),
            config_map: "serin-config".into(),
            health_addr: None,
            runtime: RuntimeConfig::default(),
            rollout_threads: DEFAULT_ROLLOUT_THREADS,
            analysis_threads: DEFAULT_ANALYSIS_THREADS,
            experiment_threads: DEFAULT_EXPERIMENT_THREADS,
            metrics_addr: None,
            instance_id: String::new(),
            qps: None,
            burst: DEFAULT_BURST,
            event_qps: DEFAULT_EVENT_QPS,
            event_burst: DEFAULT_EVENT_BURST,
            leader_election: None,
        }
    }
}

/// A running controller.
pub struct Controller {
    stop: watch::Sender<bool>,
    ready: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
    catalog: Arc<Catalog>,
    health_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    metrics: Arc<metrics::Metrics>,
    leadership: watch::Receiver<leader::Leadership>,
}

impl Controller {
    /// Starts the reconcilers and the plugin watcher against `client`.
    pub async fn start(client: kube::Client, options: Options) -> anyhow::Result<Controller> {
        if let Some(election) = &options.leader_election {
            election.validate().map_err(anyhow::Error::msg)?;
        }
        let catalog = Arc::new(Catalog::new(Registry::new(Runtime::new(options.runtime.clone())?)));
        // Compile (or load from the cache) the built-ins off the async workers; AnalysisRuns are reconciled once
        // they are loaded, so no reconcile blocks a worker thread compiling one. Health is served meanwhile.
        let warm = catalog.clone();
        let warmed = tokio::task::spawn_blocking(move || {
            for b in crate::plugin::builtin::BUILTINS {
                if let Err(e) = warm.registry().get(b.name) {
                    tracing::error!(plugin = b.name, "built-in plugin failed to load: {e}");
                }
            }
        });
        let metrics = Arc::new(metrics::Metrics::new());
        metrics.watch_catalog(catalog.clone());
        // Lease renewals do not wait behind reconciles: only the reconcilers' client is throttled.
        let counted = metrics::counting_client(client.clone(), metrics.clone(), None);
        let event_client = metrics::counting_client(
            client.clone(),
            metrics.clone(),
            throttle::bucket(Some(options.event_qps), options.event_qps, options.event_burst),
        );
        let client = metrics::counting_client(
            client,
            metrics.clone(),
            throttle::bucket(options.qps, DEFAULT_QPS, options.burst),
        );
        let engine = Engine::new(catalog.clone(), Some(client.clone()));
        let recorder =
            Arc::new(events::EventRecorder::new(event_client, events::COMPONENT).counting(metrics.clone()));
        let (stop, _) = watch::channel(false);
        let (ready_tx, ready) = watch::channel(false);
        let stopped = |stop: &watch::Sender<bool>| {
            let mut rx = stop.subscribe();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(plugins::run(
            catalog.clone(),
            client.clone(),
            options.plugin_namespace.clone(),
            options.config_map.clone(),
            recorder.clone(),
            ready_tx,
            stopped(&stop),
        )));
        let reconcilers = Reconcilers {
            client: client.clone(),
            scope: Scope { namespace: options.namespace.clone(), instance_id: options.instance_id.clone() },
            rollout_threads: options.rollout_threads.max(1),
            analysis_threads: options.analysis_threads.max(1),
            experiment_threads: options.experiment_threads.max(1),
            recorder,
            catalog: catalog.clone(),
            metrics: metrics.clone(),
            engine,
            warmed: Some(warmed),
        };
        let (leadership_tx, leadership) = watch::channel(leader::Leadership::Leading);
        match options.leader_election.clone() {
            None => tasks.extend(reconcilers.spawn(stop.subscribe())),
            Some(election) => {
                let _ = leadership_tx.send(leader::Leadership::Standby);
                tasks.push(tokio::spawn(lead(
                    counted,
                    election,
                    reconcilers,
                    leadership_tx,
                    stop.subscribe(),
                )));
            }
        }

        let mut health_addr = None;
        if let Some(addr) = options.health_addr {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            health_addr = Some(listener.local_addr()?);
            let ready = ready.clone();
            let router = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" })).route(
                "/readyz",
                axum::routing::get(move || {
                    let ready = *ready.borrow();
                    async move {
                        if ready {
                            (axum::http::StatusCode::OK, "ready")
                        } else {
                            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "loading plugins")
                        }
                    }
                }),
            );
            let shutdown = stopped(&stop);
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                    tracing::warn!("health server: {e}");
                }
            }));
        }
        let mut metrics_addr = None;
        if let Some(addr) = options.metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            metrics_addr = Some(listener.local_addr()?);
            let served = metrics.clone();
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let text = served.render();
                    async move { ([(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text) }
                }),
            );
            let shutdown = stopped(&stop);
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                    tracing::warn!("metrics server: {e}");
                }
            }));
        }
        Ok(Controller { stop, ready, tasks, catalog, health_addr, metrics_addr, metrics, leadership })
    }

    /// Waits until the plugin ConfigMaps have been read once.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Where `/healthz` and `/readyz` are served, if they are.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_addr
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The controller's metrics.
    pub fn metrics(&self) -> &Arc<metrics::Metrics> {
        &self.metrics
    }

    /// Where this replica stands in leader election ([`leader::Leadership::Leading`] without it).
    pub fn leadership(&self) -> watch::Receiver<leader::Leadership> {
        self.leadership.clone()
    }

    /// Stops reconciling (in-flight reconciles finish) and waits for every task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// What the reconcilers need, so that they can start at once or only once this replica leads.
struct Reconcilers {
    client: kube::Client,
    scope: Scope,
    rollout_threads: u16,
    analysis_threads: u16,
    experiment_threads: u16,
    recorder: Arc<events::EventRecorder>,
    catalog: Arc<Catalog>,
    metrics: Arc<metrics::Metrics>,
    engine: Engine,
    /// The built-in plugins' warm-up: AnalysisRuns are reconciled once it is done.
    warmed: Option<JoinHandle<()>>,
}

impl Reconcilers {
    /// Starts the Rollout, Experiment and AnalysisRun controllers, which run until `stop` turns true.
    fn spawn(mut self, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let stopped = || {
            let mut rx = stop.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(rollout::run(
            self.client.clone(),
            self.scope.clone(),
            self.rollout_threads,
            self.recorder.clone(),
            self.catalog.clone(),
            self.metrics.clone(),
            stopped(),
        )));
        let experiments = Arc::new(experiment::Context {
            client: self.client.clone(),
            recorder: self.recorder.clone(),
            metrics: self.metrics.clone(),
        });
        tasks.push(tokio::spawn(experiment::run(
            experiments,
            self.scope.clone(),
            self.experiment_threads,
            stopped(),
        )));
        let warmed = self.warmed.take();
        let ctx = Arc::new(analysis_run::Context {
            engine: self.engine,
            client: self.client,
            recorder: self.recorder,
            metrics: self.metrics,
        });
        let (scope, workers, stop_runs) = (self.scope, self.analysis_threads, stopped());
        tasks.push(tokio::spawn(async move {
            if let Some(warmed) = warmed {
                let _ = warmed.await;
            }
            analysis_run::run(ctx, scope, workers, stop_runs).await
        }));
        tasks
    }
}

/// Campaigns for the Lease, runs the reconcilers while leading, and stops them when leadership is lost or the
/// controller shuts down (the Lease is released after they have stopped, so that a standby takes over at once).
async fn lead(
    client: kube::Client,
    election: leader::LeaderElection,
    reconcilers: Reconcilers,
    leadership: watch::Sender<leader::Leadership>,
    mut stop: watch::Receiver<bool>,
) {
    let (campaign_stop_tx, campaign_stop) = watch::channel(false);
    let (halt_tx, halt) = watch::channel(false);
    let mut state = leadership.subscribe();
    let campaign = tokio::spawn(leader::campaign(client, election, leadership, campaign_stop));
    let mut reconcilers = Some(reconcilers);
    let mut running = Vec::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = *state.borrow_and_update();
                match now {
                    leader::Leadership::Leading => {
                        if let Some(r) = reconcilers.take() {
                            running = r.spawn(halt.clone());
                        }
                    }
                    leader::Leadership::Lost => break,
                    leader::Leadership::Standby => {}
                }
            }
        }
    }
    let _ = halt_tx.send(true);
    for task in running {
        let _ = task.await;
    }
    let _ = campaign_stop_tx.send(true);
    let _ = campaign.await;
}

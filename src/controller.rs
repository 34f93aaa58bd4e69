//! The controller: reconcilers for serin's resources (Rollouts, AnalysisRuns and Experiments), plugin
//! registration from ConfigMaps, health endpoints and graceful shutdown.

pub mod analysis_run;
pub mod events;
pub mod experiment;
pub mod metrics;
pub mod plugins;
pub mod rollout;

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
    /// Where to serve `/metrics` (none: not served).
    pub metrics_addr: Option<SocketAddr>,
    /// Upstream's `--instance-id` (see [`Scope`]).
    pub instance_id: String,
}

/// Upstream's `--rollout-threads` default.
pub const DEFAULT_ROLLOUT_THREADS: u16 = 10;

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            plugin_namespace: "serin".into(),
            config_map: "serin-config".into(),
            health_addr: None,
            runtime: RuntimeConfig::default(),
            rollout_threads: DEFAULT_ROLLOUT_THREADS,
            metrics_addr: None,
            instance_id: String::new(),
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
}

impl Controller {
    /// Starts the reconcilers and the plugin watcher against `client`.
    pub async fn start(client: kube::Client, options: Options) -> anyhow::Result<Controller> {
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
        let client = metrics::counting_client(client, metrics.clone());
        let engine = Engine::new(catalog.clone(), Some(client.clone()));
        let recorder =
            Arc::new(events::EventRecorder::new(client.clone(), events::COMPONENT).counting(metrics.clone()));
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
        let scope = Scope { namespace: options.namespace.clone(), instance_id: options.instance_id.clone() };
        let (rollout_scope, stop_rollouts) = (scope.clone(), stopped(&stop));
        tasks.push(tokio::spawn(rollout::run(
            client.clone(),
            rollout_scope,
            options.rollout_threads.max(1),
            recorder.clone(),
            catalog.clone(),
            metrics.clone(),
            stop_rollouts,
        )));
        let experiments = Arc::new(experiment::Context {
            client: client.clone(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
        });
        let (experiment_scope, stop_experiments) = (scope.clone(), stopped(&stop));
        tasks.push(tokio::spawn(experiment::run(experiments, experiment_scope, stop_experiments)));
        let ctx = Arc::new(analysis_run::Context {
            engine,
            client: client.clone(),
            recorder,
            metrics: metrics.clone(),
        });
        let (run_scope, stop_runs) = (scope, stopped(&stop));
        tasks.push(tokio::spawn(async move {
            let _ = warmed.await;
            analysis_run::run(ctx, run_scope, stop_runs).await
        }));

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
        Ok(Controller { stop, ready, tasks, catalog, health_addr, metrics_addr, metrics })
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

    /// Stops reconciling (in-flight reconciles finish) and waits for every task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

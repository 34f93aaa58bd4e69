//! Embedded Kubernetes API server with a simulated kubelet, for tests, the demo and plugin development.
//!
//! It speaks the real REST protocol over plain HTTP (discovery, CRUD, patch, watch with resourceVersions,
//! bookmarks and 410 Gone, status/scale subresources, selectors, `Status` errors) so that `kube::Client` and
//! `kubectl` work against it unchanged. See `DESIGN.md`, "Testing without a cluster".
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use serin::cluster::{self, ClusterConfig};
//! let cluster = cluster::start(ClusterConfig::builder().build()).await?;
//! let client = cluster.client()?;
//! # let _ = client;
//! cluster.shutdown().await?;
//! # Ok(()) }
//! ```

mod builtin_validation;
mod deployment;
mod discovery;
mod events;
mod faults;
mod kubeconfig;
mod kubelet;
mod object;
mod openapi;
mod patch;
mod persist;
mod protobuf;
mod registry;
mod render;
mod schema;
mod selector;
mod server;
mod status;
mod store;
mod watch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::sync::watch as channel;
use tokio::task::JoinHandle;

pub use faults::{Faults, InjectedError};
pub use kubelet::{JobOutcome, NODE_NAME, Readiness};
pub use status::ApiError;

use kubelet::SimConfig;
use store::Store;

/// How to run the embedded cluster. Build it with [`ClusterConfig::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Address to listen on (default `127.0.0.1:0`, an ephemeral port).
    pub listen: SocketAddr,
    /// Delay from pod creation to Running + Ready (default 500 ms).
    pub ready_after: Duration,
    /// Per-image readiness overrides, keyed by the exact image string.
    pub image_readiness: BTreeMap<String, Readiness>,
    /// Delay from Job creation to `Complete` (default 1 s).
    pub job_complete_after: Duration,
    /// Per-image Job outcomes, keyed by the exact image string.
    pub job_outcomes: BTreeMap<String, JobOutcome>,
    /// Directory to load state from at start and save it to on shutdown (None: memory only).
    pub state_dir: Option<PathBuf>,
    /// How many change events are retained for watches; older resourceVersions get 410 Gone (default 10 000).
    pub history_window: usize,
    /// Period of watch bookmarks when a client allows them (default 60 s, like upstream).
    pub bookmark_interval: Duration,
    /// Faults injected from the start.
    pub faults: Faults,
    /// How long Events (core/v1 and events.k8s.io/v1) are kept, like the API server's `--event-ttl` (default 1 h).
    pub event_ttl: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ready_after: Duration::from_millis(500),
            image_readiness: BTreeMap::new(),
            job_complete_after: Duration::from_secs(1),
            job_outcomes: BTreeMap::new(),
            state_dir: None,
            history_window: 10_000,
            bookmark_interval: Duration::from_secs(60),
            faults: Faults::default(),
            event_ttl: Duration::from_secs(3600),
        }
    }
}

impl ClusterConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ClusterConfigBuilder {
        ClusterConfigBuilder(ClusterConfig::default())
    }
}

/// Builder for [`ClusterConfig`].
#[derive(Debug, Clone)]
pub struct ClusterConfigBuilder(ClusterConfig);

impl ClusterConfigBuilder {
    /// Listen address.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.0.listen = addr;
        self
    }

    /// Default pod readiness delay.
    pub fn ready_after(mut self, d: Duration) -> Self {
        self.0.ready_after = d;
        self
    }

    /// Pods running `image` become ready after `d`.
    pub fn image_ready_after(mut self, image: impl Into<String>, d: Duration) -> Self {
        self.0.image_readiness.insert(image.into(), Readiness::After(d));
        self
    }

    /// Pods running `image` start but never become ready.
    pub fn image_never_ready(mut self, image: impl Into<String>) -> Self {
        self.0.image_readiness.insert(image.into(), Readiness::Never);
        self
    }

    /// Default Job completion delay.
    pub fn job_complete_after(mut self, d: Duration) -> Self {
        self.0.job_complete_after = d;
        self
    }

    /// Jobs whose pod runs `image` end this way.
    pub fn job_outcome(mut self, image: impl Into<String>, outcome: JobOutcome) -> Self {
        self.0.job_outcomes.insert(image.into(), outcome);
        self
    }

    /// Load from / save to this directory.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.0.state_dir = Some(dir.into());
        self
    }

    /// Number of retained watch events.
    pub fn history_window(mut self, events: usize) -> Self {
        self.0.history_window = events;
        self
    }

    /// Period of watch bookmarks.
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.0.bookmark_interval = d;
        self
    }

    /// Initial faults.
    pub fn faults(mut self, f: Faults) -> Self {
        self.0.faults = f;
        self
    }

    /// How long Events are kept.
    pub fn event_ttl(mut self, d: Duration) -> Self {
        self.0.event_ttl = d;
        self
    }

    /// The finished configuration.
    pub fn build(self) -> ClusterConfig {
        self.0
    }
}

/// A running embedded cluster. Dropping it stops the server (without saving state); prefer [`Self::shutdown`].
pub struct ClusterHandle {
    addr: SocketAddr,
    store: Arc<Store>,
    faults: Arc<faults::FaultInjector>,
    shutdown_tx: channel::Sender<bool>,
    drops_tx: channel::Sender<u64>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    sim: Option<JoinHandle<()>>,
    state_dir: Option<PathBuf>,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle").field("addr", &self.addr).finish()
    }
}

/// Starts the server and the simulated kubelet on the current tokio runtime.
pub async fn start(config: ClusterConfig) -> anyhow::Result<ClusterHandle> {
    let store = Store::new(config.history_window);
    store.set_event_ttl(config.event_ttl);
    if let Some(dir) = &config.state_dir {
        let n =
            persist::load(&store, dir).with_context(|| format!("loading state from {}", dir.display()))?;
        tracing::info!(objects = n, dir = %dir.display(), "loaded state");
    }
    let namespaces = store
        .by_gr(&registry::GroupResource::new("", "namespaces"))
        .context("the namespace type is built in")?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if store.get_opt(&namespaces, "", ns).is_none() {
            store
                .create(
                    &namespaces,
                    "",
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                    false,
                )
                .map_err(|e| anyhow::anyhow!("creating namespace {ns}: {e}"))?;
        }
    }
    if let Some(nodes) = store.by_gr(&registry::GroupResource::new("", "nodes"))
        && store.get_opt(&nodes, "", NODE_NAME).is_none()
    {
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"}},
            "spec": {}});
        let created =
            store.create(&nodes, "", node, false).map_err(|e| anyhow::anyhow!("creating the node: {e}"))?;
        let now = object::now();
        store
            .mutate(&nodes, "", object::name(&created), store::Subresource::Status, |n| {
                n["status"] = json!({
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
                    "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": NODE_NAME}],
                    "nodeInfo": {"kubeletVersion": "v1.33.0-serin", "operatingSystem": "linux", "architecture": "amd64",
                        "containerRuntimeVersion": "serin://0", "kernelVersion": "", "osImage": "serin", "kubeProxyVersion": "",
                        "machineID": "", "systemUUID": "", "bootID": ""},
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "1000"},
                    "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "1000"}
                });
            })
            .map_err(|e| anyhow::anyhow!("setting node status: {e}"))?;
    }

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let (shutdown_tx, shutdown_rx) = channel::channel(false);
    let (drops_tx, drops_rx) = channel::channel(0u64);
    let faults = Arc::new(faults::FaultInjector::new(config.faults.clone()));
    let app = Arc::new(server::App {
        store: store.clone(),
        faults: faults.clone(),
        shutdown: shutdown_rx.clone(),
        drops: drops_rx,
        bookmark_interval: config.bookmark_interval,
        server_address: addr.to_string(),
    });
    let mut stop = shutdown_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, server::router(app))
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    });
    let sim_cfg = Arc::new(SimConfig {
        ready_after: config.ready_after,
        image_readiness: config.image_readiness.clone(),
        job_complete_after: config.job_complete_after,
        job_outcomes: config.job_outcomes.clone(),
    });
    let sim = tokio::spawn(kubelet::run(store.clone(), sim_cfg, shutdown_rx));
    tracing::info!(%addr, "embedded cluster listening");
    Ok(ClusterHandle {
        addr,
        store,
        faults,
        shutdown_tx,
        drops_tx,
        server: Some(server),
        sim: Some(sim),
        state_dir: config.state_dir,
    })
}

impl ClusterHandle {
    /// Base URL, e.g. `http://127.0.0.1:41235`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig (cluster/user/context `serin`, namespace `default`) pointing at this server.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::render(&self.url(), "default")
    }

    /// Writes [`Self::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> anyhow::Result<()> {
        kubeconfig::write(path.as_ref(), &self.url())
    }

    /// A `kube::Client` for this server (default namespace `default`). Call inside a tokio runtime.
    pub fn client(&self) -> anyhow::Result<kube::Client> {
        let uri: http::Uri = self.url().parse().context("parsing the server URL")?;
        let config = kube::Config::new(uri);
        kube::Client::try_from(config).context("building a kube client")
    }

    /// Replaces the injected faults (takes effect for the next request).
    pub fn set_faults(&self, faults: Faults) {
        self.faults.set(faults);
    }

    /// The injected faults in force.
    pub fn faults(&self) -> Faults {
        self.faults.get()
    }

    /// Ends every open watch stream now (clients see the stream close and re-watch).
    pub fn drop_watches(&self) {
        self.drops_tx.send_modify(|n| *n += 1);
    }

    /// Changes how many events are retained for watches.
    pub fn set_history_window(&self, events: usize) {
        self.store.set_history_limit(events);
    }

    /// Forgets all retained events: every resourceVersion handed out so far is now too old (410 Gone) to
    /// watch or paginate from.
    pub fn compact_history(&self) {
        self.store.compact();
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.store.current_rv()
    }

    /// Saves state to the configured directory now.
    pub fn save_state(&self) -> anyhow::Result<()> {
        match &self.state_dir {
            Some(dir) => persist::save(&self.store, dir),
            None => anyhow::bail!("no state directory configured"),
        }
    }

    /// Saves state to `dir` now.
    pub fn save_state_to(&self, dir: impl AsRef<Path>) -> anyhow::Result<()> {
        persist::save(&self.store, dir.as_ref())
    }

    /// Stops serving (open watches end), stops the simulation and saves state if a directory is configured.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown_tx.send(true);
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(10), server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(e).context("serving"),
                Ok(Err(e)) => return Err(e).context("server task"),
                Err(_) => tracing::warn!("server did not stop within 10s"),
            }
        }
        if let Some(sim) = self.sim.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), sim).await;
        }
        if let Some(dir) = &self.state_dir {
            persist::save(&self.store, dir).with_context(|| format!("saving state to {}", dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

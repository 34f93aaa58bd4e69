//! `serin controller`: run the controller against a cluster until SIGTERM or Ctrl-C.

use crate::controller::leader::{LeaderElection, Leadership};
use crate::controller::{Controller, Options};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubeconfig to use (default: in-cluster configuration, else $KUBECONFIG / ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Namespace of the controller's ConfigMap and drop-in plugin ConfigMaps.
    #[arg(long, env = "SERIN_NAMESPACE", default_value = "serin")]
    plugin_namespace: String,
    /// Name of the controller's ConfigMap.
    #[arg(long, default_value = "serin-config")]
    config_map: String,
    /// Address for `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    health_addr: SocketAddr,
    /// The port `/healthz` and `/readyz` are served on, on every address (upstream's flag; overrides the port of
    /// --health-addr).
    #[arg(long = "healthzPort")]
    healthz_port: Option<u16>,
    /// Only Rollouts, AnalysisRuns and Experiments labelled `argo-rollouts.argoproj.io/controller-instance-id`
    /// with this value (upstream's flag); without it, only unlabelled ones.
    #[arg(long, default_value = "")]
    instance_id: String,
    /// Work in one namespace only (upstream's flag): --namespace, else POD_NAMESPACE, else the kubeconfig
    /// context's (in a cluster, the service account's), else `default`.
    #[arg(long)]
    namespaced: bool,
    /// Rollouts reconciled at the same time (upstream's flag and default).
    #[arg(long, default_value_t = crate::controller::DEFAULT_ROLLOUT_THREADS)]
    rollout_threads: u16,
    /// AnalysisRuns reconciled at the same time (upstream's flag and default).
    #[arg(long, default_value_t = crate::controller::DEFAULT_ANALYSIS_THREADS)]
    analysis_threads: u16,
    /// Experiments reconciled at the same time (upstream's flag and default).
    #[arg(long, default_value_t = crate::controller::DEFAULT_EXPERIMENT_THREADS)]
    experiment_threads: u16,
    /// API requests a second, at most (upstream's flag; 0: no limit). Without it serin follows the API server:
    /// no limit once the server shows it has API Priority and Fairness (every kube-apiserver since 1.20 does),
    /// 200 (five times upstream's 40) until then or without.
    #[arg(long)]
    qps: Option<f32>,
    /// Requests allowed in a burst above --qps (upstream's flag; serin's default is five times upstream's 80).
    #[arg(long, default_value_t = crate::controller::DEFAULT_BURST)]
    burst: u32,
    /// Events written a second, at most: they are written in the background on a budget of their own, so they
    /// never delay a reconcile (the kubelet's flag; 0: no limit).
    #[arg(long, default_value_t = crate::controller::DEFAULT_EVENT_QPS)]
    event_qps: f32,
    /// Events allowed in a burst above --event-qps.
    #[arg(long, default_value_t = crate::controller::DEFAULT_EVENT_BURST)]
    event_burst: u32,
    /// Reconcile only while holding the `serin-controller-lock` Lease (`serin-controller-lock-ID` with an
    /// --instance-id) in the controller's namespace (--plugin-namespace), so that several replicas can run
    /// (upstream's flag and default);
    /// `--leader-elect=false` for a single local process.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    leader_elect: bool,
    /// How long a standby waits after the leader's last renewal before taking over (upstream's flag and default).
    #[arg(long, default_value = "15s", value_parser = crate::api::duration::parse_flag_duration)]
    leader_election_lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops leading (upstream's flag and default).
    #[arg(long, default_value = "10s", value_parser = crate::api::duration::parse_flag_duration)]
    leader_election_renew_deadline: Duration,
    /// How often the leader renews and a standby retries (upstream's flag and default).
    #[arg(long, default_value = "2s", value_parser = crate::api::duration::parse_flag_duration)]
    leader_election_retry_period: Duration,
    /// The controller's log level (upstream's flag and default): debug, info, warn or error. `--log` and
    /// `RUST_LOG` take a full filter instead.
    #[arg(long, value_parser = ["trace", "debug", "info", "warn", "warning", "error"])]
    loglevel: Option<String>,
    /// Log format, `text` or `json` (upstream's flag; the same as serin's `--log-format`).
    #[arg(long, value_enum)]
    logformat: Option<crate::cli::LogFormat>,
    /// Logging of the Kubernetes client (upstream's klog level): 0 warnings only, 1–3 info, 4–5 debug, 6 and
    /// above trace.
    #[arg(long, default_value_t = 0)]
    kloglevel: u8,
    /// The port `/metrics` is served on, on every address (upstream's flag and default; `--metricsport` is
    /// its older spelling); 0 turns it off.
    #[arg(long = "metricsPort", alias = "metricsport", default_value_t = crate::controller::metrics::DEFAULT_METRICS_PORT)]
    metrics_port: u16,
}

impl Args {
    /// The log filter and format for this command, given serin's global `--log` (`None` when it was not
    /// given): upstream's `--loglevel` (default info) for serin's own logs, `--kloglevel` for the client's,
    /// warnings for everything else.
    pub(crate) fn logging(&self, log: Option<&str>) -> (String, Option<crate::cli::LogFormat>) {
        let filter = match (log, &self.loglevel) {
            (Some(log), None) => log.to_string(),
            (_, level) => {
                let level = match level.as_deref() {
                    None => "info",
                    Some("warning") => "warn",
                    Some(l) => l,
                };
                let client = match self.kloglevel {
                    0 => "warn",
                    1..=3 => "info",
                    4..=5 => "debug",
                    _ => "trace",
                };
                format!("warn,serin={level},kube={client},kube_client={client},kube_runtime={client}")
            }
        };
        (filter, self.logformat)
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let leader_election = args.leader_elect.then(|| LeaderElection {
        lease_duration: args.leader_election_lease_duration,
        renew_deadline: args.leader_election_renew_deadline,
        retry_period: args.leader_election_retry_period,
        lease_name: LeaderElection::lease_name_for(&args.instance_id),
        ..LeaderElection::new(args.plugin_namespace.clone())
    });
    if let Some(election) = &leader_election {
        election.validate().map_err(crate::cli::UsageError)?;
    }
    let client = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .context("loading the kubeconfig")?;
            kube::Client::try_from(config)?
        }
        None => kube::Client::try_default().await.context("connecting to the cluster")?,
    };
    let mut health_addr = args.health_addr;
    if let Some(port) = args.healthz_port {
        health_addr = SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port));
    }
    // Upstream watches every namespace unless it is namespaced; serin also takes --namespace alone as asking
    // for one namespace.
    let namespace = match (args.namespaced, args.namespace) {
        (_, Some(ns)) => Some(ns),
        (true, None) => Some(
            std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| client.default_namespace().to_string()),
        ),
        (false, None) => None,
    };
    let options = Options {
        namespace,
        instance_id: args.instance_id.clone(),
        plugin_namespace: args.plugin_namespace.clone(),
        config_map: args.config_map,
        health_addr: Some(health_addr),
        rollout_threads: args.rollout_threads,
        analysis_threads: args.analysis_threads,
        experiment_threads: args.experiment_threads,
        qps: args.qps,
        burst: args.burst,
        event_qps: args.event_qps,
        event_burst: args.event_burst,
        leader_election,
        metrics_addr: (args.metrics_port != 0)
            .then(|| SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, args.metrics_port))),
        ..Options::default()
    };
    let controller = Controller::start(client, options).await?;
    tracing::info!(health = ?controller.health_addr(), metrics = ?controller.metrics_addr(), "serin controller started");
    let mut leadership = controller.leadership();
    // A replica that lost the Lease stops and exits, as upstream's does: its pod restarts as a standby.
    let lost = async {
        if leadership.wait_for(|l| *l == Leadership::Lost).await.is_err() {
            // No election (or it has ended without losing): nothing to wait for.
            std::future::pending::<()>().await;
        }
    };
    let outcome = tokio::select! {
        () = shutdown_signal() => Ok(()),
        () = lost => Err(anyhow::anyhow!("leader election lost: another replica holds the Lease")),
    };
    tracing::info!("shutting down");
    controller.shutdown().await;
    outcome
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

//! `serin controller`: run the controller against a cluster until SIGTERM or Ctrl-C.

use crate::controller::{Controller, Options};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// The port `/metrics` is served on, on every address (upstream's flag and default; `--metricsport` is
    /// its older spelling); 0 turns it off.
    #[arg(long = "metricsPort", alias = "metricsport", default_value_t = crate::controller::metrics::DEFAULT_METRICS_PORT)]
    metrics_port: u16,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
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
        instance_id: args.instance_id,
        plugin_namespace: args.plugin_namespace,
        config_map: args.config_map,
        health_addr: Some(health_addr),
        rollout_threads: args.rollout_threads,
        metrics_addr: (args.metrics_port != 0)
            .then(|| SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, args.metrics_port))),
        ..Options::default()
    };
    let controller = Controller::start(client, options).await?;
    tracing::info!(health = ?controller.health_addr(), metrics = ?controller.metrics_addr(), "serin controller started");
    shutdown_signal().await;
    tracing::info!("shutting down");
    controller.shutdown().await;
    Ok(())
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

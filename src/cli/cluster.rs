//! `serin cluster`: run the embedded API server and simulated kubelet in the foreground.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::api::duration::parse_flag_duration;
use crate::cluster::{self, ClusterConfig};

/// Run an embedded Kubernetes API server with a simulated kubelet (no real containers).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443", env = "SERIN_CLUSTER_LISTEN")]
    pub listen: SocketAddr,
    /// Where to write the kubeconfig.
    #[arg(long, default_value = "serin-kubeconfig.yaml")]
    pub kubeconfig_out: PathBuf,
    /// Delay before pods become ready, e.g. `500ms`, `2s`.
    #[arg(long, default_value = "500ms", value_parser = parse_flag_duration)]
    pub ready_after: Duration,
    /// Delay before Jobs complete.
    #[arg(long, default_value = "1s", value_parser = parse_flag_duration)]
    pub job_complete_after: Duration,
    /// Directory to load state from at start and save it to when stopped by Ctrl-C or SIGTERM (a crash loses
    /// what was written since the start).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// Runs until Ctrl-C, then shuts down cleanly (saving state if `--state-dir` was given).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut builder = ClusterConfig::builder()
        .listen(args.listen)
        .ready_after(args.ready_after)
        .job_complete_after(args.job_complete_after);
    if let Some(dir) = &args.state_dir {
        builder = builder.state_dir(dir);
    }
    let handle = cluster::start(builder.build()).await.context("starting the embedded cluster")?;
    handle.write_kubeconfig(&args.kubeconfig_out)?;
    let kubeconfig =
        std::fs::canonicalize(&args.kubeconfig_out).unwrap_or_else(|_| args.kubeconfig_out.clone());
    println!("serin cluster listening on {}", handle.url());
    println!("kubeconfig written to {}", kubeconfig.display());
    println!();
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl get namespaces");
    println!("  kubectl apply -f manifest.yaml");
    println!();
    println!("Press Ctrl-C to stop.");
    let signal = stop_signal().await.context("waiting for Ctrl-C or SIGTERM")?;
    println!("{signal}: shutting down");
    handle.shutdown().await
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM (what `kill`, systemd and Kubernetes send): either stops the cluster
/// cleanly, saving its state.
pub(crate) async fn stop_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(tokio::select! {
        _ = interrupt.recv() => "interrupted",
        _ = terminate.recv() => "terminated",
    })
}

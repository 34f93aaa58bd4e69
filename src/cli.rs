//! Command-line interface: one module per command group, each a clap `Args` and a `run` function.

mod analyze;
pub mod cluster;
mod condition;
mod controller;
pub mod crds;
mod demo;
pub mod lint;
mod manifests;
mod plugin;
pub mod rollouts;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Progressive delivery for Kubernetes: Argo Rollouts' API, with every integration a sandboxed WebAssembly
/// component.
#[derive(Debug, Parser)]
#[command(name = "serin", version, about, propagate_version = true)]
struct Cli {
    /// Log filter (tracing-subscriber syntax), e.g. `info` or `serin=debug`; `RUST_LOG` overrides it. Default:
    /// warnings (`controller`: its `--loglevel`).
    #[arg(long, global = true)]
    log: Option<String>,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, list and run plugins.
    #[command(subcommand)]
    Plugin(plugin::Command),
    /// Judge a result with a success / failure condition pair, as an AnalysisRun would.
    ///
    /// Exit status: 0 Successful, 1 Failed, 2 Error, 3 Inconclusive; 64 for usage errors.
    Condition(condition::Args),
    /// Deploy → observe → decide on this machine: embedded cluster, controller, an app, a live analysis.
    Demo(demo::Args),
    /// Run AnalysisTemplates on this machine with the controller's engine, live.
    ///
    /// Exit status: 0 Successful, 1 Failed, 2 Error, 3 Inconclusive; 64 for usage errors.
    Analyze(analyze::Args),
    /// Print the CustomResourceDefinitions serin serves.
    Crds(crds::CrdsArgs),
    /// Print the install manifest (CRDs, RBAC, ConfigMap, the controller's Deployment and metrics Service).
    Manifests(manifests::Args),
    /// Check Argo Rollouts manifests without a cluster.
    ///
    /// Decodes and validates every Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun and
    /// Experiment in the given YAML streams; other kinds are skipped with a note. Each finding prints as
    /// `file:document: kind/name: field.path: message` (documents count from 1; 0 is the whole file).
    ///
    /// Exit status: 0 when everything is valid, 1 when anything is invalid, 2 when an input cannot be read.
    Lint(lint::LintArgs),
    /// Run an embedded Kubernetes API server with a simulated kubelet.
    Cluster(cluster::Args),
    /// Run the controller against a cluster: Rollouts (canary without a router, blue-green) and AnalysisRuns.
    Controller(controller::Args),
    /// Drive Rollouts as `kubectl argo rollouts` does: promote, abort, retry, pause, restart, set image, undo,
    /// status, list, terminate. Installed as `kubectl-argo-rollouts` or `kubectl-serin`, the binary answers
    /// those command lines directly.
    ///
    /// Exit status as upstream's: 0 when done, 1 for any error (`status`: Degraded or timed out); a usage
    /// error is 64 here, as for every serin command, and 1 as a kubectl plugin, as upstream's.
    #[command(alias = "ro")]
    Rollouts(rollouts::Args),
}

/// serin's whole command line (for shell completion).
pub(crate) fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Parses the command line, runs the command and turns its outcome into an exit code.
pub fn main() -> ExitCode {
    if let Some(name) = std::env::args().next().as_deref().and_then(rollouts::plugin_name) {
        init_logging("warn", LogFormat::Text);
        return rollouts::main_as_plugin(name);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; anything else is a usage error (EX_USAGE).
            return if e.use_stderr() { ExitCode::from(64) } else { ExitCode::SUCCESS };
        }
    };
    match &cli.command {
        Command::Controller(args) => {
            let (filter, format) = args.logging(cli.log.as_deref());
            init_logging(&filter, format.unwrap_or(cli.log_format));
        }
        _ => init_logging(cli.log.as_deref().unwrap_or("warn"), cli.log_format),
    }
    if !matches!(cli.command, Command::Cluster(_) | Command::Controller(_)) {
        quiet_on_closed_pipe();
    }
    fewer_malloc_arenas();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Plugin(cmd) => plugin::run(cmd).await,
            Command::Condition(args) => condition::run(args).await,
            Command::Analyze(args) => analyze::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Crds(args) => crds::run(args),
            Command::Manifests(args) => manifests::run(args),
            Command::Lint(args) => lint::run(args),
            Command::Cluster(args) => cluster::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Controller(args) => controller::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Rollouts(args) => rollouts::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(if e.is::<UsageError>() { 64 } else { 2 })
        }
    }
}

/// A command whose output is piped into one that stops reading (`serin crds | head`) ends quietly, as Unix tools
/// do, instead of panicking on the write: the default SIGPIPE action, which Rust's runtime replaces with
/// "ignore". Sockets are unaffected (they are written with MSG_NOSIGNAL). Not for the servers, which keep
/// running whatever happens to their standard output.
pub(crate) fn quiet_on_closed_pipe() {
    // SAFETY: called before any other thread writes to a pipe; restoring a signal's default disposition has no
    // other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The exit status of a command that judges something (`condition`, `plugin run`, `analyze`): the same verdict
/// exits the same way in each. Usage errors are 64 and an interrupted `analyze` 130, as everywhere.
pub(crate) fn verdict_exit(phase: &str) -> ExitCode {
    ExitCode::from(match phase {
        "Successful" => 0,
        "Failed" => 1,
        "Inconclusive" => 3,
        // A measurement still in progress (`plugin run` of a provider that answers later, e.g. job).
        "Running" => 4,
        _ => 2,
    })
}

/// A command line that cannot be used as given (exit 64, EX_USAGE), as opposed to a failure while running.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Turns a flag's parse error into a usage error naming the flag.
pub(crate) fn usage<E: std::fmt::Display>(flag: &'static str) -> impl FnOnce(E) -> anyhow::Error {
    move |e| UsageError(format!("{flag}: {e}")).into()
}

fn init_logging(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours for a terminal only: a log file or a pod's log gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// glibc gives each thread that allocates its own arena (up to eight per CPU), and memory freed into one stays
/// with it: a controller holding 1,000 Rollouts kept about 20% more resident memory that way than with two
/// arenas, and was no faster for it (docs/performance.md). `MALLOC_ARENA_MAX`, when set, still decides.
fn fewer_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt takes the allocator's own lock and only changes its settings; called before the runtime
        // starts its threads, so that they all share the two arenas.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

//! Command-line interface: one module per command group, each a clap `Args` and a `run` function.

mod condition;
mod plugin;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Progressive delivery for Kubernetes: Argo Rollouts' API, with every integration a sandboxed WebAssembly
/// component.
#[derive(Debug, Parser)]
#[command(name = "serin", version, about, propagate_version = true)]
struct Cli {
    /// Log filter (tracing-subscriber syntax), e.g. `info` or `serin=debug`; `RUST_LOG` overrides it.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, list and run plugins.
    #[command(subcommand)]
    Plugin(plugin::Command),
    /// Judge a result with a success / failure condition pair, as an AnalysisRun would.
    Condition(condition::Args),
}

/// Parses the command line, runs the command and turns its outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
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
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

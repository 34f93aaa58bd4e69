//! `serin condition`: judge a result with Argo's condition semantics, through the built-in `expr` evaluator.

use crate::plugin::{CallOptions, MetricValue, Registry, Runtime, RuntimeConfig, Verdict};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The metric's successCondition, e.g. `result[0] >= 0.95` (one beginning with `-` is a condition too).
    #[arg(long, allow_hyphen_values = true)]
    success: Option<String>,
    /// The metric's failureCondition.
    #[arg(long, allow_hyphen_values = true)]
    failure: Option<String>,
    /// The measured value as JSON; bare NaN, Inf, +Inf and -Inf are accepted (e.g. `[0.97, NaN]`, `-Inf`).
    #[arg(long, allow_hyphen_values = true)]
    result: String,
}

/// Prints `Successful`, `Failed` or `Inconclusive`, or `Error: <reason>`; the exit status follows the verdict.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let result = MetricValue::parse(&args.result).map_err(super::usage("--result"))?;
    let registry = Registry::new(Runtime::new(RuntimeConfig::default())?);
    let evaluator = registry.get("expr")?;
    // The evaluator failing (a trap, its deadline) is an Error outcome too, as on an AnalysisRun.
    let verdict = evaluator
        .assess(&CallOptions::default(), args.success.as_deref(), args.failure.as_deref(), &result)
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let phase = match verdict {
        Ok(v) => {
            println!("{}", verdict_name(v));
            verdict_name(v)
        }
        Err(reason) => {
            println!("Error: {reason}");
            "Error"
        }
    };
    Ok(super::verdict_exit(phase))
}

pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Successful => "Successful",
        Verdict::Failed => "Failed",
        Verdict::Inconclusive => "Inconclusive",
    }
}

//! `serin lint FILE|DIR|- …`: check manifests of the five kinds without a cluster.

use std::process::ExitCode;

use anyhow::Context;

use crate::api::lint::{ConditionCheck, Input, LintOptions, lint_paths};
use crate::plugin::{CallOptions, Registry, Runtime, RuntimeConfig};

/// Output format of `serin lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// `file:document: kind/name: field.path: message`, one finding per line.
    Text,
    /// One JSON object with `findings` and counts.
    Json,
}

/// Arguments of `serin lint` (the command's help text lives on the subcommand in `main.rs`).
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// YAML or JSON files, directories (searched recursively for *.yaml, *.yml and *.json in any case,
    /// following links), or `-` for stdin.
    #[arg(required = true, value_name = "FILE|DIR|-")]
    pub inputs: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Output,
    /// Treat unknown fields as errors, not warnings.
    #[arg(long)]
    pub strict: bool,
}

/// Runs `serin lint`.
pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    let inputs: Vec<Input> = args.inputs.iter().map(|a| Input::from_arg(a)).collect();
    let options = LintOptions { strict: args.strict, conditions: Some(condition_check()?) };
    let report = lint_paths(&inputs, options, &mut std::io::stdin().lock());
    match args.output {
        Output::Text => {
            for finding in &report.findings {
                println!("{finding}");
            }
            eprintln!("{}", report.summary());
        }
        Output::Json => {
            let json = serde_json::to_string_pretty(&report).context("encoding the report as JSON")?;
            println!("{json}");
        }
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// Conditions are compiled by the built-in evaluator the controller uses. Lint runs once per process, so the
/// evaluator lives as long as the process.
pub(crate) fn condition_check() -> anyhow::Result<ConditionCheck> {
    let registry = Registry::new(Runtime::new(RuntimeConfig::default())?);
    let evaluator = registry.get("expr")?;
    let handle = tokio::runtime::Handle::current();
    // Manifests repeat their conditions: each distinct one is compiled once.
    let seen = std::sync::Mutex::new(std::collections::HashMap::<String, Result<(), String>>::new());
    let check = move |condition: &str| -> Result<(), String> {
        if let Some(known) = seen.lock().unwrap_or_else(|p| p.into_inner()).get(condition) {
            return known.clone();
        }
        let checked = tokio::task::block_in_place(|| {
            handle.block_on(evaluator.check(&CallOptions::default(), condition))
        })
        .unwrap_or_else(|e| Err(e.to_string()));
        seen.lock().unwrap_or_else(|p| p.into_inner()).insert(condition.to_string(), checked.clone());
        checked
    };
    Ok(ConditionCheck(Box::leak(Box::new(check))))
}

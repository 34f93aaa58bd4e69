//! Test plugin: a step plugin. `run` keeps the step running until it has been called `succeedAfter` times (its
//! configuration; default 1), counting in the status it returns, and fails at once when the configuration says
//! `"fail": true`, traps with `"trap": true` and never returns with `"loop": true`; with `"return": <phase>` it
//! answers that phase (requeueing after `"requeue"` seconds, as `"17s"`), as upstream's e2e step plugin does,
//! and an Error naming a phase that is none of the four; `terminate` and `abort` say what they were asked. Messages echo the context.

wit_bindgen::generate!({
    path: "../../../wit/0.2.0",
    world: "step-plugin",
    generate_all,
});

use exports::serin::plugin::step::{Guest, StepContext, StepPhase, StepResult};
use serde_json::{Value, json};

struct Step;

fn runs(ctx: &StepContext) -> u64 {
    ctx.status
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|s| s["runs"].as_u64())
        .unwrap_or(0)
}

fn rollout_name(ctx: &StepContext) -> String {
    serde_json::from_str::<Value>(&ctx.rollout_object)
        .ok()
        .and_then(|r| r["metadata"]["name"].as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Guest for Step {
    fn run(ctx: StepContext) -> StepResult {
        let config: Value = serde_json::from_str(&ctx.config).unwrap_or(Value::Null);
        if config["trap"].as_bool() == Some(true) {
            std::process::abort();
        }
        if config["loop"].as_bool() == Some(true) {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        let runs = runs(&ctx) + 1;
        let status = Some(json!({ "runs": runs }).to_string());
        if let Some(phase) = config["return"].as_str() {
            let requeue = config["requeue"]
                .as_str()
                .and_then(|r| r.strip_suffix('s'))
                .and_then(|r| r.parse::<u64>().ok());
            let phase = match phase {
                "Running" => StepPhase::Running,
                "Successful" => StepPhase::Successful,
                "Failed" => StepPhase::Failed,
                "Error" => StepPhase::Error,
                other => {
                    return StepResult {
                        phase: StepPhase::Error,
                        message: format!("could not validate rpc phase: phase '{other}' is not valid"),
                        requeue_after_ms: None,
                        status: None,
                    };
                }
            };
            return StepResult {
                phase,
                message: format!("returned as configured after {runs} runs"),
                requeue_after_ms: requeue.map(|s| s * 1000),
                status,
            };
        }
        if config["fail"].as_bool() == Some(true) {
            return StepResult {
                phase: StepPhase::Failed,
                message: "asked to fail".into(),
                requeue_after_ms: None,
                status,
            };
        }
        let needed = config["succeedAfter"].as_u64().unwrap_or(1);
        let message = format!(
            "{} step {} run {runs} of {needed} (executions {}, started {})",
            rollout_name(&ctx),
            ctx.step_index,
            ctx.executions,
            ctx.started_at.is_some_and(|t| t.seconds > 0)
        );
        if runs < needed {
            StepResult { phase: StepPhase::Running, message, requeue_after_ms: Some(100), status }
        } else {
            StepResult { phase: StepPhase::Successful, message, requeue_after_ms: None, status }
        }
    }

    fn terminate(ctx: StepContext) -> StepResult {
        StepResult {
            phase: StepPhase::Successful,
            message: format!("terminated after {} runs", runs(&ctx)),
            requeue_after_ms: None,
            status: None,
        }
    }

    fn abort(ctx: StepContext) -> StepResult {
        StepResult {
            phase: StepPhase::Successful,
            message: format!("aborted after {} runs", runs(&ctx)),
            requeue_after_ms: None,
            status: None,
        }
    }
}

export!(Step);

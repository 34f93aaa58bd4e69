//! Condition evaluator calls: judge a measured value with a successCondition / failureCondition pair.

use super::call::CallOptions;
use super::component::{Plugin, PluginKind};
use super::contract::{Pre, v0_1_0, v0_2_0};
use super::error::CallError;
use super::value::MetricValue;

/// The outcome of a success / failure condition pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Successful,
    Failed,
    Inconclusive,
}

/// One condition-evaluator call, with owned arguments.
#[derive(Debug, Clone)]
pub(crate) enum ConditionOp {
    Assess { success: Option<String>, failure: Option<String>, result: MetricValue },
    Evaluate { expression: String, result: MetricValue },
    Check { expression: String },
}

/// What a condition-evaluator call answered; `Err(..)` is the evaluator's own error message.
#[derive(Debug)]
pub(crate) enum ConditionOut {
    Assessed(Result<Verdict, String>),
    Evaluated(Result<bool, String>),
    Checked(Result<(), String>),
}

impl Plugin {
    async fn condition_call(&self, opts: &CallOptions, op: ConditionOp) -> Result<ConditionOut, CallError> {
        let pre = self.pre().clone();
        if !matches!(pre, Pre::Condition01(_) | Pre::Condition02(_)) {
            return Err(self.wrong_kind(PluginKind::ConditionEvaluator));
        }
        let out = self
            .call(opts, move |store| {
                Box::pin(async move {
                    match &pre {
                        Pre::Condition01(p) => v0_1_0::condition_call(p, store, op).await,
                        Pre::Condition02(p) => v0_2_0::condition_call(p, store, op).await,
                        _ => unreachable!("checked above"),
                    }
                })
            })
            .await?;
        let size = match &out {
            ConditionOut::Assessed(r) => r.as_ref().err().map_or(0, String::len),
            ConditionOut::Evaluated(r) => r.as_ref().err().map_or(0, String::len),
            ConditionOut::Checked(r) => r.as_ref().err().map_or(0, String::len),
        };
        self.check_output(size, &opts.limits)?;
        Ok(out)
    }

    /// Judges `result` as Argo does; `Ok(Err(message))` is an evaluation error (an Error measurement).
    pub async fn assess(
        &self,
        opts: &CallOptions,
        success: Option<&str>,
        failure: Option<&str>,
        result: &MetricValue,
    ) -> Result<Result<Verdict, String>, CallError> {
        let op = ConditionOp::Assess {
            success: success.map(str::to_string),
            failure: failure.map(str::to_string),
            result: result.clone(),
        };
        match self.condition_call(opts, op).await? {
            ConditionOut::Assessed(out) => Ok(out),
            _ => unreachable!("assess answers with a verdict"),
        }
    }

    /// Evaluates one boolean expression against `result`.
    pub async fn evaluate(
        &self,
        opts: &CallOptions,
        expression: &str,
        result: &MetricValue,
    ) -> Result<Result<bool, String>, CallError> {
        let op = ConditionOp::Evaluate { expression: expression.to_string(), result: result.clone() };
        match self.condition_call(opts, op).await? {
            ConditionOut::Evaluated(out) => Ok(out),
            _ => unreachable!("evaluate answers with a boolean"),
        }
    }

    /// Compiles a condition without judging anything: `Ok(Err(reason))` when it cannot be evaluated whatever the
    /// result (a syntax error, an unknown function). Evaluators of contract 0.1.0 cannot tell, and accept all.
    pub async fn check(&self, opts: &CallOptions, expression: &str) -> Result<Result<(), String>, CallError> {
        if matches!(self.pre(), Pre::Condition01(_)) {
            return Ok(Ok(()));
        }
        let op = ConditionOp::Check { expression: expression.to_string() };
        match self.condition_call(opts, op).await? {
            ConditionOut::Checked(out) => Ok(out),
            _ => unreachable!("check answers with a compile result"),
        }
    }
}

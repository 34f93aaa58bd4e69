//! Condition evaluator calls: judge a measured value with a successCondition / failureCondition pair.

use super::bindings::condition::exports::serin::plugin::condition_evaluator as wit;
use super::call::CallOptions;
use super::component::{Plugin, PluginKind, Pre};
use super::error::CallError;
use super::value::MetricValue;

/// The outcome of a success / failure condition pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Successful,
    Failed,
    Inconclusive,
}

impl Plugin {
    fn condition_pre(
        &self,
    ) -> Result<super::bindings::condition::ConditionEvaluatorPluginPre<super::state::CallState>, CallError>
    {
        match self.pre() {
            Pre::Condition(pre) => Ok(pre.clone()),
            _ => Err(self.wrong_kind(PluginKind::ConditionEvaluator)),
        }
    }

    /// Judges `result` as Argo does; `Ok(Err(message))` is an evaluation error (an Error measurement).
    pub async fn assess(
        &self,
        opts: &CallOptions,
        success: Option<&str>,
        failure: Option<&str>,
        result: &MetricValue,
    ) -> Result<Result<Verdict, String>, CallError> {
        let pre = self.condition_pre()?;
        let (success, failure, value) =
            (success.map(str::to_string), failure.map(str::to_string), result.to_wit());
        let out = self
            .call(opts, move |store| {
                Box::pin(async move {
                    let inst =
                        pre.instantiate_async(&mut *store).await.map_err(super::call::instantiation)?;
                    inst.serin_plugin_condition_evaluator()
                        .call_assess(&mut *store, success.as_deref(), failure.as_deref(), &value)
                        .await
                })
            })
            .await?;
        self.check_output(out.as_ref().err().map_or(0, String::len), &opts.limits)?;
        Ok(out.map(|v| match v {
            wit::Verdict::Successful => Verdict::Successful,
            wit::Verdict::Failed => Verdict::Failed,
            wit::Verdict::Inconclusive => Verdict::Inconclusive,
        }))
    }

    /// Evaluates one boolean expression against `result`.
    pub async fn evaluate(
        &self,
        opts: &CallOptions,
        expression: &str,
        result: &MetricValue,
    ) -> Result<Result<bool, String>, CallError> {
        let pre = self.condition_pre()?;
        let (expression, value) = (expression.to_string(), result.to_wit());
        let out = self
            .call(opts, move |store| {
                Box::pin(async move {
                    let inst =
                        pre.instantiate_async(&mut *store).await.map_err(super::call::instantiation)?;
                    inst.serin_plugin_condition_evaluator()
                        .call_evaluate(&mut *store, &expression, &value)
                        .await
                })
            })
            .await?;
        self.check_output(out.as_ref().err().map_or(0, String::len), &opts.limits)?;
        Ok(out)
    }
}

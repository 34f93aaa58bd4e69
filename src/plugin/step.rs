//! Step plugin calls (Argo Rollouts' `steps[].plugin`): `run` until the step is no longer running, `terminate`
//! when the Rollout moves on while it runs, `abort` when the Rollout is aborted after it ran.

use super::call::CallOptions;
use super::component::{Plugin, PluginKind};
use super::contract::{Pre, v0_2_0};
use super::error::CallError;
use super::metric::ObjectRef;
use std::time::Duration;

/// What a step-plugin call is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepContext {
    pub rollout: ObjectRef,
    /// The whole Rollout (JSON).
    pub rollout_object: String,
    pub step_index: u32,
    /// The step's `config` (JSON).
    pub config: String,
    /// What the plugin returned as its status last time, if anything.
    pub status: Option<String>,
    /// `run` calls made for this step so far.
    pub executions: u32,
    pub started_at: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepPhase {
    Running,
    Successful,
    Failed,
    Error,
}

/// What a step-plugin call decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    pub phase: StepPhase,
    pub message: String,
    /// When running: call again after this long (`None`: the host's backoff).
    pub requeue_after: Option<Duration>,
    /// The plugin's new status for this step (`None`: keep the previous one).
    pub status: Option<String>,
}

/// Which step-plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepOp {
    Run,
    Terminate,
    Abort,
}

impl Plugin {
    async fn step_call(
        &self,
        opts: &CallOptions,
        ctx: &StepContext,
        op: StepOp,
    ) -> Result<StepResult, CallError> {
        let Pre::Step02(pre) = self.pre().clone() else {
            return Err(self.wrong_kind(PluginKind::StepPlugin));
        };
        let ctx = ctx.clone();
        let out = self
            .call(opts, move |store| Box::pin(async move { v0_2_0::step_call(&pre, store, ctx, op).await }))
            .await?;
        self.check_output(out.message.len() + out.status.as_ref().map_or(0, String::len), &opts.limits)?;
        Ok(out)
    }

    /// Runs (or keeps running) the step.
    pub async fn step_run(&self, opts: &CallOptions, ctx: &StepContext) -> Result<StepResult, CallError> {
        self.step_call(opts, ctx, StepOp::Run).await
    }

    /// Stops a running step because the Rollout moved on.
    pub async fn step_terminate(
        &self,
        opts: &CallOptions,
        ctx: &StepContext,
    ) -> Result<StepResult, CallError> {
        self.step_call(opts, ctx, StepOp::Terminate).await
    }

    /// Undoes what the step did because the Rollout was aborted.
    pub async fn step_abort(&self, opts: &CallOptions, ctx: &StepContext) -> Result<StepResult, CallError> {
        self.step_call(opts, ctx, StepOp::Abort).await
    }
}

//! The canary `plugin` step (upstream's `stepPluginContext.reconcile`): the current step's plugin is run while
//! the Rollout progresses; when the Rollout is aborted, the plugin steps that ran are aborted, newest first;
//! when it is promoted fully while a step still runs, that step is terminated. What each call answered is kept
//! in `status.canary.stepPluginStatuses` (the rules are `strategy::step_plugin`'s); a plugin that fails, traps
//! or is not registered is an Error entry there, retried after a backoff, and never stops the controller.

use super::Pass;
use crate::api::rollout::{RolloutPhase, StepPluginOperation as Op, StepPluginPhase, StepPluginStatus};
use crate::plugin::CallOptions;
use crate::plugin::catalog::Resolved;
use crate::plugin::component::PluginKind;
use crate::plugin::kube::KubeAccess;
use crate::plugin::metric::ObjectRef;
use crate::plugin::step::{StepContext, StepPhase, StepResult};
use crate::strategy::conditions::Event;
use crate::strategy::step_plugin::{self, Answer, RunPlan};
use jiff::SignedDuration;
use kube::ResourceExt;
use std::time::Duration;

/// The Event reason of a step plugin entry changing phase.
pub const STEP_PLUGIN_TRANSITION_REASON: &str = "StepPluginTransition";

impl Pass<'_> {
    /// Runs, aborts or terminates the plugin steps as the Rollout's state asks; the entries go on the status
    /// this pass writes.
    pub(super) async fn reconcile_step_plugins(&mut self) {
        let old = self.status();
        let steps = self.rollout.canary().and_then(|c| c.steps.clone()).unwrap_or_default();
        let mut statuses =
            old.canary.as_ref().and_then(|c| c.step_plugin_statuses.clone()).unwrap_or_default();
        if self.pause.is_aborted(&old) {
            for (index, name) in step_plugin::to_abort(&statuses, &steps) {
                let Some(entry) = self.final_call(&statuses, &steps, index, &name, Op::Abort).await else {
                    continue;
                };
                self.record_phase(None, &entry);
                step_plugin::upsert(&mut statuses, entry);
            }
        } else {
            step_plugin::clean_for_retry(&mut statuses, &steps, old.current_step_index);
            let fully_promoted = old.stable_rs.is_some() && old.stable_rs == old.current_pod_hash;
            if old.promote_full.unwrap_or(false) || fully_promoted {
                if let Some((index, name)) = step_plugin::to_terminate(&statuses, &steps)
                    && let Some(entry) = self.final_call(&statuses, &steps, index, &name, Op::Terminate).await
                {
                    self.record_phase(None, &entry);
                    step_plugin::upsert(&mut statuses, entry);
                }
            } else if old.phase == Some(RolloutPhase::Progressing)
                && let (Some(step), Some(index)) = crate::strategy::canary::current_step(&self.rollout)
                && let Some(plugin) = step.plugin.clone()
            {
                let config = plugin.config.as_ref().map(|c| c.to_string()).unwrap_or_else(|| "{}".into());
                self.run_step(&mut statuses, index, &plugin.name, &config).await;
            }
        }
        self.step_plugin_statuses = Some(statuses);
    }

    /// A new revision supersedes the update while plugin steps run: each is terminated once, so that what it
    /// started (a load test, a hold) ends, before the new update starts with no entries. Upstream leaves such a
    /// step running unaware.
    pub(super) async fn terminate_superseded_steps(&mut self) {
        let old = self.status();
        let statuses = old.canary.as_ref().and_then(|c| c.step_plugin_statuses.clone()).unwrap_or_default();
        let steps = self.rollout.canary().and_then(|c| c.steps.clone()).unwrap_or_default();
        for (index, name) in step_plugin::superseded(&statuses) {
            if let Some(entry) = self.final_call(&statuses, &steps, index, &name, Op::Terminate).await {
                self.record_phase(None, &entry);
            }
        }
    }

    /// The current step's run, when it is due.
    async fn run_step(&mut self, statuses: &mut Vec<StepPluginStatus>, index: i32, name: &str, config: &str) {
        let resolved = self.ctx.catalog.resolve(name, PluginKind::StepPlugin);
        let disabled = resolved.as_ref().is_ok_and(|r| r.disabled);
        let entry = match step_plugin::plan_run(statuses, index, name, disabled, self.now) {
            RunPlan::Finished => return,
            RunPlan::Disabled(entry) => {
                step_plugin::upsert(statuses, entry);
                return;
            }
            RunPlan::Wait(at) => {
                self.requeue_at(at);
                return;
            }
            RunPlan::Call(entry) => entry,
        };
        let before = step_plugin::entry(statuses, index, &Op::Run).and_then(|e| e.phase.clone());
        let answer = match resolved {
            Ok(r) => {
                let ctx = self.step_context(index, config, &entry);
                let result = r.plugin.step_run(&self.step_call_options(&r, name, config), &ctx).await;
                answer(result.map_err(|e| format!("Run rpc call error: {e}")))
            }
            Err(e) => Err(format!("could not create step plugin at index {index}: {e}")),
        };
        let entry = step_plugin::after_run(entry, answer, self.now);
        self.record_phase(before, &entry);
        match entry.phase {
            Some(StepPluginPhase::Failed) => {
                self.pause.add_abort(entry.message.clone().unwrap_or_default());
            }
            Some(StepPluginPhase::Running | StepPluginPhase::Error) => {
                if let Some(at) = step_plugin::due(&entry) {
                    self.requeue_at(at);
                }
            }
            _ => {}
        }
        step_plugin::upsert(statuses, entry);
    }

    /// One `abort` or `terminate` of step `index`, unless it was made already or the plugin is disabled.
    async fn final_call(
        &mut self,
        statuses: &[StepPluginStatus],
        steps: &[crate::api::rollout::CanaryStep],
        index: i32,
        name: &str,
        op: Op,
    ) -> Option<StepPluginStatus> {
        let run = step_plugin::entry(statuses, index, &Op::Run)?.clone();
        // The step's config, unless a new revision put another step at its index.
        let config = usize::try_from(index)
            .ok()
            .and_then(|i| steps.get(i))
            .and_then(|s| s.plugin.as_ref())
            .filter(|p| p.name == name)
            .and_then(|p| p.config.as_ref())
            .map(|c| c.to_string())
            .unwrap_or_else(|| "{}".into());
        let answer = match self.ctx.catalog.resolve(name, PluginKind::StepPlugin) {
            Ok(r) if r.disabled => return None,
            Ok(r) => {
                let ctx = self.step_context(index, &config, &run);
                let opts = self.step_call_options(&r, name, &config);
                let (result, call) = if op == Op::Abort {
                    (r.plugin.step_abort(&opts, &ctx).await, "Abort")
                } else {
                    (r.plugin.step_terminate(&opts, &ctx).await, "Terminate")
                };
                answer(result.map_err(|e| format!("{call} rpc call error: {e}")))
            }
            Err(e) => Err(format!("could not create step plugin at index {index}: {e}")),
        };
        Some(step_plugin::after_final(index, name, op, answer, self.now))
    }

    fn step_context(&self, index: i32, config: &str, run: &StepPluginStatus) -> StepContext {
        StepContext {
            rollout: ObjectRef {
                api_version: "argoproj.io/v1alpha1".into(),
                kind: "Rollout".into(),
                namespace: self.namespace(),
                name: self.rollout.name_any(),
                uid: self.rollout.metadata.uid.clone().unwrap_or_default(),
            },
            rollout_object: serde_json::to_string(&self.rollout).unwrap_or_default(),
            step_index: u32::try_from(index).unwrap_or(0),
            config: config.to_string(),
            status: run.status.as_ref().map(|s| s.to_string()),
            executions: u32::try_from(run.executions.unwrap_or(0)).unwrap_or(0),
            started_at: run.started_at.as_ref().map(|t| t.0),
        }
    }

    fn step_call_options(&self, r: &Resolved, name: &str, config: &str) -> CallOptions {
        let grants = if r.builtin {
            let config = serde_json::from_str(config).unwrap_or(serde_json::Value::Null);
            crate::plugin::builtin::step_grants(name, &config)
        } else {
            r.grants.clone()
        };
        CallOptions {
            grants,
            limits: r.limits,
            kube: Some(KubeAccess { client: self.ctx.client.clone(), namespace: self.namespace() }),
            redact: Vec::new(),
        }
    }

    fn requeue_at(&mut self, at: jiff::Timestamp) {
        let left = Duration::try_from(self.now.duration_until(at)).unwrap_or(Duration::ZERO);
        self.requeue_within(left + Duration::from_millis(500));
    }

    /// `recordPhase`: an Event when an entry is new or changed phase (not for a run that succeeded, which the
    /// step's completion announces, nor for a disabled plugin).
    fn record_phase(&mut self, before: Option<StepPluginPhase>, entry: &StepPluginStatus) {
        if entry.disabled.unwrap_or(false)
            || (entry.operation == Op::Run && entry.phase == Some(StepPluginPhase::Successful))
            || before == entry.phase
        {
            return;
        }
        let Some(phase) = entry.phase.clone() else { return };
        let what = match entry.operation {
            Op::Terminate => "terminate",
            Op::Abort => "abort",
            _ => "run",
        };
        let mut message =
            format!("Step plugin {} (step {}) {what}: {}", entry.name, entry.index + 1, phase.as_str());
        if let Some(m) = entry.message.as_deref().filter(|m| !m.is_empty()) {
            message = format!("{message}: {m}");
        }
        let warning = matches!(phase, StepPluginPhase::Error | StepPluginPhase::Failed);
        self.status_event(if warning {
            Event::warning(STEP_PLUGIN_TRANSITION_REASON, message)
        } else {
            Event::normal(STEP_PLUGIN_TRANSITION_REASON, message)
        });
    }
}

/// A plugin's answer as the step's bookkeeping takes it; a status that is not JSON is a bad answer.
fn answer(result: Result<StepResult, String>) -> Result<Answer, String> {
    let r = result?;
    let status = match r.status {
        Some(s) => Some(
            serde_json::from_str(&s)
                .map_err(|e| format!("the plugin's status is not JSON ({e}): {s:.200}"))?,
        ),
        None => None,
    };
    let phase = match r.phase {
        StepPhase::Running => StepPluginPhase::Running,
        StepPhase::Successful => StepPluginPhase::Successful,
        StepPhase::Failed => StepPluginPhase::Failed,
        StepPhase::Error => StepPluginPhase::Error,
    };
    let requeue_after = r.requeue_after.and_then(|d| SignedDuration::try_from(d).ok());
    Ok(Answer { phase, message: r.message, requeue_after, status })
}

//! The Rollout's Experiments (upstream's `rollout/experiment.go`): the experiment step's Experiment created
//! from the stable and canary ReplicaSets, what its phase does to the Rollout, Experiments the Rollout moved
//! past terminated, and old ones trimmed to the history limits.

use super::{Error, FIELD_MANAGER, Pass, is_status, kube_err};
use crate::api::common::AnalysisPhase;
use crate::api::defaults;
use crate::api::experiment::Experiment;
use crate::api::rollout::PauseReason;
use crate::strategy::conditions::Event;
use crate::strategy::experiment_step::{self as rules, StepVerdict};
use crate::strategy::{canary, pause};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

/// How many `<name>-<n>` alternatives an Experiment's name may take before the pass gives up.
const MAX_NAME_COLLISIONS: u32 = 100;

/// The Rollout's Experiments: the one its status names as current, and the others.
#[derive(Debug, Clone, Default)]
pub(crate) struct Experiments {
    pub current: Option<Experiment>,
    pub others: Vec<Experiment>,
}

impl Experiments {
    /// `GetCurrentExperiment` and `GetOldExperiments`.
    pub fn split(status_name: Option<&str>, all: Vec<Experiment>) -> Experiments {
        let mut out = Experiments::default();
        for ex in all {
            if status_name.is_some_and(|n| !n.is_empty()) && ex.metadata.name.as_deref() == status_name {
                out.current = Some(ex);
            } else {
                out.others.push(ex);
            }
        }
        out
    }
}

fn phase(ex: &Experiment) -> AnalysisPhase {
    ex.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or(AnalysisPhase::Other(String::new()))
}

fn finished(ex: &Experiment) -> bool {
    crate::strategy::experiment::finished(ex)
}

/// `IsSemanticallyEqual`: the same spec, whether or not it was asked to end since.
fn same_spec(a: &Experiment, b: &Experiment) -> bool {
    let mut a = a.spec.clone();
    let mut b = b.spec.clone();
    a.terminate = None;
    b.terminate = None;
    serde_json::to_value(&a).ok() == serde_json::to_value(&b).ok()
}

impl Pass<'_> {
    fn experiments_api(&self) -> Api<Experiment> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace())
    }

    /// `reconcileExperiments`.
    pub(super) async fn reconcile_experiments(&mut self) -> Result<(), Error> {
        let status = self.status();
        if self.pause.is_aborted(&status) || status.promote_full.unwrap_or(false) {
            let all: Vec<Experiment> = self.exs.current.iter().chain(&self.exs.others).cloned().collect();
            return self.cancel_experiments(&all).await;
        }
        if pause::pause_condition(&status, &PauseReason::InconclusiveAnalysisRun).is_some() {
            return Ok(());
        }
        let (step, index) = canary::current_step(&self.rollout);
        let step = step.and_then(|s| s.experiment.clone());
        let mut current = self.exs.current.clone();
        let mut others = self.exs.others.clone();
        let mut kept = None;
        if let Some(step) = &step {
            tracing::info!(rollout = %self.name(), step = ?index, "reconciling experiment step");
            match rules::step_verdict(&self.rollout, current.as_ref()) {
                StepVerdict::Create => {
                    let (Some(stable), Some(new)) =
                        (self.rss.stable_rs().cloned(), self.rss.new_rs().cloned())
                    else {
                        tracing::info!(rollout = %self.name(), "cannot create experiment until stableRS exists");
                        return Ok(());
                    };
                    let hash = self.template_hashes().map_err(Error::Other)?.0;
                    let ex = rules::experiment_from_step(
                        &self.rollout,
                        step,
                        &hash,
                        &stable,
                        &new,
                        self.controller_ref(),
                    )
                    .map_err(Error::Other)?;
                    // A retry after an Inconclusive experiment leaves that one behind.
                    others.extend(current.take());
                    let created = self.create_experiment(ex, &others).await?;
                    kept = Some(created.name_any());
                    current = Some(created);
                }
                StepVerdict::Continue => kept = current.as_ref().map(ResourceExt::name_any),
                StepVerdict::Pause => {
                    self.pause.add_pause(PauseReason::InconclusiveExperiment);
                    kept = current.as_ref().map(ResourceExt::name_any);
                }
                StepVerdict::Abort(message) => self.pause.add_abort(message),
                StepVerdict::Completed => {
                    // The step completes this pass unless the Rollout is paused; until then it stays current
                    // (upstream forgets it and would start the experiment again).
                    if self.rollout.spec.paused.unwrap_or(false) {
                        kept = current.as_ref().map(ResourceExt::name_any);
                    }
                }
            }
        } else {
            others.extend(current.take());
        }
        if let Some(c) = self.new_status.canary.as_mut() {
            c.current_experiment = kept;
        }
        self.cancel_experiments(&others).await?;
        let (ok, bad) = defaults::run_history_limits(&self.rollout);
        let refs: Vec<&Experiment> = others.iter().collect();
        let to_delete: Vec<Experiment> = crate::strategy::rollout_analysis::history_to_delete(
            &refs,
            &self.rss.all,
            (ok, bad),
            |e| &e.metadata,
            phase,
        )
        .into_iter()
        .cloned()
        .collect();
        self.delete_experiments(&to_delete).await?;
        self.exs = super::experiment::Experiments { current, others };
        Ok(())
    }

    /// `createExperimentWithCollisionHandling`: an Experiment already under the name is this one when it is the
    /// Rollout's, the same, and unfinished or never seen by this pass; otherwise `-1`, `-2`, ... are tried.
    async fn create_experiment(
        &mut self,
        mut ex: Experiment,
        seen: &[Experiment],
    ) -> Result<Experiment, Error> {
        let api = self.experiments_api();
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let base = ex.name_any();
        for collision in 0..MAX_NAME_COLLISIONS {
            let name = if collision == 0 { base.clone() } else { format!("{base}-{collision}") };
            ex.metadata.name = Some(name.clone());
            match api.create(&pp, &ex).await {
                Ok(created) => {
                    self.created("Experiment", &name);
                    tracing::info!(rollout = %self.name(), experiment = %name, "created experiment");
                    self.event(Event::normal("ExperimentCreated", format!("Created Experiment '{name}'")));
                    return Ok(created);
                }
                Err(e) if is_status(&e, 409) => {
                    let existing =
                        api.get(&name).await.map_err(kube_err(format!("reading Experiment {name}")))?;
                    let ours = crate::controller::analysis_run::controlled_by(
                        &existing.metadata,
                        self.rollout.metadata.uid.as_deref(),
                    );
                    let was_seen = seen.iter().any(|s| s.metadata.name.as_deref() == Some(name.as_str()));
                    if ours && (!finished(&existing) || !was_seen) && same_spec(&existing, &ex) {
                        return Ok(existing);
                    }
                }
                Err(e) => return Err(kube_err(format!("creating Experiment {name}"))(e)),
            }
        }
        Err(Error::Other(format!(
            "Experiment {base}: {MAX_NAME_COLLISIONS} names taken by other experiments"
        )))
    }

    /// `cancelExperiments`: `spec.terminate` on Experiments still going.
    async fn cancel_experiments(&mut self, exs: &[Experiment]) -> Result<(), Error> {
        let api = self.experiments_api();
        for ex in exs {
            if ex.spec.terminate.unwrap_or(false) || finished(ex) {
                continue;
            }
            let name = ex.name_any();
            tracing::info!(rollout = %self.name(), experiment = %name, "canceling other running experiment owned by rollout");
            let patch = serde_json::json!({"spec": {"terminate": true}});
            match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(updated) => self.wrote(&ex.metadata, &updated.metadata),
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(kube_err(format!("terminating Experiment {name}"))(e)),
            }
        }
        Ok(())
    }

    async fn delete_experiments(&mut self, exs: &[Experiment]) -> Result<(), Error> {
        let api = self.experiments_api();
        for ex in exs.iter().filter(|e| e.metadata.deletion_timestamp.is_none()) {
            let name = ex.name_any();
            tracing::info!(rollout = %self.name(), experiment = %name, "cleaning up experiment");
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => self.deleted(&ex.metadata),
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(kube_err(format!("deleting Experiment {name}"))(e)),
            }
        }
        Ok(())
    }

    /// Whether the current experiment step's Experiment succeeded.
    pub(super) fn experiment_step_succeeded(&self) -> bool {
        self.exs.current.as_ref().is_some_and(|e| phase(e) == AnalysisPhase::Successful)
    }
}

//! The Rollout's AnalysisRuns (upstream's `rollout/analysis.go`): the step and background runs created from
//! their templates with the Rollout's arguments, what their phases do to the Rollout, terminating runs the
//! Rollout moved past, and trimming old ones to the history limits.

use super::validation::{Templates, template_refs};
use super::{Error, FIELD_MANAGER, Pass, Runs, is_status};
use crate::analysis::template;
use crate::api::analysis::AnalysisRun;
use crate::api::common::AnalysisPhase;
use crate::api::defaults;
use crate::api::rollout::{PauseReason, Rollout, RolloutAnalysis, RolloutAnalysisRunStatus};
use crate::controller::analysis_run::CreateError;
use crate::strategy::conditions::Event;
use crate::strategy::replicaset::{POD_TEMPLATE_HASH_LABEL, pod_hash};
use crate::strategy::rollout_analysis::{self as ra, Kind, Verdict};
use crate::strategy::{canary, pause};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

/// Splits the Rollout's runs into the ones its status names as current and the others
/// (`FilterCurrentRolloutAnalysisRuns`).
pub(super) fn current_and_other(rollout: &Rollout, runs: Vec<AnalysisRun>) -> Runs {
    let status = rollout.status.clone().unwrap_or_default();
    let canary = status.canary.unwrap_or_default();
    let blue_green = status.blue_green.unwrap_or_default();
    let step_name = canary.current_step_analysis_run_status.map(|s| s.name);
    let background_name = canary.current_background_analysis_run_status.map(|s| s.name);
    let pre_name = blue_green.pre_promotion_analysis_run_status.map(|s| s.name);
    let post_name = blue_green.post_promotion_analysis_run_status.map(|s| s.name);
    let mut out = Runs::default();
    for run in runs {
        let name = run.metadata.name.clone();
        if name.is_none() {
            out.others.push(run);
        } else if name == step_name {
            out.step = Some(run);
        } else if name == background_name {
            out.background = Some(run);
        } else if name == pre_name {
            out.pre = Some(run);
        } else if name == post_name {
            out.post = Some(run);
        } else {
            out.others.push(run);
        }
    }
    out
}

fn run_status(run: &AnalysisRun) -> RolloutAnalysisRunStatus {
    let status = run.status.clone().unwrap_or_default();
    RolloutAnalysisRunStatus {
        name: run.name_any(),
        status: status.phase.unwrap_or(AnalysisPhase::Pending),
        message: status.message.filter(|m| !m.is_empty()),
    }
}

impl Pass<'_> {
    fn runs_api(&self) -> Api<AnalysisRun> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace())
    }

    /// `reconcileAnalysisRuns`.
    pub(super) async fn reconcile_analysis_runs(&mut self) -> Result<(), Error> {
        let status = self.status();
        let aborted = self.pause.is_aborted(&status);
        let initial = status.stable_rs.as_deref().unwrap_or("").is_empty();
        let fully_promoted = status.stable_rs == status.current_pod_hash;
        let promote_full = status.promote_full.unwrap_or(false);
        let fast_rollback = self.is_fast_rollback();
        let mut current = Runs::default();
        if fully_promoted || aborted || promote_full || fast_rollback || initial {
            let runs: Vec<AnalysisRun> = self.runs.current().cloned().collect();
            self.terminate_runs(&runs).await?;
            // Blue-green keeps its promotion runs on the status once they are done with.
            current.pre = self.runs.pre.clone();
            current.post = self.runs.post.clone();
        } else if self.rollout.blue_green().is_some() {
            current.pre = self.reconcile_promotion_run(Kind::PrePromotion).await?;
            if let Some(run) = current.pre.clone() {
                self.apply_verdict(&run, Kind::PrePromotion);
            }
            current.post = self.reconcile_promotion_run(Kind::PostPromotion).await?;
            if let Some(run) = current.post.clone() {
                self.apply_verdict(&run, Kind::PostPromotion);
            }
        } else {
            current.step = self.reconcile_step_run().await?;
            current.background = self.reconcile_background_run().await?;
        }
        if self.rollout.blue_green().is_some() {
            let bg = self.new_status.blue_green.get_or_insert_with(Default::default);
            bg.pre_promotion_analysis_run_status = current.pre.as_ref().map(run_status);
            bg.post_promotion_analysis_run_status = current.post.as_ref().map(run_status);
        } else {
            let canary = self.new_status.canary.get_or_insert_with(Default::default);
            canary.current_step_analysis_run_status = current.step.as_ref().map(run_status);
            canary.current_background_analysis_run_status = current.background.as_ref().map(run_status);
        }

        // Runs just created or found again are not terminated, even when the cache listed them as others.
        let keep: Vec<String> = current.current().map(|r| r.name_any()).collect();
        let others: Vec<AnalysisRun> =
            self.runs.others.iter().filter(|r| !keep.contains(&r.name_any())).cloned().collect();
        self.terminate_runs(&others).await?;
        let (ok, bad) = defaults::run_history_limits(&self.rollout);
        let refs: Vec<&AnalysisRun> = others.iter().collect();
        let to_delete: Vec<AnalysisRun> =
            ra::runs_to_delete(&refs, &self.rss.all, ok, bad).into_iter().cloned().collect();
        self.delete_runs(&to_delete).await?;
        self.status_change_events(&current);
        self.runs.step = current.step;
        self.runs.background = current.background;
        self.runs.pre = current.pre;
        self.runs.post = current.post;
        Ok(())
    }

    /// `reconcilePrePromotionAnalysisRun` and `reconcilePostPromotionAnalysisRun`: the run exists while its
    /// phase of the update lasts (before the switch, after it), is created when that phase begins, and is
    /// terminated when it is skipped.
    async fn reconcile_promotion_run(&mut self, kind: Kind) -> Result<Option<AnalysisRun>, Error> {
        let strategy = self.rollout.blue_green().cloned().unwrap_or_default();
        let (current, analysis, skip) = match kind {
            Kind::PrePromotion => {
                let current = self.runs.pre.clone();
                let skip = crate::strategy::bluegreen::skip_pre_promotion(
                    &self.rollout,
                    &self.rss,
                    current.is_some(),
                );
                (current, strategy.pre_promotion_analysis, skip)
            }
            _ => {
                let current = self.runs.post.clone();
                let skip = crate::strategy::bluegreen::skip_post_promotion(
                    &self.rollout,
                    &self.rss,
                    current.is_some(),
                );
                (current, strategy.post_promotion_analysis, skip)
            }
        };
        let Some(analysis) = analysis.filter(|a| a.templates.as_ref().is_some_and(|t| !t.is_empty())) else {
            self.terminate_runs(current.as_slice()).await?;
            return Ok(None);
        };
        if skip {
            self.terminate_runs(current.as_slice()).await?;
            return Ok(current);
        }
        if pause::pause_condition(&self.status(), &PauseReason::InconclusiveAnalysisRun).is_some() {
            return Ok(current);
        }
        if ra::needs_new_run(current.as_ref(), &self.rollout) {
            return self.create_run(&analysis, kind).await.map(Some);
        }
        Ok(current)
    }

    /// `isFastRollback`: back to the stable ReplicaSet, within the rollback window, or (blue-green) to a
    /// ReplicaSet still within its scale-down delay.
    pub(super) fn is_fast_rollback(&self) -> bool {
        let (Some(new), Some(stable)) = (self.rss.new_rs(), self.rss.stable_rs()) else { return false };
        let to_stable = self.status().stable_rs.as_deref() == Some(pod_hash(new));
        let rollback = to_stable || crate::strategy::replicaset::created_before(new, stable);
        let within_delay = self.new_rs_within_delay && self.rollout.blue_green().is_some();
        rollback && (self.rollback_within_window() || within_delay || to_stable)
    }

    /// `reconcileStepBasedAnalysisRun`.
    async fn reconcile_step_run(&mut self) -> Result<Option<AnalysisRun>, Error> {
        let (step, index) = canary::current_step(&self.rollout);
        let step = step.cloned();
        let current = self.runs.step.clone();
        let status = self.status();
        if status.pause_conditions.as_ref().is_some_and(|p| !p.is_empty()) || status.abort.unwrap_or(false) {
            return Ok(current);
        }
        let analysis = step.as_ref().and_then(|s| s.analysis.clone());
        let from_previous_step = match (&analysis, &current, index) {
            (Some(_), Some(run), Some(i)) => {
                run.labels().get(ra::STEP_INDEX_LABEL).map(String::as_str) != Some(i.to_string().as_str())
            }
            _ => false,
        };
        let (Some(analysis), Some(index)) =
            (analysis.filter(|a| a.templates.as_ref().is_some_and(|t| !t.is_empty())), index)
        else {
            self.terminate_runs(current.as_slice()).await?;
            return Ok(None);
        };
        if from_previous_step {
            self.terminate_runs(current.as_slice()).await?;
            return Ok(None);
        }
        if ra::needs_new_run(current.as_ref(), &self.rollout) {
            let run = self.create_run(&analysis, Kind::Step(index)).await?;
            return Ok(Some(run));
        }
        let Some(run) = current else { return Ok(None) };
        self.apply_verdict(&run, Kind::Step(index));
        Ok(Some(run))
    }

    /// `reconcileBackgroundAnalysisRun`.
    async fn reconcile_background_run(&mut self) -> Result<Option<AnalysisRun>, Error> {
        let current = self.runs.background.clone();
        let Some(analysis) = self.rollout.canary().and_then(|c| c.analysis.clone()) else {
            self.terminate_runs(current.as_slice()).await?;
            return Ok(None);
        };
        if analysis.templates.as_ref().is_none_or(Vec::is_empty) {
            self.terminate_runs(current.as_slice()).await?;
            return Ok(None);
        }
        let status = self.status();
        let stable = status.stable_rs.as_deref().unwrap_or("");
        let current_hash = status.current_pod_hash.as_deref().unwrap_or("");
        if stable == current_hash
            || stable.is_empty()
            || current_hash.is_empty()
            || canary::before_starting_step(&self.rollout)
        {
            return Ok(None);
        }
        if pause::pause_condition(&status, &PauseReason::InconclusiveAnalysisRun).is_some() {
            return Ok(current);
        }
        if ra::needs_new_run(current.as_ref(), &self.rollout) {
            let run = self.create_run(&analysis.analysis(), Kind::Background).await?;
            return Ok(Some(run));
        }
        let Some(run) = current else { return Ok(None) };
        self.apply_verdict(&run, Kind::Background);
        Ok(Some(run))
    }

    fn apply_verdict(&mut self, run: &AnalysisRun, kind: Kind) {
        match ra::verdict(run, kind) {
            Verdict::Continue => {}
            Verdict::Pause => self.pause.add_pause(PauseReason::InconclusiveAnalysisRun),
            Verdict::Abort(message) => self.pause.add_abort(message),
        }
    }

    /// `createAnalysisRun` and `CreateWithCollisionCounter`: the run from its templates, named deterministically;
    /// an existing run of that name is this pass's run when it is the Rollout's, the same, and unfinished or
    /// not yet in the cache; otherwise the name gets `.1`, `.2`, ...
    async fn create_run(&mut self, analysis: &RolloutAnalysis, kind: Kind) -> Result<AnalysisRun, Error> {
        let new = self.rss.new_rs().cloned();
        let stable = self.rss.stable_rs().cloned();
        let args = ra::build_args(
            analysis.args.as_deref().unwrap_or(&[]),
            stable.as_ref(),
            new.as_ref(),
            &self.rollout,
        )
        .map_err(Error::Other)?;
        let hash = new.as_ref().map(pod_hash).unwrap_or("").to_string();
        if hash.is_empty() {
            return Err(Error::Other(format!(
                "Latest ReplicaSet '{}' has no pod hash in the labels",
                new.as_ref().map(|r| r.name_any()).unwrap_or_default()
            )));
        }
        let source = Templates { client: self.ctx.client.clone(), namespace: self.namespace() };
        let flat = template::flatten(&source, &template_refs(analysis)).await.map_err(Error::Other)?;
        let mut spec = template::merge(&flat, &args).map_err(Error::Other)?;
        template::add_rules(
            &mut spec,
            analysis.dry_run.as_deref(),
            analysis.measurement_retention.as_deref(),
        );
        let revision = self
            .rollout
            .annotations()
            .get(crate::strategy::replicaset::REVISION_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        let base = ra::run_name(&self.name(), &hash, &revision, kind);
        let (labels, annotations) = ra::run_metadata(&self.rollout, analysis, kind, &hash);
        let mut run = AnalysisRun::new(&base, spec);
        run.metadata.namespace = Some(self.namespace());
        run.metadata.labels = Some(labels);
        run.metadata.annotations = Some(annotations);
        run.metadata.owner_references = Some(vec![self.controller_ref()]);
        let api = self.runs_api();
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let uid = self.rollout.metadata.uid.clone();
        // A run this pass never read is one the cache had not delivered yet: it is the run a fresh read would
        // have found, finished or not. Only a run already seen (and judged to need replacing) gives way to a
        // new name.
        let seen: Vec<String> = self.runs.current().chain(&self.runs.others).map(|r| r.name_any()).collect();
        let adopt = |existing: &AnalysisRun| {
            crate::controller::analysis_run::controlled_by(&existing.metadata, uid.as_deref())
                && (!ra::phase(existing).completed() || !seen.contains(&existing.name_any()))
        };
        match crate::controller::analysis_run::create_with_collisions(&api, &pp, run, adopt).await {
            Ok((run, true)) => {
                let name = run.name_any();
                self.created("AnalysisRun", &name);
                tracing::info!(rollout = %self.name(), run = %name, "created {} AnalysisRun", kind.label());
                Ok(run)
            }
            Ok((run, false)) => Ok(run),
            Err(CreateError::Kube { what, source }) => Err(Error::Kube { what, source }),
            Err(CreateError::NamesTaken(message)) => Err(Error::Other(message)),
        }
    }

    /// `cancelAnalysisRuns`: `spec.terminate` on runs still going.
    async fn terminate_runs(&mut self, runs: &[AnalysisRun]) -> Result<(), Error> {
        let api = self.runs_api();
        for run in runs {
            if run.spec.terminate.unwrap_or(false) || ra::phase(run).completed() {
                continue;
            }
            let name = run.name_any();
            let patch = serde_json::json!({"spec": {"terminate": true}});
            match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(updated) => {
                    self.wrote(&run.metadata, &updated.metadata);
                    tracing::info!(rollout = %self.name(), run = %name, "canceling the analysis run");
                }
                Err(e) if is_status(&e, 404) => {}
                Err(e) => {
                    return Err(Error::Kube { what: format!("terminating AnalysisRun {name}"), source: e });
                }
            }
        }
        Ok(())
    }

    async fn delete_runs(&mut self, runs: &[AnalysisRun]) -> Result<(), Error> {
        let api = self.runs_api();
        for run in runs.iter().filter(|r| r.metadata.deletion_timestamp.is_none()) {
            let name = run.name_any();
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => self.deleted(&run.metadata),
                Err(e) if is_status(&e, 404) => {}
                Err(e) => {
                    return Err(Error::Kube { what: format!("deleting AnalysisRun {name}"), source: e });
                }
            }
        }
        Ok(())
    }

    /// The runs of a ReplicaSet being deleted for the revision history go with it.
    pub(super) async fn delete_runs_of_hash(&mut self, hash: &str) -> Result<(), Error> {
        let runs: Vec<AnalysisRun> = self
            .runs
            .others
            .iter()
            .filter(|r| r.labels().get(POD_TEMPLATE_HASH_LABEL).map(String::as_str) == Some(hash))
            .cloned()
            .collect();
        self.delete_runs(&runs).await
    }

    /// `emitAnalysisRunStatusChanges`, with upstream's condition (a run whose name differs from the one the
    /// status recorded gets no Event until the status names it).
    fn status_change_events(&mut self, current: &Runs) {
        let status = self.status();
        let canary = status.canary.unwrap_or_default();
        let blue_green = status.blue_green.unwrap_or_default();
        for (previous, run, kind) in [
            (blue_green.post_promotion_analysis_run_status, &current.post, "PostPromotion"),
            (blue_green.pre_promotion_analysis_run_status, &current.pre, "PrePromotion"),
            (canary.current_step_analysis_run_status, &current.step, "Step"),
            (canary.current_background_analysis_run_status, &current.background, "Background"),
        ] {
            let Some(run) = run else { continue };
            let Some(phase) = run.status.as_ref().and_then(|s| s.phase.clone()) else { continue };
            let changed = match &previous {
                None => true,
                Some(p) => p.name == run.name_any() && p.status != phase,
            };
            if !changed {
                continue;
            }
            let before = previous.map(|p| p.status.to_string()).unwrap_or_else(|| "NoPreviousStatus".into());
            let message = format!(
                "{kind} Analysis Run '{}' Status New: '{phase}' Previous: '{before}'",
                run.name_any()
            );
            let reason = format!("AnalysisRun{phase}");
            self.status_event(if matches!(phase, AnalysisPhase::Failed | AnalysisPhase::Error) {
                Event::warning(&reason, message)
            } else {
                Event::normal(&reason, message)
            });
        }
    }
}

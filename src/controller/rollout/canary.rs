//! The canary pass (upstream's `rollout/canary.go` with `syncRolloutStatusCanary` and the promotion rules of
//! `sync.go`): what happens, in which order, and where a pass stops.

use super::{Error, Pass};
use crate::api::defaults;
use crate::api::rollout::{PauseReason, PingPongType, RolloutStatus};
use crate::strategy::conditions::{self, Event};
use crate::strategy::pause::{self, pause_condition};
use crate::strategy::replicaset::{self as rsutil, available, pod_hash};
use crate::strategy::{canary, steps};
use std::time::Duration;

impl Pass<'_> {
    fn step_count(&self) -> i32 {
        self.rollout.canary().and_then(|c| c.steps.as_ref()).map(|s| s.len() as i32).unwrap_or(0)
    }

    /// `PodTemplateOrStepsChanged`: a new step list, or a new template (a new pod hash).
    fn template_or_steps_changed(&self, step_hash: &str) -> bool {
        let status = self.status();
        let recorded_steps = status.current_step_hash.as_deref().unwrap_or("");
        if recorded_steps.is_empty() || recorded_steps != step_hash {
            return true;
        }
        let recorded_pod = status.current_pod_hash.as_deref().unwrap_or("");
        if recorded_pod.is_empty() {
            return false;
        }
        match self.rss.new_rs() {
            Some(rs) => recorded_pod != pod_hash(rs),
            None => true,
        }
    }

    /// The step hash of the Rollout's steps.
    fn step_hash(&self) -> Result<String, Error> {
        let steps = self.rollout.canary().and_then(|c| c.steps.as_ref());
        let steps = steps.map(serde_json::to_value).transpose().map_err(|e| Error::Other(e.to_string()))?;
        crate::strategy::hash::step_hash(steps.as_ref()).map_err(|e| Error::Other(e.to_string()))
    }

    /// `rolloutCanary`.
    pub(super) async fn rollout_canary(&mut self) -> Result<(), Error> {
        let step_hash = self.step_hash()?;
        if self.template_or_steps_changed(&step_hash) {
            self.sync_replica_set_revision().await?;
            self.terminate_superseded_steps().await;
            return self.sync_rollout_status_canary(&step_hash).await;
        }
        self.sync_replica_set_revision().await?;
        if self.restart_pods().await? > 0 {
            // Availability counts do not include the pods just restarted: the next pass scales.
            return Ok(());
        }
        self.reconcile_ephemeral_metadata().await?;
        self.reconcile_revision_history_limit().await?;
        self.reconcile_ping_pong_service().await?;
        self.reconcile_stable_and_canary_service().await?;
        match self.reconcile_traffic_routing().await? {
            super::traffic::Routing::Continue => {}
            super::traffic::Routing::Stopped | super::traffic::Routing::Unverified => return Ok(()),
        }
        self.reconcile_experiments().await?;
        let analysis = self.reconcile_analysis_runs().await;
        if self.pause.has_add_pause() {
            tracing::info!(rollout = %self.name(), "detected pause due to inconclusive AnalysisRun");
            return self.sync_rollout_status_canary(&step_hash).await;
        }
        analysis?;
        if self.reconcile_canary_replica_sets().await? {
            return self.sync_rollout_status_canary(&step_hash).await;
        }
        self.reconcile_canary_pause();
        self.reconcile_step_plugins().await;
        self.sync_rollout_status_canary(&step_hash).await
    }

    /// `reconcileCanaryPause`: at a pause step the controller adds its pause condition once; timed pauses are
    /// looked at again when they end.
    fn reconcile_canary_pause(&mut self) {
        let status = self.status();
        if self.rollout.spec.paused.unwrap_or(false) || status.promote_full.unwrap_or(false) {
            return;
        }
        let (Some(step), Some(_)) = canary::current_step(&self.rollout) else { return };
        let Some(p) = step.pause.clone() else { return };
        match pause_condition(&status, &PauseReason::CanaryPauseStep) {
            None => {
                if !status.controller_pause.unwrap_or(false) {
                    self.pause.add_pause(PauseReason::CanaryPauseStep);
                    if p.duration.is_some() {
                        let seconds = crate::api::duration::pause_duration_seconds(p.duration.as_ref());
                        self.requeue_within(Duration::from_secs(seconds.max(0) as u64));
                    }
                }
            }
            Some(_) => {
                if let Some(ends) = pause::canary_pause_ends(&status, &p) {
                    let left = self.now.duration_until(ends);
                    self.requeue_within(
                        Duration::try_from(left).unwrap_or(Duration::ZERO) + Duration::from_millis(500),
                    );
                }
            }
        }
    }

    /// `completedCurrentCanaryStep`.
    fn completed_current_canary_step(&self) -> bool {
        if self.rollout.spec.paused.unwrap_or(false) {
            return false;
        }
        let (Some(step), _) = canary::current_step(&self.rollout) else { return false };
        let status = self.status();
        let weights = self.new_status.canary.as_ref().and_then(|c| c.weights.clone());
        if let Some(p) = &step.pause {
            return pause::completed_canary_pause_step(&status, p, self.now);
        }
        if step.set_canary_scale.is_some() {
            return canary::at_desired_counts(&self.rollout, &self.rss, weights.as_ref());
        }
        if step.set_weight.is_some() {
            if !canary::at_desired_counts(&self.rollout, &self.rss, weights.as_ref()) {
                return false;
            }
            return weights.as_ref().and_then(|w| w.verified).unwrap_or(true);
        }
        if step.analysis.is_some() {
            return self.runs.step.as_ref().is_some_and(|r| {
                crate::strategy::rollout_analysis::phase(r) == crate::api::common::AnalysisPhase::Successful
            });
        }
        if step.experiment.is_some() {
            return self.experiment_step_succeeded();
        }
        if step.plugin.is_some() {
            let old = status.canary.as_ref().and_then(|c| c.step_plugin_statuses.clone());
            let statuses = self.step_plugin_statuses.clone().or(old).unwrap_or_default();
            let index = status.current_step_index.unwrap_or(0);
            return crate::strategy::step_plugin::completed(&statuses, index);
        }
        step.set_header_route.is_some() || step.set_mirror_route.is_some()
    }

    /// `calculateBaseStatus`: counts from the ReplicaSets, the current pod hash, and what is carried over.
    pub(super) fn base_status(&self) -> RolloutStatus {
        let old = self.status();
        let mut status = self.new_status.clone();
        let current_hash = self
            .rss
            .new_rs()
            .map(|rs| pod_hash(rs).to_string())
            .unwrap_or_else(|| self.template_hashes().map(|h| h.0).unwrap_or_default());
        status.current_pod_hash = Some(current_hash);
        status.replicas = Some(self.rss.all.iter().map(rsutil::actual).sum());
        status.updated_replicas = Some(self.rss.new_rs().map(rsutil::actual).unwrap_or(0));
        status.ready_replicas = Some(self.rss.all.iter().map(rsutil::ready).sum());
        status.collision_count = old.collision_count;
        status.conditions = old.conditions.clone();
        // A pass gets here only with a valid spec.
        conditions::remove(&mut status, &crate::api::rollout::RolloutConditionType::InvalidSpec);
        if self.routed {
            conditions::remove(&mut status, &crate::api::rollout::RolloutConditionType::TrafficRouting);
        }
        status.restarted_at = self.new_status.restarted_at.clone();
        status.promote_full =
            Some(status.current_pod_hash != status.stable_rs && old.promote_full.unwrap_or(false));
        status
    }

    /// `syncRolloutStatusCanary`: the new status, the step moved on when it completed, the stable promoted when
    /// the update is done; then written.
    async fn sync_rollout_status_canary(&mut self, step_hash: &str) -> Result<(), Error> {
        let old = self.status();
        let mut status = self.base_status();
        status.available_replicas = Some(self.rss.all.iter().map(available).sum());
        status.hpa_replicas = Some(self.rss.all.iter().map(rsutil::actual).sum());
        status.selector = Some(rsutil::format_label_selector(self.rollout.spec.selector.as_ref()));
        let canary = status.canary.get_or_insert_with(Default::default);
        canary.stable_ping_pong = old.canary.as_ref().and_then(|c| c.stable_ping_pong.clone());
        canary.step_plugin_statuses = match &self.step_plugin_statuses {
            Some(reached) => Some(reached.clone()),
            None => old.canary.as_ref().and_then(|c| c.step_plugin_statuses.clone()),
        };
        status.stable_rs = old.stable_rs.clone();
        status.current_step_hash = Some(step_hash.to_string());
        status.promote_full =
            Some(status.current_pod_hash != status.stable_rs && old.promote_full.unwrap_or(false));
        let step_count = self.step_count();
        let (current_step, mut current_index) = canary::current_step(&self.rollout);
        let current_step = current_step.cloned();

        if self.template_or_steps_changed(step_hash) {
            self.reset_rollout_status(&mut status);
            if let Some(new) = self.rss.new_rs()
                && step_count > 0
            {
                if old.stable_rs.as_deref() == Some(pod_hash(new)) {
                    self.status_event(Event::normal("SkipSteps", "Rollback to stable ReplicaSets"));
                    status.current_step_index = Some(step_count);
                } else if self.rollback_within_window() && rsutil::is_active(new) {
                    self.status_event(Event::normal(
                        "SkipSteps",
                        "Rollback to active ReplicaSets within RollbackWindow",
                    ));
                    status.current_step_index = Some(step_count);
                }
            }
            return self.persist_status(status).await;
        }

        if old.promote_full.unwrap_or(false) || self.rollback_within_window() {
            self.pause.clear_pauses();
            self.pause.remove_abort();
            if step_count > 0 {
                current_index = Some(step_count);
            }
        }

        if let Some(reason) = self.should_full_promote() {
            self.promote_stable(&mut status, &reason);
            self.scale_down_workload_on_success().await?;
            return self.persist_status(status).await;
        }

        if self.pause.is_aborted(&old) {
            if step_count > 0 {
                let fully_promoted =
                    status.stable_rs.is_some() && status.stable_rs == status.current_pod_hash;
                status.current_step_index = Some(if fully_promoted { step_count } else { 0 });
            }
            return self.persist_status(status).await;
        }

        if self.completed_current_canary_step()
            && let Some(step) = &current_step
        {
            let index = current_index.unwrap_or(0) + 1;
            current_index = Some(index);
            if let Some(c) = status.canary.as_mut() {
                c.current_step_analysis_run_status = None;
            }
            self.status_event(Event::normal(
                conditions::ROLLOUT_STEP_COMPLETED_REASON,
                format!("Rollout step {index}/{step_count} completed ({})", steps::describe(step)),
            ));
            self.pause.remove_pause(PauseReason::CanaryPauseStep);
            // The next step may be done at once (a pause that was resumed ahead, a weight already reached).
            self.requeue_within(Duration::from_millis(200));
        }
        status.current_step_index = current_index;
        self.persist_status(status).await
    }

    /// `resetRolloutStatus`: a new update starts from its first step with nothing carried over.
    pub(super) fn reset_rollout_status(&mut self, status: &mut RolloutStatus) {
        self.pause.clear_pauses();
        self.pause.remove_abort();
        status.promote_full = None;
        if let Some(bg) = status.blue_green.as_mut() {
            bg.pre_promotion_analysis_run_status = None;
            bg.post_promotion_analysis_run_status = None;
            bg.scale_up_preview_check_point = None;
        }
        if let Some(c) = status.canary.as_mut() {
            c.current_step_analysis_run_status = None;
            c.current_background_analysis_run_status = None;
            c.step_plugin_statuses = None;
        }
        status.current_step_index = (self.step_count() > 0).then_some(0);
    }

    /// `isRollbackWithinWindow`: the new ReplicaSet is older than the stable one, with fewer than
    /// `rollbackWindow.revisions` ReplicaSets (Experiments' aside) created between them.
    pub(super) fn rollback_within_window(&self) -> bool {
        let (Some(new), Some(stable)) = (self.rss.new_rs(), self.rss.stable_rs()) else { return false };
        if !rsutil::created_before(new, stable) {
            return false;
        }
        let Some(revisions) =
            self.rollout.spec.rollback_window.as_ref().and_then(|w| w.revisions).filter(|r| *r > 0)
        else {
            return false;
        };
        let between = self
            .rss
            .all
            .iter()
            .filter(|rs| rsutil::annotation(rs, rsutil::EXPERIMENT_NAME_ANNOTATION).is_none_or(str::is_empty))
            .filter(|rs| rsutil::created_before(rs, stable) && rsutil::created_before(new, rs))
            .count() as i32;
        between < revisions
    }

    /// `shouldFullPromote` for a canary: why the new ReplicaSet becomes the stable one now, if it does.
    fn should_full_promote(&self) -> Option<String> {
        if self.rss.stable.is_none() {
            return Some("Initial deploy".into());
        }
        if self.pause.is_aborted(&self.status()) {
            return None;
        }
        let replicas = defaults::replicas(&self.rollout);
        let new = self.rss.new_rs()?;
        let threshold = self.rollout.canary().and_then(|c| c.replica_progress_threshold.as_ref());
        if available(new) < replicas
            && !canary::replica_progress_threshold_met(threshold, Some(new), replicas)
        {
            return None;
        }
        if let Some(reason) = self.promotion_requested() {
            return Some(reason);
        }
        let steps = self.step_count();
        let index = canary::current_step(&self.rollout).1;
        (steps == 0 || index == Some(steps)).then(|| format!("Completed all {steps} canary steps"))
    }

    /// The promotions `shouldFullPromote` grants whatever the steps, pauses and analyses say: a full promotion
    /// asked for, or a fast rollback.
    pub(super) fn promotion_requested(&self) -> Option<String> {
        if self.status().promote_full.unwrap_or(false) {
            return Some("Full promotion requested".into());
        }
        if self.is_fast_rollback() {
            let reason =
                if self.rollback_within_window() { "Rollback within window" } else { "Fast rollback" };
            return Some(reason.into());
        }
        None
    }

    /// `promoteStable`: the current ReplicaSet is the stable one; pauses and abort are cleared.
    pub(super) fn promote_stable(&mut self, status: &mut RolloutStatus, reason: &str) {
        self.pause.clear_pauses();
        self.pause.remove_abort();
        status.promote_full = None;
        if let Some(bg) = status.blue_green.as_mut() {
            bg.scale_up_preview_check_point = None;
        }
        let steps = self.step_count();
        status.current_step_index = (steps > 0).then_some(steps);
        if status.stable_rs != status.current_pod_hash {
            if self.rollout.canary().is_some_and(|c| c.ping_pong.is_some()) {
                // The Service that served the canary now serves the stable version.
                let canary = status.canary.get_or_insert_with(Default::default);
                canary.stable_ping_pong = Some(match canary.stable_ping_pong {
                    Some(PingPongType::Ping) => PingPongType::Pong,
                    _ => PingPongType::Ping,
                });
            }
            status.stable_rs = status.current_pod_hash.clone();
            let revision = rsutil::revision(self.rollout.metadata.annotations.as_ref()).unwrap_or(0);
            self.status_event(Event::normal(
                conditions::ROLLOUT_COMPLETED_REASON,
                format!(
                    "Rollout completed update to revision {revision} ({}): {reason}",
                    status.current_pod_hash.clone().unwrap_or_default()
                ),
            ));
        }
    }

    /// `syncReplicasOnly`: a change of `spec.replicas` alone scales the ReplicaSets and the counts.
    pub(super) async fn sync_replicas_only(&mut self) -> Result<(), Error> {
        let mut status = self.status();
        self.reconcile_canary_replica_sets().await?;
        status.available_replicas = Some(self.rss.all.iter().map(available).sum());
        status.hpa_replicas = Some(self.rss.all.iter().map(rsutil::actual).sum());
        self.persist_status(status).await
    }
}

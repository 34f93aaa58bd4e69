//! The blue-green pass (upstream's `rolloutBlueGreen` with `syncRolloutStatusBlueGreen`, the active and preview
//! Services of `service.go`, and the blue-green parts of `replicaset.go`): the preview Service follows the new
//! ReplicaSet at once, the active one switches when the new ReplicaSet is saturated and the pause and the
//! pre-promotion analysis allow, and the previous active ReplicaSet keeps its pods for the scale-down delay.

use super::validation::MANAGED_BY_ANNOTATION;
use super::{Error, Pass, kube_err};
use crate::api::common::AnalysisPhase;
use crate::api::defaults;
use crate::api::rollout::{PauseReason, RolloutStatus};
use crate::strategy::bluegreen::{self as bg, Delay};
use crate::strategy::conditions::Event;
use crate::strategy::pause::pause_condition;
use crate::strategy::replicaset::{
    self as rsutil, POD_TEMPLATE_HASH_LABEL, available, pod_hash, spec_replicas,
};
use crate::strategy::rollout_analysis as ra;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use std::time::Duration;

/// The hash a Service selects by (`GetRolloutSelectorLabel`).
fn selector_hash(svc: Option<&Service>) -> String {
    svc.and_then(|s| s.spec.as_ref())
        .and_then(|s| s.selector.as_ref())
        .and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL))
        .cloned()
        .unwrap_or_default()
}

fn to_duration(d: jiff::SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

impl Pass<'_> {
    fn services_api(&self) -> Api<Service> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace())
    }

    /// `getPreviewAndActiveServices` (validation made sure they exist).
    async fn blue_green_services(&self) -> Result<(Option<Service>, Service), Error> {
        let strategy = self.rollout.blue_green().cloned().unwrap_or_default();
        let read =
            |name: &str| self.service(name).ok_or_else(|| Error::Other(format!("Service {name} not found")));
        let preview = match strategy.preview_service.as_deref().filter(|s| !s.is_empty()) {
            Some(name) => Some(read(name)?),
            None => None,
        };
        let active = read(strategy.active_service.as_str())?;
        Ok((preview, active))
    }

    /// `CheckPodSpecChange`: the template's hash is not the one the status recorded.
    fn pod_spec_changed(&self) -> bool {
        let recorded = self.status().current_pod_hash.unwrap_or_default();
        if recorded.is_empty() {
            return false;
        }
        let current = match self.rss.new_rs() {
            Some(rs) => pod_hash(rs).to_string(),
            None => self.template_hashes().map(|h| h.0).unwrap_or_default(),
        };
        recorded != current
    }

    /// `rolloutBlueGreen`.
    pub(super) async fn rollout_blue_green(&mut self) -> Result<(), Error> {
        let (mut preview, mut active) = self.blue_green_services().await?;
        self.sync_replica_set_revision().await?;
        if let Some(svc) = preview.as_mut()
            && self.halt_progress().is_none()
            && let Some(hash) = self.rss.new_rs().map(|rs| pod_hash(rs).to_string())
        {
            self.switch_service_selector(svc, &hash).await?;
        }
        if self.pod_spec_changed() {
            return self.sync_rollout_status_blue_green(preview.as_ref(), &active).await;
        }
        if self.restart_pods().await? > 0 {
            // Availability counts do not include the pods just restarted: the next pass goes on.
            return Ok(());
        }
        self.reconcile_blue_green_replica_sets(&active, preview.as_ref()).await?;
        self.reconcile_blue_green_pause(&active);
        self.reconcile_active_service(&mut active).await?;
        self.reconcile_analysis_runs().await?;
        self.reconcile_ephemeral_metadata().await?;
        self.sync_rollout_status_blue_green(preview.as_ref(), &active).await
    }

    /// `switchServiceSelector`: the Service selects `hash`'s pods (and names this Rollout as its manager).
    async fn switch_service_selector(&mut self, svc: &mut Service, hash: &str) -> Result<(), Error> {
        let name = svc.metadata.name.clone().unwrap_or_default();
        let current = selector_hash(Some(svc));
        let managed =
            svc.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(MANAGED_BY_ANNOTATION));
        if current == hash && managed {
            return Ok(());
        }
        let mut patch = serde_json::json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: hash}}});
        if !managed {
            patch["metadata"] = serde_json::json!({"annotations": {MANAGED_BY_ANNOTATION: self.name()}});
        }
        let updated = self
            .services_api()
            .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .map_err(kube_err(format!("switching the selector of Service {name}")))?;
        self.wrote(&svc.metadata, &updated.metadata);
        self.event(Event::normal(
            "SwitchService",
            format!("Switched selector for service '{name}' from '{current}' to '{hash}'"),
        ));
        *svc = updated;
        Ok(())
    }

    /// `isFastTracked`: no pause before the switch (a fast rollback, a full promotion, an active Service not
    /// selecting by hash yet, or already selecting the new pods).
    fn blue_green_fast_tracked(&self, active: &Service) -> bool {
        let selector = active.spec.as_ref().and_then(|s| s.selector.as_ref());
        let Some(current) = selector.and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL)) else { return true };
        self.is_fast_rollback()
            || self.status().promote_full.unwrap_or(false)
            || self.rss.new_rs().is_some_and(|rs| pod_hash(rs) == current)
    }

    /// `completedPrePromotionAnalysis`.
    fn completed_pre_promotion_analysis(&self) -> bool {
        let configured = self.rollout.blue_green().and_then(|b| b.pre_promotion_analysis.as_ref()).is_some();
        !configured || self.runs.pre.as_ref().is_some_and(|r| ra::phase(r) == AnalysisPhase::Successful)
    }

    /// `reconcileBlueGreenPause`: the controller pauses before the switch when promotion is manual or delayed,
    /// once the preview is ready and the pre-promotion analysis succeeded; the pause ends by promotion or delay.
    fn reconcile_blue_green_pause(&mut self, active: &Service) {
        let status = self.status();
        if status.abort.unwrap_or(false) || !bg::ready_for_pause(&self.rollout, &self.rss) {
            return;
        }
        if self.halt_progress().is_some() {
            return;
        }
        let past_checkpoint =
            status.blue_green.as_ref().and_then(|b| b.scale_up_preview_check_point).unwrap_or(false);
        if self.blue_green_fast_tracked(active)
            || past_checkpoint
            || !bg::needs_controller_pause(&self.rollout)
        {
            self.pause.remove_pause(PauseReason::BlueGreenPause);
            return;
        }
        if !self.completed_pre_promotion_analysis() {
            return;
        }
        if pause_condition(&status, &PauseReason::BlueGreenPause).is_some() {
            if bg::completed_pause(&self.rollout, self.pause.has_add_pause(), self.now) {
                self.pause.remove_pause(PauseReason::BlueGreenPause);
            } else if let Some(at) = bg::auto_promotion_at(&self.rollout) {
                self.requeue_within(to_duration(self.now.duration_until(at)) + Duration::from_millis(500));
            }
        } else if !status.controller_pause.unwrap_or(false) {
            self.pause.add_pause(PauseReason::BlueGreenPause);
            if let Some(seconds) =
                self.rollout.blue_green().and_then(|b| b.auto_promotion_seconds).filter(|s| *s > 0)
            {
                self.requeue_within(Duration::from_secs(seconds as u64) + Duration::from_millis(500));
            }
        }
    }

    /// `reconcileActiveService`: once the new ReplicaSet is saturated, the active Service switches to it when
    /// fast-tracked or when the pause and the pre-promotion analysis are done; an abort switches it back.
    async fn reconcile_active_service(&mut self, active: &mut Service) -> Result<(), Error> {
        if self.halt_progress().is_some() {
            return Ok(());
        }
        let new = self.rss.new_rs();
        if !bg::ready_for_pause(&self.rollout, &self.rss) || !bg::is_saturated(&self.rollout, new) {
            return Ok(());
        }
        let new_hash = new.map(|rs| pod_hash(rs).to_string()).unwrap_or_default();
        let mut hash = selector_hash(Some(active));
        if self.blue_green_fast_tracked(active) {
            hash = new_hash.clone();
        }
        if bg::completed_pause(&self.rollout, self.pause.has_add_pause(), self.now)
            && self.completed_pre_promotion_analysis()
        {
            hash = new_hash;
        }
        let status = self.status();
        if status.abort.unwrap_or(false) {
            hash = status.stable_rs.unwrap_or_default();
        }
        if hash.is_empty() {
            return Ok(());
        }
        self.switch_service_selector(active, &hash).await
    }

    /// `reconcileBlueGreenReplicaSets`: the stable ReplicaSet at full size, the new one at its size, the old
    /// ones down after their delay, and the revision history trimmed.
    async fn reconcile_blue_green_replica_sets(
        &mut self,
        active: &Service,
        preview: Option<&Service>,
    ) -> Result<(), Error> {
        self.remove_scale_down_deadlines().await?;
        if let Some(s) = self.rss.stable {
            self.scale_replica_set(s, defaults::replicas(&self.rollout)).await?;
        }
        if self.rss.new.is_some() {
            let desired = bg::new_rs_replicas(&self.rollout, &self.rss);
            self.reconcile_new_replica_set(desired).await?;
        }
        self.scale_down_old_blue_green(active, preview).await?;
        self.reconcile_revision_history_limit().await
    }

    /// `isReplicaSetReferenced`: a ReplicaSet the status or a Service still points at keeps its pods.
    fn referenced(&self, hash: &str, services: &[Option<&Service>]) -> bool {
        if hash.is_empty() {
            return false;
        }
        let status = self.status();
        let b = status.blue_green.clone().unwrap_or_default();
        let weights = status.canary.as_ref().and_then(|c| c.weights.as_ref());
        let recorded = [
            status.stable_rs.clone(),
            status.current_pod_hash.clone(),
            b.active_selector,
            b.preview_selector,
            weights.and_then(|w| w.canary.pod_template_hash.clone()),
            weights.and_then(|w| w.stable.pod_template_hash.clone()),
        ];
        recorded.iter().flatten().any(|r| r == hash) || services.iter().any(|s| selector_hash(*s) == hash)
    }

    /// `scaleDownOldReplicaSetsForBlueGreen`: not while an analysis is inconclusive, nor before a post-promotion
    /// analysis succeeded when no delay is set; then each old ReplicaSet (newest first) after its delay.
    async fn scale_down_old_blue_green(
        &mut self,
        active: &Service,
        preview: Option<&Service>,
    ) -> Result<bool, Error> {
        let mut others: Vec<usize> = (0..self.rss.all.len())
            .filter(|i| Some(*i) != self.rss.new && Some(*i) != self.rss.stable)
            .filter(|i| rsutil::is_active(&self.rss.all[*i]))
            .collect();
        if others.is_empty() {
            return Ok(false);
        }
        let status = self.status();
        if pause_condition(&status, &PauseReason::InconclusiveAnalysisRun).is_some() {
            return Ok(false);
        }
        let strategy = self.rollout.blue_green().cloned().unwrap_or_default();
        if strategy.post_promotion_analysis.is_some()
            && strategy.scale_down_delay_seconds.is_none()
            && !bg::skip_post_promotion(&self.rollout, &self.rss, self.runs.post.is_some())
            && self.runs.post.as_ref().is_none_or(|r| ra::phase(r) != AnalysisPhase::Successful)
        {
            return Ok(false);
        }
        others.sort_by(|a, b| rsutil::by_revision(&self.rss.all[*b], &self.rss.all[*a]));
        let mut annotated = 0;
        let mut scaled = false;
        for i in others {
            let hash = pod_hash(&self.rss.all[i]).to_string();
            if self.referenced(&hash, &[Some(active), preview]) {
                continue;
            }
            let desired =
                match bg::scale_down_delay(&self.rollout, &self.rss.all[i], &mut annotated, self.now) {
                    Delay::Annotate { seconds, keep } => {
                        self.add_scale_down_delay(i, seconds).await?;
                        keep
                    }
                    Delay::Keep { replicas, left } => {
                        if let Some(left) = left {
                            self.requeue_within(to_duration(left) + Duration::from_millis(500));
                        }
                        replicas
                    }
                    Delay::Scale(n) => n,
                };
            if spec_replicas(&self.rss.all[i]) == desired {
                continue;
            }
            scaled |= self.scale_replica_set(i, desired).await?;
        }
        Ok(scaled)
    }

    /// `syncRolloutStatusBlueGreen`.
    pub(super) async fn sync_rollout_status_blue_green(
        &mut self,
        preview: Option<&Service>,
        active: &Service,
    ) -> Result<(), Error> {
        let old = self.status();
        let mut status = self.base_status();
        status.stable_rs = old.stable_rs.clone();
        let changed = self.pod_spec_changed();
        if changed {
            self.reset_rollout_status(&mut status);
        }
        if old.promote_full.unwrap_or(false) || self.rollback_within_window() {
            self.pause.clear_pauses();
            self.pause.remove_abort();
        }
        let b = status.blue_green.get_or_insert_with(Default::default);
        b.preview_selector = Some(selector_hash(preview)).filter(|s| !s.is_empty());
        b.active_selector = Some(selector_hash(Some(active))).filter(|s| !s.is_empty());
        if let Some(reason) = self.should_full_promote_blue_green(&status) {
            self.promote_stable(&mut status, &reason);
            self.scale_down_workload_on_success().await?;
        } else {
            let checkpoint = !changed && self.scale_up_preview_check_point(&old);
            status.blue_green.get_or_insert_with(Default::default).scale_up_preview_check_point =
                checkpoint.then_some(true);
        }
        let active_hash = bg::active_selector(&status).to_string();
        match self.rss.by_hash(&active_hash).map(|i| &self.rss.all[i]) {
            Some(rs) => {
                status.hpa_replicas = Some(rsutil::actual(rs));
                status.selector = Some(rsutil::format_label_selector(Some(&rs.spec.selector)));
                status.available_replicas = Some(available(rs));
                status.ready_replicas = Some(rsutil::ready(rs));
            }
            None => {
                status.hpa_replicas = Some(self.rss.all.iter().map(rsutil::actual).sum());
                status.selector = Some(rsutil::format_label_selector(self.rollout.spec.selector.as_ref()));
                status.available_replicas = Some(self.rss.all.iter().map(available).sum());
            }
        }
        self.persist_status(status).await
    }

    /// `calculateScaleUpPreviewCheckPoint`: set once the preview count is available after the pause and the
    /// pre-promotion analysis, kept until the update is promoted or the template changes.
    fn scale_up_preview_check_point(&self, old: &RolloutStatus) -> bool {
        let Some(preview) = self.rollout.blue_green().and_then(|b| b.preview_replica_count) else {
            return false;
        };
        if old.blue_green.as_ref().and_then(|b| b.scale_up_preview_check_point).unwrap_or(false) {
            return true;
        }
        if !self.completed_pre_promotion_analysis()
            || !bg::completed_pause(&self.rollout, self.pause.has_add_pause(), self.now)
        {
            return false;
        }
        self.rss.new_rs().is_some_and(|rs| available(rs) == preview)
    }

    /// `shouldFullPromote` for blue-green: why the new ReplicaSet becomes the stable one now, if it does.
    fn should_full_promote_blue_green(&self, status: &RolloutStatus) -> Option<String> {
        if self.rss.stable.is_none() {
            return Some("Initial deploy".into());
        }
        let active = bg::active_selector(status);
        if active.is_empty() {
            // The active Service is switched only once a stable exists.
            return Some("Initial deploy".into());
        }
        if Some(active) != status.current_pod_hash.as_deref() {
            return None;
        }
        if let Some(reason) = self.promotion_requested() {
            return Some(reason);
        }
        if self.pause.is_aborted(&self.status()) {
            return None;
        }
        if self.rollout.blue_green().and_then(|b| b.post_promotion_analysis.as_ref()).is_some()
            && self.runs.post.as_ref().is_none_or(|r| ra::phase(r) != AnalysisPhase::Successful)
        {
            return None;
        }
        Some("Completed blue-green update".into())
    }

    /// `syncReplicasOnly` for blue-green: a change of `spec.replicas` alone.
    pub(super) async fn sync_replicas_only_blue_green(&mut self) -> Result<(), Error> {
        let (preview, active) = self.blue_green_services().await?;
        let mut status = self.status();
        self.reconcile_blue_green_replica_sets(&active, preview.as_ref()).await?;
        let active_hash = bg::active_selector(&status).to_string();
        match self.rss.by_hash(&active_hash).map(|i| &self.rss.all[i]) {
            Some(rs) => {
                status.hpa_replicas = Some(rsutil::actual(rs));
                status.available_replicas = Some(available(rs));
            }
            None => {
                status.hpa_replicas = Some(self.rss.all.iter().map(rsutil::actual).sum());
                status.available_replicas = Some(self.rss.all.iter().map(available).sum());
            }
        }
        self.persist_status(status).await
    }
}

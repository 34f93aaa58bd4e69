//! The Rollout's ReplicaSets (upstream's `sync.go` revisions and `replicaset.go`): the new one created and kept
//! at the right revision, each scaled by one action at a time, old ones scaled down and trimmed to the
//! revision history.

use super::{Error, FIELD_MANAGER, Pass, is_status, kube_err};
use crate::api::defaults;
use crate::api::rollout::RolloutConditionType;
use crate::strategy::conditions::{self, Event};
use crate::strategy::replicaset::{
    self as rsutil, POD_TEMPLATE_HASH_LABEL, SCALE_DOWN_DEADLINE_ANNOTATION, available, name, pod_hash,
    replicas_annotations_need_update, rs_revision, set_desired_replicas, set_new_rs_annotations,
    spec_replicas,
};
use crate::strategy::{affinity, canary, ephemeral, fenceposts};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

impl Pass<'_> {
    pub(super) fn rs_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace())
    }

    /// The owner reference of what the Rollout controls (ReplicaSets, AnalysisRuns).
    pub(super) fn controller_ref(&self) -> OwnerReference {
        OwnerReference {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "Rollout".into(),
            name: self.name(),
            uid: self.rollout.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// `createDesiredReplicaSet`: the ReplicaSet for the desired template, at zero replicas, named
    /// `<rollout>-<hash>`; an existing one of that name is taken over when it is this Rollout's and runs the
    /// same template, and is a hash collision otherwise.
    pub(super) async fn create_desired_replica_set(&mut self, hash: &str) -> Result<(), Error> {
        let new_revision = rsutil::max_revision(&self.rss.all) + 1;
        let mut template = self.rollout.spec.template.clone().unwrap_or_default();
        let spec = template.spec.get_or_insert_with(Default::default);
        spec.affinity = affinity::generate(&self.rollout, hash);
        let meta = template.metadata.get_or_insert_with(Default::default);
        meta.labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
        let labels = meta.labels.clone();
        let mut selector = self.rollout.spec.selector.clone().unwrap_or_default();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());

        let mut annotations = BTreeMap::new();
        set_new_rs_annotations(
            self.rollout.metadata.annotations.as_ref(),
            &mut annotations,
            new_revision,
            false,
            defaults::replicas(&self.rollout),
        );
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{}-{hash}", self.name())),
                namespace: Some(self.namespace()),
                owner_references: Some(vec![self.controller_ref()]),
                labels,
                annotations: Some(annotations),
                ..Default::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.rollout.spec.min_ready_seconds,
                selector,
                template: Some(template),
            },
            status: None,
        };
        // A brand-new Rollout's first ReplicaSet becomes the stable (active) one; later ones start as canaries
        // (previews).
        let (new_md, stable_md) = self.ephemeral_roles();
        let metadata = if self.rss.stable.is_some() { new_md } else { stable_md };
        if let Some(with) = ephemeral::sync_replica_set(&rs, metadata.as_ref()) {
            rs = with;
        }

        let rs_name = name(&rs).to_string();
        let api = self.rs_api();
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let (created, already_existed) = match api.create(&pp, &rs).await {
            Ok(created) => {
                self.created("ReplicaSet", &rs_name);
                (created, false)
            }
            Err(e) if is_status(&e, 409) => {
                let existing =
                    api.get(&rs_name).await.map_err(kube_err(format!("reading ReplicaSet {rs_name}")))?;
                let ours = existing.metadata.owner_references.iter().flatten().any(|o| {
                    o.controller == Some(true) && Some(&o.uid) == self.rollout.metadata.uid.as_ref()
                });
                if ours && pod_hash(&existing) == hash {
                    (existing, true)
                } else {
                    // A hash collision: the next pass names the ReplicaSet with a new collision count.
                    let mut status = self.status();
                    let before = status.collision_count.unwrap_or(0);
                    status.collision_count = Some(before + 1);
                    self.update_status(status).await?;
                    tracing::warn!(rollout = %self.name(), "found a hash collision - bumped collisionCount ({before}->{})", before + 1);
                    self.modified = true;
                    return Err(Error::Other(format!(
                        "ReplicaSet {rs_name} already exists with another template"
                    )));
                }
            }
            Err(e) => {
                let message = conditions::failed_rs_create_message(&rs_name, &e.to_string());
                self.event(Event::warning(conditions::FAILED_RS_CREATE_REASON, message.clone()));
                let mut status = self.status();
                conditions::set(
                    &mut status,
                    conditions::new_condition(
                        RolloutConditionType::Progressing,
                        "False",
                        conditions::FAILED_RS_CREATE_REASON,
                        message,
                        self.now,
                    ),
                );
                if let Err(patch_err) = self.patch_condition_status(status).await {
                    tracing::warn!(rollout = %self.name(), "error patching rollout conditions: {patch_err}");
                }
                return Err(Error::Kube { what: format!("creating ReplicaSet {rs_name}"), source: e });
            }
        };
        self.set_rollout_revision(&new_revision.to_string()).await?;
        if !already_existed {
            self.event(Event::normal(
                conditions::NEW_REPLICA_SET_REASON,
                format!("Created ReplicaSet {} (revision {})", rs_name, rs_revision(&created)),
            ));
            let mut status = self.status();
            conditions::set(
                &mut status,
                conditions::new_condition(
                    RolloutConditionType::Progressing,
                    "True",
                    conditions::NEW_REPLICA_SET_REASON,
                    conditions::new_replica_set_message(&rs_name),
                    self.now,
                ),
            );
            self.update_status(status).await?;
            self.modified = true;
        }
        self.rss.all.push(created);
        self.rss.new = Some(self.rss.all.len() - 1);
        Ok(())
    }

    /// `setRolloutRevision`: the Rollout's revision annotation follows its new ReplicaSet's.
    async fn set_rollout_revision(&mut self, revision: &str) -> Result<(), Error> {
        let current = self.rollout.annotations().get(rsutil::REVISION_ANNOTATION).map(String::as_str);
        if current == Some(revision) {
            return Ok(());
        }
        let mut ro = self.rollout.clone();
        ro.annotations_mut().insert(rsutil::REVISION_ANNOTATION.into(), revision.into());
        self.update_rollout(ro).await?;
        self.event(Event::normal(
            conditions::ROLLOUT_UPDATED_REASON,
            format!("Rollout updated to revision {revision}"),
        ));
        Ok(())
    }

    /// The last resort of `FindNewReplicaSet`: a ReplicaSet running the desired template although its hash
    /// differs, as after `undo` (the template copied back from a ReplicaSet carries the API server's defaults)
    /// or from an older release's hashing. The desired template is defaulted by the API server itself (a dry-run
    /// PodTemplate) and compared with each live template, its hash label, injected metadata and injected
    /// anti-affinity taken out.
    pub(super) async fn find_new_by_template(&mut self) -> Result<(), Error> {
        if self.rss.all.is_empty() {
            return Ok(());
        }
        let mut template = self.rollout.spec.template.clone().unwrap_or_default();
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
        // A generated name, so that no PodTemplate of the user's can stand in the way.
        let probe = k8s_openapi::api::core::v1::PodTemplate {
            metadata: ObjectMeta { generate_name: Some(format!("{}-", self.name())), ..Default::default() },
            template: Some(template),
        };
        let api: Api<k8s_openapi::api::core::v1::PodTemplate> =
            Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let defaulted = match api.create(&PostParams { dry_run: true, ..Default::default() }, &probe).await {
            Ok(p) => p.template.unwrap_or_default(),
            // A template the server refuses (or a refused dry run: RBAC, a quota) matches no ReplicaSet; the
            // update goes ahead with a new one, which is what upstream does when its comparison fails.
            Err(e) => {
                tracing::warn!(rollout = %self.name(), "cannot default the pod template to compare it: {e}");
                return Ok(());
            }
        };
        let comparable = |mut t: k8s_openapi::api::core::v1::PodTemplateSpec| {
            if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                labels.remove(POD_TEMPLATE_HASH_LABEL);
                if labels.is_empty()
                    && let Some(m) = t.metadata.as_mut()
                {
                    m.labels = None;
                }
            }
            if let Some(spec) = t.spec.as_mut() {
                spec.service_account = None;
            }
            t
        };
        let desired = comparable(defaulted);
        let found = self.rss.all.iter().position(|rs| {
            let without_metadata = ephemeral::sync_replica_set(rs, None).unwrap_or_else(|| rs.clone());
            let Some(mut live) = without_metadata.spec.template else { return false };
            if let Some(spec) = live.spec.as_mut() {
                spec.affinity = affinity::without_injected(spec.affinity.take(), &self.rollout);
            }
            comparable(live) == desired
        });
        if let Some(i) = found {
            tracing::info!(rollout = %self.name(), replicaset = %name(&self.rss.all[i]), "found the new ReplicaSet by its template");
            self.rss.new = Some(i);
            let stable = self.status().stable_rs.unwrap_or_default();
            if !stable.is_empty() && pod_hash(&self.rss.all[i]) == stable {
                self.rss.stable = Some(i);
            }
        }
        Ok(())
    }

    /// `syncReplicaSetRevision`: the new ReplicaSet gets the next revision (and the Rollout's annotations,
    /// `minReadySeconds` and anti-affinity); the Rollout gets its revision; a Rollout without a Progressing
    /// condition gets `FoundNewReplicaSet`.
    pub(super) async fn sync_replica_set_revision(&mut self) -> Result<(), Error> {
        let Some(i) = self.rss.new else { return Ok(()) };
        let new_revision = rsutil::max_revision(self.rss.older()) + 1;
        let mut rs = self.rss.all[i].clone();
        let changed = set_new_rs_annotations(
            self.rollout.metadata.annotations.as_ref(),
            rs.metadata.annotations.get_or_insert_with(BTreeMap::new),
            new_revision,
            true,
            defaults::replicas(&self.rollout),
        );
        let current_hash = pod_hash(&rs).to_string();
        let template = rs.spec.template.get_or_insert_with(Default::default);
        let live_affinity = template.spec.as_ref().and_then(|s| s.affinity.clone());
        let min_ready_changed =
            rs.spec.min_ready_seconds.unwrap_or(0) != self.rollout.spec.min_ready_seconds.unwrap_or(0);
        let affinity_changed = affinity::needs_update(live_affinity.as_ref(), &self.rollout, &current_hash);
        if changed || min_ready_changed || affinity_changed {
            rs.spec.min_ready_seconds = self.rollout.spec.min_ready_seconds;
            if let Some(spec) = rs.spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
                spec.affinity = affinity::generate(&self.rollout, &current_hash);
            }
            self.update_replica_set(i, rs).await?;
            return Ok(());
        }
        let revision = rsutil::annotation(&rs, rsutil::REVISION_ANNOTATION).unwrap_or("").to_string();
        self.set_rollout_revision(&revision).await?;
        if conditions::get(&self.status(), &RolloutConditionType::Progressing).is_none() {
            let mut status = self.status();
            conditions::set(
                &mut status,
                conditions::new_condition(
                    RolloutConditionType::Progressing,
                    "True",
                    conditions::FOUND_NEW_RS_REASON,
                    conditions::found_new_rs_message(name(&rs)),
                    self.now,
                ),
            );
            self.update_status(status).await?;
        }
        Ok(())
    }

    /// Replaces ReplicaSet `i` with `rs` (guarded by its resourceVersion) and keeps the result.
    pub(super) async fn update_replica_set(&mut self, i: usize, rs: ReplicaSet) -> Result<(), Error> {
        let rs_name = name(&rs).to_string();
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let updated = self
            .rs_api()
            .replace(&rs_name, &pp, &rs)
            .await
            .map_err(kube_err(format!("updating ReplicaSet {rs_name}")))?;
        self.wrote(&self.rss.all[i].metadata, &updated.metadata);
        self.rss.all[i] = updated;
        Ok(())
    }

    /// `isScalingEvent`: `spec.replicas` changed since the new or stable ReplicaSet was last scaled.
    pub(super) async fn is_scaling_event(&mut self) -> Result<bool, Error> {
        self.sync_replica_set_revision().await?;
        let replicas = defaults::replicas(&self.rollout);
        let candidates = [self.rss.new, self.rss.stable];
        Ok(candidates
            .iter()
            .flatten()
            .map(|i| &self.rss.all[*i])
            .filter(|rs| rsutil::is_active(rs))
            .any(|rs| rsutil::desired_replicas_annotation(rs).is_some_and(|desired| desired != replicas)))
    }

    /// `scaleReplicaSetAndRecordEvent`: ReplicaSet `i` to `scale` (and its desired-replicas annotation to
    /// `spec.replicas`); whether its size changed.
    pub(super) async fn scale_replica_set(&mut self, i: usize, scale: i32) -> Result<bool, Error> {
        let rs = self.rss.all[i].clone();
        let replicas = defaults::replicas(&self.rollout);
        let size_changes = spec_replicas(&rs) != scale;
        if !size_changes && !replicas_annotations_need_update(&rs, replicas) {
            return Ok(false);
        }
        let old_scale = spec_replicas(&rs);
        let mut updated = rs.clone();
        updated.spec.replicas = Some(scale);
        let annotations = updated.metadata.annotations.get_or_insert_with(BTreeMap::new);
        set_desired_replicas(annotations, replicas);
        if scale == 0 && !self.should_delay_scale_down_on_abort() {
            annotations.remove(SCALE_DOWN_DEADLINE_ANNOTATION);
        }
        self.update_replica_set(i, updated).await?;
        if size_changes {
            let direction = if old_scale < scale { "up" } else { "down" };
            let message = format!(
                "Scaled {direction} ReplicaSet {} (revision {}) from {old_scale} to {scale}",
                name(&rs),
                rs_revision(&rs)
            );
            self.event(Event::normal(conditions::SCALING_REPLICA_SET_REASON, message));
        }
        Ok(size_changes)
    }

    /// `shouldDelayScaleDownOnAbort`: an aborted traffic-routed canary keeps its canary up for the abort
    /// scale-down delay (basic canaries never do).
    pub(super) fn should_delay_scale_down_on_abort(&self) -> bool {
        if !self.pause.is_aborted(&self.status()) || self.rss.stable.is_none() {
            return false;
        }
        if self.rollout.canary().is_some_and(|c| c.traffic_routing.is_none()) {
            return false;
        }
        let (delay, explicit) = canary::abort_scale_down_delay(&self.rollout);
        let dynamic = self.rollout.canary().and_then(|c| c.dynamic_stable_scale).unwrap_or(false);
        // A dynamically scaled stable takes the delay only when it is set explicitly.
        delay.is_some() && (explicit || !dynamic)
    }

    /// `removeScaleDownDeadlines`: the new and stable ReplicaSets lose a scale-down deadline (a rollback to a
    /// ReplicaSet still within its delay).
    pub(super) async fn remove_scale_down_deadlines(&mut self) -> Result<(), Error> {
        let mut targets = Vec::new();
        if let Some(n) = self.rss.new
            && !self.should_delay_scale_down_on_abort()
        {
            targets.push(n);
        }
        if let Some(s) = self.rss.stable
            && (targets.is_empty() || Some(s) != self.rss.new)
        {
            targets.push(s);
        }
        for i in targets {
            if !rsutil::has_scale_down_deadline(&self.rss.all[i]) {
                continue;
            }
            let rs_name = name(&self.rss.all[i]).to_string();
            let patch = serde_json::json!([
                {"op": "remove", "path": format!("/metadata/annotations/{SCALE_DOWN_DEADLINE_ANNOTATION}")}
            ]);
            let updated = self
                .rs_api()
                .patch(
                    &rs_name,
                    &PatchParams::default(),
                    &Patch::<()>::Json(
                        serde_json::from_value(patch).map_err(|e| Error::Other(e.to_string()))?,
                    ),
                )
                .await
                .map_err(kube_err(format!("removing the scale-down deadline of ReplicaSet {rs_name}")))?;
            self.wrote(&self.rss.all[i].metadata, &updated.metadata);
            self.rss.all[i] = updated;
        }
        Ok(())
    }

    /// `reconcileNewReplicaSet`: the new ReplicaSet to `desired`, except after an abort with a scale-down delay,
    /// when it keeps its pods until the stable ReplicaSet can serve everything and the delay has passed.
    pub(super) async fn reconcile_new_replica_set(&mut self, desired: i32) -> Result<bool, Error> {
        let Some(n) = self.rss.new else { return Ok(false) };
        let mut desired = desired;
        if self.should_delay_scale_down_on_abort() {
            let (delay, _) = crate::strategy::canary::abort_scale_down_delay(&self.rollout);
            match rsutil::time_before_scale_down(&self.rss.all[n], self.now) {
                Ok(Some(left)) => {
                    self.requeue_within(
                        Duration::try_from(left).unwrap_or(Duration::ZERO) + Duration::from_millis(500),
                    );
                    let keep = spec_replicas(&self.rss.all[n]);
                    self.scale_replica_set(n, keep).await?;
                    return Ok(false);
                }
                Ok(None) if rsutil::has_scale_down_deadline(&self.rss.all[n]) => desired = 0,
                Err(e) => tracing::warn!(rollout = %self.name(), "{e}"),
                Ok(None) => {
                    if let Some(seconds) = delay {
                        let keep = spec_replicas(&self.rss.all[n]);
                        self.scale_replica_set(n, keep).await?;
                        let replicas = defaults::replicas(&self.rollout);
                        if self.rss.stable_rs().is_some_and(|s| available(s) >= replicas) {
                            self.add_scale_down_delay(n, seconds).await?;
                        }
                        return Ok(false);
                    }
                }
            }
        }
        let old_scale = spec_replicas(&self.rss.all[n]);
        let scaled = self.scale_replica_set(n, desired).await?;
        self.scale_down_workload_progressively(old_scale, desired).await?;
        Ok(scaled)
    }

    /// `addScaleDownDelay`: ReplicaSet `i` may be scaled down `seconds` from now.
    pub(super) async fn add_scale_down_delay(&mut self, i: usize, seconds: i32) -> Result<(), Error> {
        let at =
            self.now.checked_add(jiff::SignedDuration::from_secs(i64::from(seconds))).unwrap_or(self.now);
        let at = jiff::Timestamp::from_second(at.as_second()).unwrap_or(at);
        let rs_name = rsutil::name(&self.rss.all[i]).to_string();
        let patch = serde_json::json!({"metadata": {"annotations": {
            rsutil::SCALE_DOWN_DEADLINE_ANNOTATION: at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        }}});
        let updated = self
            .rs_api()
            .patch(&rs_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube_err(format!("adding a scale-down deadline to ReplicaSet {rs_name}")))?;
        self.wrote(&self.rss.all[i].metadata, &updated.metadata);
        self.rss.all[i] = updated;
        self.requeue_within(Duration::from_secs(seconds.max(0) as u64) + Duration::from_millis(500));
        Ok(())
    }

    /// `reconcileCanaryReplicaSets`: stable, then new, then the others, one scaling action per pass; whether one
    /// happened.
    pub(super) async fn reconcile_canary_replica_sets(&mut self) -> Result<bool, Error> {
        if self.halt_progress().is_some() {
            return Ok(false);
        }
        self.remove_scale_down_deadlines().await?;
        let weights = self.status().canary.and_then(|c| c.weights);
        if self.rss.stable_differs()
            && let Some(s) = self.rss.stable
        {
            let (_, desired) = canary::desired_counts(&self.rollout, &self.rss, weights.as_ref());
            if self.scale_replica_set(s, desired).await? {
                return Ok(true);
            }
        }
        if self.rss.new.is_some() {
            let weights = self.new_status.canary.as_ref().and_then(|c| c.weights.clone());
            let desired = canary::new_rs_replicas(&self.rollout, &self.rss, weights.as_ref());
            if self.reconcile_new_replica_set(desired).await? {
                return Ok(true);
            }
        }
        self.reconcile_other_replica_sets().await
    }

    /// `haltProgress`: a user pause or an Inconclusive pause stops all scaling and step progress.
    pub(super) fn halt_progress(&self) -> Option<&'static str> {
        if self.rollout.spec.paused.unwrap_or(false) {
            return Some("user paused");
        }
        let status = self.status();
        crate::strategy::pause::pause_condition(
            &status,
            &crate::api::rollout::PauseReason::InconclusiveAnalysisRun,
        )
        .map(|_| "inconclusive analysis")
    }

    /// `reconcileOtherReplicaSets` and `scaleDownOldReplicaSetsForCanary`: unavailable pods of old ReplicaSets
    /// go first, then old ReplicaSets shrink, newest first, within the availability budget.
    async fn reconcile_other_replica_sets(&mut self) -> Result<bool, Error> {
        let mut others: Vec<usize> = (0..self.rss.all.len())
            .filter(|i| {
                Some(*i) != self.rss.new
                    && Some(*i) != self.rss.stable
                    && rsutil::is_active(&self.rss.all[*i])
            })
            .collect();
        if others.iter().map(|i| spec_replicas(&self.rss.all[*i])).sum::<i32>() == 0 {
            return Ok(false);
        }
        let mut scaled_down = 0;
        // Unhealthy replicas first, oldest ReplicaSet (lowest revision) first.
        others.sort_by(|a, b| rsutil::by_revision(&self.rss.all[*a], &self.rss.all[*b]));
        for &i in &others {
            let rs = &self.rss.all[i];
            let (spec, avail) = (spec_replicas(rs), available(rs));
            if spec == 0 || spec == avail {
                continue;
            }
            if avail > spec {
                // Upstream stops scaling down old ReplicaSets for this pass when one is still shrinking, and
                // reports no scaling (whatever it did before).
                return Ok(false);
            }
            self.scale_replica_set(i, avail).await?;
            scaled_down += spec - avail;
        }
        let total_available: i32 = self.rss.all.iter().map(available).sum();
        let min_available = defaults::replicas(&self.rollout) - fenceposts::max_unavailable(&self.rollout);
        let mut budget = total_available - min_available;
        if budget <= 0 {
            // Upstream reports no scaling here, even after trimming unhealthy replicas above.
            return Ok(false);
        }
        others.sort_by(|a, b| rsutil::by_revision(&self.rss.all[*b], &self.rss.all[*a]));
        for i in others {
            if budget <= 0 {
                break;
            }
            let spec = spec_replicas(&self.rss.all[i]);
            if spec == 0 {
                continue;
            }
            // A basic canary scales every other ReplicaSet down: their pods would serve traffic.
            let desired = if spec > budget { spec - budget } else { 0 };
            if spec == desired {
                continue;
            }
            self.scale_replica_set(i, desired).await?;
            budget -= spec - desired;
            scaled_down += spec - desired;
        }
        Ok(scaled_down > 0)
    }

    /// `reconcileRevisionHistoryLimit`: the oldest other ReplicaSets (lowest revisions) beyond
    /// `revisionHistoryLimit` are deleted once they have no pods, with their AnalysisRuns.
    pub(super) async fn reconcile_revision_history_limit(&mut self) -> Result<(), Error> {
        let limit = defaults::revision_history_limit(&self.rollout).max(0) as usize;
        let mut cleanable: Vec<ReplicaSet> = self
            .rss
            .others()
            .into_iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        if cleanable.len() <= limit {
            return Ok(());
        }
        let excess = cleanable.len() - limit;
        // Upstream sorts by creation time, which ties for ReplicaSets created in the same second and then
        // falls back to their (random) names; the revision says which is oldest.
        cleanable.sort_by(rsutil::by_revision);
        let api = self.rs_api();
        for rs in cleanable.into_iter().take(excess) {
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            if rsutil::actual(&rs) != 0
                || spec_replicas(&rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let rs_name = name(&rs).to_string();
            match api.delete(&rs_name, &DeleteParams::default()).await {
                Ok(_) => self.deleted(&rs.metadata),
                Err(e) if is_status(&e, 404) => {}
                Err(e) => {
                    return Err(Error::Kube { what: format!("deleting ReplicaSet {rs_name}"), source: e });
                }
            }
            let hash = pod_hash(&rs).to_string();
            self.delete_runs_of_hash(&hash).await?;
        }
        Ok(())
    }
}

//! Writing the Rollout's status (upstream's `persistRolloutStatus`, `patchCondition`, `checkPausedConditions`
//! and `createInvalidRolloutCondition`): the pause and abort fields, the conditions and their Events, the
//! phase, written as a merge patch of what changed, as Go would have written the status.

use super::{Error, Pass};
use crate::api::defaults;
use crate::api::rollout::{RolloutConditionType, RolloutStatus};
use crate::strategy::conditions::{self, Event, Observed};
use crate::strategy::replicaset::{self as rsutil, available, has_scale_down_deadline};
use crate::strategy::{phase, steps};
use serde_json::{Map, Value};
use std::time::Duration;

impl Pass<'_> {
    /// `persistRolloutStatus`.
    pub(super) async fn persist_status(&mut self, mut status: RolloutStatus) -> Result<(), Error> {
        let old = self.status();
        status.observed_generation = Some(self.rollout.metadata.generation.unwrap_or(0).to_string());
        status.workload_observed_generation = self.workload_observed_generation();
        self.evaluate_progress_deadline_abort(&status);
        self.pause.apply(&old, &mut status, self.now);
        let observed = self.observed();
        let events = conditions::calculate(&self.rollout, &mut status, &observed, self.now);
        self.status_events.extend(events);
        // What the next pass's `checkPausedConditions` would write on its own, written with this status: a pause
        // added or lifted here costs one write, not two, and the conditions never lag the pause.
        for c in self.paused_condition_updates(&status) {
            conditions::set(&mut status, c);
        }
        let (p, message) = phase::calculate(&self.rollout.spec, &status);
        status.phase = Some(p);
        status.message = Some(message);
        let written = self.write_status(&old, status.clone()).await?;
        let announced = std::mem::take(&mut self.status_events);
        self.events.extend(announced);
        if written {
            self.state_change_events(&old, &status);
        } else {
            self.requeue_stuck_rollout(&status);
        }
        Ok(())
    }

    /// What the conditions depend on besides the statuses.
    fn observed(&self) -> Observed {
        let replicas = defaults::replicas(&self.rollout);
        let new_rs = self.rss.new_rs();
        let failure = new_rs
            .into_iter()
            .chain(self.rss.all.iter())
            .flat_map(|rs| rs.status.iter().flat_map(|s| s.conditions.iter().flatten()))
            .find(|c| c.type_.as_deref() == Some("ReplicaFailure"))
            .map(|c| {
                let at = c.last_transition_time.clone().map(|t| t.0).unwrap_or(self.now);
                let mut rc = conditions::new_condition(
                    RolloutConditionType::ReplicaFailure,
                    c.status.as_deref().unwrap_or(""),
                    c.reason.as_deref().unwrap_or(""),
                    c.message.clone().unwrap_or_default(),
                    at,
                );
                rc.last_update_time = rc.last_transition_time.clone();
                rc
            });
        Observed {
            aborted: self.pause.is_aborted(&self.status()),
            abort_message: self.pause.abort_message().to_string(),
            revision: rsutil::revision(self.rollout.metadata.annotations.as_ref()).unwrap_or(0),
            new_rs_name: new_rs.map(|rs| rsutil::name(rs).to_string()),
            indefinite_step: steps::indefinite(&self.rollout),
            waiting_for_scale_down: self.rss.others().iter().any(|rs| has_scale_down_deadline(rs)),
            available: self.rss.all.iter().map(available).sum::<i32>() >= replicas,
            replica_failure: failure,
        }
    }

    /// `evaluateProgressDeadlineAbort`: with `progressDeadlineAbort`, an update that stopped progressing past
    /// its deadline is aborted.
    fn evaluate_progress_deadline_abort(&mut self, new: &RolloutStatus) {
        if !self.rollout.spec.progress_deadline_abort.unwrap_or(false)
            || self.pause.is_aborted(&self.status())
        {
            return;
        }
        if conditions::rollout_completed(new) || conditions::rollout_progressing(&self.rollout, new) {
            return;
        }
        if steps::indefinite(&self.rollout) || self.rss.others().iter().any(|rs| has_scale_down_deadline(rs))
        {
            return;
        }
        if !conditions::rollout_timed_out(&self.rollout, &self.status(), self.now) {
            return;
        }
        let message = match self.rss.new_rs() {
            Some(rs) => conditions::replica_set_timed_out_message(rsutil::name(rs)),
            None => conditions::rollout_timed_out_message(&self.name()),
        };
        self.pause.add_abort(message.clone());
        self.status_event(Event::warning(conditions::ROLLOUT_ABORTED_REASON, message));
    }

    /// `sendStateChangeEvents`.
    fn state_change_events(&mut self, old: &RolloutStatus, new: &RolloutStatus) {
        let was = old.pause_conditions.as_ref().is_some_and(|p| !p.is_empty());
        let is = new.pause_conditions.as_ref().filter(|p| !p.is_empty());
        match (was, is) {
            (false, Some(p)) => {
                let message = format!("{} ({})", conditions::ROLLOUT_PAUSED_MESSAGE, p[0].reason);
                self.event(Event::normal(conditions::ROLLOUT_PAUSED_REASON, message));
            }
            (true, None) if new.aborted_at.is_none() => {
                self.event(Event::normal(
                    conditions::ROLLOUT_RESUMED_REASON,
                    conditions::ROLLOUT_RESUMED_MESSAGE,
                ));
            }
            _ => {}
        }
    }

    /// `requeueStuckRollout`: a Rollout that stopped progressing is looked at again when its deadline passes.
    fn requeue_stuck_rollout(&mut self, new: &RolloutStatus) {
        let old = self.status();
        let Some(c) = conditions::get(&old, &RolloutConditionType::Progressing) else { return };
        let paused = old.pause_conditions.as_ref().is_some_and(|p| !p.is_empty())
            || self.rollout.spec.paused.unwrap_or(false);
        if conditions::rollout_healthy(&self.rollout, new)
            || c.reason == conditions::TIMED_OUT_REASON
            || paused
            || old.abort.unwrap_or(false)
            || steps::indefinite(&self.rollout)
        {
            return;
        }
        let deadline =
            jiff::SignedDuration::from_secs(i64::from(defaults::progress_deadline_seconds(&self.rollout)));
        let Ok(due) = c.last_update_time.0.checked_add(deadline) else { return };
        let after = Duration::try_from(self.now.duration_until(due)).unwrap_or(Duration::ZERO);
        self.requeue_within(after + Duration::from_secs(1));
    }

    /// Writes `new` as a merge patch against `old` (both as Go writes them); whether anything was written.
    pub(super) async fn write_status(
        &mut self,
        old: &RolloutStatus,
        new: RolloutStatus,
    ) -> Result<bool, Error> {
        let before = go_status(old);
        let after = go_status(&new);
        let Some(patch) = merge_patch(&before, &after) else { return Ok(false) };
        self.patch_status(patch).await?;
        Ok(true)
    }

    /// `patchCondition`: conditions, observed generation and phase written on their own.
    pub(super) async fn patch_condition_status(&mut self, mut status: RolloutStatus) -> Result<(), Error> {
        let old = self.status();
        status.observed_generation = Some(self.rollout.metadata.generation.unwrap_or(0).to_string());
        let (p, message) = phase::calculate(&self.rollout.spec, &status);
        status.phase = Some(p);
        status.message = Some(message);
        if self.write_status(&old, status).await? {
            self.modified = true;
        }
        Ok(())
    }

    /// `checkPausedConditions`: Progressing and Paused follow `spec.paused` and the pause conditions.
    pub(super) async fn check_paused_conditions(&mut self) -> Result<(), Error> {
        let status = self.status();
        let updates = self.paused_condition_updates(&status);
        if updates.is_empty() {
            return Ok(());
        }
        let mut new = status.clone();
        for c in updates {
            conditions::set(&mut new, c);
        }
        self.patch_condition_status(new).await
    }

    /// The Progressing and Paused conditions `status` needs so that they follow `spec.paused` and its pause
    /// conditions (and an abort's retry).
    fn paused_condition_updates(&self, status: &RolloutStatus) -> Vec<crate::api::rollout::RolloutCondition> {
        use RolloutConditionType as T;
        let progressing = conditions::get(status, &T::Progressing);
        let reason = progressing.map(|c| c.reason.as_str());
        let progress_paused = reason == Some(conditions::ROLLOUT_PAUSED_REASON);
        let paused = status.pause_conditions.as_ref().is_some_and(|p| !p.is_empty())
            || self.rollout.spec.paused.unwrap_or(false);
        let aborted_condition = reason == Some(conditions::ROLLOUT_ABORTED_REASON);
        let mut updates = Vec::new();
        if paused != progress_paused && !aborted_condition && !conditions::rollout_completed(status) {
            updates.push(if paused {
                conditions::new_condition(
                    T::Progressing,
                    "Unknown",
                    conditions::ROLLOUT_PAUSED_REASON,
                    conditions::ROLLOUT_PAUSED_MESSAGE,
                    self.now,
                )
            } else {
                conditions::new_condition(
                    T::Progressing,
                    "Unknown",
                    conditions::ROLLOUT_RESUMED_REASON,
                    conditions::ROLLOUT_RESUMED_MESSAGE,
                    self.now,
                )
            });
        }
        if !status.abort.unwrap_or(false) && aborted_condition {
            updates.push(conditions::new_condition(
                T::Progressing,
                "Unknown",
                conditions::ROLLOUT_RETRY_REASON,
                conditions::ROLLOUT_RETRY_MESSAGE,
                self.now,
            ));
        }
        let paused_true = conditions::get(status, &T::Paused).is_some_and(|c| c.status == "True");
        if paused != paused_true && !aborted_condition {
            updates.push(conditions::new_condition(
                T::Paused,
                if paused { "True" } else { "False" },
                conditions::ROLLOUT_PAUSED_REASON,
                conditions::ROLLOUT_PAUSED_MESSAGE,
                self.now,
            ));
        }
        updates
    }

    /// `createInvalidRolloutCondition`: the `InvalidSpec` condition (replaced when the reason changes), and
    /// nothing else; the Rollout is looked at again soon, as the cause may be an object not created yet.
    pub(super) async fn invalid_spec(&mut self, error: String) -> Result<(), Error> {
        use RolloutConditionType as T;
        let message = conditions::invalid_spec_message(&self.name(), &error);
        tracing::warn!(rollout = %self.name(), "{message}");
        self.requeue_within(super::INVALID_SPEC_REQUEUE);
        let status = self.status();
        let previous = conditions::get(&status, &T::InvalidSpec).cloned();
        let generation = self.rollout.metadata.generation.unwrap_or(0).to_string();
        if previous.as_ref().is_some_and(|p| p.message == message)
            && status.observed_generation.as_deref() == Some(&generation)
        {
            return Ok(());
        }
        let mut new = status.clone();
        conditions::remove(&mut new, &T::InvalidSpec);
        let condition = match previous {
            Some(p) if p.message == message => p,
            _ => conditions::new_condition(
                T::InvalidSpec,
                "True",
                conditions::INVALID_SPEC_REASON,
                message,
                self.now,
            ),
        };
        conditions::set(&mut new, condition);
        self.patch_condition_status(new).await
    }
}

/// The status as Go's `encoding/json` writes upstream's struct: zero counts, empty strings and false flags
/// left out (`omitempty`), and the `canary` and `blueGreen` blocks always present.
pub(super) fn go_status(status: &RolloutStatus) -> Value {
    let mut s = status.clone();
    let zero = |v: &mut Option<i32>| {
        if *v == Some(0) {
            *v = None;
        }
    };
    let empty = |v: &mut Option<String>| {
        if v.as_deref() == Some("") {
            *v = None;
        }
    };
    let off = |v: &mut Option<bool>| {
        if *v == Some(false) {
            *v = None;
        }
    };
    for v in [
        &mut s.replicas,
        &mut s.updated_replicas,
        &mut s.ready_replicas,
        &mut s.available_replicas,
        &mut s.hpa_replicas,
    ] {
        zero(v);
    }
    for v in [
        &mut s.current_pod_hash,
        &mut s.current_step_hash,
        &mut s.observed_generation,
        &mut s.selector,
        &mut s.stable_rs,
        &mut s.message,
        &mut s.workload_observed_generation,
    ] {
        empty(v);
    }
    for v in [&mut s.abort, &mut s.controller_pause, &mut s.promote_full] {
        off(v);
    }
    if s.pause_conditions.as_ref().is_some_and(Vec::is_empty) {
        s.pause_conditions = None;
    }
    if s.conditions.as_ref().is_some_and(Vec::is_empty) {
        s.conditions = None;
    }
    let mut canary = s.canary.take().unwrap_or_default();
    empty(&mut canary.current_experiment);
    if canary.step_plugin_statuses.as_ref().is_some_and(Vec::is_empty) {
        canary.step_plugin_statuses = None;
    }
    s.canary = Some(canary);
    let mut bg = s.blue_green.take().unwrap_or_default();
    empty(&mut bg.active_selector);
    empty(&mut bg.preview_selector);
    off(&mut bg.scale_up_preview_check_point);
    s.blue_green = Some(bg);
    if s.phase.as_ref().is_some_and(|p| p.as_str().is_empty()) {
        s.phase = None;
    }
    serde_json::to_value(&s).unwrap_or(Value::Null)
}

/// An RFC 7386 merge patch turning `old` into `new` (fields gone become `null`), or `None` when they are equal.
pub(super) fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(p) = merge_patch(ov, v) {
                            patch.insert(k.clone(), p);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ => Some(new.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_patch_holds_exactly_what_changed() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "gone": true, "list": [1, 2]});
        let new = json!({"a": 1, "b": {"c": 5, "d": 3}, "list": [1], "added": "x"});
        assert_eq!(
            merge_patch(&old, &new),
            Some(json!({"b": {"c": 5}, "gone": null, "list": [1], "added": "x"}))
        );
        assert_eq!(merge_patch(&new, &new), None);
    }

    #[test]
    fn the_status_is_shaped_as_upstream_writes_it() {
        let status = RolloutStatus {
            replicas: Some(0),
            available_replicas: Some(2),
            abort: Some(false),
            current_step_index: Some(0),
            stable_rs: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(
            go_status(&status),
            json!({"availableReplicas": 2, "currentStepIndex": 0, "canary": {}, "blueGreen": {}})
        );
    }
}

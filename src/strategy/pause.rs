//! Pauses and aborts decided during one reconcile, and the status fields they produce (upstream's
//! `rollout/pause.go` pauseContext; argo-semantics §d.2, §d.5).

use crate::api::duration::pause_duration_seconds;
use crate::api::rollout::{PauseCondition, PauseReason, RolloutPause, RolloutStatus};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A timestamp as Kubernetes stores it (whole seconds), so what is written compares equal to what is read back.
pub fn meta_time(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The pause condition of `reason`, if the Rollout has one.
pub fn pause_condition<'a>(status: &'a RolloutStatus, reason: &PauseReason) -> Option<&'a PauseCondition> {
    status.pause_conditions.iter().flatten().find(|c| &c.reason == reason)
}

/// What this reconcile decided about pausing and aborting; applied to the new status at the end.
#[derive(Debug, Clone, Default)]
pub struct PauseContext {
    add: Vec<PauseReason>,
    remove: Vec<PauseReason>,
    clear: bool,
    add_abort: bool,
    remove_abort: bool,
    abort_message: String,
}

impl PauseContext {
    pub fn has_add_pause(&self) -> bool {
        !self.add.is_empty()
    }

    /// Aborted now: an abort added this reconcile, or the Rollout's own, unless it was removed.
    pub fn is_aborted(&self, status: &RolloutStatus) -> bool {
        !self.remove_abort && (self.add_abort || status.abort.unwrap_or(false))
    }

    pub fn add_abort(&mut self, message: impl Into<String>) {
        self.add_abort = true;
        self.abort_message = message.into();
    }

    pub fn abort_message(&self) -> &str {
        &self.abort_message
    }

    pub fn remove_abort(&mut self) {
        self.remove_abort = true;
    }

    pub fn add_pause(&mut self, reason: PauseReason) {
        self.add.push(reason);
    }

    pub fn remove_pause(&mut self, reason: PauseReason) {
        self.remove.push(reason);
    }

    pub fn clear_pauses(&mut self) {
        self.clear = true;
    }

    /// `CalculatePauseStatus`: abort and abortedAt (kept from the first time), or else the pause conditions
    /// (existing ones keep their start, new ones start now) and `controllerPause`, which is written only while a
    /// pause condition remains.
    pub fn apply(&self, old: &RolloutStatus, new: &mut RolloutStatus, now: Timestamp) {
        if self.add_abort || (!self.remove_abort && old.abort.unwrap_or(false)) {
            new.abort = Some(true);
            new.aborted_at = Some(old.aborted_at.clone().unwrap_or_else(|| meta_time(now)));
            return;
        }
        new.abort = None;
        new.aborted_at = None;
        if self.clear {
            return;
        }
        let mut controller_pause = old.controller_pause.unwrap_or(false);
        let mut conditions: Vec<PauseCondition> = old
            .pause_conditions
            .iter()
            .flatten()
            .filter(|c| !self.remove.contains(&c.reason))
            .cloned()
            .collect();
        for reason in &self.add {
            if !old.pause_conditions.iter().flatten().any(|c| &c.reason == reason) {
                conditions.push(PauseCondition { reason: reason.clone(), start_time: meta_time(now) });
                controller_pause = true;
            }
        }
        if conditions.is_empty() {
            return;
        }
        new.controller_pause = Some(controller_pause);
        new.pause_conditions = Some(conditions);
    }
}

/// `CompletedCanaryPauseStep`: the user resumed (the controller paused and the condition is gone), or the
/// pause's duration has passed since it began.
pub fn completed_canary_pause_step(status: &RolloutStatus, pause: &RolloutPause, now: Timestamp) -> bool {
    let condition = pause_condition(status, &PauseReason::CanaryPauseStep);
    if status.controller_pause.unwrap_or(false) && condition.is_none() {
        return true;
    }
    if let (Some(duration), Some(c)) = (pause.duration.as_ref(), condition) {
        let seconds = pause_duration_seconds(Some(duration));
        // A start time so late that the end is past the representable range has not ended.
        return c
            .start_time
            .0
            .checked_add(SignedDuration::from_secs(i64::from(seconds)))
            .is_ok_and(|end| now > end);
    }
    false
}

/// When a timed canary pause ends, for the requeue.
pub fn canary_pause_ends(status: &RolloutStatus, pause: &RolloutPause) -> Option<Timestamp> {
    let c = pause_condition(status, &PauseReason::CanaryPauseStep)?;
    let seconds = pause_duration_seconds(Some(pause.duration.as_ref()?));
    c.start_time.0.checked_add(SignedDuration::from_secs(i64::from(seconds))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn paused(reason: PauseReason, start: &str) -> PauseCondition {
        PauseCondition { reason, start_time: Time(at(start)) }
    }

    #[test]
    fn pauses_keep_their_start_and_new_ones_set_controller_pause() {
        let now = at("2026-01-01T00:10:00.700Z");
        let old = RolloutStatus {
            pause_conditions: Some(vec![paused(PauseReason::CanaryPauseStep, "2026-01-01T00:00:00Z")]),
            ..Default::default()
        };
        let mut ctx = PauseContext::default();
        ctx.add_pause(PauseReason::CanaryPauseStep);
        ctx.add_pause(PauseReason::InconclusiveAnalysisRun);
        let mut new = RolloutStatus::default();
        ctx.apply(&old, &mut new, now);
        assert_eq!(
            new.pause_conditions,
            Some(vec![
                paused(PauseReason::CanaryPauseStep, "2026-01-01T00:00:00Z"),
                paused(PauseReason::InconclusiveAnalysisRun, "2026-01-01T00:10:00Z"),
            ])
        );
        assert_eq!(new.controller_pause, Some(true));

        // Removing the last pause leaves controllerPause unwritten.
        let mut ctx = PauseContext::default();
        ctx.remove_pause(PauseReason::CanaryPauseStep);
        let old = RolloutStatus { controller_pause: Some(true), ..old };
        let mut new = RolloutStatus::default();
        ctx.apply(&old, &mut new, now);
        assert_eq!((new.pause_conditions, new.controller_pause), (None, None));
    }

    #[test]
    fn an_abort_wins_over_pauses_and_keeps_its_first_time() {
        let now = at("2026-01-01T00:10:00Z");
        let first = Time(at("2026-01-01T00:05:00Z"));
        let old = RolloutStatus {
            abort: Some(true),
            aborted_at: Some(first.clone()),
            pause_conditions: Some(vec![paused(PauseReason::CanaryPauseStep, "2026-01-01T00:00:00Z")]),
            ..Default::default()
        };
        let mut new = RolloutStatus::default();
        PauseContext::default().apply(&old, &mut new, now);
        assert_eq!((new.abort, new.aborted_at, new.pause_conditions), (Some(true), Some(first), None));

        let mut ctx = PauseContext::default();
        ctx.remove_abort();
        let mut new = RolloutStatus::default();
        ctx.apply(&old, &mut new, now);
        assert_eq!((new.abort, new.aborted_at), (None, None));
        assert!(new.pause_conditions.is_some(), "pauses return once the abort is removed");
        assert!(!ctx.is_aborted(&old));
    }

    #[test]
    fn a_pause_step_completes_on_resume_or_when_its_duration_passed() {
        let start = "2026-01-01T00:00:00Z";
        let timed = RolloutPause { duration: Some(IntOrString::String("10s".into())) };
        let indefinite = RolloutPause::default();
        let waiting = RolloutStatus {
            controller_pause: Some(true),
            pause_conditions: Some(vec![paused(PauseReason::CanaryPauseStep, start)]),
            ..Default::default()
        };
        let resumed = RolloutStatus { controller_pause: Some(true), ..Default::default() };
        let cases = [
            (&waiting, &timed, "2026-01-01T00:00:05Z", false),
            (&waiting, &timed, "2026-01-01T00:00:10Z", false),
            (&waiting, &timed, "2026-01-01T00:00:11Z", true),
            (&waiting, &indefinite, "2026-01-01T09:00:00Z", false),
            (&resumed, &indefinite, "2026-01-01T00:00:01Z", true),
            (&RolloutStatus::default(), &timed, "2026-01-01T09:00:00Z", false),
        ];
        for (status, pause, now, done) in cases {
            assert_eq!(completed_canary_pause_step(status, pause, at(now)), done, "{now} {pause:?}");
        }
        assert_eq!(canary_pause_ends(&waiting, &timed), Some(at("2026-01-01T00:00:10Z")));
    }
}

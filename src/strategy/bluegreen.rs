//! Blue-green decisions (upstream's `rollout/bluegreen.go`, `utils/replicaset/bluegreen.go` and the blue-green
//! parts of `replicaset.go`, `analysis.go` and `pause.go`; argo-semantics §e): how large the new ReplicaSet is,
//! when it is ready for the pause and the switch, when the controller pauses and when that pause is over, when
//! the promotion analyses run, and how long an old ReplicaSet keeps its pods.

use super::pause::pause_condition;
use super::replicaset::{self as rsutil, ReplicaSets, available, has_scale_down_deadline, spec_replicas};
use crate::api::defaults;
use crate::api::rollout::{BlueGreenStrategy, PauseReason, Rollout, RolloutStatus};
use jiff::{SignedDuration, Timestamp};

/// Upstream's `DefaultScaleDownDelaySeconds`.
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;

fn strategy(ro: &Rollout) -> BlueGreenStrategy {
    ro.blue_green().cloned().unwrap_or_default()
}

fn status(ro: &Rollout) -> RolloutStatus {
    ro.status.clone().unwrap_or_default()
}

/// The active Service's recorded selector (`status.blueGreen.activeSelector`).
pub fn active_selector(status: &RolloutStatus) -> &str {
    status.blue_green.as_ref().and_then(|b| b.active_selector.as_deref()).unwrap_or("")
}

/// `NewRSNewReplicas` for blue-green: `spec.replicas`, or `previewReplicaCount` while the new ReplicaSet is only
/// being previewed (not active yet, no full promotion, and not past the preview scale-up checkpoint).
pub fn new_rs_replicas(ro: &Rollout, rss: &ReplicaSets) -> i32 {
    let replicas = defaults::replicas(ro);
    let Some(preview) = strategy(ro).preview_replica_count else { return replicas };
    let Some(new) = rss.new_rs() else { return replicas };
    let st = status(ro);
    let active = rss.by_hash(active_selector(&st));
    if active.is_none() || active == rss.new {
        return replicas;
    }
    if st.promote_full.unwrap_or(false) {
        return replicas;
    }
    if Some(rsutil::pod_hash(new)) != st.current_pod_hash.as_deref() {
        return preview;
    }
    let not_paused =
        !ro.spec.paused.unwrap_or(false) && st.pause_conditions.as_ref().is_none_or(Vec::is_empty);
    let past_checkpoint =
        st.blue_green.as_ref().and_then(|b| b.scale_up_preview_check_point).unwrap_or(false);
    if not_paused && past_checkpoint { replicas } else { preview }
}

/// `ReadyForPause`: the new ReplicaSet has the size it should have now, all of it available.
pub fn ready_for_pause(ro: &Rollout, rss: &ReplicaSets) -> bool {
    let Some(new) = rss.new_rs() else { return false };
    let want = new_rs_replicas(ro, rss);
    spec_replicas(new) == want && available(new) == want
}

/// `IsSaturated`: `spec.replicas` pods asked for, recorded, and available.
pub fn is_saturated(ro: &Rollout, rs: Option<&k8s_openapi::api::apps::v1::ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let replicas = defaults::replicas(ro);
    spec_replicas(rs) == replicas
        && rsutil::desired_replicas_annotation(rs) == Some(replicas)
        && available(rs) == replicas
}

/// `needsBlueGreenControllerPause`: manual promotion, or an automatic one after a delay.
pub fn needs_controller_pause(ro: &Rollout) -> bool {
    let s = strategy(ro);
    s.auto_promotion_enabled == Some(false) || s.auto_promotion_seconds.unwrap_or(0) > 0
}

/// When an automatic promotion's pause ends, if the Rollout is paused for one.
pub fn auto_promotion_at(ro: &Rollout) -> Option<Timestamp> {
    let s = strategy(ro);
    let seconds = s.auto_promotion_seconds.filter(|s| *s > 0)?;
    if s.auto_promotion_enabled == Some(false) {
        return None;
    }
    let st = status(ro);
    let since = pause_condition(&st, &PauseReason::BlueGreenPause)?.start_time.0;
    since.checked_add(SignedDuration::from_secs(i64::from(seconds))).ok()
}

/// `CompletedBlueGreenPause`: past the preview scale-up checkpoint; with automatic promotion, no delay or the
/// delay has passed since the pause began; with manual promotion, the user removed the pause condition. Never in
/// the reconcile that just added a pause.
pub fn completed_pause(ro: &Rollout, pause_added_now: bool, now: Timestamp) -> bool {
    if pause_added_now {
        return false;
    }
    let st = status(ro);
    if st.blue_green.as_ref().and_then(|b| b.scale_up_preview_check_point).unwrap_or(false) {
        return true;
    }
    let s = strategy(ro);
    let condition = pause_condition(&st, &PauseReason::BlueGreenPause);
    if s.auto_promotion_enabled != Some(false) {
        if s.auto_promotion_seconds.unwrap_or(0) == 0 {
            return true;
        }
        return condition.is_some() && auto_promotion_at(ro).is_some_and(|at| now > at);
    }
    st.controller_pause.unwrap_or(false) && condition.is_none()
}

/// `skipPrePromotionAnalysisRun`: nothing to analyse before the switch (already active or stable, an initial
/// deploy), or, for a run not started yet, the new ReplicaSet is not at its preview size.
pub fn skip_pre_promotion(ro: &Rollout, rss: &ReplicaSets, has_current: bool) -> bool {
    let st = status(ro);
    let hash = rss.new_rs().map(rsutil::pod_hash).unwrap_or("");
    let active = active_selector(&st);
    if st.stable_rs.as_deref() == Some(hash) || active.is_empty() || active == hash || hash.is_empty() {
        return true;
    }
    if has_current {
        return false;
    }
    let new = rss.new_rs();
    match strategy(ro).preview_replica_count {
        Some(preview) => new.is_none_or(|rs| spec_replicas(rs) != preview || available(rs) != preview),
        None => !is_saturated(ro, new),
    }
}

/// `skipPostPromotionAnalysisRun`: the switch has not happened, the update is done, or, for a run not started
/// yet, the new ReplicaSet is not saturated.
pub fn skip_post_promotion(ro: &Rollout, rss: &ReplicaSets, has_current: bool) -> bool {
    let st = status(ro);
    let hash = rss.new_rs().map(rsutil::pod_hash).unwrap_or("");
    if st.stable_rs.as_deref() == Some(hash) || active_selector(&st) != hash || hash.is_empty() {
        return true;
    }
    !has_current && !is_saturated(ro, rss.new_rs())
}

/// `GetScaleDownDelaySecondsOrDefault`: blue-green and traffic-routed canaries keep an old ReplicaSet this long;
/// a basic canary does not.
pub fn scale_down_delay_seconds(ro: &Rollout) -> i32 {
    if let Some(bg) = ro.blue_green() {
        return bg.scale_down_delay_seconds.unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS);
    }
    match ro.canary() {
        Some(c) if c.traffic_routing.is_some() => {
            c.scale_down_delay_seconds.unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS)
        }
        _ => 0,
    }
}

/// `GetScaleDownRevisionLimit`: how many old ReplicaSets may wait out their delay at once.
pub fn scale_down_revision_limit(ro: &Rollout) -> i32 {
    ro.blue_green()
        .and_then(|b| b.scale_down_delay_revision_limit)
        .or_else(|| ro.canary().and_then(|c| c.scale_down_delay_revision_limit))
        .unwrap_or(i32::MAX)
}

/// What to do with one old ReplicaSet (`scaleDownDelayHelper`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// Give it a scale-down deadline `seconds` from now and keep it at its size for now.
    Annotate { seconds: i32, keep: i32 },
    /// Keep it at this size (its deadline has not passed); look again within `left`.
    Keep { replicas: i32, left: Option<SignedDuration> },
    /// Scale it to this size (its deadline passed, or it is beyond the revision limit).
    Scale(i32),
}

/// `scaleDownDelayHelper`: `annotated` counts the old ReplicaSets (newest first) that hold a delay so far.
/// A ReplicaSet without a deadline gets one while the revision limit allows; one with a deadline keeps all of
/// `spec.replicas` pods until it passes (upstream scales it back up to that if it was smaller).
///
/// A delay of zero scales the ReplicaSet down at once. Upstream adds no deadline then and so keeps the
/// ReplicaSet at its size forever (its issue #1992); serin does what the field says (docs/rollouts.md).
pub fn scale_down_delay(
    ro: &Rollout,
    rs: &k8s_openapi::api::apps::v1::ReplicaSet,
    annotated: &mut i32,
    now: Timestamp,
) -> Delay {
    let limit = scale_down_revision_limit(ro);
    let replicas = defaults::replicas(ro);
    if !has_scale_down_deadline(rs) && spec_replicas(rs) > 0 {
        let seconds = scale_down_delay_seconds(ro);
        if seconds > 0 && *annotated < limit {
            *annotated += 1;
            return Delay::Annotate { seconds, keep: spec_replicas(rs) };
        }
        return Delay::Scale(0);
    }
    if has_scale_down_deadline(rs) {
        *annotated += 1;
        if *annotated > limit {
            return Delay::Scale(0);
        }
        return match rsutil::time_before_scale_down(rs, now) {
            Ok(Some(left)) => Delay::Keep { replicas, left: Some(left) },
            // An unreadable deadline is logged upstream and the ReplicaSet scaled down.
            Ok(None) | Err(_) => Delay::Scale(0),
        };
    }
    Delay::Scale(0)
}

#[cfg(test)]
mod tests;

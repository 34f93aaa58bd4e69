//! The Rollout phase and message, computed by the controller as upstream does (`CalculateRolloutPhase`;
//! argo-semantics §d.10), and the client-side view tools use (`GetRolloutPhase`).

use crate::api::defaults;
use crate::api::rollout::{Rollout, RolloutConditionType, RolloutPhase, RolloutSpec, RolloutStatus};
use crate::strategy::conditions::{ROLLOUT_ABORTED_REASON, TIMED_OUT_REASON};

/// `CalculateRolloutPhase`: the first that applies of Degraded (invalid spec, aborted, deadline exceeded),
/// Paused, Progressing (with why), Healthy.
pub fn calculate(spec: &RolloutSpec, status: &RolloutStatus) -> (RolloutPhase, String) {
    for c in status.conditions.iter().flatten() {
        if c.type_ == RolloutConditionType::InvalidSpec {
            return (RolloutPhase::Degraded, format!("InvalidSpec: {}", c.message));
        }
        if c.reason == ROLLOUT_ABORTED_REASON || c.reason == TIMED_OUT_REASON {
            return (RolloutPhase::Degraded, format!("{}: {}", c.reason, c.message));
        }
    }
    if spec.paused.unwrap_or(false) {
        return (RolloutPhase::Paused, "manually paused".into());
    }
    if let Some(p) = status.pause_conditions.iter().flatten().next() {
        return (RolloutPhase::Paused, p.reason.to_string());
    }
    if let Some(restart) = &spec.restart_at
        && status.restarted_at.as_ref().is_none_or(|r| r.0 != restart.0)
    {
        return (RolloutPhase::Progressing, "rollout is restarting".into());
    }
    let replicas = spec.replicas.unwrap_or(defaults::REPLICAS);
    let (updated, available, total) = (
        status.updated_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
        status.replicas.unwrap_or(0),
    );
    if updated < replicas {
        return (RolloutPhase::Progressing, "more replicas need to be updated".into());
    }
    if available < updated {
        return (RolloutPhase::Progressing, "updated replicas are still becoming available".into());
    }
    let stable = status.stable_rs.as_deref().unwrap_or("");
    let fully_promoted = status.stable_rs == status.current_pod_hash;
    let strategy = spec.strategy.as_ref();
    if strategy.and_then(|s| s.blue_green.as_ref()).is_some() {
        let bg = status.blue_green.clone().unwrap_or_default();
        let active = bg.active_selector.as_deref().unwrap_or("");
        if active.is_empty() || Some(active) != status.current_pod_hash.as_deref() {
            return (RolloutPhase::Progressing, "active service cutover pending".into());
        }
        if stable.is_empty() || !fully_promoted {
            let post =
                strategy.and_then(|s| s.blue_green.as_ref()).and_then(|b| b.post_promotion_analysis.as_ref());
            let run_done =
                bg.post_promotion_analysis_run_status.as_ref().is_some_and(|r| r.status.completed());
            if post.is_some() && !run_done {
                return (RolloutPhase::Progressing, "waiting for analysis to complete".into());
            }
            return (RolloutPhase::Progressing, "waiting for post-promotion verification to complete".into());
        }
    } else if let Some(canary) = strategy.and_then(|s| s.canary.as_ref()) {
        if canary.traffic_routing.is_none() && total > updated {
            return (RolloutPhase::Progressing, "old replicas are pending termination".into());
        }
        if stable.is_empty() || !fully_promoted {
            return (RolloutPhase::Progressing, "waiting for all steps to complete".into());
        }
    }
    (RolloutPhase::Healthy, String::new())
}

/// `GetRolloutPhase`: what `kubectl argo rollouts` shows: an unobserved spec change or a resume the
/// controller has not seen yet is Progressing; otherwise the phase the controller wrote (or computes it).
pub fn observed(rollout: &Rollout) -> (RolloutPhase, String) {
    let status = rollout.status.clone().unwrap_or_default();
    let generation = rollout.metadata.generation.unwrap_or(0);
    let observed = status.observed_generation.as_deref().and_then(|g| g.parse::<i64>().ok());
    if observed.is_some_and(|g| g < generation) {
        return (RolloutPhase::Progressing, "waiting for rollout spec update to be observed".into());
    }
    if status.controller_pause.unwrap_or(false) && status.pause_conditions.as_ref().is_none_or(Vec::is_empty)
    {
        return (RolloutPhase::Progressing, "waiting for rollout to unpause".into());
    }
    match status.phase.clone() {
        Some(p) => (p, status.message.clone().unwrap_or_default()),
        None => calculate(&rollout.spec, &status),
    }
}

#[cfg(test)]
#[path = "phase/tests.rs"]
mod tests;

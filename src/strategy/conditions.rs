//! Rollout conditions as upstream sets them (`utils/conditions/conditions.go` and `calculateRolloutConditions`
//! in `rollout/sync.go`): their reasons and messages, when each one turns, and the Events that go with them.

use super::pause::meta_time;
use crate::api::defaults;
use crate::api::rollout::{Rollout, RolloutCondition, RolloutConditionType, RolloutStatus};
use jiff::{SignedDuration, Timestamp};

pub const INVALID_SPEC_REASON: &str = "InvalidSpec";
pub const AVAILABLE_REASON: &str = "AvailableReason";
pub const NOT_AVAILABLE_MESSAGE: &str = "Rollout does not have minimum availability";
pub const AVAILABLE_MESSAGE: &str = "Rollout has minimum availability";
pub const REPLICA_SET_UPDATED_REASON: &str = "ReplicaSetUpdated";
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";
pub const NEW_REPLICA_SET_REASON: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
pub const ROLLOUT_UPDATED_REASON: &str = "RolloutUpdated";
pub const ROLLOUT_COMPLETED_REASON: &str = "RolloutCompleted";
pub const ROLLOUT_NOT_COMPLETED_REASON: &str = "RolloutNotCompleted";
pub const ROLLOUT_HEALTHY_REASON: &str = "RolloutHealthy";
pub const ROLLOUT_HEALTHY_MESSAGE: &str = "Rollout is healthy";
pub const ROLLOUT_NOT_HEALTHY_MESSAGE: &str = "Rollout is not healthy";
pub const ROLLOUT_ABORTED_REASON: &str = "RolloutAborted";
pub const ROLLOUT_RETRY_REASON: &str = "RolloutRetry";
pub const ROLLOUT_RETRY_MESSAGE: &str = "Retrying Rollout after abort";
pub const ROLLOUT_PAUSED_REASON: &str = "RolloutPaused";
pub const ROLLOUT_PAUSED_MESSAGE: &str = "Rollout is paused";
pub const REPLICA_SET_NOT_AVAILABLE_REASON: &str = "ReplicaSetNotAvailable";
pub const ROLLOUT_RESUMED_REASON: &str = "RolloutResumed";
pub const ROLLOUT_RESUMED_MESSAGE: &str = "Rollout is resumed";
pub const ROLLOUT_STEP_COMPLETED_REASON: &str = "RolloutStepCompleted";
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
pub const SCALING_REPLICA_SET_REASON: &str = "ScalingReplicaSet";
/// `TrafficWeightUpdated`: the weights set on the traffic routers changed.
pub const TRAFFIC_WEIGHT_UPDATED_REASON: &str = "TrafficWeightUpdated";

/// A Kubernetes Event the Rollout controller records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

impl Event {
    pub fn normal(reason: &str, message: impl Into<String>) -> Event {
        Event { warning: false, reason: reason.into(), message: message.into() }
    }
    pub fn warning(reason: &str, message: impl Into<String>) -> Event {
        Event { warning: true, reason: reason.into(), message: message.into() }
    }
}

/// `"Rollout %q is progressing."` and friends: Go's `%q` of a plain name.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

pub fn rollout_timed_out_message(name: &str) -> String {
    format!("Rollout {} has timed out progressing.", quoted(name))
}
pub fn replica_set_timed_out_message(name: &str) -> String {
    format!("ReplicaSet {} has timed out progressing.", quoted(name))
}
pub fn replica_set_progressing_message(name: &str) -> String {
    format!("ReplicaSet {} is progressing.", quoted(name))
}
pub fn rollout_progressing_message(name: &str) -> String {
    format!("Rollout {} is progressing.", quoted(name))
}
pub fn replica_set_completed_message(name: &str) -> String {
    format!("ReplicaSet {} has successfully progressed.", quoted(name))
}
pub fn new_replica_set_message(name: &str) -> String {
    format!("Created new replica set {}", quoted(name))
}
pub fn found_new_rs_message(name: &str) -> String {
    format!("Found new replica set {}", quoted(name))
}
pub fn failed_rs_create_message(name: &str, err: &str) -> String {
    format!("Failed to create new replica set {}: {err}", quoted(name))
}
pub fn rollout_aborted_message(revision: i64) -> String {
    format!("Rollout aborted update to revision {revision}")
}
pub fn invalid_spec_message(rollout: &str, error: &str) -> String {
    format!("The Rollout \"{rollout}\" is invalid: {error}")
}

/// `NewRolloutCondition`: both times now.
pub fn new_condition(
    type_: RolloutConditionType,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    now: Timestamp,
) -> RolloutCondition {
    RolloutCondition {
        type_,
        status: status.into(),
        last_update_time: meta_time(now),
        last_transition_time: meta_time(now),
        reason: reason.into(),
        message: message.into(),
    }
}

pub fn get<'a>(status: &'a RolloutStatus, type_: &RolloutConditionType) -> Option<&'a RolloutCondition> {
    status.conditions.iter().flatten().find(|c| &c.type_ == type_)
}

/// `SetRolloutCondition`: nothing changes when status and reason are the same; the transition time is kept
/// when only the reason changes; a changed condition moves to the end of the list. Returns whether it changed.
pub fn set(status: &mut RolloutStatus, mut condition: RolloutCondition) -> bool {
    if let Some(current) = get(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return false;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, &condition.type_);
    status.conditions.get_or_insert_with(Vec::new).push(condition);
    true
}

pub fn remove(status: &mut RolloutStatus, type_: &RolloutConditionType) {
    if let Some(list) = status.conditions.as_mut() {
        list.retain(|c| &c.type_ != type_);
        if list.is_empty() {
            status.conditions = None;
        }
    }
}

/// `RolloutCompleted`: the desired ReplicaSet is the stable one.
pub fn rollout_completed(status: &RolloutStatus) -> bool {
    let stable = status.stable_rs.as_deref().unwrap_or("");
    !stable.is_empty() && Some(stable) == status.current_pod_hash.as_deref()
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// `RolloutProgressing`: something moved since the status the Rollout carries.
pub fn rollout_progressing(rollout: &Rollout, new: &RolloutStatus) -> bool {
    let old = rollout.status.clone().unwrap_or_default();
    let mut strategy_progress = false;
    if rollout.blue_green().is_some() {
        let (o, n) = (old.blue_green.clone().unwrap_or_default(), new.blue_green.clone().unwrap_or_default());
        strategy_progress =
            o.active_selector != n.active_selector || o.preview_selector != n.preview_selector;
    }
    if rollout.canary().is_some() {
        let step_moved =
            matches!((new.current_step_index, old.current_step_index), (Some(a), Some(b)) if a != b);
        strategy_progress =
            new.stable_rs != old.stable_rs || step_moved || new.current_step_hash != old.current_step_hash;
    }
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) != count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
        || strategy_progress
}

/// `RolloutHealthy`: all replicas updated and available, the spec observed, and the strategy finished.
pub fn rollout_healthy(rollout: &Rollout, new: &RolloutStatus) -> bool {
    let replicas = defaults::replicas(rollout);
    let mut completed = true;
    if let Some(bg) = rollout.blue_green() {
        let b = new.blue_green.clone().unwrap_or_default();
        let active = b.active_selector.is_some() && b.active_selector == new.current_pod_hash;
        let preview = bg.preview_service.as_deref().unwrap_or("").is_empty()
            || (b.preview_selector.is_some() && b.preview_selector == new.current_pod_hash);
        completed = active && preview;
    }
    if let Some(c) = rollout.canary() {
        let steps = c.steps.as_ref().map(Vec::len).unwrap_or(0);
        let all_steps = match new.current_step_index {
            Some(i) if steps > 0 => i64::from(i) == steps as i64,
            _ => true,
        };
        completed = all_steps && rollout_completed(new) && count(new.replicas) == replicas;
    }
    let observed = rollout.status.as_ref().and_then(|s| s.observed_generation.clone());
    count(new.updated_replicas) == replicas
        && count(new.available_replicas) == replicas
        && observed == Some(rollout.metadata.generation.unwrap_or(0).to_string())
        && completed
}

/// `RolloutTimedOut`: no progress recorded for `progressDeadlineSeconds` (never during an abort or a pause).
pub fn rollout_timed_out(rollout: &Rollout, new: &RolloutStatus, now: Timestamp) -> bool {
    let Some(c) = get(new, &RolloutConditionType::Progressing) else { return false };
    if c.reason == ROLLOUT_ABORTED_REASON || c.reason == ROLLOUT_PAUSED_REASON {
        return false;
    }
    if c.reason == TIMED_OUT_REASON {
        return true;
    }
    let deadline = SignedDuration::from_secs(i64::from(defaults::progress_deadline_seconds(rollout)));
    c.last_update_time.0.checked_add(deadline).is_ok_and(|d| d < now)
}

/// What `calculateRolloutConditions` needs besides the Rollout and the new status.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub aborted: bool,
    pub abort_message: String,
    /// The Rollout's revision annotation.
    pub revision: i64,
    pub new_rs_name: Option<String>,
    /// The current step is a pause, analysis or experiment (or a blue-green pause): no deadline applies.
    pub indefinite_step: bool,
    /// An other ReplicaSet is waiting for its scale-down deadline.
    pub waiting_for_scale_down: bool,
    /// Available pods across the Rollout's ReplicaSets (canary), or whether the active one is saturated
    /// (blue-green).
    pub available: bool,
    /// The first ReplicaFailure condition of the ReplicaSets, the new one's first.
    pub replica_failure: Option<RolloutCondition>,
}

/// `calculateRolloutConditions`: Healthy, Progressing (abort, progress, deadline), Available, ReplicaFailure and
/// Completed, with the Events upstream records on the way.
pub fn calculate(rollout: &Rollout, new: &mut RolloutStatus, o: &Observed, now: Timestamp) -> Vec<Event> {
    use RolloutConditionType as T;
    let mut events = Vec::new();
    let old = rollout.status.clone().unwrap_or_default();
    let paused =
        new.pause_conditions.as_ref().is_some_and(|p| !p.is_empty()) || rollout.spec.paused.unwrap_or(false);

    let healthy = rollout_healthy(rollout, new);
    let mut became_unhealthy = false;
    if !paused && healthy {
        set(new, new_condition(T::Healthy, "True", ROLLOUT_HEALTHY_REASON, ROLLOUT_HEALTHY_MESSAGE, now));
    } else if get(&old, &T::Healthy).is_some() {
        became_unhealthy = set(
            new,
            new_condition(T::Healthy, "False", ROLLOUT_HEALTHY_REASON, ROLLOUT_NOT_HEALTHY_MESSAGE, now),
        );
    }

    if o.aborted {
        let mut message = rollout_aborted_message(o.revision);
        if !o.abort_message.is_empty() {
            message = format!("{message}: {}", o.abort_message);
        }
        if set(new, new_condition(T::Progressing, "False", ROLLOUT_ABORTED_REASON, message.clone(), now)) {
            events.push(Event::warning(ROLLOUT_ABORTED_REASON, message));
        }
    } else {
        let name = rollout.metadata.name.as_deref().unwrap_or("");
        let current = get(&old, &T::Progressing).cloned();
        if rollout_healthy(rollout, new) {
            let message = replica_set_completed_message(o.new_rs_name.as_deref().unwrap_or(""));
            set(new, new_condition(T::Progressing, "True", NEW_RS_AVAILABLE_REASON, message, now));
        } else if rollout_progressing(rollout, new) || became_unhealthy {
            let mut message = match &o.new_rs_name {
                Some(rs) => replica_set_progressing_message(rs),
                None => rollout_progressing_message(name),
            };
            let mut reason = REPLICA_SET_UPDATED_REASON;
            if rollout_completed(new) && became_unhealthy {
                reason = REPLICA_SET_NOT_AVAILABLE_REASON;
                message = NOT_AVAILABLE_MESSAGE.into();
            }
            let mut condition = new_condition(T::Progressing, "True", reason, message, now);
            // Progress refreshes lastUpdateTime even when the reason stays: the old condition is replaced.
            if let Some(c) = &current {
                if c.status == "True" {
                    condition.last_transition_time = c.last_transition_time.clone();
                }
                remove(new, &T::Progressing);
            }
            set(new, condition);
        } else if !o.indefinite_step && !o.waiting_for_scale_down && rollout_timed_out(rollout, new, now) {
            let message = match &o.new_rs_name {
                Some(rs) => replica_set_timed_out_message(rs),
                None => rollout_timed_out_message(name),
            };
            set(new, new_condition(T::Progressing, "False", TIMED_OUT_REASON, message, now));
        }
    }

    let availability = if o.available {
        new_condition(T::Available, "True", AVAILABLE_REASON, AVAILABLE_MESSAGE, now)
    } else {
        new_condition(T::Available, "False", AVAILABLE_REASON, NOT_AVAILABLE_MESSAGE, now)
    };
    set(new, availability);

    match &o.replica_failure {
        Some(c) => {
            set(new, c.clone());
        }
        None => remove(new, &T::ReplicaFailure),
    }

    if rollout_completed(new) {
        set(
            new,
            new_condition(T::Completed, "True", ROLLOUT_COMPLETED_REASON, ROLLOUT_COMPLETED_REASON, now),
        );
    } else if set(
        new,
        new_condition(T::Completed, "False", ROLLOUT_COMPLETED_REASON, ROLLOUT_COMPLETED_REASON, now),
    ) {
        let hash = new.current_pod_hash.clone().unwrap_or_default();
        events.push(Event::normal(
            ROLLOUT_NOT_COMPLETED_REASON,
            format!("Rollout not completed, started update to revision {} ({hash})", o.revision),
        ));
    }
    events
}

#[cfg(test)]
#[path = "conditions/tests.rs"]
mod tests;

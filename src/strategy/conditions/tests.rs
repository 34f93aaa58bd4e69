//! Condition transitions: which reason and message each situation gives, and the Events recorded with them.

use super::*;
use crate::api::rollout::RolloutStatus;

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

const NOW: &str = "2026-01-01T01:00:00Z";

/// A canary at its last step, fully promoted, observed, with every pod updated and available.
fn finished() -> Rollout {
    let mut ro = Rollout::canary_fixture("app");
    ro.metadata.generation = Some(2);
    ro.status = Some(RolloutStatus {
        observed_generation: Some("2".into()),
        current_step_index: Some(2),
        stable_rs: Some("h2".into()),
        current_pod_hash: Some("h2".into()),
        replicas: Some(1),
        updated_replicas: Some(1),
        available_replicas: Some(1),
        ready_replicas: Some(1),
        ..Default::default()
    });
    ro
}

fn observed() -> Observed {
    Observed { revision: 2, new_rs_name: Some("app-h2".into()), available: true, ..Default::default() }
}

fn condition_of(status: &RolloutStatus, t: RolloutConditionType) -> (String, String, String) {
    let c = get(status, &t).unwrap_or_else(|| panic!("no {t} condition in {status:#?}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

fn triple(s: &str, r: &str, m: &str) -> (String, String, String) {
    (s.into(), r.into(), m.into())
}

#[test]
fn a_finished_rollout_is_healthy_available_and_completed() {
    let ro = finished();
    let mut new = ro.status.clone().expect("status");
    let events = calculate(&ro, &mut new, &observed(), at(NOW));
    use RolloutConditionType as T;
    assert_eq!(condition_of(&new, T::Healthy), triple("True", "RolloutHealthy", "Rollout is healthy"));
    assert_eq!(
        condition_of(&new, T::Progressing),
        triple("True", "NewReplicaSetAvailable", "ReplicaSet \"app-h2\" has successfully progressed.")
    );
    assert_eq!(
        condition_of(&new, T::Available),
        triple("True", "AvailableReason", "Rollout has minimum availability")
    );
    assert_eq!(condition_of(&new, T::Completed), triple("True", "RolloutCompleted", "RolloutCompleted"));
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn progress_aborts_and_deadlines_set_progressing_as_upstream() {
    use RolloutConditionType as T;
    // A rollout in the middle of an update: revision 3 is being rolled out over stable h2.
    let mut ro = finished();
    let status = ro.status.as_mut().expect("status");
    status.current_pod_hash = Some("h3".into());
    status.current_step_index = Some(1);
    status.updated_replicas = Some(0);
    status.conditions = Some(vec![new_condition(
        T::Progressing,
        "True",
        "ReplicaSetUpdated",
        "old",
        at("2026-01-01T00:00:00Z"),
    )]);
    let mid = ro.clone();

    // Pods moved: progressing, lastUpdateTime refreshed, transition kept.
    let mut new = mid.status.clone().expect("status");
    new.updated_replicas = Some(1);
    let o = Observed { new_rs_name: Some("app-h3".into()), ..observed() };
    let events = calculate(&mid, &mut new, &o, at(NOW));
    let c = get(&new, &T::Progressing).expect("progressing").clone();
    assert_eq!(
        (c.reason.as_str(), c.message.as_str()),
        ("ReplicaSetUpdated", "ReplicaSet \"app-h3\" is progressing.")
    );
    assert_eq!((c.last_update_time.0, c.last_transition_time.0), (at(NOW), at("2026-01-01T00:00:00Z")));
    assert_eq!(
        events,
        vec![Event::normal(
            "RolloutNotCompleted",
            "Rollout not completed, started update to revision 2 (h3)"
        )]
    );

    // Nothing moved for over ten minutes: the deadline passed...
    let mut new = mid.status.clone().expect("status");
    calculate(&mid, &mut new, &o, at(NOW));
    assert_eq!(
        condition_of(&new, T::Progressing),
        triple("False", "ProgressDeadlineExceeded", "ReplicaSet \"app-h3\" has timed out progressing.")
    );
    // ...unless the current step waits indefinitely or a ReplicaSet waits for its scale-down deadline.
    for o in [
        Observed { indefinite_step: true, ..o.clone() },
        Observed { waiting_for_scale_down: true, ..o.clone() },
    ] {
        let mut new = mid.status.clone().expect("status");
        calculate(&mid, &mut new, &o, at(NOW));
        assert_eq!(condition_of(&new, T::Progressing).1, "ReplicaSetUpdated");
    }

    // Aborted: Progressing False with the abort message, once, with a Warning.
    let aborted = Observed {
        aborted: true,
        abort_message: "Step-based analysis phase error/failed".into(),
        ..o.clone()
    };
    let mut new = mid.status.clone().expect("status");
    let events = calculate(&mid, &mut new, &aborted, at(NOW));
    let message = "Rollout aborted update to revision 2: Step-based analysis phase error/failed";
    assert_eq!(condition_of(&new, T::Progressing), triple("False", "RolloutAborted", message));
    assert!(events.contains(&Event::warning("RolloutAborted", message)), "{events:?}");
    ro.status = Some(new.clone());
    let mut again = new.clone();
    let events = calculate(&ro, &mut again, &aborted, at(NOW));
    assert!(!events.iter().any(|e| e.reason == "RolloutAborted"), "recorded once: {events:?}");
}

#[test]
fn a_promoted_rollout_losing_pods_is_not_available() {
    use RolloutConditionType as T;
    let ro = {
        let mut ro = finished();
        let mut s = ro.status.clone().expect("status");
        calculate(&ro, &mut s, &observed(), at("2026-01-01T00:00:00Z"));
        ro.status = Some(s);
        ro
    };
    let mut new = ro.status.clone().expect("status");
    new.available_replicas = Some(0);
    calculate(&ro, &mut new, &Observed { available: false, ..observed() }, at(NOW));
    assert_eq!(condition_of(&new, T::Healthy), triple("False", "RolloutHealthy", "Rollout is not healthy"));
    assert_eq!(
        condition_of(&new, T::Progressing),
        triple("True", "ReplicaSetNotAvailable", "Rollout does not have minimum availability")
    );
    assert_eq!(
        condition_of(&new, T::Available),
        triple("False", "AvailableReason", "Rollout does not have minimum availability")
    );
}

#[test]
fn replica_failures_are_copied_and_removed() {
    use RolloutConditionType as T;
    let ro = finished();
    let failure =
        new_condition(T::ReplicaFailure, "True", "FailedCreate", "pods \"x\" is forbidden", at(NOW));
    let mut new = ro.status.clone().expect("status");
    calculate(&ro, &mut new, &Observed { replica_failure: Some(failure), ..observed() }, at(NOW));
    assert_eq!(condition_of(&new, T::ReplicaFailure).1, "FailedCreate");
    calculate(&ro, &mut new, &observed(), at(NOW));
    assert!(get(&new, &T::ReplicaFailure).is_none());
}

#[test]
fn set_keeps_unchanged_conditions_and_transition_times() {
    use RolloutConditionType as T;
    let mut s = RolloutStatus::default();
    let t0 = at("2026-01-01T00:00:00Z");
    assert!(set(&mut s, new_condition(T::Available, "True", "A", "first", t0)));
    assert!(set(&mut s, new_condition(T::Healthy, "True", "H", "h", t0)));
    // Same status and reason: nothing changes, not even the message.
    assert!(!set(&mut s, new_condition(T::Available, "True", "A", "second", at(NOW))));
    assert_eq!(get(&s, &T::Available).expect("c").message, "first");
    // Same status, new reason: the transition time stays, the condition moves to the end.
    assert!(set(&mut s, new_condition(T::Available, "True", "B", "third", at(NOW))));
    let c = s.conditions.as_ref().expect("conditions").last().expect("last").clone();
    assert_eq!((c.type_, c.last_transition_time.0, c.last_update_time.0), (T::Available, t0, at(NOW)));
}

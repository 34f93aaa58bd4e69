//! The phase table of argo-semantics §d.10, one row per rule, in rule order.

use super::*;
use crate::api::rollout::{BlueGreenStatus, PauseCondition, PauseReason, RolloutCondition, RolloutStrategy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn t(s: &str) -> Time {
    Time(s.parse().expect("time"))
}

fn condition(type_: RolloutConditionType, reason: &str, message: &str) -> RolloutCondition {
    RolloutCondition {
        type_,
        status: "False".into(),
        last_update_time: t("2026-01-01T00:00:00Z"),
        last_transition_time: t("2026-01-01T00:00:00Z"),
        reason: reason.into(),
        message: message.into(),
    }
}

fn healthy_canary() -> (RolloutSpec, RolloutStatus) {
    let spec = Rollout::canary_fixture("app").spec;
    let status = RolloutStatus {
        replicas: Some(1),
        updated_replicas: Some(1),
        available_replicas: Some(1),
        stable_rs: Some("abc".into()),
        current_pod_hash: Some("abc".into()),
        ..Default::default()
    };
    (spec, status)
}

#[test]
fn the_phase_is_the_first_rule_that_applies() {
    type Edit = fn(&mut RolloutSpec, &mut RolloutStatus);
    let cases: [(&str, Edit, RolloutPhase, &str); 12] = [
        ("healthy", |_, _| {}, RolloutPhase::Healthy, ""),
        (
            "invalid spec",
            |_, s| {
                s.conditions = Some(vec![condition(RolloutConditionType::InvalidSpec, "InvalidSpec", "bad")]);
            },
            RolloutPhase::Degraded,
            "InvalidSpec: bad",
        ),
        (
            "aborted",
            |_, s| {
                s.conditions = Some(vec![condition(
                    RolloutConditionType::Progressing,
                    "RolloutAborted",
                    "Rollout aborted update to revision 2",
                )]);
            },
            RolloutPhase::Degraded,
            "RolloutAborted: Rollout aborted update to revision 2",
        ),
        (
            "deadline",
            |_, s| {
                s.conditions = Some(vec![condition(
                    RolloutConditionType::Progressing,
                    "ProgressDeadlineExceeded",
                    "ReplicaSet \"x\" has timed out progressing.",
                )]);
            },
            RolloutPhase::Degraded,
            "ProgressDeadlineExceeded: ReplicaSet \"x\" has timed out progressing.",
        ),
        ("manually paused", |sp, _| sp.paused = Some(true), RolloutPhase::Paused, "manually paused"),
        (
            "pause step",
            |_, s| {
                s.pause_conditions = Some(vec![PauseCondition {
                    reason: PauseReason::CanaryPauseStep,
                    start_time: t("2026-01-01T00:00:00Z"),
                }]);
            },
            RolloutPhase::Paused,
            "CanaryPauseStep",
        ),
        (
            "restarting",
            |sp, _| sp.restart_at = Some(t("2026-01-01T00:00:00Z")),
            RolloutPhase::Progressing,
            "rollout is restarting",
        ),
        (
            "restarted",
            |sp, s| {
                sp.restart_at = Some(t("2026-01-01T00:00:00Z"));
                s.restarted_at = Some(t("2026-01-01T00:00:00Z"));
            },
            RolloutPhase::Healthy,
            "",
        ),
        (
            "updating",
            |sp, _| sp.replicas = Some(3),
            RolloutPhase::Progressing,
            "more replicas need to be updated",
        ),
        (
            "becoming available",
            |_, s| s.available_replicas = Some(0),
            RolloutPhase::Progressing,
            "updated replicas are still becoming available",
        ),
        (
            "old pods",
            |_, s| s.replicas = Some(2),
            RolloutPhase::Progressing,
            "old replicas are pending termination",
        ),
        (
            "steps",
            |_, s| s.stable_rs = Some("old".into()),
            RolloutPhase::Progressing,
            "waiting for all steps to complete",
        ),
    ];
    for (name, edit, phase, message) in cases {
        let (mut spec, mut status) = healthy_canary();
        edit(&mut spec, &mut status);
        assert_eq!(calculate(&spec, &status), (phase, message.to_string()), "{name}");
    }
}

#[test]
fn blue_green_waits_for_the_cutover_and_post_promotion() {
    let (mut spec, mut status) = healthy_canary();
    spec.strategy = Rollout::blue_green_fixture("app").spec.strategy;
    assert_eq!(calculate(&spec, &status).1, "active service cutover pending");
    status.blue_green = Some(BlueGreenStatus { active_selector: Some("abc".into()), ..Default::default() });
    assert_eq!(calculate(&spec, &status).0, RolloutPhase::Healthy);
    status.stable_rs = Some("old".into());
    assert_eq!(calculate(&spec, &status).1, "waiting for post-promotion verification to complete");
    let bg = spec.strategy.as_mut().and_then(|s| s.blue_green.as_mut()).expect("bg");
    bg.post_promotion_analysis = Some(Default::default());
    assert_eq!(calculate(&spec, &status).1, "waiting for analysis to complete");
    let _ = RolloutStrategy::default();
}

#[test]
fn clients_see_unobserved_changes_and_pending_resumes_as_progressing() {
    let mut ro = Rollout::canary_fixture("app");
    ro.metadata.generation = Some(3);
    ro.status = Some(RolloutStatus {
        observed_generation: Some("2".into()),
        phase: Some(RolloutPhase::Healthy),
        ..Default::default()
    });
    assert_eq!(observed(&ro).1, "waiting for rollout spec update to be observed");
    ro.status.as_mut().expect("status").observed_generation = Some("not-a-number".into());
    assert_eq!(observed(&ro).0, RolloutPhase::Healthy);
    ro.status.as_mut().expect("status").controller_pause = Some(true);
    assert_eq!(observed(&ro).1, "waiting for rollout to unpause");
}

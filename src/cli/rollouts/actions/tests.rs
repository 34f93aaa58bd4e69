//! The patches of upstream's plugin verbs, case by case (after `promote_test.go`, `undo_test.go`,
//! `set_test.go`).

use super::*;
use crate::api::rollout::{
    CanaryStatus, PauseCondition, PauseReason, RolloutAnalysisRunStatus, RolloutStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

fn canary(steps: usize, index: Option<i32>) -> Rollout {
    let mut ro = Rollout::canary_fixture("guestbook");
    let c = ro.spec.strategy.as_mut().and_then(|s| s.canary.as_mut()).expect("canary");
    c.steps = Some(
        (0..steps)
            .map(|_| crate::api::rollout::CanaryStep { set_weight: Some(10), ..Default::default() })
            .collect(),
    );
    ro.status = Some(RolloutStatus { current_step_index: index, ..Default::default() });
    ro
}

fn paused_by_controller(ro: &mut Rollout, reason: PauseReason) {
    let s = ro.status.get_or_insert_with(Default::default);
    s.pause_conditions = Some(vec![PauseCondition { reason, start_time: Time(jiff::Timestamp::UNIX_EPOCH) }]);
    s.controller_pause = Some(true);
}

#[test]
fn promote_patches_follow_upstream() {
    // A canary at a step with no pause: on to the next step.
    let p = promote(&canary(2, Some(0)), false);
    assert_eq!(p.spec, None);
    assert_eq!(p.status, Some(json!({"status": {"pauseConditions": null, "currentStepIndex": 1}})));
    assert_eq!(
        p.unified,
        json!({"spec": {"paused": false}, "status": {"pauseConditions": null, "currentStepIndex": 1}})
    );
    // Not past the last step.
    assert_eq!(
        promote(&canary(2, Some(2)), false).status,
        Some(json!({"status": {"pauseConditions": null, "currentStepIndex": 2}}))
    );
    // Paused by the controller: the pause conditions cleared only (the controller completes the step).
    let mut ro = canary(2, Some(1));
    paused_by_controller(&mut ro, PauseReason::CanaryPauseStep);
    assert_eq!(promote(&ro, false).status, Some(json!({"status": {"pauseConditions": null}})));
    // Paused by the user: unpaused too.
    ro.spec.paused = Some(true);
    assert_eq!(promote(&ro, false).spec, Some(json!({"spec": {"paused": false}})));
    // Paused for an inconclusive step analysis: past that step, the controller's pause released.
    let mut ro = canary(3, Some(1));
    paused_by_controller(&mut ro, PauseReason::InconclusiveAnalysisRun);
    ro.status.as_mut().expect("status").canary = Some(CanaryStatus {
        current_step_analysis_run_status: Some(RolloutAnalysisRunStatus {
            name: "run".into(),
            status: AnalysisPhase::Inconclusive,
            message: None,
        }),
        ..Default::default()
    });
    assert_eq!(
        promote(&ro, false).status,
        Some(json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": 2}}))
    );
    // A canary without steps, or blue-green without a pause: nothing for the status.
    assert_eq!(promote(&canary(0, None), false).status, None);
    let bg = Rollout::blue_green_fixture("bg");
    assert_eq!(promote(&bg, false).status, None);
    let mut bg = bg;
    paused_by_controller(&mut bg, PauseReason::BlueGreenPause);
    assert_eq!(promote(&bg, false).status, Some(json!({"status": {"pauseConditions": null}})));
}

#[test]
fn full_promotion_is_asked_for_only_while_an_update_is_in_flight() {
    let mut ro = canary(2, Some(0));
    let s = ro.status.get_or_insert_with(Default::default);
    (s.current_pod_hash, s.stable_rs) = (Some("new".into()), Some("old".into()));
    let p = promote(&ro, true);
    assert_eq!((p.spec, p.status), (None, Some(json!({"status": {"promoteFull": true}}))));
    ro.spec.paused = Some(true);
    assert_eq!(promote(&ro, true).spec, Some(json!({"spec": {"paused": false}})));
    // Already fully promoted: nothing to ask.
    ro.status.as_mut().expect("status").stable_rs = Some("new".into());
    assert_eq!(promote(&ro, true).status, None);
}

#[test]
fn simple_verbs_write_what_upstream_writes() {
    assert_eq!(abort(), json!({"status": {"abort": true}}));
    assert_eq!(retry(), json!({"status": {"abort": false}}));
    assert_eq!(pause(), json!({"spec": {"paused": true}}));
    let at: jiff::Timestamp = "2026-12-01T10:00:00.750Z".parse().unwrap();
    assert_eq!(restart(at), json!({"spec": {"restartAt": "2026-12-01T10:00:00Z"}}));
}

#[test]
fn set_image_edits_named_containers_of_every_kind() {
    let mut obj = json!({"spec": {"template": {"spec": {
        "initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [{"name": "app", "image": "app:1"}, {"name": "side", "image": "envoy:1"}],
    }}}});
    set_image(&mut obj, "app", "app:2").expect("app");
    assert_eq!(obj.pointer("/spec/template/spec/containers/0/image"), Some(&json!("app:2")));
    assert_eq!(obj.pointer("/spec/template/spec/containers/1/image"), Some(&json!("envoy:1")));
    set_image(&mut obj, "*", "all:3").expect("star");
    assert_eq!(obj.pointer("/spec/template/spec/initContainers/0/image"), Some(&json!("all:3")));
    assert_eq!(set_image(&mut obj, "nope", "x").unwrap_err(), "unable to find container named \"nope\"");
}

fn rs(revision: &str, image: &str) -> ReplicaSet {
    let template = json!({"metadata": {"labels": {"app": "guestbook", POD_TEMPLATE_HASH_LABEL: format!("h{revision}")}},
                          "spec": {"containers": [{"name": "app", "image": image}]}});
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("guestbook-h{revision}")),
            annotations: Some([(REVISION_ANNOTATION.to_string(), revision.to_string())].into()),
            ..Default::default()
        },
        spec: k8s_openapi::api::apps::v1::ReplicaSetSpec {
            template: Some(serde_json::from_value(template).expect("template")),
            ..Default::default()
        },
        status: None,
    }
}

#[test]
fn undo_picks_the_revision_before_the_latest_or_the_one_named() {
    let rss = [rs("1", "app:1"), rs("3", "app:3"), rs("2", "app:2"), rs("x", "bad")];
    assert_eq!(
        undo_target("guestbook", &rss, 0).expect("previous").metadata.name.as_deref(),
        Some("guestbook-h2")
    );
    assert_eq!(
        undo_target("guestbook", &rss, 1).expect("one").metadata.name.as_deref(),
        Some("guestbook-h1")
    );
    assert_eq!(
        undo_target("guestbook", &rss, 9).unwrap_err(),
        "unable to find specified revision 9 in history"
    );
    assert_eq!(
        undo_target("guestbook", &rss[..1], 0).unwrap_err(),
        "no revision found for rollout \"guestbook\""
    );
    // The template written has no hash label; the same template is skipped.
    let t = undo_template(None, &rss[2]).expect("template").expect("differs");
    assert_eq!(t.pointer("/metadata/labels"), Some(&json!({"app": "guestbook"})));
    assert_eq!(undo_template(Some(&t), &rss[2]).expect("same"), None);
}

//! Tables of cases for the blue-green decisions. `preview_replica_counts_follow_upstream` restates upstream's
//! `TestNewRSNewReplicasWitPreviewReplicaCount` (`utils/replicaset/replicaset_test.go`) as data; the pause cases
//! include `TestCompletedBlueGreenPause` and `…AutoPromotionDisabled` (`rollout/pause_test.go`).

use super::*;
use crate::api::rollout::{BlueGreenStatus, PauseCondition};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeMap;

fn now() -> Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

fn rollout(replicas: i32, preview: Option<i32>) -> Rollout {
    let mut ro = Rollout::blue_green_fixture("app");
    ro.spec.replicas = Some(replicas);
    bg(&mut ro).preview_replica_count = preview;
    ro.status = Some(RolloutStatus::default());
    ro
}

fn bg(ro: &mut Rollout) -> &mut BlueGreenStrategy {
    ro.spec.strategy.as_mut().and_then(|s| s.blue_green.as_mut()).expect("blue-green")
}

fn st(ro: &mut Rollout) -> &mut RolloutStatus {
    ro.status.get_or_insert_with(Default::default)
}

fn bg_status(ro: &mut Rollout) -> &mut BlueGreenStatus {
    st(ro).blue_green.get_or_insert_with(Default::default)
}

fn rs(hash: &str, spec: i32, available: i32, annotations: &[(&str, &str)]) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("app-{hash}")),
            labels: Some([(rsutil::POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string())].into()),
            annotations: Some(
                annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        },
        spec: ReplicaSetSpec { replicas: Some(spec), ..Default::default() },
        status: Some(ReplicaSetStatus { available_replicas: Some(available), ..Default::default() }),
    }
}

/// `foo` is the new ReplicaSet, `bar` another.
fn sets(new_spec: i32, new_available: i32, desired: i32) -> ReplicaSets {
    let d = desired.to_string();
    ReplicaSets {
        all: vec![
            rs("foo", new_spec, new_available, &[(rsutil::DESIRED_REPLICAS_ANNOTATION, &d)]),
            rs("bar", 10, 10, &[(rsutil::DESIRED_REPLICAS_ANNOTATION, &d)]),
        ],
        new: Some(0),
        stable: Some(1),
    }
}

#[test]
fn preview_replica_counts_follow_upstream() {
    // (case, active selector, current pod hash, scale-up checkpoint, promote full, expected)
    let cases: &[(&str, &str, &str, bool, bool, i32)] = &[
        ("no active ReplicaSet is set", "", "foo", false, false, 10),
        ("the active ReplicaSet is the new one", "foo", "foo", false, false, 10),
        ("the recorded current pod hash does not match", "bar", "baz", true, false, 1),
        ("unpaused and past the checkpoint", "bar", "foo", true, false, 10),
        ("previewing", "bar", "foo", false, false, 1),
        ("full promotion ignores the preview count", "bar", "foo", false, true, 10),
    ];
    for (case, active, current, checkpoint, full, want) in cases {
        let mut ro = rollout(10, Some(1));
        bg_status(&mut ro).active_selector = Some(active.to_string());
        bg_status(&mut ro).scale_up_preview_check_point = Some(*checkpoint);
        st(&mut ro).current_pod_hash = Some(current.to_string());
        st(&mut ro).promote_full = Some(*full);
        assert_eq!(new_rs_replicas(&ro, &sets(0, 0, 10)), *want, "{case}");
    }
    // Paused past the checkpoint: still the preview count until resumed.
    let mut ro = rollout(10, Some(1));
    bg_status(&mut ro).active_selector = Some("bar".into());
    bg_status(&mut ro).scale_up_preview_check_point = Some(true);
    st(&mut ro).current_pod_hash = Some("foo".into());
    ro.spec.paused = Some(true);
    assert_eq!(new_rs_replicas(&ro, &sets(0, 0, 10)), 1);
    // Without previewReplicaCount, always spec.replicas.
    let mut ro = rollout(10, None);
    bg_status(&mut ro).active_selector = Some("bar".into());
    assert_eq!(new_rs_replicas(&ro, &sets(0, 0, 10)), 10);
}

#[test]
fn readiness_and_saturation() {
    let mut ro = rollout(3, None);
    bg_status(&mut ro).active_selector = Some("bar".into());
    st(&mut ro).current_pod_hash = Some("foo".into());
    // (new spec, new available, desired annotation, ready for pause, saturated)
    for (spec, avail, desired, ready, saturated) in
        [(3, 3, 3, true, true), (3, 2, 3, false, false), (2, 2, 2, false, false), (3, 3, 2, true, false)]
    {
        let rss = sets(spec, avail, desired);
        assert_eq!(ready_for_pause(&ro, &rss), ready, "{spec}/{avail}/{desired}");
        assert_eq!(is_saturated(&ro, rss.new_rs()), saturated, "{spec}/{avail}/{desired}");
    }
    // With a preview count, ready at the preview size.
    let mut ro = rollout(3, Some(1));
    bg_status(&mut ro).active_selector = Some("bar".into());
    st(&mut ro).current_pod_hash = Some("foo".into());
    assert!(ready_for_pause(&ro, &sets(1, 1, 3)));
    assert!(!ready_for_pause(&ro, &sets(3, 3, 3)));
}

fn paused_since(ro: &mut Rollout, seconds_ago: i64) {
    let since = now().checked_sub(SignedDuration::from_secs(seconds_ago)).unwrap();
    st(ro).pause_conditions =
        Some(vec![PauseCondition { reason: PauseReason::BlueGreenPause, start_time: Time(since) }]);
    st(ro).controller_pause = Some(true);
}

#[test]
fn the_pause_ends_as_upstream_decides() {
    // (case, autoPromotionEnabled, autoPromotionSeconds, paused since (s ago), controllerPause, checkpoint,
    //  added a pause this reconcile, completed)
    type Case = (&'static str, Option<bool>, Option<i32>, Option<i64>, bool, bool, bool, bool);
    let cases: &[Case] = &[
        ("automatic without delay", None, None, None, false, false, false, true),
        ("a pause added in this reconcile is not over", None, None, None, false, false, true, false),
        ("automatic after a delay, not yet", None, Some(30), Some(10), true, false, false, false),
        ("automatic after a delay, passed", None, Some(30), Some(31), true, false, false, true),
        ("automatic after a delay, never paused", None, Some(30), None, false, false, false, false),
        ("manual, still paused", Some(false), None, Some(100), true, false, false, false),
        ("manual, promoted (condition removed)", Some(false), None, None, true, false, false, true),
        ("manual, never paused", Some(false), None, None, false, false, false, false),
        ("upstream: past the checkpoint", None, None, Some(0), true, true, false, true),
        ("upstream: manual, checkpoint not passed", Some(false), None, Some(0), true, false, false, false),
        ("manual with seconds set: manual wins", Some(false), Some(5), Some(100), true, false, false, false),
    ];
    for (case, enabled, seconds, since, controller_pause, checkpoint, added, want) in cases {
        let mut ro = rollout(3, None);
        bg(&mut ro).auto_promotion_enabled = *enabled;
        bg(&mut ro).auto_promotion_seconds = *seconds;
        if let Some(ago) = since {
            paused_since(&mut ro, *ago);
        }
        st(&mut ro).controller_pause = Some(*controller_pause);
        bg_status(&mut ro).scale_up_preview_check_point = Some(*checkpoint);
        assert_eq!(completed_pause(&ro, *added, now()), *want, "{case}");
    }
    assert!(!needs_controller_pause(&rollout(1, None)));
    let mut ro = rollout(1, None);
    bg(&mut ro).auto_promotion_seconds = Some(5);
    assert!(needs_controller_pause(&ro));
    paused_since(&mut ro, 2);
    assert_eq!(auto_promotion_at(&ro), Some(now().checked_add(SignedDuration::from_secs(3)).unwrap()));
    bg(&mut ro).auto_promotion_enabled = Some(false);
    assert!(needs_controller_pause(&ro));
    assert_eq!(auto_promotion_at(&ro), None);
}

#[test]
fn promotion_analyses_run_between_preview_and_switch_and_after_it() {
    // (case, stable, active, new spec/available/desired, has a run, preview count, skip pre, skip post)
    type Case = (&'static str, &'static str, &'static str, (i32, i32, i32), bool, Option<i32>, bool, bool);
    let cases: &[Case] = &[
        ("initial deploy", "", "", (3, 3, 3), false, None, true, true),
        ("saturated preview", "bar", "bar", (3, 3, 3), false, None, false, true),
        ("preview not saturated", "bar", "bar", (3, 2, 3), false, None, true, true),
        ("a started run keeps going", "bar", "bar", (3, 2, 3), true, None, false, true),
        ("at the preview count", "bar", "bar", (1, 1, 3), false, Some(1), false, true),
        ("not at the preview count", "bar", "bar", (3, 3, 3), false, Some(1), true, true),
        ("switched, saturated", "bar", "foo", (3, 3, 3), false, None, true, false),
        ("switched, not saturated", "bar", "foo", (3, 1, 3), false, None, true, true),
        ("switched, a started run", "bar", "foo", (3, 1, 3), true, None, true, false),
        ("promoted", "foo", "foo", (3, 3, 3), true, None, true, true),
    ];
    for (case, stable, active, (spec, avail, desired), has_run, preview, pre, post) in cases {
        let mut ro = rollout(3, *preview);
        st(&mut ro).stable_rs = Some(stable.to_string());
        bg_status(&mut ro).active_selector = Some(active.to_string());
        let rss = sets(*spec, *avail, *desired);
        assert_eq!(skip_pre_promotion(&ro, &rss, *has_run), *pre, "{case}: pre");
        assert_eq!(skip_post_promotion(&ro, &rss, *has_run), *post, "{case}: post");
    }
}

#[test]
fn old_replica_sets_wait_out_their_delay_within_the_revision_limit() {
    let deadline = |secs: i64| now().checked_add(SignedDuration::from_secs(secs)).unwrap().to_string();
    let future = deadline(20);
    let past = deadline(-1);
    let mut ro = rollout(3, None);
    // (case, spec, deadline, limit, annotated before, delay seconds, expected, annotated after)
    type Case<'a> = (&'a str, i32, Option<&'a str>, Option<i32>, i32, Option<i32>, Delay, i32);
    let cases: &[Case] = &[
        ("no deadline yet", 3, None, None, 0, None, Delay::Annotate { seconds: 30, keep: 3 }, 1),
        (
            "no deadline, configured delay",
            2,
            None,
            None,
            0,
            Some(90),
            Delay::Annotate { seconds: 90, keep: 2 },
            1,
        ),
        ("no deadline, beyond the limit", 3, None, Some(1), 1, None, Delay::Scale(0), 1),
        (
            "within the deadline: back to full size",
            1,
            Some(&future),
            None,
            0,
            None,
            Delay::Keep { replicas: 3, left: Some(SignedDuration::from_secs(20)) },
            1,
        ),
        ("deadline passed", 3, Some(&past), None, 0, None, Delay::Scale(0), 1),
        ("within the deadline, beyond the limit", 3, Some(&future), Some(1), 1, None, Delay::Scale(0), 2),
        ("unreadable deadline", 3, Some("soon"), None, 0, None, Delay::Scale(0), 1),
        ("a zero delay scales down at once", 3, None, None, 0, Some(0), Delay::Scale(0), 0),
    ];
    for (case, spec, at, limit, before, seconds, want, after) in cases {
        bg(&mut ro).scale_down_delay_revision_limit = *limit;
        bg(&mut ro).scale_down_delay_seconds = *seconds;
        let annotations: Vec<(&str, &str)> =
            at.iter().map(|a| (rsutil::SCALE_DOWN_DEADLINE_ANNOTATION, *a)).collect();
        let old = rs("old", *spec, *spec, &annotations);
        let mut annotated = *before;
        assert_eq!(scale_down_delay(&ro, &old, &mut annotated, now()), *want, "{case}");
        assert_eq!(annotated, *after, "{case}: annotated");
    }
    // A basic canary keeps nothing; a traffic-routed one waits 30 s by default.
    let canary = Rollout::canary_fixture("c");
    assert_eq!(scale_down_delay_seconds(&canary), 0);
    assert_eq!(scale_down_revision_limit(&canary), i32::MAX);
}

//! Tables of cases for the canary replica math. The cases of `replica_counts_follow_upstream` and
//! `weights_are_approximated_as_upstream_does` are upstream's own (`utils/replicaset/canary_test.go`,
//! `TestCalculateReplicaCountsForCanary` and `TestApproximateWeightedNewStableReplicaCounts`), restated as data.

use super::*;
use crate::api::rollout::{CanaryStrategy, RolloutSpec, RolloutStatus, RolloutStrategy, WeightDestination};
use crate::api::traffic::RolloutTrafficRouting;
use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

#[allow(non_snake_case)]
fn I(v: i32) -> IntOrString {
    IntOrString::Int(v)
}

#[allow(non_snake_case)]
fn S(v: &str) -> IntOrString {
    IntOrString::String(v.into())
}

/// A Rollout as upstream's `newRollout` builds it: one step with `setWeight` (and `setCanaryScale`), status
/// hashes `canary` (current) and `stable`.
fn rollout(replicas: i32, weight: i32, surge: IntOrString, unavailable: IntOrString) -> Rollout {
    Rollout {
        metadata: ObjectMeta { name: Some("r".into()), ..Default::default() },
        spec: RolloutSpec {
            replicas: Some(replicas),
            strategy: Some(RolloutStrategy {
                canary: Some(CanaryStrategy {
                    max_surge: Some(surge),
                    max_unavailable: Some(unavailable),
                    steps: Some(vec![CanaryStep { set_weight: Some(weight), ..Default::default() }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        status: Some(RolloutStatus {
            stable_rs: Some("stable".into()),
            current_pod_hash: Some("canary".into()),
            ..Default::default()
        }),
    }
}

fn canary_mut(ro: &mut Rollout) -> &mut CanaryStrategy {
    ro.spec.strategy.as_mut().and_then(|s| s.canary.as_mut()).expect("canary")
}

fn rs(name: &str, spec: i32, available: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                [(super::super::replicaset::POD_TEMPLATE_HASH_LABEL.to_string(), name.to_string())].into(),
            ),
            ..Default::default()
        },
        spec: ReplicaSetSpec { replicas: Some(spec), ..Default::default() },
        status: Some(ReplicaSetStatus { available_replicas: Some(available), ..Default::default() }),
    }
}

struct Case {
    replicas: i32,
    weight: i32,
    surge: IntOrString,
    unavailable: IntOrString,
    promote_full: bool,
    abort: bool,
    abort_delay: Option<i32>,
    stable: (i32, i32),
    canary: (i32, i32),
    older: Option<(i32, i32)>,
    /// setCanaryScale (replicas, weight, matchTrafficWeight) in the same step.
    scs: Option<(Option<i32>, Option<i32>, bool)>,
    min_pods: Option<i32>,
    routed: bool,
    /// (canary, stable)
    expect: (i32, i32),
}

#[rustfmt::skip]
fn cases() -> Vec<Case> { vec![
    Case { replicas: 10, weight: 100, surge: I(3), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (7, 8), canary: (6, 3), older: None, scs: None, min_pods: None, routed: false, expect: (6, 7) },
    Case { replicas: 10, weight: 20, surge: I(2), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (2, 10) },
    Case { replicas: 10, weight: 20, surge: S("20%"), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (2, 10) },
    Case { replicas: 10, weight: 20, surge: S("20%"), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (2, 2), older: None, scs: None, min_pods: None, routed: false, expect: (2, 8) },
    Case { replicas: 10, weight: 30, surge: I(2), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (2, 10) },
    Case { replicas: 10, weight: 20, surge: I(0), unavailable: I(2), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (0, 8) },
    Case { replicas: 10, weight: 20, surge: I(0), unavailable: S("20%"), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (0, 8) },
    Case { replicas: 10, weight: 30, surge: I(0), unavailable: I(2), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (0, 8) },
    Case { replicas: 10, weight: 50, surge: I(2), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (2, 9) },
    Case { replicas: 10, weight: 0, surge: I(1), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (1, 1), older: None, scs: None, min_pods: None, routed: false, expect: (0, 10) },
    Case { replicas: 10, weight: 100, surge: I(1), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (10, 10), older: None, scs: None, min_pods: None, routed: false, expect: (10, 0) },
    Case { replicas: 1, weight: 20, surge: I(1), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (1, 1) },
    Case { replicas: 1, weight: 90, surge: I(1), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (1, 1) },
    Case { replicas: 1, weight: 49, surge: I(0), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (0, 1) },
    Case { replicas: 1, weight: 51, surge: I(0), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (0, 0) },
    Case { replicas: 1, weight: 51, surge: I(0), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (0, 0), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (1, 0) },
    Case { replicas: 10, weight: 30, surge: I(1), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (0, 0), older: Some((3, 3)), scs: None, min_pods: None, routed: false, expect: (1, 7) },
    Case { replicas: 10, weight: 30, surge: I(0), unavailable: I(3), promote_full: false, abort: false, abort_delay: None, stable: (8, 5), canary: (4, 4), older: None, scs: None, min_pods: None, routed: false, expect: (3, 7) },
    Case { replicas: 10, weight: 100, surge: I(1), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (10, 2), canary: (10, 8), older: None, scs: None, min_pods: None, routed: false, expect: (9, 2) },
    Case { replicas: 10, weight: 30, surge: I(0), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (8, 6), canary: (4, 2), older: Some((3, 3)), scs: None, min_pods: None, routed: false, expect: (4, 8) },
    Case { replicas: 10, weight: 5, surge: I(0), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (0, 9) },
    Case { replicas: 10, weight: 5, surge: I(0), unavailable: I(1), promote_full: false, abort: false, abort_delay: None, stable: (9, 9), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (1, 9) },
    Case { replicas: 10, weight: 10, surge: S("0%"), unavailable: S("0%"), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (0, 9) },
    Case { replicas: 1, weight: 100, surge: I(0), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (0, 0), older: None, scs: Some((Some(9), None, false)), min_pods: None, routed: true, expect: (9, 1) },
    Case { replicas: 4, weight: 100, surge: I(0), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (4, 4), canary: (0, 0), older: None, scs: Some((None, Some(200), false)), min_pods: None, routed: true, expect: (8, 4) },
    Case { replicas: 10, weight: 20, surge: S("20%"), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: Some((Some(9), Some(100), true)), min_pods: None, routed: true, expect: (2, 10) },
    Case { replicas: 10, weight: 20, surge: S("20%"), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: Some((Some(9), Some(100), false)), min_pods: None, routed: false, expect: (2, 10) },
    Case { replicas: 4, weight: 100, surge: I(1), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (4, 1), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (1, 4) },
    Case { replicas: 3, weight: 99, surge: I(0), unavailable: I(2), promote_full: false, abort: false, abort_delay: None, stable: (3, 3), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (0, 1) },
    Case { replicas: 3, weight: 99, surge: I(0), unavailable: I(2), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (2, 1) },
    Case { replicas: 4, weight: 0, surge: I(1), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (0, 0), canary: (4, 4), older: None, scs: None, min_pods: None, routed: false, expect: (4, 1) },
    Case { replicas: 4, weight: 0, surge: I(1), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (1, 0), canary: (4, 4), older: None, scs: None, min_pods: None, routed: false, expect: (4, 1) },
    Case { replicas: 4, weight: 0, surge: I(1), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (1, 1), canary: (4, 4), older: None, scs: None, min_pods: None, routed: false, expect: (3, 1) },
    Case { replicas: 4, weight: 1, surge: I(4), unavailable: I(4), promote_full: true, abort: false, abort_delay: None, stable: (4, 4), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (4, 0) },
    Case { replicas: 4, weight: 1, surge: I(3), unavailable: I(0), promote_full: true, abort: false, abort_delay: None, stable: (4, 4), canary: (0, 0), older: None, scs: None, min_pods: None, routed: false, expect: (3, 4) },
    Case { replicas: 1, weight: 0, surge: I(0), unavailable: I(0), promote_full: false, abort: true, abort_delay: Some(0), stable: (1, 1), canary: (1, 1), older: None, scs: Some((Some(1), None, false)), min_pods: None, routed: true, expect: (1, 1) },
    Case { replicas: 1, weight: 0, surge: I(0), unavailable: I(0), promote_full: false, abort: true, abort_delay: Some(30), stable: (1, 1), canary: (1, 1), older: None, scs: Some((Some(1), None, false)), min_pods: None, routed: true, expect: (0, 1) },
    Case { replicas: 10, weight: 5, surge: I(0), unavailable: I(0), promote_full: false, abort: false, abort_delay: None, stable: (10, 10), canary: (0, 0), older: None, scs: None, min_pods: Some(2), routed: true, expect: (2, 10) },
    Case { replicas: 1, weight: 100, surge: I(0), unavailable: I(0), promote_full: true, abort: false, abort_delay: None, stable: (1, 1), canary: (0, 0), older: None, scs: None, min_pods: Some(2), routed: true, expect: (1, 1) },
]}

#[test]
fn replica_counts_follow_upstream() {
    let cases = cases();
    assert_eq!(cases.len(), 39);
    for (i, c) in cases.into_iter().enumerate() {
        let mut ro = rollout(c.replicas, c.weight, c.surge, c.unavailable);
        let status = ro.status.as_mut().expect("status");
        status.promote_full = Some(c.promote_full);
        status.abort = Some(c.abort);
        let canary = canary_mut(&mut ro);
        canary.abort_scale_down_delay_seconds = c.abort_delay;
        canary.min_pods_per_replica_set = c.min_pods;
        if let Some((replicas, weight, match_traffic_weight)) = c.scs {
            canary.steps.as_mut().expect("steps")[0].set_canary_scale =
                Some(SetCanaryScale { replicas, weight, match_traffic_weight: Some(match_traffic_weight) });
        }
        let got = if c.routed {
            canary.traffic_routing = Some(RolloutTrafficRouting::default());
            traffic_routed_counts(&ro, None, None, None)
        } else {
            let stable = rs("stable", c.stable.0, c.stable.1);
            let new = rs("canary", c.canary.0, c.canary.1);
            let older = c.older.map(|(s, a)| rs("older", s, a));
            let others: Vec<&ReplicaSet> = older.iter().collect();
            basic_canary_counts(&ro, Some(&new), Some(&stable), &others)
        };
        assert_eq!(got, c.expect, "case #{i}: (canary, stable)");
    }
}

#[test]
fn weights_are_approximated_as_upstream_does() {
    #[rustfmt::skip]
    let cases = [
        (0, 0, 100, 0, (0, 0)),
        (0, 50, 100, 0, (0, 0)),
        (0, 100, 100, 0, (0, 0)),
        (0, 0, 100, 1, (0, 0)),
        (0, 50, 100, 1, (0, 0)),
        (0, 100, 100, 1, (0, 0)),
        (1, 0, 100, 0, (0, 1)),
        (1, 1, 100, 0, (0, 1)),
        (1, 49, 100, 0, (0, 1)),
        (1, 50, 100, 0, (1, 0)),
        (1, 99, 100, 0, (1, 0)),
        (1, 100, 100, 0, (1, 0)),
        (1, 0, 100, 1, (0, 1)),
        (1, 1, 100, 1, (1, 1)),
        (1, 49, 100, 1, (1, 1)),
        (1, 50, 100, 1, (1, 1)),
        (1, 99, 100, 1, (1, 1)),
        (1, 100, 100, 1, (1, 0)),
        (2, 0, 100, 0, (0, 2)),
        (2, 1, 100, 0, (1, 1)),
        (2, 50, 100, 0, (1, 1)),
        (2, 99, 100, 0, (1, 1)),
        (2, 100, 100, 0, (2, 0)),
        (2, 0, 100, 1, (0, 2)),
        (2, 1, 100, 1, (1, 2)),
        (2, 50, 100, 1, (1, 1)),
        (2, 99, 100, 1, (2, 1)),
        (2, 100, 100, 1, (2, 0)),
        (3, 10, 100, 0, (1, 2)),
        (3, 25, 100, 0, (1, 2)),
        (3, 33, 100, 0, (1, 2)),
        (3, 34, 100, 0, (1, 2)),
        (3, 49, 100, 0, (1, 2)),
        (3, 50, 100, 0, (2, 1)),
        (3, 10, 100, 1, (1, 3)),
        (3, 25, 100, 1, (1, 3)),
        (3, 33, 100, 1, (1, 2)),
        (3, 34, 100, 1, (1, 2)),
        (3, 49, 100, 1, (2, 2)),
        (3, 50, 100, 1, (2, 2)),
        (10, 0, 100, 1, (0, 10)),
        (10, 1, 100, 0, (1, 9)),
        (10, 14, 100, 0, (1, 9)),
        (10, 15, 100, 0, (2, 8)),
        (10, 16, 100, 0, (2, 8)),
        (10, 99, 100, 0, (9, 1)),
        (10, 100, 100, 1, (10, 0)),
        (10, 0, 100, 1, (0, 10)),
        (10, 1, 100, 1, (1, 10)),
        (10, 18, 100, 1, (2, 9)),
        (10, 19, 100, 1, (2, 9)),
        (10, 20, 100, 1, (2, 8)),
        (10, 23, 100, 1, (2, 8)),
        (10, 24, 100, 1, (3, 8)),
        (10, 25, 100, 1, (3, 8)),
        (10, 99, 100, 1, (10, 1)),
        (10, 100, 100, 1, (10, 0)),
    ];
    for (replicas, weight, max_weight, surge, expected) in cases {
        assert_eq!(
            approximate_weighted_counts(replicas, weight, max_weight, surge),
            expected,
            "replicas {replicas}, weight {weight}/{max_weight}, surge {surge}"
        );
    }
}

#[test]
fn without_a_separate_stable_the_new_replica_set_goes_to_full_size() {
    let ro = rollout(10, 10, I(0), I(1));
    let new = rs("stable", 9, 9);
    assert_eq!(basic_canary_counts(&ro, Some(&new), None, &[]), (10, 0));
    assert_eq!(basic_canary_counts(&ro, Some(&new), Some(&new), &[]), (10, 0));
    let stable = rs("stable", 10, 0);
    let same_name = rs("stable", 10, 0);
    assert_eq!(basic_canary_counts(&ro, Some(&same_name), Some(&stable), &[]), (10, 0));
}

/// (replicas, setWeight, abort, extra steps, (canary weight, stable weight), canary rs, stable rs (spec, avail),
/// expected (canary, stable)).
type DynamicScaleCase = (i32, i32, bool, &'static [i32], (i32, i32), i32, (i32, i32), (i32, i32));

#[test]
fn dynamic_stable_scale_follows_the_recorded_weights() {
    // (replicas, setWeight, abort, extra steps, (canary weight, stable weight), canary rs, stable rs (spec, avail),
    //  expected (canary, stable)); upstream's TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale.
    #[rustfmt::skip]
    let cases: [DynamicScaleCase; 8] = [
        (10, 20, true, &[60], (60, 40), 6, (4, 4), (6, 8)),
        (10, 20, true, &[60], (60, 40), 1, (4, 4), (6, 8)),
        (10, 20, true, &[60], (60, 40), 2, (8, 4), (6, 8)),
        (10, 20, true, &[60], (60, 40), 0, (0, 0), (6, 10)),
        (10, 10, false, &[], (10, 90), 0, (0, 0), (1, 9)),
        (10, 20, false, &[], (10, 90), 0, (0, 0), (2, 9)),
        (10, 20, true, &[], (20, 80), 0, (0, 0), (2, 10)),
        (10, 20, true, &[], (10, 90), 0, (0, 0), (1, 10)),
    ];
    for (replicas, weight, abort, extra, (cw, sw), canary_spec, (stable_spec, stable_avail), expected) in
        cases
    {
        let mut ro = rollout(replicas, weight, I(0), I(1));
        ro.status.as_mut().expect("status").abort = Some(abort);
        let canary = canary_mut(&mut ro);
        canary.traffic_routing = Some(RolloutTrafficRouting::default());
        canary.dynamic_stable_scale = Some(true);
        for w in extra {
            canary
                .steps
                .as_mut()
                .expect("steps")
                .push(CanaryStep { set_weight: Some(*w), ..Default::default() });
        }
        let weights = TrafficWeights {
            canary: WeightDestination { weight: cw, ..Default::default() },
            stable: WeightDestination { weight: sw, ..Default::default() },
            ..Default::default()
        };
        let stable = (stable_spec > 0).then(|| rs("stable", stable_spec, stable_avail));
        let new = (canary_spec > 0).then(|| rs("canary", canary_spec, canary_spec));
        assert_eq!(
            traffic_routed_counts(&ro, new.as_ref(), stable.as_ref(), Some(&weights)),
            expected,
            "replicas {replicas}, weight {weight}, abort {abort}, weights {cw}/{sw}"
        );
    }
}

#[test]
fn desired_counts_are_reached_when_the_canary_is_available_and_the_stable_created() {
    // (setWeight, new (spec, available, actual), stable (spec, available, actual), expected); upstream's
    // TestAtDesiredReplicaCountsForCanary with 4 replicas, surge 1 and unavailable 1.
    #[rustfmt::skip]
    let cases = [
        (50, (2, 2, 2), (2, 2, 2), true),
        (50, (2, 1, 2), (2, 2, 2), false),
        (75, (3, 3, 3), (2, 2, 2), false),
        (75, (3, 3, 1), (1, 0, 1), true),
        (50, (2, 2, 2), (2, 2, 3), false),
    ];
    for (weight, (ns, na, nr), (ss, sa, sr), expected) in cases {
        let ro = rollout(4, weight, I(1), I(1));
        let mut new = rs("canary", ns, na);
        new.status.as_mut().expect("status").replicas = nr;
        let mut stable = rs("stable", ss, sa);
        stable.status.as_mut().expect("status").replicas = sr;
        let rss = ReplicaSets { all: vec![new, stable], new: Some(0), stable: Some(1) };
        assert_eq!(at_desired_counts(&ro, &rss, None), expected, "weight {weight}");
    }
}

#[test]
fn progress_thresholds_count_available_canary_pods() {
    use ReplicaProgressThresholdType::{Percent, Pods};
    let t = |type_, value| ReplicaProgressThreshold { type_, value };
    // (threshold, available, desired, met)
    let cases = [
        (None, 3, 3, true),
        (None, 2, 3, false),
        (Some(t(Percent, 70)), 7, 10, true),
        (Some(t(Percent, 70)), 6, 10, false),
        (Some(t(Percent, 50)), 0, 0, true),
        (Some(t(Percent, 33)), 1, 3, true),
        (Some(t(Pods, 2)), 2, 10, true),
        (Some(t(Pods, 3)), 2, 10, false),
        (Some(t(Pods, -1)), 2, 3, false),
    ];
    for (threshold, available, desired, met) in cases {
        let rs = rs("canary", desired, available);
        assert_eq!(
            replica_progress_threshold_met(threshold.as_ref(), Some(&rs), desired),
            met,
            "{threshold:?} {available}/{desired}"
        );
    }
}

#[test]
fn the_set_weight_is_the_nearest_one_at_or_before_the_current_step() {
    let mut ro = rollout(10, 20, I(1), I(0));
    let steps = canary_mut(&mut ro).steps.as_mut().expect("steps");
    steps.push(CanaryStep { pause: Some(Default::default()), ..Default::default() });
    steps.push(CanaryStep { set_weight: Some(40), ..Default::default() });
    for (index, weight) in [(None, 20), (Some(0), 20), (Some(1), 20), (Some(2), 40), (Some(3), 100)] {
        ro.status.as_mut().expect("status").current_step_index = index;
        assert_eq!(current_set_weight(&ro), weight, "index {index:?}");
    }
    ro.status.as_mut().expect("status").abort = Some(true);
    assert_eq!(current_set_weight(&ro), 0);
}

#[test]
fn scale_down_counts_use_availability_unless_told_to_ignore_it() {
    // (spec, available, ignore availability, expected); upstream's TestGetReplicasForScaleDown.
    for (spec, avail, ignore, expected) in
        [(5, 5, false, 5), (5, 3, false, 3), (5, 3, true, 5), (3, 5, false, 3)]
    {
        assert_eq!(replicas_for_scale_down(Some(&rs("x", spec, avail)), ignore), expected);
    }
    assert_eq!(replicas_for_scale_down(None, false), 0);
}

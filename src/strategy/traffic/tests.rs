//! Tables of cases for the weight a traffic-routed canary sets. The scenarios are upstream's
//! (`rollout/trafficrouting_test.go`: `TestRolloutUseDesiredWeight`, `…UsePreviousSetWeight`,
//! `…UseDynamicWeightOnPromoteFull`, `…SetWeightToZeroWhenFullyRolledOut`, the `TestDynamicScaling…WhenAborted`
//! family, `TestDontWeightToZeroWhenDynamicallyRollingBackToStable`, `TestCheckReplicaSetAvailable`) restated as
//! data.

use super::*;
use crate::api::rollout::{
    CanaryStatus, CanaryStep, CanaryStrategy, RolloutSpec, RolloutStatus, RolloutStrategy,
};
use crate::api::traffic::RolloutTrafficRouting;
use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn rs(hash: &str, spec: i32, available: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("r-{hash}")),
            labels: Some(
                [(super::super::replicaset::POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string())].into(),
            ),
            ..Default::default()
        },
        spec: ReplicaSetSpec { replicas: Some(spec), ..Default::default() },
        status: Some(ReplicaSetStatus {
            replicas: spec,
            available_replicas: Some(available),
            ready_replicas: Some(available),
            ..Default::default()
        }),
    }
}

fn weights(canary: i32, canary_hash: &str, stable_hash: &str) -> TrafficWeights {
    TrafficWeights {
        canary: WeightDestination {
            weight: canary,
            service_name: Some("canary".into()),
            pod_template_hash: Some(canary_hash.into()),
        },
        stable: WeightDestination {
            weight: 100 - canary,
            service_name: Some("stable".into()),
            pod_template_hash: Some(stable_hash.into()),
        },
        ..Default::default()
    }
}

/// One reconcile's situation: a Rollout of `replicas` with `steps` (each a setWeight, or `None` for a pause)
/// at `index`, updating from ReplicaSet `stable` to `canary`.
struct Situation {
    replicas: i32,
    steps: Vec<Option<i32>>,
    index: i32,
    dynamic: bool,
    abort: bool,
    promote_full: bool,
    /// The desired hash is the stable one (an update back to the stable version).
    back_to_stable: bool,
    /// (spec, available) of the stable and canary ReplicaSets; `None`: no such ReplicaSet.
    stable: Option<(i32, i32)>,
    canary: Option<(i32, i32)>,
    /// Recorded canary weight, and the hash it went to.
    recorded: Option<(i32, &'static str)>,
}

impl Default for Situation {
    fn default() -> Self {
        Situation {
            replicas: 10,
            steps: vec![Some(10), None],
            index: 0,
            dynamic: false,
            abort: false,
            promote_full: false,
            back_to_stable: false,
            stable: Some((10, 10)),
            canary: Some((1, 1)),
            recorded: None,
        }
    }
}

impl Situation {
    fn build(&self) -> (Rollout, ReplicaSets) {
        let steps = self
            .steps
            .iter()
            .map(|w| match w {
                Some(w) => CanaryStep { set_weight: Some(*w), ..Default::default() },
                None => CanaryStep { pause: Some(Default::default()), ..Default::default() },
            })
            .collect();
        let current = if self.back_to_stable { "stable" } else { "canary" };
        let ro = Rollout {
            metadata: ObjectMeta { name: Some("r".into()), ..Default::default() },
            spec: RolloutSpec {
                replicas: Some(self.replicas),
                strategy: Some(RolloutStrategy {
                    canary: Some(CanaryStrategy {
                        canary_service: Some("canary".into()),
                        stable_service: Some("stable".into()),
                        traffic_routing: Some(RolloutTrafficRouting::default()),
                        dynamic_stable_scale: Some(self.dynamic),
                        steps: Some(steps),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            status: Some(RolloutStatus {
                stable_rs: Some("stable".into()),
                current_pod_hash: Some(current.into()),
                current_step_index: Some(self.index),
                abort: Some(self.abort),
                promote_full: Some(self.promote_full),
                canary: Some(CanaryStatus {
                    weights: self.recorded.map(|(w, h)| weights(w, h, "stable")),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        let mut all = Vec::new();
        if let Some((spec, avail)) = self.stable {
            all.push(rs("stable", spec, avail));
        }
        if let Some((spec, avail)) = self.canary {
            all.push(rs("canary", spec, avail));
        }
        let rss = ReplicaSets::classify(all, &ro, &[current]);
        (ro, rss)
    }
}

/// (what, situation, expected (weight, canary hash, remove managed routes, canary service to stable))
type Case = (&'static str, Situation, (i32, &'static str, bool, bool));

#[test]
fn the_weight_set_follows_upstream() {
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("a step's weight once the canary is at its count",
            Situation::default(), (10, "canary", false, false)),
        ("the previous step's weight while the canary scales up",
            Situation { steps: vec![Some(10), None, Some(50), None], index: 2, canary: Some((1, 1)), ..Default::default() },
            (10, "canary", false, false)),
        ("no weight before the first setWeight while scaling",
            Situation { steps: vec![Some(10), None], index: 0, canary: Some((0, 0)), ..Default::default() },
            (0, "canary", true, false)),
        ("the max weight past the last step",
            Situation { steps: vec![Some(10)], index: 1, canary: Some((10, 10)), ..Default::default() },
            (100, "canary", false, false)),
        ("a canary with no available pods gets nothing, and its routes go",
            Situation { canary: Some((1, 0)), ..Default::default() }, (0, "canary", true, false)),
        ("no canary ReplicaSet yet",
            Situation { canary: None, ..Default::default() }, (0, "", true, false)),
        ("fully promoted: no weight, no routes",
            Situation { back_to_stable: true, canary: None, ..Default::default() }, (0, "stable", true, false)),
        ("promote full without dynamic scaling keeps the recorded weight",
            Situation { promote_full: true, canary: Some((10, 6)), recorded: Some((10, "canary")), ..Default::default() },
            (10, "canary", true, false)),
        ("promote full with dynamic scaling follows the canary's availability",
            Situation { promote_full: true, dynamic: true, canary: Some((10, 6)), stable: Some((4, 4)), ..Default::default() },
            (60, "canary", true, false)),
        ("abort without dynamic scaling: 0 at once, canary Service back to stable",
            Situation { abort: true, recorded: Some((10, "canary")), ..Default::default() }, (0, "canary", true, true)),
        // Dynamic scaling, aborted: the weight steps down as the stable comes back.
        ("aborted, dynamic, recorded 0: stays 0 even with the stable short",
            Situation { replicas: 5, steps: vec![Some(50), None], dynamic: true, abort: true,
                        stable: Some((5, 4)), canary: Some((0, 0)), recorded: Some((0, "canary")), ..Default::default() },
            (0, "canary", true, true)),
        ("aborted, dynamic: down to the step weight the available stable allows",
            Situation { replicas: 5, steps: vec![Some(50), None], dynamic: true, abort: true,
                        stable: Some((5, 3)), canary: Some((4, 4)), recorded: Some((100, "canary")), ..Default::default() },
            (50, "canary", true, false)),
        ("aborted, dynamic, the stable still short of the step's share: the canary keeps its weight",
            Situation { replicas: 5, steps: vec![Some(50), None], dynamic: true, abort: true,
                        stable: Some((5, 1)), canary: Some((4, 4)), recorded: Some((100, "canary")), ..Default::default() },
            (100, "canary", true, false)),
        ("aborted, dynamic, no step weight left: what the stable cannot take",
            Situation { replicas: 5, steps: vec![None], dynamic: true, abort: true,
                        stable: Some((5, 3)), canary: Some((5, 5)), recorded: Some((100, "canary")), ..Default::default() },
            (40, "canary", true, false)),
        ("aborted, dynamic, no recorded weights: the larger of expected and desired",
            Situation { replicas: 5, steps: vec![None], dynamic: true, abort: true,
                        stable: Some((5, 2)), canary: Some((5, 5)), ..Default::default() },
            (60, "canary", true, false)),
        ("aborted, dynamic, the stable back in full: canary Service back to stable",
            Situation { replicas: 5, steps: vec![None], dynamic: true, abort: true,
                        stable: Some((5, 5)), canary: Some((5, 5)), recorded: Some((20, "canary")), ..Default::default() },
            (0, "canary", true, true)),
        ("aborted, dynamic, zero replicas: 0",
            Situation { replicas: 0, steps: vec![None], dynamic: true, abort: true,
                        stable: Some((0, 0)), canary: Some((0, 0)), recorded: Some((20, "canary")), ..Default::default() },
            (0, "canary", true, true)),
        // Back to the stable version in the middle of a dynamically scaled update: the previous canary keeps
        // traffic until the stable is whole again.
        ("dynamic rollback to stable keeps the previous canary's weight",
            Situation { back_to_stable: true, dynamic: true, stable: Some((10, 6)), canary: Some((4, 4)),
                        recorded: Some((40, "canary")), ..Default::default() },
            (40, "canary", false, false)),
        ("dynamic rollback ends once the stable is fully available",
            Situation { back_to_stable: true, dynamic: true, stable: Some((10, 10)), canary: Some((4, 4)),
                        recorded: Some((40, "canary")), ..Default::default() },
            (0, "stable", true, false)),
    ];
    for (what, situation, (weight, hash, remove, to_stable)) in cases {
        let (ro, rss) = situation.build();
        let p = plan(&ro, &rss);
        assert_eq!(
            (p.weight, p.canary_hash.as_str(), p.remove_managed_routes, p.canary_service_to_stable),
            (weight, hash, remove, to_stable),
            "{what}: {p:?}"
        );
    }
}

#[test]
fn the_stable_must_have_the_pods_for_its_share_before_the_weight_moves() {
    // upstream's TestCheckReplicaSetAvailable: (replicas, stable available, stable weight, ok)
    for (replicas, avail, stable_weight, ok) in
        [(10, 10, 100, true), (10, 9, 100, false), (10, 5, 50, true), (10, 4, 50, false), (5, 0, 10, true)]
    {
        let (ro, _) = Situation { replicas, ..Default::default() }.build();
        let stable = rs("stable", replicas, avail);
        assert_eq!(
            stable_can_take(&ro, Some(&stable), stable_weight),
            ok,
            "{replicas} {avail} {stable_weight}"
        );
    }
    let (ro, _) = Situation::default().build();
    assert!(!stable_can_take(&ro, None, 0), "no stable ReplicaSet");
}

#[test]
fn recorded_weights_give_the_stable_the_rest() {
    let (ro, rss) = Situation { recorded: Some((10, "canary")), ..Default::default() }.build();
    let p = plan(&ro, &rss);
    let (modified, w) = recorded_weights(&ro, &p, &[]);
    assert!(!modified, "same weights as recorded: {w:?}");
    assert_eq!(w, weights(10, "canary", "stable"));
    let extra = [WeightDestination {
        weight: 20,
        service_name: Some("ex".into()),
        pod_template_hash: Some("e1".into()),
    }];
    let (modified, w) = recorded_weights(&ro, &p, &extra);
    assert!(modified);
    assert_eq!((w.canary.weight, w.stable.weight, w.additional.as_deref()), (10, 70, Some(&extra[..])));
    assert_eq!(weight_updated_message(None, &w), "Traffic weight updated to 10");
    let before = weights(5, "canary", "stable");
    assert_eq!(
        weight_updated_message(Some(&before), &w),
        "Traffic weight updated from 5 to 10, additional: [{20 ex e1}]"
    );
}

#[test]
fn header_and_mirror_steps_apply_from_the_second_revision() {
    use crate::api::rollout::SetHeaderRoute;
    let (mut ro, rss) = Situation::default().build();
    ro.spec
        .strategy
        .as_mut()
        .and_then(|s| s.canary.as_mut())
        .and_then(|c| c.steps.as_mut())
        .expect("steps")[0] =
        CanaryStep { set_header_route: Some(SetHeaderRoute::default()), ..Default::default() };
    for (revision, applies) in [(None, false), (Some("1"), false), (Some("2"), true)] {
        ro.metadata.annotations = revision
            .map(|r| [(super::super::replicaset::REVISION_ANNOTATION.to_string(), r.to_string())].into());
        assert_eq!(plan(&ro, &rss).route_step, applies, "revision {revision:?}");
    }
    // Never while the managed routes are being removed: an abort (or a promotion) at a header step must not
    // put the route back, nor wait on a router that cannot set it.
    for (abort, promote_full) in [(true, false), (false, true)] {
        let (_, rss) = Situation { abort, promote_full, ..Default::default() }.build();
        let status = ro.status.as_mut().expect("status");
        status.abort = Some(abort);
        status.promote_full = Some(promote_full);
        let p = plan(&ro, &rss);
        assert!(
            p.remove_managed_routes && !p.route_step,
            "abort {abort}, promote full {promote_full}: {p:?}"
        );
    }
}

#[test]
fn the_weight_is_reset_before_a_new_canary_without_pods_gets_the_hash() {
    let (ro, rss) =
        Situation { canary: Some((1, 0)), recorded: Some((10, "old")), ..Default::default() }.build();
    assert!(plan(&ro, &rss).reset_weight_first);
    let (ro, rss) =
        Situation { canary: Some((1, 0)), recorded: Some((0, "old")), ..Default::default() }.build();
    assert!(!plan(&ro, &rss).reset_weight_first, "nothing to reset");
    let (ro, rss) =
        Situation { canary: Some((1, 1)), recorded: Some((10, "canary")), ..Default::default() }.build();
    assert!(!plan(&ro, &rss).reset_weight_first, "the canary has pods");
}

#[test]
fn an_unverified_weight_requeues_and_at_full_weight_holds_the_scale_down() {
    let (ro, _) = Situation { steps: vec![Some(10)], index: 1, ..Default::default() }.build();
    // (weight, verified, outcome)
    for (weight, verified, outcome) in [
        (10, None, Verified::Continue),
        (10, Some(true), Verified::Continue),
        (10, Some(false), Verified::Requeue),
        (100, Some(false), Verified::RequeueAndStop),
        (100, Some(true), Verified::Continue),
    ] {
        assert_eq!(after_verification(&ro, weight, verified), outcome, "{weight} {verified:?}");
    }
}

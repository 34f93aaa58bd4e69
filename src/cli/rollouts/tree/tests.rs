//! The tree against a golden rendering: a canary at its pause with a step analysis running, laid out as
//! upstream's `TestGetCanaryRollout` lays out its tree (`cmd/get/get_test.go`).

use super::*;
use crate::api::analysis::{AnalysisRunStatus, MetricResult};
use crate::api::rollout::{PauseCondition, PauseReason, RolloutPhase, RolloutStatus};
use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStatus, PodSpec, PodStatus, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};

fn at(s: &str) -> Option<Time> {
    Some(Time(s.parse().unwrap()))
}

fn owner(uid: &str) -> Option<Vec<OwnerReference>> {
    Some(vec![OwnerReference { uid: uid.into(), controller: Some(true), ..Default::default() }])
}

fn rs(hash: &str, revision: &str, replicas: i32, image: &str) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("guestbook-{hash}")),
            uid: Some(format!("rs-{hash}")),
            labels: Some([(rsutil::POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string())].into()),
            annotations: Some([(REVISION_ANNOTATION.to_string(), revision.to_string())].into()),
            owner_references: owner("ro-uid"),
            creation_timestamp: at("2026-11-24T10:00:00Z"),
            generation: Some(1),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            template: Some(PodTemplateSpec {
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".into(),
                        image: Some(image.into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        status: Some(ReplicaSetStatus {
            replicas,
            available_replicas: Some(replicas),
            observed_generation: Some(1),
            ..Default::default()
        }),
    }
}

fn pod(rs_hash: &str, suffix: &str, created: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("guestbook-{rs_hash}-{suffix}")),
            owner_references: owner(&format!("rs-{rs_hash}")),
            creation_timestamp: at(created),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container { name: "app".into(), ..Default::default() }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "app".into(),
                ready: true,
                state: Some(ContainerState {
                    running: Some(ContainerStateRunning::default()),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

#[test]
fn a_canary_at_its_pause_with_a_running_analysis() {
    let mut ro = Rollout::canary_fixture("guestbook");
    ro.metadata.namespace = Some("default".into());
    ro.metadata.uid = Some("ro-uid".into());
    ro.metadata.creation_timestamp = at("2026-11-24T10:00:00Z");
    ro.spec.replicas = Some(2);
    // Steps: setWeight 20, pause. Paused at the pause (index 1).
    ro.status = Some(RolloutStatus {
        current_step_index: Some(1),
        stable_rs: Some("6b8f9d7c55".into()),
        current_pod_hash: Some("7d4c8b9f66".into()),
        pause_conditions: Some(vec![PauseCondition {
            reason: PauseReason::CanaryPauseStep,
            start_time: Time(Timestamp::UNIX_EPOCH),
        }]),
        controller_pause: Some(true),
        phase: Some(RolloutPhase::Paused),
        message: Some("CanaryPauseStep".into()),
        replicas: Some(3),
        updated_replicas: Some(1),
        ready_replicas: Some(3),
        available_replicas: Some(3),
        ..Default::default()
    });
    let mut run = AnalysisRun::new("guestbook-7d4c8b9f66-2-1", Default::default());
    run.metadata.owner_references = owner("ro-uid");
    run.metadata.annotations = Some([(REVISION_ANNOTATION.to_string(), "2".to_string())].into());
    run.metadata.creation_timestamp = at("2026-12-01T09:59:30Z");
    run.status = Some(AnalysisRunStatus {
        phase: Some(AnalysisPhase::Running),
        metric_results: Some(vec![MetricResult {
            name: "success-rate".into(),
            successful: Some(2),
            ..Default::default()
        }]),
        ..Default::default()
    });
    let view = View {
        rollout: ro,
        replica_sets: vec![
            rs("6b8f9d7c55", "1", 2, "guestbook:v1"),
            rs("7d4c8b9f66", "2", 1, "guestbook:v2"),
            rs("5c9d8f7b44", "0", 0, "guestbook:v0"),
        ],
        pods: vec![
            pod("6b8f9d7c55", "x9k2p", "2026-11-24T10:00:05Z"),
            pod("6b8f9d7c55", "a1b2c", "2026-11-24T10:00:05Z"),
            pod("7d4c8b9f66", "zz9q1", "2026-12-01T09:58:00Z"),
        ],
        runs: vec![run],
        experiments: Vec::new(),
    };
    let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let got = render(&view, now, false);
    // Upstream's tests compare with trailing spaces stripped (the tabwriter pads empty trailing cells).
    let got: String = got.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    let want = "\
Name:            guestbook
Namespace:       default
Status:          ॥ Paused
Message:         CanaryPauseStep
Strategy:        Canary
  Step:          1/2
  SetWeight:     20
  ActualWeight:  33
Images:          guestbook:v2 (canary)
                 guestbook:v1 (stable)
Replicas:
  Desired:       2
  Current:       3
  Updated:       1
  Ready:         3
  Available:     3

NAME                                   KIND         STATUS        AGE    INFO
⟳ guestbook                            Rollout      ॥ Paused      7d
├──# revision:2
│  ├──⧉ guestbook-7d4c8b9f66           ReplicaSet   ✔ Healthy     7d     canary
│  │  └──□ guestbook-7d4c8b9f66-zz9q1  Pod          ✔ Running     2m     ready:1/1
│  └──α guestbook-7d4c8b9f66-2-1       AnalysisRun  ◌ Running     30s    ✔ 2
├──# revision:1
│  └──⧉ guestbook-6b8f9d7c55           ReplicaSet   ✔ Healthy     7d     stable
│     ├──□ guestbook-6b8f9d7c55-a1b2c  Pod          ✔ Running     6d23h  ready:1/1
│     └──□ guestbook-6b8f9d7c55-x9k2p  Pod          ✔ Running     6d23h  ready:1/1
└──# revision:0
   └──⧉ guestbook-5c9d8f7b44           ReplicaSet   • ScaledDown  7d
";
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w, "\n{got}");
    }
    assert_eq!(got, want);
}

#[test]
fn ages_read_as_kubectl_prints_them() {
    for (secs, want) in [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 1800, "3h30m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (730 * 86400, "2y"),
        (740 * 86400, "2y10d"),
        (9 * 365 * 86400, "9y"),
    ] {
        assert_eq!(human_duration(SignedDuration::from_secs(secs)), want, "{secs}s");
    }
}

fn experiment_view() -> ExperimentView {
    use crate::api::experiment::{Experiment, ExperimentStatus};
    let mut ex = Experiment::fixture("guestbook");
    ex.metadata.namespace = Some("default".into());
    ex.metadata.uid = Some("ro-uid".into());
    ex.metadata.creation_timestamp = at("2026-12-01T09:58:00Z");
    ex.status = Some(ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        message: Some("waiting for the analysis".into()),
        ..Default::default()
    });
    let mut run = AnalysisRun::new("guestbook-judge", Default::default());
    run.metadata.owner_references = owner("ro-uid");
    run.metadata.creation_timestamp = at("2026-12-01T09:59:30Z");
    run.status = Some(AnalysisRunStatus { phase: Some(AnalysisPhase::Successful), ..Default::default() });
    ExperimentView {
        experiment: ex,
        replica_sets: vec![rs("baseline", "0", 1, "guestbook:v1"), rs("canary", "0", 1, "guestbook:v2")],
        pods: vec![
            pod("baseline", "a1b2c", "2026-12-01T09:58:05Z"),
            pod("canary", "x9k2p", "2026-12-01T09:58:05Z"),
        ],
        runs: vec![run],
    }
}

#[test]
fn an_experiment_with_its_templates_and_analysis() {
    let view = experiment_view();
    let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let got: String =
        render_experiment(&view, now, false).lines().map(|l| format!("{}\n", l.trim_end())).collect();
    let want = "\
Name:            guestbook
Namespace:       default
Status:          ◌ Running
Message:         waiting for the analysis
Images:          guestbook:v1
                 guestbook:v2

NAME                              KIND         STATUS        AGE   INFO
Σ guestbook                       Experiment   ◌ Running     2m
├──⧉ guestbook-baseline           ReplicaSet   ✔ Healthy     7d
│  └──□ guestbook-baseline-a1b2c  Pod          ✔ Running     115s  ready:1/1
├──⧉ guestbook-canary             ReplicaSet   ✔ Healthy     7d
│  └──□ guestbook-canary-x9k2p    Pod          ✔ Running     115s  ready:1/1
└──α guestbook-judge              AnalysisRun  ✔ Successful  30s
";
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w, "\n{got}");
    }
    assert_eq!(got, want);
}

#[test]
fn a_rollouts_experiment_sits_under_its_revision() {
    let mut ex = experiment_view();
    ex.experiment.metadata.owner_references = Some(vec![OwnerReference {
        uid: "rollout-uid".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    ex.experiment.metadata.annotations = Some([(REVISION_ANNOTATION.to_string(), "2".to_string())].into());
    let mut ro = Rollout::canary_fixture("guestbook");
    ro.metadata.uid = Some("rollout-uid".into());
    ro.metadata.creation_timestamp = at("2026-11-24T10:00:00Z");
    let mut stable = rs("6b8f9d7c55", "1", 1, "guestbook:v1");
    stable.metadata.owner_references = Some(vec![OwnerReference {
        uid: "rollout-uid".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    let view =
        View { rollout: ro, replica_sets: vec![stable], pods: vec![], runs: vec![], experiments: vec![ex] };
    let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let got = render(&view, now, false);
    let header = got.lines().find(|l| l.starts_with("NAME")).expect("header");
    let width = header.find("KIND").expect("KIND column");
    let tree: Vec<String> = got
        .lines()
        .skip_while(|l| !l.starts_with("NAME"))
        .skip(1)
        .map(|l| l.chars().take(width).collect::<String>().trim_end().to_string())
        .collect();
    assert_eq!(
        tree,
        [
            "⟳ guestbook",
            "├──# revision:2",
            "│  └──Σ guestbook",
            "│     ├──⧉ guestbook-baseline",
            "│     │  └──□ guestbook-baseline-a1b2c",
            "│     ├──⧉ guestbook-canary",
            "│     │  └──□ guestbook-canary-x9k2p",
            "│     └──α guestbook-judge",
            "└──# revision:1",
            "   └──⧉ guestbook-6b8f9d7c55",
        ],
        "\n{got}"
    );
}

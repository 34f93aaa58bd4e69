//! Tables for the Rollout's use of AnalysisRuns.

use super::*;
use crate::api::analysis::AnalysisRunStatus;
use crate::api::common::{AnalysisRunMetadata, ArgumentValueFrom, FieldRef};
use crate::api::rollout::{PauseCondition, RolloutStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

fn rs(hash: &str) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            labels: Some([(POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn rollout() -> Rollout {
    let mut ro = Rollout::canary_fixture("app");
    ro.metadata.uid = Some("u-1".into());
    ro.metadata.labels = Some([("team".to_string(), "pay\"ments".to_string())].into());
    ro.metadata.annotations = Some([(REVISION_ANNOTATION.to_string(), "3".to_string())].into());
    ro
}

#[test]
fn runs_are_named_by_rollout_hash_revision_and_kind() {
    let cases = [
        (Kind::Step(2), "app-abc-3-2"),
        (Kind::Background, "app-abc-3"),
        (Kind::PrePromotion, "app-abc-3-pre"),
        (Kind::PostPromotion, "app-abc-3-post"),
    ];
    for (kind, name) in cases {
        assert_eq!(run_name("app", "abc", "3", kind), name);
    }
}

#[test]
fn run_metadata_layers_type_labels_user_metadata_and_the_selector() {
    let mut ro = rollout();
    ro.metadata.labels.get_or_insert_default().insert(INSTANCE_ID_LABEL.into(), "blue".into());
    let analysis = RolloutAnalysis {
        analysis_run_metadata: Some(AnalysisRunMetadata {
            labels: Some(
                [("app".to_string(), "overridden".to_string()), ("x".to_string(), "y".to_string())].into(),
            ),
            annotations: Some([("note".to_string(), "n".to_string())].into()),
        }),
        ..Default::default()
    };
    let (labels, annotations) = run_metadata(&ro, &analysis, Kind::Step(1), "abc");
    let expected: BTreeMap<String, String> = [
        ("rollouts-pod-template-hash", "abc"),
        ("rollout-type", "Step"),
        ("step-index", "1"),
        (INSTANCE_ID_LABEL, "blue"),
        ("app", "app"),
        ("x", "y"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, expected, "the selector's matchLabels win");
    assert_eq!(annotations.get(REVISION_ANNOTATION).map(String::as_str), Some("3"));
    assert_eq!(annotations.get("note").map(String::as_str), Some("n"));
}

#[test]
fn arguments_take_values_hashes_and_fields_of_the_rollout() {
    let ro = rollout();
    let arg = |name: &str, value: Option<&str>, from: Option<ArgumentValueFrom>| AnalysisRunArgument {
        name: name.into(),
        value: value.map(str::to_string),
        value_from: from,
    };
    let hash = |w: ValueFromPodTemplateHash| {
        Some(ArgumentValueFrom { pod_template_hash_value: Some(w), field_ref: None })
    };
    let field = |p: &str| {
        Some(ArgumentValueFrom {
            pod_template_hash_value: None,
            field_ref: Some(FieldRef { field_path: p.into() }),
        })
    };
    let args = [
        arg("literal", Some("v"), None),
        arg("latest", None, hash(ValueFromPodTemplateHash::Latest)),
        arg("stable", None, hash(ValueFromPodTemplateHash::Stable)),
        arg("name", None, field("metadata.name")),
        arg("uid", None, field("metadata.uid")),
        arg("team", None, field("metadata.labels['team']")),
        arg("labels", None, field("metadata.labels")),
        arg("replicas", None, field("spec.replicas")),
        arg("image", None, field("spec.template.spec.containers[0].image")),
    ];
    let built = build_args(&args, Some(&rs("s1")), Some(&rs("n2")), &ro).expect("args");
    let values: Vec<(&str, &str)> =
        built.iter().map(|a| (a.name.as_str(), a.value.as_deref().unwrap_or(""))).collect();
    assert_eq!(
        values,
        [
            ("literal", "v"),
            ("latest", "n2"),
            ("stable", "s1"),
            ("name", "app"),
            ("uid", "u-1"),
            ("team", "pay\"ments"),
            ("labels", "team=\"pay\\\"ments\""),
            ("replicas", "1"),
            ("image", "nginx:1.27"),
        ]
    );
    for (path, error) in [
        ("metadata.generateName", "unsupported fieldPath: metadata.generateName"),
        ("spec.nope", "invalid path spec.nope in rollout"),
        ("spec.template.spec.containers[x]", "invalid index 'x'"),
        ("spec.template.spec.containers[3]", "index 3 out of range"),
        ("spec.template", "path spec.template in rollout must terminate in a primitive value"),
    ] {
        assert_eq!(
            build_args(&[arg("a", None, field(path))], None, None, &ro),
            Err(error.to_string()),
            "{path}"
        );
    }
}

fn run(phase: AnalysisPhase, message: Option<&str>, hash: &str, created: i64) -> AnalysisRun {
    let mut r = AnalysisRun::fixture("r");
    r.metadata.name = Some(format!("r-{created}"));
    r.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(created).expect("ts")));
    r.metadata.labels = Some([(POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string())].into());
    r.status = Some(AnalysisRunStatus {
        phase: Some(phase),
        message: message.map(str::to_string),
        ..Default::default()
    });
    r
}

#[test]
fn a_new_run_is_made_when_missing_after_a_resumed_inconclusive_pause_or_on_retry() {
    let inconclusive = run(AnalysisPhase::Inconclusive, None, "h", 1);
    let running = run(AnalysisPhase::Running, None, "h", 1);
    let paused =
        |reason: PauseReason| PauseCondition { reason, start_time: Time(jiff::Timestamp::UNIX_EPOCH) };
    let status = |controller_pause: bool, pauses: Vec<PauseCondition>, aborted: bool| RolloutStatus {
        controller_pause: Some(controller_pause),
        pause_conditions: Some(pauses),
        aborted_at: aborted.then_some(Time(jiff::Timestamp::UNIX_EPOCH)),
        ..Default::default()
    };
    let cases = [
        (None, status(false, vec![], false), true),
        (Some(&running), status(false, vec![], false), false),
        (Some(&running), status(false, vec![], true), true),
        (Some(&inconclusive), status(true, vec![], false), true),
        (Some(&running), status(true, vec![], true), false),
        (Some(&inconclusive), status(true, vec![paused(PauseReason::CanaryPauseStep)], false), false),
    ];
    for (i, (current, status, expected)) in cases.into_iter().enumerate() {
        let mut ro = rollout();
        ro.status = Some(status);
        assert_eq!(needs_new_run(current, &ro), expected, "case {i}");
    }
}

#[test]
fn failed_and_errored_runs_abort_with_their_message_and_inconclusive_ones_pause() {
    let cases = [
        (AnalysisPhase::Successful, None, Kind::Step(0), Verdict::Continue),
        (AnalysisPhase::Running, None, Kind::Background, Verdict::Continue),
        (AnalysisPhase::Inconclusive, None, Kind::Step(0), Verdict::Pause),
        (
            AnalysisPhase::Failed,
            Some("Metric \"m\" assessed Failed"),
            Kind::Step(1),
            Verdict::Abort("Step-based analysis phase error/failed: Metric \"m\" assessed Failed".into()),
        ),
        (
            AnalysisPhase::Error,
            None,
            Kind::Background,
            Verdict::Abort("Background analysis phase error/failed".into()),
        ),
    ];
    for (phase, message, kind, expected) in cases {
        assert_eq!(verdict(&run(phase.clone(), message, "h", 1), kind), expected, "{phase:?}");
    }
}

#[test]
fn old_runs_are_kept_to_the_history_limits_newest_first() {
    let runs = [
        run(AnalysisPhase::Successful, None, "a", 1),
        run(AnalysisPhase::Successful, None, "a", 2),
        run(AnalysisPhase::Failed, None, "a", 3),
        run(AnalysisPhase::Error, None, "a", 4),
        run(AnalysisPhase::Running, None, "a", 5),
        run(AnalysisPhase::Successful, None, "gone", 6),
    ];
    let refs: Vec<&AnalysisRun> = runs.iter().collect();
    let names = |v: Vec<&AnalysisRun>| v.iter().filter_map(|r| r.metadata.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(runs_to_delete(&refs, &[rs("a")], 1, 1)), ["r-6", "r-3", "r-1"]);
    assert_eq!(names(runs_to_delete(&refs, &[rs("a")], 5, 5)), ["r-6"]);
}

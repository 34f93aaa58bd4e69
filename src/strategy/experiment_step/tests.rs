//! The experiment step restated as cases: the Experiment built from a step (upstream's
//! `TestGetExperimentFromTemplate` family), what its phase does to the Rollout, and the traffic its templates get.

use super::*;
use crate::api::experiment::{ExperimentStatus, TemplateStatus};
use serde_json::json;

fn rollout(steps: serde_json::Value, status: serde_json::Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": "guestbook", "namespace": "ns", "uid": "u1",
            "labels": {"team": "a"},
            "annotations": {"rollout.argoproj.io/revision": "3"}
        },
        "spec": {
            "progressDeadlineSeconds": 120,
            "selector": {"matchLabels": {"app": "guestbook"}},
            "template": {"metadata": {"labels": {"app": "guestbook"}}, "spec": {"containers": [{"name": "c", "image": "new"}]}},
            "strategy": {"canary": {"steps": steps}}
        },
        "status": status
    }))
    .expect("rollout")
}

fn rs(hash: &str, image: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": format!("guestbook-{hash}"), "labels": {"app": "guestbook", "rollouts-pod-template-hash": hash}},
        "spec": {
            "minReadySeconds": 5,
            "selector": {"matchLabels": {"app": "guestbook", "rollouts-pod-template-hash": hash}},
            "template": {
                "metadata": {"labels": {"app": "guestbook", "rollouts-pod-template-hash": hash}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .expect("rs")
}

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Rollout".into(),
        name: "guestbook".into(),
        uid: "u1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn experiment_step() -> serde_json::Value {
    json!([
        {"setWeight": 10},
        {"experiment": {
            "duration": "5m",
            "dryRun": [{"metricName": "x"}],
            "templates": [
                {"name": "baseline", "specRef": "stable", "replicas": 2},
                {"name": "canary", "specRef": "canary", "weight": 5,
                 "metadata": {"labels": {"role": "exp"}, "annotations": {"note": "n"}}},
                {"name": "named", "specRef": "canary", "service": {"name": "named-svc"}}
            ],
            "analyses": [{"name": "a", "templateName": "t", "requiredForCompletion": true, "args": [
                {"name": "stable", "valueFrom": {"podTemplateHashValue": "Stable"}},
                {"name": "latest", "valueFrom": {"podTemplateHashValue": "Latest"}},
                {"name": "baseline", "value": "{{templates.baseline.podTemplateHash}}"}
            ]}]
        }},
        {"pause": {}}
    ])
}

#[test]
fn a_step_becomes_an_experiment_of_the_stable_and_canary_templates() {
    let ro = rollout(experiment_step(), json!({"currentStepIndex": 1}));
    let step = current_experiment_step(&ro).expect("experiment step").clone();
    let ex =
        experiment_from_step(&ro, &step, "newhash", &rs("oldhash", "old"), &rs("newhash", "new"), owner())
            .expect("experiment");
    assert_eq!(ex.metadata.name.as_deref(), Some("guestbook-newhash-3-1"));
    assert_eq!(ex.metadata.namespace.as_deref(), Some("ns"));
    let labels = ex.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("a"), "the Rollout's labels");
    assert_eq!(labels.get("rollouts-pod-template-hash").map(String::as_str), Some("newhash"));
    assert_eq!(
        ex.metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .get("rollout.argoproj.io/revision")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(ex.metadata.owner_references.clone().unwrap_or_default(), [owner()]);
    assert_eq!(ex.spec.duration.as_deref(), Some("5m"));
    assert_eq!(ex.spec.progress_deadline_seconds, Some(120), "the Rollout's progress deadline");
    assert_eq!(ex.spec.dry_run.as_ref().map(|d| d[0].metric_name.clone()).as_deref(), Some("x"));

    let images: Vec<String> = ex
        .spec
        .templates
        .iter()
        .map(|t| t.template.spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default())
        .collect();
    assert_eq!(images, ["old", "new", "new"], "specRef picks the stable or the canary ReplicaSet's pods");
    let [baseline, canary, named] = &ex.spec.templates[..] else { panic!("three templates") };
    assert_eq!((baseline.replicas, baseline.min_ready_seconds), (Some(2), Some(5)));
    assert_eq!(baseline.service, None, "no weight and no service: no Service");
    assert_eq!(canary.service, Some(TemplateService { name: None }), "a weight needs a Service");
    assert_eq!(named.service, Some(TemplateService { name: Some("named-svc".into()) }));
    let pod_labels = canary.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    assert_eq!(pod_labels.get("role").map(String::as_str), Some("exp"));
    let selector = canary.selector.as_ref().and_then(|s| s.match_labels.clone()).unwrap_or_default();
    assert_eq!(selector.get("role").map(String::as_str), Some("exp"), "extra labels join the selector");
    let notes = canary.template.metadata.as_ref().and_then(|m| m.annotations.clone()).unwrap_or_default();
    assert_eq!(notes.get("note").map(String::as_str), Some("n"));

    let analysis = &ex.spec.analyses.as_ref().expect("analyses")[0];
    assert_eq!((analysis.name.as_str(), analysis.template_name.as_str()), ("a", "t"));
    assert_eq!(analysis.required_for_completion, Some(true));
    let args: Vec<(String, Option<String>)> =
        analysis.args.iter().flatten().map(|a| (a.name.clone(), a.value.clone())).collect();
    assert_eq!(
        args,
        [
            ("stable".to_string(), Some("oldhash".to_string())),
            ("latest".to_string(), Some("newhash".to_string())),
            ("baseline".to_string(), Some("{{templates.baseline.podTemplateHash}}".to_string())),
        ],
        "the Rollout's value sources are resolved; the experiment's placeholders are left for the experiment"
    );
}

#[test]
fn the_experiment_step_is_the_latest_at_or_before_the_current_step() {
    // (current step index, an experiment step expected)
    for (index, want) in [(0, false), (1, true), (2, true), (3, true), (7, true)] {
        let ro = rollout(experiment_step(), json!({"currentStepIndex": index}));
        assert_eq!(current_experiment_step(&ro).is_some(), want, "index {index}");
    }
    let none = rollout(json!([{"setWeight": 10}]), json!({"currentStepIndex": 0}));
    assert!(current_experiment_step(&none).is_none());
}

fn with_phase(phase: Option<&str>, message: &str) -> Experiment {
    let mut ex = Experiment::new("ex", ExperimentSpec::default());
    ex.status = Some(ExperimentStatus {
        phase: phase.map(AnalysisPhase::from),
        message: (!message.is_empty()).then(|| message.to_string()),
        ..Default::default()
    });
    ex
}

#[test]
fn the_current_experiments_phase_decides_the_step() {
    let paused = json!({"currentStepIndex": 1, "controllerPause": true,
        "pauseConditions": [{"reason": "InconclusiveExperiment", "startTime": "2026-01-01T00:00:00Z"}]});
    let resumed = json!({"currentStepIndex": 1, "controllerPause": true});
    let running = json!({"currentStepIndex": 1});
    // (rollout status, experiment phase, want)
    let cases: Vec<(serde_json::Value, Option<Option<&str>>, StepVerdict)> = vec![
        (running.clone(), None, StepVerdict::Create),
        (running.clone(), Some(None), StepVerdict::Continue),
        (running.clone(), Some(Some("Pending")), StepVerdict::Continue),
        (running.clone(), Some(Some("Running")), StepVerdict::Continue),
        (running.clone(), Some(Some("Successful")), StepVerdict::Completed),
        (running.clone(), Some(Some("Failed")), StepVerdict::Abort("it broke".into())),
        (running.clone(), Some(Some("Error")), StepVerdict::Abort("it broke".into())),
        (running.clone(), Some(Some("Inconclusive")), StepVerdict::Pause),
        (paused, Some(Some("Inconclusive")), StepVerdict::Pause),
        (resumed, Some(Some("Inconclusive")), StepVerdict::Create),
    ];
    for (status, phase, want) in cases {
        let ro = rollout(experiment_step(), status.clone());
        let ex = phase.map(|p| with_phase(p, "it broke"));
        assert_eq!(step_verdict(&ro, ex.as_ref()), want, "{status} {phase:?}");
    }
}

#[test]
fn weighted_templates_get_traffic_while_the_experiment_runs() {
    let ro = rollout(experiment_step(), json!({"currentStepIndex": 1}));
    let template = |name: &str, service: Option<&str>| TemplateStatus {
        name: name.into(),
        service_name: service.map(str::to_string),
        pod_template_hash: service.map(|_| format!("{name}-hash")),
        ..Default::default()
    };
    let mut ex = with_phase(Some("Running"), "");
    ex.status.as_mut().unwrap().template_statuses = Some(vec![
        template("baseline", Some("svc-b")),
        template("canary", Some("svc-c")),
        template("named", Some("named-svc")),
    ]);
    assert_eq!(
        experiment_destinations(&ro, Some(&ex)),
        [WeightDestination {
            weight: 5,
            service_name: Some("svc-c".into()),
            pod_template_hash: Some("canary-hash".into())
        }],
        "only templates with a weight"
    );
    let mut no_service = ex.clone();
    no_service.status.as_mut().unwrap().template_statuses = Some(vec![template("canary", None)]);
    assert!(experiment_destinations(&ro, Some(&no_service)).is_empty(), "no Service yet: no traffic");
    for phase in ["Pending", "Successful", "Failed"] {
        let mut other = ex.clone();
        other.status.as_mut().unwrap().phase = Some(AnalysisPhase::from(phase));
        assert!(experiment_destinations(&ro, Some(&other)).is_empty(), "{phase}");
    }
    let before = rollout(experiment_step(), json!({"currentStepIndex": 0}));
    assert!(experiment_destinations(&before, Some(&ex)).is_empty(), "before the experiment step");
}

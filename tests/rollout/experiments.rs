//! Experiments end to end, on both substrates: upstream's basic Experiment runs its two templates for its
//! duration, succeeds, and its ReplicaSets are scaled down after the delay; a template's Service selects its
//! pods while it runs; `terminate` ends one without a duration; analyses start once every template runs, are
//! followed into the status, and decide the phase.

use super::fixture::Env;
use crate::e2e::wait::WAIT;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::Api;
use serin::api::common::AnalysisPhase;
use serin::api::experiment::{Experiment, ExperimentConditionType, TemplateStatusCode};
use std::time::{Duration, Instant};

/// Waits (generously) until `cond` holds for the Experiment `name`.
async fn wait_experiment(
    env: &Env<'_>,
    name: &str,
    what: &str,
    cond: impl Fn(&Experiment) -> bool,
) -> Experiment {
    let api: Api<Experiment> = env.s.api();
    let start = Instant::now();
    loop {
        let ex = api.get(name).await.expect("experiment");
        if cond(&ex) {
            return ex;
        }
        assert!(
            start.elapsed() < WAIT * 3,
            "{}: experiment {name} never reached: {what}\nstatus: {:#?}",
            env.s.kind.name(),
            ex.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn codes(ex: &Experiment) -> Vec<(String, Option<TemplateStatusCode>)> {
    ex.status
        .iter()
        .flat_map(|s| s.template_statuses.iter().flatten())
        .map(|t| (t.name.clone(), t.status.clone()))
        .collect()
}

fn phase(ex: &Experiment) -> Option<AnalysisPhase> {
    ex.status.as_ref().and_then(|s| s.phase.clone())
}

async fn replicas(env: &Env<'_>, name: &str) -> Option<i32> {
    let api: Api<ReplicaSet> = env.s.api();
    api.get_opt(name).await.expect("replica set").and_then(|rs| rs.spec.replicas)
}

fn upstream(file: &str) -> String {
    let path = crate::support::corpus_root().join("test/e2e/functional").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

on_both_substrates! {
    async fn upstreams_basic_experiment_runs_for_its_duration_and_then_scales_down(s: &Substrate) {
        let env = Env::start(s).await;
        let manifest = upstream("experiment-basic.yaml").replace("generateName: experiment-basic-", "name: experiment-basic");
        env.apply(&manifest).await;
        let name = "experiment-basic";
        let running = |ex: &Experiment| phase(ex) == Some(AnalysisPhase::Running)
            && ex.status.as_ref().is_some_and(|s| s.available_at.is_some());
        let ex = wait_experiment(&env, name, "Running with every template available", running).await;
        assert_eq!(
            codes(&ex),
            [("baseline".to_string(), Some(TemplateStatusCode::Running)), ("canary".to_string(), Some(TemplateStatusCode::Running))]
        );
        let rss: Api<ReplicaSet> = env.s.api();
        for template in ["baseline", "canary"] {
            let rs = rss.get(&format!("{name}-{template}")).await.expect("the template's ReplicaSet");
            let annotations = rs.metadata.annotations.clone().unwrap_or_default();
            assert_eq!(annotations.get("experiment.argoproj.io/name").map(String::as_str), Some(name));
            assert_eq!(annotations.get("experiment.argoproj.io/template-name").map(String::as_str), Some(template));
            let labels = rs.metadata.labels.clone().unwrap_or_default();
            assert_eq!(labels.keys().collect::<Vec<_>>(), ["rollouts-pod-template-hash"], "only the hash label");
            let owner = &rs.metadata.owner_references.clone().unwrap_or_default()[0];
            assert_eq!((owner.kind.as_str(), owner.controller), ("Experiment", Some(true)));
            assert_eq!(rs.spec.replicas, Some(1));
        }

        // 30 s after every template ran: Successful, then the ReplicaSets go to zero after the 30 s delay.
        let ex = wait_experiment(&env, name, "Successful", |ex| phase(ex) == Some(AnalysisPhase::Successful)).await;
        let progressing = ex.status.iter().flat_map(|s| s.conditions.iter().flatten()).find(|c| c.type_ == ExperimentConditionType::Progressing).cloned().expect("condition");
        assert_eq!((progressing.status.as_str(), progressing.reason.as_str()), ("False", "ExperimentCompleted"));
        assert_eq!(progressing.message, "Experiment \"experiment-basic\" has successfully ran and completed.");
        assert_eq!(
            codes(&ex),
            [("baseline".to_string(), Some(TemplateStatusCode::Successful)), ("canary".to_string(), Some(TemplateStatusCode::Successful))]
        );
        let start = Instant::now();
        for template in ["baseline", "canary"] {
            let rs = format!("{name}-{template}");
            while replicas(&env, &rs).await != Some(0) {
                assert!(start.elapsed() < WAIT * 2, "{rs} was not scaled down");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let annotated = rss.get(&rs).await.expect("rs").metadata.annotations.unwrap_or_default();
            assert!(annotated.contains_key("scale-down-deadline"), "{annotated:?}");
        }
        env.stop().await;
    }
}

on_both_substrates! {
    async fn terminate_ends_an_experiment_without_a_duration(s: &Substrate) {
        let env = Env::start(s).await;
        let manifest = upstream("experiment-basic.yaml")
            .replace("generateName: experiment-basic-", "name: open-ended")
            .replace("  duration: 30s\n", "  scaleDownDelaySeconds: 0\n");
        env.apply(&manifest).await;
        let running = |ex: &Experiment| phase(ex) == Some(AnalysisPhase::Running);
        wait_experiment(&env, "open-ended", "Running", running).await;
        env.kubectl(&["patch", "experiment", "open-ended", "--type", "merge", "-p", r#"{"spec":{"terminate":true}}"#], None).await;
        wait_experiment(&env, "open-ended", "Successful once terminated", |ex| phase(ex) == Some(AnalysisPhase::Successful)).await;
        let start = Instant::now();
        while replicas(&env, "open-ended-canary").await != Some(0) {
            assert!(start.elapsed() < WAIT, "no delay: scaled down at once");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }

        env.stop().await;
    }
}

fn examples(file: &str) -> String {
    let path = crate::support::corpus_root().join("examples").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn analysis_runs(ex: &Experiment) -> Vec<(String, String, AnalysisPhase)> {
    ex.status
        .iter()
        .flat_map(|s| s.analysis_runs.iter().flatten())
        .map(|r| (r.name.clone(), r.analysis_run.clone(), r.phase.clone()))
        .collect()
}

/// An experiment of one template judged by the score server at `url` (required for completion), its metric
/// in dry-run when `dry_run`.
fn judged(name: &str, url: &str, dry_run: bool) -> String {
    let dry_run = if dry_run { "  dryRun: [{metricName: \"sco.*\"}]\n" } else { "" };
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {{name: {name}}}
spec:
  scaleDownDelaySeconds: 0
{dry_run}  measurementRetention: [{{metricName: score, limit: 3}}]
  analysisRunMetadata:
    labels: {{team: qa}}
  templates:
  - name: baseline
    selector: {{matchLabels: {{app: {name}}}}}
    template:
      metadata: {{labels: {{app: {name}}}}}
      spec:
        containers: [{{name: app, image: "nginx:1.19-alpine"}}]
  analyses:
  - name: judge
    templateName: score
    requiredForCompletion: true
    args:
    - {{name: url, value: "{url}"}}
    - {{name: hash, value: "{{{{templates.baseline.podTemplateHash}}}}/{{{{templates.baseline.replicaset.name}}}}"}}
"#
    )
}

on_both_substrates! {
    async fn analyses_start_once_the_templates_run_and_decide_the_phase(s: &Substrate) {
        let env = Env::start(s).await;
        // Upstream's example: two analyses, none required, no duration: the experiment keeps running after
        // both succeed.
        env.apply(&examples("analysis-templates.yaml")).await;
        env.apply(&examples("experiment-with-analysis.yaml")).await;
        let name = "experiment-with-analysis";
        let done = |ex: &Experiment| {
            let runs = analysis_runs(ex);
            runs.len() == 2 && runs.iter().all(|r| r.2 == AnalysisPhase::Successful)
        };
        let ex = wait_experiment(&env, name, "both analyses Successful", done).await;
        assert_eq!(
            analysis_runs(&ex).into_iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
            [
                ("random-fail".to_string(), format!("{name}-random-fail")),
                ("pass".to_string(), format!("{name}-pass")),
            ]
        );
        assert_eq!(phase(&ex), Some(AnalysisPhase::Running), "nothing required and no duration: it keeps running");
        let runs: Api<serin::api::analysis::AnalysisRun> = env.s.api();
        let run = runs.get(&format!("{name}-pass")).await.expect("the run");
        let owner = &run.metadata.owner_references.clone().unwrap_or_default()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("Experiment", name, Some(true)));
        let started = run.metadata.creation_timestamp.clone().expect("created").0;
        let available = ex.status.as_ref().and_then(|s| s.available_at.clone()).expect("availableAt").0;
        assert!(started >= available, "the runs start once every template runs");

        // A required analysis that passes ends the experiment; its arguments name the template's ReplicaSet.
        env.apply(&crate::rollout::fixture::template("score", None)).await;
        let good = crate::rollout::fixture::app(1).await;
        env.apply(&judged("judged-good", &good.url, true)).await;
        let ex = wait_experiment(&env, "judged-good", "Successful", |ex| phase(ex) == Some(AnalysisPhase::Successful)).await;
        let message = ex.status.as_ref().and_then(|s| s.message.clone());
        assert_eq!(message.as_deref(), Some("Required AnalysisRuns completed"));
        let rss: Api<ReplicaSet> = env.s.api();
        let rs = rss.get("judged-good-baseline").await.expect("rs");
        let hash = rs.metadata.labels.clone().unwrap_or_default()["rollouts-pod-template-hash"].clone();
        let run = runs.get("judged-good-judge").await.expect("the run");
        let args: Vec<(String, Option<String>)> = run.spec.args.iter().flatten().map(|a| (a.name.clone(), a.value.clone())).collect();
        assert!(args.contains(&("hash".to_string(), Some(format!("{hash}/judged-good-baseline")))), "{args:?}");
        let dry: Vec<String> = run.spec.dry_run.iter().flatten().map(|d| d.metric_name.clone()).collect();
        assert_eq!(dry, ["sco.*"], "the experiment's dry-run rules");
        assert_eq!(run.spec.measurement_retention.as_ref().map(|r| r.len()), Some(1));
        assert_eq!(run.metadata.labels.clone().unwrap_or_default().get("team").map(String::as_str), Some("qa"));

        // One that fails fails the experiment with the run's message, and the templates go.
        let bad = crate::rollout::fixture::app(0).await;
        env.apply(&judged("judged-bad", &bad.url, false)).await;
        let ex = wait_experiment(&env, "judged-bad", "Failed", |ex| phase(ex) == Some(AnalysisPhase::Failed)).await;
        assert_eq!(analysis_runs(&ex), [("judge".to_string(), "judged-bad-judge".to_string(), AnalysisPhase::Failed)]);
        let start = Instant::now();
        while replicas(&env, "judged-bad-baseline").await != Some(0) {
            assert!(start.elapsed() < WAIT, "the failed experiment's template was not scaled down");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // Events are written in the background: wait for this one.
        crate::e2e::wait::eventually("the failed run's event on the experiment", || async {
            let events = crate::rollout::fixture::events_of_kind(&env, "Experiment", "judged-bad").await;
            events
                .iter()
                .any(|e| e.starts_with("Warning AnalysisRunFailed: AnalysisRun 'judge' transitioned from Pending -> Failed")
                    || e.starts_with("Warning AnalysisRunFailed: AnalysisRun 'judge' transitioned from Running -> Failed"))
                .then_some(())
        })
        .await;

        // A template that does not exist errs the experiment before anything is measured.
        let missing = upstream("experiment-basic.yaml")
            .replace("generateName: experiment-basic-", "name: unknown-template")
            .replace("  templates:\n", "  analyses:\n  - {name: a, templateName: missing}\n  templates:\n");
        env.apply(&missing).await;
        let ex = wait_experiment(&env, "unknown-template", "Error", |ex| phase(ex) == Some(AnalysisPhase::Error)).await;
        let entry = ex.status.clone().and_then(|s| s.analysis_runs).expect("entries")[0].clone();
        assert_eq!(entry.analysis_run, "");
        assert!(
            entry.message.as_deref().is_some_and(|m| m.starts_with("AnalysisTemplate verification failed for analysis 'a': ")),
            "{entry:?}"
        );
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_templates_service_selects_its_pods_while_it_runs(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&upstream("experiment-with-service.yaml")).await;
        let name = "experiment-with-service";
        let ex = wait_experiment(&env, name, "Running with its Service", |ex| {
            phase(ex) == Some(AnalysisPhase::Running)
                && ex.status.iter().flat_map(|s| s.template_statuses.iter().flatten()).any(|t| t.service_name.is_some())
        })
        .await;
        let t = ex.status.clone().and_then(|s| s.template_statuses).expect("statuses")[0].clone();
        assert_eq!(t.service_name.as_deref(), Some("experiment-with-service-test"));
        let services: Api<k8s_openapi::api::core::v1::Service> = env.s.api();
        let svc = services.get("experiment-with-service-test").await.expect("the template's Service");
        let spec = svc.spec.clone().expect("spec");
        let selector = spec.selector.clone().unwrap_or_default();
        assert_eq!(selector.get("rollouts-pod-template-hash"), t.pod_template_hash.as_ref(), "selects the template's pods by hash");
        assert_eq!(selector.len(), 1);
        let ports: Vec<(i32, Option<String>)> = spec.ports.iter().flatten().map(|p| (p.port, p.protocol.clone())).collect();
        assert_eq!(ports, [(8080, Some("TCP".to_string()))]);
        let owner = &svc.metadata.owner_references.clone().unwrap_or_default()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Experiment", name));

        // 10 s, then a 5 s delay: the ReplicaSet goes to zero and the Service with it.
        wait_experiment(&env, name, "Successful", |ex| phase(ex) == Some(AnalysisPhase::Successful)).await;
        let ex = wait_experiment(&env, name, "the Service gone from the status", |ex| {
            ex.status.iter().flat_map(|s| s.template_statuses.iter().flatten()).all(|t| t.service_name.is_none())
        })
        .await;
        assert_eq!(phase(&ex), Some(AnalysisPhase::Successful));
        assert!(services.get_opt("experiment-with-service-test").await.expect("read").is_none(), "the Service is deleted");
        assert_eq!(replicas(&env, "experiment-with-service-test").await, Some(0));
        env.stop().await;
    }
}

/// The Rollout's Experiments, oldest first.
async fn experiments_of(env: &Env<'_>, rollout: &str) -> Vec<Experiment> {
    let ro = env.rollout(rollout).await;
    let uid = ro.metadata.uid.clone().unwrap_or_default();
    let api: Api<Experiment> = env.s.api();
    let mut out: Vec<Experiment> = api
        .list(&Default::default())
        .await
        .expect("experiments")
        .items
        .into_iter()
        .filter(|e| {
            e.metadata.owner_references.iter().flatten().any(|o| o.uid == uid && o.controller == Some(true))
        })
        .collect();
    out.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    out
}

on_both_substrates! {
    async fn an_experiment_step_runs_the_stable_and_canary_side_by_side_and_moves_on_when_it_succeeds(s: &Substrate) {
        use serin::api::rollout::PauseReason;
        let env = Env::start(s).await;
        let name = "rollout-experiment";
        env.apply(&upstream("rollout-experiment-analysis.yaml")).await;
        let (ro, _) = env.wait_healthy(name).await;
        let stable = crate::rollout::fixture::status_of(&ro).stable_rs.expect("stable");
        env.set_first_image(name, "nginx:1.20-alpine").await;
        let (ro, _) = env
            .wait(name, "paused at the step after the experiment", |ro, _| {
                let s = crate::rollout::fixture::status_of(ro);
                s.current_step_index == Some(1)
                    && s.pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::CanaryPauseStep)
            })
            .await;
        let status = crate::rollout::fixture::status_of(&ro);
        let canary = status.current_pod_hash.clone().expect("current hash");
        assert_eq!(status.canary.as_ref().and_then(|c| c.current_experiment.clone()), None, "done with it");

        let exs = experiments_of(&env, name).await;
        assert_eq!(exs.len(), 1, "one experiment");
        let ex = &exs[0];
        let ex_name = format!("{name}-{canary}-2-0");
        assert_eq!(ex.metadata.name.as_deref(), Some(ex_name.as_str()));
        assert_eq!(phase(ex), Some(AnalysisPhase::Successful));
        assert_eq!(ex.status.as_ref().and_then(|s| s.message.clone()).as_deref(), Some("Required AnalysisRuns completed"));
        assert_eq!(ex.metadata.labels.clone().unwrap_or_default().get("rollouts-pod-template-hash"), Some(&canary));
        let images: Vec<String> = ex.spec.templates.iter().map(|t| t.template.spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default()).collect();
        assert_eq!(images, ["nginx:1.19-alpine", "nginx:1.20-alpine"], "baseline from stable, canary from canary");

        let rss: Api<ReplicaSet> = env.s.api();
        let baseline = rss.get(&format!("{ex_name}-baseline")).await.expect("baseline rs");
        let canary_rs = rss.get(&format!("{ex_name}-canary")).await.expect("canary rs");
        let hash_of = |rs: &ReplicaSet| rs.metadata.labels.clone().unwrap_or_default()["rollouts-pod-template-hash"].clone();
        let runs: Api<serin::api::analysis::AnalysisRun> = env.s.api();
        let run = runs.get(&format!("{ex_name}-echo-pod-hash")).await.expect("the experiment's run");
        let args: std::collections::BTreeMap<String, Option<String>> = run.spec.args.iter().flatten().map(|a| (a.name.clone(), a.value.clone())).collect();
        assert_eq!(args.get("stable-hash"), Some(&Some(stable.clone())));
        assert_eq!(args.get("latest-hash"), Some(&Some(canary.clone())));
        assert_eq!(args.get("baseline-hash"), Some(&Some(hash_of(&baseline))));
        assert_eq!(args.get("canary-hash"), Some(&Some(hash_of(&canary_rs))));
        // The experiment's pods never carry the Rollout's hashes: the Rollout's Services never select them.
        assert_ne!(hash_of(&baseline), stable);
        assert_ne!(hash_of(&canary_rs), canary);
        assert_ne!(hash_of(&baseline), hash_of(&canary_rs));
        let pod_spec = |rs: &ReplicaSet| serde_json::to_value(rs.spec.template.as_ref().and_then(|t| t.spec.clone())).unwrap();
        let rollout_rss = env.replica_sets(&ro).await;
        let stable_rs = rollout_rss.iter().find(|rs| hash_of(rs) == stable).expect("stable rs");
        assert_eq!(pod_spec(&baseline), pod_spec(stable_rs), "specRef: stable copies the stable pods");

        // Events are written in the background: wait for both, the experiment's analysis heard on the Rollout.
        let created = format!("Normal ExperimentCreated: Created Experiment '{ex_name}'");
        crate::e2e::wait::eventually("the experiment's events on the Rollout", || async {
            let events = crate::rollout::fixture::events_of(&env, name).await;
            (events.contains(&created)
                && events.iter().any(|e| e.starts_with("Warning AnalysisRunSuccessful: AnalysisRun 'echo-pod-hash' transitioned from")))
            .then_some(())
        })
        .await;

        env.promote(name).await;
        env.wait_healthy(name).await;
        let start = Instant::now();
        while replicas(&env, &format!("{ex_name}-canary")).await != Some(0) {
            assert!(start.elapsed() < WAIT * 2, "the experiment's ReplicaSets are scaled down after its delay");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_failed_experiment_aborts_the_rollout_and_one_left_behind_is_terminated(s: &Substrate) {
        let env = Env::start(s).await;
        let bad = crate::rollout::fixture::app(0).await;
        env.apply(&crate::rollout::fixture::template("score", None)).await;
        let name = "judged-step";
        env.apply(&crate::rollout::fixture::services(name)).await;
        let strategy = format!(
            r#"steps:
- setWeight: 20
- experiment:
    templates:
    - {{name: canary, specRef: canary}}
    analyses:
    - name: judge
      templateName: score
      requiredForCompletion: true
      args:
      - {{name: url, value: "{}"}}
      - {{name: hash, valueFrom: {{podTemplateHashValue: Latest}}}}
- pause: {{}}"#,
            bad.url
        );
        env.apply(&crate::rollout::fixture::canary_rollout(name, 2, "nginx:1", &strategy)).await;
        env.wait_healthy(name).await;
        env.set_image(name, "nginx:2").await;
        let (ro, _) = env
            .wait(name, "aborted", |ro, _| crate::rollout::fixture::status_of(ro).abort == Some(true))
            .await;
        let status = crate::rollout::fixture::status_of(&ro);
        let exs = experiments_of(&env, name).await;
        assert_eq!(exs.len(), 1);
        assert_eq!(phase(&exs[0]), Some(AnalysisPhase::Failed));
        let message = exs[0].status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default();
        assert!(!message.is_empty(), "the experiment says why");
        assert!(
            status.message.as_deref().is_some_and(|m| m.contains(&message)),
            "the Rollout's message carries the experiment's: {:?} / {message:?}",
            status.message
        );
        env.wait(name, "Degraded", |ro, _| {
            crate::rollout::fixture::status_of(ro).phase == Some(serin::api::rollout::RolloutPhase::Degraded)
        })
        .await;

        // A new revision whose experiment never ends: promoted past the step, the experiment is terminated.
        bad.score.store(1, std::sync::atomic::Ordering::SeqCst);
        env.apply(&crate::rollout::fixture::template("score-forever", Some("2s"))).await;
        let strategy = strategy
            .replace("requiredForCompletion: true", "requiredForCompletion: false")
            .replace("templateName: score\n", "templateName: score-forever\n");
        env.apply(&crate::rollout::fixture::canary_rollout(name, 2, "nginx:3", &strategy)).await;
        let running = |exs: &[Experiment]| exs.iter().any(|e| phase(e) == Some(AnalysisPhase::Running));
        let start = Instant::now();
        let current = loop {
            let exs = experiments_of(&env, name).await;
            if running(&exs) {
                break exs.into_iter().find(|e| phase(e) == Some(AnalysisPhase::Running)).expect("running");
            }
            assert!(start.elapsed() < WAIT * 2, "no running experiment for the new revision: {exs:#?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let ro = env.rollout(name).await;
        let status = crate::rollout::fixture::status_of(&ro);
        assert_eq!(status.current_step_index, Some(1));
        assert_eq!(status.canary.and_then(|c| c.current_experiment), current.metadata.name.clone());
        env.patch_status(name, r#"{"status":{"currentStepIndex":2}}"#).await;
        let ex_name = current.metadata.name.clone().expect("name");
        let ex = wait_experiment(&env, &ex_name, "terminated and ended", |ex| {
            ex.spec.terminate == Some(true) && phase(ex).is_some_and(|p| p.completed())
        })
        .await;
        assert_ne!(phase(&ex), Some(AnalysisPhase::Failed));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn upstreams_other_experiment_examples_reach_their_phases(s: &Substrate) {
        let env = Env::start(s).await;
        for file in [
            "experiment-dry-run-analysis.yaml",
            "experiment-measurement-retention-analysis.yaml",
            "experiment-with-multiport-service.yaml",
            "experiment-with-service-name.yaml",
            "experiment-same-template.yaml",
        ] {
            env.apply(&upstream(file).replace("generateName: experiment-same-template-", "name: experiment-same-template")).await;
        }
        let services: Api<k8s_openapi::api::core::v1::Service> = env.s.api();
        let running = |ex: &Experiment| {
            phase(ex) == Some(AnalysisPhase::Running)
                && ex.status.iter().flat_map(|s| s.template_statuses.iter().flatten()).all(|t| t.service_name.is_some())
        };
        wait_experiment(&env, "experiment-with-multiport-service", "Running with its Service", running).await;
        let svc = services.get("experiment-with-multiport-service-test").await.expect("service");
        let ports: Vec<(Option<String>, i32)> = svc.spec.and_then(|s| s.ports).unwrap_or_default().into_iter().map(|p| (p.name, p.port)).collect();
        assert_eq!(
            ports,
            [(Some("testport1".into()), 8080), (Some("testport2".into()), 8081), (Some("testport3".into()), 8082)],
            "one port per container port"
        );
        wait_experiment(&env, "experiment-with-service-name", "Running with its Service", running).await;
        assert!(services.get_opt("test-service-name").await.expect("read").is_some(), "service.name names the Service");

        let same = wait_experiment(&env, "experiment-same-template", "Running", |ex| phase(ex) == Some(AnalysisPhase::Running)).await;
        let hashes: Vec<Option<String>> = {
            let rss: Api<ReplicaSet> = env.s.api();
            let mut out = Vec::new();
            for t in ["first", "second"] {
                let rs = rss.get(&format!("experiment-same-template-{t}")).await.expect("rs");
                out.push(rs.metadata.labels.unwrap_or_default().get("rollouts-pod-template-hash").cloned());
            }
            out
        };
        assert_ne!(hashes[0], hashes[1], "two templates with the same pods get hashes of their own: {same:?}");

        let runs: Api<serin::api::analysis::AnalysisRun> = env.s.api();
        for name in ["experiment-with-dry-run", "experiment-with-mr", "experiment-same-template"] {
            wait_experiment(&env, name, "Successful", |ex| phase(ex) == Some(AnalysisPhase::Successful)).await;
        }
        let dry = runs.get("experiment-with-dry-run-dry-run-job").await.expect("the dry-run run");
        let summary = dry.status.and_then(|s| s.dry_run_summary).expect("a dry-run summary");
        assert_eq!(summary.count, Some(1), "{summary:?}");
        let start = Instant::now();
        loop {
            let mr = runs.get("experiment-with-mr-measurement-retention-job").await.expect("the retention run");
            let status = mr.status.clone().unwrap_or_default();
            let done = status.phase.as_ref().is_some_and(|p| p.completed());
            let kept = status.metric_results.iter().flatten().map(|m| m.measurements.as_ref().map_or(0, Vec::len)).next();
            if done {
                assert_eq!(kept, Some(2), "measurementRetention keeps two: {status:?}");
                break;
            }
            assert!(start.elapsed() < WAIT * 2, "the retention run was not stopped with its experiment: {status:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        env.stop().await;
    }
}

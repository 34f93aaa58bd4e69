//! Experiments end to end, on both substrates: upstream's basic Experiment runs its two templates for its
//! duration, succeeds, and its ReplicaSets are scaled down after the delay; a template's Service selects its
//! pods while it runs; `terminate` ends one without a duration; what this version cannot reconcile yet is
//! refused with an `InvalidSpec` condition.

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
    async fn terminate_ends_an_experiment_without_a_duration_and_unsupported_ones_are_refused(s: &Substrate) {
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

        // Analyses are not reconciled yet: refused, nothing created.
        let with_analysis = upstream("experiment-basic.yaml")
            .replace("generateName: experiment-basic-", "name: analysed")
            .replace("  templates:\n", "  analyses:\n  - {name: a, templateName: missing}\n  templates:\n");
        env.apply(&with_analysis).await;
        let ex = wait_experiment(&env, "analysed", "refused", |ex| {
            ex.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == ExperimentConditionType::InvalidSpec)
        })
        .await;
        let invalid = ex.status.iter().flat_map(|s| s.conditions.iter().flatten()).find(|c| c.type_ == ExperimentConditionType::InvalidSpec).cloned().expect("condition");
        assert_eq!(invalid.message, "spec.analyses: analyses in Experiments is not supported by this version of serin yet");
        assert_eq!(replicas(&env, "analysed-baseline").await, None, "nothing is created");
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

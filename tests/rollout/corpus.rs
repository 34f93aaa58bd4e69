//! Upstream's router-less canary, blue-green and workloadRef examples, applied unchanged (with the templates file upstream
//! tells users to apply first), reach Healthy on both substrates.

use super::fixture::{Env, settled_split, status_of};
use crate::support::{corpus_root, read_manifest};
use serin::api::decode::parse_stream;

/// The examples that are canaries without a traffic router.
const EXAMPLES: &[&str] = &[
    "examples/rollout-canary.yaml",
    "examples/rollout-experiment-step.yaml",
    "examples/rollout-rolling-update.yaml",
    "examples/rollout-analysis-step.yaml",
    "examples/rollout-background-analysis.yaml",
    "examples/rollout-secret.yaml",
    "examples/notifications/rollout-canary.yaml",
    "examples/rollout-bluegreen.yaml",
    "test/e2e/functional/rollout-bluegreen.yaml",
    "examples/workload-ref/workload-ref.yaml",
];

/// Kinds these tests apply (the Ingress of the notifications example is not used by its Rollout).
const KINDS: &[&str] =
    &["Rollout", "Service", "Secret", "AnalysisTemplate", "ClusterAnalysisTemplate", "Deployment"];

fn documents(rel: &str) -> (String, Vec<String>) {
    let (text, _) = read_manifest(&corpus_root(), rel);
    let mut kept = Vec::new();
    let mut rollouts = Vec::new();
    for doc in parse_stream(&text) {
        let Ok(value) = doc.value else { continue };
        let kind = value["kind"].as_str().unwrap_or("");
        if !KINDS.contains(&kind) {
            continue;
        }
        if kind == "Rollout" {
            rollouts.push(value["metadata"]["name"].as_str().unwrap_or("").to_string());
        }
        kept.push(serde_json::to_string(&value).expect("json"));
    }
    (kept.join("\n---\n"), rollouts)
}

on_both_substrates! {
    async fn upstreams_router_less_canary_and_blue_green_examples_reach_healthy(s: &Substrate) {
        let env = Env::start(s).await;
        for templates in ["examples/analysis-templates.yaml", "examples/cluster-analysis-templates.yaml"] {
            env.apply(&documents(templates).0).await;
        }
        let mut all = Vec::new();
        for rel in EXAMPLES {
            let (manifest, rollouts) = documents(rel);
            assert!(!rollouts.is_empty(), "{rel} holds a Rollout");
            env.apply(&manifest).await;
            all.extend(rollouts.into_iter().map(|r| (rel, r)));
        }
        for (rel, name) in &all {
            let (ro, rss) = env.wait_healthy(name).await;
            let replicas = ro.spec.replicas.unwrap_or(1);
            assert_eq!(settled_split(&ro, &rss), Some((replicas, 0)), "{rel}: {name}");
            assert!(status_of(&ro).stable_rs.is_some(), "{rel}: {name}");
        }
        println!("{}: {} upstream example Rollouts Healthy", s.kind.name(), all.len());
        env.stop().await;
    }
}

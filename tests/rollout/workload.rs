//! `workloadRef`, on both substrates: a Rollout takes its pod template from a Deployment, follows it when it
//! changes, never writes it back, scales the Deployment down as upstream's `scaleDown` modes say, and names a
//! missing workload in its `InvalidSpec` condition until it appears.

use super::fixture::{Env, settled_split, sizes, status_of};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serin::api::rollout::RolloutPhase;
use std::time::{Duration, Instant};

/// A Deployment `name` of `replicas` pods running `image`.
fn deployment(name: &str, replicas: i32, image: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: app, image: "{image}"}}]
"#
    )
}

/// A canary Rollout of `replicas` pods whose template is the Deployment `name`'s.
fn rollout(name: &str, replicas: i32, scale_down: Option<&str>) -> String {
    let scale_down = scale_down.map(|m| format!("\n    scaleDown: {m}")).unwrap_or_default();
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {name}{scale_down}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {{duration: 1s}}
"#
    )
}

async fn deployment_replicas(env: &Env<'_>, name: &str) -> i32 {
    let api: Api<Deployment> = env.s.api();
    let d = api.get(name).await.unwrap_or_else(|e| panic!("get deployment {name}: {e}"));
    d.spec.replicas.unwrap_or(1)
}

/// Watches the Deployment until it has `want` replicas, checking on the way that the Deployment's pods and the
/// Rollout's ready ones never fall below `replicas` together (read in that order, so a later scale-down of the
/// Deployment is always matched by the readiness it followed).
async fn wait_deployment(env: &Env<'_>, name: &str, want: i32, replicas: i32) {
    let start = Instant::now();
    loop {
        let deployed = deployment_replicas(env, name).await;
        let ro = env.rollout(name).await;
        let ready = status_of(&ro).ready_replicas.unwrap_or(0);
        assert!(
            deployed + ready >= replicas,
            "{name}: the Deployment went to {deployed} while the Rollout had {ready} ready pods"
        );
        if deployed == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{name}: the Deployment stayed at {deployed}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_substrates! {
    async fn a_rollout_takes_over_from_a_deployment_in_each_scale_down_mode(s: &Substrate) {
        let env = Env::start(s).await;
        let mut manifests = String::new();
        for (name, mode) in [("wl-never", Some("never")), ("wl-default", None), ("wl-success", Some("onsuccess")), ("wl-progressive", Some("progressively"))] {
            manifests.push_str(&deployment(name, 2, "app:v1"));
            manifests.push_str("---\n");
            manifests.push_str(&rollout(name, 2, mode));
            manifests.push_str("---\n");
        }
        env.apply(&manifests).await;
        for name in ["wl-never", "wl-default", "wl-success", "wl-progressive"] {
            let (ro, rss) = env.wait_healthy(name).await;
            assert_eq!(settled_split(&ro, &rss), Some((2, 0)), "{name}: {:?}", sizes(&rss));
            // The template is read, not written: the stored Rollout still has none.
            assert!(ro.spec.template.is_none(), "{name}: the workload's template was written into the Rollout");
            let annotations = ro.metadata.annotations.clone().unwrap_or_default();
            let recorded = annotations.get("rollout.argoproj.io/workload-generation").cloned();
            assert!(recorded.is_some(), "{name}: no workload generation recorded");
            if matches!(name, "wl-never" | "wl-default") {
                // Nothing scaled these Deployments: their first generation is the one worked from.
                assert_eq!(recorded.as_deref(), Some("1"), "{name}");
                assert_eq!(status_of(&ro).workload_observed_generation.as_deref(), Some("1"), "{name}");
            }
        }
        wait_deployment(&env, "wl-success", 0, 2).await;
        wait_deployment(&env, "wl-progressive", 0, 2).await;
        assert_eq!(deployment_replicas(&env, "wl-never").await, 2);
        assert_eq!(deployment_replicas(&env, "wl-default").await, 2);
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_change_of_the_deployments_template_is_an_update_of_the_rollout(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&format!("{}---\n{}", deployment("wl-follow", 0, "app:v1"), rollout("wl-follow", 2, None))).await;
        let (ro, _) = env.wait_healthy("wl-follow").await;
        let v1 = status_of(&ro).stable_rs.expect("stable");
        env.kubectl(&["set", "image", "deployment/wl-follow", "app=app:v2"], None).await;
        let (ro, rss) = env
            .wait("wl-follow", "Healthy on the Deployment's new template", |ro, _| {
                let s = status_of(ro);
                s.phase == Some(RolloutPhase::Healthy)
                    && s.stable_rs.as_deref().is_some_and(|h| h != v1)
                    && s.workload_observed_generation.as_deref() == Some("2")
            })
            .await;
        assert_eq!(rss.len(), 2, "{:?}", sizes(&rss));
        assert_eq!(settled_split(&ro, &rss), Some((2, 0)));
        let image = rss.iter().find(|rs| rs.spec.replicas == Some(2)).and_then(|rs| {
            rs.spec.template.as_ref()?.spec.as_ref()?.containers.first()?.image.clone()
        });
        assert_eq!(image.as_deref(), Some("app:v2"));
        assert_eq!(ro.metadata.annotations.unwrap_or_default().get("rollout.argoproj.io/revision").map(String::as_str), Some("2"));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_missing_workload_is_an_invalid_spec_until_it_exists(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&rollout("wl-late", 1, None)).await;
        let detail = r#"spec.workloadRef: Invalid value: &v1alpha1.ObjectRef{APIVersion:"apps/v1", Kind:"Deployment", Name:"wl-late", ScaleDown:""}: deployments.apps "wl-late" not found"#;
        env.wait_phase("wl-late", RolloutPhase::Degraded, &format!("InvalidSpec: The Rollout \"wl-late\" is invalid: {detail}")).await;
        // The Deployment appearing is a change the Rollout follows at once.
        env.apply(&deployment("wl-late", 0, "app:v1")).await;
        let (ro, rss) = env.wait_healthy("wl-late").await;
        assert_eq!(settled_split(&ro, &rss), Some((1, 0)));
        env.stop().await;
    }
}

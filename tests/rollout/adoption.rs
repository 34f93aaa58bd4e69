//! Moving from Argo Rollouts, on both substrates: Rollouts left by Argo Rollouts' controller (ReplicaSets named,
//! labelled, annotated and owned as it creates them, hashes from its own Go functions, the status it writes,
//! Services it switched) are taken over with no ReplicaSet created, no pod deleted or created and no Service
//! touched: a Healthy canary, a canary paused at its first step, and a blue-green Rollout with a preview.

use super::fixture::{Env, HASH_LABEL, sizes, status_of};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use serin::api::rollout::{PauseReason, RolloutPhase};
use std::collections::BTreeMap;
use std::io::Write;

/// Argo Rollouts' own hash of a template or a step list (`tests/podhash`, upstream's `hash` and
/// `conditions` packages), or serin's port of it where the real control plane's tools are skipped.
fn argo_hash(case: Value) -> String {
    if std::env::var(crate::e2e::controlplane::SKIP_VAR).is_ok_and(|v| !v.is_empty() && v != "0") {
        return match case.get("template") {
            Some(t) => serin::strategy::hash::pod_template_hash(t, None).expect("hash"),
            None => serin::strategy::hash::step_hash(case.get("steps")).expect("step hash"),
        };
    }
    let bin = crate::e2e::controlplane::bin_dir().expect("control plane bin dir").join("podhash");
    let mut child = std::process::Command::new(&bin)
        .arg("hash")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    child.stdin.take().expect("stdin").write_all(format!("{case}\n").as_bytes()).expect("write case");
    let out = child.wait_with_output().expect("podhash");
    assert!(out.status.success(), "podhash failed");
    String::from_utf8(out.stdout).expect("utf-8").split('\t').next().expect("hash").to_string()
}

fn template(name: &str, image: &str) -> Value {
    json!({"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}})
}

/// Argo Rollouts' objects for one Rollout: what it had created and written before it was stopped.
struct Left<'a> {
    name: &'a str,
    replicas: i32,
    strategy: Value,
    /// (image, revision, replicas) of each ReplicaSet, oldest first.
    sets: Vec<(&'a str, i32, i32)>,
    /// Service name → the image whose hash it selects.
    services: Vec<(String, &'a str)>,
}

/// What a Rollout's world looks like: its ReplicaSets' (name, uid, replicas), its pods' uids, and its Services'
/// (name, resourceVersion, selected hash).
#[derive(Debug, PartialEq)]
struct World {
    sets: Vec<(String, String, i32)>,
    pods: Vec<String>,
    services: Vec<(String, String, String)>,
}

async fn world(env: &Env<'_>, name: &str, services: &[String]) -> World {
    let ro = env.rollout(name).await;
    let rss = env.replica_sets(&ro).await;
    let sets = rss
        .iter()
        .map(|rs| {
            (
                rs.metadata.name.clone().unwrap_or_default(),
                rs.metadata.uid.clone().unwrap_or_default(),
                rs.spec.replicas.unwrap_or(0),
            )
        })
        .collect();
    let pods: Api<Pod> = env.s.api();
    let mut pods: Vec<String> = pods
        .list(&ListParams::default().labels(&format!("app={name}")))
        .await
        .expect("pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| p.metadata.uid.unwrap_or_default())
        .collect();
    pods.sort();
    let api: Api<Service> = env.s.api();
    let mut svcs = Vec::new();
    for s in services {
        let svc = api.get(s).await.expect("service");
        let hash =
            svc.spec.and_then(|s| s.selector).and_then(|s| s.get(HASH_LABEL).cloned()).unwrap_or_default();
        svcs.push((s.clone(), svc.metadata.resource_version.unwrap_or_default(), hash));
    }
    World { sets, pods, services: svcs }
}

/// Creates what Argo Rollouts would have left: the Rollout, its ReplicaSets (their pods up), its Services,
/// then the status it wrote, with `status` completing it. Returns the hashes by image.
async fn leave(
    env: &Env<'_>,
    left: &Left<'_>,
    status: impl Fn(&BTreeMap<String, String>) -> Value,
) -> BTreeMap<String, String> {
    let name = left.name;
    let images: Vec<&str> = left.sets.iter().map(|(i, _, _)| *i).collect();
    let hashes: BTreeMap<String, String> =
        images.iter().map(|i| (i.to_string(), argo_hash(json!({"template": template(name, i)})))).collect();
    let latest = images.last().expect("a ReplicaSet");
    let revision = left.sets.last().expect("a ReplicaSet").1;
    let rollout = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "annotations": {"rollout.argoproj.io/revision": revision.to_string()}},
        "spec": {
            "replicas": left.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, latest),
            "strategy": left.strategy,
        }
    });
    env.apply(&rollout.to_string()).await;
    let ro = env.rollout(name).await;
    let uid = ro.metadata.uid.clone().expect("uid");
    for (image, revision, replicas) in &left.sets {
        let hash = &hashes[*image];
        let mut t = template(name, image);
        t["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": format!("{name}-{hash}"),
                "labels": {"app": name, HASH_LABEL: hash},
                "annotations": {
                    "rollout.argoproj.io/revision": revision.to_string(),
                    "rollout.argoproj.io/desired-replicas": left.replicas.to_string(),
                },
                "ownerReferences": [{
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name, "uid": uid,
                    "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name, HASH_LABEL: hash}}, "template": t},
        });
        env.apply(&rs.to_string()).await;
    }
    for (svc, image) in &left.services {
        let service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc, "annotations": {"argo-rollouts.argoproj.io/managed-by-rollouts": name}},
            "spec": {"selector": {"app": name, HASH_LABEL: hashes[*image]}, "ports": [{"port": 80, "targetPort": 8080}]},
        });
        env.apply(&service.to_string()).await;
    }
    let want: Vec<(String, i32)> = left.sets.iter().map(|(i, _, r)| (hashes[*i].clone(), *r)).collect();
    env.wait(name, "Argo's ReplicaSets up", |_, rss| {
        let now = sizes(rss);
        want.iter().all(|(h, r)| now.iter().any(|(nh, s, a)| nh == h && s == r && a == r))
    })
    .await;
    let mut st = status(&hashes);
    st["observedGeneration"] = json!(ro.metadata.generation.unwrap_or(1).to_string());
    env.patch_status(name, &json!({"status": st}).to_string()).await;
    hashes
}

/// serin starts, and a harmless edit makes it write the status (its observedGeneration) without anything else.
async fn take_over(env: &mut Env<'_>, name: &str) {
    env.start_controller().await;
    env.patch_spec(name, r#"{"spec":{"revisionHistoryLimit":4}}"#).await;
    env.wait(name, "the edit observed", |ro, _| {
        status_of(ro).observed_generation == Some(ro.metadata.generation.unwrap_or(0).to_string())
    })
    .await;
}

fn conditions(now: &str) -> Value {
    let c = |t: &str, s: &str, reason: &str, message: &str| json!({"type": t, "status": s, "reason": reason, "message": message, "lastUpdateTime": now, "lastTransitionTime": now});
    json!([
        c("Available", "True", "AvailableReason", "Rollout has minimum availability"),
        c("Progressing", "True", "NewReplicaSetAvailable", "Rollout has completed"),
        c("Healthy", "True", "RolloutHealthy", "Rollout is healthy"),
        c("Completed", "True", "RolloutCompleted", "RolloutCompleted"),
    ])
}

fn now() -> String {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).expect("now").to_string()
}

on_both_substrates! {
    async fn a_healthy_canary_left_by_argo_rollouts_is_taken_over_as_it_is(s: &Substrate) {
        let mut env = Env { s, controller: None };
        let steps = json!([{"setWeight": 50}, {"pause": {}}]);
        let step_hash = argo_hash(json!({"steps": steps}));
        let left = Left {
            name: "mig-healthy",
            replicas: 2,
            strategy: json!({"canary": {"stableService": "mig-healthy-stable", "canaryService": "mig-healthy-canary", "steps": steps}}),
            sets: vec![("app:v1", 1, 0), ("app:v2", 2, 2)],
            services: vec![("mig-healthy-stable".into(), "app:v2"), ("mig-healthy-canary".into(), "app:v2")],
        };
        let at = now();
        let hashes = leave(&env, &left, |h| json!({
            "stableRS": h["app:v2"], "currentPodHash": h["app:v2"], "currentStepHash": step_hash, "currentStepIndex": 2,
            "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "HPAReplicas": 2,
            "selector": "app=mig-healthy", "phase": "Healthy", "conditions": conditions(&at), "canary": {}, "blueGreen": {},
        })).await;
        let services: Vec<String> = left.services.iter().map(|(s, _)| s.clone()).collect();
        let before = world(&env, "mig-healthy", &services).await;
        take_over(&mut env, "mig-healthy").await;
        let (ro, _) = env.wait_healthy("mig-healthy").await;
        assert_eq!(world(&env, "mig-healthy", &services).await, before, "taken over as it was");
        let status = status_of(&ro);
        assert_eq!((status.stable_rs.as_deref(), status.current_pod_hash.as_deref()), (Some(hashes["app:v2"].as_str()), Some(hashes["app:v2"].as_str())));
        assert_eq!(status.current_step_index, Some(2));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_canary_paused_at_its_first_step_carries_on_from_there(s: &Substrate) {
        let mut env = Env { s, controller: None };
        let steps = json!([{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]);
        let step_hash = argo_hash(json!({"steps": steps}));
        let left = Left {
            name: "mig-paused",
            replicas: 4,
            strategy: json!({"canary": {"stableService": "mig-paused-stable", "canaryService": "mig-paused-canary", "steps": steps}}),
            // setWeight 25 of 4 pods with upstream's default surge and unavailability: one canary, three stable.
            sets: vec![("app:v1", 1, 3), ("app:v2", 2, 1)],
            services: vec![("mig-paused-stable".into(), "app:v1"), ("mig-paused-canary".into(), "app:v2")],
        };
        let at = now();
        let hashes = leave(&env, &left, |h| json!({
            "stableRS": h["app:v1"], "currentPodHash": h["app:v2"], "currentStepHash": step_hash, "currentStepIndex": 1,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": at}], "controllerPause": true,
            "replicas": 4, "updatedReplicas": 1, "readyReplicas": 4, "availableReplicas": 4, "HPAReplicas": 4,
            "selector": "app=mig-paused", "phase": "Paused", "message": "CanaryPauseStep",
            "conditions": [
                {"type": "Available", "status": "True", "reason": "AvailableReason", "message": "Rollout has minimum availability", "lastUpdateTime": at, "lastTransitionTime": at},
                {"type": "Progressing", "status": "Unknown", "reason": "RolloutPaused", "message": "Rollout is paused", "lastUpdateTime": at, "lastTransitionTime": at},
                {"type": "Paused", "status": "True", "reason": "RolloutPaused", "message": "Rollout is paused", "lastUpdateTime": at, "lastTransitionTime": at},
                {"type": "Healthy", "status": "False", "reason": "RolloutHealthy", "message": "Rollout is not healthy", "lastUpdateTime": at, "lastTransitionTime": at},
                {"type": "Completed", "status": "False", "reason": "RolloutCompleted", "message": "RolloutCompleted", "lastUpdateTime": at, "lastTransitionTime": at},
            ],
            "canary": {}, "blueGreen": {},
        })).await;
        let services: Vec<String> = left.services.iter().map(|(s, _)| s.clone()).collect();
        let before = world(&env, "mig-paused", &services).await;
        take_over(&mut env, "mig-paused").await;
        let ro = env.rollout("mig-paused").await;
        let status = status_of(&ro);
        assert_eq!(world(&env, "mig-paused", &services).await, before, "taken over as it was");
        assert_eq!((status.phase, status.message.as_deref()), (Some(RolloutPhase::Paused), Some("CanaryPauseStep")));
        assert_eq!(status.current_step_index, Some(1));
        assert!(status.pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::CanaryPauseStep));
        // And it goes on from there: the next weight, then done.
        env.promote("mig-paused").await;
        env.wait("mig-paused", "at the second pause", |ro, _| status_of(ro).current_step_index == Some(3)).await;
        env.promote("mig-paused").await;
        let (ro, _) = env.wait_healthy("mig-paused").await;
        assert_eq!(status_of(&ro).stable_rs.as_deref(), Some(hashes["app:v2"].as_str()));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_blue_green_rollout_with_a_preview_keeps_both_until_promoted(s: &Substrate) {
        let mut env = Env { s, controller: None };
        let left = Left {
            name: "mig-bg",
            replicas: 2,
            strategy: json!({"blueGreen": {"activeService": "mig-bg-active", "previewService": "mig-bg-preview", "autoPromotionEnabled": false}}),
            sets: vec![("app:v1", 1, 2), ("app:v2", 2, 2)],
            services: vec![("mig-bg-active".into(), "app:v1"), ("mig-bg-preview".into(), "app:v2")],
        };
        let at = now();
        let hashes = leave(&env, &left, |h| json!({
            "stableRS": h["app:v1"], "currentPodHash": h["app:v2"],
            "pauseConditions": [{"reason": "BlueGreenPause", "startTime": at}], "controllerPause": true,
            "replicas": 4, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "HPAReplicas": 2,
            "selector": format!("app=mig-bg,{HASH_LABEL}={}", h["app:v1"]), "phase": "Paused", "message": "BlueGreenPause",
            "blueGreen": {"activeSelector": h["app:v1"], "previewSelector": h["app:v2"]}, "canary": {},
        })).await;
        let services: Vec<String> = left.services.iter().map(|(s, _)| s.clone()).collect();
        let before = world(&env, "mig-bg", &services).await;
        take_over(&mut env, "mig-bg").await;
        let ro = env.rollout("mig-bg").await;
        assert_eq!(world(&env, "mig-bg", &services).await, before, "taken over as it was");
        let status = status_of(&ro);
        assert_eq!((status.phase, status.message.as_deref()), (Some(RolloutPhase::Paused), Some("BlueGreenPause")));
        env.promote("mig-bg").await;
        let (ro, _) = env.wait_healthy("mig-bg").await;
        assert_eq!(status_of(&ro).stable_rs.as_deref(), Some(hashes["app:v2"].as_str()));
        let api: Api<Service> = env.s.api();
        let active = api.get("mig-bg-active").await.expect("active");
        assert_eq!(active.spec.and_then(|s| s.selector).and_then(|s| s.get(HASH_LABEL).cloned()), Some(hashes["app:v2"].clone()));
        env.stop().await;
    }
}

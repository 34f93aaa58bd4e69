//! A router-less canary through its steps, and the user's actions on it, on both substrates.

use super::fixture::{Env, canary_rollout, roles, services, settled_split, sizes, status_of};
use serin::api::rollout::{PauseReason, RolloutPhase};

/// Waits for the pause at step `index` with the split settled, and returns (canary, stable) there.
async fn split_at_pause(env: &Env<'_>, name: &str, index: i32) -> (i32, i32) {
    let (ro, rss) = env
        .wait(name, &format!("paused at step {index} with a settled split"), |ro, rss| {
            let s = status_of(ro);
            s.current_step_index == Some(index)
                && s.pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::CanaryPauseStep)
                && settled_split(ro, rss).is_some()
        })
        .await;
    let (phase, message) = (status_of(&ro).phase, status_of(&ro).message);
    assert_eq!((phase, message.as_deref()), (Some(RolloutPhase::Paused), Some("CanaryPauseStep")));
    settled_split(&ro, &rss).expect("settled")
}

/// (replicas, maxSurge, maxUnavailable, weights, (canary, stable) expected at the pause after each weight).
type StepsCase = (i32, &'static str, &'static str, &'static [i32], &'static [(i32, i32)]);

on_both_substrates! {
    async fn a_canary_moves_through_its_steps_with_upstreams_replica_counts(s: &Substrate) {
        let env = Env::start(s).await;
        // (replicas, maxSurge, maxUnavailable, weights, (canary, stable) expected at the pause after each weight)
        let cases: [StepsCase; 4] = [
            (4, "\"25%\"", "\"25%\"", &[25, 50, 75], &[(1, 3), (2, 2), (3, 1)]),
            // With surge the split may use one pod more than spec.replicas: 3 + 8 for 25% of 10.
            (10, "1", "0", &[25, 50], &[(3, 8), (5, 5)]),
            (5, "0", "1", &[20, 60], &[(1, 4), (3, 2)]),
            (3, "\"25%\"", "\"25%\"", &[50], &[(2, 2)]),
        ];
        let mut manifests = String::new();
        for (i, (replicas, surge, unavailable, weights, _)) in cases.iter().enumerate() {
            let name = format!("steps{i}");
            let steps: String = weights.iter().map(|w| format!("- setWeight: {w}\n- pause: {{}}\n")).collect();
            let strategy = format!("maxSurge: {surge}\nmaxUnavailable: {unavailable}\nsteps:\n{steps}");
            manifests.push_str(&services(&name));
            manifests.push_str("---\n");
            manifests.push_str(&canary_rollout(&name, *replicas, "app:v1", &strategy));
            manifests.push_str("---\n");
        }
        env.apply(&manifests).await;
        for i in 0..cases.len() {
            env.wait_healthy(&format!("steps{i}")).await;
        }
        let v1_hashes: Vec<String> = {
            let mut v = Vec::new();
            for i in 0..cases.len() {
                v.push(status_of(&env.rollout(&format!("steps{i}")).await).stable_rs.expect("stable"));
            }
            v
        };
        for i in 0..cases.len() {
            env.set_image(&format!("steps{i}"), "app:v2").await;
        }
        for (i, (replicas, _, _, weights, expected)) in cases.iter().enumerate() {
            let name = format!("steps{i}");
            for (step, want) in expected.iter().enumerate() {
                let index = step as i32 * 2 + 1;
                let got = split_at_pause(&env, &name, index).await;
                assert_eq!(got, *want, "{name}: {replicas} replicas at setWeight {}", weights[step]);
                env.promote(&name).await;
            }
            let (ro, rss) = env.wait_healthy(&name).await;
            let status = status_of(&ro);
            assert_ne!(status.stable_rs.as_deref(), Some(v1_hashes[i].as_str()), "{name}: v2 is stable");
            assert_eq!(status.current_step_index, Some(weights.len() as i32 * 2));
            assert_eq!(settled_split(&ro, &rss), Some((*replicas, 0)), "{name}: {:?}", sizes(&rss));
        }
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_timed_pause_ends_by_itself_and_promote_full_skips_the_rest(s: &Substrate) {
        let env = Env::start(s).await;
        let strategy = "steps:\n- setWeight: 50\n- pause: {duration: 2s}\n- setWeight: 75\n- pause: {}\n- setWeight: 90\n- pause: {}";
        env.apply(&format!("{}---\n{}", services("timed"), canary_rollout("timed", 2, "app:v1", strategy))).await;
        env.wait_healthy("timed").await;
        env.set_image("timed", "app:v2").await;
        // The 2s pause passes without a promote; the indefinite one at step 3 waits.
        assert_eq!(split_at_pause(&env, "timed", 3).await, (2, 1));
        let ro = env.rollout("timed").await;
        let rss = env.replica_sets(&ro).await;
        assert_eq!(rss.len(), 2, "{:?}", sizes(&rss));
        // promote --full: every remaining step is skipped.
        env.patch_status("timed", r#"{"status":{"promoteFull":true}}"#).await;
        let (ro, rss) = env.wait_healthy("timed").await;
        assert_eq!(settled_split(&ro, &rss), Some((2, 0)));
        assert_eq!(status_of(&ro).current_step_index, Some(6));
        assert_eq!(status_of(&ro).promote_full, None, "promoteFull is cleared once promoted");
        env.stop().await;
    }
}

on_both_substrates! {
    async fn abort_returns_to_stable_and_retry_starts_the_steps_again(s: &Substrate) {
        let env = Env::start(s).await;
        let strategy = "steps:\n- setWeight: 50\n- pause: {}";
        env.apply(&format!("{}---\n{}", services("ab"), canary_rollout("ab", 4, "app:v1", strategy))).await;
        let (ro, _) = env.wait_healthy("ab").await;
        let stable = status_of(&ro).stable_rs.expect("stable");
        env.set_image("ab", "app:v2").await;
        assert_eq!(split_at_pause(&env, "ab", 1).await, (2, 2));

        env.patch_status("ab", r#"{"status":{"abort":true}}"#).await;
        let (ro, rss) = env
            .wait_phase("ab", RolloutPhase::Degraded, "RolloutAborted: Rollout aborted update to revision 2")
            .await;
        let (ro, rss) = if settled_split(&ro, &rss) == Some((0, 4)) {
            (ro, rss)
        } else {
            env.wait("ab", "the canary scaled down", |ro, rss| settled_split(ro, rss) == Some((0, 4))).await
        };
        let status = status_of(&ro);
        assert_eq!((status.abort, status.stable_rs.as_deref()), (Some(true), Some(stable.as_str())));
        assert!(status.aborted_at.is_some());
        assert_eq!(status.current_step_index, Some(0));
        assert_eq!(status.pause_conditions, None, "an abort clears the pause");
        let svc: k8s_openapi::api::core::v1::Service = s.api().get("ab-canary").await.expect("svc");
        let selector = svc.spec.and_then(|s| s.selector).unwrap_or_default();
        assert_eq!(selector.get("rollouts-pod-template-hash"), Some(&stable), "the canary Service serves stable");
        assert_eq!(sizes(&rss).len(), 2);

        // Retry: abort cleared; the steps run again from the first.
        env.patch_status("ab", r#"{"status":{"abort":false}}"#).await;
        assert_eq!(split_at_pause(&env, "ab", 1).await, (2, 2));
        let ro = env.rollout("ab").await;
        let progressing = status_of(&ro).conditions.unwrap_or_default().into_iter().find(|c| c.type_.as_str() == "Progressing");
        assert_ne!(progressing.map(|c| c.reason).as_deref(), Some("RolloutAborted"));
        env.promote("ab").await;
        env.wait_healthy("ab").await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_manual_pause_halts_scaling_and_steps_until_unpaused(s: &Substrate) {
        let env = Env::start(s).await;
        let strategy = "steps:\n- setWeight: 50\n- pause: {duration: 1s}";
        env.apply(&format!("{}---\n{}", services("mp"), canary_rollout("mp", 2, "app:v1", strategy))).await;
        env.wait_healthy("mp").await;
        env.patch_spec("mp", r#"{"spec":{"paused":true}}"#).await;
        env.wait_phase("mp", RolloutPhase::Paused, "manually paused").await;
        env.set_image("mp", "app:v2").await;
        let (ro, rss) = env.wait_phase("mp", RolloutPhase::Paused, "manually paused").await;
        // The new ReplicaSet exists at zero: nothing scales while paused.
        let (current, stable) = (status_of(&ro).current_pod_hash, status_of(&ro).stable_rs);
        assert_ne!(current, stable);
        let sz = sizes(&rss);
        assert_eq!(sz.iter().map(|(_, spec, _)| *spec).collect::<Vec<_>>(), [2, 0], "{sz:?}");
        let paused = status_of(&ro).conditions.unwrap_or_default().into_iter().find(|c| c.type_.as_str() == "Paused");
        assert_eq!(paused.map(|c| (c.status, c.reason)), Some(("True".into(), "RolloutPaused".into())));
        env.patch_spec("mp", r#"{"spec":{"paused":false}}"#).await;
        let (ro, rss) = env.wait_healthy("mp").await;
        assert_eq!(settled_split(&ro, &rss), Some((2, 0)));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn scaling_mid_rollout_follows_the_new_replica_count(s: &Substrate) {
        let env = Env::start(s).await;
        let strategy = "steps:\n- setWeight: 50\n- pause: {}";
        env.apply(&format!("{}---\n{}", services("sc"), canary_rollout("sc", 2, "app:v1", strategy))).await;
        env.wait_healthy("sc").await;
        env.set_image("sc", "app:v2").await;
        assert_eq!(split_at_pause(&env, "sc", 1).await, (1, 1));
        // What `kubectl scale` and an HPA do: the scale subresource.
        env.kubectl(&["scale", "rollout", "sc", "--replicas=6"], None).await;
        let (ro, rss) = env
            .wait("sc", "6 replicas split 3/3", |ro, rss| {
                settled_split(ro, rss) == Some((3, 3)) && status_of(ro).hpa_replicas == Some(6)
            })
            .await;
        assert_eq!(status_of(&ro).current_step_index, Some(1), "still at the pause: {:?}", sizes(&rss));
        assert_eq!(status_of(&ro).selector.as_deref(), Some("app=sc"));
        env.promote("sc").await;
        let (ro, rss) = env.wait_healthy("sc").await;
        assert_eq!(settled_split(&ro, &rss), Some((6, 0)));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn undo_and_revision_history(s: &Substrate) {
        let env = Env::start(s).await;
        // revisionHistoryLimit is 3 in these manifests; no steps, so each update goes straight through.
        env.apply(&format!("{}---\n{}", services("hist"), canary_rollout("hist", 1, "app:v1", "steps: []"))).await;
        env.wait_healthy("hist").await;
        for v in 2..=6 {
            env.set_image("hist", &format!("app:v{v}")).await;
            env.wait("hist", &format!("app:v{v} healthy"), |ro, _| {
                let s = status_of(ro);
                s.phase == Some(RolloutPhase::Healthy)
                    && ro.spec.template.as_ref().and_then(|t| t.spec.as_ref()).map(|p| p.containers[0].image.clone())
                        == Some(Some(format!("app:v{v}")))
                    && s.observed_generation == Some(ro.metadata.generation.unwrap_or(0).to_string())
            })
            .await;
        }
        let (ro, rss) = env.wait("hist", "history trimmed to 3 old ReplicaSets", |_, rss| rss.len() == 4).await;
        let mut revisions: Vec<u64> = rss
            .iter()
            .filter_map(|rs| rs.metadata.annotations.as_ref()?.get("rollout.argoproj.io/revision")?.parse().ok())
            .collect();
        revisions.sort_unstable();
        assert_eq!(revisions, [3, 4, 5, 6]);
        assert_eq!(ro.metadata.annotations.as_ref().and_then(|a| a.get("rollout.argoproj.io/revision")).map(String::as_str), Some("6"));

        // `kubectl argo rollouts undo`: the template of the previous revision, written back into the Rollout.
        let previous = rss.iter().find(|rs| rs.metadata.annotations.as_ref().and_then(|a| a.get("rollout.argoproj.io/revision")).map(String::as_str) == Some("5")).expect("revision 5");
        let mut template = previous.spec.template.clone().expect("template");
        template.metadata.as_mut().and_then(|m| m.labels.as_mut()).map(|l| l.remove("rollouts-pod-template-hash"));
        let patch = serde_json::json!({"spec": {"template": template}});
        env.patch_spec("hist", &patch.to_string()).await;
        let (ro, rss) = env.wait("hist", "revision 5's ReplicaSet back as revision 7", |ro, rss| {
            let s = status_of(ro);
            s.phase == Some(RolloutPhase::Healthy)
                && s.observed_generation == Some(ro.metadata.generation.unwrap_or(0).to_string())
                && rss.iter().any(|rs| rs.metadata.name == previous.metadata.name
                    && rs.metadata.annotations.as_ref().and_then(|a| a.get("rollout.argoproj.io/revision")).map(String::as_str) == Some("7"))
        })
        .await;
        let back = rss.iter().find(|rs| rs.metadata.name == previous.metadata.name).expect("same ReplicaSet");
        assert_eq!(
            back.metadata.annotations.as_ref().and_then(|a| a.get("rollout.argoproj.io/revision-history")).map(String::as_str),
            Some("5")
        );
        assert_eq!(rss.len(), 4, "no new ReplicaSet for a template that had one: {:?}", sizes(&rss));
        assert_eq!(status_of(&ro).stable_rs.as_deref(), back.metadata.labels.as_ref().and_then(|l| l.get("rollouts-pod-template-hash")).map(String::as_str));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn restart_replaces_every_pod_created_before_restart_at(s: &Substrate) {
        use k8s_openapi::api::core::v1::Pod;
        let env = Env::start(s).await;
        env.apply(&format!("{}---\n{}", services("rs"), canary_rollout("rs", 3, "app:v1", "steps: []"))).await;
        env.wait_healthy("rs").await;
        let pods: kube::Api<Pod> = s.api();
        let before: Vec<String> = pods.list(&Default::default()).await.expect("pods").items.into_iter().filter_map(|p| p.metadata.uid).collect();
        assert_eq!(before.len(), 3);
        // `kubectl argo rollouts restart` sets restartAt = now. Timestamps have whole seconds, and a pod
        // created in restartAt's second counts as new, so this asks for the next whole second but one: every
        // existing pod is older, and the controller waits for that moment before it evicts.
        let at = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 2).expect("time");
        env.patch_spec("rs", &format!(r#"{{"spec":{{"restartAt":"{}"}}}}"#, at.strftime("%Y-%m-%dT%H:%M:%SZ"))).await;
        let (ro, _) = env
            .wait("rs", "restartedAt recorded", |ro, _| status_of(ro).restarted_at.is_some() && status_of(ro).phase == Some(RolloutPhase::Healthy))
            .await;
        assert_eq!(status_of(&ro).restarted_at.map(|t| t.0.as_second()), Some(at.as_second()));
        let after: Vec<Pod> = pods.list(&Default::default()).await.expect("pods").items;
        let live: Vec<&Pod> = after.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        assert_eq!(live.len(), 3);
        assert!(live.iter().all(|p| !before.contains(p.metadata.uid.as_ref().expect("uid"))), "every pod was replaced");
        env.stop().await;
    }
}

on_both_substrates! {
    async fn an_invalid_rollout_keeps_its_stable_version_serving(s: &Substrate) {
        let env = Env::start(s).await;
        let strategy = "steps:\n- setWeight: 50\n- pause: {}";
        env.apply(&format!("{}---\n{}", services("bad"), canary_rollout("bad", 2, "app:v1", strategy))).await;
        let (ro, _) = env.wait_healthy("bad").await;
        let stable = status_of(&ro).stable_rs;
        // A setWeight out of range, with a new image: nothing may move.
        env.patch_spec("bad", r#"{"spec":{"strategy":{"canary":{"steps":[{"setWeight":120}]}},"template":{"spec":{"containers":[{"name":"app","image":"app:v2"}]}}}}"#).await;
        let (ro, rss) = env
            .wait("bad", "InvalidSpec", |ro, _| status_of(ro).phase == Some(RolloutPhase::Degraded))
            .await;
        let status = status_of(&ro);
        assert_eq!(
            status.message.as_deref(),
            Some("InvalidSpec: The Rollout \"bad\" is invalid: spec.strategy.canary.steps[0].setWeight: SetWeight needs to be between 0 and 100")
        );
        assert_eq!(status.stable_rs, stable);
        assert_eq!(sizes(&rss).iter().map(|(_, spec, _)| *spec).collect::<Vec<_>>(), [2], "no new ReplicaSet");
        // Fixed: the update proceeds.
        env.patch_spec("bad", r#"{"spec":{"strategy":{"canary":{"steps":[{"setWeight":50},{"pause":{}}]}}}}"#).await;
        assert_eq!(split_at_pause(&env, "bad", 1).await, (1, 1));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn canary_and_stable_pods_carry_their_roles_metadata(s: &Substrate) {
        let env = Env::start(s).await;
        let strategy = "canaryMetadata: {labels: {role: canary}}\nstableMetadata: {labels: {role: stable}}\nsteps:\n- setWeight: 50\n- pause: {}";
        env.apply(&format!("{}---\n{}", services("md"), canary_rollout("md", 2, "app:v1", strategy))).await;
        let (ro, _) = env.wait_healthy("md").await;
        let v1 = status_of(&ro).stable_rs.expect("stable");
        let stable = |h: &str| (h.to_string(), "stable".to_string());
        let canary = |h: &str| (h.to_string(), "canary".to_string());
        crate::e2e::wait::eventually("the first version's pods labelled stable", || async {
            (roles(&env, "md").await == [stable(&v1), stable(&v1)]).then_some(())
        })
        .await;
        env.set_image("md", "app:v2").await;
        assert_eq!(split_at_pause(&env, "md", 1).await, (1, 1));
        let v2 = status_of(&env.rollout("md").await).current_pod_hash.expect("current");
        let mut want = vec![canary(&v2), stable(&v1)];
        want.sort();
        crate::e2e::wait::eventually("one canary pod and one stable pod", || async {
            (roles(&env, "md").await == want).then_some(())
        })
        .await;
        // Promoted: the canary's own pods, now stable, are relabelled in place.
        env.promote("md").await;
        env.wait_healthy("md").await;
        crate::e2e::wait::eventually("the second version's pods labelled stable", || async {
            (roles(&env, "md").await == [stable(&v2), stable(&v2)]).then_some(())
        })
        .await;
        env.stop().await;
    }
}

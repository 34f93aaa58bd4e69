//! The Kubernetes Events a Rollout gets on its way through an update, a promotion and an abort: upstream's
//! reasons and messages, in order, as `kubectl get events` lists them.

use super::fixture::{Env, canary_rollout, events_of, services, status_of};
use serin::api::rollout::RolloutPhase;

on_both_substrates! {
    async fn every_transition_is_an_event_with_upstreams_reason_and_message(s: &Substrate) {
        let env = Env::start(s).await;
        let strategy = "maxSurge: 1\nmaxUnavailable: 0\nsteps:\n- setWeight: 50\n- pause: {}";
        env.apply(&format!("{}---\n{}", services("ev"), canary_rollout("ev", 2, "app:v1", strategy))).await;
        let (ro, _) = env.wait_healthy("ev").await;
        let h1 = status_of(&ro).stable_rs.expect("stable");
        env.set_image("ev", "app:v2").await;
        let (ro, _) = env.wait_phase("ev", RolloutPhase::Paused, "CanaryPauseStep").await;
        let h2 = status_of(&ro).current_pod_hash.expect("current");
        env.promote("ev").await;
        env.wait_healthy("ev").await;
        env.set_image("ev", "app:v3").await;
        let (ro, _) = env.wait_phase("ev", RolloutPhase::Paused, "CanaryPauseStep").await;
        let h3 = status_of(&ro).current_pod_hash.expect("current");
        env.patch_status("ev", r#"{"status":{"abort":true}}"#).await;
        env.wait_phase("ev", RolloutPhase::Degraded, "RolloutAborted: Rollout aborted update to revision 3").await;
        // The abort's scale-down is the last thing the controller does; wait for its Event.
        let scaled_back = format!("Scaled down ReplicaSet ev-{h3} (revision 3) from 1 to 0");
        let seen = crate::e2e::wait::eventually("the abort's scale-down event", || async {
            let seen = events_of(&env, "ev").await;
            seen.iter().any(|row| row.ends_with(&scaled_back)).then_some(seen)
        })
        .await;

        let n = |reason: &str, message: String| format!("Normal {reason}: {message}");
        let w = |reason: &str, message: String| format!("Warning {reason}: {message}");
        let expected = vec![
            // The first version: the revision, its ReplicaSet, Completed turning False then True at once (there
            // is no stable yet), and the Services adopted once its pods are available.
            n("RolloutUpdated", "Rollout updated to revision 1".into()),
            n("NewReplicaSetCreated", format!("Created ReplicaSet ev-{h1} (revision 1)")),
            n("RolloutNotCompleted", format!("Rollout not completed, started update to revision 1 ({h1})")),
            n("ScalingReplicaSet", format!("Scaled up ReplicaSet ev-{h1} (revision 1) from 0 to 2")),
            n("RolloutCompleted", format!("Rollout completed update to revision 1 ({h1}): Initial deploy")),
            n("SwitchService", format!("Switched selector for service 'ev-stable' from '' to '{h1}'")),
            n("SwitchService", format!("Switched selector for service 'ev-canary' from '' to '{h1}'")),
            // An update: one surge pod, the canary Service on it, one stable pod less, then the step is done
            // and the pause begins. The same two happen again for the third revision, so they count 2.
            n("RolloutUpdated", "Rollout updated to revision 2".into()),
            n("NewReplicaSetCreated", format!("Created ReplicaSet ev-{h2} (revision 2)")),
            n("RolloutNotCompleted", format!("Rollout not completed, started update to revision 2 ({h2})")),
            n("ScalingReplicaSet", format!("Scaled up ReplicaSet ev-{h2} (revision 2) from 0 to 1")),
            n("SwitchService", format!("Switched selector for service 'ev-canary' from '{h1}' to '{h2}'")),
            n("ScalingReplicaSet", format!("Scaled down ReplicaSet ev-{h1} (revision 1) from 2 to 1")),
            n("RolloutStepCompleted", "Rollout step 1/2 completed (setWeight: 50) (×2)".into()),
            n("RolloutPaused", "Rollout is paused (CanaryPauseStep) (×2)".into()),
            // Promoted by clearing the pause conditions: no RolloutResumed (upstream compares with the status it
            // read, which the promote already emptied), the pause step done, the canary to 100%, then stable.
            // Scaling the second revision back up after the abort repeats the 1 to 2 Event.
            n("RolloutStepCompleted", "Rollout step 2/2 completed (pause)".into()),
            n("ScalingReplicaSet", format!("Scaled up ReplicaSet ev-{h2} (revision 2) from 1 to 2 (×2)")),
            n("ScalingReplicaSet", format!("Scaled down ReplicaSet ev-{h1} (revision 1) from 1 to 0")),
            n("RolloutCompleted", format!("Rollout completed update to revision 2 ({h2}): Completed all 2 canary steps")),
            n("SwitchService", format!("Switched selector for service 'ev-stable' from '{h1}' to '{h2}'")),
            // A third revision, aborted at its pause: the canary Service back on stable, the abort, the stable
            // back to full size (counted above) and the canary gone.
            n("RolloutUpdated", "Rollout updated to revision 3".into()),
            n("NewReplicaSetCreated", format!("Created ReplicaSet ev-{h3} (revision 3)")),
            n("RolloutNotCompleted", format!("Rollout not completed, started update to revision 3 ({h3})")),
            n("ScalingReplicaSet", format!("Scaled up ReplicaSet ev-{h3} (revision 3) from 0 to 1")),
            n("SwitchService", format!("Switched selector for service 'ev-canary' from '{h2}' to '{h3}'")),
            n("ScalingReplicaSet", format!("Scaled down ReplicaSet ev-{h2} (revision 2) from 2 to 1")),
            n("SwitchService", format!("Switched selector for service 'ev-canary' from '{h3}' to '{h2}'")),
            w("RolloutAborted", "Rollout aborted update to revision 3".into()),
            n("ScalingReplicaSet", scaled_back.clone()),
        ];
        assert_eq!(seen.join("\n"), expected.join("\n"));
        env.stop().await;
    }
}

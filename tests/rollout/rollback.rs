//! Going back (upstream's undo and `rollbackWindow`, argo-semantics §d.7), on both substrates: a template set
//! back to a revision within the window is promoted at once, without its steps or its pause; one beyond the
//! window goes through the update like any other.

use super::fixture::{Env, blue_green_rollout, canary_rollout, services, status_of};
use serin::api::rollout::{PauseReason, Rollout, RolloutPhase};

fn paused(ro: &Rollout) -> bool {
    status_of(ro)
        .pause_conditions
        .iter()
        .flatten()
        .any(|p| matches!(p.reason, PauseReason::CanaryPauseStep | PauseReason::BlueGreenPause))
}

/// Updates `name` to `image`, promoting every pause until it is Healthy there; returns the stable hash.
async fn promoted_to(env: &Env<'_>, name: &str, image: &str) -> String {
    let before = status_of(&env.rollout(name).await).stable_rs;
    env.set_image(name, image).await;
    loop {
        let (ro, _) = env
            .wait(name, &format!("paused or Healthy on {image}"), |ro, _| {
                paused(ro)
                    || (status_of(ro).phase == Some(RolloutPhase::Healthy)
                        && status_of(ro).stable_rs != before)
            })
            .await;
        if !paused(&ro) {
            return status_of(&ro).stable_rs.expect("stable");
        }
        env.promote(name).await;
        env.wait(name, "the promotion seen", |r, _| {
            !paused(r) || r.metadata.resource_version != ro.metadata.resource_version
        })
        .await;
    }
}

on_both_substrates! {
    async fn a_rollback_within_the_window_skips_the_steps_and_one_beyond_it_does_not(s: &Substrate) {
        let env = Env::start(s).await;
        let canary = canary_rollout("rbw", 2, "app:v1", "steps:\n- setWeight: 50\n- pause: {}")
            .replace("  revisionHistoryLimit: 3\n", "  revisionHistoryLimit: 5\n  rollbackWindow: {revisions: 1}\n");
        assert!(canary.contains("rollbackWindow"), "{canary}");
        env.apply(&format!("{}---\n{canary}---\n{}", services("rbw"), blue_green_rollout("bgrbw", 2, "autoPromotionEnabled: false\nscaleDownDelaySeconds: 1")
            .replace("  revisionHistoryLimit: 3\n", "  revisionHistoryLimit: 3\n  rollbackWindow: {revisions: 2}\n"))).await;
        for name in ["rbw", "bgrbw"] {
            env.wait_healthy(name).await;
            promoted_to(&env, name, "app:v2").await;
            let v3 = promoted_to(&env, name, "app:v3").await;
            if name == "rbw" {
                // Back to v1, with v2 created between it and the stable v3: beyond a window of one revision,
                // so it goes through the steps and pauses at the first.
                env.set_image(name, "app:v1").await;
                env.wait(name, "the first step's pause", |ro, _| paused(ro) && status_of(ro).current_step_index == Some(1)).await;
            }
            // Back to v2, the revision just before the stable one: within the window, promoted without a pause.
            env.set_image(name, "app:v2").await;
            let (ro, _) = env
                .wait(name, "back on v2", |ro, _| {
                    let s = status_of(ro);
                    let back = s.current_pod_hash.as_deref().is_some_and(|h| h != v3) && s.current_step_index != Some(1);
                    assert!(!(back && paused(ro)), "{name}: a rollback within the window paused: {s:#?}");
                    s.phase == Some(RolloutPhase::Healthy) && s.stable_rs.as_deref().is_some_and(|h| h != v3)
                })
                .await;
            assert_eq!(status_of(&ro).current_pod_hash, status_of(&ro).stable_rs);
        }
        env.stop().await;
    }
}

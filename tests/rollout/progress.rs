//! `progressDeadlineSeconds` and `progressDeadlineAbort`: an update whose pods never become ready.

use super::fixture::{Env, canary_rollout, services, sizes, status_of};
use crate::e2e::substrate::NEVER_READY_IMAGE;
use serin::api::rollout::{RolloutConditionType, RolloutPhase};

fn stuck_rollout(name: &str, abort: bool) -> String {
    let manifest = canary_rollout(
        name,
        2,
        "app:v1",
        "maxSurge: 1\nmaxUnavailable: 0\nsteps:\n- setWeight: 50\n- pause: {}",
    );
    manifest.replacen(
        "  replicas: 2\n",
        &format!("  replicas: 2\n  progressDeadlineSeconds: 2\n  progressDeadlineAbort: {abort}\n"),
        1,
    )
}

on_both_substrates! {
    async fn an_update_that_stops_progressing_is_degraded_and_aborted_when_asked(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&format!("{}---\n{}---\n{}---\n{}", services("pd"), stuck_rollout("pd", false), services("pda"), stuck_rollout("pda", true))).await;
        let (pd, _) = env.wait_healthy("pd").await;
        let (pda, _) = env.wait_healthy("pda").await;
        env.set_image("pd", NEVER_READY_IMAGE).await;
        env.set_image("pda", NEVER_READY_IMAGE).await;

        // Without abort: Degraded past the deadline, the canary left as it is, the stable still serving.
        let (ro, rss) = env
            .wait("pd", "ProgressDeadlineExceeded", |ro, _| {
                status_of(ro).phase == Some(RolloutPhase::Degraded)
                    && status_of(ro).message.as_deref().is_some_and(|m| m.starts_with("ProgressDeadlineExceeded"))
            })
            .await;
        let status = status_of(&ro);
        let canary = format!("pd-{}", status.current_pod_hash.clone().expect("current hash"));
        assert_eq!(
            status.message.as_deref(),
            Some(format!("ProgressDeadlineExceeded: ReplicaSet \"{canary}\" has timed out progressing.").as_str())
        );
        let progressing = status.conditions.iter().flatten().find(|c| c.type_ == RolloutConditionType::Progressing).expect("Progressing");
        assert_eq!((progressing.status.as_str(), progressing.reason.as_str()), ("False", "ProgressDeadlineExceeded"));
        assert_eq!(status.abort, None, "no abort without progressDeadlineAbort");
        assert_eq!(status.stable_rs, pd.status.and_then(|s| s.stable_rs));
        let stable = sizes(&rss).into_iter().find(|(h, _, _)| Some(h) == status.stable_rs.as_ref()).expect("stable");
        assert_eq!((stable.1, stable.2), (2, 2), "the stable keeps serving: {:?}", sizes(&rss));

        // With abort: aborted with the timeout as the reason, the canary scaled away.
        let (ro, rss) = env
            .wait("pda", "aborted on the deadline with the canary gone", |ro, rss| {
                let s = status_of(ro);
                s.abort == Some(true)
                    && sizes(rss).iter().all(|(h, spec, avail)| if Some(h) == s.stable_rs.as_ref() { *spec == 2 && *avail == 2 } else { *spec == 0 })
            })
            .await;
        let status = status_of(&ro);
        let canary = format!("pda-{}", status.current_pod_hash.clone().expect("current hash"));
        assert_eq!(status.phase, Some(RolloutPhase::Degraded));
        assert_eq!(
            status.message.as_deref(),
            Some(format!("RolloutAborted: Rollout aborted update to revision 2: ReplicaSet \"{canary}\" has timed out progressing.").as_str()),
            "{:?}",
            sizes(&rss)
        );
        assert_eq!(status.stable_rs, pda.status.and_then(|s| s.stable_rs));
        env.stop().await;
    }
}

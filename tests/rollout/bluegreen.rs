//! The blue-green strategy end to end, on both substrates: the preview Service on the new pods at once, the
//! active one switched on promotion (by hand, after a delay, or after a pre-promotion analysis), switched back
//! when post-promotion analysis fails or the update is aborted, old pods kept for the scale-down delay, and a
//! fast rollback to a ReplicaSet still within it.

use super::fixture::{
    Env, HASH_LABEL, analysis_args, app, blue_green_rollout, roles, run_kinds, sizes, status_of, template,
};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use serin::api::common::AnalysisPhase;
use serin::api::rollout::{PauseReason, Rollout, RolloutPhase};

/// The pod-template hash a Service selects.
async fn selects(env: &Env<'_>, service: &str) -> String {
    let api: Api<Service> = env.s.api();
    let svc = api.get(service).await.unwrap_or_else(|e| panic!("get service {service}: {e}"));
    svc.spec.and_then(|s| s.selector).and_then(|s| s.get(HASH_LABEL).cloned()).unwrap_or_default()
}

fn spec_of(rss: &[ReplicaSet], hash: &str) -> i32 {
    sizes(rss).into_iter().find(|(h, _, _)| h == hash).map(|(_, spec, _)| spec).unwrap_or(-1)
}

fn paused(ro: &Rollout) -> bool {
    status_of(ro).pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::BlueGreenPause)
}

/// Healthy at v1; returns its hash.
async fn healthy_v1(env: &Env<'_>, name: &str) -> String {
    let (ro, _) = env.wait_healthy(name).await;
    let hash = status_of(&ro).stable_rs.expect("stable");
    assert_eq!(selects(env, &format!("{name}-active")).await, hash, "{name}: active on v1");
    hash
}

/// The new ReplicaSet's hash once the update to v2 created it.
async fn updated(env: &Env<'_>, name: &str, v1: &str) -> (Rollout, String) {
    env.set_image(name, "app:v2").await;
    let (ro, _) = env
        .wait(name, "a v2 ReplicaSet", |ro, _| {
            status_of(ro).current_pod_hash.as_deref().is_some_and(|h| h != v1)
        })
        .await;
    let v2 = status_of(&ro).current_pod_hash.expect("current");
    (ro, v2)
}

on_both_substrates! {
    async fn manual_promotion_switches_the_active_service_and_old_pods_wait_out_the_delay(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&blue_green_rollout("manual", 2, "autoPromotionEnabled: false\nscaleDownDelaySeconds: 2")).await;
        let v1 = healthy_v1(&env, "manual").await;
        let (_, v2) = updated(&env, "manual", &v1).await;

        // The preview is up and selected by the preview Service; the active one stays on v1 until promoted.
        let (ro, rss) = env
            .wait("manual", "paused with v2 previewed", |ro, rss| paused(ro) && spec_of(rss, &status_of(ro).current_pod_hash.clone().unwrap_or_default()) == 2)
            .await;
        let status = status_of(&ro);
        assert_eq!((status.phase, status.message.as_deref()), (Some(RolloutPhase::Paused), Some("BlueGreenPause")));
        assert_eq!(selects(&env, "manual-preview").await, v2);
        assert_eq!(selects(&env, "manual-active").await, v1);
        assert_eq!(status.stable_rs.as_deref(), Some(v1.as_str()));
        assert_eq!(spec_of(&rss, &v1), 2, "{:?}", sizes(&rss));
        let b = status.blue_green.clone().unwrap_or_default();
        assert_eq!((b.active_selector.as_deref(), b.preview_selector.as_deref()), (Some(v1.as_str()), Some(v2.as_str())));

        env.promote("manual").await;
        let (ro, _) = env.wait_healthy("manual").await;
        assert_eq!(status_of(&ro).stable_rs.as_deref(), Some(v2.as_str()));
        assert_eq!(selects(&env, "manual-active").await, v2);
        // The old pods are kept for the scale-down delay (with its deadline on the ReplicaSet), then go.
        let (_, rss) = env.wait("manual", "v1 scaled down after its delay", |_, rss| spec_of(rss, &v1) == 0).await;
        assert_eq!(spec_of(&rss, &v2), 2);
        env.stop().await;
    }
}

on_both_substrates! {
    async fn automatic_promotion_after_a_delay_and_a_smaller_preview(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&format!(
            "{}---\n{}",
            blue_green_rollout("delayed", 2, "autoPromotionSeconds: 2\nscaleDownDelaySeconds: 1"),
            blue_green_rollout("small", 3, "autoPromotionEnabled: false\npreviewReplicaCount: 1\nscaleDownDelaySeconds: 1")
        ))
        .await;
        let v1 = healthy_v1(&env, "delayed").await;
        let small_v1 = healthy_v1(&env, "small").await;
        let (_, v2) = updated(&env, "delayed", &v1).await;
        let (_, small_v2) = updated(&env, "small", &small_v1).await;

        // Paused for two seconds, then promoted without anyone promoting it.
        env.wait("delayed", "the automatic promotion's pause", |ro, _| paused(ro)).await;
        let (ro, _) = env.wait_healthy("delayed").await;
        assert_eq!(status_of(&ro).stable_rs.as_deref(), Some(v2.as_str()));
        assert_eq!(selects(&env, "delayed-active").await, v2);

        // The preview runs one pod until promoted; then the new ReplicaSet is scaled up before the switch.
        let (_, rss) = env
            .wait("small", "one preview pod, paused", |ro, rss| paused(ro) && sizes(rss).iter().any(|(h, s, a)| *h == small_v2 && *s == 1 && *a == 1))
            .await;
        assert_eq!(spec_of(&rss, &small_v1), 3);
        assert_eq!(selects(&env, "small-active").await, small_v1);
        env.promote("small").await;
        let (ro, rss) = env.wait_healthy("small").await;
        assert_eq!(spec_of(&rss, &small_v2), 3);
        assert_eq!(status_of(&ro).blue_green.and_then(|b| b.active_selector).as_deref(), Some(small_v2.as_str()));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn pre_promotion_analysis_decides_whether_traffic_ever_switches(s: &Substrate) {
        let good = app(1).await;
        let bad = app(0).await;
        let env = Env::start(s).await;
        let analysis = |url: &str| {
            format!(
                "prePromotionAnalysis:\n  templates: [{{templateName: score}}]\n  {}\nabortScaleDownDelaySeconds: 1",
                analysis_args(url).replace('\n', "\n  ")
            )
        };
        env.apply(&format!(
            "{}---\n{}---\n{}",
            template("score", None),
            blue_green_rollout("pre-ok", 2, &analysis(&good.url)),
            blue_green_rollout("pre-bad", 2, &analysis(&bad.url))
        ))
        .await;
        let ok_v1 = healthy_v1(&env, "pre-ok").await;
        let bad_v1 = healthy_v1(&env, "pre-bad").await;
        let (_, ok_v2) = updated(&env, "pre-ok", &ok_v1).await;
        let (_, bad_v2) = updated(&env, "pre-bad", &bad_v1).await;

        // Passing: promoted, after one pre-promotion run.
        let (ro, _) = env.wait_healthy("pre-ok").await;
        assert_eq!(selects(&env, "pre-ok-active").await, ok_v2);
        let runs = env.analysis_runs(&ro).await;
        assert_eq!(run_kinds(&runs).get("PrePromotion"), Some(&1), "{runs:?}");
        let pre = status_of(&ro).blue_green.and_then(|b| b.pre_promotion_analysis_run_status).expect("run status");
        assert_eq!(pre.status, AnalysisPhase::Successful);

        // Failing: aborted, the active Service never left v1, and the preview goes after the abort delay.
        let (ro, _) = env
            .wait("pre-bad", "aborted", |ro, _| status_of(ro).phase == Some(RolloutPhase::Degraded))
            .await;
        let message = status_of(&ro).message.unwrap_or_default();
        assert!(message.starts_with("RolloutAborted: Rollout aborted update to revision 2: Blue/green pre-promotion analysis phase error/failed"), "{message}");
        assert_eq!(selects(&env, "pre-bad-active").await, bad_v1);
        assert_eq!(status_of(&ro).stable_rs.as_deref(), Some(bad_v1.as_str()));
        let (_, rss) = env.wait("pre-bad", "the preview scaled down", |_, rss| spec_of(rss, &bad_v2) == 0).await;
        assert_eq!(spec_of(&rss, &bad_v1), 2);
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_failed_post_promotion_analysis_switches_traffic_back(s: &Substrate) {
        let bad = app(0).await;
        let env = Env::start(s).await;
        let strategy = format!(
            "postPromotionAnalysis:\n  templates: [{{templateName: score}}]\n  {}\nabortScaleDownDelaySeconds: 1",
            analysis_args(&bad.url).replace('\n', "\n  ")
        );
        env.apply(&format!("{}---\n{}", template("score", None), blue_green_rollout("post", 2, &strategy))).await;
        let v1 = healthy_v1(&env, "post").await;
        let (_, v2) = updated(&env, "post", &v1).await;

        // Switched to v2, analysed there, failed: back on v1, which never lost its pods.
        let (ro, rss) = env
            .wait("post", "aborted after the switch", |ro, _| status_of(ro).phase == Some(RolloutPhase::Degraded))
            .await;
        let message = status_of(&ro).message.unwrap_or_default();
        assert!(message.contains("Blue/green post-promotion analysis phase error/failed"), "{message}");
        let runs = env.analysis_runs(&ro).await;
        assert_eq!(run_kinds(&runs).get("PostPromotion"), Some(&1), "{runs:?}");
        assert_eq!(spec_of(&rss, &v1), 2);
        env.wait("post", "the active Service back on v1", |ro, _| {
            status_of(ro).blue_green.and_then(|b| b.active_selector).as_deref() == Some(v1.as_str())
        })
        .await;
        assert_eq!(selects(&env, "post-active").await, v1);
        assert_eq!(status_of(&env.rollout("post").await).stable_rs.as_deref(), Some(v1.as_str()));
        env.wait("post", "v2 scaled down after the abort delay", |_, rss| spec_of(rss, &v2) == 0).await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn abort_full_promotion_and_a_fast_rollback_within_the_delay(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&format!(
            "{}---\n{}---\n{}",
            blue_green_rollout("abort", 2, "autoPromotionEnabled: false\nabortScaleDownDelaySeconds: 1"),
            blue_green_rollout("back", 2, "autoPromotionEnabled: false\nscaleDownDelaySeconds: 600"),
            blue_green_rollout("full", 2, "autoPromotionEnabled: false\npreviewReplicaCount: 1\nscaleDownDelaySeconds: 1")
        ))
        .await;
        // `promote --full` skips the pause and the preview size: straight to v2.
        let full_v1 = healthy_v1(&env, "full").await;
        let (_, full_v2) = updated(&env, "full", &full_v1).await;
        env.wait("full", "paused", |ro, _| paused(ro)).await;
        env.patch_status("full", r#"{"status":{"promoteFull":true}}"#).await;
        let (ro, rss) = env.wait_healthy("full").await;
        assert_eq!(status_of(&ro).stable_rs.as_deref(), Some(full_v2.as_str()));
        assert_eq!(spec_of(&rss, &full_v2), 2);
        assert_eq!(status_of(&ro).promote_full, None);
        assert_eq!(selects(&env, "full-active").await, full_v2);
        let v1 = healthy_v1(&env, "abort").await;
        let (_, v2) = updated(&env, "abort", &v1).await;
        env.wait("abort", "paused", |ro, _| paused(ro)).await;
        env.patch_status("abort", r#"{"status":{"abort":true}}"#).await;
        let (ro, _) = env
            .wait_phase("abort", RolloutPhase::Degraded, "RolloutAborted: Rollout aborted update to revision 2")
            .await;
        assert_eq!(status_of(&ro).pause_conditions, None);
        assert_eq!(selects(&env, "abort-active").await, v1);
        env.wait("abort", "the preview scaled down", |_, rss| spec_of(rss, &v2) == 0).await;

        // v2 promoted by hand; v1 keeps its pods for ten minutes. Going back to v1 then needs no promotion:
        // the switch is immediate.
        let back_v1 = healthy_v1(&env, "back").await;
        let (_, back_v2) = updated(&env, "back", &back_v1).await;
        env.wait("back", "paused", |ro, _| paused(ro)).await;
        env.promote("back").await;
        env.wait("back", "v2 stable", |ro, _| status_of(ro).stable_rs.as_deref() == Some(back_v2.as_str())).await;
        let (_, rss) = env.wait_healthy("back").await;
        assert_eq!(spec_of(&rss, &back_v1), 2, "v1 within its delay: {:?}", sizes(&rss));
        env.set_image("back", "app:v1").await;
        let (ro, _) = env
            .wait("back", "back on v1", |ro, _| status_of(ro).stable_rs.as_deref() == Some(back_v1.as_str()))
            .await;
        assert_eq!(status_of(&ro).current_pod_hash.as_deref(), Some(back_v1.as_str()));
        env.wait_healthy("back").await;
        assert_eq!(selects(&env, "back-active").await, back_v1);
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_blue_green_update_has_upstreams_events_in_order(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&blue_green_rollout("bgev", 2, "autoPromotionEnabled: false\nscaleDownDelaySeconds: 1")).await;
        let h1 = healthy_v1(&env, "bgev").await;
        let (_, h2) = updated(&env, "bgev", &h1).await;
        env.wait("bgev", "paused", |ro, _| paused(ro)).await;
        env.promote("bgev").await;
        env.wait_healthy("bgev").await;
        let scaled_down = format!("Scaled down ReplicaSet bgev-{h1} (revision 1) from 2 to 0");
        let seen = crate::e2e::wait::eventually("the old ReplicaSet's scale-down event", || async {
            let seen = crate::rollout::fixture::events_of(&env, "bgev").await;
            seen.iter().any(|row| row.ends_with(&scaled_down)).then_some(seen)
        })
        .await;
        let n = |reason: &str, message: String| format!("Normal {reason}: {message}");
        let expected = vec![
            // The first version is promoted at once (there is no stable yet); the preview Service follows the
            // new ReplicaSet from its creation, the active one once it is the stable.
            n("RolloutUpdated", "Rollout updated to revision 1".into()),
            n("NewReplicaSetCreated", format!("Created ReplicaSet bgev-{h1} (revision 1)")),
            n("SwitchService", format!("Switched selector for service 'bgev-preview' from '' to '{h1}'")),
            n("ScalingReplicaSet", format!("Scaled up ReplicaSet bgev-{h1} (revision 1) from 0 to 2")),
            n("RolloutCompleted", format!("Rollout completed update to revision 1 ({h1}): Initial deploy")),
            n("SwitchService", format!("Switched selector for service 'bgev-active' from '' to '{h1}'")),
            // The update: previewed at full size, paused, promoted, switched, and the old pods gone after the
            // delay.
            n("RolloutUpdated", "Rollout updated to revision 2".into()),
            n("NewReplicaSetCreated", format!("Created ReplicaSet bgev-{h2} (revision 2)")),
            n("SwitchService", format!("Switched selector for service 'bgev-preview' from '{h1}' to '{h2}'")),
            n("RolloutNotCompleted", format!("Rollout not completed, started update to revision 2 ({h2})")),
            n("ScalingReplicaSet", format!("Scaled up ReplicaSet bgev-{h2} (revision 2) from 0 to 2")),
            n("RolloutPaused", "Rollout is paused (BlueGreenPause)".into()),
            n("SwitchService", format!("Switched selector for service 'bgev-active' from '{h1}' to '{h2}'")),
            n("RolloutCompleted", format!("Rollout completed update to revision 2 ({h2}): Completed blue-green update")),
            n("ScalingReplicaSet", scaled_down.clone()),
        ];
        assert_eq!(seen.join("\n"), expected.join("\n"));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn preview_and_active_pods_carry_their_roles_metadata(s: &Substrate) {
        let env = Env::start(s).await;
        let strategy = "previewMetadata: {labels: {role: preview}}\nactiveMetadata: {labels: {role: active}}\nautoPromotionEnabled: false\nscaleDownDelaySeconds: 600";
        env.apply(&blue_green_rollout("bgmd", 2, strategy)).await;
        let v1 = healthy_v1(&env, "bgmd").await;
        let role = |h: &str, r: &str| (h.to_string(), r.to_string());
        crate::e2e::wait::eventually("the first version's pods labelled active", || async {
            (roles(&env, "bgmd").await == [role(&v1, "active"), role(&v1, "active")]).then_some(())
        })
        .await;
        let (_, v2) = updated(&env, "bgmd", &v1).await;
        env.wait("bgmd", "paused", |ro, _| paused(ro)).await;
        let mut want = vec![role(&v1, "active"), role(&v1, "active"), role(&v2, "preview"), role(&v2, "preview")];
        want.sort();
        crate::e2e::wait::eventually("active and preview pods", || async {
            (roles(&env, "bgmd").await == want).then_some(())
        })
        .await;
        // Promoted: the preview's own pods become the active ones in place; the old ones, kept for their
        // delay, lose the role.
        env.promote("bgmd").await;
        env.wait_healthy("bgmd").await;
        let mut want = vec![role(&v1, ""), role(&v1, ""), role(&v2, "active"), role(&v2, "active")];
        want.sort();
        crate::e2e::wait::eventually("the second version's pods labelled active", || async {
            (roles(&env, "bgmd").await == want).then_some(())
        })
        .await;
        env.stop().await;
    }
}

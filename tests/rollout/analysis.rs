//! Analysis from Rollouts, on both substrates: inline step analysis and background analysis against a real
//! HTTP server on 127.0.0.1 whose answer the test sets (pass, fail, inconclusive).

use super::fixture::{
    Env, analysis_args, app, canary_rollout, run_kinds, services, settled_split, status_of, template,
};
use serin::api::common::AnalysisPhase;
use serin::api::rollout::{PauseReason, RolloutPhase};
use std::sync::atomic::Ordering;

on_both_substrates! {
    async fn an_inline_analysis_that_passes_lets_the_rollout_on(s: &Substrate) {
        let app = app(1).await;
        let env = Env::start(s).await;
        let strategy = format!(
            "steps:\n- setWeight: 50\n- analysis:\n    templates: [{{templateName: score}}]\n    {}\n    analysisRunMetadata: {{labels: {{team: qa}}}}",
            analysis_args(&app.url).replace('\n', "\n    ")
        );
        env.apply(&format!("{}---\n{}---\n{}", template("score", None), services("pass"), canary_rollout("pass", 2, "app:v1", &strategy))).await;
        env.wait_healthy("pass").await;
        env.set_image("pass", "app:v2").await;
        let (ro, rss) = env.wait_healthy("pass").await;
        assert_eq!(settled_split(&ro, &rss), Some((2, 0)));
        let runs = env.analysis_runs(&ro).await;
        assert_eq!(runs.len(), 1, "one step run");
        let run = &runs[0];
        let hash = status_of(&ro).current_pod_hash.expect("hash");
        assert_eq!(run.metadata.name.as_deref(), Some(format!("pass-{hash}-2-1").as_str()));
        let labels = run.metadata.labels.clone().unwrap_or_default();
        for (k, v) in [("rollout-type", "Step"), ("step-index", "1"), ("rollouts-pod-template-hash", hash.as_str()), ("team", "qa"), ("app", "pass")] {
            assert_eq!(labels.get(k).map(String::as_str), Some(v), "label {k}");
        }
        assert_eq!(run.metadata.annotations.as_ref().and_then(|a| a.get("rollout.argoproj.io/revision")).map(String::as_str), Some("2"));
        let args = run.spec.args.clone().unwrap_or_default();
        assert_eq!(args.iter().find(|a| a.name == "hash").and_then(|a| a.value.clone()), Some(hash));
        assert_eq!(run.status.as_ref().and_then(|s| s.phase.clone()), Some(AnalysisPhase::Successful));
        let owner = run.metadata.owner_references.clone().unwrap_or_default();
        assert_eq!(owner.first().map(|o| (o.kind.as_str(), o.controller)), Some(("Rollout", Some(true))));
        assert_eq!(status_of(&ro).canary.and_then(|c| c.current_step_analysis_run_status), None);
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_failing_inline_analysis_aborts_and_leaves_the_stable_untouched(s: &Substrate) {
        let app = app(0).await;
        let env = Env::start(s).await;
        let strategy = format!(
            "steps:\n- setWeight: 50\n- analysis:\n    templates: [{{templateName: score}}]\n    {}",
            analysis_args(&app.url).replace('\n', "\n    ")
        );
        env.apply(&format!("{}---\n{}---\n{}", template("score", None), services("fail"), canary_rollout("fail", 4, "app:v1", &strategy))).await;
        let (ro, _) = env.wait_healthy("fail").await;
        let stable = status_of(&ro).stable_rs;
        env.set_image("fail", "app:v2").await;
        let (ro, rss) = env.wait("fail", "aborted with the canary scaled down", |ro, rss| {
            status_of(ro).phase == Some(RolloutPhase::Degraded) && settled_split(ro, rss) == Some((0, 4))
        })
        .await;
        let message = status_of(&ro).message.unwrap_or_default();
        assert!(
            message.starts_with("RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed: Metric \"score\" assessed Failed due to failed (1) > failureLimit (0)"),
            "{message}"
        );
        assert_eq!(status_of(&ro).stable_rs, stable, "the stable ReplicaSet is still the stable one");
        let _ = rss;
        let runs = env.analysis_runs(&ro).await;
        assert_eq!(run_kinds(&runs).get("Step"), Some(&1));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn an_inconclusive_step_analysis_pauses_until_promoted(s: &Substrate) {
        let app = app(5).await;
        let env = Env::start(s).await;
        let strategy = format!(
            "steps:\n- setWeight: 50\n- analysis:\n    templates: [{{templateName: score}}]\n    {}",
            analysis_args(&app.url).replace('\n', "\n    ")
        );
        env.apply(&format!("{}---\n{}---\n{}", template("score", None), services("inc"), canary_rollout("inc", 2, "app:v1", &strategy))).await;
        env.wait_healthy("inc").await;
        env.set_image("inc", "app:v2").await;
        let (ro, _) = env.wait_phase("inc", RolloutPhase::Paused, "InconclusiveAnalysisRun").await;
        let status = status_of(&ro);
        assert_eq!(status.controller_pause, Some(true));
        assert_eq!(status.pause_conditions.unwrap_or_default().first().map(|p| p.reason.clone()), Some(PauseReason::InconclusiveAnalysisRun));
        assert_eq!(
            status.canary.and_then(|c| c.current_step_analysis_run_status).map(|r| r.status),
            Some(AnalysisPhase::Inconclusive)
        );
        // Promote of an Inconclusive step run, as upstream's plugin writes it: past the analysis step.
        env.patch_status("inc", r#"{"status":{"pauseConditions":null,"controllerPause":false,"currentStepIndex":2}}"#).await;
        let (ro, rss) = env.wait_healthy("inc").await;
        assert_eq!(settled_split(&ro, &rss), Some((2, 0)));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_failing_background_analysis_aborts_the_update(s: &Substrate) {
        let app = app(1).await;
        let env = Env::start(s).await;
        let strategy = format!(
            "analysis:\n  templates: [{{templateName: watch}}]\n  startingStep: 1\n  {}\nsteps:\n- setWeight: 50\n- pause: {{}}",
            analysis_args(&app.url).replace('\n', "\n  ")
        );
        env.apply(&format!("{}---\n{}---\n{}", template("watch", Some("1s")), services("bg"), canary_rollout("bg", 2, "app:v1", &strategy))).await;
        env.wait_healthy("bg").await;
        env.set_image("bg", "app:v2").await;
        // At the pause the background run is measuring, and passing.
        let (ro, _) = env.wait("bg", "a running background run", |ro, _| {
            status_of(ro).canary.and_then(|c| c.current_background_analysis_run_status).is_some_and(|r| r.status == AnalysisPhase::Running)
        })
        .await;
        let name = status_of(&ro).canary.and_then(|c| c.current_background_analysis_run_status).map(|r| r.name).expect("run");
        assert_eq!(name, format!("bg-{}-2", status_of(&ro).current_pod_hash.expect("hash")));
        app.score.store(0, Ordering::SeqCst);
        let (ro, _) = env
            .wait("bg", "aborted by the background run", |ro, rss| {
                status_of(ro).phase == Some(RolloutPhase::Degraded) && settled_split(ro, rss) == Some((0, 2))
            })
            .await;
        let message = status_of(&ro).message.unwrap_or_default();
        assert!(message.contains("Background analysis phase error/failed: Metric \"score\" assessed Failed"), "{message}");
        let runs = env.analysis_runs(&ro).await;
        assert_eq!(run_kinds(&runs).get("Background"), Some(&1), "no second background run");
        env.stop().await;
    }
}

//! Canary `plugin` steps end to end, on both substrates: the built-in `webhook` step asks a real HTTP server
//! (on 127.0.0.1) and waits, proceeds or fails as it answers; a failed step aborts the Rollout and the steps
//! that ran are aborted newest first; a step plugin that traps or never returns errs on the Rollout's status
//! while the controller goes on serving other Rollouts; a disabled plugin's step is skipped.

use super::fixture::{Env, canary_rollout, services, status_of};
use crate::e2e::plugins::{drop_in, test_plugin};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use serin::api::rollout::{
    PauseReason, RolloutConditionType, RolloutPhase, StepPluginOperation as Op, StepPluginPhase as Phase,
    StepPluginStatus,
};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A webhook receiver: each path answers its scripted bodies in turn (the last one again and again) and
/// remembers what it was sent.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<HashMap<String, VecDeque<Value>>>>,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Receiver {
    async fn start(script: &[(&str, Vec<Value>)]) -> (Receiver, String) {
        let receiver = Receiver::default();
        for (path, answers) in script {
            receiver.script.lock().unwrap().insert(path.to_string(), answers.iter().cloned().collect());
        }
        let r = receiver.clone();
        let app = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(
                move |axum::extract::Path(path): axum::extract::Path<String>, body: axum::Json<Value>| {
                    let r = r.clone();
                    async move {
                        r.calls.lock().unwrap().push((path.clone(), body.0));
                        let mut script = r.script.lock().unwrap();
                        let answers = script.entry(path).or_default();
                        let answer =
                            if answers.len() > 1 { answers.pop_front() } else { answers.front().cloned() };
                        axum::Json(answer.unwrap_or(json!({})))
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (receiver, url)
    }

    /// (path, phase, step index) of every call so far.
    fn calls(&self) -> Vec<(String, String, u64)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(p, b)| {
                (
                    p.clone(),
                    b["phase"].as_str().unwrap_or("").to_string(),
                    b["stepIndex"].as_u64().unwrap_or(99),
                )
            })
            .collect()
    }
}

fn entries(s: &[StepPluginStatus]) -> Vec<(i32, Op, Option<Phase>)> {
    s.iter().map(|e| (e.index, e.operation.clone(), e.phase.clone())).collect()
}

fn plugin_statuses(ro: &serin::api::rollout::Rollout) -> Vec<StepPluginStatus> {
    status_of(ro).canary.and_then(|c| c.step_plugin_statuses).unwrap_or_default()
}

/// Registers the `step` test plugin as `acme/step` (disabled when asked) and waits until it is loaded so.
async fn register_step(env: &Env<'_>, disabled: bool) {
    let cms: Api<ConfigMap> = env.s.api();
    // A short deadline, so that a plugin that never returns is stopped soon.
    let extra = if disabled { "disabled: true\n" } else { "limits: {timeout: 2s}\n" };
    let cm = drop_in(&env.s.namespace, "acme-step", "acme/step", test_plugin("step"), extra);
    cms.patch("acme-step", &PatchParams::apply("test").force(), &Patch::Apply(cm))
        .await
        .expect("drop-in step");
    let catalog = env.controller.as_ref().expect("controller").catalog().clone();
    crate::e2e::wait::eventually("acme/step registered", || {
        let loaded =
            catalog.entries().get("acme/step").is_some_and(|e| e.error.is_none() && e.disabled == disabled);
        async move { loaded.then_some(()) }
    })
    .await;
}

on_both_substrates! {
    async fn a_webhook_step_waits_until_its_receiver_says_proceed(s: &Substrate) {
        let env = Env::start(s).await;
        let (receiver, url) = Receiver::start(&[(
            "gate",
            vec![json!({"decision": "wait", "retryAfterSeconds": 1, "message": "change ticket open"}), json!({"decision": "proceed", "message": "approved"})],
        )])
        .await;
        let name = "gated";
        let strategy = format!(
            "steps:\n- setWeight: 50\n- plugin: {{name: webhook, config: {{url: \"{url}/gate\", metadata: {{ticket: CHG-1}}}}}}\n- pause: {{}}\n"
        );
        env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 2, "app:v1", &strategy))).await;
        env.wait_healthy(name).await;
        assert!(receiver.calls().is_empty(), "the first revision runs no steps");

        env.set_image(name, "app:v2").await;
        let (ro, _) = env
            .wait(name, "the webhook step waiting", |ro, _| {
                plugin_statuses(ro).first().is_some_and(|e| e.message.as_deref() == Some("change ticket open"))
            })
            .await;
        let running = &plugin_statuses(&ro)[0];
        assert_eq!((running.index, running.phase.clone(), running.executions), (1, Some(Phase::Running), Some(1)));
        assert_eq!(running.backoff.as_deref(), Some("10s"), "a requeue below the minimum is raised to it");
        assert_eq!(status_of(&ro).current_step_index, Some(1));

        let (ro, _) = env
            .wait(name, "past the webhook step, at the pause", |ro, _| {
                status_of(ro).current_step_index == Some(2)
                    && status_of(ro).pause_conditions.iter().flatten().any(|c| c.reason == PauseReason::CanaryPauseStep)
            })
            .await;
        let done = plugin_statuses(&ro);
        assert_eq!(entries(&done), [(1, Op::Run, Some(Phase::Successful))]);
        assert_eq!((done[0].executions, done[0].message.as_deref()), (Some(2), Some("approved")));
        assert!(done[0].finished_at.is_some());
        let calls = receiver.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2, "asked once more after the wait: {calls:?}");
        let body = &calls[0].1;
        assert_eq!((body["name"].as_str(), body["namespace"].as_str()), (Some(name), Some(s.namespace.as_str())));
        assert_eq!((body["phase"].as_str(), body["stepIndex"].as_u64()), (Some("Run"), Some(1)));
        assert_eq!(body["metadata"], json!({"ticket": "CHG-1"}));
        assert_eq!(body["canaryPodHash"], json!(status_of(&ro).current_pod_hash));

        env.promote(name).await;
        let (ro, _) = env.wait_healthy(name).await;
        assert_eq!(entries(&plugin_statuses(&ro)), [(1, Op::Run, Some(Phase::Successful))], "kept once Healthy");
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_failed_step_aborts_the_rollout_and_the_steps_that_ran_are_aborted_newest_first(s: &Substrate) {
        let env = Env::start(s).await;
        register_step(&env, false).await;
        let (receiver, url) = Receiver::start(&[
            ("ok", vec![json!({"decision": "proceed"})]),
            ("fail", vec![json!({"decision": "fail", "message": "load test: error rate 12%"})]),
        ])
        .await;
        let name = "failing";
        let strategy = format!(
            r#"steps:
- plugin: {{name: acme/step, config: {{succeedAfter: 1}}}}
- setWeight: 50
- plugin: {{name: webhook, config: {{url: "{url}/ok", callOnAbort: true}}}}
- plugin: {{name: webhook, config: {{url: "{url}/fail", callOnAbort: true}}}}
- pause: {{}}
"#
        );
        env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 2, "app:v1", &strategy))).await;
        env.wait_healthy(name).await;
        env.set_image(name, "app:v2").await;

        let (ro, rss) = env
            .wait(name, "aborted, with every step that ran aborted", |ro, _| {
                status_of(ro).abort == Some(true) && plugin_statuses(ro).iter().filter(|e| e.operation == Op::Abort).count() == 2
            })
            .await;
        use Phase::*;
        assert_eq!(
            entries(&plugin_statuses(&ro)),
            [
                (0, Op::Run, Some(Successful)),
                (2, Op::Run, Some(Successful)),
                (3, Op::Run, Some(Failed)),
                (2, Op::Abort, Some(Successful)),
                (0, Op::Abort, Some(Successful)),
            ],
            "the failed step is not aborted; the others are, newest first"
        );
        let abort0 = &plugin_statuses(&ro)[4];
        assert_eq!(abort0.message.as_deref(), Some("aborted after 1 runs"), "the abort sees the run's status");
        assert_eq!(
            receiver.calls(),
            [("ok".into(), "Run".into(), 2), ("fail".into(), "Run".into(), 3), ("ok".into(), "Abort".into(), 2)]
        );
        let progressing = serin::strategy::conditions::get(&status_of(&ro), &RolloutConditionType::Progressing).cloned().expect("progressing");
        assert_eq!(progressing.reason, "RolloutAborted");
        assert_eq!(progressing.message, "Rollout aborted update to revision 2: load test: error rate 12%");
        let (ro, _) = env.wait_phase(name, RolloutPhase::Degraded, "RolloutAborted: Rollout aborted update to revision 2: load test: error rate 12%").await;
        assert_eq!(status_of(&ro).current_step_index, Some(0));
        assert!(rss.len() >= 2);
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_step_plugin_that_traps_or_loops_errs_while_other_rollouts_go_on(s: &Substrate) {
        let env = Env::start(s).await;
        register_step(&env, false).await;
        let strategy = |config: &str| format!("steps:\n- plugin: {{name: acme/step, config: {config}}}\n- pause: {{}}\n");
        let manifests = [
            ("trapping", strategy("{trap: true}")),
            ("looping", strategy("{loop: true}")),
            ("unknown", "steps:\n- plugin: {name: acme/missing}\n".to_string()),
            ("bystander", "steps:\n- setWeight: 50\n- pause: {duration: 1}\n".to_string()),
        ];
        for (name, strategy) in &manifests {
            env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 1, "app:v1", strategy))).await;
            env.wait_healthy(name).await;
        }
        for (name, _) in &manifests {
            env.set_image(name, "app:v2").await;
        }
        for (name, want) in [
            ("trapping", "trapped"),
            ("looping", "exceeded its deadline of 2s"),
            ("unknown", "plugin acme/missing is not registered"),
        ] {
            let (ro, _) = env
                .wait(name, "the step plugin's error on the status", |ro, _| {
                    plugin_statuses(ro).first().is_some_and(|e| e.phase == Some(Phase::Error))
                })
                .await;
            let entry = &plugin_statuses(&ro)[0];
            let message = entry.message.clone().unwrap_or_default();
            assert!(message.contains(want), "{name}: {message}");
            assert_eq!((entry.backoff.as_deref(), entry.operation.clone()), (Some("30s"), Op::Run), "{name}");
            assert_eq!(status_of(&ro).current_step_index, Some(0), "{name} stays at its step");
        }
        env.wait_healthy("bystander").await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_disabled_step_plugin_is_skipped(s: &Substrate) {
        let env = Env::start(s).await;
        register_step(&env, true).await;
        let name = "skipping";
        let strategy = "steps:\n- plugin: {name: acme/step, config: {succeedAfter: 5}}\n- pause: {}\n";
        env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 1, "app:v1", strategy))).await;
        env.wait_healthy(name).await;
        env.set_image(name, "app:v2").await;
        let (ro, _) = env.wait(name, "at the pause", |ro, _| status_of(ro).current_step_index == Some(1)).await;
        let skipped = plugin_statuses(&ro);
        assert_eq!(entries(&skipped), [(0, Op::Run, None)]);
        assert_eq!(skipped[0].disabled, Some(true));
        env.promote(name).await;
        env.wait_healthy(name).await;
        env.stop().await;
    }
}

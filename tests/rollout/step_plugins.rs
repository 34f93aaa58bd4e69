//! Canary `plugin` steps end to end, on both substrates: the built-in `webhook` step asks a real HTTP server
//! (on 127.0.0.1) and waits, proceeds or fails as it answers; a failed step aborts the Rollout and the steps
//! that ran are aborted newest first; a step plugin that traps or never returns errs on the Rollout's status
//! while the controller goes on serving other Rollouts; a disabled plugin's step is skipped; and upstream's own
//! step-plugin e2e manifests get what upstream's suite expects of them.

use super::fixture::{Env, canary_rollout, events_of, register_plugin, services, status_of};
use crate::e2e::plugins::test_plugin;
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

/// Registers `component` as `plugin` from a drop-in ConfigMap and waits until it is loaded (as disabled, when
/// `extra` says so).
async fn register(env: &Env<'_>, plugin: &str, component: Vec<u8>, extra: &str) {
    let disabled = extra.contains("disabled: true");
    register_plugin(env, plugin, component, extra, |e| e.disabled == disabled).await;
}

/// Registers the `step` test plugin as `acme/step` (disabled when asked).
async fn register_step(env: &Env<'_>, disabled: bool) {
    // A short deadline, so that a plugin that never returns is stopped soon.
    let extra = if disabled { "disabled: true\n" } else { "limits: {timeout: 2s}\n" };
    register(env, "acme/step", test_plugin("step"), extra).await;
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

/// Upstream's step-plugin e2e manifests (`test/e2e/step-plugin`), with `$$…$$` filled in as its suite fills
/// them.
fn upstream_manifest(file: &str, vars: &[(&str, &str)]) -> String {
    let path = crate::support::corpus_root().join("test/e2e/step-plugin").join(file);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (k, v) in vars {
        text = text.replace(k, v);
    }
    text
}

/// `UpdateSpec()` of upstream's e2e fixtures: a change of the pod template, so a new revision starts.
async fn update_spec(env: &Env<'_>, name: &str, revision: u32) {
    let patch =
        format!(r#"{{"spec":{{"template":{{"metadata":{{"annotations":{{"update":"{revision}"}}}}}}}}}}"#);
    env.patch_spec(name, &patch).await;
}

async fn wait_running_at_1(env: &Env<'_>, name: &str) {
    env.wait(name, "the second step's plugin running", |ro, _| {
        status_of(ro).current_step_index == Some(1)
            && entry_at(ro, 1).is_some_and(|e| e.phase == Some(Phase::Running) && e.operation == Op::Run)
    })
    .await;
}

fn entry_at(ro: &serin::api::rollout::Rollout, i: usize) -> Option<StepPluginStatus> {
    plugin_statuses(ro).get(i).cloned()
}

/// (name, index, operation, phase) of each entry.
fn rows(ro: &serin::api::rollout::Rollout) -> Vec<(String, i32, Op, Option<Phase>)> {
    plugin_statuses(ro).into_iter().map(|e| (e.name, e.index, e.operation, e.phase)).collect()
}

on_both_substrates! {
    async fn upstreams_step_plugin_suite_gets_what_it_expects(s: &Substrate) {
        use Phase::*;
        let env = Env::start(s).await;
        // Upstream's e2e plugin, as upstream's suite registers it (enabled, and once more disabled).
        register(&env, "step/e2e-test", test_plugin("step"), "").await;
        register(&env, "step/e2e-test-disabled", test_plugin("step"), "disabled: true\n").await;

        let template = |name: &str, phase: &str| upstream_manifest("template-rollout.yaml", &[("$$name$$", name), ("$$phase$$", phase)]);
        let cases = [
            ("successful", template("successful", "Successful")),
            ("failed", template("failed", "Failed")),
            ("aborted", template("aborted", "Running")),
            ("full-promotion", template("full-promotion", "Running")),
            ("running", template("running", "Running")),
            ("error", template("error", "invalidPhaseCausingPluginError")),
            ("run-again", template("run-again", "Successful")),
            ("invalid", upstream_manifest("invalid-rollout.yaml", &[])),
            ("disabled", upstream_manifest("disabled-rollout.yaml", &[("$$disabled_plugin$$", "step/e2e-test-disabled")])),
        ];
        let full_name = |n: &str| match n {
            "invalid" => "invalid-step-plugin".to_string(),
            "disabled" => "disabled-step-plugin".to_string(),
            n => format!("step-plugin-e2e-{n}"),
        };
        for (_, manifest) in &cases {
            env.apply(manifest).await;
        }
        for (n, _) in &cases {
            env.wait_healthy(&full_name(n)).await;
        }
        for n in ["running", "error"] {
            env.patch_spec(&full_name(n), r#"{"spec":{"progressDeadlineSeconds":15}}"#).await;
            env.wait_healthy(&full_name(n)).await;
        }
        for (n, _) in &cases {
            update_spec(&env, &full_name(n), 2).await;
        }
        let e2e = "step/e2e-test".to_string();

        // TestRolloutCompletesWhenStepSuccessful
        let (ro, _) = env.wait_healthy(&full_name("successful")).await;
        assert_eq!(rows(&ro), [(e2e.clone(), 0, Op::Run, Some(Successful)), (e2e.clone(), 1, Op::Run, Some(Successful))]);

        // TestRolloutAbortWhenStepFails
        let name = full_name("failed");
        let (ro, _) = env.wait(&name, "aborted with the first step aborted", |ro, _| plugin_statuses(ro).len() == 3).await;
        assert_eq!(status_of(&ro).abort, Some(true));
        assert_eq!(
            rows(&ro),
            [(e2e.clone(), 0, Op::Run, Some(Successful)), (e2e.clone(), 1, Op::Run, Some(Failed)), (e2e.clone(), 0, Op::Abort, Some(Successful))]
        );
        env.wait(&name, "Degraded", |ro, _| status_of(ro).phase == Some(RolloutPhase::Degraded)).await;

        // TestRolloutAbortStepsWhenAborted
        let name = full_name("aborted");
        wait_running_at_1(&env, &name).await;
        env.patch_status(&name, r#"{"status":{"abort":true}}"#).await;
        let (ro, _) = env.wait(&name, "both steps aborted", |ro, _| plugin_statuses(ro).len() == 4).await;
        assert_eq!(
            rows(&ro),
            [
                (e2e.clone(), 0, Op::Run, Some(Successful)),
                (e2e.clone(), 1, Op::Run, Some(Running)),
                (e2e.clone(), 1, Op::Abort, Some(Successful)),
                (e2e.clone(), 0, Op::Abort, Some(Successful)),
            ]
        );

        // TestRolloutCompletesWhenPromotedAndStepRunning
        let name = full_name("full-promotion");
        wait_running_at_1(&env, &name).await;
        env.patch_status(&name, r#"{"status":{"promoteFull":true}}"#).await;
        let (ro, _) = env.wait_healthy(&name).await;
        let (ro, _) = if plugin_statuses(&ro).len() == 3 {
            (ro, Vec::new())
        } else {
            env.wait(&name, "the running step terminated", |ro, _| plugin_statuses(ro).len() == 3).await
        };
        assert_eq!(
            rows(&ro),
            [(e2e.clone(), 0, Op::Run, Some(Successful)), (e2e.clone(), 1, Op::Run, Some(Running)), (e2e.clone(), 1, Op::Terminate, Some(Successful))]
        );

        // TestRolloutRetriesUntilDeadlineWhenRunning / ...WhenError
        for (n, phase) in [("running", Running), ("error", Error)] {
            let (ro, _) = env.wait(&full_name(n), "Degraded at the second step", |ro, _| {
                status_of(ro).phase == Some(RolloutPhase::Degraded) && status_of(ro).current_step_index == Some(1)
            })
            .await;
            assert_eq!(plugin_statuses(&ro).len(), 2, "{n}");
            let e = entry_at(&ro, 1).expect("entry");
            assert_eq!((e.index, e.operation.clone(), e.phase.clone()), (1, Op::Run, Some(phase.clone())), "{n}");
            if phase == Error {
                assert!(e.message.as_deref().unwrap_or("").contains("phase 'invalidPhaseCausingPluginError' is not valid"), "{e:?}");
                // The first step's status is the plugin's; this one never had one.
                assert_eq!(e.status, None);
            } else {
                assert!(e.status.is_some(), "{e:?}");
            }
        }

        // TestRolloutStatusIsNotUsedOnNewRollout
        let name = full_name("run-again");
        env.wait_healthy(&name).await;
        env.patch_spec(&name, r#"{"spec":{"strategy":{"canary":{"steps":[{"plugin":{"name":"step/e2e-test","config":{"return":"Successful"}}}]}}}}"#).await;
        update_spec(&env, &name, 3).await;
        let (ro, _) = env.wait(&name, "Healthy at revision 3", |ro, _| {
            status_of(ro).phase == Some(RolloutPhase::Healthy) && plugin_statuses(ro).len() == 1
        })
        .await;
        assert_eq!(rows(&ro), [(e2e.clone(), 0, Op::Run, Some(Successful))]);

        // TestRolloutErrorWhenStepPluginNotConfigured: upstream records nothing; serin records why.
        let (ro, _) = env.wait(&full_name("invalid"), "Degraded at the first step", |ro, _| {
            status_of(ro).phase == Some(RolloutPhase::Degraded)
        })
        .await;
        assert_eq!(status_of(&ro).current_step_index, Some(0));
        let e = entry_at(&ro, 0).expect("an entry saying why");
        assert_eq!(e.phase, Some(Error));
        assert!(e.message.unwrap_or_default().contains("plugin step/e2e-test-invalid-name is not registered"));

        // TestRolloutSkipPluginWhenDisabled (the disabled step leaves its entry, as upstream's code does).
        let (ro, _) = env.wait_healthy(&full_name("disabled")).await;
        assert_eq!(
            rows(&ro),
            [("step/e2e-test-disabled".to_string(), 0, Op::Run, None), (e2e.clone(), 1, Op::Run, Some(Successful))]
        );
        assert_eq!(plugin_statuses(&ro)[0].disabled, Some(true));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_step_plugin_written_in_c_soaks_the_canary_from_a_drop_in(s: &Substrate) {
        let env = Env::start(s).await;
        register(&env, "example/c-soak", crate::c_build::build("c-step", "0.2.0", "step-plugin"), "").await;
        let name = "soaked";
        let strategy = "steps:\n- setWeight: 50\n- plugin: {name: example/c-soak, config: {checks: 2, intervalSeconds: 1}}\n- pause: {}\n";
        env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 2, "app:v1", strategy))).await;
        env.wait_healthy(name).await;
        env.set_image(name, "app:v2").await;
        let (ro, _) = env
            .wait(name, "the first soak check", |ro, _| plugin_statuses(ro).first().is_some_and(|e| e.executions == Some(1)))
            .await;
        let first = &plugin_statuses(&ro)[0];
        assert_eq!(first.message.as_deref(), Some("soak check 1 of 2, next in 1s"));
        assert_eq!((first.phase.clone(), first.status.clone()), (Some(Phase::Running), Some(json!({"checks": 1}))));
        let (ro, _) = env.wait(name, "at the pause after the soak", |ro, _| status_of(ro).current_step_index == Some(2)).await;
        let done = &plugin_statuses(&ro)[0];
        assert_eq!(done.message.as_deref(), Some("soak check 2 of 2 passed"));
        assert_eq!(
            (done.phase.clone(), done.executions, done.status.clone()),
            (Some(Phase::Successful), Some(2), Some(json!({"checks": 2})))
        );
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_new_revision_terminates_a_step_still_running(s: &Substrate) {
        let env = Env::start(s).await;
        let (receiver, url) = Receiver::start(&[("hold", vec![json!({"decision": "wait", "message": "holding"})])]).await;
        let name = "superseded";
        let strategy = format!(
            "steps:\n- setWeight: 50\n- plugin: {{name: webhook, config: {{url: \"{url}/hold\", callOnTerminate: true}}}}\n"
        );
        env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 2, "app:v1", &strategy))).await;
        env.wait_healthy(name).await;
        env.set_image(name, "app:v2").await;
        let running = |ro: &serin::api::rollout::Rollout| {
            plugin_statuses(ro).first().is_some_and(|e| e.phase == Some(Phase::Running))
        };
        env.wait(name, "the step holding v2", |ro, _| running(ro)).await;
        env.set_image(name, "app:v3").await;
        let (ro, _) = env
            .wait(name, "the step holding v3", |ro, _| {
                running(ro) && status_of(ro).current_pod_hash != status_of(ro).stable_rs && ro.status.as_ref().and_then(|s| s.observed_generation.clone()) == Some(ro.metadata.generation.unwrap_or(0).to_string())
            })
            .await;
        let calls = receiver.calls();
        let terminate = calls.iter().position(|c| c.1 == "Terminate").expect("the superseded step terminated");
        assert_eq!(calls[terminate], ("hold".to_string(), "Terminate".to_string(), 1));
        assert!(calls[..terminate].iter().all(|c| c.1 == "Run"), "{calls:?}");
        // The new revision starts afresh: one entry, its own.
        crate::e2e::wait::eventually("v3's own run", || {
            let calls = receiver.calls();
            async move { calls.iter().skip(terminate + 1).any(|c| c.1 == "Run").then_some(()) }
        })
        .await;
        assert_eq!(entries(&plugin_statuses(&ro)), [(1, Op::Run, Some(Phase::Running))]);
        // Events are written in the background: wait for this one.
        crate::e2e::wait::eventually("the terminate's transition event", || async {
            let events = events_of(&env, name).await;
            events
                .iter()
                .any(|e| e.starts_with("Normal StepPluginTransition: Step plugin webhook (step 2) terminate: Successful"))
                .then_some(())
        })
        .await;
        env.stop().await;
    }
}

//! Level-triggered and idempotent: a controller stopped in the middle of an update (canary or blue-green) and
//! started again carries on from the Rollout's status with no second ReplicaSet or AnalysisRun; an API server failing writes and
//! dropping watches slows the update down but does not change where it ends.

use super::fixture::{Env, canary_rollout, run_kinds, services, settled_split, sizes, status_of};
use crate::e2e::substrate::Substrate;
use serin::api::common::AnalysisPhase;
use serin::api::rollout::{PauseReason, RolloutPhase};
use serin::cluster::{Faults, InjectedError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

async fn slow_app(ready: Arc<AtomicBool>) -> String {
    let router = axum::Router::new().route(
        "/ok",
        axum::routing::get(move || {
            let ok = ready.load(Ordering::SeqCst);
            async move { axum::Json(serde_json::json!({ "ok": ok })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

const TEMPLATE: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: gate}
spec:
  args: [{name: url}]
  metrics:
  - name: ok
    interval: 1s
    count: 600
    consecutiveSuccessLimit: 1
    failureLimit: -1
    successCondition: result == true
    provider:
      web:
        url: "{{args.url}}/ok"
        jsonPath: "{$.ok}"
"#;

on_both_substrates! {
    async fn a_restarted_controller_resumes_at_the_same_step_with_no_second_run(s: &Substrate) {
        let ready = Arc::new(AtomicBool::new(false));
        let url = slow_app(ready.clone()).await;
        let mut env = Env::start(s).await;
        let strategy = format!(
            "steps:\n- setWeight: 50\n- analysis:\n    templates: [{{templateName: gate}}]\n    args: [{{name: url, value: \"{url}\"}}]\n- pause: {{}}"
        );
        env.apply(&format!("{TEMPLATE}---\n{}---\n{}", services("crash"), canary_rollout("crash", 2, "app:v1", &strategy))).await;
        env.wait_healthy("crash").await;
        env.set_image("crash", "app:v2").await;
        let (ro, _) = env
            .wait("crash", "the step analysis running", |ro, _| {
                status_of(ro).canary.and_then(|c| c.current_step_analysis_run_status).is_some_and(|r| r.status == AnalysisPhase::Running)
            })
            .await;
        let run_name = status_of(&ro).canary.and_then(|c| c.current_step_analysis_run_status).map(|r| r.name).expect("run");
        env.stop_controller().await;

        // Meanwhile the measurement would pass; a new controller finds the same run and goes on.
        ready.store(true, Ordering::SeqCst);
        env.start_controller().await;
        let (ro, rss) = env
            .wait("crash", "the pause after the analysis", |ro, _| {
                status_of(ro).current_step_index == Some(2)
                    && status_of(ro).pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::CanaryPauseStep)
            })
            .await;
        // A controller that decided before its caches were listed would take the update for an initial deploy
        // and promote it at once, counting revisions from 1 again.
        let revision = ro.metadata.annotations.as_ref().and_then(|a| a.get("rollout.argoproj.io/revision").cloned());
        assert_eq!(revision.as_deref(), Some("2"), "the update stays revision 2");
        let runs = env.analysis_runs(&ro).await;
        assert_eq!(runs.iter().filter_map(|r| r.metadata.name.clone()).collect::<Vec<_>>(), [run_name], "one run");
        assert_eq!(rss.len(), 2, "one ReplicaSet per revision: {:?}", sizes(&rss));
        // Stopped and started again at a pause: nothing changes, nothing is created.
        env.stop_controller().await;
        env.start_controller().await;
        env.promote("crash").await;
        let (ro, rss) = env.wait_healthy("crash").await;
        assert_eq!(settled_split(&ro, &rss), Some((2, 0)));
        assert_eq!(rss.len(), 2);
        assert_eq!(run_kinds(&env.analysis_runs(&ro).await).get("Step"), Some(&1));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn a_restarted_controller_keeps_a_blue_green_update_and_its_pre_promotion_run(s: &Substrate) {
        let ready = Arc::new(AtomicBool::new(false));
        let url = slow_app(ready.clone()).await;
        let mut env = Env::start(s).await;
        let rollout = canary_rollout("bgcrash", 2, "app:v1", "").replace(
            "    canary:\n      stableService: bgcrash-stable\n      canaryService: bgcrash-canary\n",
            &format!(
                "    blueGreen:\n      activeService: bgcrash-stable\n      previewService: bgcrash-canary\n      autoPromotionEnabled: false\n      prePromotionAnalysis:\n        templates: [{{templateName: gate}}]\n        args: [{{name: url, value: \"{url}\"}}]\n"
            ),
        );
        assert!(rollout.contains("blueGreen"), "{rollout}");
        env.apply(&format!("{TEMPLATE}---\n{}---\n{rollout}", services("bgcrash"))).await;
        let (ro, _) = env.wait_healthy("bgcrash").await;
        let v1 = status_of(&ro).stable_rs.expect("stable");
        env.set_image("bgcrash", "app:v2").await;
        let (ro, _) = env
            .wait("bgcrash", "the pre-promotion analysis running", |ro, _| {
                status_of(ro).blue_green.and_then(|b| b.pre_promotion_analysis_run_status).is_some_and(|r| r.status == AnalysisPhase::Running)
            })
            .await;
        let run_name = status_of(&ro).blue_green.and_then(|b| b.pre_promotion_analysis_run_status).map(|r| r.name).expect("run");
        env.stop_controller().await;

        ready.store(true, Ordering::SeqCst);
        env.start_controller().await;
        let (ro, rss) = env
            .wait("bgcrash", "paused after the analysis", |ro, _| {
                status_of(ro).pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::BlueGreenPause)
            })
            .await;
        let revision = ro.metadata.annotations.as_ref().and_then(|a| a.get("rollout.argoproj.io/revision").cloned());
        assert_eq!(revision.as_deref(), Some("2"), "the update stays revision 2");
        assert_eq!(status_of(&ro).stable_rs.as_deref(), Some(v1.as_str()), "not promoted by the restart");
        let runs = env.analysis_runs(&ro).await;
        assert_eq!(runs.iter().filter_map(|r| r.metadata.name.clone()).collect::<Vec<_>>(), [run_name], "one run");
        assert_eq!(rss.len(), 2, "one ReplicaSet per revision: {:?}", sizes(&rss));
        env.stop_controller().await;
        env.start_controller().await;
        env.promote("bgcrash").await;
        let (ro, rss) = env.wait_healthy("bgcrash").await;
        assert_ne!(status_of(&ro).stable_rs.as_deref(), Some(v1.as_str()));
        assert_eq!(rss.len(), 2);
        assert_eq!(run_kinds(&env.analysis_runs(&ro).await).get("PrePromotion"), Some(&1));
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_converges_while_the_api_server_fails_writes_and_drops_watches() {
    let s = Substrate::embedded("faults").await;
    let cluster = s.embedded_cluster().expect("embedded");
    let env = Env::start(&s).await;
    let strategy =
        "steps:\n- setWeight: 25\n- pause: {duration: 1s}\n- setWeight: 75\n- pause: {duration: 1s}";
    env.apply(&format!("{}---\n{}", services("flaky"), canary_rollout("flaky", 4, "app:v1", strategy))).await;
    env.wait_healthy("flaky").await;
    // From here a third of the writes fail (409, 500 and 429 in turn) and watches are cut.
    cluster.set_faults(
        Faults::none()
            .failing_writes(
                0.3,
                &[InjectedError::Conflict, InjectedError::Internal, InjectedError::TooManyRequests],
            )
            .with_seed(7),
    );
    let patch = r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:v2"}]}}}}"#;
    // The test's own write may be refused too: retried like a user would.
    let rollouts = env.rollouts();
    crate::e2e::wait::eventually("the image update accepted", || {
        let rollouts = rollouts.clone();
        async move {
            let p: serde_json::Value = serde_json::from_str(patch).expect("patch");
            rollouts
                .patch("flaky", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&p))
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    // Watches are cut as the update reaches each weight.
    for step in [1, 3] {
        env.wait("flaky", &format!("step {step}"), |ro, _| {
            status_of(ro).current_step_index.unwrap_or(0) >= step
        })
        .await;
        cluster.drop_watches();
    }
    let (ro, rss) = env.wait_healthy("flaky").await;
    cluster.set_faults(Faults::none());
    assert_eq!(settled_split(&ro, &rss), Some((4, 0)));
    assert_eq!(rss.len(), 2, "no duplicate ReplicaSet: {:?}", sizes(&rss));
    assert_eq!(status_of(&ro).phase, Some(RolloutPhase::Healthy));
    env.stop().await;
    s.stop().await;
}

on_both_substrates! {
    async fn without_qps_the_client_limit_follows_the_api_servers_flow_control(s: &Substrate) {
        // The real kube-apiserver has priority and fairness (on by default) and says so in its answers; the
        // embedded cluster has none, so a controller without --qps keeps serin's default limit against it.
        use serin::controller::{DEFAULT_BURST, DEFAULT_QPS, metrics, throttle};
        let bucket = throttle::bucket(None, DEFAULT_QPS, DEFAULT_BURST).expect("a bucket");
        let fixed = throttle::bucket(Some(DEFAULT_QPS), DEFAULT_QPS, DEFAULT_BURST).expect("a bucket");
        let counted = Arc::new(metrics::Metrics::new());
        let list = |bucket: &Arc<throttle::TokenBucket>| {
            let client = metrics::counting_client(s.client.clone(), counted.clone(), Some(bucket.clone()));
            async move {
                kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client, &s.namespace)
                    .list(&Default::default())
                    .await
                    .expect("list ConfigMaps");
            }
        };
        assert!(bucket.limits(), "limits before the server has answered");
        list(&bucket).await;
        list(&fixed).await;
        match s.kind {
            crate::e2e::substrate::Kind::Real => assert!(!bucket.limits(), "no limit once the server shows APF"),
            crate::e2e::substrate::Kind::Embedded => assert!(bucket.limits(), "no APF: the default limit stays"),
        }
        assert!(fixed.limits(), "an explicit --qps is kept whatever the server says");
    }
}

//! `/metrics` through the real HTTP endpoint, on both substrates: a canary, its AnalysisRun and an Experiment
//! appear under upstream's metric names and labels, with the reconcile histograms, Event and request counts;
//! two controllers split a namespace by `--instance-id`, each with only its own Rollouts.

use crate::rollout::fixture::{Env, canary_rollout, services};

/// The value of the series `line` starts (name and labels, exactly as written).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok())
    })
}

/// Scrapes until `series` has `want`, and returns that scrape.
async fn scrape_until(env: &Env<'_>, series: &str, want: f64) -> String {
    let start = std::time::Instant::now();
    loop {
        let text = env.metrics().await;
        if value(&text, series) == Some(want) {
            return text;
        }
        assert!(start.elapsed() < crate::e2e::wait::WAIT * 2, "no {series} {want}: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

on_both_substrates! {
    async fn a_canary_its_analysis_and_an_experiment_are_in_the_metrics(s: &Substrate) {
        let env = Env::start(s).await;
        let app = crate::rollout::fixture::app(1).await;
        env.apply(&crate::rollout::fixture::template("score", None)).await;
        let strategy = format!(
            "steps:\n- setWeight: 50\n- analysis:\n    templates: [{{templateName: score}}]\n    {}\n- pause: {{}}",
            crate::rollout::fixture::analysis_args(&app.url).replace('\n', "\n    ")
        );
        env.apply(&format!("{}---\n{}", services("metered"), canary_rollout("metered", 2, "app:v1", &strategy))).await;
        env.wait_healthy("metered").await;
        env.set_image("metered", "app:v2").await;
        env.wait("metered", "paused after its analysis", |ro, _| {
            crate::rollout::fixture::status_of(ro).current_step_index == Some(2)
                && crate::rollout::fixture::status_of(ro).pause_conditions.is_some()
        })
        .await;
        let ns = env.s.namespace.clone();
        // The metrics are read from the controller's cache, which may be a moment behind the API server.
        let info = format!(r#"rollout_info{{name="metered",namespace="{ns}",phase="Paused",strategy="canary",traffic_router=""}}"#);
        let text = scrape_until(&env, &info, 1.0).await;
        let desired = format!(r#"rollout_info_replicas_desired{{name="metered",namespace="{ns}"}}"#);
        assert_eq!(value(&text, &desired), Some(2.0), "{text}");
        let paused = format!(r#"rollout_phase{{name="metered",namespace="{ns}",phase="Paused",strategy="canary"}}"#);
        assert_eq!(value(&text, &paused), Some(1.0), "{text}");
        let reconciles = format!(r#"rollout_reconcile_count{{name="metered",namespace="{ns}"}}"#);
        assert!(value(&text, &reconciles).is_some_and(|n| n >= 3.0), "{text}");
        let completed = format!(r#"rollout_events_total{{name="metered",namespace="{ns}",reason="RolloutCompleted",type="Normal"}}"#);
        assert!(value(&text, &completed).is_some_and(|n| n >= 1.0), "{text}");
        let run_line = text
            .lines()
            .find(|l| l.starts_with("analysis_run_info{") && l.contains(r#"phase="Successful""#) && l.contains(&format!(r#"namespace="{ns}""#)))
            .unwrap_or_else(|| panic!("the step's run: {text}"));
        assert!(run_line.ends_with(" 1"), "{run_line}");
        assert!(
            text.lines().any(|l| l.starts_with("analysis_run_metric_type{") && l.contains(r#"metric="score""#) && l.contains(r#"type="Web""#)),
            "{text}"
        );
        let writes = format!(
            r#"controller_clientset_k8s_request_total{{kind="rollouts",name="metered",namespace="{ns}",status_code="200",verb="Update"}}"#
        );
        assert!(value(&text, &writes).is_some_and(|n| n >= 1.0), "the status writes are counted: {text}");
        // serin's own: the web provider and the condition evaluator ran, and are listed as built-ins.
        assert!(value(&text, r#"serin_plugin_calls_total{plugin="web",result="ok"}"#).is_some_and(|n| n >= 1.0), "{text}");
        assert!(value(&text, r#"serin_plugin_call_duration_seconds_count{plugin="expr"}"#).is_some_and(|n| n >= 1.0), "{text}");
        assert_eq!(value(&text, r#"serin_plugins{plugin="web",status="builtin"}"#), Some(1.0), "{text}");
        assert!(text.contains("# TYPE rollout_reconcile histogram"), "{text}");
        assert!(text.contains(r#"le="0.15""#), "upstream's buckets: {text}");

        let path = crate::support::corpus_root().join("test/e2e/functional/experiment-basic.yaml");
        let basic = std::fs::read_to_string(&path).expect("experiment-basic.yaml").replace("generateName: experiment-basic-", "name: metered-ex");
        env.apply(&basic).await;
        let series = format!(r#"experiment_info{{name="metered-ex",namespace="{ns}",phase="Running"}}"#);
        scrape_until(&env, &series, 1.0).await;
        env.stop().await;
    }
}

on_both_substrates! {
    async fn two_controllers_share_a_namespace_by_instance_id(s: &Substrate) {
        let env = Env::start(s).await;
        let mut blue = Env { s: env.s, controller: None };
        blue.start_controller_as("blue").await;
        let labelled = canary_rollout("labelled", 1, "app:v1", "steps:\n- setWeight: 50").replace(
            "metadata: {name: labelled}",
            "metadata: {name: labelled, labels: {argo-rollouts.argoproj.io/controller-instance-id: blue}}",
        );
        assert!(labelled.contains("controller-instance-id: blue"), "{labelled}");
        env.apply(&format!("{}---\n{}---\n{}---\n{labelled}", services("plain"), canary_rollout("plain", 1, "app:v1", "steps:\n- setWeight: 50"), services("labelled"))).await;
        env.wait_healthy("plain").await;
        env.wait_healthy("labelled").await;
        let ns = env.s.namespace.clone();
        let series = |name: &str| format!(r#"rollout_info{{name="{name}",namespace="{ns}",phase="Completed",strategy="canary",traffic_router=""}}"#);
        // Each controller has only its own Rollout in its caches.
        let default_text = scrape_until(&env, &series("plain"), 1.0).await;
        assert!(!default_text.contains(r#"name="labelled""#), "the unlabelled controller leaves blue's Rollout alone: {default_text}");
        let blue_text = scrape_until(&blue, &series("labelled"), 1.0).await;
        assert!(!blue_text.contains(r#"name="plain""#), "blue leaves unlabelled Rollouts alone: {blue_text}");
        blue.stop().await;
        env.stop().await;
    }
}

on_both_substrates! {
    /// The real Prometheus scrapes the controller's `/metrics`, and a dashboard's query on `rollout_phase`
    /// finds the Rollout's series: 1 for its phase, 0 for the others, under upstream's labels.
    async fn prometheus_scrapes_rollout_phase(s: &Substrate) {
        let env = Env::start(s).await;
        let addr = env.controller.as_ref().and_then(|c| c.metrics_addr()).expect("metrics served");
        let prometheus = crate::prometheus::Prometheus::start(&addr.to_string()).await;
        env.apply(&format!("{}---\n{}", services("scraped"), canary_rollout("scraped", 1, "app:v1", "steps:\n- setWeight: 50"))).await;
        env.wait_healthy("scraped").await;
        let ns = env.s.namespace.clone();
        let series = |phase: &str| format!(r#"rollout_phase{{name="scraped",namespace="{ns}",phase="{phase}",strategy="canary"}}"#);
        prometheus.wait_for_value(&series("Completed"), "1").await;
        prometheus.wait_for_value(&series("Progressing"), "0").await;
        prometheus.wait_for_value(&format!(r#"count(rollout_phase{{name="scraped",namespace="{ns}"}})"#), "6").await;
        prometheus.wait_for_value(&format!(r#"sum(rollout_info{{name="scraped",namespace="{ns}",phase="Completed"}})"#), "1").await;
        env.stop().await;
    }
}

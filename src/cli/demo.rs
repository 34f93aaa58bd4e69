//! `serin demo`: deploy → observe → decide, on this machine with nothing else running. It starts the embedded
//! cluster and the controller in-process, plus a small app whose error rate rises after a while, runs the
//! example analysis against it through the real controller and plugins, shows each measurement live, and ends
//! with the verdict.

use crate::analysis::template::{self, ClusterTemplates, TemplateRef};
use crate::api::analysis::{AnalysisRun, AnalysisTemplate};
use crate::api::common::{AnalysisPhase, Argument};
use crate::api::duration::parse_flag_duration;
use crate::cluster::ClusterConfig;
use crate::controller::{Controller, Options};
use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, PostParams};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The analysis the demo runs (also usable with `serin analyze`).
const TEMPLATE: &str = include_str!("../../examples/analysis/demo-error-rate.yaml");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long the demo app stays healthy before its error rate rises.
    #[arg(long, default_value = "7s", value_parser = parse_flag_duration)]
    degrade_after: Duration,
    /// Keep the cluster, controller and app running after the verdict (Ctrl-C to stop), to look around with
    /// kubectl.
    #[arg(long)]
    keep: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    println!("serin demo — deploy → observe → decide\n");
    let started = Instant::now();

    let cluster = crate::cluster::start(ClusterConfig::builder().build())
        .await
        .context("starting the embedded cluster")?;
    let kubeconfig = std::env::temp_dir().join(format!("serin-demo-{}.kubeconfig", std::process::id()));
    cluster.write_kubeconfig(&kubeconfig)?;
    let client = cluster.client()?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::api::crds::crds() {
        crds.create(&PostParams::default(), &crd).await.context("installing serin's CRDs")?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta { name: Some("serin".into()), ..Default::default() },
        ..Default::default()
    };
    namespaces.create(&PostParams::default(), &ns).await?;
    println!("  cluster     embedded Kubernetes API at {}", cluster.url());
    println!("              kubectl --kubeconfig {} get analysisruns", kubeconfig.display());

    let controller =
        Controller::start(client.clone(), Options { plugin_namespace: "serin".into(), ..Options::default() })
            .await
            .context("starting the controller")?;
    controller.ready().await;
    println!("  controller  running in-process (built-in plugins: expr, web, prometheus, job)");

    let app = DemoApp::start(args.degrade_after).await?;
    println!(
        "  app         {} — healthy for {}s once observed, then one request in five fails",
        app.url,
        args.degrade_after.as_secs_f32()
    );

    let template: AnalysisTemplate = serde_saphyr::from_str(TEMPLATE).context("the example template")?;
    let templates: Api<AnalysisTemplate> = Api::namespaced(client.clone(), "default");
    templates.create(&PostParams::default(), &template).await?;
    let source = ClusterTemplates { client: client.clone(), namespace: "default".into() };
    let flat =
        template::flatten(&source, &[TemplateRef { name: "demo-error-rate".into(), cluster_scope: false }])
            .await
            .map_err(anyhow::Error::msg)?;
    let arg = Argument { name: "app-url".into(), value: Some(app.url.clone()), value_from: None };
    let spec = template::merge(&flat, &[arg]).map_err(anyhow::Error::msg)?;
    let mut run = AnalysisRun::new("demo-error-rate", spec);
    run.metadata.namespace = Some("default".into());
    let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), "default");
    runs.create(&PostParams::default(), &run).await?;
    println!(
        "  analysis    AnalysisRun default/demo-error-rate from examples/analysis/demo-error-rate.yaml\n"
    );

    let verdict = follow(&runs, "demo-error-rate", started).await?;
    let phase = verdict.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    let message = verdict.status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default();
    println!(
        "\nVerdict: {phase}{}",
        if message.is_empty() { String::new() } else { format!(" — {message}") }
    );
    println!(
        "{}",
        match phase {
            AnalysisPhase::Successful => "A Rollout would now continue to its next step.",
            AnalysisPhase::Inconclusive => "A Rollout would now pause for a person to decide.",
            _ => "A Rollout would now abort and keep its stable version serving.",
        }
    );

    if args.keep {
        println!("\nStill running; press Ctrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
    }
    controller.shutdown().await;
    let _ = cluster.shutdown().await;
    let _ = std::fs::remove_file(&kubeconfig);
    Ok(ExitCode::SUCCESS)
}

/// Prints each measurement as the controller records it, until the run completes.
async fn follow(runs: &Api<AnalysisRun>, name: &str, started: Instant) -> anyhow::Result<AnalysisRun> {
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = runs.get(name).await?;
        let status = run.status.clone().unwrap_or_default();
        for result in status.metric_results.iter().flatten() {
            let measurements = result.measurements.as_deref().unwrap_or_default();
            let seen = shown.entry(result.name.clone()).or_default();
            // Count and list only what is new (in-flight measurements are shown once finished).
            for m in measurements.iter().skip(*seen).filter(|m| m.finished_at.is_some()) {
                let value = m.value.clone().unwrap_or_default();
                let message = m.message.as_deref().map(|m| format!("  {m}")).unwrap_or_default();
                println!(
                    "  {:>5.1}s  {:<11} {:<12} {value}{message}",
                    started.elapsed().as_secs_f32(),
                    result.name,
                    m.phase.to_string()
                );
                *seen += 1;
            }
        }
        let _ = std::io::stdout().flush();
        if status.phase.as_ref().is_some_and(AnalysisPhase::completed) {
            return Ok(run);
        }
        if Instant::now() > deadline {
            anyhow::bail!("the analysis did not finish within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The app under analysis: `/healthz`, and `/stats` reporting its error rate, which rises a while after the
/// first look at it (counting from then, not from start-up, keeps the story the same on a slow machine).
struct DemoApp {
    url: String,
}

impl DemoApp {
    async fn start(degrade_after: Duration) -> anyhow::Result<DemoApp> {
        let first_look: Arc<std::sync::OnceLock<Instant>> = Arc::default();
        let router = axum::Router::new()
            .route(
                "/healthz",
                axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
            )
            .route(
                "/stats",
                axum::routing::get(move || {
                    let age = first_look.get_or_init(Instant::now).elapsed();
                    async move {
                        let requests = 100 + (age.as_millis() / 10) as u64;
                        let rate = if age < degrade_after { 0.01 } else { 0.2 };
                        let errors = (requests as f64 * rate).round() as u64;
                        axum::Json(
                            serde_json::json!({"requests": requests, "errors": errors, "errorRate": rate}),
                        )
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(DemoApp { url })
    }
}

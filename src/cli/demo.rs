//! `serin demo`: deploy → observe → decide, on this machine with nothing else running. It starts the embedded
//! cluster and the controller in-process, plus a small app whose error rate depends on the image asked about,
//! and applies a canary Rollout with a background analysis (`examples/demo/canary.yaml`): v1 becomes Healthy,
//! v2 goes through every step and is promoted, v3 fails its analysis and is rolled back to v2 with nobody
//! pressing anything. `--blue-green` tells the same story with a preview analysed before the switch
//! (`examples/demo/blue-green.yaml`). The Rollout's tree (`serin rollouts get rollout`'s) is shown as it changes.

use crate::api::analysis::AnalysisTemplate;
use crate::api::rollout::{Rollout, RolloutPhase};
use crate::cli::rollouts::{read_view, tree};
use crate::cluster::ClusterConfig;
use crate::controller::{Controller, Options};
use crate::strategy::replicaset as rsutil;
use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The Rollouts, their Services and analyses (also usable on a cluster, with APP_URL replaced).
const CANARY: &str = include_str!("../../examples/demo/canary.yaml");
const BLUE_GREEN: &str = include_str!("../../examples/demo/blue-green.yaml");
const NAMESPACE: &str = "default";
const NAME: &str = "demo";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blue-green story instead: preview, pre-promotion analysis, switch (or not).
    #[arg(long)]
    blue_green: bool,
    /// Keep the cluster, controller and app running at the end (Ctrl-C to stop), to look around with kubectl.
    #[arg(long)]
    keep: bool,
}

/// What the demo says about each version, by strategy.
struct Story {
    manifests: &'static str,
    file: &'static str,
    rollout: &'static str,
    v2: &'static str,
    v2_done: &'static str,
}

const CANARY_STORY: Story = Story {
    manifests: CANARY,
    file: "examples/demo/canary.yaml",
    rollout: "4 pods, 25/50/75% steps,\n              background analysis of the canary's error rate (< 5%, two bad readings fail it)",
    v2: "through every step, watched by the analysis",
    v2_done: "every step passed its background analysis: promoted to stable",
};

const BLUE_GREEN_STORY: Story = Story {
    manifests: BLUE_GREEN,
    file: "examples/demo/blue-green.yaml",
    rollout: "4 pods, blue-green: a preview analysed before the\n              switch (error rate < 5%, three readings)",
    v2: "previewed, analysed, then switched to",
    v2_done: "its preview passed the pre-promotion analysis: the active Service switched to it",
};

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
    let serin_ns = Namespace {
        metadata: ObjectMeta { name: Some("serin".into()), ..Default::default() },
        ..Default::default()
    };
    namespaces.create(&PostParams::default(), &serin_ns).await?;
    let controller =
        Controller::start(client.clone(), Options { plugin_namespace: "serin".into(), ..Options::default() })
            .await
            .context("starting the controller")?;
    controller.ready().await;
    let app = demo_app().await?;
    println!("  cluster     embedded Kubernetes API at {}", cluster.url());
    println!("  controller  running in-process (built-in plugins: expr, web, prometheus, job)");
    println!("  app         {app} — demo:v1 and demo:v2 fail 1% of requests, demo:v3 fails 20%");
    let story = if args.blue_green { &BLUE_GREEN_STORY } else { &CANARY_STORY };
    println!("  rollout     default/demo from {}: {}\n", story.file, story.rollout);

    apply(&client, &story.manifests.replace("APP_URL", &app)).await?;
    let mut screen = Screen::new();
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), NAMESPACE);

    println!("▶ demo:v1, the first revision");
    follow(&client, &mut screen, "v1 Healthy", |ro| healthy_on(ro, "demo:v1")).await?;
    screen.drawn = 0;
    println!("▶ demo:v2: {}", story.v2);
    set_image(&rollouts, "demo:v2").await?;
    follow(&client, &mut screen, "v2 promoted", |ro| healthy_on(ro, "demo:v2")).await?;
    let v2 = status_hash(&rollouts.get(NAME).await?);
    screen.drawn = 0;
    println!("▶ demo:v3: its error rate is 20%");
    set_image(&rollouts, "demo:v3").await?;
    // Nobody acts from here on: the analysis fails, the controller aborts and scales the canary down.
    let view = follow(&client, &mut screen, "v3 rolled back", |_| false).await?;

    let ro = &view.rollout;
    let status = ro.status.clone().unwrap_or_default();
    println!("\nSummary ({:.0}s)", started.elapsed().as_secs_f64());
    println!("  v1  Healthy: the first revision, promoted at once");
    println!("  v2  {}", story.v2_done);
    println!("  v3  {}", status.message.clone().unwrap_or_default());
    let who = if args.blue_green { "the preview" } else { "the canary" };
    println!(
        "      v2 ({}) kept serving, {who} was scaled down: nobody pressed a button.",
        status.stable_rs.clone().unwrap_or(v2)
    );
    if args.keep {
        println!("\nStill running; press Ctrl-C to stop. Try:");
        println!("  kubectl --kubeconfig {} get rollouts,replicasets,analysisruns", kubeconfig.display());
        println!("  serin rollouts --kubeconfig {} get rollout demo", kubeconfig.display());
        let _ = super::cluster::stop_signal().await;
    }
    controller.shutdown().await;
    let _ = cluster.shutdown().await;
    let _ = std::fs::remove_file(&kubeconfig);
    Ok(ExitCode::SUCCESS)
}

fn image(ro: &Rollout) -> String {
    let containers = ro.spec.template.as_ref().and_then(|t| t.spec.as_ref()).map(|s| s.containers.clone());
    containers.and_then(|c| c.first().and_then(|c| c.image.clone())).unwrap_or_default()
}

fn status_hash(ro: &Rollout) -> String {
    ro.status.as_ref().and_then(|s| s.stable_rs.clone()).unwrap_or_default()
}

/// Healthy, with `img` the stable image.
fn healthy_on(ro: &Rollout, img: &str) -> bool {
    let s = ro.status.clone().unwrap_or_default();
    s.phase == Some(RolloutPhase::Healthy)
        && image(ro) == img
        && s.stable_rs.is_some()
        && s.stable_rs == s.current_pod_hash
        && s.observed_generation == Some(ro.metadata.generation.unwrap_or(0).to_string())
}

/// Creates the demo's objects from the manifests.
async fn apply(client: &kube::Client, manifests: &str) -> anyhow::Result<()> {
    let pp = PostParams::default();
    for doc in crate::api::decode::parse_stream(manifests) {
        let value = doc.value.map_err(anyhow::Error::msg)?;
        match value["kind"].as_str().unwrap_or("") {
            "Service" => {
                let svc: Service = serde_json::from_value(value)?;
                Api::<Service>::namespaced(client.clone(), NAMESPACE).create(&pp, &svc).await?;
            }
            "AnalysisTemplate" => {
                let t: AnalysisTemplate = serde_json::from_value(value)?;
                Api::<AnalysisTemplate>::namespaced(client.clone(), NAMESPACE).create(&pp, &t).await?;
            }
            "Rollout" => {
                let r: Rollout = serde_json::from_value(value)?;
                Api::<Rollout>::namespaced(client.clone(), NAMESPACE).create(&pp, &r).await?;
            }
            other => bail!("the demo's manifests: unexpected kind {other:?}"),
        }
    }
    Ok(())
}

/// `set image demo app=IMAGE`, as the CLI writes it.
async fn set_image(rollouts: &Api<Rollout>, image: &str) -> anyhow::Result<()> {
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
    rollouts.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Where the tree is drawn: redrawn in place on a terminal, printed anew when it changes otherwise.
struct Screen {
    terminal: bool,
    last: String,
    /// Lines the last drawing took, to draw over them.
    drawn: usize,
}

impl Screen {
    fn new() -> Screen {
        Screen { terminal: std::io::stdout().is_terminal(), last: String::new(), drawn: 0 }
    }

    fn show(&mut self, view: &tree::View) {
        // What changed, ages aside (they change every second).
        let epoch = view
            .rollout
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let key = tree::render(view, epoch, false);
        if key == self.last {
            return;
        }
        self.last = key;
        let color = self.terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let text = tree::render(view, jiff::Timestamp::now(), color);
        let mut out = std::io::stdout().lock();
        if self.terminal {
            if self.drawn > 0 {
                let _ = write!(out, "\x1b[{}A", self.drawn);
            }
            let _ = write!(out, "\x1b[J{text}");
            self.drawn = text.lines().count();
        } else {
            let _ = writeln!(out, "{text}");
        }
        let _ = out.flush();
    }
}

/// Shows the Rollout until `done` holds (or, for the rollback, until v3 is aborted and its ReplicaSet has no
/// pods); at most two minutes.
async fn follow(
    client: &kube::Client,
    screen: &mut Screen,
    what: &str,
    done: impl Fn(&Rollout) -> bool,
) -> anyhow::Result<tree::View> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let view = read_view(client, NAMESPACE, NAME).await?;
        screen.show(&view);
        if done(&view.rollout) || rolled_back(&view) {
            return Ok(view);
        }
        if Instant::now() > deadline {
            bail!("the demo did not reach {what} within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// v3 aborted, the canary's ReplicaSet down to nothing, and v2 back at full strength.
fn rolled_back(view: &tree::View) -> bool {
    let s = view.rollout.status.clone().unwrap_or_default();
    if image(&view.rollout) != "demo:v3" || s.phase != Some(RolloutPhase::Degraded) || s.abort != Some(true) {
        return false;
    }
    let (current, stable) = (s.current_pod_hash.unwrap_or_default(), s.stable_rs.unwrap_or_default());
    let replicas = view.rollout.spec.replicas.unwrap_or(1);
    view.replica_sets.iter().all(|rs| {
        let hash = rsutil::pod_hash(rs);
        let actual = rs.status.as_ref().map_or(0, |st| st.replicas);
        (hash != current || (rs.spec.replicas == Some(0) && actual == 0))
            && (hash != stable || rsutil::available(rs) == replicas)
    })
}

/// The app under analysis: `/stats?image=…` reports the error rate of the version running that image.
async fn demo_app() -> anyhow::Result<String> {
    let router = axum::Router::new().route(
        "/stats",
        axum::routing::get(
            |q: axum::extract::Query<std::collections::BTreeMap<String, String>>| async move {
                let rate = if q.get("image").is_some_and(|i| i.ends_with(":v3")) { 0.2 } else { 0.01 };
                axum::Json(serde_json::json!({"errorRate": rate}))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(url)
}

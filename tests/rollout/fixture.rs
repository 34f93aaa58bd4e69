//! The controller on a substrate, Rollouts applied and driven with the real `kubectl` as a user (and upstream's
//! `kubectl argo rollouts`) would, and waits on what the controller writes.

use crate::e2e::substrate::{Kind, Substrate};
use crate::e2e::wait::WAIT;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams};
use serin::api::analysis::AnalysisRun;
use serin::api::rollout::{Rollout, RolloutPhase};
use serin::controller::{Controller, Options};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

pub const HASH_LABEL: &str = "rollouts-pod-template-hash";

pub struct Env<'a> {
    pub s: &'a Substrate,
    pub controller: Option<Controller>,
}

impl<'a> Env<'a> {
    pub async fn start(s: &'a Substrate) -> Env<'a> {
        let mut env = Env { s, controller: None };
        env.start_controller().await;
        env
    }

    pub async fn start_controller(&mut self) {
        self.start_controller_as("").await;
    }

    /// Starts the controller with upstream's `--instance-id`.
    pub async fn start_controller_as(&mut self, instance_id: &str) {
        let options = Options {
            namespace: Some(self.s.namespace.clone()),
            plugin_namespace: self.s.namespace.clone(),
            metrics_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            instance_id: instance_id.to_string(),
            ..Options::default()
        };
        let controller = Controller::start(self.s.client.clone(), options).await.expect("controller");
        controller.ready().await;
        self.controller = Some(controller);
    }

    /// Stops the controller as a crash would leave things: whatever it was doing is cut off.
    pub async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.shutdown().await;
        }
    }

    pub async fn stop(mut self) {
        self.stop_controller().await;
    }

    /// `kubectl <args>` with `input` on stdin; panics with kubectl's output unless it succeeds.
    pub async fn kubectl(&self, args: &[&str], input: Option<&str>) -> String {
        let mut cmd = self.s.kubectl();
        cmd.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(text) = input {
            stdin.write_all(text.as_bytes()).await.expect("write manifest");
        }
        drop(stdin);
        let out = child.wait_with_output().await.expect("kubectl output");
        assert!(
            out.status.success(),
            "kubectl {} failed on the {} substrate:\n{}{}",
            args.join(" "),
            self.s.kind.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -`. The embedded cluster serves no OpenAPI yet, so client-side validation is off
    /// there; the real API server validates.
    pub async fn apply(&self, manifest: &str) {
        let mut args = vec!["apply", "-f", "-"];
        if self.s.kind == Kind::Embedded {
            args.push("--validate=false");
        }
        self.kubectl(&args, Some(manifest)).await;
    }

    /// A status patch as upstream's `kubectl argo rollouts` writes its actions.
    pub async fn patch_status(&self, rollout: &str, patch: &str) {
        self.kubectl(
            &["patch", "rollout", rollout, "--subresource=status", "--type", "merge", "-p", patch],
            None,
        )
        .await;
    }

    /// A spec patch (`kubectl argo rollouts set image|pause|restart` edit the spec).
    pub async fn patch_spec(&self, rollout: &str, patch: &str) {
        self.kubectl(&["patch", "rollout", rollout, "--type", "merge", "-p", patch], None).await;
    }

    /// `kubectl argo rollouts set image <rollout> app=<image>`.
    pub async fn set_image(&self, rollout: &str, image: &str) {
        let patch = format!(
            r#"{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"app","image":"{image}"}}]}}}}}}}}"#
        );
        self.patch_spec(rollout, &patch).await;
    }

    /// `kubectl argo rollouts set image`, for the first container whatever its name.
    pub async fn set_first_image(&self, rollout: &str, image: &str) {
        let patch = serde_json::json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]);
        self.kubectl(&["patch", "rollout", rollout, "--type", "json", "-p", &patch.to_string()], None).await;
    }

    /// `kubectl argo rollouts promote`: the pause conditions cleared (the controller sees the resume).
    pub async fn promote(&self, rollout: &str) {
        self.patch_status(rollout, r#"{"status":{"pauseConditions":null}}"#).await;
    }

    /// What the running controller serves on `/metrics`.
    pub async fn metrics(&self) -> String {
        let addr =
            self.controller.as_ref().and_then(|c| c.metrics_addr()).expect("a controller serving metrics");
        let resp = reqwest::get(format!("http://{addr}/metrics")).await.expect("GET /metrics");
        assert_eq!(resp.status(), 200);
        let kind = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert_eq!(kind, "text/plain; version=0.0.4", "the Prometheus text format");
        resp.text().await.expect("metrics body")
    }

    pub fn rollouts(&self) -> Api<Rollout> {
        self.s.api()
    }

    pub async fn rollout(&self, name: &str) -> Rollout {
        self.rollouts().get(name).await.unwrap_or_else(|e| panic!("get rollout {name}: {e}"))
    }

    /// The ReplicaSets the Rollout controls.
    pub async fn replica_sets(&self, rollout: &Rollout) -> Vec<ReplicaSet> {
        let uid = rollout.metadata.uid.clone().unwrap_or_default();
        let api: Api<ReplicaSet> = self.s.api();
        let mut rss: Vec<ReplicaSet> = api
            .list(&ListParams::default())
            .await
            .expect("list replicasets")
            .items
            .into_iter()
            .filter(|rs| rs.metadata.owner_references.iter().flatten().any(|o| o.uid == uid))
            .collect();
        rss.sort_by_key(|rs| rs.metadata.creation_timestamp.clone().map(|t| t.0));
        rss
    }

    /// The Rollout's AnalysisRuns, oldest first.
    pub async fn analysis_runs(&self, rollout: &Rollout) -> Vec<AnalysisRun> {
        let uid = rollout.metadata.uid.clone().unwrap_or_default();
        let api: Api<AnalysisRun> = self.s.api();
        let mut runs: Vec<AnalysisRun> = api
            .list(&ListParams::default())
            .await
            .expect("list analysisruns")
            .items
            .into_iter()
            .filter(|r| r.metadata.owner_references.iter().flatten().any(|o| o.uid == uid))
            .collect();
        runs.sort_by_key(|r| r.metadata.creation_timestamp.clone().map(|t| t.0));
        runs
    }

    /// Waits (generously) until `cond` holds for the Rollout and its ReplicaSets.
    pub async fn wait(
        &self,
        name: &str,
        what: &str,
        cond: impl Fn(&Rollout, &[ReplicaSet]) -> bool,
    ) -> (Rollout, Vec<ReplicaSet>) {
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let ro = self.rollout(name).await;
            let rss = self.replica_sets(&ro).await;
            if cond(&ro, &rss) {
                return (ro, rss);
            }
            if start.elapsed() > WAIT * 2 {
                panic!(
                    "{}: rollout {name} never reached: {what}\nstatus: {:#?}\nreplica sets: {:?}",
                    self.s.kind.name(),
                    ro.status,
                    sizes(&rss)
                );
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Waits for the phase (and message) the controller writes.
    pub async fn wait_phase(
        &self,
        name: &str,
        phase: RolloutPhase,
        message: &str,
    ) -> (Rollout, Vec<ReplicaSet>) {
        self.wait(name, &format!("{phase} {message:?}"), |ro, _| {
            let s = ro.status.clone().unwrap_or_default();
            s.phase.as_ref() == Some(&phase)
                && s.message.as_deref().unwrap_or("") == message
                && s.observed_generation == Some(ro.metadata.generation.unwrap_or(0).to_string())
        })
        .await
    }

    /// Waits until the Rollout is Healthy with the image on its stable ReplicaSet, every other one scaled down.
    pub async fn wait_healthy(&self, name: &str) -> (Rollout, Vec<ReplicaSet>) {
        self.wait_phase(name, RolloutPhase::Healthy, "").await
    }
}

/// (pod hash, spec replicas, available replicas) per ReplicaSet, oldest first.
pub fn sizes(rss: &[ReplicaSet]) -> Vec<(String, i32, i32)> {
    rss.iter()
        .map(|rs| {
            let hash =
                rs.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).cloned().unwrap_or_default();
            let avail = rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0);
            (hash, rs.spec.replicas.unwrap_or(1), avail)
        })
        .collect()
}

/// The ReplicaSet of the Rollout's current and stable hashes: (canary spec, stable spec) when both are settled
/// (available == spec) and every other ReplicaSet is empty.
pub fn settled_split(ro: &Rollout, rss: &[ReplicaSet]) -> Option<(i32, i32)> {
    let status = ro.status.clone().unwrap_or_default();
    let current = status.current_pod_hash?;
    let stable = status.stable_rs?;
    let mut canary = 0;
    let mut stable_count = 0;
    for (hash, spec, avail) in sizes(rss) {
        if spec != avail {
            return None;
        }
        if hash == current {
            canary = spec;
        } else if hash == stable {
            stable_count = spec;
        } else if spec != 0 {
            return None;
        }
    }
    Some((canary, stable_count))
}

pub fn status_of(ro: &Rollout) -> serin::api::rollout::RolloutStatus {
    ro.status.clone().unwrap_or_default()
}

/// Services selecting `app=<name>` and named `<name>-stable` / `<name>-canary`.
pub fn services(name: &str) -> String {
    service_pair(name, "stable", "canary")
}

/// Services selecting `app=<name>` and named `<name>-<first>` / `<name>-<second>`.
pub fn service_pair(name: &str, first: &str, second: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: {name}-{first}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}-{second}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
    )
}

/// A Rollout of `replicas` pods labelled `app=<name>` running `image`, with `strategy` (lines indented under
/// `strategy:`).
fn rollout_manifest(name: &str, replicas: i32, image: &str, strategy: &str) -> String {
    let strategy: String = strategy.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  revisionHistoryLimit: 3
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: app, image: "{image}"}}]
  strategy:
{strategy}"#
    )
}

/// `lines`, each indented by two spaces.
fn indented(lines: &str) -> String {
    lines.lines().map(|l| format!("  {l}\n")).collect()
}

/// A canary Rollout of `replicas` pods running `image`, with the strategy lines given (indented under
/// `canary:`) and the stable/canary Services of [`services`].
pub fn canary_rollout(name: &str, replicas: i32, image: &str, strategy: &str) -> String {
    let canary = format!(
        "canary:\n  stableService: {name}-stable\n  canaryService: {name}-canary\n{}",
        indented(strategy)
    );
    rollout_manifest(name, replicas, image, &canary)
}

/// Counts of the Rollout's AnalysisRuns by `rollout-type`.
pub fn run_kinds(runs: &[AnalysisRun]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in runs {
        let kind =
            r.metadata.labels.as_ref().and_then(|l| l.get("rollout-type")).cloned().unwrap_or_default();
        *out.entry(kind).or_default() += 1;
    }
    out
}

/// An HTTP server answering `{"score": N}`; the test changes N.
pub struct App {
    pub url: String,
    pub score: Arc<AtomicI64>,
}

pub async fn app(score: i64) -> App {
    let score = Arc::new(AtomicI64::new(score));
    let shared = score.clone();
    let router = axum::Router::new().route(
        "/score",
        axum::routing::get(move || {
            let v = shared.load(Ordering::SeqCst);
            async move { axum::Json(serde_json::json!({ "score": v })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    App { url, score }
}

/// A template judging the score: 1 passes, 0 fails, anything else is inconclusive.
pub fn template(name: &str, interval: Option<&str>) -> String {
    let timing = match interval {
        Some(i) => format!("    interval: {i}\n"),
        None => String::new(),
    };
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: {name}}}
spec:
  args:
  - name: url
  - name: hash
  metrics:
  - name: score
{timing}    successCondition: result == 1
    failureCondition: result == 0
    provider:
      web:
        url: "{{{{args.url}}}}/score"
        jsonPath: "{{$.score}}"
"#
    )
}

pub fn analysis_args(url: &str) -> String {
    format!(
        "args:\n  - name: url\n    value: \"{url}\"\n  - name: hash\n    valueFrom: {{podTemplateHashValue: Latest}}"
    )
}

/// "type reason: message (×count)" of every Event about the Rollout `name`, oldest first. A repeat of an
/// Event raises its count, as client-go's recorder does, so it stays where it first happened.
pub async fn events_of(env: &Env<'_>, name: &str) -> Vec<String> {
    events_of_kind(env, "Rollout", name).await
}

/// [`events_of`] for an object of any kind.
pub async fn events_of_kind(env: &Env<'_>, kind: &str, name: &str) -> Vec<String> {
    let api: kube::Api<k8s_openapi::api::core::v1::Event> = env.s.api();
    let lp = ListParams::default().fields(&format!("involvedObject.kind={kind},involvedObject.name={name}"));
    let mut events = api.list(&lp).await.expect("events").items;
    // Names end in the creation time in hex nanoseconds, so they sort in the order recorded.
    events.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut out = Vec::new();
    for e in events {
        let source = e.source.as_ref().and_then(|s| s.component.as_deref()).unwrap_or("");
        assert_eq!(source, "rollouts-controller", "{e:?}");
        let mut row = format!(
            "{} {}: {}",
            e.type_.unwrap_or_default(),
            e.reason.unwrap_or_default(),
            e.message.unwrap_or_default()
        );
        if let Some(count) = e.count.filter(|c| *c > 1) {
            row.push_str(&format!(" (×{count})"));
        }
        out.push(row);
    }
    out
}

/// The `role` label of each live pod of the Rollout `app`, by pod-template hash.
pub async fn roles(env: &Env<'_>, app: &str) -> Vec<(String, String)> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: kube::Api<Pod> = env.s.api();
    let mut out: Vec<(String, String)> = pods
        .list(&kube::api::ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let labels = p.metadata.labels.unwrap_or_default();
            let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
            (get(HASH_LABEL), get("role"))
        })
        .collect();
    out.sort();
    out
}

/// A blue-green Rollout of `replicas` pods running `app:v1` with its `<name>-active` / `<name>-preview`
/// Services and the strategy lines given (indented under `blueGreen:`).
pub fn blue_green_rollout(name: &str, replicas: i32, strategy: &str) -> String {
    let blue_green = format!(
        "blueGreen:\n  activeService: {name}-active\n  previewService: {name}-preview\n{}",
        indented(strategy)
    );
    format!(
        "{}---{}",
        service_pair(name, "active", "preview"),
        rollout_manifest(name, replicas, "app:v1", &blue_green)
    )
}

/// Registers `component` as `plugin` from a drop-in ConfigMap (its registration followed by `extra`, YAML lines
/// such as `capabilities:` or `disabled: true`) and waits until the controller has loaded an entry for which
/// `loaded` holds.
pub async fn register_plugin(
    env: &Env<'_>,
    plugin: &str,
    component: Vec<u8>,
    extra: &str,
    loaded: impl Fn(&serin::plugin::catalog::Entry) -> bool,
) {
    use kube::api::{Patch, PatchParams};
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = env.s.api();
    let cm_name = plugin.replace('/', "-");
    let cm = crate::e2e::plugins::drop_in(&env.s.namespace, &cm_name, plugin, component, extra);
    cms.patch(&cm_name, &PatchParams::apply("test").force(), &Patch::Apply(cm))
        .await
        .expect("drop-in plugin");
    let catalog = env.controller.as_ref().expect("controller").catalog().clone();
    crate::e2e::wait::eventually(&format!("{plugin} registered"), || {
        let ok = catalog.entries().get(plugin).is_some_and(|e| e.error.is_none() && loaded(e));
        async move { ok.then_some(()) }
    })
    .await;
}

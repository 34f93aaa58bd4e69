//! `/metrics` in the Prometheus text format with Argo Rollouts' metric names, help texts and labels
//! (`controller/metrics`), so that existing dashboards and alerts keep working: the `*_info` and phase gauges
//! computed at scrape time from the controllers' watch caches, as upstream's collectors compute them from its
//! informers; the reconcile histograms and error counters, and `rollout_events_total`, recorded as they happen.

use crate::api::analysis::AnalysisRun;
use crate::api::common::AnalysisPhase;
use crate::api::experiment::Experiment;
use crate::api::rollout::{Rollout, RolloutConditionType};
use kube::runtime::reflector::Store;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Upstream's reconcile histogram buckets, in seconds.
const RECONCILE_BUCKETS: &[f64] = &[0.01, 0.15, 0.25, 0.5, 1.0];

/// Upstream's default metrics port (`--metricsport`).
pub const DEFAULT_METRICS_PORT: u16 = 8090;

/// What a reconcile was of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rollout,
    AnalysisRun,
    Experiment,
}

/// The controller's metrics.
pub struct Metrics {
    registry: Registry,
    reconcile: [HistogramVec; 3],
    reconcile_error: [IntCounterVec; 3],
    rollout_events: IntCounterVec,
    k8s_requests: IntCounterVec,
    state: Arc<State>,
}

/// The watch caches the scrape-time metrics are read from, set once each controller has them.
#[derive(Default)]
struct State {
    rollouts: OnceLock<Store<Rollout>>,
    runs: OnceLock<Store<AnalysisRun>>,
    experiments: OnceLock<Store<Experiment>>,
    catalog: OnceLock<Arc<crate::plugin::catalog::Catalog>>,
}

fn index(kind: Kind) -> usize {
    match kind {
        Kind::Rollout => 0,
        Kind::AnalysisRun => 1,
        Kind::Experiment => 2,
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let histogram = |name: &str, help: &str| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(RECONCILE_BUCKETS.to_vec()),
                &["namespace", "name"],
            )
            .expect("a valid histogram")
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter")
        };
        let metrics = Metrics {
            registry: Registry::new(),
            reconcile: [
                histogram("rollout_reconcile", "Rollout reconciliation performance."),
                histogram("analysis_run_reconcile", "Analysis Run reconciliation performance."),
                histogram("experiment_reconcile", "Experiments reconciliation performance."),
            ],
            reconcile_error: [
                counter(
                    "rollout_reconcile_error",
                    "Error occurring during the rollout",
                    &["namespace", "name"],
                ),
                counter(
                    "analysis_run_reconcile_error",
                    "Error occurring during the analysis run",
                    &["namespace", "name"],
                ),
                counter(
                    "experiment_reconcile_error",
                    "Error occurring during the experiment",
                    &["namespace", "name"],
                ),
            ],
            rollout_events: counter(
                "rollout_events_total",
                "Count of rollout events",
                &["namespace", "name", "type", "reason"],
            ),
            k8s_requests: counter(
                "controller_clientset_k8s_request_total",
                "Number of kubernetes requests executed during application reconciliation.",
                &["kind", "namespace", "name", "verb", "status_code"],
            ),
            state: Arc::new(State::default()),
        };
        let registered: Vec<Box<dyn Collector>> = vec![
            Box::new(metrics.reconcile[0].clone()),
            Box::new(metrics.reconcile[1].clone()),
            Box::new(metrics.reconcile[2].clone()),
            Box::new(metrics.reconcile_error[0].clone()),
            Box::new(metrics.reconcile_error[1].clone()),
            Box::new(metrics.reconcile_error[2].clone()),
            Box::new(metrics.rollout_events.clone()),
            Box::new(metrics.k8s_requests.clone()),
            Box::new(StateCollector::new(metrics.state.clone())),
            Box::new(controller_info()),
            Box::new(crate::plugin::stats::stats().calls.clone()),
            Box::new(crate::plugin::stats::stats().duration.clone()),
            Box::new(crate::plugin::stats::stats().load_failures.clone()),
        ];
        for c in registered {
            metrics.registry.register(c).expect("metric names are distinct");
        }
        metrics
    }

    /// Records one reconcile of `kind` `namespace/name`.
    pub fn reconciled(&self, kind: Kind, namespace: &str, name: &str, took: Duration, failed: bool) {
        let i = index(kind);
        self.reconcile[i].with_label_values(&[namespace, name]).observe(took.as_secs_f64());
        if failed {
            self.reconcile_error[i].with_label_values(&[namespace, name]).inc();
        }
    }

    /// Counts an Event recorded about a Rollout.
    pub fn rollout_event(&self, namespace: &str, name: &str, warning: bool, reason: &str) {
        let kind = if warning { "Warning" } else { "Normal" };
        self.rollout_events.with_label_values(&[namespace, name, kind, reason]).inc();
    }

    /// Drops the recorded series of objects no longer in the caches, so that a controller that has seen many
    /// objects come and go does not keep them all (upstream drops them 65 s after a deletion).
    fn forget_deleted(&self) {
        fn present<K: kube::Resource + Clone + 'static>(
            store: &OnceLock<Store<K>>,
        ) -> Option<BTreeSet<(String, String)>>
        where
            K::DynamicType: Eq + std::hash::Hash + Clone,
        {
            let store = store.get()?;
            Some(
                store
                    .state()
                    .iter()
                    .map(|o| {
                        (
                            o.meta().namespace.clone().unwrap_or_default(),
                            o.meta().name.clone().unwrap_or_default(),
                        )
                    })
                    .collect(),
            )
        }
        let known =
            [present(&self.state.rollouts), present(&self.state.runs), present(&self.state.experiments)];
        for (i, known) in known.iter().enumerate() {
            let Some(known) = known else { continue };
            let families = self.reconcile[i].collect().into_iter().chain(self.reconcile_error[i].collect());
            let mut gone = BTreeSet::new();
            for family in families {
                for m in family.get_metric() {
                    let label =
                        |n: &str| m.get_label().iter().find(|l| l.name() == n).map(|l| l.value().to_string());
                    let key = (label("namespace").unwrap_or_default(), label("name").unwrap_or_default());
                    if !known.contains(&key) {
                        gone.insert(key);
                    }
                }
            }
            for (ns, name) in &gone {
                let _ = self.reconcile[i].remove_label_values(&[ns, name]);
                let _ = self.reconcile_error[i].remove_label_values(&[ns, name]);
            }
            if i == 0 {
                for family in self.rollout_events.collect() {
                    for m in family.get_metric() {
                        let labels: Vec<&str> = ["namespace", "name", "type", "reason"]
                            .iter()
                            .map(|n| m.get_label().iter().find(|l| l.name() == *n).map_or("", |l| l.value()))
                            .collect();
                        if !known.contains(&(labels[0].to_string(), labels[1].to_string())) {
                            let _ = self.rollout_events.remove_label_values(&labels);
                        }
                    }
                }
            }
        }
    }

    /// Reads Rollouts from `store` at scrape time (the first store given is kept).
    pub fn watch_rollouts(&self, store: Store<Rollout>) {
        let _ = self.state.rollouts.set(store);
    }

    pub fn watch_analysis_runs(&self, store: Store<AnalysisRun>) {
        let _ = self.state.runs.set(store);
    }

    pub fn watch_experiments(&self, store: Store<Experiment>) {
        let _ = self.state.experiments.set(store);
    }

    /// Reads the plugins' registrations from `catalog` at scrape time.
    pub fn watch_catalog(&self, catalog: Arc<crate::plugin::catalog::Catalog>) {
        let _ = self.state.catalog.set(catalog);
    }

    /// Everything, in the text exposition format (families sorted by name, labels by name).
    pub fn render(&self) -> String {
        self.forget_deleted();
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("encoding metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What `controller_clientset_k8s_request_total` says of one request (upstream's `kubeclientmetrics`): the
/// resource, its namespace and name, and the verb from the method (a GET without a name is a List, watches
/// included); `N/A` as the name of a List and of the kinds upstream does not name (events, replicasets,
/// analysisruns, jobs, experiments); everything `Unknown` for a request that is no resource's.
pub fn request_labels(method: &http::Method, path: &str) -> [String; 4] {
    let unknown = || ["Unknown", "Unknown", "Unknown", "Unknown"].map(String::from);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return unknown(),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (*ns, rest),
        _ => ("", rest),
    };
    let (kind, name) = match rest {
        [kind] => (*kind, ""),
        [kind, name, ..] => (*kind, *name),
        _ => return unknown(),
    };
    let verb = match *method {
        http::Method::GET if name.is_empty() => "List",
        http::Method::GET => "Get",
        http::Method::POST => "Create",
        http::Method::PUT => "Update",
        http::Method::PATCH => "Patch",
        http::Method::DELETE => "Delete",
        _ => return unknown(),
    };
    let unnamed = ["events", "replicasets", "analysisruns", "jobs", "experiments"];
    let name = if verb == "List" || name.is_empty() || unnamed.contains(&kind) { "N/A" } else { name };
    [kind, namespace, name, verb].map(String::from)
}

/// `client` with every request counted in `controller_clientset_k8s_request_total`, and limited by `bucket`
/// (upstream's `--qps` and `--burst`) when there is one.
pub fn counting_client(
    client: kube::Client,
    metrics: Arc<Metrics>,
    bucket: Option<Arc<super::throttle::TokenBucket>>,
) -> kube::Client {
    let namespace = client.default_namespace().to_string();
    kube::Client::new(Counting { client, metrics, bucket }, namespace)
}

#[derive(Clone)]
struct Counting {
    client: kube::Client,
    metrics: Arc<Metrics>,
    bucket: Option<Arc<super::throttle::TokenBucket>>,
}

impl tower_service::Service<http::Request<kube::client::Body>> for Counting {
    type Response = http::Response<kube::client::Body>;
    type Error = kube::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let labels = request_labels(request.method(), request.uri().path());
        let (client, metrics, bucket) = (self.client.clone(), self.metrics.clone(), self.bucket.clone());
        // The turn is taken now, so that requests keep the order they were made in.
        let wait = bucket.as_ref().map_or(Duration::ZERO, |b| b.reserve(Instant::now()));
        Box::pin(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            // kube's client below retries a 429 (or 503, 504) after the server's Retry-After, as client-go does.
            let response = client.send(request).await?;
            let [kind, namespace, name, verb] = &labels;
            let code = response.status().as_u16().to_string();
            metrics.k8s_requests.with_label_values(&[kind, namespace, name, verb, &code]).inc();
            if bucket.is_some_and(|b| b.server_answered(response.headers())) {
                tracing::info!(
                    "the API server has priority and fairness: no client-side limit on the controller's requests (--qps sets one)"
                );
            }
            Ok(response)
        })
    }
}

/// `argo_rollouts_controller_info`: 1, labelled with the version running.
fn controller_info() -> GaugeVec {
    let opts = Opts::new("argo_rollouts_controller_info", "Running Argo-rollouts version");
    let info = GaugeVec::new(opts, &["version"]).expect("a valid gauge");
    info.with_label_values(&[concat!("serin-v", env!("CARGO_PKG_VERSION"))]).set(1.0);
    info
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Phases `rollout_phase` has a series for, as upstream lists them.
const ROLLOUT_PHASES: &[&str] = &["Completed", "Progressing", "Paused", "Timeout", "Error", "Abort"];
const RUN_PHASES: &[&str] = &["Pending", "Error", "Failed", "Successful", "Running", "Inconclusive"];
const EXPERIMENT_PHASES: &[&str] = &["Pending", "Error", "Successful", "Running", "Inconclusive"];

/// `calculatePhase`: the Rollout's phase for the metrics, from its conditions (not `status.phase`).
pub fn rollout_metric_phase(ro: &Rollout) -> &'static str {
    let conditions = ro.status.as_ref().and_then(|s| s.conditions.as_ref());
    let mut phase = "Progressing";
    if let Some(c) = conditions.into_iter().flatten().find(|c| c.type_ == RolloutConditionType::Progressing) {
        phase = match c.reason.as_str() {
            "NewReplicaSetAvailable" => "Completed",
            "RolloutPaused" => "Paused",
            "ReplicaSetCreateError" => "Error",
            "ProgressDeadlineExceeded" => "Timeout",
            "RolloutAborted" => "Abort",
            _ => phase,
        };
    }
    if conditions.into_iter().flatten().any(|c| c.type_ == RolloutConditionType::InvalidSpec) {
        phase = "InvalidSpec";
    }
    phase
}

/// `getStrategyAndTrafficRouter`: `blueGreen`, `canary` or `none`, and the in-tree router (the last set of
/// ALB, Ambassador, Istio, Nginx, SMI, AppMesh, as upstream checks them; serin's other routers after those).
pub fn strategy_and_router(ro: &Rollout) -> (&'static str, String) {
    if ro.blue_green().is_some() {
        return ("blueGreen", String::new());
    }
    let Some(canary) = ro.canary() else { return ("none", String::new()) };
    let mut router = String::new();
    if let Some(tr) = &canary.traffic_routing {
        for (set, name) in [
            (tr.alb.is_some(), "ALB"),
            (tr.ambassador.is_some(), "Ambassador"),
            (tr.istio.is_some(), "Istio"),
            (tr.nginx.is_some(), "Nginx"),
            (tr.smi.is_some(), "SMI"),
            (tr.app_mesh.is_some(), "AppMesh"),
            (tr.traefik.is_some(), "Traefik"),
            (tr.apisix.is_some(), "Apisix"),
            (tr.plugins.as_ref().is_some_and(|p| !p.is_empty()), "Plugin"),
        ] {
            if set {
                router = name.to_string();
            }
        }
    }
    ("canary", router)
}

/// `metricproviders.Type()`: the first provider a metric sets, as upstream names it.
pub fn provider_type(metric: &crate::api::analysis::Metric) -> &'static str {
    let p = &metric.provider;
    [
        (p.prometheus.is_some(), "Prometheus"),
        (p.job.is_some(), "Job"),
        (p.kayenta.is_some(), "Kayenta"),
        (p.web.is_some(), "Web"),
        (p.datadog.is_some(), "Datadog"),
        (p.wavefront.is_some(), "Wavefront"),
        (p.new_relic.is_some(), "NewRelic"),
        (p.cloud_watch.is_some(), "CloudWatch"),
        (p.graphite.is_some(), "Graphite"),
        (p.influxdb.is_some(), "Influxdb"),
        (p.sky_walking.is_some(), "SkyWalking"),
        (p.plugin.as_ref().is_some_and(|p| !p.is_empty()), "RPCPlugin"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("Unknown Provider")
}

/// The scrape-time gauges.
struct StateCollector {
    state: Arc<State>,
    descs: Vec<Desc>,
}

/// The gauges of one scrape, created fresh so that objects gone are gone from the output.
struct Gauges {
    rollout_info: GaugeVec,
    available: GaugeVec,
    unavailable: GaugeVec,
    desired: GaugeVec,
    updated: GaugeVec,
    rollout_phase: GaugeVec,
    run_info: GaugeVec,
    run_phase: GaugeVec,
    metric_type: GaugeVec,
    metric_phase: GaugeVec,
    experiment_info: GaugeVec,
    experiment_phase: GaugeVec,
    plugins: GaugeVec,
}

impl Gauges {
    fn new() -> Gauges {
        let g = |name: &str, help: &str, labels: &[&str]| {
            GaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge")
        };
        let ns_name = &["namespace", "name"][..];
        Gauges {
            rollout_info: g(
                "rollout_info",
                "Information about rollout.",
                &["namespace", "name", "strategy", "traffic_router", "phase"],
            ),
            available: g(
                "rollout_info_replicas_available",
                "The number of available replicas per rollout.",
                ns_name,
            ),
            unavailable: g(
                "rollout_info_replicas_unavailable",
                "The number of unavailable replicas per rollout.",
                ns_name,
            ),
            desired: g(
                "rollout_info_replicas_desired",
                "The number of desired replicas per rollout.",
                ns_name,
            ),
            updated: g(
                "rollout_info_replicas_updated",
                "The number of updated replicas per rollout.",
                ns_name,
            ),
            rollout_phase: g(
                "rollout_phase",
                "Information on the state of the rollout (DEPRECATED - use rollout_info)",
                &["namespace", "name", "strategy", "phase"],
            ),
            run_info: g(
                "analysis_run_info",
                "Information about analysis run.",
                &["namespace", "name", "phase"],
            ),
            run_phase: g(
                "analysis_run_phase",
                "Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)",
                &["namespace", "name", "phase"],
            ),
            metric_type: g(
                "analysis_run_metric_type",
                "Information on the type of a specific metric in the Analysis Runs",
                &["namespace", "name", "metric", "type"],
            ),
            metric_phase: g(
                "analysis_run_metric_phase",
                "Information on the duration of a specific metric in the Analysis Run",
                &["namespace", "name", "metric", "type", "dry_run", "phase"],
            ),
            experiment_info: g(
                "experiment_info",
                "Information about Experiment.",
                &["namespace", "name", "phase"],
            ),
            experiment_phase: g(
                "experiment_phase",
                "Information on the state of the experiment (DEPRECATED - use experiment_info)",
                &["namespace", "name", "phase"],
            ),
            plugins: g(
                "serin_plugins",
                "The plugins the controller can use: built-in, or registered and loaded, failed or disabled.",
                &["plugin", "status"],
            ),
        }
    }

    fn all(&self) -> [&GaugeVec; 13] {
        [
            &self.rollout_info,
            &self.available,
            &self.unavailable,
            &self.desired,
            &self.updated,
            &self.rollout_phase,
            &self.run_info,
            &self.run_phase,
            &self.metric_type,
            &self.metric_phase,
            &self.experiment_info,
            &self.experiment_phase,
            &self.plugins,
        ]
    }

    fn catalog(&self, catalog: &crate::plugin::catalog::Catalog) {
        let entries = catalog.entries();
        for b in crate::plugin::builtin::BUILTINS.iter().filter(|b| !entries.contains_key(b.name)) {
            self.plugins.with_label_values(&[b.name, "builtin"]).set(1.0);
        }
        for (name, entry) in &entries {
            let status = match (&entry.error, entry.disabled) {
                (Some(_), _) => "failed",
                (None, true) => "disabled",
                (None, false) => "loaded",
            };
            self.plugins.with_label_values(&[name, status]).set(1.0);
        }
    }

    fn rollout(&self, ro: &Rollout) {
        let ns = ro.metadata.namespace.as_deref().unwrap_or("");
        let name = ro.metadata.name.as_deref().unwrap_or("");
        let status = ro.status.clone().unwrap_or_default();
        let (strategy, router) = strategy_and_router(ro);
        let phase = rollout_metric_phase(ro);
        self.rollout_info.with_label_values(&[ns, name, strategy, &router, phase]).set(1.0);
        let n = |v: Option<i32>| f64::from(v.unwrap_or(0));
        self.available.with_label_values(&[ns, name]).set(n(status.available_replicas));
        self.unavailable
            .with_label_values(&[ns, name])
            .set(n(status.replicas) - n(status.available_replicas));
        self.desired.with_label_values(&[ns, name]).set(f64::from(ro.spec.replicas.unwrap_or(1)));
        self.updated.with_label_values(&[ns, name]).set(n(status.updated_replicas));
        for p in ROLLOUT_PHASES {
            self.rollout_phase
                .with_label_values(&[ns, name, strategy, p])
                .set(f64::from(u8::from(*p == phase)));
        }
    }

    fn run(&self, run: &AnalysisRun) {
        let ns = run.metadata.namespace.as_deref().unwrap_or("");
        let name = run.metadata.name.as_deref().unwrap_or("");
        let status = run.status.clone().unwrap_or_default();
        let phase = status.phase.as_ref().map(AnalysisPhase::as_str).unwrap_or("");
        self.run_info.with_label_values(&[ns, name, phase]).set(1.0);
        one_hot(&self.run_phase, &[ns, name], RUN_PHASES, phase);
        let dry = crate::strategy::analysis::dry_run_metrics(
            run.spec.dry_run.as_deref().unwrap_or_default(),
            &run.spec.metrics,
        )
        .unwrap_or_default();
        for metric in &run.spec.metrics {
            let kind = provider_type(metric);
            self.metric_type.with_label_values(&[ns, name, &metric.name, kind]).set(1.0);
            let result = status.metric_results.iter().flatten().find(|r| r.name == metric.name);
            let metric_phase = result.map(|r| r.phase.as_str()).unwrap_or("");
            let dry_run = if dry.contains(&metric.name) { "true" } else { "false" };
            one_hot(&self.metric_phase, &[ns, name, &metric.name, kind, dry_run], RUN_PHASES, metric_phase);
        }
    }

    fn experiment(&self, ex: &Experiment) {
        let ns = ex.metadata.namespace.as_deref().unwrap_or("");
        let name = ex.metadata.name.as_deref().unwrap_or("");
        let phase =
            ex.status.as_ref().and_then(|s| s.phase.as_ref()).map(AnalysisPhase::as_str).unwrap_or("");
        self.experiment_info.with_label_values(&[ns, name, phase]).set(1.0);
        one_hot(&self.experiment_phase, &[ns, name], EXPERIMENT_PHASES, phase);
    }
}

/// One series per phase of `phases`: 1 for `phase` (an unset phase counts as Pending), 0 for the others.
fn one_hot(gauge: &GaugeVec, labels: &[&str], phases: &[&str], phase: &str) {
    let phase = if phase.is_empty() { "Pending" } else { phase };
    for p in phases {
        let mut values: Vec<&str> = labels.to_vec();
        values.push(p);
        gauge.with_label_values(&values).set(f64::from(u8::from(*p == phase)));
    }
}

impl StateCollector {
    fn new(state: Arc<State>) -> StateCollector {
        let descs = Gauges::new().all().iter().flat_map(|g| g.desc().into_iter().cloned()).collect();
        StateCollector { state, descs }
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let gauges = Gauges::new();
        if let Some(store) = self.state.rollouts.get() {
            store.state().iter().for_each(|ro| gauges.rollout(ro));
        }
        if let Some(store) = self.state.runs.get() {
            store.state().iter().for_each(|run| gauges.run(run));
        }
        if let Some(store) = self.state.experiments.get() {
            store.state().iter().for_each(|ex| gauges.experiment(ex));
        }
        if let Some(catalog) = self.state.catalog.get() {
            gauges.catalog(catalog);
        }
        gauges.all().iter().flat_map(|g| g.collect()).filter(|f| !f.get_metric().is_empty()).collect()
    }
}

#[cfg(test)]
#[path = "metrics/tests.rs"]
mod tests;

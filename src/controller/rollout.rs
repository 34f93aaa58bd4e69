//! The Rollout reconciler: upstream's `rollout/` package with the decisions moved into `strategy` (replica
//! math, pauses, conditions, phase, hashes) and only the reading and writing of objects here, split by the
//! resource each part changes: `replicaset` (create, revise, scale, trim), `service` (selectors), `analysis`
//! (AnalysisRuns), `experiment` (the experiment step's Experiments), `ephemeral` (canary/stable pod metadata), `restart` (pod evictions), `validation`
//! (references), and `status` (the status, conditions and Events). `canary` is upstream's `rolloutCanary`:
//! one pass in upstream's order, stopping where upstream stops.
//!
//! Every pass reads the world once (the Rollout, its ReplicaSets, AnalysisRuns and Experiments from the watch caches, the
//! Services it names), acts, and writes the status with the Rollout's resourceVersion as a precondition; a
//! pass on stale data fails that write and runs again. A pass whose caches do not show this controller's own
//! last writes yet waits for them (`expectations`) rather than deciding again what was already done. Names are
//! deterministic, so a pass repeated after a crash finds what the first one created instead of creating it
//! twice.

mod analysis;
mod bluegreen;
mod canary;
mod ephemeral;
mod expectations;
mod experiment;
mod replicaset;
mod restart;
mod service;
mod status;
mod step_plugin;
mod traffic;
mod validation;
mod workload;

use crate::api::analysis::AnalysisRun;
use crate::api::experiment::Experiment;
use crate::api::rollout::{Rollout, RolloutStatus};
use crate::strategy::conditions::Event;
use crate::strategy::pause::PauseContext;
use crate::strategy::replicaset::ReplicaSets;
use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{PodTemplate, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Requeue after a failed pass.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);
/// Requeue of a Rollout with an invalid spec (the problem may be a Service or template not created yet).
const INVALID_SPEC_REQUEUE: Duration = Duration::from_secs(20);
/// Requeue of a pass that found the caches behind this controller's own writes.
const EARLY_PASS_REQUEUE: Duration = Duration::from_secs(2);
/// Look at every Rollout again at least this often.
const RESYNC: Duration = Duration::from_secs(10 * 60);
/// The field manager of serin's writes.
pub(crate) const FIELD_MANAGER: &str = "serin-rollouts";

/// Shared by every pass.
pub struct Context {
    pub client: kube::Client,
    pub recorder: Arc<super::events::EventRecorder>,
    pub replicasets: Store<ReplicaSet>,
    pub analysis_runs: Store<AnalysisRun>,
    pub experiments: Store<Experiment>,
    /// The Services Rollouts name, read from a watch rather than from the API server on every pass.
    pub services: Store<Service>,
    pub expectations: expectations::Expectations,
    /// The plugins traffic routers are served by.
    pub catalog: Arc<crate::plugin::catalog::Catalog>,
    pub metrics: Arc<super::metrics::Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Kube { what: String, source: kube::Error },
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube { source: kube::Error::Api(s), .. } if s.code == 409 => "conflict",
            Error::Kube { .. } => "api",
            Error::Other(_) => "reconcile",
        }
    }
}

pub(crate) fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Kube { what, source }
}

pub(crate) fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Runs the Rollout controller with `workers` concurrent reconciles until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    scope: super::Scope,
    workers: u16,
    recorder: Arc<super::events::EventRecorder>,
    catalog: Arc<crate::plugin::catalog::Catalog>,
    metrics: Arc<super::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    fn api<K>(client: &kube::Client, namespace: &Option<String>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let namespace = scope.namespace.clone();
    // Only ReplicaSets with a pod-template hash label can belong to a Rollout.
    let (replicasets, rs_writer) = reflector::store();
    let rs_stream = watcher(
        api::<ReplicaSet>(&client, &namespace),
        watcher::Config::default().labels(crate::strategy::replicaset::POD_TEMPLATE_HASH_LABEL),
    )
    .default_backoff()
    .modify(|rs| rs.managed_fields_mut().clear())
    .reflect(rs_writer)
    .touched_objects();
    let (analysis_runs, ar_writer) = reflector::store();
    let ar_stream = watcher(api::<AnalysisRun>(&client, &namespace), scope.watched())
        .default_backoff()
        .modify(|ar| ar.managed_fields_mut().clear())
        .reflect(ar_writer)
        .touched_objects();
    let (experiments, ex_writer) = reflector::store();
    let ex_stream = watcher(api::<Experiment>(&client, &namespace), scope.watched())
        .default_backoff()
        .modify(|ex| ex.managed_fields_mut().clear())
        .reflect(ex_writer)
        .touched_objects();
    // Services are few per Rollout, but a pass reads them every time: from a cache, as upstream's lister. A
    // Service a Rollout manages (the annotation its first switch writes) brings that Rollout back when it changes.
    let (services, svc_writer) = reflector::store();
    let svc_stream = watcher(api::<Service>(&client, &namespace), watcher::Config::default())
        .default_backoff()
        .modify(|svc| svc.managed_fields_mut().clear())
        .reflect(svc_writer)
        .touched_objects();
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder,
        replicasets,
        analysis_runs,
        experiments,
        services,
        expectations: expectations::Expectations::default(),
        catalog,
        metrics: metrics.clone(),
    });
    metrics.watch_analysis_runs(ctx.analysis_runs.clone());
    metrics.watch_experiments(ctx.experiments.clone());
    let shutdown = shutdown.shared();
    let controller = super::controller_of(api::<Rollout>(&client, &namespace), scope.watched());
    let rollouts = controller.store();
    metrics.watch_rollouts(rollouts.clone());
    // A Rollout follows the workload its `workloadRef` names: a change there is a change of the Rollout.
    let referring = move |kind: &'static str| {
        let rollouts = rollouts.clone();
        move |meta: &kube::api::ObjectMeta| -> Vec<reflector::ObjectRef<Rollout>> {
            rollouts
                .state_filter(|ro| {
                    ro.metadata.namespace == meta.namespace
                        && ro.spec.workload_ref.as_ref().is_some_and(|r| {
                            r.kind.as_deref() == Some(kind) && r.name.as_deref() == meta.name.as_deref()
                        })
                })
                .iter()
                .map(|ro| reflector::ObjectRef::from_obj(&**ro))
                .collect()
        }
    };
    let (deployments, pod_templates) = (referring("Deployment"), referring("PodTemplate"));
    let controller = controller
        .owns_stream(rs_stream)
        .owns_stream(ar_stream)
        .owns_stream(ex_stream)
        .watches_stream(svc_stream, |svc: Service| {
            let rollout = svc.annotations().get(validation::MANAGED_BY_ANNOTATION)?;
            Some(reflector::ObjectRef::new(rollout).within(&svc.namespace()?))
        })
        .watches(api::<Deployment>(&client, &namespace), watcher::Config::default(), move |d: Deployment| {
            deployments(&d.metadata)
        })
        .watches(api::<PodTemplate>(&client, &namespace), watcher::Config::default(), move |t: PodTemplate| {
            pod_templates(&t.metadata)
        })
        .with_config(Config::default().concurrency(workers))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(rollout = %obj.name, namespace = ?obj.namespace, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(e, obj)) => {
                    tracing::warn!(rollout = %obj.name, namespace = ?obj.namespace, error = %e, label = e.label(), "reconcile failed")
                }
                Err(e) => tracing::debug!(error = %e, "rollout controller event"),
            }
        });
    super::bounded_shutdown(controller, shutdown, "Rollout").await;
}

fn error_policy(_ro: Arc<Rollout>, _error: &Error, _ctx: Arc<Context>) -> Action {
    Action::requeue(RETRY_AFTER_ERROR)
}

/// How long one pass waits for the caches' first listing before it tries again later.
const CACHE_SYNC_WAIT: Duration = Duration::from_secs(10);

async fn reconcile(rollout: Arc<Rollout>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = reconcile_rollout(&rollout, &ctx).await;
    let (ns, name) = (rollout.namespace().unwrap_or_default(), rollout.name_any());
    ctx.metrics.reconciled(super::metrics::Kind::Rollout, &ns, &name, started.elapsed(), result.is_err());
    result
}

async fn reconcile_rollout(rollout: &Arc<Rollout>, ctx: &Arc<Context>) -> Result<Action, Error> {
    if rollout.metadata.deletion_timestamp.is_some() {
        // Upstream: "No reconciliation as rollout marked for deletion".
        return Ok(Action::await_change());
    }
    // As upstream waits for its informers to sync before any worker starts: a pass on a ReplicaSet cache that
    // has not been listed yet would find no stable ReplicaSet and take a Rollout in the middle of an update for
    // an initial deploy, promoting it at once.
    let caches = async {
        let _ = ctx.replicasets.wait_until_ready().await;
        let _ = ctx.analysis_runs.wait_until_ready().await;
        let _ = ctx.experiments.wait_until_ready().await;
        let _ = ctx.services.wait_until_ready().await;
    };
    if tokio::time::timeout(CACHE_SYNC_WAIT, caches).await.is_err() {
        tracing::debug!(rollout = %rollout.name_any(), "ReplicaSet, AnalysisRun, Experiment and Service caches are not listed yet");
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let mut pass = Pass::new(ctx, (**rollout).clone(), Timestamp::now());
    let result = pass.run().await;
    pass.publish_events();
    result?;
    Ok(Action::requeue(pass.requeue.unwrap_or(RESYNC).min(RESYNC).max(Duration::from_millis(200))))
}

/// The AnalysisRuns of a Rollout: the ones its status names as current, and the others.
#[derive(Debug, Clone, Default)]
pub(crate) struct Runs {
    pub step: Option<AnalysisRun>,
    pub background: Option<AnalysisRun>,
    /// Blue-green's pre- and post-promotion runs.
    pub pre: Option<AnalysisRun>,
    pub post: Option<AnalysisRun>,
    pub others: Vec<AnalysisRun>,
}

impl Runs {
    /// The runs the status names as current.
    pub fn current(&self) -> impl Iterator<Item = &AnalysisRun> {
        self.step.iter().chain(&self.background).chain(&self.pre).chain(&self.post)
    }
}

/// One reconcile of one Rollout: what it read, what it decided so far, and what it will write.
pub(crate) struct Pass<'a> {
    pub ctx: &'a Context,
    pub api: Api<Rollout>,
    /// The Rollout as last read or written by this pass.
    pub rollout: Rollout,
    pub rss: ReplicaSets,
    pub runs: Runs,
    pub exs: experiment::Experiments,
    /// The status this pass builds: upstream's `newStatus` seed (what is carried over), completed at the end.
    pub new_status: RolloutStatus,
    pub pause: PauseContext,
    /// Events of things done (an object created, scaled, switched): recorded whatever happens next.
    pub events: Vec<Event>,
    /// Events of status transitions (a step completed, a pause, a run's phase): recorded only once the status
    /// that carries the transition is written, so a pass that loses its write does not announce it twice.
    pub status_events: Vec<Event>,
    /// When to look at the Rollout again, at the latest.
    pub requeue: Option<Duration>,
    /// The pass changed the Rollout object itself: the next pass continues from the new version.
    pub modified: bool,
    /// The new ReplicaSet had a scale-down deadline still ahead when the pass began (a blue-green rollback to
    /// a ReplicaSet within its delay is a fast one).
    pub new_rs_within_delay: bool,
    /// Every traffic router applied what it was asked this pass (the `TrafficRouting` condition goes).
    pub routed: bool,
    /// The step plugins' entries, once this pass reached the plugin steps (otherwise the old ones are kept).
    pub step_plugin_statuses: Option<Vec<crate::api::rollout::StepPluginStatus>>,
    /// The template read from `workloadRef`, kept out of what is written back.
    pub workload: Option<workload::Resolved>,
    pub now: Timestamp,
}

impl<'a> Pass<'a> {
    fn new(ctx: &'a Context, rollout: Rollout, now: Timestamp) -> Pass<'a> {
        let ns = rollout.namespace().unwrap_or_default();
        let status = rollout.status.clone().unwrap_or_default();
        let new_status = RolloutStatus {
            restarted_at: status.restarted_at.clone(),
            alb: status.alb.clone(),
            albs: status.albs.clone(),
            ..Default::default()
        };
        Pass {
            ctx,
            api: Api::namespaced(ctx.client.clone(), &ns),
            rollout,
            rss: ReplicaSets::default(),
            runs: Runs::default(),
            exs: experiment::Experiments::default(),
            new_status,
            pause: PauseContext::default(),
            events: Vec::new(),
            status_events: Vec::new(),
            requeue: None,
            modified: false,
            new_rs_within_delay: false,
            routed: false,
            step_plugin_statuses: None,
            workload: None,
            now,
        }
    }

    pub fn namespace(&self) -> String {
        self.rollout.namespace().unwrap_or_default()
    }

    pub fn name(&self) -> String {
        self.rollout.name_any()
    }

    pub fn status(&self) -> RolloutStatus {
        self.rollout.status.clone().unwrap_or_default()
    }

    /// Asks to be reconciled again within `after`.
    pub fn requeue_within(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    pub fn event(&mut self, e: Event) {
        self.events.push(e);
    }

    pub fn status_event(&mut self, e: Event) {
        self.status_events.push(e);
    }

    fn publish_events(&mut self) {
        let reference = self.rollout.object_ref(&());
        for e in std::mem::take(&mut self.events) {
            self.ctx.recorder.record(&reference, e.warning, &e.reason, &e.message);
        }
    }

    /// The Rollout's ReplicaSets, AnalysisRuns and Experiments, from the watch caches.
    fn read_owned(&mut self) -> (Vec<ReplicaSet>, Vec<AnalysisRun>, Vec<Experiment>) {
        let uid = self.rollout.metadata.uid.clone().unwrap_or_default();
        let ns = self.namespace();
        let controlled_by = |meta: &kube::api::ObjectMeta| {
            meta.namespace.as_deref() == Some(ns.as_str())
                && meta.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == uid)
        };
        fn owned<K>(store: &Store<K>, keep: impl Fn(&K) -> bool) -> Vec<K>
        where
            K: kube::Resource + Clone + 'static,
            K::DynamicType: Eq + std::hash::Hash + Clone,
        {
            store.state_filter(keep).iter().map(|k| (**k).clone()).collect()
        }
        (
            owned(&self.ctx.replicasets, |rs: &ReplicaSet| controlled_by(&rs.metadata)),
            owned(&self.ctx.analysis_runs, |r: &AnalysisRun| controlled_by(&r.metadata)),
            owned(&self.ctx.experiments, |e: &Experiment| controlled_by(&e.metadata)),
        )
    }

    /// The Service `name` in the Rollout's namespace, as the watch cache last saw it.
    pub fn service(&self, name: &str) -> Option<Service> {
        let key = reflector::ObjectRef::new(name).within(&self.namespace());
        self.ctx.services.get(&key).map(|svc| (*svc).clone())
    }

    /// The Services the strategy names (those that exist).
    fn named_services(&self) -> Vec<Service> {
        let mut names: Vec<String> = Vec::new();
        if let Some(c) = self.rollout.canary() {
            names.extend(c.stable_service.iter().chain(&c.canary_service).cloned());
            if let Some(pp) = &c.ping_pong {
                names.extend([pp.ping_service.clone(), pp.pong_service.clone()]);
            }
        }
        if let Some(b) = self.rollout.blue_green() {
            names.push(b.active_service.clone());
            names.extend(b.preview_service.iter().cloned());
        }
        names.iter().filter(|n| !n.is_empty()).filter_map(|n| self.service(n)).collect()
    }

    /// The Rollout's uid, which keys its expectations.
    fn uid(&self) -> String {
        self.rollout.metadata.uid.clone().unwrap_or_default()
    }

    /// Remembers that a write replaced version `before` of an object with `after`, so that a pass which still
    /// sees `before` waits. A write that changed nothing keeps the resourceVersion (and sends no watch event):
    /// there is nothing to wait for.
    pub fn wrote(&self, before: &kube::api::ObjectMeta, after: &kube::api::ObjectMeta) {
        let rv = before.resource_version.as_deref().unwrap_or("");
        if after.resource_version.as_deref() == Some(rv) {
            return;
        }
        self.ctx.expectations.superseded(&self.uid(), before.uid.as_deref().unwrap_or(""), rv);
    }

    /// Remembers that this pass created `kind`/`name`.
    pub fn created(&self, kind: &str, name: &str) {
        self.ctx.expectations.created(&self.uid(), kind, name);
    }

    /// Remembers that this pass deleted `meta`'s object.
    pub fn deleted(&self, meta: &kube::api::ObjectMeta) {
        self.ctx.expectations.deleted(&self.uid(), meta.uid.as_deref().unwrap_or(""));
    }

    /// The first of this controller's writes that the caches this pass read do not show yet.
    fn unmet_expectations(
        &self,
        rss: &[ReplicaSet],
        runs: &[AnalysisRun],
        exs: &[Experiment],
    ) -> Option<String> {
        use expectations::{Seen, SeenObject};
        fn seen<'a>(kind: &'a str, meta: &'a kube::api::ObjectMeta) -> SeenObject<'a> {
            SeenObject {
                kind,
                uid: meta.uid.as_deref().unwrap_or(""),
                name: meta.name.as_deref().unwrap_or(""),
                resource_version: meta.resource_version.as_deref().unwrap_or(""),
                terminating: meta.deletion_timestamp.is_some(),
            }
        }
        let services = self.named_services();
        let mut objects = vec![seen("Rollout", &self.rollout.metadata)];
        objects.extend(services.iter().map(|svc| seen("Service", &svc.metadata)));
        objects.extend(rss.iter().map(|rs| seen("ReplicaSet", &rs.metadata)));
        objects.extend(runs.iter().map(|r| seen("AnalysisRun", &r.metadata)));
        objects.extend(exs.iter().map(|e| seen("Experiment", &e.metadata)));
        self.ctx.expectations.unmet(&self.uid(), &Seen { objects })
    }

    /// Replaces the Rollout (spec and metadata), as `Update` does.
    async fn update_rollout(&mut self, rollout: Rollout) -> Result<(), Error> {
        let updated = self
            .api
            .replace(
                &self.name(),
                &PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() },
                &self.stored(&rollout),
            )
            .await
            .map_err(kube_err(format!("updating Rollout {}", self.name())))?;
        self.adopt(updated);
        Ok(())
    }

    /// Writes `status` as the whole status through the status subresource (upstream's `UpdateStatus`).
    async fn update_status(&mut self, status: RolloutStatus) -> Result<(), Error> {
        // Written whole, in the shape Go's encoder gives upstream's status struct.
        let mut ro =
            serde_json::to_value(self.stored(&self.rollout)).map_err(|e| Error::Other(e.to_string()))?;
        ro["status"] = status::go_status(&status);
        let ro: Rollout = serde_json::from_value(ro).map_err(|e| Error::Other(e.to_string()))?;
        let updated = self
            .api
            .replace_status(
                &self.name(),
                &PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() },
                &ro,
            )
            .await
            .map_err(kube_err(format!("updating the status of Rollout {}", self.name())))?;
        self.adopt(updated);
        Ok(())
    }

    /// A JSON merge patch of the status, guarded by the Rollout's resourceVersion.
    async fn patch_status(&mut self, patch: serde_json::Value) -> Result<(), Error> {
        let body = serde_json::json!({
            "metadata": {"resourceVersion": self.rollout.resource_version()},
            "status": patch,
        });
        tracing::debug!(rollout = %self.name(), patch = %body["status"], "patching the status");
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let updated = self
            .api
            .patch_status(&self.name(), &params, &Patch::Merge(&body))
            .await
            .map_err(kube_err(format!("updating the status of Rollout {}", self.name())))?;
        self.adopt(updated);
        Ok(())
    }

    /// upstream's `syncHandler` and `newRolloutContext`, then `reconcile`.
    async fn run(&mut self) -> Result<(), Error> {
        let (owned, runs, exs) = self.read_owned();
        if let Some(unmet) = self.unmet_expectations(&owned, &runs, &exs) {
            // The watch delivering the write triggers the next pass; the requeue only covers a lost event.
            tracing::debug!(rollout = %self.name(), "waiting for the caches to show this controller's writes: {unmet}");
            self.requeue_within(EARLY_PASS_REQUEUE);
            return Ok(());
        }
        if let Err(message) = self.resolve_workload().await? {
            return self.invalid_spec(message).await;
        }
        let hashes = match self.template_hashes() {
            Ok(h) => h,
            Err(message) => return self.invalid_spec(message).await,
        };
        self.rss = ReplicaSets::classify(owned, &self.rollout, &[hashes.0.as_str(), hashes.1.as_str()]);
        if self.rss.new.is_none() {
            self.find_new_by_template().await?;
        }
        self.runs = analysis::current_and_other(&self.rollout, runs);
        let current_experiment = self.status().canary.and_then(|c| c.current_experiment);
        self.exs = experiment::Experiments::split(current_experiment.as_deref(), exs);
        self.new_rs_within_delay = self.rss.new_rs().is_some_and(|rs| {
            crate::strategy::replicaset::time_before_scale_down(rs, self.now).is_ok_and(|left| left.is_some())
        });

        if let Err(message) = self.validate().await? {
            return self.invalid_spec(message).await;
        }
        if self.rss.new.is_none() {
            self.create_desired_replica_set(&hashes.0).await?;
            if self.modified {
                return Ok(());
            }
        }
        if self.rollout.spec.replicas.is_none() {
            // HPA needs spec.replicas to be set.
            let mut ro = self.rollout.clone();
            ro.spec.replicas = Some(crate::api::defaults::REPLICAS);
            self.modified = true;
            return self.update_rollout(ro).await;
        }
        if self.status().abort.unwrap_or(false)
            && crate::strategy::conditions::rollout_completed(&self.status())
        {
            tracing::warn!(rollout = %self.name(), "removing the abort of a fully promoted rollout");
            self.pause.remove_abort();
        }
        let canary = self.status().canary.unwrap_or_default();
        self.new_status.canary = Some(crate::api::rollout::CanaryStatus {
            weights: canary.weights,
            traffic_router_statuses: canary.traffic_router_statuses,
            ..Default::default()
        });

        self.check_paused_conditions().await?;
        if self.modified {
            return Ok(());
        }
        let blue_green = self.rollout.blue_green().is_some();
        if self.is_scaling_event().await? {
            if blue_green {
                return self.sync_replicas_only_blue_green().await;
            }
            return self.sync_replicas_only().await;
        }
        if blue_green {
            return self.rollout_blue_green().await;
        }
        self.rollout_canary().await
    }

    /// The desired pod-template hash, and the one earlier Argo Rollouts releases computed for it.
    fn template_hashes(&self) -> Result<(String, String), String> {
        let template = serde_json::to_value(self.rollout.spec.template.clone().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        let collisions = self.status().collision_count;
        let current =
            crate::strategy::hash::pod_template_hash(&template, collisions).map_err(|e| e.to_string())?;
        let legacy = crate::strategy::hash::legacy_pod_template_hash(&template, collisions)
            .map_err(|e| e.to_string())?;
        Ok((current, legacy))
    }
}

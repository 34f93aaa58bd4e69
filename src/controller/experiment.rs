//! The Experiment reconciler (upstream's `experiments/experiment.go`): one ReplicaSet per template, named
//! `<experiment>-<template>`, labelled with its pod-template hash and owned by the Experiment; scaled to its
//! replicas while the experiment runs and to zero once it ends (after `scaleDownDelaySeconds`, default 30 s,
//! recorded in a `scale-down-deadline` annotation); each template's state, the phase, `availableAt` and the
//! `Progressing` condition as `strategy::experiment` decides them. A template with `service` gets a Service
//! selecting its pods while it runs. Each analysis becomes an AnalysisRun `<experiment>-<analysis>` once every
//! template runs, its phase followed into `status.analysisRuns`; runs still going when the experiment ends are
//! terminated.

use crate::analysis::template::{self, ClusterTemplates, TemplateRef, TemplateSource};
use crate::api::analysis::AnalysisRun;
use crate::api::common::{AnalysisPhase, Argument};
use crate::api::experiment::{
    Experiment, ExperimentAnalysisRunStatus, ExperimentAnalysisTemplateRef, ExperimentCondition,
    ExperimentConditionType, ExperimentStatus, TemplateSpec, TemplateStatus,
};
use crate::api::validation::Validate;
use crate::strategy::experiment as rules;
use crate::strategy::pause::meta_time;
use crate::strategy::replicaset::POD_TEMPLATE_HASH_LABEL;
use futures::{FutureExt, StreamExt};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use crate::strategy::replicaset::{EXPERIMENT_NAME_ANNOTATION, SCALE_DOWN_DEADLINE_ANNOTATION};
/// The annotation naming the template a ReplicaSet belongs to.
pub const TEMPLATE_NAME_ANNOTATION: &str = "experiment.argoproj.io/template-name";

const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// Shared by every reconcile.
pub struct Context {
    pub client: kube::Client,
    pub recorder: Arc<super::events::EventRecorder>,
    pub metrics: Arc<super::metrics::Metrics>,
}

#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct Error {
    what: String,
    source: kube::Error,
}

fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error { what, source }
}

/// Runs the Experiment controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: super::Scope,
    workers: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (api, rss, runs): (Api<Experiment>, Api<ReplicaSet>, Api<AnalysisRun>) = match &scope.namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let shutdown = shutdown.shared();
    let controller = super::controller_of(api, scope.watched())
        .owns(rss, watcher::Config::default())
        .owns(runs, scope.watched())
        .with_config(kube::runtime::controller::Config::default().concurrency(workers))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, |_, _, _| Action::requeue(RETRY_AFTER_ERROR), ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(experiment = %obj.name, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(e, obj)) => {
                    tracing::warn!(experiment = %obj.name, error = %e, "reconcile failed")
                }
                Err(e) => tracing::debug!(error = %e, "controller event"),
            }
        });
    super::bounded_shutdown(controller, shutdown, "Experiment").await;
}

struct Pass {
    events: Vec<(bool, String, String)>,
    /// Warnings for the Rollout that owns the experiment.
    rollout_events: Vec<(k8s_openapi::api::core::v1::ObjectReference, String, String)>,
    requeue: Option<Duration>,
    now: Timestamp,
}

impl Pass {
    fn requeue_at(&mut self, at: Timestamp) {
        let left = Duration::try_from(self.now.duration_until(at)).unwrap_or(Duration::ZERO);
        let after = left + Duration::from_millis(500);
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    fn event(&mut self, warning: bool, reason: impl Into<String>, message: impl Into<String>) {
        self.events.push((warning, reason.into(), message.into()));
    }
}

async fn reconcile(ex: Arc<Experiment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let (ns, name) = (ex.namespace().unwrap_or_default(), ex.name_any());
    let result = reconcile_experiment(ex, ctx.clone()).await;
    ctx.metrics.reconciled(super::metrics::Kind::Experiment, &ns, &name, started.elapsed(), result.is_err());
    result
}

async fn reconcile_experiment(ex: Arc<Experiment>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ex.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = ex.name_any();
    let ns = ex.namespace().unwrap_or_default();
    let api: Api<Experiment> = Api::namespaced(ctx.client.clone(), &ns);
    let old = ex.status.clone().unwrap_or_default();
    let mut pass =
        Pass { events: Vec::new(), rollout_events: Vec::new(), requeue: None, now: Timestamp::now() };

    let problem = ex.field_errors().into_iter().next().map(|e| format!("{}: {}", e.path, e.message));
    let mut status = old.clone();
    if let Some(problem) = problem {
        set_condition(
            &mut status,
            ExperimentConditionType::InvalidSpec,
            "True",
            "InvalidSpec",
            &problem,
            pass.now,
        );
    } else {
        status = reconcile_templates(&ex, &ctx, &mut pass).await?;
        remove_condition(&mut status, &ExperimentConditionType::InvalidSpec);
    }
    if status != old {
        // Upstream's Experiment has no status subresource: the status is written on the object, guarded by the
        // version read so that a spec change meanwhile (a `terminate`) is not overwritten.
        let patch = serde_json::json!({
            "metadata": { "resourceVersion": ex.resource_version() },
            "status": status,
        });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube_err(format!("writing the status of Experiment {name}")))?;
    }
    let reference = ex.object_ref(&());
    for (warning, reason, message) in pass.events {
        ctx.recorder.record(&reference, warning, &reason, &message);
    }
    for (rollout, reason, message) in pass.rollout_events {
        ctx.recorder.record(&rollout, true, &reason, &message);
    }
    Ok(match pass.requeue {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// The templates' ReplicaSets brought to what the experiment wants, and the status that follows.
async fn reconcile_templates(
    ex: &Experiment,
    ctx: &Context,
    pass: &mut Pass,
) -> Result<ExperimentStatus, Error> {
    let name = ex.name_any();
    let ns = ex.namespace().unwrap_or_default();
    let uid = ex.metadata.uid.clone().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let owned: Vec<ReplicaSet> = rs_api
        .list(&ListParams::default())
        .await
        .map_err(kube_err("listing ReplicaSets"))?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == uid)
                && annotation(rs, EXPERIMENT_NAME_ANNOTATION) == Some(name.as_str())
        })
        .collect();
    let old = ex.status.clone().unwrap_or_default();
    let old_templates = old.template_statuses.clone().unwrap_or_default();
    let mut templates = Vec::new();
    for t in &ex.spec.templates {
        let previous = rules::template_status(&old_templates, &t.name)
            .cloned()
            .unwrap_or_else(|| TemplateStatus { name: t.name.clone(), ..Default::default() });
        let mut st = previous.clone();
        let desired = rules::desired_replicas(ex, t);
        match owned.iter().find(|rs| annotation(rs, TEMPLATE_NAME_ANNOTATION) == Some(t.name.as_str())) {
            None => match new_replica_set(ex, t, previous.collision_count) {
                Ok(rs) => match rs_api.create(&PostParams::default(), &rs).await {
                    Ok(_) => {
                        st.last_transition_time = Some(meta_time(pass.now));
                        // Scaled up on the next pass, once the ReplicaSet is seen.
                        pass.requeue = Some(Duration::from_millis(200));
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        // The name is another object's (the ReplicaSet of an Experiment of the same name
                        // deleted moments ago, still being collected): wait for it to go; the progress
                        // deadline fails the template if it stays.
                        tracing::warn!(experiment = %name, template = %t.name, "ReplicaSet {} exists and is not this experiment's", rs.name_any());
                        pass.requeue = Some(Duration::from_secs(5));
                    }
                    Err(e) => {
                        return Err(kube_err(format!("creating the ReplicaSet of template {}", t.name))(e));
                    }
                },
                Err(e) => {
                    st.status = Some(crate::api::experiment::TemplateStatusCode::Error);
                    st.message = Some(format!("Failed to create ReplicaSet for template '{}': {e}", t.name));
                }
            },
            Some(rs) => {
                if scale(ex, &rs_api, rs, desired, pass).await? {
                    st.last_transition_time = Some(meta_time(pass.now));
                }
                let scaled_down = desired == 0 && rs.spec.replicas == Some(0);
                reconcile_service(ex, ctx, t, rs, !scaled_down, &mut st).await?;
                let s = rs.status.clone().unwrap_or_default();
                let counts = (
                    s.replicas,
                    s.replicas,
                    s.ready_replicas.unwrap_or(0),
                    s.available_replicas.unwrap_or(0),
                );
                if counts != (st.replicas, st.updated_replicas, st.ready_replicas, st.available_replicas) {
                    (st.replicas, st.updated_replicas, st.ready_replicas, st.available_replicas) = counts;
                    st.last_transition_time = Some(meta_time(pass.now));
                }
            }
        }
        let (code, message) = rules::template_code(ex, &st, desired, pass.now);
        if previous.status.as_ref() != Some(&code) {
            let warning = matches!(
                code,
                crate::api::experiment::TemplateStatusCode::Failed
                    | crate::api::experiment::TemplateStatusCode::Error
            );
            let from = previous.status.as_ref().map(|c| c.as_str().to_string()).unwrap_or_default();
            let mut text = format!("Template '{}' transitioned from {from} -> {}", t.name, code.as_str());
            if let Some(m) = &message {
                text = format!("{text}: {m}");
            }
            pass.event(warning, format!("Template{}", code.as_str()), text);
        }
        st.status = Some(code);
        st.message = message;
        // A template still short of its pods fails at its progress deadline: look again then.
        if st.available_replicas != desired
            && let Some(since) = st.last_transition_time.as_ref()
        {
            let deadline =
                ex.spec.progress_deadline_seconds.unwrap_or(rules::DEFAULT_PROGRESS_DEADLINE_SECONDS);
            if let Ok(at) = since.0.checked_add(SignedDuration::from_secs(deadline.into())) {
                pass.requeue_at(at);
            }
        }
        templates.push(st);
    }

    let replica_sets: Vec<rules::TemplateReplicaSet> = owned
        .iter()
        .filter_map(|rs| {
            Some(rules::TemplateReplicaSet {
                template: annotation(rs, TEMPLATE_NAME_ANNOTATION)?.to_string(),
                name: rs.name_any(),
                pod_template_hash: rs.labels().get(POD_TEMPLATE_HASH_LABEL).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let runs = reconcile_analyses(ex, ctx, &replica_sets, pass).await?;
    let assessed = rules::assess(ex, &templates, &runs, pass.now);
    let mut status = old.clone();
    let progressing = templates.len() > old_templates.len()
        || templates.iter().any(|t| {
            rules::template_status(&old_templates, &t.name).is_none_or(|o| {
                (o.replicas, o.updated_replicas, o.ready_replicas, o.available_replicas)
                    != (t.replicas, t.updated_replicas, t.ready_replicas, t.available_replicas)
            })
        });
    status.template_statuses = Some(templates);
    status.analysis_runs = (!runs.is_empty()).then_some(runs);
    status.available_at = assessed.available_at.map(meta_time);
    if old.phase.as_ref() != Some(&assessed.phase) {
        let from = old.phase.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default();
        let warning = matches!(
            assessed.phase,
            AnalysisPhase::Error | AnalysisPhase::Failed | AnalysisPhase::Inconclusive
        );
        pass.event(
            warning,
            format!("Experiment{}", assessed.phase.as_str()),
            format!("Experiment transitioned from {from} -> {}", assessed.phase.as_str()),
        );
    }
    status.phase = Some(assessed.phase.clone());
    status.message = (!assessed.message.is_empty()).then_some(assessed.message);
    // The Progressing condition, as upstream's `calculateExperimentConditions` writes it.
    let running = old.available_at.is_some() && !rules::passed_duration(ex, pass.now);
    if assessed.phase == AnalysisPhase::Successful {
        let message = format!("Experiment \"{name}\" has successfully ran and completed.");
        set_condition(
            &mut status,
            ExperimentConditionType::Progressing,
            "False",
            "ExperimentCompleted",
            &message,
            pass.now,
        );
    } else if progressing {
        let message = format!("Experiment \"{name}\" is progressing.");
        set_condition(
            &mut status,
            ExperimentConditionType::Progressing,
            "True",
            "ReplicaSetUpdated",
            &message,
            pass.now,
        );
    } else if running {
        let message = format!("Experiment \"{name}\" is running.");
        set_condition(
            &mut status,
            ExperimentConditionType::Progressing,
            "True",
            "NewReplicaSetAvailable",
            &message,
            pass.now,
        );
    }
    // The duration's end.
    if let (Some(at), Some(d)) = (status.available_at.as_ref(), rules::duration(ex))
        && !assessed.phase.completed()
        && let Ok(end) = at.0.checked_add(d)
    {
        pass.requeue_at(end);
    }
    Ok(status)
}

/// `reconcileAnalysisRun` for every analysis: the status entries in the spec's order.
async fn reconcile_analyses(
    ex: &Experiment,
    ctx: &Context,
    rss: &[rules::TemplateReplicaSet],
    pass: &mut Pass,
) -> Result<Vec<ExperimentAnalysisRunStatus>, Error> {
    let ns = ex.namespace().unwrap_or_default();
    let api: Api<AnalysisRun> = Api::namespaced(ctx.client.clone(), &ns);
    let old = ex.status.clone().unwrap_or_default().analysis_runs.unwrap_or_default();
    let mut out = Vec::new();
    for a in ex.spec.analyses.iter().flatten() {
        let previous =
            old.iter().find(|r| r.name == a.name).cloned().unwrap_or(ExperimentAnalysisRunStatus {
                name: a.name.clone(),
                analysis_run: String::new(),
                phase: AnalysisPhase::Other(String::new()),
                message: None,
            });
        let mut st = previous.clone();
        let run = match previous.analysis_run.as_str() {
            "" => None,
            name => api.get_opt(name).await.map_err(kube_err(format!("reading AnalysisRun {name}")))?,
        };
        let template_ref =
            TemplateRef { name: a.template_name.clone(), cluster_scope: a.cluster_scope.unwrap_or(false) };
        let kind = if template_ref.cluster_scope { "ClusterAnalysisTemplate" } else { "AnalysisTemplate" };
        match rules::analysis_action(ex, &previous, run.as_ref()) {
            rules::AnalysisAction::Verify => {
                let source = ClusterTemplates { client: ctx.client.clone(), namespace: ns.clone() };
                if let Err(e) = source.template(&template_ref).await {
                    st.phase = AnalysisPhase::Error;
                    st.message = Some(format!("{kind} verification failed for analysis '{}': {e}", a.name));
                }
            }
            rules::AnalysisAction::Create => match new_analysis_run(ex, a, rss, ctx).await {
                Err(e) => {
                    st.phase = AnalysisPhase::Error;
                    st.message = Some(format!("Failed to create AnalysisRun for analysis '{}': {e}", a.name));
                }
                Ok(run) => {
                    // A run of this name that is the experiment's, the same, and started since the templates
                    // last became available is the one a lost status write forgot; an older one (before a
                    // retry) gives way to a new name.
                    let uid = ex.metadata.uid.clone();
                    let since = ex.status.as_ref().and_then(|s| s.available_at.clone()).map(|t| t.0);
                    let adopt = |existing: &AnalysisRun| {
                        let created = existing.metadata.creation_timestamp.as_ref().map(|t| t.0);
                        super::analysis_run::controlled_by(&existing.metadata, uid.as_deref())
                            && (!crate::strategy::rollout_analysis::phase(existing).completed()
                                || created >= since)
                    };
                    let params = PostParams::default();
                    match super::analysis_run::create_with_collisions(&api, &params, run, adopt).await {
                        Ok((run, _)) => {
                            st.phase = AnalysisPhase::Pending;
                            st.message = None;
                            st.analysis_run = run.name_any();
                        }
                        Err(super::analysis_run::CreateError::Kube { what, source }) => {
                            return Err(Error { what, source });
                        }
                        Err(super::analysis_run::CreateError::NamesTaken(message)) => {
                            st.phase = AnalysisPhase::Error;
                            st.message = Some(format!(
                                "Failed to create AnalysisRun for analysis '{}': {message}",
                                a.name
                            ));
                        }
                    }
                }
            },
            rules::AnalysisAction::Keep => {}
            rules::AnalysisAction::Missing => {
                st.phase = AnalysisPhase::Error;
                st.message = Some(format!("analysisrun.argoproj.io \"{}\" not found", previous.analysis_run));
            }
            rules::AnalysisAction::Follow { terminate } => {
                let Some(run) = run else { continue };
                if terminate {
                    let name = run.name_any();
                    pass.event(false, "AnalysisRunTerminating", format!("Terminating {} ({name})", a.name));
                    let patch = serde_json::json!({"spec": {"terminate": true}});
                    match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(e)) if e.code == 404 => {}
                        Err(e) => return Err(kube_err(format!("terminating AnalysisRun {name}"))(e)),
                    }
                }
                let s = run.status.clone().unwrap_or_default();
                st.phase = s.phase.unwrap_or(AnalysisPhase::Pending);
                st.message = s.message.filter(|m| !m.is_empty());
            }
        }
        if previous.phase != st.phase && !st.phase.as_str().is_empty() {
            let mut text =
                format!("AnalysisRun '{}' transitioned from {} -> {}", a.name, previous.phase, st.phase);
            if let Some(m) = &st.message {
                text = format!("{text}: {m}");
            }
            let warning = matches!(
                st.phase,
                AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
            );
            let reason = format!("AnalysisRun{}", st.phase);
            // The Rollout that started the experiment hears of its analyses too (as upstream, always as a
            // warning), so that what watches the Rollout's Events sees them.
            if let Some(owner) = rollout_owner(ex) {
                pass.rollout_events.push((owner, reason.clone(), text.clone()));
            }
            pass.event(warning, reason, text);
        }
        out.push(st);
    }
    Ok(out)
}

/// The Rollout that controls the experiment, as an Event's object.
fn rollout_owner(ex: &Experiment) -> Option<k8s_openapi::api::core::v1::ObjectReference> {
    let owner = ex
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "Rollout")?;
    Some(k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(owner.api_version.clone()),
        kind: Some(owner.kind.clone()),
        name: Some(owner.name.clone()),
        namespace: ex.namespace(),
        uid: Some(owner.uid.clone()),
        ..Default::default()
    })
}

/// `newAnalysisRun`: the analysis' templates merged with its arguments (values filled in from the experiment;
/// Secret references kept for the run to read), the experiment's dry-run and retention rules first, its
/// `analysisRunMetadata`, and the instance id of the experiment.
async fn new_analysis_run(
    ex: &Experiment,
    a: &ExperimentAnalysisTemplateRef,
    rss: &[rules::TemplateReplicaSet],
    ctx: &Context,
) -> Result<AnalysisRun, String> {
    let mut args = Vec::new();
    for arg in a.args.iter().flatten() {
        let value = arg.value.as_deref().map(|v| rules::resolve_arg_value(v, ex, rss)).transpose()?;
        args.push(Argument { name: arg.name.clone(), value, value_from: arg.value_from.clone() });
    }
    let ns = ex.namespace().unwrap_or_default();
    let source = ClusterTemplates { client: ctx.client.clone(), namespace: ns.clone() };
    let roots =
        [TemplateRef { name: a.template_name.clone(), cluster_scope: a.cluster_scope.unwrap_or(false) }];
    let flat = template::flatten(&source, &roots).await?;
    let mut spec = template::merge(&flat, &args)?;
    template::add_rules(&mut spec, ex.spec.dry_run.as_deref(), ex.spec.measurement_retention.as_deref());
    let mut run = AnalysisRun::new(&rules::run_name(&ex.name_any(), &a.name), spec);
    let metadata = ex.spec.analysis_run_metadata.clone().unwrap_or_default();
    let mut labels = BTreeMap::new();
    if let Some(id) = ex.labels().get(crate::strategy::rollout_analysis::INSTANCE_ID_LABEL) {
        labels.insert(crate::strategy::rollout_analysis::INSTANCE_ID_LABEL.to_string(), id.clone());
    }
    labels.extend(metadata.labels.unwrap_or_default());
    run.metadata.namespace = Some(ns);
    run.metadata.labels = (!labels.is_empty()).then_some(labels);
    run.metadata.annotations = metadata.annotations.filter(|a| !a.is_empty());
    run.metadata.owner_references = ex.controller_owner_ref(&()).map(|o| vec![o]);
    Ok(run)
}

/// A template's Service (`createTemplateService`): while the template runs and asks for one, a Service named
/// `service.name` or after the ReplicaSet, selecting its pods by hash, one port per container port (none when
/// the pods have no ports); deleted once the template is scaled down or no longer asks for one.
async fn reconcile_service(
    ex: &Experiment,
    ctx: &Context,
    t: &TemplateSpec,
    rs: &ReplicaSet,
    wanted: bool,
    st: &mut TemplateStatus,
) -> Result<(), Error> {
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ex.namespace().unwrap_or_default());
    let uid = ex.metadata.uid.clone().unwrap_or_default();
    let rs_name = rs.name_any();
    let name = t.service.as_ref().and_then(|s| s.name.clone()).filter(|n| !n.is_empty()).unwrap_or(rs_name);
    let existing = api.get_opt(&name).await.map_err(kube_err(format!("reading Service {name}")))?;
    let ours = existing.as_ref().is_some_and(|svc| {
        svc.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == uid)
            && svc.metadata.annotations.as_ref().and_then(|a| a.get(TEMPLATE_NAME_ANNOTATION))
                == Some(&t.name)
    });
    let hash =
        rs.metadata.labels.as_ref().and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL)).cloned().unwrap_or_default();
    let ports: Vec<ServicePort> = rs
        .spec
        .template
        .as_ref()
        .and_then(|p| p.spec.as_ref())
        .map(|p| p.containers.iter().flat_map(|c| c.ports.iter().flatten()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|p| ServicePort {
            name: p.name.clone(),
            protocol: p.protocol.clone(),
            port: p.container_port,
            target_port: Some(IntOrString::Int(p.container_port)),
            ..Default::default()
        })
        .collect();
    if !wanted || t.service.is_none() || ports.is_empty() {
        if ours {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(kube_err(format!("deleting Service {name}"))(e)),
            }
        }
        st.service_name = None;
        st.pod_template_hash = None;
        return Ok(());
    }
    if existing.is_some() && !ours {
        st.status = Some(crate::api::experiment::TemplateStatusCode::Error);
        st.message = Some(format!(
            "Failed to create Service {name} for template '{}': service {name} already exists and is not owned by experiment template {}",
            t.name, t.name
        ));
        return Ok(());
    }
    if existing.is_none() {
        let service = Service {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: ex.namespace(),
                annotations: Some(BTreeMap::from([
                    (EXPERIMENT_NAME_ANNOTATION.to_string(), ex.name_any()),
                    (TEMPLATE_NAME_ANNOTATION.to_string(), t.name.clone()),
                ])),
                owner_references: ex.controller_owner_ref(&()).map(|o| vec![o]),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(BTreeMap::from([(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone())])),
                ports: Some(ports),
                ..Default::default()
            }),
            status: None,
        };
        api.create(&PostParams::default(), &service)
            .await
            .map_err(kube_err(format!("creating Service {name} for template {}", t.name)))?;
    }
    st.service_name = Some(name);
    st.pod_template_hash = Some(hash);
    Ok(())
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// `newReplicaSetFromTemplate`: the template's pods, labelled with their hash, at zero replicas; an error when
/// the pod template cannot be hashed (nothing is created with an empty hash).
fn new_replica_set(
    ex: &Experiment,
    t: &TemplateSpec,
    collision_count: Option<i32>,
) -> Result<ReplicaSet, String> {
    let mut template = t.template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let value = serde_json::to_value(&template).map_err(|e| e.to_string())?;
    let hash = crate::strategy::hash::experiment_pod_template_hash(&value, &t.name, collision_count)
        .map_err(|e| e.to_string())?;
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    let mut selector = t.selector.clone().unwrap_or_default();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    let name = ex.name_any();
    Ok(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{}", t.name)),
            namespace: ex.namespace(),
            labels: Some(BTreeMap::from([(POD_TEMPLATE_HASH_LABEL.to_string(), hash)])),
            annotations: Some(BTreeMap::from([
                (EXPERIMENT_NAME_ANNOTATION.to_string(), name),
                (TEMPLATE_NAME_ANNOTATION.to_string(), t.name.clone()),
            ])),
            owner_references: ex.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: t.min_ready_seconds,
            selector,
            template: Some(template),
        },
        status: None,
    })
}

/// Brings the ReplicaSet to `desired` pods; a scale-down waits for its deadline. Whether the spec was changed
/// (or still differs, waiting).
async fn scale(
    ex: &Experiment,
    api: &Api<ReplicaSet>,
    rs: &ReplicaSet,
    desired: i32,
    pass: &mut Pass,
) -> Result<bool, Error> {
    let rs_name = rs.name_any();
    let current = rs.spec.replicas.unwrap_or(1);
    if current == desired {
        return Ok(false);
    }
    if desired == 0 {
        let delay = ex.spec.scale_down_delay_seconds.unwrap_or(rules::DEFAULT_SCALE_DOWN_DELAY_SECONDS);
        if delay > 0 {
            let deadline =
                annotation(rs, SCALE_DOWN_DEADLINE_ANNOTATION).and_then(|d| d.parse::<Timestamp>().ok());
            let deadline = match deadline {
                Some(d) => d,
                None => {
                    let at =
                        Timestamp::from_second(pass.now.as_second() + i64::from(delay)).unwrap_or(pass.now);
                    let patch = serde_json::json!({"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: at.to_string()}}});
                    api.patch(&rs_name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map_err(kube_err(format!("marking ReplicaSet {rs_name} for scale-down")))?;
                    at
                }
            };
            if deadline > pass.now {
                pass.requeue_at(deadline);
                return Ok(true);
            }
        }
    }
    let mut patch = serde_json::json!({"spec": {"replicas": desired}});
    if desired > 0 && annotation(rs, SCALE_DOWN_DEADLINE_ANNOTATION).is_some() {
        // Running again (a retried experiment): the next end gets its own delay.
        patch["metadata"] = serde_json::json!({"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: null}});
    }
    api.patch(&rs_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_err(format!("scaling ReplicaSet {rs_name}")))?;
    let direction = if desired > current { "up" } else { "down" };
    pass.event(
        false,
        crate::strategy::conditions::SCALING_REPLICA_SET_REASON,
        format!("Scaled {direction} ReplicaSet {rs_name} from {current} to {desired}"),
    );
    Ok(true)
}

/// `SetExperimentCondition`: nothing changes when the status and reason are the same; the transition time is
/// kept while the status is.
fn set_condition(
    status: &mut ExperimentStatus,
    type_: ExperimentConditionType,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let existing = conditions.iter().position(|c| c.type_ == type_);
    if let Some(i) = existing
        && conditions[i].status == value
        && conditions[i].reason == reason
    {
        return;
    }
    let transition = existing
        .filter(|i| conditions[*i].status == value)
        .map(|i| conditions[i].last_transition_time.clone())
        .unwrap_or_else(|| meta_time(now));
    if let Some(i) = existing {
        conditions.remove(i);
    }
    conditions.push(ExperimentCondition {
        type_,
        status: value.into(),
        last_update_time: meta_time(now),
        last_transition_time: transition,
        reason: reason.into(),
        message: message.into(),
    });
}

fn remove_condition(status: &mut ExperimentStatus, type_: &ExperimentConditionType) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|c| &c.type_ != type_);
        if c.is_empty() {
            status.conditions = None;
        }
    }
}

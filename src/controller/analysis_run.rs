//! The AnalysisRun reconciler: measure what is due, write the status, requeue at the next due time (no polling),
//! and delete completed runs when their `ttlStrategy` says so.

use crate::analysis::{Engine, RunEvent};
use crate::api::analysis::{AnalysisRun, AnalysisRunStatus};
use crate::api::common::AnalysisPhase;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Requeue after a failed reconcile (e.g. the API server refused the status write).
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// Shared by every reconcile.
pub struct Context {
    pub engine: Engine,
    pub client: kube::Client,
    pub recorder: Arc<super::events::EventRecorder>,
    pub metrics: Arc<super::metrics::Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status of AnalysisRun {name}: {source}")]
    Status { name: String, source: kube::Error },
    #[error("deleting expired AnalysisRun {name}: {source}")]
    Delete { name: String, source: kube::Error },
}

impl Error {
    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Status { .. } => "status-write",
            Error::Delete { .. } => "ttl-delete",
        }
    }
}

/// Runs the AnalysisRun controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: super::Scope,
    workers: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<AnalysisRun> = match &scope.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let shutdown = shutdown.shared();
    let controller = super::controller_of(api, scope.watched())
        .with_config(kube::runtime::controller::Config::default().concurrency(workers))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(run = %obj.name, namespace = ?obj.namespace, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(e, obj)) => {
                    tracing::warn!(run = %obj.name, error = %e, label = e.label(), "reconcile failed")
                }
                Err(e) => tracing::debug!(error = %e, "controller event"),
            }
        });
    super::bounded_shutdown(controller, shutdown, "AnalysisRun").await;
}

fn error_policy(_run: Arc<AnalysisRun>, _error: &Error, _ctx: Arc<Context>) -> Action {
    Action::requeue(RETRY_AFTER_ERROR)
}

async fn reconcile(run: Arc<AnalysisRun>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let (ns, name) = (run.namespace().unwrap_or_default(), run.name_any());
    let result = reconcile_run(run, ctx.clone()).await;
    ctx.metrics.reconciled(super::metrics::Kind::AnalysisRun, &ns, &name, started.elapsed(), result.is_err());
    result
}

async fn reconcile_run(run: Arc<AnalysisRun>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = run.name_any();
    let api: Api<AnalysisRun> = Api::namespaced(ctx.client.clone(), &run.namespace().unwrap_or_default());
    if run.metadata.deletion_timestamp.is_some() {
        // Upstream: "No reconciliation as analysis marked for deletion" (nothing new is measured or started).
        return Ok(Action::await_change());
    }
    let status = run.status.clone().unwrap_or_default();
    if status.phase.as_ref().is_some_and(AnalysisPhase::completed) {
        return expire(&api, &run, &status).await;
    }
    let out = ctx.engine.reconcile(&run, jiff::Timestamp::now()).await;
    if out.status != status {
        // Guarded by the resourceVersion read: a run changed meanwhile (or seen through a stale cache) is
        // reconciled again rather than measured twice.
        let patch = serde_json::json!({
            "metadata": { "resourceVersion": run.resource_version() },
            "status": out.status,
        });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::Status { name: name.clone(), source })?;
    }
    for e in &out.events {
        publish(&ctx.recorder, &run, e);
    }
    if out.status.phase.as_ref().is_some_and(AnalysisPhase::completed) {
        return expire(&api, &run, &out.status).await;
    }
    Ok(match out.requeue_after {
        Some(after) => Action::requeue(after.max(Duration::from_millis(100))),
        None => Action::await_change(),
    })
}

/// Deletes a completed run whose TTL has passed, or requeues at its expiry.
async fn expire(
    api: &Api<AnalysisRun>,
    run: &AnalysisRun,
    status: &AnalysisRunStatus,
) -> Result<Action, Error> {
    let Some(ttl) = &run.spec.ttl_strategy else { return Ok(Action::await_change()) };
    let seconds = match status.phase {
        Some(AnalysisPhase::Successful) => ttl.seconds_after_success.or(ttl.seconds_after_completion),
        // Upstream: Successful → secondsAfterSuccess, Failed → secondsAfterFailure, anything else (Error and
        // Inconclusive too) → secondsAfterCompletion.
        Some(AnalysisPhase::Failed) => ttl.seconds_after_failure.or(ttl.seconds_after_completion),
        _ => ttl.seconds_after_completion,
    };
    let (Some(seconds), Some(completed)) = (seconds, status.completed_at.as_ref()) else {
        return Ok(Action::await_change());
    };
    let Ok(expiry) = completed.0.checked_add(jiff::SignedDuration::from_secs(i64::from(seconds.max(0))))
    else {
        return Ok(Action::await_change());
    };
    let now = jiff::Timestamp::now();
    if now < expiry {
        let wait = Duration::try_from(expiry.duration_since(now)).unwrap_or(Duration::ZERO);
        return Ok(Action::requeue(wait));
    }
    let name = run.name_any();
    match api.delete(&name, &DeleteParams::background()).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Action::await_change()),
        Err(source) => Err(Error::Delete { name, source }),
    }
}

fn publish(recorder: &super::events::EventRecorder, run: &AnalysisRun, e: &RunEvent) {
    recorder.record(&run.object_ref(&()), e.warning, &e.reason, &e.message);
}

/// How many `<name>.<n>` alternatives a new run's name may take.
const MAX_NAME_COLLISIONS: u32 = 100;

/// Why [`create_with_collisions`] created nothing.
#[derive(Debug)]
pub(crate) enum CreateError {
    Kube {
        what: String,
        source: kube::Error,
    },
    /// Every name tried is taken by a run that is not this one.
    NamesTaken(String),
}

/// `CreateWithCollisionCounter`: creates `run` under its name, or returns the run already there when `adopt`
/// accepts it as the one being created (a pass repeated before its cache showed the first creation); other
/// runs holding the name make it try `<name>.1`, `<name>.2`, ... Whether the run returned is new.
pub(crate) async fn create_with_collisions(
    api: &Api<AnalysisRun>,
    params: &kube::api::PostParams,
    mut run: AnalysisRun,
    adopt: impl Fn(&AnalysisRun) -> bool,
) -> Result<(AnalysisRun, bool), CreateError> {
    let base = run.name_any();
    for collision in 0..MAX_NAME_COLLISIONS {
        let name = if collision == 0 { base.clone() } else { format!("{base}.{collision}") };
        run.metadata.name = Some(name.clone());
        match api.create(params, &run).await {
            Ok(created) => return Ok((created, true)),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let existing = api.get(&name).await.map_err(|source| CreateError::Kube {
                    what: format!("reading AnalysisRun {name}"),
                    source,
                })?;
                if adopt(&existing)
                    && crate::strategy::rollout_analysis::semantically_equal(&existing.spec, &run.spec)
                {
                    return Ok((existing, false));
                }
            }
            Err(source) => {
                return Err(CreateError::Kube { what: format!("creating AnalysisRun {name}"), source });
            }
        }
    }
    Err(CreateError::NamesTaken(format!(
        "AnalysisRun {base}: {MAX_NAME_COLLISIONS} names taken by other runs"
    )))
}

/// Whether `meta`'s object is controlled by the object with `uid`.
pub(crate) fn controlled_by(meta: &kube::api::ObjectMeta, uid: Option<&str>) -> bool {
    meta.owner_references.iter().flatten().any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
}

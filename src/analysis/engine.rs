//! One reconciliation of an AnalysisRun: resolve arguments, take the due measurements through plugins, judge
//! values, assess the run, trim history, and say when to look again. Shared by the controller and `serin analyze`.

use super::args::ArgValues;
use super::provider::{self, Selection};
use crate::api::analysis::{AnalysisRun, AnalysisRunStatus, Measurement, Metric};
use crate::api::common::AnalysisPhase;
use crate::api::validation::FieldPath;
use crate::api::validation::validate_metrics;
use crate::plugin::catalog::{Catalog, Resolved};
use crate::plugin::kube::KubeAccess;
use crate::plugin::metric::{DecidedPhase, InFlight, MetricCall, ObjectRef, Observation};
use crate::plugin::{CallOptions, PluginKind, Verdict};
use crate::strategy::analysis::{self as decide, Task};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The condition evaluator used to judge values.
pub const EVALUATOR: &str = "expr";

/// Runs AnalysisRuns with the plugins in a catalog.
#[derive(Clone)]
pub struct Engine {
    catalog: Arc<Catalog>,
    kube: Option<kube::Client>,
}

/// An event worth recording on the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEvent {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// What one reconciliation decided.
#[derive(Debug, Clone)]
pub struct Reconciled {
    pub status: AnalysisRunStatus,
    /// When to reconcile again (`None`: only when something changes).
    pub requeue_after: Option<Duration>,
    pub events: Vec<RunEvent>,
    /// Measurements taken or updated in this reconciliation, by metric, in order.
    pub measured: Vec<(String, Measurement)>,
}

/// One measurement to take.
struct Attempt<'a> {
    run: &'a AnalysisRun,
    /// The metric with its arguments (secrets included) substituted.
    metric: &'a Metric,
    selection: &'a Selection,
    task: Task,
    in_flight: Option<&'a Measurement>,
    count: u32,
    started_at: Time,
    /// Secret values, kept out of what the plugin logs.
    secrets: &'a [String],
}

/// When to resume a running measurement: what the provider asked for, between one second and five minutes
/// from now, or ten seconds when it did not say (the contract leaves the backoff to the host).
fn resume_time(asked: Option<Timestamp>, now: Timestamp) -> Timestamp {
    let earliest = now.checked_add(jiff::SignedDuration::from_secs(1)).unwrap_or(now);
    let latest = now.checked_add(jiff::SignedDuration::from_secs(300)).unwrap_or(now);
    match asked {
        Some(t) => t.clamp(earliest, latest),
        None => now.checked_add(jiff::SignedDuration::from_secs(10)).unwrap_or(now),
    }
}

/// Largest measurement message, value or metadata value kept in a status (an AnalysisRun must stay far below
/// the API server's object size limit, with ten measurements per metric).
const MAX_STATUS_TEXT: usize = 4096;
/// Measurements beyond a metric's retention limit kept while its provider fails to garbage-collect them.
const MAX_UNCOLLECTED: usize = 50;

fn bounded(mut text: String) -> String {
    if text.len() > MAX_STATUS_TEXT {
        let mut cut = MAX_STATUS_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("… (truncated)");
    }
    text
}

struct Taken {
    metric: String,
    measurement: Measurement,
    replaces_last: bool,
    metadata: BTreeMap<String, String>,
}

impl Engine {
    pub fn new(catalog: Arc<Catalog>, kube: Option<kube::Client>) -> Engine {
        Engine { catalog, kube }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Reconciles `run` as of `now`.
    pub async fn reconcile(&self, run: &AnalysisRun, now: Timestamp) -> Reconciled {
        let mut status = run.status.clone().unwrap_or_default();
        let mut out = Reconciled {
            status: status.clone(),
            requeue_after: None,
            events: Vec::new(),
            measured: Vec::new(),
        };
        if status.phase.as_ref().is_some_and(AnalysisPhase::completed) {
            return out;
        }
        let spec = &run.spec;
        let args = spec.args.as_deref().unwrap_or_default();
        let fail = |mut status: AnalysisRunStatus, message: String| {
            status.phase = Some(AnalysisPhase::Error);
            status.message = Some(message.clone());
            status.completed_at = Some(Time(now));
            status.started_at.get_or_insert(Time(now));
            Reconciled {
                status,
                requeue_after: None,
                events: vec![completion_event(&AnalysisPhase::Error)],
                measured: Vec::new(),
            }
        };

        // The metrics' shape, with literal arguments in place (secrets stand in until measurement time).
        let shapes = ArgValues::without_secrets(args);
        let metrics: Vec<Metric> = match spec.metrics.iter().map(|m| shapes.resolve(m)).collect() {
            Ok(m) => m,
            Err(e) => return fail(status, format!("Unable to resolve metric arguments: {e}")),
        };
        if let Some(e) = validate_metrics(&metrics, args, &FieldPath::new("spec").child("metrics")).first() {
            // Upstream's wording names the metric, not the field: `metrics[0]: <message>`.
            let path = e.path.to_string();
            let path = path.strip_prefix("spec.").unwrap_or(&path);
            let metric = path.find(']').map_or(path, |end| &path[..=end]);
            return fail(status, format!("Analysis spec invalid: {metric}: {}", e.message));
        }
        let dry = match decide::dry_run_metrics(spec.dry_run.as_deref().unwrap_or_default(), &metrics) {
            Ok(d) => d,
            Err(e) => return fail(status, format!("Analysis spec invalid: {e}")),
        };
        let retention = match decide::retention_limits(
            spec.measurement_retention.as_deref().unwrap_or_default(),
            &metrics,
        ) {
            Ok(r) => r,
            Err(e) => return fail(status, format!("Analysis spec invalid: {e}")),
        };
        let shaped = crate::api::analysis::AnalysisRunSpec { metrics, ..spec.clone() };

        let tasks = decide::tasks(&shaped, &status, &dry, now);
        if !tasks.is_empty() {
            let namespace = run.metadata.namespace.clone().unwrap_or_default();
            let values = match ArgValues::with_secrets(args, &namespace, self.kube.as_ref()).await {
                Ok(v) => v,
                Err(e) => return fail(status, format!("Unable to resolve metric arguments: {e}")),
            };
            let calls =
                tasks.iter().map(|(i, task)| self.take(run, &spec.metrics[*i], *task, &status, &values, now));
            for taken in futures::future::join_all(calls).await {
                let result = decide::result_mut(&mut status, &taken.metric, dry.contains(&taken.metric));
                if result.metadata.is_none() && !taken.metadata.is_empty() {
                    result.metadata = Some(taken.metadata);
                }
                decide::record(result, taken.measurement, taken.replaces_last, now);
                if let Some(m) = result.measurements.as_ref().and_then(|ms| ms.last()) {
                    out.measured.push((taken.metric.clone(), m.clone()));
                }
            }
        }

        let phases_before: Vec<(String, AnalysisPhase)> =
            status.metric_results.iter().flatten().map(|r| (r.name.clone(), r.phase.clone())).collect();
        let (phase, message) = decide::assess_run(&shaped, &mut status, &dry, now);
        for result in status.metric_results.iter().flatten() {
            let before = phases_before.iter().find(|(n, _)| *n == result.name).map(|(_, p)| p);
            if before != Some(&result.phase) && result.phase.completed() {
                out.events.push(metric_completion_event(&result.name, &result.phase));
            }
        }
        if status.phase.as_ref() != Some(&phase) {
            if phase.completed() {
                status.completed_at = Some(Time(now));
                out.events.push(completion_event(&phase));
            }
            status.phase = Some(phase);
            status.message = (!message.is_empty()).then_some(message);
        }

        for (name, keep) in decide::over_retention(&status, &retention) {
            // Like upstream, measurements stay until the provider has collected what they refer to, so a failed
            // collection is retried next time; but never so many that the run's object outgrows its limit.
            let held = status.metric_results.iter().flatten().find(|r| r.name == name);
            let count = held.and_then(|r| r.measurements.as_ref()).map_or(0, Vec::len);
            if self.garbage_collect(run, &shaped, &name, keep).await || count > keep + MAX_UNCOLLECTED {
                decide::trim(&mut status, &name, keep);
            }
        }

        out.requeue_after = decide::next_reconcile(&shaped, &status, now)
            .map(|t| Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO));
        out.status = status;
        out
    }

    /// Takes (or resumes, or terminates) one measurement; every failure becomes an Error measurement.
    async fn take(
        &self,
        run: &AnalysisRun,
        metric: &Metric,
        task: Task,
        status: &AnalysisRunStatus,
        values: &ArgValues,
        now: Timestamp,
    ) -> Taken {
        let result = decide::result(status, &metric.name);
        let last = result.and_then(|r| r.measurements.as_ref()).and_then(|m| m.last()).cloned();
        let in_flight = if task == Task::Measure { None } else { last };
        let started_at = in_flight.as_ref().and_then(|m| m.started_at.clone()).unwrap_or(Time(now));
        let count = result.map_or(0, |r| r.count.unwrap_or(0) + r.error.unwrap_or(0)).max(0) as u32;

        let (mut measurement, metadata) =
            match values.resolve(metric).and_then(|m| provider::select(&m).map(|s| (m, s))) {
                Err(e) => (error_measurement(started_at.clone(), e), BTreeMap::new()),
                Ok((resolved, selection)) => {
                    let metadata = selection.metadata.clone();
                    let attempt = Attempt {
                        run,
                        metric: &resolved,
                        selection: &selection,
                        task,
                        in_flight: in_flight.as_ref(),
                        count,
                        started_at: started_at.clone(),
                        secrets: values.secrets(),
                    };
                    let m = self.call(attempt, now).await;
                    (m, metadata)
                }
            };
        if task == Task::Terminate
            && matches!(measurement.phase, AnalysisPhase::Successful | AnalysisPhase::Inconclusive)
        {
            measurement.message = Some("Metric Terminated".into());
        }
        // Secret values never reach the status, and nothing a plugin returns can bloat it past what etcd takes.
        measurement.message = measurement.message.map(|m| bounded(values.redact(&m)));
        measurement.value = measurement.value.map(|v| bounded(values.redact(&v)));
        if let Some(md) = measurement.metadata.as_mut() {
            for v in md.values_mut() {
                *v = bounded(values.redact(v));
            }
        }
        let metadata = metadata.into_iter().map(|(k, v)| (k, bounded(values.redact(&v)))).collect();
        Taken { metric: metric.name.clone(), measurement, replaces_last: in_flight.is_some(), metadata }
    }

    async fn call(&self, attempt: Attempt<'_>, now: Timestamp) -> Measurement {
        let Attempt { run, metric, selection, task, in_flight, count, started_at, secrets } = attempt;
        let resolved = match self.catalog.resolve(&selection.plugin, PluginKind::MetricProvider) {
            Ok(r) => r,
            Err(e) => return error_measurement(started_at, e),
        };
        let mut opts = self.options(run, selection, &resolved);
        opts.redact = secrets.to_vec();
        let call = metric_call(run, metric, selection, count);
        let previous = in_flight.map(|m| InFlight {
            started_at: m.started_at.as_ref().map_or_else(Timestamp::now, |t| t.0),
            metadata: m.metadata.clone().unwrap_or_default().into_iter().collect(),
        });
        let plugin = &resolved.plugin;
        let observed = match (task, &previous) {
            (Task::Resume, Some(p)) => plugin.metric_resume(&opts, &call, p).await,
            (Task::Terminate, Some(p)) => plugin.metric_terminate(&opts, &call, p).await,
            _ => plugin.metric_run(&opts, &call).await,
        };
        let mut measurement = match observed {
            Err(e) => error_measurement(started_at, e.to_string()),
            Ok(o) => self.judge(metric, o, started_at, now).await,
        };
        // A resumed measurement keeps what its provider recorded earlier unless it says otherwise.
        if let Some(old) = in_flight.and_then(|m| m.metadata.clone()) {
            let mut merged = old;
            merged.extend(measurement.metadata.take().unwrap_or_default());
            measurement.metadata = Some(merged);
        }
        measurement
    }

    /// Turns an observation into a measurement, judging values with the metric's conditions.
    async fn judge(
        &self,
        metric: &Metric,
        observation: Observation,
        started_at: Time,
        now: Timestamp,
    ) -> Measurement {
        let metadata = |pairs: &[(String, String)]| {
            (!pairs.is_empty()).then(|| pairs.iter().cloned().collect::<BTreeMap<_, _>>())
        };
        let mut m = Measurement { started_at: Some(started_at.clone()), ..Measurement::default() };
        match &observation {
            Observation::Judge { result, metadata: md, .. } => {
                m.metadata = metadata(md);
                let evaluator = match self.catalog.resolve(EVALUATOR, PluginKind::ConditionEvaluator) {
                    Ok(e) => e.plugin,
                    Err(e) => return error_measurement(started_at, e),
                };
                let verdict = evaluator
                    .assess(
                        &CallOptions::default(),
                        metric.success_condition.as_deref(),
                        metric.failure_condition.as_deref(),
                        result,
                    )
                    .await;
                match verdict {
                    Ok(Ok(v)) => {
                        m.phase = match v {
                            Verdict::Successful => AnalysisPhase::Successful,
                            Verdict::Failed => AnalysisPhase::Failed,
                            Verdict::Inconclusive => AnalysisPhase::Inconclusive,
                        };
                        m.value = observation.display_value();
                    }
                    Ok(Err(e)) => {
                        m.phase = AnalysisPhase::Error;
                        m.message = Some(observation.explain(e));
                    }
                    Err(e) => {
                        m.phase = AnalysisPhase::Error;
                        m.message = Some(e.to_string());
                    }
                }
            }
            Observation::Running { resume_at, message, metadata: md } => {
                m.phase = AnalysisPhase::Running;
                m.resume_at = Some(Time(resume_time(*resume_at, now)));
                m.message = message.clone();
                m.metadata = metadata(md);
            }
            Observation::Decided { phase, value, message, metadata: md } => {
                m.phase = match phase {
                    DecidedPhase::Successful => AnalysisPhase::Successful,
                    DecidedPhase::Failed => AnalysisPhase::Failed,
                    DecidedPhase::Inconclusive => AnalysisPhase::Inconclusive,
                };
                m.value = value.clone();
                m.message = message.clone();
                m.metadata = metadata(md);
            }
            Observation::Error(e) => {
                m.phase = AnalysisPhase::Error;
                m.message = Some(e.clone());
            }
        }
        m
    }

    /// Lets the provider remove what it created for measurements about to be trimmed.
    async fn garbage_collect(
        &self,
        run: &AnalysisRun,
        spec: &crate::api::analysis::AnalysisRunSpec,
        name: &str,
        keep: usize,
    ) -> bool {
        let Some(metric) = spec.metrics.iter().find(|m| m.name == name) else { return false };
        let Ok(selection) = provider::select(metric) else { return false };
        let Ok(resolved) = self.catalog.resolve(&selection.plugin, PluginKind::MetricProvider) else {
            return false;
        };
        let opts = self.options(run, &selection, &resolved);
        let call = metric_call(run, metric, &selection, 0);
        let failure = match resolved.plugin.metric_garbage_collect(&opts, &call, keep as u32).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => e,
            Err(e) => e.to_string(),
        };
        tracing::warn!(metric = name, "failed to garbage collect measurements: {failure}");
        false
    }

    /// A built-in is granted what its configuration names; a registered plugin what its registration lists.
    fn options(&self, run: &AnalysisRun, selection: &Selection, resolved: &Resolved) -> CallOptions {
        let (grants, limits) = if selection.builtin {
            (selection.grants.clone(), selection.limits)
        } else {
            (resolved.grants.clone(), resolved.limits)
        };
        CallOptions { grants, limits, kube: self.kube_access(run), redact: Vec::new() }
    }

    fn kube_access(&self, run: &AnalysisRun) -> Option<KubeAccess> {
        self.kube.as_ref().map(|client| KubeAccess {
            client: client.clone(),
            namespace: run.metadata.namespace.clone().unwrap_or_default(),
        })
    }
}

fn metric_call(run: &AnalysisRun, metric: &Metric, selection: &Selection, count: u32) -> MetricCall {
    MetricCall {
        run: ObjectRef {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "AnalysisRun".into(),
            namespace: run.metadata.namespace.clone().unwrap_or_default(),
            name: run.metadata.name.clone().unwrap_or_default(),
            uid: run.metadata.uid.clone().unwrap_or_default(),
        },
        metric_name: metric.name.clone(),
        count,
        config: selection.config.to_string(),
        success_condition: metric.success_condition.clone(),
        failure_condition: metric.failure_condition.clone(),
    }
}

fn error_measurement(started_at: Time, message: String) -> Measurement {
    Measurement {
        phase: AnalysisPhase::Error,
        message: Some(message),
        started_at: Some(started_at),
        ..Measurement::default()
    }
}

/// Upstream's Event when a metric's phase turns to a completed one.
fn metric_completion_event(metric: &str, phase: &AnalysisPhase) -> RunEvent {
    RunEvent {
        warning: matches!(phase, AnalysisPhase::Error | AnalysisPhase::Failed),
        reason: format!("Metric{phase}"),
        message: format!("Metric '{metric}' Completed. Result: {phase}"),
    }
}

fn completion_event(phase: &AnalysisPhase) -> RunEvent {
    RunEvent {
        warning: matches!(phase, AnalysisPhase::Error | AnalysisPhase::Failed),
        reason: format!("AnalysisRun{phase}"),
        message: format!("Analysis Completed. Result: {phase}"),
    }
}

//! AnalysisRun decisions without I/O: which measurements are due, how a measurement is counted, a metric's phase,
//! the run's phase and message, when to look again, and which measurements to trim (Argo's `analysis/analysis.go`,
//! restated in `argo-semantics.md` §(b)).

use crate::api::analysis::{
    AnalysisRunSpec, AnalysisRunStatus, Measurement, Metric, MetricResult, RunSummary,
};
use crate::api::common::{AnalysisPhase, DryRun, MeasurementRetention};
use crate::api::defaults::inconclusive_limit;
use crate::api::defaults::{
    consecutive_error_limit, consecutive_success_limit, effective_count, failure_limit,
};
use crate::api::duration::parse_go_duration;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::{BTreeMap, BTreeSet};

/// Measurements kept per metric unless `measurementRetention` says otherwise.
pub const DEFAULT_MEASUREMENT_HISTORY_LIMIT: usize = 10;
/// Wait after an Error measurement before the next one, whatever the metric's interval (upstream quirk 7).
pub const ERROR_RETRY_INTERVAL: SignedDuration = SignedDuration::from_secs(10);

/// What to do for one metric in this reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Take a new measurement.
    Measure,
    /// Continue the in-flight (last) measurement.
    Resume,
    /// Stop the in-flight (last) measurement: the run is terminating.
    Terminate,
}

/// Names of the metrics in dry-run mode.
pub type DryRunSet = BTreeSet<String>;

/// Matches `dryRun` rules (unanchored Go regular expressions) against metric names; each rule must match one.
pub fn dry_run_metrics(rules: &[DryRun], metrics: &[Metric]) -> Result<DryRunSet, String> {
    let mut set = DryRunSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let names = matching(&rule.metric_name, metrics);
        if names.is_empty() {
            return Err(format!("dryRun[{i}]: Rule didn't match any metric name(s)"));
        }
        set.extend(names);
    }
    Ok(set)
}

/// Matches `measurementRetention` rules against metric names: the limit for each matched metric.
pub fn retention_limits(
    rules: &[MeasurementRetention],
    metrics: &[Metric],
) -> Result<BTreeMap<String, i32>, String> {
    let mut limits = BTreeMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let names = matching(&rule.metric_name, metrics);
        if names.is_empty() {
            return Err(format!("measurementRetention[{i}]: Rule didn't match any metric name(s)"));
        }
        for name in names {
            limits.insert(name, rule.limit);
        }
    }
    Ok(limits)
}

/// Go's `regexp.MatchString`, unanchored; upstream ignores a pattern's compile error, so an invalid pattern
/// (such as `*`) matches nothing.
fn matching(pattern: &str, metrics: &[Metric]) -> Vec<String> {
    match regex::Regex::new(pattern) {
        Ok(re) => metrics.iter().filter(|m| re.is_match(&m.name)).map(|m| m.name.clone()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The result recorded for a metric, if any.
pub fn result<'a>(status: &'a AnalysisRunStatus, name: &str) -> Option<&'a MetricResult> {
    status.metric_results.as_deref().unwrap_or_default().iter().find(|r| r.name == name)
}

/// The result for a metric, created (Running, with its dry-run flag) on first use.
pub fn result_mut<'a>(status: &'a mut AnalysisRunStatus, name: &str, dry_run: bool) -> &'a mut MetricResult {
    let results = status.metric_results.get_or_insert_with(Vec::new);
    let index = match results.iter().position(|r| r.name == name) {
        Some(i) => i,
        None => {
            results.push(MetricResult {
                name: name.to_string(),
                phase: AnalysisPhase::Running,
                dry_run: dry_run.then_some(true),
                ..MetricResult::default()
            });
            results.len() - 1
        }
    };
    &mut results[index]
}

fn last_measurement(result: Option<&MetricResult>) -> Option<&Measurement> {
    result.and_then(|r| r.measurements.as_deref()).and_then(<[Measurement]>::last)
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

fn ts(t: &Option<Time>) -> Option<Timestamp> {
    t.as_ref().map(|t| t.0)
}

/// Whether no new measurements start: `spec.terminate`, or a non-dry-run metric already Failed, Error or
/// Inconclusive.
pub fn is_terminating(spec: &AnalysisRunSpec, status: &AnalysisRunStatus, dry: &DryRunSet) -> bool {
    spec.terminate.unwrap_or(false)
        || status.metric_results.as_deref().unwrap_or_default().iter().any(|r| {
            !dry.contains(&r.name)
                && matches!(
                    r.phase,
                    AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
                )
        })
}

fn interval(metric: &Metric) -> Option<SignedDuration> {
    metric.interval.as_deref().filter(|s| !s.is_empty()).and_then(|s| parse_go_duration(s).ok())
}

/// The measurements due now, in metric order.
pub fn tasks(
    spec: &AnalysisRunSpec,
    status: &AnalysisRunStatus,
    dry: &DryRunSet,
    now: Timestamp,
) -> Vec<(usize, Task)> {
    let terminating = is_terminating(spec, status, dry);
    let mut tasks = Vec::new();
    for (i, metric) in spec.metrics.iter().enumerate() {
        let res = result(status, &metric.name);
        if res.is_some_and(|r| r.phase.completed()) {
            continue;
        }
        let last = last_measurement(res);
        if let Some(last) = last.filter(|m| m.finished_at.is_none()) {
            if terminating {
                tasks.push((i, Task::Terminate));
            } else if ts(&last.resume_at).is_none_or(|at| at <= now) {
                tasks.push((i, Task::Resume));
            }
            continue;
        }
        if terminating {
            continue;
        }
        let Some(last) = last else {
            if let Some(delay) = metric.initial_delay.as_deref().filter(|d| !d.is_empty()) {
                let (Some(started), Ok(delay)) = (ts(&status.started_at), parse_go_duration(delay)) else {
                    continue;
                };
                // A time too far out to add to (a hand-edited status) is never reached.
                if started.checked_add(delay).ok().is_none_or(|due| due > now) {
                    continue;
                }
            }
            tasks.push((i, Task::Measure));
            continue;
        };
        if effective_count(metric).is_some_and(|c| i64::from(n(res.and_then(|r| r.count))) >= c) {
            continue;
        }
        // After an Error, and without an interval, the next measurement waits the retry interval; an interval
        // that does not parse schedules nothing (validation reports it).
        let wait =
            if last.phase == AnalysisPhase::Error || metric.interval.as_deref().is_none_or(str::is_empty) {
                ERROR_RETRY_INTERVAL
            } else {
                match interval(metric) {
                    Some(d) => d,
                    None => continue,
                }
            };
        if ts(&last.finished_at).and_then(|f| f.checked_add(wait).ok()).is_some_and(|due| now > due) {
            tasks.push((i, Task::Measure));
        }
    }
    tasks
}

/// Records a measurement: appended, or replacing the in-flight last one; counters move when it is complete.
pub fn record(result: &mut MetricResult, mut measurement: Measurement, replaces_last: bool, now: Timestamp) {
    if measurement.phase.completed() {
        if measurement.finished_at.is_none() {
            measurement.finished_at = Some(Time(now));
        }
        let bump = |v: &mut Option<i32>| *v = Some(n(*v) + 1);
        match measurement.phase {
            AnalysisPhase::Successful => {
                bump(&mut result.successful);
                bump(&mut result.count);
                result.consecutive_error = Some(0);
                bump(&mut result.consecutive_success);
            }
            AnalysisPhase::Failed => {
                bump(&mut result.failed);
                bump(&mut result.count);
                result.consecutive_error = Some(0);
                result.consecutive_success = Some(0);
            }
            AnalysisPhase::Inconclusive => {
                bump(&mut result.inconclusive);
                bump(&mut result.count);
                result.consecutive_error = Some(0);
                result.consecutive_success = Some(0);
            }
            AnalysisPhase::Error => {
                bump(&mut result.error);
                bump(&mut result.consecutive_error);
                result.consecutive_success = Some(0);
            }
            _ => {}
        }
    }
    // Upstream's counters are `omitempty`: zero is absent, not 0.
    for counter in [
        &mut result.count,
        &mut result.successful,
        &mut result.failed,
        &mut result.inconclusive,
        &mut result.error,
        &mut result.consecutive_error,
        &mut result.consecutive_success,
    ] {
        if *counter == Some(0) {
            *counter = None;
        }
    }
    let list = result.measurements.get_or_insert_with(Vec::new);
    match list.last_mut() {
        Some(last) if replaces_last => *last = measurement,
        _ => list.push(measurement),
    }
}

/// The limit a metric's counters broke, worst last (Error over Inconclusive over Failed), with upstream's text.
pub fn limit_breach(metric: &Metric, result: &MetricResult) -> Option<(AnalysisPhase, String)> {
    let mut breach = None;
    let failure = failure_limit(metric);
    let failed = i64::from(n(result.failed));
    if failure >= 0 && failed > failure {
        breach = Some((AnalysisPhase::Failed, format!("failed ({failed}) > failureLimit ({failure})")));
    }
    let inconclusive = i64::from(n(result.inconclusive));
    let limit = inconclusive_limit(metric);
    if inconclusive > limit {
        breach = Some((
            AnalysisPhase::Inconclusive,
            format!("inconclusive ({inconclusive}) > inconclusiveLimit ({limit})"),
        ));
    }
    let errors = i64::from(n(result.consecutive_error));
    let limit = consecutive_error_limit(metric);
    if errors > limit {
        breach = Some((
            AnalysisPhase::Error,
            format!("consecutiveErrors ({errors}) > consecutiveErrorLimit ({limit})"),
        ));
    }
    breach
}

/// Upstream issue #4479: a metric that only ever errored must not pass. serin assesses it Error when it
/// would otherwise complete Successful.
fn only_errors(result: &MetricResult) -> Option<(AnalysisPhase, String)> {
    let errors = n(result.error);
    (n(result.count) == 0 && errors > 0).then(|| {
        (AnalysisPhase::Error, format!("no measurement succeeded: all {errors} measurement(s) errored"))
    })
}

/// A metric's phase and, when a rule decided it, the reason (Argo's `assessMetricStatus`).
pub fn assess_metric(
    metric: &Metric,
    result: &MetricResult,
    terminating: bool,
) -> (AnalysisPhase, Option<String>) {
    if result.phase.completed() {
        return (result.phase.clone(), None);
    }
    let measurements = result.measurements.as_deref().unwrap_or_default();
    let Some(last) = measurements.last() else {
        return (if terminating { AnalysisPhase::Successful } else { AnalysisPhase::Pending }, None);
    };
    if !last.phase.completed() {
        return (AnalysisPhase::Running, None);
    }
    if let Some((phase, why)) = limit_breach(metric, result) {
        return (phase, Some(why));
    }
    let csl = consecutive_success_limit(metric);
    if csl > 0 && i64::from(n(result.consecutive_success)) >= csl {
        return (AnalysisPhase::Successful, None);
    }
    let count = i64::from(n(result.count));
    if let Some(effective) = effective_count(metric)
        && count >= effective
    {
        let failure = failure_limit(metric);
        return match (failure >= 0, csl > 0) {
            (true, true) => (
                AnalysisPhase::Inconclusive,
                Some(format!("count ({count}) reached before consecutiveSuccessLimit ({csl})")),
            ),
            (false, true) => (
                AnalysisPhase::Failed,
                Some(format!("count ({count}) reached before consecutiveSuccessLimit ({csl})")),
            ),
            _ => (AnalysisPhase::Successful, None),
        };
    }
    if terminating {
        if let Some((phase, why)) = only_errors(result) {
            return (phase, Some(why));
        }
        return (AnalysisPhase::Successful, None);
    }
    (AnalysisPhase::Running, None)
}

/// Why a metric that completed on an earlier pass ended as it did, worked out again from its counters, so the
/// run's message names it on every later pass too (assess_metric gives no reason for a completed metric).
fn completed_reason(metric: &Metric, result: &MetricResult) -> Option<String> {
    let count = i64::from(n(result.count));
    let csl = consecutive_success_limit(metric);
    match result.phase {
        AnalysisPhase::Inconclusive | AnalysisPhase::Failed
            if csl > 0
                && i64::from(n(result.consecutive_success)) < csl
                && effective_count(metric).is_some_and(|e| count >= e) =>
        {
            Some(format!("count ({count}) reached before consecutiveSuccessLimit ({csl})"))
        }
        AnalysisPhase::Error => only_errors(result).map(|(_, why)| why),
        _ => None,
    }
}

/// Severity, best to worst: Successful < Running < Pending < Inconclusive < Error < Failed.
fn severity(p: &AnalysisPhase) -> u8 {
    match p {
        AnalysisPhase::Successful => 0,
        AnalysisPhase::Running => 1,
        AnalysisPhase::Pending => 2,
        AnalysisPhase::Inconclusive => 3,
        AnalysisPhase::Error => 4,
        AnalysisPhase::Failed => 5,
        _ => 2,
    }
}

/// Updates every metric result's phase and message, the run summaries and `startedAt`, and returns the run's
/// phase and message (Argo's `assessRunStatus`).
pub fn assess_run(
    spec: &AnalysisRunSpec,
    status: &mut AnalysisRunStatus,
    dry: &DryRunSet,
    now: Timestamp,
) -> (AnalysisPhase, String) {
    if status.started_at.is_none() {
        status.started_at = Some(Time(now));
    }
    let terminating = is_terminating(spec, status, dry);
    let mut worst: Option<AnalysisPhase> = None;
    let mut message =
        if spec.terminate.unwrap_or(false) { "Run Terminated".to_string() } else { String::new() };
    let mut everything_completed = true;
    let mut summary = Summary::default();
    let mut dry_summary = Summary::default();

    for metric in &spec.metrics {
        let is_dry = dry.contains(&metric.name);
        if is_dry {
            dry_summary.count += 1
        } else {
            summary.count += 1
        }
        let Some(result) =
            status.metric_results.as_mut().and_then(|rs| rs.iter_mut().find(|r| r.name == metric.name))
        else {
            everything_completed = false;
            continue;
        };
        let (phase, why) = assess_metric(metric, result, terminating);
        if result.phase != phase {
            if let Some(last) = result.measurements.as_deref().and_then(<[Measurement]>::last) {
                result.message = last.message.clone();
            }
            result.phase = phase.clone();
        }
        if !phase.completed() {
            everything_completed = false;
            continue;
        }
        // Summaries count the limit-derived phase, as upstream (none: Successful); the message also names rules
        // serin decides on beyond the limits.
        let breach = limit_breach(metric, result);
        let summary_phase = breach.as_ref().map_or(AnalysisPhase::Successful, |(p, _)| p.clone());
        let reason = breach.map(|(_, w)| w).or(why).or_else(|| completed_reason(metric, result));
        if !is_dry {
            if worst.as_ref().is_none_or(|w| severity(&phase) > severity(w)) {
                worst = Some(phase.clone());
                if let Some(reason) = &reason {
                    message = format!("Metric \"{}\" assessed {} due to {reason}", metric.name, phase);
                    if let Some(m) = result.message.as_deref().filter(|m| !m.is_empty()) {
                        message.push_str(&format!(": \"Error Message: {m}\""));
                    }
                }
            }
            summary.add(&summary_phase);
        } else {
            worst.get_or_insert(AnalysisPhase::Successful);
            if let Some(reason) = &reason {
                result.message = Some(format!("Metric assessed {phase} due to {reason}"));
            }
            dry_summary.add(&summary_phase);
        }
    }
    status.run_summary = Some(summary.into());
    status.dry_run_summary = Some(dry_summary.into());
    let message = message.trim().to_string();
    if terminating {
        return (worst.unwrap_or(AnalysisPhase::Successful), message);
    }
    match worst {
        Some(worst) if everything_completed => (worst, message),
        _ => (AnalysisPhase::Running, String::new()),
    }
}

#[derive(Default)]
struct Summary {
    count: i32,
    successful: i32,
    failed: i32,
    inconclusive: i32,
    error: i32,
}

impl Summary {
    fn add(&mut self, phase: &AnalysisPhase) {
        match phase {
            AnalysisPhase::Error => self.error += 1,
            AnalysisPhase::Failed => self.failed += 1,
            AnalysisPhase::Inconclusive => self.inconclusive += 1,
            _ => self.successful += 1,
        }
    }
}

impl From<Summary> for RunSummary {
    fn from(s: Summary) -> RunSummary {
        RunSummary {
            count: Some(s.count),
            successful: Some(s.successful),
            failed: Some(s.failed),
            inconclusive: Some(s.inconclusive),
            error: Some(s.error),
        }
    }
}

/// When the run should be looked at again: the earliest initial delay end, resume time or next interval.
pub fn next_reconcile(
    spec: &AnalysisRunSpec,
    status: &AnalysisRunStatus,
    now: Timestamp,
) -> Option<Timestamp> {
    let mut earliest: Option<Timestamp> = None;
    let mut consider = |t: Timestamp| {
        if earliest.is_none_or(|e| t < e) {
            earliest = Some(t);
        }
    };
    for metric in &spec.metrics {
        let res = result(status, &metric.name);
        if res.is_some_and(|r| r.phase.completed()) {
            continue;
        }
        let Some(last) = last_measurement(res) else {
            if let Some(Ok(delay)) =
                metric.initial_delay.as_deref().filter(|d| !d.is_empty()).map(parse_go_duration)
                && let Ok(due) = ts(&status.started_at).unwrap_or(now).checked_add(delay)
            {
                consider(due);
            }
            continue;
        };
        let Some(finished) = ts(&last.finished_at) else {
            if let Some(at) = ts(&last.resume_at) {
                consider(at);
            }
            continue;
        };
        if effective_count(metric).is_some_and(|c| i64::from(n(res.and_then(|r| r.count))) >= c) {
            continue;
        }
        let wait =
            if last.phase == AnalysisPhase::Error { Some(ERROR_RETRY_INTERVAL) } else { interval(metric) };
        if let Some(wait) = wait
            && let Ok(due) = finished.checked_add(wait)
        {
            consider(due);
        }
    }
    earliest
}

/// Metrics whose measurement list is over its limit: (metric name, limit). The caller garbage-collects with the
/// provider, then trims with [`trim`].
pub fn over_retention(status: &AnalysisRunStatus, limits: &BTreeMap<String, i32>) -> Vec<(String, usize)> {
    status
        .metric_results
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            let limit = limits
                .get(&r.name)
                .filter(|l| **l > 0)
                .map_or(DEFAULT_MEASUREMENT_HISTORY_LIMIT, |l| *l as usize);
            (r.measurements.as_ref().map_or(0, Vec::len) > limit).then(|| (r.name.clone(), limit))
        })
        .collect()
}

/// Keeps the newest `limit` measurements of a metric.
pub fn trim(status: &mut AnalysisRunStatus, name: &str, limit: usize) {
    if let Some(ms) = status
        .metric_results
        .as_mut()
        .and_then(|rs| rs.iter_mut().find(|r| r.name == name))
        .and_then(|r| r.measurements.as_mut())
        && ms.len() > limit
    {
        ms.drain(..ms.len() - limit);
    }
}

#[cfg(test)]
mod tests;

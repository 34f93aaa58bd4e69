//! Metric validation (`ValidateMetrics` / `ValidateMetric`) and dry-run / retention rule checks.

use std::collections::HashSet;

use regex::Regex;

use super::{Errors, FieldError, FieldPath};
use crate::api::analysis::{AnalysisRun, AnalysisTemplateSpec, Metric};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::common::{Argument, DryRun, MeasurementRetention, int_value, substitute_placeholders};
use crate::api::duration::parse_go_duration;

/// Validates a template spec at `path` (usually `spec`); see [`check_analysis_template_spec`].
pub fn validate_analysis_template_spec(spec: &AnalysisTemplateSpec, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Errors::default();
    check_analysis_template_spec(spec, path, &mut errs);
    errs.0
}

/// Validates a metric list at `path` (e.g. `spec.metrics`), as the controller must after resolving
/// a run's arguments.
pub fn validate_metrics(metrics: &[Metric], args: &[Argument], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Errors::default();
    check_metrics(metrics, args, path, &mut errs);
    errs.0
}

/// Validates one metric at `path` (e.g. `spec.metrics[0]`).
pub fn validate_metric(metric: &Metric, args: &[Argument], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Errors::default();
    check_metric(metric, args, path, &mut errs);
    errs.0
}

/// Validates a template spec. Metrics may come from referenced templates (`spec.templates`), so the
/// "no metrics" and rule-matching checks only apply to a template that references none.
pub(crate) fn check_analysis_template_spec(spec: &AnalysisTemplateSpec, path: &FieldPath, errs: &mut Errors) {
    let composed = spec.templates.as_ref().is_some_and(|t| !t.is_empty());
    if !composed || !spec.metrics().is_empty() {
        check_metrics(spec.metrics(), spec.args.as_deref().unwrap_or_default(), &path.child("metrics"), errs);
    }
    validate_rules(
        spec.dry_run.as_deref().unwrap_or_default(),
        spec.measurement_retention.as_deref().unwrap_or_default(),
        (!composed).then(|| spec.metrics()),
        path,
        errs,
    );
}

pub(super) fn validate_analysis_run(run: &AnalysisRun) -> Vec<FieldError> {
    let mut errs = Errors::default();
    let path = FieldPath::new("spec");
    check_metrics(
        &run.spec.metrics,
        run.spec.args.as_deref().unwrap_or_default(),
        &path.child("metrics"),
        &mut errs,
    );
    validate_rules(
        run.spec.dry_run.as_deref().unwrap_or_default(),
        run.spec.measurement_retention.as_deref().unwrap_or_default(),
        Some(&run.spec.metrics),
        &path,
        &mut errs,
    );
    errs.0
}

/// Upstream's `ValidateMetrics`: at least one metric, unique names, each metric valid.
///
/// Upstream stops at the first problem and prefixes `metrics[i]: `; serin reports all of them and
/// puts the index in the path.
pub(crate) fn check_metrics(metrics: &[Metric], args: &[Argument], path: &FieldPath, errs: &mut Errors) {
    if metrics.is_empty() {
        errs.invalid(path, "no metrics specified");
        return;
    }
    let mut names = HashSet::new();
    for (i, metric) in metrics.iter().enumerate() {
        let metric_path = path.index(i);
        if !names.insert(metric.name.as_str()) {
            errs.invalid(&metric_path.child("name"), format!("duplicate name '{}'", metric.name));
        }
        check_metric(metric, args, &metric_path, errs);
    }
}

/// Upstream's `ValidateMetric`, every rule (limits, count vs interval, durations, one provider).
///
/// `{{args.NAME}}` placeholders are first replaced by the values of `args` (as upstream resolves
/// them before validating); a duration still holding a placeholder is not checked, since its value
/// only exists once the run is created.
pub(crate) fn check_metric(metric: &Metric, args: &[Argument], path: &FieldPath, errs: &mut Errors) {
    let number = |v: &Option<IntOrString>| match v {
        None => 0,
        Some(IntOrString::String(s)) => resolve_args(s, args).parse::<i64>().unwrap_or(0),
        Some(v) => int_value(v),
    };
    let count = number(&metric.count);
    let failure_limit = number(&metric.failure_limit);
    let inconclusive_limit = number(&metric.inconclusive_limit);
    let success_limit = number(&metric.consecutive_success_limit);
    let interval = resolve_args(metric.interval.as_deref().unwrap_or(""), args);
    let interval = interval.as_str();
    let initial_delay = resolve_args(metric.initial_delay.as_deref().unwrap_or(""), args);

    if count > 0 {
        if failure_limit >= 0 && count < failure_limit + success_limit {
            errs.invalid(
                &path.child("count"),
                "count must be >= failureLimit + consecutiveSuccessLimit if failureLimit is applicable",
            );
        } else if failure_limit < 0 && count < success_limit {
            errs.invalid(
                &path.child("count"),
                "count must be >= consecutiveSuccessLimit if failureLimit is not applicable",
            );
        }
        if count < inconclusive_limit {
            errs.invalid(&path.child("count"), "count must be >= inconclusiveLimit");
        }
    }
    if count > 1 && interval.is_empty() {
        errs.invalid(&path.child("interval"), "interval must be specified when count > 1");
    }
    if !interval.is_empty()
        && !interval.contains("{{")
        && let Err(e) = parse_go_duration(interval)
    {
        errs.invalid(&path.child("interval"), format!("invalid interval string: {e}"));
    }
    if !initial_delay.is_empty()
        && !initial_delay.contains("{{")
        && let Err(e) = parse_go_duration(&initial_delay)
    {
        errs.invalid(&path.child("initialDelay"), format!("invalid startDelay string: {e}"));
    }
    if failure_limit < -1 {
        errs.invalid(&path.child("failureLimit"), "failureLimit must be >= -1");
    }
    if inconclusive_limit < 0 {
        errs.invalid(&path.child("inconclusiveLimit"), "inconclusiveLimit must be >= 0");
    }
    if success_limit < 0 {
        errs.invalid(&path.child("consecutiveSuccessLimit"), "consecutiveSuccessLimit must be >= 0");
    }
    if failure_limit == -1 && success_limit == 0 {
        errs.invalid(
            &path.child("failureLimit"),
            "failureLimit and consecutiveSuccessLimit cannot both be disabled",
        );
    }
    if metric.consecutive_error_limit.is_some() && number(&metric.consecutive_error_limit) < 0 {
        errs.invalid(&path.child("consecutiveErrorLimit"), "consecutiveErrorLimit must be >= 0");
    }
    if let Some(pod_spec) = metric.provider.job.as_ref().and_then(|j| j.spec.template.spec.as_ref()) {
        let spec_path = path.child("provider").child("job").child("spec").child("template").child("spec");
        super::pod::validate_pod_spec_quantities(pod_spec, &spec_path, errs);
    }
    match metric.provider.kinds().len() {
        0 => errs.invalid(&path.child("provider"), "no provider specified"),
        1 => {}
        _ => errs.invalid(&path.child("provider"), "multiple providers specified"),
    }
}

/// Dry-run and measurement-retention rules: unique names, and (when the metrics are known) each
/// rule must match at least one metric as an unanchored regular expression.
fn validate_rules(
    dry_run: &[DryRun],
    retention: &[MeasurementRetention],
    metrics: Option<&[Metric]>,
    path: &FieldPath,
    errs: &mut Errors,
) {
    let mut seen = HashSet::new();
    for (i, rule) in dry_run.iter().enumerate() {
        let rule_path = path.child("dryRun").index(i).child("metricName");
        if !seen.insert(rule.metric_name.as_str()) {
            errs.invalid(
                &rule_path,
                format!("two Dry-Run metric rules have the same name '{}'", rule.metric_name),
            );
        }
        if let Some(metrics) = metrics
            && !rule_matches_any(&rule.metric_name, metrics)
        {
            errs.invalid(&rule_path, "Rule didn't match any metric name(s)");
        }
    }
    let mut seen = HashSet::new();
    for (i, rule) in retention.iter().enumerate() {
        let rule_path = path.child("measurementRetention").index(i).child("metricName");
        if !seen.insert(rule.metric_name.as_str()) {
            errs.invalid(
                &rule_path,
                format!("two Measurement Retention metric rules have the same name '{}'", rule.metric_name),
            );
        }
        if let Some(metrics) = metrics
            && !rule_matches_any(&rule.metric_name, metrics)
        {
            errs.invalid(&rule_path, "Rule didn't match any metric name(s)");
        }
    }
}

/// Go's `regexp.MatchString(rule, name)`: unanchored; an invalid pattern (such as `*`) matches nothing.
pub(crate) fn rule_matches_any(rule: &str, metrics: &[Metric]) -> bool {
    match Regex::new(rule) {
        Ok(re) => metrics.iter().any(|m| re.is_match(&m.name)),
        Err(_) => false,
    }
}

/// Replaces `{{args.NAME}}` (spaces inside the braces allowed) with the literal value of `NAME`;
/// placeholders without a literal value are left as written.
pub(crate) fn resolve_args(s: &str, args: &[Argument]) -> String {
    substitute_placeholders(s, |tag| {
        tag.strip_prefix("args.")
            .and_then(|name| args.iter().find(|a| a.name == name))
            .and_then(|a| a.value.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_resolve_from_literal_args_only() {
        let args = vec![
            Argument { name: "interval".into(), value: Some("5s".into()), value_from: None },
            Argument { name: "url".into(), value: None, value_from: None },
        ];
        assert_eq!(resolve_args("{{args.interval}}", &args), "5s");
        assert_eq!(resolve_args("every {{ args.interval }}!", &args), "every 5s!");
        assert_eq!(resolve_args("{{args.url}}/x", &args), "{{args.url}}/x");
        assert_eq!(resolve_args("{{args.missing", &args), "{{args.missing");
    }
}

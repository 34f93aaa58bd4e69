//! Experiment validation: template pod specs, names, durations, analyses and rules.

use std::collections::HashSet;

use super::pod::{validate_label_selector, validate_pod_template};
use super::{Errors, FieldError, FieldPath, NONNEGATIVE};
use crate::api::duration::parse_go_duration;
use crate::api::experiment::Experiment;

pub(super) fn validate_experiment(experiment: &Experiment) -> Vec<FieldError> {
    let mut errs = Errors::default();
    let spec = &experiment.spec;
    let path = FieldPath::new("spec");
    let templates_path = path.child("templates");
    if spec.templates.is_empty() {
        errs.required(&templates_path, "");
    }
    let mut names = HashSet::new();
    for (i, template) in spec.templates.iter().enumerate() {
        let template_path = templates_path.index(i);
        if template.name.is_empty() {
            errs.required(&template_path.child("name"), "");
        } else if !names.insert(template.name.as_str()) {
            errs.duplicate(&template_path.child("name"), &template.name);
        }
        if template.replicas.is_some_and(|r| r < 0) {
            errs.invalid(&template_path.child("replicas"), NONNEGATIVE);
        }
        if template.min_ready_seconds.is_some_and(|r| r < 0) {
            errs.invalid(&template_path.child("minReadySeconds"), NONNEGATIVE);
        }
        match template.selector.as_ref() {
            None => errs.required(&template_path.child("selector"), ""),
            Some(selector) => {
                validate_label_selector(selector, &template_path.child("selector"), &mut errs);
            }
        }
        validate_pod_template(
            Some(&template.template),
            template.selector.as_ref(),
            &template_path.child("template"),
            &mut errs,
        );
    }
    if let Some(duration) = spec.duration.as_deref().filter(|d| !d.is_empty())
        && let Err(e) = parse_go_duration(duration)
    {
        errs.invalid(&path.child("duration"), e.to_string());
    }
    if spec.progress_deadline_seconds.is_some_and(|d| d < 0) {
        errs.invalid(&path.child("progressDeadlineSeconds"), NONNEGATIVE);
    }
    if spec.scale_down_delay_seconds.is_some_and(|d| d < 0) {
        errs.invalid(&path.child("scaleDownDelaySeconds"), NONNEGATIVE);
    }
    let mut analysis_names = HashSet::new();
    for (i, analysis) in spec.analyses.iter().flatten().enumerate() {
        let analysis_path = path.child("analyses").index(i);
        if !analysis_names.insert(analysis.name.as_str()) {
            errs.duplicate(&analysis_path.child("name"), &analysis.name);
        }
        if analysis.template_name.is_empty() {
            errs.required(&analysis_path.child("templateName"), "");
        }
    }
    let mut seen = HashSet::new();
    for (i, rule) in spec.dry_run.iter().flatten().enumerate() {
        if !seen.insert(rule.metric_name.as_str()) {
            errs.invalid(
                &path.child("dryRun").index(i).child("metricName"),
                format!("two Dry-Run metric rules have the same name '{}'", rule.metric_name),
            );
        }
    }
    let mut seen = HashSet::new();
    for (i, rule) in spec.measurement_retention.iter().flatten().enumerate() {
        if !seen.insert(rule.metric_name.as_str()) {
            errs.invalid(
                &path.child("measurementRetention").index(i).child("metricName"),
                format!("two Measurement Retention metric rules have the same name '{}'", rule.metric_name),
            );
        }
    }
    errs.0
}

//! Rollout validation: upstream's `ValidateRolloutSpec` and `ValidateRolloutStrategy*`, in order.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use regex::Regex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::pod::{selector_convertible, validate_label_selector, validate_pod_template};
use super::*;
use crate::api::common::AnalysisRunArgument;
use crate::api::defaults;
use crate::api::duration::pause_duration_seconds;
use crate::api::rollout::{AntiAffinity, BlueGreenStrategy, CanaryStrategy, Rollout, StringMatch};
use crate::api::traffic::ManagedRoute;

pub(super) fn validate_rollout(rollout: &Rollout) -> Vec<FieldError> {
    let mut errs = Errors::default();
    let spec = &rollout.spec;
    let path = FieldPath::new("spec");

    if defaults::replicas(rollout) < 0 {
        errs.invalid(&path.child("replicas"), NONNEGATIVE);
    }
    if spec.workload_ref.is_none() {
        match spec.selector.as_ref() {
            None => {
                errs.required(&path.child("selector"), &MISSING_FIELD_MESSAGE.replace("%s", ".spec.selector"))
            }
            Some(selector) => {
                validate_label_selector(selector, &path.child("selector"), &mut errs);
                if selector.match_labels.as_ref().map_or(0, |m| m.len())
                    + selector.match_expressions.as_ref().map_or(0, |e| e.len())
                    == 0
                {
                    errs.invalid(&path.child("selector"), "empty selector is invalid for deployment");
                }
            }
        }
    }
    let template_meta = spec.template.as_ref().and_then(|t| t.metadata.as_ref());
    let template_has_metadata = template_meta.is_some_and(|m| {
        m.labels.as_ref().is_some_and(|l| !l.is_empty())
            || m.annotations.as_ref().is_some_and(|a| !a.is_empty())
    });
    if spec.workload_ref.is_some() && template_has_metadata {
        errs.invalid(&path.child("template"), TEMPLATE_MUST_BE_EMPTY_FOR_WORKLOAD_REF);
    }
    // Upstream converts the selector first; an unconvertible one is reported once more and the
    // template is not checked. A missing selector converts to "nothing", which matches no labels.
    match spec.selector.as_ref() {
        Some(selector) if !selector_convertible(selector) => {
            errs.invalid(&path.child("selector"), "invalid label selector");
        }
        selector => {
            if spec.workload_ref.is_none() {
                let nothing = LabelSelector {
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "nothing".to_owned(),
                        operator: "In".to_owned(),
                        values: Some(Vec::new()),
                    }]),
                    ..LabelSelector::default()
                };
                let selector = selector.unwrap_or(&nothing);
                validate_pod_template(
                    spec.template.as_ref(),
                    Some(selector),
                    &path.child("template"),
                    &mut errs,
                );
            }
        }
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready < 0 {
        errs.invalid(&path.child("minReadySeconds"), NONNEGATIVE);
    }
    if defaults::revision_history_limit(rollout) < 0 {
        errs.invalid(&path.child("revisionHistoryLimit"), NONNEGATIVE);
    }
    let deadline = defaults::progress_deadline_seconds(rollout);
    if deadline < 0 {
        errs.invalid(&path.child("progressDeadlineSeconds"), NONNEGATIVE);
    }
    if deadline <= min_ready {
        errs.invalid(&path.child("progressDeadlineSeconds"), "must be greater than minReadySeconds");
    }

    let strategy_path = path.child("strategy");
    let strategy = spec.strategy.as_ref();
    match (strategy.and_then(|s| s.blue_green.as_ref()), strategy.and_then(|s| s.canary.as_ref())) {
        (None, None) => errs.required(
            &strategy_path,
            &MISSING_FIELD_MESSAGE.replace("%s", ".spec.strategy.canary or .spec.strategy.blueGreen"),
        ),
        (Some(_), Some(_)) => errs.invalid(&strategy_path, INVALID_STRATEGY_MESSAGE),
        (Some(bg), None) => validate_blue_green(rollout, bg, &strategy_path.child("blueGreen"), &mut errs),
        (None, Some(canary)) => validate_canary(rollout, canary, &strategy_path.child("canary"), &mut errs),
    }
    errs.0
}

fn validate_blue_green(rollout: &Rollout, bg: &BlueGreenStrategy, path: &FieldPath, errs: &mut Errors) {
    if bg.active_service == bg.preview_service.as_deref().unwrap_or("") {
        errs.invalid(&path.child("activeService"), DUPLICATED_SERVICES_BLUE_GREEN_MESSAGE);
    }
    if let Some(limit) = bg.scale_down_delay_revision_limit
        && defaults::revision_history_limit(rollout) < limit
    {
        errs.invalid(&path.child("scaleDownDelayRevisionLimit"), SCALE_DOWN_LIMIT_LARGER_THAN_REVISION_LIMIT);
    }
    validate_anti_affinity(bg.anti_affinity.as_ref(), &path.child("antiAffinity"), errs);
}

/// Upstream's `requireCanaryStableServices`: routers that address canary and stable by Service.
fn require_canary_stable_services(canary: &CanaryStrategy) -> bool {
    let Some(tr) = canary.traffic_routing.as_ref() else {
        return false;
    };
    (tr.alb.is_some() && canary.ping_pong.is_none())
        || (tr.istio.as_ref().is_some_and(|i| i.destination_rule.is_none()) && canary.ping_pong.is_none())
        || tr.smi.is_some()
        || tr.apisix.is_some()
        || tr.ambassador.is_some()
        || tr.nginx.is_some()
        || tr.app_mesh.is_some()
        || tr.traefik.is_some()
}

fn validate_canary(rollout: &Rollout, canary: &CanaryStrategy, path: &FieldPath, errs: &mut Errors) {
    if int_or_percent_value(&defaults::max_surge(rollout)) == 0
        && int_or_percent_value(&defaults::max_unavailable(rollout)) == 0
    {
        errs.invalid(&path.child("maxSurge"), INVALID_MAX_SURGE_MAX_UNAVAILABLE);
    }
    let canary_service = canary.canary_service.as_deref().unwrap_or("");
    let stable_service = canary.stable_service.as_deref().unwrap_or("");
    if !canary_service.is_empty() && canary_service == stable_service {
        errs.invalid(&path.child("stableService"), DUPLICATED_SERVICES_CANARY_MESSAGE);
    }
    let tr = canary.traffic_routing.as_ref();
    if let Some(pp) = canary.ping_pong.as_ref() {
        if let Some(tr) = tr
            && tr.alb.is_none()
            && tr.istio.is_none()
            && !tr.has_plugins()
        {
            errs.invalid(&path.child("trafficRouting").child("alb"), PING_PONG_WITH_ROUTER_ONLY_MESSAGE);
        }
        let pp_path = path.child("pingPong");
        if pp.ping_service.is_empty() {
            errs.invalid(&pp_path.child("pingService"), INVALID_PING_PONG_PROVIDED_MESSAGE);
        }
        if pp.pong_service.is_empty() {
            errs.invalid(&pp_path.child("pongService"), INVALID_PING_PONG_PROVIDED_MESSAGE);
        }
        if pp.ping_service == pp.pong_service {
            errs.invalid(&pp_path.child("pingService"), DUPLICATED_PING_PONG_SERVICES_MESSAGE);
        }
        if let Some(alb) = tr.and_then(|t| t.alb.as_ref())
            && alb.root_service.as_deref().unwrap_or("").is_empty()
        {
            errs.invalid(
                &path.child("trafficRouting").child("alb").child("rootService"),
                MISSED_ALB_ROOT_SERVICE_MESSAGE,
            );
        }
    }
    if require_canary_stable_services(canary) {
        if stable_service.is_empty() {
            errs.invalid(&path.child("stableService"), INVALID_TRAFFIC_ROUTING_MESSAGE);
        }
        if canary_service.is_empty() {
            errs.invalid(&path.child("canaryService"), INVALID_TRAFFIC_ROUTING_MESSAGE);
        }
    }
    match tr {
        None => {
            if canary.scale_down_delay_seconds.is_some() {
                errs.invalid(&path.child("scaleDownDelaySeconds"), INVALID_CANARY_SCALE_DOWN_DELAY);
            }
            if canary.dynamic_stable_scale == Some(true) {
                errs.invalid(&path.child("dynamicStableScale"), INVALID_CANARY_DYNAMIC_STABLE_SCALE);
            }
        }
        Some(tr) => {
            if canary.scale_down_delay_seconds.is_some() && canary.dynamic_stable_scale == Some(true) {
                errs.invalid(
                    &path.child("dynamicStableScale"),
                    INVALID_CANARY_DYNAMIC_STABLE_SCALE_WITH_SCALE_DOWN_DELAY,
                );
            }
            if tr.max_traffic_weight.is_some() && tr.nginx.is_none() && !tr.has_plugins() {
                errs.invalid(
                    &path.child("trafficRouting").child("maxTrafficWeight"),
                    INVALID_CANARY_MAX_WEIGHT_ONLY_SUPPORT_IN_NGINX_AND_PLUGINS,
                );
            }
        }
    }

    let max_weight = defaults::max_traffic_weight(rollout);
    for (i, step) in canary.steps().iter().enumerate() {
        let step_path = path.child("steps").index(i);
        // Upstream counts only these five when looking for a step with several kinds, so the route
        // and scale steps may ride along with one of them (its own APISIX example does so).
        let primary = [
            step.set_weight.is_some(),
            step.pause.is_some(),
            step.experiment.is_some(),
            step.analysis.is_some(),
            step.plugin.is_some(),
        ];
        if primary.iter().filter(|b| **b).count() > 1 || step.kinds().is_empty() {
            errs.invalid(&step_path, INVALID_STEP_MESSAGE);
        }
        if let Some(w) = step.set_weight
            && !(0..=max_weight).contains(&w)
        {
            errs.invalid(
                &step_path.child("setWeight"),
                INVALID_SET_WEIGHT_MESSAGE.replace("%d", &max_weight.to_string()),
            );
        }
        if let Some(pause) = step.pause.as_ref()
            && pause_duration_seconds(pause.duration.as_ref()) < 0
        {
            errs.invalid(&step_path.child("pause").child("duration"), INVALID_DURATION_MESSAGE);
        }
        if step.set_canary_scale.is_some() && tr.is_none() {
            errs.required(&path.child("trafficRouting"), INVALID_SET_CANARY_SCALE_TRAFFIC_POLICY);
        }
        if let Some(header) = step.set_header_route.as_ref() {
            let header_path = step_path.child("setHeaderRoute");
            match tr {
                Some(t)
                    if t.istio.is_some()
                        || t.alb.is_some()
                        || t.apisix.is_some()
                        || t.nginx.is_some()
                        || t.has_plugins() =>
                {
                    for (j, m) in header.match_.iter().flatten().enumerate() {
                        let match_path = header_path.child("match").index(j);
                        if t.alb.is_some() {
                            check_alb_header_value(&m.header_value, &match_path, errs);
                        } else {
                            check_single_match_value(&m.header_value, &match_path, errs);
                        }
                    }
                }
                _ => errs.invalid(&header_path, INVALID_SET_HEADER_ROUTE_TRAFFIC_POLICY),
            }
        }
        if let Some(mirror) = step.set_mirror_route.as_ref() {
            let mirror_path = step_path.child("setMirrorRoute");
            let traefik_mirrors = |t: &crate::api::traffic::RolloutTrafficRouting| {
                t.traefik.as_ref().is_some_and(|x| x.mirror_traefik_service_name.is_some())
            };
            if !tr.is_some_and(|t| t.istio.is_some() || traefik_mirrors(t) || t.has_plugins()) {
                errs.invalid(&mirror_path, INVALID_SET_MIRROR_ROUTE_TRAFFIC_POLICY);
            }
            for (j, m) in mirror.match_.iter().flatten().enumerate() {
                let match_path = mirror_path.child("match").index(j);
                if let Some(method) = m.method.as_ref() {
                    check_single_match_value(method, &match_path, errs);
                }
                if let Some(p) = m.path.as_ref() {
                    check_single_match_value(p, &match_path, errs);
                }
            }
        }
        if let Some(t) = tr {
            if (step.set_header_route.is_some() || step.set_mirror_route.is_some())
                && t.managed_routes.is_none()
            {
                errs.required(
                    &path.child("trafficRouting").child("managedRoutes"),
                    &MISSING_FIELD_MESSAGE.replace("%s", "spec.strategy.canary.trafficRouting.managedRoutes"),
                );
            }
            if let Some(routes) = t.managed_routes.as_ref() {
                if let Some(header) = step.set_header_route.as_ref() {
                    check_route_is_managed(
                        header.name.as_deref().unwrap_or(""),
                        routes,
                        &step_path.child("setHeaderRoute"),
                        errs,
                    );
                }
                if let Some(mirror) = step.set_mirror_route.as_ref() {
                    check_route_is_managed(&mirror.name, routes, &step_path.child("setMirrorRoute"), errs);
                }
            }
        }

        let mut step_args: Vec<&AnalysisRunArgument> = Vec::new();
        if let Some(experiment) = step.experiment.as_ref() {
            for (k, template) in experiment.templates.iter().enumerate() {
                if template.weight.is_none() {
                    continue;
                }
                let weight_path = step_path.child("experiment").child("templates").index(k).child("weight");
                match tr {
                    None => errs.invalid(
                        &weight_path,
                        INVALID_CANARY_EXPERIMENT_TEMPLATE_WEIGHT_WITHOUT_TRAFFIC_ROUTING,
                    ),
                    Some(t)
                        if t.alb.is_none() && t.smi.is_none() && t.istio.is_none() && !t.has_plugins() =>
                    {
                        errs.invalid(&weight_path, INVALID_CANARY_EXPERIMENT_TEMPLATE_WEIGHT_ROUTER)
                    }
                    Some(_) => {}
                }
            }
            for analysis in experiment.analyses.iter().flatten() {
                step_args.extend(analysis.args.iter().flatten());
            }
        }
        if let Some(analysis) = step.analysis.as_ref() {
            step_args.extend(analysis.args.iter().flatten());
        }
        for arg in step_args {
            if let Some(field_path) =
                arg.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| &f.field_path)
                && field_path.starts_with("metadata")
                && !downward_api_metadata_path(field_path)
            {
                errs.invalid(&step_path.child("analyses"), INVALID_ANALYSIS_ARGS_MESSAGE);
            }
        }
    }
    validate_anti_affinity(canary.anti_affinity.as_ref(), &path.child("antiAffinity"), errs);
}

fn check_route_is_managed(name: &str, routes: &[ManagedRoute], path: &FieldPath, errs: &mut Errors) {
    if !routes.iter().any(|r| r.name == name) {
        errs.invalid(path, INVALID_STEP_ROUTE_NAME_NOT_FOUND_IN_MANAGED_ROUTES);
    }
}

fn set(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

fn check_alb_header_value(m: &StringMatch, path: &FieldPath, errs: &mut Errors) {
    if !set(&m.exact) || set(&m.regex) || set(&m.prefix) {
        errs.invalid(path, INVALID_SET_HEADER_ROUTE_ALB_VALUE_POLICY);
    }
}

fn check_single_match_value(m: &StringMatch, path: &FieldPath, errs: &mut Errors) {
    match [set(&m.exact), set(&m.regex), set(&m.prefix)].iter().filter(|b| **b).count() {
        0 => errs.invalid(path, INVALID_STRING_MATCH_MISSED_VALUE_POLICY),
        1 => {}
        _ => errs.invalid(path, INVALID_STRING_MATCH_MULTIPLE_VALUE_POLICY),
    }
}

fn validate_anti_affinity(anti: Option<&AntiAffinity>, path: &FieldPath, errs: &mut Errors) {
    let Some(anti) = anti else { return };
    let preferred = anti.preferred_during_scheduling_ignored_during_execution.as_ref();
    let required = anti.required_during_scheduling_ignored_during_execution.as_ref();
    if preferred.is_some() == required.is_some() {
        errs.invalid(path, INVALID_ANTI_AFFINITY_STRATEGY_MESSAGE);
    }
    if let Some(p) = preferred
        && !(1..=100).contains(&p.weight)
    {
        errs.invalid(&path.child("weight"), INVALID_ANTI_AFFINITY_WEIGHT_MESSAGE);
    }
}

/// Upstream's `getIntOrPercentValue`: `"N%"` is N, any other string goes through `Atoi` (0 on error).
fn int_or_percent_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => match s.strip_suffix('%') {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse().unwrap_or(0)
            }
            _ => s.parse().unwrap_or(0),
        },
    }
}

/// Paths Kubernetes' `fieldpath.ExtractFieldPathAsString` resolves on object metadata.
fn downward_api_metadata_path(path: &str) -> bool {
    if matches!(
        path,
        "metadata.annotations" | "metadata.labels" | "metadata.name" | "metadata.namespace" | "metadata.uid"
    ) {
        return true;
    }
    let subscripted = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix("['"))
            .and_then(|rest| rest.strip_suffix("']"))
            .map(str::to_owned)
    };
    if let Some(key) = subscripted("metadata.annotations") {
        return is_qualified_name(&key.to_lowercase());
    }
    if let Some(key) = subscripted("metadata.labels") {
        return is_qualified_name(&key);
    }
    false
}

/// Kubernetes' `IsQualifiedName`: optional DNS-1123 subdomain prefix, `/`, and a 63-char name.
fn is_qualified_name(s: &str) -> bool {
    let name_re = Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").ok();
    let prefix_re = Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").ok();
    let (Some(name_re), Some(prefix_re)) = (name_re, prefix_re) else {
        return false;
    };
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !prefix_re.is_match(p))
    {
        return false;
    }
    !name.is_empty() && name.len() <= 63 && !name.contains('/') && name_re.is_match(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_strings_and_plain_strings_read_like_upstream_validation() {
        assert_eq!(int_or_percent_value(&IntOrString::String("0%".into())), 0);
        assert_eq!(int_or_percent_value(&IntOrString::String("0".into())), 0);
        assert_eq!(int_or_percent_value(&IntOrString::String("25".into())), 25);
        assert_eq!(int_or_percent_value(&IntOrString::String("x".into())), 0);
        assert_eq!(int_or_percent_value(&IntOrString::Int(3)), 3);
    }

    #[test]
    fn downward_api_accepts_plain_and_subscripted_metadata_paths() {
        assert!(downward_api_metadata_path("metadata.name"));
        assert!(downward_api_metadata_path("metadata.labels['app']"));
        assert!(downward_api_metadata_path("metadata.annotations['example.com/Key']"));
        assert!(!downward_api_metadata_path("metadata.generation"));
        assert!(!downward_api_metadata_path("metadata.labels[app]"));
        assert!(!downward_api_metadata_path("metadata.labels['-bad-']"));
    }
}

//! Validation as upstream applies it: every problem as a field path plus upstream's message.
//!
//! Entry point: [`Validate::validate`] on any of the five kinds (or [`Validate::field_errors`] for the
//! raw list). Messages are upstream's texts where upstream has one (`pub const`s below, copied by
//! meaning from `pkg/apis/rollouts/validation/validation.go` and `utils/analysis/helpers.go`); paths
//! are full JSON paths such as `spec.strategy.canary.steps[2].setWeight`. Differences from upstream's
//! reporting (upstream stops at the first metric error, and drops `.canary`/`.blueGreen` from paths)
//! are listed in `docs/api-compat.md`.

mod analysis;
mod experiment;
mod pod;
mod rollout;

use std::fmt;

pub use analysis::{validate_analysis_template_spec, validate_metric, validate_metrics};
pub use pod::{QuantityError, parse_quantity, selector_matches};

use super::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use super::experiment::Experiment;
use super::rollout::Rollout;

/// `Rollout has missing field '%s'`.
pub const MISSING_FIELD_MESSAGE: &str = "Rollout has missing field '%s'";
/// `SetWeight needs to be between 0 and %d` (the bound is maxTrafficWeight).
pub const INVALID_SET_WEIGHT_MESSAGE: &str = "SetWeight needs to be between 0 and %d";
/// Experiment template weight without traffic routing.
pub const INVALID_CANARY_EXPERIMENT_TEMPLATE_WEIGHT_WITHOUT_TRAFFIC_ROUTING: &str =
    "Experiment template weight cannot be set unless TrafficRouting is enabled";
/// Experiment template weight with a router that cannot split to extra destinations.
pub const INVALID_CANARY_EXPERIMENT_TEMPLATE_WEIGHT_ROUTER: &str =
    "Experiment template weight is only available for TrafficRouting with SMI, ALB, and Istio at this time";
/// setCanaryScale without traffic routing.
pub const INVALID_SET_CANARY_SCALE_TRAFFIC_POLICY: &str = "SetCanaryScale requires TrafficRouting to be set";
/// setHeaderRoute without a router that supports it (upstream's list, plus NGINX, which serin routes by
/// header through `canary-by-header`).
pub const INVALID_SET_HEADER_ROUTE_TRAFFIC_POLICY: &str =
    "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix and Nginx";
/// setMirrorRoute without a router that supports it (upstream's Istio, plus Traefik with a mirroring
/// TraefikService, through which serin mirrors).
pub const INVALID_SET_MIRROR_ROUTE_TRAFFIC_POLICY: &str =
    "SetMirrorRoute requires TrafficRouting, supports Istio and Traefik (with mirrorTraefikServiceName)";
/// A string match with more than one of exact/regex/prefix.
pub const INVALID_STRING_MATCH_MULTIPLE_VALUE_POLICY: &str =
    "StringMatch match value must have exactly one of the following: exact, regex, prefix";
/// A string match with none of exact/regex/prefix.
pub const INVALID_STRING_MATCH_MISSED_VALUE_POLICY: &str =
    "StringMatch value missed, match value must have one of the following: exact, regex, prefix";
/// ALB header routes support exact matches only.
pub const INVALID_SET_HEADER_ROUTE_ALB_VALUE_POLICY: &str =
    "SetHeaderRoute match value invalid. ALB supports 'exact' value only";
/// A pause duration below zero (or unparsable).
pub const INVALID_DURATION_MESSAGE: &str = "Duration needs to be greater than 0";
/// maxSurge and maxUnavailable both zero.
pub const INVALID_MAX_SURGE_MAX_UNAVAILABLE: &str = "MaxSurge and MaxUnavailable both can not be zero";
/// A step with no kind, or more than one of setWeight, pause, experiment, analysis and plugin.
pub const INVALID_STEP_MESSAGE: &str =
    "Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause";
/// Both canary and blueGreen.
pub const INVALID_STRATEGY_MESSAGE: &str = "Multiple Strategies can not be listed";
/// Blue-green active == preview.
pub const DUPLICATED_SERVICES_BLUE_GREEN_MESSAGE: &str = "This rollout uses the same service for the active and preview services, but two different services are required.";
/// Canary canary == stable.
pub const DUPLICATED_SERVICES_CANARY_MESSAGE: &str = "This rollout uses the same service for the stable and canary services, but two different services are required.";
/// Anti-affinity with none or both of its members.
pub const INVALID_ANTI_AFFINITY_STRATEGY_MESSAGE: &str = "AntiAffinity must have exactly one strategy listed";
/// Anti-affinity weight outside 1..100.
pub const INVALID_ANTI_AFFINITY_WEIGHT_MESSAGE: &str = "AntiAffinity weight must be between 1-100";
/// scaleDownDelayRevisionLimit above revisionHistoryLimit.
pub const SCALE_DOWN_LIMIT_LARGER_THAN_REVISION_LIMIT: &str =
    "This rollout's revision history limit can not be smaller than the rollout's scale down limit";
/// Traffic routing without canary and stable Services.
pub const INVALID_TRAFFIC_ROUTING_MESSAGE: &str =
    "Canary service and Stable service must to be set to use Traffic Routing";
/// A `metadata.*` fieldRef the downward API cannot resolve.
pub const INVALID_ANALYSIS_ARGS_MESSAGE: &str =
    "Analyses arguments must refer to valid object metadata supported by downwardAPI";
/// canary.scaleDownDelaySeconds without traffic routing.
pub const INVALID_CANARY_SCALE_DOWN_DELAY: &str =
    "Canary scaleDownDelaySeconds can only be used with traffic routing";
/// canary.dynamicStableScale without traffic routing.
pub const INVALID_CANARY_DYNAMIC_STABLE_SCALE: &str =
    "Canary dynamicStableScale can only be used with traffic routing";
/// dynamicStableScale together with scaleDownDelaySeconds.
pub const INVALID_CANARY_DYNAMIC_STABLE_SCALE_WITH_SCALE_DOWN_DELAY: &str =
    "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds";
/// maxTrafficWeight with a router other than nginx or plugins.
pub const INVALID_CANARY_MAX_WEIGHT_ONLY_SUPPORT_IN_NGINX_AND_PLUGINS: &str =
    "Canary maxTrafficWeight in traffic routing only support in Nginx and Plugins";
/// Ping-pong without both Services.
pub const INVALID_PING_PONG_PROVIDED_MESSAGE: &str =
    "Ping service and Pong service must to be set to use Ping-Pong feature";
/// Ping == pong.
pub const DUPLICATED_PING_PONG_SERVICES_MESSAGE: &str = "This rollout uses the same service for the ping and pong services, but two different services are required.";
/// Ping-pong with ALB but no root Service.
pub const MISSED_ALB_ROOT_SERVICE_MESSAGE: &str =
    "Root service field is required for the configuration with ALB and ping-pong feature enabled";
/// Ping-pong with a router other than ALB, Istio or plugins.
pub const PING_PONG_WITH_ROUTER_ONLY_MESSAGE: &str =
    "Ping-pong feature works with the ALB and Istio traffic routers only";
/// A header/mirror step route not listed in managedRoutes.
pub const INVALID_STEP_ROUTE_NAME_NOT_FOUND_IN_MANAGED_ROUTES: &str =
    "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes";
/// Workload reference plus a non-empty template.
pub const TEMPLATE_MUST_BE_EMPTY_FOR_WORKLOAD_REF: &str =
    "template must be empty for workload reference rollout";

/// Kind of a field error, mirroring Kubernetes' `field.ErrorType` (and its `Status` cause reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A required value is missing.
    Required,
    /// A value is malformed or out of range.
    Invalid,
    /// A value may not be set here.
    Forbidden,
    /// A value must be unique and is not.
    Duplicate,
    /// A value is not one of the supported ones.
    NotSupported,
}

impl ErrorKind {
    /// The `reason` of a Kubernetes `StatusCause` for this kind (`FieldValueRequired`, ...).
    pub fn status_reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate => "FieldValueDuplicate",
            Self::NotSupported => "FieldValueNotSupported",
        }
    }
}

/// A JSON field path such as `spec.strategy.canary.steps[2].setWeight`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(String);

impl FieldPath {
    /// A path starting at `root` (usually `spec`).
    pub fn new(root: &str) -> Self {
        Self(root.to_owned())
    }

    /// `self.name`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { Self(name.to_owned()) } else { Self(format!("{}.{name}", self.0)) }
    }

    /// `self[i]`.
    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// `self[key]`, Kubernetes' notation for a map entry.
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One problem: where, what kind, and the message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldError {
    /// Field path, e.g. `spec.strategy.canary.steps[2].setWeight`.
    pub path: String,
    /// Kind of problem.
    pub kind: ErrorKind,
    /// Upstream's message where upstream has one.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All problems of one object. Returned by [`Validate::validate`]; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The problems, in the order upstream would find them.
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Validation of one of the five kinds.
pub trait Validate {
    /// Every problem found, empty when valid.
    fn field_errors(&self) -> Vec<FieldError>;

    /// `Ok` when valid, else all problems.
    fn validate(&self) -> Result<(), ValidationError> {
        let errors = self.field_errors();
        if errors.is_empty() { Ok(()) } else { Err(ValidationError { errors }) }
    }
}

impl Validate for Rollout {
    fn field_errors(&self) -> Vec<FieldError> {
        rollout::validate_rollout(self)
    }
}

impl Validate for AnalysisTemplate {
    fn field_errors(&self) -> Vec<FieldError> {
        analysis::validate_analysis_template_spec(&self.spec, &FieldPath::new("spec"))
    }
}

impl Validate for ClusterAnalysisTemplate {
    fn field_errors(&self) -> Vec<FieldError> {
        analysis::validate_analysis_template_spec(&self.spec.0, &FieldPath::new("spec"))
    }
}

impl Validate for AnalysisRun {
    fn field_errors(&self) -> Vec<FieldError> {
        analysis::validate_analysis_run(self)
    }
}

impl Validate for Experiment {
    fn field_errors(&self) -> Vec<FieldError> {
        experiment::validate_experiment(self)
    }
}

/// Accumulates field errors.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub(crate) Vec<FieldError>);

impl Errors {
    pub(crate) fn push(&mut self, path: &FieldPath, kind: ErrorKind, message: impl Into<String>) {
        self.0.push(FieldError { path: path.as_str().to_owned(), kind, message: message.into() });
    }

    /// `Required value`, or the given detail.
    pub(crate) fn required(&mut self, path: &FieldPath, detail: &str) {
        let message = if detail.is_empty() { "Required value".to_owned() } else { detail.to_owned() };
        self.push(path, ErrorKind::Required, message);
    }

    pub(crate) fn invalid(&mut self, path: &FieldPath, detail: impl Into<String>) {
        self.push(path, ErrorKind::Invalid, detail);
    }

    pub(crate) fn forbidden(&mut self, path: &FieldPath, detail: impl Into<String>) {
        self.push(path, ErrorKind::Forbidden, detail);
    }

    pub(crate) fn duplicate(&mut self, path: &FieldPath, value: &str) {
        self.push(path, ErrorKind::Duplicate, format!("Duplicate value: {}", go_quoted(value)));
    }

    pub(crate) fn not_supported(&mut self, path: &FieldPath, value: &str, supported: &[&str]) {
        let supported: Vec<String> = supported.iter().map(|s| go_quoted(s)).collect();
        self.push(
            path,
            ErrorKind::NotSupported,
            format!("Unsupported value: {}: supported values: {}", go_quoted(value), supported.join(", ")),
        );
    }
}

/// Go's `%q` for the plain strings field errors quote.
pub(crate) fn go_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Kubernetes' `ValidateNonnegativeField` message.
pub(crate) const NONNEGATIVE: &str = "must be greater than or equal to 0";

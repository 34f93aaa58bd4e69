//! Upstream's defaults, applied on read (as upstream does) rather than written into objects.
//!
//! Argo Rollouts has no defaulting webhook: an unset field stays unset in etcd and every reader
//! substitutes the default. These getters are the one place serin does that, so the controller,
//! validation and `kubectl get` agree.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::analysis::Metric;
use super::common::int_value;
use super::experiment::{Experiment, TemplateSpec};
use super::rollout::Rollout;

/// `spec.replicas` when unset.
pub const REPLICAS: i32 = 1;
/// `spec.revisionHistoryLimit` when unset.
pub const REVISION_HISTORY_LIMIT: i32 = 10;
/// `spec.progressDeadlineSeconds` when unset (Rollout and Experiment).
pub const PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// `maxSurge` when unset. A string: upstream reads every string as a percentage.
pub const MAX_SURGE: &str = "25";
/// `maxUnavailable` when unset (canary and blue-green). A string, read as 25%.
pub const MAX_UNAVAILABLE: &str = "25";
/// Scale-down delay of old ReplicaSets (blue-green, traffic-routed canary, experiments).
pub const SCALE_DOWN_DELAY_SECONDS: i32 = 30;
/// Delay before the canary or preview is scaled down after an abort.
pub const ABORT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;
/// `blueGreen.autoPromotionEnabled` when unset.
pub const AUTO_PROMOTION_ENABLED: bool = true;
/// `trafficRouting.maxTrafficWeight` when unset.
pub const MAX_TRAFFIC_WEIGHT: i32 = 100;
/// Successful AnalysisRuns and Experiments kept per Rollout.
pub const SUCCESSFUL_RUN_HISTORY_LIMIT: i32 = 5;
/// Unsuccessful AnalysisRuns and Experiments kept per Rollout.
pub const UNSUCCESSFUL_RUN_HISTORY_LIMIT: i32 = 5;
/// Metric `consecutiveErrorLimit` when unset.
pub const CONSECUTIVE_ERROR_LIMIT: i64 = 4;
/// Measurements kept per metric without a `measurementRetention` rule.
pub const MEASUREMENT_HISTORY_LIMIT: i32 = 10;
/// Seconds between measurements after an Error, and when a metric has no interval.
pub const METRIC_RETRY_INTERVAL_SECONDS: i64 = 10;
/// Replicas of an experiment template when unset.
pub const EXPERIMENT_TEMPLATE_REPLICAS: i32 = 1;
/// Prometheus provider query timeout in seconds when unset.
pub const PROMETHEUS_TIMEOUT_SECONDS: i64 = 30;
/// Web provider request timeout in seconds when unset.
pub const WEB_TIMEOUT_SECONDS: i64 = 10;

/// `spec.replicas` or 1.
pub fn replicas(rollout: &Rollout) -> i32 {
    rollout.spec.replicas.unwrap_or(REPLICAS)
}

/// `spec.revisionHistoryLimit` or 10.
pub fn revision_history_limit(rollout: &Rollout) -> i32 {
    rollout.spec.revision_history_limit.unwrap_or(REVISION_HISTORY_LIMIT)
}

/// `spec.progressDeadlineSeconds` or 600.
pub fn progress_deadline_seconds(rollout: &Rollout) -> i32 {
    rollout.spec.progress_deadline_seconds.unwrap_or(PROGRESS_DEADLINE_SECONDS)
}

/// Canary `maxSurge`, or `"25"` (canary or no strategy); blue-green has no surge setting.
pub fn max_surge(rollout: &Rollout) -> IntOrString {
    rollout
        .canary()
        .and_then(|c| c.max_surge.clone())
        .unwrap_or_else(|| IntOrString::String(MAX_SURGE.to_owned()))
}

/// `maxUnavailable` of whichever strategy is configured, or `"25"`.
pub fn max_unavailable(rollout: &Rollout) -> IntOrString {
    let configured = match (rollout.canary(), rollout.blue_green()) {
        (Some(c), _) => c.max_unavailable.clone(),
        (None, Some(b)) => b.max_unavailable.clone(),
        (None, None) => None,
    };
    configured.unwrap_or_else(|| IntOrString::String(MAX_UNAVAILABLE.to_owned()))
}

/// `trafficRouting.maxTrafficWeight` or 100.
pub fn max_traffic_weight(rollout: &Rollout) -> i32 {
    rollout
        .canary()
        .and_then(|c| c.traffic_routing.as_ref())
        .and_then(|t| t.max_traffic_weight)
        .unwrap_or(MAX_TRAFFIC_WEIGHT)
}

/// Scale-down delay of the strategy, or 30.
pub fn scale_down_delay_seconds(rollout: &Rollout) -> i32 {
    let configured = match (rollout.canary(), rollout.blue_green()) {
        (Some(c), _) => c.scale_down_delay_seconds,
        (None, Some(b)) => b.scale_down_delay_seconds,
        (None, None) => None,
    };
    configured.unwrap_or(SCALE_DOWN_DELAY_SECONDS)
}

/// Abort scale-down delay of the strategy, or 30 (0 means "never scale down").
pub fn abort_scale_down_delay_seconds(rollout: &Rollout) -> i32 {
    let configured = match (rollout.canary(), rollout.blue_green()) {
        (Some(c), _) => c.abort_scale_down_delay_seconds,
        (None, Some(b)) => b.abort_scale_down_delay_seconds,
        (None, None) => None,
    };
    configured.unwrap_or(ABORT_SCALE_DOWN_DELAY_SECONDS)
}

/// `blueGreen.autoPromotionEnabled` or true.
pub fn auto_promotion_enabled(rollout: &Rollout) -> bool {
    rollout.blue_green().and_then(|b| b.auto_promotion_enabled).unwrap_or(AUTO_PROMOTION_ENABLED)
}

/// `(successful, unsuccessful)` run history limits, or `(5, 5)`.
pub fn run_history_limits(rollout: &Rollout) -> (i32, i32) {
    let analysis = rollout.spec.analysis.as_ref();
    (
        analysis.and_then(|a| a.successful_run_history_limit).unwrap_or(SUCCESSFUL_RUN_HISTORY_LIMIT),
        analysis.and_then(|a| a.unsuccessful_run_history_limit).unwrap_or(UNSUCCESSFUL_RUN_HISTORY_LIMIT),
    )
}

/// Metric `consecutiveErrorLimit`, or 4 (strings read with Go's `IntValue`).
pub fn consecutive_error_limit(metric: &Metric) -> i64 {
    metric.consecutive_error_limit.as_ref().map(int_value).unwrap_or(CONSECUTIVE_ERROR_LIMIT)
}

/// Metric `failureLimit`, or 0; -1 disables it.
pub fn failure_limit(metric: &Metric) -> i64 {
    metric.failure_limit.as_ref().map(int_value).unwrap_or(0)
}

/// Metric `inconclusiveLimit`, or 0.
pub fn inconclusive_limit(metric: &Metric) -> i64 {
    metric.inconclusive_limit.as_ref().map(int_value).unwrap_or(0)
}

/// Metric `consecutiveSuccessLimit`, or 0 (off).
pub fn consecutive_success_limit(metric: &Metric) -> i64 {
    metric.consecutive_success_limit.as_ref().map(int_value).unwrap_or(0)
}

/// The number of measurements a metric takes: `Some(n)`, or `None` for "until terminated".
///
/// `count` unset or 0 means 1 without an interval and unbounded with one.
pub fn effective_count(metric: &Metric) -> Option<i64> {
    let count = metric.count.as_ref().map(int_value).unwrap_or(0);
    match (count, metric.interval.as_deref().unwrap_or("")) {
        (0, "") => Some(1),
        (0, _) => None,
        (n, _) => Some(n),
    }
}

/// Experiment `progressDeadlineSeconds` or 600.
pub fn experiment_progress_deadline_seconds(experiment: &Experiment) -> i32 {
    experiment.spec.progress_deadline_seconds.unwrap_or(PROGRESS_DEADLINE_SECONDS)
}

/// Experiment `scaleDownDelaySeconds` or 30.
pub fn experiment_scale_down_delay_seconds(experiment: &Experiment) -> i32 {
    experiment.spec.scale_down_delay_seconds.unwrap_or(SCALE_DOWN_DELAY_SECONDS)
}

/// Experiment template `replicas` or 1.
pub fn experiment_template_replicas(template: &TemplateSpec) -> i32 {
    template.replicas.unwrap_or(EXPERIMENT_TEMPLATE_REPLICAS)
}

/// Why an int-or-percent value could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for IntOrString: invalid value {value:?}: {reason}")]
pub struct IntOrPercentError {
    /// The string as written.
    pub value: String,
    /// What was wrong with it.
    pub reason: String,
}

/// Resolves `maxSurge`/`maxUnavailable` against `total` the way upstream does.
///
/// Quirk kept (documented in `docs/api-compat.md`): upstream uses Kubernetes' *deprecated*
/// `GetValueFromIntOrPercent`, which reads **any string as a percentage** after deleting every `%`,
/// so `"5"` is 5%, not 5 pods. Percentages round up for surge (`round_up`) and down for
/// unavailability, computed in float64 like Go.
pub fn resolve_int_or_percent(
    value: &IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, IntOrPercentError> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let digits = s.replace('%', "");
            let pct: i64 = digits.parse().map_err(|e: std::num::ParseIntError| IntOrPercentError {
                value: s.clone(),
                reason: e.to_string(),
            })?;
            let raw = pct as f64 * f64::from(total) / 100.0;
            let resolved = if round_up { raw.ceil() } else { raw.floor() };
            Ok(resolved as i32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_string_is_a_percentage_and_rounds_like_go() {
        let s = |v: &str| IntOrString::String(v.to_owned());
        assert_eq!(resolve_int_or_percent(&s("25"), 10, true), Ok(3));
        assert_eq!(resolve_int_or_percent(&s("25%"), 10, false), Ok(2));
        assert_eq!(resolve_int_or_percent(&s("5"), 10, true), Ok(1));
        assert_eq!(resolve_int_or_percent(&s("%5%"), 100, false), Ok(5));
        assert_eq!(resolve_int_or_percent(&IntOrString::Int(5), 10, true), Ok(5));
        assert!(resolve_int_or_percent(&s("five"), 10, true).is_err());
    }

    #[test]
    fn effective_count_is_one_without_interval_and_unbounded_with_it() {
        let mut m = Metric::default();
        assert_eq!(effective_count(&m), Some(1));
        m.interval = Some("5s".into());
        assert_eq!(effective_count(&m), None);
        m.count = Some(IntOrString::String("3".into()));
        assert_eq!(effective_count(&m), Some(3));
        m.count = Some(IntOrString::String("garbage".into()));
        assert_eq!(effective_count(&m), None);
    }
}

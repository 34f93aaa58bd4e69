//! Canary replica counts and weights (`utils/replicaset/canary.go`; argo-semantics §a.2–a.6): the weight the
//! current step asks for, the canary/stable split that approximates it within maxSurge and maxUnavailable,
//! the traffic-routed split, and whether the counts a step wants have been reached.

use super::fenceposts;
use super::replicaset::{ReplicaSets, available, spec_replicas};
use crate::api::defaults;
use crate::api::rollout::{
    CanaryStep, ReplicaProgressThreshold, ReplicaProgressThresholdType, Rollout, SetCanaryScale,
    TrafficWeights,
};
use k8s_openapi::api::apps::v1::ReplicaSet;

fn status(ro: &Rollout) -> crate::api::rollout::RolloutStatus {
    ro.status.clone().unwrap_or_default()
}

fn steps(ro: &Rollout) -> &[CanaryStep] {
    ro.canary().and_then(|c| c.steps.as_deref()).unwrap_or(&[])
}

fn traffic_routed(ro: &Rollout) -> bool {
    ro.canary().is_some_and(|c| c.traffic_routing.is_some())
}

fn dynamic_stable_scale(ro: &Rollout) -> bool {
    ro.canary().and_then(|c| c.dynamic_stable_scale).unwrap_or(false)
}

/// `GetCurrentCanaryStep`: the step at `status.currentStepIndex` (0 when unset) and that index; no step when all
/// are done (the index is still returned), nothing when there are no steps.
pub fn current_step(ro: &Rollout) -> (Option<&CanaryStep>, Option<i32>) {
    let steps = steps(ro);
    if ro.canary().is_none() || steps.is_empty() {
        return (None, None);
    }
    let index = ro.status.as_ref().and_then(|s| s.current_step_index).unwrap_or(0);
    (usize::try_from(index).ok().and_then(|i| steps.get(i)), Some(index))
}

/// `GetCurrentSetWeight`: 0 when aborted; the max weight past the last step; else the nearest `setWeight` at or
/// before the current step (0 if none).
pub fn current_set_weight(ro: &Rollout) -> i32 {
    if status(ro).abort.unwrap_or(false) {
        return 0;
    }
    let (step, index) = current_step(ro);
    if step.is_none() {
        return defaults::max_traffic_weight(ro);
    }
    let index = index.unwrap_or(0).max(0) as usize;
    steps(ro)[..=index].iter().rev().find_map(|s| s.set_weight).unwrap_or(0)
}

/// `UseSetCanaryScale`: the `setCanaryScale` in force (traffic routing only): the nearest one at or before the
/// current step, unless it matches the traffic weight, or the Rollout is aborted and will scale the canary down.
pub fn use_set_canary_scale(ro: &Rollout) -> Option<&SetCanaryScale> {
    if !traffic_routed(ro) {
        return None;
    }
    if status(ro).abort.unwrap_or(false) && abort_scale_down_delay(ro).0.is_some() {
        return None;
    }
    let (step, index) = current_step(ro);
    step?;
    let index = index.unwrap_or(0).max(0) as usize;
    for s in steps(ro)[..=index].iter().rev() {
        if let Some(scs) = &s.set_canary_scale {
            return (!scs.match_traffic_weight.unwrap_or(false)).then_some(scs);
        }
    }
    None
}

/// `GetAbortScaleDownDelaySecondsOrDefault`: the abort scale-down delay in seconds (`None` for an explicit 0,
/// "never scale down"), and whether it was set explicitly. Basic canaries have none.
pub fn abort_scale_down_delay(ro: &Rollout) -> (Option<i32>, bool) {
    let configured = match (ro.canary(), ro.blue_green()) {
        (Some(c), _) => {
            if c.traffic_routing.is_none() {
                return (None, false);
            }
            c.abort_scale_down_delay_seconds
        }
        (None, Some(b)) => b.abort_scale_down_delay_seconds,
        (None, None) => None,
    };
    match configured {
        Some(0) => (None, true),
        Some(s) => (Some(s), true),
        None => (Some(defaults::ABORT_SCALE_DOWN_DELAY_SECONDS), false),
    }
}

/// `GetDesiredCanaryWeight`: the set weight, except while an aborted dynamic-stable-scale canary steps back down
/// through its `setWeight`s as the stable becomes available.
pub fn desired_canary_weight(ro: &Rollout, new: Option<&ReplicaSet>, stable: Option<&ReplicaSet>) -> i32 {
    if let (true, true, Some(new), Some(stable)) =
        (status(ro).abort.unwrap_or(false), dynamic_stable_scale(ro), new, stable)
    {
        let max_weight = defaults::max_traffic_weight(ro);
        let replicas = defaults::replicas(ro);
        let expected = replicas - available(stable);
        let canary = expected.max(available(new));
        for step in steps(ro).iter().rev() {
            if let Some(w) = step.set_weight
                && weight_to_replicas(replicas, w, max_weight) < canary
            {
                return w;
            }
        }
        return 0;
    }
    current_set_weight(ro)
}

/// `GetCanaryReplicasOrWeight`: an explicit canary replica count, or the weight to approximate.
pub fn canary_replicas_or_weight(
    ro: &Rollout,
    new: Option<&ReplicaSet>,
    stable: Option<&ReplicaSet>,
) -> (Option<i32>, i32) {
    let st = status(ro);
    let stable_hash = st.stable_rs.as_deref().unwrap_or("");
    if st.promote_full.unwrap_or(false)
        || stable_hash.is_empty()
        || st.current_pod_hash.as_deref() == Some(stable_hash)
    {
        return (None, defaults::max_traffic_weight(ro));
    }
    if let Some(scs) = use_set_canary_scale(ro) {
        if let Some(r) = scs.replicas {
            return (Some(r), 0);
        }
        if let Some(w) = scs.weight {
            return (None, w);
        }
    }
    (None, desired_canary_weight(ro, new, stable))
}

/// `trafficWeightToReplicas`: replicas for a weight, rounded up.
pub fn weight_to_replicas(replicas: i32, weight: i32, max_weight: i32) -> i32 {
    (f64::from(weight) * f64::from(replicas) / f64::from(max_weight)).ceil() as i32
}

/// `approximateWeightedCanaryStableReplicaCounts`: the (canary, stable) counts closest to `weight`, summing to
/// `replicas` or, when surging is allowed, `replicas + 1`; a weight strictly between 0 and the max never leaves
/// either side at zero when there are two or more pods; ties round the canary up.
pub fn approximate_weighted_counts(
    replicas: i32,
    weight: i32,
    max_weight: i32,
    max_surge: i32,
) -> (i32, i32) {
    if replicas == 0 {
        return (0, 0);
    }
    let exact = f64::from(replicas * weight) / f64::from(max_weight);
    let (ceil, floor) = (exact.ceil() as i32, exact.floor() as i32);
    let tied = |total: i32| (f64::from(total) * (f64::from(weight) / f64::from(max_weight))).fract() == 0.5;
    let zero_allowed = weight == max_weight || weight == 0 || (replicas == 1 && max_surge == 0);
    let mut options = Vec::with_capacity(4);
    if ceil < replicas || zero_allowed {
        options.push((ceil, replicas));
    }
    if !tied(replicas) && (floor != 0 || zero_allowed) {
        options.push((floor, replicas));
    }
    if max_surge > 0 {
        options.push((ceil, replicas + 1));
        if !tied(replicas + 1) && (floor != 0 || zero_allowed) {
            options.push((floor, replicas + 1));
        }
    }
    let delta = |(canary, total): (i32, i32)| {
        (f64::from(canary * max_weight) / f64::from(total) - f64::from(weight)).abs()
    };
    let Some(mut best) = options.first().copied() else { return (0, replicas) };
    for option in options.into_iter().skip(1) {
        if delta(option) < delta(best) {
            best = option;
        }
    }
    (best.0, best.1 - best.0)
}

/// `GetReplicasForScaleDown`: the pods of a ReplicaSet that count as going away when it is scaled down.
pub fn replicas_for_scale_down(rs: Option<&ReplicaSet>, ignore_availability: bool) -> i32 {
    let Some(rs) = rs else { return 0 };
    if spec_replicas(rs) < available(rs) || ignore_availability {
        return spec_replicas(rs);
    }
    available(rs)
}

/// `CalculateReplicaCountsForBasicCanary`: (canary, stable) replica counts for a canary without traffic
/// routing, approaching the weight's split one safe step at a time (argo-semantics §a.3).
pub fn basic_canary_counts(
    ro: &Rollout,
    new: Option<&ReplicaSet>,
    stable: Option<&ReplicaSet>,
    others: &[&ReplicaSet],
) -> (i32, i32) {
    let replicas = defaults::replicas(ro);
    let (_, weight) = canary_replicas_or_weight(ro, new, stable);
    let max_surge = fenceposts::max_surge(ro);
    let max_weight = defaults::max_traffic_weight(ro);
    let (mut desired_canary, mut desired_stable) =
        approximate_weighted_counts(replicas, weight, max_weight, max_surge);

    let mut canary = new.map(spec_replicas).unwrap_or(0);
    let stable_differs = match (new, stable) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(n), Some(s)) => n.metadata.name != s.metadata.name,
    };
    // Upstream counts the stable ReplicaSet's pods when draining even when it is the new one.
    let stable_as_given = stable;
    let stable = stable.filter(|_| stable_differs);
    let mut stable_count = 0;
    if let Some(s) = stable {
        stable_count = spec_replicas(s);
    } else {
        // No separate stable: no steps to follow, the new ReplicaSet goes to 100%.
        desired_canary = replicas;
        desired_stable = 0;
    }

    let max_total = replicas + max_surge;
    let total: i32 = others.iter().map(|rs| spec_replicas(rs)).sum::<i32>()
        + canary
        + stable.map(spec_replicas).unwrap_or(0);
    let mut scale_up = max_total - total;

    if let Some(s) = stable
        && spec_replicas(s) < desired_stable
        && scale_up > 0
    {
        if spec_replicas(s) + scale_up < desired_stable {
            stable_count = spec_replicas(s) + scale_up;
            scale_up = 0;
        } else {
            stable_count = desired_stable;
            scale_up -= desired_stable - spec_replicas(s);
        }
    }
    if let Some(n) = new
        && spec_replicas(n) < desired_canary
        && scale_up > 0
    {
        canary = (spec_replicas(n) + scale_up).min(desired_canary);
    }

    if others.iter().map(|rs| spec_replicas(rs)).sum::<i32>() > 0 {
        // Older ReplicaSets are drained first.
        return (canary, stable_count);
    }

    let min_available = replicas - fenceposts::max_unavailable(ro);
    let increasing = new.is_none_or(|n| desired_canary >= spec_replicas(n));
    let to_scale_down =
        replicas_for_scale_down(new, !increasing) + replicas_for_scale_down(stable_as_given, increasing);
    if to_scale_down <= min_available {
        return (canary, stable_count);
    }
    let scale_down = to_scale_down - min_available;
    if !increasing {
        canary = scale_down_count(new, desired_canary, scale_down, canary);
        (canary, stable_count) =
            adjust_within_limits(new, stable_as_given, canary, stable_count, max_total, min_available);
    } else if stable.is_some() {
        stable_count = scale_down_count(stable, desired_stable, scale_down, stable_count);
        (stable_count, canary) =
            adjust_within_limits(stable, new, stable_count, canary, max_total, min_available);
    }
    (canary, stable_count)
}

/// `calculateScaleDownReplicaCount`.
fn scale_down_count(drain: Option<&ReplicaSet>, desired: i32, scale_down: i32, current: i32) -> i32 {
    match drain {
        Some(rs) if spec_replicas(rs) > desired => desired.max(spec_replicas(rs) - scale_down),
        _ => current,
    }
}

/// `adjustReplicaWithinLimits`: keeps the pair within maxSurge while not dropping below the minimum available.
fn adjust_within_limits(
    drain: Option<&ReplicaSet>,
    adjust: Option<&ReplicaSet>,
    mut drain_count: i32,
    mut adjust_count: i32,
    max_total: i32,
    min_available: i32,
) -> (i32, i32) {
    let mut over = 0.max(adjust_count + drain_count - max_total);
    let mut total_available = drain.map(|d| available(d).min(drain_count)).unwrap_or(0);
    if let Some(a) = adjust {
        adjust_count -= over;
        total_available += available(a).min(adjust_count);
        let extra = 0.max(available(a) - adjust_count);
        let needed = 0.max(min_available - total_available);
        adjust_count += extra.min(needed);
        over = 0.max(adjust_count + drain_count - max_total);
        drain_count -= over;
    }
    (drain_count, adjust_count)
}

/// `CheckMinPodsPerReplicaSet`: a non-zero count raised to `minPodsPerReplicaSet` (capped at `spec.replicas`),
/// traffic-routed canaries only.
pub fn min_pods_per_replica_set(ro: &Rollout, count: i32) -> i32 {
    if count == 0 || !traffic_routed(ro) {
        return count;
    }
    match ro.canary().and_then(|c| c.min_pods_per_replica_set) {
        Some(min) => count.max(min.min(defaults::replicas(ro))),
        None => count,
    }
}

/// `CalculateReplicaCountsForTrafficRoutedCanary`: (canary, stable) for a canary behind a traffic router; the
/// stable stays at full size unless `dynamicStableScale`, and then follows the larger of the desired and the
/// recorded stable weight (argo-semantics §a.5).
pub fn traffic_routed_counts(
    ro: &Rollout,
    new: Option<&ReplicaSet>,
    stable: Option<&ReplicaSet>,
    weights: Option<&TrafficWeights>,
) -> (i32, i32) {
    let replicas = defaults::replicas(ro);
    let (explicit, weight) = canary_replicas_or_weight(ro, new, stable);
    let max_weight = defaults::max_traffic_weight(ro);
    let mut canary = match explicit {
        Some(r) => r,
        None => min_pods_per_replica_set(ro, weight_to_replicas(replicas, weight, max_weight)),
    };
    if !dynamic_stable_scale(ro) {
        return (canary, replicas);
    }
    let mut stable_count = weight_to_replicas(replicas, max_weight - weight, max_weight);
    if let Some(w) = weights {
        stable_count = stable_count.max(weight_to_replicas(replicas, w.stable.weight, max_weight));
        if status(ro).abort.unwrap_or(false) {
            canary = canary.max(weight_to_replicas(replicas, w.canary.weight, max_weight));
        }
    }
    (min_pods_per_replica_set(ro, canary), min_pods_per_replica_set(ro, stable_count))
}

/// The (canary, stable) counts the strategy wants now.
pub fn desired_counts(ro: &Rollout, rss: &ReplicaSets, weights: Option<&TrafficWeights>) -> (i32, i32) {
    if traffic_routed(ro) {
        traffic_routed_counts(ro, rss.new_rs(), rss.stable_rs(), weights)
    } else {
        basic_canary_counts(ro, rss.new_rs(), rss.stable_rs(), &rss.others())
    }
}

/// `ReplicaProgressThresholdMet`: enough of the desired canary pods are available (all of them, unless a
/// `replicaProgressThreshold` says otherwise).
pub fn replica_progress_threshold_met(
    threshold: Option<&ReplicaProgressThreshold>,
    rs: Option<&ReplicaSet>,
    desired: i32,
) -> bool {
    let all_available = || rs.is_some_and(|rs| desired == spec_replicas(rs) && desired == available(rs));
    let (Some(t), Some(rs)) = (threshold, rs) else { return all_available() };
    if t.value < 0 {
        return all_available();
    }
    match t.type_ {
        ReplicaProgressThresholdType::Percent => {
            if desired == 0 {
                return true;
            }
            let pct = f64::from(available(rs)) / f64::from(desired) * 100.0;
            pct >= f64::from(t.value) || (pct - f64::from(t.value)).abs() <= 1e-10
        }
        ReplicaProgressThresholdType::Pods => available(rs) >= t.value,
        // Validation refuses other types; upstream would compare pods.
        ReplicaProgressThresholdType::Other(_) => available(rs) >= t.value,
    }
}

/// `AtDesiredReplicaCountsForCanary`: the counts the current weight wants are reached: the canary's available
/// pods (per the threshold), the stable's created pods (unless dynamic stable scaling), and for a basic canary no
/// older ReplicaSet has available pods.
pub fn at_desired_counts(ro: &Rollout, rss: &ReplicaSets, weights: Option<&TrafficWeights>) -> bool {
    let (canary, stable) = desired_counts(ro, rss, weights);
    let threshold = ro.canary().and_then(|c| c.replica_progress_threshold.as_ref());
    if !replica_progress_threshold_met(threshold, rss.new_rs(), canary) {
        return false;
    }
    if !traffic_routed(ro) || !dynamic_stable_scale(ro) {
        let created = rss
            .stable_rs()
            .is_some_and(|rs| stable == spec_replicas(rs) && stable == super::replicaset::actual(rs));
        if !created {
            return false;
        }
    }
    if !traffic_routed(ro) && rss.others().iter().map(|rs| available(rs)).sum::<i32>() != 0 {
        return false;
    }
    true
}

/// `NewRSNewReplicas` for a canary: the new ReplicaSet's desired size.
pub fn new_rs_replicas(ro: &Rollout, rss: &ReplicaSets, weights: Option<&TrafficWeights>) -> i32 {
    desired_counts(ro, rss, weights).0
}

/// `BeforeStartingStep`: background analysis waits for `startingStep`.
pub fn before_starting_step(ro: &Rollout) -> bool {
    let Some(start) = ro.canary().and_then(|c| c.analysis.as_ref()).and_then(|a| a.starting_step) else {
        return false;
    };
    match current_step(ro).1 {
        Some(i) => i < start,
        None => false,
    }
}

#[cfg(test)]
#[path = "canary/tests.rs"]
mod tests;

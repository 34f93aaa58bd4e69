//! The weight a traffic-routed canary asks its routers for at each reconcile, and the weights it then records
//! (`rollout/trafficrouting.go`; argo-semantics §d.1). The controller decides every weight; routers only apply
//! them.

use super::canary::{at_desired_counts, current_set_weight, current_step, desired_canary_weight};
use super::replicaset::{ReplicaSets, available, pod_hash};
use crate::api::defaults;
use crate::api::rollout::{Rollout, TrafficWeights, WeightDestination};
use crate::api::traffic::RolloutTrafficRouting;
use k8s_openapi::api::apps::v1::ReplicaSet;

/// What the routers are told this reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightPlan {
    /// The canary's weight.
    pub weight: i32,
    /// The pod-template hash the canary weight goes to: the new ReplicaSet's, or the previous canary's while a
    /// dynamically scaled Rollout rolls back to its stable version.
    pub canary_hash: String,
    /// The stable ReplicaSet's pod-template hash.
    pub stable_hash: String,
    /// Header and mirror routes are removed.
    pub remove_managed_routes: bool,
    /// The canary Service selects the stable ReplicaSet again (an abort that is done moving traffic).
    pub canary_service_to_stable: bool,
    /// Experiment services get their step's weights too.
    pub with_experiments: bool,
    /// The current step sets a header or mirror route (applied from the second revision on: upstream runs
    /// step 0 when a Rollout is first installed, and routes then would be spurious), and never in a pass that
    /// removes the managed routes.
    pub route_step: bool,
    /// The weight goes to 0 before the routers switch to the new canary's hash: the new canary has no
    /// available pods while the old one still had traffic.
    pub reset_weight_first: bool,
}

/// One router a Rollout configures.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredRouter {
    /// Where it is configured: `trafficRouting.<name>` for an in-tree router, `trafficRouting.plugins.<name>`.
    pub field: String,
    /// The plugin that serves it: an in-tree router's built-in, or the registered plugin's name.
    pub plugin: String,
    /// Its configuration (the in-tree block, or the plugin's entry).
    pub config: serde_json::Value,
    /// An in-tree router (served by a built-in plugin), not one of `plugins`.
    pub in_tree: bool,
}

/// The routers of `trafficRouting` in upstream's order: the in-tree ones, then plugins (by name; upstream's
/// order among plugins is Go's random map order).
pub fn routers(tr: &RolloutTrafficRouting) -> Vec<ConfiguredRouter> {
    fn block<T: serde::Serialize>(out: &mut Vec<ConfiguredRouter>, name: &str, b: Option<&T>) {
        if let Some(b) = b {
            out.push(ConfiguredRouter {
                field: format!("spec.strategy.canary.trafficRouting.{name}"),
                plugin: name.to_string(),
                config: serde_json::to_value(b).unwrap_or_default(),
                in_tree: true,
            });
        }
    }
    let mut out = Vec::new();
    block(&mut out, "istio", tr.istio.as_ref());
    block(&mut out, "nginx", tr.nginx.as_ref());
    block(&mut out, "alb", tr.alb.as_ref());
    block(&mut out, "smi", tr.smi.as_ref());
    block(&mut out, "ambassador", tr.ambassador.as_ref());
    block(&mut out, "appMesh", tr.app_mesh.as_ref());
    block(&mut out, "traefik", tr.traefik.as_ref());
    block(&mut out, "apisix", tr.apisix.as_ref());
    for (name, config) in tr.plugins.iter().flatten() {
        out.push(ConfiguredRouter {
            field: format!("spec.strategy.canary.trafficRouting.plugins[{name:?}]"),
            plugin: name.clone(),
            config: config.clone(),
            in_tree: false,
        });
    }
    out
}

/// `GetStableAndCanaryServices` as routers see them (ping-pong preferred): the stable and canary Services.
pub fn stable_and_canary_services(ro: &Rollout) -> (String, String) {
    let Some(c) = ro.canary() else { return Default::default() };
    if let Some(pp) = &c.ping_pong {
        let stable_ping =
            ro.status.as_ref().and_then(|s| s.canary.as_ref()).and_then(|c| c.stable_ping_pong.as_ref())
                == Some(&crate::api::rollout::PingPongType::Ping);
        return if stable_ping {
            (pp.ping_service.clone(), pp.pong_service.clone())
        } else {
            (pp.pong_service.clone(), pp.ping_service.clone())
        };
    }
    (c.stable_service.clone().unwrap_or_default(), c.canary_service.clone().unwrap_or_default())
}

fn dynamic_stable_scale(ro: &Rollout) -> bool {
    ro.canary().and_then(|c| c.dynamic_stable_scale).unwrap_or(false)
}

fn recorded(ro: &Rollout) -> Option<&TrafficWeights> {
    ro.status.as_ref().and_then(|s| s.canary.as_ref()).and_then(|c| c.weights.as_ref())
}

/// `IsFullyPromoted`: the stable version is the desired one.
pub fn fully_promoted(ro: &Rollout) -> bool {
    let st = ro.status.as_ref();
    st.and_then(|s| s.stable_rs.as_deref()).unwrap_or("")
        == st.and_then(|s| s.current_pod_hash.as_deref()).unwrap_or("")
}

/// `IsDynamicallyRollingBackToStable`: a dynamically scaled canary was interrupted by a return to the stable
/// version, which is not fully available yet; the previous canary's hash, which keeps the canary weight until
/// then. A missing desired ReplicaSet counts as none available (upstream dereferences it).
pub fn dynamically_rolling_back(ro: &Rollout, desired: Option<&ReplicaSet>) -> Option<String> {
    if !fully_promoted(ro)
        || ro.canary().is_none_or(|c| c.traffic_routing.is_none())
        || !dynamic_stable_scale(ro)
    {
        return None;
    }
    let previous = recorded(ro)?.canary.pod_template_hash.clone().unwrap_or_default();
    if previous == desired.map(pod_hash).unwrap_or("") {
        return None;
    }
    if desired.map(available).unwrap_or(0) >= defaults::replicas(ro) {
        return None;
    }
    Some(previous)
}

/// `calculateDesiredWeightOnAbortOrStableRollback`: 0 at once, unless dynamically scaled; then the canary keeps
/// the traffic the stable cannot take yet, never growing back while stable availability flaps.
pub fn abort_weight(ro: &Rollout, new: Option<&ReplicaSet>, stable: Option<&ReplicaSet>) -> i32 {
    let replicas = defaults::replicas(ro);
    let (Some(new_rs), Some(stable_rs)) = (new, stable) else { return 0 };
    if !dynamic_stable_scale(ro) || replicas == 0 {
        return 0;
    }
    let max_weight = defaults::max_traffic_weight(ro);
    let desired = desired_canary_weight(ro, Some(new_rs), Some(stable_rs));
    let stable_weight = max_weight * available(stable_rs) / replicas;
    let expected = (max_weight - stable_weight).max(0);
    let Some(weights) = recorded(ro) else { return expected.max(desired) };
    let current = weights.canary.weight;
    if desired <= 0 {
        return expected.min(current);
    }
    if stable_weight < max_weight - desired {
        // The stable is still scaling up: the canary keeps its traffic.
        return current;
    }
    desired.min(current)
}

/// `checkReplicasAvailable`: the stable ReplicaSet has the pods to take `stable_weight` of the traffic (or
/// meets the Rollout's `replicaProgressThreshold` for them).
pub fn stable_can_take(ro: &Rollout, stable: Option<&ReplicaSet>, stable_weight: i32) -> bool {
    let Some(rs) = stable else { return false };
    let needed = stable_weight * defaults::replicas(ro) / defaults::max_traffic_weight(ro);
    let threshold = ro.canary().and_then(|c| c.replica_progress_threshold.as_ref());
    available(rs) >= needed
        || threshold
            .is_some_and(|_| super::canary::replica_progress_threshold_met(threshold, Some(rs), needed))
}

/// The weight and routes for this reconcile (first match): dynamic rollback, fully promoted, aborted, no
/// available canary, full promotion, then the steps.
pub fn plan(ro: &Rollout, rss: &ReplicaSets) -> WeightPlan {
    let (new, stable) = (rss.new_rs(), rss.stable_rs());
    let max_weight = defaults::max_traffic_weight(ro);
    let aborted = ro.status.as_ref().and_then(|s| s.abort).unwrap_or(false);
    let mut plan = WeightPlan {
        weight: 0,
        canary_hash: new.map(pod_hash).unwrap_or("").to_string(),
        stable_hash: stable.map(pod_hash).unwrap_or("").to_string(),
        remove_managed_routes: false,
        canary_service_to_stable: false,
        with_experiments: false,
        route_step: false,
        reset_weight_first: false,
    };
    let revision = super::replicaset::revision(ro.metadata.annotations.as_ref()).unwrap_or(0);
    let route_step = revision > 1
        && current_step(ro).0.is_some_and(|s| s.set_header_route.is_some() || s.set_mirror_route.is_some());
    plan.reset_weight_first =
        new.is_none_or(|rs| available(rs) == 0) && recorded(ro).is_some_and(|w| w.canary.weight > 0);
    if let Some(previous) = dynamically_rolling_back(ro, new) {
        plan.weight = abort_weight(ro, new, stable);
        plan.canary_hash = previous;
    } else if fully_promoted(ro) {
        plan.remove_managed_routes = true;
    } else if aborted {
        plan.weight = abort_weight(ro, new, stable);
        plan.canary_service_to_stable = !dynamic_stable_scale(ro) || plan.weight == 0;
        plan.remove_managed_routes = true;
    } else if new.is_none_or(|rs| available(rs) == 0) {
        // Never weight to a canary with no available pods; routes a superseded canary had are removed.
        plan.with_experiments = true;
        plan.remove_managed_routes = true;
    } else if ro.status.as_ref().and_then(|s| s.promote_full).unwrap_or(false) {
        plan.weight = if dynamic_stable_scale(ro) {
            max_weight * new.map(available).unwrap_or(0) / defaults::replicas(ro).max(1)
        } else {
            recorded(ro).map(|w| w.canary.weight).unwrap_or(0)
        };
        plan.remove_managed_routes = true;
    } else if let (_, Some(index)) = current_step(ro) {
        let steps = ro.canary().and_then(|c| c.steps.as_deref()).unwrap_or(&[]);
        if !at_desired_counts(ro, rss, None) {
            // The canary is not ready for the new weight: the previous step's holds.
            let before = usize::try_from(index).unwrap_or(0).min(steps.len());
            plan.weight = steps[..before].iter().rev().find_map(|s| s.set_weight).unwrap_or(0);
            plan.with_experiments = true;
        } else if usize::try_from(index).is_ok_and(|i| i != steps.len()) {
            plan.weight = current_set_weight(ro);
            plan.with_experiments = true;
        } else {
            plan.weight = max_weight;
        }
    }
    // Upstream sets the current step's route even in a pass that removes the managed routes (an abort at a
    // header step puts the route back until the step index is reset); serin does not.
    plan.route_step = route_step && !plan.remove_managed_routes;
    plan
}

/// What a reconcile does after the routers report whether the weight took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Verified, or the router cannot tell: go on.
    Continue,
    /// Not yet: look again in 10 s, and go on with the rest of the reconcile.
    Requeue,
    /// Not yet, at the end of the steps with all traffic on the canary: look again in 10 s, and stop here so
    /// that the old ReplicaSets are not scaled down before the traffic has moved.
    RequeueAndStop,
}

/// How a `verify-weight` answer for `weight` steers the reconcile.
pub fn after_verification(ro: &Rollout, weight: i32, verified: Option<bool>) -> Verified {
    if verified != Some(false) {
        return Verified::Continue;
    }
    let steps = ro.canary().and_then(|c| c.steps.as_ref()).map_or(0, Vec::len);
    let index = ro.status.as_ref().and_then(|s| s.current_step_index).unwrap_or(0);
    if weight == defaults::max_traffic_weight(ro)
        && i64::try_from(steps).unwrap_or(i64::MAX) >= i64::from(index)
    {
        Verified::RequeueAndStop
    } else {
        Verified::Requeue
    }
}

/// `calculateWeightStatus`: the weights to record, and whether they differ from the recorded ones. The
/// stable gets what the canary and the experiment services leave.
pub fn recorded_weights(
    ro: &Rollout,
    plan: &WeightPlan,
    extra: &[WeightDestination],
) -> (bool, TrafficWeights) {
    let canary = ro.canary();
    let service = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
    let hash = |h: &str| (!h.is_empty()).then(|| h.to_string());
    let stable_weight =
        defaults::max_traffic_weight(ro) - plan.weight - extra.iter().map(|d| d.weight).sum::<i32>();
    let weights = TrafficWeights {
        canary: WeightDestination {
            weight: plan.weight,
            service_name: service(canary.and_then(|c| c.canary_service.as_ref())),
            pod_template_hash: hash(&plan.canary_hash),
        },
        stable: WeightDestination {
            weight: stable_weight,
            service_name: service(canary.and_then(|c| c.stable_service.as_ref())),
            pod_template_hash: hash(&plan.stable_hash),
        },
        additional: (!extra.is_empty()).then(|| extra.to_vec()),
        verified: None,
    };
    let modified = recorded(ro).is_none_or(|prev| {
        prev.canary != weights.canary
            || prev.stable != weights.stable
            || prev.additional != weights.additional
    });
    (modified, weights)
}

/// The `TrafficWeightUpdated` Event's message.
pub fn weight_updated_message(previous: Option<&TrafficWeights>, new: &TrafficWeights) -> String {
    let mut details = Vec::new();
    match previous {
        None => details.push(format!("to {}", new.canary.weight)),
        Some(p) if p.canary.weight != new.canary.weight => {
            details.push(format!("from {} to {}", p.canary.weight, new.canary.weight))
        }
        Some(_) => {}
    }
    if let Some(p) = previous
        && p.additional != new.additional
    {
        let shown: Vec<String> = new
            .additional
            .iter()
            .flatten()
            .map(|d| {
                format!(
                    "{{{} {} {}}}",
                    d.weight,
                    d.service_name.as_deref().unwrap_or(""),
                    d.pod_template_hash.as_deref().unwrap_or("")
                )
            })
            .collect();
        details.push(format!("additional: [{}]", shown.join(" ")));
    }
    format!("Traffic weight updated {}", details.join(", "))
}

#[cfg(test)]
#[path = "traffic/tests.rs"]
mod tests;

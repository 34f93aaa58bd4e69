//! A traffic-routed canary's routers (upstream's `reconcileTrafficRouting`): each configured router is told,
//! in upstream's order of calls, the hashes, the header and mirror routes of the current step, and the weight
//! `strategy::traffic::plan` decided; then asked whether the weight took effect. The weights are recorded on
//! the status with each router's state.
//!
//! A router that fails, is denied, or asks to be called again stops the pass where it is: nothing is scaled and
//! no step advances (upstream returns an error there), but the reason is written on the Rollout, as the
//! `TrafficRouting` condition and the router's entry in `status.canary.trafficRouterStatuses`, and as a
//! `TrafficRoutingError` Event for a failure. Traffic stays where the routers last put it.

use super::{Error, Pass};
use crate::api::rollout::{
    self as api, RolloutConditionType, RolloutStatus, TrafficRouterStatus, TrafficWeights, WeightDestination,
};
use crate::plugin::CallOptions;
use crate::plugin::component::PluginKind;
use crate::plugin::kube::KubeAccess;
use crate::plugin::metric::ObjectRef;
use crate::plugin::router::{
    HeaderMatch, HeaderRoute, MirrorRoute, RouteMatch, RouterContext, RouterOutcome, RouterReply,
    StringMatch, Verification,
};
use crate::strategy::conditions::{self, Event};
use crate::strategy::traffic::{self, ConfiguredRouter, Verified, WeightPlan};
use kube::ResourceExt;
use std::time::Duration;

/// Upstream's `defaults.GetRolloutVerifyRetryInterval`.
const VERIFY_RETRY: Duration = Duration::from_secs(10);
/// Requeue after a router failed (the cause may be a plugin registered later or an object created later).
const FAILED_RETRY: Duration = Duration::from_secs(5);
/// The `TrafficRouting` condition's reasons.
pub(crate) const TRAFFIC_ROUTING_ERROR_REASON: &str = "TrafficRoutingError";
pub(crate) const TRAFFIC_ROUTING_PENDING_REASON: &str = "TrafficRoutingPending";

/// How the traffic part of a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Routing {
    /// Go on with the rest of the pass.
    Continue,
    /// The routers were not all able to apply the change: the pass ends after writing why.
    Stopped,
    /// The weight at the end of the steps is not verified yet: the pass ends without writing, so that the old
    /// ReplicaSets are not scaled down and the stable not promoted before traffic has moved.
    Unverified,
}

/// Why one router's calls stopped.
enum Halt {
    Retry { after: Duration, message: String },
    Failed(String),
}

impl Pass<'_> {
    /// `reconcileTrafficRouting`.
    pub(super) async fn reconcile_traffic_routing(&mut self) -> Result<Routing, Error> {
        let routing = self.rollout.canary().and_then(|c| c.traffic_routing.clone());
        let routers = routing.as_ref().map(traffic::routers).unwrap_or_default();
        if routers.is_empty() {
            if let Some(c) = self.new_status.canary.as_mut() {
                c.weights = None;
                c.traffic_router_statuses = None;
            }
            // A condition left by routers since removed from the spec goes too.
            self.routed = true;
            return Ok(Routing::Continue);
        }
        let plan = traffic::plan(&self.rollout, &self.rss);
        if plan.canary_service_to_stable {
            let canary_service = self.rollout.canary().and_then(|c| c.canary_service.clone());
            let stable = self.rss.stable_rs().cloned();
            self.ensure_service_targets(canary_service.as_deref(), stable.as_ref()).await?;
        }
        let max_weight = crate::api::defaults::max_traffic_weight(&self.rollout);
        // The current experiment step's templates take their share from the stable version.
        let extra = if plan.with_experiments {
            crate::strategy::experiment_step::experiment_destinations(
                &self.rollout,
                self.exs.current.as_ref(),
            )
        } else {
            Vec::new()
        };
        let stable_weight = max_weight - plan.weight - extra.iter().map(|d| d.weight).sum::<i32>();
        let stable_takes = traffic::stable_can_take(&self.rollout, self.rss.stable_rs(), stable_weight);
        let mut statuses = self.status().canary.and_then(|c| c.traffic_router_statuses).unwrap_or_default();
        statuses.retain(|s| routers.iter().any(|r| r.plugin == s.name));
        let mut verification: Vec<Verification> = Vec::new();
        let mut halted = None;
        for router in &routers {
            let previous = statuses.iter().find(|s| s.name == router.plugin).and_then(|s| s.state.clone());
            let mut call = RouterCall::new(self, router, &plan, previous);
            let result = call.run(self, &plan, &extra, stable_takes).await;
            let entry = TrafficRouterStatus {
                name: router.plugin.clone(),
                state: call.ctx.state.clone(),
                message: match &result {
                    Err(Halt::Failed(m)) | Err(Halt::Retry { message: m, .. }) => Some(m.clone()),
                    Ok(_) => None,
                },
            };
            match statuses.iter_mut().find(|s| s.name == router.plugin) {
                Some(s) => *s = entry,
                None => statuses.push(entry),
            }
            match result {
                Ok(Some(v)) => verification.push(v),
                Ok(None) => {}
                Err(h) => {
                    halted = Some((router, h));
                    break;
                }
            }
        }
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(c) = self.new_status.canary.as_mut() {
            c.traffic_router_statuses = Some(statuses.clone());
        }
        if let Some((router, halt)) = halted {
            self.record_halt(router, halt, statuses).await?;
            return Ok(Routing::Stopped);
        }
        self.routed = true;
        if !stable_takes {
            // Upstream: the stable ReplicaSet cannot take its share yet; nothing is set or recorded.
            return Ok(Routing::Continue);
        }
        self.record_weights(&plan, &extra);
        // Several routers: verified when every one that can tell says so.
        let verified = if verification.contains(&Verification::NotVerified) {
            Some(false)
        } else if verification.contains(&Verification::Verified) {
            Some(true)
        } else {
            None
        };
        if let Some(w) = self.new_status.canary.as_mut().and_then(|c| c.weights.as_mut()) {
            w.verified = verified;
        }
        match traffic::after_verification(&self.rollout, plan.weight, verified) {
            Verified::Continue => Ok(Routing::Continue),
            Verified::Requeue => {
                tracing::info!(rollout = %self.name(), weight = plan.weight, "desired weight not yet verified");
                self.requeue_within(VERIFY_RETRY);
                Ok(Routing::Continue)
            }
            Verified::RequeueAndStop => {
                tracing::info!(rollout = %self.name(), weight = plan.weight, "end of rollout, desired weight not yet verified");
                self.requeue_within(VERIFY_RETRY);
                Ok(Routing::Unverified)
            }
        }
    }

    /// `calculateWeightStatus`: the weights set, with a `TrafficWeightUpdated` Event when they changed.
    fn record_weights(&mut self, plan: &WeightPlan, extra: &[WeightDestination]) {
        let (modified, weights) = traffic::recorded_weights(&self.rollout, plan, extra);
        if !modified {
            return;
        }
        let previous: Option<TrafficWeights> = self.status().canary.and_then(|c| c.weights);
        self.status_event(Event::normal(
            conditions::TRAFFIC_WEIGHT_UPDATED_REASON,
            traffic::weight_updated_message(previous.as_ref(), &weights),
        ));
        if let Some(c) = self.new_status.canary.as_mut() {
            c.weights = Some(weights);
        }
    }

    /// Writes why a router stopped the pass: the `TrafficRouting` condition and the routers' statuses, nothing
    /// else (the rest of the status is what the last complete pass wrote).
    async fn record_halt(
        &mut self,
        router: &ConfiguredRouter,
        halt: Halt,
        statuses: Vec<TrafficRouterStatus>,
    ) -> Result<(), Error> {
        let (reason, message, after) = match halt {
            Halt::Failed(m) => {
                let message = format!("traffic router {} failed: {m}", router.plugin);
                self.event(Event::warning(TRAFFIC_ROUTING_ERROR_REASON, message.clone()));
                (TRAFFIC_ROUTING_ERROR_REASON, message, FAILED_RETRY)
            }
            Halt::Retry { after, message } => (
                TRAFFIC_ROUTING_PENDING_REASON,
                format!("traffic router {}: {message}", router.plugin),
                after,
            ),
        };
        tracing::warn!(rollout = %self.name(), "{message}");
        self.requeue_within(after.max(Duration::from_millis(200)));
        let old = self.status();
        let mut status: RolloutStatus = old.clone();
        status.canary.get_or_insert_with(Default::default).traffic_router_statuses = Some(statuses);
        let unchanged = conditions::get(&old, &RolloutConditionType::TrafficRouting)
            .is_some_and(|c| c.reason == reason && c.message == message);
        if !unchanged {
            conditions::set(
                &mut status,
                conditions::new_condition(
                    RolloutConditionType::TrafficRouting,
                    "False",
                    reason,
                    message,
                    self.now,
                ),
            );
        }
        self.write_status(&old, status).await?;
        Ok(())
    }
}

/// One router's calls in one pass.
struct RouterCall {
    plugin: Result<crate::plugin::catalog::Resolved, String>,
    opts: CallOptions,
    ctx: RouterContext,
}

impl RouterCall {
    fn new(
        pass: &Pass<'_>,
        router: &ConfiguredRouter,
        plan: &WeightPlan,
        state: Option<String>,
    ) -> RouterCall {
        let ro = &pass.rollout;
        let plugin = pass.ctx.catalog.resolve(&router.plugin, PluginKind::TrafficRouter);
        let namespace = pass.namespace();
        let (grants, limits) = match &plugin {
            Ok(r) if r.builtin => {
                (crate::plugin::builtin::router_grants(&router.plugin, &router.config, &namespace), r.limits)
            }
            Ok(r) => (r.grants.clone(), r.limits),
            Err(_) => Default::default(),
        };
        let opts = CallOptions {
            grants,
            limits,
            kube: Some(KubeAccess { client: pass.ctx.client.clone(), namespace: namespace.clone() }),
            redact: Vec::new(),
        };
        let routing = ro.canary().and_then(|c| c.traffic_routing.as_ref());
        let (stable_service, canary_service) = traffic::stable_and_canary_services(ro);
        let hash = |h: &str| (!h.is_empty()).then(|| h.to_string());
        let ctx = RouterContext {
            rollout: ObjectRef {
                api_version: "argoproj.io/v1alpha1".into(),
                kind: "Rollout".into(),
                namespace,
                name: ro.name_any(),
                uid: ro.metadata.uid.clone().unwrap_or_default(),
            },
            config: router.config.to_string(),
            traffic_routing: routing
                .map(|r| serde_json::to_string(r).unwrap_or_default())
                .unwrap_or_default(),
            managed_routes: routing
                .and_then(|r| r.managed_routes.as_ref())
                .map(|m| m.iter().map(|r| r.name.clone()).collect())
                .unwrap_or_default(),
            canary_service,
            stable_service,
            stable_hash: hash(&plan.stable_hash),
            canary_hash: hash(&plan.canary_hash),
            max_weight: crate::api::defaults::max_traffic_weight(ro),
            state,
        };
        RouterCall { plugin, opts, ctx }
    }

    /// The state a reply leaves, and whether the calls go on.
    fn answered(
        &mut self,
        what: &str,
        reply: Result<RouterReply, crate::plugin::CallError>,
    ) -> Result<(), Halt> {
        let reply = reply.map_err(|e| Halt::Failed(format!("{what}: {e}")))?;
        if reply.state.is_some() {
            self.ctx.state = reply.state;
        }
        match reply.outcome {
            RouterOutcome::Done => Ok(()),
            RouterOutcome::Retry { after, message } => Err(Halt::Retry { after, message }),
            RouterOutcome::Failed(m) => Err(Halt::Failed(format!("{what}: {m}"))),
        }
    }

    /// The calls upstream makes of one router, in its order; the verification, when the weights were set.
    async fn run(
        &mut self,
        pass: &Pass<'_>,
        plan: &WeightPlan,
        extra: &[WeightDestination],
        stable_takes: bool,
    ) -> Result<Option<Verification>, Halt> {
        let plugin = match &self.plugin {
            Ok(r) => r.plugin.clone(),
            Err(e) => return Err(Halt::Failed(e.clone())),
        };
        let opts = self.opts.clone();
        let extra: Vec<crate::plugin::router::WeightDestination> = extra
            .iter()
            .map(|d| crate::plugin::router::WeightDestination {
                service_name: d.service_name.clone().unwrap_or_default(),
                pod_template_hash: d.pod_template_hash.clone().unwrap_or_default(),
                weight: d.weight,
            })
            .collect();
        if plan.remove_managed_routes {
            let r = plugin.remove_managed_routes(&opts, &self.ctx).await;
            self.answered("removing managed routes", r)?;
        }
        if !stable_takes {
            return Ok(None);
        }
        if plan.route_step {
            let (step, _) = crate::strategy::canary::current_step(&pass.rollout);
            if let Some(route) = step.and_then(|s| s.set_header_route.as_ref()) {
                let r = plugin.set_header_route(&opts, &self.ctx, &header_route(route)).await;
                self.answered("setting the header route", r)?;
            }
            if let Some(route) = step.and_then(|s| s.set_mirror_route.as_ref()) {
                let r = plugin.set_mirror_route(&opts, &self.ctx, &mirror_route(route)).await;
                self.answered("setting the mirror route", r)?;
            }
        }
        if plan.reset_weight_first {
            let r = plugin.set_weight(&opts, &self.ctx, plan.weight, &extra).await;
            self.answered("setting the weight", r)?;
        }
        let r = plugin.update_hash(&opts, &self.ctx, &plan.canary_hash, &plan.stable_hash, &extra).await;
        self.answered("updating the hashes", r)?;
        let r = plugin.set_weight(&opts, &self.ctx, plan.weight, &extra).await;
        self.answered("setting the weight", r)?;
        // A failed verification is only an Event upstream: the rest of the pass goes on.
        match plugin.verify_weight(&opts, &self.ctx, plan.weight, &extra).await {
            Ok((v, reply)) => {
                if reply.state.is_some() {
                    self.ctx.state = reply.state;
                }
                if let RouterOutcome::Failed(m) = reply.outcome {
                    tracing::warn!(rollout = %pass.name(), "failed to verify the weight: {m}");
                    return Ok(Some(Verification::NotVerified));
                }
                Ok(Some(v))
            }
            Err(e) => {
                tracing::warn!(rollout = %pass.name(), "failed to verify the weight: {e}");
                Ok(Some(Verification::NotVerified))
            }
        }
    }
}

fn string_match(m: &api::StringMatch) -> StringMatch {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(e), _, _) => StringMatch::Exact(e.clone()),
        (None, Some(p), _) => StringMatch::Prefix(p.clone()),
        (None, None, Some(r)) => StringMatch::Regex(r.clone()),
        (None, None, None) => StringMatch::Exact(String::new()),
    }
}

fn header_route(step: &api::SetHeaderRoute) -> HeaderRoute {
    HeaderRoute {
        name: step.name.clone().unwrap_or_default(),
        matches: step
            .match_
            .iter()
            .flatten()
            .map(|m| HeaderMatch {
                header_name: m.header_name.clone(),
                header_value: string_match(&m.header_value),
            })
            .collect(),
    }
}

fn mirror_route(step: &api::SetMirrorRoute) -> MirrorRoute {
    MirrorRoute {
        name: step.name.clone(),
        matches: step
            .match_
            .iter()
            .flatten()
            .map(|m| RouteMatch {
                method: m.method.as_ref().map(string_match),
                path: m.path.as_ref().map(string_match),
                headers: m.headers.iter().flatten().map(|(k, v)| (k.clone(), string_match(v))).collect(),
            })
            .collect(),
        percentage: step.percentage,
    }
}

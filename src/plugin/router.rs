//! Traffic router calls. The controller decides every weight; a router applies it and reports how it went.
//! Host-side types: every contract version's router is called through these.

use super::call::CallOptions;
use super::component::{Plugin, PluginKind};
use super::contract::{Pre, v0_1_0, v0_2_0};
use super::error::CallError;
use super::metric::ObjectRef;
use std::time::Duration;

/// What a router call is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterContext {
    /// The Rollout being served.
    pub rollout: ObjectRef,
    /// The router's own configuration (JSON).
    pub config: String,
    /// The Rollout's whole `trafficRouting` block (JSON). Not seen by 0.1.0 routers.
    pub traffic_routing: String,
    /// `trafficRouting.managedRoutes` names, in order. Not seen by 0.1.0 routers.
    pub managed_routes: Vec<String>,
    pub canary_service: String,
    pub stable_service: String,
    /// Pod-template hashes of the stable and canary ReplicaSets. Not seen by 0.1.0 routers.
    pub stable_hash: Option<String>,
    pub canary_hash: Option<String>,
    pub max_weight: i32,
    /// The state the router returned last time (kept on the Rollout's status). Not seen by 0.1.0 routers.
    pub state: Option<String>,
}

/// Traffic sent to a destination other than stable and canary (experiment services).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightDestination {
    pub service_name: String,
    pub pod_template_hash: String,
    pub weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    pub header_name: String,
    pub header_value: StringMatch,
}

/// `setHeaderRoute`: requests matching all `matches` go to the canary; no matches removes the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRoute {
    pub name: String,
    pub matches: Vec<HeaderMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub method: Option<StringMatch>,
    pub path: Option<StringMatch>,
    pub headers: Vec<(String, StringMatch)>,
}

/// `setMirrorRoute`: a copy of matching requests goes to the canary; no matches removes the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRoute {
    pub name: String,
    pub matches: Vec<RouteMatch>,
    pub percentage: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The router cannot verify weights; the controller proceeds.
    NotImplemented,
    Verified,
    NotVerified,
}

/// How a router call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouterOutcome {
    Done,
    /// Not yet: call again after `after`, showing `message`, without failing the step.
    Retry {
        after: Duration,
        message: String,
    },
    /// The change cannot be applied; the message goes onto the Rollout's status.
    Failed(String),
}

/// A router's answer: how it went and its new state (`None`: keep the previous one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterReply {
    pub outcome: RouterOutcome,
    pub state: Option<String>,
}

impl RouterReply {
    fn size(&self) -> usize {
        let outcome = match &self.outcome {
            RouterOutcome::Done => 0,
            RouterOutcome::Retry { message, .. } | RouterOutcome::Failed(message) => message.len(),
        };
        outcome + self.state.as_ref().map_or(0, String::len)
    }
}

/// One router call, with owned arguments.
#[derive(Debug, Clone)]
pub(crate) enum RouterOp {
    SetWeight { weight: i32, additional: Vec<WeightDestination> },
    SetHeaderRoute(HeaderRoute),
    SetMirrorRoute(MirrorRoute),
    VerifyWeight { weight: i32, additional: Vec<WeightDestination> },
    UpdateHash { canary_hash: String, stable_hash: String, additional: Vec<WeightDestination> },
    RemoveManagedRoutes,
}

/// What a router call answered.
#[derive(Debug)]
pub(crate) enum RouterAnswer {
    Replied(RouterReply),
    Verified(Verification, RouterReply),
}

impl From<RouterReply> for RouterAnswer {
    fn from(r: RouterReply) -> RouterAnswer {
        RouterAnswer::Replied(r)
    }
}

impl Plugin {
    async fn router_call(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        op: RouterOp,
    ) -> Result<RouterAnswer, CallError> {
        let pre = self.pre().clone();
        if !matches!(pre, Pre::Router01(_) | Pre::Router02(_)) {
            return Err(self.wrong_kind(PluginKind::TrafficRouter));
        }
        let ctx = ctx.clone();
        let answer = self
            .call(opts, move |store| {
                Box::pin(async move {
                    match &pre {
                        Pre::Router01(p) => v0_1_0::router_call(p, store, ctx, op).await,
                        Pre::Router02(p) => v0_2_0::router_call(p, store, ctx, op).await,
                        _ => unreachable!("checked above"),
                    }
                })
            })
            .await?;
        let reply = match &answer {
            RouterAnswer::Replied(r) | RouterAnswer::Verified(_, r) => r,
        };
        self.check_output(reply.size(), &opts.limits)?;
        Ok(answer)
    }

    async fn router_reply(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        op: RouterOp,
    ) -> Result<RouterReply, CallError> {
        match self.router_call(opts, ctx, op).await? {
            RouterAnswer::Replied(r) | RouterAnswer::Verified(_, r) => Ok(r),
        }
    }

    pub async fn set_weight(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<RouterReply, CallError> {
        self.router_reply(opts, ctx, RouterOp::SetWeight { weight, additional: additional.to_vec() }).await
    }

    pub async fn set_header_route(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        route: &HeaderRoute,
    ) -> Result<RouterReply, CallError> {
        self.router_reply(opts, ctx, RouterOp::SetHeaderRoute(route.clone())).await
    }

    pub async fn set_mirror_route(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        route: &MirrorRoute,
    ) -> Result<RouterReply, CallError> {
        self.router_reply(opts, ctx, RouterOp::SetMirrorRoute(route.clone())).await
    }

    pub async fn verify_weight(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(Verification, RouterReply), CallError> {
        let op = RouterOp::VerifyWeight { weight, additional: additional.to_vec() };
        match self.router_call(opts, ctx, op).await? {
            RouterAnswer::Verified(v, r) => Ok((v, r)),
            RouterAnswer::Replied(r) => Ok((Verification::NotVerified, r)),
        }
    }

    pub async fn update_hash(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        canary_hash: &str,
        stable_hash: &str,
        additional: &[WeightDestination],
    ) -> Result<RouterReply, CallError> {
        let op = RouterOp::UpdateHash {
            canary_hash: canary_hash.to_string(),
            stable_hash: stable_hash.to_string(),
            additional: additional.to_vec(),
        };
        self.router_reply(opts, ctx, op).await
    }

    pub async fn remove_managed_routes(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
    ) -> Result<RouterReply, CallError> {
        self.router_reply(opts, ctx, RouterOp::RemoveManagedRoutes).await
    }
}

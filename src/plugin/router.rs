//! Traffic router calls. The controller decides every weight; a router applies it and reports.

use super::bindings::router::TrafficRouterPluginPre;
pub use super::bindings::router::exports::serin::plugin::traffic_router::{
    HeaderMatch, HeaderRoute, MirrorRoute, RouteMatch, RouterContext, StringMatch, Verification,
    WeightDestination,
};
use super::call::CallOptions;
use super::component::{Plugin, PluginKind, Pre};
use super::error::CallError;
use super::state::CallState;

/// Router failures reported by the plugin itself (`Ok(Err(message))`) go onto the Rollout's status.
pub type RouterResult<T> = Result<Result<T, String>, CallError>;

macro_rules! router_call {
    ($self:ident, $opts:ident, |$inst:ident, $store:ident| $body:expr) => {{
        let pre = $self.router_pre()?;
        let out = $self
            .call($opts, move |$store| {
                Box::pin(async move {
                    let $inst =
                        pre.instantiate_async(&mut *$store).await.map_err(super::call::instantiation)?;
                    $body.await
                })
            })
            .await?;
        $self.check_output(out.as_ref().err().map_or(0, String::len), &$opts.limits)?;
        Ok(out)
    }};
}

impl Plugin {
    fn router_pre(&self) -> Result<TrafficRouterPluginPre<CallState>, CallError> {
        match self.pre() {
            Pre::Router(pre) => Ok(pre.clone()),
            _ => Err(self.wrong_kind(PluginKind::TrafficRouter)),
        }
    }

    pub async fn set_weight(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> RouterResult<()> {
        let (ctx, additional) = (ctx.clone(), additional.to_vec());
        router_call!(self, opts, |inst, store| inst.serin_plugin_traffic_router().call_set_weight(
            &mut *store,
            &ctx,
            weight,
            &additional
        ))
    }

    pub async fn set_header_route(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        route: &HeaderRoute,
    ) -> RouterResult<()> {
        let (ctx, route) = (ctx.clone(), route.clone());
        router_call!(self, opts, |inst, store| inst.serin_plugin_traffic_router().call_set_header_route(
            &mut *store,
            &ctx,
            &route
        ))
    }

    pub async fn set_mirror_route(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        route: &MirrorRoute,
    ) -> RouterResult<()> {
        let (ctx, route) = (ctx.clone(), route.clone());
        router_call!(self, opts, |inst, store| inst.serin_plugin_traffic_router().call_set_mirror_route(
            &mut *store,
            &ctx,
            &route
        ))
    }

    pub async fn verify_weight(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> RouterResult<Verification> {
        let (ctx, additional) = (ctx.clone(), additional.to_vec());
        router_call!(self, opts, |inst, store| inst.serin_plugin_traffic_router().call_verify_weight(
            &mut *store,
            &ctx,
            weight,
            &additional
        ))
    }

    pub async fn update_hash(
        &self,
        opts: &CallOptions,
        ctx: &RouterContext,
        canary_hash: &str,
        stable_hash: &str,
        additional: &[WeightDestination],
    ) -> RouterResult<()> {
        let (ctx, canary, stable, additional) =
            (ctx.clone(), canary_hash.to_string(), stable_hash.to_string(), additional.to_vec());
        router_call!(self, opts, |inst, store| inst.serin_plugin_traffic_router().call_update_hash(
            &mut *store,
            &ctx,
            &canary,
            &stable,
            &additional
        ))
    }

    pub async fn remove_managed_routes(&self, opts: &CallOptions, ctx: &RouterContext) -> RouterResult<()> {
        let ctx = ctx.clone();
        router_call!(self, opts, |inst, store| inst
            .serin_plugin_traffic_router()
            .call_remove_managed_routes(&mut *store, &ctx))
    }
}

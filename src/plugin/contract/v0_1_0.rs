//! `serin:plugin@0.1.0` (`wit/0.1.0`), released and frozen. Its kubernetes import works in the namespace of the
//! object being served; its router calls answer with a bare error string and carry no router state.

use crate::plugin::kube::KubeRequest;
use crate::plugin::router::{self as host, RouterOp, RouterOutcome, RouterReply};
use crate::plugin::state::CallState;

/// The metric-provider world; it also owns the shared `types`, `log`, `prometheus` and `kubernetes` interfaces.
pub mod metric {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
        world: "metric-provider-plugin",
        imports: {
            "serin:plugin/prometheus": async,
            "serin:plugin/kubernetes": async,
            default: tracing,
        },
        exports: { default: async },
    });
}

/// The condition-evaluator world.
pub mod condition {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
        world: "condition-evaluator-plugin",
        with: {
            "serin:plugin/types": super::metric::serin::plugin::types,
            "serin:plugin/log": super::metric::serin::plugin::log,
        },
        exports: { default: async },
    });
}

/// The traffic-router world.
pub mod router {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
        world: "traffic-router-plugin",
        with: {
            "serin:plugin/types": super::metric::serin::plugin::types,
            "serin:plugin/log": super::metric::serin::plugin::log,
            "serin:plugin/kubernetes": super::metric::serin::plugin::kubernetes,
        },
        exports: { default: async },
    });
}

use metric::serin::plugin::{kubernetes, log, prometheus, types};

super::log_and_prometheus_imports!(metric::serin::plugin);
super::value_conversions!(metric::serin::plugin::types);
super::metric_and_condition_calls!(metric, condition);

super::serin_imports!();

fn k8s_error(e: crate::plugin::kube::KubeError) -> kubernetes::K8sError {
    use crate::plugin::kube::KubeError as E;
    match e {
        E::Denied(m) => kubernetes::K8sError::Denied(m),
        E::Api { code, reason, message } => {
            kubernetes::K8sError::Api(kubernetes::ApiFailure { code, reason, message })
        }
        E::Unavailable(m) => kubernetes::K8sError::Unavailable(m),
        // 0.1.0 has no way to say so: the closest is a failed request.
        E::TooLarge(m) => kubernetes::K8sError::Unavailable(m),
    }
}

/// 0.1.0 calls name no namespace: they work in the served object's, and in none when it has none.
impl kubernetes::Host for CallState {
    async fn get(
        &mut self,
        api: kubernetes::ApiResource,
        name: String,
    ) -> Result<Option<String>, kubernetes::K8sError> {
        let ns = self.served_namespace().map_err(k8s_error)?;
        self.kube_get(resource(api), &ns, &name).await.map_err(k8s_error)
    }

    async fn list(
        &mut self,
        api: kubernetes::ApiResource,
        label_selector: String,
    ) -> Result<String, kubernetes::K8sError> {
        let ns = self.served_namespace().map_err(k8s_error)?;
        self.kube_list_all(resource(api), &ns, &label_selector).await.map_err(k8s_error)
    }

    async fn create(
        &mut self,
        api: kubernetes::ApiResource,
        object: String,
    ) -> Result<String, kubernetes::K8sError> {
        let ns = self.served_namespace().map_err(k8s_error)?;
        self.kube_write(resource(api), &ns, None, KubeRequest::Create(object)).await.map_err(k8s_error)
    }

    async fn replace(
        &mut self,
        api: kubernetes::ApiResource,
        name: String,
        object: String,
    ) -> Result<String, kubernetes::K8sError> {
        let ns = self.served_namespace().map_err(k8s_error)?;
        self.kube_write(resource(api), &ns, Some(&name), KubeRequest::Replace(object))
            .await
            .map_err(k8s_error)
    }

    async fn merge_patch(
        &mut self,
        api: kubernetes::ApiResource,
        name: String,
        patch: String,
    ) -> Result<String, kubernetes::K8sError> {
        let ns = self.served_namespace().map_err(k8s_error)?;
        self.kube_write(resource(api), &ns, Some(&name), KubeRequest::MergePatch(patch))
            .await
            .map_err(k8s_error)
    }

    async fn delete(
        &mut self,
        api: kubernetes::ApiResource,
        name: String,
    ) -> Result<(), kubernetes::K8sError> {
        let ns = self.served_namespace().map_err(k8s_error)?;
        self.kube_delete(resource(api), &ns, &name).await.map_err(k8s_error)
    }
}

use router::exports::serin::plugin::traffic_router as wit;

fn router_ctx(c: &host::RouterContext) -> wit::RouterContext {
    wit::RouterContext {
        rollout: object_ref(&c.rollout),
        config: c.config.clone(),
        canary_service: c.canary_service.clone(),
        stable_service: c.stable_service.clone(),
        max_weight: c.max_weight,
    }
}

super::route_conversions!(wit);

/// 0.1.0's bare result: `Ok` is done, `Err` a failure; there is no state.
fn reply(out: Result<(), String>) -> RouterReply {
    RouterReply { outcome: out.map_or_else(RouterOutcome::Failed, |()| RouterOutcome::Done), state: None }
}

/// Runs one traffic-router call on a fresh instance.
pub(crate) async fn router_call(
    pre: &router::TrafficRouterPluginPre<CallState>,
    store: &mut wasmtime::Store<CallState>,
    ctx: host::RouterContext,
    op: RouterOp,
) -> wasmtime::Result<host::RouterAnswer> {
    let inst = pre.instantiate_async(&mut *store).await.map_err(crate::plugin::call::instantiation)?;
    let guest = inst.serin_plugin_traffic_router();
    let c = router_ctx(&ctx);
    Ok(match op {
        RouterOp::SetWeight { weight, additional } => {
            reply(guest.call_set_weight(&mut *store, &c, weight, &destinations(&additional)).await?).into()
        }
        RouterOp::SetHeaderRoute(route) => {
            reply(guest.call_set_header_route(&mut *store, &c, &header_route(&route)).await?).into()
        }
        RouterOp::SetMirrorRoute(route) => {
            reply(guest.call_set_mirror_route(&mut *store, &c, &mirror_route(&route)).await?).into()
        }
        RouterOp::VerifyWeight { weight, additional } => {
            match guest.call_verify_weight(&mut *store, &c, weight, &destinations(&additional)).await? {
                Ok(v) => host::RouterAnswer::Verified(
                    match v {
                        wit::Verification::NotImplemented => host::Verification::NotImplemented,
                        wit::Verification::Verified => host::Verification::Verified,
                        wit::Verification::NotVerified => host::Verification::NotVerified,
                    },
                    RouterReply { outcome: RouterOutcome::Done, state: None },
                ),
                Err(e) => host::RouterAnswer::Verified(host::Verification::NotVerified, reply(Err(e))),
            }
        }
        RouterOp::UpdateHash { canary_hash, stable_hash, additional } => reply(
            guest
                .call_update_hash(&mut *store, &c, &canary_hash, &stable_hash, &destinations(&additional))
                .await?,
        )
        .into(),
        RouterOp::RemoveManagedRoutes => {
            reply(guest.call_remove_managed_routes(&mut *store, &c).await?).into()
        }
    })
}

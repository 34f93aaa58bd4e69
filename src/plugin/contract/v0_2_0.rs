//! `serin:plugin@0.2.0` (`wit/0.2.0`): worlds that declare every import they may use (WASI included, vendored
//! under `wit/0.2.0/deps`), a kubernetes import that names its namespace and can JSON-patch and apply, routers
//! with context, state and a structured outcome, and step plugins.

use crate::plugin::kube::KubeRequest;
use crate::plugin::router::{self as host, RouterOp, RouterOutcome, RouterReply};
use crate::plugin::state::CallState;
use crate::plugin::step::{self as step_host, StepOp};

/// The metric-provider world; it also owns the shared `types`, `log`, `prometheus` and `kubernetes` interfaces.
pub mod metric {
    wasmtime::component::bindgen!({
        path: "wit/0.2.0",
        world: "metric-provider-plugin",
        imports: {
            "serin:plugin/prometheus": async,
            "serin:plugin/kubernetes": async,
            default: tracing,
        },
        exports: { default: async },
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        },
    });
}

/// The condition-evaluator world.
pub mod condition {
    wasmtime::component::bindgen!({
        path: "wit/0.2.0",
        world: "condition-evaluator-plugin",
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "serin:plugin/types": super::metric::serin::plugin::types,
            "serin:plugin/log": super::metric::serin::plugin::log,
        },
        exports: { default: async },
    });
}

/// The traffic-router world.
pub mod router {
    wasmtime::component::bindgen!({
        path: "wit/0.2.0",
        world: "traffic-router-plugin",
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "serin:plugin/types": super::metric::serin::plugin::types,
            "serin:plugin/log": super::metric::serin::plugin::log,
            "serin:plugin/kubernetes": super::metric::serin::plugin::kubernetes,
        },
        exports: { default: async },
    });
}

/// The step-plugin world.
pub mod step {
    wasmtime::component::bindgen!({
        path: "wit/0.2.0",
        world: "step-plugin",
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
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
super::metric_and_condition_calls!(metric, condition, check);

super::serin_imports!();

fn k8s_error(e: crate::plugin::kube::KubeError) -> kubernetes::K8sError {
    use crate::plugin::kube::KubeError as E;
    match e {
        E::Denied(m) => kubernetes::K8sError::Denied(m),
        E::Api { code, reason, message } => {
            kubernetes::K8sError::Api(kubernetes::ApiFailure { code, reason, message })
        }
        E::Unavailable(m) => kubernetes::K8sError::Unavailable(m),
        E::TooLarge(m) => kubernetes::K8sError::TooLarge(m),
    }
}

type K8sResult<T> = Result<T, kubernetes::K8sError>;

impl kubernetes::Host for CallState {
    async fn get(
        &mut self,
        api: kubernetes::ApiResource,
        namespace: String,
        name: String,
    ) -> K8sResult<Option<String>> {
        self.kube_get(resource(api), &namespace, &name).await.map_err(k8s_error)
    }

    async fn list(
        &mut self,
        api: kubernetes::ApiResource,
        namespace: String,
        label_selector: String,
        limit: u32,
        continue_token: Option<String>,
    ) -> K8sResult<kubernetes::ListPage> {
        let (list, next) = self
            .kube_list_page(resource(api), &namespace, &label_selector, limit, continue_token)
            .await
            .map_err(k8s_error)?;
        Ok(kubernetes::ListPage { list, continue_token: next })
    }

    async fn create(
        &mut self,
        api: kubernetes::ApiResource,
        namespace: String,
        object: String,
    ) -> K8sResult<String> {
        self.kube_write(resource(api), &namespace, None, KubeRequest::Create(object)).await.map_err(k8s_error)
    }

    async fn replace(
        &mut self,
        api: kubernetes::ApiResource,
        namespace: String,
        name: String,
        object: String,
    ) -> K8sResult<String> {
        self.kube_write(resource(api), &namespace, Some(&name), KubeRequest::Replace(object))
            .await
            .map_err(k8s_error)
    }

    async fn merge_patch(
        &mut self,
        api: kubernetes::ApiResource,
        namespace: String,
        name: String,
        patch: String,
    ) -> K8sResult<String> {
        self.kube_write(resource(api), &namespace, Some(&name), KubeRequest::MergePatch(patch))
            .await
            .map_err(k8s_error)
    }

    async fn json_patch(
        &mut self,
        api: kubernetes::ApiResource,
        namespace: String,
        name: String,
        patch: String,
    ) -> K8sResult<String> {
        self.kube_write(resource(api), &namespace, Some(&name), KubeRequest::JsonPatch(patch))
            .await
            .map_err(k8s_error)
    }

    async fn apply(
        &mut self,
        api: kubernetes::ApiResource,
        namespace: String,
        name: String,
        object: String,
        force: bool,
    ) -> K8sResult<String> {
        self.kube_write(resource(api), &namespace, Some(&name), KubeRequest::Apply { object, force })
            .await
            .map_err(k8s_error)
    }

    async fn delete(
        &mut self,
        api: kubernetes::ApiResource,
        namespace: String,
        name: String,
    ) -> K8sResult<()> {
        self.kube_delete(resource(api), &namespace, &name).await.map_err(k8s_error)
    }
}

use router::exports::serin::plugin::traffic_router as wit;

fn router_ctx(c: &host::RouterContext) -> wit::RouterContext {
    wit::RouterContext {
        rollout: object_ref(&c.rollout),
        config: c.config.clone(),
        traffic_routing: c.traffic_routing.clone(),
        managed_routes: c.managed_routes.clone(),
        canary_service: c.canary_service.clone(),
        stable_service: c.stable_service.clone(),
        stable_hash: c.stable_hash.clone(),
        canary_hash: c.canary_hash.clone(),
        max_weight: c.max_weight,
        state: c.state.clone(),
    }
}

super::route_conversions!(wit);

fn reply(r: wit::Reply) -> RouterReply {
    RouterReply {
        outcome: match r.outcome {
            wit::Outcome::Done => RouterOutcome::Done,
            wit::Outcome::Retry(retry) => RouterOutcome::Retry {
                after: std::time::Duration::from_millis(retry.after_ms),
                message: retry.message,
            },
            wit::Outcome::Failed(m) => RouterOutcome::Failed(m),
        },
        state: r.state,
    }
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
            let v = guest.call_verify_weight(&mut *store, &c, weight, &destinations(&additional)).await?;
            host::RouterAnswer::Verified(
                match v.verification {
                    wit::Verification::NotImplemented => host::Verification::NotImplemented,
                    wit::Verification::Verified => host::Verification::Verified,
                    wit::Verification::NotVerified => host::Verification::NotVerified,
                },
                reply(v.reply),
            )
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

/// Runs one step-plugin call on a fresh instance.
pub(crate) async fn step_call(
    pre: &step::StepPluginPre<CallState>,
    store: &mut wasmtime::Store<CallState>,
    ctx: step_host::StepContext,
    op: StepOp,
) -> wasmtime::Result<step_host::StepResult> {
    use step::exports::serin::plugin::step as wit;
    let inst = pre.instantiate_async(&mut *store).await.map_err(crate::plugin::call::instantiation)?;
    let guest = inst.serin_plugin_step();
    let c = wit::StepContext {
        rollout: object_ref(&ctx.rollout),
        rollout_object: ctx.rollout_object,
        step_index: ctx.step_index,
        config: ctx.config,
        status: ctx.status,
        executions: ctx.executions,
        started_at: ctx.started_at.map(time_to_wit),
    };
    let out = match op {
        StepOp::Run => guest.call_run(&mut *store, &c).await?,
        StepOp::Terminate => guest.call_terminate(&mut *store, &c).await?,
        StepOp::Abort => guest.call_abort(&mut *store, &c).await?,
    };
    Ok(step_host::StepResult {
        phase: match out.phase {
            wit::StepPhase::Running => step_host::StepPhase::Running,
            wit::StepPhase::Successful => step_host::StepPhase::Successful,
            wit::StepPhase::Failed => step_host::StepPhase::Failed,
            wit::StepPhase::Error => step_host::StepPhase::Error,
        },
        message: out.message,
        requeue_after: out.requeue_after_ms.map(std::time::Duration::from_millis),
        status: out.status,
    })
}

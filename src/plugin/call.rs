//! One plugin call: a fresh `Store` with this call's capabilities and limits, instantiation from the pre-linked
//! plugin, the call itself under a deadline, and every way it can fail turned into a [`CallError`].

use super::component::{Plugin, PluginKind, Pre};
use super::error::CallError;
use super::grants::Grants;
use super::http::HttpPolicy;
use super::kube::KubeAccess;
use super::limits::Limits;
use super::runtime::EPOCH_TICK;
use super::state::{Audit, CallState, HostContext};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Store, Trap};

/// Log lines a plugin may emit per call.
const LOG_LINES_PER_CALL: u32 = 100;

/// Extra wall-clock time allowed past the deadline for the epoch interrupt to land before the host gives up on
/// the call (a plugin blocked in a host call is cancelled at the deadline itself).
const DEADLINE_GRACE: Duration = Duration::from_millis(50);

/// What one call may do.
#[derive(Clone, Default)]
pub struct CallOptions {
    pub grants: Grants,
    pub limits: Limits,
    /// The cluster and namespace the `kubernetes` import works in; `None` when there is no cluster.
    pub kube: Option<KubeAccess>,
}

pub(crate) type CallFuture<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

impl Plugin {
    pub(crate) fn expect_kind(&self, kind: PluginKind) -> Result<(), CallError> {
        if self.info.kind == kind {
            Ok(())
        } else {
            Err(CallError::WrongKind {
                plugin: self.name.clone(),
                expected: kind_name(kind),
                actual: kind_name(self.info.kind),
            })
        }
    }

    pub(crate) fn pre(&self) -> &Pre {
        &self.pre
    }

    /// Runs `f` against a fresh store under the call's limits and classifies the outcome.
    pub(crate) async fn call<R, F>(&self, opts: &CallOptions, f: F) -> Result<R, CallError>
    where
        F: for<'a> FnOnce(&'a mut Store<CallState>) -> CallFuture<'a, R>,
    {
        let inner = self.runtime.inner();
        let plugin: Arc<str> = Arc::from(self.name.as_str());
        let grants = Arc::new(opts.grants.clone());
        let audit = Arc::new(Audit::default());
        let deadline = opts.limits.deadline;
        let http = HttpPolicy {
            plugin: plugin.clone(),
            grants: grants.clone(),
            audit: audit.clone(),
            tls: inner.tls.clone(),
            deadline,
        };
        let host = HostContext {
            plugin,
            grants,
            kube: opts.kube.clone(),
            audit: audit.clone(),
            prometheus: inner.prometheus.clone(),
            prometheus_insecure: inner.prometheus_insecure.clone(),
            log_budget: LOG_LINES_PER_CALL,
        };
        let mut store = Store::new(&inner.engine, CallState::new(host, http, opts.limits.memory));
        store.limiter(|s| &mut s.limiter);
        let ticks = deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();

        let outcome = tokio::time::timeout(deadline + DEADLINE_GRACE, f(&mut store)).await;
        let denied = audit.denied();
        if !denied.is_empty() {
            return Err(CallError::Denied { plugin: self.name.clone(), what: denied.join("; ") });
        }
        match outcome {
            Err(_elapsed) => Err(CallError::Timeout { plugin: self.name.clone(), deadline }),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.classify(e, store.data(), &opts.limits)),
        }
    }

    fn classify(&self, e: wasmtime::Error, state: &CallState, limits: &Limits) -> CallError {
        let plugin = self.name.clone();
        if state.limiter.exceeded {
            return CallError::MemoryExceeded { plugin, limit: limits.memory };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::Timeout { plugin, deadline: limits.deadline },
            Some(Trap::StackOverflow) => CallError::StackOverflow { plugin },
            Some(trap) => {
                let message = match state.stderr_tail() {
                    Some(stderr) => format!("{trap}: {stderr}"),
                    None => trap.to_string(),
                };
                CallError::Trap { plugin, message }
            }
            None if e.to_string().contains("pooling allocator") || e.to_string().contains("instantiat") => {
                CallError::Instantiate { plugin, message: format!("{e:#}") }
            }
            None => CallError::Trap { plugin, message: format!("{e:#}") },
        }
    }

    /// Fails the call when the answer is larger than the output cap.
    pub(crate) fn check_output(&self, size: usize, limits: &Limits) -> Result<(), CallError> {
        if size > limits.output {
            return Err(CallError::OutputTooLarge { plugin: self.name.clone(), size, limit: limits.output });
        }
        Ok(())
    }
}

fn kind_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::MetricProvider => "metric provider",
        PluginKind::ConditionEvaluator => "condition evaluator",
        PluginKind::TrafficRouter => "traffic router",
    }
}

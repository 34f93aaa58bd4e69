//! One plugin call: a fresh `Store` with this call's capabilities and limits, instantiation from the pre-linked
//! plugin, the call itself under a deadline, and every way it can fail turned into a [`CallError`].

use super::component::{Plugin, PluginKind};
use super::contract::Pre;
use super::error::CallError;
use super::grants::Grants;
use super::http::HttpPolicy;
use super::kube::KubeAccess;
use super::limits::Limits;
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

/// Marks a failure to instantiate (as opposed to a failure of the call itself).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Instantiation(pub String);

/// Wraps an instantiation error so the call's outcome can tell it apart.
pub(crate) fn instantiation(e: wasmtime::Error) -> wasmtime::Error {
    wasmtime::Error::from(Instantiation(format!("{e:#}")))
}

/// What one call may do.
#[derive(Clone, Default)]
pub struct CallOptions {
    pub grants: Grants,
    pub limits: Limits,
    /// The cluster and namespace the `kubernetes` import works in; `None` when there is no cluster.
    pub kube: Option<KubeAccess>,
    /// Values (secret arguments) replaced by `*****` in what the plugin logs.
    pub redact: Vec<String>,
}

pub(crate) type CallFuture<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

impl Plugin {
    /// The error for calling this plugin as a `kind` it is not.
    pub(crate) fn wrong_kind(&self, kind: PluginKind) -> CallError {
        CallError::WrongKind {
            plugin: self.name.clone(),
            expected: kind.noun(),
            actual: self.info.kind.noun(),
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
        let started = std::time::Instant::now();
        let result = self.call_counted(opts, f).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        super::stats::called(&self.name, started.elapsed(), outcome);
        result
    }

    async fn call_counted<R, F>(&self, opts: &CallOptions, f: F) -> Result<R, CallError>
    where
        F: for<'a> FnOnce(&'a mut Store<CallState>) -> CallFuture<'a, R>,
    {
        let inner = self.runtime.inner();
        let plugin: Arc<str> = Arc::from(self.name.as_str());
        let grants = Arc::new(opts.grants.clone());
        let audit = Arc::new(Audit::default());
        let deadline = opts.limits.deadline;
        let network = self.runtime.network();
        let http = HttpPolicy {
            plugin: plugin.clone(),
            grants: grants.clone(),
            audit: audit.clone(),
            network: network.clone(),
            deadline,
            in_flight: Arc::new(tokio::sync::Semaphore::new(super::http::MAX_REQUESTS_IN_FLIGHT)),
        };
        let host = HostContext {
            plugin,
            grants,
            kube: opts.kube.clone(),
            audit: audit.clone(),
            network,
            log_budget: LOG_LINES_PER_CALL,
            redact: opts.redact.clone().into(),
            output_cap: opts.limits.output,
        };
        let mut store = Store::new(&inner.engine, CallState::new(host, http, opts.limits.memory));
        store.limiter(|s| &mut s.limiter);
        // A running plugin yields to the executor at every epoch tick, so it never holds a worker thread for
        // long; the deadline below then cancels it wherever it is, in wasm or in a host call.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);

        let slots = inner.slots.clone();
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let run = {
            let started = started.clone();
            async move {
                // Instance slots are finite: wait for one (within the deadline) rather than fail to instantiate.
                let _slot = slots.acquire_owned().await;
                started.store(true, std::sync::atomic::Ordering::Relaxed);
                f(&mut store).await.map_err(|e| (e, store))
            }
        };
        let outcome = tokio::time::timeout(deadline.saturating_add(DEADLINE_GRACE), run).await;
        if let Some(what) = audit.summary() {
            return Err(CallError::Denied { plugin: self.name.clone(), what });
        }
        match outcome {
            Err(_elapsed) if !started.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(CallError::Busy { plugin: self.name.clone(), deadline })
            }
            Err(_elapsed) => Err(CallError::Timeout { plugin: self.name.clone(), deadline }),
            Ok(Ok(value)) => Ok(value),
            Ok(Err((e, store))) => Err(self.classify(e, store.data(), &opts.limits)),
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
            _ if let Some(message) = state.panic_message() => CallError::Panic { plugin, message },
            Some(trap) => {
                let message = match state.stderr_tail() {
                    Some(stderr) => format!("{trap}: {stderr}"),
                    None => trap.to_string(),
                };
                CallError::Trap { plugin, message }
            }
            None => match e.downcast_ref::<Instantiation>() {
                Some(Instantiation(message)) => CallError::Instantiate { plugin, message: message.clone() },
                None => CallError::Trap { plugin, message: format!("{e:#}") },
            },
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

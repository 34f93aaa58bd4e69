//! The per-call store state: a deny-by-default WASI context, the HTTP policy, the memory limiter, the capabilities
//! of this call and the record of anything the plugin was denied.

use super::grants::Grants;
use super::http::HttpPolicy;
use super::kube::KubeAccess;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What a plugin wrote to stderr is kept (up to this much) to explain traps, e.g. a Rust panic message.
const STDERR_CAPTURE: usize = 16 * 1024;

/// State of one call's `Store`.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    http: HttpPolicy,
    pub(crate) limiter: Limiter,
    pub(crate) host: HostContext,
    stderr: MemoryOutputPipe,
}

/// What the host imports need: who is calling, with which capabilities.
pub struct HostContext {
    pub plugin: Arc<str>,
    pub grants: Arc<Grants>,
    pub kube: Option<KubeAccess>,
    pub audit: Arc<Audit>,
    pub prometheus: reqwest::Client,
    pub prometheus_insecure: reqwest::Client,
    /// Log lines left for this call (a flood is cut off, not forwarded).
    pub log_budget: u32,
}

/// Calls a plugin was denied during one call. A denied call fails the whole call, even if the plugin swallowed
/// the error, so an author sees exactly what the sandbox refused.
#[derive(Debug, Default)]
pub struct Audit {
    denied: Mutex<Vec<String>>,
}

impl Audit {
    pub fn deny(&self, what: impl Into<String>) {
        if let Ok(mut d) = self.denied.lock() {
            d.push(what.into());
        }
    }

    pub fn denied(&self) -> Vec<String> {
        self.denied.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

impl CallState {
    pub(crate) fn new(host: HostContext, http: HttpPolicy, memory_limit: u64) -> CallState {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        // Deny by default: no arguments, environment, preopened directories or sockets.
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http,
            limiter: Limiter { memory: memory_limit, exceeded: false },
            host,
            stderr,
        }
    }

    /// The last line the plugin wrote to stderr, if any (a panic message, typically).
    pub(crate) fn stderr_tail(&self) -> Option<String> {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        Some(tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http_ctx, table: &mut self.table, hooks: &mut self.http }
    }
}

/// Memory cap for one call. Growing past it traps at once (rather than returning -1, which guests tend to turn
/// into a confusing abort), and records why so the error can say so.
pub(crate) struct Limiter {
    memory: u64,
    pub(crate) exceeded: bool,
}

/// Marker error for a refused memory growth, found again when the trap is classified.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
pub(crate) struct MemoryLimitExceeded;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory {
            self.exceeded = true;
            return Err(MemoryLimitExceeded.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

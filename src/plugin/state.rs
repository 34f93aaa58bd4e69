//! The per-call store state: a deny-by-default WASI context, the HTTP policy, the memory limiter, the capabilities
//! of this call and the record of anything the plugin was denied.

use super::grants::Grants;
use super::http::HttpPolicy;
use super::kube::KubeAccess;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
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
    stderr: TailPipe,
}

/// What the host imports need: who is calling, with which capabilities.
pub struct HostContext {
    pub plugin: Arc<str>,
    pub grants: Arc<Grants>,
    pub kube: Option<KubeAccess>,
    pub audit: Arc<Audit>,
    /// Where connections may go (the typed Prometheus import connects through it).
    pub network: Arc<super::net::Network>,
    /// Log lines left for this call (a flood is cut off, not forwarded).
    pub log_budget: u32,
    /// Values (secret arguments) replaced by `*****` in what the plugin logs.
    pub redact: Arc<[String]>,
    /// The call's output cap: no host import hands the plugin (or holds for it) an answer larger than this.
    pub output_cap: usize,
}

/// Calls a plugin was denied during one call. A denied call fails the whole call, even if the plugin swallowed
/// the error, so an author sees exactly what the sandbox refused. Kept small: distinct reasons, a few of them.
#[derive(Debug, Default)]
pub struct Audit {
    denied: Mutex<(Vec<String>, usize)>,
}

/// Distinct denial reasons kept per call; further ones are only counted.
const DENIALS_KEPT: usize = 4;

impl Audit {
    pub fn deny(&self, what: impl Into<String>) {
        if let Ok(mut d) = self.denied.lock() {
            let what = what.into();
            d.1 += 1;
            if d.0.len() < DENIALS_KEPT && !d.0.contains(&what) {
                d.0.push(what);
            }
        }
    }

    /// The denials as one line, if there were any.
    pub fn summary(&self) -> Option<String> {
        let d = self.denied.lock().ok()?;
        if d.1 == 0 {
            return None;
        }
        let mut line = d.0.join("; ");
        let shown = d.0.len();
        if d.1 > shown {
            line.push_str(&format!(" (and {} more denied calls)", d.1 - shown));
        }
        Some(line)
    }
}

/// Keeps the last bytes a plugin writes to stderr (where a panic message ends up) and never refuses a write,
/// so a chatty plugin is not trapped for it.
#[derive(Clone, Default)]
pub(crate) struct TailPipe {
    tail: Arc<Mutex<std::collections::VecDeque<u8>>>,
}

impl TailPipe {
    fn contents(&self) -> Vec<u8> {
        self.tail.lock().map(|t| t.iter().copied().collect()).unwrap_or_default()
    }
}

impl wasmtime_wasi::cli::IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for TailPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for TailPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let Ok(mut tail) = self.tail.lock() {
            tail.extend(buf.iter().rev().take(STDERR_CAPTURE).rev());
            let excess = tail.len().saturating_sub(STDERR_CAPTURE);
            tail.drain(..excess);
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Live resources one call may hold in the host.
const MAX_RESOURCES: usize = 1024;
/// Bytes of one header map a plugin may build.
const MAX_FIELDS_SIZE: usize = 64 << 10;

impl CallState {
    pub(crate) fn new(host: HostContext, http: HttpPolicy, memory_limit: u64) -> CallState {
        let stderr = TailPipe::default();
        // Deny by default: no arguments, environment, preopened directories or sockets.
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        // Host-side state a plugin can make the host hold is bounded too, not only its linear memory: at most
        // this many live resources (fields, requests, streams, …), each header map at most 64 KiB.
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let mut http_ctx = WasiHttpCtx::new();
        http_ctx.set_field_size_limit(MAX_FIELDS_SIZE);
        CallState {
            wasi,
            table,
            http_ctx,
            http,
            limiter: Limiter { memory: memory_limit, used: 0, exceeded: false },
            host,
            stderr,
        }
    }

    /// What a panicking plugin said, if its stderr ends with a Rust or Go panic report.
    pub(crate) fn panic_message(&self) -> Option<String> {
        panic_report(&String::from_utf8_lossy(&self.stderr.contents()))
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

/// Memory cap for one call, over all of the instance's linear memories together. Growing past it traps at once
/// (rather than returning -1, which guests tend to turn into a confusing abort), and records why.
pub(crate) struct Limiter {
    memory: u64,
    /// Bytes of linear memory the call holds so far.
    used: u64,
    pub(crate) exceeded: bool,
}

/// Marker error for a refused memory growth, found again when the trap is classified.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
pub(crate) struct MemoryLimitExceeded;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.used.saturating_add((desired as u64).saturating_sub(current as u64));
        if after > self.memory {
            self.exceeded = true;
            return Err(MemoryLimitExceeded.into());
        }
        self.used = after;
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

/// The message and place of the last panic report in a plugin's stderr: Rust's
/// `thread '…' panicked at FILE:LINE:COL:` followed by the message (older toolchains put the message on the same
/// line, quoted), or Go's `panic: MESSAGE` followed by the goroutine trace.
fn panic_report(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    // `thread 'NAME' panicked at …`, or `thread 'NAME' (ID) panicked at …` on newer toolchains.
    let rust = lines.iter().rposition(|l| l.starts_with("thread '") && l.contains(" panicked at "));
    if let Some(at) = rust {
        let head = lines[at].split_once(" panicked at ").map_or("", |(_, rest)| rest);
        // `FILE:LINE:COL:` then the message on the following lines, up to the backtrace note.
        if let Some(place) = head.strip_suffix(':') {
            let message: Vec<&str> = lines[at + 1..]
                .iter()
                .take_while(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            let message = if message.is_empty() { "(no message)".to_string() } else { message.join(" ") };
            return Some(format!("{message} (at {place})"));
        }
        // Older form: `'MESSAGE', FILE:LINE:COL`.
        if let Some((message, place)) = head.rsplit_once("', ") {
            return Some(format!("{} (at {place})", message.trim_start_matches('\'')));
        }
        return Some(head.to_string());
    }
    let go = lines.iter().rposition(|l| l.starts_with("panic: "))?;
    let message = lines[go].trim_start_matches("panic: ").trim();
    // The first frame of the panicking goroutine names the function, the line after it the place.
    let place = lines[go + 1..]
        .iter()
        .skip_while(|l| !l.starts_with("goroutine "))
        .nth(2)
        .map(|l| l.trim().split(' ').next().unwrap_or("").to_string())
        .filter(|p| !p.is_empty());
    Some(match place {
        Some(place) => format!("{message} (at {place})"),
        None => message.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::panic_report;

    #[test]
    fn panic_reports_of_rust_and_go_read_as_one_line() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "thread '<unnamed>' panicked at src/lib.rs:109:25:\nhostile plugin panics on purpose\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
                Some("hostile plugin panics on purpose (at src/lib.rs:109:25)"),
            ),
            (
                "thread '<unnamed>' (1) panicked at testing/hostile/src/lib.rs:109:24:\nmessage\n",
                Some("message (at testing/hostile/src/lib.rs:109:24)"),
            ),
            (
                "thread 'main' panicked at src/a.rs:1:2:\nline one\nline two\n",
                Some("line one line two (at src/a.rs:1:2)"),
            ),
            (
                "thread 'main' panicked at 'index out of bounds', src/a.rs:3:4\n",
                Some("index out of bounds (at src/a.rs:3:4)"),
            ),
            (
                "log line\npanic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.measure(...)\n\t/src/main.go:12 +0x2\n",
                Some("runtime error: index out of range [3] with length 3 (at /src/main.go:12)"),
            ),
            ("panic: boom\n", Some("boom")),
            ("just a log line\n", None),
            ("", None),
        ];
        for (stderr, want) in cases {
            assert_eq!(panic_report(stderr).as_deref(), *want, "{stderr:?}");
        }
    }
}

//! Test plugin: a metric provider that misbehaves in the way its config names, so tests can show the sandbox
//! contains each kind of misbehaviour and the host keeps serving other calls.
//!
//! Config is one word, optionally followed by an argument: `loop`, `sleep`, `memory`, `stack`, `shadow-stack`,
//! `panic`, `trap`,
//! `huge-output`, `http URL`, `file PATH`, `env`, `kubernetes`, `prometheus URL`, `resources`,
//! `requests AUTHORITY` (many requests at once to a plain-HTTP authority), `ok`.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "metric-provider-plugin",
});

use exports::serin::plugin::metric_provider::{
    Decided, DecidedPhase, Guest, InFlight, MetricContext, Observation,
};
use serin::plugin::{kubernetes, prometheus};
use serin_plugin_support::http;

struct Hostile;

fn decided(value: String) -> Observation {
    Observation::Decided(Decided {
        phase: DecidedPhase::Successful,
        value: Some(value),
        message: None,
        metadata: vec![],
    })
}

/// Deep recursion with small frames: exhausts the wasm call stack.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))) + 1
}

/// Deep recursion with big locals: exhausts the guest's own stack in linear memory first.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_big(depth: u64, sink: &mut [u8; 256]) -> u64 {
    sink[(depth % 256) as usize] = depth as u8;
    let mut local = [0u8; 256];
    local.copy_from_slice(sink);
    recurse_big(depth + 1, &mut local) + u64::from(local[3])
}

/// Starts 20 requests at once to `authority` (a server that never answers) and reports how many the host refused
/// for having too many in flight.
fn many_requests(authority: &str) -> Observation {
    use wasip2::http::types::{ErrorCode, Fields, OutgoingRequest, Scheme};
    let mut futures = Vec::new();
    for _ in 0..20 {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_scheme(Some(&Scheme::Http));
        let _ = request.set_authority(Some(authority));
        let _ = request.set_path_with_query(Some("/"));
        match wasip2::http::outgoing_handler::handle(request, None) {
            Ok(f) => futures.push(f),
            Err(e) => return Observation::Error(format!("handle: {e:?}")),
        }
    }
    let mut refused = 0;
    let mut pending: Vec<usize> = (0..futures.len()).collect();
    // The requests the host lets through hang; the refused ones end at once. Wait until 12 have ended.
    while refused + (futures.len() - pending.len() - refused) < 12 {
        let pollables: Vec<_> = pending.iter().map(|&i| futures[i].subscribe()).collect();
        let ready = wasip2::io::poll::poll(&pollables.iter().collect::<Vec<_>>());
        let done: Vec<usize> = ready.iter().map(|&r| pending[r as usize]).collect();
        for i in &done {
            if let Some(Ok(Err(ErrorCode::InternalError(Some(m))))) = futures[*i].get()
                && m.contains("in flight")
            {
                refused += 1;
            }
        }
        pending.retain(|i| !done.contains(i));
    }
    decided(format!("refused {refused}"))
}

impl Guest for Hostile {
    fn run(ctx: MetricContext) -> Observation {
        // The config is JSON; registered through an AnalysisRun it is a JSON string, from tests often bare text.
        let config = ctx.config.strip_prefix('"').and_then(|c| c.strip_suffix('"')).unwrap_or(&ctx.config);
        let (mode, arg) = config.split_once(' ').unwrap_or((config, ""));
        match mode {
            "ok" => decided("fine".into()),
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            // Blocks in the host (wasi:clocks) rather than spinning: the deadline must still apply.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                decided("woke".into())
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "stack" => decided(recurse(0).to_string()),
            "shadow-stack" => decided(recurse_big(0, &mut [0u8; 256]).to_string()),
            "panic" => panic!("hostile plugin panics on purpose"),
            "trap" => core::arch::wasm32::unreachable(),
            "huge-output" => decided("x".repeat(8 << 20)),
            "http" => {
                let req = http::Request {
                    method: "GET".into(),
                    url: arg.to_string(),
                    headers: vec![],
                    body: None,
                    timeout: std::time::Duration::from_secs(5),
                };
                match http::send(&req) {
                    Ok(r) => {
                        decided(format!("status {} body {}", r.status, String::from_utf8_lossy(&r.body)))
                    }
                    Err(e) => Observation::Error(e.into()),
                }
            }
            "resources" => {
                // Makes the host hold ever more resources: header maps of 60 KiB each, all kept alive.
                let value = vec![b'v'; 60 << 10];
                let mut held = Vec::new();
                for _ in 0..100_000 {
                    match wasip2::http::types::Fields::from_list(&[("x".to_string(), value.clone())]) {
                        Ok(f) => held.push(f),
                        Err(e) => return Observation::Error(format!("fields refused: {e:?}")),
                    }
                }
                decided(format!("holding {}", held.len()))
            }
            "requests" => many_requests(arg),
            "file" => match std::fs::read_to_string(arg) {
                Ok(s) => {
                    decided(format!("read {} bytes: {}", s.len(), s.chars().take(40).collect::<String>()))
                }
                Err(e) => Observation::Error(format!("file: {e}")),
            },
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                if vars.is_empty() {
                    Observation::Error("env: empty".into())
                } else {
                    decided(vars.join(";"))
                }
            }
            "kubernetes" => {
                let res = kubernetes::ApiResource {
                    group: String::new(),
                    version: "v1".into(),
                    plural: "secrets".into(),
                };
                match kubernetes::list(&res, "") {
                    Ok(list) => decided(list),
                    Err(e) => Observation::Error(format!("kubernetes: {e:?}")),
                }
            }
            "prometheus" => {
                let endpoint = prometheus::Endpoint {
                    address: arg.to_string(),
                    headers: vec![],
                    timeout_seconds: Some(5),
                    insecure: false,
                };
                match prometheus::query(&endpoint, "up", None) {
                    Ok(_) => decided("queried".into()),
                    Err(e) => Observation::Error(format!("prometheus: {e:?}")),
                }
            }
            other => Observation::Error(format!("unknown mode {other:?}")),
        }
    }

    fn resume(_ctx: MetricContext, _m: InFlight) -> Observation {
        Observation::Error("not long-running".into())
    }

    fn terminate(_ctx: MetricContext, _m: InFlight) -> Observation {
        Observation::Error("not long-running".into())
    }

    fn garbage_collect(_ctx: MetricContext, _keep: u32) -> Result<(), String> {
        Ok(())
    }
}

export!(Hostile);

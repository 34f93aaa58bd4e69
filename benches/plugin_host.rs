//! Plugin host figures against issue 2's targets: per-call cost, compile and load time, memory, IPC baseline.
//!
//! `cargo bench --bench plugin_host` runs the full set; without `--bench` (e.g. `cargo test --all-targets`)
//! it runs a quick smoke pass with few iterations. `SERIN_BENCH_CALLS` sets the number of measured calls.

use serde::{Deserialize, Serialize};
use serin::plugin::builtin::BUILTINS;
use serin::plugin::contract::v0_1_0::metric::MetricProviderPluginPre;
use serin::plugin::contract::v0_1_0::metric::exports::serin::plugin::metric_provider as wit;
use serin::plugin::contract::v0_1_0::metric::serin::plugin::types as wit_types;
use serin::plugin::metric::{MetricCall, ObjectRef};
use serin::plugin::{CallOptions, Observation, Plugin, Runtime, RuntimeConfig};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

const CONSTANT: &[u8] = include_bytes!(concat!(env!("SERIN_TEST_PLUGIN_DIR"), "/constant.wasm"));

/// Issue 2's targets.
const TARGET_MEDIAN: Duration = Duration::from_micros(15);
const TARGET_P99: Duration = Duration::from_micros(50);
const TARGET_CACHED_LOAD: Duration = Duration::from_millis(5);
const TARGET_RSS_PER_PLUGIN: u64 = 2 << 20;

/// Steps of a call timed by hand (see `Bare::timed_call`).
const STEPS: usize = 5;

/// Set in the re-executed bench binary that plays the out-of-process plugin.
const SERVER_ENV: &str = "SERIN_BENCH_PLUGIN_SERVER";

struct Settings {
    calls: usize,
    warmup: usize,
    compiles: usize,
    loads: usize,
    copies: usize,
    live: usize,
}

/// What the sections share.
struct Bench {
    s: Settings,
    tokio: tokio::runtime::Runtime,
    /// Cache off, pooling (the default allocator) and on-demand.
    pooled: Runtime,
    on_demand: Runtime,
    /// With a private temporary cache directory.
    cached: Runtime,
    cache_dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
    /// The built-in plugins, then `constant`.
    plugins: Vec<(&'static str, &'static [u8])>,
    /// (figure, measured, target) rows of the closing table.
    summary: Vec<(String, String, String)>,
}

fn main() {
    if let Some(socket) = std::env::var_os(SERVER_ENV) {
        serve_out_of_process(Path::new(&socket));
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let calls = std::env::var("SERIN_BENCH_CALLS").ok().and_then(|v| v.parse().ok());
    let s = if full {
        Settings {
            calls: calls.unwrap_or(20_000),
            warmup: 2_000,
            compiles: 3,
            loads: 30,
            copies: 10,
            live: 200,
        }
    } else {
        Settings { calls: calls.unwrap_or(300), warmup: 30, compiles: 1, loads: 3, copies: 2, live: 10 }
    };
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "serin plugin host benchmark ({} mode; {} CPUs; load average {}). Noisy machine: figures are medians \
         over many iterations.\n",
        if full { "full" } else { "quick" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    );
    let cache_dir = tempfile::tempdir().expect("temporary cache directory");
    let mut b = Bench {
        s,
        tokio: tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime"),
        pooled: runtime(None, true),
        on_demand: runtime(None, false),
        cached: runtime(Some(cache_dir.path()), true),
        cache_dir,
        scratch: tempfile::tempdir().expect("temporary directory"),
        plugins: BUILTINS.iter().map(|b| (b.name, b.bytes)).chain([("constant (test)", CONSTANT)]).collect(),
        summary: Vec::new(),
    };
    b.per_call();
    b.what_if();
    b.compile();
    b.cached_load();
    b.memory();
    b.out_of_process();
    let mut table = Table::new("summary", &["figure", "measured", "target"]);
    for (what, measured, target) in b.summary {
        table.row(vec![what, measured, target]);
    }
    table.print();
}

impl Bench {
    /// Section 1, per-call overhead. The public API and the same steps by hand alternate in blocks, so that
    /// load from other processes falls on both alike.
    fn per_call(&mut self) {
        let mut per_call = Table::new(
            "1. per call: Plugin::metric_run of `constant`, fresh Store each call",
            &["path", "calls", "median", "p99", "p99.9"],
        );
        let mut stages = Table::new(
            "1b. the same call by hand on the same engine: median (p99) of each step",
            &["allocator", "WASI+HTTP ctx", "Store::new", "instantiate", "call run", "drop Store"],
        );
        for (label, rt) in [("pooling", &self.pooled), ("on-demand", &self.on_demand)] {
            let plugin = load(rt, "constant", CONSTANT);
            let bare = Bare::prepare(rt.engine());
            let (public, by_hand) = self.tokio.block_on(interleaved(&plugin, &bare, &self.s));
            let total = Dist::new(by_hand.iter().map(|steps| steps.iter().sum()).collect());
            for (path, d) in [(format!("serin API, {label}"), &public), (format!("by hand, {label}"), &total)]
            {
                per_call.row(vec![path, d.n().to_string(), us(d.median()), us(d.p(0.99)), us(d.p(0.999))]);
            }
            let mut row = vec![label.to_string()];
            for i in 0..STEPS {
                let d = Dist::new(by_hand.iter().map(|steps| steps[i]).collect());
                row.push(format!("{} ({})", us(d.median()), us(d.p(0.99))));
            }
            stages.row(row);
            if label == "pooling" {
                self.summary.push(verdict("call, fresh Store: median", public.median(), TARGET_MEDIAN));
                self.summary.push(verdict("call, fresh Store: p99", public.p(0.99), TARGET_P99));
                // What serin adds around wasmtime: grants, audit, HTTP policy, deadline, conversions.
                let own = public.median().saturating_sub(total.median());
                self.summary.push(("serin's own work per call (API − by hand)".into(), us(own), "-".into()));
            } else {
                self.summary.push((
                    format!("call, {label} allocator: median"),
                    us(public.median()),
                    "-".into(),
                ));
            }
        }
        per_call.print();
        stages.print();
    }

    /// Section 1c, what engine settings runtime.rs does not use would change: the by-hand call on engines
    /// built here.
    fn what_if(&mut self) {
        let mut whatif = Table::new(
            "1c. what if: the by-hand call on engines like runtime.rs's, changed (not serin's settings)",
            &["engine", "median", "p99", "instantiate", "call run", "drop Store"],
        );
        for (label, tweak) in WHATIF {
            let bare = Bare::prepare(&engine_like_runtime(*tweak));
            let by_hand = self.tokio.block_on(bare.by_hand(&self.s));
            let total = Dist::new(by_hand.iter().map(|steps| steps.iter().sum()).collect());
            let step = |i: usize| us(Dist::new(by_hand.iter().map(|steps| steps[i]).collect()).median());
            whatif.row(vec![
                label.to_string(),
                us(total.median()),
                us(total.p(0.99)),
                step(2),
                step(3),
                step(4),
            ]);
        }
        whatif.print();
    }

    /// Section 2, compile time of each plugin, cache off.
    fn compile(&mut self) {
        let mut compile =
            Table::new("2. compile (cache off): Plugin::load median", &["plugin", "size", "compile"]);
        for (name, bytes) in &self.plugins {
            let d =
                Dist::new((0..self.s.compiles).map(|_| time(|| load(&self.pooled, name, bytes))).collect());
            compile.row(vec![name.to_string(), kib(bytes.len() as u64), ms(d.median())]);
            self.summary.push((format!("compile {name}"), ms(d.median()), "-".into()));
        }
        compile.print();
    }

    /// Section 3, load from the precompiled cache, whole and by parts.
    fn cached_load(&mut self) {
        let loads = self.s.loads;
        let mut table = Table::new(
            "3. load from the precompiled cache: Plugin::load",
            &["plugin", "first (compile+store)", "cached median", "cached p99"],
        );
        let mut worst = Duration::ZERO;
        for (name, bytes) in &self.plugins {
            let first = time(|| load(&self.cached, name, bytes));
            let d = Dist::new((0..loads).map(|_| time(|| load(&self.cached, name, bytes))).collect());
            worst = worst.max(d.median());
            table.row(vec![name.to_string(), ms(first), ms(d.median()), ms(d.p(0.99))]);
        }
        table.print();
        self.summary.push(verdict("cached load (slowest plugin): median", worst, TARGET_CACHED_LOAD));

        // Step by step as the cache does it, and what mapping the file instead would take.
        let mut parts = Table::new(
            "3b. cached load by parts: medians",
            &[
                "plugin",
                "artefact",
                "sha256 source",
                "read file",
                "sha256 artefact",
                "deserialize",
                "rest of load",
                "deserialize_file (mmap)",
            ],
        );
        let engine = self.cached.engine();
        let median = |f: &mut dyn FnMut()| Dist::new((0..loads).map(|_| time(&mut *f)).collect()).median();
        for (name, bytes) in &self.plugins {
            let artefact = Artefact::find(self.cache_dir.path(), self.scratch.path(), bytes);
            let hash_source = median(&mut || {
                std::hint::black_box(Sha256::digest(bytes));
            });
            let read = median(&mut || drop(std::fs::read(&artefact.cached).expect("read artefact")));
            let body = artefact.body();
            let hash_artefact = median(&mut || {
                std::hint::black_box(Sha256::digest(&body));
            });
            let deserialize = median(&mut || drop(Artefact::deserialize(engine, &body)));
            let mapped = median(&mut || drop(artefact.deserialize_file(engine)));
            let whole = median(&mut || drop(load(&self.cached, name, bytes)));
            let rest = whole.saturating_sub(hash_source + read + hash_artefact + deserialize);
            parts.row(vec![
                name.to_string(),
                kib(body.len() as u64),
                ms(hash_source),
                ms(read),
                ms(hash_artefact),
                ms(deserialize),
                ms(rest),
                ms(mapped),
            ]);
        }
        parts.print();
    }

    /// Section 4, resident memory: loaded plugins (from the cache, as at a restart), the compiled code
    /// alone, then live instances.
    fn memory(&mut self) {
        let copies = self.s.copies;
        let mut memory = Table::new("4. resident memory (VmRSS deltas)", &["what", "count", "total", "each"]);
        let mut row = |what: String, count: usize, total: u64| {
            memory.row(vec![what, count.to_string(), kib(total), kib(total / count as u64)]);
            total / count as u64
        };
        let mut worst = 0;
        let mut kept = Vec::new();
        for (name, bytes) in &self.plugins {
            let before = rss();
            kept.extend((0..copies).map(|_| load(&self.cached, name, bytes)));
            worst = worst.max(row(format!("loaded plugin: {name}"), copies, rss().saturating_sub(before)));
        }
        drop(kept);
        self.summary.push(verdict_bytes(
            "resident per loaded plugin (largest)",
            worst,
            TARGET_RSS_PER_PLUGIN,
        ));

        // The largest plugin's code alone: copied to the heap (what the cache does) or mapped from the file.
        let engine = self.cached.engine();
        if let Some((name, bytes)) = self.plugins.iter().max_by_key(|(_, bytes)| bytes.len()) {
            let artefact = Artefact::find(self.cache_dir.path(), self.scratch.path(), bytes);
            let body = artefact.body();
            for (how, mapped) in [("heap copy", false), ("file mapping", true)] {
                let before = rss();
                let kept: Vec<Component> = (0..copies)
                    .map(|_| match mapped {
                        true => artefact.deserialize_file(engine),
                        false => Artefact::deserialize(engine, &body),
                    })
                    .collect();
                row(format!("{name} code only ({how})"), copies, rss().saturating_sub(before));
                drop(kept);
            }
        }

        for (label, rt) in [("pooling", &self.pooled), ("on-demand", &self.on_demand)] {
            let bare = Bare::prepare(rt.engine());
            let total = self.tokio.block_on(bare.live_instances(self.s.live));
            let each = row(format!("live `constant` instance, {label}"), self.s.live, total);
            self.summary.push((format!("resident per live instance, {label}"), kib(each), "-".into()));
        }
        memory.print();
    }

    /// Section 5, out-of-process baseline: the same request/response to a child process over a Unix
    /// socket, as JSON.
    fn out_of_process(&mut self) {
        let (d, child_rss) = out_of_process(&self.s);
        let mut table = Table::new(
            "5. out-of-process baseline (child process, Unix socket, JSON), cf. Argo's go-plugin net/rpc",
            &["calls", "median", "p99", "child VmRSS"],
        );
        table.row(vec![d.n().to_string(), us(d.median()), us(d.p(0.99)), kib(child_rss)]);
        table.print();
        self.summary.push(("out-of-process call: median".into(), us(d.median()), "-".into()));
    }
}

/// Changes to the engine configuration, for the what-if rows.
type Tweak = fn(&mut Config, &mut PoolingAllocationConfig);

const WHATIF: &[(&str, Tweak)] = &[
    ("plain pool: reset by unmapping (serin's fallback)", |_, _| {}),
    ("keep 1 MiB/memory resident (memset, not madvise)", keep_resident),
    ("keep resident + pagemap_scan (serin's default)", pagemap_scan),
    ("keep resident + no copy-on-write memory image", no_cow),
];

fn keep_resident(_: &mut Config, pool: &mut PoolingAllocationConfig) {
    pool.linear_memory_keep_resident(1 << 20).table_keep_resident(64 << 10);
}

fn pagemap_scan(config: &mut Config, pool: &mut PoolingAllocationConfig) {
    keep_resident(config, pool);
    pool.pagemap_scan(Enabled::Auto);
}

fn no_cow(config: &mut Config, pool: &mut PoolingAllocationConfig) {
    keep_resident(config, pool);
    config.memory_init_cow(false);
}

/// serin's engine settings on a plain pool (`PoolReset::Unmap`), with `tweak` applied.
fn engine_like_runtime(tweak: Tweak) -> Engine {
    let mut config = serin::plugin::runtime::engine_config();
    let mut pool =
        serin::plugin::runtime::pooling(&RuntimeConfig::default(), serin::plugin::runtime::PoolReset::Unmap);
    tweak(&mut config, &mut pool);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).expect("what-if engine")
}

/// A plugin's precompiled artefact as the cache stored it, and a copy in a file of its own for
/// `Component::deserialize_file`.
struct Artefact {
    cached: PathBuf,
    alone: PathBuf,
}

impl Artefact {
    fn find(cache_dir: &Path, scratch: &Path, source: &[u8]) -> Artefact {
        let digest = hex::encode(Sha256::digest(source));
        let cached = std::fs::read_dir(cache_dir)
            .expect("list the cache")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{digest}-"))))
            .expect("the plugin is cached");
        let alone = scratch.join(format!("{digest}.cwasm"));
        let artefact = Artefact { cached, alone };
        std::fs::write(&artefact.alone, artefact.body()).expect("write artefact");
        artefact
    }

    fn body(&self) -> Vec<u8> {
        std::fs::read(&self.cached).expect("read artefact")
    }

    fn deserialize(engine: &Engine, body: &[u8]) -> Component {
        // SAFETY: the artefact was just compiled by this engine's own runtime and written to a private
        // temporary directory by this process.
        unsafe { Component::deserialize(engine, body) }.expect("deserialize")
    }

    fn deserialize_file(&self, engine: &Engine) -> Component {
        // SAFETY: as for `deserialize`; nothing else writes the file while it is mapped.
        unsafe { Component::deserialize_file(engine, &self.alone) }.expect("deserialize_file")
    }
}

fn runtime(cache_dir: Option<&Path>, pooling: bool) -> Runtime {
    let config =
        RuntimeConfig { cache_dir: cache_dir.map(Path::to_path_buf), pooling, ..RuntimeConfig::default() };
    Runtime::new(config).expect("plugin runtime")
}

fn load(rt: &Runtime, name: &str, bytes: &[u8]) -> Plugin {
    Plugin::load(rt, name, bytes, None).unwrap_or_else(|e| panic!("cannot load {name}: {e}"))
}

fn metric_call() -> MetricCall {
    MetricCall {
        run: ObjectRef {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "AnalysisRun".into(),
            namespace: "default".into(),
            name: "bench-run".into(),
            uid: "00000000-0000-0000-0000-000000000000".into(),
        },
        metric_name: "bench".into(),
        count: 0,
        config: "1".into(),
        success_condition: Some("result == 1".into()),
        failure_condition: None,
    }
}

/// Sequential calls on a current-thread runtime (the latency of one call, not throughput): the public API and
/// the by-hand steps alternate in blocks after a warm-up of each.
async fn interleaved(plugin: &Plugin, bare: &Bare, s: &Settings) -> (Dist, Vec<[Duration; STEPS]>) {
    const BLOCK: usize = 1_000;
    let opts = CallOptions::default();
    let call = metric_call();
    let ctx = wit_ctx();
    for _ in 0..s.warmup {
        expect_judged(plugin.metric_run(&opts, &call).await);
        bare.timed_call(&ctx).await;
    }
    let mut public = Vec::with_capacity(s.calls);
    let mut by_hand = Vec::with_capacity(s.calls);
    while public.len() < s.calls {
        let block = BLOCK.min(s.calls - public.len());
        for _ in 0..block {
            let start = Instant::now();
            let out = plugin.metric_run(&opts, &call).await;
            public.push(start.elapsed());
            expect_judged(out);
        }
        for _ in 0..block {
            by_hand.push(bare.timed_call(&ctx).await);
        }
    }
    (Dist::new(public), by_hand)
}

fn expect_judged(out: Result<Observation, serin::plugin::CallError>) {
    match out {
        Ok(Observation::Judge { .. }) => {}
        other => panic!("`constant` should judge a value, got {other:?}"),
    }
}

/// The per-call steps of `Plugin::call` done by hand with a store state shaped like the host's
/// (deny-by-default WASI, wasi:http, memory limits), so each step can be timed. serin's own imports are
/// stubbed: `constant` never calls them, and instantiation only needs them defined.
struct Bare {
    engine: Engine,
    pre: MetricProviderPluginPre<BareState>,
}

struct BareState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: NoHttp,
    limits: StoreLimits,
    _stderr: MemoryOutputPipe,
}

impl BareState {
    fn new() -> BareState {
        let stderr = MemoryOutputPipe::new(16 * 1024);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        BareState {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: NoHttp,
            limits: StoreLimitsBuilder::new().memory_size(128 << 20).trap_on_grow_failure(true).build(),
            _stderr: stderr,
        }
    }
}

impl WasiView for BareState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for BareState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// `constant` makes no requests; refuse any.
struct NoHttp;

impl WasiHttpHooks for NoHttp {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async {
            Err(wasmtime_wasi_http::Error::InternalError(Some("no HTTP in benchmarks".into())))
        })
    }
}

impl Bare {
    fn prepare(engine: &Engine) -> Bare {
        let component = Component::new(engine, CONSTANT).expect("compile constant");
        let mut linker: Linker<BareState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("link WASI");
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).expect("link wasi:http");
        linker.define_unknown_imports_as_traps(&component).expect("stub serin imports");
        let pre = linker.instantiate_pre(&component).expect("pre-link constant");
        let pre = MetricProviderPluginPre::new(pre).expect("constant is a metric provider");
        Bare { engine: engine.clone(), pre }
    }

    fn store(&self) -> Store<BareState> {
        self.store_with(BareState::new())
    }

    fn store_with(&self, state: BareState) -> Store<BareState> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(6_000);
        store.epoch_deadline_trap();
        store
    }

    async fn run_once(&self, store: &mut Store<BareState>, ctx: &wit::MetricContext) {
        let inst = self.pre.instantiate_async(&mut *store).await.expect("instantiate");
        let out = inst.serin_plugin_metric_provider().call_run(&mut *store, ctx).await.expect("call run");
        assert!(matches!(out, wit::Observation::Judge(_)), "`constant` should judge a value");
    }

    /// One call by hand, each step timed: building the store state, `Store::new`, instantiation, the export
    /// call, dropping the store (which hands the instance's slots back to the allocator).
    async fn timed_call(&self, ctx: &wit::MetricContext) -> [Duration; STEPS] {
        let t0 = Instant::now();
        let state = BareState::new();
        let t1 = Instant::now();
        let mut store = self.store_with(state);
        let t2 = Instant::now();
        let inst = self.pre.instantiate_async(&mut store).await.expect("instantiate");
        let t3 = Instant::now();
        let out = inst.serin_plugin_metric_provider().call_run(&mut store, ctx).await.expect("call run");
        let t4 = Instant::now();
        drop(store);
        let t5 = Instant::now();
        assert!(matches!(out, wit::Observation::Judge(_)), "`constant` should judge a value");
        [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]
    }

    /// `s.calls` timed calls by hand after a warm-up.
    async fn by_hand(&self, s: &Settings) -> Vec<[Duration; STEPS]> {
        let ctx = wit_ctx();
        for _ in 0..s.warmup {
            self.timed_call(&ctx).await;
        }
        let mut samples = Vec::with_capacity(s.calls);
        for _ in 0..s.calls {
            samples.push(self.timed_call(&ctx).await);
        }
        samples
    }

    /// Resident memory (bytes) of `n` instances kept alive after one call each.
    async fn live_instances(&self, n: usize) -> u64 {
        let ctx = wit_ctx();
        // One instance first, so lazily initialised engine state is not counted.
        let mut warm = self.store();
        self.run_once(&mut warm, &ctx).await;
        drop(warm);
        let before = rss();
        let mut stores = Vec::with_capacity(n);
        for _ in 0..n {
            let mut store = self.store();
            self.run_once(&mut store, &ctx).await;
            stores.push(store);
        }
        rss().saturating_sub(before)
    }
}

fn wit_ctx() -> wit::MetricContext {
    let call = metric_call();
    wit::MetricContext {
        run: wit_types::ObjectRef {
            api_version: call.run.api_version,
            kind: call.run.kind,
            namespace: call.run.namespace,
            name: call.run.name,
            uid: call.run.uid,
        },
        metric_name: call.metric_name,
        count: call.count,
        config: call.config,
        success_condition: call.success_condition,
        failure_condition: call.failure_condition,
    }
}

/// What the out-of-process baseline sends: the call context, as Argo's metric plugin RPC does.
#[derive(Serialize, Deserialize)]
struct OopRequest {
    api_version: String,
    kind: String,
    namespace: String,
    name: String,
    uid: String,
    metric_name: String,
    count: u32,
    config: String,
    success_condition: Option<String>,
    failure_condition: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct OopMeasurement {
    phase: String,
    value: f64,
    metadata: Vec<(String, String)>,
}

/// Child side: answer one JSON line with one JSON line until the parent hangs up.
fn serve_out_of_process(socket: &Path) {
    let stream = UnixStream::connect(socket).expect("connect to the benchmark");
    let mut reader = BufReader::new(stream.try_clone().expect("clone socket"));
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let req: OopRequest = serde_json::from_str(&line).expect("request");
        let m = OopMeasurement {
            phase: "Running".into(),
            value: req.config.trim().parse().unwrap_or(1.0),
            metadata: vec![("plugin".into(), "0.1.0".into())],
        };
        let mut out = serde_json::to_vec(&m).expect("encode");
        out.push(b'\n');
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

/// Parent side: re-executes this binary as the plugin process and times request/response pairs.
fn out_of_process(s: &Settings) -> (Dist, u64) {
    let dir = tempfile::tempdir().expect("socket directory");
    let path = dir.path().join("plugin.sock");
    let listener = UnixListener::bind(&path).expect("bind socket");
    let exe = std::env::current_exe().expect("current executable");
    let mut child =
        std::process::Command::new(exe).env(SERVER_ENV, &path).spawn().expect("spawn plugin process");
    let (stream, _) = listener.accept().expect("plugin process connects");
    let mut reader = BufReader::new(stream.try_clone().expect("clone socket"));
    let mut writer = stream;
    let call = metric_call();
    let req = OopRequest {
        api_version: call.run.api_version,
        kind: call.run.kind,
        namespace: call.run.namespace,
        name: call.run.name,
        uid: call.run.uid,
        metric_name: call.metric_name,
        count: call.count,
        config: call.config,
        success_condition: call.success_condition,
        failure_condition: call.failure_condition,
    };
    let mut line = String::new();
    let mut one = |line: &mut String| {
        // Encoding is part of the call, as it is for go-plugin's gob.
        let mut out = serde_json::to_vec(&req).expect("encode");
        out.push(b'\n');
        writer.write_all(&out).expect("send request");
        line.clear();
        reader.read_line(line).expect("read answer");
        let m: OopMeasurement = serde_json::from_str(line).expect("decode answer");
        assert_eq!(m.value, 1.0);
    };
    for _ in 0..s.warmup {
        one(&mut line);
    }
    let samples = (0..s.calls)
        .map(|_| {
            let start = Instant::now();
            one(&mut line);
            start.elapsed()
        })
        .collect();
    let child_rss = proc_rss(&format!("/proc/{}/status", child.id()));
    drop(writer);
    drop(reader);
    let _ = child.wait();
    (Dist::new(samples), child_rss)
}

fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    drop(out);
    elapsed
}

/// This process's resident set, after handing freed heap back to the OS so that it is not counted.
fn rss() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only releases free heap pages; it has no preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
    proc_rss("/proc/self/status")
}

fn proc_rss(status: &str) -> u64 {
    let text = std::fs::read_to_string(status).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Sorted samples.
struct Dist(Vec<Duration>);

impl Dist {
    fn new(mut samples: Vec<Duration>) -> Dist {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        Dist(samples)
    }

    fn n(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile.
    fn p(&self, q: f64) -> Duration {
        let rank = (q * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    fn median(&self) -> Duration {
        self.p(0.5)
    }
}

fn verdict(what: &str, measured: Duration, target: Duration) -> (String, String, String) {
    let fmt = if target >= Duration::from_millis(1) { ms } else { us };
    let mark = if measured <= target { "met" } else { "MISSED" };
    (what.to_string(), fmt(measured), format!("≤ {} ({mark})", fmt(target)))
}

fn verdict_bytes(what: &str, measured: u64, target: u64) -> (String, String, String) {
    let mark = if measured <= target { "met" } else { "MISSED" };
    (what.to_string(), kib(measured), format!("≤ {} ({mark})", kib(target)))
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn kib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

/// A Markdown table, printed when complete.
struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: &str, header: &[&str]) -> Table {
        Table {
            title: title.into(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn print(&self) {
        let cols = self.header.len();
        let width = |i: usize| {
            self.rows.iter().chain([&self.header]).map(|r| r.get(i).map_or(0, |c| c.chars().count())).max()
        };
        let widths: Vec<usize> = (0..cols).map(|i| width(i).unwrap_or(0)).collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = (0..cols)
                .map(|i| {
                    let c = cells.get(i).map_or("", String::as_str);
                    format!("{c}{}", " ".repeat(widths[i] - c.chars().count()))
                })
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        println!("{}\n", self.title);
        println!("{}", line(&self.header));
        println!("|{}|", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|"));
        for row in &self.rows {
            println!("{}", line(row));
        }
        println!();
    }
}

//! The wasm runtime: one engine (epoch interruption, pooling allocator), one linker per world of every supported
//! contract version, an epoch ticker, the on-disk cache of precompiled components, and clients shared by host imports.

use super::cache::ArtifactCache;
use super::contract::{SUPPORTED, World};
use super::limits::MAX_MEMORY;
use super::net::{Network, NetworkPolicy, Resolver};
use super::state::CallState;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are enforced to this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Runtime settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where precompiled components are kept; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// Plugin instances that may be live at once (pooling allocator slots); a call beyond it fails to
    /// instantiate, so keep it above the number of concurrent calls.
    pub max_instances: u32,
    /// Pre-reserve instance slots (pooling allocator, the default) rather than map memory on demand per call.
    /// Pooling makes a fresh instance per call cheap; on-demand exists to measure against it.
    pub pooling: bool,
    /// Where plugins' connections may go and which CAs their TLS origins may use (changeable later with
    /// [`Runtime::set_network_policy`]).
    pub network: NetworkPolicy,
    /// How names are resolved for plugins' connections.
    pub resolver: Resolver,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: default_cache_dir(),
            max_instances: 256,
            pooling: true,
            network: NetworkPolicy::default(),
            resolver: Resolver::default(),
        }
    }
}

/// `$SERIN_CACHE_DIR`, else `$XDG_CACHE_HOME/serin/precompiled`, else `~/.cache/serin/precompiled`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SERIN_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("serin").join("precompiled"))
}

/// The shared runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub engine: Engine,
    /// One linker per world: exactly what that (kind, version) may import.
    pub linkers: Vec<(World, Linker<CallState>)>,
    pub cache: Option<ArtifactCache>,
    /// The network policy in force; a call keeps the one it started with.
    network: RwLock<Arc<Network>>,
    resolver: Resolver,
    /// One permit per pooling-allocator slot: calls beyond that wait for a free slot.
    pub slots: Arc<tokio::sync::Semaphore>,
}

impl Inner {
    /// The linker of `world`.
    pub fn linker(&self, world: World) -> Option<&Linker<CallState>> {
        self.linkers.iter().find(|(w, _)| *w == world).map(|(_, l)| l)
    }
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Runtime> {
        let mut wasm = engine_config();
        let engine = if config.pooling {
            // Resetting a used instance's memory with a scan of the pages it dirtied (Linux >= 6.7) instead of
            // unmapping it is what makes a fresh instance per call cheap; where the kernel cannot, fall back to
            // the plain pool (keeping pages resident without the scan would be slower still).
            let fast = pooling(&config, PoolReset::ScanDirtyPages);
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(fast));
            match Engine::new(&wasm) {
                Ok(engine) => engine,
                Err(e) => {
                    tracing::debug!("pagemap_scan unavailable ({e}); resetting plugin memory by unmapping");
                    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(
                        &config,
                        PoolReset::Unmap,
                    )));
                    Engine::new(&wasm).map_err(anyhow::Error::from).context("configuring the wasm engine")?
                }
            }
        } else {
            wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&wasm).map_err(anyhow::Error::from).context("configuring the wasm engine")?
        };

        let mut linkers = Vec::new();
        for version in SUPPORTED {
            for kind in version.kinds() {
                let world = World { kind: *kind, version: *version };
                linkers.push((world, world.linker(&engine)?));
            }
        }

        let cache = match &config.cache_dir {
            Some(dir) => match ArtifactCache::open(dir.clone(), &engine) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "precompiled plugin cache disabled: {e:#}");
                    None
                }
            },
            None => None,
        };
        let network = Network::new(config.network.clone(), config.resolver.clone())
            .map_err(anyhow::Error::msg)
            .context("configuring plugins' network")?;
        let inner = Arc::new(Inner {
            engine,
            linkers,
            cache,
            network: RwLock::new(Arc::new(network)),
            resolver: config.resolver.clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(config.max_instances as usize)),
        });
        // Without the ticker a running plugin would never yield, so no deadline could stop it: refuse to run
        // plugins rather than run them unbounded.
        spawn_epoch_ticker(Arc::downgrade(&inner)).context("starting the plugin epoch ticker thread")?;
        Ok(Runtime { inner })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The network policy calls starting now run under.
    pub fn network(&self) -> Arc<Network> {
        self.inner.network.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the network policy for calls that start from now on (calls in flight keep theirs); an invalid
    /// policy (a CA certificate rustls rejects) changes nothing.
    pub fn set_network_policy(&self, policy: NetworkPolicy) -> Result<(), String> {
        if self.network().policy == policy {
            return Ok(());
        }
        let network = Arc::new(Network::new(policy, self.inner.resolver.clone())?);
        *self.inner.network.write().unwrap_or_else(|p| p.into_inner()) = network;
        Ok(())
    }
}

/// The engine settings every plugin runs under (the allocation strategy comes on top).
pub fn engine_config() -> Config {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(1 << 20)
        .async_stack_size(2 << 20)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    wasm
}

/// How a pooled instance slot's memory is reset between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolReset {
    /// Unmap and let the next instance fault its pages in again (works everywhere).
    Unmap,
    /// Keep 1 MiB resident and reset only the pages the call dirtied (Linux >= 6.7 `pagemap_scan`).
    ScanDirtyPages,
}

/// Most core instances, memories and tables one component may use.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 8;

/// The pooling allocator's slots, sized for `config.max_instances` concurrent calls of components that each use
/// the most a component may: so that one plugin called many times at once cannot use up the slots every other
/// plugin needs (calls beyond `max_instances` wait for a slot instead).
pub fn pooling(config: &RuntimeConfig, reset: PoolReset) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(config.max_instances)
        .total_core_instances(config.max_instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(config.max_instances * MEMORIES_PER_COMPONENT)
        .total_tables(config.max_instances * TABLES_PER_COMPONENT)
        .total_stacks(config.max_instances)
        .max_memory_size(MAX_MEMORY as usize)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .table_elements(100_000);
    if reset == PoolReset::ScanDirtyPages {
        pool.linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Yes);
    }
    pool
}

/// Advances the engine's epoch every tick for as long as the runtime lives.
fn spawn_epoch_ticker(inner: Weak<Inner>) -> std::io::Result<()> {
    std::thread::Builder::new().name("serin-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            match inner.upgrade() {
                Some(inner) => inner.engine.increment_epoch(),
                None => return,
            }
        }
    })?;
    Ok(())
}

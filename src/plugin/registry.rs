//! The plugin registry: built-ins (loaded on first use) and registered plugins, added, replaced and removed at
//! run time. Calls hold their own reference to the plugin they started with, so a replacement never disturbs a
//! call in flight.

use super::builtin::{self, BUILTINS};
use super::component::{Plugin, PluginKind};
use super::error::LoadError;
use super::runtime::Runtime;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// Registered plugins by name (`org/name` for third-party plugins, the in-tree name for built-ins).
pub struct Registry {
    runtime: Runtime,
    plugins: RwLock<BTreeMap<String, Arc<Plugin>>>,
    /// Held while a built-in is loaded on first use, so concurrent first uses compile it once.
    loading: Mutex<()>,
}

/// A row of `serin plugin list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub name: String,
    pub kind: PluginKind,
    pub builtin: bool,
    pub contract: Option<String>,
    pub size: usize,
    pub sha256: String,
}

impl Registry {
    pub fn new(runtime: Runtime) -> Registry {
        Registry { runtime, plugins: RwLock::new(BTreeMap::new()), loading: Mutex::new(()) }
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The plugin registered under `name`, loading a built-in on first use.
    pub fn get(&self, name: &str) -> Result<Arc<Plugin>, LoadError> {
        if let Some(p) = self.read().get(name) {
            return Ok(p.clone());
        }
        let Some(b) = builtin::find(name) else {
            return Err(LoadError::NotFound { plugin: name.to_string() });
        };
        let _loading = self.loading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(p) = self.read().get(name) {
            return Ok(p.clone());
        }
        let plugin = Arc::new(Plugin::load(&self.runtime, b.name, b.bytes, None)?);
        Ok(self.write().entry(name.to_string()).or_insert(plugin).clone())
    }

    /// Loads and registers (or replaces) a plugin.
    pub fn insert(&self, name: &str, bytes: &[u8], sha256: Option<&str>) -> Result<Arc<Plugin>, LoadError> {
        let plugin = Arc::new(Plugin::load(&self.runtime, name, bytes, sha256)?);
        self.write().insert(name.to_string(), plugin.clone());
        Ok(plugin)
    }

    /// Registers an already loaded plugin (or replaces one).
    pub fn insert_loaded(&self, plugin: Arc<Plugin>) {
        self.write().insert(plugin.name().to_string(), plugin);
    }

    /// Unregisters a plugin; calls in flight finish with the version they started with.
    pub fn remove(&self, name: &str) -> Option<Arc<Plugin>> {
        self.write().remove(name)
    }

    /// Built-ins and registered plugins, by name.
    pub fn list(&self) -> Vec<Listing> {
        let loaded = self.read().clone();
        let mut rows: BTreeMap<String, Listing> = BTreeMap::new();
        for b in BUILTINS {
            use sha2::Digest;
            rows.insert(
                b.name.to_string(),
                Listing {
                    name: b.name.to_string(),
                    kind: b.kind,
                    builtin: true,
                    contract: Some(super::contract::CURRENT.to_string()),
                    size: b.bytes.len(),
                    sha256: hex::encode(sha2::Sha256::digest(b.bytes)),
                },
            );
        }
        for (name, p) in loaded {
            rows.insert(
                name.clone(),
                Listing {
                    builtin: rows.get(&name).is_some_and(|b| b.builtin && b.sha256 == p.info().sha256),
                    name,
                    kind: p.kind(),
                    contract: Some(p.info().contract.to_string()),
                    size: p.info().size,
                    sha256: p.info().sha256.clone(),
                },
            );
        }
        rows.into_values().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Plugin>>> {
        self.plugins.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Plugin>>> {
        self.plugins.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

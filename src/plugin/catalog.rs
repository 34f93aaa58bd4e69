//! The plugins the controller can use right now: built-ins plus registered plugins with the capabilities and
//! limits their registration grants, and, for a registration that failed, why — so every resource that refers
//! to it can say so.

use super::builtin;
use super::component::{Plugin, PluginKind};
use super::grants::Grants;
use super::limits::Limits;
use super::registry::Registry;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// A registered plugin's standing.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it came from (a location, or a drop-in ConfigMap), for messages.
    pub source: String,
    pub grants: Grants,
    pub limits: Limits,
    /// Why it could not be loaded, if it could not.
    pub error: Option<String>,
    /// A step plugin registered with `disabled: true`: loaded, but its steps are skipped, as upstream does.
    pub disabled: bool,
}

/// Built-in and registered plugins.
pub struct Catalog {
    registry: Registry,
    entries: RwLock<BTreeMap<String, Entry>>,
}

/// A plugin ready to call, with what its registration grants.
pub struct Resolved {
    pub plugin: Arc<Plugin>,
    /// Grants from the registration; empty for built-ins, whose grants come from their configuration.
    pub grants: Grants,
    pub limits: Limits,
    /// Registered as disabled (step plugins): its steps are skipped rather than run.
    pub disabled: bool,
    /// A built-in (no registration): its grants come from the configuration it serves.
    pub builtin: bool,
}

impl Catalog {
    pub fn new(registry: Registry) -> Catalog {
        Catalog { registry, entries: RwLock::new(BTreeMap::new()) }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The plugin `name` of `kind`, or a message saying why it cannot be used.
    pub fn resolve(&self, name: &str, kind: PluginKind) -> Result<Resolved, String> {
        // The entry (grants, limits) and the code are read under one lock that registration holds while it
        // changes both, so a replaced plugin never runs with its predecessor's grants.
        // Built-ins (no entry) are not held under the lock: their first use may compile for a while.
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(name).cloned();
        let builtin = entry.is_none();
        let (grants, limits, disabled, plugin) = match entry {
            Some(Entry { error: Some(error), .. }) => {
                return Err(format!("plugin {name} failed to load: {error}"));
            }
            Some(Entry { grants, limits, disabled, .. }) => {
                let plugin = self.registry.get(name).map_err(|e| e.to_string())?;
                drop(entries);
                (grants, limits, disabled, plugin)
            }
            None if builtin::find(name).is_some() => {
                drop(entries);
                let plugin = self.registry.get(name).map_err(|e| e.to_string())?;
                (Grants::default(), Limits::default(), false, plugin)
            }
            None => return Err(format!("plugin {name} is not registered")),
        };
        if plugin.kind() != kind {
            return Err(format!("plugin {name} is a {}, not a {}", plugin.kind().noun(), kind.noun()));
        }
        Ok(Resolved { plugin, grants, limits, disabled, builtin })
    }

    /// Records a registration: the loaded plugin (now serving calls), or why it failed to load (the previous
    /// version, if any, stops serving, so nothing runs code its operator meant to replace).
    pub fn register(&self, name: &str, loaded: Result<Arc<Plugin>, String>, entry: Entry) {
        let mut entry = entry;
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(plugin) => {
                self.registry.insert_loaded(plugin);
                entry.error = None;
            }
            Err(error) => {
                self.registry.remove(name);
                entry.error = Some(error);
            }
        }
        entries.insert(name.to_string(), entry);
    }

    /// Forgets a registration.
    pub fn unregister(&self, name: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(name);
        self.registry.remove(name);
    }

    /// Registered names with their standing.
    pub fn entries(&self) -> BTreeMap<String, Entry> {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

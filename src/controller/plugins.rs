//! Plugin registration at run time: the controller's ConfigMap (`serin-config`) and drop-in ConfigMaps labelled
//! `serin.dev/plugin=true` in the controller's namespace are watched; plugins load when they appear, reload when
//! they change and unload when they go, without a restart. A plugin that fails to load is logged, recorded as an
//! Event on its ConfigMap, and named on every resource that refers to it.

use crate::plugin::catalog::{Catalog, Entry};
use crate::plugin::component::PluginKind;
use crate::plugin::registration::{
    DROP_IN_COMPONENT_KEY, DROP_IN_LABEL, DROP_IN_REGISTRATION_KEY, PluginEntry, component_bytes,
    parse_config, register,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;

/// Watches plugin ConfigMaps until `shutdown`; `ready` turns true once the first full listing is applied.
pub async fn run(
    catalog: Arc<Catalog>,
    client: kube::Client,
    namespace: String,
    config_name: String,
    recorder: Arc<super::events::EventRecorder>,
    ready: watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let mut state = Registrations {
        catalog,
        client,
        config_name,
        recorder,
        by_source: BTreeMap::new(),
        owner: BTreeMap::new(),
        relisting: None,
    };
    let mut stream = Box::pin(watcher(api, watcher::Config::default()).default_backoff());
    tokio::pin!(shutdown);
    loop {
        let event = tokio::select! {
            () = &mut shutdown => return,
            e = stream.next() => e,
        };
        match event {
            None => return,
            Some(Err(e)) => tracing::warn!("watching plugin ConfigMaps: {e}"),
            Some(Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm))) => state.apply(&cm).await,
            Some(Ok(watcher::Event::Delete(cm))) => state.forget(&cm.name_any()),
            Some(Ok(watcher::Event::Init)) => state.relisting = Some(BTreeSet::new()),
            Some(Ok(watcher::Event::InitDone)) => {
                // ConfigMaps deleted while the watch was down are gone from the listing: unload their plugins.
                let seen = state.relisting.take().unwrap_or_default();
                let stale: Vec<String> =
                    state.by_source.keys().filter(|s| !seen.contains(*s)).cloned().collect();
                for source in stale {
                    state.forget(&source);
                }
                let _ = ready.send(true);
            }
        }
    }
}

/// What was registered from a source, to skip reloading an unchanged registration.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    entry: PluginEntry,
    /// sha256 of a drop-in's component.
    component: Option<String>,
}

/// One registration a ConfigMap asks for.
struct Wanted {
    kind: Option<PluginKind>,
    entry: PluginEntry,
    bytes: Option<Vec<u8>>,
}

struct Registrations {
    catalog: Arc<Catalog>,
    client: kube::Client,
    config_name: String,
    recorder: Arc<super::events::EventRecorder>,
    /// What each ConfigMap registered.
    by_source: BTreeMap<String, BTreeMap<String, Fingerprint>>,
    /// Which ConfigMap a plugin name's current registration came from (the latest wins).
    owner: BTreeMap<String, String>,
    /// ConfigMaps seen since a (re)listing began.
    relisting: Option<BTreeSet<String>>,
}

impl Registrations {
    async fn apply(&mut self, cm: &ConfigMap) {
        let source = cm.name_any();
        if let Some(seen) = self.relisting.as_mut() {
            seen.insert(source.clone());
        }
        let mut problems = Vec::new();
        let wanted = self.wanted(cm, &mut problems);
        let before = self.by_source.get(&source).cloned().unwrap_or_default();
        let mut now = BTreeMap::new();
        for w in wanted {
            let name = w.entry.name.clone();
            let fingerprint = Fingerprint {
                entry: w.entry.clone(),
                component: w.bytes.as_ref().map(|b| hex::encode(Sha256::digest(b))),
            };
            let loaded = self.catalog.entries().get(&name).is_some_and(|e| e.error.is_none());
            let unchanged = before.get(&name) == Some(&fingerprint) && self.owner.get(&name) == Some(&source);
            if !(unchanged && loaded) {
                if let Some(other) = self.owner.get(&name).filter(|o| **o != source) {
                    tracing::warn!(plugin = %name, configmap = %source, "also registered by {other}; this registration wins");
                }
                let from = if source == self.config_name {
                    format!("ConfigMap {source}")
                } else {
                    format!("drop-in ConfigMap {source}")
                };
                match register(&self.catalog, w.kind, &w.entry, w.bytes, &from, Some(&self.client)).await {
                    Some(e) => problems.push(format!("plugin {name}: {e}")),
                    None => tracing::info!(plugin = %name, configmap = %source, "plugin loaded"),
                }
                self.owner.insert(name.clone(), source.clone());
            }
            now.insert(name, fingerprint);
        }
        for gone in before.keys().filter(|n| !now.contains_key(*n)) {
            self.unregister(gone, &source);
        }
        if now.is_empty() {
            self.by_source.remove(&source);
        } else {
            self.by_source.insert(source.clone(), now);
        }
        for problem in problems {
            tracing::warn!(configmap = %source, "{problem}");
            self.recorder.record(&cm.object_ref(&()), true, "PluginLoadFailed", &problem).await;
        }
    }

    /// The registrations a ConfigMap asks for: the controller's ConfigMap lists them, a drop-in carries one,
    /// anything else (including a drop-in whose label was removed) none.
    fn wanted(&self, cm: &ConfigMap, problems: &mut Vec<String>) -> Vec<Wanted> {
        if cm.name_any() == self.config_name {
            let (entries, parse_problems) = parse_config(&cm.data.clone().unwrap_or_default());
            problems.extend(parse_problems);
            return entries
                .into_iter()
                .map(|(kind, entry)| Wanted { kind: Some(kind), entry, bytes: None })
                .collect();
        }
        if cm.labels().get(DROP_IN_LABEL).is_none_or(|v| v != "true") {
            return Vec::new();
        }
        match drop_in_entry(cm) {
            Ok(entry) => match component_bytes(cm, DROP_IN_COMPONENT_KEY) {
                Some(bytes) => vec![Wanted { kind: None, entry, bytes: Some(bytes) }],
                None => {
                    let why = format!("binaryData.{DROP_IN_COMPONENT_KEY} is missing");
                    problems.push(format!("plugin {}: {why}", entry.name));
                    if crate::plugin::registration::valid_name(&entry.name).is_ok() {
                        let source = format!("drop-in ConfigMap {}", cm.name_any());
                        let failed = Entry {
                            source,
                            grants: Default::default(),
                            limits: Default::default(),
                            error: None,
                            disabled: false,
                        };
                        self.catalog.register(&entry.name, Err(why), failed);
                    }
                    Vec::new()
                }
            },
            Err(e) => {
                problems.push(e);
                Vec::new()
            }
        }
    }

    /// Unloads `name` if its current registration came from `source`.
    fn unregister(&mut self, name: &str, source: &str) {
        if self.owner.get(name).is_some_and(|o| o == source) {
            self.owner.remove(name);
            self.catalog.unregister(name);
            tracing::info!(plugin = %name, configmap = %source, "plugin unregistered");
        }
    }

    fn forget(&mut self, source: &str) {
        for name in self.by_source.remove(source).unwrap_or_default().into_keys() {
            self.unregister(&name, source);
        }
    }
}

fn drop_in_entry(cm: &ConfigMap) -> Result<PluginEntry, String> {
    let text = cm.data.as_ref().and_then(|d| d.get(DROP_IN_REGISTRATION_KEY)).ok_or_else(|| {
        format!("drop-in ConfigMap {} has no data.{DROP_IN_REGISTRATION_KEY}", cm.name_any())
    })?;
    let entry: PluginEntry = serde_saphyr::from_str(text)
        .map_err(|e| format!("drop-in ConfigMap {}: data.{DROP_IN_REGISTRATION_KEY}: {e}", cm.name_any()))?;
    if entry.location.is_some() {
        return Err(format!(
            "drop-in ConfigMap {}: data.{DROP_IN_REGISTRATION_KEY} must not set location (the component is binaryData.{DROP_IN_COMPONENT_KEY})",
            cm.name_any()
        ));
    }
    Ok(entry)
}

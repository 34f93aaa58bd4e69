//! Plugin registration at run time: the controller's ConfigMap (`serin-config`) and drop-in ConfigMaps labelled
//! `serin.dev/plugin=true` in the controller's namespace are watched; plugins load when they appear, reload when
//! they change and unload when they go, without a restart. A plugin that fails to load is logged, recorded as an
//! Event on its ConfigMap, and named on every resource that refers to it.
//!
//! The operator's ConfigMap outranks drop-ins: a name it registers is never taken by a drop-in, it can cap what
//! drop-ins may be granted (`dropInCapabilities`), and every drop-in is judged again whenever it changes. Of two
//! drop-ins with one name, the one registered first keeps it.

use crate::plugin::catalog::{Catalog, Entry};
use crate::plugin::component::PluginKind;
use crate::plugin::grants::Grants;
use crate::plugin::registration::{
    DROP_IN_CAP_KEY, DROP_IN_COMPONENT_KEY, DROP_IN_LABEL, DROP_IN_REGISTRATION_KEY, NETWORK_KEY,
    PluginEntry, component_bytes, parse_config, parse_drop_in_cap, parse_network, register,
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
        catalog: catalog.clone(),
        client,
        config_name,
        recorder,
        by_source: BTreeMap::new(),
        owner: BTreeMap::new(),
        relisting: None,
        drop_ins: BTreeMap::new(),
        operator_names: BTreeSet::new(),
        drop_in_cap: None,
        base_network: catalog_network(&catalog),
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
            Some(Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm))) => state.seen(cm).await,
            Some(Ok(watcher::Event::Delete(cm))) => {
                let source = cm.name_any();
                state.deleted(&source);
                if source == state.config_name {
                    state.judge_drop_ins().await;
                }
            }
            Some(Ok(watcher::Event::Init)) => state.relisting = Some(BTreeSet::new()),
            Some(Ok(watcher::Event::InitDone)) => {
                // ConfigMaps deleted while the watch was down are gone from the listing: unload their plugins.
                let seen = state.relisting.take().unwrap_or_default();
                let stale: BTreeSet<String> = state
                    .by_source
                    .keys()
                    .chain(state.drop_ins.keys())
                    .chain(std::iter::once(&state.config_name))
                    .filter(|s| !seen.contains(*s))
                    .cloned()
                    .collect();
                for source in stale {
                    state.deleted(&source);
                }
                // Drop-ins are judged once the operator's ConfigMap is known, so none loads for a moment with
                // more than it may have.
                state.judge_drop_ins().await;
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
    /// Refused rather than loaded (judged again every time).
    refused: bool,
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
    /// Which ConfigMap a plugin name's current registration (or refusal) came from.
    owner: BTreeMap<String, String>,
    /// ConfigMaps seen since a (re)listing began.
    relisting: Option<BTreeSet<String>>,
    /// Drop-in ConfigMaps as last seen, judged again whenever the operator's ConfigMap changes.
    drop_ins: BTreeMap<String, ConfigMap>,
    /// Names the operator's ConfigMap registers: no drop-in takes them.
    operator_names: BTreeSet<String>,
    /// What drop-ins may be granted at most, when the operator's ConfigMap says.
    drop_in_cap: Option<Grants>,
    /// The network policy the controller started with: in force whenever `serin-config` sets none.
    base_network: crate::plugin::net::NetworkPolicy,
}

fn catalog_network(catalog: &Catalog) -> crate::plugin::net::NetworkPolicy {
    catalog.registry().runtime().network().policy.clone()
}

impl Registrations {
    /// A ConfigMap appeared or changed.
    async fn seen(&mut self, cm: ConfigMap) {
        let source = cm.name_any();
        if let Some(seen) = self.relisting.as_mut() {
            seen.insert(source.clone());
        }
        if source == self.config_name {
            self.apply_config(&cm).await;
            // Drop-ins are judged again under the new settings (after a relisting, once it is done).
            if self.relisting.is_none() {
                self.judge_drop_ins().await;
            }
            return;
        }
        if cm.labels().get(DROP_IN_LABEL).is_none_or(|v| v != "true") {
            // Not (or no longer) a drop-in: whatever it registered goes.
            self.drop_ins.remove(&source);
            if self.by_source.contains_key(&source) {
                self.apply(&cm).await;
            }
            return;
        }
        self.drop_ins.insert(source, cm.clone());
        if self.relisting.is_none() {
            self.apply(&cm).await;
        }
    }

    /// A ConfigMap went away: its registrations go, and with the operator's ConfigMap its settings.
    fn deleted(&mut self, source: &str) {
        self.drop_ins.remove(source);
        self.forget(source);
        if source == self.config_name {
            self.operator_names.clear();
            self.drop_in_cap = None;
            let _ = self.catalog.registry().runtime().set_network_policy(self.base_network.clone());
        }
    }

    async fn judge_drop_ins(&mut self) {
        let drop_ins: Vec<ConfigMap> = self.drop_ins.values().cloned().collect();
        for cm in drop_ins {
            self.apply(&cm).await;
        }
    }

    /// The operator's ConfigMap: network settings, the cap on drop-ins, then its registrations.
    async fn apply_config(&mut self, cm: &ConfigMap) {
        let data = cm.data.clone().unwrap_or_default();
        let mut problems = Vec::new();
        match parse_network(&data).map(|p| p.unwrap_or_else(|| self.base_network.clone())) {
            Ok(policy) => {
                if let Err(e) = self.catalog.registry().runtime().set_network_policy(policy) {
                    problems.push(format!("{NETWORK_KEY}: {e}"));
                }
            }
            Err(e) => problems.push(e),
        }
        self.drop_in_cap = match parse_drop_in_cap(&data) {
            Ok(cap) => cap,
            Err(e) => {
                // A cap that cannot be read grants drop-ins nothing rather than everything.
                problems.push(format!("{e}; drop-ins are granted nothing until it is fixed"));
                Some(Grants::default())
            }
        };
        let (entries, _) = parse_config(&data);
        self.operator_names = entries.into_iter().map(|(_, e)| e.name).collect();
        for problem in problems {
            tracing::warn!(configmap = %self.config_name, "{problem}");
            self.recorder.record(&cm.object_ref(&()), true, "PluginConfigInvalid", &problem);
        }
        self.apply(cm).await;
    }

    /// Why a drop-in's registration may not be used as it stands, if it may not.
    fn refusal(&self, source: &str, entry: &PluginEntry) -> Option<String> {
        let name = &entry.name;
        if self.operator_names.contains(name) {
            return Some(format!(
                "plugin {name} is registered in ConfigMap {}, which takes precedence over drop-ins; this drop-in is not used",
                self.config_name
            ));
        }
        let serving =
            |other: &String| self.by_source.get(other).and_then(|m| m.get(name)).is_some_and(|f| !f.refused);
        if let Some(other) =
            self.owner.get(name).filter(|o| o.as_str() != source && **o != self.config_name && serving(o))
        {
            return Some(format!(
                "plugin {name} is already registered by drop-in ConfigMap {other}; this drop-in is not used"
            ));
        }
        let cap = self.drop_in_cap.as_ref()?;
        let beyond = entry.grants().ok()?.beyond(cap);
        if beyond.is_empty() {
            return None;
        }
        Some(format!(
            "plugin {name} asks for more than ConfigMap {}'s {DROP_IN_CAP_KEY} allows drop-ins: {}",
            self.config_name,
            beyond.join("; ")
        ))
    }

    async fn apply(&mut self, cm: &ConfigMap) {
        let source = cm.name_any();
        let mut problems = Vec::new();
        let wanted = self.wanted(cm, &mut problems);
        let before = self.by_source.get(&source).cloned().unwrap_or_default();
        let mut now = BTreeMap::new();
        for w in wanted {
            let name = w.entry.name.clone();
            if source != self.config_name
                && let Some(why) = self.refusal(&source, &w.entry)
            {
                problems.push(why.clone());
                // Runs that name the plugin say why, unless another registration serves the name.
                if self.owner.get(&name).is_none_or(|o| *o == source) {
                    self.catalog.register(&name, Err(why), refused_entry(&source));
                    self.owner.insert(name.clone(), source.clone());
                    now.insert(name, Fingerprint { entry: w.entry, component: None, refused: true });
                }
                continue;
            }
            let fingerprint = Fingerprint {
                entry: w.entry.clone(),
                component: w.bytes.as_ref().map(|b| hex::encode(Sha256::digest(b))),
                refused: false,
            };
            let loaded = self.catalog.entries().get(&name).is_some_and(|e| e.error.is_none());
            let unchanged = before.get(&name) == Some(&fingerprint) && self.owner.get(&name) == Some(&source);
            if !(unchanged && loaded) {
                if let Some(other) = self.owner.get(&name).filter(|o| **o != source) {
                    tracing::warn!(plugin = %name, configmap = %source, "also registered by {other}; this registration takes precedence");
                    if let Some(drop_in) = self.drop_ins.get(other) {
                        let why = format!(
                            "plugin {name} is registered in ConfigMap {source}, which takes precedence over drop-ins; this drop-in is not used"
                        );
                        self.recorder.record(&drop_in.object_ref(&()), true, "PluginLoadFailed", &why);
                    }
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
            self.recorder.record(&cm.object_ref(&()), true, "PluginLoadFailed", &problem);
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
                        self.catalog.register(&entry.name, Err(why), refused_entry(&cm.name_any()));
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

/// The catalog entry of a drop-in that is not loaded (the error comes with it).
fn refused_entry(source: &str) -> Entry {
    Entry {
        source: format!("drop-in ConfigMap {source}"),
        grants: Default::default(),
        limits: Default::default(),
        error: None,
        disabled: false,
    }
}

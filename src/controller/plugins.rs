//! Plugin registration at run time: the controller's ConfigMap (`serin-config`) and drop-in ConfigMaps labelled
//! `serin.dev/plugin=true` in the controller's namespace are watched; plugins load when they appear, reload when
//! they change and unload when they go, without a restart. A plugin that fails to load is logged, recorded as an
//! Event on its ConfigMap, and named on every resource that refers to it.

use crate::plugin::catalog::Catalog;
use crate::plugin::registration::{
    DROP_IN_COMPONENT_KEY, DROP_IN_LABEL, DROP_IN_REGISTRATION_KEY, PluginEntry, component_bytes,
    parse_config, register,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;

/// Watches plugin ConfigMaps until `shutdown`; `ready` turns true once the first full listing is applied.
pub async fn run(
    catalog: Arc<Catalog>,
    client: kube::Client,
    namespace: String,
    config_name: String,
    recorder: Recorder,
    ready: watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let mut state = Registrations { catalog, client, config_name, recorder, by_source: BTreeMap::new() };
    let mut stream = Box::pin(watcher(api, watcher::Config::default()));
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
            Some(Ok(watcher::Event::Init)) => {}
            Some(Ok(watcher::Event::InitDone)) => {
                let _ = ready.send(true);
            }
        }
    }
}

struct Registrations {
    catalog: Arc<Catalog>,
    client: kube::Client,
    config_name: String,
    recorder: Recorder,
    /// Plugin names each ConfigMap registered, to unload what disappears from it.
    by_source: BTreeMap<String, BTreeSet<String>>,
}

impl Registrations {
    async fn apply(&mut self, cm: &ConfigMap) {
        let source = cm.name_any();
        let mut problems = Vec::new();
        let mut names = BTreeSet::new();
        if source == self.config_name {
            let (entries, parse_problems) = parse_config(&cm.data.clone().unwrap_or_default());
            problems.extend(parse_problems);
            for (kind, entry) in entries {
                names.insert(entry.name.clone());
                let from = format!("ConfigMap {source}");
                if let Some(e) =
                    register(&self.catalog, Some(kind), &entry, None, &from, Some(&self.client)).await
                {
                    problems.push(format!("plugin {}: {e}", entry.name));
                }
            }
        } else if cm.labels().get(DROP_IN_LABEL).is_some_and(|v| v == "true") {
            match drop_in_entry(cm) {
                Ok(entry) => {
                    names.insert(entry.name.clone());
                    let bytes = component_bytes(cm, DROP_IN_COMPONENT_KEY);
                    let from = format!("drop-in ConfigMap {source}");
                    let failure = match bytes {
                        Some(bytes) => register(&self.catalog, None, &entry, Some(bytes), &from, None).await,
                        None => {
                            let why = format!("binaryData.{DROP_IN_COMPONENT_KEY} is missing");
                            self.catalog.register(
                                &entry.name,
                                Err(why.clone()),
                                crate::plugin::catalog::Entry {
                                    source: from,
                                    grants: Default::default(),
                                    limits: Default::default(),
                                    error: None,
                                },
                            );
                            Some(why)
                        }
                    };
                    match failure {
                        Some(e) => problems.push(format!("plugin {}: {e}", entry.name)),
                        None => tracing::info!(plugin = %entry.name, configmap = %source, "plugin loaded"),
                    }
                }
                Err(e) => problems.push(e),
            }
        } else {
            return;
        }
        let before = self.by_source.insert(source.clone(), names.clone()).unwrap_or_default();
        for gone in before.difference(&names) {
            self.catalog.unregister(gone);
            tracing::info!(plugin = %gone, configmap = %source, "plugin unregistered");
        }
        for problem in problems {
            tracing::warn!(configmap = %source, "{problem}");
            let event = Event {
                type_: EventType::Warning,
                reason: "PluginLoadFailed".into(),
                note: Some(problem),
                action: "LoadPlugin".into(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &cm.object_ref(&())).await {
                tracing::debug!("cannot record event: {e}");
            }
        }
    }

    fn forget(&mut self, source: &str) {
        for name in self.by_source.remove(source).unwrap_or_default() {
            self.catalog.unregister(&name);
            tracing::info!(plugin = %name, configmap = %source, "plugin unregistered");
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

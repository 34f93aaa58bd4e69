//! Plugin registration, modelled on Argo's `argo-rollouts-config`: the controller's ConfigMap lists plugins per
//! kind (`metricProviderPlugins`, `trafficRouterPlugins`, `stepPlugins`, `conditionEvaluatorPlugins`) with where their component
//! is, its sha256, the capabilities granted and the limits; drop-in ConfigMaps carry a component themselves.

use super::catalog::{Catalog, Entry};
use super::component::{Plugin, PluginKind};
use super::grants::{Grants, HttpGrant, KubernetesGrant, PrometheusGrant, Verb};
use super::limits::{Limits, parse_bytes};
use super::net::{Cidr, NetworkPolicy, parse_ca_bundle};
use crate::api::duration::parse_flag_duration;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Label marking a ConfigMap in the controller's namespace as a drop-in plugin.
pub const DROP_IN_LABEL: &str = "serin.dev/plugin";
/// Drop-in key holding the registration (an entry without `location`).
pub const DROP_IN_REGISTRATION_KEY: &str = "plugin.yaml";
/// Drop-in `binaryData` key holding the component (gzip-compressed bytes are accepted).
pub const DROP_IN_COMPONENT_KEY: &str = "plugin.wasm";
/// Largest component fetched over https.
const MAX_DOWNLOAD: usize = 256 << 20;

/// One registered plugin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginEntry {
    /// `org/name`, as Rollouts and AnalysisTemplates refer to it.
    pub name: String,
    /// `configmap://<namespace>/<name>/<key>`, `file://<path>` or `https://…`; absent for drop-ins.
    #[serde(default)]
    pub location: Option<String>,
    /// Lower-case hex sha256 of the component: exactly 64 hex digits; required for `https://`.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Argo's command-line arguments for a plugin process. Accepted so that upstream's registrations load
    /// unchanged; a component has no command line, so they are not passed on.
    #[serde(default)]
    pub args: Vec<String>,
    /// Step plugins (Argo's field): registered, but the steps that use it are skipped.
    #[serde(default)]
    pub disabled: bool,
}

/// What a plugin may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Origins for outbound HTTP (`https://host[:port]`).
    #[serde(default)]
    pub http: Vec<String>,
    /// Origins for outbound HTTP without TLS certificate verification.
    #[serde(default)]
    pub http_insecure: Vec<String>,
    /// Prometheus addresses for typed queries.
    #[serde(default)]
    pub prometheus: Vec<String>,
    /// Prometheus addresses for typed queries without TLS certificate verification.
    #[serde(default)]
    pub prometheus_insecure: Vec<String>,
    /// Kubernetes resources and verbs, in the namespace of the object served.
    #[serde(default)]
    pub kubernetes: Vec<KubernetesCapability>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesCapability {
    #[serde(default)]
    pub group: String,
    pub resource: String,
    pub verbs: Vec<String>,
    /// Namespaces the grant covers; none: only the namespace of the object being served.
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// Per-call limits; defaults apply to what is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsSpec {
    /// e.g. `10s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// e.g. `64Mi`.
    #[serde(default)]
    pub memory: Option<String>,
    /// e.g. `1Mi`.
    #[serde(default)]
    pub output: Option<String>,
}

impl Capabilities {
    /// The grants these capabilities name; an error names the field and the problem.
    pub fn grants(&self) -> Result<Grants, String> {
        let c = self;
        let mut grants = Grants::default();
        for (origins, insecure) in [(&c.http, false), (&c.http_insecure, true)] {
            for o in origins {
                grants
                    .http
                    .push(HttpGrant::for_url(o, insecure).map_err(|e| format!("capabilities.http: {e}"))?);
            }
        }
        for (addresses, insecure) in [(&c.prometheus, false), (&c.prometheus_insecure, true)] {
            for a in addresses {
                let grant =
                    PrometheusGrant::for_address(a).map_err(|e| format!("capabilities.prometheus: {e}"))?;
                grants.prometheus.push(grant.insecure(insecure));
            }
        }
        for k in &c.kubernetes {
            let verbs = k
                .verbs
                .iter()
                .map(|v| Verb::parse(v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("capabilities.kubernetes: {e}"))?;
            if let Some(bad) = k.namespaces.iter().find(|n| !super::kube::is_namespace_name(n)) {
                return Err(format!(
                    "capabilities.kubernetes: namespace {bad:?} is not a valid namespace name"
                ));
            }
            grants.kubernetes.push(KubernetesGrant {
                group: k.group.clone(),
                resource: k.resource.clone(),
                verbs,
                namespaces: k.namespaces.clone(),
            });
        }
        Ok(grants)
    }
}

impl PluginEntry {
    pub fn grants(&self) -> Result<Grants, String> {
        self.capabilities.grants()
    }

    pub fn limits(&self) -> Result<Limits, String> {
        let mut limits = Limits::default();
        if let Some(t) = &self.limits.timeout {
            limits.deadline = parse_flag_duration(t).map_err(|e| format!("limits.timeout: {e}"))?;
        }
        if let Some(m) = &self.limits.memory {
            limits.memory = parse_bytes(m).map_err(|e| format!("limits.memory: {e}"))?;
            if limits.memory > super::limits::MAX_MEMORY {
                return Err(format!("limits.memory: at most {} bytes", super::limits::MAX_MEMORY));
            }
        }
        if let Some(o) = &self.limits.output {
            limits.output = parse_bytes(o).map_err(|e| format!("limits.output: {e}"))? as usize;
        }
        Ok(limits)
    }
}

/// The ConfigMap keys per plugin kind.
const KINDS: &[(&str, PluginKind)] = &[
    ("metricProviderPlugins", PluginKind::MetricProvider),
    ("trafficRouterPlugins", PluginKind::TrafficRouter),
    ("conditionEvaluatorPlugins", PluginKind::ConditionEvaluator),
    ("stepPlugins", PluginKind::StepPlugin),
];

/// Entries of the controller's ConfigMap, and every problem found (each names the key and entry).
pub fn parse_config(data: &BTreeMap<String, String>) -> (Vec<(PluginKind, PluginEntry)>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (key, kind) in KINDS {
        let Some(text) = data.get(*key) else { continue };
        match serde_saphyr::from_str::<Vec<PluginEntry>>(text) {
            Ok(list) => entries.extend(list.into_iter().map(|e| (*kind, e))),
            Err(e) => problems.push(format!("{key}: {e}")),
        }
    }
    (entries, problems)
}

/// `serin-config` key with the network settings for plugins (a YAML [`NetworkSpec`]).
pub const NETWORK_KEY: &str = "pluginNetwork";
/// `serin-config` key with what drop-in registrations may be granted at most (a YAML [`Capabilities`]).
pub const DROP_IN_CAP_KEY: &str = "dropInCapabilities";

/// Where plugins' connections may go, and which CAs they trust.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// Networks any granted name may resolve into (e.g. a corporate range behind public-looking names).
    #[serde(default, rename = "allowCIDRs")]
    pub allow_cidrs: Vec<String>,
    /// The cluster's DNS domain, `cluster.local` unless set.
    #[serde(default)]
    pub cluster_domain: Option<String>,
    /// PEM certificates of CAs trusted for plugins' TLS origins, besides the public roots.
    #[serde(default)]
    pub ca_bundle: Option<String>,
    /// A PEM file (e.g. a mounted ConfigMap) with more such CAs, read when the ConfigMap is applied.
    #[serde(default)]
    pub ca_bundle_file: Option<String>,
}

/// The network policy `serin-config` sets (`None` when it sets none); an error names the field.
pub fn parse_network(data: &BTreeMap<String, String>) -> Result<Option<NetworkPolicy>, String> {
    let Some(text) = data.get(NETWORK_KEY) else { return Ok(None) };
    let spec: NetworkSpec = serde_saphyr::from_str(text).map_err(|e| format!("{NETWORK_KEY}: {e}"))?;
    let mut policy = NetworkPolicy::default();
    for c in &spec.allow_cidrs {
        policy.allow_cidrs.push(Cidr::parse(c).map_err(|e| format!("{NETWORK_KEY}.allowCIDRs: {e}"))?);
    }
    if let Some(domain) = spec.cluster_domain {
        let domain = domain.trim_matches('.').to_ascii_lowercase();
        if domain.is_empty() || domain.split('.').any(|l| !super::kube::is_namespace_name(l)) {
            return Err(format!("{NETWORK_KEY}.clusterDomain: {domain:?} is not a DNS domain"));
        }
        policy.cluster_domain = domain;
    }
    if let Some(pem) = &spec.ca_bundle {
        policy.ca_bundle.extend(parse_ca_bundle(pem.as_bytes(), &format!("{NETWORK_KEY}.caBundle"))?);
    }
    if let Some(path) = &spec.ca_bundle_file {
        let what = format!("{NETWORK_KEY}.caBundleFile");
        let pem = std::fs::read(path).map_err(|e| format!("{what}: cannot read {path}: {e}"))?;
        policy.ca_bundle.extend(parse_ca_bundle(&pem, &what)?);
    }
    Ok(Some(policy))
}

/// What `serin-config` lets drop-ins be granted: `None` when it does not cap them.
pub fn parse_drop_in_cap(data: &BTreeMap<String, String>) -> Result<Option<Grants>, String> {
    let Some(text) = data.get(DROP_IN_CAP_KEY) else { return Ok(None) };
    let caps: Capabilities = serde_saphyr::from_str(text).map_err(|e| format!("{DROP_IN_CAP_KEY}: {e}"))?;
    caps.grants().map(Some).map_err(|e| format!("{DROP_IN_CAP_KEY}: {e}"))
}

/// Registered plugins are named `org/name`, and never after a built-in: a registration must not be able to
/// stand in for a built-in, whose grants come from its configuration.
pub fn valid_name(name: &str) -> Result<(), String> {
    let valid = name.split_once('/').is_some_and(|(org, rest)| {
        !org.is_empty() && !rest.is_empty() && !rest.contains('/') && !name.chars().any(char::is_whitespace)
    });
    if !valid {
        return Err(format!("plugin name {name:?}: registered plugins are named org/name"));
    }
    if super::builtin::find(name).is_some() {
        return Err(format!("plugin name {name:?} is a built-in's"));
    }
    Ok(())
}

/// Fetches the component an entry's location names.
pub async fn fetch(entry: &PluginEntry, kube: Option<&kube::Client>) -> Result<Vec<u8>, String> {
    let location = entry.location.as_deref().ok_or("location is required")?;
    if let Some(path) = location.strip_prefix("file://") {
        return tokio::fs::read(path).await.map_err(|e| format!("cannot read {path}: {e}"));
    }
    if let Some(rest) = location.strip_prefix("configmap://") {
        let mut parts = rest.splitn(3, '/');
        let (Some(ns), Some(name), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("location {location:?}: expected configmap://<namespace>/<name>/<key>"));
        };
        let client = kube.ok_or("configmap:// locations need a cluster")?;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), ns);
        let cm = api.get(name).await.map_err(|e| format!("cannot read ConfigMap {ns}/{name}: {e}"))?;
        return component_bytes(&cm, key).ok_or_else(|| format!("ConfigMap {ns}/{name} has no key {key:?}"));
    }
    if location.starts_with("https://") {
        if entry.sha256.is_none() {
            return Err("sha256 is required for https:// locations".into());
        }
        return download(location).await;
    }
    Err(format!("location {location:?}: use configmap://, file:// or https://"))
}

/// Downloads a component over https: bounded in time and size, following redirects only to https.
async fn download(location: &str) -> Result<Vec<u8>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot download {location}: {e}");
    // reqwest is built without a default crypto provider; use ring, as kube does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().scheme() != "https" {
                attempt.error("redirected away from https")
            } else if attempt.previous().len() >= 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|e| failed(&e))?;
    let mut response = client.get(location).send().await.map_err(|e| failed(&e))?;
    if !response.status().is_success() {
        return Err(failed(&format!("HTTP {}", response.status())));
    }
    if response.content_length().is_some_and(|n| n > MAX_DOWNLOAD as u64) {
        return Err(format!("{location} is larger than {MAX_DOWNLOAD} bytes"));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(&e))? {
        if bytes.len() + chunk.len() > MAX_DOWNLOAD {
            return Err(format!("{location} is larger than {MAX_DOWNLOAD} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A component stored in a ConfigMap's `binaryData` (what `kubectl create configmap --from-file` makes of a
/// binary file).
pub fn component_bytes(cm: &ConfigMap, key: &str) -> Option<Vec<u8>> {
    cm.binary_data.as_ref().and_then(|d| d.get(key)).map(|b| b.0.clone())
}

/// Loads one entry into the catalog (or records why it failed); returns the failure, if any.
pub async fn register(
    catalog: &Catalog,
    kind: Option<PluginKind>,
    entry: &PluginEntry,
    bytes: Option<Vec<u8>>,
    source: &str,
    kube: Option<&kube::Client>,
) -> Option<String> {
    // An invalid name is refused before anything is recorded under it (it could be a built-in's).
    if let Err(e) = valid_name(&entry.name) {
        return Some(e);
    }
    let grants = entry.grants();
    let limits = entry.limits();
    let loaded: Result<Arc<Plugin>, String> = async {
        grants.as_ref().map_err(Clone::clone)?;
        limits.as_ref().map_err(Clone::clone)?;
        let bytes = match bytes {
            Some(b) => b,
            None => fetch(entry, kube).await?,
        };
        // Compiling a large component takes seconds: keep it off the async workers.
        let (runtime, name, sha256) =
            (catalog.registry().runtime().clone(), entry.name.clone(), entry.sha256.clone());
        let plugin =
            tokio::task::spawn_blocking(move || Plugin::load(&runtime, &name, &bytes, sha256.as_deref()))
                .await
                .map_err(|e| format!("loading was interrupted: {e}"))?
                .map_err(|e| e.to_string())?;
        if let Some(kind) = kind
            && plugin.kind() != kind
        {
            return Err(format!("is a {}, but is registered as a {kind}", plugin.kind()));
        }
        Ok(Arc::new(plugin))
    }
    .await;
    let failure = loaded.as_ref().err().cloned();
    let catalog_entry = Entry {
        source: source.to_string(),
        grants: grants.unwrap_or_default(),
        limits: limits.unwrap_or_default(),
        error: None,
        disabled: entry.disabled,
    };
    catalog.register(&entry.name, loaded, catalog_entry);
    failure
}

/// Applies a serin-config ConfigMap given as YAML (as `serin analyze --plugin-config` does); returns problems.
pub async fn apply_config_yaml(catalog: &Catalog, yaml: &str, kube: Option<&kube::Client>) -> Vec<String> {
    let cm: ConfigMap = match serde_saphyr::from_str(yaml) {
        Ok(cm) => cm,
        Err(e) => return vec![format!("not a ConfigMap: {e}")],
    };
    let data = cm.data.unwrap_or_default();
    let (entries, mut problems) = parse_config(&data);
    match parse_network(&data) {
        Ok(Some(policy)) => {
            if let Err(e) = catalog.registry().runtime().set_network_policy(policy) {
                problems.push(format!("{NETWORK_KEY}: {e}"));
            }
        }
        Ok(None) => {}
        Err(e) => problems.push(e),
    }
    for (kind, entry) in entries {
        if let Some(e) = register(catalog, Some(kind), &entry, None, &entry.name, kube).await {
            problems.push(format!("plugin {}: {e}", entry.name));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_names_are_org_slash_name_and_not_built_ins() {
        assert!(valid_name("acme/latency").is_ok());
        for bad in ["latency", "acme/", "/latency", "a/b/c", "acme/lat ency", "prometheus", "web"] {
            assert!(valid_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstreams_step_plugin_registrations_parse() {
        let data = BTreeMap::from([(
            "stepPlugins".to_string(),
            "- name: argoproj-labs/sample-step\n  location: file:///plugins/step.wasm\n  args: [\"--verbose\"]\n  disabled: true\n".to_string(),
        )]);
        let (entries, problems) = parse_config(&data);
        assert!(problems.is_empty(), "{problems:?}");
        let [(kind, entry)] = entries.as_slice() else { panic!("{entries:?}") };
        assert_eq!(*kind, PluginKind::StepPlugin);
        assert_eq!(
            (entry.name.as_str(), entry.disabled, entry.args.as_slice()),
            ("argoproj-labs/sample-step", true, &["--verbose".to_string()][..])
        );
    }

    #[test]
    fn capabilities_and_limits_parse_with_field_names_in_errors() {
        let entry: PluginEntry = serde_saphyr::from_str(
            "name: acme/x\ncapabilities:\n  http: [\"https://a.example\"]\n  prometheusInsecure: [\"https://p.example/prom\"]\n  kubernetes:\n  - {group: batch, resource: jobs, verbs: [get, create]}\nlimits: {timeout: 2s, memory: 32Mi}\n",
        )
        .expect("entry");
        let grants = entry.grants().expect("grants");
        assert_eq!(grants.http.len(), 1);
        assert!(grants.prometheus[0].insecure_tls);
        assert_eq!(grants.kubernetes[0].verbs, vec![Verb::Get, Verb::Create]);
        assert_eq!(entry.limits().expect("limits").memory, 32 << 20);
        let bad: PluginEntry = serde_saphyr::from_str(
            "name: acme/x\ncapabilities:\n  kubernetes:\n  - {resource: jobs, verbs: [steal]}\n",
        )
        .expect("entry");
        assert_eq!(
            bad.grants().unwrap_err(),
            "capabilities.kubernetes: unknown verb \"steal\" (use get, list, create, update, patch, delete)"
        );
        assert!(
            serde_saphyr::from_str::<PluginEntry>("name: acme/x\ncapability: {}\n").is_err(),
            "unknown fields are refused"
        );
    }
}

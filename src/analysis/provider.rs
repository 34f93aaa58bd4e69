//! Which plugin measures a metric, with what configuration and capabilities. Argo's in-tree provider names map
//! to built-in plugins, granted exactly what their configuration names; `provider.plugin.<name>` maps to a
//! registered plugin, granted what its registration lists — never what a template asks for.

use crate::api::analysis::{Metric, MetricProvider};
use crate::plugin::grants::{Grants, HttpGrant, KubernetesGrant, PrometheusGrant, Verb};
use crate::plugin::limits::Limits;
use std::collections::BTreeMap;

/// The plugin and configuration for one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Plugin name: a built-in (`prometheus`, `web`, `job`) or a registered `org/name`.
    pub plugin: String,
    /// Whether it is a built-in, whose grants are derived here.
    pub builtin: bool,
    /// The provider's configuration as JSON.
    pub config: serde_json::Value,
    /// Grants a built-in gets from its configuration.
    pub grants: Grants,
    /// Limits for a built-in (a registered plugin's come from its registration).
    pub limits: Limits,
    /// Metric-result metadata the provider reports up front (Argo's `GetMetadata`).
    pub metadata: BTreeMap<String, String>,
}

/// Longest a built-in's call may take, whatever timeout the template asks for.
const MAX_BUILTIN_DEADLINE: u64 = 300;

/// Providers upstream has in-tree that serin does not ship a built-in plugin for (yet).
const NOT_BUILT_IN: &[&str] =
    &["datadog", "newRelic", "wavefront", "kayenta", "cloudWatch", "graphite", "influxdb", "skywalking"];

/// Chooses the plugin for a metric whose arguments are already substituted.
pub fn select(metric: &Metric) -> Result<Selection, String> {
    let p: &MetricProvider = &metric.provider;
    if let Some(web) = &p.web {
        let mut grants = Grants::default();
        grants.http.push(
            HttpGrant::for_url(&web.url, web.insecure.unwrap_or(false))
                .map_err(|e| format!("web: url: {e}"))?,
        );
        if let Some(token_url) =
            web.authentication.as_ref().and_then(|a| a.oauth2.as_ref()).and_then(|o| o.token_url.as_deref())
        {
            grants
                .http
                .push(HttpGrant::for_url(token_url, false).map_err(|e| format!("web: tokenUrl: {e}"))?);
        }
        // The plugin's own deadline covers the whole request; leave it room beyond timeoutSeconds.
        let timeout = web.timeout_seconds.filter(|t| *t > 0).unwrap_or(10) as u64;
        let limits = Limits { deadline: deadline(timeout), ..Limits::default() };
        return Ok(builtin("web", to_json(web)?, grants, limits, BTreeMap::new()));
    }
    if let Some(prom) = &p.prometheus {
        let mut grants = Grants::default();
        if let Some(address) = prom.address.as_deref().filter(|a| !a.is_empty())
            && let Ok(g) = PrometheusGrant::for_address(address)
        {
            // An unparsable address is reported by the plugin with upstream's message.
            grants.prometheus.push(g.insecure(prom.insecure.unwrap_or(false)));
        }
        if let Some(token_url) =
            prom.authentication.as_ref().and_then(|a| a.oauth2.as_ref()).and_then(|o| o.token_url.as_deref())
        {
            grants.http.push(
                HttpGrant::for_url(token_url, false).map_err(|e| format!("prometheus: tokenUrl: {e}"))?,
            );
        }
        let timeout = prom.timeout.filter(|t| *t > 0).unwrap_or(30) as u64;
        let limits = Limits { deadline: deadline(timeout), ..Limits::default() };
        let metadata = prom
            .query
            .iter()
            .filter(|q| !q.is_empty())
            .map(|q| ("ResolvedPrometheusQuery".to_string(), q.clone()))
            .collect();
        return Ok(builtin("prometheus", to_json(prom)?, grants, limits, metadata));
    }
    if let Some(job) = &p.job {
        let grants = Grants {
            kubernetes: vec![KubernetesGrant {
                group: "batch".into(),
                resource: "jobs".into(),
                verbs: vec![Verb::Get, Verb::List, Verb::Create, Verb::Delete],
                namespaces: vec![],
            }],
            ..Grants::default()
        };
        return Ok(builtin("job", to_json(job)?, grants, Limits::default(), BTreeMap::new()));
    }
    if let Some(plugins) = &p.plugin {
        let mut entries = plugins.iter();
        return match (entries.next(), entries.next()) {
            (Some((name, config)), None) => Ok(Selection {
                plugin: name.clone(),
                builtin: false,
                config: config.clone(),
                grants: Grants::default(),
                limits: Limits::default(),
                metadata: BTreeMap::new(),
            }),
            _ => Err("provider.plugin must name exactly one plugin".into()),
        };
    }
    let provider = serde_json::to_value(p).map_err(|e| e.to_string())?;
    let named =
        provider.as_object().and_then(|o| o.keys().find(|k| NOT_BUILT_IN.contains(&k.as_str())).cloned());
    Err(match named {
        Some(name) => format!(
            "the {name} provider has no built-in plugin in serin yet; register a plugin for it and use provider.plugin"
        ),
        None => "metric has no provider".into(),
    })
}

fn builtin(
    name: &str,
    config: serde_json::Value,
    grants: Grants,
    limits: Limits,
    metadata: BTreeMap<String, String>,
) -> Selection {
    Selection { plugin: name.into(), builtin: true, config, grants, limits, metadata }
}

/// A built-in's call deadline: its own request timeout plus room for the rest of the call, bounded.
fn deadline(timeout_seconds: u64) -> std::time::Duration {
    std::time::Duration::from_secs(timeout_seconds.saturating_add(5).min(MAX_BUILTIN_DEADLINE))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::analysis::{PrometheusMetric, WebMetric};
    use crate::api::fixtures::prometheus_metric;

    #[test]
    fn built_ins_are_granted_exactly_what_their_configuration_names() {
        let s = select(&prometheus_metric("m")).expect("prometheus");
        assert_eq!(s.plugin, "prometheus");
        assert_eq!(
            s.grants.prometheus,
            vec![PrometheusGrant::for_address("http://127.0.0.1:9090").expect("grant")]
        );
        assert!(s.grants.http.is_empty() && s.grants.kubernetes.is_empty());
        assert_eq!(s.metadata.get("ResolvedPrometheusQuery").map(String::as_str), Some("up"));

        let mut m = prometheus_metric("w");
        m.provider = MetricProvider {
            web: Some(WebMetric {
                url: "https://status.example.com/api".into(),
                insecure: Some(true),
                ..WebMetric::default()
            }),
            ..MetricProvider::default()
        };
        let s = select(&m).expect("web");
        assert_eq!(
            s.grants.http,
            vec![HttpGrant::for_url("https://status.example.com", true).expect("grant")]
        );
        assert_eq!(s.config["url"], "https://status.example.com/api");
    }

    #[test]
    fn registered_plugins_get_their_config_and_no_grants_from_the_template() {
        let mut m = prometheus_metric("p");
        m.provider = MetricProvider {
            plugin: Some(BTreeMap::from([("acme/latency".to_string(), serde_json::json!({"q": 1}))])),
            ..MetricProvider::default()
        };
        let s = select(&m).expect("plugin");
        assert_eq!((s.plugin.as_str(), s.builtin), ("acme/latency", false));
        assert_eq!(s.grants, Grants::default());
        assert_eq!(s.config, serde_json::json!({"q": 1}));
    }

    #[test]
    fn providers_without_a_plugin_are_a_clear_error() {
        let mut m = prometheus_metric("d");
        m.provider =
            serde_json::from_value(serde_json::json!({"datadog": {"query": "x"}})).expect("provider");
        assert_eq!(
            select(&m).unwrap_err(),
            "the datadog provider has no built-in plugin in serin yet; register a plugin for it and use provider.plugin"
        );
        m.provider =
            MetricProvider { prometheus: Some(PrometheusMetric::default()), ..MetricProvider::default() };
        assert_eq!(select(&m).expect("prometheus").grants, Grants::default());
    }
}

//! Analysis arguments: `{{args.NAME}}` substitution into a metric (values JSON-escaped, as upstream does), Secret
//! arguments resolved at measurement time and redacted from messages.

use crate::api::analysis::Metric;
use crate::api::common::{Argument, substitute_placeholders};
use k8s_openapi::api::core::v1::Secret;
use std::collections::BTreeMap;

/// Stand-in for a Secret argument when only the shape of the metrics matters (validation, scheduling).
const SECRET_PLACEHOLDER: &str = "temp-for-secret";

/// Argument values for one reconcile, and the secret values among them (to redact).
#[derive(Debug, Clone, Default)]
pub struct ArgValues {
    values: BTreeMap<String, Option<String>>,
    secrets: Vec<String>,
}

impl ArgValues {
    /// Literal values, with Secret arguments standing in as a placeholder.
    pub fn without_secrets(args: &[Argument]) -> ArgValues {
        let values = args
            .iter()
            .map(|a| {
                let secret = a.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).is_some();
                let value = if secret { Some(SECRET_PLACEHOLDER.to_string()) } else { a.value.clone() };
                (a.name.clone(), value)
            })
            .collect();
        ArgValues { values, secrets: Vec::new() }
    }

    /// Literal values and Secret values read from the run's namespace.
    pub async fn with_secrets(
        args: &[Argument],
        namespace: &str,
        client: Option<&kube::Client>,
    ) -> Result<ArgValues, String> {
        let mut out = ArgValues::without_secrets(args);
        for arg in args {
            let Some(secret_ref) = arg.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) else {
                continue;
            };
            let Some(client) = client else {
                return Err(format!(
                    "args.{}: secret {:?} cannot be read without a cluster",
                    arg.name, secret_ref.name
                ));
            };
            let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), namespace);
            let secret = api.get(&secret_ref.name).await.map_err(|e| match e {
                kube::Error::Api(s) => s.message,
                other => other.to_string(),
            })?;
            let bytes = secret
                .data
                .as_ref()
                .and_then(|d| d.get(&secret_ref.key))
                .map(|b| b.0.clone())
                .or_else(|| {
                    secret
                        .string_data
                        .as_ref()
                        .and_then(|d| d.get(&secret_ref.key))
                        .map(|s| s.clone().into_bytes())
                })
                .ok_or_else(|| {
                    format!("key '{}' does not exist in secret '{}'", secret_ref.key, secret_ref.name)
                })?;
            let value = String::from_utf8_lossy(&bytes).into_owned();
            if !value.is_empty() {
                out.secrets.push(value.clone());
            }
            out.values.insert(arg.name.clone(), Some(value));
        }
        Ok(out)
    }

    /// The metric with every `{{args.NAME}}` replaced; an argument without a value, or a placeholder naming no
    /// argument, is an error with upstream's wording.
    pub fn resolve(&self, metric: &Metric) -> Result<Metric, String> {
        if let Some((name, _)) = self.values.iter().find(|(_, v)| v.is_none()) {
            return Err(format!("args.{name} was not resolved"));
        }
        let json = serde_json::to_string(metric).map_err(|e| e.to_string())?;
        let mut unresolved = None;
        let substituted = substitute_placeholders(&json, |tag| {
            let value =
                tag.strip_prefix("args.").and_then(|name| self.values.get(name)).and_then(Option::as_ref);
            match value {
                Some(v) => Some(json_escape(v)),
                None => {
                    unresolved.get_or_insert_with(|| tag.to_string());
                    None
                }
            }
        });
        if let Some(tag) = unresolved {
            return Err(format!("failed to resolve {{{{{tag}}}}}"));
        }
        serde_json::from_str(&substituted)
            .map_err(|e| format!("metric {:?} after argument substitution: {e}", metric.name))
    }

    /// The secret values (to keep out of anything written or logged).
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// `text` with every secret value replaced by `*****`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, s| t.replace(s, "*****"))
    }
}

/// A string's JSON encoding without the surrounding quotes, so it can sit inside a JSON string.
fn json_escape(v: &str) -> String {
    let quoted = serde_json::to_string(v).unwrap_or_default();
    quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::{SecretKeyRef, ValueFrom};
    use crate::api::fixtures::prometheus_metric;

    fn arg(name: &str, value: Option<&str>) -> Argument {
        Argument { name: name.into(), value: value.map(str::to_string), value_from: None }
    }

    #[test]
    fn placeholders_are_replaced_with_json_escaped_values() {
        let mut metric = prometheus_metric("m");
        metric.provider.prometheus.as_mut().expect("prometheus").query =
            Some("rate(x{service=\"{{ args.service }}\"}[{{args.window}}])".into());
        let args = ArgValues::without_secrets(&[arg("service", Some("a\"b")), arg("window", Some("5m"))]);
        let resolved = args.resolve(&metric).expect("resolved");
        assert_eq!(
            resolved.provider.prometheus.and_then(|p| p.query).as_deref(),
            Some("rate(x{service=\"a\"b\"}[5m])")
        );
    }

    #[test]
    fn missing_values_and_unknown_arguments_are_upstreams_errors() {
        let mut metric = prometheus_metric("m");
        metric.provider.prometheus.as_mut().expect("prometheus").query = Some("{{args.nope}}".into());
        assert_eq!(
            ArgValues::without_secrets(&[]).resolve(&metric).unwrap_err(),
            "failed to resolve {{args.nope}}"
        );
        assert_eq!(
            ArgValues::without_secrets(&[arg("x", None)]).resolve(&metric).unwrap_err(),
            "args.x was not resolved"
        );
    }

    #[test]
    fn secret_arguments_stand_in_until_measurement_and_are_redacted() {
        let secret = Argument {
            name: "token".into(),
            value: None,
            value_from: Some(ValueFrom {
                secret_key_ref: Some(SecretKeyRef { name: "s".into(), key: "k".into() }),
                field_ref: None,
            }),
        };
        let mut metric = prometheus_metric("m");
        metric.provider.prometheus.as_mut().expect("prometheus").query = Some("{{args.token}}".into());
        let shape =
            ArgValues::without_secrets(std::slice::from_ref(&secret)).resolve(&metric).expect("shape");
        assert_eq!(shape.provider.prometheus.and_then(|p| p.query).as_deref(), Some(SECRET_PLACEHOLDER));
        let with = ArgValues {
            values: BTreeMap::from([("token".into(), Some("hunter2".into()))]),
            secrets: vec!["hunter2".into()],
        };
        assert_eq!(with.redact("auth hunter2 failed"), "auth ***** failed");
    }
}

//! The `log` and `prometheus` host imports, in host types; each contract version's bindings delegate here.

use super::state::CallState;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// A point in time as plugins send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    pub seconds: i64,
    pub nanoseconds: u32,
}

/// How to reach Prometheus.
#[derive(Debug, Clone)]
pub struct PromEndpoint {
    pub address: String,
    pub headers: Vec<(String, String)>,
    pub timeout_seconds: Option<u32>,
    pub insecure: bool,
}

#[derive(Debug, Clone)]
pub struct PromSample {
    pub labels: Vec<(String, String)>,
    pub time: f64,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct PromSeries {
    pub labels: Vec<(String, String)>,
    pub samples: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub enum PromData {
    Scalar(PromSample),
    Vector(Vec<PromSample>),
    Matrix(Vec<PromSeries>),
}

#[derive(Debug, Clone)]
pub struct PromResult {
    pub data: PromData,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum PromError {
    Denied(String),
    Failed(String),
}

type Endpoint = PromEndpoint;
type QueryError = PromError;
type QueryResult = PromResult;

/// Longest log line forwarded from a plugin.
const MAX_LOG_LINE: usize = 4096;

/// Characters that could make a plugin's log line pass for something else: controls (new lines, terminal
/// escapes), line and paragraph separators, and bidirectional overrides.
fn deceptive(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

impl CallState {
    /// A line the plugin logs, attributed to it, redacted, escaped and cut.
    pub(crate) fn plugin_log(&mut self, level: LogLevel, message: String) {
        if self.host.log_budget == 0 {
            return;
        }
        self.host.log_budget -= 1;
        // Redact before cutting, so no secret survives in part; escape control characters, so a plugin cannot
        // forge log lines of its own.
        let mut message = message;
        for secret in self.host.redact.iter().filter(|s| !s.is_empty()) {
            message = message.replace(secret.as_str(), "*****");
        }
        if message.chars().any(deceptive) {
            message = message
                .chars()
                .map(|c| if deceptive(c) { c.escape_unicode().to_string() } else { c.to_string() })
                .collect();
        }
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.host.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
        if self.host.log_budget == 0 {
            tracing::warn!(plugin, "log limit reached for this call; further lines are dropped");
        }
    }
}

impl CallState {
    fn prometheus_client(&self, endpoint: &Endpoint) -> Result<prometheus_http_query::Client, QueryError> {
        let denied = |why: String| {
            self.host.audit.deny(why.clone());
            QueryError::Denied(why)
        };
        self.host.grants.prometheus_allowed(&endpoint.address, endpoint.insecure).map_err(denied)?;
        if let Some((name, _)) = endpoint.headers.iter().find(|(k, _)| forbidden_header(k)) {
            return Err(denied(format!("the {name} header is set by the host, not by plugins")));
        }
        // The client gets the URL exactly as the grant check parsed it.
        let address = url::Url::parse(&endpoint.address).map_err(|e| {
            QueryError::Failed(format!("invalid Prometheus address {:?}: {e}", endpoint.address))
        })?;
        let http = if endpoint.insecure { &self.host.prometheus_insecure } else { &self.host.prometheus };
        prometheus_http_query::Client::from(http.clone(), address.as_str()).map_err(|e| {
            QueryError::Failed(format!("invalid Prometheus address {:?}: {e}", endpoint.address))
        })
    }
}

/// Headers only the host may set (those `wasi:http` forbids guests, `Host` among them).
fn forbidden_header(name: &str) -> bool {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|n| wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(&n) || n == http::header::HOST)
        .unwrap_or(false)
}

/// The endpoint's extra request headers, checked.
fn headers(endpoint: &Endpoint) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, QueryError> {
    endpoint
        .headers
        .iter()
        .map(|(k, v)| {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| QueryError::Failed(format!("invalid header name {k:?}")))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|_| QueryError::Failed(format!("invalid value for header {k:?}")))?;
            Ok((name, value))
        })
        .collect()
}

fn timeout_of(endpoint: &Endpoint) -> Duration {
    Duration::from_secs(u64::from(endpoint.timeout_seconds.unwrap_or(30)))
}

impl CallState {
    pub(crate) async fn prometheus_query(
        &mut self,
        endpoint: Endpoint,
        query: String,
        time: Option<Time>,
    ) -> Result<QueryResult, QueryError> {
        let client = self.prometheus_client(&endpoint)?;
        let mut builder = client.query(&query);
        if let Some(t) = time {
            builder = builder.at(t.seconds);
        }
        for (name, value) in headers(&endpoint)? {
            builder = builder.header(name, value);
        }
        let result = tokio::time::timeout(timeout_of(&endpoint), builder.get()).await.map_err(|_| {
            QueryError::Failed(format!(
                "Get \"{}/api/v1/query\": context deadline exceeded",
                endpoint.address
            ))
        })?;
        convert(result)
    }

    pub(crate) async fn prometheus_query_range(
        &mut self,
        endpoint: Endpoint,
        query: String,
        start: Time,
        end: Time,
        step_seconds: f64,
    ) -> Result<QueryResult, QueryError> {
        let client = self.prometheus_client(&endpoint)?;
        // The client takes whole seconds: widen to cover the requested range rather than cut its end short.
        let end_seconds = end.seconds.saturating_add(i64::from(end.nanoseconds > 0));
        let mut builder = client.query_range(&query, start.seconds, end_seconds, step_seconds);
        for (name, value) in headers(&endpoint)? {
            builder = builder.header(name, value);
        }
        let result = tokio::time::timeout(timeout_of(&endpoint), builder.get()).await.map_err(|_| {
            QueryError::Failed(format!(
                "Get \"{}/api/v1/query_range\": context deadline exceeded",
                endpoint.address
            ))
        })?;
        convert(result)
    }
}

fn labels(map: &std::collections::HashMap<String, String>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    pairs.sort();
    pairs
}

fn convert(
    result: Result<prometheus_http_query::response::PromqlResult, prometheus_http_query::Error>,
) -> Result<QueryResult, QueryError> {
    use prometheus_http_query::response::Data as P;
    let result = result.map_err(|e| QueryError::Failed(e.to_string()))?;
    let data = match result.data() {
        P::Scalar(s) => {
            PromData::Scalar(PromSample { labels: vec![], time: s.timestamp(), value: s.value() })
        }
        P::Vector(v) => PromData::Vector(
            v.iter()
                .map(|iv| PromSample {
                    labels: labels(iv.metric()),
                    time: iv.sample().timestamp(),
                    value: iv.sample().value(),
                })
                .collect(),
        ),
        P::Matrix(m) => PromData::Matrix(
            m.iter()
                .map(|rv| PromSeries {
                    labels: labels(rv.metric()),
                    samples: rv.samples().iter().map(|s| (s.timestamp(), s.value())).collect(),
                })
                .collect(),
        ),
    };
    // prometheus-http-query 0.9 does not surface response warnings.
    Ok(QueryResult { data, warnings: Vec::new() })
}

#[cfg(test)]
mod tests {
    #[test]
    fn plugins_cannot_set_the_headers_the_host_owns() {
        for name in ["Host", "host", "Connection", "Transfer-Encoding", "Keep-Alive"] {
            assert!(super::forbidden_header(name), "{name}");
        }
        for name in ["Authorization", "X-Scope-OrgID"] {
            assert!(!super::forbidden_header(name), "{name}");
        }
    }
}

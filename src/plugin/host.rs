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
    String { time: f64, value: String },
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
    /// Checks the endpoint against the grants and runs one API call on it.
    async fn prometheus_api(
        &mut self,
        endpoint: &Endpoint,
        api: &str,
        params: Vec<(&'static str, String)>,
    ) -> Result<QueryResult, QueryError> {
        let audit = self.host.audit.clone();
        let denied = |why: String| {
            audit.deny(why.clone());
            QueryError::Denied(why)
        };
        self.host.grants.prometheus_allowed(&endpoint.address, endpoint.insecure).map_err(denied)?;
        if let Some((name, _)) = endpoint.headers.iter().find(|(k, _)| forbidden_header(k)) {
            return Err(denied(format!("the {name} header is set by the host, not by plugins")));
        }
        let headers = headers(endpoint)?;
        let query = super::promql::Query {
            address: &endpoint.address,
            insecure: endpoint.insecure,
            headers: &headers,
            api,
            params,
            timeout: timeout_of(endpoint),
            cap: self.host.output_cap,
        };
        super::promql::run(&self.host.network, query).await.map_err(|e| match e {
            QueryError::Denied(why) => denied(why),
            failed => failed,
        })
    }

    pub(crate) async fn prometheus_query(
        &mut self,
        endpoint: Endpoint,
        query: String,
        time: Option<Time>,
    ) -> Result<QueryResult, QueryError> {
        let mut params = vec![("query", query)];
        if let Some(t) = time {
            params.push(("time", super::promql::time_param(t)));
        }
        self.prometheus_api(&endpoint, "query", params).await
    }

    pub(crate) async fn prometheus_query_range(
        &mut self,
        endpoint: Endpoint,
        query: String,
        start: Time,
        end: Time,
        step_seconds: f64,
    ) -> Result<QueryResult, QueryError> {
        let params = vec![
            ("query", query),
            ("start", super::promql::time_param(start)),
            ("end", super::promql::time_param(end)),
            ("step", step_seconds.to_string()),
        ];
        self.prometheus_api(&endpoint, "query_range", params).await
    }
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

//! The built-in `prometheus` metric provider: Argo Rollouts' Prometheus provider (address, query, timeout,
//! insecure, headers, basicAuth / oauth2 authentication, rangeQuery). Queries go through the host's typed
//! `prometheus` import, so the plugin needs no HTTP or JSON stack for PromQL itself.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    generate_all,
    world: "metric-provider-plugin",
});

use exports::serin::plugin::metric_provider::{Guest, InFlight, Judged, MetricContext, Observation};
use serde::Deserialize;
use serin::plugin::prometheus::{self as prom, Data, Endpoint, QueryError};
use serin::plugin::types::Timestamp;
use serin::plugin::types::{Value, ValueNode};
use serin_plugin_support::{gofmt, http, oauth2, timeexpr, tree};

/// Argo's `provider.prometheus` block.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PrometheusMetric {
    #[serde(default)]
    address: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    timeout: Option<i64>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    authentication: Authentication,
    #[serde(default)]
    range_query: Option<RangeQuery>,
}

#[derive(Debug, Deserialize)]
struct Header {
    key: String,
    value: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Authentication {
    #[serde(default)]
    sigv4: Option<serde_json::Value>,
    #[serde(default)]
    oauth2: Option<oauth2::ClientCredentials>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
}

#[derive(Debug, Deserialize, Default)]
struct BasicAuth {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize, Default, Clone)]
struct RangeQuery {
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    step: String,
}

struct Prometheus;

impl Guest for Prometheus {
    fn run(ctx: MetricContext) -> Observation {
        match measure(&ctx.config) {
            Ok(o) => o,
            Err(e) => Observation::Error(e),
        }
    }

    fn resume(_ctx: MetricContext, _m: InFlight) -> Observation {
        Observation::Error("the prometheus provider does not take long-running measurements".into())
    }

    fn terminate(_ctx: MetricContext, _m: InFlight) -> Observation {
        Observation::Error("the prometheus provider does not take long-running measurements".into())
    }

    fn garbage_collect(_ctx: MetricContext, _keep: u32) -> Result<(), String> {
        Ok(())
    }
}

export!(Prometheus);

fn measure(config: &str) -> Result<Observation, String> {
    let cfg: PrometheusMetric =
        serde_json::from_str(config).map_err(|e| format!("invalid prometheus metric configuration: {e}"))?;
    if cfg.address.is_empty() {
        return Err("prometheus address is not configured".into());
    }
    if !is_url(&cfg.address) {
        return Err("prometheus address is not is url format".into());
    }
    let timeout = match cfg.timeout {
        None => 30,
        Some(t) if t < 0 => return Err("prometheus timeout should not be negative".into()),
        Some(t) => t as u32,
    };
    if cfg.authentication.sigv4.is_some() && cfg.address.contains("aps-workspaces") {
        return Err("sigv4 authentication (Amazon Managed Prometheus) is not supported by serin yet".into());
    }
    let mut headers: Vec<(String, String)> =
        cfg.headers.iter().map(|h| (h.key.clone(), h.value.clone())).collect();
    if let Some(basic) = &cfg.authentication.basic_auth {
        let creds = format!("{}:{}", basic.username, basic.password);
        headers.push(("Authorization".into(), format!("Basic {}", http::base64(creds.as_bytes()))));
    }
    if let Some(oauth) = cfg.authentication.oauth2.as_ref().filter(|o| !o.token_url.is_empty()) {
        let token = oauth.token(std::time::Duration::from_secs(u64::from(timeout)))?;
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    let endpoint = Endpoint {
        address: cfg.address.clone(),
        headers,
        timeout_seconds: Some(timeout),
        insecure: cfg.insecure,
    };

    let result = match &cfg.range_query {
        Some(range) => {
            let (start, end, step) = resolve_range(range)?;
            prom::query_range(&endpoint, &cfg.query, start, end, step)
        }
        None => prom::query(&endpoint, &cfg.query, None),
    };
    let result = result.map_err(|e| match e {
        QueryError::Denied(m) | QueryError::Failed(m) => m,
    })?;

    let (values, display) = match result.data {
        Data::Scalar(s) => (tree::Node::Float(s.value), gofmt::format_float_f(s.value)),
        Data::Vector(samples) => {
            let vals: Vec<f64> = samples.iter().map(|s| s.value).collect();
            return Ok(judged(tree::float_list(&vals), list_display(&vals), &result.warnings));
        }
        Data::Matrix(series) => {
            let vals: Vec<f64> = series.iter().flat_map(|s| s.samples.iter().map(|(_, v)| *v)).collect();
            return Ok(judged(tree::float_list(&vals), list_display(&vals), &result.warnings));
        }
        Data::String(_) => return Err("Prometheus metric type not supported".into()),
    };
    Ok(judged(vec![values], display, &result.warnings))
}

/// Resolves start, end and step (seconds); empty start/end mean now.
fn resolve_range(range: &RangeQuery) -> Result<(Timestamp, Timestamp, f64), String> {
    let now = timeexpr::now_seconds();
    let start = timeexpr::eval_time(&range.start, now)
        .map_err(|e| format!("failed to evaluate rangeQuery.start: {e}"))?;
    let end = timeexpr::eval_time(&range.end, now)
        .map_err(|e| format!("failed to evaluate rangeQuery.end: {e}"))?;
    let step = if range.step.is_empty() {
        60.0
    } else {
        timeexpr::parse_go_duration(&range.step)
            .map_err(|e| format!("failed to parse rangeQuery.step: {e}"))?
    };
    if step <= 0.0 {
        return Err("rangeQuery.step must be positive".into());
    }
    let ts = |seconds: f64| {
        let whole = seconds.floor();
        Timestamp { seconds: whole as i64, nanoseconds: ((seconds - whole) * 1e9) as u32 }
    };
    Ok((ts(start), ts(end), step))
}

fn judged(nodes: Vec<tree::Node>, display: String, warnings: &[String]) -> Observation {
    let mut metadata = Vec::new();
    if !warnings.is_empty() {
        // Argo joins warnings as `"w1", "w2"`.
        let joined = warnings.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(", ");
        metadata.push(("warnings".to_string(), joined));
    }
    Observation::Judge(Judged { result: to_wit(nodes), display: Some(display), metadata })
}

/// Argo's vector rendering: `[v1,v2]` with Prometheus' number format.
fn list_display(values: &[f64]) -> String {
    format!("[{}]", values.iter().map(|v| gofmt::format_float_f(*v)).collect::<Vec<_>>().join(","))
}

fn is_url(s: &str) -> bool {
    match s.split_once("://") {
        Some((scheme, rest)) => !scheme.is_empty() && !rest.is_empty() && !rest.starts_with('/'),
        None => false,
    }
}

fn to_wit(nodes: Vec<tree::Node>) -> Value {
    Value {
        nodes: nodes
            .into_iter()
            .map(|n| match n {
                tree::Node::Null => ValueNode::Null,
                tree::Node::Boolean(b) => ValueNode::Boolean(b),
                tree::Node::Integer(i) => ValueNode::Integer(i),
                tree::Node::Float(f) => ValueNode::Float(f),
                tree::Node::Text(s) => ValueNode::Text(s),
                tree::Node::Array(c) => ValueNode::Array(c),
                tree::Node::Map(c) => ValueNode::Map(c),
            })
            .collect(),
    }
}

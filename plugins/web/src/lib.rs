//! The built-in `web` metric provider: Argo Rollouts' Web provider (method, url, headers, body/jsonBody,
//! timeoutSeconds, jsonPath, authentication.oauth2) over wasi:http. `insecure` is honoured by the host, which
//! grants this plugin exactly the origins its configuration names.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    generate_all,
    world: "metric-provider-plugin",
});

use exports::serin::plugin::metric_provider::{Guest, InFlight, Judged, MetricContext, Observation};
use serde::Deserialize;
use serin::plugin::types::{Value, ValueNode};
use serin_plugin_support::{gofmt, http, jsonpath, oauth2, tree};
use std::time::Duration;

/// Argo's `provider.web` block.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WebMetric {
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    json_body: Option<serde_json::Value>,
    #[serde(default)]
    timeout_seconds: i64,
    #[serde(default)]
    json_path: String,
    #[serde(default)]
    authentication: Option<Authentication>,
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
    oauth2: Option<oauth2::ClientCredentials>,
}

struct Web;

impl Guest for Web {
    fn run(ctx: MetricContext) -> Observation {
        match measure(&ctx.config) {
            Ok(o) => o,
            Err(e) => Observation::Error(e),
        }
    }

    /// Everything happens in `run`; Argo's provider returns the measurement unchanged here.
    fn resume(_ctx: MetricContext, _m: InFlight) -> Observation {
        Observation::Error("the web provider does not take long-running measurements".into())
    }

    fn terminate(_ctx: MetricContext, _m: InFlight) -> Observation {
        Observation::Error("the web provider does not take long-running measurements".into())
    }

    fn garbage_collect(_ctx: MetricContext, _keep: u32) -> Result<(), String> {
        Ok(())
    }
}

export!(Web);

fn measure(config: &str) -> Result<Observation, String> {
    let cfg: WebMetric =
        serde_json::from_str(config).map_err(|e| format!("invalid web metric configuration: {e}"))?;
    let method = if cfg.method.is_empty() { "GET".to_string() } else { cfg.method.to_ascii_uppercase() };
    if !cfg.body.is_empty() && cfg.json_body.is_some() {
        return Err("use either Body or JSONBody; both cannot exists for WebMetric payload".into());
    }
    if (!cfg.body.is_empty() || cfg.json_body.is_some()) && method == "GET" {
        return Err("Body/JSONBody can only be used with POST or PUT WebMetric Method types".into());
    }
    let timeout = Duration::from_secs(if cfg.timeout_seconds <= 0 { 10 } else { cfg.timeout_seconds as u64 });
    let path = jsonpath::Template::parse(if cfg.json_path.is_empty() { "{$}" } else { &cfg.json_path })?;

    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &cfg.headers {
        // Go's Header.Set: the last value for a name wins.
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&h.key));
        headers.push((h.key.clone(), h.value.clone()));
    }
    let body = if let Some(json) = &cfg.json_body {
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        headers.push(("Content-Type".into(), "application/json".into()));
        Some(serde_json::to_vec(json).map_err(|e| e.to_string())?)
    } else if !cfg.body.is_empty() {
        Some(cfg.body.clone().into_bytes())
    } else {
        None
    };
    if let Some(oauth) = cfg.authentication.as_ref().and_then(|a| a.oauth2.as_ref()) {
        let token = oauth.token(timeout)?;
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }

    let response = match http::send(&http::Request { method, url: cfg.url.clone(), headers, body, timeout }) {
        Ok(r) => r,
        // As upstream, which reads the body after `client.Do` returned.
        Err(http::Error::Body(cause)) => return Err(format!("Received no bytes in response: {cause}")),
        Err(e) => return Err(e.into()),
    };
    if !(200..300).contains(&response.status) {
        return Err(format!("received non 2xx response code: {}", response.status));
    }
    let data: serde_json::Value = match serde_json::from_slice(&response.body) {
        Ok(v) => v,
        // As upstream: a body that is not JSON is the value itself, whatever `jsonPath` says, recorded as it
        // came (not JSON-quoted). Unlike upstream, the conditions then judge it; the hint tells a condition
        // written for JSON why it cannot evaluate.
        Err(e) => {
            let text = String::from_utf8_lossy(&response.body).into_owned();
            return Ok(Observation::Judge(Judged {
                result: Value { nodes: vec![ValueNode::Text(text.clone())] },
                display: Some(text),
                metadata: vec![(
                    "hint".into(),
                    format!("the response body is not JSON ({e}), so result is the body as a string"),
                )],
            }));
        }
    };
    let found = path.first_match(&data).map_err(|e| format!("Could not find JSONPath in body: {e}"))?;
    let Some(found) = found else {
        return Err("result of web metric produced no value".into());
    };
    Ok(Observation::Judge(Judged {
        result: to_wit(tree::from_json(found)),
        display: Some(gofmt::marshal(found)),
        metadata: Vec::new(),
    }))
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

//! The built-in `webhook` step plugin: a canary step that asks a URL whether the Rollout may go on, as
//! Flagger's webhooks do (pre-rollout checks, confirmation gates, load-test triggers). Each call POSTs (or
//! sends `method`) a JSON description of the Rollout and the step to `url`; the answer decides:
//!
//! - 2xx with no body, or a JSON body whose `decision` is `proceed`: the step succeeds;
//! - 2xx with `decision: wait` (optionally `retryAfterSeconds`), or a 423, 429 or 503 (optionally with a
//!   `Retry-After` of seconds): the step keeps running and asks again later;
//! - 2xx with `decision: fail`: the step fails, which aborts the Rollout;
//! - any other status, an unreachable URL or an unreadable answer: the step errs and is retried after a backoff.
//!
//! `message` in the answer's body becomes the step's message. On abort and on termination the URL is called
//! again (with `phase` `Abort` or `Terminate`) only when `callOnAbort` / `callOnTerminate` say so. The host
//! grants the plugin the origin of `url` and nothing else.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "step-plugin",
    generate_all,
});

use exports::serin::plugin::step::{Guest, StepContext, StepPhase, StepResult};
use serde::Deserialize;
use serde_json::{Value, json};
use serin_plugin_support::http;
use std::time::Duration;

/// The step's `config`.
#[derive(Debug, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Passed through to the receiver as `metadata`.
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Honoured by the host, which grants the origin without TLS verification.
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub call_on_abort: bool,
    #[serde(default)]
    pub call_on_terminate: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct Header {
    pub key: String,
    pub value: String,
}

/// What the receiver decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Proceed(String),
    Wait { message: String, retry_after: Option<Duration> },
    Fail(String),
}

pub fn config(text: &str) -> Result<Config, String> {
    let cfg: Config = serde_json::from_str(text).map_err(|e| format!("webhook step config: {e}"))?;
    if cfg.url.is_empty() {
        return Err("webhook step config: url is required".into());
    }
    Ok(cfg)
}

/// The JSON the receiver gets.
pub fn payload(ctx: &StepContext, cfg: &Config, phase: &str) -> Value {
    let rollout: Value = serde_json::from_str(&ctx.rollout_object).unwrap_or(Value::Null);
    let status = &rollout["status"];
    json!({
        "name": ctx.rollout.name,
        "namespace": ctx.rollout.namespace,
        "uid": ctx.rollout.uid,
        "phase": phase,
        "stepIndex": ctx.step_index,
        "executions": ctx.executions,
        "canaryPodHash": status["currentPodHash"],
        "stablePodHash": status["stableRS"],
        "metadata": cfg.metadata.clone().unwrap_or(Value::Object(Default::default())),
    })
}

fn header<'a>(response: &'a http::Response, name: &str) -> Option<&'a str> {
    response.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// What an answer means.
pub fn decide(response: &http::Response) -> Result<Decision, String> {
    let text = String::from_utf8_lossy(&response.body);
    let body: Option<Value> = if text.trim().is_empty() { None } else { serde_json::from_str(&text).ok() };
    let message = body.as_ref().and_then(|b| b["message"].as_str()).unwrap_or("").to_string();
    let retry_header = header(response, "retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    match response.status {
        200..=299 => {}
        423 | 429 | 503 => {
            return Ok(Decision::Wait {
                message: if message.is_empty() {
                    format!("the webhook answered {}", response.status)
                } else {
                    message
                },
                retry_after: retry_header.map(Duration::from_secs),
            });
        }
        s => {
            let excerpt: String = text.chars().take(200).collect();
            return Err(format!("the webhook answered {s}: {excerpt}"));
        }
    }
    let Some(body) = body else {
        if text.trim().is_empty() {
            return Ok(Decision::Proceed(message));
        }
        return Err(format!(
            "the webhook's answer is not JSON: {}",
            text.chars().take(200).collect::<String>()
        ));
    };
    let retry_after = body["retryAfterSeconds"].as_u64().or(retry_header).map(Duration::from_secs);
    match body.get("decision").and_then(Value::as_str) {
        None | Some("proceed") => Ok(Decision::Proceed(message)),
        Some("wait") => Ok(Decision::Wait { message, retry_after }),
        Some("fail") => Ok(Decision::Fail(message)),
        Some(other) => Err(format!("the webhook's decision {other:?} is none of proceed, wait, fail")),
    }
}

fn call(ctx: &StepContext, cfg: &Config, phase: &str) -> Result<Decision, String> {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    headers.extend(cfg.headers.iter().map(|h| (h.key.clone(), h.value.clone())));
    let request = http::Request {
        method: cfg.method.clone().unwrap_or_else(|| "POST".into()),
        url: cfg.url.clone(),
        headers,
        body: Some(payload(ctx, cfg, phase).to_string().into_bytes()),
        timeout: Duration::from_secs(cfg.timeout_seconds.unwrap_or(10).max(1)),
    };
    let response = http::send(&request).map_err(String::from)?;
    decide(&response)
}

fn result(phase: StepPhase, message: String, requeue: Option<Duration>) -> StepResult {
    StepResult { phase, message, requeue_after_ms: requeue.map(|d| d.as_millis() as u64), status: None }
}

fn outcome(decision: Result<Decision, String>) -> StepResult {
    match decision {
        Ok(Decision::Proceed(m)) => result(StepPhase::Successful, m, None),
        Ok(Decision::Wait { message, retry_after }) => result(StepPhase::Running, message, retry_after),
        Ok(Decision::Fail(m)) => result(StepPhase::Failed, m, None),
        Err(e) => result(StepPhase::Error, e, None),
    }
}

/// An abort or termination: the URL is called when the config asks for it; the receiver cannot make it wait.
fn final_call(ctx: &StepContext, wanted: impl Fn(&Config) -> bool, phase: &str) -> StepResult {
    match config(&ctx.config) {
        Ok(cfg) if wanted(&cfg) => match call(ctx, &cfg, phase) {
            Ok(Decision::Fail(m)) => result(StepPhase::Failed, m, None),
            Ok(Decision::Proceed(m) | Decision::Wait { message: m, .. }) => {
                result(StepPhase::Successful, m, None)
            }
            Err(e) => result(StepPhase::Error, e, None),
        },
        Ok(_) => result(StepPhase::Successful, String::new(), None),
        Err(e) => result(StepPhase::Error, e, None),
    }
}

struct Webhook;

impl Guest for Webhook {
    fn run(ctx: StepContext) -> StepResult {
        outcome(config(&ctx.config).and_then(|cfg| call(&ctx, &cfg, "Run")))
    }

    fn terminate(ctx: StepContext) -> StepResult {
        final_call(&ctx, |c| c.call_on_terminate, "Terminate")
    }

    fn abort(ctx: StepContext) -> StepResult {
        final_call(&ctx, |c| c.call_on_abort, "Abort")
    }
}

export!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response {
        http::Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_decide_the_step() {
        let wait = |m: &str, s: Option<u64>| Decision::Wait {
            message: m.into(),
            retry_after: s.map(Duration::from_secs),
        };
        let cases: Vec<(http::Response, Result<Decision, &str>)> = vec![
            (response(200, &[], ""), Ok(Decision::Proceed(String::new()))),
            (response(204, &[], ""), Ok(Decision::Proceed(String::new()))),
            (response(200, &[], r#"{"message": "ok"}"#), Ok(Decision::Proceed("ok".into()))),
            (response(200, &[], r#"{"decision": "proceed"}"#), Ok(Decision::Proceed(String::new()))),
            (
                response(
                    200,
                    &[],
                    r#"{"decision": "wait", "retryAfterSeconds": 20, "message": "ticket open"}"#,
                ),
                Ok(wait("ticket open", Some(20))),
            ),
            (response(200, &[("Retry-After", "7")], r#"{"decision": "wait"}"#), Ok(wait("", Some(7)))),
            (
                response(200, &[], r#"{"decision": "fail", "message": "load test failed"}"#),
                Ok(Decision::Fail("load test failed".into())),
            ),
            (response(429, &[("retry-after", "15")], ""), Ok(wait("the webhook answered 429", Some(15)))),
            (response(423, &[], r#"{"message": "locked"}"#), Ok(wait("locked", None))),
            (response(503, &[], ""), Ok(wait("the webhook answered 503", None))),
            (response(500, &[], "oops"), Err("the webhook answered 500: oops")),
            (response(404, &[], ""), Err("the webhook answered 404: ")),
            (response(200, &[], "yes"), Err("the webhook's answer is not JSON: yes")),
            (
                response(200, &[], r#"{"decision": "maybe"}"#),
                Err(r#"the webhook's decision "maybe" is none of proceed, wait, fail"#),
            ),
        ];
        for (r, want) in cases {
            assert_eq!(
                decide(&r),
                want.map_err(str::to_string),
                "{} {:?}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }

    #[test]
    fn decisions_become_step_results() {
        let r =
            outcome(Ok(Decision::Wait { message: "w".into(), retry_after: Some(Duration::from_secs(3)) }));
        assert_eq!((r.phase, r.requeue_after_ms), (StepPhase::Running, Some(3000)));
        assert_eq!(outcome(Ok(Decision::Proceed("p".into()))).phase, StepPhase::Successful);
        assert_eq!(outcome(Ok(Decision::Fail("f".into()))).phase, StepPhase::Failed);
        assert_eq!(outcome(Err("e".into())).phase, StepPhase::Error);
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(config("{}").unwrap_err(), "webhook step config: missing field `url` at line 1 column 2");
        assert_eq!(config(r#"{"url": ""}"#).unwrap_err(), "webhook step config: url is required");
        assert!(
            config(r#"{"url": "http://127.0.0.1:1/", "bogus": 1}"#)
                .unwrap_err()
                .contains("unknown field `bogus`")
        );
        let c = config(
            r#"{"url": "http://127.0.0.1:1/", "callOnAbort": true, "headers": [{"key": "k", "value": "v"}]}"#,
        )
        .unwrap();
        assert!(c.call_on_abort && !c.call_on_terminate);
        assert_eq!(c.headers, [Header { key: "k".into(), value: "v".into() }]);
    }
}

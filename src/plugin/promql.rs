//! The Prometheus HTTP API client behind the typed `prometheus` import: one GET per query over a connection the
//! network policy allows, no redirects, no proxy from the environment, and a response read only up to the
//! plugin's output cap, so a plugin cannot make the host hold more than that.

use super::grants::Origin;
use super::host::{PromData, PromError, PromResult, PromSample, PromSeries, Time};
use super::net::{ConnectError, Network};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One query: the endpoint (as granted and checked), its API path and parameters.
pub struct Query<'a> {
    pub address: &'a str,
    pub insecure: bool,
    pub headers: &'a [(http::HeaderName, http::HeaderValue)],
    /// `query` or `query_range`.
    pub api: &'a str,
    pub params: Vec<(&'static str, String)>,
    pub timeout: Duration,
    /// The most response bytes read.
    pub cap: usize,
}

/// A point in time as the API takes it: seconds with a fraction.
pub fn time_param(t: Time) -> String {
    if t.nanoseconds == 0 { t.seconds.to_string() } else { format!("{}.{:09}", t.seconds, t.nanoseconds) }
}

/// Runs a query; a slow server is cut off at the timeout with Argo's message.
pub async fn run(network: &Network, q: Query<'_>) -> Result<PromResult, PromError> {
    let url = format!("{}/api/v1/{}", q.address.trim_end_matches('/'), q.api);
    match tokio::time::timeout(q.timeout, exchange(network, &url, &q)).await {
        Ok(result) => result,
        Err(_) => Err(PromError::Failed(format!("Get \"{url}\": context deadline exceeded"))),
    }
}

async fn exchange(network: &Network, url: &str, q: &Query<'_>) -> Result<PromResult, PromError> {
    let failed = |e: &dyn std::fmt::Display| PromError::Failed(format!("Get \"{url}\": {e}"));
    let (origin, path) = Origin::parse_url(url).map_err(PromError::Failed)?;
    let query: String =
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(q.params.iter()).finish();
    let target = format!("{path}?{query}");
    let stream = network.connect(&origin, q.insecure).await.map_err(|e| match e {
        ConnectError::Denied(why) => PromError::Denied(why),
        other => failed(&other),
    })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, http_body_util::Empty<bytes::Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| failed(&e))?;
    let conn = tokio::spawn(conn);
    let mut request = http::Request::get(target.as_str())
        .header(http::header::HOST, origin.host_header())
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, concat!("serin/", env!("CARGO_PKG_VERSION")));
    for (name, value) in q.headers {
        request = request.header(name, value);
    }
    let request = request.body(http_body_util::Empty::new()).map_err(|e| failed(&e))?;
    let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| failed(&e))?;
        if let Some(chunk) = frame.data_ref() {
            if bytes.len() + chunk.len() > q.cap {
                conn.abort();
                return Err(PromError::Failed(format!(
                    "the Prometheus response is larger than the plugin's output limit of {} bytes",
                    q.cap
                )));
            }
            bytes.extend_from_slice(chunk);
        }
    }
    conn.abort();
    parse(status, &bytes)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Scalar(Point),
    String(Point),
    Vector(Vec<Instant>),
    Matrix(Vec<Range>),
}

/// `[ <unix seconds>, "<value>" ]`.
#[derive(Deserialize)]
struct Point(f64, String);

#[derive(Deserialize)]
struct Instant {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<Point>,
}

#[derive(Deserialize)]
struct Range {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<Point>,
}

/// A sample value as Prometheus writes it (`"1.5"`, `"NaN"`, `"+Inf"`).
fn value(text: &str) -> Result<f64, PromError> {
    text.parse::<f64>()
        .map_err(|_| PromError::Failed(format!("Prometheus returned an invalid sample value {text:?}")))
}

/// The API's answer in host types; an error answer keeps Prometheus' type and message as Argo reports them.
fn parse(status: http::StatusCode, body: &[u8]) -> Result<PromResult, PromError> {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) if status.is_success() => {
            return Err(PromError::Failed(format!("Prometheus returned an invalid response: {e}")));
        }
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).trim().to_string();
            return Err(PromError::Failed(format!("server error: {}: {text}", status.as_u16())));
        }
    };
    if envelope.status != "success" {
        let kind = envelope.error_type.unwrap_or_else(|| "error".into());
        return Err(PromError::Failed(format!("{kind}: {}", envelope.error.unwrap_or_default())));
    }
    let Some(data) = envelope.data else {
        return Err(PromError::Failed("Prometheus returned no data".into()));
    };
    let labels = |m: BTreeMap<String, String>| m.into_iter().collect::<Vec<_>>();
    let data = match data {
        Data::Scalar(Point(time, v)) => {
            PromData::Scalar(PromSample { labels: vec![], time, value: value(&v)? })
        }
        Data::String(Point(time, v)) => PromData::String { time, value: v },
        Data::Vector(items) => PromData::Vector(
            items
                .into_iter()
                .map(|i| {
                    let Some(Point(time, v)) = i.value else {
                        return Err(PromError::Failed("native histogram samples are not supported".into()));
                    };
                    Ok(PromSample { labels: labels(i.metric), time, value: value(&v)? })
                })
                .collect::<Result<_, _>>()?,
        ),
        Data::Matrix(series) => PromData::Matrix(
            series
                .into_iter()
                .map(|s| {
                    let samples = s.values.iter().map(|Point(t, v)| Ok((*t, value(v)?))).collect::<Result<
                        _,
                        PromError,
                    >>(
                    )?;
                    Ok(PromSeries { labels: labels(s.metric), samples })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(PromResult { data, warnings: envelope.warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> PromResult {
        match parse(http::StatusCode::OK, body.as_bytes()) {
            Ok(r) => r,
            Err(e) => panic!("{body}: {e:?}"),
        }
    }

    fn failed(status: u16, body: &str) -> String {
        match parse(http::StatusCode::from_u16(status).unwrap(), body.as_bytes()) {
            Err(PromError::Failed(m)) => m,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn answers_of_every_result_type_become_host_values() {
        let r = ok(r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"job":"a","__name__":"up"},"value":[1700000000.5,"1"]},
            {"metric":{},"value":[1700000000.5,"NaN"]},
            {"metric":{},"value":[1700000000.5,"+Inf"]}]},"warnings":["w1","w2"]}"#);
        assert_eq!(r.warnings, ["w1", "w2"]);
        let PromData::Vector(v) = r.data else { panic!("{:?}", r.data) };
        assert_eq!(v[0].labels, [("__name__".into(), "up".into()), ("job".into(), "a".into())]);
        assert_eq!((v[0].time, v[0].value), (1700000000.5, 1.0));
        assert!(v[1].value.is_nan());
        assert_eq!(v[2].value, f64::INFINITY);

        let r = ok(r#"{"status":"success","data":{"resultType":"scalar","result":[1,"0.25"]}}"#);
        assert!(matches!(r.data, PromData::Scalar(PromSample { value: 0.25, .. })));
        let r = ok(r#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#);
        assert!(matches!(r.data, PromData::String { ref value, .. } if value == "hello"));
        let r = ok(r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"b"},"values":[[1,"1"],[2,"-Inf"]]}]}}"#);
        let PromData::Matrix(m) = r.data else { panic!() };
        assert_eq!(m[0].samples, [(1.0, 1.0), (2.0, f64::NEG_INFINITY)]);
    }

    #[test]
    fn errors_keep_prometheus_reasons() {
        assert_eq!(
            failed(
                400,
                r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#
            ),
            "bad_data: 1:5: parse error: unexpected end of input"
        );
        assert_eq!(failed(502, "<html>Bad Gateway</html>"), "server error: 502: <html>Bad Gateway</html>");
        assert!(failed(200, "{").contains("invalid response"));
        assert!(failed(200, r#"{"status":"success"}"#).contains("no data"));
        assert!(
            failed(200, r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#)
                .contains("invalid sample value \"x\"")
        );
        assert!(
            failed(200, r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}"#)
                .contains("native histogram")
        );
    }

    #[test]
    fn times_keep_their_fraction() {
        assert_eq!(time_param(Time { seconds: 1700000000, nanoseconds: 0 }), "1700000000");
        assert_eq!(
            time_param(Time { seconds: 1700000000, nanoseconds: 500_000_000 }),
            "1700000000.500000000"
        );
    }
}

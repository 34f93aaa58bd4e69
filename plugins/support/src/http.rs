//! Outbound HTTP for plugins over the standard `wasi:http/outgoing-handler` interface, with the behaviour of Go's
//! `http.Client` that Argo's providers rely on: an overall timeout, and up to 10 redirects (each one a new request,
//! so the host checks every hop against the plugin's granted origins).

use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme,
};
use wasip2::io::poll;
use wasip2::io::streams::StreamError;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Covers the whole exchange, redirects and body included (Go's `Client.Timeout`).
    pub timeout: std::time::Duration,
}

/// A received response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Responses larger than this are refused rather than buffered.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_REDIRECTS: usize = 10;

/// Why a request failed. Like Go's `client.Do` and the body read after it, the two are told apart: a failure
/// before the response reads `Get "URL": cause`; one while reading its body is the cause alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Request(String),
    Body(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Request(m) | Error::Body(m) => f.write_str(m),
        }
    }
}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

/// Sends `req`, following redirects as Go's client does.
pub fn send(req: &Request) -> Result<Response, Error> {
    let deadline = monotonic_clock::now().saturating_add(req.timeout.as_nanos() as u64);
    let mut current = req.clone();
    let first_host = Url::parse(&req.url).map(|u| u.host).unwrap_or_default();
    for _ in 0..=MAX_REDIRECTS {
        let url = Url::parse(&current.url).map_err(|e| Error::Request(go_err(&current, &e)))?;
        let resp = send_once(&current, &url, deadline).map_err(|e| match e {
            Error::Request(cause) => Error::Request(go_err(&current, &cause)),
            body => body,
        })?;
        let location = resp.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("location"));
        let (301 | 302 | 303 | 307 | 308, Some((_, location))) = (resp.status, location) else {
            return Ok(resp);
        };
        let next = url.join(location);
        // 301/302/303 turn into a GET without a body (as Go does for anything but GET/HEAD); 307/308 resend as is.
        if matches!(resp.status, 301..=303) && current.method != "HEAD" {
            current.method = "GET".into();
            current.body = None;
            current.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        }
        // Go forwards credentials only to the same host.
        if Url::parse(&next).map(|u| u.host).unwrap_or_default() != first_host {
            current.headers.retain(|(k, _)| {
                !k.eq_ignore_ascii_case("authorization") && !k.eq_ignore_ascii_case("cookie")
            });
        }
        current.url = next;
    }
    Err(Error::Request(go_err(&current, "stopped after 10 redirects")))
}

fn go_err(req: &Request, cause: &str) -> String {
    let method = {
        let mut m = req.method.to_ascii_lowercase();
        if let Some(first) = m.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        m
    };
    format!("{method} \"{}\": {cause}", req.url)
}

fn send_once(req: &Request, url: &Url, deadline: u64) -> Result<Response, Error> {
    send_request(req, url, deadline).map_err(Error::Request)?.finish(deadline)
}

/// A response whose headers have arrived.
struct Pending {
    status: u16,
    headers: Vec<(String, String)>,
    incoming: IncomingBody,
    /// Outlives its body (fields drop in order).
    _response: IncomingResponse,
}

impl Pending {
    fn finish(self, deadline: u64) -> Result<Response, Error> {
        let body = read_body(&self.incoming, deadline).map_err(Error::Body)?;
        Ok(Response { status: self.status, headers: self.headers, body })
    }
}

fn send_request(req: &Request, url: &Url, deadline: u64) -> Result<Pending, String> {
    let mut header_list: Vec<(String, Vec<u8>)> =
        req.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone().into_bytes())).collect();
    if let Some(auth) = &url.basic_auth {
        header_list.push(("authorization".into(), format!("Basic {}", base64(auth.as_bytes())).into_bytes()));
    }
    let headers = Fields::from_list(&header_list).map_err(|e| format!("invalid header: {e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let method = match req.method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "HEAD" => Method::Head,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    };
    request.set_method(&method).map_err(|()| format!("invalid method {}", req.method))?;
    let scheme = match url.scheme.as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("unsupported protocol scheme \"{other}\"")),
    };
    request.set_scheme(Some(&scheme)).map_err(|()| "invalid scheme".to_string())?;
    request.set_authority(Some(&url.authority)).map_err(|()| format!("invalid host {:?}", url.authority))?;
    request.set_path_with_query(Some(&url.path_and_query)).map_err(|()| "invalid path".to_string())?;

    let body = request.body().map_err(|()| "request body unavailable".to_string())?;
    if let Some(bytes) = &req.body {
        let stream = body.write().map_err(|()| "request body stream unavailable".to_string())?;
        for chunk in bytes.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|e| format!("writing request body: {e:?}"))?;
        }
        drop(stream);
    }

    let options = RequestOptions::new();
    let remaining = deadline.saturating_sub(monotonic_clock::now());
    // Not every host implements the per-phase timeouts; the overall deadline below still applies.
    let _ = options.set_connect_timeout(Some(remaining));
    let _ = options.set_first_byte_timeout(Some(remaining));
    let future = outgoing_handler::handle(request, Some(options)).map_err(describe)?;
    OutgoingBody::finish(body, None).map_err(describe)?;

    // Wait for the headers or the deadline, whichever comes first. `get` hands the response over once, so it is
    // only called when the future is ready.
    let ready = future.subscribe();
    let timer = monotonic_clock::subscribe_instant(deadline);
    while !ready.ready() {
        if poll::poll(&[&ready, &timer]).contains(&1) && !ready.ready() {
            return Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into());
        }
    }
    let Some(result) = future.get() else {
        return Err("response not ready".into());
    };
    let response = match result.map_err(|()| "response already taken".to_string())? {
        Ok(r) => r,
        // A host's own first-byte or connect timeout at the deadline reads as Go's client timeout.
        Err(ErrorCode::ConnectionReadTimeout | ErrorCode::ConnectionTimeout)
            if monotonic_clock::now() >= deadline =>
        {
            return Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into());
        }
        Err(e) => return Err(describe(e)),
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response.consume().map_err(|()| "response body unavailable".to_string())?;
    Ok(Pending { status, headers, incoming, _response: response })
}

/// Reads the whole body, never blocking past `deadline`: a server that stalls mid-body times out like one that
/// never answers.
fn read_body(incoming: &IncomingBody, deadline: u64) -> Result<Vec<u8>, String> {
    const TIMEOUT: &str =
        "context deadline exceeded (Client.Timeout or context cancellation while reading body)";
    let stream = incoming.stream().map_err(|()| "response body stream unavailable".to_string())?;
    let readable = stream.subscribe();
    let timer = monotonic_clock::subscribe_instant(deadline);
    let mut body = Vec::new();
    loop {
        if !readable.ready() && poll::poll(&[&readable, &timer]).contains(&1) && !readable.ready() {
            return Err(TIMEOUT.into());
        }
        match stream.read(64 * 1024) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return Err(format!("response body larger than {MAX_BODY} bytes"));
                }
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
}

fn describe(e: ErrorCode) -> String {
    match e {
        ErrorCode::InternalError(Some(msg)) => msg,
        ErrorCode::HttpRequestDenied => "request denied by the host".into(),
        ErrorCode::ConnectionRefused => "connect: connection refused".into(),
        ErrorCode::ConnectionTimeout => "dial tcp: i/o timeout".into(),
        ErrorCode::DnsError(p) => format!("dial tcp: lookup failed: {}", p.rcode.unwrap_or_default()),
        other => format!("{other}"),
    }
}

/// The parts of an http(s) URL a request needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    pub scheme: String,
    /// host[:port], without user info.
    pub authority: String,
    pub host: String,
    pub path_and_query: String,
    pub basic_auth: Option<String>,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let (scheme, rest) =
            s.split_once("://").ok_or_else(|| format!("parse {s:?}: missing protocol scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (mut authority, tail) = rest.split_at(end);
        let mut basic_auth = None;
        if let Some((user, host)) = authority.rsplit_once('@') {
            basic_auth = Some(percent_decode(user));
            authority = host;
        }
        if authority.is_empty() {
            return Err(format!("parse {s:?}: no Host in request URL"));
        }
        let host = if authority.starts_with('[') {
            authority.split(']').next().unwrap_or("").trim_start_matches('[').to_string()
        } else {
            authority.split(':').next().unwrap_or("").to_string()
        };
        let path_and_query = match tail {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        Ok(Url { scheme, authority: authority.to_string(), host, path_and_query, basic_auth })
    }

    /// Resolves a redirect target (absolute URL, absolute path or relative path) against this URL.
    pub fn join(&self, location: &str) -> String {
        if location.contains("://") {
            return location.to_string();
        }
        if let Some(rest) = location.strip_prefix("//") {
            return format!("{}://{rest}", self.scheme);
        }
        let base = format!("{}://{}", self.scheme, self.authority);
        if location.starts_with('/') {
            return format!("{base}{location}");
        }
        let path = self.path_and_query.split('?').next().unwrap_or("/");
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{base}{dir}{location}")
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Hex digits read as bytes: slicing the str there could split a multi-byte character.
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (RFC 4648), for basic authentication.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins_urls() {
        let u = Url::parse("http://user:p%40ss@127.0.0.1:8080/a/b?q=1#frag").unwrap();
        assert_eq!(u.authority, "127.0.0.1:8080");
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.path_and_query, "/a/b?q=1");
        assert_eq!(u.basic_auth.as_deref(), Some("user:p@ss"));
        assert_eq!(u.join("c"), "http://127.0.0.1:8080/a/c");
        assert_eq!(u.join("/x"), "http://127.0.0.1:8080/x");
        assert_eq!(u.join("https://other/y"), "https://other/y");
        assert_eq!(Url::parse("http://h?x=1").unwrap().path_and_query, "/?x=1");
        assert!(Url::parse("no-scheme").is_err());
    }

    #[test]
    fn percent_decoding_leaves_what_is_not_an_escape() {
        assert_eq!(percent_decode("p%40ss"), "p@ss");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        // A `%` followed by half a multi-byte character is kept as it is (slicing there would panic).
        assert_eq!(percent_decode("%aé"), "%aé");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}

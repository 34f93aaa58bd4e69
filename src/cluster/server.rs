//! HTTP routing and handlers: maps Kubernetes REST paths and verbs onto the store (PATCH in `server/patches.rs`,
//! the scale subresource in `server/scale.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, header};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::builtin_validation;
use super::discovery;
use super::faults::FaultInjector;
use super::object;
use super::openapi;
use super::protobuf;
use super::registry::ResourceType;
use super::render::{self, Format};
use super::schema;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult, Cause};
use super::store::{DeleteOptions, ListOptions, Propagation, Store, Subresource};
use super::watch::{self as watching, Start, WatchRequest};

mod patches;
mod scale;

use patches::patch_object;
use scale::{scale_of, scale_write};

/// Shared state of the HTTP server.
pub struct App {
    /// Object storage.
    pub store: Arc<Store>,
    /// Live faults.
    pub faults: Arc<FaultInjector>,
    /// Flips to true on shutdown; open watches end.
    pub shutdown: watch::Receiver<bool>,
    /// Bumped to drop all open watches.
    pub drops: watch::Receiver<u64>,
    /// Period of watch bookmarks.
    pub bookmark_interval: Duration,
    /// `host:port` the server is reachable at.
    pub server_address: String,
}

/// The axum router for the whole API.
pub fn router(app: Arc<App>) -> axum::Router {
    // The body limit is the real server's, enforced in `dispatch` so that it answers with a Status.
    axum::Router::new().fallback(dispatch).layer(DefaultBodyLimit::disable()).with_state(app)
}

const JSON: &str = "application/json";

fn json_response(code: StatusCode, v: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, JSON)], v.to_string()).into_response()
}

fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

async fn dispatch(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let delay = app.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let resp = match serve(&app, &method, &uri, &headers, body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    tracing::debug!(%method, %uri, status = resp.status().as_u16(), "request");
    resp
}

/// The request body, up to the real server's limit. A larger one is read to its end (so that the client, still
/// sending, reads the answer rather than a reset connection) and refused with 413.
async fn read_body(body: Body) -> ApiResult<Bytes> {
    const DRAIN_AT_MOST: usize = 256 * 1024 * 1024;
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        seen += chunk.len();
        if seen <= builtin_validation::MAX_REQUEST_BYTES {
            buf.extend_from_slice(&chunk);
        } else if seen > DRAIN_AT_MOST {
            break;
        }
    }
    if seen > builtin_validation::MAX_REQUEST_BYTES {
        return Err(builtin_validation::request_too_large());
    }
    Ok(buf.freeze())
}

/// Query parameters (repeated keys: the first wins).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(uri: &Uri) -> ApiResult<Self> {
        if uri.query().is_none() {
            return Ok(Params(vec![]));
        }
        Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> Option<bool> {
        self.get(k).map(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"))
    }
}

fn serve(app: &App, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> ApiResult<Response> {
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let params = Params::parse(uri)?;
    let reg = || app.store.registry();
    match segs.as_slice() {
        [] => Ok(ok(
            &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]}),
        )),
        ["version"] => Ok(ok(&discovery::version())),
        ["healthz"] | ["readyz"] | ["livez"] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] => Ok(ok(&discovery::api_versions(&app.server_address))),
        ["api", v] => discovery::resource_list(&reg(), "", v).map(|l| ok(&l)).ok_or_else(ApiError::no_route),
        ["api", v, rest @ ..] => with_field_validation(method, &params, || {
            resource(app, method, headers, &params, "", v, rest, body)
        }),
        ["apis"] => Ok(ok(&discovery::group_list(&reg()))),
        ["apis", g] => discovery::api_group(&reg(), g).map(|l| ok(&l)).ok_or_else(ApiError::no_route),
        ["apis", g, v] => {
            discovery::resource_list(&reg(), g, v).map(|l| ok(&l)).ok_or_else(ApiError::no_route)
        }
        ["apis", g, v, rest @ ..] => with_field_validation(method, &params, || {
            resource(app, method, headers, &params, g, v, rest, body)
        }),
        ["openapi", "v2"] => {
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or(JSON);
            if accept.contains("protobuf") && !accept.contains("json") && !accept.contains("*/*") {
                return Err(ApiError {
                    code: 406,
                    reason: "NotAcceptable",
                    message: "only application/json is served for /openapi/v2".into(),
                    details: None,
                    retry_after: None,
                });
            }
            Ok(ok(&openapi::v2(&reg(), &|rt, v| app.store.crd_schema(rt, v))))
        }
        ["openapi", "v3"] => Ok(ok(&openapi::root(&reg(), &|rt, v| app.store.crd_schema(rt, v)))),
        ["openapi", "v3", "api", v] => openapi::document(&reg(), "", v, &|rt, v| app.store.crd_schema(rt, v))
            .map(|d| ok(&d))
            .ok_or_else(ApiError::no_route),
        ["openapi", "v3", "apis", g, v] => {
            openapi::document(&reg(), g, v, &|rt, v| app.store.crd_schema(rt, v))
                .map(|d| ok(&d))
                .ok_or_else(ApiError::no_route)
        }
        _ => Err(ApiError::no_route()),
    }
}

/// Serves a resource request under its `fieldValidation` directive (Warn when absent, as the real server), with
/// a `Warning` header for each unknown field it pruned.
fn with_field_validation(
    method: &Method,
    params: &Params,
    serve: impl FnOnce() -> ApiResult<Response>,
) -> ApiResult<Response> {
    // Only writes of objects are validated; other verbs ignore the parameter, as the real server does.
    let writes = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    let directive = match params.get("fieldValidation").filter(|_| writes) {
        None | Some("") | Some("Warn") => schema::FieldValidation::Warn,
        Some("Strict") => schema::FieldValidation::Strict,
        Some("Ignore") => schema::FieldValidation::Ignore,
        Some(other) => {
            let options = match *method {
                Method::POST => "CreateOptions",
                Method::PUT => "UpdateOptions",
                _ => "PatchOptions",
            };
            let cause = Cause {
                reason: "FieldValueNotSupported",
                message: format!(
                    "Unsupported value: {other:?}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
                ),
                field: "fieldValidation".into(),
            };
            return Err(ApiError::invalid(options, "meta.k8s.io", "", vec![cause]));
        }
    };
    let (response, unknown) = schema::with_field_validation(directive, serve);
    let mut response = response?;
    for field in unknown {
        let warning = format!("299 - {:?}", format!("unknown field {field:?}"));
        if let Ok(v) = header::HeaderValue::from_str(&warning) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    Ok(response)
}

/// A parsed resource path.
#[derive(Debug, PartialEq)]
struct Target<'a> {
    watch: bool,
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

/// Splits `[watch/][namespaces/<ns>/]<plural>[/<name>[/<sub>]]` the way upstream's RequestInfo does.
fn parse_target<'a>(rest: &[&'a str]) -> Option<Target<'a>> {
    let (watch, rest) = match rest.first() {
        Some(&"watch") => (true, &rest[1..]),
        _ => (false, rest),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, next, ..] if *next != "status" && *next != "finalize" => (Some(*ns), &rest[2..]),
        _ => (None, rest),
    };
    match rest {
        [plural] => Some(Target { watch, namespace, plural, name: None, sub: None }),
        [plural, name] => Some(Target { watch, namespace, plural, name: Some(name), sub: None }),
        [plural, name, sub] => Some(Target { watch, namespace, plural, name: Some(name), sub: Some(sub) }),
        _ => None,
    }
}

fn parse_body(body: &Bytes) -> ApiResult<Value> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not valid UTF-8"))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
    } else {
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML request body: {e}")))
    }
}

fn list_options(rt: &ResourceType, version: &str, params: &Params) -> ApiResult<ListOptions> {
    let ls = params.get("labelSelector").unwrap_or("");
    let fs = params.get("fieldSelector").unwrap_or("");
    let labels = LabelSelector::parse(ls).map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(fs, &rt.selectable_fields).map_err(|e| {
        ApiError::bad_request(format!(
            "Unable to find \"{}/{version}, Resource={}\" that match label selector \"{ls}\", field selector \"{fs}\": {e}",
            rt.group, rt.plural
        ))
    })?;
    let limit = match params.get("limit") {
        Some(l) if !l.is_empty() => {
            Some(l.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid limit: {l:?}")))?.max(0)
                as usize)
        }
        _ => None,
    };
    Ok(ListOptions {
        labels,
        fields,
        limit,
        continue_token: params.get("continue").map(str::to_string),
        resource_version: params.get("resourceVersion").map(str::to_string),
        resource_version_match: params.get("resourceVersionMatch").map(str::to_string),
    })
}

fn list_options_invalid(field: &str, detail: &str) -> ApiError {
    ApiError::invalid("ListOptions", "meta.k8s.io", "", vec![Cause::forbidden(field, detail)])
}

/// Everything one request needs to know about its resource.
struct Ctx<'a> {
    app: &'a App,
    rt: Arc<ResourceType>,
    api_version: String,
    version: String,
    ns: &'a str,
    format: Format,
    /// Answer in protobuf (the client prefers it and the kind has that form).
    protobuf: bool,
    include_object: String,
    dry_run: bool,
}

impl Ctx<'_> {
    /// The response in the negotiated encoding.
    fn respond(&self, code: StatusCode, v: &Value) -> Response {
        if self.protobuf {
            match protobuf::encode(v) {
                Ok(b) => return (code, [(header::CONTENT_TYPE, protobuf::MEDIA_TYPE)], b).into_response(),
                Err(e) => {
                    tracing::warn!(error = %e, "answering in JSON: the object does not fit its protobuf form")
                }
            }
        }
        json_response(code, v)
    }

    /// An error's `Status` in the negotiated encoding.
    fn error(&self, e: ApiError) -> Response {
        let encoded = protobuf::encode(&e.to_status());
        let mut resp = e.into_response();
        if let Ok(b) = encoded {
            // The JSON response's status and headers (Retry-After), with the protobuf body.
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(protobuf::MEDIA_TYPE));
            *resp.body_mut() = Body::from(b);
        }
        resp
    }

    fn render(&self, obj: &Value) -> Value {
        let obj = render::at_version(obj, &self.api_version);
        match self.format {
            Format::Full => obj.into_owned(),
            Format::Metadata => render::metadata_only(&obj),
            Format::Table => {
                let meta = json!({"resourceVersion": object::resource_version(&obj)});
                render::table(&self.rt, std::slice::from_ref(&obj), meta, &self.include_object, true)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn resource(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    group: &str,
    version: &str,
    rest: &[&str],
    body: Bytes,
) -> ApiResult<Response> {
    let t = parse_target(rest).ok_or_else(ApiError::no_route)?;
    let rt = app.store.lookup(group, version, t.plural).ok_or_else(ApiError::no_route)?;
    if (!rt.namespaced && t.namespace.is_some())
        || (rt.namespaced && t.namespace.is_none() && t.name.is_some())
    {
        return Err(ApiError::no_route());
    }
    match t.sub {
        None | Some("status") if t.sub.is_none() || rt.status => {}
        Some("scale") if rt.scale.is_some() => {}
        Some("eviction") if rt.group.is_empty() && rt.plural == "pods" => {}
        _ => return Err(ApiError::no_route()),
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or(JSON);
    let format = Format::from_accept(accept);
    let ctx = Ctx {
        app,
        api_version: rt.api_version(version),
        version: version.to_string(),
        rt: rt.clone(),
        ns: t.namespace.unwrap_or(""),
        format,
        protobuf: protobuf::preferred(accept) && !rt.custom && format != Format::Table,
        include_object: params.get("includeObject").unwrap_or("Metadata").to_string(),
        dry_run: params.get("dryRun") == Some("All"),
    };
    // Errors too are answered in the negotiated encoding, as the real server does.
    verb(&ctx, method, headers, params, &t, body)
        .or_else(|e| if ctx.protobuf { Ok(ctx.error(e)) } else { Err(e) })
}

/// Serves one verb on a resource.
fn verb(
    ctx: &Ctx<'_>,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    t: &Target<'_>,
    body: Bytes,
) -> ApiResult<Response> {
    let (app, rt) = (ctx.app, &ctx.rt);
    let is_write = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if is_write && let Some(err) = app.faults.write_error(&rt.gr(), t.name.unwrap_or("")) {
        return Err(err);
    }
    let mut content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let body = if content_type == protobuf::MEDIA_TYPE && !rt.custom {
        let decoded = protobuf::decode(&body)
            .map_err(|e| ApiError::bad_request(format!("error decoding the protobuf request body: {e}")))?;
        content_type = JSON.to_string();
        Bytes::from(decoded.to_string())
    } else if content_type.contains("protobuf") || content_type.contains("cbor") {
        // Custom resources have no protobuf form; no kind has CBOR without its feature gate.
        let accepted = if rt.custom {
            "application/json, application/yaml"
        } else {
            "application/json, application/yaml, application/vnd.kubernetes.protobuf"
        };
        return Err(ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted} (got {content_type})"
            ),
            details: None,
            retry_after: None,
        });
    } else {
        body
    };
    match (t.name, t.sub, method.clone()) {
        (None, _, Method::GET) if t.watch || params.flag("watch") == Some(true) => watch(ctx, params, None),
        (None, _, Method::GET) => list(ctx, params),
        (None, _, Method::POST) => {
            if rt.namespaced && t.namespace.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let created = app.store.create(rt, ctx.ns, parse_body(&body)?, ctx.dry_run)?;
            Ok(ctx.respond(StatusCode::CREATED, &ctx.render(&created)))
        }
        (None, _, Method::DELETE) => {
            let opts = delete_options(params, &body)?;
            let lo = list_options(rt, &ctx.version, params)?;
            let gone = app.store.delete_collection(rt, t.namespace, &lo, &opts)?;
            let items: Vec<Value> =
                gone.iter().map(|o| render::at_version(o, &ctx.api_version).into_owned()).collect();
            Ok(ctx.respond(
                StatusCode::OK,
                &json!({"kind": format!("{}List", rt.kind), "apiVersion": ctx.api_version,
                "metadata": {"resourceVersion": app.store.current_rv().to_string()}, "items": items}),
            ))
        }
        (Some(name), None, Method::GET) if t.watch => watch(ctx, params, Some(name)),
        (Some(name), None | Some("status"), Method::GET) => {
            Ok(ctx.respond(StatusCode::OK, &ctx.render(&*app.store.get(rt, ctx.ns, name)?)))
        }
        (Some(name), sub @ (None | Some("status")), Method::PUT) => {
            let sub = if sub.is_some() { Subresource::Status } else { Subresource::Main };
            let updated = app.store.update(rt, ctx.ns, name, parse_body(&body)?, sub, ctx.dry_run)?;
            Ok(ctx.respond(StatusCode::OK, &ctx.render(&updated)))
        }
        (Some(name), sub @ (None | Some("status")), Method::PATCH) => {
            let sub = if sub.is_some() { Subresource::Status } else { Subresource::Main };
            patch_object(ctx, params, name, sub, &content_type, &body)
        }
        (Some(name), None, Method::DELETE) => delete(ctx, params, name, &body),
        (Some(name), Some("eviction"), Method::POST) => evict(ctx, params, name, &body),
        (Some(name), Some("scale"), Method::GET) => {
            let obj = app.store.get(rt, ctx.ns, name)?;
            Ok(ctx.respond(StatusCode::OK, &scale_of(rt, &obj)))
        }
        (Some(name), Some("scale"), m @ (Method::PUT | Method::PATCH)) => {
            scale_write(ctx, name, m == Method::PATCH, &content_type, &body)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn list(ctx: &Ctx<'_>, params: &Params) -> ApiResult<Response> {
    let opts = list_options(&ctx.rt, &ctx.version, params)?;
    let ns = (!ctx.ns.is_empty()).then_some(ctx.ns);
    let res = ctx.app.store.list(&ctx.rt, ns, &opts)?;
    let mut meta = json!({"resourceVersion": res.resource_version.to_string()});
    if let Some(c) = &res.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = res.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    let items: Vec<Value> =
        res.items.iter().map(|o| render::at_version(o, &ctx.api_version).into_owned()).collect();
    let body = match ctx.format {
        Format::Full => {
            json!({"kind": format!("{}List", ctx.rt.kind), "apiVersion": ctx.api_version, "metadata": meta, "items": items})
        }
        Format::Metadata => {
            let items: Vec<Value> = items.iter().map(render::metadata_only).collect();
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items})
        }
        Format::Table => render::table(&ctx.rt, &items, meta, &ctx.include_object, true),
    };
    Ok(ctx.respond(StatusCode::OK, &body))
}

fn watch(ctx: &Ctx<'_>, params: &Params, name: Option<&str>) -> ApiResult<Response> {
    let mut opts = list_options(&ctx.rt, &ctx.version, params)?;
    if let Some(n) = name {
        let extra =
            FieldSelector::parse(&format!("metadata.name={n}"), &[]).map_err(ApiError::bad_request)?;
        opts.fields.0.extend(extra.0);
    }
    let send_initial = params.flag("sendInitialEvents");
    let bookmarks = params.flag("allowWatchBookmarks") == Some(true);
    let rv_match = params.get("resourceVersionMatch").unwrap_or("");
    let rv = params.get("resourceVersion").unwrap_or("");
    match send_initial {
        Some(_) if rv_match != "NotOlderThan" => {
            return Err(list_options_invalid(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        Some(true) if !bookmarks => {
            return Err(list_options_invalid(
                "allowWatchBookmarks",
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
        None if !rv_match.is_empty() => {
            return Err(list_options_invalid(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch",
            ));
        }
        _ => {}
    }
    let parse_rv = |s: &str| {
        s.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
    };
    let start = match (send_initial, rv) {
        (Some(true), _) => Start::WithInitialEvents { end_bookmark: true },
        (Some(false), "" | "0") => Start::Now,
        (None, "" | "0") => Start::WithInitialEvents { end_bookmark: false },
        (_, n) => Start::After(parse_rv(n)?),
    };
    let timeout = match params.get("timeoutSeconds") {
        // Clamped to a year so that the deadline cannot overflow the clock.
        Some(t) if !t.is_empty() => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t:?}")))?
                .min(365 * 24 * 3600),
        ),
        _ => Duration::from_secs(1800),
    };
    let req = WatchRequest {
        rt: ctx.rt.clone(),
        api_version: ctx.api_version.clone(),
        namespace: (!ctx.ns.is_empty()).then(|| ctx.ns.to_string()),
        labels: opts.labels,
        fields: opts.fields,
        start,
        bookmarks,
        timeout,
        bookmark_interval: ctx.app.bookmark_interval,
        format: ctx.format,
        include_object: ctx.include_object.clone(),
        protobuf: ctx.protobuf,
    };
    let content_type = if ctx.protobuf { protobuf::WATCH_MEDIA_TYPE } else { JSON };
    let stream =
        watching::stream(ctx.app.store.clone(), req, ctx.app.shutdown.clone(), ctx.app.drops.clone());
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

fn delete_options(params: &Params, body: &Bytes) -> ApiResult<DeleteOptions> {
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) { json!({}) } else { parse_body(body)? };
    let policy = b
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| params.get("propagationPolicy").map(str::to_string));
    let orphan =
        b.get("orphanDependents").and_then(Value::as_bool).or_else(|| params.flag("orphanDependents"));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Background") | None | Some(""), _) => Propagation::Background,
        (Some(other), _) => {
            return Err(ApiError::invalid(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                vec![Cause {
                    reason: "FieldValueNotSupported",
                    message: format!(
                        "Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                    ),
                    field: "propagationPolicy".into(),
                }],
            ));
        }
    };
    let dry_run = params.get("dryRun") == Some("All")
        || b.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        uid: b.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string),
        resource_version: b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run,
    })
}

fn delete(ctx: &Ctx<'_>, params: &Params, name: &str, body: &Bytes) -> ApiResult<Response> {
    let opts = delete_options(params, body)?;
    let (last, gone) = ctx.app.store.delete(&ctx.rt, ctx.ns, name, &opts)?;
    if gone && !ctx.rt.return_deleted_object {
        return Ok(ctx.respond(StatusCode::OK, &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": ctx.rt.group, "kind": ctx.rt.plural, "uid": object::uid(&last)}
        })));
    }
    Ok(ctx.respond(StatusCode::OK, &ctx.render(&last)))
}

/// `POST pods/{name}/eviction`: the pod is deleted with the eviction's delete options. The embedded
/// cluster has no PodDisruptionBudgets, so an eviction is never refused.
fn evict(ctx: &Ctx<'_>, params: &Params, name: &str, body: &Bytes) -> ApiResult<Response> {
    let eviction = parse_body(body)?;
    let named = eviction.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if named != name {
        return Err(ApiError::bad_request(format!(
            "name in URL does not match name in Eviction object: {name:?} != {named:?}"
        )));
    }
    let options = match eviction.get("deleteOptions") {
        Some(o) if !o.is_null() => Bytes::from(o.to_string()),
        _ => Bytes::new(),
    };
    let opts = delete_options(params, &options)?;
    ctx.app.store.delete(&ctx.rt, ctx.ns, name, &opts)?;
    Ok(ctx.respond(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_like_request_info() {
        let t = parse_target(&["namespaces", "ns", "pods", "p", "status"]).expect("parses");
        assert_eq!(
            t,
            Target {
                watch: false,
                namespace: Some("ns"),
                plural: "pods",
                name: Some("p"),
                sub: Some("status")
            }
        );
        let t = parse_target(&["namespaces", "ns", "status"]).expect("parses");
        assert_eq!(
            t,
            Target {
                watch: false,
                namespace: None,
                plural: "namespaces",
                name: Some("ns"),
                sub: Some("status")
            }
        );
        let t = parse_target(&["namespaces", "ns"]).expect("parses");
        assert_eq!(t.plural, "namespaces");
        let t = parse_target(&["watch", "namespaces", "ns", "configmaps"]).expect("parses");
        assert!(t.watch && t.namespace == Some("ns") && t.name.is_none());
        assert!(parse_target(&["a", "b", "c", "d"]).is_none());
    }
}

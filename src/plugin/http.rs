//! Outbound HTTP for plugins (`wasi:http/outgoing-handler`): every request is checked against the plugin's granted
//! origins, the name is resolved by the host and the address checked, and the host connects to exactly that
//! address. Redirects are new requests from the guest, so each hop is checked again.

use super::grants::{Grants, Origin};
use super::net::{ConnectError, Network};
use super::state::Audit;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The per-call HTTP policy (a `wasi:http` hook).
pub struct HttpPolicy {
    pub plugin: Arc<str>,
    pub grants: Arc<Grants>,
    pub audit: Arc<Audit>,
    /// Where connections may go, and TLS.
    pub network: Arc<Network>,
    /// Upper bound for connecting and for the first response byte (the call deadline).
    pub deadline: Duration,
    /// Requests of this call in flight (each holds a permit until its response and connection are done).
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

/// Requests one call may have in flight at once; each costs a name lookup, a connection and host buffers.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 8;

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let plugin = self.plugin.clone();
        let grants = self.grants.clone();
        let audit = self.audit.clone();
        let network = self.network.clone();
        let deadline = self.deadline;
        let in_flight = self.in_flight.clone();
        Box::new(async move {
            let deny = |what: String| {
                audit.deny(what.clone());
                Error::InternalError(Some(format!("serin denied this request to plugin {plugin}: {what}")))
            };
            let url = request.uri().to_string();
            let (origin, _) = Origin::parse_url(&url).map_err(deny)?;
            let Some(grant) = grants.http_grant(&origin) else {
                return Err(deny(format!("outbound HTTP to {origin} is not granted")));
            };
            let insecure = grant.insecure_tls;
            let permit = in_flight.try_acquire_owned().map_err(|_| {
                Error::InternalError(Some(format!(
                    "plugin {plugin} has more than {MAX_REQUESTS_IN_FLIGHT} HTTP requests in flight"
                )))
            })?;

            // Name lookup, TCP and TLS all count against the connect timeout, itself within the call's deadline.
            let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(deadline).min(deadline);
            let first_byte_timeout =
                options.and_then(|o| o.first_byte_timeout).unwrap_or(deadline).min(deadline);
            let connect = async {
                network.connect(&origin, insecure).await.map_err(|e| match e {
                    ConnectError::Denied(why) => deny(why),
                    ConnectError::Name(m) => Error::DnsError { rcode: Some(m), info_code: None },
                    ConnectError::Connect(e) => Error::Connect(e),
                    ConnectError::Tls(e) => Error::InternalError(Some(format!("tls: {e}"))),
                })
            };
            let stream = tokio::time::timeout(connect_timeout, connect)
                .await
                .map_err(|_| Error::ConnectionTimeout)??;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, WasiBody>(TokioIo::new(stream))
                    .await
                    .map_err(Error::from)?;
            // Aborted when the response is dropped, so a cancelled call leaves no connection behind.
            let conn = wasmtime_wasi::runtime::spawn(conn);
            let mut request = request;
            // On the wire the request line carries only the path; the Host header (set by wasi:http) the authority.
            let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
            *request.uri_mut() = path
                .parse()
                .map_err(|_| Error::InternalError(Some(format!("invalid request path {path:?}"))))?;
            // The Host header names the origin that was checked, whatever authority text the plugin sent.
            let host = origin.host_header();
            let host = http::HeaderValue::from_str(&host)
                .map_err(|_| Error::InternalError(Some(format!("invalid host {host:?}"))))?;
            request.headers_mut().insert(http::header::HOST, host);
            let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
                .await
                .map_err(|_| Error::ConnectionReadTimeout)?
                .map_err(Error::from)?;
            let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
            let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async move {
                let _permit = permit;
                conn.await.map_err(Error::from)
            });
            Ok((response, io))
        })
    }
}

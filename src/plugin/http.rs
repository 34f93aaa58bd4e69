//! Outbound HTTP for plugins (`wasi:http/outgoing-handler`): every request is checked against the plugin's granted
//! origins, the name is resolved by the host and the address checked, and the host connects to exactly that
//! address. Redirects are new requests from the guest, so each hop is checked again.

use super::grants::{Grants, Origin, check_resolved_address};
use super::state::Audit;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The per-call HTTP policy (a `wasi:http` hook).
pub struct HttpPolicy {
    pub plugin: Arc<str>,
    pub grants: Arc<Grants>,
    pub audit: Arc<Audit>,
    pub tls: TlsConfigs,
    /// Upper bound for connecting and for the first response byte (the call deadline).
    pub deadline: Duration,
    /// Requests of this call in flight (each holds a permit until its response and connection are done).
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

/// Requests one call may have in flight at once; each costs a name lookup, a connection and host buffers.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 8;

/// TLS client configurations, built once per runtime.
#[derive(Clone)]
pub struct TlsConfigs {
    pub verified: Arc<rustls::ClientConfig>,
    pub insecure: Arc<rustls::ClientConfig>,
}

impl TlsConfigs {
    pub fn new() -> Result<TlsConfigs, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let verified = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let insecure = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth();
        Ok(TlsConfigs { verified: Arc::new(verified), insecure: Arc::new(insecure) })
    }
}

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
        let tls = self.tls.clone();
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
                let addr = resolve_checked(&origin).await.map_err(deny)?;
                let tcp = TcpStream::connect(addr).await.map_err(Error::Connect)?;
                let stream: Box<dyn Io> = if origin.is_https() {
                    let config = if insecure { tls.insecure } else { tls.verified };
                    let name =
                        rustls::pki_types::ServerName::try_from(origin.host.clone()).map_err(|_| {
                            Error::InternalError(Some(format!("invalid TLS server name {}", origin.host)))
                        })?;
                    Box::new(
                        tokio_rustls::TlsConnector::from(config)
                            .connect(name, tcp)
                            .await
                            .map_err(Error::Tls)?,
                    )
                } else {
                    Box::new(tcp)
                };
                Ok::<_, Error>(stream)
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
            let host = host_header(&origin);
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

/// The `Host` header for an origin: the port only when it is not the scheme's default, IPv6 in brackets.
fn host_header(origin: &Origin) -> String {
    let host = if origin.host.contains(':') { format!("[{}]", origin.host) } else { origin.host.clone() };
    let default_port = if origin.is_https() { 443 } else { 80 };
    if origin.port == default_port { host } else { format!("{host}:{}", origin.port) }
}

/// A plain or TLS connection.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Resolves the origin's host and returns the first address the policy allows.
async fn resolve_checked(origin: &Origin) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((origin.host.as_str(), origin.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", origin.host))?
        .collect();
    let mut refusals = Vec::new();
    for addr in addrs {
        match check_resolved_address(&origin.host, addr.ip()) {
            Ok(()) => return Ok(addr),
            Err(why) => refusals.push(why),
        }
    }
    Err(refusals.pop().unwrap_or_else(|| format!("{} resolves to no address", origin.host)))
}

/// Certificate verification switched off, for origins granted with `insecure` (Argo's `insecure: true`).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

//! Where plugins' outbound connections may go, beyond the origins each plugin is granted: the host resolves every
//! name itself, judges each address it resolves to, and connects to exactly the address it judged. Shared by
//! `wasi:http` and the typed Prometheus import.
//!
//! A granted public name must not lead into the cluster's or the provider's network (DNS rebinding): it may not
//! resolve to a private, loopback, link-local or provider-internal address. In-cluster names (`name`,
//! `name.namespace`, `*.svc`, `*.svc.<cluster domain>`) may resolve to private addresses, and the operator can
//! allow further networks; cloud metadata addresses stay refused whatever is allowed.

use super::grants::Origin;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpStream;

/// An IP network such as `10.20.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::/n` or a bare address (a network of one).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr.trim().parse().map_err(|_| format!("{s:?} is not an IP network such as 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!(
                "{s:?} has host bits set (did you mean {}?)",
                Cidr { addr: cidr.network(), prefix }
            ));
        }
        Ok(cidr)
    }

    fn mask(bits: u32, prefix: u8) -> u128 {
        if prefix == 0 { 0 } else { (!0u128 << (bits - u32::from(prefix))) & (!0u128 >> (128 - bits)) }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                IpAddr::V4(Ipv4Addr::from((u32::from(a) as u128 & Self::mask(32, self.prefix)) as u32))
            }
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & Self::mask(128, self.prefix))),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = Self::mask(32, self.prefix);
                (u32::from(a) as u128 & m) == (u32::from(n) as u128 & m)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = Self::mask(128, self.prefix);
                (u128::from(a) & m) == (u128::from(n) & m)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The operator's network settings for plugins (`pluginNetwork` in `serin-config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Networks any granted name may resolve into, besides what in-cluster names may reach.
    pub allow_cidrs: Vec<Cidr>,
    /// The cluster's DNS domain (`cluster.local` unless the cluster was set up otherwise).
    pub cluster_domain: String,
    /// Certificate authorities trusted for plugins' TLS origins besides the public roots.
    pub ca_bundle: Vec<CertificateDer<'static>>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            allow_cidrs: Vec::new(),
            cluster_domain: "cluster.local".into(),
            ca_bundle: Vec::new(),
        }
    }
}

/// Parses the certificates of a PEM bundle; an error names what is wrong, a bundle without certificates is one.
pub fn parse_ca_bundle(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: not a PEM certificate bundle: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"));
    }
    Ok(certs)
}

/// Name resolution, injectable so tests decide what a name resolves to without sending a packet.
pub trait Resolve: Send + Sync + 'static {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>>;
}

/// The system's resolver (`/etc/hosts`, then DNS with the pod's search path).
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// A resolver to use for plugins' connections.
#[derive(Clone)]
pub struct Resolver(pub Arc<dyn Resolve>);

impl Default for Resolver {
    fn default() -> Self {
        Resolver(Arc::new(SystemResolver))
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

/// How the host reached a name, which decides the addresses it may resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// An IP address granted as such: it may be anything.
    Literal,
    /// `localhost`: loopback only.
    Localhost,
    /// A name inside the cluster: private addresses are expected.
    InCluster,
    /// Any other name: a public address.
    Public,
}

/// Whether `host` is an in-cluster name: one label (found through the search path), or a Service name under
/// `.svc` or `.svc.<cluster domain>`.
pub fn is_cluster_name(host: &str, cluster_domain: &str) -> bool {
    let host = host.trim_end_matches('.');
    !host.contains('.')
        || host.ends_with(".svc")
        || host.strip_suffix(cluster_domain).is_some_and(|rest| rest.ends_with(".svc."))
}

/// Addresses no plugin connection may reach, whatever the policy allows: cloud metadata and the like.
fn never(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local address"),
        // Alibaba Cloud's metadata service sits in the shared address space; Azure's wire server is public space.
        IpAddr::V4(v4) if v4 == Ipv4Addr::new(100, 100, 100, 200) => Some("a cloud metadata address"),
        IpAddr::V4(v4) if v4 == Ipv4Addr::new(168, 63, 129, 16) => {
            Some("a cloud provider's internal address")
        }
        // Amazon's instance metadata service on IPv6 (its IPv4 one is link-local).
        IpAddr::V6(v6) if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => {
            Some("a cloud metadata address")
        }
        // NAT64's local-use prefix (RFC 8215) can embed any IPv4 address, wherever the operator placed it.
        IpAddr::V6(v6) if v6.segments()[..3] == [0x64, 0xff9b, 1] => Some("a NAT64 local-use address"),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some("a link-local address"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(v4) if v4.octets()[0] == 0 => Some("an unspecified address"),
        a if a.is_unspecified() => Some("the unspecified address"),
        a if a.is_multicast() => Some("a multicast address"),
        _ => None,
    }
}

/// Private address space: where a cluster's pods, Services and nodes live.
fn private(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) if v4.is_private() => Some("a private address"),
        IpAddr::V4(v4) if v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 => {
            Some("a shared (carrier-grade NAT) address")
        }
        IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 => Some("a unique local address"),
        _ => None,
    }
}

/// An IPv4 address inside IPv6 (mapped, or NAT64's well-known 64:ff9b::/96) is judged as the IPv4 address it
/// reaches.
fn unmapped(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => {
            let o = v6.octets();
            IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether a connection to `addr` is allowed for a request to `host`, reached as `kind`.
pub fn check_address(host: &str, kind: NameKind, addr: IpAddr, policy: &NetworkPolicy) -> Result<(), String> {
    if kind == NameKind::Literal {
        return match host.parse::<IpAddr>() {
            Ok(literal) if literal == addr => Ok(()),
            _ => Err(format!("{host} resolved to a different address {addr}")),
        };
    }
    let addr = unmapped(addr);
    let refuse = |class: &str| Err(format!("{host} resolves to {addr}, {class}; refusing to connect"));
    if let Some(class) = never(addr) {
        return refuse(class);
    }
    if policy.allow_cidrs.iter().any(|c| c.contains(addr)) {
        return Ok(());
    }
    if addr.is_loopback() {
        return if kind == NameKind::Localhost { Ok(()) } else { refuse("a loopback address") };
    }
    match private(addr) {
        Some(_) if kind == NameKind::InCluster => Ok(()),
        Some(class) => refuse(class),
        None => Ok(()),
    }
}

/// Plugins' network: the policy, the resolver, and TLS configurations built from the policy's CA bundle.
pub struct Network {
    pub policy: NetworkPolicy,
    resolver: Resolver,
    verified: Arc<rustls::ClientConfig>,
    insecure: Arc<rustls::ClientConfig>,
}

/// Why a connection could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// The policy refused every address (or the name): the plugin asked for something it may not have.
    Denied(String),
    /// The name did not resolve.
    Name(String),
    Connect(io::Error),
    Tls(io::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Denied(m) | ConnectError::Name(m) => f.write_str(m),
            ConnectError::Connect(e) => write!(f, "connect: {e}"),
            ConnectError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

/// A plain or TLS connection.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

impl Network {
    pub fn new(policy: NetworkPolicy, resolver: Resolver) -> Result<Network, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for (i, cert) in policy.ca_bundle.iter().enumerate() {
            roots.add(cert.clone()).map_err(|e| format!("CA bundle certificate {}: {e}", i + 1))?;
        }
        let tls = |e: rustls::Error| format!("configuring TLS for plugins: {e}");
        let verified = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let insecure = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth();
        Ok(Network { policy, resolver, verified: Arc::new(verified), insecure: Arc::new(insecure) })
    }

    /// Resolves the origin's host and returns the first address the policy allows.
    pub async fn resolve(&self, origin: &Origin) -> Result<SocketAddr, ConnectError> {
        let host = origin.host.as_str();
        let (kind, addrs) = if let Ok(ip) = host.parse::<IpAddr>() {
            (NameKind::Literal, vec![SocketAddr::new(ip, origin.port)])
        } else if host == "localhost" {
            (NameKind::Localhost, self.lookup(host, origin.port).await?)
        } else if is_cluster_name(host, &self.policy.cluster_domain) {
            (NameKind::InCluster, self.lookup(host, origin.port).await?)
        } else if let Some(addrs) = self.service(host, origin.port).await {
            (NameKind::InCluster, addrs)
        } else {
            (NameKind::Public, self.lookup(host, origin.port).await?)
        };
        let mut refusals = Vec::new();
        for addr in addrs {
            match check_address(host, kind, addr.ip(), &self.policy) {
                Ok(()) => return Ok(addr),
                Err(why) => refusals.push(why),
            }
        }
        Err(match refusals.pop() {
            Some(why) => ConnectError::Denied(why),
            None => ConnectError::Name(format!("{host} resolves to no address")),
        })
    }

    /// `name.namespace` is a Service when the cluster's DNS knows it under `.svc`, as the pod's search path
    /// would find it; otherwise it is a public name.
    async fn service(&self, host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        if host.matches('.').count() != 1 {
            return None;
        }
        let service = format!("{host}.svc.{}", self.policy.cluster_domain);
        self.resolver.0.resolve(&service, port).await.ok().filter(|a| !a.is_empty())
    }

    async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
        self.resolver
            .0
            .resolve(host, port)
            .await
            .map_err(|e| ConnectError::Name(format!("cannot resolve {host}: {e}")))
    }

    /// Connects to the origin, with TLS for https (verified against the public roots and the CA bundle, or
    /// not at all when `insecure`).
    pub async fn connect(&self, origin: &Origin, insecure: bool) -> Result<Box<dyn Io>, ConnectError> {
        let addr = self.resolve(origin).await?;
        let tcp = TcpStream::connect(addr).await.map_err(ConnectError::Connect)?;
        if !origin.is_https() {
            return Ok(Box::new(tcp));
        }
        let config = if insecure { self.insecure.clone() } else { self.verified.clone() };
        let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
            .map_err(|_| ConnectError::Name(format!("invalid TLS server name {}", origin.host)))?;
        let tls =
            tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(ConnectError::Tls)?;
        Ok(Box::new(tls))
    }
}

/// Certificate verification switched off, for origins granted with `insecure` (Argo's `insecure: true`).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_contain() {
        let c = Cidr::parse("10.20.0.0/16").unwrap();
        assert!(c.contains("10.20.3.4".parse().unwrap()));
        assert!(!c.contains("10.21.0.1".parse().unwrap()));
        assert!(!c.contains("::ffff:10.20.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains("127.0.0.1".parse().unwrap()));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains("127.0.0.2".parse().unwrap()));
        for (bad, says) in [
            ("10.0.0.0/33", "prefix length must be 0 to 32"),
            ("10.0.0.1/8", "host bits set (did you mean 10.0.0.0/8?)"),
            ("ten/8", "not an IP network"),
            ("::/129", "0 to 128"),
        ] {
            let e = Cidr::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn cluster_names_are_single_labels_and_services() {
        for (host, yes) in [
            ("prometheus", true),
            ("prometheus.monitoring.svc", true),
            ("prometheus.monitoring.svc.cluster.local", true),
            ("prometheus.monitoring.svc.cluster.local.", true),
            ("prometheus.monitoring", false), // decided by asking the cluster's DNS
            ("svc.example.com", false),
            ("example.svc.evil.com", false),
            ("cluster.local", false),
        ] {
            assert_eq!(is_cluster_name(host, "cluster.local"), yes, "{host}");
        }
        assert!(is_cluster_name("p.m.svc.corp.internal", "corp.internal"));
    }

    /// Every class of address, for each way a name can be reached.
    #[test]
    fn addresses_are_judged_by_how_the_name_was_reached() {
        use NameKind::*;
        let open = NetworkPolicy::default();
        let allowing = NetworkPolicy {
            allow_cidrs: vec![Cidr::parse("10.20.0.0/16").unwrap(), Cidr::parse("127.0.0.0/8").unwrap()],
            ..Default::default()
        };
        // (host, kind, address, allowed by default, allowed with 10.20/16 and 127/8 allowed)
        let cases: &[(&str, NameKind, &str, bool, bool)] = &[
            ("metrics.example.com", Public, "93.184.216.34", true, true),
            ("metrics.example.com", Public, "2606:2800::1", true, true),
            ("metrics.example.com", Public, "10.0.0.1", false, false),
            ("metrics.example.com", Public, "10.20.0.5", false, true),
            ("metrics.example.com", Public, "172.16.0.1", false, false),
            ("metrics.example.com", Public, "172.32.0.1", true, true),
            ("metrics.example.com", Public, "192.168.1.1", false, false),
            ("metrics.example.com", Public, "100.64.0.1", false, false),
            ("metrics.example.com", Public, "100.127.255.254", false, false),
            ("metrics.example.com", Public, "100.128.0.1", true, true),
            ("metrics.example.com", Public, "fd12:3456::1", false, false),
            ("metrics.example.com", Public, "::ffff:10.0.0.1", false, false),
            ("metrics.example.com", Public, "64:ff9b::a00:1", false, false),
            ("metrics.example.com", Public, "127.0.0.1", false, true),
            ("metrics.example.com", Public, "::1", false, false),
            ("metrics.example.com", Public, "169.254.169.254", false, false),
            ("metrics.example.com", Public, "fd00:ec2::254", false, false),
            ("metrics.example.com", Public, "100.100.100.200", false, false),
            ("metrics.example.com", Public, "168.63.129.16", false, false),
            ("metrics.example.com", Public, "fe80::1", false, false),
            ("metrics.example.com", Public, "64:ff9b:1::a9fe:a9fe", false, false),
            ("metrics.example.com", Public, "0.0.0.0", false, false),
            ("metrics.example.com", Public, "224.0.0.1", false, false),
            ("metrics.example.com", Public, "255.255.255.255", false, false),
            ("prometheus.monitoring.svc", InCluster, "10.96.0.10", true, true),
            ("prometheus.monitoring.svc", InCluster, "fd00:10:96::a", true, true),
            ("prometheus.monitoring.svc", InCluster, "100.64.3.2", true, true),
            ("prometheus.monitoring.svc", InCluster, "127.0.0.1", false, true),
            ("prometheus.monitoring.svc", InCluster, "169.254.169.254", false, false),
            ("prometheus.monitoring.svc", InCluster, "100.100.100.200", false, false),
            ("prometheus.monitoring.svc", InCluster, "168.63.129.16", false, false),
            ("localhost", Localhost, "127.0.0.1", true, true),
            ("localhost", Localhost, "::1", true, true),
            ("localhost", Localhost, "10.0.0.1", false, false),
            ("10.0.0.1", Literal, "10.0.0.1", true, true),
            ("169.254.169.254", Literal, "169.254.169.254", true, true),
            ("10.0.0.1", Literal, "10.0.0.2", false, false),
        ];
        for (host, kind, addr, by_default, when_allowed) in cases {
            let addr: IpAddr = addr.parse().unwrap();
            for (policy, want) in [(&open, by_default), (&allowing, when_allowed)] {
                let got = check_address(host, *kind, addr, policy);
                assert_eq!(
                    got.is_ok(),
                    *want,
                    "{host} ({kind:?}) -> {addr} with {:?}: {got:?}",
                    policy.allow_cidrs
                );
            }
        }
        let why =
            check_address("metrics.example.com", Public, "10.0.0.1".parse().unwrap(), &open).unwrap_err();
        assert_eq!(why, "metrics.example.com resolves to 10.0.0.1, a private address; refusing to connect");
    }

    #[test]
    fn ca_bundles_must_hold_certificates() {
        assert!(parse_ca_bundle(b"", "pluginNetwork.caBundle").unwrap_err().contains("no PEM certificate"));
        assert!(parse_ca_bundle(b"hello", "pluginNetwork.caBundle").is_err());
    }
}

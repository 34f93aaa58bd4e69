//! Where plugins' connections may go: granted names that resolve into private or loopback space are refused
//! (DNS rebinding), in-cluster names and operator-allowed networks are not, and TLS origins can be trusted through
//! an operator's CA bundle. Names are resolved by an injected resolver, so no test sends a packet anywhere but to
//! a server on 127.0.0.1.

use super::helpers::{metric_call, serve};
use serin::plugin::grants::{HttpGrant, PrometheusGrant};
use serin::plugin::net::{Cidr, NetworkPolicy, Resolve, Resolver, parse_ca_bundle};
use serin::plugin::{CallError, CallOptions, MetricValue, Observation, Registry, Runtime, RuntimeConfig};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Answers from a table and records every name it was asked.
#[derive(Default)]
struct TableResolver {
    names: BTreeMap<String, Vec<IpAddr>>,
    asked: Mutex<Vec<String>>,
}

impl Resolve for TableResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.asked.lock().unwrap().push(host.to_string());
        let found = self.names.get(host).map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
        })
    }
}

fn registry_with(resolver: &Arc<TableResolver>, network: NetworkPolicy) -> Registry {
    let config = RuntimeConfig { network, resolver: Resolver(resolver.clone()), ..RuntimeConfig::default() };
    Registry::new(Runtime::new(config).expect("runtime"))
}

fn table(names: &[(&str, &str)]) -> Arc<TableResolver> {
    let mut t = TableResolver::default();
    for (name, ip) in names {
        t.names.entry(name.to_string()).or_default().push(ip.parse().unwrap());
    }
    Arc::new(t)
}

fn http_granted(url: &str, insecure: bool) -> CallOptions {
    let mut opts = CallOptions::default();
    opts.grants.http.push(HttpGrant::for_url(url, insecure).expect("grant"));
    opts
}

async fn web(registry: &Registry, opts: &CallOptions, url: &str) -> Result<Observation, CallError> {
    let config = serde_json::json!({"url": url, "jsonPath": "{.ok}"});
    registry.get("web").expect("web").metric_run(opts, &metric_call(config.to_string())).await
}

fn denied(out: Result<Observation, CallError>) -> String {
    match out {
        Err(CallError::Denied { what, .. }) => what,
        other => panic!("expected the call to be denied, got {other:?}"),
    }
}

fn value(out: Result<Observation, CallError>) -> MetricValue {
    match out {
        Ok(Observation::Judge { result, .. }) => result,
        other => panic!("expected a value, got {other:?}"),
    }
}

async fn ok_server() -> SocketAddr {
    let router = axum::Router::new()
        .route("/", axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }));
    serve(router).await.trim_start_matches("http://").parse().expect("server address")
}

#[tokio::test]
async fn granted_names_cannot_lead_into_private_or_loopback_space() {
    let server = ok_server().await;
    let port = server.port();
    let resolver = table(&[
        ("metrics.example.com", "10.0.0.1"),
        ("cgnat.example.com", "100.100.100.200"),
        ("sneaky.example.com", "127.0.0.1"),
        // `web.monitoring` is a Service: the cluster's DNS knows it under `.svc`.
        ("web.monitoring.svc.cluster.local", "127.0.0.1"),
    ]);
    let registry = registry_with(&resolver, NetworkPolicy::default());

    // A public name resolving into the cluster's address space is DNS rebinding: refused before any packet.
    let url = format!("http://metrics.example.com:{port}/");
    let why = denied(web(&registry, &http_granted(&url, false), &url).await);
    assert!(
        why.contains("metrics.example.com resolves to 10.0.0.1, a private address; refusing to connect"),
        "{why}"
    );
    let url = format!("http://cgnat.example.com:{port}/");
    let why = denied(web(&registry, &http_granted(&url, false), &url).await);
    assert!(why.contains("100.100.100.200, a cloud metadata address"), "{why}");
    let url = format!("http://sneaky.example.com:{port}/");
    let why = denied(web(&registry, &http_granted(&url, false), &url).await);
    assert!(why.contains("a loopback address"), "{why}");

    // The typed Prometheus import connects under the same rules.
    let address = format!("http://metrics.example.com:{port}");
    let mut opts = CallOptions::default();
    opts.grants.prometheus.push(PrometheusGrant::for_address(&address).expect("grant"));
    let config = serde_json::json!({"address": address, "query": "up"});
    let out = registry
        .get("prometheus")
        .expect("prometheus")
        .metric_run(&opts, &metric_call(config.to_string()))
        .await;
    assert!(denied(out).contains("10.0.0.1, a private address"));

    // An in-cluster name may resolve privately, but loopback stays refused ...
    let url = format!("http://web.monitoring:{port}/");
    let opts = http_granted(&url, false);
    let why = denied(web(&registry, &opts, &url).await);
    assert!(why.contains("web.monitoring resolves to 127.0.0.1, a loopback address"), "{why}");
    // ... until the operator allows the network (for calls that start from now on).
    let allowing =
        NetworkPolicy { allow_cidrs: vec![Cidr::parse("127.0.0.0/8").unwrap()], ..Default::default() };
    registry.runtime().set_network_policy(allowing).expect("policy");
    assert_eq!(value(web(&registry, &opts, &url).await), MetricValue::Bool(true));
    // Allowing a network does not open the metadata addresses.
    let url = format!("http://cgnat.example.com:{port}/");
    assert!(denied(web(&registry, &http_granted(&url, false), &url).await).contains("cloud metadata"));

    // Every name went through the injected resolver; `name.namespace` was tried as a Service first.
    let asked = resolver.asked.lock().unwrap().clone();
    assert!(asked.contains(&"web.monitoring.svc.cluster.local".to_string()), "{asked:?}");
    assert!(!asked.contains(&"metrics.example.com.svc.cluster.local".to_string()), "{asked:?}");
}

/// A test CA and a server certificate for `localhost` signed by it.
struct Pki {
    ca_pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "serin test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("server key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![cert.der().clone()],
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

/// An HTTPS server on 127.0.0.1 answering every request with `{"ok": true}`.
async fn tls_server(pki: &Pki) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"ok": true}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn tls_origins_are_trusted_through_the_operators_ca_bundle() {
    let pki = pki();
    let port = tls_server(&pki).await;
    let resolver = table(&[("localhost", "127.0.0.1")]);
    let registry = registry_with(&resolver, NetworkPolicy::default());
    let url = format!("https://localhost:{port}/");

    // Signed by a CA the host does not know: the certificate is refused (an Error measurement, as upstream).
    match web(&registry, &http_granted(&url, false), &url).await {
        Ok(Observation::Error(e)) => {
            assert!(e.contains("tls: invalid peer certificate: UnknownIssuer"), "{e}")
        }
        other => panic!("an unknown CA was trusted: {other:?}"),
    }
    // `insecure` skips verification for that origin only.
    assert_eq!(value(web(&registry, &http_granted(&url, true), &url).await), MetricValue::Bool(true));

    // With the CA in the operator's bundle, the origin verifies.
    let bundle = parse_ca_bundle(pki.ca_pem.as_bytes(), "caBundle").expect("bundle");
    registry
        .runtime()
        .set_network_policy(NetworkPolicy { ca_bundle: bundle, ..Default::default() })
        .expect("policy");
    assert_eq!(value(web(&registry, &http_granted(&url, false), &url).await), MetricValue::Bool(true));
}

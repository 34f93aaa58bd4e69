//! Capabilities granted to a plugin: outbound HTTP origins, Prometheus addresses, Kubernetes resources and verbs.
//! Deny by default: a plugin gets exactly what its registration (or, for a built-in, its configuration) names.

use std::fmt;
use std::net::IpAddr;

/// Everything a plugin may reach during a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub http: Vec<HttpGrant>,
    pub prometheus: Vec<PrometheusGrant>,
    pub kubernetes: Vec<KubernetesGrant>,
}

/// Outbound HTTP to one origin (scheme, host and port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    pub origin: Origin,
    /// Skip TLS certificate verification for this origin (Argo's `insecure: true`).
    pub insecure_tls: bool,
}

/// Typed PromQL queries to one Prometheus (origin plus path prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusGrant {
    pub origin: Origin,
    pub path_prefix: String,
    /// Queries may skip TLS certificate verification (Argo's `insecure: true`).
    pub insecure_tls: bool,
}

/// Kubernetes verbs on one resource type, in the namespaces named (none named: the namespace of the object
/// being served). A `*` resource covers every resource but Secrets, which only a grant naming `secrets` reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubernetesGrant {
    pub group: String,
    pub resource: String,
    pub verbs: Vec<Verb>,
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Create,
    Update,
    Patch,
    Delete,
}

impl Verb {
    pub fn parse(s: &str) -> Result<Verb, String> {
        Ok(match s {
            "get" => Verb::Get,
            "list" => Verb::List,
            "create" => Verb::Create,
            "update" => Verb::Update,
            "patch" => Verb::Patch,
            "delete" => Verb::Delete,
            other => {
                return Err(format!("unknown verb {other:?} (use get, list, create, update, patch, delete)"));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// `scheme://host:port`, lower-cased, with the default port made explicit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

impl Origin {
    /// Parses an absolute http(s) URL the way HTTP clients do (WHATWG rules, via the `url` crate), so the
    /// origin checked is the origin a request goes to; returns the normalised path (dot segments resolved) too.
    pub fn parse_url(url: &str) -> Result<(Origin, String), String> {
        if url.contains('\\') {
            return Err(format!("{url:?}: backslashes are not allowed in URLs"));
        }
        let parsed =
            url::Url::parse(url).map_err(|e| format!("{url:?} is not an absolute http(s) URL: {e}"))?;
        let scheme = parsed.scheme().to_string();
        if scheme != "http" && scheme != "https" {
            return Err(format!("{url:?}: unsupported scheme {scheme:?} (use http or https)"));
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(format!("{url:?} has no host")),
        };
        let port = parsed.port_or_known_default().ok_or_else(|| format!("{url:?} has no port"))?;
        Ok((Origin { scheme, host, port }, parsed.path().to_string()))
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }
}

impl HttpGrant {
    /// A grant for the origin of `url` (any path on it).
    pub fn for_url(url: &str, insecure_tls: bool) -> Result<HttpGrant, String> {
        Ok(HttpGrant { origin: Origin::parse_url(url)?.0, insecure_tls })
    }
}

impl PrometheusGrant {
    /// A grant for a Prometheus base address such as `http://prometheus:9090` or `https://host/prom`.
    pub fn for_address(address: &str) -> Result<PrometheusGrant, String> {
        let (origin, path) = Origin::parse_url(address)?;
        Ok(PrometheusGrant {
            origin,
            path_prefix: path.trim_end_matches('/').to_string(),
            insecure_tls: false,
        })
    }

    /// The same grant, allowing queries without TLS certificate verification.
    pub fn insecure(mut self, insecure: bool) -> PrometheusGrant {
        self.insecure_tls = insecure;
        self
    }

    fn covers(&self, origin: &Origin, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        self.origin == *origin
            && (self.path_prefix.is_empty()
                || path == self.path_prefix
                || path.strip_prefix(&self.path_prefix).is_some_and(|rest| rest.starts_with('/')))
    }
}

impl Grants {
    /// The grant covering an outbound request to `origin`, if any.
    pub fn http_grant(&self, origin: &Origin) -> Option<&HttpGrant> {
        self.http.iter().find(|g| g.origin == *origin)
    }

    /// Whether a query to the Prometheus at `address` is granted, with TLS verification off if `insecure`.
    pub fn prometheus_allowed(&self, address: &str, insecure: bool) -> Result<(), String> {
        let (origin, path) = Origin::parse_url(address)?;
        let grants: Vec<&PrometheusGrant> =
            self.prometheus.iter().filter(|g| g.covers(&origin, &path)).collect();
        if grants.is_empty() {
            return Err(format!("Prometheus at {address} is not granted"));
        }
        if insecure && !grants.iter().any(|g| g.insecure_tls) {
            return Err(format!("Prometheus at {address} is granted with TLS verification only"));
        }
        Ok(())
    }

    /// The grants covering `verb` on `group/resource` in some namespace; an error when there are none.
    pub fn kubernetes_matching(
        &self,
        group: &str,
        resource: &str,
        verb: Verb,
    ) -> Result<Vec<&KubernetesGrant>, String> {
        let secret = group.is_empty() && resource == "secrets";
        let matching: Vec<&KubernetesGrant> = self
            .kubernetes
            .iter()
            .filter(|g| {
                (g.group == group || g.group == "*")
                    && (g.resource == resource || (g.resource == "*" && !secret))
                    && g.verbs.contains(&verb)
            })
            .collect();
        if matching.is_empty() {
            let what = if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") };
            return Err(format!("Kubernetes {} on {what} is not granted", verb.as_str()));
        }
        Ok(matching)
    }

    /// Whether `verb` on `group/resource` in `namespace` is granted, for a call made while serving an object in
    /// `served`.
    pub fn kubernetes_allowed(
        &self,
        group: &str,
        resource: &str,
        verb: Verb,
        namespace: &str,
        served: &str,
    ) -> Result<(), String> {
        let matching = self.kubernetes_matching(group, resource, verb)?;
        let what = if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") };
        let in_reach = |g: &&KubernetesGrant| {
            if g.namespaces.is_empty() {
                !served.is_empty() && namespace == served
            } else {
                g.namespaces.iter().any(|n| n == namespace)
            }
        };
        if matching.iter().any(in_reach) {
            Ok(())
        } else {
            Err(format!("Kubernetes {} on {what} in namespace {namespace:?} is not granted", verb.as_str()))
        }
    }

    /// Adds the grants of `other` (deduplicated).
    pub fn extend(&mut self, other: &Grants) {
        for g in &other.http {
            if !self.http.contains(g) {
                self.http.push(g.clone());
            }
        }
        for g in &other.prometheus {
            if !self.prometheus.contains(g) {
                self.prometheus.push(g.clone());
            }
        }
        for g in &other.kubernetes {
            if !self.kubernetes.contains(g) {
                self.kubernetes.push(g.clone());
            }
        }
    }
}

/// Whether a connection to `addr` is allowed for a request to `host` (a name or an IP literal that was granted).
///
/// An IP literal was granted as such. A name must not resolve to an address the operator did not mean to expose
/// through it: link-local (cloud metadata services), unspecified, multicast or broadcast addresses, or loopback
/// unless the name is `localhost`. This closes DNS-rebinding tricks against a granted name.
pub fn check_resolved_address(host: &str, addr: IpAddr) -> Result<(), String> {
    if let Ok(literal) = host.parse::<IpAddr>() {
        return if literal == addr {
            Ok(())
        } else {
            Err(format!("{host} resolved to a different address {addr}"))
        };
    }
    // An IPv4 address inside IPv6 (mapped, or NAT64's 64:ff9b::/96) is judged as the IPv4 address it reaches.
    let addr = match addr {
        IpAddr::V6(v6) if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => {
            let o = v6.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let class = match addr {
        IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local address"),
        // NAT64's local-use prefix (RFC 8215) can embed any IPv4 address, wherever the operator placed it.
        IpAddr::V6(v6) if v6.segments()[..3] == [0x64, 0xff9b, 1] => Some("a NAT64 local-use address"),
        // Amazon's instance metadata service on IPv6 (its IPv4 one is link-local).
        IpAddr::V6(v6) if v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => {
            Some("a cloud metadata address")
        }
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some("a link-local address"),
        a if a.is_unspecified() => Some("the unspecified address"),
        a if a.is_multicast() => Some("a multicast address"),
        a if a.is_loopback() && host != "localhost" => Some("a loopback address"),
        _ => None,
    };
    match class {
        Some(class) => Err(format!("{host} resolves to {addr}, {class}; refusing to connect")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalise_default_ports_and_case() {
        let (o, path) = Origin::parse_url("HTTPS://Example.COM/a/b?x=1").unwrap();
        assert_eq!(o.to_string(), "https://example.com:443");
        assert_eq!(path, "/a/b");
        assert_eq!(Origin::parse_url("http://127.0.0.1:9090").unwrap().0.port, 9090);
        assert_eq!(Origin::parse_url("http://[::1]:8080/x").unwrap().0.to_string(), "http://[::1]:8080");
        assert!(Origin::parse_url("ftp://x").unwrap_err().contains("unsupported scheme"));
        assert!(Origin::parse_url("no-scheme").is_err());
    }

    #[test]
    fn prometheus_grants_match_origin_and_path_prefix() {
        let grants = Grants {
            prometheus: vec![PrometheusGrant::for_address("http://prom:9090/prom/").unwrap()],
            ..Default::default()
        };
        assert!(grants.prometheus_allowed("http://prom:9090/prom", false).is_ok());
        assert!(grants.prometheus_allowed("http://prom:9090/prom/api", false).is_ok());
        assert!(grants.prometheus_allowed("http://prom:9090/prometheus", false).is_err());
        assert!(grants.prometheus_allowed("http://prom:9091/prom", false).is_err());
        // What an HTTP client would actually reach decides, not how a string looks.
        assert!(grants.prometheus_allowed("http://evil.example\\@prom:9090/prom", false).is_err());
        assert!(grants.prometheus_allowed("http://prom:9090/prom/../admin", false).is_err());
        assert!(grants.prometheus_allowed("http://prom:9090/prom/%2e%2e/admin", false).is_err());
        assert!(grants.prometheus_allowed("http://user@evil.example/prom", false).is_err());
        assert_eq!(
            grants.prometheus_allowed("http://prom:9090/prom", true).unwrap_err(),
            "Prometheus at http://prom:9090/prom is granted with TLS verification only"
        );
    }

    #[test]
    fn kubernetes_grants_need_group_resource_and_verb() {
        let grants = Grants {
            kubernetes: vec![KubernetesGrant {
                group: "batch".into(),
                resource: "jobs".into(),
                verbs: vec![Verb::Get, Verb::Create],
                namespaces: vec![],
            }],
            ..Default::default()
        };
        assert!(grants.kubernetes_allowed("batch", "jobs", Verb::Create, "app", "app").is_ok());
        assert_eq!(
            grants.kubernetes_allowed("batch", "jobs", Verb::Delete, "app", "app").unwrap_err(),
            "Kubernetes delete on jobs.batch is not granted"
        );
        assert!(grants.kubernetes_allowed("", "secrets", Verb::Get, "app", "app").is_err());
    }

    #[test]
    fn kubernetes_grants_reach_the_served_namespace_or_the_ones_they_name() {
        let grant = |resource: &str, namespaces: &[&str]| KubernetesGrant {
            group: if resource == "*" { "*".into() } else { String::new() },
            resource: resource.into(),
            verbs: vec![Verb::Get],
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        };
        // (grant, resource asked for, namespace asked for, namespace served, allowed)
        let cases: &[(KubernetesGrant, &str, &str, &str, bool)] = &[
            (grant("configmaps", &[]), "configmaps", "app", "app", true),
            (grant("configmaps", &[]), "configmaps", "other", "app", false),
            (grant("configmaps", &[]), "configmaps", "app", "", false),
            (grant("configmaps", &["istio-system"]), "configmaps", "istio-system", "app", true),
            (grant("configmaps", &["istio-system"]), "configmaps", "app", "app", false),
            (grant("*", &[]), "configmaps", "app", "app", true),
            (grant("*", &[]), "secrets", "app", "app", false),
            (grant("*", &["app"]), "secrets", "app", "app", false),
            (grant("secrets", &[]), "secrets", "app", "app", true),
        ];
        for (g, resource, ns, served, allowed) in cases {
            let grants = Grants { kubernetes: vec![g.clone()], ..Default::default() };
            let out = grants.kubernetes_allowed("", resource, Verb::Get, ns, served);
            assert_eq!(out.is_ok(), *allowed, "{g:?} {resource} in {ns:?} serving {served:?}: {out:?}");
        }
    }

    #[test]
    fn resolved_addresses_are_checked_against_the_granted_name() {
        let cases: &[(&str, &str, bool)] = &[
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("metrics.example.com", "10.1.2.3", true),
            ("metrics.example.com", "169.254.169.254", false),
            ("metrics.example.com", "127.0.0.1", false),
            ("metrics.example.com", "::ffff:169.254.169.254", false),
            ("metrics.example.com", "fe80::1", false),
            ("metrics.example.com", "fd00:ec2::254", false),
            ("metrics.example.com", "64:ff9b::a9fe:a9fe", false),
            ("metrics.example.com", "64:ff9b::a01:203", true),
            ("metrics.example.com", "64:ff9b:1::a9fe:a9fe", false),
            ("metrics.example.com", "2001:db8::1", true),
            ("metrics.example.com", "0.0.0.0", false),
            ("localhost", "127.0.0.1", true),
            ("localhost", "::1", true),
        ];
        for (host, addr, ok) in cases {
            let result = check_resolved_address(host, addr.parse().unwrap());
            assert_eq!(result.is_ok(), *ok, "{host} -> {addr}: {result:?}");
        }
    }
}

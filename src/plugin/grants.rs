//! Capabilities granted to a plugin: outbound HTTP origins, Prometheus addresses, Kubernetes resources and verbs.
//! Deny by default: a plugin gets exactly what its registration (or, for a built-in, its configuration) names.

use std::fmt;

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

    /// The `Host` header for this origin: the port only when it is not the scheme's default, IPv6 in brackets.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.is_https() { 443 } else { 80 };
        if self.port == default_port { host } else { format!("{host}:{}", self.port) }
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

    /// Each grant of `self` that `cap` does not cover, described (empty: all covered). Used to hold drop-in
    /// registrations to what the operator allows drop-ins.
    pub fn beyond(&self, cap: &Grants) -> Vec<String> {
        let mut out = Vec::new();
        for g in &self.http {
            let covered =
                cap.http.iter().any(|c| c.origin == g.origin && (c.insecure_tls || !g.insecure_tls));
            if !covered {
                let how = if g.insecure_tls { " without TLS verification" } else { "" };
                out.push(format!("http {}{how}", g.origin));
            }
        }
        for g in &self.prometheus {
            let covered = cap.prometheus.iter().any(|c| {
                c.covers(&g.origin, if g.path_prefix.is_empty() { "/" } else { &g.path_prefix })
                    && (c.insecure_tls || !g.insecure_tls)
            });
            if !covered {
                let how = if g.insecure_tls { " without TLS verification" } else { "" };
                out.push(format!("prometheus {}{}{how}", g.origin, g.path_prefix));
            }
        }
        for g in &self.kubernetes {
            let what =
                if g.group.is_empty() { g.resource.clone() } else { format!("{}.{}", g.resource, g.group) };
            for verb in &g.verbs {
                let covered = cap.kubernetes.iter().any(|c| {
                    (c.group == g.group || c.group == "*")
                        && (c.resource == g.resource
                            || (c.resource == "*" && !(g.group.is_empty() && g.resource == "secrets")))
                        && c.verbs.contains(verb)
                        && if g.namespaces.is_empty() {
                            c.namespaces.is_empty()
                        } else {
                            g.namespaces.iter().all(|n| c.namespaces.contains(n))
                        }
                });
                if !covered {
                    let place = if g.namespaces.is_empty() {
                        "in the served namespace".to_string()
                    } else {
                        format!("in {}", g.namespaces.join(", "))
                    };
                    out.push(format!("kubernetes {} on {what} {place}", verb.as_str()));
                }
            }
        }
        out
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
    fn drop_in_grants_are_held_to_the_cap() {
        let k = |resource: &str, verbs: &[Verb], namespaces: &[&str]| KubernetesGrant {
            group: String::new(),
            resource: resource.into(),
            verbs: verbs.to_vec(),
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        };
        let cap = Grants {
            http: vec![HttpGrant::for_url("https://api.example.com", false).unwrap()],
            prometheus: vec![PrometheusGrant::for_address("http://prom:9090/prom").unwrap()],
            kubernetes: vec![
                k("configmaps", &[Verb::Get, Verb::List], &[]),
                k("*", &[Verb::Get], &["istio-system"]),
            ],
        };
        let asks = |g: Grants| g.beyond(&cap);
        let http = |url: &str, insecure: bool| Grants {
            http: vec![HttpGrant::for_url(url, insecure).unwrap()],
            ..Default::default()
        };
        let prom = |address: &str| Grants {
            prometheus: vec![PrometheusGrant::for_address(address).unwrap()],
            ..Default::default()
        };
        let kube = |g: KubernetesGrant| Grants { kubernetes: vec![g], ..Default::default() };
        assert!(asks(Grants::default()).is_empty());
        assert!(asks(http("https://api.example.com/v1", false)).is_empty());
        assert_eq!(
            asks(http("https://api.example.com", true)),
            ["http https://api.example.com:443 without TLS verification"]
        );
        assert_eq!(asks(http("https://other.example.com", false)), ["http https://other.example.com:443"]);
        assert!(asks(prom("http://prom:9090/prom/tenant")).is_empty());
        assert_eq!(asks(prom("http://prom:9090")), ["prometheus http://prom:9090"]);
        assert!(asks(kube(k("configmaps", &[Verb::List], &[]))).is_empty());
        assert_eq!(
            asks(kube(k("configmaps", &[Verb::Get, Verb::Delete], &[]))),
            ["kubernetes delete on configmaps in the served namespace"]
        );
        assert_eq!(
            asks(kube(k("configmaps", &[Verb::Get], &["default"]))),
            ["kubernetes get on configmaps in default"]
        );
        assert!(asks(kube(k("services", &[Verb::Get], &["istio-system"]))).is_empty());
        assert_eq!(
            asks(kube(k("secrets", &[Verb::Get], &["istio-system"]))),
            ["kubernetes get on secrets in istio-system"]
        );
    }
}

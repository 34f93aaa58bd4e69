//! The built-in plugins embedded in the `serin` binary (built from `plugins/` by build.rs). Argo's in-tree
//! provider names map to them.

use super::component::PluginKind;

/// A built-in plugin's component bytes and kind.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: PluginKind,
    pub bytes: &'static [u8],
    pub description: &'static str,
}

/// Every built-in plugin.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "expr",
        kind: PluginKind::ConditionEvaluator,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/expr.wasm")),
        description: "Argo Rollouts' successCondition / failureCondition (expr-lang)",
    },
    Builtin {
        name: "web",
        kind: PluginKind::MetricProvider,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/web.wasm")),
        description: "Argo Rollouts' Web provider: HTTP + JSONPath",
    },
    Builtin {
        name: "prometheus",
        kind: PluginKind::MetricProvider,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/prometheus.wasm")),
        description: "Argo Rollouts' Prometheus provider: instant and range PromQL queries",
    },
    Builtin {
        name: "job",
        kind: PluginKind::MetricProvider,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/job.wasm")),
        description: "Argo Rollouts' Job provider: a batch/v1 Job per measurement, its outcome decides",
    },
    Builtin {
        name: "istio",
        kind: PluginKind::TrafficRouter,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/istio.wasm")),
        description: "Argo Rollouts' Istio router: VirtualService weights, DestinationRule subsets, header and mirror routes",
    },
    Builtin {
        name: "smi",
        kind: PluginKind::TrafficRouter,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/smi.wasm")),
        description: "Argo Rollouts' SMI router: a TrafficSplit owned by the Rollout (v1alpha1 to v1alpha3)",
    },
    Builtin {
        name: "nginx",
        kind: PluginKind::TrafficRouter,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/nginx.wasm")),
        description: "Argo Rollouts' NGINX router: a canary Ingress per stable Ingress, weights and header routes",
    },
    Builtin {
        name: GATEWAY_API,
        kind: PluginKind::TrafficRouter,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/gateway-api.wasm")),
        description: "Gateway API router (the argoproj-labs plugin's name and configuration): HTTPRoute and GRPCRoute weights, header rules, request mirroring",
    },
    Builtin {
        name: "traefik",
        kind: PluginKind::TrafficRouter,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/traefik.wasm")),
        description: "Argo Rollouts' Traefik router: weights of a weighted TraefikService, mirrors of a mirroring one",
    },
    Builtin {
        name: "apisix",
        kind: PluginKind::TrafficRouter,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/apisix.wasm")),
        description: "Argo Rollouts' APISIX router: ApisixRoute backend weights and header routes",
    },
    Builtin {
        name: "webhook",
        kind: PluginKind::StepPlugin,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/webhook.wasm")),
        description: "A canary step that asks a URL whether to proceed, wait or fail (Flagger-style webhooks)",
    },
];

/// The name the Gateway API router answers to: the argoproj-labs plugin's, so that its users' Rollouts work
/// unchanged.
pub const GATEWAY_API: &str = "argoproj-labs/gatewayAPI";

/// The built-in plugin with this name.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// What a built-in step plugin may reach, from its step's configuration: the `webhook` step the origin of its
/// `url` (without TLS verification when `insecure`). Nothing for another name or an unreadable URL, whose
/// calls are then denied.
pub fn step_grants(name: &str, config: &serde_json::Value) -> super::grants::Grants {
    let mut grants = super::grants::Grants::default();
    if name == "webhook"
        && let Some(url) = config.get("url").and_then(|u| u.as_str())
    {
        let insecure = config.get("insecure").and_then(|i| i.as_bool()).unwrap_or(false);
        grants.http.extend(super::grants::HttpGrant::for_url(url, insecure).ok());
    }
    grants
}

/// What a built-in traffic router may touch, from its configuration: the resources it edits, in the namespaces
/// its configuration names (a bare name is in the Rollout's `namespace`). Nothing for a name that is no built-in
/// router, or a configuration that names nothing.
pub fn router_grants(name: &str, config: &serde_json::Value, namespace: &str) -> super::grants::Grants {
    use super::grants::{Grants, KubernetesGrant, Verb};
    let in_namespace = |n: &str| match n.split_once('/') {
        Some((ns, _)) if !ns.is_empty() => ns.to_string(),
        _ => namespace.to_string(),
    };
    let grant = |group: &str, resource: &str, verbs: &[Verb], namespaces: Vec<String>| {
        let mut namespaces = namespaces;
        namespaces.sort();
        namespaces.dedup();
        KubernetesGrant { group: group.into(), resource: resource.into(), verbs: verbs.to_vec(), namespaces }
    };
    let names = |v: &serde_json::Value| v.get("name").and_then(|n| n.as_str()).map(str::to_string);
    let mut grants = Grants::default();
    if name == "istio" {
        let services: Vec<String> = config
            .get("virtualService")
            .into_iter()
            .chain(config.get("virtualServices").and_then(|v| v.as_array()).into_iter().flatten())
            .filter_map(names)
            .collect();
        if !services.is_empty() {
            let ns = services.iter().map(|n| in_namespace(n)).collect();
            grants.kubernetes.push(grant(
                "networking.istio.io",
                "virtualservices",
                &[Verb::Get, Verb::Update],
                ns,
            ));
        }
        if config.get("destinationRule").and_then(names).is_some() {
            let ns = vec![namespace.to_string()];
            grants.kubernetes.push(grant(
                "networking.istio.io",
                "destinationrules",
                &[Verb::Get, Verb::Update],
                ns,
            ));
        }
    }
    if name == GATEWAY_API {
        let ns =
            config.get("namespace").and_then(|n| n.as_str()).filter(|n| !n.is_empty()).unwrap_or(namespace);
        for resource in ["httproutes", "grpcroutes"] {
            let verbs = [Verb::Get, Verb::Update];
            grants.kubernetes.push(grant(
                "gateway.networking.k8s.io",
                resource,
                &verbs,
                vec![ns.to_string()],
            ));
        }
    }
    if name == "traefik" {
        let verbs = [Verb::Get, Verb::Update];
        grants.kubernetes.push(grant("traefik.io", "traefikservices", &verbs, vec![namespace.to_string()]));
    }
    if name == "apisix" {
        let verbs = [Verb::Get, Verb::Create, Verb::Update, Verb::Delete];
        grants.kubernetes.push(grant(
            "apisix.apache.org",
            "apisixroutes",
            &verbs,
            vec![namespace.to_string()],
        ));
    }
    if name == "nginx" {
        let verbs = [Verb::Get, Verb::Create, Verb::Patch];
        grants.kubernetes.push(grant("networking.k8s.io", "ingresses", &verbs, vec![namespace.to_string()]));
    }
    if name == "smi" {
        let verbs = [Verb::Get, Verb::List, Verb::Create, Verb::Patch];
        grants.kubernetes.push(grant(
            "split.smi-spec.io",
            "trafficsplits",
            &verbs,
            vec![namespace.to_string()],
        ));
    }
    grants
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (router, configuration, expected grants as "group/resource verbs @ namespaces").
    #[test]
    fn routers_are_granted_only_what_their_configuration_names() {
        let cases: &[(&str, serde_json::Value, &[&str])] = &[
            (
                "istio",
                json!({"virtualServices": [{"name": "vs"}, {"name": "mesh/vs2"}], "destinationRule": {"name": "dr"}}),
                &[
                    "networking.istio.io/virtualservices get,update @ app,mesh",
                    "networking.istio.io/destinationrules get,update @ app",
                ],
            ),
            ("istio", json!({}), &[]),
            (
                GATEWAY_API,
                json!({"httpRoute": "r", "namespace": "gateways"}),
                &[
                    "gateway.networking.k8s.io/httproutes get,update @ gateways",
                    "gateway.networking.k8s.io/grpcroutes get,update @ gateways",
                ],
            ),
            ("nginx", json!({"stableIngress": "i"}), &["networking.k8s.io/ingresses get,create,patch @ app"]),
            ("smi", json!({}), &["split.smi-spec.io/trafficsplits get,list,create,patch @ app"]),
            ("traefik", json!({}), &["traefik.io/traefikservices get,update @ app"]),
            ("apisix", json!({}), &["apisix.apache.org/apisixroutes get,create,update,delete @ app"]),
            ("acme/other", json!({"namespace": "x"}), &[]),
        ];
        for (name, config, want) in cases {
            let got: Vec<String> = router_grants(name, config, "app")
                .kubernetes
                .iter()
                .map(|g| {
                    let verbs: Vec<&str> = g.verbs.iter().map(|v| v.as_str()).collect();
                    format!("{}/{} {} @ {}", g.group, g.resource, verbs.join(","), g.namespaces.join(","))
                })
                .collect();
            assert_eq!(got, *want, "{name} {config}");
        }
    }

    #[test]
    fn the_webhook_step_is_granted_its_urls_origin_only() {
        let origins = |config: serde_json::Value| -> Vec<(String, bool)> {
            step_grants("webhook", &config)
                .http
                .iter()
                .map(|g| (g.origin.to_string(), g.insecure_tls))
                .collect()
        };
        assert_eq!(
            origins(json!({"url": "http://127.0.0.1:8080/gate?x=1"})),
            [("http://127.0.0.1:8080".into(), false)]
        );
        assert_eq!(
            origins(json!({"url": "https://hooks.example/a", "insecure": true})),
            [("https://hooks.example:443".into(), true)]
        );
        assert!(origins(json!({"url": "not a url"})).is_empty());
        assert!(origins(json!({})).is_empty());
        assert!(step_grants("acme/other", &json!({"url": "http://127.0.0.1:1"})).http.is_empty());
    }
}

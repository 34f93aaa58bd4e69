//! The install manifests: `manifests/install.yaml` (cluster-wide, as upstream's `install.yaml`) and
//! `manifests/namespace-install.yaml` (one namespace, `--namespaced`, as upstream's), generated from one
//! description so that the two, the Helm chart's CRDs and the controller's permissions cannot drift apart.
//! `serin manifests --out-dir manifests` writes them; a test fails when the checked-in files differ.

use serde_json::{Value, json};

/// The command that regenerates the checked-in files.
pub const REGENERATE_COMMAND: &str = "cargo run -- manifests --out-dir manifests";

/// Names shared by the manifests and the Helm chart (whose default release name, `serin`, gives the same).
pub const NAME: &str = "serin";
pub const NAMESPACE: &str = "serin";
pub const CONFIG_MAP: &str = "serin-config";
pub const METRICS_SERVICE: &str = "serin-metrics";
pub const HEALTHZ_PORT: u16 = 8080;
pub const METRICS_PORT: u16 = crate::controller::metrics::DEFAULT_METRICS_PORT;
/// The user the image runs as (distroless' `nonroot`).
pub const RUN_AS: i64 = 65532;

/// The controller's image.
pub fn image() -> String {
    format!("ghcr.io/serin-dev/serin:{}", env!("CARGO_PKG_VERSION"))
}

/// Which install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace: a ClusterRole, in the `serin` namespace.
    Cluster,
    /// The namespace it is applied to (`kubectl apply -n NS`): a Role, `--namespaced`.
    Namespaced,
}

/// One RBAC rule: API group, resources, verbs.
pub type Rule = (&'static str, &'static [&'static str], &'static [&'static str]);

/// What the controller does to the objects it reconciles, wherever they are (each verb is used; see
/// `docs/operations.md` for where). Plugins granted `kubernetes` access act with the controller's identity
/// and need these extended for what they are granted.
pub const WORKLOAD_RULES: &[Rule] = &[
    ("argoproj.io", &["rollouts"], &["list", "watch", "update", "patch"]),
    ("argoproj.io", &["rollouts/status"], &["update", "patch"]),
    // Owner references with blockOwnerDeletion, on clusters that enforce owner-reference permissions.
    (
        "argoproj.io",
        &["rollouts/finalizers", "analysisruns/finalizers", "experiments/finalizers"],
        &["update"],
    ),
    ("argoproj.io", &["analysisruns", "experiments"], &["get", "list", "watch", "create", "patch", "delete"]),
    ("argoproj.io", &["analysistemplates"], &["get"]),
    ("apps", &["replicasets"], &["get", "list", "watch", "create", "update", "patch", "delete"]),
    ("apps", &["deployments"], &["get", "list", "watch", "update"]),
    ("", &["services"], &["get", "list", "watch", "create", "patch", "delete"]),
    ("", &["pods"], &["list", "update"]),
    ("", &["pods/eviction"], &["create"]),
    ("", &["podtemplates"], &["get", "list", "watch", "create"]),
    ("", &["secrets"], &["get"]),
    ("", &["events"], &["create", "patch"]),
    // What the built-in plugins are granted and use: the job provider and the traffic routers.
    ("batch", &["jobs"], &["get", "list", "create", "delete"]),
    ("networking.k8s.io", &["ingresses"], &["get", "create", "patch"]),
    ("networking.istio.io", &["virtualservices", "destinationrules"], &["get", "update"]),
    ("split.smi-spec.io", &["trafficsplits"], &["get", "list", "create", "patch"]),
    ("gateway.networking.k8s.io", &["httproutes", "grpcroutes"], &["get", "update"]),
    ("traefik.io", &["traefikservices"], &["get", "update"]),
    ("apisix.apache.org", &["apisixroutes"], &["get", "create", "update", "delete"]),
];

/// Cluster-scoped reads of a cluster-wide install.
pub const CLUSTER_RULES: &[Rule] = &[("argoproj.io", &["clusteranalysistemplates"], &["get"])];

/// What the controller does in its own namespace: plugin registrations and leader election.
pub const OWN_NAMESPACE_RULES: &[Rule] = &[
    ("", &["configmaps"], &["get", "list", "watch"]),
    ("coordination.k8s.io", &["leases"], &["get", "create", "patch"]),
];

fn rules(rules: &[&[Rule]]) -> Value {
    Value::Array(
        rules
            .iter()
            .flat_map(|r| r.iter())
            .map(|(group, resources, verbs)| json!({"apiGroups": [group], "resources": resources, "verbs": verbs}))
            .collect(),
    )
}

fn labels(component: Option<&str>) -> Value {
    let mut labels = json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/part-of": NAME,
    });
    if let Some(c) = component {
        labels["app.kubernetes.io/component"] = json!(c);
    }
    labels
}

fn meta(name: &str, namespace: Option<&str>, component: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": labels(component)});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// The objects of an install, in the order `kubectl apply` should see them (CRDs not included).
pub fn objects(scope: Scope) -> Vec<Value> {
    // A cluster-wide install names its namespace; a namespaced one is applied with `-n` (a RoleBinding's
    // ServiceAccount subject without a namespace means the binding's own).
    let ns = match scope {
        Scope::Cluster => Some(NAMESPACE),
        Scope::Namespaced => None,
    };
    let mut out = Vec::new();
    if scope == Scope::Cluster {
        out.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(NAMESPACE, None, None)}));
    }
    out.push(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(NAME, ns, Some("controller"))}),
    );
    let subject = |namespace: Option<&str>| {
        let mut s = json!({"kind": "ServiceAccount", "name": NAME});
        if let Some(n) = namespace {
            s["namespace"] = json!(n);
        }
        s
    };
    match scope {
        Scope::Cluster => {
            out.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": meta(NAME, None, Some("controller")),
                "rules": rules(&[WORKLOAD_RULES, CLUSTER_RULES]),
            }));
            out.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": meta(NAME, None, Some("controller")),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
                "subjects": [subject(ns)],
            }));
            out.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": meta(NAME, ns, Some("controller")),
                "rules": rules(&[OWN_NAMESPACE_RULES]),
            }));
        }
        Scope::Namespaced => {
            out.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": meta(NAME, ns, Some("controller")),
                "rules": rules(&[WORKLOAD_RULES, OWN_NAMESPACE_RULES]),
            }));
        }
    }
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": meta(NAME, ns, Some("controller")),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
        "subjects": [subject(ns)],
    }));
    out.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(CONFIG_MAP, ns, Some("controller"))}));
    out.push(deployment(scope, ns));
    out.push(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta(METRICS_SERVICE, ns, Some("controller")),
        "spec": {
            "selector": {"app.kubernetes.io/name": NAME},
            "ports": [{"name": "metrics", "port": METRICS_PORT, "protocol": "TCP", "targetPort": "metrics"}],
        },
    }));
    out
}

fn field_env(name: &str, path: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
}

fn deployment(scope: Scope, ns: Option<&str>) -> Value {
    let mut args = vec![
        "controller".to_string(),
        format!("--healthzPort={HEALTHZ_PORT}"),
        format!("--metricsPort={METRICS_PORT}"),
    ];
    if scope == Scope::Namespaced {
        args.push("--namespaced".into());
    }
    let probe = |path: &str, period: u32| json!({"httpGet": {"path": path, "port": "healthz"}, "periodSeconds": period, "timeoutSeconds": 5});
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta(NAME, ns, Some("controller")),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": labels(Some("controller"))},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {
                        "runAsNonRoot": true, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    // The two replicas on two nodes, where there are two.
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }]}},
                    "containers": [{
                        "name": NAME,
                        "image": image(),
                        "imagePullPolicy": "IfNotPresent",
                        "args": args,
                        "env": [
                            field_env("SERIN_NAMESPACE", "metadata.namespace"),
                            field_env("POD_NAMESPACE", "metadata.namespace"),
                            field_env("POD_NAME", "metadata.name"),
                            {"name": "SERIN_CACHE_DIR", "value": "/cache"},
                        ],
                        "ports": [
                            {"name": "healthz", "containerPort": HEALTHZ_PORT, "protocol": "TCP"},
                            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                        ],
                        "livenessProbe": probe("/healthz", 20),
                        "readinessProbe": probe("/readyz", 5),
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"memory": "512Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                    }],
                    "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            },
        },
    })
}

fn yaml(value: &Value) -> Result<String, String> {
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(value, options).map_err(|e| e.to_string())
}

/// An install manifest: the CRDs, then [`objects`], as one YAML stream.
pub fn render(scope: Scope) -> Result<String, String> {
    let mut out = format!("# Generated by `{REGENERATE_COMMAND}`. Do not edit.\n");
    out.push_str(match scope {
        Scope::Cluster => "# kubectl apply --server-side -f install.yaml    (the controller in namespace serin)\n",
        Scope::Namespaced => {
            "# kubectl apply --server-side -n NAMESPACE -f namespace-install.yaml    (one namespace, --namespaced)\n"
        }
    });
    for crd in crate::api::crds::crds() {
        out.push_str("---\n");
        out.push_str(&crate::api::crds::document(&crd).map_err(|e| e.to_string())?);
    }
    for object in objects(scope) {
        out.push_str("---\n");
        out.push_str(&yaml(&object)?);
    }
    Ok(out)
}

/// `(path under the output directory, contents)` of every generated file: both installs and the Helm chart's
/// CRDs.
pub fn files() -> Result<Vec<(String, String)>, String> {
    let mut out = vec![
        ("install.yaml".to_string(), render(Scope::Cluster)?),
        ("namespace-install.yaml".to_string(), render(Scope::Namespaced)?),
    ];
    for (name, yaml) in crate::api::crds::render_files().map_err(|e| e.to_string())? {
        out.push((format!("../charts/serin/crds/{name}"), yaml));
    }
    out.push(("../charts/serin/templates/_rules.tpl".to_string(), rules_template()?));
    Ok(out)
}

/// The Helm chart's RBAC rules, as named templates, from the same lists as the manifests.
fn rules_template() -> Result<String, String> {
    let mut out = format!("{{{{/* Generated by `{REGENERATE_COMMAND}`. Do not edit. */}}}}\n");
    for (name, list) in [
        ("serin.workloadRules", WORKLOAD_RULES),
        ("serin.clusterRules", CLUSTER_RULES),
        ("serin.ownNamespaceRules", OWN_NAMESPACE_RULES),
    ] {
        let body = yaml(&rules(&[list]))?;
        out.push_str(&format!("{{{{- define \"{name}\" -}}}}\n{}\n{{{{- end -}}}}\n", body.trim_end()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in files are what the generator writes: a change to the CRDs, the permissions or the
    /// Deployment is regenerated (`REGENERATE_COMMAND`) and reviewed with it.
    #[test]
    fn checked_in_files_are_generated() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
        for (name, want) in files().expect("render") {
            let path = dir.join(&name);
            let got = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(got == want, "{} is stale: run `{REGENERATE_COMMAND}`", path.display());
        }
    }

    /// No wildcard anywhere, and nothing beyond what the controller was shown to use.
    #[test]
    fn permissions_are_exact() {
        for (group, resources, verbs) in WORKLOAD_RULES.iter().chain(CLUSTER_RULES).chain(OWN_NAMESPACE_RULES)
        {
            assert!(!group.contains('*') && resources.iter().chain(verbs.iter()).all(|x| !x.contains('*')));
            assert!(
                !verbs.contains(&"deletecollection")
                    && !verbs.contains(&"escalate")
                    && !verbs.contains(&"bind")
            );
        }
        // Secrets are only read one by one (a Secret argument names its Secret): never listed or watched.
        let secrets = WORKLOAD_RULES.iter().find(|(_, r, _)| r.contains(&"secrets")).expect("secrets");
        assert_eq!(secrets.2, ["get"]);
    }

    #[test]
    fn a_namespaced_install_has_no_cluster_objects() {
        let kinds: Vec<String> = objects(Scope::Namespaced)
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(!kinds.iter().any(|k| k.starts_with("Cluster") || k == "Namespace"), "{kinds:?}");
        let deployment =
            objects(Scope::Namespaced).into_iter().find(|o| o["kind"] == "Deployment").expect("deployment");
        assert!(deployment.to_string().contains("--namespaced"));
        let cluster = objects(Scope::Cluster);
        let kinds: Vec<&str> = cluster.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "ConfigMap",
                "Deployment",
                "Service"
            ]
        );
    }
}

//! The resource types the server knows: built-ins plus those declared by CustomResourceDefinitions.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::status::{ApiError, Cause};

/// A group and plural resource name; its `Display` is upstream's `replicasets.apps` / `configmaps`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group, empty for the core group.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
}

impl GroupResource {
    /// Builds a group/resource pair.
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource { group: group.to_string(), resource: resource.to_string() }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// Where a `scale` subresource finds its numbers (JSON paths in `.a.b` form, as in CRDs).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    /// e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// e.g. `.status.replicas`.
    pub status_replicas: String,
    /// Path to a label selector; a string for CRDs, a `LabelSelector` object for built-ins.
    pub label_selector: Option<String>,
}

/// A column for `kubectl get` tables (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: string, integer, number, boolean, date.
    pub type_: String,
    /// Simple JSON path such as `.spec.replicas`.
    pub json_path: String,
    /// 0 shows by default; higher only with `-o wide`.
    pub priority: i64,
}

/// Everything the server needs to serve one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group ("" for core).
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    /// Kind, e.g. `ConfigMap`.
    pub kind: String,
    /// Plural, e.g. `configmaps`.
    pub plural: String,
    /// Singular, e.g. `configmap`.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// `kubectl` short names.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Has a `status` subresource (main writes then ignore `.status`).
    pub status: bool,
    /// Has a `scale` subresource.
    pub scale: Option<ScalePaths>,
    /// Tracks `metadata.generation`.
    pub generation: bool,
    /// Delete answers with the object rather than a `Status`.
    pub return_deleted_object: bool,
    /// Declared by a CRD (accepts no strategic merge patch; any served version reads the same objects).
    pub custom: bool,
    /// Extra `kubectl get` columns.
    pub columns: Vec<PrinterColumn>,
    /// Fields usable in field selectors besides `metadata.name` / `metadata.namespace`.
    pub selectable_fields: Vec<String>,
}

impl ResourceType {
    /// The group/resource pair used as the storage key and in messages.
    pub fn gr(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }

    /// `apiVersion` for a given version of this type.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() { version.to_string() } else { format!("{}/{version}", self.group) }
    }

    /// The version the server prefers (first served).
    pub fn preferred_version(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }
}

/// A compact builder for the built-in table.
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        versions: vec![version.into()],
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        status: false,
        scale: None,
        generation: false,
        return_deleted_object: false,
        custom: false,
        columns: vec![],
        selectable_fields: vec![],
    }
}

fn col(name: &str, type_: &str, json_path: &str) -> PrinterColumn {
    PrinterColumn { name: name.into(), type_: type_.into(), json_path: json_path.into(), priority: 0 }
}

/// A column kubectl shows only with `-o wide`.
fn wide(name: &str, json_path: &str) -> PrinterColumn {
    PrinterColumn { priority: 1, ..col(name, "string", json_path) }
}

fn with_status(mut rt: ResourceType) -> ResourceType {
    rt.status = true;
    rt.generation = true;
    rt
}

fn builtin_scale() -> Option<ScalePaths> {
    Some(ScalePaths {
        spec_replicas: ".spec.replicas".into(),
        status_replicas: ".status.replicas".into(),
        label_selector: Some(".spec.selector".into()),
    })
}

/// The built-in resource types, in discovery order.
pub fn builtins() -> Vec<ResourceType> {
    let all = vec!["all".to_string()];
    let mut v = Vec::new();

    let mut ns = builtin("", "v1", "Namespace", "namespaces", false, &["ns"]);
    ns.status = true;
    ns.selectable_fields = vec!["status.phase".into()];
    ns.columns = vec![col("Status", "string", ".status.phase")];
    v.push(ns);

    let mut pod = with_status(builtin("", "v1", "Pod", "pods", true, &["po"]));
    pod.generation = true;
    pod.return_deleted_object = true;
    pod.categories = all.clone();
    pod.selectable_fields = [
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    pod.columns = vec![
        col("Ready", "string", "$ready"),
        col("Status", "string", ".status.phase"),
        col("Restarts", "integer", "$restarts"),
        wide("IP", "$podip"),
        wide("Node", "$node"),
        wide("Nominated Node", "$nominated"),
        wide("Readiness Gates", "$gates"),
    ];
    v.push(pod);

    v.push(builtin("", "v1", "PodTemplate", "podtemplates", true, &[]));

    let mut svc = builtin("", "v1", "Service", "services", true, &["svc"]);
    svc.status = true;
    svc.categories = all.clone();
    svc.columns = vec![col("Type", "string", ".spec.type"), col("Cluster-IP", "string", ".spec.clusterIP")];
    v.push(svc);

    let mut cm = builtin("", "v1", "ConfigMap", "configmaps", true, &["cm"]);
    cm.columns = vec![col("Data", "integer", "$datacount")];
    v.push(cm);

    let mut secret = builtin("", "v1", "Secret", "secrets", true, &[]);
    secret.selectable_fields = vec!["type".into()];
    secret.columns = vec![col("Type", "string", ".type"), col("Data", "integer", "$datacount")];
    v.push(secret);

    let mut ev = builtin("", "v1", "Event", "events", true, &["ev"]);
    ev.selectable_fields = [
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ev.columns = vec![
        col("Type", "string", ".type"),
        col("Reason", "string", ".reason"),
        col("Message", "string", ".message"),
    ];
    v.push(ev);

    v.push(builtin("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]));

    let mut node = builtin("", "v1", "Node", "nodes", false, &["no"]);
    node.status = true;
    v.push(node);

    let mut rs = with_status(builtin("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"]));
    rs.scale = builtin_scale();
    rs.categories = all.clone();
    rs.selectable_fields = vec!["status.replicas".into()];
    rs.columns = vec![
        col("Desired", "integer", ".spec.replicas"),
        col("Current", "integer", ".status.replicas"),
        col("Ready", "integer", ".status.readyReplicas"),
        wide("Containers", "$containers"),
        wide("Images", "$images"),
        wide("Selector", "$selector"),
    ];
    v.push(rs);

    let mut deploy = with_status(builtin("apps", "v1", "Deployment", "deployments", true, &["deploy"]));
    deploy.scale = builtin_scale();
    deploy.categories = all.clone();
    deploy.columns = vec![
        col("Ready", "string", "$deployready"),
        col("Up-to-date", "integer", ".status.updatedReplicas"),
        col("Available", "integer", ".status.availableReplicas"),
        wide("Containers", "$containers"),
        wide("Images", "$images"),
        wide("Selector", "$selector"),
    ];
    v.push(deploy);

    let mut job = with_status(builtin("batch", "v1", "Job", "jobs", true, &[]));
    job.categories = all;
    job.selectable_fields = vec!["status.successful".into()];
    job.columns = vec![col("Status", "string", "$jobstatus"), col("Completions", "string", "$completions")];
    v.push(job);

    let mut ing = with_status(builtin("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"]));
    ing.columns = vec![col("Class", "string", ".spec.ingressClassName")];
    v.push(ing);

    let mut lease = builtin("coordination.k8s.io", "v1", "Lease", "leases", true, &[]);
    lease.columns = vec![col("Holder", "string", ".spec.holderIdentity")];
    v.push(lease);

    let mut event2 = builtin("events.k8s.io", "v1", "Event", "events", true, &["ev"]);
    event2.columns = vec![
        col("Type", "string", ".type"),
        col("Reason", "string", ".reason"),
        col("Note", "string", ".note"),
    ];
    v.push(event2);

    let mut crd = with_status(builtin(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    ));
    crd.generation = true;
    crd.columns = vec![col("Created At", "date", ".metadata.creationTimestamp")];
    v.push(crd);

    v
}

/// Orders Kubernetes versions like upstream: GA > beta > alpha > other, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u64, u64, String) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0, v.to_string());
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(major) = digits.parse::<u64>() else {
        return (0, 0, 0, v.to_string());
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0, String::new());
    }
    for (prefix, level) in [("beta", 2u8), ("alpha", 1u8)] {
        if let Some(n) = tail.strip_prefix(prefix)
            && let Ok(minor) = n.parse::<u64>()
        {
            return (level, major, minor, String::new());
        }
    }
    (0, 0, 0, v.to_string())
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Turns a CustomResourceDefinition into the resource type it declares, or explains why it cannot.
pub fn from_crd(crd: &Value) -> Result<ResourceType, ApiError> {
    let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
    let group = spec.get("group").and_then(Value::as_str).unwrap_or_default().to_string();
    let names = spec.get("names").cloned().unwrap_or(Value::Null);
    let plural = names.get("plural").and_then(Value::as_str).unwrap_or_default().to_string();
    let kind = names.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let invalid =
        |causes| ApiError::invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes);
    let mut causes = Vec::new();
    if group.is_empty() {
        causes.push(Cause::required("spec.group", ""));
    } else if !group.contains('.') {
        // Keeps custom groups apart from the built-in ones, which have no dot (core, apps, batch, …).
        causes.push(Cause::invalid(
            "spec.group",
            &Value::String(group.clone()),
            "should be a domain with at least one dot",
        ));
    }
    let protected =
        ["k8s.io", "kubernetes.io"].iter().any(|p| group == *p || group.ends_with(&format!(".{p}")));
    let approved = crd
        .pointer("/metadata/annotations/api-approved.kubernetes.io")
        .and_then(Value::as_str)
        .is_some_and(|a| !a.is_empty());
    if protected && !approved {
        // Kubernetes' own groups are reserved for APIs that went through its API review.
        causes.push(Cause::required(
            "metadata.annotations[api-approved.kubernetes.io]",
            "protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111",
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::required("spec.names.plural", ""));
    }
    if kind.is_empty() {
        causes.push(Cause::required("spec.names.kind", ""));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            &Value::String(name.to_string()),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let scope = spec.get("scope").and_then(Value::as_str).unwrap_or_default();
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(Cause::invalid(
            "spec.scope",
            &Value::String(scope.to_string()),
            "supported values: \"Cluster\", \"Namespaced\"",
        ));
    }
    let versions = spec.get("versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    }
    if versions.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).count() != 1
        && !versions.is_empty()
    {
        causes.push(Cause::invalid(
            "spec.versions",
            &Value::Null,
            "must have exactly one version marked as storage version",
        ));
    }
    if !causes.is_empty() {
        return Err(invalid(causes));
    }
    let mut served: Vec<&Value> =
        versions.iter().filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false)).collect();
    served.sort_by_key(|v| {
        std::cmp::Reverse(version_priority(v.get("name").and_then(Value::as_str).unwrap_or("")))
    });
    // Subresources and columns are per version upstream; the preferred served version's declaration wins here.
    let preferred = served.first().copied().or(versions.first()).cloned().unwrap_or(Value::Null);
    let sub = preferred.get("subresources").cloned().unwrap_or(Value::Null);
    let status = sub.get("status").is_some();
    let scale = sub.get("scale").map(|s| ScalePaths {
        spec_replicas: s
            .get("specReplicasPath")
            .and_then(Value::as_str)
            .unwrap_or(".spec.replicas")
            .to_string(),
        status_replicas: s
            .get("statusReplicasPath")
            .and_then(Value::as_str)
            .unwrap_or(".status.replicas")
            .to_string(),
        label_selector: s.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
    });
    let columns = preferred
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    Some(PrinterColumn {
                        name: c.get("name")?.as_str()?.to_string(),
                        type_: c.get("type").and_then(Value::as_str).unwrap_or("string").to_string(),
                        json_path: c.get("jsonPath")?.as_str()?.to_string(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let selectable_fields = preferred
        .get("selectableFields")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|x| x.get("jsonPath").and_then(Value::as_str))
                .map(|p| p.trim_start_matches('.').to_string())
                .collect()
        })
        .unwrap_or_default();
    Ok(ResourceType {
        group,
        versions: served
            .iter()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_ascii_lowercase()),
        kind,
        plural,
        namespaced: scope == "Namespaced",
        short_names: str_list(&names["shortNames"]),
        categories: str_list(&names["categories"]),
        status,
        scale,
        generation: true,
        return_deleted_object: true,
        custom: true,
        columns,
        selectable_fields,
    })
}

/// Built-ins plus the types of established CRDs (keyed by CRD name).
#[derive(Debug, Clone)]
pub struct Registry {
    builtins: Vec<Arc<ResourceType>>,
    custom: BTreeMap<String, Arc<ResourceType>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { builtins: builtins().into_iter().map(Arc::new).collect(), custom: BTreeMap::new() }
    }
}

impl Registry {
    /// Looks up a type by group, version and plural, as in a request path.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.all()
            .find(|rt| rt.group == group && rt.plural == plural && rt.versions.iter().any(|v| v == version))
            .cloned()
    }

    /// Looks up a type by group/resource regardless of version.
    pub fn by_gr(&self, gr: &GroupResource) -> Option<Arc<ResourceType>> {
        self.all().find(|rt| rt.group == gr.group && rt.plural == gr.resource).cloned()
    }

    /// Looks up a type by `apiVersion` and `kind` (for manifests loaded from disk).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.all()
            .find(|rt| rt.group == group && rt.kind == kind && rt.versions.iter().any(|v| v == version))
            .cloned()
    }

    /// Every served type, built-ins first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.builtins.iter().chain(self.custom.values())
    }

    /// Registers (or re-registers) a CRD's type.
    pub fn set_custom(&mut self, crd_name: &str, rt: ResourceType) {
        self.custom.insert(crd_name.to_string(), Arc::new(rt));
    }

    /// Stops serving a CRD's type.
    pub fn remove_custom(&mut self, crd_name: &str) -> Option<Arc<ResourceType>> {
        self.custom.remove(crd_name)
    }

    /// The type declared by the CRD with this name.
    pub fn custom_by_crd(&self, crd_name: &str) -> Option<Arc<ResourceType>> {
        self.custom.get(crd_name).cloned()
    }

    /// Whether any served type other than `except` already uses this group/plural.
    pub fn gr_taken(&self, gr: &GroupResource, except: &str) -> bool {
        self.builtins.iter().any(|rt| rt.gr() == *gr)
            || self.custom.iter().any(|(n, rt)| n != except && rt.gr() == *gr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_sort_ga_then_beta_then_alpha() {
        let mut v = vec!["v1alpha1", "v2beta1", "v1", "v1beta2", "foo", "v2"];
        v.sort_by_key(|s| std::cmp::Reverse(version_priority(s)));
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }

    #[test]
    fn crd_declares_names_scope_and_subresources() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
                "versions": [
                    {"name": "v1alpha1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}}}]}
        });
        let rt = from_crd(&crd).expect("valid crd");
        assert_eq!(rt.versions, vec!["v1", "v1alpha1"]);
        assert!(rt.status && rt.namespaced && rt.custom);
        assert_eq!(rt.scale.as_ref().map(|s| s.spec_replicas.as_str()), Some(".spec.size"));
        assert_eq!(rt.short_names, vec!["wd"]);
    }

    #[test]
    fn crd_name_must_be_plural_dot_group() {
        let crd = json!({"metadata": {"name": "bad"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"}, "versions": [{"name": "v1", "served": true, "storage": true}]}});
        let err = from_crd(&crd).expect_err("name mismatch");
        assert_eq!(err.code, 422);
        assert!(err.message.contains("must be spec.names.plural+\".\"+spec.group"), "{}", err.message);
    }
}

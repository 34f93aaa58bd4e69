//! Object helpers: metadata access, per-type defaulting and validation done by the real API server.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::registry::ResourceType;
use super::selector::LabelSelector;
use super::status::Cause;

/// Current time as RFC 3339 with second precision, like `metav1.Time`.
pub fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// Parses a `metav1.Time`.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

/// A string at a JSON pointer, or "".
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `metadata.name`.
pub fn name(v: &Value) -> &str {
    str_at(v, "/metadata/name")
}

/// `metadata.namespace`.
pub fn namespace(v: &Value) -> &str {
    str_at(v, "/metadata/namespace")
}

/// `metadata.uid`.
pub fn uid(v: &Value) -> &str {
    str_at(v, "/metadata/uid")
}

/// `metadata.resourceVersion`.
pub fn resource_version(v: &Value) -> &str {
    str_at(v, "/metadata/resourceVersion")
}

/// `metadata`, created if missing (a non-object metadata is replaced).
pub fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let obj = v.as_object_mut().expect("just made an object");
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("just made an object")
}

/// `metadata.finalizers` as strings.
pub fn finalizers(v: &Value) -> Vec<String> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// The uids in `metadata.ownerReferences`.
pub fn owner_uids(v: &Value) -> Vec<String> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Removes every null, at any depth: typed decoding reads a null as the zero value, the same as absent.
pub fn without_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(without_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(without_nulls),
        _ => {}
    }
}

/// The controller owner reference (`controller: true`), if any.
pub fn controller_ref(v: &Value) -> Option<&Value> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true)))
}

/// Small non-cryptographic generator for names, uids and fault decisions (no extra dependency needed).
#[derive(Debug, Clone)]
pub struct Rng(u64);

static SEED_COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);

impl Rng {
    /// Seeded from the clock and a process-wide counter so that two servers differ.
    pub fn from_entropy() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng::seeded(t ^ SEED_COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed))
    }

    /// A deterministic sequence.
    pub fn seeded(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1)
    }

    /// Next 64 random bits (xorshift64*).
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A float in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Five characters from upstream's alphabet for `generateName` (no vowels, no confusable digits).
    pub fn name_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5).map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize] as char).collect()
    }

    /// A random (version 4) UUID.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label)
}

/// Checks `metadata.name` the way the type's validation does; returns the cause on failure.
pub fn validate_name(rt: &ResourceType, name: &str) -> Option<Cause> {
    let v = Value::String(name.to_string());
    if rt.plural == "namespaces" {
        if !is_label(name) {
            return Some(Cause::invalid("metadata.name", &v, LABEL_MSG));
        }
    } else if rt.plural == "services" && !rt.custom {
        if !is_label(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Some(Cause::invalid("metadata.name", &v, DNS1035_MSG));
        }
    } else if !is_subdomain(name) {
        return Some(Cause::invalid("metadata.name", &v, SUBDOMAIN_MSG));
    }
    None
}

fn go_map(v: &Value) -> String {
    let inner: Vec<String> =
        v.as_object().map(|m| m.iter().map(|(k, v)| format!("{:?}:{}", k, v)).collect()).unwrap_or_default();
    format!("map[string]string{{{}}}", inner.join(", "))
}

/// Validation that the real API server performs on create and update (a subset, by type).
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    if rt.custom || !matches!(rt.plural.as_str(), "replicasets" | "deployments" | "jobs") {
        return causes;
    }
    if rt.plural == "jobs" {
        let policy = str_at(obj, "/spec/template/spec/restartPolicy");
        if policy != "Never" && policy != "OnFailure" {
            causes.push(Cause {
                reason: "FieldValueNotSupported",
                message: format!(
                    "Unsupported value: {:?}: supported values: \"OnFailure\", \"Never\"",
                    policy
                ),
                field: "spec.template.spec.restartPolicy".into(),
            });
        }
        if str_at(obj, "/spec/template/spec/containers/0/name").is_empty() {
            causes.push(Cause::required("spec.template.spec.containers", ""));
        }
        return causes;
    }
    for field in ["replicas", "minReadySeconds"] {
        match obj.pointer(&format!("/spec/{field}")) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_i64() {
                Some(n) if n < 0 => causes.push(Cause::invalid(
                    &format!("spec.{field}"),
                    v,
                    "must be greater than or equal to 0",
                )),
                Some(n) if n > i64::from(i32::MAX) => causes.push(Cause::invalid(
                    &format!("spec.{field}"),
                    v,
                    "must be no more than 2147483647 (an int32)",
                )),
                Some(_) => {}
                None => causes.push(Cause::invalid(&format!("spec.{field}"), v, "must be an int32")),
            },
        }
    }
    let selector = obj.pointer("/spec/selector");
    match selector {
        None | Some(Value::Null) => causes.push(Cause::required("spec.selector", "")),
        Some(sel) => {
            let labels = obj.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}));
            match LabelSelector::from_object(sel) {
                Ok(s) if s.is_empty() => causes.push(Cause::invalid(
                    "spec.selector",
                    sel,
                    "empty selector is invalid for deployment",
                )),
                Ok(s) => {
                    if !s.matches_object(&json!({"metadata": {"labels": labels}})) {
                        causes.push(Cause {
                            reason: "FieldValueInvalid",
                            message: format!(
                                "Invalid value: {}: `selector` does not match template `labels`",
                                go_map(&labels)
                            ),
                            field: "spec.template.metadata.labels".into(),
                        });
                    }
                }
                Err(e) => causes.push(Cause::invalid("spec.selector", sel, &e)),
            }
            if let Some(old_sel) = old.and_then(|o| o.pointer("/spec/selector"))
                && old_sel != sel
            {
                causes.push(Cause::invalid("spec.selector", sel, "field is immutable"));
            }
        }
    }
    if str_at(obj, "/spec/template/spec/containers/0/name").is_empty() {
        causes.push(Cause::required("spec.template.spec.containers", ""));
    }
    causes
}

fn set_default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

fn obj_at<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    map_at(v.as_object_mut().expect("object"), key)
}

/// The object under `key`, made one if it is missing or not an object.
fn map_at<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let e = m.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !e.is_object() {
        *e = Value::Object(Map::new());
    }
    e.as_object_mut().expect("object")
}

/// What the real server sets on Pods alone (not on templates): `SetDefaults_Pod` (requests default to limits,
/// service links) and the default admission plugins (ServiceAccount, Priority, DefaultTolerationSeconds). The
/// ServiceAccount plugin's token volume is not added: the embedded cluster issues no tokens.
fn default_pod(spec: &mut Map<String, Value>) {
    for list in ["containers", "initContainers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(resources) = c.get_mut("resources").and_then(Value::as_object_mut) else { continue };
            let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else { continue };
            let requests = map_at(resources, "requests");
            for (k, v) in limits {
                requests.entry(k).or_insert(v);
            }
        }
    }
    set_default(spec, "enableServiceLinks", json!(true));
    set_default(spec, "serviceAccountName", json!("default"));
    let account = spec.get("serviceAccountName").cloned().unwrap_or(json!("default"));
    set_default(spec, "serviceAccount", account);
    set_default(spec, "priority", json!(0));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(list) = tolerations.as_array_mut() {
        for taint in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let tolerated = list.iter().any(|t| {
                let key = t.get("key").and_then(Value::as_str);
                let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                let exists = t.get("operator").and_then(Value::as_str) == Some("Exists");
                (key == Some(taint) || (key.is_none() && exists))
                    && (effect.is_empty() || effect == "NoExecute")
            });
            if !tolerated {
                list.push(json!({"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

/// A probe's defaults (`SetDefaults_Probe`, `SetDefaults_HTTPGetAction`).
fn default_probe(p: &mut Map<String, Value>) {
    for (field, default) in
        [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)]
    {
        if p.get(field).is_none_or(|v| v.is_null() || v == 0) {
            p.insert(field.into(), json!(default));
        }
    }
    if let Some(get) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_default(get, "scheme", json!("HTTP"));
    }
}

fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in volumes.iter_mut().filter_map(Value::as_object_mut) {
            for source in ["configMap", "secret", "downwardAPI", "projected"] {
                if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
                    set_default(s, "defaultMode", json!(0o644));
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
                let tagged =
                    image.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@'));
                let latest = !tagged || image.ends_with(":latest");
                set_default(c, "imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
                set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "terminationMessagePolicy", json!("File"));
                set_default(c, "resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
                for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                    if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
                        default_probe(p);
                    }
                }
            }
        }
    }
}

/// Fills the fields the real API server defaults, on create and update.
/// `ip` allocates a cluster IP for Services.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value, ip: &mut dyn FnMut() -> String) {
    if rt.custom {
        return;
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => {
            let spec = obj_at(obj, "spec");
            default_pod_spec(spec);
            default_pod(spec);
        }
        ("", "namespaces") => {
            let n = name(obj).to_string();
            obj_at(meta_mut_value(obj), "labels").insert("kubernetes.io/metadata.name".into(), json!(n));
            set_default(obj_at(obj, "spec"), "finalizers", json!(["kubernetes"]));
        }
        ("", "secrets") => {
            let m = obj.as_object_mut().expect("object");
            set_default(m, "type", json!("Opaque"));
            // Upstream folds stringData into data (base64) and never stores stringData.
            if let Some(Value::Object(sd)) = m.remove("stringData") {
                let data = m.entry("data").or_insert_with(|| json!({}));
                if let Some(d) = data.as_object_mut() {
                    for (k, v) in sd {
                        d.insert(k, json!(BASE64.encode(v.as_str().unwrap_or_default())));
                    }
                }
            }
        }
        ("", "services") => {
            let spec = obj_at(obj, "spec");
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
            if !headless && spec.get("clusterIP").and_then(Value::as_str).is_none_or(str::is_empty) {
                let a = ip();
                spec.insert("clusterIP".into(), json!(a));
                spec.insert("clusterIPs".into(), json!([a]));
            }
            set_default(spec, "ipFamilies", json!(["IPv4"]));
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    set_default(p, "protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        set_default(p, "targetPort", port);
                    }
                }
            }
        }
        ("apps", "replicasets") | ("apps", "deployments") => {
            let deploy = rt.plural == "deployments";
            let spec = obj_at(obj, "spec");
            set_default(spec, "replicas", json!(1));
            if deploy {
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(spec, "progressDeadlineSeconds", json!(600));
                // An empty strategy (Go clients always send one) is defaulted as a missing one.
                let strategy = map_at(spec, "strategy");
                set_default(strategy, "type", json!("RollingUpdate"));
                if strategy.get("type") == Some(&json!("RollingUpdate")) {
                    let rolling = map_at(strategy, "rollingUpdate");
                    set_default(rolling, "maxUnavailable", json!("25%"));
                    set_default(rolling, "maxSurge", json!("25%"));
                }
            }
            if let Some(ps) = spec.get_mut("template").map(|t| obj_at(t, "spec")) {
                default_pod_spec(ps);
            }
        }
        ("batch", "jobs") => {
            let job_uid = uid(obj).to_string();
            let job_name = name(obj).to_string();
            let spec = obj_at(obj, "spec");
            set_default(spec, "parallelism", json!(1));
            set_default(spec, "completions", json!(1));
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completionMode", json!("NonIndexed"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            set_default(spec, "manualSelector", json!(false));
            if spec.get("manualSelector") != Some(&json!(true)) && !job_uid.is_empty() {
                set_default(
                    spec,
                    "selector",
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": job_uid}}),
                );
                let tmpl = spec.entry("template").or_insert_with(|| json!({}));
                let labels = obj_at(meta_mut_value(tmpl), "labels");
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", &job_uid),
                    ("batch.kubernetes.io/job-name", &job_name),
                    ("controller-uid", &job_uid),
                    ("job-name", &job_name),
                ] {
                    set_default(labels, k, json!(v));
                }
            }
            if let Some(ps) = spec.get_mut("template").map(|t| obj_at(t, "spec")) {
                default_pod_spec(ps);
            }
        }
        _ => {}
    }
}

/// `metadata` as a `Value` slot (for helpers that take `&mut Value`).
fn meta_mut_value(v: &mut Value) -> &mut Value {
    meta_mut(v);
    v.get_mut("metadata").expect("metadata was just ensured")
}

/// A pod's quality-of-service class, as the kubelet computes it from its containers' CPU and memory: Guaranteed
/// when every container limits both and requests what it limits, BestEffort when none requests or limits
/// either, Burstable otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    const SUPPORTED: [&str; 2] = ["cpu", "memory"];
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    let containers = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array))
        .flatten();
    for c in containers {
        let amounts = |which: &str| -> Vec<(&'static str, i128)> {
            SUPPORTED
                .iter()
                .filter_map(|&r| {
                    let q = c.pointer(&format!("/resources/{which}/{r}"))?;
                    let text = match q {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    crate::strategy::hash::quantity::nanos(&text).filter(|&n| n != 0).map(|n| (r, n))
                })
                .collect()
        };
        for (r, n) in amounts("requests") {
            *requests.entry(r).or_default() += n;
        }
        let limited = amounts("limits");
        guaranteed &= limited.len() == SUPPORTED.len();
        for (r, n) in limited {
            *limits.entry(r).or_default() += n;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    // Requests left out are defaulted to the limits.
    if guaranteed && requests.iter().all(|(r, n)| limits.get(r) == Some(n)) {
        return "Guaranteed";
    }
    "Burstable"
}

/// The status a freshly created object starts with, for types whose status the server owns.
pub fn initial_status(rt: &ResourceType, obj: &Value) -> Option<Value> {
    if rt.custom {
        return None;
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => Some(json!({"phase": "Pending", "qosClass": qos_class(obj)})),
        ("", "namespaces") => Some(json!({"phase": "Active"})),
        ("", "services") => Some(json!({"loadBalancer": {}})),
        ("apps", "replicasets") => Some(json!({"replicas": 0})),
        ("apps", "deployments") | ("batch", "jobs") | ("networking.k8s.io", "ingresses") => Some(json!({})),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let storage: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                        .filter_map(|v| v.get("name").cloned())
                        .collect()
                })
                .unwrap_or_default();
            let t = now();
            Some(json!({
                "acceptedNames": names,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": t, "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": t, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
                ],
                "storedVersions": storage
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_suffixes_have_upstream_shape() {
        let mut r = Rng::seeded(7);
        let u = r.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        let s = r.name_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn names_follow_per_type_rules() {
        let reg = super::super::registry::builtins();
        let by = |p: &str| reg.iter().find(|r| r.plural == p).cloned().expect("type");
        assert!(validate_name(&by("configmaps"), "a.b-c").is_none());
        assert!(validate_name(&by("configmaps"), "Bad_Name").is_some());
        assert!(validate_name(&by("namespaces"), "a.b").is_some());
        assert!(validate_name(&by("services"), "1abc").is_some());
    }
}

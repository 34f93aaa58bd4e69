//! pod-template-hash and step hash exactly as Argo Rollouts computes them (`utils/hash` ComputePodTemplateHash,
//! `utils/conditions` ComputeStepHash; argo-semantics §f): FNV-1a 32 over Go's `encoding/json` of the value,
//! with the collision count for templates, written out by `SafeEncodeString`.
//!
//! Upstream hashes the Go struct it decoded the Rollout into, so the bytes depend on Go's field order, its
//! `omitempty`/`omitzero` rules and the custom encodings of quantities, times and int-or-strings. This module
//! reproduces that encoding from `go_layout.rs`, a table generated from the Go types themselves
//! (`tests/podhash/generate.sh`), so a template gives the same hash in serin as in Argo Rollouts, and
//! ReplicaSets created by one are recognised by the other. `tests/podhash` checks serin's hashes against
//! upstream's own functions.

mod go_layout;
pub(crate) mod quantity;

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One JSON field of a Go struct, in the order Go writes them.
pub(crate) struct Field {
    json: &'static str,
    omitempty: bool,
    omitzero: bool,
    ty: Ty,
}

/// The Go type of a field, as far as its JSON encoding is concerned.
pub(crate) enum Ty {
    /// `go_layout::STRUCTS[i]`.
    Struct(usize),
    Ptr(&'static Ty),
    Slice(&'static Ty),
    Map(&'static Ty),
    String,
    Int,
    Bool,
    /// `resource.Quantity`.
    Quantity,
    /// `metav1.Time`.
    Time,
    /// `intstr.IntOrString`.
    IntOrString,
    /// `json.RawMessage`, `metav1.FieldsV1`: JSON kept as read.
    Raw,
}

const POD_TEMPLATE_SPEC: usize = 0;
const CANARY_STEP: usize = 1;

/// Why a value cannot be hashed: it does not decode into the Go type upstream decodes it into (so upstream
/// could not read the Rollout either).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct HashError {
    pub path: String,
    pub message: String,
}

/// The `rollouts-pod-template-hash` of a Rollout's `spec.template` (as JSON) and `status.collisionCount`.
pub fn pod_template_hash(template: &Value, collision_count: Option<i32>) -> Result<String, HashError> {
    let json = go_json(&Ty::Struct(POD_TEMPLATE_SPEC), Some(template), "spec.template")?;
    Ok(template_json_hash(&json, collision_count))
}

/// The hash Argo Rollouts releases built with Kubernetes libraries before `omitzero` computed for the same
/// template: their encoding wrote `"creationTimestamp":null` into every template's metadata. ReplicaSets those
/// releases created carry it, and are found by it rather than replaced.
pub fn legacy_pod_template_hash(template: &Value, collision_count: Option<i32>) -> Result<String, HashError> {
    let decoded = decode(&Ty::Struct(POD_TEMPLATE_SPEC), Some(template), "spec.template")?;
    let mut json = String::new();
    encode(&decoded, &mut json, Omit::EmptyOnly);
    Ok(template_json_hash(&json, collision_count))
}

/// The `rollouts-pod-template-hash` of an Experiment template's ReplicaSet. Upstream hashes those with a
/// different function than a Rollout's (Kubernetes' `ComputeHash`, over a Go value dump), so that a template
/// copied from a Rollout's ReplicaSet never gets that ReplicaSet's hash and its pods are never selected by the
/// Rollout's Services. serin keeps that property with its own function: the template's hash salted with the
/// template's name, which also keeps two templates with the same pods apart (upstream would give them one hash).
pub fn experiment_pod_template_hash(
    template: &Value,
    template_name: &str,
    collision_count: Option<i32>,
) -> Result<String, HashError> {
    let mut json = go_json(&Ty::Struct(POD_TEMPLATE_SPEC), Some(template), "template")?;
    json.push_str("\0experiment template ");
    json.push_str(template_name);
    Ok(template_json_hash(&json, collision_count))
}

fn template_json_hash(json: &str, collision_count: Option<i32>) -> String {
    let mut hasher = Fnv1a32::new();
    hasher.write(json.as_bytes());
    if let Some(count) = collision_count {
        // Upstream writes an 8-byte buffer holding the count as a little-endian uint32.
        hasher.write(&(count as u32).to_le_bytes());
        hasher.write(&[0; 4]);
    }
    safe_encode(&hasher.finish().to_string())
}

/// `status.currentStepHash`: the hash of `spec.strategy.canary.steps` (absent steps hash as Go's `null`).
pub fn step_hash(steps: Option<&Value>) -> Result<String, HashError> {
    let json = go_json(&Ty::Slice(&Ty::Struct(CANARY_STEP)), steps, "spec.strategy.canary.steps")?;
    let mut hasher = Fnv1a32::new();
    hasher.write(json.as_bytes());
    Ok(safe_encode(&hasher.finish().to_string()))
}

/// Go's JSON for a pod template (what upstream hashes), for diagnostics and tests.
pub fn pod_template_go_json(template: &Value) -> Result<String, HashError> {
    go_json(&Ty::Struct(POD_TEMPLATE_SPEC), Some(template), "spec.template")
}

/// Go's JSON for canary steps (what upstream hashes).
pub fn steps_go_json(steps: Option<&Value>) -> Result<String, HashError> {
    go_json(&Ty::Slice(&Ty::Struct(CANARY_STEP)), steps, "spec.strategy.canary.steps")
}

/// `k8s.io/apimachinery/pkg/util/rand.SafeEncodeString`: each byte mapped into an alphabet without vowels.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char).collect()
}

/// FNV-1a, 32 bits (Go's `hash/fnv.New32a`).
struct Fnv1a32(u32);

impl Fnv1a32 {
    fn new() -> Self {
        Fnv1a32(2_166_136_261)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(16_777_619);
        }
    }
    fn finish(&self) -> u32 {
        self.0
    }
}

/// A value as Go holds it after decoding JSON into the typed struct: what `json.Marshal` then writes.
enum GoValue {
    /// A nil pointer, slice or map.
    Nil,
    /// A non-nil pointer: never empty, whatever it points to.
    Ptr(Box<GoValue>),
    Str(String),
    Int(i64),
    Bool(bool),
    Struct(Vec<(&'static Field, GoValue)>),
    Slice(Vec<GoValue>),
    Map(BTreeMap<String, GoValue>),
    /// Canonical text of a quantity.
    Quantity(String),
    /// RFC 3339 seconds in UTC; `None` is the zero time (written `null`).
    Time(Option<String>),
    IntOrStringInt(i64),
    IntOrStringStr(String),
    /// Compacted JSON; `None` is an empty RawMessage.
    Raw(Option<String>),
}

fn go_json(ty: &Ty, value: Option<&Value>, path: &str) -> Result<String, HashError> {
    let decoded = decode(ty, value, path)?;
    let mut out = String::new();
    encode(&decoded, &mut out, Omit::EmptyAndZero);
    Ok(out)
}

/// Which of a field's options leave a value out: today's `omitempty` and `omitzero`, or `omitempty` alone as
/// encoders before Go 1.24 (and Kubernetes libraries before they adopted `omitzero`) did.
#[derive(Clone, Copy, PartialEq)]
enum Omit {
    EmptyAndZero,
    EmptyOnly,
}

fn error(path: &str, message: impl Into<String>) -> HashError {
    HashError { path: path.to_string(), message: message.into() }
}

/// Decodes `value` (absent = the field was not in the JSON) into `ty` as `json.Unmarshal` does.
fn decode(ty: &Ty, value: Option<&Value>, path: &str) -> Result<GoValue, HashError> {
    let as_read = value;
    let value = value.filter(|v| !v.is_null());
    let mismatch = |want: &str| error(path, format!("cannot decode {} into {want}", describe(value)));
    Ok(match ty {
        Ty::Ptr(inner) => match value {
            None => GoValue::Nil,
            Some(v) => GoValue::Ptr(Box::new(decode(inner, Some(v), path)?)),
        },
        Ty::Struct(i) => {
            let object = match value {
                None => None,
                Some(Value::Object(m)) => Some(m),
                Some(_) => return Err(mismatch("an object")),
            };
            let mut fields = Vec::new();
            for field in go_layout::STRUCTS[*i] {
                let child = object.and_then(|m| m.get(field.json));
                fields.push((field, decode(&field.ty, child, &format!("{path}.{}", field.json))?));
            }
            GoValue::Struct(fields)
        }
        Ty::Slice(inner) => match value {
            None => GoValue::Nil,
            Some(Value::Array(items)) => GoValue::Slice(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| decode(inner, Some(v), &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err(mismatch("a list")),
        },
        Ty::Map(inner) => match value {
            None => GoValue::Nil,
            Some(Value::Object(m)) => GoValue::Map(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), decode(inner, Some(v), &format!("{path}.{k}"))?)))
                    .collect::<Result<_, HashError>>()?,
            ),
            Some(_) => return Err(mismatch("a map")),
        },
        Ty::String => match value {
            None => GoValue::Str(String::new()),
            Some(Value::String(s)) => GoValue::Str(s.clone()),
            Some(_) => return Err(mismatch("a string")),
        },
        Ty::Int => match value {
            None => GoValue::Int(0),
            Some(Value::Number(n)) => GoValue::Int(n.as_i64().ok_or_else(|| mismatch("an integer"))?),
            Some(_) => return Err(mismatch("an integer")),
        },
        Ty::Bool => match value {
            None => GoValue::Bool(false),
            Some(Value::Bool(b)) => GoValue::Bool(*b),
            Some(_) => return Err(mismatch("a boolean")),
        },
        Ty::Quantity => match value {
            None => GoValue::Quantity("0".into()),
            Some(Value::String(s)) => GoValue::Quantity(quantity::canonical(s).map_err(|m| error(path, m))?),
            Some(Value::Number(n)) => {
                GoValue::Quantity(quantity::canonical(&go_number(n)).map_err(|m| error(path, m))?)
            }
            Some(_) => return Err(mismatch("a quantity")),
        },
        Ty::Time => match value {
            None => GoValue::Time(None),
            Some(Value::String(s)) => {
                let t: jiff::Timestamp =
                    s.parse().map_err(|e| error(path, format!("invalid time {s:?}: {e}")))?;
                GoValue::Time(Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
            }
            Some(_) => return Err(mismatch("a time")),
        },
        Ty::IntOrString => match value {
            None => GoValue::IntOrStringInt(0),
            Some(Value::String(s)) => GoValue::IntOrStringStr(s.clone()),
            Some(Value::Number(n)) => {
                GoValue::IntOrStringInt(n.as_i64().ok_or_else(|| mismatch("an int or string"))?)
            }
            Some(_) => return Err(mismatch("an int or string")),
        },
        // A RawMessage keeps a JSON null as the bytes `null`; only an absent field leaves it empty.
        Ty::Raw => GoValue::Raw(as_read.map(|v| {
            let mut s = String::new();
            raw(v, &mut s);
            s
        })),
    })
}

fn describe(value: Option<&Value>) -> &'static str {
    match value {
        None => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "a list",
        Some(Value::Object(_)) => "an object",
        Some(Value::Null) => "null",
    }
}

/// A JSON number's text as the API server would have sent it to upstream (integers without a fraction).
fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 { format!("{f:.0}") } else { f.to_string() }
}

/// `omitempty`: false, 0, "", nil, and empty slices and maps are left out; structs never are.
fn is_empty(v: &GoValue) -> bool {
    match v {
        GoValue::Nil => true,
        GoValue::Str(s) => s.is_empty(),
        GoValue::Int(i) => *i == 0,
        GoValue::Bool(b) => !b,
        GoValue::Slice(items) => items.is_empty(),
        GoValue::Map(m) => m.is_empty(),
        GoValue::Raw(r) => r.is_none(),
        GoValue::Ptr(_)
        | GoValue::Struct(_)
        | GoValue::Quantity(_)
        | GoValue::Time(_)
        | GoValue::IntOrStringInt(_)
        | GoValue::IntOrStringStr(_) => false,
    }
}

/// `omitzero`: the zero value (or `IsZero()` where the type has one) is left out.
fn is_zero(v: &GoValue) -> bool {
    match v {
        GoValue::Nil => true,
        GoValue::Str(s) => s.is_empty(),
        GoValue::Int(i) => *i == 0,
        GoValue::Bool(b) => !b,
        GoValue::Ptr(_) | GoValue::Slice(_) | GoValue::Map(_) => false,
        GoValue::Raw(r) => r.is_none(),
        GoValue::Struct(fields) => fields.iter().all(|(_, v)| is_zero(v)),
        GoValue::Quantity(q) => q == "0",
        GoValue::Time(t) => t.is_none(),
        GoValue::IntOrStringInt(i) => *i == 0,
        GoValue::IntOrStringStr(_) => false,
    }
}

fn encode(v: &GoValue, out: &mut String, omit: Omit) {
    match v {
        GoValue::Nil | GoValue::Time(None) => out.push_str("null"),
        GoValue::Ptr(inner) => encode(inner, out, omit),
        GoValue::Str(s) | GoValue::Quantity(s) | GoValue::IntOrStringStr(s) | GoValue::Time(Some(s)) => {
            serin_gofmt::write_string(out, s)
        }
        GoValue::Int(i) | GoValue::IntOrStringInt(i) => {
            let _ = write!(out, "{i}");
        }
        GoValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        GoValue::Struct(fields) => {
            out.push('{');
            let mut first = true;
            for (field, value) in fields {
                let omitzero = field.omitzero && omit == Omit::EmptyAndZero;
                if (field.omitempty && is_empty(value)) || (omitzero && is_zero(value)) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                serin_gofmt::write_string(out, field.json);
                out.push(':');
                encode(value, out, omit);
            }
            out.push('}');
        }
        GoValue::Slice(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode(item, out, omit);
            }
            out.push(']');
        }
        GoValue::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                serin_gofmt::write_string(out, k);
                out.push(':');
                encode(item, out, omit);
            }
            out.push('}');
        }
        GoValue::Raw(None) => out.push_str("null"),
        GoValue::Raw(Some(s)) => out.push_str(s),
    }
}

/// Compact JSON of a raw value, keys sorted as the API server writes them, strings escaped as Go escapes them.
fn raw(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => serin_gofmt::write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                raw(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            out.push('{');
            for (i, (k, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                serin_gofmt::write_string(out, k);
                out.push(':');
                raw(item, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Hashes derived from the algorithm in argo-semantics §(f); `tests/podhash` checks many more against
    /// upstream's own Go functions.
    #[test]
    fn fnv_and_safe_encoding_match_the_reference_values() {
        let hash = |bytes: &[u8]| {
            let mut h = Fnv1a32::new();
            h.write(bytes);
            safe_encode(&h.finish().to_string())
        };
        assert_eq!(hash(b""), "65bb57b6b5");
        assert_eq!(hash(b"{}"), "5859f96865");
        let mut h = Fnv1a32::new();
        h.write(b"{}");
        h.write(&1u32.to_le_bytes());
        h.write(&[0; 4]);
        assert_eq!(safe_encode(&h.finish().to_string()), "648d6bd896");
    }

    #[test]
    fn templates_are_written_in_go_field_order_with_go_rules() {
        let cases = [
            // An empty template: metadata is a struct (never omitted), containers has no omitempty.
            (json!({}), r#"{"metadata":{},"spec":{"containers":null}}"#),
            (
                json!({"spec": {"restartPolicy": "Always", "containers": [{"image": "a<b>", "name": "c"}]},
                       "metadata": {"labels": {"z": "1", "app": "x"}}}),
                r#"{"metadata":{"labels":{"app":"x","z":"1"}},"spec":{"containers":[{"name":"c","image":"a\u003cb\u003e","resources":{}}],"restartPolicy":"Always"}}"#,
            ),
            (
                json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": 0.5, "memory": "1024Mi"}}}]}}),
                r#"{"metadata":{},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}]}}"#,
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(pod_template_go_json(&template).as_deref(), Ok(expected), "{template}");
        }
    }

    #[test]
    fn the_legacy_hash_is_the_one_of_creation_timestamp_null() {
        let template = json!({"spec": {"containers": [{"name": "c"}]}});
        let legacy = legacy_pod_template_hash(&template, None).expect("hash");
        let mut h = Fnv1a32::new();
        h.write(
            br#"{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"c","resources":{}}]}}"#,
        );
        assert_eq!(legacy, safe_encode(&h.finish().to_string()));
        assert_ne!(legacy, pod_template_hash(&template, None).expect("hash"));
    }

    #[test]
    fn an_experiment_templates_hash_is_never_its_rollout_replica_sets() {
        let template = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let rollout = pod_template_hash(&template, None).expect("hash");
        let baseline = experiment_pod_template_hash(&template, "baseline", None).expect("hash");
        let canary = experiment_pod_template_hash(&template, "canary", None).expect("hash");
        assert_ne!(baseline, rollout, "a template copied from a Rollout's ReplicaSet gets a hash of its own");
        assert_ne!(baseline, canary, "two templates with the same pods are kept apart");
        assert_eq!(baseline, experiment_pod_template_hash(&template, "baseline", None).expect("hash"));
        assert_ne!(baseline, experiment_pod_template_hash(&template, "baseline", Some(1)).expect("hash"));
    }

    #[test]
    fn a_template_upstream_could_not_decode_is_an_error_naming_the_field() {
        let err = pod_template_hash(&json!({"spec": {"containers": "nginx"}}), None).unwrap_err();
        assert_eq!(err.path, "spec.template.spec.containers");
        assert_eq!(err.message, "cannot decode a string into a list");
    }

    #[test]
    fn steps_hash_their_go_encoding() {
        assert_eq!(steps_go_json(None).as_deref(), Ok("null"));
        let steps = json!([{"setWeight": 20}, {"pause": {}}, {"pause": {"duration": "10s"}}]);
        assert_eq!(
            steps_go_json(Some(&steps)).as_deref(),
            Ok(r#"[{"setWeight":20},{"pause":{}},{"pause":{"duration":"10s"}}]"#)
        );
    }
}

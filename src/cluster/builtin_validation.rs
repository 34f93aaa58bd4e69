//! What the real API server refuses in built-in objects, beyond names: bodies its typed decoding cannot read (a
//! string where a list belongs, a number in a ConfigMap's `data`, Secret data that is not base64), label and
//! annotation syntax, ConfigMap and Secret keys and sizes, and the storage limit on an object's size. Codes,
//! reasons and messages are the real server's (checked on both substrates by `tests/cluster/fidelity.rs`).

use serde_json::Value;

use super::registry::ResourceType;
use super::status::{ApiError, Cause};

/// The request body limit (kube-apiserver's `--max-request-bytes` default).
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;
/// The largest object storage takes (etcd's client message limit).
pub const MAX_OBJECT_BYTES: usize = 2 * 1024 * 1024;
/// ConfigMap and Secret data, all keys together.
const MAX_DATA_BYTES: usize = 1024 * 1024;
/// All annotations of an object together.
const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Refuses what typed decoding refuses, as 400 `KIND in version "V" cannot be handled as a KIND: …`.
pub fn decode(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    if rt.custom {
        return Ok(());
    }
    let refused = |cause: String| {
        let version =
            obj.get("apiVersion").and_then(Value::as_str).unwrap_or("").rsplit('/').next().unwrap_or("");
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {cause}",
            kind = rt.kind
        ))
    };
    // Base64 fields: a Secret's data and a ConfigMap's binaryData.
    let base64 = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Secret") => "data",
        ("", "ConfigMap") => "binaryData",
        _ => "",
    };
    for value in obj
        .get(base64)
        .filter(|_| !base64.is_empty())
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
    {
        if let Some(at) = value.as_str().and_then(base64_error) {
            return Err(refused(format!("illegal base64 data at input byte {at}")));
        }
    }
    // What Go decodes but k8s-openapi's types would not: a null is the zero value (`labels: {a: null}` is ""),
    // and base64 is Go's to judge (it allows line breaks), checked above.
    let mut lenient = obj.clone();
    super::object::without_nulls(&mut lenient);
    if let Some(m) = lenient.as_object_mut() {
        m.remove(base64);
    }
    macro_rules! typed {
        ($($group:literal, $kind:literal => $ty:ty),* $(,)?) => {
            match (rt.group.as_str(), rt.kind.as_str()) {
                $(($group, $kind) => serde_json::from_value::<$ty>(lenient).map(drop).map_err(|e| refused(e.to_string()))?,)*
                _ => {}
            }
        };
    }
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    typed! {
        "", "Pod" => core::Pod,
        "", "ConfigMap" => core::ConfigMap,
        "", "Secret" => core::Secret,
        "", "Service" => core::Service,
        "", "ServiceAccount" => core::ServiceAccount,
        "", "Namespace" => core::Namespace,
        "apps", "Deployment" => apps::Deployment,
        "apps", "ReplicaSet" => apps::ReplicaSet,
        "batch", "Job" => batch::Job,
    }
    Ok(())
}

/// Where Go's standard base64 decoder stops on `s`, if it does (it skips line breaks anywhere). Offsets count
/// the text without its line breaks.
fn base64_error(s: &str) -> Option<usize> {
    let text: Vec<u8> = s.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    let bytes = text.as_slice();
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let data = bytes.iter().position(|&b| b == b'=').unwrap_or(bytes.len());
    if let Some(bad) = bytes[..data].iter().position(|&b| !alphabet(b)) {
        return Some(bad);
    }
    let padding = &bytes[data..];
    let significant = data;
    let valid_padding = match significant % 4 {
        0 => padding.is_empty(),
        2 => padding == b"==",
        3 => padding == b"=",
        _ => false,
    };
    (!valid_padding || padding.iter().any(|&b| b != b'=')).then(|| {
        // Go reports the start of the incomplete quantum.
        significant - significant % 4
    })
}

/// Validation causes of the object's metadata (labels, annotations) and, for ConfigMaps and Secrets, their data.
pub fn causes(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            if let Some(detail) = qualified_name_problem(key) {
                causes.push(Cause::invalid("metadata.labels", &Value::String(key.clone()), &detail));
            }
            let v = value.as_str().unwrap_or("");
            if v.len() > 63 {
                causes.push(Cause::invalid("metadata.labels", value, "must be no more than 63 bytes"));
            } else if !v.is_empty() && !name_part(v) {
                causes.push(Cause::invalid("metadata.labels", value, LABEL_VALUE_MSG));
            }
        }
    }
    if let Some(annotations) = obj.pointer("/metadata/annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (key, value) in annotations {
            total += key.len() + value.as_str().map_or(0, str::len);
            if let Some(detail) = qualified_name_problem(&key.to_ascii_lowercase()) {
                causes.push(Cause::invalid("metadata.annotations", &Value::String(key.clone()), &detail));
            }
        }
        if total > MAX_ANNOTATION_BYTES {
            causes.push(too_long("metadata.annotations", MAX_ANNOTATION_BYTES));
        }
    }
    if rt.custom || !rt.group.is_empty() || !matches!(rt.kind.as_str(), "ConfigMap" | "Secret") {
        return causes;
    }
    let data = obj.get("data").and_then(Value::as_object);
    let binary = obj.get("binaryData").and_then(Value::as_object);
    let mut total = 0;
    for (field, map) in [("data", data), ("binaryData", binary)] {
        for (key, value) in map.into_iter().flatten() {
            let at = format!("{field}[{key}]");
            if key.is_empty()
                || key.len() > 253
                || !key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            {
                causes.push(Cause::invalid(&at, &Value::String(key.clone()), CONFIG_KEY_MSG));
            } else if key == "." || key == ".." {
                causes.push(Cause::invalid(&at, &Value::String(key.clone()), "must not be '.' or '..'"));
            }
            let s = value.as_str().unwrap_or("");
            // Base64 values count decoded, text as it is; keys do not count.
            total += if field == "binaryData" || rt.kind == "Secret" { decoded_len(s) } else { s.len() };
            if field == "data" && rt.kind == "ConfigMap" && binary.is_some_and(|b| b.contains_key(key)) {
                causes.push(Cause::invalid(
                    &at,
                    &Value::String(key.clone()),
                    "duplicate of key present in binaryData",
                ));
            }
        }
    }
    if total > MAX_DATA_BYTES {
        causes.push(too_long(if rt.kind == "Secret" { "data" } else { "[]" }, MAX_DATA_BYTES));
    }
    causes
}

/// The length of base64 text once decoded.
fn decoded_len(s: &str) -> usize {
    let significant = s.bytes().filter(|&b| b != b'\r' && b != b'\n' && b != b'=').count();
    significant * 3 / 4
}

/// The storage limit: 500 with the message the real server passes on from etcd's client.
pub fn size(obj: &Value) -> Result<(), ApiError> {
    let len = serde_json::to_vec(obj).map_or(0, |v| v.len());
    if len > MAX_OBJECT_BYTES {
        return Err(ApiError::new(
            500,
            "",
            format!(
                "rpc error: code = ResourceExhausted desc = trying to send message larger than max ({len} vs. {MAX_OBJECT_BYTES})"
            ),
            None,
        ));
    }
    Ok(())
}

/// The request body limit's error.
pub fn request_too_large() -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {MAX_REQUEST_BYTES}"),
        None,
    )
}

fn too_long(field: &str, max: usize) -> Cause {
    Cause {
        reason: "FieldValueTooLong",
        message: format!("Too long: may not be more than {max} bytes"),
        field: field.into(),
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 bytes.
fn name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Why `key` is not a qualified name (`[prefix/]name`), as `IsQualifiedName` says it.
fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if name.contains('/') {
        return Some(format!(
            "{NAME_PART_MSG}; a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ));
    }
    if let Some(p) = prefix {
        let label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if p.is_empty() {
            return Some("prefix part must be non-empty".into());
        }
        if p.len() > 253 || !p.split('.').all(label) {
            return Some(format!("prefix part {SUBDOMAIN_MSG}"));
        }
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 bytes".into());
    }
    (!name_part(name)).then(|| NAME_PART_MSG.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_and_base64_as_go_reads_them() {
        for ok in ["app", "app.kubernetes.io/name", "a-b_c.d", "A1", "example.com/x"] {
            assert_eq!(qualified_name_problem(ok), None, "{ok}");
        }
        assert_eq!(qualified_name_problem("a b").as_deref(), Some(NAME_PART_MSG));
        assert_eq!(
            qualified_name_problem("Example.com/x")
                .as_deref()
                .map(|m| m.starts_with("prefix part a lowercase")),
            Some(true)
        );
        assert_eq!(qualified_name_problem("/x").as_deref(), Some("prefix part must be non-empty"));
        assert_eq!(
            qualified_name_problem(&"x".repeat(64)).as_deref(),
            Some("name part must be no more than 63 bytes")
        );
        for ok in ["", "eA==", "eHk=", "eHl6", "eHl6\n", "eA==\n", "eHl6\r\neHl6"] {
            assert_eq!(base64_error(ok), None, "{ok:?}");
        }
        assert_eq!(base64_error("!!!"), Some(0));
        assert_eq!(base64_error("eHl6!"), Some(4));
        assert_eq!(base64_error("eHl6e"), Some(4));
        assert_eq!(base64_error("eA="), Some(0));
    }
}

//! Custom resources as the real API server treats them by their structural schema (`openAPIV3Schema`): missing
//! fields with a `default` get it, fields the schema does not declare are pruned (unless
//! `x-kubernetes-preserve-unknown-fields`), nulls of fields that are not `nullable` are dropped, and values of the
//! wrong type, outside an `enum`, missing while `required`, out of an integer format's range, beyond `minimum` /
//! `maximum` / `multipleOf`, `minLength` / `maxLength` / `pattern`, `minItems` / `maxItems` or `minProperties` /
//! `maxProperties` are refused with the real server's messages.
//!
//! Not checked: CEL rules (`x-kubernetes-validations`).

use std::cell::RefCell;

use serde_json::{Map, Value};

use super::status::Cause;

/// A request's `fieldValidation`: what an unknown field of an object does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// The request fails (400).
    Strict,
    /// Pruned, with a `Warning` header per field: the server's default.
    #[default]
    Warn,
    /// Pruned silently.
    Ignore,
}

thread_local! {
    /// The directive of the request this thread is serving (the store is called synchronously from the
    /// request's handler) and the unknown fields pruned meanwhile; outside a request (the simulated
    /// controllers), unknown fields are pruned silently.
    static REQUEST: RefCell<(FieldValidation, Vec<String>)> = const { RefCell::new((FieldValidation::Ignore, Vec::new())) };
}

/// Runs `f` under `directive`; returns its result and the unknown fields that were pruned.
pub fn with_field_validation<T>(directive: FieldValidation, f: impl FnOnce() -> T) -> (T, Vec<String>) {
    /// Puts the thread back outside a request however `f` ends (a panic included).
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            REQUEST.with(|r| *r.borrow_mut() = (FieldValidation::Ignore, Vec::new()));
        }
    }
    REQUEST.with(|r| *r.borrow_mut() = (directive, Vec::new()));
    let _reset = Reset;
    let out = f();
    let pruned = REQUEST.with(|r| std::mem::take(&mut r.borrow_mut().1));
    (out, pruned)
}

/// The directive of the request being served, and a note of the unknown fields found for it.
pub fn note_unknown(fields: &[String]) -> FieldValidation {
    REQUEST.with(|r| {
        let mut r = r.borrow_mut();
        if r.0 == FieldValidation::Warn {
            r.1.extend(fields.iter().cloned());
        }
        r.0
    })
}

/// Prunes `object` in place; returns what is invalid in what is left, and the unknown fields it pruned.
pub fn prune_and_validate(schema: &Value, object: &mut Value) -> (Vec<Cause>, Vec<String>) {
    let mut causes = Vec::new();
    let mut unknown = Vec::new();
    if let Some(root) = object.as_object_mut() {
        apply_defaults(schema, root, true);
        // apiVersion, kind and metadata are the API server's, whatever the schema says.
        for (key, value) in root.iter_mut() {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = property(schema, key) {
                walk(s, value, key, &mut causes, &mut unknown);
            }
        }
        let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        note_pruned(schema, root, "", preserve, true, &mut unknown);
        root.retain(|k, v| {
            matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || kept(schema, k, v, preserve)
        });
        required(schema, root, "", &mut causes);
    }
    unknown.sort();
    (causes, unknown)
}

/// Records the fields of `map` the schema does not declare (nulls dropped by `kept` are not unknown). At the
/// root and in embedded resources, apiVersion, kind and metadata are always known.
fn note_pruned(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    preserve: bool,
    resource: bool,
    unknown: &mut Vec<String>,
) {
    if preserve {
        return;
    }
    for k in map.keys() {
        let always = resource && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
        if !always && !declared(schema, k) {
            unknown.push(join(path, k));
        }
    }
}

/// Whether the schema declares `key`: a property, or any key of a map (`additionalProperties`).
fn declared(schema: &Value, key: &str) -> bool {
    schema.get("properties").and_then(|p| p.get(key)).is_some()
        || schema.get("additionalProperties").is_some_and(|a| a.is_object() || a == &Value::Bool(true))
}

/// Whether a field stays: declared (or preserved), and not a null its schema does not allow. Undeclared fields
/// that are preserved, and keys of a map without a schema, keep their nulls.
fn kept(schema: &Value, key: &str, value: &Value, preserve: bool) -> bool {
    if !declared(schema, key) {
        return preserve;
    }
    match property(schema, key) {
        Some(s) => !value.is_null() || nullable(Some(s)),
        None => true,
    }
}

fn property<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

fn nullable(schema: Option<&Value>) -> bool {
    schema.is_some_and(|s| s.get("nullable") == Some(&Value::Bool(true)))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// The name the real server's validator gives a JSON value's type.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> Cause {
    let got = type_name(got);
    Cause {
        reason: "FieldValueTypeInvalid",
        message: format!("Invalid value: \"{got}\": {path} in body must be of type {expected}: \"{got}\""),
        field: path.to_string(),
    }
}

fn walk(schema: &Value, value: &mut Value, path: &str, causes: &mut Vec<Cause>, unknown: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if int_or_string {
        if !(value.is_string() || value.as_i64().is_some() || value.as_u64().is_some()) {
            causes.push(wrong_type(path, "integer,string", value));
        }
        return;
    }
    let format = schema.get("format").and_then(Value::as_str);
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(map) = value.as_object_mut() else {
                causes.push(wrong_type(path, "object", value));
                return;
            };
            walk_object(schema, map, path, causes, unknown);
        }
        Some("array") => {
            let Some(items) = value.as_array_mut() else {
                causes.push(wrong_type(path, "array", value));
                return;
            };
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), causes, unknown);
                }
            }
        }
        Some("integer") => match &*value {
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                let fits = match format {
                    Some("int32") => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                    _ => true,
                };
                if !fits {
                    causes.push(format_cause(path, "int32"));
                }
            }
            Value::Number(_) => {
                // A fraction: the type named by the format, and the format's own complaint.
                causes.push(wrong_type(path, format.unwrap_or("integer"), value));
                if let Some(f) = format {
                    causes.push(format_cause(path, f));
                }
            }
            other => causes.push(wrong_type(path, "integer", other)),
        },
        Some("number") if !value.is_number() => causes.push(wrong_type(path, "number", value)),
        Some("string") if !value.is_string() => causes.push(wrong_type(path, "string", value)),
        Some("boolean") if !value.is_boolean() => causes.push(wrong_type(path, "boolean", value)),
        _ => {}
    }
    bounds(schema, value, path, causes);
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            message: format!("Unsupported value: {value}: supported values: {}", list.join(", ")),
            field: path.to_string(),
        });
    }
}

/// Fills the declared properties that are missing (or null without `nullable`) with their schema's `default`.
/// A resource's apiVersion, kind and metadata are left alone.
fn apply_defaults(schema: &Value, map: &mut Map<String, Value>, resource: bool) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
    for (key, property) in properties {
        if resource && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let Some(default) = property.get("default") else { continue };
        let missing = match map.get(key) {
            None => true,
            Some(Value::Null) => !nullable(Some(property)),
            Some(_) => false,
        };
        if missing {
            map.insert(key.clone(), default.clone());
        }
    }
}

/// `minimum`, `maximum`, `multipleOf`, lengths, `pattern`, item and property counts.
fn bounds(schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    let limit = |k: &str| schema.get(k).filter(|v| v.is_number());
    let flag = |k: &str| schema.get(k) == Some(&Value::Bool(true));
    let invalid = |detail: String| Cause::invalid(path, value, &detail);
    match value {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(max) = limit("maximum") {
                let exclusive = flag("exclusiveMaximum");
                if x > max.as_f64().unwrap_or(f64::MAX)
                    || (exclusive && x >= max.as_f64().unwrap_or(f64::MAX))
                {
                    let op = if exclusive { "less than" } else { "less than or equal to" };
                    causes.push(invalid(format!("{path} in body should be {op} {max}")));
                }
            }
            if let Some(min) = limit("minimum") {
                let exclusive = flag("exclusiveMinimum");
                if x < min.as_f64().unwrap_or(f64::MIN)
                    || (exclusive && x <= min.as_f64().unwrap_or(f64::MIN))
                {
                    let op = if exclusive { "greater than" } else { "greater than or equal to" };
                    causes.push(invalid(format!("{path} in body should be {op} {min}")));
                }
            }
            if let Some(factor) = limit("multipleOf").and_then(Value::as_f64).filter(|f| *f > 0.0) {
                let q = x / factor;
                if (q - q.round()).abs() > 1e-9 {
                    causes.push(invalid(format!(
                        "{path} in body should be a multiple of {}",
                        limit("multipleOf").expect("set")
                    )));
                }
            }
        }
        Value::String(text) => {
            let chars = text.chars().count() as u64;
            if let Some(max) = limit("maxLength").and_then(Value::as_u64)
                && chars > max
            {
                let unit = if max == 1 { "byte" } else { "bytes" };
                causes.push(Cause {
                    reason: "FieldValueTooLong",
                    message: format!("Too long: may not be more than {max} {unit}"),
                    field: path.to_string(),
                });
            }
            if let Some(min) = limit("minLength").and_then(Value::as_u64)
                && chars < min
            {
                causes.push(invalid(format!("{path} in body should be at least {min} chars long")));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(text))
            {
                causes.push(invalid(format!("{path} in body should match '{pattern}'")));
            }
        }
        Value::Array(items) => counts(schema, path, items.len(), ("maxItems", "minItems", "items"), causes),
        Value::Object(map) => {
            counts(schema, path, map.len(), ("maxProperties", "minProperties", "properties"), causes)
        }
        _ => {}
    }
}

/// `maxItems`/`minItems` of a list or `maxProperties`/`minProperties` of an object of `n` entries.
fn counts(
    schema: &Value,
    path: &str,
    n: usize,
    (max_key, min_key, what): (&str, &str, &str),
    causes: &mut Vec<Cause>,
) {
    let n = n as u64;
    if let Some(max) = schema.get(max_key).and_then(Value::as_u64)
        && n > max
    {
        let unit = if max == 1 { "item" } else { "items" };
        causes.push(Cause {
            reason: "FieldValueTooMany",
            message: format!("Too many: {n}: must have at most {max} {unit}"),
            field: path.to_string(),
        });
    }
    if let Some(min) = schema.get(min_key).and_then(Value::as_u64)
        && n < min
    {
        causes.push(Cause::invalid(
            path,
            &n.into(),
            &format!("{path} in body should have at least {min} {what}"),
        ));
    }
}

fn format_cause(path: &str, format: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        message: format!(
            "Invalid value: \"\": Checked value must be of type integer with format {format} in {path}"
        ),
        field: "<nil>".into(),
    }
}

fn walk_object(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    causes: &mut Vec<Cause>,
    unknown: &mut Vec<String>,
) {
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let embedded = schema.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    let resource_field = |k: &str| embedded && matches!(k, "apiVersion" | "kind" | "metadata");
    apply_defaults(schema, map, embedded);
    note_pruned(schema, map, path, preserve, embedded, unknown);
    map.retain(|k, v| resource_field(k) || kept(schema, k, v, preserve));
    for (key, value) in map.iter_mut() {
        // An embedded resource's apiVersion, kind and metadata are the API server's, as at the root.
        if resource_field(key) {
            continue;
        }
        if let Some(s) = property(schema, key) {
            walk(s, value, &join(path, key), causes, unknown);
        }
    }
    required(schema, map, path, causes);
}

fn required(schema: &Value, map: &Map<String, Value>, path: &str, causes: &mut Vec<Cause>) {
    for name in
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    {
        if !map.contains_key(name) {
            causes.push(Cause::required(&join(path, name), ""));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "replicas": {"type": "integer", "format": "int32"},
                "weight": {"type": "integer"},
                "paused": {"type": "boolean"},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "surge": {"x-kubernetes-int-or-string": true},
                "steps": {"type": "array", "items": {"type": "object", "properties": {"setWeight": {"type": "integer"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "any": {"type": "object", "additionalProperties": true},
                "pod": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}}},
                "maybe": {"type": "string", "nullable": true},
            }},
        }})
    }

    fn check(spec: Value) -> (Value, Vec<String>) {
        let mut obj =
            json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "extra": 1}, "spec": spec});
        let (causes, _) = prune_and_validate(&schema(), &mut obj);
        (obj, causes.into_iter().map(|c| format!("{}: {}", c.field, c.message)).collect())
    }

    /// The real server's answers (taken from it through the fidelity suite) for the cases it was asked.
    #[test]
    fn values_are_judged_and_unknown_fields_pruned_as_the_real_server_does() {
        let (obj, errors) = check(
            json!({"name": "x", "foo": 1, "steps": [{"setWeight": 1, "bar": 2}], "free": {"any": {"thing": 1}}, "labels": {"a": "b"}, "maybe": null, "paused": null}),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            obj["spec"],
            json!({"name": "x", "steps": [{"setWeight": 1}], "free": {"any": {"thing": 1}}, "labels": {"a": "b"}, "maybe": null})
        );
        assert_eq!(obj["metadata"]["extra"], 1, "metadata is not the schema's");
        let cases: &[(Value, &[&str])] = &[
            (
                json!({"name": "x", "weight": "two"}),
                &[
                    "spec.weight: Invalid value: \"string\": spec.weight in body must be of type integer: \"string\"",
                ],
            ),
            (
                json!({"name": "x", "replicas": 1.5}),
                &[
                    "spec.replicas: Invalid value: \"float64\": spec.replicas in body must be of type int32: \"float64\"",
                    "<nil>: Invalid value: \"\": Checked value must be of type integer with format int32 in spec.replicas",
                ],
            ),
            (
                json!({"name": "x", "replicas": 3000000000u64}),
                &[
                    "<nil>: Invalid value: \"\": Checked value must be of type integer with format int32 in spec.replicas",
                ],
            ),
            (
                json!({"name": "x", "steps": {}}),
                &[
                    "spec.steps: Invalid value: \"object\": spec.steps in body must be of type array: \"object\"",
                ],
            ),
            (
                json!({"name": "x", "surge": true}),
                &[
                    "spec.surge: Invalid value: \"boolean\": spec.surge in body must be of type integer,string: \"boolean\"",
                ],
            ),
            (
                json!({"name": "x", "mode": "c"}),
                &["spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\""],
            ),
            (
                json!({"name": "x", "steps": [{"setWeight": "x"}]}),
                &[
                    "spec.steps[0].setWeight: Invalid value: \"string\": spec.steps[0].setWeight in body must be of type integer: \"string\"",
                ],
            ),
            (json!({}), &["spec.name: Required value"]),
        ];
        for (spec, want) in cases {
            assert_eq!(check(spec.clone()).1, *want, "{spec}");
        }
        // The pruned fields, by path, for fieldValidation.
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {}, "top": 1,
            "spec": {"name": "x", "foo": 1, "steps": [{"bar": 2}], "free": {"kept": 1}}});
        let (_, unknown) = prune_and_validate(&schema(), &mut obj);
        assert_eq!(unknown, ["spec.foo", "spec.steps[0].bar", "top"]);
        // Kept as the real server keeps them: nulls in preserved data, keys of a map without a schema, and an
        // embedded resource's metadata whatever its schema says (its other unknown fields are unknown).
        let mut obj = json!({"spec": {"name": "x", "free": {"a": null}, "any": {"k": 1, "n": null},
            "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}, "spec": {}, "zz": 1}}});
        let (errors, unknown) = prune_and_validate(&schema(), &mut obj);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(unknown, ["spec.pod.zz"]);
        assert_eq!(obj["spec"]["free"], json!({"a": null}));
        assert_eq!(obj["spec"]["any"], json!({"k": 1, "n": null}));
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}, "spec": {}});
        assert_eq!(obj["spec"]["pod"], pod);
    }
}

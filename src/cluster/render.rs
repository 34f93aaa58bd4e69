//! Response shapes chosen by the `Accept` header: full objects, `PartialObjectMetadata`, or `Table` for kubectl.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::object;
use super::registry::{PrinterColumn, ResourceType};
use super::selector::LabelSelector;

/// What the client asked to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The objects themselves.
    Full,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList` (kube-rs metadata API).
    Metadata,
    /// `meta.k8s.io/v1` `Table` (kubectl get).
    Table,
}

impl Format {
    /// Picks the first form in the `Accept` header the server can produce.
    pub fn from_accept(accept: &str) -> Format {
        for part in accept.split(',') {
            let params: Vec<&str> = part.split(';').map(str::trim).collect();
            let as_ = params.iter().find_map(|p| p.strip_prefix("as="));
            let group = params.iter().find_map(|p| p.strip_prefix("g="));
            match (as_, group) {
                (Some("Table"), Some("meta.k8s.io")) => return Format::Table,
                (Some("PartialObjectMetadata") | Some("PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                    return Format::Metadata;
                }
                (Some(_), _) => continue,
                (None, _) => return Format::Full,
            }
        }
        Format::Full
    }
}

/// The object as served at `api_version` (custom resources are stored once and read at any served version).
pub fn at_version<'a>(obj: &'a Value, api_version: &str) -> Cow<'a, Value> {
    if obj.get("apiVersion").and_then(Value::as_str) == Some(api_version) {
        Cow::Borrowed(obj)
    } else {
        let mut o = obj.clone();
        if let Some(m) = o.as_object_mut() {
            m.insert("apiVersion".into(), json!(api_version));
        }
        Cow::Owned(o)
    }
}

/// `PartialObjectMetadata` for one object.
pub fn metadata_only(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// A short age like kubectl prints (`42s`, `5m`, `3h`, `2d`).
pub fn age(ts: &str) -> String {
    let Some(t) = object::parse_time(ts) else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s if s < 8 * 86400 => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn path_value<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()) {
        cur = cur.get(seg)?;
    }
    Some(cur)
}

fn cell(obj: &Value, col: &PrinterColumn) -> Value {
    let count = |p: &str| obj.get(p).and_then(Value::as_object).map(Map::len).unwrap_or(0);
    match col.json_path.as_str() {
        "$ready" => {
            let statuses = obj.pointer("/status/containerStatuses").and_then(Value::as_array);
            let total = obj.pointer("/spec/containers").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            let ready = statuses.map(|s| s.iter().filter(|c| c["ready"] == json!(true)).count()).unwrap_or(0);
            json!(format!("{ready}/{total}"))
        }
        "$restarts" => {
            let statuses = obj.pointer("/status/containerStatuses").and_then(Value::as_array);
            json!(
                statuses
                    .map(|s| s.iter().filter_map(|c| c["restartCount"].as_i64()).sum::<i64>())
                    .unwrap_or(0)
            )
        }
        "$podip" => none_if_empty(obj.pointer("/status/podIPs/0/ip").and_then(Value::as_str).unwrap_or("")),
        "$node" => none_if_empty(object::str_at(obj, "/spec/nodeName")),
        "$nominated" => none_if_empty(object::str_at(obj, "/status/nominatedNodeName")),
        "$gates" => {
            let gates =
                obj.pointer("/spec/readinessGates").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            if gates == 0 {
                json!("<none>")
            } else {
                let conditions = obj.pointer("/status/conditions").and_then(Value::as_array);
                let met = obj
                    .pointer("/spec/readinessGates")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|g| {
                        conditions
                            .into_iter()
                            .flatten()
                            .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
                    });
                json!(format!("{}/{gates}", met.count()))
            }
        }
        "$containers" | "$images" => {
            let field = if col.json_path == "$images" { "image" } else { "name" };
            let containers = obj.pointer("/spec/template/spec/containers").and_then(Value::as_array);
            let names: Vec<&str> =
                containers.into_iter().flatten().filter_map(|c| c[field].as_str()).collect();
            json!(names.join(","))
        }
        "$selector" => json!(
            obj.pointer("/spec/selector")
                .and_then(|s| LabelSelector::from_object(s).ok())
                .map(|s| s.to_query())
                .filter(|q| !q.is_empty())
                .unwrap_or_else(|| "<none>".into())
        ),
        "$datacount" => json!(count("data") + count("binaryData")),
        "$deployready" => json!(format!(
            "{}/{}",
            obj.pointer("/status/readyReplicas").and_then(Value::as_i64).unwrap_or(0),
            obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)
        )),
        "$completions" => json!(format!(
            "{}/{}",
            obj.pointer("/status/succeeded").and_then(Value::as_i64).unwrap_or(0),
            obj.pointer("/spec/completions").and_then(Value::as_i64).unwrap_or(1)
        )),
        "$jobstatus" => {
            let conds =
                obj.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
            let has = |t: &str| conds.iter().any(|c| c["type"] == t && c["status"] == "True");
            json!(if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else {
                "Running"
            })
        }
        path => match (path_value(obj, path), col.type_.as_str()) {
            (None, _) | (Some(Value::Null), _) => Value::Null,
            (Some(Value::String(s)), "date") => json!(age(s)),
            (Some(v @ Value::String(_)), _)
            | (Some(v @ Value::Number(_)), _)
            | (Some(v @ Value::Bool(_)), _) => v.clone(),
            (Some(other), _) => json!(other.to_string()),
        },
    }
}

fn none_if_empty(s: &str) -> Value {
    json!(if s.is_empty() { "<none>" } else { s })
}

/// The columns in the order a table has them: the type's default ones, Age (unless the type has a date column
/// of its own), then the `-o wide` ones; `None` stands for Age.
fn ordered(rt: &ResourceType) -> Vec<Option<&PrinterColumn>> {
    let mut out: Vec<Option<&PrinterColumn>> =
        rt.columns.iter().filter(|c| c.priority == 0).map(Some).collect();
    if !rt.columns.iter().any(|c| c.type_ == "date") {
        out.push(None);
    }
    out.extend(rt.columns.iter().filter(|c| c.priority != 0).map(Some));
    out
}

/// Column definitions: Name, then the type's columns with Age among them.
pub fn columns(rt: &ResourceType) -> Vec<Value> {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in ordered(rt) {
        cols.push(match c {
            Some(c) => {
                let type_ = if c.type_ == "date" { "string" } else { c.type_.as_str() };
                json!({"name": c.name, "type": type_, "format": "", "description": "", "priority": c.priority})
            }
            None => json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}),
        });
    }
    cols
}

/// One table row.
pub fn row(rt: &ResourceType, obj: &Value, include_object: &str) -> Value {
    let mut cells = vec![json!(object::name(obj))];
    cells.extend(ordered(rt).into_iter().map(|c| match c {
        Some(c) => cell(obj, c),
        None => json!(age(object::str_at(obj, "/metadata/creationTimestamp"))),
    }));
    let object = match include_object {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => metadata_only(obj),
    };
    json!({"cells": cells, "object": object})
}

/// A `Table` for a list of objects.
pub fn table(rt: &ResourceType, objs: &[Value], meta: Value, include_object: &str, headers: bool) -> Value {
    let rows: Vec<Value> = objs.iter().map(|o| row(rt, o, include_object)).collect();
    let cols = if headers { columns(rt) } else { vec![] };
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_picks_table_metadata_or_full() {
        assert_eq!(
            Format::from_accept(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Format::Table
        );
        assert_eq!(
            Format::from_accept("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            Format::Metadata
        );
        assert_eq!(Format::from_accept("application/json"), Format::Full);
        assert_eq!(
            Format::from_accept(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Format::Full
        );
    }
}

//! The `scale` subresource: an `autoscaling/v1` Scale read from and written to the paths the type declares.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use super::parse_body;
use super::patches::{PatchKind, apply_patch};
use crate::cluster::object;
use crate::cluster::registry::ResourceType;
use crate::cluster::selector::LabelSelector;
use crate::cluster::status::{ApiError, ApiResult, Cause, MODIFIED_MESSAGE};
use crate::cluster::store::Subresource;
use axum::response::Response;

fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()) {
        cur = cur.get(seg)?;
    }
    Some(cur)
}

fn set_path(obj: &mut Value, path: &str, v: Value) {
    let segs: Vec<&str> = path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()).collect();
    let mut cur = obj;
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let m = cur.as_object_mut().expect("made an object above");
        if i + 1 == segs.len() {
            m.insert(seg.to_string(), v);
            return;
        }
        cur = m.entry(seg.to_string()).or_insert_with(|| json!({}));
    }
}

/// The `autoscaling/v1` Scale view of an object.
pub(super) fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let Some(paths) = &rt.scale else {
        return Value::Null;
    };
    let spec = get_path(obj, &paths.spec_replicas).and_then(Value::as_i64).unwrap_or(0);
    let status = get_path(obj, &paths.status_replicas).and_then(Value::as_i64).unwrap_or(0);
    let selector = paths.label_selector.as_deref().and_then(|p| get_path(obj, p)).and_then(|sel| match sel {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => LabelSelector::from_object(sel).ok().map(|s| s.to_query()),
        _ => None,
    });
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut m = json!({
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
        "creationTimestamp": meta.get("creationTimestamp"),
    });
    if rt.namespaced {
        m["namespace"] = meta.get("namespace").cloned().unwrap_or(Value::Null);
    }
    let mut status_obj = json!({"replicas": status});
    if let Some(s) = selector {
        status_obj["selector"] = json!(s);
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": m, "spec": {"replicas": spec}, "status": status_obj})
}

pub(super) fn scale_write(
    ctx: &Ctx<'_>,
    name: &str,
    is_patch: bool,
    content_type: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let rt = ctx.rt.clone();
    let Some(paths) = rt.scale.clone() else {
        return Err(ApiError::no_route());
    };
    let kind = if is_patch {
        match content_type {
            "application/json-patch+json" => PatchKind::Json,
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => PatchKind::Merge,
            _ => {
                return Err(ApiError::unsupported_patch(&[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                ]));
            }
        }
    } else {
        PatchKind::Merge
    };
    let input = parse_body(body)?;
    let (obj, _) = ctx.app.store.modify(&rt, ctx.ns, name, Subresource::Main, ctx.dry_run, |cur| {
        let cur = cur.ok_or_else(|| ApiError::not_found(&rt.gr(), name))?;
        let scale = if is_patch {
            let mut s = scale_of(&rt, cur);
            apply_patch(kind, &mut s, &input)?;
            s
        } else {
            input.clone()
        };
        let wanted = object::resource_version(&scale);
        if !wanted.is_empty() && wanted != object::resource_version(cur) {
            return Err(ApiError::conflict(&rt.gr(), name, MODIFIED_MESSAGE));
        }
        let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::invalid(
                "Scale",
                "autoscaling",
                name,
                vec![Cause::invalid("spec.replicas", &json!(replicas), "must be greater than or equal to 0")],
            ));
        }
        let mut new = cur.clone();
        set_path(&mut new, &paths.spec_replicas, json!(replicas));
        Ok(new)
    })?;
    Ok(ctx.respond(StatusCode::OK, &scale_of(&rt, &obj)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_path_creates_intermediate_maps() {
        let mut v = json!({});
        set_path(&mut v, ".spec.size", json!(3));
        assert_eq!(v, json!({"spec": {"size": 3}}));
    }
}

//! PATCH requests: JSON, merge, strategic-merge and server-side apply patches, the managed fields apply records,
//! and the identity a patch may not change.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::parse_body;
use super::{Ctx, Params};
use crate::cluster::object;
use crate::cluster::patch;
use crate::cluster::registry::ResourceType;
use crate::cluster::status::Cause;
use crate::cluster::status::{ApiError, ApiResult};
use crate::cluster::store::Subresource;
use axum::response::Response;

/// Which patch format a content type names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

fn patch_kind(rt: &ResourceType, content_type: &str) -> ApiResult<PatchKind> {
    let mut accepted = vec!["application/json-patch+json", "application/merge-patch+json"];
    if !rt.custom {
        accepted.push("application/strategic-merge-patch+json");
    }
    accepted.push("application/apply-patch+yaml");
    match content_type {
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/strategic-merge-patch+json" if !rt.custom => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" => Ok(PatchKind::Apply),
        _ => Err(ApiError::unsupported_patch(&accepted)),
    }
}

pub(super) fn apply_patch(kind: PatchKind, target: &mut Value, p: &Value) -> ApiResult<()> {
    let r = match kind {
        PatchKind::Json => patch::json_patch(target, p),
        PatchKind::Merge | PatchKind::Apply => {
            patch::merge_patch(target, p);
            Ok(())
        }
        PatchKind::Strategic => patch::strategic_merge(target, p),
    };
    r.map_err(|e| ApiError {
        code: 422,
        reason: "Invalid",
        message: e.to_string(),
        details: None,
        retry_after: None,
    })
}

/// `obj` with the `time` of every `managedFields` entry removed.
fn without_managed_times(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(list) = obj.pointer_mut("/metadata/managedFields").and_then(Value::as_array_mut) {
        for e in list.iter_mut().filter_map(Value::as_object_mut) {
            e.remove("time");
        }
    }
    obj
}

/// This manager's previous `Apply` field set for `sub`, and every other entry's field set.
fn managed_fields(obj: &Value, manager: &str, sub: Subresource) -> (Option<Value>, Vec<Value>) {
    let mut previous = None;
    let mut others = Vec::new();
    let entries = obj.pointer("/metadata/managedFields").and_then(Value::as_array);
    for e in entries.into_iter().flatten() {
        let Some(fields) = e.get("fieldsV1") else { continue };
        let mine = e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
            && (e.get("subresource").and_then(Value::as_str) == Some("status"))
                == (sub == Subresource::Status);
        if mine {
            previous = Some(fields.clone());
        } else {
            others.push(fields.clone());
        }
    }
    (previous, others)
}

/// Records (or refreshes) this manager's `Apply` entry in `metadata.managedFields`.
fn record_apply(obj: &mut Value, manager: &str, applied: &Value, sub: Subresource) {
    let entry = json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": applied.get("apiVersion").cloned().unwrap_or(Value::Null),
        "time": object::now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": patch::fields_v1(applied),
    });
    let mut entry = entry;
    if sub == Subresource::Status {
        entry["subresource"] = json!("status");
    }
    let meta = object::meta_mut(obj);
    let list = meta.entry("managedFields").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(a) = list.as_array_mut() {
        let same = |e: &Value| {
            e.get("manager").and_then(Value::as_str) == Some(manager)
                && e.get("operation").and_then(Value::as_str) == Some("Apply")
                && e.get("subresource") == entry.get("subresource")
        };
        match a.iter_mut().find(|e| same(e)) {
            Some(e) => *e = entry,
            None => a.push(entry),
        }
    }
}

pub(super) fn patch_object(
    ctx: &Ctx<'_>,
    params: &Params,
    name: &str,
    sub: Subresource,
    content_type: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let kind = patch_kind(&ctx.rt, content_type)?;
    let p = parse_body(body)?;
    let rt = ctx.rt.clone();
    let manager = params.get("fieldManager").unwrap_or("").to_string();
    if kind == PatchKind::Apply {
        if manager.is_empty() {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![Cause::required("fieldManager", "is required for apply patch")],
            ));
        }
        if !p.is_object() {
            return Err(ApiError::bad_request("apply patch must be a single object"));
        }
        let applied_name = object::name(&p);
        if !applied_name.is_empty() && applied_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({applied_name}) does not match the name on the URL ({name})"
            )));
        }
    }
    let ns = ctx.ns.to_string();
    let (obj, created) = ctx.app.store.modify(&rt, ctx.ns, name, sub, ctx.dry_run, |cur| {
        match (cur, kind) {
            (None, PatchKind::Apply) if sub == Subresource::Status => {
                Err(ApiError::not_found(&rt.gr(), name))
            }
            (None, PatchKind::Apply) => {
                let mut obj = p.clone();
                let m = object::meta_mut(&mut obj);
                m.insert("name".into(), json!(name));
                if rt.namespaced {
                    m.entry("namespace").or_insert_with(|| json!(ns));
                }
                record_apply(&mut obj, &manager, &p, sub);
                Ok(obj)
            }
            (None, _) => Err(ApiError::not_found(&rt.gr(), name)),
            (Some(cur), PatchKind::Apply) => {
                let mut new = cur.clone();
                let mut applied = p.clone();
                if let Some(m) = applied.as_object_mut() {
                    // apiVersion/kind are checked, not merged, and the stored ones win.
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                // Fields this manager applied before and no longer applies go, unless another manager owns
                // them too, as the real server's field ownership does.
                let (previous, others) = managed_fields(cur, &manager, sub);
                if let Some(previous) = previous {
                    patch::remove_dropped(&mut new, &previous, &patch::fields_v1(&p), &others);
                }
                patch::apply_merge(&mut new, &applied);
                record_apply(&mut new, &manager, &p, sub);
                // Re-applying what is already there writes nothing: the refreshed timestamp alone is not a change
                // (upstream's IgnoreManagedFieldsTimestampsTransformer), so appliers that watch see no event.
                if without_managed_times(&new) == without_managed_times(cur) {
                    return Ok(cur.clone());
                }
                Ok(new)
            }
            (Some(cur), k) => {
                let mut new = cur.clone();
                apply_patch(k, &mut new, &p)?;
                same_identity(&rt, cur, &mut new)?;
                Ok(new)
            }
        }
    })?;
    let code = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(ctx.respond(code, &ctx.render(&obj)))
}

/// A patch may not change what the object is: its name and namespace (the URL's), uid, kind or apiVersion, refused
/// as the real server refuses them. A patch that removes the namespace or uid leaves the stored one, as there.
fn same_identity(rt: &ResourceType, cur: &Value, new: &mut Value) -> ApiResult<()> {
    let (name, patched) = (object::name(cur), object::name(new));
    if patched != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({patched}) does not match the name on the URL ({name})"
        )));
    }
    let ns = object::namespace(cur);
    match object::namespace(new) {
        "" if !ns.is_empty() => {
            object::meta_mut(new).insert("namespace".into(), json!(ns));
        }
        "" => {}
        patched if patched != ns => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        _ => {}
    }
    let uid = |o: &Value| o.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
    if uid(new).is_null() {
        object::meta_mut(new).insert("uid".into(), uid(cur));
    } else if uid(new) != uid(cur) {
        let cause = Cause::invalid("metadata.uid", &uid(new), "field is immutable");
        return Err(ApiError::invalid(&rt.kind, &rt.group, name, vec![cause]));
    }
    for field in ["kind", "apiVersion"] {
        if new.get(field) != cur.get(field) {
            let value = new.get(field).cloned().unwrap_or(Value::Null);
            let cause = Cause::invalid(field, &value, &format!("a patch cannot change the object's {field}"));
            return Err(ApiError::invalid(&rt.kind, &rt.group, name, vec![cause]));
        }
    }
    Ok(())
}

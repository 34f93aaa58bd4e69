//! Writes: creates and updates, with what each goes through on the real server (type checks, defaults,
//! validation, pruning by schema or Go type, size limits, optimistic concurrency, generation).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{DeleteOptions, EventType, Propagation, State, Subresource};
use crate::cluster::builtin_validation;
use crate::cluster::object;
use crate::cluster::patch;
use crate::cluster::protobuf;
use crate::cluster::registry::{self, GroupResource, ResourceType};
use crate::cluster::schema;
use crate::cluster::status::{ApiError, ApiResult, Cause, MODIFIED_MESSAGE};

/// Everything outside `metadata` (and `status`, when the type has a status subresource) — generation tracks it.
fn spec_part(rt: &ResourceType, v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if rt.status {
            m.remove("status");
        }
    }
    c
}

impl State {
    /// A custom resource pruned and validated by its CRD's schema for the object's version; a built-in object
    /// pruned of the fields its type does not have.
    /// Unknown fields count only when this write brings them: not those a stored object (`old`) still has from
    /// before its type's schema said otherwise.
    pub(super) fn by_schema(
        &self,
        rt: &ResourceType,
        name: &str,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> ApiResult<()> {
        let version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("")
            .to_string();
        let (causes, mut unknown, stale) = if rt.custom {
            let Some(schema) = self.crd_schema(rt, &version) else { return Ok(()) };
            let (causes, unknown) = schema::prune_and_validate(&schema, obj);
            let stale = match old {
                Some(old) if !unknown.is_empty() => schema::prune_and_validate(&schema, &mut old.clone()).1,
                _ => vec![],
            };
            (causes, unknown, stale)
        } else {
            // A built-in kind: the fields its Go type lacks are dropped, as decoding drops them.
            let Some(unknown) = protobuf::prune_unknown(obj) else { return Ok(()) };
            let stale = match old {
                Some(old) if !unknown.is_empty() => {
                    protobuf::prune_unknown(&mut old.clone()).unwrap_or_default()
                }
                _ => vec![],
            };
            (vec![], unknown, stale)
        };
        unknown.retain(|f| !stale.contains(f));
        if !unknown.is_empty() && schema::note_unknown(&unknown) == schema::FieldValidation::Strict {
            let fields: Vec<String> = unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
            return Err(ApiError::bad_request(format!(
                "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
                fields.join(", "),
                kind = rt.kind
            )));
        }
        if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(&rt.kind, &rt.group, name, causes)) }
    }

    pub(super) fn is_crd(rt: &ResourceType) -> bool {
        !rt.custom && rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
    }

    pub(super) fn is_namespace(rt: &ResourceType) -> bool {
        !rt.custom && rt.group.is_empty() && rt.plural == "namespaces"
    }

    pub(super) fn check_types(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body of the request must be a JSON object"));
        }
        if patch::depth(obj, patch::MAX_DEPTH + 1) > patch::MAX_DEPTH {
            return Err(ApiError::bad_request(format!(
                "the object is nested deeper than {} levels",
                patch::MAX_DEPTH
            )));
        }
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        if !kind.is_empty() && kind != rt.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                rt.kind
            )));
        }
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
        let served = rt.versions.iter().any(|v| rt.api_version(v) == api_version);
        if !api_version.is_empty() && !served {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                rt.api_version(rt.preferred_version())
            )));
        }
        let m = obj.as_object_mut().expect("checked above");
        m.insert("kind".into(), json!(rt.kind));
        if api_version.is_empty() {
            m.insert("apiVersion".into(), json!(rt.api_version(rt.preferred_version())));
        }
        Ok(())
    }

    pub(super) fn create(
        &mut self,
        rt: &ResourceType,
        req_ns: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        Self::check_types(rt, &mut obj)?;
        builtin_validation::decode(rt, &obj)?;
        let gr = rt.gr();
        let body_ns = object::namespace(&obj).to_string();
        if rt.namespaced {
            if body_ns.is_empty() {
                object::meta_mut(&mut obj).insert("namespace".into(), json!(req_ns));
            } else if body_ns != req_ns && !req_ns.is_empty() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        } else {
            object::meta_mut(&mut obj).remove("namespace");
        }
        let ns = object::namespace(&obj).to_string();
        let mut name = object::name(&obj).to_string();
        if name.is_empty() {
            let generate = object::str_at(&obj, "/metadata/generateName").to_string();
            if generate.is_empty() {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    "",
                    vec![Cause::required("metadata.name", "name or generateName is required")],
                ));
            }
            // Upstream retries a clash on a generated name; a few tries is plenty with 27^5 suffixes.
            for _ in 0..8 {
                name = format!("{generate}{}", self.rng.name_suffix());
                if self.get(rt, &ns, &name).is_none() {
                    break;
                }
            }
            object::meta_mut(&mut obj).insert("name".into(), json!(name));
        }
        if let Some(cause) = object::validate_name(rt, &name) {
            return Err(ApiError::invalid(&rt.kind, &rt.group, &name, vec![cause]));
        }
        if rt.namespaced {
            if ns.is_empty() {
                return Err(ApiError::bad_request("the server could not find the requested resource"));
            }
            match self.namespace_obj(&ns) {
                None => {
                    return Err(ApiError::not_found(&GroupResource::new("", "namespaces"), &ns));
                }
                Some(n) if object::is_deleting(n) => {
                    return Err(ApiError::forbidden(
                        &gr,
                        &name,
                        &format!(
                            "unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if rt.custom && self.crd_obj(rt).is_some_and(|c| object::is_deleting(c)) {
            return Err(ApiError {
                code: 405,
                reason: "MethodNotAllowed",
                message: "create not allowed while custom resource definition is terminating".into(),
                details: None,
                retry_after: None,
            });
        }
        if self.get(rt, &ns, &name).is_some() {
            return Err(ApiError::already_exists(&gr, &name));
        }
        let uid = self.rng.uuid();
        {
            let m = object::meta_mut(&mut obj);
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(object::now()));
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("selfLink");
            if rt.generation {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        if rt.status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        let mut next_ip = self.next_ip;
        object::apply_defaults(rt, &mut obj, &mut || {
            next_ip += 1;
            format!("10.96.{}.{}", (next_ip >> 8) & 0xFF, next_ip & 0xFF)
        });
        self.next_ip = next_ip;
        if rt.status
            && let Some(s) = object::initial_status(rt, &obj)
            && let Some(m) = obj.as_object_mut()
        {
            m.insert("status".into(), s);
        }
        let mut causes = object::validate(rt, &obj, None);
        causes.extend(builtin_validation::causes(rt, &obj));
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.kind, &rt.group, &name, causes));
        }
        self.by_schema(rt, &name, &mut obj, None)?;
        builtin_validation::size(&obj)?;
        let crd_type = if Self::is_crd(rt) { Some(self.check_crd(&obj)?) } else { None };
        if dry_run {
            return Ok(Arc::new(obj));
        }
        // Expired Events go first, so that the new one's resourceVersion is the newest.
        if rt.plural == "events" && !rt.custom {
            self.expire_events(rt);
        }
        let rv = self.bump();
        object::meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        if let Some(crt) = crd_type {
            self.registry.set_custom(&name, crt);
        }
        let dangling = self.only_dangling_owners(&obj);
        let obj = Arc::new(obj);
        self.put(&gr, (if rt.namespaced { ns.clone() } else { String::new() }, name.clone()), obj.clone());
        self.record(gr, EventType::Added, obj.clone(), None);
        if dangling {
            // What the garbage collector does moments later: its owners are gone (or never were).
            let _ = self.delete(rt, &ns, &name, &DeleteOptions::default());
        }
        Ok(obj)
    }

    pub(super) fn check_crd(&self, crd: &Value) -> ApiResult<ResourceType> {
        let crt = registry::from_crd(crd)?;
        if self.registry.gr_taken(&crt.gr(), object::name(crd)) {
            return Err(ApiError::invalid(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                object::name(crd),
                vec![Cause::invalid(
                    "spec.names.plural",
                    &json!(crt.plural),
                    "is already in use by another resource in this group",
                )],
            ));
        }
        Ok(crt)
    }

    pub(super) fn update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        mut body: Value,
        sub: Subresource,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        Self::check_types(rt, &mut body)?;
        let body_name = object::name(&body);
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let body_ns = object::namespace(&body);
        if rt.namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(format!(
                "the namespace of the object ({body_ns}) does not match the namespace on the URL ({ns})"
            )));
        }
        let cur = self.get(rt, ns, name).cloned().ok_or_else(|| ApiError::not_found(&rt.gr(), name))?;
        let wanted = object::resource_version(&body);
        if wanted.is_empty() && rt.custom {
            // Custom resources allow no unconditional update (their strategy's AllowUnconditionalUpdate is false).
            let cause = Cause {
                reason: "FieldValueInvalid",
                message: "Invalid value: 0x0: must be specified for an update".into(),
                field: "metadata.resourceVersion".into(),
            };
            return Err(ApiError::invalid(&rt.kind, &rt.group, name, vec![cause]));
        }
        if !wanted.is_empty() && wanted != object::resource_version(&cur) {
            return Err(ApiError::conflict(&rt.gr(), name, MODIFIED_MESSAGE));
        }
        self.commit_update(rt, cur, body, sub, dry_run)
    }

    /// Applies an update whose preconditions already passed.
    pub(super) fn commit_update(
        &mut self,
        rt: &ResourceType,
        old: Arc<Value>,
        mut new: Value,
        sub: Subresource,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        let gr = rt.gr();
        let name = object::name(&old).to_string();
        if !new.is_object() {
            return Err(ApiError::bad_request("the body of the request must be a JSON object"));
        }
        if patch::depth(&new, patch::MAX_DEPTH + 1) > patch::MAX_DEPTH {
            return Err(ApiError::bad_request(format!(
                "the object is nested deeper than {} levels",
                patch::MAX_DEPTH
            )));
        }
        if sub == Subresource::Status {
            let status = new.get("status").cloned();
            new = (*old).clone();
            if let Some(m) = new.as_object_mut() {
                match status {
                    Some(s) => m.insert("status".into(), s),
                    None => m.remove("status"),
                };
            }
        } else if rt.status
            && let Some(m) = new.as_object_mut()
        {
            match old.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
        if let (Some(m), Some(o)) = (new.as_object_mut(), old.as_object()) {
            for k in ["apiVersion", "kind"] {
                if let Some(v) = o.get(k) {
                    m.insert(k.into(), v.clone());
                }
            }
        }
        let old_meta = old.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
        {
            let m = object::meta_mut(&mut new);
            for k in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_meta.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
            if !m.contains_key("managedFields")
                && let Some(mf) = old_meta.get("managedFields")
            {
                m.insert("managedFields".into(), mf.clone());
            }
            m.remove("selfLink");
            m.insert("resourceVersion".into(), old_meta.get("resourceVersion").cloned().unwrap_or(json!("")));
        }
        if object::is_deleting(&old) {
            let before = object::finalizers(&old);
            let added: Vec<String> =
                object::finalizers(&new).into_iter().filter(|f| !before.contains(f)).collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    &name,
                    vec![Cause::forbidden(
                        "metadata.finalizers",
                        &format!(
                            "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                    )],
                ));
            }
        }
        if sub == Subresource::Main {
            if rt.plural == "services" && !rt.custom {
                for k in ["clusterIP", "clusterIPs"] {
                    if new.pointer(&format!("/spec/{k}")).is_none()
                        && let (Some(v), Some(spec)) = (
                            old.pointer(&format!("/spec/{k}")),
                            new.get_mut("spec").and_then(Value::as_object_mut),
                        )
                    {
                        spec.insert(k.into(), v.clone());
                    }
                }
            }
            let mut next_ip = self.next_ip;
            object::apply_defaults(rt, &mut new, &mut || {
                next_ip += 1;
                format!("10.96.{}.{}", (next_ip >> 8) & 0xFF, next_ip & 0xFF)
            });
            self.next_ip = next_ip;
            builtin_validation::decode(rt, &new)?;
            let mut causes = object::validate(rt, &new, Some(&old));
            causes.extend(builtin_validation::causes(rt, &new));
            if !causes.is_empty() {
                return Err(ApiError::invalid(&rt.kind, &rt.group, &name, causes));
            }
        }
        self.by_schema(rt, &name, &mut new, Some(&old))?;
        builtin_validation::size(&new)?;
        let crd_type = if Self::is_crd(rt) { Some(self.check_crd(&new)?) } else { None };
        if rt.generation && spec_part(rt, &new) != spec_part(rt, &old) {
            let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            object::meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        if new == *old {
            // Upstream skips the write entirely for a no-op update: same resourceVersion, no watch event.
            return Ok(old);
        }
        if dry_run {
            return Ok(Arc::new(new));
        }
        let rv = self.bump();
        object::meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let key = self.key_of(rt, &new);
        let new = Arc::new(new);
        if object::is_deleting(&new) && object::finalizers(&new).is_empty() {
            self.remove_now(rt, key, new.clone(), old, Propagation::Background);
            return Ok(new);
        }
        if let Some(crt) = crd_type {
            self.registry.set_custom(&name, crt);
        }
        self.put(&gr, key, new.clone());
        self.record(gr, EventType::Modified, new.clone(), Some(old));
        Ok(new)
    }
}

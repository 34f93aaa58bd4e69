//! Removal: deletion with preconditions and finalizers, namespace and CustomResourceDefinition teardown,
//! garbage collection of dependents (as the real garbage collector decides it), and Event expiry.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{DeleteOptions, EventType, Key, Propagation, State};
use crate::cluster::object;
use crate::cluster::registry::{GroupResource, ResourceType};
use crate::cluster::status::{ApiError, ApiResult};

impl State {
    /// Removes an object now (its final state already carries the new resourceVersion), then cascades.
    pub(super) fn remove_now(
        &mut self,
        rt: &ResourceType,
        key: Key,
        last: Arc<Value>,
        old: Arc<Value>,
        policy: Propagation,
    ) {
        let gr = rt.gr();
        self.take(&gr, &key);
        self.record(gr, EventType::Deleted, last.clone(), Some(old));
        let owner_ns = rt.namespaced.then(|| key.0.clone());
        self.collect_dependents(object::uid(&last), owner_ns.as_deref(), policy);
        if Self::is_crd(rt)
            && let Some(crt) = self.registry.remove_custom(&key.1)
        {
            // Anything left (normally nothing: teardown waits for instances) goes with the type.
            let keys: Vec<Key> =
                self.objects.get(&crt.gr()).map(|m| m.keys().cloned().collect()).unwrap_or_default();
            for k in keys {
                if let Some(o) = self.take(&crt.gr(), &k) {
                    self.bump();
                    self.record(crt.gr(), EventType::Deleted, o.clone(), Some(o));
                }
            }
            self.objects.remove(&crt.gr());
        }
        if rt.namespaced {
            self.maybe_finish_namespace(&key.0);
        }
        if rt.custom {
            self.maybe_finish_crd(rt);
        }
    }

    pub(super) fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<(Arc<Value>, bool)> {
        let gr = rt.gr();
        let cur = self.get(rt, ns, name).cloned().ok_or_else(|| ApiError::not_found(&gr, name))?;
        if let Some(uid) = &opts.uid
            && uid != object::uid(&cur)
        {
            return Err(ApiError::conflict(
                &gr,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    object::uid(&cur)
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && rv != object::resource_version(&cur)
        {
            return Err(ApiError::conflict(
                &gr,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in meta: {}",
                    object::resource_version(&cur)
                ),
            ));
        }
        if opts.dry_run {
            return Ok((cur, false));
        }
        let key = self.key_of(rt, &cur);
        if Self::is_namespace(rt) {
            if matches!(name, "default" | "kube-system" | "kube-public") {
                return Err(ApiError::forbidden(&gr, name, "this namespace may not be deleted"));
            }
            return Ok(self.delete_namespace(rt, key, cur));
        }
        if Self::is_crd(rt) {
            return Ok(self.delete_crd(rt, key, cur));
        }
        if object::is_deleting(&cur) {
            return Ok((cur, false));
        }
        if opts.propagation == Propagation::Foreground {
            let owner_ns = rt.namespaced.then(|| key.0.clone());
            self.collect_dependents(object::uid(&cur), owner_ns.as_deref(), Propagation::Background);
        }
        if !object::finalizers(&cur).is_empty() {
            if opts.propagation == Propagation::Orphan {
                let owner_ns = rt.namespaced.then(|| key.0.clone());
                self.collect_dependents(object::uid(&cur), owner_ns.as_deref(), Propagation::Orphan);
            }
            let marked = self.mark_deleting(rt, &key, &cur);
            return Ok((marked, false));
        }
        let rv = self.bump();
        let mut last = (*cur).clone();
        object::meta_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
        let last = Arc::new(last);
        self.remove_now(rt, key, last.clone(), cur, opts.propagation);
        Ok((last, true))
    }

    pub(super) fn mark_deleting(&mut self, rt: &ResourceType, key: &Key, cur: &Arc<Value>) -> Arc<Value> {
        let mut new = (**cur).clone();
        let rv = self.bump();
        {
            let m = object::meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(object::now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            if rt.generation {
                let g = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
                m.insert("generation".into(), json!(g + 1));
            }
        }
        if Self::is_namespace(rt)
            && let Some(s) = new.as_object_mut().map(|m| m.entry("status").or_insert_with(|| json!({})))
            && let Some(s) = s.as_object_mut()
        {
            s.insert("phase".into(), json!("Terminating"));
        }
        let new = Arc::new(new);
        self.put(&rt.gr(), key.clone(), new.clone());
        self.record(rt.gr(), EventType::Modified, new.clone(), Some(cur.clone()));
        new
    }

    /// Deletes the Events of this type older than the TTL (the API server lets etcd expire them).
    pub(super) fn expire_events(&mut self, rt: &ResourceType) {
        let ttl = jiff::SignedDuration::try_from(self.event_ttl).unwrap_or(jiff::SignedDuration::MAX);
        // Against the same whole-second clock that stamps creationTimestamp.
        let now = object::parse_time(&object::now()).unwrap_or_else(jiff::Timestamp::now);
        let cutoff = now.checked_sub(ttl).unwrap_or(jiff::Timestamp::MIN);
        let gr = rt.gr();
        let expired: Vec<Key> = self
            .event_times
            .iter()
            .take_while(|(t, _, _)| *t <= cutoff)
            .filter(|(_, g, _)| *g == gr)
            .map(|(_, _, k)| k.clone())
            .collect();
        for key in expired {
            let _ = self.delete(rt, &key.0, &key.1, &DeleteOptions::default());
        }
    }

    /// Whether an owner with this uid exists for a dependent in namespace `ns`: in that namespace or cluster-wide
    /// (an owner in another namespace counts as absent, as for the real garbage collector).
    pub(super) fn owner_exists(&self, uid: &str, ns: &str) -> bool {
        self.index.place_of(uid).is_some_and(|(_, k)| k.0.is_empty() || k.0 == ns)
    }

    /// Whether `obj` has owner references and every one of them dangles: the garbage collector deletes such
    /// an object.
    pub(super) fn only_dangling_owners(&self, obj: &Value) -> bool {
        let owners = object::owner_uids(obj);
        let ns = object::namespace(obj);
        !owners.is_empty() && !owners.iter().any(|u| self.owner_exists(u, ns))
    }

    /// Deletes or orphans everything owned by `owner_uid`.
    pub(super) fn collect_dependents(
        &mut self,
        owner_uid: &str,
        owner_ns: Option<&str>,
        policy: Propagation,
    ) {
        if owner_uid.is_empty() {
            return;
        }
        let deps: Vec<(GroupResource, Key)> = self
            .index
            .dependents_of(owner_uid)
            .into_iter()
            .filter(|(_, k)| owner_ns.is_none_or(|ns| k.0 == ns))
            .collect();
        for (gr, key) in deps {
            let Some(rt) = self.registry.by_gr(&gr) else {
                continue;
            };
            let Some(cur) = self.objects.get(&gr).and_then(|m| m.get(&key)).cloned() else {
                continue;
            };
            // Like the garbage collector, delete a dependent only when no other owner of it is left; otherwise
            // drop the reference to the owner that went.
            let other_owner_lives = object::owner_uids(&cur)
                .iter()
                .any(|u| u != owner_uid && self.owner_exists(u, object::namespace(&cur)));
            if policy == Propagation::Orphan || other_owner_lives {
                let mut new = (*cur).clone();
                if let Some(refs) = new.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
                    if refs.is_empty()
                        && let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
                    {
                        m.remove("ownerReferences");
                    }
                }
                let rv = self.bump();
                object::meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
                let new = Arc::new(new);
                self.put(&gr, key, new.clone());
                self.record(gr, EventType::Modified, new, Some(cur));
            } else {
                // Errors here mean the dependent vanished meanwhile; nothing to do.
                let _ = self.delete(&rt, &key.0, &key.1, &DeleteOptions::default());
            }
        }
    }

    pub(super) fn delete_namespace(
        &mut self,
        rt: &ResourceType,
        key: Key,
        cur: Arc<Value>,
    ) -> (Arc<Value>, bool) {
        let ns = key.1.clone();
        let marked = if object::is_deleting(&cur) { cur } else { self.mark_deleting(rt, &key, &cur) };
        let mut victims: Vec<(GroupResource, Key)> = Vec::new();
        for (gr, map) in &self.objects {
            for (k, o) in map {
                if k.0 == ns && !object::is_deleting(o) {
                    victims.push((gr.clone(), k.clone()));
                }
            }
        }
        for (gr, k) in victims {
            if let Some(vrt) = self.registry.by_gr(&gr) {
                let _ = self.delete(&vrt, &k.0, &k.1, &DeleteOptions::default());
            }
        }
        let gone = self.maybe_finish_namespace(&ns);
        let last = if gone {
            self.last_deleted(rt).unwrap_or(marked)
        } else {
            self.get(rt, "", &ns).cloned().unwrap_or(marked)
        };
        (last, gone)
    }

    pub(super) fn last_deleted(&self, rt: &ResourceType) -> Option<Arc<Value>> {
        self.history
            .iter()
            .rev()
            .find(|e| e.gr == rt.gr() && e.kind == EventType::Deleted)
            .map(|e| e.object.clone())
    }

    /// Removes a terminating namespace once it is empty. Returns whether it is gone.
    pub(super) fn maybe_finish_namespace(&mut self, ns: &str) -> bool {
        let Some(nsobj) = self.namespace_obj(ns).cloned() else {
            return true;
        };
        if !object::is_deleting(&nsobj) || !object::finalizers(&nsobj).is_empty() {
            return false;
        }
        if self.index.namespace_holds_anything(ns) {
            return false;
        }
        let ns_rt = self.registry.by_gr(&GroupResource::new("", "namespaces"));
        let Some(ns_rt) = ns_rt else { return false };
        let rv = self.bump();
        let mut last = (*nsobj).clone();
        object::meta_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
        if let Some(spec) = last.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("finalizers".into(), json!([]));
        }
        let last = Arc::new(last);
        self.remove_now(&ns_rt, (String::new(), ns.to_string()), last, nsobj, Propagation::Background);
        true
    }

    pub(super) fn delete_crd(&mut self, rt: &ResourceType, key: Key, cur: Arc<Value>) -> (Arc<Value>, bool) {
        let marked = if object::is_deleting(&cur) { cur } else { self.mark_deleting(rt, &key, &cur) };
        if let Some(crt) = self.registry.custom_by_crd(&key.1) {
            let victims: Vec<Key> = self
                .objects
                .get(&crt.gr())
                .map(|m| m.iter().filter(|(_, o)| !object::is_deleting(o)).map(|(k, _)| k.clone()).collect())
                .unwrap_or_default();
            for k in victims {
                let _ = self.delete(&crt, &k.0, &k.1, &DeleteOptions::default());
            }
            let gone = self.maybe_finish_crd(&crt);
            let last = if gone { self.last_deleted(rt).unwrap_or(marked) } else { marked };
            return (last, gone);
        }
        (marked, false)
    }

    /// Removes a terminating CRD once it has no instances. Returns whether it is gone.
    pub(super) fn maybe_finish_crd(&mut self, crt: &ResourceType) -> bool {
        let Some(crd) = self.crd_obj(crt).cloned() else {
            return true;
        };
        if !object::is_deleting(&crd) || !object::finalizers(&crd).is_empty() {
            return false;
        }
        if self.objects.get(&crt.gr()).is_some_and(|m| !m.is_empty()) {
            return false;
        }
        let Some(crd_rt) =
            self.registry.by_gr(&GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions"))
        else {
            return false;
        };
        let rv = self.bump();
        let mut last = (*crd).clone();
        object::meta_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
        let last = Arc::new(last);
        let name = object::name(&crd).to_string();
        self.remove_now(&crd_rt, (String::new(), name), last, crd, Propagation::Background);
        true
    }
}

/// When an Event was last recorded: its newest timestamp (creation, the legacy lastTimestamp, or a series' last
/// observation), since the API server renews an Event's TTL whenever it is written.
pub(super) fn last_recorded(event: &Value) -> Option<jiff::Timestamp> {
    ["/metadata/creationTimestamp", "/lastTimestamp", "/deprecatedLastTimestamp", "/series/lastObservedTime"]
        .iter()
        .filter_map(|p| object::parse_time(object::str_at(event, p)))
        .max()
}

//! In-memory object storage: one global resourceVersion counter and a bounded event history that watches read
//! from. Lists and snapshots are in `store/list.rs`; creates and updates with the checks a write goes through
//! in `store/write.rs`; removal and the lifecycle rules around it (finalizers, garbage collection of
//! dependents, namespace and CustomResourceDefinition teardown) in `store/delete.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::object::{self, Rng};
use super::registry::{self, GroupResource, Registry, ResourceType};
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult, MODIFIED_MESSAGE};

mod delete;
mod index;
mod list;
mod write;

/// `(namespace, name)`; namespace is "" for cluster-scoped objects. Ordered like upstream's list order.
pub type Key = (String, String);

/// The kind of change a watch event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Event {
    /// resourceVersion the change was committed at.
    pub rv: u64,
    /// Which resource it belongs to.
    pub gr: GroupResource,
    /// Added / Modified / Deleted.
    pub kind: EventType,
    /// The object after the change (for Deleted: its last state, stamped with the deletion's resourceVersion).
    pub object: Arc<Value>,
    /// The object before the change (None for Added); lets watchers see selector transitions and lets lists
    /// be rebuilt at older resourceVersions.
    pub old: Option<Arc<Value>>,
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself (ignores `.status` when the type has a status subresource).
    Main,
    /// Only `.status`.
    Status,
}

/// `DeleteOptions.propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Dependents are deleted after the owner (the default).
    #[default]
    Background,
    /// Dependents are deleted before the owner (approximated: synchronously, in the same request).
    Foreground,
    /// Dependents lose their owner reference and stay.
    Orphan,
}

/// Parsed `DeleteOptions`.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Cascading policy.
    pub propagation: Propagation,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// A list request's options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Page size.
    pub limit: Option<usize>,
    /// Continue token from a previous page.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// Items in key order.
    pub items: Vec<Arc<Value>>,
    /// The resourceVersion the list is consistent with.
    pub resource_version: u64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Items left after this page (only without selectors, like upstream).
    pub remaining: Option<usize>,
}

struct State {
    rv: u64,
    objects: HashMap<GroupResource, BTreeMap<Key, Arc<Value>>>,
    /// Kept in step with `objects` by `put` and `take`.
    index: index::Index,
    history: VecDeque<Arc<Event>>,
    /// How many resourceVersions the history holds (an Event's two versions share one).
    history_rvs: usize,
    history_limit: usize,
    compacted: u64,
    registry: Registry,
    rng: Rng,
    next_ip: u32,
    /// How long Events are kept; older ones go when the next Event of their type is created.
    event_ttl: std::time::Duration,
    /// Every stored Event (both Event types) by when it was last recorded, so that a sweep for expired Events
    /// reads only those.
    event_times: std::collections::BTreeSet<(jiff::Timestamp, GroupResource, Key)>,
}

/// Whether objects of `gr` are Events (core/v1 or events.k8s.io/v1), which expire.
fn is_event(gr: &GroupResource) -> bool {
    gr.resource == "events" && (gr.group.is_empty() || gr.group == "events.k8s.io")
}

/// The object store shared by the HTTP layer and the simulated controllers.
pub struct Store {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("resource_version", &self.current_rv()).finish()
    }
}

impl Store {
    /// An empty store (no namespaces yet) keeping at most `history_limit` events for watches.
    pub fn new(history_limit: usize) -> Arc<Self> {
        let (changed, _) = watch::channel(0);
        Arc::new(Store {
            state: Mutex::new(State {
                rv: 0,
                objects: HashMap::new(),
                index: index::Index::default(),
                history: VecDeque::new(),
                history_rvs: 0,
                history_limit: history_limit.max(1),
                compacted: 0,
                registry: Registry::default(),
                rng: Rng::from_entropy(),
                next_ip: 1,
                event_ttl: std::time::Duration::from_secs(3600),
                event_times: Default::default(),
            }),
            changed,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every write commits at its end), so carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish<T>(&self, st: MutexGuard<'_, State>, r: T) -> T {
        let rv = st.rv;
        drop(st);
        self.changed.send_if_modified(|cur| {
            let moved = *cur != rv;
            *cur = rv;
            moved
        });
        r
    }

    /// The newest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver that changes whenever something is committed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Finds a served type by request coordinates.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.lock().registry.lookup(group, version, plural)
    }

    /// Finds a served type by group/resource.
    pub fn by_gr(&self, gr: &GroupResource) -> Option<Arc<ResourceType>> {
        self.lock().registry.by_gr(gr)
    }

    /// A snapshot of the registry (for discovery).
    pub fn registry(&self) -> Registry {
        self.lock().registry.clone()
    }

    /// Changes how long Events are kept.
    pub fn set_event_ttl(&self, ttl: std::time::Duration) {
        self.lock().event_ttl = ttl;
    }

    /// Changes how many events are retained; older watch positions then get 410 Gone.
    pub fn set_history_limit(&self, limit: usize) {
        let mut st = self.lock();
        st.history_limit = limit.max(1);
        st.trim_history();
    }

    /// Drops the whole event history, so every resourceVersion issued so far becomes too old to watch from.
    pub fn compact(&self) {
        let mut st = self.lock();
        st.history.clear();
        st.history_rvs = 0;
        st.compacted = st.rv;
    }

    /// Events committed after `rv`, or `Err(oldest usable rv)` when some were already dropped.
    pub fn events_after(&self, rv: u64) -> Result<Vec<Arc<Event>>, u64> {
        let st = self.lock();
        if rv < st.compacted {
            return Err(st.compacted);
        }
        let start = st.history.partition_point(|e| e.rv <= rv);
        Ok(st.history.iter().skip(start).cloned().collect())
    }

    /// Whether a watch may start at `rv` (its events are all retained).
    pub fn check_watch_start(&self, rv: u64) -> ApiResult<()> {
        let st = self.lock();
        if rv < st.compacted { Err(ApiError::too_old(rv, st.compacted)) } else { Ok(()) }
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> ApiResult<Arc<Value>> {
        let st = self.lock();
        st.get(rt, ns, name).cloned().ok_or_else(|| ApiError::not_found(&rt.gr(), name))
    }

    /// One object, or None.
    /// A custom resource's `openAPIV3Schema` for `version`, from its CRD (`None` for built-in kinds).
    pub fn crd_schema(&self, rt: &ResourceType, version: &str) -> Option<Value> {
        self.lock().crd_schema(rt, version)
    }

    pub fn get_opt(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock().get(rt, ns, name).cloned()
    }

    /// The objects of type `rt` that name `owner_uid` among their owners (from the owner index, without
    /// reading the others).
    pub fn dependents(&self, rt: &ResourceType, owner_uid: &str) -> Vec<Arc<Value>> {
        let st = self.lock();
        let gr = rt.gr();
        st.index
            .dependents_of(owner_uid)
            .into_iter()
            .filter(|(g, _)| *g == gr)
            .filter_map(|(g, key)| st.objects.get(&g)?.get(&key).cloned())
            .collect()
    }

    /// Lists objects (`ns` None = all namespaces / cluster-scoped).
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>, opts: &ListOptions) -> ApiResult<ListResult> {
        self.lock().list(rt, ns, opts)
    }

    /// Creates an object (POST semantics). `req_ns` is the namespace from the URL.
    pub fn create(
        &self,
        rt: &ResourceType,
        req_ns: &str,
        obj: Value,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        let mut st = self.lock();
        let r = st.create(rt, req_ns, obj, dry_run);
        self.finish(st, r)
    }

    /// Replaces an object (PUT semantics, optimistic concurrency on `metadata.resourceVersion`).
    pub fn update(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        body: Value,
        sub: Subresource,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        let mut st = self.lock();
        let r = st.update(rt, ns, name, body, sub, dry_run);
        self.finish(st, r)
    }

    /// Atomic read-modify-write: `f` sees the current object (None if absent) and returns the new full object.
    /// When the object is absent and `f` still returns one, it is created (server-side apply). Returns the stored
    /// object and whether it was created.
    pub fn modify(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        sub: Subresource,
        dry_run: bool,
        f: impl FnOnce(Option<&Value>) -> ApiResult<Value>,
    ) -> ApiResult<(Arc<Value>, bool)> {
        let mut st = self.lock();
        let cur = st.get(rt, ns, name).cloned();
        let r = match cur {
            None => match f(None) {
                Ok(obj) => st.create(rt, ns, obj, dry_run).map(|o| (o, true)),
                Err(e) => Err(e),
            },
            Some(cur) => match f(Some(&cur)) {
                Ok(new) => {
                    let wanted = object::resource_version(&new);
                    if !wanted.is_empty() && wanted != object::resource_version(&cur) {
                        Err(ApiError::conflict(&rt.gr(), name, MODIFIED_MESSAGE))
                    } else {
                        st.commit_update(rt, cur, new, sub, dry_run).map(|o| (o, false))
                    }
                }
                Err(e) => Err(e),
            },
        };
        self.finish(st, r)
    }

    /// Read-modify-write of an existing object: `f` edits a copy; NotFound if absent.
    pub fn mutate(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        sub: Subresource,
        f: impl FnOnce(&mut Value),
    ) -> ApiResult<Arc<Value>> {
        self.modify(rt, ns, name, sub, false, |cur| {
            let mut new = cur.cloned().ok_or_else(|| ApiError::not_found(&rt.gr(), name))?;
            f(&mut new);
            Ok(new)
        })
        .map(|(o, _)| o)
    }

    /// Deletes an object. Returns its last state and whether it is gone (false while finalizers hold it).
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<(Arc<Value>, bool)> {
        let mut st = self.lock();
        let r = st.delete(rt, ns, name, opts);
        self.finish(st, r)
    }

    /// Deletes every object a list with `list` would return; returns their last states.
    pub fn delete_collection(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> ApiResult<Vec<Arc<Value>>> {
        let mut st = self.lock();
        let mut l = list.clone();
        l.limit = None;
        l.continue_token = None;
        let r = st.list(rt, ns, &l).and_then(|res| {
            let mut out = Vec::new();
            for item in res.items {
                match st.delete(rt, object::namespace(&item), object::name(&item), opts) {
                    Ok((o, _)) => out.push(o),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        });
        self.finish(st, r)
    }

    /// Every stored object, CRDs first (for saving state).
    pub fn dump(&self) -> Vec<Arc<Value>> {
        let st = self.lock();
        // An Event's events.k8s.io copy is made again from its v1 one.
        let mut grs: Vec<&GroupResource> =
            st.objects.keys().filter(|gr| **gr != GroupResource::new("events.k8s.io", "events")).collect();
        grs.sort_by_key(|gr| {
            (gr.resource != "customresourcedefinitions", gr.resource != "namespaces", (*gr).clone())
        });
        grs.iter().flat_map(|gr| st.objects[*gr].values().cloned()).collect()
    }

    /// Stores an object exactly as given (uid, timestamps and status kept; a fresh resourceVersion is assigned).
    pub fn restore(&self, obj: Value) -> anyhow::Result<()> {
        let mut st = self.lock();
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let rt = st
            .registry
            .by_kind(api_version, kind)
            .ok_or_else(|| anyhow::anyhow!("no served resource for {api_version} {kind}"))?;
        let r = if object::uid(&obj).is_empty() {
            let ns = object::namespace(&obj).to_string();
            st.create(&rt, &ns, obj, false).map(|_| ()).map_err(anyhow::Error::from)
        } else {
            let key = st.key_of(&rt, &obj);
            let mut obj = obj;
            let rv = st.bump();
            object::meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
            if rt.plural == "customresourcedefinitions"
                && rt.group == "apiextensions.k8s.io"
                && let Ok(crt) = registry::from_crd(&obj)
            {
                st.registry.set_custom(object::name(&obj), crt);
            }
            let obj = Arc::new(obj);
            st.put(&rt.gr(), key, obj.clone());
            st.record(rt.gr(), EventType::Added, obj, None);
            Ok(())
        };
        self.finish(st, r)
    }
}

impl State {
    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Keeps the newest `history_limit` resourceVersions' changes.
    fn trim_history(&mut self) {
        while self.history_rvs > self.history_limit {
            let Some(e) = self.history.pop_front() else { break };
            self.compacted = e.rv;
            if self.history.front().is_none_or(|next| next.rv != e.rv) {
                self.history_rvs -= 1;
            }
        }
    }

    fn record(&mut self, gr: GroupResource, kind: EventType, object: Arc<Value>, old: Option<Arc<Value>>) {
        let mirror = super::events::counterpart(&gr);
        if self.history.back().is_none_or(|last| last.rv != self.rv) {
            self.history_rvs += 1;
        }
        self.history.push_back(Arc::new(Event {
            rv: self.rv,
            gr: gr.clone(),
            kind,
            object: object.clone(),
            old,
        }));
        // An Event is one object at two versions: its other version changes with it, at the same
        // resourceVersion.
        if let Some(other) = mirror {
            let key = (object::namespace(&object).to_string(), object::name(&object).to_string());
            let converted = Arc::new(super::events::convert(&gr, &object));
            let previous = match kind {
                EventType::Deleted => self.take(&other, &key),
                _ => {
                    let previous = self.objects.get(&other).and_then(|m| m.get(&key)).cloned();
                    self.put(&other, key, converted.clone());
                    previous
                }
            };
            let kind = match (kind, &previous) {
                (EventType::Modified, None) => EventType::Added,
                (k, _) => k,
            };
            self.history.push_back(Arc::new(Event {
                rv: self.rv,
                gr: other,
                kind,
                object: converted,
                old: previous,
            }));
        }
        self.trim_history();
    }

    fn key_of(&self, rt: &ResourceType, obj: &Value) -> Key {
        let ns = if rt.namespaced { object::namespace(obj).to_string() } else { String::new() };
        (ns, object::name(obj).to_string())
    }

    fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<&Arc<Value>> {
        let ns = if rt.namespaced { ns } else { "" };
        self.objects.get(&rt.gr())?.get(&(ns.to_string(), name.to_string()))
    }

    fn put(&mut self, gr: &GroupResource, key: Key, obj: Arc<Value>) {
        let place = (gr.clone(), key);
        let previous = self.objects.entry(gr.clone()).or_default().insert(place.1.clone(), obj.clone());
        self.index.stored(&place, previous.as_deref(), &obj);
        if is_event(gr) {
            if let Some(p) = &previous {
                self.forget_event_time(gr, &place.1, p);
            }
            if let Some(t) = delete::last_recorded(&obj) {
                self.event_times.insert((t, place.0, place.1));
            }
        }
    }

    fn forget_event_time(&mut self, gr: &GroupResource, key: &Key, event: &Value) {
        if let Some(t) = delete::last_recorded(event) {
            self.event_times.remove(&(t, gr.clone(), key.clone()));
        }
    }

    /// Removes what is stored at `key`, if anything.
    fn take(&mut self, gr: &GroupResource, key: &Key) -> Option<Arc<Value>> {
        let removed = self.objects.get_mut(gr)?.remove(key)?;
        self.index.removed(&(gr.clone(), key.clone()), &removed);
        if is_event(gr) {
            self.forget_event_time(gr, key, &removed);
        }
        Some(removed)
    }

    fn namespace_obj(&self, ns: &str) -> Option<&Arc<Value>> {
        self.objects.get(&GroupResource::new("", "namespaces"))?.get(&(String::new(), ns.to_string()))
    }

    /// A custom resource's `openAPIV3Schema` for `version`, from its CRD.
    fn crd_schema(&self, rt: &ResourceType, version: &str) -> Option<Value> {
        if !rt.custom {
            return None;
        }
        self.crd_obj(rt)?
            .pointer("/spec/versions")?
            .as_array()?
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?
            .pointer("/schema/openAPIV3Schema")
            .cloned()
    }

    fn crd_obj(&self, rt: &ResourceType) -> Option<&Arc<Value>> {
        self.objects
            .get(&GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions"))?
            .get(&(String::new(), format!("{}.{}", rt.plural, rt.group)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Creates, updates that change owners, deletions with cascades and a namespace teardown leave the index
    /// as a fresh one built from the objects.
    /// An Event's two versions share a resourceVersion, and take one of the history's slots.
    #[test]
    fn the_history_window_counts_resource_versions() {
        let store = Store::new(3);
        let rt = |g: &str, p: &str| store.by_gr(&GroupResource::new(g, p)).expect("built in");
        let (nss, events) = (rt("", "namespaces"), rt("", "events"));
        store.create(&nss, "", json!({"metadata": {"name": "a"}}), false).expect("ns");
        let start = store.current_rv();
        let event = |i: usize| json!({"metadata": {"name": format!("e{i}")}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "R", "message": "m"});
        for i in 0..3 {
            store.create(&events, "a", event(i), false).expect("event");
        }
        let after = store.events_after(start).expect("three resourceVersions fit in a window of three");
        assert_eq!(after.len(), 6, "each Event at both versions");
        assert_eq!(after.iter().map(|e| e.rv).collect::<std::collections::BTreeSet<_>>().len(), 3);
        store.create(&events, "a", event(3), false).expect("event");
        assert!(store.events_after(start).is_err(), "the oldest resourceVersion went");
        assert_eq!(store.events_after(start + 1).expect("the newest three").len(), 6);
    }

    #[test]
    fn the_index_follows_every_change() {
        let store = Store::new(1000);
        let rt = |g: &str, p: &str| store.by_gr(&GroupResource::new(g, p)).expect("built in");
        let (nss, cms, secrets) = (rt("", "namespaces"), rt("", "configmaps"), rt("", "secrets"));
        let consistent = |what: &str| {
            let st = store.lock();
            assert_eq!(st.index, index::Index::rebuilt(&st.objects), "after {what}");
        };
        store.create(&nss, "", json!({"metadata": {"name": "a"}}), false).expect("ns");
        let owner = store.create(&cms, "a", json!({"metadata": {"name": "owner"}}), false).expect("owner");
        let owner_ref = |o: &Value| json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": object::name(o), "uid": object::uid(o)}]);
        for i in 0..5 {
            let dep = json!({"metadata": {"name": format!("dep{i}"), "ownerReferences": owner_ref(&owner)}});
            store.create(&secrets, "a", dep, false).expect("dependent");
        }
        consistent("creates");
        let other = store.create(&cms, "a", json!({"metadata": {"name": "other"}}), false).expect("other");
        store
            .mutate(&secrets, "a", "dep0", Subresource::Main, |s| {
                s["metadata"]["ownerReferences"] = owner_ref(&other)
            })
            .expect("re-owned");
        consistent("an update changing the owner");
        store.delete(&cms, "a", "owner", &DeleteOptions::default()).expect("delete owner");
        consistent("a cascading delete");
        let left: Vec<String> = store
            .list(&secrets, Some("a"), &ListOptions::default())
            .expect("list")
            .items
            .iter()
            .map(|s| object::name(s).to_string())
            .collect();
        assert_eq!(left, ["dep0"], "the owner's dependents went, the re-owned one stayed");
        store.delete(&nss, "", "a", &DeleteOptions::default()).expect("delete namespace");
        consistent("a namespace teardown");
        assert!(store.get_opt(&nss, "", "a").is_none(), "the emptied namespace is gone");
    }

    #[test]
    fn event_times_owner_lookups_and_namespace_lists_follow_the_objects() {
        let store = Store::new(1000);
        let rt = |g: &str, p: &str| store.by_gr(&GroupResource::new(g, p)).expect("built in");
        let (nss, cms, secrets, events) =
            (rt("", "namespaces"), rt("", "configmaps"), rt("", "secrets"), rt("", "events"));
        let times_consistent = |what: &str| {
            let st = store.lock();
            let rebuilt: std::collections::BTreeSet<_> = st
                .objects
                .iter()
                .filter(|(gr, _)| is_event(gr))
                .flat_map(|(gr, m)| {
                    m.iter().filter_map(|(k, o)| Some((delete::last_recorded(o)?, gr.clone(), k.clone())))
                })
                .collect();
            assert_eq!(st.event_times, rebuilt, "after {what}");
        };
        for ns in ["a", "b"] {
            store.create(&nss, "", json!({"metadata": {"name": ns}}), false).expect("ns");
        }
        let event = |name: &str, last: &str| json!({"metadata": {"name": name}, "involvedObject": {"kind": "Pod", "name": "p"}, "lastTimestamp": last});
        store.create(&events, "a", event("old", "2020-01-01T00:00:00Z"), false).expect("event");
        store.create(&events, "b", event("later", "2999-01-01T00:00:00Z"), false).expect("event");
        times_consistent("creates");
        store.mutate(&events, "b", "later", Subresource::Main, |e| e["count"] = json!(2)).expect("patched");
        times_consistent("an update");
        store.delete(&events, "a", "old", &DeleteOptions::default()).expect("delete");
        times_consistent("a delete");

        // Dependents by owner, of one type only.
        let owner = store.create(&cms, "a", json!({"metadata": {"name": "owner"}}), false).expect("owner");
        let owned =
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": object::uid(&owner)}]);
        for name in ["s1", "s2"] {
            store
                .create(&secrets, "a", json!({"metadata": {"name": name, "ownerReferences": owned}}), false)
                .expect("dependent");
        }
        store
            .create(&cms, "a", json!({"metadata": {"name": "c1", "ownerReferences": owned}}), false)
            .expect("dependent");
        let names =
            |objs: Vec<Arc<Value>>| objs.iter().map(|o| object::name(o).to_string()).collect::<Vec<_>>();
        assert_eq!(names(store.dependents(&secrets, object::uid(&owner))), ["s1", "s2"]);
        assert_eq!(names(store.dependents(&cms, object::uid(&owner))), ["c1"]);
        assert!(store.dependents(&secrets, "no-such-uid").is_empty());

        // A namespace's list, one object per page, holds its objects and no other namespace's.
        store.create(&cms, "b", json!({"metadata": {"name": "a-name-sorting-first"}}), false).expect("cm");
        let (mut seen, mut token) = (Vec::new(), None);
        loop {
            let opts = ListOptions { limit: Some(1), continue_token: token.clone(), ..Default::default() };
            let page = store.list(&cms, Some("a"), &opts).expect("list");
            seen.extend(names(page.items));
            token = page.continue_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, ["c1", "owner"]);
        let everywhere = store.list(&cms, None, &ListOptions::default()).expect("list");
        assert_eq!(names(everywhere.items), ["c1", "owner", "a-name-sorting-first"]);
    }
}

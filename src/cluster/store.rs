//! In-memory object storage: one global resourceVersion counter, a bounded event history that watches read
//! from, lists, creates and updates; removal and the lifecycle rules around it (finalizers, garbage collection
//! of dependents, namespace and CustomResourceDefinition teardown) are in `store/delete.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::builtin_validation;
use super::object::{self, Rng};
use super::registry::{self, GroupResource, Registry, ResourceType};
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult, Cause, MODIFIED_MESSAGE};

mod delete;
mod index;

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
    history_limit: usize,
    compacted: u64,
    registry: Registry,
    rng: Rng,
    next_ip: u32,
    /// How long Events are kept; older ones go when the next Event of their type is created.
    event_ttl: std::time::Duration,
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

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

fn encode_continue(rv: u64, key: &Key) -> String {
    hex_encode(&json!({"v": "meta.k8s.io/v1", "rv": rv, "start": [key.0, key.1]}).to_string())
}

fn decode_continue(token: &str) -> Option<(u64, Key)> {
    let v: Value = serde_json::from_str(&hex_decode(token)?).ok()?;
    let rv = v.get("rv")?.as_u64()?;
    let start = v.get("start")?.as_array()?;
    Some((rv, (start.first()?.as_str()?.to_string(), start.get(1)?.as_str()?.to_string())))
}

fn parse_rv(s: &str) -> ApiResult<u64> {
    s.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
}

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
                history_limit: history_limit.max(1),
                compacted: 0,
                registry: Registry::default(),
                rng: Rng::from_entropy(),
                next_ip: 1,
                event_ttl: std::time::Duration::from_secs(3600),
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

    fn trim_history(&mut self) {
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
    }

    fn record(&mut self, gr: GroupResource, kind: EventType, object: Arc<Value>, old: Option<Arc<Value>>) {
        let mirror = super::events::counterpart(&gr);
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
    }

    /// Removes what is stored at `key`, if anything.
    fn take(&mut self, gr: &GroupResource, key: &Key) -> Option<Arc<Value>> {
        let removed = self.objects.get_mut(gr)?.remove(key)?;
        self.index.removed(&(gr.clone(), key.clone()), &removed);
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

    /// A custom resource pruned and validated by its CRD's schema for the object's version; a built-in object
    /// pruned of the fields its type does not have.
    /// Unknown fields count only when this write brings them: not those a stored object (`old`) still has from
    /// before its type's schema said otherwise.
    fn by_schema(
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
            let (causes, unknown) = super::schema::prune_and_validate(&schema, obj);
            let stale = match old {
                Some(old) if !unknown.is_empty() => {
                    super::schema::prune_and_validate(&schema, &mut old.clone()).1
                }
                _ => vec![],
            };
            (causes, unknown, stale)
        } else {
            // A built-in kind: the fields its Go type lacks are dropped, as decoding drops them.
            let Some(unknown) = super::protobuf::prune_unknown(obj) else { return Ok(()) };
            let stale = match old {
                Some(old) if !unknown.is_empty() => {
                    super::protobuf::prune_unknown(&mut old.clone()).unwrap_or_default()
                }
                _ => vec![],
            };
            (vec![], unknown, stale)
        };
        unknown.retain(|f| !stale.contains(f));
        if !unknown.is_empty()
            && super::schema::note_unknown(&unknown) == super::schema::FieldValidation::Strict
        {
            let fields: Vec<String> = unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
            return Err(ApiError::bad_request(format!(
                "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
                fields.join(", "),
                kind = rt.kind
            )));
        }
        if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(&rt.kind, &rt.group, name, causes)) }
    }

    fn is_crd(rt: &ResourceType) -> bool {
        !rt.custom && rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
    }

    fn is_namespace(rt: &ResourceType) -> bool {
        !rt.custom && rt.group.is_empty() && rt.plural == "namespaces"
    }

    /// The objects of one resource as of `rv`, rebuilt by undoing newer events from the history.
    fn snapshot(&self, gr: &GroupResource, rv: u64) -> ApiResult<BTreeMap<Key, Arc<Value>>> {
        let live = self.objects.get(gr).cloned().unwrap_or_default();
        if rv >= self.rv {
            return Ok(live);
        }
        if rv < self.compacted {
            return Err(ApiError::too_old(rv, self.compacted));
        }
        let mut map = live;
        let start = self.history.partition_point(|e| e.rv <= rv);
        for e in self.history.iter().skip(start).rev().filter(|e| &e.gr == gr) {
            let key = (object::namespace(&e.object).to_string(), object::name(&e.object).to_string());
            match (&e.kind, &e.old) {
                (EventType::Added, _) => {
                    map.remove(&key);
                }
                (_, Some(old)) => {
                    map.insert(key, old.clone());
                }
                (_, None) => {}
            }
        }
        Ok(map)
    }

    fn list(&self, rt: &ResourceType, ns: Option<&str>, opts: &ListOptions) -> ApiResult<ListResult> {
        let gr = rt.gr();
        let rv_param = opts.resource_version.as_deref().unwrap_or("");
        let continuing = opts.continue_token.as_deref().is_some_and(|t| !t.is_empty());
        let forbidden = match opts.resource_version_match.as_deref().filter(|m| !m.is_empty()) {
            Some(_) if rv_param.is_empty() => {
                Some("resourceVersionMatch is forbidden unless resourceVersion is provided")
            }
            Some("Exact") if rv_param == "0" => {
                Some("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
            }
            Some(_) if continuing => Some("resourceVersionMatch is forbidden when continue is provided"),
            _ => None,
        };
        if let Some(why) = forbidden {
            return Err(ApiError::invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                vec![Cause::forbidden("resourceVersionMatch", why)],
            ));
        }
        let (snapshot_rv, start_after) = if let Some(token) =
            opts.continue_token.as_deref().filter(|t| !t.is_empty())
        {
            let (rv, key) = decode_continue(token).ok_or_else(|| {
                ApiError::bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
                )
            })?;
            if !rv_param.is_empty() && rv_param != "0" {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            if rv < self.compacted {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            (rv, Some(key))
        } else if rv_param.is_empty() || rv_param == "0" {
            (self.rv, None)
        } else {
            let want = parse_rv(rv_param)?;
            if want > self.rv {
                return Err(ApiError::too_large_rv(want, self.rv));
            }
            match opts.resource_version_match.as_deref() {
                Some("Exact") => (want, None),
                Some("NotOlderThan") | Some("") | None => (self.rv, None),
                Some(other) => {
                    return Err(ApiError::invalid(
                        "ListOptions",
                        "meta.k8s.io",
                        "",
                        vec![Cause {
                            reason: "FieldValueNotSupported",
                            message: format!(
                                "Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                            ),
                            field: "resourceVersionMatch".into(),
                        }],
                    ));
                }
            }
        };
        let map = self.snapshot(&gr, snapshot_rv)?;
        let ns = if rt.namespaced { ns.filter(|n| !n.is_empty()) } else { None };
        let matching = map
            .iter()
            .filter(|(k, _)| ns.is_none_or(|n| k.0 == n))
            .filter(|(k, _)| start_after.as_ref().is_none_or(|s| *k > s))
            .filter(|(_, o)| opts.labels.matches_object(o) && opts.fields.matches(o));
        let mut items = Vec::new();
        let mut last_key = None;
        let mut rest = 0usize;
        for (k, o) in matching {
            if opts.limit.is_some_and(|l| l > 0 && items.len() >= l) {
                rest += 1;
                continue;
            }
            items.push(o.clone());
            last_key = Some(k.clone());
        }
        let continue_token = match (rest > 0, last_key) {
            (true, Some(k)) => Some(encode_continue(snapshot_rv, &k)),
            _ => None,
        };
        let remaining =
            (continue_token.is_some() && opts.labels.is_empty() && opts.fields.is_empty()).then_some(rest);
        Ok(ListResult { items, resource_version: snapshot_rv, continue_token, remaining })
    }

    fn check_types(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body of the request must be a JSON object"));
        }
        if super::patch::depth(obj, super::patch::MAX_DEPTH + 1) > super::patch::MAX_DEPTH {
            return Err(ApiError::bad_request(format!(
                "the object is nested deeper than {} levels",
                super::patch::MAX_DEPTH
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

    fn create(
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

    fn check_crd(&self, crd: &Value) -> ApiResult<ResourceType> {
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

    fn update(
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
    fn commit_update(
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
        if super::patch::depth(&new, super::patch::MAX_DEPTH + 1) > super::patch::MAX_DEPTH {
            return Err(ApiError::bad_request(format!(
                "the object is nested deeper than {} levels",
                super::patch::MAX_DEPTH
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Creates, updates that change owners, deletions with cascades and a namespace teardown leave the index
    /// as a fresh one built from the objects.
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
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, &("ns".into(), "a/b".into()));
        assert_eq!(decode_continue(&t), Some((42, ("ns".into(), "a/b".into()))));
        assert_eq!(decode_continue("zz"), None);
    }
}

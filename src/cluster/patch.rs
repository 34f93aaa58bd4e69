//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902), an approximation of strategic merge
//! patch, and the object merge used for server-side apply.
//!
//! Strategic merge patch is approximated without OpenAPI schemas: lists under well-known field names are merged
//! by their upstream merge key (`containers`/`initContainers`/`env`/`volumes`/`imagePullSecrets` by `name`,
//! `volumeMounts` by `mountPath`, `ports` by `containerPort` or `port`, `conditions` by `type`,
//! `ownerReferences` by `uid`, `hostAliases` by `ip`), `finalizers` merge as a set, and every other list is
//! replaced. The directives `$patch: delete|replace|merge`, `$retainKeys`, `$deleteFromPrimitiveList/<field>`
//! and `$setElementOrder/<field>` are honoured (the last one only for ordering), which covers what
//! `kubectl apply` and `kubectl patch` send.

use serde_json::{Map, Value};

/// A patch that could not be applied; the server answers 422 or 400 with this text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The body is not valid for the patch type.
    #[error("{0}")]
    Malformed(String),
    /// A JSON patch `test` operation failed or a path did not exist.
    #[error("{0}")]
    Failed(String),
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn parse_pointer(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(vec![]);
    }
    let rest = path.strip_prefix('/').ok_or_else(|| {
        PatchError::Malformed(format!("invalid JSON pointer {path:?}: must start with '/'"))
    })?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String], path: &str) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| PatchError::Failed(format!("doc is missing path: {path:?}")))?;
    }
    Ok(cur)
}

/// The deepest object the server stores (by create, update or patch): well inside the 128 levels serde_json
/// parses, even wrapped in a list or a watch event, so every client can read it back, and never deep enough to
/// overflow a stack when cloned or dropped.
pub const MAX_DEPTH: usize = 100;
/// Upstream's `maxJSONPatchOperations`.
const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;
/// How many JSON nodes one patch may copy in all, so `copy` cannot double a document thousands of times.
const MAX_COPIED_NODES: usize = 1_000_000;

/// The nesting depth of `v` (a scalar is 1), counted no further than `cap`.
pub fn depth(v: &Value, cap: usize) -> usize {
    if cap == 0 {
        return 0;
    }
    let inner = match v {
        Value::Object(m) => m.values().map(|c| depth(c, cap - 1)).max().unwrap_or(0),
        Value::Array(a) => a.iter().map(|c| depth(c, cap - 1)).max().unwrap_or(0),
        _ => 0,
    };
    1 + inner
}

/// The number of JSON nodes in `v`, counted no further than `cap`.
fn nodes(v: &Value, cap: usize) -> usize {
    let mut n = 1;
    let children: Box<dyn Iterator<Item = &Value>> = match v {
        Value::Object(m) => Box::new(m.values()),
        Value::Array(a) => Box::new(a.iter()),
        _ => return 1,
    };
    for c in children {
        if n >= cap {
            break;
        }
        n += nodes(c, cap - n);
    }
    n
}

fn op_add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    let tokens = parse_pointer(path)?;
    if tokens.len() + depth(&value, MAX_DEPTH + 1) > MAX_DEPTH {
        return Err(PatchError::Failed(format!(
            "adding at {path:?} would nest the object deeper than {MAX_DEPTH} levels"
        )));
    }
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let idx = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .map_err(|_| PatchError::Failed(format!("invalid array index {last:?} in {path:?}")))?
            };
            if idx > a.len() {
                return Err(PatchError::Failed(format!("array index {idx} out of bounds in {path:?}")));
            }
            a.insert(idx, value);
            Ok(())
        }
        _ => Err(PatchError::Failed(format!("doc is missing path: {path:?}"))),
    }
}

fn op_remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let tokens = parse_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err(PatchError::Failed("cannot remove the whole document".into()));
    };
    let missing = || PatchError::Failed(format!("doc is missing path: {path:?}"));
    match parent_mut(doc, parents, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let idx = last.parse::<usize>().map_err(|_| missing())?;
            if idx >= a.len() {
                return Err(missing());
            }
            Ok(a.remove(idx))
        }
        _ => Err(missing()),
    }
}

fn op_get(doc: &Value, path: &str) -> Result<Value, PatchError> {
    let tokens = parse_pointer(path)?;
    let mut cur = doc;
    for t in &tokens {
        cur = match cur {
            Value::Object(m) => m.get(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| PatchError::Failed(format!("doc is missing path: {path:?}")))?;
    }
    Ok(cur.clone())
}

/// RFC 6902 JSON patch; all-or-nothing.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| PatchError::Malformed("json patch must be an array of operations".into()))?;
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::Malformed(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            ops.len()
        )));
    }
    let mut copied = 0usize;
    let mut doc = target.clone();
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::Malformed(format!("operation {name:?} is missing \"path\"")))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError::Malformed(format!("operation {name:?} is missing \"value\"")))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| PatchError::Malformed(format!("operation {name:?} is missing \"from\"")))
        };
        match name {
            "add" => op_add(&mut doc, path, value()?)?,
            "remove" => {
                op_remove(&mut doc, path)?;
            }
            "replace" => {
                op_remove(&mut doc, path)?;
                op_add(&mut doc, path, value()?)?;
            }
            "move" => {
                let v = op_remove(&mut doc, from()?)?;
                op_add(&mut doc, path, v)?;
            }
            "copy" => {
                let v = op_get(&doc, from()?)?;
                copied += nodes(&v, MAX_COPIED_NODES + 1);
                if copied > MAX_COPIED_NODES {
                    return Err(PatchError::Failed(format!(
                        "the patch copies more than {MAX_COPIED_NODES} values in all"
                    )));
                }
                op_add(&mut doc, path, v)?;
            }
            "test" => {
                if op_get(&doc, path)? != value()? {
                    return Err(PatchError::Failed(format!("testing value {path:?} failed: test failed")));
                }
            }
            other => return Err(PatchError::Malformed(format!("Unexpected kind: {other}"))),
        }
    }
    *target = doc;
    Ok(())
}

/// The merge key upstream declares for a list field, judged from the field name and the items.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "readinessGates"
        | "resourceClaims" => Some("name"),
        "volumeMounts" | "volumeDevices" => Some("mountPath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                Some("containerPort")
            } else {
                Some("port")
            }
        }
        _ => None,
    }
}

/// Primitive lists upstream merges as sets.
fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge patch, approximated (see the module docs).
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut clean = p.clone();
            clean.remove("$patch");
            *target = Value::Object(clean);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return Ok(());
    };
    if let Some(retain) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(drop)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !drop.contains(x));
            }
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match v {
            Value::Object(_) => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(slot, v)?;
                if slot.is_null() {
                    t.remove(k);
                }
            }
            Value::Array(items) => {
                let merged = merge_list(k, t.get(k), items)?;
                let ordered = match p.get(&format!("$setElementOrder/{k}")).and_then(Value::as_array) {
                    Some(order) => apply_order(k, merged, order),
                    None => merged,
                };
                t.insert(k.clone(), Value::Array(ordered));
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

fn merge_list(field: &str, current: Option<&Value>, items: &[Value]) -> Result<Vec<Value>, PatchError> {
    let current: Vec<Value> = current.and_then(Value::as_array).cloned().unwrap_or_default();
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        return Ok(items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect());
    }
    if is_set_list(field) {
        let mut out = current;
        for i in items {
            if !out.contains(i) {
                out.push(i.clone());
            }
        }
        return Ok(out);
    }
    let Some(key) = merge_key(field, items).filter(|_| items.iter().all(Value::is_object)) else {
        return Ok(items.to_vec());
    };
    let mut out = current;
    for item in items {
        let id = item.get(key).cloned().unwrap_or(Value::Null);
        let pos = out.iter().position(|c| c.get(key) == Some(&id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut out[i], item)?,
            (None, false) => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, item)?;
                out.push(fresh);
            }
        }
    }
    Ok(out)
}

/// Orders a merged list like `$setElementOrder` says; items it does not name keep their place at the end.
fn apply_order(field: &str, items: Vec<Value>, order: &[Value]) -> Vec<Value> {
    let key = merge_key(field, &items);
    let id = |v: &Value| match key {
        Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
        None => v.clone(),
    };
    let mut rest = items;
    let mut out = Vec::with_capacity(rest.len());
    for o in order {
        let want = id(o);
        if let Some(i) = rest.iter().position(|x| id(x) == want) {
            out.push(rest.remove(i));
        }
    }
    out.extend(rest);
    out
}

/// Merges an applied configuration over the live object (server-side apply, approximated):
/// maps merge recursively, keyed lists merge by key, other lists and scalars are taken from the applied
/// configuration. Fields missing from the applied configuration are left alone.
pub fn apply_merge(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, v) in a {
                match (l.get_mut(k), v) {
                    (Some(Value::Array(cur)), Value::Array(items)) => {
                        if let Some(key) = merge_key(k, items).filter(|_| items.iter().all(Value::is_object))
                        {
                            for item in items {
                                let id = item.get(key);
                                match cur.iter_mut().find(|c| c.get(key) == id) {
                                    Some(existing) => apply_merge(existing, item),
                                    None => cur.push(item.clone()),
                                }
                            }
                        } else if is_set_list(k) {
                            for i in items {
                                if !cur.contains(i) {
                                    cur.push(i.clone());
                                }
                            }
                        } else {
                            *cur = items.clone();
                        }
                    }
                    (Some(existing), _) => apply_merge(existing, v),
                    (None, _) => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Removes from `live` what the field set `previous` (a manager's last apply) holds and `current` (its new
/// apply) does not, unless one of `others` (other managers' sets) holds it too: server-side apply's rule that a
/// manager's fields it stops applying are deleted.
pub fn remove_dropped(live: &mut Value, previous: &Value, current: &Value, others: &[Value]) {
    let others: Vec<&Value> = others.iter().collect();
    drop_fields(live, previous, Some(current), &others);
}

fn drop_fields(live: &mut Value, previous: &Value, current: Option<&Value>, others: &[&Value]) {
    let Some(previous) = previous.as_object() else { return };
    for (key, old) in previous {
        if key == "." {
            continue;
        }
        let now = current.and_then(|c| c.get(key));
        let shared: Vec<&Value> = others.iter().filter_map(|o| o.get(key)).collect();
        let keep = now.is_some() || !shared.is_empty();
        if let Some(field) = key.strip_prefix("f:") {
            let Some(map) = live.as_object_mut() else { continue };
            if !keep {
                map.remove(field);
            } else if let Some(child) = map.get_mut(field) {
                drop_fields(child, old, now, &shared);
            }
        } else if let Some(id) = key.strip_prefix("k:") {
            let Ok(Value::Object(id)) = serde_json::from_str::<Value>(id) else { continue };
            let Some(items) = live.as_array_mut() else { continue };
            let matches = |item: &Value| id.iter().all(|(k, v)| item.get(k) == Some(v));
            if !keep {
                items.retain(|item| !matches(item));
            } else if let Some(item) = items.iter_mut().find(|i| matches(i)) {
                drop_fields(item, old, now, &shared);
            }
        } else if let Some(v) = key.strip_prefix("v:") {
            let Ok(v) = serde_json::from_str::<Value>(v) else { continue };
            if !keep && let Some(items) = live.as_array_mut() {
                items.retain(|item| item != &v);
            }
        }
    }
}

/// The `fieldsV1` set (managedFields format) describing the fields an applied configuration sets.
pub fn fields_v1(applied: &Value) -> Value {
    fn walk(field: Option<&str>, v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, child) in m {
                    out.insert(format!("f:{k}"), walk(Some(k), child));
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let key =
                    field.and_then(|f| merge_key(f, items)).filter(|_| items.iter().all(Value::is_object));
                let mut out = Map::new();
                for item in items {
                    match key {
                        Some(k) => {
                            let id = serde_json::json!({ k: item.get(k).cloned().unwrap_or(Value::Null) });
                            let mut inner = match walk(None, item) {
                                Value::Object(m) => m,
                                _ => Map::new(),
                            };
                            inner.insert(".".into(), Value::Object(Map::new()));
                            out.insert(format!("k:{id}"), Value::Object(inner));
                        }
                        None => {
                            out.insert(format!("v:{item}"), Value::Object(Map::new()));
                        }
                    }
                }
                if key.is_none() && !field.is_some_and(is_set_list) {
                    // Atomic lists are owned as a whole.
                    return Value::Object(Map::new());
                }
                Value::Object(out)
            }
            _ => Value::Object(Map::new()),
        }
    }
    let mut stripped = applied.clone();
    if let Some(m) = stripped.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["name", "namespace", "resourceVersion", "uid", "managedFields", "creationTimestamp"] {
                meta.remove(k);
            }
            if meta.is_empty() {
                m.remove("metadata");
            }
        }
    }
    walk(None, &stripped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_manager_that_stops_applying_a_field_removes_it_unless_another_owns_it() {
        let first = json!({"spec": {"a": 1, "b": 2, "list": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]}});
        let second = json!({"spec": {"a": 1, "list": [{"name": "y", "v": 2}]}});
        let mut live = first.clone();
        live["spec"]["c"] = json!(3);
        let others = [json!({"f:spec": {"f:c": {}}})];
        remove_dropped(&mut live, &fields_v1(&first), &fields_v1(&second), &others);
        apply_merge(&mut live, &second);
        assert_eq!(live, json!({"spec": {"a": 1, "c": 3, "list": [{"name": "y", "v": 2}]}}));

        let mut shared = first.clone();
        let others = [json!({"f:spec": {"f:b": {}}})];
        remove_dropped(&mut shared, &fields_v1(&first), &fields_v1(&second), &others);
        assert_eq!(shared["spec"]["b"], json!(2), "another manager owns b");
    }

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn json_patch_ops_and_atomicity() {
        let mut t = json!({"a": [1, 2], "b": {"c": 1}});
        json_patch(
            &mut t,
            &json!([{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b/c", "value": 2},
                {"op": "copy", "from": "/b", "path": "/d"}, {"op": "move", "from": "/d/c", "path": "/e"},
                {"op": "remove", "path": "/a/0"}, {"op": "test", "path": "/e", "value": 2}]),
        )
        .expect("applies");
        assert_eq!(t, json!({"a": [2, 3], "b": {"c": 2}, "d": {}, "e": 2}));
        let before = t.clone();
        let err = json_patch(
            &mut t,
            &json!([{"op": "remove", "path": "/a/0"}, {"op": "test", "path": "/e", "value": 9}]),
        );
        assert!(err.is_err());
        assert_eq!(t, before, "failed patch leaves the document untouched");
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }

    #[test]
    fn json_patch_cannot_nest_deep_copy_without_end_or_run_too_long() {
        // Three operations nest the document one level deeper; repeated, they would overflow a stack.
        let mut t = json!({"t": {}});
        let nest = [
            json!({"op": "add", "path": "/w", "value": {}}),
            json!({"op": "move", "from": "/t", "path": "/w/t"}),
            json!({"op": "move", "from": "/w", "path": "/t"}),
        ];
        let ops: Vec<Value> = nest.iter().cycle().take(3 * MAX_DEPTH).cloned().collect();
        let err = json_patch(&mut t, &Value::Array(ops)).expect_err("too deep");
        assert!(err.to_string().contains("deeper than 100 levels"), "{err}");
        assert_eq!(t, json!({"t": {}}), "a refused patch changes nothing");

        let ops: Vec<Value> =
            (0..30).map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")})).collect();
        let err = json_patch(&mut t, &Value::Array(ops)).expect_err("copy bomb");
        assert!(err.to_string().contains("copies more than"), "{err}");

        let ops = vec![json!({"op": "test", "path": "/t", "value": {}}); MAX_JSON_PATCH_OPERATIONS + 1];
        let err = json_patch(&mut t, &Value::Array(ops)).expect_err("too many operations");
        assert_eq!(err.to_string(), "The allowed maximum operations in a JSON patch is 10000, got 10001");
    }

    #[test]
    fn strategic_merge_merges_containers_by_name_and_env_by_name() {
        let mut t = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"}]}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                "containers": [{"name": "app", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]}}),
        )
        .expect("applies");
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "side", "image": "s:1"},
                {"name": "app", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}})
        );
    }

    #[test]
    fn strategic_merge_directives() {
        let mut t = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"containers": [{"name": "x"}, {"name": "y"}], "args": ["1"]}});
        strategic_merge(
            &mut t,
            &json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
                "spec": {"containers": [{"name": "x", "$patch": "delete"}], "args": ["2"]}}),
        )
        .expect("applies");
        assert_eq!(
            t,
            json!({"metadata": {"finalizers": ["b", "c"]}, "spec": {"containers": [{"name": "y"}], "args": ["2"]}})
        );
    }

    #[test]
    fn apply_merge_keeps_unmentioned_fields_and_merges_keyed_lists() {
        let mut live = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1, "containers": [{"name": "c", "image": "x", "tty": true}]}});
        apply_merge(
            &mut live,
            &json!({"metadata": {"labels": {"b": "2"}}, "spec": {"containers": [{"name": "c", "image": "y"}]}}),
        );
        assert_eq!(
            live,
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1, "containers": [{"name": "c", "image": "y", "tty": true}]}})
        );
    }

    #[test]
    fn fields_v1_uses_f_and_k_prefixes() {
        let f = fields_v1(
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}),
        );
        assert_eq!(
            f,
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}})
        );
    }
}

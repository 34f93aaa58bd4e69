//! Saving state to and loading it from a directory of YAML files.
//!
//! `save` writes everything to `serin-state.yaml` (one document per object). `load` reads that file first, then
//! every other `*.yaml`, `*.yml` or `*.json` file in the directory (manifests dropped in by hand; `List`s are
//! expanded), skipping objects that already exist. Objects with a uid are restored as they were; objects without
//! one are created as by `POST`, with defaults applied.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::object;
use super::store::Store;

/// The file `save` writes.
pub const STATE_FILE: &str = "serin-state.yaml";

fn docs_in(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs: Vec<Value> = if path.extension().is_some_and(|e| e == "json") {
        vec![serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?]
    } else {
        serde_saphyr::from_multiple(&text).with_context(|| format!("parsing {}", path.display()))?
    };
    let mut out = Vec::new();
    for d in docs {
        if d.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
            && let Some(items) = d.get("items").and_then(Value::as_array)
        {
            out.extend(items.iter().cloned());
        } else if d.is_object() {
            out.push(d);
        }
    }
    Ok(out)
}

fn load_order(v: &Value) -> u8 {
    match v.get("kind").and_then(Value::as_str) {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    }
}

/// Loads objects from `dir` into the store (missing directory: nothing to load).
pub fn load(store: &Store, dir: &Path) -> anyhow::Result<usize> {
    if !dir.exists() {
        return Ok(0);
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
        .collect();
    files.sort_by_key(|p| (p.file_name().is_none_or(|n| n != STATE_FILE), p.clone()));
    let mut docs = Vec::new();
    for f in &files {
        docs.extend(docs_in(f)?);
    }
    // Stable sort: CRDs and namespaces first so that what depends on them can be placed.
    docs.sort_by_key(load_order);
    let mut loaded = 0;
    for d in docs {
        let api_version = d.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = d.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(rt) = store.registry().by_kind(&api_version, &kind) else {
            tracing::warn!(%api_version, %kind, "skipping object of an unserved type");
            continue;
        };
        if store.get_opt(&rt, object::namespace(&d), object::name(&d)).is_some() {
            continue;
        }
        store.restore(d).with_context(|| format!("restoring a {kind}"))?;
        loaded += 1;
    }
    Ok(loaded)
}

/// Writes every object to `dir/serin-state.yaml`.
pub fn save(store: &Store, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut out = String::new();
    for obj in store.dump() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&*obj).context("serialising an object to YAML")?);
    }
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    std::fs::write(&tmp, out).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(STATE_FILE)).context("replacing the state file")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_round_trip_keeps_ambiguous_strings() {
        let v = json!({"data": {"a": "1", "b": "true", "c": "null", "d": "", "e": "yes", "f": "0x10", "g": "line1\nline2", "h": "- x", "i": "a: b", "j": "~", "k": "1e3", "l": " lead"},
            "n": 3, "m": 1.5, "t": true, "z": null, "list": [1, "2", {"x": []}], "empty": {}});
        let text = serde_saphyr::to_string(&v).expect("serialises");
        let back: Vec<Value> = serde_saphyr::from_multiple(&format!("---\n{text}")).expect("parses");
        assert_eq!(back, vec![v], "yaml was:\n{text}");
    }
}

//! Shared helpers: where the Argo Rollouts corpus is, and which of its files are plain YAML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The corpus root: `$SERIN_ARGO_EXAMPLES`, else `<crate>/../shared/argo-examples`.
pub fn corpus_root() -> PathBuf {
    let root = std::env::var_os("SERIN_ARGO_EXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/argo-examples")));
    assert!(
        root.join("INDEX.txt").is_file(),
        "Argo Rollouts corpus not found at {} (set SERIN_ARGO_EXAMPLES to the argo-examples directory)",
        root.display()
    );
    root
}

/// Notes INDEX.txt records per file (`TEMPLATED`, `PARSE-ERROR`, ...), keyed by relative path.
pub fn index_notes(root: &Path) -> BTreeMap<String, String> {
    let index = std::fs::read_to_string(root.join("INDEX.txt")).expect("INDEX.txt is readable");
    index
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" | "))
        .filter_map(|l| {
            let mut parts = l.splitn(3, " | ");
            let path = parts.next()?.trim().to_owned();
            let _kinds = parts.next()?;
            let notes = parts.next().unwrap_or("").trim().to_owned();
            Some((path, notes))
        })
        .collect()
}

/// Every `*.yaml`/`*.yml` under `dir`, sorted, as paths relative to `root`.
pub fn yaml_files(root: &Path, dir: &str) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("corpus dir is readable").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root.join(dir), &mut files);
    files
        .into_iter()
        .map(|p| p.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/"))
        .collect()
}

/// The plain-YAML manifests the issue names: `examples/` and `test/e2e/`, minus
/// `expectedfailures/` and files INDEX.txt marks TEMPLATED or PARSE-ERROR.
pub fn plain_manifests(root: &Path) -> Vec<String> {
    let notes = index_notes(root);
    let mut files = yaml_files(root, "examples");
    files.extend(yaml_files(root, "test/e2e"));
    files
        .into_iter()
        .filter(|f| !f.contains("/expectedfailures/"))
        .filter(|f| {
            let n = notes.get(f).map(String::as_str).unwrap_or("");
            !n.contains("TEMPLATED") && !n.contains("PARSE-ERROR")
        })
        .collect()
}

/// Upstream's e2e tests substitute these tokens before applying a file; so do we.
pub const E2E_PLACEHOLDERS: &[(&str, &str)] = &[
    ("ROLLOUT_NAME", "rollout-name"),
    ("REPLACEME", "replaceme"),
    ("$$name$$", "name"),
    ("$$phase$$", "Successful"),
    ("$$disabled_plugin$$", "step/e2e-test-disabled"),
];

/// The file's text with e2e placeholders substituted, and whether any were.
pub fn read_manifest(root: &Path, rel: &str) -> (String, bool) {
    let text = std::fs::read_to_string(root.join(rel)).expect("manifest is readable");
    let mut out = text.clone();
    for (token, value) in E2E_PLACEHOLDERS {
        out = out.replace(token, value);
    }
    let substituted = out != text;
    (out, substituted)
}

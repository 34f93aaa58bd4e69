//! Upstream's own manifests decode, validate, and survive a decode/encode round trip.

use std::collections::BTreeMap;

use serde_json::Value;
use serin::api::decode::{self, Classification, Difference, parse_stream};
use serin::api::lint::{LintOptions, Severity, lint_source};

use super::support::{corpus_root, plain_manifests, read_manifest};

/// Every served object of the plain manifests, with its file and document number.
fn served_objects() -> Vec<(String, usize, decode::Kind, Value, bool)> {
    let root = corpus_root();
    let mut out = Vec::new();
    for rel in plain_manifests(&root) {
        let (text, substituted) = read_manifest(&root, &rel);
        for doc in parse_stream(&text) {
            let value =
                doc.value.unwrap_or_else(|e| panic!("{rel}:{}: plain YAML must parse: {e}", doc.index));
            if let Classification::Served(kind) = decode::classify(&value) {
                out.push((rel.clone(), doc.index, kind, value, substituted));
            }
        }
    }
    out
}

#[test]
fn every_plain_manifest_of_the_five_kinds_decodes_and_is_valid() {
    let objects = served_objects();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut substituted = std::collections::BTreeSet::new();
    for (file, doc, kind, value, was_substituted) in &objects {
        *counts.entry(kind.as_str()).or_default() += 1;
        if *was_substituted {
            substituted.insert(file.clone());
        }
        let object = match decode::decode_object(*kind, value) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{file}:{doc}: {} does not decode: {e}", kind.as_str()));
                continue;
            }
        };
        for e in object.field_errors() {
            failures.push(format!("{file}:{doc}: {}: {e}", kind.as_str()));
        }
        let encoded = object.to_value().expect("encodes");
        for d in decode::diff(value, &encoded) {
            if let Difference::Unknown { path, .. } = d {
                failures.push(format!("{file}:{doc}: unknown field {path}"));
            }
        }
    }
    let total: usize = counts.values().sum();
    println!("corpus: {total} objects of the five kinds decode and validate: {counts:?}");
    println!("corpus: e2e placeholders substituted in {} file(s): {substituted:?}", substituted.len());
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
    for kind in decode::Kind::ALL {
        assert!(counts.get(kind.as_str()).copied().unwrap_or(0) > 0, "the corpus has no {}", kind.as_str());
    }
}

/// Normalizations serin applies on encode; documented in docs/api-compat.md.
fn allowed(d: &Difference) -> bool {
    match d {
        // An object without `metadata` is written with an empty one.
        Difference::Added { path } => path == "metadata",
        // Resource quantities are strings on the wire (`cpu: 1` becomes `cpu: "1"`).
        Difference::Changed { path, before, after } => {
            let is_quantity = path.contains("resources.limits.")
                || path.contains("resources.requests.")
                || path.contains(".overhead.");
            is_quantity && before.is_number() && after.as_str() == Some(&before.to_string())
        }
        Difference::Unknown { .. } => false,
    }
}

#[test]
fn decoding_then_encoding_keeps_every_field_of_the_corpus() {
    let mut unexpected = Vec::new();
    let mut normalized = 0;
    let objects = served_objects();
    for (file, doc, kind, value, _) in &objects {
        let Ok(object) = decode::decode_object(*kind, value) else {
            continue;
        };
        let encoded = object.to_value().expect("encodes");
        for d in decode::diff(value, &encoded) {
            if allowed(&d) {
                normalized += 1;
            } else {
                unexpected.push(format!("{file}:{doc}: {d:?}"));
            }
        }
        // A second round trip is the identity.
        let again =
            decode::decode_object(*kind, &encoded).expect("re-decodes").to_value().expect("re-encodes");
        assert_eq!(again, encoded, "{file}:{doc}: second round trip changed the object");
    }
    println!("round trip: {} objects, {normalized} documented normalization(s)", objects.len());
    assert!(
        unexpected.is_empty(),
        "{} unexpected difference(s):\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

#[test]
fn malformed_resources_of_the_e2e_suite_are_rejected_with_a_field_path() {
    let root = corpus_root();
    let dir = root.join("test/e2e/expectedfailures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("expectedfailures is readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("malformed-")))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "expected the six malformed-* fixtures, found {}", files.len());
    for file in &files {
        let bytes = std::fs::read(file).expect("readable");
        let report = lint_source(&file.display().to_string(), &bytes, LintOptions::default());
        let errors: Vec<_> = report.findings.iter().filter(|f| f.severity == Severity::Error).collect();
        assert!(!errors.is_empty(), "{} was accepted", file.display());
        for e in &errors {
            let path = e.path.as_deref().unwrap_or_else(|| panic!("{e} has no field path"));
            assert!(path.starts_with("spec."), "{e}: path should point into spec");
        }
        assert!(
            errors.iter().any(|e| e
                .path
                .as_deref()
                .is_some_and(|p| p.ends_with("resources.requests.memory"))
                && e.message.starts_with("quantities must match the regular expression")),
            "{}: the invalid memory request is not reported: {errors:?}",
            file.display()
        );
        println!("{} rejected: {}", file.display(), errors[0]);
    }
}

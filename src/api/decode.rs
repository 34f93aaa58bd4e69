//! YAML streams to typed objects: bounded parsing, decode errors with field paths, unknown fields.
//!
//! A stream is split into documents the way `kubectl` splits it (a line starting with `---`), so one
//! broken document does not hide the others. Each document is parsed with serde-saphyr under a
//! budget (depth, nodes, aliases, replayed alias events), so YAML bombs, deep nesting and huge
//! documents end in an error, never in a hang or a crash. Documents become `serde_json::Value`s and
//! then typed objects through `serde_path_to_error`, which names the field that failed.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use super::common::{API_VERSION, GROUP};
use super::experiment::Experiment;
use super::rollout::Rollout;
use super::validation::{FieldError, Validate};

/// Largest input (file or stdin) serin reads, in bytes.
pub const MAX_INPUT_BYTES: usize = 32 * 1024 * 1024;

/// Parser options: budget limits against YAML bombs, single-line error messages.
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 250_000,
            max_events: 1_000_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_documents: 1_024,
            max_total_scalar_bytes: MAX_INPUT_BYTES,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 1_000_000,
            max_replay_stack_depth: 64,
        },
        with_snippet: false,
    }
}

/// One document of a stream: its 1-based number, first line, and parsed value or parse error.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedDocument {
    /// 1-based number among the documents that have content.
    pub index: usize,
    /// 1-based line of the stream where the document starts.
    pub line: usize,
    /// The document, or why it is not YAML.
    pub value: Result<Value, String>,
}

/// Splits a stream into documents and parses each; comment-only and null documents are not counted.
pub fn parse_stream(text: &str) -> Vec<ParsedDocument> {
    documents(text).collect()
}

/// [`parse_stream`] one document at a time, so that a caller done with each holds only one in memory.
pub fn documents(text: &str) -> impl Iterator<Item = ParsedDocument> + '_ {
    let mut count = 0;
    split_documents(text).into_iter().filter(|(_, chunk)| has_content(chunk)).flat_map(
        move |(line, chunk)| {
            let parsed: Vec<Result<Value, String>> = match serde_saphyr::from_str_multiple_with_options::<
                Value,
                Vec<Value>,
            >(chunk, yaml_options())
            {
                Ok(values) => values.into_iter().filter(|v| !v.is_null()).map(Ok).collect(),
                Err(e) => vec![Err(format!("invalid YAML: {}", one_line(&e.to_string())))],
            };
            parsed
                .into_iter()
                .map(|value| {
                    count += 1;
                    ParsedDocument { index: count, line, value }
                })
                .collect::<Vec<_>>()
        },
    )
}

/// Splits on lines that start with `---` (kubectl's rule); each chunk keeps its separator line so
/// content after `--- ` stays part of its document. Returns `(first line, chunk)` pairs.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i > 0 && is_separator(line) {
            chunks.push((start_line, &text[start..offset]));
            start = offset;
            start_line = i + 1;
        }
        offset += line.len();
    }
    chunks.push((start_line, &text[start..]));
    chunks
}

fn is_separator(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Whether a chunk has anything besides separators, comments, directives and blank lines.
///
/// A `%YAML`/`%TAG` directive only introduces the document after it, which starts in the next chunk.
fn has_content(chunk: &str) -> bool {
    chunk.lines().any(|line| {
        let t = line.trim();
        !(t.is_empty()
            || t.starts_with('#')
            || line.starts_with('%')
            || t == "---"
            || t == "..."
            || t.starts_with("--- #"))
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The five kinds serin serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Kind {
    /// `Rollout`.
    Rollout,
    /// `AnalysisTemplate`.
    AnalysisTemplate,
    /// `ClusterAnalysisTemplate`.
    ClusterAnalysisTemplate,
    /// `AnalysisRun`.
    AnalysisRun,
    /// `Experiment`.
    Experiment,
}

impl Kind {
    /// All five.
    pub const ALL: [Kind; 5] = [
        Kind::Rollout,
        Kind::AnalysisTemplate,
        Kind::ClusterAnalysisTemplate,
        Kind::AnalysisRun,
        Kind::Experiment,
    ];

    /// The `kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rollout => "Rollout",
            Kind::AnalysisTemplate => "AnalysisTemplate",
            Kind::ClusterAnalysisTemplate => "ClusterAnalysisTemplate",
            Kind::AnalysisRun => "AnalysisRun",
            Kind::Experiment => "Experiment",
        }
    }

    /// The kind named `s`, if it is one of the five.
    pub fn from_kind(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a document relates to serin's API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classification {
    /// One of the five kinds at `argoproj.io/v1alpha1`.
    Served(Kind),
    /// One of the five kinds, at an `apiVersion` serin does not serve.
    WrongVersion(Kind, String),
    /// Any other object.
    Other {
        /// `apiVersion` as written.
        api_version: String,
        /// `kind` as written (empty if missing).
        kind: String,
    },
}

/// Classifies an object by `apiVersion` and `kind`.
pub fn classify(value: &Value) -> Classification {
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_owned();
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("").to_owned();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match Kind::from_kind(&kind) {
        Some(k) if api_version == API_VERSION => Classification::Served(k),
        Some(k) if group == GROUP || api_version.is_empty() => Classification::WrongVersion(k, api_version),
        _ => Classification::Other { api_version, kind },
    }
}

/// A decoded object of one of the five kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// A Rollout.
    Rollout(Box<Rollout>),
    /// An AnalysisTemplate.
    AnalysisTemplate(Box<AnalysisTemplate>),
    /// A ClusterAnalysisTemplate.
    ClusterAnalysisTemplate(Box<ClusterAnalysisTemplate>),
    /// An AnalysisRun.
    AnalysisRun(Box<AnalysisRun>),
    /// An Experiment.
    Experiment(Box<Experiment>),
}

impl Object {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Rollout(_) => Kind::Rollout,
            Object::AnalysisTemplate(_) => Kind::AnalysisTemplate,
            Object::ClusterAnalysisTemplate(_) => Kind::ClusterAnalysisTemplate,
            Object::AnalysisRun(_) => Kind::AnalysisRun,
            Object::Experiment(_) => Kind::Experiment,
        }
    }

    /// Validation problems (empty when valid).
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Object::Rollout(o) => o.field_errors(),
            Object::AnalysisTemplate(o) => o.field_errors(),
            Object::ClusterAnalysisTemplate(o) => o.field_errors(),
            Object::AnalysisRun(o) => o.field_errors(),
            Object::Experiment(o) => o.field_errors(),
        }
    }

    /// The object as JSON, as serin would write it.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            Object::Rollout(o) => serde_json::to_value(o),
            Object::AnalysisTemplate(o) => serde_json::to_value(o),
            Object::ClusterAnalysisTemplate(o) => serde_json::to_value(o),
            Object::AnalysisRun(o) => serde_json::to_value(o),
            Object::Experiment(o) => serde_json::to_value(o),
        }
    }
}

/// A document that does not decode into its kind, with the field that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DecodeError {
    /// Path of the failing field (`.` for the document itself).
    pub path: String,
    /// serde's description of the problem.
    pub message: String,
}

/// Decodes a JSON value into `T`, naming the failing field on error.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| DecodeError { path: e.path().to_string(), message: e.inner().to_string() })
}

/// Decodes a value of a known kind.
pub fn decode_object(kind: Kind, value: &Value) -> Result<Object, DecodeError> {
    Ok(match kind {
        Kind::Rollout => Object::Rollout(Box::new(decode(value)?)),
        Kind::AnalysisTemplate => Object::AnalysisTemplate(Box::new(decode(value)?)),
        Kind::ClusterAnalysisTemplate => Object::ClusterAnalysisTemplate(Box::new(decode(value)?)),
        Kind::AnalysisRun => Object::AnalysisRun(Box::new(decode(value)?)),
        Kind::Experiment => Object::Experiment(Box::new(decode(value)?)),
    })
}

/// How the encoded form of an object differs from the document it was decoded from.
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    /// A non-null field of the input that the types do not know (dropped on encode).
    Unknown {
        /// Field path.
        path: String,
        /// The field's name (the last path segment, which may itself contain dots).
        field: String,
    },
    /// A field the encoder wrote that the input did not have.
    Added {
        /// Field path.
        path: String,
    },
    /// A value written differently (e.g. a quantity `1` as `"1"`, a timestamp without fractions).
    Changed {
        /// Field path.
        path: String,
        /// Input value.
        before: Value,
        /// Encoded value.
        after: Value,
    },
}

impl Difference {
    /// The field path.
    pub fn path(&self) -> &str {
        match self {
            Difference::Unknown { path, .. }
            | Difference::Added { path }
            | Difference::Changed { path, .. } => path,
        }
    }
}

/// Compares an input document with the encoding of what was decoded from it.
///
/// Null input values are ignored (`x: null` means "unset" to the API server too).
pub fn diff(input: &Value, encoded: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_at("", input, encoded, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn diff_at(path: &str, input: &Value, encoded: &Value, out: &mut Vec<Difference>) {
    match (input, encoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, av) in a {
                let p = join(path, k);
                match b.get(k) {
                    None if av.is_null() => {}
                    None => out.push(Difference::Unknown { path: p, field: k.clone() }),
                    Some(bv) => diff_at(&p, av, bv, out),
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) && !bv.is_null() {
                    out.push(Difference::Added { path: join(path, k) });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                diff_at(&format!("{path}[{i}]"), av, bv, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) if numbers_equal(a, b) => {}
        (a, b) => {
            out.push(Difference::Changed { path: path.to_owned(), before: a.clone(), after: b.clone() })
        }
    }
}

/// `1` and `1.0` are the same JSON number.
fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_dash_lines_and_skip_empty_ones() {
        let text = "---\n# only a comment\n---\na: 1\n---   # trailing comment\nb: 2\n...\n---\n\n";
        let docs = parse_stream(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].index, 1);
        assert_eq!(docs[0].line, 3);
        assert_eq!(docs[0].value, Ok(serde_json::json!({"a": 1})));
        assert_eq!(docs[1].index, 2);
        assert_eq!(docs[1].value, Ok(serde_json::json!({"b": 2})));
    }

    #[test]
    fn a_directive_before_the_first_separator_is_not_a_document() {
        let docs = parse_stream("%YAML 1.2\n---\na: 1\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].value, Ok(serde_json::json!({"a": 1})));
    }

    #[test]
    fn a_broken_document_does_not_hide_the_next_one() {
        let docs = parse_stream("a: [1, 2\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert!(docs[0].value.is_err());
        assert_eq!(docs[1].value, Ok(serde_json::json!({"b": 2})));
    }

    #[test]
    fn classification_requires_the_argoproj_group_and_version() {
        let served = serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"});
        assert_eq!(classify(&served), Classification::Served(Kind::Rollout));
        let old = serde_json::json!({"apiVersion": "argoproj.io/v1beta1", "kind": "Experiment"});
        assert!(matches!(classify(&old), Classification::WrongVersion(Kind::Experiment, _)));
        let other = serde_json::json!({"apiVersion": "kubeflow.org/v1", "kind": "Experiment"});
        assert!(matches!(classify(&other), Classification::Other { .. }));
    }

    #[test]
    fn diff_reports_unknown_added_and_changed_fields_but_ignores_nulls() {
        let input = serde_json::json!({"a": 1, "b": null, "c": {"d": [1, {"e": 2}]}, "x": "1"});
        let encoded = serde_json::json!({"a": 1.0, "c": {"d": [1, {}]}, "x": 1, "y": true});
        let d = diff(&input, &encoded);
        assert!(d.contains(&Difference::Unknown { path: "c.d[1].e".into(), field: "e".into() }));
        assert!(d.contains(&Difference::Added { path: "y".into() }));
        assert!(d.iter().any(|x| matches!(x, Difference::Changed { path, .. } if path == "x")));
        assert_eq!(d.len(), 3);
    }
}

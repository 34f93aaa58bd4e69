//! The `serin lint` engine: YAML streams in, findings out (`file:document: kind/name: path: message`).
//!
//! [`lint_source`] is pure (bytes in, [`Report`] out); [`lint_paths`] adds reading files, directories
//! (`*.yaml`, `*.yml`, `*.json` in any case, recursively, in sorted order, following links) and `-` for
//! stdin. Documents of the five kinds are decoded and validated; other kinds are skipped with a note; fields
//! the types do not know are reported as warnings, or as errors with [`LintOptions::strict`].

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::decode::{self, Classification, Difference, Kind, MAX_INPUT_BYTES};

/// Options of a lint run.
#[derive(Clone, Copy, Debug, Default)]
pub struct LintOptions {
    /// Report unknown fields as errors instead of warnings.
    pub strict: bool,
    /// Compiles metrics' `successCondition` / `failureCondition`; without it they are not checked.
    pub conditions: Option<ConditionCheck>,
}

/// Compiles one condition: `Err(reason)` when it cannot be evaluated whatever the measurement (the CLI passes
/// the condition evaluator's own check, so lint and the controller agree).
#[derive(Clone, Copy)]
pub struct ConditionCheck(pub &'static (dyn Fn(&str) -> Result<(), String> + Sync));

impl fmt::Debug for ConditionCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConditionCheck")
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Makes the input invalid (exit 1).
    Error,
    /// Worth a look; does not fail the run.
    Warning,
    /// Information, such as a skipped document.
    Note,
}

/// One problem (or note) about one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// File as given on the command line (`-` for stdin).
    pub file: String,
    /// 1-based document number in the file; 0 for the file as a whole.
    pub document: usize,
    /// Kind of the object, when known.
    pub kind: Option<String>,
    /// Name of the object (`generateName` followed by `*` when it has no name).
    pub name: Option<String>,
    /// Field path, when the finding is about one field.
    pub path: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    /// `file:document: kind/name: field.path: message`, with `-` for unknown parts and a
    /// `warning: ` / `note: ` prefix on non-errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let object = match (&self.kind, &self.name) {
            (Some(k), Some(n)) => format!("{k}/{n}"),
            (Some(k), None) => format!("{k}/-"),
            (None, _) => "-".to_owned(),
        };
        let prefix = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
            Severity::Note => "note: ",
        };
        write!(
            f,
            "{}:{}: {}: {}: {}{}",
            self.file,
            self.document,
            object,
            self.path.as_deref().unwrap_or("-"),
            prefix,
            self.message
        )
    }
}

/// Findings and counts of a lint run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every finding, in input order.
    pub findings: Vec<Finding>,
    /// Inputs read.
    pub files: usize,
    /// Documents seen.
    pub documents: usize,
    /// Objects of the five kinds checked.
    pub checked: usize,
    /// Objects of other kinds skipped.
    pub skipped: usize,
    /// Inputs that could not be read (each also has an error finding).
    pub unreadable: usize,
}

impl Report {
    /// Number of findings of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }

    /// 0 when everything is valid, 1 when anything is invalid, 2 when an input could not be read.
    pub fn exit_code(&self) -> u8 {
        if self.unreadable > 0 {
            2
        } else if self.count(Severity::Error) > 0 {
            1
        } else {
            0
        }
    }

    /// One line for humans: what was checked and what was found.
    pub fn summary(&self) -> String {
        format!(
            "{} file(s), {} document(s): {} checked, {} skipped; {} error(s), {} warning(s)",
            self.files,
            self.documents,
            self.checked,
            self.skipped,
            self.count(Severity::Error),
            self.count(Severity::Warning)
        )
    }

    fn merge(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.files += other.files;
        self.documents += other.documents;
        self.checked += other.checked;
        self.skipped += other.skipped;
        self.unreadable += other.unreadable;
    }
}

/// Lints one input. `file` labels the findings; `bytes` is the whole stream.
pub fn lint_source(file: &str, bytes: &[u8], options: LintOptions) -> Report {
    let mut report = Report { files: 1, ..Report::default() };
    let file_error = |message: String| Finding {
        file: file.to_owned(),
        document: 0,
        kind: None,
        name: None,
        path: None,
        severity: Severity::Error,
        message,
    };
    if bytes.len() > MAX_INPUT_BYTES {
        report.findings.push(file_error(format!("input is larger than {MAX_INPUT_BYTES} bytes")));
        return report;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            report.findings.push(file_error(format!("input is not UTF-8 text: {e}")));
            return report;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for doc in decode::documents(text) {
        report.documents += 1;
        let ctx = DocContext { file, document: doc.index, options };
        match doc.value {
            Err(message) => report.findings.push(ctx.finding(None, None, None, Severity::Error, message)),
            Ok(value) => ctx.lint_value(&value, &mut report, true),
        }
    }
    report
}

struct DocContext<'a> {
    file: &'a str,
    document: usize,
    options: LintOptions,
}

impl DocContext<'_> {
    fn finding(
        &self,
        kind: Option<&str>,
        name: Option<String>,
        path: Option<String>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            file: self.file.to_owned(),
            document: self.document,
            kind: kind.map(str::to_owned),
            name,
            path,
            severity,
            message: message.into(),
        }
    }

    fn lint_value(&self, value: &Value, report: &mut Report, top_level: bool) {
        if !value.is_object() {
            report.findings.push(self.finding(
                None,
                None,
                None,
                Severity::Error,
                "document is not a Kubernetes object (expected a mapping)",
            ));
            return;
        }
        let name = object_name(value);
        match decode::classify(value) {
            Classification::Served(kind) => {
                report.checked += 1;
                self.lint_object(kind, value, name, report);
            }
            Classification::WrongVersion(kind, api_version) => {
                report.checked += 1;
                let shown = if api_version.is_empty() { "(none)".to_owned() } else { api_version };
                report.findings.push(self.finding(
                    Some(kind.as_str()),
                    name,
                    Some("apiVersion".to_owned()),
                    Severity::Error,
                    format!("unsupported apiVersion {shown}: serin serves argoproj.io/v1alpha1"),
                ));
            }
            Classification::Other { api_version, kind } => {
                let items = value.get("items").and_then(Value::as_array);
                if top_level && kind.ends_with("List") && api_version == "v1" && items.is_some() {
                    for item in items.into_iter().flatten() {
                        self.lint_value(item, report, false);
                    }
                    return;
                }
                report.skipped += 1;
                let (kind_shown, message) = if kind.is_empty() {
                    (None, "skipped: not a Kubernetes object (no kind)".to_owned())
                } else {
                    (
                        Some(kind.as_str()),
                        format!("skipped: {kind} ({api_version}) is not a kind serin serves"),
                    )
                };
                report.findings.push(self.finding(kind_shown, name, None, Severity::Note, message));
            }
        }
    }

    fn lint_object(&self, kind: Kind, value: &Value, name: Option<String>, report: &mut Report) {
        let object = match decode::decode_object(kind, value) {
            Ok(o) => o,
            Err(e) => {
                let path = if e.path == "." { None } else { Some(e.path) };
                report.findings.push(self.finding(
                    Some(kind.as_str()),
                    name,
                    path,
                    Severity::Error,
                    e.message,
                ));
                return;
            }
        };
        match object.to_value() {
            Ok(encoded) => {
                for d in decode::diff(value, &encoded) {
                    if let Difference::Unknown { path, field } = d {
                        let severity = if self.options.strict { Severity::Error } else { Severity::Warning };
                        report.findings.push(self.finding(
                            Some(kind.as_str()),
                            name.clone(),
                            Some(path),
                            severity,
                            format!("unknown field \"{field}\""),
                        ));
                    }
                }
            }
            Err(e) => report.findings.push(self.finding(
                Some(kind.as_str()),
                name.clone(),
                None,
                Severity::Error,
                format!("cannot encode object: {e}"),
            )),
        }
        for e in object.field_errors() {
            report.findings.push(self.finding(
                Some(kind.as_str()),
                name.clone(),
                Some(e.path),
                Severity::Error,
                e.message,
            ));
        }
        if let Some(ConditionCheck(check)) = self.options.conditions {
            for (path, condition) in conditions(kind, value) {
                if let Err(reason) = check(condition) {
                    report.findings.push(self.finding(
                        Some(kind.as_str()),
                        name.clone(),
                        Some(path),
                        Severity::Error,
                        format!("condition {condition:?} does not compile: {}", one_line(&reason)),
                    ));
                }
            }
        }
    }
}

/// A finding is one line, whatever an evaluator's message looks like.
pub fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The non-empty success and failure conditions of an analysis object's metrics, with their field paths (those
/// with argument placeholders are left to the measurement, when the values are known).
fn conditions(kind: Kind, value: &Value) -> Vec<(String, &str)> {
    if !matches!(kind, Kind::AnalysisTemplate | Kind::ClusterAnalysisTemplate | Kind::AnalysisRun) {
        return Vec::new();
    }
    let metrics = value.pointer("/spec/metrics").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut out = Vec::new();
    for (i, metric) in metrics.iter().enumerate() {
        for field in ["successCondition", "failureCondition"] {
            // A condition with `{{args.…}}` in it is only complete once the run's arguments are known.
            if let Some(condition) = metric
                .get(field)
                .and_then(Value::as_str)
                .filter(|c| !c.trim().is_empty() && !c.contains("{{"))
            {
                out.push((format!("spec.metrics[{i}].{field}"), condition));
            }
        }
    }
    out
}

fn object_name(value: &Value) -> Option<String> {
    let meta = value.get("metadata")?;
    if let Some(n) = meta.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return Some(n.to_owned());
    }
    meta.get("generateName").and_then(Value::as_str).map(|g| format!("{g}*"))
}

/// One input of a lint run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-`).
    Stdin,
    /// A file or a directory.
    Path(PathBuf),
}

impl Input {
    /// Parses a command-line argument.
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" { Input::Stdin } else { Input::Path(PathBuf::from(arg)) }
    }
}

/// Lints files, directories (recursively, `*.yaml`, `*.yml` and `*.json`) and stdin.
///
/// An input that cannot be read becomes an error finding and counts in [`Report::unreadable`], so
/// the run still lints everything else.
pub fn lint_paths(inputs: &[Input], options: LintOptions, stdin: &mut dyn Read) -> Report {
    let mut report = Report::default();
    for input in inputs {
        match input {
            Input::Stdin => match read_bounded(stdin) {
                Ok(bytes) => report.merge(lint_source("-", &bytes, options)),
                Err(e) => report.merge(unreadable("-", &e)),
            },
            Input::Path(path) => {
                let mut entries = Vec::new();
                if path.is_dir() {
                    collect_manifests(path, &mut entries, &mut Vec::new());
                } else {
                    entries.push(Entry::File(path.clone()));
                }
                for entry in entries {
                    match entry {
                        Entry::File(file) => {
                            let label = file.display().to_string();
                            match std::fs::File::open(&file).and_then(|mut f| read_bounded(&mut f)) {
                                Ok(bytes) => report.merge(lint_source(&label, &bytes, options)),
                                Err(e) => report.merge(unreadable(&label, &e)),
                            }
                        }
                        Entry::Unreadable(path, e) => {
                            report.merge(unreadable(&path.display().to_string(), &e))
                        }
                        Entry::Loop(path) => report.findings.push(Finding {
                            file: path.display().to_string(),
                            document: 0,
                            kind: None,
                            name: None,
                            path: None,
                            severity: Severity::Note,
                            message: "skipped: a symbolic link back to a directory already being read".into(),
                        }),
                    }
                }
            }
        }
    }
    report
}

/// What walking a directory found.
enum Entry {
    File(PathBuf),
    Unreadable(PathBuf, std::io::Error),
    /// A directory link that leads back to a directory on the current path.
    Loop(PathBuf),
}

/// Manifests are `.yaml`, `.yml` and `.json` files, in any letter case.
fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["yaml", "yml", "json"].iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Walks `dir` in sorted order, following symbolic links (as `find -L` does), reporting unreadable entries one
/// by one and not descending into a directory already on the path (a link loop).
fn collect_manifests(dir: &Path, out: &mut Vec<Entry>, ancestors: &mut Vec<(u64, u64)>) {
    use std::os::unix::fs::MetadataExt;
    let id = match std::fs::metadata(dir) {
        Ok(m) => (m.dev(), m.ino()),
        Err(e) => return out.push(Entry::Unreadable(dir.to_path_buf(), e)),
    };
    if ancestors.contains(&id) {
        return out.push(Entry::Loop(dir.to_path_buf()));
    }
    let entries = match std::fs::read_dir(dir).and_then(|r| r.collect::<Result<Vec<_>, _>>()) {
        Ok(mut entries) => {
            entries.sort_by_key(|e| e.file_name());
            entries
        }
        Err(e) => return out.push(Entry::Unreadable(dir.to_path_buf(), e)),
    };
    ancestors.push(id);
    for entry in entries {
        let path = entry.path();
        // `metadata` follows links; a dangling link is unreadable only if it looks like a manifest.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => collect_manifests(&path, out, ancestors),
            Ok(_) if is_manifest(&path) => out.push(Entry::File(path)),
            Ok(_) => {}
            Err(e) if is_manifest(&path) => out.push(Entry::Unreadable(path, e)),
            Err(_) => {}
        }
    }
    ancestors.pop();
}

fn unreadable(label: &str, error: &std::io::Error) -> Report {
    Report {
        findings: vec![Finding {
            file: label.to_owned(),
            document: 0,
            kind: None,
            name: None,
            path: None,
            severity: Severity::Error,
            message: format!("cannot read input: {error}"),
        }],
        files: 1,
        unreadable: 1,
        ..Report::default()
    }
}

/// Reads at most one byte more than [`MAX_INPUT_BYTES`], so an oversized input is detected, not buffered.
fn read_bounded(reader: &mut dyn Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_INPUT_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

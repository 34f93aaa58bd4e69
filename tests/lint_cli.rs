//! `serin lint` and `serin crds` as a user runs them: exit codes, output format, JSON, strictness.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const VALID: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: good
spec:
  selector:
    matchLabels: {app: good}
  template:
    metadata:
      labels: {app: good}
    spec:
      containers:
      - name: app
        image: nginx
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {duration: 10s}
---
apiVersion: v1
kind: Service
metadata:
  name: good
spec:
  ports: [{port: 80}]
"#;

const INVALID: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: bad
spec:
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
      - name: app
        image: nginx
  strategy:
    canary:
      steps:
      - setWeight: 150
"#;

const UNKNOWN_FIELD: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: typo
spec:
  metrics:
  - name: up
    intervall: 5m
    provider:
      prometheus: {address: "http://p:9090", query: up}
"#;

fn serin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serin"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serin runs");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("writes stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("serin finishes")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn valid_manifests_exit_zero_and_other_kinds_get_a_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "good.yaml", VALID);
    let out = serin(&["lint", &file], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!("{file}:2: Service/good: -: note: skipped: Service (v1) is not a kind serin serves\n")
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("1 checked, 1 skipped; 0 error(s)"), "{summary}");
}

#[test]
fn invalid_manifests_exit_one_with_file_document_kind_name_path_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "a.yaml", VALID);
    let bad = write(dir.path(), "b.yaml", &format!("{VALID}---\n{INVALID}"));
    let out = serin(&["lint", &good, &bad], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines: Vec<String> =
        stdout(&out).lines().filter(|l| !l.contains("note:")).map(str::to_owned).collect();
    assert_eq!(
        lines,
        [format!(
            "{bad}:3: Rollout/bad: spec.strategy.canary.steps[0].setWeight: SetWeight needs to be between 0 and 100"
        )]
    );
}

#[test]
fn unreadable_input_exits_two_even_when_other_inputs_are_linted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "bad.yaml", INVALID);
    let missing = dir.path().join("missing.yaml").display().to_string();
    let out = serin(&["lint", &bad, &missing], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains(&format!("{missing}:0: -: -: cannot read input:")), "{text}");
    assert!(text.contains("SetWeight needs to be between 0 and 100"), "{text}");
}

#[test]
fn json_output_carries_the_same_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "bad.yaml", INVALID);
    let out = serin(&["lint", "-o", "json", &bad], None);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0],
        serde_json::json!({
            "file": bad,
            "document": 1,
            "kind": "Rollout",
            "name": "bad",
            "path": "spec.strategy.canary.steps[0].setWeight",
            "severity": "error",
            "message": "SetWeight needs to be between 0 and 100",
        })
    );
    assert_eq!(report["checked"], 1);
    assert_eq!(report["documents"], 1);
}

#[test]
fn unknown_fields_warn_by_default_and_fail_with_strict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "typo.yaml", UNKNOWN_FIELD);
    let out = serin(&["lint", &file], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "{file}:1: AnalysisTemplate/typo: spec.metrics[0].intervall: warning: unknown field \"intervall\"\n"
        )
    );
    let strict = serin(&["lint", "--strict", &file], None);
    assert_eq!(strict.status.code(), Some(1));
    assert_eq!(
        stdout(&strict),
        format!("{file}:1: AnalysisTemplate/typo: spec.metrics[0].intervall: unknown field \"intervall\"\n")
    );
}

#[test]
fn stdin_and_directories_are_read() {
    let out = serin(&["lint", "-"], Some(INVALID));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("-:1: Rollout/bad: "), "{}", stdout(&out));

    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "nested/deeper/bad.yml", INVALID);
    write(dir.path(), "good.yaml", VALID);
    write(dir.path(), "notes.txt", "this: is: not: yaml: [");
    let out = serin(&["lint", &dir.path().display().to_string()], None);
    assert_eq!(out.status.code(), Some(1));
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.starts_with("2 file(s), 3 document(s): 2 checked"), "{summary}");
}

#[test]
fn directories_are_walked_through_links_in_any_letter_case_and_without_looping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    write(&root, "a/BAD.YML", INVALID);
    write(&root, "a/good.Yaml", VALID);
    write(&root, "a/list.JSON", r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}"#);
    write(&root, "a/readme.md", "# not a manifest");
    write(dir.path(), "elsewhere/linked.yaml", VALID);
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), root.join("a/linked-dir")).expect("symlink");
    // A link back up the tree would otherwise be walked forever.
    std::os::unix::fs::symlink(&root, root.join("a/loop")).expect("symlink");
    let out = serin(&["lint", &root.display().to_string()], None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.starts_with("4 file(s), 6 document(s): 3 checked, 3 skipped"), "{summary}\n{text}");
    assert!(text.contains("BAD.YML:1: Rollout/bad: "), "{text}");
    assert!(text.contains("linked-dir/linked.yaml:2: Service/good: -: note: skipped"), "{text}");
    assert!(text.contains("a/loop:0: -: -: note: skipped: a symbolic link back to a directory"), "{text}");

    // An unreadable entry (here a dangling link) is reported alone; everything else is still linted, and the
    // exit status says an input could not be read.
    std::os::unix::fs::symlink(dir.path().join("nowhere"), root.join("a/gone.yaml")).expect("symlink");
    let out = serin(&["lint", &root.display().to_string()], None);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("a/gone.yaml:0: -: -: cannot read input: "), "{}", stdout(&out));
    assert!(stdout(&out).contains("BAD.YML:1: Rollout/bad: "), "{}", stdout(&out));
}

#[test]
fn conditions_are_compiled_with_the_evaluator_and_reported_with_their_field() {
    let text = r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: rates
spec:
  metrics:
  - name: fine
    successCondition: result[0] >= 0.95 && !isNaN(result[0])
    failureCondition: result[0] < 0.5
    provider:
      prometheus: {address: "http://p:9090", query: up}
  - name: with-arguments
    successCondition: result[0] >= {{args.min}}
    failureCondition: result[0] < {{ args.floor }}
    provider:
      prometheus: {address: "http://p:9090", query: up}
  - name: broken
    successCondition: result >>> 1
    provider:
      prometheus: {address: "http://p:9090", query: up}
"#;
    let out = serin(&["lint", "-"], Some(text));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let findings: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].starts_with(
            "-:1: AnalysisTemplate/rates: spec.metrics[2].successCondition: condition \"result >>> 1\" does not compile: "
        ),
        "{findings:?}"
    );
}

/// A large stream is linted one document at a time: peak memory is a few times the input, not the input's parse
/// tree (which took 13 times the input when every document was held at once).
#[test]
fn memory_stays_within_a_few_times_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 16 << 20 {
        text.push_str(&UNKNOWN_FIELD.replace("name: typo", &format!("name: typo-{i}")));
        text.push_str("---\n");
        i += 1;
    }
    let file = write(dir.path(), "big.yaml", &text);
    // Reaped by wait4 below, which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_serin"))
        .args(["lint", &file])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serin runs");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for the child just spawned, whose pid this process owns; `status` and `usage` outlive the call.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as libc::pid_t, "wait4");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "lint exit status {status}");
    let peak = usage.ru_maxrss as usize * 1024;
    // The binary alone (runtime, plugins) takes about 70 MiB.
    let budget = 80 * (1 << 20) + 5 * text.len();
    assert!(peak < budget, "peak RSS {} MiB for {} MiB of input", peak >> 20, text.len() >> 20);
}

#[test]
fn binary_junk_is_invalid_input_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("junk.yaml");
    std::fs::write(&path, [0xff, 0xfe, 0x00, 0x9c, b'{', b'[']).expect("write");
    let out = serin(&["lint", &path.display().to_string()], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("input is not UTF-8 text"));
}

#[test]
fn lint_requires_an_input() {
    let out = serin(&["lint"], None);
    // Usage errors exit 64 (EX_USAGE) in every serin command, apart from lint's own 0/1/2.
    assert_eq!(out.status.code(), Some(64), "usage errors exit 64");
    assert!(String::from_utf8_lossy(&out.stderr).contains("required"), "{out:?}");
}

#[test]
fn crds_prints_five_documents_matching_the_checked_in_files() {
    let out = serin(&["crds"], None);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(text.matches("\n---\n").count() + usize::from(text.starts_with("---\n")), 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = serin(&["crds", "--out-dir", &dir.path().display().to_string()], None);
    assert_eq!(out.status.code(), Some(0));
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/crds");
    for name in [
        "analysis-run-crd.yaml",
        "analysis-template-crd.yaml",
        "cluster-analysis-template-crd.yaml",
        "experiment-crd.yaml",
        "rollout-crd.yaml",
    ] {
        let written = std::fs::read_to_string(dir.path().join(name)).expect("written");
        let expected = std::fs::read_to_string(checked_in.join(name)).expect("checked in");
        assert!(written == expected, "{name} differs from the checked-in file");
        assert!(text.contains(&written), "stdout holds {name}");
    }
}

#[test]
fn output_piped_into_a_reader_that_stops_ends_quietly() {
    // `serin crds | head -1`: the reader goes away after the first bytes; serin ends by SIGPIPE, as Unix tools
    // do, never with a panic.
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_serin"))
        .arg("crds")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serin runs");
    let mut first = [0u8; 16];
    child.stdout.take().expect("stdout").read_exact(&mut first).expect("some output");
    // The read end is closed here; the rest of the output has nowhere to go.
    let out = child.wait_with_output().expect("serin finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}", out.status);
}

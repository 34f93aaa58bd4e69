//! The plugin author's command line: `serin plugin inspect | run | list` and `serin condition`.

use super::helpers::{serin_bin, serve, test_plugin};
use std::process::{Command, Output};

fn serin(args: &[&str]) -> Output {
    Command::new(serin_bin()).args(args).output().expect("run serin")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn condition_prints_the_verdict_or_the_error() {
    let cases: &[(&[&str], &str, i32)] = &[
        (&["--success", "result[0] >= 0.95", "--result", "[0.97, NaN]"], "Successful\n", 0),
        (&["--success", "result > 1", "--failure", "result > 5", "--result", "7"], "Failed\n", 1),
        (&["--success", "result > 10", "--failure", "result < 5", "--result", "7"], "Inconclusive\n", 3),
        // Values beginning with `-` are values, not flags.
        (&["--success", "-result[0] < 0.5", "--result", "[0.97]"], "Successful\n", 0),
        (&["--success", "result < 0", "--result", "-1"], "Successful\n", 0),
        (
            &["--success", "result > 1", "--result", "null"],
            "Error: could not evaluate successCondition \"result > 1\": metric result is nil or empty: no data returned from the metric provider\n",
            2,
        ),
    ];
    for (args, want, code) in cases {
        let mut full = vec!["condition"];
        full.extend_from_slice(args);
        let o = serin(&full);
        assert_eq!(stdout(&o), *want, "{args:?}: {}", stderr(&o));
        assert_eq!(o.status.code(), Some(*code), "{args:?}");
    }
    let o = serin(&["condition", "--success", "result > 1", "--result", "{not json"]);
    assert_eq!(o.status.code(), Some(64), "a result that is not JSON is a usage error");
    assert!(stderr(&o).contains("--result: invalid result JSON"), "{}", stderr(&o));
}

#[test]
fn inspect_shows_kind_contract_and_digest_or_why_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hostile.wasm");
    std::fs::write(&file, test_plugin("hostile")).expect("write");
    let o = serin(&["plugin", "inspect", file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("kind:     metric-provider"), "{out}");
    assert!(out.contains("contract: serin:plugin@0.1.0"), "{out}");
    assert!(out.contains("serin:plugin/metric-provider@0.1.0"), "{out}");
    assert!(out.contains("wasi:http/outgoing-handler@"), "{out}");
    let line =
        |out: &str, import: &str| out.lines().find(|l| l.contains(import)).unwrap_or_default().to_string();
    assert!(line(&out, "serin:plugin/kubernetes@").ends_with("needs a grant"), "{out}");
    assert!(line(&out, "serin:plugin/types@").ends_with("always"), "{out}");

    // With a registration, each import says what it is granted.
    let registration = dir.path().join("plugin.yaml");
    std::fs::write(
        &registration,
        "name: acme/hostile\ncapabilities:\n  http: [\"https://api.example\"]\n  kubernetes:\n  - {resource: configmaps, verbs: [get], namespaces: [mesh]}\n",
    )
    .expect("write");
    let o = serin(&[
        "plugin",
        "inspect",
        file.to_str().expect("path"),
        "--registration",
        registration.to_str().expect("path"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(line(&out, "wasi:http/outgoing-handler@").ends_with("granted: https://api.example:443"), "{out}");
    assert!(line(&out, "serin:plugin/kubernetes@").ends_with("granted: get configmaps in mesh"), "{out}");
    assert!(line(&out, "serin:plugin/prometheus@").ends_with("not granted"), "{out}");
    assert!(
        line(&out, "wasi:cli/environment@").ends_with("sandboxed: empty (no files, sockets or environment)"),
        "{out}"
    );
    assert!(line(&out, "wasi:clocks/wall-clock@").ends_with("always"), "{out}");

    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").expect("write");
    let o = serin(&["plugin", "inspect", junk.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not a valid serin plugin"), "{}", stderr(&o));
}

#[test]
fn list_shows_the_built_ins() {
    let o = serin(&["plugin", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for name in ["expr (built-in)", "web (built-in)", "prometheus (built-in)"] {
        assert!(out.contains(name), "{out}");
    }
}

#[tokio::test]
async fn run_grants_only_what_its_flags_grant() {
    let base = serve(
        axum::Router::new()
            .route("/rate", axum::routing::get(|| async { axum::Json(serde_json::json!({"rate": 0.97})) })),
    )
    .await;
    let config = serde_json::json!({"url": format!("{base}/rate"), "jsonPath": "{$.rate}"}).to_string();
    let bin = serin_bin().to_string();
    let (cfg, origin) = (config.clone(), base.clone());
    let granted = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["plugin", "run", "--plugin", "web", "--config", &cfg, "--allow-http", &origin])
            .args(["--success", "result > 0.9"])
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert!(granted.status.success(), "{}", stderr(&granted));
    let m: serde_json::Value = serde_json::from_slice(&granted.stdout).expect("measurement JSON");
    assert_eq!(m["phase"], "Successful");
    assert_eq!(m["value"], "0.97");

    let bin = serin_bin().to_string();
    let denied = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["plugin", "run", "--plugin", "web", "--config", &config])
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert_eq!(denied.status.code(), Some(2), "a denied call is an Error measurement");
    let err = stderr(&denied);
    assert_eq!(
        err.trim(),
        format!("plugin web made a denied call: outbound HTTP to {base} is not granted"),
        "{err}"
    );
}

#[test]
fn run_reports_a_hostile_plugin_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hostile.wasm");
    std::fs::write(&file, test_plugin("hostile")).expect("write");
    let o = serin(&[
        "plugin",
        "run",
        "--plugin",
        file.to_str().expect("path"),
        "--config",
        "loop",
        "--timeout",
        "300ms",
    ]);
    assert_eq!(o.status.code(), Some(2), "a plugin past its deadline is an Error measurement");
    let err = stderr(&o);
    assert!(err.trim().ends_with("exceeded its deadline of 300ms"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn list_includes_the_plugins_a_config_registers_and_reports_those_that_fail() {
    use sha2::Digest;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("constant.wasm");
    let bytes = test_plugin("constant");
    std::fs::write(&file, &bytes).expect("write");
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    let config = dir.path().join("serin-config.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: serin-config\ndata:\n  metricProviderPlugins: |-\n    \
             - name: acme/constant\n      location: file://{path}\n      sha256: {digest}\n    \
             - name: acme/tampered\n      location: file://{path}\n      sha256: {zeros}\n",
            path = file.display(),
            zeros = "0".repeat(64)
        ),
    )
    .expect("write config");
    let o = serin(&["plugin", "list", "--plugin-config", config.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.lines().any(|l| l.starts_with("acme/constant ") && l.contains(&digest)), "{out}");
    assert!(!out.contains("acme/tampered"), "{out}");
    assert!(
        stderr(&o).contains("plugin acme/tampered: plugin acme/tampered: sha256 mismatch"),
        "{}",
        stderr(&o)
    );
}

//! Runs the unit tests of the plugins in `plugins/` (their own cargo workspace, so the host's `cargo test` would
//! not reach them) on the host target, so that README's one test command covers the guests' pure logic too.

use std::path::Path;
use std::process::Command;

#[test]
fn plugin_unit_tests_pass_on_the_host() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-units");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root.join("plugins"))
        // `--lib`: the crates are cdylibs for wasm, which do not link as host libraries. The hostile plugin is
        // wasm-only by design (it reaches for wasm intrinsics) and has no logic to test.
        .args([
            "test",
            "--locked",
            "--workspace",
            "--lib",
            "--exclude",
            "serin-plugin-hostile",
            "--target-dir",
        ])
        .arg(&target_dir);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("run cargo test in plugins/");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "plugin unit tests failed:\n{stdout}\n{stderr}");
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    // The job plugin's manifest and ownership rules, the support crate's parsers and the Go formatter at least.
    assert!(passed >= 19, "expected the plugins' unit tests to run, saw {passed} pass:\n{stdout}");
}

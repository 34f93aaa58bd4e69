//! Builds the plugins in `plugins/` (their own cargo workspace) for `wasm32-wasip2`, so that `cargo build` of the
//! host embeds the built-in plugins and tests find the test plugins.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Built-in plugins embedded in the `serin` binary: (file stem, crate name).
const BUILTIN: &[(&str, &str)] = &[
    ("expr", "serin_plugin_expr"),
    ("web", "serin_plugin_web"),
    ("prometheus", "serin_plugin_prometheus"),
    ("job", "serin_plugin_job"),
    ("istio", "serin_plugin_istio"),
    ("smi", "serin_plugin_smi"),
    ("nginx", "serin_plugin_nginx"),
    ("gateway-api", "serin_plugin_gateway_api"),
    ("traefik", "serin_plugin_traefik"),
    ("apisix", "serin_plugin_apisix"),
    ("webhook", "serin_plugin_webhook"),
];

/// Plugins only tests use; their directory is exported as `SERIN_TEST_PLUGIN_DIR`.
const TESTING: &[(&str, &str)] = &[
    ("constant", "serin_plugin_constant"),
    ("hostile", "serin_plugin_hostile"),
    ("router", "serin_plugin_test_router"),
    ("router2", "serin_plugin_test_router2"),
    ("step", "serin_plugin_test_step"),
    ("overreach-evaluator", "serin_plugin_overreach_evaluator"),
    ("overreach-router", "serin_plugin_overreach_router"),
];

/// Plugin sources: a change to any of these rebuilds the plugins.
const SOURCES: &[&str] = &[
    "wit",
    "plugins/Cargo.toml",
    "plugins/Cargo.lock",
    "plugins/gofmt",
    "plugins/support",
    "plugins/expr",
    "plugins/web",
    "plugins/prometheus",
    "plugins/job",
    "plugins/istio",
    "plugins/smi",
    "plugins/nginx",
    "plugins/gateway-api",
    "plugins/traefik",
    "plugins/apisix",
    "plugins/webhook",
    "plugins/testing/constant",
    "plugins/testing/hostile",
    "plugins/testing/router",
    "plugins/testing/router2",
    "plugins/testing/step",
    "plugins/testing/overreach-evaluator",
    "plugins/testing/overreach-router",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    println!("cargo:rerun-if-env-changed=SERIN_PLUGIN_CARGO_FLAGS");

    // One wasm build shared by every host profile, beside the host's own target directory.
    let target_dir = host_target_dir(&out_dir).join("wasm-plugins");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(manifest_dir.join("plugins"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir);
    if let Ok(extra) = env::var("SERIN_PLUGIN_CARGO_FLAGS") {
        cmd.args(extra.split_whitespace());
    }
    // The outer build's flags and target are for the host, not for the guests.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo to build the plugins: {e}"));
    if !status.success() {
        panic!(
            "building the plugins in plugins/ for wasm32-wasip2 failed (see the output above). \
             If the target is missing: rustup target add wasm32-wasip2"
        );
    }

    let built = target_dir.join("wasm32-wasip2").join("release");
    copy_all(&built, &out_dir.join("plugins"), BUILTIN);
    let testing = out_dir.join("testing-plugins");
    copy_all(&built, &testing, TESTING);
    println!("cargo:rustc-env=SERIN_TEST_PLUGIN_DIR={}", testing.display());
}

fn copy_all(from: &Path, to: &Path, plugins: &[(&str, &str)]) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    for (stem, krate) in plugins {
        let src = from.join(format!("{krate}.wasm"));
        let dst = to.join(format!("{stem}.wasm"));
        std::fs::copy(&src, &dst)
            .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", src.display(), dst.display()));
    }
}

/// `<target>/<profile>/build/<pkg>-<hash>/out` → `<target>`.
fn host_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(|build| build.parent())
        .and_then(|profile| profile.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("target"))
}

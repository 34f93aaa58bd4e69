//! A metric provider written in C (examples/plugins/c-metric), built here the way a C author would build it:
//! C bindings generated from `wit/0.1.0`, compiled with Debian's clang and wasi-libc, then componentized with
//! WASI's preview1 reactor adapter. The host runs it like any other plugin.

use super::helpers::{metric_call, registry};
use serin::plugin::{CallOptions, MetricValue, Observation, PluginKind};
use std::path::{Path, PathBuf};
use std::process::Command;

const WORLD: &str = "metric-provider-plugin";

/// Generates the C bindings for the metric-provider world into `dir`.
fn generate_bindings(dir: &Path) {
    let mut resolve = wit_parser::Resolve::default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (pkg, _) = resolve.push_dir(root.join("wit/0.1.0")).expect("parse wit/0.1.0");
    let world = resolve.select_world(&[pkg], Some(WORLD)).expect("world");
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .expect("generate C bindings");
    for (name, contents) in files.iter() {
        std::fs::write(dir.join(name), contents).expect("write bindings");
    }
}

/// Builds the example C plugin into a component.
pub fn build_c_plugin() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    generate_bindings(dir.path());
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/plugins/c-metric/plugin.c");
    let core = dir.path().join("plugin.core.wasm");
    let out = Command::new("clang")
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Werror"])
        .arg("-I")
        .arg(dir.path())
        .arg(&source)
        .arg(dir.path().join("metric_provider_plugin.c"))
        .arg(dir.path().join("metric_provider_plugin_component_type.o"))
        .arg("-o")
        .arg(&core)
        .output()
        .expect("run clang: install Debian's clang lld wasi-libc libclang-rt-14-dev-wasm32 (.ci/run does)");
    assert!(out.status.success(), "clang failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let module = std::fs::read(&core).expect("core module");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("module with component type")
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .expect("adapter")
        .validate(true)
        .encode()
        .expect("componentize")
}

#[tokio::test]
async fn a_metric_provider_written_in_c_runs_in_the_host() {
    let component = build_c_plugin();
    let plugin = registry().insert("example/c-metric", &component, None).expect("load C plugin");
    assert_eq!(plugin.kind(), PluginKind::MetricProvider);
    assert_eq!(plugin.info().contract, serin::plugin::contract::Version::V0_1_0);
    match plugin.metric_run(&CallOptions::default(), &metric_call(r#"{"value": 0.97}"#)).await {
        Ok(Observation::Judge { result, display, metadata }) => {
            assert_eq!(result, MetricValue::Float(0.97));
            assert_eq!(display.as_deref(), Some("0.97"));
            assert!(metadata.contains(&("language".to_string(), "c".to_string())), "{metadata:?}");
        }
        other => panic!("{other:?}"),
    }
    match plugin.metric_run(&CallOptions::default(), &metric_call("{}")).await {
        Ok(Observation::Error(e)) => assert_eq!(e, "config needs a numeric \"value\""),
        other => panic!("{other:?}"),
    }
}

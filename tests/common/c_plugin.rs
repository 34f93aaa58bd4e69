//! Builds a plugin written in C (one of `examples/plugins/`) the way a C author would: C bindings generated from
//! the contract with wit-bindgen-c, compiled with Debian's clang and wasi-libc, then componentized with WASI's
//! preview1 reactor adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Generates the C bindings for `world` of `wit/<version>` into `dir`.
fn generate_bindings(dir: &Path, version: &str, world: &str) {
    let mut resolve = wit_parser::Resolve::default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (pkg, _) = resolve.push_dir(root.join("wit").join(version)).expect("parse the contract");
    let world = resolve.select_world(&[pkg], Some(world)).expect("world");
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .expect("generate C bindings");
    for (name, contents) in files.iter() {
        std::fs::write(dir.join(name), contents).expect("write bindings");
    }
}

/// Builds `examples/plugins/<example>/plugin.c` against `world` of `wit/<version>` into a component.
pub fn build(example: &str, version: &str, world: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    generate_bindings(dir.path(), version, world);
    let stem = world.replace('-', "_");
    let source =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/plugins").join(example).join("plugin.c");
    let core = dir.path().join("plugin.core.wasm");
    let out = Command::new("clang")
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Werror"])
        .arg("-I")
        .arg(dir.path())
        .arg(&source)
        .arg(dir.path().join(format!("{stem}.c")))
        .arg(dir.path().join(format!("{stem}_component_type.o")))
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

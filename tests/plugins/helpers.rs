//! Shared fixtures: one runtime and registry for the whole test binary, test plugins, HTTP servers on loopback.

use serin::plugin::metric::{MetricCall, ObjectRef};
use serin::plugin::{Registry, Runtime, RuntimeConfig};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// One registry (and so one engine and one compiled copy of each plugin) for every test in this binary.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::new(Runtime::new(RuntimeConfig::default()).expect("runtime")))
}

/// Bytes of a test plugin built by build.rs (`constant`, `hostile`).
pub fn test_plugin(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("SERIN_TEST_PLUGIN_DIR")).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The test plugin `name`, registered once.
pub fn loaded(name: &str) -> Arc<serin::plugin::Plugin> {
    let registry = registry();
    match registry.get(name) {
        Ok(p) => p,
        Err(_) => registry.insert(name, &test_plugin(name), None).expect("load test plugin"),
    }
}

/// A metric call with this provider configuration.
pub fn metric_call(config: impl Into<String>) -> MetricCall {
    MetricCall {
        run: ObjectRef {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "AnalysisRun".into(),
            namespace: "default".into(),
            name: "test-run".into(),
            uid: "00000000-0000-0000-0000-000000000000".into(),
        },
        metric_name: "test".into(),
        count: 0,
        config: config.into(),
        success_condition: None,
        failure_condition: None,
    }
}

/// Serves `router` on a free loopback port until the test process ends; returns the base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// The `serin` binary built for these tests.
pub fn serin_bin() -> &'static str {
    env!("CARGO_BIN_EXE_serin")
}

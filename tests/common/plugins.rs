//! Test plugins as the end-to-end suites register them: the components build.rs builds, and drop-in
//! ConfigMaps carrying one.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ObjectMeta;
use std::collections::BTreeMap;

/// Bytes of a test plugin built by build.rs (`constant`, `hostile`, `router2`, ...).
pub fn test_plugin(name: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("SERIN_TEST_PLUGIN_DIR")).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A drop-in ConfigMap `cm_name` registering `component` as `plugin`, with `registration_extra` (YAML lines
/// such as `capabilities:` or `limits:`) appended to its registration.
pub fn drop_in(
    namespace: &str,
    cm_name: &str,
    plugin: &str,
    component: Vec<u8>,
    registration_extra: &str,
) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(cm_name.into()),
            namespace: Some(namespace.into()),
            labels: Some(BTreeMap::from([("serin.dev/plugin".to_string(), "true".to_string())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "plugin.yaml".to_string(),
            format!("name: {plugin}\n{registration_extra}"),
        )])),
        binary_data: Some(BTreeMap::from([("plugin.wasm".to_string(), ByteString(component))])),
        ..Default::default()
    }
}

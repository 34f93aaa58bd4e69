//! The built-in plugins embedded in the `serin` binary (built from `plugins/` by build.rs). Argo's in-tree
//! provider names map to them.

use super::component::PluginKind;

/// A built-in plugin's component bytes and kind.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: PluginKind,
    pub bytes: &'static [u8],
    pub description: &'static str,
}

/// Every built-in plugin.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "expr",
        kind: PluginKind::ConditionEvaluator,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/expr.wasm")),
        description: "Argo Rollouts' successCondition / failureCondition (expr-lang)",
    },
    Builtin {
        name: "web",
        kind: PluginKind::MetricProvider,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/web.wasm")),
        description: "Argo Rollouts' Web provider: HTTP + JSONPath",
    },
    Builtin {
        name: "prometheus",
        kind: PluginKind::MetricProvider,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/prometheus.wasm")),
        description: "Argo Rollouts' Prometheus provider: instant and range PromQL queries",
    },
    Builtin {
        name: "job",
        kind: PluginKind::MetricProvider,
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/plugins/job.wasm")),
        description: "Argo Rollouts' Job provider: a batch/v1 Job per measurement, its outcome decides",
    },
];

/// The built-in plugin with this name.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// What a built-in traffic router may touch, from its configuration: the resources it edits, in the
/// Rollout's namespace (or the namespaces its configuration names). None for a name that is no built-in router.
pub fn router_grants(name: &str, config: &serde_json::Value, namespace: &str) -> super::grants::Grants {
    let _ = (name, config, namespace);
    super::grants::Grants::default()
}

//! Host bindings of the plugin contract `serin:plugin@0.1.0` (`wit/0.1.0`), one module per world. A released
//! contract is frozen: a new version gets its own WIT directory and its own modules here, and the host keeps
//! loading plugins built against the older ones.

/// The metric-provider world; it also owns the shared `types`, `log`, `prometheus` and `kubernetes` interfaces.
pub mod metric {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
        world: "metric-provider-plugin",
        imports: {
            "serin:plugin/prometheus": async,
            "serin:plugin/kubernetes": async,
            default: tracing,
        },
        exports: { default: async },
    });
}

/// The condition-evaluator world.
pub mod condition {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
        world: "condition-evaluator-plugin",
        with: {
            "serin:plugin/types": super::metric::serin::plugin::types,
            "serin:plugin/log": super::metric::serin::plugin::log,
        },
        exports: { default: async },
    });
}

/// The traffic-router world.
pub mod router {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
        world: "traffic-router-plugin",
        with: {
            "serin:plugin/types": super::metric::serin::plugin::types,
            "serin:plugin/log": super::metric::serin::plugin::log,
            "serin:plugin/kubernetes": super::metric::serin::plugin::kubernetes,
        },
        exports: { default: async },
    });
}

pub use metric::serin::plugin::{kubernetes, log, prometheus, types};

/// The contract version these bindings implement.
pub const CONTRACT_VERSION: &str = "0.1.0";

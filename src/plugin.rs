//! The plugin host: WebAssembly components behind the `serin:plugin` WIT contract, sandboxed and bounded.
//!
//! Compile once per digest (cached on disk), pre-link once (`InstancePre`), a fresh `Store` per call. Every call
//! has a deadline, a memory cap and an output cap; a plugin that traps, loops, or exceeds a cap yields a
//! [`CallError`] value and every other plugin keeps working.

pub mod builtin;
mod cache;
mod call;
pub mod catalog;
pub mod component;
pub mod condition;
pub mod contract;
pub mod error;
pub mod grants;
mod host;
mod http;
pub mod kube;
pub mod limits;
pub mod metric;
pub mod net;
mod promql;
pub mod registration;
pub mod registry;
pub mod router;
pub mod runtime;
mod state;
pub mod stats;
pub mod step;
pub mod value;

pub use call::CallOptions;
pub use component::{Plugin, PluginInfo, PluginKind};
pub use condition::Verdict;
pub use error::{CallError, LoadError};
pub use grants::Grants;
pub use limits::Limits;
pub use metric::{MetricCall, Observation};
pub use registry::Registry;
pub use runtime::{Runtime, RuntimeConfig};
pub use value::MetricValue;

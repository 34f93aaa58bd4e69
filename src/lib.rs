//! serin: progressive delivery for Kubernetes, serving Argo Rollouts' API, with every integration a sandboxed
//! WebAssembly component.

pub mod cli;
pub mod plugin;

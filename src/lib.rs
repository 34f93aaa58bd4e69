//! serin: progressive delivery for Kubernetes, serving Argo Rollouts' API, with every integration a sandboxed
//! WebAssembly component.

pub mod analysis;
pub mod api;
pub mod cli;
pub mod cluster;
pub mod controller;
pub mod install;
pub mod plugin;
pub mod strategy;

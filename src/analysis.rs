//! The analysis engine: AnalysisRuns measured through metric-provider plugins and judged through the condition
//! evaluator, exactly as Argo Rollouts decides (the decisions themselves live in `strategy::analysis`).

pub mod args;
pub mod engine;
pub mod provider;
pub mod template;

pub use engine::{Engine, Reconciled, RunEvent};

//! Pure decision logic, no I/O: the controllers call these with observed state and act on the answers. Time
//! comes in as an argument.

pub mod affinity;
pub mod analysis;
pub mod bluegreen;
pub mod canary;
pub mod conditions;
pub mod ephemeral;
pub mod experiment;
pub mod experiment_step;
pub mod fenceposts;
pub mod hash;
pub mod pause;
pub mod phase;
pub mod replicaset;
pub mod rollout_analysis;
pub mod step_plugin;
pub mod steps;
pub mod traffic;

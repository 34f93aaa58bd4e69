//! The Rollout controller end to end, on both substrates (the embedded cluster and the real control plane),
//! driven through the real `kubectl` as users and upstream's `kubectl argo rollouts` drive it.

#[macro_use]
#[path = "common/e2e.rs"]
mod e2e;

#[allow(dead_code)]
#[path = "api/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "common/c_plugin.rs"]
mod c_build;

#[path = "common/prometheus.rs"]
mod prometheus;

mod rollout {
    pub mod fixture;

    mod adoption;
    mod analysis;
    mod bluegreen;
    mod canary;
    mod cli;
    mod corpus;
    mod events;
    mod experiments;
    mod install;
    mod metrics;
    mod progress;
    mod resilience;
    mod rollback;
    mod routers;
    mod step_plugins;
    mod traffic;
    mod workload;
}

//! Plugin host tests: the sandbox against hostile plugins, the registry, condition semantics, the built-in
//! providers against real servers on 127.0.0.1, a plugin written in C, and the `serin plugin` / `condition` CLI.

#[allow(dead_code)]
#[path = "common/c_plugin.rs"]
mod c_build;

mod plugins {
    pub mod helpers;

    mod c_plugin;
    mod cli;
    mod conditions;
    mod contract;
    mod network;
    mod prometheus;
    mod registry;
    mod router;
    mod sandbox;
    mod web;
}

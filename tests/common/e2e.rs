//! Shared by the end-to-end test binaries (included as `#[path = "common/e2e.rs"] #[macro_use] mod e2e;`, under
//! that name): waiting on conditions, the real control plane, the two substrates every suite runs on, and test
//! plugins in drop-in ConfigMaps.

#![allow(dead_code)]

#[path = "controlplane.rs"]
pub mod controlplane;
#[path = "plugins.rs"]
pub mod plugins;
#[macro_use]
#[path = "substrate.rs"]
pub mod substrate;
#[path = "wait.rs"]
pub mod wait;

//! Shared by the end-to-end test binaries (included as `#[path = "common/e2e.rs"] #[macro_use] mod e2e;`, under
//! that name): waiting on conditions, the real control plane, and the two substrates every suite runs on.

#![allow(dead_code)]

#[path = "controlplane.rs"]
pub mod controlplane;
#[macro_use]
#[path = "substrate.rs"]
pub mod substrate;
#[path = "wait.rs"]
pub mod wait;

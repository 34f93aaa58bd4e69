//! End-to-end tests of the embedded cluster: the real kubectl, kube-rs clients and controllers, a table of
//! protocol cases and the lifecycle rules. Everything waits on conditions (never on sleeps) so it holds on a
//! loaded machine.

#[macro_use]
#[path = "common/e2e.rs"]
mod e2e;

use e2e::wait;

mod cluster {
    pub mod support;

    mod fidelity;
    mod kube_rs;
    mod kubectl;
    mod lifecycle;
    mod protobuf;
    mod protocol;
    mod verbs;
}

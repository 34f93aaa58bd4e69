//! End-to-end tests of the embedded cluster: the real kubectl, kube-rs clients and controllers, a table of
//! protocol cases and the lifecycle rules. Everything waits on conditions (never on sleeps) so it holds on a
//! loaded machine.

#[path = "common/wait.rs"]
mod wait;

mod cluster {
    pub mod support;

    mod kube_rs;
    mod kubectl;
    mod lifecycle;
    mod protocol;
}

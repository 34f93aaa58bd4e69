//! The analysis engine end to end: the controller on both substrates (the embedded cluster and the real control
//! plane) with real providers (a real Prometheus scraping an exporter the test controls, HTTP servers on
//! 127.0.0.1), plugin registration at run time, and `serin analyze` on this machine.

#[macro_use]
#[path = "common/e2e.rs"]
mod e2e;

#[path = "common/prometheus.rs"]
pub mod harness;

mod analysis {
    pub mod fixture;

    mod analyze_cli;
    mod controller;
    mod drop_in;
}

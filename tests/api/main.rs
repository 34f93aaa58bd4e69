//! Integration tests of the API module through its public interface, and serin's CRDs as both substrates serve
//! them.

#[macro_use]
#[path = "../common/e2e.rs"]
mod e2e;

mod corpus;
mod crds;
mod fuzz;
mod served;
mod support;
mod types;
mod validation_table;

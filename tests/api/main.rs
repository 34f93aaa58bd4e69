//! Integration tests of the API module through its public interface.

mod corpus;
mod crds;
mod fuzz;
mod support;
mod types;
mod validation_table;

//! Pure decision logic, no I/O: the controllers call these with observed state and act on the answers.

pub mod analysis;
pub mod hash;

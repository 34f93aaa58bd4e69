//! Helpers shared by serin's built-in plugins (guest side): HTTP over wasi:http, Go-style formatting, value trees.

pub use serin_gofmt as gofmt;
pub mod http;
pub mod jsonpath;
pub mod oauth2;
pub mod routing;
pub mod timeexpr;
pub mod tree;

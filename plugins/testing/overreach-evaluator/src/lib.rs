//! Test plugin: a `serin:plugin@0.2.0` condition evaluator that also imports `wasi:http/outgoing-handler`
//! (through the `wasip2` crate), which a condition evaluator's world does not offer: the host must refuse it
//! when it is loaded.

wit_bindgen::generate!({
    path: "../../../wit/0.2.0",
    world: "condition-evaluator-plugin",
    generate_all,
});

use exports::serin::plugin::condition_evaluator::{Guest, Verdict};
use serin::plugin::types::Value;

struct Overreach;

impl Guest for Overreach {
    fn evaluate(_expression: String, _result: Value) -> Result<bool, String> {
        // Exfiltrate the measurement: the import must not even link.
        let request = wasip2::http::types::OutgoingRequest::new(wasip2::http::types::Fields::new());
        let _ = wasip2::http::outgoing_handler::handle(request, None);
        Ok(true)
    }

    fn assess(_s: Option<String>, _f: Option<String>, _result: Value) -> Result<Verdict, String> {
        Ok(Verdict::Successful)
    }

    fn check(_expression: String) -> Result<(), String> {
        Ok(())
    }
}

export!(Overreach);

//! Loading and registering plugins: verification, contract versions, replacement at run time.

use super::helpers::{metric_call, registry, test_plugin};
use serin::plugin::{CallOptions, LoadError, Observation, PluginKind, Registry};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn built_ins_are_listed_with_kind_size_and_digest() {
    let rows = Registry::new(registry().runtime().clone()).list();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "apisix",
            "argoproj-labs/gatewayAPI",
            "expr",
            "istio",
            "job",
            "nginx",
            "prometheus",
            "smi",
            "traefik",
            "web",
            "webhook"
        ]
    );
    for row in &rows {
        assert!(row.builtin);
        assert_eq!(row.sha256.len(), 64);
        assert!(row.size > 1000, "{} is {} bytes", row.name, row.size);
        let kind = match row.name.as_str() {
            "expr" => PluginKind::ConditionEvaluator,
            "job" | "prometheus" | "web" => PluginKind::MetricProvider,
            "webhook" => PluginKind::StepPlugin,
            _ => PluginKind::TrafficRouter,
        };
        assert_eq!(row.kind, kind, "{}", row.name);
    }
}

#[test]
fn sha256_must_be_exactly_64_hex_digits() {
    let bytes = test_plugin("constant");
    let reg = Registry::new(registry().runtime().clone());
    for bad in ["", "abc", &"z".repeat(64), &"a".repeat(65)] {
        match reg.insert("acme/constant", &bytes, Some(bad)) {
            Err(e @ LoadError::BadDigest { .. }) => {
                assert!(e.to_string().contains("exactly 64 hexadecimal digits"), "{e}")
            }
            other => panic!("{bad:?} accepted: {other:?}"),
        }
    }
}

#[test]
fn sha256_mismatch_is_refused_and_match_is_accepted() {
    let bytes = test_plugin("constant");
    let reg = Registry::new(registry().runtime().clone());
    let wrong = "0".repeat(64);
    match reg.insert("acme/constant", &bytes, Some(&wrong)) {
        Err(e @ LoadError::DigestMismatch { .. }) => assert!(e.to_string().contains(&sha256(&bytes)), "{e}"),
        other => panic!("mismatch accepted: {other:?}"),
    }
    let plugin =
        reg.insert("acme/constant", &bytes, Some(&sha256(&bytes).to_uppercase())).expect("matching digest");
    assert_eq!(plugin.info().sha256, sha256(&bytes));
    assert_eq!(plugin.info().contract, serin::plugin::contract::Version::V0_1_0);
}

#[test]
fn gzip_compressed_components_load() {
    use std::io::Write;
    let bytes = test_plugin("constant");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes).expect("compress");
    let compressed = gz.finish().expect("compress");
    let reg = Registry::new(registry().runtime().clone());
    // The digest is of the component itself, so it does not change when the transport compresses it.
    let plugin = reg.insert("acme/gz", &compressed, Some(&sha256(&bytes))).expect("compressed plugin");
    assert_eq!(plugin.info().size, bytes.len());
}

#[test]
fn garbage_is_not_a_component() {
    let reg = Registry::new(registry().runtime().clone());
    let err = reg.insert("acme/junk", b"\0asm junk that is not wasm", None).unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
    assert_eq!(err.label(), "invalid");
}

#[test]
fn a_component_without_a_serin_export_is_not_a_plugin() {
    let wasm = wat::parse_str("(component)").expect("wat");
    let err = Registry::new(registry().runtime().clone()).insert("acme/empty", &wasm, None).unwrap_err();
    assert!(matches!(err, LoadError::NotAPlugin { .. }), "{err}");
}

#[test]
fn a_plugin_for_an_unknown_contract_version_is_refused_naming_every_supported_one() {
    let wasm = wat::parse_str(
        r#"(component
            (instance $i)
            (export "serin:plugin/metric-provider@0.3.0" (instance $i)))"#,
    )
    .expect("wat");
    let err = Registry::new(registry().runtime().clone()).insert("acme/future", &wasm, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin acme/future is built for serin:plugin@0.3.0; this host supports serin:plugin@0.1.0, serin:plugin@0.2.0"
    );
}

#[test]
fn unknown_plugin_names_are_reported() {
    let err = Registry::new(registry().runtime().clone()).get("acme/missing").unwrap_err();
    assert_eq!(err.to_string(), "plugin acme/missing is not registered");
}

#[tokio::test]
async fn replacing_a_plugin_leaves_calls_already_holding_it_undisturbed() {
    let reg = Registry::new(registry().runtime().clone());
    let first = reg.insert("acme/swap", &test_plugin("constant"), None).expect("load constant");
    let (opts, call) = (CallOptions::default(), metric_call("7"));
    let in_flight = first.metric_run(&opts, &call);
    // Replace while the first call is pending: the new name resolves to the new plugin...
    let second = reg.insert("acme/swap", &test_plugin("hostile"), None).expect("load hostile");
    assert_eq!(reg.get("acme/swap").expect("registered").info().sha256, second.info().sha256);
    // ...and the call that started with the old one finishes with it.
    match in_flight.await {
        Ok(Observation::Judge { result, .. }) => assert_eq!(result, serin::plugin::MetricValue::Float(7.0)),
        other => panic!("{other:?}"),
    }
    let out = reg
        .get("acme/swap")
        .expect("registered")
        .metric_run(&CallOptions::default(), &metric_call("ok"))
        .await;
    assert!(matches!(out, Ok(Observation::Decided { .. })), "{out:?}");
    assert!(reg.remove("acme/swap").is_some());
    assert!(reg.get("acme/swap").is_err());
}

#[tokio::test]
async fn calling_a_plugin_as_the_wrong_kind_is_an_error_value() {
    let expr = registry().get("expr").expect("expr");
    let err = expr.metric_run(&CallOptions::default(), &metric_call("{}")).await.unwrap_err();
    assert_eq!(err.to_string(), "plugin expr is a condition evaluator, not a metric provider");
}

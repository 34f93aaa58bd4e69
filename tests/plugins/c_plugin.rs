//! A metric provider written in C (examples/plugins/c-metric), built as a C author would (`tests/common/c_plugin.rs`);
//! the host runs it like any other plugin.

use super::helpers::{metric_call, registry};
use serin::plugin::{CallOptions, MetricValue, Observation, PluginKind};

/// Builds the example C metric provider into a component.
pub fn build_c_plugin() -> Vec<u8> {
    crate::c_build::build("c-metric", "0.1.0", "metric-provider-plugin")
}

#[tokio::test]
async fn a_metric_provider_written_in_c_runs_in_the_host() {
    let component = build_c_plugin();
    let plugin = registry().insert("example/c-metric", &component, None).expect("load C plugin");
    assert_eq!(plugin.kind(), PluginKind::MetricProvider);
    assert_eq!(plugin.info().contract, serin::plugin::contract::Version::V0_1_0);
    match plugin.metric_run(&CallOptions::default(), &metric_call(r#"{"value": 0.97}"#)).await {
        Ok(Observation::Judge { result, display, metadata }) => {
            assert_eq!(result, MetricValue::Float(0.97));
            assert_eq!(display.as_deref(), Some("0.97"));
            assert!(metadata.contains(&("language".to_string(), "c".to_string())), "{metadata:?}");
        }
        other => panic!("{other:?}"),
    }
    match plugin.metric_run(&CallOptions::default(), &metric_call("{}")).await {
        Ok(Observation::Error(e)) => assert_eq!(e, "config needs a numeric \"value\""),
        other => panic!("{other:?}"),
    }
}

//! Test plugin: the smallest useful metric provider. `run` judges the number in its config (1 when absent), with
//! no parsing library, so benchmarks measure the host's per-call cost rather than the guest's work.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "metric-provider-plugin",
});

use exports::serin::plugin::metric_provider::{Guest, InFlight, Judged, MetricContext, Observation};
use serin::plugin::types::{Value, ValueNode};

struct Constant;

impl Guest for Constant {
    fn run(ctx: MetricContext) -> Observation {
        let n: f64 = ctx.config.trim().trim_matches('"').parse().unwrap_or(1.0);
        Observation::Judge(Judged {
            result: Value { nodes: vec![ValueNode::Float(n)] },
            display: None,
            metadata: vec![("plugin".into(), env!("CARGO_PKG_VERSION").into())],
        })
    }

    fn resume(_ctx: MetricContext, _m: InFlight) -> Observation {
        Observation::Error("not long-running".into())
    }

    fn terminate(_ctx: MetricContext, _m: InFlight) -> Observation {
        Observation::Error("not long-running".into())
    }

    fn garbage_collect(_ctx: MetricContext, _keep: u32) -> Result<(), String> {
        Ok(())
    }
}

export!(Constant);

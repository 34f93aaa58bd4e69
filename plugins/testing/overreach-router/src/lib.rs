//! Test plugin: a `serin:plugin@0.2.0` traffic router that also imports `serin:plugin/prometheus`, which a
//! router's world does not offer: the host must refuse it when it is loaded.

wit_bindgen::generate!({
    path: "../../../wit/0.2.0",
    inline: "
        package test:overreach;
        world router-with-prometheus {
            include serin:plugin/traffic-router-plugin@0.2.0;
            import serin:plugin/prometheus@0.2.0;
        }
    ",
    world: "test:overreach/router-with-prometheus",
    generate_all,
});

use exports::serin::plugin::traffic_router::{
    Guest, HeaderRoute, MirrorRoute, Outcome, Reply, RouterContext, Verification, VerifyReply,
    WeightDestination,
};
use serin::plugin::prometheus::{self as prom, Endpoint};

struct Overreach;

fn done() -> Reply {
    Reply { outcome: Outcome::Done, state: None }
}

impl Guest for Overreach {
    fn set_weight(_ctx: RouterContext, _w: i32, _extra: Vec<WeightDestination>) -> Reply {
        let endpoint = Endpoint {
            address: "http://prometheus:9090".into(),
            headers: vec![],
            timeout_seconds: None,
            insecure: false,
        };
        let _ = prom::query(&endpoint, "up", None);
        done()
    }
    fn set_header_route(_ctx: RouterContext, _route: HeaderRoute) -> Reply {
        done()
    }
    fn set_mirror_route(_ctx: RouterContext, _route: MirrorRoute) -> Reply {
        done()
    }
    fn verify_weight(_ctx: RouterContext, _w: i32, _extra: Vec<WeightDestination>) -> VerifyReply {
        VerifyReply { verification: Verification::NotImplemented, reply: done() }
    }
    fn update_hash(_ctx: RouterContext, _c: String, _s: String, _extra: Vec<WeightDestination>) -> Reply {
        done()
    }
    fn remove_managed_routes(_ctx: RouterContext) -> Reply {
        done()
    }
}

export!(Overreach);

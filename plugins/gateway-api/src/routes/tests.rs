//! Cases for the Gateway API router's edits (weights as the argoproj-labs plugin sets them, and the header and
//! mirror rules).

use super::*;

fn services() -> Services {
    Services { canary: "canary".into(), stable: "stable".into() }
}

fn route() -> Value {
    json!({
        "parentRefs": [{"name": "gateway"}],
        "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
             "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-via", "value": "gw"}]}}],
             "backendRefs": [
                {"name": "stable", "port": 80, "weight": 100},
                {"name": "canary", "port": 80, "weight": 0}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
             "backendRefs": [{"name": "admin", "port": 80}]},
        ],
    })
}

fn weights(spec: &Value, rule: usize) -> Vec<(String, i64)> {
    spec["rules"][rule]["backendRefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap().to_string(), b["weight"].as_i64().unwrap_or(1)))
        .collect()
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(n, w)| (n.to_string(), *w)).collect()
}

#[test]
fn weights_go_to_every_canary_and_stable_backend_ref() {
    // (weight, max, expected weights of the split rule)
    let cases: &[(i64, i64, &[(&str, i64)])] = &[
        (0, 100, &[("stable", 100), ("canary", 0)]),
        (30, 100, &[("stable", 70), ("canary", 30)]),
        (100, 100, &[("stable", 0), ("canary", 100)]),
        (250, 1000, &[("stable", 750), ("canary", 250)]),
    ];
    for (w, max, want) in cases {
        let mut spec = route();
        set_weights(&mut spec, &services(), &[], *w, *max).unwrap();
        assert_eq!(weights(&spec, 0), pairs(want), "weight {w}");
        assert_eq!(weights(&spec, 1), pairs(&[("admin", 1)]), "other backends stay");
    }
    let mut spec = json!({"rules": [{"backendRefs": [{"name": "stable"}]}]});
    assert_eq!(
        set_weights(&mut spec, &services(), &[], 10, 100).unwrap_err(),
        "no rule has a backendRef to the canary Service canary"
    );
}

#[test]
fn header_rules_send_their_matches_to_the_canary_and_keep_out_of_the_split() {
    let managed = vec!["header".to_string()];
    let mut spec = route();
    let headers =
        vec![header_match("x-canary", "exact", "yes").unwrap(), header_match("x-v", "prefix", "2.").unwrap()];
    set_header_rule(&mut spec, &services(), "header", headers).unwrap();
    assert_eq!(
        spec["rules"][2],
        json!({
            "name": "header",
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [
                {"name": "x-canary", "type": "Exact", "value": "yes"},
                {"name": "x-v", "type": "RegularExpression", "value": "2\\..*"}]}],
            "filters": route()["rules"][0]["filters"],
            "backendRefs": [{"name": "canary", "port": 80}],
        })
    );
    set_weights(&mut spec, &services(), &managed, 40, 100).unwrap();
    assert_eq!(weights(&spec, 0), pairs(&[("stable", 60), ("canary", 40)]));
    assert_eq!(
        spec["rules"][2]["backendRefs"][0].get("weight"),
        None,
        "the header rule takes all it matches"
    );
    // Set again: replaced, not added; no headers: removed, and the route is as the user wrote it plus weights.
    set_header_rule(
        &mut spec,
        &services(),
        "header",
        vec![header_match("x-canary", "regex", "y.*").unwrap()],
    )
    .unwrap();
    assert_eq!(spec["rules"].as_array().unwrap().len(), 3);
    set_header_rule(&mut spec, &services(), "header", vec![]).unwrap();
    let mut original = route();
    set_weights(&mut original, &services(), &managed, 40, 100).unwrap();
    assert_eq!(spec, original);
}

#[test]
fn mirror_rules_keep_the_split_and_copy_requests_to_the_canary() {
    let managed = vec!["mirror".to_string()];
    let mut spec = route();
    set_weights(&mut spec, &services(), &managed, 10, 100).unwrap();
    let m = http_match(Some(("exact", "POST")), Some(("prefix", "/color")), &[]).unwrap();
    set_mirror_rule(&mut spec, &services(), "mirror", vec![m], Some(50)).unwrap();
    let rule = &spec["rules"][2];
    assert_eq!(
        rule["matches"],
        json!([{"method": "POST", "path": {"type": "PathPrefix", "value": "/color"}}])
    );
    assert_eq!(
        rule["filters"][1],
        json!({"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "canary", "port": 80}, "percent": 50}})
    );
    assert_eq!(weights(&spec, 2), pairs(&[("stable", 90), ("canary", 10)]));
    // The mirrored requests follow later weights too.
    set_weights(&mut spec, &services(), &managed, 30, 100).unwrap();
    assert_eq!(weights(&spec, 2), pairs(&[("stable", 70), ("canary", 30)]));
    set_mirror_rule(&mut spec, &services(), "mirror", vec![], None).unwrap();
    assert_eq!(spec["rules"].as_array().unwrap().len(), 2);
    assert!(http_match(Some(("prefix", "PO")), None, &[]).is_err(), "methods match exactly");
}

#[test]
fn routes_come_from_either_spelling_of_the_configuration() {
    let cfg: Config = serde_json::from_value(json!({
        "httpRoute": "single",
        "httpRoutes": [{"name": "a", "useHeaderRoutes": true}, {"name": "b"}],
        "grpcRoutes": [{"name": "g"}],
        "namespace": "mesh",
    }))
    .unwrap();
    let got: Vec<(Kind, String, bool)> =
        cfg.routes().into_iter().map(|r| (r.kind, r.name, r.header_routes)).collect();
    assert_eq!(
        got,
        vec![
            (Kind::Http, "single".into(), true),
            (Kind::Http, "a".into(), true),
            (Kind::Http, "b".into(), false),
            (Kind::Grpc, "g".into(), false),
        ]
    );
}

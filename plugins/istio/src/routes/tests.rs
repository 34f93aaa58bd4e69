//! Tables of cases from upstream's `rollout/trafficrouting/istio/istio_test.go`, restated as data.

use super::*;

fn targets() -> Targets {
    Targets {
        canary_service: "canary".into(),
        stable_service: "stable".into(),
        canary_subset: String::new(),
        stable_subset: String::new(),
    }
}

fn subsets() -> Targets {
    Targets { canary_subset: "canary".into(), stable_subset: "stable".into(), ..Default::default() }
}

fn vs(routes: &[&str]) -> VirtualServiceRef {
    VirtualServiceRef {
        name: "vs".into(),
        routes: routes.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

/// (host, weight) of each destination of route `i` of `kind`.
fn weights(spec: &Value, kind: &str, i: usize) -> Vec<(String, i64)> {
    spec[kind][i]["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let host = d["destination"]["host"].as_str().unwrap().to_string();
            let subset = d["destination"]["subset"].as_str().map(|s| format!("/{s}")).unwrap_or_default();
            (format!("{host}{subset}"), d["weight"].as_i64().unwrap_or(0))
        })
        .collect()
}

fn host_split() -> Value {
    json!({
        "hosts": ["app"],
        "http": [
            {"name": "secondary", "route": [{"destination": {"host": "other"}, "weight": 100}]},
            {"name": "primary", "route": [
                {"destination": {"host": "stable", "port": {"number": 8080}}, "weight": 100},
                {"destination": {"host": "canary.ns.svc.cluster.local", "port": {"number": 8080}}, "weight": 0},
            ]},
        ],
    })
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(h, w)| (h.to_string(), *w)).collect()
}

#[test]
fn weights_go_to_the_named_routes_canary_and_stable() {
    // (weight, max, extras, expected destinations of `primary`)
    let cases: &[(i64, i64, &[(&str, i64)], &[(&str, i64)])] = &[
        (10, 100, &[], &[("stable", 90), ("canary.ns.svc.cluster.local", 10)]),
        (0, 100, &[], &[("stable", 100), ("canary.ns.svc.cluster.local", 0)]),
        (100, 100, &[], &[("stable", 0), ("canary.ns.svc.cluster.local", 100)]),
        // Experiment destinations take their share from the stable, and are added when missing.
        (10, 100, &[("exp", 20)], &[("stable", 70), ("canary.ns.svc.cluster.local", 10), ("exp", 20)]),
        // Never negative.
        (90, 100, &[("exp", 20)], &[("stable", 0), ("canary.ns.svc.cluster.local", 90), ("exp", 20)]),
        (250, 1000, &[], &[("stable", 750), ("canary.ns.svc.cluster.local", 250)]),
    ];
    for (weight, max, extras, want) in cases {
        let mut spec = host_split();
        let extras: Vec<Extra> =
            extras.iter().map(|(s, w)| Extra { service: s.to_string(), weight: *w }).collect();
        set_weights(&mut spec, &vs(&["primary"]), &[], &targets(), *weight, *max, &extras).unwrap();
        assert_eq!(weights(&spec, "http", 1), pairs(want), "weight {weight}");
        assert_eq!(weights(&spec, "http", 0), pairs(&[("other", 100)]), "unnamed routes stay");
    }
}

#[test]
fn subset_level_split_weighs_by_subset_and_drops_strangers() {
    let mut spec = json!({"http": [{"name": "primary", "route": [
        {"destination": {"host": "app", "subset": "stable"}, "weight": 100},
        {"destination": {"host": "app", "subset": "canary"}, "weight": 0},
        {"destination": {"host": "app", "subset": "old"}, "weight": 0},
    ]}]});
    set_weights(&mut spec, &vs(&["primary"]), &[], &subsets(), 30, 100, &[]).unwrap();
    assert_eq!(weights(&spec, "http", 0), pairs(&[("app/stable", 70), ("app/canary", 30)]));
}

#[test]
fn which_http_routes_a_rollout_names() {
    let named = |n: &str| json!({"name": n});
    let unnamed = json!({});
    let cases: &[(&[&str], Vec<Value>, Result<Vec<usize>, &str>)] = &[
        (&[], vec![named("only")], Ok(vec![0])),
        (&[], vec![named("a"), unnamed.clone(), named("b")], Ok(vec![1])),
        (&[], vec![named("a"), named("b")], Ok(vec![])),
        (&["b", "a"], vec![named("a"), named("b")], Ok(vec![1, 0])),
        (&["c"], vec![named("a")], Err("HTTP Route 'c' is not found in the defined Virtual Service.")),
    ];
    for (names, http, want) in cases {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let got = http_route_indexes(&names, http);
        assert_eq!(got, want.clone().map_err(str::to_string), "{names:?}");
    }
}

#[test]
fn tls_and_tcp_routes_are_found_by_port_and_sni_hosts() {
    let spec = || {
        json!({
            "tls": [
                {"match": [{"port": 443, "sniHosts": ["a.example"]}], "route": [
                    {"destination": {"host": "stable"}, "weight": 100}, {"destination": {"host": "canary"}, "weight": 0}]},
                {"match": [{"port": 3443, "sniHosts": ["b.example", "c.example"]}], "route": [
                    {"destination": {"host": "stable"}, "weight": 100}, {"destination": {"host": "canary"}, "weight": 0}]},
            ],
            "tcp": [
                {"match": [{"port": 5432}], "route": [
                    {"destination": {"host": "stable"}, "weight": 100}, {"destination": {"host": "canary"}, "weight": 0}]},
            ],
        })
    };
    // None named: the first TLS and the first TCP route.
    let mut s = spec();
    set_weights(&mut s, &vs(&[]), &[], &targets(), 20, 100, &[]).unwrap();
    assert_eq!(weights(&s, "tls", 0), pairs(&[("stable", 80), ("canary", 20)]));
    assert_eq!(weights(&s, "tls", 1), pairs(&[("stable", 100), ("canary", 0)]));
    assert_eq!(weights(&s, "tcp", 0), pairs(&[("stable", 80), ("canary", 20)]));
    // Named by port and the SNI hosts in any order.
    let mut s = spec();
    let mut r = vs(&[]);
    r.tls_routes = vec![TlsRouteRef { port: 3443, sni_hosts: vec!["c.example".into(), "b.example".into()] }];
    r.tcp_routes = vec![TcpRouteRef { port: 5432 }];
    set_weights(&mut s, &r, &[], &targets(), 20, 100, &[]).unwrap();
    assert_eq!(weights(&s, "tls", 0), pairs(&[("stable", 100), ("canary", 0)]));
    assert_eq!(weights(&s, "tls", 1), pairs(&[("stable", 80), ("canary", 20)]));
    // A reference nothing matches is an error.
    let mut s = spec();
    r.tcp_routes = vec![TcpRouteRef { port: 1 }];
    let e = set_weights(&mut s, &r, &[], &targets(), 20, 100, &[]).unwrap_err();
    assert_eq!(e, "No matching TCP routes found in the defined Virtual Service.");
}

#[test]
fn header_and_mirror_routes_come_first_in_managed_route_order_and_go() {
    let managed: Vec<String> = vec!["mirror".into(), "header".into()];
    let mut spec = host_split();
    let r = vs(&["primary"]);
    set_weights(&mut spec, &r, &managed, &targets(), 10, 100, &[]).unwrap();
    let matches = vec![header_match("x-canary", "exact", "yes"), header_match("x-beta", "prefix", "on")];
    set_header_route(&mut spec, &r, "header", matches, "canary", "", &managed);
    let names = |s: &Value| -> Vec<String> {
        s["http"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&spec), ["header", "secondary", "primary"]);
    assert_eq!(
        spec["http"][0],
        json!({"name": "header",
            "match": [{"headers": {"x-canary": {"exact": "yes"}}}, {"headers": {"x-beta": {"prefix": "on"}}}],
            "route": [{"destination": {"host": "canary", "port": {"number": 8080}}, "weight": 100}]})
    );
    let mirror_match = vec![json!({"method": {"exact": "GET"}, "uri": {"prefix": "/api"}})];
    set_mirror_route(&mut spec, &r, "mirror", mirror_match.clone(), Some(35), "canary", "", &managed)
        .unwrap();
    assert_eq!(names(&spec), ["mirror", "header", "secondary", "primary"]);
    assert_eq!(spec["http"][0]["mirror"], json!({"host": "canary", "port": {"number": 8080}}));
    assert_eq!(spec["http"][0]["mirrorPercentage"], json!({"value": 35}));
    assert_eq!(spec["http"][0]["match"], json!(mirror_match));
    // The mirrored requests themselves keep the split, which follows every later weight.
    assert_eq!(weights(&spec, "http", 0), pairs(&[("stable", 90), ("canary.ns.svc.cluster.local", 10)]));
    set_weights(&mut spec, &r, &managed, &targets(), 40, 100, &[]).unwrap();
    assert_eq!(weights(&spec, "http", 0), pairs(&[("stable", 60), ("canary.ns.svc.cluster.local", 40)]));
    // Set again: replaced, not duplicated; no matches: removed.
    set_header_route(
        &mut spec,
        &r,
        "header",
        vec![header_match("x-canary", "regex", "y.*")],
        "canary",
        "",
        &managed,
    );
    assert_eq!(names(&spec), ["mirror", "header", "secondary", "primary"]);
    set_mirror_route(&mut spec, &r, "mirror", vec![], None, "canary", "", &managed).unwrap();
    assert_eq!(names(&spec), ["header", "secondary", "primary"]);
    remove_route(&mut spec, "header");
    let mut original = host_split();
    set_weights(&mut original, &r, &managed, &targets(), 40, 100, &[]).unwrap();
    assert_eq!(spec, original, "what the user wrote, plus the weights");
}

#[test]
fn subsets_select_the_replica_sets_pods_and_nothing_else_changes() {
    let r = DestinationRuleRef {
        name: "dr".into(),
        canary_subset_name: "canary".into(),
        stable_subset_name: "stable".into(),
    };
    let mut dr = json!({"metadata": {"name": "dr"}, "spec": {"host": "app", "subsets": [
        {"name": "stable", "labels": {"app": "app"}},
        {"name": "canary", "labels": {"app": "app", HASH_LABEL: "old"}},
        {"name": "other", "labels": {"app": "app"}},
    ]}});
    assert!(set_subset_hashes(&mut dr, &r, "new", "stable1", "ro"));
    assert_eq!(dr["metadata"]["annotations"][MANAGED_BY], "ro");
    assert_eq!(dr["spec"]["subsets"][0]["labels"], json!({"app": "app", HASH_LABEL: "stable1"}));
    assert_eq!(dr["spec"]["subsets"][1]["labels"], json!({"app": "app", HASH_LABEL: "new"}));
    assert_eq!(dr["spec"]["subsets"][2]["labels"], json!({"app": "app"}));
    assert!(!set_subset_hashes(&mut dr, &r, "new", "stable1", "ro"), "already so");
    assert!(set_subset_hashes(&mut dr, &r, "", "stable1", "ro"));
    assert_eq!(dr["spec"]["subsets"][1]["labels"], json!({"app": "app"}));
}

#[test]
fn names_may_carry_their_namespace() {
    assert_eq!(split_name("mesh/vs", "default"), ("mesh", "vs"));
    assert_eq!(split_name("vs", "default"), ("default", "vs"));
}

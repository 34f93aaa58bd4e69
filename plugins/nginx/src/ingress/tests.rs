//! Cases from upstream's `rollout/trafficrouting/nginx/nginx_test.go`, restated as data, and serin's header
//! routes.

use super::*;

fn stable() -> Value {
    json!({
        "metadata": {"name": "stable-ingress", "annotations": {
            "kubernetes.io/ingress.class": "nginx", "nginx.ingress.kubernetes.io/rewrite-target": "/"}},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["app.example"], "secretName": "tls"}],
            "rules": [
                {"host": "app.example", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "stable", "port": {"number": 80}}}}]}},
                {"host": "other.example", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "other", "port": {"number": 80}}}}]}},
            ],
        },
    })
}

fn canary(weight: i64) -> Canary {
    Canary {
        rollout: "ro".into(),
        rollout_uid: "u1".into(),
        namespace: "ns".into(),
        canary_service: "canary".into(),
        stable_service: "stable".into(),
        weight,
        max_weight: None,
    }
}

#[test]
fn the_canary_ingress_clones_the_stable_services_rules_and_carries_the_weight() {
    let cfg = Config {
        additional_ingress_annotations: BTreeMap::from([
            ("canary-by-cookie".to_string(), "beta".to_string()),
            ("nginx.ingress.kubernetes.io/load-balance".to_string(), "ewma".to_string()),
        ]),
        canary_ingress_annotations: BTreeMap::from([(
            "example.com/team".to_string(),
            "checkout".to_string(),
        )]),
        ..Default::default()
    };
    let ing = desired(&cfg, &stable(), &canary(20)).unwrap();
    assert_eq!(ing["metadata"]["name"], "ro-stable-ingress-canary");
    assert_eq!(
        ing["metadata"]["annotations"],
        json!({
            "kubernetes.io/ingress.class": "nginx",
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": "20",
            "nginx.ingress.kubernetes.io/canary-by-cookie": "beta",
            "nginx.ingress.kubernetes.io/load-balance": "ewma",
            "example.com/team": "checkout",
        }),
        "only the ingress class is copied from the stable Ingress"
    );
    let rules = ing["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "rules not reaching the stable Service are left out");
    assert_eq!(
        rules[0]["http"]["paths"][0]["backend"]["service"],
        json!({"name": "canary", "port": {"number": 80}})
    );
    assert_eq!(ing["spec"]["tls"], stable()["spec"]["tls"]);
    assert_eq!(ing["spec"]["ingressClassName"], "nginx");
    assert_eq!(ing["metadata"]["ownerReferences"][0]["uid"], "u1");

    let total =
        desired(&Config::default(), &stable(), &Canary { max_weight: Some(1000), ..canary(250) }).unwrap();
    assert_eq!(total["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight-total"], "1000");
    let custom = Config { annotation_prefix: Some("custom.nginx.io".into()), ..Default::default() };
    let ing = desired(&custom, &stable(), &canary(5)).unwrap();
    assert_eq!(ing["metadata"]["annotations"]["custom.nginx.io/canary-weight"], "5");

    let none = Canary { stable_service: "missing".into(), ..canary(5) };
    assert_eq!(
        desired(&Config::default(), &stable(), &none).unwrap_err(),
        "ingress `stable-ingress` has no rules using service missing backend"
    );
}

#[test]
fn names_are_trimmed_to_253_characters() {
    assert_eq!(canary_name("ro", "ing"), "ro-ing-canary");
    let long = "x".repeat(300);
    let name = canary_name("ro", &long);
    assert_eq!(name.len(), 253);
    assert!(name.ends_with("-canary"));
}

#[test]
fn a_patch_keeps_foreign_annotations_and_header_routes_and_is_none_when_nothing_changes() {
    let cfg = Config::default();
    let want = desired(&cfg, &stable(), &canary(20)).unwrap();
    let mut current = desired(&cfg, &stable(), &canary(10)).unwrap();
    current["metadata"]["annotations"]["field.cattle.io/publicEndpoints"] = json!("[]");
    let p = patch(cfg.prefix(), &current, &want).expect("a change");
    assert_eq!(p["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "20");
    assert_eq!(p["metadata"]["annotations"]["field.cattle.io/publicEndpoints"], "[]");
    current["metadata"]["annotations"] = p["metadata"]["annotations"].clone();
    assert_eq!(patch(cfg.prefix(), &current, &want), None);

    // A header route's annotations hold over the configuration's own canary-by-header.
    let configured = Config {
        additional_ingress_annotations: BTreeMap::from([(
            "canary-by-header".to_string(),
            "x-user".to_string(),
        )]),
        ..Default::default()
    };
    let want = desired(&configured, &stable(), &canary(20)).unwrap();
    let route = header_route_patch(
        DEFAULT_PREFIX,
        "header",
        &[("x-canary".into(), HeaderValue::Exact("yes".into()))],
    )
    .unwrap();
    let mut routed = want.clone();
    for (k, v) in &route {
        routed["metadata"]["annotations"][k] = v.clone();
    }
    let annotations = merged_annotations(DEFAULT_PREFIX, &routed, &want);
    assert_eq!(annotations["nginx.ingress.kubernetes.io/canary-by-header"], "x-canary");
    assert_eq!(annotations["nginx.ingress.kubernetes.io/canary-by-header-value"], "yes");
}

#[test]
fn header_routes_are_canary_by_header_annotations() {
    let p = DEFAULT_PREFIX;
    let key = |k: &str| format!("{p}/canary-by-header{k}");
    // (matches, expected header, value, pattern)
    let cases: &[(HeaderValue, Option<&str>, Option<&str>)] = &[
        (HeaderValue::Exact("yes".into()), Some("yes"), None),
        (HeaderValue::Prefix("v2.".into()), None, Some("^v2\\.")),
        (HeaderValue::Regex("be(ta|ts)".into()), None, Some("be(ta|ts)")),
    ];
    for (value, exact, pattern) in cases {
        let out = header_route_patch(p, "header", &[("x-canary".into(), value.clone())]).unwrap();
        assert_eq!(out[&key("")], "x-canary");
        assert_eq!(out[&key("-value")], exact.map_or(Value::Null, |v| json!(v)), "{value:?}");
        assert_eq!(out[&key("-pattern")], pattern.map_or(Value::Null, |v| json!(v)), "{value:?}");
        assert_eq!(out[HEADER_ROUTE_ANNOTATION], "header");
    }
    let removal = header_route_patch(p, "header", &[]).unwrap();
    assert!(removal.values().all(Value::is_null), "{removal:?}");
    let two = [
        ("a".to_string(), HeaderValue::Exact("1".into())),
        ("b".to_string(), HeaderValue::Exact("2".into())),
    ];
    assert_eq!(
        header_route_patch(p, "header", &two).unwrap_err(),
        "header route header: NGINX routes to a canary by one header, and 2 are given"
    );
    let routed = json!({"metadata": {"annotations": {HEADER_ROUTE_ANNOTATION: "header"}}});
    assert!(remove_header_route_patch(p, &routed).is_some());
    assert!(remove_header_route_patch(p, &json!({"metadata": {"annotations": {}}})).is_none());
}

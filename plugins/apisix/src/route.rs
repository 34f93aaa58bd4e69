//! The `apisix` router's edits of ApisixRoutes, without I/O (upstream's `rollout/trafficrouting/apisix`): the
//! weights of the named rules' backends, and a header route as an ApisixRoute of its own, named after the
//! managed route, copied from the Rollout's route with the canary as the only backend, a higher priority and
//! the header expressions.

use serde_json::{Value, json};

/// The rules a Rollout names (`route.rules`, or the route's name when none are).
pub fn rule_names(cfg: &Value) -> Vec<String> {
    let route = &cfg["route"];
    let rules: Vec<String> = route["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    if rules.is_empty() { route["name"].as_str().map(str::to_string).into_iter().collect() } else { rules }
}

fn rule_mut<'a>(spec: &'a mut Value, name: &str) -> Result<&'a mut Value, String> {
    spec.get_mut("http")
        .and_then(Value::as_array_mut)
        .ok_or("spec.http was not found in Apisix Route manifest")?
        .iter_mut()
        .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
        .ok_or_else(|| format!("Apisix http route rule {name} not found"))
}

fn set_backend_weight(rule: &mut Value, service: &str, weight: i64) -> Result<(), String> {
    let backend = rule
        .get_mut("backends")
        .and_then(Value::as_array_mut)
        .ok_or("Apisix http route rule has no backends")?
        .iter_mut()
        .find(|b| b.get("serviceName").and_then(Value::as_str) == Some(service))
        .ok_or_else(|| format!("apisix backend {service} not found"))?;
    backend["weight"] = json!(weight);
    Ok(())
}

/// `processSetWeightRoutes`: canary `weight`, stable what is left of `max`.
pub fn set_weights(
    spec: &mut Value,
    rules: &[String],
    canary: &str,
    stable: &str,
    weight: i64,
    max: i64,
) -> Result<(), String> {
    for name in rules {
        let rule = rule_mut(spec, name)?;
        set_backend_weight(rule, canary, weight)?;
        set_backend_weight(rule, stable, (max - weight).max(0))?;
    }
    Ok(())
}

/// `apisixExprs`: one expression per header: `Equal` for an exact value, `RegexMatch` otherwise.
pub fn header_expr(name: &str, how: &str, value: &str) -> Value {
    let (op, value) = match how {
        "exact" => ("Equal", value.to_string()),
        "prefix" => ("RegexMatch", format!("^{value}.*")),
        _ => ("RegexMatch", value.to_string()),
    };
    json!({"subject": {"scope": "Header", "name": name}, "op": op, "value": value})
}

/// The spec of the header route's own ApisixRoute, from the Rollout's route's spec: in each named rule the
/// canary takes everything (weight 100, the stable removed), under the expressions; a new one's rules get a
/// priority one above the original's.
pub fn header_route_spec(
    route_spec: &Value,
    rules: &[String],
    canary: &str,
    stable: &str,
    exprs: &[Value],
    new: bool,
) -> Result<Value, String> {
    let mut spec = route_spec.clone();
    for name in rules {
        let rule = rule_mut(&mut spec, name)?;
        set_backend_weight(rule, canary, 100)?;
        if let Some(backends) = rule.get_mut("backends").and_then(Value::as_array_mut) {
            backends.retain(|b| b.get("serviceName").and_then(Value::as_str) != Some(stable));
        }
        if new {
            let priority = rule.get("priority").and_then(Value::as_i64).unwrap_or(0);
            rule["priority"] = json!(priority + 1);
        }
        if !rule.get("match").is_some_and(Value::is_object) {
            rule["match"] = json!({});
        }
        rule["match"]["exprs"] = json!(exprs);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> Value {
        json!({"http": [{"name": "main", "match": {"paths": ["/*"]}, "backends": [
            {"serviceName": "stable", "servicePort": 80}, {"serviceName": "canary", "servicePort": 80}]}]})
    }

    #[test]
    fn weights_go_to_the_named_rules_backends() {
        let mut spec = route();
        set_weights(&mut spec, &["main".into()], "canary", "stable", 25, 100).unwrap();
        assert_eq!(spec["http"][0]["backends"][0]["weight"], 75);
        assert_eq!(spec["http"][0]["backends"][1]["weight"], 25);
        assert_eq!(
            set_weights(&mut spec, &["nope".into()], "canary", "stable", 25, 100).unwrap_err(),
            "Apisix http route rule nope not found"
        );
        assert_eq!(rule_names(&json!({"route": {"name": "r"}})), vec!["r".to_string()]);
        assert_eq!(
            rule_names(&json!({"route": {"name": "r", "rules": ["a", "b"]}})),
            vec!["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn a_header_route_is_the_route_with_only_the_canary_under_the_expressions() {
        let exprs = vec![header_expr("trace", "exact", "debug"), header_expr("v", "prefix", "2")];
        let spec = header_route_spec(&route(), &["main".into()], "canary", "stable", &exprs, true).unwrap();
        let rule = &spec["http"][0];
        assert_eq!(rule["backends"], json!([{"serviceName": "canary", "servicePort": 80, "weight": 100}]));
        assert_eq!(rule["priority"], 1);
        assert_eq!(rule["match"]["paths"], json!(["/*"]));
        assert_eq!(
            rule["match"]["exprs"],
            json!([
                {"subject": {"scope": "Header", "name": "trace"}, "op": "Equal", "value": "debug"},
                {"subject": {"scope": "Header", "name": "v"}, "op": "RegexMatch", "value": "^2.*"},
            ])
        );
        let again = header_route_spec(&spec, &["main".into()], "canary", "stable", &exprs, false).unwrap();
        assert_eq!(again["http"][0]["priority"], 1, "an existing one keeps its priority");
    }
}

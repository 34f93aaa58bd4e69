//! Argo Rollouts' condition semantics (`utils/evaluate`), pinned by a table of cases run through the built-in
//! `expr` evaluator plugin: Argo's functions, expr-lang's operators and builtins, NaN/Inf rules, the outcome of a
//! success + failure pair, and upstream's error texts.

use super::helpers::registry;
use serin::plugin::{CallOptions, MetricValue, Verdict};

/// (successCondition, failureCondition, result JSON, expected outcome). An expected outcome starting with
/// `Error:` must match the error text exactly, unless it ends in `…`, when it is a prefix.
const CASES: &[(&str, &str, &str, &str)] = &[
    // Outcome rules of a success / failure pair.
    ("", "", "1", "Successful"),
    ("result > 1", "", "2", "Successful"),
    ("result > 1", "", "0", "Failed"),
    ("", "result > 1", "2", "Failed"),
    ("", "result > 1", "0", "Successful"),
    ("result > 1", "result > 5", "7", "Failed"),
    ("result > 10", "result < 5", "7", "Inconclusive"),
    ("result > 1", "result < 0", "2", "Successful"),
    ("result > 1", "result > 1", "2", "Failed"),
    // NaN and infinities: comparisons with NaN are false; +Inf compares as the largest number.
    ("result > 0.9", "", "NaN", "Failed"),
    ("result < 0.9", "", "NaN", "Failed"),
    ("result >= 0.9", "result < 0.5", "NaN", "Inconclusive"),
    ("result >= 0.9", "", "+Inf", "Successful"),
    ("result < 0", "", "-Inf", "Successful"),
    ("isNaN(result)", "", "NaN", "Successful"),
    ("isNaN(result)", "", "1.5", "Failed"),
    ("isInf(result)", "", "+Inf", "Successful"),
    ("isInf(result)", "", "-Inf", "Successful"),
    ("isInf(result)", "", "3", "Failed"),
    ("isNaN(result[0]) || result[0] >= 0.95", "", "[NaN]", "Successful"),
    // Argo's conversion functions.
    ("asInt(result) == 3", "", "\"3\"", "Successful"),
    ("asInt(result) == 3", "", "3.9", "Successful"),
    ("asInt(result) > 2", "", "\"2\"", "Failed"),
    ("asFloat(result) > 0.5", "", "\"0.75\"", "Successful"),
    ("asFloat(result) == 2", "", "2", "Successful"),
    (
        "asInt(result) == 3",
        "",
        "\"3.5\"",
        "Error: could not evaluate successCondition \"asInt(result) == 3\": strconv.ParseInt: parsing \"3.5\": invalid syntax",
    ),
    (
        "asFloat(result) > 1",
        "",
        "\"abc\"",
        "Error: could not evaluate successCondition \"asFloat(result) > 1\": strconv.ParseFloat: parsing \"abc\": invalid syntax",
    ),
    // isNil and default ignore their first argument and look at the measurement result (upstream quirk).
    ("isNil(result)", "", "null", "Successful"),
    ("isNil(result)", "", "0", "Failed"),
    ("isNil(1)", "", "null", "Successful"),
    ("default(result, 5) == 5", "", "null", "Successful"),
    ("default(result, 5) == 2", "", "2", "Successful"),
    ("default(0, 5) == 2", "", "2", "Successful"),
    // A nil or empty result makes every evaluation error name the missing data.
    (
        "result > 1",
        "",
        "null",
        "Error: could not evaluate successCondition \"result > 1\": metric result is nil or empty: no data returned from the metric provider",
    ),
    (
        "result[0] > 1",
        "",
        "[]",
        "Error: could not evaluate successCondition \"result[0] > 1\": metric result is nil or empty: no data returned from the metric provider",
    ),
    ("len(result) == 0", "", "[]", "Successful"),
    ("result == nil", "", "null", "Successful"),
    ("result != nil", "", "1", "Successful"),
    // Index and member access.
    ("result[0] >= 0.95", "", "[0.97, 0.5]", "Successful"),
    ("result[1] >= 0.95", "", "[0.97, 0.5]", "Failed"),
    ("result[-1] == 0.5", "", "[0.97, 0.5]", "Successful"),
    ("result.status == \"ok\"", "", "{\"status\": \"ok\"}", "Successful"),
    ("result[\"status\"] == \"ok\"", "", "{\"status\": \"ok\"}", "Successful"),
    ("result.data.rate > 0.9", "", "{\"data\": {\"rate\": 0.97}}", "Successful"),
    ("result.items[1].v == 2", "", "{\"items\": [{\"v\": 1}, {\"v\": 2}]}", "Successful"),
    ("result?.missing == nil", "", "{\"status\": \"ok\"}", "Successful"),
    // Logic and arithmetic.
    ("result > 1 and result < 3", "", "2", "Successful"),
    ("result > 1 && result < 3", "", "4", "Failed"),
    ("result < 1 or result > 3", "", "4", "Successful"),
    ("not (result > 1)", "", "0", "Successful"),
    ("!(result > 1)", "", "2", "Failed"),
    ("result * 2 == 3", "", "1.5", "Successful"),
    ("result / 2 == 0.75", "", "1.5", "Successful"),
    ("result % 2 == 1", "", "\"x\"", "Error: could not evaluate successCondition \"result % 2 == 1\": …"),
    ("result ** 2 == 9", "", "3", "Successful"),
    ("result == true", "", "true", "Successful"),
    ("result ? true : false", "", "true", "Successful"),
    ("result == \"ok\"", "", "\"ok\"", "Successful"),
    ("result + \"!\" == \"ok!\"", "", "\"ok\"", "Successful"),
    // Membership and string operators.
    ("result in [1, 2, 3]", "", "2", "Successful"),
    ("result in [1, 2, 3]", "", "4", "Failed"),
    ("result not in [1, 2]", "", "4", "Successful"),
    ("\"a\" in result", "", "{\"a\": 1}", "Successful"),
    ("result matches \"^2[0-9]{2}$\"", "", "\"204\"", "Successful"),
    ("result matches \"^2[0-9]{2}$\"", "", "\"404\"", "Failed"),
    ("result contains \"ok\"", "", "\"all ok\"", "Successful"),
    ("result startsWith \"all\"", "", "\"all ok\"", "Successful"),
    ("result endsWith \"ok\"", "", "\"all ok\"", "Successful"),
    // Collection builtins and `#` closures.
    ("all(result, {# > 0.5})", "", "[0.97, 0.6]", "Successful"),
    ("all(result, {# > 0.5})", "", "[0.97, 0.4]", "Failed"),
    ("all(result, # > 0.5)", "", "[0.97, 0.6]", "Successful"),
    ("any(result, {# > 0.9})", "", "[0.97, 0.4]", "Successful"),
    ("none(result, {# > 0.99})", "", "[0.97, 0.4]", "Successful"),
    ("one(result, {# > 0.9})", "", "[0.97, 0.4]", "Successful"),
    ("one(result, {# > 0.3})", "", "[0.97, 0.4]", "Failed"),
    ("count(result, {# > 0.5}) == 2", "", "[0.97, 0.6, 0.1]", "Successful"),
    ("len(filter(result, {# > 0.5})) == 2", "", "[0.97, 0.6, 0.1]", "Successful"),
    ("map(result, {# * 2})[0] == 2", "", "[1, 2]", "Successful"),
    ("all(result, {.ok})", "", "[{\"ok\": true}, {\"ok\": true}]", "Successful"),
    ("len(result) == 3", "", "[1, 2, 3]", "Successful"),
    ("len(result) == 3", "", "\"abc\"", "Successful"),
    ("max(result[0], result[1]) == 5", "", "[5, 2]", "Successful"),
    ("min(result[0], result[1]) == 2", "", "[5, 2]", "Successful"),
    ("max(result) == 5", "", "[5, 2]", "Successful"),
    ("sum(result) == 6", "", "[1, 2, 3]", "Successful"),
    ("mean(result) == 2", "", "[1, 2, 3]", "Successful"),
    ("median(result) == 2", "", "[3, 1, 2]", "Successful"),
    ("abs(result) == 2", "", "-2", "Successful"),
    ("int(result) == 2", "", "2.7", "Successful"),
    ("float(result) == 2", "", "\"2\"", "Successful"),
    ("string(result) == \"2\"", "", "2", "Successful"),
    // Errors: upstream's texts.
    ("foo > 1", "", "1", "Error: could not evaluate successCondition \"foo > 1\": unknown name foo"),
    ("", "bar", "1", "Error: could not evaluate failureCondition \"bar\": unknown name bar"),
    (
        "result",
        "",
        "1",
        "Error: could not evaluate successCondition \"result\": expected bool, but got float64",
    ),
    (
        "result",
        "",
        "\"x\"",
        "Error: could not evaluate successCondition \"result\": expected bool, but got string",
    ),
    (
        "result[0]",
        "",
        "[1]",
        "Error: could not evaluate successCondition \"result[0]\": expected bool, but got float64",
    ),
    ("result >", "", "1", "Error: could not evaluate successCondition \"result >\": …"),
    ("result > 1", "result <", "2", "Error: could not evaluate failureCondition \"result <\": …"),
];

fn parse_expected(expected: &str) -> Result<Verdict, String> {
    match expected {
        "Successful" => Ok(Verdict::Successful),
        "Failed" => Ok(Verdict::Failed),
        "Inconclusive" => Ok(Verdict::Inconclusive),
        e => Err(e.strip_prefix("Error: ").unwrap_or(e).to_string()),
    }
}

#[tokio::test]
async fn conditions_follow_argo_semantics() {
    let expr = registry().get("expr").expect("expr plugin");
    let opts = CallOptions::default();
    let mut failures = Vec::new();
    for (success, failure, result, expected) in CASES {
        let value = MetricValue::parse(result).expect("result JSON");
        let some = |s: &'static str| (!s.is_empty()).then_some(s);
        let got = expr.assess(&opts, some(success), some(failure), &value).await.expect("evaluator call");
        let ok = match (parse_expected(expected), &got) {
            (Ok(want), Ok(v)) => want == *v,
            (Err(want), Err(e)) => match want.strip_suffix('…') {
                Some(prefix) => e.starts_with(prefix),
                None => *e == want,
            },
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "success={success:?} failure={failure:?} result={result}: want {expected}, got {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn evaluate_returns_the_boolean_of_one_expression() {
    let expr = registry().get("expr").expect("expr plugin");
    let opts = CallOptions::default();
    let v = MetricValue::parse("[0.97]").expect("json");
    assert_eq!(expr.evaluate(&opts, "result[0] > 0.9", &v).await, Ok(Ok(true)));
    assert_eq!(expr.evaluate(&opts, "result[0] > 0.99", &v).await, Ok(Ok(false)));
    assert_eq!(expr.evaluate(&opts, "nope", &v).await, Ok(Err("unknown name nope".into())));
}

//! Argo Rollouts' condition semantics (`utils/evaluate`), pinned by a table of cases run through the built-in
//! `expr` evaluator plugin: Argo's functions, expr-lang's operators and builtins, NaN/Inf rules, the outcome of a
//! success + failure pair, and upstream's error texts. Every case, and the plugin's own parity table, is also
//! put to Argo Rollouts itself (`tests/podhash`'s `eval`, built with the control plane): serin must answer as
//! it does, except where `plugins/expr/src/differences.rs` says why not.

use super::helpers::registry;
use serin::plugin::{CallOptions, MetricValue, Verdict};
use std::io::Write;
use std::process::{Command, Stdio};

/// The plugin's parity table (`PARITY`: cases with the answer Argo Rollouts gave when it was generated) and its
/// deliberate differences (`DIFFERENCES`).
#[allow(dead_code)]
mod upstream {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/expr/src/parity.rs"));
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/expr/src/differences.rs"));
}

/// (successCondition, failureCondition, result JSON, expected outcome). An expected outcome starting with
/// `Error:` must match the error text exactly, unless it ends in `…`, when it is a prefix.
const CASES: &[(&str, &str, &str, &str)] = &[
    // Go expr's grammar: stacked unary operators.
    ("!!true", "", "1", "Successful"),
    ("not not true", "", "1", "Successful"),
    ("- -1 < 0", "", "1", "Failed"),
    ("!(!true)", "", "1", "Successful"),
    // Go expr type-checks against the measurement's type: a mismatch is an error, not a failed condition.
    (
        "result == true",
        "",
        "1",
        "Error: could not evaluate successCondition \"result == true\": invalid operation: == (mismatched types float64 and bool)",
    ),
    (
        "result != \"fail\"",
        "",
        "true",
        "Error: could not evaluate successCondition \"result != \"fail\"\": invalid operation: != (mismatched types bool and string)",
    ),
    (
        "result > 1",
        "result == \"down\"",
        "2",
        "Error: could not evaluate failureCondition \"result == \"down\"\": invalid operation: == (mismatched types float64 and string)",
    ),
    (
        "result.status == \"ok\"",
        "",
        "1",
        "Error: could not evaluate successCondition \"result.status == \"ok\"\": type float64 has no field status",
    ),
    // Elements of a list or map are of unknown type: checked when evaluated.
    ("result[0] == true", "", "[1]", "Failed"),
    (
        "result[0] + 1 > 1",
        "",
        "[\"a\"]",
        "Error: could not evaluate successCondition \"result[0] + 1 > 1\": invalid operation: string + int",
    ),
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

#[tokio::test]
async fn nesting_too_deep_for_the_guest_is_refused_cleanly() {
    let expr = registry().get("expr").expect("expr plugin");
    let opts = CallOptions::default();
    let value = MetricValue::parse("1").expect("json");
    for condition in deep_conditions() {
        let got = expr.assess(&opts, Some(condition.as_str()), None, &value).await.expect("evaluator call");
        let want =
            format!("could not evaluate successCondition \"{condition}\": expression too deeply nested");
        assert_eq!(got, Err(want));
    }
}

/// Nested far deeper than serin accepts (Go expr accepts these; see the parity test).
fn deep_conditions() -> Vec<String> {
    vec![
        format!("{}true{}", "(".repeat(5000), ")".repeat(5000)),
        format!("{}true", "!".repeat(5000)),
        format!("{}true", "not ".repeat(3000)),
        vec!["result > 0"; 300].join(" || "),
    ]
}

/// A case's result as the plugin gets it: `{"$int": n}` stands for an integer (JSON has no way to say it).
fn result_value(text: &str) -> MetricValue {
    fn ints(v: MetricValue) -> MetricValue {
        match v {
            MetricValue::Map(entries) if entries.len() == 1 && entries[0].0 == "$int" => match entries[0].1 {
                MetricValue::Float(f) => MetricValue::Int(f as i64),
                _ => MetricValue::Map(entries),
            },
            MetricValue::Map(entries) => {
                MetricValue::Map(entries.into_iter().map(|(k, v)| (k, ints(v))).collect())
            }
            MetricValue::List(items) => MetricValue::List(items.into_iter().map(ints).collect()),
            other => other,
        }
    }
    ints(MetricValue::parse(text).unwrap_or_else(|e| panic!("result {text}: {e}")))
}

/// A result as `podhash eval` reads it: JSON, with `{"$float": "NaN"}` (or `+Inf`, `-Inf`) and `{"$int": n}`
/// for what JSON numbers cannot say.
fn go_json(v: &MetricValue) -> serde_json::Value {
    use serde_json::{Value, json};
    match v {
        MetricValue::Nil => Value::Null,
        MetricValue::Bool(b) => json!(b),
        MetricValue::Int(i) => json!({ "$int": i }),
        MetricValue::Float(f) if f.is_nan() => json!({ "$float": "NaN" }),
        MetricValue::Float(f) if f.is_infinite() => {
            json!({ "$float": if *f > 0.0 { "+Inf" } else { "-Inf" } })
        }
        MetricValue::Float(f) => json!(f),
        MetricValue::Text(s) => json!(s),
        MetricValue::List(items) => Value::Array(items.iter().map(go_json).collect()),
        MetricValue::Map(entries) => {
            Value::Object(entries.iter().map(|(k, v)| (k.clone(), go_json(v))).collect())
        }
    }
}

/// Argo Rollouts' own outcome for each (success, failure, result), in the tables' notation; `None` when the
/// real control plane's tools are skipped.
fn argo_outcomes(cases: &[(String, String, MetricValue)]) -> Option<Vec<String>> {
    const SKIP_VAR: &str = "SERIN_SKIP_REAL_CLUSTER";
    if std::env::var(SKIP_VAR).is_ok_and(|v| !v.is_empty() && v != "0") {
        eprintln!("SKIPPED: comparison with Argo Rollouts' conditions ({SKIP_VAR} is set)");
        return None;
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out =
        Command::new(repo.join("tests/controlplane/build.sh")).arg("--bin-dir").output().expect("build.sh");
    assert!(
        out.status.success(),
        "tests/controlplane/build.sh --bin-dir: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("podhash");
    assert!(bin.exists(), "{} is not built: run .ci/setup or tests/controlplane/build.sh", bin.display());
    let input: String = cases
        .iter()
        .map(|(s, f, r)| {
            format!("{}\n", serde_json::json!({"success": s, "failure": f, "result": go_json(r)}))
        })
        .collect();
    let mut child =
        Command::new(&bin).arg("eval").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("podhash");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("podhash output");
    writer.join().expect("writer").expect("write cases");
    assert!(out.status.success(), "podhash eval failed");
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| match l.split_once('\t') {
            Some((_, e)) => format!("Error: {e}"),
            None => l.to_string(),
        })
        .collect();
    assert_eq!(lines.len(), cases.len(), "one answer per case");
    Some(lines)
}

#[tokio::test]
async fn conditions_are_judged_as_argo_rollouts_judges_them() {
    let mut cases: Vec<(String, String, MetricValue)> = Vec::new();
    let mut recorded: Vec<Option<&str>> = Vec::new();
    for (s, f, r, _) in CASES {
        cases.push((s.to_string(), f.to_string(), result_value(r)));
        recorded.push(None);
    }
    for (s, f, r, go) in upstream::PARITY {
        cases.push((s.to_string(), f.to_string(), result_value(r)));
        recorded.push(Some(go));
    }
    for (s, f, r, _, _) in upstream::DIFFERENCES {
        cases.push((s.to_string(), f.to_string(), result_value(r)));
        recorded.push(None);
    }
    let deep = deep_conditions();
    for d in &deep {
        cases.push((d.clone(), String::new(), MetricValue::Float(1.0)));
        recorded.push(None);
    }
    let Some(argo) = argo_outcomes(&cases) else { return };

    let expr = registry().get("expr").expect("expr plugin");
    let opts = CallOptions::default();
    let differences: Vec<(&str, &str, MetricValue, &str)> =
        upstream::DIFFERENCES.iter().map(|d| (d.0, d.1, result_value(d.2), d.3)).collect();
    let mut failures = Vec::new();
    for (i, ((success, failure, value), go)) in cases.iter().zip(&argo).enumerate() {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let got = expr
            .assess(&opts, some(success).as_deref(), some(failure).as_deref(), value)
            .await
            .expect("call");
        let serin = match got {
            Ok(Verdict::Successful) => "Successful".to_string(),
            Ok(Verdict::Failed) => "Failed".into(),
            Ok(Verdict::Inconclusive) => "Inconclusive".into(),
            Err(e) => format!("Error: {e}"),
        };
        let short = |s: &str| s.chars().take(120).collect::<String>();
        let case = format!("success={:?} failure={failure:?} result={value:?}", short(success));
        let difference =
            differences.iter().find(|d| d.0 == success.as_str() && d.1 == failure.as_str() && d.2 == *value);
        if let Some((_, _, _, want)) = difference {
            // A deliberate difference: serin answers as stated, and Argo still answers otherwise.
            if serin != *want || *go == serin {
                failures.push(format!(
                    "{case}: deliberate difference no longer holds\n  argo:  {go}\n  serin: {serin}"
                ));
            }
            continue;
        }
        if deep.contains(success) {
            if !serin.ends_with(": expression too deeply nested") || *go == serin {
                failures.push(format!(
                    "{case}: deep nesting\n  argo:  {}\n  serin: {}",
                    short(go),
                    short(&serin)
                ));
            }
            continue;
        }
        if serin != *go {
            failures.push(format!("{case}\n  argo:  {go}\n  serin: {serin}"));
        }
        if let Some(Some(rec)) = recorded.get(i)
            && *rec != go.as_str()
        {
            failures.push(format!("{case}: parity.rs records {rec:?}, Argo Rollouts now answers {go:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Argo Rollouts:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

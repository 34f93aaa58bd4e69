//! Parity with Go: the cases of `parity.rs`, whose expected column is Argo Rollouts' own answer, evaluated by
//! this crate on the host; and the cases where serin deliberately answers differently.

use crate::argo::{Verdict, assess};
use crate::value::Value;

include!("parity.rs");
include!("differences.rs");

/// Parses a result as the host's `MetricValue::parse` does: JSON whose numbers are floats, plus bare `NaN`,
/// `Inf`, `+Inf` and `-Inf`; and `{"$int": n}` for a Go int (as `podhash eval` reads it).
pub fn parse_result(text: &str) -> Value {
    const MARK: &str = "\u{1}float\u{1}";
    let mut rewritten = String::new();
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            rewritten.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if let Some(s) = ["NaN", "+Inf", "-Inf", "Inf"].into_iter().find(|s| rest.starts_with(s)) {
            rewritten.push_str(&format!("\"\\u0001float\\u0001{s}\""));
            rest = &rest[s.len()..];
            continue;
        }
        rewritten.push(c);
        rest = &rest[c.len_utf8()..];
    }
    fn restore(v: Value) -> Value {
        match v {
            Value::Str(s) => match s.strip_prefix(MARK) {
                Some("NaN") => Value::Float(f64::NAN),
                Some("-Inf") => Value::Float(f64::NEG_INFINITY),
                Some(_) => Value::Float(f64::INFINITY),
                None => Value::Str(s),
            },
            Value::Array(l) => Value::array(l.items.iter().cloned().map(restore).collect()).expect("shallow"),
            // `{"$int": 3}` stands for the Go int 3 (no JSON number decodes to one).
            Value::Map(m) if m.entries.len() == 1 && m.entries.contains_key("$int") => {
                Value::Int(m.entries.get("$int").and_then(Value::as_f64).unwrap_or(0.0) as i64)
            }
            Value::Map(m) => {
                Value::dict(m.entries.iter().map(|(k, v)| (k.clone(), restore(v.clone()))).collect())
                    .expect("shallow")
            }
            other => other,
        }
    }
    restore(crate::json::decode(&rewritten).unwrap_or_else(|e| panic!("result {text}: {e}")))
}

/// The outcome in the tables' notation.
pub fn outcome(success: &str, failure: &str, result: &str) -> String {
    let (s, f) = ((!success.is_empty()).then_some(success), (!failure.is_empty()).then_some(failure));
    match assess(s, f, &parse_result(result)) {
        Ok(Verdict::Successful) => "Successful".into(),
        Ok(Verdict::Failed) => "Failed".into(),
        Ok(Verdict::Inconclusive) => "Inconclusive".into(),
        Err(e) => format!("Error: {e}"),
    }
}

/// Runs `f` on a thread with a large stack: unoptimized builds need far more per nesting level than the
/// release guest does.
fn roomy(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(256 << 20).spawn(f).expect("thread").join().expect("test thread");
}

#[test]
fn conditions_evaluate_as_argo_rollouts_does() {
    roomy(|| {
        let exceptions: Vec<_> = DIFFERENCES.iter().map(|d| (d.0, d.1, d.2)).collect();
        let mut failures = Vec::new();
        for (success, failure, result, go) in PARITY {
            if exceptions.contains(&(*success, *failure, *result)) {
                continue;
            }
            let got = outcome(success, failure, result);
            if got != *go {
                failures.push(format!(
                    "success={success:?} failure={failure:?} result={result}\n  go:    {go}\n  serin: {got}"
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases differ from Go:\n{}",
            failures.len(),
            PARITY.len(),
            failures.join("\n")
        );
    });
}

#[test]
fn deliberate_differences_hold() {
    roomy(|| {
        for (success, failure, result, serin, reason) in DIFFERENCES {
            assert_eq!(outcome(success, failure, result), *serin, "{success:?}: {reason}");
        }
    });
}

/// Expressions at the deepest nesting accepted, through every recursive path: parsing, checking,
/// optimizing, evaluating, and the functions walking deep values.
fn deepest() -> Vec<(String, &'static str)> {
    let n = crate::parser::MAX_DEPTH - 3;
    let rep = |s: &str, k: usize| s.repeat(k);
    vec![
        (format!("{}true{}", rep("(", n), rep(")", n)), "[1]"),
        (format!("{}true", rep("!", n)), "[1]"),
        (format!("{}1 < 0", rep("-", n)), "[1]"),
        (format!("{}1 > 0", rep("1 + ", n)), "[1]"),
        (format!("result{} == nil", rep(".a", n / 2)), "{}"),
        (format!("result{} == nil", rep("?.a", n / 3)), "{}"),
        (format!("{}true{}", rep("all(result, ", n / 4), rep(")", n / 4)), "[1]"),
        (format!("len(string({}1{})) > 0", rep("[", n - 4), rep("]", n - 4)), "[1]"),
        (format!("toJSON({}1{}) != \"\"", rep("[", n - 4), rep("]", n - 4)), "[1]"),
        (
            format!(
                "{}1{} == {}1{}",
                rep("[", n / 2 - 2),
                rep("]", n / 2 - 2),
                rep("[", n / 2 - 2),
                rep("]", n / 2 - 2)
            ),
            "[1]",
        ),
        (format!("len(flatten(fromJSON(\"{}1{}\"))) == 1", rep("[", 490), rep("]", 490)), "[1]"),
        ("len(toJSON(reduce(1..490, [#acc], 0))) > 0".into(), "[1]"),
        (format!("{}true{}", rep("true ? ", n / 2), rep(" : false", n / 2)), "[1]"),
        (format!("let x = 1; {}x == 1{}", rep("(", n - 3), rep(")", n - 3)), "[1]"),
    ]
}

#[test]
fn the_deepest_accepted_expressions_fit_the_guest_stack() {
    // The guest runs with 1 MiB of stack. Optimized for the host (`cargo test --release`), these need about
    // 220 KiB; the limit here keeps a margin for the guest's own code generation.
    let stack = if cfg!(debug_assertions) { 256 << 20 } else { 320 << 10 };
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(|| {
            for (expr, result) in deepest() {
                // Accepted (evaluated, whatever the outcome), not refused as too deep.
                let got = crate::argo::eval_condition(&expr, &parse_result(result));
                assert!(
                    !matches!(&got, Err(e) if e.contains("too")),
                    "{}…: {got:?}",
                    &expr[..expr.len().min(60)]
                );
            }
        })
        .expect("thread")
        .join()
        .expect("deep expressions");
}

#[test]
fn deeper_input_is_refused_cleanly() {
    roomy(|| {
        let too_deep = "expression too deeply nested";
        for expr in [
            format!("{}true{}", "(".repeat(5000), ")".repeat(5000)),
            format!("{}true", "!".repeat(5000)),
            format!("{}true", "not ".repeat(5000)),
            format!("{}1 < 0", "- ".repeat(5000)),
            format!("{}1 > 0", "1 + ".repeat(600)),
        ] {
            assert_eq!(
                crate::argo::eval_condition(&expr, &Value::Float(1.0)).err().as_deref(),
                Some(too_deep)
            );
        }
        let deep_value = crate::argo::eval_condition("len(reduce(1..600, [#acc], 0)) > 0", &Value::Nil);
        assert_eq!(deep_value.err().as_deref(), Some("value too deeply nested"));
        let deep_json = format!("fromJSON(\"{}1{}\") == nil", "[".repeat(600), "]".repeat(600));
        assert_eq!(
            crate::argo::eval_condition(&deep_json, &Value::Nil).err().as_deref(),
            Some("exceeded max depth")
        );
    });
}

/// Random expressions from the language's grammar (literals, operators, closures, builtins, indexing), checked
/// against results of every kind: whatever they evaluate to, nothing panics (a panic traps the guest).
#[test]
fn arbitrary_expressions_never_panic() {
    struct Gen(u64);
    impl Gen {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len())]
        }
        fn expr(&mut self, depth: usize, closure: bool) -> String {
            const LEAVES: &[&str] = &[
                "result",
                "1",
                "0",
                "-1",
                "2.5",
                "1e308",
                "9223372036854775807",
                "\"a\"",
                "\"\"",
                "nil",
                "true",
                "result[0]",
                "result.a",
                "[1, 2]",
                "{a: 1}",
                "1..3",
                "-9223372036854775807 - 1",
                "\"[a\"",
                "$env",
                "\"^\\\\d+$\"",
                "[[1], [2, 3]]",
            ];
            const POINTERS: &[&str] = &["#", "#index", "#acc", ".a"];
            if depth == 0 {
                return if closure && self.below(3) == 0 { self.pick(POINTERS) } else { self.pick(LEAVES) }
                    .into();
            }
            let sub = |g: &mut Gen| g.expr(depth - 1, closure);
            match self.below(9) {
                0 => format!("{}{}", self.pick(&["!", "-", "+", "not "]), sub(self)),
                1 | 2 => {
                    let op = self.pick(&[
                        "+", "-", "*", "/", "%", "**", "==", "!=", "<", ">=", "&&", "or", "in", "not in",
                        "matches", "contains", "endsWith", "??", "..",
                    ]);
                    format!("({} {op} {})", sub(self), sub(self))
                }
                3 => format!("({} ? {} : {})", sub(self), sub(self), sub(self)),
                4 => format!("{}[{}]", sub(self), sub(self)),
                5 => format!("{}[{}:{}]", sub(self), sub(self), sub(self)),
                6 => {
                    let f = self.pick(&[
                        "all",
                        "any",
                        "one",
                        "filter",
                        "map",
                        "count",
                        "sum",
                        "find",
                        "findLastIndex",
                        "sortBy",
                        "reduce",
                    ]);
                    format!("{f}({}, {{{}}})", sub(self), self.expr(depth - 1, true))
                }
                7 => {
                    let f = self.pick(&[
                        "len",
                        "abs",
                        "int",
                        "float",
                        "string",
                        "max",
                        "mean",
                        "median",
                        "first",
                        "get",
                        "take",
                        "keys",
                        "reverse",
                        "sort",
                        "split",
                        "join",
                        "replace",
                        "repeat",
                        "trim",
                        "upper",
                        "toJSON",
                        "fromJSON",
                        "fromBase64",
                        "bitshl",
                        "bitushr",
                        "asInt",
                        "asFloat",
                        "isNaN",
                        "default",
                        "uniq",
                        "flatten",
                        "round",
                        "trimPrefix",
                    ]);
                    let n = self.below(3) + 1;
                    let args: Vec<String> = (0..n).map(|_| sub(self)).collect();
                    format!("{f}({})", args.join(", "))
                }
                _ => format!("[{}, {}]", sub(self), sub(self)),
            }
        }
    }
    let results = [
        "1",
        "NaN",
        "[1, 2]",
        "[]",
        "null",
        "\"abc\"",
        "{\"a\": [1, {\"b\": null}]}",
        "true",
        "-Inf",
        "[\"a\", 1.5]",
        "{\"$int\": 3}",
        "[[1, 2], [3]]",
        "\"12\"",
    ];
    roomy(move || {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let depth = g.below(5);
            let expr = g.expr(depth, false);
            let result = parse_result(results[g.below(results.len())]);
            let outcome = std::panic::catch_unwind(|| crate::argo::eval_condition(&expr, &result));
            assert!(outcome.is_ok(), "panicked on {expr:?}");
        }
    });
}

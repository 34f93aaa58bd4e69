//! Argo Rollouts' condition environment and outcome rules (`utils/evaluate/evaluate.go`), independent of WIT.

use expr::{Environment, Value};

/// The outcome of a success / failure condition pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Successful,
    Failed,
    Inconclusive,
}

/// Judges `result` as Argo's `EvaluateResult` does.
pub fn assess(success: Option<&str>, failure: Option<&str>, result: &Value) -> Result<Verdict, String> {
    let success = success.filter(|s| !s.is_empty());
    let failure = failure.filter(|s| !s.is_empty());
    let mut succeeded = false;
    let mut failed = false;
    if let Some(cond) = success {
        succeeded = eval_condition(cond, result).map_err(|e| wrap("successCondition", cond, result, e))?;
    }
    if let Some(cond) = failure {
        failed = eval_condition(cond, result).map_err(|e| wrap("failureCondition", cond, result, e))?;
    }
    match (success, failure) {
        (None, None) => return Ok(Verdict::Successful),
        (Some(_), None) => failed = !succeeded,
        (None, Some(_)) => succeeded = !failed,
        (Some(_), Some(_)) => {}
    }
    Ok(if failed {
        Verdict::Failed
    } else if !succeeded {
        Verdict::Inconclusive
    } else {
        Verdict::Successful
    })
}

fn wrap(which: &str, cond: &str, result: &Value, cause: String) -> String {
    let cause = if is_nil_or_empty(result) {
        "metric result is nil or empty: no data returned from the metric provider".to_string()
    } else {
        cause
    };
    format!("could not evaluate {which} \"{cond}\": {cause}")
}

fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Evaluates one boolean condition with Argo's environment.
pub fn eval_condition(expression: &str, result: &Value) -> Result<bool, String> {
    let program = expr::compile(&member_shorthand(expression)).map_err(|e| compile_error(&e.to_string()))?;
    let env = environment(result);
    let mut ctx = expr::Context::default();
    ctx.insert("result", result.clone());
    match env.run(&program, &ctx) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("expected bool, but got {}", go_type_name(&other))),
        Err(e) => Err(runtime_error(&e.to_string())),
    }
}

/// expr-lang lets a predicate say `.field` for `#.field` (e.g. `all(result, {.ok})`); the `expr-lang` crate
/// needs the `#`, so it is inserted wherever a `.` starts a member access with nothing before it.
fn member_shorthand(expression: &str) -> String {
    let mut out = String::with_capacity(expression.len() + 4);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev: Option<char> = None;
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
        }
        let starts_member = chars.peek().is_some_and(|n| n.is_ascii_alphabetic() || *n == '_');
        let after_operand = prev.is_some_and(|p| {
            p.is_ascii_alphanumeric() || matches!(p, '_' | ')' | ']' | '}' | '?' | '.' | '#')
        });
        if c == '.' && starts_member && !after_operand {
            out.push('#');
        }
        out.push(c);
        if !c.is_whitespace() {
            prev = Some(c);
        }
    }
    out
}

/// Go expr reports unknown identifiers at compile time as `unknown name X`; keep that wording.
fn runtime_error(msg: &str) -> String {
    if let Some(name) = msg.strip_prefix("unknown variable: ") {
        return format!("unknown name {name}");
    }
    msg.to_string()
}

fn compile_error(msg: &str) -> String {
    // pest renders multi-line diagnostics; status messages are one line.
    msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The name Go's `%T` would print for the value a Go program would hold.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "int",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::Nil => "<nil>",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) | Value::KeyedMap(_) => "map[string]interface {}",
        Value::Bytes(_) => "[]uint8",
        _ => "interface {}",
    }
}

fn environment(result: &Value) -> Environment<'static> {
    let mut env = Environment::new();
    env.add_function("asInt", |c| {
        let [arg] = args::<1>(&c.args, "asInt")?;
        as_int(arg).map(Value::Integer).map_err(expr::Error::ExprError)
    });
    env.add_function("asFloat", |c| {
        let [arg] = args::<1>(&c.args, "asFloat")?;
        as_float(arg).map(Value::Float).map_err(expr::Error::ExprError)
    });
    env.add_function("isNaN", |c| {
        let [arg] = args::<1>(&c.args, "isNaN")?;
        Ok(Value::Bool(float_arg(arg, "isNaN")?.is_nan()))
    });
    env.add_function("isInf", |c| {
        let [arg] = args::<1>(&c.args, "isInf")?;
        Ok(Value::Bool(float_arg(arg, "isInf")?.is_infinite()))
    });
    // Upstream quirk: isNil and default ignore their first argument and look at the measurement result.
    let is_nil = matches!(result, Value::Nil);
    env.add_function("isNil", move |c| {
        let [_] = args::<1>(&c.args, "isNil")?;
        Ok(Value::Bool(is_nil))
    });
    let res = result.clone();
    env.add_function("default", move |c| {
        let [_, fallback] = args::<2>(&c.args, "default")?;
        Ok(if matches!(res, Value::Nil) { fallback.clone() } else { res.clone() })
    });
    env
}

fn args<'a, const N: usize>(args: &'a [Value], name: &str) -> Result<[&'a Value; N], expr::Error> {
    if args.len() != N {
        return Err(expr::Error::ExprError(format!(
            "invalid number of arguments for {name} (expected {N}, got {})",
            args.len()
        )));
    }
    Ok(std::array::from_fn(|i| &args[i]))
}

fn float_arg(v: &Value, name: &str) -> Result<f64, expr::Error> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Integer(i) => Ok(*i as f64),
        other => Err(expr::Error::ExprError(format!(
            "cannot use {} as argument (type float64) to call {name}",
            go_type_name(other)
        ))),
    }
}

/// Go's `asInt`: numbers are truncated, strings parsed with `strconv.ParseInt(s, 10, 64)`.
fn as_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Integer(i) => Ok(*i),
        Value::Float(f) => Ok(*f as i64),
        Value::String(s) => {
            s.parse::<i64>().map_err(|_| format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s)))
        }
        other => Err(format!("asInt: cannot convert {} to int", go_type_name(other))),
    }
}

/// Go's `asFloat`: numbers as they are, strings parsed with `strconv.ParseFloat(s, 64)`.
fn as_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::String(s) => parse_go_float(s)
            .ok_or_else(|| format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(s))),
        other => Err(format!("asFloat: cannot convert {} to float64", go_type_name(other))),
    }
}

/// `strconv.ParseFloat` accepts "NaN", "Inf", "+Inf", "-Inf", "infinity" in any case, which Rust mostly does too.
fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "nan" | "inf" | "infinity" => {}
        _ if lower.contains("inf") || lower.contains("nan") => return None,
        _ => {}
    }
    s.replace('_', "").parse::<f64>().ok().filter(|_| !s.is_empty())
}

fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

//! Argo Rollouts' condition environment and outcome rules (`utils/evaluate/evaluate.go`), independent of WIT.

use crate::eval::{Eval, conversion, float_to_int};
use crate::types::Ty;
use crate::value::{Elem, Func, Value};

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
        Value::Array(l) => l.items.is_empty(),
        _ => false,
    }
}

/// The Go type `result` has in the environment the condition is compiled against.
fn result_type(v: &Value) -> Ty {
    match v {
        Value::Nil => Ty::Nil,
        Value::Bool(_) => Ty::Bool,
        Value::Int(_) => Ty::Int,
        Value::Int64(_) => Ty::Int64,
        Value::Byte(_) => Ty::Unknown,
        Value::Float(_) => Ty::Float,
        Value::Str(_) => Ty::Str,
        Value::Array(l) => match l.elem {
            Elem::Any => Ty::any_array(),
            Elem::Int => Ty::typed_array(Ty::Int),
            Elem::Str => Ty::typed_array(Ty::Str),
        },
        Value::Map(_) => Ty::string_map(),
        Value::Func(_) => Ty::Unknown,
    }
}

/// Evaluates one boolean condition with Argo's environment: compiled (parsed, type-checked against
/// `result`'s type, optimized) and run as `expr.Compile(condition, expr.Env(env))` and `expr.Run` do.
pub fn eval_condition(expression: &str, result: &Value) -> Result<bool, String> {
    let mut tree = crate::parser::parse(expression)?;
    crate::check::check(&mut tree, &result_type(result))?;
    crate::optimize::optimize(&mut tree)?;
    match Eval::new(result).run(&tree)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!("expected bool, but got {}", other.go_type())),
    }
}

/// Compiles a condition without a measurement (`result` of unknown type): the errors left are those every
/// measurement would meet (syntax, unknown names, type errors not involving `result`).
pub fn compile(expression: &str) -> Result<(), String> {
    let mut tree = crate::parser::parse(expression)?;
    crate::check::check(&mut tree, &Ty::Unknown)?;
    crate::optimize::optimize(&mut tree)
}

/// Calls one of the environment's functions. `isNil` and `default` ignore their first argument and look at
/// the measurement (an upstream quirk).
pub fn call(f: Func, args: &[Value], result: &Value) -> Result<Value, String> {
    let want = match f {
        Func::Default => 2,
        _ => 1,
    };
    if args.len() != want {
        let few = if args.len() < want { "few" } else { "many" };
        return Err(format!("reflect: Call with too {few} input arguments"));
    }
    let arg = &args[0];
    Ok(match f {
        Func::AsInt => Value::Int64(as_int(arg)?),
        Func::AsFloat => Value::Float(as_float(arg)?),
        Func::IsNaN | Func::IsInf => match arg {
            Value::Float(x) => Value::Bool(if f == Func::IsNaN { x.is_nan() } else { x.is_infinite() }),
            other => return Err(conversion(other, "float64")),
        },
        Func::IsNil => Value::Bool(result.is_nil()),
        Func::Default => {
            if result.is_nil() {
                args[1].clone()
            } else {
                result.clone()
            }
        }
    })
}

/// Argo's `asInt`: numbers are truncated, strings parsed with `strconv.ParseInt(s, 10, 64)`.
fn as_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Float(f) => Ok(float_to_int(*f)),
        v if v.as_int().is_some() => Ok(v.as_int().unwrap_or(0)),
        Value::Str(s) => crate::goconv::parse_int(s),
        other => Err(format!("asInt() not supported on {} {}", other.go_type(), other.go_format())),
    }
}

/// Argo's `asFloat`: numbers as they are, strings parsed with `strconv.ParseFloat(s, 64)`.
fn as_float(v: &Value) -> Result<f64, String> {
    match v {
        v if v.is_number() => Ok(v.as_f64().unwrap_or(0.0)),
        Value::Str(s) => crate::goconv::parse_float(s),
        other => Err(format!("asFloat() not supported on {} {}", other.go_type(), other.go_format())),
    }
}

//! Go expr's builtin functions (`builtin/builtin.go`, `builtin/lib.go`): their compile-time signatures and
//! checks, and what they do at run time, errors included. Closure builtins (`all`, `filter`, ...) live in
//! the evaluator; the time functions and `groupBy` / `toPairs` / `fromPairs` are not implemented.

use crate::eval::{BUDGET, MAX_STRING, compare, conversion, fetch, float_to_int, sort_pairs, to_int};
use crate::types::{GoKind, Sig, Ty};
use crate::value::{Elem, Value, equal};

fn sig(ins: Vec<Ty>, out: Ty) -> Sig {
    Sig { ins, variadic: false, outs: vec![out], body: None }
}

/// The overloads of a builtin checked against Go function types (`Types` in Go's table).
pub fn overloads(name: &str) -> Vec<Sig> {
    use Ty::{Any, Bool, Int, Str};
    let strs = || Ty::typed_array(Str);
    let anys = Ty::any_array;
    match name {
        "type" | "string" => vec![sig(vec![Any], Str)],
        "trim" => vec![sig(vec![Str], Str), sig(vec![Str, Str], Str)],
        "trimPrefix" | "trimSuffix" => vec![sig(vec![Str, Str], Str), sig(vec![Str], Str)],
        "upper" | "lower" | "toBase64" | "fromBase64" => vec![sig(vec![Str], Str)],
        "split" | "splitAfter" => vec![sig(vec![Str, Str], strs()), sig(vec![Str, Str, Int], strs())],
        "replace" => vec![sig(vec![Str, Str, Str, Int], Str), sig(vec![Str, Str, Str], Str)],
        "repeat" => vec![sig(vec![Str, Int], Str)],
        "join" => vec![
            sig(vec![strs(), Str], Str),
            sig(vec![anys(), Str], Str),
            sig(vec![anys()], Str),
            sig(vec![strs(), Str], Str),
            sig(vec![strs()], Str),
        ],
        "indexOf" | "lastIndexOf" => vec![sig(vec![Str, Str], Int)],
        "hasPrefix" | "hasSuffix" => vec![sig(vec![Str, Str], Bool)],
        "toJSON" => vec![sig(vec![Any], Str)],
        "fromJSON" => vec![sig(vec![Str], Any)],
        "sort" => {
            let arrays = [anys(), Ty::typed_array(Int), Ty::typed_array(Ty::Float), strs()];
            let mut v: Vec<Sig> = arrays.iter().map(|a| sig(vec![a.clone(), Str], anys())).collect();
            v.extend(
                [anys(), Ty::typed_array(Ty::Float), strs(), Ty::typed_array(Int)]
                    .map(|a| sig(vec![a], anys())),
            );
            v
        }
        "bitand" | "bitor" | "bitxor" | "bitnand" | "bitshl" | "bitshr" | "bitushr" => {
            vec![sig(vec![Int, Int], Int)]
        }
        "bitnot" => vec![sig(vec![Int], Int)],
        _ => vec![],
    }
}

/// The Go type of a builtin named without calling it (the first of its overloads).
pub fn bare_signature(name: &str) -> Sig {
    use Ty::{Any, Bool, Int};
    let anys = Ty::any_array;
    let pred = |out: Ty| Ty::func(vec![Any], out);
    let predicate = |extra: Vec<Ty>, p: Ty, out: Ty| {
        let mut ins = vec![anys(), p];
        ins.extend(extra);
        sig(ins, out)
    };
    match name {
        "all" | "none" | "any" | "one" => predicate(vec![], pred(Bool), Bool),
        "filter" => predicate(vec![], pred(Bool), anys()),
        "map" => predicate(vec![], pred(Any), anys()),
        "find" | "findLast" => predicate(vec![], pred(Bool), Any),
        "findIndex" | "findLastIndex" | "count" | "sum" => predicate(vec![], pred(Bool), Int),
        "groupBy" => predicate(vec![], pred(Any), Ty::Map { key: Box::new(Any), elem: Box::new(anys()) }),
        "sortBy" => predicate(vec![Ty::Str], pred(Bool), anys()),
        "reduce" => predicate(vec![Any], Ty::func(vec![Any, Any], Any), Any),
        _ => overloads(name).into_iter().next().unwrap_or(Sig {
            ins: vec![anys()],
            variadic: true,
            outs: vec![Any, Ty::Error],
            body: None,
        }),
    }
}

fn kind(t: &Option<Ty>) -> GoKind {
    t.as_ref().map(Ty::kind).unwrap_or(GoKind::Invalid)
}

/// A reflect type as `%s` prints it (a nil type prints as `%!s(<nil>)`).
fn tname(t: &Option<Ty>) -> String {
    t.as_ref().and_then(Ty::go_type).unwrap_or_else(|| "%!s(<nil>)".into())
}

fn numeric(k: GoKind) -> bool {
    matches!(k, GoKind::Int | GoKind::Int64 | GoKind::Float64)
}

/// The builtins Go checks with a `Validate` function rather than function types.
pub const VALIDATED: &[&str] = &[
    "len", "abs", "ceil", "floor", "round", "int", "float", "max", "min", "mean", "median", "first", "last",
    "take", "keys", "values", "reverse", "uniq", "flatten", "concat",
];

/// Go's `Validate` of a builtin in [`VALIDATED`], given the arguments' types (unknown ones as `interface {}`,
/// nil as no type).
pub fn validate(name: &str, args: &[Option<Ty>]) -> Result<Ty, String> {
    let count = |n: usize| -> Result<(), String> {
        if args.len() != n {
            return Err(format!("invalid number of arguments (expected {n}, got {})", args.len()));
        }
        Ok(())
    };
    let first = || args.first().cloned().flatten();
    let k0 = args.first().map(kind).unwrap_or(GoKind::Invalid);
    match name {
        "len" => {
            count(1)?;
            match k0 {
                GoKind::Slice | GoKind::Map | GoKind::String | GoKind::Interface => Ok(Ty::Int),
                _ => Err(format!("invalid argument for len (type {})", tname(&args[0]))),
            }
        }
        "abs" => {
            count(1)?;
            if numeric(k0) || k0 == GoKind::Interface {
                return Ok(first().unwrap_or(Ty::Unknown));
            }
            Err(format!("invalid argument for abs (type {})", tname(&args[0])))
        }
        "ceil" | "floor" | "round" => {
            count(1)?;
            if numeric(k0) || k0 == GoKind::Interface {
                return Ok(Ty::Float);
            }
            Err(format!("invalid argument for {name} (type {})", tname(&args[0])))
        }
        "int" | "float" => {
            count(1)?;
            if numeric(k0) || matches!(k0, GoKind::Interface | GoKind::String) {
                return Ok(if name == "int" { Ty::Int } else { Ty::Float });
            }
            Err(format!("invalid argument for {name} (type {})", tname(&args[0])))
        }
        "max" | "min" | "mean" | "median" => {
            if args.is_empty() {
                return Err(format!("not enough arguments to call {name}"));
            }
            for a in args {
                match kind(a) {
                    GoKind::Interface | GoKind::Slice => return Ok(Ty::Any),
                    k if numeric(k) => {}
                    _ => return Err(format!("invalid argument for {name} (type {})", tname(a))),
                }
            }
            Ok(first().unwrap_or(Ty::Unknown))
        }
        "first" | "last" => {
            count(1)?;
            match (k0, first()) {
                (GoKind::Interface, _) => Ok(Ty::Any),
                (GoKind::Slice, Some(t)) => Ok(t.elem()),
                _ => Err(format!("cannot get {name} element from {}", tname(&args[0]))),
            }
        }
        "take" => {
            count(2)?;
            if !matches!(k0, GoKind::Interface | GoKind::Slice) {
                return Err(format!("cannot take from {}", tname(&args[0])));
            }
            if !matches!(kind(&args[1]), GoKind::Interface | GoKind::Int | GoKind::Int64) {
                return Err(format!("cannot take {} elements", tname(&args[1])));
            }
            Ok(first().unwrap_or(Ty::Unknown))
        }
        "keys" | "values" => {
            count(1)?;
            if matches!(k0, GoKind::Interface | GoKind::Map) {
                return Ok(Ty::any_array());
            }
            Err(format!("cannot get {name} from {}", tname(&args[0])))
        }
        "reverse" | "uniq" | "flatten" => {
            count(1)?;
            if matches!(k0, GoKind::Interface | GoKind::Slice) {
                return Ok(Ty::any_array());
            }
            Err(format!("cannot {name} {}", tname(&args[0])))
        }
        "concat" => {
            if args.is_empty() {
                return Err("invalid number of arguments (expected at least 1, got 0)".into());
            }
            for a in args {
                if !matches!(kind(a), GoKind::Interface | GoKind::Slice) {
                    return Err(format!("cannot concat {}", tname(a)));
                }
            }
            Ok(Ty::any_array())
        }
        _ => Err(format!("unknown builtin {name}")),
    }
}

/// `reflect.Kind.String()` of a value (nil is `invalid`).
fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        other => other.go_kind(),
    }
}

fn s(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(conversion(other, "string")),
    }
}

/// Runs a builtin on evaluated arguments; returns the value and the memory it charges to the budget.
pub fn call(name: &str, args: &[Value]) -> Result<(Value, usize), String> {
    arity(name, args.len())?;
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Nil);
    let str_arg = |i: usize| -> Result<String, String> { s(&arg(i)).map(str::to_string) };
    let v = match name {
        "len" => match &arg(0) {
            Value::Array(l) => Value::Int(l.items.len() as i64),
            Value::Map(m) => Value::Int(m.entries.len() as i64),
            Value::Str(s) => Value::Int(s.chars().count() as i64),
            other => return Err(format!("invalid argument for len (type {})", other.go_type())),
        },
        "type" => Value::str(match &arg(0) {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Int64(_) => "int",
            Value::Byte(_) => "uint",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Func(_) => "func",
        }),
        "abs" => match arg(0) {
            Value::Int(i) => Value::Int(if i < 0 { i.wrapping_neg() } else { i }),
            Value::Int64(i) => Value::Int64(if i < 0 { i.wrapping_neg() } else { i }),
            Value::Byte(b) => Value::Byte(b),
            Value::Float(f) => Value::Float(if f < 0.0 { -f } else { f }),
            other => return Err(format!("invalid argument for abs (type {})", other.go_type())),
        },
        "ceil" | "floor" | "round" => match arg(0) {
            Value::Float(f) => Value::Float(match name {
                "ceil" => f.ceil(),
                "floor" => f.floor(),
                _ => f.round(),
            }),
            v if v.as_int().is_some() => Value::Float(v.as_f64().unwrap_or(0.0)),
            other => return Err(format!("invalid argument for {name} (type {})", other.go_type())),
        },
        "int" => match arg(0) {
            Value::Float(f) => Value::Int(float_to_int(f)),
            v if v.as_int().is_some() => Value::Int(v.as_int().unwrap_or(0)),
            Value::Str(s) => {
                Value::Int(crate::goconv::parse_int(&s).map_err(|_| format!("invalid operation: int({s})"))?)
            }
            Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
            other => return Err(format!("invalid operation: int({})", other.go_type())),
        },
        "float" => match arg(0) {
            Value::Float(f) => Value::Float(f),
            v if v.as_int().is_some() => Value::Float(v.as_f64().unwrap_or(0.0)),
            Value::Str(s) => Value::Float(
                crate::goconv::parse_float(&s).map_err(|_| format!("invalid operation: float({s})"))?,
            ),
            other => return Err(format!("invalid operation: float({})", other.go_type())),
        },
        "string" => Value::str(&arg(0).go_format()),
        "trim" => {
            let x = str_arg(0)?;
            if args.len() == 2 {
                let cut = str_arg(1)?;
                Value::str(x.trim_matches(|c| cut.contains(c)))
            } else {
                Value::str(x.trim())
            }
        }
        "trimPrefix" | "trimSuffix" => {
            let x = str_arg(0)?;
            let p = if args.len() == 2 { str_arg(1)? } else { " ".into() };
            let out =
                if name == "trimPrefix" { x.strip_prefix(p.as_str()) } else { x.strip_suffix(p.as_str()) };
            Value::str(out.unwrap_or(&x))
        }
        "upper" | "lower" => {
            let x = str_arg(0)?;
            let up = name == "upper";
            let out: String = x
                .chars()
                .map(|c| {
                    // Go maps rune by rune; a character with no single-rune mapping stays as it is.
                    let mut m: Vec<char> =
                        if up { c.to_uppercase().collect() } else { c.to_lowercase().collect() };
                    if m.len() == 1 { m.pop().unwrap_or(c) } else { c }
                })
                .collect();
            Value::str(&out)
        }
        "split" | "splitAfter" => {
            let (x, sep) = (str_arg(0)?, str_arg(1)?);
            let n = if args.len() == 3 { to_int(&arg(2))? } else { -1 };
            let parts = gen_split(&x, &sep, name == "splitAfter", n);
            Value::list(parts.iter().map(|p| Value::str(p)).collect(), Elem::Str)?
        }
        "replace" => {
            let (x, old, new) = (str_arg(0)?, str_arg(1)?, str_arg(2)?);
            let n = if args.len() == 4 { to_int(&arg(3))? } else { -1 };
            Value::str(&replace(&x, &old, &new, n)?)
        }
        "repeat" => {
            let x = str_arg(0)?;
            let n = to_int(&arg(1))?;
            if n < 0 {
                return Err(format!("invalid argument for repeat (expected positive integer, got {n})"));
            }
            if n > 1_000_000 || x.len().saturating_mul(n as usize) > MAX_STRING {
                return Err(BUDGET.into());
            }
            return Ok((Value::str(&x.repeat(n as usize)), x.len() * n as usize));
        }
        "join" => {
            let glue = if args.len() == 2 { str_arg(1)? } else { String::new() };
            match &arg(0) {
                Value::Array(l) if matches!(l.elem, Elem::Str | Elem::Any) => {
                    let parts =
                        l.items.iter().map(|i| s(i).map(str::to_string)).collect::<Result<Vec<_>, _>>()?;
                    let out = parts.join(&glue);
                    if out.len() > MAX_STRING {
                        return Err(BUDGET.into());
                    }
                    Value::str(&out)
                }
                Value::Nil => return Err("invalid argument for join (type %!s(<nil>))".into()),
                other => return Err(format!("invalid argument for join (type {})", other.go_type())),
            }
        }
        "indexOf" | "lastIndexOf" => {
            let (x, sub) = (str_arg(0)?, str_arg(1)?);
            let at = if name == "indexOf" { x.find(sub.as_str()) } else { x.rfind(sub.as_str()) };
            Value::Int(at.map(|i| i as i64).unwrap_or(-1))
        }
        "hasPrefix" | "hasSuffix" => {
            let (x, p) = (str_arg(0)?, str_arg(1)?);
            Value::Bool(if name == "hasPrefix" { x.starts_with(p.as_str()) } else { x.ends_with(p.as_str()) })
        }
        "max" | "min" => min_max(name, args, 0)?,
        "mean" => {
            let (count, total) = mean(args, 0)?;
            Value::Float(if count == 0 { 0.0 } else { total / count as f64 })
        }
        "median" => {
            let mut values = Vec::new();
            median(args, 0, &mut values)?;
            // sort.Float64s: NaN first.
            values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
            });
            let n = values.len();
            Value::Float(match n {
                0 => 0.0,
                n if n % 2 == 1 => values[n / 2],
                n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
            })
        }
        "toJSON" => Value::str(&crate::json::encode(&arg(0))?),
        "fromJSON" => crate::json::decode(&str_arg(0)?)?,
        "toBase64" => Value::str(&base64_encode(str_arg(0)?.as_bytes())),
        "fromBase64" => Value::str(&String::from_utf8_lossy(&base64_decode(&str_arg(0)?)?)),
        "first" => fetch(&arg(0), &Value::Int(0)).unwrap_or(Value::Nil),
        "last" => fetch(&arg(0), &Value::Int(-1)).unwrap_or(Value::Nil),
        "get" => get(&arg(0), &arg(1))?,
        "take" => {
            let Value::Array(l) = arg(0) else {
                return Err(format!("cannot take from {}", kind_name(&arg(0))));
            };
            let n = match arg(1) {
                Value::Int(n) | Value::Int64(n) => n,
                other => return Err(format!("cannot take {} elements", kind_name(&other))),
            };
            if n < 0 {
                return Err("reflect.Value.Slice: slice index out of bounds".into());
            }
            let to = (n as usize).min(l.items.len());
            Value::list(l.items[..to].to_vec(), l.elem)?
        }
        "keys" | "values" => match arg(0) {
            Value::Map(m) => {
                let items = if name == "keys" {
                    m.entries.keys().map(|k| Value::str(k)).collect()
                } else {
                    m.entries.values().cloned().collect()
                };
                Value::array(items)?
            }
            other => return Err(format!("cannot get {name} from {}", kind_name(&other))),
        },
        "reverse" => match arg(0) {
            Value::Array(l) => {
                let items: Vec<Value> = l.items.iter().rev().cloned().collect();
                let n = items.len();
                return Ok((Value::array(items)?, n));
            }
            other => return Err(format!("cannot reverse {}", kind_name(&other))),
        },
        "uniq" => match arg(0) {
            Value::Array(l) => {
                let mut out: Vec<Value> = Vec::new();
                for item in &l.items {
                    if !out.iter().any(|o| equal(item, o)) {
                        out.push(item.clone());
                    }
                }
                Value::array(out)?
            }
            other => return Err(format!("cannot uniq {}", kind_name(&other))),
        },
        "concat" => {
            let mut out = Vec::new();
            for a in args {
                match a {
                    Value::Array(l) => out.extend(l.items.iter().cloned()),
                    other => return Err(format!("cannot concat {}", kind_name(other))),
                }
            }
            let n = out.len();
            return Ok((Value::array(out)?, n));
        }
        "flatten" => match arg(0) {
            Value::Array(l) => {
                let mut out = Vec::new();
                flatten(&l.items, &mut out);
                let n = out.len();
                return Ok((Value::array(out)?, n));
            }
            other => return Err(format!("cannot flatten {}", kind_name(&other))),
        },
        "sort" => {
            let items = match arg(0) {
                Value::Array(l) => l.items.clone(),
                _ => Vec::new(),
            };
            let desc = if args.len() == 2 {
                match str_arg(1)?.as_str() {
                    "asc" => false,
                    "desc" => true,
                    other => return Err(format!("invalid order {other}, expected asc or desc")),
                }
            } else {
                false
            };
            let mut pairs: Vec<(Value, Value)> = items.into_iter().map(|v| (v.clone(), v)).collect();
            sort_pairs(&mut pairs, desc)?;
            let n = pairs.len();
            return Ok((Value::array(pairs.into_iter().map(|(v, _)| v).collect())?, n));
        }
        "bitand" | "bitor" | "bitxor" | "bitnand" | "bitshl" | "bitshr" | "bitushr" => {
            let int = |v: &Value| match v {
                v if v.as_int().is_some() => Ok(v.as_int().unwrap_or(0)),
                other => Err(format!("cannot use {} as argument (type int) to call {name}", other.go_type())),
            };
            let (x, y) = (int(&arg(0))?, int(&arg(1))?);
            let shift = |y: i64| -> Result<u32, String> {
                if y < 0 {
                    return Err(format!("invalid operation: negative shift count {y} (type int)"));
                }
                Ok(y.min(64) as u32)
            };
            Value::Int(match name {
                "bitand" => x & y,
                "bitor" => x | y,
                "bitxor" => x ^ y,
                "bitnand" => x & !y,
                "bitshl" => x.checked_shl(shift(y)?).unwrap_or(0),
                "bitshr" => x.checked_shr(shift(y)?).unwrap_or(if x < 0 { -1 } else { 0 }),
                _ => (x as u64).checked_shr(shift(y)?).unwrap_or(0) as i64,
            })
        }
        "bitnot" => match arg(0) {
            v if v.as_int().is_some() => Value::Int(!v.as_int().unwrap_or(0)),
            other => {
                return Err(format!("cannot use {} as argument (type int) to call bitnot", other.go_type()));
            }
        },
        _ => return Err(format!("builtin {name} is not supported")),
    };
    Ok((v, 0))
}

/// The argument counts Go's implementations check themselves, with their texts. The checker enforces them,
/// except where Go leaves an expression unchecked (an index into `$env`, the bounds of a slice or the arguments
/// of a call on a value of unknown type); a function reading an argument it was not given fails as Go's index
/// check does.
fn arity(name: &str, n: usize) -> Result<(), String> {
    let count = |ok: bool, expected: &str| {
        if ok { Ok(()) } else { Err(format!("invalid number of arguments{expected}, got {n})")) }
    };
    match name {
        "trim" => count(n == 1 || n == 2, " for trim (expected 1 or 2"),
        "split" | "splitAfter" => count(n == 2 || n == 3, &format!(" for {name} (expected 2 or 3")),
        "replace" => count(n == 3 || n == 4, " for replace (expected 3 or 4"),
        "keys" | "values" | "reverse" | "uniq" | "flatten" => count(n == 1, " (expected 1"),
        "take" => count(n == 2, " (expected 2"),
        "concat" => count(n >= 1, " (expected at least 1"),
        "sort" => count(n == 1 || n == 2, " (expected 1 or 2"),
        "bitand" | "bitor" | "bitxor" | "bitnand" | "bitshl" | "bitshr" | "bitushr" => {
            count(n == 2, &format!(" for {name} (expected 2"))
        }
        "bitnot" => count(n == 1, " for bitnot (expected 1"),
        // first and last recover from any failure (nil).
        "first" | "last" | "max" | "min" | "mean" | "median" => Ok(()),
        _ => {
            let reads = match name {
                "repeat" | "indexOf" | "lastIndexOf" | "hasPrefix" | "hasSuffix" | "get" => 2,
                _ => 1,
            };
            if n < reads {
                return Err(format!("runtime error: index out of range [{n}] with length {n}"));
            }
            Ok(())
        }
    }
}

/// Go's `strings.genSplit`.
fn gen_split(s: &str, sep: &str, keep_sep: bool, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<char> = s.chars().collect();
        let l = chars.len();
        let n = if n < 0 || n as usize > l { l } else { n as usize };
        let mut out: Vec<String> = chars.iter().take(n.saturating_sub(1)).map(|c| c.to_string()).collect();
        if n > 0 {
            out.push(chars[n - 1..].iter().collect());
        }
        return out;
    }
    let mut n = if n < 0 { s.matches(sep).count() as i64 + 1 } else { n };
    n = n.min(s.len() as i64 + 1);
    let mut out = Vec::new();
    let mut rest = s;
    while (out.len() as i64) < n - 1 {
        let Some(m) = rest.find(sep) else { break };
        let end = if keep_sep { m + sep.len() } else { m };
        out.push(rest[..end].to_string());
        rest = &rest[m + sep.len()..];
    }
    out.push(rest.to_string());
    out
}

/// Go's `strings.Replace`.
fn replace(s: &str, old: &str, new: &str, n: i64) -> Result<String, String> {
    if old == new || n == 0 {
        return Ok(s.to_string());
    }
    let m = if old.is_empty() { s.chars().count() as i64 + 1 } else { s.matches(old).count() as i64 };
    if m == 0 {
        return Ok(s.to_string());
    }
    let n = if n < 0 || m < n { m } else { n };
    if (s.len() as i64).saturating_add(n.saturating_mul(new.len() as i64)) > MAX_STRING as i64 {
        return Err(BUDGET.into());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    for i in 0..n {
        if old.is_empty() {
            if i > 0 {
                let c = rest.chars().next().map(char::len_utf8).unwrap_or(0);
                out.push_str(&rest[..c]);
                rest = &rest[c..];
            }
            out.push_str(new);
        } else if let Some(j) = rest.find(old) {
            out.push_str(&rest[..j]);
            out.push_str(new);
            rest = &rest[j + old.len()..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Go's `minMax`: numbers and (nested) arrays of numbers; a single non-number argument is returned as is.
fn min_max(name: &str, args: &[Value], depth: usize) -> Result<Value, String> {
    if depth > 10_000 {
        return Err("recursion depth exceeded".into());
    }
    let better = |val: &Option<Value>, x: &Value| -> Result<bool, String> {
        match val {
            None => Ok(true),
            Some(v) => compare(v, if name == "max" { "<" } else { ">" }, x),
        }
    };
    let mut val: Option<Value> = None;
    for a in args {
        match a {
            Value::Array(l) => {
                for item in &l.items {
                    let e = min_max(name, std::slice::from_ref(item), depth + 1)?;
                    if !e.is_number() {
                        return Err(format!("invalid argument for {name} (type {})", e.go_type()));
                    }
                    if better(&val, &e)? {
                        val = Some(e);
                    }
                }
            }
            x if x.is_number() => {
                if better(&val, x)? {
                    val = Some(x.clone());
                }
            }
            other => {
                if args.len() == 1 {
                    return Ok(other.clone());
                }
                return Err(format!("invalid argument for {name} (type {})", other.go_type()));
            }
        }
    }
    Ok(val.unwrap_or(Value::Nil))
}

fn mean(args: &[Value], depth: usize) -> Result<(usize, f64), String> {
    if depth > 10_000 {
        return Err("recursion depth exceeded".into());
    }
    let (mut count, mut total) = (0usize, 0f64);
    for a in args {
        match a {
            Value::Array(l) => {
                for item in &l.items {
                    let (c, t) = mean(std::slice::from_ref(item), depth + 1)?;
                    count += c;
                    total += t;
                }
            }
            v if v.as_int().is_some() => {
                total += v.as_f64().unwrap_or(0.0);
                count += 1;
            }
            Value::Float(f) => {
                total += f;
                count += 1;
            }
            other => return Err(format!("invalid argument for mean (type {})", other.go_type())),
        }
    }
    Ok((count, total))
}

fn median(args: &[Value], depth: usize, out: &mut Vec<f64>) -> Result<(), String> {
    if depth > 10_000 {
        return Err("recursion depth exceeded".into());
    }
    for a in args {
        match a {
            Value::Array(l) => {
                for item in &l.items {
                    median(std::slice::from_ref(item), depth + 1, out)?;
                }
            }
            v if v.as_int().is_some() => out.push(v.as_f64().unwrap_or(0.0)),
            Value::Float(f) => out.push(*f),
            other => return Err(format!("invalid argument for median (type {})", other.go_type())),
        }
    }
    Ok(())
}

fn flatten(items: &[Value], out: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::Array(l) => flatten(&l.items, out),
            other => out.push(other.clone()),
        }
    }
}

/// Go expr's `get`: like `a[i]`, but nil where the index or key does not exist.
fn get(from: &Value, i: &Value) -> Result<Value, String> {
    Ok(match from {
        Value::Nil => Value::Nil,
        Value::Array(_) | Value::Str(_) => {
            let idx = to_int(i)?;
            let len = match from {
                Value::Array(l) => l.items.len() as i64,
                Value::Str(s) => s.len() as i64,
                _ => 0,
            };
            let idx = if idx < 0 { idx.wrapping_add(len) } else { idx };
            if (0..len).contains(&idx) { fetch(from, &Value::Int(idx))? } else { Value::Nil }
        }
        Value::Map(m) => {
            let key = match i {
                Value::Nil => "",
                Value::Str(s) => s,
                other => {
                    return Err(format!(
                        "reflect.Value.MapIndex: value of type {} is not assignable to type string",
                        other.go_type()
                    ));
                }
            };
            m.entries.get(key).cloned().unwrap_or(Value::Nil)
        }
        _ => Value::Nil,
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base64.StdEncoding.DecodeString`: padding required, newlines ignored, errors at Go's offsets.
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let src = s.as_bytes();
    let bad = |i: usize| format!("illegal base64 data at input byte {i}");
    let value = |b: u8| B64.iter().position(|c| *c == b).map(|v| v as u32);
    let skip_newlines = |mut i: usize| {
        while i < src.len() && (src[i] == b'\n' || src[i] == b'\r') {
            i += 1;
        }
        i
    };
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut quad = [0u32; 4];
        let mut len = 4;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(bad(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = value(c) {
                quad[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(bad(si - 1));
            }
            if j == 2 {
                si = skip_newlines(si);
                if si == src.len() {
                    return Err(bad(src.len()));
                }
                if src[si] != b'=' {
                    return Err(bad(si - 1));
                }
                si += 1;
            }
            si = skip_newlines(si);
            if si < src.len() {
                return Err(bad(si));
            }
            len = j;
            break;
        }
        let n = quad[0] << 18 | quad[1] << 12 | quad[2] << 6 | quad[3];
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..len - 1]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_split_and_replace_like_go() {
        assert_eq!(gen_split("a,b,,c", ",", false, -1), ["a", "b", "", "c"]);
        assert_eq!(gen_split("a,b,c", ",", false, 2), ["a", "b,c"]);
        assert_eq!(gen_split("a,b,", ",", true, -1), ["a,", "b,", ""]);
        assert_eq!(gen_split("abc", "", false, -1), ["a", "b", "c"]);
        assert_eq!(gen_split("abc", "", false, 2), ["a", "bc"]);
        assert!(gen_split("", "", false, -1).is_empty());
        assert_eq!(gen_split("", ",", false, -1), [""]);
        assert_eq!(replace("aaa", "a", "b", 2).as_deref(), Ok("bba"));
        assert_eq!(replace("ab", "", "-", -1).as_deref(), Ok("-a-b-"));
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Ok(&b"hello"[..]));
        assert_eq!(base64_decode("aGVsbG8").unwrap_err(), "illegal base64 data at input byte 4");
    }
}

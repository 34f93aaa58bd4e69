//! Evaluation with Go expr's run-time semantics (`vm/vm.go`, `vm/runtime`): Go's int and float arithmetic, its
//! comparisons, member access, closures over collections, its memory budget, and its panic texts.

use crate::check::{EQ_INT, IN_INT, NE_INT};
use crate::parser::Node;
use crate::value::{Elem, Func, List, Value, equal};
use regex::Regex;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Go expr's default memory budget (`conf.DefaultMemoryBudget`), counted in the same places.
const MEMORY_BUDGET: usize = 1_000_000;

/// Longest string the evaluator builds (Go has no limit; a doubling concatenation would exhaust memory).
pub const MAX_STRING: usize = 1 << 24;

pub const BUDGET: &str = "memory budget exceeded";

/// Why evaluation stopped: an error, or a nil met at a `?.` (caught by the enclosing chain).
pub enum Flow {
    Error(String),
    NilChain,
}

impl From<String> for Flow {
    fn from(e: String) -> Flow {
        Flow::Error(e)
    }
}

impl From<&str> for Flow {
    fn from(e: &str) -> Flow {
        Flow::Error(e.to_string())
    }
}

type R<T = Value> = Result<T, Flow>;

/// What a closure iterates over (`reflect.Value.Len` / `Index` on the collection).
enum Coll {
    List(Rc<List>),
    Str(Rc<str>),
    /// A map has a length but no elements by index.
    Map(usize),
}

impl Coll {
    fn len(&self) -> usize {
        match self {
            Coll::List(l) => l.items.len(),
            Coll::Str(s) => s.len(),
            Coll::Map(n) => *n,
        }
    }

    fn item(&self, i: usize) -> R {
        match self {
            Coll::List(l) => {
                l.items.get(i).cloned().ok_or_else(|| "reflect: slice index out of range".into())
            }
            Coll::Str(s) => s
                .as_bytes()
                .get(i)
                .map(|b| Value::Byte(*b))
                .ok_or_else(|| "reflect: string index out of range".into()),
            Coll::Map(_) => Err("reflect: call of reflect.Value.Index on map Value".into()),
        }
    }
}

struct Scope {
    coll: Coll,
    index: usize,
    acc: Value,
}

pub struct Eval<'a> {
    result: &'a Value,
    scopes: Vec<Scope>,
    vars: Vec<(String, Value)>,
    memory: usize,
    regexes: Vec<(String, Rc<Regex>)>,
    /// `$env`, made once: Go's environment is one map, equal to itself.
    env: Option<Value>,
}

/// The panic text of a failed Go type assertion `v.(T)`.
pub fn conversion(v: &Value, want: &str) -> String {
    let have = if v.is_nil() { "nil" } else { v.go_type() };
    format!("interface conversion: interface {{}} is {have}, not {want}")
}

fn truth(v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(conversion(other, "bool").into()),
    }
}

fn string_of(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(conversion(other, "string")),
    }
}

/// Go's `int(f)` on amd64: truncation, with NaN and out-of-range values giving the minimum int.
pub fn float_to_int(f: f64) -> i64 {
    // 2^63: the first float above every int64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-LIMIT..LIMIT).contains(&f) { i64::MIN } else { f as i64 }
}

/// `runtime.ToInt`.
pub fn to_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Float(f) => Ok(float_to_int(*f)),
        v if v.as_int().is_some() => Ok(v.as_int().unwrap_or(0)),
        other => Err(format!("invalid operation: int({})", other.go_type())),
    }
}

/// `runtime.ToFloat64`.
fn to_float(v: &Value) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("invalid operation: float({})", v.go_type()))
}

/// `runtime.Len`: what `len` means to the VM (bytes of a string).
fn vm_len(v: &Value) -> Result<i64, String> {
    Ok(match v {
        Value::Array(l) => l.items.len() as i64,
        Value::Map(m) => m.entries.len() as i64,
        Value::Str(s) => s.len() as i64,
        other => return Err(format!("invalid argument for len (type {})", other.go_type())),
    })
}

fn map_key(key: &Value) -> Result<&str, String> {
    match key {
        Value::Nil => Ok(""),
        Value::Str(s) => Ok(s),
        other => Err(format!(
            "reflect.Value.MapIndex: value of type {} is not assignable to type string",
            other.go_type()
        )),
    }
}

/// `runtime.Fetch`: `a.b` and `a[i]`.
pub fn fetch(from: &Value, i: &Value) -> Result<Value, String> {
    let index = |len: usize| -> Result<usize, String> {
        let mut idx = to_int(i)?;
        let l = len as i64;
        if idx < 0 {
            idx = idx.wrapping_add(l);
        }
        if idx < 0 || idx >= l {
            return Err(format!("index out of range: {idx} (array length is {l})"));
        }
        Ok(idx as usize)
    };
    match from {
        Value::Array(l) => Ok(l.items[index(l.items.len())?].clone()),
        Value::Str(s) => Ok(Value::Byte(s.as_bytes()[index(s.len())?])),
        Value::Map(m) => Ok(m.entries.get(map_key(i)?).cloned().unwrap_or(Value::Nil)),
        other => Err(format!("cannot fetch {} from {}", i.go_format(), other.go_type())),
    }
}

/// `runtime.Slice`.
fn slice(array: &Value, from: &Value, to: &Value) -> Result<Value, String> {
    let bounds = |len: usize| -> Result<(usize, usize), String> {
        let l = len as i64;
        let (mut a, mut b) = (to_int(from)?, to_int(to)?);
        if a < 0 {
            a = a.wrapping_add(l);
        }
        a = a.max(0);
        if b < 0 {
            b = b.wrapping_add(l);
        }
        b = b.clamp(0, l);
        a = a.min(b);
        Ok((a as usize, b as usize))
    };
    match array {
        Value::Array(l) => {
            let (a, b) = bounds(l.items.len())?;
            Value::list(l.items[a..b].to_vec(), l.elem)
        }
        Value::Str(s) => {
            let (a, b) = bounds(s.len())?;
            Ok(Value::str(&String::from_utf8_lossy(&s.as_bytes()[a..b])))
        }
        _ => Err(format!("cannot slice {}", from.go_format())),
    }
}

/// `runtime.In`.
fn contains(needle: &Value, haystack: &Value) -> Result<bool, String> {
    match haystack {
        Value::Nil => Ok(false),
        Value::Array(l) => Ok(l.items.iter().any(|item| equal(item, needle))),
        Value::Map(m) => Ok(m.entries.contains_key(map_key(needle)?)),
        other => Err(format!("operator \"in\" not defined on {}", other.go_type())),
    }
}

fn mismatch(a: &Value, op: &str, b: &Value) -> String {
    format!("invalid operation: {} {op} {}", a.go_type(), b.go_type())
}

/// `runtime.Less` and friends.
pub fn compare(a: &Value, op: &str, b: &Value) -> Result<bool, String> {
    use std::cmp::Ordering;
    let ord = match (a, b) {
        (x, y) if x.as_int().is_some() && y.as_int().is_some() => Some(x.as_int().cmp(&y.as_int())),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (x, y) if x.is_number() && y.is_number() => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            // NaN compares false either way.
            match x.partial_cmp(&y) {
                Some(o) => Some(o),
                None => return Ok(false),
            }
        }
        _ => return Err(mismatch(a, op, b)),
    };
    let ord = ord.unwrap_or(Ordering::Equal);
    Ok(match op {
        "<" => ord == Ordering::Less,
        ">" => ord == Ordering::Greater,
        "<=" => ord != Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

/// `runtime.Add` / `Subtract` / `Multiply`: integers stay Go ints (wrapping), anything with a float is a float.
pub fn arith(a: &Value, op: &str, b: &Value) -> Result<Value, String> {
    match (a, b) {
        (x, y) if x.as_int().is_some() && y.as_int().is_some() => {
            let (x, y) = (x.as_int().unwrap_or(0), y.as_int().unwrap_or(0));
            Ok(Value::Int(match op {
                "+" => x.wrapping_add(y),
                "-" => x.wrapping_sub(y),
                _ => x.wrapping_mul(y),
            }))
        }
        (x, y) if x.is_number() && y.is_number() => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            Ok(Value::Float(match op {
                "+" => x + y,
                "-" => x - y,
                _ => x * y,
            }))
        }
        (Value::Str(x), Value::Str(y)) if op == "+" => {
            if x.len() + y.len() > MAX_STRING {
                return Err(BUDGET.into());
            }
            Ok(Value::str(&format!("{x}{y}")))
        }
        _ => Err(mismatch(a, op, b)),
    }
}

fn binary(op: &str, a: &Value, b: &Value) -> Result<Value, String> {
    Ok(match op {
        "==" => Value::Bool(equal(a, b)),
        "!=" => Value::Bool(!equal(a, b)),
        EQ_INT | NE_INT => {
            let (Value::Int(x), Value::Int(y)) = (a, b) else {
                let odd = if matches!(a, Value::Int(_)) { b } else { a };
                return Err(conversion(odd, "int"));
            };
            Value::Bool((x == y) == (op == EQ_INT))
        }
        "<" | ">" | "<=" | ">=" => Value::Bool(compare(a, op, b)?),
        "+" | "-" | "*" => arith(a, op, b)?,
        "/" => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Value::Float(x / y),
            _ => return Err(mismatch(a, "/", b)),
        },
        "%" => match (a.as_int(), b.as_int()) {
            (Some(_), Some(0)) => return Err("runtime error: integer divide by zero".into()),
            (Some(x), Some(y)) => Value::Int(x.wrapping_rem(y)),
            _ => return Err(mismatch(a, "%", b)),
        },
        "**" | "^" => Value::Float(to_float(a)?.powf(to_float(b)?)),
        "in" | IN_INT => Value::Bool(contains(a, b)?),
        "contains" | "startsWith" | "endsWith" => {
            if a.is_nil() || b.is_nil() {
                return Ok(Value::Bool(false));
            }
            let (x, y) = (string_of(a)?, string_of(b)?);
            Value::Bool(match op {
                "contains" => x.contains(y),
                "startsWith" => x.starts_with(y),
                _ => x.ends_with(y),
            })
        }
        _ => return Err(format!("unknown operator ({op})")),
    })
}

impl<'a> Eval<'a> {
    pub fn new(result: &'a Value) -> Eval<'a> {
        Eval { result, scopes: Vec::new(), vars: Vec::new(), memory: 0, regexes: Vec::new(), env: None }
    }

    /// Runs the checked, optimized tree.
    pub fn run(&mut self, node: &Node) -> Result<Value, String> {
        match self.eval(node) {
            Ok(v) => Ok(v),
            Err(Flow::NilChain) => Ok(Value::Nil),
            Err(Flow::Error(e)) => Err(e),
        }
    }

    pub fn grow(&mut self, size: usize) -> Result<(), String> {
        self.memory = self.memory.saturating_add(size);
        if self.memory >= MEMORY_BUDGET {
            return Err(BUDGET.into());
        }
        Ok(())
    }

    fn regex(&mut self, pattern: &str) -> Result<Rc<Regex>, String> {
        if let Some((_, re)) = self.regexes.iter().find(|(p, _)| p == pattern) {
            return Ok(re.clone());
        }
        let re = Rc::new(crate::re::compile(pattern)?);
        if self.regexes.len() < 16 {
            self.regexes.push((pattern.to_string(), re.clone()));
        }
        Ok(re)
    }

    fn env(&mut self) -> Result<Value, String> {
        if let Some(env) = &self.env {
            return Ok(env.clone());
        }
        let mut m = BTreeMap::new();
        m.insert("result".to_string(), self.result.clone());
        for (name, f) in [
            ("asInt", Func::AsInt),
            ("asFloat", Func::AsFloat),
            ("isNaN", Func::IsNaN),
            ("isInf", Func::IsInf),
            ("isNil", Func::IsNil),
            ("default", Func::Default),
        ] {
            m.insert(name.to_string(), Value::Func(f));
        }
        let env = Value::dict(m)?;
        self.env = Some(env.clone());
        Ok(env)
    }

    /// Dispatches on the node; each kind is evaluated in a function of its own, so that the recursion's stack
    /// frames stay small.
    fn eval(&mut self, node: &Node) -> R {
        Ok(match node {
            Node::Nil => Value::Nil,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::Int(*i),
            Node::Float(f) => Value::Float(*f),
            Node::Str(s) => Value::str(s),
            Node::Const(items) => self.array(items, false)?,
            Node::Ident(name) => self.ident(name)?,
            Node::Unary(op, operand) => self.unary(op, operand)?,
            Node::Binary(op, l, r) => self.binary(op, l, r)?,
            Node::InStrings(l, set) => self.in_strings(l, set)?,
            Node::Chain(inner) => match self.eval(inner) {
                Err(Flow::NilChain) => Value::Nil,
                other => other?,
            },
            Node::Member { base, prop, optional, .. } => self.member(base, prop, *optional)?,
            Node::Slice { base, from, to } => self.slice(base, from.as_deref(), to.as_deref())?,
            Node::Call { callee, args } => self.call(callee, args)?,
            Node::Builtin { name, args, map, throws } => self.builtin(name, args, map.as_deref(), *throws)?,
            Node::Predicate(body) => self.eval(body)?,
            Node::Pointer(name) => self.pointer(name)?,
            Node::Let { name, value, body } => self.let_(name, value, body)?,
            Node::Seq(nodes) => {
                let mut last = Value::Nil;
                for n in nodes {
                    last = self.eval(n)?;
                }
                last
            }
            Node::Cond { cond, then, otherwise } => {
                let c = self.eval(cond)?;
                if truth(&c)? { self.eval(then)? } else { self.eval(otherwise)? }
            }
            Node::Array(items) => self.array(items, true)?,
            Node::Map(pairs) => self.map(pairs)?,
        })
    }

    /// An array literal; a constant one (folded by the optimizer) costs no memory budget.
    #[inline(never)]
    fn array(&mut self, items: &[Node], charged: bool) -> R {
        let values = items.iter().map(|i| self.eval(i)).collect::<R<Vec<_>>>()?;
        if charged {
            self.grow(values.len())?;
        }
        Ok(Value::array(values)?)
    }

    #[inline(never)]
    fn unary(&mut self, op: &str, operand: &Node) -> R {
        let v = self.eval(operand)?;
        Ok(match op {
            "-" => match v {
                Value::Int(i) => Value::Int(i.wrapping_neg()),
                Value::Int64(i) => Value::Int64(i.wrapping_neg()),
                Value::Byte(b) => Value::Byte(b.wrapping_neg()),
                Value::Float(f) => Value::Float(-f),
                other => return Err(format!("invalid operation: - {}", other.go_type()).into()),
            },
            "+" => v,
            _ => Value::Bool(!truth(&v)?),
        })
    }

    #[inline(never)]
    fn binary(&mut self, op: &str, l: &Node, r: &Node) -> R {
        Ok(match op {
            "and" | "&&" => {
                let a = self.eval(l)?;
                if !truth(&a)? {
                    return Ok(a);
                }
                self.eval(r)?
            }
            "or" | "||" => {
                let a = self.eval(l)?;
                if truth(&a)? {
                    return Ok(a);
                }
                self.eval(r)?
            }
            "??" => {
                let a = match self.eval(l) {
                    Err(Flow::NilChain) => Value::Nil,
                    other => other?,
                };
                if !a.is_nil() {
                    return Ok(a);
                }
                self.eval(r)?
            }
            "matches" => self.matches(l, r)?,
            ".." => {
                let (a, b) = (self.eval(l)?, self.eval(r)?);
                let (min, max) = (to_int(&a)?, to_int(&b)?);
                // Go's int arithmetic wraps: a range too wide to count is empty.
                let size = max.wrapping_sub(min).wrapping_add(1).max(0);
                self.grow(size as usize)?;
                let items = (0..size).map(|i| Value::Int(min.wrapping_add(i))).collect();
                Value::list(items, Elem::Int)?
            }
            _ => {
                let (a, b) = (self.eval(l)?, self.eval(r)?);
                binary(op, &a, &b)?
            }
        })
    }

    #[inline(never)]
    fn matches(&mut self, l: &Node, r: &Node) -> R {
        let a = self.eval(l)?;
        if let Node::Str(pattern) = r {
            // A literal pattern was compiled with the program.
            if a.is_nil() {
                return Ok(Value::Bool(false));
            }
            let re = self.regex(pattern)?;
            let Value::Str(s) = &a else { return Err(conversion(&a, "[]uint8").into()) };
            return Ok(Value::Bool(re.is_match(s)));
        }
        let b = self.eval(r)?;
        if a.is_nil() || b.is_nil() {
            return Ok(Value::Bool(false));
        }
        let pattern = string_of(&b)?.to_string();
        let Value::Str(s) = &a else { return Err(conversion(&a, "[]uint8").into()) };
        let re = self.regex(&pattern)?;
        Ok(Value::Bool(re.is_match(s)))
    }

    #[inline(never)]
    fn in_strings(&mut self, l: &Node, set: &[String]) -> R {
        let a = self.eval(l)?;
        let key = map_key(&a)?;
        Ok(Value::Bool(set.iter().any(|s| s == key)))
    }

    #[inline(never)]
    fn member(&mut self, base: &Node, prop: &Node, optional: bool) -> R {
        let b = self.eval(base)?;
        if optional && b.is_nil() {
            return Err(Flow::NilChain);
        }
        let p = self.eval(prop)?;
        Ok(fetch(&b, &p)?)
    }

    #[inline(never)]
    fn slice(&mut self, base: &Node, from: Option<&Node>, to: Option<&Node>) -> R {
        let b = self.eval(base)?;
        let to = match to {
            Some(t) => self.eval(t)?,
            None => Value::Int(vm_len(&b)?),
        };
        let from = match from {
            Some(f) => self.eval(f)?,
            None => Value::Int(0),
        };
        Ok(slice(&b, &from, &to)?)
    }

    #[inline(never)]
    fn call(&mut self, callee: &Node, args: &[Node]) -> R {
        // Go evaluates the arguments before the function.
        let args = args.iter().map(|a| self.eval(a)).collect::<R<Vec<_>>>()?;
        match self.eval(callee)? {
            Value::Func(f) => Ok(crate::argo::call(f, &args, self.result)?),
            Value::Nil => Err("invalid operation: cannot call nil".into()),
            other => {
                Err(format!("invalid operation: cannot call non-function of type {}", other.go_type()).into())
            }
        }
    }

    #[inline(never)]
    fn pointer(&mut self, name: &str) -> R {
        let Some(scope) = self.scopes.last() else { return Err("stack underflow".into()) };
        Ok(match name {
            "index" => Value::Int(scope.index as i64),
            "acc" => scope.acc.clone(),
            _ => scope.coll.item(scope.index)?,
        })
    }

    #[inline(never)]
    fn let_(&mut self, name: &str, value: &Node, body: &Node) -> R {
        let v = self.eval(value)?;
        self.vars.push((name.to_string(), v));
        let out = self.eval(body);
        self.vars.pop();
        out
    }

    #[inline(never)]
    fn map(&mut self, pairs: &[(Node, Node)]) -> R {
        let mut evaluated = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let k = self.eval(k)?;
            let v = self.eval(v)?;
            evaluated.push((k, v));
        }
        self.grow(evaluated.len())?;
        // Go fills the map from the last pair to the first: the first of two equal keys wins.
        let mut m = BTreeMap::new();
        for (k, v) in evaluated.into_iter().rev() {
            let key = string_of(&k)?.to_string();
            m.insert(key, v);
        }
        Ok(Value::dict(m)?)
    }

    fn ident(&mut self, name: &str) -> R {
        if let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        Ok(match name {
            "result" => self.result.clone(),
            "$env" => self.env()?,
            "asInt" => Value::Func(Func::AsInt),
            "asFloat" => Value::Func(Func::AsFloat),
            "isNaN" => Value::Func(Func::IsNaN),
            "isInf" => Value::Func(Func::IsInf),
            "isNil" => Value::Func(Func::IsNil),
            "default" => Value::Func(Func::Default),
            // A builtin named without a call is not in the environment Go looks it up in.
            _ => Value::Nil,
        })
    }

    /// Starts a closure loop over `v` (`OpBegin`).
    fn begin(&mut self, v: Value) -> R<usize> {
        let coll = match v {
            Value::Array(l) => Coll::List(l),
            Value::Str(s) => Coll::Str(s),
            Value::Map(m) => Coll::Map(m.entries.len()),
            Value::Nil => return Err("reflect: call of reflect.Value.Len on zero Value".into()),
            other => {
                return Err(format!("reflect: call of reflect.Value.Len on {} Value", other.go_kind()).into());
            }
        };
        let len = coll.len();
        self.scopes.push(Scope { coll, index: 0, acc: Value::Nil });
        Ok(len)
    }

    fn at(&mut self, i: usize) {
        if let Some(s) = self.scopes.last_mut() {
            s.index = i;
        }
    }

    fn item(&self) -> R {
        match self.scopes.last() {
            Some(s) => s.coll.item(s.index),
            None => Err("stack underflow".into()),
        }
    }

    #[inline(never)]
    fn builtin(&mut self, name: &str, args: &[Node], map: Option<&Node>, throws: bool) -> R {
        match name {
            "all" | "none" | "any" | "one" | "filter" | "map" | "count" | "sum" | "find" | "findLast"
            | "findIndex" | "findLastIndex" | "sortBy" | "reduce" => {
                let Some(collection) = args.first() else {
                    return Err(format!("builtin {name} takes a collection").into());
                };
                let collection = self.eval(collection)?;
                let len = self.begin(collection)?;
                let out = self.closure(name, args, map, throws, len);
                self.scopes.pop();
                out
            }
            _ => {
                let values = args.iter().map(|a| self.eval(a)).collect::<R<Vec<_>>>()?;
                let (v, mem) = crate::builtins::call(name, &values)?;
                self.grow(mem)?;
                Ok(v)
            }
        }
    }

    #[inline(never)]
    fn closure(&mut self, name: &str, args: &[Node], map: Option<&Node>, throws: bool, len: usize) -> R {
        let pred = args.get(1);
        let body = || pred.ok_or_else(|| Flow::from(format!("builtin {name} takes a closure")));
        let test = |ev: &mut Eval, i: usize| -> R<bool> {
            ev.at(i);
            let v = match pred {
                Some(p) => ev.eval(p)?,
                None => ev.item()?,
            };
            truth(&v)
        };
        Ok(match name {
            "all" | "none" | "any" => {
                for i in 0..len {
                    let t = test(self, i)?;
                    match (name, t) {
                        ("all", false) | ("none", true) => return Ok(Value::Bool(false)),
                        ("any", true) => return Ok(Value::Bool(true)),
                        _ => {}
                    }
                }
                Value::Bool(name != "any")
            }
            "one" | "count" => {
                let mut count = 0i64;
                for i in 0..len {
                    if test(self, i)? {
                        count += 1;
                    }
                }
                if name == "one" { Value::Bool(count == 1) } else { Value::Int(count) }
            }
            "filter" => {
                let mut out = Vec::new();
                for i in 0..len {
                    if test(self, i)? {
                        out.push(match map {
                            Some(m) => self.eval(m)?,
                            None => self.item()?,
                        });
                    }
                }
                self.grow(out.len())?;
                Value::array(out)?
            }
            "map" => {
                let mut out = Vec::with_capacity(len);
                for i in 0..len {
                    self.at(i);
                    out.push(self.eval(body()?)?);
                }
                self.grow(out.len())?;
                Value::array(out)?
            }
            "sum" => {
                let mut acc = Value::Int(0);
                for i in 0..len {
                    self.at(i);
                    let v = match pred {
                        Some(p) => self.eval(p)?,
                        None => self.item()?,
                    };
                    acc = arith(&v, "+", &acc)?;
                }
                acc
            }
            "find" | "findIndex" | "findLast" | "findLastIndex" => {
                let backwards = name.starts_with("findLast");
                for k in 0..len {
                    let i = if backwards { len - 1 - k } else { k };
                    if test(self, i)? {
                        return Ok(match name {
                            "findIndex" | "findLastIndex" => Value::Int(i as i64),
                            _ => match map {
                                Some(m) => self.eval(m)?,
                                None => self.item()?,
                            },
                        });
                    }
                }
                if throws && !name.ends_with("Index") {
                    return Err("reflect: slice index out of range".into());
                }
                Value::Nil
            }
            "sortBy" => {
                let order = match args.get(2) {
                    Some(o) => self.eval(o)?,
                    None => Value::str("asc"),
                };
                let desc = match string_of(&order)? {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err("unknown order, use asc or desc".into()),
                };
                let mut pairs = Vec::with_capacity(len);
                for i in 0..len {
                    self.at(i);
                    let key = self.eval(body()?)?;
                    pairs.push((self.item()?, key));
                }
                sort_pairs(&mut pairs, desc)?;
                self.grow(len)?;
                Value::array(pairs.into_iter().map(|(v, _)| v).collect())?
            }
            "reduce" => {
                let start = match args.get(2) {
                    Some(init) => {
                        let acc = self.eval(init)?;
                        self.set_acc(acc);
                        0
                    }
                    None => {
                        self.at(0);
                        let first = self.item()?;
                        self.set_acc(first);
                        1
                    }
                };
                for i in start..len {
                    self.at(i);
                    let acc = self.eval(body()?)?;
                    self.set_acc(acc);
                }
                self.scopes.last().map(|s| s.acc.clone()).unwrap_or(Value::Nil)
            }
            _ => return Err(format!("unknown builtin {name}").into()),
        })
    }

    fn set_acc(&mut self, v: Value) {
        if let Some(s) = self.scopes.last_mut() {
            s.acc = v;
        }
    }
}

/// Sorts by key with expr's `Less` (an error if two keys cannot be compared); stable, like Go's sort on the
/// short lists conditions sort.
pub fn sort_pairs(pairs: &mut Vec<(Value, Value)>, desc: bool) -> Result<(), String> {
    let less = |a: &(Value, Value), b: &(Value, Value)| -> Result<bool, String> {
        if desc { compare(&b.1, "<", &a.1) } else { compare(&a.1, "<", &b.1) }
    };
    // Bottom-up merge sort: the comparator is fallible, which the standard sorts do not allow.
    let mut width = 1;
    let n = pairs.len();
    while width < n {
        let mut merged = Vec::with_capacity(n);
        let mut rest = std::mem::take(pairs).into_iter().peekable();
        while rest.peek().is_some() {
            let left: Vec<_> = rest.by_ref().take(width).collect();
            let right: Vec<_> = rest.by_ref().take(width).collect();
            let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
            loop {
                match (l.peek(), r.peek()) {
                    (Some(a), Some(b)) => {
                        if less(b, a)? {
                            merged.extend(r.next());
                        } else {
                            merged.extend(l.next());
                        }
                    }
                    (Some(_), None) => merged.extend(l.next()),
                    (None, Some(_)) => merged.extend(r.next()),
                    (None, None) => break,
                }
            }
        }
        *pairs = merged;
        width *= 2;
    }
    Ok(())
}

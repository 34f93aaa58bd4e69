//! Go expr's type checker (`checker/checker.go`), run against Argo's environment: the measurement's Go type is
//! known, so `result == true` on a number is a compile error, as upstream reports it.

use crate::parser::Node;
use crate::re;
use crate::types::{GoKind, Sig, Ty};
use std::rc::Rc;

/// The natures of Argo's environment (`utils/evaluate`): `result` and its functions.
pub fn env_field(name: &str, result: &Ty) -> Option<Ty> {
    Some(match name {
        "result" => result.clone(),
        "asInt" => Ty::func(vec![Ty::Any], Ty::Int64),
        "asFloat" => Ty::func(vec![Ty::Any], Ty::Float),
        "isNaN" | "isInf" => Ty::func(vec![Ty::Float], Ty::Bool),
        "isNil" => Ty::func(vec![Ty::Any], Ty::Bool),
        "default" => Ty::func(vec![Ty::Any, Ty::Any], Ty::Any),
        _ => return None,
    })
}

/// Builtins of Go expr that serin does not implement (time functions and those making maps keyed by values).
pub const UNSUPPORTED: &[&str] = &["now", "duration", "date", "timezone", "groupBy", "toPairs", "fromPairs"];

/// Type-checks (and, where Go does, rewrites) the tree; returns its nature.
pub fn check(node: &mut Node, result: &Ty) -> Result<Ty, String> {
    let mut c = Checker { result, predicates: Vec::new(), vars: Vec::new() };
    c.visit(node).map_err(|f| f.message())
}

/// An error found while checking. Go's checker keeps the first error it records: errors met while visiting
/// a node are final (`Hard`); a call's argument mismatch (`Soft`) only stands if no overload fits.
enum Fail {
    Hard(String),
    Soft(String),
}

impl Fail {
    fn message(self) -> String {
        match self {
            Fail::Hard(m) | Fail::Soft(m) => m,
        }
    }
}

type R = Result<Ty, Fail>;

fn err(msg: impl Into<String>) -> R {
    Err(Fail::Hard(msg.into()))
}

struct Checker<'a> {
    result: &'a Ty,
    /// Closure scopes: the collection's nature and the `#name` variables they define.
    predicates: Vec<(Ty, Vec<(&'static str, Ty)>)>,
    /// `let` variables.
    vars: Vec<(String, Ty)>,
}

/// Marks an `in` whose left side is a Go `int` (the optimizer turns `x in 1..3` into a range test then).
pub const IN_INT: &str = "in\u{0}int";

/// Marks `==` / `!=` between two Go `int`s, which Go compiles to a comparison asserting both are ints at run
/// time (a builtin typed `int` that returns a float then fails).
pub const EQ_INT: &str = "==\u{0}int";
pub const NE_INT: &str = "!=\u{0}int";

impl Checker<'_> {
    /// Dispatches on the node; each kind is checked in a function of its own, so that the recursion's stack
    /// frames stay small.
    fn visit(&mut self, node: &mut Node) -> R {
        match node {
            Node::Nil => Ok(Ty::Nil),
            Node::Bool(_) => Ok(Ty::Bool),
            Node::Int(_) => Ok(Ty::Int),
            Node::Float(_) => Ok(Ty::Float),
            Node::Str(_) => Ok(Ty::Str),
            Node::Ident(name) => self.ident(name),
            Node::Unary(op, operand) => self.unary(op, operand),
            Node::Binary(..) => self.binary(node),
            Node::Chain(inner) => self.visit(inner),
            Node::Member { .. } => self.member(node),
            Node::Slice { base, from, to } => self.slice(base, from, to),
            Node::Call { .. } => self.call(node),
            Node::Builtin { .. } => self.builtin(node),
            Node::Predicate(body) => self.predicate(body),
            Node::Pointer(name) => self.pointer(name),
            Node::Let { name, value, body } => self.let_(name, value, body),
            Node::Seq(nodes) => {
                let mut last = Ty::Unknown;
                for n in nodes {
                    last = self.visit(n)?;
                }
                Ok(last)
            }
            Node::Cond { cond, then, otherwise } => self.cond(cond, then, otherwise),
            Node::Array(items) => self.array(items),
            Node::Map(pairs) => {
                for (k, v) in pairs {
                    self.visit(k)?;
                    self.visit(v)?;
                }
                Ok(Ty::string_map())
            }
            // Made by the optimizer, which runs after the checker.
            Node::InStrings(..) => Ok(Ty::Bool),
            Node::Const(_) => Ok(Ty::any_array()),
        }
    }

    #[inline(never)]
    fn unary(&mut self, op: &'static str, operand: &mut Node) -> R {
        let t = self.visit(operand)?;
        match op {
            "!" | "not" if t.is_bool() || t.unknown() => Ok(Ty::Bool),
            "+" | "-" if t.number() => Ok(t),
            "+" | "-" if t.unknown() => Ok(Ty::Unknown),
            _ => err(format!("invalid operation: {op} (mismatched type {})", t.name())),
        }
    }

    #[inline(never)]
    fn slice(&mut self, base: &mut Node, from: &mut Option<Box<Node>>, to: &mut Option<Box<Node>>) -> R {
        let t = self.visit(base)?;
        if t.unknown() {
            return Ok(Ty::Unknown);
        }
        if !matches!(t.kind(), GoKind::String | GoKind::Slice) {
            return err(format!("cannot slice {}", t.name()));
        }
        for bound in [from, to].into_iter().flatten() {
            let b = self.visit(bound)?;
            if !b.integer() && !b.unknown() {
                return err(format!("non-integer slice index {}", b.name()));
            }
        }
        Ok(t)
    }

    #[inline(never)]
    fn predicate(&mut self, body: &mut Node) -> R {
        let body = self.visit(body)?;
        let outs = if body.unknown() {
            vec![Ty::Any]
        } else if body.is_nil() {
            vec![]
        } else {
            vec![body.clone()]
        };
        Ok(Ty::Func(Rc::new(Sig { ins: vec![Ty::Any], variadic: false, outs, body: Some(body) })))
    }

    #[inline(never)]
    fn pointer(&mut self, name: &str) -> R {
        let Some((collection, vars)) = self.predicates.last() else {
            return err("cannot use pointer accessor outside predicate");
        };
        if name.is_empty() {
            if collection.unknown() {
                return Ok(Ty::Unknown);
            }
            if collection.is_array() {
                return Ok(collection.elem());
            }
            return err("cannot use pointer accessor outside predicate");
        }
        match vars.iter().find(|(n, _)| *n == name) {
            Some((_, t)) => Ok(t.clone()),
            None => err(format!("unknown pointer #{name}")),
        }
    }

    #[inline(never)]
    fn let_(&mut self, name: &str, value: &mut Node, body: &mut Node) -> R {
        if env_field(name, self.result).is_some() {
            return err(format!("cannot redeclare {name}"));
        }
        if crate::parser::BUILTINS.contains(&name) {
            return err(format!("cannot redeclare builtin {name}"));
        }
        if self.vars.iter().any(|(n, _)| n == name) {
            return err(format!("cannot redeclare variable {name}"));
        }
        let t = self.visit(value)?;
        self.vars.push((name.to_string(), t));
        let out = self.visit(body);
        self.vars.pop();
        out
    }

    #[inline(never)]
    fn cond(&mut self, cond: &mut Node, then: &mut Node, otherwise: &mut Node) -> R {
        let c = self.visit(cond)?;
        if !c.is_bool() && !c.unknown() {
            return err(format!("non-bool expression (type {}) used as condition", c.name()));
        }
        let t1 = self.visit(then)?;
        let t2 = self.visit(otherwise)?;
        Ok(match (t1.is_nil(), t2.is_nil()) {
            (true, false) => t2,
            (false, true) | (true, true) => t1,
            _ if t1.assignable_to(&t2) => {
                if t1.is_array() && t2.is_array() {
                    let (e1, e2) = (t1.elem(), t2.elem());
                    if !e1.assignable_to(&e2) || !e2.assignable_to(&e1) {
                        return Ok(Ty::any_array());
                    }
                }
                t1
            }
            _ => Ty::Unknown,
        })
    }

    #[inline(never)]
    fn array(&mut self, items: &mut [Node]) -> R {
        let mut prev = Ty::Unknown;
        let mut same = true;
        for (i, item) in items.iter_mut().enumerate() {
            let t = self.visit(item)?;
            if i > 0 && t.kind() != prev.kind() {
                same = false;
            }
            prev = t;
        }
        Ok(if same { Ty::array_of(prev) } else { Ty::any_array() })
    }

    #[inline(never)]
    fn ident(&mut self, name: &str) -> R {
        if let Some((_, t)) = self.vars.iter().rev().find(|(n, _)| n == name) {
            return Ok(t.clone());
        }
        if name == "$env" {
            return Ok(Ty::Unknown);
        }
        if let Some(t) = env_field(name, self.result) {
            return Ok(t);
        }
        if crate::parser::BUILTINS.contains(&name) {
            return Ok(Ty::Func(Rc::new(crate::builtins::bare_signature(name))));
        }
        err(format!("unknown name {name}"))
    }

    #[inline(never)]
    fn binary(&mut self, node: &mut Node) -> R {
        let Node::Binary(op, left, right) = node else { return Ok(Ty::Unknown) };
        let l = self.visit(left)?;
        let r = self.visit(right)?;
        let bool_ok = Ok(Ty::Bool);
        let number = |t: &Ty| t.number();
        match *op {
            "==" | "!=" | EQ_INT | NE_INT if l.comparable_to(&r) => {
                if matches!((&l, &r), (Ty::Int, Ty::Int)) {
                    *op = if matches!(*op, "==" | EQ_INT) { EQ_INT } else { NE_INT };
                }
                return bool_ok;
            }
            "or" | "||" | "and" | "&&"
                if l.is_bool() && r.is_bool() || l.maybe_compatible(&r, Ty::is_bool) =>
            {
                return bool_ok;
            }
            "<" | ">" | ">=" | "<="
                if l.number() && r.number()
                    || l.is_string() && r.is_string()
                    || l.maybe_compatible(&r, |t| t.number() || t.is_string()) =>
            {
                return bool_ok;
            }
            "-" | "*" if l.number() && r.number() => return Ok(l.promote_numeric(&r)),
            "-" | "*" if l.maybe_compatible(&r, number) => return Ok(Ty::Unknown),
            "/" | "**" | "^" if l.number() && r.number() || l.maybe_compatible(&r, number) => {
                return Ok(Ty::Float);
            }
            "%" if l.integer() && r.integer() || l.maybe_compatible(&r, Ty::integer) => return Ok(Ty::Int),
            "+" if l.number() && r.number() => return Ok(l.promote_numeric(&r)),
            "+" if l.is_string() && r.is_string() => return Ok(Ty::Str),
            "+" if l.maybe_compatible(&r, |t| t.number() || t.is_string()) => return Ok(Ty::Unknown),
            "in" | IN_INT => {
                if r.is_map() {
                    let key = r.key();
                    if !l.unknown() && !l.assignable_to(&key) {
                        return err(format!("cannot use {} as type {} in map key", l.name(), key.name()));
                    }
                    return self.mark_int_in(node, &l);
                }
                if r.is_array() {
                    let elem = r.elem();
                    if !l.comparable_to(&elem) {
                        return err(format!("cannot use {} as type {} in array", l.name(), elem.name()));
                    }
                    return self.mark_int_in(node, &l);
                }
                if l.unknown() && (r.is_string() || r.is_array() || r.is_map()) || r.unknown() {
                    return self.mark_int_in(node, &l);
                }
            }
            "matches" => {
                if let Node::Str(pattern) = &**right {
                    re::compile(pattern).map_err(Fail::Hard)?;
                }
                if l.is_string() && r.is_string() || l.maybe_compatible(&r, Ty::is_string) {
                    return bool_ok;
                }
            }
            "contains" | "startsWith" | "endsWith"
                if l.is_string() && r.is_string() || l.maybe_compatible(&r, Ty::is_string) =>
            {
                return bool_ok;
            }
            ".." if l.integer() && r.integer() || l.maybe_compatible(&r, Ty::integer) => {
                return Ok(Ty::array_of(Ty::Int));
            }
            "??" => {
                return Ok(match (l.is_nil(), r.is_nil()) {
                    (true, false) => r,
                    (false, true) | (true, true) => l,
                    _ if r.assignable_to(&l) => l,
                    _ => Ty::Unknown,
                });
            }
            _ => {}
        }
        err(format!("invalid operation: {op} (mismatched types {} and {})", l.name(), r.name()))
    }

    fn mark_int_in(&mut self, node: &mut Node, left: &Ty) -> R {
        if let Node::Binary(op, ..) = node
            && matches!(left, Ty::Int)
        {
            *op = IN_INT;
        }
        Ok(Ty::Bool)
    }

    #[inline(never)]
    fn member(&mut self, node: &mut Node) -> R {
        let Node::Member { base, prop, optional, method } = node else { return Ok(Ty::Unknown) };
        if let Node::Ident(name) = &**base
            && name == "$env"
        {
            if let Node::Str(field) = &**prop {
                return match env_field(field, self.result) {
                    Some(t) => Ok(t),
                    None if *optional => Ok(Ty::Unknown),
                    None => err(format!("unknown name {field}")),
                };
            }
            return Ok(Ty::Unknown);
        }
        let b = self.visit(base)?;
        let p = self.visit(prop)?;
        if b.unknown() {
            return Ok(Ty::Unknown);
        }
        let name = match &**prop {
            Node::Str(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(n) = &name
            && b.is_nil()
        {
            return err(format!("type nil has no field {n}"));
        }
        match b.kind() {
            GoKind::Map => {
                let key = b.key();
                if !p.assignable_to(&key) && !p.unknown() {
                    return err(format!("cannot use {} to get an element from {}", p.name(), b.name()));
                }
                return Ok(b.elem());
            }
            GoKind::Slice => {
                if !p.integer() && !p.unknown() {
                    return err(format!(
                        "array elements can only be selected using an integer (got {})",
                        p.name()
                    ));
                }
                return Ok(b.elem());
            }
            _ => {}
        }
        match name {
            Some(n) if *method => err(format!("type {} has no method {n}", b.name())),
            Some(n) => err(format!("type {} has no field {n}", b.name())),
            None => err(format!("type {}[{}] is undefined", b.name(), p.name())),
        }
    }

    #[inline(never)]
    fn call(&mut self, node: &mut Node) -> R {
        let Node::Call { callee, args } = node else { return Ok(Ty::Unknown) };
        let t = self.visit(callee)?;
        if t.unknown() {
            return Ok(Ty::Unknown);
        }
        let name = match &**callee {
            Node::Ident(n) => n.clone(),
            Node::Member { prop, .. } => match &**prop {
                Node::Str(s) => s.clone(),
                _ => "function".into(),
            },
            _ => "function".into(),
        };
        match &t {
            Ty::Nil => err(format!("{name} is nil; cannot call nil as function")),
            Ty::Func(sig) => {
                let sig = sig.clone();
                self.check_arguments(&name, &sig, args).map_err(|f| Fail::Hard(f.message()))
            }
            _ => err(format!("{} is not callable", t.name())),
        }
    }

    /// Go's `checkArguments`: arity, then each argument against its parameter, visiting lazily as Go does.
    #[inline(never)]
    fn check_arguments(&mut self, name: &str, sig: &Sig, args: &mut [Node]) -> R {
        let n = sig.ins.len();
        let count_err = if sig.variadic {
            (args.len() + 1 < n).then(|| format!("not enough arguments to call {name}"))
        } else if args.len() > n {
            Some(format!("too many arguments to call {name}"))
        } else if args.len() < n {
            Some(format!("not enough arguments to call {name}"))
        } else {
            None
        };
        if let Some(e) = count_err {
            for a in args.iter_mut() {
                self.visit(a)?;
            }
            return Err(Fail::Soft(e));
        }
        for (i, arg) in args.iter_mut().enumerate() {
            let t = self.visit(arg)?;
            let param = if sig.variadic && i + 1 >= n { sig.ins[n - 1].elem() } else { sig.ins[i].clone() };
            if matches!(param, Ty::Float) && t.integer() {
                ints_to_floats(arg);
                continue;
            }
            if param.integer() && t.integer() {
                continue;
            }
            if t.is_nil() {
                if matches!(param.kind(), GoKind::Interface) {
                    continue;
                }
                return Err(Fail::Soft(format!(
                    "cannot use nil as argument (type {}) to call {name}",
                    param.name()
                )));
            }
            if !t.assignable_to(&param) && !t.unknown() {
                return Err(Fail::Soft(format!(
                    "cannot use {} as argument (type {}) to call {name} ",
                    t.name(),
                    param.name()
                )));
            }
        }
        Ok(sig.outs.first().cloned().unwrap_or(Ty::Unknown))
    }

    #[inline(never)]
    fn builtin(&mut self, node: &mut Node) -> R {
        let Node::Builtin { name, args, .. } = node else { return Ok(Ty::Unknown) };
        let name = name.clone();
        if UNSUPPORTED.contains(&name.as_str()) {
            return err(format!("builtin {name} is not supported"));
        }
        match name.as_str() {
            "all" | "none" | "any" | "one" | "filter" | "map" | "count" | "sum" | "find" | "findLast"
            | "findIndex" | "findLastIndex" | "sortBy" | "reduce" => {
                return self.predicate_builtin(&name, args);
            }
            "get" => return self.get(args),
            _ => {}
        }
        if crate::builtins::VALIDATED.contains(&name.as_str()) {
            let mut view = Vec::with_capacity(args.len());
            for a in args.iter_mut() {
                let t = self.visit(a)?;
                view.push(if t.unknown() { Some(Ty::Any) } else { t.reflect() });
            }
            return crate::builtins::validate(&name, &view).map_err(Fail::Hard);
        }
        let overloads = crate::builtins::overloads(&name);
        let mut last = None;
        for sig in &overloads {
            match self.check_arguments(&name, sig, args) {
                Ok(t) => return Ok(t),
                Err(Fail::Hard(e)) => return err(e),
                Err(Fail::Soft(e)) => last = Some(e),
            }
        }
        err(last.unwrap_or_else(|| format!("no matching overload for {name}")))
    }

    #[inline(never)]
    fn get(&mut self, args: &mut [Node]) -> R {
        if args.len() != 2 {
            return err(format!("invalid number of arguments (expected 2, got {})", args.len()));
        }
        let base = self.visit(&mut args[0])?;
        let prop = self.visit(&mut args[1])?;
        if let Node::Ident(n) = &args[0]
            && n == "$env"
        {
            if let Node::Str(s) = &args[1]
                && let Some(t) = env_field(s, self.result)
            {
                return Ok(t);
            }
            return Ok(Ty::Unknown);
        }
        if base.unknown() {
            return Ok(Ty::Unknown);
        }
        match base.kind() {
            GoKind::Slice => {
                if !prop.integer() && !prop.unknown() {
                    return err(format!("non-integer slice index {}", prop.name()));
                }
                Ok(base.elem())
            }
            GoKind::Map => {
                if !prop.assignable_to(&base.key()) && !prop.unknown() {
                    return err(format!("cannot use {} to get an element from {}", prop.name(), base.name()));
                }
                Ok(base.elem())
            }
            _ => err(format!("type {} does not support indexing", base.name())),
        }
    }

    #[inline(never)]
    fn predicate_builtin(&mut self, name: &str, args: &mut [Node]) -> R {
        let Some(first) = args.first_mut() else { return err(format!("builtin {name} takes a collection")) };
        let collection = self.visit(first)?;
        if !collection.is_array() && !collection.unknown() {
            return err(format!("builtin {name} takes only array (got {})", collection.name()));
        }
        if args.len() == 1 {
            // `count(x)` and `sum(x)`.
            return Ok(match name {
                "count" => Ty::Int,
                _ if collection.unknown() => Ty::Unknown,
                _ => collection.elem(),
            });
        }
        let vars: Vec<(&'static str, Ty)> = match name {
            "map" => vec![("index", Ty::Int)],
            "reduce" => vec![("index", Ty::Int), ("acc", Ty::Unknown)],
            _ => vec![],
        };
        self.predicates.push((collection.clone(), vars));
        let predicate = self.visit(&mut args[1]);
        self.predicates.pop();
        let predicate = predicate?;
        if name == "sortBy" && args.len() == 3 {
            self.visit(&mut args[2])?;
        }
        let Ty::Func(sig) = &predicate else {
            return err("predicate should has one input and one output param");
        };
        if name == "reduce" {
            if args.len() == 3 {
                self.visit(&mut args[2])?;
            }
            if sig.outs.len() == 1 {
                return Ok(sig.body.clone().unwrap_or(Ty::Unknown));
            }
            return err("predicate should has two input and one output param");
        }
        if sig.outs.len() != 1 {
            if name == "sum" {
                // Go falls back to checking `sum`'s signature here.
                return Err(Fail::Hard(format!(
                    "cannot use {} as argument (type func(interface {{}}) bool) to call sum ",
                    predicate.name()
                )));
            }
            return err("predicate should has one input and one output param");
        }
        let out = sig.outs[0].clone();
        let must_be_bool = !matches!(name, "map" | "sum" | "sortBy");
        if must_be_bool && !out.is_bool() && !out.unknown() {
            return err(format!("predicate should return boolean (got {})", out.name()));
        }
        Ok(match name {
            "all" | "none" | "any" | "one" => Ty::Bool,
            "filter" if collection.unknown() => Ty::any_array(),
            "filter" => Ty::array_of(collection.elem()),
            "map" => Ty::array_of(sig.body.clone().unwrap_or(Ty::Unknown)),
            "count" | "findIndex" | "findLastIndex" => Ty::Int,
            "sum" => out,
            "find" | "findLast" if collection.unknown() => Ty::Unknown,
            "find" | "findLast" => collection.elem(),
            _ => collection,
        })
    }
}

/// Go's checker turns integer literals into floats where a float parameter takes them (through unary
/// operators and `+ - *`).
fn ints_to_floats(node: &mut Node) {
    match node {
        Node::Int(i) => *node = Node::Float(*i as f64),
        Node::Unary(_, n) => ints_to_floats(n),
        Node::Binary("+" | "-" | "*", a, b) => {
            ints_to_floats(a);
            ints_to_floats(b);
        }
        _ => {}
    }
}

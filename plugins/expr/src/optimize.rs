//! Go expr's optimizer (`optimizer/`), which `expr.Compile` always runs. Its rewrites are visible in results:
//! `x and false` never evaluates `x`, `1 % 0` fails at compile time, `filter(...)[0]` fails with reflect's
//! message when nothing matches, `sum([a, b])` adds in another order. They are reproduced in the same order.

use crate::check::{EQ_INT, IN_INT};
use crate::parser::{MAX_DEPTH, Node, TOO_DEEP};

pub fn optimize(node: &mut Node) -> Result<(), String> {
    walk(node, &mut in_array);
    for _ in 0..=1000 {
        let mut applied = false;
        let mut error = None;
        walk(node, &mut |n| {
            if error.is_none() {
                match fold(n) {
                    Ok(changed) => applied |= changed,
                    Err(e) => error = Some(e),
                }
            }
        });
        if let Some(e) = error {
            return Err(e);
        }
        if !applied {
            break;
        }
    }
    walk(node, &mut in_range);
    walk(node, &mut filter_map);
    walk(node, &mut filter_len);
    walk(node, &mut |n| filter_index(n, -1, "findLast", "last"));
    walk(node, &mut |n| filter_index(n, 0, "find", "first"));
    walk(node, &mut predicate_combination);
    walk(node, &mut sum_array);
    walk(node, &mut sum_map);
    if node.height() > MAX_DEPTH {
        return Err(TOO_DEEP.into());
    }
    Ok(())
}

/// Post-order, as Go's `ast.Walk`: children first, then the node.
fn walk(node: &mut Node, f: &mut dyn FnMut(&mut Node)) {
    match node {
        Node::Nil
        | Node::Bool(_)
        | Node::Int(_)
        | Node::Float(_)
        | Node::Str(_)
        | Node::Ident(_)
        | Node::Pointer(_) => {}
        Node::Unary(_, n) | Node::Chain(n) | Node::Predicate(n) | Node::InStrings(n, _) => walk(n, f),
        Node::Binary(_, a, b) => {
            walk(a, f);
            walk(b, f);
        }
        Node::Member { base, prop, .. } => {
            walk(base, f);
            walk(prop, f);
        }
        Node::Slice { base, from, to } => {
            walk(base, f);
            if let Some(n) = from {
                walk(n, f);
            }
            if let Some(n) = to {
                walk(n, f);
            }
        }
        Node::Call { callee, args } => {
            walk(callee, f);
            args.iter_mut().for_each(|a| walk(a, f));
        }
        Node::Builtin { args, .. } => args.iter_mut().for_each(|a| walk(a, f)),
        Node::Let { value, body, .. } => {
            walk(value, f);
            walk(body, f);
        }
        Node::Seq(nodes) | Node::Array(nodes) | Node::Const(nodes) => {
            nodes.iter_mut().for_each(|a| walk(a, f))
        }
        Node::Cond { cond, then, otherwise } => {
            walk(cond, f);
            walk(then, f);
            walk(otherwise, f);
        }
        Node::Map(pairs) => pairs.iter_mut().for_each(|(k, v)| {
            walk(k, f);
            walk(v, f);
        }),
    }
    f(node);
}

fn take(node: &mut Node) -> Node {
    std::mem::replace(node, Node::Nil)
}

/// `x in ["a", "b"]` becomes a set lookup (a list of ints against an int needle too, which looks the same).
fn in_array(node: &mut Node) {
    let Node::Binary(op, _, right) = node else { return };
    if !matches!(*op, "in" | IN_INT) {
        return;
    }
    let Node::Array(items) = &**right else { return };
    if items.is_empty() {
        return;
    }
    let strings: Option<Vec<String>> =
        items.iter().map(|i| if let Node::Str(s) = i { Some(s.clone()) } else { None }).collect();
    if let Some(set) = strings
        && let Node::Binary(_, left, _) = take(node)
    {
        *node = Node::InStrings(left, set);
    }
}

/// Constant folding. Returns whether the node changed.
fn fold(node: &mut Node) -> Result<bool, String> {
    let new = match node {
        Node::Unary(op, inner) => match (*op, &**inner) {
            ("-", Node::Int(i)) => Node::Int(i.wrapping_neg()),
            ("-", Node::Float(f)) => Node::Float(-f),
            ("+", Node::Int(i)) => Node::Int(*i),
            ("+", Node::Float(f)) => Node::Float(*f),
            ("!" | "not", Node::Bool(b)) => Node::Bool(!b),
            _ => return Ok(false),
        },
        Node::Binary(op, l, r) => {
            let op = *op;
            let num = |n: &Node| match n {
                Node::Int(i) => Some(*i as f64),
                Node::Float(f) => Some(*f),
                _ => None,
            };
            match (op, &**l, &**r) {
                ("+", Node::Int(a), Node::Int(b)) => Node::Int(a.wrapping_add(*b)),
                ("-", Node::Int(a), Node::Int(b)) => Node::Int(a.wrapping_sub(*b)),
                ("*", Node::Int(a), Node::Int(b)) => Node::Int(a.wrapping_mul(*b)),
                ("+", Node::Str(a), Node::Str(b)) => Node::Str(format!("{a}{b}")),
                ("%", Node::Int(_), Node::Int(0)) => return Err("integer divide by zero".into()),
                ("%", Node::Int(a), Node::Int(b)) => Node::Int(a.wrapping_rem(*b)),
                ("==" | EQ_INT, Node::Int(a), Node::Int(b)) => Node::Bool(a == b),
                ("==", Node::Str(a), Node::Str(b)) => Node::Bool(a == b),
                ("==", Node::Bool(a), Node::Bool(b)) => Node::Bool(a == b),
                ("+" | "-" | "*" | "/" | "**" | "^", a, b) if num(a).is_some() && num(b).is_some() => {
                    let (x, y) = (num(a).unwrap_or(0.0), num(b).unwrap_or(0.0));
                    Node::Float(match op {
                        "+" => x + y,
                        "-" => x - y,
                        "*" => x * y,
                        "/" => x / y,
                        _ => x.powf(y),
                    })
                }
                ("and" | "&&", Node::Bool(true), _) => take(r),
                ("and" | "&&", _, Node::Bool(true)) => take(l),
                ("and" | "&&", Node::Bool(false), _) | ("and" | "&&", _, Node::Bool(false)) => {
                    Node::Bool(false)
                }
                ("or" | "||", Node::Bool(false), _) => take(r),
                ("or" | "||", _, Node::Bool(false)) => take(l),
                ("or" | "||", Node::Bool(true), _) | ("or" | "||", _, Node::Bool(true)) => Node::Bool(true),
                _ => return Ok(false),
            }
        }
        Node::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| matches!(i, Node::Int(_) | Node::Float(_) | Node::Str(_) | Node::Bool(_))) =>
        {
            Node::Const(std::mem::take(items))
        }
        Node::Builtin { name, args, .. } if name == "filter" && args.len() == 2 => {
            let nested = matches!(&args[0], Node::Builtin { name, args, .. }
                if name == "filter" && args.len() == 2 && matches!(args[1], Node::Predicate(_)));
            if !nested || !matches!(args[1], Node::Predicate(_)) {
                return Ok(false);
            }
            let Node::Predicate(p2) = take(&mut args[1]) else { return Ok(false) };
            let Node::Builtin { args: mut inner, .. } = take(&mut args[0]) else { return Ok(false) };
            let Node::Predicate(p1) = inner.pop().unwrap_or(Node::Nil) else { return Ok(false) };
            let collection = inner.pop().unwrap_or(Node::Nil);
            Node::Builtin {
                name: "filter".into(),
                args: vec![collection, Node::Predicate(Box::new(Node::Binary("&&", p1, p2)))],
                map: None,
                throws: false,
            }
        }
        _ => return Ok(false),
    };
    *node = new;
    Ok(true)
}

/// `n in 1..3` (n an int) becomes `n >= 1 and n <= 3`.
fn in_range(node: &mut Node) {
    let Node::Binary(IN_INT, _, right) = node else { return };
    let Node::Binary("..", from, to) = &**right else { return };
    if !matches!((&**from, &**to), (Node::Int(_), Node::Int(_))) {
        return;
    }
    let Node::Binary(_, left, right) = take(node) else { return };
    let Node::Binary(_, from, to) = *right else { return };
    let left2 = left.clone();
    *node = Node::Binary(
        "and",
        Box::new(Node::Binary(">=", left, from)),
        Box::new(Node::Binary("<=", left2, to)),
    );
}

fn uses_index(node: &Node) -> bool {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if matches!(n, Node::Pointer(p) if p == "index") {
            return true;
        }
        stack.extend(n.children());
    }
    false
}

/// `map(filter(x, p), q)` filters and maps in one loop.
fn filter_map(node: &mut Node) {
    let Node::Builtin { name, args, .. } = node else { return };
    if name != "map" || args.len() != 2 || uses_index(&args[1]) {
        return;
    }
    let Node::Builtin { name: inner, map: None, .. } = &args[0] else { return };
    if inner != "filter" {
        return;
    }
    let Node::Predicate(q) = take(&mut args[1]) else { return };
    let Node::Builtin { args: filter_args, .. } = take(&mut args[0]) else { return };
    *node = Node::Builtin { name: "filter".into(), args: filter_args, map: Some(q), throws: false };
}

/// `len(filter(x, p))` counts instead.
fn filter_len(node: &mut Node) {
    let Node::Builtin { name, args, .. } = node else { return };
    if name != "len" || args.len() != 1 {
        return;
    }
    let Node::Builtin { name: inner, args: inner_args, .. } = &mut args[0] else { return };
    if inner != "filter" || inner_args.len() != 2 {
        return;
    }
    let filter_args = std::mem::take(inner_args);
    *node = Node::Builtin { name: "count".into(), args: filter_args, map: None, throws: false };
}

/// `filter(x, p)[0]` / `[-1]` find the first / last match (failing when there is none), `first(filter(x, p))`
/// and `last(...)` too (nil when there is none).
fn filter_index(node: &mut Node, index: i64, find: &str, pick: &str) {
    let is_filter =
        |n: &Node| matches!(n, Node::Builtin { name, args, .. } if name == "filter" && args.len() == 2);
    let throws = match node {
        Node::Member { base, prop, optional: false, .. }
            if matches!(&**prop, Node::Int(i) if *i == index) && is_filter(base) =>
        {
            true
        }
        Node::Builtin { name, args, .. } if name == pick && args.len() == 1 && is_filter(&args[0]) => false,
        _ => return,
    };
    let filter = match take(node) {
        Node::Member { base, .. } => *base,
        Node::Builtin { mut args, .. } => args.pop().unwrap_or(Node::Nil),
        other => other,
    };
    if let Node::Builtin { args, map, .. } = filter {
        *node = Node::Builtin { name: find.into(), args, map, throws };
    }
}

/// `all(x, p) && all(x, q)` becomes `all(x, p && q)`; likewise `any ... ||` and `none ... &&` (as `none(x, p || q)`).
fn predicate_combination(node: &mut Node) {
    let Node::Binary(op, l, r) = node else { return };
    let op = *op;
    let (Node::Builtin { name: ln, args: la, .. }, Node::Builtin { name: rn, args: ra, .. }) = (&**l, &**r)
    else {
        return;
    };
    let combined = match (ln.as_str(), op) {
        ("all", "and" | "&&") | ("any", "or" | "||") => op,
        ("none", "and") => "or",
        ("none", "&&") => "||",
        _ => return,
    };
    if ln != rn || la.len() != 2 || ra.len() != 2 || la[0] != ra[0] {
        return;
    }
    let name = ln.clone();
    let Node::Binary(_, l, r) = take(node) else { return };
    let (Node::Builtin { args: mut la, .. }, Node::Builtin { args: mut ra, .. }) = (*l, *r) else { return };
    let (Node::Predicate(p), Node::Predicate(q)) =
        (la.pop().unwrap_or(Node::Nil), ra.pop().unwrap_or(Node::Nil))
    else {
        return;
    };
    let mut body = Node::Binary(combined, p, q);
    predicate_combination(&mut body);
    let collection = la.pop().unwrap_or(Node::Nil);
    *node = Node::Builtin {
        name,
        args: vec![collection, Node::Predicate(Box::new(body))],
        map: None,
        throws: false,
    };
}

/// `sum([a, b, c])` becomes `a + (b + c)`.
fn sum_array(node: &mut Node) {
    let Node::Builtin { name, args, .. } = node else { return };
    if name != "sum" || args.len() != 1 {
        return;
    }
    let Node::Array(items) = &mut args[0] else { return };
    if items.len() < 2 {
        return;
    }
    let mut items = std::mem::take(items);
    let mut acc = items.pop().unwrap_or(Node::Nil);
    while let Some(item) = items.pop() {
        acc = Node::Binary("+", Box::new(item), Box::new(acc));
    }
    *node = acc;
}

/// `sum(map(x, p))` becomes `sum(x, p)`.
fn sum_map(node: &mut Node) {
    let Node::Builtin { name, args, .. } = node else { return };
    if name != "sum" || args.len() != 1 {
        return;
    }
    let Node::Builtin { name: inner, args: inner_args, .. } = &mut args[0] else { return };
    if inner != "map" || inner_args.len() != 2 {
        return;
    }
    let map_args = std::mem::take(inner_args);
    *node = Node::Builtin { name: "sum".into(), args: map_args, map: None, throws: false };
}

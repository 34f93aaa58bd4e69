//! The syntax tree and a Pratt parser with Go expr's operator table, precedence, associativity and error texts.

use crate::lexer::{Kind, Token, is_alphabetic, is_alphanumeric, tokenize};
use crate::value::go_quote;

/// Deepest nesting accepted, both of the parser's recursion and of the finished tree. Go expr has no such
/// limit (it only counts nodes); serin's guest runs on a fixed 1 MiB stack and refuses deeper input cleanly.
/// Conditions in practice nest a few levels; 128 levels of the costliest kind stay well inside that stack.
pub const MAX_DEPTH: usize = 128;

/// Go expr's default node budget (`conf.DefaultMaxNodes`).
pub const MAX_NODES: usize = 10_000;

pub const TOO_DEEP: &str = "expression too deeply nested";

pub const TOO_LARGE: &str = "expression too large";

/// Nodes copied where Go expr shares one subtree between two parents.
const MAX_COPIED: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    /// `not`, `!`, `-`, `+`.
    Unary(&'static str, Box<Node>),
    /// The operator as written (`or` and `||` are told apart in messages).
    Binary(&'static str, Box<Node>, Box<Node>),
    /// The extent of an optional chain (`a?.b.c`): a nil before a `?.` makes the whole chain nil.
    Chain(Box<Node>),
    Member {
        base: Box<Node>,
        prop: Box<Node>,
        optional: bool,
        method: bool,
    },
    Slice {
        base: Box<Node>,
        from: Option<Box<Node>>,
        to: Option<Box<Node>>,
    },
    Call {
        callee: Box<Node>,
        args: Vec<Node>,
    },
    /// A builtin function. `map` and `throws` are set by the optimizer (a filter that also maps; a find that
    /// fails like `filter(...)[0]` when nothing matches).
    Builtin {
        name: String,
        args: Vec<Node>,
        map: Option<Box<Node>>,
        throws: bool,
    },
    /// A closure argument (`{# > 1}` or `# > 1`).
    Predicate(Box<Node>),
    /// `#`, `#index`, `#acc`, `#name`.
    Pointer(String),
    Let {
        name: String,
        value: Box<Node>,
        body: Box<Node>,
    },
    Seq(Vec<Node>),
    Cond {
        cond: Box<Node>,
        then: Box<Node>,
        otherwise: Box<Node>,
    },
    Array(Vec<Node>),
    /// An array of literals, folded into a constant by the optimizer (it costs no memory budget at run time,
    /// and `sum` of it is not unrolled).
    Const(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// `x in ["a", "b"]`: Go expr turns a list of string literals into a set, looked up by key.
    InStrings(Box<Node>, Vec<String>),
}

impl Node {
    pub fn children(&self) -> Vec<&Node> {
        match self {
            Node::Nil
            | Node::Bool(_)
            | Node::Int(_)
            | Node::Float(_)
            | Node::Str(_)
            | Node::Ident(_)
            | Node::Pointer(_) => {
                vec![]
            }
            Node::Unary(_, n) | Node::Chain(n) | Node::Predicate(n) | Node::InStrings(n, _) => vec![n],
            Node::Binary(_, a, b) => vec![a, b],
            Node::Member { base, prop, .. } => vec![base, prop],
            Node::Slice { base, from, to } => {
                let mut v = vec![&**base];
                v.extend(from.as_deref());
                v.extend(to.as_deref());
                v
            }
            Node::Call { callee, args } => std::iter::once(&**callee).chain(args.iter()).collect(),
            Node::Builtin { args, map, .. } => args.iter().chain(map.as_deref()).collect(),
            Node::Let { value, body, .. } => vec![value, body],
            Node::Seq(nodes) | Node::Array(nodes) | Node::Const(nodes) => nodes.iter().collect(),
            Node::Cond { cond, then, otherwise } => vec![cond, then, otherwise],
            Node::Map(pairs) => pairs.iter().flat_map(|(k, v)| [k, v]).collect(),
        }
    }

    /// Height of the tree, computed without recursion.
    pub fn height(&self) -> usize {
        let mut max = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((n, d)) = stack.pop() {
            max = max.max(d);
            stack.extend(n.children().into_iter().map(|c| (c, d + 1)));
        }
        max
    }
}

/// Parses a whole expression.
pub fn parse(source: &str) -> Result<Node, String> {
    let (tokens, lex_error) = tokenize(source);
    let mut p = Parser { tokens, lex_error, pos: 0, predicate_depth: 0, nodes: 0, nesting: 0, copied: 0 };
    if p.tokens.is_empty() {
        return Err(p.lex_error.take().unwrap_or_else(|| "unexpected end of expression".into()));
    }
    let node = p.parse_sequence()?;
    if p.cur().kind != Kind::Eof {
        return Err(format!("unexpected token {}", p.cur().describe()));
    }
    if node.height() > MAX_DEPTH {
        return Err(TOO_DEEP.into());
    }
    Ok(node)
}

fn unary_precedence(op: &str) -> Option<i32> {
    match op {
        "not" | "!" => Some(50),
        "-" | "+" => Some(90),
        _ => None,
    }
}

/// (precedence, right-associative) of a binary operator.
fn binary(op: &str) -> Option<(i32, bool)> {
    Some(match op {
        "|" => (0, false),
        "or" | "||" => (10, false),
        "and" | "&&" => (15, false),
        "==" | "!=" | "<" | ">" | ">=" | "<=" | "in" | "matches" | "contains" | "startsWith" | "endsWith" => {
            (20, false)
        }
        ".." => (25, false),
        "+" | "-" => (30, false),
        "*" | "/" | "%" => (60, false),
        "**" | "^" => (100, true),
        "??" => (500, false),
        _ => return None,
    })
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "<" | ">" | ">=" | "<=")
}

fn allowed_negate_suffix(op: &str) -> bool {
    matches!(op, "contains" | "matches" | "startsWith" | "endsWith" | "in")
}

/// Interns an operator spelling (the tree holds `&'static str`).
fn op_name(op: &str) -> &'static str {
    const OPS: &[&str] = &[
        "|",
        "or",
        "||",
        "and",
        "&&",
        "==",
        "!=",
        "<",
        ">",
        ">=",
        "<=",
        "in",
        "matches",
        "contains",
        "startsWith",
        "endsWith",
        "..",
        "+",
        "-",
        "*",
        "/",
        "%",
        "**",
        "^",
        "??",
        "not",
        "!",
    ];
    OPS.iter().find(|o| **o == op).copied().unwrap_or("?")
}

/// Predicate builtins: their argument kinds (true = closure) and how many may be left out at the end.
fn predicate_args(name: &str) -> Option<(&'static [bool], usize)> {
    Some(match name {
        "all" | "none" | "any" | "one" | "filter" | "map" | "find" | "findIndex" | "findLast"
        | "findLastIndex" | "groupBy" => (&[false, true], 0),
        "count" | "sum" => (&[false, true], 1),
        "sortBy" | "reduce" => (&[false, true, false], 1),
        _ => return None,
    })
}

/// Every builtin Go expr 1.17 knows, implemented here or not (the checker refuses the ones serin lacks).
pub const BUILTINS: &[&str] = &[
    "all",
    "none",
    "any",
    "one",
    "filter",
    "map",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "count",
    "sum",
    "groupBy",
    "sortBy",
    "reduce",
    "len",
    "type",
    "abs",
    "ceil",
    "floor",
    "round",
    "int",
    "float",
    "string",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "upper",
    "lower",
    "split",
    "splitAfter",
    "replace",
    "repeat",
    "join",
    "indexOf",
    "lastIndexOf",
    "hasPrefix",
    "hasSuffix",
    "max",
    "min",
    "mean",
    "median",
    "toJSON",
    "fromJSON",
    "toBase64",
    "fromBase64",
    "now",
    "duration",
    "date",
    "timezone",
    "first",
    "last",
    "get",
    "take",
    "keys",
    "values",
    "toPairs",
    "fromPairs",
    "reverse",
    "uniq",
    "concat",
    "flatten",
    "sort",
    "bitand",
    "bitor",
    "bitxor",
    "bitnand",
    "bitshl",
    "bitshr",
    "bitushr",
    "bitnot",
];

fn is_valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_alphabetic) && chars.all(is_alphanumeric)
}

struct Parser {
    tokens: Vec<Token>,
    lex_error: Option<String>,
    pos: usize,
    predicate_depth: usize,
    nodes: usize,
    nesting: usize,
    copied: usize,
}

type R<T> = Result<T, String>;

fn unexpected(t: &Token) -> String {
    format!("unexpected token {}", t.describe())
}

impl Parser {
    fn cur(&self) -> &Token {
        // The token list always ends with EOF, or stops where the lexer failed (`advance` reports that).
        static EOF: Token = Token { kind: Kind::Eof, value: String::new() };
        self.tokens.get(self.pos).unwrap_or(&EOF)
    }

    fn cur_is(&self, kind: Kind, value: &str) -> bool {
        self.cur().is(kind, value)
    }

    fn advance(&mut self) -> R<()> {
        self.pos += 1;
        if self.pos >= self.tokens.len() {
            if let Some(e) = &self.lex_error {
                return Err(e.clone());
            }
            return Err("unexpected end of expression".into());
        }
        Ok(())
    }

    fn expect(&mut self, kind: Kind, value: Option<&str>) -> R<()> {
        let t = self.cur();
        if t.kind == kind && value.is_none_or(|v| t.value == v) {
            return self.advance();
        }
        Err(unexpected(t))
    }

    /// Counts a node against Go expr's budget.
    fn node(&mut self, n: Node) -> R<Node> {
        self.count()?;
        Ok(n)
    }

    fn count(&mut self) -> R<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err("compilation failed: expression exceeds maximum allowed nodes".into());
        }
        Ok(())
    }

    /// A copy of a subtree Go expr shares between two places (`a < b < c`, `a ?: b`). Copies are bounded so
    /// that nested sharing cannot blow the tree up exponentially.
    fn copy(&mut self, n: &Node) -> R<Node> {
        let mut size = 0;
        let mut stack = vec![n];
        while let Some(x) = stack.pop() {
            size += 1;
            stack.extend(x.children());
        }
        self.copied += size;
        if self.copied > MAX_COPIED {
            return Err(TOO_LARGE.into());
        }
        Ok(n.clone())
    }

    fn enter(&mut self) -> R<()> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(TOO_DEEP.into());
        }
        Ok(())
    }

    fn parse_sequence(&mut self) -> R<Node> {
        let mut nodes = vec![self.parse_expression(0)?];
        while self.cur_is(Kind::Operator, ";") {
            self.advance()?;
            if self.cur().kind == Kind::Eof {
                break;
            }
            nodes.push(self.parse_expression(0)?);
        }
        if nodes.len() == 1 {
            return Ok(nodes.pop().unwrap_or(Node::Nil));
        }
        self.node(Node::Seq(nodes))
    }

    #[inline(never)]
    fn parse_expression(&mut self, precedence: i32) -> R<Node> {
        self.enter()?;
        let node = self.parse_expression_inner(precedence);
        self.nesting -= 1;
        node
    }

    fn parse_expression_inner(&mut self, precedence: i32) -> R<Node> {
        if precedence == 0 && self.cur_is(Kind::Operator, "let") {
            return self.parse_let();
        }
        if precedence == 0 && self.cur_is(Kind::Operator, "if") {
            return self.parse_if();
        }
        let mut left = self.parse_primary()?;
        let mut prev_op = String::new();
        let mut op_tok = self.cur().clone();
        while op_tok.kind == Kind::Operator {
            let negate = op_tok.value == "not";
            if negate {
                self.advance()?;
                let after = self.cur().clone();
                if !allowed_negate_suffix(&after.value) {
                    return Err(unexpected(&after));
                }
                match binary(&after.value) {
                    Some((p, _)) if p >= precedence => op_tok = after,
                    _ => {
                        // Too weak to bind here: leave `not` for an outer level.
                        self.pos -= 1;
                        break;
                    }
                }
            }
            let Some((prec, right_assoc)) = binary(&op_tok.value).filter(|(p, _)| *p >= precedence) else {
                break;
            };
            self.advance()?;
            if op_tok.value == "|" {
                let ident = self.cur().clone();
                self.expect(Kind::Identifier, None)?;
                left = self.parse_call(&ident, vec![left])?;
            } else {
                if prev_op == "??" && op_tok.value != "??" {
                    return Err(format!(
                        "Operator ({}) and coalesce expressions (??) cannot be mixed. Wrap either by parentheses.",
                        op_tok.value
                    ));
                }
                if is_comparison(&op_tok.value) {
                    left = self.parse_comparison(left, op_tok.clone(), prec)?;
                } else {
                    let right = self.parse_expression(if right_assoc { prec } else { prec + 1 })?;
                    left =
                        self.node(Node::Binary(op_name(&op_tok.value), Box::new(left), Box::new(right)))?;
                    if negate {
                        left = self.node(Node::Unary("not", Box::new(left)))?;
                    }
                }
            }
            prev_op = op_tok.value.clone();
            op_tok = self.cur().clone();
        }
        if precedence == 0 {
            left = self.parse_conditional(left)?;
        }
        Ok(left)
    }

    #[inline(never)]
    fn parse_let(&mut self) -> R<Node> {
        self.expect(Kind::Operator, Some("let"))?;
        let name = self.cur().value.clone();
        self.expect(Kind::Identifier, None)?;
        self.expect(Kind::Operator, Some("="))?;
        let value = self.parse_expression(0)?;
        self.expect(Kind::Operator, Some(";"))?;
        let body = self.parse_sequence()?;
        self.node(Node::Let { name, value: Box::new(value), body: Box::new(body) })
    }

    fn parse_if(&mut self) -> R<Node> {
        self.enter()?;
        let node = self.parse_if_inner();
        self.nesting -= 1;
        node
    }

    #[inline(never)]
    fn parse_if_inner(&mut self) -> R<Node> {
        self.advance()?;
        let cond = self.parse_expression(0)?;
        self.expect(Kind::Bracket, Some("{"))?;
        let then = self.parse_sequence()?;
        self.expect(Kind::Bracket, Some("}"))?;
        self.expect(Kind::Operator, Some("else"))?;
        let otherwise = if self.cur_is(Kind::Operator, "if") {
            self.parse_if()?
        } else {
            self.expect(Kind::Bracket, Some("{"))?;
            let e = self.parse_sequence()?;
            self.expect(Kind::Bracket, Some("}"))?;
            e
        };
        Ok(Node::Cond { cond: Box::new(cond), then: Box::new(then), otherwise: Box::new(otherwise) })
    }

    #[inline(never)]
    fn parse_conditional(&mut self, mut node: Node) -> R<Node> {
        while self.cur_is(Kind::Operator, "?") {
            self.advance()?;
            let (then, otherwise) = if !self.cur_is(Kind::Operator, ":") {
                let a = self.parse_expression(0)?;
                self.expect(Kind::Operator, Some(":"))?;
                (a, self.parse_expression(0)?)
            } else {
                self.advance()?;
                (self.copy(&node)?, self.parse_expression(0)?)
            };
            node = self.node(Node::Cond {
                cond: Box::new(node),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            })?;
        }
        Ok(node)
    }

    fn parse_primary(&mut self) -> R<Node> {
        let token = self.cur().clone();
        if token.kind == Kind::Operator
            && let Some(prec) = unary_precedence(&token.value)
        {
            self.advance()?;
            let operand = self.parse_expression(prec)?;
            let node = self.node(Node::Unary(op_name(&token.value), Box::new(operand)))?;
            return self.parse_postfix(node);
        }
        if token.is(Kind::Bracket, "(") {
            self.advance()?;
            let inner = self.parse_sequence()?;
            self.expect(Kind::Bracket, Some(")"))?;
            return self.parse_postfix(inner);
        }
        if self.predicate_depth > 0 && (token.is(Kind::Operator, "#") || token.is(Kind::Operator, ".")) {
            let mut name = String::new();
            if token.is(Kind::Operator, "#") {
                self.advance()?;
                if self.cur().kind == Kind::Identifier {
                    name = self.cur().value.clone();
                    self.advance()?;
                }
            }
            let node = self.node(Node::Pointer(name))?;
            return self.parse_postfix(node);
        }
        if token.is(Kind::Operator, "::") {
            self.advance()?;
            let name = self.cur().clone();
            self.expect(Kind::Identifier, None)?;
            let call = self.parse_call(&name, vec![])?;
            return self.parse_postfix(call);
        }
        self.parse_secondary()
    }

    #[inline(never)]
    fn parse_secondary(&mut self) -> R<Node> {
        let token = self.cur().clone();
        let node = match token.kind {
            Kind::Identifier => {
                self.advance()?;
                match token.value.as_str() {
                    "true" => return self.node(Node::Bool(true)),
                    "false" => return self.node(Node::Bool(false)),
                    "nil" => return self.node(Node::Nil),
                    _ if self.cur_is(Kind::Bracket, "(") => self.parse_call(&token, vec![])?,
                    _ => self.node(Node::Ident(token.value.clone()))?,
                }
            }
            Kind::Number => {
                self.advance()?;
                let n = number_literal(&token.value)?;
                return self.node(n);
            }
            Kind::Str => {
                self.advance()?;
                self.node(Node::Str(token.value.clone()))?
            }
            _ if token.is(Kind::Bracket, "[") => self.parse_array()?,
            _ if token.is(Kind::Bracket, "{") => self.parse_map()?,
            _ => return Err(unexpected(&token)),
        };
        self.parse_postfix(node)
    }

    #[inline(never)]
    fn parse_call(&mut self, token: &Token, mut args: Vec<Node>) -> R<Node> {
        let name = token.value.clone();
        if let Some((kinds, optional)) = predicate_args(&name) {
            self.expect(Kind::Bracket, Some("("))?;
            let rest = &kinds[args.len().min(kinds.len())..];
            let required = rest.len().saturating_sub(optional);
            for (i, is_predicate) in rest.iter().enumerate() {
                if self.cur_is(Kind::Bracket, ")") {
                    if i >= required {
                        break;
                    }
                    return Err(format!("expected at least {} arguments", rest.len()));
                }
                if i > 0 {
                    self.expect(Kind::Operator, Some(","))?;
                }
                let arg = if *is_predicate { self.parse_predicate()? } else { self.parse_expression(0)? };
                args.push(arg);
            }
            if self.cur_is(Kind::Operator, ",") {
                self.advance()?;
            }
            self.expect(Kind::Bracket, Some(")"))?;
            return self.node(Node::Builtin { name, args, map: None, throws: false });
        }
        if BUILTINS.contains(&name.as_str()) {
            let args = self.parse_arguments(args)?;
            return self.node(Node::Builtin { name, args, map: None, throws: false });
        }
        let callee = self.node(Node::Ident(name))?;
        let args = self.parse_arguments(args)?;
        self.node(Node::Call { callee: Box::new(callee), args })
    }

    #[inline(never)]
    fn parse_arguments(&mut self, mut args: Vec<Node>) -> R<Vec<Node>> {
        let offset = args.len();
        self.expect(Kind::Bracket, Some("("))?;
        while !self.cur_is(Kind::Bracket, ")") {
            if args.len() > offset {
                self.expect(Kind::Operator, Some(","))?;
            }
            if self.cur_is(Kind::Bracket, ")") {
                break;
            }
            args.push(self.parse_expression(0)?);
        }
        self.expect(Kind::Bracket, Some(")"))?;
        Ok(args)
    }

    #[inline(never)]
    fn parse_predicate(&mut self) -> R<Node> {
        let brackets = self.cur_is(Kind::Bracket, "{");
        if brackets {
            self.advance()?;
        }
        self.predicate_depth += 1;
        let body = if brackets {
            self.parse_sequence()
        } else {
            self.parse_expression(0).and_then(|n| {
                if self.cur_is(Kind::Operator, ";") {
                    Err("wrap predicate with brackets { and }".into())
                } else {
                    Ok(n)
                }
            })
        };
        self.predicate_depth -= 1;
        let body = body?;
        if brackets {
            self.expect(Kind::Bracket, Some("}"))?;
        }
        self.node(Node::Predicate(Box::new(body)))
    }

    #[inline(never)]
    fn parse_array(&mut self) -> R<Node> {
        self.expect(Kind::Bracket, Some("["))?;
        let mut nodes = Vec::new();
        while !self.cur_is(Kind::Bracket, "]") {
            if !nodes.is_empty() {
                self.expect(Kind::Operator, Some(","))?;
                if self.cur_is(Kind::Bracket, "]") {
                    break;
                }
            }
            nodes.push(self.parse_expression(0)?);
        }
        self.expect(Kind::Bracket, Some("]"))?;
        self.node(Node::Array(nodes))
    }

    #[inline(never)]
    fn parse_map(&mut self) -> R<Node> {
        self.expect(Kind::Bracket, Some("{"))?;
        let mut pairs = Vec::new();
        while !self.cur_is(Kind::Bracket, "}") {
            if !pairs.is_empty() {
                self.expect(Kind::Operator, Some(","))?;
                if self.cur_is(Kind::Bracket, "}") {
                    break;
                }
                if self.cur_is(Kind::Operator, ",") {
                    return Err(unexpected(self.cur()));
                }
            }
            let t = self.cur().clone();
            let key = if matches!(t.kind, Kind::Number | Kind::Str | Kind::Identifier) {
                let k = self.node(Node::Str(t.value.clone()))?;
                self.advance()?;
                k
            } else if t.is(Kind::Bracket, "(") {
                self.parse_expression(0)?
            } else {
                return Err(format!(
                    "a map key must be a quoted string, a number, a identifier, or an expression enclosed in parentheses (unexpected token {})",
                    t.describe()
                ));
            };
            self.expect(Kind::Operator, Some(":"))?;
            let value = self.parse_expression(0)?;
            self.count()?; // Go expr's pair node
            pairs.push((key, value));
        }
        self.expect(Kind::Bracket, Some("}"))?;
        self.node(Node::Map(pairs))
    }

    #[inline(never)]
    fn parse_postfix(&mut self, mut node: Node) -> R<Node> {
        loop {
            let tok = self.cur().clone();
            if !matches!(tok.kind, Kind::Operator | Kind::Bracket) {
                break;
            }
            let optional = tok.value == "?.";
            let mut bracket = tok.value == "[";
            if tok.value == "." || optional {
                self.advance()?;
                let prop = self.cur().clone();
                if optional && prop.is(Kind::Bracket, "[") {
                    bracket = true;
                } else {
                    self.advance()?;
                    if prop.kind != Kind::Identifier
                        && (prop.kind != Kind::Operator || !is_valid_identifier(&prop.value))
                    {
                        return Err("expected name".into());
                    }
                    let property = self.node(Node::Str(prop.value.clone()))?;
                    let (base, is_chain) = match node {
                        Node::Chain(inner) => (*inner, true),
                        other => (other, false),
                    };
                    let method = self.cur_is(Kind::Bracket, "(");
                    let member = self.node(Node::Member {
                        base: Box::new(base),
                        prop: Box::new(property),
                        optional,
                        method,
                    })?;
                    node = if method {
                        let args = self.parse_arguments(vec![])?;
                        self.node(Node::Call { callee: Box::new(member), args })?
                    } else {
                        member
                    };
                    if is_chain || optional {
                        node = self.node(Node::Chain(Box::new(node)))?;
                    }
                    continue;
                }
            }
            if !bracket {
                break;
            }
            self.advance()?;
            if self.cur_is(Kind::Operator, ":") {
                self.advance()?;
                let to = if self.cur_is(Kind::Bracket, "]") {
                    None
                } else {
                    Some(Box::new(self.parse_expression(0)?))
                };
                node = self.node(Node::Slice { base: Box::new(node), from: None, to })?;
                self.expect(Kind::Bracket, Some("]"))?;
                continue;
            }
            let from = self.parse_expression(0)?;
            if self.cur_is(Kind::Operator, ":") {
                self.advance()?;
                let to = if self.cur_is(Kind::Bracket, "]") {
                    None
                } else {
                    Some(Box::new(self.parse_expression(0)?))
                };
                node = self.node(Node::Slice { base: Box::new(node), from: Some(Box::new(from)), to })?;
            } else {
                node = self.node(Node::Member {
                    base: Box::new(node),
                    prop: Box::new(from),
                    optional,
                    method: false,
                })?;
                if optional {
                    node = self.node(Node::Chain(Box::new(node)))?;
                }
            }
            self.expect(Kind::Bracket, Some("]"))?;
        }
        Ok(node)
    }

    /// `a < b < c` means `a < b && b < c` (b evaluated twice).
    #[inline(never)]
    fn parse_comparison(&mut self, mut left: Node, mut token: Token, precedence: i32) -> R<Node> {
        let mut root: Option<Node> = None;
        loop {
            let comparator = self.parse_expression(precedence + 1)?;
            let shared = self.copy(&comparator)?;
            let cmp = self.node(Node::Binary(op_name(&token.value), Box::new(left), Box::new(shared)))?;
            root = Some(match root {
                None => cmp,
                Some(r) => self.node(Node::Binary("&&", Box::new(r), Box::new(cmp)))?,
            });
            left = comparator;
            token = self.cur().clone();
            if !(token.kind == Kind::Operator && is_comparison(&token.value)) {
                break;
            }
            self.advance()?;
        }
        Ok(root.unwrap_or(Node::Nil))
    }
}

/// A number token's value, with the texts of Go's strconv errors.
#[inline(never)]
fn number_literal(text: &str) -> R<Node> {
    let value = text.replace('_', "");
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("0x") {
        return parse_int_base0(&value).map(Node::Int).map_err(|e| format!("invalid hex literal: {e}"));
    }
    if lower.contains('.') || lower.contains('e') {
        return crate::goconv::parse_float(&value)
            .map(Node::Float)
            .map_err(|e| format!("invalid float literal: {e}"));
    }
    if lower.starts_with("0b") {
        return parse_int_base0(&value).map(Node::Int).map_err(|e| format!("invalid binary literal: {e}"));
    }
    if lower.starts_with("0o") {
        return parse_int_base0(&value).map(Node::Int).map_err(|e| format!("invalid octal literal: {e}"));
    }
    crate::goconv::parse_int(&value).map(Node::Int).map_err(|e| format!("invalid integer literal: {e}"))
}

/// `strconv.ParseInt(s, 0, 64)` for the unsigned literal forms the lexer produces.
fn parse_int_base0(s: &str) -> R<i64> {
    let err = |what: &str| format!("strconv.ParseInt: parsing {}: {what}", go_quote(s));
    let lower = s.to_ascii_lowercase();
    let (digits, base) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
        return Err(err("invalid syntax"));
    }
    u64::from_str_radix(digits, base)
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| err("value out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact rendering of the tree, parenthesised, to pin precedence.
    fn show(n: &Node) -> String {
        match n {
            Node::Nil => "nil".into(),
            Node::Bool(b) => b.to_string(),
            Node::Int(i) => i.to_string(),
            Node::Float(f) => format!("{f:?}"),
            Node::Str(s) => format!("{s:?}"),
            Node::Ident(s) => s.clone(),
            Node::Unary(op, a) => format!("({op} {})", show(a)),
            Node::Binary(op, a, b) => format!("({} {op} {})", show(a), show(b)),
            Node::Chain(a) => format!("chain{}", show(a)),
            Node::Member { base, prop, optional, .. } => {
                format!("{}{}[{}]", show(base), if *optional { "?" } else { "" }, show(prop))
            }
            Node::Slice { base, from, to } => format!(
                "{}[{}:{}]",
                show(base),
                from.as_deref().map(show).unwrap_or_default(),
                to.as_deref().map(show).unwrap_or_default()
            ),
            Node::Call { callee, args } => {
                format!("{}({})", show(callee), args.iter().map(show).collect::<Vec<_>>().join(", "))
            }
            Node::Builtin { name, args, .. } => {
                format!("{name}({})", args.iter().map(show).collect::<Vec<_>>().join(", "))
            }
            Node::Predicate(b) => format!("{{{}}}", show(b)),
            Node::Pointer(p) => format!("#{p}"),
            Node::Let { name, value, body } => format!("let {name} = {}; {}", show(value), show(body)),
            Node::Seq(nodes) => nodes.iter().map(show).collect::<Vec<_>>().join("; "),
            Node::Cond { cond, then, otherwise } => {
                format!("({} ? {} : {})", show(cond), show(then), show(otherwise))
            }
            Node::Array(nodes) | Node::Const(nodes) => {
                format!("[{}]", nodes.iter().map(show).collect::<Vec<_>>().join(", "))
            }
            Node::Map(pairs) => {
                format!(
                    "{{{}}}",
                    pairs
                        .iter()
                        .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            Node::InStrings(a, set) => format!("({} in {set:?})", show(a)),
        }
    }

    #[test]
    fn precedence_follows_go_expr() {
        for (src, want) in [
            ("!!true", "(! (! true))"),
            ("not not true", "(not (not true))"),
            ("- -1 < 0", "((- (- 1)) < 0)"),
            ("not a == b", "((not a) == b)"),
            ("-2 ** 2", "(- (2 ** 2))"),
            ("2 ** 3 ** 2", "(2 ** (3 ** 2))"),
            ("1 + 2 * 3 - 4", "((1 + (2 * 3)) - 4)"),
            ("a or b and c", "(a or (b and c))"),
            ("a || b && c == d", "(a || (b && (c == d)))"),
            ("1 < 2 < 3", "((1 < 2) && (2 < 3))"),
            ("a not in b", "(not (a in b))"),
            ("a not matches b or c", "((not (a matches b)) or c)"),
            ("1..3 == x", "((1 .. 3) == x)"),
            ("a ?? b ?? c", "((a ?? b) ?? c)"),
            ("a ? b : c ? d : e", "(a ? b : (c ? d : e))"),
            ("a ?: b", "(a ? a : b)"),
            ("x | len() > 1", "(len(x) > 1)"),
            ("result.a?.b[0]", "chainresult[\"a\"]?[\"b\"][0]"),
            ("a[1:][:2]", "a[1:][:2]"),
            ("all(x, {.ok})", "all(x, {#[\"ok\"]})"),
            ("map(x, # * 2)", "map(x, {(# * 2)})"),
            ("{a: 1, 'b': 2}", "{\"a\": 1, \"b\": 2}"),
            ("let x = 1; x + 1", "let x = 1; (x + 1)"),
            ("if a { b } else if c { d } else { e }", "(a ? b : (c ? d : e))"),
            ("1_000 + 0x10 + 0b11 + 0o7 + .5 + 1e3", "(((((1000 + 16) + 3) + 7) + 0.5) + 1000.0)"),
        ] {
            match parse(src) {
                Ok(n) => assert_eq!(show(&n), want, "{src}"),
                Err(e) => panic!("{src}: {e}"),
            }
        }
    }

    #[test]
    fn errors_follow_go_expr() {
        for (src, want) in [
            ("result >", "unexpected token EOF"),
            ("f(1)(2)", "unexpected token Bracket(\"(\")"),
            ("result > 1)", "unexpected token Bracket(\")\")"),
            ("(result > 1", "unexpected token EOF"),
            ("result ! 1", "unexpected token Operator(\"!\")"),
            ("result not 1", "unexpected token Number(\"1\")"),
            ("1.2.3 > 0", "unexpected token Number(\".3\")"),
            ("true ? false", "unexpected token EOF"),
            (
                "a ?? b > 0",
                "Operator (>) and coalesce expressions (??) cannot be mixed. Wrap either by parentheses.",
            ),
            ("# > 1", "unexpected token Operator(\"#\")"),
            (
                "9223372036854775808",
                "invalid integer literal: strconv.ParseInt: parsing \"9223372036854775808\": value out of range",
            ),
            ("0x", "invalid hex literal: strconv.ParseInt: parsing \"0x\": invalid syntax"),
            ("1e999", "invalid float literal: strconv.ParseFloat: parsing \"1e999\": value out of range"),
            ("all(x)", "expected at least 2 arguments"),
            ("all(x, # > 1; true)", "wrap predicate with brackets { and }"),
            ("a.", "unexpected end of expression"),
            ("a.1", "unexpected token Number(\".1\")"),
            ("a.[", "expected name"),
            ("{a: 1, , }", "unexpected token Operator(\",\")"),
            (
                "{[1]: 2}",
                "a map key must be a quoted string, a number, a identifier, or an expression enclosed in parentheses (unexpected token Bracket(\"[\"))",
            ),
            ("\"abc", "literal not terminated"),
        ] {
            assert_eq!(parse(src).err().as_deref(), Some(want), "{src}");
        }
    }

    #[test]
    fn deep_input_is_refused_cleanly() {
        // Debug builds use far more stack per level than the release guest; give the parser room here.
        let run = || {
            let deep = format!("{}true{}", "(".repeat(5000), ")".repeat(5000));
            assert_eq!(parse(&deep).err().as_deref(), Some(TOO_DEEP));
            assert_eq!(parse(&format!("{}true", "!".repeat(5000))).err().as_deref(), Some(TOO_DEEP));
            let long = vec!["true"; 6000].join(" || ");
            assert_eq!(
                parse(&long).err().as_deref(),
                Some("compilation failed: expression exceeds maximum allowed nodes")
            );
            let chain = vec!["true"; 1000].join(" || ");
            assert_eq!(parse(&chain).err().as_deref(), Some(TOO_DEEP));
            assert!(parse(&vec!["true"; 100].join(" || ")).is_ok());
            let shared = format!("{}1{}", "(1 < ".repeat(40), " < 1)".repeat(40));
            assert_eq!(parse(&shared).err().as_deref(), Some(TOO_LARGE));
        };
        std::thread::Builder::new().stack_size(256 << 20).spawn(run).expect("thread").join().expect("parser");
    }
}

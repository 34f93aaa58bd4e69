//! Runtime values as a Go expr program holds them (`interface{}` values of a few Go types), and the Go
//! formatting the language's messages and `string()` / `toJSON()` need.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// The Go element type of a slice value: `[]interface {}` unless a builtin made a typed slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    Any,
    Int,
    Str,
}

/// A Go function value of Argo's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    AsInt,
    AsFloat,
    IsNaN,
    IsInf,
    IsNil,
    Default,
}

impl Func {
    pub fn go_type(self) -> &'static str {
        match self {
            Func::AsInt => "func(interface {}) int64",
            Func::AsFloat => "func(interface {}) float64",
            Func::IsNaN | Func::IsInf => "func(float64) bool",
            Func::IsNil => "func(interface {}) bool",
            Func::Default => "func(interface {}, interface {}) interface {}",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Value {
    Nil,
    Bool(bool),
    /// Go `int`: every integer the language computes.
    Int(i64),
    /// Go `int64`: what Argo's `asInt` returns.
    Int64(i64),
    /// Go `uint8`: a byte of a string indexed as an array.
    Byte(u8),
    Float(f64),
    Str(Rc<str>),
    Array(Rc<List>),
    /// Go `map[string]interface {}`; Go maps have no order, so keys are kept sorted.
    Map(Rc<Dict>),
    Func(Func),
}

#[derive(Debug)]
pub struct List {
    pub items: Vec<Value>,
    pub elem: Elem,
    depth: u32,
}

#[derive(Debug)]
pub struct Dict {
    pub entries: BTreeMap<String, Value>,
    depth: u32,
}

/// Deepest value the evaluator builds: the functions walking values (equality, formatting, JSON) recurse.
pub const MAX_VALUE_DEPTH: u32 = 500;

pub const TOO_DEEP_VALUE: &str = "value too deeply nested";

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    /// A slice value, refused when nesting it would exceed [`MAX_VALUE_DEPTH`].
    pub fn list(items: Vec<Value>, elem: Elem) -> Result<Value, String> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_VALUE_DEPTH {
            return Err(TOO_DEEP_VALUE.into());
        }
        Ok(Value::Array(Rc::new(List { items, elem, depth })))
    }

    pub fn array(items: Vec<Value>) -> Result<Value, String> {
        Value::list(items, Elem::Any)
    }

    pub fn dict(entries: BTreeMap<String, Value>) -> Result<Value, String> {
        let depth = 1 + entries.values().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_VALUE_DEPTH {
            return Err(TOO_DEEP_VALUE.into());
        }
        Ok(Value::Map(Rc::new(Dict { entries, depth })))
    }

    pub fn depth(&self) -> u32 {
        match self {
            Value::Array(l) => l.depth,
            Value::Map(d) => d.depth,
            _ => 0,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The number as Go's `runtime.ToFloat64` would convert it.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) | Value::Int64(i) => Some(*i as f64),
            Value::Byte(b) => Some(f64::from(*b)),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Int64(i) => Some(*i),
            Value::Byte(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Int64(_) | Value::Byte(_) | Value::Float(_))
    }

    /// Go's `%T`.
    pub fn go_type(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Byte(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Array(l) => match l.elem {
                Elem::Any => "[]interface {}",
                Elem::Int => "[]int",
                Elem::Str => "[]string",
            },
            Value::Map(_) => "map[string]interface {}",
            Value::Func(f) => f.go_type(),
        }
    }

    /// The name of the value's `reflect.Kind`, as reflect's panics print it.
    pub fn go_kind(&self) -> &'static str {
        match self {
            Value::Nil => "zero",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Byte(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Array(_) => "slice",
            Value::Map(_) => "map",
            Value::Func(_) => "func",
        }
    }

    /// Go's `fmt.Sprintf("%v", v)`.
    pub fn go_format(&self) -> String {
        let mut out = String::new();
        self.format_into(&mut out);
        out
    }

    fn format_into(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Byte(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Float(f) => out.push_str(&format_g(*f)),
            Value::Str(s) => out.push_str(s),
            Value::Array(l) => {
                out.push('[');
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    item.format_into(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.format_into(out);
                }
                out.push(']');
            }
            // Go prints a function's address; there is none to print here.
            Value::Func(_) => out.push_str("0x0"),
        }
    }
}

/// Shortest decimal digits and decimal-point position of a finite, non-zero `f`: `f = 0.d1d2... * 10^point`.
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest representation that round-trips, as Go's 'g' with precision -1 does.
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp + 1)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` as `fmt`'s `%v` uses it (exponent form from 1e+06 or below
/// 1e-4, with the exponent at least two digits).
pub fn format_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let (digits, point) = shortest_digits(f);
    let exp = point - 1;
    // With the shortest precision, 'g' switches to the exponent form from exponent 6 up.
    if !(-4..6).contains(&exp) {
        let mut m = String::new();
        m.push_str(&digits[..1]);
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    format!("{sign}{}", fixed(&digits, point))
}

/// Digits placed around the decimal point, without an exponent.
fn fixed(digits: &str, point: i32) -> String {
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    }
}

/// Go's `encoding/json` rendering of a float64 (`None` for NaN and infinities, which it refuses).
pub fn format_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    if f == 0.0 {
        return Some(if f.is_sign_negative() { "-0".into() } else { "0".into() });
    }
    let abs = f.abs();
    let sign = if f < 0.0 { "-" } else { "" };
    let (digits, point) = shortest_digits(f);
    if !(1e-6..1e21).contains(&abs) {
        let exp = point - 1;
        let mut m = String::new();
        m.push_str(&digits[..1]);
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return Some(format!("{sign}{m}e{esign}{}", exp.abs()));
    }
    Some(format!("{sign}{}", fixed(&digits, point)))
}

/// Unicode categories Go's lexer and quoting ask about.
#[derive(Clone, Copy)]
pub enum Class {
    /// L.
    Letter,
    /// Nd.
    Digit,
    /// L, M, N, P, S: what Go's `unicode.IsPrint` takes besides the space.
    Graphic,
}

/// Whether `c` is in the category, by the regex crate's Unicode tables (the standard library has none).
pub fn unicode_is(c: char, class: Class) -> bool {
    use std::sync::OnceLock;
    static LETTER: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static DIGIT: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static GRAPHIC: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let (cell, pattern) = match class {
        Class::Letter => (&LETTER, r"^\pL$"),
        Class::Digit => (&DIGIT, r"^\p{Nd}$"),
        Class::Graphic => (&GRAPHIC, r"^[\pL\pM\pN\pP\pS]$"),
    };
    let mut buf = [0u8; 4];
    cell.get_or_init(|| regex::Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut buf)))
}

/// Go's `unicode.IsPrint`.
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    unicode_is(c, Class::Graphic)
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Go's `%#U` of a rune: `U+0040 '@'`.
pub fn go_rune(c: char) -> String {
    if is_print(c) { format!("U+{:04X} '{c}'", c as u32) } else { format!("U+{:04X}", c as u32) }
}

/// expr's `==` (`runtime.Equal`): numbers compare by value across int and float, slices element by element,
/// anything else by Go's `reflect.DeepEqual`.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (x, y) if x.as_int().is_some() && y.as_int().is_some() => x.as_int() == y.as_int(),
        (x, y) if x.is_number() && y.is_number() => x.as_f64() == y.as_f64(),
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            if x.elem != Elem::Any && y.elem != Elem::Any && x.elem != y.elem {
                return false;
            }
            x.items.len() == y.items.len() && x.items.iter().zip(y.items.iter()).all(|(a, b)| equal(a, b))
        }
        (Value::Nil, Value::Nil) => true,
        _ => deep_equal(a, b),
    }
}

/// Go's `reflect.DeepEqual` on these values: same types all the way down.
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Byte(x), Value::Byte(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        // DeepEqual takes a map or slice as equal to itself without looking inside (NaN included).
        (Value::Array(x), Value::Array(y)) if Rc::ptr_eq(x, y) => true,
        (Value::Map(x), Value::Map(y)) if Rc::ptr_eq(x, y) => true,
        (Value::Array(x), Value::Array(y)) => {
            x.elem == y.elem
                && x.items.len() == y.items.len()
                && x.items.iter().zip(y.items.iter()).all(|(a, b)| deep_equal(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.entries.len() == y.entries.len()
                && x.entries.iter().all(|(k, v)| y.entries.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Func(_), Value::Func(_)) => false,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        for (f, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (1234567.0, "1.234567e+06"),
            (123456.0, "123456"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e21, "1e+21"),
            (-2.5, "-2.5"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
            (100.0, "100"),
        ] {
            assert_eq!(format_g(f), want, "{f}");
        }
        for (f, want) in
            [(1.0, "1"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"), (0.25, "0.25")]
        {
            assert_eq!(format_json_float(f).as_deref(), Some(want), "{f}");
        }
    }

    #[test]
    fn quoting_follows_strconv() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
        assert_eq!(go_rune('@'), "U+0040 '@'");
    }
}

//! `toJSON` and `fromJSON`: Go's `json.MarshalIndent(v, "", "  ")` and `json.Unmarshal` into `interface{}`,
//! with Go's error texts.

use crate::value::{MAX_VALUE_DEPTH, Value, format_g, format_json_float, go_quote};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub fn encode(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    encode_into(&mut out, v, 0)?;
    Ok(out)
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn encode_into(out: &mut String, v: &Value, level: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Byte(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Float(f) => match format_json_float(*f) {
            Some(s) => out.push_str(&s),
            None => return Err(format!("json: unsupported value: {}", format_g(*f))),
        },
        Value::Str(s) => encode_string(out, s),
        Value::Array(l) => {
            if l.items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                encode_into(out, item, level + 1)?;
            }
            indent(out, level);
            out.push(']');
        }
        Value::Map(m) => {
            if m.entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, item)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                encode_string(out, k);
                out.push_str(": ");
                encode_into(out, item, level + 1)?;
            }
            indent(out, level);
            out.push('}');
        }
        Value::Func(f) => return Err(format!("json: unsupported type: {}", f.go_type())),
    }
    Ok(())
}

fn encode_string(out: &mut String, s: &str) {
    serin_gofmt::write_string(out, s);
}

/// How Go's JSON scanner names a character in its errors.
fn quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let q = go_quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

const EOF: &str = "unexpected end of JSON input";

pub fn decode(s: &str) -> Result<Value, String> {
    let mut p = Decoder { s: s.chars().collect(), pos: 0 };
    p.skip_ws();
    if p.pos >= p.s.len() {
        return Err(EOF.into());
    }
    let v = p.value(1, "looking for beginning of value")?;
    p.skip_ws();
    if let Some(&c) = p.s.get(p.pos) {
        return Err(format!("invalid character {} after top-level value", quote_char(c)));
    }
    Ok(v)
}

struct Decoder {
    s: Vec<char>,
    pos: usize,
}

impl Decoder {
    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.pos), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<char, String> {
        self.s.get(self.pos).copied().ok_or_else(|| EOF.to_string())
    }

    /// The next character inside a literal, number or escape: at the end of input Go's scanner feeds it a
    /// space, and reports that.
    fn peek_in_token(&self) -> char {
        self.s.get(self.pos).copied().unwrap_or(' ')
    }

    fn bad(c: char, context: &str) -> String {
        format!("invalid character {} {context}", quote_char(c))
    }

    fn value(&mut self, depth: u32, context: &str) -> Result<Value, String> {
        let c = self.peek()?;
        match c {
            '{' | '[' if depth > MAX_VALUE_DEPTH => Err("exceeded max depth".into()),
            '{' => self.object(depth),
            '[' => self.array(depth),
            '"' => Ok(Value::str(&self.string()?)),
            '-' | '0'..='9' => self.number(),
            't' => self.literal("true", Value::Bool(true)),
            'f' => self.literal("false", Value::Bool(false)),
            'n' => self.literal("null", Value::Nil),
            c => Err(Self::bad(c, context)),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
        for want in word.chars() {
            let c = self.peek_in_token();
            if c != want {
                return Err(Self::bad(c, &format!("in literal {word} (expecting {})", quote_char(want))));
            }
            self.pos += 1;
        }
        Ok(v)
    }

    fn object(&mut self, depth: u32) -> Result<Value, String> {
        self.pos += 1;
        let mut entries = BTreeMap::new();
        self.skip_ws();
        if self.peek()? == '}' {
            self.pos += 1;
            return Value::dict(entries);
        }
        loop {
            self.skip_ws();
            let c = self.peek()?;
            if c != '"' {
                return Err(Self::bad(c, "looking for beginning of object key string"));
            }
            let key = self.string()?;
            self.skip_ws();
            let c = self.peek()?;
            if c != ':' {
                return Err(Self::bad(c, "after object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth + 1, "looking for beginning of value")?;
            entries.insert(key, v);
            self.skip_ws();
            match self.peek()? {
                ',' => self.pos += 1,
                '}' => {
                    self.pos += 1;
                    return Value::dict(entries);
                }
                c => return Err(Self::bad(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self, depth: u32) -> Result<Value, String> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek()? == ']' {
            self.pos += 1;
            return Value::array(items);
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1, "looking for beginning of value")?);
            self.skip_ws();
            match self.peek()? {
                ',' => self.pos += 1,
                ']' => {
                    self.pos += 1;
                    return Value::array(items);
                }
                c => return Err(Self::bad(c, "after array element")),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self.peek_in_token();
                    self.pos += 1;
                    match e {
                        '"' | '\\' | '/' => out.push(e),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hi = self.hex4()?;
                            if (0xd800..0xdc00).contains(&hi)
                                && self.s.get(self.pos) == Some(&'\\')
                                && self.s.get(self.pos + 1) == Some(&'u')
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    let code = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                    continue;
                                }
                                self.pos = save;
                            }
                            out.push(char::from_u32(hi).unwrap_or('\u{fffd}'));
                        }
                        e => return Err(Self::bad(e, "in string escape code")),
                    }
                }
                c if (c as u32) < 0x20 => return Err(Self::bad(c, "in string literal")),
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut v = 0;
        for _ in 0..4 {
            let c = self.peek_in_token();
            let Some(d) = c.to_digit(16) else {
                return Err(Self::bad(c, "in \\u hexadecimal character escape"));
            };
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        if self.peek()? == '-' {
            self.pos += 1;
        }
        let c = self.peek_in_token();
        match c {
            '0' => self.pos += 1,
            '1'..='9' => {
                while self.s.get(self.pos).is_some_and(char::is_ascii_digit) {
                    self.pos += 1;
                }
            }
            c => return Err(Self::bad(c, "in numeric literal")),
        }
        if self.s.get(self.pos) == Some(&'.') {
            self.pos += 1;
            let c = self.peek_in_token();
            if !c.is_ascii_digit() {
                return Err(Self::bad(c, "after decimal point in numeric literal"));
            }
            while self.s.get(self.pos).is_some_and(char::is_ascii_digit) {
                self.pos += 1;
            }
        }
        if matches!(self.s.get(self.pos), Some('e' | 'E')) {
            self.pos += 1;
            if matches!(self.s.get(self.pos), Some('+' | '-')) {
                self.pos += 1;
            }
            let c = self.peek_in_token();
            if !c.is_ascii_digit() {
                return Err(Self::bad(c, "in exponent of numeric literal"));
            }
            while self.s.get(self.pos).is_some_and(char::is_ascii_digit) {
                self.pos += 1;
            }
        }
        let text: String = self.s[start..self.pos].iter().collect();
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(format!("json: cannot unmarshal number {text} into Go value of type float64")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_marshal_indent() {
        let v = decode(r#"{"b": [1, 2.5, "<a>"], "a": null, "c": {}}"#).expect("json");
        assert_eq!(
            encode(&v).expect("encode"),
            "{\n  \"a\": null,\n  \"b\": [\n    1,\n    2.5,\n    \"\\u003ca\\u003e\"\n  ],\n  \"c\": {}\n}"
        );
        assert_eq!(encode(&Value::Float(f64::NAN)).unwrap_err(), "json: unsupported value: NaN");
    }

    #[test]
    fn decode_errors_read_like_go() {
        for (s, want) in [
            ("", EOF),
            ("[1,", EOF),
            ("x", "invalid character 'x' looking for beginning of value"),
            ("[1 2]", "invalid character '2' after array element"),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            ("{1: 2}", "invalid character '1' looking for beginning of object key string"),
            ("1 2", "invalid character '2' after top-level value"),
            ("tru", "invalid character ' ' in literal true (expecting 'e')"),
            ("\"abc", EOF),
            ("trux", "invalid character 'x' in literal true (expecting 'e')"),
            ("01", "invalid character '1' after top-level value"),
        ] {
            assert_eq!(decode(s).err().as_deref(), Some(want), "{s}");
        }
    }
}

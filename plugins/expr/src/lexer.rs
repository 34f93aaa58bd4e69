//! Tokens of the expr language, split as Go expr's lexer splits them (its error texts included).

use crate::value::{Class, go_quote, go_rune, unicode_is};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Identifier,
    Number,
    Str,
    Operator,
    Bracket,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Kind,
    pub value: String,
}

impl Token {
    pub fn is(&self, kind: Kind, value: &str) -> bool {
        self.kind == kind && self.value == value
    }

    /// How Go expr names a token in `unexpected token ...`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            Kind::Identifier => "Identifier",
            Kind::Number => "Number",
            Kind::Str => "String",
            Kind::Operator => "Operator",
            Kind::Bracket => "Bracket",
            Kind::Eof => "EOF",
        };
        if self.value.is_empty() { kind.to_string() } else { format!("{kind}({})", go_quote(&self.value)) }
    }
}

/// The tokens of `source` up to the first lexing error, which comes last (the parser reports it when it gets
/// there, as Go's lazy lexer does).
pub fn tokenize(source: &str) -> (Vec<Token>, Option<String>) {
    let mut lx = Lexer { src: source.chars().collect(), pos: 0, start: 0, tokens: Vec::new() };
    let err = lx.run().err();
    (lx.tokens, err)
}

struct Lexer {
    src: Vec<char>,
    pos: usize,
    start: usize,
    tokens: Vec<Token>,
}

/// Go's `utils.IsAlphabetic`: `_`, `$` and Unicode letters (category L).
pub fn is_alphabetic(c: char) -> bool {
    c == '_' || c == '$' || c.is_ascii_alphabetic() || !c.is_ascii() && unicode_is(c, Class::Letter)
}

/// Letters and decimal digits (category Nd), as Go's `utils.IsAlphaNumeric`.
pub fn is_alphanumeric(c: char) -> bool {
    is_alphabetic(c) || c.is_ascii_digit() || !c.is_ascii() && unicode_is(c, Class::Digit)
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{85}' || c == '\u{a0}'
}

impl Lexer {
    fn next(&mut self) -> Option<char> {
        let c = self.src.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn word(&self) -> String {
        self.src[self.start..self.pos].iter().collect()
    }

    fn emit(&mut self, kind: Kind) {
        let value = self.word();
        self.emit_value(kind, value);
    }

    fn emit_value(&mut self, kind: Kind, value: String) {
        self.tokens.push(Token { kind, value });
        self.start = self.pos;
    }

    fn run(&mut self) -> Result<(), String> {
        loop {
            let Some(c) = self.next() else {
                self.emit_value(Kind::Eof, String::new());
                return Ok(());
            };
            match c {
                c if is_space(c) => self.start = self.pos,
                '\'' | '"' => {
                    let s = self.scan_string(c)?;
                    self.emit_value(Kind::Str, s);
                }
                '`' => self.scan_raw_string()?,
                '0'..='9' => {
                    self.pos -= 1;
                    self.number()?;
                }
                '?' => {
                    self.accept(".?");
                    self.emit(Kind::Operator);
                }
                '/' => {
                    if self.accept("/") {
                        while let Some(c) = self.next() {
                            if c == '\n' {
                                break;
                            }
                        }
                        self.start = self.pos;
                    } else if self.accept("*") {
                        loop {
                            match self.next() {
                                None => return Err("unclosed comment".into()),
                                Some('*') if self.accept("/") => break,
                                Some(_) => {}
                            }
                        }
                        self.start = self.pos;
                    } else {
                        self.emit(Kind::Operator);
                    }
                }
                '#' => {
                    self.accept("#");
                    self.emit(Kind::Operator);
                    while self.peek().is_some_and(is_alphanumeric) {
                        self.pos += 1;
                    }
                    if self.pos > self.start {
                        self.emit(Kind::Identifier);
                    }
                }
                '|' => {
                    self.accept("|");
                    self.emit(Kind::Operator);
                }
                ':' => {
                    self.accept(":");
                    self.emit(Kind::Operator);
                }
                '(' | '[' | '{' | ')' | ']' | '}' => self.emit(Kind::Bracket),
                ',' | ';' | '%' | '+' | '-' | '^' => self.emit(Kind::Operator),
                '&' | '!' | '=' | '*' | '<' | '>' => {
                    self.accept("&=*");
                    self.emit(Kind::Operator);
                }
                '.' => {
                    if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.number_from_dot()?;
                    } else {
                        self.accept(".");
                        self.emit(Kind::Operator);
                    }
                }
                c if is_alphanumeric(c) => {
                    self.pos -= 1;
                    self.identifier();
                }
                c => return Err(format!("unrecognized character: {}", go_rune(c))),
            }
        }
    }

    fn number(&mut self) -> Result<(), String> {
        if !self.scan_number() {
            return Err(format!("bad number syntax: {}", go_quote(&self.word())));
        }
        self.emit(Kind::Number);
        Ok(())
    }

    /// A number written `.5`: the dot is consumed, the digits follow.
    fn number_from_dot(&mut self) -> Result<(), String> {
        self.number()
    }

    fn scan_number(&mut self) -> bool {
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        let end = self.pos;
        if self.accept(".") {
            // `1..2` is a range: the number ends before the dots.
            if self.peek() == Some('.') {
                self.pos = end;
                return true;
            }
            self.accept_run(digits);
        }
        if self.accept("eE") {
            self.accept("+-");
            self.accept_run(digits);
        }
        if self.peek().is_some_and(is_alphanumeric) {
            self.pos += 1;
            return false;
        }
        true
    }

    fn identifier(&mut self) {
        while self.peek().is_some_and(is_alphanumeric) {
            self.pos += 1;
        }
        match self.word().as_str() {
            "not" => {
                self.emit(Kind::Operator);
                while self.peek() == Some(' ') {
                    self.pos += 1;
                }
                self.start = self.pos;
                let end = self.pos;
                while self.peek().is_some_and(is_alphanumeric) {
                    self.pos += 1;
                }
                match self.word().as_str() {
                    "in" | "matches" | "contains" | "startsWith" | "endsWith" => self.emit(Kind::Operator),
                    _ => self.pos = end,
                }
            }
            "in" | "or" | "and" | "matches" | "contains" | "startsWith" | "endsWith" | "let" | "if"
            | "else" => self.emit(Kind::Operator),
            _ => self.emit(Kind::Identifier),
        }
    }

    /// A quoted string: checks the escapes as Go's lexer does, then decodes them as its unescape does.
    fn scan_string(&mut self, quote: char) -> Result<String, String> {
        let mut first_err: Option<String> = None;
        let mut ch = self.next();
        while ch != Some(quote) {
            match ch {
                None | Some('\n') => return Err(first_err.unwrap_or_else(|| "literal not terminated".into())),
                Some('\\') => ch = self.scan_escape(quote, &mut first_err),
                Some(_) => ch = self.next(),
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let raw: String = self.src[self.start + 1..self.pos - 1].iter().collect();
        unescape(&raw.replace("\r\n", "\n").replace('\r', "\n"))
    }

    /// Reads an escape after its backslash; returns the character after it.
    fn scan_escape(&mut self, quote: char, err: &mut Option<String>) -> Option<char> {
        let fail = |err: &mut Option<String>| {
            if err.is_none() {
                *err = Some("invalid char escape".into());
            }
        };
        let ch = self.next();
        match ch {
            Some(c) if "abfnrtv\\".contains(c) || c == quote => self.next(),
            Some(c @ '0'..='7') => self.scan_digits(Some(c), 8, 3, err),
            Some('x') => {
                let c = self.next();
                self.scan_digits(c, 16, 2, err)
            }
            Some('u') => {
                if self.peek() == Some('{') {
                    self.pos += 1;
                    let mut digits = 0;
                    loop {
                        match self.peek() {
                            Some('}') => break,
                            Some(p) if p.is_ascii_hexdigit() && digits < 6 => {
                                self.pos += 1;
                                digits += 1;
                            }
                            _ => {
                                fail(err);
                                return None;
                            }
                        }
                    }
                    if digits == 0 {
                        fail(err);
                        return None;
                    }
                    self.pos += 1;
                    return self.next();
                }
                let c = self.next();
                self.scan_digits(c, 16, 4, err)
            }
            Some('U') => {
                let c = self.next();
                self.scan_digits(c, 16, 8, err)
            }
            _ => {
                fail(err);
                ch
            }
        }
    }

    fn scan_digits(
        &mut self,
        mut ch: Option<char>,
        base: u32,
        mut n: usize,
        err: &mut Option<String>,
    ) -> Option<char> {
        while n > 0 && ch.and_then(|c| c.to_digit(16)).is_some_and(|d| d < base) {
            ch = self.next();
            n -= 1;
        }
        if n > 0 && err.is_none() {
            *err = Some("invalid char escape".into());
        }
        ch
    }

    /// A backquoted string: no escapes, a doubled backquote stands for one.
    fn scan_raw_string(&mut self) -> Result<(), String> {
        let mut escaped = 0;
        loop {
            let mut ch = self.next();
            while ch == Some('`') && self.peek() == Some('`') {
                self.pos += 1;
                ch = self.next();
                escaped += 1;
            }
            match ch {
                Some('`') => break,
                None => return Err("literal not terminated".into()),
                _ => {}
            }
        }
        let raw: String = self.src[self.start + 1..self.pos - 1].iter().collect();
        let value = if escaped == 0 {
            raw
        } else {
            let mut out = String::with_capacity(raw.len());
            let mut skipped = false;
            for c in raw.chars() {
                if c == '`' {
                    if !skipped {
                        skipped = true;
                        continue;
                    }
                    skipped = false;
                }
                out.push(c);
            }
            out
        };
        self.emit_value(Kind::Str, value);
        Ok(())
    }
}

/// Decodes the escapes of a quoted string's body as Go expr's `unescape` does.
fn unescape(s: &str) -> Result<String, String> {
    const BAD: &str = "unable to unescape string";
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let hex = |c: char| c.to_digit(16);
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = chars.get(i + 1) else {
            return Err("unable to unescape string, found '\\' as last character".into());
        };
        i += 2;
        let simple = match e {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            '`' => Some('`'),
            '?' => Some('?'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        let code: u32 = match e {
            'u' if chars.get(i) == Some(&'{') => {
                i += 1;
                let mut v: u32 = 0;
                let mut digits = 0;
                while i < chars.len() && chars[i] != '}' {
                    let Some(d) = hex(chars[i]) else { return Err(BAD.into()) };
                    if digits >= 6 {
                        return Err(BAD.into());
                    }
                    v = v << 4 | d;
                    i += 1;
                    digits += 1;
                }
                if i >= chars.len() || digits == 0 {
                    return Err(BAD.into());
                }
                i += 1;
                v
            }
            'x' | 'X' | 'u' | 'U' => {
                let n = match e {
                    'x' | 'X' => 2,
                    'u' => 4,
                    _ => 8,
                };
                if chars.len() < i + n {
                    return Err(BAD.into());
                }
                let mut v: u32 = 0;
                for &c in &chars[i..i + n] {
                    let Some(d) = hex(c) else { return Err(BAD.into()) };
                    v = v.wrapping_shl(4) | d;
                }
                i += n;
                v
            }
            '0'..='3' => {
                const OCTAL: &str = "unable to unescape octal sequence in string";
                if chars.len() < i + 2 {
                    return Err(OCTAL.into());
                }
                let mut v = e as u32 - '0' as u32;
                for &c in &chars[i..i + 2] {
                    if !('0'..='7').contains(&c) {
                        return Err(OCTAL.into());
                    }
                    v = v * 8 + (c as u32 - '0' as u32);
                }
                i += 2;
                v
            }
            _ => return Err(BAD.into()),
        };
        if code > 0x10ffff {
            return Err(BAD.into());
        }
        // Go encodes a surrogate half as the replacement character.
        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(src: &str) -> Vec<String> {
        let (tokens, err) = tokenize(src);
        assert_eq!(err, None, "{src}");
        tokens.iter().map(|t| t.describe()).collect()
    }

    #[test]
    fn splits_like_go() {
        assert_eq!(values("!!true"), ["Operator(\"!\")", "Operator(\"!\")", "Identifier(\"true\")", "EOF"]);
        assert_eq!(
            values("a not in b"),
            ["Identifier(\"a\")", "Operator(\"not\")", "Operator(\"in\")", "Identifier(\"b\")", "EOF"]
        );
        assert_eq!(values("1..2"), ["Number(\"1\")", "Operator(\"..\")", "Number(\"2\")", "EOF"]);
        assert_eq!(
            values(".5 ?. ?? #x"),
            [
                "Number(\".5\")",
                "Operator(\"?.\")",
                "Operator(\"??\")",
                "Operator(\"#\")",
                "Identifier(\"x\")",
                "EOF"
            ]
        );
        assert_eq!(
            values("a**b // c"),
            ["Identifier(\"a\")", "Operator(\"**\")", "Identifier(\"b\")", "EOF"]
        );
        assert_eq!(values("'a\\x41\\101\\u00e9\\u{1F600}'"), ["String(\"aAAé😀\")", "EOF"]);
        assert_eq!(values("`a``b`"), ["String(\"a`b\")", "EOF"]);
    }

    #[test]
    fn errors_like_go() {
        for (src, want) in [
            ("\"abc", "literal not terminated"),
            ("'a\\qb'", "invalid char escape"),
            ("\"\\'\"", "invalid char escape"),
            ("\"\\477\"", "unable to unescape string"),
            ("a @ b", "unrecognized character: U+0040 '@'"),
            ("1x", "bad number syntax: \"1x\""),
            ("/* x", "unclosed comment"),
        ] {
            assert_eq!(tokenize(src).1.as_deref(), Some(want), "{src}");
        }
    }
}

//! `matches`: Go's RE2 syntax on the `regex` crate. The two agree on almost everything; where they differ
//! (`\d`, `\w`, `\s`, `\b` are ASCII in Go, Unicode in Rust; `\Q...\E` quoting exists only in Go) the pattern is
//! rewritten, and syntax errors are reported in Go's words (`error parsing regexp: missing closing ]: ...`).

use regex::Regex;
use regex_syntax::ast::{Ast, ErrorKind, RepetitionKind, RepetitionRange};

/// Compiles a pattern as Go's `regexp.Compile` would accept it.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    let unquoted = literal_braces(&expand_quotes(pattern));
    check_octal(&unquoted)?;
    check_flags(&unquoted)?;
    check_unicode_escapes(&unquoted)?;
    let translated = translate(&unquoted)?;
    let ast = regex_syntax::ast::parse::ParserBuilder::new().octal(true).build().parse(&translated).map_err(
        |e| match (e.kind(), unclosed_class(&unquoted)) {
            // Quote the class as written, not as translated.
            (ErrorKind::ClassUnclosed, Some(at)) => {
                format!("error parsing regexp: missing closing ]: `{}`", unquoted.get(at..).unwrap_or(""))
            }
            _ => go_error(&translated, &e),
        },
    )?;
    go_only_errors(&translated, &ast)?;
    regex::RegexBuilder::new(&translated).octal(true).build().map_err(|e| {
        if let Some(class) = unknown_unicode_class(&unquoted) {
            return format!("error parsing regexp: invalid character class range: `{class}`");
        }
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or("").trim().trim_start_matches("error: ").to_string();
        format!("error parsing regexp: {last}: `{pattern}`")
    })
}

/// What Go refuses and Rust accepts: a repetition of a repetition (`a**`), repetition counts above 1000 (also
/// when nested counts multiply past it), and the flags Go lacks (`x`, `u`, `R`).
fn go_only_errors(pattern: &str, ast: &Ast) -> Result<(), String> {
    let text = |a: usize, b: usize| pattern.get(a..b).unwrap_or("").to_string();
    let mut errors: Vec<(usize, String)> = Vec::new();
    let mut stack = vec![ast];
    while let Some(node) = stack.pop() {
        match node {
            Ast::Repetition(rep) => {
                let (start, end) = (rep.op.span.start.offset, rep.op.span.end.offset);
                if let Ast::Repetition(inner) = &*rep.ast {
                    let at = inner.op.span.start.offset;
                    errors.push((at, format!("invalid nested repetition operator: `{}`", text(at, end))));
                }
                if let Some((min, max)) = counts(&rep.op.kind)
                    && (min >= 2 || max.is_none_or(|m| m >= 2))
                    && (min > 1000 || max.is_some_and(|m| m > 1000) || !repeat_is_valid(node, 1000, 0))
                {
                    errors.push((start, format!("invalid repeat count: `{}`", text(start, end))));
                }
                stack.push(&rep.ast);
            }
            Ast::Group(g) => stack.push(&g.ast),
            Ast::Alternation(a) => stack.extend(a.asts.iter()),
            Ast::Concat(c) => stack.extend(c.asts.iter()),
            _ => {}
        }
    }
    // Go stops at the first error in the pattern.
    match errors.into_iter().min_by_key(|(at, _)| *at) {
        Some((_, e)) => Err(format!("error parsing regexp: {e}")),
        None => Ok(()),
    }
}

/// A counted repetition's bounds (`None` for no upper bound).
fn counts(kind: &RepetitionKind) -> Option<(u32, Option<u32>)> {
    match kind {
        RepetitionKind::Range(RepetitionRange::Exactly(n)) => Some((*n, Some(*n))),
        RepetitionKind::Range(RepetitionRange::AtLeast(n)) => Some((*n, None)),
        RepetitionKind::Range(RepetitionRange::Bounded(a, b)) => Some((*a, Some(*b))),
        _ => None,
    }
}

/// Go's `repeatIsValid`: the counts of nested repetitions, multiplied, stay within `n`.
fn repeat_is_valid(ast: &Ast, mut n: u32, depth: usize) -> bool {
    if depth > 256 {
        return false;
    }
    if let Ast::Repetition(rep) = ast
        && let Some((min, max)) = counts(&rep.op.kind)
    {
        let m = max.unwrap_or(min);
        if m > n {
            return false;
        }
        if let Some(q) = n.checked_div(m) {
            n = q;
        }
    }
    match ast {
        Ast::Repetition(r) => repeat_is_valid(&r.ast, n, depth + 1),
        Ast::Group(g) => repeat_is_valid(&g.ast, n, depth + 1),
        Ast::Alternation(a) => a.asts.iter().all(|x| repeat_is_valid(x, n, depth + 1)),
        Ast::Concat(c) => c.asts.iter().all(|x| repeat_is_valid(x, n, depth + 1)),
        _ => true,
    }
}

/// Go's flags are `i`, `m`, `s` and `U`; Rust's `x`, `u` and `R` are errors there.
fn check_flags(pattern: &str) -> Result<(), String> {
    let b = pattern.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'(' if b[i + 1] == b'?' => {
                let mut j = i + 2;
                while j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'-') {
                    if matches!(b[j], b'x' | b'u' | b'R') {
                        let fragment = pattern.get(i..=j).unwrap_or("");
                        return Err(format!(
                            "error parsing regexp: invalid or unsupported Perl syntax: `{fragment}`"
                        ));
                    }
                    j += 1;
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Go's error codes for the syntax errors both engines detect, with the fragment Go quotes.
fn go_error(pattern: &str, e: &regex_syntax::ast::Error) -> String {
    let span = e.span();
    let at = |start: usize, end: usize| pattern.get(start..end).unwrap_or(pattern).to_string();
    let (code, fragment) = match e.kind() {
        ErrorKind::ClassUnclosed => ("missing closing ]", at(span.start.offset, pattern.len())),
        ErrorKind::GroupUnclosed if pattern.ends_with("(?") => {
            ("invalid or unsupported Perl syntax", "(?".into())
        }
        ErrorKind::GroupUnclosed => ("missing closing )", pattern.to_string()),
        ErrorKind::GroupUnopened => ("unexpected )", pattern.to_string()),
        ErrorKind::RepetitionMissing => {
            ("missing argument to repetition operator", operator_at(pattern, span.start.offset))
        }
        ErrorKind::EscapeUnrecognized | ErrorKind::ClassEscapeInvalid => {
            ("invalid escape sequence", at(span.start.offset, span.end.offset))
        }
        ErrorKind::EscapeUnexpectedEof => ("trailing backslash at end of expression", String::new()),
        ErrorKind::EscapeHexInvalidDigit | ErrorKind::EscapeHexInvalid | ErrorKind::EscapeHexEmpty => {
            let open =
                pattern.get(..span.start.offset).and_then(|p| p.rfind("\\x")).unwrap_or(span.start.offset);
            let bad =
                pattern.get(span.start.offset..).and_then(|r| r.chars().next()).map_or(0, char::len_utf8);
            let end = if matches!(e.kind(), ErrorKind::EscapeHexInvalidDigit) {
                span.start.offset + bad
            } else {
                span.end.offset
            };
            ("invalid escape sequence", at(open, end.min(pattern.len())))
        }
        ErrorKind::ClassRangeInvalid => {
            ("invalid character class range", at(span.start.offset, span.end.offset))
        }
        ErrorKind::RepetitionCountInvalid
        | ErrorKind::RepetitionCountUnclosed
        | ErrorKind::DecimalInvalid => ("invalid repeat count", at(span.start.offset, span.end.offset)),
        ErrorKind::UnsupportedLookAround => {
            ("invalid or unsupported Perl syntax", at(span.start.offset, span.end.offset))
        }
        ErrorKind::FlagUnrecognized
        | ErrorKind::FlagUnexpectedEof
        | ErrorKind::FlagRepeatedNegation { .. }
        | ErrorKind::FlagDanglingNegation => {
            // Go quotes from the group's `(?` through the character it could not read (the `)` after a
            // dangling `-`).
            let dangling = usize::from(matches!(e.kind(), ErrorKind::FlagDanglingNegation));
            let at_bad = span.start.offset + dangling;
            let open = pattern.get(..at_bad).and_then(|p| p.rfind("(?")).unwrap_or(0);
            let end = pattern
                .get(at_bad..)
                .and_then(|r| r.chars().next())
                .map_or(at_bad, |c| at_bad + c.len_utf8());
            ("invalid or unsupported Perl syntax", at(open, end.max(span.end.offset)))
        }
        _ => ("invalid regexp", pattern.to_string()),
    };
    format!("error parsing regexp: {code}: `{fragment}`")
}

/// The repetition operator starting at `i` (`*`, `+?`, `{2,3}`).
fn operator_at(pattern: &str, i: usize) -> String {
    let rest = pattern.get(i..).unwrap_or("");
    let len = match rest.chars().next() {
        Some('{') => rest.find('}').map(|j| j + 1).unwrap_or(rest.len()),
        Some('*' | '+' | '?') => 1,
        _ => 0,
    };
    let lazy = usize::from(len > 0 && rest[len..].starts_with('?'));
    rest[..len + lazy].to_string()
}

/// `\p` and `\P` need a class name; Go takes `{^Name}` for negation, the regex crate does not, and Go has no
/// `Name=Value` or `Name:Value` forms.
fn check_unicode_escapes(pattern: &str) -> Result<(), String> {
    let bad = |f: &str| Err(format!("error parsing regexp: invalid character class range: `{f}`"));
    let b = pattern.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if matches!(b.get(i + 1), Some(b'p' | b'P')) {
            match b.get(i + 2) {
                None => return bad(&pattern[i..]),
                Some(b'{') => match pattern[i..].find('}') {
                    None => return bad(&pattern[i..]),
                    Some(j) if pattern[i..i + j].contains(['=', ':']) => return bad(&pattern[i..=i + j]),
                    Some(_) => {}
                },
                Some(_) => {}
            }
        }
        i += 2;
    }
    Ok(())
}

/// The first `\p{...}` / `\pX` naming no Unicode class.
fn unknown_unicode_class(pattern: &str) -> Option<String> {
    let mut rest = pattern;
    while let Some(i) = [rest.find("\\p"), rest.find("\\P")].into_iter().flatten().min() {
        let after = &rest[i + 2..];
        let len = if after.starts_with('{') {
            after.find('}').map_or(after.len(), |j| j + 1)
        } else {
            after.chars().next().map_or(0, char::len_utf8)
        };
        let class = &rest[i..i + 2 + len];
        if Regex::new(class).is_err() {
            return Some(class.to_string());
        }
        rest = &rest[i + 2 + len..];
    }
    None
}

/// Go reads `\1`..`\7` as octal only when another octal digit follows (a lone one would be a
/// backreference, which it refuses).
fn check_octal(pattern: &str) -> Result<(), String> {
    let b = pattern.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let d = b[i + 1];
            if (b'1'..=b'7').contains(&d) && !b.get(i + 2).is_some_and(|c| (b'0'..=b'7').contains(c)) {
                return Err(format!("error parsing regexp: invalid escape sequence: `\\{}`", d as char));
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    Ok(())
}

/// A `{` that does not start a repetition count (`{2}`, `{2,}`, `{2,5}`) is a literal in Go.
fn literal_braces(pattern: &str) -> String {
    if !pattern.contains('{') {
        return pattern.to_string();
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            out.push(c);
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
                // `\p{Greek}`, `\x{e9}`: the braces belong to the escape.
                if matches!(n, 'p' | 'P' | 'x') && chars.get(i + 2) == Some(&'{') {
                    let mut j = i + 2;
                    while j < chars.len() {
                        out.push(chars[j]);
                        j += 1;
                        if chars[j - 1] == '}' {
                            break;
                        }
                    }
                    i = j;
                    continue;
                }
            }
            i += 2;
            continue;
        }
        if in_class {
            if c == ']' {
                in_class = false;
            }
            out.push(c);
            i += 1;
            continue;
        }
        if c == '[' {
            in_class = true;
            out.push(c);
            // A `]` right after `[` or `[^` belongs to the class.
            if chars.get(i + 1) == Some(&'^') {
                out.push('^');
                i += 1;
            }
            if chars.get(i + 1) == Some(&']') {
                out.push(']');
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '{' {
            let rest: String = chars[i + 1..].iter().collect();
            let count = rest.split_once('}').map(|(inside, _)| inside).filter(|inside| {
                let (min, max) = inside.split_once(',').unwrap_or((inside, "0"));
                !min.is_empty()
                    && min.chars().all(|c| c.is_ascii_digit())
                    && max.chars().all(|c| c.is_ascii_digit())
            });
            if count.is_none() {
                out.push_str("\\{");
                i += 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Replaces `\Q...\E` (everything literal) by escaped characters.
fn expand_quotes(pattern: &str) -> String {
    if !pattern.contains("\\Q") {
        return pattern.to_string();
    }
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut rest = pattern;
    while let Some(i) = find_unescaped(rest, "\\Q") {
        out.push_str(&rest[..i]);
        let quoted = &rest[i + 2..];
        let (lit, tail) = match quoted.find("\\E") {
            Some(j) => (&quoted[..j], &quoted[j + 2..]),
            None => (quoted, ""),
        };
        out.push_str(&regex::escape(lit));
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn find_unescaped(s: &str, needle: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if s[i..].starts_with(needle) {
                return Some(i);
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    None
}

/// Rewrites Go syntax into the regex crate's where the two read it differently: the Perl classes and word
/// boundaries are ASCII in Go; `\<` and `\>` are plain characters; inside a bracket expression `[`, `&&`, `~~`
/// and `--` are plain characters too (the regex crate nests classes and combines them with those operators).
fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '(' if chars.get(i + 1) == Some(&'?') && matches!(chars.get(i + 2), Some('<' | 'P')) => {
                i = named_group(&chars, i, &mut out)?;
            }
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    out.push('\\');
                    break;
                };
                out.push_str(match e {
                    'd' => "[0-9]",
                    'D' => "[^0-9]",
                    'w' => "[0-9A-Za-z_]",
                    'W' => "[^0-9A-Za-z_]",
                    's' => "[\\t\\n\\f\\r ]",
                    'S' => "[^\\t\\n\\f\\r ]",
                    'b' => "(?-u:\\b)",
                    'B' => "(?-u:\\B)",
                    '<' => "<",
                    '>' => ">",
                    _ => {
                        i += copy_escape(&chars, i, &mut out);
                        continue;
                    }
                });
                i += 2;
            }
            '[' => i = translate_class(&chars, i, &mut out)?.0,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// `(?P<name>` and `(?<name>`: Go takes any name of letters, digits and `_` (and the same name twice), the
/// regex crate is stricter; the name does not matter for matching, so the group becomes a plain one.
fn named_group(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let begin = if chars.get(i + 2) == Some(&'P') {
        if chars.get(i + 3) != Some(&'<') {
            // `(?P=name)`, `(?P>`: left to the parser, which refuses them.
            out.push_str("(?");
            return Ok(i + 2);
        }
        i + 4
    } else {
        i + 3
    };
    let Some(end) = (begin..chars.len()).find(|&j| chars[j] == '>') else {
        let rest: String = chars[i..].iter().collect();
        return Err(format!("error parsing regexp: invalid named capture: `{rest}`"));
    };
    let name = &chars[begin..end];
    if name.is_empty() || !name.iter().all(|c| c.is_ascii_alphanumeric() || *c == '_') {
        let capture: String = chars[i..=end].iter().collect();
        return Err(format!("error parsing regexp: invalid named capture: `{capture}`"));
    }
    out.push('(');
    Ok(end + 1)
}

/// Copies the escape at `i` (with its `{...}` for `\p{..}` and `\x{..}`); returns its length.
fn copy_escape(chars: &[char], i: usize, out: &mut String) -> usize {
    // `\p{^Greek}` is `\P{Greek}`.
    if matches!(chars.get(i + 1), Some('p' | 'P'))
        && chars.get(i + 2) == Some(&'{')
        && chars.get(i + 3) == Some(&'^')
    {
        out.push('\\');
        out.push(if chars[i + 1] == 'p' { 'P' } else { 'p' });
        out.push('{');
        return 4 + copy_escape_tail(chars, i + 4, out);
    }
    let mut n = 2.min(chars.len() - i);
    if matches!(chars.get(i + 1), Some('p' | 'P' | 'x')) && chars.get(i + 2) == Some(&'{') {
        while i + n < chars.len() {
            n += 1;
            if chars[i + n - 1] == '}' {
                break;
            }
        }
    }
    out.extend(&chars[i..i + n]);
    n
}

/// The rest of a braced escape after its `{` (through the `}`); returns its length.
fn copy_escape_tail(chars: &[char], i: usize, out: &mut String) -> usize {
    let mut n = 0;
    while i + n < chars.len() {
        out.push(chars[i + n]);
        n += 1;
        if chars[i + n - 1] == '}' {
            break;
        }
    }
    n
}

/// Byte offset of the first bracket expression that is never closed.
fn unclosed_class(pattern: &str) -> Option<usize> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' => {
                let Ok((next, closed)) = translate_class(&chars, i, &mut String::new()) else { return None };
                if !closed {
                    return Some(chars[..i].iter().map(|c| c.len_utf8()).sum());
                }
                i = next;
            }
            _ => i += 1,
        }
    }
    None
}

/// A bracket expression from the `[` at `start`, as Go reads it; returns the index after it and whether it
/// was closed.
fn translate_class(chars: &[char], start: usize, out: &mut String) -> Result<(usize, bool), String> {
    out.push('[');
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // A `]` first is a member, not the end.
    if chars.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    // Whether the last thing written was a single character, which a following `-` makes a range of.
    let mut range_start = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ']' => {
                out.push(']');
                return Ok((i + 1, true));
            }
            '\\' => {
                let e = chars.get(i + 1).copied();
                match e {
                    Some('d') => out.push_str("0-9"),
                    Some('w') => out.push_str("0-9A-Za-z_"),
                    Some('s') => out.push_str("\\t\\n\\f\\r "),
                    Some('D') => out.push_str("[^0-9]"),
                    Some('W') => out.push_str("[^0-9A-Za-z_]"),
                    Some('S') => out.push_str("[^\\t\\n\\f\\r ]"),
                    _ => {
                        i += copy_escape(chars, i, out);
                        range_start = !matches!(e, Some('p' | 'P'));
                        continue;
                    }
                }
                range_start = false;
                i += 2;
            }
            '[' if chars.get(i + 1) == Some(&':') => {
                // A POSIX class, `[:alpha:]`.
                let end =
                    (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                match end {
                    Some(j) => {
                        let name: String = chars[i + 2..j].iter().collect();
                        if !POSIX_CLASSES.contains(&name.trim_start_matches('^')) {
                            let class: String = chars[i..j + 2].iter().collect();
                            return Err(format!(
                                "error parsing regexp: invalid character class range: `{class}`"
                            ));
                        }
                        out.extend(&chars[i..j + 2]);
                        i = j + 2;
                    }
                    None => {
                        out.push_str("\\[");
                        i += 1;
                    }
                }
                range_start = false;
            }
            '-' if range_start && chars.get(i + 1).is_some_and(|n| *n != ']') => {
                out.push('-');
                i += 1;
                // The range's end: a character, not a class.
                if chars.get(i) == Some(&'\\') {
                    if let Some(&e) = chars.get(i + 1)
                        && "dDwWsSpP".contains(e)
                    {
                        return Err(format!("error parsing regexp: invalid escape sequence: `\\{e}`"));
                    }
                    i += copy_escape(chars, i, out);
                } else if let Some(&hi) = chars.get(i) {
                    push_class_char(out, hi);
                    i += 1;
                }
                range_start = false;
            }
            c => {
                push_class_char(out, c);
                range_start = true;
                i += 1;
            }
        }
    }
    Ok((i, false))
}

/// The POSIX classes Go knows inside a bracket expression.
const POSIX_CLASSES: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
    "upper", "word", "xdigit",
];

fn push_class_char(out: &mut String, c: char) {
    if matches!(c, '[' | '&' | '~' | '-') {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii() {
        let re = compile("^\\d+$").expect("compiles");
        assert!(re.is_match("204") && !re.is_match("٣"));
        assert!(compile("^[\\w-]+$").expect("compiles").is_match("a_b-9"));
        assert!(compile("\\Qa.b\\E$").expect("compiles").is_match("xa.b"));
        assert!(!compile("\\Qa.b\\E").expect("compiles").is_match("axb"));
        assert!(compile("^[]a]+$").expect("compiles").is_match("]a"));
        assert!(compile("^[[:alpha:]]+$").expect("compiles").is_match("abc"));
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(compile("[a").unwrap_err(), "error parsing regexp: missing closing ]: `[a`");
        assert_eq!(compile("a(b").unwrap_err(), "error parsing regexp: missing closing ): `a(b`");
        assert_eq!(compile("a)").unwrap_err(), "error parsing regexp: unexpected ): `a)`");
        assert_eq!(
            compile("*a").unwrap_err(),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(compile("\\q").unwrap_err(), "error parsing regexp: invalid escape sequence: `\\q`");
        assert_eq!(
            compile("a**").unwrap_err(),
            "error parsing regexp: invalid nested repetition operator: `**`"
        );
        assert_eq!(
            compile("a{2}+").unwrap_err(),
            "error parsing regexp: invalid nested repetition operator: `{2}+`"
        );
        assert_eq!(compile("a{1001}").unwrap_err(), "error parsing regexp: invalid repeat count: `{1001}`");
        assert!(compile("a*?b+?").is_ok());
        assert_eq!(compile("\\1").unwrap_err(), "error parsing regexp: invalid escape sequence: `\\1`");
        assert!(compile("^\\101$").expect("octal").is_match("A"));
        assert!(compile("^a{,3}$").expect("literal brace").is_match("a{,3}"));
        assert!(compile("^x{$").expect("literal brace").is_match("x{"));
        assert_eq!(compile("[]").unwrap_err(), "error parsing regexp: missing closing ]: `[]`");
        assert_eq!(compile("a[^b").unwrap_err(), "error parsing regexp: missing closing ]: `[^b`");
        assert!(!compile("[[a-z]&&[b]]").expect("no intersection in Go").is_match("b"));
        assert!(compile("^[a-c~~b]$").expect("no symmetric difference in Go").is_match("b"));
        assert!(compile("^\\<$").expect("a plain <").is_match("<"));
        assert_eq!(
            compile("(?x)a").unwrap_err(),
            "error parsing regexp: invalid or unsupported Perl syntax: `(?x`"
        );
        assert_eq!(
            compile("(x{10}){200}").unwrap_err(),
            "error parsing regexp: invalid repeat count: `{200}`"
        );
        assert!(compile("^\\p{Greek}+\\x{e9}$").expect("braced escapes").is_match("αé"));
    }
}

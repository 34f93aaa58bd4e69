//! Go's `strconv.ParseInt(s, 10, 64)` and `strconv.ParseFloat(s, 64)`: what they accept and their error texts.

use crate::value::go_quote;

fn num_error(func: &str, s: &str, what: &str) -> String {
    format!("strconv.{func}: parsing {}: {what}", go_quote(s))
}

/// `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits only.
pub fn parse_int(s: &str) -> Result<i64, String> {
    let syntax = || num_error("ParseInt", s, "invalid syntax");
    let range = || num_error("ParseInt", s, "value out of range");
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(syntax());
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return Err(syntax());
        }
        n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(b - b'0'))).ok_or_else(range)?;
    }
    if neg {
        if n > 1u64 << 63 {
            return Err(range());
        }
        Ok((n as i64).wrapping_neg())
    } else {
        i64::try_from(n).map_err(|_| range())
    }
}

/// Go's rule for `_` in a number: only between digits (or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let b = match b.first() {
        Some(b'+' | b'-') => &b[1..],
        _ => b,
    };
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseFloat(s, 64)`.
pub fn parse_float(s: &str) -> Result<f64, String> {
    let syntax = || num_error("ParseFloat", s, "invalid syntax");
    if let Some(v) = special(s) {
        return Ok(v);
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut neg = false;
    if let Some(&c) = b.first()
        && (c == b'+' || c == b'-')
    {
        neg = c == b'-';
        i = 1;
    }
    let mut hex = false;
    if i + 2 < b.len() && b[i] == b'0' && b[i + 1].eq_ignore_ascii_case(&b'x') {
        hex = true;
        i += 2;
    }
    let mant_start = i;
    let mut underscores = false;
    let mut saw_dot = false;
    let mut saw_digits = false;
    while i < b.len() {
        let c = b[i];
        if c == b'_' {
            underscores = true;
        } else if c == b'.' {
            if saw_dot {
                break;
            }
            saw_dot = true;
        } else if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw_digits = true;
        } else {
            break;
        }
        i += 1;
    }
    if !saw_digits {
        return Err(syntax());
    }
    let mant_end = i;
    let mut exp: i64 = 0;
    let exp_char = if hex { b'p' } else { b'e' };
    if i < b.len() && b[i].to_ascii_lowercase() == exp_char {
        i += 1;
        if i >= b.len() {
            return Err(syntax());
        }
        let mut esign = 1;
        if b[i] == b'+' || b[i] == b'-' {
            if b[i] == b'-' {
                esign = -1;
            }
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return Err(syntax());
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            } else if exp < 100_000 {
                exp = exp * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        exp *= esign;
    } else if hex {
        return Err(syntax());
    }
    if i != b.len() || underscores && !underscore_ok(&s[..i]) {
        return Err(syntax());
    }
    let mantissa: String = s[mant_start..mant_end].chars().filter(|c| *c != '_').collect();
    let value = if hex {
        let (int, frac) = mantissa.split_once('.').unwrap_or((&mantissa, ""));
        let mut v = 0f64;
        for c in int.chars().chain(frac.chars()) {
            v = v * 16.0 + f64::from(c.to_digit(16).unwrap_or(0));
        }
        v * 2f64.powi((exp - 4 * frac.len() as i64).clamp(-5000, 5000) as i32)
    } else {
        let text = format!("{mantissa}e{exp}");
        text.parse::<f64>().map_err(|_| syntax())?
    };
    if value.is_infinite() {
        return Err(num_error("ParseFloat", s, "value out of range"));
    }
    Ok(if neg { -value } else { value })
}

/// `inf`, `infinity` (with an optional sign) and `nan`, in any case.
fn special(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (sign, rest) = match lower.as_bytes().first() {
        Some(b'+') => (1.0, &lower[1..]),
        Some(b'-') => (-1.0, &lower[1..]),
        _ => (1.0, lower.as_str()),
    };
    match rest {
        "inf" | "infinity" => Some(sign * f64::INFINITY),
        "nan" if rest.len() == lower.len() => Some(f64::NAN),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_follow_strconv() {
        assert_eq!(parse_int("+1"), Ok(1));
        assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int("1_000").unwrap_err(), "strconv.ParseInt: parsing \"1_000\": invalid syntax");
        assert_eq!(
            parse_int("99999999999999999999").unwrap_err(),
            "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
        );
        assert!(parse_int("").is_err() && parse_int("-").is_err() && parse_int(" 1").is_err());
    }

    #[test]
    fn floats_follow_strconv() {
        for (s, want) in [
            ("1_000", 1000.0),
            ("0.75", 0.75),
            (".5", 0.5),
            ("1.", 1.0),
            ("-1e3", -1000.0),
            ("0x1p-2", 0.25),
            ("Inf", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
        ] {
            assert_eq!(parse_float(s), Ok(want), "{s}");
        }
        assert!(parse_float("NaN").is_ok_and(f64::is_nan));
        for s in ["0x10", "abc", "+nan", "1e", "1__0", "_1", "1_", "", ".", "1e5x", "infx"] {
            assert_eq!(
                parse_float(s),
                Err(format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(s))),
                "{s}"
            );
        }
        assert_eq!(
            parse_float("1e500").unwrap_err(),
            "strconv.ParseFloat: parsing \"1e500\": value out of range"
        );
    }
}

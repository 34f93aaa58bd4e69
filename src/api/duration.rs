//! Go `time.ParseDuration` and the pause-step duration rules, bit for bit.
//!
//! Upstream stores durations as Go duration strings (`interval: 30s`, `duration: 1h30m`) and reads
//! pause durations as an int-or-string. These parsers accept exactly what Go accepts, report the same
//! error texts (`time: invalid duration "x"`), and overflow where Go overflows.

use jiff::SignedDuration;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Why a duration string did not parse. The `Display` texts are Go's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Empty, malformed, or out of the ±292-year range of a Go duration.
    #[error("time: invalid duration {}", go_quote(.input))]
    Invalid {
        /// The whole input.
        input: String,
    },
    /// A number without a unit (`"10"`); only `"0"` may omit it.
    #[error("time: missing unit in duration {}", go_quote(.input))]
    MissingUnit {
        /// The whole input.
        input: String,
    },
    /// A unit other than ns, us, µs, μs, ms, s, m, h.
    #[error("time: unknown unit {} in duration {}", go_quote(.unit), go_quote(.input))]
    UnknownUnit {
        /// The offending unit.
        unit: String,
        /// The whole input.
        input: String,
    },
}

const NANOS_PER_UNIT: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{00b5}s", 1_000),
    ("\u{03bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const LIMIT: u64 = 1 << 63;

/// Parses a Go duration string (`"1h30m"`, `"1.5s"`, `"300ms"`, `"-2m"`, `"0"`).
///
/// A sign may lead; then one or more `<decimal><unit>` terms. `"0"` alone needs no unit, `""` is
/// invalid, and values beyond `i64::MAX` nanoseconds are invalid (`-2562047h47m16.854775808s` is the
/// one value only reachable with a minus sign), all as in Go.
pub fn parse_go_duration(input: &str) -> Result<SignedDuration, DurationError> {
    let invalid = || DurationError::Invalid { input: input.to_owned() };
    let mut s = input.as_bytes();
    let mut negative = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        negative = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(SignedDuration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let before = s.len();
        let (whole, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let had_whole = before != s.len();

        let mut fraction = 0u64;
        let mut scale = 1f64;
        let mut had_fraction = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let before = s.len();
            let (f, sc, rest) = leading_fraction(s);
            fraction = f;
            scale = sc;
            s = rest;
            had_fraction = before != s.len();
        }
        if !had_whole && !had_fraction {
            return Err(invalid());
        }

        let unit_len = s.iter().position(|&c| c == b'.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit { input: input.to_owned() });
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let Some(&(_, per_unit)) = NANOS_PER_UNIT.iter().find(|(name, _)| name.as_bytes() == unit) else {
            return Err(DurationError::UnknownUnit {
                unit: String::from_utf8_lossy(unit).into_owned(),
                input: input.to_owned(),
            });
        };
        if whole > LIMIT / per_unit {
            return Err(invalid());
        }
        let mut value = whole * per_unit;
        if fraction > 0 {
            // Go computes fractions in float64 and truncates, so must we to agree on the last digit.
            value += (fraction as f64 * (per_unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 2^63 here, so the negation fits (2^63 itself becomes i64::MIN, as in Go).
        return Ok(SignedDuration::from_nanos((total as i64).wrapping_neg()));
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(SignedDuration::from_nanos(total as i64))
}

/// Consumes `[0-9]*`; `None` on overflow past 2^63.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > LIMIT {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Consumes `[0-9]*` after a decimal point; digits past u64 precision are dropped, as in Go.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let mut x: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if !overflow {
            if x > (LIMIT - 1) / 10 {
                overflow = true;
            } else {
                let y = x * 10 + u64::from(s[i] - b'0');
                if y > LIMIT {
                    overflow = true;
                } else {
                    x = y;
                    scale *= 10.0;
                }
            }
        }
        i += 1;
    }
    (x, scale, &s[i..])
}

/// Go's `time.quote`: double quotes, `\"` and `\\` escaped, other non-ASCII or control bytes as `\xNN`.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if (c as u32) >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Parses a pause-step duration: an int is seconds; a string is integer seconds or a Go duration.
pub fn parse_pause_duration(value: &IntOrString) -> Result<SignedDuration, DurationError> {
    match value {
        IntOrString::Int(secs) => Ok(SignedDuration::from_secs(i64::from(*secs))),
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(secs) => Ok(SignedDuration::from_secs(i64::from(secs))),
            Err(_) => parse_go_duration(s),
        },
    }
}

/// Upstream's `RolloutPause.DurationSeconds()`: 0 when unset, -1 when unparsable, else whole seconds.
///
/// Quirk kept: Go converts the float seconds with `int32(...)`, which truncates toward zero and, for
/// values outside the int32 range, yields `-2147483648` on the platforms Argo ships for — so a huge
/// duration such as `"1000000h"` reads as negative and fails validation.
pub fn pause_duration_seconds(value: Option<&IntOrString>) -> i32 {
    let Some(value) = value else { return 0 };
    match value {
        IntOrString::Int(secs) => *secs,
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(secs) => secs,
            Err(_) => match parse_go_duration(s) {
                Ok(d) => {
                    let secs = d.as_secs_f64().trunc();
                    if secs >= f64::from(i32::MIN) && secs <= f64::from(i32::MAX) {
                        secs as i32
                    } else {
                        i32::MIN
                    }
                }
                Err(_) => -1,
            },
        },
    }
}

/// Converts a non-negative duration to `std::time::Duration`; `None` when negative.
pub fn to_std(duration: SignedDuration) -> Option<std::time::Duration> {
    std::time::Duration::try_from(duration).ok()
}

/// A command-line duration: a Go duration (`500ms`, `10s`, `1m30s`) or a plain number of seconds; never negative.
pub fn parse_flag_duration(input: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = input.trim().parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs)
            .map_err(|e| format!("invalid duration {input:?}: {e}"));
    }
    let d = parse_go_duration(input.trim()).map_err(|e| e.to_string())?;
    to_std(d).ok_or_else(|| format!("invalid duration {input:?}: must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> Result<i64, String> {
        parse_go_duration(s).map(|d| d.as_nanos() as i64).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_what_go_parses() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("+0", 0),
            ("-0", 0),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("-5s", -5_000_000_000),
            ("+5s", 5_000_000_000),
            ("-0s", 0),
            ("1.5s", 1_500_000_000),
            ("1.s", 1_000_000_000),
            (".5s", 500_000_000),
            ("1.0s", 1_000_000_000),
            ("1.00s", 1_000_000_000),
            ("1.004s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12\u{00b5}s", 12_000),
            ("12\u{03bc}s", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14_000_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("-2m3.4s", -123_400_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("39h9m14.425s", 140_954_425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 360_000_000_000),
            ("0.830103483285477580700h", 2_988_372_539_827),
        ];
        for (input, want) in cases {
            assert_eq!(ns(input), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn rejects_what_go_rejects_with_gos_message() {
        let cases: &[(&str, &str)] = &[
            ("", r#"time: invalid duration """#),
            ("3", r#"time: missing unit in duration "3""#),
            ("-", r#"time: invalid duration "-""#),
            ("s", r#"time: invalid duration "s""#),
            (".", r#"time: invalid duration ".""#),
            ("-.", r#"time: invalid duration "-.""#),
            (".s", r#"time: invalid duration ".s""#),
            ("+.s", r#"time: invalid duration "+.s""#),
            ("1d", r#"time: unknown unit "d" in duration "1d""#),
            ("1 s", r#"time: unknown unit " s" in duration "1 s""#),
            ("5s ", r#"time: unknown unit "s " in duration "5s ""#),
            ("\u{00b5}s", r#"time: invalid duration "\xc2\xb5s""#),
            ("9223372036854775808ns", r#"time: invalid duration "9223372036854775808ns""#),
            ("9223372036854775.808us", r#"time: invalid duration "9223372036854775.808us""#),
            ("9223372036854ms775us808ns", r#"time: invalid duration "9223372036854ms775us808ns""#),
            ("-9223372036854775809ns", r#"time: invalid duration "-9223372036854775809ns""#),
            ("3000000h", r#"time: invalid duration "3000000h""#),
            ("1h1", r#"time: missing unit in duration "1h1""#),
            ("\"1s", r#"time: invalid duration "\"1s""#),
        ];
        for (input, want) in cases {
            assert_eq!(ns(input), Err((*want).to_owned()), "input {input:?}");
        }
    }

    #[test]
    fn pause_durations_read_ints_as_seconds_and_strings_as_seconds_or_go_durations() {
        let int = |i| IntOrString::Int(i);
        let string = |s: &str| IntOrString::String(s.to_owned());
        assert_eq!(pause_duration_seconds(None), 0);
        assert_eq!(pause_duration_seconds(Some(&int(10))), 10);
        assert_eq!(pause_duration_seconds(Some(&int(-3))), -3);
        assert_eq!(pause_duration_seconds(Some(&string("30"))), 30);
        assert_eq!(pause_duration_seconds(Some(&string("+30"))), 30);
        assert_eq!(pause_duration_seconds(Some(&string("30s"))), 30);
        assert_eq!(pause_duration_seconds(Some(&string("1h"))), 3600);
        assert_eq!(pause_duration_seconds(Some(&string("1.9s"))), 1);
        assert_eq!(pause_duration_seconds(Some(&string("500ms"))), 0);
        assert_eq!(pause_duration_seconds(Some(&string("-5s"))), -5);
        assert_eq!(pause_duration_seconds(Some(&string("1d"))), -1);
        assert_eq!(pause_duration_seconds(Some(&string(""))), -1);
        assert_eq!(pause_duration_seconds(Some(&string("1000000h"))), i32::MIN);
        assert_eq!(parse_pause_duration(&string("90")), Ok(SignedDuration::from_secs(90)));
        assert_eq!(parse_pause_duration(&string("1m30s")), Ok(SignedDuration::from_secs(90)));
        assert_eq!(parse_pause_duration(&int(90)), Ok(SignedDuration::from_secs(90)));
        assert!(parse_pause_duration(&string("soon")).is_err());
    }

    #[test]
    fn negative_durations_have_no_std_equivalent() {
        assert_eq!(to_std(SignedDuration::from_secs(-1)), None);
        assert_eq!(to_std(SignedDuration::from_millis(1500)), Some(std::time::Duration::from_millis(1500)));
    }

    #[test]
    fn flag_durations_take_go_forms_or_plain_seconds() {
        use std::time::Duration;
        assert_eq!(parse_flag_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_flag_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_flag_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_flag_duration("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_flag_duration("soon").is_err());
        assert!(parse_flag_duration("-1s").unwrap_err().contains("negative"));
    }
}

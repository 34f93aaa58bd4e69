//! Numbers and JSON rendered exactly as Go's `strconv` and `encoding/json` print them, so measurement values
//! read the same as under Argo Rollouts. Shared by the host and the built-in plugins.

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`, which Prometheus' `SampleValue.String()` uses: `NaN`, `+Inf`,
/// `-Inf`, and otherwise the shortest decimal without an exponent.
pub fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's Display is the shortest round-tripping decimal and never uses an exponent, as Go's 'f', -1.
        format!("{f}")
    }
}

/// Go's `encoding/json` rendering of a float64: 'f' format for 1e-6 <= |f| < 1e21, otherwise 'e' format with
/// a sign on the exponent (`1e+21`, `1e-7`). JSON has no NaN or Inf; Go refuses to encode them, serin renders
/// them as `strconv` would.
pub fn format_float_json(f: f64) -> String {
    if !f.is_finite() {
        return format_float_f(f);
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    let e = format!("{f:e}");
    match e.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
        _ => e,
    }
}

/// `json.Marshal` of a value decoded by `json.Unmarshal` into `interface{}`: numbers are float64, map keys are
/// sorted, HTML characters are escaped as Go does.
pub fn marshal(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_float_json(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, &map[k]);
            }
            out.push('}');
        }
    }
}

/// Appends `s` as a JSON string literal, escaped as Go's `encoding/json` escapes it (since Go 1.22: the short
/// escapes `\b` and `\f` too; HTML-sensitive characters and the JavaScript line separators as `\uXXXX`).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_render_as_go_does() {
        let cases = [
            (1.0, "1", "1"),
            (0.5, "0.5", "0.5"),
            (1e21, "1000000000000000000000", "1e+21"),
            (1e-7, "0.0000001", "1e-7"),
            (123456.789, "123456.789", "123456.789"),
            (f64::NAN, "NaN", "NaN"),
            (f64::INFINITY, "+Inf", "+Inf"),
            (f64::NEG_INFINITY, "-Inf", "-Inf"),
        ];
        for (f, prom, json) in cases {
            assert_eq!(format_float_f(f), prom, "strconv 'f' of {f}");
            assert_eq!(format_float_json(f), json, "json of {f}");
        }
    }

    #[test]
    fn marshal_sorts_keys_and_uses_float_numbers() {
        let v: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":[true,null,"<x>"]}"#).unwrap();
        assert_eq!(marshal(&v), r#"{"a":[true,null,"\u003cx\u003e"],"b":1}"#);
    }
}

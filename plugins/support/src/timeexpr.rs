//! Time expressions of Prometheus `rangeQuery.start` / `end` (Argo evaluates them with expr-lang, e.g.
//! `now() - duration("1h")`) and Go `time.ParseDuration` for `step`.

/// Unix time in seconds, now.
pub fn now_seconds() -> f64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    d.as_secs_f64()
}

/// Argo evaluates these with expr-lang; serin accepts the forms its docs and users write: `now()`,
/// `date("RFC 3339 time")`, and either of those plus or minus any number of `duration("Go duration")` terms.
pub fn eval_time(expression: &str, now: f64) -> Result<f64, String> {
    let expression = expression.trim();
    if expression.is_empty() {
        return Ok(now);
    }
    let mut rest = expression;
    let mut total: Option<f64> = None;
    let mut sign = 1.0;
    loop {
        rest = rest.trim_start();
        let (term, after) = call(rest).ok_or_else(|| unsupported(expression))?;
        match (term, total) {
            (Term::Time(t), None) => total = Some(t.unwrap_or(now)),
            (Term::Duration(d), Some(acc)) => total = Some(acc + sign * d),
            _ => return Err(unsupported(expression)),
        }
        rest = after.trim_start();
        match rest.chars().next() {
            None => break,
            Some('+') => sign = 1.0,
            Some('-') => sign = -1.0,
            Some(_) => return Err(unsupported(expression)),
        }
        rest = &rest[1..];
    }
    total.ok_or_else(|| unsupported(expression))
}

fn unsupported(expression: &str) -> String {
    format!(
        "unsupported time expression {expression:?}: use now() or date(\"...\") plus or minus duration(\"...\") terms"
    )
}

enum Term {
    /// `now()` is `None`; `date(...)` carries its instant.
    Time(Option<f64>),
    Duration(f64),
}

/// Parses one `name(args)` call at the start of `s`.
fn call(s: &str) -> Option<(Term, &str)> {
    let open = s.find('(')?;
    let name = s[..open].trim();
    let close = open + s[open..].find(')')?;
    let arg = s[open + 1..close].trim();
    let text = arg.strip_prefix('"').and_then(|a| a.strip_suffix('"'));
    let term = match (name, text) {
        ("now", None) if arg.is_empty() => Term::Time(None),
        ("date", Some(t)) => Term::Time(Some(parse_rfc3339(t)?)),
        ("duration", Some(d)) => Term::Duration(parse_go_duration(d).ok()?),
        _ => return None,
    };
    Some((term, &s[close + 1..]))
}

/// RFC 3339 time (`2006-01-02T15:04:05.999Z` or with a `+07:00` offset) as Unix seconds.
fn parse_rfc3339(s: &str) -> Option<f64> {
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) =
        (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let mut t = time.split(':');
    let (h, mi): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next()?.parse().ok()?;
    let offset = match zone.chars().next() {
        None | Some('Z' | 'z') => 0,
        Some(c) => {
            let (oh, om) = zone[1..].split_once(':')?;
            let secs = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
            if c == '-' { -secs } else { secs }
        }
    };
    Some((days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 - offset) as f64 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Go's `time.ParseDuration`, in seconds.
pub fn parse_go_duration(s: &str) -> Result<f64, String> {
    let orig = s;
    let (neg, mut s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s == "0" {
        return Ok(0.0);
    }
    if s.is_empty() {
        return Err(format!("time: invalid duration {orig:?}"));
    }
    let mut total = 0.0;
    while !s.is_empty() {
        let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        if num_end == 0 {
            return Err(format!("time: invalid duration {orig:?}"));
        }
        let n: f64 = s[..num_end].parse().map_err(|_| format!("time: invalid duration {orig:?}"))?;
        s = &s[num_end..];
        let unit_end = s.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(s.len());
        let unit = match &s[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {orig:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {orig:?}")),
        };
        total += n * unit;
        s = &s[unit_end..];
    }
    Ok(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m30s"), Ok(90.0));
        assert_eq!(parse_go_duration("1.5h"), Ok(5400.0));
        assert_eq!(parse_go_duration("0"), Ok(0.0));
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn time_expressions() {
        assert_eq!(eval_time("now()", 1000.0), Ok(1000.0));
        assert_eq!(eval_time(r#"now() - duration("1m")"#, 1000.0), Ok(940.0));
        assert_eq!(eval_time(r#"date("1970-01-01T00:10:00Z") + duration("30s")"#, 0.0), Ok(630.0));
        assert_eq!(eval_time(r#"date("1970-01-01T01:00:00+01:00")"#, 0.0), Ok(0.0));
        assert!(eval_time("duration(\"1m\")", 0.0).is_err());
        assert!(eval_time("yesterday", 0.0).is_err());
    }
}

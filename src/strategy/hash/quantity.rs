//! `resource.Quantity` as Go reads and writes it: parsed from a JSON string or number, then written in canonical
//! form (`0.5` → `500m`, `1024Ki` → `1Mi`, `1000` → `1k`), as apimachinery's `ParseQuantity` and
//! `CanonicalizeBytes` do. Values are held exactly as `mantissa × 10^scale` (i128), which covers every quantity
//! that fits Go's int64 fast path and far beyond it.

/// The notation a quantity was written in, which its canonical form keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// Go's `resource.Quantity` JSON for a value read from `text` (the JSON string, or a JSON number's digits).
pub fn canonical(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("quantities must match the regular expression".into());
    }
    if text == "0" {
        return Ok("0".into());
    }
    let parsed = parse(text).ok_or_else(|| format!("unable to parse quantity {text:?}"))?;
    if parsed.keeps_text {
        return Ok(text.to_string());
    }
    Ok(parsed.canonical())
}

/// A quantity's value in billionths (`100m` → 100,000,000), as `ParseQuantity` reads it (values below a
/// nano-unit rounded up); `None` when the text is not a quantity or the value does not fit.
pub fn nanos(text: &str) -> Option<i128> {
    let p = parse(text.trim())?;
    // `parse` never leaves the scale below -9.
    let scaled = p.mantissa.checked_mul(10i128.checked_pow(u32::try_from(p.scale + 9).ok()?)?)?;
    Some(if p.negative { -scaled } else { scaled })
}

struct Parsed {
    /// `ParseQuantity` keeps the text as written when it is already in canonical form (leading zeros and a
    /// `+` survive this check), and Go then writes that text back.
    keeps_text: bool,
    negative: bool,
    /// |value| = mantissa × 10^scale.
    mantissa: i128,
    scale: i32,
    format: Format,
}

fn parse(s: &str) -> Option<Parsed> {
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut negative = false;
    match bytes.first() {
        Some(b'-') => {
            negative = true;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let n = digits(pos);
    let num = &s[pos..pos + n];
    pos += n;
    let mut denom = "";
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let d = digits(pos);
        denom = &s[pos..pos + d];
        pos += d;
    }
    if num.is_empty() && denom.is_empty() {
        return None;
    }
    let suffix = &s[pos..];
    let (base, exponent, format) = interpret(suffix)?;
    let keeps_text = keeps_text(num, denom, exponent, format);
    let digits_value: i128 = format!("{}{denom}", if num.is_empty() { "0" } else { num }).parse().ok()?;
    let mut scale = -(denom.len() as i32);
    let mut mantissa = digits_value;
    if base == 10 {
        scale = scale.checked_add(exponent)?;
    } else {
        mantissa = mantissa.checked_mul(1i128.checked_shl(exponent as u32)?)?;
    }
    // Values below a nano-unit are rounded up to one, away from zero.
    if scale < -9 {
        let divisor = 10i128.checked_pow((-9 - scale) as u32)?;
        let q = mantissa / divisor;
        mantissa = if mantissa % divisor != 0 { q + 1 } else { q };
        scale = -9;
    }
    let mut format = format;
    if format == Format::BinarySi && mantissa != 0 && value_below_one(mantissa, scale) {
        format = Format::DecimalSi;
    }
    Some(Parsed { keeps_text, negative, mantissa, scale, format })
}

/// The fast path of `ParseQuantity` that reuses the input string. `num` is the integer part without leading
/// zeros ("0" when there is none), `denom` the fraction's digits.
fn keeps_text(num: &str, denom: &str, exponent: i32, format: Format) -> bool {
    let num = if num.trim_start_matches('0').is_empty() { "0" } else { num.trim_start_matches('0') };
    let digits = (num.len() + denom.len()) as i32;
    let (precision, mut scale, mantissa) = match format {
        Format::DecimalExponent | Format::DecimalSi => (18 - digits, exponent, 1i64),
        Format::BinarySi if exponent >= 0 && denom.is_empty() => {
            let precision = 15 - num.len() as i32 - (exponent as f32 * 3.0 / 10.0) as i32 - 1;
            (precision, 0, 1i64 << exponent)
        }
        Format::BinarySi => (-1, 0, 1),
    };
    if precision < 0 {
        return false;
    }
    scale -= denom.len() as i32;
    if scale < -9 {
        return false;
    }
    let shifted = format!("{num}{denom}");
    let Ok(value) = shifted.parse::<i64>() else { return false };
    if value.checked_mul(mantissa).is_none() {
        return false;
    }
    match format {
        Format::BinarySi => exponent % 10 == 0 && value & 0x07 != 0,
        _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
    }
}

fn value_below_one(mantissa: i128, scale: i32) -> bool {
    scale < 0 && 10i128.checked_pow((-scale) as u32).is_some_and(|p| mantissa < p)
}

fn interpret(suffix: &str) -> Option<(i32, i32, Format)> {
    let decimal = |e| Some((10, e, Format::DecimalSi));
    let binary = |e| Some((2, e, Format::BinarySi));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            Some((10, s[1..].parse().ok()?, Format::DecimalExponent))
        }
        _ => None,
    }
}

impl Parsed {
    fn canonical(&self) -> String {
        if self.mantissa == 0 {
            return "0".into();
        }
        let sign = if self.negative { "-" } else { "" };
        if self.format == Format::BinarySi
            && let Some(integer) = self.integer()
            && integer >= 1024
        {
            let (mut amount, mut times) = (integer, 0);
            while amount >= 1024 && amount % 1024 == 0 && times < 6 {
                amount /= 1024;
                times += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][times];
            return format!("{sign}{amount}{suffix}");
        }
        let (mut amount, mut exponent) = (self.mantissa, self.scale);
        while amount >= 10 && amount % 10 == 0 {
            amount /= 10;
            exponent += 1;
        }
        match exponent.rem_euclid(3) {
            1 => {
                amount *= 10;
                exponent -= 1;
            }
            2 => {
                amount *= 100;
                exponent -= 2;
            }
            _ => {}
        }
        let suffix = if self.format == Format::DecimalExponent {
            if exponent == 0 { String::new() } else { format!("e{exponent}") }
        } else {
            match exponent {
                -9 => "n".into(),
                -6 => "u".into(),
                -3 => "m".into(),
                0 => String::new(),
                3 => "k".into(),
                6 => "M".into(),
                9 => "G".into(),
                12 => "T".into(),
                15 => "P".into(),
                18 => "E".into(),
                e => format!("e{e}"),
            }
        };
        format!("{sign}{amount}{suffix}")
    }

    /// The value as an integer, when it is one.
    fn integer(&self) -> Option<i128> {
        if self.scale >= 0 {
            return self.mantissa.checked_mul(10i128.checked_pow(self.scale as u32)?);
        }
        let divisor = 10i128.checked_pow((-self.scale) as u32)?;
        (self.mantissa % divisor == 0).then_some(self.mantissa / divisor)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_in_billionths() {
        for (text, want) in [
            ("100m", Some(100_000_000)),
            ("0.1", Some(100_000_000)),
            ("64Mi", Some(64 * (1 << 20) * 1_000_000_000)),
            ("1.5Gi", Some(3 * (1 << 29) * 1_000_000_000)),
            ("2e3", Some(2_000_000_000_000)),
            ("-1", Some(-1_000_000_000)),
            ("1n", Some(1)),
            ("0.1n", Some(1)),
            ("x", None),
        ] {
            assert_eq!(super::nanos(text), want, "{text}");
        }
    }

    use super::canonical;

    /// Canonical forms as apimachinery writes them (its own quantity tests hold the same pairs).
    #[test]
    fn quantities_are_written_in_canonical_form() {
        for (input, expected) in [
            ("0", "0"),
            ("0.0", "0"),
            ("1", "1"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1k", "1k"),
            ("1.5k", "1500"),
            ("2M", "2M"),
            ("1Ki", "1Ki"),
            ("1024Ki", "1Mi"),
            ("1.5Gi", "1536Mi"),
            ("512Mi", "512Mi"),
            ("0.5Ki", "512"),
            ("1023", "1023"),
            ("0.5Mi", "512Ki"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("-1", "-1"),
            ("-0.5", "-500m"),
            ("0.0000000001", "1n"),
            ("1.1n", "2n"),
            ("123456789n", "123456789n"),
            ("007", "007"),
            ("+5", "+5"),
            ("1E6", "1E6"),
            ("8Ki", "8Ki"),
            ("1.000", "1"),
            ("10e-3", "10e-3"),
            ("16Mi", "16Mi"),
            ("32Mi", "32Mi"),
            ("5m", "5m"),
        ] {
            assert_eq!(canonical(input).as_deref(), Ok(expected), "{input}");
        }
        for bad in ["", "abc", "1x", "1.2.3", "Mi"] {
            assert!(canonical(bad).is_err(), "{bad:?} should not parse");
        }
    }
}

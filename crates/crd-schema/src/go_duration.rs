//! Go `time.ParseDuration`: the one parser behind the `duration` string format and
//! `karpenter-convert`'s duration normalisation.

/// Nanoseconds per unit, two-letter units first so that `ms` is not read as `m` then `s`.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 micro sign
    ("μs", 1_000), // U+03BC Greek small letter mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// `1 << 63`: the magnitude of Go's `math.MinInt64`; durations are `int64` nanoseconds.
const LIMIT: u128 = 1 << 63;

/// Parse a Go duration (`1h30m`, `-1.5s`, `500ms`, `0`) into signed nanoseconds, as Go's
/// `time.ParseDuration` does: an optional sign, then one or more `<decimal><unit>` with units
/// ns, us (µs, μs), ms, s, m, h. Returns `None` for anything Go rejects, including durations
/// outside `int64` nanoseconds (about ±292 years). Fractions finer than a nanosecond are truncated.
pub fn parse(text: &str) -> Option<i128> {
    let (negative, s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut whole: u128 = 0;
        for b in rest[..int_len].bytes() {
            whole = whole * 10 + u128::from(b - b'0');
            if whole > LIMIT {
                return None;
            }
        }
        rest = &rest[int_len..];
        let (mut frac, mut scale, mut frac_len) = (0u128, 1u128, 0);
        if let Some(after_dot) = rest.strip_prefix('.') {
            frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            // Digits past the 19th are below a nanosecond for every unit: ignored, as Go does.
            for b in after_dot[..frac_len].bytes().take(19) {
                frac = frac * 10 + u128::from(b - b'0');
                scale *= 10;
            }
            rest = &after_dot[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return None;
        }
        let (unit, nanos) = UNITS.iter().find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total = total
            .checked_add(whole.checked_mul(*nanos)?)?
            .checked_add(frac * nanos / scale)?;
        if total > LIMIT {
            return None;
        }
    }
    if negative {
        Some(-(total as i128))
    } else if total == LIMIT {
        None
    } else {
        Some(total as i128)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn go_syntax() {
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("-0"), Some(0));
        assert_eq!(parse("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse("720h"), Some(2_592_000_000_000_000));
        assert_eq!(parse("1.5s"), Some(1_500_000_000));
        assert_eq!(parse(".5s"), Some(500_000_000));
        assert_eq!(parse("1.s"), Some(1_000_000_000));
        assert_eq!(parse("100ms"), Some(100_000_000));
        assert_eq!(parse("1m1ms"), Some(60_001_000_000));
        assert_eq!(parse("3µs"), Some(3_000));
        assert_eq!(parse("3μs"), Some(3_000));
        assert_eq!(parse("-1.5h"), Some(-5_400_000_000_000));
        assert_eq!(parse("+7ns"), Some(7));
        assert_eq!(parse("1.0000000001s"), Some(1_000_000_000));
        for bad in [
            "", "+", "-", "5d", "h", "1", "1h30", ".s", "1..5s", "1 s", "1sec", "1mss", " 1s",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn int64_nanosecond_range() {
        assert_eq!(parse("9223372036854775807ns"), Some(i128::from(i64::MAX)));
        assert_eq!(parse("9223372036854775808ns"), None);
        assert_eq!(parse("-9223372036854775808ns"), Some(i128::from(i64::MIN)));
        assert_eq!(
            parse("2562047h47m16.854775807s"),
            Some(i128::from(i64::MAX))
        );
        assert_eq!(parse("2562048h"), None);
        assert_eq!(parse("99999999999999999999999h"), None);
    }
}

//! Go `time.Duration` formatting, as Karpenter writes durations (`2592000` seconds → `720h0m0s`,
//! `1m` → `1m0s`); parsing is `crd-schema`'s [`crd_schema::go_duration`].

/// The longest Go `time.Duration` in whole seconds (`math.MaxInt64` nanoseconds, about 292 years);
/// Karpenter cannot read a longer duration.
pub const MAX_SECONDS: u64 = i64::MAX as u64 / 1_000_000_000;

/// Format whole seconds as Go's `time.Duration.String()` does: `720h0m0s`, `1m30s`, `30s`, `0s`.
pub fn format_seconds(secs: u64) -> String {
    format_nanos(u128::from(secs) * 1_000_000_000)
}

/// Format a non-negative number of nanoseconds as Go's `time.Duration.String()` does.
pub fn format_nanos(nanos: u128) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, div) = if nanos < 1_000 {
            ("ns", 1u128)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, div));
    }
    let hours = nanos / 3_600_000_000_000;
    let rem = nanos % 3_600_000_000_000;
    let minutes = rem / 60_000_000_000;
    let sec_nanos = rem % 60_000_000_000;
    let secs = fraction(sec_nanos, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `value / div` as a decimal without trailing zeros (`1500, 1000` → `1.5`).
fn fraction(value: u128, div: u128) -> String {
    let whole = value / div;
    let frac = value % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Parse a Go duration string (`1h30m`, `90s`, `1.5m`, `500ms`) into nanoseconds, with
/// [`crd_schema::go_duration::parse`]; surrounding whitespace is ignored. Negative durations are
/// rejected. Returns `None` when the text is not a duration.
pub fn parse_go(text: &str) -> Option<u128> {
    let s = text.trim();
    if s.starts_with('-') {
        return None;
    }
    crd_schema::go_duration::parse(s).and_then(|nanos| u128::try_from(nanos).ok())
}

/// What to tell a user whose `text` is not a duration Karpenter can read.
pub fn invalid_message(text: &str) -> String {
    format!(
        "`{text}` is not a duration Karpenter can read: use Go syntax such as 1m30s or 720h \
         (non-negative, at most 2562047h47m16s)"
    )
}

/// Normalise a Go duration string to Go's canonical form (`1m` → `1m0s`); `None` if invalid.
pub fn normalize(text: &str) -> Option<String> {
    parse_go(text).map(format_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_go_form() {
        assert_eq!(format_seconds(2_592_000), "720h0m0s");
        assert_eq!(format_seconds(30), "30s");
        assert_eq!(format_seconds(90), "1m30s");
        assert_eq!(format_seconds(3600), "1h0m0s");
        assert_eq!(format_seconds(0), "0s");
    }

    #[test]
    fn sub_second_and_fractions() {
        assert_eq!(format_nanos(1_500_000_000), "1.5s");
        assert_eq!(format_nanos(500_000_000), "500ms");
        assert_eq!(format_nanos(1_500), "1.5µs");
        assert_eq!(format_nanos(7), "7ns");
    }

    #[test]
    fn parse_and_normalise() {
        assert_eq!(normalize("1m").as_deref(), Some("1m0s"));
        assert_eq!(normalize("1h30m").as_deref(), Some("1h30m0s"));
        assert_eq!(normalize("1.5m").as_deref(), Some("1m30s"));
        assert_eq!(normalize("90s").as_deref(), Some("1m30s"));
        assert_eq!(normalize("0").as_deref(), Some("0s"));
        assert_eq!(normalize("300ms").as_deref(), Some("300ms"));
        assert_eq!(normalize(" 2h "), Some("2h0m0s".to_string()));
        assert_eq!(
            normalize("2562047h47m16s").as_deref(),
            Some("2562047h47m16s")
        );
        assert_eq!(normalize("-1s"), None);
        assert_eq!(normalize("-0"), None);
        assert_eq!(normalize("2562048h"), None);
        assert_eq!(normalize("1d"), None);
        assert_eq!(normalize("abc"), None);
        assert_eq!(normalize(""), None);
    }
}

//! Cron schedules as Karpenter reads them: `github.com/robfig/cron/v3`'s `ParseStandard`
//! (five fields `minute hour day-of-month month day-of-week`, or a descriptor such as `@daily`),
//! evaluated in UTC.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/apis/v1/nodepool.go` (`Budget.IsActive` parses
//! `"TZ=UTC " + schedule` with `cron.ParseStandard` and asks for `Next`), and robfig/cron's
//! `parser.go` (field syntax) and `spec.go` (`SpecSchedule.Next`). The Kubernetes CronJob
//! controller parses its schedules with the same function, so this is also the one cron parser
//! for `scale-to-zero schedule`.
//!
//! Rules reproduced from robfig/cron:
//! - a field is a comma list of `*`, `?`, `N`, `N-M`, each optionally `/STEP`; `N/STEP` means
//!   `N-max/STEP`; month and day-of-week also take three-letter names (case-insensitive);
//! - day-of-week is 0–6 (Sunday is 0; 7 is rejected);
//! - when day-of-month or day-of-week starts with `*` or `?` (and has no step above 1), both
//!   must match; otherwise either may match (Vixie cron's rule);
//! - `Next(t)` is the first whole minute strictly after `t` (rounded up to the second), searched
//!   at most five years ahead; beyond that it returns nothing;
//! - `TZ=`/`CRON_TZ=` prefixes are refused: Karpenter already prefixes `TZ=UTC`, so a second
//!   time zone makes robfig see six fields.
use k8s_openapi::jiff::Timestamp;

/// A cron expression that robfig/cron's `ParseStandard` would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Empty string.
    #[error("the schedule is empty: use five fields \"minute hour day-of-month month day-of-week\", e.g. \"0 9 * * mon-fri\"")]
    Empty,
    /// A time-zone prefix.
    #[error("time zones are not allowed in the schedule (Karpenter evaluates budgets in UTC)")]
    TimeZone,
    /// An `@` descriptor robfig does not know.
    #[error("unknown macro @{0} (use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>)")]
    Descriptor(String),
    /// `@every` with a bad duration.
    #[error("@every needs a Go duration such as 1h30m, got {0:?}")]
    Every(String),
    /// Not five fields.
    #[error("found {0} fields, expected 5 (minute hour day-of-month month day-of-week)")]
    FieldCount(usize),
    /// A field is malformed.
    #[error("{field} field {text:?}: {problem}")]
    Field {
        /// `minute`, `hour`, `day-of-month`, `month` or `day-of-week`.
        field: &'static str,
        /// The field's text.
        text: String,
        /// What is wrong with it.
        problem: String,
    },
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Set on a field written as `*` or `?` (robfig's `starBit`).
const STAR: u64 = 1 << 63;

struct Bounds {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The number the first name stands for.
    first: u32,
}

const MINUTE: Bounds = Bounds {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    first: 0,
};
const HOUR: Bounds = Bounds {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    first: 0,
};
const DOM: Bounds = Bounds {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    first: 0,
};
const MONTH: Bounds = Bounds {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTHS,
    first: 1,
};
const DOW: Bounds = Bounds {
    name: "day-of-week",
    min: 0,
    max: 6,
    names: &DAYS,
    first: 0,
};

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Five cron fields, as bit sets (bit `n` set when value `n` matches).
    Spec {
        /// Minutes 0–59.
        minute: u64,
        /// Hours 0–23.
        hour: u64,
        /// Days of the month 1–31 (plus the star bit).
        dom: u64,
        /// Months 1–12.
        month: u64,
        /// Days of the week 0–6 (plus the star bit).
        dow: u64,
    },
    /// `@every <duration>`: a constant delay in whole seconds (at least 1).
    Every(i64),
}

fn parse_number(s: &str, b: &Bounds) -> Result<u32, String> {
    if let Some(i) = b.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + b.first);
    }
    s.parse::<u32>()
        .map_err(|_| format!("{s:?} is not a number"))
}

fn parse_range(expr: &str, b: &Bounds) -> Result<u64, String> {
    let parts: Vec<&str> = expr.split('/').collect();
    if parts.len() > 2 {
        return Err(format!("too many slashes in {expr:?}"));
    }
    let low_high: Vec<&str> = parts[0].split('-').collect();
    let single = low_high.len() == 1;
    let (mut start, mut end, mut extra);
    if low_high[0] == "*" || low_high[0] == "?" {
        start = b.min;
        end = b.max;
        extra = STAR;
    } else {
        extra = 0;
        start = parse_number(low_high[0], b)?;
        end = match low_high.len() {
            1 => start,
            2 => parse_number(low_high[1], b)?,
            _ => return Err(format!("too many hyphens in {expr:?}")),
        };
    }
    let step = match parts.get(1) {
        None => 1,
        Some(s) => {
            let step = s
                .parse::<u32>()
                .map_err(|_| format!("step {s:?} must be a positive number"))?;
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
    };
    if start < b.min {
        return Err(format!("{start} is below the minimum {}", b.min));
    }
    if end > b.max {
        return Err(format!("{end} is above the maximum {}", b.max));
    }
    if start > end {
        return Err(format!("range {start}-{end} is backwards"));
    }
    if step == 0 {
        return Err("step 0 must be a positive number".to_string());
    }
    let mut bits = 0u64;
    while start <= end {
        bits |= 1 << start;
        start += step;
    }
    Ok(bits | extra)
}

fn parse_field(text: &str, b: &Bounds) -> Result<u64, CronError> {
    let mut bits = 0;
    for item in text.split(',') {
        let r = if item.is_empty() {
            Err("empty list item".to_string())
        } else {
            parse_range(item, b)
        };
        bits |= r.map_err(|problem| CronError::Field {
            field: b.name,
            text: text.to_string(),
            problem,
        })?;
    }
    Ok(bits)
}

impl Schedule {
    /// Parse as robfig/cron's `ParseStandard` does (after Karpenter's `TZ=UTC` prefix).
    pub fn parse(expr: &str) -> Result<Schedule, CronError> {
        let s = expr.trim();
        if s.is_empty() {
            return Err(CronError::Empty);
        }
        if s.starts_with("TZ=") || s.starts_with("CRON_TZ=") {
            return Err(CronError::TimeZone);
        }
        if let Some(d) = s.strip_prefix('@') {
            let all = |b: &Bounds| parse_range("*", b).expect("star parses");
            let one = |v: u32| 1u64 << v;
            let spec = |minute, hour, dom, month, dow| Schedule::Spec {
                minute,
                hour,
                dom,
                month,
                dow,
            };
            return Ok(match d {
                "yearly" | "annually" => spec(one(0), one(0), one(1), one(1), all(&DOW)),
                "monthly" => spec(one(0), one(0), one(1), all(&MONTH), all(&DOW)),
                "weekly" => spec(one(0), one(0), all(&DOM), all(&MONTH), one(0)),
                "daily" | "midnight" => spec(one(0), one(0), all(&DOM), all(&MONTH), all(&DOW)),
                "hourly" => spec(one(0), all(&HOUR), all(&DOM), all(&MONTH), all(&DOW)),
                _ => match d.strip_prefix("every ") {
                    Some(dur) => {
                        let nanos = crd_schema::go_duration::parse(dur.trim())
                            .ok_or_else(|| CronError::Every(dur.trim().to_string()))?;
                        // robfig: below one second means one second; truncated to seconds.
                        Schedule::Every(((nanos / 1_000_000_000) as i64).max(1))
                    }
                    None => return Err(CronError::Descriptor(d.to_string())),
                },
            });
        }
        let fields: Vec<&str> = s.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::FieldCount(fields.len()));
        }
        Ok(Schedule::Spec {
            minute: parse_field(fields[0], &MINUTE)?,
            hour: parse_field(fields[1], &HOUR)?,
            dom: parse_field(fields[2], &DOM)?,
            month: parse_field(fields[3], &MONTH)?,
            dow: parse_field(fields[4], &DOW)?,
        })
    }

    /// The first activation strictly after `t` (robfig's `Next`), or `None` when there is none
    /// within five years (robfig then returns the zero time).
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        let secs = next_secs(self, t.as_second())?;
        Timestamp::from_second(secs).ok()
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

struct Fields {
    year: i64,
    month: u32,
    day: u32,
    weekday: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

fn fields(t: i64) -> Fields {
    let days = t.div_euclid(86_400);
    let rem = t.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Fields {
        year,
        month,
        day,
        weekday: (days + 4).rem_euclid(7) as u32,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
    }
}

fn has(bits: u64, v: u32) -> bool {
    bits & (1 << v) != 0
}

/// robfig's `SpecSchedule.Next` in UTC over whole seconds since the epoch.
fn next_secs(s: &Schedule, t: i64) -> Option<i64> {
    let (minute, hour, dom, month, dow) = match *s {
        Schedule::Every(delay) => return Some(t + delay),
        Schedule::Spec {
            minute,
            hour,
            dom,
            month,
            dow,
        } => (minute, hour, dom, month, dow),
    };
    let day_matches = |f: &Fields| {
        let d = has(dom, f.day);
        let w = has(dow, f.weekday);
        if dom & STAR != 0 || dow & STAR != 0 {
            d && w
        } else {
            d || w
        }
    };
    // Round up to the next whole second (timestamps here are already whole seconds).
    let mut t = t + 1;
    let mut added = false;
    let year_limit = fields(t).year + 5;
    'wrap: loop {
        let f = fields(t);
        if f.year > year_limit {
            return None;
        }
        let mut f = f;
        while !has(month, f.month) {
            if !added {
                added = true;
                t = days_from_civil(f.year, f.month, 1) * 86_400;
            }
            let (y, m) = if f.month == 12 {
                (f.year + 1, 1)
            } else {
                (f.year, f.month + 1)
            };
            t = days_from_civil(y, m, 1) * 86_400 + t.rem_euclid(86_400);
            f = fields(t);
            if f.month == 1 {
                continue 'wrap;
            }
        }
        while !day_matches(&f) {
            if !added {
                added = true;
                t -= t.rem_euclid(86_400);
            }
            t += 86_400;
            f = fields(t);
            if f.day == 1 {
                continue 'wrap;
            }
        }
        while !has(hour, f.hour) {
            if !added {
                added = true;
                t -= t.rem_euclid(3600);
            }
            t += 3600;
            f = fields(t);
            if f.hour == 0 {
                continue 'wrap;
            }
        }
        while !has(minute, f.minute) {
            if !added {
                added = true;
                t -= t.rem_euclid(60);
            }
            t += 60;
            f = fields(t);
            if f.minute == 0 {
                continue 'wrap;
            }
        }
        // ParseStandard fixes the seconds field at 0.
        while f.second != 0 {
            if !added {
                added = true;
            }
            t += 1;
            f = fields(t);
            if f.second == 0 {
                continue 'wrap;
            }
        }
        return Some(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(expr: &str, after: &str) -> Option<String> {
        Schedule::parse(expr)
            .unwrap()
            .next(ts(after))
            .map(|t| t.to_string())
    }

    #[test]
    fn civil_round_trips() {
        for days in [-800_000, -1, 0, 1, 59, 365, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 2024-02-29 exists; 1970-01-01 was a Thursday.
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(fields(0).weekday, 4);
    }

    #[test]
    fn next_is_strictly_after() {
        assert_eq!(
            next("0 9 * * *", "2026-01-05T09:00:00Z").as_deref(),
            Some("2026-01-06T09:00:00Z")
        );
        assert_eq!(
            next("0 9 * * *", "2026-01-05T08:59:59.5Z").as_deref(),
            Some("2026-01-05T09:00:00Z")
        );
        assert_eq!(
            next("*/15 * * * *", "2026-01-05T10:07:00Z").as_deref(),
            Some("2026-01-05T10:15:00Z")
        );
    }

    #[test]
    fn weekdays_names_and_month_rollover() {
        // 2026-01-03 is a Saturday: the next weekday 09:00 is Monday the 5th.
        assert_eq!(
            next("0 9 * * mon-fri", "2026-01-03T12:00:00Z").as_deref(),
            Some("2026-01-05T09:00:00Z")
        );
        assert_eq!(
            next("30 2 1 */3 *", "2026-02-10T00:00:00Z").as_deref(),
            Some("2026-04-01T02:30:00Z")
        );
        assert_eq!(
            next("0 0 29 feb *", "2026-03-01T00:00:00Z").as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
        assert_eq!(
            next("@yearly", "2026-06-01T00:00:00Z").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            next("@weekly", "2026-01-05T00:00:00Z").as_deref(),
            Some("2026-01-11T00:00:00Z")
        );
        assert_eq!(
            next("@hourly", "2026-01-05T23:10:00Z").as_deref(),
            Some("2026-01-06T00:00:00Z")
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_restricted() {
        // Both restricted: the 15th OR a Monday. After Sat 2026-01-10 the next is Mon the 12th.
        assert_eq!(
            next("0 0 15 * 1", "2026-01-10T00:00:00Z").as_deref(),
            Some("2026-01-12T00:00:00Z")
        );
        // Day-of-week is `*`: both must match, i.e. only the 15th.
        assert_eq!(
            next("0 0 15 * *", "2026-01-10T00:00:00Z").as_deref(),
            Some("2026-01-15T00:00:00Z")
        );
        // `*/2` (odd days) clears the star bit as its step is above 1: OR again, so Monday the
        // 12th matches by weekday although 12 is even (AND would wait for Monday the 19th).
        assert_eq!(
            next("0 0 */2 * 1", "2026-01-11T12:00:00Z").as_deref(),
            Some("2026-01-12T00:00:00Z")
        );
    }

    #[test]
    fn never_firing_schedule_has_no_next() {
        assert_eq!(next("0 0 30 2 *", "2026-01-01T00:00:00Z"), None);
    }

    #[test]
    fn every_descriptor() {
        assert_eq!(
            next("@every 1h30m", "2026-01-01T00:00:00Z").as_deref(),
            Some("2026-01-01T01:30:00Z")
        );
        assert!(matches!(
            Schedule::parse("@every soon"),
            Err(CronError::Every(_))
        ));
    }

    #[test]
    fn accepts_what_robfig_accepts() {
        for ok in [
            "30 22 * * 1-5",
            "0 7 * * mon-fri",
            "*/15 0-6,20-23 1,15 jan-jun 0",
            "0 0 * * 0-6",
            "? ? ? ? ?",
            "5/10 * * * SUN",
            "@daily",
            "@midnight",
            "@annually",
            "@monthly",
        ] {
            assert!(Schedule::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_expressions_saying_why() {
        let cases = [
            ("", "empty"),
            ("30 22 * *", "found 4 fields"),
            ("0 0 0 * * *", "found 6 fields"),
            ("60 22 * * *", "minute field"),
            ("0 24 * * *", "hour field"),
            ("0 0 0 * *", "day-of-month field"),
            ("0 0 * 13 *", "month field"),
            ("0 0 * * 7", "day-of-week field"),
            ("0 0 * * fri-mon", "backwards"),
            ("*/0 0 * * *", "step"),
            ("1-2-3 0 * * *", "hyphens"),
            ("1/2/3 0 * * *", "slashes"),
            ("1,,2 0 * * *", "empty list item"),
            ("TZ=UTC 0 0 * * *", "time zones"),
            ("@sometimes", "unknown macro"),
            ("a b c d e", "not a number"),
        ];
        for (bad, why) in cases {
            let err = Schedule::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_string()),
            (min..=max).prop_map(|v| v.to_string()),
            (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
            (1u32..7).prop_map(|s| format!("*/{s}")),
            proptest::collection::vec(min..=max, 1..4).prop_map(|v| v
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")),
        ]
    }

    fn brute(s: &Schedule, after: i64) -> Option<i64> {
        let Schedule::Spec {
            minute,
            hour,
            dom,
            month,
            dow,
        } = *s
        else {
            unreachable!()
        };
        let mut t = (after.div_euclid(60) + 1) * 60;
        for _ in 0..(60 * 24 * 62) {
            let f = fields(t);
            let day = if dom & STAR != 0 || dow & STAR != 0 {
                has(dom, f.day) && has(dow, f.weekday)
            } else {
                has(dom, f.day) || has(dow, f.weekday)
            };
            if has(minute, f.minute) && has(hour, f.hour) && has(month, f.month) && day {
                return Some(t);
            }
            t += 60;
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// `next` agrees with a minute-by-minute search for schedules that fire at least every
        /// two months (every month is allowed, so a hit comes within 62 days unless the day
        /// fields never meet).
        #[test]
        fn next_matches_brute_force(
            mi in field(0, 59),
            h in field(0, 23),
            dom in prop_oneof![Just("*".to_string()), field(1, 28)],
            dow in field(0, 6),
            start in 1_767_225_600i64..1_798_761_600,
        ) {
            let expr = format!("{mi} {h} {dom} * {dow}");
            let s = Schedule::parse(&expr).unwrap();
            let want = brute(&s, start);
            prop_assume!(want.is_some());
            prop_assert_eq!(next_secs(&s, start), want, "{}", expr);
        }
    }
}

//! `scale-to-zero schedule`: render the ServiceAccount, RBAC and two CronJobs from
//! `templates/scale-to-zero/`, after validating the cron expressions and the time zone.

/// ServiceAccount, ClusterRole and ClusterRoleBinding.
pub const RBAC_TEMPLATE: &str = include_str!("../../templates/scale-to-zero/rbac.yaml");
/// One CronJob (rendered once for `down`, once for `up`).
pub const CRONJOB_TEMPLATE: &str = include_str!("../../templates/scale-to-zero/cronjob.yaml");

/// The image used when `--image` is not given.
pub fn default_image() -> String {
    format!(
        "ghcr.io/kubectl-karpenter/kubectl-karpenter:v{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Invalid `schedule` input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A cron expression kubernetes' CronJob controller would reject.
    #[error("{flag} {expr:?} is not a valid cron schedule: {problem}. Use five fields \"minute hour day-of-month month day-of-week\", e.g. \"30 22 * * 1-5\"")]
    Cron {
        flag: &'static str,
        expr: String,
        problem: String,
    },
    /// Not an IANA time-zone name.
    #[error("--time-zone {0:?} is not an IANA time-zone name (e.g. Europe/Paris, America/New_York, Etc/UTC)")]
    TimeZone(String),
    /// Not a DNS-1123 name.
    #[error("{flag} {value:?} is not a valid Kubernetes name: use lower-case letters, digits and '-', start and end with a letter or digit, at most {max} characters")]
    Name {
        flag: &'static str,
        value: String,
        max: usize,
    },
    /// An empty image reference.
    #[error("--image must not be empty")]
    Image,
}

/// Validate a CronJob schedule: five fields, or one of the `@` macros the controller accepts.
/// The CronJob controller parses with robfig/cron's `ParseStandard`, as Karpenter's budgets
/// do: the one parser is [`karpenter_disruption::cron`].
pub fn validate_cron(flag: &'static str, expr: &str) -> Result<(), ScheduleError> {
    let err = |problem: String| ScheduleError::Cron {
        flag,
        expr: expr.to_string(),
        problem,
    };
    let trimmed = expr.trim();
    if trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=") {
        return Err(err(
            "time zones in the schedule are rejected by Kubernetes; use --time-zone".to_string(),
        ));
    }
    karpenter_disruption::cron::Schedule::parse(trimmed)
        .map(|_| ())
        .map_err(|e| err(e.to_string()))
}

/// The IANA tz database areas (first component of `Area/Location` names).
const TZ_AREAS: [&str; 16] = [
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
    "Etc",
    "Brazil",
    "Canada",
    "Chile",
    "Mexico",
    "US",
];

/// The IANA tz database names without an area.
const TZ_SINGLE: [&str; 44] = [
    "UTC",
    "UCT",
    "GMT",
    "GMT0",
    "GMT+0",
    "GMT-0",
    "Greenwich",
    "Universal",
    "Zulu",
    "EST",
    "MST",
    "HST",
    "EST5EDT",
    "CST6CDT",
    "MST7MDT",
    "PST8PDT",
    "CET",
    "EET",
    "MET",
    "WET",
    "Cuba",
    "Egypt",
    "Eire",
    "GB",
    "GB-Eire",
    "Hongkong",
    "Iceland",
    "Iran",
    "Israel",
    "Jamaica",
    "Japan",
    "Kwajalein",
    "Libya",
    "NZ",
    "NZ-CHAT",
    "Navajo",
    "PRC",
    "Poland",
    "Portugal",
    "ROC",
    "ROK",
    "Singapore",
    "Turkey",
    "W-SU",
];

/// Validate an IANA time-zone name: `Area/Location[/Sub]` with a tz-database area, or one of
/// the database's area-less names (`UTC`, `Japan`, ...). The location itself is checked for
/// syntax only, so new zones need no update here.
pub fn validate_time_zone(tz: &str) -> Result<(), ScheduleError> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 14
            && p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
    };
    let parts: Vec<&str> = tz.split('/').collect();
    let ok = match parts.as_slice() {
        [single] => TZ_SINGLE.contains(single),
        [area, rest @ ..] => {
            rest.len() <= 2 && TZ_AREAS.contains(area) && rest.iter().all(|p| part_ok(p))
        }
        [] => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ScheduleError::TimeZone(tz.to_string()))
    }
}

fn validate_name(flag: &'static str, value: &str, max: usize) -> Result<(), ScheduleError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ScheduleError::Name {
            flag,
            value: value.to_string(),
            max,
        })
    }
}

/// Inputs of [`render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// Cron schedule of the scale-down job.
    pub down: String,
    /// Cron schedule of the restore job.
    pub up: String,
    /// IANA time zone of both schedules.
    pub time_zone: String,
    /// Container image running `kubectl-karpenter`.
    pub image: String,
    /// Namespace of the ServiceAccount and CronJobs.
    pub namespace: String,
    /// Name of the ServiceAccount, ClusterRole(Binding) and prefix of the CronJobs.
    pub name: String,
    /// The pool selection and options passed to both jobs (e.g. `["--all"]`).
    pub selection_args: Vec<String>,
    /// Options passed only to the down job (e.g. `--keep-nodes`, `--force`).
    pub down_args: Vec<String>,
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn fill(template: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(template.to_string(), |acc, (k, v)| {
        acc.replace(&format!("{{{{{k}}}}}"), v)
    })
}

/// The container arguments of each job.
pub fn job_args(spec: &ScheduleSpec) -> (Vec<String>, Vec<String>) {
    let base = ["scale-to-zero".to_string(), "--yes".to_string()];
    let down: Vec<String> = base
        .iter()
        .cloned()
        .chain(spec.down_args.iter().cloned())
        .chain(spec.selection_args.iter().cloned())
        .collect();
    let up: Vec<String> = base
        .iter()
        .cloned()
        .chain(["--restore".to_string()])
        .chain(spec.selection_args.iter().cloned())
        .collect();
    (down, up)
}

/// Validate `spec` and render the manifests as one multi-document YAML stream.
pub fn render(spec: &ScheduleSpec) -> Result<String, ScheduleError> {
    validate_cron("--down", &spec.down)?;
    validate_cron("--up", &spec.up)?;
    validate_time_zone(&spec.time_zone)?;
    // CronJob names are limited to 52 characters; ours add "-down".
    validate_name("--name", &spec.name, 47)?;
    validate_name("--namespace", &spec.namespace, 63)?;
    if spec.image.trim().is_empty() {
        return Err(ScheduleError::Image);
    }
    let common = [
        ("name", spec.name.clone()),
        ("namespace", spec.namespace.clone()),
    ];
    let mut out = String::from("# Generated by `kubectl karpenter scale-to-zero schedule`.\n");
    out.push_str(&fill(RBAC_TEMPLATE, &common));
    let (down, up) = job_args(spec);
    for (direction, schedule, args) in [("down", &spec.down, down), ("up", &spec.up, up)] {
        let flow = format!(
            "[{}]",
            args.iter()
                .map(|a| quoted(a))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut vars = common.to_vec();
        vars.extend([
            ("direction", direction.to_string()),
            ("schedule", quoted(schedule.trim())),
            ("time_zone", quoted(&spec.time_zone)),
            ("image", quoted(&spec.image)),
            ("args", flow),
            ("args_text", args.join(" ").replace(['\n', '\r'], " ")),
        ]);
        out.push_str("---\n");
        out.push_str(&fill(CRONJOB_TEMPLATE, &vars));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_cron_expressions() {
        for ok in [
            "30 22 * * 1-5",
            "0 7 * * mon-fri",
            "*/15 0-6,20-23 1,15 jan-jun 0",
            "0 0 * * 0-6",
            "@daily",
            "5 4 * * sun",
        ] {
            assert_eq!(validate_cron("--down", ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_cron_expressions_saying_why() {
        let cases = [
            ("30 22 * *", "found 4 fields"),
            ("0 0 0 * * *", "found 6 fields"),
            ("60 22 * * *", "minute field"),
            ("0 24 * * *", "hour field"),
            ("0 0 0 * *", "day-of-month field"),
            ("0 0 * 13 *", "month field"),
            ("0 0 * * 8", "day-of-week field"),
            // Kubernetes parses schedules with robfig/cron: day-of-week is 0-6 (no 7 for Sunday).
            ("0 0 * * 7", "day-of-week field"),
            ("0 0 * * 1-7", "day-of-week field"),
            ("0 0 * * fri-mon", "backwards"),
            ("*/0 0 * * *", "step"),
            ("TZ=UTC 0 0 * * *", "--time-zone"),
            ("@sometimes", "unknown macro"),
            ("a b c d e", "not a number"),
        ];
        for (bad, why) in cases {
            let err = validate_cron("--up", bad).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("--up"), "{bad}: {err}");
        }
    }

    #[test]
    fn time_zone_syntax() {
        for ok in [
            "Europe/Paris",
            "UTC",
            "Etc/GMT+5",
            "America/Argentina/Buenos_Aires",
            "America/Port-au-Prince",
        ] {
            assert_eq!(validate_time_zone(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "paris",
            "Europe/",
            "Europe//Paris",
            "+02:00",
            "Europe/Paris Time",
            "../etc/passwd",
        ] {
            assert!(validate_time_zone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn render_rejects_invalid_names_and_quotes_arguments() {
        let mut spec = ScheduleSpec {
            down: "30 22 * * 1-5".into(),
            up: "0 7 * * 1-5".into(),
            time_zone: "Etc/UTC".into(),
            image: "img:1".into(),
            namespace: "kube-system".into(),
            name: "scale-to-zero".into(),
            selection_args: vec!["--selector".into(), "env in (dev, qa)".into()],
            down_args: vec![],
        };
        let out = render(&spec).unwrap();
        assert!(
            out.contains(
                r#"args: ["scale-to-zero", "--yes", "--restore", "--selector", "env in (dev, qa)"]"#
            ),
            "{out}"
        );
        spec.name = "Bad_Name".into();
        assert!(matches!(
            render(&spec),
            Err(ScheduleError::Name { flag: "--name", .. })
        ));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A valid field for `min..=max`: `*`, a value, a range, a step, or a list of those.
        fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
            let item = prop_oneof![
                Just("*".to_string()),
                (min..=max).prop_map(|v| v.to_string()),
                (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
                (1u32..=10).prop_map(|s| format!("*/{s}")),
            ];
            prop::collection::vec(item, 1..4).prop_map(|v| v.join(","))
        }

        proptest! {
            /// Any text: no panic; an error names the flag and quotes the expression.
            #[test]
            fn any_text_is_valid_or_an_error_naming_flag_and_expression(s in "\\PC{0,30}|[0-9*/,\\- ]{0,25}") {
                if let Err(e) = validate_cron("--down", &s) {
                    let text = e.to_string();
                    prop_assert!(text.starts_with("--down "), "{}", text);
                    prop_assert!(text.contains(&format!("{s:?}")), "{}", text);
                }
            }

            /// Every well-formed five-field schedule is accepted.
            #[test]
            fn well_formed_schedules_are_accepted(
                f in (field(0, 59), field(0, 23), field(1, 31), field(1, 12), field(0, 6)),
            ) {
                let expr = format!("{} {} {} {} {}", f.0, f.1, f.2, f.3, f.4);
                prop_assert!(validate_cron("--up", &expr).is_ok(), "{}", expr);
            }

            /// A value past a field's range is refused, naming that field.
            #[test]
            fn out_of_range_values_are_refused_naming_the_field(which in 0usize..5, excess in 1u32..100) {
                let names = ["minute", "hour", "day-of-month", "month", "day-of-week"];
                let max = [59, 23, 31, 12, 6];
                let mut fields = vec!["*".to_string(); 5];
                fields[which] = (max[which] + excess).to_string();
                let e = validate_cron("--down", &fields.join(" ")).unwrap_err().to_string();
                prop_assert!(e.contains(&format!("{} field", names[which])), "{}", e);
                prop_assert!(e.contains(&format!("{} is above the maximum {}", max[which] + excess, max[which])), "{}", e);
            }
        }
    }
}

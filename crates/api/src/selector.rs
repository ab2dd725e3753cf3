//! Label selectors, the one parser for the project: kubectl's `-l` syntax as apimachinery's
//! `pkg/labels/selector.go` parses it (also what an API server accepts as `?labelSelector=`), and
//! `metav1.LabelSelector` (`pkg/apis/meta/v1/helpers.go` `LabelSelectorAsSelector`, for PDBs).
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value` (also matches objects without the key).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also matches objects without the key).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A parsed selector: all requirements must hold. The empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

/// A selector string kubectl would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {problem}. Use kubectl syntax, e.g. `-l 'env=dev,team in (a,b),!critical'`")]
pub struct SelectorError {
    /// The selector as given.
    pub selector: String,
    /// What is wrong.
    pub problem: String,
}

fn valid_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
    });
    name_ok && prefix_ok
}

fn valid_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Split on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ')'".to_string());
                }
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".to_string());
    }
    parts.push(&s[start..]);
    Ok(parts)
}

impl Selector {
    /// Parse kubectl's selector syntax.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let err = |problem: String| SelectorError {
            selector: input.to_string(),
            problem,
        };
        if input.trim().is_empty() {
            return Ok(Selector::default());
        }
        let mut reqs = Vec::new();
        for part in split_top_level(input).map_err(err)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(err("empty requirement".to_string()));
            }
            reqs.push(parse_requirement(part).map_err(err)?);
        }
        Ok(Selector(reqs))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }

    /// Convert a `metav1.LabelSelector`. `None` (a PDB without selector) matches nothing,
    /// which the caller handles; an unknown operator is an error.
    pub fn from_label_selector(ls: &LabelSelector) -> Result<Self, String> {
        let mut reqs: Vec<Requirement> = ls
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
            .collect();
        for e in ls.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            reqs.push(match e.operator.as_str() {
                "In" => Requirement::In(e.key.clone(), values),
                "NotIn" => Requirement::NotIn(e.key.clone(), values),
                "Exists" => Requirement::Exists(e.key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
                other => return Err(format!("unknown selector operator {other:?}")),
            });
        }
        Ok(Selector(reqs))
    }
}

fn parse_values(s: &str) -> Result<Vec<String>, String> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised list of values, found {s:?}"))?;
    if inner.trim().is_empty() {
        return Err("for 'in', 'notin' operators, values set can't be empty".to_string());
    }
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if let Some(bad) = values.iter().find(|v| !valid_value(v)) {
        return Err(format!("invalid label value {bad:?}"));
    }
    Ok(values)
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let key_checked = |k: &str| -> Result<String, String> {
        let k = k.trim();
        if valid_key(k) {
            Ok(k.to_string())
        } else {
            Err(format!("invalid label key {k:?}"))
        }
    };
    let value_checked = |v: &str| -> Result<String, String> {
        let v = v.trim();
        if valid_value(v) {
            Ok(v.to_string())
        } else {
            Err(format!("invalid label value {v:?}"))
        }
    };
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key_checked(key)?));
    }
    for (op, is_eq) in [("!=", false), ("==", true), ("=", true)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (key_checked(k)?, value_checked(v)?);
            return Ok(if is_eq {
                Requirement::Equals(k, v)
            } else {
                Requirement::NotEquals(k, v)
            });
        }
    }
    for (op, is_in) in [(" notin ", false), (" in ", true)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, vs) = (key_checked(k)?, parse_values(v)?);
            return Ok(if is_in {
                Requirement::In(k, vs)
            } else {
                Requirement::NotIn(k, vs)
            });
        }
    }
    Ok(Requirement::Exists(key_checked(part)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_every_operator() {
        let s = Selector::parse("env=dev, tier!=db,team in (a, b),zone notin (x),spot,!critical")
            .unwrap();
        assert_eq!(s.0.len(), 6);
        let good = labels(&[("env", "dev"), ("team", "b"), ("spot", "")]);
        assert!(s.matches(&good));
        let mut bad = good.clone();
        bad.insert("critical".into(), "yes".into());
        assert!(!s.matches(&bad));
        assert!(!s.matches(&labels(&[("env", "prod"), ("team", "a"), ("spot", "")])));
        assert!(!s.matches(&labels(&[("env", "dev"), ("team", "c"), ("spot", "")])));
        assert!(!s.matches(&labels(&[("env", "dev"), ("team", "a")])));
        assert!(Selector::parse("a==b")
            .unwrap()
            .matches(&labels(&[("a", "b")])));
        assert!(Selector::parse("").unwrap().matches(&labels(&[])));
    }

    #[test]
    fn rejects_malformed_selectors_with_the_input_in_the_message() {
        for bad in [
            "env=dev,",
            "team in (a",
            "team in a,b",
            "bad key=1",
            "a=b c",
            "=x",
            // kubectl rejects an empty set; `env notin ()` must not select (almost) every pool.
            "env notin ()",
            "env in ( )",
        ] {
            let err = Selector::parse(bad).unwrap_err();
            assert_eq!(err.selector, bad);
            assert!(err.to_string().contains("invalid label selector"), "{err}");
        }
    }

    #[test]
    fn converts_label_selectors() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
        let ls = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        };
        let s = Selector::from_label_selector(&ls).unwrap();
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        // The empty LabelSelector matches every pod.
        assert!(Selector::from_label_selector(&LabelSelector::default())
            .unwrap()
            .matches(&labels(&[("x", "y")])));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn requirement() -> impl Strategy<Value = (String, Requirement)> {
            let key = prop_oneof!["[a-c]", "[a-c]\\.io/[a-c]{1,3}"];
            let val = "[x-z][0-9]?";
            prop_oneof![
                (key.clone(), val)
                    .prop_map(|(k, v)| (format!("{k}={v}"), Requirement::Equals(k, v))),
                (key.clone(), val)
                    .prop_map(|(k, v)| (format!("{k} == {v}"), Requirement::Equals(k, v))),
                (key.clone(), val)
                    .prop_map(|(k, v)| (format!("{k}!={v}"), Requirement::NotEquals(k, v))),
                (key.clone(), prop::collection::vec(val, 1..3)).prop_map(|(k, vs)| (
                    format!("{k} in ({})", vs.join(", ")),
                    Requirement::In(k, vs)
                )),
                (key.clone(), prop::collection::vec(val, 1..3)).prop_map(|(k, vs)| (
                    format!("{k} notin ({})", vs.join(",")),
                    Requirement::NotIn(k, vs)
                )),
                key.clone()
                    .prop_map(|k| (k.clone(), Requirement::Exists(k))),
                key.prop_map(|k| (format!("!{k}"), Requirement::DoesNotExist(k))),
            ]
        }

        proptest! {
            /// Any text: no panic; an error always quotes the input as given.
            #[test]
            fn any_text_parses_or_is_an_error_quoting_it(s in "\\PC{0,40}|[a-z!=(), ]{0,30}") {
                match Selector::parse(&s) {
                    Ok(sel) => prop_assert!(s.trim().is_empty() || !sel.0.is_empty()),
                    Err(e) => {
                        prop_assert_eq!(&e.selector, &s);
                        prop_assert!(e.to_string().contains("invalid label selector"));
                    }
                }
            }

            /// Generated selectors parse to exactly their requirements, and a selector matches
            /// exactly when each of its requirements does.
            #[test]
            fn generated_selectors_round_trip_and_are_a_conjunction(
                reqs in prop::collection::vec(requirement(), 1..5),
                labels in prop::collection::btree_map(prop_oneof!["[a-c]", "[a-c]\\.io/[a-c]{1,3}"], "[x-z][0-9]?", 0..4),
            ) {
                let text: Vec<String> = reqs.iter().map(|(t, _)| t.clone()).collect();
                let parsed = Selector::parse(&text.join(",")).unwrap();
                let want: Vec<Requirement> = reqs.iter().map(|(_, r)| r.clone()).collect();
                prop_assert_eq!(&parsed.0, &want);
                let each = reqs.iter().all(|(t, _)| Selector::parse(t).unwrap().matches(&labels));
                prop_assert_eq!(parsed.matches(&labels), each);
            }
        }
    }
}

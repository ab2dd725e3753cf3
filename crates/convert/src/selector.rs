//! v1alpha1 selector maps → v1beta1/v1 selector terms (`convert-mapping.md` §1.6).
//!
//! In v1alpha1, keys are ANDed and comma-separated values ORed; in v1beta1/v1 fields are ANDed
//! within a term and terms ORed. The cross product over values preserves the meaning.
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Which selector is being converted; decides the special keys and the id prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorKind {
    /// `subnetSelector` → `subnetSelectorTerms`.
    Subnet,
    /// `securityGroupSelector` → `securityGroupSelectorTerms`.
    SecurityGroup,
    /// `amiSelector` → `amiSelectorTerms`.
    Ami,
}

impl SelectorKind {
    fn id_prefix(self) -> &'static str {
        match self {
            SelectorKind::Subnet => "subnet-",
            SelectorKind::SecurityGroup => "sg-",
            SelectorKind::Ami => "ami-",
        }
    }
}

/// The terms produced for one selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    /// Terms in upstream karpenter-convert order; each term's keys are `id`, `name`, `owner`,
    /// `tags` (those that are set).
    pub terms: Vec<Value>,
    /// Keys that were dropped because the selector also had `aws::ids`/`aws-ids`, which the
    /// target CRDs do not allow to combine with anything else.
    pub dropped_beside_ids: Vec<String>,
}

/// A selector that is invalid even in v1alpha1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

fn split(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_string()).collect()
}

fn is_ids_key(key: &str) -> bool {
    key == "aws::ids" || key == "aws-ids"
}

/// Expand a v1alpha1 selector map into terms.
///
/// When an ids key is combined with other keys (invalid in v1alpha1 and rejected by the target
/// CRDs when combined in one term) only id terms are produced and the other keys are listed in
/// [`Expansion::dropped_beside_ids`] so the caller can warn.
pub fn expand(
    kind: SelectorKind,
    selector: &BTreeMap<String, String>,
) -> Result<Expansion, SelectorError> {
    for (k, v) in selector {
        if k.trim().is_empty() {
            return Err(SelectorError("selector keys must not be empty".to_string()));
        }
        if v.trim().is_empty() {
            return Err(SelectorError(format!(
                "value of `{k}` must not be empty (use '*' to match any value of a tag)"
            )));
        }
    }
    let ids: Vec<String> = selector
        .iter()
        .filter(|(k, _)| is_ids_key(k))
        .flat_map(|(_, v)| split(v))
        .collect();
    if !ids.is_empty() {
        for id in &ids {
            if !id.starts_with(kind.id_prefix()) || id.len() == kind.id_prefix().len() {
                return Err(SelectorError(format!(
                    "`{id}` is not a valid id: expected `{}…`",
                    kind.id_prefix()
                )));
            }
        }
        let dropped: Vec<String> = selector
            .keys()
            .filter(|k| !is_ids_key(k))
            .cloned()
            .collect();
        let terms = ids
            .into_iter()
            .filter(|id| !id.is_empty())
            .map(|id| {
                let mut m = Map::new();
                m.insert("id".into(), Value::String(id));
                Value::Object(m)
            })
            .collect();
        return Ok(Expansion {
            terms,
            dropped_beside_ids: dropped,
        });
    }

    let mut owners = vec![String::new()];
    let mut names = vec![String::new()];
    // Tag maps: the earliest sorted key varies fastest.
    let mut tag_maps: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    for (key, value) in selector {
        if kind == SelectorKind::Ami && key == "aws::owners" {
            owners = split(value);
            continue;
        }
        if kind == SelectorKind::Ami && key == "aws::name" {
            names = split(value);
            continue;
        }
        let mut next = Vec::new();
        for piece in split(value) {
            for existing in &tag_maps {
                let mut m = existing.clone();
                m.insert(key.clone(), piece.clone());
                next.push(m);
            }
        }
        tag_maps = next;
    }
    let mut terms = Vec::new();
    for owner in &owners {
        for name in &names {
            for tags in &tag_maps {
                let mut term = Map::new();
                if !name.is_empty() {
                    term.insert("name".into(), Value::String(name.clone()));
                }
                if !owner.is_empty() {
                    term.insert("owner".into(), Value::String(owner.clone()));
                }
                if !tags.is_empty() {
                    let t: Map<String, Value> = tags
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    term.insert("tags".into(), Value::Object(t));
                }
                if !term.is_empty() {
                    terms.push(Value::Object(term));
                }
            }
        }
    }
    Ok(Expansion {
        terms,
        dropped_beside_ids: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_cross_product_earliest_key_fastest() {
        let e = expand(
            SelectorKind::Subnet,
            &sel(&[
                ("karpenter.sh/discovery-1", "a,b,c"),
                ("karpenter.sh/discovery-2", "d,e"),
            ]),
        )
        .unwrap();
        let pairs: Vec<(String, String)> = e
            .terms
            .iter()
            .map(|t| {
                (
                    t["tags"]["karpenter.sh/discovery-1"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    t["tags"]["karpenter.sh/discovery-2"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        let expect: Vec<(String, String)> = [
            ("a", "d"),
            ("b", "d"),
            ("c", "d"),
            ("a", "e"),
            ("b", "e"),
            ("c", "e"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(pairs, expect);
    }

    #[test]
    fn ids_only() {
        let e = expand(
            SelectorKind::Subnet,
            &sel(&[("aws::ids", "subnet-1, subnet-2")]),
        )
        .unwrap();
        assert_eq!(
            e.terms,
            vec![json!({"id": "subnet-1"}), json!({"id": "subnet-2"})]
        );
        assert!(e.dropped_beside_ids.is_empty());
    }

    #[test]
    fn ids_mixed_with_other_keys_keep_only_ids() {
        let e = expand(
            SelectorKind::Ami,
            &sel(&[
                ("aws::ids", "ami-123,ami-456"),
                ("aws::owners", "self,amazon"),
                ("aws::name", "test name"),
                ("MyTag", "*"),
            ]),
        )
        .unwrap();
        assert_eq!(
            e.terms,
            vec![json!({"id": "ami-123"}), json!({"id": "ami-456"})]
        );
        assert_eq!(
            e.dropped_beside_ids,
            vec!["MyTag", "aws::name", "aws::owners"]
        );
    }

    #[test]
    fn ami_owner_name_tags() {
        let e = expand(
            SelectorKind::Ami,
            &sel(&[
                ("aws::owners", "self,amazon"),
                ("aws::name", "n"),
                ("team", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            e.terms,
            vec![
                json!({"name": "n", "owner": "self", "tags": {"team": "x"}}),
                json!({"name": "n", "owner": "amazon", "tags": {"team": "x"}}),
            ]
        );
    }

    #[test]
    fn invalid_inputs() {
        assert!(expand(
            SelectorKind::SecurityGroup,
            &sel(&[("aws-ids", "subnet-1")])
        )
        .is_err());
        assert!(expand(SelectorKind::Subnet, &sel(&[("a", "")])).is_err());
        assert!(expand(SelectorKind::Subnet, &sel(&[("", "x")])).is_err());
    }

    #[test]
    fn empty_selector_gives_no_terms() {
        assert!(expand(SelectorKind::Subnet, &BTreeMap::new())
            .unwrap()
            .terms
            .is_empty());
    }
}

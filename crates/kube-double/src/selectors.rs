//! Label and field selectors, parsed as the API server parses them.

use serde_json::Value;
use std::collections::BTreeMap;

/// A parsed label selector (AND of requirements), as the API server reads `?labelSelector=`:
/// the shared parser, which validates keys and values as apimachinery does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub karpenter_api::selector::Selector);

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`; the error is the problem only (the server
    /// prefixes it as the API server does).
    pub fn parse(s: &str) -> Result<Self, String> {
        karpenter_api::selector::Selector::parse(s)
            .map(LabelSelector)
            .map_err(|e| e.problem)
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.matches(labels)
    }

    /// Matches an object's `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        // no requirement matches everything: skip copying the labels
        self.0 .0.is_empty() || self.matches(&labels_of(obj))
    }
}

/// `metadata.labels` as a map.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Matches a `metav1.LabelSelector` (matchLabels + matchExpressions) JSON object against labels.
pub fn match_label_selector_object(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    if let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            if labels.get(k).map(String::as_str) != v.as_str() {
                return false;
            }
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let op = e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let have = labels.get(key).map(String::as_str);
            let ok = match op {
                "In" => have.is_some_and(|h| values.contains(&h)),
                "NotIn" => have.is_none_or(|h| !values.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// One field-selector term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Field path, e.g. `spec.nodeName`.
    pub field: String,
    /// Expected value.
    pub value: String,
    /// `!=` instead of `=`.
    pub negate: bool,
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldRequirement>);

impl FieldSelector {
    /// Parses `a=b,c!=d`, rejecting fields not in `supported` (plus metadata.name/namespace).
    pub fn parse(s: &str, supported: &[String], kind_plural: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, negate) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            let ok = field == "metadata.name"
                || field == "metadata.namespace"
                || supported.iter().any(|f| f == field);
            if !ok {
                return Err(format!(
                    "field label not supported: {field} (for {kind_plural})"
                ));
            }
            reqs.push(FieldRequirement {
                field: field.to_string(),
                value: value.trim().to_string(),
                negate,
            });
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the object satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|r| {
            let actual = field_value(obj, &r.field);
            (actual == r.value) != r.negate
        })
    }
}

/// The string value of a field path as the API server's field-label conversion gives it.
fn field_value(obj: &Value, field: &str) -> String {
    let pointer = format!("/{}", field.replace('.', "/"));
    match obj.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Object(o)) if field == "source" => o
            .get("component")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ if field == "spec.unschedulable" => "false".to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_api::selector::Requirement as LabelRequirement;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn parses_every_operator() {
        let s = LabelSelector::parse("a=1, b==2,c!=3,d in (x, y),e notin (z),f,!g").unwrap();
        assert_eq!(
            s.0 .0,
            vec![
                LabelRequirement::Equals("a".into(), "1".into()),
                LabelRequirement::Equals("b".into(), "2".into()),
                LabelRequirement::NotEquals("c".into(), "3".into()),
                LabelRequirement::In("d".into(), vec!["x".into(), "y".into()]),
                LabelRequirement::NotIn("e".into(), vec!["z".into()]),
                LabelRequirement::Exists("f".into()),
                LabelRequirement::DoesNotExist("g".into()),
            ]
        );
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
        assert_eq!(LabelSelector::parse("").unwrap().0 .0, vec![]);
        // As apimachinery: a set operator needs at least one value.
        for empty in ["a in ()", "a notin ( )"] {
            let e = LabelSelector::parse(empty).unwrap_err();
            assert!(e.contains("values set can't be empty"), "{empty}: {e}");
        }
    }

    #[test]
    fn metav1_selector_objects() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        assert!(match_label_selector_object(&json!({}), &labels));
        assert!(match_label_selector_object(
            &json!({"matchLabels": {"app": "web"}}),
            &labels
        ));
        assert!(!match_label_selector_object(
            &json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
            &labels
        ));
        assert!(match_label_selector_object(
            &json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
            &labels
        ));
    }

    #[test]
    fn field_selectors_reject_unknown_fields() {
        let supported = vec!["spec.nodeName".to_string()];
        assert!(FieldSelector::parse("spec.nodeName=a", &supported, "pods").is_ok());
        let err = FieldSelector::parse("spec.other=a", &supported, "pods").unwrap_err();
        assert!(err.contains("field label not supported: spec.other"));
        let sel = FieldSelector::parse("metadata.name!=x", &supported, "pods").unwrap();
        assert!(sel.matches(&json!({"metadata": {"name": "y"}})));
        assert!(!sel.matches(&json!({"metadata": {"name": "x"}})));
    }

    fn requirement() -> impl Strategy<Value = (String, LabelRequirement)> {
        let key = "[a-c]";
        let val = "[x-z]";
        prop_oneof![
            (key, val).prop_map(|(k, v)| (format!("{k}={v}"), LabelRequirement::Equals(k, v))),
            (key, val).prop_map(|(k, v)| (format!("{k}!={v}"), LabelRequirement::NotEquals(k, v))),
            (key, prop::collection::vec(val, 1..3)).prop_map(|(k, vs)| (
                format!("{k} in ({})", vs.join(",")),
                LabelRequirement::In(k, vs)
            )),
            (key, prop::collection::vec(val, 1..3)).prop_map(|(k, vs)| (
                format!("{k} notin ({})", vs.join(",")),
                LabelRequirement::NotIn(k, vs)
            )),
            key.prop_map(|k| (k.clone(), LabelRequirement::Exists(k))),
            key.prop_map(|k| (format!("!{k}"), LabelRequirement::DoesNotExist(k))),
        ]
    }

    proptest! {
        #[test]
        fn selector_text_round_trips_and_is_a_conjunction(
            reqs in prop::collection::vec(requirement(), 0..5),
            labels in prop::collection::btree_map("[a-c]", "[x-z]", 0..3),
        ) {
            let text: Vec<String> = reqs.iter().map(|(t, _)| t.clone()).collect();
            let parsed = LabelSelector::parse(&text.join(",")).unwrap();
            let want: Vec<LabelRequirement> = reqs.iter().map(|(_, r)| r.clone()).collect();
            prop_assert_eq!(&parsed.0 .0, &want);
            let each = reqs
                .iter()
                .all(|(t, _)| LabelSelector::parse(t).unwrap().matches(&labels));
            prop_assert_eq!(parsed.matches(&labels), each);
        }
    }
}

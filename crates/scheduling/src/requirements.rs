//! The requirements algebra (upstream `pkg/scheduling/requirement(s).go`): each label key maps
//! to a set of allowed values (possibly a complement, possibly integer-bounded).
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::labels;
use crate::Error;

/// A node-selector operator, as Karpenter v1 allows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operator {
    /// The value is one of `values`.
    In,
    /// The value is none of `values` (or the label is absent).
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The integer value is greater than `values[0]`.
    Gt,
    /// The integer value is less than `values[0]`.
    Lt,
    /// The integer value is at least `values[0]` (Karpenter extension).
    Gte,
    /// The integer value is at most `values[0]` (Karpenter extension).
    Lte,
}

impl Operator {
    /// Parse an operator name as written in YAML.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::Gt,
            "Lt" => Operator::Lt,
            "Gte" => Operator::Gte,
            "Lte" => Operator::Lte,
            _ => return None,
        })
    }
}

/// One `{key, operator, values, minValues}` term, as written in NodePools and pod affinities.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: Operator,
    /// Values (one integer for Gt/Lt/Gte/Lte, none for Exists/DoesNotExist).
    #[serde(default)]
    pub values: Vec<String>,
    /// Minimum number of distinct values the launch options must span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_values: Option<usize>,
}

impl NodeSelectorRequirement {
    /// Shorthand constructor.
    pub fn new(key: &str, operator: Operator, values: &[&str]) -> Self {
        NodeSelectorRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
            min_values: None,
        }
    }
}

/// The set of values one key may take.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// When true, `values` are excluded and everything else (within bounds) is allowed.
    pub complement: bool,
    /// The listed values.
    pub values: BTreeSet<String>,
    /// Exclusive lower bound: values must be integers `> greater_than`.
    pub greater_than: Option<i64>,
    /// Exclusive upper bound: values must be integers `< less_than`.
    pub less_than: Option<i64>,
    /// Minimum number of distinct values required by `minValues`.
    pub min_values: Option<usize>,
}

impl Requirement {
    /// The requirement allowing exactly `values`.
    pub fn in_values<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Requirement {
            complement: false,
            values: values.into_iter().map(Into::into).collect(),
            greater_than: None,
            less_than: None,
            min_values: None,
        }
    }

    /// The requirement allowing any value (`Exists`).
    pub fn exists() -> Self {
        Requirement {
            complement: true,
            ..Requirement::in_values(Vec::<String>::new())
        }
    }

    /// The requirement that the label is absent (`DoesNotExist`).
    pub fn does_not_exist() -> Self {
        Requirement::in_values(Vec::<String>::new())
    }

    /// Build from a selector term, validating integer operands.
    pub fn from_term(t: &NodeSelectorRequirement) -> Result<Self, Error> {
        let int = || -> Result<i64, Error> {
            match t.values.as_slice() {
                [v] => v.parse::<i64>().map_err(|_| {
                    Error::Requirement(format!(
                        "key {:?}: operator {:?} needs one integer value, got {v:?}",
                        t.key, t.operator
                    ))
                }),
                _ => Err(Error::Requirement(format!(
                    "key {:?}: operator {:?} needs exactly one integer value",
                    t.key, t.operator
                ))),
            }
        };
        let mut r = match t.operator {
            Operator::In => Requirement::in_values(t.values.iter().cloned()),
            Operator::NotIn => Requirement {
                complement: true,
                ..Requirement::in_values(t.values.iter().cloned())
            },
            Operator::Exists => Requirement::exists(),
            Operator::DoesNotExist => Requirement::does_not_exist(),
            Operator::Gt => Requirement {
                greater_than: Some(int()?),
                ..Requirement::exists()
            },
            Operator::Lt => Requirement {
                less_than: Some(int()?),
                ..Requirement::exists()
            },
            Operator::Gte => Requirement {
                greater_than: Some(int()?.saturating_sub(1)),
                ..Requirement::exists()
            },
            Operator::Lte => Requirement {
                less_than: Some(int()?.saturating_add(1)),
                ..Requirement::exists()
            },
        };
        r.min_values = t.min_values;
        r.normalize();
        Ok(r)
    }

    fn within_bounds(&self, v: &str) -> bool {
        if self.greater_than.is_none() && self.less_than.is_none() {
            return true;
        }
        match v.parse::<i64>() {
            Ok(n) => {
                self.greater_than.is_none_or(|g| n > g) && self.less_than.is_none_or(|l| n < l)
            }
            Err(_) => false,
        }
    }

    fn normalize(&mut self) {
        if !self.complement {
            if self.greater_than.is_some() || self.less_than.is_some() {
                let keep: BTreeSet<String> = self
                    .values
                    .iter()
                    .filter(|v| self.within_bounds(v))
                    .cloned()
                    .collect();
                self.values = keep;
                self.greater_than = None;
                self.less_than = None;
            }
        } else if let (Some(g), Some(l)) = (self.greater_than, self.less_than) {
            if l.saturating_sub(g) <= 1 {
                // no integer strictly between: empty set
                *self = Requirement {
                    min_values: self.min_values,
                    ..Requirement::does_not_exist()
                };
            }
        }
    }

    /// True when `v` is allowed.
    pub fn has(&self, v: &str) -> bool {
        if self.complement {
            !self.values.contains(v) && self.within_bounds(v)
        } else {
            self.values.contains(v)
        }
    }

    /// True when no value is allowed (`DoesNotExist`, or an empty `In`).
    pub fn is_empty(&self) -> bool {
        !self.complement && self.values.is_empty()
    }

    /// True when the set is infinite (a complement).
    pub fn is_complement(&self) -> bool {
        self.complement
    }

    /// The operator this set is equivalent to.
    pub fn operator(&self) -> Operator {
        if self.complement {
            if self.greater_than.is_some() {
                Operator::Gt
            } else if self.less_than.is_some() {
                Operator::Lt
            } else if self.values.is_empty() {
                Operator::Exists
            } else {
                Operator::NotIn
            }
        } else if self.values.is_empty() {
            Operator::DoesNotExist
        } else {
            Operator::In
        }
    }

    /// The single allowed value, when the set has exactly one.
    pub fn single(&self) -> Option<&str> {
        if !self.complement && self.values.len() == 1 {
            self.values.iter().next().map(String::as_str)
        } else {
            None
        }
    }

    /// This set as `spec.requirements` terms on `key` (upstream `Requirement.
    /// NodeSelectorRequirement`): `In`, `DoesNotExist`, `Exists`, or for a complement its
    /// `Gt` and `Lt` bounds and its `NotIn` values, one term each (their conjunction is the set;
    /// upstream keeps only one of them). `minValues` goes on the first term.
    pub fn to_terms(&self, key: &str) -> Vec<NodeSelectorRequirement> {
        let term = |operator: Operator, values: Vec<String>| NodeSelectorRequirement {
            key: key.to_string(),
            operator,
            values,
            min_values: None,
        };
        let values = || self.values.iter().cloned().collect::<Vec<_>>();
        let mut out = Vec::new();
        if !self.complement {
            out.push(if self.values.is_empty() {
                term(Operator::DoesNotExist, Vec::new())
            } else {
                term(Operator::In, values())
            });
        } else {
            if let Some(g) = self.greater_than {
                out.push(term(Operator::Gt, vec![g.to_string()]));
            }
            if let Some(l) = self.less_than {
                out.push(term(Operator::Lt, vec![l.to_string()]));
            }
            if !self.values.is_empty() {
                out.push(term(Operator::NotIn, values()));
            }
            if out.is_empty() {
                out.push(term(Operator::Exists, Vec::new()));
            }
        }
        out[0].min_values = self.min_values;
        out
    }

    /// Set intersection; `minValues` takes the larger of the two.
    pub fn intersection(&self, o: &Requirement) -> Requirement {
        let greater_than = match (self.greater_than, o.greater_than) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let less_than = match (self.less_than, o.less_than) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let min_values = self.min_values.max(o.min_values);
        let mut r = match (self.complement, o.complement) {
            (true, true) => Requirement {
                complement: true,
                values: self.values.union(&o.values).cloned().collect(),
                greater_than,
                less_than,
                min_values,
            },
            (true, false) => Requirement {
                complement: false,
                values: o.values.iter().filter(|v| self.has(v)).cloned().collect(),
                greater_than: None,
                less_than: None,
                min_values,
            },
            (false, true) => Requirement {
                complement: false,
                values: self.values.iter().filter(|v| o.has(v)).cloned().collect(),
                greater_than: None,
                less_than: None,
                min_values,
            },
            (false, false) => Requirement {
                complement: false,
                values: self.values.intersection(&o.values).cloned().collect(),
                greater_than: None,
                less_than: None,
                min_values,
            },
        };
        r.normalize();
        r
    }

    /// Whether the two sets intersect, counting two "absent-allowed" sets (`NotIn`,
    /// `DoesNotExist`) as intersecting, as upstream does.
    pub fn intersects(&self, o: &Requirement) -> bool {
        let absent_ok =
            |r: &Requirement| matches!(r.operator(), Operator::NotIn | Operator::DoesNotExist);
        if absent_ok(self) && absent_ok(o) {
            return true;
        }
        // the emptiness of `intersection`, without building it
        match (self.complement, o.complement) {
            (false, false) => self.values.iter().any(|v| o.values.contains(v)),
            (true, false) => o.values.iter().any(|v| self.has(v)),
            (false, true) => self.values.iter().any(|v| o.has(v)),
            (true, true) => {
                let g = match (self.greater_than, o.greater_than) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                let l = match (self.less_than, o.less_than) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                !matches!((g, l), (Some(g), Some(l)) if l.saturating_sub(g) <= 1)
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vals: Vec<&str> = self.values.iter().map(String::as_str).collect();
        match self.operator() {
            Operator::In => write!(f, "In [{}]", vals.join(", ")),
            Operator::NotIn => write!(f, "NotIn [{}]", vals.join(", ")),
            Operator::Exists => write!(f, "Exists"),
            Operator::DoesNotExist => write!(f, "DoesNotExist"),
            _ => {
                write!(f, "Exists")?;
                if let Some(g) = self.greater_than {
                    write!(f, " >{g}")?;
                }
                if let Some(l) = self.less_than {
                    write!(f, " <{l}")?;
                }
                Ok(())
            }
        }
    }
}

/// A conjunction of per-key requirements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Requirements {
    map: BTreeMap<String, Requirement>,
}

/// Why two requirement sets are incompatible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incompatibility {
    /// The key is selected by the pod but not defined by the target.
    Undefined(String),
    /// The key's allowed values do not intersect.
    Disjoint(String),
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incompatibility::Undefined(k) => write!(
                f,
                "label {k:?} is not defined (add it to the NodePool's labels or requirements)"
            ),
            Incompatibility::Disjoint(key) => {
                write!(f, "the allowed values of {key} do not intersect")
            }
        }
    }
}

impl Requirements {
    /// No requirements.
    pub fn new() -> Self {
        Self::default()
    }

    /// Build from selector terms (intersecting repeated keys).
    pub fn from_terms<'a>(
        terms: impl IntoIterator<Item = &'a NodeSelectorRequirement>,
    ) -> Result<Self, Error> {
        let mut r = Requirements::new();
        for t in terms {
            r.add(&t.key, Requirement::from_term(t)?);
        }
        Ok(r)
    }

    /// Build `key In [value]` requirements from a label map.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut r = Requirements::new();
        for (k, v) in labels {
            r.add(k, Requirement::in_values([v.clone()]));
        }
        r
    }

    /// Intersect `req` into the set for `key` (legacy keys are normalised).
    pub fn add(&mut self, key: &str, req: Requirement) {
        let key = labels::normalize_key(key);
        match self.map.get_mut(key) {
            Some(existing) => *existing = existing.intersection(&req),
            None => {
                self.map.insert(key.to_string(), req);
            }
        }
    }

    /// Intersect every key of `o` into `self`.
    pub fn add_all(&mut self, o: &Requirements) {
        for (k, r) in &o.map {
            self.add(k, r.clone());
        }
    }

    /// The requirement on `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Requirement> {
        self.map.get(key)
    }

    /// Remove `key`.
    pub fn remove(&mut self, key: &str) -> Option<Requirement> {
        self.map.remove(key)
    }

    /// Whether `key` is constrained.
    pub fn has_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Iterate over `(key, requirement)` in key order.
    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, String, Requirement> {
        self.map.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is constrained.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `value` is allowed for `key` (an unconstrained key allows anything).
    pub fn allows(&self, key: &str, value: &str) -> bool {
        self.map.get(key).is_none_or(|r| r.has(value))
    }

    /// Shared keys must intersect.
    pub fn intersects(&self, o: &Requirements) -> Result<(), Incompatibility> {
        let (small, large) = if self.map.len() <= o.map.len() {
            (self, o)
        } else {
            (o, self)
        };
        for (k, r) in &small.map {
            if let Some(other) = large.map.get(k) {
                if !r.intersects(other) {
                    return Err(Incompatibility::Disjoint(k.clone()));
                }
            }
        }
        Ok(())
    }

    /// Upstream `Compatible(self, pod)`: every key `pod` constrains must be defined here unless it
    /// is a well-known label or the pod's operator tolerates absence; shared keys must intersect.
    pub fn compatible(&self, pod: &Requirements) -> Result<(), Incompatibility> {
        for (k, r) in &pod.map {
            if !self.map.contains_key(k)
                && !labels::is_well_known(k)
                && !matches!(r.operator(), Operator::NotIn | Operator::DoesNotExist)
            {
                return Err(Incompatibility::Undefined(k.clone()));
            }
        }
        self.intersects(pod)
    }
}

impl Requirements {
    /// These requirements as `spec.requirements` terms, in key order (upstream
    /// `Requirements.NodeSelectorRequirements`); [`Requirements::from_terms`] gives the same
    /// set back.
    pub fn to_terms(&self) -> Vec<NodeSelectorRequirement> {
        self.map.iter().flat_map(|(k, r)| r.to_terms(k)).collect()
    }
}

impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, r) in &self.map {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{k} {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn term(key: &str, op: Operator, vals: &[&str]) -> Requirement {
        Requirement::from_term(&NodeSelectorRequirement::new(key, op, vals)).unwrap()
    }

    #[test]
    fn operators_have_set_semantics() {
        let r = term("k", Operator::In, &["a", "b"]);
        assert!(r.has("a") && !r.has("c"));
        let r = term("k", Operator::NotIn, &["a"]);
        assert!(!r.has("a") && r.has("c"));
        assert!(term("k", Operator::Exists, &[]).has("x"));
        assert!(!term("k", Operator::DoesNotExist, &[]).has("x"));
        let gt = term("k", Operator::Gt, &["4"]);
        assert!(!gt.has("4") && gt.has("5") && !gt.has("abc"));
        let lt = term("k", Operator::Lt, &["4"]);
        assert!(lt.has("3") && !lt.has("4"));
        let gte = term("k", Operator::Gte, &["4"]);
        assert!(gte.has("4") && !gte.has("3"));
        let lte = term("k", Operator::Lte, &["4"]);
        assert!(lte.has("4") && !lte.has("5"));
    }

    #[test]
    fn bad_integer_operand_is_an_error() {
        let t = NodeSelectorRequirement::new("k", Operator::Gt, &["four"]);
        assert!(Requirement::from_term(&t).is_err());
        let t = NodeSelectorRequirement::new("k", Operator::Lt, &[]);
        assert!(Requirement::from_term(&t).is_err());
    }

    #[test]
    fn gt_and_lt_intersect_to_a_range() {
        let r = term("k", Operator::Gt, &["2"]).intersection(&term("k", Operator::Lt, &["5"]));
        assert!(r.has("3") && r.has("4") && !r.has("2") && !r.has("5"));
        let empty = term("k", Operator::Gt, &["4"]).intersection(&term("k", Operator::Lt, &["5"]));
        assert!(empty.is_empty());
        let i = term("k", Operator::Gt, &["2"]).intersection(&term("k", Operator::In, &["1", "3"]));
        assert_eq!(i.single(), Some("3"));
    }

    #[test]
    fn absent_allowing_operators_intersect_each_other() {
        let dne = term("k", Operator::DoesNotExist, &[]);
        let notin = term("k", Operator::NotIn, &["a"]);
        assert!(dne.intersects(&notin));
        assert!(dne.intersects(&dne));
        assert!(!dne.intersects(&term("k", Operator::In, &["a"])));
        assert!(!dne.intersects(&term("k", Operator::Exists, &[])));
        assert!(!notin.intersects(&term("k", Operator::In, &["a"])));
    }

    #[test]
    fn compatible_requires_custom_keys_but_not_well_known_ones() {
        let node =
            Requirements::from_labels(&BTreeMap::from([("team".to_string(), "a".to_string())]));
        let mut pod = Requirements::new();
        pod.add(
            "topology.kubernetes.io/zone",
            Requirement::in_values(["z1"]),
        );
        assert!(node.compatible(&pod).is_ok());
        pod.add("gpu", Requirement::in_values(["yes"]));
        assert_eq!(
            node.compatible(&pod),
            Err(Incompatibility::Undefined("gpu".into()))
        );
        let mut pod = Requirements::new();
        pod.add("gpu", term("gpu", Operator::DoesNotExist, &[]));
        assert!(node.compatible(&pod).is_ok());
        let mut pod = Requirements::new();
        pod.add("team", Requirement::in_values(["b"]));
        assert_eq!(
            node.compatible(&pod),
            Err(Incompatibility::Disjoint("team".into()))
        );
    }

    #[test]
    fn legacy_keys_are_normalised() {
        let mut r = Requirements::new();
        r.add(
            "failure-domain.beta.kubernetes.io/zone",
            Requirement::in_values(["a"]),
        );
        assert!(r.has_key("topology.kubernetes.io/zone"));
    }

    #[test]
    fn min_values_takes_the_max() {
        let mut a = term("k", Operator::Exists, &[]);
        a.min_values = Some(2);
        let mut b = term("k", Operator::In, &["x", "y", "z"]);
        b.min_values = Some(3);
        assert_eq!(a.intersection(&b).min_values, Some(3));
    }

    fn arb_req() -> impl Strategy<Value = Requirement> {
        let vals = proptest::collection::vec(0i64..8, 0..4);
        (0u8..8, vals).prop_map(|(op, vals)| {
            let s: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
            let refs: Vec<&str> = s.iter().map(String::as_str).collect();
            let one = [refs.first().copied().unwrap_or("3")];
            match op {
                0 => term("k", Operator::In, &refs),
                1 => term("k", Operator::NotIn, &refs),
                2 => term("k", Operator::Exists, &[]),
                3 => term("k", Operator::DoesNotExist, &[]),
                4 => term("k", Operator::Gt, &one),
                5 => term("k", Operator::Lt, &one),
                6 => term("k", Operator::Gte, &one),
                _ => term("k", Operator::Lte, &one),
            }
        })
    }

    #[test]
    fn requirements_become_the_terms_a_nodeclaim_carries() {
        let mut r = Requirements::new();
        r.add("team", Requirement::in_values(["b", "a"]));
        r.add("gpu", term("gpu", Operator::DoesNotExist, &[]));
        r.add("env", term("env", Operator::NotIn, &["dev"]));
        r.add("cpu", term("cpu", Operator::Gte, &["4"]));
        r.add("cpu", term("cpu", Operator::Lt, &["17"]));
        r.add("zone", term("zone", Operator::Exists, &[]));
        let mut family = term("family", Operator::In, &["c5", "m5", "r5"]);
        family.min_values = Some(2);
        r.add("family", family);
        let t = |k: &str, op, vals: &[&str], min: Option<usize>| NodeSelectorRequirement {
            min_values: min,
            ..NodeSelectorRequirement::new(k, op, vals)
        };
        assert_eq!(
            r.to_terms(),
            vec![
                t("cpu", Operator::Gt, &["3"], None),
                t("cpu", Operator::Lt, &["17"], None),
                t("env", Operator::NotIn, &["dev"], None),
                t("family", Operator::In, &["c5", "m5", "r5"], Some(2)),
                t("gpu", Operator::DoesNotExist, &[], None),
                t("team", Operator::In, &["a", "b"], None),
                t("zone", Operator::Exists, &[], None),
            ]
        );
    }

    proptest! {
        #[test]
        fn intersection_is_set_intersection(a in arb_req(), b in arb_req(), v in -2i64..10) {
            let v = v.to_string();
            let i = a.intersection(&b);
            prop_assert_eq!(i.has(&v), a.has(&v) && b.has(&v));
            let j = b.intersection(&a);
            prop_assert_eq!(j.has(&v), i.has(&v));
        }

        #[test]
        fn terms_give_back_the_same_set(
            a in arb_req(),
            b in arb_req(),
            min in proptest::option::of(1usize..4),
        ) {
            let mut r = a.intersection(&b);
            r.min_values = min;
            let mut reqs = Requirements::new();
            reqs.add("k", r);
            let back = Requirements::from_terms(&reqs.to_terms()).expect("valid terms");
            prop_assert_eq!(back, reqs);
        }
    }
}

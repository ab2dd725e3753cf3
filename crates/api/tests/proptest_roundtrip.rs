//! Property tests: arbitrary (schema-shaped) objects keep every value and every field's presence.

mod support;

use karpenter_api::KarpenterObject;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn label_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("karpenter.sh/capacity-type".to_string()),
        Just("karpenter.k8s.aws/instance-family".to_string()),
        "[a-z]{1,8}(\\.[a-z]{1,5})?/[a-z][a-z0-9-]{0,10}",
        "[a-z][a-z0-9-]{0,12}",
    ]
}

fn quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        "[1-9][0-9]{0,4}(m|k|Ki|Mi|Gi|Ti|M|G)?",
        "[0-9]\\.[0-9]{1,3}",
        "[1-9]e[0-9]",
    ]
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![Just("Never".to_string()), "([1-9][0-9]{0,3}(s|m|h)){1,3}"]
}

/// Leave a field out or set it: presence is part of what must round-trip.
fn maybe<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

fn requirement() -> impl Strategy<Value = Value> {
    (
        label_key(),
        prop::sample::select(karpenter_api::common::OPERATORS),
        maybe(prop::collection::vec("[a-z0-9]{1,8}", 0..4)),
        maybe(1i64..50),
    )
        .prop_map(|(key, op, values, min_values)| {
            let mut m = Map::new();
            m.insert("key".into(), json!(key));
            m.insert("operator".into(), json!(op));
            if let Some(v) = values {
                m.insert("values".into(), json!(v));
            }
            if let Some(n) = min_values {
                m.insert("minValues".into(), json!(n));
            }
            Value::Object(m)
        })
}

fn budget() -> impl Strategy<Value = Value> {
    (
        maybe(prop_oneof!["[0-9]{1,3}", "[0-9]{1,2}%"]),
        maybe(Just("0 9 * * mon-fri".to_string())),
        maybe(duration()),
        maybe(prop::collection::vec(
            prop::sample::select(vec!["Underutilized", "Empty", "Drifted"]),
            0..3,
        )),
    )
        .prop_map(|(nodes, schedule, duration, reasons)| {
            let mut m = Map::new();
            for (k, v) in [
                ("nodes", nodes.map(|v| json!(v))),
                ("schedule", schedule.map(|v| json!(v))),
                ("duration", duration.map(|v| json!(v))),
                ("reasons", reasons.map(|v| json!(v))),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

fn nodepool_v1() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(requirement(), 0..6),
        maybe(prop::collection::btree_map(label_key(), "[a-zA-Z0-9]{0,10}", 0..4)),
        maybe(prop::collection::btree_map(prop::sample::select(vec!["cpu", "memory", "nodes", "nvidia.com/gpu"]), quantity(), 0..4)),
        maybe(prop::collection::vec(budget(), 0..3)),
        maybe(duration()),
        maybe(1i32..100),
    )
        .prop_map(|(requirements, labels, limits, budgets, expire_after, weight)| {
            let mut tspec = json!({
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                "requirements": requirements,
            });
            if let Some(e) = expire_after {
                tspec["expireAfter"] = json!(e);
            }
            let mut template = json!({"spec": tspec});
            if let Some(l) = labels {
                template["metadata"] = json!({"labels": l});
            }
            let mut spec = json!({"template": template});
            if let Some(l) = limits {
                spec["limits"] = json!(l);
            }
            if let Some(b) = budgets {
                spec["disruption"] = json!({"consolidateAfter": "0s", "budgets": b});
            }
            if let Some(w) = weight {
                spec["weight"] = json!(w);
            }
            json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "p"}, "spec": spec})
        })
}

proptest! {
    #[test]
    fn v1_nodepools_round_trip_exactly(doc in nodepool_v1()) {
        let obj = KarpenterObject::from_value(doc.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let out = obj.to_value().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&out, &doc, "{:?}", support::diff(&doc, &out, ""));
    }

    #[test]
    fn numeric_quantities_keep_their_digits(n in 0u64..1_000_000_000_000, key in prop::sample::select(vec!["cpu", "memory"])) {
        let doc = json!({"apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner", "metadata": {"name": "p"},
            "spec": {"limits": {"resources": {key: n}}}});
        let out = KarpenterObject::from_value(doc).unwrap().to_value().unwrap();
        prop_assert_eq!(&out["spec"]["limits"]["resources"][key], &json!(n.to_string()));
    }
}

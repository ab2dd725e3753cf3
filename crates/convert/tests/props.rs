//! Property tests: generated valid v1alpha5 Provisioners always convert, the output always
//! validates against the target CRD, and requirements/labels/taints/limits are preserved
//! (modulo the documented alpha-default requirements that are appended).
use std::collections::BTreeMap;

use karpenter_convert::{convert, duration, CrdValidator, Document, Location, Options, Target};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const IN_KEYS: &[&str] = &[
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "karpenter.sh/capacity-type",
    "node.kubernetes.io/instance-type",
    "karpenter.k8s.aws/instance-family",
    "karpenter.k8s.aws/instance-category",
    "topology.kubernetes.io/zone",
    "beta.kubernetes.io/arch",
    "example.com/team",
];
const NUMERIC_KEYS: &[&str] = &[
    "karpenter.k8s.aws/instance-cpu",
    "karpenter.k8s.aws/instance-generation",
    "karpenter.k8s.aws/instance-memory",
];

fn requirement() -> impl Strategy<Value = Value> {
    let set_req = (
        prop::sample::select(IN_KEYS),
        prop::sample::select(&["In", "NotIn"][..]),
        prop::collection::vec("[a-z0-9][a-z0-9.-]{0,8}[a-z0-9]", 1..4),
    )
        .prop_map(|(k, op, vals)| json!({"key": k, "operator": op, "values": vals}));
    let exists = (
        prop::sample::select(IN_KEYS),
        prop::sample::select(&["Exists", "DoesNotExist"][..]),
    )
        .prop_map(|(k, op)| json!({"key": k, "operator": op}));
    let numeric = (
        prop::sample::select(NUMERIC_KEYS),
        prop::sample::select(&["Gt", "Lt"][..]),
        0u32..1000,
    )
        .prop_map(|(k, op, n)| json!({"key": k, "operator": op, "values": [n.to_string()]}));
    prop_oneof![set_req, exists, numeric]
}

fn taint() -> impl Strategy<Value = Value> {
    (
        "example\\.com/[a-z]{1,8}",
        prop::option::of("[a-z0-9]{1,8}"),
        prop::sample::select(&["NoSchedule", "PreferNoSchedule", "NoExecute"][..]),
    )
        .prop_map(|(k, v, e)| {
            let mut t = Map::new();
            t.insert("key".into(), json!(k));
            if let Some(v) = v {
                t.insert("value".into(), json!(v));
            }
            t.insert("effect".into(), json!(e));
            Value::Object(t)
        })
}

fn kubelet() -> impl Strategy<Value = Value> {
    (
        prop::option::of(1u32..250),
        prop::option::of(1u32..20),
        prop::option::of((51u32..100, 1u32..50)),
        prop::option::of(1u32..500),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(max_pods, ppc, gc, reserved_mi, cfs)| {
            let mut k = Map::new();
            if let Some(m) = max_pods {
                k.insert("maxPods".into(), json!(m));
            }
            if let Some(p) = ppc {
                k.insert("podsPerCore".into(), json!(p));
            }
            if let Some((hi, lo)) = gc {
                k.insert("imageGCHighThresholdPercent".into(), json!(hi));
                k.insert("imageGCLowThresholdPercent".into(), json!(lo));
            }
            if let Some(mi) = reserved_mi {
                k.insert(
                    "systemReserved".into(),
                    json!({"memory": format!("{mi}Mi")}),
                );
                k.insert(
                    "evictionSoft".into(),
                    json!({"memory.available": format!("{mi}Mi")}),
                );
                k.insert(
                    "evictionSoftGracePeriod".into(),
                    json!({"memory.available": "1m"}),
                );
            }
            if let Some(c) = cfs {
                k.insert("cpuCFSQuota".into(), json!(c));
            }
            Value::Object(k)
        })
}

prop_compose! {
    fn provisioner()(
        name in "[a-z][a-z0-9]{0,12}",
        labels in prop::collection::btree_map("(example\\.com/)?[a-z]{1,8}", "[a-z0-9]{0,8}", 0..4),
        reqs in prop::collection::vec(requirement(), 0..6),
        taints in prop::collection::vec(taint(), 0..3),
        startup in prop::collection::vec(taint(), 0..2),
        cpu in prop::option::of(1u32..10_000),
        memory_gi in prop::option::of(1u32..10_000),
        after_empty in prop::option::of(0u64..1_000_000),
        expire in prop::option::of(1u64..100_000_000),
        consolidation in any::<bool>(),
        weight in prop::option::of(1u32..=100),
        kubelet in prop::option::of(kubelet()),
        class in "[a-z][a-z0-9]{0,12}",
    ) -> Value {
        // One requirement per key (as a user would write them).
        let mut seen = std::collections::HashSet::new();
        let reqs: Vec<Value> = reqs.into_iter().filter(|r| seen.insert(r["key"].clone())).collect();
        let mut spec = Map::new();
        if !labels.is_empty() { spec.insert("labels".into(), json!(labels)); }
        if !reqs.is_empty() { spec.insert("requirements".into(), json!(reqs)); }
        if !taints.is_empty() { spec.insert("taints".into(), json!(taints)); }
        if !startup.is_empty() { spec.insert("startupTaints".into(), json!(startup)); }
        let mut limits = Map::new();
        if let Some(c) = cpu { limits.insert("cpu".into(), json!(c.to_string())); }
        if let Some(m) = memory_gi { limits.insert("memory".into(), json!(format!("{m}Gi"))); }
        if !limits.is_empty() { spec.insert("limits".into(), json!({"resources": limits})); }
        if consolidation {
            spec.insert("consolidation".into(), json!({"enabled": true}));
        } else if let Some(a) = after_empty {
            spec.insert("ttlSecondsAfterEmpty".into(), json!(a));
        }
        if let Some(e) = expire { spec.insert("ttlSecondsUntilExpired".into(), json!(e)); }
        if let Some(w) = weight { spec.insert("weight".into(), json!(w)); }
        if let Some(k) = kubelet { spec.insert("kubeletConfiguration".into(), k); }
        spec.insert("providerRef".into(), json!({"name": class}));
        json!({
            "apiVersion": "karpenter.sh/v1alpha5",
            "kind": "Provisioner",
            "metadata": {"name": name},
            "spec": spec,
        })
    }
}

fn normalize(key: &str) -> &str {
    match key {
        "beta.kubernetes.io/arch" => "kubernetes.io/arch",
        other => other,
    }
}

fn check(prov: &Value, target: Target, ignore_defaults: bool) -> Result<(), TestCaseError> {
    let docs = vec![Document {
        location: Location::new("gen.yaml", 1),
        value: prov.clone(),
    }];
    let validator = CrdValidator;
    let opts = Options {
        target,
        ignore_defaults,
        validator: Some(&validator),
        ..Options::default()
    };
    let conv =
        convert(&docs, &opts).map_err(|e| TestCaseError::fail(format!("{e}\ninput: {prov}")))?;
    prop_assert_eq!(conv.objects.len(), 1);
    let np = &conv.objects[0].value;
    crd_schema::karpenter::validate_object(np)
        .map_err(|e| TestCaseError::fail(format!("{e}\noutput: {np}")))?;
    let spec = &prov["spec"];
    let tspec = &np["spec"]["template"]["spec"];

    // Requirements: the input's, in order, then only defaults for absent keys.
    let input_reqs = spec["requirements"].as_array().cloned().unwrap_or_default();
    let output_reqs = tspec["requirements"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    prop_assert!(output_reqs.len() >= input_reqs.len());
    prop_assert_eq!(&output_reqs[..input_reqs.len()], &input_reqs[..]);
    let input_keys: Vec<&str> = input_reqs
        .iter()
        .filter_map(|r| r["key"].as_str())
        .map(normalize)
        .collect();
    for extra in &output_reqs[input_reqs.len()..] {
        prop_assert!(!ignore_defaults, "defaults added despite --ignore-defaults");
        let k = extra["key"].as_str().unwrap_or_default();
        prop_assert!(
            !input_keys.contains(&k),
            "default for {} although the key is present",
            k
        );
    }

    // Labels, taints, limits, weight.
    prop_assert_eq!(
        np["spec"]["template"]["metadata"]
            .get("labels")
            .cloned()
            .unwrap_or(json!({})),
        spec.get("labels").cloned().unwrap_or(json!({}))
    );
    prop_assert_eq!(tspec.get("taints"), spec.get("taints"));
    prop_assert_eq!(tspec.get("startupTaints"), spec.get("startupTaints"));
    prop_assert_eq!(
        np["spec"].get("limits"),
        spec.get("limits").map(|l| &l["resources"])
    );
    prop_assert_eq!(np["spec"].get("weight"), spec.get("weight"));

    // Durations.
    let expire = spec["ttlSecondsUntilExpired"]
        .as_u64()
        .map(duration::format_seconds)
        .unwrap_or_else(|| "Never".into());
    let expire_out = match target {
        Target::V1 => &tspec["expireAfter"],
        Target::V1beta1 => &np["spec"]["disruption"]["expireAfter"],
    };
    prop_assert_eq!(expire_out.as_str(), Some(expire.as_str()));
    if let Some(a) = spec["ttlSecondsAfterEmpty"].as_u64() {
        prop_assert_eq!(
            np["spec"]["disruption"]["consolidationPolicy"].as_str(),
            Some("WhenEmpty")
        );
        let after = duration::format_seconds(a);
        prop_assert_eq!(
            np["spec"]["disruption"]["consolidateAfter"].as_str(),
            Some(after.as_str())
        );
    }

    // Kubelet: on the NodePool for v1beta1; for v1 it needs the class, which is not in the
    // input, so a warning carries it.
    match target {
        Target::V1beta1 => {
            prop_assert_eq!(
                tspec.get("kubelet").is_some(),
                spec.get("kubeletConfiguration")
                    .is_some_and(|k| k.as_object().is_some_and(|m| !m.is_empty()))
            );
        }
        Target::V1 => {
            prop_assert!(tspec.get("kubelet").is_none());
            let has_kubelet = spec
                .get("kubeletConfiguration")
                .is_some_and(|k| k.as_object().is_some_and(|m| !m.is_empty()));
            let warned = conv
                .warnings
                .iter()
                .any(|w| w.field == "spec.kubeletConfiguration");
            prop_assert_eq!(has_kubelet, warned);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn provisioners_convert_to_valid_v1(prov in provisioner(), ignore in any::<bool>()) {
        check(&prov, Target::V1, ignore)?;
    }

    #[test]
    fn provisioners_convert_to_valid_v1beta1(prov in provisioner(), ignore in any::<bool>()) {
        check(&prov, Target::V1beta1, ignore)?;
    }

    /// The formatter and the shared Go parser agree on every representable duration, and the
    /// formatted text is already normal.
    #[test]
    fn formatted_durations_parse_back(nanos in 0u64..=i64::MAX as u64) {
        let text = duration::format_nanos(u128::from(nanos));
        prop_assert_eq!(duration::parse_go(&text), Some(u128::from(nanos)), "{}", text);
        prop_assert_eq!(duration::normalize(&text), Some(text.clone()));
    }

    #[test]
    fn selector_cross_product_preserves_every_combination(
        sel in prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9./-]{0,10}", prop::collection::vec("[a-z0-9*]{1,5}", 1..4), 1..4)
    ) {
        let map: BTreeMap<String, String> = sel.iter().map(|(k, v)| (k.clone(), v.join(","))).collect();
        let e = karpenter_convert::selector::expand(karpenter_convert::selector::SelectorKind::Subnet, &map)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: usize = sel.values().map(Vec::len).product();
        prop_assert_eq!(e.terms.len(), expected);
        for t in &e.terms {
            let tags = t["tags"].as_object().expect("tags");
            prop_assert_eq!(tags.len(), sel.len());
            for (k, vals) in &sel {
                prop_assert!(vals.iter().any(|v| tags[k] == v.as_str()));
            }
        }
    }
}

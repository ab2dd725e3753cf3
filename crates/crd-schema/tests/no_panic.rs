//! Property tests: arbitrary input never makes the parser, the evaluator or the validator panic.

use crd_schema::cel::Program;
use crd_schema::karpenter::{self, CRDS};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names that occur in the Karpenter schemas, so random objects reach deep into them.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "labels",
    "annotations",
    "spec",
    "status",
    "template",
    "requirements",
    "key",
    "operator",
    "values",
    "minValues",
    "nodeClassRef",
    "group",
    "disruption",
    "budgets",
    "nodes",
    "schedule",
    "duration",
    "consolidationPolicy",
    "consolidateAfter",
    "limits",
    "weight",
    "replicas",
    "taints",
    "effect",
    "amiSelectorTerms",
    "alias",
    "id",
    "tags",
    "role",
    "instanceProfile",
    "kubelet",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
    "blockDeviceMappings",
    "ebs",
    "rootVolume",
    "volumeSize",
    "networkInterfaces",
    "networkCardIndex",
    "deviceIndex",
    "interfaceType",
    "subnetSelectorTerms",
    "securityGroupSelectorTerms",
    "amiFamily",
    "conditions",
    "type",
    "memory.available",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just("In".to_string()),
            Just("Gt".to_string()),
            Just("al2023@latest".to_string()),
            Just("karpenter.sh/nodepool".to_string()),
            Just("10%".to_string()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(str::to_string),
                        "[a-z./]{0,8}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn valid_fixtures() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_saphyr::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// Replaces the node reached by following `steps` (indices into object entries / array items) with `new`.
fn graft(v: &mut Value, steps: &[usize], new: Value) {
    let Some((s, rest)) = steps.split_first() else {
        *v = new;
        return;
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let n = m.len();
            if let Some(child) = m.values_mut().nth(s % n) {
                graft(child, rest, new);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            graft(&mut a[s % n], rest, new);
        }
        _ => *v = new,
    }
}

fn all_rules() -> Vec<Program> {
    karpenter::load_all()
        .unwrap()
        .into_iter()
        .flat_map(|crd| {
            crd.schema()
                .rules()
                .into_iter()
                .map(|(_, r)| r.rule.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validator_never_panics_on_arbitrary_json(v in arb_json(), which in 0..CRDS.len()) {
        let crd = &CRDS[which];
        let _ = karpenter::validate(crd.api_version, crd.kind, &v);
        let _ = karpenter::validate_object(&v);
    }

    #[test]
    fn validator_never_panics_on_mutated_valid_objects(
        which in 0usize..10,
        steps in prop::collection::vec(any::<usize>(), 0..8),
        new in arb_json(),
    ) {
        let fixtures = valid_fixtures();
        let mut obj = fixtures[which % fixtures.len()].clone();
        let original = obj.clone();
        graft(&mut obj, &steps, new);
        let _ = karpenter::validate_object(&obj);
        // Transition rules with an arbitrary old object, too.
        if let (Some(av), Some(k)) = (original["apiVersion"].as_str(), original["kind"].as_str()) {
            let _ = karpenter::schema(av, k).unwrap().validate_update(&obj, &original);
            let _ = karpenter::schema(av, k).unwrap().validate_update(&original, &obj);
        }
    }

    #[test]
    fn every_rule_evaluates_without_panicking_on_arbitrary_self(v in arb_json(), old in arb_json()) {
        for rule in all_rules() {
            let _ = rule.evaluate(&v, None);
            let _ = rule.evaluate(&v, Some(&old));
        }
    }

    #[test]
    fn cel_parser_never_panics(src in "\\PC{0,40}") {
        let _ = Program::parse(&src);
    }

    #[test]
    fn cel_parser_never_panics_on_cel_like_text(
        src in prop::collection::vec(prop::sample::select(vec![
            "self", "oldSelf", "x", ".", "(", ")", "[", "]", "{", "}", ",", ":", "?", "!", "-", "+", "*", "/", "%",
            "&&", "||", "==", "!=", "<", "<=", ">", ">=", " in ", "has", "size", "all", "exists", "map", "filter",
            "find", "split", "'a'", "\"b\"", "'''c'''", "r'\\d'", "'\\1'", "'\\x4", "1", "0x1F", "2u", "1.5e3",
            "9223372036854775808", "true", "null", "int", "string", "matches", "'^(['",
        ]), 0..24),
        v in arb_json(),
    ) {
        let text = src.concat();
        if let Ok(p) = Program::parse(&text) {
            let _ = p.evaluate(&v, Some(&v));
        }
    }
}

/// A CRD whose only fields carry the string formats the validator checks.
const FORMATS_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: stamps.example.com}
spec:
  group: example.com
  names: {kind: Stamp, plural: stamps}
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                at: {type: string, format: date-time}
                day: {type: string, format: date}
                after: {type: string, format: duration}
"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary (often multi-byte) text behind a well-formed prefix reaches every fixed-width
    /// slice of the format checks; none may panic, and multi-byte text is never a valid format.
    #[test]
    fn string_formats_never_panic(
        prefix in prop::sample::select(vec!["", "2024-01-02", "2024-01-02T", "2024-01-02T15:04:05",
                                            "2024-01-02T15:04:05+", "2024-01-02T15:04:05.1-0", "1h", "1."]),
        tail in "\\PC{0,12}",
    ) {
        let crd = crd_schema::CrdSchema::from_yaml(FORMATS_CRD, None).expect("the formats CRD loads");
        let text = format!("{prefix}{tail}");
        for field in ["at", "day", "after"] {
            let obj = serde_json::json!({
                "apiVersion": "example.com/v1", "kind": "Stamp", "metadata": {"name": "s"},
                "spec": {field: text},
            });
            let result = crd.validate(&obj);
            // Only ASCII can be a date or a timestamp (a duration may say µs).
            if field != "after" && !text.is_ascii() {
                prop_assert!(result.is_err(), "{field}: {text:?} accepted");
            }
        }
    }
}

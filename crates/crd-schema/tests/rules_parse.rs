//! Every `x-kubernetes-validations` rule in every embedded CRD parses with the CEL subset, and every schema loads
//! (unknown schema keywords are load errors), so no rule or constraint is silently ignored.

use crd_schema::cel::Program;
use crd_schema::karpenter::{self, CRDS};
use serde_json::Value;

/// Rules deliberately not supported, with the reason. Empty: every rule in the vendored CRDs is supported.
const SKIPPED_RULES: &[(&str, &str)] = &[];

fn collect_rules(v: &Value, out: &mut Vec<(String, Option<String>)>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                for r in rules {
                    let rule = r
                        .get("rule")
                        .and_then(Value::as_str)
                        .expect("rule is a string")
                        .to_string();
                    let msg_expr = r
                        .get("messageExpression")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    out.push((rule, msg_expr));
                }
            }
            for child in map.values() {
                collect_rules(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_rules(i, out)),
        _ => {}
    }
}

#[test]
fn every_rule_in_every_vendored_crd_parses() {
    let mut total = 0;
    let mut failures = Vec::new();
    for crd in CRDS {
        let doc: Value = serde_saphyr::from_str(crd.yaml).expect("vendored CRD is YAML");
        let mut rules = Vec::new();
        collect_rules(&doc, &mut rules);
        for (rule, msg_expr) in rules {
            total += 1;
            if SKIPPED_RULES.iter().any(|(r, _)| *r == rule) {
                continue;
            }
            if let Err(e) = Program::parse(&rule) {
                failures.push(format!("{}: `{rule}`: {e}", crd.file));
            }
            if let Some(m) = msg_expr {
                if let Err(e) = Program::parse(&m) {
                    failures.push(format!("{}: messageExpression `{m}`: {e}", crd.file));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "rules that do not parse:\n{}",
        failures.join("\n")
    );
    // The brief counted ~80 distinct rules; with repeats across files there are well over 100.
    assert!(total > 100, "found only {total} rules");
}

#[test]
fn every_embedded_crd_loads_and_matches_its_table_entry() {
    let loaded = karpenter::load_all().unwrap_or_else(|e| panic!("{e}"));
    for (crd, schema) in CRDS.iter().zip(loaded) {
        assert_eq!(schema.api_version(), crd.api_version, "{}", crd.file);
        assert_eq!(schema.kind(), crd.kind, "{}", crd.file);
        assert!(!schema.namespaced(), "{} is cluster-scoped", crd.file);
        // The loaded schema carries as many rules as the raw YAML declares.
        let doc: Value = serde_saphyr::from_str(crd.yaml).unwrap();
        let mut raw = Vec::new();
        collect_rules(&doc, &mut raw);
        assert_eq!(
            schema.schema().rules().len(),
            raw.len(),
            "{}: every rule is attached to the schema",
            crd.file
        );
    }
}

#[test]
fn vendored_crds_are_byte_identical_to_the_shared_reference_copies() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root
        .ancestors()
        .find(|p| p.join("Cargo.lock").exists())
        .map(|ws| ws.join("../shared/crds"));
    let Some(shared) = shared.filter(|p| p.exists()) else {
        eprintln!(
            "shared/crds not found beside the repository; skipping the byte-for-byte comparison"
        );
        return;
    };
    for crd in CRDS {
        let upstream = std::fs::read_to_string(shared.join(crd.file)).expect("shared copy exists");
        assert!(
            upstream == crd.yaml,
            "crds/{} differs from shared/crds/{}",
            crd.file,
            crd.file
        );
    }
}

//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use karpenter_api::KarpenterObject;
use serde_json::Value;

/// The workspace root (the first ancestor of this crate whose Cargo.toml has `[workspace]`).
pub fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest).is_ok_and(|t| t.contains("[workspace]")) {
            return dir;
        }
        assert!(
            dir.pop(),
            "no workspace root above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
}

/// `../shared` next to the repository.
pub fn shared_dir() -> PathBuf {
    let dir = workspace_root().join("../shared");
    assert!(dir.is_dir(), "shared dir {} not found", dir.display());
    dir
}

/// This crate's fixture directory.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Parse every YAML document of `text` into JSON values.
pub fn yaml_docs(text: &str) -> Result<Vec<Value>, String> {
    serde_saphyr::from_multiple::<Value>(text).map_err(|e| e.to_string())
}

/// Load every YAML document of a file.
pub fn load_yaml(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    yaml_docs(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Whether a document claims to be one of the Karpenter kinds we model.
pub fn is_modelled(doc: &Value) -> bool {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    KarpenterObject::SUPPORTED
        .iter()
        .any(|(v, k)| *v == api_version && *k == kind)
}

/// Compare an input document with its re-serialized form and return the first difference.
///
/// Normalisations (everything else must be identical):
/// - a key whose input value is `null` counts as absent (`creationTimestamp: null` in kubectl output);
/// - an input number equals an output string with the same text: quantities (`cpu: 1000`) are emitted as
///   strings (`"1000"`), which Kubernetes treats as the same quantity.
pub fn diff(input: &Value, output: &Value, path: &str) -> Option<String> {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, av) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    None if av.is_null() => {}
                    None => return Some(format!("{p}: lost (input {av})")),
                    Some(bv) => {
                        if let Some(d) = diff(av, bv, &p) {
                            return Some(d);
                        }
                    }
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) {
                    return Some(format!("{path}.{k}: gained (output {bv})"));
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: length {} became {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (av, bv))| diff(av, bv, &format!("{path}[{i}]")))
        }
        (Value::Number(n), Value::String(s)) if n.to_string() == *s => None,
        (a, b) if a == b => None,
        (a, b) => Some(format!("{path}: {a} became {b}")),
    }
}

/// Deserialize `doc` through [`KarpenterObject`], re-serialize it and assert nothing changed.
pub fn assert_round_trip(doc: &Value, origin: &str) -> KarpenterObject {
    let obj = KarpenterObject::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{origin}: failed to deserialize: {e}"));
    let out = obj
        .to_value()
        .unwrap_or_else(|e| panic!("{origin}: failed to serialize: {e}"));
    if let Some(d) = diff(doc, &out, "") {
        panic!("{origin}: round trip changed the object at {d}\ninput:  {doc}\noutput: {out}");
    }
    obj
}

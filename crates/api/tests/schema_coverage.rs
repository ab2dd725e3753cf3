//! Schema coverage: build objects straight from the upstream CRD `openAPIV3Schema`s and round-trip them.
//!
//! - The *maximal* object populates every property of the schema (spec and status), so a field the Rust types
//!   lack would be lost and a misspelt rename would change the key: both fail the equality check.
//! - The *minimal* object holds only the schema's required properties (plus `metadata.name`), so a field the
//!   Rust types wrongly require fails to deserialize, and a default the types inject would show up as a gained
//!   field.

mod support;

use std::collections::BTreeSet;

use karpenter_api::KarpenterObject;
use serde_json::{json, Map, Value};
use support::diff;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Maximal,
    Minimal,
}

/// One served version of an upstream CRD.
struct CrdVersion {
    file: String,
    api_version: String,
    kind: String,
    schema: Value,
}

fn crd_versions() -> Vec<CrdVersion> {
    let crds = support::shared_dir().join("crds");
    let mut out = Vec::new();
    for sub in ["v0.32", "v1"] {
        let mut files: Vec<_> = std::fs::read_dir(crds.join(sub))
            .expect("read crd dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for path in files {
            for crd in support::load_yaml(&path) {
                let group = crd["spec"]["group"]
                    .as_str()
                    .expect("spec.group")
                    .to_string();
                let kind = crd["spec"]["names"]["kind"]
                    .as_str()
                    .expect("spec.names.kind")
                    .to_string();
                for version in crd["spec"]["versions"].as_array().expect("spec.versions") {
                    out.push(CrdVersion {
                        file: path.display().to_string(),
                        api_version: format!(
                            "{group}/{}",
                            version["name"].as_str().expect("version name")
                        ),
                        kind: kind.clone(),
                        schema: version["schema"]["openAPIV3Schema"].clone(),
                    });
                }
            }
        }
    }
    out
}

/// Generates example values from a structural schema and counts the properties it populated.
struct Generator {
    mode: Mode,
    properties: usize,
}

impl Generator {
    fn object(&mut self, crd: &CrdVersion) -> Value {
        let props = &crd.schema["properties"];
        let mut obj = Map::new();
        obj.insert("apiVersion".into(), json!(crd.api_version));
        obj.insert("kind".into(), json!(crd.kind));
        obj.insert("metadata".into(), self.metadata());
        obj.insert("spec".into(), self.value(&props["spec"], "spec"));
        if self.mode == Mode::Maximal {
            obj.insert("status".into(), self.value(&props["status"], "status"));
        }
        Value::Object(obj)
    }

    fn metadata(&self) -> Value {
        match self.mode {
            Mode::Minimal => json!({"name": "minimal"}),
            Mode::Maximal => json!({
                "name": "maximal",
                "generateName": "maximal-",
                "uid": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                "resourceVersion": "42",
                "generation": 3,
                "creationTimestamp": "2024-01-02T03:04:05Z",
                "deletionTimestamp": "2024-01-03T03:04:05Z",
                "deletionGracePeriodSeconds": 30,
                "labels": {"team": "platform"},
                "annotations": {"example.com/note": "x"},
                "finalizers": ["karpenter.sh/termination"],
                "ownerReferences": [{
                    "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "name": "default",
                    "uid": "11111111-2222-3333-4444-555555555555", "controller": true,
                    "blockOwnerDeletion": true
                }],
                "managedFields": [{
                    "apiVersion": "karpenter.sh/v1", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {".": {}}}, "manager": "kubectl", "operation": "Update",
                    "subresource": "status", "time": "2024-01-02T03:04:05Z"
                }]
            }),
        }
    }

    fn value(&mut self, schema: &Value, name: &str) -> Value {
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        if schema["x-kubernetes-int-or-string"] == json!(true) {
            return json!("1");
        }
        match schema["type"].as_str() {
            Some("object") => self.object_value(schema),
            Some("array") => json!([self.value(&schema["items"], name)]),
            Some("string") => {
                if schema["format"] == json!("date-time")
                    || name.ends_with("Time")
                    || name == "timeAdded"
                {
                    json!("2024-01-02T03:04:05Z")
                } else {
                    json!(format!("{name}-value"))
                }
            }
            Some("integer") => json!(1),
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            other => panic!("unhandled schema type {other:?} for {name}: {schema}"),
        }
    }

    fn object_value(&mut self, schema: &Value) -> Value {
        let mut obj = Map::new();
        if let Some(props) = schema["properties"].as_object() {
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (key, sub) in props {
                if self.mode == Mode::Maximal || required.contains(key.as_str()) {
                    self.properties += 1;
                    obj.insert(key.clone(), self.value(sub, key));
                }
            }
        } else if schema["additionalProperties"].is_object() {
            if self.mode == Mode::Maximal {
                obj.insert(
                    "example.com/key".into(),
                    self.value(&schema["additionalProperties"], "entry"),
                );
            }
        } else if schema["x-kubernetes-preserve-unknown-fields"] == json!(true)
            && self.mode == Mode::Maximal
        {
            obj.insert("anyField".into(), json!("any"));
            obj.insert(
                "nested".into(),
                json!({"list": [1, "two", {"three": 3.5}], "flag": false}),
            );
        }
        Value::Object(obj)
    }
}

fn round_trip_all(mode: Mode) -> Vec<(String, String, usize)> {
    let mut covered = Vec::new();
    for crd in crd_versions() {
        let mut generator = Generator {
            mode,
            properties: 0,
        };
        let input = generator.object(&crd);
        let origin = format!("{} {} ({})", crd.api_version, crd.kind, crd.file);
        let obj = KarpenterObject::from_value(input.clone()).unwrap_or_else(|e| {
            panic!("{origin}: generated object does not deserialize: {e}\n{input}")
        });
        assert_eq!(
            (obj.api_version(), obj.kind()),
            (crd.api_version.as_str(), crd.kind.as_str())
        );
        let output = obj.to_value().expect("serialize");
        if input != output {
            panic!(
                "{origin}: round trip differs at {}\ninput:  {input}\noutput: {output}",
                diff(&input, &output, "").unwrap_or_else(|| "(order-insensitive equal?)".into())
            );
        }
        covered.push((crd.api_version, crd.kind, generator.properties));
    }
    covered
}

fn assert_all_kinds(covered: &[(String, String, usize)]) {
    for (api_version, kind) in KarpenterObject::SUPPORTED {
        assert!(
            covered
                .iter()
                .any(|(v, k, _)| v == api_version && k == kind),
            "no CRD schema found for {api_version} {kind}"
        );
    }
    assert_eq!(
        covered.len(),
        KarpenterObject::SUPPORTED.len(),
        "unexpected CRD versions: {covered:?}"
    );
}

#[test]
fn maximal_objects_from_every_crd_schema_round_trip() {
    let covered = round_trip_all(Mode::Maximal);
    eprintln!("maximal: {covered:?}");
    assert_all_kinds(&covered);
    // Every schema has dozens of properties; a tiny count would mean the generator walked nothing.
    for (api_version, kind, properties) in &covered {
        assert!(
            *properties >= 20,
            "{api_version} {kind}: only {properties} properties generated"
        );
    }
    let total: usize = covered.iter().map(|c| c.2).sum();
    assert!(
        total >= 450,
        "only {total} properties generated across all schemas"
    );
}

#[test]
fn minimal_objects_from_every_crd_schema_round_trip() {
    let covered = round_trip_all(Mode::Minimal);
    eprintln!("minimal: {covered:?}");
    assert_all_kinds(&covered);
}

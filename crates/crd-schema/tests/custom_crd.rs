//! Schema features the Karpenter CRDs use rarely or not at all, exercised with a small hand-written CRD.

use crd_schema::{CrdSchema, Rule, SchemaError};
use serde_json::{json, Value};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: false
      schema:
        openAPIV3Schema: {type: object}
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              additionalProperties: false
              minProperties: 1
              x-kubernetes-validations:
                - rule: "self.min <= self.max"
                  messageExpression: "'min ' + string(self.min) + ' exceeds max ' + string(self.max)"
                - rule: "!has(self.forbidden)"
                  message: forbidden is not allowed
                  fieldPath: .forbidden
                  reason: FieldValueForbidden
                - rule: "!has(self.colour) || self.colour != 'mauve'"
              properties:
                min: {type: integer, default: 0}
                max: {type: integer, default: 10, exclusiveMinimum: true, minimum: 0}
                ratio: {type: number, multipleOf: 0.5}
                note: {type: string, nullable: true}
                colour: {type: string}
                forbidden: {type: string}
                size:
                  x-kubernetes-int-or-string: true
                  anyOf: [{type: integer}, {type: string}]
                tags:
                  type: array
                  uniqueItems: true
                  items: {type: string}
                mode:
                  type: string
                  oneOf: [{pattern: "^a"}, {pattern: "b$"}]
                  not: {pattern: "^ab$"}
                extra:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
"#;

fn widget(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": spec})
}

fn lines(crd: &CrdSchema, obj: &Value) -> Vec<String> {
    match crd.validate(obj) {
        Ok(()) => Vec::new(),
        Err(v) => v.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn storage_version_is_the_default_choice() {
    let crd = CrdSchema::from_yaml(CRD, None).unwrap();
    assert_eq!(crd.api_version(), "example.com/v1");
    assert!(crd.namespaced());
    let alpha = CrdSchema::from_yaml(CRD, Some("v1alpha1")).unwrap();
    assert_eq!(alpha.version(), "v1alpha1");
    let err = CrdSchema::from_yaml(CRD, Some("v2")).unwrap_err();
    assert!(matches!(err, SchemaError::UnknownVersion { .. }));
    assert_eq!(
        err.to_string(),
        "CRD Widget.example.com has no version \"v2\" (available: v1alpha1, v1)"
    );
}

#[test]
fn message_expression_field_path_and_reason() {
    let crd = CrdSchema::from_yaml(CRD, None).unwrap();
    assert!(lines(&crd, &widget(json!({"min": 1}))).is_empty());
    assert_eq!(
        lines(&crd, &widget(json!({"min": 11}))),
        ["spec: Invalid value: min 11 exceeds max 10"]
    );
    let errs = crd
        .validate(&widget(json!({"forbidden": "x"})))
        .unwrap_err();
    assert_eq!(
        errs[0].to_string(),
        "spec.forbidden: Forbidden: forbidden is not allowed"
    );
    assert_eq!(errs[0].rule, Rule::Cel("!has(self.forbidden)".into()));
    // No message: the API server's default.
    assert_eq!(
        lines(&crd, &widget(json!({"colour": "mauve"}))),
        ["spec: Invalid value: failed rule: !has(self.colour) || self.colour != 'mauve'"]
    );
}

#[test]
fn structural_keywords() {
    let crd = CrdSchema::from_yaml(CRD, None).unwrap();
    let cases: &[(Value, &[&str])] = &[
        (json!({"bogus": 1}), &["spec.bogus: field not declared in schema"]),
        (json!({"max": 0}), &["spec.max: Invalid value: 0: must be greater than 0"]),
        (json!({"ratio": 0.75}), &["spec.ratio: Invalid value: 0.75: must be a multiple of 0.5"]),
        (json!({"ratio": 1.5, "note": null}), &[]),
        // A null for a non-nullable field without a default is dropped, as the API server does; list items are not.
        (json!({"colour": null}), &[]),
        (json!({"tags": ["a", null]}), &["spec.tags[1]: Invalid value: null: must be of type string"]),
        (json!({"size": 3}), &[]),
        (json!({"size": "3Gi"}), &[]),
        (json!({"size": 1.5}), &["spec.size: Invalid value: 1.5: must be of type integer or string"]),
        (json!({"tags": ["a", "b", "a"]}), &["spec.tags[2]: Duplicate value: \"a\""]),
        (json!({"mode": "ax"}), &[]),
        (json!({"mode": "axb"}), &["spec.mode: Invalid value: \"axb\": must validate one and only one schema (oneOf), 2 matched"]),
        (json!({"mode": "x"}), &["spec.mode: Invalid value: \"x\": must validate one and only one schema (oneOf), 0 matched"]),
        (json!({"mode": "ab"}), &["spec.mode: Invalid value: \"ab\": must validate one and only one schema (oneOf), 2 matched", "spec.mode: Invalid value: \"ab\": must not validate the schema (not)"]),
        (json!({"extra": {"anything": {"goes": [1]}}}), &[]),
    ];
    for (spec, expected) in cases {
        assert_eq!(lines(&crd, &widget(spec.clone())), *expected, "spec {spec}");
    }
    // Defaults make an empty spec non-empty before minProperties is checked, as on a real server.
    assert!(lines(&crd, &widget(json!({}))).is_empty());
}

#[test]
fn namespaced_objects_need_a_valid_namespace() {
    let crd = CrdSchema::from_yaml(CRD, None).unwrap();
    let mut obj = widget(json!({}));
    obj["metadata"]["namespace"] = json!("Team_A");
    let found = lines(&crd, &obj);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "metadata.namespace: Invalid value: \"Team_A\": a lowercase RFC 1123 label"
        ),
        "{found:?}"
    );
    obj["metadata"].as_object_mut().unwrap().remove("namespace");
    assert_eq!(lines(&crd, &obj), ["metadata.namespace: Required value"]);
}

#[test]
fn load_errors_name_the_schema_location() {
    let bad_rule = CRD.replace("self.min <= self.max", "self.min <=");
    let err = CrdSchema::from_yaml(&bad_rule, None).unwrap_err();
    assert!(matches!(err, SchemaError::Rule { .. }), "{err}");
    assert!(err.to_string().starts_with("schema .properties.spec.x-kubernetes-validations[0]: CEL rule `self.min <=` does not parse"), "{err}");

    let unsupported = CRD.replace(
        "uniqueItems: true",
        "uniqueItems: true\n                  contains: {type: string}",
    );
    let err = CrdSchema::from_yaml(&unsupported, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "schema .properties.spec.properties.tags: unsupported schema keyword \"contains\""
    );

    let bad_pattern = CRD.replace("pattern: \"^a\"", "pattern: \"(\"");
    assert!(CrdSchema::from_yaml(&bad_pattern, None)
        .unwrap_err()
        .to_string()
        .contains("invalid pattern"));

    assert!(matches!(
        CrdSchema::from_yaml("kind: ConfigMap", None),
        Err(SchemaError::NotACrd(_))
    ));
    assert!(matches!(
        CrdSchema::from_yaml("{{{", None),
        Err(SchemaError::Yaml(_))
    ));
}

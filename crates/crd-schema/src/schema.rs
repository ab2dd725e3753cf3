//! The structural OpenAPI v3 schema model, parsed from a CRD's `openAPIV3Schema`.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use crate::cel::Program;
use crate::SchemaError;

/// `type` of a structural schema node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    /// `object`
    Object,
    /// `array`
    Array,
    /// `string`
    String,
    /// `integer`
    Integer,
    /// `number`
    Number,
    /// `boolean`
    Boolean,
}

impl SchemaType {
    /// The OpenAPI name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Object => "object",
            SchemaType::Array => "array",
            SchemaType::String => "string",
            SchemaType::Integer => "integer",
            SchemaType::Number => "number",
            SchemaType::Boolean => "boolean",
        }
    }
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// The list is replaced as a whole (no uniqueness requirement).
    Atomic,
    /// Scalar items must be unique.
    Set,
    /// Object items are unique by the `x-kubernetes-list-map-keys` fields.
    Map,
}

/// `additionalProperties`.
#[derive(Debug, Clone)]
pub enum AdditionalProperties {
    /// `true` allows any extra field, `false` forbids them.
    Allowed(bool),
    /// Extra fields must match this schema (a map).
    Schema(Box<Schema>),
}

/// One `x-kubernetes-validations` entry.
#[derive(Debug, Clone)]
pub struct ValidationRule {
    /// The compiled rule.
    pub rule: Program,
    /// `message`, if set.
    pub message: Option<String>,
    /// `messageExpression`, if set.
    pub message_expression: Option<Program>,
    /// `fieldPath` (relative JSON path the violation is reported at), if set.
    pub field_path: Option<String>,
    /// `reason` (`FieldValueInvalid`, `FieldValueForbidden`, `FieldValueRequired`, `FieldValueDuplicate`), if set.
    pub reason: Option<String>,
}

/// A numeric bound (`minimum`/`maximum`), kept with its original text for messages.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The bound as written.
    pub value: serde_json::Number,
    /// `exclusiveMinimum` / `exclusiveMaximum`.
    pub exclusive: bool,
}

/// One node of a structural schema.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// `type`.
    pub ty: Option<SchemaType>,
    /// `properties`.
    pub properties: BTreeMap<String, Schema>,
    /// `required`.
    pub required: Vec<String>,
    /// `additionalProperties`.
    pub additional_properties: Option<AdditionalProperties>,
    /// `items`.
    pub items: Option<Box<Schema>>,
    /// `enum`.
    pub enum_values: Option<Vec<Value>>,
    /// `pattern` (source, compiled).
    pub pattern: Option<(String, Regex)>,
    /// `format`.
    pub format: Option<String>,
    /// `minimum` (+ `exclusiveMinimum`).
    pub minimum: Option<Bound>,
    /// `maximum` (+ `exclusiveMaximum`).
    pub maximum: Option<Bound>,
    /// `multipleOf`.
    pub multiple_of: Option<f64>,
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `minProperties`.
    pub min_properties: Option<u64>,
    /// `maxProperties`.
    pub max_properties: Option<u64>,
    /// `uniqueItems`.
    pub unique_items: bool,
    /// `nullable`.
    pub nullable: bool,
    /// `default`.
    pub default: Option<Value>,
    /// `x-kubernetes-int-or-string`.
    pub int_or_string: bool,
    /// `x-kubernetes-preserve-unknown-fields`.
    pub preserve_unknown_fields: bool,
    /// `x-kubernetes-embedded-resource`.
    pub embedded_resource: bool,
    /// `x-kubernetes-list-type`.
    pub list_type: Option<ListType>,
    /// `x-kubernetes-list-map-keys`.
    pub list_map_keys: Vec<String>,
    /// `anyOf` (value validations only).
    pub any_of: Vec<Schema>,
    /// `allOf` (value validations only).
    pub all_of: Vec<Schema>,
    /// `oneOf` (value validations only).
    pub one_of: Vec<Schema>,
    /// `not` (value validation only).
    pub not: Option<Box<Schema>>,
    /// `x-kubernetes-validations`.
    pub validations: Vec<ValidationRule>,
}

/// Keywords that carry no validation semantics.
const DOC_KEYWORDS: &[&str] = &[
    "description",
    "title",
    "example",
    "externalDocs",
    "x-kubernetes-map-type",
];

fn schema_err(path: &str, message: impl Into<String>) -> SchemaError {
    SchemaError::Schema {
        path: path.to_string(),
        message: message.into(),
    }
}

fn get_u64(
    map: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u64>, SchemaError> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            schema_err(
                path,
                format!("{key} must be a non-negative integer, got {v}"),
            )
        }),
    }
}

fn get_bool(
    map: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<bool, SchemaError> {
    match map.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(schema_err(
            path,
            format!("{key} must be a boolean, got {v}"),
        )),
    }
}

fn get_str<'v>(
    map: &'v serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'v str>, SchemaError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(schema_err(path, format!("{key} must be a string, got {v}"))),
    }
}

fn get_bound(
    map: &serde_json::Map<String, Value>,
    key: &str,
    exclusive_key: &str,
    path: &str,
) -> Result<Option<Bound>, SchemaError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(Bound {
            value: n.clone(),
            exclusive: get_bool(map, exclusive_key, path)?,
        })),
        Some(v) => Err(schema_err(path, format!("{key} must be a number, got {v}"))),
    }
}

impl Schema {
    /// Parses a schema node. `path` names the node in the CRD for error messages. Unknown keywords are rejected so
    /// that no constraint is silently ignored.
    pub fn parse(v: &Value, path: &str) -> Result<Schema, SchemaError> {
        let Value::Object(map) = v else {
            return Err(schema_err(path, "a schema must be an object"));
        };
        let mut s = Schema::default();
        for (key, value) in map {
            match key.as_str() {
                "type" => {
                    s.ty = Some(match value.as_str() {
                        Some("object") => SchemaType::Object,
                        Some("array") => SchemaType::Array,
                        Some("string") => SchemaType::String,
                        Some("integer") => SchemaType::Integer,
                        Some("number") => SchemaType::Number,
                        Some("boolean") => SchemaType::Boolean,
                        _ => return Err(schema_err(path, format!("unsupported type {value}"))),
                    })
                }
                "properties" => {
                    let Value::Object(props) = value else {
                        return Err(schema_err(path, "properties must be an object"));
                    };
                    for (name, sub) in props {
                        s.properties.insert(
                            name.clone(),
                            Schema::parse(sub, &format!("{path}.properties.{name}"))?,
                        );
                    }
                }
                "required" => {
                    let Value::Array(names) = value else {
                        return Err(schema_err(path, "required must be a list of field names"));
                    };
                    for n in names {
                        let name = n.as_str().ok_or_else(|| {
                            schema_err(path, format!("required entry {n} is not a string"))
                        })?;
                        s.required.push(name.to_string());
                    }
                }
                "additionalProperties" => {
                    s.additional_properties = Some(match value {
                        Value::Bool(b) => AdditionalProperties::Allowed(*b),
                        other => AdditionalProperties::Schema(Box::new(Schema::parse(
                            other,
                            &format!("{path}.additionalProperties"),
                        )?)),
                    })
                }
                "items" => {
                    s.items = Some(Box::new(Schema::parse(value, &format!("{path}.items"))?))
                }
                "enum" => {
                    let Value::Array(values) = value else {
                        return Err(schema_err(path, "enum must be a list"));
                    };
                    s.enum_values = Some(values.clone());
                }
                "pattern" => {
                    let p = value
                        .as_str()
                        .ok_or_else(|| schema_err(path, "pattern must be a string"))?;
                    let re = crate::re2::compile(p)
                        .map_err(|e| schema_err(path, format!("invalid pattern {p:?}: {e}")))?;
                    s.pattern = Some((p.to_string(), re));
                }
                "format" => s.format = get_str(map, key, path)?.map(str::to_string),
                "minimum" => s.minimum = get_bound(map, "minimum", "exclusiveMinimum", path)?,
                "maximum" => s.maximum = get_bound(map, "maximum", "exclusiveMaximum", path)?,
                "exclusiveMinimum" | "exclusiveMaximum" => {
                    get_bool(map, key, path)?;
                }
                "multipleOf" => {
                    s.multiple_of =
                        Some(value.as_f64().filter(|m| *m > 0.0).ok_or_else(|| {
                            schema_err(path, "multipleOf must be a positive number")
                        })?)
                }
                "minLength" => s.min_length = get_u64(map, key, path)?,
                "maxLength" => s.max_length = get_u64(map, key, path)?,
                "minItems" => s.min_items = get_u64(map, key, path)?,
                "maxItems" => s.max_items = get_u64(map, key, path)?,
                "minProperties" => s.min_properties = get_u64(map, key, path)?,
                "maxProperties" => s.max_properties = get_u64(map, key, path)?,
                "uniqueItems" => s.unique_items = get_bool(map, key, path)?,
                "nullable" => s.nullable = get_bool(map, key, path)?,
                "default" => s.default = Some(value.clone()),
                "x-kubernetes-int-or-string" => s.int_or_string = get_bool(map, key, path)?,
                "x-kubernetes-preserve-unknown-fields" => {
                    s.preserve_unknown_fields = get_bool(map, key, path)?
                }
                "x-kubernetes-embedded-resource" => s.embedded_resource = get_bool(map, key, path)?,
                "x-kubernetes-list-type" => {
                    s.list_type = Some(match value.as_str() {
                        Some("atomic") => ListType::Atomic,
                        Some("set") => ListType::Set,
                        Some("map") => ListType::Map,
                        _ => {
                            return Err(schema_err(
                                path,
                                format!("unsupported x-kubernetes-list-type {value}"),
                            ))
                        }
                    })
                }
                "x-kubernetes-list-map-keys" => {
                    let Value::Array(keys) = value else {
                        return Err(schema_err(
                            path,
                            "x-kubernetes-list-map-keys must be a list",
                        ));
                    };
                    for k in keys {
                        let k = k.as_str().ok_or_else(|| {
                            schema_err(path, "x-kubernetes-list-map-keys entries must be strings")
                        })?;
                        s.list_map_keys.push(k.to_string());
                    }
                }
                "anyOf" | "allOf" | "oneOf" => {
                    let Value::Array(branches) = value else {
                        return Err(schema_err(path, format!("{key} must be a list of schemas")));
                    };
                    let mut parsed = Vec::with_capacity(branches.len());
                    for (i, b) in branches.iter().enumerate() {
                        parsed.push(Schema::parse(b, &format!("{path}.{key}[{i}]"))?);
                    }
                    match key.as_str() {
                        "anyOf" => s.any_of = parsed,
                        "allOf" => s.all_of = parsed,
                        _ => s.one_of = parsed,
                    }
                }
                "not" => s.not = Some(Box::new(Schema::parse(value, &format!("{path}.not"))?)),
                "x-kubernetes-validations" => {
                    let Value::Array(rules) = value else {
                        return Err(schema_err(path, "x-kubernetes-validations must be a list"));
                    };
                    for (i, r) in rules.iter().enumerate() {
                        s.validations.push(parse_rule(
                            r,
                            &format!("{path}.x-kubernetes-validations[{i}]"),
                        )?);
                    }
                }
                k if DOC_KEYWORDS.contains(&k) => {}
                other => {
                    return Err(schema_err(
                        path,
                        format!("unsupported schema keyword {other:?}"),
                    ))
                }
            }
        }
        if s.list_type == Some(ListType::Map) && s.list_map_keys.is_empty() {
            return Err(schema_err(
                path,
                "x-kubernetes-list-type: map requires x-kubernetes-list-map-keys",
            ));
        }
        Ok(s)
    }

    /// Every `x-kubernetes-validations` rule in this subtree, with the schema path of the node that carries it
    /// (`.spec.template.spec.requirements`, `[*]` for list items, `{*}` for map values).
    pub fn rules(&self) -> Vec<(String, &ValidationRule)> {
        let mut out = Vec::new();
        self.collect_rules(String::new(), &mut out);
        out
    }

    fn collect_rules<'s>(&'s self, path: String, out: &mut Vec<(String, &'s ValidationRule)>) {
        for r in &self.validations {
            out.push((path.clone(), r));
        }
        for (name, p) in &self.properties {
            p.collect_rules(format!("{path}.{name}"), out);
        }
        if let Some(AdditionalProperties::Schema(a)) = &self.additional_properties {
            a.collect_rules(format!("{path}{{*}}"), out);
        }
        if let Some(items) = &self.items {
            items.collect_rules(format!("{path}[*]"), out);
        }
        for b in self
            .any_of
            .iter()
            .chain(&self.all_of)
            .chain(&self.one_of)
            .chain(self.not.as_deref())
        {
            b.collect_rules(path.clone(), out);
        }
    }
}

fn parse_rule(v: &Value, path: &str) -> Result<ValidationRule, SchemaError> {
    let Value::Object(map) = v else {
        return Err(schema_err(path, "a validation rule must be an object"));
    };
    for key in map.keys() {
        if !matches!(
            key.as_str(),
            "rule" | "message" | "messageExpression" | "fieldPath" | "reason" | "optionalOldSelf"
        ) {
            return Err(schema_err(
                path,
                format!("unsupported validation rule field {key:?}"),
            ));
        }
    }
    if get_bool(map, "optionalOldSelf", path)? {
        return Err(schema_err(path, "optionalOldSelf is not supported"));
    }
    let rule_src =
        get_str(map, "rule", path)?.ok_or_else(|| schema_err(path, "rule is required"))?;
    let rule = Program::parse(rule_src).map_err(|e| SchemaError::Rule {
        path: path.to_string(),
        rule: rule_src.to_string(),
        source: e,
    })?;
    let message_expression = match get_str(map, "messageExpression", path)? {
        Some(src) => Some(Program::parse(src).map_err(|e| SchemaError::Rule {
            path: path.to_string(),
            rule: src.to_string(),
            source: e,
        })?),
        None => None,
    };
    Ok(ValidationRule {
        rule,
        message: get_str(map, "message", path)?.map(str::to_string),
        message_expression,
        field_path: get_str(map, "fieldPath", path)?.map(str::to_string),
        reason: get_str(map, "reason", path)?.map(str::to_string),
    })
}

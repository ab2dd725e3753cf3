//! Structural validation, defaulting and CEL rule evaluation over a [`Schema`].

use std::fmt;

use serde_json::Value;

use crate::schema::{AdditionalProperties, Bound, ListType, Schema, SchemaType, ValidationRule};

/// Which schema rule a [`Violation`] broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `type` (or `x-kubernetes-int-or-string`), including `null` for a non-`nullable` field.
    Type,
    /// `required` (or a value the API server requires, like `metadata.name`).
    Required,
    /// A field that no `properties`/`additionalProperties` declares (strict field validation).
    UnknownField,
    /// `enum`
    Enum,
    /// `pattern`
    Pattern,
    /// `format`
    Format,
    /// `minimum` / `exclusiveMinimum`
    Minimum,
    /// `maximum` / `exclusiveMaximum`
    Maximum,
    /// `multipleOf`
    MultipleOf,
    /// `minLength`
    MinLength,
    /// `maxLength`
    MaxLength,
    /// `minItems`
    MinItems,
    /// `maxItems`
    MaxItems,
    /// `minProperties`
    MinProperties,
    /// `maxProperties`
    MaxProperties,
    /// `uniqueItems` or `x-kubernetes-list-type: set`
    UniqueItems,
    /// `x-kubernetes-list-type: map` key uniqueness
    ListMapKeys,
    /// `anyOf`
    AnyOf,
    /// `oneOf`
    OneOf,
    /// `not`
    Not,
    /// An `x-kubernetes-validations` CEL rule (its source text).
    Cel(String),
    /// The apiVersion/kind of the object does not match the CRD.
    TypeMeta,
    /// An `ObjectMeta` check the API server performs (name, labels, annotations, finalizers).
    Metadata,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Rule::Type => "type",
            Rule::Required => "required",
            Rule::UnknownField => "unknown field",
            Rule::Enum => "enum",
            Rule::Pattern => "pattern",
            Rule::Format => "format",
            Rule::Minimum => "minimum",
            Rule::Maximum => "maximum",
            Rule::MultipleOf => "multipleOf",
            Rule::MinLength => "minLength",
            Rule::MaxLength => "maxLength",
            Rule::MinItems => "minItems",
            Rule::MaxItems => "maxItems",
            Rule::MinProperties => "minProperties",
            Rule::MaxProperties => "maxProperties",
            Rule::UniqueItems => "uniqueItems",
            Rule::ListMapKeys => "x-kubernetes-list-map-keys",
            Rule::AnyOf => "anyOf",
            Rule::OneOf => "oneOf",
            Rule::Not => "not",
            Rule::Cel(rule) => return write!(f, "x-kubernetes-validations rule `{rule}`"),
            Rule::TypeMeta => "apiVersion/kind",
            Rule::Metadata => "metadata",
        };
        f.write_str(s)
    }
}

/// One validation failure: where, which rule, and a kube-apiserver-style message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path, like `spec.template.spec.requirements[2].operator` or `spec.limits[cpu]` for a map key.
    pub path: String,
    /// The rule that failed.
    pub rule: Rule,
    /// The message after the path, like `Invalid value: 0: must be greater than or equal to 1`.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "<root>: {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Renders a value the way kube-apiserver error messages do: scalars literally (strings quoted), composites by
/// their type name.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}")),
        Value::Array(_) => "\"array\"".to_string(),
        Value::Object(_) => "\"object\"".to_string(),
        other => other.to_string(),
    }
}

/// Fills `default`s into `value` the way the API server does on create: a missing (or `null`, non-nullable)
/// property with a default gets it, then defaulting recurses into every present value (including ones just
/// defaulted).
pub fn apply_defaults(schema: &Schema, value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, prop) in &schema.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                match map.get(name) {
                    None => {
                        map.insert(name.clone(), default.clone());
                    }
                    Some(Value::Null) if !prop.nullable => {
                        map.insert(name.clone(), default.clone());
                    }
                    _ => {}
                }
            }
            for (key, child) in map.iter_mut() {
                if let Some(prop) = schema.properties.get(key) {
                    apply_defaults(prop, child);
                } else if let Some(AdditionalProperties::Schema(extra)) =
                    &schema.additional_properties
                {
                    apply_defaults(extra, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &schema.items {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Removes fields no schema declares, as the API server's pruning does before defaulting and validation, and
/// reports each one (strict field validation, like `kubectl apply --validate=strict`). Also drops `null` values of
/// non-nullable fields that have no default, as the API server does silently. The root `metadata` is left to the
/// `ObjectMeta` checks.
pub fn prune_unknown_fields(schema: &Schema, value: &mut Value) -> Vec<Violation> {
    let mut out = Vec::new();
    prune(schema, value, "", &mut out);
    out
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn prune(schema: &Schema, value: &mut Value, path: &str, out: &mut Vec<Violation>) {
    match value {
        Value::Object(map) => {
            let declares_fields =
                !schema.properties.is_empty() || schema.additional_properties.is_some();
            if !declares_fields
                && (schema.preserve_unknown_fields || schema.ty != Some(SchemaType::Object))
            {
                return;
            }
            let mut unknown = Vec::new();
            let mut nulls = Vec::new();
            for (key, child) in map.iter_mut() {
                if path.is_empty() && key == "metadata" {
                    continue;
                }
                let field_schema =
                    schema
                        .properties
                        .get(key)
                        .or(match &schema.additional_properties {
                            Some(AdditionalProperties::Schema(extra)) => Some(extra.as_ref()),
                            _ => None,
                        });
                // A null for a non-nullable field without a default is dropped, not rejected (nulls of fields
                // with a default are replaced by `apply_defaults`).
                if child.is_null()
                    && field_schema.is_some_and(|f| !f.nullable && f.default.is_none())
                {
                    nulls.push(key.clone());
                    continue;
                }
                if let Some(prop) = schema.properties.get(key) {
                    prune(prop, child, &child_path(path, key), out);
                    continue;
                }
                match &schema.additional_properties {
                    Some(AdditionalProperties::Schema(extra)) => {
                        prune(extra, child, &format!("{path}[{key}]"), out)
                    }
                    Some(AdditionalProperties::Allowed(true)) => {}
                    _ if schema.preserve_unknown_fields => {}
                    _ => unknown.push(key.clone()),
                }
            }
            for key in nulls {
                map.remove(&key);
            }
            for key in unknown {
                map.remove(&key);
                out.push(Violation {
                    path: child_path(path, &key),
                    rule: Rule::UnknownField,
                    message: "field not declared in schema".to_string(),
                });
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Hook for the object root's `metadata`, which the API server validates as `ObjectMeta` rather than by schema.
pub(crate) type MetadataCheck<'c> = &'c dyn Fn(&Value, &mut Vec<Violation>);

pub(crate) struct Walker<'c> {
    pub(crate) out: Vec<Violation>,
    path: String,
    metadata: Option<MetadataCheck<'c>>,
}

impl<'c> Walker<'c> {
    pub(crate) fn new(metadata: Option<MetadataCheck<'c>>) -> Self {
        Walker {
            out: Vec::new(),
            path: String::new(),
            metadata,
        }
    }

    fn push(&mut self, rule: Rule, message: impl Into<String>) {
        self.out.push(Violation {
            path: self.path.clone(),
            rule,
            message: message.into(),
        });
    }

    fn push_at(&mut self, suffix: &str, rule: Rule, message: impl Into<String>) {
        let len = self.path.len();
        self.path.push_str(suffix);
        self.push(rule, message);
        self.path.truncate(len);
    }

    fn field_suffix(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!(".{name}")
        }
    }

    pub(crate) fn node(&mut self, s: &Schema, v: &Value, old: Option<&Value>) {
        if v.is_null() {
            if !s.nullable && (s.ty.is_some() || s.int_or_string) {
                let expected = expected_type(s);
                self.push(
                    Rule::Type,
                    format!("Invalid value: null: must be of type {expected}"),
                );
            }
            return;
        }
        if !type_matches(s, v) {
            let expected = expected_type(s);
            self.push(
                Rule::Type,
                format!("Invalid value: {}: must be of type {expected}", show(v)),
            );
            return;
        }
        if let Some(values) = &s.enum_values {
            if !values.iter().any(|e| json_equal(e, v)) {
                let supported: Vec<String> = values.iter().map(show).collect();
                self.push(
                    Rule::Enum,
                    format!(
                        "Unsupported value: {}: supported values: {}",
                        show(v),
                        supported.join(", ")
                    ),
                );
            }
        }
        match v {
            Value::String(st) => self.string(s, st),
            Value::Number(n) => self.number(s, n),
            Value::Array(items) => self.array(s, items, old),
            Value::Object(map) => self.object(s, map, old),
            _ => {}
        }
        self.combinators(s, v, old);
        let ty = s.ty.map(SchemaType::as_str).unwrap_or_default();
        for rule in &s.validations {
            self.cel(rule, ty, v, old);
        }
    }

    fn string(&mut self, s: &Schema, st: &str) {
        let shown = show(&Value::String(st.to_string()));
        let len = st.chars().count() as u64;
        if let Some(max) = s.max_length {
            if len > max {
                self.push(
                    Rule::MaxLength,
                    format!("Too long: may not be more than {max} characters"),
                );
            }
        }
        if let Some(min) = s.min_length {
            if len < min {
                self.push(
                    Rule::MinLength,
                    format!("Invalid value: {shown}: must be at least {min} characters long"),
                );
            }
        }
        if let Some((src, re)) = &s.pattern {
            if !re.is_match(st) {
                self.push(
                    Rule::Pattern,
                    format!("Invalid value: {shown}: must match '{src}'"),
                );
            }
        }
        if let Some(format) = &s.format {
            if let Some(problem) = check_format(format, st) {
                self.push(
                    Rule::Format,
                    format!("Invalid value: {shown}: must be of format {format}: {problem}"),
                );
            }
        }
    }

    fn number(&mut self, s: &Schema, n: &serde_json::Number) {
        let shown = n.to_string();
        if let Some(Bound { value, exclusive }) = &s.minimum {
            let below = match compare_numbers(n, value) {
                Some(std::cmp::Ordering::Less) => true,
                Some(std::cmp::Ordering::Equal) => *exclusive,
                _ => false,
            };
            if below {
                let rel = if *exclusive {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                self.push(
                    Rule::Minimum,
                    format!("Invalid value: {shown}: must be {rel} {value}"),
                );
            }
        }
        if let Some(Bound { value, exclusive }) = &s.maximum {
            let above = match compare_numbers(n, value) {
                Some(std::cmp::Ordering::Greater) => true,
                Some(std::cmp::Ordering::Equal) => *exclusive,
                _ => false,
            };
            if above {
                let rel = if *exclusive {
                    "less than"
                } else {
                    "less than or equal to"
                };
                self.push(
                    Rule::Maximum,
                    format!("Invalid value: {shown}: must be {rel} {value}"),
                );
            }
        }
        if let (Some(m), Some(x)) = (s.multiple_of, n.as_f64()) {
            let q = x / m;
            if (q - q.round()).abs() > 1e-9 {
                self.push(
                    Rule::MultipleOf,
                    format!("Invalid value: {shown}: must be a multiple of {m}"),
                );
            }
        }
    }

    fn array(&mut self, s: &Schema, items: &[Value], old: Option<&Value>) {
        let n = items.len() as u64;
        if let Some(max) = s.max_items {
            if n > max {
                self.push(
                    Rule::MaxItems,
                    format!("Too many: {n}: must have at most {max} items"),
                );
            }
        }
        if let Some(min) = s.min_items {
            if n < min {
                self.push(
                    Rule::MinItems,
                    format!("Invalid value: {n}: must have at least {min} items"),
                );
            }
        }
        if s.unique_items || s.list_type == Some(ListType::Set) {
            for (i, item) in items.iter().enumerate() {
                if items[..i].iter().any(|prev| json_equal(prev, item)) {
                    self.push_at(
                        &format!("[{i}]"),
                        Rule::UniqueItems,
                        format!("Duplicate value: {}", show(item)),
                    );
                }
            }
        }
        let old_items = old.and_then(Value::as_array);
        let map_keys = if s.list_type == Some(ListType::Map) {
            Some(&s.list_map_keys)
        } else {
            None
        };
        if let Some(keys) = map_keys {
            let key_of = |item: &Value| -> Option<Vec<Value>> {
                let obj = item.as_object()?;
                Some(
                    keys.iter()
                        .map(|k| obj.get(k).cloned().unwrap_or(Value::Null))
                        .collect(),
                )
            };
            for (i, item) in items.iter().enumerate() {
                let Some(key) = key_of(item) else { continue };
                if items[..i]
                    .iter()
                    .any(|prev| key_of(prev).as_ref() == Some(&key))
                {
                    let shown: serde_json::Map<String, Value> =
                        keys.iter().cloned().zip(key.iter().cloned()).collect();
                    self.push_at(
                        &format!("[{i}]"),
                        Rule::ListMapKeys,
                        format!("Duplicate value: {}", Value::Object(shown)),
                    );
                }
            }
            if let Some(item_schema) = &s.items {
                for (i, item) in items.iter().enumerate() {
                    let key = key_of(item);
                    let old_item = old_items
                        .and_then(|olds| olds.iter().find(|o| key.is_some() && key_of(o) == key));
                    self.descend(&format!("[{i}]"), item_schema, item, old_item);
                }
            }
            return;
        }
        if let Some(item_schema) = &s.items {
            for (i, item) in items.iter().enumerate() {
                // Only map lists correlate old and new items (as the API server's transition rules do).
                self.descend(&format!("[{i}]"), item_schema, item, None);
            }
        }
    }

    fn descend(&mut self, suffix: &str, s: &Schema, v: &Value, old: Option<&Value>) {
        let len = self.path.len();
        self.path.push_str(suffix);
        self.node(s, v, old);
        self.path.truncate(len);
    }

    fn object(&mut self, s: &Schema, map: &serde_json::Map<String, Value>, old: Option<&Value>) {
        let n = map.len() as u64;
        if let Some(max) = s.max_properties {
            if n > max {
                self.push(
                    Rule::MaxProperties,
                    format!("Too many: {n}: must have at most {max} items"),
                );
            }
        }
        if let Some(min) = s.min_properties {
            if n < min {
                self.push(
                    Rule::MinProperties,
                    format!("Invalid value: {n}: must have at least {min} items"),
                );
            }
        }
        for name in &s.required {
            if !map.contains_key(name) {
                let suffix = self.field_suffix(name);
                self.push_at(&suffix, Rule::Required, "Required value");
            }
        }
        let at_root = self.path.is_empty();
        let old_map = old.and_then(Value::as_object);
        for (key, child) in map {
            let old_child = old_map.and_then(|m| m.get(key));
            if at_root && key == "metadata" {
                if let Some(check) = self.metadata {
                    check(child, &mut self.out);
                    continue;
                }
            }
            if let Some(prop) = s.properties.get(key) {
                let suffix = self.field_suffix(key);
                self.descend(&suffix, prop, child, old_child);
                continue;
            }
            // Undeclared fields were reported and removed by `prune_unknown_fields`.
            if let Some(AdditionalProperties::Schema(extra)) = &s.additional_properties {
                let suffix = format!("[{key}]");
                self.descend(&suffix, extra, child, old_child);
            }
        }
    }

    /// Runs `anyOf`/`allOf`/`oneOf`/`not` branches (value validations on the same value).
    fn combinators(&mut self, s: &Schema, v: &Value, old: Option<&Value>) {
        if s.any_of.is_empty() && s.all_of.is_empty() && s.one_of.is_empty() && s.not.is_none() {
            return;
        }
        let branch = |b: &Schema, path: &str| -> Vec<Violation> {
            let mut w = Walker {
                out: Vec::new(),
                path: path.to_string(),
                metadata: None,
            };
            w.node(b, v, old);
            w.out
        };
        for b in &s.all_of {
            let errs = branch(b, &self.path);
            self.out.extend(errs);
        }
        if !s.any_of.is_empty() {
            let results: Vec<Vec<Violation>> =
                s.any_of.iter().map(|b| branch(b, &self.path)).collect();
            if results.iter().all(|r| !r.is_empty()) {
                let details: Vec<String> = results
                    .iter()
                    .flatten()
                    .map(|e| e.message.clone())
                    .collect();
                self.push(
                    Rule::AnyOf,
                    format!(
                        "Invalid value: {}: must validate at least one schema (anyOf): {}",
                        show(v),
                        details.join("; ")
                    ),
                );
            }
        }
        if !s.one_of.is_empty() {
            let passing = s
                .one_of
                .iter()
                .filter(|b| branch(b, &self.path).is_empty())
                .count();
            if passing != 1 {
                self.push(Rule::OneOf, format!("Invalid value: {}: must validate one and only one schema (oneOf), {passing} matched", show(v)));
            }
        }
        if let Some(not) = &s.not {
            if branch(not, &self.path).is_empty() {
                self.push(
                    Rule::Not,
                    format!(
                        "Invalid value: {}: must not validate the schema (not)",
                        show(v)
                    ),
                );
            }
        }
    }

    /// Evaluates one `x-kubernetes-validations` rule and reports it the way kube-apiserver (1.35+) does: a false
    /// rule shows scalar values (`Invalid value: "foo": <message>`) and omits composite ones
    /// (`Invalid value: <message>`); an evaluation error (`no such key`, a failed `int()`) shows the schema type.
    fn cel(&mut self, r: &ValidationRule, ty: &str, v: &Value, old: Option<&Value>) {
        if r.rule.is_transition_rule() && old.is_none() {
            return; // transition rules only run on update, against the correlated old value
        }
        let rule = Rule::Cel(r.rule.source().to_string());
        // What upstream calls ruleErrorString: the message if set, else the rule text.
        let rule_text = r
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(r.rule.source().trim());
        match r.rule.evaluate_bool(v, old) {
            Ok(true) => {}
            Err(e) => self.push(
                rule,
                format!("Invalid value: \"{ty}\": {e} evaluating rule: {rule_text}"),
            ),
            Ok(false) => {
                let detail = r
                    .message_expression
                    .as_ref()
                    .and_then(|m| match m.evaluate(v, old) {
                        Ok(crate::cel::Value::String(s))
                            if !s.trim().is_empty() && !s.contains('\n') =>
                        {
                            Some(s.trim().to_string())
                        }
                        _ => None,
                    })
                    .or_else(|| {
                        r.message
                            .as_deref()
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| format!("failed rule: {}", r.rule.source().trim()));
                let value = match v {
                    Value::Object(_) | Value::Array(_) => None,
                    scalar => Some(show(scalar)),
                };
                let full = match (r.reason.as_deref(), value) {
                    (Some("FieldValueForbidden"), _) => format!("Forbidden: {detail}"),
                    (Some("FieldValueRequired"), _) => format!("Required value: {detail}"),
                    (Some("FieldValueDuplicate"), Some(value)) => {
                        format!("Duplicate value: {value}")
                    }
                    (Some("FieldValueDuplicate"), None) => "Duplicate value".to_string(),
                    (_, Some(value)) => format!("Invalid value: {value}: {detail}"),
                    (_, None) => format!("Invalid value: {detail}"),
                };
                let suffix = r
                    .field_path
                    .as_deref()
                    .map(field_path_suffix)
                    .unwrap_or_default();
                if suffix.is_empty() {
                    self.push(rule, full);
                } else if self.path.is_empty() {
                    self.push_at(suffix.trim_start_matches('.'), rule, full);
                } else {
                    self.push_at(&suffix, rule, full);
                }
            }
        }
    }
}

/// Turns a rule's `fieldPath` (`.spec.foo`, `.foo['bar.baz']`, `.items[1]`) into a path suffix (`.spec.foo`,
/// `.foo[bar.baz]`, `.items[1]`).
fn field_path_suffix(fp: &str) -> String {
    let mut out = String::new();
    let mut rest = fp.trim();
    if !rest.is_empty() && !rest.starts_with('.') && !rest.starts_with('[') {
        out.push('.');
    }
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("['") {
            if let Some(end) = rest[2..].find("']") {
                out.push('[');
                out.push_str(&rest[2..2 + end]);
                out.push(']');
                rest = &rest[2 + end + 2..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn expected_type(s: &Schema) -> &'static str {
    match (s.ty, s.int_or_string) {
        (Some(t), _) => t.as_str(),
        (None, true) => "integer or string",
        (None, false) => "any",
    }
}

fn type_matches(s: &Schema, v: &Value) -> bool {
    if s.int_or_string && (s.ty.is_none() || s.ty == Some(SchemaType::String)) {
        return v.is_string() || v.is_i64() || v.is_u64();
    }
    match s.ty {
        None => true,
        Some(SchemaType::Object) => v.is_object(),
        Some(SchemaType::Array) => v.is_array(),
        Some(SchemaType::String) => v.is_string(),
        Some(SchemaType::Integer) => v.is_i64() || v.is_u64(),
        Some(SchemaType::Number) => v.is_number(),
        Some(SchemaType::Boolean) => v.is_boolean(),
    }
}

fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<std::cmp::Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// JSON equality with numbers compared by value (so `1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            compare_numbers(x, y) == Some(std::cmp::Ordering::Equal)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_equal(p, q)))
        }
        _ => a == b,
    }
}

/// Checks the string formats the API server enforces that appear in these CRDs; returns what is wrong.
fn check_format(format: &str, s: &str) -> Option<&'static str> {
    match format {
        "date-time" => {
            (!is_date_time(s)).then_some("expected an RFC 3339 timestamp like 2024-01-02T15:04:05Z")
        }
        "date" => (!is_date(s)).then_some("expected a date like 2024-01-02"),
        "duration" => crate::go_duration::parse(s)
            .is_none()
            .then_some("expected a duration like 30s, 1h30m or 720h"),
        "int-or-string" => None,
        // int32/int64/double/float/byte/password and other formats are not enforced for strings here.
        _ => None,
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && digits(parts[0], 4)
        && digits(parts[1], 2)
        && digits(parts[2], 2)
        && matches!(parts[1].parse::<u32>(), Ok(1..=12))
        && matches!(parts[2].parse::<u32>(), Ok(1..=31))
}

fn is_date_time(s: &str) -> bool {
    let Some(t) = s.find(['T', 't', ' ']) else {
        return false;
    };
    let (date, rest) = (&s[..t], &s[t + 1..]);
    if !is_date(date) {
        return false;
    }
    let Some((hms, mut zone)) = rest.split_at_checked(8) else {
        return false;
    };
    let hms_parts: Vec<&str> = hms.split(':').collect();
    if hms_parts.len() != 3 || !hms_parts.iter().all(|p| digits(p, 2)) {
        return false;
    }
    if !(matches!(hms_parts[0].parse::<u32>(), Ok(0..=23))
        && matches!(hms_parts[1].parse::<u32>(), Ok(0..=59))
        && matches!(hms_parts[2].parse::<u32>(), Ok(0..=60)))
    {
        return false;
    }
    if let Some(frac) = zone.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        zone = &frac[n..];
    }
    match zone {
        "Z" | "z" => true,
        z if (z.starts_with('+') || z.starts_with('-')) && z.len() == 6 && z.is_ascii() => {
            digits(&z[1..3], 2) && &z[3..4] == ":" && digits(&z[4..6], 2)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(is_date_time("2024-01-02T15:04:05Z"));
        assert!(is_date_time("2024-01-02T15:04:05.123+01:00"));
        assert!(!is_date_time("2024-01-02"));
        assert!(!is_date_time("2024-13-02T15:04:05Z"));
        // Multi-byte characters where the fixed-width parts are sliced are rejected, not a panic.
        assert!(!is_date_time("2024-01-02T15:04:0é"));
        assert!(!is_date_time("2024-01-02T15:04:05+0é:0"));
        assert!(!is_date_time("2024-01-02T15:04:05+01é:0"));
        for (duration, ok) in [
            ("1h30m", true),
            ("720h", true),
            ("1.5s", true),
            ("100ms", true),
        ]
        .into_iter()
        .chain([("5d", false), ("h", false), ("2562048h", false)])
        {
            let problem = check_format("duration", duration);
            assert_eq!(problem.is_none(), ok, "{duration}: {problem:?}");
        }
    }

    #[test]
    fn field_paths() {
        assert_eq!(field_path_suffix(".spec.foo"), ".spec.foo");
        assert_eq!(field_path_suffix(".labels['a.b/c']"), ".labels[a.b/c]");
        assert_eq!(field_path_suffix("foo"), ".foo");
    }
}

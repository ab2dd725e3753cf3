//! Typed access to JSON fields with errors that name the field.
use serde_json::{Map, Value};

use crate::input::{type_name, Location};
use crate::warning::{ObjectError, Warning};

/// The object being converted: where it is, what it is, and the warnings found so far.
pub(crate) struct Ctx<'a> {
    pub location: &'a Location,
    pub kind: String,
    pub name: String,
    pub warnings: &'a mut Vec<Warning>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        location: &'a Location,
        kind: &str,
        name: &str,
        warnings: &'a mut Vec<Warning>,
    ) -> Self {
        Ctx {
            location,
            kind: kind.to_string(),
            name: name.to_string(),
            warnings,
        }
    }

    pub fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            location: self.location.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ObjectError {
        ObjectError {
            location: self.location.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// `obj[key]` picked out by `pick`; absent or null → `None`; a value `pick` refuses is an
    /// error naming the field: `must be <expected>, found <its type>`.
    fn typed<'v, T>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
        expected: &str,
        pick: impl FnOnce(&'v Value) -> Option<T>,
    ) -> Result<Option<T>, ObjectError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => pick(v).map(Some).ok_or_else(|| {
                self.err(
                    join(path, key),
                    format!("must be {expected}, found {}", type_name(v)),
                )
            }),
        }
    }

    /// `obj[key]` as an object; absent or null → `None`.
    pub fn object<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v Map<String, Value>>, ObjectError> {
        self.typed(obj, key, path, "a mapping", Value::as_object)
    }

    /// `obj[key]` as a sequence; absent or null → `None`.
    pub fn array<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v Vec<Value>>, ObjectError> {
        self.typed(obj, key, path, "a sequence", Value::as_array)
    }

    /// `obj[key]` as a string; absent or null → `None`.
    pub fn string<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v str>, ObjectError> {
        self.typed(obj, key, path, "a string", Value::as_str)
    }

    /// `obj[key]` as a non-negative integer; absent or null → `None`.
    pub fn uint(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<u64>, ObjectError> {
        if let Some(Value::Number(n)) = obj.get(key) {
            if n.as_u64().is_none() {
                return Err(self.err(
                    join(path, key),
                    format!("must be a non-negative integer, found {n}"),
                ));
            }
        }
        self.typed(obj, key, path, "an integer", Value::as_u64)
    }

    /// `obj[key]` as a boolean; absent or null → `None`.
    pub fn boolean(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<bool>, ObjectError> {
        self.typed(obj, key, path, "true or false", Value::as_bool)
    }

    /// A map of strings (labels, annotations, tags); values that are numbers or booleans in
    /// YAML are an error, as the API server would reject them.
    pub fn string_map(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<Map<String, Value>>, ObjectError> {
        let Some(m) = self.object(obj, key, path)? else {
            return Ok(None);
        };
        for (k, v) in m {
            if !v.is_string() {
                return Err(self.err(
                    format!("{}.{k}", join(path, key)),
                    format!(
                        "must be a string, found {} (quote it in YAML)",
                        type_name(v)
                    ),
                ));
            }
        }
        Ok(Some(m.clone()))
    }

    /// Warn about every key of `obj` not in `known` (the field is dropped).
    pub fn warn_unknown(&mut self, obj: &Map<String, Value>, known: &[&str], path: &str) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                self.warn(
                    join(path, key),
                    format!(
                        "unknown field for {}, dropped; remove it or check its spelling",
                        self.kind
                    ),
                );
            }
        }
    }
}

/// `path.key`, or `key` when `path` is empty.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The object's `metadata.name`, or `<unnamed>`.
pub(crate) fn object_name(value: &Value) -> String {
    value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string()
}

/// Build a JSON object from (key, value) pairs, skipping `None`s, in the given order.
pub(crate) fn obj(pairs: Vec<(&str, Option<Value>)>) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn typed_getters_name_the_field_and_the_type_found() {
        let location = Location::new("in.yaml", 1);
        let mut warnings = Vec::new();
        let ctx = Ctx::new(&location, "Provisioner", "p", &mut warnings);
        let spec = json!({
            "m": {"a": "b"}, "l": [1], "s": "x", "n": 7, "b": true, "null": null,
            "neg": -1, "float": 1.5
        });
        let spec = spec.as_object().expect("object");
        let msg = |e: ObjectError| format!("{} {}", e.field, e.message);

        assert!(ctx.object(spec, "m", "spec").expect("ok").is_some());
        assert!(ctx.array(spec, "l", "spec").expect("ok").is_some());
        assert_eq!(ctx.string(spec, "s", "spec").expect("ok"), Some("x"));
        assert_eq!(ctx.uint(spec, "n", "spec").expect("ok"), Some(7));
        assert_eq!(ctx.boolean(spec, "b", "spec").expect("ok"), Some(true));
        assert_eq!(ctx.string(spec, "null", "spec").expect("ok"), None);
        assert_eq!(ctx.uint(spec, "absent", "spec").expect("ok"), None);

        let e = |r: Result<(), ObjectError>| msg(r.expect_err("wrong type"));
        assert_eq!(
            e(ctx.object(spec, "s", "spec").map(drop)),
            "spec.s must be a mapping, found a string"
        );
        assert_eq!(
            e(ctx.array(spec, "m", "").map(drop)),
            "m must be a sequence, found a mapping"
        );
        assert_eq!(
            e(ctx.string(spec, "n", "spec").map(drop)),
            "spec.n must be a string, found a number"
        );
        assert_eq!(
            e(ctx.uint(spec, "s", "spec").map(drop)),
            "spec.s must be an integer, found a string"
        );
        assert_eq!(
            e(ctx.uint(spec, "neg", "spec").map(drop)),
            "spec.neg must be a non-negative integer, found -1"
        );
        assert_eq!(
            e(ctx.uint(spec, "float", "spec").map(drop)),
            "spec.float must be a non-negative integer, found 1.5"
        );
        assert_eq!(
            e(ctx.boolean(spec, "s", "spec").map(drop)),
            "spec.s must be true or false, found a string"
        );
    }
}

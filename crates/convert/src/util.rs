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

    /// `obj[key]` as an object; absent or null → `None`.
    pub fn object<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v Map<String, Value>>, ObjectError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(self.err(
                join(path, key),
                format!("must be a mapping, found {}", type_name(other)),
            )),
        }
    }

    /// `obj[key]` as a sequence; absent or null → `None`.
    pub fn array<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v Vec<Value>>, ObjectError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(self.err(
                join(path, key),
                format!("must be a sequence, found {}", type_name(other)),
            )),
        }
    }

    /// `obj[key]` as a string; absent or null → `None`.
    pub fn string<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v str>, ObjectError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(
                join(path, key),
                format!("must be a string, found {}", type_name(other)),
            )),
        }
    }

    /// `obj[key]` as a non-negative integer; absent or null → `None`.
    pub fn uint(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<u64>, ObjectError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                self.err(
                    join(path, key),
                    format!("must be a non-negative integer, found {n}"),
                )
            }),
            Some(other) => Err(self.err(
                join(path, key),
                format!("must be an integer, found {}", type_name(other)),
            )),
        }
    }

    /// `obj[key]` as a boolean; absent or null → `None`.
    pub fn boolean(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<bool>, ObjectError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.err(
                join(path, key),
                format!("must be true or false, found {}", type_name(other)),
            )),
        }
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

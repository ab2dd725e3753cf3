//! Printing converted objects: YAML streams, JSON, and one file per object.
use std::collections::HashSet;

use serde_json::Value;

use crate::convert::OutputObject;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML documents separated by `---`.
    Yaml,
    /// One pretty-printed JSON object, or a `v1` `List` for several objects.
    Json,
}

impl Format {
    /// File extension for this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }
}

/// A rendering failure (a value the YAML/JSON writers cannot represent).
#[derive(Debug, thiserror::Error)]
#[error("cannot render {what}: {message}")]
pub struct RenderError {
    /// Which object.
    pub what: String,
    /// Why.
    pub message: String,
}

/// Render one object.
pub fn render_one(value: &Value, format: Format) -> Result<String, RenderError> {
    let what = || describe(value);
    match format {
        Format::Yaml => serde_saphyr::to_string(value).map_err(|e| RenderError {
            what: what(),
            message: e.to_string(),
        }),
        Format::Json => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| RenderError {
                what: what(),
                message: e.to_string(),
            }),
    }
}

/// Render all objects as one stream: YAML documents separated by `---`, or JSON (a `List`
/// when there is more than one object).
pub fn render_all(objects: &[OutputObject], format: Format) -> Result<String, RenderError> {
    match format {
        Format::Yaml => {
            let mut out = String::new();
            for (i, o) in objects.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&render_one(&o.value, format)?);
            }
            Ok(out)
        }
        Format::Json => {
            if let [one] = objects {
                return render_one(&one.value, format);
            }
            let list = serde_json::json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": objects.iter().map(|o| o.value.clone()).collect::<Vec<_>>(),
            });
            render_one(&list, format)
        }
    }
}

/// `Kind/name` for messages.
pub fn describe(value: &Value) -> String {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    format!("{kind}/{name}")
}

/// File names for `--output-dir`: `<kind>-<name>.<ext>` in lower case (with the namespace for
/// namespaced objects), made unique with a numeric suffix. Same order as `objects`.
pub fn file_names(objects: &[OutputObject], format: Format) -> Vec<String> {
    let mut used = HashSet::new();
    objects
        .iter()
        .map(|o| {
            let kind = o
                .value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("object");
            let name = o
                .value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("unnamed");
            let ns = o
                .value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str);
            let base: String = match ns {
                Some(ns) => format!("{kind}-{ns}-{name}"),
                None => format!("{kind}-{name}"),
            }
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
            let mut candidate = format!("{base}.{}", format.extension());
            let mut n = 2;
            while !used.insert(candidate.clone()) {
                candidate = format!("{base}-{n}.{}", format.extension());
                n += 1;
            }
            candidate
        })
        .collect()
}

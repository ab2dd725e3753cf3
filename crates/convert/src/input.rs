//! Reading input: multi-document YAML or JSON, `List` flattening and `kubectl get` stripping.
use std::fmt;

use serde_json::{Map, Value};

/// Where a document came from: the file (or `-` for stdin), its 1-based position among the
/// non-empty documents of that file, and for `List` items the item index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// File path as given on the command line, `-` for stdin, or `cluster` for live objects.
    pub file: String,
    /// 1-based index among the non-empty documents of the file.
    pub doc: usize,
    /// 0-based index in the `items` of a `List` document.
    pub item: Option<usize>,
}

impl Location {
    /// A location for document `doc` (1-based) of `file`.
    pub fn new(file: impl Into<String>, doc: usize) -> Self {
        Location {
            file: file.into(),
            doc,
            item: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.doc)?;
        if let Some(item) = self.item {
            write!(f, ".items[{item}]")?;
        }
        Ok(())
    }
}

/// One object to convert, with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where the object came from.
    pub location: Location,
    /// The object as parsed (server-side fields already stripped).
    pub value: Value,
}

/// A document that is not valid YAML/JSON, or not a Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{doc} (line {line}): {message}")]
pub struct ParseError {
    /// File path, or `-` for stdin.
    pub file: String,
    /// 1-based document index.
    pub doc: usize,
    /// 1-based line in the file where the problem is (or where the document starts).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Split `text` (the contents of `file`) into Kubernetes objects.
///
/// - YAML streams are split on `---` lines; empty documents are skipped and not counted.
/// - A file whose first character is `{` or `[` is read as a stream of JSON values
///   (a top-level array is flattened).
/// - `kind: List` (and `*List` kinds with `items`) are flattened into their items.
/// - Server-side fields are stripped ([`strip_server_fields`]).
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Document>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    let raw = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        parse_json_stream(file, text)?
    } else {
        parse_yaml_stream(file, text)?
    };
    let mut out = Vec::new();
    for (doc, line, value) in raw {
        let location = Location::new(file, doc);
        let err = |message: String| ParseError {
            file: file.to_string(),
            doc,
            line,
            message,
        };
        let Value::Object(map) = value else {
            return Err(err(format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                type_name(&value)
            )));
        };
        if is_list(&map) {
            let items = match map.get("items") {
                Some(Value::Array(items)) => items.clone(),
                Some(Value::Null) | None => Vec::new(),
                Some(other) => {
                    return Err(err(format!(
                        "`items` of a List must be a sequence, found {}",
                        type_name(other)
                    )))
                }
            };
            for (i, item) in items.into_iter().enumerate() {
                let loc = Location {
                    item: Some(i),
                    ..location.clone()
                };
                let Value::Object(obj) = item else {
                    return Err(err(format!(
                        "items[{i}] must be a Kubernetes object, found {}",
                        type_name(&item)
                    )));
                };
                check_object(&obj).map_err(|m| err(format!("items[{i}]: {m}")))?;
                out.push(Document {
                    location: loc,
                    value: strip_server_fields(Value::Object(obj)),
                });
            }
        } else {
            check_object(&map).map_err(err)?;
            out.push(Document {
                location,
                value: strip_server_fields(Value::Object(map)),
            });
        }
    }
    Ok(out)
}

fn is_list(map: &Map<String, Value>) -> bool {
    matches!(map.get("kind"), Some(Value::String(k)) if k == "List" || (k.ends_with("List") && map.contains_key("items")))
}

fn check_object(map: &Map<String, Value>) -> Result<(), String> {
    match (map.get("apiVersion"), map.get("kind")) {
        (Some(Value::String(a)), Some(Value::String(k))) if !a.is_empty() && !k.is_empty() => {
            Ok(())
        }
        (None, _) | (Some(Value::Null), _) => {
            Err("missing apiVersion: every object needs apiVersion and kind".to_string())
        }
        (_, None) | (_, Some(Value::Null)) => {
            Err("missing kind: every object needs apiVersion and kind".to_string())
        }
        _ => Err("apiVersion and kind must be non-empty strings".to_string()),
    }
}

/// A short name for a JSON value's type, for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// Remove what `kubectl get -o yaml` adds and a manifest must not carry: `status`, and
/// `metadata.{managedFields, resourceVersion, uid, creationTimestamp, generation, selfLink}`
/// plus the `kubectl.kubernetes.io/last-applied-configuration` annotation.
pub fn strip_server_fields(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.remove("status");
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for key in [
                "managedFields",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "selfLink",
            ] {
                meta.remove(key);
            }
            let mut annotations_empty = false;
            if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
                ann.remove("kubectl.kubernetes.io/last-applied-configuration");
                annotations_empty = ann.is_empty();
            }
            if annotations_empty {
                meta.remove("annotations");
            }
        }
    }
    value
}

type RawDoc = (usize, usize, Value);

fn parse_json_stream(file: &str, text: &str) -> Result<Vec<RawDoc>, ParseError> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut doc = 0;
    loop {
        let offset = stream.byte_offset();
        let line = line_of(text, offset + leading_ws(&text[offset..]));
        match stream.next() {
            None => break,
            Some(Ok(Value::Array(items))) => {
                for item in items {
                    doc += 1;
                    out.push((doc, line, item));
                }
            }
            Some(Ok(value)) => {
                doc += 1;
                out.push((doc, line, value));
            }
            Some(Err(e)) => {
                return Err(ParseError {
                    file: file.to_string(),
                    doc: doc + 1,
                    line: e.line(),
                    message: format!("invalid JSON: {e}"),
                })
            }
        }
    }
    Ok(out)
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Split on document markers (`---` at column 0) and parse each chunk on its own, so that an
/// error names its document. Returns (doc index, first line, value) for non-empty documents.
fn parse_yaml_stream(file: &str, text: &str) -> Result<Vec<RawDoc>, ParseError> {
    let mut chunks: Vec<(usize, String)> = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let is_marker =
            line.starts_with("---") && line[3..].chars().next().is_none_or(|c| c.is_whitespace());
        let is_end =
            line.starts_with("...") && line[3..].chars().next().is_none_or(|c| c.is_whitespace());
        if is_marker || is_end {
            chunks.push((start_line, std::mem::take(&mut current)));
            start_line = i + 1;
            if is_marker {
                // Keep content after `--- ` on the same line, padded to keep columns.
                current.push_str("   ");
                current.push_str(&line[3..]);
            } else {
                current.push('\n');
            }
        } else {
            current.push_str(line);
        }
    }
    chunks.push((start_line, current));

    let mut out = Vec::new();
    let mut doc = 0;
    for (start, chunk) in chunks {
        if is_blank_yaml(&chunk) {
            continue;
        }
        doc += 1;
        let value: Value = serde_saphyr::from_str(&chunk).map_err(|e| {
            let (line, message) = describe_yaml_error(&e);
            ParseError {
                file: file.to_string(),
                doc,
                line: start + line.saturating_sub(1),
                message: format!("invalid YAML: {message}"),
            }
        })?;
        if value.is_null() {
            doc -= 1;
            continue;
        }
        out.push((doc, start, value));
    }
    Ok(out)
}

fn is_blank_yaml(chunk: &str) -> bool {
    chunk.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t.starts_with('%')
    })
}

fn describe_yaml_error(e: &serde_saphyr::Error) -> (usize, String) {
    let line = e.location().map(|l| l.line() as usize).unwrap_or(1).max(1);
    let text = e.without_snippet().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    // Drop the chunk-relative "line N column M: " prefix; the caller reports the file line.
    let message = match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => text.to_string(),
    };
    let mut message = message.lines().next().unwrap_or_default().to_string();
    // The chunk-relative position is wrong for the file; the caller reports the file line.
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    (line, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn multi_doc_yaml_skips_empty_documents() {
        let text = "---\n# comment only\n---\napiVersion: v1\nkind: A\n---\n\n---\napiVersion: v1\nkind: B\n";
        let docs = parse_documents("f.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].location.doc, 1);
        assert_eq!(docs[1].location.doc, 2);
        assert_eq!(docs[1].value["kind"], "B");
    }

    #[test]
    fn yaml_error_names_document_and_file_line() {
        let text = "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: [B\n";
        let err = parse_documents("f.yaml", text).unwrap_err();
        assert_eq!(err.doc, 2);
        assert_eq!(err.line, 5);
        assert!(
            err.to_string()
                .starts_with("f.yaml:2 (line 5): invalid YAML"),
            "{err}"
        );
    }

    #[test]
    fn json_stream_and_arrays() {
        let text = r#"{"apiVersion":"v1","kind":"A"}
[{"apiVersion":"v1","kind":"B"},{"apiVersion":"v1","kind":"C"}]"#;
        let docs = parse_documents("f.json", text).unwrap();
        let kinds: Vec<_> = docs.iter().map(|d| d.value["kind"].clone()).collect();
        assert_eq!(kinds, vec![json!("A"), json!("B"), json!("C")]);
        assert_eq!(docs[2].location.doc, 3);
    }

    #[test]
    fn list_is_flattened_and_stripped() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: A\n  metadata:\n    name: a\n    uid: x\n    resourceVersion: '1'\n    managedFields: []\n  status: {}\n- apiVersion: v1\n  kind: B\n";
        let docs = parse_documents("f.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].location.item, Some(0));
        assert_eq!(docs[0].location.to_string(), "f.yaml:1.items[0]");
        assert_eq!(
            docs[0].value,
            json!({"apiVersion":"v1","kind":"A","metadata":{"name":"a"}})
        );
    }

    #[test]
    fn non_objects_are_rejected() {
        let err = parse_documents("f.yaml", "- a\n- b\n").unwrap_err();
        assert!(err.message.contains("found a sequence"), "{err}");
        let err = parse_documents("f.yaml", "kind: A\n").unwrap_err();
        assert!(err.message.contains("missing apiVersion"), "{err}");
    }
}

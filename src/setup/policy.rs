//! Semantic comparison of IAM/SQS policy documents and EventBridge patterns.
//!
//! AWS hands documents back in whatever shape they were written (and IAM URL-encodes them), so
//! comparing strings would report drift that isn't there. Documents are normalised first:
//! single strings become one-element lists, lists become sorted sets, scalars become strings, and
//! statements are sorted, so `"Action": "x"` equals `"Action": ["x"]` and statement order does not matter.
use serde_json::{Map, Value};

/// Parse a policy document as AWS returns it: JSON, or URL-encoded JSON (IAM's `GetPolicyVersion`
/// and `GetRole` return it percent-encoded).
pub fn parse_document(text: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => match percent_decode(text) {
            Some(decoded) if decoded != text => serde_json::from_str(&decoded),
            _ => Err(first),
        },
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Normalise a policy document for comparison (see the module docs).
pub fn normalize_policy(doc: &Value) -> Value {
    let Value::Object(map) = doc else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        if k == "Statement" {
            let mut statements: Vec<Value> = as_list(v).iter().map(normalize_statement).collect();
            statements.sort_by_key(|s| s.to_string());
            out.insert(k.clone(), Value::Array(statements));
        } else {
            out.insert(k.clone(), scalar_string(v));
        }
    }
    Value::Object(sorted(out))
}

fn normalize_statement(st: &Value) -> Value {
    let Value::Object(map) = st else {
        return st.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let nv = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_set(v),
            "Principal" | "NotPrincipal" => match v {
                Value::Object(m) => Value::Object(sorted(
                    m.iter()
                        .map(|(pk, pv)| (pk.clone(), string_set(pv)))
                        .collect(),
                )),
                other => scalar_string(other),
            },
            "Condition" => match v {
                Value::Object(ops) => Value::Object(sorted(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Object(km) => Value::Object(sorted(
                                    km.iter()
                                        .map(|(ck, cv)| (ck.clone(), string_set(cv)))
                                        .collect(),
                                )),
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                )),
                other => other.clone(),
            },
            _ => scalar_string(v),
        };
        out.insert(k.clone(), nv);
    }
    Value::Object(sorted(out))
}

/// Normalise an EventBridge event pattern: every list of alternatives becomes a sorted set,
/// nested objects are normalised recursively.
pub fn normalize_pattern(pattern: &Value) -> Value {
    match pattern {
        Value::Object(m) => Value::Object(sorted(
            m.iter()
                .map(|(k, v)| (k.clone(), normalize_pattern(v)))
                .collect(),
        )),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize_pattern).collect();
            items.sort_by_key(|v| v.to_string());
            items.dedup();
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// Whether two policy documents mean the same thing (after [`normalize_policy`]).
pub fn policies_equal(a: &Value, b: &Value) -> bool {
    normalize_policy(a) == normalize_policy(b)
}

/// Statement ids (or, for statements without a `Sid`, a short description) that differ between
/// `live` and `desired`: (missing from live, unexpected in live). Used for plan details.
pub fn statement_diff(desired: &Value, live: &Value) -> (Vec<String>, Vec<String>) {
    let d = normalize_policy(desired);
    let l = normalize_policy(live);
    let list = |v: &Value| -> Vec<Value> { v.get("Statement").map(as_list).unwrap_or_default() };
    let (ds, ls) = (list(&d), list(&l));
    let label = |s: &Value| -> String {
        s.get("Sid")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "{} {}",
                    s.get("Effect").and_then(Value::as_str).unwrap_or("?"),
                    s.get("Action").map(Value::to_string).unwrap_or_default()
                )
            })
    };
    let missing = ds.iter().filter(|s| !ls.contains(s)).map(label).collect();
    let extra = ls.iter().filter(|s| !ds.contains(s)).map(label).collect();
    (missing, extra)
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

fn scalar_string(v: &Value) -> Value {
    match v {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

fn string_set(v: &Value) -> Value {
    let mut items: Vec<Value> = as_list(v).iter().map(scalar_string).collect();
    items.sort_by_key(|v| v.to_string());
    items.dedup();
    Value::Array(items)
}

fn sorted(m: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_string_equals_one_element_list() {
        let a = json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get","Resource":"*"}});
        let b = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get"],"Resource":["*"]}]});
        assert!(policies_equal(&a, &b));
    }

    #[test]
    fn statement_and_list_order_do_not_matter_but_content_does() {
        let s1 = json!({"Sid":"A","Effect":"Allow","Action":["a:X","a:Y"],"Resource":"*"});
        let s2 = json!({"Sid":"B","Effect":"Deny","Action":"b:Z","Resource":"*",
            "Condition":{"Bool":{"aws:SecureTransport":false}}});
        let s2_str = json!({"Sid":"B","Effect":"Deny","Action":"b:Z","Resource":"*",
            "Condition":{"Bool":{"aws:SecureTransport":"false"}}});
        let s1_rev = json!({"Sid":"A","Effect":"Allow","Action":["a:Y","a:X"],"Resource":"*"});
        assert!(policies_equal(
            &json!({"Statement":[s1, s2]}),
            &json!({"Statement":[s2_str, s1_rev]})
        ));
        let changed = json!({"Sid":"A","Effect":"Allow","Action":["a:X"],"Resource":"*"});
        assert!(!policies_equal(
            &json!({"Statement":[s1]}),
            &json!({"Statement":[changed]})
        ));
        let (missing, extra) =
            statement_diff(&json!({"Statement":[s1]}), &json!({"Statement":[changed]}));
        assert_eq!(missing, vec!["A"]);
        assert_eq!(extra, vec!["A"]);
    }

    #[test]
    fn parses_url_encoded_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            parse_document(encoded).unwrap(),
            json!({"Version":"2012-10-17","Statement":[]})
        );
        assert!(parse_document("%7B%ZZ").is_err());
        assert!(parse_document("not json").is_err());
    }

    #[test]
    fn pattern_alternatives_are_sets() {
        assert_eq!(
            normalize_pattern(&json!({"source":["b","a"],"detail-type":["x"]})),
            normalize_pattern(&json!({"detail-type":["x"],"source":["a","b"]}))
        );
        assert_ne!(
            normalize_pattern(&json!({"source":["a"]})),
            normalize_pattern(&json!({"source":["b"]}))
        );
    }
}

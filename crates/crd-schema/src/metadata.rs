//! The `ObjectMeta` checks kube-apiserver applies to every object (apimachinery `ValidateObjectMeta`): name
//! syntax, label/annotation keys and values, finalizers. Messages follow the API server's wording.

use serde_json::Value;

use crate::validate::{show, Rule, Violation};

/// Maximum length of a DNS-1123 subdomain (object names, qualified-name prefixes).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Maximum length of a label value and of a qualified name's name part.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Maximum total size of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_dns1123_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|c| is_lower_alnum(*c) || *c == b'-')
}

/// Whether `s` is a DNS-1123 subdomain (lowercase alphanumerics, `-` and `.`, at most 253 characters).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= DNS1123_SUBDOMAIN_MAX_LENGTH && s.split('.').all(is_dns1123_label_shape)
}

/// Problems with `s` as a DNS-1123 subdomain, in the API server's words (empty when valid).
pub fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        ));
    }
    if !s.split('.').all(is_dns1123_label_shape) {
        errs.push(format!(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must \
             start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{DNS1123_SUBDOMAIN_FMT}')"
        ));
    }
    errs
}

/// Problems with `s` as a DNS-1123 label (namespaces), in the API server's words (empty when valid).
pub fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {LABEL_VALUE_MAX_LENGTH} characters"
        ));
    }
    if !is_dns1123_label_shape(s) {
        errs.push(format!(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and \
             end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '{DNS1123_LABEL_FMT}')"
        ));
    }
    errs
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1])
        && b.iter()
            .all(|c| is_alnum(*c) || matches!(c, b'-' | b'_' | b'.'))
}

/// Problems with `s` as a qualified name (`[prefix/]name`, as label and annotation keys must be), in the API
/// server's words (empty when valid).
pub fn qualified_name_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain_errors(prefix)
                        .into_iter()
                        .map(|e| format!("prefix part {e}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
                 with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation \
                 is '{QUALIFIED_NAME_FMT}') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else {
        if name.len() > LABEL_VALUE_MAX_LENGTH {
            errs.push(format!(
                "name part must be no more than {LABEL_VALUE_MAX_LENGTH} characters"
            ));
        }
        if !is_qualified_name_part(name) {
            errs.push(format!(
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
                 alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{QUALIFIED_NAME_FMT}')"
            ));
        }
    }
    errs
}

/// Problems with `s` as a label value, in the API server's words (empty when valid).
pub fn label_value_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {LABEL_VALUE_MAX_LENGTH} characters"
        ));
    }
    if !s.is_empty() && !is_qualified_name_part(s) {
        errs.push(format!(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must \
             start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for \
             validation is '{LABEL_VALUE_FMT}')"
        ));
    }
    errs
}

fn violation(path: String, message: String) -> Violation {
    Violation {
        path,
        rule: Rule::Metadata,
        message,
    }
}

fn type_violation(path: String, v: &Value, expected: &str) -> Violation {
    Violation {
        path,
        rule: Rule::Type,
        message: format!("Invalid value: {}: must be of type {expected}", show(v)),
    }
}

fn string_map<'v>(
    meta: &'v serde_json::Map<String, Value>,
    field: &str,
    base: &str,
    out: &mut Vec<Violation>,
) -> Vec<(&'v str, &'v str)> {
    let path = format!("{base}.{field}");
    match meta.get(field) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => {
            let mut pairs = Vec::with_capacity(m.len());
            for (k, v) in m {
                match v {
                    Value::String(s) => pairs.push((k.as_str(), s.as_str())),
                    other => out.push(type_violation(format!("{path}[{k}]"), other, "string")),
                }
            }
            pairs
        }
        Some(other) => {
            out.push(type_violation(path, other, "object"));
            Vec::new()
        }
    }
}

/// Validates an object's `metadata` (found at field path `base`, normally `metadata`) like kube-apiserver does for
/// a create. Cluster-scoped objects (`namespaced == false`) may carry a namespace: the API server clears it.
pub fn validate_object_meta(meta: &Value, namespaced: bool, base: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let Value::Object(m) = meta else {
        out.push(type_violation(base.to_string(), meta, "object"));
        return out;
    };
    const STRING_FIELDS: &[&str] = &[
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
    ];
    const INT_FIELDS: &[&str] = &["generation", "deletionGracePeriodSeconds"];
    const OTHER_FIELDS: &[&str] = &[
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ];
    for (k, v) in m {
        let path = format!("{base}.{k}");
        if STRING_FIELDS.contains(&k.as_str()) {
            let null_timestamp = v.is_null() && k.ends_with("Timestamp");
            if !v.is_string() && !null_timestamp {
                out.push(type_violation(path, v, "string"));
            }
        } else if INT_FIELDS.contains(&k.as_str()) {
            if !(v.is_i64() || v.is_u64()) {
                out.push(type_violation(path, v, "integer"));
            }
        } else if OTHER_FIELDS.contains(&k.as_str()) {
            if matches!(
                k.as_str(),
                "ownerReferences" | "finalizers" | "managedFields"
            ) && !v.is_array()
                && !v.is_null()
            {
                out.push(type_violation(path, v, "array"));
            }
        } else {
            out.push(Violation {
                path,
                rule: Rule::UnknownField,
                message: "field not declared in schema".to_string(),
            });
        }
    }

    let name = m.get("name").and_then(Value::as_str);
    let generate_name = m.get("generateName").and_then(Value::as_str);
    match name {
        Some(n) if !n.is_empty() => {
            for e in dns1123_subdomain_errors(n) {
                out.push(violation(
                    format!("{base}.name"),
                    format!("Invalid value: {}: {e}", show(&Value::String(n.into()))),
                ));
            }
        }
        _ if generate_name.is_some_and(|g| !g.is_empty()) => {}
        _ => out.push(Violation {
            path: format!("{base}.name"),
            rule: Rule::Required,
            message: "Required value: name or generateName is required".to_string(),
        }),
    }
    if namespaced {
        match m.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() => {
                for e in dns1123_label_errors(ns) {
                    out.push(violation(
                        format!("{base}.namespace"),
                        format!("Invalid value: {}: {e}", show(&Value::String(ns.into()))),
                    ));
                }
            }
            _ => out.push(Violation {
                path: format!("{base}.namespace"),
                rule: Rule::Required,
                message: "Required value".to_string(),
            }),
        }
    }

    for (k, v) in string_map(m, "labels", base, &mut out) {
        let path = format!("{base}.labels");
        for e in qualified_name_errors(k) {
            out.push(violation(
                path.clone(),
                format!("Invalid value: {}: {e}", show(&Value::String(k.into()))),
            ));
        }
        for e in label_value_errors(v) {
            out.push(violation(
                path.clone(),
                format!("Invalid value: {}: {e}", show(&Value::String(v.into()))),
            ));
        }
    }
    let mut annotation_bytes = 0usize;
    for (k, v) in string_map(m, "annotations", base, &mut out) {
        annotation_bytes += k.len() + v.len();
        for e in qualified_name_errors(&k.to_ascii_lowercase()) {
            out.push(violation(
                format!("{base}.annotations"),
                format!("Invalid value: {}: {e}", show(&Value::String(k.into()))),
            ));
        }
    }
    if annotation_bytes > TOTAL_ANNOTATION_SIZE_LIMIT {
        out.push(violation(
            format!("{base}.annotations"),
            format!("Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
        ));
    }
    if let Some(Value::Array(finalizers)) = m.get("finalizers") {
        for (i, f) in finalizers.iter().enumerate() {
            let path = format!("{base}.finalizers[{i}]");
            match f {
                Value::String(s) => {
                    for e in qualified_name_errors(s) {
                        out.push(violation(
                            path.clone(),
                            format!("Invalid value: {}: {e}", show(f)),
                        ));
                    }
                }
                other => out.push(type_violation(path, other, "string")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_dns1123_subdomain("default"));
        assert!(is_dns1123_subdomain("a.b-c.d"));
        assert!(!is_dns1123_subdomain("Default"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain(""));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
        assert!(is_dns1123_subdomain(&"a".repeat(63)));
    }

    #[test]
    fn qualified_names_and_label_values() {
        assert!(qualified_name_errors("karpenter.sh/nodepool").is_empty());
        assert!(qualified_name_errors("team").is_empty());
        assert!(!qualified_name_errors("Karpenter.sh/x").is_empty());
        assert!(!qualified_name_errors("/x").is_empty());
        assert!(!qualified_name_errors("a/b/c").is_empty());
        assert!(!qualified_name_errors(&format!("x/{}", "a".repeat(64))).is_empty());
        assert!(label_value_errors("").is_empty());
        assert!(label_value_errors("my_value-1.2").is_empty());
        assert!(!label_value_errors("-x").is_empty());
        assert!(!label_value_errors(&"a".repeat(64)).is_empty());
    }
}

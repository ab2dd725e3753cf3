//! ObjectMeta validation of labels and annotations, as every kind gets it on HTTP writes
//! (`k8s.io/apimachinery/pkg/api/validation/objectmeta.go`: `ValidateAnnotations` with its 256 KiB
//! `TotalAnnotationSizeLimitB`; `k8s.io/apimachinery/pkg/apis/meta/v1/validation`: `ValidateLabels`).

use super::meta_str;
use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::util;
use serde_json::Value;

/// The most bytes (keys and values) `metadata.annotations` may hold.
pub(super) const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// ObjectMeta validation of labels and annotations, as every kind gets it: string values
/// (400 when they cannot be decoded), qualified-name keys, label values, annotation size.
pub(super) fn validate_labels_annotations(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let name = meta_str(obj, "name").unwrap_or_default().to_string();
    let mut causes: Vec<(String, String)> = Vec::new();
    for field in ["labels", "annotations"] {
        let Some(v) = obj.pointer(&format!("/metadata/{field}")) else {
            continue;
        };
        let map = match v {
            Value::Null => continue,
            Value::Object(m) => m,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unable to decode metadata.{field}: expected a map of strings, found {other}"
                )))
            }
        };
        let mut bytes = 0;
        for (k, v) in map {
            let Some(v) = v.as_str() else {
                return Err(ApiError::bad_request(format!(
                    "unable to decode metadata.{field}[{k:?}]: expected a string, found {v}"
                )));
            };
            let key_check = if field == "annotations" {
                util::validate_qualified_name(&k.to_lowercase())
            } else {
                util::validate_qualified_name(k)
            };
            if let Err(msg) = key_check {
                causes.push((
                    format!("metadata.{field}"),
                    format!("Invalid value: {k:?}: {msg}"),
                ));
            }
            if field == "labels" {
                if let Err(msg) = util::validate_label_value(v) {
                    causes.push((
                        format!("metadata.{field}"),
                        format!("Invalid value: {v:?}: {msg}"),
                    ));
                }
            }
            bytes += k.len() + v.len();
        }
        if field == "annotations" && bytes > ANNOTATIONS_MAX_BYTES {
            causes.push((
                "metadata.annotations".into(),
                format!("Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes"),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        let kind = if def.group.is_empty() {
            def.kind.clone()
        } else {
            format!("{}.{}", def.kind, def.group)
        };
        Err(ApiError::invalid(&kind, &name, causes))
    }
}

//! `metadata.managedFields` for Update operations: which manager owns which fields, per subresource
//! (`k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager`, `k8s.io/apimachinery/pkg/util/managedfields`:
//! a non-apply write takes ownership of the fields it changes, and removed fields are forgotten).

use super::{meta_mut, Store, Sub};
use crate::patch::{self, FieldPath};
use crate::resources::ResourceDef;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The part of an object a manager's field set covers for this subresource.
pub(super) fn managed_view(obj: &Value, def: &ResourceDef, sub: Sub) -> Value {
    match sub {
        Sub::Status if def.status_subresource => {
            json!({"status": obj.get("status").cloned().unwrap_or(Value::Null)})
        }
        _ => {
            let mut v = obj.clone();
            if def.status_subresource {
                if let Value::Object(m) = &mut v {
                    m.remove("status");
                }
            }
            v
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct ManagedEntry {
    pub(super) manager: String,
    pub(super) operation: String,
    pub(super) subresource: Option<String>,
    pub(super) api_version: String,
    pub(super) time: String,
    pub(super) fields: BTreeSet<FieldPath>,
}

pub(super) fn read_managed(obj: &Value) -> Vec<ManagedEntry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| ManagedEntry {
                    manager: e
                        .get("manager")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .into(),
                    subresource: e
                        .get("subresource")
                        .and_then(Value::as_str)
                        .map(String::from),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    time: e
                        .get("time")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    fields: e
                        .get("fieldsV1")
                        .map(patch::from_fields_v1)
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn write_managed(obj: &mut Value, entries: Vec<ManagedEntry>) {
    let arr: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": patch::to_fields_v1(&e.fields),
            });
            if let Some(s) = e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    let m = meta_mut(obj);
    if arr.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), Value::Array(arr));
    }
}

pub(super) fn sub_name(sub: Sub) -> Option<String> {
    match sub {
        Sub::Main | Sub::Whole => None,
        Sub::Status => Some("status".into()),
    }
}

/// How a write records field ownership.
#[derive(Debug, Clone)]
pub(crate) enum Tracking {
    /// A non-apply write by this manager (operation `Update`).
    Update(String),
    /// managedFields were already computed (server-side apply).
    Precomputed,
}

impl Store {
    /// Moves ownership of changed fields to `manager` (operation Update) and forgets removed fields.
    pub(super) fn track_update(
        &self,
        def: &ResourceDef,
        old: &Value,
        new: &mut Value,
        sub: Sub,
        manager: &str,
    ) {
        let old_view = managed_view(old, def, sub);
        let new_view = managed_view(new, def, sub);
        let new_set = patch::field_set(&new_view, def.custom);
        let changed: BTreeSet<FieldPath> = new_set
            .iter()
            .filter(|p| patch::value_at(&old_view, p) != patch::value_at(&new_view, p))
            .cloned()
            .collect();
        let whole_new = patch::field_set(&managed_view(new, def, Sub::Main), def.custom);
        let status_new = patch::field_set(&managed_view(new, def, Sub::Status), def.custom);
        let mut entries = read_managed(old);
        for e in &mut entries {
            let present = if e.subresource.as_deref() == Some("status") && def.status_subresource {
                &status_new
            } else {
                &whole_new
            };
            e.fields
                .retain(|p| present.contains(p) && !changed.contains(p));
        }
        if !changed.is_empty() {
            let subres = sub_name(if def.status_subresource {
                sub
            } else {
                Sub::Main
            });
            let now = self.now_rfc3339();
            match entries.iter_mut().find(|e| {
                e.manager == manager && e.operation == "Update" && e.subresource == subres
            }) {
                Some(e) => {
                    e.fields.extend(changed);
                    e.time = now;
                }
                None => entries.push(ManagedEntry {
                    manager: manager.to_string(),
                    operation: "Update".into(),
                    subresource: subres,
                    api_version: old["apiVersion"].as_str().unwrap_or_default().to_string(),
                    time: now,
                    fields: changed,
                }),
            }
        }
        write_managed(new, entries);
    }
}

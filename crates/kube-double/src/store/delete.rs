//! Delete: the generic registry's `Store.Delete` (`k8s.io/apiserver/pkg/registry/generic/registry/store.go`):
//! uid and resourceVersion preconditions, graceful deletion of objects with finalizers (deletionTimestamp and
//! deletionGracePeriodSeconds set once, `BeforeDelete` in `k8s.io/apiserver/pkg/registry/rest/delete.go`; a
//! pod's grace period defaults to its terminationGracePeriodSeconds), and a namespace's contents deleted with it
//! (the namespace controller, `pkg/controller/namespace/deletion`).

use super::{meta_mut, meta_str, Key, Store};
use crate::resources::ResourceDef;
use crate::status::ApiError;
use serde_json::{json, Value};

/// Options for a delete.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOpts {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
}

pub(super) fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Store {
    /// Deletes (or, with finalizers, marks for deletion) an object.
    pub fn delete(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let old = self.get(def, ns, name)?;
        if let Some(uid) = &opts.uid {
            let have = meta_str(&old, "uid").unwrap_or_default();
            if uid != have {
                return Err(ApiError::conflict_msg(format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {have}",
                    def.qualified()
                )));
            }
        }
        if let Some(rv) = &opts.resource_version {
            let have = meta_str(&old, "resourceVersion").unwrap_or_default();
            if rv != have {
                return Err(ApiError::conflict_msg(format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}",
                    def.qualified()
                )));
            }
        }
        if def.group.is_empty() && def.kind == "Namespace" {
            let contained: Vec<Key> = self
                .objects
                .keys()
                .filter(|(_, _, ons, _)| ons == name)
                .cloned()
                .collect();
            for (g, p, ons, oname) in contained {
                if let Some(d) = self
                    .defs
                    .iter()
                    .find(|d| d.group == g && d.plural == p)
                    .cloned()
                {
                    let _ = self.delete(&d, &ons, &oname, &DeleteOpts::default());
                }
            }
        }
        let key = Self::key(def, ns, name);
        if !finalizers(&old).is_empty() {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(old);
            }
            let mut new = old.clone();
            let rv = self.next_rv();
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let default_grace = if def.group.is_empty() && def.kind == "Pod" {
                old.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30)
            } else {
                0
            };
            let grace = opts.grace_period_seconds.unwrap_or(default_grace);
            let m = meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(self.now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(grace));
            m.insert("generation".into(), json!(g + 1));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            self.objects.insert(key, new.clone());
            self.emit("MODIFIED", def, &new, Some(old));
            return Ok(new);
        }
        self.objects.remove(&key);
        let rv = self.next_rv();
        let mut gone = old.clone();
        meta_mut(&mut gone).insert("resourceVersion".into(), json!(rv.to_string()));
        self.emit("DELETED", def, &gone, Some(old));
        Ok(gone)
    }
}

//! Server-side apply (`k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager`, merging by
//! `sigs.k8s.io/structured-merge-diff`): apply creates a missing object, each manager owns the fields it applied,
//! fields owned by another manager conflict (409 with `FieldManagerConflict` causes) unless forced, and fields a
//! manager stops applying are removed when no one else owns them.

use super::managed_fields::{
    managed_view, read_managed, sub_name, write_managed, ManagedEntry, Tracking,
};
use super::{meta_mut, meta_str, Store, Sub};
use crate::patch::{self, FieldPath};
use crate::resources::ResourceDef;
use crate::status::ApiError;
use serde_json::{json, Value};
use std::collections::BTreeSet;

impl Store {
    /// Server-side apply. Returns the object and whether it was created.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        name: &str,
        applied: Value,
        manager: &str,
        force: bool,
        sub: Sub,
    ) -> Result<(Value, bool), ApiError> {
        if !applied.is_object() {
            return Err(ApiError::bad_request(
                "the applied configuration must be an object",
            ));
        }
        let want_av = def.api_version(version);
        match applied.get("apiVersion").and_then(Value::as_str) {
            Some(av) if av == want_av => {}
            Some(av) => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({want_av})"
                )))
            }
            None => return Err(ApiError::bad_request("apiVersion must be set in the applied configuration")),
        }
        match applied.get("kind").and_then(Value::as_str) {
            Some(k) if k == def.kind => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the applied configuration must be {:?}",
                    def.kind
                )))
            }
        }
        if let Some(n) = meta_str(&applied, "name") {
            if n != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        let applied_view = managed_view(&applied, def, sub);
        let applied_set = patch::field_set(&applied_view, def.custom);
        let subres = sub_name(if def.status_subresource {
            sub
        } else {
            Sub::Main
        });
        let now = self.now_rfc3339();
        let key = Self::key(def, ns, name);
        let Some(old) = self.objects.get(&key).cloned() else {
            if sub == Sub::Status {
                return Err(Self::not_found(def, name));
            }
            let mut obj = applied.clone();
            meta_mut(&mut obj).insert("name".into(), json!(name));
            meta_mut(&mut obj).remove("resourceVersion");
            let entry = ManagedEntry {
                manager: manager.to_string(),
                operation: "Apply".into(),
                subresource: subres,
                api_version: want_av.clone(),
                time: now,
                fields: applied_set,
            };
            write_managed(&mut obj, vec![entry]);
            let url_ns = if def.namespaced { Some(ns) } else { None };
            let created = self.create(def, url_ns, obj, true, None)?;
            return Ok((created, true));
        };
        if let Some(rv) = meta_str(&applied, "resourceVersion") {
            if !rv.is_empty() && Some(rv) != meta_str(&old, "resourceVersion") {
                return Err(ApiError::conflict(&def.qualified(), &def.plural, name));
            }
        }
        let old_view = managed_view(&old, def, sub);
        let mut entries = read_managed(&old);
        let is_own = |e: &ManagedEntry| {
            e.manager == manager && e.operation == "Apply" && e.subresource == subres
        };
        // Conflicts: fields owned by another manager whose value this apply changes.
        let mut conflicts: Vec<(String, FieldPath)> = Vec::new();
        for e in entries.iter().filter(|e| !is_own(e)) {
            for p in applied_set.intersection(&e.fields) {
                if p.last().map(String::as_str) == Some(".") {
                    continue;
                }
                if patch::value_at(&old_view, p) != patch::value_at(&applied_view, p) {
                    conflicts.push((e.manager.clone(), p.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|(m, p)| {
                    json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m:?}"), "field": patch::display_path(p)})
                })
                .collect();
            let message = if conflicts.len() == 1 {
                format!(
                    "Apply failed with 1 conflict: conflict with {:?}: {}",
                    conflicts[0].0,
                    patch::display_path(&conflicts[0].1)
                )
            } else {
                let lines: Vec<String> = conflicts
                    .iter()
                    .map(|(m, p)| format!("- conflict with {m:?}: {}", patch::display_path(p)))
                    .collect();
                format!(
                    "Apply failed with {} conflicts:\n{}",
                    conflicts.len(),
                    lines.join("\n")
                )
            };
            return Err(ApiError::conflict_msg(message).with_details(json!({
                "name": name, "group": def.group, "kind": def.plural, "causes": causes
            })));
        }
        let forced: BTreeSet<FieldPath> = conflicts.into_iter().map(|(_, p)| p).collect();
        for e in entries.iter_mut().filter(|e| !is_own(e)) {
            e.fields.retain(|p| !forced.contains(p));
        }
        let previous: BTreeSet<FieldPath> = entries
            .iter()
            .filter(|e| is_own(e))
            .flat_map(|e| e.fields.iter().cloned())
            .collect();
        let others: BTreeSet<FieldPath> = entries
            .iter()
            .filter(|e| !is_own(e))
            .flat_map(|e| e.fields.iter().cloned())
            .collect();
        let mut merged_view = old_view.clone();
        // Deepest paths first so list items go after their fields.
        let mut removals: Vec<&FieldPath> = previous
            .iter()
            .filter(|p| !applied_set.contains(*p) && !others.contains(*p))
            .collect();
        removals.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in removals {
            patch::remove_at(&mut merged_view, p);
        }
        let mut clean_applied = applied_view.clone();
        if let Some(Value::Object(m)) = clean_applied.get_mut("metadata") {
            m.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "labels" | "annotations" | "finalizers" | "ownerReferences"
                )
            });
        }
        patch::apply_merge(&mut merged_view, &clean_applied, def.custom);
        // Recombine with the part of the object this subresource does not cover.
        let mut new = match sub {
            Sub::Status if def.status_subresource => {
                let mut n = old.clone();
                match merged_view.get("status") {
                    Some(s) if !s.is_null() => n["status"] = s.clone(),
                    _ => {
                        if let Value::Object(m) = &mut n {
                            m.remove("status");
                        }
                    }
                }
                n
            }
            _ => {
                let mut n = merged_view;
                if let Some(s) = old.get("status") {
                    n["status"] = s.clone();
                }
                n
            }
        };
        entries.retain(|e| !is_own(e));
        entries.push(ManagedEntry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            subresource: subres,
            api_version: want_av,
            time: now,
            fields: applied_set,
        });
        write_managed(&mut new, entries);
        let result = self.commit(def, old, new, sub, Tracking::Precomputed)?;
        Ok((result, false))
    }
}

//! Update and the commit every write ends in: the generic registry's `Store.Update`
//! (`k8s.io/apiserver/pkg/registry/generic/registry/store.go`) and `BeforeUpdate`
//! (`k8s.io/apiserver/pkg/registry/rest/update.go`): optimistic concurrency on resourceVersion (409 Conflict),
//! custom resources' required resourceVersion, immutable system metadata, the status subresource's split of spec
//! and status (the strategies' `PrepareForUpdate`), no new finalizers on an object being deleted
//! (`ValidateObjectMetaUpdate`), `metadata.generation` bumped only by spec changes, no-op writes that keep the
//! resourceVersion, and removal once the last finalizer goes. Pod spec updates follow `ValidatePodUpdate`
//! (`pkg/apis/core/validation/validation.go`).

use super::delete::finalizers;
use super::managed_fields::Tracking;
use super::meta::validate_labels_annotations;
use super::{meta_mut, meta_str, Store, Sub};
use crate::resources::ResourceDef;
use crate::status::ApiError;
use serde_json::{json, Value};

impl Store {
    /// Replaces an object (PUT) or its status.
    pub fn update(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        new: Value,
        sub: Sub,
        tracking: Tracking,
    ) -> Result<Value, ApiError> {
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        if let Some(body_name) = meta_str(&new, "name") {
            if body_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
        }
        if def.namespaced {
            if let Some(body_ns) = meta_str(&new, "namespace") {
                if !body_ns.is_empty() && body_ns != ns {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
        }
        if let Some(kind) = new.get("kind").and_then(Value::as_str) {
            if kind != def.kind {
                return Err(ApiError::bad_request(format!(
                    "the kind of the object ({kind}) does not match the resource {}",
                    def.qualified()
                )));
            }
        }
        let old = self.get(def, ns, name)?;
        // Custom resources never allow an unconditional update (apiextensions' strategy):
        // a PUT must carry the resourceVersion it read. Built-in kinds served here allow it.
        if def.custom && meta_str(&new, "resourceVersion").is_none_or(str::is_empty) {
            let qualified_kind = format!("{}.{}", def.kind, def.group);
            return Err(ApiError::invalid(
                &qualified_kind,
                name,
                vec![(
                    "metadata.resourceVersion".into(),
                    "Invalid value: 0x0: must be specified for an update".into(),
                )],
            ));
        }
        self.commit(def, old, new, sub, tracking)
    }

    /// The shared final step of every update: concurrency, subresource rules, finalizers,
    /// generation, no-op detection, resourceVersion, events.
    pub fn commit(
        &mut self,
        def: &ResourceDef,
        old: Value,
        mut new: Value,
        sub: Sub,
        tracking: Tracking,
    ) -> Result<Value, ApiError> {
        let name = meta_str(&old, "name").unwrap_or_default().to_string();
        if !new.is_object() {
            return Err(ApiError::invalid(
                &def.kind,
                &name,
                vec![(
                    "<root>".into(),
                    "Invalid value: the object must stay a JSON object".into(),
                )],
            ));
        }
        let ns = meta_str(&old, "namespace").unwrap_or_default().to_string();
        let old_rv = meta_str(&old, "resourceVersion")
            .unwrap_or_default()
            .to_string();
        if let Some(rv) = new.pointer("/metadata/resourceVersion") {
            let rv = rv.as_str().unwrap_or_default();
            if !rv.is_empty() && rv != old_rv {
                return Err(ApiError::conflict(&def.qualified(), &def.plural, &name));
            }
        }
        if meta_str(&new, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&new, "name").unwrap_or_default()
            )));
        }
        // Subresource rules.
        if def.status_subresource {
            match sub {
                Sub::Main => match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Value::Object(m) = &mut new {
                            m.remove("status");
                        }
                    }
                },
                Sub::Status => {
                    let status = new.get("status").cloned();
                    let managed = new.pointer("/metadata/managedFields").cloned();
                    new = old.clone();
                    match status {
                        Some(s) if !s.is_null() => new["status"] = s,
                        _ => {
                            if let Value::Object(m) = &mut new {
                                m.remove("status");
                            }
                        }
                    }
                    if matches!(tracking, Tracking::Precomputed) {
                        if let Some(mf) = managed {
                            meta_mut(&mut new).insert("managedFields".into(), mf);
                        }
                    }
                }
                Sub::Whole => {}
            }
        }
        // System-owned fields come from the stored object.
        new["apiVersion"] = old["apiVersion"].clone();
        new["kind"] = old["kind"].clone();
        {
            let om = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
            let m = meta_mut(&mut new);
            for f in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match om.get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
            m.insert("resourceVersion".into(), json!(old_rv));
            if let Some(Value::Object(l)) = m.get("labels") {
                if l.is_empty() {
                    m.remove("labels");
                }
            }
            if let Some(Value::Object(l)) = m.get("annotations") {
                if l.is_empty() {
                    m.remove("annotations");
                }
            }
            if let Some(Value::Array(l)) = m.get("finalizers") {
                if l.is_empty() {
                    m.remove("finalizers");
                }
            }
        }
        if def.group.is_empty() && def.kind == "Pod" && sub == Sub::Main {
            check_pod_spec_update(&old, &new, &name)?;
        }
        let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
        if deleting {
            let before = finalizers(&old);
            let added: Vec<String> = finalizers(&new)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    &def.kind,
                    &name,
                    vec![(
                        "metadata.finalizers".into(),
                        format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                    )],
                ));
            }
        }
        // HTTP writes (every sub but the store helpers' `Whole`) get ObjectMeta validation.
        let meta_changed = ["labels", "annotations"].iter().any(|f| {
            new.pointer(&format!("/metadata/{f}")) != old.pointer(&format!("/metadata/{f}"))
        });
        if sub != Sub::Whole && meta_changed {
            validate_labels_annotations(def, &new)?;
        }
        if let Tracking::Update(manager) = &tracking {
            self.track_update(def, &old, &mut new, sub, manager);
        }
        self.check_schema(def, &mut new, Some(&old))?;
        if noop_view(&new) == noop_view(&old) {
            return Ok(old);
        }
        if spec_view(&new) != spec_view(&old) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        let rv = self.next_rv();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let key = Self::key(def, &ns, &name);
        if deleting && finalizers(&new).is_empty() {
            self.objects.remove(&key);
            self.emit("DELETED", def, &new, Some(old));
        } else {
            self.objects.insert(key, new.clone());
            self.emit("MODIFIED", def, &new, Some(old));
        }
        Ok(new)
    }
}

/// The object without metadata and status: what `generation` tracks.
pub(super) fn spec_view(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Value::Object(m) = &mut v {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

/// The object without resourceVersion and managedFields timestamps: to detect no-op writes
/// (a change of field ownership alone is still persisted, as the real server does).
pub(super) fn noop_view(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(Value::Object(m)) = v.get_mut("metadata") {
        m.remove("resourceVersion");
        if let Some(Value::Array(entries)) = m.get_mut("managedFields") {
            for e in entries {
                if let Value::Object(em) = e {
                    em.remove("time");
                }
            }
        }
    }
    v
}

/// Pod spec updates may only change images, activeDeadlineSeconds, add tolerations and set
/// terminationGracePeriodSeconds (the real pod validation's rule).
pub(super) fn check_pod_spec_update(old: &Value, new: &Value, name: &str) -> Result<(), ApiError> {
    let mask = |v: &Value| {
        let mut spec = v.get("spec").cloned().unwrap_or_else(|| json!({}));
        if let Value::Object(m) = &mut spec {
            m.remove("activeDeadlineSeconds");
            m.remove("terminationGracePeriodSeconds");
            m.remove("tolerations");
            for list in ["containers", "initContainers"] {
                if let Some(Value::Array(cs)) = m.get_mut(list) {
                    for c in cs {
                        if let Value::Object(cm) = c {
                            cm.remove("image");
                        }
                    }
                }
            }
        }
        spec
    };
    let old_tols = old
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new_tols = new
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let tolerations_only_added = old_tols.iter().all(|t| new_tols.contains(t));
    if mask(old) != mask(new) || !tolerations_only_added {
        return Err(ApiError::invalid(
            "Pod",
            name,
            vec![(
                "spec".into(),
                "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
            )],
        ));
    }
    Ok(())
}

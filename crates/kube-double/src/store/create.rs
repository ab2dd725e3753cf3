//! Create: the generic registry's `Store.Create` (`k8s.io/apiserver/pkg/registry/generic/registry/store.go`) and
//! `BeforeCreate` (`k8s.io/apiserver/pkg/registry/rest/create.go`): kind and namespace checks, `generateName`,
//! name validation, the namespace must exist, AlreadyExists, create-time status resets (the strategies'
//! `PrepareForCreate`), and the system-set metadata (uid, resourceVersion, generation 1, creationTimestamp).

use super::managed_fields::{managed_view, write_managed, ManagedEntry, Tracking};
use super::meta::validate_labels_annotations;
use super::{meta_mut, meta_str, Store, Sub};
use crate::patch;
use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::util;
use serde_json::{json, Value};

impl Store {
    /// Creates an object. `http` applies the API server's create-time resets (status).
    pub fn create(
        &mut self,
        def: &ResourceDef,
        url_ns: Option<&str>,
        mut obj: Value,
        http: bool,
        tracking: Option<Tracking>,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(format!(
                "the body of the request must be a {} object",
                def.kind
            )));
        }
        if let Some(kind) = obj.get("kind").and_then(Value::as_str) {
            if kind != def.kind {
                return Err(ApiError::bad_request(format!(
                    "the kind of the object ({kind}) does not match the resource {} ({})",
                    def.qualified(),
                    def.kind
                )));
            }
        }
        if http && meta_str(&obj, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let body_ns = meta_str(&obj, "namespace").map(String::from);
        let ns = if def.namespaced {
            match (url_ns, body_ns.as_deref()) {
                (Some(u), Some(b)) if !b.is_empty() && u != b => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                (Some(u), _) => u.to_string(),
                (None, Some(b)) if !b.is_empty() => b.to_string(),
                _ => "default".to_string(),
            }
        } else {
            String::new()
        };
        let mut name = meta_str(&obj, "name").unwrap_or_default().to_string();
        if name.is_empty() {
            match meta_str(&obj, "generateName") {
                Some(prefix) if !prefix.is_empty() => {
                    name = format!("{prefix}{}", util::name_suffix());
                }
                _ => {
                    return Err(ApiError::invalid(
                        &def.kind,
                        "",
                        vec![(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ))
                }
            }
        }
        let check = if def.kind == "Namespace" && def.group.is_empty() {
            util::validate_dns1123_label(&name)
        } else {
            util::validate_dns1123_subdomain(&name)
        };
        if let Err(msg) = check {
            return Err(ApiError::invalid(
                &def.kind,
                &name,
                vec![(
                    "metadata.name".into(),
                    format!("Invalid value: {name:?}: {msg}"),
                )],
            ));
        }
        if def.namespaced && !self.namespace_exists(&ns) {
            return Err(ApiError::not_found("namespaces", "namespaces", &ns));
        }
        let key = Self::key(def, &ns, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(
                &def.qualified(),
                &def.plural,
                &name,
            ));
        }
        if http && def.reset_status_on_create {
            if let Value::Object(m) = &mut obj {
                m.remove("status");
            }
            if def.group.is_empty() && def.kind == "Pod" {
                obj["status"] = json!({"phase": "Pending"});
            }
        }
        if def.group.is_empty() && def.kind == "Namespace" && obj.pointer("/status/phase").is_none()
        {
            obj["status"] = json!({"phase": "Active"});
        }
        meta_mut(&mut obj).insert("name".into(), json!(name));
        if http {
            validate_labels_annotations(def, &obj)?;
        }
        self.check_schema(def, &mut obj, None)?;
        let rv = self.next_rv();
        obj["apiVersion"] = json!(def.api_version(&def.versions[0]));
        obj["kind"] = json!(def.kind);
        {
            let m = meta_mut(&mut obj);
            m.insert("name".into(), json!(name));
            if def.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(util::new_uid()));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            m.insert("generation".into(), json!(1));
            m.insert("creationTimestamp".into(), json!(self.now_rfc3339()));
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("selfLink");
            if tracking.is_some() {
                m.remove("managedFields");
            }
        }
        if let Some(Tracking::Update(manager)) = tracking {
            let fields = patch::field_set(&managed_view(&obj, def, Sub::Main), def.custom);
            let entry = ManagedEntry {
                manager,
                operation: "Update".into(),
                subresource: None,
                api_version: def.api_version(&def.versions[0]),
                time: self.now_rfc3339(),
                fields,
            };
            write_managed(&mut obj, vec![entry]);
        }
        self.objects.insert(key, obj.clone());
        self.emit("ADDED", def, &obj, None);
        Ok(obj)
    }
}

//! The object store: resourceVersion counter, objects, watch history, and the write semantics
//! (create/update/patch/apply/delete/evict) shared by the HTTP layer and the direct test API.

use crate::patch::{self, FieldPath};
use crate::resources::ResourceDef;
use crate::selectors::{labels_of, match_label_selector_object, FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::util;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Store key: (group, plural, namespace or "", name).
pub(crate) type Key = (String, String, String, String);

/// One retained change, replayed to watchers.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub rv: u64,
    pub etype: &'static str,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub object: Value,
    pub prev: Option<Value>,
}

/// One page of a list.
pub(crate) struct ListPage {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    /// Matching items after this page (`remainingItemCount`), when there is a next page.
    pub remaining: Option<u64>,
}

/// Saved mutable state of a [`Store`].
pub(crate) struct Snapshot {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    history: VecDeque<Change>,
    compacted_rv: u64,
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sub {
    Main,
    Status,
    /// Direct test access: spec and status together, no subresource rules.
    Whole,
}

/// Initial synthetic events and the resourceVersion a watch starts after.
pub(crate) type WatchStart = (Vec<(&'static str, Value)>, u64);

/// Options for a delete.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOpts {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
}

pub(crate) struct Store {
    pub defs: Vec<ResourceDef>,
    pub objects: BTreeMap<Key, Value>,
    pub rv: u64,
    pub history: VecDeque<Change>,
    pub history_cap: usize,
    /// RV of the newest change dropped from `history` (watches from older RVs get 410).
    pub compacted_rv: u64,
    pub notify: tokio::sync::watch::Sender<u64>,
    /// Validate Karpenter objects against the upstream CRD schemas on HTTP writes.
    pub validate_schemas: bool,
    /// The API version of the HTTP request being served (`None` for direct test access).
    pub request_version: Option<String>,
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// The most bytes (keys and values) `metadata.annotations` may hold.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// ObjectMeta validation of labels and annotations, as every kind gets it: string values
/// (400 when they cannot be decoded), qualified-name keys, label values, annotation size.
fn validate_labels_annotations(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
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

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The object without metadata and status: what `generation` tracks.
fn spec_view(obj: &Value) -> Value {
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
fn noop_view(obj: &Value) -> Value {
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

/// The part of an object a manager's field set covers for this subresource.
fn managed_view(obj: &Value, def: &ResourceDef, sub: Sub) -> Value {
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
struct ManagedEntry {
    manager: String,
    operation: String,
    subresource: Option<String>,
    api_version: String,
    time: String,
    fields: BTreeSet<FieldPath>,
}

fn read_managed(obj: &Value) -> Vec<ManagedEntry> {
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

fn write_managed(obj: &mut Value, entries: Vec<ManagedEntry>) {
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

fn sub_name(sub: Sub) -> Option<String> {
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
    pub fn new(defs: Vec<ResourceDef>, history_cap: usize) -> Self {
        let (notify, _) = tokio::sync::watch::channel(0);
        Store {
            defs,
            objects: BTreeMap::new(),
            rv: 0,
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            compacted_rv: 0,
            notify,
            validate_schemas: false,
            request_version: None,
        }
    }

    /// A copy of the mutable state, for dry-run writes.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            objects: self.objects.clone(),
            rv: self.rv,
            history: self.history.clone(),
            compacted_rv: self.compacted_rv,
        }
    }

    /// Drops every retained change (like an etcd compaction): watches from any earlier
    /// resourceVersion get 410 Gone.
    pub fn expire_history(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    /// Restores a [`Store::snapshot`] (discarding a dry-run write and its events).
    pub fn restore(&mut self, snap: Snapshot) {
        self.objects = snap.objects;
        self.rv = snap.rv;
        self.history = snap.history;
        self.compacted_rv = snap.compacted_rv;
    }

    /// The definition serving group/version/plural.
    pub fn def(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.plural == plural && d.serves(version))
    }

    /// The definition for an apiVersion + kind.
    pub fn def_for_kind(&self, api_version: &str, kind: &str) -> Option<(ResourceDef, String)> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.defs
            .iter()
            .find(|d| d.group == group && d.kind == kind && d.serves(version))
            .map(|d| (d.clone(), version.to_string()))
    }

    fn key(def: &ResourceDef, ns: &str, name: &str) -> Key {
        (
            def.group.clone(),
            def.plural.clone(),
            ns.to_string(),
            name.to_string(),
        )
    }

    fn emit(&mut self, etype: &'static str, def: &ResourceDef, obj: &Value, prev: Option<Value>) {
        let namespace = meta_str(obj, "namespace").unwrap_or_default().to_string();
        self.history.push_back(Change {
            rv: self.rv,
            etype,
            group: def.group.clone(),
            plural: def.plural.clone(),
            namespace,
            object: obj.clone(),
            prev,
        });
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        self.notify.send_replace(self.rv);
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn not_found(def: &ResourceDef, name: &str) -> ApiError {
        ApiError::not_found(&def.qualified(), &def.plural, name)
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.contains_key(&(
            String::new(),
            "namespaces".to_string(),
            String::new(),
            ns.to_string(),
        ))
    }

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
            m.insert("creationTimestamp".into(), json!(util::now_rfc3339()));
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
                time: util::now_rfc3339(),
                fields,
            };
            write_managed(&mut obj, vec![entry]);
        }
        self.objects.insert(key, obj.clone());
        self.emit("ADDED", def, &obj, None);
        Ok(obj)
    }

    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(def, ns, name))
            .cloned()
            .ok_or_else(|| Self::not_found(def, name))
    }

    /// Lists matching objects; returns items, the list resourceVersion and a continue token.
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<(Vec<Value>, u64, Option<String>), ApiError> {
        self.list_page(def, ns, labels, fields, limit, cont)
            .map(|p| (p.items, p.resource_version, p.continue_token))
    }

    /// Like [`Store::list`], also counting the matching items left after this page.
    pub fn list_page(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let after: Option<(String, String)> = match cont {
            Some(c) if !c.is_empty() => Some(decode_continue(c).ok_or_else(|| {
                ApiError::bad_request(format!("continue key is not valid: {c:?}"))
            })?),
            _ => None,
        };
        let mut items = Vec::new();
        let mut token = None;
        let mut remaining = 0u64;
        for ((g, p, ons, oname), obj) in &self.objects {
            if *g != def.group || *p != def.plural {
                continue;
            }
            if let Some(ns) = ns {
                if ons != ns {
                    continue;
                }
            }
            if let Some((ans, aname)) = &after {
                if (ons, oname) <= (ans, aname) {
                    continue;
                }
            }
            if !labels.matches_object(obj) || !fields.matches(obj) {
                continue;
            }
            if let Some(l) = limit {
                if l > 0 && items.len() == l {
                    if token.is_none() {
                        let last: &Value = &items[l - 1];
                        token = Some(encode_continue(
                            meta_str(last, "namespace").unwrap_or_default(),
                            meta_str(last, "name").unwrap_or_default(),
                        ));
                    }
                    remaining += 1;
                    continue;
                }
            }
            items.push(obj.clone());
        }
        Ok(ListPage {
            items,
            resource_version: self.rv,
            remaining: token.as_ref().map(|_| remaining),
            continue_token: token,
        })
    }

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

    /// With schema validation on and an HTTP request in flight: defaults `obj` and validates it
    /// (as the served version) against the embedded upstream Karpenter CRD; 422 on violations.
    fn check_schema(
        &self,
        def: &ResourceDef,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(version) = self.request_version.as_deref() else {
            return Ok(());
        };
        if !self.validate_schemas || !def.custom {
            return Ok(());
        }
        let api_version = def.api_version(version);
        let Ok(schema) = crd_schema::karpenter::schema(&api_version, &def.kind) else {
            return Ok(());
        };
        let stored_av = obj.get("apiVersion").cloned();
        obj["apiVersion"] = json!(api_version);
        obj["kind"] = json!(def.kind);
        schema.apply_defaults(obj);
        let result = match old {
            Some(o) => {
                let mut o = o.clone();
                o["apiVersion"] = json!(api_version);
                schema.validate_update(obj, &o)
            }
            None => schema.validate(obj),
        };
        if let Some(av) = stored_av {
            obj["apiVersion"] = av;
        }
        result.map_err(|violations| {
            let name = meta_str(obj, "name").unwrap_or_default().to_string();
            let causes = violations
                .into_iter()
                .map(|v| (v.path.clone(), v.message.clone()))
                .collect();
            ApiError::invalid(&def.kind, &name, causes)
        })
    }

    /// Moves ownership of changed fields to `manager` (operation Update) and forgets removed fields.
    fn track_update(
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
            let now = util::now_rfc3339();
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
        let now = util::now_rfc3339();
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
            m.insert("deletionTimestamp".into(), json!(util::now_rfc3339()));
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

    /// Evicts a pod, honouring PodDisruptionBudgets as the eviction subresource does.
    pub fn evict(&mut self, ns: &str, name: &str, opts: &DeleteOpts) -> Result<Value, ApiError> {
        let pod_def = self
            .defs
            .iter()
            .find(|d| d.group.is_empty() && d.plural == "pods")
            .cloned()
            .ok_or_else(|| ApiError::internal("pods are not served"))?;
        let pdb_def = self
            .defs
            .iter()
            .find(|d| d.group == "policy" && d.plural == "poddisruptionbudgets")
            .cloned()
            .ok_or_else(|| ApiError::internal("poddisruptionbudgets are not served"))?;
        let pod = self.get(&pod_def, ns, name)?;
        let phase = pod
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if pod.pointer("/metadata/deletionTimestamp").is_some()
            || matches!(phase, "Succeeded" | "Failed" | "Pending")
        {
            self.delete(&pod_def, ns, name, opts)?;
            return Ok(crate::status::success_status(201, None));
        }
        let pod_labels = labels_of(&pod);
        let pdbs: Vec<Value> = self
            .objects
            .iter()
            .filter(|((g, p, ons, _), _)| *g == pdb_def.group && *p == pdb_def.plural && ons == ns)
            .map(|(_, v)| v.clone())
            .filter(|pdb| {
                pdb.pointer("/spec/selector")
                    .is_some_and(|s| !s.is_null() && match_label_selector_object(s, &pod_labels))
            })
            .collect();
        if pdbs.len() > 1 {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        let Some(pdb) = pdbs.into_iter().next() else {
            self.delete(&pod_def, ns, name, opts)?;
            return Ok(crate::status::success_status(201, None));
        };
        let selector = pdb
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or(Value::Null);
        let matching: Vec<&Value> = self
            .objects
            .iter()
            .filter(|((g, p, ons, _), _)| g.is_empty() && *p == "pods" && ons == ns)
            .map(|(_, v)| v)
            .filter(|p| match_label_selector_object(&selector, &labels_of(p)))
            .collect();
        let expected = matching.len() as i64;
        let healthy = matching.iter().filter(|p| pod_is_healthy(p)).count() as i64;
        let desired = desired_healthy(&pdb, expected);
        let allowed = (healthy - desired).max(0);
        let pdb_name = meta_str(&pdb, "name").unwrap_or_default().to_string();
        let policy = pdb
            .pointer("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("IfHealthyBudget");
        let pod_healthy = pod_is_healthy(&pod);
        let permitted = if pod_healthy {
            allowed >= 1
        } else {
            policy == "AlwaysAllow" || healthy >= desired
        };
        if !permitted {
            return Err(ApiError::new(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            )
            .with_details(json!({
                "causes": [{
                    "reason": "DisruptionBudget",
                    "message": format!("The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently"),
                }]
            })));
        }
        // Record the eviction in the budget's status, then delete the pod.
        let mut new_pdb = pdb.clone();
        let remaining = if pod_healthy { allowed - 1 } else { allowed };
        let mut status = pdb.get("status").cloned().unwrap_or_else(|| json!({}));
        if !status.is_object() {
            status = json!({});
        }
        status["disruptionsAllowed"] = json!(remaining);
        status["currentHealthy"] = json!(healthy);
        status["desiredHealthy"] = json!(desired);
        status["expectedPods"] = json!(expected);
        status["observedGeneration"] = pdb
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        if pod_healthy {
            if !status.get("disruptedPods").is_some_and(Value::is_object) {
                status["disruptedPods"] = json!({});
            }
            status["disruptedPods"][name] = json!(util::now_rfc3339());
        }
        new_pdb["status"] = status;
        self.commit(&pdb_def, pdb, new_pdb, Sub::Status, Tracking::Precomputed)?;
        self.delete(&pod_def, ns, name, opts)?;
        Ok(crate::status::success_status(201, None))
    }

    /// Initial events and the starting RV for a watch.
    pub fn watch_start(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        rv: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Result<WatchStart, ApiError> {
        match rv {
            None | Some("") | Some("0") => {
                let (items, rv, _) = self.list(def, ns, labels, fields, None, None)?;
                Ok((items.into_iter().map(|o| ("ADDED", o)).collect(), rv))
            }
            Some(s) => {
                let n: u64 = s.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version {s:?}"))
                })?;
                if n < self.compacted_rv {
                    return Err(too_old(n, self.compacted_rv));
                }
                Ok((Vec::new(), n))
            }
        }
    }

    /// Changes after `after` for a watch, translated for selector transitions.
    pub fn changes_since(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        after: u64,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Result<Vec<(u64, &'static str, Value)>, ApiError> {
        if after < self.compacted_rv {
            return Err(too_old(after, self.compacted_rv));
        }
        let matches = |o: &Value| labels.matches_object(o) && fields.matches(o);
        let mut out = Vec::new();
        for c in self.history.iter().filter(|c| c.rv > after) {
            if c.group != def.group || c.plural != def.plural {
                continue;
            }
            if let Some(ns) = ns {
                if c.namespace != ns {
                    continue;
                }
            }
            let now = matches(&c.object);
            let before = c.prev.as_ref().is_some_and(&matches);
            let etype = match c.etype {
                "MODIFIED" => match (before, now) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => continue,
                },
                "DELETED" if before || now => "DELETED",
                "ADDED" if now => "ADDED",
                _ => continue,
            };
            out.push((c.rv, etype, c.object.clone()));
        }
        Ok(out)
    }
}

/// Pod spec updates may only change images, activeDeadlineSeconds, add tolerations and set
/// terminationGracePeriodSeconds (the real pod validation's rule).
fn check_pod_spec_update(old: &Value, new: &Value, name: &str) -> Result<(), ApiError> {
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

fn too_old(requested: u64, compacted: u64) -> ApiError {
    ApiError::gone(format!(
        "too old resource version: {requested} ({})",
        compacted + 1
    ))
}

fn pod_is_healthy(pod: &Value) -> bool {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return false;
    }
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Resolves an IntOrString budget against `expected` pods, rounding percentages up.
fn scaled(v: &Value, expected: i64) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => match s.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<i64>()
                .ok()
                .map(|pct| (pct * expected + 99) / 100),
            None => s.trim().parse().ok(),
        },
        _ => None,
    }
}

fn desired_healthy(pdb: &Value, expected: i64) -> i64 {
    if let Some(v) = pdb.pointer("/spec/maxUnavailable") {
        if let Some(n) = scaled(v, expected) {
            return (expected - n).max(0);
        }
    }
    if let Some(v) = pdb.pointer("/spec/minAvailable") {
        if let Some(n) = scaled(v, expected) {
            return n;
        }
    }
    // Neither set: behave as minAvailable 1 (the v1beta1 default).
    1
}

fn encode_continue(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(s: &str) -> Option<(String, String)> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (ns, name) = text.split_once('/')?;
    Some((ns.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue("default", "pod-1");
        assert_eq!(
            decode_continue(&t),
            Some(("default".into(), "pod-1".into()))
        );
        assert_eq!(decode_continue("zz"), None);
    }

    #[test]
    fn budget_scaling_rounds_up() {
        assert_eq!(scaled(&json!("50%"), 3), Some(2));
        assert_eq!(scaled(&json!(2), 10), Some(2));
        assert_eq!(
            desired_healthy(&json!({"spec": {"maxUnavailable": "34%"}}), 3),
            1
        );
        assert_eq!(
            desired_healthy(&json!({"spec": {"minAvailable": "100%"}}), 4),
            4
        );
    }
}

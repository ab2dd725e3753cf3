//! The object store: what etcd and the generic registry (`k8s.io/apiserver/pkg/registry/generic/registry/store.go`)
//! are to kube-apiserver. It holds the objects, the resourceVersion counter and the watch history, and implements
//! the write semantics (create/update/patch/apply/delete/evict) shared by the HTTP layer and the direct test API.
//!
//! One file per concern, each naming the API-server behaviour it mirrors:
//! - this file: the objects keyed by (group, resource, namespace, name), the cluster-wide resourceVersion counter
//!   (etcd's revision, `k8s.io/apiserver/pkg/storage/etcd3/store.go`), reads, and the snapshot/restore that
//!   dry-run writes use (`dryRun=All`: the write runs in full and is not persisted);
//! - [`create`]: Create and its `BeforeCreate` rules;
//! - [`update`]: Update and the commit every write ends in (optimistic concurrency, generation, no-ops);
//! - [`managed_fields`]: `metadata.managedFields` for Update operations;
//! - [`apply`]: server-side apply (ownership, conflicts, force);
//! - [`delete`]: Delete, preconditions, finalizers and graceful deletion, namespace contents;
//! - [`eviction`]: the pods/eviction subresource and its PodDisruptionBudget arithmetic;
//! - [`list`]: List with selectors, `limit` and `continue`;
//! - [`watch`]: the bounded event history, watch start and replay, 410 Gone;
//! - [`meta`]: ObjectMeta validation of labels and annotations;
//! - [`schema`]: CRD structural-schema defaulting and validation.

use crate::resources::ResourceDef;
use crate::status::ApiError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};

mod apply;
mod binding;
mod create;
mod delete;
mod eviction;
mod list;
mod managed_fields;
mod meta;
mod schema;
mod update;
mod watch;

pub(crate) use delete::DeleteOpts;
pub(crate) use managed_fields::Tracking;
use watch::Change;

/// Store key: (group, plural, namespace or "", name).
pub(crate) type Key = (String, String, String, String);

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
    /// The time source for timestamps (creation, deletion, managedFields, conditions).
    pub now: crate::Now,
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
            now: crate::Now::system(),
        }
    }

    /// The current time as an RFC 3339 timestamp, from [`Store::now`].
    pub(crate) fn now_rfc3339(&self) -> String {
        crate::util::format_rfc3339(self.now.unix_seconds())
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

    pub(super) fn key(def: &ResourceDef, ns: &str, name: &str) -> Key {
        (
            def.group.clone(),
            def.plural.clone(),
            ns.to_string(),
            name.to_string(),
        )
    }

    pub(super) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    pub(super) fn not_found(def: &ResourceDef, name: &str) -> ApiError {
        ApiError::not_found(&def.qualified(), &def.plural, name)
    }

    pub(super) fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.contains_key(&(
            String::new(),
            "namespaces".to_string(),
            String::new(),
            ns.to_string(),
        ))
    }

    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(def, ns, name))
            .cloned()
            .ok_or_else(|| Self::not_found(def, name))
    }
}

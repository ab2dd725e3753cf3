//! The event history watches replay: every write appends one event at its resourceVersion to a bounded history
//! (the watch cache, `k8s.io/apiserver/pkg/storage/cacher/watch_cache.go`); a watch from an older, compacted
//! resourceVersion gets 410 Gone ("too old resource version"); a watch from none or "0" starts with synthetic
//! ADDED events for the current objects; and events are translated for the watcher's selectors, so an object
//! that starts or stops matching is seen as ADDED or DELETED (`cacheWatcher.convertToWatchEvent` in
//! `k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go`).

use super::{meta_str, Store};
use crate::resources::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use serde_json::Value;

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

/// Initial synthetic events and the resourceVersion a watch starts after.
pub(crate) type WatchStart = (Vec<(&'static str, Value)>, u64);

impl Store {
    /// Drops every retained change (like an etcd compaction): watches from any earlier
    /// resourceVersion get 410 Gone.
    pub fn expire_history(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    pub(super) fn emit(
        &mut self,
        etype: &'static str,
        def: &ResourceDef,
        obj: &Value,
        prev: Option<Value>,
    ) {
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
        // the history is in resourceVersion order: start after `after` without scanning
        let start = self.history.partition_point(|c| c.rv <= after);
        for c in self.history.range(start..) {
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

pub(super) fn too_old(requested: u64, compacted: u64) -> ApiError {
    ApiError::gone(format!(
        "too old resource version: {requested} ({})",
        compacted + 1
    ))
}

//! A watch-fed cache of one kind: the shared informer a real kubelet or kube-scheduler reads
//! instead of listing the API server on every pass. [`Informer::generation`] counts the watch
//! events applied, so a loop can skip a pass when nothing it reads has changed.
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

/// Every object of a kind, listed from the API server (a pass that must not read a cache);
/// `what` names the kind in the error.
pub async fn list_all<K>(api: Api<K>, what: &str) -> crate::controllers::Result<Vec<Arc<K>>>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(|e| crate::controllers::Error::kube(format!("list {what}"), e))?
        .items
        .into_iter()
        .map(Arc::new)
        .collect())
}

/// One kind, cached from a watch (kube-rs's reflector).
pub struct Informer<K>
where
    K: Resource + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store: Store<K>,
    events: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    /// Start watching `api` (the task stops when the informer is dropped).
    pub fn spawn(api: Api<K>) -> Self {
        let (store, writer) = reflector::store();
        let events = Arc::new(AtomicU64::new(0));
        let counter = events.clone();
        let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
            .default_backoff();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                counter.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = event {
                    tracing::debug!(error = %e, "informer watch failed; it restarts");
                }
            }
        });
        Informer {
            store,
            events,
            task,
        }
    }

    /// Completes once the initial list is in the cache.
    pub async fn ready(&self) {
        let _ = self.store.wait_until_ready().await;
    }

    /// How many watch events were applied so far.
    pub fn generation(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Everything cached.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.store.state()
    }
}

impl<K> Drop for Informer<K>
where
    K: Resource + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    fn drop(&mut self) {
        self.task.abort();
    }
}

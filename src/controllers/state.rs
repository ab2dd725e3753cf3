//! Cluster state from informers (upstream `pkg/controllers/state/informer/*.go` feeding
//! `pkg/controllers/state/cluster.go`): one kube-rs watcher per kind applies every event to the
//! shared [`karpenter_state::Cluster`], and the cluster counts as **synced** once every
//! watcher's initial list is in (upstream's `Synced`: the cache holds what the API server
//! holds). Nothing decides before that.
//!
//! Only the model is kept, not the objects: a pod becomes a [`StatePod`] (the fields
//! scheduling and disruption read), so memory grows with what the model needs.
//! A re-list (after a watch expires) replaces the kind's contents: objects that were not
//! listed again are removed.
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::DaemonSet as ApiDaemonSet;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_api::sh::v1::{NodeClaim, NodePool};
use karpenter_scheduling::DaemonSet;
use karpenter_state::nodepool::unusable_reason;
use karpenter_state::translate::{labels_of, pod_from_spec};
use karpenter_state::{ClaimEntry, Cluster, NodeEntry, PodKey, PodRole, Source, StatePod};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The kinds the informers watch; the cluster is synced when each has listed once.
pub const KINDS: &[&str] = &[
    "Pod",
    "Node",
    "NodePool",
    "NodeClaim",
    "EC2NodeClass",
    "DaemonSet",
    "PodDisruptionBudget",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "StorageClass",
];

/// The shared cluster model, its synced gate, the provisioner's trigger and nominations.
#[derive(Debug)]
pub struct ClusterState {
    cluster: RwLock<Cluster>,
    synced: watch::Sender<BTreeSet<&'static str>>,
    trigger: mpsc::UnboundedSender<String>,
    nominations: Mutex<BTreeMap<String, Timestamp>>,
}

impl ClusterState {
    /// An empty state; provisionable pods are announced (by uid) on the returned receiver.
    pub fn new() -> (Arc<ClusterState>, mpsc::UnboundedReceiver<String>) {
        let (trigger, rx) = mpsc::unbounded_channel();
        let state = ClusterState {
            cluster: RwLock::new(Cluster::new(Source::Cluster)),
            synced: watch::channel(BTreeSet::new()).0,
            trigger,
            nominations: Mutex::new(BTreeMap::new()),
        };
        (Arc::new(state), rx)
    }

    /// Read the model. Never hold the guard across an `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, Cluster> {
        self.cluster.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the model (the provisioner pushes the NodeClaims it creates at once, as upstream).
    pub fn write(&self) -> RwLockWriteGuard<'_, Cluster> {
        self.cluster.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every informer has listed once.
    pub fn is_synced(&self) -> bool {
        self.synced.borrow().len() == KINDS.len()
    }

    /// Wait until [`ClusterState::is_synced`].
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        // the sender lives in self, so the channel cannot close while we wait
        let _ = rx.wait_for(|s| s.len() == KINDS.len()).await;
    }

    fn mark_synced(&self, kind: &'static str) {
        self.synced.send_if_modified(|s| s.insert(kind));
    }

    /// Announce a provisionable pod to the provisioner's batcher.
    pub fn trigger(&self, uid: &str) {
        // the receiver is gone only when the provisioner stopped; nothing to tell then
        let _ = self.trigger.send(uid.to_string());
    }

    /// Record that pods were planned onto `node` (a Node or NodeClaim name) until `until`
    /// (upstream `statenode.go: Nominate`); nominated nodes are not disruption candidates.
    pub fn nominate(&self, node: &str, until: Timestamp) {
        let mut n = self.nominations.lock().unwrap_or_else(|e| e.into_inner());
        let e = n.entry(node.to_string()).or_insert(until);
        if *e < until {
            *e = until;
        }
    }

    /// Whether `node` is nominated at `now`.
    pub fn is_nominated(&self, node: &str, now: Timestamp) -> bool {
        let n = self.nominations.lock().unwrap_or_else(|e| e.into_inner());
        n.get(node).is_some_and(|until| *until > now)
    }
}

/// Whether kube-scheduler has marked the pod unschedulable (`PodScheduled=False`, reason
/// `Unschedulable`): upstream provisions only for those.
pub fn marked_unschedulable(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
}

/// A pod as the live model keeps it: `StatePod`, with upstream's strict provisionable rule
/// (the kube-scheduler must have looked at it first).
pub fn live_pod(pod: &Pod) -> StatePod {
    let mut p = StatePod::new(pod);
    if p.role == PodRole::Pending && !marked_unschedulable(pod) {
        p.role = PodRole::Skip("the kube-scheduler has not marked it Unschedulable");
    }
    p
}

type Key = (String, String);

fn key_of<K: Resource>(o: &K) -> Key {
    (
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default(),
    )
}

/// How one kind's events change the model.
trait Informed: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static {
    const KIND: &'static str;
    fn apply(self, state: &ClusterState);
    fn remove(key: &Key, state: &ClusterState);
}

impl Informed for Pod {
    const KIND: &'static str = "Pod";
    fn apply(self, state: &ClusterState) {
        let phase = self.status.as_ref().and_then(|s| s.phase.as_deref());
        let p = live_pod(&self);
        if matches!(phase, Some("Succeeded" | "Failed")) {
            state.write().remove_pod(&p.key);
            return;
        }
        let pending = p.role == PodRole::Pending;
        let uid = p.uid.clone();
        state.write().upsert_pod(p);
        if pending {
            state.trigger(&uid);
        }
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().remove_pod(&PodKey {
            namespace: key.0.clone(),
            name: key.1.clone(),
        });
    }
}

impl Informed for Node {
    const KIND: &'static str = "Node";
    fn apply(self, state: &ClusterState) {
        match NodeEntry::new(&self) {
            Ok(n) => {
                let deleting = n.deleting;
                let name = n.name.clone();
                state.write().upsert_node(n);
                if deleting {
                    // upstream: a disrupted node triggers the batcher so its pods are re-planned
                    state.trigger(&format!("node/{name}"));
                }
            }
            Err(e) => tracing::warn!(node = %self.name_any(), error = %e, "ignoring node"),
        }
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().remove_node(&key.1);
    }
}

impl Informed for NodePool {
    const KIND: &'static str = "NodePool";
    fn apply(self, state: &ClusterState) {
        let name = self.name_any();
        let skip = unusable_reason(&self).map(|why| format!("NodePool {name:?} is skipped: {why}"));
        if let Err(e) = state.write().upsert_node_pool(self, skip) {
            tracing::warn!(nodepool = %name, error = %e, "ignoring nodepool");
            state.write().remove_node_pool(&name);
        }
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().remove_node_pool(&key.1);
    }
}

impl Informed for NodeClaim {
    const KIND: &'static str = "NodeClaim";
    fn apply(self, state: &ClusterState) {
        let name = self.name_any();
        match ClaimEntry::new(self) {
            Ok(c) => state.write().upsert_node_claim(c),
            Err(e) => tracing::warn!(nodeclaim = %name, error = %e, "ignoring nodeclaim"),
        }
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().remove_node_claim(&key.1);
    }
}

impl Informed for EC2NodeClass {
    const KIND: &'static str = "EC2NodeClass";
    fn apply(self, state: &ClusterState) {
        state.write().upsert_node_class(self);
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().remove_node_class(&key.1);
    }
}

impl Informed for ApiDaemonSet {
    const KIND: &'static str = "DaemonSet";
    fn apply(self, state: &ClusterState) {
        let (ns, name) = key_of(&self);
        let t = self.spec.map(|s| s.template).unwrap_or_default();
        let spec = t.spec.unwrap_or_default();
        match pod_from_spec(&ns, &name, labels_of(t.metadata.as_ref()), &spec, 0) {
            Ok(pod) => state
                .write()
                .upsert_daemon_set(&ns, DaemonSet { name, pod }),
            Err(e) => tracing::warn!(daemonset = %format!("{ns}/{name}"), error = %e,
                "ignoring daemonset"),
        }
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().remove_daemon_set(&key.0, &key.1);
    }
}

impl Informed for PodDisruptionBudget {
    const KIND: &'static str = "PodDisruptionBudget";
    fn apply(self, state: &ClusterState) {
        state.write().upsert_pdb(self);
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().remove_pdb(&key.0, &key.1);
    }
}

impl Informed for PersistentVolumeClaim {
    const KIND: &'static str = "PersistentVolumeClaim";
    fn apply(self, state: &ClusterState) {
        let k = key_of(&self);
        state.write().volumes.claims.insert(k, self);
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().volumes.claims.remove(key);
    }
}

impl Informed for PersistentVolume {
    const KIND: &'static str = "PersistentVolume";
    fn apply(self, state: &ClusterState) {
        let k = self.name_any();
        state.write().volumes.volumes.insert(k, self);
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().volumes.volumes.remove(&key.1);
    }
}

impl Informed for StorageClass {
    const KIND: &'static str = "StorageClass";
    fn apply(self, state: &ClusterState) {
        let k = self.name_any();
        state.write().volumes.storage_classes.insert(k, self);
    }
    fn remove(key: &Key, state: &ClusterState) {
        state.write().volumes.storage_classes.remove(&key.1);
    }
}

/// Start one watcher per kind in [`KINDS`], feeding `state`. The tasks run until aborted.
pub fn spawn_informers(client: &Client, state: &Arc<ClusterState>) -> Vec<JoinHandle<()>> {
    vec![
        spawn::<Pod>(Api::all(client.clone()), state),
        spawn::<Node>(Api::all(client.clone()), state),
        spawn::<NodePool>(Api::all(client.clone()), state),
        spawn::<NodeClaim>(Api::all(client.clone()), state),
        spawn::<EC2NodeClass>(Api::all(client.clone()), state),
        spawn::<ApiDaemonSet>(Api::all(client.clone()), state),
        spawn::<PodDisruptionBudget>(Api::all(client.clone()), state),
        spawn::<PersistentVolumeClaim>(Api::all(client.clone()), state),
        spawn::<PersistentVolume>(Api::all(client.clone()), state),
        spawn::<StorageClass>(Api::all(client.clone()), state),
    ]
}

fn spawn<K>(api: Api<K>, state: &Arc<ClusterState>) -> JoinHandle<()>
where
    K: Informed,
    K::DynamicType: Default,
{
    let state = state.clone();
    tokio::spawn(async move {
        let mut known: HashSet<Key> = HashSet::new();
        let mut listed: HashSet<Key> = HashSet::new();
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        loop {
            match events.try_next().await {
                Ok(Some(watcher::Event::Init)) => listed.clear(),
                Ok(Some(watcher::Event::InitApply(o))) => {
                    listed.insert(key_of(&o));
                    o.apply(&state);
                }
                Ok(Some(watcher::Event::InitDone)) => {
                    for gone in known.difference(&listed) {
                        K::remove(gone, &state);
                    }
                    known = std::mem::take(&mut listed);
                    state.mark_synced(K::KIND);
                    tracing::debug!(kind = K::KIND, objects = known.len(), "informer synced");
                }
                Ok(Some(watcher::Event::Apply(o))) => {
                    known.insert(key_of(&o));
                    o.apply(&state);
                }
                Ok(Some(watcher::Event::Delete(o))) => {
                    let k = key_of(&o);
                    known.remove(&k);
                    K::remove(&k, &state);
                }
                Ok(None) => return,
                // default_backoff retries; the error is worth a line
                Err(e) => tracing::warn!(kind = K::KIND, error = %e, "watch failed; retrying"),
            }
        }
    })
}

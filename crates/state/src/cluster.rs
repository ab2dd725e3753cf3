//! The store (upstream `pkg/controllers/state/cluster.go`): objects by key, kept in arrival
//! order so a problem built from them is deterministic. Upserting an object that is already
//! there replaces it in place.
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_api::sh::v1::NodePool as ApiNodePool;
use karpenter_scheduling::{DaemonSet, NodePool};

use crate::error::Result;
use crate::node::{ClaimEntry, NodeEntry, StateNode};
use crate::nodepool::scheduling_pool;
use crate::pod::{PodKey, StatePod};
use crate::volume::Volumes;
use crate::Source;

/// A map that iterates in first-insertion order.
#[derive(Debug, Clone)]
pub struct Ordered<K, V> {
    next: u64,
    items: BTreeMap<u64, V>,
    index: HashMap<K, u64>,
}

impl<K, V> Default for Ordered<K, V> {
    fn default() -> Self {
        Ordered {
            next: 0,
            items: BTreeMap::new(),
            index: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash, V> Ordered<K, V> {
    /// Insert or replace (keeping the first position).
    pub fn upsert(&mut self, key: K, value: V) {
        match self.index.get(&key) {
            Some(seq) => {
                self.items.insert(*seq, value);
            }
            None => {
                let seq = self.next;
                self.next += 1;
                self.index.insert(key, seq);
                self.items.insert(seq, value);
            }
        }
    }

    /// Remove; returns the value if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let seq = self.index.remove(key)?;
        self.items.remove(&seq)
    }

    /// Look up.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.index.get(key).and_then(|s| self.items.get(s))
    }

    /// Values in insertion order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.items.values()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A NodePool and the engine's view of it.
#[derive(Debug, Clone)]
pub struct PoolEntry {
    /// The v1 object.
    pub pool: ApiNodePool,
    /// The engine's view.
    pub scheduling: NodePool,
}

/// The cluster model.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Where the objects came from.
    pub source: Source,
    pub(crate) pods: Ordered<PodKey, StatePod>,
    pub(crate) nodes: Ordered<String, NodeEntry>,
    pub(crate) claims: Ordered<String, ClaimEntry>,
    pub(crate) node_pools: Ordered<String, PoolEntry>,
    pub(crate) node_classes: BTreeMap<String, EC2NodeClass>,
    pub(crate) daemon_sets: Ordered<(String, String), DaemonSet>,
    pub(crate) pdbs: BTreeMap<(String, String), PodDisruptionBudget>,
    /// Claims, volumes and storage classes.
    pub volumes: Volumes,
    /// NodePools provisioning skips, and why.
    pub(crate) skipped_pools: Ordered<String, String>,
}

impl Cluster {
    /// An empty cluster.
    pub fn new(source: Source) -> Self {
        Cluster {
            source,
            pods: Ordered::default(),
            nodes: Ordered::default(),
            claims: Ordered::default(),
            node_pools: Ordered::default(),
            node_classes: BTreeMap::new(),
            daemon_sets: Ordered::default(),
            pdbs: BTreeMap::new(),
            volumes: Volumes::default(),
            skipped_pools: Ordered::default(),
        }
    }

    /// Add or replace a pod.
    pub fn upsert_pod(&mut self, pod: StatePod) {
        self.pods.upsert(pod.key.clone(), pod);
    }

    /// Remove a pod.
    pub fn remove_pod(&mut self, key: &PodKey) -> Option<StatePod> {
        self.pods.remove(key)
    }

    /// A pod.
    pub fn pod(&self, key: &PodKey) -> Option<&StatePod> {
        self.pods.get(key)
    }

    /// Every pod, in arrival order.
    pub fn pods(&self) -> impl DoubleEndedIterator<Item = &StatePod> + '_ {
        self.pods.values()
    }

    /// Add or replace a Node.
    pub fn upsert_node(&mut self, node: NodeEntry) {
        self.nodes.upsert(node.name.clone(), node);
    }

    /// Remove a Node.
    pub fn remove_node(&mut self, name: &str) -> Option<NodeEntry> {
        self.nodes.remove(&name.to_string())
    }

    /// A Node.
    pub fn node(&self, name: &str) -> Option<&NodeEntry> {
        self.nodes.get(&name.to_string())
    }

    /// A NodeClaim.
    pub fn node_claim(&self, name: &str) -> Option<&ClaimEntry> {
        self.claims.get(&name.to_string())
    }

    /// Every NodeClaim, in arrival order.
    pub fn node_claims(&self) -> impl DoubleEndedIterator<Item = &ClaimEntry> + '_ {
        self.claims.values()
    }

    /// Add or replace a NodeClaim.
    pub fn upsert_node_claim(&mut self, claim: ClaimEntry) {
        self.claims.upsert(claim.name().to_string(), claim);
    }

    /// Remove a NodeClaim.
    pub fn remove_node_claim(&mut self, name: &str) -> Option<ClaimEntry> {
        self.claims.remove(&name.to_string())
    }

    /// Add or replace a NodePool. One provisioning would skip (see
    /// [`crate::nodepool::unusable_reason`]) is kept aside with its reason when `skip` is given.
    pub fn upsert_node_pool(&mut self, pool: ApiNodePool, skip: Option<String>) -> Result<()> {
        let name = pool.metadata.name.clone().unwrap_or_default();
        if let Some(why) = skip {
            self.node_pools.remove(&name);
            self.skipped_pools.upsert(name, why);
            return Ok(());
        }
        let scheduling = scheduling_pool(&pool)?;
        self.skipped_pools.remove(&name);
        self.node_pools.upsert(name, PoolEntry { pool, scheduling });
        Ok(())
    }

    /// Remove a NodePool.
    pub fn remove_node_pool(&mut self, name: &str) {
        self.node_pools.remove(&name.to_string());
        self.skipped_pools.remove(&name.to_string());
    }

    /// A NodePool.
    pub fn node_pool(&self, name: &str) -> Option<&PoolEntry> {
        self.node_pools.get(&name.to_string())
    }

    /// Every usable NodePool, in arrival order.
    pub fn node_pools(&self) -> impl Iterator<Item = &PoolEntry> + '_ {
        self.node_pools.values()
    }

    /// Add or replace an EC2NodeClass.
    pub fn upsert_node_class(&mut self, class: EC2NodeClass) {
        let name = class.metadata.name.clone().unwrap_or_default();
        self.node_classes.insert(name, class);
    }

    /// Remove an EC2NodeClass.
    pub fn remove_node_class(&mut self, name: &str) {
        self.node_classes.remove(name);
    }

    /// An EC2NodeClass.
    pub fn node_class(&self, name: &str) -> Option<&EC2NodeClass> {
        self.node_classes.get(name)
    }

    /// Add or replace a DaemonSet's pod template (its overhead on every node).
    pub fn upsert_daemon_set(&mut self, namespace: &str, ds: DaemonSet) {
        self.daemon_sets
            .upsert((namespace.to_string(), ds.name.clone()), ds);
    }

    /// Remove a DaemonSet.
    pub fn remove_daemon_set(&mut self, namespace: &str, name: &str) {
        self.daemon_sets
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Add or replace a PodDisruptionBudget.
    pub fn upsert_pdb(&mut self, pdb: PodDisruptionBudget) {
        let key = (
            pdb.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            pdb.metadata.name.clone().unwrap_or_default(),
        );
        self.pdbs.insert(key, pdb);
    }

    /// Remove a PodDisruptionBudget.
    pub fn remove_pdb(&mut self, namespace: &str, name: &str) {
        self.pdbs.remove(&(namespace.to_string(), name.to_string()));
    }

    /// Every PodDisruptionBudget.
    pub fn pdbs(&self) -> impl Iterator<Item = &PodDisruptionBudget> + '_ {
        self.pdbs.values()
    }

    /// Every Node joined to its NodeClaim, then every NodeClaim without a Node (in arrival
    /// order), as upstream's cluster state lists `StateNode`s.
    pub fn state_nodes(&self) -> Vec<StateNode<'_>> {
        let by_provider: HashMap<&str, &ClaimEntry> = self
            .claims
            .values()
            .filter_map(|c| c.provider_id().map(|p| (p, c)))
            .collect();
        let mut joined = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(self.nodes.len() + self.claims.len());
        for n in self.nodes.values() {
            let claim = n
                .provider_id
                .as_deref()
                .and_then(|p| by_provider.get(p).copied());
            if let Some(c) = claim {
                joined.insert(c.name());
            }
            out.push(StateNode {
                node: Some(n),
                claim,
            });
        }
        for c in self.claims.values() {
            if !joined.contains(c.name()) {
                out.push(StateNode {
                    node: None,
                    claim: Some(c),
                });
            }
        }
        out
    }

    /// Bound pods grouped by node name, each list in arrival order: one pass over the pods,
    /// for callers that visit every node.
    pub fn pods_by_node(&self) -> HashMap<&str, Vec<&StatePod>> {
        let mut out: HashMap<&str, Vec<&StatePod>> = HashMap::new();
        for p in self.pods.values() {
            if let Some(n) = p.node() {
                out.entry(n).or_default().push(p);
            }
        }
        out
    }

    /// The region the nodes' `topology.kubernetes.io/region` labels name, if they agree.
    pub fn region_hint(&self) -> Option<String> {
        let regions: std::collections::BTreeSet<&String> = self
            .nodes
            .values()
            .filter_map(|n| n.labels.get("topology.kubernetes.io/region"))
            .collect();
        match regions.len() {
            1 => regions.into_iter().next().cloned(),
            _ => None,
        }
    }
}

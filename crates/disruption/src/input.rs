//! The engine's input: the cluster as disruption sees it, with every per-object rule (pod
//! reschedulability, do-not-disrupt, PDBs, drift, the `Consolidatable` facts) already evaluated
//! at `now` by the caller (the adapter from `karpenter_state::Cluster`, or a test).
//!
//! Keeping this a plain value makes the engine independent of how the cluster model is fed:
//! `simulate --disrupt` (manifests), `run` (informers) and the tests build the same thing.
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use karpenter_scheduling::{DaemonSet, ExistingNode, InstanceType, NodePool, Pod};

use crate::drift::Drift;
use crate::timing::PoolSettings;

/// Feature gates and engine options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `SpotToSpotConsolidation` (off by default, as upstream).
    pub spot_to_spot_consolidation: bool,
    /// Upstream's order and limits, or this project's wider search.
    pub strategy: Strategy,
    /// Beyond upstream: a consolidation must save at least this much ($/h) — against churn.
    pub min_savings_per_hour: f64,
    /// Upper bound on waves (a safety net; the plan normally ends when nothing is left).
    pub max_waves: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            spot_to_spot_consolidation: false,
            strategy: Strategy::Default,
            min_savings_per_hour: 0.0,
            max_waves: 1000,
        }
    }
}

/// How the engine searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Upstream's controller loop: methods in order, the first that acts ends the pass (one
    /// wave per pass), multi-node binary search over at most 100 candidates, single-node in
    /// round-robin NodePool order, the scheduler's upstream packing.
    Karpenter,
    /// Every method acts in a wave as far as budgets allow; several consolidation commands per
    /// wave; many-to-many repacks; the scheduler's best packing.
    #[default]
    Default,
}

/// A pod bound to a node.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundPod {
    /// The pod as scheduling sees it (to place it elsewhere).
    pub pod: Pod,
    /// Upstream's `IsReschedulable`: evicting it makes it pending again (not a DaemonSet or
    /// static pod, not terminal or terminating).
    pub reschedulable: bool,
    /// `EvictionCost`.
    pub eviction_cost: f64,
    /// Why it blocks a graceful disruption of its node now, if it does (active
    /// `karpenter.sh/do-not-disrupt`, or a PDB allowing no eviction): the pod's
    /// `namespace/name` and a sentence.
    pub blocks: Option<PodBlock>,
    /// When the pod started (for the last pod event when the NodeClaim has none).
    pub start_time: Option<Timestamp>,
}

/// A pod that blocks a graceful disruption.
#[derive(Debug, Clone, PartialEq)]
pub enum PodBlock {
    /// `karpenter.sh/do-not-disrupt` is active: pod `namespace/name`.
    DoNotDisrupt(String),
    /// A PodDisruptionBudget allows no eviction: `(pod, pdb)` as `namespace/name`.
    Pdb(String, String),
}

/// One node (a Node joined to its NodeClaim, or an unmanaged Node).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInput {
    /// The node as scheduling sees it; `requested` and `pods` cover every bound pod.
    pub node: ExistingNode,
    /// `karpenter.sh/nodepool`, when the node is managed.
    pub node_pool: Option<String>,
    /// Has a NodeClaim (given or synthesized).
    pub managed: bool,
    /// Ready condition true.
    pub ready: bool,
    /// Marked for deletion (deletion timestamp, or disrupted taint / queued command).
    pub marked_for_deletion: bool,
    /// NodeClaim `InstanceTerminating=True`.
    pub instance_terminating: bool,
    /// Nominated for pending pods in the last 20 s.
    pub nominated: bool,
    /// `karpenter.sh/do-not-disrupt: "true"` on the Node (or on the NodeClaim before
    /// registration).
    pub do_not_disrupt: bool,
    /// NodeClaim creation time.
    pub created: Timestamp,
    /// When the NodeClaim became Initialized.
    pub initialized_at: Option<Timestamp>,
    /// `status.lastPodEventTime` (or the newest start time of the bound pods).
    pub last_pod_event: Option<Timestamp>,
    /// `Consolidatable=True` on the NodeClaim.
    pub consolidatable_condition: bool,
    /// NodeClaim `spec.expireAfter` (`None` = Never).
    pub expire_after: Option<SignedDuration>,
    /// NodeClaim `spec.terminationGracePeriod`.
    pub termination_grace_period: Option<SignedDuration>,
    /// Drift detected at `now`, if any.
    pub drift: Option<Drift>,
    /// Bound pods.
    pub pods: Vec<BoundPod>,
    /// $/h of the node (its type's offering for its zone and capacity type; 0 if unknown).
    pub price: f64,
}

impl NodeInput {
    /// Node name.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// Label value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.node.labels.get(key).map(String::as_str)
    }
}

/// Everything the engine needs.
#[derive(Debug, Clone, Default)]
pub struct DisruptionInput {
    /// The evaluation time.
    pub now: Timestamp,
    /// Disruption settings per NodePool.
    pub pools: Vec<PoolSettings>,
    /// The NodePools as scheduling sees them (same names).
    pub scheduling_pools: Vec<NodePool>,
    /// Instance types with offerings and prices.
    pub instance_types: Vec<InstanceType>,
    /// DaemonSets (overhead on new nodes).
    pub daemon_sets: Vec<DaemonSet>,
    /// Every node.
    pub nodes: Vec<NodeInput>,
    /// Pods pending now (provisioning will place them; consolidation must not take their room).
    pub pending_pods: Vec<Pod>,
}

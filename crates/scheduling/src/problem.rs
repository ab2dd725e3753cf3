//! The scheduling problem and its answer: what a caller hands [`crate::solve`] and what it gets
//! back. Upstream's inputs are the `Scheduler`'s arguments (`scheduler.go: NewScheduler`:
//! NodePools, instance types, state nodes, DaemonSets) and its output is `Results`
//! (`scheduler.go`: new NodeClaims, existing-node placements, pod errors); a planned NodeClaim
//! carries what `nodeclaimtemplate.go: ToNodeClaim` would put into the NodeClaim.
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::instancetype::InstanceType;
use crate::model::{DaemonSet, ExistingNode, NodePool, Pod};
use crate::resources::Resources;
use crate::solver::MAX_INSTANCE_TYPES;

/// Everything the scheduler needs.
#[derive(Debug, Clone, Default)]
pub struct Problem {
    /// Instance types (shared by every NodePool).
    pub instance_types: Vec<InstanceType>,
    /// NodePools.
    pub node_pools: Vec<NodePool>,
    /// DaemonSets (their pods are overhead on every node they land on).
    pub daemon_sets: Vec<DaemonSet>,
    /// Existing nodes and in-flight NodeClaims.
    pub existing_nodes: Vec<ExistingNode>,
    /// Pending pods.
    pub pods: Vec<Pod>,
}

/// Packing strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Upstream ordering and first-fit (emptiest in-flight claim first), for parity.
    Karpenter,
    /// Several packings including upstream's (pod orders, emptiest- or fullest-first claims,
    /// claims seeded with the LP's cost-efficient types); keeps the best by pending pods, then
    /// price, then node count, so it is never worse than `Karpenter` on pending pods or, at equal
    /// pending pods, on price.
    #[default]
    Default,
}

/// Solver options.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// Strategy.
    pub strategy: Strategy,
    /// How many instance types a NodeClaim keeps (upstream 600).
    pub max_instance_types: usize,
    /// `PREFERENCE_POLICY=Respect` (default true).
    pub respect_preferences: bool,
    /// Turn off every cache and pre-check (contiguous headroom arrays, plain-resource fit
    /// tables, per-NodePool maxima, scoring packings without building their plans) and take
    /// the straightforward path. The result is identical; only tests should set this.
    pub reference_path: bool,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            strategy: Strategy::Default,
            max_instance_types: MAX_INSTANCE_TYPES,
            respect_preferences: true,
            reference_path: false,
        }
    }
}

/// A NodeClaim the simulation would create.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimPlan {
    /// NodePool name.
    pub node_pool: String,
    /// Allowed instance types, cheapest first (truncated to `max_instance_types`); claims
    /// with the same list share it.
    pub instance_types: Arc<[String]>,
    /// The cheapest type.
    pub instance_type: String,
    /// Zone of the cheapest offering.
    pub zone: String,
    /// Capacity type of the cheapest offering.
    pub capacity_type: String,
    /// Price of the cheapest offering.
    pub price_per_hour: f64,
    /// Indices into `Problem::pods`.
    pub pods: Vec<usize>,
    /// Requests: pods plus the smallest DaemonSet overhead.
    pub requests: Resources,
    /// The NodeClaim's requirements, as text.
    pub requirements: String,
}

/// A pod left pending.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingPod {
    /// Index into `Problem::pods`.
    pub pod: usize,
    /// Why, in words a human can act on.
    pub reason: String,
}

/// The outcome of a solve.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Solution {
    /// New NodeClaims.
    pub node_claims: Vec<NodeClaimPlan>,
    /// Existing node name → indices of pods placed there.
    pub existing_nodes: BTreeMap<String, Vec<usize>>,
    /// Pods that could not be scheduled.
    pub pending: Vec<PendingPod>,
    /// Σ price of the new NodeClaims.
    pub price_per_hour: f64,
    /// LP lower bound on the price of new capacity for the pods placed on new NodeClaims.
    pub lower_bound_price_per_hour: f64,
}

impl Solution {
    /// Number of new NodeClaims.
    pub fn node_count(&self) -> usize {
        self.node_claims.len()
    }
}

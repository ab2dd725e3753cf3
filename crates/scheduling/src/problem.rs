//! The scheduling problem and its answer: what a caller hands [`crate::solve`] and what it gets
//! back. Upstream's inputs are the `Scheduler`'s arguments (`scheduler.go: NewScheduler`:
//! NodePools, instance types, state nodes, DaemonSets) and its output is `Results`
//! (`scheduler.go`: new NodeClaims, existing-node placements, pod errors); a planned NodeClaim
//! carries what `nodeclaimtemplate.go: ToNodeClaim` would put into the NodeClaim.
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::instancetype::InstanceType;
use crate::labels;
use crate::model::{DaemonSet, ExistingNode, NodePool, Pod};
use crate::requirements::{NodeSelectorRequirement, Operator, Requirements};
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
    /// The same requirements, structured: the NodePool's requirements and labels narrowed by
    /// the pods (upstream's NodeClaimTemplate requirements after scheduling), without the
    /// hostname placeholder, minValues kept. The instance-type key is as narrowed, not the
    /// launch list: [`NodeClaimPlan::spec_requirements`] gives the NodeClaim's
    /// `spec.requirements`. Claims with the same requirements share them. Not serialized
    /// (`requirements` is their text).
    #[serde(skip)]
    pub node_requirements: Arc<Requirements>,
}

impl NodeClaimPlan {
    /// The NodeClaim's `spec.requirements` (upstream `nodeclaimtemplate.go: ToNodeClaim`):
    /// [`NodeClaimPlan::node_requirements`] as terms in key order, with
    /// `node.kubernetes.io/instance-type In` the launch list (`instance_types`, cheapest
    /// first), carrying the instance-type requirement's minValues.
    pub fn spec_requirements(&self) -> Vec<NodeSelectorRequirement> {
        let mut reqs = (*self.node_requirements).clone();
        let min_values = reqs
            .remove(labels::INSTANCE_TYPE)
            .and_then(|r| r.min_values);
        let mut terms = reqs.to_terms();
        let at = terms.partition_point(|t| t.key.as_str() < labels::INSTANCE_TYPE);
        terms.insert(
            at,
            NodeSelectorRequirement {
                key: labels::INSTANCE_TYPE.to_string(),
                operator: Operator::In,
                values: self.instance_types.to_vec(),
                min_values,
            },
        );
        terms
    }

    /// The labels the NodeClaim carries when it is created (upstream `nodeclaimtemplate.go`:
    /// the template's labels and `resolveCustomLabelsFromRequirements`): `karpenter.sh/nodepool`
    /// and every single-valued `In` requirement on a key that is neither well-known (the node
    /// gets those from its instance type and offering) nor restricted (`kubernetes.io/hostname`,
    /// the `karpenter.sh` domain). The NodePool's own labels are such requirements. Unlike
    /// upstream, a custom key that still allows several values gets no label (upstream picks
    /// one at random). The NodeClass label (`karpenter.k8s.aws/ec2nodeclass`) is not known
    /// here: a caller building the NodeClaim adds it from the NodePool.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::from([(labels::NODEPOOL.to_string(), self.node_pool.clone())]);
        for (k, r) in self.node_requirements.iter() {
            if labels::is_well_known(k) || labels::is_restricted_for_pods(k) {
                continue;
            }
            if let Some(v) = r.single() {
                out.insert(k.clone(), v.to_string());
            }
        }
        out
    }
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

//! The engine's output: an ordered plan of disruption commands, the nodes left alone and why,
//! and the $/h before and after. Serializes (camelCase) to `simulate --disrupt -o json`'s
//! contract: `commands[]` (`reason`, `wave`, `candidates`, `replacements[]` (`instanceType`,
//! `instanceTypes`, `zone`, `capacityType`, `pricePerHour`), `savingsPerHour`, `explanation`),
//! `unchosen[]` (`node`, `reason`), `pricePerHourBefore`, `pricePerHourAfter`. Fields a
//! controller needs beyond the contract (NodePool, requirements, the method) are kept but not
//! serialized.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/controllers/disruption/types.go` (`Command`,
//! `Replacement`, `Decision`, `EstimatedSavings`).
use std::fmt;

use karpenter_scheduling::resources::Resources;
use karpenter_scheduling::Requirements;
use serde::Serialize;

use crate::budget::DisruptionReason;

/// Why a command disrupts its nodes (upstream's words; `Expired` for forceful expiration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Reason {
    /// `expireAfter` reached (forceful: no budget, PDB or do-not-disrupt check).
    Expired,
    /// No pod needs rescheduling.
    Empty,
    /// The node no longer matches its NodePool or EC2NodeClass.
    Drifted,
    /// The pods fit elsewhere, more cheaply.
    Underutilized,
}

impl Reason {
    /// The budget reason, if budgets apply.
    pub fn budget_reason(self) -> Option<DisruptionReason> {
        match self {
            Reason::Expired => None,
            Reason::Empty => Some(DisruptionReason::Empty),
            Reason::Drifted => Some(DisruptionReason::Drifted),
            Reason::Underutilized => Some(DisruptionReason::Underutilized),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Expired => "Expired",
            Reason::Empty => "Empty",
            Reason::Drifted => "Drifted",
            Reason::Underutilized => "Underutilized",
        })
    }
}

/// Which method produced a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// NodeClaim expiration.
    Expiration,
    /// `emptiness.go`.
    Emptiness,
    /// `drift.go`.
    Drift,
    /// `multinodeconsolidation.go`.
    MultiNodeConsolidation,
    /// `singlenodeconsolidation.go`.
    SingleNodeConsolidation,
    /// Beyond upstream: N nodes repacked onto M < N cheaper nodes.
    Repack,
}

/// A node a command launches.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    /// The cheapest type of the launch list.
    pub instance_type: String,
    /// The launch list, cheapest first (15 for spot-to-spot).
    pub instance_types: Vec<String>,
    /// Zone of the cheapest offering.
    pub zone: String,
    /// Capacity type of the cheapest offering.
    pub capacity_type: String,
    /// Price of the cheapest offering.
    pub price_per_hour: f64,
    /// The NodePool the NodeClaim belongs to.
    #[serde(skip)]
    pub node_pool: String,
    /// The name the plan gives the new node (`<nodepool>-replacement-<n>`), so that a later
    /// command may name it as a candidate.
    #[serde(skip)]
    pub name: String,
    /// The NodeClaim's requirements (capacity type pinned as the price rules require).
    #[serde(skip)]
    pub requirements: Option<Requirements>,
    /// What the NodeClaim requests (its pods plus DaemonSet overhead), as `run` creates it.
    #[serde(skip)]
    pub requests: Resources,
}

/// One disruption command.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// Why.
    pub reason: Reason,
    /// Commands of one wave run together; a later wave starts after the earlier ones finished.
    pub wave: u32,
    /// Node names disrupted.
    pub candidates: Vec<String>,
    /// Nodes launched first (empty for a delete).
    pub replacements: Vec<Replacement>,
    /// Σ candidate prices − Σ replacement prices.
    pub savings_per_hour: f64,
    /// What happens and why, for a person.
    pub explanation: String,
    /// The method that produced it.
    #[serde(skip)]
    pub method: Method,
    /// The candidates' NodePools (for budget accounting), parallel to `candidates`.
    #[serde(skip)]
    pub node_pools: Vec<String>,
    /// Where the simulation puts each displaced pod: `(namespace/name, node)`, the node being
    /// an existing one or a replacement's [`Replacement::name`] (what `run` nominates).
    #[serde(skip)]
    pub placements: Vec<(String, String)>,
}

impl Command {
    /// `delete` or `replace`.
    pub fn decision(&self) -> &'static str {
        if self.replacements.is_empty() {
            "delete"
        } else {
            "replace"
        }
    }
}

/// Why a node was left alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unchosen {
    /// Node name.
    pub node: String,
    /// What blocks it, for a person.
    pub reason: String,
    /// The same, for a program.
    #[serde(skip)]
    pub blocker: Blocker,
}

/// What keeps a node from being disrupted.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocker {
    /// Not owned by a NodePool (no `karpenter.sh/nodepool` label or no NodeClaim).
    NotManaged,
    /// The NodePool is not in the input.
    NodePoolNotFound,
    /// Not initialized yet.
    NotInitialized,
    /// Already deleting or being disrupted.
    Deleting,
    /// Nominated for pending pods by provisioning.
    Nominated,
    /// `karpenter.sh/do-not-disrupt` on the Node (or the NodeClaim before registration).
    DoNotDisruptNode,
    /// A pod with active `karpenter.sh/do-not-disrupt`.
    DoNotDisruptPod(String),
    /// A PodDisruptionBudget allows no eviction (or a pod has several PDBs).
    Pdb(String),
    /// The budget for the reason is used up.
    Budget(DisruptionReason),
    /// `consolidateAfter` has not elapsed.
    ConsolidateAfter,
    /// `consolidateAfter: Never`.
    ConsolidationDisabled,
    /// `consolidationPolicy: WhenEmpty` and the node is not empty.
    WhenEmptyPolicy,
    /// A static NodePool.
    StaticNodePool,
    /// Pricing labels or the instance type are missing.
    Unpriceable,
    /// Its pods do not fit elsewhere.
    PodsDoNotFit,
    /// No cheaper placement exists.
    NoCheaperPlacement,
    /// Nothing to do: the node is needed as it is.
    Needed,
}

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Commands in order.
    pub commands: Vec<Command>,
    /// Nodes not disrupted, with why.
    pub unchosen: Vec<Unchosen>,
    /// Σ price of every node in the input.
    pub price_per_hour_before: f64,
    /// Σ price of every node after the plan.
    pub price_per_hour_after: f64,
}

/// `$0.096/h`.
pub fn money(p: f64) -> String {
    format!("${p:.4}/h")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_simulate_contract() {
        let plan = Plan {
            commands: vec![Command {
                reason: Reason::Underutilized,
                wave: 1,
                candidates: vec!["n1".into(), "n2".into()],
                replacements: vec![Replacement {
                    instance_type: "m5.large".into(),
                    instance_types: vec!["m5.large".into(), "m6i.large".into()],
                    zone: "us-east-1a".into(),
                    capacity_type: "on-demand".into(),
                    price_per_hour: 0.096,
                    node_pool: "default".into(),
                    name: "default-replacement-1".into(),
                    requirements: None,
                    requests: Resources::default(),
                }],
                savings_per_hour: 0.288,
                explanation: "why".into(),
                method: Method::MultiNodeConsolidation,
                node_pools: vec!["default".into(), "default".into()],
                placements: Vec::new(),
            }],
            unchosen: vec![Unchosen {
                node: "n3".into(),
                reason: "a PDB".into(),
                blocker: Blocker::Pdb("web".into()),
            }],
            price_per_hour_before: 1.0,
            price_per_hour_after: 0.712,
        };
        let v = serde_json::to_value(&plan).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "commands": [{
                    "reason": "Underutilized",
                    "wave": 1,
                    "candidates": ["n1", "n2"],
                    "replacements": [{
                        "instanceType": "m5.large",
                        "instanceTypes": ["m5.large", "m6i.large"],
                        "zone": "us-east-1a",
                        "capacityType": "on-demand",
                        "pricePerHour": 0.096
                    }],
                    "savingsPerHour": 0.288,
                    "explanation": "why"
                }],
                "unchosen": [{"node": "n3", "reason": "a PDB"}],
                "pricePerHourBefore": 1.0,
                "pricePerHourAfter": 0.712
            })
        );
        assert_eq!(plan.commands[0].decision(), "replace");
        assert_eq!(Reason::Expired.budget_reason(), None);
        assert_eq!(Reason::Empty.budget_reason(), Some(DisruptionReason::Empty));
    }
}

//! Nodes and NodeClaims, and the join upstream's cluster state makes of them
//! (`pkg/controllers/state/statenode.go`: a `StateNode` is a Node, its NodeClaim, or both,
//! joined by provider id).
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::sh::v1::NodeClaim;
use karpenter_scheduling::model::{ExistingNode, Taint, TaintEffect};
use karpenter_scheduling::resources::Resources;

use crate::error::{Context, Result};
use crate::translate::{effect, quantities, taints};

/// Karpenter v1's taint on nodes it is disrupting.
pub use karpenter_api::labels::DISRUPTED_TAINT_KEY as DISRUPTED_TAINT;
/// Karpenter v1beta1's taint (value `disrupting`) on nodes it is disrupting.
pub use karpenter_api::labels::DISRUPTION_TAINT_KEY_V1BETA1 as DISRUPTING_TAINT_V1BETA1;
/// The label a NodePool stamps on its nodes.
pub use karpenter_api::labels::NODEPOOL as NODE_POOL_LABEL;
/// The label Karpenter sets once a node is initialized.
pub use karpenter_api::labels::NODE_INITIALIZED as INITIALIZED_LABEL;
/// The taint the node controller puts on cordoned nodes.
pub use karpenter_api::labels::UNSCHEDULABLE_TAINT_KEY as UNSCHEDULABLE_TAINT;

/// A Node as the model keeps it.
#[derive(Debug, Clone)]
pub struct NodeEntry {
    /// Name.
    pub name: String,
    /// `spec.providerID`.
    pub provider_id: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Taints, with `node.kubernetes.io/unschedulable` added for a cordoned node.
    pub taints: Vec<Taint>,
    /// `status.capacity`.
    pub capacity: Resources,
    /// `status.allocatable` (the capacity when unset).
    pub allocatable: Resources,
    /// Being deleted, or tainted as disrupted by Karpenter: takes no new pods, and its pods
    /// are re-planned.
    pub deleting: bool,
    /// `spec.unschedulable`.
    pub cordoned: bool,
    /// `metadata.creationTimestamp`.
    pub created: Option<Timestamp>,
}

impl NodeEntry {
    /// Build from a Node object.
    pub fn new(node: &core::Node) -> Result<NodeEntry> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let spec = node.spec.clone().unwrap_or_default();
        let cordoned = spec.unschedulable.unwrap_or(false);
        let default_status = core::NodeStatus::default();
        let status = node.status.as_ref().unwrap_or(&default_status);
        let capacity = quantities(status.capacity.as_ref(), "status.capacity")?;
        let allocatable = match &status.allocatable {
            Some(a) => quantities(Some(a), "status.allocatable")?,
            None => capacity.clone(),
        };
        let mut taints_out = Vec::new();
        for (i, t) in spec.taints.iter().flatten().enumerate() {
            taints_out.push(Taint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: effect(Some(&t.effect))
                    .with_context(|| format!("spec.taints[{i}].effect"))?
                    .unwrap_or(TaintEffect::NoSchedule),
            });
        }
        let disrupted = spec.taints.iter().flatten().any(|t| {
            t.key == DISRUPTED_TAINT
                || (t.key == DISRUPTING_TAINT_V1BETA1 && t.value.as_deref() == Some("disrupting"))
        });
        if cordoned && !taints_out.iter().any(|t| t.key == UNSCHEDULABLE_TAINT) {
            taints_out.push(Taint {
                key: UNSCHEDULABLE_TAINT.to_string(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            });
        }
        Ok(NodeEntry {
            provider_id: spec.provider_id.clone().filter(|p| !p.is_empty()),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            annotations: node.metadata.annotations.clone().unwrap_or_default(),
            taints: taints_out,
            capacity,
            allocatable,
            deleting: node.metadata.deletion_timestamp.is_some() || disrupted,
            cordoned,
            created: node.metadata.creation_timestamp.as_ref().map(|t| t.0),
            name,
        })
    }

    /// The NodePool that owns it (`karpenter.sh/nodepool`).
    pub fn node_pool(&self) -> Option<&str> {
        self.labels.get(NODE_POOL_LABEL).map(String::as_str)
    }

    /// The engine's view: capacity for new pods (nothing bound yet).
    pub fn existing(&self) -> ExistingNode {
        ExistingNode {
            name: self.name.clone(),
            labels: self.labels.clone(),
            taints: self.taints.clone(),
            capacity: self.capacity.clone(),
            allocatable: self.allocatable.clone(),
            requested: Resources::default(),
            pods: Vec::new(),
            host_ports: Vec::new(),
            initialized: true,
        }
    }
}

/// A NodeClaim as the model keeps it: the object (v1) and what scheduling derives from it.
#[derive(Debug, Clone)]
pub struct ClaimEntry {
    /// The NodeClaim (v1beta1 ones are converted on the way in).
    pub claim: NodeClaim,
    /// Its labels plus each single-valued `In` requirement (what its Node will carry).
    pub labels: BTreeMap<String, String>,
    /// `spec.taints`.
    pub taints: Vec<Taint>,
    /// `status.capacity`.
    pub capacity: Resources,
    /// `status.allocatable` (the capacity when unset).
    pub allocatable: Resources,
}

impl ClaimEntry {
    /// Build from a v1 NodeClaim.
    pub fn new(claim: NodeClaim) -> Result<ClaimEntry> {
        let mut labels = claim.metadata.labels.clone().unwrap_or_default();
        for r in &claim.spec.requirements {
            if let (Some([v]), "In") = (r.values.as_deref(), r.operator.as_str()) {
                labels.entry(r.key.clone()).or_insert_with(|| v.clone());
            }
        }
        let status = claim.status.clone().unwrap_or_default();
        let capacity = quantities(status.capacity.as_ref(), "status.capacity")?;
        let allocatable = match &status.allocatable {
            Some(a) => quantities(Some(a), "status.allocatable")?,
            None => capacity.clone(),
        };
        Ok(ClaimEntry {
            taints: taints(claim.spec.taints.as_ref(), "spec.taints")?,
            labels,
            capacity,
            allocatable,
            claim,
        })
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.claim.metadata.name.as_deref().unwrap_or("")
    }

    /// `status.providerID`, once launched.
    pub fn provider_id(&self) -> Option<&str> {
        self.claim
            .status
            .as_ref()
            .and_then(|s| s.provider_id.as_deref())
            .filter(|p| !p.is_empty())
    }

    /// `status.nodeName`, once registered.
    pub fn node_name(&self) -> Option<&str> {
        self.claim
            .status
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|p| !p.is_empty())
    }

    /// `metadata.deletionTimestamp` is set.
    pub fn deleting(&self) -> bool {
        self.claim.metadata.deletion_timestamp.is_some()
    }

    /// The NodePool that owns it (`karpenter.sh/nodepool`).
    pub fn node_pool(&self) -> Option<&str> {
        self.labels.get(NODE_POOL_LABEL).map(String::as_str)
    }

    /// The engine's view of a launched claim whose Node has not registered: in-flight
    /// capacity, not initialized.
    pub fn in_flight(&self) -> ExistingNode {
        ExistingNode {
            name: self.name().to_string(),
            labels: self.labels.clone(),
            taints: self.taints.clone(),
            capacity: self.capacity.clone(),
            allocatable: self.allocatable.clone(),
            requested: Resources::default(),
            pods: Vec::new(),
            host_ports: Vec::new(),
            initialized: false,
        }
    }
}

/// A Node, its NodeClaim, or both (joined by provider id), as upstream's `StateNode`.
#[derive(Debug, Clone, Copy)]
pub struct StateNode<'a> {
    /// The Node, once registered.
    pub node: Option<&'a NodeEntry>,
    /// The NodeClaim, when Karpenter manages the node.
    pub claim: Option<&'a ClaimEntry>,
}

impl<'a> StateNode<'a> {
    /// The Node's name, else the NodeClaim's.
    pub fn name(&self) -> &'a str {
        match (self.node, self.claim) {
            (Some(n), _) => &n.name,
            (None, Some(c)) => c.name(),
            (None, None) => "",
        }
    }

    /// Labels: the Node's once registered, else the NodeClaim's.
    pub fn labels(&self) -> &'a BTreeMap<String, String> {
        match (self.node, self.claim) {
            (Some(n), _) => &n.labels,
            (None, Some(c)) => &c.labels,
            (None, None) => empty(),
        }
    }

    /// The owning NodePool.
    pub fn node_pool(&self) -> Option<&'a str> {
        self.labels().get(NODE_POOL_LABEL).map(String::as_str)
    }

    /// Being deleted (the Node or the NodeClaim), or tainted as disrupted.
    pub fn deleting(&self) -> bool {
        self.node.is_some_and(|n| n.deleting) || self.claim.is_some_and(|c| c.deleting())
    }

    /// Managed by Karpenter and initialized (`karpenter.sh/initialized=true` on the Node).
    pub fn initialized(&self) -> bool {
        self.node
            .is_some_and(|n| n.labels.get(INITIALIZED_LABEL).map(String::as_str) == Some("true"))
    }
}

fn empty() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

//! Karpenter's provisioning semantics as a pure, synchronous Rust core.
//!
//! Given pending pods, existing nodes, NodePools, DaemonSets and instance types, [`solve`]
//! decides which pods go onto existing nodes and which new NodeClaims to create, following
//! upstream's scheduler (`kubernetes-sigs/karpenter` `pkg/controllers/provisioning/scheduling`).
//! No Kubernetes client or AWS types appear here.
pub mod catalog;
pub mod instancetype;
pub mod labels;
pub mod lp;
pub mod model;
pub mod problem;
pub mod requirements;
pub mod resources;
pub mod solver;
pub mod synthetic;
pub mod topology;

pub use catalog::Catalog;
pub use instancetype::{InstanceType, Offering, OverheadOptions};
pub use model::{DaemonSet, ExistingNode, NodePool, Pod};
pub use problem::{NodeClaimPlan, PendingPod, Problem, Solution, SolveOptions, Strategy};
pub use requirements::{NodeSelectorRequirement, Operator, Requirement, Requirements};
pub use resources::Resources;
pub use solver::solve;

/// Errors from the scheduling core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A quantity string could not be parsed.
    #[error("cannot parse quantity {0:?} (expected e.g. 500m, 1.5, 512Mi, 2Gi)")]
    Quantity(String),
    /// A requirement term is invalid.
    #[error("invalid requirement: {0}")]
    Requirement(String),
    /// The instance-type catalog is unusable.
    #[error("instance-type catalog: {0}")]
    Catalog(String),
    /// Invalid solver input (names the object).
    #[error("{0}")]
    Input(String),
}

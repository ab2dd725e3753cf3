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
    /// A resource quantity is negative.
    #[error("quantity {0:?} is negative: requests, limits and capacities must be zero or more")]
    NegativeQuantity(String),
    /// A resource quantity is too large for the engine (beyond `i64` millicores or bytes).
    #[error(
        "quantity {0:?} is out of range: at most 9223372036854775807m cpu or 8Ei - 1 bytes; \
         use a realistic amount"
    )]
    QuantityOutOfRange(String),
    /// An error in one named field (e.g. the resource name of a quantity).
    #[error("{field}: {source}")]
    Field {
        /// The field, e.g. `memory` or `spec.containers[0].resources.requests.memory`.
        field: String,
        /// What is wrong with it.
        source: Box<Error>,
    },
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

//! `scale-to-zero`: take Karpenter pools to zero capacity and restore them exactly.
//!
//! The pure parts (the saved-limits record, the disruption checks, the plan and the schedule
//! manifests) live in their own modules with unit tests, label selectors in
//! [`karpenter_api::selector`]; [`cluster`] is the
//! thin Kubernetes I/O layer that reads the pools, writes them with optimistic concurrency
//! and deletes NodeClaims, Machines or Nodes.
pub mod cluster;
pub mod disruption;
pub mod plan;
pub mod record;
pub mod schedule;
pub use karpenter_api::selector;

pub use record::{SavedState, SAVED_STATE_ANNOTATION};

use serde::Serialize;

/// The Karpenter API version a pool is served at, which fixes its kind and capacity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PoolVersion {
    /// `karpenter.sh/v1` NodePool; capacity is NodeClaims.
    #[serde(rename = "karpenter.sh/v1")]
    V1,
    /// `karpenter.sh/v1beta1` NodePool; capacity is NodeClaims.
    #[serde(rename = "karpenter.sh/v1beta1")]
    V1beta1,
    /// `karpenter.sh/v1alpha5` Provisioner; capacity is Machines, or Nodes without a Machine.
    #[serde(rename = "karpenter.sh/v1alpha5")]
    V1alpha5,
}

/// The Karpenter API group.
pub const GROUP: &str = "karpenter.sh";

impl PoolVersion {
    /// All versions, in the order they are looked up.
    pub const ALL: [PoolVersion; 3] =
        [PoolVersion::V1, PoolVersion::V1beta1, PoolVersion::V1alpha5];

    /// The version string, e.g. `v1beta1`.
    pub fn version(self) -> &'static str {
        match self {
            PoolVersion::V1 => "v1",
            PoolVersion::V1beta1 => "v1beta1",
            PoolVersion::V1alpha5 => "v1alpha5",
        }
    }

    /// `karpenter.sh/<version>`.
    pub fn api_version(self) -> &'static str {
        match self {
            PoolVersion::V1 => "karpenter.sh/v1",
            PoolVersion::V1beta1 => "karpenter.sh/v1beta1",
            PoolVersion::V1alpha5 => "karpenter.sh/v1alpha5",
        }
    }

    /// `NodePool` or `Provisioner`.
    pub fn pool_kind(self) -> &'static str {
        match self {
            PoolVersion::V1 | PoolVersion::V1beta1 => "NodePool",
            PoolVersion::V1alpha5 => "Provisioner",
        }
    }

    /// The pool's plural resource name.
    pub fn pool_resource(self) -> &'static str {
        match self {
            PoolVersion::V1 | PoolVersion::V1beta1 => "nodepools",
            PoolVersion::V1alpha5 => "provisioners",
        }
    }

    /// `NodeClaim` or `Machine`.
    pub fn claim_kind(self) -> &'static str {
        match self {
            PoolVersion::V1 | PoolVersion::V1beta1 => "NodeClaim",
            PoolVersion::V1alpha5 => "Machine",
        }
    }

    /// The capacity object's plural resource name.
    pub fn claim_resource(self) -> &'static str {
        match self {
            PoolVersion::V1 | PoolVersion::V1beta1 => "nodeclaims",
            PoolVersion::V1alpha5 => "machines",
        }
    }

    /// The label that ties a NodeClaim, Machine or Node to its pool.
    pub fn pool_label(self) -> &'static str {
        match self {
            PoolVersion::V1 | PoolVersion::V1beta1 => karpenter_api::labels::NODEPOOL,
            PoolVersion::V1alpha5 => karpenter_api::labels::PROVISIONER_NAME,
        }
    }

    /// Whether the pool kind has `spec.replicas` (static NodePools, v1 only).
    pub fn supports_replicas(self) -> bool {
        self == PoolVersion::V1
    }
}

impl std::fmt::Display for PoolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.api_version())
    }
}

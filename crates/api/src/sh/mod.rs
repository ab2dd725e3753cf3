//! `karpenter.sh` API group: NodePool, NodeClaim and the alpha Provisioner/Machine.

pub mod v1;
pub mod v1alpha5;
pub mod v1beta1;

/// The `karpenter.sh` API group.
pub const GROUP: &str = "karpenter.sh";

//! `karpenter.k8s.aws` API group: EC2NodeClass and the alpha AWSNodeTemplate.

pub mod v1;
pub mod v1alpha1;
pub mod v1beta1;

/// The `karpenter.k8s.aws` API group.
pub const GROUP: &str = "karpenter.k8s.aws";

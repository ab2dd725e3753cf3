//! Karpenter's cluster state as a pure, synchronous model (upstream: `pkg/controllers/state`).
//!
//! Typed Kubernetes objects go in (k8s-openapi types and `karpenter-api`'s CRD types; v1beta1
//! NodePools, NodeClaims and EC2NodeClasses are brought to v1 through `karpenter-convert`), one
//! at a time, as an informer or a manifest reader delivers them. Out come the questions every
//! consumer asks: which pods are provisionable, which nodes exist (a Node joined to its
//! NodeClaim by provider id), what runs where, and the scheduling problem those pose — for the
//! pending pods, or for "the pods of these candidate nodes, with those nodes gone" (what
//! consolidation simulates).
//!
//! No I/O, no async, no printing: notes and warnings are returned as values.
//!
//! | module | what |
//! |---|---|
//! | [`cluster`] | the store: upserts and removals by object, in arrival order |
//! | [`node`] | Nodes, NodeClaims and their join ([`StateNode`]) |
//! | [`pod`] | pod rules: provisionable, bound, reschedulable, evictable, do-not-disrupt (incl. the duration form) |
//! | [`pdb`] | PodDisruptionBudget arithmetic: coverage, allowed disruptions, refused evictions |
//! | [`nodepool`] | a NodePool as provisioning sees it; when a NodePool is skipped |
//! | [`nodeclass`] | an EC2NodeClass → instance-type overhead and allocatable |
//! | [`volume`] | volume topology and the claims upstream cannot use |
//! | [`translate`] | Kubernetes objects → the scheduling engine's model |
//! | [`problem`] | the cluster → a `karpenter_scheduling::Problem` |
//! | [`manifest`] | untyped documents (files, list results) → the cluster |
//! | [`features`] | upstream's feature gates (`--feature-gates`, `FEATURE_GATES`) |
#![forbid(unsafe_code)]

pub mod cluster;
mod error;
pub mod features;
pub mod manifest;
pub mod node;
pub mod nodeclass;
pub mod nodepool;
pub mod pdb;
pub mod pod;
pub mod problem;
pub mod translate;
mod typed;
pub mod volume;

pub use cluster::Cluster;
pub use error::{Context, Error, Result};
pub use features::{FeatureGateError, FeatureGates};
pub use manifest::{Reader, Snapshot};
pub use node::{ClaimEntry, NodeEntry, StateNode};
pub use pdb::PdbState;
pub use pod::{OptOut, PodKey, PodRole, StatePod};
pub use problem::{Pending, Prepared, ProblemOptions, Summary};

/// Where the objects come from; it decides how strictly missing objects are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Manifests: a malformed object is an error; a StorageClass that is not in the input adds
    /// no requirement (manifests often leave them out).
    Manifests,
    /// A live cluster or a snapshot of one: the lists are complete, so a missing object is a
    /// reason to stay pending, as upstream's validation makes it; an object that cannot be
    /// read is a note, not an error.
    Cluster,
}

impl Source {
    /// What a missing object is called in reasons.
    pub fn missing(self) -> &'static str {
        match self {
            Source::Manifests => "is not in the input",
            Source::Cluster => "does not exist in the cluster",
        }
    }

    /// How to supply a missing object.
    pub fn add_hint(self) -> &'static str {
        match self {
            Source::Manifests => "add it with -f",
            Source::Cluster => "create it",
        }
    }
}

//! Karpenter's cluster state as a pure, synchronous model (upstream: `pkg/controllers/state`).
//!
//! Typed Kubernetes objects go in (k8s-openapi types and `karpenter-api`'s CRD types; v1beta1
//! NodePools and NodeClaims are brought to v1 through `karpenter-convert`), one at a time, as an
//! informer or a manifest reader delivers them. Out come the questions every consumer asks:
//! which pods are provisionable, which nodes exist (a Node joined to its NodeClaim by provider
//! id), what runs where, and the scheduling problem those pose — for the pending pods, or for
//! "the pods of these candidate nodes, with those nodes gone" (what consolidation simulates).
//!
//! No I/O, no async, no printing: notes and warnings are returned as values.

pub mod nodeclass;

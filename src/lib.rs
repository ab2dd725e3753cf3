//! kubectl-karpenter: Karpenter's lifecycle on EKS as one kubectl plugin.
//!
//! The pure domain lives in workspace crates that compile without any I/O stack:
//! `karpenter-api` (CRD types), `karpenter-convert`, `karpenter-scheduling` and `crd-schema`.
//! This crate holds the edges: the CLI, the AWS adapters and the Kubernetes client code.
pub mod cli;
pub mod cloud;
pub mod cluster;
pub mod controllers;
pub mod scale;
pub mod setup;
pub mod sim;

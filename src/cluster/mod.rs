//! Kubernetes client construction (and, later, the cluster state cache fed by watchers).
pub mod client;
pub mod snapshot;

//! A simulated kubelet and kube-scheduler, written once for the end-to-end tests and for
//! `run --simulate` (issue 14). Both act only through the Kubernetes API (so they work against
//! `crates/kube-double` or any API server) and the [`CloudProvider`](crate::cloud::provider::CloudProvider),
//! take time from a [`Clock`](super::Clock), and stand in for what a real cluster runs beside
//! Karpenter:
//!
//! * [`kubelet`] — registers a Node for each running instance whose NodeClaim has launched,
//!   as a kubelet started with Karpenter's user data would (the NodeClaim's labels and taints,
//!   `karpenter.sh/unregistered:NoExecute`, capacity, allocatable, provider id), marks it
//!   Ready after a boot delay, and marks the pods bound to its Nodes Running; once an instance
//!   is gone its Node turns NotReady (and is never registered again), and pods bound to a
//!   Node that no longer exists are deleted (the pod garbage collector);
//! * [`replicaset`] — a minimal ReplicaSet controller: evicted or deleted pods owned by a
//!   ReplicaSet come back as new pending pods; [`replicaset::ReplicaSets::scale`] scales one;
//! * [`scheduler`] — binds pending pods to Ready Nodes through `pods/binding`, deciding with
//!   the scheduling crate's own predicates (requests, taints and tolerations, node selectors
//!   and affinity, pod (anti-)affinity, topology spread, host ports) by solving a problem
//!   with existing Nodes only, and marks the pods it cannot place `PodScheduled=False`,
//!   reason `Unschedulable`, as kube-scheduler does.
pub mod informer;
pub mod kubelet;
pub mod replicaset;
pub mod scheduler;

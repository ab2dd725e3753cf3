//! Karpenter's disruption decisions as a pure, synchronous core (upstream:
//! `kubernetes-sigs/karpenter: pkg/controllers/disruption/`, budgets in `pkg/apis/v1/nodepool.go`,
//! drift detection in `pkg/controllers/nodeclaim/disruption/` and the AWS provider's
//! `pkg/cloudprovider/drift.go`).
//!
//! No I/O, no async, no clock: every time-dependent rule takes `now`.
//!
//! | module | what |
//! |---|---|
//! | [`cron`] | robfig/cron's `ParseStandard` and `Next`, in UTC (budgets; scale-to-zero) |
//! | [`budget`] | disruption budgets per NodePool and reason; the per-pool mapping |
//! | [`timing`] | NodePool settings; consolidateAfter, expireAfter, TGP; eviction costs |
//! | [`drift`] | drift detection: NodePool hash, requirements, instance type, AWS sources |
//! | [`price`] | replacement price rules (worst-case launch price, spot-to-spot, minValues) |
//! | [`input`] | the engine's input: nodes, bound pods, pools, catalog, evaluated at `now` |
//! | [`from_state`] | that input from `karpenter_state::Cluster` |
//! | [`engine`] | the plan, wave by wave; re-validation of a command against fresh state |
//! | [`mod@plan`] | the output: commands, unchosen nodes, $/h before and after |
#![forbid(unsafe_code)]

pub mod budget;
pub mod cron;
pub mod drift;
pub mod engine;
pub mod from_state;
pub mod input;
pub mod plan;
pub mod price;
pub mod timing;

pub use engine::{plan, validate, Error, Stats, ValidationError};
pub use from_state::{input_from_cluster, input_from_cluster_with_types, AdapterError};
pub use input::{BoundPod, DisruptionInput, NodeInput, Options, PodBlock, Strategy};
pub use plan::{Blocker, Command, Plan, Reason, Replacement, Unchosen};

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod parity_tests;
#[cfg(test)]
mod testkit;

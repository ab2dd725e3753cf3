//! Karpenter's disruption decisions as a pure, synchronous core (upstream:
//! `kubernetes-sigs/karpenter: pkg/controllers/disruption/`, budgets in `pkg/apis/v1/nodepool.go`,
//! drift detection in `pkg/controllers/nodeclaim/disruption/` and the AWS provider's
//! `pkg/cloudprovider/drift.go`).
//!
//! No I/O, no async, no clock: every time-dependent rule takes `now`.

pub mod budget;
pub mod cron;
pub mod drift;
pub mod engine;
pub mod input;
pub mod plan;
pub mod price;
pub mod timing;

pub use engine::{plan, Error, Stats};
pub use input::{BoundPod, DisruptionInput, NodeInput, Options, PodBlock, Strategy};
pub use plan::{Blocker, Command, Plan, Reason, Replacement, Unchosen};

#[cfg(test)]
mod engine_tests;
pub mod from_state;
#[cfg(test)]
mod testkit;

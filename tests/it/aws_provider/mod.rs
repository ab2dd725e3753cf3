//! The AWS cloud provider against moto (started per test from `../shared/tools/moto_karpenter.py`):
//! EC2NodeClass resolution, launch/terminate/GC, the CreateFleet seam (ordering, partial
//! fulfilment, insufficient capacity), the interruption queue and live instance-type discovery.

mod allocatable;
mod cli;
pub(crate) mod interruption;
mod launch;
mod pricing;
pub(crate) mod world;

//! The AWS cloud provider against moto (started per test from `../shared/tools/moto_karpenter.py`):
//! EC2NodeClass resolution, launch/terminate/GC, the CreateFleet seam (ordering, partial
//! fulfilment, insufficient capacity), the interruption queue and live instance-type discovery.
//!
//! One binary for all provider tests (each binary links every AWS SDK).
mod support;

#[path = "aws_provider/world.rs"]
mod world;

#[path = "aws_provider/launch.rs"]
mod launch;

#[path = "aws_provider/interruption.rs"]
mod interruption;

#[path = "aws_provider/cli.rs"]
mod cli;

#[path = "aws_provider/pricing.rs"]
mod pricing;

#[path = "aws_provider/allocatable.rs"]
mod allocatable;

//! The root package's integration tests, as one test binary.
//!
//! Every test binary of this package links the whole crate and with it every AWS SDK, so each extra
//! binary costs a link of several hundred megabytes: add a module here, never a new `tests/*.rs` file
//! (`layout::one_integration_test_binary` fails if one appears). Run one module with
//! `cargo test --test it <module>::`, e.g. `cargo test --test it simulate_cli::`.

mod aws_provider;
mod aws_smoke;
mod cli;
mod convert_cli;
mod krew_manifest;
mod layout;
mod run_controllers;
mod run_disruption;
mod run_interruption;
mod run_ops;
mod run_repair;
mod run_simulate;
mod scale_to_zero;
mod setup;
mod simulate_cli;
mod simulate_cluster;
mod simulate_disrupt;
mod support;

//! `kubectl karpenter setup`.
use std::process::ExitCode;

use super::{GlobalArgs, NotYetSupported};

#[derive(Debug, clap::Args)]
pub struct SetupArgs {}

pub async fn run(_global: &GlobalArgs, _args: SetupArgs) -> anyhow::Result<ExitCode> {
    Err(NotYetSupported("setup").into())
}

//! `kubectl karpenter run`.
use std::process::ExitCode;

use super::{GlobalArgs, NotYetSupported};

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub async fn run(_global: &GlobalArgs, _args: RunArgs) -> anyhow::Result<ExitCode> {
    Err(NotYetSupported("run").into())
}

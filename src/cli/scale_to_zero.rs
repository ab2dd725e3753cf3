//! `kubectl karpenter scale-to-zero`.
use std::process::ExitCode;

use super::{GlobalArgs, NotYetSupported};

#[derive(Debug, clap::Args)]
pub struct ScaleToZeroArgs {}

pub async fn run(_global: &GlobalArgs, _args: ScaleToZeroArgs) -> anyhow::Result<ExitCode> {
    Err(NotYetSupported("scale-to-zero").into())
}

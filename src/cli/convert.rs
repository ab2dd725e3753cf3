//! `kubectl karpenter convert`.
use std::process::ExitCode;

use super::{GlobalArgs, NotYetSupported};

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {}

pub fn run(_global: &GlobalArgs, _args: ConvertArgs) -> anyhow::Result<ExitCode> {
    Err(NotYetSupported("convert").into())
}

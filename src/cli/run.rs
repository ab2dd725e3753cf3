//! `kubectl karpenter run`.
use std::process::ExitCode;

use super::{run_simulate, GlobalArgs, NotYetSupported};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sim: run_simulate::SimulateRunArgs,
}

pub async fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.sim.simulate {
        return run_simulate::run(global, args.sim);
    }
    Err(NotYetSupported("run").into())
}

//! `kubectl karpenter run --simulate`: Karpenter's controllers on a simulated cluster and a
//! virtual clock (see [`crate::sim`]). The `run` command calls [`run`] when `--simulate` is set.
//!
//! Input is read and checked before anything runs: the manifests as `simulate` reads them, the
//! scenario's steps against the manifests' workloads and NodePools, the durations. Output is one
//! line per NodeClaim event as it happens (a table with the cluster's $/hour after each event,
//! or with `-o json` one JSON object per line) and a summary last.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use k8s_openapi::jiff::Timestamp;

use super::{GlobalArgs, OutputFormat, UsageError};
use crate::sim::scenario::{parse_duration, Scenario};
use crate::sim::{self, Input, Options, Record};

/// The bundled example (used when no `-f` is given).
const EXAMPLE: &[(&str, &str)] = &[
    (
        "examples/run-simulate/cluster.yaml",
        include_str!("../../examples/run-simulate/cluster.yaml"),
    ),
    (
        "examples/run-simulate/workload.yaml",
        include_str!("../../examples/run-simulate/workload.yaml"),
    ),
];
/// The bundled example's scenario.
const EXAMPLE_SCENARIO: (&str, &str) = (
    "examples/run-simulate/scenario/up-then-down.yaml",
    include_str!("../../examples/run-simulate/scenario/up-then-down.yaml"),
);

/// `run --simulate` flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Simulation")]
pub struct SimulateRunArgs {
    /// Run the controllers on a simulated cluster (no AWS, no cluster) on a virtual clock
    ///
    /// The API server is in memory, launches come from the embedded instance-type catalog, a
    /// simulated kubelet registers Nodes and a simulated kube-scheduler binds pods; an hour of
    /// cluster life runs in seconds. Without -f, a bundled example runs (a Deployment scaled up,
    /// then down).
    #[arg(long)]
    pub simulate: bool,
    /// Manifests for --simulate: NodePools, EC2NodeClasses, Deployments, StatefulSets, Jobs, Pods,
    /// existing Nodes (those labelled karpenter.sh/nodepool are adopted with a NodeClaim each)
    #[arg(short = 'f', long = "filename", value_name = "FILE", num_args = 1.., requires = "simulate")]
    pub files: Vec<PathBuf>,
    /// Timed steps for --simulate (scale, deletePods, patchNodePool, interrupt; see the README)
    #[arg(long, value_name = "FILE", requires = "simulate")]
    pub scenario: Option<PathBuf>,
    /// Stop once settled: nothing pending, every NodeClaim up, and a disruption pass since the
    /// last change found nothing to do and nothing waiting on time (the default when
    /// --duration is not given)
    #[arg(long, requires = "simulate")]
    pub until_settled: bool,
    /// Stop after this much simulated time (e.g. 30m, 2h)
    #[arg(
        long,
        value_name = "DURATION",
        requires = "simulate",
        allow_hyphen_values = true
    )]
    pub duration: Option<String>,
    /// Settled also needs this long without a NodeClaim or pod change
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "0s",
        requires = "simulate"
    )]
    pub settle_after: String,
    /// Instance types to launch from: aws (the embedded EC2 catalog of the region) or kwok
    /// (upstream's KWOK provider's 144 generated types, which its performance suite uses)
    #[arg(long, value_name = "CATALOG", default_value = "aws", value_parser = ["aws", "kwok"], requires = "simulate")]
    pub catalog: String,
    /// Simulated time at the start (RFC 3339)
    #[arg(
        long,
        value_name = "TIME",
        default_value = "2026-01-01T00:00:00Z",
        requires = "simulate"
    )]
    pub start: String,
    /// How long an instance launch takes
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2s",
        requires = "simulate"
    )]
    pub launch_delay: String,
    /// How long a registered Node takes to become Ready
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        requires = "simulate"
    )]
    pub boot_delay: String,
    /// Seed for NodeClaim names (same seed, same input: same output)
    #[arg(long, value_name = "N", default_value_t = 1, requires = "simulate")]
    pub seed: u64,
}

fn duration_flag(flag: &str, value: &str) -> anyhow::Result<Duration> {
    if value.trim_start().starts_with('-') {
        return Err(UsageError(format!(
            "{flag} {value}: must be a positive duration (e.g. 30m)"
        ))
        .into());
    }
    parse_duration(value).map_err(|e| UsageError(format!("{flag}: {e}")).into())
}

/// Read and check everything a run needs, before it starts.
fn prepare(global: &GlobalArgs, args: &SimulateRunArgs) -> anyhow::Result<(Input, Options)> {
    let (sources, scenario) = if args.files.is_empty() {
        eprintln!(
            "no -f given: simulating the bundled example (examples/run-simulate: a Deployment \
             scaled from 4 to 40 pods at 2m, then down to 6 at 8m)"
        );
        let sources: Vec<(String, String)> = EXAMPLE
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        let scenario = match &args.scenario {
            Some(_) => None,
            None => Some((
                EXAMPLE_SCENARIO.0.to_string(),
                EXAMPLE_SCENARIO.1.to_string(),
            )),
        };
        (sources, scenario)
    } else {
        (super::simulate::read_manifests(&args.files)?, None)
    };
    let scenario = match (&args.scenario, scenario) {
        (Some(path), _) => Some((
            path.display().to_string(),
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read scenario {}", path.display()))?,
        )),
        (None, s) => s,
    };
    let seed = sim::seed::read(&sources).map_err(anyhow::Error::msg)?;
    let (scenario_file, scenario) = match scenario {
        Some((file, text)) => {
            let s = Scenario::parse(&file, &text).map_err(anyhow::Error::msg)?;
            (file, s)
        }
        None => (String::new(), Scenario::default()),
    };
    let input = Input { seed, scenario };
    input.validate(&scenario_file)?;
    let duration = match &args.duration {
        Some(d) => {
            let d = duration_flag("--duration", d)?;
            if d.is_zero() {
                bail!(UsageError(
                    "--duration: must be a positive duration (e.g. 30m)".into()
                ));
            }
            Some(d)
        }
        None => None,
    };
    let start: Timestamp = args.start.parse().map_err(|e| {
        UsageError(format!(
            "--start {}: not an RFC 3339 time ({e}); e.g. 2026-01-01T00:00:00Z",
            args.start
        ))
    })?;
    let region = global
        .region
        .clone()
        .or_else(|| input.seed.region_hint.clone())
        .unwrap_or_else(|| "us-east-1".into());
    let opts = Options {
        start,
        region,
        launch_delay: duration_flag("--launch-delay", &args.launch_delay)?,
        boot_delay: duration_flag("--boot-delay", &args.boot_delay)?,
        until_settled: args.until_settled || duration.is_none(),
        duration,
        settle_after: duration_flag("--settle-after", &args.settle_after)?,
        seed: args.seed,
        instance_types: (args.catalog == "kwok")
            .then(karpenter_scheduling::synthetic::kwok_instance_types),
        ..Options::default()
    };
    for note in &input.seed.notes {
        eprintln!("note: {note}");
    }
    Ok((input, opts))
}

/// Run `kubectl karpenter run --simulate`.
pub fn run(global: &GlobalArgs, args: SimulateRunArgs) -> anyhow::Result<ExitCode> {
    let (input, opts) = prepare(global, &args)?;
    let json = matches!(global.output, Some(OutputFormat::Json));
    if matches!(global.output, Some(OutputFormat::Yaml)) {
        bail!(UsageError(
            "run --simulate prints a stream of events: use -o json (one object per line) or the \
             default table"
                .into()
        ));
    }
    let wall = std::time::Instant::now();
    // The simulation owns a paused current-thread runtime: give it a thread of its own, so it
    // never nests inside the caller's runtime.
    let handle = std::thread::Builder::new()
        .name("simulation".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            let mut printed_header = false;
            let mut sink = |r: &Record| {
                let mut out = stdout.lock();
                let line = if json {
                    match r {
                        Record::Event(e) => serde_json::to_string(e),
                        Record::Settled(s) | Record::Summary(s) => serde_json::to_string(s),
                    }
                    .unwrap_or_default()
                } else {
                    let mut s = String::new();
                    if !printed_header {
                        printed_header = true;
                        s.push_str(&format!(
                            "{:<20}  {:<10}  {:<20}  {:<16}  {:>8}  {:>10}  REASON\n",
                            "TIME", "EVENT", "NODECLAIM", "INSTANCE TYPE", "$/HOUR", "CLUSTER $/H"
                        ));
                    }
                    match r {
                        Record::Event(e) => s.push_str(&format!(
                            "{:<20}  {:<10}  {:<20}  {:<16}  {:>8.4}  {:>10.4}  {}",
                            e.time,
                            e.event,
                            e.node_claim,
                            e.instance_type,
                            e.price_per_hour,
                            e.cluster_price_per_hour,
                            e.reason.as_deref().unwrap_or("")
                        )),
                        Record::Settled(x) => s.push_str(&format!(
                            "{:<20}  {:<10}  {} nodes, {} pods bound, {} pending, CPU {:.0} %, \
                             memory {:.0} % requested  {:>10.4}  next step",
                            x.time,
                            "settled",
                            x.nodes,
                            x.bound_pods,
                            x.pending_pods,
                            x.cpu_utilisation * 100.0,
                            x.memory_utilisation * 100.0,
                            x.price_per_hour,
                        )),
                        Record::Summary(_) => return,
                    }
                    s
                };
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            };
            sim::run_blocking(input, opts, &mut sink)
        })
        .context("cannot start the simulation thread")?;
    let summary = handle
        .join()
        .map_err(|_| anyhow::anyhow!("the simulation thread panicked"))??;
    if !json {
        let h = summary.simulated_seconds / 3600;
        let m = (summary.simulated_seconds % 3600) / 60;
        let s = summary.simulated_seconds % 60;
        println!(
            "\n{} after {h}h{m:02}m{s:02}s simulated ({:.1} s wall, until {}): {} nodes, {} NodeClaims, \
             {} pods bound, {} pending, ${:.4}/hour; requests use {:.0} % of the nodes' CPU and \
             {:.0} % of their memory",
            if summary.settled {
                "settled"
            } else {
                "stopped"
            },
            wall.elapsed().as_secs_f64(),
            summary.time,
            summary.nodes,
            summary.node_claims,
            summary.bound_pods,
            summary.pending_pods,
            summary.price_per_hour,
            summary.cpu_utilisation * 100.0,
            summary.memory_utilisation * 100.0,
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! Command-line interface: global flags, subcommand dispatch, error reporting and exit codes.
//!
//! One module per subcommand owns its arguments, prompts and output. `main` parses, sets up
//! logging, runs the subcommand and turns any error into a one-paragraph message on stderr and
//! a non-zero exit code: 2 for usage errors (clap's own and [`UsageError`]), 1 for the rest.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::cloud::aws::AwsOptions;
use crate::cluster::client::KubeOptions;

pub mod completion;
pub mod convert;
pub mod disrupt;
pub mod instance_types;
pub mod output;
pub mod run;
pub mod run_simulate;
pub mod scale_to_zero;
pub mod setup;
pub mod simulate;

pub use output::OutputFormat;

/// Karpenter's whole lifecycle on EKS in one kubectl plugin.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-karpenter",
    bin_name = "kubectl karpenter",
    version,
    about = "Karpenter's lifecycle on EKS: set up its AWS side, convert old APIs, simulate provisioning, scale to zero",
    propagate_version = true,
    max_term_width = 110
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every subcommand, named as kubectl and the AWS CLI name them.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
    #[arg(long, global = true, value_name = "PATH", help_heading = "Kubernetes")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context)
    #[arg(long, global = true, value_name = "NAME", help_heading = "Kubernetes")]
    pub context: Option<String>,
    /// Namespace for namespaced objects (default: the context's namespace)
    #[arg(
        short = 'n',
        long,
        global = true,
        value_name = "NS",
        help_heading = "Kubernetes"
    )]
    pub namespace: Option<String>,
    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides)
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Do not prompt: answer yes to every confirmation
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// AWS region (default: AWS_REGION, then the profile's region)
    #[arg(long, global = true, value_name = "REGION", help_heading = "AWS")]
    pub region: Option<String>,
    /// AWS shared-config profile (default: AWS_PROFILE, then "default")
    #[arg(long, global = true, value_name = "NAME", help_heading = "AWS")]
    pub profile: Option<String>,
    /// EKS cluster name
    #[arg(long, global = true, value_name = "NAME", help_heading = "AWS")]
    pub cluster_name: Option<String>,
}

impl GlobalArgs {
    /// Where to find the cluster, for `cluster::client`.
    pub fn kube_options(&self) -> KubeOptions {
        KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The AWS region and profile (`--region`, `--profile`); everything else from the usual places.
    pub fn aws_options(&self) -> AwsOptions {
        AwsOptions {
            region: self.region.clone(),
            profile: self.profile.clone(),
            ..AwsOptions::default()
        }
    }
}

// Parsed once per run and moved straight into its handler: the size of the largest variant
// (scale-to-zero's arguments and its schedule subcommand) costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create Karpenter's IAM roles and policies, interruption queue and EventBridge rules
    Setup(setup::SetupArgs),
    /// Convert v1alpha5/v1alpha1/v1beta1 Karpenter objects to NodePools and EC2NodeClasses
    Convert(convert::ConvertArgs),
    /// Run Karpenter's controllers in the foreground (or in the cluster: --print-manifests)
    Run(run::RunArgs),
    /// Take NodePools to zero capacity, and restore them later
    #[command(name = "scale-to-zero")]
    ScaleToZero(scale_to_zero::ScaleToZeroArgs),
    /// Restore pools taken to zero by scale-to-zero (same as `scale-to-zero --restore`)
    #[command(name = "scale-up")]
    ScaleUp(scale_to_zero::ScaleUpArgs),
    /// Simulate Karpenter's provisioning (manifests or cluster): NodeClaims, price, pending pods
    Simulate(simulate::SimulateArgs),
    /// List the instance types Karpenter would consider, cheapest first
    #[command(name = "instance-types")]
    InstanceTypes(instance_types::InstanceTypesArgs),
    /// Print a shell completion script
    Completion(completion::CompletionArgs),
    /// Print the version
    Version,
}

/// A usage error found after parsing (a missing or conflicting flag that clap cannot express):
/// reported like any error, but exits 2 as clap's own usage errors do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code for usage errors (clap's, and [`UsageError`]).
const USAGE_EXIT: u8 = 2;

/// Parse the command line, run it, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run` sets up its own logging (--log-level, --log-format)
    if !matches!(cli.command, Command::Run(_)) {
        init_logging(cli.global.verbose);
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            report(&err);
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(USAGE_EXIT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Print an error as one paragraph: the message, then its causes joined by ": ".
pub fn report(err: &anyhow::Error) {
    let style = console::Style::new().red().bold().for_stderr();
    eprintln!("{} {err:#}", style.apply_to("error:"));
}

/// Log targets (prefixes) that see raw HTTP requests, signing or credentials: the AWS SDK, the
/// HTTP and TLS stacks and kube's client. `-vvv` traces everything else but caps these at debug,
/// where they log no request signature, header or credential.
const CAPPED_AT_DEBUG: &[&str] = &[
    "aws",
    "hyper",
    "h2",
    "http",
    "rustls",
    "tokio_rustls",
    "tower",
    "kube_client",
    "kube_runtime",
];

/// The log filter for `-v` counted `verbose` times (`RUST_LOG` replaces it).
pub fn log_filter(verbose: u8) -> String {
    match verbose {
        // kube's client logs failed requests itself, and the AWS SDK warns while it probes for
        // credentials and a region (IMDS); every command reports failures in its own error
        // paragraph, which says what was looked at, so both are only shown with -v
        0 => "warn,kube_client=off,aws=error".to_string(),
        1 => "info,kubectl_karpenter=info".to_string(),
        2 => "debug,hyper=info,aws_smithy_runtime=info,aws_config=info".to_string(),
        _ => std::iter::once("trace".to_string())
            .chain(CAPPED_AT_DEBUG.iter().map(|t| format!("{t}=debug")))
            .collect::<Vec<_>>()
            .join(","),
    }
}

pub(crate) fn init_logging(verbose: u8) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(verbose)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour only on a terminal and without NO_COLOR, as the error paragraph (console)
        .with_ansi(console::colors_enabled_stderr())
        .with_target(verbose >= 2)
        .try_init();
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let Cli { global, command } = cli;
    match command {
        Command::Convert(args) => convert::run(&global, args),
        Command::Simulate(args) => simulate::run(&global, args),
        Command::InstanceTypes(args) => runtime()?.block_on(instance_types::run(&global, args)),
        Command::Completion(args) => completion::run(args),
        Command::Version => {
            println!("kubectl-karpenter {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Setup(args) => runtime()?.block_on(setup::run(&global, args)),
        Command::Run(args) => runtime()?.block_on(run::run(&global, args)),
        Command::ScaleToZero(args) => runtime()?.block_on(scale_to_zero::run(&global, args)),
        Command::ScaleUp(args) => runtime()?.block_on(scale_to_zero::run(&global, args.into())),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_options_take_region_and_profile() {
        let g = GlobalArgs {
            region: Some("eu-north-1".into()),
            profile: Some("ops".into()),
            ..Default::default()
        };
        let o = g.aws_options();
        assert_eq!(o.region.as_deref(), Some("eu-north-1"));
        assert_eq!(o.profile.as_deref(), Some("ops"));
        assert!(o.endpoint_url.is_none() && o.static_credentials.is_none());
    }

    #[test]
    fn kube_options_take_kubeconfig_context_and_namespace() {
        let g = Cli::parse_from([
            "kubectl-karpenter",
            "--kubeconfig",
            "/tmp/kc",
            "--context",
            "prod",
            "-n",
            "karpenter",
            "--region",
            "eu-north-1",
            "version",
        ])
        .global;
        assert_eq!(
            g.kube_options(),
            KubeOptions {
                kubeconfig: Some(PathBuf::from("/tmp/kc")),
                context: Some("prod".into()),
                namespace: Some("karpenter".into()),
            }
        );
    }
}

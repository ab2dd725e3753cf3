//! `kubectl karpenter run`: Karpenter's controllers in the foreground (or as a Deployment, see
//! `--print-manifests`), against the cluster of the kubeconfig and the AWS account of the
//! credentials. Flags and environment variables are named as upstream's settings
//! (`pkg/operator/options/options.go`, karpenter-provider-aws `pkg/operator/options`); the
//! loop itself is [`crate::controllers::operator`].
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_state::FeatureGates;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::{run_simulate, GlobalArgs, UsageError};
use crate::cloud::aws::discovery::{self, KnownCluster};
use crate::cloud::aws::provider::AwsProvider;
use crate::cloud::aws::AwsContext;
use crate::controllers::clock::TokioClock;
use crate::controllers::http::{self, Probes};
use crate::controllers::leader::{default_identity, LeaseConfig, DEFAULT_LEASE_NAME};
use crate::controllers::metrics::Metrics;
use crate::controllers::operator::{
    refuse_message, running_karpenter, Operator, Refresher, RunOptions,
};
use crate::controllers::Settings;

/// Upstream's default `FEATURE_GATES`.
pub const DEFAULT_FEATURE_GATES: &str =
    "NodeRepair=false,ReservedCapacity=true,SpotToSpotConsolidation=false,NodeOverlay=false,StaticCapacity=false,CapacityBuffer=false";

const RBAC_TEMPLATE: &str = include_str!("../../templates/run/rbac.yaml");
const DEPLOYMENT_TEMPLATE: &str = include_str!("../../templates/run/deployment.yaml");

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise
    Auto,
    /// Human-readable lines
    Human,
    /// One JSON object per line (as upstream's zap logger)
    Json,
}

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run Karpenter's controllers in the foreground against the cluster of the kubeconfig and the \
AWS account of the credentials: pending pods become NodeClaims, NodeClaims become EC2 instances, \
instances become Nodes. With only --kubeconfig, --cluster-name and --region everything else is \
discovered (eks:DescribeCluster for the endpoint, CA and Kubernetes version; the interruption queue \
`setup` created, by name). It acts only while it holds the leader-election Lease upstream Karpenter \
uses, refuses to start next to a running in-cluster Karpenter (unless --force), and on SIGINT/SIGTERM \
stops taking work, lets in-flight calls finish, releases the Lease and exits 0.",
    after_help = "Environment: every flag above that names a variable reads it when the flag is absent; \
--cluster-name also reads CLUSTER_NAME, --region reads AWS_REGION.\n\
Endpoints: /metrics on METRICS_PORT (Prometheus, upstream's karpenter_* names); /healthz and /readyz \
on HEALTH_PROBE_PORT (/readyz is 503 until the caches sync).\n\
In-cluster: `kubectl karpenter run --print-manifests --cluster-name NAME | kubectl apply -f -`."
)]
pub struct RunArgs {
    /// The API server endpoint nodes join [default: from eks:DescribeCluster]
    #[arg(long, env = "CLUSTER_ENDPOINT", value_name = "URL")]
    pub cluster_endpoint: Option<String>,
    /// The cluster CA bundle (base64) written into node user data [default: from eks:DescribeCluster]
    #[arg(
        long,
        env = "CLUSTER_CA_BUNDLE",
        value_name = "BASE64",
        hide_env_values = true
    )]
    pub cluster_ca_bundle: Option<String>,
    /// The SQS interruption queue's name [default: the cluster name, the queue `setup` creates; interruption handling is off when it does not exist]
    #[arg(long, env = "INTERRUPTION_QUEUE", value_name = "NAME")]
    pub interruption_queue: Option<String>,
    /// A provisioning batch closes after this long without a new pending pod
    #[arg(long, env = "BATCH_IDLE_DURATION", default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub batch_idle_duration: Duration,
    /// A provisioning batch closes after this long in all
    #[arg(long, env = "BATCH_MAX_DURATION", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub batch_max_duration: Duration,
    /// Optional features, as upstream: NodeRepair, ReservedCapacity, SpotToSpotConsolidation, NodeOverlay, StaticCapacity
    #[arg(long, env = "FEATURE_GATES", default_value = DEFAULT_FEATURE_GATES, value_name = "NAME=BOOL,...")]
    pub feature_gates: String,
    /// Port of the Prometheus /metrics endpoint (0: any free port)
    #[arg(
        long,
        env = "METRICS_PORT",
        default_value_t = 8080,
        value_name = "PORT"
    )]
    pub metrics_port: u16,
    /// Port of the /healthz and /readyz probes (0: any free port)
    #[arg(
        long,
        env = "HEALTH_PROBE_PORT",
        default_value_t = 8081,
        value_name = "PORT"
    )]
    pub health_probe_port: u16,
    /// Log level: debug, info, warn or error (RUST_LOG overrides; -v adds dependencies' logs)
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = ["debug", "info", "warn", "error"], value_name = "LEVEL")]
    pub log_level: String,
    /// Log format
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "auto",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
    /// The leader-election Lease's name (upstream's; an in-cluster Karpenter uses the same)
    #[arg(long, env = "LEADER_ELECTION_NAME", default_value = DEFAULT_LEASE_NAME, value_name = "NAME")]
    pub leader_election_name: String,
    /// The Lease's namespace: the one Karpenter is installed in [default: -n, else kube-system]
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE", value_name = "NS")]
    pub leader_election_namespace: Option<String>,
    /// Act without holding the Lease (only when nothing else can act on this cluster)
    #[arg(long, env = "DISABLE_LEADER_ELECTION")]
    pub disable_leader_election: bool,
    /// Watch and decide, log every launch it would make, write nothing to the cluster or AWS (takes no Lease)
    #[arg(long)]
    pub dry_run: bool,
    /// Start even though an in-cluster Karpenter controller is running
    #[arg(long)]
    pub force: bool,
    /// How long shutdown waits for in-flight work before it gives up on it
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace_period: Duration,
    /// Print the Deployment, ServiceAccount and RBAC that run this command in the cluster, and exit
    #[arg(long)]
    pub print_manifests: bool,
    /// `--simulate` and its flags
    #[command(flatten)]
    pub sim: run_simulate::SimulateRunArgs,
    /// The container image (--print-manifests)
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The ServiceAccount (--print-manifests); `karpenter` gets the Pod Identity association `setup` creates
    #[arg(long, default_value = "karpenter", value_name = "NAME")]
    pub service_account: String,
}

/// Parse a Go-style duration (`1s`, `500ms`, `1m30s`, `2h`), as upstream's flags take them.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}: use a number with a unit, e.g. 500ms, 1s, 1m30s");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => n / 1e9,
            "us" | "µs" => n / 1e6,
            "ms" => n / 1e3,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(secs).map_err(|_| bad())?;
    }
    Ok(total)
}

/// What `--print-manifests` fills in.
#[derive(Debug, Clone)]
pub struct ManifestSpec {
    /// Object names (Deployment, ClusterRole, ...).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// ServiceAccount name.
    pub service_account: String,
    /// Container image.
    pub image: String,
    /// `CLUSTER_NAME`.
    pub cluster_name: String,
    /// `AWS_REGION`.
    pub region: String,
}

/// The in-cluster manifests (RBAC, then the Deployment) as one YAML stream. Fails naming the
/// placeholder when one is left unfilled.
pub fn render_manifests(spec: &ManifestSpec) -> Result<String, String> {
    let vars = [
        ("name", &spec.name),
        ("namespace", &spec.namespace),
        ("service_account", &spec.service_account),
        ("image", &spec.image),
        ("cluster_name", &spec.cluster_name),
        ("region", &spec.region),
    ];
    let fill = |t: &str| {
        vars.iter().fold(t.to_string(), |acc, (k, v)| {
            acc.replace(&format!("{{{{{k}}}}}"), v)
        })
    };
    let out = format!(
        "# Generated by `kubectl karpenter run --print-manifests`.\n{}---\n{}",
        fill(RBAC_TEMPLATE),
        fill(DEPLOYMENT_TEMPLATE)
    );
    if let Some(at) = out.find("{{") {
        let end = out[at..].find("}}").map_or(out.len(), |e| at + e + 2);
        return Err(format!(
            "template placeholder {} was not filled",
            &out[at..end]
        ));
    }
    Ok(out)
}

fn init_logging(args: &RunArgs, verbose: u8) {
    let level = &args.log_level;
    let default = if verbose > 0 {
        super::log_filter(verbose)
    } else {
        format!(
            "warn,kubectl_karpenter={level},karpenter_state={level},karpenter_scheduling={level},karpenter_disruption={level}"
        )
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let json = match args.log_format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !console::Term::stderr().is_term(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder
            .with_ansi(console::colors_enabled_stderr())
            .with_target(verbose >= 2)
            .try_init()
    };
}

/// Resolves every EC2NodeClass for the AWS provider while leading (until the EC2NodeClass
/// status controller exists): subnets, security groups, AMIs and, unless read-only
/// (`--dry-run`), the instance profile.
struct AwsNodeClasses {
    provider: Arc<AwsProvider>,
    read_only: bool,
}

impl Refresher for AwsNodeClasses {
    fn refresh<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let api: Api<EC2NodeClass> = Api::all(client.clone());
            let classes = match api.list(&ListParams::default()).await {
                Ok(l) => l.items,
                Err(e) => {
                    tracing::warn!(error = %e, "listing EC2NodeClasses failed");
                    return;
                }
            };
            for nc in &classes {
                let r = if self.read_only {
                    self.provider.resolve_nodeclass_read_only(nc).await
                } else {
                    self.provider.resolve_nodeclass(nc).await
                };
                match r {
                    Ok(_) => {
                        tracing::debug!(ec2nodeclass = %nc.name_any(), "resolved ec2nodeclass")
                    }
                    Err(e) => tracing::warn!(ec2nodeclass = %nc.name_any(), error = %e,
                        "resolving ec2nodeclass failed; its NodeClaims cannot launch until it resolves"),
                }
            }
        })
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "received signal; shutting down"),
                    _ = term.recv() => tracing::info!(signal = "SIGTERM", "received signal; shutting down"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops run");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.sim.simulate {
        // the events are the output; logs (warnings by default, -v for more) go to stderr
        super::init_logging(global.verbose);
        return run_simulate::run(global, args.sim);
    }
    let cluster_name = global
        .cluster_name
        .clone()
        .or_else(|| std::env::var("CLUSTER_NAME").ok().filter(|s| !s.is_empty()));
    if args.print_manifests {
        let cluster_name = cluster_name.ok_or_else(|| {
            UsageError("--print-manifests needs --cluster-name (or CLUSTER_NAME)".into())
        })?;
        let region = global
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .ok_or_else(|| UsageError("--print-manifests needs --region (or AWS_REGION)".into()))?;
        let spec = ManifestSpec {
            name: "kubectl-karpenter".into(),
            namespace: global
                .namespace
                .clone()
                .unwrap_or_else(|| "kube-system".into()),
            service_account: args.service_account.clone(),
            image: args
                .image
                .clone()
                .unwrap_or_else(crate::scale::schedule::default_image),
            cluster_name,
            region,
        };
        print!("{}", render_manifests(&spec).map_err(anyhow::Error::msg)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cluster_name = cluster_name.ok_or_else(|| {
        UsageError(
            "run needs the EKS cluster's name: pass --cluster-name NAME or set CLUSTER_NAME".into(),
        )
    })?;
    let feature_gates = FeatureGates::parse(&args.feature_gates)
        .map_err(|e| UsageError(format!("--feature-gates (FEATURE_GATES): {e}")))?;
    if args.batch_idle_duration.is_zero() || args.batch_max_duration.is_zero() {
        return Err(UsageError(
            "--batch-idle-duration and --batch-max-duration must be greater than zero".into(),
        )
        .into());
    }
    init_logging(&args, global.verbose);
    for gate in feature_gates.unsupported() {
        tracing::warn!(
            gate,
            "feature gate is on but not supported yet; it has no effect"
        );
    }

    // Kubernetes: the kubeconfig's cluster; requests say who makes them
    let mut kube_config = crate::cluster::client::config(&global.kube_options()).await?;
    let identity = default_identity();
    let ua = format!(
        "kubectl-karpenter/{} (run; {identity})",
        env!("CARGO_PKG_VERSION")
    );
    if let Ok(v) = ua.parse() {
        kube_config.headers.push((::http::header::USER_AGENT, v));
    }
    let client = Client::try_from(kube_config).context("building the Kubernetes client")?;

    // AWS: discover what was not given
    let aws = AwsContext::load(global.aws_options()).await?;
    let known = KnownCluster {
        endpoint: args.cluster_endpoint.clone(),
        ca_bundle: args.cluster_ca_bundle.clone(),
        kubernetes_version: None,
    };
    let cluster = discovery::describe_cluster(&aws, &cluster_name, &known)
        .await
        .with_context(|| {
            format!(
                "discovering EKS cluster {cluster_name:?} in {} (eks:DescribeCluster); check \
                 --cluster-name and --region",
                aws.region()
            )
        })?;
    tracing::info!(cluster = %cluster.name, endpoint = %cluster.endpoint, kubernetes_version = %cluster.kubernetes_version,
        region = %aws.region(), "discovered cluster");
    let queue_name = args
        .interruption_queue
        .clone()
        .unwrap_or_else(|| cluster_name.clone());
    let interruption_queue = match discovery::queue_url(&aws, &queue_name).await {
        Ok(Some(url)) => {
            tracing::info!(queue = %queue_name, url = %url, "found interruption queue");
            Some(queue_name)
        }
        Ok(None) => {
            tracing::warn!(queue = %queue_name,
                "interruption queue not found; interruption handling is off (create it with `kubectl karpenter setup`)");
            None
        }
        Err(e) => {
            tracing::warn!(queue = %queue_name, error = %e, "cannot look up the interruption queue; interruption handling is off");
            None
        }
    };

    // Safety: not next to a running in-cluster Karpenter
    if !args.force && !args.dry_run {
        match running_karpenter(&client).await {
            Ok(Some((deployment, ready))) => {
                anyhow::bail!(refuse_message(&deployment, ready));
            }
            Ok(None) => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(
                    "checking for an in-cluster Karpenter controller (list Deployments labelled \
                     app.kubernetes.io/name=karpenter); pass --force to skip the check",
                ))
            }
        }
    }

    let mut settings = Settings::new(aws.region());
    settings.batch_idle_duration = args.batch_idle_duration;
    settings.batch_max_duration = args.batch_max_duration;
    settings.dry_run = args.dry_run;
    settings.feature_gates = feature_gates;
    settings.interruption_queue = interruption_queue;
    let lease = (!args.disable_leader_election && !args.dry_run).then(|| {
        let ns = args
            .leader_election_namespace
            .clone()
            .or_else(|| global.namespace.clone())
            .unwrap_or_else(|| "kube-system".into());
        LeaseConfig::new(&args.leader_election_name, &ns, &identity)
    });
    if args.dry_run {
        tracing::info!("dry run: nothing will be written to the cluster or AWS; no Lease is taken");
    }

    let provider = Arc::new(AwsProvider::new(aws, cluster));
    let metrics = Arc::new(Metrics::new("aws"));
    let probes = Arc::new(Probes::default());
    let any = Ipv4Addr::UNSPECIFIED;
    let metrics_listener = http::bind(
        SocketAddr::from((any, args.metrics_port)),
        "--metrics-port / METRICS_PORT",
    )
    .await?;
    let metrics_addr = metrics_listener.local_addr()?;
    let mut health_addr = metrics_addr;
    let mut servers = vec![http::serve(
        metrics_listener,
        metrics.clone(),
        probes.clone(),
    )];
    // every route is served on both ports; one port when they are the same
    if args.health_probe_port != args.metrics_port || args.metrics_port == 0 {
        let health = http::bind(
            SocketAddr::from((any, args.health_probe_port)),
            "--health-probe-port / HEALTH_PROBE_PORT",
        )
        .await?;
        health_addr = health.local_addr()?;
        servers.push(http::serve(health, metrics.clone(), probes.clone()));
    }
    tracing::info!(metrics = %metrics_addr, health_probes = %health_addr,
        "serving /metrics, /healthz and /readyz");

    let operator = Operator {
        client,
        provider: provider.clone(),
        clock: Arc::new(TokioClock::default()),
        metrics,
        probes,
    };
    let opts = RunOptions {
        settings,
        lease,
        shutdown_grace: args.shutdown_grace_period,
        refresher: Some(Arc::new(AwsNodeClasses {
            provider,
            read_only: args.dry_run,
        })),
    };
    let shutdown = async {
        shutdown_signal().await;
        // a second signal while in-flight work finishes: stop at once
        tokio::spawn(async {
            shutdown_signal().await;
            eprintln!(
                "second signal: exiting without waiting for in-flight work or releasing the Lease"
            );
            std::process::exit(130);
        });
    };
    operator.run(opts, shutdown).await;
    for s in servers {
        s.abort();
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_upstreams_flags_take_them() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "1x", "s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_feature_gates_parse() {
        let g = FeatureGates::parse(DEFAULT_FEATURE_GATES).unwrap();
        assert_eq!(g, FeatureGates::default());
    }

    #[test]
    fn manifests_fill_every_placeholder() {
        let spec = ManifestSpec {
            name: "kubectl-karpenter".into(),
            namespace: "kube-system".into(),
            service_account: "karpenter".into(),
            image: "img:1".into(),
            cluster_name: "demo".into(),
            region: "us-west-2".into(),
        };
        let out = render_manifests(&spec).unwrap();
        assert!(!out.contains("{{"), "{out}");
        assert!(out.contains("image: img:1"));
        assert!(out.contains("value: \"demo\""));
    }
}

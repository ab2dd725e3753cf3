//! `kubectl karpenter simulate`: run the scheduling engine on ordinary Kubernetes YAML, or on a
//! read-only snapshot of a live cluster (`--from-cluster`).
//!
//! Input: Pods, Deployments, StatefulSets, ReplicaSets, Jobs (replicas expand to pods),
//! DaemonSets (overhead), NodePools, EC2NodeClasses, existing Nodes and in-flight NodeClaims,
//! and PersistentVolumeClaims, PersistentVolumes and StorageClasses (volume topology). Output:
//! the NodeClaims Karpenter would create, their price, an LP lower bound, and pods left pending
//! with reasons. Both inputs go through the same adapter, so they are interpreted alike.
//!
//! `--disrupt` adds what disruption would do to the same cluster now (see [`super::disrupt`]):
//! the commands, the nodes left alone, and the $/h before and after.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use k8s_openapi::jiff::Timestamp;
use karpenter_scheduling::{solve, Catalog, SolveOptions, Strategy};
use karpenter_state::{FeatureGates, ProblemOptions, Reader, Snapshot, Source};
use serde::Serialize;

use super::disrupt::{self, DisruptOptions, Origins};
use super::{GlobalArgs, OutputFormat, UsageError};
use crate::cluster::snapshot;

/// The bundled example (used when no `-f` is given).
const EXAMPLE: &[(&str, &str)] = &[
    (
        "examples/simulate/nodepools.yaml",
        include_str!("../../examples/simulate/nodepools.yaml"),
    ),
    (
        "examples/simulate/workload.yaml",
        include_str!("../../examples/simulate/workload.yaml"),
    ),
];

/// The bundled disruption example (used with `--disrupt` when no `-f` is given).
const EXAMPLE_DISRUPT: &[(&str, &str)] = &[(
    "examples/simulate/disruption.yaml",
    include_str!("../../examples/simulate/disruption.yaml"),
)];

/// Packing strategy flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyArg {
    /// Best of several orderings, never worse than `karpenter` on pending pods or price
    Default,
    /// Upstream Karpenter's ordering and first-fit, for parity
    Karpenter,
}

/// `kubectl karpenter simulate` arguments.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Manifest files or directories (multi-document YAML or JSON); repeat or list several
    #[arg(short = 'f', long = "filename", value_name = "FILE", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Instance-type catalog in the embedded catalog's JSON format (needed outside us-east-1)
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Packing strategy
    #[arg(long, value_enum, default_value = "default")]
    pub strategy: StrategyArg,
    /// Read pending pods, nodes, NodePools and volumes from the cluster (read-only) instead of files
    ///
    /// Lists (never writes) NodePools, EC2NodeClasses, Nodes, NodeClaims, Pods, DaemonSets,
    /// PersistentVolumeClaims, PersistentVolumes and StorageClasses through the kubeconfig.
    /// Pending pods are those Karpenter would provision for: not bound to a node, not terminal or
    /// being deleted, not owned by a DaemonSet or a Node, no nominated node, no scheduling gates,
    /// and marked Unschedulable by the kube-scheduler, or (default scheduler only) not yet looked
    /// at by it. Pods on nodes being deleted are re-planned; pods bound to nodes use the nodes'
    /// allocatable and count for topology; cordoned nodes take no new pods. -n/--namespace
    /// restricts only which pending pods are simulated.
    #[arg(long, conflicts_with = "files")]
    pub from_cluster: bool,
    /// Also show what disruption would do now: emptiness, drift, expiration, consolidation
    ///
    /// Nodes labelled karpenter.sh/nodepool are Karpenter's; Pods with spec.nodeName are bound
    /// there; NodeClaims are optional (one is assumed per managed Node). Without -f, the bundled
    /// examples/simulate/disruption.yaml is used.
    #[arg(long, help_heading = "Disruption")]
    pub disrupt: bool,
    /// The time disruption is evaluated at (RFC 3339, e.g. 2026-03-02T12:00:00Z; default now)
    ///
    /// consolidateAfter, expireAfter, budget schedules and do-not-disrupt durations are
    /// evaluated at this time.
    #[arg(long, value_name = "TIME", value_parser = parse_now, requires = "disrupt", help_heading = "Disruption")]
    pub now: Option<Timestamp>,
    /// Feature gates as upstream names them, e.g. SpotToSpotConsolidation=true (read with --disrupt)
    #[arg(
        long,
        env = "FEATURE_GATES",
        value_name = "GATES",
        help_heading = "Disruption"
    )]
    pub feature_gates: Option<String>,
    /// A consolidation must save at least this many $/hour (against churn; default 0)
    #[arg(long, value_name = "USD", value_parser = parse_min_savings, requires = "disrupt", help_heading = "Disruption")]
    pub min_savings: Option<f64>,
}

fn parse_now(s: &str) -> Result<Timestamp, String> {
    s.parse::<Timestamp>()
        .map_err(|e| format!("{s:?} is not an RFC 3339 time such as 2026-03-02T12:00:00Z ({e})"))
}

/// `--feature-gates` (or `FEATURE_GATES`), parsed only when disruption reads it, so that a value
/// meant for another program does not stop a plain `simulate`.
fn feature_gates(value: Option<&str>) -> Result<FeatureGates, UsageError> {
    let gates = FeatureGates::parse(value.unwrap_or_default()).map_err(|e| {
        UsageError(format!(
            "invalid value {:?} for --feature-gates (or FEATURE_GATES): {e}",
            value.unwrap_or_default()
        ))
    })?;
    for gate in gates.unsupported() {
        eprintln!("note: feature gate {gate} is on but not supported yet; it has no effect");
    }
    Ok(gates)
}

fn parse_min_savings(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not an amount of $/hour such as 0.05")),
    }
}

/// The JSON contract with `--disrupt`: simulate's, plus the disruption plan's `commands[]`,
/// `unchosen[]`, `pricePerHourBefore` and `pricePerHourAfter`.
#[derive(Debug, Serialize)]
struct DisruptOutput<'a> {
    #[serde(flatten)]
    simulate: &'a SimulateOutput,
    #[serde(flatten)]
    plan: &'a karpenter_disruption::Plan,
}

/// The stable JSON contract.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulateOutput {
    /// New NodeClaims.
    pub node_claims: Vec<NodeClaimOut>,
    /// Existing node → pods placed there.
    pub existing_nodes: BTreeMap<String, Vec<String>>,
    /// Σ price of the new NodeClaims (USD/hour).
    pub price_per_hour: f64,
    /// LP lower bound on the price for the pods placed on new NodeClaims.
    pub lower_bound_price_per_hour: f64,
    /// Pods left pending.
    pub pending: Vec<PendingOut>,
    /// Wall-clock solve time.
    pub solve_seconds: f64,
}

/// One NodeClaim in the output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimOut {
    /// NodePool.
    pub node_pool: String,
    /// Allowed instance types, cheapest first.
    pub instance_types: Vec<String>,
    /// Cheapest type.
    pub instance_type: String,
    /// Zone of the cheapest offering.
    pub zone: String,
    /// Capacity type of the cheapest offering.
    pub capacity_type: String,
    /// USD/hour.
    pub price_per_hour: f64,
    /// `namespace/name` of its pods.
    pub pods: Vec<String>,
    /// The labels the NodeClaim would carry: `karpenter.sh/nodepool`, the node class, the
    /// NodePool's template labels and the pods' single-valued custom requirements.
    pub labels: BTreeMap<String, String>,
}

/// A pending pod.
#[derive(Debug, Clone, Serialize)]
pub struct PendingOut {
    /// `namespace/name`.
    pub pod: String,
    /// Why.
    pub reason: String,
}

/// The manifest sources: `(name, text)` of each file, directories expanded (`*.yaml`, `*.yml`,
/// `*.json`, sorted), or the bundled example when no file is given.
fn sources(files: &[PathBuf], disrupt: bool) -> anyhow::Result<Vec<(String, String)>> {
    if files.is_empty() {
        let example = if disrupt { EXAMPLE_DISRUPT } else { EXAMPLE };
        eprintln!(
            "no -f given: simulating the bundled example ({})",
            if disrupt {
                EXAMPLE_DISRUPT[0].0
            } else {
                "examples/simulate"
            }
        );
        return Ok(example
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect());
    }
    read_manifests(files)
}

/// `(name, text)` of each file, directories expanded (`*.yaml`, `*.yml`, `*.json`, sorted).
pub(crate) fn read_manifests(files: &[PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    let mut paths = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(f)
                .with_context(|| format!("cannot read directory {}", f.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yaml" | "yml" | "json")
                        )
                })
                .collect();
            if found.is_empty() {
                bail!(
                    "directory {} has no .yaml, .yml or .json files",
                    f.display()
                );
            }
            found.sort();
            paths.extend(found);
        } else {
            paths.push(f.clone());
        }
    }
    paths
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))
                .map(|s| (f.display().to_string(), s))
        })
        .collect()
}

/// Reads the cluster snapshot through the kubeconfig (list requests only).
async fn read_cluster(global: &GlobalArgs) -> anyhow::Result<Snapshot> {
    let config = crate::cluster::client::config(&global.kube_options()).await?;
    let server = config.cluster_url.to_string();
    let client = snapshot::client(config)?;
    Ok(snapshot::read(&client, &server).await?)
}

/// Run `kubectl karpenter simulate`.
pub fn run(global: &GlobalArgs, args: SimulateArgs) -> anyhow::Result<ExitCode> {
    // usage errors before anything is read
    let disrupt_opts = if args.disrupt {
        Some(DisruptOptions {
            now: args.now.unwrap_or_else(Timestamp::now),
            feature_gates: feature_gates(args.feature_gates.as_deref())?,
            strategy: match args.strategy {
                StrategyArg::Default => karpenter_disruption::Strategy::Default,
                StrategyArg::Karpenter => karpenter_disruption::Strategy::Karpenter,
            },
            min_savings_per_hour: args.min_savings.unwrap_or(0.0),
        })
    } else {
        None
    };
    let (reader, origins) = if args.from_cluster {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let snap = rt.block_on(read_cluster(global))?;
        let mut reader = Reader::new(Source::Cluster);
        let s = reader.add_snapshot(&snap, global.namespace.as_deref())?;
        eprintln!(
            "read from the cluster: {} NodePools, {} nodes, {} in-flight NodeClaims, {} pods \
             ({} pending{}, {} bound to nodes), {} DaemonSets",
            s.node_pools,
            s.nodes,
            s.in_flight,
            snap.pods.len(),
            s.pending,
            global
                .namespace
                .as_deref()
                .map(|n| format!(" in namespace {n}"))
                .unwrap_or_default(),
            s.bound,
            s.daemon_sets
        );
        if args.disrupt {
            eprintln!(
                "read {} PodDisruptionBudgets",
                snap.pod_disruption_budgets.len()
            );
        }
        (reader, Origins::cluster())
    } else {
        let mut reader = Reader::new(Source::Manifests);
        let sources = sources(&args.files, args.disrupt)?;
        for (name, text) in &sources {
            reader.add_source(name, text)?;
        }
        (reader, Origins::from_sources(&sources))
    };
    let region = global
        .region
        .clone()
        .or_else(|| reader.cluster.region_hint())
        .unwrap_or_else(|| "us-east-1".to_string());
    let catalog = match &args.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read catalog {}", path.display()))?;
            Catalog::from_json(&text).with_context(|| format!("catalog {}", path.display()))?
        }
        None => Catalog::embedded().clone(),
    };
    let opts = ProblemOptions {
        namespace: global.namespace.clone().filter(|_| args.from_cluster),
        ..ProblemOptions::default()
    };
    let prepared = reader.cluster.problem(&catalog, &region, &opts)?;
    for note in reader.notes.iter().chain(&prepared.notes) {
        eprintln!("note: {note}");
    }
    let problem = prepared.problem;
    // Disruption first: a bad input fails before anything is printed.
    let disruption = if let Some(opts) = disrupt_opts {
        let (plan, stats, notes) =
            disrupt::plan(&reader.cluster, &origins, &catalog, &region, &opts)?;
        for note in notes.iter().filter(|n| !prepared.notes.contains(n)) {
            eprintln!("note: {note}");
        }
        Some((plan, stats, opts))
    } else {
        None
    };
    let strategy = match args.strategy {
        StrategyArg::Default => Strategy::Default,
        StrategyArg::Karpenter => Strategy::Karpenter,
    };
    let start = Instant::now();
    let solution = solve(
        &problem,
        &SolveOptions {
            strategy,
            ..Default::default()
        },
    )?;
    let solve_seconds = start.elapsed().as_secs_f64();
    let pod_name = |i: usize| {
        let p = &problem.pods[i];
        format!("{}/{}", p.namespace, p.name)
    };
    let mut pending: Vec<PendingOut> = solution
        .pending
        .iter()
        .map(|p| PendingOut {
            pod: pod_name(p.pod),
            reason: p.reason.clone(),
        })
        .collect();
    pending.extend(prepared.pending.into_iter().map(|p| PendingOut {
        pod: p.pod,
        reason: p.reason,
    }));
    let out = SimulateOutput {
        node_claims: solution
            .node_claims
            .iter()
            .map(|c| NodeClaimOut {
                node_pool: c.node_pool.clone(),
                instance_types: c.instance_types.iter().cloned().collect(),
                instance_type: c.instance_type.clone(),
                zone: c.zone.clone(),
                capacity_type: c.capacity_type.clone(),
                price_per_hour: round6(c.price_per_hour),
                pods: c.pods.iter().map(|&i| pod_name(i)).collect(),
                labels: {
                    let mut l = c.labels();
                    let class = problem
                        .node_pools
                        .iter()
                        .find(|p| p.name == c.node_pool)
                        .map(|p| p.node_class.as_str())
                        .filter(|n| !n.is_empty());
                    if let Some(class) = class {
                        l.insert(
                            karpenter_api::labels::EC2NODECLASS.to_string(),
                            class.to_string(),
                        );
                    }
                    l
                },
            })
            .collect(),
        existing_nodes: solution
            .existing_nodes
            .iter()
            .map(|(n, pods)| (n.clone(), pods.iter().map(|&i| pod_name(i)).collect()))
            .collect(),
        price_per_hour: round6(solution.price_per_hour),
        lower_bound_price_per_hour: round6(solution.lower_bound_price_per_hour),
        pending,
        solve_seconds,
    };
    let format = global.output.unwrap_or(OutputFormat::Table);
    if let Some((plan, stats, opts)) = &disruption {
        let both = DisruptOutput {
            simulate: &out,
            plan,
        };
        match format {
            OutputFormat::Json => print!("{}", super::output::to_json(&both)?),
            OutputFormat::Yaml => print!("{}", super::output::to_yaml(&both)?),
            OutputFormat::Table => {
                if out.node_claims.is_empty()
                    && out.existing_nodes.is_empty()
                    && out.pending.is_empty()
                {
                    println!("Provisioning: no pending pods.\n");
                } else {
                    println!("Provisioning:\n{}", table(&out));
                }
                print!("{}", disrupt::table(plan, stats, opts));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    match format {
        OutputFormat::Json => print!("{}", super::output::to_json(&out)?),
        OutputFormat::Yaml => print!("{}", super::output::to_yaml(&out)?),
        OutputFormat::Table => print!("{}", table(&out)),
    }
    Ok(ExitCode::SUCCESS)
}

fn round6(x: f64) -> f64 {
    // `+ 0.0` turns a -0.0 (an empty sum's rounding) into 0.0
    (x * 1e6).round() / 1e6 + 0.0
}

fn table(o: &SimulateOutput) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<16} {:<18} {:<12} {:<10} {:>9} {:>5}  OTHER TYPES",
        "NODEPOOL", "INSTANCE TYPE", "ZONE", "CAPACITY", "$/HOUR", "PODS"
    );
    for c in &o.node_claims {
        let _ = writeln!(
            s,
            "{:<16} {:<18} {:<12} {:<10} {:>9.4} {:>5}  {}",
            c.node_pool,
            c.instance_type,
            c.zone,
            c.capacity_type,
            c.price_per_hour,
            c.pods.len(),
            c.instance_types.len().saturating_sub(1)
        );
    }
    for (n, pods) in &o.existing_nodes {
        let _ = writeln!(s, "existing node {n}: {} pods", pods.len());
    }
    let _ = writeln!(
        s,
        "\n{} new NodeClaims, ${:.4}/hour (lower bound ${:.4}/hour), solved in {:.1} ms",
        o.node_claims.len(),
        o.price_per_hour,
        o.lower_bound_price_per_hour,
        o.solve_seconds * 1e3
    );
    if !o.pending.is_empty() {
        let _ = writeln!(s, "\n{} pods pending:", o.pending.len());
        for p in &o.pending {
            let _ = writeln!(s, "  {}: {}", p.pod, p.reason);
        }
    }
    s
}

/// Paths of the bundled example, relative to the repository root.
pub fn example_paths() -> Vec<&'static Path> {
    EXAMPLE.iter().map(|(p, _)| Path::new(*p)).collect()
}

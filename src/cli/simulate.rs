//! `kubectl karpenter simulate`: run the scheduling engine on ordinary Kubernetes YAML, or on a
//! read-only snapshot of a live cluster (`--from-cluster`).
//!
//! Input: Pods, Deployments, StatefulSets, ReplicaSets, Jobs (replicas expand to pods),
//! DaemonSets (overhead), NodePools, EC2NodeClasses, existing Nodes and in-flight NodeClaims,
//! and PersistentVolumeClaims, PersistentVolumes and StorageClasses (volume topology). Output:
//! the NodeClaims Karpenter would create, their price, an LP lower bound, and pods left pending
//! with reasons. Both inputs go through the same adapter, so they are interpreted alike.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::storage::v1 as storage;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use karpenter_scheduling::instancetype::AmiFamily;
use karpenter_scheduling::model::{
    self as m, ExistingNode, HostPort, InclusionPolicy, LabelSelectorRequirement, PodAffinityTerm,
    RunningPod, Taint, TaintEffect, Toleration, TopologySpreadConstraint, Weighted,
    WhenUnsatisfiable,
};
use karpenter_scheduling::resources::{parse_resource, Resources};
use karpenter_scheduling::{
    solve, Catalog, DaemonSet, NodePool, NodeSelectorRequirement, Operator, OverheadOptions, Pod,
    Problem, SolveOptions, Strategy,
};
use serde::Serialize;
use serde_json::Value;

use super::{GlobalArgs, OutputFormat};
use crate::cluster::snapshot::{self, ClusterSnapshot};

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
fn sources(files: &[PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    if files.is_empty() {
        eprintln!("no -f given: simulating the bundled example (examples/simulate)");
        return Ok(EXAMPLE
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect());
    }
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
async fn read_cluster(global: &GlobalArgs) -> anyhow::Result<ClusterSnapshot> {
    let config = crate::cluster::client::config(global).await?;
    let server = config.cluster_url.to_string();
    let client = snapshot::client(config)?;
    Ok(snapshot::read(&client, &server).await?)
}

/// Run `kubectl karpenter simulate`.
pub fn run(global: &GlobalArgs, args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let input = if args.from_cluster {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let snap = rt.block_on(read_cluster(global))?;
        let mut input = Input::new(Source::Cluster);
        input.add_cluster(&snap, global.namespace.as_deref())?;
        input
    } else {
        let mut input = Input::new(Source::Files);
        for (name, text) in &sources(&args.files)? {
            input.add_source(name, text)?;
        }
        input
    };
    let region = global
        .region
        .clone()
        .or_else(|| input.region_hint())
        .unwrap_or_else(|| "us-east-1".to_string());
    let catalog = match &args.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read catalog {}", path.display()))?;
            Catalog::from_json(&text).with_context(|| format!("catalog {}", path.display()))?
        }
        None => Catalog::embedded().clone(),
    };
    let prepared = input.into_problem(&catalog, &region)?;
    for note in &prepared.notes {
        eprintln!("note: {note}");
    }
    let problem = prepared.problem;
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
    pending.extend(prepared.pending);
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
    match global.output.unwrap_or(OutputFormat::Table) {
        OutputFormat::Json => print!("{}", super::output::to_json(&out)?),
        OutputFormat::Yaml => print!("{}", super::output::to_yaml(&out)?),
        OutputFormat::Table => print!("{}", table(&out)),
    }
    Ok(ExitCode::SUCCESS)
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
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

/// Where the objects come from; it decides which pods are pending and how strictly missing
/// objects are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Manifests: every unbound Pod is pending; a malformed object is an error; a StorageClass
    /// that is not in the input adds no requirement.
    Files,
    /// A cluster snapshot: only provisionable pods are pending; the lists are complete, so a
    /// missing StorageClass is a reason to stay pending, as upstream's validation makes it.
    Cluster,
}

/// A volume of a pod that is (or will be) backed by a PersistentVolumeClaim.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VolumeRef {
    /// The claim's name (in the pod's namespace).
    claim: String,
    /// For claims the pod's controller creates (StatefulSet `volumeClaimTemplates`, `ephemeral`
    /// volumes): the template's `storageClassName`, used when the claim does not exist yet.
    template: Option<Option<String>>,
}

/// A pod bound to a node.
#[derive(Debug, Clone)]
struct BoundPod {
    node: String,
    pod: Pod,
    volumes: Vec<VolumeRef>,
    /// Not terminating: counts for topology and anti-affinity.
    counts: bool,
    /// Would be re-planned if its node is deleted (not a DaemonSet or mirror pod, not being
    /// deleted, in the `-n` namespace if one is given).
    reschedulable: bool,
}

/// A launched NodeClaim (in-flight capacity until its Node registers).
#[derive(Debug, Clone)]
struct InFlight {
    node: ExistingNode,
    provider_id: String,
}

/// Collected objects from all manifests or from the cluster snapshot.
struct Input {
    source: Source,
    pods: Vec<Pod>,
    /// Parallel to `pods`.
    pod_volumes: Vec<Vec<VolumeRef>>,
    bound: Vec<BoundPod>,
    daemon_sets: Vec<DaemonSet>,
    node_pools: Vec<NodePool>,
    node_classes: BTreeMap<String, OverheadOptions>,
    nodes: Vec<ExistingNode>,
    /// Node name → `spec.providerID`.
    provider_ids: BTreeMap<String, String>,
    /// Nodes being deleted (or disrupted by Karpenter): no new pods; their pods are re-planned.
    deleting_nodes: BTreeSet<String>,
    in_flight: Vec<InFlight>,
    claims: BTreeMap<(String, String), core::PersistentVolumeClaim>,
    volumes: BTreeMap<String, core::PersistentVolume>,
    storage_classes: BTreeMap<String, storage::StorageClass>,
    /// Pods the adapter already decided are pending (missing claims, ...).
    pending: Vec<PendingOut>,
    notes: Vec<String>,
}

/// A [`Problem`] plus what the adapter decided on its own.
struct Prepared {
    problem: Problem,
    /// Pods left pending before the engine ran (their volumes cannot be resolved, ...).
    pending: Vec<PendingOut>,
    /// Things the user should know (NodePools skipped, ...).
    notes: Vec<String>,
}

/// Kinds that do not affect scheduling and are skipped.
const IGNORED_KINDS: &[&str] = &[
    "Namespace",
    "Service",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Ingress",
    "NetworkPolicy",
    "PriorityClass",
];

/// Legacy zone keys a PersistentVolume may use, mapped as Karpenter's AWS provider maps them
/// (`NormalizedLabels`).
fn normalize_volume_key(key: &str) -> &str {
    match key {
        "topology.ebs.csi.aws.com/zone" | "failure-domain.beta.kubernetes.io/zone" => {
            "topology.kubernetes.io/zone"
        }
        "failure-domain.beta.kubernetes.io/region" => "topology.kubernetes.io/region",
        other => other,
    }
}

const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
/// Karpenter v1's taint on nodes it is disrupting.
const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";
/// Karpenter v1beta1's taint (value `disrupting`) on nodes it is disrupting.
const DISRUPTING_TAINT_V1BETA1: &str = "karpenter.sh/disruption";
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

fn is_deleting(meta: &meta::ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

fn owner_kind_is(meta: &meta::ObjectMeta, kinds: &[&str]) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| kinds.contains(&o.kind.as_str()))
}

/// What a pod read from the cluster is to the simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PodRole {
    /// Provisionable: simulate it.
    Pending,
    /// Bound to this node.
    Bound(String),
    /// Neither (terminal, being deleted, a DaemonSet pod, gated, another scheduler's, ...).
    Skip,
}

/// Upstream's `IsProvisionable` (`pkg/utils/pod/scheduling.go`), widened to pods the default
/// kube-scheduler has not looked at yet (no `PodScheduled` condition): a snapshot may catch
/// them before the scheduler does.
fn cluster_pod_role(pod: &core::Pod) -> PodRole {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        return PodRole::Skip;
    }
    let spec = pod.spec.as_ref();
    if let Some(node) = spec.and_then(|s| s.node_name.as_deref()) {
        if !node.is_empty() {
            return PodRole::Bound(node.to_string());
        }
    }
    if is_deleting(&pod.metadata) || owner_kind_is(&pod.metadata, &["DaemonSet", "Node"]) {
        return PodRole::Skip;
    }
    if status
        .and_then(|s| s.nominated_node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
    {
        return PodRole::Skip;
    }
    if spec
        .and_then(|s| s.scheduling_gates.as_ref())
        .is_some_and(|g| !g.is_empty())
    {
        return PodRole::Skip;
    }
    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    match scheduled {
        Some(c) if c.status == "False" && c.reason.as_deref() == Some("Unschedulable") => {
            PodRole::Pending
        }
        Some(_) => PodRole::Skip,
        None => {
            let scheduler = spec.and_then(|s| s.scheduler_name.as_deref()).unwrap_or("");
            if scheduler.is_empty() || scheduler == "default-scheduler" {
                PodRole::Pending
            } else {
                PodRole::Skip
            }
        }
    }
}

/// The claims a pod's volumes use: `persistentVolumeClaim` volumes, and `ephemeral` volumes
/// (claim `<pod>-<volume>`; skipped on bound pods, whose claim goes away with them, as upstream).
fn volume_refs(pod_name: &str, spec: &core::PodSpec, bound: bool) -> Vec<VolumeRef> {
    let mut out = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(pvc) = &v.persistent_volume_claim {
            out.push(VolumeRef {
                claim: pvc.claim_name.clone(),
                template: None,
            });
        } else if let Some(eph) = &v.ephemeral {
            if bound {
                continue;
            }
            let class = eph
                .volume_claim_template
                .as_ref()
                .and_then(|t| t.spec.storage_class_name.clone());
            out.push(VolumeRef {
                claim: format!("{pod_name}-{}", v.name),
                template: Some(class),
            });
        }
    }
    out
}

/// A NodeClaim's scheduling labels: its labels plus each single-valued `In` requirement.
fn node_claim_labels(doc: &Value) -> BTreeMap<String, String> {
    let mut labels = str_map(doc.pointer("/metadata/labels"));
    for r in doc
        .pointer("/spec/requirements")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = r.get("key").and_then(Value::as_str);
        let op = r.get("operator").and_then(Value::as_str);
        let values = r.get("values").and_then(Value::as_array);
        if let (Some(k), Some("In"), Some([v])) = (key, op, values.map(Vec::as_slice)) {
            if let Some(v) = v.as_str() {
                labels.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
        }
    }
    labels
}

impl Input {
    fn new(source: Source) -> Self {
        Input {
            source,
            pods: Vec::new(),
            pod_volumes: Vec::new(),
            bound: Vec::new(),
            daemon_sets: Vec::new(),
            node_pools: Vec::new(),
            node_classes: BTreeMap::new(),
            nodes: Vec::new(),
            provider_ids: BTreeMap::new(),
            deleting_nodes: BTreeSet::new(),
            in_flight: Vec::new(),
            claims: BTreeMap::new(),
            volumes: BTreeMap::new(),
            storage_classes: BTreeMap::new(),
            pending: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn add_source(&mut self, file: &str, text: &str) -> anyhow::Result<()> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text)
            .map_err(|e| anyhow!("{file}: not valid YAML: {e}"))?;
        for (i, doc) in docs.into_iter().enumerate() {
            if doc.is_null() {
                continue;
            }
            self.add_doc(file, i + 1, doc)?;
        }
        Ok(())
    }

    /// Feed a cluster snapshot through the same per-object code as manifests. `namespace`
    /// restricts which pending pods are simulated; nodes and bound pods are always cluster-wide.
    fn add_cluster(
        &mut self,
        snap: &ClusterSnapshot,
        namespace: Option<&str>,
    ) -> anyhow::Result<()> {
        let origin = "cluster";
        let mut skipped_pools = Vec::new();
        for doc in &snap.node_pools {
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("<unnamed>");
            if let Some(why) = unusable_pool(doc) {
                skipped_pools.push(format!("NodePool {name:?} is skipped: {why}"));
                continue;
            }
            self.add_doc(origin, 0, doc.clone())?;
        }
        if snap.node_pools.is_empty() {
            bail!(
                "no NodePools found: is Karpenter installed? The cluster serves {} nodepools but \
                 none exists; create one (see examples/simulate/nodepools.yaml) or check --context",
                snap.node_pool_version
            );
        }
        self.notes.extend(skipped_pools);
        for doc in snap
            .node_classes
            .iter()
            .chain(&snap.nodes)
            .chain(&snap.node_claims)
            .chain(&snap.daemon_sets)
            .chain(&snap.persistent_volume_claims)
            .chain(&snap.persistent_volumes)
            .chain(&snap.storage_classes)
        {
            self.add_doc(origin, 0, doc.clone())?;
        }
        // pods oldest first, so the engine's creation order matches the cluster's
        let mut pods: Vec<&Value> = snap.pods.iter().collect();
        let key = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        pods.sort_by_key(|v| {
            (
                key(v, "/metadata/creationTimestamp"),
                key(v, "/metadata/namespace"),
                key(v, "/metadata/name"),
            )
        });
        let (mut pending, mut bound) = (0usize, 0usize);
        for doc in pods {
            let pod: core::Pod = match serde_json::from_value(doc.clone()) {
                Ok(p) => p,
                Err(e) => {
                    self.notes.push(format!(
                        "Pod {}/{} is skipped: not a valid Pod ({e})",
                        key(doc, "/metadata/namespace"),
                        key(doc, "/metadata/name")
                    ));
                    continue;
                }
            };
            let role = cluster_pod_role(&pod);
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            if role == PodRole::Pending && namespace.is_some_and(|n| n != ns) {
                continue;
            }
            match &role {
                PodRole::Pending => pending += 1,
                PodRole::Bound(_) => bound += 1,
                PodRole::Skip => continue,
            }
            let name = pod.metadata.name.clone().unwrap_or_default();
            if let Err(e) = self.add_typed_pod(pod, role.clone(), namespace) {
                let reason = format!("cannot be simulated: {e:#}");
                if role == PodRole::Pending {
                    self.pending.push(PendingOut {
                        pod: format!("{ns}/{name}"),
                        reason,
                    });
                } else {
                    self.notes
                        .push(format!("running Pod {ns}/{name} is not counted: {reason}"));
                }
            }
        }
        eprintln!(
            "read from the cluster: {} NodePools, {} nodes, {} in-flight NodeClaims, {} pods \
             ({pending} pending{}, {bound} bound to nodes), {} DaemonSets",
            self.node_pools.len(),
            self.nodes.len(),
            self.in_flight.len(),
            snap.pods.len(),
            namespace
                .map(|n| format!(" in namespace {n}"))
                .unwrap_or_default(),
            self.daemon_sets.len()
        );
        Ok(())
    }

    fn add_doc(&mut self, file: &str, index: usize, doc: Value) -> anyhow::Result<()> {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if kind == "List" {
            if let Some(items) = doc.get("items").and_then(Value::as_array) {
                for item in items.clone() {
                    self.add_doc(file, index, item)?;
                }
            }
            return Ok(());
        }
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>")
            .to_string();
        let explicit_ns = doc.pointer("/metadata/namespace").and_then(Value::as_str);
        let ns = explicit_ns.unwrap_or("default").to_string();
        let what = if kind.is_empty() {
            format!("{file}: document {index}")
        } else if let Some(n) = explicit_ns {
            format!("{file}: {kind} {n}/{name}")
        } else {
            format!("{file}: {kind} {name:?}")
        };
        let r = match kind.as_str() {
            "Pod" => self.add_pod(doc),
            "Deployment" | "StatefulSet" | "ReplicaSet" => {
                let replicas = doc
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                self.add_template(&doc, &ns, &name, replicas)
            }
            "Job" => {
                let n = doc
                    .pointer("/spec/parallelism")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                self.add_template(&doc, &ns, &name, n)
            }
            "DaemonSet" => {
                let t = template(&doc)?;
                let spec = t.spec.clone().unwrap_or_default();
                let pod = pod_from_spec(&ns, &name, labels_of(t.metadata.as_ref()), &spec, 0)?;
                self.daemon_sets.push(DaemonSet { name, pod });
                Ok(())
            }
            "NodePool" => {
                parse_node_pool(&doc, &name, self.source).map(|np| self.node_pools.push(np))
            }
            "EC2NodeClass" => {
                let o = parse_node_class(&doc);
                self.node_classes.insert(name.clone(), o);
                Ok(())
            }
            "Node" => self.add_node(doc, &name),
            "NodeClaim" => self.add_node_claim(&doc, &name),
            "PersistentVolumeClaim" => serde_json::from_value(doc)
                .context("not a valid PersistentVolumeClaim")
                .map(|c| {
                    self.claims.insert((ns.clone(), name.clone()), c);
                }),
            "PersistentVolume" => serde_json::from_value(doc)
                .context("not a valid PersistentVolume")
                .map(|v| {
                    self.volumes.insert(name.clone(), v);
                }),
            "StorageClass" => serde_json::from_value(doc)
                .context("not a valid StorageClass")
                .map(|c| {
                    self.storage_classes.insert(name.clone(), c);
                }),
            "" => Err(anyhow!("missing `kind`")),
            k if IGNORED_KINDS.contains(&k) => Ok(()),
            k => Err(anyhow!(
                "unsupported kind {k:?}: simulate reads Pod, Deployment, StatefulSet, ReplicaSet, \
                 Job, DaemonSet, NodePool, EC2NodeClass, Node, NodeClaim, \
                 PersistentVolumeClaim, PersistentVolume and StorageClass"
            )),
        };
        r.with_context(|| what)
    }

    fn add_node(&mut self, doc: Value, name: &str) -> anyhow::Result<()> {
        let node: core::Node = serde_json::from_value(doc).context("not a valid Node")?;
        let deleting = is_deleting(&node.metadata)
            || node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|t| {
                    t.iter().any(|t| {
                        t.key == DISRUPTED_TAINT
                            || (t.key == DISRUPTING_TAINT_V1BETA1
                                && t.value.as_deref() == Some("disrupting"))
                    })
                });
        if let Some(id) = node.spec.as_ref().and_then(|s| s.provider_id.clone()) {
            self.provider_ids.insert(name.to_string(), id);
        }
        let parsed = parse_node(node, name)?;
        if deleting {
            self.deleting_nodes.insert(name.to_string());
        }
        self.nodes.push(parsed);
        Ok(())
    }

    /// A launched NodeClaim whose Node has not registered yet is in-flight capacity; others
    /// (not launched, registered, being deleted) add nothing.
    fn add_node_claim(&mut self, doc: &Value, name: &str) -> anyhow::Result<()> {
        let text = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or("");
        let provider_id = text("/status/providerID").to_string();
        if provider_id.is_empty()
            || !text("/status/nodeName").is_empty()
            || doc.pointer("/metadata/deletionTimestamp").is_some()
        {
            return Ok(());
        }
        let res = |p: &str, field: &str| -> anyhow::Result<Resources> {
            let map: Option<BTreeMap<String, Quantity>> = doc
                .pointer(p)
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .with_context(|| format!("{field} is not a map of quantities"))?;
            quantities(map.as_ref(), field)
        };
        let capacity = res("/status/capacity", "status.capacity")?;
        let mut allocatable = res("/status/allocatable", "status.allocatable")?;
        if doc.pointer("/status/allocatable").is_none() {
            allocatable = capacity.clone();
        }
        let node = ExistingNode {
            name: name.to_string(),
            labels: node_claim_labels(doc),
            taints: taints(doc.pointer("/spec/taints"), "spec.taints")?,
            capacity,
            allocatable,
            requested: Resources::default(),
            pods: Vec::new(),
            host_ports: Vec::new(),
            initialized: false,
        };
        self.in_flight.push(InFlight { node, provider_id });
        Ok(())
    }

    fn add_pod(&mut self, doc: Value) -> anyhow::Result<()> {
        let pod: core::Pod = serde_json::from_value(doc).context("not a valid Pod")?;
        let role = match self.source {
            Source::Files => match pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                Some(node) if !node.is_empty() => PodRole::Bound(node),
                _ => PodRole::Pending,
            },
            Source::Cluster => cluster_pod_role(&pod),
        };
        self.add_typed_pod(pod, role, None)
    }

    fn add_typed_pod(
        &mut self,
        pod: core::Pod,
        role: PodRole,
        namespace: Option<&str>,
    ) -> anyhow::Result<()> {
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let p = pod_from_spec(
            &ns,
            &name,
            labels_of(Some(&pod.metadata)),
            &spec,
            self.pods.len() as i64,
        )?;
        match role {
            PodRole::Pending => {
                self.pod_volumes.push(volume_refs(&name, &spec, false));
                self.pods.push(p);
            }
            PodRole::Bound(node) => {
                let reschedulable = !owner_kind_is(&pod.metadata, &["DaemonSet", "Node"])
                    && !is_deleting(&pod.metadata)
                    && namespace.is_none_or(|n| n == ns);
                self.bound.push(BoundPod {
                    node,
                    volumes: volume_refs(&name, &spec, true),
                    pod: p,
                    counts: !is_deleting(&pod.metadata),
                    reschedulable,
                });
            }
            PodRole::Skip => {}
        }
        Ok(())
    }

    fn add_template(&mut self, doc: &Value, ns: &str, name: &str, n: i64) -> anyhow::Result<()> {
        if !(0..=1_000_000).contains(&n) {
            bail!("replicas {n} is out of range");
        }
        let t = template(doc)?;
        let spec = t.spec.clone().unwrap_or_default();
        let labels = labels_of(t.metadata.as_ref());
        let base = pod_from_spec(ns, name, labels, &spec, 0)?;
        // StatefulSet volumeClaimTemplates: claim `<template>-<statefulset>-<ordinal>`
        let mut claim_templates = Vec::new();
        if doc.get("kind").and_then(Value::as_str) == Some("StatefulSet") {
            for (i, t) in doc
                .pointer("/spec/volumeClaimTemplates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let field = format!("spec.volumeClaimTemplates[{i}]");
                let vct: core::PersistentVolumeClaim = serde_json::from_value(t.clone())
                    .with_context(|| format!("{field} is not a valid PersistentVolumeClaim"))?;
                let tname = vct
                    .metadata
                    .name
                    .clone()
                    .ok_or_else(|| anyhow!("{field}.metadata.name is missing"))?;
                let class = vct.spec.and_then(|s| s.storage_class_name);
                claim_templates.push((tname, class));
            }
        }
        for i in 0..n {
            let mut p = base.clone();
            p.name = format!("{name}-{i}");
            p.uid = format!("{ns}/{name}-{i:07}");
            p.creation_index = self.pods.len() as i64;
            let mut refs = volume_refs(&p.name, &spec, false);
            for (tname, class) in &claim_templates {
                refs.push(VolumeRef {
                    claim: format!("{tname}-{name}-{i}"),
                    template: Some(class.clone()),
                });
            }
            self.pod_volumes.push(refs);
            self.pods.push(p);
        }
        Ok(())
    }

    /// The region of the existing nodes (`topology.kubernetes.io/region`), if they agree.
    fn region_hint(&self) -> Option<String> {
        let regions: BTreeSet<&String> = self
            .nodes
            .iter()
            .filter_map(|n| n.labels.get("topology.kubernetes.io/region"))
            .collect();
        match regions.len() {
            1 => regions.into_iter().next().cloned(),
            _ => None,
        }
    }

    /// The default StorageClass (annotated `storageclass.kubernetes.io/is-default-class: "true"`);
    /// when several are, the newest, as the admission plugin picks (ties: the first by name).
    fn default_storage_class(&self) -> Option<&str> {
        let mut best: Option<(&String, Option<&meta::Time>)> = None;
        for (name, c) in &self.storage_classes {
            let is_default = c
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                .is_some_and(|v| v == "true");
            if !is_default {
                continue;
            }
            let created = c.metadata.creation_timestamp.as_ref();
            match best {
                Some((_, b)) if created.map(|t| &t.0) <= b.map(|t| &t.0) => {}
                _ => best = Some((name, created)),
            }
        }
        best.map(|(n, _)| n.as_str())
    }

    /// What a missing object is called in reasons: "is not in the input" for manifests.
    fn missing(&self) -> &'static str {
        match self.source {
            Source::Files => "is not in the input",
            Source::Cluster => "does not exist in the cluster",
        }
    }

    fn add_hint(&self) -> &'static str {
        match self.source {
            Source::Files => "add it with -f",
            Source::Cluster => "create it",
        }
    }

    /// Node requirements from a pod's volumes, as upstream's `VolumeTopology` computes them
    /// (first PV node-affinity term, or the first StorageClass `allowedTopologies` term as
    /// `In`), or the reason Karpenter would not provision for the pod
    /// (`ValidatePersistentVolumeClaims`).
    fn volume_requirements(
        &self,
        ns: &str,
        refs: &[VolumeRef],
    ) -> Result<Vec<NodeSelectorRequirement>, String> {
        let mut out = Vec::new();
        for r in refs {
            let claim_ref = format!("PersistentVolumeClaim {ns}/{}", r.claim);
            let claim = self.claims.get(&(ns.to_string(), r.claim.clone()));
            let (volume_name, class) = match (claim, &r.template) {
                (Some(c), _) => {
                    if is_deleting(&c.metadata) {
                        return Err(format!(
                            "{claim_ref} is being deleted; Karpenter ignores pods whose claims \
                             are being deleted: recreate the claim or remove the volume"
                        ));
                    }
                    let status = c.status.as_ref().and_then(|s| s.phase.as_deref());
                    if status == Some("Lost") {
                        return Err(format!(
                            "{claim_ref} is Lost (its PersistentVolume is gone); Karpenter \
                             ignores the pod: restore the volume or recreate the claim"
                        ));
                    }
                    let spec = c.spec.as_ref();
                    (
                        spec.and_then(|s| s.volume_name.clone())
                            .filter(|v| !v.is_empty()),
                        spec.and_then(|s| s.storage_class_name.clone()),
                    )
                }
                (None, Some(class)) => (None, class.clone()),
                (None, None) => {
                    return Err(format!(
                        "{claim_ref} {}; Karpenter ignores pods whose claims do not exist: {} \
                         or fix the pod's volumes",
                        self.missing(),
                        self.add_hint()
                    ))
                }
            };
            if let Some(vname) = volume_name {
                let Some(pv) = self.volumes.get(&vname) else {
                    return Err(format!(
                        "{claim_ref} is bound to PersistentVolume {vname}, which {}: {}",
                        self.missing(),
                        match self.source {
                            Source::Files => "add it with -f (its nodeAffinity pins the zone)",
                            Source::Cluster => "Karpenter ignores the pod until it exists",
                        }
                    ));
                };
                if is_deleting(&pv.metadata) {
                    return Err(format!(
                        "{claim_ref} is bound to PersistentVolume {vname}, which is being \
                         deleted; Karpenter ignores the pod"
                    ));
                }
                out.extend(pv_requirements(&vname, pv)?);
                continue;
            }
            // unbound: the StorageClass decides
            let class = match class {
                Some(c) if c.is_empty() => {
                    return Err(format!(
                        "{claim_ref} is unbound and sets storageClassName: \"\"; Karpenter cannot \
                         provision for an unbound claim without a StorageClass: bind it to a \
                         PersistentVolume or name a StorageClass"
                    ))
                }
                Some(c) => c,
                None => match self.default_storage_class() {
                    Some(d) => d.to_string(),
                    None if self.source == Source::Files => continue,
                    None => {
                        return Err(format!(
                            "{claim_ref} is unbound and has no StorageClass (and the cluster has \
                             no default StorageClass); Karpenter cannot provision for it: name a \
                             StorageClass or bind it to a PersistentVolume"
                        ))
                    }
                },
            };
            let Some(sc) = self.storage_classes.get(&class) else {
                match self.source {
                    // manifests often leave StorageClasses out: no requirement
                    Source::Files => continue,
                    Source::Cluster => {
                        return Err(format!(
                            "{claim_ref} uses StorageClass {class}, which does not exist in the \
                             cluster; Karpenter ignores the pod: create the StorageClass or fix \
                             spec.storageClassName"
                        ))
                    }
                }
            };
            if sc.volume_binding_mode.as_deref() == Some("Immediate") {
                return Err(format!(
                    "{claim_ref} is unbound and its StorageClass {class} uses volumeBindingMode \
                     Immediate; Karpenter ignores the pod until the claim is bound (use \
                     WaitForFirstConsumer so the volume follows the node)"
                ));
            }
            if let Some(term) = sc.allowed_topologies.iter().flatten().next() {
                for e in term.match_label_expressions.iter().flatten() {
                    out.push(NodeSelectorRequirement {
                        key: normalize_volume_key(&e.key).to_string(),
                        operator: Operator::In,
                        values: e.values.clone(),
                        min_values: None,
                    });
                }
            }
        }
        Ok(out)
    }

    fn into_problem(mut self, catalog: &Catalog, region: &str) -> anyhow::Result<Prepared> {
        if self.source == Source::Cluster {
            // upstream: a NodePool whose EC2NodeClass is missing is not Ready and is skipped
            let classes = &self.node_classes;
            let mut notes = Vec::new();
            self.node_pools.retain(|np| {
                let ok = np.node_class.is_empty() || classes.contains_key(&np.node_class);
                if !ok {
                    notes.push(format!(
                        "NodePool {:?} is skipped: its EC2NodeClass {:?} does not exist, so \
                         Karpenter does not use it",
                        np.name, np.node_class
                    ));
                }
                ok
            });
            self.notes.extend(notes);
            if self.node_pools.is_empty() {
                bail!(
                    "no usable NodePools found in the cluster: every NodePool is skipped ({}); \
                     fix them so Karpenter can use them",
                    self.notes.join("; ")
                );
            }
        }
        if self.node_pools.is_empty() {
            bail!(
                "no NodePool in the input: add a karpenter.sh/v1 NodePool manifest with -f \
                 (see examples/simulate/nodepools.yaml)"
            );
        }
        for np in &self.node_pools {
            if !np.node_class.is_empty()
                && !self.node_classes.is_empty()
                && !self.node_classes.contains_key(&np.node_class)
            {
                bail!(
                    "NodePool {:?} references EC2NodeClass {:?}, which is not in the input",
                    np.name,
                    np.node_class
                );
            }
        }
        // One set of kubelet/AMI settings for the catalog: the first referenced EC2NodeClass.
        let opts = self
            .node_pools
            .iter()
            .find_map(|np| self.node_classes.get(&np.node_class))
            .cloned()
            .unwrap_or_default();
        let instance_types = catalog.instance_types(region, &opts)?;

        // Existing capacity: Nodes that are not being deleted, then launched NodeClaims whose
        // Node has not registered.
        let registered: BTreeSet<&String> = self.provider_ids.values().collect();
        let mut nodes: Vec<ExistingNode> = std::mem::take(&mut self.nodes)
            .into_iter()
            .filter(|n| !self.deleting_nodes.contains(&n.name))
            .collect();
        for f in std::mem::take(&mut self.in_flight) {
            if !registered.contains(&f.provider_id) && !nodes.iter().any(|n| n.name == f.node.name)
            {
                nodes.push(f.node);
            }
        }
        // Karpenter nodes not yet initialized: startup taints do not block (upstream ignores
        // them until initialization).
        for n in &mut nodes {
            let karpenter = n.labels.get("karpenter.sh/nodepool");
            if let Some(pool) =
                karpenter.and_then(|p| self.node_pools.iter().find(|np| &np.name == p))
            {
                if n.labels.get("karpenter.sh/initialized").map(String::as_str) != Some("true") {
                    n.initialized = false;
                    n.taints.retain(|t| {
                        !pool
                            .startup_taints
                            .iter()
                            .any(|s| s.key == t.key && s.effect == t.effect)
                    });
                }
            }
        }
        // Bound pods: running pods on their nodes; pods of deleting nodes are re-planned.
        let index: BTreeMap<String, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let mut rescheduled = 0usize;
        for b in std::mem::take(&mut self.bound) {
            if self.deleting_nodes.contains(&b.node) {
                if b.reschedulable && b.counts {
                    let mut p = b.pod;
                    p.creation_index = self.pods.len() as i64;
                    self.pods.push(p);
                    self.pod_volumes.push(b.volumes);
                    rescheduled += 1;
                }
                continue;
            }
            if let Some(n) = index.get(&b.node).map(|&i| &mut nodes[i]) {
                let mut r = b.pod.requests.clone();
                r.pods = 1;
                n.requested.add(&r);
                n.host_ports.extend(b.pod.host_ports.iter().cloned());
                if b.counts {
                    n.pods.push(RunningPod {
                        namespace: b.pod.namespace.clone(),
                        labels: b.pod.labels.clone(),
                        pod_anti_affinity: b.pod.pod_anti_affinity.clone(),
                    });
                }
            }
        }
        if rescheduled > 0 {
            self.notes.push(format!(
                "{rescheduled} pods on nodes being deleted are re-planned with the pending pods"
            ));
        }
        // Volume topology, or pending with the reason.
        let mut pods = Vec::with_capacity(self.pods.len());
        let mut pending = std::mem::take(&mut self.pending);
        let all = std::mem::take(&mut self.pods);
        let refs = std::mem::take(&mut self.pod_volumes);
        for (mut p, refs) in all.into_iter().zip(refs) {
            match self.volume_requirements(&p.namespace, &refs) {
                Ok(reqs) => {
                    p.volume_requirements = reqs;
                    p.creation_index = pods.len() as i64;
                    pods.push(p);
                }
                Err(reason) => pending.push(PendingOut {
                    pod: format!("{}/{}", p.namespace, p.name),
                    reason,
                }),
            }
        }
        Ok(Prepared {
            problem: Problem {
                instance_types,
                node_pools: self.node_pools,
                daemon_sets: self.daemon_sets,
                existing_nodes: nodes,
                pods,
            },
            pending,
            notes: self.notes,
        })
    }
}

/// Why upstream would not use a NodePool read from the cluster (being deleted, static,
/// not Ready), if so.
fn unusable_pool(doc: &Value) -> Option<&'static str> {
    if doc.pointer("/metadata/deletionTimestamp").is_some() {
        return Some("it is being deleted");
    }
    if doc.pointer("/spec/replicas").is_some_and(|r| !r.is_null()) {
        return Some("it is a static NodePool (spec.replicas), which provisioning does not use");
    }
    let ready = doc
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|c| c.get("status").and_then(Value::as_str));
    if ready == Some("False") {
        return Some("it is not Ready (see its status.conditions)");
    }
    None
}

/// A bound PersistentVolume's node requirements: its first node-affinity term (terms are ORed;
/// upstream uses the first), without the hostname of `local`/`hostPath` volumes.
fn pv_requirements(
    name: &str,
    pv: &core::PersistentVolume,
) -> Result<Vec<NodeSelectorRequirement>, String> {
    let Some(spec) = pv.spec.as_ref() else {
        return Ok(Vec::new());
    };
    let Some(term) = spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
        .and_then(|r| r.node_selector_terms.first())
    else {
        return Ok(Vec::new());
    };
    let node_local = spec.local.is_some() || spec.host_path.is_some();
    let mut out = Vec::new();
    for (i, e) in term.match_expressions.iter().flatten().enumerate() {
        if node_local && e.key == "kubernetes.io/hostname" {
            continue;
        }
        let operator = Operator::parse(&e.operator).ok_or_else(|| {
            format!(
                "PersistentVolume {name}: spec.nodeAffinity.required.nodeSelectorTerms[0].\
                 matchExpressions[{i}] has unknown operator {:?}; fix the volume",
                e.operator
            )
        })?;
        out.push(NodeSelectorRequirement {
            key: normalize_volume_key(&e.key).to_string(),
            operator,
            values: e.values.clone().unwrap_or_default(),
            min_values: None,
        });
    }
    Ok(out)
}

fn template(doc: &Value) -> anyhow::Result<core::PodTemplateSpec> {
    let t = doc
        .pointer("/spec/template")
        .cloned()
        .ok_or_else(|| anyhow!("spec.template is missing"))?;
    serde_json::from_value(t).context("spec.template is not a valid pod template")
}

fn labels_of(meta: Option<&meta::ObjectMeta>) -> BTreeMap<String, String> {
    meta.and_then(|m| m.labels.clone()).unwrap_or_default()
}

fn quantities(list: Option<&BTreeMap<String, Quantity>>, field: &str) -> anyhow::Result<Resources> {
    let mut r = Resources::default();
    for (k, q) in list.into_iter().flatten() {
        let v = parse_resource(k, &q.0).with_context(|| format!("{field}.{k}"))?;
        r.set(k, v);
    }
    Ok(r)
}

fn container_requests(c: &core::Container, field: &str) -> anyhow::Result<Resources> {
    let res = c.resources.as_ref();
    let req = quantities(
        res.and_then(|r| r.requests.as_ref()),
        &format!("{field}.resources.requests"),
    )?;
    // Kubernetes defaults a missing request to the limit
    let lim = quantities(
        res.and_then(|r| r.limits.as_ref()),
        &format!("{field}.resources.limits"),
    )?;
    let mut out = req.clone();
    let has = |name: &str| {
        res.and_then(|r| r.requests.as_ref())
            .is_some_and(|m| m.contains_key(name))
    };
    for name in ["cpu", "memory", "ephemeral-storage"] {
        if !has(name) && lim.get(name) > 0 {
            out.set(name, lim.get(name));
        }
    }
    for (k, v) in &lim.extended {
        if !has(k) {
            out.extended.insert(k.clone(), *v);
        }
    }
    Ok(out)
}

/// Effective requests: max(Σ containers + sidecars, each init container + earlier sidecars),
/// plus pod overhead.
fn effective_requests(spec: &core::PodSpec) -> anyhow::Result<Resources> {
    let mut main = Resources::default();
    for (i, c) in spec.containers.iter().enumerate() {
        main.add(&container_requests(c, &format!("spec.containers[{i}]"))?);
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let r = container_requests(c, &format!("spec.initContainers[{i}]"))?;
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
        } else {
            let mut x = r;
            x.add(&sidecars);
            init_max.max_with(&x);
        }
    }
    main.add(&sidecars);
    main.max_with(&init_max);
    main.add(&quantities(spec.overhead.as_ref(), "spec.overhead")?);
    main.pods = 1;
    Ok(main)
}

fn selector(s: Option<&meta::LabelSelector>) -> m::LabelSelector {
    let Some(s) = s else {
        // a nil selector matches nothing
        return m::LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "karpenter.sh/simulate-nil-selector".into(),
                operator: "Exists".into(),
                values: vec![],
            }],
        };
    };
    m::LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions: s
            .match_expressions
            .iter()
            .flatten()
            .map(|e| LabelSelectorRequirement {
                key: e.key.clone(),
                operator: e.operator.clone(),
                values: e.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn node_terms(
    exprs: Option<&Vec<core::NodeSelectorRequirement>>,
    field: &str,
) -> anyhow::Result<Vec<NodeSelectorRequirement>> {
    exprs
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, e)| {
            let op = Operator::parse(&e.operator)
                .ok_or_else(|| anyhow!("{field}[{i}]: unknown operator {:?}", e.operator))?;
            Ok(NodeSelectorRequirement {
                key: e.key.clone(),
                operator: op,
                values: e.values.clone().unwrap_or_default(),
                min_values: None,
            })
        })
        .collect()
}

fn affinity_term(t: &core::PodAffinityTerm) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: selector(t.label_selector.as_ref()),
        namespaces: t.namespaces.clone().unwrap_or_default(),
        topology_key: t.topology_key.clone(),
    }
}

fn effect(s: Option<&str>) -> anyhow::Result<Option<TaintEffect>> {
    Ok(match s {
        None | Some("") => None,
        Some("NoSchedule") => Some(TaintEffect::NoSchedule),
        Some("PreferNoSchedule") => Some(TaintEffect::PreferNoSchedule),
        Some("NoExecute") => Some(TaintEffect::NoExecute),
        Some(o) => bail!("unknown taint effect {o:?}"),
    })
}

fn pod_from_spec(
    ns: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    spec: &core::PodSpec,
    index: i64,
) -> anyhow::Result<Pod> {
    let mut p = Pod {
        namespace: ns.to_string(),
        name: name.to_string(),
        uid: format!("{ns}/{name}"),
        labels,
        requests: effective_requests(spec)?,
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        creation_index: index,
        ..Default::default()
    };
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        p.tolerations.push(Toleration {
            key: t.key.clone().unwrap_or_default(),
            operator: t.operator.clone().unwrap_or_default(),
            value: t.value.clone().unwrap_or_default(),
            effect: effect(t.effect.as_deref())
                .with_context(|| format!("spec.tolerations[{i}]"))?,
        });
    }
    if let Some(aff) = &spec.affinity {
        if let Some(na) = &aff.node_affinity {
            if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
                for (i, t) in req.node_selector_terms.iter().enumerate() {
                    p.required_node_affinity.push(node_terms(
                        t.match_expressions.as_ref(),
                        &format!("nodeAffinity.required.nodeSelectorTerms[{i}]"),
                    )?);
                }
            }
            for (i, w) in na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .enumerate()
            {
                p.preferred_node_affinity.push(Weighted {
                    weight: w.weight,
                    term: node_terms(
                        w.preference.match_expressions.as_ref(),
                        &format!("nodeAffinity.preferred[{i}]"),
                    )?,
                });
            }
        }
        if let Some(pa) = &aff.pod_affinity {
            for t in pa
                .required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
            {
                p.pod_affinity.push(affinity_term(t));
            }
            for w in pa
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
            {
                p.preferred_pod_affinity.push(Weighted {
                    weight: w.weight,
                    term: affinity_term(&w.pod_affinity_term),
                });
            }
        }
        if let Some(pa) = &aff.pod_anti_affinity {
            for t in pa
                .required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
            {
                p.pod_anti_affinity.push(affinity_term(t));
            }
            for w in pa
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
            {
                p.preferred_pod_anti_affinity.push(Weighted {
                    weight: w.weight,
                    term: affinity_term(&w.pod_affinity_term),
                });
            }
        }
    }
    for (i, c) in spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .enumerate()
    {
        let policy = |s: Option<&String>| match s.map(String::as_str) {
            Some("Honor") => Some(InclusionPolicy::Honor),
            Some("Ignore") => Some(InclusionPolicy::Ignore),
            _ => None,
        };
        let when = match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" => WhenUnsatisfiable::DoNotSchedule,
            "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
            o => {
                bail!("spec.topologySpreadConstraints[{i}].whenUnsatisfiable: unknown value {o:?}")
            }
        };
        p.topology_spread_constraints
            .push(TopologySpreadConstraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key.clone(),
                when_unsatisfiable: when,
                label_selector: selector(c.label_selector.as_ref()),
                min_domains: c.min_domains,
                node_affinity_policy: policy(c.node_affinity_policy.as_ref()),
                node_taints_policy: policy(c.node_taints_policy.as_ref()),
                match_label_keys: c.match_label_keys.clone().unwrap_or_default(),
            });
    }
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for port in c.ports.iter().flatten() {
            if let Some(hp) = port.host_port.filter(|&h| h > 0) {
                p.host_ports.push(HostPort {
                    host_ip: port.host_ip.clone().unwrap_or_default(),
                    port: hp,
                    protocol: port.protocol.clone().unwrap_or_default(),
                });
            }
        }
    }
    Ok(p)
}

fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let s = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn taints(v: Option<&Value>, field: &str) -> anyhow::Result<Vec<Taint>> {
    let mut out = Vec::new();
    for (i, t) in v
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let key = t
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{field}[{i}].key is missing"))?;
        let eff = effect(t.get("effect").and_then(Value::as_str))
            .with_context(|| format!("{field}[{i}].effect"))?
            .ok_or_else(|| anyhow!("{field}[{i}].effect is missing"))?;
        out.push(Taint {
            key: key.to_string(),
            value: t
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            effect: eff,
        });
    }
    Ok(out)
}

/// A NodePool's scheduling fields. Manifests must be `karpenter.sh/v1`; from a cluster that only
/// serves `v1beta1`, those are read too (the scheduling fields have the same shape).
fn parse_node_pool(doc: &Value, name: &str, source: Source) -> anyhow::Result<NodePool> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let v1beta1_ok = source == Source::Cluster && api == "karpenter.sh/v1beta1";
    if api != "karpenter.sh/v1" && !v1beta1_ok {
        bail!(
            "apiVersion {api:?} is not supported: simulate reads karpenter.sh/v1 NodePools \
             (convert older ones with `kubectl karpenter convert`)"
        );
    }
    let spec = doc.pointer("/spec/template/spec");
    let mut requirements = Vec::new();
    for (i, r) in spec
        .and_then(|s| s.get("requirements"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = format!("spec.template.spec.requirements[{i}]");
        let key = r
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{field}.key is missing"))?;
        let op_s = r.get("operator").and_then(Value::as_str).unwrap_or("");
        let operator = Operator::parse(op_s)
            .ok_or_else(|| anyhow!("{field}.operator: unknown operator {op_s:?}"))?;
        let values = r
            .get("values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let min_values = r
            .get("minValues")
            .and_then(Value::as_u64)
            .map(|v| v as usize);
        let term = NodeSelectorRequirement {
            key: key.to_string(),
            operator,
            values,
            min_values,
        };
        karpenter_scheduling::Requirement::from_term(&term).with_context(|| field.clone())?;
        requirements.push(term);
    }
    let mut limits = BTreeMap::new();
    for (k, v) in doc
        .pointer("/spec/limits")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let s = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        let q = parse_resource(k, &s).with_context(|| format!("spec.limits.{k}"))?;
        limits.insert(k.clone(), q);
    }
    Ok(NodePool {
        name: name.to_string(),
        weight: doc
            .pointer("/spec/weight")
            .and_then(Value::as_i64)
            .unwrap_or(0) as i32,
        requirements,
        labels: str_map(doc.pointer("/spec/template/metadata/labels")),
        taints: taints(
            spec.and_then(|s| s.get("taints")),
            "spec.template.spec.taints",
        )?,
        startup_taints: taints(
            spec.and_then(|s| s.get("startupTaints")),
            "spec.template.spec.startupTaints",
        )?,
        limits,
        node_class: spec
            .and_then(|s| s.pointer("/nodeClassRef/name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

fn parse_node_class(doc: &Value) -> OverheadOptions {
    let mut o = OverheadOptions::default();
    let alias = doc
        .pointer("/spec/amiSelectorTerms/0/alias")
        .and_then(Value::as_str)
        .unwrap_or("");
    let family = alias.split('@').next().unwrap_or("");
    let fam_field = doc.pointer("/spec/amiFamily").and_then(Value::as_str);
    o.ami_family = match fam_field.unwrap_or(family).to_ascii_lowercase().as_str() {
        "al2" => AmiFamily::AL2,
        "bottlerocket" => AmiFamily::Bottlerocket,
        "windows2019" | "windows2022" | "windows2025" => AmiFamily::Windows,
        "custom" => AmiFamily::Custom,
        _ => AmiFamily::AL2023,
    };
    o.max_pods = doc.pointer("/spec/kubelet/maxPods").and_then(Value::as_i64);
    o.pods_per_core = doc
        .pointer("/spec/kubelet/podsPerCore")
        .and_then(Value::as_i64);
    o
}

/// An existing Node: labels, taints (a cordoned node gets the `node.kubernetes.io/unschedulable`
/// taint the node controller adds, so only pods tolerating it may land), capacity, allocatable.
fn parse_node(node: core::Node, name: &str) -> anyhow::Result<ExistingNode> {
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let status = node.status.unwrap_or_default();
    let capacity = quantities(status.capacity.as_ref(), "status.capacity")?;
    let mut allocatable = quantities(status.allocatable.as_ref(), "status.allocatable")?;
    if status.allocatable.is_none() {
        allocatable = capacity.clone();
    }
    let mut taints_out = Vec::new();
    for (i, t) in node
        .spec
        .and_then(|s| s.taints)
        .into_iter()
        .flatten()
        .enumerate()
    {
        taints_out.push(Taint {
            key: t.key,
            value: t.value.unwrap_or_default(),
            effect: effect(Some(&t.effect))
                .with_context(|| format!("spec.taints[{i}].effect"))?
                .unwrap_or(TaintEffect::NoSchedule),
        });
    }
    if cordoned && !taints_out.iter().any(|t| t.key == UNSCHEDULABLE_TAINT) {
        taints_out.push(Taint {
            key: UNSCHEDULABLE_TAINT.to_string(),
            value: String::new(),
            effect: TaintEffect::NoSchedule,
        });
    }
    Ok(ExistingNode {
        name: name.to_string(),
        labels: node.metadata.labels.unwrap_or_default(),
        taints: taints_out,
        capacity,
        allocatable,
        requested: Resources::default(),
        pods: Vec::new(),
        host_ports: Vec::new(),
        initialized: true,
    })
}

/// Paths of the bundled example, relative to the repository root.
pub fn example_paths() -> Vec<&'static Path> {
    EXAMPLE.iter().map(|(p, _)| Path::new(*p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_example_parses_into_a_problem() {
        let mut input = Input::new(Source::Files);
        for (n, s) in EXAMPLE {
            input.add_source(n, s).unwrap();
        }
        let prepared = input
            .into_problem(Catalog::embedded(), "us-east-1")
            .unwrap();
        assert!(prepared.pending.is_empty());
        let p = prepared.problem;
        assert!(!p.node_pools.is_empty());
        assert!(p.pods.len() >= 10);
        assert_eq!(example_paths().len(), 2);
    }

    fn pod(v: serde_json::Value) -> core::Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn cluster_pods_follow_upstreams_provisionable_rule() {
        let unschedulable = serde_json::json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable"});
        let cases = [
            (
                serde_json::json!({"metadata": {"name": "a"}, "status": {"conditions": [unschedulable]}}),
                PodRole::Pending,
            ),
            // not looked at yet by the default scheduler
            (
                serde_json::json!({"metadata": {"name": "a"}, "status": {"phase": "Pending"}}),
                PodRole::Pending,
            ),
            (
                serde_json::json!({"metadata": {"name": "a"}, "spec": {"containers": [], "schedulerName": "fargate-scheduler"}}),
                PodRole::Skip,
            ),
            (
                serde_json::json!({"metadata": {"name": "a"}, "spec": {"containers": [], "nodeName": "n1"}}),
                PodRole::Bound("n1".into()),
            ),
            (
                serde_json::json!({"metadata": {"name": "a"}, "spec": {"containers": [], "nodeName": "n1"}, "status": {"phase": "Succeeded"}}),
                PodRole::Skip,
            ),
            (
                serde_json::json!({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"conditions": [unschedulable]}}),
                PodRole::Skip,
            ),
            (
                serde_json::json!({"metadata": {"name": "a", "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u"}]}}),
                PodRole::Skip,
            ),
            (
                serde_json::json!({"metadata": {"name": "a"}, "status": {"nominatedNodeName": "n2", "conditions": [unschedulable]}}),
                PodRole::Skip,
            ),
            (
                serde_json::json!({"metadata": {"name": "a"}, "spec": {"containers": [], "schedulingGates": [{"name": "g"}]}}),
                PodRole::Skip,
            ),
            (
                serde_json::json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}),
                PodRole::Skip,
            ),
        ];
        for (i, (v, want)) in cases.into_iter().enumerate() {
            assert_eq!(cluster_pod_role(&pod(v)), want, "case {i}");
        }
    }

    #[test]
    fn pv_requirements_use_the_first_term_and_drop_local_hostnames() {
        let pv: core::PersistentVolume = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "local-1"},
            "spec": {"local": {"path": "/mnt/d"}, "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["ip-1"]},
                    {"key": "failure-domain.beta.kubernetes.io/zone", "operator": "In", "values": ["us-east-1b"]}
                ]},
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]}]}
            ]}}}
        }))
        .unwrap();
        let r = pv_requirements("local-1", &pv).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].key, "topology.kubernetes.io/zone");
        assert_eq!(r[0].values, ["us-east-1b"]);

        let bad: core::PersistentVolume = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "odd"},
            "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "k", "operator": "Near", "values": ["x"]}]}
            ]}}}
        }))
        .unwrap();
        let e = pv_requirements("odd", &bad).unwrap_err();
        assert!(
            e.contains("PersistentVolume odd") && e.contains("Near"),
            "{e}"
        );
    }

    fn with_claims(source: Source, docs: &str) -> Input {
        let mut input = Input::new(source);
        input.add_source("t.yaml", docs).unwrap();
        input
    }

    #[test]
    fn unbound_claims_use_the_default_storage_class_and_missing_classes_depend_on_source() {
        let docs = "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: zonal
  annotations: {storageclass.kubernetes.io/is-default-class: 'true'}
provisioner: ebs.csi.aws.com
allowedTopologies: [{matchLabelExpressions: [{key: topology.kubernetes.io/zone, values: [us-east-1d]}]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: no-class, namespace: ns}
spec: {}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: empty-class, namespace: ns}
spec: {storageClassName: ''}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: gone-class, namespace: ns}
spec: {storageClassName: gone}
";
        let claim = |c: &str| {
            vec![VolumeRef {
                claim: c.to_string(),
                template: None,
            }]
        };
        for source in [Source::Files, Source::Cluster] {
            let input = with_claims(source, docs);
            let r = input.volume_requirements("ns", &claim("no-class")).unwrap();
            assert_eq!(r[0].values, ["us-east-1d"], "{source:?}");
            let e = input
                .volume_requirements("ns", &claim("empty-class"))
                .unwrap_err();
            assert!(e.contains("ns/empty-class"), "{e}");
        }
        let files = with_claims(Source::Files, docs);
        assert!(files
            .volume_requirements("ns", &claim("gone-class"))
            .unwrap()
            .is_empty());
        let cluster = with_claims(Source::Cluster, docs);
        let e = cluster
            .volume_requirements("ns", &claim("gone-class"))
            .unwrap_err();
        assert!(
            e.contains("StorageClass gone") && e.contains("does not exist"),
            "{e}"
        );
        // a generated claim that does not exist yet uses its template's class
        let generated = [VolumeRef {
            claim: "data-db-0".into(),
            template: Some(Some("zonal".into())),
        }];
        let r = cluster.volume_requirements("ns", &generated).unwrap();
        assert_eq!(r[0].operator, Operator::In);
    }

    #[test]
    fn disrupted_and_deleting_nodes_are_marked_and_cordoned_nodes_tainted() {
        let input = with_claims(
            Source::Cluster,
            "apiVersion: v1
kind: Node
metadata: {name: v1}
spec: {taints: [{key: karpenter.sh/disrupted, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: v1beta1}
spec: {taints: [{key: karpenter.sh/disruption, value: disrupting, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: gone, deletionTimestamp: '2026-01-01T00:00:00Z'}
---
apiVersion: v1
kind: Node
metadata: {name: cordoned}
spec: {unschedulable: true}
",
        );
        let deleting: Vec<&str> = input.deleting_nodes.iter().map(String::as_str).collect();
        assert_eq!(deleting, ["gone", "v1", "v1beta1"]);
        let cordoned = input.nodes.iter().find(|n| n.name == "cordoned").unwrap();
        assert_eq!(cordoned.taints.len(), 1);
        assert_eq!(cordoned.taints[0].key, UNSCHEDULABLE_TAINT);
        assert_eq!(cordoned.taints[0].effect, TaintEffect::NoSchedule);
    }

    #[test]
    fn the_newest_default_storage_class_wins() {
        let input = with_claims(
            Source::Cluster,
            "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: a-old, creationTimestamp: '2024-01-01T00:00:00Z', annotations: {storageclass.kubernetes.io/is-default-class: 'true'}}
provisioner: x
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: b-new, creationTimestamp: '2025-01-01T00:00:00Z', annotations: {storageclass.kubernetes.io/is-default-class: 'true'}}
provisioner: x
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: c-newest-not-default, creationTimestamp: '2026-01-01T00:00:00Z'}
provisioner: x
",
        );
        assert_eq!(input.default_storage_class(), Some("b-new"));
    }

    #[test]
    fn node_claim_labels_come_from_single_valued_requirements() {
        let doc = serde_json::json!({
            "metadata": {"labels": {"karpenter.sh/nodepool": "p"}},
            "spec": {"requirements": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1b"]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.large", "m5.xlarge"]},
                {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64"]}
            ]}
        });
        let l = node_claim_labels(&doc);
        assert_eq!(
            l.get("topology.kubernetes.io/zone").map(String::as_str),
            Some("us-east-1b")
        );
        assert_eq!(
            l.get("karpenter.sh/nodepool").map(String::as_str),
            Some("p")
        );
        assert!(!l.contains_key("node.kubernetes.io/instance-type"));
        assert!(!l.contains_key("kubernetes.io/arch"));
    }

    #[test]
    fn init_containers_and_sidecars_follow_kubernetes_rules() {
        let spec: core::PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "100Mi"}}}
            ],
            "overhead": {"cpu": "10m"}
        }))
        .unwrap();
        let r = effective_requests(&spec).unwrap();
        // init: 2000m + 100m sidecar = 2100m > 600m main; + 10m overhead
        assert_eq!(r.cpu_millis, 2110);
        assert_eq!(r.memory_bytes, 1 << 30);
    }

    #[test]
    fn limits_default_missing_requests() {
        let spec: core::PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}}}]
        }))
        .unwrap();
        let r = effective_requests(&spec).unwrap();
        assert_eq!(r.cpu_millis, 1000);
        assert_eq!(r.extended.get("nvidia.com/gpu"), Some(&1));
    }
}

//! `kubectl karpenter simulate`: run the scheduling engine on ordinary Kubernetes YAML.
//!
//! Input: Pods, Deployments, StatefulSets, ReplicaSets, Jobs (replicas expand to pods),
//! DaemonSets (overhead), NodePools, EC2NodeClasses and existing Nodes. Output: the NodeClaims
//! Karpenter would create, their price, an LP lower bound, and pods left pending with reasons.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use k8s_openapi::api::core::v1 as core;
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

use super::{GlobalArgs, NotYetSupported, OutputFormat};

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
#[command(
    about = "Simulate Karpenter's provisioning for Kubernetes manifests (no AWS, no cluster)",
    long_about = "Simulate Karpenter's provisioning for Kubernetes manifests: which NodeClaims it \
                  would create, at what hourly price, and which pods stay pending and why. \
                  Reads Pods, Deployments, StatefulSets, ReplicaSets, Jobs, DaemonSets, NodePools, \
                  EC2NodeClasses and Nodes. Without -f, simulates the bundled example workload."
)]
pub struct SimulateArgs {
    /// Manifest files (multi-document YAML or JSON); repeat or list several
    #[arg(short = 'f', long = "filename", value_name = "FILE", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Instance-type catalog in the embedded catalog's JSON format (needed outside us-east-1)
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Packing strategy
    #[arg(long, value_enum, default_value = "default")]
    pub strategy: StrategyArg,
    /// Read pending pods, nodes and NodePools from the cluster instead of files
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
#[derive(Debug, Serialize)]
pub struct PendingOut {
    /// `namespace/name`.
    pub pod: String,
    /// Why.
    pub reason: String,
}

pub fn run(global: &GlobalArgs, args: SimulateArgs) -> anyhow::Result<ExitCode> {
    if args.from_cluster {
        return Err(NotYetSupported("simulate --from-cluster").into());
    }
    let sources: Vec<(String, String)> = if args.files.is_empty() {
        eprintln!("no -f given: simulating the bundled example (examples/simulate)");
        EXAMPLE
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect()
    } else {
        args.files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))
                    .map(|s| (f.display().to_string(), s))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let mut input = Input::default();
    for (name, text) in &sources {
        input.add_source(name, text)?;
    }
    let region = global.region.as_deref().unwrap_or("us-east-1");
    let catalog = match &args.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read catalog {}", path.display()))?;
            Catalog::from_json(&text).with_context(|| format!("catalog {}", path.display()))?
        }
        None => Catalog::embedded().clone(),
    };
    let problem = input.into_problem(&catalog, region)?;
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
    let out = SimulateOutput {
        node_claims: solution
            .node_claims
            .iter()
            .map(|c| NodeClaimOut {
                node_pool: c.node_pool.clone(),
                instance_types: c.instance_types.clone(),
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
        pending: solution
            .pending
            .iter()
            .map(|p| PendingOut {
                pod: pod_name(p.pod),
                reason: p.reason.clone(),
            })
            .collect(),
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

/// Collected objects from all manifests.
#[derive(Default)]
struct Input {
    pods: Vec<Pod>,
    bound: Vec<(String, Pod)>,
    daemon_sets: Vec<DaemonSet>,
    node_pools: Vec<NodePool>,
    node_classes: BTreeMap<String, OverheadOptions>,
    nodes: Vec<ExistingNode>,
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
    "StorageClass",
    "PriorityClass",
    "NodeClaim",
];

impl Input {
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
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let what = if kind.is_empty() {
            format!("{file}: document {index}")
        } else {
            format!("{file}: {kind} {name:?}")
        };
        let r = match kind.as_str() {
            "Pod" => self.add_pod(doc, &ns, &name),
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
            "NodePool" => parse_node_pool(&doc, &name).map(|np| self.node_pools.push(np)),
            "EC2NodeClass" => {
                let o = parse_node_class(&doc);
                self.node_classes.insert(name.clone(), o);
                Ok(())
            }
            "Node" => parse_node(doc, &name).map(|n| self.nodes.push(n)),
            "" => Err(anyhow!("missing `kind`")),
            k if IGNORED_KINDS.contains(&k) => Ok(()),
            k => Err(anyhow!(
                "unsupported kind {k:?}: simulate reads Pod, Deployment, StatefulSet, ReplicaSet, \
                 Job, DaemonSet, NodePool, EC2NodeClass and Node"
            )),
        };
        r.with_context(|| what)
    }

    fn add_pod(&mut self, doc: Value, ns: &str, name: &str) -> anyhow::Result<()> {
        let pod: core::Pod = serde_json::from_value(doc).context("not a valid Pod")?;
        let spec = pod.spec.unwrap_or_default();
        let p = pod_from_spec(
            ns,
            name,
            labels_of(Some(&pod.metadata)),
            &spec,
            self.pods.len() as i64,
        )?;
        match spec.node_name {
            Some(node) if !node.is_empty() => self.bound.push((node, p)),
            _ => self.pods.push(p),
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
        for i in 0..n {
            let mut p = base.clone();
            p.name = format!("{name}-{i}");
            p.uid = format!("{ns}/{name}-{i:07}");
            p.creation_index = self.pods.len() as i64;
            self.pods.push(p);
        }
        Ok(())
    }

    fn into_problem(self, catalog: &Catalog, region: &str) -> anyhow::Result<Problem> {
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
        let mut nodes = self.nodes;
        for (node, pod) in self.bound {
            if let Some(n) = nodes.iter_mut().find(|n| n.name == node) {
                let mut r = pod.requests.clone();
                r.pods = 1;
                n.requested.add(&r);
                n.host_ports.extend(pod.host_ports.iter().cloned());
                n.pods.push(RunningPod {
                    namespace: pod.namespace.clone(),
                    labels: pod.labels.clone(),
                    pod_anti_affinity: pod.pod_anti_affinity.clone(),
                });
            }
        }
        Ok(Problem {
            instance_types,
            node_pools: self.node_pools,
            daemon_sets: self.daemon_sets,
            existing_nodes: nodes,
            pods: self.pods,
        })
    }
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

fn parse_node_pool(doc: &Value, name: &str) -> anyhow::Result<NodePool> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api != "karpenter.sh/v1" {
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

fn parse_node(doc: Value, name: &str) -> anyhow::Result<ExistingNode> {
    let node: core::Node = serde_json::from_value(doc).context("not a valid Node")?;
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
        let mut input = Input::default();
        for (n, s) in EXAMPLE {
            input.add_source(n, s).unwrap();
        }
        let p = input
            .into_problem(Catalog::embedded(), "us-east-1")
            .unwrap();
        assert!(!p.node_pools.is_empty());
        assert!(p.pods.len() >= 10);
        assert_eq!(example_paths().len(), 2);
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

//! `kubectl karpenter simulate --disrupt`: what Karpenter's disruption would do to the cluster now
//! (emptiness, drift, expiration, consolidation), and the $/h before and after.
//!
//! The cluster model (`karpenter_state::Cluster`, from manifests or `--from-cluster`) goes through
//! `karpenter_disruption::input_from_cluster` at `--now`, then `karpenter_disruption::plan`;
//! this module checks what the engine would otherwise only note (a Node naming a NodePool that is
//! not in the input, a budget that cannot be parsed), names the file and object of each, and
//! renders the plan. Upstream: `kubernetes-sigs/karpenter: pkg/controllers/disruption/`
//! (`controller.go`, the methods in order), `pkg/operator/options/options.go` (feature gates).
use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Context;
use k8s_openapi::jiff::Timestamp;
use karpenter_disruption::budget::NodesValue;
use karpenter_disruption::plan::money;
use karpenter_disruption::timing::PoolSettings;
use karpenter_disruption::{Plan, Stats, Strategy};
use karpenter_scheduling::Catalog;
use karpenter_state::{Cluster, FeatureGates, PdbState, Source};
use serde_json::Value;

/// What `simulate --disrupt` was asked (plain values; the flags live in `simulate`).
#[derive(Debug, Clone, PartialEq)]
pub struct DisruptOptions {
    /// The evaluation time (`--now`).
    pub now: Timestamp,
    /// `--feature-gates` / `FEATURE_GATES`.
    pub feature_gates: FeatureGates,
    /// `--strategy`.
    pub strategy: Strategy,
    /// `--min-savings` ($/h).
    pub min_savings_per_hour: f64,
}

impl DisruptOptions {
    /// The engine's options.
    pub fn engine(&self) -> karpenter_disruption::Options {
        karpenter_disruption::Options {
            spot_to_spot_consolidation: self.feature_gates.spot_to_spot_consolidation,
            strategy: self.strategy,
            min_savings_per_hour: self.min_savings_per_hour,
            ..karpenter_disruption::Options::default()
        }
    }
}

/// Which file each object of the input came from, so that errors name it.
#[derive(Debug, Default)]
pub struct Origins {
    /// `(kind, name)` → file (namespaced objects as `namespace/name`).
    files: BTreeMap<(String, String), String>,
    /// The objects were read from the cluster.
    cluster: bool,
}

impl Origins {
    /// The objects of manifest sources `(file, text)`. Documents that do not parse are left out
    /// (the reader has refused them already).
    pub fn from_sources(sources: &[(String, String)]) -> Self {
        let mut o = Origins::default();
        for (file, text) in sources {
            let Ok(docs) = serde_saphyr::from_multiple::<Value>(text) else {
                continue;
            };
            for doc in &docs {
                o.add(file, doc);
            }
        }
        o
    }

    /// Objects listed from the cluster.
    pub fn cluster() -> Self {
        Origins {
            cluster: true,
            ..Origins::default()
        }
    }

    fn add(&mut self, file: &str, doc: &Value) {
        let text = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or("");
        if text("/kind") == "List" {
            for item in doc
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.add(file, item);
            }
            return;
        }
        let name = match doc.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) => format!("{ns}/{}", text("/metadata/name")),
            None => text("/metadata/name").to_string(),
        };
        self.files
            .entry((text("/kind").to_string(), name))
            .or_insert_with(|| file.to_string());
    }

    /// `file: Kind "name"` (`the cluster: ...` for listed objects).
    pub fn describe(&self, kind: &str, name: &str) -> String {
        let file = if self.cluster {
            "the cluster"
        } else {
            self.files
                .get(&(kind.to_string(), name.to_string()))
                .map_or("the input", String::as_str)
        };
        format!("{file}: {kind} {name:?}")
    }
}

/// What the checks found: problems that make the input unusable, and notes.
#[derive(Debug, Default)]
struct Findings {
    errors: Vec<String>,
    notes: Vec<String>,
}

/// The checks the engine would only note. From manifests, each is an error naming the file, the
/// object and the field; from the cluster, a disruption budget that cannot be parsed is a note
/// (upstream fails such a budget closed: the NodePool's nodes are not disrupted) and a node whose
/// NodePool is gone is left alone with that reason.
fn check(cluster: &Cluster, origins: &Origins, now: Timestamp) -> Findings {
    let manifests = cluster.source == Source::Manifests;
    let mut f = Findings::default();
    for e in cluster.node_pools() {
        let name = e.pool.metadata.name.clone().unwrap_or_default();
        let object = origins.describe("NodePool", &name);
        let settings = match PoolSettings::from_nodepool(&e.pool) {
            Ok(s) => s,
            Err(se) => {
                f.errors
                    .push(format!("{object}: {}: {}", se.field, se.problem));
                continue;
            }
        };
        let mut problems: Vec<String> = settings
            .budgets
            .errors(now)
            .into_iter()
            .map(|b| {
                format!(
                    "{object}: spec.disruption.budgets[{}].{}: {}",
                    b.index, b.field, b.problem
                )
            })
            .collect();
        // `nodes` is parsed only while its budget is active: check it at any time
        let reported = settings.budgets.errors(now);
        for b in &settings.budgets.budgets {
            let already = reported
                .iter()
                .any(|e| e.index == b.index && e.field == "nodes");
            if !already && NodesValue::parse(&b.nodes).is_none() {
                problems.push(format!(
                    "{object}: spec.disruption.budgets[{}].nodes: {:?} is neither a node count \
                     nor a percentage: use e.g. \"5\" or \"10%\"",
                    b.index, b.nodes
                ));
            }
        }
        if manifests {
            f.errors.extend(problems);
        } else {
            f.notes.extend(problems.into_iter().map(|p| {
                format!("{p}; Karpenter disrupts no node of this NodePool until it is fixed")
            }));
        }
    }
    for pdb in cluster.pdbs() {
        let Err(e) = PdbState::compute(pdb, std::iter::empty()) else {
            continue;
        };
        let name = format!(
            "{}/{}",
            pdb.metadata.namespace.as_deref().unwrap_or("default"),
            pdb.metadata.name.as_deref().unwrap_or("")
        );
        let detail = e
            .strip_prefix(&format!("PDB {name}: "))
            .unwrap_or(&e)
            .to_string();
        let field = if detail.starts_with("minAvailable") || detail.starts_with("maxUnavailable") {
            "spec."
        } else {
            "spec.selector: "
        };
        f.errors.push(format!(
            "{}: {field}{detail}",
            origins.describe("PodDisruptionBudget", &name)
        ));
    }
    if manifests {
        for sn in cluster.state_nodes() {
            let Some(pool) = sn.node_pool() else { continue };
            if cluster.node_pool(pool).is_some() {
                continue;
            }
            let kind = if sn.node.is_some() {
                "Node"
            } else {
                "NodeClaim"
            };
            f.errors.push(format!(
                "{}: metadata.labels[karpenter.sh/nodepool]: NodePool {pool:?} is not in the \
                 input; add it with -f, or remove the label if Karpenter does not manage this node",
                origins.describe(kind, sn.name())
            ));
        }
    }
    f
}

/// The disruption plan for `cluster` at `opts.now`, with the engine's statistics and notes.
pub fn plan(
    cluster: &Cluster,
    origins: &Origins,
    catalog: &Catalog,
    region: &str,
    opts: &DisruptOptions,
) -> anyhow::Result<(Plan, Stats, Vec<String>)> {
    let found = check(cluster, origins, opts.now);
    if !found.errors.is_empty() {
        anyhow::bail!("{}", found.errors.join("; "));
    }
    let (input, mut notes) = karpenter_disruption::input_from_cluster(
        cluster,
        catalog,
        region,
        opts.now,
        &BTreeMap::new(),
    )
    .context("cannot read the cluster for disruption")?;
    notes.extend(found.notes);
    let (mut plan, stats) = karpenter_disruption::plan(&input, &opts.engine())
        .context("the disruption simulation failed")?;
    for c in &mut plan.commands {
        c.savings_per_hour = round6(c.savings_per_hour);
        for r in &mut c.replacements {
            r.price_per_hour = round6(r.price_per_hour);
        }
    }
    plan.price_per_hour_before = round6(plan.price_per_hour_before);
    plan.price_per_hour_after = round6(plan.price_per_hour_after);
    Ok((plan, stats, notes))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6 + 0.0
}

/// `1 command`, `2 commands`.
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Up to `n` names, then how many more.
fn some(names: &[String], n: usize) -> String {
    let mut s = names.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > n {
        let _ = write!(s, ", … ({} in all)", names.len());
    }
    s
}

/// The table view: each command with its wave, reason, candidates, replacements, savings and
/// explanation; the nodes left alone and why; the $/h before and after.
pub fn table(plan: &Plan, stats: &Stats, opts: &DisruptOptions) -> String {
    let mut s = String::new();
    let strategy = match opts.strategy {
        Strategy::Default => "default",
        Strategy::Karpenter => "karpenter",
    };
    let _ = writeln!(
        s,
        "Disruption at {} (strategy {strategy}, SpotToSpotConsolidation={}{}):",
        opts.now,
        opts.feature_gates.spot_to_spot_consolidation,
        if opts.min_savings_per_hour > 0.0 {
            format!(", minimum saving {}", money(opts.min_savings_per_hour))
        } else {
            String::new()
        }
    );
    if plan.commands.is_empty() {
        let _ = writeln!(
            s,
            "nothing to do: no node would be disrupted, every node stays as it is"
        );
    }
    for (i, c) in plan.commands.iter().enumerate() {
        let _ = writeln!(
            s,
            "\n{}. wave {}  {}  {} {}  saves {}",
            i + 1,
            c.wave,
            c.reason,
            c.decision(),
            some(&c.candidates, 8),
            money(c.savings_per_hour)
        );
        for r in &c.replacements {
            let _ = writeln!(
                s,
                "   launch {} in {}, {}, {} (launch list: {})",
                r.instance_type,
                r.zone,
                r.capacity_type,
                money(r.price_per_hour),
                some(&r.instance_types, 5)
            );
        }
        let _ = writeln!(s, "   why: {}", c.explanation);
    }
    if !plan.unchosen.is_empty() {
        let _ = writeln!(s, "\nNot disrupted:");
        for u in &plan.unchosen {
            let _ = writeln!(s, "  {}: {}", u.node, u.reason);
        }
    }
    let before = plan.price_per_hour_before;
    let after = plan.price_per_hour_after;
    let saved = before - after;
    let _ = writeln!(
        s,
        "\n{} in {}; $/h before {} → after {} (saves {}{})",
        count(plan.commands.len(), "command"),
        count(
            plan.commands.iter().map(|c| c.wave).max().unwrap_or(0) as usize,
            "wave"
        ),
        money(before),
        money(after),
        money(saved),
        if before > 0.0 {
            format!(", {:.1}%", saved / before * 100.0)
        } else {
            String::new()
        }
    );
    if opts.strategy == Strategy::Karpenter && !plan.commands.is_empty() {
        let _ = writeln!(
            s,
            "upstream's controller needs {} passes and at least {} s of 15 s re-validations",
            stats.passes, stats.validation_wait_seconds
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_state::Reader;

    const POOL: &str = r#"apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: []
  disruption:
    budgets: [{nodes: "1", schedule: "0 9 * * mon-fri", duration: 8 hours}]
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  role: R
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {k: v}}]
  securityGroupSelectorTerms: [{tags: {k: v}}]
"#;

    fn now() -> Timestamp {
        "2026-03-02T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn origins_name_the_file_of_each_object() {
        let o = Origins::from_sources(&[
            ("pools.yaml".into(), POOL.into()),
            (
                "pods.yaml".into(),
                "kind: List\nitems:\n- {kind: Pod, metadata: {name: p, namespace: shop}}\n".into(),
            ),
            ("broken.yaml".into(), "kind: [".into()),
        ]);
        assert_eq!(
            o.describe("NodePool", "default"),
            "pools.yaml: NodePool \"default\""
        );
        assert_eq!(o.describe("Pod", "shop/p"), "pods.yaml: Pod \"shop/p\"");
        assert_eq!(o.describe("Node", "n"), "the input: Node \"n\"");
        assert_eq!(
            Origins::cluster().describe("NodePool", "default"),
            "the cluster: NodePool \"default\""
        );
    }

    #[test]
    fn a_bad_budget_is_an_error_from_manifests_and_a_note_from_the_cluster() {
        let mut r = Reader::new(Source::Manifests);
        r.add_source("pools.yaml", POOL).unwrap();
        let sources = [("pools.yaml".to_string(), POOL.to_string())];
        let f = check(&r.cluster, &Origins::from_sources(&sources), now());
        assert_eq!(f.errors.len(), 1, "{f:?}");
        assert!(
            f.errors[0].starts_with(
                "pools.yaml: NodePool \"default\": spec.disruption.budgets[0].duration:"
            ),
            "{f:?}"
        );
        assert!(f.notes.is_empty());

        let mut r = Reader::new(Source::Cluster);
        r.add_source("cluster", POOL).unwrap();
        assert!(r.cluster.node_pool("default").is_some());
        let f = check(&r.cluster, &Origins::cluster(), now());
        assert!(f.errors.is_empty(), "{f:?}");
        assert_eq!(f.notes.len(), 1, "{f:?}");
        assert!(
            f.notes[0].contains("the cluster: NodePool \"default\"")
                && f.notes[0].contains("disrupts no node of this NodePool"),
            "{f:?}"
        );
    }

    #[test]
    fn options_map_onto_the_engine() {
        let o = DisruptOptions {
            now: now(),
            feature_gates: FeatureGates::parse("SpotToSpotConsolidation=true").unwrap(),
            strategy: Strategy::Karpenter,
            min_savings_per_hour: 0.05,
        };
        let e = o.engine();
        assert!(e.spot_to_spot_consolidation);
        assert_eq!(e.strategy, Strategy::Karpenter);
        assert_eq!(e.min_savings_per_hour, 0.05);
        assert_eq!(
            e.max_waves,
            karpenter_disruption::Options::default().max_waves
        );
    }
}

//! The modelled cluster, changed wave by wave: nodes, budget counts (upstream:
//! `pkg/controllers/disruption/helpers.go`, `BuildDisruptionBudgetMapping`), replacement pricing.
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::jiff::Timestamp;
use karpenter_scheduling::labels as l;
use karpenter_scheduling::{InstanceType, NodeClaimPlan, Pod, Resources, SolveOptions};

use crate::budget::{BudgetMapping, DisruptionReason, PoolCounts};
use crate::engine::candidates::Cand;
use crate::input::{DisruptionInput, NodeInput, Options, Strategy};
use crate::plan::Replacement;
use crate::price::{PricedCandidate, ReplacementClaim};
use crate::timing::{consolidatable, Consolidatable};

/// The modelled cluster, changed wave by wave.
pub(super) struct World<'a> {
    pub(super) input: &'a DisruptionInput,
    pub(super) opts: &'a Options,
    pub(super) now: Timestamp,
    /// The nodes: the input's, borrowed until a wave changes them, then the replacements.
    pub(super) nodes: Vec<Cow<'a, NodeInput>>,
    pub(super) gone: Vec<bool>,
    /// Index of the NodePool settings by name.
    pub(super) pool_index: BTreeMap<String, usize>,
    pub(super) type_index: BTreeMap<String, usize>,
    pub(super) new_nodes: usize,
    /// Replacements launched in the current wave (uninitialized until it finishes).
    pub(super) launching: Vec<usize>,
    pub(super) solve_opts: SolveOptions,
    /// Simulations run (for the report).
    pub(super) simulations: usize,
    /// The pending pods (indices into `input.pending_pods`) the cluster as it stands holds on
    /// its existing nodes; computed when a consolidation simulation first needs it and
    /// forgotten whenever the modelled cluster changes.
    pub(super) pending_held: Option<std::collections::BTreeSet<usize>>,
    /// Per node: one of its running pods has required anti-affinity (it repels pods to place).
    pub(super) repels: Vec<bool>,
    /// Per node: one of its reschedulable bound pods has topology or (anti-)affinity terms.
    pub(super) constrained: Vec<bool>,
    /// A pending pod has topology or (anti-)affinity terms.
    pub(super) pending_constrained: bool,
    /// Whether simulations may leave out full nodes and try the first-fit prefix first
    /// (always, but for the test that checks they change nothing).
    pub(super) shortcuts: bool,
    /// Node indices by name (several only if an input repeats a name).
    pub(super) by_name: HashMap<String, Vec<usize>>,
    /// Per node, the rank of its name among all nodes' (the scheduler's node order).
    pub(super) name_rank: Vec<usize>,
}

/// Whether a pod's placement depends on other pods: topology spread or pod (anti-)affinity.
pub(super) fn constrained(p: &Pod) -> bool {
    !p.topology_spread_constraints.is_empty()
        || !p.pod_affinity.is_empty()
        || !p.pod_anti_affinity.is_empty()
        || !p.preferred_pod_affinity.is_empty()
        || !p.preferred_pod_anti_affinity.is_empty()
}

/// Per node, the rank of its name.
pub(super) fn name_ranks<'n>(names: impl Iterator<Item = &'n str>) -> Vec<usize> {
    let names: Vec<&str> = names.collect();
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| names[a].cmp(names[b]));
    let mut rank = vec![0; names.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

/// A node's `repels` and `constrained` flags.
pub(super) fn node_flags(node: &NodeInput) -> (bool, bool) {
    (
        node.node
            .pods
            .iter()
            .any(|rp| !rp.pod_anti_affinity.is_empty()),
        node.pods
            .iter()
            .any(|bp| bp.reschedulable && constrained(&bp.pod)),
    )
}

pub(super) fn pod_key(p: &Pod) -> String {
    format!("{}/{}", p.namespace, p.name)
}

impl<'a> World<'a> {
    pub(super) fn new(input: &'a DisruptionInput, opts: &'a Options) -> Self {
        let solve_opts = SolveOptions {
            strategy: match opts.strategy {
                Strategy::Karpenter => karpenter_scheduling::Strategy::Karpenter,
                Strategy::Default => karpenter_scheduling::Strategy::Default,
            },
            ..SolveOptions::default()
        };
        let (repels, constrained_pods) = input.nodes.iter().map(node_flags).unzip();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in input.nodes.iter().enumerate() {
            by_name.entry(n.name().to_string()).or_default().push(i);
        }
        World {
            by_name,
            name_rank: name_ranks(input.nodes.iter().map(NodeInput::name)),
            repels,
            constrained: constrained_pods,
            pending_constrained: input.pending_pods.iter().any(constrained),
            input,
            opts,
            now: input.now,
            nodes: input.nodes.iter().map(Cow::Borrowed).collect(),
            gone: vec![false; input.nodes.len()],
            pool_index: input
                .pools
                .iter()
                .enumerate()
                .map(|(i, p)| (p.name.clone(), i))
                .collect(),
            type_index: input
                .instance_types
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.clone(), i))
                .collect(),
            new_nodes: 0,
            launching: Vec::new(),
            solve_opts,
            simulations: 0,
            pending_held: None,
            shortcuts: true,
        }
    }

    /// Recompute node `n`'s flags after its pods changed.
    pub(super) fn refresh_flags(&mut self, n: usize) {
        (self.repels[n], self.constrained[n]) = node_flags(&self.nodes[n]);
    }

    /// `IsUnderConsolidateAfter`: a managed, initialized node whose last pod event is more
    /// recent than its NodePool's `consolidateAfter`.
    pub(super) fn under_consolidate_after(&self, n: usize) -> bool {
        let node = &self.nodes[n];
        let Some(pool) = node
            .node_pool
            .as_ref()
            .and_then(|p| self.pool_index.get(p))
            .map(|&i| &self.input.pools[i])
        else {
            return false;
        };
        if !node.managed || !node.node.initialized || node.consolidatable_condition {
            return false;
        }
        matches!(
            consolidatable(
                pool.consolidate_after,
                node.initialized_at.or(Some(node.created)),
                node.last_pod_event,
                false,
                self.now,
            ),
            Consolidatable::NotYet { .. }
        )
    }

    /// The wave has finished: its replacements are initialized.
    pub(super) fn finish_wave(&mut self) {
        self.pending_held = None;
        for n in std::mem::take(&mut self.launching) {
            self.nodes[n].to_mut().node.initialized = true;
        }
    }

    pub(super) fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| !self.gone[i])
    }

    pub(super) fn instance_type(&self, n: usize) -> Option<&'a InstanceType> {
        let name = self.nodes[n].label(l::INSTANCE_TYPE)?;
        self.type_index
            .get(name)
            .map(|&i| &self.input.instance_types[i])
    }

    pub(super) fn replacement_claim(&self, claim: &NodeClaimPlan) -> ReplacementClaim<'a> {
        ReplacementClaim {
            types: claim
                .instance_types
                .iter()
                .filter_map(|n| self.type_index.get(n))
                .map(|&i| &self.input.instance_types[i])
                .collect(),
            requirements: (*claim.node_requirements).clone(),
        }
    }

    pub(super) fn priced(&self, c: &Cand) -> Option<PricedCandidate<'a>> {
        let it = &self.input.instance_types[c.instance_type?];
        let node = &self.input_node_labels(c.node);
        Some(PricedCandidate {
            instance_type: it,
            zone: node.0,
            capacity_type: node.1,
            price: c.price,
        })
    }

    /// Zone and capacity type labels with the world's lifetime (leaked into the input's
    /// strings when the node is an input node, else interned in the type's offerings).
    pub(super) fn input_node_labels(&self, n: usize) -> (&'a str, &'a str) {
        // Candidate zone/capacity type as &'a str: look them up among the type's offerings,
        // which live as long as the input.
        let node = &self.nodes[n];
        let zone = node.label(l::ZONE).unwrap_or_default();
        let ct = node.label(l::CAPACITY_TYPE).unwrap_or_default();
        if let Some(it) = self.instance_type(n) {
            if let Some(o) = it
                .offerings
                .iter()
                .find(|o| o.zone == zone && o.capacity_type == ct)
            {
                return (&o.zone, &o.capacity_type);
            }
        }
        ("", "")
    }

    pub(super) fn replacement(
        &self,
        claim: &ReplacementClaim<'_>,
        pool: &str,
        requests: &Resources,
    ) -> Option<Replacement> {
        let (it, o) = claim.cheapest()?;
        Some(Replacement {
            instance_type: it.name.clone(),
            instance_types: claim.types.iter().map(|t| t.name.clone()).collect(),
            zone: o.zone.clone(),
            capacity_type: o.capacity_type.clone(),
            price_per_hour: o.price,
            node_pool: pool.to_string(),
            name: String::new(),
            requirements: Some(claim.requirements.clone()),
            requests: requests.clone(),
        })
    }

    /// Budget node counts per pool (`BuildDisruptionBudgetMapping`), with `extra` nodes of the
    /// current wave counted as disrupting.
    pub(super) fn counts(&self, extra: &BTreeMap<String, usize>) -> BTreeMap<String, PoolCounts> {
        let mut counts: BTreeMap<String, PoolCounts> = BTreeMap::new();
        for n in self.live() {
            let node = &self.nodes[n];
            if !node.managed || !node.node.initialized || node.instance_terminating {
                continue;
            }
            let Some(pool) = &node.node_pool else {
                continue;
            };
            let c = counts.entry(pool.clone()).or_default();
            c.nodes += 1;
            if !node.ready || node.marked_for_deletion {
                c.disrupting += 1;
            }
        }
        for (pool, n) in extra {
            let c = counts.entry(pool.clone()).or_default();
            c.nodes += n;
            c.disrupting += n;
        }
        counts
    }

    pub(super) fn mapping(
        &self,
        reason: DisruptionReason,
        wave_disrupting: &BTreeMap<String, usize>,
    ) -> BudgetMapping {
        BudgetMapping::build(
            self.input.pools.iter().map(|p| &p.budgets),
            &self.counts(wave_disrupting),
            self.now,
            reason,
        )
    }

    pub(super) fn pool_name(&self, c: &Cand) -> &str {
        &self.input.pools[c.pool].name
    }

    pub(super) fn node_name(&self, n: usize) -> String {
        self.nodes[n].name().to_string()
    }
}

//! The disruption engine: from the cluster at `now` to the whole plan, wave by wave, until
//! nothing is left to do.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/controllers/disruption/controller.go` (methods in
//! order, the first that acts ends the pass), `helpers.go` (`SimulateScheduling`,
//! `GetCandidates`, `BuildDisruptionBudgetMapping`), `types.go` (`NewCandidate`),
//! `emptiness.go`, `drift.go`, `consolidation.go` (`computeConsolidation`),
//! `multinodeconsolidation.go` (binary search over at most 100 candidates),
//! `singlenodeconsolidation.go` (NodePools interleaved), and
//! `pkg/controllers/nodeclaim/expiration/controller.go` (forceful expiration).
//!
//! A *wave* is what upstream starts together: with [`Strategy::Karpenter`] one controller pass
//! (one command; emptiness puts every empty node it may into one command), with
//! [`Strategy::Default`] every method acts as far as the budgets allow, consolidation issues as
//! many commands as the budgets and the cluster allow (destinations of one command are not
//! candidates of the next in the same wave; replacements stay uninitialized until the wave
//! ends), multi-node consolidation searches every budget-allowed candidate (not only 100), and a
//! multi-node move may land on several new nodes (a many-to-many repack) when that is cheaper. A wave is applied to the
//! modelled cluster (candidates gone, pods where the simulation put them, replacements
//! initialized) before the next is computed, so each wave is valid on its own and the budgets
//! are checked per wave. Expiration is forceful: all expired nodes go in wave 1, regardless of
//! budgets, PDBs and do-not-disrupt; the pods they shed are placed as the provisioner would.
//!
//! Simplifications (documented, tested where they matter): a node's `Consolidatable` state is
//! evaluated once at `now` (nodes receiving pods in the plan are not delayed by a new pod event);
//! replacement nodes are treated as past their `consolidateAfter` from the wave after their
//! launch (waves are taken to be at least that far apart).
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use karpenter_scheduling::instancetype::SPOT;
use karpenter_scheduling::labels as l;
use karpenter_scheduling::model::{RunningPod, Taint, TaintEffect};
use karpenter_scheduling::{
    solve, ExistingNode, InstanceType, NodeClaimPlan, Pod, Problem, Resources, SolveOptions,
};

use crate::budget::{BudgetMapping, DisruptionReason, PoolCounts};
use crate::input::{BoundPod, DisruptionInput, NodeInput, Options, PodBlock, Strategy};
use crate::plan::{money, Blocker, Command, Method, Plan, Reason, Replacement, Unchosen};
use crate::price::{
    filter_out_same_instance_type, price_repack_claim, price_replacement, PricedCandidate,
    ReplacementClaim,
};
use crate::timing::{consolidatable, is_expired, Consolidatable, ConsolidationPolicy};

/// The taint that keeps simulated pods off nodes inside their `consolidateAfter` window. It only
/// ever exists inside a simulation, so it lives in this project's domain, not Karpenter's.
const UNDER_CONSOLIDATE_AFTER_TAINT: &str =
    "simulation.kubectl-karpenter.io/under-consolidate-after";

/// Upstream's cap on multi-node consolidation candidates.
pub const MULTI_NODE_MAX_CANDIDATES: usize = 100;

/// Errors from the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scheduling core refused the problem (an invalid NodePool).
    #[error("scheduling simulation: {0}")]
    Scheduling(#[from] karpenter_scheduling::Error),
}

/// Where a simulated pod came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Pending before the simulation.
    Pending,
    /// Bound pod `pod` of node `node` (a candidate or a deleting node).
    Bound {
        node: usize,
        pod: usize,
        deleting: bool,
    },
}

/// The result of one scheduling simulation.
struct Sim {
    /// The first non-pending pod that could not be placed, with why.
    failure: Option<String>,
    /// New NodeClaims holding at least one non-pending pod.
    claims: Vec<NodeClaimPlan>,
    /// Existing node index → placed pods (problem indices).
    placed: Vec<(usize, Vec<usize>)>,
    /// The problem's pods and where they came from.
    pods: Vec<Pod>,
    origin: Vec<Origin>,
}

/// A candidate for graceful disruption.
#[derive(Debug, Clone)]
struct Cand {
    node: usize,
    pool: usize,
    price: f64,
    instance_type: Option<usize>,
    reschedule_cost: f64,
    empty: bool,
    consolidatable: Consolidatable,
    pod_block: Option<Blocker>,
}

impl Cand {
    fn savings_ratio(&self) -> f64 {
        self.price / self.reschedule_cost
    }
}

/// The modelled cluster, changed wave by wave.
struct World<'a> {
    input: &'a DisruptionInput,
    opts: &'a Options,
    now: Timestamp,
    nodes: Vec<NodeInput>,
    gone: Vec<bool>,
    /// Index of the NodePool settings by name.
    pool_index: BTreeMap<String, usize>,
    type_index: BTreeMap<String, usize>,
    new_nodes: usize,
    /// Replacements launched in the current wave (uninitialized until it finishes).
    launching: Vec<usize>,
    solve_opts: SolveOptions,
    /// Simulations run (for the report).
    simulations: usize,
}

fn pod_key(p: &Pod) -> String {
    format!("{}/{}", p.namespace, p.name)
}

impl<'a> World<'a> {
    fn new(input: &'a DisruptionInput, opts: &'a Options) -> Self {
        let solve_opts = SolveOptions {
            strategy: match opts.strategy {
                Strategy::Karpenter => karpenter_scheduling::Strategy::Karpenter,
                Strategy::Default => karpenter_scheduling::Strategy::Default,
            },
            ..SolveOptions::default()
        };
        World {
            input,
            opts,
            now: input.now,
            nodes: input.nodes.clone(),
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
        }
    }

    /// `IsUnderConsolidateAfter`: a managed, initialized node whose last pod event is more
    /// recent than its NodePool's `consolidateAfter`.
    fn under_consolidate_after(&self, n: usize) -> bool {
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
    fn finish_wave(&mut self) {
        for n in std::mem::take(&mut self.launching) {
            self.nodes[n].node.initialized = true;
        }
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| !self.gone[i])
    }

    fn instance_type(&self, n: usize) -> Option<&'a InstanceType> {
        let name = self.nodes[n].label(l::INSTANCE_TYPE)?;
        self.type_index
            .get(name)
            .map(|&i| &self.input.instance_types[i])
    }

    /// `SimulateScheduling`: the pods of `candidates`, of deleting nodes and the pending pods,
    /// on every other live node plus new NodeClaims. A consolidation simulation
    /// (`IsConsolidationSimulation`, v1.14) keeps pods off managed nodes still inside their
    /// `consolidateAfter` window; here they get a NoSchedule taint no pod tolerates, which
    /// also keeps pending pods and pods of deleting nodes off them (upstream lets those
    /// through), so it errs on the side of no command.
    fn simulate(&mut self, candidates: &[usize], consolidation: bool) -> Result<Sim, Error> {
        self.simulations += 1;
        let cset: BTreeSet<usize> = candidates.iter().copied().collect();
        let mut pods = Vec::new();
        let mut origin = Vec::new();
        for p in &self.input.pending_pods {
            pods.push(p.clone());
            origin.push(Origin::Pending);
        }
        // Running pods matter to scheduling only through topology spread and (anti-)affinity:
        // when no pod to place has such terms and no running pod repels others, they are left
        // out of the problem (at 20,000 bound pods, copying and counting them dominates).
        let constrained = |p: &Pod| {
            !p.topology_spread_constraints.is_empty()
                || !p.pod_affinity.is_empty()
                || !p.pod_anti_affinity.is_empty()
                || !p.preferred_pod_affinity.is_empty()
                || !p.preferred_pod_anti_affinity.is_empty()
        };
        let running_matter = self.input.pending_pods.iter().any(constrained)
            || self.live().any(|n| {
                let node = &self.nodes[n];
                node.node
                    .pods
                    .iter()
                    .any(|rp| !rp.pod_anti_affinity.is_empty())
                    || ((cset.contains(&n) || node.marked_for_deletion)
                        && node
                            .pods
                            .iter()
                            .any(|bp| bp.reschedulable && constrained(&bp.pod)))
            });
        let mut existing = Vec::new();
        let mut existing_idx = Vec::new();
        for n in self.live() {
            let node = &self.nodes[n];
            let deleting = node.marked_for_deletion;
            if cset.contains(&n) || deleting {
                for (pi, bp) in node.pods.iter().enumerate() {
                    if bp.reschedulable {
                        let mut p = bp.pod.clone();
                        p.creation_index = pods.len() as i64;
                        pods.push(p);
                        origin.push(Origin::Bound {
                            node: n,
                            pod: pi,
                            deleting,
                        });
                    }
                }
                continue;
            }
            let mut en = if running_matter {
                node.node.clone()
            } else {
                ExistingNode {
                    name: node.node.name.clone(),
                    labels: node.node.labels.clone(),
                    taints: node.node.taints.clone(),
                    capacity: node.node.capacity.clone(),
                    allocatable: node.node.allocatable.clone(),
                    requested: node.node.requested.clone(),
                    pods: Vec::new(),
                    host_ports: node.node.host_ports.clone(),
                    initialized: node.node.initialized,
                }
            };
            if consolidation && self.under_consolidate_after(n) {
                en.taints.push(Taint {
                    key: UNDER_CONSOLIDATE_AFTER_TAINT.into(),
                    value: String::new(),
                    effect: TaintEffect::NoSchedule,
                });
            }
            existing.push(en);
            existing_idx.push(n);
        }
        let problem = Problem {
            instance_types: self.input.instance_types.clone(),
            node_pools: self.input.scheduling_pools.clone(),
            daemon_sets: self.input.daemon_sets.clone(),
            existing_nodes: existing,
            pods,
        };
        // One node's pods: upstream's single packing answers "do they fit" as well as the
        // best of several, at a fraction of the cost.
        let sol = if candidates.len() == 1 {
            solve(
                &problem,
                &SolveOptions {
                    strategy: karpenter_scheduling::Strategy::Karpenter,
                    ..self.solve_opts.clone()
                },
            )?
        } else {
            solve(&problem, &self.solve_opts)?
        };
        let name_to_idx: BTreeMap<&str, usize> = existing_idx
            .iter()
            .map(|&n| (self.nodes[n].name(), n))
            .collect();
        let mut failure = None;
        for pp in &sol.pending {
            if origin[pp.pod] != Origin::Pending && failure.is_none() {
                failure = Some(format!(
                    "pod {} would not schedule: {}",
                    pod_key(&problem.pods[pp.pod]),
                    pp.reason
                ));
            }
        }
        let mut placed = Vec::new();
        for (name, ps) in &sol.existing_nodes {
            let Some(&n) = name_to_idx.get(name.as_str()) else {
                continue;
            };
            if !self.nodes[n].node.initialized && failure.is_none() {
                if let Some(&p) = ps.iter().find(|&&p| {
                    matches!(
                        origin[p],
                        Origin::Bound {
                            deleting: false,
                            ..
                        }
                    )
                }) {
                    failure = Some(format!(
                        "pod {} would schedule against uninitialized node {}",
                        pod_key(&problem.pods[p]),
                        name
                    ));
                }
            }
            placed.push((n, ps.clone()));
        }
        let claims = sol
            .node_claims
            .into_iter()
            .filter(|c| c.pods.iter().any(|&p| origin[p] != Origin::Pending))
            .collect();
        Ok(Sim {
            failure,
            claims,
            placed,
            pods: problem.pods,
            origin,
        })
    }

    fn replacement_claim(&self, claim: &NodeClaimPlan) -> ReplacementClaim<'a> {
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

    fn priced(&self, c: &Cand) -> Option<PricedCandidate<'a>> {
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
    fn input_node_labels(&self, n: usize) -> (&'a str, &'a str) {
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

    fn replacement(&self, claim: &ReplacementClaim<'_>, pool: &str) -> Option<Replacement> {
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
        })
    }

    /// Move the simulated pods and create the replacement nodes; candidates disappear.
    fn apply(&mut self, candidates: &[usize], sim: &Sim, replacements: &[Replacement]) {
        for &c in candidates {
            self.gone[c] = true;
        }
        // Pods of deleting nodes placed by the simulation are where the provisioner would put
        // them too; their old nodes are gone once the wave finishes.
        for o in &sim.origin {
            if let Origin::Bound {
                node,
                deleting: true,
                ..
            } = *o
            {
                self.gone[node] = true;
            }
        }
        let bound_of = |pi: usize| -> BoundPod {
            match sim.origin[pi] {
                Origin::Bound { node, pod, .. } => self.nodes[node].pods[pod].clone(),
                Origin::Pending => BoundPod {
                    pod: sim.pods[pi].clone(),
                    reschedulable: true,
                    eviction_cost: 1.0,
                    blocks: None,
                    start_time: None,
                },
            }
        };
        let moved_pods = |ps: &[usize]| -> Vec<BoundPod> {
            ps.iter()
                .filter(|&&p| sim.origin[p] != Origin::Pending)
                .map(|&p| bound_of(p))
                .collect()
        };
        let moved: Vec<(usize, Vec<BoundPod>)> = sim
            .placed
            .iter()
            .map(|(n, ps)| (*n, moved_pods(ps)))
            .collect();
        let launched: Vec<Vec<BoundPod>> = sim.claims.iter().map(|c| moved_pods(&c.pods)).collect();
        for (n, pods) in moved {
            for bp in pods {
                add_pod(&mut self.nodes[n], bp);
            }
        }
        for ((claim, r), pods) in sim.claims.iter().zip(replacements).zip(launched) {
            let node = self.new_node(claim, r, pods);
            self.launching.push(self.nodes.len());
            self.nodes.push(node);
            self.gone.push(false);
        }
    }

    fn new_node(
        &mut self,
        claim: &NodeClaimPlan,
        r: &Replacement,
        pods: Vec<BoundPod>,
    ) -> NodeInput {
        let name = r.name.clone();
        let it = self
            .type_index
            .get(&r.instance_type)
            .map(|&i| &self.input.instance_types[i]);
        let sp = self
            .input
            .scheduling_pools
            .iter()
            .find(|p| p.name == claim.node_pool);
        let mut labels = it.map(|t| t.labels.clone()).unwrap_or_default();
        if let Some(sp) = sp {
            labels.extend(sp.labels.clone());
            for t in &sp.requirements {
                if let ([v], karpenter_scheduling::Operator::In) = (t.values.as_slice(), t.operator)
                {
                    labels.entry(t.key.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        labels.insert(l::ZONE.into(), r.zone.clone());
        labels.insert(l::CAPACITY_TYPE.into(), r.capacity_type.clone());
        labels.insert(l::NODEPOOL.into(), claim.node_pool.clone());
        labels.insert(l::HOSTNAME.into(), name.clone());
        let settings = self
            .pool_index
            .get(&claim.node_pool)
            .map(|&i| &self.input.pools[i]);
        let mut node = NodeInput {
            node: ExistingNode {
                name: name.clone(),
                labels,
                taints: sp.map(|p| p.taints.clone()).unwrap_or_default(),
                capacity: it.map(|t| t.capacity.clone()).unwrap_or_default(),
                allocatable: it.map(|t| t.allocatable.clone()).unwrap_or_default(),
                requested: claim.requests.clone(),
                pods: Vec::new(),
                host_ports: Vec::new(),
                // Launching during this wave; initialized when the wave has finished.
                initialized: false,
            },
            node_pool: Some(claim.node_pool.clone()),
            managed: true,
            ready: true,
            marked_for_deletion: false,
            instance_terminating: false,
            nominated: false,
            do_not_disrupt: false,
            created: self.now,
            initialized_at: Some(self.now),
            last_pod_event: None,
            // Waves are at least consolidateAfter apart: from the next wave on, a replacement
            // is past its window.
            consolidatable_condition: true,
            expire_after: settings.and_then(|s| s.expire_after),
            termination_grace_period: settings.and_then(|s| s.termination_grace_period),
            drift: None,
            pods: Vec::new(),
            price: r.price_per_hour,
        };
        // `claim.requests` already counts the pods and the DaemonSet overhead.
        for bp in pods {
            node.node
                .host_ports
                .extend(bp.pod.host_ports.iter().cloned());
            node.node.pods.push(running(&bp.pod));
            node.pods.push(bp);
        }
        node
    }

    /// Budget node counts per pool (`BuildDisruptionBudgetMapping`), with `extra` nodes of the
    /// current wave counted as disrupting.
    fn counts(&self, extra: &BTreeMap<String, usize>) -> BTreeMap<String, PoolCounts> {
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

    fn mapping(
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

    /// `NewCandidate`'s checks; `Err` says why the node is not a candidate at all.
    fn candidate(&self, n: usize) -> Result<Cand, Blocker> {
        let node = &self.nodes[n];
        if !node.managed || node.node_pool.is_none() {
            return Err(Blocker::NotManaged);
        }
        let pool = *self
            .pool_index
            .get(node.node_pool.as_ref().expect("checked"))
            .ok_or(Blocker::NodePoolNotFound)?;
        if !node.node.initialized {
            return Err(Blocker::NotInitialized);
        }
        if node.marked_for_deletion {
            return Err(Blocker::Deleting);
        }
        if node.nominated {
            return Err(Blocker::Nominated);
        }
        if node.do_not_disrupt {
            return Err(Blocker::DoNotDisruptNode);
        }
        let pod_block = node.pods.iter().find_map(|p| match &p.blocks {
            Some(PodBlock::DoNotDisrupt(pod)) => Some(Blocker::DoNotDisruptPod(pod.clone())),
            Some(PodBlock::Pdb(_, pdb)) => Some(Blocker::Pdb(pdb.clone())),
            None => None,
        });
        let reschedule_cost = crate::timing::reschedule_disruption_cost(
            node.pods
                .iter()
                .filter(|p| p.reschedulable)
                .map(|p| p.eviction_cost),
        );
        let settings = &self.input.pools[pool];
        Ok(Cand {
            node: n,
            pool,
            price: node.price,
            instance_type: node
                .label(l::INSTANCE_TYPE)
                .and_then(|t| self.type_index.get(t).copied()),
            reschedule_cost,
            empty: reschedule_cost <= crate::timing::PER_NODE_BASE_DISRUPTION_COST,
            consolidatable: consolidatable(
                settings.consolidate_after,
                node.initialized_at.or(Some(node.created)),
                node.last_pod_event,
                node.consolidatable_condition,
                self.now,
            ),
            pod_block,
        })
    }

    fn candidates(&self, exclude: &BTreeSet<usize>) -> Vec<Cand> {
        self.live()
            .filter(|n| !exclude.contains(n))
            .filter_map(|n| self.candidate(n).ok())
            .collect()
    }

    /// A necessary condition for a single-node consolidation, checked before simulating: a
    /// delete needs the pods' requests within the other nodes' free room; a replace needs a
    /// type cheaper than the node whose allocatable, with that free room, holds them. When
    /// neither holds the simulation would fail too, so it is skipped.
    fn cannot_improve(&self, c: &Cand) -> Option<String> {
        let node = &self.nodes[c.node];
        let mut need = Resources::default();
        for p in node.pods.iter().filter(|p| p.reschedulable) {
            let mut r = p.pod.requests.clone();
            r.pods = 1;
            need.add(&r);
        }
        if need.pods == 0 {
            return None;
        }
        let mut free = Resources::default();
        for n in self.live() {
            let o = &self.nodes[n];
            if n == c.node || o.marked_for_deletion || !o.node.initialized {
                continue;
            }
            let mut f = o.node.allocatable.clone();
            f.sub(&o.node.requested);
            f.floor_zero();
            free.add(&f);
        }
        if need.fits(&free) {
            return None;
        }
        let cheaper_fits = self.input.instance_types.iter().any(|t| {
            let cheapest = t
                .offerings
                .iter()
                .filter(|o| o.available)
                .map(|o| o.price)
                .fold(f64::MAX, f64::min);
            cheapest < c.price
                && need.fits_with(&Resources::default(), &{
                    let mut cap = free.clone();
                    cap.add(&t.allocatable);
                    cap
                })
        });
        (!cheaper_fits).then(|| {
            format!(
                "no cheaper placement: its pods need {need}, the other nodes have {free} free, and no cheaper instance type would hold the rest"
            )
        })
    }

    fn pool_name(&self, c: &Cand) -> &str {
        &self.input.pools[c.pool].name
    }

    fn node_name(&self, n: usize) -> String {
        self.nodes[n].name().to_string()
    }
}

fn running(p: &Pod) -> RunningPod {
    RunningPod {
        namespace: p.namespace.clone(),
        labels: p.labels.clone(),
        pod_anti_affinity: p.pod_anti_affinity.clone(),
    }
}

fn add_pod(node: &mut NodeInput, bp: BoundPod) {
    let mut r = bp.pod.requests.clone();
    r.pods = 1;
    node.node.requested.add(&r);
    node.node
        .host_ports
        .extend(bp.pod.host_ports.iter().cloned());
    node.node.pods.push(running(&bp.pod));
    node.pods.push(bp);
}

/// A consolidation decision before it becomes a command.
struct Decision {
    candidates: Vec<usize>,
    sim: Sim,
    replacements: Vec<Replacement>,
    savings: f64,
    method: Method,
}

/// The outcome of `computeConsolidation` for a set of candidates.
enum Computed {
    Valid(Decision),
    Invalid(Blocker, String),
}

struct Engine<'a> {
    w: World<'a>,
    commands: Vec<Command>,
    /// Why a node that was looked at was not chosen (latest reason wins).
    why: BTreeMap<usize, (Blocker, String)>,
    /// Upstream passes (loops) needed.
    pub passes: usize,
    multi_sims: usize,
    single_sims: usize,
    /// Single-node consolidations found impossible, while nothing could have made them
    /// possible: without topology or affinity terms anywhere, a delete-only command only takes
    /// room away, so a failure stands until a command launches a node.
    single_failures: BTreeMap<usize, (Blocker, String)>,
    /// Whether [`Self::single_failures`] may be used at all.
    failures_stable: bool,
}

impl<'a> Engine<'a> {
    /// A pod blocker, mentioning drift when the node is drifted.
    fn pod_block_text(&self, n: usize, b: &Blocker) -> String {
        match &self.w.nodes[n].drift {
            Some(d) => format!(
                "drifted ({}: {}) but {} (set terminationGracePeriod on the NodePool to bound how long this may block)",
                d.reason.as_str(),
                d.detail,
                blocker_text(b)
            ),
            None => blocker_text(b),
        }
    }

    fn note(&mut self, n: usize, b: Blocker, why: String) {
        self.why.insert(n, (b, why));
    }

    /// `computeConsolidation`.
    fn compute(&mut self, cands: &[&Cand], multi: bool) -> Result<Computed, Error> {
        let nodes: Vec<usize> = cands.iter().map(|c| c.node).collect();
        let sim = self.w.simulate(&nodes, true)?;
        if let Some(f) = sim.failure.clone() {
            return Ok(Computed::Invalid(Blocker::PodsDoNotFit, f));
        }
        let total: f64 = cands.iter().map(|c| c.price).sum();
        if sim.claims.is_empty() {
            return Ok(Computed::Valid(Decision {
                candidates: nodes,
                sim,
                replacements: Vec::new(),
                savings: total,
                method: if multi {
                    Method::MultiNodeConsolidation
                } else {
                    Method::SingleNodeConsolidation
                },
            }));
        }
        if sim.claims.len() > 1
            && multi
            && self.w.opts.strategy == Strategy::Default
            && sim.claims.len() < cands.len()
        {
            return Ok(self.repack(cands, nodes, sim, total));
        }
        if sim.claims.len() != 1 {
            return Ok(Computed::Invalid(
                Blocker::NoCheaperPlacement,
                format!(
                    "its pods would need {} new nodes (consolidation replaces with at most one)",
                    sim.claims.len()
                ),
            ));
        }
        let priced: Option<Vec<PricedCandidate<'a>>> =
            cands.iter().map(|c| self.w.priced(c)).collect();
        let Some(priced) = priced else {
            return Ok(Computed::Invalid(
                Blocker::Unpriceable,
                "its instance type is not in the catalog, so it cannot be priced".into(),
            ));
        };
        let claim = self.w.replacement_claim(&sim.claims[0]);
        let claim = match price_replacement(&priced, claim, self.w.opts.spot_to_spot_consolidation)
        {
            Ok(c) => c,
            Err(e) => {
                return Ok(Computed::Invalid(
                    Blocker::NoCheaperPlacement,
                    e.to_string(),
                ))
            }
        };
        let claim =
            if multi {
                match filter_out_same_instance_type(claim, &priced) {
                    Ok(c) if !c.types.is_empty() => c,
                    _ => return Ok(Computed::Invalid(
                        Blocker::NoCheaperPlacement,
                        "the only replacements are as dear as one of the nodes (deleting would do)"
                            .into(),
                    )),
                }
            } else {
                claim
            };
        let pool = sim.claims[0].node_pool.clone();
        let Some(r) = self.w.replacement(&claim, &pool) else {
            return Ok(Computed::Invalid(
                Blocker::NoCheaperPlacement,
                "no available offering for the replacement".into(),
            ));
        };
        let savings = total - r.price_per_hour;
        Ok(Computed::Valid(Decision {
            candidates: nodes,
            sim,
            replacements: vec![r],
            savings,
            method: if multi {
                Method::MultiNodeConsolidation
            } else {
                Method::SingleNodeConsolidation
            },
        }))
    }

    /// Beyond upstream: N candidates onto M < N new nodes, accepted when the worst-case launch
    /// prices of the M together are below the candidates' prices by at least the minimum
    /// saving.
    fn repack(&self, cands: &[&Cand], nodes: Vec<usize>, sim: Sim, total: f64) -> Computed {
        let all_spot = cands
            .iter()
            .all(|c| self.w.nodes[c.node].label(l::CAPACITY_TYPE) == Some(SPOT));
        let mut replacements = Vec::new();
        let mut worst = 0.0;
        for c in &sim.claims {
            let claim = self.w.replacement_claim(c);
            let (claim, bound) =
                match price_repack_claim(claim, all_spot, self.w.opts.spot_to_spot_consolidation) {
                    Ok(x) => x,
                    Err(e) => return Computed::Invalid(Blocker::NoCheaperPlacement, e.to_string()),
                };
            let Some(r) = self.w.replacement(&claim, &c.node_pool) else {
                return Computed::Invalid(
                    Blocker::NoCheaperPlacement,
                    "no available offering for a replacement".into(),
                );
            };
            worst += bound;
            replacements.push(r);
        }
        if worst >= total - self.w.opts.min_savings_per_hour.max(0.0) {
            return Computed::Invalid(
                Blocker::NoCheaperPlacement,
                format!(
                    "repacking onto {} nodes would cost up to {} against {}",
                    replacements.len(),
                    money(worst),
                    money(total)
                ),
            );
        }
        let new: f64 = replacements.iter().map(|r| r.price_per_hour).sum();
        Computed::Valid(Decision {
            candidates: nodes,
            sim,
            replacements,
            savings: total - new,
            method: Method::Repack,
        })
    }

    fn command(&mut self, reason: Reason, wave: u32, mut d: Decision, explanation: String) {
        if !d.replacements.is_empty() {
            self.single_failures.clear();
        }
        for r in &mut d.replacements {
            self.w.new_nodes += 1;
            r.name = format!("{}-replacement-{}", r.node_pool, self.w.new_nodes);
        }
        let pools: Vec<String> = d
            .candidates
            .iter()
            .map(|&n| self.w.nodes[n].node_pool.clone().unwrap_or_default())
            .collect();
        let names: Vec<String> = d.candidates.iter().map(|&n| self.w.node_name(n)).collect();
        for &n in &d.candidates {
            self.why.remove(&n);
        }
        let mut placements = Vec::new();
        for (n, ps) in &d.sim.placed {
            for &p in ps {
                if d.sim.origin[p] != Origin::Pending {
                    placements.push((pod_key(&d.sim.pods[p]), self.w.node_name(*n)));
                }
            }
        }
        for (c, r) in d.sim.claims.iter().zip(&d.replacements) {
            for &p in &c.pods {
                if d.sim.origin[p] != Origin::Pending {
                    placements.push((pod_key(&d.sim.pods[p]), r.name.clone()));
                }
            }
        }
        self.w.apply(&d.candidates, &d.sim, &d.replacements);
        self.commands.push(Command {
            reason,
            wave,
            candidates: names,
            replacements: d.replacements,
            savings_per_hour: round6(d.savings),
            explanation,
            method: d.method,
            node_pools: pools,
            placements,
        });
    }

    /// The claims a simulation launches, one replacement each (as the scheduler priced them
    /// when no offering passes the claim requirements here).
    fn replacements_of(&self, sim: &Sim) -> Vec<Replacement> {
        sim.claims
            .iter()
            .map(|c| {
                let claim = self.w.replacement_claim(c);
                self.w
                    .replacement(&claim, &c.node_pool)
                    .unwrap_or_else(|| Replacement {
                        instance_type: c.instance_type.clone(),
                        instance_types: c.instance_types.to_vec(),
                        zone: c.zone.clone(),
                        capacity_type: c.capacity_type.clone(),
                        price_per_hour: c.price_per_hour,
                        node_pool: c.node_pool.clone(),
                        name: String::new(),
                        requirements: Some(claim.requirements),
                    })
            })
            .collect()
    }

    /// Forceful expiration: every expired NodeClaim, in wave 1. Returns the expired nodes per
    /// NodePool.
    fn expiration(&mut self) -> Result<BTreeMap<String, usize>, Error> {
        let expired: Vec<usize> = self
            .w
            .live()
            .filter(|&n| {
                let node = &self.w.nodes[n];
                node.managed
                    && !node.marked_for_deletion
                    && is_expired(node.created, node.expire_after, self.w.now)
            })
            .collect();
        let mut per_pool: BTreeMap<String, usize> = BTreeMap::new();
        for &n in &expired {
            let node = &self.w.nodes[n];
            if node.node.initialized && node.ready {
                if let Some(p) = &node.node_pool {
                    *per_pool.entry(p.clone()).or_default() += 1;
                }
            }
        }
        if expired.is_empty() {
            return Ok(per_pool);
        }
        let sim = self.w.simulate(&expired, false)?;
        let replacements = self.replacements_of(&sim);
        let total: f64 = expired.iter().map(|&n| self.w.nodes[n].price).sum();
        let new: f64 = replacements.iter().map(|r| r.price_per_hour).sum();
        let mut text = format!(
            "{} reached expireAfter; expiration is forceful: the NodeClaim is deleted regardless of budgets, PDBs and do-not-disrupt",
            list(&expired.iter().map(|&n| self.w.node_name(n)).collect::<Vec<_>>())
        );
        let tgps: BTreeSet<String> = expired
            .iter()
            .filter_map(|&n| self.w.nodes[n].termination_grace_period)
            .map(|d| format!("{d:#}"))
            .collect();
        if !tgps.is_empty() {
            text.push_str(&format!(
                "; pods still blocked by a PDB or do-not-disrupt are removed after terminationGracePeriod ({})",
                tgps.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        text.push_str(&replacement_text(&replacements, "the provisioner launches"));
        if let Some(f) = &sim.failure {
            text.push_str(&format!("; warning: {f}"));
        }
        let d = Decision {
            candidates: expired,
            sim,
            replacements,
            savings: total - new,
            method: Method::Expiration,
        };
        self.command(Reason::Expired, 1, d, text);
        Ok(per_pool)
    }

    /// `emptiness.go`: every empty consolidatable candidate within budget, in one command.
    fn emptiness(
        &mut self,
        wave: u32,
        disrupting: &mut BTreeMap<String, usize>,
        exclude: &BTreeSet<usize>,
    ) -> Result<bool, Error> {
        let mut budget = self.w.mapping(DisruptionReason::Empty, disrupting);
        let mut cands: Vec<Cand> = self
            .w
            .candidates(exclude)
            .into_iter()
            .filter(|c| {
                let s = &self.w.input.pools[c.pool];
                c.empty
                    && !s.is_static
                    && c.pod_block.is_none()
                    && c.consolidatable == Consolidatable::Yes
            })
            .collect();
        sort_by_savings_ratio(&mut cands, &self.w);
        let mut chosen = Vec::new();
        for c in &cands {
            let pool = self.w.pool_name(c).to_string();
            if budget.take(&pool) {
                chosen.push(c.clone());
            } else {
                let why = budget.explain_blocked(&pool, Some(&self.w.input.pools[c.pool].budgets));
                self.note(c.node, Blocker::Budget(DisruptionReason::Empty), why);
            }
        }
        if chosen.is_empty() {
            return Ok(false);
        }
        let nodes: Vec<usize> = chosen.iter().map(|c| c.node).collect();
        let sim = self.w.simulate(&nodes, false)?;
        let replacements = self.replacements_of(&sim);
        let total: f64 = chosen.iter().map(|c| c.price).sum();
        let new: f64 = replacements.iter().map(|r| r.price_per_hour).sum();
        for c in &chosen {
            *disrupting
                .entry(self.w.pool_name(c).to_string())
                .or_default() += 1;
        }
        let mut text = format!(
            "{} {} no pod that would need rescheduling (DaemonSet and static pods do not count) and {} been so for consolidateAfter; deleting saves {}",
            list(&nodes.iter().map(|&n| self.w.node_name(n)).collect::<Vec<_>>()),
            if nodes.len() == 1 { "has" } else { "have" },
            if nodes.len() == 1 { "has" } else { "have" },
            money(total - new)
        );
        text.push_str(&replacement_text(&replacements, "the provisioner launches"));
        let d = Decision {
            candidates: nodes,
            sim,
            replacements,
            savings: total - new,
            method: Method::Emptiness,
        };
        self.command(Reason::Empty, wave, d, text);
        Ok(true)
    }

    /// `drift.go`: drifted candidates, oldest drift first, empty ones first; each whose pods
    /// fit elsewhere becomes a command with the simulated replacements.
    fn drift(
        &mut self,
        wave: u32,
        disrupting: &mut BTreeMap<String, usize>,
        exclude: &mut BTreeSet<usize>,
        one: bool,
    ) -> Result<bool, Error> {
        let mut budget = self.w.mapping(DisruptionReason::Drifted, disrupting);
        let mut cands: Vec<Cand> = self
            .w
            .candidates(exclude)
            .into_iter()
            .filter(|c| {
                self.w.nodes[c.node].drift.is_some() && !self.w.input.pools[c.pool].is_static
            })
            .collect();
        // Drift is eventual: with a terminationGracePeriod the pod checks do not apply.
        cands.retain(|c| match &c.pod_block {
            Some(b) if self.w.nodes[c.node].termination_grace_period.is_none() => {
                let why = self.pod_block_text(c.node, b);
                self.why.insert(c.node, (b.clone(), why));
                false
            }
            _ => true,
        });
        cands.sort_by(|a, b| {
            let (da, db) = (
                self.w.nodes[a.node].drift.as_ref().expect("drifted"),
                self.w.nodes[b.node].drift.as_ref().expect("drifted"),
            );
            let ea = self.w.nodes[a.node].pods.iter().any(|p| p.reschedulable);
            let eb = self.w.nodes[b.node].pods.iter().any(|p| p.reschedulable);
            ea.cmp(&eb)
                .then(da.since.cmp(&db.since))
                .then_with(|| self.w.nodes[a.node].name().cmp(self.w.nodes[b.node].name()))
        });
        let mut acted = false;
        for c in cands {
            if exclude.contains(&c.node) || self.w.gone[c.node] {
                continue;
            }
            let pool = self.w.pool_name(&c).to_string();
            if budget.remaining(&pool) == 0 {
                let why = budget.explain_blocked(&pool, Some(&self.w.input.pools[c.pool].budgets));
                self.note(c.node, Blocker::Budget(DisruptionReason::Drifted), why);
                continue;
            }
            let sim = self.w.simulate(&[c.node], false)?;
            let d = self.w.nodes[c.node].drift.clone().expect("drifted");
            if let Some(f) = &sim.failure {
                let why = format!("drifted ({}) but {f}", d.reason.as_str());
                self.note(c.node, Blocker::PodsDoNotFit, why);
                continue;
            }
            budget.take(&pool);
            *disrupting.entry(pool).or_default() += 1;
            let replacements = self.replacements_of(&sim);
            let new: f64 = replacements.iter().map(|r| r.price_per_hour).sum();
            let mut text = format!(
                "{} drifted ({}: {})",
                self.w.node_name(c.node),
                d.reason.as_str(),
                d.detail
            );
            text.push_str(&replacement_text(&replacements, "replaced by"));
            if replacements.is_empty() {
                text.push_str("; its pods fit on the remaining nodes");
            }
            for (n, _) in &sim.placed {
                exclude.insert(*n);
            }
            let dec = Decision {
                candidates: vec![c.node],
                sim,
                replacements,
                savings: c.price - new,
                method: Method::Drift,
            };
            self.command(Reason::Drifted, wave, dec, text);
            acted = true;
            if one {
                break;
            }
        }
        Ok(acted)
    }

    fn consolidation_candidates(&mut self, exclude: &BTreeSet<usize>) -> Vec<Cand> {
        let cands = self.w.candidates(exclude);
        let mut out = Vec::new();
        for c in cands {
            let s = &self.w.input.pools[c.pool];
            let node = &self.w.nodes[c.node];
            let blocked = if s.is_static {
                Some((
                    Blocker::StaticNodePool,
                    "its NodePool is static (spec.replicas)".to_string(),
                ))
            } else if c.instance_type.is_none()
                || node.label(l::CAPACITY_TYPE).is_none()
                || node.label(l::ZONE).is_none()
            {
                Some((
                    Blocker::Unpriceable,
                    "its instance type, zone or capacity type is unknown, so it cannot be priced"
                        .to_string(),
                ))
            } else if s.consolidate_after.is_none() {
                Some((
                    Blocker::ConsolidationDisabled,
                    format!("NodePool {:?} has consolidateAfter: Never", s.name),
                ))
            } else if c.empty {
                // Empty nodes are emptiness's.
                Some((Blocker::Needed, String::new()))
            } else if s.policy == ConsolidationPolicy::WhenEmpty {
                Some((
                    Blocker::WhenEmptyPolicy,
                    format!(
                        "NodePool {:?} has consolidationPolicy WhenEmpty and the node is not empty",
                        s.name
                    ),
                ))
            } else if let Consolidatable::NotYet { at } = c.consolidatable {
                Some((
                    Blocker::ConsolidateAfter,
                    format!(
                        "consolidateAfter has not elapsed since its last pod event (consolidatable from {at})"
                    ),
                ))
            } else if c.consolidatable != Consolidatable::Yes {
                Some((Blocker::NotInitialized, "not initialized".to_string()))
            } else {
                c.pod_block
                    .as_ref()
                    .map(|b| (b.clone(), self.pod_block_text(c.node, b)))
            };
            match blocked {
                // Empty nodes are emptiness's; say nothing here.
                Some((Blocker::Needed, _)) => {}
                Some((b, why)) => self.note(c.node, b, why),
                None => out.push(c),
            }
        }
        out
    }

    /// Multi-node consolidation: upstream's binary search over the budget-filtered prefix.
    fn multi_node(
        &mut self,
        cands: &[Cand],
        budget: &mut BudgetMapping,
        cap: usize,
    ) -> Result<Option<Decision>, Error> {
        let mut usable: Vec<&Cand> = Vec::new();
        let mut b = budget.clone();
        for c in cands {
            let pool = self.w.pool_name(c).to_string();
            if b.take(&pool) {
                usable.push(c);
            }
        }
        if usable.len() < 2 {
            return Ok(None);
        }
        let mut lo = 1usize;
        let mut hi = if usable.len() <= cap {
            usable.len() - 1
        } else {
            cap
        };
        let mut best = None;
        while lo <= hi {
            let mid = (lo + hi) / 2;
            self.multi_sims += 1;
            match self.compute(&usable[..=mid], true)? {
                Computed::Valid(d) if d.savings >= self.w.opts.min_savings_per_hour => {
                    best = Some(d);
                    lo = mid + 1;
                }
                _ => hi = mid - 1,
            }
        }
        if let Some(d) = &best {
            for &n in &d.candidates {
                let pool = self.w.nodes[n].node_pool.clone().unwrap_or_default();
                budget.take(&pool);
            }
        }
        Ok(best)
    }

    /// Single-node consolidation: candidates interleaved across NodePools; the first valid
    /// command wins.
    fn single_node(
        &mut self,
        cands: &[Cand],
        budget: &mut BudgetMapping,
    ) -> Result<Option<Decision>, Error> {
        let mut by_pool: BTreeMap<usize, Vec<&Cand>> = BTreeMap::new();
        for c in cands {
            by_pool.entry(c.pool).or_default().push(c);
        }
        let max = by_pool.values().map(Vec::len).max().unwrap_or(0);
        let mut order = Vec::new();
        for i in 0..max {
            for v in by_pool.values() {
                if let Some(c) = v.get(i) {
                    order.push(*c);
                }
            }
        }
        for c in order {
            let pool = self.w.pool_name(c).to_string();
            if budget.remaining(&pool) == 0 {
                let why = budget.explain_blocked(&pool, Some(&self.w.input.pools[c.pool].budgets));
                self.note(
                    c.node,
                    Blocker::Budget(DisruptionReason::Underutilized),
                    why,
                );
                continue;
            }
            if let Some(why) = self.w.cannot_improve(c) {
                self.note(c.node, Blocker::NoCheaperPlacement, why);
                continue;
            }
            if let Some((b, why)) = self
                .single_failures
                .get(&c.node)
                .filter(|_| self.failures_stable)
                .cloned()
            {
                self.note(c.node, b, why);
                continue;
            }
            self.single_sims += 1;
            match self.compute(&[c], false)? {
                Computed::Valid(d) if d.savings >= self.w.opts.min_savings_per_hour => {
                    budget.take(&pool);
                    return Ok(Some(d));
                }
                Computed::Valid(d) => self.note(
                    c.node,
                    Blocker::NoCheaperPlacement,
                    format!(
                        "consolidating it would save only {}, below the minimum saving of {}",
                        money(d.savings),
                        money(self.w.opts.min_savings_per_hour)
                    ),
                ),
                Computed::Invalid(b, why) => {
                    self.single_failures
                        .insert(c.node, (b.clone(), why.clone()));
                    self.note(c.node, b, why)
                }
            }
        }
        Ok(None)
    }

    fn consolidation_text(&self, d: &Decision) -> String {
        let names: Vec<String> = d.candidates.iter().map(|&n| self.w.node_name(n)).collect();
        let total: f64 = d.candidates.iter().map(|&n| self.w.nodes[n].price).sum();
        let pods = d
            .sim
            .origin
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Origin::Bound {
                        deleting: false,
                        ..
                    }
                )
            })
            .count();
        if d.replacements.is_empty() {
            format!(
                "the {pods} pod(s) of {} fit on the remaining nodes; deleting {} saves {}",
                list(&names),
                if names.len() == 1 { "it" } else { "them" },
                money(d.savings)
            )
        } else if d.replacements.len() > 1 {
            format!(
                "the {pods} pod(s) of {} ({} together) repack onto {} cheaper nodes{}; saves {}",
                list(&names),
                money(total),
                d.replacements.len(),
                replacement_text(&d.replacements, ""),
                money(d.savings)
            )
        } else {
            let r = &d.replacements[0];
            format!(
                "the {pods} pod(s) of {} ({} together) fit on one cheaper {} {} node ({}){}; saves {}",
                list(&names),
                money(total),
                r.capacity_type,
                r.instance_type,
                money(r.price_per_hour),
                if r.instance_types.len() > 1 {
                    format!(", launched from {} types", r.instance_types.len())
                } else {
                    String::new()
                },
                money(d.savings)
            )
        }
    }

    /// Consolidation within a wave; `one` stops after the first command (upstream).
    fn consolidation(
        &mut self,
        wave: u32,
        disrupting: &mut BTreeMap<String, usize>,
        exclude: &mut BTreeSet<usize>,
        one: bool,
    ) -> Result<bool, Error> {
        let mut acted = false;
        loop {
            let mut budget = self.w.mapping(DisruptionReason::Underutilized, disrupting);
            let mut cands = self.consolidation_candidates(exclude);
            if cands.is_empty() {
                break;
            }
            sort_by_savings_ratio(&mut cands, &self.w);
            let cap = if one {
                MULTI_NODE_MAX_CANDIDATES
            } else {
                usize::MAX
            };
            let mut d = self.multi_node(&cands, &mut budget, cap)?;
            if d.is_none() {
                d = self.single_node(&cands, &mut budget)?;
            }
            let Some(d) = d else { break };
            for &n in &d.candidates {
                let pool = self.w.nodes[n].node_pool.clone().unwrap_or_default();
                *disrupting.entry(pool).or_default() += 1;
            }
            for (n, _) in &d.sim.placed {
                exclude.insert(*n);
            }
            let text = self.consolidation_text(&d);
            self.command(Reason::Underutilized, wave, d, text);
            acted = true;
            if one {
                break;
            }
        }
        Ok(acted)
    }

    /// The nodes never chosen, with the last reason seen (or a fresh look).
    fn unchosen(&mut self) -> Vec<Unchosen> {
        let disrupted: BTreeSet<&str> = self
            .commands
            .iter()
            .flat_map(|c| c.candidates.iter().map(String::as_str))
            .collect();
        let mut out = Vec::new();
        for n in 0..self.w.input.nodes.len() {
            let name = self.w.input.nodes[n].name();
            if disrupted.contains(name) {
                continue;
            }
            let (blocker, reason) = match self.why.get(&n) {
                Some((b, w)) => (b.clone(), w.clone()),
                None => match self.w.candidate(n) {
                    Err(b) => (b.clone(), blocker_text(&b)),
                    Ok(c) => match &c.pod_block {
                        Some(b) => (b.clone(), self.pod_block_text(n, b)),
                        None => (
                            Blocker::Needed,
                            "no cheaper placement: its pods need it as it is".to_string(),
                        ),
                    },
                },
            };
            out.push(Unchosen {
                node: name.to_string(),
                reason,
                blocker,
            });
        }
        out
    }
}

fn sort_by_savings_ratio(cands: &mut [Cand], w: &World<'_>) {
    cands.sort_by(|a, b| {
        b.savings_ratio()
            .total_cmp(&a.savings_ratio())
            .then_with(|| w.nodes[a.node].name().cmp(w.nodes[b.node].name()))
    });
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn list(names: &[String]) -> String {
    match names {
        [] => "no node".into(),
        [one] => format!("node {one}"),
        many if many.len() <= 6 => format!("nodes {}", many.join(", ")),
        many => format!("nodes {} and {} more", many[..5].join(", "), many.len() - 5),
    }
}

fn replacement_text(rs: &[Replacement], verb: &str) -> String {
    if rs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = rs
        .iter()
        .map(|r| {
            format!(
                "{} {} ({})",
                r.capacity_type,
                r.instance_type,
                money(r.price_per_hour)
            )
        })
        .collect();
    format!("; {verb} {}", parts.join(", "))
}

/// A sentence for a blocker without more context.
pub fn blocker_text(b: &Blocker) -> String {
    match b {
        Blocker::NotManaged => "not managed by Karpenter (no NodePool label or NodeClaim)".into(),
        Blocker::NodePoolNotFound => "its NodePool is not in the input".into(),
        Blocker::NotInitialized => "not initialized yet".into(),
        Blocker::Deleting => "already being deleted or disrupted".into(),
        Blocker::Nominated => "nominated for pending pods".into(),
        Blocker::DoNotDisruptNode => "the node is annotated karpenter.sh/do-not-disrupt".into(),
        Blocker::DoNotDisruptPod(p) => {
            format!("pod {p} is annotated karpenter.sh/do-not-disrupt")
        }
        Blocker::Pdb(p) => format!("PodDisruptionBudget {p} allows no eviction now"),
        Blocker::Budget(r) => format!("the NodePool's disruption budget for {r} is used up"),
        Blocker::ConsolidateAfter => "consolidateAfter has not elapsed".into(),
        Blocker::ConsolidationDisabled => "consolidateAfter is Never".into(),
        Blocker::WhenEmptyPolicy => {
            "consolidationPolicy WhenEmpty and the node is not empty".into()
        }
        Blocker::StaticNodePool => "its NodePool is static".into(),
        Blocker::Unpriceable => "it cannot be priced".into(),
        Blocker::PodsDoNotFit => "its pods do not fit elsewhere".into(),
        Blocker::NoCheaperPlacement => "no cheaper placement for its pods".into(),
        Blocker::Needed => "no cheaper placement: its pods need it as it is".into(),
    }
}

/// What the engine reports besides the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Upstream controller passes that issued a command (Karpenter mode: one per wave).
    pub passes: usize,
    /// Scheduling simulations run.
    pub simulations: usize,
    /// Of those, in multi-node consolidation's search.
    pub multi_node_simulations: usize,
    /// Of those, in single-node consolidation.
    pub single_node_simulations: usize,
    /// Upstream sleeps 15 s to re-validate every emptiness and consolidation command before
    /// starting it, blocking its loop: the plan's commands of those kinds × 15 s, a lower bound
    /// on upstream's wall time (drains and launches come on top).
    pub validation_wait_seconds: u64,
    /// With the default strategy: upstream's plan was kept, being cheaper.
    pub upstream_plan: bool,
}

/// Compute the whole plan.
///
/// With [`Strategy::Default`] upstream's plan is computed too, and kept instead when it ends
/// cheaper: the default strategy's wider search is greedy and not always better, and it must
/// never cost more than upstream would ([`Stats::upstream_plan`] says which was kept).
pub fn plan(input: &DisruptionInput, opts: &Options) -> Result<(Plan, Stats), Error> {
    let (plan, stats) = plan_with(input, opts)?;
    if opts.strategy != Strategy::Default {
        return Ok((plan, stats));
    }
    let upstream = Options {
        strategy: Strategy::Karpenter,
        ..opts.clone()
    };
    let (k, ks) = plan_with(input, &upstream)?;
    let simulations = stats.simulations + ks.simulations;
    if k.price_per_hour_after < plan.price_per_hour_after - 1e-9 {
        Ok((
            k,
            Stats {
                simulations,
                upstream_plan: true,
                ..ks
            },
        ))
    } else {
        Ok((
            plan,
            Stats {
                simulations,
                ..stats
            },
        ))
    }
}

fn plan_with(input: &DisruptionInput, opts: &Options) -> Result<(Plan, Stats), Error> {
    let before: f64 = input.nodes.iter().map(|n| n.price).sum();
    let mut e = Engine {
        w: World::new(input, opts),
        commands: Vec::new(),
        why: BTreeMap::new(),
        passes: 0,
        multi_sims: 0,
        single_sims: 0,
        single_failures: BTreeMap::new(),
        failures_stable: false,
    };
    let constrained = |p: &Pod| {
        !p.topology_spread_constraints.is_empty()
            || !p.pod_affinity.is_empty()
            || !p.pod_anti_affinity.is_empty()
            || !p.preferred_pod_affinity.is_empty()
            || !p.preferred_pod_anti_affinity.is_empty()
    };
    e.failures_stable = !input.pending_pods.iter().any(constrained)
        && !input
            .nodes
            .iter()
            .any(|n| n.pods.iter().any(|p| constrained(&p.pod)));
    // Expired nodes are deleted in wave 1 and count as disrupting in that wave's budgets.
    let mut expired_disrupting = e.expiration()?;
    let karpenter = opts.strategy == Strategy::Karpenter;
    let mut wave = 1;
    while wave <= opts.max_waves {
        let mut disrupting: BTreeMap<String, usize> = std::mem::take(&mut expired_disrupting);
        let mut exclude: BTreeSet<usize> = BTreeSet::new();
        let acted = if karpenter {
            e.emptiness(wave, &mut disrupting, &exclude)?
                || e.drift(wave, &mut disrupting, &mut exclude, true)?
                || e.consolidation(wave, &mut disrupting, &mut exclude, true)?
        } else {
            let a = e.emptiness(wave, &mut disrupting, &exclude)?;
            let b = e.drift(wave, &mut disrupting, &mut exclude, false)?;
            let c = e.consolidation(wave, &mut disrupting, &mut exclude, false)?;
            a || b || c
        };
        if !e.w.launching.is_empty() {
            // Replacements come up: room that was not there before.
            e.single_failures.clear();
        }
        e.w.finish_wave();
        if !acted {
            break;
        }
        e.passes += 1;
        wave += 1;
    }
    let unchosen = e.unchosen();
    // Nodes already being deleted are gone once the plan has run, whatever it does.
    let after: f64 =
        e.w.live()
            .filter(|&n| !e.w.nodes[n].marked_for_deletion)
            .map(|n| e.w.nodes[n].price)
            .sum();
    let stats = Stats {
        passes: e.passes,
        simulations: e.w.simulations,
        multi_node_simulations: e.multi_sims,
        single_node_simulations: e.single_sims,
        validation_wait_seconds: 15
            * e.commands
                .iter()
                .filter(|c| matches!(c.reason, Reason::Empty | Reason::Underutilized))
                .count() as u64,
        upstream_plan: false,
    };
    Ok((
        Plan {
            commands: e.commands,
            unchosen,
            price_per_hour_before: round6(before),
            price_per_hour_after: round6(after),
        },
        stats,
    ))
}

/// Why a command no longer holds (upstream's `validation.go` errors).
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// Candidates are no longer candidates (pod churn, deletion, a new blocker).
    #[error("{0} candidate(s) are no longer valid")]
    Churn(usize),
    /// A candidate was nominated or the budget no longer allows it.
    #[error("{0}")]
    Budget(String),
    /// The pods no longer fit as planned.
    #[error("{0}")]
    Scheduling(String),
    /// The simulation now gives a different decision.
    #[error("{0}")]
    Changed(String),
    /// The simulation failed.
    #[error(transparent)]
    Engine(#[from] Error),
}

/// Re-validate `cmd` against the current cluster (`input`), as upstream's 15 s re-check does,
/// without waiting: the caller runs it on fresh state just before executing the command.
/// Emptiness keeps the candidates still empty and within budget (failing only when none is
/// left); consolidation needs every candidate still eligible and within budget, and a
/// re-simulation giving a delete again, or one replacement whose instance types include the
/// command's. Drift and expiration are not re-validated (neither is upstream's drift).
pub fn validate(
    input: &DisruptionInput,
    cmd: &Command,
    opts: &Options,
) -> Result<Command, ValidationError> {
    if matches!(cmd.reason, Reason::Drifted | Reason::Expired) {
        return Ok(cmd.clone());
    }
    let mut e = Engine {
        w: World::new(input, opts),
        commands: Vec::new(),
        why: BTreeMap::new(),
        passes: 0,
        multi_sims: 0,
        single_sims: 0,
        single_failures: BTreeMap::new(),
        failures_stable: false,
    };
    let exclude = BTreeSet::new();
    let eligible: Vec<Cand> = if cmd.reason == Reason::Empty {
        e.w.candidates(&exclude)
            .into_iter()
            .filter(|c| {
                c.empty
                    && c.pod_block.is_none()
                    && !input.pools[c.pool].is_static
                    && c.consolidatable == Consolidatable::Yes
            })
            .collect()
    } else {
        e.consolidation_candidates(&exclude)
    };
    let by_name: BTreeMap<&str, &Cand> = eligible
        .iter()
        .map(|c| (input.nodes[c.node].name(), c))
        .collect();
    let still: Vec<&Cand> = cmd
        .candidates
        .iter()
        .filter_map(|n| by_name.get(n.as_str()).copied())
        .collect();
    let reason = cmd
        .reason
        .budget_reason()
        .expect("graceful reasons have budgets");
    let mut budget = e.w.mapping(reason, &BTreeMap::new());
    if cmd.reason == Reason::Empty {
        if still.is_empty() {
            return Err(ValidationError::Churn(cmd.candidates.len()));
        }
        let kept: Vec<&Cand> = still
            .into_iter()
            .filter(|c| budget.take(&input.pools[c.pool].name))
            .collect();
        if kept.is_empty() {
            return Err(ValidationError::Budget(format!(
                "{} candidate(s) would now violate the disruption budgets",
                cmd.candidates.len()
            )));
        }
        let mut out = cmd.clone();
        let names: BTreeSet<&str> = kept.iter().map(|c| input.nodes[c.node].name()).collect();
        let keep: Vec<bool> = out
            .candidates
            .iter()
            .map(|n| names.contains(n.as_str()))
            .collect();
        let mut i = 0;
        out.candidates.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let mut i = 0;
        out.node_pools.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let removed: f64 = cmd
            .candidates
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .filter_map(|(n, _)| input.nodes.iter().find(|x| x.name() == n.as_str()))
            .map(|x| x.price)
            .sum();
        out.savings_per_hour = round6(out.savings_per_hour - removed);
        return Ok(out);
    }
    if still.len() != cmd.candidates.len() {
        return Err(ValidationError::Churn(cmd.candidates.len() - still.len()));
    }
    for c in &still {
        if !budget.take(&input.pools[c.pool].name) {
            return Err(ValidationError::Budget(
                "a candidate can no longer be disrupted without violating budgets".into(),
            ));
        }
    }
    let nodes: Vec<usize> = still.iter().map(|c| c.node).collect();
    let sim = e.w.simulate(&nodes, true)?;
    if let Some(f) = sim.failure {
        return Err(ValidationError::Scheduling(f));
    }
    match (sim.claims.len(), cmd.replacements.len()) {
        (0, 0) => Ok(cmd.clone()),
        (0, _) => Err(ValidationError::Changed(
            "the pods now fit without the replacement: a delete would do".into(),
        )),
        (1, 1) => {
            let now: BTreeSet<&str> = sim.claims[0]
                .instance_types
                .iter()
                .map(String::as_str)
                .collect();
            let missing: Vec<&String> = cmd.replacements[0]
                .instance_types
                .iter()
                .filter(|t| !now.contains(t.as_str()))
                .collect();
            if missing.is_empty() {
                Ok(cmd.clone())
            } else {
                Err(ValidationError::Changed(format!(
                    "the replacement can no longer be {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
        (n, _) => Err(ValidationError::Changed(format!(
            "the pods would now need {n} new nodes"
        ))),
    }
}

//! The scheduler: Karpenter's provisioning simulation (karpenter-core.md §2.3–§2.9).
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;

use crate::instancetype::InstanceType;
use crate::labels;
use crate::lp;
use crate::model::{
    untolerated, DaemonSet, ExistingNode, HostPort, InclusionPolicy, NodePool, Pod, Taint,
    TaintEffect, Toleration, WhenUnsatisfiable,
};
use crate::requirements::{Incompatibility, Requirement, Requirements};
use crate::resources::Resources;
use crate::topology::{FxHasher, GroupKind, Topology};

/// A hash map with the fast non-cryptographic hasher (keys are the solver's own data).
type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;
use crate::Error;

mod repair;

/// Hostname placeholder prefix of new NodeClaims (their hostname-topology domain).
const CLAIM_HOSTNAME_PREFIX: &str = "hostname-placeholder-";

/// Upstream `MaxInstanceTypes` (v1.7+).
pub const MAX_INSTANCE_TYPES: usize = 600;

/// A set of instance-type indices, one bit per type (`Problem::instance_types` order), so
/// iterating it yields ascending indices: a template's order, since templates list their
/// types ascending. Narrowing a claim's types is then a few word operations.
type TypeSet = Vec<u64>;

fn set_words(n_types: usize) -> usize {
    n_types.div_ceil(64).max(1)
}

fn set_of(types: &[u32], words: usize) -> TypeSet {
    let mut s = vec![0u64; words];
    for &i in types {
        s[i as usize >> 6] |= 1 << (i & 63);
    }
    s
}

fn set_has(s: &[u64], i: u32) -> bool {
    (s[i as usize >> 6] >> (i & 63)) & 1 == 1
}

fn and_with(s: &mut [u64], other: &[u64]) {
    for (a, b) in s.iter_mut().zip(other) {
        *a &= b;
    }
}

fn set_len(s: &[u64]) -> usize {
    s.iter().map(|w| w.count_ones() as usize).sum()
}

fn set_iter(s: &[u64]) -> impl Iterator<Item = u32> + '_ {
    s.iter().enumerate().flat_map(|(wi, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            (w != 0).then(|| {
                let b = w.trailing_zeros();
                w &= w - 1;
                (wi as u32) << 6 | b
            })
        })
    })
}

/// Keeps only the members for which `keep` holds.
fn set_retain(s: &mut [u64], mut keep: impl FnMut(u32) -> bool) {
    for (wi, word) in s.iter_mut().enumerate() {
        let mut w = *word;
        while w != 0 {
            let b = w.trailing_zeros();
            w &= w - 1;
            if !keep((wi as u32) << 6 | b) {
                *word &= !(1u64 << b);
            }
        }
    }
}

/// Everything the scheduler needs.
#[derive(Debug, Clone, Default)]
pub struct Problem {
    /// Instance types (shared by every NodePool).
    pub instance_types: Vec<InstanceType>,
    /// NodePools.
    pub node_pools: Vec<NodePool>,
    /// DaemonSets (their pods are overhead on every node they land on).
    pub daemon_sets: Vec<DaemonSet>,
    /// Existing nodes and in-flight NodeClaims.
    pub existing_nodes: Vec<ExistingNode>,
    /// Pending pods.
    pub pods: Vec<Pod>,
}

/// Packing strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Upstream ordering and first-fit (emptiest in-flight claim first), for parity.
    Karpenter,
    /// Several packings including upstream's (pod orders, emptiest- or fullest-first claims,
    /// claims seeded with the LP's cost-efficient types); keeps the best by pending pods, then
    /// price, then node count, so it is never worse than `Karpenter` on pending pods or, at equal
    /// pending pods, on price.
    #[default]
    Default,
}

/// Solver options.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// Strategy.
    pub strategy: Strategy,
    /// How many instance types a NodeClaim keeps (upstream 600).
    pub max_instance_types: usize,
    /// `PREFERENCE_POLICY=Respect` (default true).
    pub respect_preferences: bool,
    /// Turn off every cache and pre-check (contiguous headroom arrays, plain-resource fit
    /// tables, per-NodePool maxima, scoring packings without building their plans) and take
    /// the straightforward path. The result is identical; only tests should set this.
    pub reference_path: bool,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            strategy: Strategy::Default,
            max_instance_types: MAX_INSTANCE_TYPES,
            respect_preferences: true,
            reference_path: false,
        }
    }
}

/// A NodeClaim the simulation would create.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimPlan {
    /// NodePool name.
    pub node_pool: String,
    /// Allowed instance types, cheapest first (truncated to `max_instance_types`); claims
    /// with the same list share it.
    pub instance_types: Arc<[String]>,
    /// The cheapest type.
    pub instance_type: String,
    /// Zone of the cheapest offering.
    pub zone: String,
    /// Capacity type of the cheapest offering.
    pub capacity_type: String,
    /// Price of the cheapest offering.
    pub price_per_hour: f64,
    /// Indices into `Problem::pods`.
    pub pods: Vec<usize>,
    /// Requests: pods plus the smallest DaemonSet overhead.
    pub requests: Resources,
    /// The NodeClaim's requirements, as text.
    pub requirements: String,
}

/// A pod left pending.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingPod {
    /// Index into `Problem::pods`.
    pub pod: usize,
    /// Why, in words a human can act on.
    pub reason: String,
}

/// The outcome of a solve.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Solution {
    /// New NodeClaims.
    pub node_claims: Vec<NodeClaimPlan>,
    /// Existing node name → indices of pods placed there.
    pub existing_nodes: BTreeMap<String, Vec<usize>>,
    /// Pods that could not be scheduled.
    pub pending: Vec<PendingPod>,
    /// Σ price of the new NodeClaims.
    pub price_per_hour: f64,
    /// LP lower bound on the price of new capacity for the pods placed on new NodeClaims.
    pub lower_bound_price_per_hour: f64,
}

impl Solution {
    /// Number of new NodeClaims.
    pub fn node_count(&self) -> usize {
        self.node_claims.len()
    }
}

struct Template {
    pool: usize,
    reqs: Requirements,
    taints: Vec<Taint>,
    has_prefer_taint: bool,
    types: Vec<u32>,
    /// DaemonSet overhead per instance type (indexed by type).
    overhead: Vec<Resources>,
    daemon_ports: Vec<HostPort>,
    /// `types` as a set
    type_set: TypeSet,
}

/// A pending pod as the solver sees it: its requests, and what scheduling derives from its
/// spec (shared by every pod of one shape, copied only when a relaxation changes it).
#[derive(Clone)]
struct PodData {
    requests: Resources,
    facts: Arc<PodFacts>,
}

impl std::ops::Deref for PodData {
    type Target = PodFacts;
    fn deref(&self) -> &PodFacts {
        &self.facts
    }
}

impl PodData {
    /// The facts, for changing them (copied first when shared).
    fn facts_mut(&mut self) -> &mut PodFacts {
        Arc::make_mut(&mut self.facts)
    }

    fn derive(&mut self, respect: bool) {
        self.facts_mut().derive(respect);
    }

    /// One relaxation step in upstream's order; false when nothing is left to relax.
    fn relax(&mut self, any_prefer_taint: bool, respect: bool) -> bool {
        self.facts_mut().relax(any_prefer_taint, respect)
    }
}

/// Everything scheduling derives from a pod's spec except its requests.
#[derive(Clone)]
struct PodFacts {
    ns: String,
    tolerations: Vec<Toleration>,
    base: Requirements,
    required_terms: Vec<Requirements>,
    preferred_terms: Vec<Requirements>,
    volume: Requirements,
    spread: Vec<(usize, bool)>,
    affinity: Vec<usize>,
    pref_affinity: Vec<usize>,
    anti: Vec<usize>,
    pref_anti: Vec<usize>,
    selected_by: Vec<usize>,
    host_ports: Vec<HostPort>,
    tolerate_prefer: bool,
    // derived
    strict: Requirements,
    reqs: Requirements,
    type_reqs: Requirements,
    owned: Vec<usize>,
    /// keys narrowed by topology that instance types define
    topo_type_keys: Vec<String>,
    /// Row of `Ctx::type_compat` for `type_reqs`; `None` after a relaxation changed them (or
    /// on the reference path): check the labels directly.
    compat_row: Option<usize>,
    /// When every group the pod owns, and every inverse anti-affinity group selecting it, has
    /// the same non-hostname key: that key. The topology fast check then depends on a target
    /// only through its single value for the key, so one claim scan can reuse its answers.
    memo_key: Option<String>,
    /// `memo_key`'s index in `Ctx::memo_keys`
    memo_id: Option<usize>,
}

impl PodFacts {
    fn derive(&mut self, respect: bool) {
        let mut strict = self.base.clone();
        if let Some(t) = self.required_terms.first() {
            strict.add_all(t);
        }
        let mut reqs = strict.clone();
        if respect {
            if let Some(t) = self.preferred_terms.first() {
                reqs.add_all(t);
            }
        }
        let mut type_reqs = reqs.clone();
        type_reqs.add_all(&self.volume);
        self.strict = strict;
        self.reqs = reqs;
        self.type_reqs = type_reqs;
        self.compat_row = None;
        self.owned = self
            .spread
            .iter()
            .map(|s| s.0)
            .chain(self.affinity.iter().copied())
            .chain(self.pref_affinity.iter().copied())
            .chain(self.anti.iter().copied())
            .chain(self.pref_anti.iter().copied())
            .collect();
    }

    /// One relaxation step in upstream's order; false when nothing is left to relax.
    fn relax(&mut self, any_prefer_taint: bool, respect: bool) -> bool {
        if self.required_terms.len() > 1 {
            self.required_terms.remove(0);
        } else if !self.pref_affinity.is_empty() {
            self.pref_affinity.remove(0);
        } else if !self.pref_anti.is_empty() {
            self.pref_anti.remove(0);
        } else if !self.preferred_terms.is_empty() {
            self.preferred_terms.remove(0);
        } else if let Some(i) = self.spread.iter().position(|s| s.1) {
            self.spread.remove(i);
        } else if any_prefer_taint && !self.tolerate_prefer {
            self.tolerate_prefer = true;
        } else {
            return false;
        }
        self.derive(respect);
        true
    }
}

#[derive(Clone)]
struct NodeState {
    idx: usize,
    reqs: Requirements,
    taints: Vec<Taint>,
    available: Resources,
    host_ports: Vec<HostPort>,
    pods: Vec<usize>,
}

#[derive(Clone)]
struct Claim {
    template: usize,
    seq: usize,
    hostname: String,
    /// created from the cost-efficient seed list rather than every template type
    seeded: bool,
    /// for limited pools: the capacity subtracted from the limits when the claim was created
    limit_cap: Option<Resources>,
    reqs: Requirements,
    /// the instance types it may still launch as
    types: TypeSet,
    /// `set_len(types)`
    n_types: usize,
    requests: Resources,
    max_alloc: Resources,
    /// component-wise minimum free quad over `types` (fast path; `None` when any type has
    /// extended resources): a total within it fits every type
    min_free: Option<[i64; 4]>,
    /// this claim's matching-pod counts per hostname-keyed group slot (`Ctx::host_slot`)
    host_counts: Vec<i64>,
    /// this claim's required-anti-affinity owner counts, likewise
    host_owners: Vec<i64>,
    /// per `Ctx::memo_keys` entry, the id (`Run::memo_ids`) of the claim's single value for
    /// it, or `NO_VALUE`
    memo_vals: Vec<u32>,
    pods: Vec<usize>,
    host_ports: Vec<HostPort>,
}

/// Immutable, shared across strategy runs.
struct Ctx<'a> {
    p: &'a Problem,
    opts: &'a SolveOptions,
    templates: Vec<Template>,
    pods: Vec<Result<PodData, String>>,
    topo: Topology,
    any_prefer_taint: bool,
    remaining: Vec<Option<BTreeMap<String, i64>>>,
    nodes: Vec<NodeState>,
    /// per-type effective allocatable minus overhead, per template, cached for the quick reject
    type_free: Vec<Vec<Resources>>,
    /// per template and type, `quad(type_free)` when neither the type's allocatable nor its
    /// DaemonSet overhead has extended resources (then fitting is four comparisons), else `None`
    type_free_quad: Vec<Vec<Option<[i64; 4]>>>,
    /// bit per (zone, capacity type) of each type's available offerings
    offer_mask: Vec<u128>,
    offer_keys: Vec<(String, String)>,
    /// per type, (bit, price) of each available offering
    offer_prices: Vec<Vec<(u32, f64)>>,
    /// per template, the types that are cost-efficient for the pending pods' resource mix
    /// (LP shadow prices); the default strategy seeds new claims with these first
    efficient: Vec<Vec<u32>>,
    /// `efficient` as sets
    efficient_sets: Vec<TypeSet>,
    /// words of a `TypeSet`
    words: usize,
    /// the distinct `PodData::memo_key`s
    memo_keys: Vec<String>,
    /// per template, the largest allocatable minus overhead over all its types
    template_max_free: Vec<Resources>,
    /// per template, the largest capacity over all its types (limits short-cut)
    template_max_cap: Vec<Resources>,
    /// caches and pre-checks on (not `SolveOptions::reference_path`)
    fast: bool,
    /// per distinct pod `type_reqs` (pods come in few shapes), whether each instance type's
    /// labels are compatible with them, computed once
    type_compat: Vec<TypeSet>,
    /// every label key any instance type defines
    type_label_keys: BTreeSet<String>,
    /// per type, `quad(capacity)` when the capacity has no extended resources
    cap_quad: Vec<Option<[i64; 4]>>,
    /// when every type has a `cap_quad`: per dimension, (capacity, type) descending, so the
    /// maximum over a set is its first member in each list
    cap_desc: Option<[Vec<(i64, u32)>; 4]>,
    /// per topology group, its slot in each claim's `host_counts` when the group is
    /// hostname-keyed and claims track their own counts (fast path, at most 64 such groups,
    /// and no existing node named like a claim placeholder)
    host_slot: Vec<Option<usize>>,
    /// hostname-keyed group ids, by slot
    host_groups: Vec<usize>,
    /// per template whose types all have a free quad (fast path): the types sorted by each
    /// quad dimension, for the resource-only type filter
    fit_index: Vec<Option<FitIndex>>,
}

/// A template's types ordered by free cpu, memory, pods and storage, with bitsets (over type
/// indices) of every prefix: the types whose free amount in a dimension is below a total are
/// one prefix, found by binary search.
struct FitIndex {
    /// words per bitset
    words: usize,
    /// per dimension, (free amount, type index), ascending
    sorted: [Vec<(i64, u32)>; 4],
    /// per dimension, `words × (types + 1)` words: prefix `k` holds the first `k` types
    prefix: [Vec<u64>; 4],
}

impl FitIndex {
    fn new(types: &[u32], free: &[Option<[i64; 4]>], n_types: usize) -> Option<Self> {
        let words = n_types.div_ceil(64).max(1);
        let mut sorted: [Vec<(i64, u32)>; 4] = Default::default();
        let mut prefix: [Vec<u64>; 4] = Default::default();
        for d in 0..4 {
            let mut v = Vec::with_capacity(types.len());
            for &i in types {
                v.push((free.get(i as usize).copied().flatten()?[d], i));
            }
            v.sort_unstable();
            let mut pre = vec![0u64; words * (v.len() + 1)];
            for (k, &(_, i)) in v.iter().enumerate() {
                let (prev, next) = pre.split_at_mut((k + 1) * words);
                next[..words].copy_from_slice(&prev[k * words..]);
                next[i as usize >> 6] |= 1 << (i & 63);
            }
            sorted[d] = v;
            prefix[d] = pre;
        }
        Some(FitIndex {
            words,
            sorted,
            prefix,
        })
    }

    /// Bitset of the types with less free than `total` in some dimension.
    fn too_small(&self, total: &[i64; 4]) -> Vec<u64> {
        let mut out = vec![0u64; self.words];
        for ((sorted, prefix), &need) in self.sorted.iter().zip(&self.prefix).zip(total) {
            let k = sorted.partition_point(|&(f, _)| f < need);
            let pre = &prefix[k * self.words..(k + 1) * self.words];
            for (o, p) in out.iter_mut().zip(pre) {
                *o |= p;
            }
        }
        out
    }

    /// Bounds on the component-wise (min, max) free quad over the types in `kept`
    /// (non-empty): exact when a member is found within a few entries of each end of a
    /// dimension's order, else `floor` (a total every kept type fits: no kept type has less)
    /// and `ceil` (a maximum over a superset of `kept`: no kept type has more). Callers only
    /// use these to skip work (the `all_stay` shortcut and headroom pre-checks), which a
    /// lower minimum or a higher maximum makes rarer, never wrong.
    fn min_max_within(
        &self,
        kept: &[u64],
        floor: &[i64; 4],
        ceil: &[i64; 4],
        scan_max: bool,
    ) -> ([i64; 4], [i64; 4]) {
        const LOOK: usize = 24;
        let has = |i: u32| (kept[i as usize >> 6] >> (i & 63)) & 1 == 1;
        let (mut lo, mut hi) = (*floor, *ceil);
        for d in 0..4 {
            let sorted = &self.sorted[d];
            let from = sorted.partition_point(|&(f, _)| f < floor[d]);
            if let Some(&(f, _)) = sorted[from..].iter().take(LOOK).find(|&&(_, i)| has(i)) {
                lo[d] = f;
            }
            if !scan_max {
                continue;
            }
            if let Some(&(f, _)) = sorted.iter().rev().take(LOOK).find(|&&(_, i)| has(i)) {
                hi[d] = f.max(0);
            }
        }
        (lo, hi)
    }

    /// Component-wise (min, max) free quad over the types in `kept` (non-empty), reading
    /// each dimension's order from its ends.
    fn min_max(&self, kept: &[u64]) -> ([i64; 4], [i64; 4]) {
        let has = |i: u32| (kept[i as usize >> 6] >> (i & 63)) & 1 == 1;
        let (mut lo, mut hi) = ([i64::MAX; 4], [0i64; 4]);
        for d in 0..4 {
            if let Some(&(f, _)) = self.sorted[d].iter().find(|&&(_, i)| has(i)) {
                lo[d] = f;
            }
            if let Some(&(f, _)) = self.sorted[d].iter().rev().find(|&&(_, i)| has(i)) {
                hi[d] = f.max(0);
            }
        }
        (lo, hi)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ClaimOrder {
    Emptiest,
    Fullest,
}

#[derive(Clone, Copy, PartialEq)]
enum PodOrder {
    CpuMem,
    Dominant,
    /// Largest first, alternating CPU-heavy and memory-heavy pods so that the running total
    /// keeps a target memory:CPU ratio (bytes per millicore; `None` = the batch's own), so
    /// claims fill with a balanced mix.
    /// The flag sorts memory-heavy pods mildest first (leaving the most memory-heavy pods for
    /// the last claims, which then suit memory-optimised types).
    Interleave(Option<f64>, bool),
}

struct Run<'c, 'a> {
    ctx: &'c Ctx<'a>,
    topo: Topology,
    nodes: Vec<NodeState>,
    claims: Vec<Claim>,
    /// per pod count, the claims holding that many pods, by index (= creation order): the
    /// claim order is these buckets emptiest or fullest first, each by creation
    buckets: Vec<Vec<usize>>,
    /// per claim: its headroom (cpu, memory, pods, ephemeral storage) for a cheap resource
    /// pre-check before the full evaluation
    room: Vec<[i64; 4]>,
    /// per existing node (same index as `nodes`): its available cpu, memory, pods, storage
    node_room: Vec<[i64; 4]>,
    remaining: Vec<Option<BTreeMap<String, i64>>>,
    claim_order: ClaimOrder,
    efficient: bool,
    next_seq: usize,
    /// per hostname-keyed group slot, bitset over claim indices of the claims whose
    /// `host_counts[slot] > 0` (mirrors the claims' own counts)
    host_taken: Vec<Vec<u64>>,
    /// per slot, likewise for `host_owners[slot] > 0`
    host_owned: Vec<Vec<u64>>,
    /// per offering mask (`Ctx::req_mask`) seen, the types with an available offering in it
    offer_sets: RefCell<FxMap<u128, Arc<TypeSet>>>,
    /// interned values of the memo keys
    memo_ids: FxMap<String, u32>,
    /// per offering mask, every type with an offering in it as (cheapest price in the mask,
    /// type), sorted by price then name
    price_orders: RefCell<FxMap<u128, PriceOrder>>,
    /// per limit bound (`with_launch_types`), the types whose capacity is within it
    limit_sets: RefCell<FxMap<[i64; 4], Arc<TypeSet>>>,
    /// per label requirements (`Ctx::label_relevant`), the types whose labels are compatible
    label_sets: RefCell<FxMap<Requirements, Arc<TypeSet>>>,
}

/// A finished packing of the default strategy, scored by (pending pods, price, nodes).
enum Packed<'c, 'a> {
    Run(Box<Run<'c, 'a>>, Vec<PendingPod>, (usize, f64, usize)),
    Done(Solution, (usize, f64, usize)),
}

impl Packed<'_, '_> {
    fn score(&self) -> (usize, f64, usize) {
        match self {
            Packed::Run(_, _, s) | Packed::Done(_, s) => *s,
        }
    }

    fn finish(self) -> Solution {
        match self {
            Packed::Run(run, pending, _) => run.finish(pending),
            Packed::Done(s, _) => s,
        }
    }
}

/// Answers of the topology fast check during one claim scan, by the target's single value for
/// the pod's `memo_key` (the topology does not change during a scan).
type TopoMemo = Vec<(u32, Option<bool>)>;

/// `Claim::memo_vals` entry of a claim without a single value for the key.
const NO_VALUE: u32 = u32::MAX;

/// (cheapest price in an offering mask, type), sorted by price then name.
type PriceOrder = Arc<Vec<(f64, u32)>>;

/// Sorted priced type lists by (offering mask, launchable types), shared by claims.
type PlanCache = FxMap<u128, FxMap<TypeSet, Rc<Vec<(f64, u32)>>>>;

enum Target {
    Node(usize),
    Claim(usize),
}

struct Eval {
    /// Largest free quad over `types` when every kept type is plain (no extended resources).
    max_quad: Option<[i64; 4]>,
    /// Smallest free quad over `types`, likewise.
    min_quad: Option<[i64; 4]>,
    /// The narrowed requirements; `None` when the pod leaves the claim's unchanged.
    reqs: Option<Requirements>,
    /// The narrowed types; `None` when the pod leaves the claim's unchanged.
    types: Option<TypeSet>,
    /// How many types remain.
    n_types: usize,
    total: Resources,
}

/// Everything about a pod that scheduling reads except its identity (name, uid, creation
/// order) and its requests: pods with equal shapes get the same derived data.
#[derive(PartialEq, Eq, Hash)]
struct PodShape<'p> {
    namespace: &'p str,
    labels: &'p BTreeMap<String, String>,
    node_selector: &'p BTreeMap<String, String>,
    required_node_affinity: &'p [Vec<crate::requirements::NodeSelectorRequirement>],
    preferred_node_affinity:
        &'p [crate::model::Weighted<Vec<crate::requirements::NodeSelectorRequirement>>],
    tolerations: &'p [Toleration],
    topology_spread_constraints: &'p [crate::model::TopologySpreadConstraint],
    pod_affinity: &'p [crate::model::PodAffinityTerm],
    preferred_pod_affinity: &'p [crate::model::Weighted<crate::model::PodAffinityTerm>],
    pod_anti_affinity: &'p [crate::model::PodAffinityTerm],
    preferred_pod_anti_affinity: &'p [crate::model::Weighted<crate::model::PodAffinityTerm>],
    host_ports: &'p [HostPort],
    volume_requirements: &'p [crate::requirements::NodeSelectorRequirement],
}

impl<'p> PodShape<'p> {
    fn of(pod: &'p Pod) -> Self {
        PodShape {
            namespace: &pod.namespace,
            labels: &pod.labels,
            node_selector: &pod.node_selector,
            required_node_affinity: &pod.required_node_affinity,
            preferred_node_affinity: &pod.preferred_node_affinity,
            tolerations: &pod.tolerations,
            topology_spread_constraints: &pod.topology_spread_constraints,
            pod_affinity: &pod.pod_affinity,
            preferred_pod_affinity: &pod.preferred_pod_affinity,
            pod_anti_affinity: &pod.pod_anti_affinity,
            preferred_pod_anti_affinity: &pod.preferred_pod_anti_affinity,
            host_ports: &pod.host_ports,
            volume_requirements: &pod.volume_requirements,
        }
    }
}

/// Whether score `c` (pending pods, price, nodes) beats `b`: fewer pending pods, then a lower
/// price (beyond 1e-9), then, at the same price, fewer nodes.
fn better_score(c: (usize, f64, usize), b: (usize, f64, usize)) -> bool {
    match c.0.cmp(&b.0) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => c.1 < b.1 - 1e-9 || (c.1 <= b.1 + 1e-9 && c.2 < b.2),
    }
}

/// Solve. Errors only on invalid NodePools; bad pods are reported as pending.
pub fn solve(p: &Problem, opts: &SolveOptions) -> Result<Solution, Error> {
    let ctx = Ctx::new(p, opts)?;
    let best = match opts.strategy {
        Strategy::Karpenter => ctx.run(PodOrder::CpuMem, ClaimOrder::Emptiest, false),
        Strategy::Default => {
            let mut ratios = ctx.efficient_ratios();
            ratios.truncate(2);
            let variants: Vec<(PodOrder, ClaimOrder, bool)> = [
                (PodOrder::CpuMem, ClaimOrder::Emptiest, false),
                (PodOrder::Interleave(None, false), ClaimOrder::Fullest, true),
                (PodOrder::Dominant, ClaimOrder::Fullest, false),
            ]
            .into_iter()
            .chain(ratios.into_iter().map(|r| {
                (
                    PodOrder::Interleave(Some(r), true),
                    ClaimOrder::Fullest,
                    true,
                )
            }))
            .collect();
            // Independent packings: run them on the available cores (each worker takes the
            // next variant; variant 0, upstream's and usually the longest, goes first), score
            // each (pending pods, price, nodes) without building its plan, then finish only
            // the winner.
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, variants.len());
            let mut results: Vec<Option<Packed<'_, '_>>> = Vec::new();
            results.resize_with(variants.len(), || None);
            let next = std::sync::atomic::AtomicUsize::new(0);
            let work = || {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(po, co, eff)) = variants.get(i) else {
                        break;
                    };
                    done.push((i, ctx.packed(po, co, eff)));
                }
                done
            };
            std::thread::scope(|scope| {
                // this thread is one of the workers (its allocator heap stays warm)
                let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
                for (i, packed) in work() {
                    results[i] = Some(packed);
                }
                for h in handles {
                    if let Ok(done) = h.join() {
                        for (i, packed) in done {
                            results[i] = Some(packed);
                        }
                    }
                }
            });
            let mut results = results.into_iter().enumerate();
            // variant 0 is upstream's packing: the baseline every other result must beat
            let karpenter = match results.next().and_then(|(_, r)| r) {
                Some(k) => k,
                None => ctx.packed(PodOrder::CpuMem, ClaimOrder::Emptiest, false),
            };
            let (_, base_price, base_nodes) = karpenter.score();
            let mut best = karpenter;
            let mut losers: Vec<Packed<'_, '_>> = Vec::new();
            for (_, cand) in results.filter_map(|(i, r)| r.map(|r| (i, r))) {
                let (c_pending, c_price, c_nodes) = cand.score();
                let (b_pending, b_price, b_nodes) = best.score();
                // more nodes than upstream's packing must pay for themselves: ≥ 2% cheaper
                if c_nodes > base_nodes && c_price > base_price * 0.98 {
                    losers.push(cand);
                    continue;
                }
                if better_score((c_pending, c_price, c_nodes), (b_pending, b_price, b_nodes)) {
                    losers.push(std::mem::replace(&mut best, cand));
                } else {
                    losers.push(cand);
                }
            }
            // free the losing packings on the other cores while this one builds the plan
            let best = std::thread::scope(|scope| {
                // one packing per helper: their frees are independent
                let per = 1;
                while !losers.is_empty() {
                    let chunk: Vec<Packed<'_, '_>> =
                        losers.drain(..per.min(losers.len())).collect();
                    scope.spawn(move || drop(chunk));
                }
                best.finish()
            });
            // one improvement pass on the winner only (see `repair`)
            ctx.improve(best)
        }
    };
    let mut best = best;
    best.lower_bound_price_per_hour = ctx.lower_bound(&best);
    Ok(best)
}

fn parse_terms(
    terms: &[crate::requirements::NodeSelectorRequirement],
    what: &str,
) -> Result<Requirements, String> {
    for t in terms {
        if labels::is_restricted_for_pods(labels::normalize_key(&t.key)) {
            return Err(format!(
                "ignored by Karpenter: {what} selects on the restricted label {:?}",
                t.key
            ));
        }
    }
    Requirements::from_terms(terms).map_err(|e| format!("ignored by Karpenter: {what}: {e}"))
}

impl<'a> Ctx<'a> {
    fn new(p: &'a Problem, opts: &'a SolveOptions) -> Result<Self, Error> {
        let n_types = p.instance_types.len();
        // templates ordered by weight desc, name reverse-lexical
        let mut pool_order: Vec<usize> = (0..p.node_pools.len()).collect();
        pool_order.sort_by(|&a, &b| {
            let (pa, pb) = (&p.node_pools[a], &p.node_pools[b]);
            pb.weight
                .cmp(&pa.weight)
                .then_with(|| pb.name.cmp(&pa.name))
        });
        let mut templates = Vec::new();
        let mut topo = Topology::default();
        // nodeTaintsPolicy Honor needs each domain's sources (NodePools, nodes) and their taints
        let honor_taints = p.pods.iter().any(|pod| {
            pod.topology_spread_constraints
                .iter()
                .any(|c| c.node_taints_policy == Some(InclusionPolicy::Honor))
        });
        let register_sources =
            |topo: &mut Topology, types: &[u32], reqs: &Requirements, taints: &[Taint]| {
                for &t in types {
                    let it = &p.instance_types[t as usize];
                    for o in &it.offerings {
                        if o.available
                            && reqs.allows(labels::ZONE, &o.zone)
                            && reqs.allows(labels::CAPACITY_TYPE, &o.capacity_type)
                        {
                            topo.add_domain_source(labels::ZONE, &o.zone, taints);
                            topo.add_domain_source(labels::CAPACITY_TYPE, &o.capacity_type, taints);
                        }
                    }
                    for (k, v) in &it.labels {
                        if reqs.allows(k, v) {
                            topo.add_domain_source(k, v, taints);
                        }
                    }
                }
                for (k, r) in reqs.iter() {
                    if !r.is_complement() {
                        for v in &r.values {
                            topo.add_domain_source(k, v, taints);
                        }
                    }
                }
            };
        for &pi in &pool_order {
            let np = &p.node_pools[pi];
            let mut reqs = Requirements::from_terms(&np.requirements).map_err(|e| {
                Error::Input(format!(
                    "NodePool {:?}: spec.template.spec.requirements: {e}",
                    np.name
                ))
            })?;
            reqs.add_all(&Requirements::from_labels(&np.labels));
            reqs.add(labels::NODEPOOL, Requirement::in_values([np.name.clone()]));
            let types: Vec<u32> = (0..n_types)
                .filter(|&t| {
                    let it = &p.instance_types[t];
                    it.labels_compatible(&reqs) && it.cheapest_offering(&reqs).is_some()
                })
                .map(|t| t as u32)
                .collect();
            if types.is_empty() {
                // upstream drops the template (NoCompatibleInstanceTypes)
                continue;
            }
            let mut overhead = vec![Resources::default(); n_types];
            let mut daemon_ports = Vec::new();
            for ds in &p.daemon_sets {
                if untolerated(&ds.pod.tolerations, &np.taints, true).is_some() {
                    continue;
                }
                let base = Requirements::from_labels(&ds.pod.node_selector);
                let mut options: Vec<Requirements> = Vec::new();
                if ds.pod.required_node_affinity.is_empty() {
                    options.push(base.clone());
                } else {
                    for term in &ds.pod.required_node_affinity {
                        if let Ok(r) = Requirements::from_terms(term) {
                            let mut o = base.clone();
                            o.add_all(&r);
                            options.push(o);
                        }
                    }
                }
                let options: Vec<Requirements> = options
                    .into_iter()
                    .filter(|o| reqs.compatible(o).is_ok())
                    .collect();
                if options.is_empty() {
                    continue;
                }
                let mut req = ds.pod.requests.clone();
                if req.pods == 0 {
                    req.pods = 1;
                }
                let mut landed = false;
                for &t in &types {
                    let it = &p.instance_types[t as usize];
                    if options.iter().any(|o| {
                        let mut m = reqs.clone();
                        m.add_all(o);
                        it.labels_compatible(o) && it.cheapest_offering(&m).is_some()
                    }) {
                        overhead[t as usize].add(&req);
                        landed = true;
                    }
                }
                if landed {
                    daemon_ports.extend(ds.pod.host_ports.iter().cloned());
                }
            }
            // topology domains from this template
            for &t in &types {
                let it = &p.instance_types[t as usize];
                for o in &it.offerings {
                    if o.available
                        && reqs.allows(labels::ZONE, &o.zone)
                        && reqs.allows(labels::CAPACITY_TYPE, &o.capacity_type)
                    {
                        topo.add_domain(labels::ZONE, &o.zone);
                        topo.add_domain(labels::CAPACITY_TYPE, &o.capacity_type);
                    }
                }
                for (k, v) in &it.labels {
                    if reqs.allows(k, v) {
                        topo.add_domain(k, v);
                    }
                }
            }
            for (k, r) in reqs.iter() {
                if !r.is_complement() {
                    for v in &r.values {
                        topo.add_domain(k, v);
                    }
                }
            }
            if honor_taints {
                register_sources(&mut topo, &types, &reqs, &np.taints);
            }
            templates.push(Template {
                pool: pi,
                type_set: set_of(&types, set_words(n_types)),
                has_prefer_taint: np
                    .taints
                    .iter()
                    .any(|t| t.effect == TaintEffect::PreferNoSchedule),
                taints: np.taints.clone(),
                reqs,
                types,
                overhead,
                daemon_ports,
            });
        }
        let any_prefer_taint = templates.iter().any(|t| t.has_prefer_taint);

        // existing nodes: initialized first, then by name
        let mut node_order: Vec<usize> = (0..p.existing_nodes.len()).collect();
        node_order.sort_by(|&a, &b| {
            let (na, nb) = (&p.existing_nodes[a], &p.existing_nodes[b]);
            nb.initialized
                .cmp(&na.initialized)
                .then_with(|| na.name.cmp(&nb.name))
        });
        let ignored_until_init = [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
            "node.cloudprovider.kubernetes.io/uninitialized",
            "karpenter.sh/unregistered",
        ];
        let mut nodes = Vec::new();
        for &ni in &node_order {
            let n = &p.existing_nodes[ni];
            let mut reqs = Requirements::from_labels(&n.labels);
            reqs.add(labels::HOSTNAME, Requirement::in_values([n.name.clone()]));
            for (k, v) in &n.labels {
                topo.add_domain(k, v);
            }
            let taints: Vec<Taint> = n
                .taints
                .iter()
                .filter(|t| n.initialized || !ignored_until_init.contains(&t.key.as_str()))
                .cloned()
                .collect();
            if honor_taints {
                for (k, v) in &n.labels {
                    topo.add_domain_source(k, v, &taints);
                }
            }
            let mut available = n.allocatable.clone();
            available.sub(&n.requested);
            nodes.push(NodeState {
                idx: ni,
                reqs,
                taints,
                available,
                host_ports: n.host_ports.clone(),
                pods: Vec::new(),
            });
        }

        // limits: spec.limits − Σ capacity of the pool's existing nodes
        let remaining = templates
            .iter()
            .map(|t| {
                let np = &p.node_pools[t.pool];
                if np.limits.is_empty() {
                    return None;
                }
                let mut rem = np.limits.clone();
                for n in &p.existing_nodes {
                    if n.labels.get(labels::NODEPOOL) == Some(&np.name) {
                        for (k, v) in rem.iter_mut() {
                            *v -= if k == "nodes" { 1 } else { n.capacity.get(k) };
                        }
                    }
                }
                Some(rem)
            })
            .collect();

        // pods → groups; pods of one shape (a workload's replicas) share everything but
        // their requests, so the first of each shape is derived and the rest copy it
        // per pod, the first pod of its shape; the facts of each first pod
        // per pod, its shape (an index into `facts`, whose pod `shape_pod` names)
        let mut shape_of: Vec<usize> = Vec::with_capacity(p.pods.len());
        let mut facts: Vec<Result<PodFacts, String>> = Vec::new();
        let mut shape_pod: Vec<usize> = Vec::new();
        let mut shapes: FxMap<PodShape<'_>, usize> = FxMap::default();
        for (i, pod) in p.pods.iter().enumerate() {
            let known = if opts.reference_path {
                None
            } else if i > 0 && PodShape::of(pod) == PodShape::of(&p.pods[i - 1]) {
                // replicas usually come together: no hashing needed
                Some(shape_of[i - 1])
            } else {
                shapes.get(&PodShape::of(pod)).copied()
            };
            let shape = match known {
                Some(s) => s,
                None => {
                    facts.push(Self::pod_data(pod, &mut topo, opts.respect_preferences));
                    shape_pod.push(i);
                    if !opts.reference_path {
                        shapes.insert(PodShape::of(pod), facts.len() - 1);
                    }
                    facts.len() - 1
                }
            };
            shape_of.push(shape);
        }
        // running pods: their required anti-affinity groups, then counts
        let mut running_anti: Vec<Vec<Vec<usize>>> = Vec::new();
        for n in &p.existing_nodes {
            let mut per_node = Vec::new();
            for rp in &n.pods {
                let ids = rp
                    .pod_anti_affinity
                    .iter()
                    .map(|t| {
                        let ns = if t.namespaces.is_empty() {
                            BTreeSet::from([rp.namespace.clone()])
                        } else {
                            t.namespaces.iter().cloned().collect()
                        };
                        topo.group(
                            GroupKind::AntiAffinity,
                            labels::normalize_key(&t.topology_key),
                            ns,
                            t.label_selector.clone(),
                        )
                    })
                    .collect::<Vec<_>>();
                per_node.push(ids);
            }
            running_anti.push(per_node);
        }
        // (counts are sums, so the node order does not matter; the taints are the ones the
        // node state already filtered)
        for ns in &nodes {
            let n = &p.existing_nodes[ns.idx];
            let mut labels_h = n.labels.clone();
            labels_h.insert(labels::HOSTNAME.to_string(), n.name.clone());
            for (pi, rp) in n.pods.iter().enumerate() {
                topo.record_running(
                    &rp.namespace,
                    &rp.labels,
                    &running_anti[ns.idx][pi],
                    &labels_h,
                    &ns.taints,
                );
            }
        }
        let mut memo_keys: Vec<String> = Vec::new();
        for (f, &i) in facts.iter_mut().zip(&shape_pod) {
            let pod = &p.pods[i];
            if let Ok(pd) = f {
                pd.selected_by = (0..topo.groups.len())
                    .filter(|&g| topo.groups[g].selects(&pod.namespace, &pod.labels))
                    .collect();
                if !opts.reference_path {
                    let mut keys = pd
                        .owned
                        .iter()
                        .chain(pd.selected_by.iter().filter(|&&g| topo.groups[g].inverse))
                        .map(|&g| &topo.groups[g]);
                    if let Some(first) = keys.next() {
                        let k = &first.key;
                        if !first.hostname_key && keys.all(|g| g.key == *k) {
                            pd.memo_key = Some(k.clone());
                            pd.memo_id = Some(match memo_keys.iter().position(|m| m == k) {
                                Some(i) => i,
                                None => {
                                    memo_keys.push(k.clone());
                                    memo_keys.len() - 1
                                }
                            });
                        }
                    }
                }
            }
        }
        // one label-compatibility row per distinct non-empty type_reqs (fast path)
        let words = set_words(p.instance_types.len());
        let mut type_compat: Vec<TypeSet> = Vec::new();
        if !opts.reference_path {
            let mut rows: FxMap<Requirements, usize> = FxMap::default();
            for pd in facts.iter_mut().flatten() {
                if pd.type_reqs.is_empty() {
                    continue;
                }
                let next = rows.len();
                if let Some(&r) = rows.get(&pd.type_reqs) {
                    pd.compat_row = Some(r);
                } else if next < 1024 {
                    rows.insert(pd.type_reqs.clone(), next);
                    let mut row = vec![0u64; words];
                    for (i, it) in p.instance_types.iter().enumerate() {
                        if it.labels_compatible(&pd.type_reqs) {
                            row[i >> 6] |= 1 << (i & 63);
                        }
                    }
                    type_compat.push(row);
                    pd.compat_row = Some(next);
                }
            }
        }
        // every pod: its requests and its shape's (shared) facts
        let shared: Vec<Result<Arc<PodFacts>, String>> =
            facts.into_iter().map(|r| r.map(Arc::new)).collect();
        let mut pods: Vec<Result<PodData, String>> = Vec::with_capacity(p.pods.len());
        for (pod, &shape) in p.pods.iter().zip(&shape_of) {
            let mut requests = pod.requests.clone();
            if requests.pods == 0 {
                requests.pods = 1;
            }
            pods.push(match &shared[shape] {
                Ok(f) => Ok(PodData {
                    requests,
                    facts: Arc::clone(f),
                }),
                Err(e) => Err(e.clone()),
            });
        }
        drop(shared);
        let template_max_cap: Vec<Resources> = templates
            .iter()
            .map(|t| {
                let mut m = Resources::default();
                for &i in &t.types {
                    m.max_with(&p.instance_types[i as usize].capacity);
                }
                m
            })
            .collect();
        let type_free: Vec<Vec<Resources>> = templates
            .iter()
            .map(|t| {
                (0..n_types)
                    .map(|i| {
                        let mut a = p.instance_types[i].allocatable.clone();
                        a.sub(&t.overhead[i]);
                        a
                    })
                    .collect()
            })
            .collect();
        let type_free_quad: Vec<Vec<Option<[i64; 4]>>> = type_free
            .iter()
            .enumerate()
            .map(|(ti, frees)| {
                frees
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let plain = p.instance_types[i].allocatable.extended.is_empty()
                            && templates[ti].overhead[i].extended.is_empty();
                        plain.then(|| quad(f))
                    })
                    .collect()
            })
            .collect();
        let mut ctx = Ctx {
            p,
            opts,
            templates,
            pods,
            topo,
            any_prefer_taint,
            remaining,
            nodes,
            type_free_quad,
            type_free,
            offer_mask: Vec::new(),
            offer_keys: Vec::new(),
            offer_prices: Vec::new(),
            efficient: Vec::new(),
            efficient_sets: Vec::new(),
            words,
            memo_keys,
            template_max_free: Vec::new(),
            template_max_cap,
            fast: !opts.reference_path,
            type_compat,
            type_label_keys: p
                .instance_types
                .iter()
                .flat_map(|it| it.labels.keys().cloned())
                .collect(),
            host_slot: Vec::new(),
            host_groups: Vec::new(),
            fit_index: Vec::new(),
            cap_desc: None,
            cap_quad: p
                .instance_types
                .iter()
                .map(|it| it.capacity.extended.is_empty().then(|| quad(&it.capacity)))
                .collect(),
        };
        if ctx.fast {
            let host_groups: Vec<usize> = (0..ctx.topo.groups.len())
                .filter(|&g| ctx.topo.groups[g].hostname_key)
                .collect();
            let clash = p
                .existing_nodes
                .iter()
                .any(|n| n.name.starts_with(CLAIM_HOSTNAME_PREFIX));
            if !host_groups.is_empty() && host_groups.len() <= 64 && !clash {
                ctx.host_slot = vec![None; ctx.topo.groups.len()];
                for (s, &g) in host_groups.iter().enumerate() {
                    ctx.host_slot[g] = Some(s);
                }
                ctx.host_groups = host_groups;
            }
        }
        ctx.template_max_free = ctx
            .templates
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let mut m = Resources::default();
                for &i in &t.types {
                    m.max_with(&ctx.type_free[ti][i as usize]);
                }
                m
            })
            .collect();
        ctx.build_offer_masks();
        if ctx.fast && ctx.cap_quad.iter().all(Option::is_some) {
            let mut lists: [Vec<(i64, u32)>; 4] = Default::default();
            for (d, list) in lists.iter_mut().enumerate() {
                *list = ctx
                    .cap_quad
                    .iter()
                    .enumerate()
                    .filter_map(|(i, q)| q.map(|q| (q[d], i as u32)))
                    .collect();
                list.sort_unstable_by(|a, b| b.cmp(a));
            }
            ctx.cap_desc = Some(lists);
        }
        if ctx.fast {
            ctx.fit_index = ctx
                .templates
                .iter()
                .enumerate()
                .map(|(ti, t)| {
                    FitIndex::new(&t.types, &ctx.type_free_quad[ti], p.instance_types.len())
                })
                .collect();
        }
        if opts.strategy == Strategy::Default {
            ctx.efficient = ctx.efficient_types();
            ctx.efficient_sets = ctx.efficient.iter().map(|e| set_of(e, ctx.words)).collect();
        }
        Ok(ctx)
    }

    /// The part of `reqs` that can tell instance types apart by label: keys no type defines
    /// give every type the same answer in `labels_compatible`, so they are decided here once.
    /// `None` when such a key rules out every type.
    fn label_relevant(&self, reqs: &Requirements) -> Option<Requirements> {
        let mut out = Requirements::new();
        for (k, r) in reqs.iter() {
            if self.type_label_keys.contains(k) {
                out.add(k, r.clone());
            } else if k.starts_with("karpenter.k8s.aws/instance-")
                && !matches!(
                    r.operator(),
                    crate::requirements::Operator::NotIn
                        | crate::requirements::Operator::DoesNotExist
                )
            {
                return None;
            }
        }
        Some(out)
    }

    fn build_offer_masks(&mut self) {
        let mut keys: BTreeSet<(String, String)> = BTreeSet::new();
        for it in &self.p.instance_types {
            for o in it.offerings.iter().filter(|o| o.available) {
                keys.insert((o.zone.clone(), o.capacity_type.clone()));
            }
        }
        if keys.len() > 128 {
            return; // fall back to per-offering checks
        }
        self.offer_keys = keys.into_iter().collect();
        self.offer_prices = self
            .p
            .instance_types
            .iter()
            .map(|it| {
                it.offerings
                    .iter()
                    .filter(|o| o.available)
                    .filter_map(|o| {
                        self.offer_keys
                            .iter()
                            .position(|(z, c)| *z == o.zone && *c == o.capacity_type)
                            .map(|b| (b as u32, o.price))
                    })
                    .collect()
            })
            .collect();
        self.offer_mask = self
            .p
            .instance_types
            .iter()
            .map(|it| {
                it.offerings
                    .iter()
                    .filter(|o| o.available)
                    .filter_map(|o| {
                        self.offer_keys
                            .iter()
                            .position(|(z, c)| *z == o.zone && *c == o.capacity_type)
                    })
                    .fold(0u128, |m, b| m | (1u128 << b))
            })
            .collect();
    }

    /// Type `i`'s cheapest available offering price among the (zone, capacity type) bits of
    /// `mask`.
    fn mask_price(&self, i: usize, mask: u128) -> Option<f64> {
        self.offer_prices[i]
            .iter()
            .filter(|(b, _)| mask & (1u128 << b) != 0)
            .map(|(_, p)| *p)
            .min_by(f64::total_cmp)
    }

    /// The (zone, capacity type) combinations `reqs` allows, as a mask; `None` without masks.
    fn req_mask(&self, reqs: &Requirements) -> Option<u128> {
        if self.offer_mask.is_empty() {
            return None;
        }
        Some(
            self.offer_keys
                .iter()
                .enumerate()
                .filter(|(_, (z, c))| {
                    reqs.allows(labels::ZONE, z) && reqs.allows(labels::CAPACITY_TYPE, c)
                })
                .fold(0u128, |m, (b, _)| m | (1u128 << b)),
        )
    }

    #[inline(never)]
    fn pod_data(pod: &Pod, topo: &mut Topology, respect: bool) -> Result<PodFacts, String> {
        let mut base = Requirements::new();
        for (k, v) in &pod.node_selector {
            if labels::is_restricted_for_pods(labels::normalize_key(k)) {
                return Err(format!(
                    "ignored by Karpenter: nodeSelector uses the restricted label {k:?}"
                ));
            }
            base.add(k, Requirement::in_values([v.clone()]));
        }
        let required_terms = pod
            .required_node_affinity
            .iter()
            .map(|t| parse_terms(t, "required node affinity"))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(r) = base.get(labels::NODEPOOL) {
            if r.is_empty() {
                return Err(
                    "ignored by Karpenter: requires karpenter.sh/nodepool DoesNotExist".into(),
                );
            }
        }
        let mut pref: Vec<_> = pod.preferred_node_affinity.iter().collect();
        pref.sort_by_key(|w| std::cmp::Reverse(w.weight));
        let preferred_terms = pref
            .iter()
            .map(|w| parse_terms(&w.term, "preferred node affinity"))
            .collect::<Result<Vec<_>, _>>()?;
        let volume = Requirements::from_terms(&pod.volume_requirements)
            .map_err(|e| format!("volume topology: {e}"))?;
        let own_ns = || BTreeSet::from([pod.namespace.clone()]);
        let spread = pod
            .topology_spread_constraints
            .iter()
            .map(|c| {
                let mut sel = c.label_selector.clone();
                for k in &c.match_label_keys {
                    if let Some(v) = pod.labels.get(k) {
                        sel.match_labels.insert(k.clone(), v.clone());
                    }
                }
                let g = topo.group(
                    GroupKind::Spread {
                        max_skew: i64::from(c.max_skew.max(1)),
                        min_domains: c.min_domains.map(i64::from),
                        honor_affinity: c.node_affinity_policy != Some(InclusionPolicy::Ignore),
                        honor_taints: (c.node_taints_policy == Some(InclusionPolicy::Honor))
                            .then(|| pod.tolerations.clone()),
                    },
                    labels::normalize_key(&c.topology_key),
                    own_ns(),
                    sel,
                );
                (g, c.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
            })
            .collect();
        let mut term_group = |kind: GroupKind, t: &crate::model::PodAffinityTerm| {
            let ns = if t.namespaces.is_empty() {
                own_ns()
            } else {
                t.namespaces.iter().cloned().collect()
            };
            topo.group(
                kind,
                labels::normalize_key(&t.topology_key),
                ns,
                t.label_selector.clone(),
            )
        };
        let affinity = pod
            .pod_affinity
            .iter()
            .map(|t| term_group(GroupKind::Affinity, t))
            .collect();
        let anti = pod
            .pod_anti_affinity
            .iter()
            .map(|t| term_group(GroupKind::AntiAffinity, t))
            .collect();
        let (mut pref_affinity, mut pref_anti) = (Vec::new(), Vec::new());
        if respect {
            let mut pa: Vec<_> = pod.preferred_pod_affinity.iter().collect();
            pa.sort_by_key(|w| std::cmp::Reverse(w.weight));
            pref_affinity = pa
                .iter()
                .map(|w| term_group(GroupKind::Affinity, &w.term))
                .collect();
            let mut pa: Vec<_> = pod.preferred_pod_anti_affinity.iter().collect();
            pa.sort_by_key(|w| std::cmp::Reverse(w.weight));
            // preferred anti-affinity does not block matching pods (no inverse tracking)
            pref_anti = pa
                .iter()
                .map(|w| {
                    let ns = if w.term.namespaces.is_empty() {
                        own_ns()
                    } else {
                        w.term.namespaces.iter().cloned().collect()
                    };
                    let g = topo.group(
                        GroupKind::AntiAffinity,
                        labels::normalize_key(&w.term.topology_key),
                        ns,
                        w.term.label_selector.clone(),
                    );
                    g
                })
                .collect();
        }
        let mut pd = PodFacts {
            ns: pod.namespace.clone(),
            tolerations: pod.tolerations.clone(),
            base,
            required_terms,
            preferred_terms: if respect { preferred_terms } else { Vec::new() },
            volume,
            spread,
            affinity,
            pref_affinity,
            anti,
            pref_anti,
            selected_by: Vec::new(),
            host_ports: pod.host_ports.clone(),
            tolerate_prefer: false,
            strict: Requirements::new(),
            reqs: Requirements::new(),
            type_reqs: Requirements::new(),
            owned: Vec::new(),
            topo_type_keys: Vec::new(),
            compat_row: None,
            memo_key: None,
            memo_id: None,
        };
        pd.derive(respect);
        let keys: BTreeSet<String> = pd
            .owned
            .iter()
            .map(|&g| topo.groups[g].key.clone())
            .filter(|k| k != labels::ZONE && k != labels::CAPACITY_TYPE && k != labels::HOSTNAME)
            .collect();
        pd.topo_type_keys = keys.into_iter().collect();
        let _ = &pd.ns;
        Ok(pd)
    }

    fn run(&self, pod_order: PodOrder, claim_order: ClaimOrder, efficient: bool) -> Solution {
        let (run, pending) = self.pack(pod_order, claim_order, efficient);
        run.finish(pending)
    }

    /// One packing with its score (pending pods, price, nodes); its plan is built only if it
    /// is chosen. The reference path builds it at once and scores the plan itself.
    fn packed(
        &self,
        pod_order: PodOrder,
        claim_order: ClaimOrder,
        efficient: bool,
    ) -> Packed<'_, 'a> {
        if self.opts.reference_path {
            let s = self.run(pod_order, claim_order, efficient);
            let score = (s.pending.len(), s.price_per_hour, s.node_claims.len());
            return Packed::Done(s, score);
        }
        let (run, pending) = self.pack(pod_order, claim_order, efficient);
        let score = run.score(pending.len());
        Packed::Run(Box::new(run), pending, score)
    }

    /// A run with no pod placed yet.
    fn new_run(&self, claim_order: ClaimOrder, efficient: bool) -> Run<'_, 'a> {
        Run {
            ctx: self,
            topo: self.topo.clone(),
            nodes: self.nodes.clone(),
            claims: Vec::new(),
            buckets: Vec::new(),
            room: Vec::new(),
            node_room: self.nodes.iter().map(|n| quad(&n.available)).collect(),
            remaining: self.remaining.clone(),
            claim_order,
            efficient,
            next_seq: 0,
            host_taken: vec![Vec::new(); self.host_groups.len()],
            host_owned: vec![Vec::new(); self.host_groups.len()],
            offer_sets: RefCell::default(),
            memo_ids: FxMap::default(),
            price_orders: RefCell::default(),
            limit_sets: RefCell::default(),
            label_sets: RefCell::default(),
        }
    }

    /// One packing: the run's final state and the pods left pending.
    fn pack(
        &self,
        pod_order: PodOrder,
        claim_order: ClaimOrder,
        efficient: bool,
    ) -> (Run<'_, 'a>, Vec<PendingPod>) {
        let p = self.p;
        let mut run = self.new_run(claim_order, efficient);
        let mut pending: Vec<PendingPod> = Vec::new();
        let mut queue: Vec<usize> = Vec::new();
        for (i, pd) in self.pods.iter().enumerate() {
            match pd {
                Ok(_) => queue.push(i),
                Err(reason) => pending.push(PendingPod {
                    pod: i,
                    reason: reason.clone(),
                }),
            }
        }
        // cpu, memory as a share of the largest type, for the dominant order
        let (max_cpu, max_mem) = p.instance_types.iter().fold((1i64, 1i64), |(c, m), it| {
            (
                c.max(it.allocatable.cpu_millis),
                m.max(it.allocatable.memory_bytes),
            )
        });
        let req = |i: usize| &p.pods[i].requests;
        match pod_order {
            PodOrder::CpuMem => queue.sort_by(|&a, &b| {
                req(b)
                    .cpu_millis
                    .cmp(&req(a).cpu_millis)
                    .then_with(|| req(b).memory_bytes.cmp(&req(a).memory_bytes))
                    .then_with(|| p.pods[a].creation_index.cmp(&p.pods[b].creation_index))
                    .then_with(|| p.pods[a].uid.cmp(&p.pods[b].uid))
            }),
            PodOrder::Dominant => {
                let dom = |i: usize| {
                    let r = req(i);
                    (r.cpu_millis as f64 / max_cpu as f64)
                        .max(r.memory_bytes as f64 / max_mem as f64)
                };
                queue.sort_by(|&a, &b| {
                    dom(b)
                        .total_cmp(&dom(a))
                        .then_with(|| p.pods[a].creation_index.cmp(&p.pods[b].creation_index))
                        .then_with(|| p.pods[a].uid.cmp(&p.pods[b].uid))
                })
            }
            PodOrder::Interleave(target, mild_first) => {
                let (tc, tm) = queue.iter().fold((0f64, 0f64), |(c, m), &i| {
                    (c + req(i).cpu_millis as f64, m + req(i).memory_bytes as f64)
                });
                let ratio = target.unwrap_or(if tc > 0.0 { tm / tc } else { 0.0 });
                let size = |i: usize| {
                    req(i).cpu_millis as f64 * ratio.max(1.0) + req(i).memory_bytes as f64
                };
                let (mut heavy_cpu, mut heavy_mem): (Vec<usize>, Vec<usize>) =
                    queue.iter().partition(|&&i| {
                        (req(i).memory_bytes as f64) < ratio * req(i).cpu_millis as f64
                    });
                let by_size = |a: &usize, b: &usize| {
                    size(*b)
                        .total_cmp(&size(*a))
                        .then_with(|| p.pods[*a].creation_index.cmp(&p.pods[*b].creation_index))
                };
                heavy_cpu.sort_by(by_size);
                if mild_first {
                    let r =
                        |i: usize| req(i).memory_bytes as f64 / (req(i).cpu_millis.max(1)) as f64;
                    heavy_mem.sort_by(|a, b| r(*a).total_cmp(&r(*b)).then_with(|| by_size(a, b)));
                } else {
                    heavy_mem.sort_by(by_size);
                }
                let (mut ci, mut mi) = (0, 0);
                let (mut c, mut m) = (0f64, 0f64);
                let mut out = Vec::with_capacity(queue.len());
                while ci < heavy_cpu.len() || mi < heavy_mem.len() {
                    // take memory-heavy pods while the running total is CPU-heavy
                    let take_mem = ci >= heavy_cpu.len() || (mi < heavy_mem.len() && m < ratio * c);
                    let i = if take_mem {
                        mi += 1;
                        heavy_mem[mi - 1]
                    } else {
                        ci += 1;
                        heavy_cpu[ci - 1]
                    };
                    c += req(i).cpu_millis as f64;
                    m += req(i).memory_bytes as f64;
                    out.push(i);
                }
                queue = out;
            }
        }
        let mut queue: VecDeque<usize> = queue.into();
        // per pod: queue length when it last failed (usize::MAX = never), and why
        let mut last_len: Vec<usize> = vec![usize::MAX; self.pods.len()];
        let mut last_err: Vec<Option<String>> = vec![None; self.pods.len()];
        while let Some(&i) = queue.front() {
            if last_len[i] == queue.len() {
                break;
            }
            queue.pop_front();
            let Ok(base) = &self.pods[i] else { continue };
            if let Err(e) = run.place_free(i, base) {
                last_err[i] = Some(e);
                queue.push_back(i);
                last_len[i] = queue.len();
            }
        }
        for i in queue {
            pending.push(PendingPod {
                pod: i,
                reason: last_err[i].take().unwrap_or_default(),
            });
        }
        pending.sort_by_key(|pp| pp.pod);
        (run, pending)
    }

    /// The largest of three valid lower bounds on the price of the new NodeClaims: the LP
    /// relaxation (see [`lp`]); the cheapest type that can hold the largest pod (every pod needs
    /// one node that fits it whole); and, per group of pods with required hostname
    /// anti-affinity against each other, the sum over its pods of the cheapest type that fits
    /// each (they need distinct nodes).
    fn lower_bound(&self, s: &Solution) -> f64 {
        let placed: Vec<usize> = s
            .node_claims
            .iter()
            .flat_map(|c| c.pods.iter().copied())
            .collect();
        let lp = self
            .dual(placed.iter().copied())
            .map(|(d, _)| d.bound)
            .unwrap_or(0.0);
        let supply = self.supply();
        let mut memo: HashMap<&Resources, f64> = HashMap::new();
        let mut cheapest_fit = |i: usize| -> f64 {
            let req = &self.p.pods[i].requests;
            *memo.entry(req).or_insert_with(|| {
                let mut r = req.clone();
                r.pods = r.pods.max(1);
                supply
                    .iter()
                    .filter(|(a, _)| r.fits(a))
                    .map(|(_, price)| *price)
                    .min_by(f64::total_cmp)
                    .unwrap_or(0.0)
            })
        };
        let mut bound = lp;
        let mut per_group: HashMap<usize, f64> = HashMap::new();
        for &i in &placed {
            let fit = cheapest_fit(i);
            bound = bound.max(fit);
            if let Ok(pd) = &self.pods[i] {
                for &g in &pd.anti {
                    let grp = &self.topo.groups[g];
                    if grp.key == labels::HOSTNAME && pd.selected_by.contains(&g) {
                        *per_group.entry(g).or_insert(0.0) += fit;
                    }
                }
            }
        }
        per_group.values().fold(bound, |b, v| b.max(*v))
    }

    /// Memory:CPU ratios (bytes per millicore, slightly under) of the cost-efficient types, at
    /// most four distinct ones: targets for the interleaved pod order.
    fn efficient_ratios(&self) -> Vec<f64> {
        let mut out: Vec<f64> = Vec::new();
        for (ti, eff) in self.efficient.iter().enumerate() {
            for &i in eff {
                let a = &self.type_free[ti][i as usize];
                if a.cpu_millis <= 0 {
                    continue;
                }
                let r = a.memory_bytes as f64 / a.cpu_millis as f64 * 0.99;
                if !out.iter().any(|o| (o / r - 1.0).abs() < 0.05) {
                    out.push(r);
                }
            }
        }
        out.sort_by(f64::total_cmp);
        out.truncate(4);
        out
    }

    /// Per template, the types whose price per unit of worth (at the LP shadow prices for all
    /// pending pods) is within 2% of the template's best.
    fn efficient_types(&self) -> Vec<Vec<u32>> {
        let pods = (0..self.p.pods.len()).filter(|&i| self.pods[i].is_ok());
        let Some((dual, names)) = self.dual(pods) else {
            return vec![Vec::new(); self.templates.len()];
        };
        self.templates
            .iter()
            .map(|t| {
                let ratio: Vec<(u32, f64)> = t
                    .types
                    .iter()
                    .filter_map(|&i| {
                        let it = &self.p.instance_types[i as usize];
                        let price = it.cheapest_offering(&t.reqs)?.price;
                        let mut a = it.allocatable.clone();
                        a.sub(&t.overhead[i as usize]);
                        let alloc: Vec<f64> = names.iter().map(|n| a.get(n) as f64).collect();
                        let worth = dual.worth(&alloc);
                        (worth > 0.0).then_some((i, price / worth))
                    })
                    .collect();
                let best = ratio.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
                ratio
                    .into_iter()
                    .filter(|r| r.1 <= best * 1.02)
                    .map(|r| r.0)
                    .collect()
            })
            .collect()
    }

    /// Every type any template may launch: allocatable minus the smallest DaemonSet overhead
    /// any template charges on it, and its cheapest available offering.
    fn supply(&self) -> Vec<(Resources, f64)> {
        let p = self.p;
        let mut min_overhead: Vec<Option<Resources>> = vec![None; p.instance_types.len()];
        for t in &self.templates {
            for &ti in &t.types {
                let ti = ti as usize;
                let o = &t.overhead[ti];
                min_overhead[ti] = Some(match min_overhead[ti].take() {
                    None => o.clone(),
                    Some(mut m) => {
                        m.cpu_millis = m.cpu_millis.min(o.cpu_millis);
                        m.memory_bytes = m.memory_bytes.min(o.memory_bytes);
                        m.pods = m.pods.min(o.pods);
                        m.ephemeral_bytes = m.ephemeral_bytes.min(o.ephemeral_bytes);
                        for (k, x) in m.extended.iter_mut() {
                            *x = (*x).min(o.extended.get(k).copied().unwrap_or(0));
                        }
                        m
                    }
                });
            }
        }
        p.instance_types
            .iter()
            .zip(min_overhead)
            .filter_map(|(it, o)| {
                let o = o?;
                let price = it
                    .offerings
                    .iter()
                    .filter(|o| o.available)
                    .map(|o| o.price)
                    .min_by(f64::total_cmp)?;
                let mut a = it.allocatable.clone();
                a.sub(&o);
                Some((a, price))
            })
            .collect()
    }

    fn dual(&self, pods: impl Iterator<Item = usize>) -> Option<(lp::Dual, Vec<String>)> {
        let p = self.p;
        let mut demand = Resources::default();
        for i in pods {
            let mut r = p.pods[i].requests.clone();
            if r.pods == 0 {
                r.pods = 1;
            }
            demand.add(&r);
        }
        let mut names: Vec<String> = vec![
            crate::resources::CPU.into(),
            crate::resources::MEMORY.into(),
            crate::resources::PODS.into(),
            crate::resources::EPHEMERAL_STORAGE.into(),
        ];
        names.extend(demand.extended.keys().cloned());
        let d: Vec<f64> = names.iter().map(|n| demand.get(n) as f64).collect();
        let cols: Vec<lp::Column> = self
            .supply()
            .iter()
            .map(|(a, price)| lp::Column {
                alloc: names.iter().map(|n| a.get(n) as f64).collect(),
                price: *price,
            })
            .collect();
        lp::solve_dual(&cols, &d).map(|dual| (dual, names))
    }
}

/// cpu, memory, pods and ephemeral storage of `r` (extended resources are checked in full).
#[inline]
fn quad(r: &Resources) -> [i64; 4] {
    [r.cpu_millis, r.memory_bytes, r.pods, r.ephemeral_bytes]
}

/// The resources of a quad (no extended resources): the inverse of [`quad`].
fn quad_resources(q: [i64; 4]) -> Resources {
    Resources {
        cpu_millis: q[0],
        memory_bytes: q[1],
        pods: q[2],
        ephemeral_bytes: q[3],
        extended: BTreeMap::new(),
    }
}

/// Component-wise maximum of two quads.
fn quad_max(a: [i64; 4], b: [i64; 4]) -> [i64; 4] {
    [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

/// Component-wise minimum of two quads.
fn quad_min(a: [i64; 4], b: [i64; 4]) -> [i64; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ]
}

/// `need ≤ room` in every component.
#[inline]
fn quad_fits(need: &[i64; 4], room: &[i64; 4]) -> bool {
    need[0] <= room[0] && need[1] <= room[1] && need[2] <= room[2] && need[3] <= room[3]
}

fn ports_conflict(a: &[HostPort], b: &[HostPort]) -> Option<String> {
    for x in a {
        if b.iter().any(|y| x.conflicts(y)) {
            return Some(format!(
                "host port {}/{} is already in use",
                x.port,
                if x.protocol.is_empty() {
                    "TCP"
                } else {
                    &x.protocol
                }
            ));
        }
    }
    None
}

impl Run<'_, '_> {
    /// [`Run::add`] with upstream's preference relaxation: each relaxation step in turn until
    /// some target takes the pod; the last reason otherwise. The relaxed copy is made only
    /// when the pod as it is fails.
    fn place_free(&mut self, pod: usize, base: &PodData) -> Result<(), String> {
        let mut err = match self.add(pod, base) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let mut pd = base.clone();
        while pd.relax(self.ctx.any_prefer_taint, self.ctx.opts.respect_preferences) {
            match self.add(pod, &pd) {
                Ok(()) => return Ok(()),
                Err(e) => err = e,
            }
        }
        Err(err)
    }

    /// Put the pod on existing node `n` if it fits there.
    fn add_to_node(&mut self, pod: usize, pd: &PodData, n: usize) -> bool {
        let Some(reqs) = self.eval_node(n, pd) else {
            return false;
        };
        let e = Eval {
            reqs: Some(reqs),
            types: None,
            n_types: 0,
            total: Resources::default(),
            max_quad: None,
            min_quad: None,
        };
        self.commit(Target::Node(n), pod, pd, e);
        true
    }

    fn add(&mut self, pod: usize, pd: &PodData) -> Result<(), String> {
        let need = quad(&pd.requests);
        // 1. existing nodes
        for n in 0..self.nodes.len() {
            // the same test eval_node starts with, on contiguous data
            if self.ctx.fast && !quad_fits(&need, &self.node_room[n]) {
                continue;
            }
            if self.add_to_node(pod, pd, n) {
                return Ok(());
            }
        }
        // 2. in-flight claims
        if self.add_to_claim(pod, pd, &need) {
            return Ok(());
        }
        // 3. a new claim per template, in weight order
        self.add_new_claim(pod, pd)
    }

    /// First fit over the in-flight claims in claim order (`sort_key`); true when the pod
    /// was placed.
    #[inline(never)]
    fn add_to_claim(&mut self, pod: usize, pd: &PodData, need: &[i64; 4]) -> bool {
        let mut memo = TopoMemo::new();
        let skip = self.host_skip(pd);
        let n = self.claims.len();
        let skipped: usize = skip.iter().map(|w| w.count_ones() as usize).sum();
        if self.ctx.fast && (n - skipped) * 2 < n {
            // The hostname rules leave few claims: visit just those, in claim order (the
            // same claims, in the same order, as the full scan below).
            let mut few: Vec<usize> = Vec::with_capacity(n - skipped);
            for wi in 0..n.div_ceil(64) {
                let mut w = !skip.get(wi).copied().unwrap_or(0);
                if (wi + 1) * 64 > n {
                    w &= (1u64 << (n - wi * 64)) - 1;
                }
                while w != 0 {
                    few.push(wi * 64 + w.trailing_zeros() as usize);
                    w &= w - 1;
                }
            }
            few.sort_unstable_by_key(|&ci| self.sort_key(ci));
            for ci in few {
                if (!self.ctx.fast || quad_fits(need, &self.room[ci]))
                    && self.try_claim(ci, pod, pd, &mut memo)
                {
                    return true;
                }
            }
            return false;
        }
        let nb = self.buckets.len();
        for bi in 0..nb {
            let b = match self.claim_order {
                ClaimOrder::Emptiest => bi,
                ClaimOrder::Fullest => nb - 1 - bi,
            };
            for k in 0..self.buckets[b].len() {
                let ci = self.buckets[b][k];
                // claims the hostname-keyed quick reject would refuse (same answer, no visit)
                if skip.get(ci >> 6).is_some_and(|w| (w >> (ci & 63)) & 1 == 1) {
                    continue;
                }
                // the same test eval_claim starts with (requests + pod ≤ max_alloc)
                if self.ctx.fast && !quad_fits(need, &self.room[ci]) {
                    continue;
                }
                if self.try_claim(ci, pod, pd, &mut memo) {
                    return true;
                }
            }
        }
        false
    }

    /// One step of the first-fit scan, after the cheap pre-checks: places the pod on claim
    /// `ci` when it fits there.
    fn try_claim(&mut self, ci: usize, pod: usize, pd: &PodData, memo: &mut TopoMemo) -> bool {
        // the topology check already refused this claim's value of the memo key in this
        // scan: eval_claim would reject it again
        if let Some(k) = pd.memo_id {
            let v = self.claims[ci].memo_vals[k];
            if v != NO_VALUE && memo.iter().any(|&(mv, r)| r == Some(false) && mv == v) {
                return false;
            }
        }
        match self.eval_claim(&self.claims[ci], pd, false, memo) {
            Ok(e) => {
                self.commit(Target::Claim(ci), pod, pd, e);
                self.placed(ci);
                true
            }
            Err(_) => false,
        }
    }

    /// Opens a new claim for the pod in the first template (weight order) that takes it.
    #[inline(never)]
    fn add_new_claim(&mut self, pod: usize, pd: &PodData) -> Result<(), String> {
        let mut errs = Vec::new();
        for ti in 0..self.ctx.templates.len() {
            let t = &self.ctx.templates[ti];
            let np = &self.ctx.p.node_pools[t.pool];
            let types: TypeSet = match &self.remaining[ti] {
                None => t.type_set.clone(),
                Some(rem) => {
                    if rem.get("nodes").is_some_and(|&n| n <= 0) {
                        errs.push(format!(
                            "NodePool {:?}: its nodes limit is reached (raise spec.limits.nodes)",
                            np.name
                        ));
                        continue;
                    }
                    // every type fits when the largest does (the common, unbinding case)
                    let largest = &self.ctx.template_max_cap[ti];
                    let mut v = t.type_set.clone();
                    if !(self.ctx.fast
                        && rem
                            .iter()
                            .all(|(k, &v)| k == "nodes" || largest.get(k) <= v))
                    {
                        set_retain(&mut v, |i| {
                            let cap = &self.ctx.p.instance_types[i as usize].capacity;
                            rem.iter().all(|(k, &v)| k == "nodes" || cap.get(k) <= v)
                        });
                    }
                    if v.iter().all(|&w| w == 0) {
                        errs.push(format!(
                            "NodePool {:?}: spec.limits leave room for no instance type \
                             (remaining {})",
                            np.name,
                            rem.iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ));
                        continue;
                    }
                    v
                }
            };
            let seq = self.next_seq;
            let hostname = format!("{CLAIM_HOSTNAME_PREFIX}{seq:04}");
            let (host_counts, host_owners) = self
                .ctx
                .host_groups
                .iter()
                .map(|&g| {
                    (
                        self.topo.domain_count(g, &hostname),
                        self.topo.owner_count(g, &hostname),
                    )
                })
                .unzip();
            let mut reqs = t.reqs.clone();
            reqs.add(labels::HOSTNAME, Requirement::in_values([hostname.clone()]));
            let memo_vals = self.memo_vals_of(&reqs);
            let mut claim = Claim {
                template: ti,
                seq,
                hostname,
                seeded: false,
                limit_cap: None,
                reqs,
                types: Vec::new(),
                n_types: 0,
                requests: Resources::default(),
                max_alloc: Resources::default(),
                min_free: None,
                host_counts,
                host_owners,
                memo_vals,
                pods: Vec::new(),
                host_ports: t.daemon_ports.clone(),
            };
            let mut result = None;
            if self.efficient {
                let eff = &self.ctx.efficient_sets[ti];
                let seeded: TypeSet = types.iter().zip(eff).map(|(a, b)| a & b).collect();
                let n = set_len(&seeded);
                if n > 0 {
                    claim.max_alloc = self.max_free(ti, &seeded, n);
                    claim.min_free = self.min_free(ti, &seeded);
                    claim.types = seeded;
                    claim.n_types = n;
                    claim.seeded = true;
                    result = self.eval_claim(&claim, pd, false, &mut Vec::new()).ok();
                }
            }
            if result.is_none() {
                claim.seeded = false;
                let n = set_len(&types);
                claim.max_alloc = self.max_free(ti, &types, n);
                claim.min_free = self.min_free(ti, &types);
                claim.types = types;
                claim.n_types = n;
            }
            let eval = match result {
                Some(e) => Ok(e),
                None => self.eval_claim(&claim, pd, true, &mut Vec::new()),
            };
            match eval {
                Ok(e) => {
                    self.next_seq += 1;
                    self.claims.push(claim);
                    let ci = self.claims.len() - 1;
                    for s in 0..self.ctx.host_groups.len() {
                        self.sync_host_bits(ci, s);
                    }
                    self.commit(Target::Claim(ci), pod, pd, e);
                    // subtract the largest remaining capacity from the limits (pessimistic)
                    if let Some(rem) = &mut self.remaining[ti] {
                        let mut maxcap = Resources::default();
                        if self.ctx.fast
                            && self.claims[ci].n_types == self.ctx.templates[ti].types.len()
                        {
                            maxcap = self.ctx.template_max_cap[ti].clone();
                        } else if let Some(lists) = &self.ctx.cap_desc {
                            let set = &self.claims[ci].types;
                            let mut q = [0i64; 4];
                            for (d, list) in lists.iter().enumerate() {
                                if let Some(&(v, _)) = list.iter().find(|&&(_, i)| set_has(set, i))
                                {
                                    q[d] = v.max(0);
                                }
                            }
                            maxcap = quad_resources(q);
                        } else if let Some(q) = self
                            .ctx
                            .fast
                            .then(|| {
                                set_iter(&self.claims[ci].types).try_fold([0i64; 4], |m, i| {
                                    self.ctx.cap_quad[i as usize].map(|f| quad_max(m, f))
                                })
                            })
                            .flatten()
                        {
                            maxcap = quad_resources(q);
                        } else {
                            for i in set_iter(&self.claims[ci].types) {
                                maxcap.max_with(&self.ctx.p.instance_types[i as usize].capacity);
                            }
                        }
                        for (k, v) in rem.iter_mut() {
                            *v -= if k == "nodes" { 1 } else { maxcap.get(k) };
                        }
                        self.claims[ci].limit_cap = Some(maxcap);
                    }
                    self.insert_order(ci);
                    return Ok(());
                }
                Err(e) => errs.push(format!("NodePool {:?}: {e}", np.name)),
            }
        }
        if self.ctx.templates.is_empty() {
            return Err("no NodePool has any compatible instance type".into());
        }
        Err(errs.join("; "))
    }

    /// Component-wise minimum of the types' free quads (`None` off the fast path or when a type
    /// has extended resources).
    fn min_free(&self, ti: usize, types: &[u64]) -> Option<[i64; 4]> {
        if !self.ctx.fast {
            return None;
        }
        match self.ctx.fit_index.get(ti) {
            // every template type has a free quad: read the minimum from the index, unless
            // the set is sparse (then folding its members is cheaper)
            Some(Some(fi)) if set_len(types) * 8 >= fi.sorted[0].len() => {
                return Some(fi.min_max(types).0)
            }
            _ => {}
        }
        let fq = &self.ctx.type_free_quad[ti];
        set_iter(types).try_fold([i64::MAX; 4], |m, i| fq[i as usize].map(|f| quad_min(m, f)))
    }

    /// Component-wise maximum of the types' free resources; `n` = `set_len(types)`.
    fn max_free(&self, ti: usize, types: &[u64], n: usize) -> Resources {
        // `types` is always a subset of the template's: equal length means all of them
        if self.ctx.fast && n == self.ctx.templates[ti].types.len() {
            return self.ctx.template_max_free[ti].clone();
        }
        if let Some(Some(fi)) = self
            .ctx
            .fit_index
            .get(ti)
            .filter(|fi| matches!(fi, Some(fi) if n * 8 >= fi.sorted[0].len()))
        {
            // every template type has a free quad and the set is dense: read the maximum
            // from the index
            let q = fi.min_max(types).1;
            return quad_resources(q);
        }
        // plain types: the same maximum (from zero) on quads
        if let Some(Some(q)) = self.ctx.fast.then(|| {
            let fq = &self.ctx.type_free_quad[ti];
            set_iter(types).try_fold([0i64; 4], |m, i| fq[i as usize].map(|f| quad_max(m, f)))
        }) {
            return quad_resources(q);
        }
        let mut m = Resources::default();
        for i in set_iter(types) {
            m.max_with(&self.ctx.type_free[ti][i as usize]);
        }
        m
    }

    fn sort_key(&self, ci: usize) -> (i64, usize) {
        let c = &self.claims[ci];
        match self.claim_order {
            ClaimOrder::Emptiest => (c.pods.len() as i64, c.seq),
            ClaimOrder::Fullest => (-(c.pods.len() as i64), c.seq),
        }
    }

    /// `Topology::quick_reject` for a claim, reading hostname-keyed counts from the claim
    /// itself when it tracks them.
    fn claim_quick_reject(&self, c: &Claim, pd: &PodData) -> bool {
        if self.ctx.host_groups.is_empty() {
            return self
                .topo
                .quick_reject(&pd.owned, &pd.selected_by, &c.reqs, &c.hostname);
        }
        let slot = |g: usize| self.ctx.host_slot[g].unwrap_or(0);
        self.topo.quick_reject_with(
            &pd.owned,
            &pd.selected_by,
            &c.reqs,
            |g| c.host_counts[slot(g)],
            |g| c.host_owners[slot(g)],
        )
    }

    /// Sets claim `ci`'s bits in the slot's `host_taken`/`host_owned` from its counts.
    fn sync_host_bits(&mut self, ci: usize, s: usize) {
        let c = &self.claims[ci];
        let (taken, owned) = (c.host_counts[s] > 0, c.host_owners[s] > 0);
        let (w, b) = (ci >> 6, 1u64 << (ci & 63));
        for (set, on) in [
            (&mut self.host_taken[s], taken),
            (&mut self.host_owned[s], owned),
        ] {
            if set.len() <= w {
                set.resize(w + 1, 0);
            }
            if on {
                set[w] |= b;
            } else {
                set[w] &= !b;
            }
        }
    }

    /// Bitset over claim indices of claims that `claim_quick_reject` refuses for this pod
    /// because of a hostname-keyed group alone: anti-affinity it owns (a member is there),
    /// a hostname spread it owns whose skew one more pod would exceed with the claim's count
    /// above zero (maxSkew − own ≤ 0 only), or an inverse anti-affinity selecting it (an owner
    /// is there). Empty when no such group applies. Exactly the claims whose cached counts
    /// make the quick reject true through these rules, so skipping them changes nothing.
    fn host_skip(&self, pd: &PodData) -> Vec<u64> {
        let mut skip: Vec<u64> = Vec::new();
        if self.ctx.host_groups.is_empty() {
            return skip;
        }
        let mut or = |set: &Vec<u64>| {
            if skip.len() < set.len() {
                skip.resize(set.len(), 0);
            }
            for (d, s) in skip.iter_mut().zip(set) {
                *d |= s;
            }
        };
        for &g in &pd.owned {
            let Some(s) = self.ctx.host_slot[g] else {
                continue;
            };
            match self.topo.groups[g].kind {
                GroupKind::AntiAffinity => or(&self.host_taken[s]),
                // rejected iff count + own > max_skew; with max_skew − own = 0 that is
                // count > 0 (other thresholds are left to the full check)
                GroupKind::Spread { max_skew, .. }
                    if max_skew - i64::from(pd.selected_by.contains(&g)) == 0 =>
                {
                    or(&self.host_taken[s])
                }
                _ => {}
            }
        }
        for &g in &pd.selected_by {
            if let Some(s) = self.ctx.host_slot[g] {
                if self.topo.groups[g].inverse {
                    or(&self.host_owned[s]);
                }
            }
        }
        skip
    }

    /// Per memo key, the id of `reqs`' single value for it (`NO_VALUE` without one).
    fn memo_vals_of(&mut self, reqs: &Requirements) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.ctx.memo_keys.len());
        for k in &self.ctx.memo_keys {
            out.push(match reqs.get(k).and_then(|r| r.single()) {
                Some(v) => match self.memo_ids.get(v) {
                    Some(&id) => id,
                    None => {
                        let id = self.memo_ids.len() as u32;
                        self.memo_ids.insert(v.to_string(), id);
                        id
                    }
                },
                None => NO_VALUE,
            });
        }
        out
    }

    /// The set cached under `key`, or the types for which `member` holds (then cached).
    fn cached_set<K: std::hash::Hash + Eq>(
        &self,
        cache: &RefCell<FxMap<K, Arc<TypeSet>>>,
        key: K,
        member: impl Fn(usize) -> bool,
    ) -> Arc<TypeSet> {
        if let Some(s) = cache.borrow().get(&key) {
            return Arc::clone(s);
        }
        let mut set = vec![0u64; self.ctx.words];
        for i in 0..self.ctx.p.instance_types.len() {
            if member(i) {
                set[i >> 6] |= 1 << (i & 63);
            }
        }
        let set = Arc::new(set);
        cache.borrow_mut().insert(key, Arc::clone(&set));
        set
    }

    /// Every type with an offering in `mask`, with its cheapest price there, sorted by price
    /// then name (computed once per mask and run).
    fn price_order(&self, mask: u128) -> PriceOrder {
        if let Some(o) = self.price_orders.borrow().get(&mask) {
            return Arc::clone(o);
        }
        let p = self.ctx.p;
        let mut order: Vec<(f64, u32)> = (0..p.instance_types.len())
            .filter_map(|i| self.ctx.mask_price(i, mask).map(|pr| (pr, i as u32)))
            .collect();
        order.sort_by(|a, b| {
            a.0.total_cmp(&b.0).then_with(|| {
                p.instance_types[a.1 as usize]
                    .name
                    .cmp(&p.instance_types[b.1 as usize].name)
            })
        });
        let order = Arc::new(order);
        self.price_orders
            .borrow_mut()
            .insert(mask, Arc::clone(&order));
        order
    }

    /// The types with an available offering in `mask`, computed once per mask and run.
    fn offer_set(&self, mask: u128) -> Arc<TypeSet> {
        if let Some(s) = self.offer_sets.borrow().get(&mask) {
            return Arc::clone(s);
        }
        let mut set = vec![0u64; self.ctx.words];
        for (i, m) in self.ctx.offer_mask.iter().enumerate() {
            if m & mask != 0 {
                set[i >> 6] |= 1 << (i & 63);
            }
        }
        let set = Arc::new(set);
        self.offer_sets.borrow_mut().insert(mask, Arc::clone(&set));
        set
    }

    fn claim_room(&self, ci: usize) -> [i64; 4] {
        let c = &self.claims[ci];
        let (a, r) = (quad(&c.max_alloc), quad(&c.requests));
        [a[0] - r[0], a[1] - r[1], a[2] - r[2], a[3] - r[3]]
    }

    /// Adds a new claim (the last one created) to the claim order.
    fn insert_order(&mut self, ci: usize) {
        self.room.resize(self.claims.len(), [0; 4]);
        self.room[ci] = self.claim_room(ci);
        self.bucket_insert(ci);
    }

    /// Puts claim `ci` into the bucket of its pod count, in creation order.
    fn bucket_insert(&mut self, ci: usize) {
        let b = self.claims[ci].pods.len();
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, Vec::new());
        }
        let at = self.buckets[b].partition_point(|&o| o < ci);
        self.buckets[b].insert(at, ci);
    }

    /// After claim `ci` took one more pod: refresh its headroom and move it to the next
    /// pod-count bucket.
    fn placed(&mut self, ci: usize) {
        self.room[ci] = self.claim_room(ci);
        let b = self.claims[ci].pods.len();
        if let Ok(at) = self.buckets[b - 1].binary_search(&ci) {
            self.buckets[b - 1].remove(at);
        }
        self.bucket_insert(ci);
    }

    /// The node's requirements narrowed for this pod, when the pod fits there.
    fn eval_node(&self, n: usize, pd: &PodData) -> Option<Requirements> {
        let node = &self.nodes[n];
        if !pd.requests.fits(&node.available)
            || self.topo.quick_reject(
                &pd.owned,
                &pd.selected_by,
                &node.reqs,
                &self.ctx.p.existing_nodes[node.idx].name,
            )
            || untolerated(&pd.tolerations, &node.taints, pd.tolerate_prefer).is_some()
            || node.reqs.compatible(&pd.type_reqs).is_err()
            || ports_conflict(&pd.host_ports, &node.host_ports).is_some()
        {
            return None;
        }
        let mut merged = node.reqs.clone();
        merged.add_all(&pd.type_reqs);
        self.topo
            .add_requirements(&pd.owned, &pd.selected_by, &pd.strict, &mut merged)
            .ok()?;
        Some(merged)
    }

    fn eval_claim(
        &self,
        c: &Claim,
        pd: &PodData,
        detailed: bool,
        memo: &mut TopoMemo,
    ) -> Result<Eval, String> {
        let p = self.ctx.p;
        let t = &self.ctx.templates[c.template];
        if !c.requests.fits_with(&pd.requests, &c.max_alloc) {
            if !detailed {
                return Err(String::new());
            }
            let res = c
                .requests
                .first_exceeding(&pd.requests, &c.max_alloc)
                .unwrap_or_default();
            return Err(format!(
                "no instance type has enough allocatable {res} for requests {} (after \
                 DaemonSet overhead)",
                pd.requests
            ));
        }
        if !detailed && self.claim_quick_reject(c, pd) {
            return Err(String::new());
        }
        if let Some(taint) = untolerated(&pd.tolerations, &t.taints, pd.tolerate_prefer) {
            if !detailed {
                return Err(String::new());
            }
            return Err(format!(
                "the pod does not tolerate taint {}={}:{:?} (add a toleration)",
                taint.key, taint.value, taint.effect
            ));
        }
        if let Err(e) = c.reqs.compatible(&pd.type_reqs) {
            if !detailed {
                return Err(String::new());
            }
            return Err(match e {
                Incompatibility::Disjoint(key) => {
                    format!(
                    "incompatible requirements: the pod needs {key} {} but the NodePool allows {}",
                    pd.type_reqs.get(&key).map(|r| r.to_string()).unwrap_or_default(),
                    c.reqs.get(&key).map(|r| r.to_string()).unwrap_or_default()
                )
                }
                other => format!("incompatible requirements: {other}"),
            });
        }
        if let Some(e) = ports_conflict(&pd.host_ports, &c.host_ports) {
            return Err(if detailed { e } else { String::new() });
        }
        let mut unconstrained = pd.type_reqs.is_empty()
            && pd.owned.is_empty()
            && !pd.selected_by.iter().any(|&g| {
                let g = &self.topo.groups[g];
                g.inverse && !g.owner_domains.is_empty()
            });
        if !unconstrained && pd.type_reqs.is_empty() {
            let memo_value = pd
                .memo_id
                .map(|k| c.memo_vals[k])
                .filter(|&v| v != NO_VALUE);
            let cached = memo_value
                .and_then(|v| memo.iter().find(|(mv, _)| *mv == v))
                .map(|(_, r)| *r);
            let single = match cached {
                Some(r) => r,
                None => {
                    let r = self.topo.check_single(
                        &pd.owned,
                        &pd.selected_by,
                        &pd.strict,
                        &c.reqs,
                        &pd.type_reqs,
                    );
                    if let Some(v) = memo_value {
                        memo.push((v, r));
                    }
                    r
                }
            };
            match single {
                Some(true) => unconstrained = true,
                // rejected: the full path below produces the detailed reason when asked
                Some(false) if !detailed => return Err(String::new()),
                Some(false) | None => {}
            }
        }
        let merged: std::borrow::Cow<'_, Requirements> = if unconstrained {
            std::borrow::Cow::Borrowed(&c.reqs)
        } else {
            let mut m = c.reqs.clone();
            m.add_all(&pd.type_reqs);
            self.topo
                .add_requirements(&pd.owned, &pd.selected_by, &pd.strict, &mut m)?;
            std::borrow::Cow::Owned(m)
        };
        let offering_changed = merged.get(labels::ZONE) != c.reqs.get(labels::ZONE)
            || merged.get(labels::CAPACITY_TYPE) != c.reqs.get(labels::CAPACITY_TYPE);
        let mut total = c.requests.clone();
        total.add(&pd.requests);
        let check_labels = !pd.type_reqs.is_empty() || !pd.topo_type_keys.is_empty();
        let topo_keys: Requirements = if pd.topo_type_keys.is_empty() {
            Requirements::new()
        } else {
            let mut r = Requirements::new();
            for k in &pd.topo_type_keys {
                if let Some(x) = merged.get(k) {
                    r.add(k, x.clone());
                }
            }
            r
        };
        let (n_label, n_fit): (usize, usize);
        let free_quad = &self.ctx.type_free_quad[c.template];
        let total_quad = (self.ctx.fast && total.extended.is_empty()).then(|| quad(&total));
        // the component-wise max (from zero, as `max_free`) of the kept types' free quads,
        // while all of them have one
        let mut max_quad: Option<[i64; 4]> = self.ctx.fast.then_some([0; 4]);
        let mut min_quad: Option<[i64; 4]> = self.ctx.fast.then_some([i64::MAX; 4]);
        // every type stays: no label narrowing, same offerings, and the total fits the
        // smallest free quad
        let all_stay = !check_labels
            && !offering_changed
            && match (&total_quad, &c.min_free) {
                (Some(tq), Some(m)) => quad_fits(tq, m),
                _ => false,
            };
        let mask = if offering_changed {
            self.ctx.req_mask(&merged)
        } else {
            None
        };
        let index = self.ctx.fit_index.get(c.template).and_then(Option::as_ref);
        let fold_quads = |kept: &[u64], lo: &mut Option<[i64; 4]>, hi: &mut Option<[i64; 4]>| {
            for i in set_iter(kept) {
                match (lo.as_mut(), hi.as_mut(), free_quad[i as usize]) {
                    (Some(l), Some(h), Some(f)) => {
                        (*l, *h) = (quad_min(*l, f), quad_max(*h, f));
                    }
                    _ => {
                        (*lo, *hi) = (None, None);
                        return;
                    }
                }
            }
        };
        let (types, n_types): (Option<TypeSet>, usize) = if all_stay {
            (n_label, n_fit) = (c.n_types, c.n_types);
            (None, c.n_types)
        } else if let (Some(fi), Some(tq), false, false) =
            (index, &total_quad, check_labels, offering_changed)
        {
            // resources alone decide: drop the types too small in some dimension; same
            // result as the general filter below
            let small = fi.too_small(tq);
            let kept: TypeSet = c.types.iter().zip(&small).map(|(a, b)| a & !b).collect();
            let n = set_len(&kept);
            (n_label, n_fit) = (c.n_types, n);
            if n * 8 < fi.sorted[0].len() {
                // few types left: fold their quads directly
                fold_quads(&kept, &mut min_quad, &mut max_quad);
            } else if n > 0 {
                // only small types were dropped: the largest usually stay, so the previous
                // maximum is kept as the (safe) bound
                let (lo, hi) = fi.min_max_within(&kept, tq, &quad(&c.max_alloc), false);
                (min_quad, max_quad) = (Some(lo), Some(hi));
            }
            (Some(kept), n)
        } else {
            let mut kept = c.types.clone();
            if check_labels {
                match pd.compat_row {
                    Some(r) => {
                        for (k, row) in kept.iter_mut().zip(&self.ctx.type_compat[r]) {
                            *k &= row;
                        }
                    }
                    None => set_retain(&mut kept, |i| {
                        p.instance_types[i as usize].labels_compatible(&pd.type_reqs)
                    }),
                }
                if !topo_keys.is_empty() {
                    set_retain(&mut kept, |i| {
                        p.instance_types[i as usize].labels_compatible(&topo_keys)
                    });
                }
            }
            n_label = set_len(&kept);
            match (index, &total_quad) {
                // total + overhead ≤ allocatable ⇔ total ≤ allocatable − overhead
                (Some(fi), Some(tq)) => {
                    for (k, small) in kept.iter_mut().zip(fi.too_small(tq)) {
                        *k &= !small;
                    }
                }
                _ => set_retain(&mut kept, |i| match (&total_quad, &free_quad[i as usize]) {
                    (Some(tq), Some(f)) => quad_fits(tq, f),
                    _ => total.fits_with(
                        &t.overhead[i as usize],
                        &p.instance_types[i as usize].allocatable,
                    ),
                }),
            }
            n_fit = set_len(&kept);
            if offering_changed {
                match mask {
                    Some(m) => {
                        let offered = self.offer_set(m);
                        for (k, o) in kept.iter_mut().zip(offered.iter()) {
                            *k &= o;
                        }
                    }
                    None => set_retain(&mut kept, |i| {
                        p.instance_types[i as usize]
                            .cheapest_offering(&merged)
                            .is_some()
                    }),
                }
            }
            let n = set_len(&kept);
            match index {
                // every template type has a free quad: read the extremes from the index
                Some(fi) if n * 8 >= fi.sorted[0].len() => {
                    let (lo, hi) = match &total_quad {
                        Some(tq) => fi.min_max_within(&kept, tq, &quad(&c.max_alloc), true),
                        None => fi.min_max(&kept),
                    };
                    (min_quad, max_quad) = (Some(lo), Some(hi));
                }
                _ => fold_quads(&kept, &mut min_quad, &mut max_quad),
            }
            (Some(kept), n)
        };
        if n_types == 0 {
            if !detailed {
                return Err(String::new());
            }
            return Err(if n_label == 0 {
                format!("no instance type matches the requirements {}", pd.type_reqs)
            } else if n_fit == 0 {
                format!(
                    "no matching instance type has room for requests {} plus DaemonSet overhead",
                    pd.requests
                )
            } else {
                format!(
                    "no available offering matches zone {} and capacity type {}",
                    merged
                        .get(labels::ZONE)
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "Exists".into()),
                    merged
                        .get(labels::CAPACITY_TYPE)
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "Exists".into())
                )
            });
        }
        // minValues (Strict)
        for (k, r) in merged.iter() {
            if let Some(min) = r.min_values {
                let list: Vec<u32> = set_iter(types.as_deref().unwrap_or(&c.types)).collect();
                let distinct = distinct_values(p, &list, k, &merged);
                if distinct < min {
                    return Err(format!(
                        "minValues {min} for {k} cannot be met: only {distinct} distinct values \
                         remain"
                    ));
                }
            }
        }
        Ok(Eval {
            reqs: match merged {
                std::borrow::Cow::Owned(m) => Some(m),
                std::borrow::Cow::Borrowed(_) => None,
            },
            types,
            n_types,
            total,
            max_quad,
            min_quad,
        })
    }

    fn commit(&mut self, target: Target, pod: usize, pd: &PodData, e: Eval) {
        let Eval {
            reqs,
            types,
            n_types,
            total,
            max_quad,
            min_quad,
        } = e;
        let final_reqs = match (&reqs, &target) {
            (Some(r), _) => r,
            (None, Target::Node(n)) => &self.nodes[*n].reqs,
            (None, Target::Claim(ci)) => &self.claims[*ci].reqs,
        };
        if !pd.selected_by.is_empty() || !pd.owned.is_empty() {
            let taints = match target {
                Target::Node(n) => &self.nodes[n].taints,
                Target::Claim(ci) => &self.ctx.templates[self.claims[ci].template].taints,
            };
            self.topo
                .record(&pd.anti, &pd.selected_by, final_reqs, taints);
            if let Target::Claim(ci) = target {
                if !self.ctx.host_groups.is_empty() {
                    // refresh the claim's own counts for the groups this placement touched
                    let c = &mut self.claims[ci];
                    for &g in pd.selected_by.iter().chain(pd.anti.iter()) {
                        if let Some(s) = self.ctx.host_slot[g] {
                            c.host_counts[s] = self.topo.domain_count(g, &c.hostname);
                            c.host_owners[s] = self.topo.owner_count(g, &c.hostname);
                        }
                    }
                    for &g in pd.selected_by.iter().chain(pd.anti.iter()) {
                        if let Some(s) = self.ctx.host_slot[g] {
                            self.sync_host_bits(ci, s);
                        }
                    }
                }
            }
        }
        match target {
            Target::Node(n) => {
                let node = &mut self.nodes[n];
                node.available.sub(&pd.requests);
                self.node_room[n] = quad(&node.available);
                node.host_ports.extend(pd.host_ports.iter().cloned());
                node.pods.push(pod);
            }
            Target::Claim(ci) => {
                let ti = self.claims[ci].template;
                let max_alloc = if n_types == self.claims[ci].n_types {
                    None
                } else if let Some(q) = max_quad {
                    Some(quad_resources(q))
                } else {
                    types.as_deref().map(|t| self.max_free(ti, t, n_types))
                };
                let changed = max_alloc.is_some();
                if let Some(r) = &reqs {
                    let vals = self.memo_vals_of(r);
                    self.claims[ci].memo_vals = vals;
                }
                let c = &mut self.claims[ci];
                if let Some(r) = reqs {
                    c.reqs = r;
                }
                if changed {
                    c.min_free = min_quad;
                    if let Some(t) = types {
                        c.types = t;
                        c.n_types = n_types;
                    }
                }
                c.requests = total;
                if let Some(m) = max_alloc {
                    c.max_alloc = m;
                }
                c.host_ports.extend(pd.host_ports.iter().cloned());
                c.pods.push(pod);
            }
        }
    }

    /// The claim's launchable types ([`Run::with_launch_types`]) with the price of each
    /// one's cheapest allowed offering, sorted by price then name. On the fast path, claims
    /// whose launchable types and offering mask are the same share one sorted list (the
    /// prices depend on nothing else).
    fn sorted_priced(&self, c: &Claim, cache: &mut PlanCache) -> Rc<Vec<(f64, u32)>> {
        let mask = self.ctx.req_mask(&c.reqs);
        let sort = |mut priced: Vec<(f64, u32)>| {
            let p = self.ctx.p;
            priced.sort_by(|a, b| {
                a.0.total_cmp(&b.0).then_with(|| {
                    p.instance_types[a.1 as usize]
                        .name
                        .cmp(&p.instance_types[b.1 as usize].name)
                })
            });
            Rc::new(priced)
        };
        self.with_launch_types(c, mask, |types| match mask {
            Some(m) if self.ctx.fast => {
                let by_types = cache.entry(m).or_default();
                if let Some(v) = by_types.get(types) {
                    return Rc::clone(v);
                }
                // the mask's price order, restricted to the types: already sorted
                let v: Rc<Vec<(f64, u32)>> = Rc::new(
                    self.price_order(m)
                        .iter()
                        .filter(|&&(_, i)| set_has(types, i))
                        .copied()
                        .collect(),
                );
                by_types.insert(types.to_vec(), Rc::clone(&v));
                v
            }
            _ => sort(self.price_types(c, mask, types)),
        })
    }

    /// Each type with the price of its cheapest offering allowed by `mask` (or by the
    /// claim's requirements when there is no mask); types without one are left out.
    fn price_types(&self, c: &Claim, mask: Option<u128>, types: &[u64]) -> Vec<(f64, u32)> {
        let p = self.ctx.p;
        set_iter(types)
            .filter_map(|i| {
                let price = match mask {
                    Some(m) => self.ctx.mask_price(i as usize, m),
                    None => p.instance_types[i as usize]
                        .cheapest_offering(&c.reqs)
                        .map(|o| o.price),
                };
                price.map(|pr| (pr, i))
            })
            .collect()
    }

    /// Calls `f` with the claim's launchable types. A seeded claim was packed against the
    /// cost-efficient types only; it gets back every template type that still fits its pods
    /// (for limited pools, only types no larger than the capacity already charged to the
    /// limits).
    fn with_launch_types<R>(
        &self,
        c: &Claim,
        mask: Option<u128>,
        f: impl FnOnce(&[u64]) -> R,
    ) -> R {
        let p = self.ctx.p;
        let t = &self.ctx.templates[c.template];
        let mut expanded: TypeSet;
        let limits = &p.node_pools[t.pool].limits;
        // fast path: limits on cpu/memory/pods/ephemeral-storage/nodes only, as quad bounds
        let quad_limits: Option<[i64; 4]> = match &c.limit_cap {
            Some(cap) if self.ctx.fast => {
                let names = [
                    crate::resources::CPU,
                    crate::resources::MEMORY,
                    crate::resources::PODS,
                    crate::resources::EPHEMERAL_STORAGE,
                ];
                let mut bound = [i64::MAX; 4];
                let mut ok = true;
                for k in limits.keys() {
                    match names.iter().position(|n| n == k) {
                        Some(d) => bound[d] = cap.get(k),
                        None => ok &= k == "nodes",
                    }
                }
                ok.then_some(bound)
            }
            _ => None,
        };
        let within_limits = |i: u32, it: &InstanceType| match &c.limit_cap {
            None => true,
            Some(cap) => match (quad_limits, self.ctx.cap_quad[i as usize]) {
                (Some(b), Some(q)) => quad_fits(&q, &b),
                _ => limits
                    .keys()
                    .all(|k| k == "nodes" || it.capacity.get(k) <= cap.get(k)),
            },
        };
        let free_quad = &self.ctx.type_free_quad[c.template];
        let req_quad = (self.ctx.fast && c.requests.extended.is_empty()).then(|| quad(&c.requests));
        let label_reqs: Option<std::borrow::Cow<'_, Requirements>> = if !c.seeded {
            None
        } else if self.ctx.fast {
            self.ctx
                .label_relevant(&c.reqs)
                .map(std::borrow::Cow::Owned)
        } else {
            Some(std::borrow::Cow::Borrowed(&c.reqs))
        };
        let none = vec![0u64; self.ctx.words];
        let index = self.ctx.fit_index.get(c.template).and_then(Option::as_ref);
        let types: &[u64] = if let (Some(label_reqs), true, Some(m), Some(fi), Some(rq)) =
            (&label_reqs, self.ctx.fast, mask, index, &req_quad)
        {
            // the same filter as below, as set operations on cached sets
            expanded = t.type_set.clone();
            if c.limit_cap.is_some() {
                match quad_limits {
                    Some(b) => {
                        let within = self.cached_set(&self.limit_sets, b, |i| {
                            self.ctx.cap_quad[i].is_some_and(|q| quad_fits(&q, &b))
                                || (self.ctx.cap_quad[i].is_none()
                                    && within_limits(i as u32, &p.instance_types[i]))
                        });
                        and_with(&mut expanded, &within);
                    }
                    None => set_retain(&mut expanded, |i| {
                        within_limits(i, &p.instance_types[i as usize])
                    }),
                }
            }
            let labels_ok = self.cached_set(&self.label_sets, label_reqs.as_ref().clone(), |i| {
                p.instance_types[i].labels_compatible(label_reqs)
            });
            and_with(&mut expanded, &labels_ok);
            for (e, small) in expanded.iter_mut().zip(fi.too_small(rq)) {
                *e &= !small;
            }
            and_with(&mut expanded, &self.offer_set(m));
            &expanded
        } else if let Some(label_reqs) = &label_reqs {
            expanded = t.type_set.clone();
            set_retain(&mut expanded, |i| {
                let it = &p.instance_types[i as usize];
                within_limits(i, it)
                    && it.labels_compatible(label_reqs)
                    && match (&req_quad, &free_quad[i as usize]) {
                        (Some(r), Some(f)) => quad_fits(r, f),
                        _ => c
                            .requests
                            .fits_with(&t.overhead[i as usize], &it.allocatable),
                    }
                    && match mask {
                        Some(m) => self.ctx.offer_mask[i as usize] & m != 0,
                        None => it.cheapest_offering(&c.reqs).is_some(),
                    }
            });
            &expanded
        } else if c.seeded {
            // a key no instance type defines rules out every type
            &none
        } else {
            &c.types
        };
        f(types)
    }

    /// The (price, type) a claim launches as, or `None` when `finish` would drop it: the first
    /// of `priced` by price then name, priced at its cheapest allowed offering.
    fn launch_price(&self, c: &Claim, priced: &[(f64, u32)]) -> Option<f64> {
        let p = self.ctx.p;
        let &(_, first) = priced.iter().min_by(|a, b| {
            a.0.total_cmp(&b.0).then_with(|| {
                p.instance_types[a.1 as usize]
                    .name
                    .cmp(&p.instance_types[b.1 as usize].name)
            })
        })?;
        p.instance_types[first as usize]
            .cheapest_offering(&c.reqs)
            .map(|o| o.price)
    }

    /// Pending pods, price and node count of this packing, exactly as [`Run::finish`] would
    /// report them, without building the plan (for choosing among packings).
    fn score(&self, pending: usize) -> (usize, f64, usize) {
        let (mut price, mut nodes) = (0.0, 0usize);
        let mut cache = PlanCache::default();
        for c in &self.claims {
            let mask = self.ctx.req_mask(&c.reqs);
            let launched = match mask {
                // the first launchable type in the mask's price order
                Some(m) if self.ctx.fast => {
                    let order = self.price_order(m);
                    self.with_launch_types(c, mask, |types| {
                        order
                            .iter()
                            .find(|&&(_, i)| set_has(types, i))
                            .map(|&(_, i)| i)
                    })
                    .and_then(|i| {
                        self.ctx.p.instance_types[i as usize]
                            .cheapest_offering(&c.reqs)
                            .map(|o| o.price)
                    })
                }
                _ => {
                    let priced = self.sorted_priced(c, &mut cache);
                    self.launch_price(c, &priced[..priced.len().min(1)])
                }
            };
            if let Some(pr) = launched {
                price += pr;
                nodes += 1;
            }
        }
        (pending, price, nodes)
    }

    fn finish(mut self, pending: Vec<PendingPod>) -> Solution {
        let p = self.ctx.p;
        let claims = std::mem::take(&mut self.claims);
        let mut node_claims = Vec::with_capacity(claims.len());
        // claims in one zone and capacity type share their requirements' text
        let mut texts: FxMap<Requirements, String> = FxMap::default();
        let mut cache = PlanCache::default();
        // per (sorted list, by address; template) left untruncated: its names and smallest
        // overhead
        type Shared = (Arc<[String]>, Option<Resources>);
        let mut shared: FxMap<(usize, usize), Shared> = FxMap::default();
        for c in claims {
            let t = &self.ctx.templates[c.template];
            let priced = self.sorted_priced(&c, &mut cache);
            let Some(&(_, first)) = priced.first() else {
                continue;
            };
            let it = &p.instance_types[first as usize];
            let Some(off) = it.cheapest_offering(&c.reqs) else {
                continue;
            };
            let names_and_overhead = |keep: &[u32]| -> Shared {
                let mut min_overhead: Option<&Resources> = None;
                for &i in keep {
                    let o = &t.overhead[i as usize];
                    if min_overhead.is_none_or(|m| {
                        (o.cpu_millis, o.memory_bytes) < (m.cpu_millis, m.memory_bytes)
                    }) {
                        min_overhead = Some(o);
                    }
                }
                let names: Arc<[String]> = keep
                    .iter()
                    .map(|&i| p.instance_types[i as usize].name.clone())
                    .collect();
                (names, min_overhead.cloned())
            };
            let max = self.ctx.opts.max_instance_types;
            let (names, min_overhead) = if priced.len() <= max && self.ctx.fast {
                shared
                    .entry((Rc::as_ptr(&priced) as usize, c.template))
                    .or_insert_with(|| {
                        let keep: Vec<u32> = priced.iter().map(|x| x.1).collect();
                        names_and_overhead(&keep)
                    })
                    .clone()
            } else {
                let mut keep: Vec<u32> = priced.iter().map(|x| x.1).collect();
                if keep.len() > max {
                    let truncated = &keep[..max];
                    let ok = c.reqs.iter().all(|(k, r)| {
                        r.min_values
                            .is_none_or(|m| distinct_values(p, truncated, k, &c.reqs) >= m)
                    });
                    if ok {
                        keep.truncate(max);
                    }
                }
                names_and_overhead(&keep)
            };
            let mut requests = c.requests.clone();
            if let Some(o) = min_overhead {
                requests.add(&o);
            }
            let mut reqs = c.reqs;
            reqs.remove(labels::HOSTNAME);
            let requirements = match texts.get(&reqs) {
                Some(t) => t.clone(),
                None => {
                    let t = reqs.to_string();
                    texts.insert(reqs, t.clone());
                    t
                }
            };
            node_claims.push(NodeClaimPlan {
                node_pool: p.node_pools[t.pool].name.clone(),
                instance_types: names,
                instance_type: it.name.clone(),
                zone: off.zone.clone(),
                capacity_type: off.capacity_type.clone(),
                price_per_hour: off.price,
                pods: c.pods,
                requests,
                requirements,
            });
        }
        let mut existing_nodes = BTreeMap::new();
        for n in &self.nodes {
            if !n.pods.is_empty() {
                existing_nodes.insert(p.existing_nodes[n.idx].name.clone(), n.pods.clone());
            }
        }
        let price_per_hour = node_claims.iter().map(|c| c.price_per_hour).sum();
        Solution {
            node_claims,
            existing_nodes,
            pending,
            price_per_hour,
            lower_bound_price_per_hour: 0.0,
        }
    }
}

fn distinct_values(p: &Problem, types: &[u32], key: &str, reqs: &Requirements) -> usize {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for &i in types {
        let it = &p.instance_types[i as usize];
        match key {
            labels::ZONE | labels::CAPACITY_TYPE => {
                for o in &it.offerings {
                    let v = if key == labels::ZONE {
                        &o.zone
                    } else {
                        &o.capacity_type
                    };
                    if o.available && reqs.allows(key, v) {
                        seen.insert(v);
                    }
                }
            }
            _ => {
                if let Some(v) = it.labels.get(key) {
                    seen.insert(v);
                }
            }
        }
    }
    seen.len()
}

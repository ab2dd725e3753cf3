//! The scheduler (upstream `scheduler.go`: `NewScheduler`, `Solve`, `add`): the context every
//! packing shares, built once in steps, and one packing's state; a pod goes to the first
//! existing node that takes it, else the first in-flight NodeClaim in claim order, else a new
//! NodeClaim from the first template (by weight) that takes it.
use super::*;

/// Solve. Errors only on invalid NodePools; bad pods are reported as pending.
pub fn solve(p: &Problem, opts: &SolveOptions) -> Result<Solution, Error> {
    let ctx = Ctx::new(p, opts)?;
    let best = match opts.strategy {
        Strategy::Karpenter => ctx.run(PodOrder::CpuMem, ClaimOrder::Emptiest, false),
        Strategy::Default => ctx.best_of_packings(),
    };
    let mut best = best;
    best.lower_bound_price_per_hour = ctx.lower_bound(&best);
    Ok(best)
}

/// Immutable, shared across strategy runs.
pub(super) struct Ctx<'a> {
    pub(super) p: &'a Problem,
    pub(super) opts: &'a SolveOptions,
    pub(super) templates: Vec<Template>,
    pub(super) pods: Vec<Result<PodData, String>>,
    pub(super) topo: Topology,
    pub(super) any_prefer_taint: bool,
    pub(super) remaining: Vec<Option<BTreeMap<String, i64>>>,
    pub(super) nodes: Vec<NodeState>,
    /// per-type effective allocatable minus overhead, per template, cached for the quick reject
    pub(super) type_free: Vec<Vec<Resources>>,
    /// per template and type, `quad(type_free)` when neither the type's allocatable nor its
    /// DaemonSet overhead has extended resources (then fitting is four comparisons), else `None`
    pub(super) type_free_quad: Vec<Vec<Option<[i64; 4]>>>,
    /// bit per (zone, capacity type) of each type's available offerings
    pub(super) offer_mask: Vec<u128>,
    pub(super) offer_keys: Vec<(String, String)>,
    /// per type, (bit, price) of each available offering
    pub(super) offer_prices: Vec<Vec<(u32, f64)>>,
    /// per template, the types that are cost-efficient for the pending pods' resource mix
    /// (LP shadow prices); the default strategy seeds new claims with these first
    pub(super) efficient: Vec<Vec<u32>>,
    /// `efficient` as sets
    pub(super) efficient_sets: Vec<TypeSet>,
    /// words of a `TypeSet`
    pub(super) words: usize,
    /// the distinct `PodData::memo_key`s
    pub(super) memo_keys: Vec<String>,
    /// per template, the largest allocatable minus overhead over all its types
    pub(super) template_max_free: Vec<Resources>,
    /// per template, the largest capacity over all its types (limits short-cut)
    pub(super) template_max_cap: Vec<Resources>,
    /// caches and pre-checks on (not `SolveOptions::reference_path`)
    pub(super) fast: bool,
    /// per distinct pod `type_reqs` (pods come in few shapes), whether each instance type's
    /// labels are compatible with them, computed once
    pub(super) type_compat: Vec<TypeSet>,
    /// every label key any instance type defines
    pub(super) type_label_keys: BTreeSet<String>,
    /// per type, `quad(capacity)` when the capacity has no extended resources
    pub(super) cap_quad: Vec<Option<[i64; 4]>>,
    /// when every type has a `cap_quad`: per dimension, (capacity, type) descending, so the
    /// maximum over a set is its first member in each list
    pub(super) cap_desc: Option<[Vec<(i64, u32)>; 4]>,
    /// per topology group, its slot in each claim's `host_counts` when the group is
    /// hostname-keyed and claims track their own counts (fast path, at most 64 such groups,
    /// and no existing node named like a claim placeholder)
    pub(super) host_slot: Vec<Option<usize>>,
    /// hostname-keyed group ids, by slot
    pub(super) host_groups: Vec<usize>,
    /// per template whose types all have a free quad (fast path): the types sorted by each
    /// quad dimension, for the resource-only type filter
    pub(super) fit_index: Vec<Option<FitIndex>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ClaimOrder {
    Emptiest,
    Fullest,
}

pub(super) struct Run<'c, 'a> {
    pub(super) ctx: &'c Ctx<'a>,
    pub(super) topo: Topology,
    pub(super) nodes: Vec<NodeState>,
    pub(super) claims: Vec<Claim>,
    /// per pod count, the claims holding that many pods, by index (= creation order): the
    /// claim order is these buckets emptiest or fullest first, each by creation
    pub(super) buckets: Vec<Vec<usize>>,
    /// per claim: its headroom (cpu, memory, pods, ephemeral storage) for a cheap resource
    /// pre-check before the full evaluation
    pub(super) room: Vec<[i64; 4]>,
    /// per existing node (same index as `nodes`): its available cpu, memory, pods, storage
    pub(super) node_room: Vec<[i64; 4]>,
    pub(super) remaining: Vec<Option<BTreeMap<String, i64>>>,
    pub(super) claim_order: ClaimOrder,
    pub(super) efficient: bool,
    pub(super) next_seq: usize,
    /// per hostname-keyed group slot, bitset over claim indices of the claims whose
    /// `host_counts[slot] > 0` (mirrors the claims' own counts)
    pub(super) host_taken: Vec<Vec<u64>>,
    /// per slot, likewise for `host_owners[slot] > 0`
    pub(super) host_owned: Vec<Vec<u64>>,
    /// per offering mask (`Ctx::req_mask`) seen, the types with an available offering in it
    pub(super) offer_sets: RefCell<FxMap<u128, Arc<TypeSet>>>,
    /// interned values of the memo keys
    pub(super) memo_ids: FxMap<String, u32>,
    /// per offering mask, every type with an offering in it as (cheapest price in the mask,
    /// type), sorted by price then name
    pub(super) price_orders: RefCell<FxMap<u128, PriceOrder>>,
    /// per limit bound (`with_launch_types`), the types whose capacity is within it
    pub(super) limit_sets: RefCell<FxMap<[i64; 4], Arc<TypeSet>>>,
    /// per label requirements (`Ctx::label_relevant`), the types whose labels are compatible
    pub(super) label_sets: RefCell<FxMap<Requirements, Arc<TypeSet>>>,
}

impl<'a> Ctx<'a> {
    /// Everything the packings share (upstream `NewScheduler`), in steps: the NodeClaim
    /// templates and the domains they offer, the existing nodes, the NodePools' remaining
    /// limits, the pods (derived once per shape), the running pods' topology counts, then the
    /// tables and indexes of the fast path and the default strategy's cost-efficient types.
    pub(super) fn new(p: &'a Problem, opts: &'a SolveOptions) -> Result<Self, Error> {
        let words = set_words(p.instance_types.len());
        let mut topo = Topology::default();
        // nodeTaintsPolicy Honor needs each domain's sources (NodePools, nodes) and their taints
        let honor_taints = honors_node_taints(p);
        let templates = Template::for_node_pools(p)?;
        register_template_domains(&mut topo, p, &templates, honor_taints);
        let any_prefer_taint = templates.iter().any(|t| t.has_prefer_taint);
        let nodes = existing_nodes(p, &mut topo, honor_taints);
        let remaining = remaining_limits(p, &templates);
        let mut shapes = PodShapes::derive(p, &mut topo, opts);
        record_running_pods(p, &nodes, &mut topo);
        let memo_keys = classify_pods(p, &topo, &mut shapes, opts.reference_path);
        let type_compat = if opts.reference_path {
            Vec::new()
        } else {
            label_compat_rows(p, &mut shapes.facts, words)
        };
        let pods = shapes.into_pods(p);
        let template_max_cap = template_max_capacity(p, &templates);
        let type_free = free_tables(p, &templates);
        let type_free_quad = free_quads(p, &templates, &type_free);
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
            cap_quad: capacity_quads(p),
        };
        if ctx.fast {
            ctx.assign_host_slots();
        }
        ctx.template_max_free = ctx.max_free_per_template();
        ctx.build_offer_masks();
        ctx.cap_desc = ctx.capacity_desc();
        ctx.fit_index = ctx.fit_indexes();
        if opts.strategy == Strategy::Default {
            ctx.efficient = ctx.efficient_types();
            ctx.efficient_sets = ctx.efficient.iter().map(|e| set_of(e, ctx.words)).collect();
        }
        Ok(ctx)
    }

    /// A run with no pod placed yet.
    pub(super) fn new_run(&self, claim_order: ClaimOrder, efficient: bool) -> Run<'_, 'a> {
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
}

/// Per template, its NodePool's `spec.limits` minus the capacity of the pool's existing nodes
/// (`None` without limits; upstream `scheduler.go: NewScheduler`'s `remainingResources`).
pub(super) fn remaining_limits(
    p: &Problem,
    templates: &[Template],
) -> Vec<Option<BTreeMap<String, i64>>> {
    templates
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
                        *v = v.saturating_sub(if k == "nodes" { 1 } else { n.capacity.get(k) });
                    }
                }
            }
            Some(rem)
        })
        .collect()
}

impl Run<'_, '_> {
    pub(super) fn add(&mut self, pod: usize, pd: &PodData) -> Result<(), String> {
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
    pub(super) fn add_to_claim(&mut self, pod: usize, pd: &PodData, need: &[i64; 4]) -> bool {
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
    pub(super) fn try_claim(
        &mut self,
        ci: usize,
        pod: usize,
        pd: &PodData,
        memo: &mut TopoMemo,
    ) -> bool {
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

    pub(super) fn sort_key(&self, ci: usize) -> (i64, usize) {
        let c = &self.claims[ci];
        match self.claim_order {
            ClaimOrder::Emptiest => (c.pods.len() as i64, c.seq),
            ClaimOrder::Fullest => (-(c.pods.len() as i64), c.seq),
        }
    }

    pub(super) fn claim_room(&self, ci: usize) -> [i64; 4] {
        let c = &self.claims[ci];
        let (a, r) = (quad(&c.max_alloc), quad(&c.requests));
        [a[0] - r[0], a[1] - r[1], a[2] - r[2], a[3] - r[3]]
    }

    /// Adds a new claim (the last one created) to the claim order.
    pub(super) fn insert_order(&mut self, ci: usize) {
        self.room.resize(self.claims.len(), [0; 4]);
        self.room[ci] = self.claim_room(ci);
        self.bucket_insert(ci);
    }

    /// Puts claim `ci` into the bucket of its pod count, in creation order.
    pub(super) fn bucket_insert(&mut self, ci: usize) {
        let b = self.claims[ci].pods.len();
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, Vec::new());
        }
        let at = self.buckets[b].partition_point(|&o| o < ci);
        self.buckets[b].insert(at, ci);
    }

    /// After claim `ci` took one more pod: refresh its headroom and move it to the next
    /// pod-count bucket.
    pub(super) fn placed(&mut self, ci: usize) {
        self.room[ci] = self.claim_room(ci);
        let b = self.claims[ci].pods.len();
        if let Ok(at) = self.buckets[b - 1].binary_search(&ci) {
            self.buckets[b - 1].remove(at);
        }
        self.bucket_insert(ci);
    }
}

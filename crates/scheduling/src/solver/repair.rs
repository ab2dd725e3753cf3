//! One improvement pass on the default strategy's winning packing, with two kinds of change:
//! merge NodeClaims whose pods fit together on one cheaper instance type (per-node
//! kube-reserved and DaemonSet overhead, and the price steps between sizes, make fewer, fuller
//! nodes cheaper), or move a few pods from one claim to another so that the first fits a
//! cheaper type and the second absorbs them for less.
//!
//! Both are chosen arithmetically among the least cost-efficient claims (price against their
//! requests' worth at the LP shadow prices), only between claims of the same NodePool and zone
//! (pods never change zone, so zonal spreads and affinities keep their final counts), and only
//! for an estimated saving of at least 0.5% of the plan. Then every placement is replayed
//! through the engine's own checks on a fresh run: pods pinned to their node or claim, merged
//! or moved pods pinned to their new claim, in an order that grows every zone's spread counts
//! in lockstep. A pinned placement never relaxes a preference; a pod its pin refuses goes
//! through the ordinary first-fit [`Run::add`] with relaxation, exactly as in a packing. So
//! every constraint holds by construction and no preference is dropped that the packing would
//! have kept. The replay is kept only when it wins under the strategy's selection rule.
use super::*;

/// How many of the least cost-efficient claims are considered for merges and moves.
const MERGE_CANDIDATES: usize = 24;

/// When replaying every merge at once does not pay, how many single merges (largest estimated
/// saving first) are replayed on their own.
const SINGLE_MERGE_TRIES: usize = 3;

/// A replay runs only for an estimated saving of at least this share of the plan's price.
const MATERIAL_SAVING: f64 = 0.005;

/// Per template, per type (template order), its allowed offerings as (zone, price).
type ZonePrices<'p> = Vec<Vec<Vec<(&'p str, f64)>>>;

/// Pods to move from one claim to another (indices into the solution's `node_claims`).
struct Move {
    /// estimated hourly saving
    saving: f64,
    from: usize,
    to: usize,
    pods: Vec<usize>,
}

impl Move {
    /// The replay's claims: every claim in solution order, with the pods moved.
    fn layout(&self, s: &Solution) -> Vec<(Vec<usize>, String)> {
        s.node_claims
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let pods = if k == self.from {
                    c.pods
                        .iter()
                        .copied()
                        .filter(|i| !self.pods.contains(i))
                        .collect()
                } else if k == self.to {
                    c.pods.iter().chain(&self.pods).copied().collect()
                } else {
                    c.pods.clone()
                };
                (pods, c.zone.clone())
            })
            .collect()
    }
}

/// Claims (indices into the solution's `node_claims`) to be replaced by one claim.
#[derive(Clone)]
struct Group {
    /// estimated hourly saving of the merges that formed it
    saving: f64,
    claims: Vec<usize>,
    pods: Vec<usize>,
    /// Σ requests of the pods (without DaemonSet overhead)
    total: Resources,
    /// hourly price of the group as it stands (one claim's, or the merged estimate)
    price: f64,
    /// zone of its claims (merges never move pods between zones)
    zone: String,
    template: usize,
    /// per position in the template's type list: every pod's labels allow the type
    compat: Vec<bool>,
    /// hostname-keyed required anti-affinity groups its pods own
    anti_owned: BTreeSet<usize>,
    /// hostname-keyed spread and anti-affinity groups selecting its pods
    selected: BTreeSet<usize>,
}

impl Group {
    /// Whether the hostname rules forbid the two groups' pods from sharing one node (checked
    /// conservatively: any shared hostname-keyed spread or anti-affinity membership).
    fn conflicts(&self, o: &Group) -> bool {
        !self.anti_owned.is_disjoint(&o.selected)
            || !o.anti_owned.is_disjoint(&self.selected)
            || !self.selected.is_disjoint(&o.selected)
    }
}

/// Where a replayed pod goes.
#[derive(Clone, Copy)]
enum Pin {
    Node(usize),
    /// A group: the run's claim once its first pod created it.
    Group(usize),
    /// No pin (pending in the original): first-fit.
    Free,
}

impl Ctx<'_> {
    /// Try to improve the winning packing by merging claims or moving pods between them;
    /// returns the better of the two.
    pub(super) fn improve(&self, s: Solution) -> Solution {
        let Some(groups) = self.candidates(&s) else {
            return s;
        };
        let prices = self.zone_prices();
        // a replay costs about one packing: only for an estimated saving that matters
        let material = s.price_per_hour * MATERIAL_SAVING;
        let mut layouts: Vec<Vec<(Vec<usize>, String)>> = Vec::new();
        if let Some(mut merged) = self.merge_plan(groups.clone(), &prices) {
            // every merge at once, then (when a replay diverges) the largest single merges
            merged.sort_by(|a, b| b.saving.total_cmp(&a.saving).then(a.claims.cmp(&b.claims)));
            if merged.iter().map(|g| g.saving).sum::<f64>() >= material {
                layouts.push(Self::layout(&s, &merged.iter().collect::<Vec<_>>()));
            }
            if merged.len() > 1 {
                for g in merged.iter().take(SINGLE_MERGE_TRIES) {
                    if g.saving >= material {
                        layouts.push(Self::layout(&s, &[g]));
                    }
                }
            }
        }
        if let Some(mv) = self.move_plan(&groups, &prices) {
            if mv.saving >= material {
                layouts.push(mv.layout(&s));
            }
        }
        for l in layouts {
            let cand = self.replay(&s, &l);
            if beats(&cand, &s) {
                return cand;
            }
        }
        s
    }

    /// Per template and type, its available offerings the template allows, as (zone, price).
    fn zone_prices(&self) -> ZonePrices<'_> {
        self.templates
            .iter()
            .map(|t| {
                t.types
                    .iter()
                    .map(|&i| {
                        self.p.instance_types[i as usize]
                            .offerings
                            .iter()
                            .filter(|o| {
                                o.available
                                    && t.reqs.allows(labels::ZONE, &o.zone)
                                    && t.reqs.allows(labels::CAPACITY_TYPE, &o.capacity_type)
                            })
                            .map(|o| (o.zone.as_str(), o.price))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// The price of the cheapest type of template `ti` allowed by `compat` and offered in
    /// `zone` that holds `total` with its DaemonSet overhead.
    fn cheapest(
        &self,
        ti: usize,
        compat: impl Fn(usize) -> bool,
        total: &Resources,
        prices: &[Vec<(&str, f64)>],
        zone: &str,
    ) -> Option<f64> {
        let t = &self.templates[ti];
        t.types
            .iter()
            .enumerate()
            .filter(|&(k, _)| compat(k))
            .filter_map(|(k, &i)| {
                let it = &self.p.instance_types[i as usize];
                if !total.fits_with(&t.overhead[i as usize], &it.allocatable) {
                    return None;
                }
                prices[k]
                    .iter()
                    .filter(|(z, _)| *z == zone)
                    .map(|(_, p)| *p)
                    .min_by(f64::total_cmp)
            })
            .min_by(f64::total_cmp)
    }

    /// The best move of some pods from one candidate claim to another of the same NodePool and
    /// zone so that the first fits a cheaper type and the second absorbs them for less than
    /// that saves (pods with hostname-keyed spread or anti-affinity do not move).
    fn move_plan(&self, groups: &[Group], prices: &ZonePrices<'_>) -> Option<Move> {
        let mut best: Option<Move> = None;
        for a in groups {
            let ti = a.template;
            let t = &self.templates[ti];
            // movable pods, largest first per dimension (cpu, memory)
            let movable: Vec<(usize, [i64; 4])> = a
                .pods
                .iter()
                .filter_map(|&i| {
                    let pd = self.pods.get(i)?.as_ref().ok()?;
                    let host = pd.anti.iter().chain(&pd.selected_by).any(|&g| {
                        let grp = &self.topo.groups[g];
                        grp.hostname_key && grp.kind != GroupKind::Affinity
                    });
                    (!host && pd.requests.extended.is_empty()).then(|| (i, quad(&pd.requests)))
                })
                .collect();
            if movable.is_empty() || !a.total.extended.is_empty() {
                continue;
            }
            // per dimension (cpu, memory), indices into `movable`, largest first
            let by_dim: Vec<Vec<usize>> = (0..2)
                .map(|d| {
                    let mut v: Vec<usize> = (0..movable.len()).collect();
                    v.sort_by(|&x, &y| {
                        movable[y].1[d]
                            .cmp(&movable[x].1[d])
                            .then(movable[x].0.cmp(&movable[y].0))
                    });
                    v
                })
                .collect();
            let total = quad(&a.total);
            for (k, &i) in t.types.iter().enumerate() {
                if !a.compat[k] {
                    continue;
                }
                let Some(p_t) = prices[ti][k]
                    .iter()
                    .filter(|(z, _)| *z == a.zone)
                    .map(|(_, p)| *p)
                    .min_by(f64::total_cmp)
                else {
                    continue;
                };
                if p_t >= a.price - 1e-9 {
                    continue;
                }
                let it = &self.p.instance_types[i as usize];
                let mut room = quad(&it.allocatable);
                let o = quad(&t.overhead[i as usize]);
                for d in 0..4 {
                    room[d] = room[d].saturating_sub(o[d]);
                }
                let mut excess = [0i64; 4];
                for d in 0..4 {
                    excess[d] = total[d].saturating_sub(room[d]);
                }
                if excess[2] > 0 || excess[3] > 0 || (excess[0] <= 0 && excess[1] <= 0) {
                    continue;
                }
                // at most a quarter of the claim (requests and pods) moves
                if excess[0].saturating_mul(4) > total[0] || excess[1].saturating_mul(4) > total[1]
                {
                    continue;
                }
                // greedy: in the dimension most over (relative to the type), the smallest pod
                // that covers the excess alone, else the largest; until nothing is over
                let limit = a.pods.len().max(4) / 4;
                let mut taken = vec![false; movable.len()];
                let mut moved: Vec<usize> = Vec::new();
                let mut moved_total = Resources::default();
                while (excess[0] > 0 || excess[1] > 0) && moved.len() < limit {
                    let over = |x: usize| excess[x] as f64 / room[x].max(1) as f64;
                    let d = if excess[0] > 0 && (excess[1] <= 0 || over(0) >= over(1)) {
                        0
                    } else {
                        1
                    };
                    let order = &by_dim[d];
                    let free = |j: &usize| !taken[*j];
                    let pick = order
                        .iter()
                        .rev()
                        .copied()
                        .filter(free)
                        .find(|&j| movable[j].1[d] >= excess[d])
                        .or_else(|| order.iter().copied().find(free));
                    let Some(j) = pick else { break };
                    taken[j] = true;
                    let (pod, q) = movable[j];
                    moved.push(pod);
                    if let Some(Ok(pd)) = self.pods.get(pod) {
                        moved_total.add(&pd.requests);
                    }
                    for x in 0..4 {
                        excess[x] = excess[x].saturating_sub(q[x]);
                    }
                }
                if excess[0] > 0 || excess[1] > 0 {
                    continue;
                }
                for b in groups {
                    if b.claims == a.claims || b.template != ti || b.zone != a.zone {
                        continue;
                    }
                    let mut b_total = b.total.clone();
                    b_total.add(&moved_total);
                    let compat = |k: usize| a.compat[k] && b.compat[k];
                    let Some(p_b) = self.cheapest(ti, compat, &b_total, &prices[ti], &b.zone)
                    else {
                        continue;
                    };
                    let saving = a.price + b.price - p_t - p_b;
                    if saving > 1e-6 && best.as_ref().is_none_or(|m| saving > m.saving + 1e-12) {
                        best = Some(Move {
                            saving,
                            from: a.claims[0],
                            to: b.claims[0],
                            pods: moved.clone(),
                        });
                    }
                }
            }
        }
        best
    }

    /// The replay's claims in solution order: each merged group at its first claim, every
    /// other claim on its own; as (pods, zone the claim starts in).
    fn layout(s: &Solution, merged: &[&Group]) -> Vec<(Vec<usize>, String)> {
        let mut out = Vec::new();
        for (k, c) in s.node_claims.iter().enumerate() {
            match merged.iter().find(|g| g.claims.contains(&k)) {
                Some(g) if g.claims[0] == k => out.push((g.pods.clone(), g.zone.clone())),
                Some(_) => {}
                None => out.push((c.pods.clone(), c.zone.clone())),
            }
        }
        out
    }

    /// The least cost-efficient claims (at most [`MERGE_CANDIDATES`], price above their
    /// requests' worth at the LP shadow prices), as groups of one claim each.
    fn candidates(&self, s: &Solution) -> Option<Vec<Group>> {
        if s.node_claims.len() < 2 {
            return None;
        }
        let placed = s.node_claims.iter().flat_map(|c| c.pods.iter().copied());
        let (dual, names) = self.dual(placed)?;
        // least cost-efficient first: price over the worth of the claim's requests
        let mut ratio: Vec<(f64, usize)> = s
            .node_claims
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let req: Vec<f64> = names.iter().map(|n| c.requests.get(n) as f64).collect();
                let worth = dual.worth(&req);
                let r = if worth > 0.0 {
                    c.price_per_hour / worth
                } else {
                    f64::INFINITY
                };
                (r, k)
            })
            .collect();
        ratio.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut cands: Vec<usize> = ratio
            .iter()
            .take(MERGE_CANDIDATES)
            .filter(|(r, _)| *r > 1.0 + 1e-9)
            .map(|&(_, k)| k)
            .collect();
        cands.sort_unstable();
        let groups: Vec<Group> = cands.iter().filter_map(|&k| self.group(s, k)).collect();
        (groups.len() >= 2).then_some(groups)
    }

    /// The merges, as groups of two or more claims (claim indices ascending); `None` when no
    /// merge of the candidates is estimated to save anything.
    fn merge_plan(&self, mut groups: Vec<Group>, prices: &ZonePrices<'_>) -> Option<Vec<Group>> {
        let mut merged_any = false;
        loop {
            let mut best: Option<(f64, usize, usize, f64)> = None;
            for a in 0..groups.len() {
                for b in a + 1..groups.len() {
                    let (ga, gb) = (&groups[a], &groups[b]);
                    // zone-preserving: no pod changes zone, so zonal spreads and affinities
                    // keep their final counts
                    if ga.template != gb.template || ga.zone != gb.zone || ga.conflicts(gb) {
                        continue;
                    }
                    let Some(est) = self.cheapest_fit(ga, gb, &prices[ga.template], &ga.zone)
                    else {
                        continue;
                    };
                    let saving = ga.price + gb.price - est;
                    if saving > 1e-6 && best.is_none_or(|(s, ..)| saving > s + 1e-12) {
                        best = Some((saving, a, b, est));
                    }
                }
            }
            let Some((saving, a, b, est)) = best else {
                break;
            };
            let gb = groups.remove(b);
            let ga = &mut groups[a];
            ga.saving += gb.saving + saving;
            ga.claims.extend(gb.claims);
            ga.pods.extend(gb.pods);
            ga.total.add(&gb.total);
            ga.price = est;
            for (x, y) in ga.compat.iter_mut().zip(&gb.compat) {
                *x &= *y;
            }
            ga.anti_owned.extend(gb.anti_owned);
            ga.selected.extend(gb.selected);
            merged_any = true;
        }
        if !merged_any {
            return None;
        }
        let mut merged: Vec<Group> = groups.into_iter().filter(|g| g.claims.len() > 1).collect();
        for g in &mut merged {
            g.claims.sort_unstable();
        }
        Some(merged)
    }

    /// Claim `k` of the solution as a merge candidate.
    fn group(&self, s: &Solution, k: usize) -> Option<Group> {
        let c = &s.node_claims[k];
        let template = self
            .templates
            .iter()
            .position(|t| self.p.node_pools[t.pool].name == c.node_pool)?;
        let t = &self.templates[template];
        let mut total = Resources::default();
        let mut shapes: Vec<&Requirements> = Vec::new();
        let (mut anti_owned, mut selected) = (BTreeSet::new(), BTreeSet::new());
        for &i in &c.pods {
            let pd = self.pods.get(i)?.as_ref().ok()?;
            total.add(&pd.requests);
            if !shapes.contains(&&pd.type_reqs) {
                shapes.push(&pd.type_reqs);
            }
            for &g in &pd.anti {
                if self.topo.groups[g].hostname_key {
                    anti_owned.insert(g);
                }
            }
            for &g in &pd.selected_by {
                let grp = &self.topo.groups[g];
                if grp.hostname_key && grp.kind != GroupKind::Affinity {
                    selected.insert(g);
                }
            }
        }
        let compat = t
            .types
            .iter()
            .map(|&i| {
                let it = &self.p.instance_types[i as usize];
                shapes.iter().all(|r| it.labels_compatible(r))
            })
            .collect();
        Some(Group {
            saving: 0.0,
            claims: vec![k],
            pods: c.pods.clone(),
            total,
            price: c.price_per_hour,
            zone: c.zone.clone(),
            template,
            compat,
            anti_owned,
            selected,
        })
    }

    /// The price of the cheapest template type offered in `zone` that both groups' pods fit on
    /// together, with its DaemonSet overhead.
    fn cheapest_fit(
        &self,
        a: &Group,
        b: &Group,
        prices: &[Vec<(&str, f64)>],
        zone: &str,
    ) -> Option<f64> {
        let mut total = a.total.clone();
        total.add(&b.total);
        self.cheapest(
            a.template,
            |k| a.compat[k] && b.compat[k],
            &total,
            prices,
            zone,
        )
    }

    /// Replay the solution's placements on a fresh run with `groups` (pods, starting zone) as
    /// its claims.
    fn replay(&self, s: &Solution, groups: &[(Vec<usize>, String)]) -> Solution {
        let mut run = self.new_run(ClaimOrder::Emptiest, false);
        let node_by_name: HashMap<&str, usize> = run
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| (self.p.existing_nodes[node.idx].name.as_str(), n))
            .collect();
        let mut seq: Vec<(usize, Pin)> = Vec::new();
        for (name, pods) in &s.existing_nodes {
            let pin = node_by_name
                .get(name.as_str())
                .map_or(Pin::Free, |&n| Pin::Node(n));
            seq.extend(pods.iter().map(|&i| (i, pin)));
        }
        // claims grow together. A pod with a zone spread is ranked among its group's pods in
        // the same zone, so every zone's count grows in lockstep and a spread the plan kept
        // holds at every step; other pods are ranked by their position in their claim.
        let mut ranked: Vec<(usize, usize, usize, usize)> = Vec::new();
        let mut seen: HashMap<(usize, &str), usize> = HashMap::new();
        for (gi, (pods, zone)) in groups.iter().enumerate() {
            for (pos, &i) in pods.iter().enumerate() {
                let spread = self
                    .pods
                    .get(i)
                    .and_then(|pd| pd.as_ref().ok())
                    .and_then(|pd| {
                        pd.spread
                            .iter()
                            .map(|&(g, _)| g)
                            .find(|&g| self.topo.groups[g].key == labels::ZONE)
                    });
                let rank = match spread {
                    Some(g) => {
                        let n = seen.entry((g, zone.as_str())).or_insert(0);
                        *n += 1;
                        *n - 1
                    }
                    None => pos,
                };
                ranked.push((rank, gi, pos, i));
            }
        }
        ranked.sort_unstable();
        seq.extend(ranked.into_iter().map(|(_, gi, _, i)| (i, Pin::Group(gi))));
        for pp in &s.pending {
            seq.push((pp.pod, Pin::Free));
        }
        let mut claim_of: Vec<Option<usize>> = vec![None; groups.len()];
        let mut pending: Vec<PendingPod> = Vec::new();
        for (i, pin) in seq {
            let Some(Ok(base)) = self.pods.get(i) else {
                if let Some(Err(reason)) = self.pods.get(i) {
                    pending.push(PendingPod {
                        pod: i,
                        reason: reason.clone(),
                    });
                }
                continue;
            };
            let placed = match pin {
                // A pinned placement never relaxes a preference: a pod its pin refuses goes
                // through `place_free` below, which relaxes only when no target takes the pod
                // as it is, exactly as the packing does.
                Pin::Node(n) => run.add_to_node(i, base, n),
                Pin::Group(gi) => match claim_of[gi] {
                    Some(ci) => run.pin_to_claim(i, base, ci),
                    None => {
                        // the new claim starts in the zone its original claims launched in (a
                        // stricter pod: it still satisfies everything it asked for)
                        let mut zoned = base.clone();
                        let zone = &groups[gi].1;
                        zoned
                            .facts_mut()
                            .base
                            .add(labels::ZONE, Requirement::in_values([zone.clone()]));
                        zoned.derive(self.opts.respect_preferences);
                        let before = run.claims.len();
                        let ok = run.pin_new_claim(i, &zoned).is_ok();
                        if ok {
                            claim_of[gi] = Some(before);
                        }
                        ok
                    }
                },
                Pin::Free => false,
            };
            if !placed {
                if let Err(reason) = run.place_free(i, base) {
                    pending.push(PendingPod { pod: i, reason });
                }
            }
        }
        pending.sort_by_key(|pp| pp.pod);
        run.finish(pending)
    }
}

/// Whether `cand` wins over `s` under the strategy's selection rule (fewer pending pods, then
/// lower price, then fewer nodes), without more nodes (a replay may fall back to first-fit).
fn beats(cand: &Solution, s: &Solution) -> bool {
    // every pod the original decided is decided again (placed or pending)
    let decided = |x: &Solution| {
        x.node_claims.iter().map(|c| c.pods.len()).sum::<usize>()
            + x.existing_nodes.values().map(Vec::len).sum::<usize>()
            + x.pending.len()
    };
    if decided(cand) != decided(s) {
        return false;
    }
    let score = |x: &Solution| (x.pending.len(), x.price_per_hour, x.node_claims.len());
    better_score(score(cand), score(s)) && cand.node_claims.len() <= s.node_claims.len()
}

impl Run<'_, '_> {
    /// Put the pod on claim `ci` if it fits there.
    fn pin_to_claim(&mut self, pod: usize, pd: &PodData, ci: usize) -> bool {
        if ci >= self.claims.len() {
            return false;
        }
        match self.eval_claim(&self.claims[ci], pd, false, &mut TopoMemo::new()) {
            Ok(e) => {
                self.commit(Target::Claim(ci), pod, pd, e);
                self.placed(ci);
                true
            }
            Err(_) => false,
        }
    }

    /// Put the pod on a new claim ([`Run::add`]'s step 3 with no node or claim to try first);
    /// returns the new claim's index.
    fn pin_new_claim(&mut self, pod: usize, pd: &PodData) -> Result<usize, String> {
        let before = self.claims.len();
        self.add_new_claim(pod, pd)?;
        if self.claims.len() == before {
            return Err("no new claim was created".into());
        }
        Ok(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instancetype::{Offering, ON_DEMAND};
    use crate::model::{LabelSelector, PodAffinityTerm};

    /// `small` (2 vCPU, $1.00) and `big` (4 vCPU, $1.50): two small nodes cost more than one
    /// big one.
    fn types() -> Vec<InstanceType> {
        [("small", 2, 1.0), ("big", 4, 1.5)]
            .into_iter()
            .map(|(name, cpu, price)| {
                InstanceType::new(
                    name,
                    BTreeMap::from([(labels::ARCH.to_string(), "amd64".to_string())]),
                    Resources {
                        pods: 20,
                        ..Resources::cpu_mem(cpu * 1000, cpu << 30)
                    },
                    Resources::cpu_mem(100, 0),
                    vec![Offering {
                        zone: "zone-a".into(),
                        capacity_type: ON_DEMAND.into(),
                        price,
                        available: true,
                    }],
                )
            })
            .collect()
    }

    fn pod(i: usize) -> Pod {
        Pod {
            namespace: "default".into(),
            name: format!("p{i}"),
            uid: format!("p{i}"),
            labels: BTreeMap::from([("app".to_string(), "x".to_string())]),
            requests: Resources::cpu_mem(1500, 1 << 30),
            ..Default::default()
        }
    }

    fn problem(pods: Vec<Pod>) -> Problem {
        Problem {
            instance_types: types(),
            node_pools: vec![NodePool {
                name: "default".into(),
                ..Default::default()
            }],
            pods,
            ..Default::default()
        }
    }

    /// A solution with each pod on its own `small` claim (as a poor packing would leave it).
    fn one_claim_per_pod(p: &Problem) -> Solution {
        let node_claims: Vec<NodeClaimPlan> = (0..p.pods.len())
            .map(|i| NodeClaimPlan {
                node_pool: "default".into(),
                instance_types: vec!["small".to_string()].into(),
                instance_type: "small".into(),
                zone: "zone-a".into(),
                capacity_type: ON_DEMAND.into(),
                price_per_hour: 1.0,
                pods: vec![i],
                requests: Resources {
                    pods: 1,
                    ..p.pods[i].requests.clone()
                },
                requirements: String::new(),
                node_requirements: Default::default(),
            })
            .collect();
        Solution {
            price_per_hour: node_claims.len() as f64,
            node_claims,
            existing_nodes: BTreeMap::new(),
            pending: Vec::new(),
            lower_bound_price_per_hour: 0.0,
        }
    }

    fn improve(p: &Problem, reference_path: bool) -> Solution {
        let opts = SolveOptions {
            reference_path,
            ..Default::default()
        };
        let ctx = Ctx::new(p, &opts).expect("valid problem");
        ctx.improve(one_claim_per_pod(p))
    }

    #[test]
    fn merges_two_claims_onto_one_cheaper_type() {
        let p = problem(vec![pod(0), pod(1)]);
        for reference_path in [false, true] {
            let s = improve(&p, reference_path);
            assert_eq!(s.node_claims.len(), 1, "{s:?}");
            assert_eq!(s.node_claims[0].instance_type, "big");
            assert_eq!(s.node_claims[0].pods, vec![0, 1]);
            assert!((s.price_per_hour - 1.5).abs() < 1e-9);
            assert!(s.pending.is_empty());
        }
    }

    #[test]
    fn keeps_hostname_anti_affinity_apart() {
        let mut pods = vec![pod(0), pod(1)];
        for p in &mut pods {
            p.pod_anti_affinity.push(PodAffinityTerm {
                label_selector: LabelSelector {
                    match_labels: p.labels.clone(),
                    ..Default::default()
                },
                namespaces: Vec::new(),
                topology_key: labels::HOSTNAME.into(),
            });
        }
        let p = problem(pods);
        let s = improve(&p, false);
        assert_eq!(s, one_claim_per_pod(&p));
    }

    #[test]
    fn a_merge_the_engine_refuses_leaves_the_packing_unchanged() {
        // the same host port: the arithmetic sees a saving, the replay cannot share a node
        let mut pods = vec![pod(0), pod(1)];
        for p in &mut pods {
            p.host_ports.push(HostPort {
                host_ip: String::new(),
                port: 8080,
                protocol: "TCP".into(),
            });
        }
        let p = problem(pods);
        for reference_path in [false, true] {
            let s = improve(&p, reference_path);
            assert_eq!(s, one_claim_per_pod(&p));
        }
    }

    #[test]
    fn never_moves_pods_between_zones() {
        // both types are offered in two zones; the two claims sit in different zones (as a
        // zone spread would leave them): merging would move a pod to the other zone
        let mut p = problem(vec![pod(0), pod(1)]);
        for t in &mut p.instance_types {
            let mut b = t.offerings[0].clone();
            b.zone = "zone-b".into();
            t.offerings.push(b);
        }
        let opts = SolveOptions::default();
        let ctx = Ctx::new(&p, &opts).expect("valid problem");
        let mut s = one_claim_per_pod(&p);
        s.node_claims[1].zone = "zone-b".into();
        assert_eq!(ctx.improve(s.clone()), s);
        // the same claims in one zone do merge
        s.node_claims[1].zone = "zone-a".into();
        let merged = ctx.improve(s);
        assert_eq!(merged.node_claims.len(), 1, "{merged:?}");
        assert_eq!(merged.node_claims[0].zone, "zone-a");
    }

    #[test]
    fn merges_within_zones_keep_a_soft_zone_spread_balanced() {
        // four pods with a ScheduleAnyway zone spread, two claims per zone: merging within
        // each zone keeps two pods per zone
        let mut p = problem((0..4).map(pod).collect());
        for t in &mut p.instance_types {
            let mut b = t.offerings[0].clone();
            b.zone = "zone-b".into();
            t.offerings.push(b);
        }
        for pd in &mut p.pods {
            pd.topology_spread_constraints
                .push(crate::model::TopologySpreadConstraint {
                    max_skew: 1,
                    topology_key: labels::ZONE.into(),
                    when_unsatisfiable: crate::model::WhenUnsatisfiable::ScheduleAnyway,
                    label_selector: LabelSelector {
                        match_labels: pd.labels.clone(),
                        ..Default::default()
                    },
                    min_domains: None,
                    node_affinity_policy: None,
                    node_taints_policy: None,
                    match_label_keys: Vec::new(),
                });
        }
        let mut s = one_claim_per_pod(&p);
        for c in &mut s.node_claims[2..] {
            c.zone = "zone-b".into();
        }
        for reference_path in [false, true] {
            let opts = SolveOptions {
                reference_path,
                ..Default::default()
            };
            let ctx = Ctx::new(&p, &opts).expect("valid problem");
            let merged = ctx.improve(s.clone());
            assert_eq!(merged.node_claims.len(), 2, "{merged:?}");
            let mut zones: Vec<(String, usize)> = merged
                .node_claims
                .iter()
                .map(|c| (c.zone.clone(), c.pods.len()))
                .collect();
            zones.sort();
            assert_eq!(zones, vec![("zone-a".into(), 2), ("zone-b".into(), 2)]);
            assert!((merged.price_per_hour - 3.0).abs() < 1e-9);
        }
    }

    #[test]
    fn moves_pods_so_a_claim_fits_a_cheaper_type() {
        // `small` (2 vCPU, $1.00) and `medium` (3 vCPU, $2.00): claim 0 holds 1.5 + 0.6 vCPU
        // on a medium, claim 1 holds 1.0 vCPU on a small; moving the 0.6 vCPU pod makes both
        // small ($3.00 → $2.00). Merging cannot help: 3.1 vCPU fits no type.
        let mut p = problem(vec![pod(0), pod(1), pod(2)]);
        p.instance_types[1] = {
            let mut it = p.instance_types[1].clone();
            it.name = "medium".into();
            it.labels
                .insert(labels::INSTANCE_TYPE.into(), "medium".into());
            it.capacity.cpu_millis = 3000;
            it.offerings[0].price = 2.0;
            it.refresh_allocatable();
            it
        };
        p.pods[1].requests.cpu_millis = 600;
        p.pods[2].requests.cpu_millis = 1000;
        let mut s = one_claim_per_pod(&p);
        let mut c0 = s.node_claims[0].clone();
        c0.pods = vec![0, 1];
        c0.instance_type = "medium".into();
        c0.price_per_hour = 2.0;
        c0.requests = Resources {
            pods: 2,
            ..Resources::cpu_mem(2100, 2 << 30)
        };
        s.node_claims = vec![c0, s.node_claims[2].clone()];
        s.price_per_hour = 3.0;
        for reference_path in [false, true] {
            let opts = SolveOptions {
                reference_path,
                ..Default::default()
            };
            let ctx = Ctx::new(&p, &opts).expect("valid problem");
            let out = ctx.improve(s.clone());
            assert!((out.price_per_hour - 2.0).abs() < 1e-9, "{out:?}");
            let mut claims: Vec<Vec<usize>> = out
                .node_claims
                .iter()
                .map(|c| {
                    let mut v = c.pods.clone();
                    v.sort_unstable();
                    v
                })
                .collect();
            claims.sort();
            assert_eq!(claims, vec![vec![0], vec![1, 2]]);
            assert!(out.node_claims.iter().all(|c| c.instance_type == "small"));
        }
    }

    #[test]
    fn merges_only_while_it_saves() {
        // three pods: two share a big node, the third stays on a small one ($2.50 < $3.00;
        // all three need 4.5 vCPU, more than any type)
        let p = problem(vec![pod(0), pod(1), pod(2)]);
        let s = improve(&p, false);
        assert_eq!(s.node_claims.len(), 2, "{s:?}");
        assert!(
            (s.price_per_hour - 2.5).abs() < 1e-9,
            "{}",
            s.price_per_hour
        );
        let mut placed: Vec<usize> = s.node_claims.iter().flat_map(|c| c.pods.clone()).collect();
        placed.sort_unstable();
        assert_eq!(placed, vec![0, 1, 2]);
    }
}

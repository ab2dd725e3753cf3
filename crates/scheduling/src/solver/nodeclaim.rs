//! NodeClaims the simulation creates (upstream `nodeclaim.go`: `NewNodeClaim`, `CanAdd`, `Add`):
//! a claim opened from a template for a pod (`scheduler.go: add`), the check whether one more
//! pod fits it (taints, requirements, host ports, topology, the instance types that remain,
//! minValues) and the commit of a placement on a claim or an existing node.
use super::*;

/// Hostname placeholder prefix of new NodeClaims (their hostname-topology domain).
pub(super) const CLAIM_HOSTNAME_PREFIX: &str = "hostname-placeholder-";

#[derive(Clone)]
pub(super) struct Claim {
    pub(super) template: usize,
    pub(super) seq: usize,
    pub(super) hostname: String,
    /// created from the cost-efficient seed list rather than every template type
    pub(super) seeded: bool,
    /// for limited pools: the capacity subtracted from the limits when the claim was created
    pub(super) limit_cap: Option<Resources>,
    pub(super) reqs: Requirements,
    /// the instance types it may still launch as
    pub(super) types: TypeSet,
    /// `set_len(types)`
    pub(super) n_types: usize,
    pub(super) requests: Resources,
    pub(super) max_alloc: Resources,
    /// component-wise minimum free quad over `types` (fast path; `None` when any type has
    /// extended resources): a total within it fits every type
    pub(super) min_free: Option<[i64; 4]>,
    /// this claim's matching-pod counts per hostname-keyed group slot (`Ctx::host_slot`)
    pub(super) host_counts: Vec<i64>,
    /// this claim's required-anti-affinity owner counts, likewise
    pub(super) host_owners: Vec<i64>,
    /// per `Ctx::memo_keys` entry, the id (`Run::memo_ids`) of the claim's single value for
    /// it, or `NO_VALUE`
    pub(super) memo_vals: Vec<u32>,
    pub(super) pods: Vec<usize>,
    pub(super) host_ports: Vec<HostPort>,
}

/// Answers of the topology fast check during one claim scan, by the target's single value for
/// the pod's `memo_key` (the topology does not change during a scan).
pub(super) type TopoMemo = Vec<(u32, Option<bool>)>;

/// `Claim::memo_vals` entry of a claim without a single value for the key.
pub(super) const NO_VALUE: u32 = u32::MAX;

pub(super) enum Target {
    Node(usize),
    Claim(usize),
}

pub(super) struct Eval {
    /// Largest free quad over `types` when every kept type is plain (no extended resources).
    pub(super) max_quad: Option<[i64; 4]>,
    /// Smallest free quad over `types`, likewise.
    pub(super) min_quad: Option<[i64; 4]>,
    /// The narrowed requirements; `None` when the pod leaves the claim's unchanged.
    pub(super) reqs: Option<Requirements>,
    /// The narrowed types; `None` when the pod leaves the claim's unchanged.
    pub(super) types: Option<TypeSet>,
    /// How many types remain.
    pub(super) n_types: usize,
    pub(super) total: Resources,
}

impl Run<'_, '_> {
    /// Opens a new claim for the pod in the first template (weight order) that takes it.
    #[inline(never)]
    pub(super) fn add_new_claim(&mut self, pod: usize, pd: &PodData) -> Result<(), String> {
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
                            *v = v.saturating_sub(if k == "nodes" { 1 } else { maxcap.get(k) });
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

    pub(super) fn eval_claim(
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

    pub(super) fn commit(&mut self, target: Target, pod: usize, pd: &PodData, e: Eval) {
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
}

//! NodeClaim templates, one per NodePool (upstream `nodeclaimtemplate.go`:
//! `NewNodeClaimTemplate`, `ToNodeClaim`, `MaxInstanceTypes`): the NodePool's requirements and
//! labels, its taints, the instance types it may launch and the DaemonSet overhead per type
//! (`scheduler.go: getDaemonOverhead`); and the launch list a planned NodeClaim carries (its
//! types ordered by price and truncated with minValues kept, `cloudprovider/types.go:
//! OrderByPrice`, `nodeclaimtemplate.go: ToNodeClaim`).
use super::*;

/// Upstream `MaxInstanceTypes` (v1.7+).
pub const MAX_INSTANCE_TYPES: usize = 600;

/// Sorted priced type lists by (offering mask, launchable types), shared by claims.
pub(super) type PlanCache = FxMap<u128, FxMap<TypeSet, Rc<Vec<(f64, u32)>>>>;

pub(super) struct Template {
    pub(super) pool: usize,
    pub(super) reqs: Requirements,
    pub(super) taints: Vec<Taint>,
    pub(super) has_prefer_taint: bool,
    pub(super) types: Vec<u32>,
    /// DaemonSet overhead per instance type (indexed by type).
    pub(super) overhead: Vec<Resources>,
    pub(super) daemon_ports: Vec<HostPort>,
    /// `types` as a set
    pub(super) type_set: TypeSet,
}

impl Template {
    /// One template per NodePool that has a compatible instance type, by weight (descending),
    /// then name (reverse-lexical), as upstream's `NewScheduler` orders them.
    pub(super) fn for_node_pools(p: &Problem) -> Result<Vec<Template>, Error> {
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
            let (overhead, daemon_ports) = daemon_overhead(p, np, &reqs, &types);
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
        Ok(templates)
    }
}

/// Per instance type (indexed by type), the requests of the DaemonSets whose pods would run on
/// a node of this NodePool with that type, and the host ports those DaemonSets use.
fn daemon_overhead(
    p: &Problem,
    np: &NodePool,
    reqs: &Requirements,
    types: &[u32],
) -> (Vec<Resources>, Vec<HostPort>) {
    let n_types = p.instance_types.len();
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
        for &t in types {
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
    (overhead, daemon_ports)
}

impl Run<'_, '_> {
    /// The claim's launchable types ([`Run::with_launch_types`]) with the price of each
    /// one's cheapest allowed offering, sorted by price then name. On the fast path, claims
    /// whose launchable types and offering mask are the same share one sorted list (the
    /// prices depend on nothing else).
    pub(super) fn sorted_priced(&self, c: &Claim, cache: &mut PlanCache) -> Rc<Vec<(f64, u32)>> {
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
    pub(super) fn price_types(
        &self,
        c: &Claim,
        mask: Option<u128>,
        types: &[u64],
    ) -> Vec<(f64, u32)> {
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
    pub(super) fn with_launch_types<R>(
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
    pub(super) fn launch_price(&self, c: &Claim, priced: &[(f64, u32)]) -> Option<f64> {
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
}

pub(super) fn distinct_values(p: &Problem, types: &[u32], key: &str, reqs: &Requirements) -> usize {
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

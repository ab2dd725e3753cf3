//! The instance types as the solver indexes them (upstream `cloudprovider/types.go`:
//! `InstanceTypes.Compatible`, `Offerings.Available`/`Compatible`/`Cheapest`, `OrderByPrice`):
//! each type's available (zone, capacity type) offerings as a bit mask with their prices, the
//! label-compatible types per distinct pod requirements, and per-run caches of the types a
//! mask, a limit or a set of requirements allows.
use super::*;

/// (cheapest price in an offering mask, type), sorted by price then name.
pub(super) type PriceOrder = Arc<Vec<(f64, u32)>>;

/// One label-compatibility row (a [`TypeSet`]) per distinct non-empty `type_reqs` of the pod
/// shapes (at most 1024), recorded in each shape's `compat_row` (fast path).
pub(super) fn label_compat_rows(
    p: &Problem,
    facts: &mut [Result<PodFacts, String>],
    words: usize,
) -> Vec<TypeSet> {
    let mut type_compat: Vec<TypeSet> = Vec::new();
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
    type_compat
}

impl Ctx<'_> {
    /// The part of `reqs` that can tell instance types apart by label: keys no type defines
    /// give every type the same answer in `labels_compatible`, so they are decided here once.
    /// `None` when such a key rules out every type.
    pub(super) fn label_relevant(&self, reqs: &Requirements) -> Option<Requirements> {
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

    pub(super) fn build_offer_masks(&mut self) {
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
    pub(super) fn mask_price(&self, i: usize, mask: u128) -> Option<f64> {
        self.offer_prices[i]
            .iter()
            .filter(|(b, _)| mask & (1u128 << b) != 0)
            .map(|(_, p)| *p)
            .min_by(f64::total_cmp)
    }

    /// The (zone, capacity type) combinations `reqs` allows, as a mask; `None` without masks.
    pub(super) fn req_mask(&self, reqs: &Requirements) -> Option<u128> {
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
}

impl Run<'_, '_> {
    /// The set cached under `key`, or the types for which `member` holds (then cached).
    pub(super) fn cached_set<K: std::hash::Hash + Eq>(
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
    pub(super) fn price_order(&self, mask: u128) -> PriceOrder {
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
    pub(super) fn offer_set(&self, mask: u128) -> Arc<TypeSet> {
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
}

//! The outcome of a packing (upstream `scheduler.go: Results`, `nodeclaim.go:
//! FinalizeScheduling`): its score (pending pods, price, nodes) for choosing among packings,
//! and the [`Solution`]: each claim's launch list, cheapest offering and requests, the
//! existing nodes' placements and the pending pods.
use super::*;

impl Run<'_, '_> {
    /// Pending pods, price and node count of this packing, exactly as [`Run::finish`] would
    /// report them, without building the plan (for choosing among packings).
    pub(super) fn score(&self, pending: usize) -> (usize, f64, usize) {
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

    pub(super) fn finish(mut self, pending: Vec<PendingPod>) -> Solution {
        let p = self.ctx.p;
        let claims = std::mem::take(&mut self.claims);
        let mut node_claims = Vec::with_capacity(claims.len());
        // claims in one zone and capacity type share their requirements (and their text)
        let mut texts: FxMap<Arc<Requirements>, String> = FxMap::default();
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
            let (node_requirements, requirements) = match texts.get_key_value(&reqs) {
                Some((r, t)) => (Arc::clone(r), t.clone()),
                None => {
                    let t = reqs.to_string();
                    let r = Arc::new(reqs);
                    texts.insert(Arc::clone(&r), t.clone());
                    (r, t)
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
                node_requirements,
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

//! What the solver feeds the topology ([`crate::topology`] holds the groups and their counts;
//! upstream `topology.go: NewTopology`, `countDomains`, `topologydomaingroup.go`): the domains
//! each NodePool and existing node offers (and, for `nodeTaintsPolicy: Honor`, their taints),
//! the running pods' counts and inverse anti-affinities, which groups select each pod; and the
//! fast path's per-claim tracking of hostname-keyed groups and memo keys.
use super::*;

/// Whether any pod's topology spread honours node taints (`nodeTaintsPolicy: Honor`): then each
/// domain's sources (NodePools, nodes) and their taints are registered.
pub(super) fn honors_node_taints(p: &Problem) -> bool {
    p.pods.iter().any(|pod| {
        pod.topology_spread_constraints
            .iter()
            .any(|c| c.node_taints_policy == Some(InclusionPolicy::Honor))
    })
}

/// The domains each template offers: its types' available offerings' zones and capacity types
/// and their labels, where its requirements allow them, and its requirements' own values.
pub(super) fn register_template_domains(
    topo: &mut Topology,
    p: &Problem,
    templates: &[Template],
    honor_taints: bool,
) {
    for t in templates {
        let (types, reqs) = (&t.types, &t.reqs);
        for &t in types {
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
            register_sources(topo, p, types, reqs, &p.node_pools[t.pool].taints);
        }
    }
}

/// Registers the template's domains as sources with the NodePool's taints.
pub(super) fn register_sources(
    topo: &mut Topology,
    p: &Problem,
    types: &[u32],
    reqs: &Requirements,
    taints: &[Taint],
) {
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
}

/// The running pods of the existing nodes: their required anti-affinity groups, then their
/// counts in every group that selects them.
pub(super) fn record_running_pods(p: &Problem, nodes: &[NodeState], topo: &mut Topology) {
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
    for ns in nodes {
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
}

/// Per pod shape, the groups that select it; and, when every group it owns or is selected by
/// inversely has the same non-hostname key, that key as its memo key (fast path). Returns the
/// distinct memo keys.
pub(super) fn classify_pods(
    p: &Problem,
    topo: &Topology,
    shapes: &mut PodShapes,
    reference_path: bool,
) -> Vec<String> {
    let mut memo_keys: Vec<String> = Vec::new();
    for (f, &i) in shapes.facts.iter_mut().zip(&shapes.shape_pod) {
        let pod = &p.pods[i];
        if let Ok(pd) = f {
            pd.selected_by = (0..topo.groups.len())
                .filter(|&g| topo.groups[g].selects(&pod.namespace, &pod.labels))
                .collect();
            if !reference_path {
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
    memo_keys
}

impl Ctx<'_> {
    /// Gives each hostname-keyed group a slot in the claims' own counts (fast path, at most 64
    /// such groups, and no existing node named like a claim placeholder).
    pub(super) fn assign_host_slots(&mut self) {
        let host_groups: Vec<usize> = (0..self.topo.groups.len())
            .filter(|&g| self.topo.groups[g].hostname_key)
            .collect();
        let clash = self
            .p
            .existing_nodes
            .iter()
            .any(|n| n.name.starts_with(CLAIM_HOSTNAME_PREFIX));
        if !host_groups.is_empty() && host_groups.len() <= 64 && !clash {
            self.host_slot = vec![None; self.topo.groups.len()];
            for (s, &g) in host_groups.iter().enumerate() {
                self.host_slot[g] = Some(s);
            }
            self.host_groups = host_groups;
        }
    }
}

impl Run<'_, '_> {
    /// `Topology::quick_reject` for a claim, reading hostname-keyed counts from the claim
    /// itself when it tracks them.
    pub(super) fn claim_quick_reject(&self, c: &Claim, pd: &PodData) -> bool {
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
    pub(super) fn sync_host_bits(&mut self, ci: usize, s: usize) {
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
    pub(super) fn host_skip(&self, pd: &PodData) -> Vec<u64> {
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
    pub(super) fn memo_vals_of(&mut self, reqs: &Requirements) -> Vec<u32> {
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
}

//! Topology groups: topology spread, pod affinity and pod anti-affinity
//! (upstream `scheduling/topology.go`, `topologygroup.go`).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::labels;
use crate::model::{LabelSelector, Taint, TaintEffect, Toleration};
use crate::requirements::{Requirement, Requirements};

/// A small, fast, non-cryptographic hasher (FxHash) for domain-name maps in the hot loop.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Topology key → its domains.
pub type DomainsByKey = HashMap<String, BTreeSet<String>>;

/// Domain → count map.
pub type DomainCounts = HashMap<String, i64, BuildHasherDefault<FxHasher>>;

/// What a group enforces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// Topology spread (treated as hard; soft ones are relaxed away by the scheduler).
    Spread {
        /// maxSkew.
        max_skew: i64,
        /// minDomains.
        min_domains: Option<i64>,
        /// nodeAffinityPolicy Honor.
        honor_affinity: bool,
        /// nodeTaintsPolicy Honor: the owning pods' tolerations (`None` for Ignore). Nodes and
        /// NodePools whose `NoSchedule`/`NoExecute` taints they do not tolerate neither offer
        /// domains nor count pods for the constraint.
        honor_taints: Option<Vec<Toleration>>,
    },
    /// Pod affinity.
    Affinity,
    /// Pod anti-affinity.
    AntiAffinity,
}

/// One topology group: pods sharing the same constraint share the group and its counts.
#[derive(Debug, Clone)]
pub struct TopologyGroup {
    /// Kind and parameters.
    pub kind: GroupKind,
    /// Topology key.
    pub key: String,
    /// Namespaces whose pods count.
    pub namespaces: BTreeSet<String>,
    /// Which pods count.
    pub selector: LabelSelector,
    /// Matching pods per domain.
    pub counts: DomainCounts,
    /// Domains where pods owning this (required anti-affinity) group run: matching pods may
    /// not land there (inverse anti-affinity).
    pub owner_domains: DomainCounts,
    /// Whether the group is a required anti-affinity (tracks owners for the inverse rule).
    pub inverse: bool,
    /// Whether `key` is `kubernetes.io/hostname` (precomputed for the hot loop).
    pub hostname_key: bool,
    /// With nodeTaintsPolicy Honor: the domains of `key` offered by a node or NodePool whose
    /// taints the owners tolerate (the only domains the skew is computed over).
    pub tolerated_domains: Option<BTreeSet<String>>,
}

impl TopologyGroup {
    /// Whether a pod in `namespace` with `labels` is counted by this group.
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespaces.contains(namespace) && self.selector.matches(labels)
    }

    fn count(&self, d: &str) -> i64 {
        self.counts.get(d).copied().unwrap_or(0)
    }

    /// Whether a pod on a node (or NodePool) with `taints` counts for this group: always,
    /// unless the group honours taints its owners do not tolerate.
    fn counts_on(&self, taints: &[Taint]) -> bool {
        match &self.kind {
            GroupKind::Spread {
                honor_taints: Some(tol),
                ..
            } => tolerates_hard(tol, taints),
            _ => true,
        }
    }
}

/// Whether `tolerations` tolerate every `NoSchedule` and `NoExecute` taint (the taints
/// kube-scheduler's nodeTaintsPolicy considers; `PreferNoSchedule` never excludes a node).
pub fn tolerates_hard(tolerations: &[Toleration], taints: &[Taint]) -> bool {
    taints
        .iter()
        .filter(|t| t.effect != TaintEffect::PreferNoSchedule)
        .all(|t| tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// What identifies a group: pods whose constraints agree on all of it share the group.
type GroupId = (GroupKind, String, BTreeSet<String>, LabelSelector);

/// All groups plus the domain universe per topology key.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Groups, indexed by id.
    pub groups: Vec<TopologyGroup>,
    index: HashMap<GroupId, usize>,
    /// Known domains per key (zones, capacity types, custom labels). Hostnames are not listed:
    /// every target has its own.
    pub domains: HashMap<String, BTreeSet<String>, BuildHasherDefault<FxHasher>>,
    /// Per distinct set of hard taints of the domains' sources (NodePools, existing nodes): the
    /// domains per key those sources offer. Filled by [`Topology::add_domain_source`], only
    /// when some constraint honours taints.
    pub domain_sources: Vec<(Vec<Taint>, DomainsByKey)>,
}

/// The domains a target may still land in for one key.
fn options<'a>(
    universe: Option<&'a BTreeSet<String>>,
    target: Option<&'a Requirement>,
) -> Vec<&'a str> {
    match target {
        Some(r) if !r.is_complement() => r.values.iter().map(String::as_str).collect(),
        _ => universe
            .map(|u| {
                u.iter()
                    .filter(|d| target.is_none_or(|r| r.has(d)))
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl Topology {
    /// Find or create the group for this constraint; returns its id.
    pub fn group(
        &mut self,
        kind: GroupKind,
        key: &str,
        namespaces: BTreeSet<String>,
        selector: LabelSelector,
    ) -> usize {
        let inverse = kind == GroupKind::AntiAffinity;
        let id: GroupId = (kind, key.to_string(), namespaces, selector);
        if let Some(&g) = self.index.get(&id) {
            return g;
        }
        self.groups.push(TopologyGroup {
            kind: id.0.clone(),
            key: id.1.clone(),
            namespaces: id.2.clone(),
            selector: id.3.clone(),
            counts: DomainCounts::default(),
            owner_domains: DomainCounts::default(),
            inverse,
            hostname_key: key == labels::HOSTNAME,
            tolerated_domains: None,
        });
        if let GroupKind::Spread {
            honor_taints: Some(tol),
            ..
        } = &id.0
        {
            let mut tolerated = BTreeSet::new();
            for (taints, by_key) in &self.domain_sources {
                if tolerates_hard(tol, taints) {
                    if let Some(ds) = by_key.get(key) {
                        tolerated.extend(ds.iter().cloned());
                    }
                }
            }
            if let Some(g) = self.groups.last_mut() {
                g.tolerated_domains = Some(tolerated);
            }
        }
        self.index.insert(id, self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// Register a domain value for `key`.
    pub fn add_domain(&mut self, key: &str, value: &str) {
        if key == labels::HOSTNAME {
            return;
        }
        // look up before allocating: almost every call names a known domain
        match self.domains.get_mut(key) {
            Some(set) => {
                if !set.contains(value) {
                    set.insert(value.to_string());
                }
            }
            None => {
                self.domains
                    .insert(key.to_string(), BTreeSet::from([value.to_string()]));
            }
        }
    }

    /// Register a domain value for `key` offered by a source (NodePool or existing node) with
    /// `taints`, for constraints with nodeTaintsPolicy Honor (call [`Topology::add_domain`]
    /// too: this does not add to `domains`).
    pub fn add_domain_source(&mut self, key: &str, value: &str, taints: &[Taint]) {
        if key == labels::HOSTNAME {
            return;
        }
        let mut hard: Vec<Taint> = taints
            .iter()
            .filter(|t| t.effect != TaintEffect::PreferNoSchedule)
            .cloned()
            .collect();
        hard.sort_by(|a, b| {
            (&a.key, &a.value, a.effect as u8).cmp(&(&b.key, &b.value, b.effect as u8))
        });
        hard.dedup();
        let i = match self.domain_sources.iter().position(|(t, _)| *t == hard) {
            Some(i) => i,
            None => {
                self.domain_sources.push((hard, HashMap::new()));
                self.domain_sources.len() - 1
            }
        };
        let set = self.domain_sources[i].1.entry(key.to_string()).or_default();
        if !set.contains(value) {
            set.insert(value.to_string());
        }
    }

    /// Narrow `target` (the merged target + pod requirements) by the groups the pod owns.
    /// `strict` is the pod's requirements without preferences (for domain counting),
    /// `selected_by` the groups counting this pod, `owned` the groups the pod owns.
    pub fn add_requirements(
        &self,
        owned: &[usize],
        selected_by: &[usize],
        strict: &Requirements,
        target: &mut Requirements,
    ) -> Result<(), String> {
        for &gid in owned {
            let g = &self.groups[gid];
            let universe = self.domains.get(&g.key);
            let opts = options(universe, target.get(&g.key));
            let self_sel = selected_by.contains(&gid);
            let allowed: Vec<String> = match g.kind {
                GroupKind::Spread {
                    max_skew,
                    min_domains,
                    honor_affinity,
                    ..
                } => {
                    let pod_dom = if honor_affinity {
                        strict.get(&g.key)
                    } else {
                        None
                    };
                    let min = if g.hostname_key {
                        0
                    } else {
                        // with nodeTaintsPolicy Honor, only domains a tolerated source offers
                        let eligible: Vec<i64> = g
                            .tolerated_domains
                            .as_ref()
                            .or(universe)
                            .map(|u| {
                                u.iter()
                                    .filter(|d| pod_dom.is_none_or(|r| r.has(d)))
                                    .map(|d| g.count(d))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let m = eligible.iter().copied().min().unwrap_or(0);
                        if min_domains.is_some_and(|n| (eligible.len() as i64) < n) {
                            0
                        } else {
                            m
                        }
                    };
                    let mut best: Option<(&str, i64)> = None;
                    for d in &opts {
                        if pod_dom.is_some_and(|r| !r.has(d)) {
                            continue;
                        }
                        let c = g.count(d) + i64::from(self_sel);
                        if c - min <= max_skew && best.is_none_or(|(_, bc)| c < bc) {
                            best = Some((d, c));
                        }
                    }
                    match best {
                        Some((d, _)) => vec![d.to_string()],
                        None => {
                            return Err(format!(
                                "topology spread on {} (maxSkew {max_skew}) has no domain left \
                                 that keeps the skew within bounds",
                                g.key
                            ))
                        }
                    }
                }
                GroupKind::Affinity => {
                    let pod_dom = strict.get(&g.key);
                    let with_pods: Vec<String> = opts
                        .iter()
                        .filter(|d| g.count(d) > 0 && pod_dom.is_none_or(|r| r.has(d)))
                        .map(|d| d.to_string())
                        .collect();
                    if !with_pods.is_empty() {
                        with_pods
                    } else if self_sel
                        && !g
                            .counts
                            .iter()
                            .any(|(d, &c)| c > 0 && pod_dom.is_none_or(|r| r.has(d)))
                    {
                        // bootstrap: pick one domain, preferring the target's own
                        match opts.iter().find(|d| pod_dom.is_none_or(|r| r.has(d))) {
                            Some(d) => vec![d.to_string()],
                            None => Vec::new(),
                        }
                    } else {
                        Vec::new()
                    }
                }
                GroupKind::AntiAffinity => opts
                    .iter()
                    .filter(|d| g.count(d) == 0)
                    .map(|d| d.to_string())
                    .collect(),
            };
            if allowed.is_empty() {
                return Err(match g.kind {
                    GroupKind::Affinity => format!(
                        "pod affinity on {}: no matching pod runs in a domain this target can reach",
                        g.key
                    ),
                    GroupKind::AntiAffinity => format!(
                        "pod anti-affinity on {}: every domain this target can reach already runs \
                         a matching pod",
                        g.key
                    ),
                    GroupKind::Spread { .. } => format!("topology spread on {} failed", g.key),
                });
            }
            target.add(&g.key, Requirement::in_values(allowed));
        }
        // inverse anti-affinity: pods this pod matches forbid their domains
        for &gid in selected_by {
            let g = &self.groups[gid];
            if !g.inverse || g.owner_domains.is_empty() {
                continue;
            }
            let opts = options(self.domains.get(&g.key), target.get(&g.key));
            let allowed: Vec<String> = opts
                .iter()
                .filter(|d| g.owner_domains.get(**d).copied().unwrap_or(0) == 0)
                .map(|d| d.to_string())
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "a pod with required anti-affinity on {} against this pod runs in every \
                     domain this target can reach",
                    g.key
                ));
            }
            target.add(&g.key, Requirement::in_values(allowed));
        }
        Ok(())
    }

    /// Read-only fast path for [`Topology::add_requirements`] when the target already has a
    /// single domain for every key involved: `Some(true)` when the pod is allowed there with no
    /// narrowing, `Some(false)` when it is not, `None` when the full path is needed.
    pub fn check_single(
        &self,
        owned: &[usize],
        selected_by: &[usize],
        strict: &Requirements,
        target: &Requirements,
        pod_reqs: &Requirements,
    ) -> Option<bool> {
        let single = |key: &str| -> Option<&str> {
            let v = target.get(key)?.single()?;
            pod_reqs.allows(key, v).then_some(v)
        };
        for &gid in owned {
            let g = &self.groups[gid];
            let v = single(&g.key)?;
            let self_sel = selected_by.contains(&gid);
            let ok = match g.kind {
                GroupKind::Spread {
                    max_skew,
                    min_domains,
                    honor_affinity,
                    ..
                } => {
                    let pod_dom = if honor_affinity {
                        strict.get(&g.key)
                    } else {
                        None
                    };
                    if pod_dom.is_some_and(|r| !r.has(v)) {
                        false
                    } else {
                        let min = if g.hostname_key {
                            0
                        } else {
                            let mut n = 0i64;
                            let mut m = i64::MAX;
                            let universe = g
                                .tolerated_domains
                                .as_ref()
                                .or_else(|| self.domains.get(&g.key));
                            for d in universe.into_iter().flatten() {
                                if pod_dom.is_none_or(|r| r.has(d)) {
                                    n += 1;
                                    m = m.min(g.count(d));
                                }
                            }
                            if n == 0 || min_domains.is_some_and(|md| n < md) {
                                0
                            } else {
                                m
                            }
                        };
                        g.count(v) + i64::from(self_sel) - min <= max_skew
                    }
                }
                GroupKind::Affinity => {
                    let pod_dom = strict.get(&g.key);
                    if pod_dom.is_some_and(|r| !r.has(v)) {
                        false
                    } else if g.count(v) > 0 {
                        true
                    } else {
                        // bootstrap only when nothing matches anywhere the pod may go; the full
                        // path decides which domain
                        let any = g
                            .counts
                            .iter()
                            .any(|(d, &c)| c > 0 && pod_dom.is_none_or(|r| r.has(d)));
                        if !any && self_sel {
                            return None;
                        }
                        false
                    }
                }
                GroupKind::AntiAffinity => g.count(v) == 0,
            };
            if !ok {
                return Some(false);
            }
        }
        for &gid in selected_by {
            let g = &self.groups[gid];
            if g.inverse && !g.owner_domains.is_empty() {
                let v = single(&g.key)?;
                if g.owner_domains.get(v).copied().unwrap_or(0) > 0 {
                    return Some(false);
                }
            }
        }
        Some(true)
    }

    /// Cheap pre-check before [`Topology::add_requirements`]: true when the pod certainly cannot
    /// land on a target whose domain for a group's key is already a single value.
    /// `hostname` is the target's own hostname (its domain for hostname-keyed groups).
    pub fn quick_reject(
        &self,
        owned: &[usize],
        selected_by: &[usize],
        target: &Requirements,
        hostname: &str,
    ) -> bool {
        self.quick_reject_with(
            owned,
            selected_by,
            target,
            |g| self.groups[g].count(hostname),
            |g| {
                self.groups[g]
                    .owner_domains
                    .get(hostname)
                    .copied()
                    .unwrap_or(0)
            },
        )
    }

    /// [`Topology::quick_reject`] with the target's counts for hostname-keyed groups supplied
    /// by the caller (`host_count(group)` matching pods, `host_owners(group)` owners), for
    /// callers that track them per target instead of by hostname lookups.
    pub fn quick_reject_with(
        &self,
        owned: &[usize],
        selected_by: &[usize],
        target: &Requirements,
        host_count: impl Fn(usize) -> i64,
        host_owners: impl Fn(usize) -> i64,
    ) -> bool {
        for &gid in owned {
            let g = &self.groups[gid];
            let count = if g.hostname_key {
                host_count(gid)
            } else {
                match target.get(&g.key).and_then(|r| r.single()) {
                    Some(v) => g.count(v),
                    None => continue,
                }
            };
            match g.kind {
                GroupKind::AntiAffinity if count > 0 => return true,
                GroupKind::Spread { max_skew, .. }
                    if g.hostname_key
                        && count + i64::from(selected_by.contains(&gid)) > max_skew =>
                {
                    return true
                }
                _ => {}
            }
        }
        for &gid in selected_by {
            let g = &self.groups[gid];
            if g.inverse && !g.owner_domains.is_empty() {
                let owners = if g.hostname_key {
                    host_owners(gid)
                } else {
                    match target.get(&g.key).and_then(|r| r.single()) {
                        Some(v) => g.owner_domains.get(v).copied().unwrap_or(0),
                        None => continue,
                    }
                };
                if owners > 0 {
                    return true;
                }
            }
        }
        false
    }

    /// Matching pods counted in domain `d` of group `g`.
    pub fn domain_count(&self, g: usize, d: &str) -> i64 {
        self.groups[g].count(d)
    }

    /// Owners of required anti-affinity group `g` in domain `d`.
    pub fn owner_count(&self, g: usize, d: &str) -> i64 {
        self.groups[g].owner_domains.get(d).copied().unwrap_or(0)
    }

    /// Record a placement on a target whose final requirements are `target` and whose taints
    /// (a NodePool's, or an existing node's) are `taints`. `required_anti` are the pod's
    /// required anti-affinity groups (their owners block matching pods; preferred
    /// anti-affinity does not, as upstream).
    pub fn record(
        &mut self,
        required_anti: &[usize],
        selected_by: &[usize],
        target: &Requirements,
        taints: &[Taint],
    ) {
        // counts are keyed by owned domain names; look up before allocating one
        fn bump(counts: &mut DomainCounts, d: &str) {
            match counts.get_mut(d) {
                Some(c) => *c += 1,
                None => {
                    counts.insert(d.to_string(), 1);
                }
            }
        }
        for &gid in selected_by {
            let g = &self.groups[gid];
            if !g.counts_on(taints) {
                continue;
            }
            if g.kind == GroupKind::AntiAffinity {
                let doms = options(self.domains.get(&g.key), target.get(&g.key));
                let g = &mut self.groups[gid];
                for d in doms {
                    bump(&mut g.counts, d);
                }
            } else if let Some(d) = target.get(&g.key).and_then(|r| r.single()) {
                bump(&mut self.groups[gid].counts, d);
            }
        }
        for &gid in required_anti {
            let g = &self.groups[gid];
            if !g.inverse {
                continue;
            }
            let doms = options(self.domains.get(&g.key), target.get(&g.key));
            let g = &mut self.groups[gid];
            for d in doms {
                bump(&mut g.owner_domains, d);
            }
        }
    }

    /// Record a running pod (existing node with labels `node_labels` and `node_taints`).
    pub fn record_running(
        &mut self,
        namespace: &str,
        pod_labels: &BTreeMap<String, String>,
        owned_anti: &[usize],
        node_labels: &BTreeMap<String, String>,
        node_taints: &[Taint],
    ) {
        for g in self.groups.iter_mut() {
            if g.selects(namespace, pod_labels) && g.counts_on(node_taints) {
                if let Some(d) = node_labels.get(&g.key) {
                    *g.counts.entry(d.clone()).or_insert(0) += 1;
                }
            }
        }
        for &gid in owned_anti {
            let g = &mut self.groups[gid];
            if let Some(d) = node_labels.get(&g.key) {
                *g.owner_domains.entry(d.clone()).or_insert(0) += 1;
            }
        }
    }
}

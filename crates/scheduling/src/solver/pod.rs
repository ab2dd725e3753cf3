//! A pending pod as the scheduler sees it: its requirements (nodeSelector, the first required
//! node-affinity term, the heaviest preferred term, volume topology), tolerations, host ports
//! and topology groups, derived once per pod shape (upstream `pkg/scheduling/requirements.go:
//! NewPodRequirements`/`NewStrictPodRequirements`, `scheduling/topology.go: Update`,
//! `volumetopology.go`, `pkg/scheduling/hostportusage.go`).
use super::*;

/// A pending pod as the solver sees it: its requests, and what scheduling derives from its
/// spec (shared by every pod of one shape, copied only when a relaxation changes it).
#[derive(Clone)]
pub(super) struct PodData {
    pub(super) requests: Resources,
    pub(super) facts: Arc<PodFacts>,
}

impl std::ops::Deref for PodData {
    type Target = PodFacts;
    fn deref(&self) -> &PodFacts {
        &self.facts
    }
}

impl PodData {
    /// The facts, for changing them (copied first when shared).
    pub(super) fn facts_mut(&mut self) -> &mut PodFacts {
        Arc::make_mut(&mut self.facts)
    }

    pub(super) fn derive(&mut self, respect: bool) {
        self.facts_mut().derive(respect);
    }
}

/// Everything scheduling derives from a pod's spec except its requests.
#[derive(Clone)]
pub(super) struct PodFacts {
    pub(super) ns: String,
    pub(super) tolerations: Vec<Toleration>,
    pub(super) base: Requirements,
    pub(super) required_terms: Vec<Requirements>,
    pub(super) preferred_terms: Vec<Requirements>,
    pub(super) volume: Requirements,
    pub(super) spread: Vec<(usize, bool)>,
    pub(super) affinity: Vec<usize>,
    pub(super) pref_affinity: Vec<usize>,
    pub(super) anti: Vec<usize>,
    pub(super) pref_anti: Vec<usize>,
    pub(super) selected_by: Vec<usize>,
    pub(super) host_ports: Vec<HostPort>,
    pub(super) tolerate_prefer: bool,
    // derived
    pub(super) strict: Requirements,
    pub(super) reqs: Requirements,
    pub(super) type_reqs: Requirements,
    pub(super) owned: Vec<usize>,
    /// keys narrowed by topology that instance types define
    pub(super) topo_type_keys: Vec<String>,
    /// Row of `Ctx::type_compat` for `type_reqs`; `None` after a relaxation changed them (or
    /// on the reference path): check the labels directly.
    pub(super) compat_row: Option<usize>,
    /// When every group the pod owns, and every inverse anti-affinity group selecting it, has
    /// the same non-hostname key: that key. The topology fast check then depends on a target
    /// only through its single value for the key, so one claim scan can reuse its answers.
    pub(super) memo_key: Option<String>,
    /// `memo_key`'s index in `Ctx::memo_keys`
    pub(super) memo_id: Option<usize>,
}

impl PodFacts {
    pub(super) fn derive(&mut self, respect: bool) {
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
}

/// Everything about a pod that scheduling reads except its identity (name, uid, creation
/// order) and its requests: pods with equal shapes get the same derived data.
#[derive(PartialEq, Eq, Hash)]
pub(super) struct PodShape<'p> {
    pub(super) namespace: &'p str,
    pub(super) labels: &'p BTreeMap<String, String>,
    pub(super) node_selector: &'p BTreeMap<String, String>,
    pub(super) required_node_affinity: &'p [Vec<crate::requirements::NodeSelectorRequirement>],
    preferred_node_affinity:
        &'p [crate::model::Weighted<Vec<crate::requirements::NodeSelectorRequirement>>],
    pub(super) tolerations: &'p [Toleration],
    pub(super) topology_spread_constraints: &'p [crate::model::TopologySpreadConstraint],
    pub(super) pod_affinity: &'p [crate::model::PodAffinityTerm],
    pub(super) preferred_pod_affinity:
        &'p [crate::model::Weighted<crate::model::PodAffinityTerm>],
    pub(super) pod_anti_affinity: &'p [crate::model::PodAffinityTerm],
    pub(super) preferred_pod_anti_affinity:
        &'p [crate::model::Weighted<crate::model::PodAffinityTerm>],
    pub(super) host_ports: &'p [HostPort],
    pub(super) volume_requirements: &'p [crate::requirements::NodeSelectorRequirement],
}

impl<'p> PodShape<'p> {
    pub(super) fn of(pod: &'p Pod) -> Self {
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

/// The pending pods grouped by shape: pods of one shape (a workload's replicas) share
/// everything but their requests, so the first of each shape is derived and the rest share it.
pub(super) struct PodShapes {
    /// per pod, its shape (an index into `facts`, whose pod `shape_pod` names)
    pub(super) shape_of: Vec<usize>,
    /// per shape, the facts derived from its first pod (or why that pod is ignored)
    pub(super) facts: Vec<Result<PodFacts, String>>,
    /// per shape, its first pod
    pub(super) shape_pod: Vec<usize>,
}

impl PodShapes {
    /// Derives each shape's facts from its first pod, registering the pods' topology groups.
    pub(super) fn derive(p: &Problem, topo: &mut Topology, opts: &SolveOptions) -> Self {
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
                    facts.push(Ctx::pod_data(pod, topo, opts.respect_preferences));
                    shape_pod.push(i);
                    if !opts.reference_path {
                        shapes.insert(PodShape::of(pod), facts.len() - 1);
                    }
                    facts.len() - 1
                }
            };
            shape_of.push(shape);
        }
        PodShapes {
            shape_of,
            facts,
            shape_pod,
        }
    }

    /// Every pod: its requests and its shape's (shared) facts.
    pub(super) fn into_pods(self, p: &Problem) -> Vec<Result<PodData, String>> {
        let shared: Vec<Result<Arc<PodFacts>, String>> =
            self.facts.into_iter().map(|r| r.map(Arc::new)).collect();
        let mut pods: Vec<Result<PodData, String>> = Vec::with_capacity(p.pods.len());
        for (pod, &shape) in p.pods.iter().zip(&self.shape_of) {
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
        pods
    }
}

pub(super) fn parse_terms(
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

impl Ctx<'_> {
    #[inline(never)]
    pub(super) fn pod_data(
        pod: &Pod,
        topo: &mut Topology,
        respect: bool,
    ) -> Result<PodFacts, String> {
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
}

/// Why the pod's host ports clash with ports already used on a node or claim, if they do.
pub(super) fn ports_conflict(a: &[HostPort], b: &[HostPort]) -> Option<String> {
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

//! Existing nodes and in-flight NodeClaims the cluster already has (upstream
//! `existingnode.go`: `ExistingNode`, `CanAdd`, `Add`; their order and taint filtering from
//! `scheduler.go: NewScheduler`).
use super::*;

/// Taints a node that is not initialized yet may carry without repelling pods (upstream
/// `scheduling.KnownEphemeralTaints` plus the unregistered taint).
const IGNORED_UNTIL_INIT: [&str; 4] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.cloudprovider.kubernetes.io/uninitialized",
    labels::UNREGISTERED_TAINT_KEY,
];

#[derive(Clone)]
pub(super) struct NodeState {
    pub(super) idx: usize,
    pub(super) reqs: Requirements,
    pub(super) taints: Vec<Taint>,
    pub(super) available: Resources,
    pub(super) host_ports: Vec<HostPort>,
    pub(super) pods: Vec<usize>,
}

/// The existing nodes, initialized first, then by name, with the taints that apply to them;
/// their labels become topology domains (and, for `nodeTaintsPolicy: Honor`, domain sources).
pub(super) fn existing_nodes(
    p: &Problem,
    topo: &mut Topology,
    honor_taints: bool,
) -> Vec<NodeState> {
    let mut node_order: Vec<usize> = (0..p.existing_nodes.len()).collect();
    node_order.sort_by(|&a, &b| {
        let (na, nb) = (&p.existing_nodes[a], &p.existing_nodes[b]);
        nb.initialized
            .cmp(&na.initialized)
            .then_with(|| na.name.cmp(&nb.name))
    });
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
            .filter(|t| n.initialized || !IGNORED_UNTIL_INIT.contains(&t.key.as_str()))
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
    nodes
}

impl Run<'_, '_> {
    /// Put the pod on existing node `n` if it fits there.
    pub(super) fn add_to_node(&mut self, pod: usize, pd: &PodData, n: usize) -> bool {
        // The node's requirements narrowed for the pod only feed topology: without topology
        // groups (owned or selecting) the checks alone decide, and nothing is built.
        let reqs = if pd.owned.is_empty() && pd.selected_by.is_empty() {
            if !self.node_admits(n, pd) {
                return false;
            }
            None
        } else {
            let Some(reqs) = self.eval_node(n, pd) else {
                return false;
            };
            Some(reqs)
        };
        let e = Eval {
            reqs,
            types: None,
            n_types: 0,
            total: Resources::default(),
            max_quad: None,
            min_quad: None,
        };
        self.commit(Target::Node(n), pod, pd, e);
        true
    }

    /// The checks before topology: resources, a quick topology reject, taints, the pod's
    /// node requirements, host ports.
    fn node_admits(&self, n: usize, pd: &PodData) -> bool {
        let node = &self.nodes[n];
        !(!pd.requests.fits(&node.available)
            || self.topo.quick_reject(
                &pd.owned,
                &pd.selected_by,
                &node.reqs,
                &self.ctx.p.existing_nodes[node.idx].name,
            )
            || untolerated(&pd.tolerations, &node.taints, pd.tolerate_prefer).is_some()
            || node.reqs.compatible(&pd.type_reqs).is_err()
            || ports_conflict(&pd.host_ports, &node.host_ports).is_some())
    }

    /// The node's requirements narrowed for this pod, when the pod fits there.
    pub(super) fn eval_node(&self, n: usize, pd: &PodData) -> Option<Requirements> {
        if !self.node_admits(n, pd) {
            return None;
        }
        let node = &self.nodes[n];
        let mut merged = node.reqs.clone();
        merged.add_all(&pd.type_reqs);
        self.topo
            .add_requirements(&pd.owned, &pd.selected_by, &pd.strict, &mut merged)
            .ok()?;
        Some(merged)
    }
}

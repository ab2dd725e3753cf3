//! `SimulateScheduling` (upstream: `pkg/controllers/disruption/helpers.go`): the pods of the
//! candidates on the rest of the cluster plus new NodeClaims, through the scheduling engine.
use std::collections::BTreeSet;

use karpenter_scheduling::model::{Taint, TaintEffect};
use karpenter_scheduling::{
    solve, ExistingNode, NodeClaimPlan, Pod, Problem, Resources, SolveOptions,
};

use crate::engine::{
    world::{pod_key, World},
    Error,
};

/// The taint that keeps simulated pods off nodes inside their `consolidateAfter` window. It only
/// ever exists inside a simulation, so it lives in this project's domain, not Karpenter's.
const UNDER_CONSOLIDATE_AFTER_TAINT: &str =
    "simulation.kubectl-karpenter.io/under-consolidate-after";

/// Where a simulated pod came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// Pending before the simulation.
    Pending,
    /// Bound pod `pod` of node `node` (a candidate or a deleting node).
    Bound {
        node: usize,
        pod: usize,
        deleting: bool,
    },
}

/// The result of one scheduling simulation.
pub(super) struct Sim {
    /// The first non-pending pod that could not be placed, with why.
    pub(super) failure: Option<String>,
    /// New NodeClaims holding at least one non-pending pod, or (in a consolidation
    /// simulation) a pending pod the cluster holds on an existing node without the move.
    pub(super) claims: Vec<NodeClaimPlan>,
    /// Existing node index → placed pods (problem indices).
    pub(super) placed: Vec<(usize, Vec<usize>)>,
    /// The problem's pods and where they came from.
    pub(super) pods: Vec<Pod>,
    pub(super) origin: Vec<Origin>,
}

impl<'a> World<'a> {
    /// `SimulateScheduling`: the pods of `candidates`, of deleting nodes and the pending pods,
    /// on every other live node plus new NodeClaims. A consolidation simulation
    /// (`IsConsolidationSimulation`, v1.14) keeps pods off managed nodes still inside their
    /// `consolidateAfter` window; here they get a NoSchedule taint no pod tolerates, which
    /// also keeps pending pods and pods of deleting nodes off them (upstream lets those
    /// through), so it errs on the side of no command.
    ///
    /// New NodeClaims only pending pods need are provisioning's business and left out, except
    /// in a consolidation simulation when they hold a pending pod that the cluster without the
    /// move has room for: the move takes that room, and upstream (`computeConsolidation`, which
    /// counts every new NodeClaim) would not issue a delete for it either.
    pub(super) fn simulate(
        &mut self,
        candidates: &[usize],
        consolidation: bool,
    ) -> Result<Sim, Error> {
        let held = if consolidation && !self.input.pending_pods.is_empty() {
            if self.pending_held.is_none() {
                let base = self.simulate(&[], false)?;
                let held = base
                    .placed
                    .iter()
                    .flat_map(|(_, ps)| ps.iter().copied())
                    .filter(|&p| base.origin[p] == Origin::Pending)
                    .collect();
                self.pending_held = Some(held);
            }
            self.pending_held.clone().unwrap_or_default()
        } else {
            BTreeSet::new()
        };
        self.simulations += 1;
        let cset: BTreeSet<usize> = candidates.iter().copied().collect();
        let mut pods = Vec::new();
        let mut origin = Vec::new();
        for p in &self.input.pending_pods {
            pods.push(p.clone());
            origin.push(Origin::Pending);
        }
        // Running pods matter to scheduling only through topology spread and (anti-)affinity:
        // when no pod to place has such terms and no running pod repels others, they are left
        // out of the problem (at 20,000 bound pods, copying and counting them dominates).
        let running_matter = self.pending_constrained
            || self.live().any(|n| {
                self.repels[n]
                    || ((cset.contains(&n) || self.nodes[n].marked_for_deletion)
                        && self.constrained[n])
            });
        for n in self.live() {
            let node = &self.nodes[n];
            let deleting = node.marked_for_deletion;
            if cset.contains(&n) || deleting {
                for (pi, bp) in node.pods.iter().enumerate() {
                    if bp.reschedulable {
                        let mut p = bp.pod.clone();
                        p.creation_index = pods.len() as i64;
                        pods.push(p);
                        origin.push(Origin::Bound {
                            node: n,
                            pod: pi,
                            deleting,
                        });
                    }
                }
            }
        }
        // A node that none of the pods to place fits (by requests alone) takes none of them, and
        // without topology or affinity terms nor NodePool limits (which count every node) it
        // has no other effect on the packing: it is left out of the problem. Late in a plan
        // most nodes are full, and building the scheduler's view of them dominated.
        let skip_full = self.shortcuts
            && !running_matter
            && self
                .input
                .scheduling_pools
                .iter()
                .all(|p| p.limits.is_empty());
        let shapes = if skip_full {
            request_shapes(&pods)
        } else {
            Vec::new()
        };
        let mut existing_idx = Vec::new();
        for n in self.live() {
            let node = &self.nodes[n];
            if cset.contains(&n) || node.marked_for_deletion {
                continue;
            }
            if skip_full {
                let mut avail = node.node.allocatable.clone();
                avail.sub(&node.node.requested);
                if !shapes.iter().any(|r| r.fits(&avail)) {
                    continue;
                }
            }
            existing_idx.push(n);
        }
        let existing_node = |n: usize| -> ExistingNode {
            let node = &self.nodes[n];
            let mut en = if running_matter {
                node.node.clone()
            } else {
                ExistingNode {
                    name: node.node.name.clone(),
                    labels: node.node.labels.clone(),
                    taints: node.node.taints.clone(),
                    capacity: node.node.capacity.clone(),
                    allocatable: node.node.allocatable.clone(),
                    requested: node.node.requested.clone(),
                    pods: Vec::new(),
                    host_ports: node.node.host_ports.clone(),
                    initialized: node.node.initialized,
                }
            };
            if consolidation && self.under_consolidate_after(n) {
                en.taints.push(Taint {
                    key: UNDER_CONSOLIDATE_AFTER_TAINT.into(),
                    value: String::new(),
                    effect: TaintEffect::NoSchedule,
                });
            }
            en
        };
        let problem_with = |existing_nodes: Vec<ExistingNode>, pods: Vec<Pod>| Problem {
            instance_types: self.input.instance_types.clone(),
            node_pools: self.input.scheduling_pools.clone(),
            daemon_sets: self.input.daemon_sets.clone(),
            existing_nodes,
            pods,
        };
        let karpenter_opts = SolveOptions {
            strategy: karpenter_scheduling::Strategy::Karpenter,
            ..self.solve_opts.clone()
        };
        // First on the nodes a pod could reach first: see `first_fit_prefix`.
        let prefix = if skip_full {
            // The scheduler's order: initialized first, then by name.
            let mut order: Vec<usize> = (0..existing_idx.len()).collect();
            order.sort_by_key(|&i| {
                let n = existing_idx[i];
                (!self.nodes[n].node.initialized, self.name_rank[n])
            });
            let nodes: Vec<&ExistingNode> = order
                .iter()
                .map(|&i| &self.nodes[existing_idx[i]].node)
                .collect();
            first_fit_prefix(&nodes, &pods)
                .map(|p| p.into_iter().map(|i| order[i]).collect::<Vec<usize>>())
        } else {
            None
        };
        let mut pods = Some(pods);
        let mut short = None;
        if let Some(order) = prefix.filter(|o| o.len() < existing_idx.len()) {
            let nodes = order
                .iter()
                .map(|&i| existing_node(existing_idx[i]))
                .collect();
            let problem = problem_with(nodes, pods.take().expect("pods"));
            let sol = solve(&problem, &karpenter_opts)?;
            if sol.node_claims.is_empty() && sol.pending.is_empty() {
                short = Some((problem, sol));
            } else {
                pods = Some(problem.pods);
            }
        }
        let (problem, sol) = match short {
            Some(x) => x,
            None => {
                let nodes = existing_idx.iter().map(|&n| existing_node(n)).collect();
                let problem = problem_with(nodes, pods.take().expect("pods"));
                // One node's pods: upstream's single packing answers "do they fit" as well as
                // the best of several, at a fraction of the cost.
                let sol = if candidates.len() == 1 {
                    solve(&problem, &karpenter_opts)?
                } else {
                    solve(&problem, &self.solve_opts)?
                };
                (problem, sol)
            }
        };

        let mut failure = None;
        for pp in &sol.pending {
            if origin[pp.pod] != Origin::Pending && failure.is_none() {
                failure = Some(format!(
                    "pod {} would not schedule: {}",
                    pod_key(&problem.pods[pp.pod]),
                    pp.reason
                ));
            }
        }
        let mut placed = Vec::new();
        for (name, ps) in &sol.existing_nodes {
            // The node of that name in the problem (live, neither a candidate nor deleting).
            let Some(&n) = self.by_name.get(name.as_str()).and_then(|v| {
                v.iter().rev().find(|&&n| {
                    !self.gone[n] && !cset.contains(&n) && !self.nodes[n].marked_for_deletion
                })
            }) else {
                continue;
            };
            if !self.nodes[n].node.initialized && failure.is_none() {
                if let Some(&p) = ps.iter().find(|&&p| {
                    matches!(
                        origin[p],
                        Origin::Bound {
                            deleting: false,
                            ..
                        }
                    )
                }) {
                    failure = Some(format!(
                        "pod {} would schedule against uninitialized node {}",
                        pod_key(&problem.pods[p]),
                        name
                    ));
                }
            }
            placed.push((n, ps.clone()));
        }
        // Pending pods come first in the problem, so their problem index is their index in
        // `input.pending_pods`.
        let claims = sol
            .node_claims
            .into_iter()
            .filter(|c| {
                c.pods
                    .iter()
                    .any(|&p| origin[p] != Origin::Pending || held.contains(&p))
            })
            .collect();
        Ok(Sim {
            failure,
            claims,
            placed,
            pods: problem.pods,
            origin,
        })
    }
}

/// The distinct requests of `pods` as the scheduler fits them (at least one pod slot), or,
/// beyond a few distinct ones, their component-wise minimum: when none of these fits a node, no
/// pod does.
fn request_shapes(pods: &[Pod]) -> Vec<Resources> {
    const MAX_SHAPES: usize = 8;
    let mut shapes: Vec<Resources> = Vec::new();
    for p in pods {
        let mut r = p.requests.clone();
        r.pods = r.pods.max(1);
        if !shapes.contains(&r) {
            shapes.push(r);
        }
    }
    if shapes.len() <= MAX_SHAPES {
        return shapes;
    }
    let mut min = shapes[0].clone();
    for r in &shapes[1..] {
        min.cpu_millis = min.cpu_millis.min(r.cpu_millis);
        min.memory_bytes = min.memory_bytes.min(r.memory_bytes);
        min.pods = min.pods.min(r.pods);
        min.ephemeral_bytes = min.ephemeral_bytes.min(r.ephemeral_bytes);
        min.extended.retain(|k, v| {
            *v = (*v).min(r.extended.get(k).copied().unwrap_or(0));
            *v > 0
        });
    }
    vec![min]
}

/// The first `nodes` (given in the scheduler's order: initialized first, then by name) that a
/// first fit by requests alone fills with `pods` (largest CPU first, then memory), as indices
/// into `nodes`; `None` when the pods do not all fit that way.
///
/// Used only without topology or affinity terms and without NodePool limits. Then, when the
/// scheduler's own packing (upstream's: pods in a fixed order, each onto the first node in that
/// order that takes it, claims only after every node) places every pod on such a prefix, it
/// places them identically on all nodes: the later nodes are never reached. The default
/// strategy's answer is that packing too: nothing beats every pod on an existing node, and its
/// improvement pass needs two new claims. When the prefix is not enough, the caller solves
/// again on every node, so the estimate affects speed, never the answer.
fn first_fit_prefix(nodes: &[&ExistingNode], pods: &[Pod]) -> Option<Vec<usize>> {
    let quad = |r: &Resources| {
        [
            r.cpu_millis,
            r.memory_bytes,
            r.pods.max(1),
            r.ephemeral_bytes,
        ]
    };
    if pods.iter().any(|p| !p.requests.extended.is_empty()) {
        return None;
    }
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    let mut room: Vec<[i64; 4]> = order
        .iter()
        .map(|&i| {
            let mut a = nodes[i].allocatable.clone();
            a.sub(&nodes[i].requested);
            [a.cpu_millis, a.memory_bytes, a.pods, a.ephemeral_bytes]
        })
        .collect();
    let mut need: Vec<[i64; 4]> = pods.iter().map(|p| quad(&p.requests)).collect();
    // Not even the pods' total fits in the nodes' total room: no first fit places them all.
    for d in 0..4 {
        let total: i64 = need.iter().map(|q| q[d]).fold(0, i64::saturating_add);
        if total
            > room
                .iter()
                .map(|r| r[d].max(0))
                .fold(0, i64::saturating_add)
        {
            return None;
        }
    }
    need.sort_by(|a, b| b[0].cmp(&a[0]).then(b[1].cmp(&a[1])));
    // Nodes before `start` have no room for even the smallest pod in every dimension.
    let mut min = need.first().copied().unwrap_or_default();
    for q in &need {
        for d in 0..4 {
            min[d] = min[d].min(q[d]);
        }
    }
    let fits = |q: &[i64; 4], r: &[i64; 4]| (0..4).all(|d| q[d] <= r[d]);
    let mut start = 0;
    let mut used = 0;
    for q in &need {
        while start < room.len() && !fits(&min, &room[start]) {
            start += 1;
        }
        let k = start + room[start..].iter().position(|r| fits(q, r))?;
        for d in 0..4 {
            room[k][d] -= q[d];
        }
        used = used.max(k + 1);
    }
    order.truncate(used);
    Some(order)
}

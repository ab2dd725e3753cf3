//! A decision applied to the modelled cluster (pods moved, candidates gone, replacements
//! launched) and recorded as a command (upstream: `pkg/controllers/disruption/queue.go` starts
//! the command; here the model moves on as if it had finished).

use karpenter_scheduling::labels as l;
use karpenter_scheduling::model::RunningPod;
use karpenter_scheduling::{ExistingNode, NodeClaimPlan, Pod};

use crate::engine::{
    consolidation::Decision,
    round6,
    simulate::{Origin, Sim},
    world::{name_ranks, node_flags, pod_key, World},
    Engine,
};
use crate::input::{BoundPod, NodeInput};
use crate::plan::{Command, Reason, Replacement};

impl<'a> World<'a> {
    /// Move the simulated pods and create the replacement nodes; candidates disappear.
    pub(super) fn apply(&mut self, candidates: &[usize], sim: &Sim, replacements: &[Replacement]) {
        self.pending_held = None;
        for &c in candidates {
            self.gone[c] = true;
        }
        // Pods of deleting nodes placed by the simulation are where the provisioner would put
        // them too; their old nodes are gone once the wave finishes.
        for o in &sim.origin {
            if let Origin::Bound {
                node,
                deleting: true,
                ..
            } = *o
            {
                self.gone[node] = true;
            }
        }
        let bound_of = |pi: usize| -> BoundPod {
            match sim.origin[pi] {
                Origin::Bound { node, pod, .. } => self.nodes[node].pods[pod].clone(),
                Origin::Pending => BoundPod {
                    pod: sim.pods[pi].clone(),
                    reschedulable: true,
                    eviction_cost: 1.0,
                    blocks: None,
                    start_time: None,
                },
            }
        };
        let moved_pods = |ps: &[usize]| -> Vec<BoundPod> {
            ps.iter()
                .filter(|&&p| sim.origin[p] != Origin::Pending)
                .map(|&p| bound_of(p))
                .collect()
        };
        let moved: Vec<(usize, Vec<BoundPod>)> = sim
            .placed
            .iter()
            .map(|(n, ps)| (*n, moved_pods(ps)))
            .collect();
        let launched: Vec<Vec<BoundPod>> = sim.claims.iter().map(|c| moved_pods(&c.pods)).collect();
        for (n, pods) in moved {
            for bp in pods {
                add_pod(self.nodes[n].to_mut(), bp);
            }
            self.refresh_flags(n);
        }
        for ((claim, r), pods) in sim.claims.iter().zip(replacements).zip(launched) {
            let node = self.new_node(claim, r, pods);
            self.launching.push(self.nodes.len());
            let (repels, constrained) = node_flags(&node);
            self.repels.push(repels);
            self.constrained.push(constrained);
            self.by_name
                .entry(node.name().to_string())
                .or_default()
                .push(self.nodes.len());
            self.nodes.push(std::borrow::Cow::Owned(node));
            self.gone.push(false);
        }
        if !sim.claims.is_empty() {
            self.name_rank = name_ranks(self.nodes.iter().map(|n| n.name()));
        }
    }

    pub(super) fn new_node(
        &mut self,
        claim: &NodeClaimPlan,
        r: &Replacement,
        pods: Vec<BoundPod>,
    ) -> NodeInput {
        let name = r.name.clone();
        let it = self
            .type_index
            .get(&r.instance_type)
            .map(|&i| &self.input.instance_types[i]);
        let sp = self
            .input
            .scheduling_pools
            .iter()
            .find(|p| p.name == claim.node_pool);
        let mut labels = it.map(|t| t.labels.clone()).unwrap_or_default();
        if let Some(sp) = sp {
            labels.extend(sp.labels.clone());
            for t in &sp.requirements {
                if let ([v], karpenter_scheduling::Operator::In) = (t.values.as_slice(), t.operator)
                {
                    labels.entry(t.key.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        labels.insert(l::ZONE.into(), r.zone.clone());
        labels.insert(l::CAPACITY_TYPE.into(), r.capacity_type.clone());
        labels.insert(l::NODEPOOL.into(), claim.node_pool.clone());
        labels.insert(l::HOSTNAME.into(), name.clone());
        let settings = self
            .pool_index
            .get(&claim.node_pool)
            .map(|&i| &self.input.pools[i]);
        let mut node = NodeInput {
            node: ExistingNode {
                name: name.clone(),
                labels,
                taints: sp.map(|p| p.taints.clone()).unwrap_or_default(),
                capacity: it.map(|t| t.capacity.clone()).unwrap_or_default(),
                allocatable: it.map(|t| t.allocatable.clone()).unwrap_or_default(),
                requested: claim.requests.clone(),
                pods: Vec::new(),
                host_ports: Vec::new(),
                // Launching during this wave; initialized when the wave has finished.
                initialized: false,
            },
            node_pool: Some(claim.node_pool.clone()),
            managed: true,
            ready: true,
            marked_for_deletion: false,
            instance_terminating: false,
            nominated: false,
            do_not_disrupt: false,
            created: self.now,
            initialized_at: Some(self.now),
            last_pod_event: None,
            // Waves are at least consolidateAfter apart: from the next wave on, a replacement
            // is past its window.
            consolidatable_condition: true,
            expire_after: settings.and_then(|s| s.expire_after),
            termination_grace_period: settings.and_then(|s| s.termination_grace_period),
            drift: None,
            pods: Vec::new(),
            price: r.price_per_hour,
        };
        // `claim.requests` already counts the pods and the DaemonSet overhead.
        for bp in pods {
            node.node
                .host_ports
                .extend(bp.pod.host_ports.iter().cloned());
            node.node.pods.push(running(&bp.pod));
            node.pods.push(bp);
        }
        node
    }
}

pub(super) fn running(p: &Pod) -> RunningPod {
    RunningPod {
        namespace: p.namespace.clone(),
        labels: p.labels.clone(),
        pod_anti_affinity: p.pod_anti_affinity.clone(),
    }
}

pub(super) fn add_pod(node: &mut NodeInput, bp: BoundPod) {
    let mut r = bp.pod.requests.clone();
    r.pods = 1;
    node.node.requested.add(&r);
    node.node
        .host_ports
        .extend(bp.pod.host_ports.iter().cloned());
    node.node.pods.push(running(&bp.pod));
    node.pods.push(bp);
}

impl<'a> Engine<'a> {
    pub(super) fn command(
        &mut self,
        reason: Reason,
        wave: u32,
        mut d: Decision,
        explanation: String,
    ) {
        if !d.replacements.is_empty() {
            self.single_failures.clear();
        }
        for r in &mut d.replacements {
            self.w.new_nodes += 1;
            r.name = format!("{}-replacement-{}", r.node_pool, self.w.new_nodes);
        }
        let pools: Vec<String> = d
            .candidates
            .iter()
            .map(|&n| self.w.nodes[n].node_pool.clone().unwrap_or_default())
            .collect();
        let names: Vec<String> = d.candidates.iter().map(|&n| self.w.node_name(n)).collect();
        for &n in &d.candidates {
            self.why.remove(&n);
        }
        let mut placements = Vec::new();
        for (n, ps) in &d.sim.placed {
            for &p in ps {
                if d.sim.origin[p] != Origin::Pending {
                    placements.push((pod_key(&d.sim.pods[p]), self.w.node_name(*n)));
                }
            }
        }
        for (c, r) in d.sim.claims.iter().zip(&d.replacements) {
            for &p in &c.pods {
                if d.sim.origin[p] != Origin::Pending {
                    placements.push((pod_key(&d.sim.pods[p]), r.name.clone()));
                }
            }
        }
        if (0..d.sim.pods.len()).any(|p| {
            d.sim.origin[p] != Origin::Pending && super::world::constrained(&d.sim.pods[p])
        }) {
            self.wave_closed = true;
        }
        self.w.apply(&d.candidates, &d.sim, &d.replacements);
        self.commands.push(Command {
            reason,
            wave,
            candidates: names,
            replacements: d.replacements,
            savings_per_hour: round6(d.savings),
            explanation,
            method: d.method,
            node_pools: pools,
            placements,
        });
    }

    /// The claims a simulation launches, one replacement each (as the scheduler priced them
    /// when no offering passes the claim requirements here).
    pub(super) fn replacements_of(&self, sim: &Sim) -> Vec<Replacement> {
        sim.claims
            .iter()
            .map(|c| {
                let claim = self.w.replacement_claim(c);
                self.w
                    .replacement(&claim, &c.node_pool, &c.requests)
                    .unwrap_or_else(|| Replacement {
                        instance_type: c.instance_type.clone(),
                        instance_types: c.instance_types.to_vec(),
                        zone: c.zone.clone(),
                        capacity_type: c.capacity_type.clone(),
                        price_per_hour: c.price_per_hour,
                        node_pool: c.node_pool.clone(),
                        name: String::new(),
                        requirements: Some(claim.requirements),
                        requests: c.requests.clone(),
                    })
            })
            .collect()
    }
}

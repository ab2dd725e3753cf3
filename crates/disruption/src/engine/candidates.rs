//! Candidates (upstream: `pkg/controllers/disruption/types.go` `NewCandidate`, `helpers.go`
//! `GetCandidates`, `consolidation.go` `ShouldDisrupt`) and their order.
use std::collections::BTreeSet;

use karpenter_scheduling::labels as l;

use crate::engine::{world::World, Engine};
use crate::input::PodBlock;
use crate::plan::Blocker;
use crate::timing::{consolidatable, Consolidatable, ConsolidationPolicy};

/// A candidate for graceful disruption.
#[derive(Debug, Clone)]
pub(super) struct Cand {
    pub(super) node: usize,
    pub(super) pool: usize,
    pub(super) price: f64,
    pub(super) instance_type: Option<usize>,
    pub(super) reschedule_cost: f64,
    pub(super) empty: bool,
    pub(super) consolidatable: Consolidatable,
    pub(super) pod_block: Option<Blocker>,
}

impl Cand {
    fn savings_ratio(&self) -> f64 {
        self.price / self.reschedule_cost
    }
}

impl<'a> World<'a> {
    /// `NewCandidate`'s checks; `Err` says why the node is not a candidate at all.
    pub(super) fn candidate(&self, n: usize) -> Result<Cand, Blocker> {
        let node = &self.nodes[n];
        if !node.managed || node.node_pool.is_none() {
            return Err(Blocker::NotManaged);
        }
        let pool = *self
            .pool_index
            .get(node.node_pool.as_ref().expect("checked"))
            .ok_or(Blocker::NodePoolNotFound)?;
        if !node.node.initialized {
            return Err(Blocker::NotInitialized);
        }
        if node.marked_for_deletion {
            return Err(Blocker::Deleting);
        }
        if node.nominated {
            return Err(Blocker::Nominated);
        }
        if node.do_not_disrupt {
            return Err(Blocker::DoNotDisruptNode);
        }
        let pod_block = node.pods.iter().find_map(|p| match &p.blocks {
            Some(PodBlock::DoNotDisrupt(pod)) => Some(Blocker::DoNotDisruptPod(pod.clone())),
            Some(PodBlock::Pdb(_, pdb)) => Some(Blocker::Pdb(pdb.clone())),
            None => None,
        });
        let reschedule_cost = crate::timing::reschedule_disruption_cost(
            node.pods
                .iter()
                .filter(|p| p.reschedulable)
                .map(|p| p.eviction_cost),
        );
        let settings = &self.input.pools[pool];
        Ok(Cand {
            node: n,
            pool,
            price: node.price,
            instance_type: node
                .label(l::INSTANCE_TYPE)
                .and_then(|t| self.type_index.get(t).copied()),
            reschedule_cost,
            empty: reschedule_cost <= crate::timing::PER_NODE_BASE_DISRUPTION_COST,
            consolidatable: consolidatable(
                settings.consolidate_after,
                node.initialized_at.or(Some(node.created)),
                node.last_pod_event,
                node.consolidatable_condition,
                self.now,
            ),
            pod_block,
        })
    }

    pub(super) fn candidates(&self, exclude: &BTreeSet<usize>) -> Vec<Cand> {
        self.live()
            .filter(|n| !exclude.contains(n))
            .filter_map(|n| self.candidate(n).ok())
            .collect()
    }
}

impl<'a> Engine<'a> {
    pub(super) fn consolidation_candidates(&mut self, exclude: &BTreeSet<usize>) -> Vec<Cand> {
        let cands = self.w.candidates(exclude);
        let mut out = Vec::new();
        for c in cands {
            let s = &self.w.input.pools[c.pool];
            let node = &self.w.nodes[c.node];
            let blocked = if s.is_static {
                Some((
                    Blocker::StaticNodePool,
                    "its NodePool is static (spec.replicas)".to_string(),
                ))
            } else if c.instance_type.is_none()
                || node.label(l::CAPACITY_TYPE).is_none()
                || node.label(l::ZONE).is_none()
            {
                Some((
                    Blocker::Unpriceable,
                    "its instance type, zone or capacity type is unknown, so it cannot be priced"
                        .to_string(),
                ))
            } else if s.consolidate_after.is_none() {
                Some((
                    Blocker::ConsolidationDisabled,
                    format!("NodePool {:?} has consolidateAfter: Never", s.name),
                ))
            } else if c.empty {
                // Empty nodes are emptiness's.
                Some((Blocker::Needed, String::new()))
            } else if s.policy == ConsolidationPolicy::WhenEmpty {
                Some((
                    Blocker::WhenEmptyPolicy,
                    format!(
                        "NodePool {:?} has consolidationPolicy WhenEmpty and the node is not empty",
                        s.name
                    ),
                ))
            } else if let Consolidatable::NotYet { at } = c.consolidatable {
                Some((
                    Blocker::ConsolidateAfter,
                    format!(
                        "consolidateAfter has not elapsed since its last pod event (consolidatable from {at})"
                    ),
                ))
            } else if c.consolidatable != Consolidatable::Yes {
                Some((Blocker::NotInitialized, "not initialized".to_string()))
            } else {
                c.pod_block
                    .as_ref()
                    .map(|b| (b.clone(), self.pod_block_text(c.node, b)))
            };
            match blocked {
                // Empty nodes are emptiness's; say nothing here.
                Some((Blocker::Needed, _)) => {}
                Some((b, why)) => self.note(c.node, b, why),
                None => out.push(c),
            }
        }
        out
    }
}

pub(super) fn sort_by_savings_ratio(cands: &mut [Cand], w: &World<'_>) {
    cands.sort_by(|a, b| {
        b.savings_ratio()
            .total_cmp(&a.savings_ratio())
            .then_with(|| w.nodes[a.node].name().cmp(w.nodes[b.node].name()))
    });
}

//! Single-node consolidation (upstream: `pkg/controllers/disruption/singlenodeconsolidation.go`):
//! candidates interleaved across NodePools, the first valid command wins.
use std::collections::BTreeMap;

use karpenter_scheduling::Resources;

use crate::budget::{BudgetMapping, DisruptionReason};
use crate::engine::{
    candidates::Cand,
    consolidation::{Computed, Decision},
    world::World,
    Engine, Error,
};
use crate::plan::{money, Blocker};

impl<'a> World<'a> {
    /// A necessary condition for a single-node consolidation, checked before simulating: a
    /// delete needs the pods' requests within the other nodes' free room; a replace needs a
    /// type cheaper than the node whose allocatable, with that free room, holds them. When
    /// neither holds the simulation would fail too, so it is skipped.
    pub(super) fn cannot_improve(&self, c: &Cand) -> Option<String> {
        let node = &self.nodes[c.node];
        let mut need = Resources::default();
        for p in node.pods.iter().filter(|p| p.reschedulable) {
            let mut r = p.pod.requests.clone();
            r.pods = 1;
            need.add(&r);
        }
        if need.pods == 0 {
            return None;
        }
        let mut free = Resources::default();
        for n in self.live() {
            let o = &self.nodes[n];
            if n == c.node || o.marked_for_deletion || !o.node.initialized {
                continue;
            }
            let mut f = o.node.allocatable.clone();
            f.sub(&o.node.requested);
            f.floor_zero();
            free.add(&f);
        }
        if need.fits(&free) {
            return None;
        }
        let cheaper_fits = self.input.instance_types.iter().any(|t| {
            let cheapest = t
                .offerings
                .iter()
                .filter(|o| o.available)
                .map(|o| o.price)
                .fold(f64::MAX, f64::min);
            cheapest < c.price
                && need.fits_with(&Resources::default(), &{
                    let mut cap = free.clone();
                    cap.add(&t.allocatable);
                    cap
                })
        });
        (!cheaper_fits).then(|| {
            format!(
                "no cheaper placement: its pods need {need}, the other nodes have {free} free, and no cheaper instance type would hold the rest"
            )
        })
    }
}

impl<'a> Engine<'a> {
    /// Single-node consolidation: candidates interleaved across NodePools; the first valid
    /// command wins.
    pub(super) fn single_node(
        &mut self,
        cands: &[Cand],
        budget: &mut BudgetMapping,
    ) -> Result<Option<Decision>, Error> {
        let mut by_pool: BTreeMap<usize, Vec<&Cand>> = BTreeMap::new();
        for c in cands {
            by_pool.entry(c.pool).or_default().push(c);
        }
        let max = by_pool.values().map(Vec::len).max().unwrap_or(0);
        let mut order = Vec::new();
        for i in 0..max {
            for v in by_pool.values() {
                if let Some(c) = v.get(i) {
                    order.push(*c);
                }
            }
        }
        for c in order {
            let pool = self.w.pool_name(c).to_string();
            if budget.remaining(&pool) == 0 {
                let why = budget.explain_blocked(&pool, Some(&self.w.input.pools[c.pool].budgets));
                self.note(
                    c.node,
                    Blocker::Budget(DisruptionReason::Underutilized),
                    why,
                );
                continue;
            }
            if let Some(why) = self.w.cannot_improve(c) {
                self.note(c.node, Blocker::NoCheaperPlacement, why);
                continue;
            }
            if let Some((b, why)) = self
                .single_failures
                .get(&c.node)
                .filter(|_| self.failures_stable)
                .cloned()
            {
                self.note(c.node, b, why);
                continue;
            }
            self.single_sims += 1;
            match self.compute(&[c], false)? {
                Computed::Valid(d) if d.savings >= self.w.opts.min_savings_per_hour => {
                    budget.take(&pool);
                    return Ok(Some(d));
                }
                Computed::Valid(d) => self.note(
                    c.node,
                    Blocker::NoCheaperPlacement,
                    format!(
                        "consolidating it would save only {}, below the minimum saving of {}",
                        money(d.savings),
                        money(self.w.opts.min_savings_per_hour)
                    ),
                ),
                Computed::Invalid(b, why) => {
                    self.single_failures
                        .insert(c.node, (b.clone(), why.clone()));
                    self.note(c.node, b, why)
                }
            }
        }
        Ok(None)
    }
}

//! Multi-node consolidation (upstream: `pkg/controllers/disruption/multinodeconsolidation.go`):
//! a binary search over the budget-filtered prefix of the candidates.

use crate::budget::BudgetMapping;
use crate::engine::{
    candidates::Cand,
    consolidation::{Computed, Decision},
    Engine, Error,
};

impl<'a> Engine<'a> {
    /// Multi-node consolidation: upstream's binary search over the budget-filtered prefix.
    pub(super) fn multi_node(
        &mut self,
        cands: &[Cand],
        budget: &mut BudgetMapping,
        cap: usize,
    ) -> Result<Option<Decision>, Error> {
        let mut usable: Vec<&Cand> = Vec::new();
        let mut b = budget.clone();
        for c in cands {
            let pool = self.w.pool_name(c).to_string();
            if b.take(&pool) {
                usable.push(c);
            }
        }
        if usable.len() < 2 {
            return Ok(None);
        }
        let mut lo = 1usize;
        let mut hi = if usable.len() <= cap {
            usable.len() - 1
        } else {
            cap
        };
        let mut best = None;
        while lo <= hi {
            let mid = (lo + hi) / 2;
            self.multi_sims += 1;
            match self.compute(&usable[..=mid], true)? {
                Computed::Valid(d) if d.savings >= self.w.opts.min_savings_per_hour => {
                    best = Some(d);
                    lo = mid + 1;
                }
                _ => hi = mid - 1,
            }
        }
        if let Some(d) = &best {
            for &n in &d.candidates {
                let pool = self.w.nodes[n].node_pool.clone().unwrap_or_default();
                budget.take(&pool);
            }
        }
        Ok(best)
    }
}

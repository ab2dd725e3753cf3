//! Beyond upstream: a many-to-many repack (N candidates onto M < N new nodes).

use karpenter_scheduling::instancetype::SPOT;
use karpenter_scheduling::labels as l;

use crate::engine::{
    candidates::Cand,
    consolidation::{Computed, Decision},
    simulate::Sim,
    Engine,
};
use crate::plan::{money, Blocker, Method};
use crate::price::price_repack_claim;

impl<'a> Engine<'a> {
    /// Beyond upstream: N candidates onto M < N new nodes, accepted when the worst-case launch
    /// prices of the M together are below the candidates' prices by at least the minimum
    /// saving.
    pub(super) fn repack(
        &self,
        cands: &[&Cand],
        nodes: Vec<usize>,
        sim: Sim,
        total: f64,
    ) -> Computed {
        let all_spot = cands
            .iter()
            .all(|c| self.w.nodes[c.node].label(l::CAPACITY_TYPE) == Some(SPOT));
        let mut replacements = Vec::new();
        let mut worst = 0.0;
        for c in &sim.claims {
            let claim = self.w.replacement_claim(c);
            let (claim, bound) =
                match price_repack_claim(claim, all_spot, self.w.opts.spot_to_spot_consolidation) {
                    Ok(x) => x,
                    Err(e) => return Computed::Invalid(Blocker::NoCheaperPlacement, e.to_string()),
                };
            let Some(r) = self.w.replacement(&claim, &c.node_pool, &c.requests) else {
                return Computed::Invalid(
                    Blocker::NoCheaperPlacement,
                    "no available offering for a replacement".into(),
                );
            };
            worst += bound;
            replacements.push(r);
        }
        if worst >= total - self.w.opts.min_savings_per_hour.max(0.0) {
            return Computed::Invalid(
                Blocker::NoCheaperPlacement,
                format!(
                    "repacking onto {} nodes would cost up to {} against {}",
                    replacements.len(),
                    money(worst),
                    money(total)
                ),
            );
        }
        let new: f64 = replacements.iter().map(|r| r.price_per_hour).sum();
        Computed::Valid(Decision {
            candidates: nodes,
            sim,
            replacements,
            savings: total - new,
            method: Method::Repack,
        })
    }
}

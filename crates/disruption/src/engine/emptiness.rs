//! Emptiness (upstream: `pkg/controllers/disruption/emptiness.go`).
use std::collections::{BTreeMap, BTreeSet};

use crate::budget::DisruptionReason;
use crate::engine::{
    candidates::{sort_by_savings_ratio, Cand},
    consolidation::Decision,
    list, replacement_text, Engine, Error,
};
use crate::plan::{money, Blocker, Method, Reason};
use crate::timing::Consolidatable;

impl<'a> Engine<'a> {
    /// `emptiness.go`: every empty consolidatable candidate within budget, in one command.
    pub(super) fn emptiness(
        &mut self,
        wave: u32,
        disrupting: &mut BTreeMap<String, usize>,
        exclude: &BTreeSet<usize>,
    ) -> Result<bool, Error> {
        let mut budget = self.w.mapping(DisruptionReason::Empty, disrupting);
        let mut cands: Vec<Cand> = self
            .w
            .candidates(exclude)
            .into_iter()
            .filter(|c| {
                let s = &self.w.input.pools[c.pool];
                c.empty
                    && !s.is_static
                    && c.pod_block.is_none()
                    && c.consolidatable == Consolidatable::Yes
            })
            .collect();
        sort_by_savings_ratio(&mut cands, &self.w);
        let mut chosen = Vec::new();
        for c in &cands {
            let pool = self.w.pool_name(c).to_string();
            if budget.take(&pool) {
                chosen.push(c.clone());
            } else {
                let why = budget.explain_blocked(&pool, Some(&self.w.input.pools[c.pool].budgets));
                self.note(c.node, Blocker::Budget(DisruptionReason::Empty), why);
            }
        }
        if chosen.is_empty() {
            return Ok(false);
        }
        let nodes: Vec<usize> = chosen.iter().map(|c| c.node).collect();
        let sim = self.w.simulate(&nodes, false)?;
        let replacements = self.replacements_of(&sim);
        let total: f64 = chosen.iter().map(|c| c.price).sum();
        let new: f64 = replacements.iter().map(|r| r.price_per_hour).sum();
        for c in &chosen {
            *disrupting
                .entry(self.w.pool_name(c).to_string())
                .or_default() += 1;
        }
        let mut text = format!(
            "{} {} no pod that would need rescheduling (DaemonSet and static pods do not count) and {} been so for consolidateAfter; deleting saves {}",
            list(&nodes.iter().map(|&n| self.w.node_name(n)).collect::<Vec<_>>()),
            if nodes.len() == 1 { "has" } else { "have" },
            if nodes.len() == 1 { "has" } else { "have" },
            money(total - new)
        );
        text.push_str(&replacement_text(&replacements, "the provisioner launches"));
        let d = Decision {
            candidates: nodes,
            sim,
            replacements,
            savings: total - new,
            method: Method::Emptiness,
        };
        self.command(Reason::Empty, wave, d, text);
        Ok(true)
    }
}

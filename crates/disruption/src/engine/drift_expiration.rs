//! Forceful expiration (upstream: `pkg/controllers/nodeclaim/expiration/controller.go`) and
//! drift (`pkg/controllers/disruption/drift.go`).
use std::collections::{BTreeMap, BTreeSet};

use crate::budget::DisruptionReason;
use crate::engine::{
    candidates::Cand, consolidation::Decision, list, replacement_text, Engine, Error,
};
use crate::plan::{Blocker, Method, Reason};
use crate::timing::is_expired;

impl<'a> Engine<'a> {
    /// Forceful expiration: every expired NodeClaim, in wave 1. Returns the expired nodes per
    /// NodePool.
    pub(super) fn expiration(&mut self) -> Result<BTreeMap<String, usize>, Error> {
        let expired: Vec<usize> = self
            .w
            .live()
            .filter(|&n| {
                let node = &self.w.nodes[n];
                node.managed
                    && !node.marked_for_deletion
                    && is_expired(node.created, node.expire_after, self.w.now)
            })
            .collect();
        let mut per_pool: BTreeMap<String, usize> = BTreeMap::new();
        for &n in &expired {
            let node = &self.w.nodes[n];
            if node.node.initialized && node.ready {
                if let Some(p) = &node.node_pool {
                    *per_pool.entry(p.clone()).or_default() += 1;
                }
            }
        }
        if expired.is_empty() {
            return Ok(per_pool);
        }
        let sim = self.w.simulate(&expired, false)?;
        let replacements = self.replacements_of(&sim);
        let total: f64 = expired.iter().map(|&n| self.w.nodes[n].price).sum();
        let new: f64 = replacements.iter().map(|r| r.price_per_hour).sum();
        let mut text = format!(
            "{} reached expireAfter; expiration is forceful: the NodeClaim is deleted regardless of budgets, PDBs and do-not-disrupt",
            list(&expired.iter().map(|&n| self.w.node_name(n)).collect::<Vec<_>>())
        );
        let tgps: BTreeSet<String> = expired
            .iter()
            .filter_map(|&n| self.w.nodes[n].termination_grace_period)
            .map(|d| format!("{d:#}"))
            .collect();
        if !tgps.is_empty() {
            text.push_str(&format!(
                "; pods still blocked by a PDB or do-not-disrupt are removed after terminationGracePeriod ({})",
                tgps.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        text.push_str(&replacement_text(&replacements, "the provisioner launches"));
        if let Some(f) = &sim.failure {
            text.push_str(&format!("; warning: {f}"));
        }
        let d = Decision {
            candidates: expired,
            sim,
            replacements,
            savings: total - new,
            method: Method::Expiration,
        };
        self.command(Reason::Expired, 1, d, text);
        Ok(per_pool)
    }

    /// `drift.go`: drifted candidates, oldest drift first, empty ones first; each whose pods
    /// fit elsewhere becomes a command with the simulated replacements.
    pub(super) fn drift(
        &mut self,
        wave: u32,
        disrupting: &mut BTreeMap<String, usize>,
        exclude: &mut BTreeSet<usize>,
        one: bool,
    ) -> Result<bool, Error> {
        let mut budget = self.w.mapping(DisruptionReason::Drifted, disrupting);
        let mut cands: Vec<Cand> = self
            .w
            .candidates(exclude)
            .into_iter()
            .filter(|c| {
                self.w.nodes[c.node].drift.is_some() && !self.w.input.pools[c.pool].is_static
            })
            .collect();
        // Drift is eventual: with a terminationGracePeriod the pod checks do not apply.
        cands.retain(|c| match &c.pod_block {
            Some(b) if self.w.nodes[c.node].termination_grace_period.is_none() => {
                let why = self.pod_block_text(c.node, b);
                self.why.insert(c.node, (b.clone(), why));
                false
            }
            _ => true,
        });
        cands.sort_by(|a, b| {
            let (da, db) = (
                self.w.nodes[a.node].drift.as_ref().expect("drifted"),
                self.w.nodes[b.node].drift.as_ref().expect("drifted"),
            );
            let ea = self.w.nodes[a.node].pods.iter().any(|p| p.reschedulable);
            let eb = self.w.nodes[b.node].pods.iter().any(|p| p.reschedulable);
            ea.cmp(&eb)
                .then(da.since.cmp(&db.since))
                .then_with(|| self.w.nodes[a.node].name().cmp(self.w.nodes[b.node].name()))
        });
        let mut acted = false;
        for c in cands {
            if self.wave_closed {
                break;
            }
            if exclude.contains(&c.node) || self.w.gone[c.node] {
                continue;
            }
            let pool = self.w.pool_name(&c).to_string();
            if budget.remaining(&pool) == 0 {
                let why = budget.explain_blocked(&pool, Some(&self.w.input.pools[c.pool].budgets));
                self.note(c.node, Blocker::Budget(DisruptionReason::Drifted), why);
                continue;
            }
            let sim = self.w.simulate(&[c.node], false)?;
            let d = self.w.nodes[c.node].drift.clone().expect("drifted");
            if let Some(f) = &sim.failure {
                let why = format!("drifted ({}) but {f}", d.reason.as_str());
                self.note(c.node, Blocker::PodsDoNotFit, why);
                continue;
            }
            budget.take(&pool);
            *disrupting.entry(pool).or_default() += 1;
            let replacements = self.replacements_of(&sim);
            let new: f64 = replacements.iter().map(|r| r.price_per_hour).sum();
            let mut text = format!(
                "{} drifted ({}: {})",
                self.w.node_name(c.node),
                d.reason.as_str(),
                d.detail
            );
            text.push_str(&replacement_text(&replacements, "replaced by"));
            if replacements.is_empty() {
                text.push_str("; its pods fit on the remaining nodes");
            }
            for (n, _) in &sim.placed {
                exclude.insert(*n);
            }
            let dec = Decision {
                candidates: vec![c.node],
                sim,
                replacements,
                savings: c.price - new,
                method: Method::Drift,
            };
            self.command(Reason::Drifted, wave, dec, text);
            acted = true;
            if one {
                break;
            }
        }
        Ok(acted)
    }
}

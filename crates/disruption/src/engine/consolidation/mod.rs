//! Consolidation (upstream: `pkg/controllers/disruption/consolidation.go`,
//! `computeConsolidation`): one pass of multi-node then single-node consolidation.
mod multi;
mod repack;
mod single;

use std::collections::{BTreeMap, BTreeSet};

use crate::budget::DisruptionReason;
use crate::engine::{
    candidates::{sort_by_savings_ratio, Cand},
    list, replacement_text,
    simulate::{Origin, Sim},
    Engine, Error,
};
use crate::input::Strategy;
use crate::plan::{money, Blocker, Method, Reason, Replacement};
use crate::price::{filter_out_same_instance_type, price_replacement, PricedCandidate};

/// Upstream's cap on multi-node consolidation candidates.
pub const MULTI_NODE_MAX_CANDIDATES: usize = 100;

/// A consolidation decision before it becomes a command.
pub(super) struct Decision {
    pub(super) candidates: Vec<usize>,
    pub(super) sim: Sim,
    pub(super) replacements: Vec<Replacement>,
    pub(super) savings: f64,
    pub(super) method: Method,
}

/// The outcome of `computeConsolidation` for a set of candidates.
pub(super) enum Computed {
    Valid(Decision),
    Invalid(Blocker, String),
}

impl<'a> Engine<'a> {
    /// `computeConsolidation`.
    pub(super) fn compute(&mut self, cands: &[&Cand], multi: bool) -> Result<Computed, Error> {
        let nodes: Vec<usize> = cands.iter().map(|c| c.node).collect();
        let sim = self.w.simulate(&nodes, true)?;
        if let Some(f) = sim.failure.clone() {
            return Ok(Computed::Invalid(Blocker::PodsDoNotFit, f));
        }
        let total: f64 = cands.iter().map(|c| c.price).sum();
        if sim.claims.is_empty() {
            return Ok(Computed::Valid(Decision {
                candidates: nodes,
                sim,
                replacements: Vec::new(),
                savings: total,
                method: if multi {
                    Method::MultiNodeConsolidation
                } else {
                    Method::SingleNodeConsolidation
                },
            }));
        }
        if sim.claims.len() > 1
            && multi
            && self.w.opts.strategy == Strategy::Default
            && sim.claims.len() < cands.len()
        {
            return Ok(self.repack(cands, nodes, sim, total));
        }
        if sim.claims.len() != 1 {
            return Ok(Computed::Invalid(
                Blocker::NoCheaperPlacement,
                format!(
                    "its pods would need {} new nodes (consolidation replaces with at most one)",
                    sim.claims.len()
                ),
            ));
        }
        let priced: Option<Vec<PricedCandidate<'a>>> =
            cands.iter().map(|c| self.w.priced(c)).collect();
        let Some(priced) = priced else {
            return Ok(Computed::Invalid(
                Blocker::Unpriceable,
                "its instance type is not in the catalog, so it cannot be priced".into(),
            ));
        };
        let claim = self.w.replacement_claim(&sim.claims[0]);
        let claim = match price_replacement(&priced, claim, self.w.opts.spot_to_spot_consolidation)
        {
            Ok(c) => c,
            Err(e) => {
                return Ok(Computed::Invalid(
                    Blocker::NoCheaperPlacement,
                    e.to_string(),
                ))
            }
        };
        let claim =
            if multi {
                match filter_out_same_instance_type(claim, &priced) {
                    Ok(c) if !c.types.is_empty() => c,
                    _ => return Ok(Computed::Invalid(
                        Blocker::NoCheaperPlacement,
                        "the only replacements are as dear as one of the nodes (deleting would do)"
                            .into(),
                    )),
                }
            } else {
                claim
            };
        let pool = sim.claims[0].node_pool.clone();
        let Some(r) = self.w.replacement(&claim, &pool, &sim.claims[0].requests) else {
            return Ok(Computed::Invalid(
                Blocker::NoCheaperPlacement,
                "no available offering for the replacement".into(),
            ));
        };
        let savings = total - r.price_per_hour;
        Ok(Computed::Valid(Decision {
            candidates: nodes,
            sim,
            replacements: vec![r],
            savings,
            method: if multi {
                Method::MultiNodeConsolidation
            } else {
                Method::SingleNodeConsolidation
            },
        }))
    }

    pub(super) fn consolidation_text(&self, d: &Decision) -> String {
        let names: Vec<String> = d.candidates.iter().map(|&n| self.w.node_name(n)).collect();
        let total: f64 = d.candidates.iter().map(|&n| self.w.nodes[n].price).sum();
        let pods = d
            .sim
            .origin
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Origin::Bound {
                        deleting: false,
                        ..
                    }
                )
            })
            .count();
        if d.replacements.is_empty() {
            format!(
                "the {pods} pod(s) of {} fit on the remaining nodes; deleting {} saves {}",
                list(&names),
                if names.len() == 1 { "it" } else { "them" },
                money(d.savings)
            )
        } else if d.replacements.len() > 1 {
            format!(
                "the {pods} pod(s) of {} ({} together) repack onto {} cheaper nodes{}; saves {}",
                list(&names),
                money(total),
                d.replacements.len(),
                replacement_text(&d.replacements, ""),
                money(d.savings)
            )
        } else {
            let r = &d.replacements[0];
            format!(
                "the {pods} pod(s) of {} ({} together) fit on one cheaper {} {} node ({}){}; saves {}",
                list(&names),
                money(total),
                r.capacity_type,
                r.instance_type,
                money(r.price_per_hour),
                if r.instance_types.len() > 1 {
                    format!(", launched from {} types", r.instance_types.len())
                } else {
                    String::new()
                },
                money(d.savings)
            )
        }
    }

    /// Consolidation within a wave; `one` stops after the first command (upstream).
    pub(super) fn consolidation(
        &mut self,
        wave: u32,
        disrupting: &mut BTreeMap<String, usize>,
        exclude: &mut BTreeSet<usize>,
        one: bool,
    ) -> Result<bool, Error> {
        let mut acted = false;
        loop {
            if self.wave_closed {
                break;
            }
            let mut budget = self.w.mapping(DisruptionReason::Underutilized, disrupting);
            let mut cands = self.consolidation_candidates(exclude);
            if cands.is_empty() {
                break;
            }
            sort_by_savings_ratio(&mut cands, &self.w);
            let cap = if one {
                MULTI_NODE_MAX_CANDIDATES
            } else {
                usize::MAX
            };
            let mut d = self.multi_node(&cands, &mut budget, cap)?;
            if d.is_none() {
                d = self.single_node(&cands, &mut budget)?;
            }
            let Some(d) = d else { break };
            for &n in &d.candidates {
                let pool = self.w.nodes[n].node_pool.clone().unwrap_or_default();
                *disrupting.entry(pool).or_default() += 1;
            }
            for (n, _) in &d.sim.placed {
                exclude.insert(*n);
            }
            let text = self.consolidation_text(&d);
            self.command(Reason::Underutilized, wave, d, text);
            acted = true;
            if one {
                break;
            }
        }
        Ok(acted)
    }
}

//! Re-validation of a command against fresh state (upstream:
//! `pkg/controllers/disruption/validation.go`), without the 15 s wait.
use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{candidates::Cand, round6, world::World, Engine, Error};
use crate::input::{DisruptionInput, Options};
use crate::plan::{Command, Reason};
use crate::timing::Consolidatable;

/// Why a command no longer holds (upstream's `validation.go` errors).
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// Candidates are no longer candidates (pod churn, deletion, a new blocker).
    #[error("{0} candidate(s) are no longer valid")]
    Churn(usize),
    /// A candidate was nominated or the budget no longer allows it.
    #[error("{0}")]
    Budget(String),
    /// The pods no longer fit as planned.
    #[error("{0}")]
    Scheduling(String),
    /// The simulation now gives a different decision.
    #[error("{0}")]
    Changed(String),
    /// The simulation failed.
    #[error(transparent)]
    Engine(#[from] Error),
}

/// Re-validate `cmd` against the current cluster (`input`), as upstream's 15 s re-check does,
/// without waiting: the caller runs it on fresh state just before executing the command.
/// Emptiness keeps the candidates still empty and within budget (failing only when none is
/// left); consolidation needs every candidate still eligible and within budget, and a
/// re-simulation giving a delete again, or one replacement whose instance types include the
/// command's. Drift and expiration are not re-validated (neither is upstream's drift).
pub fn validate(
    input: &DisruptionInput,
    cmd: &Command,
    opts: &Options,
) -> Result<Command, ValidationError> {
    if matches!(cmd.reason, Reason::Drifted | Reason::Expired) {
        return Ok(cmd.clone());
    }
    let mut e = Engine {
        w: World::new(input, opts),
        commands: Vec::new(),
        why: BTreeMap::new(),
        passes: 0,
        multi_sims: 0,
        single_sims: 0,
        single_failures: BTreeMap::new(),
        failures_stable: false,
        wave_closed: false,
    };
    let exclude = BTreeSet::new();
    let eligible: Vec<Cand> = if cmd.reason == Reason::Empty {
        e.w.candidates(&exclude)
            .into_iter()
            .filter(|c| {
                c.empty
                    && c.pod_block.is_none()
                    && !input.pools[c.pool].is_static
                    && c.consolidatable == Consolidatable::Yes
            })
            .collect()
    } else {
        e.consolidation_candidates(&exclude)
    };
    let by_name: BTreeMap<&str, &Cand> = eligible
        .iter()
        .map(|c| (input.nodes[c.node].name(), c))
        .collect();
    let still: Vec<&Cand> = cmd
        .candidates
        .iter()
        .filter_map(|n| by_name.get(n.as_str()).copied())
        .collect();
    let reason = cmd
        .reason
        .budget_reason()
        .expect("graceful reasons have budgets");
    let mut budget = e.w.mapping(reason, &BTreeMap::new());
    if cmd.reason == Reason::Empty {
        if still.is_empty() {
            return Err(ValidationError::Churn(cmd.candidates.len()));
        }
        let kept: Vec<&Cand> = still
            .into_iter()
            .filter(|c| budget.take(&input.pools[c.pool].name))
            .collect();
        if kept.is_empty() {
            return Err(ValidationError::Budget(format!(
                "{} candidate(s) would now violate the disruption budgets",
                cmd.candidates.len()
            )));
        }
        let mut out = cmd.clone();
        let names: BTreeSet<&str> = kept.iter().map(|c| input.nodes[c.node].name()).collect();
        let keep: Vec<bool> = out
            .candidates
            .iter()
            .map(|n| names.contains(n.as_str()))
            .collect();
        let mut i = 0;
        out.candidates.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let mut i = 0;
        out.node_pools.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let removed: f64 = cmd
            .candidates
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .filter_map(|(n, _)| input.nodes.iter().find(|x| x.name() == n.as_str()))
            .map(|x| x.price)
            .sum();
        out.savings_per_hour = round6(out.savings_per_hour - removed);
        return Ok(out);
    }
    if still.len() != cmd.candidates.len() {
        return Err(ValidationError::Churn(cmd.candidates.len() - still.len()));
    }
    for c in &still {
        if !budget.take(&input.pools[c.pool].name) {
            return Err(ValidationError::Budget(
                "a candidate can no longer be disrupted without violating budgets".into(),
            ));
        }
    }
    let nodes: Vec<usize> = still.iter().map(|c| c.node).collect();
    let sim = e.w.simulate(&nodes, true)?;
    if let Some(f) = sim.failure {
        return Err(ValidationError::Scheduling(f));
    }
    match (sim.claims.len(), cmd.replacements.len()) {
        (0, 0) => Ok(cmd.clone()),
        (0, _) => Err(ValidationError::Changed(
            "the pods now fit without the replacement: a delete would do".into(),
        )),
        (1, 1) => {
            let now: BTreeSet<&str> = sim.claims[0]
                .instance_types
                .iter()
                .map(String::as_str)
                .collect();
            let missing: Vec<&String> = cmd.replacements[0]
                .instance_types
                .iter()
                .filter(|t| !now.contains(t.as_str()))
                .collect();
            if missing.is_empty() {
                Ok(cmd.clone())
            } else {
                Err(ValidationError::Changed(format!(
                    "the replacement can no longer be {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
        (n, _) => Err(ValidationError::Changed(format!(
            "the pods would now need {n} new nodes"
        ))),
    }
}

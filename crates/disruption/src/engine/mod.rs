//! The disruption engine: from the cluster at `now` to the whole plan, wave by wave, until
//! nothing is left to do.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/controllers/disruption/controller.go` (methods in
//! order, the first that acts ends the pass), `helpers.go` (`SimulateScheduling`,
//! `GetCandidates`, `BuildDisruptionBudgetMapping`), `types.go` (`NewCandidate`),
//! `emptiness.go`, `drift.go`, `consolidation.go` (`computeConsolidation`),
//! `multinodeconsolidation.go` (binary search over at most 100 candidates),
//! `singlenodeconsolidation.go` (NodePools interleaved), and
//! `pkg/controllers/nodeclaim/expiration/controller.go` (forceful expiration).
//!
//! A *wave* is what upstream starts together: with [`Strategy::Karpenter`] one controller pass
//! (one command; emptiness puts every empty node it may into one command), with
//! [`Strategy::Default`] every method acts as far as the budgets allow, consolidation issues as
//! many commands as the budgets and the cluster allow (destinations of one command are not
//! candidates of the next in the same wave; replacements stay uninitialized until the wave
//! ends), multi-node consolidation searches every budget-allowed candidate (not only 100), and a
//! multi-node move may land on several new nodes (a many-to-many repack) when that is cheaper. A wave is applied to the
//! modelled cluster (candidates gone, pods where the simulation put them, replacements
//! initialized) before the next is computed, so each wave is valid on its own and the budgets
//! are checked per wave. Expiration is forceful: all expired nodes go in wave 1, regardless of
//! budgets, PDBs and do-not-disrupt; the pods they shed are placed as the provisioner would.
//!
//! Simplifications (documented, tested where they matter): a node's `Consolidatable` state is
//! evaluated once at `now` (nodes receiving pods in the plan are not delayed by a new pod event);
//! replacement nodes are treated as past their `consolidateAfter` from the wave after their
//! launch (waves are taken to be at least that far apart).
use std::collections::{BTreeMap, BTreeSet};

use crate::engine::world::World;
use crate::input::{DisruptionInput, Options, Strategy};
use crate::plan::{money, Blocker, Command, Plan, Reason, Replacement, Unchosen};

mod apply;
mod candidates;
mod consolidation;
mod drift_expiration;
mod emptiness;
mod simulate;
mod validate;
mod world;

pub use consolidation::MULTI_NODE_MAX_CANDIDATES;
pub use validate::{validate, ValidationError};

/// Errors from the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scheduling core refused the problem (an invalid NodePool).
    #[error("scheduling simulation: {0}")]
    Scheduling(#[from] karpenter_scheduling::Error),
}

struct Engine<'a> {
    w: World<'a>,
    commands: Vec<Command>,
    /// Why a node that was looked at was not chosen (latest reason wins).
    why: BTreeMap<usize, (Blocker, String)>,
    /// Upstream passes (loops) needed.
    pub passes: usize,
    multi_sims: usize,
    single_sims: usize,
    /// Single-node consolidations found impossible, while nothing could have made them
    /// possible: without topology or affinity terms anywhere, a delete-only command only takes
    /// room away, so a failure stands until a command launches a node.
    single_failures: BTreeMap<usize, (Blocker, String)>,
    /// Whether [`Self::single_failures`] may be used at all.
    failures_stable: bool,
    /// A command of this wave moved a pod with spread or (anti-)affinity terms: later commands
    /// wait for the next wave. Run together, a later command could move the pods those terms
    /// select while the first command's pods are still pending (found by `plans_are_safe`: a
    /// pod needing a web pod in its zone, and that web pod's node replaced in another zone).
    wave_closed: bool,
}

impl<'a> Engine<'a> {
    /// A pod blocker, mentioning drift when the node is drifted.
    fn pod_block_text(&self, n: usize, b: &Blocker) -> String {
        match &self.w.nodes[n].drift {
            Some(d) => format!(
                "drifted ({}: {}) but {} (set terminationGracePeriod on the NodePool to bound how long this may block)",
                d.reason.as_str(),
                d.detail,
                blocker_text(b)
            ),
            None => blocker_text(b),
        }
    }

    fn note(&mut self, n: usize, b: Blocker, why: String) {
        self.why.insert(n, (b, why));
    }

    /// The nodes never chosen, with the last reason seen (or a fresh look).
    fn unchosen(&mut self) -> Vec<Unchosen> {
        let disrupted: BTreeSet<&str> = self
            .commands
            .iter()
            .flat_map(|c| c.candidates.iter().map(String::as_str))
            .collect();
        let mut out = Vec::new();
        for n in 0..self.w.input.nodes.len() {
            let name = self.w.input.nodes[n].name();
            if disrupted.contains(name) {
                continue;
            }
            let (blocker, reason) = match self.why.get(&n) {
                Some((b, w)) => (b.clone(), w.clone()),
                None => match self.w.candidate(n) {
                    Err(b) => (b.clone(), blocker_text(&b)),
                    Ok(c) => match &c.pod_block {
                        Some(b) => (b.clone(), self.pod_block_text(n, b)),
                        None => (
                            Blocker::Needed,
                            "no cheaper placement: its pods need it as it is".to_string(),
                        ),
                    },
                },
            };
            out.push(Unchosen {
                node: name.to_string(),
                reason,
                blocker,
            });
        }
        out
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn list(names: &[String]) -> String {
    match names {
        [] => "no node".into(),
        [one] => format!("node {one}"),
        many if many.len() <= 6 => format!("nodes {}", many.join(", ")),
        many => format!("nodes {} and {} more", many[..5].join(", "), many.len() - 5),
    }
}

fn replacement_text(rs: &[Replacement], verb: &str) -> String {
    if rs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = rs
        .iter()
        .map(|r| {
            format!(
                "{} {} ({})",
                r.capacity_type,
                r.instance_type,
                money(r.price_per_hour)
            )
        })
        .collect();
    format!("; {verb} {}", parts.join(", "))
}

/// A sentence for a blocker without more context.
pub fn blocker_text(b: &Blocker) -> String {
    match b {
        Blocker::NotManaged => "not managed by Karpenter (no NodePool label or NodeClaim)".into(),
        Blocker::NodePoolNotFound => "its NodePool is not in the input".into(),
        Blocker::NotInitialized => "not initialized yet".into(),
        Blocker::Deleting => "already being deleted or disrupted".into(),
        Blocker::Nominated => "nominated for pending pods".into(),
        Blocker::DoNotDisruptNode => "the node is annotated karpenter.sh/do-not-disrupt".into(),
        Blocker::DoNotDisruptPod(p) => {
            format!("pod {p} is annotated karpenter.sh/do-not-disrupt")
        }
        Blocker::Pdb(p) => format!("PodDisruptionBudget {p} allows no eviction now"),
        Blocker::Budget(r) => format!("the NodePool's disruption budget for {r} is used up"),
        Blocker::ConsolidateAfter => "consolidateAfter has not elapsed".into(),
        Blocker::ConsolidationDisabled => "consolidateAfter is Never".into(),
        Blocker::WhenEmptyPolicy => {
            "consolidationPolicy WhenEmpty and the node is not empty".into()
        }
        Blocker::StaticNodePool => "its NodePool is static".into(),
        Blocker::Unpriceable => "it cannot be priced".into(),
        Blocker::PodsDoNotFit => "its pods do not fit elsewhere".into(),
        Blocker::NoCheaperPlacement => "no cheaper placement for its pods".into(),
        Blocker::Needed => "no cheaper placement: its pods need it as it is".into(),
    }
}

/// What the engine reports besides the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Upstream controller passes that issued a command (Karpenter mode: one per wave).
    pub passes: usize,
    /// Scheduling simulations run.
    pub simulations: usize,
    /// Of those, in multi-node consolidation's search.
    pub multi_node_simulations: usize,
    /// Of those, in single-node consolidation.
    pub single_node_simulations: usize,
    /// Upstream sleeps 15 s to re-validate every emptiness and consolidation command before
    /// starting it, blocking its loop: the plan's commands of those kinds × 15 s, a lower bound
    /// on upstream's wall time (drains and launches come on top).
    pub validation_wait_seconds: u64,
    /// With the default strategy: upstream's plan was kept, being cheaper.
    pub upstream_plan: bool,
}

/// Compute the whole plan.
///
/// With [`Strategy::Default`] upstream's plan is computed too, and kept instead when it ends
/// cheaper: the default strategy's wider search is greedy and not always better, and it must
/// never cost more than upstream would ([`Stats::upstream_plan`] says which was kept).
pub fn plan(input: &DisruptionInput, opts: &Options) -> Result<(Plan, Stats), Error> {
    plan_impl(input, opts, true)
}

/// [`plan`] without the simulation shortcuts (full nodes left out, the first-fit prefix): the
/// reference the shortcuts must agree with.
#[cfg(test)]
pub(crate) fn plan_without_shortcuts(
    input: &DisruptionInput,
    opts: &Options,
) -> Result<(Plan, Stats), Error> {
    plan_impl(input, opts, false)
}

fn plan_impl(
    input: &DisruptionInput,
    opts: &Options,
    shortcuts: bool,
) -> Result<(Plan, Stats), Error> {
    let plan_with = |input, opts| plan_with(input, opts, shortcuts);
    if opts.strategy != Strategy::Default {
        return plan_with(input, opts);
    }
    let upstream = Options {
        strategy: Strategy::Karpenter,
        ..opts.clone()
    };
    // The two plans are independent: upstream's runs on a second core.
    let (ours, theirs) = std::thread::scope(|scope| {
        let theirs = scope.spawn(|| plan_with(input, &upstream));
        let ours = plan_with(input, opts);
        let theirs = theirs
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (ours, theirs)
    });
    let (plan, stats) = ours?;
    let (k, ks) = theirs?;
    let simulations = stats.simulations + ks.simulations;
    if k.price_per_hour_after < plan.price_per_hour_after - 1e-9 {
        Ok((
            k,
            Stats {
                simulations,
                upstream_plan: true,
                ..ks
            },
        ))
    } else {
        Ok((
            plan,
            Stats {
                simulations,
                ..stats
            },
        ))
    }
}

fn plan_with(
    input: &DisruptionInput,
    opts: &Options,
    shortcuts: bool,
) -> Result<(Plan, Stats), Error> {
    let before: f64 = input.nodes.iter().map(|n| n.price).sum();
    let mut e = Engine {
        w: World {
            shortcuts,
            ..World::new(input, opts)
        },
        commands: Vec::new(),
        why: BTreeMap::new(),
        passes: 0,
        multi_sims: 0,
        single_sims: 0,
        single_failures: BTreeMap::new(),
        failures_stable: false,
        wave_closed: false,
    };
    let constrained = world::constrained;
    e.failures_stable = !input.pending_pods.iter().any(constrained)
        && !input
            .nodes
            .iter()
            .any(|n| n.pods.iter().any(|p| constrained(&p.pod)));
    // Expired nodes are deleted in wave 1 and count as disrupting in that wave's budgets.
    let mut expired_disrupting = e.expiration()?;
    let karpenter = opts.strategy == Strategy::Karpenter;
    let mut wave = 1;
    while wave <= opts.max_waves {
        let mut disrupting: BTreeMap<String, usize> = std::mem::take(&mut expired_disrupting);
        let mut exclude: BTreeSet<usize> = BTreeSet::new();
        let acted = if karpenter {
            e.emptiness(wave, &mut disrupting, &exclude)?
                || e.drift(wave, &mut disrupting, &mut exclude, true)?
                || e.consolidation(wave, &mut disrupting, &mut exclude, true)?
        } else {
            let a = e.emptiness(wave, &mut disrupting, &exclude)?;
            let b = e.drift(wave, &mut disrupting, &mut exclude, false)?;
            let c = e.consolidation(wave, &mut disrupting, &mut exclude, false)?;
            a || b || c
        };
        if !e.w.launching.is_empty() {
            // Replacements come up: room that was not there before.
            e.single_failures.clear();
        }
        e.w.finish_wave();
        e.wave_closed = false;
        if !acted {
            break;
        }
        e.passes += 1;
        wave += 1;
    }
    let unchosen = e.unchosen();
    // Nodes already being deleted are gone once the plan has run, whatever it does.
    let after: f64 =
        e.w.live()
            .filter(|&n| !e.w.nodes[n].marked_for_deletion)
            .map(|n| e.w.nodes[n].price)
            .sum();
    let stats = Stats {
        passes: e.passes,
        simulations: e.w.simulations,
        multi_node_simulations: e.multi_sims,
        single_node_simulations: e.single_sims,
        validation_wait_seconds: 15
            * e.commands
                .iter()
                .filter(|c| matches!(c.reason, Reason::Empty | Reason::Underutilized))
                .count() as u64,
        upstream_plan: false,
    };
    Ok((
        Plan {
            commands: e.commands,
            unchosen,
            price_per_hour_before: round6(before),
            price_per_hour_after: round6(after),
        },
        stats,
    ))
}

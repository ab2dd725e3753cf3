//! Disruption budgets: how many of a NodePool's nodes may be disrupted at once, per reason.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/apis/v1/nodepool.go` (`Budget.IsActive`,
//! `Budget.GetAllowedDisruptions`, `NodePool.GetAllowedDisruptionsByReason`,
//! `MustGetAllowedDisruptions`) and `pkg/controllers/disruption/helpers.go`
//! (`BuildDisruptionBudgetMapping`).
//!
//! - `spec.disruption.budgets` absent means `[{nodes: "10%"}]`; a budget without `nodes` means
//!   `10%`; an empty list means no limit.
//! - A budget without `schedule`/`duration` is always active. A scheduled one is active when the
//!   schedule's next hit after `now − duration` is not after `now` (cron in UTC).
//! - `nodes` is a count or a percentage of the pool's counted nodes, rounded **up**.
//! - For a reason, the allowance is the minimum over the active budgets that list the reason or
//!   list none. Any invalid budget of the pool (bad schedule, duration or nodes on an active
//!   budget) fails closed: nothing may be disrupted in that pool, for any reason.
//! - The per-pool mapping subtracts the nodes already disrupting (NotReady or marked for
//!   deletion), floored at 0. Counted nodes are the pool's managed, initialized nodes whose
//!   NodeClaim is not `InstanceTerminating`.
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::jiff::Timestamp;
use karpenter_api::sh::v1;
use serde::Serialize;

use crate::cron::{CronError, Schedule};

/// Upstream's "unbounded" (`math.MaxInt32`).
pub const UNBOUNDED: usize = i32::MAX as usize;

/// A disruption reason, as budgets (and commands) name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum DisruptionReason {
    /// Consolidation of underutilized nodes.
    Underutilized,
    /// Deletion of empty nodes.
    Empty,
    /// Replacement of drifted nodes.
    Drifted,
}

impl DisruptionReason {
    /// Every reason, in upstream's method order.
    pub const ALL: [DisruptionReason; 3] = [
        DisruptionReason::Empty,
        DisruptionReason::Drifted,
        DisruptionReason::Underutilized,
    ];

    /// Upstream's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DisruptionReason::Underutilized => "Underutilized",
            DisruptionReason::Empty => "Empty",
            DisruptionReason::Drifted => "Drifted",
        }
    }

    /// Parse upstream's spelling (exact, as the CRD enum).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for DisruptionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `nodes` of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodesValue {
    /// A node count.
    Count(usize),
    /// A percentage of the pool's counted nodes, rounded up.
    Percent(usize),
}

impl NodesValue {
    /// Parse as `intstr.GetScaledValueFromIntOrPercent` accepts it: digits, or digits and `%`.
    pub fn parse(s: &str) -> Option<NodesValue> {
        let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        match s.strip_suffix('%') {
            Some(p) if digits(p) => p.parse().ok().map(NodesValue::Percent),
            None if digits(s) => s.parse().ok().map(NodesValue::Count),
            _ => None,
        }
    }

    /// The allowance for a pool of `num_nodes` counted nodes (percentages round up).
    pub fn scaled(self, num_nodes: usize) -> usize {
        match self {
            NodesValue::Count(n) => n.min(UNBOUNDED),
            NodesValue::Percent(p) => (p.saturating_mul(num_nodes)).div_ceil(100).min(UNBOUNDED),
        }
    }
}

impl fmt::Display for NodesValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodesValue::Count(n) => write!(f, "{n}"),
            NodesValue::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A budget field Karpenter cannot use. Upstream then allows no disruption in the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NodePool {pool:?}: spec.disruption.budgets[{index}].{field}: {problem}; until it is fixed Karpenter disrupts no node of this NodePool (budgets fail closed)")]
pub struct BudgetError {
    /// NodePool name.
    pub pool: String,
    /// Index in `spec.disruption.budgets`.
    pub index: usize,
    /// `nodes`, `schedule` or `duration`.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub problem: String,
}

/// One budget as written, parsed lazily in upstream's order (schedule first, `nodes` only when
/// active), so an invalid field errs exactly when upstream's would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Index in `spec.disruption.budgets`.
    pub index: usize,
    /// `nodes` (default `10%`).
    pub nodes: String,
    /// `schedule`.
    pub schedule: Option<String>,
    /// `duration`.
    pub duration: Option<String>,
    /// `reasons`; `None` means every reason. Unknown reason strings are kept out (the CRD enum
    /// refuses them), so they match nothing.
    pub reasons: Option<Vec<DisruptionReason>>,
}

/// What one budget allows at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetState {
    /// Not active now: imposes nothing.
    Inactive,
    /// Active: allows this many nodes.
    Allows(usize),
}

impl Budget {
    /// Whether the budget applies to `reason`.
    pub fn applies_to(&self, reason: DisruptionReason) -> bool {
        self.reasons.as_ref().is_none_or(|r| r.contains(&reason))
    }

    fn err(&self, pool: &str, field: &'static str, problem: String) -> BudgetError {
        BudgetError {
            pool: pool.to_string(),
            index: self.index,
            field,
            problem,
        }
    }

    /// `IsActive`: a budget without schedule and duration is always active; otherwise the
    /// schedule's next hit after `now − duration` must not be after `now`.
    pub fn is_active(&self, pool: &str, now: Timestamp) -> Result<bool, BudgetError> {
        if self.schedule.is_none() && self.duration.is_none() {
            return Ok(true);
        }
        let schedule = match &self.schedule {
            Some(s) => Schedule::parse(s),
            None => Err(CronError::Empty),
        }
        .map_err(|e| {
            self.err(
                pool,
                "schedule",
                format!("{e} (schedule and duration must be set together)"),
            )
        })?;
        let duration_ns = match &self.duration {
            None => 0,
            Some(d) => crd_schema::go_duration::parse(d.trim())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    self.err(
                        pool,
                        "duration",
                        format!("{d:?} is not a duration: use e.g. 8h, 30m or 1h30m"),
                    )
                })?,
        };
        let checkpoint_ns = now.as_nanosecond() - duration_ns;
        let checkpoint = Timestamp::from_nanosecond(checkpoint_ns).unwrap_or(Timestamp::MIN);
        // robfig returns the zero time (year 1) when nothing fires within five years: that is
        // never after `now`, so upstream treats such a budget as always active.
        Ok(schedule.next(checkpoint).is_none_or(|hit| hit <= now))
    }

    /// `GetAllowedDisruptions` for a pool of `num_nodes` counted nodes.
    pub fn state(
        &self,
        pool: &str,
        now: Timestamp,
        num_nodes: usize,
    ) -> Result<BudgetState, BudgetError> {
        if !self.is_active(pool, now)? {
            return Ok(BudgetState::Inactive);
        }
        let nodes = NodesValue::parse(&self.nodes).ok_or_else(|| {
            self.err(
                pool,
                "nodes",
                format!(
                    "{:?} is neither a node count nor a percentage: use e.g. \"5\" or \"10%\"",
                    self.nodes
                ),
            )
        })?;
        Ok(BudgetState::Allows(nodes.scaled(num_nodes)))
    }

    /// A short description for explanations: `nodes: 10%`, `nodes: 0 (schedule "0 9 * * *",
    /// duration 8h)`, with reasons when restricted.
    pub fn describe(&self) -> String {
        let mut s = format!("nodes: {}", self.nodes);
        if let Some(sc) = &self.schedule {
            s.push_str(&format!(", schedule {sc:?}"));
        }
        if let Some(d) = &self.duration {
            s.push_str(&format!(", duration {d}"));
        }
        if let Some(r) = &self.reasons {
            let names: Vec<&str> = r.iter().map(|r| r.as_str()).collect();
            s.push_str(&format!(", reasons [{}]", names.join(", ")));
        }
        s
    }
}

/// A NodePool's budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budgets {
    /// NodePool name.
    pub pool: String,
    /// The budgets, defaults applied.
    pub budgets: Vec<Budget>,
}

/// What a pool's budgets allow for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// Nodes that may be disrupting at once ([`UNBOUNDED`] when no active budget applies).
    pub allowed: usize,
    /// Index of the budget that set the minimum, if any.
    pub binding: Option<usize>,
    /// Budget errors; when non-empty `allowed` is 0 (fail closed).
    pub errors: Vec<BudgetError>,
}

impl Budgets {
    /// The budgets of a v1 NodePool, with the API server's defaults.
    pub fn from_nodepool(np: &v1::NodePool) -> Budgets {
        let name = np.metadata.name.clone().unwrap_or_default();
        let budgets = np
            .spec
            .disruption
            .as_ref()
            .and_then(|d| d.budgets.as_deref());
        Budgets::from_spec(&name, budgets)
    }

    /// From `spec.disruption.budgets` (`None` when absent: `[{nodes: "10%"}]`).
    pub fn from_spec(pool: &str, budgets: Option<&[v1::Budget]>) -> Budgets {
        let default = [v1::Budget {
            nodes: Some("10%".to_string()),
            ..Default::default()
        }];
        let budgets = budgets.unwrap_or(&default);
        Budgets {
            pool: pool.to_string(),
            budgets: budgets
                .iter()
                .enumerate()
                .map(|(index, b)| Budget {
                    index,
                    nodes: b.nodes.clone().unwrap_or_else(|| "10%".to_string()),
                    schedule: b.schedule.clone(),
                    duration: b.duration.clone(),
                    reasons: b.reasons.as_ref().map(|rs| {
                        rs.iter()
                            .filter_map(|r| DisruptionReason::parse(r))
                            .collect()
                    }),
                })
                .collect(),
        }
    }

    /// `GetAllowedDisruptionsByReason` + `MustGetAllowedDisruptions`: the minimum over the
    /// active budgets for `reason`; 0 if any budget errs.
    pub fn allowed(&self, now: Timestamp, num_nodes: usize, reason: DisruptionReason) -> Allowance {
        let mut out = Allowance {
            allowed: UNBOUNDED,
            binding: None,
            errors: Vec::new(),
        };
        for b in &self.budgets {
            let val = match b.state(&self.pool, now, num_nodes) {
                Ok(BudgetState::Inactive) => UNBOUNDED,
                Ok(BudgetState::Allows(n)) => n,
                Err(e) => {
                    out.errors.push(e);
                    0
                }
            };
            if b.applies_to(reason) && val < out.allowed {
                out.allowed = val;
                out.binding = Some(b.index);
            }
        }
        if !out.errors.is_empty() {
            out.allowed = 0;
        }
        out
    }

    /// Every budget error, evaluated at `now` (what upstream logs as "invalid disruption
    /// budgets").
    pub fn errors(&self, now: Timestamp) -> Vec<BudgetError> {
        self.budgets
            .iter()
            .filter_map(|b| b.state(&self.pool, now, 100).err())
            .collect()
    }
}

/// A pool's node counts for budgets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Managed, initialized nodes whose NodeClaim is not `InstanceTerminating`.
    pub nodes: usize,
    /// Of those, the ones NotReady or marked for deletion.
    pub disrupting: usize,
}

/// One pool's entry of the budget mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolBudget {
    /// What the budgets allow in total.
    pub allowance: Allowance,
    /// Counted nodes.
    pub counts: PoolCounts,
    /// Still available: `allowed − disrupting`, floored at 0, minus what has been taken.
    pub remaining: usize,
}

/// `BuildDisruptionBudgetMapping` for one reason: NodePool name → remaining disruptions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BudgetMapping {
    /// The reason.
    pub reason: Option<DisruptionReason>,
    /// Per pool.
    pub pools: BTreeMap<String, PoolBudget>,
}

impl BudgetMapping {
    /// Build the mapping for `reason` over `pools` at `now`.
    pub fn build<'a>(
        pools: impl IntoIterator<Item = &'a Budgets>,
        counts: &BTreeMap<String, PoolCounts>,
        now: Timestamp,
        reason: DisruptionReason,
    ) -> BudgetMapping {
        let pools = pools
            .into_iter()
            .map(|b| {
                let c = counts.get(&b.pool).copied().unwrap_or_default();
                let allowance = b.allowed(now, c.nodes, reason);
                let remaining = allowance.allowed.saturating_sub(c.disrupting);
                (
                    b.pool.clone(),
                    PoolBudget {
                        allowance,
                        counts: c,
                        remaining,
                    },
                )
            })
            .collect();
        BudgetMapping {
            reason: Some(reason),
            pools,
        }
    }

    /// Disruptions still allowed in `pool` (0 for an unknown pool, as upstream's map lookup).
    pub fn remaining(&self, pool: &str) -> usize {
        self.pools.get(pool).map_or(0, |p| p.remaining)
    }

    /// Take one disruption from `pool`; false (and nothing taken) when none is left.
    pub fn take(&mut self, pool: &str) -> bool {
        match self.pools.get_mut(pool) {
            Some(p) if p.remaining > 0 => {
                p.remaining -= 1;
                true
            }
            _ => false,
        }
    }

    /// Why `pool` allows no (further) disruption, for an unchosen node's explanation.
    pub fn explain_blocked(&self, pool: &str, budgets: Option<&Budgets>) -> String {
        let reason = self.reason.map_or("this reason", DisruptionReason::as_str);
        let Some(p) = self.pools.get(pool) else {
            return format!("NodePool {pool:?} is unknown, so no {reason} disruption is allowed");
        };
        if let Some(e) = p.allowance.errors.first() {
            return e.to_string();
        }
        let which = p
            .allowance
            .binding
            .and_then(|i| budgets.and_then(|b| b.budgets.get(i)))
            .map(|b| format!(" (budget #{} {{{}}})", b.index, b.describe()))
            .unwrap_or_default();
        let taken = p
            .allowance
            .allowed
            .saturating_sub(p.counts.disrupting)
            .saturating_sub(p.remaining);
        format!(
            "NodePool {pool:?}'s disruption budget for {reason} allows {} of its {} node(s) at once{which}; {} already disrupting, {} taken by earlier commands",
            p.allowance.allowed, p.counts.nodes, p.counts.disrupting, taken
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn budget(
        nodes: &str,
        schedule: Option<&str>,
        duration: Option<&str>,
        reasons: Option<&[&str]>,
    ) -> v1::Budget {
        v1::Budget {
            nodes: Some(nodes.to_string()),
            schedule: schedule.map(str::to_string),
            duration: duration.map(str::to_string),
            reasons: reasons.map(|r| r.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn allowed(budgets: &[v1::Budget], now: &str, n: usize, reason: DisruptionReason) -> usize {
        Budgets::from_spec("p", Some(budgets))
            .allowed(ts(now), n, reason)
            .allowed
    }

    const NOW: &str = "2026-01-05T10:00:00Z"; // a Monday

    #[test]
    fn default_is_ten_percent_rounded_up() {
        let b = Budgets::from_spec("p", None);
        assert_eq!(b.allowed(ts(NOW), 10, DisruptionReason::Empty).allowed, 1);
        // 10% of 11 = 1.1 → 2 (upstream rounds up, as PDB maxUnavailable does).
        assert_eq!(b.allowed(ts(NOW), 11, DisruptionReason::Drifted).allowed, 2);
        // 10% of 1 → 1, of 0 → 0.
        assert_eq!(b.allowed(ts(NOW), 1, DisruptionReason::Empty).allowed, 1);
        assert_eq!(b.allowed(ts(NOW), 0, DisruptionReason::Empty).allowed, 0);
        // A budget without `nodes` is 10% too.
        let b = Budgets::from_spec("p", Some(&[v1::Budget::default()]));
        assert_eq!(b.allowed(ts(NOW), 25, DisruptionReason::Empty).allowed, 3);
    }

    #[test]
    fn count_and_percent_forms() {
        assert_eq!(
            allowed(
                &[budget("3", None, None, None)],
                NOW,
                100,
                DisruptionReason::Empty
            ),
            3
        );
        assert_eq!(
            allowed(
                &[budget("0", None, None, None)],
                NOW,
                100,
                DisruptionReason::Empty
            ),
            0
        );
        assert_eq!(
            allowed(
                &[budget("5%", None, None, None)],
                NOW,
                10,
                DisruptionReason::Empty
            ),
            1
        );
        assert_eq!(
            allowed(
                &[budget("50%", None, None, None)],
                NOW,
                7,
                DisruptionReason::Empty
            ),
            4
        );
        assert_eq!(
            allowed(
                &[budget("100%", None, None, None)],
                NOW,
                7,
                DisruptionReason::Empty
            ),
            7
        );
        assert_eq!(
            allowed(
                &[budget("0%", None, None, None)],
                NOW,
                7,
                DisruptionReason::Empty
            ),
            0
        );
        // An empty list imposes nothing.
        assert_eq!(allowed(&[], NOW, 7, DisruptionReason::Empty), UNBOUNDED);
    }

    #[test]
    fn several_budgets_take_the_most_restrictive() {
        let bs = [
            budget("50%", None, None, None),
            budget("2", None, None, None),
            budget("30%", None, None, None),
        ];
        assert_eq!(allowed(&bs, NOW, 20, DisruptionReason::Underutilized), 2);
        assert_eq!(allowed(&bs, NOW, 4, DisruptionReason::Underutilized), 2);
        // 30% of 5 = 1.5 → 2; 50% of 5 → 3; min(3, 2, 2) = 2.
        assert_eq!(allowed(&bs, NOW, 5, DisruptionReason::Underutilized), 2);
        assert_eq!(allowed(&bs, NOW, 3, DisruptionReason::Underutilized), 1);
        let b = Budgets::from_spec("p", Some(&bs));
        assert_eq!(
            b.allowed(ts(NOW), 20, DisruptionReason::Empty).binding,
            Some(1)
        );
    }

    #[test]
    fn per_reason_budgets() {
        let bs = [
            budget("10", None, None, None),
            budget("0", None, None, Some(&["Underutilized"])),
            budget("1", None, None, Some(&["Drifted", "Empty"])),
        ];
        assert_eq!(allowed(&bs, NOW, 100, DisruptionReason::Underutilized), 0);
        assert_eq!(allowed(&bs, NOW, 100, DisruptionReason::Drifted), 1);
        assert_eq!(allowed(&bs, NOW, 100, DisruptionReason::Empty), 1);
        // A reason no budget lists is bounded only by the budgets without reasons.
        let bs = [budget("0", None, None, Some(&["Drifted"]))];
        assert_eq!(allowed(&bs, NOW, 100, DisruptionReason::Empty), UNBOUNDED);
    }

    #[test]
    fn schedule_windows_in_utc() {
        // Business hours Mon–Fri 09:00 for 8h: no consolidation then.
        let bs = [
            budget("10%", None, None, None),
            budget(
                "0",
                Some("0 9 * * mon-fri"),
                Some("8h"),
                Some(&["Underutilized"]),
            ),
        ];
        let u = DisruptionReason::Underutilized;
        assert_eq!(allowed(&bs, "2026-01-05T10:00:00Z", 10, u), 0);
        assert_eq!(
            allowed(&bs, "2026-01-05T09:00:00Z", 10, u),
            0,
            "the hit itself"
        );
        assert_eq!(allowed(&bs, "2026-01-05T16:59:59Z", 10, u), 0);
        assert_eq!(
            allowed(&bs, "2026-01-05T17:00:00Z", 10, u),
            1,
            "window closed"
        );
        assert_eq!(
            allowed(&bs, "2026-01-05T08:59:59Z", 10, u),
            1,
            "before the window"
        );
        // Saturday: no hit within the last 8 hours.
        assert_eq!(allowed(&bs, "2026-01-10T10:00:00Z", 10, u), 1);
        // Drift is not restricted by the reasoned budget.
        assert_eq!(
            allowed(&bs, "2026-01-05T10:00:00Z", 10, DisruptionReason::Drifted),
            1
        );
        // A window spanning midnight: 22:00 for 4h covers 01:30 the next day.
        let bs = [budget("0", Some("0 22 * * *"), Some("4h"), None)];
        assert_eq!(allowed(&bs, "2026-01-06T01:30:00Z", 10, u), 0);
        assert_eq!(allowed(&bs, "2026-01-06T02:00:01Z", 10, u), UNBOUNDED);
        // With `1h30m`.
        let bs = [budget("0", Some("@daily"), Some("1h30m"), None)];
        assert_eq!(allowed(&bs, "2026-01-06T01:29:00Z", 10, u), 0);
        assert_eq!(allowed(&bs, "2026-01-06T01:31:00Z", 10, u), UNBOUNDED);
    }

    #[test]
    fn invalid_budgets_fail_closed_for_every_reason() {
        let bs = [
            budget("10", None, None, None),
            budget("1", Some("not a cron"), Some("1h"), Some(&["Drifted"])),
        ];
        let b = Budgets::from_spec("pool-a", Some(&bs));
        let a = b.allowed(ts(NOW), 100, DisruptionReason::Empty);
        assert_eq!(a.allowed, 0);
        let msg = a.errors[0].to_string();
        assert!(
            msg.contains("pool-a") && msg.contains("budgets[1].schedule"),
            "{msg}"
        );
        assert_eq!(b.errors(ts(NOW)).len(), 1);
        // A duration without a schedule is invalid too.
        let bs = [budget("1", None, Some("1h"), None)];
        assert_eq!(allowed(&bs, NOW, 100, DisruptionReason::Empty), 0);
        // A bad `nodes` errs only while the budget is active (upstream parses it last).
        let bs = [budget("ten", Some("0 3 * * *"), Some("1h"), None)];
        assert_eq!(allowed(&bs, NOW, 100, DisruptionReason::Empty), UNBOUNDED);
        assert_eq!(
            allowed(&bs, "2026-01-05T03:30:00Z", 100, DisruptionReason::Empty),
            0
        );
        let msg =
            Budgets::from_spec("p", Some(&bs)).errors(ts("2026-01-05T03:30:00Z"))[0].to_string();
        assert!(
            msg.contains("budgets[0].nodes") && msg.contains("10%"),
            "{msg}"
        );
    }

    #[test]
    fn never_firing_schedule_is_always_active_as_upstream() {
        // robfig finds no 30 February within five years and returns the zero time, which is
        // never after now: upstream treats the budget as active.
        let bs = [budget("0", Some("0 0 30 2 *"), Some("1h"), None)];
        assert_eq!(allowed(&bs, NOW, 10, DisruptionReason::Empty), 0);
    }

    #[test]
    fn mapping_subtracts_disrupting_and_counts_down() {
        let pools = [
            Budgets::from_spec("a", Some(&[budget("3", None, None, None)])),
            Budgets::from_spec("b", Some(&[budget("20%", None, None, None)])),
        ];
        let counts = BTreeMap::from([
            (
                "a".to_string(),
                PoolCounts {
                    nodes: 10,
                    disrupting: 1,
                },
            ),
            (
                "b".to_string(),
                PoolCounts {
                    nodes: 10,
                    disrupting: 5,
                },
            ),
        ]);
        let mut m = BudgetMapping::build(&pools, &counts, ts(NOW), DisruptionReason::Empty);
        assert_eq!(m.remaining("a"), 2);
        assert_eq!(
            m.remaining("b"),
            0,
            "2 allowed, 5 already disrupting: floored at 0"
        );
        assert_eq!(m.remaining("unknown"), 0);
        assert!(m.take("a"));
        assert!(m.take("a"));
        assert!(!m.take("a"));
        assert_eq!(m.remaining("a"), 0);
        let why = m.explain_blocked("a", Some(&pools[0]));
        assert!(
            why.contains("allows 3 of its 10")
                && why.contains("1 already disrupting")
                && why.contains("2 taken"),
            "{why}"
        );
        let why = m.explain_blocked("b", Some(&pools[1]));
        assert!(
            why.contains("nodes: 20%") && why.contains("5 already disrupting"),
            "{why}"
        );
    }

    /// Re-expresses upstream's `pkg/apis/v1/nodepool_budgets_test.go` cases.
    #[test]
    fn upstream_budget_suite_parity() {
        let every_minute = |nodes: &str, reasons: Option<&[&str]>| {
            budget(nodes, Some("* * * * *"), Some("1h"), reasons)
        };
        let mut bs = vec![
            every_minute("10", None),
            every_minute("100", None),
            every_minute("100%", None),
            every_minute("15", Some(&["Drifted", "Underutilized"])),
            every_minute("5", Some(&["Drifted"])),
            budget(
                "0",
                Some("@weekly"),
                Some("1h"),
                Some(&["Underutilized", "Drifted", "Empty"]),
            ),
        ];
        let now = "2000-06-15T12:30:30Z";
        bs.push(every_minute("4", Some(&["Empty"])));
        assert_eq!(allowed(&bs, now, 100, DisruptionReason::Empty), 4);
        assert_eq!(allowed(&bs, now, 100, DisruptionReason::Drifted), 5);
        assert_eq!(allowed(&bs, now, 100, DisruptionReason::Underutilized), 10);

        let one = |b: v1::Budget, now: &str| {
            Budgets::from_spec("p", Some(&[b])).budgets[0].state("p", ts(now), 100)
        };
        assert!(one(budget("10", Some("@wrongly"), Some("1h"), None), now).is_err());
        assert!(one(every_minute("1000a%", None), now).is_err());
        assert_eq!(
            one(budget("10", Some("@yearly"), Some("1h"), None), now),
            Ok(BudgetState::Inactive)
        );
        assert_eq!(
            one(every_minute("10", None), now),
            Ok(BudgetState::Allows(10))
        );
        assert_eq!(
            one(every_minute("100%", None), now),
            Ok(BudgetState::Allows(100))
        );
        // 2000-06-01T00:00+01:00 is 23:00 UTC the day before: a 30m window after midnight UTC
        // is not open.
        assert_eq!(
            one(
                budget("10", Some("@daily"), Some("30m"), None),
                "2000-05-30T23:00:00Z"
            ),
            Ok(BudgetState::Inactive)
        );
        assert_eq!(
            one(
                budget("10", Some("@yearly"), Some("24h"), None),
                "1000-01-01T12:00:00Z"
            ),
            Ok(BudgetState::Allows(10))
        );
        assert_eq!(
            one(
                budget("10", Some("@daily"), Some("48h"), None),
                "2024-01-07T00:00:00Z"
            ),
            Ok(BudgetState::Allows(10))
        );
        assert_eq!(
            one(
                budget("10", Some("30 6 * * SUN"), Some("6h"), None),
                "2024-01-07T00:00:00Z"
            ),
            Ok(BudgetState::Inactive)
        );
        let err = one(
            budget("10", Some("0 0 * * tue-mon"), Some("6h"), None),
            "2024-01-07T00:00:00Z",
        )
        .unwrap_err();
        assert!(err.to_string().contains("range 2-1 is backwards"), "{err}");
    }

    #[test]
    fn nodes_value_parsing() {
        assert_eq!(NodesValue::parse("7"), Some(NodesValue::Count(7)));
        assert_eq!(NodesValue::parse("15%"), Some(NodesValue::Percent(15)));
        for bad in ["", "%", "-1", "1.5", "ten", " 5", "5 %"] {
            assert_eq!(NodesValue::parse(bad), None, "{bad}");
        }
        assert_eq!(NodesValue::Percent(33).scaled(10), 4);
        assert_eq!(NodesValue::Percent(10).scaled(100), 10);
    }
}

//! A NodePool's disruption settings and the time-dependent rules: `consolidateAfter` (the
//! `Consolidatable` condition), `consolidationPolicy`, `expireAfter` (forceful expiration),
//! `terminationGracePeriod`, and the candidate costs that depend on a node's age.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/apis/v1/nodepool.go` (fields and defaults),
//! `pkg/controllers/nodeclaim/disruption/consolidation.go` (the `Consolidatable` condition),
//! `pkg/utils/disruption/disruption.go` (`IsUnderConsolidateAfter`, `LifetimeRemaining`,
//! `EvictionCost`), `pkg/controllers/nodeclaim/expiration/controller.go` (expiration) and
//! `pkg/controllers/node/termination/` (the TGP deadline).
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use karpenter_api::sh::v1;

use crate::budget::Budgets;

/// The NodePool/NodeClaim default of `expireAfter`.
pub const DEFAULT_EXPIRE_AFTER: SignedDuration = SignedDuration::from_hours(720);

/// A disruption setting Karpenter cannot use; names the object and field and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field}: {problem}")]
pub struct SpecError {
    /// e.g. `NodePool "default"`.
    pub object: String,
    /// e.g. `spec.disruption.consolidateAfter`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

/// `spec.disruption.consolidationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsolidationPolicy {
    /// Only empty nodes are removed.
    WhenEmpty,
    /// Empty nodes are removed and underutilized ones consolidated (the default).
    #[default]
    WhenEmptyOrUnderutilized,
    /// v1.14: moves must pass the balanced score (treated as `WhenEmptyOrUnderutilized` here,
    /// with k = ∞, until the balanced evaluator is implemented).
    Balanced,
}

impl ConsolidationPolicy {
    /// Parse upstream's spelling (`WhenUnderutilized` is v1beta1's name and is refused here:
    /// v1beta1 NodePools are converted first).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "WhenEmpty" => Some(ConsolidationPolicy::WhenEmpty),
            "WhenEmptyOrUnderutilized" => Some(ConsolidationPolicy::WhenEmptyOrUnderutilized),
            "Balanced" => Some(ConsolidationPolicy::Balanced),
            _ => None,
        }
    }
}

/// Parse a duration that may be `Never` (`None`). Go syntax, non-negative.
pub fn parse_duration_or_never(text: &str) -> Option<Option<SignedDuration>> {
    let t = text.trim();
    if t == "Never" {
        return Some(None);
    }
    let nanos = crd_schema::go_duration::parse(t).filter(|n| *n >= 0)?;
    Some(Some(SignedDuration::from_nanos(i64::try_from(nanos).ok()?)))
}

/// Parse a plain non-negative Go duration.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let nanos = crd_schema::go_duration::parse(text.trim()).filter(|n| *n >= 0)?;
    Some(SignedDuration::from_nanos(i64::try_from(nanos).ok()?))
}

/// A NodePool's disruption settings, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// NodePool name.
    pub name: String,
    /// `consolidationPolicy`.
    pub policy: ConsolidationPolicy,
    /// `consolidateAfter`; `None` is `Never` (no emptiness, no consolidation).
    pub consolidate_after: Option<SignedDuration>,
    /// `template.spec.expireAfter`; `None` is `Never`.
    pub expire_after: Option<SignedDuration>,
    /// `template.spec.terminationGracePeriod`; `None` is unset (wait forever).
    pub termination_grace_period: Option<SignedDuration>,
    /// `disruption.budgets`.
    pub budgets: Budgets,
    /// A static pool (`spec.replicas` set): never consolidated, emptied or drift-replaced by
    /// these methods.
    pub is_static: bool,
}

impl PoolSettings {
    /// Read a v1 NodePool. Errors name the NodePool and field.
    pub fn from_nodepool(np: &v1::NodePool) -> Result<PoolSettings, SpecError> {
        let name = np.metadata.name.clone().unwrap_or_default();
        let err = |field: &str, problem: String| SpecError {
            object: format!("NodePool {name:?}"),
            field: field.to_string(),
            problem,
        };
        let d = np.spec.disruption.clone().unwrap_or_default();
        let policy = match d.consolidation_policy.as_deref() {
            None => ConsolidationPolicy::default(),
            Some(p) => ConsolidationPolicy::parse(p).ok_or_else(|| {
                err(
                    "spec.disruption.consolidationPolicy",
                    format!("{p:?} is not a policy: use WhenEmpty, WhenEmptyOrUnderutilized or Balanced"),
                )
            })?,
        };
        let consolidate_after = match d.consolidate_after.as_deref() {
            None => Some(SignedDuration::ZERO),
            Some(s) => parse_duration_or_never(s).ok_or_else(|| {
                err(
                    "spec.disruption.consolidateAfter",
                    format!("{s:?} is not a duration: use e.g. 0s, 30s, 5m, or Never"),
                )
            })?,
        };
        let tmpl = &np.spec.template.spec;
        let expire_after = match tmpl.expire_after.as_deref() {
            None => Some(DEFAULT_EXPIRE_AFTER),
            Some(s) => parse_duration_or_never(s).ok_or_else(|| {
                err(
                    "spec.template.spec.expireAfter",
                    format!("{s:?} is not a duration: use e.g. 720h, or Never"),
                )
            })?,
        };
        let termination_grace_period = match tmpl.termination_grace_period.as_deref() {
            None => None,
            Some(s) => Some(parse_duration(s).ok_or_else(|| {
                err(
                    "spec.template.spec.terminationGracePeriod",
                    format!("{s:?} is not a duration: use e.g. 48h or 30m"),
                )
            })?),
        };
        Ok(PoolSettings {
            budgets: Budgets::from_nodepool(np),
            name,
            policy,
            consolidate_after,
            expire_after,
            termination_grace_period,
            is_static: np.spec.replicas.is_some(),
        })
    }
}

/// Where a node stands with respect to `consolidateAfter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consolidatable {
    /// `consolidateAfter: Never`: neither emptiness nor consolidation applies.
    Disabled,
    /// The NodeClaim is not initialized: no `Consolidatable` condition yet.
    NotInitialized,
    /// Pods changed too recently: consolidatable from `at`.
    NotYet {
        /// When the window elapses.
        at: Timestamp,
    },
    /// `Consolidatable=True`.
    Yes,
}

/// The `Consolidatable` condition at `now`, as the NodeClaim disruption controller sets it:
/// consolidatable once `now − last pod event ≥ consolidateAfter`, where the last pod event is
/// `status.lastPodEventTime` (the caller may substitute the newest start time of the bound
/// pods), else the time the NodeClaim became Initialized. A `Consolidatable=True` condition
/// already on the NodeClaim is honoured, as upstream's disruption controller reads it.
pub fn consolidatable(
    consolidate_after: Option<SignedDuration>,
    initialized_at: Option<Timestamp>,
    last_pod_event: Option<Timestamp>,
    condition_true: bool,
    now: Timestamp,
) -> Consolidatable {
    let Some(after) = consolidate_after else {
        return Consolidatable::Disabled;
    };
    if condition_true {
        return Consolidatable::Yes;
    }
    let Some(initialized_at) = initialized_at else {
        return Consolidatable::NotInitialized;
    };
    if after.is_zero() {
        return Consolidatable::Yes;
    }
    let since = last_pod_event.unwrap_or(initialized_at);
    let at = since.checked_add(after).unwrap_or(Timestamp::MAX);
    if now.duration_since(since) < after {
        Consolidatable::NotYet { at }
    } else {
        Consolidatable::Yes
    }
}

/// When a NodeClaim created at `created` expires (`None` for `Never`).
pub fn expires_at(created: Timestamp, expire_after: Option<SignedDuration>) -> Option<Timestamp> {
    expire_after.map(|d| created.checked_add(d).unwrap_or(Timestamp::MAX))
}

/// Whether the NodeClaim is expired at `now` (`now ≥ creationTimestamp + expireAfter`).
pub fn is_expired(
    created: Timestamp,
    expire_after: Option<SignedDuration>,
    now: Timestamp,
) -> bool {
    expires_at(created, expire_after).is_some_and(|at| now >= at)
}

/// The forced-termination deadline of a node deleted at `deleted_at` with
/// `terminationGracePeriod` (`karpenter.sh/nodeclaim-termination-timestamp`); `None` when unset.
pub fn termination_deadline(
    deleted_at: Timestamp,
    termination_grace_period: Option<SignedDuration>,
) -> Option<Timestamp> {
    termination_grace_period.map(|d| deleted_at.checked_add(d).unwrap_or(Timestamp::MAX))
}

/// `LifetimeRemaining`: the fraction of `expireAfter` still left, in [0, 1]; 1 for `Never`.
pub fn lifetime_remaining(
    created: Timestamp,
    expire_after: Option<SignedDuration>,
    now: Timestamp,
) -> f64 {
    match expire_after {
        None => 1.0,
        Some(total) => {
            let total = total.as_secs_f64();
            if total <= 0.0 {
                return 0.0;
            }
            let age = now.duration_since(created).as_secs_f64();
            ((total - age) / total).clamp(0.0, 1.0)
        }
    }
}

/// `EvictionCost` of a pod: 1 + `pod-deletion-cost`/2²⁷ + `priority`/2²⁵, clamped to [−10, 10].
/// An unparseable deletion cost is ignored, as upstream logs and ignores it.
pub fn eviction_cost(pod_deletion_cost: Option<&str>, priority: Option<i32>) -> f64 {
    let mut cost = 1.0;
    if let Some(c) = pod_deletion_cost.and_then(|c| c.trim().parse::<f64>().ok()) {
        cost += c / 2f64.powi(27);
    }
    if let Some(p) = priority {
        cost += f64::from(p) / 2f64.powi(25);
    }
    cost.clamp(-10.0, 10.0)
}

/// `PerNodeBaseDisruptionCost`.
pub const PER_NODE_BASE_DISRUPTION_COST: f64 = 1.0;

/// `RescheduleDisruptionCost`: 1 + Σ max(0, EvictionCost) over the reschedulable pods. A node is
/// *empty* (v1.14) when this is at most 1.
pub fn reschedule_disruption_cost(eviction_costs: impl IntoIterator<Item = f64>) -> f64 {
    PER_NODE_BASE_DISRUPTION_COST + eviction_costs.into_iter().map(|c| c.max(0.0)).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn pool(
        disruption: Option<v1::Disruption>,
        expire: Option<&str>,
        tgp: Option<&str>,
    ) -> v1::NodePool {
        let mut np = v1::NodePool::new("default", Default::default());
        np.spec.disruption = disruption;
        np.spec.template.spec.expire_after = expire.map(str::to_string);
        np.spec.template.spec.termination_grace_period = tgp.map(str::to_string);
        np
    }

    #[test]
    fn nodepool_defaults() {
        let s = PoolSettings::from_nodepool(&pool(None, None, None)).unwrap();
        assert_eq!(s.policy, ConsolidationPolicy::WhenEmptyOrUnderutilized);
        assert_eq!(s.consolidate_after, Some(SignedDuration::ZERO));
        assert_eq!(s.expire_after, Some(SignedDuration::from_hours(720)));
        assert_eq!(s.termination_grace_period, None);
        assert!(!s.is_static);
        assert_eq!(s.budgets.budgets.len(), 1);
        assert_eq!(s.budgets.budgets[0].nodes, "10%");
    }

    #[test]
    fn nodepool_values_and_never() {
        let d = v1::Disruption {
            consolidation_policy: Some("WhenEmpty".into()),
            consolidate_after: Some("Never".into()),
            budgets: None,
        };
        let s = PoolSettings::from_nodepool(&pool(Some(d), Some("Never"), Some("1h30m"))).unwrap();
        assert_eq!(s.policy, ConsolidationPolicy::WhenEmpty);
        assert_eq!(s.consolidate_after, None);
        assert_eq!(s.expire_after, None);
        assert_eq!(
            s.termination_grace_period,
            Some(SignedDuration::from_mins(90))
        );
    }

    #[test]
    fn bad_settings_name_the_nodepool_and_field() {
        let d = v1::Disruption {
            consolidation_policy: Some("WhenUnderutilized".into()),
            ..Default::default()
        };
        let e = PoolSettings::from_nodepool(&pool(Some(d), None, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("NodePool \"default\"")
                && e.contains("consolidationPolicy")
                && e.contains("WhenEmptyOrUnderutilized"),
            "{e}"
        );
        let d = v1::Disruption {
            consolidate_after: Some("soon".into()),
            ..Default::default()
        };
        let e = PoolSettings::from_nodepool(&pool(Some(d), None, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("spec.disruption.consolidateAfter") && e.contains("Never"),
            "{e}"
        );
        let e = PoolSettings::from_nodepool(&pool(None, Some("-1h"), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("spec.template.spec.expireAfter"), "{e}");
        let e = PoolSettings::from_nodepool(&pool(None, None, Some("Never")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("terminationGracePeriod"), "{e}");
    }

    #[test]
    fn consolidate_after_window() {
        let init = Some(ts("2026-01-01T00:00:00Z"));
        let m5 = Some(SignedDuration::from_mins(5));
        let now = ts("2026-01-01T01:00:00Z");
        // Never disables, even with the condition set.
        assert_eq!(
            consolidatable(None, init, None, true, now),
            Consolidatable::Disabled
        );
        // Not initialized.
        assert_eq!(
            consolidatable(m5, None, None, false, now),
            Consolidatable::NotInitialized
        );
        // 0s: at once.
        assert_eq!(
            consolidatable(Some(SignedDuration::ZERO), init, Some(now), false, now),
            Consolidatable::Yes
        );
        // A pod event 2 minutes ago: consolidatable 3 minutes from now.
        let ev = ts("2026-01-01T00:58:00Z");
        assert_eq!(
            consolidatable(m5, init, Some(ev), false, now),
            Consolidatable::NotYet {
                at: ts("2026-01-01T01:03:00Z")
            }
        );
        // Exactly consolidateAfter later: consolidatable (the check is `since < after`).
        assert_eq!(
            consolidatable(m5, init, Some(ts("2026-01-01T00:55:00Z")), false, now),
            Consolidatable::Yes
        );
        // Without a pod event the initialization time counts.
        assert_eq!(
            consolidatable(m5, Some(ts("2026-01-01T00:59:00Z")), None, false, now),
            Consolidatable::NotYet {
                at: ts("2026-01-01T01:04:00Z")
            }
        );
        // A Consolidatable=True condition on the NodeClaim is honoured.
        assert_eq!(
            consolidatable(m5, init, Some(ev), true, now),
            Consolidatable::Yes
        );
    }

    #[test]
    fn expiration_and_grace_period() {
        let created = ts("2026-01-01T00:00:00Z");
        let d = Some(SignedDuration::from_hours(720));
        assert_eq!(expires_at(created, d), Some(ts("2026-01-31T00:00:00Z")));
        assert!(!is_expired(created, d, ts("2026-01-30T23:59:59Z")));
        assert!(is_expired(created, d, ts("2026-01-31T00:00:00Z")));
        assert!(!is_expired(created, None, ts("2036-01-01T00:00:00Z")));
        assert_eq!(
            termination_deadline(
                ts("2026-01-02T00:00:00Z"),
                Some(SignedDuration::from_hours(48))
            ),
            Some(ts("2026-01-04T00:00:00Z"))
        );
        assert_eq!(termination_deadline(created, None), None);
    }

    #[test]
    fn lifetime_and_costs() {
        let created = ts("2026-01-01T00:00:00Z");
        let d = Some(SignedDuration::from_hours(100));
        assert_eq!(
            lifetime_remaining(created, d, ts("2026-01-01T01:00:00Z")),
            0.99
        );
        assert_eq!(
            lifetime_remaining(created, d, ts("2026-02-01T00:00:00Z")),
            0.0
        );
        assert_eq!(
            lifetime_remaining(created, None, ts("2030-01-01T00:00:00Z")),
            1.0
        );
        assert_eq!(eviction_cost(None, None), 1.0);
        assert_eq!(eviction_cost(Some("134217728"), None), 2.0);
        assert_eq!(eviction_cost(None, Some(33_554_432)), 2.0);
        // 1 − 2147483647/2²⁷ ≈ −15, clamped to −10.
        assert_eq!(eviction_cost(Some("-2147483647"), None), -10.0);
        assert_eq!(eviction_cost(None, Some(1_000_000_000)), 10.0);
        assert_eq!(eviction_cost(Some("not a number"), None), 1.0);
        // Empty: no pod with a positive eviction cost.
        assert_eq!(reschedule_disruption_cost([]), 1.0);
        assert_eq!(reschedule_disruption_cost([-3.0, 0.0]), 1.0);
        assert_eq!(reschedule_disruption_cost([1.0, 2.5, -1.0]), 4.5);
    }
}

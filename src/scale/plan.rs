//! The plan: what `scale-to-zero` will change, printed before anything is written.
use serde::Serialize;
use serde_json::Value;

use super::disruption::Blocker;
use super::PoolVersion;

/// Scale down or restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Record limits, stop new capacity, remove existing capacity.
    Down,
    /// Restore the recorded limits.
    Up,
}

/// What happens to one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoolAction {
    /// Record the original limits and set zero limits.
    RecordAndZero,
    /// A record already exists (kept); make sure the limits are zero.
    AlreadyRecorded,
    /// Put back the recorded limits and remove the record.
    Restore,
    /// Restore requested but the pool has no record: left alone.
    NoRecord,
    /// No usable record: restored from `--limits`, and any record removed.
    RestoreFromLimits,
    /// Left alone because of an error about this pool (see [`PoolPlan::error`]); the run exits
    /// non-zero once the other pools are done.
    Refused,
}

/// One object whose deletion removes a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// `NodeClaim`, `Machine` or `Node`.
    pub kind: &'static str,
    /// The object's name.
    pub name: String,
    /// The Node it backs, once registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Already being deleted: nothing to do.
    pub terminating: bool,
    /// Why draining it is blocked (skipped unless `--force`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<Blocker>,
    /// Whether this run deletes it.
    pub delete: bool,
    /// `metadata.uid` when the plan was made: the delete carries it as a precondition, so an
    /// object re-created under the same name is never deleted in its place.
    #[serde(skip)]
    pub uid: Option<String>,
}

/// The plan for one pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolPlan {
    /// The pool's name.
    pub name: String,
    /// `NodePool` or `Provisioner`.
    pub kind: &'static str,
    /// The API version it was read at.
    pub api_version: PoolVersion,
    /// The action.
    pub action: PoolAction,
    /// `spec.limits` now (`null`: no limits).
    pub current_limits: Value,
    /// `spec.limits` after this run.
    pub new_limits: Value,
    /// `spec.replicas` now (static NodePools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i64>,
    /// `spec.replicas` after this run (static NodePools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_replicas: Option<i64>,
    /// Whether the pool object is written.
    pub update: bool,
    /// Capacity to remove (scale down without `--keep-nodes`).
    pub removals: Vec<Removal>,
    /// Warnings for this pool.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the pool is left alone (action `refused`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Down or up.
    pub direction: Direction,
    /// `true` when nothing is written.
    pub dry_run: bool,
    /// One entry per selected pool, sorted by kind then name.
    pub pools: Vec<PoolPlan>,
}

impl Plan {
    /// Whether applying the plan would write anything.
    pub fn has_changes(&self) -> bool {
        self.pools
            .iter()
            .any(|p| p.update || p.removals.iter().any(|r| r.delete))
    }

    /// The errors of refused pools (each names its pool).
    pub fn errors(&self) -> Vec<String> {
        self.pools.iter().filter_map(|p| p.error.clone()).collect()
    }

    /// Every warning, prefixed with its pool.
    pub fn warnings(&self) -> Vec<String> {
        self.pools
            .iter()
            .flat_map(|p| {
                p.warnings
                    .iter()
                    .map(move |w| format!("{} {}: {w}", p.kind, p.name))
            })
            .collect()
    }

    /// The human-readable table.
    pub fn to_table(&self) -> String {
        use tabled::settings::Style;
        #[derive(tabled::Tabled)]
        struct Row {
            #[tabled(rename = "POOL")]
            pool: String,
            #[tabled(rename = "API VERSION")]
            api_version: String,
            #[tabled(rename = "ACTION")]
            action: String,
            #[tabled(rename = "CURRENT LIMITS")]
            current: String,
            #[tabled(rename = "NEW LIMITS")]
            new: String,
            #[tabled(rename = "NODES TO REMOVE")]
            nodes: String,
        }
        let rows = self.pools.iter().map(|p| {
            let replicas = |r: Option<i64>| r.map(|n| format!(" replicas={n}")).unwrap_or_default();
            let to_remove: Vec<String> = p
                .removals
                .iter()
                .filter(|r| r.delete)
                .map(|r| {
                    r.node
                        .clone()
                        .unwrap_or_else(|| format!("{}/{}", r.kind.to_lowercase(), r.name))
                })
                .collect();
            let skipped = p
                .removals
                .iter()
                .filter(|r| !r.delete && !r.terminating)
                .count();
            let terminating = p.removals.iter().filter(|r| r.terminating).count();
            let mut nodes = if to_remove.is_empty() {
                "-".to_string()
            } else {
                to_remove.join(",")
            };
            if skipped > 0 {
                nodes.push_str(&format!(" ({skipped} blocked, kept)"));
            }
            if terminating > 0 {
                nodes.push_str(&format!(" ({terminating} already terminating)"));
            }
            Row {
                pool: format!("{}/{}", p.kind.to_lowercase(), p.name),
                api_version: p.api_version.to_string(),
                action: serde_json::to_value(p.action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                current: format!(
                    "{}{}",
                    limits_text(&p.current_limits),
                    replicas(p.current_replicas)
                ),
                new: format!("{}{}", limits_text(&p.new_limits), replicas(p.new_replicas)),
                nodes,
            }
        });
        let mut table = tabled::Table::new(rows);
        table
            .with(Style::blank())
            .with(tabled::settings::Padding::new(0, 2, 0, 0));
        // kubectl-like: no leading or trailing blanks.
        let mut out: String = table
            .to_string()
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect();
        for p in &self.pools {
            for r in &p.removals {
                for b in &r.blocked_by {
                    let target = r.node.as_deref().unwrap_or(&r.name);
                    let verdict = if r.delete {
                        "removed anyway (--force)"
                    } else {
                        "kept"
                    };
                    out.push_str(&format!("blocked: node {target} ({verdict}): {b}\n"));
                }
            }
        }
        out
    }
}

/// `cpu=0,memory=0`, `none` for no limits, `{}` for empty limits.
pub fn limits_text(limits: &Value) -> String {
    fn flat(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flat(&key, v, out);
                }
            }
            Value::String(s) => out.push(format!("{prefix}={s}")),
            other => out.push(format!("{prefix}={other}")),
        }
    }
    match limits {
        Value::Null => "none".to_string(),
        Value::Object(m) if m.is_empty() => "{}".to_string(),
        v => {
            let mut parts = Vec::new();
            flat("", v, &mut parts);
            parts.join(",")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_text_distinguishes_none_empty_and_nested() {
        assert_eq!(limits_text(&Value::Null), "none");
        assert_eq!(limits_text(&json!({})), "{}");
        assert_eq!(
            limits_text(&json!({"cpu": "0", "memory": "0"})),
            "cpu=0,memory=0"
        );
        assert_eq!(
            limits_text(&json!({"resources": {"cpu": "10"}})),
            "resources.cpu=10"
        );
    }

    #[test]
    fn table_lists_pools_removals_and_blockers() {
        let plan = Plan {
            direction: Direction::Down,
            dry_run: true,
            pools: vec![PoolPlan {
                name: "general".into(),
                kind: "NodePool",
                api_version: PoolVersion::V1,
                action: PoolAction::RecordAndZero,
                current_limits: json!({"cpu": "100"}),
                new_limits: json!({"cpu": "0", "memory": "0"}),
                current_replicas: None,
                new_replicas: None,
                update: true,
                removals: vec![
                    Removal {
                        kind: "NodeClaim",
                        name: "general-a".into(),
                        node: Some("ip-1".into()),
                        terminating: false,
                        blocked_by: vec![],
                        delete: true,
                        uid: None,
                    },
                    Removal {
                        kind: "NodeClaim",
                        name: "general-b".into(),
                        node: Some("ip-2".into()),
                        terminating: false,
                        blocked_by: vec![Blocker::PodDoNotDisrupt {
                            pod: "apps/db".into(),
                            annotation: "karpenter.sh/do-not-disrupt=true".into(),
                        }],
                        delete: false,
                        uid: None,
                    },
                ],
                warnings: vec![],
                error: None,
            }],
        };
        let t = plan.to_table();
        assert!(t.starts_with("POOL   "), "{t}");
        assert!(t.lines().all(|l| l == l.trim_end()), "{t}");
        assert!(t.contains("nodepool/general"), "{t}");
        assert!(t.contains("cpu=100"), "{t}");
        assert!(t.contains("cpu=0,memory=0"), "{t}");
        assert!(t.contains("ip-1 (1 blocked, kept)"), "{t}");
        assert!(
            t.contains(
                "blocked: node ip-2 (kept): pod apps/db annotated karpenter.sh/do-not-disrupt=true"
            ),
            "{t}"
        );
        assert!(plan.has_changes());
    }
}

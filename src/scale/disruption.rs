//! What would stop Karpenter from draining a node: `do-not-disrupt` pods and PodDisruptionBudgets.
//!
//! Mirrors Karpenter's candidate pod checks: a node is blocked when one of the pods its drain
//! would evict (not DaemonSet or static pods, nor pods tolerating `karpenter.sh/disrupted`) is
//! annotated `karpenter.sh/do-not-disrupt` (or the pre-v1 `karpenter.sh/do-not-evict`), when a
//! PDB covering one of its pods allows no disruption, or when a pod is covered by two or more
//! PDBs (the Eviction API refuses those). Pending pods are exempt from the PDB checks: the
//! Eviction API deletes them without consulting a budget. `disruptionsAllowed` is computed from
//! the pods as the Kubernetes disruption controller does, so a stale PDB status cannot hide a
//! block.
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::selector::Selector;

/// Karpenter's opt-out annotation (pods and nodes).
pub use karpenter_api::labels::DO_NOT_DISRUPT;
/// The pre-v1 pod annotation replaced by [`DO_NOT_DISRUPT`].
pub use karpenter_api::labels::DO_NOT_EVICT_LEGACY as DO_NOT_EVICT;

/// Why a node cannot be drained without `--force`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "reason"
)]
pub enum Blocker {
    /// The node (or its NodeClaim/Machine) carries `karpenter.sh/do-not-disrupt`.
    NodeDoNotDisrupt { annotation: String },
    /// A pod on the node carries `do-not-disrupt` / `do-not-evict`.
    PodDoNotDisrupt { pod: String, annotation: String },
    /// A PDB covering a pod on the node allows no disruption now.
    PdbBlocks {
        pod: String,
        pdb: String,
        disruptions_allowed: i64,
    },
    /// A pod is covered by more than one PDB; the Eviction API refuses it.
    MultiplePdbs { pod: String, pdbs: Vec<String> },
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocker::NodeDoNotDisrupt { annotation } => write!(f, "node annotated {annotation}"),
            Blocker::PodDoNotDisrupt { pod, annotation } => {
                write!(f, "pod {pod} annotated {annotation}")
            }
            Blocker::PdbBlocks {
                pod,
                pdb,
                disruptions_allowed,
            } => write!(
                f,
                "pod {pod}: PDB {pdb} allows {disruptions_allowed} disruptions"
            ),
            Blocker::MultiplePdbs { pod, pdbs } => {
                write!(
                    f,
                    "pod {pod} is covered by several PDBs ({})",
                    pdbs.join(", ")
                )
            }
        }
    }
}

fn key(ns: Option<&str>, name: Option<&str>) -> String {
    format!("{}/{}", ns.unwrap_or("default"), name.unwrap_or(""))
}

/// A Go `time.ParseDuration` string (`1h30m`, `1.5h`, `300ms`, `0`) in seconds; `None` when it
/// is not one (or is negative). Parsed by the one Go-duration parser, through
/// [`karpenter_convert::duration::parse_go`].
fn go_duration_seconds(text: &str) -> Option<f64> {
    karpenter_convert::duration::parse_go(text).map(|nanos| nanos as f64 / 1e9)
}

/// The first of `keys` whose value opts out of disruption, as `key=value`.
///
/// `"true"` always protects. A duration (Karpenter v1.12+) protects while less than that long
/// has passed since `started` (or while the pod has not started); other values except
/// `"false"` are treated as protecting, which is the safe side.
fn opt_out_value(
    annotations: Option<&BTreeMap<String, String>>,
    keys: &[&str],
    started: Option<Timestamp>,
    now: Timestamp,
) -> Option<String> {
    let annotations = annotations?;
    keys.iter().find_map(|k| {
        let v = annotations.get(*k)?.trim();
        let protecting = match go_duration_seconds(v) {
            Some(secs) => {
                secs > 0.0
                    && started.is_none_or(|s| {
                        let elapsed = now.duration_since(s).as_secs_f64();
                        elapsed < secs
                    })
            }
            None => v != "false" && !v.is_empty(),
        };
        protecting.then(|| format!("{k}={v}"))
    })
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The taint Karpenter puts on a node before draining it.
pub use karpenter_api::labels::DISRUPTED_TAINT_KEY;

/// Whether the pod tolerates `karpenter.sh/disrupted:NoSchedule` (Karpenter's drain neither
/// evicts nor waits for such pods).
fn tolerates_disrupted_taint(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_ref())
        .is_some_and(|ts| {
            ts.iter().any(|t| {
                let effect_ok = t
                    .effect
                    .as_deref()
                    .is_none_or(|e| e.is_empty() || e == "NoSchedule");
                let key = t.key.as_deref().unwrap_or("");
                let op = t.operator.as_deref().unwrap_or("Equal");
                let key_ok = match op {
                    "Exists" => key.is_empty() || key == DISRUPTED_TAINT_KEY,
                    _ => key == DISRUPTED_TAINT_KEY && t.value.as_deref().unwrap_or("").is_empty(),
                };
                effect_ok && key_ok
            })
        })
}

/// Pods Karpenter evicts when draining: not terminal, not terminating, not DaemonSet or static,
/// not tolerating the disrupted taint.
fn is_evictable(pod: &Pod) -> bool {
    let owned_by = |kind: &str| {
        pod.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == kind)
    };
    !is_terminal(pod)
        && !tolerates_disrupted_taint(pod)
        && pod.metadata.deletion_timestamp.is_none()
        && !owned_by("DaemonSet")
        && !owned_by("Node")
        && !pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn scaled(value: &IntOrString, total: i64, round_up: bool) -> Result<i64, String> {
    match value {
        IntOrString::Int(n) => Ok(i64::from(*n)),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| format!("{s:?} is neither an integer nor a percentage"))?;
            let product = pct * total;
            Ok(if round_up {
                (product + 99) / 100
            } else {
                product / 100
            })
        }
    }
}

/// A PDB's computed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdbState {
    /// `namespace/name`.
    pub name: String,
    /// Pods needed healthy.
    pub desired_healthy: i64,
    /// Pods that are Ready.
    pub current_healthy: i64,
    /// `max(0, current_healthy - desired_healthy)`.
    pub disruptions_allowed: i64,
    /// `spec.unhealthyPodEvictionPolicy == AlwaysAllow`.
    pub always_allow_unhealthy: bool,
    selector: Option<Selector>,
    namespace: String,
}

impl PdbState {
    /// Compute a PDB's state from the pods in the cluster.
    pub fn compute(pdb: &PodDisruptionBudget, pods: &[Pod]) -> Result<Self, String> {
        let namespace = pdb
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = key(Some(&namespace), pdb.metadata.name.as_deref());
        let spec = pdb.spec.clone().unwrap_or_default();
        // policy/v1: a null selector selects no pods; an empty one selects all in the namespace.
        let selector = spec
            .selector
            .as_ref()
            .map(Selector::from_label_selector)
            .transpose()
            .map_err(|e| format!("PDB {name}: {e}"))?;
        let covered: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == namespace)
            .filter(|p| !is_terminal(p))
            .filter(|p| {
                selector.as_ref().is_some_and(|s| {
                    s.matches(p.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
                })
            })
            .collect();
        // The controller counts pods for an integer minAvailable, and the owners' desired
        // replicas (published as status.expectedPods) for maxUnavailable and percentages; the
        // pod count stands in when the status has not been written yet.
        let pod_count = covered.len() as i64;
        let scale_based = spec.max_unavailable.is_some()
            || matches!(spec.min_available, Some(IntOrString::String(_)));
        let expected = match pdb.status.as_ref().map(|s| i64::from(s.expected_pods)) {
            Some(n) if scale_based && n > 0 => n,
            _ => pod_count,
        };
        let current_healthy = covered
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
            .count() as i64;
        let desired_healthy = match (&spec.max_unavailable, &spec.min_available) {
            (Some(max), _) => (expected
                - scaled(max, expected, true)
                    .map_err(|e| format!("PDB {name}: maxUnavailable {e}"))?)
            .max(0),
            (None, Some(min)) => {
                scaled(min, expected, true).map_err(|e| format!("PDB {name}: minAvailable {e}"))?
            }
            // Neither set: the API server defaults minAvailable to 1.
            (None, None) => 1,
        };
        Ok(PdbState {
            disruptions_allowed: (current_healthy - desired_healthy).max(0),
            always_allow_unhealthy: spec.unhealthy_pod_eviction_policy.as_deref()
                == Some("AlwaysAllow"),
            name,
            desired_healthy,
            current_healthy,
            selector,
            namespace,
        })
    }

    fn covers(&self, pod: &Pod) -> bool {
        pod.metadata.namespace.as_deref().unwrap_or("default") == self.namespace
            && self.selector.as_ref().is_some_and(|s| {
                s.matches(pod.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
            })
    }

    /// Whether the Eviction API would refuse to evict `pod` now.
    fn blocks(&self, pod: &Pod) -> bool {
        if is_ready(pod) {
            return self.disruptions_allowed == 0;
        }
        // Unhealthy pods: AlwaysAllow evicts them; IfHealthyBudget only while the budget holds.
        !(self.always_allow_unhealthy || self.current_healthy >= self.desired_healthy)
    }
}

/// The blockers of each node in `nodes`, keyed by node name (nodes without blockers are absent).
///
/// `node_annotations` holds the annotations of each Node and of its NodeClaim/Machine.
pub fn blockers(
    nodes: &BTreeSet<String>,
    node_annotations: &BTreeMap<String, BTreeMap<String, String>>,
    pods: &[Pod],
    pdbs: &[PodDisruptionBudget],
) -> Result<BTreeMap<String, Vec<Blocker>>, String> {
    blockers_at(Timestamp::now(), nodes, node_annotations, pods, pdbs)
}

/// [`blockers`] as of `now` (a do-not-disrupt duration expires relative to it).
pub fn blockers_at(
    now: Timestamp,
    nodes: &BTreeSet<String>,
    node_annotations: &BTreeMap<String, BTreeMap<String, String>>,
    pods: &[Pod],
    pdbs: &[PodDisruptionBudget],
) -> Result<BTreeMap<String, Vec<Blocker>>, String> {
    let states = pdbs
        .iter()
        .map(|p| PdbState::compute(p, pods))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out: BTreeMap<String, Vec<Blocker>> = BTreeMap::new();
    for node in nodes {
        if let Some(annotation) =
            opt_out_value(node_annotations.get(node), &[DO_NOT_DISRUPT], None, now)
        {
            out.entry(node.clone())
                .or_default()
                .push(Blocker::NodeDoNotDisrupt { annotation });
        }
    }
    for pod in pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()) else {
            continue;
        };
        if !nodes.contains(node) || !is_evictable(pod) {
            continue;
        }
        let pod_key = key(
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        );
        let mut found = Vec::new();
        if let Some(annotation) = opt_out_value(
            pod.metadata.annotations.as_ref(),
            &[DO_NOT_DISRUPT, DO_NOT_EVICT],
            pod.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0),
            now,
        ) {
            found.push(Blocker::PodDoNotDisrupt {
                pod: pod_key.clone(),
                annotation,
            });
        }
        // The Eviction API deletes Pending pods without consulting any budget.
        let pending = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
        let covering: Vec<&PdbState> = if pending {
            Vec::new()
        } else {
            states.iter().filter(|s| s.covers(pod)).collect()
        };
        match covering.as_slice() {
            [] => {}
            [one] => {
                if one.blocks(pod) {
                    found.push(Blocker::PdbBlocks {
                        pod: pod_key,
                        pdb: one.name.clone(),
                        disruptions_allowed: one.disruptions_allowed,
                    });
                }
            }
            many => found.push(Blocker::MultiplePdbs {
                pod: pod_key,
                pdbs: many.iter().map(|s| s.name.clone()).collect(),
            }),
        }
        if !found.is_empty() {
            out.entry(node.clone()).or_default().extend(found);
        }
    }
    for list in out.values_mut() {
        list.sort();
        list.dedup();
    }
    Ok(out)
}

/// A PDB whose budget is smaller than the number of its pods on the nodes being removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    /// `namespace/name` of the PDB.
    pub pdb: String,
    /// Disruptions the PDB allows now.
    pub disruptions_allowed: i64,
    /// Its healthy pods on the nodes being removed.
    pub pods_on_removed_nodes: i64,
    /// The removed nodes hosting those pods.
    pub nodes: BTreeSet<String>,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PDB {} allows {} disruptions but {} of its pods are on nodes being removed; the drain \
             waits until evicted pods run elsewhere (the selected pools can no longer launch nodes)",
            self.pdb, self.disruptions_allowed, self.pods_on_removed_nodes
        )
    }
}

/// PDBs that will stall a drain of all of `nodes` at once, even though each node on its own
/// passes Karpenter's check: more healthy covered pods sit on these nodes than the budget allows.
pub fn shortfalls(
    nodes: &BTreeSet<String>,
    pods: &[Pod],
    pdbs: &[PodDisruptionBudget],
) -> Result<Vec<Shortfall>, String> {
    let mut out = Vec::new();
    for pdb in pdbs {
        let state = PdbState::compute(pdb, pods)?;
        let mut on_nodes = BTreeSet::new();
        let mut count = 0;
        for pod in pods
            .iter()
            .filter(|p| is_evictable(p) && is_ready(p) && state.covers(p))
        {
            if let Some(node) = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .filter(|n| nodes.contains(*n))
            {
                count += 1;
                on_nodes.insert(node.clone());
            }
        }
        if state.disruptions_allowed > 0 && count > state.disruptions_allowed {
            out.push(Shortfall {
                pdb: state.name.clone(),
                disruptions_allowed: state.disruptions_allowed,
                pods_on_removed_nodes: count,
                nodes: on_nodes,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff;
    use serde_json::json;

    fn pod(
        name: &str,
        node: &str,
        labels: serde_json::Value,
        annotations: serde_json::Value,
        ready: bool,
    ) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "apps", "labels": labels, "annotations": annotations},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap()
    }

    fn pdb(name: &str, spec: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(
            json!({"metadata": {"name": name, "namespace": "apps"}, "spec": spec}),
        )
        .unwrap()
    }

    fn nodes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn do_not_disrupt_and_legacy_do_not_evict_pods_block_their_node_only() {
        let pods = vec![
            pod("a", "n1", json!({}), json!({DO_NOT_DISRUPT: "true"}), true),
            pod("b", "n2", json!({}), json!({DO_NOT_EVICT: "true"}), true),
            pod("c", "n3", json!({}), json!({DO_NOT_DISRUPT: "false"}), true),
            pod(
                "d",
                "other",
                json!({}),
                json!({DO_NOT_DISRUPT: "true"}),
                true,
            ),
        ];
        let out = blockers(&nodes(&["n1", "n2", "n3"]), &BTreeMap::new(), &pods, &[]).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(
            out["n2"],
            vec![Blocker::PodDoNotDisrupt {
                pod: "apps/b".into(),
                annotation: "karpenter.sh/do-not-evict=true".into()
            }]
        );
    }

    #[test]
    fn daemonset_and_finished_pods_do_not_block() {
        let mut ds = pod("ds", "n1", json!({}), json!({DO_NOT_DISRUPT: "true"}), true);
        ds.metadata.owner_references = Some(vec![serde_json::from_value(
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "x", "uid": "u"}),
        )
        .unwrap()]);
        let mut done = pod(
            "done",
            "n1",
            json!({}),
            json!({DO_NOT_DISRUPT: "true"}),
            false,
        );
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let out = blockers(&nodes(&["n1"]), &BTreeMap::new(), &[ds, done], &[]).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_do_not_disrupt_duration_protects_only_until_it_has_elapsed_since_pod_start() {
        let now: Timestamp = "2026-11-21T08:00:00Z".parse().unwrap();
        let started = |name: &str, node: &str, value: &str, ago_minutes: Option<i64>| {
            let mut p = pod(name, node, json!({}), json!({DO_NOT_DISRUPT: value}), true);
            if let Some(m) = ago_minutes {
                let start = now - jiff::SignedDuration::from_mins(m);
                p.status.as_mut().unwrap().start_time = Some(Time(start));
            }
            p
        };
        let pods = vec![
            started("fresh", "n1", "1h", Some(30)),
            started("stale", "n2", "1h", Some(180)),
            started("compound-stale", "n3", "1h30m", Some(120)),
            started("compound-fresh", "n4", "1.5h", Some(60)),
            started("not-started", "n5", "10m", None),
            started("unparseable", "n6", "soon", Some(600)),
            started("true-is-forever", "n7", "true", Some(60 * 24 * 30)),
        ];
        let all = nodes(&["n1", "n2", "n3", "n4", "n5", "n6", "n7"]);
        let out = blockers_at(now, &all, &BTreeMap::new(), &pods, &[]).unwrap();
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            ["n1", "n4", "n5", "n6", "n7"]
        );
        assert_eq!(go_duration_seconds("1h30m"), Some(5400.0));
        assert_eq!(go_duration_seconds("300ms"), Some(0.3));
        assert_eq!(go_duration_seconds("2m0.5s"), Some(120.5));
        assert_eq!(go_duration_seconds("0"), Some(0.0));
        for bad in ["", "1", "h", "1x", "-5m", "1h-2m", "true"] {
            assert_eq!(go_duration_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pending_pods_are_evicted_without_a_budget_check_but_keep_do_not_disrupt() {
        // The Eviction API deletes Pending pods without consulting PDBs, so a PDB cannot stall
        // the drain on them; Karpenter still honours their do-not-disrupt.
        let mut stuck = pod("stuck", "n1", json!({"app": "web"}), json!({}), false);
        stuck.status.as_mut().unwrap().phase = Some("Pending".into());
        let mut pinned = pod(
            "pinned",
            "n2",
            json!({"app": "db"}),
            json!({DO_NOT_DISRUPT: "true"}),
            false,
        );
        pinned.status.as_mut().unwrap().phase = Some("Pending".into());
        let running = pod("running", "n3", json!({"app": "web"}), json!({}), false);
        let strict = pdb(
            "web",
            json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}),
        );
        let out = blockers(
            &nodes(&["n1", "n2", "n3"]),
            &BTreeMap::new(),
            &[stuck, pinned, running],
            &[strict],
        )
        .unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["n2", "n3"]);
        assert!(matches!(out["n2"][..], [Blocker::PodDoNotDisrupt { .. }]));
        assert!(matches!(out["n3"][..], [Blocker::PdbBlocks { .. }]));
    }

    #[test]
    fn pods_tolerating_the_disrupted_taint_are_not_drained_so_do_not_block() {
        // Karpenter's drain neither evicts nor waits for pods tolerating karpenter.sh/disrupted.
        let tolerating = |name: &str, node: &str, tolerations: serde_json::Value| {
            let mut p = pod(
                name,
                node,
                json!({"app": "agent"}),
                json!({DO_NOT_DISRUPT: "true"}),
                true,
            );
            p.spec.as_mut().unwrap().tolerations =
                Some(serde_json::from_value(tolerations).unwrap());
            p
        };
        let pods = vec![
            tolerating("everything", "n1", json!([{"operator": "Exists"}])),
            tolerating(
                "by-key",
                "n2",
                json!([{"key": "karpenter.sh/disrupted", "operator": "Exists", "effect": "NoSchedule"}]),
            ),
            tolerating(
                "other-effect",
                "n3",
                json!([{"key": "karpenter.sh/disrupted", "operator": "Exists", "effect": "NoExecute"}]),
            ),
            tolerating(
                "other-key",
                "n4",
                json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]),
            ),
        ];
        let zero = pdb(
            "agent",
            json!({"maxUnavailable": 0, "selector": {"matchLabels": {"app": "agent"}}}),
        );
        let out = blockers(
            &nodes(&["n1", "n2", "n3", "n4"]),
            &BTreeMap::new(),
            &pods,
            &[zero],
        )
        .unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["n3", "n4"]);
    }

    #[test]
    fn node_annotation_blocks() {
        let ann = BTreeMap::from([(
            "n1".to_string(),
            BTreeMap::from([(DO_NOT_DISRUPT.to_string(), "true".to_string())]),
        )]);
        let out = blockers(&nodes(&["n1"]), &ann, &[], &[]).unwrap();
        assert_eq!(out["n1"].len(), 1);
    }

    #[test]
    fn pdb_disruptions_allowed_is_computed_from_ready_pods() {
        let web =
            |n: &str, node: &str, ready| pod(n, node, json!({"app": "web"}), json!({}), ready);
        let pods = vec![
            web("w1", "n1", true),
            web("w2", "n2", true),
            web("w3", "n3", false),
        ];
        // minAvailable 2 of 2 ready: 0 allowed, ready pods block, the unready one too (budget holds).
        let strict = pdb(
            "web",
            json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}),
        );
        let s = PdbState::compute(&strict, &pods).unwrap();
        assert_eq!(
            (s.current_healthy, s.desired_healthy, s.disruptions_allowed),
            (2, 2, 0)
        );
        let out = blockers(&nodes(&["n1", "n3"]), &BTreeMap::new(), &pods, &[strict]).unwrap();
        assert!(matches!(
            out["n1"][0],
            Blocker::PdbBlocks {
                disruptions_allowed: 0,
                ..
            }
        ));
        assert!(
            !out.contains_key("n3"),
            "unhealthy pod evictable while the budget holds"
        );

        // maxUnavailable 50% of 3 → desired 3 - 2 = 1; 2 ready → 1 allowed: nothing blocks.
        let loose = pdb(
            "web",
            json!({"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert_eq!(
            PdbState::compute(&loose, &pods)
                .unwrap()
                .disruptions_allowed,
            1
        );
        assert!(
            blockers(&nodes(&["n1", "n2"]), &BTreeMap::new(), &pods, &[loose])
                .unwrap()
                .is_empty()
        );

        // minAvailable 100%: unready pod blocks too unless AlwaysAllow.
        let all = pdb(
            "web",
            json!({"minAvailable": "100%", "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert!(blockers(&nodes(&["n3"]), &BTreeMap::new(), &pods, &[all])
            .unwrap()
            .contains_key("n3"));
        let always = pdb(
            "web",
            json!({"minAvailable": "100%", "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert!(
            blockers(&nodes(&["n3"]), &BTreeMap::new(), &pods, &[always])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn expected_pods_from_the_status_counts_missing_replicas() {
        // 2 pods exist but their Deployment wants 4: maxUnavailable 2 → desired 2, 2 ready → 0.
        let pods = vec![
            pod("w1", "n1", json!({"app": "web"}), json!({}), true),
            pod("w2", "n2", json!({"app": "web"}), json!({}), true),
        ];
        let mut budget = pdb(
            "web",
            json!({"maxUnavailable": 2, "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert_eq!(
            PdbState::compute(&budget, &pods)
                .unwrap()
                .disruptions_allowed,
            2
        );
        budget.status = Some(
            serde_json::from_value(json!({
                "expectedPods": 4, "currentHealthy": 2, "desiredHealthy": 2, "disruptionsAllowed": 0
            }))
            .unwrap(),
        );
        let s = PdbState::compute(&budget, &pods).unwrap();
        assert_eq!((s.desired_healthy, s.disruptions_allowed), (2, 0));
    }

    #[test]
    fn two_pdbs_on_one_pod_block_and_a_null_selector_covers_nothing() {
        let pods = vec![pod("w1", "n1", json!({"app": "web"}), json!({}), true)];
        let a = pdb(
            "a",
            json!({"maxUnavailable": 5, "selector": {"matchLabels": {"app": "web"}}}),
        );
        let b = pdb("b", json!({"maxUnavailable": 5, "selector": {}}));
        let out = blockers(&nodes(&["n1"]), &BTreeMap::new(), &pods, &[a, b]).unwrap();
        assert_eq!(
            out["n1"],
            vec![Blocker::MultiplePdbs {
                pod: "apps/w1".into(),
                pdbs: vec!["apps/a".into(), "apps/b".into()]
            }]
        );
        let none = pdb("none", json!({"minAvailable": 1}));
        assert!(blockers(&nodes(&["n1"]), &BTreeMap::new(), &pods, &[none])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn blockers_serialize_with_camel_case_fields() {
        let b = Blocker::PdbBlocks {
            pod: "a/p".into(),
            pdb: "a/b".into(),
            disruptions_allowed: 0,
        };
        assert_eq!(
            serde_json::to_value(b).unwrap(),
            json!({"reason": "pdbBlocks", "pod": "a/p", "pdb": "a/b", "disruptionsAllowed": 0})
        );
    }

    #[test]
    fn bad_percentage_is_an_error_naming_the_pdb() {
        let bad = pdb("web", json!({"minAvailable": "lots", "selector": {}}));
        let err = blockers(&nodes(&[]), &BTreeMap::new(), &[], &[bad]).unwrap_err();
        assert!(err.contains("PDB apps/web"), "{err}");
    }

    #[test]
    fn shortfall_when_more_pods_leave_than_the_budget_allows() {
        let web = |n: &str, node: &str| pod(n, node, json!({"app": "web"}), json!({}), true);
        let pods = vec![web("w1", "n1"), web("w2", "n2"), web("w3", "n3")];
        let budget = pdb(
            "web",
            json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}),
        );
        let s = shortfalls(&nodes(&["n1", "n2"]), &pods, std::slice::from_ref(&budget)).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].disruptions_allowed, s[0].pods_on_removed_nodes),
            (1, 2)
        );
        assert_eq!(s[0].nodes, nodes(&["n1", "n2"]));
        assert!(s[0]
            .to_string()
            .contains("PDB apps/web allows 1 disruptions but 2"));
        // One node only: within budget.
        assert!(shortfalls(&nodes(&["n1"]), &pods, &[budget])
            .unwrap()
            .is_empty());
    }
}

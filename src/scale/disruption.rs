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
use k8s_openapi::jiff::Timestamp;
use karpenter_state::pod::{opt_out, OptOut};
use karpenter_state::{PdbState, StatePod};
use serde::Serialize;

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

/// The pods as the cluster model keeps them (the rules below live in `karpenter-state`).
fn state_pods(pods: &[Pod]) -> Vec<StatePod> {
    pods.iter().map(StatePod::new).collect()
}

/// Scale-to-zero treats an opt-out value it cannot read as protecting: removing capacity in
/// bulk is the place to be on the safe side.
fn opt_out_value(
    annotations: &BTreeMap<String, String>,
    keys: &[&str],
    started: Option<Timestamp>,
    now: Timestamp,
) -> Option<String> {
    match opt_out(annotations, keys, started, now) {
        OptOut::Inactive => None,
        OptOut::Active(v) | OptOut::Unrecognized(v) => Some(v),
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
    let pods = state_pods(pods);
    let states = pdbs
        .iter()
        .map(|p| PdbState::compute(p, &pods))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out: BTreeMap<String, Vec<Blocker>> = BTreeMap::new();
    let none = BTreeMap::new();
    for node in nodes {
        if let Some(annotation) = opt_out_value(
            node_annotations.get(node).unwrap_or(&none),
            &[DO_NOT_DISRUPT],
            None,
            now,
        ) {
            out.entry(node.clone())
                .or_default()
                .push(Blocker::NodeDoNotDisrupt { annotation });
        }
    }
    for pod in &pods {
        let Some(node) = pod.node() else {
            continue;
        };
        if !nodes.contains(node) || !pod.evictable() {
            continue;
        }
        let pod_key = pod.key.to_string();
        let mut found = Vec::new();
        if let Some(annotation) = opt_out_value(
            &pod.annotations,
            &[DO_NOT_DISRUPT, DO_NOT_EVICT],
            pod.started,
            now,
        ) {
            found.push(Blocker::PodDoNotDisrupt {
                pod: pod_key.clone(),
                annotation,
            });
        }
        // The Eviction API deletes Pending pods without consulting any budget.
        let pending = pod.phase_pending;
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
            out.entry(node.to_string()).or_default().extend(found);
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
    let pods = state_pods(pods);
    for pdb in pdbs {
        let state = PdbState::compute(pdb, &pods)?;
        let mut on_nodes = BTreeSet::new();
        let mut count = 0;
        for pod in pods
            .iter()
            .filter(|p| p.evictable() && p.ready && state.covers(p))
        {
            if let Some(node) = pod.node().filter(|n| nodes.contains(*n)) {
                count += 1;
                on_nodes.insert(node.to_string());
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
        let s = PdbState::compute(&strict, &state_pods(&pods)).unwrap();
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
            PdbState::compute(&loose, &state_pods(&pods))
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
            PdbState::compute(&budget, &state_pods(&pods))
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
        let s = PdbState::compute(&budget, &state_pods(&pods)).unwrap();
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

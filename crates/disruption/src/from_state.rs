//! The engine's input from the cluster model (`karpenter_state::Cluster`): the per-object rules
//! disruption needs, evaluated at `now`.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/controllers/state/statenode.go`
//! (`ValidateNodeDisruptable`, `ValidatePodsDisruptable`), `pkg/utils/pod/scheduling.go`
//! (`HasDoNotDisrupt`, the duration form from v1.12), `pkg/utils/pdb/pdb.go` (`Limits`,
//! `CanEvictPods`: a pod covered by a PDB allowing no disruption, or by two or more PDBs,
//! blocks), `pkg/controllers/nodeclaim/disruption/` (drift and `Consolidatable`).
//!
//! - A managed node is one carrying `karpenter.sh/nodepool`; a missing NodeClaim is
//!   synthesized (launched, created with the Node).
//! - The last pod event is the NodeClaim's `status.lastPodEventTime`, else the newest start
//!   time of the node's pods, else its initialization.
//! - A PDB's allowed disruptions are `status.disruptionsAllowed` when present, else computed
//!   from the matching bound pods as the disruption controller would (`karpenter_state::pdb`;
//!   a manifest pod without status counts as Ready).
//! - Not modelled yet (the cluster model does not keep them): the Node's Ready condition (taken
//!   as Ready), nominations, pod priority in the eviction cost.
use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use karpenter_api::common::Condition;
use karpenter_api::labels as l;
use karpenter_scheduling::{Catalog, ExistingNode, InstanceType};
use karpenter_state::problem::ProblemOptions;
use karpenter_state::{Cluster, OptOut, PdbState, StatePod};

use crate::drift::{self, DriftInput, InstanceFacts};
use crate::input::{BoundPod, DisruptionInput, NodeInput, PodBlock};
use crate::price::node_price;
use crate::timing::{eviction_cost, parse_duration, parse_duration_or_never, PoolSettings};

/// The cluster cannot be turned into the engine's input.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The cluster model refused (no NodePool, a bad object, ...).
    #[error(transparent)]
    State(#[from] karpenter_state::Error),
    /// A NodePool's disruption settings are unusable.
    #[error(transparent)]
    Settings(#[from] crate::timing::SpecError),
}

fn condition<'a>(conds: Option<&'a Vec<Condition>>, kind: &str) -> Option<&'a Condition> {
    conds.into_iter().flatten().find(|c| c.type_ == kind)
}

fn is_true(c: Option<&Condition>) -> bool {
    c.is_some_and(|c| c.status == "True")
}

/// Why a bound pod blocks a graceful disruption at `now` (upstream
/// `StateNode.ValidatePodsDisruptable`): an active `karpenter.sh/do-not-disrupt` on any active pod,
/// DaemonSet and mirror pods included (an unrecognized value does not block, as upstream); or,
/// for a pod a drain would evict (`IsEvictable`: not a mirror pod, not tolerating the
/// `karpenter.sh/disrupted` taint; DaemonSet pods count), a PDB allowing no eviction (its
/// `status.disruptionsAllowed` when present; a pod that is not Ready passes a PDB with
/// `unhealthyPodEvictionPolicy: AlwaysAllow`), or two or more PDBs covering it (the Eviction API
/// refuses those). The rules themselves are the cluster model's (`karpenter_state::pod`,
/// `karpenter_state::pdb`).
fn pod_block(p: &StatePod, pdbs: &[PdbState], now: Timestamp) -> Option<PodBlock> {
    if p.deleting || p.terminal {
        return None;
    }
    if let OptOut::Active(_) = p.do_not_disrupt(now) {
        return Some(PodBlock::DoNotDisrupt(p.key.to_string()));
    }
    if p.mirror || p.tolerates_disrupted {
        return None;
    }
    let covering: Vec<&PdbState> = pdbs.iter().filter(|s| s.covers(p)).collect();
    match covering.as_slice() {
        [] => None,
        // `unhealthyPodEvictionPolicy: AlwaysAllow` lets a pod that is not Ready go whatever
        // the budget (upstream `pdb.Limits.isEvictable`).
        [one] if one.always_allow_unhealthy && !p.ready => None,
        [one] if one.allowed() <= 0 => Some(PodBlock::Pdb(p.key.to_string(), one.name.clone())),
        [_] => None,
        many => Some(PodBlock::Pdb(
            p.key.to_string(),
            format!(
                "{} (the pod is covered by {} PDBs, which the Eviction API refuses)",
                many[0].name,
                many.len()
            ),
        )),
    }
}

/// Build the engine's input from `cluster` at `now`, pricing with `catalog` in `region`.
/// `instances` gives EC2's facts per provider id (subnet, security groups) when known.
pub fn input_from_cluster(
    cluster: &Cluster,
    catalog: &Catalog,
    region: &str,
    now: Timestamp,
    instances: &BTreeMap<String, InstanceFacts>,
) -> Result<(DisruptionInput, Vec<String>), AdapterError> {
    let prepared = cluster.problem(catalog, region, &ProblemOptions::default())?;
    input_from_prepared(cluster, prepared, now, instances)
}

/// [`input_from_cluster`] with the instance types a cloud provider lists (`run`: priced, with
/// its unavailable offerings), instead of a catalog's, then narrowed as the cluster model
/// narrows them (`Cluster::problem_with_types`).
pub fn input_from_cluster_with_types(
    cluster: &Cluster,
    types: Vec<InstanceType>,
    now: Timestamp,
    instances: &BTreeMap<String, InstanceFacts>,
) -> Result<(DisruptionInput, Vec<String>), AdapterError> {
    let prepared = cluster.problem_with_types(|_| Ok(types), &ProblemOptions::default())?;
    input_from_prepared(cluster, prepared, now, instances)
}

fn input_from_prepared(
    cluster: &Cluster,
    prepared: karpenter_state::problem::Prepared,
    now: Timestamp,
    instances: &BTreeMap<String, InstanceFacts>,
) -> Result<(DisruptionInput, Vec<String>), AdapterError> {
    let mut notes = prepared.notes.clone();
    let problem = prepared.problem;
    let pools: Vec<PoolSettings> = cluster
        .node_pools()
        .map(|e| PoolSettings::from_nodepool(&e.pool))
        .collect::<Result<_, _>>()?;
    // PDBs with their allowed disruptions, computed from the bound pods.
    let bound: Vec<&StatePod> = cluster.pods().filter(|p| p.node().is_some()).collect();
    let pdbs: Vec<PdbState> = cluster
        .pdbs()
        .map(|pdb| PdbState::compute(pdb, bound.iter().copied()))
        .collect::<Result<_, _>>()
        .map_err(|e| AdapterError::State(karpenter_state::Error::new(e)))?;
    let existing: BTreeMap<&str, &ExistingNode> = problem
        .existing_nodes
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mut nodes = Vec::new();
    let by_node = cluster.pods_by_node();
    for sn in cluster.state_nodes() {
        let name = sn.name();
        let claim = sn.claim.map(|c| &c.claim);
        let conds = claim
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.conditions.as_ref());
        let pool_name = sn.node_pool().map(str::to_string);
        let pool_entry = pool_name.as_deref().and_then(|p| cluster.node_pool(p));
        let settings = pool_name
            .as_deref()
            .and_then(|p| pools.iter().find(|s| s.name == p));
        let deleting = sn.deleting();
        let mut en = match (existing.get(name), sn.node, sn.claim) {
            (Some(e), _, _) if !deleting => (*e).clone(),
            // A NodeClaim not launched yet brings no capacity.
            (None, None, _) if !deleting => continue,
            (_, Some(n), _) => n.existing(),
            (_, None, Some(c)) => c.in_flight(),
            (_, None, None) => continue,
        };
        if deleting {
            // Their pods are already among the problem's pods to place.
            en.requested = Default::default();
            en.pods.clear();
        }
        let labels = sn.labels().clone();
        let annotations = claim
            .and_then(|c| c.metadata.annotations.clone())
            .or_else(|| sn.node.map(|n| n.annotations.clone()))
            .unwrap_or_default();
        let created = claim
            .and_then(|c| c.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .or_else(|| sn.node.and_then(|n| n.created))
            .unwrap_or(now);
        let initialized = sn.initialized();
        let initialized_at = condition(conds, "Initialized")
            .filter(|c| c.status == "True")
            .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
            .or(initialized.then_some(created));
        let pods_here: &[&StatePod] = by_node.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let newest_start = pods_here.iter().filter_map(|p| p.started).max();
        let last_pod_event = claim
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.last_pod_event_time.as_ref().map(|t| t.0))
            .or(newest_start);
        let node_dnd = match sn.node {
            Some(n) => n.annotations.get(l::DO_NOT_DISRUPT).map(String::as_str) == Some("true"),
            None => annotations.get(l::DO_NOT_DISRUPT).map(String::as_str) == Some("true"),
        };
        let expire_after = match claim.and_then(|c| c.spec.expire_after.as_deref()) {
            Some(s) => parse_duration_or_never(s).unwrap_or(settings.and_then(|s| s.expire_after)),
            None => settings.and_then(|s| s.expire_after),
        };
        let termination_grace_period =
            match claim.and_then(|c| c.spec.termination_grace_period.as_deref()) {
                Some(s) => parse_duration(s),
                None => settings.and_then(|s| s.termination_grace_period),
            };
        let node_class = pool_entry
            .and_then(|e| cluster.node_class(&e.pool.spec.template.spec.node_class_ref.name));
        let np_annotations = pool_entry
            .and_then(|e| e.pool.metadata.annotations.clone())
            .unwrap_or_default();
        let empty_reqs = Vec::new();
        let np_reqs = pool_entry.map_or(&empty_reqs, |e| &e.pool.spec.template.spec.requirements);
        let provider_id = sn
            .claim
            .and_then(|c| c.provider_id())
            .or_else(|| sn.node.and_then(|n| n.provider_id.as_deref()));
        let drift = pool_entry.and_then(|_| {
            drift::detect(
                &DriftInput {
                    launched: claim.is_none() || is_true(condition(conds, "Launched")),
                    created,
                    labels: &labels,
                    annotations: &annotations,
                    image_id: claim
                        .and_then(|c| c.status.as_ref())
                        .and_then(|s| s.image_id.as_deref()),
                    drifted_condition: condition(conds, "Drifted"),
                    nodepool_annotations: &np_annotations,
                    nodepool_requirements: np_reqs,
                    instance_types: Some(&problem.instance_types),
                    node_class,
                    instance: provider_id.and_then(|p| instances.get(p)),
                },
                now,
            )
        });
        let mut pods = Vec::new();
        for p in pods_here {
            let Ok(sched) = &p.scheduling else {
                notes.push(format!(
                    "Pod {} on node {name} cannot be simulated, so the node is not disrupted",
                    p.key
                ));
                continue;
            };
            pods.push(BoundPod {
                pod: sched.clone(),
                reschedulable: p.reschedulable() && !deleting,
                eviction_cost: eviction_cost(
                    p.annotations.get(l::POD_DELETION_COST).map(String::as_str),
                    None,
                ),
                blocks: pod_block(p, &pdbs, now),
                start_time: p.started,
            });
        }
        let it = labels
            .get(l::INSTANCE_TYPE)
            .and_then(|t| problem.instance_types.iter().find(|x| &x.name == t));
        let price = it.map_or(0.0, |it| {
            node_price(
                it,
                labels.get(l::ZONE).map_or("", String::as_str),
                labels.get(l::CAPACITY_TYPE).map_or("", String::as_str),
            )
        });
        let unsimulatable = pods.len() < pods_here.len();
        nodes.push(NodeInput {
            node: en,
            managed: pool_name.is_some(),
            node_pool: pool_name,
            ready: true,
            marked_for_deletion: deleting,
            instance_terminating: is_true(condition(conds, "InstanceTerminating")),
            nominated: false,
            do_not_disrupt: node_dnd || unsimulatable,
            created,
            initialized_at,
            last_pod_event,
            consolidatable_condition: is_true(condition(conds, "Consolidatable")),
            expire_after,
            termination_grace_period,
            drift,
            pods,
            price,
        });
    }
    Ok((
        DisruptionInput {
            now,
            pools,
            scheduling_pools: problem.node_pools,
            instance_types: problem.instance_types,
            daemon_sets: problem.daemon_sets,
            nodes,
            pending_pods: problem.pods,
        },
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Options, Strategy};
    use crate::plan::{Blocker, Reason};
    use karpenter_state::{Reader, Source};

    const NOW: &str = "2026-03-02T12:00:00Z";

    fn node(name: &str, ty: &str, extra: &str) -> String {
        format!(
            r#"---
apiVersion: v1
kind: Node
metadata:
  name: {name}
  creationTimestamp: "2026-02-20T00:00:00Z"
  labels:
    karpenter.sh/nodepool: default
    karpenter.sh/initialized: "true"
    karpenter.sh/registered: "true"
    node.kubernetes.io/instance-type: {ty}
    topology.kubernetes.io/zone: us-east-1a
    karpenter.sh/capacity-type: on-demand
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
  {extra}
spec:
  providerID: aws:///us-east-1a/i-{name}
status:
  capacity: {{cpu: "4", memory: 16Gi, pods: "58"}}
  allocatable: {{cpu: 3920m, memory: 15Gi, pods: "58"}}
"#
        )
    }

    fn pod(name: &str, node: &str, app: &str, annotations: &str) -> String {
        format!(
            r#"---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
  labels: {{app: {app}}}
  annotations: {{{annotations}}}
spec:
  nodeName: {node}
  containers:
  - name: c
    image: x
    resources: {{requests: {{cpu: 200m, memory: 256Mi}}}}
status:
  phase: Running
  startTime: "2026-03-02T11:30:00Z"
"#
        )
    }

    fn cluster() -> Cluster {
        let mut text = String::from(
            r#"apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
      - {key: kubernetes.io/arch, operator: In, values: [amd64]}
  disruption:
    budgets: [{nodes: "100%"}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db, namespace: default}
spec:
  maxUnavailable: 0
  selector: {matchLabels: {app: db}}
"#,
        );
        text.push_str(&node("a", "m5.xlarge", ""));
        text.push_str(&node("b", "m5.xlarge", ""));
        text.push_str(&node("c", "m5.xlarge", ""));
        text.push_str(&node(
            "d",
            "m5.xlarge",
            "annotations: {karpenter.sh/do-not-disrupt: \"true\"}",
        ));
        text.push_str(&node("e", "m5.xlarge", ""));
        text.push_str(&pod("web-1", "a", "web", ""));
        text.push_str(&pod("web-2", "b", "web", ""));
        text.push_str(&pod("db-1", "c", "db", ""));
        text.push_str(&pod("web-3", "d", "web", ""));
        // Started 30 minutes ago with a 1h do-not-disrupt: still protected at NOW.
        text.push_str(&pod(
            "batch-1",
            "e",
            "batch",
            "karpenter.sh/do-not-disrupt: 1h",
        ));
        let mut r = Reader::new(Source::Manifests);
        r.add_source("test.yaml", &text).unwrap();
        r.cluster
    }

    #[test]
    fn a_cluster_from_manifests_plans_with_every_blocker_named() {
        let c = cluster();
        let now: Timestamp = NOW.parse().unwrap();
        let (input, _notes) =
            input_from_cluster(&c, Catalog::embedded(), "us-east-1", now, &BTreeMap::new())
                .unwrap();
        assert_eq!(input.nodes.len(), 5);
        assert!(input
            .nodes
            .iter()
            .all(|n| n.managed && n.node.initialized && n.price > 0.0));
        // The last pod event falls back to the newest pod start.
        assert_eq!(
            input.nodes[0].last_pod_event,
            Some("2026-03-02T11:30:00Z".parse().unwrap())
        );
        let (plan, _) = crate::plan(
            &input,
            &Options {
                strategy: Strategy::Karpenter,
                ..Options::default()
            },
        )
        .unwrap();
        let disrupted: Vec<&String> = plan.commands.iter().flat_map(|c| &c.candidates).collect();
        assert!(
            disrupted.contains(&&"a".to_string()) || disrupted.contains(&&"b".to_string()),
            "{:#?}",
            plan.commands
        );
        assert!(plan
            .commands
            .iter()
            .all(|c| c.reason == Reason::Underutilized));
        let why = |n: &str| {
            plan.unchosen
                .iter()
                .find(|u| u.node == n)
                .map(|u| u.blocker.clone())
        };
        assert_eq!(why("c"), Some(Blocker::Pdb("default/db".into())));
        assert_eq!(why("d"), Some(Blocker::DoNotDisruptNode));
        assert_eq!(
            why("e"),
            Some(Blocker::DoNotDisruptPod("default/batch-1".into()))
        );
        assert!(plan.price_per_hour_after < plan.price_per_hour_before);
    }

    #[test]
    fn do_not_disrupt_duration_form() {
        use karpenter_state::pod::opt_out;
        let now: Timestamp = NOW.parse().unwrap();
        let started = Some("2026-03-02T11:30:00Z".parse().unwrap());
        let active = |v: Option<&str>| {
            let a: BTreeMap<String, String> = v
                .map(|v| (l::DO_NOT_DISRUPT.to_string(), v.to_string()))
                .into_iter()
                .collect();
            matches!(
                opt_out(&a, &[l::DO_NOT_DISRUPT], started, now),
                OptOut::Active(_)
            )
        };
        assert!(active(Some("true")));
        assert!(active(Some("1h")));
        assert!(!active(Some("20m")), "expired after 20 minutes");
        assert!(!active(Some("false")));
        assert!(!active(Some("forever")), "invalid values do not block");
        assert!(!active(None));
    }

    #[test]
    fn pdb_allowed_disruptions() {
        use k8s_openapi::api::policy::v1::PodDisruptionBudget;
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        let pods: Vec<StatePod> = (0..3)
            .map(|i| {
                StatePod::new(
                    &serde_json::from_value(serde_json::json!({
                        "metadata": {"name": format!("p{i}"), "labels": {"app": "a"}},
                        "spec": {"nodeName": "n", "containers": []}
                    }))
                    .unwrap(),
                )
            })
            .collect();
        let mut pdb: PodDisruptionBudget = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "b", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "minAvailable": "50%"}
        }))
        .unwrap();
        let allowed = |pdb: &PodDisruptionBudget| PdbState::compute(pdb, &pods).unwrap().allowed();
        assert_eq!(allowed(&pdb), 1, "50% of 3 rounds up to 2 available");
        pdb.spec.as_mut().unwrap().min_available = None;
        pdb.spec.as_mut().unwrap().max_unavailable = Some(IntOrString::Int(2));
        assert_eq!(allowed(&pdb), 2);
        pdb.status = Some(k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus {
            disruptions_allowed: 0,
            ..Default::default()
        });
        assert_eq!(allowed(&pdb), 0, "the status wins when present");
    }
}

//! The engine's input model: pods, NodePools, DaemonSets and existing nodes, without any
//! Kubernetes client types. Field names follow the Kubernetes API (camelCase in serde).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::requirements::NodeSelectorRequirement;
use crate::resources::Resources;

/// A taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaintEffect {
    /// Pods that do not tolerate it are not scheduled.
    NoSchedule,
    /// Soft: the scheduler prefers to avoid it.
    PreferNoSchedule,
    /// Pods that do not tolerate it are evicted.
    NoExecute,
}

/// A node or NodePool taint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    #[serde(default)]
    pub value: String,
    /// Effect.
    pub effect: TaintEffect,
}

/// A pod toleration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Toleration {
    /// Key; empty with `Exists` tolerates everything.
    #[serde(default)]
    pub key: String,
    /// `Equal` (default) or `Exists`.
    #[serde(default)]
    pub operator: String,
    /// Value for `Equal`.
    #[serde(default)]
    pub value: String,
    /// Effect; `None` matches every effect.
    #[serde(default)]
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    /// Whether this toleration tolerates `t` (Kubernetes `ToleratesTaint`).
    pub fn tolerates(&self, t: &Taint) -> bool {
        if let Some(e) = self.effect {
            if e != t.effect {
                return false;
            }
        }
        if !self.key.is_empty() && self.key != t.key {
            return false;
        }
        match self.operator.as_str() {
            "Exists" => true,
            _ => self.key == t.key && self.value == t.value,
        }
    }
}

/// Whether `tolerations` tolerate every taint in `taints`, ignoring `PreferNoSchedule` when
/// `ignore_prefer` is set. Returns the first untolerated taint.
pub fn untolerated<'a>(
    tolerations: &[Toleration],
    taints: &'a [Taint],
    ignore_prefer: bool,
) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        let soft = ignore_prefer && t.effect == TaintEffect::PreferNoSchedule;
        !soft && !tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

/// A label selector (`matchLabels` AND `matchExpressions`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact label matches.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based expressions (`In`, `NotIn`, `Exists`, `DoesNotExist`).
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based label selector expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values.
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether `labels` match. An empty selector matches everything.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let got = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => got.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => got.is_none_or(|v| !e.values.contains(v)),
                    "Exists" => got.is_some(),
                    "DoesNotExist" => got.is_none(),
                    _ => false,
                }
            })
    }
}

/// `whenUnsatisfiable` of a topology spread constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum WhenUnsatisfiable {
    /// Hard constraint.
    #[default]
    DoNotSchedule,
    /// Preference, relaxed by the scheduler when it cannot be met.
    ScheduleAnyway,
}

/// `nodeAffinityPolicy` / `nodeTaintsPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InclusionPolicy {
    /// Take the pod's node affinity (or the node taints) into account.
    Honor,
    /// Ignore them.
    Ignore,
}

/// A topology spread constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    /// Maximum allowed skew.
    pub max_skew: i32,
    /// Topology key (zone, hostname, capacity type, or any node label).
    pub topology_key: String,
    /// Hard or soft.
    #[serde(default)]
    pub when_unsatisfiable: WhenUnsatisfiable,
    /// Which pods count.
    #[serde(default)]
    pub label_selector: LabelSelector,
    /// Minimum number of eligible domains.
    #[serde(default)]
    pub min_domains: Option<i32>,
    /// Default `Honor`.
    #[serde(default)]
    pub node_affinity_policy: Option<InclusionPolicy>,
    /// Default `Ignore`.
    #[serde(default)]
    pub node_taints_policy: Option<InclusionPolicy>,
    /// Label keys whose values (from this pod) are folded into the selector.
    #[serde(default)]
    pub match_label_keys: Vec<String>,
}

/// A pod (anti-)affinity term.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    /// Which pods the term refers to.
    #[serde(default)]
    pub label_selector: LabelSelector,
    /// Namespaces; empty means the pod's own namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Topology key.
    pub topology_key: String,
}

/// A weighted preference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Weighted<T> {
    /// Weight 1–100.
    pub weight: i32,
    /// The preferred term.
    pub term: T,
}

/// A host port a container binds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPort {
    /// Host IP; empty, `0.0.0.0` and `::` mean every address.
    #[serde(default)]
    pub host_ip: String,
    /// Port.
    pub port: i32,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: String,
}

impl HostPort {
    /// Whether two host ports conflict.
    pub fn conflicts(&self, o: &HostPort) -> bool {
        let any = |ip: &str| ip.is_empty() || ip == "0.0.0.0" || ip == "::";
        let proto = |p: &str| {
            if p.is_empty() {
                "TCP".to_string()
            } else {
                p.to_string()
            }
        };
        self.port == o.port
            && proto(&self.protocol) == proto(&o.protocol)
            && (any(&self.host_ip) || any(&o.host_ip) || self.host_ip == o.host_ip)
    }
}

/// A pending pod, reduced to what scheduling needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (tie-breaker in the queue order).
    #[serde(default)]
    pub uid: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Effective requests (the engine adds `pods: 1`).
    #[serde(default)]
    pub requests: Resources,
    /// `spec.nodeSelector`.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Required node affinity: OR of terms, each an AND of requirements.
    #[serde(default)]
    pub required_node_affinity: Vec<Vec<NodeSelectorRequirement>>,
    /// Preferred node affinity.
    #[serde(default)]
    pub preferred_node_affinity: Vec<Weighted<Vec<NodeSelectorRequirement>>>,
    /// Tolerations.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Topology spread constraints.
    #[serde(default)]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// Required pod affinity.
    #[serde(default)]
    pub pod_affinity: Vec<PodAffinityTerm>,
    /// Preferred pod affinity.
    #[serde(default)]
    pub preferred_pod_affinity: Vec<Weighted<PodAffinityTerm>>,
    /// Required pod anti-affinity.
    #[serde(default)]
    pub pod_anti_affinity: Vec<PodAffinityTerm>,
    /// Preferred pod anti-affinity.
    #[serde(default)]
    pub preferred_pod_anti_affinity: Vec<Weighted<PodAffinityTerm>>,
    /// Host ports.
    #[serde(default)]
    pub host_ports: Vec<HostPort>,
    /// Node requirements from bound PersistentVolumes or StorageClass allowed topologies.
    #[serde(default)]
    pub volume_requirements: Vec<NodeSelectorRequirement>,
    /// Creation order (earlier first among equal requests).
    #[serde(default)]
    pub creation_index: i64,
}

/// A DaemonSet's pod template, for overhead.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSet {
    /// Name (for messages).
    pub name: String,
    /// The daemon pod (requests, nodeSelector, affinity, tolerations, host ports).
    pub pod: Pod,
}

/// A NodePool, reduced to what scheduling needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePool {
    /// Name.
    pub name: String,
    /// Weight (higher first).
    #[serde(default)]
    pub weight: i32,
    /// Template requirements.
    #[serde(default)]
    pub requirements: Vec<NodeSelectorRequirement>,
    /// Template labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Startup taints (need not be tolerated).
    #[serde(default)]
    pub startup_taints: Vec<Taint>,
    /// `spec.limits` in engine units (`cpu` millis, `memory` bytes, `nodes`, ...).
    #[serde(default)]
    pub limits: BTreeMap<String, i64>,
    /// The nodeclass label value (`karpenter.k8s.aws/ec2nodeclass`).
    #[serde(default)]
    pub node_class: String,
}

/// A pod already running on an existing node (for topology counting).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningPod {
    /// Namespace.
    pub namespace: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its required anti-affinity terms (they block matching new pods).
    #[serde(default)]
    pub pod_anti_affinity: Vec<PodAffinityTerm>,
}

/// An existing Node or an in-flight NodeClaim.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistingNode {
    /// Node name (its hostname).
    pub name: String,
    /// Labels (zone, instance type, capacity type, nodepool, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints currently on the node.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Capacity (counted against its NodePool's limits).
    #[serde(default)]
    pub capacity: Resources,
    /// Allocatable.
    #[serde(default)]
    pub allocatable: Resources,
    /// Requests of pods already bound.
    #[serde(default)]
    pub requested: Resources,
    /// Pods already bound (labels only).
    #[serde(default)]
    pub pods: Vec<RunningPod>,
    /// Host ports already bound.
    #[serde(default)]
    pub host_ports: Vec<HostPort>,
    /// Initialized nodes are tried first.
    #[serde(default = "yes")]
    pub initialized: bool,
}

fn yes() -> bool {
    true
}

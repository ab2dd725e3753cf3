//! Pod rules in one place (upstream `pkg/utils/pod/scheduling.go`): which pods Karpenter
//! provisions for (`IsProvisionable`), which are bound to a node, and which would be
//! rescheduled if their node went away (`IsReschedulable`).
//!
//! A [`StatePod`] keeps only what scheduling and disruption read, not the whole object.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::jiff::Timestamp;
use karpenter_scheduling::Pod;

use karpenter_api::labels::{DISRUPTED_TAINT_KEY, DO_NOT_DISRUPT};

use crate::error::Error;
use crate::translate::{labels_of, pod_from_spec};
use crate::volume::{volume_refs, VolumeRef};

/// A pod's `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey {
    /// Namespace (`default` when unset).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for PodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What a pod is to provisioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodRole {
    /// Provisionable: Karpenter would plan capacity for it.
    Pending,
    /// Bound to this node.
    Bound(String),
    /// Neither, and why (terminal, being deleted, a DaemonSet pod, gated, nominated, another
    /// scheduler's pod the scheduler has not marked unschedulable, ...).
    Skip(&'static str),
}

pub(crate) fn is_deleting(meta: &meta::ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

pub(crate) fn owner_kind_is(meta: &meta::ObjectMeta, kinds: &[&str]) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| kinds.contains(&o.kind.as_str()))
}

/// Upstream's `IsProvisionable`, widened to pods the default kube-scheduler has not looked at
/// yet (no `PodScheduled` condition): a snapshot or a manifest may show them before the
/// scheduler does. Pods with a node name are [`PodRole::Bound`].
pub fn role(pod: &core::Pod) -> PodRole {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        return PodRole::Skip("it has terminated");
    }
    let spec = pod.spec.as_ref();
    if let Some(node) = spec.and_then(|s| s.node_name.as_deref()) {
        if !node.is_empty() {
            return PodRole::Bound(node.to_string());
        }
    }
    if is_deleting(&pod.metadata) {
        return PodRole::Skip("it is being deleted");
    }
    if owner_kind_is(&pod.metadata, &["DaemonSet", "Node"]) {
        return PodRole::Skip("it is a DaemonSet or static pod");
    }
    if status
        .and_then(|s| s.nominated_node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
    {
        return PodRole::Skip("it is nominated to a node");
    }
    if spec
        .and_then(|s| s.scheduling_gates.as_ref())
        .is_some_and(|g| !g.is_empty())
    {
        return PodRole::Skip("it has scheduling gates");
    }
    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    match scheduled {
        Some(c) if c.status == "False" && c.reason.as_deref() == Some("Unschedulable") => {
            PodRole::Pending
        }
        Some(_) => PodRole::Skip("the kube-scheduler has not marked it Unschedulable"),
        None => {
            let scheduler = spec.and_then(|s| s.scheduler_name.as_deref()).unwrap_or("");
            if scheduler.is_empty() || scheduler == "default-scheduler" {
                PodRole::Pending
            } else {
                PodRole::Skip("another scheduler has not marked it Unschedulable")
            }
        }
    }
}

/// A pod as the cluster model keeps it.
#[derive(Debug, Clone)]
pub struct StatePod {
    /// `namespace/name`.
    pub key: PodKey,
    /// `metadata.uid` (empty for manifests).
    pub uid: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations (do-not-disrupt and friends are read from here).
    pub annotations: BTreeMap<String, String>,
    /// Provisionable, bound, or neither.
    pub role: PodRole,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// Owned by a DaemonSet or a Node (mirror pod): never rescheduled.
    pub daemon: bool,
    /// A mirror (static) pod: owned by its Node or annotated `kubernetes.io/config.mirror`
    /// (upstream `IsOwnedByNode`). No eviction is ever attempted for it, so no PDB applies.
    pub mirror: bool,
    /// Owned by a StatefulSet: terminating, it is still re-created elsewhere (upstream
    /// `IsOwnedByStatefulSet`).
    pub stateful_set: bool,
    /// `metadata.creationTimestamp`.
    pub created: Option<Timestamp>,
    /// `status.startTime`.
    pub started: Option<Timestamp>,
    /// The engine's view, or why the pod cannot be simulated.
    pub scheduling: Result<Pod, Error>,
    /// Claims its volumes use.
    pub volumes: Vec<VolumeRef>,
    /// `Succeeded` or `Failed`.
    pub terminal: bool,
    /// `status.phase` is `Pending` (the Eviction API deletes such pods without a budget).
    pub phase_pending: bool,
    /// Its `Ready` condition is `True`; a pod without any status (a manifest) is taken as
    /// running and Ready.
    pub ready: bool,
    /// Tolerates `karpenter.sh/disrupted:NoSchedule`: a drain neither evicts nor waits for it.
    pub tolerates_disrupted: bool,
}

/// A pod's `karpenter.sh/do-not-disrupt` (or another opt-out annotation) at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptOut {
    /// Not annotated, `"false"`, or a duration that has passed.
    Inactive,
    /// `"true"`, or a duration (v1.12+) that has not passed since the pod started (or the pod
    /// has not started): `key=value`.
    Active(String),
    /// Another value: `key=value`. Upstream ignores it; a destructive batch command may
    /// prefer to treat it as protecting.
    Unrecognized(String),
}

/// Upstream's `HasDoNotDisrupt` (`pkg/utils/pod/scheduling.go`, the duration form from v1.12)
/// over `keys` in order: the first active opt-out wins.
pub fn opt_out(
    annotations: &BTreeMap<String, String>,
    keys: &[&str],
    started: Option<Timestamp>,
    now: Timestamp,
) -> OptOut {
    let mut out = OptOut::Inactive;
    for k in keys {
        let Some(v) = annotations.get(*k).map(|v| v.trim()) else {
            continue;
        };
        let shown = format!("{k}={v}");
        match v {
            "" | "false" => {}
            "true" => return OptOut::Active(shown),
            _ => match karpenter_convert::duration::parse_go(v) {
                Some(nanos) => {
                    let protecting = nanos > 0
                        && started.is_none_or(|s| now.duration_since(s).as_nanos() < nanos as i128);
                    if protecting {
                        return OptOut::Active(shown);
                    }
                }
                None => {
                    if out == OptOut::Inactive {
                        out = OptOut::Unrecognized(shown);
                    }
                }
            },
        }
    }
    out
}

/// Whether the pod tolerates `karpenter.sh/disrupted:NoSchedule`.
fn tolerates_disrupted_taint(spec: &core::PodSpec) -> bool {
    spec.tolerations.iter().flatten().any(|t| {
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
}

impl StatePod {
    /// Build from a pod object. `uid` overrides the engine's tie-breaker (`namespace/name`).
    pub fn new(pod: &core::Pod) -> StatePod {
        let key = PodKey {
            namespace: pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_string()),
            name: pod.metadata.name.clone().unwrap_or_default(),
        };
        let role = role(pod);
        let default_spec = core::PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&default_spec);
        let bound = matches!(role, PodRole::Bound(_));
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref());
        let mirror = pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
        StatePod {
            terminal: matches!(phase, Some("Succeeded" | "Failed")),
            phase_pending: phase == Some("Pending"),
            ready: match status {
                None => true,
                Some(s) => s
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True"),
            },
            tolerates_disrupted: tolerates_disrupted_taint(spec),
            scheduling: pod_from_spec(
                &key.namespace,
                &key.name,
                labels_of(Some(&pod.metadata)),
                spec,
                0,
            ),
            volumes: volume_refs(&key.name, spec, bound),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            labels: labels_of(Some(&pod.metadata)),
            annotations: pod.metadata.annotations.clone().unwrap_or_default(),
            deleting: is_deleting(&pod.metadata),
            daemon: owner_kind_is(&pod.metadata, &["DaemonSet", "Node"]) || mirror,
            mirror: owner_kind_is(&pod.metadata, &["Node"]) || mirror,
            stateful_set: owner_kind_is(&pod.metadata, &["StatefulSet"]),
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
            started: pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0),
            role,
            key,
        }
    }

    /// The node it is bound to.
    pub fn node(&self) -> Option<&str> {
        match &self.role {
            PodRole::Bound(n) => Some(n),
            _ => None,
        }
    }

    /// Would be re-planned if its node went away (upstream `IsReschedulable`): not a DaemonSet
    /// or static pod, not terminal, and not being deleted unless a StatefulSet owns it (its
    /// replacement pod keeps the identity, so it must find room too).
    pub fn reschedulable(&self) -> bool {
        !self.daemon && !self.terminal && (!self.deleting || self.stateful_set)
    }

    /// Counts for topology spread and anti-affinity on its node (not terminating).
    pub fn counts(&self) -> bool {
        !self.deleting
    }

    /// A drain evicts it (upstream `IsEvictable`): not terminal, not terminating, not a
    /// DaemonSet or static pod, not tolerating the disrupted taint.
    pub fn evictable(&self) -> bool {
        !self.terminal && !self.deleting && !self.daemon && !self.tolerates_disrupted
    }

    /// Its `karpenter.sh/do-not-disrupt` at `now`.
    pub fn do_not_disrupt(&self, now: Timestamp) -> OptOut {
        opt_out(&self.annotations, &[DO_NOT_DISRUPT], self.started, now)
    }
}

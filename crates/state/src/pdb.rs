//! PodDisruptionBudget arithmetic as the Kubernetes disruption controller and the Eviction API
//! apply it (upstream Karpenter: `pkg/utils/pdb/pdb.go`): which pods a budget covers, how many
//! disruptions it allows, and whether an eviction of a given pod would be refused.
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use karpenter_api::selector::Selector;

use crate::pod::StatePod;

/// A PDB's computed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdbState {
    /// `namespace/name`.
    pub name: String,
    /// Pods needed healthy.
    pub desired_healthy: i64,
    /// Covered pods that are Ready and not terminating.
    pub current_healthy: i64,
    /// `max(0, current_healthy - desired_healthy)`, computed from the pods.
    pub disruptions_allowed: i64,
    /// `status.disruptionsAllowed` as the disruption controller last wrote it.
    pub status_disruptions_allowed: Option<i64>,
    /// `spec.unhealthyPodEvictionPolicy == AlwaysAllow`.
    pub always_allow_unhealthy: bool,
    selector: Option<Selector>,
    namespace: String,
}

fn scaled(value: &IntOrString, total: i64, round_up: bool) -> Result<i64, String> {
    match value {
        IntOrString::Int(n) => Ok(i64::from(*n)),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse().ok())
                .filter(|p| (0..=100).contains(p))
                .ok_or_else(|| format!("{s:?} is neither an integer nor a percentage"))?;
            let product = pct.saturating_mul(total);
            Ok(if round_up {
                (product + 99) / 100
            } else {
                product / 100
            })
        }
    }
}

impl PdbState {
    /// Compute a PDB's state from the pods in the cluster.
    pub fn compute<'a>(
        pdb: &PodDisruptionBudget,
        pods: impl IntoIterator<Item = &'a StatePod>,
    ) -> Result<Self, String> {
        let namespace = pdb
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = format!("{namespace}/{}", pdb.metadata.name.as_deref().unwrap_or(""));
        let spec = pdb.spec.clone().unwrap_or_default();
        // policy/v1: a null selector selects no pods; an empty one selects all in the namespace.
        let selector = spec
            .selector
            .as_ref()
            .map(Selector::from_label_selector)
            .transpose()
            .map_err(|e| format!("PDB {name}: {e}"))?;
        let mut state = PdbState {
            name,
            desired_healthy: 0,
            current_healthy: 0,
            disruptions_allowed: 0,
            status_disruptions_allowed: pdb
                .status
                .as_ref()
                .map(|s| i64::from(s.disruptions_allowed)),
            always_allow_unhealthy: spec.unhealthy_pod_eviction_policy.as_deref()
                == Some("AlwaysAllow"),
            selector,
            namespace,
        };
        let covered: Vec<&StatePod> = pods
            .into_iter()
            .filter(|p| !p.terminal && state.covers(p))
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
        state.current_healthy = covered.iter().filter(|p| !p.deleting && p.ready).count() as i64;
        state.desired_healthy = match (&spec.max_unavailable, &spec.min_available) {
            (Some(max), _) => (expected
                - scaled(max, expected, true)
                    .map_err(|e| format!("PDB {}: maxUnavailable {e}", state.name))?)
            .max(0),
            (None, Some(min)) => scaled(min, expected, true)
                .map_err(|e| format!("PDB {}: minAvailable {e}", state.name))?,
            // Neither set: the API server defaults minAvailable to 1.
            (None, None) => 1,
        };
        state.disruptions_allowed = (state.current_healthy - state.desired_healthy).max(0);
        Ok(state)
    }

    /// Whether the budget covers `pod` (same namespace, selector matches).
    pub fn covers(&self, pod: &StatePod) -> bool {
        pod.key.namespace == self.namespace
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.labels))
    }

    /// Whether the Eviction API would refuse to evict `pod` now, by the computed budget.
    pub fn blocks(&self, pod: &StatePod) -> bool {
        if pod.ready {
            return self.disruptions_allowed == 0;
        }
        // Unhealthy pods: AlwaysAllow evicts them; IfHealthyBudget only while the budget holds.
        !(self.always_allow_unhealthy || self.current_healthy >= self.desired_healthy)
    }

    /// Allowed disruptions: the status the disruption controller wrote when there is one,
    /// else the computed value.
    pub fn allowed(&self) -> i64 {
        self.status_disruptions_allowed
            .unwrap_or(self.disruptions_allowed)
    }
}

//! The pods/eviction subresource (`pkg/registry/core/pod/storage/eviction.go`): pods that are terminal, pending
//! or already deleting are deleted outright; otherwise the one PodDisruptionBudget selecting the pod must allow
//! a disruption (429 TooManyRequests when not), `unhealthyPodEvictionPolicy` decides for unhealthy pods, and the
//! eviction is recorded in the budget's status. The budget arithmetic (percentages rounded up, minAvailable /
//! maxUnavailable) follows the disruption controller (`pkg/controller/disruption/disruption.go`).

use super::delete::DeleteOpts;
use super::managed_fields::Tracking;
use super::{meta_str, Store, Sub};
use crate::selectors::{labels_of, match_label_selector_object};
use crate::status::ApiError;
use serde_json::{json, Value};

impl Store {
    /// Evicts a pod, honouring PodDisruptionBudgets as the eviction subresource does.
    pub fn evict(&mut self, ns: &str, name: &str, opts: &DeleteOpts) -> Result<Value, ApiError> {
        let pod_def = self
            .defs
            .iter()
            .find(|d| d.group.is_empty() && d.plural == "pods")
            .cloned()
            .ok_or_else(|| ApiError::internal("pods are not served"))?;
        let pdb_def = self
            .defs
            .iter()
            .find(|d| d.group == "policy" && d.plural == "poddisruptionbudgets")
            .cloned()
            .ok_or_else(|| ApiError::internal("poddisruptionbudgets are not served"))?;
        let pod = self.get(&pod_def, ns, name)?;
        let phase = pod
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if pod.pointer("/metadata/deletionTimestamp").is_some()
            || matches!(phase, "Succeeded" | "Failed" | "Pending")
        {
            self.delete(&pod_def, ns, name, opts)?;
            return Ok(crate::status::success_status(201, None));
        }
        let pod_labels = labels_of(&pod);
        let pdbs: Vec<Value> = self
            .objects
            .iter()
            .filter(|((g, p, ons, _), _)| *g == pdb_def.group && *p == pdb_def.plural && ons == ns)
            .map(|(_, v)| v.clone())
            .filter(|pdb| {
                pdb.pointer("/spec/selector")
                    .is_some_and(|s| !s.is_null() && match_label_selector_object(s, &pod_labels))
            })
            .collect();
        if pdbs.len() > 1 {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        let Some(pdb) = pdbs.into_iter().next() else {
            self.delete(&pod_def, ns, name, opts)?;
            return Ok(crate::status::success_status(201, None));
        };
        let selector = pdb
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or(Value::Null);
        let matching: Vec<&Value> = self
            .objects
            .iter()
            .filter(|((g, p, ons, _), _)| g.is_empty() && *p == "pods" && ons == ns)
            .map(|(_, v)| v)
            .filter(|p| match_label_selector_object(&selector, &labels_of(p)))
            .collect();
        let expected = matching.len() as i64;
        let healthy = matching.iter().filter(|p| pod_is_healthy(p)).count() as i64;
        let desired = desired_healthy(&pdb, expected);
        let allowed = (healthy - desired).max(0);
        let pdb_name = meta_str(&pdb, "name").unwrap_or_default().to_string();
        let policy = pdb
            .pointer("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("IfHealthyBudget");
        let pod_healthy = pod_is_healthy(&pod);
        let permitted = if pod_healthy {
            allowed >= 1
        } else {
            policy == "AlwaysAllow" || healthy >= desired
        };
        if !permitted {
            return Err(ApiError::new(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            )
            .with_details(json!({
                "causes": [{
                    "reason": "DisruptionBudget",
                    "message": format!("The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently"),
                }]
            })));
        }
        // Record the eviction in the budget's status, then delete the pod.
        let mut new_pdb = pdb.clone();
        let remaining = if pod_healthy { allowed - 1 } else { allowed };
        let mut status = pdb.get("status").cloned().unwrap_or_else(|| json!({}));
        if !status.is_object() {
            status = json!({});
        }
        status["disruptionsAllowed"] = json!(remaining);
        status["currentHealthy"] = json!(healthy);
        status["desiredHealthy"] = json!(desired);
        status["expectedPods"] = json!(expected);
        status["observedGeneration"] = pdb
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        if pod_healthy {
            if !status.get("disruptedPods").is_some_and(Value::is_object) {
                status["disruptedPods"] = json!({});
            }
            status["disruptedPods"][name] = json!(self.now_rfc3339());
        }
        new_pdb["status"] = status;
        self.commit(&pdb_def, pdb, new_pdb, Sub::Status, Tracking::Precomputed)?;
        self.delete(&pod_def, ns, name, opts)?;
        Ok(crate::status::success_status(201, None))
    }
}

pub(super) fn pod_is_healthy(pod: &Value) -> bool {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return false;
    }
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Resolves an IntOrString budget against `expected` pods, rounding percentages up.
pub(super) fn scaled(v: &Value, expected: i64) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => match s.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<i64>()
                .ok()
                .map(|pct| (pct * expected + 99) / 100),
            None => s.trim().parse().ok(),
        },
        _ => None,
    }
}

pub(super) fn desired_healthy(pdb: &Value, expected: i64) -> i64 {
    if let Some(v) = pdb.pointer("/spec/maxUnavailable") {
        if let Some(n) = scaled(v, expected) {
            return (expected - n).max(0);
        }
    }
    if let Some(v) = pdb.pointer("/spec/minAvailable") {
        if let Some(n) = scaled(v, expected) {
            return n;
        }
    }
    // Neither set: behave as minAvailable 1 (the v1beta1 default).
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn budget_scaling_rounds_up() {
        assert_eq!(scaled(&json!("50%"), 3), Some(2));
        assert_eq!(scaled(&json!(2), 10), Some(2));
        assert_eq!(
            desired_healthy(&json!({"spec": {"maxUnavailable": "34%"}}), 3),
            1
        );
        assert_eq!(
            desired_healthy(&json!({"spec": {"minAvailable": "100%"}}), 4),
            4
        );
    }
}

//! The pods/binding subresource (`pkg/registry/core/pod/storage/storage.go: BindingREST`), as
//! kube-scheduler binds: `spec.nodeName` and `PodScheduled=True` are set together; a pod that
//! is already bound or being deleted is a conflict.

use super::managed_fields::Tracking;
use super::{Store, Sub};
use crate::status::ApiError;
use serde_json::{json, Value};

impl Store {
    /// Binds a pod to a node, as the `pods/binding` subresource does: sets `spec.nodeName` and
    /// the `PodScheduled=True` condition; a pod that is already bound or being deleted is a
    /// conflict.
    pub fn bind(&mut self, ns: &str, name: &str, node: &str) -> Result<Value, ApiError> {
        let pod_def = self
            .defs
            .iter()
            .find(|d| d.group.is_empty() && d.plural == "pods")
            .cloned()
            .ok_or_else(|| ApiError::internal("pods are not served"))?;
        if node.is_empty() {
            return Err(ApiError::invalid(
                "Binding",
                name,
                vec![("target.name".into(), "Required value".into())],
            ));
        }
        let pod = self.get(&pod_def, ns, name)?;
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::conflict_msg(format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is being deleted, cannot be assigned to a host"
            )));
        }
        if let Some(n) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::conflict_msg(format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{n}\""
            )));
        }
        let mut new = pod.clone();
        new["spec"]["nodeName"] = json!(node);
        if !new.get("status").is_some_and(Value::is_object) {
            new["status"] = json!({});
        }
        let mut conditions: Vec<Value> = new["status"]
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        conditions.push(json!({
            "type": "PodScheduled",
            "status": "True",
            "lastTransitionTime": self.now_rfc3339(),
        }));
        new["status"]["conditions"] = json!(conditions);
        self.commit(
            &pod_def,
            pod,
            new,
            Sub::Whole,
            Tracking::Update("kube-scheduler".into()),
        )?;
        Ok(crate::status::success_status(201, None))
    }
}

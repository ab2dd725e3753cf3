//! The simulated kube-scheduler (see [`super`]).
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use karpenter_scheduling::model::RunningPod;
use karpenter_scheduling::{solve, Problem, SolveOptions, Strategy};
use karpenter_state::{NodeEntry, PodRole, StatePod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::informer::{list_all, Informer};
use super::kubelet::is_ready;
use crate::controllers::clock::Clock;
use crate::controllers::error::{is_conflict, Error, Result};
use crate::controllers::state::marked_unschedulable;

/// A kube-scheduler for the `default-scheduler` pods of a cluster.
pub struct Scheduler {
    client: Client,
    clock: Arc<dyn Clock>,
    /// How often it looks at the pending pods.
    pub poll: Duration,
    /// Pods bound by a pass whose binding the informer has not shown yet (kube-scheduler's
    /// assume cache): `namespace/name` → Node. Only [`Scheduler::run`] reads from informers.
    assumed: Mutex<HashMap<String, String>>,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// `namespace/name` → Node, for each pod bound.
    pub bound: BTreeMap<String, String>,
    /// Pods newly marked Unschedulable.
    pub unschedulable: Vec<String>,
}

impl Scheduler {
    /// A scheduler with a 1 s poll.
    pub fn new(client: Client, clock: Arc<dyn Clock>) -> Self {
        Scheduler {
            client,
            clock,
            poll: Duration::from_secs(1),
            assumed: Mutex::new(HashMap::new()),
        }
    }

    /// Run until aborted: read Pods and Nodes from informers (as kube-scheduler does) and
    /// pass again whenever either changed.
    pub async fn run(self: Arc<Self>) {
        let pods = Informer::<Pod>::spawn(Api::all(self.client.clone()));
        let nodes = Informer::<Node>::spawn(Api::all(self.client.clone()));
        pods.ready().await;
        nodes.ready().await;
        let mut seen = None;
        loop {
            let now = (pods.generation(), nodes.generation());
            if seen != Some(now) {
                match self.pass(&pods.state(), &nodes.state(), true).await {
                    Ok(_) => seen = Some(now),
                    Err(e) => tracing::warn!(error = %e, "simulated kube-scheduler"),
                }
            }
            self.clock.sleep(self.poll).await;
        }
    }

    /// One pass over the pending pods, listed from the API server.
    pub async fn tick(&self) -> Result<Pass> {
        let pods = list_all(Api::<Pod>::all(self.client.clone()), "Pods").await?;
        let nodes = list_all(Api::<Node>::all(self.client.clone()), "Nodes").await?;
        self.pass(&pods, &nodes, false).await
    }

    /// One pass over `pods` and `nodes`. `cached`: they come from informers, which may not show
    /// this scheduler's latest bindings yet; those are taken from the assume cache.
    async fn pass(&self, pods: &[Arc<Pod>], nodes: &[Arc<Node>], cached: bool) -> Result<Pass> {
        // most passes find every pod bound: skip building the model then
        if !pods.iter().any(|p| may_need_binding(p)) {
            if cached {
                self.assumed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
            }
            return Ok(Pass::default());
        }
        let mut assumed = if cached {
            std::mem::take(&mut *self.assumed.lock().unwrap_or_else(|e| e.into_inner()))
        } else {
            HashMap::new()
        };
        let mut existing = Vec::new();
        for n in nodes {
            let unschedulable = n
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            if !is_ready(n) || unschedulable || n.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match NodeEntry::new(n) {
                Ok(e) => existing.push(e.existing()),
                Err(e) => {
                    tracing::warn!(node = %n.name_any(), error = %e, "simulated kube-scheduler skips node")
                }
            }
        }
        let index: BTreeMap<String, usize> = existing
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let mut pending: Vec<(&Pod, karpenter_scheduling::Pod)> = Vec::new();
        let mut still_assumed = HashMap::new();
        for p in pods {
            let p: &Pod = p;
            let sp = StatePod::new(p);
            let key = format!(
                "{}/{}",
                p.namespace().unwrap_or_else(|| "default".into()),
                p.name_any()
            );
            let assumed_on = match (&sp.role, assumed.remove(&key)) {
                (PodRole::Bound(_), _) => None,
                (_, Some(node)) if !sp.deleting => {
                    still_assumed.insert(key, node.clone());
                    Some(node)
                }
                _ => None,
            };
            let Ok(sched) = sp.scheduling.clone() else {
                continue;
            };
            let role = match assumed_on {
                Some(node) => PodRole::Bound(node),
                None => sp.role.clone(),
            };
            match &role {
                PodRole::Bound(node) => {
                    if sp.counts() {
                        if let Some(n) = index.get(node).map(|&i| &mut existing[i]) {
                            let mut r = sched.requests.clone();
                            r.pods = 1;
                            n.requested.add(&r);
                            n.host_ports.extend(sched.host_ports.iter().cloned());
                            n.pods.push(RunningPod {
                                namespace: sched.namespace.clone(),
                                labels: sched.labels.clone(),
                                pod_anti_affinity: sched.pod_anti_affinity.clone(),
                            });
                        }
                    }
                }
                _ => {
                    let spec = p.spec.as_ref();
                    let ours = spec
                        .and_then(|s| s.scheduler_name.as_deref())
                        .is_none_or(|s| s.is_empty() || s == "default-scheduler");
                    let waiting = spec
                        .and_then(|s| s.scheduling_gates.as_ref())
                        .is_some_and(|g| !g.is_empty());
                    let terminal = matches!(
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    );
                    if ours && !waiting && !terminal && !sp.deleting {
                        let mut s = sched;
                        s.creation_index = pending.len() as i64;
                        pending.push((p, s));
                    }
                }
            }
        }
        let mut pass = Pass::default();
        if cached {
            *self.assumed.lock().unwrap_or_else(|e| e.into_inner()) = still_assumed;
        }
        if pending.is_empty() {
            return Ok(pass);
        }
        let problem = Problem {
            existing_nodes: existing,
            pods: pending.iter().map(|(_, s)| s.clone()).collect(),
            ..Problem::default()
        };
        let opts = SolveOptions {
            strategy: Strategy::Karpenter,
            ..SolveOptions::default()
        };
        let solution = solve(&problem, &opts)?;
        for (node, idx) in &solution.existing_nodes {
            for &i in idx {
                let pod = pending[i].0;
                let ns = pod.namespace().unwrap_or_else(|| "default".into());
                let name = pod.name_any();
                let body = json!({
                    "apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": name, "namespace": ns},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node},
                });
                let r: std::result::Result<serde_json::Value, _> =
                    Api::<Pod>::namespaced(self.client.clone(), &ns)
                        .create_subresource("binding", &name, &PostParams::default(), &body)
                        .await;
                match r {
                    Ok(_) => {
                        if cached {
                            self.assumed
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(format!("{ns}/{name}"), node.clone());
                        }
                        pass.bound.insert(format!("{ns}/{name}"), node.clone());
                    }
                    Err(e) if is_conflict(&e) => {}
                    Err(e) => {
                        return Err(Error::kube(
                            format!("bind Pod {ns}/{name} to Node {node}"),
                            e,
                        ))
                    }
                }
            }
        }
        for p in &solution.pending {
            let pod = pending[p.pod].0;
            if marked_unschedulable(pod) {
                continue;
            }
            let ns = pod.namespace().unwrap_or_else(|| "default".into());
            let name = pod.name_any();
            let mut conds = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            conds.retain(|c| c.type_ != "PodScheduled");
            let mut conds = serde_json::to_value(conds).unwrap_or_else(|_| json!([]));
            if let Some(a) = conds.as_array_mut() {
                a.push(json!({
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": format!("0/{} nodes are available: {}", nodes.len(), p.reason),
                    "lastTransitionTime": Time(self.clock.now()),
                }));
            }
            Api::<Pod>::namespaced(self.client.clone(), &ns)
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"conditions": conds}})),
                )
                .await
                .map_err(|e| Error::kube(format!("mark Pod {ns}/{name} Unschedulable"), e))?;
            pass.unschedulable.push(format!("{ns}/{name}"));
        }
        Ok(pass)
    }
}

/// A pod this scheduler may have to bind: no node yet, not terminal, not being deleted.
fn may_need_binding(p: &Pod) -> bool {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_none_or(str::is_empty)
        && p.metadata.deletion_timestamp.is_none()
        && !matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

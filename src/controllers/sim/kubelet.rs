//! The simulated kubelet (see [`super`]).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeSpec, NodeStatus, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use karpenter_api::sh::v1::NodeClaim;
use karpenter_scheduling::labels;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::informer::{list_all, Informer};
use crate::cloud::provider::{CloudProvider, Instance};
use crate::controllers::clock::{since, Clock};
use crate::controllers::error::{is_conflict, is_not_found, Error, Result};
use karpenter_api::labels::{NOT_READY_TAINT_KEY, UNREGISTERED_TAINT_KEY};

/// Marks Nodes this kubelet registered.
pub const SIMULATED_ANNOTATION: &str = "kubectl-karpenter.io/simulated";

/// A kubelet for every instance of one provider.
pub struct Kubelet {
    client: Client,
    provider: Arc<dyn CloudProvider>,
    clock: Arc<dyn Clock>,
    /// How long a Node takes from registration to Ready.
    pub boot_delay: Duration,
    /// How often it looks at the instances.
    pub poll: Duration,
    registered: Mutex<HashMap<String, Timestamp>>,
}

impl Kubelet {
    /// A kubelet with a 1 s poll and the given boot delay.
    pub fn new(
        client: Client,
        provider: Arc<dyn CloudProvider>,
        clock: Arc<dyn Clock>,
        boot_delay: Duration,
    ) -> Self {
        Kubelet {
            client,
            provider,
            clock,
            boot_delay,
            poll: Duration::from_secs(1),
            registered: Mutex::new(HashMap::new()),
        }
    }

    /// Run until aborted: read NodeClaims, Nodes and Pods from informers and pass again
    /// whenever one of them or the instances changed, or a Node is still booting.
    pub async fn run(self: Arc<Self>) {
        let claims = Informer::<NodeClaim>::spawn(Api::all(self.client.clone()));
        let nodes = Informer::<Node>::spawn(Api::all(self.client.clone()));
        let pods = Informer::<Pod>::spawn(Api::all(self.client.clone()));
        claims.ready().await;
        nodes.ready().await;
        pods.ready().await;
        let mut seen = None;
        loop {
            match self.provider.list().await {
                Ok(instances) => {
                    let mut ids: Vec<(&str, &str)> = instances
                        .iter()
                        .map(|i| (i.id.as_str(), i.state.as_str()))
                        .collect();
                    ids.sort_unstable();
                    let now = (
                        claims.generation(),
                        nodes.generation(),
                        pods.generation(),
                        format!("{ids:?}"),
                    );
                    if seen.as_ref() != Some(&now) || self.booting() {
                        let r = self
                            .pass(&instances, &claims.state(), &nodes.state(), &pods.state())
                            .await;
                        match r {
                            Ok(()) => seen = Some(now),
                            Err(e) => tracing::warn!(error = %e, "simulated kubelet"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "simulated kubelet: list instances"),
            }
            self.clock.sleep(self.poll).await;
        }
    }

    /// Whether a Node it registered has not been made Ready yet.
    fn booting(&self) -> bool {
        !self
            .registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// One look, listing from the API server: register new Nodes, make booted ones Ready,
    /// start bound pods.
    pub async fn tick(&self) -> Result<()> {
        let instances = self
            .provider
            .list()
            .await
            .map_err(|e| Error::cloud("list instances", e))?;
        let claims = list_all(Api::<NodeClaim>::all(self.client.clone()), "NodeClaims").await?;
        let nodes = list_all(Api::<Node>::all(self.client.clone()), "Nodes").await?;
        let pods = list_all(Api::<Pod>::all(self.client.clone()), "Pods").await?;
        self.pass(&instances, &claims, &nodes, &pods).await
    }

    async fn pass(
        &self,
        instances: &[Instance],
        claims: &[Arc<NodeClaim>],
        listed: &[Arc<Node>],
        pods: &[Arc<Pod>],
    ) -> Result<()> {
        let claims: HashMap<String, &NodeClaim> =
            claims.iter().map(|c| (c.name_any(), &**c)).collect();
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node_names: HashSet<String> = listed.iter().map(|n| n.name_any()).collect();
        let by_pid: HashMap<String, &Node> = listed
            .iter()
            .filter_map(|n| {
                let pid = n.spec.as_ref().and_then(|s| s.provider_id.clone())?;
                Some((pid, &**n))
            })
            .collect();
        let now = self.clock.now();
        let mut created = HashSet::new();
        for inst in instances.iter().filter(|i| i.state == "running") {
            let Some(claim) = inst.nodeclaim().and_then(|n| claims.get(n)) else {
                continue;
            };
            let pid = inst.provider_id();
            let status = claim.status.clone().unwrap_or_default();
            if status.provider_id.as_deref() != Some(pid.as_str()) {
                continue; // not launched yet as far as Karpenter knows
            }
            match by_pid.get(&pid) {
                None => {
                    let node = node_for(&inst.id, &pid, claim, now);
                    match nodes.create(&PostParams::default(), &node).await {
                        Ok(_) => {
                            tracing::debug!(node = %inst.id, nodeclaim = %claim.name_any(), "simulated kubelet registered node");
                            self.registered
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(inst.id.clone(), now);
                            created.insert(inst.id.clone());
                        }
                        Err(e) if is_conflict(&e) => {}
                        Err(e) => return Err(Error::kube(format!("register Node {}", inst.id), e)),
                    }
                }
                Some(node) if !is_ready(node) => {
                    let at = *self
                        .registered
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(node.name_any())
                        .or_insert(now);
                    if since(now, at) >= self.boot_delay
                        && self.make_ready(&nodes, node, now).await?
                    {
                        self.registered
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&node.name_any());
                    }
                }
                Some(_) => {}
            }
        }
        // only Nodes still coming up count as booting
        let not_ready: HashSet<String> = listed
            .iter()
            .filter(|n| !is_ready(n))
            .map(|n| n.name_any())
            .collect();
        self.registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name, _| created.contains(name) || not_ready.contains(name));
        // an instance that is gone stops its kubelet: the node controller marks the Node's
        // Ready condition Unknown
        let running: HashSet<String> = instances
            .iter()
            .filter(|i| i.state == "running")
            .map(|i| i.provider_id())
            .collect();
        for (pid, node) in &by_pid {
            if node.annotations().contains_key(SIMULATED_ANNOTATION)
                && !running.contains(pid)
                && is_ready(node)
            {
                let name = node.name_any();
                nodes
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": {"conditions": [{
                            "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                            "message": "Kubelet stopped posting node status.",
                            "lastHeartbeatTime": Time(now), "lastTransitionTime": Time(now),
                        }]}})),
                    )
                    .await
                    .map_err(|e| Error::kube(format!("mark Node {name} NotReady"), e))?;
                tracing::debug!(node = %name, "simulated kubelet: instance gone, node not ready");
            }
        }
        self.start_pods(&by_pid, pods).await?;
        self.collect_orphaned_pods(&node_names, pods).await
    }

    /// Pods bound to a Node that no longer exists are deleted (the pod garbage collector's
    /// `gcOrphaned`), as a real cluster does once a Node object is gone.
    async fn collect_orphaned_pods(
        &self,
        node_names: &HashSet<String>,
        pods: &[Arc<Pod>],
    ) -> Result<()> {
        for p in pods {
            let Some(on) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            if on.is_empty() || node_names.contains(&on) {
                continue;
            }
            let ns = p.namespace().unwrap_or_else(|| "default".into());
            match Api::<Pod>::namespaced(self.client.clone(), &ns)
                .delete(&p.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {
                    tracing::debug!(pod = %format!("{ns}/{}", p.name_any()), node = %on,
                        "simulated pod gc: deleted pod of a deleted node")
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(Error::kube(
                        format!("delete orphaned Pod {ns}/{}", p.name_any()),
                        e,
                    ))
                }
            }
        }
        Ok(())
    }

    /// Make a Node Ready; false when it changed meanwhile (next pass).
    async fn make_ready(&self, nodes: &Api<Node>, node: &Node, now: Timestamp) -> Result<bool> {
        let name = node.name_any();
        let mut n = node.clone();
        if let Some(t) = n.spec.as_mut().and_then(|s| s.taints.as_mut()) {
            t.retain(|t| t.key != NOT_READY_TAINT_KEY);
        }
        match nodes.replace(&name, &PostParams::default(), &n).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => return Ok(false), // next pass
            Err(e) => {
                return Err(Error::kube(
                    format!("remove the not-ready taint of Node {name}"),
                    e,
                ))
            }
        }
        nodes
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"conditions": [ready_condition("True", now)]}})),
            )
            .await
            .map_err(|e| Error::kube(format!("mark Node {name} Ready"), e))?;
        tracing::debug!(node = %name, "simulated kubelet: node Ready");
        Ok(true)
    }

    /// Pods bound to Ready simulated Nodes and still Pending become Running and Ready.
    async fn start_pods(&self, nodes: &HashMap<String, &Node>, pods: &[Arc<Pod>]) -> Result<()> {
        let ready: HashSet<String> = nodes
            .values()
            .filter(|n| is_ready(n) && n.annotations().contains_key(SIMULATED_ANNOTATION))
            .map(|n| n.name_any())
            .collect();
        if ready.is_empty() {
            return Ok(());
        }
        for p in pods {
            let on = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            if !ready.contains(&on) || phase == "Running" || p.metadata.deletion_timestamp.is_some()
            {
                continue;
            }
            if matches!(phase.as_str(), "Succeeded" | "Failed") {
                continue;
            }
            let ns = p.namespace().unwrap_or_else(|| "default".into());
            let mut conds = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            conds.retain(|c| c.type_ != "Ready");
            let mut conds = serde_json::to_value(conds).unwrap_or_else(|_| json!([]));
            if let Some(a) = conds.as_array_mut() {
                a.push(json!({"type": "Ready", "status": "True", "lastTransitionTime": Time(self.clock.now())}));
            }
            Api::<Pod>::namespaced(self.client.clone(), &ns)
                .patch_status(
                    &p.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"phase": "Running", "conditions": conds, "startTime": Time(self.clock.now())}})),
                )
                .await
                .map_err(|e| Error::kube(format!("start Pod {ns}/{}", p.name_any()), e))?;
        }
        Ok(())
    }
}

fn ready_condition(status: &str, now: Timestamp) -> serde_json::Value {
    json!({
        "type": "Ready",
        "status": status,
        "reason": if status == "True" { "KubeletReady" } else { "KubeletNotReady" },
        "lastHeartbeatTime": Time(now),
        "lastTransitionTime": Time(now),
    })
}

/// Whether a Node's `Ready` condition is `True`.
pub fn is_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// The Node a kubelet started with Karpenter's user data registers for `claim`.
fn node_for(name: &str, provider_id: &str, claim: &NodeClaim, now: Timestamp) -> Node {
    let status = claim.status.clone().unwrap_or_default();
    let mut lbls: BTreeMap<String, String> = claim.labels().clone();
    lbls.insert(labels::HOSTNAME.into(), name.to_string());
    let mut taints: Vec<Taint> = claim.spec.taints.clone().unwrap_or_default();
    taints.extend(claim.spec.startup_taints.clone().unwrap_or_default());
    taints.push(Taint {
        key: UNREGISTERED_TAINT_KEY.into(),
        effect: "NoExecute".into(),
        ..Taint::default()
    });
    taints.push(Taint {
        key: NOT_READY_TAINT_KEY.into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    });
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(lbls),
            annotations: Some(BTreeMap::from([(
                SIMULATED_ANNOTATION.to_string(),
                "true".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(provider_id.to_string()),
            taints: Some(taints),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            capacity: status.capacity.clone(),
            allocatable: status.allocatable.clone().or(status.capacity),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: Some("KubeletNotReady".into()),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(Time(now)),
                message: None,
            }]),
            ..NodeStatus::default()
        }),
    }
}

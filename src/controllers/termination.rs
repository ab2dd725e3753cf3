//! Termination: the NodeClaim and Node finalizers (upstream
//! `pkg/controllers/nodeclaim/lifecycle/termination.go`, `pkg/controllers/node/termination/
//! controller.go`, `terminator/terminator.go`, `terminator/eviction.go`,
//! `pkg/utils/termination/termination.go`).
//!
//! Deleting a registered NodeClaim (its `karpenter.sh/termination` finalizer, run from
//! [`super::lifecycle`]) stamps `karpenter.sh/nodeclaim-termination-timestamp` (deletion time +
//! `terminationGracePeriod`) when a grace period is set, deletes the NodeClaim's Node and waits
//! for it to go. The Node's own `karpenter.sh/termination` finalizer (this module's controller):
//!
//! 1. deletes the NodeClaim too, if only the Node was deleted;
//! 2. skips to cleanup when the Node is not Ready and the instance is already gone;
//! 3. taints the Node `karpenter.sh/disrupted:NoSchedule` (replacing any taint with that key)
//!    and labels it `node.kubernetes.io/exclude-from-external-load-balancers=karpenter`;
//! 4. drains it: pods past their force-delete time (the termination timestamp minus the pod's
//!    grace period) are deleted outright; the others are evicted through the Eviction API (so
//!    PodDisruptionBudgets hold), one tier at a time — non-critical non-DaemonSet, non-critical
//!    DaemonSet, critical non-DaemonSet, critical DaemonSet (critical: priority class
//!    `system-cluster-critical` or `system-node-critical`). Pods that tolerate the disrupted
//!    taint, static (mirror) pods, terminal pods and pods stuck terminating for over a minute are
//!    neither evicted nor waited for; a pod with an active `karpenter.sh/do-not-disrupt` is
//!    not evicted but waited for (until the grace period deletes it). A 429 (a PDB allows no
//!    disruption) or a 500 for a pod under several PDBs is retried per pod with backoff,
//!    100 ms doubling to 10 s; 404 and 409 mean done. The drain lasts at least
//!    [`Settings::min_drain_time`](super::Settings::min_drain_time) (upstream's 5 s) so pods
//!    racing the taint are caught; then the NodeClaim gets `Drained=True`;
//! 5. deletes the instance through the [`CloudProvider`](crate::cloud::provider::CloudProvider)
//!    (`InstanceTerminating=True`) and polls every 5 s until the provider reports it gone;
//! 6. removes the Node's finalizer ("deleted node"); the NodeClaim's finalizer then repeats
//!    the instance delete until gone and is removed ("deleted nodeclaim").
//!
//! Every step reads the current objects and is idempotent, so a restart at any point resumes.
//! With `dry_run` nothing is written: the controller logs what it would do.
//!
//! **Not modelled:** waiting for VolumeAttachments (`VolumesDetached`): the informers do not
//! watch VolumeAttachments and the API-server double does not serve them, so the instance is
//! deleted once the pods are drained.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Taint as ApiTaint};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use karpenter_api::labels::{
    DISRUPTED_TAINT_KEY, DO_NOT_DISRUPT, EXCLUDE_FROM_EXTERNAL_LB, NODECLAIM_TERMINATION_TIMESTAMP,
    NODEPOOL,
};
use karpenter_api::sh::v1::NodeClaim;
use kube::api::{
    DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams, Preconditions,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::clock::since;
use super::error::{is_conflict, is_not_found, Error, Result};
use super::lifecycle::{condition, instance_id, with_condition};
use super::nodeclaim::TERMINATION_FINALIZER;
use super::Context;
use crate::cloud::provider::CloudError;

/// A pod deleting for longer than this is stuck and no longer waited for.
pub const STUCK_TERMINATING: Duration = Duration::from_secs(60);
/// How often the instance is checked while it terminates.
pub const INSTANCE_POLL: Duration = Duration::from_secs(5);
/// First eviction retry after a 429.
pub const EVICTION_BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest eviction retry interval.
pub const EVICTION_BACKOFF_MAX: Duration = Duration::from_secs(10);

const CRITICAL: [&str; 2] = ["system-cluster-critical", "system-node-critical"];

fn owner_kind_is(pod: &Pod, kind: &str) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == kind)
}

/// A static pod: owned by its Node, or a mirror pod.
pub fn is_static(pod: &Pod) -> bool {
    owner_kind_is(pod, "Node")
        || pod
            .annotations()
            .contains_key("kubernetes.io/config.mirror")
}

/// Owned by a DaemonSet.
pub fn is_daemon(pod: &Pod) -> bool {
    owner_kind_is(pod, "DaemonSet")
}

/// Priority class `system-cluster-critical` or `system-node-critical`.
pub fn is_critical(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.priority_class_name.as_deref())
        .is_some_and(|c| CRITICAL.contains(&c))
}

/// `Succeeded` or `Failed`.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether the pod tolerates `karpenter.sh/disrupted:NoSchedule`.
pub fn tolerates_disrupted(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_ref())
        .into_iter()
        .flatten()
        .any(|t| {
            let op = t.operator.as_deref().unwrap_or("Equal");
            let key = t.key.as_deref().unwrap_or("");
            let effect_ok = t
                .effect
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == "NoSchedule");
            let key_ok = (key.is_empty() && op == "Exists") || key == DISRUPTED_TAINT_KEY;
            let value_ok = op == "Exists" || t.value.as_deref().unwrap_or("").is_empty();
            effect_ok && key_ok && value_ok
        })
}

fn deleting_since(pod: &Pod) -> Option<Timestamp> {
    pod.metadata.deletion_timestamp.as_ref().map(|t| t.0)
}

/// Upstream `IsDrainable`: a pod the drain evicts or waits for — not terminal, not static,
/// not tolerating the disrupted taint, not stuck terminating (over a minute).
pub fn is_drainable(pod: &Pod, now: Timestamp) -> bool {
    !is_terminal(pod)
        && !is_static(pod)
        && !tolerates_disrupted(pod)
        && deleting_since(pod).is_none_or(|t| since(now, t) < STUCK_TERMINATING)
}

/// The eviction tier: 0 non-critical non-DaemonSet, 1 non-critical DaemonSet, 2 critical
/// non-DaemonSet, 3 critical DaemonSet.
pub fn tier(pod: &Pod) -> u8 {
    u8::from(is_critical(pod)) * 2 + u8::from(is_daemon(pod))
}

fn has_do_not_disrupt(pod: &Pod, now: Timestamp) -> bool {
    let Some(v) = pod.annotations().get(DO_NOT_DISRUPT) else {
        return false;
    };
    if v == "true" {
        return true;
    }
    // v1.12+: a duration, counted from the pod's start
    let started = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0);
    match (karpenter_disruption::timing::parse_duration(v), started) {
        (Some(d), Some(s)) => s.checked_add(d).is_ok_and(|until| now < until),
        _ => false,
    }
}

/// The pods to evict now (upstream `Terminator.Evict`): among the drainable pods not yet
/// terminating and without an active do-not-disrupt, those of the first non-empty tier.
pub fn eviction_tier(pods: &[Pod], now: Timestamp) -> Vec<&Pod> {
    let evictable: Vec<&Pod> = pods
        .iter()
        .filter(|p| is_drainable(p, now) && deleting_since(p).is_none())
        .filter(|p| !has_do_not_disrupt(p, now))
        .collect();
    let Some(first) = evictable.iter().map(|p| tier(p)).min() else {
        return Vec::new();
    };
    evictable.into_iter().filter(|p| tier(p) == first).collect()
}

/// When a pod must be deleted regardless of PDBs: the termination time minus the pod's own
/// grace period (upstream `DeleteExpiringPods`), and the grace to delete it with (what is left
/// until the termination time, at least 1 s).
pub fn force_delete(pod: &Pod, termination: Timestamp, now: Timestamp) -> Option<i64> {
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30);
    let at = termination
        .checked_sub(SignedDuration::from_secs(grace))
        .unwrap_or(termination);
    if now < at {
        return None;
    }
    let left = termination.duration_since(now).as_secs();
    Some(left.clamp(1, grace.max(1)))
}

/// Per-pod eviction retry times after a 429 (upstream's eviction queue rate limiter: 100 ms
/// doubling to 10 s).
#[derive(Debug, Default)]
pub struct EvictionBackoff(Mutex<HashMap<String, (u32, Timestamp)>>);

impl EvictionBackoff {
    /// Whether the pod (by uid) may be tried at `now`.
    pub fn ready(&self, uid: &str, now: Timestamp) -> bool {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(uid).is_none_or(|(_, at)| *at <= now)
    }

    /// A refused eviction: the next try waits twice as long as the last (from 100 ms, at
    /// most 10 s). Returns the wait.
    pub fn refused(&self, uid: &str, now: Timestamp) -> Duration {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.entry(uid.to_string()).or_insert((0, now));
        let wait = EVICTION_BACKOFF_BASE
            .saturating_mul(1u32 << e.0.min(16))
            .min(EVICTION_BACKOFF_MAX);
        e.0 = e.0.saturating_add(1);
        e.1 = now
            .checked_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX))
            .unwrap_or(now);
        wait
    }

    /// The pod is gone or evicted: forget it.
    pub fn done(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }

    /// How long until the earliest pending retry among `uids` (zero if one is due).
    pub fn next_retry(&self, uids: &[String], now: Timestamp) -> Option<Duration> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        uids.iter()
            .filter_map(|u| m.get(u))
            .map(|(_, at)| at.duration_since(now).try_into().unwrap_or(Duration::ZERO))
            .min()
    }
}

/// What one eviction call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evicted {
    /// Evicted, gone already (404) or replaced (409): nothing more to do for it.
    Done,
    /// Refused (429, or a pod under several PDBs): retry after the backoff.
    Retry(String),
}

/// Classify an eviction answer as upstream's eviction queue does.
pub fn classify_eviction(r: std::result::Result<(), kube::Error>) -> Evicted {
    match r {
        Ok(()) => Evicted::Done,
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Evicted::Done,
        Err(kube::Error::Api(s)) if s.code == 429 => Evicted::Retry(format!(
            "evicting the pod would violate a PodDisruptionBudget: {}",
            s.message
        )),
        Err(kube::Error::Api(s)) if s.message.contains("more than one PodDisruptionBudget") => {
            Evicted::Retry(format!(
                "the pod has several PodDisruptionBudgets: {}",
                s.message
            ))
        }
        Err(e) => Evicted::Retry(e.to_string()),
    }
}

/// The termination controller's own state beside the shared context.
pub struct Termination {
    ctx: Arc<Context>,
    backoff: EvictionBackoff,
}

/// Run the Node termination controller until its stream ends.
pub async fn run(ctx: Arc<Context>) {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let t = Arc::new(Termination {
        ctx,
        backoff: EvictionBackoff::default(),
    });
    Controller::new(nodes, watcher::Config::default())
        .run(reconcile, error_policy, t)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "node termination");
            }
        })
        .await;
}

fn error_policy(node: Arc<Node>, e: &Error, _: Arc<Termination>) -> Action {
    tracing::warn!(node = %node.name_any(), error = %e, error_kind = e.kind(), "terminating node failed");
    Action::requeue(Duration::from_secs(5))
}

fn nodes(ctx: &Context) -> Api<Node> {
    Api::all(ctx.client.clone())
}

fn claims(ctx: &Context) -> Api<NodeClaim> {
    Api::all(ctx.client.clone())
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// The names of the NodeClaims (`claims`) or Nodes with `provider_id` in the cluster model
/// (the informers' cache): the objects are then read fresh by name, rather than listing every
/// NodeClaim or Node on each reconcile (upstream reads through its informer cache too).
fn cached_names(ctx: &Context, provider_id: &str, claims: bool) -> Vec<String> {
    if provider_id.is_empty() {
        return Vec::new();
    }
    let c = ctx.state.read();
    if claims {
        c.node_claims()
            .filter(|cl| cl.provider_id() == Some(provider_id))
            .map(|cl| cl.name().to_string())
            .collect()
    } else {
        c.state_nodes()
            .iter()
            .filter_map(|sn| sn.node)
            .filter(|n| n.provider_id.as_deref() == Some(provider_id))
            .map(|n| n.name.clone())
            .collect()
    }
}

/// The NodeClaims whose `status.providerID` is the Node's.
async fn claims_for(ctx: &Context, provider_id: &str) -> Result<Vec<NodeClaim>> {
    let names = cached_names(ctx, provider_id, true);
    if !names.is_empty() {
        let mut out = Vec::new();
        for n in names {
            if let Some(c) = claims(ctx)
                .get_opt(&n)
                .await
                .map_err(|e| Error::kube(format!("get NodeClaim {n}"), e))?
            {
                if c.status.as_ref().and_then(|s| s.provider_id.as_deref()) == Some(provider_id) {
                    out.push(c);
                }
            }
        }
        return Ok(out);
    }
    // not in the model yet (or gone): list
    Ok(claims(ctx)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list NodeClaims", e))?
        .items
        .into_iter()
        .filter(|c| {
            !provider_id.is_empty()
                && c.status.as_ref().and_then(|s| s.provider_id.as_deref()) == Some(provider_id)
        })
        .collect())
}

async fn reconcile(node: Arc<Node>, t: Arc<Termination>) -> Result<Action> {
    let ctx = &t.ctx;
    let name = node.name_any();
    if node.metadata.deletion_timestamp.is_none() {
        // most Node events (status heartbeats) end here, without a read
        return Ok(Action::await_change());
    }
    let Some(node) = nodes(ctx)
        .get_opt(&name)
        .await
        .map_err(|e| Error::kube(format!("get Node {name}"), e))?
    else {
        return Ok(Action::await_change());
    };
    if node.metadata.deletion_timestamp.is_none()
        || !node.finalizers().iter().any(|f| f == TERMINATION_FINALIZER)
        || !node.labels().contains_key(NODEPOOL)
    {
        return Ok(Action::await_change());
    }
    finalize_node(&t, &node).await
}

/// The Node finalizer (upstream `node/termination/controller.go: finalize`).
async fn finalize_node(t: &Termination, node: &Node) -> Result<Action> {
    let ctx = &t.ctx;
    let name = node.name_any();
    let pid = node
        .spec
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .unwrap_or_default();
    let found = claims_for(ctx, &pid).await?;
    let [claim] = found.as_slice() else {
        tracing::error!(node = %name, provider_id = %pid, nodeclaims = found.len(),
            "failed to terminate node, expected a single associated nodeclaim");
        return Ok(Action::await_change());
    };
    let claim_name = claim.name_any();
    if ctx.settings.dry_run {
        tracing::info!(node = %name, nodeclaim = %claim_name, dry_run = true,
            "would drain the node, terminate its instance and remove its finalizer");
        return Ok(Action::await_change());
    }
    if claim.metadata.deletion_timestamp.is_none() {
        match claims(ctx)
            .delete(&claim_name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => return Err(Error::kube(format!("delete NodeClaim {claim_name}"), e)),
        }
    }
    // the instance is gone and the kubelet has stopped: nothing to drain
    if !is_ready(node) {
        match ctx.provider.get(instance_id(&pid)).await {
            Err(CloudError::NotFound(_)) => return remove_node_finalizer(ctx, node).await,
            Err(e) => return Err(Error::cloud(format!("get the instance of Node {name}"), e)),
            Ok(_) => {}
        }
    }
    let termination_time = claim
        .annotations()
        .get(NODECLAIM_TERMINATION_TIMESTAMP)
        .and_then(|s| s.parse::<Timestamp>().ok());
    if !taint(ctx, node).await? {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let now = ctx.clock.now();
    if let Some(wait) = drain(t, node, termination_time, now).await? {
        if set_condition(ctx, claim, "Drained", "Unknown", "Draining", "Draining").await? {
            return Ok(Action::requeue(Duration::from_millis(200)));
        }
        return Ok(Action::requeue(wait));
    }
    if set_condition(ctx, claim, "Drained", "True", "Drained", "").await? {
        tracing::info!(node = %name, nodeclaim = %claim_name, "drained node");
        ctx.metrics.node_drained(
            claim
                .labels()
                .get(NODEPOOL)
                .map(String::as_str)
                .unwrap_or_default(),
        );
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let Some(claim) = claims(ctx)
        .get_opt(&claim_name)
        .await
        .map_err(|e| Error::kube(format!("get NodeClaim {claim_name}"), e))?
    else {
        return Ok(Action::await_change());
    };
    if !ensure_terminated(ctx, &claim).await? {
        return Ok(Action::requeue(INSTANCE_POLL));
    }
    remove_node_finalizer(ctx, node).await
}

/// Taint `karpenter.sh/disrupted:NoSchedule` (replacing any taint with the key) and label the
/// Node out of external load balancers. False on a write conflict (retry).
async fn taint(ctx: &Context, node: &Node) -> Result<bool> {
    let name = node.name_any();
    let mut n = node.clone();
    let spec = n.spec.get_or_insert_with(Default::default);
    let mut taints = spec.taints.take().unwrap_or_default();
    let has = taints
        .iter()
        .any(|t| t.key == DISRUPTED_TAINT_KEY && t.effect == "NoSchedule" && t.value.is_none());
    let labelled = node
        .labels()
        .get(EXCLUDE_FROM_EXTERNAL_LB)
        .map(String::as_str)
        == Some("karpenter");
    if has && labelled {
        spec.taints = Some(taints);
        return Ok(true);
    }
    taints.retain(|t| t.key != DISRUPTED_TAINT_KEY);
    taints.push(disrupted_taint());
    spec.taints = Some(taints);
    n.labels_mut()
        .insert(EXCLUDE_FROM_EXTERNAL_LB.into(), "karpenter".into());
    match nodes(ctx).replace(&name, &PostParams::default(), &n).await {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(Error::kube(
            format!("taint Node {name} {DISRUPTED_TAINT_KEY}:NoSchedule"),
            e,
        )),
    }
}

/// `karpenter.sh/disrupted:NoSchedule`.
pub fn disrupted_taint() -> ApiTaint {
    ApiTaint {
        key: DISRUPTED_TAINT_KEY.into(),
        effect: "NoSchedule".into(),
        ..ApiTaint::default()
    }
}

/// One drain step. `None` once drained; otherwise how long to wait before the next step.
async fn drain(
    t: &Termination,
    node: &Node,
    termination: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<Duration>> {
    let ctx = &t.ctx;
    let name = node.name_any();
    let pods: Vec<Pod> = Api::<Pod>::all(ctx.client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
        .await
        .map_err(|e| Error::kube(format!("list the Pods of Node {name}"), e))?
        .items
        .into_iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str()))
        .collect();
    // past the grace period: delete regardless of PDBs and do-not-disrupt
    if let Some(end) = termination {
        for p in pods
            .iter()
            .filter(|p| is_drainable(p, now) && deleting_since(p).is_none())
        {
            let Some(grace) = force_delete(p, end, now) else {
                continue;
            };
            let ns = p.namespace().unwrap_or_default();
            let pn = p.name_any();
            let dp = DeleteParams {
                grace_period_seconds: u32::try_from(grace).ok(),
                ..DeleteParams::default()
            };
            match Api::<Pod>::namespaced(ctx.client.clone(), &ns)
                .delete(&pn, &dp)
                .await
            {
                Ok(_) => {
                    tracing::info!(node = %name, pod = %format!("{ns}/{pn}"), grace_seconds = grace,
                        "deleted pod: the node's termination grace period is ending");
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Error::kube(format!("delete Pod {ns}/{pn}"), e)),
            }
        }
    }
    let mut refused = Vec::new();
    for p in eviction_tier(&pods, now) {
        let uid = p.uid().unwrap_or_default();
        if !t.backoff.ready(&uid, now) {
            refused.push(uid);
            continue;
        }
        let ns = p.namespace().unwrap_or_default();
        let pn = p.name_any();
        let ep = EvictParams {
            delete_options: Some(DeleteParams {
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            }),
            post_options: PostParams::default(),
        };
        let r = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
            .evict(&pn, &ep)
            .await
            .map(|_| ());
        match classify_eviction(r) {
            Evicted::Done => {
                t.backoff.done(&uid);
                tracing::info!(node = %name, pod = %format!("{ns}/{pn}"), "evicted pod");
                ctx.event(
                    &pod_ref(p),
                    EventType::Normal,
                    "Evicted",
                    "Evicted pod: the node is terminating".into(),
                )
                .await;
            }
            Evicted::Retry(why) => {
                let wait = t.backoff.refused(&uid, now);
                tracing::debug!(node = %name, pod = %format!("{ns}/{pn}"), reason = %why,
                    retry_in = ?wait, "eviction refused; retrying");
                refused.push(uid);
            }
        }
    }
    let waiting = pods.iter().filter(|p| is_drainable(p, now)).count();
    let started = node
        .metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    let min_left = ctx
        .settings
        .min_drain_time
        .saturating_sub(since(now, started));
    if waiting == 0 && min_left.is_zero() {
        return Ok(None);
    }
    if waiting > 0 {
        ctx.event(
            &node_ref(node),
            EventType::Warning,
            "FailedDraining",
            format!("Failed to drain node, {waiting} pods are waiting to be evicted"),
        )
        .await;
    }
    let wait = t
        .backoff
        .next_retry(&refused, now)
        .unwrap_or(Duration::from_secs(1))
        .clamp(Duration::from_millis(100), Duration::from_secs(1));
    Ok(Some(if waiting == 0 {
        min_left.min(wait)
    } else {
        wait
    }))
}

fn pod_ref(p: &Pod) -> k8s_openapi::api::core::v1::ObjectReference {
    p.object_ref(&())
}

fn node_ref(n: &Node) -> k8s_openapi::api::core::v1::ObjectReference {
    n.object_ref(&())
}

/// Set a NodeClaim condition (optimistic lock). True when it changed something.
async fn set_condition(
    ctx: &Context,
    claim: &NodeClaim,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> Result<bool> {
    if condition(claim, type_)
        .is_some_and(|c| c.status == status && c.reason.as_deref() == Some(reason))
    {
        return Ok(false);
    }
    let name = claim.name_any();
    let conds = with_condition(claim, type_, status, reason, message, ctx.clock.now());
    match claims(ctx)
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"resourceVersion": claim.resource_version()},
                "status": {"conditions": conds},
            })),
        )
        .await
    {
        Ok(_) => Ok(true),
        // the next reconcile reads the current claim
        Err(e) if is_conflict(&e) || is_not_found(&e) => Ok(true),
        Err(e) => Err(Error::kube(format!("set {type_} on NodeClaim {name}"), e)),
    }
}

/// Upstream `EnsureTerminated`: delete the instance once (`InstanceTerminating=True`), then
/// poll until the provider says it is gone. True once gone.
pub async fn ensure_terminated(ctx: &Context, claim: &NodeClaim) -> Result<bool> {
    let name = claim.name_any();
    let Some(pid) = claim
        .status
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .filter(|p| !p.is_empty())
    else {
        return Ok(true);
    };
    let id = instance_id(&pid);
    if condition(claim, "InstanceTerminating").is_none_or(|c| c.status != "True") {
        let gone = match ctx.provider.delete(id).await {
            Ok(()) => false,
            Err(CloudError::NotFound(_)) => true,
            Err(e) => {
                return Err(Error::cloud(
                    format!("terminate the instance of NodeClaim {name}"),
                    e,
                ))
            }
        };
        tracing::info!(nodeclaim = %name, provider_id = %pid, "terminating instance");
        set_condition(
            ctx,
            claim,
            "InstanceTerminating",
            "True",
            "InstanceTerminating",
            "",
        )
        .await?;
        return Ok(gone);
    }
    match ctx.provider.get(id).await {
        Err(CloudError::NotFound(_)) => Ok(true),
        Ok(i) => Ok(matches!(i.state.as_str(), "terminated")),
        Err(e) => Err(Error::cloud(
            format!("get the instance of NodeClaim {name}"),
            e,
        )),
    }
}

async fn remove_node_finalizer(ctx: &Context, node: &Node) -> Result<Action> {
    let name = node.name_any();
    let fins: Vec<String> = node
        .finalizers()
        .iter()
        .filter(|f| *f != TERMINATION_FINALIZER)
        .cloned()
        .collect();
    match nodes(ctx)
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": fins, "resourceVersion": node.resource_version()}})),
        )
        .await
    {
        Ok(_) => {
            tracing::info!(node = %name, nodepool = ?node.labels().get(NODEPOOL), "deleted node");
            let label = |k: &str| node.labels().get(k).cloned().unwrap_or_default();
            ctx.metrics
                .node_terminated(&label(NODEPOOL), &label(karpenter_scheduling::labels::ZONE));
            Ok(Action::await_change())
        }
        Err(e) if is_not_found(&e) => Ok(Action::await_change()),
        Err(e) if is_conflict(&e) => Ok(Action::requeue(Duration::from_millis(200))),
        Err(e) => Err(Error::kube(format!("remove the finalizer of Node {name}"), e)),
    }
}

/// The NodeClaim finalizer for a registered NodeClaim (upstream
/// `nodeclaim/lifecycle/termination.go`): stamp the termination timestamp, delete the Node and
/// wait for it, make sure the instance is gone, remove the finalizer.
pub async fn finalize_claim(claim: &NodeClaim, ctx: &Context) -> Result<Action> {
    let name = claim.name_any();
    if ctx.settings.dry_run {
        tracing::info!(nodeclaim = %name, dry_run = true,
            "would delete the nodeclaim's node, terminate its instance and remove its finalizer");
        return Ok(Action::await_change());
    }
    if let (Some(tgp), Some(deleted), false) = (
        claim
            .spec
            .termination_grace_period
            .as_deref()
            .and_then(karpenter_disruption::timing::parse_duration),
        claim.metadata.deletion_timestamp.as_ref(),
        claim
            .annotations()
            .contains_key(NODECLAIM_TERMINATION_TIMESTAMP),
    ) {
        let at = deleted.0.checked_add(tgp).unwrap_or(deleted.0);
        let text = at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        match claims(ctx)
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {
                    "annotations": {NODECLAIM_TERMINATION_TIMESTAMP: text},
                    "resourceVersion": claim.resource_version(),
                }})),
            )
            .await
        {
            Ok(_) => return Ok(Action::requeue(Duration::from_millis(100))),
            Err(e) if is_conflict(&e) => return Ok(Action::requeue(Duration::from_millis(100))),
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(Error::kube(
                    format!("annotate NodeClaim {name} with its termination time"),
                    e,
                ))
            }
        }
    }
    let pid = claim
        .status
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .unwrap_or_default();
    let mut waiting = false;
    let cached = cached_names(ctx, &pid, false);
    let found: Vec<Node> = if cached.is_empty() {
        nodes(ctx)
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::kube("list Nodes", e))?
            .items
    } else {
        let mut v = Vec::new();
        for nn in cached {
            if let Some(n) = nodes(ctx)
                .get_opt(&nn)
                .await
                .map_err(|e| Error::kube(format!("get Node {nn}"), e))?
            {
                v.push(n);
            }
        }
        v
    };
    for n in found.into_iter().filter(|n| {
        !pid.is_empty()
            && n.spec.as_ref().and_then(|s| s.provider_id.as_deref()) == Some(pid.as_str())
    }) {
        waiting = true;
        if n.metadata.deletion_timestamp.is_none() {
            let nn = n.name_any();
            match nodes(ctx).delete(&nn, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(nodeclaim = %name, node = %nn, "deleting node"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Error::kube(format!("delete Node {nn}"), e)),
            }
        }
    }
    if waiting {
        // the Node's deletion event re-runs this
        return Ok(Action::requeue(INSTANCE_POLL));
    }
    if !ensure_terminated(ctx, claim).await? {
        return Ok(Action::requeue(INSTANCE_POLL));
    }
    // re-read: ensure_terminated may have written the status
    let Some(claim) = claims(ctx)
        .get_opt(&name)
        .await
        .map_err(|e| Error::kube(format!("get NodeClaim {name}"), e))?
    else {
        return Ok(Action::await_change());
    };
    let fins: Vec<String> = claim
        .finalizers()
        .iter()
        .filter(|f| *f != TERMINATION_FINALIZER)
        .cloned()
        .collect();
    match claims(ctx)
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": fins, "resourceVersion": claim.resource_version()}})),
        )
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) if is_conflict(&e) => return Ok(Action::requeue(Duration::from_millis(100))),
        Err(e) => {
            return Err(Error::kube(
                format!("remove the finalizer of NodeClaim {name}"),
                e,
            ))
        }
    }
    tracing::info!(nodeclaim = %name, provider_id = %pid, "deleted nodeclaim");
    let label = |k: &str| claim.labels().get(k).cloned().unwrap_or_default();
    ctx.metrics.nodeclaim_terminated(
        &label(NODEPOOL),
        &label(karpenter_scheduling::labels::CAPACITY_TYPE),
        &label(karpenter_scheduling::labels::ZONE),
    );
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, extra: serde_json::Value) -> Pod {
        let mut p = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": name},
            "spec": {"containers": [{"name": "c", "image": "i"}], "nodeName": "n"},
            "status": {"phase": "Running"}
        });
        merge(&mut p, extra);
        serde_json::from_value(p).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn ds() -> serde_json::Value {
        json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d", "uid": "d"}]}})
    }

    fn critical() -> serde_json::Value {
        json!({"spec": {"priorityClassName": "system-node-critical"}})
    }

    fn names(ps: Vec<&Pod>) -> Vec<String> {
        let mut v: Vec<String> = ps.iter().map(|p| p.name_any()).collect();
        v.sort();
        v
    }

    #[test]
    fn pods_are_evicted_one_tier_at_a_time_non_critical_first_daemonsets_last() {
        let now = Timestamp::UNIX_EPOCH;
        let mut crit_ds = ds();
        merge(&mut crit_ds, critical());
        let mut pods = vec![
            pod("app", json!({})),
            pod("ds", ds()),
            pod("crit", critical()),
            pod("crit-ds", crit_ds),
        ];
        assert_eq!(names(eviction_tier(&pods, now)), ["app"]);
        pods.remove(0);
        assert_eq!(names(eviction_tier(&pods, now)), ["ds"]);
        pods.remove(0);
        assert_eq!(names(eviction_tier(&pods, now)), ["crit"]);
        pods.remove(0);
        assert_eq!(names(eviction_tier(&pods, now)), ["crit-ds"]);
        pods.remove(0);
        assert!(eviction_tier(&pods, now).is_empty());
    }

    #[test]
    fn tolerating_static_terminal_and_do_not_disrupt_pods_are_not_evicted() {
        let now = Timestamp::from_second(1_000).unwrap();
        let pods = vec![
            pod(
                "tolerates",
                json!({"spec": {"tolerations": [{"key": "karpenter.sh/disrupted", "operator": "Exists"}]}}),
            ),
            pod(
                "tolerates-all",
                json!({"spec": {"tolerations": [{"operator": "Exists"}]}}),
            ),
            pod(
                "mirror",
                json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}}),
            ),
            pod(
                "static",
                json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "n"}]}}),
            ),
            pod("done", json!({"status": {"phase": "Succeeded"}})),
            pod(
                "dnd",
                json!({"metadata": {"annotations": {"karpenter.sh/do-not-disrupt": "true"}}}),
            ),
            pod(
                "other-toleration",
                json!({"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}}),
            ),
        ];
        assert_eq!(names(eviction_tier(&pods, now)), ["other-toleration"]);
        let waited: Vec<String> = pods
            .iter()
            .filter(|p| is_drainable(p, now))
            .map(|p| p.name_any())
            .collect();
        assert_eq!(
            waited,
            ["dnd", "other-toleration"],
            "do-not-disrupt pods are waited for"
        );
        let stuck = pod(
            "stuck",
            json!({"metadata": {"deletionTimestamp": "1970-01-01T00:15:00Z"}}),
        );
        assert!(!is_drainable(&stuck, now), "deleting for over a minute");
        let fresh = pod(
            "fresh",
            json!({"metadata": {"deletionTimestamp": "1970-01-01T00:16:30Z"}}),
        );
        assert!(is_drainable(&fresh, now));
        assert!(
            eviction_tier(&[fresh], now).is_empty(),
            "already terminating"
        );
    }

    #[test]
    fn a_refused_eviction_backs_off_from_100ms_doubling_to_10s_and_success_resets() {
        let b = EvictionBackoff::default();
        let t0 = Timestamp::UNIX_EPOCH;
        assert!(b.ready("p", t0));
        let waits: Vec<u128> = (0..10).map(|_| b.refused("p", t0).as_millis()).collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert!(!b.ready("p", t0));
        assert!(b.ready("p", t0.checked_add(SignedDuration::from_secs(10)).unwrap()));
        assert!(b.ready("q", t0), "backoff is per pod");
        b.done("p");
        assert!(b.ready("p", t0));
        assert_eq!(b.refused("p", t0), Duration::from_millis(100));
        assert_eq!(
            b.next_retry(&["p".into()], t0),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn eviction_answers_are_classified_as_upstream() {
        let api = |code: u16, msg: &str| {
            Err(kube::Error::Api(
                kube::core::Status::failure(msg, "x")
                    .with_code(code)
                    .boxed(),
            ))
        };
        assert_eq!(classify_eviction(Ok(())), Evicted::Done);
        assert_eq!(classify_eviction(api(404, "gone")), Evicted::Done);
        assert_eq!(classify_eviction(api(409, "uid")), Evicted::Done);
        assert!(matches!(
            classify_eviction(api(429, "Cannot evict pod as it would violate the pod's disruption budget.")),
            Evicted::Retry(m) if m.contains("PodDisruptionBudget")
        ));
        assert!(matches!(
            classify_eviction(api(500, "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")),
            Evicted::Retry(_)
        ));
    }

    #[test]
    fn pods_are_force_deleted_their_grace_period_before_the_termination_time() {
        let end = Timestamp::from_second(1_000).unwrap();
        let p = pod("p", json!({"spec": {"terminationGracePeriodSeconds": 60}}));
        assert_eq!(
            force_delete(&p, end, Timestamp::from_second(939).unwrap()),
            None
        );
        assert_eq!(
            force_delete(&p, end, Timestamp::from_second(940).unwrap()),
            Some(60)
        );
        assert_eq!(
            force_delete(&p, end, Timestamp::from_second(990).unwrap()),
            Some(10)
        );
        assert_eq!(
            force_delete(&p, end, Timestamp::from_second(2_000).unwrap()),
            Some(1),
            "at least 1 s"
        );
        let default = pod("d", json!({}));
        assert_eq!(
            force_delete(&default, end, Timestamp::from_second(969).unwrap()),
            None,
            "30 s by default"
        );
    }
}

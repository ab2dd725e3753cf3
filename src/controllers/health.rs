//! Node repair (upstream `pkg/controllers/node/health/controller.go`, behind the `NodeRepair`
//! feature gate, off by default): a Node that shows one of the cloud provider's repair
//! policies' unhealthy conditions (see [`CloudProvider::repair_policies`]) for longer than the
//! policy tolerates has its NodeClaim annotated `karpenter.sh/nodeclaim-termination-timestamp`
//! = now (so termination drains without waiting: the repair is forceful) and deleted; the
//! termination controller drains it and the provisioner replaces the capacity.
//!
//! Not while the node's NodePool is unhealthy: upstream lets up to 20 % of a pool's nodes be
//! unhealthy, rounding up (three nodes allow one), counting every node that shows a policy's
//! condition whatever its toleration; above that a `NodeRepairBlocked` Warning Event is
//! published on the Node (once per 15 minutes per Node, upstream's dedupe) and the node is
//! looked at again later. A NodeClaim without a NodePool is measured against the whole
//! cluster. Each repair publishes a `NodeRepair` Warning Event on the Node (upstream logs
//! "deleting unhealthy node" and counts a metric; the Event is ours).
//!
//! As upstream, a pass runs when a Node's conditions change (a watch on Nodes keeps each
//! Node's name, providerID, NodePool and conditions, nothing more) and when the earliest
//! toleration ends, and at least every [`POLL`]. Every "how long" comes from the injected
//! [`super::Clock`].
//!
//! [`CloudProvider::repair_policies`]: crate::cloud::provider::CloudProvider::repair_policies
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use karpenter_api::labels::NODECLAIM_TERMINATION_TIMESTAMP;
use karpenter_api::sh::v1::NodeClaim;
use karpenter_scheduling::labels::NODEPOOL;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::clock::since;
use super::error::{is_not_found, Error, Result};
use super::Context;
use crate::cloud::provider::RepairPolicy;

/// Upstream's `allowedUnhealthyPercent`.
pub const ALLOWED_UNHEALTHY_PERCENT: usize = 20;
/// The longest wait between two passes.
pub const POLL: Duration = Duration::from_secs(10);
/// Upstream's dedupe timeout for `NodeRepairBlocked` events.
pub const BLOCKED_EVENT_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// NodeClaims deleted (or, in a dry run, that would be).
    pub repaired: Vec<String>,
    /// Nodes past their toleration left alone because too much of their pool is unhealthy.
    pub blocked: Vec<String>,
    /// The soonest a tolerated unhealthy node's toleration ends, from now.
    pub next: Option<Duration>,
}

/// What node repair keeps of a Node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeHealth {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// `spec.providerID`.
    pub provider_id: Option<String>,
    /// `karpenter.sh/nodepool`.
    pub node_pool: Option<String>,
    /// `status.conditions`: type, status, lastTransitionTime.
    pub conditions: Vec<(String, String, Option<Timestamp>)>,
}

impl NodeHealth {
    /// The fields of `node` repair reads.
    pub fn of(node: &Node) -> Self {
        NodeHealth {
            name: node.name_any(),
            uid: node.metadata.uid.clone(),
            provider_id: node
                .spec
                .as_ref()
                .and_then(|s| s.provider_id.clone())
                .filter(|p| !p.is_empty()),
            node_pool: node.labels().get(NODEPOOL).cloned(),
            conditions: node
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            (
                                c.type_.clone(),
                                c.status.clone(),
                                c.last_transition_time.as_ref().map(|t| t.0),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(self.name.clone()),
            uid: self.uid.clone(),
            ..ObjectReference::default()
        }
    }
}

/// Run node repair until aborted; returns at once when the `NodeRepair` gate is off.
pub async fn run(ctx: Arc<Context>) {
    if !ctx.settings.feature_gates.node_repair {
        return;
    }
    let api: Api<Node> = Api::all(ctx.client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut nodes: BTreeMap<String, NodeHealth> = BTreeMap::new();
    let mut listing: BTreeMap<String, NodeHealth> = BTreeMap::new();
    let mut synced = false;
    let mut blocked_events: HashMap<String, Timestamp> = HashMap::new();
    let mut next_at = after(ctx.clock.now(), POLL);
    loop {
        let wait = since(next_at, ctx.clock.now());
        let changed = tokio::select! {
            ev = events.try_next() => match ev {
                Ok(Some(watcher::Event::Init)) => { listing.clear(); false }
                Ok(Some(watcher::Event::InitApply(n))) => {
                    listing.insert(n.name_any(), NodeHealth::of(&n));
                    false
                }
                Ok(Some(watcher::Event::InitDone)) => {
                    nodes = std::mem::take(&mut listing);
                    synced = true;
                    true
                }
                Ok(Some(watcher::Event::Apply(n))) => {
                    let h = NodeHealth::of(&n);
                    nodes.insert(h.name.clone(), h.clone()) != Some(h)
                }
                Ok(Some(watcher::Event::Delete(n))) => nodes.remove(&n.name_any()).is_some(),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(kind = "Node", error = %e, "node repair: watch failed; retrying");
                    false
                }
            },
            _ = ctx.clock.sleep(wait) => {
                // until the Nodes are listed, the timer only moves on
                next_at = after(ctx.clock.now(), POLL);
                true
            }
        };
        if !changed || !synced {
            continue;
        }
        ctx.state.wait_synced().await;
        let nodes: Vec<&NodeHealth> = nodes.values().collect();
        let wait = match pass(&ctx, &nodes, &mut blocked_events).await {
            Ok(o) => o.next.map_or(POLL, |n| n.min(POLL)),
            Err(e) => {
                tracing::error!(error = %e, error_kind = e.kind(), "node repair failed");
                POLL
            }
        };
        // a beat at least, so a toleration ending now does not spin
        next_at = after(ctx.clock.now(), wait.max(Duration::from_millis(100)));
    }
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// The unhealthy condition a Node shows, if any: the matching policy whose toleration ends
/// first (upstream `findUnhealthyConditions`), with the condition's type and when the
/// toleration ends. A condition without `lastTransitionTime` counts from `now`.
pub fn unhealthy(
    node: &NodeHealth,
    policies: &[RepairPolicy],
    now: Timestamp,
) -> Option<(String, Timestamp)> {
    let mut found: Option<(String, Timestamp)> = None;
    for p in policies {
        let Some((_, _, at)) = node
            .conditions
            .iter()
            .find(|(t, s, _)| *t == p.condition_type && *s == p.condition_status)
        else {
            continue;
        };
        let ends = at
            .unwrap_or(now)
            .checked_add(SignedDuration::try_from(p.toleration).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        if found.as_ref().is_none_or(|(_, t)| ends < *t) {
            found = Some((p.condition_type.clone(), ends));
        }
    }
    found
}

/// Whether `unhealthy` of `total` nodes is within upstream's threshold: 20 % of `total`,
/// rounded up (`intstr.GetScaledValueFromIntOrPercent(.., roundUp=true)`).
pub fn within_threshold(unhealthy: usize, total: usize) -> bool {
    unhealthy <= (total * ALLOWED_UNHEALTHY_PERCENT).div_ceil(100)
}

/// One pass over `nodes` (every Node of the cluster).
pub async fn pass(
    ctx: &Context,
    nodes: &[&NodeHealth],
    blocked_events: &mut HashMap<String, Timestamp>,
) -> Result<Outcome> {
    let policies = ctx.provider.repair_policies();
    let mut out = Outcome::default();
    if policies.is_empty() {
        return Ok(out);
    }
    let now = ctx.clock.now();
    // per NodePool ("" for the whole cluster): (nodes, unhealthy nodes)
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    let mut found = Vec::new();
    for &n in nodes {
        let bad = unhealthy(n, &policies, now);
        for key in [Some(String::new()), n.node_pool.clone()]
            .into_iter()
            .flatten()
        {
            let e = counts.entry(key).or_default();
            e.0 += 1;
            e.1 += usize::from(bad.is_some());
        }
        if let Some(b) = bad {
            found.push((n, b));
        }
    }
    for (node, (condition, ends)) in found {
        let name = node.name.clone();
        if now < ends {
            let left = since(ends, now);
            out.next = Some(out.next.map_or(left, |n: Duration| n.min(left)));
            continue;
        }
        // the node's NodeClaim, by providerID (upstream `NodeClaimForNode`)
        let claim = node.provider_id.as_deref().and_then(|pid| {
            ctx.state
                .read()
                .node_claims()
                .find(|e| e.provider_id() == Some(pid))
                .map(|e| e.claim.clone())
        });
        let Some(claim) = claim else {
            continue; // not ours
        };
        if claim.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let pool = claim.labels().get(NODEPOOL).cloned();
        let (total, bad) = counts
            .get(pool.as_deref().unwrap_or(""))
            .copied()
            .unwrap_or_default();
        if !within_threshold(bad, total) {
            out.blocked.push(name.clone());
            let due = blocked_events
                .get(&name)
                .is_none_or(|at| since(now, *at) >= BLOCKED_EVENT_INTERVAL);
            let scope = if pool.is_some() {
                "nodepool"
            } else {
                "cluster"
            };
            tracing::info!(node = %name, nodeclaim = %claim.name_any(), unhealthy = bad, nodes = total,
                "node repair blocked: more than {ALLOWED_UNHEALTHY_PERCENT}% of the {scope}'s nodes are unhealthy");
            if due {
                blocked_events.insert(name.clone(), now);
                ctx.event(
                    &node.object_ref(),
                    EventType::Warning,
                    "NodeRepairBlocked",
                    format!(
                        "more than {ALLOWED_UNHEALTHY_PERCENT}% nodes are unhealthy in the {scope}"
                    ),
                )
                .await;
            }
            continue;
        }
        blocked_events.remove(&name);
        if repair(ctx, node, &claim, &condition, now).await? {
            out.repaired.push(claim.name_any());
        }
    }
    Ok(out)
}

/// Annotate the NodeClaim with its termination time (now, unless an earlier one is set) and
/// delete it. False when it was already gone.
async fn repair(
    ctx: &Context,
    node: &NodeHealth,
    claim: &NodeClaim,
    condition: &str,
    now: Timestamp,
) -> Result<bool> {
    let name = claim.name_any();
    let node_name = node.name.clone();
    if ctx.settings.dry_run {
        tracing::info!(node = %node_name, nodeclaim = %name, condition, dry_run = true,
            "would delete unhealthy node");
        return Ok(true);
    }
    let claims: Api<NodeClaim> = Api::all(ctx.client.clone());
    let earlier = claim
        .annotations()
        .get(NODECLAIM_TERMINATION_TIMESTAMP)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .is_some_and(|t| t < now);
    if !earlier {
        let text = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        match claims
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {NODECLAIM_TERMINATION_TIMESTAMP: text}}}),
                ),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(nodeclaim = %name, NODECLAIM_TERMINATION_TIMESTAMP = %text, "annotated nodeclaim")
            }
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => {
                return Err(Error::kube(
                    format!("annotate NodeClaim {name} with its termination time"),
                    e,
                ))
            }
        }
    }
    match claims.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) => return Err(Error::kube(format!("delete NodeClaim {name}"), e)),
    }
    tracing::info!(node = %node_name, nodeclaim = %name, condition, "deleting unhealthy node");
    ctx.event(
        &node.object_ref(),
        EventType::Warning,
        "NodeRepair",
        format!("Deleting NodeClaim {name}: condition {condition} past its toleration"),
    )
    .await;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(conds: &[(&str, &str, i64)]) -> NodeHealth {
        let n: Node = serde_json::from_value(json!({
            "metadata": {"name": "n", "labels": {"karpenter.sh/nodepool": "default"}},
            "spec": {"providerID": "aws:///us-east-1a/i-1"},
            "status": {"conditions": conds.iter().map(|(t, s, at)| json!({
                "type": t, "status": s,
                "lastTransitionTime": Timestamp::from_second(*at).unwrap().to_string(),
            })).collect::<Vec<_>>()}
        }))
        .unwrap();
        let h = NodeHealth::of(&n);
        assert_eq!(h.node_pool.as_deref(), Some("default"));
        assert_eq!(h.provider_id.as_deref(), Some("aws:///us-east-1a/i-1"));
        h
    }

    #[test]
    fn the_threshold_is_twenty_percent_rounded_up() {
        assert!(within_threshold(1, 3), "three nodes allow one");
        assert!(!within_threshold(2, 3));
        assert!(within_threshold(1, 5));
        assert!(!within_threshold(2, 5));
        assert!(within_threshold(2, 6), "20% of 6 is 1.2, rounded up to 2");
        assert!(!within_threshold(3, 10));
        assert!(within_threshold(1, 1), "a single node may be repaired");
    }

    #[test]
    fn the_policy_whose_toleration_ends_first_is_chosen() {
        let policies = vec![
            RepairPolicy::new("Ready", "False", Duration::from_secs(1800)),
            RepairPolicy::new("KernelReady", "False", Duration::from_secs(60)),
        ];
        let now = Timestamp::from_second(10_000).unwrap();
        assert_eq!(
            unhealthy(&node(&[("Ready", "True", 0)]), &policies, now),
            None
        );
        let n = node(&[("Ready", "False", 1000), ("KernelReady", "False", 2000)]);
        let (c, ends) = unhealthy(&n, &policies, now).unwrap();
        assert_eq!(c, "KernelReady");
        assert_eq!(ends, Timestamp::from_second(2060).unwrap());
        let n = node(&[("Ready", "Unknown", 1000)]);
        assert_eq!(unhealthy(&n, &policies, now), None, "Unknown is not False");
    }
}

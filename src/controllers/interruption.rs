//! The interruption controller (upstream `aws/karpenter-provider-aws:
//! pkg/controllers/interruption/controller.go` and `utils.go`; karpenter-aws.md §13): consume the
//! interruption queue and act on each message.
//!
//! * Spot interruption, scheduled change (health event), stopping/stopped, shutting-down/
//!   terminated and capacity-reservation interruption → **CordonAndDrain**: the NodeClaim owning
//!   the instance is deleted (unless it already is); its finalizer drains the node through the
//!   termination flow and the provisioner replaces the capacity. Event `TerminatingOnInterruption`.
//! * Rebalance recommendation → an Event (`SpotRebalanceRecommendation`) only.
//! * A spot interruption also marks the (instance type, zone) spot offering unavailable in the
//!   provider's cache, so the replacement avoids it.
//! * Every kind publishes upstream's Event on the NodeClaim and its Node (`SpotInterrupted`,
//!   `InstanceUnhealthy`, `InstanceStopping`, `InstanceTerminating`, ...).
//! * NodeClaims are matched by the instance id in `status.providerID`; instances no NodeClaim
//!   owns are ignored and their message still deleted. Handling is idempotent: a NodeClaim
//!   already being deleted is left alone, so duplicate messages are harmless.
//! * A message is deleted after it was handled, when it needs no action, or when it cannot be
//!   parsed (logged); a message whose handling failed (an API error) stays on the queue and is
//!   delivered again after the visibility timeout.
//! * Under `dry_run` the controller decides and logs, but deletes no NodeClaim, marks nothing
//!   and deletes no message.
//! * Metrics: `karpenter_interruption_received_messages_total{message_type}`,
//!   `karpenter_interruption_deleted_messages_total`,
//!   `karpenter_interruption_message_queue_duration_seconds` and
//!   `karpenter_nodeclaims_disrupted_total{reason=<kind>}`.
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, ObjectReference};
use karpenter_api::sh::v1::NodeClaim;
use karpenter_scheduling::instancetype::SPOT;
use karpenter_scheduling::labels;
use kube::api::{DeleteParams, ListParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use super::error::{is_not_found, Error, Result};
use super::lifecycle::instance_id;
use super::Context;
use crate::cloud::interruption::{InterruptionEvent, InterruptionQueue, MessageBody, QueueMessage};
use crate::cloud::provider::OfferingKey;

/// What handling one batch did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// NodeClaims deleted (or, under dry-run, that would have been).
    pub deleted: Vec<String>,
    /// Messages deleted from the queue.
    pub messages_deleted: usize,
    /// Messages left for redelivery (handling or deleting failed).
    pub messages_left: usize,
}

/// Connect to the queue named `queue` (retrying every 10 s while the provider cannot reach
/// it) and handle its messages until the task is stopped.
pub async fn run(ctx: Arc<Context>, queue: String) {
    ctx.state.wait_synced().await;
    let q = loop {
        match ctx.provider.interruption_queue(&queue).await {
            Ok(q) => break q,
            Err(e) => {
                tracing::error!(queue = %queue, error = %e, "cannot reach the interruption queue; retrying in 10s");
                ctx.clock.sleep(Duration::from_secs(10)).await;
            }
        }
    };
    tracing::info!(queue = %q.name(), "watching interruption queue");
    loop {
        match q.receive().await {
            Ok(batch) if batch.is_empty() => {}
            Ok(batch) => {
                let received = batch.len();
                let out = handle_batch(&ctx, q.as_ref(), batch).await;
                tracing::debug!(?out, "interruption batch handled");
                if out.messages_deleted < received {
                    // what stays on the queue comes back at once from a queue without a
                    // visibility timeout (dry-run keeps every message): wait before receiving
                    // again rather than spin on it
                    ctx.clock.sleep(Duration::from_secs(1)).await;
                }
            }
            Err(e) => {
                tracing::warn!(queue = %q.name(), error = %e, "receiving interruption messages failed");
                ctx.clock.sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Handle one received batch: act on each message, then delete the ones that are done.
pub async fn handle_batch(
    ctx: &Context,
    queue: &dyn InterruptionQueue,
    batch: Vec<QueueMessage>,
) -> BatchOutcome {
    let mut out = BatchOutcome::default();
    let claims = if batch
        .iter()
        .any(|m| matches!(m.body, MessageBody::Event(_)))
    {
        match Api::<NodeClaim>::all(ctx.client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(l) => Some(l.items),
            Err(e) => {
                tracing::warn!(error = %e, "listing NodeClaims for interruption messages failed; they stay on the queue");
                None
            }
        }
    } else {
        Some(Vec::new())
    };
    for m in batch {
        if let MessageBody::Event(ev) = &m.body {
            ctx.metrics.interruption_received(ev.kind.name());
        }
        let done = match &m.body {
            MessageBody::Event(ev) => match &claims {
                Some(claims) => match handle_event(ctx, ev, claims).await {
                    Ok(deleted) => {
                        out.deleted.extend(deleted);
                        true
                    }
                    Err(e) => {
                        tracing::warn!(event = %ev.id, kind = ev.kind.name(), error = %e,
                            "handling interruption message failed; it stays on the queue");
                        false
                    }
                },
                None => false,
            },
            MessageBody::NoAction(why) => {
                tracing::debug!(message = %m.id, why = %why, "interruption message needs no action");
                true
            }
            MessageBody::Unparseable(why) => {
                tracing::error!(message = %m.id, error = %why, "failed parsing interruption message; deleting it");
                true
            }
        };
        if !done {
            out.messages_left += 1;
            continue;
        }
        if ctx.settings.dry_run {
            tracing::info!(message = %m.id, "dry run: would delete the interruption message");
            out.messages_left += 1;
            continue;
        }
        match queue.delete(&m).await {
            Ok(()) => {
                ctx.metrics.interruption_deleted();
                if let MessageBody::Event(ev) = &m.body {
                    let sent = ev
                        .time
                        .as_deref()
                        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
                    if let Some(sent) = sent {
                        let waited = ctx.clock.now().duration_since(sent).as_secs_f64();
                        ctx.metrics.interruption_queue_duration(waited.max(0.0));
                    }
                }
                out.messages_deleted += 1
            }
            Err(e) => {
                tracing::warn!(message = %m.id, error = %e, "deleting an interruption message failed; it will be delivered again");
                out.messages_left += 1;
            }
        }
    }
    out
}

/// Act on one event: the NodeClaims deleted (or that would be under dry-run).
async fn handle_event(
    ctx: &Context,
    ev: &InterruptionEvent,
    claims: &[NodeClaim],
) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for id in &ev.instance_ids {
        let owners = claims.iter().filter(|c| {
            c.status
                .as_ref()
                .and_then(|s| s.provider_id.as_deref())
                .is_some_and(|p| !p.is_empty() && instance_id(p) == id)
        });
        let mut found = false;
        for claim in owners {
            found = true;
            if handle_claim(ctx, ev, claim).await? {
                deleted.push(claim.name_any());
            }
        }
        if !found {
            tracing::debug!(instance = %id, kind = ev.kind.name(), "interruption message for an instance no NodeClaim owns; ignored");
        }
    }
    Ok(deleted)
}

fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    obj.object_ref(&())
}

/// Events, the unavailable offering, and the delete for one NodeClaim. `true` when the
/// NodeClaim was (or would be) deleted now.
async fn handle_claim(ctx: &Context, ev: &InterruptionEvent, claim: &NodeClaim) -> Result<bool> {
    let name = claim.name_any();
    let node = match claim.status.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(n) => Api::<Node>::all(ctx.client.clone())
            .get_opt(n)
            .await
            .map_err(|e| Error::kube(format!("get Node {n}"), e))?,
        None => None,
    };
    let action = if ev.kind.cordon_and_drain() {
        "CordonAndDrain"
    } else {
        "NoAction"
    };
    tracing::info!(nodeclaim = %name, node = ?node.as_ref().map(ResourceExt::name_any),
        message_kind = ev.kind.name(), action, dry_run = ctx.settings.dry_run, "interruption message");
    if ctx.settings.dry_run {
        return Ok(ev.kind.cordon_and_drain() && claim.metadata.deletion_timestamp.is_none());
    }
    let (reason, note, warning) = ev.kind.event();
    let type_ = if warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.event(&reference(claim), type_, reason, note.to_string())
        .await;
    if let Some(n) = &node {
        ctx.event(&reference(n), type_, reason, note.to_string())
            .await;
    }
    if matches!(
        ev.kind,
        crate::cloud::interruption::InterruptionKind::SpotInterruption { .. }
    ) {
        let l = claim.labels();
        if let (Some(it), Some(zone), Some(cache)) = (
            l.get(labels::INSTANCE_TYPE),
            l.get(labels::ZONE),
            ctx.provider.unavailable_offerings(),
        ) {
            cache.mark_unavailable(OfferingKey::new(SPOT, it, zone), ev.kind.name());
        }
    }
    if !ev.kind.cordon_and_drain() || claim.metadata.deletion_timestamp.is_some() {
        return Ok(false);
    }
    match Api::<NodeClaim>::all(ctx.client.clone())
        .delete(&name, &DeleteParams::default())
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) => {
            return Err(Error::kube(
                format!("delete NodeClaim {name} on an interruption message"),
                e,
            ))
        }
    }
    tracing::info!(nodeclaim = %name, message_kind = ev.kind.name(), "initiating delete from interruption message");
    let l = claim.labels();
    ctx.metrics.nodeclaim_disrupted(
        ev.kind.name(),
        l.get(labels::NODEPOOL).map_or("", String::as_str),
        l.get(labels::CAPACITY_TYPE).map_or("", String::as_str),
    );
    ctx.event(
        &reference(claim),
        EventType::Warning,
        "TerminatingOnInterruption",
        "Interruption triggered termination for the NodeClaim".into(),
    )
    .await;
    if let Some(n) = &node {
        ctx.event(
            &reference(n),
            EventType::Warning,
            "TerminatingOnInterruption",
            "Interruption triggered termination for the Node".into(),
        )
        .await;
    }
    Ok(true)
}

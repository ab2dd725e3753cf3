//! The interruption-queue port: what the interruption controller consumes, with no provider's
//! types in it (upstream `pkg/controllers/interruption/messages/types.go` for the kinds,
//! `pkg/providers/sqs/sqs.go` for the queue).
//!
//! An adapter turns its queue's raw messages into [`QueueMessage`]s (the AWS one parses
//! EventBridge envelopes from SQS, `cloud::aws::provider::interruption`); [`InMemoryQueue`]
//! serves `simulate` and the tests. A message is deleted only after it was handled (or when it
//! needs no action, or cannot be parsed); a message whose handling failed stays and is
//! delivered again.
use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;

use crate::cloud::provider::CloudError;

/// What happened to the instance(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterruptionKind {
    /// EC2 Spot Instance Interruption Warning.
    SpotInterruption {
        /// `instance-action` (`terminate`, `stop`, `hibernate`).
        action: String,
    },
    /// EC2 Instance Rebalance Recommendation (no action upstream).
    RebalanceRecommendation,
    /// AWS Health scheduled change for EC2.
    ScheduledChange {
        /// `eventTypeCode`.
        event_type_code: String,
    },
    /// State change to stopping/stopped.
    InstanceStopped {
        /// The state.
        state: String,
    },
    /// State change to shutting-down/terminated.
    InstanceTerminated {
        /// The state.
        state: String,
    },
    /// EC2 Capacity Reservation Instance Interruption Warning.
    CapacityReservationInterruption {
        /// `instance-action`.
        action: String,
    },
}

impl InterruptionKind {
    /// Upstream's metric/reason name.
    pub fn name(&self) -> &'static str {
        match self {
            InterruptionKind::SpotInterruption { .. } => "spot_interrupted",
            InterruptionKind::RebalanceRecommendation => "rebalance_recommendation",
            InterruptionKind::ScheduledChange { .. } => "scheduled_change",
            InterruptionKind::InstanceStopped { .. } => "instance_stopped",
            InterruptionKind::InstanceTerminated { .. } => "instance_terminated",
            InterruptionKind::CapacityReservationInterruption { .. } => {
                "capacity_reservation_interrupted"
            }
        }
    }

    /// Upstream's action (`pkg/controllers/interruption/utils.go: actionForMessage`): every
    /// kind but a rebalance recommendation cordons and drains (deletes the NodeClaim).
    pub fn cordon_and_drain(&self) -> bool {
        !matches!(self, InterruptionKind::RebalanceRecommendation)
    }

    /// Upstream's Event (`pkg/controllers/interruption/events/events.go`): reason, message,
    /// and whether it is a warning.
    pub fn event(&self) -> (&'static str, &'static str, bool) {
        match self {
            InterruptionKind::SpotInterruption { .. } => (
                "SpotInterrupted",
                "Spot interruption warning was triggered",
                true,
            ),
            InterruptionKind::RebalanceRecommendation => (
                "SpotRebalanceRecommendation",
                "Spot rebalance recommendation was triggered",
                false,
            ),
            InterruptionKind::ScheduledChange { .. } => (
                "InstanceUnhealthy",
                "An unhealthy warning was triggered for the instance",
                true,
            ),
            InterruptionKind::InstanceStopped { .. } => {
                ("InstanceStopping", "Instance is stopping", true)
            }
            InterruptionKind::InstanceTerminated { .. } => {
                ("InstanceTerminating", "Instance is terminating", true)
            }
            InterruptionKind::CapacityReservationInterruption { .. } => (
                "CapacityReservationInstanceInterrupted",
                "Capacity Reservation interruption warning was triggered",
                true,
            ),
        }
    }
}

/// A parsed interruption event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptionEvent {
    /// The event id.
    pub id: String,
    /// Event time as sent.
    pub time: Option<String>,
    /// Kind.
    pub kind: InterruptionKind,
    /// Affected instance ids.
    pub instance_ids: Vec<String>,
}

/// What a received message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageBody {
    /// An event to act on.
    Event(InterruptionEvent),
    /// A well-formed message that needs no action (deleted).
    NoAction(String),
    /// A body that could not be parsed, with why (logged and deleted).
    Unparseable(String),
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The queue's message id.
    pub id: String,
    /// The handle [`InterruptionQueue::delete`] needs.
    pub receipt: String,
    /// The parsed body.
    pub body: MessageBody,
}

/// A queue of interruption messages.
pub trait InterruptionQueue: Send + Sync {
    /// The queue's name (for logs).
    fn name(&self) -> &str;
    /// Wait for the next batch (possibly empty after the adapter's long-poll wait).
    fn receive(&self) -> BoxFuture<'_, Result<Vec<QueueMessage>, CloudError>>;
    /// Delete a handled message.
    fn delete<'a>(&'a self, message: &'a QueueMessage) -> BoxFuture<'a, Result<(), CloudError>>;
}

/// An in-memory queue (`simulate`, tests): messages stay until deleted, so the next
/// [`InterruptionQueue::receive`] delivers a message whose handling failed again.
#[derive(Debug, Default)]
pub struct InMemoryQueue {
    name: String,
    state: Mutex<QueueState>,
    notify: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    next: u64,
    messages: BTreeMap<u64, MessageBody>,
    deleted: u64,
}

impl InMemoryQueue {
    /// An empty queue.
    pub fn new(name: &str) -> Self {
        InMemoryQueue {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Put a message on the queue.
    pub fn send(&self, body: MessageBody) {
        let mut s = self.lock();
        s.next += 1;
        let id = s.next;
        s.messages.insert(id, body);
        drop(s);
        self.notify.notify_one();
    }

    /// Messages on the queue (received or not).
    pub fn depth(&self) -> usize {
        self.lock().messages.len()
    }

    /// Messages deleted so far.
    pub fn deleted(&self) -> u64 {
        self.lock().deleted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl InterruptionQueue for InMemoryQueue {
    fn name(&self) -> &str {
        &self.name
    }

    fn receive(&self) -> BoxFuture<'_, Result<Vec<QueueMessage>, CloudError>> {
        Box::pin(async move {
            loop {
                let batch: Vec<QueueMessage> = self
                    .lock()
                    .messages
                    .iter()
                    .take(10)
                    .map(|(id, body)| QueueMessage {
                        id: id.to_string(),
                        receipt: id.to_string(),
                        body: body.clone(),
                    })
                    .collect();
                if !batch.is_empty() {
                    return Ok(batch);
                }
                // a short long-poll, so a stopped controller is never stuck here
                let _ = tokio::time::timeout(
                    std::time::Duration::from_millis(200),
                    self.notify.notified(),
                )
                .await;
                if self.lock().messages.is_empty() {
                    return Ok(Vec::new());
                }
            }
        })
    }

    fn delete<'a>(&'a self, message: &'a QueueMessage) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            let id: u64 = message
                .receipt
                .parse()
                .map_err(|_| CloudError::Invalid(format!("bad receipt {}", message.receipt)))?;
            let mut s = self.lock();
            if s.messages.remove(&id).is_some() {
                s.deleted += 1;
            }
            Ok(())
        })
    }
}

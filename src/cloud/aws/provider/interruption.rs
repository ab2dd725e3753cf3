//! Interruption queue (karpenter-aws.md §13): an SQS long-poll loop that turns EventBridge
//! messages into typed events.
//!
//! Message lifecycle: a message whose event the handler accepted is deleted; one the handler
//! rejects stays on the queue and is redelivered after the visibility timeout; an unparseable
//! message is logged, counted and deleted; a parseable event Karpenter takes no action on
//! (e.g. a health event that is not an EC2 scheduled change) is deleted, as upstream does.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use futures::future::BoxFuture;

use crate::cloud::aws::{classify, AwsContext, AwsError};
use crate::cloud::interruption::{InterruptionQueue, MessageBody, QueueMessage};
use crate::cloud::provider::CloudError;

pub use crate::cloud::interruption::{InterruptionEvent, InterruptionKind};

/// What a message body turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An event to act on.
    Event(InterruptionEvent),
    /// A well-formed message Karpenter takes no action on (unknown source/detail-type, other
    /// health events, other states).
    NoAction(String),
}

/// A message body that is not an EventBridge event.
#[derive(Debug, thiserror::Error)]
#[error("unparseable interruption message: {0}")]
pub struct ParseError(String);

#[derive(Deserialize)]
struct Envelope {
    version: String,
    #[serde(default)]
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    detail: serde_json::Value,
}

fn detail_str(d: &serde_json::Value, k: &str) -> Result<String, ParseError> {
    d.get(k)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| ParseError(format!("detail.{k} is missing or not a string")))
}

/// Parse one SQS message body.
pub fn parse(body: &str) -> Result<Parsed, ParseError> {
    if body.trim().is_empty() {
        return Ok(Parsed::NoAction("empty body".into()));
    }
    let e: Envelope = serde_json::from_str(body).map_err(|e| ParseError(e.to_string()))?;
    if e.version != "0" {
        return Ok(Parsed::NoAction(format!("event version {}", e.version)));
    }
    let d = &e.detail;
    let event = |kind, ids| {
        Ok(Parsed::Event(InterruptionEvent {
            id: e.id.clone(),
            time: e.time.clone(),
            kind,
            instance_ids: ids,
        }))
    };
    match (e.source.as_str(), e.detail_type.as_str()) {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => event(
            InterruptionKind::SpotInterruption {
                action: detail_str(d, "instance-action").unwrap_or_default(),
            },
            vec![detail_str(d, "instance-id")?],
        ),
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => event(
            InterruptionKind::RebalanceRecommendation,
            vec![detail_str(d, "instance-id")?],
        ),
        ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning") => event(
            InterruptionKind::CapacityReservationInterruption {
                action: detail_str(d, "instance-action").unwrap_or_default(),
            },
            vec![detail_str(d, "instance-id")?],
        ),
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            let id = detail_str(d, "instance-id")?;
            let state = detail_str(d, "state")?;
            match state.as_str() {
                "stopping" | "stopped" => {
                    event(InterruptionKind::InstanceStopped { state }, vec![id])
                }
                "shutting-down" | "terminated" => {
                    event(InterruptionKind::InstanceTerminated { state }, vec![id])
                }
                other => Ok(Parsed::NoAction(format!("instance state {other}"))),
            }
        }
        ("aws.health", "AWS Health Event") => {
            let service = detail_str(d, "service")?;
            let category = detail_str(d, "eventTypeCategory")?;
            if service != "EC2" || category != "scheduledChange" {
                return Ok(Parsed::NoAction(format!(
                    "health event {service}/{category}"
                )));
            }
            let ids = d
                .get("affectedEntities")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get("entityValue").and_then(|v| v.as_str()))
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            event(
                InterruptionKind::ScheduledChange {
                    event_type_code: detail_str(d, "eventTypeCode").unwrap_or_default(),
                },
                ids,
            )
        }
        (s, t) => Ok(Parsed::NoAction(format!("{s} / {t}"))),
    }
}

/// Counters the poller keeps (upstream's interruption metrics).
#[derive(Debug, Default)]
pub struct InterruptionMetrics {
    /// Messages received.
    pub received: AtomicU64,
    /// Messages deleted.
    pub deleted: AtomicU64,
    /// Unparseable messages (logged and deleted).
    pub parse_failures: AtomicU64,
    /// Messages left for redelivery because the handler failed.
    pub handler_failures: AtomicU64,
}

impl InterruptionMetrics {
    fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollOutcome {
    /// Events handed to the handler and accepted.
    pub handled: Vec<InterruptionEvent>,
    /// Messages deleted (handled, no-action or unparseable).
    pub deleted: usize,
    /// Unparseable messages (with the parse error).
    pub unparseable: Vec<String>,
    /// Events the handler rejected (left on the queue).
    pub left: usize,
    /// Messages whose DeleteMessage failed (they reappear after the visibility timeout; the
    /// rest of the batch is still handled).
    pub delete_failures: Vec<String>,
}

/// Long-polls the interruption queue.
#[derive(Debug, Clone)]
pub struct InterruptionPoller {
    sqs: aws_sdk_sqs::Client,
    name: String,
    queue_url: String,
    /// Long-poll wait (upstream 20 s).
    pub wait: Duration,
    /// Visibility timeout (upstream 20 s).
    pub visibility_timeout: Duration,
    /// Counters.
    pub metrics: Arc<InterruptionMetrics>,
}

impl InterruptionPoller {
    /// A poller for the queue named `queue` (URL from `GetQueueUrl`).
    pub async fn new(ctx: &AwsContext, queue: &str) -> Result<Self, AwsError> {
        let sqs = ctx.sqs();
        let out = sqs
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .map_err(|e| classify("sqs:GetQueueUrl", e))?;
        let queue_url = out.queue_url().unwrap_or_default().to_string();
        Ok(InterruptionPoller {
            sqs,
            name: queue.to_string(),
            queue_url,
            wait: Duration::from_secs(20),
            visibility_timeout: Duration::from_secs(20),
            metrics: Arc::default(),
        })
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    async fn receive_message(
        &self,
    ) -> Result<aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput, AwsError> {
        self.sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(self.wait.as_secs().min(20) as i32)
            .visibility_timeout(self.visibility_timeout.as_secs() as i32)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| classify("sqs:ReceiveMessage", e))
    }

    /// Receive one batch (up to 10 messages) and process it with `handler`; an `Err` from the
    /// handler leaves that message for redelivery.
    pub async fn poll_once<E: std::fmt::Display>(
        &self,
        mut handler: impl FnMut(&InterruptionEvent) -> Result<(), E>,
    ) -> Result<PollOutcome, AwsError> {
        let out = self.receive_message().await?;
        let mut outcome = PollOutcome::default();
        for m in out.messages() {
            InterruptionMetrics::inc(&self.metrics.received);
            let body = m.body().unwrap_or_default();
            let delete = match parse(body) {
                Ok(Parsed::Event(ev)) => match handler(&ev) {
                    Ok(()) => {
                        outcome.handled.push(ev);
                        true
                    }
                    Err(e) => {
                        tracing::warn!(event = ev.id, error = %e, "interruption handler failed; message left for redelivery");
                        InterruptionMetrics::inc(&self.metrics.handler_failures);
                        outcome.left += 1;
                        false
                    }
                },
                Ok(Parsed::NoAction(why)) => {
                    tracing::debug!(why, "interruption message needs no action");
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, message_id = m.message_id().unwrap_or_default(), "deleting unparseable interruption message");
                    InterruptionMetrics::inc(&self.metrics.parse_failures);
                    outcome.unparseable.push(e.to_string());
                    true
                }
            };
            if delete {
                if let Some(h) = m.receipt_handle() {
                    // A failed delete must not starve the rest of the batch: the other
                    // messages may be spot interruptions with two minutes to act.
                    match self
                        .sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(h)
                        .send()
                        .await
                    {
                        Ok(_) => {
                            InterruptionMetrics::inc(&self.metrics.deleted);
                            outcome.deleted += 1;
                        }
                        Err(e) => {
                            let err = classify("sqs:DeleteMessage", e);
                            tracing::warn!(error = %err, message_id = m.message_id().unwrap_or_default(), "could not delete an interruption message; it will be redelivered");
                            outcome.delete_failures.push(err.to_string());
                        }
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// Poll until `stop` resolves; AWS errors are logged and retried after a short pause.
    pub async fn run<E: std::fmt::Display>(
        &self,
        mut handler: impl FnMut(&InterruptionEvent) -> Result<(), E>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                r = self.poll_once(&mut handler) => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "interruption queue poll failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }
}

/// The controllers' port over this queue: one long poll per [`InterruptionQueue::receive`],
/// bodies parsed here, a delete per handled message.
impl InterruptionQueue for InterruptionPoller {
    fn name(&self) -> &str {
        &self.name
    }

    fn receive(&self) -> BoxFuture<'_, Result<Vec<QueueMessage>, CloudError>> {
        Box::pin(async move {
            let out = self.receive_message().await?;
            Ok(out
                .messages()
                .iter()
                .map(|m| {
                    InterruptionMetrics::inc(&self.metrics.received);
                    let body = match parse(m.body().unwrap_or_default()) {
                        Ok(Parsed::Event(e)) => MessageBody::Event(e),
                        Ok(Parsed::NoAction(why)) => MessageBody::NoAction(why),
                        Err(e) => {
                            InterruptionMetrics::inc(&self.metrics.parse_failures);
                            MessageBody::Unparseable(e.to_string())
                        }
                    };
                    QueueMessage {
                        id: m.message_id().unwrap_or_default().to_string(),
                        receipt: m.receipt_handle().unwrap_or_default().to_string(),
                        body,
                    }
                })
                .collect())
        })
    }

    fn delete<'a>(&'a self, message: &'a QueueMessage) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(&message.receipt)
                .send()
                .await
                .map_err(|e| classify("sqs:DeleteMessage", e))?;
            InterruptionMetrics::inc(&self.metrics.deleted);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(source: &str, dt: &str, detail: serde_json::Value) -> String {
        serde_json::json!({"version":"0","id":"e1","detail-type":dt,"source":source,
            "time":"2026-11-21T04:26:47Z","region":"us-west-2","resources":[],"detail":detail})
        .to_string()
    }

    #[test]
    fn parses_the_five_kinds() {
        let spot = parse(&env(
            "aws.ec2",
            "EC2 Spot Instance Interruption Warning",
            serde_json::json!({"instance-id":"i-1","instance-action":"terminate"}),
        ))
        .unwrap();
        let Parsed::Event(e) = spot else { panic!() };
        assert_eq!(e.instance_ids, ["i-1"]);
        assert_eq!(e.kind.name(), "spot_interrupted");

        let Parsed::Event(e) = parse(&env(
            "aws.health",
            "AWS Health Event",
            serde_json::json!({"service":"EC2","eventTypeCategory":"scheduledChange",
              "eventTypeCode":"AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED",
              "affectedEntities":[{"entityValue":"i-2"},{"entityValue":"i-3"}]}),
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(e.instance_ids, ["i-2", "i-3"]);
        assert_eq!(e.kind.name(), "scheduled_change");

        let Parsed::Event(e) = parse(&env(
            "aws.ec2",
            "EC2 Instance State-change Notification",
            serde_json::json!({"instance-id":"i-4","state":"stopping"}),
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(e.kind.name(), "instance_stopped");
        assert!(matches!(
            parse(&env(
                "aws.ec2",
                "EC2 Instance State-change Notification",
                serde_json::json!({"instance-id":"i-4","state":"running"}),
            ))
            .unwrap(),
            Parsed::NoAction(_)
        ));
        assert!(matches!(
            parse(&env(
                "aws.health",
                "AWS Health Event",
                serde_json::json!({"service":"RDS","eventTypeCategory":"scheduledChange"}),
            ))
            .unwrap(),
            Parsed::NoAction(_)
        ));
        let Parsed::Event(e) = parse(&env(
            "aws.ec2",
            "EC2 Capacity Reservation Instance Interruption Warning",
            serde_json::json!({"instance-id":"i-5","instance-action":"terminate"}),
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(e.kind.name(), "capacity_reservation_interrupted");
        let Parsed::Event(e) = parse(&env(
            "aws.ec2",
            "EC2 Instance Rebalance Recommendation",
            serde_json::json!({"instance-id":"i-6"}),
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(e.kind, InterruptionKind::RebalanceRecommendation);
    }

    #[test]
    fn garbage_and_missing_fields_are_errors_unknown_triples_are_no_action() {
        assert!(parse("not json").is_err());
        assert!(parse(&env(
            "aws.ec2",
            "EC2 Spot Instance Interruption Warning",
            serde_json::json!({})
        ))
        .is_err());
        assert!(matches!(
            parse(&env("aws.s3", "Object Created", serde_json::json!({}))).unwrap(),
            Parsed::NoAction(_)
        ));
        assert!(matches!(parse("  ").unwrap(), Parsed::NoAction(_)));
    }
}

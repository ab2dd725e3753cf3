//! The interruption poller against moto: EventBridge rules deliver the five event kinds to the
//! queue; each comes out typed and is deleted; garbage is reported and deleted; a handler
//! failure leaves the message for redelivery. Also live instance-type discovery for the CLI.
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use kubectl_karpenter::cloud::aws::provider::interruption::{
    InterruptionEvent, InterruptionKind, InterruptionPoller,
};
use kubectl_karpenter::cloud::aws::AwsContext;
use serde_json::json;

use crate::support::moto::Moto;

pub(crate) const QUEUE: &str = "demo";

const RULES: [(&str, &str, &str); 5] = [
    ("ScheduledChange", "aws.health", "AWS Health Event"),
    (
        "SpotInterruption",
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
    ),
    (
        "Rebalance",
        "aws.ec2",
        "EC2 Instance Rebalance Recommendation",
    ),
    (
        "InstanceStateChange",
        "aws.ec2",
        "EC2 Instance State-change Notification",
    ),
    (
        "CapacityReservationInterruption",
        "aws.ec2",
        "EC2 Capacity Reservation Instance Interruption Warning",
    ),
];

pub(crate) async fn queue_with_rules(ctx: &AwsContext) -> String {
    let url = ctx
        .sqs()
        .create_queue()
        .queue_name(QUEUE)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "300")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap()
        .to_string();
    let arn = format!("arn:aws:sqs:us-west-2:123456789012:{QUEUE}");
    let eb = ctx.eventbridge();
    for (name, source, dt) in RULES {
        eb.put_rule()
            .name(format!("Karpenter-demo-{name}"))
            .event_pattern(json!({"source": [source], "detail-type": [dt]}).to_string())
            .send()
            .await
            .expect("rule");
        eb.put_targets()
            .rule(format!("Karpenter-demo-{name}"))
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("KarpenterInterruptionQueueTarget")
                    .arn(&arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("target");
    }
    url
}

pub(crate) async fn put_event(ctx: &AwsContext, source: &str, dt: &str, detail: serde_json::Value) {
    let out = ctx
        .eventbridge()
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(source)
                .detail_type(dt)
                .detail(detail.to_string())
                .build(),
        )
        .send()
        .await
        .expect("put_events");
    assert_eq!(out.failed_entry_count(), 0);
}

pub(crate) async fn queue_depth(ctx: &AwsContext, url: &str) -> (i64, i64) {
    let a = ctx
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let get = |k: QueueAttributeName| {
        a.attributes()
            .and_then(|m| m.get(&k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test]
async fn each_event_kind_comes_out_typed_and_is_deleted_and_garbage_does_not_stop_the_poller() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let url = queue_with_rules(&ctx).await;

    put_event(
        &ctx,
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        json!({"instance-id": "i-spot", "instance-action": "terminate"}),
    )
    .await;
    put_event(
        &ctx,
        "aws.ec2",
        "EC2 Instance Rebalance Recommendation",
        json!({"instance-id": "i-rebalance"}),
    )
    .await;
    put_event(
        &ctx,
        "aws.health",
        "AWS Health Event",
        json!({"service": "EC2", "eventTypeCategory": "scheduledChange",
               "eventTypeCode": "AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED",
               "affectedEntities": [{"entityValue": "i-health"}]}),
    )
    .await;
    put_event(
        &ctx,
        "aws.ec2",
        "EC2 Instance State-change Notification",
        json!({"instance-id": "i-stopped", "state": "stopped"}),
    )
    .await;
    put_event(
        &ctx,
        "aws.ec2",
        "EC2 Capacity Reservation Instance Interruption Warning",
        json!({"instance-id": "i-odcr", "instance-action": "terminate"}),
    )
    .await;
    // not matching any rule: never delivered
    put_event(&ctx, "my.app", "Something", json!({})).await;
    // garbage, straight onto the queue
    ctx.sqs()
        .send_message()
        .queue_url(&url)
        .message_body("this is not an event {")
        .send()
        .await
        .unwrap();

    let mut poller = InterruptionPoller::new(&ctx, QUEUE).await.expect("poller");
    poller.wait = Duration::from_secs(1);
    let mut events: Vec<InterruptionEvent> = Vec::new();
    let mut unparseable = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while (events.len() < 5 || unparseable.is_empty()) && Instant::now() < deadline {
        let out = poller
            .poll_once(|_| Ok::<(), String>(()))
            .await
            .expect("poll");
        events.extend(out.handled);
        unparseable.extend(out.unparseable);
    }
    let mut got: Vec<(&str, Vec<String>)> = events
        .iter()
        .map(|e| (e.kind.name(), e.instance_ids.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "capacity_reservation_interrupted",
                vec!["i-odcr".to_string()]
            ),
            ("instance_stopped", vec!["i-stopped".to_string()]),
            ("rebalance_recommendation", vec!["i-rebalance".to_string()]),
            ("scheduled_change", vec!["i-health".to_string()]),
            ("spot_interrupted", vec!["i-spot".to_string()]),
        ]
    );
    let spot = events
        .iter()
        .find(|e| e.kind.name() == "spot_interrupted")
        .unwrap();
    assert_eq!(
        spot.kind,
        InterruptionKind::SpotInterruption {
            action: "terminate".into()
        }
    );
    assert_eq!(unparseable.len(), 1, "{unparseable:?}");
    let m = &poller.metrics;
    assert_eq!(
        m.parse_failures.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(m.deleted.load(std::sync::atomic::Ordering::Relaxed), 6);
    assert_eq!(
        queue_depth(&ctx, &url).await,
        (0, 0),
        "every message deleted"
    );
}

#[tokio::test]
async fn a_failed_delete_does_not_stop_the_rest_of_the_batch() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let url = queue_with_rules(&ctx).await;
    for id in ["i-1", "i-2", "i-3"] {
        put_event(
            &ctx,
            "aws.ec2",
            "EC2 Spot Instance Interruption Warning",
            json!({"instance-id": id, "instance-action": "terminate"}),
        )
        .await;
    }
    let mut poller = InterruptionPoller::new(&ctx, QUEUE).await.unwrap();
    poller.wait = Duration::from_secs(2);
    let mut seen = Vec::new();
    let out = poller
        .poll_once(|ev| {
            if seen.is_empty() {
                // the queue disappears while the batch is being handled: every DeleteMessage fails
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let rt = tokio::runtime::Runtime::new().unwrap();
                        rt.block_on(async {
                            let other = moto.context().await;
                            other.sqs().delete_queue().queue_url(&url).send().await
                        })
                        .expect("delete queue");
                    });
                });
            }
            seen.push(ev.instance_ids[0].clone());
            Ok::<(), String>(())
        })
        .await
        .expect("a failed delete is reported, not an error for the whole batch");
    seen.sort();
    assert_eq!(seen, ["i-1", "i-2", "i-3"], "every message handled");
    assert_eq!(out.handled.len(), 3);
    assert_eq!(out.deleted, 0);
    assert_eq!(out.delete_failures.len(), 3, "{:?}", out.delete_failures);
}

#[tokio::test]
async fn a_failed_handler_leaves_the_message_for_redelivery() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let url = queue_with_rules(&ctx).await;
    put_event(
        &ctx,
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        json!({"instance-id": "i-1", "instance-action": "terminate"}),
    )
    .await;
    let mut poller = InterruptionPoller::new(&ctx, QUEUE).await.unwrap();
    poller.wait = Duration::from_secs(2);
    poller.visibility_timeout = Duration::from_secs(1);
    let out = poller
        .poll_once(|_| Err::<(), _>("API server unavailable"))
        .await
        .unwrap();
    assert_eq!((out.left, out.deleted), (1, 0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut handled = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while handled.is_empty() && Instant::now() < deadline {
        handled = poller
            .poll_once(|_| Ok::<(), String>(()))
            .await
            .unwrap()
            .handled;
    }
    assert_eq!(handled.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(handled[0].instance_ids, ["i-1"]);
    assert_eq!(queue_depth(&ctx, &url).await, (0, 0));
}

#[tokio::test]
async fn the_run_loop_survives_garbage_and_stops_on_request() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let url = queue_with_rules(&ctx).await;
    for body in ["garbage 1", "{\"version\": 0}"] {
        ctx.sqs()
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    put_event(
        &ctx,
        "aws.ec2",
        "EC2 Instance State-change Notification",
        json!({"instance-id": "i-9", "state": "shutting-down"}),
    )
    .await;
    let mut poller = InterruptionPoller::new(&ctx, QUEUE).await.unwrap();
    poller.wait = Duration::from_secs(1);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let mut tx = Some(tx);
    let stop = async move {
        let _ = rx.await;
    };
    tokio::time::timeout(
        Duration::from_secs(20),
        poller.run(
            move |e| {
                seen2.lock().unwrap().push(e.clone());
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
                Ok::<(), String>(())
            },
            stop,
        ),
    )
    .await
    .expect("the loop stops when asked");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].kind,
        InterruptionKind::InstanceTerminated {
            state: "shutting-down".into()
        }
    );
}

#[tokio::test]
async fn live_instance_types_for_the_cli_come_from_describe_calls() {
    use karpenter_scheduling::instancetype::OverheadOptions;
    let moto = Moto::start();
    let ctx = moto.context().await;
    let types =
        kubectl_karpenter::cli::instance_types::live_types_from(&ctx, &OverheadOptions::default())
            .await
            .expect("live types");
    assert!(types.len() > 500, "{}", types.len());
    let m5 = types.iter().find(|t| t.name == "m5.large").unwrap();
    assert_eq!(m5.capacity.pods, 29);
    assert_eq!(m5.allocatable.memory_bytes, 6903 << 20);
    let mut zones: Vec<&str> = m5.offerings.iter().map(|o| o.zone.as_str()).collect();
    zones.sort();
    zones.dedup();
    assert!(
        zones.iter().all(|z| z.starts_with("us-west-2")),
        "{zones:?}"
    );
    assert!(zones.len() >= 3);
    assert!(m5
        .offerings
        .iter()
        .any(|o| o.capacity_type == "on-demand" && o.price == 0.096 && o.available));
}

//! Prometheus metrics with upstream Karpenter's names, for what the controllers do. Upstream
//! sources: `pkg/metrics/metrics.go` and `constants.go` (nodeclaims, nodes, label names),
//! `pkg/controllers/provisioning/scheduling/metrics.go` (scheduler),
//! `pkg/controllers/disruption/metrics.go` (voluntary disruption),
//! `pkg/controllers/node/termination/metrics.go` and `terminator/metrics.go` (drain, eviction),
//! `pkg/controllers/state/metrics.go` (cluster state), `pkg/cloudprovider/metrics/cloudprovider.go`
//! (cloud provider calls), and karpenter-provider-aws `pkg/controllers/interruption/metrics.go`.
//!
//! `karpenter_nodeclaims_launched_total`, `_registered_total` and `_initialized_total` are the
//! names upstream used up to v1.0 (kubernetes-sigs/karpenter#1483 folded them into other
//! metrics); they are kept here because they answer "is the lifecycle moving" directly.
//!
//! One [`Metrics`] per process (or per test): the controllers hold it in their
//! [`super::Context`], every handle is a method that takes the labels upstream uses, and
//! [`Metrics::encode`] renders the OpenMetrics text `/metrics` serves. Counters are registered
//! without their `_total` suffix; the encoder appends it, so the exposed names are upstream's.
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::cloud::provider::CloudError;

/// A metric's labels, in upstream's order.
pub type Labels = Vec<(&'static str, String)>;

type Hist = Family<Labels, Histogram, fn() -> Histogram>;

/// Upstream's `DurationBuckets()` (controller-runtime's, extended past 60 s).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0, 120.0, 150.0, 300.0, 450.0, 600.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS.iter().copied())
}

/// Upstream's label names (`pkg/metrics/constants.go` and the controllers' own).
pub mod label {
    /// `nodepool`
    pub const NODEPOOL: &str = "nodepool";
    /// `reason`
    pub const REASON: &str = "reason";
    /// `capacity_type`
    pub const CAPACITY_TYPE: &str = "capacity_type";
    /// `zone`
    pub const ZONE: &str = "zone";
    /// `min_values_relaxed`
    pub const MIN_VALUES_RELAXED: &str = "min_values_relaxed";
    /// `controller`
    pub const CONTROLLER: &str = "controller";
    /// `method`
    pub const METHOD: &str = "method";
    /// `provider`
    pub const PROVIDER: &str = "provider";
    /// `error`
    pub const ERROR: &str = "error";
    /// `decision`
    pub const DECISION: &str = "decision";
    /// `consolidation_type`
    pub const CONSOLIDATION_TYPE: &str = "consolidation_type";
    /// `message_type`
    pub const MESSAGE_TYPE: &str = "message_type";
    /// `code`
    pub const CODE: &str = "code";
}

/// `reason` of a NodeClaim created by the provisioner (upstream `ProvisionedReason`).
pub const PROVISIONED_REASON: &str = "provisioned";

/// Every metric the controllers publish, and the registry `/metrics` encodes.
pub struct Metrics {
    registry: Registry,
    provider: String,
    nodeclaims_created: Family<Labels, Counter>,
    nodeclaims_launched: Family<Labels, Counter>,
    nodeclaims_registered: Family<Labels, Counter>,
    nodeclaims_initialized: Family<Labels, Counter>,
    nodeclaims_terminated: Family<Labels, Counter>,
    nodeclaims_disrupted: Family<Labels, Counter>,
    nodes_created: Family<Labels, Counter>,
    nodes_terminated: Family<Labels, Counter>,
    nodes_drained: Family<Labels, Counter>,
    nodes_termination_duration: Hist,
    pods_eviction_requests: Family<Labels, Counter>,
    scheduling_duration: Hist,
    unschedulable_pods: Family<Labels, Gauge>,
    disruption_decisions: Family<Labels, Counter>,
    disruption_eligible_nodes: Family<Labels, Gauge>,
    disruption_evaluation_duration: Hist,
    interruption_received: Family<Labels, Counter>,
    interruption_deleted: Counter,
    interruption_queue_duration: Histogram,
    cloudprovider_duration: Hist,
    cloudprovider_errors: Family<Labels, Counter>,
    cluster_state_synced: Gauge,
    cluster_state_node_count: Gauge,
    leader: Family<Labels, Gauge>,
    scrapes: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new("unknown")
    }
}

fn hist() -> Hist {
    Family::new_with_constructor(duration_histogram as fn() -> Histogram)
}

fn l(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

impl Metrics {
    /// Every metric registered under the `karpenter_` prefix; `provider` is the cloud
    /// provider's name for the `provider` label (`aws`, `memory`).
    pub fn new(provider: &str) -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("karpenter"),
            provider: provider.to_string(),
            nodeclaims_created: Family::default(),
            nodeclaims_launched: Family::default(),
            nodeclaims_registered: Family::default(),
            nodeclaims_initialized: Family::default(),
            nodeclaims_terminated: Family::default(),
            nodeclaims_disrupted: Family::default(),
            nodes_created: Family::default(),
            nodes_terminated: Family::default(),
            nodes_drained: Family::default(),
            nodes_termination_duration: hist(),
            pods_eviction_requests: Family::default(),
            scheduling_duration: hist(),
            unschedulable_pods: Family::default(),
            disruption_decisions: Family::default(),
            disruption_eligible_nodes: Family::default(),
            disruption_evaluation_duration: hist(),
            interruption_received: Family::default(),
            interruption_deleted: Counter::default(),
            interruption_queue_duration: duration_histogram(),
            cloudprovider_duration: hist(),
            cloudprovider_errors: Family::default(),
            cluster_state_synced: Gauge::default(),
            cluster_state_node_count: Gauge::default(),
            leader: Family::default(),
            scrapes: AtomicU64::new(0),
        };
        let r = &mut m.registry;
        r.register(
            "nodeclaims_created",
            "Number of nodeclaims created in total by Karpenter. Labeled by reason the nodeclaim was created, the owning nodepool, and if min values was relaxed for this nodeclaim",
            m.nodeclaims_created.clone(),
        );
        r.register(
            "nodeclaims_launched",
            "Number of nodeclaims launched in total by Karpenter. Labeled by the owning nodepool",
            m.nodeclaims_launched.clone(),
        );
        r.register(
            "nodeclaims_registered",
            "Number of nodeclaims registered in total by Karpenter. Labeled by the owning nodepool",
            m.nodeclaims_registered.clone(),
        );
        r.register(
            "nodeclaims_initialized",
            "Number of nodeclaims initialized in total by Karpenter. Labeled by the owning nodepool",
            m.nodeclaims_initialized.clone(),
        );
        r.register(
            "nodeclaims_terminated",
            "Number of nodeclaims terminated in total by Karpenter. Labeled by the owning nodepool, capacity type, and zone",
            m.nodeclaims_terminated.clone(),
        );
        r.register(
            "nodeclaims_disrupted",
            "Number of nodeclaims disrupted in total by Karpenter. Labeled by reason the nodeclaim was disrupted, the owning nodepool, and the capacity type",
            m.nodeclaims_disrupted.clone(),
        );
        r.register(
            "nodes_created",
            "Number of nodes created in total by Karpenter. Labeled by owning nodepool and zone",
            m.nodes_created.clone(),
        );
        r.register(
            "nodes_terminated",
            "Number of nodes terminated in total by Karpenter. Labeled by owning nodepool and zone",
            m.nodes_terminated.clone(),
        );
        r.register(
            "nodes_drained",
            "The number of nodes drained by Karpenter. Labeled by the owning nodepool",
            m.nodes_drained.clone(),
        );
        r.register(
            "nodes_termination_duration_seconds",
            "The time taken between a node's deletion request and the removal of its finalizer. Labeled by the owning nodepool",
            m.nodes_termination_duration.clone(),
        );
        r.register(
            "pods_eviction_requests",
            "The number of eviction requests Karpenter made. Labeled by the response code",
            m.pods_eviction_requests.clone(),
        );
        r.register(
            "scheduler_scheduling_duration_seconds",
            "Duration of scheduling simulations used for deprovisioning and provisioning in seconds",
            m.scheduling_duration.clone(),
        );
        r.register(
            "scheduler_unschedulable_pods_count",
            "The number of unschedulable pods in the last provisioning pass. Labeled by the controller",
            m.unschedulable_pods.clone(),
        );
        r.register(
            "voluntary_disruption_decisions",
            "Number of disruption decisions performed. Labeled by disruption decision, reason, and consolidation type",
            m.disruption_decisions.clone(),
        );
        r.register(
            "voluntary_disruption_eligible_nodes",
            "Number of nodes eligible for disruption by Karpenter. Labeled by disruption reason",
            m.disruption_eligible_nodes.clone(),
        );
        r.register(
            "voluntary_disruption_decision_evaluation_duration_seconds",
            "Duration of the disruption decision evaluation process in seconds. Labeled by method and consolidation type",
            m.disruption_evaluation_duration.clone(),
        );
        r.register(
            "interruption_received_messages",
            "Count of messages received from the SQS queue. Broken down by message type",
            m.interruption_received.clone(),
        );
        r.register(
            "interruption_deleted_messages",
            "Count of messages deleted from the SQS queue",
            m.interruption_deleted.clone(),
        );
        r.register(
            "interruption_message_queue_duration_seconds",
            "Amount of time an interruption message is on the queue before it is processed by karpenter",
            m.interruption_queue_duration.clone(),
        );
        r.register(
            "cloudprovider_duration_seconds",
            "Duration of cloud provider method calls. Labeled by the controller, method name and provider",
            m.cloudprovider_duration.clone(),
        );
        r.register(
            "cloudprovider_errors",
            "Total number of errors returned from CloudProvider calls",
            m.cloudprovider_errors.clone(),
        );
        r.register(
            "cluster_state_synced",
            "Returns 1 if cluster state is synced and 0 otherwise. Synced checks that nodeclaims and nodes that are stored in the APIServer have the same representation as Karpenter's cluster state",
            m.cluster_state_synced.clone(),
        );
        r.register(
            "cluster_state_node_count",
            "Current count of nodes in cluster state",
            m.cluster_state_node_count.clone(),
        );
        // controller-runtime's gauge, under our prefix
        r.register(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease",
            m.leader.clone(),
        );
        m
    }

    /// The OpenMetrics text of every metric (what `/metrics` serves).
    pub fn encode(&self) -> String {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        let mut out = String::new();
        // writing into a String cannot fail
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// `karpenter_nodeclaims_created_total{reason,nodepool,min_values_relaxed}`.
    pub fn nodeclaim_created(&self, reason: &str, nodepool: &str, min_values_relaxed: bool) {
        self.nodeclaims_created
            .get_or_create(&l(&[
                (label::REASON, reason),
                (label::NODEPOOL, nodepool),
                (
                    label::MIN_VALUES_RELAXED,
                    if min_values_relaxed { "true" } else { "false" },
                ),
            ]))
            .inc();
    }

    /// `karpenter_nodeclaims_launched_total{nodepool}`.
    pub fn nodeclaim_launched(&self, nodepool: &str) {
        self.nodeclaims_launched
            .get_or_create(&l(&[(label::NODEPOOL, nodepool)]))
            .inc();
    }

    /// `karpenter_nodeclaims_registered_total{nodepool}`.
    pub fn nodeclaim_registered(&self, nodepool: &str) {
        self.nodeclaims_registered
            .get_or_create(&l(&[(label::NODEPOOL, nodepool)]))
            .inc();
    }

    /// `karpenter_nodeclaims_initialized_total{nodepool}`.
    pub fn nodeclaim_initialized(&self, nodepool: &str) {
        self.nodeclaims_initialized
            .get_or_create(&l(&[(label::NODEPOOL, nodepool)]))
            .inc();
    }

    /// `karpenter_nodeclaims_terminated_total{nodepool,capacity_type,zone}`.
    pub fn nodeclaim_terminated(&self, nodepool: &str, capacity_type: &str, zone: &str) {
        self.nodeclaims_terminated
            .get_or_create(&l(&[
                (label::NODEPOOL, nodepool),
                (label::CAPACITY_TYPE, capacity_type),
                (label::ZONE, zone),
            ]))
            .inc();
    }

    /// `karpenter_nodeclaims_disrupted_total{reason,nodepool,capacity_type}` (`reason`:
    /// `drifted`, `underutilized`, `empty`, `expired`, or an interruption kind).
    pub fn nodeclaim_disrupted(&self, reason: &str, nodepool: &str, capacity_type: &str) {
        self.nodeclaims_disrupted
            .get_or_create(&l(&[
                (label::REASON, reason),
                (label::NODEPOOL, nodepool),
                (label::CAPACITY_TYPE, capacity_type),
            ]))
            .inc();
    }

    /// `karpenter_nodes_created_total{nodepool,zone}`.
    pub fn node_created(&self, nodepool: &str, zone: &str) {
        self.nodes_created
            .get_or_create(&l(&[(label::NODEPOOL, nodepool), (label::ZONE, zone)]))
            .inc();
    }

    /// `karpenter_nodes_terminated_total{nodepool,zone}`.
    pub fn node_terminated(&self, nodepool: &str, zone: &str) {
        self.nodes_terminated
            .get_or_create(&l(&[(label::NODEPOOL, nodepool), (label::ZONE, zone)]))
            .inc();
    }

    /// `karpenter_nodes_drained_total{nodepool}`.
    pub fn node_drained(&self, nodepool: &str) {
        self.nodes_drained
            .get_or_create(&l(&[(label::NODEPOOL, nodepool)]))
            .inc();
    }

    /// `karpenter_nodes_termination_duration_seconds{nodepool}`.
    pub fn node_termination_duration(&self, nodepool: &str, seconds: f64) {
        self.nodes_termination_duration
            .get_or_create(&l(&[(label::NODEPOOL, nodepool)]))
            .observe(seconds);
    }

    /// `karpenter_pods_eviction_requests_total{code}` (the HTTP status of the Eviction call).
    pub fn pod_eviction_request(&self, code: u16) {
        self.pods_eviction_requests
            .get_or_create(&l(&[(label::CODE, &code.to_string())]))
            .inc();
    }

    /// `karpenter_scheduler_scheduling_duration_seconds{controller}` (`provisioner`,
    /// `disruption`).
    pub fn scheduling_duration(&self, controller: &str, seconds: f64) {
        self.scheduling_duration
            .get_or_create(&l(&[(label::CONTROLLER, controller)]))
            .observe(seconds);
    }

    /// `karpenter_scheduler_unschedulable_pods_count{controller}`: pods the last pass left
    /// pending.
    pub fn unschedulable_pods(&self, controller: &str, count: usize) {
        self.unschedulable_pods
            .get_or_create(&l(&[(label::CONTROLLER, controller)]))
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// `karpenter_voluntary_disruption_decisions_total{decision,reason,consolidation_type}`
    /// (`decision`: `delete` or `replace`; `consolidation_type`: `empty`, `single`, `multi` or
    /// empty for drift and expiration).
    pub fn disruption_decision(&self, decision: &str, reason: &str, consolidation_type: &str) {
        self.disruption_decisions
            .get_or_create(&l(&[
                (label::DECISION, decision),
                (label::REASON, reason),
                (label::CONSOLIDATION_TYPE, consolidation_type),
            ]))
            .inc();
    }

    /// `karpenter_voluntary_disruption_eligible_nodes{reason}`.
    pub fn disruption_eligible_nodes(&self, reason: &str, count: usize) {
        self.disruption_eligible_nodes
            .get_or_create(&l(&[(label::REASON, reason)]))
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// `karpenter_voluntary_disruption_decision_evaluation_duration_seconds{reason,consolidation_type}`.
    pub fn disruption_evaluation_duration(
        &self,
        reason: &str,
        consolidation_type: &str,
        seconds: f64,
    ) {
        self.disruption_evaluation_duration
            .get_or_create(&l(&[
                (label::REASON, reason),
                (label::CONSOLIDATION_TYPE, consolidation_type),
            ]))
            .observe(seconds);
    }

    /// `karpenter_interruption_received_messages_total{message_type}` (upstream's kinds:
    /// `spot_interrupted`, `scheduled_change`, `instance_stopping`, `instance_terminating`,
    /// `rebalance_recommendation`, `no_op`).
    pub fn interruption_received(&self, message_type: &str) {
        self.interruption_received
            .get_or_create(&l(&[(label::MESSAGE_TYPE, message_type)]))
            .inc();
    }

    /// `karpenter_interruption_deleted_messages_total`.
    pub fn interruption_deleted(&self) {
        self.interruption_deleted.inc();
    }

    /// `karpenter_interruption_message_queue_duration_seconds` (now − the event's `time`).
    pub fn interruption_queue_duration(&self, seconds: f64) {
        self.interruption_queue_duration.observe(seconds);
    }

    /// One cloud-provider call: `karpenter_cloudprovider_duration_seconds{controller,method,provider}`
    /// and, when it failed, `karpenter_cloudprovider_errors_total{controller,method,provider,error}`
    /// (`error`: upstream's error names, see [`cloud_error_name`]).
    pub fn cloudprovider_call(
        &self,
        controller: &str,
        method: &str,
        seconds: f64,
        error: Option<&CloudError>,
    ) {
        let base = [
            (label::CONTROLLER, controller),
            (label::METHOD, method),
            (label::PROVIDER, self.provider.as_str()),
        ];
        self.cloudprovider_duration
            .get_or_create(&l(&base))
            .observe(seconds);
        if let Some(e) = error {
            let mut labels = l(&base);
            labels.push((label::ERROR, cloud_error_name(e).to_string()));
            self.cloudprovider_errors.get_or_create(&labels).inc();
        }
    }

    /// Run a cloud-provider call and record it with [`Metrics::cloudprovider_call`].
    pub async fn measure_cloud<T>(
        &self,
        controller: &str,
        method: &str,
        call: impl Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        let start = Instant::now();
        let out = call.await;
        self.cloudprovider_call(
            controller,
            method,
            start.elapsed().as_secs_f64(),
            out.as_ref().err(),
        );
        out
    }

    /// `karpenter_cluster_state_synced` (1 or 0).
    pub fn cluster_state_synced(&self, synced: bool) {
        self.cluster_state_synced.set(i64::from(synced));
    }

    /// `karpenter_cluster_state_node_count`.
    pub fn cluster_state_node_count(&self, count: usize) {
        self.cluster_state_node_count
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// `karpenter_leader_election_master_status{name}` (1 while this process holds the Lease).
    pub fn leader(&self, lease: &str, leading: bool) {
        self.leader
            .get_or_create(&l(&[("name", lease)]))
            .set(i64::from(leading));
    }
}

/// How often [`observe_state`] refreshes the cluster-state gauges.
pub const STATE_METRICS_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// Keep `karpenter_cluster_state_synced` and `_node_count` current until shutdown.
pub async fn observe_state(ctx: std::sync::Arc<super::Context>) {
    ctx.metrics.cluster_state_synced(false);
    tokio::select! {
        _ = ctx.state.wait_synced() => {}
        _ = ctx.stopped() => return,
    }
    loop {
        ctx.metrics.cluster_state_synced(ctx.state.is_synced());
        let nodes = ctx.state.read().state_nodes().len();
        ctx.metrics.cluster_state_node_count(nodes);
        tokio::select! {
            _ = ctx.clock.sleep(STATE_METRICS_PERIOD) => {}
            _ = ctx.stopped() => return,
        }
    }
}

/// Upstream's `error` label for a cloud-provider error (`pkg/cloudprovider/metrics`):
/// `InsufficientCapacityError`, `NodeClaimNotFoundError`, `NodeClassNotReadyError`, or the
/// generic `CloudProviderError`.
pub fn cloud_error_name(e: &CloudError) -> &'static str {
    match e {
        CloudError::InsufficientCapacity { .. } => "InsufficientCapacityError",
        CloudError::NotFound(_) => "NodeClaimNotFoundError",
        CloudError::NodeClassNotReady(_) => "NodeClassNotReadyError",
        _ => "CloudProviderError",
    }
}

/// The value of one sample in OpenMetrics `text` (as [`Metrics::encode`] renders it): the
/// line for `name` whose labels include every pair of `labels`; the sum when several match.
/// `None` when no line matches.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found: Option<f64> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_text, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some((ls, v)) = r.split_once('}') else {
                continue;
            };
            (ls, v)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue;
        };
        let ok = labels
            .iter()
            .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
        if !ok {
            continue;
        }
        let Some(v): Option<f64> = value.split_whitespace().next().and_then(|v| v.parse().ok())
        else {
            continue;
        };
        *found.get_or_insert(0.0) += v;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_exposed_with_upstreams_names_and_labels() {
        let m = Metrics::new("aws");
        m.nodeclaim_created(PROVISIONED_REASON, "default", false);
        m.nodeclaim_created(PROVISIONED_REASON, "default", false);
        m.nodeclaim_launched("default");
        m.cluster_state_synced(true);
        m.cloudprovider_call(
            "nodeclaim.lifecycle",
            "Create",
            0.2,
            Some(&CloudError::NotFound("i-1".into())),
        );
        let text = m.encode();
        assert_eq!(
            sample(
                &text,
                "karpenter_nodeclaims_created_total",
                &[("reason", "provisioned"), ("nodepool", "default")]
            ),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "karpenter_nodeclaims_launched_total", &[]),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "karpenter_cluster_state_synced", &[]),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "karpenter_cloudprovider_errors_total",
                &[("error", "NodeClaimNotFoundError"), ("provider", "aws")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "karpenter_cloudprovider_duration_seconds_count",
                &[("method", "Create")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "karpenter_nodeclaims_registered_total", &[]),
            None,
            "a family with no sample has no line"
        );
    }
}

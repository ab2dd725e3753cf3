//! Karpenter's controllers, as `kubectl karpenter run` will run them (issue 13): cluster state
//! from informers, the provisioner, the NodeClaim lifecycle, termination and disruption — plus a
//! simulated kubelet, kube-scheduler and ReplicaSet controller for tests and, later,
//! `run --simulate`.
//!
//! One code path serves live and simulated runs: the edges are injected (the Kubernetes
//! [`kube::Client`], a [`CloudProvider`], a [`Clock`]) and controller logic takes time only from
//! the clock.
//!
//! | module | upstream | what |
//! |---|---|---|
//! | [`state`] | `pkg/controllers/state/informer/`, `cluster.go` | watchers → the shared [`karpenter_state::Cluster`], the synced gate, nominations |
//! | [`provisioner`] | `pkg/controllers/provisioning/provisioner.go`, `batcher.go` | batch provisionable pods, solve, nominate, create NodeClaims within limits |
//! | [`nodeclaim`] | `provisioning/scheduling/nodeclaimtemplate.go` | a plan → the v1 NodeClaim object (name, labels, hash annotations, requirements, owner) |
//! | [`lifecycle`] | `pkg/controllers/nodeclaim/lifecycle/` | launch (adopting an instance already tagged with the NodeClaim), register, initialize, registration timeout |
//! | [`interruption`] | aws `pkg/controllers/interruption/` | the interruption queue: delete interrupted NodeClaims, events, spot offerings unavailable |
//! | [`gc`] | aws and core `nodeclaim/garbagecollection/` | orphaned instances (30 s grace), NodeClaims whose instance vanished, launch templates of deleted classes |
//! | [`nodeclass`] | aws `pkg/controllers/nodeclass/` | EC2NodeClass status: subnets, security groups, AMIs, instance profile, conditions |
//! | [`hash`] | core `pkg/controllers/nodepool/hash/` | stamp NodePools with our hash; re-stamp NodeClaims of another hash version (no drift) |
//! | [`termination`] | `pkg/controllers/node/termination/`, `nodeclaim/lifecycle/termination.go` | the Node and NodeClaim finalizers: taint, tiered eviction through the Eviction API (PDBs, 429 backoff), `terminationGracePeriod`, instance delete |
//! | [`disruption`] | `pkg/controllers/disruption/controller.go`, `orchestration/queue.go`, `nodepool/hash/` | poll `crates/disruption`, validate, taint, launch replacements, wait, delete, roll back; NodePool hashes |
//! | [`health`] | `pkg/controllers/node/health/` | node repair (gate `NodeRepair`): a NodeClaim whose Node shows a repair policy's condition past its toleration is deleted, unless more than 20 % of its pool is unhealthy |
//! | [`static_capacity`] | `pkg/controllers/static/provisioning/`, `static/deprovisioning/` | static NodePools (gate `StaticCapacity`): `spec.replicas` NodeClaims, created from the template or the surplus deleted |
//! | [`clock`] | — | the injectable time source |
//! | [`error`] | — | the controllers' error, with a metric label per variant |
//! | [`operator`] | `pkg/operator/operator.go` | `run`'s loop: Lease, start, graceful stop, refusal check |
//! | [`leader`] | client-go `leaderelection` | `coordination.k8s.io/v1` Lease election |
//! | [`metrics`] | `pkg/metrics`, each controller's `metrics.go` | Prometheus metrics, upstream's names |
//! | [`http`] | controller-runtime's metrics and probe servers | `/metrics`, `/healthz`, `/readyz` |
//! | [`sim`] | — | simulated kubelet, kube-scheduler and ReplicaSet controller (tests, `run --simulate`) |
//!
//! The controllers hold the provider as `Arc<dyn CloudProvider>` (see the port's docs for why).
//!
//! Proven end to end in `tests/it/run_controllers.rs` over `crates/kube-double` with the in-memory
//! provider (NodeClaims checked field by field; a NodePool limit across two waves of pods;
//! insufficient capacity; the registration timeout) and over moto with the AWS provider; and in
//! `tests/it/run_disruption.rs` (a workload scaled to zero empties the cluster, in memory and
//! over moto; a NodePool change replaces drifted nodes within a PDB; an underutilised cluster
//! is consolidated to a cheaper one); node repair and static capacity in
//! `tests/it/run_repair.rs`; interruption, scenario 3 over EventBridge and SQS, scenario 7
//! killed mid-launch, garbage collection, EC2NodeClass status and hash interop in
//! `tests/it/run_interruption.rs`.
//!
//! **Not built yet** (the next sessions), each where it will live:
//! - in [`termination`]: waiting for VolumeAttachments (not watched, not served by the double);
//! - in [`disruption`]: commands wait in no queue (a pass runs its commands to the end before
//!   the next pass), no per-command orchestration timeout scaling, no `Unconsolidatable` /
//!   `Blocked` events;
//! - the launch timeout (5 min; the registration timeout exists);
//! - NodePool status and readiness; the EC2NodeClass hash (see [`hash`]);
//! - upstream's `StaticDrift` disruption method for static NodePools.
//!
//! `run` itself is [`operator`] (the Lease of [`leader`], start and graceful stop, the refusal
//! next to an in-cluster Karpenter), with [`metrics`] and the [`http`] endpoints. With
//! [`Settings::dry_run`] the provisioner logs the NodeClaims it would create, no Event is
//! published, no lifecycle controller runs, and termination, disruption, interruption and
//! garbage collection log what they would do; so do node repair and static capacity.
//!
//! One EC2NodeClass's instance types serve a whole provisioning pass (the first usable
//! NodePool's, as the state model builds one list per problem). A virtual clock for
//! `run --simulate` is [`clock::TokioClock`] under tokio's paused time (it also drives
//! kube-runtime's requeue timers) or [`clock::ManualClock`]; `run --simulate` (`crate::sim`)
//! runs these controllers under paused time against the API-server double in process.
pub mod clock;
pub mod disruption;
pub mod error;
pub mod gc;
pub mod hash;
pub mod health;
pub mod http;
pub mod interruption;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod nodeclaim;
pub mod nodeclass;
pub mod operator;
pub mod provisioner;
pub mod sim;
pub mod state;
pub mod static_capacity;
pub mod termination;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use karpenter_state::FeatureGates;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use clock::Clock;
pub use error::{Error, Result};
pub use state::ClusterState;

use crate::cloud::provider::CloudProvider;

/// Settings, named as upstream's options where they exist.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The AWS region (the NodeClaims' `topology.kubernetes.io/region` label).
    pub region: String,
    /// `BATCH_IDLE_DURATION` (1 s).
    pub batch_idle_duration: Duration,
    /// `BATCH_MAX_DURATION` (10 s).
    pub batch_max_duration: Duration,
    /// How long a launched NodeClaim may take to register (15 min).
    pub registration_ttl: Duration,
    /// Seed for NodeClaim name suffixes (random when unset).
    pub name_seed: Option<u64>,
    /// How often disruption polls the engine when the last pass did nothing (10 s).
    pub disruption_poll_period: Duration,
    /// How long an Empty or Underutilized command waits before it is re-validated against
    /// fresh state (upstream's 15 s validation).
    pub disruption_validation_delay: Duration,
    /// The shortest drain (upstream `MinDrainTime`, 5 s): pods racing the taint are caught.
    pub min_drain_time: Duration,
    /// Upstream's feature gates (`SpotToSpotConsolidation` reaches the disruption engine).
    pub feature_gates: FeatureGates,
    /// `--dry-run`: watch and decide, log every write that would be made, make none (no
    /// NodeClaim, Event, status or cloud-provider write).
    pub dry_run: bool,
    /// `INTERRUPTION_QUEUE`: the queue name, when it exists (interruption handling off
    /// otherwise).
    pub interruption_queue: Option<String>,
}

impl Settings {
    /// Upstream's defaults for `region`.
    pub fn new(region: &str) -> Self {
        Settings {
            region: region.to_string(),
            batch_idle_duration: Duration::from_secs(1),
            batch_max_duration: Duration::from_secs(10),
            registration_ttl: Duration::from_secs(15 * 60),
            name_seed: None,
            disruption_poll_period: Duration::from_secs(10),
            disruption_validation_delay: Duration::from_secs(15),
            min_drain_time: Duration::from_secs(5),
            feature_gates: FeatureGates::default(),
            dry_run: false,
            interruption_queue: None,
        }
    }
}

/// What every controller shares (kube-rs's `Context` of a reconciler).
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The cluster model.
    pub state: Arc<ClusterState>,
    /// The cloud provider.
    pub provider: Arc<dyn CloudProvider>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub settings: Settings,
    /// NodeClaim name suffixes.
    pub names: nodeclaim::Names,
    /// The Prometheus metrics (upstream's names).
    pub metrics: Arc<metrics::Metrics>,
    /// Becomes `true` when [`Controllers::shutdown`] begins: take no new work.
    pub stopping: watch::Receiver<bool>,
    /// What the latest finished disruption pass found (`run --simulate` reads it to tell
    /// when disruption has nothing left to do).
    pub last_disruption_pass: std::sync::Mutex<Option<disruption::PassReport>>,
    recorder: Recorder,
}

impl Context {
    /// Completes once shutdown has begun (see [`Controllers::shutdown`]).
    pub async fn stopped(&self) {
        let mut rx = self.stopping.clone();
        // the sender lives in Controllers; dropped means stopped too
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Publish an Event about `regarding`; a failure is logged, not returned (events are
    /// best-effort, as upstream's recorder).
    pub async fn event(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        if self.settings.dry_run {
            tracing::info!(reason, note = %note, object = ?regarding.name, "would publish event (dry run)");
            return;
        }
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: reason.to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, regarding).await {
            tracing::debug!(reason, error = %e, "event not recorded");
        }
    }
}

/// How long [`Controllers::shutdown`] waits for in-flight work by default.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The running controllers.
pub struct Controllers {
    /// The shared context.
    pub context: Arc<Context>,
    /// Informers and helpers: aborted at shutdown.
    tasks: Vec<JoinHandle<()>>,
    /// Controllers that return once [`Context::stopped`] fires and their in-flight work is
    /// done: awaited (bounded) at shutdown.
    workers: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Controllers {
    /// Stop every task at once (tests; a crash). In-flight calls are cut where they stand.
    pub fn abort(self) {
        let _ = self.stop.send(true);
        for t in self.tasks.iter().chain(&self.workers) {
            t.abort();
        }
    }

    /// Stop gracefully: no new work is taken ([`Context::stopped`]), in-flight passes and
    /// reconciles finish (waiting at most `grace`), then everything else is aborted. Returns
    /// whether every worker finished within `grace`.
    pub async fn shutdown(self, grace: Duration) -> bool {
        let _ = self.stop.send(true);
        let handles: Vec<_> = self.workers.iter().map(JoinHandle::abort_handle).collect();
        let workers = futures::future::join_all(self.workers);
        let finished = tokio::time::timeout(grace, workers).await.is_ok();
        if !finished {
            tracing::warn!(grace = ?grace, "in-flight work did not finish within the shutdown grace period; abandoning it");
        }
        for h in handles {
            h.abort();
        }
        for t in &self.tasks {
            t.abort();
        }
        self.context.metrics.cluster_state_synced(false);
        finished
    }
}

/// Start the informers, the provisioner, the NodeClaim lifecycle, termination and disruption.
pub fn start(
    client: Client,
    provider: Arc<dyn CloudProvider>,
    clock: Arc<dyn Clock>,
    settings: Settings,
) -> Controllers {
    start_with_metrics(
        client,
        provider,
        clock,
        settings,
        Arc::new(metrics::Metrics::default()),
    )
}

/// [`start`], publishing into `metrics` (which outlives the controllers: `run` keeps one for the
/// process across Lease changes).
pub fn start_with_metrics(
    client: Client,
    provider: Arc<dyn CloudProvider>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    metrics: Arc<metrics::Metrics>,
) -> Controllers {
    let (state, triggers) = ClusterState::new();
    let (stop, stopping) = watch::channel(false);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "karpenter".into(),
            instance: None,
        },
    );
    let context = Arc::new(Context {
        names: nodeclaim::Names::new(settings.name_seed),
        client: client.clone(),
        state: state.clone(),
        provider,
        clock,
        settings,
        metrics,
        stopping,
        last_disruption_pass: std::sync::Mutex::new(None),
        recorder,
    });
    let mut tasks = state::spawn_informers(&client, &state);
    tasks.push(tokio::spawn(metrics::observe_state(context.clone())));
    // termination and disruption are aborted at shutdown (both converge after a crash at any
    // step); the provisioner and the lifecycle controller finish what they started
    tasks.push(tokio::spawn(termination::run(context.clone())));
    tasks.push(tokio::spawn(disruption::run(context.clone())));
    tasks.push(tokio::spawn(health::run(context.clone())));
    tasks.push(tokio::spawn(static_capacity::run(context.clone())));
    tasks.push(tokio::spawn(nodeclass::run(context.clone())));
    tasks.push(tokio::spawn(hash::run(context.clone())));
    tasks.push(tokio::spawn(gc::run(context.clone())));
    if let Some(q) = context.settings.interruption_queue.clone() {
        tasks.push(tokio::spawn(interruption::run(context.clone(), q)));
    }
    let mut workers = vec![tokio::spawn(provisioner::run(context.clone(), triggers))];
    // dry run: nothing is created, so there is no lifecycle to drive
    if !context.settings.dry_run {
        workers.push(tokio::spawn(lifecycle::run(context.clone())));
    }
    Controllers {
        context,
        tasks,
        workers,
        stop,
    }
}

//! `run --simulate` (issue 14): Karpenter's controllers, the very ones `run` starts
//! ([`controllers::start`]), on a virtual clock with every edge simulated.
//!
//! | edge | live `run` | here |
//! |---|---|---|
//! | API server | the cluster's | [`kube_double`] in process (no socket, tasks on this runtime) |
//! | cloud provider | AWS | [`InMemoryProvider`] over the embedded catalog, launches take `launch_delay` |
//! | kubelet, kube-scheduler | the cluster's | [`controllers::sim`]'s, Nodes Ready after `boot_delay` |
//! | ReplicaSet, StatefulSet, Job controllers | the cluster's | [`Driver::reconcile_workloads`]: keeps each workload's pods alive |
//! | interruption queue | SQS | the in-memory provider's queue: scenario `interrupt` steps put EC2's warning on it |
//! | time | the wall clock | tokio's paused clock ([`TokioClock`]): it jumps to the next timer whenever every task is idle |
//!
//! The run is one current-thread runtime started paused; the driver ticks every simulated second:
//! it applies the scenario's due steps, keeps the workloads' pods, observes the NodeClaims and
//! reports what changed as [`Event`]s (reading the store only when something was written since
//! the last tick), and stops at `duration` or once settled: every step has run, nothing is
//! pending, every NodeClaim is initialized and none is being deleted, and a disruption pass that
//! started after the last change ([`controllers::disruption::PassReport`]) found nothing to do
//! and no node waiting on time alone. A step `at: settled` runs at that moment instead. Two runs
//! on the same input print the same events: NodeClaim names come from a seed, instance ids from
//! a counter, pod names from the workloads' counters, and every iteration is ordered.
//!
//! Upstream's equivalent is the KWOK provider and its performance suite
//! (`kwok/cloudprovider`, `test/suites/perf`), which need a KIND cluster.
pub mod scenario;
pub mod seed;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels as api_labels;
use karpenter_scheduling::{labels, Catalog, InstanceType, OverheadOptions};
use kube_double::{ApiServer, Now};
use serde::Serialize;
use serde_json::{json, Value};

use crate::cloud::interruption::{InterruptionEvent, InterruptionKind, MessageBody};
use crate::cloud::provider::{
    self, CloudError, CloudProvider, InMemoryProvider, Instance, NodeClaimRequest,
};
use crate::controllers::clock::{Clock, TokioClock};
use crate::controllers::sim::kubelet::Kubelet;
use crate::controllers::sim::scheduler::Scheduler;
use crate::controllers::{self, nodeclaim, Settings};
use scenario::{Action, At, Scenario};
use seed::{Seed, Workload};

/// The cluster name the simulated instances are tagged with.
pub const CLUSTER: &str = "simulated";
/// The NodeClaim condition the disruption controller sets on its candidates.
pub const DISRUPTION_REASON: &str = "DisruptionReason";

/// How a simulation runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The simulated wall time at the start (events are stamped from it).
    pub start: Timestamp,
    /// AWS region of the catalog.
    pub region: String,
    /// How long a launch takes (the cloud provider's create call).
    pub launch_delay: Duration,
    /// How long a registered Node takes to become Ready.
    pub boot_delay: Duration,
    /// Stop once settled.
    pub until_settled: bool,
    /// Stop after this much simulated time.
    pub duration: Option<Duration>,
    /// Settled also needs this long without a NodeClaim or pod change (beyond nothing
    /// pending, every NodeClaim up, and a disruption pass since the last change that found
    /// nothing to do and nothing waiting).
    pub settle_after: Duration,
    /// Never run longer than this (simulated), settled or not.
    pub max_duration: Duration,
    /// Seed for NodeClaim names.
    pub seed: u64,
    /// The instance types to launch from (default: the embedded catalog for `region`).
    pub instance_types: Option<Vec<InstanceType>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            // 2026-01-01T00:00:00Z
            start: Timestamp::from_second(1_767_225_600).unwrap_or(Timestamp::UNIX_EPOCH),
            region: "us-east-1".into(),
            launch_delay: Duration::from_secs(2),
            boot_delay: Duration::from_secs(30),
            until_settled: true,
            duration: None,
            settle_after: Duration::ZERO,
            max_duration: Duration::from_secs(24 * 3600),
            seed: 1,
            instance_types: None,
        }
    }
}

/// Something that happened to a NodeClaim.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Simulated time, RFC 3339.
    pub time: String,
    /// `launch`, `register`, `initialize`, `disrupt`, `terminate` or `interrupt`.
    pub event: &'static str,
    /// The NodeClaim.
    pub node_claim: String,
    /// Its instance type (empty before launch).
    pub instance_type: String,
    /// Why (disruption reason, interruption kind), when there is one.
    pub reason: Option<String>,
    /// The NodeClaim's price, USD per hour.
    pub price_per_hour: f64,
    /// The cluster's price after this event, USD per hour (the table's timeline).
    #[serde(skip)]
    pub cluster_price_per_hour: f64,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Always `summary`.
    pub event: &'static str,
    /// Simulated time at the end, RFC 3339.
    pub time: String,
    /// Simulated seconds run.
    pub simulated_seconds: u64,
    /// Whether the cluster settled (false: stopped by `--duration` or the cap).
    pub settled: bool,
    /// Pods not bound to a node.
    pub pending_pods: usize,
    /// Pods bound to a node.
    pub bound_pods: usize,
    /// Nodes.
    pub nodes: usize,
    /// NodeClaims.
    pub node_claims: usize,
    /// Σ price of the nodes, USD per hour.
    pub price_per_hour: f64,
    /// Mean over the Karpenter nodes of requested ÷ allocatable CPU (upstream's performance
    /// suite's `AvgUtilization`); 0 without nodes.
    pub cpu_utilisation: f64,
    /// The same for memory.
    pub memory_utilisation: f64,
    /// Simulated seconds at the last NodeClaim or pod change.
    pub last_change_seconds: u64,
}

/// What the driver reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A NodeClaim event.
    Event(Event),
    /// The cluster settled before a step that waits for it (`at: settled`); the summary of
    /// that moment, `event` is `settled`.
    Settled(Summary),
    /// The end.
    Summary(Summary),
}

/// Input a run needs, validated.
#[derive(Debug)]
pub struct Input {
    /// The manifests' content.
    pub seed: Seed,
    /// Timed steps.
    pub scenario: Scenario,
}

/// Why a simulation could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Input that does not describe a runnable simulation.
    #[error("{0}")]
    Invalid(String),
    /// The runtime or an object could not be set up.
    #[error("simulation failed: {0}")]
    Failed(String),
}

impl Input {
    /// Check the scenario against the manifests: every workload and NodePool a step names
    /// exists. Errors name the scenario file, the step and the missing object.
    pub fn validate(&self, scenario_file: &str) -> Result<(), SimError> {
        if self.seed.objects.iter().all(|o| o["kind"] != "NodePool") {
            return Err(SimError::Invalid(
                "the manifests hold no NodePool: add one (see examples/run-simulate/cluster.yaml)"
                    .into(),
            ));
        }
        for (i, s) in self.scenario.steps.iter().enumerate() {
            match &s.action {
                Action::Scale {
                    kind,
                    namespace,
                    name,
                    ..
                } => {
                    let found = self.seed.workloads.iter().any(|w| {
                        &w.namespace == namespace
                            && &w.name == name
                            && kind.as_ref().is_none_or(|k| k == &w.kind)
                    });
                    if !found {
                        return Err(SimError::Invalid(format!(
                            "{scenario_file}: steps[{i}]: scale: {} {namespace}/{name} is not in \
                             the manifests (known workloads: {})",
                            kind.as_deref().unwrap_or("workload"),
                            known(
                                self.seed
                                    .workloads
                                    .iter()
                                    .map(|w| format!("{} {}/{}", w.kind, w.namespace, w.name))
                            )
                        )));
                    }
                }
                Action::PatchNodePool { name, .. } => {
                    let pools = || {
                        self.seed
                            .objects
                            .iter()
                            .filter(|o| o["kind"] == "NodePool")
                            .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
                    };
                    if !pools().any(|p| &p == name) {
                        return Err(SimError::Invalid(format!(
                            "{scenario_file}: steps[{i}]: patchNodePool: NodePool {name:?} is not \
                             in the manifests (known NodePools: {})",
                            known(pools())
                        )));
                    }
                }
                Action::DeletePods { .. } | Action::Interrupt { .. } => {}
            }
        }
        Ok(())
    }
}

fn known(names: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = names.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Run a simulation on its own paused, current-thread runtime, reporting to `sink` as it goes.
/// Call it from a thread that is not running a Tokio runtime.
pub fn run_blocking(
    input: Input,
    opts: Options,
    sink: &mut dyn FnMut(&Record),
) -> Result<Summary, SimError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| SimError::Failed(format!("cannot start the runtime: {e}")))?;
    rt.block_on(run(input, opts, sink))
}

/// The cloud provider's ICE-cache clock on tokio's (virtual) time.
#[derive(Debug)]
struct VirtualInstant;

impl provider::Clock for VirtualInstant {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// The in-memory provider with a launch that takes time.
struct Delayed {
    inner: Arc<InMemoryProvider>,
    clock: Arc<dyn Clock>,
    delay: Duration,
}

impl CloudProvider for Delayed {
    fn instance_types<'a>(
        &'a self,
        nodeclass: &'a str,
    ) -> BoxFuture<'a, Result<Vec<InstanceType>, CloudError>> {
        self.inner.instance_types(nodeclass)
    }

    fn create<'a>(
        &'a self,
        req: &'a NodeClaimRequest,
    ) -> BoxFuture<'a, Result<Instance, CloudError>> {
        Box::pin(async move {
            self.clock.sleep(self.delay).await;
            self.inner.create(req).await
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Instance, CloudError>> {
        self.inner.get(id)
    }

    fn list<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Instance>, CloudError>> {
        self.inner.list()
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), CloudError>> {
        self.inner.delete(id)
    }

    // Every defaulted method passes through, so a feature of the inner provider is not
    // silently switched off by this wrapper.
    fn repair_policies(&self) -> Vec<crate::cloud::provider::RepairPolicy> {
        self.inner.repair_policies()
    }

    fn find_by_nodeclaim<'a>(
        &'a self,
        nodeclaim: &'a str,
    ) -> BoxFuture<'a, Result<Option<Instance>, CloudError>> {
        self.inner.find_by_nodeclaim(nodeclaim)
    }

    fn unavailable_offerings(&self) -> Option<&crate::cloud::provider::UnavailableOfferings> {
        self.inner.unavailable_offerings()
    }

    fn interruption_queue<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn crate::cloud::interruption::InterruptionQueue>, CloudError>>
    {
        self.inner.interruption_queue(name)
    }

    fn resolve_node_class<'a>(
        &'a self,
        node_class: &'a karpenter_api::aws::v1::EC2NodeClass,
        read_only: bool,
    ) -> BoxFuture<'a, Result<Option<crate::cloud::provider::NodeClassResolution>, CloudError>>
    {
        self.inner.resolve_node_class(node_class, read_only)
    }

    fn garbage_collect_launch_templates<'a>(
        &'a self,
        in_use: &'a std::collections::BTreeSet<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, CloudError>> {
        self.inner.garbage_collect_launch_templates(in_use)
    }
}

/// What the driver knows of one NodeClaim.
#[derive(Debug, Default, Clone)]
struct Tracked {
    launched: bool,
    registered: bool,
    initialized: bool,
    disrupted: Option<String>,
    interrupted: bool,
    instance_type: String,
    price: f64,
}

/// The simulation's own loop: scenario, workloads, observation.
struct Driver<'s> {
    server: ApiServer,
    provider: Arc<InMemoryProvider>,
    clock: Arc<TokioClock>,
    prices: BTreeMap<(String, String, String), f64>,
    workloads: Vec<Workload>,
    pod_counter: u64,
    tracked: BTreeMap<String, Tracked>,
    /// A NodeClaim is not initialized yet or is being deleted (from the last observation).
    in_flight: bool,
    /// Interruption messages sent.
    interruptions: u64,
    /// Σ price of the Nodes no NodeClaim owns, from the last observation.
    unmanaged_price: f64,
    /// [`Driver::claims_and_nodes_version`] at the last observation.
    observed: Option<u64>,
    sink: &'s mut dyn FnMut(&Record),
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn is_true(obj: &Value, type_: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c["status"] == "True")
}

fn label<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A pod that neither has terminated nor is being deleted (its workload counts it).
fn live(p: &Value) -> bool {
    p.pointer("/metadata/deletionTimestamp").is_none()
        && !matches!(
            p.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        )
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The 5-character suffix alphabet of Kubernetes' generated names.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Driver<'_> {
    fn now(&self) -> String {
        // whole seconds: the driver ticks on them
        let t = self.clock.now();
        Timestamp::from_second(t.as_second())
            .unwrap_or(t)
            .to_string()
    }

    fn emit(&mut self, event: &'static str, claim: &str, reason: Option<String>) {
        let t = self.tracked.get(claim).cloned().unwrap_or_default();
        let cluster = self.cluster_price();
        let e = Event {
            time: self.now(),
            event,
            node_claim: claim.to_string(),
            instance_type: t.instance_type,
            reason,
            price_per_hour: round6(t.price),
            cluster_price_per_hour: round6(cluster),
        };
        (self.sink)(&Record::Event(e));
    }

    fn price_of(&self, obj: &Value) -> f64 {
        let key = (
            label(obj, labels::INSTANCE_TYPE).to_string(),
            label(obj, labels::ZONE).to_string(),
            label(obj, labels::CAPACITY_TYPE).to_string(),
        );
        self.prices.get(&key).copied().unwrap_or(0.0)
    }

    /// Σ price of the launched NodeClaims still alive plus the Nodes no NodeClaim owns (as of
    /// the last observation).
    fn cluster_price(&self) -> f64 {
        let claimed: f64 = self
            .tracked
            .values()
            .filter(|t| t.launched)
            .map(|t| t.price)
            .sum();
        claimed + self.unmanaged_price
    }

    /// Σ price of the Nodes whose provider id no NodeClaim holds.
    fn unmanaged_price(&self, claims: &[Value], nodes: &[Value]) -> f64 {
        let claimed: BTreeSet<&str> = claims
            .iter()
            .filter_map(|c| c.pointer("/status/providerID").and_then(Value::as_str))
            .collect();
        nodes
            .iter()
            .filter(|n| {
                n.pointer("/spec/providerID")
                    .and_then(Value::as_str)
                    .is_none_or(|p| !claimed.contains(p))
            })
            .map(|n| self.price_of(n))
            .sum()
    }

    /// Take the NodeClaims present at the start (adopted nodes) as known, without events.
    fn prime(&mut self) {
        let claims = self.server.list("karpenter.sh/v1", "NodeClaim", None);
        self.unmanaged_price = self.unmanaged_price(&claims, &self.server.list("v1", "Node", None));
        for c in claims {
            let t = Tracked {
                launched: is_true(&c, "Launched"),
                registered: is_true(&c, "Registered"),
                initialized: is_true(&c, "Initialized"),
                instance_type: label(&c, labels::INSTANCE_TYPE).to_string(),
                price: self.price_of(&c),
                ..Tracked::default()
            };
            self.tracked.insert(name_of(&c).to_string(), t);
        }
    }

    /// The NodeClaims' and Nodes' names and resourceVersions, hashed: observation is skipped
    /// while it stays the same.
    fn claims_and_nodes_version(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (v, k) in [("karpenter.sh/v1", "NodeClaim"), ("v1", "Node")] {
            k.hash(&mut h);
            self.server.visit(v, k, None, |o| {
                name_of(o).hash(&mut h);
                o.pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .hash(&mut h);
            });
        }
        h.finish()
    }

    /// Compare the NodeClaims with what was seen last; report the differences. Returns whether
    /// anything changed.
    fn observe(&mut self) -> bool {
        let version = self.claims_and_nodes_version();
        if self.observed == Some(version) {
            return false;
        }
        self.observed = Some(version);
        let claims = self.server.list("karpenter.sh/v1", "NodeClaim", None);
        let nodes = self.server.list("v1", "Node", None);
        self.unmanaged_price = self.unmanaged_price(&claims, &nodes);
        let disrupted_nodes: BTreeSet<String> = nodes
            .iter()
            .filter(|n| {
                n.pointer("/spec/taints")
                    .and_then(Value::as_array)
                    .is_some_and(|ts| {
                        ts.iter()
                            .any(|t| t["key"] == api_labels::DISRUPTED_TAINT_KEY)
                    })
            })
            .filter_map(|n| n.pointer("/spec/providerID").and_then(Value::as_str))
            .map(String::from)
            .collect();
        let mut changed = false;
        let mut in_flight = false;
        let mut alive = BTreeSet::new();
        for c in &claims {
            let name = name_of(c).to_string();
            alive.insert(name.clone());
            let mut t = self.tracked.get(&name).cloned().unwrap_or_default();
            if !self.tracked.contains_key(&name) {
                changed = true;
                self.tracked.insert(name.clone(), t.clone());
            }
            if c.pointer("/metadata/deletionTimestamp").is_some() {
                in_flight = true; // terminating: not settled
            }
            if !t.launched && is_true(c, "Launched") {
                t.launched = true;
                t.instance_type = label(c, labels::INSTANCE_TYPE).to_string();
                t.price = self.price_of(c);
                self.tracked.insert(name.clone(), t.clone());
                self.emit("launch", &name, None);
                changed = true;
            }
            if t.launched && !t.registered && is_true(c, "Registered") {
                t.registered = true;
                self.tracked.insert(name.clone(), t.clone());
                self.emit("register", &name, None);
                changed = true;
            }
            if t.registered && !t.initialized && is_true(c, "Initialized") {
                t.initialized = true;
                self.tracked.insert(name.clone(), t.clone());
                self.emit("initialize", &name, None);
                changed = true;
            }
            let pid = c
                .pointer("/status/providerID")
                .and_then(Value::as_str)
                .unwrap_or("");
            let reason = condition(c, DISRUPTION_REASON)
                .filter(|c| c["status"] == "True")
                .and_then(|c| c["reason"].as_str())
                .map(String::from);
            let tainted = !pid.is_empty() && disrupted_nodes.contains(pid);
            if t.disrupted.is_none() && (reason.is_some() || tainted) {
                let reason = reason.unwrap_or_else(|| "Disrupted".into());
                t.disrupted = Some(reason.clone());
                self.tracked.insert(name.clone(), t.clone());
                self.emit("disrupt", &name, Some(reason));
                changed = true;
            } else if t.disrupted.is_some() && reason.is_none() && !tainted {
                // rolled back (a replacement failed): it may be disrupted again later
                t.disrupted = None;
                self.tracked.insert(name.clone(), t.clone());
                changed = true;
            }
            if !t.initialized {
                in_flight = true; // still coming up: not settled
            }
        }
        let gone: Vec<String> = self
            .tracked
            .keys()
            .filter(|n| !alive.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            changed = true;
            let Some(t) = self.tracked.get(&name).cloned() else {
                continue;
            };
            if t.launched {
                let reason = t
                    .disrupted
                    .clone()
                    .or_else(|| t.interrupted.then(|| "Interrupted".to_string()));
                // the price goes with the NodeClaim: report the cluster after it
                if let Some(x) = self.tracked.get_mut(&name) {
                    x.launched = false;
                }
                let cluster = self.cluster_price();
                let e = Event {
                    time: self.now(),
                    event: "terminate",
                    node_claim: name.clone(),
                    instance_type: t.instance_type.clone(),
                    reason,
                    price_per_hour: round6(t.price),
                    cluster_price_per_hour: round6(cluster),
                };
                (self.sink)(&Record::Event(e));
            }
            self.tracked.remove(&name);
        }
        self.in_flight = in_flight;
        changed
    }

    fn count(&self, api_version: &str, kind: &str) -> usize {
        let mut n = 0;
        self.server.visit(api_version, kind, None, |_| n += 1);
        n
    }

    /// The cluster now, as a summary record.
    fn summary(
        &self,
        event: &'static str,
        settled: bool,
        start: tokio::time::Instant,
        last_change: Duration,
        ctl: &controllers::Controllers,
    ) -> Summary {
        let (pending, bound) = self.pod_counts();
        let (cpu, memory) = utilisation(&ctl.context.state.read());
        Summary {
            event,
            time: self.now(),
            simulated_seconds: start.elapsed().as_secs(),
            settled,
            pending_pods: pending,
            bound_pods: bound,
            nodes: self.count("v1", "Node"),
            node_claims: self.count("karpenter.sh/v1", "NodeClaim"),
            price_per_hour: round6(self.cluster_price()),
            cpu_utilisation: round6(cpu),
            memory_utilisation: round6(memory),
            last_change_seconds: last_change.as_secs(),
        }
    }

    fn next_suffix(&mut self) -> String {
        // splitmix64 over a counter: deterministic, spread like generateName's suffixes
        self.pod_counter += 1;
        let mut z = self.pod_counter.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (0..5)
            .map(|i| ALPHABET[((z >> (i * 8)) % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    /// The ReplicaSet, StatefulSet and Job controllers: each workload keeps `replicas` live pods
    /// (creating pending ones, deleting the extra: unbound first, then the newest). Returns
    /// whether anything changed.
    fn reconcile_workloads(&mut self) -> Result<bool, SimError> {
        // the live pods of each owner: (name, bound, resourceVersion), read in place
        let mut by_owner: BTreeMap<String, Vec<(String, bool, u64)>> = BTreeMap::new();
        self.server.visit("v1", "Pod", None, |p| {
            let Some(uid) = p
                .pointer("/metadata/ownerReferences/0/uid")
                .and_then(Value::as_str)
            else {
                return;
            };
            if !live(p) {
                return;
            }
            let bound = p
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            let rv: u64 = p
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            by_owner
                .entry(uid.to_string())
                .or_default()
                .push((name_of(p).to_string(), bound, rv));
        });
        let mut changed = false;
        for wi in 0..self.workloads.len() {
            let w = self.workloads[wi].clone();
            let uid = w.owner["uid"].as_str().unwrap_or("");
            let mut live = by_owner.remove(uid).unwrap_or_default();
            let want = w.replicas as usize;
            if live.len() < want {
                let mut taken: BTreeSet<String> = live.iter().map(|p| p.0.clone()).collect();
                for _ in live.len()..want {
                    let name_suffix = if w.kind == "StatefulSet" {
                        let mut i = 0;
                        while taken.contains(&format!("{}{i}", w.prefix)) {
                            i += 1;
                        }
                        i.to_string()
                    } else {
                        self.next_suffix()
                    };
                    let pod = seed::workload_pod(&w, &name_suffix);
                    taken.insert(name_of(&pod).to_string());
                    self.server.try_seed(pod).map_err(|e| {
                        SimError::Failed(format!(
                            "{} {}/{}: cannot create its pod: {e}",
                            w.kind, w.namespace, w.name
                        ))
                    })?;
                    changed = true;
                }
            } else if live.len() > want {
                // unbound first, then the newest (highest resourceVersion)
                live.sort_by_key(|(_, bound, rv)| (*bound, std::cmp::Reverse(*rv)));
                for (name, _, _) in &live[..live.len() - want] {
                    self.server.delete("v1", "Pod", Some(&w.namespace), name);
                    changed = true;
                }
            }
        }
        Ok(changed)
    }

    /// Apply one scenario step.
    async fn apply(&mut self, action: &Action) {
        match action {
            Action::Scale {
                kind,
                namespace,
                name,
                replicas,
            } => {
                for w in &mut self.workloads {
                    if &w.namespace == namespace
                        && &w.name == name
                        && kind.as_ref().is_none_or(|k| k == &w.kind)
                    {
                        w.replicas = *replicas;
                    }
                }
            }
            Action::DeletePods {
                namespace,
                selector,
                names,
            } => {
                for p in self.server.list("v1", "Pod", Some(namespace)) {
                    let by_name = names.iter().any(|n| n == name_of(&p));
                    let by_labels =
                        !selector.is_empty() && selector.iter().all(|(k, v)| label(&p, k) == v);
                    if by_name || by_labels {
                        self.server
                            .delete("v1", "Pod", Some(namespace), name_of(&p));
                    }
                }
            }
            Action::PatchNodePool { name, patch } => {
                self.server
                    .modify("karpenter.sh/v1", "NodePool", None, name, |v| {
                        scenario::merge_patch(v, patch)
                    });
            }
            Action::Interrupt {
                node_claim,
                instance_type,
            } => {
                let claims = self.server.list("karpenter.sh/v1", "NodeClaim", None);
                let mut hit = 0;
                for c in claims {
                    let name = name_of(&c).to_string();
                    let matches = node_claim.as_ref().is_some_and(|n| n == &name)
                        || instance_type
                            .as_ref()
                            .is_some_and(|t| t == label(&c, labels::INSTANCE_TYPE));
                    if !matches || c.pointer("/metadata/deletionTimestamp").is_some() {
                        continue;
                    }
                    let Some(id) = c
                        .pointer("/status/providerID")
                        .and_then(Value::as_str)
                        .and_then(|p| p.rsplit('/').next())
                        .map(String::from)
                    else {
                        continue; // not launched: nothing to interrupt
                    };
                    hit += 1;
                    // EC2's spot interruption warning, on the queue the interruption controller
                    // reads: it marks the offering unavailable and deletes the NodeClaim (which
                    // drains; its pods are provisioned elsewhere)
                    self.interruptions += 1;
                    self.provider
                        .queue()
                        .send(MessageBody::Event(InterruptionEvent {
                            id: format!("simulated-interruption-{}", self.interruptions),
                            time: Some(self.now()),
                            kind: InterruptionKind::SpotInterruption {
                                action: "terminate".into(),
                            },
                            instance_ids: vec![id],
                        }));
                    if let Some(t) = self.tracked.get_mut(&name) {
                        t.interrupted = true;
                    }
                    self.emit("interrupt", &name, Some("SpotInterruption".into()));
                }
                if hit == 0 {
                    tracing::warn!(
                        node_claim = node_claim.as_deref().unwrap_or(""),
                        instance_type = instance_type.as_deref().unwrap_or(""),
                        "interrupt step: no launched NodeClaim matches"
                    );
                }
            }
        }
    }

    fn pod_counts(&self) -> (usize, usize) {
        let mut pending = 0;
        let mut bound = 0;
        self.server.visit("v1", "Pod", None, |p| {
            if !live(p) {
                return;
            }
            if p.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
            {
                bound += 1;
            } else {
                pending += 1;
            }
        });
        (pending, bound)
    }
}

/// Upstream's `Monitor.AvgUtilization` for CPU and memory: the mean over Karpenter's Nodes (those
/// labelled `karpenter.sh/nodepool`) of the requests of the pods bound to each ÷ its allocatable.
pub fn utilisation(c: &karpenter_state::Cluster) -> (f64, f64) {
    let by_node = c.pods_by_node();
    let (mut cpu, mut cpu_n, mut mem, mut mem_n) = (0.0, 0u32, 0.0, 0u32);
    for sn in c.state_nodes() {
        let Some(node) = sn.node else { continue };
        if node.node_pool().is_none() {
            continue;
        }
        let mut requested = karpenter_scheduling::Resources::default();
        for p in by_node.get(node.name.as_str()).into_iter().flatten() {
            if p.counts() && !p.terminal {
                if let Ok(s) = &p.scheduling {
                    requested.add(&s.requests);
                }
            }
        }
        let a = &node.allocatable;
        if a.cpu_millis > 0 {
            cpu += requested.cpu_millis as f64 / a.cpu_millis as f64;
            cpu_n += 1;
        }
        if a.memory_bytes > 0 {
            mem += requested.memory_bytes as f64 / a.memory_bytes as f64;
            mem_n += 1;
        }
    }
    let mean = |sum: f64, n: u32| if n == 0 { 0.0 } else { sum / f64::from(n) };
    (mean(cpu, cpu_n), mean(mem, mem_n))
}

/// Store the existing Karpenter nodes' NodeClaims and hand their instances to the provider, as
/// if Karpenter had launched them (Launched, Registered and Initialized).
fn adopt_nodes(
    server: &ApiServer,
    provider: &InMemoryProvider,
    types: &[InstanceType],
    nodes: &[Value],
    region: &str,
) -> Result<(), SimError> {
    for (i, node) in nodes.iter().enumerate() {
        let name = name_of(node).to_string();
        let pool_name = label(node, labels::NODEPOOL).to_string();
        let Some(pool) = server.get("karpenter.sh/v1", "NodePool", None, &pool_name) else {
            return Err(SimError::Invalid(format!(
                "Node {name}: its NodePool {pool_name:?} (label karpenter.sh/nodepool) is not in \
                 the manifests"
            )));
        };
        let typed: karpenter_api::sh::v1::NodePool = serde_json::from_value(pool.clone())
            .map_err(|e| SimError::Invalid(format!("NodePool {pool_name}: {e}")))?;
        let zone = label(node, labels::ZONE).to_string();
        let zone = if zone.is_empty() {
            format!("{region}a")
        } else {
            zone
        };
        let pid = node
            .pointer("/spec/providerID")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("aws:///{zone}/i-{:017x}", 0xe000_0000u64 + i as u64));
        let id = pid.rsplit('/').next().unwrap_or_default().to_string();
        let itype = label(node, labels::INSTANCE_TYPE).to_string();
        let capacity_type = match label(node, labels::CAPACITY_TYPE) {
            "" => "on-demand".to_string(),
            c => c.to_string(),
        };
        // the instance type's well-known labels (category, family, cpu, ...), as the cloud
        // provider puts them on a NodeClaim it launches; the Node's own labels win
        let Some(it) = types.iter().find(|t| t.name == itype) else {
            return Err(SimError::Invalid(format!(
                "Node {name}: instance type {itype:?} (label {}) is not in the catalog for {region}",
                labels::INSTANCE_TYPE
            )));
        };
        let mut claim_labels = json!(it.labels);
        if let Some(Value::Object(own)) = node.pointer("/metadata/labels") {
            for (k, v) in own {
                claim_labels[k] = v.clone();
            }
        }
        let node_labels = claim_labels.clone();
        server.modify("v1", "Node", None, &name, |n| {
            n["spec"]["providerID"] = json!(pid);
            n["metadata"]["labels"] = node_labels;
            n["metadata"]["labels"][api_labels::NODE_REGISTERED] = json!("true");
            n["metadata"]["labels"][api_labels::NODE_INITIALIZED] = json!("true");
        });
        claim_labels[api_labels::NODE_REGISTERED] = json!("true");
        claim_labels[api_labels::NODE_INITIALIZED] = json!("true");
        claim_labels[labels::CAPACITY_TYPE] = json!(capacity_type);
        claim_labels[labels::ZONE] = json!(zone);
        let class_ref = pool
            .pointer("/spec/template/spec/nodeClassRef")
            .cloned()
            .unwrap_or(json!({}));
        let cond = |t: &str| {
            json!({"type": t, "status": "True", "reason": t, "message": "",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"})
        };
        let claim = json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {
                "name": name,
                "labels": claim_labels,
                "annotations": {
                    api_labels::NODEPOOL_HASH: nodeclaim::node_pool_hash(&typed),
                    api_labels::NODEPOOL_HASH_VERSION: nodeclaim::HASH_VERSION,
                },
                "finalizers": [api_labels::TERMINATION_FINALIZER],
                "ownerReferences": [{
                    "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "name": pool_name,
                    "uid": pool["metadata"]["uid"], "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "nodeClassRef": class_ref,
                "requirements": [
                    {"key": labels::INSTANCE_TYPE, "operator": "In", "values": [itype]},
                    {"key": labels::NODEPOOL, "operator": "In", "values": [pool_name]},
                ],
            },
            "status": {
                "providerID": pid,
                "nodeName": name,
                "capacity": node.pointer("/status/capacity").cloned().unwrap_or(json!({})),
                "allocatable": node.pointer("/status/allocatable").cloned().unwrap_or(json!({})),
                "conditions": [cond("Launched"), cond("Registered"), cond("Initialized"), cond("Ready")],
            },
        });
        server
            .try_seed(claim)
            .map_err(|e| SimError::Invalid(format!("Node {name}: cannot adopt it: {e}")))?;
        provider.adopt(Instance {
            id,
            instance_type: itype,
            zone,
            capacity_type,
            image_id: None,
            subnet_id: None,
            state: "running".into(),
            launch_time: None,
            tags: BTreeMap::from([
                (format!("kubernetes.io/cluster/{CLUSTER}"), "owned".into()),
                (labels::NODEPOOL.to_string(), pool_name),
                (provider::NODECLAIM_TAG.to_string(), name),
            ]),
        });
    }
    Ok(())
}

/// Run a simulation on the current runtime, which must be a current-thread runtime with paused
/// time (see [`run_blocking`]).
pub async fn run(
    input: Input,
    opts: Options,
    sink: &mut dyn FnMut(&Record),
) -> Result<Summary, SimError> {
    run_to_end(input, opts, sink).await.map(|(s, _)| s)
}

/// [`run_blocking`], keeping the simulated API server for a look at the end state.
pub fn run_blocking_to_end(
    input: Input,
    opts: Options,
    sink: &mut dyn FnMut(&Record),
) -> Result<(Summary, ApiServer), SimError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| SimError::Failed(format!("cannot start the runtime: {e}")))?;
    rt.block_on(run_to_end(input, opts, sink))
}

async fn run_to_end(
    input: Input,
    opts: Options,
    sink: &mut dyn FnMut(&Record),
) -> Result<(Summary, ApiServer), SimError> {
    let types = match opts.instance_types.clone() {
        Some(t) => t,
        None => Catalog::embedded()
            .instance_types(&opts.region, &OverheadOptions::default())
            .map_err(|e| SimError::Invalid(format!("region {}: {e}", opts.region)))?,
    };
    let clock = Arc::new(TokioClock::starting_at(opts.start));
    let now_clock = clock.clone();
    let server = ApiServer::builder()
        .with_clock(Now::from_fn(move || now_clock.now().as_second()))
        .without_request_log()
        .build_in_process();
    for obj in input.seed.objects {
        let what = format!("{} {}", obj["kind"].as_str().unwrap_or(""), name_of(&obj));
        server
            .try_seed(obj)
            .map_err(|e| SimError::Invalid(format!("{what}: {e}")))?;
    }
    let provider = Arc::new(InMemoryProvider::new(CLUSTER, Arc::new(VirtualInstant)));
    let mut prices = BTreeMap::new();
    for it in &types {
        for o in &it.offerings {
            prices.insert(
                (it.name.clone(), o.zone.clone(), o.capacity_type.clone()),
                o.price,
            );
        }
    }
    adopt_nodes(
        &server,
        &provider,
        &types,
        &input.seed.karpenter_nodes,
        &opts.region,
    )?;
    provider.set_instance_types(types);

    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let cloud: Arc<dyn CloudProvider> = Arc::new(Delayed {
        inner: provider.clone(),
        clock: dyn_clock.clone(),
        delay: opts.launch_delay,
    });
    let mut settings = Settings::new(&opts.region);
    settings.name_seed = Some(opts.seed);
    // the in-memory provider hands out its queue under any name; scenario interruptions go there
    settings.interruption_queue = Some(format!("{CLUSTER}-interruption"));
    let ctl = controllers::start(server.client(), cloud.clone(), dyn_clock.clone(), settings);
    let kubelet = Kubelet::new(server.client(), cloud, dyn_clock.clone(), opts.boot_delay);
    let scheduler = Scheduler::new(server.client(), dyn_clock.clone());
    let tasks = vec![
        tokio::spawn(Arc::new(kubelet).run()),
        tokio::spawn(Arc::new(scheduler).run()),
    ];

    let mut driver = Driver {
        server,
        provider,
        clock,
        prices,
        workloads: input.seed.workloads,
        pod_counter: 0,
        tracked: BTreeMap::new(),
        in_flight: false,
        interruptions: 0,
        unmanaged_price: 0.0,
        observed: None,
        sink,
    };
    driver.prime();
    let start = tokio::time::Instant::now();
    let mut steps = input.scenario.steps.into_iter().peekable();
    let mut last_change = Duration::ZERO;
    let mut last_change_at = driver.clock.now();
    let mut last_rv = None;
    let mut counts = (usize::MAX, usize::MAX);
    let tick = Duration::from_secs(1);
    let settled = loop {
        let elapsed = start.elapsed();
        let mut changed = false;
        while let Some(step) = steps.next_if(|s| matches!(s.at, At::After(d) if d <= elapsed)) {
            driver.apply(&step.action).await;
            changed = true;
        }
        // everything below reads the store: skip it while nothing was written
        let rv = driver.server.resource_version();
        if changed || last_rv != Some(rv) {
            changed |= driver.reconcile_workloads()?;
            changed |= driver.observe();
            let now = driver.pod_counts();
            changed |= now != counts;
            counts = now;
            last_rv = Some(driver.server.resource_version());
        }
        if changed {
            last_change = elapsed;
            last_change_at = driver.clock.now();
        }
        let disruption_idle = ctl
            .context
            .last_disruption_pass
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|p| p.idle() && p.started > last_change_at);
        let settled_now = counts.0 == 0
            && !driver.in_flight
            && disruption_idle
            && elapsed.saturating_sub(last_change) >= opts.settle_after;
        if settled_now && steps.peek().is_some_and(|s| s.at == At::Settled) {
            let summary = driver.summary("settled", true, start, last_change, &ctl);
            (driver.sink)(&Record::Settled(summary));
            let group = steps.peek().map(|s| s.group);
            while let Some(step) = steps.next_if(|s| s.at == At::Settled && Some(s.group) == group)
            {
                driver.apply(&step.action).await;
            }
            last_rv = None;
            last_change = elapsed;
            last_change_at = driver.clock.now();
            continue;
        }
        let settled = settled_now && steps.peek().is_none();
        if opts.until_settled && settled {
            break true;
        }
        if opts.duration.is_some_and(|d| elapsed >= d) || elapsed >= opts.max_duration {
            break settled;
        }
        dyn_clock.sleep(tick).await;
    };
    let summary = driver.summary("summary", settled, start, last_change, &ctl);
    (driver.sink)(&Record::Summary(summary.clone()));
    for t in &tasks {
        t.abort();
    }
    ctl.abort();
    Ok((summary, driver.server))
}

//! The cloud-provider seam the `run` loop and `simulate` share: launch, get, list and delete
//! instances for NodeClaims, plus the unavailable-offerings (ICE) cache and the candidate
//! selection both implementations use (karpenter-aws.md §4, §8).
//!
//! [`InMemoryProvider`] keeps instances in memory (simulation and tests); the AWS implementation
//! lives in `cloud::aws::provider`. Upstream's port is `pkg/cloudprovider/types.go` (the
//! `CloudProvider` interface and its `NodeClaimNotFoundError`, `InsufficientCapacityError` and
//! `NodeClassNotReadyError`).
//!
//! # A port that knows no provider
//!
//! This module depends on no adapter: [`CloudError`] names the outcomes the controllers act on
//! (insufficient capacity: try other offerings; not found: the instance is gone; node class not
//! ready: wait for it; invalid: the NodeClaim or node class must change) and carries any other provider failure boxed in
//! [`CloudError::Provider`], with its message unchanged. The AWS adapter converts its own `AwsError`
//! into it; code that needs the adapter's detail can `downcast_ref` the box.
//!
//! # Controllers hold `Arc<dyn CloudProvider>`
//!
//! The provisioner, disruption, garbage-collection and interruption controllers receive the
//! provider as a trait object, not as a type parameter:
//! - one compiled controller path serves every provider (AWS live, the in-memory one behind
//!   `simulate` and the tests, and any fake a test builds). Generic controllers would be
//!   monomorphised once per provider, in the binary and again in each test binary that uses them,
//!   for no gain at run time;
//! - the provider is chosen at run time (live or simulated) without a type parameter threading
//!   through every controller, queue and handle that stores it;
//! - the price is one boxed future per cloud call, each of which is a network round trip (or a map
//!   lookup in memory): nothing measurable.
//!
//! A trait with `async fn` (or `-> impl Future`) methods cannot be made into an object, so each
//! method returns a [`BoxFuture`] (`Pin<Box<dyn Future + Send>>`), which also keeps the futures
//! `Send` for the multi-threaded runtime. Implementations write `Box::pin(async move { ... })`.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::aws::v1::{EC2NodeClass, EC2NodeClassStatus};
use karpenter_scheduling::instancetype::{ON_DEMAND, SPOT};
use karpenter_scheduling::model::Taint;
use karpenter_scheduling::{labels, InstanceType, Offering, Requirements};

use crate::cloud::interruption::{InMemoryQueue, InterruptionQueue};

/// How long an insufficient-capacity offering stays unavailable (upstream: 3 minutes).
pub const UNAVAILABLE_OFFERING_TTL: Duration = Duration::from_secs(180);
/// Upstream's cap on instance types sent to one CreateFleet call (`maxInstanceTypes`).
pub const MAX_INSTANCE_TYPES: usize = 60;

/// Errors from a [`CloudProvider`].
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// No offering could be launched (all candidates unavailable or every override failed).
    #[error("insufficient capacity for NodeClaim {nodeclaim}: {reason}")]
    InsufficientCapacity {
        /// The NodeClaim being launched.
        nodeclaim: String,
        /// What was tried.
        reason: String,
    },
    /// The instance does not exist (or is already terminated).
    #[error("instance {0} not found")]
    NotFound(String),
    /// The node class the NodeClaim references is not (yet) resolved and Ready: retry later
    /// (upstream `NodeClassNotReadyError`).
    #[error("{0}")]
    NodeClassNotReady(String),
    /// The request cannot be served as given (names the object and field).
    #[error("{0}")]
    Invalid(String),
    /// The provider's own API failed for any other reason (for AWS, an `AwsError`: throttling,
    /// permissions, a service error). Shown as the provider's message.
    #[error(transparent)]
    Provider(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl CloudError {
    /// Box a provider's own error.
    pub fn provider(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        CloudError::Provider(Box::new(err))
    }
}

/// A time source, injectable so cache expiry can be tested without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct FakeClock(Mutex<Instant>);

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock(Mutex::new(Instant::now()))
    }
}

impl FakeClock {
    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The key of an offering: capacity type, instance type and zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferingKey {
    /// `spot` or `on-demand`.
    pub capacity_type: String,
    /// Instance type name.
    pub instance_type: String,
    /// Availability zone.
    pub zone: String,
}

impl OfferingKey {
    /// Build a key.
    pub fn new(capacity_type: &str, instance_type: &str, zone: &str) -> Self {
        OfferingKey {
            capacity_type: capacity_type.to_string(),
            instance_type: instance_type.to_string(),
            zone: zone.to_string(),
        }
    }
}

impl std::fmt::Display for OfferingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.capacity_type, self.instance_type, self.zone
        )
    }
}

/// Offerings that recently failed with insufficient capacity, each excluded for a TTL
/// (upstream `pkg/cache/unavailableofferings.go`).
#[derive(Debug)]
pub struct UnavailableOfferings {
    clock: Arc<dyn Clock>,
    ttl: Duration,
    entries: Mutex<HashMap<OfferingKey, Instant>>,
}

impl UnavailableOfferings {
    /// A cache with upstream's 3-minute TTL on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_ttl(clock, UNAVAILABLE_OFFERING_TTL)
    }

    /// A cache with a custom TTL.
    pub fn with_ttl(clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        UnavailableOfferings {
            clock,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Mark an offering unavailable until now + TTL.
    pub fn mark_unavailable(&self, key: OfferingKey, reason: &str) {
        tracing::info!(offering = %key, reason, ttl = ?self.ttl, "marking offering unavailable");
        let until = self.clock.now() + self.ttl;
        self.lock().insert(key, until);
    }

    /// Whether the offering is currently excluded (expired entries are dropped).
    pub fn is_unavailable(&self, key: &OfferingKey) -> bool {
        let now = self.clock.now();
        let mut m = self.lock();
        match m.get(key) {
            Some(until) if *until > now => true,
            Some(_) => {
                m.remove(key);
                false
            }
            None => false,
        }
    }

    /// The offerings currently excluded.
    pub fn current(&self) -> Vec<OfferingKey> {
        let now = self.clock.now();
        let mut m = self.lock();
        m.retain(|_, until| *until > now);
        let mut v: Vec<_> = m.keys().cloned().collect();
        v.sort();
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OfferingKey, Instant>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl UnavailableOfferings {
    /// A spot interruption of `instance` also makes its (type, zone) spot offering unavailable
    /// (karpenter-aws.md §13). On-demand instances leave the cache unchanged.
    pub fn mark_spot_interrupted(&self, instance: &Instance) {
        if instance.capacity_type == SPOT {
            self.mark_unavailable(
                OfferingKey::new(SPOT, &instance.instance_type, &instance.zone),
                "SpotInterruption",
            );
        }
    }
}

/// What to launch for one NodeClaim.
#[derive(Debug, Clone)]
pub struct NodeClaimRequest {
    /// The NodeClaim name (tag `karpenter.sh/nodeclaim`).
    pub nodeclaim: String,
    /// The owning NodePool (tag `karpenter.sh/nodepool`).
    pub nodepool: String,
    /// The EC2NodeClass name (tag `karpenter.k8s.aws/ec2nodeclass`).
    pub nodeclass: String,
    /// The NodeClaim's requirements (instance type, zone, capacity type, arch, ...).
    pub requirements: Requirements,
    /// Instance types the scheduler found able to hold the NodeClaim's pods.
    pub instance_types: Vec<InstanceType>,
    /// The NodeClaim's labels (NodePool template labels); single-valued requirements are added
    /// at launch. Passed to kubelet as `--node-labels`.
    pub labels: BTreeMap<String, String>,
    /// The NodeClaim's `taints` followed by its `startupTaints`. Non-Custom AMI families register
    /// the node with them (Karpenter does not sync taints onto those nodes afterwards).
    pub taints: Vec<Taint>,
}

/// A launched (or discovered) instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Instance id, e.g. `i-0123456789abcdef0`.
    pub id: String,
    /// Instance type.
    pub instance_type: String,
    /// Availability zone.
    pub zone: String,
    /// `spot` or `on-demand`.
    pub capacity_type: String,
    /// AMI id, when known.
    pub image_id: Option<String>,
    /// Subnet id, when known.
    pub subnet_id: Option<String>,
    /// EC2 state name (`pending`, `running`, ...).
    pub state: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// When the instance was launched, when known (garbage collection's 30 s grace).
    pub launch_time: Option<Timestamp>,
}

impl Instance {
    /// `aws:///<zone>/<id>`, the Node's providerID.
    pub fn provider_id(&self) -> String {
        format!("aws:///{}/{}", self.zone, self.id)
    }

    /// The NodeClaim named by the `karpenter.sh/nodeclaim` tag.
    pub fn nodeclaim(&self) -> Option<&str> {
        self.tags.get(NODECLAIM_TAG).map(String::as_str)
    }
}

/// `karpenter.sh/nodeclaim`.
pub use karpenter_api::labels::NODECLAIM_TAG;

/// A Karpenter cloud provider, held as `Arc<dyn CloudProvider>` (see the module docs). Futures are
/// boxed so the trait can be an object, and `Send` so a multi-threaded runtime can drive them.
pub trait CloudProvider: Send + Sync {
    /// The instance types (with priced offerings and availability) NodeClaims using the named
    /// node class can launch.
    fn instance_types<'a>(
        &'a self,
        nodeclass: &'a str,
    ) -> BoxFuture<'a, Result<Vec<InstanceType>, CloudError>>;
    /// Launch one instance for the NodeClaim, cheapest available offering first.
    fn create<'a>(
        &'a self,
        req: &'a NodeClaimRequest,
    ) -> BoxFuture<'a, Result<Instance, CloudError>>;
    /// The instance, or [`CloudError::NotFound`] if it does not exist or has terminated.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Instance, CloudError>>;
    /// Every live instance this provider launched for the cluster.
    fn list<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Instance>, CloudError>>;
    /// Terminate the instance ([`CloudError::NotFound`] if already gone).
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), CloudError>>;
    /// The Node conditions that make a node unhealthy, each with how long it is tolerated
    /// before node repair replaces the node (upstream `CloudProvider.RepairPolicies`). The
    /// default is the kubelet's own signal, which every provider shares:
    /// [`kubelet_repair_policies`].
    fn repair_policies(&self) -> Vec<RepairPolicy> {
        kubelet_repair_policies()
    }

    /// The live (`pending` or `running`) instance tagged `karpenter.sh/nodeclaim=<nodeclaim>`,
    /// if any: a launch adopts it instead of launching a second (a restart after a crash
    /// between the launch and the NodeClaim's status write). The default filters
    /// [`CloudProvider::list`]; adapters ask their API by tag.
    fn find_by_nodeclaim<'a>(
        &'a self,
        nodeclaim: &'a str,
    ) -> BoxFuture<'a, Result<Option<Instance>, CloudError>> {
        Box::pin(async move {
            Ok(self.list().await?.into_iter().find(|i| {
                i.nodeclaim() == Some(nodeclaim)
                    && matches!(i.state.as_str(), "pending" | "running")
            }))
        })
    }

    /// The provider's unavailable-offerings cache, when it keeps one (the interruption
    /// controller marks spot-interrupted offerings in it).
    fn unavailable_offerings(&self) -> Option<&UnavailableOfferings> {
        None
    }

    /// The interruption queue named `name` (AWS: the SQS queue). Providers without one answer
    /// [`CloudError::Invalid`].
    fn interruption_queue<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn InterruptionQueue>, CloudError>> {
        Box::pin(async move {
            Err(CloudError::Invalid(format!(
                "this cloud provider has no interruption queue (asked for {name:?})"
            )))
        })
    }

    /// Resolve a node class (subnets, security groups, AMIs, instance profile), remember it for
    /// launches, and report what was found, part by part, for its status. `read_only`
    /// (`--dry-run`): create nothing (AWS: the managed instance profile is neither created nor
    /// required). `Ok(None)`: this provider resolves nothing (the in-memory one).
    fn resolve_node_class<'a>(
        &'a self,
        _node_class: &'a EC2NodeClass,
        _read_only: bool,
    ) -> BoxFuture<'a, Result<Option<NodeClassResolution>, CloudError>> {
        Box::pin(async { Ok(None) })
    }

    /// Delete provider-side launch configuration made for node classes that no longer exist
    /// (AWS: launch templates tagged for this cluster whose EC2NodeClass is not in `in_use`).
    /// Returns what was deleted. Never touches what this provider did not create.
    fn garbage_collect_launch_templates<'a>(
        &'a self,
        _in_use: &'a std::collections::BTreeSet<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, CloudError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// One unhealthy Node condition a cloud provider declares (upstream
/// `pkg/cloudprovider/types.go: RepairPolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairPolicy {
    /// The Node condition type, e.g. `Ready`.
    pub condition_type: String,
    /// The status that means unhealthy (`False`, `Unknown`, ...).
    pub condition_status: String,
    /// How long the condition may hold (from its `lastTransitionTime`) before the node is
    /// forcefully replaced.
    pub toleration: Duration,
}

impl RepairPolicy {
    /// `condition_type` at `condition_status` tolerated for `toleration`.
    pub fn new(condition_type: &str, condition_status: &str, toleration: Duration) -> Self {
        RepairPolicy {
            condition_type: condition_type.to_string(),
            condition_status: condition_status.to_string(),
            toleration,
        }
    }
}

/// `Ready` `False` or `Unknown` for 30 minutes: the kubelet's conditions, as upstream's
/// providers declare them.
pub fn kubelet_repair_policies() -> Vec<RepairPolicy> {
    let half_hour = Duration::from_secs(30 * 60);
    vec![
        RepairPolicy::new("Ready", "False", half_hour),
        RepairPolicy::new("Ready", "Unknown", half_hour),
    ]
}

/// A node class's resolution for its status: what was found (the fields upstream writes) and,
/// per part, why it is not ready (`None`: ready). Upstream: `pkg/controllers/nodeclass/`
/// (`subnet.go`, `securitygroup.go`, `ami.go`, `instanceprofile.go`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeClassResolution {
    /// `status.subnets`, `securityGroups`, `amis`, `instanceProfile` (conditions left empty).
    pub status: EC2NodeClassStatus,
    /// `SubnetsReady` false: (reason, message).
    pub subnets: Option<(String, String)>,
    /// `SecurityGroupsReady` false: (reason, message).
    pub security_groups: Option<(String, String)>,
    /// `AMIsReady` false: (reason, message).
    pub amis: Option<(String, String)>,
    /// `InstanceProfileReady` false: (reason, message).
    pub instance_profile: Option<(String, String)>,
}

/// Instances (from [`CloudProvider::list`]) that no NodeClaim references: garbage-collection
/// candidates.
pub fn orphans<'a>(
    instances: &'a [Instance],
    nodeclaims: &std::collections::HashSet<String>,
) -> Vec<&'a Instance> {
    instances
        .iter()
        .filter(|i| i.nodeclaim().is_none_or(|n| !nodeclaims.contains(n)))
        .collect()
}

/// One launchable offering of one instance type.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Instance type name.
    pub instance_type: String,
    /// The offering (zone, capacity type, price).
    pub offering: Offering,
}

/// The capacity type and offerings a launch would try, cheapest first (karpenter-aws.md §8).
///
/// Offerings must be available, allowed by the requirements' zone and capacity type, and not in
/// the ICE cache. Spot is used when allowed and offered, otherwise on-demand; when both are
/// allowed, spot offerings pricier than the cheapest on-demand one are dropped. At most
/// [`MAX_INSTANCE_TYPES`] instance types (the cheapest) are kept.
pub fn launch_candidates(
    req: &NodeClaimRequest,
    unavailable: &UnavailableOfferings,
) -> Result<(String, Vec<Candidate>), CloudError> {
    let zone_req = req.requirements.get(labels::ZONE);
    let ct_req = req.requirements.get(labels::CAPACITY_TYPE);
    let mut usable: Vec<Candidate> = Vec::new();
    for it in &req.instance_types {
        if !it.labels_compatible(&req.requirements) {
            continue;
        }
        for o in &it.offerings {
            let allowed = o.available
                && zone_req.is_none_or(|z| z.has(&o.zone))
                && ct_req.is_none_or(|c| c.has(&o.capacity_type))
                && !unavailable.is_unavailable(&OfferingKey::new(
                    &o.capacity_type,
                    &it.name,
                    &o.zone,
                ));
            if allowed {
                usable.push(Candidate {
                    instance_type: it.name.clone(),
                    offering: o.clone(),
                });
            }
        }
    }
    let cheapest_od = usable
        .iter()
        .filter(|c| c.offering.capacity_type == ON_DEMAND)
        .map(|c| c.offering.price)
        .min_by(f64::total_cmp);
    let has_spot = usable.iter().any(|c| c.offering.capacity_type == SPOT);
    let capacity_type = if has_spot { SPOT } else { ON_DEMAND };
    let mut chosen: Vec<Candidate> = usable
        .into_iter()
        .filter(|c| c.offering.capacity_type == capacity_type)
        .filter(|c| cheapest_od.is_none_or(|od| capacity_type != SPOT || c.offering.price <= od))
        .collect();
    chosen.sort_by(|a, b| {
        a.offering
            .price
            .total_cmp(&b.offering.price)
            .then_with(|| a.instance_type.cmp(&b.instance_type))
            .then_with(|| a.offering.zone.cmp(&b.offering.zone))
    });
    // keep the cheapest MAX_INSTANCE_TYPES types (all of their offerings)
    let mut types: Vec<&str> = Vec::new();
    for c in &chosen {
        if !types.contains(&c.instance_type.as_str()) {
            types.push(&c.instance_type);
        }
    }
    let keep: Vec<String> = types
        .into_iter()
        .take(MAX_INSTANCE_TYPES)
        .map(str::to_string)
        .collect();
    chosen.retain(|c| keep.contains(&c.instance_type));
    if chosen.is_empty() {
        return Err(CloudError::InsufficientCapacity {
            nodeclaim: req.nodeclaim.clone(),
            reason: format!(
                "no available offering among {} instance type(s) matches the requirements \
                 (offerings excluded after insufficient-capacity errors: {})",
                req.instance_types.len(),
                describe_keys(&unavailable.current())
            ),
        });
    }
    Ok((capacity_type.to_string(), chosen))
}

fn describe_keys(keys: &[OfferingKey]) -> String {
    if keys.is_empty() {
        "none".into()
    } else {
        keys.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An in-memory provider for `simulate` and tests: launches the cheapest candidate offering,
/// and can be told that an offering has no capacity.
#[derive(Debug)]
pub struct InMemoryProvider {
    cluster: String,
    unavailable: Arc<UnavailableOfferings>,
    state: Mutex<InMemoryState>,
    queue: Arc<InMemoryQueue>,
}

#[derive(Debug, Default)]
struct InMemoryState {
    instance_types: Vec<InstanceType>,
    next_id: u64,
    instances: BTreeMap<String, Instance>,
    no_capacity: Vec<OfferingKey>,
    repair_policies: Option<Vec<RepairPolicy>>,
}

impl InMemoryProvider {
    /// A provider for `cluster` whose ICE cache uses `clock`.
    pub fn new(cluster: &str, clock: Arc<dyn Clock>) -> Self {
        InMemoryProvider {
            cluster: cluster.to_string(),
            unavailable: Arc::new(UnavailableOfferings::new(clock)),
            state: Mutex::new(InMemoryState::default()),
            queue: Arc::new(InMemoryQueue::new(&format!("{cluster}-interruption"))),
        }
    }

    /// The interruption queue [`CloudProvider::interruption_queue`] hands out (whatever name is
    /// asked for): tests put messages on it.
    pub fn queue(&self) -> &Arc<InMemoryQueue> {
        &self.queue
    }

    /// Add an instance as if something else had launched it (tests: orphans, foreign
    /// instances). Only instances carrying this cluster's tags are listed.
    pub fn insert_instance(&self, instance: Instance) {
        self.lock().instances.insert(instance.id.clone(), instance);
    }

    /// Change an instance's launch time (tests: garbage collection's grace).
    pub fn set_launch_time(&self, id: &str, at: Timestamp) {
        if let Some(i) = self.lock().instances.get_mut(id) {
            i.launch_time = Some(at);
        }
    }

    /// Change an instance's state (tests: `stopping`, `shutting-down`).
    pub fn set_state(&self, id: &str, state: &str) {
        if let Some(i) = self.lock().instances.get_mut(id) {
            i.state = state.to_string();
        }
    }

    /// The tags every instance it launches carries for its cluster.
    fn ours(&self, i: &Instance) -> bool {
        i.tags.get("eks:eks-cluster-name") == Some(&self.cluster)
            && i.tags.contains_key(labels::NODEPOOL)
            && i.tags.contains_key(labels::EC2NODECLASS)
    }

    /// Set the instance types [`CloudProvider::instance_types`] returns (for every node class).
    pub fn set_instance_types(&self, types: Vec<InstanceType>) {
        self.lock().instance_types = types;
    }

    /// Set the repair policies [`CloudProvider::repair_policies`] returns (the port's default
    /// until set).
    pub fn set_repair_policies(&self, policies: Vec<RepairPolicy>) {
        self.lock().repair_policies = Some(policies);
    }

    /// Make launches of this offering fail with insufficient capacity.
    pub fn set_no_capacity(&self, key: OfferingKey) {
        self.lock().no_capacity.push(key);
    }

    /// Hold an instance that already runs (a simulation's existing Karpenter node), as if this
    /// provider had launched it.
    pub fn adopt(&self, instance: Instance) {
        self.lock().instances.insert(instance.id.clone(), instance);
    }

    /// The ICE cache.
    pub fn unavailable(&self) -> &UnavailableOfferings {
        &self.unavailable
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InMemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CloudProvider for InMemoryProvider {
    fn instance_types<'a>(
        &'a self,
        _nodeclass: &'a str,
    ) -> BoxFuture<'a, Result<Vec<InstanceType>, CloudError>> {
        Box::pin(async move {
            let mut types = self.lock().instance_types.clone();
            for it in &mut types {
                for o in &mut it.offerings {
                    if self.unavailable.is_unavailable(&OfferingKey::new(
                        &o.capacity_type,
                        &it.name,
                        &o.zone,
                    )) {
                        o.available = false;
                    }
                }
            }
            Ok(types)
        })
    }

    fn create<'a>(
        &'a self,
        req: &'a NodeClaimRequest,
    ) -> BoxFuture<'a, Result<Instance, CloudError>> {
        Box::pin(async move {
            let (capacity_type, candidates) = launch_candidates(req, &self.unavailable)?;
            let mut st = self.lock();
            for c in candidates {
                let key = OfferingKey::new(&capacity_type, &c.instance_type, &c.offering.zone);
                if st.no_capacity.contains(&key) {
                    self.unavailable
                        .mark_unavailable(key, "InsufficientInstanceCapacity");
                    continue;
                }
                st.next_id += 1;
                let id = format!("i-{:017x}", st.next_id);
                let tags = BTreeMap::from([
                    (
                        format!("kubernetes.io/cluster/{}", self.cluster),
                        "owned".into(),
                    ),
                    ("eks:eks-cluster-name".to_string(), self.cluster.clone()),
                    (labels::NODEPOOL.to_string(), req.nodepool.clone()),
                    (NODECLAIM_TAG.to_string(), req.nodeclaim.clone()),
                    (labels::EC2NODECLASS.to_string(), req.nodeclass.clone()),
                    ("Name".to_string(), req.nodeclaim.clone()),
                ]);
                let inst = Instance {
                    id: id.clone(),
                    instance_type: c.instance_type,
                    zone: c.offering.zone,
                    capacity_type: capacity_type.clone(),
                    image_id: None,
                    subnet_id: None,
                    state: "running".into(),
                    tags,
                    launch_time: Some(Timestamp::now()),
                };
                st.instances.insert(id, inst.clone());
                return Ok(inst);
            }
            Err(CloudError::InsufficientCapacity {
                nodeclaim: req.nodeclaim.clone(),
                reason: "every candidate offering reported insufficient capacity".into(),
            })
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Instance, CloudError>> {
        Box::pin(async move {
            self.lock()
                .instances
                .get(id)
                .cloned()
                .ok_or_else(|| CloudError::NotFound(id.to_string()))
        })
    }

    fn list<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Instance>, CloudError>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .instances
                .values()
                .filter(|i| self.ours(i))
                .cloned()
                .collect())
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            self.lock()
                .instances
                .remove(id)
                .map(|_| ())
                .ok_or_else(|| CloudError::NotFound(id.to_string()))
        })
    }

    fn repair_policies(&self) -> Vec<RepairPolicy> {
        self.lock()
            .repair_policies
            .clone()
            .unwrap_or_else(kubelet_repair_policies)
    }

    fn find_by_nodeclaim<'a>(
        &'a self,
        nodeclaim: &'a str,
    ) -> BoxFuture<'a, Result<Option<Instance>, CloudError>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .instances
                .values()
                .find(|i| {
                    self.ours(i)
                        && i.nodeclaim() == Some(nodeclaim)
                        && matches!(i.state.as_str(), "pending" | "running")
                })
                .cloned())
        })
    }

    fn unavailable_offerings(&self) -> Option<&UnavailableOfferings> {
        Some(&self.unavailable)
    }

    fn interruption_queue<'a>(
        &'a self,
        _name: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn InterruptionQueue>, CloudError>> {
        Box::pin(async move { Ok(self.queue.clone() as Arc<dyn InterruptionQueue>) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_scheduling::{Requirement, Resources};

    fn it(name: &str, offers: &[(&str, &str, f64)]) -> InstanceType {
        InstanceType::new(
            name,
            BTreeMap::new(),
            Resources::default(),
            Resources::default(),
            offers
                .iter()
                .map(|(z, ct, p)| Offering {
                    zone: z.to_string(),
                    capacity_type: ct.to_string(),
                    price: *p,
                    available: true,
                })
                .collect(),
        )
    }

    fn req(types: Vec<InstanceType>) -> NodeClaimRequest {
        NodeClaimRequest {
            nodeclaim: "nc-1".into(),
            nodepool: "default".into(),
            nodeclass: "default".into(),
            requirements: Requirements::new(),
            instance_types: types,
            labels: BTreeMap::new(),
            taints: Vec::new(),
        }
    }

    #[test]
    fn unavailable_offerings_expire_after_the_ttl() {
        let clock = Arc::new(FakeClock::default());
        let cache = UnavailableOfferings::new(clock.clone());
        let k = OfferingKey::new(SPOT, "m5.large", "us-west-2a");
        cache.mark_unavailable(k.clone(), "test");
        assert!(cache.is_unavailable(&k));
        assert!(!cache.is_unavailable(&OfferingKey::new(ON_DEMAND, "m5.large", "us-west-2a")));
        clock.advance(Duration::from_secs(179));
        assert!(cache.is_unavailable(&k));
        clock.advance(Duration::from_secs(1));
        assert!(!cache.is_unavailable(&k));
        assert!(cache.current().is_empty());
    }

    #[test]
    fn spot_is_preferred_and_pricier_spot_than_on_demand_is_dropped() {
        let cache = UnavailableOfferings::new(Arc::new(FakeClock::default()));
        let r = req(vec![
            it("a", &[("z1", SPOT, 0.5), ("z1", ON_DEMAND, 1.0)]),
            it("b", &[("z1", SPOT, 1.2), ("z1", ON_DEMAND, 1.5)]),
            it("c", &[("z2", SPOT, 0.3)]),
        ]);
        let (ct, cands) = launch_candidates(&r, &cache).unwrap();
        assert_eq!(ct, SPOT);
        let names: Vec<_> = cands.iter().map(|c| c.instance_type.as_str()).collect();
        assert_eq!(
            names,
            ["c", "a"],
            "b's spot (1.2) exceeds the cheapest on-demand (1.0)"
        );
    }

    #[test]
    fn on_demand_when_spot_is_not_allowed_and_zone_filter_applies() {
        let cache = UnavailableOfferings::new(Arc::new(FakeClock::default()));
        let mut r = req(vec![
            it(
                "a",
                &[
                    ("z1", SPOT, 0.5),
                    ("z1", ON_DEMAND, 1.0),
                    ("z2", ON_DEMAND, 0.9),
                ],
            ),
            it("b", &[("z1", ON_DEMAND, 0.8)]),
        ]);
        r.requirements
            .add(labels::CAPACITY_TYPE, Requirement::in_values([ON_DEMAND]));
        r.requirements
            .add(labels::ZONE, Requirement::in_values(["z1"]));
        let (ct, cands) = launch_candidates(&r, &cache).unwrap();
        assert_eq!(ct, ON_DEMAND);
        let got: Vec<_> = cands
            .iter()
            .map(|c| (c.instance_type.as_str(), c.offering.zone.as_str()))
            .collect();
        assert_eq!(got, [("b", "z1"), ("a", "z1")]);
    }

    #[test]
    fn candidates_are_capped_at_sixty_types() {
        let cache = UnavailableOfferings::new(Arc::new(FakeClock::default()));
        let types = (0..100)
            .map(|i| it(&format!("t{i:03}"), &[("z1", ON_DEMAND, 1.0 + i as f64)]))
            .collect();
        let (_, cands) = launch_candidates(&req(types), &cache).unwrap();
        assert_eq!(cands.len(), MAX_INSTANCE_TYPES);
        assert_eq!(cands[0].instance_type, "t000");
        assert_eq!(cands[59].instance_type, "t059");
    }

    #[tokio::test]
    async fn in_memory_ice_moves_to_the_next_cheapest_until_the_ttl_passes() {
        let clock = Arc::new(FakeClock::default());
        let p = InMemoryProvider::new("demo", clock.clone());
        let r = req(vec![
            it("cheap", &[("z1", ON_DEMAND, 0.1)]),
            it("dear", &[("z1", ON_DEMAND, 0.2)]),
        ]);
        p.set_no_capacity(OfferingKey::new(ON_DEMAND, "cheap", "z1"));
        let first = p.create(&r).await.unwrap();
        assert_eq!(first.instance_type, "dear");
        assert!(p
            .unavailable()
            .is_unavailable(&OfferingKey::new(ON_DEMAND, "cheap", "z1")));
        assert_eq!(first.tags["karpenter.sh/nodeclaim"], "nc-1");
        assert_eq!(p.get(&first.id).await.unwrap(), first);
        p.delete(&first.id).await.unwrap();
        assert!(matches!(
            p.get(&first.id).await,
            Err(CloudError::NotFound(_))
        ));
        p.set_instance_types(r.instance_types.clone());
        let listed = p.instance_types("default").await.unwrap();
        let cheap = listed.iter().find(|t| t.name == "cheap").unwrap();
        assert!(
            !cheap.offerings[0].available,
            "ICE'd offering reported unavailable"
        );
        clock.advance(UNAVAILABLE_OFFERING_TTL);
        assert!(p.unavailable().current().is_empty());
        let listed = p.instance_types("default").await.unwrap();
        assert!(listed.iter().all(|t| t.offerings[0].available));
    }

    /// Controllers hold the provider as `Arc<dyn CloudProvider>`: the in-memory one works that way.
    #[tokio::test]
    async fn a_provider_is_usable_as_a_shared_trait_object() {
        let memory = Arc::new(InMemoryProvider::new(
            "demo",
            Arc::new(FakeClock::default()),
        ));
        let provider: Arc<dyn CloudProvider> = memory.clone();
        let r = req(vec![it("a", &[("z1", ON_DEMAND, 0.1)])]);
        let launched = tokio::spawn({
            let provider = provider.clone();
            async move { provider.create(&r).await }
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(launched.instance_type, "a");
        assert_eq!(
            provider.list().await.unwrap(),
            std::slice::from_ref(&launched)
        );
        provider.delete(&launched.id).await.unwrap();
        assert!(matches!(
            provider.delete(&launched.id).await,
            Err(CloudError::NotFound(id)) if id == launched.id
        ));
    }

    #[test]
    fn a_provider_error_keeps_its_message_and_its_detail() {
        #[derive(Debug, thiserror::Error)]
        #[error("ec2:RunInstances failed (Boom: it broke)")]
        struct AdapterError;
        let err = CloudError::provider(AdapterError);
        assert_eq!(err.to_string(), "ec2:RunInstances failed (Boom: it broke)");
        let CloudError::Provider(inner) = &err else {
            panic!("boxed as Provider: {err:?}");
        };
        assert!(inner.downcast_ref::<AdapterError>().is_some());
    }

    #[test]
    fn all_excluded_is_insufficient_capacity_naming_the_nodeclaim() {
        let cache = UnavailableOfferings::new(Arc::new(FakeClock::default()));
        cache.mark_unavailable(OfferingKey::new(ON_DEMAND, "a", "z1"), "t");
        let err = launch_candidates(&req(vec![it("a", &[("z1", ON_DEMAND, 1.0)])]), &cache)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nc-1") && err.contains("on-demand:a:z1"),
            "{err}"
        );
    }

    #[test]
    fn orphans_are_instances_without_a_known_nodeclaim() {
        let mk = |id: &str, nc: Option<&str>| Instance {
            id: id.into(),
            instance_type: "m5.large".into(),
            zone: "z".into(),
            capacity_type: ON_DEMAND.into(),
            image_id: None,
            subnet_id: None,
            state: "running".into(),
            tags: nc
                .map(|n| BTreeMap::from([(NODECLAIM_TAG.to_string(), n.to_string())]))
                .unwrap_or_default(),
            launch_time: None,
        };
        let all = vec![
            mk("i-1", Some("a")),
            mk("i-2", Some("gone")),
            mk("i-3", None),
        ];
        let known = std::collections::HashSet::from(["a".to_string()]);
        let ids: Vec<_> = orphans(&all, &known)
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(ids, ["i-2", "i-3"]);
    }

    #[test]
    fn a_spot_interruption_marks_only_spot_offerings() {
        let cache = UnavailableOfferings::new(Arc::new(FakeClock::default()));
        let mut i = Instance {
            id: "i-1".into(),
            instance_type: "m5.large".into(),
            zone: "z1".into(),
            capacity_type: ON_DEMAND.into(),
            image_id: None,
            subnet_id: None,
            state: "running".into(),
            tags: BTreeMap::new(),
            launch_time: None,
        };
        cache.mark_spot_interrupted(&i);
        assert!(cache.current().is_empty());
        i.capacity_type = SPOT.into();
        cache.mark_spot_interrupted(&i);
        assert_eq!(cache.current(), [OfferingKey::new(SPOT, "m5.large", "z1")]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn offering() -> impl Strategy<Value = (u8, bool, u16)> {
            (0u8..4, any::<bool>(), 1u16..1000)
        }

        proptest! {
            #[test]
            fn candidates_are_sorted_single_capacity_type_capped_and_exclude_iced(
                types in prop::collection::vec(prop::collection::vec(offering(), 1..6), 1..90),
                iced in prop::collection::vec((0usize..90, 0u8..4, any::<bool>()), 0..20),
            ) {
                let cache = UnavailableOfferings::new(Arc::new(FakeClock::default()));
                let its: Vec<InstanceType> = types.iter().enumerate().map(|(i, offs)| {
                    let offs: Vec<(String, &str, f64)> = offs.iter().map(|(z, spot, p)| {
                        (format!("z{z}"), if *spot { SPOT } else { ON_DEMAND }, f64::from(*p) / 100.0)
                    }).collect();
                    let refs: Vec<(&str, &str, f64)> =
                        offs.iter().map(|(z, c, p)| (z.as_str(), *c, *p)).collect();
                    it(&format!("t{i:03}"), &refs)
                }).collect();
                for (t, z, spot) in &iced {
                    cache.mark_unavailable(
                        OfferingKey::new(if *spot { SPOT } else { ON_DEMAND }, &format!("t{t:03}"), &format!("z{z}")),
                        "test",
                    );
                }
                match launch_candidates(&req(its), &cache) {
                    Ok((ct, c)) => {
                        prop_assert!(!c.is_empty());
                        prop_assert!(c.iter().all(|x| x.offering.capacity_type == ct));
                        prop_assert!(c.windows(2).all(|w| w[0].offering.price <= w[1].offering.price));
                        let mut names: Vec<&str> = c.iter().map(|x| x.instance_type.as_str()).collect();
                        names.sort();
                        names.dedup();
                        prop_assert!(names.len() <= MAX_INSTANCE_TYPES);
                        prop_assert!(c.iter().all(|x| !cache.is_unavailable(
                            &OfferingKey::new(&ct, &x.instance_type, &x.offering.zone))));
                    }
                    Err(CloudError::InsufficientCapacity { .. }) => {}
                    Err(e) => prop_assert!(false, "unexpected error {e}"),
                }
            }
        }
    }
}

//! The provisioner (upstream `pkg/controllers/provisioning/provisioner.go`, `batcher.go`):
//! provisionable pods are batched (a window that closes after `batch_idle` without a new pod,
//! or `batch_max` in all), the cluster is solved as a scheduling problem, pods placed on
//! existing or in-flight capacity are nominated, and each new NodeClaim is created (named,
//! labelled and annotated as upstream, see [`super::nodeclaim`]) and pushed into cluster state
//! at once, so the next batch sees it.
//!
//! NodePool limits count every NodeClaim of the pool, launched or not: a NodeClaim not yet
//! launched counts at the largest capacity among its instance types, both in the scheduling
//! problem (so the solver's remaining-limit filter sees it) and in the check before each
//! create. Two batches, or two NodeClaims of one batch, cannot together launch past a limit
//! (upstream's race, kubernetes-sigs/karpenter#2915).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::SignedDuration;
use karpenter_api::sh::v1::{NodeClaim, NodePool};
use karpenter_scheduling::resources::Resources;
use karpenter_scheduling::{
    labels, solve, ExistingNode, InstanceType, NodeClaimPlan, Problem, SolveOptions,
};
use karpenter_state::{Cluster, PodKey, ProblemOptions};
use kube::api::PostParams;
use kube::runtime::events::EventType;
use kube::Api;
use tokio::sync::mpsc;

use super::clock::since;
use super::error::{is_conflict, Error, Result};
use super::metrics::PROVISIONED_REASON;
use super::nodeclaim::to_node_claim;
use super::Context;

/// The `controller` label of this controller's metrics.
pub const CONTROLLER: &str = "provisioner";

/// Upstream requeues a provisionable pod every 10 s while it stays provisionable.
pub const PENDING_RECHECK: Duration = Duration::from_secs(10);

/// What one provisioning pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Pods the pass planned for.
    pub pods: usize,
    /// NodeClaims created.
    pub created: Vec<String>,
    /// Pods nominated to existing or in-flight capacity.
    pub nominated: usize,
    /// Pods left pending, with the reason.
    pub pending: Vec<(String, String)>,
}

/// Run the provisioner until the trigger channel closes: wait for a provisionable pod (or the
/// periodic re-check while any stays provisionable), close the batch window, provision.
pub async fn run(ctx: Arc<Context>, mut triggers: mpsc::UnboundedReceiver<String>) {
    loop {
        let first = tokio::select! {
            t = triggers.recv() => match t {
                Some(t) => Some(t),
                None => return,
            },
            _ = ctx.clock.sleep(PENDING_RECHECK) => None,
            _ = ctx.stopped() => return,
        };
        if first.is_none() && !has_provisionable(&ctx.state.read()) {
            continue;
        }
        let closed = tokio::select! {
            open = batch(&ctx, &mut triggers, first) => !open,
            _ = ctx.stopped() => return,
        };
        if closed {
            return;
        }
        tokio::select! {
            _ = ctx.state.wait_synced() => {}
            _ = ctx.stopped() => return,
        }
        // a pass that has started runs to its end: shutdown waits for it (bounded)
        if let Err(e) = provision(&ctx).await {
            tracing::error!(error = %e, error_kind = e.kind(), "provisioning failed");
        }
    }
}

fn has_provisionable(c: &Cluster) -> bool {
    c.pods()
        .any(|p| p.role == karpenter_state::PodRole::Pending)
}

/// Hold the batch window open (upstream `batcher.go`): it closes `batch_idle` after the last
/// new trigger, or `batch_max` after the first. A repeated trigger does not extend it.
/// Returns false when the trigger channel closed.
async fn batch(
    ctx: &Context,
    triggers: &mut mpsc::UnboundedReceiver<String>,
    first: Option<String>,
) -> bool {
    let s = &ctx.settings;
    let start = ctx.clock.now();
    let mut seen: HashSet<String> = first.into_iter().collect();
    let mut idle_from = start;
    loop {
        let now = ctx.clock.now();
        let total = since(now, start);
        let idle = since(now, idle_from);
        if total >= s.batch_max_duration || idle >= s.batch_idle_duration {
            return true;
        }
        let wait = (s.batch_max_duration - total).min(s.batch_idle_duration - idle);
        tokio::select! {
            t = triggers.recv() => match t {
                Some(uid) => {
                    if seen.insert(uid) {
                        idle_from = ctx.clock.now();
                    }
                }
                None => return false,
            },
            _ = ctx.clock.sleep(wait) => {}
        }
    }
}

/// One claim not launched yet, as in-flight capacity: the largest capacity among its instance
/// types (what limits must assume) and the first (cheapest) type's allocatable.
fn unlaunched(cluster: &Cluster, types: &HashMap<&str, &InstanceType>) -> Vec<ExistingNode> {
    let mut out = Vec::new();
    for c in cluster.node_claims() {
        if c.provider_id().is_some() || c.deleting() {
            continue;
        }
        let listed = claim_types(&c.claim, types);
        let Some(first) = listed.first() else {
            continue;
        };
        let mut capacity = Resources::default();
        for t in &listed {
            capacity.max_with(&t.capacity);
        }
        out.push(ExistingNode {
            name: c.name().to_string(),
            labels: c.labels.clone(),
            taints: c.taints.clone(),
            capacity,
            allocatable: first.allocatable.clone(),
            requested: Resources::default(),
            pods: Vec::new(),
            host_ports: Vec::new(),
            initialized: false,
        });
    }
    out
}

/// The instance types a NodeClaim's `node.kubernetes.io/instance-type In` requirement lists,
/// in its order, among `types`.
pub fn claim_types<'a>(
    claim: &NodeClaim,
    types: &HashMap<&str, &'a InstanceType>,
) -> Vec<&'a InstanceType> {
    claim
        .spec
        .requirements
        .iter()
        .filter(|r| r.key == labels::INSTANCE_TYPE && r.operator == "In")
        .flat_map(|r| r.values.iter().flatten())
        .filter_map(|n| types.get(n.as_str()).copied())
        .collect()
}

/// The capacity a NodePool's nodes and NodeClaims hold: a registered Node's capacity, a
/// launched claim's, else the largest among a claim's instance types; `nodes` counts them.
fn pool_usage(
    cluster: &Cluster,
    pool: &str,
    types: &HashMap<&str, &InstanceType>,
) -> BTreeMap<String, i64> {
    let mut used = Resources::default();
    let mut nodes = 0;
    for sn in cluster.state_nodes() {
        if sn.node_pool() != Some(pool) {
            continue;
        }
        nodes += 1;
        match (sn.node, sn.claim) {
            (Some(n), _) => used.add(&n.capacity),
            (None, Some(c)) if c.provider_id().is_some() => used.add(&c.capacity),
            (None, Some(c)) => {
                let mut m = Resources::default();
                for t in claim_types(&c.claim, types) {
                    m.max_with(&t.capacity);
                }
                used.add(&m);
            }
            (None, None) => {}
        }
    }
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    out.insert("nodes".into(), nodes);
    for k in ["cpu", "memory", "pods", "ephemeral-storage"] {
        out.insert(k.into(), used.get(k));
    }
    for (k, v) in &used.extended {
        out.insert(k.clone(), *v);
    }
    out
}

/// The first limit a new NodeClaim would pass, if any (`resource: used + new > limit`).
fn exceeds(
    limits: &BTreeMap<String, i64>,
    used: &BTreeMap<String, i64>,
    new: &Resources,
) -> Option<String> {
    for (k, limit) in limits {
        let add = if k == "nodes" { 1 } else { new.get(k) };
        let have = used.get(k).copied().unwrap_or(0);
        if have + add > *limit {
            return Some(format!("{k}: {have} in use + {add} > limit {limit}"));
        }
    }
    None
}

fn pod_ref(key: &PodKey, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(key.namespace.clone()),
        name: Some(key.name.clone()),
        uid: (!uid.is_empty()).then(|| uid.to_string()),
        ..ObjectReference::default()
    }
}

/// The instance types, from the cloud provider, for the node class of the first usable
/// NodePool (the state model builds one list per problem). Shared with disruption.
pub(super) async fn instance_types(ctx: &Context) -> Result<Vec<InstanceType>> {
    let class = {
        let c = ctx.state.read();
        let mut pools: Vec<_> = c.node_pools().map(|e| &e.scheduling).collect();
        // upstream's order: weight descending, then name in reverse
        pools.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| b.name.cmp(&a.name)));
        pools
            .iter()
            .map(|p| p.node_class.clone())
            .find(|n| c.node_class(n).is_some())
            .unwrap_or_default()
    };
    ctx.metrics
        .measure_cloud(
            CONTROLLER,
            "GetInstanceTypes",
            ctx.provider.instance_types(&class),
        )
        .await
        .map_err(|e| Error::cloud(format!("list instance types for EC2NodeClass {class:?}"), e))
}

/// One provisioning pass (upstream `Provisioner.Schedule` + `Create`).
pub async fn provision(ctx: &Context) -> Result<Outcome> {
    // 1. the instance types
    let types = instance_types(ctx).await?;
    let by_name: HashMap<&str, &InstanceType> =
        types.iter().map(|t| (t.name.as_str(), t)).collect();
    // 2. the problem, from the model (the guard is dropped before any await), with NodeClaims
    // not launched yet as in-flight capacity
    let (mut prepared, pools) = {
        let c = ctx.state.read();
        let prepared = match c.problem_with_types(|_| Ok(types.clone()), &ProblemOptions::default())
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot provision");
                return Ok(Outcome::default());
            }
        };
        let pools: BTreeMap<String, NodePool> = c
            .node_pools()
            .map(|e| (e.scheduling.name.clone(), e.pool.clone()))
            .collect();
        (prepared, pools)
    };
    {
        let c = ctx.state.read();
        prepared
            .problem
            .existing_nodes
            .extend(unlaunched(&c, &by_name));
    }
    for n in &prepared.notes {
        tracing::debug!(note = %n, "cluster state");
    }
    if prepared.problem.pods.is_empty() {
        ctx.metrics.unschedulable_pods(CONTROLLER, 0);
        return Ok(Outcome::default());
    }
    let keys: Vec<PodKey> = prepared
        .problem
        .pods
        .iter()
        .map(|p| PodKey {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
        })
        .collect();
    tracing::info!(
        pods = %keys.iter().take(10).map(ToString::to_string).collect::<Vec<_>>().join(", "),
        count = keys.len(),
        "found provisionable pod(s)"
    );
    // 3. solve (CPU-bound: off the async threads)
    let problem: Problem = prepared.problem;
    let opts = SolveOptions::default();
    let started = std::time::Instant::now();
    let solution = tokio::task::spawn_blocking(move || solve(&problem, &opts))
        .await
        .map_err(|e| Error::Invalid(format!("the scheduling simulation panicked: {e}")))??;
    ctx.metrics
        .scheduling_duration(CONTROLLER, started.elapsed().as_secs_f64());
    tracing::debug!(
        pods = keys.len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "provisioning solve"
    );
    let mut out = Outcome {
        pods: keys.len(),
        ..Outcome::default()
    };
    let now = ctx.clock.now();
    let window = (ctx.settings.batch_max_duration * 2).max(Duration::from_secs(10));
    let until = now
        .checked_add(SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX))
        .unwrap_or(now);
    let uid_of = |k: &PodKey| {
        ctx.state
            .read()
            .pod(k)
            .map(|p| p.uid.clone())
            .unwrap_or_default()
    };
    // 4. nominate pods placed on existing and in-flight capacity
    for (node, pods) in &solution.existing_nodes {
        ctx.state.nominate(node, until);
        let target = if ctx.state.read().node(node).is_some() {
            format!("node/{node}")
        } else {
            format!("nodeclaim/{node}")
        };
        for &i in pods {
            out.nominated += 1;
            ctx.event(
                &pod_ref(&keys[i], &uid_of(&keys[i])),
                EventType::Normal,
                "Nominated",
                format!("Pod should schedule on: {target}"),
            )
            .await;
        }
    }
    for p in &solution.pending {
        let k = &keys[p.pod];
        out.pending.push((k.to_string(), p.reason.clone()));
        ctx.event(
            &pod_ref(k, &uid_of(k)),
            EventType::Warning,
            "FailedScheduling",
            format!("Failed to schedule pod, {}", p.reason),
        )
        .await;
    }
    if !solution.node_claims.is_empty() {
        tracing::info!(
            nodeclaims = solution.node_claims.len(),
            pods = solution
                .node_claims
                .iter()
                .map(|c| c.pods.len())
                .sum::<usize>(),
            "computed new nodeclaim(s) to fit pod(s)"
        );
    }
    // 5. create the NodeClaims
    for plan in &solution.node_claims {
        match create(ctx, plan, &pools, &by_name, &keys).await {
            Ok(name) => {
                ctx.state.nominate(&name, until);
                for &i in &plan.pods {
                    ctx.event(
                        &pod_ref(&keys[i], &uid_of(&keys[i])),
                        EventType::Normal,
                        "Nominated",
                        format!("Pod should schedule on: nodeclaim/{name}"),
                    )
                    .await;
                }
                if !ctx.settings.dry_run {
                    ctx.metrics
                        .nodeclaim_created(PROVISIONED_REASON, &plan.node_pool, false);
                }
                out.created.push(name);
            }
            Err(reason) => {
                tracing::warn!(nodepool = %plan.node_pool, reason = %reason, "not creating nodeclaim");
                for &i in &plan.pods {
                    let k = &keys[i];
                    out.pending.push((k.to_string(), reason.clone()));
                    ctx.event(
                        &pod_ref(k, &uid_of(k)),
                        EventType::Warning,
                        "FailedScheduling",
                        format!("Failed to schedule pod, {reason}"),
                    )
                    .await;
                }
            }
        }
    }
    ctx.metrics
        .unschedulable_pods(CONTROLLER, out.pending.len());
    Ok(out)
}

/// Create one NodeClaim, re-checking the NodePool's limits against everything the pool holds
/// (upstream `Provisioner.Create`; disruption's replacements go through it too). The reason
/// when refused or failed.
pub(super) async fn create(
    ctx: &Context,
    plan: &NodeClaimPlan,
    pools: &BTreeMap<String, NodePool>,
    types: &HashMap<&str, &InstanceType>,
    keys: &[PodKey],
) -> std::result::Result<String, String> {
    let pool = pools
        .get(&plan.node_pool)
        .ok_or_else(|| format!("NodePool {:?} is gone", plan.node_pool))?;
    let mut largest = Resources::default();
    for n in plan.instance_types.iter() {
        if let Some(t) = types.get(n.as_str()) {
            largest.max_with(&t.capacity);
        }
    }
    {
        let c = ctx.state.read();
        let limits = c
            .node_pool(&plan.node_pool)
            .map(|e| e.scheduling.limits.clone())
            .unwrap_or_default();
        if let Some(why) = exceeds(&limits, &pool_usage(&c, &plan.node_pool, types), &largest) {
            return Err(format!(
                "NodePool {:?} limits would be exceeded ({why})",
                plan.node_pool
            ));
        }
    }
    if ctx.settings.dry_run {
        return Ok(dry_run_create(ctx, pool, plan, keys));
    }
    let api: Api<NodeClaim> = Api::all(ctx.client.clone());
    for _ in 0..5 {
        let name = ctx.names.next(&plan.node_pool);
        let claim = to_node_claim(pool, plan, name.clone());
        match api.create(&PostParams::default(), &claim).await {
            Ok(created) => {
                match karpenter_state::ClaimEntry::new(created) {
                    Ok(e) => ctx.state.write().upsert_node_claim(e),
                    Err(e) => {
                        tracing::warn!(nodeclaim = %name, error = %e, "created nodeclaim unreadable")
                    }
                }
                tracing::info!(
                    nodeclaim = %name,
                    nodepool = %plan.node_pool,
                    requests = ?super::nodeclaim::resource_list(&plan.requests),
                    instance_types = %summarize(&plan.instance_types),
                    "created nodeclaim"
                );
                return Ok(name);
            }
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(Error::kube(format!("create NodeClaim {name}"), e).to_string()),
        }
    }
    Err("five generated NodeClaim names were all taken".into())
}

/// `--dry-run`: log the NodeClaim a live run would create (upstream's "created nodeclaim"
/// fields plus the cheapest offering and the pods), and hold it in the cluster model only, so
/// its pods count as planned and the next pass does not decide them again.
fn dry_run_create(ctx: &Context, pool: &NodePool, plan: &NodeClaimPlan, keys: &[PodKey]) -> String {
    let name = ctx.names.next(&plan.node_pool);
    let pods: Vec<String> = plan.pods.iter().map(|&i| keys[i].to_string()).collect();
    tracing::info!(
        nodeclaim = %name,
        nodepool = %plan.node_pool,
        instance_type = %plan.instance_type,
        zone = %plan.zone,
        capacity_type = %plan.capacity_type,
        price_per_hour = plan.price_per_hour,
        instance_types = %summarize(&plan.instance_types),
        requests = ?super::nodeclaim::resource_list(&plan.requests),
        pods = %pods.join(", "),
        "would create nodeclaim (dry run)"
    );
    let mut claim = to_node_claim(pool, plan, name.clone());
    claim.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        ctx.clock.now(),
    ));
    match karpenter_state::ClaimEntry::new(claim) {
        Ok(e) => ctx.state.write().upsert_node_claim(e),
        Err(e) => tracing::debug!(nodeclaim = %name, error = %e, "dry-run nodeclaim not modelled"),
    }
    name
}

fn summarize(types: &[String]) -> String {
    let head: Vec<&str> = types.iter().take(5).map(String::as_str).collect();
    if types.len() > 5 {
        format!("{} and {} other(s)", head.join(", "), types.len() - 5)
    } else {
        head.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_scheduling::{Catalog, OverheadOptions};
    use karpenter_state::{ClaimEntry, Source};

    fn claim(name: &str, types: &[&str], provider_id: Option<&str>) -> ClaimEntry {
        let mut c = serde_json::json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "default"}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types}]
            }
        });
        if let Some(p) = provider_id {
            c["status"] =
                serde_json::json!({"providerID": p, "capacity": {"cpu": "2", "memory": "4Gi"}});
        }
        ClaimEntry::new(serde_json::from_value(c).unwrap()).unwrap()
    }

    #[test]
    fn an_unlaunched_claim_counts_at_its_largest_type_and_a_launched_one_at_its_capacity() {
        let types = Catalog::embedded()
            .instance_types("us-east-1", &OverheadOptions::default())
            .unwrap();
        let by_name: HashMap<&str, &InstanceType> =
            types.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut c = Cluster::new(Source::Cluster);
        c.upsert_node_claim(claim("default-aaaaa", &["c5.large", "c5.xlarge"], None));
        let used = pool_usage(&c, "default", &by_name);
        assert_eq!(used["cpu"], 4000, "the largest type (c5.xlarge) is assumed");
        assert_eq!(used["nodes"], 1);
        let inflight = unlaunched(&c, &by_name);
        assert_eq!(inflight.len(), 1);
        assert_eq!(inflight[0].capacity.cpu_millis, 4000);
        assert_eq!(
            inflight[0].allocatable, by_name["c5.large"].allocatable,
            "the cheapest type's allocatable"
        );
        assert!(!inflight[0].initialized);

        c.upsert_node_claim(claim(
            "default-bbbbb",
            &["c5.large", "c5.xlarge"],
            Some("aws:///z/i-1"),
        ));
        let used = pool_usage(&c, "default", &by_name);
        assert_eq!(
            used["cpu"], 6000,
            "a launched claim counts its status.capacity"
        );
        assert_eq!(used["nodes"], 2);
        assert_eq!(
            unlaunched(&c, &by_name).len(),
            1,
            "launched claims are the state model's in-flight capacity"
        );
        assert_eq!(pool_usage(&c, "other", &by_name)["nodes"], 0);
    }

    #[test]
    fn a_limit_is_exceeded_only_past_it_and_nodes_count_one_each() {
        let limits = BTreeMap::from([("cpu".to_string(), 8000), ("nodes".to_string(), 3)]);
        let used = BTreeMap::from([("cpu".to_string(), 4000), ("nodes".to_string(), 2)]);
        assert_eq!(exceeds(&limits, &used, &Resources::cpu_mem(4000, 0)), None);
        let why = exceeds(&limits, &used, &Resources::cpu_mem(4001, 0)).unwrap();
        assert!(
            why.starts_with("cpu: 4000 in use + 4001 > limit 8000"),
            "{why}"
        );
        let full = BTreeMap::from([("cpu".to_string(), 0), ("nodes".to_string(), 3)]);
        assert!(exceeds(&limits, &full, &Resources::default())
            .unwrap()
            .starts_with("nodes"));
    }
}

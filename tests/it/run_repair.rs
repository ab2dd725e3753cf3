//! `run`'s node repair and static capacity end to end (issue 13, "Node repair and static
//! capacity"), over the API-server double with the in-memory provider and the simulated
//! kubelet, kube-scheduler and ReplicaSet controller.
//!
//! Node repair: the provider's repair policies are short or long as each test needs, and a
//! Node's condition is written with a `lastTransitionTime` in the past, so "past its toleration"
//! needs no waiting. Static capacity: a NodePool with `spec.replicas` gets that many
//! NodeClaims, capped by `limits.nodes`, keeps them through disruption passes, and gives up
//! the surplus when `replicas` goes down. With the feature gates off (upstream's default)
//! neither acts.
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kubectl_karpenter::cloud::provider::{CloudProvider, InMemoryProvider, RepairPolicy};
use kubectl_karpenter::controllers::Settings;
use serde_json::{json, Value};

use crate::support::run_world::*;

const CLAIMS: (&str, &str) = ("karpenter.sh/v1", "NodeClaim");

/// KernelReady=False is tolerated 5 minutes, StorageReady=False an hour.
fn provider() -> Arc<InMemoryProvider> {
    let p = in_memory();
    p.set_repair_policies(vec![
        RepairPolicy::new("KernelReady", "False", Duration::from_secs(5 * 60)),
        RepairPolicy::new("StorageReady", "False", Duration::from_secs(3600)),
    ]);
    p
}

fn gates(repair: bool, static_capacity: bool) -> impl FnOnce(&mut Settings) {
    move |s| {
        s.feature_gates.node_repair = repair;
        s.feature_gates.static_capacity = static_capacity;
    }
}

/// Pod `i` of the web ReplicaSet, one per node (hostname anti-affinity).
fn spread_pod(i: usize) -> Value {
    let mut p = pod(&format!("web-7d4b9-{i}"), "1");
    p["spec"]["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}});
    p
}

fn name(o: &Value) -> String {
    o["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn names<P: CloudProvider>(w: &World<P>, (v, k): (&str, &str)) -> BTreeSet<String> {
    w.list(v, k).iter().map(name).collect()
}

/// The Node pod `pod` is bound to.
fn node_of<P: CloudProvider>(w: &World<P>, pod: &str) -> String {
    w.list("v1", "Pod")
        .into_iter()
        .find(|p| name(p) == pod)
        .and_then(|p| p["spec"]["nodeName"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("pod {pod} is bound"))
}

/// The NodeClaim whose `status.nodeName` is `node`.
fn claim_of<P: CloudProvider>(w: &World<P>, node: &str) -> String {
    w.list(CLAIMS.0, CLAIMS.1)
        .iter()
        .find(|c| c["status"]["nodeName"] == node)
        .map(name)
        .unwrap_or_else(|| panic!("a NodeClaim for node {node}"))
}

/// Add (or replace) condition `type_`=`status` on Node `node`, changed ten minutes ago.
fn set_condition<P: CloudProvider>(w: &World<P>, node: &str, type_: &str, status: &str) {
    let at = Timestamp::now() - SignedDuration::from_mins(10);
    w.server
        .modify("v1", "Node", None, node, |n| {
            let conds = n["status"]["conditions"].as_array_mut().expect("conditions");
            conds.retain(|c| c["type"] != type_);
            conds.push(json!({"type": type_, "status": status, "reason": "Test",
                              "lastTransitionTime": at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}));
        })
        .expect("the node exists");
}

/// The (regarding, reason) of every Event with `reason`.
fn events<P: CloudProvider>(w: &World<P>, reason: &str) -> Vec<String> {
    w.list("events.k8s.io/v1", "Event")
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| {
            e["regarding"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The NodeClaims a DELETE was sent for, each once (several controllers may ask to delete the
/// same NodeClaim: repair, then termination or garbage collection from a stale cache; a
/// repeated DELETE of a NodeClaim already being deleted changes nothing).
fn claim_deletes<P: CloudProvider>(w: &World<P>) -> std::collections::BTreeSet<String> {
    w.server
        .writes()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("/nodeclaims/"))
        .filter_map(|r| r.path.rsplit('/').next().map(str::to_string))
        .collect()
}

async fn settled<P: CloudProvider>(w: &World<P>, nodes: usize) {
    w.wait_for("every pod is bound on its own initialized node", |w| {
        w.unbound().is_empty()
            && all_initialized(w)
            && w.list(CLAIMS.0, CLAIMS.1).len() == nodes
            && w.list("v1", "Node").len() == nodes
    })
    .await;
}

/// A node past its toleration is replaced (its NodeClaim annotated with the termination time,
/// then deleted; its pod bound again elsewhere); a node within its toleration is kept. Two of
/// six nodes unhealthy is within the 20 % threshold (rounded up: two).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_repair_replaces_a_node_past_its_toleration_and_keeps_one_within_it() {
    let mut objects = vec![node_class(), node_pool("default", None)];
    objects.extend((0..6).map(spread_pod));
    let w = World::start_with(provider(), REGION, objects, gates(true, false), true).await;
    settled(&w, 6).await;
    let broken = node_of(&w, "web-7d4b9-0");
    let tolerated = node_of(&w, "web-7d4b9-1");
    let broken_claim = claim_of(&w, &broken);
    let tolerated_claim = claim_of(&w, &tolerated);
    let instances_before = w.provider.list().await.unwrap().len();
    assert_eq!(instances_before, 6);

    set_condition(&w, &broken, "KernelReady", "False");
    set_condition(&w, &tolerated, "StorageReady", "False");
    w.wait_for(
        "the broken node is replaced and every pod is bound again",
        |w| {
            let nodes = names(w, ("v1", "Node"));
            !nodes.contains(&broken)
                && !names(w, CLAIMS).contains(&broken_claim)
                && nodes.len() == 6
                && w.list("v1", "Pod").len() == 6
                && w.unbound().is_empty()
                && all_initialized(w)
        },
    )
    .await;
    assert!(
        w.list("v1", "Pod")
            .iter()
            .all(|p| p["spec"]["nodeName"] != broken.as_str()),
        "no pod is left on the repaired node"
    );
    assert!(
        names(&w, CLAIMS).contains(&tolerated_claim),
        "the node within its toleration is kept"
    );
    assert_eq!(
        claim_deletes(&w),
        std::collections::BTreeSet::from([broken_claim.clone()]),
        "only the broken node's NodeClaim was deleted"
    );
    let writes = w.server.writes();
    let path = format!("/apis/karpenter.sh/v1/nodeclaims/{broken_claim}");
    let annotated = writes.iter().position(|r| {
        r.path == path
            && r.method == "PATCH"
            && r.body
                .contains("karpenter.sh/nodeclaim-termination-timestamp")
    });
    let deleted = writes
        .iter()
        .position(|r| r.path == path && r.method == "DELETE");
    assert!(
        annotated.is_some() && annotated < deleted,
        "the NodeClaim is stamped with its termination time before it is deleted (forceful)"
    );
    assert_eq!(events(&w, "NodeRepair"), vec![broken.clone()]);
    assert!(events(&w, "NodeRepairBlocked").is_empty());
    // the instance was terminated and replaced
    assert_eq!(w.provider.list().await.unwrap().len(), 6);
    w.stop();
}

/// Two of three nodes unhealthy is more than 20 % (rounded up: one of three): the node past
/// its toleration is not repaired and is told why, as long as another node of its pool is
/// unhealthy (even one still within its toleration, which counts as upstream counts it); once
/// that one heals, it is repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_repair_waits_while_more_than_a_fifth_of_the_pool_is_unhealthy() {
    let mut objects = vec![node_class(), node_pool("default", None)];
    objects.extend((0..3).map(spread_pod));
    let w = World::start_with(provider(), REGION, objects, gates(true, false), true).await;
    settled(&w, 3).await;
    let a = node_of(&w, "web-7d4b9-0");
    let b = node_of(&w, "web-7d4b9-1");
    let claims_before = names(&w, CLAIMS);
    // b first (tolerated for an hour), so that a is never alone in being unhealthy
    set_condition(&w, &b, "StorageReady", "False");
    set_condition(&w, &a, "KernelReady", "False");
    w.wait_for("the broken node is told repair is blocked", |w| {
        events(w, "NodeRepairBlocked") == vec![a.clone()]
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        claim_deletes(&w).len(),
        0,
        "nothing is repaired above the threshold"
    );
    assert_eq!(names(&w, CLAIMS), claims_before);
    assert!(events(&w, "NodeRepair").is_empty());

    set_condition(&w, &b, "StorageReady", "True");
    w.wait_for(
        "the broken node is repaired once the pool is healthy enough",
        |w| !names(w, ("v1", "Node")).contains(&a) && events(w, "NodeRepair") == vec![a.clone()],
    )
    .await;
    assert!(names(&w, ("v1", "Node")).contains(&b));
    assert_eq!(
        events(&w, "NodeRepairBlocked"),
        vec![a.clone()],
        "one blocked Event per node (upstream dedupes for 15 minutes)"
    );
    w.stop();
}

fn static_pool(name: &str, replicas: i64, nodes_limit: Option<i64>) -> Value {
    let mut np = node_pool(name, nodes_limit.map(|n| json!({"nodes": n})));
    np["spec"]["replicas"] = json!(replicas);
    np
}

/// With both gates off (upstream's default): an unhealthy node past its toleration stays and a
/// static NodePool gets no NodeClaim, while the dynamic pool serves the pod as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_gates_off_nothing_is_repaired_and_static_pools_are_untouched() {
    let objects = vec![
        node_class(),
        node_pool("default", None),
        static_pool("static", 2, None),
        spread_pod(0),
    ];
    let w = World::start_with(provider(), REGION, objects, gates(false, false), true).await;
    settled(&w, 1).await;
    let node = node_of(&w, "web-7d4b9-0");
    let claims = names(&w, CLAIMS);
    set_condition(&w, &node, "KernelReady", "False");
    // the gate-on tests act within a pass (about a second); give it several
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(names(&w, CLAIMS), claims, "no NodeClaim created or deleted");
    assert!(names(&w, ("v1", "Node")).contains(&node));
    assert_eq!(claim_deletes(&w).len(), 0);
    assert!(events(&w, "NodeRepair").is_empty() && events(&w, "NodeRepairBlocked").is_empty());
    assert!(w
        .list(CLAIMS.0, CLAIMS.1)
        .iter()
        .all(|c| c["metadata"]["labels"]["karpenter.sh/nodepool"] == "default"));
    w.stop();
}

fn pool_claims<P: CloudProvider>(w: &World<P>, pool: &str) -> BTreeSet<String> {
    w.list(CLAIMS.0, CLAIMS.1)
        .iter()
        .filter(|c| c["metadata"]["labels"]["karpenter.sh/nodepool"] == pool)
        .map(name)
        .collect()
}

/// A static pool with `replicas: 3` gets three NodeClaims (a pool capped at `limits.nodes: 2`
/// gets two), they stay through disruption passes (empty, yet never consolidated), and
/// `replicas: 1` removes two of them, their instances terminated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_pool_keeps_exactly_its_replicas() {
    let objects = vec![
        node_class(),
        static_pool("static", 3, None),
        static_pool("capped", 3, Some(2)),
    ];
    let fast = |s: &mut Settings| {
        gates(false, true)(s);
        s.disruption_poll_period = Duration::from_millis(300);
        s.disruption_validation_delay = Duration::from_millis(300);
    };
    let w = World::start_with(provider(), REGION, objects, fast, true).await;
    w.wait_for("three static and two capped nodes are initialized", |w| {
        pool_claims(w, "static").len() == 3
            && pool_claims(w, "capped").len() == 2
            && w.list("v1", "Node").len() == 5
            && all_initialized(w)
    })
    .await;
    let before = pool_claims(&w, "static");
    // several static-capacity and disruption passes
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        pool_claims(&w, "static"),
        before,
        "empty static nodes are kept"
    );
    assert_eq!(
        pool_claims(&w, "capped").len(),
        2,
        "limits.nodes caps the replicas"
    );
    assert_eq!(claim_deletes(&w).len(), 0);
    for c in w.list(CLAIMS.0, CLAIMS.1) {
        assert_eq!(c["metadata"]["ownerReferences"][0]["kind"], "NodePool");
        assert_eq!(
            c["metadata"]["labels"]["team"], "web",
            "the template's labels"
        );
        assert!(c["metadata"]["annotations"]["karpenter.sh/nodepool-hash"].is_string());
        assert!(c["spec"]["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == "node.kubernetes.io/instance-type" && r["minValues"] == 2));
    }

    w.server
        .modify("karpenter.sh/v1", "NodePool", None, "static", |p| {
            p["spec"]["replicas"] = json!(1)
        })
        .unwrap();
    w.wait_for("two static nodes are removed", |w| {
        pool_claims(w, "static").len() == 1 && w.list("v1", "Node").len() == 3
    })
    .await;
    let after = pool_claims(&w, "static");
    assert!(
        after.is_subset(&before),
        "the remaining one is one of the three"
    );
    let mut left = 0;
    for _ in 0..100 {
        left = w.provider.list().await.unwrap().len();
        if left == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 3, "1 static + 2 capped instances remain");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        pool_claims(&w, "static"),
        after,
        "and no replacement is made"
    );
    w.stop();
}

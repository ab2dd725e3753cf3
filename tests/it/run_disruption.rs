//! `run`'s disruption and termination end to end (issue 13, scenarios 2, 5 and 6) over the
//! API-server double with the simulated kubelet, kube-scheduler and ReplicaSet controller:
//! a workload scaled to zero leaves empty nodes that are drained, deleted and whose instances
//! are terminated (in memory and over moto with the AWS provider); a NodePool template change
//! replaces every drifted node while a PodDisruptionBudget holds through the drains; an
//! underutilised cluster is consolidated to a cheaper one with every pod still bound. Also:
//! a replacement that fails to launch rolls its command back; a stale disrupted taint is
//! removed; `terminationGracePeriod` ends a drain held by a do-not-disrupt pod; an expired
//! NodeClaim is deleted and its pod placed again.
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kubectl_karpenter::cloud::aws::provider::AwsProvider;
use kubectl_karpenter::cloud::provider::{CloudProvider, Instance};
use kubectl_karpenter::controllers::Settings;
use serde_json::{json, Value};

use crate::aws_provider::world;
use crate::support::run_world::*;

/// Disruption on, polling fast.
fn fast(s: &mut Settings) {
    s.disruption_poll_period = Duration::from_millis(300);
    s.disruption_validation_delay = Duration::from_millis(300);
}

/// Poll `done` every 100 ms for up to `secs`.
async fn eventually<F, Fut>(what: &str, secs: u64, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..secs * 10 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A pod of ReplicaSet `rs`.
fn rs_pod(rs: &str, i: usize, cpu: &str) -> Value {
    let mut p = pod(&format!("{rs}-{i}"), cpu);
    p["metadata"]["labels"] = json!({"app": rs});
    p["metadata"]["ownerReferences"][0]["name"] = json!(rs);
    p["metadata"]["ownerReferences"][0]["uid"] = json!(format!("{rs}-uid"));
    p
}

fn names(objs: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = objs
        .iter()
        .map(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

fn ready(p: &Value) -> bool {
    p.pointer("/metadata/deletionTimestamp").is_none()
        && p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
}

/// The `DisruptionTerminating` events' notes, per Node.
fn disruption_events<P: CloudProvider>(w: &World<P>) -> Vec<(String, String)> {
    w.list("events.k8s.io/v1", "Event")
        .into_iter()
        .filter(|e| e["reason"] == "DisruptionTerminating")
        .map(|e| {
            (
                e["regarding"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["note"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// $/h of the instances, at their offering's price.
async fn price<P: CloudProvider>(w: &World<P>, instances: &[Instance]) -> f64 {
    let types = w.provider.instance_types("default").await.unwrap();
    instances
        .iter()
        .map(|i| {
            types
                .iter()
                .find(|t| t.name == i.instance_type)
                .and_then(|t| {
                    t.offerings
                        .iter()
                        .find(|o| o.zone == i.zone && o.capacity_type == i.capacity_type)
                })
                .map(|o| o.price)
                .unwrap_or_else(|| panic!("no offering for {i:?}"))
        })
        .sum()
}

async fn scale_to_zero_empties_the_cluster<P: CloudProvider + 'static>(w: World<P>) {
    w.wait_for("every pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("every NodeClaim is initialized", all_initialized)
        .await;
    let before = w.provider.list().await.unwrap();
    let nodes_before = names(&w.list("v1", "Node"));
    assert!(!before.is_empty() && !nodes_before.is_empty());

    assert!(w.replica_sets.scale("default", "web-7d4b9", 0));
    eventually(
        "every node is gone and every instance terminated",
        90,
        || async {
            w.list("v1", "Pod").is_empty()
                && w.list("v1", "Node").is_empty()
                && w.list("karpenter.sh/v1", "NodeClaim").is_empty()
                && w.provider.list().await.unwrap().is_empty()
        },
    )
    .await;
    for i in &before {
        assert!(
            w.provider.get(&i.id).await.is_err(),
            "instance {} is terminated",
            i.id
        );
    }
    // disrupted as empty nodes, each tainted before it was deleted
    let events = disruption_events(&w);
    let writes = w.server.writes();
    for n in &nodes_before {
        assert!(
            events
                .iter()
                .any(|(node, note)| node == n && note == "Disrupting Node: Empty/delete"),
            "{n}: {events:?}"
        );
        let path = format!("/api/v1/nodes/{n}");
        let tainted = writes.iter().position(|r| {
            r.path == path && r.method == "PUT" && r.body.contains("\"karpenter.sh/disrupted\"")
        });
        let deleted = writes
            .iter()
            .position(|r| r.path == path && r.method == "DELETE");
        assert!(
            tainted.is_some() && tainted < deleted,
            "{n} is tainted karpenter.sh/disrupted before its deletion"
        );
    }
    w.stop();
}

/// Scenario 2: the workload scaled to zero → the empty nodes are drained and deleted, their
/// instances terminated, nothing left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_to_zero_empty_nodes_are_deleted_and_their_instances_terminated() {
    let mut objects = vec![node_class(), node_pool("default", None)];
    objects.extend((0..5).map(|i| pod(&format!("web-7d4b9-{i}"), "3")));
    let w = World::start_with(in_memory(), REGION, objects, fast, true).await;
    scale_to_zero_empties_the_cluster(w).await;
}

/// Scenario 2 over moto with the AWS provider: the EC2 instances are terminated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_moto_scaled_to_zero_empty_nodes_are_deleted_and_ec2_instances_terminated() {
    let moto = crate::support::moto::Moto::start();
    let ctx = moto.context().await;
    world::build(&ctx).await;
    let provider = Arc::new(AwsProvider::new(ctx.clone(), world::cluster()));
    provider
        .resolve_nodeclass(&world::nodeclass())
        .await
        .expect("resolve the EC2NodeClass");
    let mut class = serde_json::to_value(world::nodeclass()).unwrap();
    class["apiVersion"] = json!("karpenter.k8s.aws/v1");
    class["kind"] = json!("EC2NodeClass");
    let mut objects = vec![class, node_pool("default", None)];
    objects.extend((0..3).map(|i| pod(&format!("web-7d4b9-{i}"), "1")));
    let w = World::start_with(provider, "us-west-2", objects, fast, true).await;
    scale_to_zero_empties_the_cluster(w).await;
}

/// Scenario 5: a NodePool template change drifts every node; each is replaced and drained
/// through the Eviction API while a PodDisruptionBudget (minAvailable 3 of 4) holds at every
/// moment; at the end every node is new, carries the new hash, and every pod runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodepool_template_change_replaces_drifted_nodes_within_the_pdb() {
    let mut objects = vec![
        node_class(),
        node_pool("default", None),
        json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}}
        }),
    ];
    objects.extend((0..4).map(|i| pod(&format!("web-7d4b9-{i}"), "1500m")));
    let w = World::start_with(in_memory(), REGION, objects, fast, true).await;
    w.wait_for("every pod is Ready", |w| {
        let pods = w.list("v1", "Pod");
        pods.len() == 4 && pods.iter().all(ready)
    })
    .await;
    w.wait_for("every NodeClaim is initialized", all_initialized)
        .await;
    let original = names(&w.list("karpenter.sh/v1", "NodeClaim"));
    let original_nodes = names(&w.list("v1", "Node"));

    // watch the PDB's pods for the whole drift
    let stop = Arc::new(AtomicBool::new(false));
    let min_ready = Arc::new(AtomicUsize::new(usize::MAX));
    let watcher = {
        let (stop, min_ready) = (stop.clone(), min_ready.clone());
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::all(w.server.client());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(list) = pods.list(&Default::default()).await else {
                    continue;
                };
                let n = list
                    .items
                    .iter()
                    .map(|p| serde_json::to_value(p).unwrap())
                    .filter(|p| p["metadata"]["labels"]["app"] == "web" && ready(p))
                    .count();
                min_ready.fetch_min(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    w.server
        .modify("karpenter.sh/v1", "NodePool", None, "default", |np| {
            np["spec"]["template"]["metadata"]["labels"]["team"] = json!("web-v2");
        })
        .unwrap();
    eventually(
        "every drifted node is replaced and every pod Ready",
        150,
        || async {
            let claims = w.list("karpenter.sh/v1", "NodeClaim");
            let pods = w.list("v1", "Pod");
            !claims.is_empty()
                && claims.iter().all(|c| {
                    !original.contains(
                        &c["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    ) && condition(c, "Initialized") == Some("True")
                })
                && pods.len() == 4
                && pods.iter().all(ready)
                && w.list("v1", "Node").len() == claims.len()
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();
    let min = min_ready.load(Ordering::Relaxed);
    assert!(
        min >= 3,
        "the PDB's minAvailable 3 was violated: {min} Ready pods at one point"
    );

    let pool = w
        .server
        .get("karpenter.sh/v1", "NodePool", None, "default")
        .unwrap();
    let hash = &pool["metadata"]["annotations"]["karpenter.sh/nodepool-hash"];
    assert!(hash.is_string(), "the NodePool's hash is stamped: {pool}");
    for c in w.list("karpenter.sh/v1", "NodeClaim") {
        assert_eq!(
            &c["metadata"]["annotations"]["karpenter.sh/nodepool-hash"],
            hash
        );
        assert_eq!(c["metadata"]["labels"]["team"], "web-v2");
    }
    let events = disruption_events(&w);
    for n in &original_nodes {
        assert!(
            events
                .iter()
                .any(|(node, note)| node == n && note.starts_with("Disrupting Node: Drifted/")),
            "{n}: {events:?}"
        );
    }
    let evictions = w
        .server
        .writes()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/eviction"))
        .count();
    assert!(
        evictions >= 4,
        "the drain went through the Eviction API ({evictions} calls)"
    );
    w.stop();
}

/// Scenario 6: an underutilised cluster (the big workload gone, small pods left spread over
/// big nodes) is consolidated: nodes are replaced or removed, the cluster costs less per hour
/// than before, and every pod is bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_underutilised_cluster_is_consolidated_to_a_cheaper_one() {
    let mut objects = vec![node_class(), node_pool("default", None)];
    objects.extend((0..3).map(|i| rs_pod("big", i, "5")));
    objects.extend((0..3).map(|i| rs_pod("small", i, "250m")));
    let w = World::start_with(in_memory(), REGION, objects, fast, true).await;
    w.wait_for("every pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("every NodeClaim is initialized", all_initialized)
        .await;
    let before = w.provider.list().await.unwrap();
    let before_price = price(&w, &before).await;

    assert!(w.replica_sets.scale("default", "big", 0));
    eventually("the cluster is consolidated", 120, || async {
        let events = disruption_events(&w);
        let claims = w.list("karpenter.sh/v1", "NodeClaim");
        let pods = w.list("v1", "Pod");
        let nodes = names(&w.list("v1", "Node"));
        events
            .iter()
            .any(|(_, n)| n.starts_with("Disrupting Node: Underutilized/"))
            && events.iter().all(|(n, _)| !nodes.contains(n))
            && pods.len() == 3
            && pods.iter().all(ready)
            && w.unbound().is_empty()
            && claims.iter().all(|c| {
                c.pointer("/metadata/deletionTimestamp").is_none()
                    && condition(c, "Initialized") == Some("True")
            })
            && w.provider.list().await.unwrap().len() == claims.len()
    })
    .await;
    let after = w.provider.list().await.unwrap();
    let after_price = price(&w, &after).await;
    assert!(
        after_price < before_price,
        "consolidation saves: {after_price} $/h after, {before_price} $/h before"
    );
    assert!(
        w.list("v1", "Pod").iter().all(ready),
        "every pod runs on the consolidated nodes"
    );
    w.stop();
}

fn node_taints(n: &Value) -> Vec<String> {
    n.pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|t| t["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A replacement that cannot launch (no capacity for the only offering) rolls the command
/// back: the candidate is untainted, its `DisruptionReason` cleared, its NodeClaim kept and its
/// pod never evicted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_that_fails_to_launch_rolls_the_command_back() {
    let mut np = node_pool("default", None);
    np["spec"]["template"]["spec"]["requirements"] = json!([
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["c5.large"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]}
    ]);
    let objects = vec![node_class(), np, pod("web-7d4b9-0", "1")];
    let w = World::start_with(in_memory(), REGION, objects, fast, true).await;
    w.wait_for("the pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("the NodeClaim is initialized", all_initialized)
        .await;
    let claim = names(&w.list("karpenter.sh/v1", "NodeClaim")).remove(0);
    let node = names(&w.list("v1", "Node")).remove(0);

    w.provider
        .set_no_capacity(kubectl_karpenter::cloud::provider::OfferingKey::new(
            "on-demand",
            "c5.large",
            "us-east-1a",
        ));
    w.server
        .modify("karpenter.sh/v1", "NodePool", None, "default", |np| {
            np["spec"]["template"]["metadata"]["labels"]["team"] = json!("web-v2");
        })
        .unwrap();
    let node_path = format!("/api/v1/nodes/{node}");
    w.wait_for("the candidate was tainted and untainted again", |w| {
        let puts: Vec<bool> = w
            .server
            .writes()
            .iter()
            .filter(|r| r.path == node_path && r.method == "PUT")
            .map(|r| r.body.contains("\"karpenter.sh/disrupted\""))
            .collect();
        let tainted = puts.iter().position(|t| *t);
        tainted.is_some_and(|i| puts[i..].iter().any(|t| !t))
    })
    .await;
    w.wait_for("the rollback settles", |w| {
        let n = w.server.get("v1", "Node", None, &node);
        let c = w.server.get("karpenter.sh/v1", "NodeClaim", None, &claim);
        n.is_some_and(|n| {
            !node_taints(&n)
                .iter()
                .any(|t| t == "karpenter.sh/disrupted")
        }) && c.is_some_and(|c| condition(&c, "DisruptionReason").is_none())
            && w.list("karpenter.sh/v1", "NodeClaim").len() == 1
    })
    .await;
    let c = w
        .server
        .get("karpenter.sh/v1", "NodeClaim", None, &claim)
        .unwrap();
    assert!(c.pointer("/metadata/deletionTimestamp").is_none());
    let pod = w
        .server
        .get("v1", "Pod", Some("default"), "web-7d4b9-0")
        .unwrap();
    assert_eq!(pod["spec"]["nodeName"], json!(node), "the pod never moved");
    assert!(
        !w.server
            .writes()
            .iter()
            .any(|r| r.path.ends_with("/eviction")),
        "nothing was evicted"
    );
    assert_eq!(w.provider.list().await.unwrap().len(), 1);
    w.stop();
}

/// A `karpenter.sh/disrupted` taint left by a command that never finished (a crash) is
/// removed by the next disruption pass, as upstream's controller does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_disrupted_taint_is_removed() {
    let objects = vec![
        node_class(),
        node_pool("default", None),
        pod("web-7d4b9-0", "1"),
    ];
    let w = World::start_with(in_memory(), REGION, objects, fast, true).await;
    w.wait_for("the pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("the NodeClaim is initialized", all_initialized)
        .await;
    let node = names(&w.list("v1", "Node")).remove(0);
    w.server
        .modify("v1", "Node", None, &node, |n| {
            n["spec"]["taints"]
                .as_array_mut()
                .unwrap()
                .push(json!({"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}));
        })
        .unwrap();
    w.wait_for("the stale taint is removed", |w| {
        w.server.get("v1", "Node", None, &node).is_some_and(|n| {
            !node_taints(&n)
                .iter()
                .any(|t| t == "karpenter.sh/disrupted")
        })
    })
    .await;
    let n = w.server.get("v1", "Node", None, &node).unwrap();
    assert!(n.pointer("/metadata/deletionTimestamp").is_none());
    w.stop();
}

/// `terminationGracePeriod`: deleting a NodeClaim stamps its termination time; a pod with
/// `karpenter.sh/do-not-disrupt` is never evicted but holds the drain until its grace period
/// before that time, when it is deleted regardless; then the instance and both objects go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_do_not_disrupt_pod_holds_the_drain_until_the_termination_grace_period() {
    let mut np = node_pool("default", None);
    np["spec"]["template"]["spec"]["terminationGracePeriod"] = json!("5s");
    let mut p = pod("web-7d4b9-0", "1");
    p["metadata"]["annotations"] = json!({"karpenter.sh/do-not-disrupt": "true"});
    p["spec"]["terminationGracePeriodSeconds"] = json!(1);
    let w = World::start_with(in_memory(), REGION, vec![node_class(), np, p], fast, true).await;
    w.wait_for("the pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("the NodeClaim is initialized", all_initialized)
        .await;
    let claim = names(&w.list("karpenter.sh/v1", "NodeClaim")).remove(0);
    let node = names(&w.list("v1", "Node")).remove(0);
    let instance = w.provider.list().await.unwrap().remove(0);

    let deleted = w
        .server
        .delete("karpenter.sh/v1", "NodeClaim", None, &claim)
        .expect("the NodeClaim is marked for deletion");
    let start = std::time::Instant::now();
    let deletion: k8s_openapi::jiff::Timestamp = deleted["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    w.wait_for("the termination time is stamped", |w| {
        w.server
            .get("karpenter.sh/v1", "NodeClaim", None, &claim)
            .is_some_and(|c| {
                c["metadata"]["annotations"]["karpenter.sh/nodeclaim-termination-timestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                    == deletion
                        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(5))
                        .ok()
            })
    })
    .await;
    w.wait_for("the node is tainted for the drain", |w| {
        w.server.get("v1", "Node", None, &node).is_some_and(|n| {
            node_taints(&n)
                .iter()
                .any(|t| t == "karpenter.sh/disrupted")
        })
    })
    .await;
    w.wait_for("the do-not-disrupt pod is deleted", |w| {
        w.server
            .get("v1", "Pod", Some("default"), "web-7d4b9-0")
            .is_none()
    })
    .await;
    let held = start.elapsed();
    // deleted at termination time − the pod's 1 s grace: 4 s after the (second-precision)
    // deletion timestamp
    assert!(
        held >= Duration::from_secs(2),
        "the pod held the drain for only {held:?}"
    );
    assert!(
        !w.server
            .writes()
            .iter()
            .any(|r| r.path.ends_with("/pods/web-7d4b9-0/eviction")),
        "a do-not-disrupt pod is not evicted"
    );
    w.wait_for("the node and the NodeClaim are gone", |w| {
        w.server.get("v1", "Node", None, &node).is_none()
            && w.server
                .get("karpenter.sh/v1", "NodeClaim", None, &claim)
                .is_none()
    })
    .await;
    assert!(
        w.provider.get(&instance.id).await.is_err(),
        "the instance is terminated"
    );
    w.stop();
}

/// Expiration takes the same path: a NodeClaim past `expireAfter` is disrupted as `Expired`
/// (forcefully, without a replacement), drained and deleted; its pod comes back and is bound
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_nodeclaim_is_deleted_and_its_pod_bound_again() {
    let mut np = node_pool("default", None);
    np["spec"]["template"]["spec"]["expireAfter"] = json!("4s");
    let objects = vec![node_class(), np, pod("web-7d4b9-0", "1")];
    let w = World::start_with(in_memory(), REGION, objects, fast, true).await;
    w.wait_for("the pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("the NodeClaim is initialized", all_initialized)
        .await;
    let claim = names(&w.list("karpenter.sh/v1", "NodeClaim")).remove(0);
    let node = names(&w.list("v1", "Node")).remove(0);
    w.wait_for("the expired NodeClaim is gone", |w| {
        w.server
            .get("karpenter.sh/v1", "NodeClaim", None, &claim)
            .is_none()
    })
    .await;
    let events = disruption_events(&w);
    assert!(
        events
            .iter()
            .any(|(n, note)| n == &node && note == "Disrupting Node: Expired/delete"),
        "{events:?}"
    );
    w.wait_for("the pod is bound again, elsewhere", |w| {
        let pods = w.list("v1", "Pod");
        pods.len() == 1
            && pods[0]["metadata"]["name"] != "web-7d4b9-0"
            && pods[0]["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| n != node)
    })
    .await;
    w.stop();
}

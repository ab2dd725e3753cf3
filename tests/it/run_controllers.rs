//! `run`'s controllers end to end over the API-server double and the in-memory cloud provider,
//! with the simulated kubelet and kube-scheduler of `src/controllers/sim`: pending pods →
//! NodeClaims (checked field by field against upstream's shape) → instances → Nodes → every
//! pod bound; and a NodePool limit that two waves of pods cannot push past.
use std::sync::Arc;
use std::time::Duration;

use karpenter_scheduling::{Catalog, OverheadOptions};
use kube_double::ApiServer;
use kubectl_karpenter::cloud::aws::provider::AwsProvider;
use kubectl_karpenter::cloud::provider::{CloudProvider, OfferingKey};
use kubectl_karpenter::controllers::clock::TokioClock;
use kubectl_karpenter::controllers::sim::scheduler::Scheduler;
use serde_json::{json, Value};

use crate::aws_provider::world;
use crate::support::run_world::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_pods_become_nodeclaims_instances_nodes_and_bound_pods() {
    let mut objects = vec![node_class(), node_pool("default", None)];
    objects.extend((0..6).map(|i| pod(&format!("web-7d4b9-{i}"), "1")));
    let w = World::start(objects).await;

    w.wait_for("every pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("every NodeClaim is initialized", all_initialized)
        .await;

    let pool = &w
        .server
        .get("karpenter.sh/v1", "NodePool", None, "default")
        .unwrap();
    let claims = w.list("karpenter.sh/v1", "NodeClaim");
    let nodes = w.list("v1", "Node");
    let instances = w.provider.list().await.unwrap();
    assert_eq!(instances.len(), claims.len(), "one instance per NodeClaim");
    assert_eq!(nodes.len(), claims.len(), "one Node per NodeClaim");
    for c in &claims {
        let name = c["metadata"]["name"].as_str().unwrap();
        let suffix = name
            .strip_prefix("default-")
            .expect("named <nodepool>-<suffix>");
        assert_eq!(suffix.len(), 5, "{name}");
        let labels = &c["metadata"]["labels"];
        assert_eq!(labels["karpenter.sh/nodepool"], "default");
        assert_eq!(labels["karpenter.k8s.aws/ec2nodeclass"], "default");
        assert_eq!(labels["team"], "web", "template labels");
        assert_eq!(labels["karpenter.sh/capacity-type"], "on-demand");
        let ann = &c["metadata"]["annotations"];
        assert_eq!(ann["example.com/owner"], "web", "template annotations");
        assert!(
            ann["karpenter.sh/nodepool-hash"]
                .as_str()
                .is_some_and(|h| h.parse::<u64>().is_ok()),
            "{ann}"
        );
        assert_eq!(
            ann["karpenter.sh/nodepool-hash-version"],
            "kubectl-karpenter-v1"
        );
        let owner = &c["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "NodePool");
        assert_eq!(owner["name"], "default");
        assert_eq!(owner["uid"], pool["metadata"]["uid"]);
        assert_eq!(owner["blockOwnerDeletion"], true);
        assert_eq!(
            c["metadata"]["finalizers"],
            json!(["karpenter.sh/termination"])
        );
        let spec = &c["spec"];
        assert_eq!(spec["nodeClassRef"]["name"], "default");
        assert_eq!(spec["expireAfter"], "336h");
        assert_eq!(spec["terminationGracePeriod"], "1h");
        assert_eq!(
            spec["taints"],
            json!([{"key": "dedicated", "value": "web", "effect": "NoSchedule"}])
        );
        let reqs = spec["requirements"].as_array().unwrap();
        let it = reqs
            .iter()
            .find(|r| r["key"] == "node.kubernetes.io/instance-type")
            .unwrap();
        assert_eq!(it["operator"], "In");
        assert_eq!(it["minValues"], 2, "minValues carried: {it}");
        let types = it["values"].as_array().unwrap();
        assert!(types.len() >= 2);
        assert!(
            types.iter().all(|t| t
                .as_str()
                .is_some_and(|t| t.starts_with('c') || t.starts_with('m'))),
            "{types:?}"
        );
        let ct = reqs
            .iter()
            .find(|r| r["key"] == "karpenter.sh/capacity-type")
            .unwrap();
        assert_eq!(ct["values"], json!(["on-demand"]));
        assert!(spec["resources"]["requests"]["cpu"].is_string(), "{spec}");
        // status written by the lifecycle controller
        let status = &c["status"];
        let inst = instances
            .iter()
            .find(|i| i.nodeclaim() == Some(name))
            .expect("an instance tagged with the claim");
        assert_eq!(status["providerID"], inst.provider_id());
        assert!(
            types.iter().any(|t| t == inst.instance_type.as_str()),
            "launched one of its types"
        );
        assert_eq!(
            labels["node.kubernetes.io/instance-type"],
            inst.instance_type.as_str()
        );
        assert!(
            status["capacity"]["cpu"].is_string() && status["allocatable"]["memory"].is_string(),
            "{status}"
        );
        for cond in ["Launched", "Registered", "Initialized", "Ready"] {
            assert_eq!(condition(c, cond), Some("True"), "{cond}: {status}");
        }
        // its Node: synced, registered, initialized
        let node = nodes
            .iter()
            .find(|n| n["spec"]["providerID"] == status["providerID"])
            .expect("a node");
        assert_eq!(status["nodeName"], node["metadata"]["name"]);
        let nl = &node["metadata"]["labels"];
        assert_eq!(nl["karpenter.sh/registered"], "true");
        assert_eq!(nl["karpenter.sh/initialized"], "true");
        assert_eq!(nl["team"], "web");
        let taints = node["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            !taints
                .iter()
                .any(|t| t["key"] == "karpenter.sh/unregistered"),
            "{taints:?}"
        );
        assert!(taints.iter().any(|t| t["key"] == "dedicated"), "{taints:?}");
        assert_eq!(
            node["metadata"]["finalizers"],
            json!(["karpenter.sh/termination"])
        );
        assert_eq!(node["metadata"]["ownerReferences"][0]["kind"], "NodeClaim");
        assert_eq!(node["metadata"]["ownerReferences"][0]["name"], name);
    }
    // every pod is on a Karpenter node and running there
    for p in w.list("v1", "Pod") {
        let on = p["spec"]["nodeName"].as_str().unwrap();
        assert!(nodes.iter().any(|n| n["metadata"]["name"] == on));
    }
    w.wait_for("every pod runs", |w| {
        w.list("v1", "Pod")
            .iter()
            .all(|p| p["status"]["phase"] == "Running")
    })
    .await;
    // the pods were nominated (events.k8s.io Events, as kube-rs's recorder writes them)
    let nominated: Vec<Value> = w
        .list("events.k8s.io/v1", "Event")
        .into_iter()
        .filter(|e| e["reason"] == "Nominated")
        .collect();
    assert!(nominated.len() >= 6, "{nominated:#?}");
    assert!(nominated.iter().all(|e| e["note"]
        .as_str()
        .is_some_and(|n| n.starts_with("Pod should schedule on: nodeclaim/default-"))));
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodepool_limit_holds_across_batches_and_in_flight_nodeclaims() {
    // 4 vCPUs: room for one 4-vCPU node, whatever the timing of the two waves
    let mut objects = vec![
        node_class(),
        node_pool("default", Some(json!({"cpu": "4"}))),
    ];
    objects.extend((0..2).map(|i| pod(&format!("web-7d4b9-a{i}"), "900m")));
    let w = World::start(objects).await;
    w.wait_for("a NodeClaim exists", |w| {
        !w.list("karpenter.sh/v1", "NodeClaim").is_empty()
    })
    .await;
    // a second wave while the first NodeClaim may still be in flight
    w.server.seed_all(
        (0..8)
            .map(|i| pod(&format!("web-7d4b9-b{i}"), "900m"))
            .collect(),
    );
    w.wait_for("every NodeClaim is initialized", all_initialized)
        .await;
    // let a few more batch windows pass: nothing more may launch
    w.wait_for("the unplaceable pods carry a FailedScheduling event", |w| {
        w.list("events.k8s.io/v1", "Event").iter().any(|e| {
            e["reason"] == "FailedScheduling"
                && e["type"] == "Warning"
                && e["note"].as_str().is_some_and(|n| n.contains("limit"))
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let claims = w.list("karpenter.sh/v1", "NodeClaim");
    let instances = w.provider.list().await.unwrap();
    assert_eq!(
        instances.len(),
        claims.len(),
        "no instance without a NodeClaim"
    );
    let types = Catalog::embedded()
        .instance_types(REGION, &OverheadOptions::default())
        .unwrap();
    let vcpus: i64 = instances
        .iter()
        .map(|i| {
            types
                .iter()
                .find(|t| t.name == i.instance_type)
                .unwrap()
                .capacity
                .cpu_millis
        })
        .sum();
    assert!(
        vcpus <= 4000,
        "launched {vcpus}m CPU past the 4-CPU limit: {instances:#?}"
    );
    assert!(!claims.is_empty());
    let unbound = w.unbound();
    assert!(
        !unbound.is_empty(),
        "10 pods of 900m cannot all fit in 4 CPUs"
    );
    let bound = 10 - unbound.len();
    assert!(bound >= 1, "the limit still leaves room for some pods");
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_capacity_deletes_the_nodeclaim_and_marks_the_offering_unavailable() {
    // one instance type in one zone, and no capacity for it
    let mut np = node_pool("default", None);
    np["spec"]["template"]["spec"]["requirements"] = json!([
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["c5.large"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]}
    ]);
    let w = World::start(vec![node_class(), np]).await;
    let key = OfferingKey::new("on-demand", "c5.large", "us-east-1a");
    w.provider.set_no_capacity(key.clone());
    w.server.seed(pod("web-7d4b9-0", "1"));
    w.wait_for("the offering is marked unavailable", |w| {
        w.provider.unavailable().is_unavailable(&key)
    })
    .await;
    w.wait_for("the NodeClaim is deleted (finalizer removed)", |w| {
        w.list("karpenter.sh/v1", "NodeClaim").is_empty()
    })
    .await;
    assert!(
        w.provider.list().await.unwrap().is_empty(),
        "no instance was launched"
    );
    // the next batch re-plans with the offering unavailable: nothing to launch, the pod says why
    w.wait_for("the pod carries a FailedScheduling event", |w| {
        w.list("events.k8s.io/v1", "Event")
            .iter()
            .any(|e| e["reason"] == "FailedScheduling" && e["regarding"]["name"] == "web-7d4b9-0")
    })
    .await;
    assert!(
        w.list("karpenter.sh/v1", "NodeClaim").is_empty(),
        "no NodeClaim for an unavailable offering"
    );
    assert_eq!(w.unbound(), ["web-7d4b9-0"]);
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodeclaim_whose_node_never_registers_is_deleted_and_its_instance_terminated() {
    // no kubelet: the instance never registers a Node
    let w = World::start_with(
        in_memory(),
        REGION,
        vec![
            node_class(),
            node_pool("default", None),
            pod("web-7d4b9-0", "1"),
        ],
        |s| s.registration_ttl = Duration::from_millis(500),
        false,
    )
    .await;
    w.wait_for("a NodeClaim is launched", |w| {
        w.list("karpenter.sh/v1", "NodeClaim")
            .iter()
            .any(|c| condition(c, "Launched") == Some("True"))
    })
    .await;
    let first = w.list("karpenter.sh/v1", "NodeClaim")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let first_instance = w.provider.list().await.unwrap()[0].id.clone();
    w.wait_for("the first NodeClaim is gone", |w| {
        w.list("karpenter.sh/v1", "NodeClaim")
            .iter()
            .all(|c| c["metadata"]["name"] != first.as_str())
    })
    .await;
    assert!(
        w.provider
            .list()
            .await
            .unwrap()
            .iter()
            .all(|i| i.id != first_instance),
        "the instance of the timed-out NodeClaim is terminated"
    );
    w.stop();
}

/// Scenario 1 of issue 13 over moto with the AWS provider: CreateFleet launches real (moto)
/// instances tagged with their NodeClaims, the kubelet registers them, every pod is bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_moto_pending_pods_become_ec2_instances_nodes_and_bound_pods() {
    let moto = crate::support::moto::Moto::start();
    let ctx = moto.context().await;
    world::build(&ctx).await;
    // the EC2NodeClass status controller resolves the class before anything launches
    let provider = Arc::new(AwsProvider::new(ctx.clone(), world::cluster()));
    let mut class = serde_json::to_value(world::nodeclass()).unwrap();
    class["apiVersion"] = json!("karpenter.k8s.aws/v1");
    class["kind"] = json!("EC2NodeClass");
    let mut objects = vec![class, node_pool("default", None)];
    objects.extend((0..4).map(|i| pod(&format!("web-7d4b9-{i}"), "1")));
    let w = World::start_with(provider, "us-west-2", objects, |_| {}, true).await;

    w.wait_for("every pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("every NodeClaim is initialized", all_initialized)
        .await;
    let claims = w.list("karpenter.sh/v1", "NodeClaim");
    let instances = w.provider.list().await.unwrap();
    assert_eq!(
        instances.len(),
        claims.len(),
        "one EC2 instance per NodeClaim: {instances:#?}"
    );
    for c in &claims {
        let name = c["metadata"]["name"].as_str().unwrap();
        let inst = instances
            .iter()
            .find(|i| i.nodeclaim() == Some(name))
            .expect("an instance tagged with the claim");
        assert_eq!(c["status"]["providerID"], inst.provider_id());
        assert!(inst.id.starts_with("i-"), "{inst:?}");
        assert!(inst.zone.starts_with("us-west-2"), "{inst:?}");
        let types = c["spec"]["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "node.kubernetes.io/instance-type")
            .unwrap()["values"]
            .clone();
        assert!(
            types
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == inst.instance_type.as_str()),
            "{types}"
        );
        assert_eq!(
            c["status"]["imageID"].as_str(),
            inst.image_id.as_deref(),
            "the AMI CreateFleet used"
        );
        for cond in ["Launched", "Registered", "Initialized"] {
            assert_eq!(condition(c, cond), Some("True"), "{cond}");
        }
    }
    w.stop();
}

/// The simulated kube-scheduler binds as kube-scheduler would: requests, taints and
/// tolerations, node selectors; Nodes that are not Ready take nothing; what fits nowhere is
/// marked Unschedulable (and so becomes provisionable).
#[tokio::test]
async fn the_simulated_scheduler_honours_requests_taints_selectors_and_readiness() {
    let server = ApiServer::start().await;
    let node = |name: &str, ready: bool, labels: Value, taints: Value| {
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
            "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "10"},
                       "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"},
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        })
    };
    let bare = |name: &str, cpu: &str| {
        let mut p = pod(name, cpu);
        p["spec"]["tolerations"] = json!([]);
        p
    };
    let mut zoned = bare("zoned", "100m");
    zoned["spec"]["nodeSelector"] = json!({"zone": "b"});
    let mut tolerant = pod("tolerant", "100m");
    tolerant["spec"]["nodeSelector"] = json!({"zone": "a"});
    server.seed_all(vec![
        node("plain", true, json!({"zone": "a"}), json!([])),
        node(
            "tainted",
            true,
            json!({"zone": "a"}),
            json!([{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]),
        ),
        node("booting", false, json!({"zone": "b"}), json!([])),
        bare("small", "500m"),
        bare("huge", "3"),
        zoned,
        tolerant,
    ]);
    let scheduler = Scheduler::new(server.client(), Arc::new(TokioClock::default()));
    let pass = scheduler.tick().await.unwrap();
    assert_eq!(
        pass.bound.get("default/small").map(String::as_str),
        Some("plain"),
        "{pass:?}"
    );
    assert!(
        pass.bound
            .get("default/tolerant")
            .is_some_and(|n| n == "plain" || n == "tainted"),
        "{pass:?}"
    );
    let mut unschedulable = pass.unschedulable.clone();
    unschedulable.sort();
    assert_eq!(
        unschedulable,
        ["default/huge", "default/zoned"],
        "zone b's only node is not Ready"
    );
    let huge = server.get("v1", "Pod", Some("default"), "huge").unwrap();
    assert_eq!(condition(&huge, "PodScheduled"), Some("False"));
    assert_eq!(huge["status"]["conditions"][0]["reason"], "Unschedulable");
    let small = server.get("v1", "Pod", Some("default"), "small").unwrap();
    assert_eq!(small["spec"]["nodeName"], "plain");
    // a second pass binds nothing twice and marks nothing twice
    let again = scheduler.tick().await.unwrap();
    assert!(
        again.bound.is_empty() && again.unschedulable.is_empty(),
        "{again:?}"
    );
}

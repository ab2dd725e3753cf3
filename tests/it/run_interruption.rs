//! `run`'s interruption, garbage-collection, EC2NodeClass-status and hash controllers, and crash
//! convergence, end to end over the API-server double (issue 13 scenarios 3 and 7):
//! - the interruption kinds over the in-memory queue (act, event only, ignore, idempotence);
//! - scenario 3 over moto: an EventBridge spot interruption → the NodeClaim deleted, the spot
//!   offering marked unavailable, the node drained and its instance terminated, the
//!   replacement launched elsewhere, no pod left pending;
//! - scenario 7 over moto: `run` killed right after CreateFleet, before the NodeClaim's status
//!   is written, and restarted → the instance adopted, no duplicate, no orphan, nothing stuck;
//! - garbage collection (orphans past and within the 30 s grace, untagged and foreign
//!   instances, a NodeClaim whose instance vanished);
//! - EC2NodeClass status over moto (resolved fields and conditions, a class that matches
//!   nothing);
//! - interop: NodeClaims stamped by upstream (`nodepool-hash-version: v3`,
//!   `ec2nodeclass-hash-version: v5`, v1.14.1's) are re-stamped, not drifted, not replaced.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use karpenter_api::sh::v1::NodePool;
use karpenter_disruption::drift::{nodeclass_hash_drifted, nodepool_hash_drifted};
use kubectl_karpenter::cloud::aws::provider::launch::{Ec2Fleet, Fleet, FleetRequest, FleetResult};
use kubectl_karpenter::cloud::aws::provider::AwsProvider;
use kubectl_karpenter::cloud::aws::AwsError;
use kubectl_karpenter::cloud::interruption::{InterruptionEvent, InterruptionKind, MessageBody};
use kubectl_karpenter::cloud::provider::{
    CloudProvider, Instance, OfferingKey, SystemClock, NODECLAIM_TAG,
};
use kubectl_karpenter::controllers::gc;
use kubectl_karpenter::controllers::nodeclaim::{node_pool_hash, HASH_VERSION};
use serde_json::{json, Value};

use crate::aws_provider::interruption::{put_event, queue_depth, queue_with_rules, QUEUE};
use crate::aws_provider::world;
use crate::support::run_world::*;

fn names(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn events(w: &World<impl CloudProvider>, reason: &str) -> Vec<Value> {
    w.list("events.k8s.io/v1", "Event")
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

fn instance_of(claim: &Value) -> String {
    claim["status"]["providerID"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

fn spot_pool() -> Value {
    let mut np = node_pool("default", None);
    np["spec"]["template"]["spec"]["requirements"] = json!([
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]},
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m"]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
    ]);
    np
}

fn event(id: &str, kind: InterruptionKind, instance: &str) -> MessageBody {
    MessageBody::Event(InterruptionEvent {
        id: id.into(),
        time: None,
        kind,
        instance_ids: vec![instance.into()],
    })
}

fn deleting(w: &World<impl CloudProvider>, name: &str) -> bool {
    w.list("karpenter.sh/v1", "NodeClaim")
        .iter()
        .find(|c| c["metadata"]["name"] == name)
        .is_none_or(|c| c["metadata"]["deletionTimestamp"].is_string())
}

/// Every kind over the in-memory queue: a rebalance recommendation is an Event only; unknown
/// instances and garbage are dropped; a spot interruption deletes the NodeClaim and marks the
/// spot offering; a duplicate is harmless; every message leaves the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interruption_kinds_act_as_upstream_over_the_in_memory_queue() {
    let w = World::start_with(
        in_memory(),
        REGION,
        vec![node_class(), spot_pool(), pod("web-7d4b9-0", "1")],
        |s| s.interruption_queue = Some("demo".into()),
        true,
    )
    .await;
    w.wait_for("the NodeClaim is initialized", all_initialized)
        .await;
    let claim = w.list("karpenter.sh/v1", "NodeClaim").remove(0);
    let name = claim["metadata"]["name"].as_str().unwrap().to_string();
    let id = instance_of(&claim);
    let q = w.provider.queue().clone();

    q.send(event("e1", InterruptionKind::RebalanceRecommendation, &id));
    q.send(event(
        "e2",
        InterruptionKind::SpotInterruption {
            action: "terminate".into(),
        },
        "i-not-ours",
    ));
    q.send(MessageBody::Unparseable("not json".into()));
    q.send(MessageBody::NoAction("aws.s3 / Object Created".into()));
    w.wait_for("the first four messages are deleted", |_| q.depth() == 0)
        .await;
    assert_eq!(q.deleted(), 4);
    assert!(
        !deleting(&w, &name),
        "a rebalance recommendation only informs"
    );
    let rebalance = events(&w, "SpotRebalanceRecommendation");
    assert!(
        rebalance
            .iter()
            .any(|e| e["regarding"]["name"] == name.as_str()),
        "{rebalance:#?}"
    );
    assert!(
        rebalance
            .iter()
            .any(|e| e["regarding"]["kind"] == "Node" && e["type"] == "Normal"),
        "the Node hears it too: {rebalance:#?}"
    );

    let spot = InterruptionKind::SpotInterruption {
        action: "terminate".into(),
    };
    q.send(event("e3", spot.clone(), &id));
    q.send(event("e4", spot, &id));
    w.wait_for("the interrupted NodeClaim is being deleted", |w| {
        deleting(w, &name)
    })
    .await;
    w.wait_for("both spot messages are deleted", |_| q.depth() == 0)
        .await;
    assert_eq!(q.deleted(), 6, "the duplicate is handled and deleted too");
    let labels = &claim["metadata"]["labels"];
    let key = OfferingKey::new(
        "spot",
        labels["node.kubernetes.io/instance-type"].as_str().unwrap(),
        labels["topology.kubernetes.io/zone"].as_str().unwrap(),
    );
    assert!(
        w.provider.unavailable().is_unavailable(&key),
        "{key} marked unavailable"
    );
    let metrics = w.context().metrics.encode();
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix} in {metrics}"))
    };
    assert_eq!(
        value("karpenter_interruption_received_messages_total{message_type=\"spot_interrupted\"}"),
        3.0
    );
    assert_eq!(value("karpenter_interruption_deleted_messages_total"), 6.0);
    for reason in ["SpotInterrupted", "TerminatingOnInterruption"] {
        let evs = events(&w, reason);
        assert!(
            evs.iter()
                .any(|e| e["regarding"]["name"] == name.as_str() && e["type"] == "Warning"),
            "{reason}: {evs:#?}"
        );
    }
    w.stop();
}

/// Scenario 3 of issue 13 over moto with the AWS provider: a spot interruption warning sent
/// through EventBridge `put_events` reaches the SQS queue; `run` deletes the NodeClaim of that
/// instance, marks its spot offering unavailable, deletes the message, and the replacement is
/// launched on another offering; the node is drained (its pods evicted and re-created pending by
/// their ReplicaSet), its instance terminated, and no pod is left pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_3_a_spot_interruption_over_eventbridge_replaces_the_node() {
    let moto = crate::support::moto::Moto::start();
    let ctx = moto.context().await;
    world::build(&ctx).await;
    let url = queue_with_rules(&ctx).await;
    // no resolve_nodeclass here: the EC2NodeClass status controller resolves it
    let provider = Arc::new(AwsProvider::new(ctx.clone(), world::cluster()));
    let mut class = serde_json::to_value(world::nodeclass()).unwrap();
    class["apiVersion"] = json!("karpenter.k8s.aws/v1");
    class["kind"] = json!("EC2NodeClass");
    let mut objects = vec![class, spot_pool()];
    objects.extend((0..2).map(|i| pod(&format!("web-7d4b9-{i}"), "1")));
    let w = World::start_with(
        provider,
        "us-west-2",
        objects,
        |s| s.interruption_queue = Some(QUEUE.into()),
        true,
    )
    .await;
    w.wait_for("every pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("every NodeClaim is initialized", all_initialized)
        .await;
    let claims = w.list("karpenter.sh/v1", "NodeClaim");
    let victim = claims[0].clone();
    let victim_name = victim["metadata"]["name"].as_str().unwrap().to_string();
    let id = instance_of(&victim);
    let inst = w.provider.get(&id).await.unwrap();
    assert_eq!(inst.capacity_type, "spot", "{inst:?}");

    put_event(
        &ctx,
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        json!({"instance-id": id, "instance-action": "terminate"}),
    )
    .await;
    w.wait_for("the interrupted NodeClaim is being deleted", |w| {
        deleting(w, &victim_name)
    })
    .await;
    let key = OfferingKey::new("spot", &inst.instance_type, &inst.zone);
    assert!(w.provider.unavailable().is_unavailable(&key), "{key}");
    let mut depth = queue_depth(&ctx, &url).await;
    for _ in 0..100 {
        if depth == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        depth = queue_depth(&ctx, &url).await;
    }
    assert_eq!(depth, (0, 0), "the message is deleted once handled");
    assert!(!events(&w, "SpotInterrupted").is_empty());

    // termination drains the node (its pods come back pending through their ReplicaSet) and
    // terminates the instance; the provisioner replaces the capacity
    w.wait_for("the interrupted NodeClaim is gone", |w| {
        !names(&w.list("karpenter.sh/v1", "NodeClaim")).contains(&victim_name)
    })
    .await;
    assert!(
        w.provider.get(&id).await.is_err(),
        "the interrupted instance is terminated"
    );
    w.wait_for("a replacement NodeClaim is initialized", |w| {
        w.list("karpenter.sh/v1", "NodeClaim").iter().any(|c| {
            !names(&claims).contains(&c["metadata"]["name"].as_str().unwrap().to_string())
                && condition(c, "Initialized") == Some("True")
        })
    })
    .await;
    w.wait_for("no pod is left pending", |w| w.unbound().is_empty())
        .await;
    let replacement = w
        .list("karpenter.sh/v1", "NodeClaim")
        .into_iter()
        .find(|c| !names(&claims).contains(&c["metadata"]["name"].as_str().unwrap().to_string()))
        .unwrap();
    let rinst = w.provider.get(&instance_of(&replacement)).await.unwrap();
    assert_ne!(
        (rinst.instance_type.as_str(), rinst.zone.as_str()),
        (inst.instance_type.as_str(), inst.zone.as_str()),
        "the replacement avoids the interrupted spot offering"
    );
    w.stop();
}

/// A CreateFleet seam that launches, records the instance, then never returns (the process
/// "dies" before the NodeClaim's status is written).
struct CrashAfterLaunch {
    inner: Ec2Fleet,
    crash: AtomicBool,
    launched: Mutex<Vec<String>>,
    calls: AtomicUsize,
}

impl Fleet for CrashAfterLaunch {
    async fn create_fleet(&self, req: &FleetRequest) -> Result<FleetResult, AwsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let out = self.inner.create_fleet(req).await?;
        self.launched
            .lock()
            .unwrap()
            .extend(out.instances.iter().map(|i| i.id.clone()));
        if self.crash.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(out)
    }
}

/// Scenario 7 of issue 13: `run` is killed after CreateFleet launched the instance but before
/// the NodeClaim's status recorded it; a fresh `run` over the same cluster and account adopts
/// that instance (found by its `karpenter.sh/nodeclaim` tag): no second launch, no duplicate,
/// no orphan, no NodeClaim stuck without a providerID or with a finalizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_7_killed_mid_launch_and_restarted_converges_without_duplicates() {
    let moto = crate::support::moto::Moto::start();
    let ctx = moto.context().await;
    world::build(&ctx).await;
    let fleet = CrashAfterLaunch {
        inner: Ec2Fleet::new(ctx.ec2()),
        crash: AtomicBool::new(true),
        launched: Mutex::new(Vec::new()),
        calls: AtomicUsize::new(0),
    };
    let first = Arc::new(AwsProvider::with_fleet(
        ctx.clone(),
        world::cluster(),
        fleet,
        Arc::new(SystemClock),
    ));
    let mut class = serde_json::to_value(world::nodeclass()).unwrap();
    class["apiVersion"] = json!("karpenter.k8s.aws/v1");
    class["kind"] = json!("EC2NodeClass");
    let mut objects = vec![class, node_pool("default", None)];
    objects.extend((0..2).map(|i| pod(&format!("web-7d4b9-{i}"), "1")));
    let w = World::start_with(first, "us-west-2", objects, |_| {}, true).await;
    w.wait_for("CreateFleet launched an instance", |w| {
        !w.provider.fleet().launched.lock().unwrap().is_empty()
    })
    .await;
    // let any other in-flight launch reach the seam too, then kill everything
    tokio::time::sleep(Duration::from_millis(500)).await;
    let launched = w.provider.fleet().launched.lock().unwrap().clone();
    let calls_before = w.provider.fleet().calls.load(Ordering::SeqCst);
    let claims = w.list("karpenter.sh/v1", "NodeClaim");
    assert!(
        claims
            .iter()
            .all(|c| c["status"]["providerID"].as_str().is_none_or(str::is_empty)),
        "the crash left no providerID: {claims:#?}"
    );
    assert_eq!(
        launched.len(),
        calls_before,
        "one instance per CreateFleet call"
    );

    let second = Arc::new(AwsProvider::new(ctx.clone(), world::cluster()));
    let w = w.restart(second, "us-west-2", |_| {}, true);
    w.wait_for("every pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for("every NodeClaim is initialized", all_initialized)
        .await;

    let claims = w.list("karpenter.sh/v1", "NodeClaim");
    let instances = w.provider.list().await.unwrap();
    let mut by_claim: BTreeMap<String, Vec<&Instance>> = BTreeMap::new();
    for i in &instances {
        by_claim
            .entry(i.nodeclaim().unwrap_or_default().to_string())
            .or_default()
            .push(i);
    }
    assert!(
        by_claim.values().all(|v| v.len() == 1),
        "no NodeClaim has two instances: {instances:#?}"
    );
    assert_eq!(
        instances.len(),
        claims.len(),
        "one instance per NodeClaim, no orphan"
    );
    for c in &claims {
        let name = c["metadata"]["name"].as_str().unwrap();
        let inst = by_claim[name][0];
        assert_eq!(c["status"]["providerID"], inst.provider_id());
        assert!(c["metadata"]["deletionTimestamp"].is_null());
    }
    for id in &launched {
        assert!(
            instances.iter().any(|i| &i.id == id),
            "the instance launched before the crash ({id}) was adopted, not left behind: {instances:#?}"
        );
    }
    // and GC, run now, finds nothing to collect
    let swept = gc::collect_instances(w.context()).await.unwrap();
    assert!(swept.instances.is_empty(), "{swept:?}");
    w.stop();
}

fn foreign(id: &str, tags: &[(&str, &str)], age: Duration) -> Instance {
    Instance {
        id: id.into(),
        instance_type: "m5.large".into(),
        zone: "us-east-1a".into(),
        capacity_type: "on-demand".into(),
        image_id: None,
        subnet_id: None,
        state: "running".into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        launch_time: Some(Timestamp::now() - SignedDuration::try_from(age).unwrap()),
    }
}

/// A NodeClaim launched, registered and initialized on `inst` (as another controller left it),
/// and its Ready Node.
fn launched(name: &str, inst: &Instance) -> (Value, Value) {
    let now = Timestamp::now().to_string();
    let conds: Vec<Value> = ["Launched", "Registered", "Initialized", "Ready"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "reason": t, "lastTransitionTime": now}))
        .collect();
    let labels = json!({"karpenter.sh/nodepool": "default", "team": "web",
        "karpenter.k8s.aws/ec2nodeclass": "default",
        "node.kubernetes.io/instance-type": inst.instance_type, "topology.kubernetes.io/zone": inst.zone,
        "karpenter.sh/capacity-type": inst.capacity_type, "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux", "karpenter.k8s.aws/instance-category": "m"});
    let node_name = format!("ip-{}", inst.id);
    let claim = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": name, "labels": labels, "finalizers": ["karpenter.sh/termination"]},
        "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                 "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                                   "values": [inst.instance_type]}],
                 "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
                 "expireAfter": "336h", "terminationGracePeriod": "1h"},
        "status": {"providerID": inst.provider_id(), "nodeName": node_name, "conditions": conds}
    });
    let mut node_labels = labels.clone();
    node_labels["karpenter.sh/registered"] = json!("true");
    node_labels["karpenter.sh/initialized"] = json!("true");
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node_name, "labels": node_labels, "finalizers": ["karpenter.sh/termination"]},
        "spec": {"providerID": inst.provider_id(),
                 "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "29"},
                   "capacity": {"cpu": "2", "memory": "7577Mi", "pods": "29"}}
    });
    (claim, node)
}

/// Under `dry_run` the interruption controller and garbage collection decide and log but
/// write nothing: the NodeClaim stays, the offering is not marked, the message stays on the
/// queue, the orphan instance lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_decides_but_deletes_nothing() {
    let provider = in_memory();
    let mut inst = foreign("i-0spot", &OURS, Duration::from_secs(3600));
    inst.capacity_type = "spot".into();
    inst.tags
        .insert(NODECLAIM_TAG.into(), "default-dry01".into());
    provider.insert_instance(inst.clone());
    provider.insert_instance(foreign("i-orphan", &OURS, Duration::from_secs(3600)));
    let (claim, node) = launched("default-dry01", &inst);
    let w = World::start_with(
        provider,
        REGION,
        vec![node_class(), node_pool("default", None), claim, node],
        |s| {
            s.dry_run = true;
            s.interruption_queue = Some("demo".into());
        },
        false,
    )
    .await;
    w.context().state.wait_synced().await;
    let q = w.provider.queue().clone();
    q.send(event(
        "e1",
        InterruptionKind::SpotInterruption {
            action: "terminate".into(),
        },
        "i-0spot",
    ));
    let batch = {
        use kubectl_karpenter::cloud::interruption::InterruptionQueue;
        q.receive().await.unwrap()
    };
    let out =
        kubectl_karpenter::controllers::interruption::handle_batch(w.context(), q.as_ref(), batch)
            .await;
    assert_eq!(out.deleted, ["default-dry01"], "the decision is reported");
    assert_eq!(out.messages_deleted, 0);
    assert_eq!(q.depth(), 1, "the message stays on the queue");
    assert!(!deleting(&w, "default-dry01"));
    assert!(w.provider.unavailable().current().is_empty());
    let swept = gc::collect_instances(w.context()).await.unwrap();
    assert_eq!(swept.instances, ["i-orphan"], "the decision is reported");
    assert!(
        w.provider.get("i-orphan").await.is_ok(),
        "and not carried out"
    );
    w.stop();
}

const OURS: [(&str, &str); 3] = [
    ("eks:eks-cluster-name", "demo"),
    ("karpenter.sh/nodepool", "default"),
    ("karpenter.k8s.aws/ec2nodeclass", "default"),
];

/// Instance GC: an unreferenced instance of ours launched over 30 s ago is terminated (and its
/// Node deleted); one inside the grace, one tagged with a NodeClaim still launching, an
/// untagged one and another cluster's are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_takes_only_what_is_ours_and_past_its_grace() {
    let old = Duration::from_secs(60);
    let p = in_memory();
    let mut orphan = foreign("i-orphan", &OURS, old);
    orphan
        .tags
        .insert(NODECLAIM_TAG.into(), "default-gone1".into());
    p.insert_instance(orphan.clone());
    p.insert_instance(foreign("i-young", &OURS, Duration::from_secs(5)));
    let mut launching = foreign("i-launching", &OURS, old);
    launching
        .tags
        .insert(NODECLAIM_TAG.into(), "default-inflight".into());
    p.insert_instance(launching);
    p.insert_instance(foreign("i-untagged", &[], old));
    p.insert_instance(foreign(
        "i-other-cluster",
        &[
            ("eks:eks-cluster-name", "other"),
            ("karpenter.sh/nodepool", "default"),
            ("karpenter.k8s.aws/ec2nodeclass", "default"),
        ],
        old,
    ));
    let objects = vec![
        node_class(),
        node_pool("default", None),
        // created, not launched yet: its tagged instance is adopted, never collected
        json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": "default-inflight", "labels": {"karpenter.sh/nodepool": "default"},
                         "finalizers": ["karpenter.sh/termination"]},
            "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                     "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.large"]}]}
        }),
        // the orphan's Node
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "i-orphan"},
            "spec": {"providerID": orphan.provider_id()}
        }),
    ];
    let w = World::start_with(p, REGION, objects, |_| {}, true).await;
    w.context().state.wait_synced().await;
    let swept = gc::collect_instances(w.context()).await.unwrap();
    let exists = |id: &str| {
        let p = w.provider.clone();
        let id = id.to_string();
        async move { p.get(&id).await.is_ok() }
    };
    assert!(!exists("i-orphan").await, "{swept:?}");
    for kept in ["i-young", "i-launching", "i-untagged", "i-other-cluster"] {
        assert!(exists(kept).await, "{kept} must not be touched");
    }
    assert!(w.server.get("v1", "Node", None, "i-orphan").is_none());
    let inflight = w
        .list("karpenter.sh/v1", "NodeClaim")
        .into_iter()
        .find(|c| c["metadata"]["name"] == "default-inflight")
        .unwrap();
    if let Some(pid) = inflight["status"]["providerID"].as_str() {
        assert!(
            pid.ends_with("/i-launching"),
            "adopted, not relaunched: {pid}"
        );
    }

    w.stop();
}

/// NodeClaim GC: a registered NodeClaim whose instance the provider no longer lists is kept
/// while its Node is Ready (kubelet still runs), and deleted once the Node is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_nodeclaim_whose_instance_vanished_is_collected_once_its_node_is_not_ready() {
    // the instance is not in the provider at all
    let gone = foreign("i-0vanished", &OURS, Duration::from_secs(3600));
    let (claim, node) = launched("default-vanished", &gone);
    let node_name = node["metadata"]["name"].as_str().unwrap().to_string();
    let w = World::start_with(
        in_memory(),
        REGION,
        vec![node_class(), node_pool("default", None), claim, node],
        |_| {},
        false,
    )
    .await;
    w.context().state.wait_synced().await;
    let swept = gc::collect_nodeclaims(w.context()).await.unwrap();
    assert!(swept.nodeclaims.is_empty(), "the Node is Ready: {swept:?}");
    assert!(!deleting(&w, "default-vanished"));
    w.server.modify("v1", "Node", None, &node_name, |n| {
        n["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    });
    let swept = gc::collect_nodeclaims(w.context()).await.unwrap();
    assert!(
        swept.nodeclaims.is_empty() || swept.nodeclaims == ["default-vanished"],
        "{swept:?}"
    );
    assert!(deleting(&w, "default-vanished"));
    w.stop();
}

/// EC2NodeClass status over moto: the controller resolves the class (no test-side resolve) and
/// writes subnets, security groups, AMIs, instance profile and the five conditions; a class
/// whose subnet selector matches nothing says so and is not Ready. Also the launch-template
/// sweep: only this cluster's templates of a deleted class go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2nodeclass_status_is_resolved_and_written_with_conditions() {
    let moto = crate::support::moto::Moto::start();
    let ctx = moto.context().await;
    let built = world::build(&ctx).await;
    let provider = Arc::new(AwsProvider::new(ctx.clone(), world::cluster()));
    let mut good = serde_json::to_value(world::nodeclass()).unwrap();
    good["apiVersion"] = json!("karpenter.k8s.aws/v1");
    good["kind"] = json!("EC2NodeClass");
    let mut bad = good.clone();
    bad["metadata"] = json!({"name": "nowhere", "uid": "1111-uid"});
    bad["spec"]["subnetSelectorTerms"] = json!([{"tags": {"karpenter.sh/discovery": "nobody"}}]);
    let w = World::start_with(provider, "us-west-2", vec![good, bad], |_| {}, false).await;
    let get = |name: &str| {
        w.list("karpenter.k8s.aws/v1", "EC2NodeClass")
            .into_iter()
            .find(|c| c["metadata"]["name"] == name)
            .unwrap()
    };
    w.wait_for("both classes have a Ready condition", |w| {
        w.list("karpenter.k8s.aws/v1", "EC2NodeClass")
            .iter()
            .all(|c| condition(c, "Ready").is_some())
    })
    .await;
    let g = get("default");
    for c in [
        "SubnetsReady",
        "SecurityGroupsReady",
        "AMIsReady",
        "InstanceProfileReady",
        "Ready",
    ] {
        assert_eq!(condition(&g, c), Some("True"), "{c}: {g:#}");
    }
    let mut subnets: Vec<String> = g["status"]["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    subnets.sort();
    let mut want: Vec<String> = built.subnets.values().cloned().collect();
    want.sort();
    assert_eq!(
        subnets, want,
        "the three tagged subnets, not the untagged one"
    );
    assert_eq!(g["status"]["securityGroups"][0]["id"], built.sg.as_str());
    assert_eq!(g["status"]["securityGroups"].as_array().unwrap().len(), 1);
    assert!(
        g["status"]["amis"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == built.al2023_ami.as_str()),
        "{g:#}"
    );
    assert!(g["status"]["instanceProfile"]
        .as_str()
        .is_some_and(|p| p.starts_with("demo_")));
    // the provider can now list instance types for it (it was resolved by the controller)
    let types = w.provider.instance_types("default").await.unwrap();
    assert!(!types.is_empty());

    let b = get("nowhere");
    assert_eq!(condition(&b, "SubnetsReady"), Some("False"));
    assert_eq!(condition(&b, "Ready"), Some("False"));
    let sr = b["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "SubnetsReady")
        .unwrap();
    assert_eq!(sr["reason"], "SubnetsNotFound");
    assert_eq!(condition(&b, "SecurityGroupsReady"), Some("True"));
    assert!(
        w.provider.instance_types("nowhere").await.is_err(),
        "a class that is not Ready cannot launch"
    );

    // launch templates: only ours, of a class that no longer exists, are collected
    let lt = |name: &str, tags: &[(&str, &str)]| {
        let ec2 = ctx.ec2();
        let name = name.to_string();
        let ami = built.al2023_ami.clone();
        let tags: Vec<aws_sdk_ec2::types::Tag> = tags
            .iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build())
            .collect();
        async move {
            ec2.create_launch_template()
                .launch_template_name(&name)
                .launch_template_data(
                    aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                        .image_id(&ami)
                        .build(),
                )
                .tag_specifications(
                    aws_sdk_ec2::types::TagSpecification::builder()
                        .resource_type(aws_sdk_ec2::types::ResourceType::LaunchTemplate)
                        .set_tags(Some(tags))
                        .build(),
                )
                .send()
                .await
                .expect("create launch template");
        }
    };
    let ours = |class: &'static str| {
        [
            ("eks:eks-cluster-name", "demo"),
            ("karpenter.k8s.aws/ec2nodeclass", class),
            ("kubernetes.io/cluster/demo", "owned"),
        ]
    };
    lt("karpenter.k8s.aws/deleted", &ours("deleted")).await;
    lt("karpenter.k8s.aws/live", &ours("default")).await;
    lt(
        "karpenter.k8s.aws/other-cluster",
        &[
            ("eks:eks-cluster-name", "other"),
            ("karpenter.k8s.aws/ec2nodeclass", "deleted"),
        ],
    )
    .await;
    lt("hand-made", &[("team", "platform")]).await;
    let swept = gc::collect_launch_templates(w.context()).await.unwrap();
    assert_eq!(swept.launch_templates, ["karpenter.k8s.aws/deleted"]);
    let mut left: Vec<String> = ctx
        .ec2()
        .describe_launch_templates()
        .send()
        .await
        .unwrap()
        .launch_templates()
        .iter()
        .filter_map(|t| t.launch_template_name().map(str::to_string))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "hand-made",
            "karpenter.k8s.aws/live",
            "karpenter.k8s.aws/other-cluster"
        ]
    );
    w.stop();
}

/// Interop: a cluster handed over from the in-cluster Karpenter (v1.14: NodePool hash version
/// v3, EC2NodeClass hash version v5). Its NodeClaims are re-stamped with our hash and version,
/// the drift rule finds nothing, and no node is replaced while the disruption controller polls.
/// Changing the NodePool template after that is drift again, and the node is disrupted (the
/// hash is live, not frozen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodeclaims_stamped_by_upstream_are_restamped_not_drifted() {
    let upstream_np = BTreeMap::from([
        ("karpenter.sh/nodepool-hash", "6821555240978131524"),
        ("karpenter.sh/nodepool-hash-version", "v3"),
    ]);
    let upstream_nc = BTreeMap::from([
        ("karpenter.k8s.aws/ec2nodeclass-hash", "1179443637461432217"),
        ("karpenter.k8s.aws/ec2nodeclass-hash-version", "v5"),
    ]);
    let mut pool = node_pool("default", None);
    // only drift could replace the (empty) node: consolidation is off
    pool["spec"]["disruption"] =
        json!({"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never"});
    pool["metadata"]["annotations"] = json!(upstream_np);
    let mut class = node_class();
    class["metadata"]["annotations"] = json!(upstream_nc);
    let mut claim_ann: BTreeMap<&str, &str> = upstream_np.clone();
    claim_ann.extend(upstream_nc.clone());
    claim_ann.insert("example.com/owner", "web");
    let provider = in_memory();
    let inst = foreign(
        "i-0upstream",
        &[
            ("eks:eks-cluster-name", "demo"),
            ("karpenter.sh/nodepool", "default"),
            ("karpenter.k8s.aws/ec2nodeclass", "default"),
            ("karpenter.sh/nodeclaim", "default-up123"),
        ],
        Duration::from_secs(3600),
    );
    provider.insert_instance(inst.clone());
    let (mut claim, node) = launched("default-up123", &inst);
    claim["metadata"]["annotations"] = json!(claim_ann);
    let w = World::start_with(
        provider,
        REGION,
        vec![class, pool, claim, node],
        // the disruption controller polls the engine often: a drifted claim would be replaced
        |s| s.disruption_poll_period = Duration::from_millis(300),
        false,
    )
    .await;
    let read = |w: &World, kind: &str, name: &str| -> Value {
        let av = if kind == "NodePool" || kind == "NodeClaim" {
            "karpenter.sh/v1"
        } else {
            "karpenter.k8s.aws/v1"
        };
        w.list(av, kind)
            .into_iter()
            .find(|o| o["metadata"]["name"] == name)
            .unwrap()
    };
    w.wait_for("the NodeClaim carries our hash version", |w| {
        read(w, "NodeClaim", "default-up123")["metadata"]["annotations"]
            ["karpenter.sh/nodepool-hash-version"]
            == HASH_VERSION
    })
    .await;
    w.wait_for("the NodePool carries our hash version", |w| {
        read(w, "NodePool", "default")["metadata"]["annotations"]
            ["karpenter.sh/nodepool-hash-version"]
            == HASH_VERSION
    })
    .await;
    let ann = |v: &Value| -> BTreeMap<String, String> {
        serde_json::from_value(v["metadata"]["annotations"].clone()).unwrap_or_default()
    };
    let pool_v = read(&w, "NodePool", "default");
    let pool: NodePool = serde_json::from_value(pool_v.clone()).unwrap();
    let c = read(&w, "NodeClaim", "default-up123");
    assert_eq!(
        ann(&c)["karpenter.sh/nodepool-hash"],
        node_pool_hash(&pool),
        "re-stamped with the pool's current hash"
    );
    assert_eq!(
        ann(&pool_v)["karpenter.sh/nodepool-hash"],
        node_pool_hash(&pool)
    );
    assert_eq!(nodepool_hash_drifted(&ann(&pool_v), &ann(&c)), None);
    let class: karpenter_api::aws::v1::EC2NodeClass =
        serde_json::from_value(read(&w, "EC2NodeClass", "default")).unwrap();
    assert_eq!(nodeclass_hash_drifted(&class, &ann(&c)), None);
    assert_eq!(
        ann(&c)["karpenter.k8s.aws/ec2nodeclass-hash-version"],
        "v5",
        "the EC2NodeClass hash is upstream's, untouched"
    );
    // nothing replaced while the disruption controller polls: the same single NodeClaim, not
    // deleting, its instance alive
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        names(&w.list("karpenter.sh/v1", "NodeClaim")),
        ["default-up123"]
    );
    assert!(
        !deleting(&w, "default-up123"),
        "{:#}",
        read(&w, "NodeClaim", "default-up123")
    );
    assert!(w.provider.get(&inst.id).await.is_ok());

    // a real template change after the hand-over is drift again
    w.server
        .modify("karpenter.sh/v1", "NodePool", None, "default", |np| {
            np["spec"]["template"]["metadata"]["labels"]["team"] = json!("api");
        });
    w.wait_for("the NodePool is stamped with the new hash", |w| {
        let p = read(w, "NodePool", "default");
        let pool: NodePool = serde_json::from_value(p.clone()).unwrap();
        ann(&p)["karpenter.sh/nodepool-hash"] == node_pool_hash(&pool)
            && ann(&p)["karpenter.sh/nodepool-hash"] != ann(&c)["karpenter.sh/nodepool-hash"]
    })
    .await;
    assert!(
        nodepool_hash_drifted(&ann(&read(&w, "NodePool", "default")), &ann(&c)).is_some(),
        "same version, different hash: drifted"
    );
    w.wait_for("the drifted NodeClaim is disrupted", |w| {
        deleting(w, "default-up123")
    })
    .await;
    w.stop();
}

/// Under `dry_run` the EC2NodeClass is resolved read-only over moto: instance types can be
/// listed for it, but no instance profile is created and its status is not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2nodeclass_under_dry_run_is_resolved_but_nothing_is_written() {
    let moto = crate::support::moto::Moto::start();
    let ctx = moto.context().await;
    world::build(&ctx).await;
    let provider = Arc::new(AwsProvider::new(ctx.clone(), world::cluster()));
    let mut class = serde_json::to_value(world::nodeclass()).unwrap();
    class["apiVersion"] = json!("karpenter.k8s.aws/v1");
    class["kind"] = json!("EC2NodeClass");
    let w = World::start_with(
        provider,
        "us-west-2",
        vec![class],
        |s| s.dry_run = true,
        false,
    )
    .await;
    let mut types = Vec::new();
    for _ in 0..200 {
        if let Ok(t) = w.provider.instance_types("default").await {
            types = t;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!types.is_empty(), "resolved for listing");
    let profiles = ctx.iam().list_instance_profiles().send().await.unwrap();
    assert!(
        profiles.instance_profiles().is_empty(),
        "no instance profile created: {profiles:?}"
    );
    let c = w.list("karpenter.k8s.aws/v1", "EC2NodeClass").remove(0);
    assert!(
        c["status"].is_null() || c["status"]["conditions"].is_null(),
        "{c:#}"
    );
    w.stop();
}

//! `kubectl karpenter simulate --from-cluster` against the Kubernetes API-server double: the
//! binary reads the cluster through a kubeconfig, and the JSON contract, the pending-pod rule,
//! existing capacity, volume topology, DaemonSet overhead, errors and read-only access are
//! checked.
use std::path::PathBuf;
use std::process::{Command, Output};

use kube_double::{ApiServer, Fault, ResourceDef};
use serde_json::{json, Value};

/// Runs the binary against `server` (kubeconfig in a temp dir; no ambient kubeconfig or region).
fn simulate(server: &ApiServer, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    run_with_kubeconfig(&kc, args)
}

fn run_with_kubeconfig(kc: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .arg("simulate")
        .arg("--from-cluster")
        .arg("--kubeconfig")
        .arg(kc)
        .args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .env_remove("KUBECONFIG")
        .env_remove("AWS_REGION")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn json_out(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn failure(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The documented JSON contract; every pod in `pods` is decided exactly once.
fn check_contract(v: &Value, pods: &[&str]) {
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "nodeClaims",
            "existingNodes",
            "pricePerHour",
            "lowerBoundPricePerHour",
            "pending",
            "solveSeconds"
        ],
        "{v}"
    );
    let mut decided = Vec::new();
    let mut total = 0.0;
    for c in v["nodeClaims"].as_array().unwrap() {
        for k in ["nodePool", "instanceType", "zone", "capacityType"] {
            assert!(c[k].is_string(), "{k}: {c}");
        }
        assert_eq!(c["instanceTypes"][0], c["instanceType"]);
        total += c["pricePerHour"].as_f64().unwrap();
        decided.extend(c["pods"].as_array().unwrap().iter().cloned());
    }
    for (_, ps) in v["existingNodes"].as_object().unwrap() {
        decided.extend(ps.as_array().unwrap().iter().cloned());
    }
    for p in v["pending"].as_array().unwrap() {
        assert!(p["reason"].is_string());
        decided.push(p["pod"].clone());
    }
    let mut decided: Vec<String> = decided
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    decided.sort();
    let mut want: Vec<String> = pods.iter().map(|p| p.to_string()).collect();
    want.sort();
    assert_eq!(decided, want, "{v}");
    let price = v["pricePerHour"].as_f64().unwrap();
    assert!((price - total).abs() < 1e-4);
    assert!(v["lowerBoundPricePerHour"].as_f64().unwrap() <= price + 1e-9);
    assert!(v["solveSeconds"].as_f64().unwrap() >= 0.0);
}

fn claims(v: &Value) -> &Vec<Value> {
    v["nodeClaims"].as_array().unwrap()
}

fn claim_of<'a>(v: &'a Value, pod: &str) -> &'a Value {
    claims(v)
        .iter()
        .find(|c| c["pods"].as_array().unwrap().iter().any(|p| p == pod))
        .unwrap_or_else(|| panic!("{pod} is on no new NodeClaim: {v}"))
}

fn node_pool(api_version: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": "NodePool",
        "metadata": {"name": "default"},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In",
                 "values": ["m5.large", "m5.xlarge", "m5.2xlarge"]},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}
            ]
        }}}
    })
}

fn node_class() -> Value {
    json!({
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        // the fields the CRD schema requires (the API server would reject the class without them)
        "spec": {"amiSelectorTerms": [{"alias": "al2023@latest"}], "role": "KarpenterNodeRole",
                 "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}],
                 "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}]}
    })
}

/// Karpenter's objects: a v1 NodePool and its EC2NodeClass.
fn karpenter(server: &ApiServer) {
    server.seed(node_pool("karpenter.sh/v1"));
    server.seed(node_class());
}

/// A pod the kube-scheduler marked Unschedulable, owned by a ReplicaSet.
fn pending_pod(ns: &str, name: &str, cpu: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f",
                                 "uid": "rs-1", "controller": true}]},
        "spec": {"containers": [{"name": "c", "image": "app",
            "resources": {"requests": {"cpu": cpu, "memory": "512Mi"}}}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/1 nodes are available"}]}
    })
}

/// A Karpenter node (m5.large shape) in `zone`.
fn node(name: &str, zone: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "node.kubernetes.io/instance-type": "m5.large",
            "topology.kubernetes.io/zone": zone,
            "topology.kubernetes.io/region": "us-east-1",
            "karpenter.sh/capacity-type": "on-demand",
            "karpenter.sh/nodepool": "default",
            "karpenter.sh/initialized": "true",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/os": "linux"
        }},
        "spec": {"providerID": format!("aws:///{zone}/i-{name}")},
        "status": {
            "capacity": {"cpu": "2", "memory": "7934Mi", "pods": "29"},
            "allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "29"}
        }
    })
}

/// A running pod bound to `node`.
fn running_pod(ns: &str, name: &str, node: &str, cpu: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "app",
            "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}]},
        "status": {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}]}
    })
}

#[tokio::test]
async fn deployment_pods_pending_in_the_cluster_become_node_claims() {
    let server = ApiServer::start().await;
    karpenter(&server);
    for i in 0..3 {
        server.seed(pending_pod(
            "shop",
            &format!("web-7d9f-{i}"),
            "400m",
            json!({"app": "web"}),
        ));
    }
    // not provisionable: terminal, a DaemonSet's, gated, being bound, another scheduler's
    let mut done = pending_pod("shop", "job-done", "500m", json!({}));
    done["status"]["phase"] = json!("Succeeded");
    let mut daemon = pending_pod("kube-system", "agent-x", "500m", json!({}));
    daemon["metadata"]["ownerReferences"][0]["kind"] = json!("DaemonSet");
    let mut gated = pending_pod("shop", "gated", "500m", json!({}));
    gated["spec"]["schedulingGates"] = json!([{"name": "example.com/wait"}]);
    gated["status"]["conditions"][0]["reason"] = json!("SchedulingGated");
    let mut fargate = pending_pod("shop", "on-fargate", "500m", json!({}));
    fargate["spec"]["schedulerName"] = json!("fargate-scheduler");
    fargate["status"] = json!({"phase": "Pending"});
    // not yet seen by the default scheduler: simulated too
    let mut fresh = pending_pod("shop", "fresh", "400m", json!({}));
    fresh["status"] = json!({"phase": "Pending"});
    server.seed_all(vec![done, daemon, gated, fargate, fresh]);

    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(
        &v,
        &[
            "shop/web-7d9f-0",
            "shop/web-7d9f-1",
            "shop/web-7d9f-2",
            "shop/fresh",
        ],
    );
    assert!(v["pending"].as_array().unwrap().is_empty(), "{v}");
    let c = claim_of(&v, "shop/web-7d9f-0");
    assert_eq!(c["nodePool"], "default");
    assert_eq!(c["instanceType"], "m5.large");
    assert_eq!(c["capacityType"], "on-demand");
    assert!(v["existingNodes"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn an_existing_node_with_room_takes_the_pending_pod() {
    let server = ApiServer::start().await;
    karpenter(&server);
    server.seed(node("ip-10-0-1-1", "us-east-1b"));
    server.seed(running_pod(
        "shop",
        "already",
        "ip-10-0-1-1",
        "500m",
        json!({}),
    ));
    server.seed(pending_pod("shop", "web-1", "1", json!({"app": "web"})));

    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/web-1"]);
    assert!(claims(&v).is_empty(), "{v}");
    assert_eq!(v["existingNodes"]["ip-10-0-1-1"], json!(["shop/web-1"]));

    // the running pod's requests count: 500m + 1500m no longer fits 1930m
    server.seed(pending_pod("shop", "web-2", "1500m", json!({"app": "web"})));
    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/web-1", "shop/web-2"]);
    assert_eq!(v["existingNodes"]["ip-10-0-1-1"], json!(["shop/web-1"]));
    claim_of(&v, "shop/web-2");
}

#[tokio::test]
async fn a_cordoned_node_takes_no_new_pods() {
    let server = ApiServer::start().await;
    karpenter(&server);
    let mut n = node("ip-10-0-1-1", "us-east-1b");
    n["spec"]["unschedulable"] = json!(true);
    server.seed(n);
    server.seed(pending_pod("shop", "web-1", "500m", json!({})));

    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/web-1"]);
    assert!(v["existingNodes"].as_object().unwrap().is_empty(), "{v}");
    claim_of(&v, "shop/web-1");
}

#[tokio::test]
async fn running_pods_count_for_hostname_anti_affinity() {
    let server = ApiServer::start().await;
    karpenter(&server);
    server.seed(node("ip-10-0-1-1", "us-east-1b"));
    server.seed(running_pod(
        "shop",
        "db-0",
        "ip-10-0-1-1",
        "250m",
        json!({"app": "db"}),
    ));
    let mut p = pending_pod("shop", "db-1", "250m", json!({"app": "db"}));
    p["spec"]["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "db"}}}
    ]}});
    server.seed(p);
    // a pod without the anti-affinity still uses the node's room
    server.seed(pending_pod("shop", "web-1", "250m", json!({"app": "web"})));

    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/db-1", "shop/web-1"]);
    assert_eq!(
        v["existingNodes"]["ip-10-0-1-1"],
        json!(["shop/web-1"]),
        "{v}"
    );
    claim_of(&v, "shop/db-1");
}

#[tokio::test]
async fn a_bound_claim_pins_the_zone_and_a_missing_claim_is_pending() {
    let server = ApiServer::start().await;
    karpenter(&server);
    server.seed(json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "pv-data"},
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"},
            "storageClassName": "gp3",
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": ["us-east-1c"]}
            ]}]}}}
    }));
    server.seed(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-db-0", "namespace": "shop",
            "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "volumeName": "pv-data",
            "resources": {"requests": {"storage": "10Gi"}}},
        "status": {"phase": "Bound"}
    }));
    let with_claim = |name: &str, claim: &str| {
        let mut p = pending_pod("shop", name, "500m", json!({}));
        p["spec"]["volumes"] =
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
        p
    };
    server.seed(with_claim("db-0", "data-db-0"));
    server.seed(with_claim("db-9", "data-db-9"));
    server.seed(pending_pod("shop", "free", "500m", json!({})));

    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/db-0", "shop/db-9", "shop/free"]);
    // without the volume the cheapest zone is us-east-1a (see tests/it/simulate_cli.rs)
    assert_eq!(claim_of(&v, "shop/db-0")["zone"], "us-east-1c", "{v}");
    let pending = v["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["pod"], "shop/db-9");
    let reason = pending[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("PersistentVolumeClaim shop/data-db-9")
            && reason.contains("does not exist"),
        "{reason}"
    );
}

#[tokio::test]
async fn daemonset_overhead_is_charged_to_new_node_claims() {
    let server = ApiServer::start().await;
    karpenter(&server);
    server.seed(pending_pod("shop", "big", "1500m", json!({})));
    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/big"]);
    assert_eq!(claim_of(&v, "shop/big")["instanceType"], "m5.large");

    server.seed(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "a", "image": "agent",
                "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}}}]}}}
    }));
    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/big"]);
    // 1500m + 500m daemon > m5.large's 1930m allocatable
    assert_eq!(claim_of(&v, "shop/big")["instanceType"], "m5.xlarge", "{v}");
}

#[tokio::test]
async fn namespace_flag_restricts_pending_pods_only() {
    let server = ApiServer::start().await;
    karpenter(&server);
    server.seed(node("ip-10-0-1-1", "us-east-1b"));
    // a running pod in another namespace still uses the node
    server.seed(running_pod(
        "other",
        "hog",
        "ip-10-0-1-1",
        "1500m",
        json!({}),
    ));
    server.seed(pending_pod("team-a", "a-1", "500m", json!({})));
    server.seed(pending_pod("team-b", "b-1", "500m", json!({})));

    let v = json_out(&simulate(&server, &["-n", "team-a", "-o", "json"]));
    check_contract(&v, &["team-a/a-1"]);
    // 1500m + 500m does not fit 1930m: a new NodeClaim
    claim_of(&v, "team-a/a-1");

    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["team-a/a-1", "team-b/b-1"]);
}

#[tokio::test]
async fn in_flight_node_claims_take_pods_and_deleting_nodes_do_not() {
    let server = ApiServer::start().await;
    karpenter(&server);
    // launched, not registered yet
    server.seed(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": "default-abcde", "labels": {"karpenter.sh/nodepool": "default"}},
        "spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.large"]},
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1d"]},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
            ]
        },
        "status": {"providerID": "aws:///us-east-1d/i-0abc",
            "capacity": {"cpu": "2", "memory": "7934Mi", "pods": "29"},
            "allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "29"}}
    }));
    // a node Karpenter is disrupting (initialized, so tried first if it were usable): no new
    // pods, and its pods are re-planned
    let mut n = node("ip-10-0-9-9", "us-east-1b");
    n["spec"]["taints"] = json!([{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]);
    server.seed(n);
    server.seed(running_pod(
        "shop",
        "evicted-soon",
        "ip-10-0-9-9",
        "250m",
        json!({}),
    ));
    server.seed(pending_pod("shop", "web-1", "500m", json!({})));

    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/web-1", "shop/evicted-soon"]);
    let mut on_claim: Vec<&str> = v["existingNodes"]["default-abcde"]
        .as_array()
        .unwrap_or_else(|| panic!("nothing on the in-flight NodeClaim: {v}"))
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    on_claim.sort();
    assert_eq!(on_claim, ["shop/evicted-soon", "shop/web-1"], "{v}");
    assert!(v["existingNodes"].get("ip-10-0-9-9").is_none(), "{v}");
    assert!(claims(&v).is_empty(), "{v}");
}

#[tokio::test]
async fn simulation_only_reads() {
    let server = ApiServer::start().await;
    karpenter(&server);
    server.seed(node("ip-10-0-1-1", "us-east-1b"));
    server.seed(pending_pod("shop", "web-1", "500m", json!({})));
    server.clear_requests();
    json_out(&simulate(&server, &["-o", "json"]));
    let requests = server.requests();
    assert!(requests.len() >= 10, "{requests:?}");
    for r in &requests {
        assert_eq!(r.method, "GET", "{r:?}");
        assert!(!r.is_write());
    }
    // every resource was listed cluster-wide
    for path in [
        "/apis/karpenter.sh/v1/nodepools",
        "/apis/karpenter.k8s.aws/v1/ec2nodeclasses",
        "/apis/karpenter.sh/v1/nodeclaims",
        "/api/v1/nodes",
        "/api/v1/pods",
        "/apis/apps/v1/daemonsets",
        "/api/v1/persistentvolumeclaims",
        "/api/v1/persistentvolumes",
        "/apis/storage.k8s.io/v1/storageclasses",
        "/apis/policy/v1/poddisruptionbudgets",
    ] {
        assert!(requests.iter().any(|r| r.path == path), "{path} not listed");
    }
}

#[tokio::test]
async fn forbidden_pod_list_names_the_resource_and_verb() {
    let server = ApiServer::start().await;
    karpenter(&server);
    server.inject_fault(Fault::status("GET", "pods", 403, 1));
    let e = failure(&simulate(&server, &["-o", "json"]));
    assert!(
        e.contains("cannot list pods at cluster scope: forbidden") && e.contains("grant"),
        "{e}"
    );
    assert_eq!(e.trim_end().lines().count(), 1, "one paragraph: {e}");
}

#[tokio::test]
async fn cluster_without_karpenter_is_a_clear_error() {
    let server = ApiServer::builder().without_karpenter_crds().build().await;
    let e = failure(&simulate(&server, &[]));
    assert!(
        e.contains("no NodePools found: is Karpenter installed?"),
        "{e}"
    );

    // served, but no NodePool exists
    let server = ApiServer::start().await;
    server.seed(pending_pod("shop", "web-1", "500m", json!({})));
    let e = failure(&simulate(&server, &[]));
    assert!(e.contains("no NodePools found"), "{e}");
}

#[tokio::test]
async fn v1beta1_only_clusters_are_read() {
    let server = ApiServer::builder()
        .without_karpenter_crds()
        .with_resource(ResourceDef::custom(
            "karpenter.sh",
            &["v1beta1"],
            "NodePool",
            "nodepools",
            false,
        ))
        .with_resource(ResourceDef::custom(
            "karpenter.sh",
            &["v1beta1"],
            "NodeClaim",
            "nodeclaims",
            false,
        ))
        .with_resource(ResourceDef::custom(
            "karpenter.k8s.aws",
            &["v1beta1"],
            "EC2NodeClass",
            "ec2nodeclasses",
            false,
        ))
        .build()
        .await;
    server.seed(node_pool("karpenter.sh/v1beta1"));
    server.seed(json!({
        "apiVersion": "karpenter.k8s.aws/v1beta1", "kind": "EC2NodeClass",
        "metadata": {"name": "default"}, "spec": {"amiFamily": "AL2023", "role": "R",
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}]}
    }));
    server.seed(pending_pod("shop", "web-1", "500m", json!({})));
    let v = json_out(&simulate(&server, &["-o", "json"]));
    check_contract(&v, &["shop/web-1"]);
    assert_eq!(claim_of(&v, "shop/web-1")["nodePool"], "default");
}

#[tokio::test]
async fn unreachable_api_server_is_one_paragraph() {
    // a port nothing listens on: bind, note the port, close
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let e = failure(&run_with_kubeconfig(&kc, &[]));
    // kube's client also logs the connect failure; our error is the `error:` paragraph
    let ours: Vec<&str> = e.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(ours.len(), 1, "one paragraph: {e}");
    assert!(
        ours[0].contains("cannot reach the Kubernetes API server")
            && ours[0].contains(&format!("127.0.0.1:{port}"))
            && ours[0].contains("--context"),
        "{e}"
    );
}

#[test]
fn readme_cluster_role_grants_list_on_everything_the_snapshot_reads() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let start = readme
        .find("kind: ClusterRole\nmetadata:\n  name: karpenter-simulate")
        .expect("the README has the simulate ClusterRole");
    let block = &readme[start..];
    let block = &block[..block.find("```").unwrap()];
    let role: Value = serde_saphyr::from_str(block).unwrap();
    let rules = role["rules"].as_array().unwrap();
    for r in kubectl_karpenter::cluster::snapshot::ALL {
        let has = |v: &Value, s: &str| v.as_array().unwrap().iter().any(|x| x == s);
        assert!(
            rules.iter().any(|rule| has(&rule["apiGroups"], r.group)
                && has(&rule["resources"], r.plural)
                && has(&rule["verbs"], "list")),
            "the README's ClusterRole misses list on {}",
            r.qualified()
        );
    }
    // and grants nothing the snapshot does not list
    for rule in rules {
        for g in rule["apiGroups"].as_array().unwrap() {
            for res in rule["resources"].as_array().unwrap() {
                assert!(
                    kubectl_karpenter::cluster::snapshot::ALL
                        .iter()
                        .any(|r| g == r.group && res == r.plural),
                    "the README's ClusterRole grants {g}/{res}, which simulate never lists"
                );
            }
        }
        assert_eq!(rule["verbs"], serde_json::json!(["list"]), "{rule}");
    }
}

#[tokio::test]
async fn rejected_credentials_say_how_to_refresh_them() {
    let server = ApiServer::start().await;
    karpenter(&server);
    server.inject_fault(Fault::status("GET", "nodepools", 401, 1));
    let e = failure(&simulate(&server, &[]));
    assert!(
        e.contains("rejected the credentials (401 Unauthorized)")
            && e.contains("nodepools.karpenter.sh")
            && e.contains("update-kubeconfig"),
        "{e}"
    );
}

#[tokio::test]
async fn large_lists_are_read_page_by_page() {
    let server = ApiServer::start().await;
    karpenter(&server);
    let mut done = Vec::new();
    for i in 0..520 {
        let mut p = pending_pod("batch", &format!("job-{i:04}"), "100m", json!({}));
        p["status"]["phase"] = json!("Succeeded");
        done.push(p);
    }
    server.seed_all(done);
    server.seed(pending_pod("batch", "zz-last", "100m", json!({})));
    server.clear_requests();
    let v = json_out(&simulate(&server, &["-o", "json"]));
    // the one provisionable pod is found after the first page
    check_contract(&v, &["batch/zz-last"]);
    let pod_lists: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/pods")
        .collect();
    assert!(pod_lists.len() >= 2, "{pod_lists:?}");
    assert!(pod_lists
        .iter()
        .any(|r| r.query.as_deref().unwrap_or("").contains("continue=")));
}

#[cfg(unix)]
#[test]
fn failing_credential_plugin_is_one_paragraph() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: /bin/false\n      interactiveMode: Never\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let e = failure(&run_with_kubeconfig(&kc, &[]));
    let ours: Vec<&str> = e.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(ours.len(), 1, "{e}");
    assert!(
        ours[0].contains("cannot get credentials") && ours[0].contains("aws eks update-kubeconfig"),
        "{e}"
    );
}

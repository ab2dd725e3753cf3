//! `kubectl karpenter run --simulate` end to end (the built binary) and through the library:
//! the bundled example settles with every pod bound, a disruption after its scale-down, and the
//! same stream twice; existing
//! Karpenter nodes are adopted; bad input fails before the simulation starts; and the same
//! cluster ends the same through `run --simulate` and through `run`'s harness over moto.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kubectl_karpenter::sim::{self, scenario::Scenario, Input, Options, Record};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(["run", "--simulate"])
        .args(args)
        .current_dir(repo())
        .env_remove("AWS_REGION")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "run --simulate failed: {}",
        stderr(out)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Σ price of the NodeClaims launched and not terminated, from the event stream.
fn surviving_price(events: &[Value]) -> (f64, BTreeMap<String, f64>) {
    let mut alive = BTreeMap::new();
    for e in events {
        let name = e["nodeClaim"].as_str().unwrap_or_default().to_string();
        match e["event"].as_str() {
            Some("launch") => {
                alive.insert(name, e["pricePerHour"].as_f64().unwrap());
            }
            Some("terminate") => {
                alive.remove(&name);
            }
            _ => {}
        }
    }
    (alive.values().sum(), alive)
}

#[test]
fn the_bundled_example_settles_with_every_pod_bound_and_prints_the_same_stream_twice() {
    let first = run_simulate(&["--until-settled", "-o", "json"]);
    let second = run_simulate(&["--until-settled", "-o", "json"]);
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&second.stdout),
        "same seed, same input: same output"
    );
    let records = lines(&first);
    let (summary, events) = records.split_last().expect("at least the summary");
    assert_eq!(summary["event"], "summary", "{summary}");
    assert_eq!(summary["settled"], true, "{summary}");
    assert_eq!(summary["pendingPods"], 0, "{summary}");
    // the scenario ends at 6 replicas of web
    assert_eq!(summary["boundPods"], 6, "{summary}");

    // every event has the contract's fields; times never go backwards
    let mut last_time = String::new();
    for e in events {
        for f in [
            "time",
            "event",
            "nodeClaim",
            "instanceType",
            "reason",
            "pricePerHour",
        ] {
            assert!(e.get(f).is_some(), "{f} missing in {e}");
        }
        let t = e["time"].as_str().unwrap().to_string();
        assert!(t >= last_time, "{t} after {last_time}");
        last_time = t;
    }
    // the scale-up at 2m launches capacity after the first launches
    let launches: Vec<&Value> = events.iter().filter(|e| e["event"] == "launch").collect();
    assert!(launches.len() >= 2, "{events:#?}");
    assert!(launches
        .iter()
        .any(|e| e["time"].as_str().unwrap() >= "2026-01-01T00:02:00Z"));
    // each launched NodeClaim registers and initializes, in that order
    for l in &launches {
        let name = &l["nodeClaim"];
        let order: Vec<&str> = events
            .iter()
            .filter(|e| &e["nodeClaim"] == name)
            .map(|e| e["event"].as_str().unwrap())
            .take(3)
            .collect();
        assert_eq!(order, ["launch", "register", "initialize"], "{name}");
        assert!(l["pricePerHour"].as_f64().unwrap() > 0.0, "{l}");
        assert!(!l["instanceType"].as_str().unwrap().is_empty(), "{l}");
    }
    // the scale-down at 8m leaves capacity idle: the disruption controller disrupts a node (with
    // its reason), which then terminates, and the cluster ends cheaper than at its peak
    let disrupted: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["event"] == "disrupt" && e["time"].as_str().unwrap() >= "2026-01-01T00:08:00Z"
        })
        .collect();
    assert!(
        !disrupted.is_empty(),
        "no disruption after the scale-down: {events:#?}"
    );
    for d in &disrupted {
        assert!(
            ["Empty", "Underutilized"].contains(&d["reason"].as_str().unwrap_or_default()),
            "{d}"
        );
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "terminate" && e["nodeClaim"] == d["nodeClaim"]),
            "{d} never terminated"
        );
    }
    let peak = (1..=events.len())
        .map(|n| surviving_price(&events[..n]).0)
        .fold(0.0, f64::max);
    assert!(
        summary["pricePerHour"].as_f64().unwrap() < peak - 1e-9,
        "{summary} vs peak {peak}"
    );
    // the summary's price is the sum of the surviving nodes' prices
    let (sum, alive) = surviving_price(events);
    assert!(
        (summary["pricePerHour"].as_f64().unwrap() - sum).abs() < 1e-4,
        "summary {summary} vs surviving {alive:?}"
    );
    assert_eq!(summary["nodeClaims"], alive.len(), "{summary}");
}

#[test]
fn the_table_view_ends_with_a_summary() {
    let out = run_simulate(&["--duration", "90s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("TIME") && first.contains("CLUSTER $/H"),
        "{text}"
    );
    assert!(text.contains(" launch "), "{text}");
    let last = text.lines().last().unwrap_or_default();
    // 90 seconds: before the scale-up, 4 pods are bound
    assert!(
        last.starts_with("stopped after 0h01m30s simulated") && last.contains("4 pods bound"),
        "{last}"
    );
}

#[test]
fn an_unknown_kind_fails_before_the_simulation_starts_naming_file_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: example.com/v1\nkind: Frobnicator\nmetadata:\n  name: frob\n",
    );
    let out = run_simulate(&[
        "-f",
        "examples/run-simulate/cluster.yaml",
        "-f",
        &f,
        "-o",
        "json",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing simulated");
    let err = stderr(&out);
    assert!(
        err.contains("bad.yaml") && err.contains("Frobnicator") && err.contains("frob"),
        "{err}"
    );
}

#[test]
fn a_step_naming_a_missing_deployment_fails_naming_the_step_and_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let s = write(
        dir.path(),
        "scenario.yaml",
        "steps:\n  - at: 1m\n    scale: {deployment: web, replicas: 2}\n  - at: 2m\n    scale: {deployment: api, replicas: 3}\n",
    );
    let out = run_simulate(&[
        "-f",
        "examples/run-simulate",
        "--scenario",
        &s,
        "-o",
        "json",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing simulated");
    let err = stderr(&out);
    assert!(
        err.contains(
            "scenario.yaml: steps[1]: scale: Deployment default/api is not in the manifests"
        ) && err.contains("Deployment default/web"),
        "{err}"
    );
}

#[test]
fn a_non_positive_duration_is_a_usage_error() {
    for d in ["0s", "-5m", "soon"] {
        let out = run_simulate(&["--duration", d]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--duration {d}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
        assert!(stderr(&out).contains("--duration"), "{}", stderr(&out));
    }
}

#[test]
fn simulate_flags_need_simulate() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(["run", "--until-settled"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--simulate"), "{}", stderr(&out));
}

const NODE_POOL: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  role: R
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {k: v}}]
  securityGroupSelectorTerms: [{tags: {k: v}}]
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [m]}
  # only empty nodes are consolidated: the adopted node, busy, stays (WhenEmptyOrUnderutilized
  # would rightly replace it by a cheaper type)
  disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 30s}
"#;

const EXISTING_NODE: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: ip-10-0-1-1.ec2.internal
  labels:
    karpenter.sh/nodepool: general
    karpenter.sh/capacity-type: on-demand
    node.kubernetes.io/instance-type: m6i.2xlarge
    topology.kubernetes.io/zone: us-east-1a
    topology.kubernetes.io/region: us-east-1
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: ip-10-0-1-1.ec2.internal
spec:
  providerID: aws:///us-east-1a/i-0000000000000abcd
status:
  capacity: {cpu: "8", memory: 32Gi, pods: "58"}
  allocatable: {cpu: 7910m, memory: 30Gi, pods: "58"}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: default}
spec:
  nodeName: ip-10-0-1-1.ec2.internal
  containers: [{name: db, image: postgres, resources: {requests: {cpu: "2", memory: 4Gi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: api, resources: {requests: {cpu: "1", memory: 1Gi}}}]
"#;

fn simulate_lib(manifests: &[(&str, &str)], scenario: &str, opts: Options) -> Vec<Record> {
    let sources: Vec<(String, String)> = manifests
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let input = Input {
        seed: sim::seed::read(&sources).unwrap(),
        scenario: Scenario::parse("scenario.yaml", scenario).unwrap(),
    };
    input.validate("scenario.yaml").unwrap();
    let mut records = Vec::new();
    sim::run_blocking(input, opts, &mut |r| records.push(r.clone())).unwrap();
    records
}

#[test]
fn an_existing_karpenter_node_is_adopted_and_takes_the_pods_that_fit() {
    let records = simulate_lib(
        &[("pool.yaml", NODE_POOL), ("node.yaml", EXISTING_NODE)],
        "steps: []",
        Options::default(),
    );
    let Some(Record::Summary(s)) = records.last() else {
        panic!("no summary: {records:?}")
    };
    // the adopted node has room for both api pods: nothing is launched
    let launches = records
        .iter()
        .filter(|r| matches!(r, Record::Event(e) if e.event == "launch"))
        .count();
    assert_eq!(launches, 0, "{records:#?}");
    assert!(s.settled, "{s:?}");
    assert_eq!((s.pending_pods, s.bound_pods), (0, 3), "{s:?}");
    assert_eq!((s.nodes, s.node_claims), (1, 1), "{s:?}");
    // its price is the catalog's m6i.2xlarge on-demand price in us-east-1a
    let it = karpenter_scheduling::Catalog::embedded()
        .instance_types("us-east-1", &Default::default())
        .unwrap()
        .into_iter()
        .find(|t| t.name == "m6i.2xlarge")
        .unwrap();
    let price = it
        .offerings
        .iter()
        .find(|o| o.zone == "us-east-1a" && o.capacity_type == "on-demand")
        .unwrap()
        .price;
    assert!((s.price_per_hour - price).abs() < 1e-6, "{s:?} vs {price}");
}

#[test]
fn a_scale_up_past_the_existing_node_launches_and_a_duration_stops_the_run() {
    let opts = Options {
        until_settled: false,
        duration: Some(std::time::Duration::from_secs(10 * 60)),
        ..Options::default()
    };
    let records = simulate_lib(
        &[("pool.yaml", NODE_POOL), ("node.yaml", EXISTING_NODE)],
        "steps:\n- at: 1m\n  scale: {deployment: api, replicas: 12}\n",
        opts,
    );
    let Some(Record::Summary(s)) = records.last() else {
        panic!("no summary: {records:?}")
    };
    assert_eq!(s.simulated_seconds, 600, "{s:?}");
    assert_eq!(s.time, "2026-01-01T00:10:00Z");
    assert_eq!((s.pending_pods, s.bound_pods), (0, 13), "{s:?}");
    let launches: Vec<&sim::Event> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) if e.event == "launch" => Some(e),
            _ => None,
        })
        .collect();
    assert!(!launches.is_empty(), "{records:#?}");
    assert!(launches
        .iter()
        .all(|e| e.time.as_str() >= "2026-01-01T00:01:00Z"));
}

fn events_of(records: &[Record]) -> Vec<&sim::Event> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn an_interrupted_node_claim_drains_and_its_pods_land_elsewhere() {
    let example = [
        (
            "cluster.yaml",
            include_str!("../../examples/run-simulate/cluster.yaml"),
        ),
        (
            "workload.yaml",
            include_str!("../../examples/run-simulate/workload.yaml"),
        ),
    ];
    // the same seed names the same NodeClaims: learn the first one's name from a short run
    let short = Options {
        until_settled: false,
        duration: Some(std::time::Duration::from_secs(60)),
        ..Options::default()
    };
    let first = simulate_lib(&example, "steps: []", short);
    let launched = events_of(&first)
        .into_iter()
        .find(|e| e.event == "launch")
        .map(|e| e.node_claim.clone())
        .expect("a launch in the first minute");

    let scenario = format!("steps:\n- at: 2m\n  interrupt: {{nodeClaim: {launched}}}\n");
    let records = simulate_lib(&example, &scenario, Options::default());
    let events = events_of(&records);
    let at = |kind: &str, claim: &str| {
        events
            .iter()
            .position(|e| e.event == kind && e.node_claim == claim)
    };
    let interrupted = at("interrupt", &launched).expect("the interrupt is reported");
    assert_eq!(events[interrupted].time, "2026-01-01T00:02:00Z");
    assert_eq!(
        events[interrupted].reason.as_deref(),
        Some("SpotInterruption")
    );
    let terminated = at("terminate", &launched).expect("the interrupted NodeClaim terminates");
    assert!(terminated > interrupted);
    // a replacement is launched after the interruption
    assert!(
        events[interrupted..]
            .iter()
            .any(|e| e.event == "launch" && e.node_claim != launched),
        "{events:#?}"
    );
    let Some(Record::Summary(s)) = records.last() else {
        panic!("no summary")
    };
    assert!(s.settled, "{s:?}");
    assert_eq!((s.pending_pods, s.bound_pods), (0, 4), "{s:?}");
}

/// The end state both ways: per NodeClaim, its instance type, zone and capacity type and the
/// pods bound to its Node, sorted.
fn end_state(claims: &[Value], pods: &[Value]) -> Vec<(String, String, String, Vec<String>)> {
    let label = |c: &Value, k: &str| {
        c["metadata"]["labels"][k]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let mut out: Vec<_> = claims
        .iter()
        .map(|c| {
            let node = c["status"]["nodeName"].as_str().unwrap_or("");
            let mut on: Vec<String> = pods
                .iter()
                .filter(|p| !node.is_empty() && p["spec"]["nodeName"] == node)
                .map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string())
                .collect();
            on.sort();
            (
                label(c, "node.kubernetes.io/instance-type"),
                label(c, "topology.kubernetes.io/zone"),
                label(c, "karpenter.sh/capacity-type"),
                on,
            )
        })
        .collect();
    out.sort();
    out
}

/// Three NodePools (on-demand c in us-west-2a, spot m in us-west-2b, on-demand r in
/// us-west-2c) and pods that select each by its template label, so every pod has one place.
fn equivalence_objects() -> Vec<Value> {
    let mut class = serde_json::to_value(crate::aws_provider::world::nodeclass()).unwrap();
    class["apiVersion"] = serde_json::json!("karpenter.k8s.aws/v1");
    class["kind"] = serde_json::json!("EC2NodeClass");
    let pool = |name: &str, capacity: &str, category: &str, zone: &str| {
        serde_json::json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": name},
            "spec": {
                "template": {
                    "metadata": {"labels": {"tier": name}},
                    "spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                        "requirements": [
                            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity]},
                            {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": [category]},
                            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}
                        ]
                    }
                },
                "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "Never"}
            }
        })
    };
    let pod = |name: &str, tier: &str, cpu: &str, memory: &str| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": tier}},
            "spec": {
                "nodeSelector": {"tier": tier},
                "containers": [{"name": "app", "image": "nginx",
                                "resources": {"requests": {"cpu": cpu, "memory": memory}}}]
            }
        })
    };
    vec![
        class,
        pool("web", "on-demand", "c", "us-west-2a"),
        pool("batch", "spot", "m", "us-west-2b"),
        pool("mem", "on-demand", "r", "us-west-2c"),
        pod("web-0", "web", "1", "1Gi"),
        pod("web-1", "web", "1", "1Gi"),
        pod("web-2", "web", "1500m", "2Gi"),
        pod("batch-0", "batch", "2", "6Gi"),
        pod("batch-1", "batch", "1", "2Gi"),
        pod("mem-0", "mem", "1", "12Gi"),
    ]
}

/// Acceptance (issue 14): the controllers are shared. One cluster, run through `run --simulate`
/// (virtual clock, in-process API server, in-memory provider over the embedded catalog) and
/// through `run`'s end-to-end harness (the API-server double over HTTP, the AWS provider over
/// moto with CreateFleet, the simulated kubelet and scheduler, real time), ends with the same
/// NodeClaims (instance type, zone, capacity type) and the same pods on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_simulate_and_the_end_to_end_harness_over_moto_end_the_same() {
    use kubectl_karpenter::cloud::aws::provider::AwsProvider;
    use kubectl_karpenter::cloud::provider::CloudProvider;
    let objects = equivalence_objects();
    let moto = crate::support::moto::Moto::start();
    let ctx = moto.context().await;
    crate::aws_provider::world::build(&ctx).await;
    // the simulation launches from the instance types the AWS provider reads from moto (the
    // embedded catalog prices us-east-1 only; moto's world is us-west-2)
    let probe = AwsProvider::new(ctx.clone(), crate::aws_provider::world::cluster());
    let class = crate::aws_provider::world::nodeclass();
    probe.resolve_node_class(&class, true).await.unwrap();
    let types = probe.instance_types("default").await.unwrap();
    assert!(!types.is_empty());

    let manifest: String = objects
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    let sources = vec![("cluster.yaml".to_string(), manifest)];
    let input = Input {
        seed: sim::seed::read(&sources).unwrap(),
        scenario: Scenario::default(),
    };
    let opts = Options {
        region: "us-west-2".into(),
        instance_types: Some(types),
        ..Options::default()
    };
    // the simulation runs its own paused runtime: off this one
    let (summary, server) =
        std::thread::spawn(move || sim::run_blocking_to_end(input, opts, &mut |_| {}).unwrap())
            .join()
            .unwrap();
    assert!(summary.settled && summary.pending_pods == 0, "{summary:?}");
    let simulated = end_state(
        &server.list("karpenter.sh/v1", "NodeClaim", None),
        &server.list("v1", "Pod", None),
    );
    assert_eq!(simulated.len(), 3, "one node per pool: {simulated:?}");
    assert_eq!(
        simulated.iter().map(|s| s.3.len()).sum::<usize>(),
        6,
        "{simulated:?}"
    );

    let provider = std::sync::Arc::new(AwsProvider::new(
        ctx.clone(),
        crate::aws_provider::world::cluster(),
    ));
    let w =
        crate::support::run_world::World::start_with(provider, "us-west-2", objects, |_| {}, true)
            .await;
    w.wait_for("every pod is bound", |w| w.unbound().is_empty())
        .await;
    w.wait_for(
        "every NodeClaim is initialized",
        crate::support::run_world::all_initialized,
    )
    .await;
    let live = end_state(
        &w.list("karpenter.sh/v1", "NodeClaim"),
        &w.list("v1", "Pod"),
    );
    w.stop();
    assert_eq!(simulated, live, "run --simulate vs run over moto");
}

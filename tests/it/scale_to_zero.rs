//! `kubectl karpenter scale-to-zero` against the Kubernetes API-server double: every API
//! version, limits shapes, static pools, disruption blockers, idempotency, concurrency,
//! error cases, dry run, and the RBAC of the schedule manifests.
use std::collections::BTreeSet;
use std::process::ExitCode;

use clap::Parser;
use kube_double::{ApiServer, Fault, RecordedRequest, ResourceDef};
use kubectl_karpenter::cli::scale_to_zero::{self, execute, ScaleToZeroArgs};
use kubectl_karpenter::cli::{Cli, Command, GlobalArgs};
use kubectl_karpenter::scale::{SavedState, SAVED_STATE_ANNOTATION};
use serde_json::{json, Value};

mod scale_to_zero_support {
    //! Object builders.
    use serde_json::{json, Value};

    pub fn nodepool(version: &str, name: &str, limits: Option<Value>) -> Value {
        let mut obj = json!({
            "apiVersion": format!("karpenter.sh/{version}"),
            "kind": "NodePool",
            "metadata": {"name": name, "labels": {"env": "dev"}},
            "spec": {
                "template": {"spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                    "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}]
                }},
                "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "30s"}
            }
        });
        if let Some(l) = limits {
            obj["spec"]["limits"] = l;
        }
        obj
    }

    pub fn provisioner(name: &str, limits: Option<Value>) -> Value {
        let mut obj = json!({
            "apiVersion": "karpenter.sh/v1alpha5",
            "kind": "Provisioner",
            "metadata": {"name": name},
            "spec": {"providerRef": {"name": "default"}, "ttlSecondsAfterEmpty": 30}
        });
        if let Some(l) = limits {
            obj["spec"]["limits"] = l;
        }
        obj
    }

    /// A NodeClaim (v1/v1beta1) or Machine (v1alpha5) of `pool`, registered as `node`.
    pub fn claim(version: &str, name: &str, pool: &str, node: &str, finalizer: bool) -> Value {
        let (kind, label) = if version == "v1alpha5" {
            ("Machine", "karpenter.sh/provisioner-name")
        } else {
            ("NodeClaim", "karpenter.sh/nodepool")
        };
        let mut obj = json!({
            "apiVersion": format!("karpenter.sh/{version}"),
            "kind": kind,
            "metadata": {"name": name, "labels": {label: pool}},
            "spec": {"nodeClassRef": {"name": "default"}, "requirements": []},
            "status": {"nodeName": node, "providerID": format!("aws:///us-east-1a/i-{name}")}
        });
        if finalizer {
            obj["metadata"]["finalizers"] = json!(["karpenter.sh/termination"]);
        }
        obj
    }

    pub fn node(name: &str, label: &str, pool: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {label: pool}},
            "spec": {"providerID": format!("aws:///us-east-1a/i-{name}")}
        })
    }

    pub fn pod(name: &str, node: &str, labels: Value, annotations: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "apps", "labels": labels, "annotations": annotations},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        })
    }

    pub fn pdb(name: &str, min_available: i64, app: &str) -> Value {
        json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}}
        })
    }
}
use scale_to_zero_support::*;

struct Outcome {
    result: anyhow::Result<ExitCode>,
    out: String,
    err: String,
}

impl Outcome {
    fn ok(&self) -> &Self {
        if let Err(e) = &self.result {
            panic!(
                "command failed: {e:#}\nstdout:\n{}\nstderr:\n{}",
                self.out, self.err
            );
        }
        self
    }

    fn error(&self) -> String {
        match &self.result {
            Ok(_) => panic!(
                "expected an error\nstdout:\n{}\nstderr:\n{}",
                self.out, self.err
            ),
            Err(e) => format!("{e:#}"),
        }
    }
}

fn parse(argv: &[&str]) -> (GlobalArgs, ScaleToZeroArgs) {
    let mut full = vec!["kubectl-karpenter"];
    full.extend_from_slice(argv);
    let cli = Cli::try_parse_from(full).unwrap_or_else(|e| panic!("parsing {argv:?}: {e}"));
    match cli.command {
        Command::ScaleToZero(a) => (cli.global, a),
        Command::ScaleUp(a) => (cli.global, a.into()),
        other => panic!("not scale-to-zero: {other:?}"),
    }
}

/// Run the command as the CLI would, without a terminal (so `--yes` is needed to write).
async fn run(server: &ApiServer, argv: &[&str]) -> Outcome {
    let (global, args) = parse(argv);
    let client = server.client();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut confirm = scale_to_zero::confirmer(global.yes, false);
    let result = execute(&client, &global, &args, &mut out, &mut err, &mut confirm).await;
    Outcome {
        result,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

fn get(server: &ApiServer, api_version: &str, kind: &str, name: &str) -> Value {
    server
        .get(api_version, kind, None, name)
        .unwrap_or_else(|| panic!("{kind} {name} not found"))
}

fn saved(obj: &Value) -> Option<SavedState> {
    let raw = obj
        .pointer("/metadata/annotations")?
        .get(SAVED_STATE_ANNOTATION)?
        .as_str()?;
    Some(SavedState::decode(raw).expect("record decodes"))
}

fn writes(server: &ApiServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .collect()
}

fn names(server: &ApiServer, api_version: &str, kind: &str) -> Vec<String> {
    server
        .list(api_version, kind, None)
        .iter()
        .filter_map(|o| o.pointer("/metadata/name")?.as_str().map(str::to_string))
        .collect()
}

/// The pool's spec with server-set metadata stripped, for exact comparisons.
fn spec(obj: &Value) -> Value {
    obj["spec"].clone()
}

#[tokio::test]
async fn v1_down_then_up_restores_full_partial_empty_and_absent_limits_exactly() {
    let server = ApiServer::start().await;
    let cases = [
        ("full", Some(json!({"cpu": "1000", "memory": "1000Gi"}))),
        ("partial", Some(json!({"cpu": "64"}))),
        ("empty", Some(json!({}))),
        ("unlimited", None),
    ];
    let mut originals = Vec::new();
    for (name, limits) in &cases {
        originals.push(spec(&server.seed(nodepool("v1", name, limits.clone()))));
    }
    server.seed(claim("v1", "full-a", "full", "ip-10-0-0-1", false));
    server.seed(claim("v1", "partial-a", "partial", "ip-10-0-0-2", false));
    server.seed(claim("v1", "other-a", "not-selected", "ip-10-0-0-3", false));

    run(&server, &["scale-to-zero", "--all", "--yes"])
        .await
        .ok();
    for ((name, limits), _) in cases.iter().zip(&originals) {
        let pool = get(&server, "karpenter.sh/v1", "NodePool", name);
        let record = saved(&pool).expect("recorded");
        assert_eq!(
            record.limits,
            limits.clone().unwrap_or(Value::Null),
            "{name}"
        );
        assert_eq!(pool["spec"]["limits"]["cpu"], "0", "{name}");
        assert_eq!(pool["spec"]["limits"]["memory"], "0", "{name}");
    }
    // The selected pools' NodeClaims are gone; the unselected pool's one stays.
    assert_eq!(names(&server, "karpenter.sh/v1", "NodeClaim"), ["other-a"]);

    run(&server, &["scale-up", "--all", "--yes"]).await.ok();
    for ((name, _), original) in cases.iter().zip(&originals) {
        let pool = get(&server, "karpenter.sh/v1", "NodePool", name);
        assert_eq!(&spec(&pool), original, "{name}");
        assert!(saved(&pool).is_none(), "{name}: record removed");
        let annotations = pool
            .pointer("/metadata/annotations")
            .cloned()
            .unwrap_or(json!({}));
        assert!(annotations.get(SAVED_STATE_ANNOTATION).is_none());
    }
}

#[tokio::test]
async fn v1beta1_only_cluster_uses_v1beta1_nodepools_and_nodeclaims() {
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
        .build()
        .await;
    let original = spec(&server.seed(nodepool("v1beta1", "default", Some(json!({"cpu": "100"})))));
    server.seed(claim("v1beta1", "default-x", "default", "ip-1", false));

    let o = run(&server, &["scale-to-zero", "default", "--yes"]).await;
    o.ok();
    assert!(o.out.contains("karpenter.sh/v1beta1"), "{}", o.out);
    let pool = get(&server, "karpenter.sh/v1beta1", "NodePool", "default");
    assert_eq!(pool["spec"]["limits"], json!({"cpu": "0", "memory": "0"}));
    assert!(names(&server, "karpenter.sh/v1beta1", "NodeClaim").is_empty());
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path == "/apis/karpenter.sh/v1/nodepools"),
        "v1 tried first"
    );

    run(&server, &["scale-to-zero", "--restore", "default", "--yes"])
        .await
        .ok();
    assert_eq!(
        spec(&get(&server, "karpenter.sh/v1beta1", "NodePool", "default")),
        original
    );
}

#[tokio::test]
async fn v1alpha5_provisioner_limits_resources_machines_and_machineless_nodes() {
    let server = ApiServer::start().await;
    let original = spec(&server.seed(provisioner(
        "default",
        Some(json!({"resources": {"cpu": "100", "memory": "400Gi"}})),
    )));
    let unlimited = spec(&server.seed(provisioner("batch", None)));
    server.seed(claim("v1alpha5", "default-m1", "default", "ip-1", false));
    server.seed(node("ip-1", "karpenter.sh/provisioner-name", "default"));
    // A node from before Machines existed: deleted directly.
    server.seed(node("ip-2", "karpenter.sh/provisioner-name", "default"));
    server.seed(node("ip-3", "karpenter.sh/provisioner-name", "batch"));
    server.seed(node("mng-1", "eks.amazonaws.com/nodegroup", "system"));

    let o = run(&server, &["scale-to-zero", "default", "batch", "--yes"]).await;
    o.ok();
    let p = get(&server, "karpenter.sh/v1alpha5", "Provisioner", "default");
    assert_eq!(
        p["spec"]["limits"],
        json!({"resources": {"cpu": "0", "memory": "0"}})
    );
    assert_eq!(
        saved(&p).unwrap().limits,
        json!({"resources": {"cpu": "100", "memory": "400Gi"}})
    );
    let b = get(&server, "karpenter.sh/v1alpha5", "Provisioner", "batch");
    assert_eq!(saved(&b).unwrap().limits, Value::Null);
    assert!(names(&server, "karpenter.sh/v1alpha5", "Machine").is_empty());
    // ip-1 goes with its Machine (Karpenter terminates it); the machine-less ones are deleted.
    assert_eq!(names(&server, "v1", "Node"), ["ip-1", "mng-1"]);

    run(
        &server,
        &[
            "scale-to-zero",
            "--restore",
            "--kind",
            "provisioner",
            "--all",
            "--yes",
        ],
    )
    .await
    .ok();
    assert_eq!(
        spec(&get(
            &server,
            "karpenter.sh/v1alpha5",
            "Provisioner",
            "default"
        )),
        original
    );
    assert_eq!(
        spec(&get(
            &server,
            "karpenter.sh/v1alpha5",
            "Provisioner",
            "batch"
        )),
        unlimited
    );
}

#[tokio::test]
async fn static_nodepool_replicas_go_to_zero_and_come_back() {
    let server = ApiServer::start().await;
    let mut pool = nodepool("v1", "static", Some(json!({"nodes": "10"})));
    pool["spec"]["replicas"] = json!(3);
    let original = spec(&server.seed(pool));
    server.seed(claim("v1", "static-a", "static", "ip-1", false));

    let o = run(&server, &["scale-to-zero", "static", "--yes", "-o", "json"]).await;
    o.ok();
    let plan: Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(plan["pools"][0]["currentReplicas"], 3);
    assert_eq!(plan["pools"][0]["newReplicas"], 0);
    let live = get(&server, "karpenter.sh/v1", "NodePool", "static");
    assert_eq!(live["spec"]["replicas"], 0);
    assert_eq!(live["spec"]["limits"], json!({"nodes": "10"}));
    assert_eq!(saved(&live).unwrap().replicas, Some(3));

    run(&server, &["scale-to-zero", "--restore", "static", "--yes"])
        .await
        .ok();
    assert_eq!(
        spec(&get(&server, "karpenter.sh/v1", "NodePool", "static")),
        original
    );
}

#[tokio::test]
async fn do_not_disrupt_pods_and_pdbs_keep_their_nodes_unless_forced() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    for (claim_name, node_name) in [("c1", "n1"), ("c2", "n2"), ("c3", "n3"), ("c4", "n4")] {
        server.seed(claim("v1", claim_name, "general", node_name, false));
        server.seed(node(node_name, "karpenter.sh/nodepool", "general"));
    }
    server.seed(pod(
        "batch",
        "n1",
        json!({"app": "batch"}),
        json!({"karpenter.sh/do-not-disrupt": "true"}),
    ));
    server.seed(pod(
        "legacy",
        "n2",
        json!({"app": "legacy"}),
        json!({"karpenter.sh/do-not-evict": "true"}),
    ));
    // One replica that must stay available: its PDB allows no disruption.
    server.seed(pod("db-0", "n3", json!({"app": "db"}), json!({})));
    server.seed(pdb("db", 1, "db"));
    // Two replicas, one may go: not blocked.
    server.seed(pod("web-0", "n4", json!({"app": "web"}), json!({})));
    server.seed(pod("web-1", "n4", json!({"app": "web"}), json!({})));
    server.seed(pdb("web", 1, "web"));

    let o = run(&server, &["scale-to-zero", "general", "--yes"]).await;
    o.ok();
    assert_eq!(
        names(&server, "karpenter.sh/v1", "NodeClaim"),
        ["c1", "c2", "c3"]
    );
    assert!(
        o.out.contains(
            "blocked: node n1 (kept): pod apps/batch annotated karpenter.sh/do-not-disrupt=true"
        ),
        "{}",
        o.out
    );
    assert!(
        o.out
            .contains("pod apps/legacy annotated karpenter.sh/do-not-evict=true"),
        "{}",
        o.out
    );
    assert!(
        o.out.contains("PDB apps/db allows 0 disruptions"),
        "{}",
        o.out
    );
    assert!(o.err.contains("--force"), "{}", o.err);
    // n4 passes Karpenter's per-node check (web allows 1) but holds both web pods: warned.
    assert!(
        o.err.contains(
            "PDB apps/web allows 1 disruptions but 2 of its pods are on nodes being removed"
        ),
        "{}",
        o.err
    );

    let o = run(&server, &["scale-to-zero", "general", "--yes", "--force"]).await;
    o.ok();
    assert!(
        names(&server, "karpenter.sh/v1", "NodeClaim").is_empty(),
        "{}",
        o.out
    );
    assert!(o.out.contains("removed anyway (--force)"), "{}", o.out);
}

#[tokio::test]
async fn keep_nodes_only_blocks_new_capacity() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(claim("v1", "c1", "general", "n1", false));
    server.clear_requests();
    run(
        &server,
        &["scale-to-zero", "general", "--keep-nodes", "--yes"],
    )
    .await
    .ok();
    assert_eq!(names(&server, "karpenter.sh/v1", "NodeClaim"), ["c1"]);
    assert_eq!(
        get(&server, "karpenter.sh/v1", "NodePool", "general")["spec"]["limits"]["cpu"],
        "0"
    );
    assert!(
        writes(&server).iter().all(|w| w.method == "PUT"),
        "{:?}",
        writes(&server)
    );
    assert!(
        !server.requests().iter().any(|r| r.path.contains("pods")),
        "no pod lookup needed"
    );
}

#[tokio::test]
async fn running_twice_keeps_the_first_record_and_writes_nothing_new() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    // Karpenter's finalizer keeps the NodeClaim until it has drained the node.
    server.seed(claim("v1", "c1", "general", "n1", true));
    run(&server, &["scale-to-zero", "general", "--yes"])
        .await
        .ok();
    let first = get(&server, "karpenter.sh/v1", "NodePool", "general");
    let terminating = get(&server, "karpenter.sh/v1", "NodeClaim", "c1");
    assert!(terminating.pointer("/metadata/deletionTimestamp").is_some());

    server.clear_requests();
    let o = run(&server, &["scale-to-zero", "general", "--yes"]).await;
    o.ok();
    assert!(writes(&server).is_empty(), "{:?}", writes(&server));
    assert!(o.out.contains("already-recorded"), "{}", o.out);
    assert!(o.out.contains("1 already terminating"), "{}", o.out);
    let second = get(&server, "karpenter.sh/v1", "NodePool", "general");
    assert_eq!(first, second);
    assert_eq!(saved(&second).unwrap().limits, json!({"cpu": "100"}));

    // Up twice: the second run warns and changes nothing.
    run(&server, &["scale-to-zero", "--restore", "general", "--yes"])
        .await
        .ok();
    server.clear_requests();
    let o = run(&server, &["scale-to-zero", "--restore", "general", "--yes"]).await;
    o.ok();
    assert!(writes(&server).is_empty());
    assert!(o.err.contains("left alone"), "{}", o.err);
    assert_eq!(
        get(&server, "karpenter.sh/v1", "NodePool", "general")["spec"]["limits"],
        json!({"cpu": "100"})
    );
}

#[tokio::test]
async fn two_concurrent_runs_converge_on_the_original_record() {
    let server = ApiServer::start().await;
    let mut originals = Vec::new();
    for i in 0..4 {
        let name = format!("pool-{i}");
        originals.push(spec(&server.seed(nodepool(
            "v1",
            &name,
            Some(json!({"cpu": format!("{}", 10 * (i + 1))})),
        ))));
        server.seed(claim(
            "v1",
            &format!("{name}-c"),
            &name,
            &format!("n{i}"),
            false,
        ));
    }
    let (a, b) = tokio::join!(
        run(&server, &["scale-to-zero", "--all", "--yes"]),
        run(&server, &["scale-to-zero", "--all", "--yes"])
    );
    a.ok();
    b.ok();
    for (i, original) in originals.iter().enumerate() {
        let pool = get(&server, "karpenter.sh/v1", "NodePool", &format!("pool-{i}"));
        assert_eq!(
            &saved(&pool).unwrap().limits,
            &original["limits"],
            "pool-{i}"
        );
        assert_eq!(pool["spec"]["limits"]["cpu"], "0");
    }
    assert!(names(&server, "karpenter.sh/v1", "NodeClaim").is_empty());
    // The runs really raced: the loser of each pool's write re-read it after a 409.
    let rereads = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/apis/karpenter.sh/v1/nodepools/"))
        .count();
    assert!(rereads >= 1, "expected at least one conflict re-read");

    let (a, b) = tokio::join!(
        run(&server, &["scale-up", "--all", "--yes"]),
        run(&server, &["scale-up", "--all", "--yes"])
    );
    a.ok();
    b.ok();
    for (i, original) in originals.iter().enumerate() {
        assert_eq!(
            &spec(&get(
                &server,
                "karpenter.sh/v1",
                "NodePool",
                &format!("pool-{i}")
            )),
            original
        );
    }
}

#[tokio::test]
async fn conflicts_are_retried_on_a_fresh_read_without_losing_the_record() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.inject_fault(Fault::conflict_on_next_writes("NodePool", 3));
    let o = run(&server, &["scale-to-zero", "general", "--yes"]).await;
    o.ok();
    assert!(o.out.contains("after 3 conflicts"), "{}", o.out);
    let gets = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/apis/karpenter.sh/v1/nodepools/general")
        .count();
    assert_eq!(gets, 3, "one fresh read per conflict");
    assert_eq!(
        saved(&get(&server, "karpenter.sh/v1", "NodePool", "general"))
            .unwrap()
            .limits,
        json!({"cpu": "100"})
    );

    // A writer that never stops conflicting: a clear error naming the pool.
    server.inject_fault(Fault::conflict_on_next_writes("NodePool", 100));
    let o = run(&server, &["scale-to-zero", "--restore", "general", "--yes"]).await;
    let e = o.error();
    assert!(
        e.contains("NodePool general") && e.contains("conflicting"),
        "{e}"
    );
}

#[tokio::test]
async fn dry_run_writes_nothing_and_prints_a_stable_plan() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(claim("v1", "c1", "general", "n1", false));
    server.clear_requests();
    let o = run(
        &server,
        &["scale-to-zero", "general", "--dry-run", "-o", "json"],
    )
    .await;
    o.ok();
    assert!(writes(&server).is_empty(), "{:?}", writes(&server));
    assert!(!server.requests().is_empty());
    let plan: Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(
        plan,
        json!({
            "direction": "down",
            "dryRun": true,
            "pools": [{
                "name": "general",
                "kind": "NodePool",
                "apiVersion": "karpenter.sh/v1",
                "action": "record-and-zero",
                "currentLimits": {"cpu": "100"},
                "newLimits": {"cpu": "0", "memory": "0"},
                "update": true,
                "removals": [{"kind": "NodeClaim", "name": "c1", "node": "n1", "terminating": false, "delete": true}]
            }]
        })
    );
    let yaml = run(
        &server,
        &["scale-to-zero", "general", "--dry-run", "-o", "yaml"],
    )
    .await;
    yaml.ok();
    let parsed: Value = serde_saphyr::from_str(&yaml.out).unwrap();
    assert_eq!(parsed, plan);
    let table = run(&server, &["scale-to-zero", "general", "--dry-run"]).await;
    assert!(
        table.out.contains("nodepool/general") && table.out.contains("cpu=0,memory=0"),
        "{}",
        table.out
    );
    assert!(writes(&server).is_empty());
}

#[tokio::test]
async fn without_a_terminal_and_without_yes_nothing_is_changed() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.clear_requests();
    let o = run(&server, &["scale-to-zero", "general"]).await;
    let e = o.error();
    assert!(e.contains("--yes") && e.contains("not a terminal"), "{e}");
    assert!(writes(&server).is_empty());
}

#[tokio::test]
async fn errors_are_clear_and_change_nothing() {
    // No Karpenter CRDs at all.
    let bare = ApiServer::builder().without_karpenter_crds().build().await;
    let e = run(&bare, &["scale-to-zero", "--all", "--yes"])
        .await
        .error();
    assert!(e.contains("serves no Karpenter pools"), "{e}");
    assert!(writes(&bare).is_empty());

    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(nodepool("v1", "gpu", None));
    server.seed(provisioner("gpu", None));
    let mut bad = nodepool("v1", "broken", None);
    bad["metadata"]["annotations"] = json!({SAVED_STATE_ANNOTATION: "cpu=100"});
    server.seed(bad);
    server.clear_requests();

    let e = run(&server, &["scale-to-zero", "general", "nope", "--yes"])
        .await
        .error();
    assert!(
        e.contains("nope not found") && e.contains("existing:"),
        "{e}"
    );
    let e = run(&server, &["scale-to-zero", "gpu", "--yes"])
        .await
        .error();
    assert!(e.contains("both a NodePool") && e.contains("--kind"), "{e}");
    let e = run(&server, &["scale-to-zero", "-l", "team=none", "--yes"])
        .await
        .error();
    assert!(e.contains("matches no"), "{e}");
    let e = run(&server, &["scale-to-zero", "-l", "team in (a", "--yes"])
        .await
        .error();
    assert!(e.contains("invalid label selector"), "{e}");
    let e = run(&server, &["scale-to-zero", "--yes"]).await.error();
    assert!(e.contains("NAME..., --all, or -l"), "{e}");
    assert!(writes(&server).is_empty(), "{:?}", writes(&server));

    // An unreadable record no longer holds up the other pools: they are scaled down, the bad
    // one is left alone and reported, and the run fails.
    let broken_before = get(&server, "karpenter.sh/v1", "NodePool", "broken");
    let o = run(
        &server,
        &["scale-to-zero", "--all", "--kind", "nodepool", "--yes"],
    )
    .await;
    let e = o.error();
    assert!(
        e.contains("1 pool(s) left alone")
            && e.contains("NodePool broken")
            && e.contains("not readable")
            && e.contains("--restore --limits"),
        "{e}"
    );
    assert!(o.out.contains("refused"), "{}", o.out);
    for name in ["general", "gpu"] {
        assert!(
            saved(&get(&server, "karpenter.sh/v1", "NodePool", name)).is_some(),
            "{name}"
        );
    }
    assert_eq!(
        get(&server, "karpenter.sh/v1", "NodePool", "broken"),
        broken_before
    );
    // Restoring likewise restores the others and reports the bad one.
    let o = run(
        &server,
        &["scale-up", "--all", "--kind", "nodepool", "--yes"],
    )
    .await;
    let e = o.error();
    assert!(e.contains("NodePool broken"), "{e}");
    assert_eq!(
        spec(&get(&server, "karpenter.sh/v1", "NodePool", "general"))["limits"],
        json!({"cpu": "100"})
    );
    assert_eq!(
        get(&server, "karpenter.sh/v1", "NodePool", "broken"),
        broken_before
    );
    // --restore --limits restores the pool without a usable record and drops the bad annotation.
    run(
        &server,
        &[
            "scale-to-zero",
            "--restore",
            "--limits",
            "cpu=200,memory=800Gi",
            "broken",
            "--yes",
        ],
    )
    .await
    .ok();
    let broken = get(&server, "karpenter.sh/v1", "NodePool", "broken");
    assert_eq!(
        spec(&broken)["limits"],
        json!({"cpu": "200", "memory": "800Gi"})
    );
    assert!(broken
        .pointer("/metadata/annotations")
        .is_none_or(|a| a.get(SAVED_STATE_ANNOTATION).is_none()));
}

/// Issue 15: a pool whose limits (or replicas) are already zero and which has no record is not
/// recorded with zero as its "original" (every later restore would put it back to zero): it is
/// left alone and named, the others proceed, the exit is non-zero; `--force` records it anyway.
#[tokio::test]
async fn a_pool_already_at_zero_is_not_recorded_as_zero_unless_forced() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(nodepool(
        "v1",
        "zeroed",
        Some(json!({"cpu": "0", "memory": "0"})),
    ));
    let mut stopped = nodepool("v1", "stopped", None);
    stopped["spec"]["replicas"] = json!(0);
    server.seed(stopped);

    let o = run(&server, &["scale-to-zero", "--all", "--yes"]).await;
    let e = o.error();
    assert!(e.contains("2 pool(s) left alone"), "{e}");
    assert!(
        e.contains("NodePool zeroed: limits cpu=0,memory=0 already zero") && e.contains("--force"),
        "{e}"
    );
    assert!(
        e.contains("NodePool stopped: replicas 0 already zero"),
        "{e}"
    );
    assert!(saved(&get(&server, "karpenter.sh/v1", "NodePool", "general")).is_some());
    for name in ["zeroed", "stopped"] {
        assert!(
            saved(&get(&server, "karpenter.sh/v1", "NodePool", name)).is_none(),
            "{name}"
        );
    }
    // A dry run says the same and exits non-zero too, writing nothing.
    server.clear_requests();
    let o = run(&server, &["scale-to-zero", "zeroed", "--dry-run"]).await;
    assert!(o.error().contains("NodePool zeroed"), "{}", o.out);
    assert!(writes(&server).is_empty());

    run(
        &server,
        &["scale-to-zero", "zeroed", "stopped", "--force", "--yes"],
    )
    .await
    .ok();
    let record = saved(&get(&server, "karpenter.sh/v1", "NodePool", "zeroed")).unwrap();
    assert_eq!(record.limits, json!({"cpu": "0", "memory": "0"}));
    assert_eq!(
        saved(&get(&server, "karpenter.sh/v1", "NodePool", "stopped"))
            .unwrap()
            .replicas,
        Some(0)
    );
    // That zero record is not a usable original: restoring needs --limits.
    let e = run(&server, &["scale-up", "zeroed", "--yes"]).await.error();
    assert!(
        e.contains("record holds limits cpu=0,memory=0") && e.contains("--limits"),
        "{e}"
    );
    run(
        &server,
        &[
            "scale-up",
            "zeroed",
            "--limits",
            "cpu=64,memory=256Gi",
            "--yes",
        ],
    )
    .await
    .ok();
    let zeroed = get(&server, "karpenter.sh/v1", "NodePool", "zeroed");
    assert_eq!(
        spec(&zeroed)["limits"],
        json!({"cpu": "64", "memory": "256Gi"})
    );
    assert!(saved(&zeroed).is_none());
}

/// Issue 15: `--restore --limits` gives a pool without a record real limits; pools with a record
/// get theirs; `--limits` needs `--restore` and valid quantities.
#[tokio::test]
async fn restore_with_limits_brings_back_a_pool_without_a_record() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(nodepool(
        "v1",
        "orphan",
        Some(json!({"cpu": "0", "memory": "0", "nodes": "5"})),
    ));
    server.seed(provisioner(
        "legacy",
        Some(json!({"resources": {"cpu": "0", "memory": "0"}})),
    ));
    run(&server, &["scale-to-zero", "general", "--yes"])
        .await
        .ok();

    // Without --limits the pool without a record is left alone, as before.
    let o = run(&server, &["scale-up", "orphan", "--yes"]).await;
    o.ok();
    assert!(o.err.contains("--limits cpu=…,memory=…"), "{}", o.err);

    let o = run(
        &server,
        &[
            "scale-to-zero",
            "--restore",
            "--limits",
            "cpu=1000,memory=4000Gi",
            "general",
            "orphan",
            "legacy",
            "--yes",
        ],
    )
    .await;
    o.ok();
    assert_eq!(
        spec(&get(&server, "karpenter.sh/v1", "NodePool", "general"))["limits"],
        json!({"cpu": "100"}),
        "the record wins"
    );
    assert!(o.err.contains("restored from its record"), "{}", o.err);
    assert_eq!(
        spec(&get(&server, "karpenter.sh/v1", "NodePool", "orphan"))["limits"],
        json!({"cpu": "1000", "memory": "4000Gi", "nodes": "5"})
    );
    assert_eq!(
        spec(&get(
            &server,
            "karpenter.sh/v1alpha5",
            "Provisioner",
            "legacy"
        ))["limits"],
        json!({"resources": {"cpu": "1000", "memory": "4000Gi"}})
    );
    assert!(
        o.out
            .contains("nodepool/orphan: limits set from --limits to"),
        "{}",
        o.out
    );

    // --limits is for restoring only, and its quantities are checked.
    let mut full = vec![
        "kubectl-karpenter",
        "scale-to-zero",
        "--limits",
        "cpu=1",
        "orphan",
    ];
    assert!(Cli::try_parse_from(&full).is_err());
    full.push("--restore");
    assert!(Cli::try_parse_from(&full).is_ok());
    let e = run(
        &server,
        &["scale-up", "orphan", "--limits", "cpu=-1", "--yes"],
    )
    .await
    .error();
    assert!(e.contains("--limits") && e.contains("negative"), "{e}");
}

/// Issue 15: just before each delete (after the confirmation prompt), the blockers are checked
/// again and the delete carries the planned uid as a precondition: a pod that became
/// do-not-disrupt meanwhile keeps its node, and a NodeClaim re-created under the same name is
/// not deleted in place of the planned one.
#[tokio::test]
async fn deletes_recheck_blockers_after_the_prompt_and_carry_the_planned_uid() {
    let server = std::sync::Arc::new(ApiServer::start().await);
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    for (c, n) in [("c1", "n1"), ("c2", "n2"), ("c3", "n3")] {
        server.seed(claim("v1", c, "general", n, false));
        server.seed(node(n, "karpenter.sh/nodepool", "general"));
    }
    server.seed(pod("web", "n1", json!({"app": "web"}), json!({})));
    let old_c2_uid = get(&server, "karpenter.sh/v1", "NodeClaim", "c2")["metadata"]["uid"].clone();

    let (global, args) = parse(&["scale-to-zero", "general"]);
    let during_prompt = server.clone();
    let mut confirm: scale_to_zero::Confirm = Box::new(move |_plan| {
        // While the user reads the plan: web becomes do-not-disrupt, c2 is replaced.
        during_prompt.seed(pod(
            "batch",
            "n1",
            json!({"app": "batch"}),
            json!({"karpenter.sh/do-not-disrupt": "true"}),
        ));
        during_prompt.delete("karpenter.sh/v1", "NodeClaim", None, "c2");
        during_prompt.seed(claim("v1", "c2", "general", "n2", false));
        Ok(true)
    });
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = execute(
        &server.client(),
        &global,
        &args,
        &mut out,
        &mut err,
        &mut confirm,
    )
    .await;
    let out = String::from_utf8_lossy(&out).into_owned();
    let e = format!(
        "{:#}",
        result.expect_err("the replaced NodeClaim is an error")
    );
    assert!(
        e.contains("NodeClaim c2 was replaced since the plan was read"),
        "{e}"
    );
    assert!(
        out.contains("nodepool/general: kept nodeclaim/c1: pod apps/batch annotated karpenter.sh/do-not-disrupt=true"),
        "{out}"
    );
    assert!(out.contains("deleted nodeclaim/c3"), "{out}");
    assert_eq!(names(&server, "karpenter.sh/v1", "NodeClaim"), ["c1", "c2"]);
    let new_c2 = get(&server, "karpenter.sh/v1", "NodeClaim", "c2");
    assert_ne!(new_c2["metadata"]["uid"], old_c2_uid);
    // Every delete sent names the uid the plan saw.
    let deletes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert!(!deletes.is_empty());
    for d in &deletes {
        let body = d.json().unwrap_or_default();
        assert!(
            body.pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .is_some(),
            "{} {}",
            d.path,
            d.body
        );
    }
}

#[test]
fn clap_rejects_ambiguous_flag_combinations() {
    let parse = |argv: &[&str]| {
        let mut full = vec!["kubectl-karpenter"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full)
    };
    assert!(parse(&["scale-to-zero", "a", "--all"]).is_err());
    assert!(parse(&["scale-to-zero", "--all", "-l", "x=y"]).is_err());
    assert!(parse(&["scale-to-zero", "--all", "--restore", "--keep-nodes"]).is_err());
    assert!(parse(&["scale-to-zero", "--all", "--restore", "--force"]).is_err());
    assert!(parse(&["scale-to-zero", "--all", "--restore", "--dry-run"]).is_ok());
}

// ---- schedule manifests ----

fn schedule(argv: &[&str]) -> anyhow::Result<String> {
    let (global, args) = parse(argv);
    match &args.command {
        Some(scale_to_zero::ScaleToZeroCommand::Schedule(s)) => {
            scale_to_zero::render_schedule(&global, s)
        }
        None => panic!("not schedule"),
    }
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("{e}\n{d}")))
        .collect()
}

/// Deserialize into the k8s-openapi type and back: an unknown or misspelt field would be
/// dropped by the typed round trip and show up as a difference.
fn typed_round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> T {
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(&back, doc, "typed round trip changed the manifest");
    typed
}

const SCHEDULE_ARGS: &[&str] = &[
    "scale-to-zero",
    "schedule",
    "--down",
    "30 22 * * 1-5",
    "--up",
    "0 7 * * 1-5",
    "--time-zone",
    "Europe/Paris",
    "--image",
    "registry.example.com/kubectl-karpenter:v0.1.0",
    "-n",
    "platform",
    "-l",
    "env in (dev, staging)",
    "--exclude",
    "system",
];

#[test]
fn schedule_manifests_golden() {
    let yaml = schedule(SCHEDULE_ARGS).unwrap();
    insta::assert_snapshot!("schedule_manifests", yaml);
}

#[test]
fn schedule_manifests_are_valid_kubernetes_objects() {
    use k8s_openapi::api::batch::v1::CronJob;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let docs = documents(&schedule(SCHEDULE_ARGS).unwrap());
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "CronJob",
            "CronJob"
        ]
    );
    let sa: ServiceAccount = typed_round_trip(&docs[0]);
    assert_eq!(sa.metadata.namespace.as_deref(), Some("platform"));
    let _: ClusterRole = typed_round_trip(&docs[1]);
    let binding: ClusterRoleBinding = typed_round_trip(&docs[2]);
    assert_eq!(binding.role_ref.name, "karpenter-scale-to-zero");
    let subject = &binding.subjects.as_ref().unwrap()[0];
    assert_eq!(
        (subject.name.as_str(), subject.namespace.as_deref()),
        ("karpenter-scale-to-zero", Some("platform"))
    );
    for (doc, direction, schedule) in [
        (&docs[3], "down", "30 22 * * 1-5"),
        (&docs[4], "up", "0 7 * * 1-5"),
    ] {
        let cj: CronJob = typed_round_trip(doc);
        let spec = cj.spec.unwrap();
        assert_eq!(
            cj.metadata.name.as_deref(),
            Some(format!("karpenter-scale-to-zero-{direction}").as_str())
        );
        assert_eq!(spec.schedule, schedule);
        assert_eq!(spec.time_zone.as_deref(), Some("Europe/Paris"));
        assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
        let pod = spec.job_template.spec.unwrap().template.spec.unwrap();
        assert_eq!(
            pod.service_account_name.as_deref(),
            Some("karpenter-scale-to-zero")
        );
        let container = &pod.containers[0];
        assert_eq!(
            container.image.as_deref(),
            Some("registry.example.com/kubectl-karpenter:v0.1.0")
        );
        let args = container.args.clone().unwrap();
        assert!(args.contains(&"--yes".to_string()));
        assert_eq!(args.contains(&"--restore".to_string()), direction == "up");
        // The job's arguments parse as this CLI's own command line, to the same selection.
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (global, parsed) = parse(&argv);
        assert!(global.yes);
        assert_eq!(
            parsed.selection.selector.as_deref(),
            Some("env in (dev, staging)")
        );
        assert_eq!(parsed.selection.exclude, ["system"]);
        assert_eq!(parsed.restore, direction == "up");
    }
}

#[test]
fn schedule_validates_its_inputs() {
    let base = |extra: &[&'static str]| {
        let mut v = vec![
            "scale-to-zero",
            "schedule",
            "--down",
            "30 22 * * 1-5",
            "--up",
            "0 7 * * 1-5",
            "--all",
        ];
        v.extend_from_slice(extra);
        v
    };
    let err = |argv: Vec<&str>| format!("{:#}", schedule(&argv).unwrap_err());
    let e = err(vec![
        "scale-to-zero",
        "schedule",
        "--down",
        "30 22 * *",
        "--up",
        "0 7 * * 1-5",
        "--all",
    ]);
    assert!(e.contains("--down") && e.contains("5"), "{e}");
    let e = err(base(&["--time-zone", "Paris"]));
    assert!(e.contains("IANA"), "{e}");
    let e = err(vec![
        "scale-to-zero",
        "schedule",
        "--down",
        "@daily",
        "--up",
        "@daily",
        "Bad Pool",
    ]);
    assert!(e.contains("not a valid pool name"), "{e}");
    let e = err(vec![
        "scale-to-zero",
        "schedule",
        "--down",
        "30 22 * * 1-5",
        "--up",
        "0 7 * * 1-5",
    ]);
    assert!(e.contains("--all"), "{e}");
    // Defaults: UTC, kube-system, the release image, names passed after `--`.
    let yaml = schedule(&base(&[])).unwrap();
    assert!(yaml.contains("timeZone: \"Etc/UTC\""), "{yaml}");
    assert!(yaml.contains("namespace: kube-system"), "{yaml}");
    assert!(yaml.contains(&format!(
        "ghcr.io/kubectl-karpenter/kubectl-karpenter:v{}",
        env!("CARGO_PKG_VERSION")
    )));
    let named = schedule(&[
        "scale-to-zero",
        "schedule",
        "--down",
        "@daily",
        "--up",
        "0 7 * * *",
        "--keep-nodes",
        "a",
        "b",
    ])
    .unwrap();
    assert!(
        named.contains(r#"args: ["scale-to-zero", "--yes", "--keep-nodes", "--", "a", "b"]"#),
        "{named}"
    );
}

// ---- RBAC: exactly what the command uses ----

/// (apiGroup, resource, verb) of a request the double recorded.
fn rbac_tuple(r: &RecordedRequest) -> (String, String, String) {
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest.to_vec()),
        ["apis", group, _version, rest @ ..] => (group.to_string(), rest.to_vec()),
        _ => panic!("unexpected path {}", r.path),
    };
    let rest = match rest.as_slice() {
        ["namespaces", _ns, tail @ ..] if !tail.is_empty() => tail.to_vec(),
        other => other.to_vec(),
    };
    let named = rest.len() > 1;
    let verb = match (r.method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if r.query.as_deref().is_some_and(|q| q.contains("watch=true")) => "watch",
        ("GET", false) => "list",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("POST", _) => "create",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (m, _) => panic!("unexpected method {m}"),
    };
    (group, rest[0].to_string(), verb.to_string())
}

fn granted(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for res in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    let (g, res, v) = (
                        g.as_str().unwrap(),
                        res.as_str().unwrap(),
                        v.as_str().unwrap(),
                    );
                    assert!(
                        g != "*" && res != "*" && v != "*",
                        "no wildcards in the ClusterRole"
                    );
                    out.insert((g.to_string(), res.to_string(), v.to_string()));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn cluster_role_grants_exactly_the_calls_the_command_makes() {
    let docs = documents(
        &schedule(&[
            "scale-to-zero",
            "schedule",
            "--down",
            "0 22 * * *",
            "--up",
            "0 6 * * *",
            "--all",
        ])
        .unwrap(),
    );
    let role = granted(&docs[1]);

    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(claim("v1", "c1", "general", "n1", false));
    server.seed(node("n1", "karpenter.sh/nodepool", "general"));
    server.seed(pod("p", "n1", json!({"app": "p"}), json!({})));
    server.seed(provisioner("legacy", None));
    server.seed(claim("v1alpha5", "m1", "legacy", "n2", false));
    server.seed(node("n3", "karpenter.sh/provisioner-name", "legacy"));
    server.inject_fault(Fault::conflict_on_next_writes("NodePool", 1));
    server.inject_fault(Fault::conflict_on_next_writes("Provisioner", 1));
    // Without --force: each delete is preceded by a fresh read of its object (and node).
    run(&server, &["scale-to-zero", "--all", "--yes"])
        .await
        .ok();
    run(&server, &["scale-to-zero", "--restore", "--all", "--yes"])
        .await
        .ok();

    let used: BTreeSet<_> = server.requests().iter().map(rbac_tuple).collect();
    let missing: Vec<_> = used.difference(&role).collect();
    assert!(
        missing.is_empty(),
        "calls the ClusterRole does not grant: {missing:?}"
    );
    let unused: Vec<_> = role.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "ClusterRole grants more than the command uses: {unused:?}"
    );
}

// ---- the real binary, through a kubeconfig ----

async fn binary(server: &ApiServer, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let mut argv: Vec<String> = vec!["--kubeconfig".into(), kubeconfig.display().to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
            .args(&argv)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        drop(dir);
        out
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_plans_refuses_without_yes_and_applies_with_yes() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(claim("v1", "c1", "general", "n1", false));

    let out = binary(
        &server,
        &["scale-to-zero", "general", "--dry-run", "-o", "json"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["pools"][0]["action"], "record-and-zero");

    // stdin is not a terminal and there is no --yes: refuse, exit non-zero, write nothing.
    let out = binary(&server, &["scale-to-zero", "general"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(writes(&server).is_empty(), "{:?}", writes(&server));

    let out = binary(&server, &["scale-to-zero", "general", "--yes"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(saved(&get(&server, "karpenter.sh/v1", "NodePool", "general")).is_some());
    let out = binary(&server, &["scale-up", "general", "-y"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        get(&server, "karpenter.sh/v1", "NodePool", "general")["spec"]["limits"],
        json!({"cpu": "100"})
    );

    // No Karpenter CRDs: non-zero exit with the reason.
    let bare = ApiServer::builder().without_karpenter_crds().build().await;
    let out = binary(&bare, &["scale-to-zero", "--all", "--yes"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("serves no Karpenter pools"));
}

// ---- property: any down/up sequence, through the real client and server ----

mod sequences {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(json!({}))),
            Just(Some(json!({"cpu": "10"}))),
            Just(Some(json!({"cpu": "10", "memory": "20Gi", "nodes": "5"}))),
            Just(Some(json!({"memory": "1Ti", "nvidia.com/gpu": "4"}))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn any_down_up_sequence_ends_with_the_original_pool(
            version in prop_oneof![Just("v1"), Just("v1beta1"), Just("v1alpha5")],
            limits in limits(),
            static_replicas in prop::option::of(0i64..5),
            ops in prop::collection::vec(any::<bool>(), 0..6),
        ) {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let server = ApiServer::start().await;
                let (api_version, kind) = if version == "v1alpha5" {
                    ("karpenter.sh/v1alpha5", "Provisioner")
                } else {
                    (if version == "v1" { "karpenter.sh/v1" } else { "karpenter.sh/v1beta1" }, "NodePool")
                };
                let obj = if version == "v1alpha5" {
                    provisioner("p", limits.map(|l| json!({"resources": l})))
                } else {
                    let mut np = nodepool(version, "p", limits);
                    if let (Some(n), "v1") = (static_replicas, version) {
                        np["spec"]["replicas"] = json!(n);
                    }
                    np
                };
                let original = spec(&server.seed(obj));
                // A static pool at replicas 0 is never recorded as zero (issue 15): refused.
                let zero_original = version == "v1" && static_replicas == Some(0);
                for down in &ops {
                    let argv: &[&str] = if *down {
                        &["scale-to-zero", "p", "--yes"]
                    } else {
                        &["scale-up", "p", "--yes"]
                    };
                    let outcome = run(&server, argv).await;
                    if *down && zero_original {
                        assert!(outcome.error().contains("replicas 0 already zero"));
                    } else {
                        outcome.ok();
                    }
                    let live = get(&server, api_version, kind, "p");
                    assert_eq!(
                        saved(&live).is_some(),
                        *down && !zero_original,
                        "record present exactly while down"
                    );
                }
                run(&server, &["scale-up", "p", "--yes"]).await.ok();
                let live = get(&server, api_version, kind, "p");
                assert_eq!(spec(&live), original);
                assert!(saved(&live).is_none());
            });
        }
    }
}

#[tokio::test]
async fn api_failures_name_the_call_and_hint_at_rbac() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.inject_fault(Fault::status("GET", "nodepools", 403, 1));
    let e = run(&server, &["scale-to-zero", "--all", "--yes"])
        .await
        .error();
    assert!(e.starts_with("listing karpenter.sh/v1 nodepools: "), "{e}");
    assert!(
        e.contains("HTTP 403") && e.contains("RBAC permission"),
        "{e}"
    );
    assert!(writes(&server).is_empty());

    // A failed pool write stops that pool's deletions.
    server.seed(claim("v1", "c1", "general", "n1", false));
    server.inject_fault(Fault::status("PUT", "nodepools", 500, 1));
    let e = run(&server, &["scale-to-zero", "--all", "--yes"])
        .await
        .error();
    assert!(
        e.contains("updating NodePool general") && e.contains("HTTP 500"),
        "{e}"
    );
    assert_eq!(names(&server, "karpenter.sh/v1", "NodeClaim"), ["c1"]);
    assert_eq!(e.matches("injected fault").count(), 1, "reported once: {e}");
}

#[tokio::test]
async fn a_failed_pool_does_not_hide_what_was_done_to_the_others() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "analytics", Some(json!({"cpu": "10"}))));
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(claim("v1", "c1", "general", "n1", false));
    server.seed(node("n1", "karpenter.sh/nodepool", "general"));
    // The first pool write (analytics, in plan order) is refused; general goes through.
    server.inject_fault(Fault::status("PUT", "nodepools", 403, 1));
    let outcome = run(&server, &["scale-to-zero", "--all", "--yes"]).await;
    let e = outcome.error();
    assert!(
        e.contains("updating NodePool analytics") && e.contains("HTTP 403"),
        "{e}"
    );
    assert!(saved(&get(&server, "karpenter.sh/v1", "NodePool", "analytics")).is_none());
    assert_eq!(
        saved(&get(&server, "karpenter.sh/v1", "NodePool", "general"))
            .unwrap()
            .limits,
        json!({"cpu": "100"})
    );
    assert!(names(&server, "karpenter.sh/v1", "NodeClaim").is_empty());
    // The changes that were made are reported, not swallowed by the error.
    assert!(
        outcome
            .out
            .contains("nodepool/general: limits set to cpu=0,memory=0"),
        "{}",
        outcome.out
    );
    assert!(
        outcome
            .out
            .contains("nodepool/general: deleted nodeclaim/c1"),
        "{}",
        outcome.out
    );
    assert!(
        !outcome.out.contains("nodepool/analytics: limits set"),
        "{}",
        outcome.out
    );
}

#[tokio::test]
async fn a_blank_selector_is_refused_rather_than_selecting_every_pool() {
    // `-l "$POOLS"` with an unset variable must not zero every pool in the cluster.
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.seed(nodepool("v1", "prod", Some(json!({"cpu": "500"}))));
    for blank in ["", "  "] {
        let e = run(&server, &["scale-to-zero", "-l", blank, "--yes"])
            .await
            .error();
        assert!(e.contains("empty") && e.contains("--all"), "{e}");
        let e = run(&server, &["scale-up", "-l", blank, "--yes"])
            .await
            .error();
        assert!(e.contains("empty") && e.contains("--all"), "{e}");
        let e = format!(
            "{:#}",
            schedule(&[
                "scale-to-zero",
                "schedule",
                "--down",
                "30 22 * * 1-5",
                "--up",
                "0 7 * * 1-5",
                "-l",
                blank,
            ])
            .unwrap_err()
        );
        assert!(e.contains("empty") && e.contains("--all"), "{e}");
    }
    assert!(writes(&server).is_empty(), "{:?}", writes(&server));
    assert!(saved(&get(&server, "karpenter.sh/v1", "NodePool", "prod")).is_none());
}

#[tokio::test]
async fn writes_pass_the_upstream_crd_schemas_and_cel_rules() {
    // Pools created over HTTP get the CRD defaults, as on a real cluster; every write the
    // command makes is validated against the upstream schema (incl. the static-pool CEL rules).
    let server = ApiServer::builder()
        .with_karpenter_schema_validation()
        .build()
        .await;
    let ar = server.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let pools: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(server.client(), &ar);
    let mut static_pool = nodepool("v1", "static", Some(json!({"nodes": "10"})));
    static_pool["spec"]["replicas"] = json!(2);
    static_pool["spec"]
        .as_object_mut()
        .unwrap()
        .remove("disruption");
    let mut originals = Vec::new();
    for obj in [
        nodepool(
            "v1",
            "general",
            Some(json!({"cpu": 1000, "memory": "1000Gi"})),
        ),
        nodepool("v1", "unlimited", None),
        static_pool,
    ] {
        let created = pools
            .create(
                &kube::api::PostParams::default(),
                &serde_json::from_value(obj).unwrap(),
            )
            .await
            .unwrap_or_else(|e| panic!("seeding: {e}"));
        originals.push(spec(&serde_json::to_value(created).unwrap()));
    }
    run(&server, &["scale-to-zero", "--all", "--yes"])
        .await
        .ok();
    assert_eq!(
        get(&server, "karpenter.sh/v1", "NodePool", "general")["spec"]["limits"],
        json!({"cpu": "0", "memory": "0"})
    );
    assert_eq!(
        get(&server, "karpenter.sh/v1", "NodePool", "static")["spec"]["replicas"],
        0
    );
    run(&server, &["scale-up", "--all", "--yes"]).await.ok();
    for (name, original) in ["general", "unlimited", "static"].iter().zip(&originals) {
        assert_eq!(
            &spec(&get(&server, "karpenter.sh/v1", "NodePool", name)),
            original,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_mistakes_exit_2_like_other_usage_errors() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    for args in [
        &["scale-to-zero", "--yes"][..],
        &["scale-to-zero", "-l", "", "--yes"][..],
        &[
            "scale-to-zero",
            "schedule",
            "--down",
            "0 1 * * *",
            "--up",
            "0 2 * * *",
        ][..],
    ] {
        let out = binary(&server, args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--all"), "{args:?}: {stderr}");
    }
    // A selection that is well-formed but finds nothing is not a usage error.
    let out = binary(&server, &["scale-to-zero", "nope", "--yes"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(writes(&server).is_empty());
}

#[tokio::test]
async fn limits_changed_by_hand_while_scaled_down_are_called_out_before_they_are_replaced() {
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "1000"}))));
    server.seed(nodepool("v1", "quiet", Some(json!({"cpu": "8"}))));
    run(&server, &["scale-to-zero", "--all", "--yes"])
        .await
        .ok();
    // Overnight someone raises general's limits by hand (an emergency), keeping the record.
    server
        .modify("karpenter.sh/v1", "NodePool", None, "general", |p| {
            p["spec"]["limits"] = json!({"cpu": "2000"});
        })
        .unwrap();

    let down = run(&server, &["scale-to-zero", "--all", "--dry-run"]).await;
    down.ok();
    assert!(
        down.err.contains("NodePool general")
            && down.err.contains("changed since it was scaled down")
            && down.err.contains("cpu=2000")
            && down.err.contains("cpu=1000"),
        "{}",
        down.err
    );
    assert!(!down.err.contains("NodePool quiet"), "{}", down.err);

    let up = run(&server, &["scale-up", "--all", "--dry-run"]).await;
    up.ok();
    assert!(
        up.err.contains("NodePool general")
            && up.err.contains("changed since it was scaled down")
            && up.err.contains("cpu=2000"),
        "{}",
        up.err
    );
    assert!(!up.err.contains("NodePool quiet"), "{}", up.err);
}

#[tokio::test]
async fn kind_nodepool_does_not_read_provisioners() {
    // A v1-only identity (no access to leftover v1alpha5 CRDs) can still use --kind nodepool.
    let server = ApiServer::start().await;
    server.seed(nodepool("v1", "general", Some(json!({"cpu": "100"}))));
    server.inject_fault(Fault::status("GET", "provisioners", 403, 10));
    run(
        &server,
        &["scale-to-zero", "--all", "--kind", "nodepool", "--yes"],
    )
    .await
    .ok();
    assert!(saved(&get(&server, "karpenter.sh/v1", "NodePool", "general")).is_some());
    assert!(!server
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/provisioners")));
}

#[tokio::test]
async fn kind_of_an_unserved_pool_kind_names_that_kind() {
    let server = ApiServer::builder()
        .without_karpenter_crds()
        .with_resource(ResourceDef::custom(
            "karpenter.sh",
            &["v1"],
            "NodePool",
            "nodepools",
            false,
        ))
        .build()
        .await;
    server.seed(nodepool("v1", "general", None));
    let e = run(
        &server,
        &["scale-to-zero", "--all", "--kind", "provisioner", "--yes"],
    )
    .await
    .error();
    assert!(
        e.contains("no karpenter.sh/v1alpha5 provisioners") && e.contains("--kind"),
        "{e}"
    );
    assert!(writes(&server).is_empty());
}

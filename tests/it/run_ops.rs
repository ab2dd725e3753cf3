//! `run` as an operator (issue 13): the Lease, graceful shutdown, `--dry-run`, metrics and
//! probes, the in-cluster RBAC, and the real binary over moto and the API-server double.
//!
//! In-process tests drive [`Operator`] (what the binary runs) over the double with the
//! in-memory provider and the simulated kubelet and kube-scheduler; each operator's client
//! sends its own User-Agent, so the double's request log tells who made which call.
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_double::{ApiServer, Fault, RecordedRequest};
use kubectl_karpenter::cloud::provider::{CloudProvider, InMemoryProvider, OfferingKey};
use kubectl_karpenter::controllers::clock::TokioClock;
use kubectl_karpenter::controllers::http::{self, Probes, Readiness};
use kubectl_karpenter::controllers::leader::LeaseConfig;
use kubectl_karpenter::controllers::metrics::{sample, Metrics};
use kubectl_karpenter::controllers::operator::{running_karpenter, Operator, RunOptions};
use kubectl_karpenter::controllers::sim::kubelet::Kubelet;
use kubectl_karpenter::controllers::sim::replicaset::ReplicaSets;
use kubectl_karpenter::controllers::sim::scheduler::Scheduler;
use kubectl_karpenter::controllers::{Clock, Settings};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::run_world::*;

const LEASE: &str = "karpenter-leader-election";

/// Fast Lease timings for tests (the defaults are 15 s / 10 s / 2 s).
fn lease(identity: &str) -> LeaseConfig {
    let mut l = LeaseConfig::new(LEASE, "kube-system", identity);
    l.lease_duration = Duration::from_secs(4);
    l.renew_deadline = Duration::from_secs(3);
    l.retry_period = Duration::from_millis(200);
    l
}

fn settings(dry_run: bool) -> Settings {
    let mut s = Settings::new(REGION);
    s.batch_idle_duration = Duration::from_millis(200);
    s.batch_max_duration = Duration::from_secs(2);
    s.dry_run = dry_run;
    // disruption acts only where a test asks for it (as in run_world)
    s.disruption_poll_period = Duration::from_secs(3600);
    s.disruption_validation_delay = Duration::from_millis(300);
    s.min_drain_time = Duration::from_millis(200);
    s
}

/// One running operator (one `run`).
struct Running {
    ua: String,
    metrics: Arc<Metrics>,
    probes: Arc<Probes>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
    server_task: JoinHandle<()>,
}

impl Running {
    async fn start(
        server: &ApiServer,
        provider: Arc<dyn CloudProvider>,
        ua: &str,
        settings: Settings,
        lease: Option<LeaseConfig>,
    ) -> Running {
        let metrics = Arc::new(Metrics::new("memory"));
        let probes = Arc::new(Probes::default());
        let listener = http::bind("127.0.0.1:0".parse().unwrap(), "test")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server_task = http::serve(listener, metrics.clone(), probes.clone());
        let op = Operator {
            client: server.client_with_user_agent(ua),
            provider,
            clock: Arc::new(TokioClock::default()),
            metrics: metrics.clone(),
            probes: probes.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let opts = RunOptions {
            settings,
            lease,
            shutdown_grace: Duration::from_secs(10),
            refresher: None,
        };
        let handle = tokio::spawn(async move {
            op.run(opts, async move {
                let _ = stopped.await;
            })
            .await
        });
        Running {
            ua: ua.to_string(),
            metrics,
            probes,
            addr,
            stop: Some(stop),
            handle,
            server_task,
        }
    }

    /// SIGTERM, in-process: stop and wait for the operator to return.
    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.handle)
            .await
            .expect("the operator returns within the grace period")
            .unwrap();
        self.server_task.abort();
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sample(&self.metrics.encode(), name, labels).unwrap_or(0.0)
    }

    fn requests(&self, server: &ApiServer) -> Vec<RecordedRequest> {
        server
            .requests()
            .into_iter()
            .filter(|r| r.user_agent == self.ua)
            .collect()
    }
}

/// The double, the simulated kubelet and kube-scheduler (no controllers: the tests add
/// operators).
async fn cluster(objects: Vec<Value>) -> (ApiServer, Arc<InMemoryProvider>, Vec<JoinHandle<()>>) {
    let (server, provider, tasks, _) = cluster_with_replica_sets(objects).await;
    (server, provider, tasks)
}

/// [`cluster`] with the simulated ReplicaSet controller (evicted pods come back pending).
async fn cluster_with_replica_sets(
    objects: Vec<Value>,
) -> (
    ApiServer,
    Arc<InMemoryProvider>,
    Vec<JoinHandle<()>>,
    Arc<ReplicaSets>,
) {
    let server = ApiServer::start().await;
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    server.seed_all(objects);
    let provider = in_memory();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::default());
    let mut kubelet = Kubelet::new(
        server.client(),
        provider.clone(),
        clock.clone(),
        Duration::from_millis(300),
    );
    kubelet.poll = Duration::from_millis(100);
    let mut replica_sets = ReplicaSets::new(server.client(), clock.clone());
    replica_sets.poll = Duration::from_millis(100);
    let replica_sets = Arc::new(replica_sets);
    let mut scheduler = Scheduler::new(server.client(), clock);
    scheduler.poll = Duration::from_millis(100);
    let tasks = vec![
        tokio::spawn(Arc::new(scheduler).run()),
        tokio::spawn(Arc::new(kubelet).run()),
        tokio::spawn(replica_sets.clone().run()),
    ];
    (server, provider, tasks, replica_sets)
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out after {timeout:?} waiting until {what}");
}

fn unbound(server: &ApiServer) -> Vec<String> {
    server
        .list("v1", "Pod", None)
        .into_iter()
        .filter(|p| {
            p.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn initialized(server: &ApiServer) -> bool {
    let claims = server.list("karpenter.sh/v1", "NodeClaim", None);
    !claims.is_empty()
        && claims
            .iter()
            .all(|c| condition(c, "Initialized") == Some("True"))
}

fn lease_holder(server: &ApiServer) -> Option<String> {
    server
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("kube-system"),
            LEASE,
        )
        .and_then(|l| l.pointer("/spec/holderIdentity").cloned())
        .and_then(|h| h.as_str().map(str::to_string))
        .filter(|h| !h.is_empty())
}

fn scenario_1(pods: usize) -> Vec<Value> {
    let mut objects = vec![node_class(), node_pool("default", None)];
    objects.extend((0..pods).map(|i| pod(&format!("web-7d4b9-{i}"), "1")));
    objects
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).await.unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A pod of ReplicaSet `rs`.
fn rs_pod(rs: &str, i: usize, cpu: &str) -> Value {
    let mut p = pod(&format!("{rs}-{i}"), cpu);
    p["metadata"]["labels"] = json!({"app": rs});
    p["metadata"]["ownerReferences"][0]["name"] = json!(rs);
    p["metadata"]["ownerReferences"][0]["uid"] = json!(format!("{rs}-uid"));
    p
}

fn nodeclaim_creates(reqs: &[RecordedRequest]) -> usize {
    reqs.iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/nodeclaims"))
        .count()
}

/// Scenario 1 with `/metrics` and `/readyz`: readiness is 503 while the caches have not
/// synced (the PersistentVolume list fails a few times first), then 200; the lifecycle
/// counters move with the NodeClaims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_in_scenario_1_and_readyz_waits_for_the_caches() {
    let (server, provider, tasks) = cluster(scenario_1(6)).await;
    server.inject_fault(Fault::status("GET", "PersistentVolume", 500, 3));
    let op = Running::start(
        &server,
        provider.clone(),
        "run-a",
        settings(false),
        Some(lease("run-a")),
    )
    .await;
    // leading but not synced: 503 with the reason
    let mut saw_unsynced = false;
    wait_until(
        "the caches sync and /readyz is 200",
        Duration::from_secs(60),
        || {
            if op.probes.get() == Readiness::NotReady("cluster state not synced".into()) {
                saw_unsynced = true;
            }
            op.probes.get() == Readiness::Ready
        },
    )
    .await;
    assert!(
        saw_unsynced,
        "/readyz reported unsynced caches before it turned ready"
    );
    assert_eq!(get(op.addr, "/readyz").await, (200, "ok\n".to_string()));
    assert_eq!(get(op.addr, "/healthz").await.0, 200);

    wait_until("every pod is bound", Duration::from_secs(60), || {
        unbound(&server).is_empty()
    })
    .await;
    wait_until(
        "every NodeClaim is initialized",
        Duration::from_secs(60),
        || initialized(&server),
    )
    .await;
    let claims = server.list("karpenter.sh/v1", "NodeClaim", None).len() as f64;
    let (status, text) = get(op.addr, "/metrics").await;
    assert_eq!(status, 200);
    let m = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels).unwrap_or(0.0);
    assert_eq!(
        m(
            "karpenter_nodeclaims_created_total",
            &[("reason", "provisioned"), ("nodepool", "default")]
        ),
        claims,
        "{text}"
    );
    for c in ["launched", "registered", "initialized"] {
        assert_eq!(
            m(
                &format!("karpenter_nodeclaims_{c}_total"),
                &[("nodepool", "default")]
            ),
            claims,
            "{c}: {text}"
        );
    }
    assert!(
        m(
            "karpenter_scheduler_scheduling_duration_seconds_count",
            &[("controller", "provisioner")]
        ) >= 1.0
    );
    assert_eq!(
        m(
            "karpenter_cloudprovider_duration_seconds_count",
            &[("method", "Create"), ("provider", "memory")]
        ),
        claims
    );
    assert_eq!(m("karpenter_cluster_state_synced", &[]), 1.0);
    assert_eq!(
        m(
            "karpenter_leader_election_master_status",
            &[("name", LEASE)]
        ),
        1.0
    );
    op.shutdown().await;
    for t in tasks {
        t.abort();
    }
}

/// Scenario 8: two `run`s over one cluster. The first holds the Lease and does every write;
/// the second waits (ready, in standby, naming the holder) and writes nothing. When the first
/// stops it releases the Lease, and the second takes over at once (well within the Lease
/// duration) and provisions the next pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_only_the_lease_holder_acts_and_the_second_takes_over_when_it_stops() {
    let (server, provider, tasks) = cluster(scenario_1(4)).await;
    let a = Running::start(
        &server,
        provider.clone(),
        "run-a",
        settings(false),
        Some(lease("run-a")),
    )
    .await;
    wait_until("run-a holds the Lease", Duration::from_secs(10), || {
        lease_holder(&server).as_deref() == Some("run-a")
    })
    .await;
    let b = Running::start(
        &server,
        provider.clone(),
        "run-b",
        settings(false),
        Some(lease("run-b")),
    )
    .await;
    wait_until("every pod is bound", Duration::from_secs(60), || {
        unbound(&server).is_empty()
    })
    .await;
    wait_until(
        "every NodeClaim is initialized",
        Duration::from_secs(60),
        || initialized(&server),
    )
    .await;
    wait_until("run-b stands by", Duration::from_secs(10), || {
        matches!(b.probes.get(), Readiness::Standby(_))
    })
    .await;
    assert_eq!(
        b.probes.get(),
        Readiness::Standby(format!("Lease kube-system/{LEASE} is held by run-a")),
        "the standby says who leads"
    );
    let claims = server.list("karpenter.sh/v1", "NodeClaim", None).len();
    assert_eq!(
        nodeclaim_creates(&a.requests(&server)),
        claims,
        "run-a created every NodeClaim"
    );
    let b_writes: Vec<_> = b
        .requests(&server)
        .into_iter()
        .filter(|r| r.is_write())
        .collect();
    assert!(b_writes.is_empty(), "the standby wrote: {b_writes:#?}");
    assert_eq!(b.metric("karpenter_nodeclaims_created_total", &[]), 0.0);
    assert_eq!(
        b.metric("karpenter_leader_election_master_status", &[]),
        0.0
    );

    // the leader stops: it releases the Lease, the standby takes over before it would expire
    a.shutdown().await;
    let stopped = Instant::now();
    // released on shutdown: no longer run-a's (the standby may already have taken it)
    assert_ne!(
        lease_holder(&server).as_deref(),
        Some("run-a"),
        "released on shutdown"
    );
    wait_until("run-b holds the Lease", Duration::from_secs(10), || {
        lease_holder(&server).as_deref() == Some("run-b")
    })
    .await;
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "took over after {:?}, not by waiting out the 4 s Lease",
        stopped.elapsed()
    );
    let a_after = server
        .requests()
        .iter()
        .filter(|r| r.user_agent == "run-a")
        .count();
    server.seed_all(
        (0..3)
            .map(|i| pod(&format!("web-7d4b9-late-{i}"), "3"))
            .collect(),
    );
    wait_until("the late pods are bound", Duration::from_secs(60), || {
        unbound(&server).is_empty()
    })
    .await;
    assert!(
        nodeclaim_creates(&b.requests(&server)) >= 1,
        "run-b provisions now"
    );
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.user_agent == "run-a")
            .count(),
        a_after,
        "the stopped run makes no request"
    );
    b.shutdown().await;
    for t in tasks {
        t.abort();
    }
}

/// Scenario 9 in process: `--dry-run` watches and decides (scheduling passes run, every pod is
/// planned) but its requests are reads and watches only — no NodeClaim, Event, Lease or
/// status write — and no instance is launched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_decides_but_writes_nothing_to_the_cluster_or_the_cloud() {
    let (server, provider, tasks) = cluster(scenario_1(5)).await;
    let op = Running::start(&server, provider.clone(), "run-dry", settings(true), None).await;
    wait_until(
        "the scheduler marked every pod unschedulable",
        Duration::from_secs(30),
        || {
            server.list("v1", "Pod", None).iter().all(|p| {
                p.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| c.iter().any(|c| c["reason"] == "Unschedulable"))
            })
        },
    )
    .await;
    wait_until(
        "a provisioning pass planned every pod",
        Duration::from_secs(30),
        || op.metric("karpenter_scheduler_scheduling_duration_seconds_count", &[]) >= 1.0,
    )
    .await;
    // a few more batch windows: still nothing written
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        op.metric(
            "karpenter_scheduler_unschedulable_pods_count",
            &[("controller", "provisioner")]
        ),
        0.0,
        "every pod has a (would-be) NodeClaim"
    );
    let reqs = op.requests(&server);
    assert!(!reqs.is_empty());
    let writes: Vec<_> = reqs.iter().filter(|r| r.method != "GET").collect();
    assert!(writes.is_empty(), "dry run wrote: {writes:#?}");
    assert!(server.list("karpenter.sh/v1", "NodeClaim", None).is_empty());
    assert!(server
        .list("coordination.k8s.io/v1", "Lease", Some("kube-system"))
        .is_empty());
    assert!(
        provider.list().await.unwrap().is_empty(),
        "no instance launched"
    );
    assert_eq!(op.metric("karpenter_nodeclaims_created_total", &[]), 0.0);
    op.shutdown().await;
    for t in tasks {
        t.abort();
    }
}

/// Scenario 4 through the operator: with the NodePool's CPU limit used up no further
/// NodeClaim is created, and every pod left pending carries a FailedScheduling Event that
/// names the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reached_nodepool_limit_launches_nothing_more_and_says_why_on_each_pending_pod() {
    let mut objects = vec![
        node_class(),
        node_pool("default", Some(json!({"cpu": "4"}))),
    ];
    objects.extend((0..8).map(|i| pod(&format!("web-7d4b9-{i}"), "900m")));
    let (server, provider, tasks) = cluster(objects).await;
    let op = Running::start(
        &server,
        provider.clone(),
        "run-a",
        settings(false),
        Some(lease("run-a")),
    )
    .await;
    wait_until(
        "a NodeClaim is initialized",
        Duration::from_secs(60),
        || initialized(&server),
    )
    .await;
    let pending_with_event = |server: &ApiServer| {
        let events = server.list("events.k8s.io/v1", "Event", None);
        let pending = unbound(server);
        !pending.is_empty()
            && pending.iter().all(|p| {
                events.iter().any(|e| {
                    e["regarding"]["name"] == p.as_str()
                        && e["reason"] == "FailedScheduling"
                        && e["type"] == "Warning"
                        && e["note"].as_str().is_some_and(|n| n.contains("limit"))
                })
            })
    };
    wait_until(
        "every pending pod carries a FailedScheduling event naming the limit",
        Duration::from_secs(60),
        || pending_with_event(&server),
    )
    .await;
    let claims = server.list("karpenter.sh/v1", "NodeClaim", None).len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        server.list("karpenter.sh/v1", "NodeClaim", None).len(),
        claims,
        "no further launch"
    );
    assert_eq!(provider.list().await.unwrap().len(), claims);
    assert!(op.metric("karpenter_scheduler_unschedulable_pods_count", &[]) >= 1.0);
    op.shutdown().await;
    for t in tasks {
        t.abort();
    }
}

// ---- RBAC: the in-cluster manifests grant exactly what run uses ----

/// (apiGroup, resource, verb) of a request, with the namespace when namespaced.
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
    let resource = match rest.as_slice() {
        [res, _name, sub] => format!("{res}/{sub}"),
        [res, ..] => res.to_string(),
        [] => panic!("unexpected path {}", r.path),
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
    (group, resource, verb.to_string())
}

fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
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
                    assert!(g != "*" && res != "*" && v != "*", "no wildcards");
                    out.insert((g.to_string(), res.to_string(), v.to_string()));
                }
            }
        }
    }
    out
}

/// Every request `run` makes in scenario 1, in the insufficient-capacity case, at the
/// in-cluster-Karpenter check and at shutdown is granted by the rendered ClusterRole (cluster
/// calls) or Role (the Lease, namespaced); every grant is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_rbac_grants_exactly_the_calls_run_makes() {
    let spec = kubectl_karpenter::cli::run::ManifestSpec {
        name: "kubectl-karpenter".into(),
        namespace: "kube-system".into(),
        service_account: "karpenter".into(),
        image: "img:1".into(),
        cluster_name: "demo".into(),
        region: REGION.into(),
    };
    let yaml = kubectl_karpenter::cli::run::render_manifests(&spec).unwrap();
    let docs: Vec<Value> = yaml
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .filter(|d| !d.is_null())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment"
        ]
    );
    let cluster_role = grants(&docs[1]);
    let role = grants(&docs[3]);
    assert_eq!(docs[3]["metadata"]["namespace"], "kube-system");
    let deployment = &docs[5];
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"], "karpenter",
        "the Deployment runs as the bound ServiceAccount"
    );
    assert_ne!(
        deployment["metadata"]["labels"]["app.kubernetes.io/name"], "karpenter",
        "run's own Deployment must not look like upstream's (run refuses to start next to that)"
    );

    // scenario 1, and the refusal check
    let (server, provider, tasks) = cluster(scenario_1(3)).await;
    let op = Running::start(
        &server,
        provider.clone(),
        "run-rbac",
        settings(false),
        Some(lease("run-rbac")),
    )
    .await;
    assert_eq!(
        running_karpenter(&server.client_with_user_agent("run-rbac"))
            .await
            .unwrap(),
        None
    );
    wait_until(
        "every NodeClaim is initialized",
        Duration::from_secs(60),
        || unbound(&server).is_empty() && initialized(&server),
    )
    .await;
    op.shutdown().await;
    let mut used: Vec<(String, String, String, bool)> = server
        .requests()
        .iter()
        .filter(|r| r.user_agent == "run-rbac")
        .map(|r| {
            let (g, res, v) = rbac_tuple(r);
            (g, res, v, r.path.contains("/namespaces/"))
        })
        .collect();
    for t in tasks {
        t.abort();
    }

    // insufficient capacity: the NodeClaim is deleted
    let mut np = node_pool("default", None);
    np["spec"]["template"]["spec"]["requirements"] = json!([
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["c5.large"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]}
    ]);
    let (server, provider, tasks) = cluster(vec![node_class(), np]).await;
    provider.set_no_capacity(OfferingKey::new("on-demand", "c5.large", "us-east-1a"));
    let op = Running::start(
        &server,
        provider.clone(),
        "run-rbac",
        settings(false),
        Some(lease("run-rbac")),
    )
    .await;
    server.seed(pod("web-7d4b9-0", "1"));
    // the pod stays pending: its FailedScheduling event repeats at the 10 s re-check, and the
    // event recorder patches the existing Event (a series) instead of creating another
    wait_until(
        "the NodeClaim was deleted and the repeated event patched",
        Duration::from_secs(60),
        || {
            server.requests().iter().any(|r| {
                r.user_agent == "run-rbac" && r.method == "PATCH" && r.path.contains("/events/")
            }) && server
                .requests()
                .iter()
                .any(|r| r.method == "DELETE" && r.path.contains("/nodeclaims/"))
                && server.list("karpenter.sh/v1", "NodeClaim", None).is_empty()
        },
    )
    .await;
    op.shutdown().await;
    used.extend(
        server
            .requests()
            .iter()
            .filter(|r| r.user_agent == "run-rbac")
            .map(|r| {
                let (g, res, v) = rbac_tuple(r);
                (g, res, v, r.path.contains("/namespaces/"))
            }),
    );
    for t in tasks {
        t.abort();
    }

    // consolidation: the big pods go away, the underutilised nodes are replaced or removed
    // (disruption taints, launches, deletes; termination evicts and finalizes)
    let mut objects = vec![node_class(), node_pool("default", None)];
    objects.extend((0..3).map(|i| rs_pod("big", i, "5")));
    objects.extend((0..3).map(|i| rs_pod("small", i, "250m")));
    let (server, provider, tasks, replica_sets) = cluster_with_replica_sets(objects).await;
    let mut s = settings(false);
    s.disruption_poll_period = Duration::from_millis(300);
    let op = Running::start(
        &server,
        provider.clone(),
        "run-rbac",
        s,
        Some(lease("run-rbac")),
    )
    .await;
    wait_until(
        "every NodeClaim is initialized",
        Duration::from_secs(60),
        || unbound(&server).is_empty() && initialized(&server),
    )
    .await;
    assert!(replica_sets.scale("default", "big", 0));
    wait_until(
        "a node was consolidated away and its pods evicted",
        Duration::from_secs(120),
        || {
            let reqs = server.requests();
            let by_op = |m: &str, frag: &str| {
                reqs.iter()
                    .any(|r| r.user_agent == "run-rbac" && r.method == m && r.path.contains(frag))
            };
            by_op("POST", "/eviction") && by_op("DELETE", "/nodes/") && unbound(&server).is_empty()
        },
    )
    .await;
    op.shutdown().await;
    used.extend(
        server
            .requests()
            .iter()
            .filter(|r| r.user_agent == "run-rbac")
            .map(|r| {
                let (g, res, v) = rbac_tuple(r);
                (g, res, v, r.path.contains("/namespaces/"))
            }),
    );
    for t in tasks {
        t.abort();
    }

    let namespaced: BTreeSet<_> = used
        .iter()
        .filter(|u| u.3 && u.1 == "leases")
        .map(|u| (u.0.clone(), u.1.clone(), u.2.clone()))
        .collect();
    let cluster_wide: BTreeSet<_> = used
        .iter()
        .filter(|u| !(u.3 && u.1 == "leases"))
        .map(|u| (u.0.clone(), u.1.clone(), u.2.clone()))
        .collect();
    let missing: Vec<_> = cluster_wide.difference(&cluster_role).collect();
    assert!(
        missing.is_empty(),
        "calls the ClusterRole does not grant: {missing:?}"
    );
    // deleting a pod outright happens only once a terminationGracePeriod has passed
    // (run_disruption's do-not-disrupt test exercises it); every other grant is used here
    let exercised_elsewhere = (String::new(), "pods".to_string(), "delete".to_string());
    let unused: Vec<_> = cluster_role
        .difference(&cluster_wide)
        .filter(|g| **g != exercised_elsewhere)
        .collect();
    assert!(
        unused.is_empty(),
        "ClusterRole grants more than run uses: {unused:?}"
    );
    assert_eq!(namespaced, role, "the Role grants exactly the Lease calls");
}

// ---- the real binary over moto and the double ----

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto with the VPC, subnets, security groups and node role of `aws_provider::world`, plus
/// the EKS cluster and (optionally) the interruption queue `setup` would create.
async fn aws_world(
    moto: &crate::support::moto::Moto,
    queue: bool,
) -> kubectl_karpenter::cloud::aws::AwsContext {
    use crate::aws_provider::world;
    let ctx = moto.context().await;
    let w = world::build(&ctx).await;
    ctx.eks()
        .create_cluster()
        .name(world::CLUSTER)
        .version(world::K8S)
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .set_subnet_ids(Some(w.subnets.values().cloned().collect()))
                .build(),
        )
        .send()
        .await
        .expect("eks:CreateCluster in moto");
    if queue {
        ctx.sqs()
            .create_queue()
            .queue_name(world::CLUSTER)
            .send()
            .await
            .expect("sqs:CreateQueue in moto");
    }
    ctx
}

fn binary_objects(pods: usize) -> Vec<Value> {
    let mut class = serde_json::to_value(crate::aws_provider::world::nodeclass()).unwrap();
    class["apiVersion"] = json!("karpenter.k8s.aws/v1");
    class["kind"] = json!("EC2NodeClass");
    let mut objects = vec![class, node_pool("default", None)];
    objects.extend((0..pods).map(|i| pod(&format!("web-7d4b9-{i}"), "1")));
    objects
}

/// The binary, started with `args` against the double (kubeconfig) and moto (endpoint and
/// static credentials in its environment), JSON logs in a file.
struct Binary {
    child: std::process::Child,
    log: tempfile::NamedTempFile,
    _kubeconfig: tempfile::NamedTempFile,
    metrics: SocketAddr,
    health: SocketAddr,
}

impl Binary {
    fn start(server: &ApiServer, moto: &crate::support::moto::Moto, extra: &[&str]) -> Binary {
        let kubeconfig = tempfile::NamedTempFile::new().unwrap();
        server.write_kubeconfig(kubeconfig.path()).unwrap();
        let log = tempfile::NamedTempFile::new().unwrap();
        let (mp, hp) = (free_port(), free_port());
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
            .args(["run", "--kubeconfig"])
            .arg(kubeconfig.path())
            .args(["--cluster-name", crate::aws_provider::world::CLUSTER])
            .args(["--region", crate::support::moto::REGION])
            .args([
                "--metrics-port",
                &mp.to_string(),
                "--health-probe-port",
                &hp.to_string(),
            ])
            .args([
                "--batch-idle-duration",
                "200ms",
                "--batch-max-duration",
                "2s",
            ])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("LOG_FORMAT", "json")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("the binary starts");
        Binary {
            child,
            log,
            _kubeconfig: kubeconfig,
            metrics: SocketAddr::from(([127, 0, 0, 1], mp)),
            health: SocketAddr::from(([127, 0, 0, 1], hp)),
        }
    }

    /// The JSON log lines so far.
    fn logs(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log.path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn logged(&self, message: &str) -> Vec<Value> {
        self.logs()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }

    /// Panic with the log if the process has exited.
    fn check_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("run exited early ({status}):\n{}", self.raw_log());
        }
    }

    fn raw_log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// SIGTERM, then the exit code (within 40 s).
    fn terminate(mut self) -> (Option<i32>, Binary) {
        // SAFETY: kill(2) on our own child's pid
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), self);
            }
            if start.elapsed() > Duration::from_secs(40) {
                let _ = self.child.kill();
                panic!(
                    "run did not exit within 40 s of SIGTERM:\n{}",
                    self.raw_log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary_requests(server: &ApiServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.user_agent.starts_with("kubectl-karpenter/"))
        .collect()
}

/// The binary end to end: with only a kubeconfig, a cluster name and a region it discovers the
/// cluster (eks:DescribeCluster) and the queue, takes the Lease, provisions scenario 1 through
/// EC2 (moto) while the simulated kubelet and scheduler play the cluster, serves metrics and
/// readiness, and on SIGTERM releases the Lease and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_discovers_acts_and_exits_cleanly_on_sigterm() {
    use kubectl_karpenter::cloud::aws::provider::AwsProvider;
    let moto = crate::support::moto::Moto::start();
    let ctx = aws_world(&moto, true).await;
    let server = ApiServer::start().await;
    server.seed_all(binary_objects(4));
    let mut bin = Binary::start(&server, &moto, &[]);

    // the test's kubelet sees the same EC2 (moto) through its own provider
    let provider = Arc::new(AwsProvider::new(
        ctx.clone(),
        crate::aws_provider::world::cluster(),
    ));
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::default());
    let mut kubelet = Kubelet::new(
        server.client(),
        provider.clone(),
        clock.clone(),
        Duration::from_millis(300),
    );
    kubelet.poll = Duration::from_millis(200);
    let mut scheduler = Scheduler::new(server.client(), clock);
    scheduler.poll = Duration::from_millis(100);
    let tasks = [
        tokio::spawn(Arc::new(scheduler).run()),
        tokio::spawn(Arc::new(kubelet).run()),
    ];

    let deadline = Instant::now() + Duration::from_secs(120);
    while !(unbound(&server).is_empty() && initialized(&server)) {
        bin.check_alive();
        assert!(
            Instant::now() < deadline,
            "pods not bound in time; run's log:\n{}",
            bin.raw_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let discovered = bin.logged("discovered cluster");
    assert_eq!(discovered.len(), 1, "{}", bin.raw_log());
    assert_eq!(
        discovered[0]["kubernetes_version"],
        crate::aws_provider::world::K8S
    );
    assert!(
        discovered[0]["endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("https://")),
        "the endpoint from eks:DescribeCluster: {}",
        discovered[0]
    );
    assert_eq!(
        bin.logged("found interruption queue").len(),
        1,
        "{}",
        bin.raw_log()
    );
    for msg in [
        "successfully acquired lease",
        "found provisionable pod(s)",
        "computed new nodeclaim(s) to fit pod(s)",
        "created nodeclaim",
        "launched nodeclaim",
        "registered nodeclaim",
        "initialized nodeclaim",
    ] {
        assert!(
            !bin.logged(msg).is_empty(),
            "no {msg:?} in the log:\n{}",
            bin.raw_log()
        );
    }
    let claims = server.list("karpenter.sh/v1", "NodeClaim", None);
    let instances = provider.list().await.unwrap();
    assert_eq!(
        instances.len(),
        claims.len(),
        "one EC2 instance per NodeClaim"
    );
    let (status, text) = get(bin.metrics, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(
            &text,
            "karpenter_nodeclaims_created_total",
            &[("nodepool", "default")]
        ),
        Some(claims.len() as f64),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "karpenter_cloudprovider_duration_seconds_count",
            &[("method", "Create"), ("provider", "aws")]
        ),
        Some(claims.len() as f64)
    );
    assert_eq!(get(bin.health, "/readyz").await, (200, "ok\n".to_string()));
    let holder = lease_holder(&server).expect("the Lease is held");
    assert!(holder.contains('_'), "hostname_random identity: {holder}");

    let (code, bin) = bin.terminate();
    assert_eq!(code, Some(0), "exit code; log:\n{}", bin.raw_log());
    assert_eq!(
        lease_holder(&server),
        None,
        "the Lease is released on SIGTERM"
    );
    assert!(
        !bin.logged("released leader election lease").is_empty(),
        "{}",
        bin.raw_log()
    );
    let puts: Vec<_> = binary_requests(&server)
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/leases/"))
        .collect();
    assert!(
        puts.last()
            .and_then(|r| r.json())
            .is_some_and(|l| l["spec"].get("holderIdentity").is_none_or(Value::is_null)),
        "the last Lease write clears the holder"
    );
    for t in tasks {
        t.abort();
    }
}

/// Scenario 9 with the binary: `--dry-run` prints the NodeClaims it would create (type, zone,
/// pods), makes only read requests to the cluster, launches nothing in EC2, takes no Lease and
/// exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_in_dry_run_prints_its_decisions_and_writes_nothing() {
    let moto = crate::support::moto::Moto::start();
    let ctx = aws_world(&moto, false).await;
    let server = ApiServer::start().await;
    server.seed_all(binary_objects(3));
    let mut bin = Binary::start(&server, &moto, &["--dry-run"]);
    // the scheduler marks the pods Unschedulable, as kube-scheduler would (that is its write)
    let mut scheduler = Scheduler::new(server.client(), Arc::new(TokioClock::default()));
    scheduler.poll = Duration::from_millis(100);
    let sched = tokio::spawn(Arc::new(scheduler).run());

    let deadline = Instant::now() + Duration::from_secs(90);
    while bin.logged("would create nodeclaim (dry run)").is_empty() {
        bin.check_alive();
        assert!(
            Instant::now() < deadline,
            "no decision printed; log:\n{}",
            bin.raw_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let decisions = bin.logged("would create nodeclaim (dry run)");
    let planned: usize = decisions
        .iter()
        .map(|d| {
            d["pods"]
                .as_str()
                .unwrap_or_default()
                .split(", ")
                .filter(|p| !p.is_empty())
                .count()
        })
        .sum();
    assert_eq!(planned, 3, "every pod is in one decision: {decisions:#?}");
    for d in &decisions {
        assert!(
            d["instance_type"].as_str().is_some_and(|t| !t.is_empty()),
            "{d}"
        );
        assert!(
            d["zone"]
                .as_str()
                .is_some_and(|z| z.starts_with("us-west-2")),
            "{d}"
        );
    }
    assert!(bin.logged("interruption queue not found; interruption handling is off (create it with `kubectl karpenter setup`)").len() == 1, "{}", bin.raw_log());
    let writes: Vec<_> = binary_requests(&server)
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(
        writes.is_empty(),
        "dry run wrote to the cluster: {writes:#?}"
    );
    assert!(server.list("karpenter.sh/v1", "NodeClaim", None).is_empty());
    assert_eq!(lease_holder(&server), None, "no Lease in dry run");
    let reservations = ctx.ec2().describe_instances().send().await.unwrap();
    assert!(
        reservations.reservations().is_empty(),
        "no instance launched"
    );
    let profiles = ctx.iam().list_instance_profiles().send().await.unwrap();
    assert!(
        profiles.instance_profiles().is_empty(),
        "no instance profile created in dry run"
    );
    let (code, bin) = bin.terminate();
    assert_eq!(code, Some(0), "{}", bin.raw_log());
    sched.abort();
}

/// Losing the Lease stops the controllers: another holder takes the Lease (as an in-cluster
/// Karpenter would after this one failed to renew); the leader notices at its next renewal,
/// stops acting and stands by naming the new holder. The new holder never renews, so once its
/// record has not changed for the Lease duration (by this process's clock) the Lease is free
/// again and the first takes it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_stops_acting_and_retakes_it_only_after_it_expires() {
    let (server, provider, tasks) = cluster(scenario_1(2)).await;
    let a = Running::start(
        &server,
        provider.clone(),
        "run-a",
        settings(false),
        Some(lease("run-a")),
    )
    .await;
    wait_until("every pod is bound", Duration::from_secs(60), || {
        unbound(&server).is_empty()
    })
    .await;
    assert_eq!(
        a.metric("karpenter_leader_election_master_status", &[]),
        1.0
    );
    server
        .modify(
            "coordination.k8s.io/v1",
            "Lease",
            Some("kube-system"),
            LEASE,
            |l| {
                l["spec"]["holderIdentity"] = json!("in-cluster-karpenter");
            },
        )
        .expect("the Lease exists");
    let taken = Instant::now();
    wait_until("run-a stands by", Duration::from_secs(10), || {
        a.probes.get()
            == Readiness::Standby(format!(
                "Lease kube-system/{LEASE} is held by in-cluster-karpenter"
            ))
    })
    .await;
    assert_eq!(
        a.metric("karpenter_leader_election_master_status", &[]),
        0.0
    );
    // a pod arriving now is not provisioned by the stood-down run, only once it leads again
    let from = server.requests().len();
    server.seed(pod("web-7d4b9-new", "7"));
    wait_until(
        "run-a holds the Lease again",
        Duration::from_secs(20),
        || lease_holder(&server).as_deref() == Some("run-a"),
    )
    .await;
    assert!(
        taken.elapsed() >= Duration::from_secs(4),
        "retaken after {:?}, before the 4 s Lease expired",
        taken.elapsed()
    );
    // leading again: the new pod is provisioned
    wait_until("the new pod is bound", Duration::from_secs(60), || {
        unbound(&server).is_empty()
    })
    .await;
    let after: Vec<RecordedRequest> = server.requests()[from..]
        .iter()
        .filter(|r| r.user_agent == "run-a")
        .cloned()
        .collect();
    let retake = after
        .iter()
        .position(|r| r.method == "PUT" && r.path.contains("/leases/"))
        .expect("the Lease was retaken by an update");
    let create = after
        .iter()
        .position(|r| r.method == "POST" && r.path.ends_with("/nodeclaims"))
        .expect("the new pod got a NodeClaim");
    assert!(
        create > retake,
        "a NodeClaim was created while standing by: {after:#?}"
    );
    a.shutdown().await;
    for t in tasks {
        t.abort();
    }
}

/// The refusal check: a Deployment labelled as upstream's chart labels Karpenter, with ready
/// replicas, is found and named with the command that scales it down; one scaled to zero, or
/// run's own Deployment (labelled differently), is not in the way.
#[tokio::test]
async fn an_in_cluster_karpenter_with_ready_replicas_is_found_and_named() {
    use kubectl_karpenter::controllers::operator::refuse_message;
    let server = ApiServer::start().await;
    let deployment = |ns: &str, name: &str, app: &str, ready: i64| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/name": app}},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": app}},
                     "template": {"metadata": {"labels": {"app.kubernetes.io/name": app}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {"replicas": ready, "readyReplicas": ready}
        })
    };
    server.seed(deployment(
        "kube-system",
        "kubectl-karpenter",
        "kubectl-karpenter",
        1,
    ));
    server.seed(deployment("karpenter", "karpenter", "karpenter", 0));
    let client = server.client();
    assert_eq!(
        running_karpenter(&client).await.unwrap(),
        None,
        "none ready"
    );
    server
        .modify(
            "apps/v1",
            "Deployment",
            Some("karpenter"),
            "karpenter",
            |d| {
                d["status"]["readyReplicas"] = json!(2);
            },
        )
        .unwrap();
    let found = running_karpenter(&client).await.unwrap();
    assert_eq!(found, Some(("karpenter/karpenter".to_string(), 2)));
    let msg = refuse_message("karpenter/karpenter", 2);
    assert!(
        msg.contains("Deployment karpenter/karpenter has 2 ready replica(s)")
            && msg.contains("kubectl scale deployment karpenter -n karpenter --replicas=0")
            && msg.contains("--force"),
        "{msg}"
    );
}

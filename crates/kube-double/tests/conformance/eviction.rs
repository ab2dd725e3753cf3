use crate::api_err;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, PostParams};
use kube_double::ApiServer;
use serde_json::json;

fn seed_pod(s: &ApiServer, name: &str, ready: bool, phase: &str) {
    s.seed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": []},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }));
}

async fn pdb(s: &ApiServer, name: &str, spec: serde_json::Value) {
    let api: Api<PodDisruptionBudget> = Api::default_namespaced(s.client());
    let pdb: PodDisruptionBudget =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    api.create(&PostParams::default(), &pdb).await.unwrap();
}

#[tokio::test]
async fn eviction_without_pdb_deletes_the_pod() {
    let s = ApiServer::start().await;
    seed_pod(&s, "p", true, "Running");
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    let st = pods.evict("p", &EvictParams::default()).await.unwrap();
    assert_eq!(st.code, 201);
    assert!(s.get("v1", "Pod", Some("default"), "p").is_none());
    assert_eq!(
        api_err(pods.evict("p", &EvictParams::default()).await).code,
        404
    );
}

#[tokio::test]
async fn eviction_respects_min_available() {
    let s = ApiServer::start().await;
    for p in ["a", "b", "c"] {
        seed_pod(&s, p, true, "Running");
    }
    pdb(
        &s,
        "web",
        json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    pods.evict("a", &EvictParams::default()).await.unwrap();
    let budget = s
        .get("policy/v1", "PodDisruptionBudget", Some("default"), "web")
        .unwrap();
    assert_eq!(budget["status"]["disruptionsAllowed"], 0);
    assert_eq!(budget["status"]["currentHealthy"], 3);
    assert_eq!(budget["status"]["desiredHealthy"], 2);
    assert_eq!(budget["status"]["expectedPods"], 3);
    assert!(budget["status"]["disruptedPods"]["a"].is_string());

    let e = api_err(pods.evict("b", &EvictParams::default()).await);
    assert_eq!((e.code, e.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(
        e.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let causes = e.details.unwrap().causes;
    assert_eq!(causes[0].reason, "DisruptionBudget");
    assert!(
        causes[0]
            .message
            .contains("needs 2 healthy pods and has 2 currently"),
        "{}",
        causes[0].message
    );
    assert!(s.get("v1", "Pod", Some("default"), "b").is_some());
}

fn seed_held_pod(s: &ApiServer, name: &str, ready: bool) {
    s.seed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}, "finalizers": ["test/hold"]},
        "spec": {"containers": []},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }));
}

#[tokio::test]
async fn eviction_percentages_round_up() {
    let s = ApiServer::start().await;
    // Finalizers keep evicted pods around (terminating): they stay expected but not healthy.
    for p in ["a", "b", "c"] {
        seed_held_pod(&s, p, true);
    }
    // maxUnavailable 34% of 3 rounds up to 2 → desiredHealthy 1 → two evictions allowed.
    pdb(
        &s,
        "web",
        json!({"maxUnavailable": "34%", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    pods.evict("a", &EvictParams::default()).await.unwrap();
    pods.evict("b", &EvictParams::default()).await.unwrap();
    let e = api_err(pods.evict("c", &EvictParams::default()).await);
    assert_eq!(e.code, 429);
    let budget = s
        .get("policy/v1", "PodDisruptionBudget", Some("default"), "web")
        .unwrap();
    assert_eq!(budget["status"]["desiredHealthy"], 1);
    assert_eq!(budget["status"]["expectedPods"], 3);
}

#[tokio::test]
async fn unhealthy_pods_follow_if_healthy_budget() {
    let s = ApiServer::start().await;
    seed_held_pod(&s, "ok1", true);
    seed_held_pod(&s, "ok2", true);
    seed_held_pod(&s, "sick1", false);
    seed_held_pod(&s, "sick2", false);
    // minAvailable 50% of 4 = 2; healthy 2 → no disruption allowed for healthy pods...
    pdb(
        &s,
        "web",
        json!({"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    assert_eq!(
        api_err(pods.evict("ok1", &EvictParams::default()).await).code,
        429
    );
    // ...but an unhealthy pod may go because the budget is currently met.
    pods.evict("sick1", &EvictParams::default()).await.unwrap();
    assert!(pods
        .get("sick1")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
    // Once the budget is not met, unhealthy pods are protected too (IfHealthyBudget).
    s.seed(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "strict", "namespace": "other"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "x"}}}
    }));
    s.seed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "lonely", "namespace": "other", "labels": {"app": "x"}},
        "spec": {"containers": []},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
    }));
    let other: Api<Pod> = Api::namespaced(s.client(), "other");
    assert_eq!(
        api_err(other.evict("lonely", &EvictParams::default()).await).code,
        429
    );
}

#[tokio::test]
async fn pending_pods_skip_budgets_and_two_pdbs_are_500() {
    let s = ApiServer::start().await;
    seed_pod(&s, "pending", false, "Pending");
    seed_pod(&s, "run", true, "Running");
    pdb(
        &s,
        "one",
        json!({"minAvailable": "100%", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    pods.evict("pending", &EvictParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_err(pods.evict("run", &EvictParams::default()).await).code,
        429
    );
    pdb(
        &s,
        "two",
        json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let e = api_err(pods.evict("run", &EvictParams::default()).await);
    assert_eq!(e.code, 500);
    assert!(
        e.message.contains("more than one PodDisruptionBudget"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn eviction_of_pod_with_finalizer_marks_it() {
    let s = ApiServer::start().await;
    s.seed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "f", "namespace": "default", "finalizers": ["x/y"]},
        "spec": {"containers": []}, "status": {"phase": "Running"}
    }));
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    pods.evict("f", &EvictParams::default()).await.unwrap();
    let p = pods.get("f").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_some());
}

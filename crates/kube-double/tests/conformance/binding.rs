use crate::api_err;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube_double::ApiServer;
use serde_json::{json, Value};

fn binding(pod: &str, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
           "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
}

#[tokio::test]
async fn binding_sets_the_node_and_pod_scheduled_once() {
    let s = ApiServer::start().await;
    s.seed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": []},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
    }));
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    let _: Value = pods
        .create_subresource("binding", "p", &PostParams::default(), &binding("p", "n1"))
        .await
        .unwrap();
    let p = s.get("v1", "Pod", Some("default"), "p").unwrap();
    assert_eq!(p["spec"]["nodeName"], "n1");
    assert_eq!(
        p["status"]["conditions"],
        json!([{"type": "PodScheduled", "status": "True",
                "lastTransitionTime": p["status"]["conditions"][0]["lastTransitionTime"]}])
    );
    // a bound pod cannot be bound again
    let again: Result<Value, _> = pods
        .create_subresource("binding", "p", &PostParams::default(), &binding("p", "n2"))
        .await;
    let err = api_err(again);
    assert_eq!(err.code, 409);
    assert!(
        err.message.contains("already assigned to node \"n1\""),
        "{}",
        err.message
    );
    // the name in the body must match the URL; the target is required
    let wrong: Result<Value, _> = pods
        .create_subresource("binding", "p", &PostParams::default(), &binding("q", "n2"))
        .await;
    assert_eq!(api_err(wrong).code, 400);
    let missing: Result<Value, _> = pods
        .create_subresource("binding", "x", &PostParams::default(), &binding("x", "n1"))
        .await;
    assert_eq!(api_err(missing).code, 404);
}

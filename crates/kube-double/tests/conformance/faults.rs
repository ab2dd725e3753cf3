use crate::api_err;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube_double::{ApiServer, Fault};
use serde_json::json;

#[tokio::test]
async fn conflict_on_next_writes_then_success() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "np"}, "spec": {}}));
    let ar = s.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    s.inject_fault(Fault::conflict_on_next_writes("NodePool", 2));
    let patch = Patch::Merge(json!({"spec": {"weight": 5}}));
    for _ in 0..2 {
        let e = api_err(api.patch("np", &PatchParams::default(), &patch).await);
        assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
        assert!(
            e.message
                .contains("nodepools.karpenter.sh \"np\": the object has been modified"),
            "{}",
            e.message
        );
        // Reads are unaffected and nothing was written.
        assert!(api.get("np").await.unwrap().data["spec"]
            .get("weight")
            .is_none());
    }
    let out = api
        .patch("np", &PatchParams::default(), &patch)
        .await
        .unwrap();
    assert_eq!(out.data["spec"]["weight"], 5);
}

#[tokio::test]
async fn status_fault_by_method_and_kind() {
    let s = ApiServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    s.inject_fault(Fault::status("GET", "pods", 503, 1));
    let e = api_err(pods.list(&ListParams::default()).await);
    assert_eq!((e.code, e.reason.as_str()), (503, "ServiceUnavailable"));
    pods.list(&ListParams::default()).await.unwrap();
    // A fault for another kind does not fire.
    s.inject_fault(Fault::status("GET", "Node", 500, 1));
    pods.list(&ListParams::default()).await.unwrap();
}

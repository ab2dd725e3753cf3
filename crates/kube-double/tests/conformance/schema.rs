use crate::api_err;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube_double::ApiServer;
use serde_json::json;

fn nodepool(operator: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "default"},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [{"key": "kubernetes.io/arch", "operator": operator, "values": ["amd64"]}]
        }}}
    }))
    .unwrap()
}

#[tokio::test]
async fn schema_validation_defaults_and_rejects() {
    let s = ApiServer::builder()
        .with_karpenter_schema_validation()
        .build()
        .await;
    let ar = s.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let e = api_err(api.create(&PostParams::default(), &nodepool("Bogus")).await);
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.contains("operator"), "{}", e.message);
    assert!(s
        .get("karpenter.sh/v1", "NodePool", None, "default")
        .is_none());

    let created = api
        .create(&PostParams::default(), &nodepool("In"))
        .await
        .unwrap();
    assert_eq!(
        created.data["spec"]["disruption"]["budgets"][0]["nodes"], "10%",
        "defaults applied"
    );

    let e = api_err(
        api.patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"weight": 0}})),
        )
        .await,
    );
    assert_eq!(e.code, 422, "{}", e.message);
    api.patch(
        "default",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"weight": 10}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn without_validation_partial_objects_are_accepted() {
    let s = ApiServer::start().await;
    let ar = s.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let created = api
        .create(&PostParams::default(), &nodepool("Bogus"))
        .await
        .unwrap();
    assert!(created.data["spec"].get("disruption").is_none());
}

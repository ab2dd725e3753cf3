use crate::api_err;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
};
use kube_double::ApiServer;
use serde_json::json;

fn nodeclaim(name: &str, finalizers: &[&str]) -> serde_json::Value {
    json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
           "metadata": {"name": name, "finalizers": finalizers, "labels": {"pool": "a"}}, "spec": {}})
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let s = ApiServer::start().await;
    s.seed(nodeclaim("nc", &["karpenter.sh/termination"]));
    let ar = s.api_resource("karpenter.sh/v1", "NodeClaim").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let before = api.get("nc").await.unwrap();
    let res = api.delete("nc", &DeleteParams::default()).await.unwrap();
    let marked = res.left().expect("object returned while finalizers remain");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(marked.metadata.generation, Some(2));
    assert!(api
        .get("nc")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());

    // Adding a finalizer while deleting is forbidden.
    let e = api_err(
        api.patch(
            "nc",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["karpenter.sh/termination", "new/one"]}}),
            ),
        )
        .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message
            .contains("no new finalizers can be added if the object is being deleted"),
        "{}",
        e.message
    );

    // Other edits are still allowed; removing the last finalizer really deletes.
    api.patch(
        "nc",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
    )
    .await
    .unwrap();
    let last = api
        .patch(
            "nc",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(last.metadata.finalizers.is_none());
    assert_eq!(api_err(api.get("nc").await).code, 404);
    assert_ne!(before.metadata.uid, None);
}

#[tokio::test]
async fn delete_without_finalizers_is_immediate_and_404_after() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}));
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let gone = cms.delete("c", &DeleteParams::default()).await.unwrap();
    assert!(gone.is_left());
    assert!(s.get("v1", "ConfigMap", Some("default"), "c").is_none());
    let e = api_err(cms.delete("c", &DeleteParams::default()).await);
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "configmaps \"c\" not found");
}

#[tokio::test]
async fn delete_preconditions() {
    let s = ApiServer::start().await;
    let stored = s.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}));
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let wrong_uid = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let e = api_err(cms.delete("c", &wrong_uid).await);
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message
            .contains("Precondition failed: UID in precondition: other"),
        "{}",
        e.message
    );
    let wrong_rv = DeleteParams {
        preconditions: Some(Preconditions {
            uid: None,
            resource_version: Some("999999".into()),
        }),
        ..Default::default()
    };
    assert_eq!(api_err(cms.delete("c", &wrong_rv).await).code, 409);
    let right = DeleteParams {
        preconditions: Some(Preconditions {
            uid: stored["metadata"]["uid"].as_str().map(String::from),
            resource_version: stored["metadata"]["resourceVersion"]
                .as_str()
                .map(String::from),
        }),
        ..Default::default()
    };
    cms.delete("c", &right).await.unwrap();
    assert!(s.get("v1", "ConfigMap", Some("default"), "c").is_none());
}

#[tokio::test]
async fn delete_collection_by_label() {
    let s = ApiServer::start().await;
    s.seed(nodeclaim("a", &[]));
    s.seed(nodeclaim("b", &["f/x"]));
    s.seed(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "c", "labels": {"pool": "b"}}, "spec": {}}));
    let ar = s.api_resource("karpenter.sh/v1", "NodeClaim").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("pool=a"),
    )
    .await
    .unwrap();
    let left: Vec<String> = s
        .list("karpenter.sh/v1", "NodeClaim", None)
        .into_iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        left,
        vec!["b", "c"],
        "a deleted, b held by its finalizer, c not selected"
    );
    assert!(
        s.get("karpenter.sh/v1", "NodeClaim", None, "b").unwrap()["metadata"]["deletionTimestamp"]
            .is_string()
    );
}

#[tokio::test]
async fn namespace_deletion_removes_contents() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team"}, "spec": {"containers": []}}));
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(s.client());
    nss.delete("team", &DeleteParams::default()).await.unwrap();
    assert!(s.get("v1", "Pod", Some("team"), "p").is_none());
    let pods: Api<Pod> = Api::namespaced(s.client(), "team");
    let pod: Pod =
        serde_json::from_value(json!({"metadata": {"name": "q"}, "spec": {"containers": []}}))
            .unwrap();
    assert_eq!(
        api_err(pods.create(&PostParams::default(), &pod).await).code,
        404
    );
}

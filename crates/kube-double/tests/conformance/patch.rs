use crate::api_err;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube_double::ApiServer;
use serde_json::json;

fn deployment_json() -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "p", "namespace": "default", "labels": {"a": "1"},
                     "finalizers": ["x/one"],
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u1"}]},
        "spec": {
            "selector": {"matchLabels": {"app": "p"}},
            "template": {
                "metadata": {"labels": {"app": "p"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "side", "image": "side:1"}
                    ],
                    "tolerations": [{"key": "k1", "operator": "Exists"}],
                    "volumes": [{"name": "v1", "emptyDir": {}}]
                }
            }
        }
    })
}

#[tokio::test]
async fn json_patch_ops_and_failed_test_is_422() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}}));
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "remove", "path": "/data/a"}
    ]))
    .unwrap();
    let out = cms
        .patch("c", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    let data = out.data.unwrap();
    assert_eq!(data.get("b").map(String::as_str), Some("2"));
    assert!(!data.contains_key("a"));
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/b", "value": "nope"}, {"op": "add", "path": "/data/c", "value": "3"}])).unwrap();
    let e = api_err(
        cms.patch("c", &PatchParams::default(), &Patch::<()>::Json(failing))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        !s.get("v1", "ConfigMap", Some("default"), "c").unwrap()["data"]
            .as_object()
            .unwrap()
            .contains_key("c")
    );
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "remove", "path": "/data/zzz"}])).unwrap();
    assert_eq!(
        api_err(
            cms.patch("c", &PatchParams::default(), &Patch::<()>::Json(bad))
                .await
        )
        .code,
        422
    );
}

#[tokio::test]
async fn merge_patch_is_rfc7386_and_honours_resource_version() {
    let s = ApiServer::start().await;
    let stored = s.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default", "labels": {"x": "1", "y": "2"}}, "data": {"a": "1"}}));
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let out = cms
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"x": null, "z": "3"}}, "data": {"b": "2"}}),
            ),
        )
        .await
        .unwrap();
    let labels = out.metadata.labels.unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels.get("z").map(String::as_str), Some("3"));
    assert_eq!(out.data.unwrap().len(), 2);
    let stale_rv = stored["metadata"]["resourceVersion"].as_str().unwrap();
    let e = api_err(
        cms.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": stale_rv}, "data": {"c": "3"}})),
        )
        .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    let e = api_err(
        cms.patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
            .await,
    );
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn strategic_merge_patch_uses_merge_keys() {
    let s = ApiServer::start().await;
    s.seed(deployment_json());
    let deps: Api<Deployment> = Api::default_namespaced(s.client());
    let patch = json!({
        "metadata": {"finalizers": ["x/two"], "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "m", "uid": "u2"}]},
        "spec": {"template": {"spec": {
            "containers": [
                {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]},
                {"name": "side", "$patch": "delete"}
            ],
            "tolerations": [{"key": "k2", "operator": "Exists"}],
            "volumes": [{"name": "v2", "emptyDir": {}}]
        }}}
    });
    let out = deps
        .patch("p", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let spec = out.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        spec.containers.len(),
        1,
        "side container deleted by $patch: delete"
    );
    let app = &spec.containers[0];
    assert_eq!(app.image.as_deref(), Some("app:2"));
    let env: Vec<(String, Option<String>)> = app
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect();
    assert_eq!(
        env,
        vec![
            ("A".into(), Some("1".into())),
            ("B".into(), Some("20".into())),
            ("C".into(), Some("3".into()))
        ]
    );
    let tols = spec.tolerations.unwrap();
    assert_eq!(tols.len(), 1, "tolerations are atomic");
    assert_eq!(tols[0].key.as_deref(), Some("k2"));
    assert_eq!(spec.volumes.unwrap().len(), 2);
    assert_eq!(
        out.metadata.finalizers.unwrap(),
        vec!["x/one".to_string(), "x/two".to_string()]
    );
    assert_eq!(out.metadata.owner_references.unwrap().len(), 2);
    assert_eq!(out.metadata.generation, Some(2));

    // $patch: replace on a map and on a list.
    let out = deps
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}},
                                     "spec": {"template": {"spec": {"volumes": [{"$patch": "replace"}, {"name": "v9", "emptyDir": {}}]}}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        out.metadata.labels.unwrap().into_iter().collect::<Vec<_>>(),
        vec![("only".to_string(), "this".to_string())]
    );
    let vols: Vec<String> = out
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .volumes
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(vols, vec!["v9"]);
}

#[tokio::test]
async fn strategic_merge_on_custom_resources_is_415() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "np"}, "spec": {}}));
    let ar = s.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let e = api_err(
        api.patch(
            "np",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"weight": 1}})),
        )
        .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));
}

#[tokio::test]
async fn server_side_apply_creates_owns_conflicts_and_prunes() {
    let s = ApiServer::start().await;
    let deps: Api<Deployment> = Api::default_namespaced(s.client());
    let desired = |replicas: i32, labels: serde_json::Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
        })
    };
    let pp = PatchParams::apply("alice");
    let created = deps
        .patch(
            "d",
            &pp,
            &Patch::Apply(desired(2, json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(created.spec.as_ref().unwrap().replicas, Some(2));
    let mf = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("alice"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    let fields = serde_json::to_value(&mf[0].fields_v1).unwrap();
    assert!(fields["f:spec"]["f:replicas"].is_object(), "{fields}");
    assert!(
        fields["f:metadata"]["f:labels"]["f:a"].is_object(),
        "{fields}"
    );

    // Another manager changing an owned field conflicts...
    let bob = PatchParams::apply("bob");
    let e = api_err(
        deps.patch("d", &bob, &Patch::Apply(desired(5, json!({}))))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains("conflict with \"alice\"") && e.message.contains(".spec.replicas"),
        "{}",
        e.message
    );
    // ...but applying the same value is shared ownership, not a conflict.
    let shared = deps
        .patch("d", &bob, &Patch::Apply(desired(2, json!({}))))
        .await
        .unwrap();
    let managers: Vec<String> = shared
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(
        managers,
        vec!["alice", "bob"],
        "shared ownership is recorded"
    );
    // force takes ownership.
    let forced = deps
        .patch(
            "d",
            &bob.clone().force(),
            &Patch::Apply(desired(5, json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(5));
    let owns_replicas = |manager: &str| {
        forced
            .metadata
            .managed_fields
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| {
                let f = serde_json::to_value(&m.fields_v1).unwrap();
                m.manager.as_deref() == Some(manager) && f["f:spec"].get("f:replicas").is_some()
            })
    };
    assert!(
        owns_replicas("bob") && !owns_replicas("alice"),
        "force moved ownership"
    );

    // alice drops label b: removed since nobody else owns it; label a stays.
    let again = deps
        .patch(
            "d",
            &pp,
            &Patch::Apply({
                let mut d = desired(5, json!({"a": "1"}));
                d["spec"].as_object_mut().unwrap().remove("replicas");
                d
            }),
        )
        .await
        .unwrap();
    let labels = again.metadata.labels.unwrap();
    assert!(
        labels.contains_key("a") && !labels.contains_key("b"),
        "{labels:?}"
    );
    assert_eq!(
        again.spec.unwrap().replicas,
        Some(5),
        "bob still owns replicas"
    );

    // Without fieldManager the server refuses the apply (kube-rs checks client-side too, so go raw).
    let req = http::Request::builder()
        .method("PATCH")
        .uri("/apis/apps/v1/namespaces/default/deployments/d")
        .header("content-type", "application/apply-patch+yaml")
        .body(serde_json::to_vec(&desired(1, json!({}))).unwrap())
        .unwrap();
    let e = api_err(s.client().request::<Deployment>(req).await);
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
}

#[tokio::test]
async fn apply_accepts_yaml_and_tracks_update_managers() {
    let s = ApiServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n";
    let req = http::Request::builder()
        .method("PATCH")
        .uri("/api/v1/namespaces/default/configmaps/y?fieldManager=yamler")
        .header("content-type", "application/apply-patch+yaml")
        .body(yaml.as_bytes().to_vec())
        .unwrap();
    let cm: ConfigMap = s.client().request(req).await.unwrap();
    assert_eq!(cm.data.unwrap().get("k").map(String::as_str), Some("v"));
    // A merge patch by another manager takes the field; the applier then conflicts on it.
    cms.patch(
        "y",
        &PatchParams {
            field_manager: Some("editor".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"data": {"k": "edited"}})),
    )
    .await
    .unwrap();
    let e = api_err(
        cms.patch("y", &PatchParams::apply("yamler"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}, "data": {"k": "v"}})))
            .await,
    );
    assert_eq!(e.code, 409);
    assert!(e.message.contains("\"editor\""), "{}", e.message);
}

#[tokio::test]
async fn patch_and_put_on_crd_create_via_post_then_apply_with_rv() {
    let s = ApiServer::start().await;
    let ar = s
        .api_resource("karpenter.k8s.aws/v1", "EC2NodeClass")
        .unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let obj = json!({"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "nc"}, "spec": {"role": "r"}});
    let created = api
        .patch("nc", &PatchParams::apply("me"), &Patch::Apply(obj.clone()))
        .await
        .unwrap();
    let mut stale = obj.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["spec"]["role"] = json!("other");
    let e = api_err(
        api.patch("nc", &PatchParams::apply("me"), &Patch::Apply(stale))
            .await,
    );
    assert_eq!(e.code, 409);
    let mut good = obj;
    good["metadata"]["resourceVersion"] = json!(created.metadata.resource_version.unwrap());
    good["spec"]["role"] = json!("other");
    let out = api
        .patch("nc", &PatchParams::apply("me"), &Patch::Apply(good))
        .await
        .unwrap();
    assert_eq!(out.data["spec"]["role"], "other");
    assert_eq!(out.metadata.generation, Some(2));
}

#[tokio::test]
async fn unknown_patch_content_type_is_415() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}));
    let req = http::Request::builder()
        .method("PATCH")
        .uri("/api/v1/namespaces/default/configmaps/c")
        .header("content-type", "text/plain")
        .body(b"{}".to_vec())
        .unwrap();
    let e = api_err(s.client().request::<ConfigMap>(req).await);
    assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));
    let _ = PostParams::default();
}

#[tokio::test]
async fn apply_to_status_subresource_only_touches_status() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "nc"}, "spec": {"nodeClassRef": {"name": "a"}}}));
    let ar = s.api_resource("karpenter.sh/v1", "NodeClaim").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let out = api
        .patch_status(
            "nc",
            &PatchParams::apply("karpenter"),
            &Patch::Apply(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "nc"},
                                 "spec": {"nodeClassRef": {"name": "ignored"}},
                                 "status": {"providerID": "aws:///us-east-1a/i-1"}})),
        )
        .await
        .unwrap();
    assert_eq!(out.data["status"]["providerID"], "aws:///us-east-1a/i-1");
    assert_eq!(out.data["spec"]["nodeClassRef"]["name"], "a");
    let mf = out.metadata.managed_fields.unwrap();
    assert_eq!(mf[0].subresource.as_deref(), Some("status"));
}

#[tokio::test]
async fn status_writes_to_missing_objects_are_404() {
    let s = ApiServer::start().await;
    let ar = s.api_resource("karpenter.sh/v1", "NodeClaim").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let body = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "ghost"}, "status": {}});
    let e = api_err(
        api.patch_status(
            "ghost",
            &PatchParams::apply("k"),
            &Patch::Apply(body.clone()),
        )
        .await,
    );
    assert_eq!(e.code, 404);
    let e = api_err(
        api.patch_status("ghost", &PatchParams::default(), &Patch::Merge(body))
            .await,
    );
    assert_eq!(e.code, 404);
    assert!(s
        .get("karpenter.sh/v1", "NodeClaim", None, "ghost")
        .is_none());
}

#[tokio::test]
async fn json_patch_replacing_the_root_is_rejected() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}));
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "", "value": 5}])).unwrap();
    let e = api_err(
        cms.patch("c", &PatchParams::default(), &Patch::<()>::Json(ops))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    // The server is still healthy afterwards.
    assert!(cms.get("c").await.is_ok());
}

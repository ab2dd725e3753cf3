use crate::api_err;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube_double::ApiServer;
use serde_json::json;

async fn nodepool(s: &ApiServer) -> (Api<DynamicObject>, DynamicObject) {
    let ar = s.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "default"},
        "spec": {"limits": {"cpu": "100"}}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    (api, created)
}

#[tokio::test]
async fn put_with_stale_resource_version_conflicts() {
    let s = ApiServer::start().await;
    let (api, created) = nodepool(&s).await;
    let mut first = created.clone();
    first.data["spec"]["limits"]["cpu"] = json!("200");
    let updated = api
        .replace("default", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );

    let mut stale = created.clone();
    stale.data["spec"]["limits"]["cpu"] = json!("300");
    let e = api_err(api.replace("default", &PostParams::default(), &stale).await);
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Operation cannot be fulfilled on nodepools.karpenter.sh \"default\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // No resourceVersion in the body: custom resources never allow unconditional updates
    // (apiextensions' strategy), neither on the main resource nor on status.
    let mut blind = stale;
    blind.metadata.resource_version = None;
    let e = api_err(api.replace("default", &PostParams::default(), &blind).await);
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        e.message,
        "NodePool.karpenter.sh \"default\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    );
    let e = api_err(
        api.replace_status("default", &PostParams::default(), &blind)
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        s.get("karpenter.sh/v1", "NodePool", None, "default")
            .unwrap()["spec"]["limits"]["cpu"],
        "200"
    );
}

#[tokio::test]
async fn built_in_kinds_allow_unconditional_put() {
    let s = ApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("c".into());
    cm.data = Some([("k".to_string(), "1".to_string())].into());
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut blind = created.clone();
    blind.metadata.resource_version = None;
    blind.data = Some([("k".to_string(), "2".to_string())].into());
    let out = cms
        .replace("c", &PostParams::default(), &blind)
        .await
        .unwrap();
    assert_eq!(out.data.unwrap()["k"], "2");
}

#[tokio::test]
async fn generation_tracks_spec_and_noop_writes_keep_rv() {
    let s = ApiServer::start().await;
    let (api, created) = nodepool(&s).await;
    assert_eq!(created.metadata.generation, Some(1));
    let mut labelled = created.clone();
    labelled.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
    let l = api
        .replace("default", &PostParams::default(), &labelled)
        .await
        .unwrap();
    assert_eq!(
        l.metadata.generation,
        Some(1),
        "metadata changes keep generation"
    );
    assert_ne!(
        l.metadata.resource_version,
        created.metadata.resource_version
    );

    let mut spec = l.clone();
    spec.data["spec"]["limits"]["cpu"] = json!("1");
    let sp = api
        .replace("default", &PostParams::default(), &spec)
        .await
        .unwrap();
    assert_eq!(sp.metadata.generation, Some(2));

    let noop = api
        .replace("default", &PostParams::default(), &sp)
        .await
        .unwrap();
    assert_eq!(
        noop.metadata.resource_version, sp.metadata.resource_version,
        "no-op write keeps RV"
    );
    let noop_patch = api
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"limits": {"cpu": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        noop_patch.metadata.resource_version,
        sp.metadata.resource_version
    );
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let s = ApiServer::start().await;
    let (api, created) = nodepool(&s).await;
    // PUT on the main resource ignores status.
    let mut with_status = created.clone();
    with_status.data["status"] = json!({"resources": {"cpu": "8"}});
    let out = api
        .replace("default", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert!(out.data.get("status").is_none());
    // PUT on /status changes only status.
    let mut st = out.clone();
    st.data["status"] = json!({"resources": {"cpu": "8"}});
    st.data["spec"]["limits"]["cpu"] = json!("999");
    let out = api
        .replace_status("default", &PostParams::default(), &st)
        .await
        .unwrap();
    assert_eq!(out.data["status"]["resources"]["cpu"], "8");
    assert_eq!(out.data["spec"]["limits"]["cpu"], "100");
    assert_eq!(
        out.metadata.generation,
        Some(1),
        "status writes keep generation"
    );
    // PATCH on /status.
    let out = api
        .patch_status(
            "default",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"resources": {"cpu": "16"}}, "spec": {"limits": null}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(out.data["status"]["resources"]["cpu"], "16");
    assert_eq!(out.data["spec"]["limits"]["cpu"], "100");
    // PATCH on main resource ignores status.
    let out = api
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"resources": {"cpu": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(out.data["status"]["resources"]["cpu"], "16");
    let stored = s
        .get("karpenter.sh/v1", "NodePool", None, "default")
        .unwrap();
    assert_eq!(stored["status"]["resources"]["cpu"], "16");
}

#[tokio::test]
async fn put_identity_mismatch_and_kinds_without_status() {
    let s = ApiServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "v"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut renamed = created.clone();
    renamed.metadata.name = Some("d".into());
    let e = api_err(cms.replace("c", &PostParams::default(), &renamed).await);
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    let e = api_err(
        cms.replace("missing", &PostParams::default(), &{
            let mut m = created.clone();
            m.metadata.name = Some("missing".into());
            m.metadata.resource_version = None;
            m
        })
        .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));

    // Node status can be written through /status; main PUT keeps it.
    let nodes: Api<Node> = Api::all(s.client());
    s.seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "status": {"phase": "Running"}}));
    let n = nodes
        .patch(
            "n",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}, "status": {"phase": "Gone"}})),
        )
        .await
        .unwrap();
    assert_eq!(n.spec.unwrap().unschedulable, Some(true));
    assert_eq!(n.status.unwrap().phase.as_deref(), Some("Running"));
}

#[tokio::test]
async fn pod_spec_is_mostly_immutable() {
    use k8s_openapi::api::core::v1::Pod;
    let s = ApiServer::start().await;
    s.seed(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                  "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "i:1"}]}}),
    );
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    let e = api_err(
        pods.patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodeName": "b"}})),
        )
        .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message.contains("pod updates may not change fields"),
        "{}",
        e.message
    );
    let ok = pods
        .patch("p", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"containers": [{"name": "c", "image": "i:2"}], "tolerations": [{"key": "k", "operator": "Exists"}]}})))
        .await
        .unwrap();
    assert_eq!(ok.spec.unwrap().containers[0].image.as_deref(), Some("i:2"));
    // Labels and status (via /status) stay writable.
    pods.patch(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
    )
    .await
    .unwrap();
    let st = pods
        .patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().phase.as_deref(), Some("Running"));
}

#[tokio::test]
async fn dry_run_writes_change_nothing() {
    let s = ApiServer::start().await;
    let (api, created) = nodepool(&s).await;
    let rv = s.resource_version();
    let dry = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let out = api
        .patch(
            "default",
            &dry,
            &Patch::Merge(json!({"spec": {"weight": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(
        out.data["spec"]["weight"], 3,
        "the response shows the would-be result"
    );
    assert_eq!(s.resource_version(), rv);
    assert!(s
        .get("karpenter.sh/v1", "NodePool", None, "default")
        .unwrap()["spec"]
        .get("weight")
        .is_none());
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let mut other = created.clone();
    other.metadata.name = Some("other".into());
    other.metadata.resource_version = None;
    api.create(&pp, &other).await.unwrap();
    assert!(s
        .get("karpenter.sh/v1", "NodePool", None, "other")
        .is_none());
    let dp = kube::api::DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    api.delete("default", &dp).await.unwrap();
    assert!(s
        .get("karpenter.sh/v1", "NodePool", None, "default")
        .is_some());
}

#[tokio::test]
async fn kube_runtime_event_recorder_creates_then_patches_series() {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let s = ApiServer::start().await;
    let node = s.seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}));
    let recorder = Recorder::new(
        s.client(),
        Reporter {
            controller: "karpenter".into(),
            instance: None,
        },
    );
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some("n1".into()),
        uid: node["metadata"]["uid"].as_str().map(String::from),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: "DisruptionBlocked".into(),
        note: Some("pdb".into()),
        action: "Disrupt".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    recorder.publish(&ev, &reference).await.unwrap();
    let events: Api<K8sEvent> = Api::default_namespaced(s.client());
    let list = events.list(&Default::default()).await.unwrap().items;
    assert_eq!(list.len(), 1, "the second publish patches the same event");
    assert_eq!(list[0].reason.as_deref(), Some("DisruptionBlocked"));
    assert!(
        list[0].series.is_some(),
        "the repeat is recorded as a series"
    );
}

#[tokio::test]
async fn node_cordon_and_update_managers_are_tracked() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": {}}));
    let nodes: Api<Node> = Api::all(s.client());
    nodes.cordon("n").await.unwrap();
    assert_eq!(
        nodes.get("n").await.unwrap().spec.unwrap().unschedulable,
        Some(true)
    );
    let pp = PatchParams {
        field_manager: Some("karpenter".into()),
        ..Default::default()
    };
    let out = nodes
        .patch(
            "n",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"karpenter.sh/nodepool": "default"}}})),
        )
        .await
        .unwrap();
    let mf = out.metadata.managed_fields.unwrap();
    let karpenter = mf
        .iter()
        .find(|m| m.manager.as_deref() == Some("karpenter"))
        .expect("karpenter entry");
    assert_eq!(karpenter.operation.as_deref(), Some("Update"));
    let fields = serde_json::to_value(&karpenter.fields_v1).unwrap();
    assert!(
        fields["f:metadata"]["f:labels"]["f:karpenter.sh/nodepool"].is_object(),
        "{fields}"
    );
    assert!(
        fields.get("f:spec").is_none(),
        "the cordon belongs to another manager: {fields}"
    );
    nodes.uncordon("n").await.unwrap();
    assert_eq!(
        nodes.get("n").await.unwrap().spec.unwrap().unschedulable,
        Some(false)
    );
}

use crate::api_err;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use kube_double::ApiServer;
use serde_json::json;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn create_sets_server_metadata() {
    let s = ApiServer::start().await;
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    let before = s.resource_version();
    let created = pods
        .create(&PostParams::default(), &pod("p1"))
        .await
        .unwrap();
    let md = &created.metadata;
    assert_eq!(md.namespace.as_deref(), Some("default"));
    assert_eq!(md.generation, Some(1));
    assert!(md.creation_timestamp.is_some());
    assert_eq!(md.uid.as_ref().map(|u| u.len()), Some(36));
    let rv: u64 = md.resource_version.as_deref().unwrap().parse().unwrap();
    assert_eq!(rv, before + 1);
    // Pod status is reset on create, as the real pod strategy does.
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );

    let second = pods
        .create(&PostParams::default(), &pod("p2"))
        .await
        .unwrap();
    let rv2: u64 = second.metadata.resource_version.unwrap().parse().unwrap();
    assert!(rv2 > rv, "resourceVersion is one global increasing counter");
    assert_ne!(second.metadata.uid, md.uid);

    let got = pods.get("p1").await.unwrap();
    assert_eq!(got.metadata.uid, md.uid);
    assert!(s.get("v1", "Pod", Some("default"), "p1").is_some());
}

#[tokio::test]
async fn create_errors_are_real_statuses() {
    let s = ApiServer::start().await;
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    pods.create(&PostParams::default(), &pod("dup"))
        .await
        .unwrap();
    let e = api_err(pods.create(&PostParams::default(), &pod("dup")).await);
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "pods \"dup\" already exists");

    let e = api_err(pods.create(&PostParams::default(), &pod("Bad_Name")).await);
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.contains("metadata.name"), "{}", e.message);

    let missing: Api<Pod> = Api::namespaced(s.client(), "nope");
    let e = api_err(missing.create(&PostParams::default(), &pod("x")).await);
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "namespaces \"nope\" not found");

    let mut other_ns = pod("x");
    other_ns.metadata.namespace = Some("kube-system".into());
    let e = api_err(pods.create(&PostParams::default(), &other_ns).await);
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));

    let e = api_err(pods.get("ghost").await);
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "pods \"ghost\" not found");
}

#[tokio::test]
async fn generate_name_appends_a_suffix() {
    let s = ApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "cfg-"}})).unwrap();
    let a = cms.create(&PostParams::default(), &cm).await.unwrap();
    let b = cms.create(&PostParams::default(), &cm).await.unwrap();
    let (an, bn) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(an.starts_with("cfg-") && an.len() == 9, "{an}");
    assert_ne!(an, bn);
}

#[tokio::test]
async fn karpenter_kinds_are_cluster_scoped_and_served_at_both_versions() {
    let s = ApiServer::start().await;
    let v1 = s.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let v1beta1 = s.api_resource("karpenter.sh/v1beta1", "NodePool").unwrap();
    let np_v1: Api<DynamicObject> = Api::all_with(s.client(), &v1);
    let np_beta: Api<DynamicObject> = Api::all_with(s.client(), &v1beta1);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "default"},
        "spec": {"template": {"spec": {"requirements": []}}},
        "status": {"resources": {"cpu": "4"}}
    }))
    .unwrap();
    let created = np_v1.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.metadata.namespace, None);
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create for CRDs"
    );
    let as_beta = np_beta.get("default").await.unwrap();
    assert_eq!(
        as_beta.types.as_ref().unwrap().api_version,
        "karpenter.sh/v1beta1"
    );
    assert_eq!(as_beta.metadata.uid, created.metadata.uid, "stored once");
    let e = api_err(np_beta.create(&PostParams::default(), &obj).await);
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "nodepools.karpenter.sh \"default\" already exists"
    );
    assert_eq!(
        s.get("karpenter.sh/v1beta1", "NodePool", None, "default")
            .unwrap()["apiVersion"],
        "karpenter.sh/v1beta1"
    );
    for (av, kind) in [
        ("karpenter.sh/v1alpha5", "Provisioner"),
        ("karpenter.sh/v1alpha5", "Machine"),
        ("karpenter.sh/v1beta1", "NodeClaim"),
        ("karpenter.sh/v1", "NodeClaim"),
        ("karpenter.k8s.aws/v1alpha1", "AWSNodeTemplate"),
        ("karpenter.k8s.aws/v1beta1", "EC2NodeClass"),
        ("karpenter.k8s.aws/v1", "EC2NodeClass"),
    ] {
        let ar = s
            .api_resource(av, kind)
            .unwrap_or_else(|| panic!("{av} {kind}"));
        let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
        assert!(api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty());
    }
}

#[tokio::test]
async fn without_karpenter_crds_the_resources_are_404() {
    let s = ApiServer::builder().without_karpenter_crds().build().await;
    assert!(s.api_resource("karpenter.sh/v1", "NodePool").is_none());
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool"),
        "nodepools",
    );
    let api: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let e = api_err(api.list(&ListParams::default()).await);
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    // Discovery agrees.
    let d = kube::Discovery::new(s.client()).run().await.unwrap();
    assert!(!d.has_group("karpenter.sh"));
    assert!(d.has_group("apps"));
}

#[tokio::test]
async fn discovery_lists_groups_resources_and_version() {
    let s = ApiServer::start().await;
    let client = s.client();
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    let d = kube::Discovery::new(client).run().await.unwrap();
    let (ar, caps) = d
        .resolve_gvk(&GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool"))
        .unwrap();
    assert_eq!(ar.plural, "nodepools");
    assert_eq!(caps.scope, kube::discovery::Scope::Cluster);
    assert!(caps
        .subresources
        .iter()
        .any(|(sr, _)| sr.plural == "status"));
    let (_, pod_caps) = d
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Pod"))
        .unwrap();
    assert_eq!(pod_caps.scope, kube::discovery::Scope::Namespaced);
    let group = d.get("karpenter.sh").unwrap();
    assert_eq!(group.preferred_version_or_latest(), "v1");
    assert!(group.versions().any(|v| v == "v1beta1"));
}

#[tokio::test]
async fn namespaces_nodes_and_cluster_scope() {
    let s = ApiServer::start().await;
    let nss: Api<Namespace> = Api::all(s.client());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(&want.to_string()), "{names:?}");
    }
    let nodes: Api<Node> = Api::all(s.client());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "ip-10-0-0-1.ec2.internal"},
        "status": {"allocatable": {"cpu": "4"}}
    }))
    .unwrap();
    let created = nodes.create(&PostParams::default(), &node).await.unwrap();
    assert_eq!(created.metadata.namespace, None);
    assert!(created.status.is_some(), "nodes keep status on create");
    nodes
        .delete("ip-10-0-0-1.ec2.internal", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_err(nodes.get("ip-10-0-0-1.ec2.internal").await).code,
        404
    );
}

#[tokio::test]
async fn kubeconfig_yaml_builds_a_working_client() {
    let s = ApiServer::start().await;
    let dir = std::env::temp_dir().join(format!("kube-double-kc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config");
    s.write_kubeconfig(&path).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("double"));
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "from-kubeconfig"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(s
        .get("v1", "ConfigMap", Some("default"), "from-kubeconfig")
        .is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn seed_creates_namespace_and_keeps_status() {
    let s = ApiServer::start().await;
    let stored = s.seed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team-a"},
        "spec": {"containers": []},
        "status": {"phase": "Running"}
    }));
    assert_eq!(stored["status"]["phase"], "Running");
    assert!(stored["metadata"]["uid"].is_string());
    assert!(s.get("v1", "Namespace", None, "team-a").is_some());
    let pods: Api<Pod> = Api::namespaced(s.client(), "team-a");
    let p = pods.get("p").await.unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(s.list("v1", "Pod", None).len(), 1);
    assert!(s
        .try_seed(json!({"apiVersion": "v9", "kind": "Nope", "metadata": {"name": "x"}}))
        .is_err());
}

#[tokio::test]
async fn requests_are_recorded_for_no_write_assertions() {
    let s = ApiServer::start().await;
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    pods.list(&ListParams::default()).await.unwrap();
    assert!(s.writes().is_empty());
    pods.create(&PostParams::default(), &pod("w"))
        .await
        .unwrap();
    let writes = s.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].method, "POST");
    assert_eq!(writes[0].path, "/api/v1/namespaces/default/pods");
    assert_eq!(writes[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(writes[0].json().unwrap()["metadata"]["name"], "w");
}

#[tokio::test]
async fn create_with_resource_version_is_rejected_like_etcd3() {
    let s = ApiServer::start().await;
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    let created = pods
        .create(&PostParams::default(), &pod("a"))
        .await
        .unwrap();
    let mut copy = created.clone();
    copy.metadata.name = Some("b".into());
    let e = api_err(pods.create(&PostParams::default(), &copy).await);
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        "resourceVersion should not be set on objects to be created"
    );
}

#[tokio::test]
async fn every_builtin_kind_is_served_where_k8s_openapi_expects_it() {
    use k8s_openapi::api::{apps, batch, coordination, core, events, policy, rbac, storage};
    use kube::core::ApiResource;
    let s = ApiServer::start().await;
    let namespaced = [
        ApiResource::erase::<core::v1::Pod>(&()),
        ApiResource::erase::<core::v1::ConfigMap>(&()),
        ApiResource::erase::<core::v1::Event>(&()),
        ApiResource::erase::<core::v1::ServiceAccount>(&()),
        ApiResource::erase::<core::v1::Secret>(&()),
        ApiResource::erase::<core::v1::PersistentVolumeClaim>(&()),
        ApiResource::erase::<apps::v1::DaemonSet>(&()),
        ApiResource::erase::<apps::v1::Deployment>(&()),
        ApiResource::erase::<policy::v1::PodDisruptionBudget>(&()),
        ApiResource::erase::<coordination::v1::Lease>(&()),
        ApiResource::erase::<events::v1::Event>(&()),
        ApiResource::erase::<batch::v1::CronJob>(&()),
    ];
    let cluster = [
        ApiResource::erase::<core::v1::Node>(&()),
        ApiResource::erase::<core::v1::Namespace>(&()),
        ApiResource::erase::<core::v1::PersistentVolume>(&()),
        ApiResource::erase::<rbac::v1::ClusterRole>(&()),
        ApiResource::erase::<rbac::v1::ClusterRoleBinding>(&()),
        ApiResource::erase::<storage::v1::StorageClass>(&()),
    ];
    for ar in &namespaced {
        let api: Api<DynamicObject> = Api::namespaced_with(s.client(), "default", ar);
        let obj = DynamicObject::new("probe", ar);
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ar.kind));
        assert_eq!(
            created.metadata.namespace.as_deref(),
            Some("default"),
            "{}",
            ar.kind
        );
        // Cluster-scoped paths do not exist for namespaced kinds.
        let wrong: Api<DynamicObject> = Api::all_with(s.client(), ar);
        assert_eq!(api_err(wrong.get("probe").await).code, 404, "{}", ar.kind);
    }
    for ar in &cluster {
        let api: Api<DynamicObject> = Api::all_with(s.client(), ar);
        let created = api
            .create(&PostParams::default(), &DynamicObject::new("probe", ar))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ar.kind));
        assert_eq!(created.metadata.namespace, None, "{}", ar.kind);
        let wrong: Api<DynamicObject> = Api::namespaced_with(s.client(), "default", ar);
        assert_eq!(
            api_err(wrong.list(&ListParams::default()).await).code,
            404,
            "{}",
            ar.kind
        );
    }
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let s = ApiServer::start().await;
    s.seed(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}));
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/default/configmaps/c")
        .header("content-type", "application/json")
        .body(b"{}".to_vec())
        .unwrap();
    let e = api_err(s.client().request::<ConfigMap>(req).await);
    assert_eq!((e.code, e.reason.as_str()), (405, "MethodNotAllowed"));
}

#[tokio::test]
async fn raw_discovery_documents_and_unknown_paths() {
    let s = ApiServer::start().await;
    let get = |path: &str| http::Request::builder().uri(path).body(Vec::new()).unwrap();
    let client = s.client();
    let group: serde_json::Value = client.request(get("/apis/karpenter.sh")).await.unwrap();
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(group["preferredVersion"]["version"], "v1");
    let versions: Vec<&str> = group["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["v1", "v1beta1", "v1alpha5"]);
    let core: serde_json::Value = client.request(get("/api/v1")).await.unwrap();
    let eviction = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/eviction")
        .expect("pods/eviction listed");
    assert_eq!(eviction["kind"], "Eviction");
    assert_eq!(eviction["group"], "policy");
    let e = api_err(
        client
            .request::<serde_json::Value>(get("/apis/example.com/v1/widgets"))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(
        e.message,
        "the server could not find the requested resource"
    );
    let e = api_err(
        client
            .request::<serde_json::Value>(get("/api/v1/namespaces/default/pods/p/exec"))
            .await,
    );
    assert_eq!(e.code, 404);
}

/// The server has its own thread: a test may block its runtime (as on a CLI subprocess).
#[tokio::test]
async fn server_answers_while_the_test_runtime_is_blocked() {
    let s = ApiServer::start().await;
    let url = s.url();
    // A plain blocking HTTP/1.0 request from this (only) runtime thread.
    let addr = url.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    conn.write_all(b"GET /version HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
        "{response}"
    );
    assert!(response.contains("\"gitVersion\""), "{response}");
}

#[tokio::test]
async fn object_meta_labels_and_annotations_are_validated_on_every_write() {
    let s = ApiServer::start().await;
    let ar = s.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let pools: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let pool = |labels: serde_json::Value, annotations: serde_json::Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "p", "labels": labels, "annotations": annotations},
            "spec": {}
        }))
        .unwrap()
    };
    let invalid = |e: kube::core::Status, field: &str| {
        assert_eq!(
            (e.code, e.reason.as_str()),
            (422, "Invalid"),
            "{}",
            e.message
        );
        assert!(e.message.contains(field), "{}", e.message);
    };
    let pp = PostParams::default();
    invalid(
        api_err(
            pools
                .create(&pp, &pool(json!({"env": "has space"}), json!({})))
                .await,
        ),
        "metadata.labels: Invalid value: \"has space\"",
    );
    invalid(
        api_err(
            pools
                .create(&pp, &pool(json!({"a/b/c": "x"}), json!({})))
                .await,
        ),
        "metadata.labels: Invalid value: \"a/b/c\"",
    );
    invalid(
        api_err(
            pools
                .create(&pp, &pool(json!({"env": "x".repeat(64)}), json!({})))
                .await,
        ),
        "metadata.labels",
    );
    invalid(
        api_err(
            pools
                .create(&pp, &pool(json!({}), json!({"-bad-": "v"})))
                .await,
        ),
        "metadata.annotations: Invalid value: \"-bad-\"",
    );
    invalid(
        api_err(
            pools
                .create(&pp, &pool(json!({}), json!({"big": "x".repeat(262_145)})))
                .await,
        ),
        "metadata.annotations: Too long: must have at most 262144 bytes",
    );
    assert!(s.list("karpenter.sh/v1", "NodePool", None).is_empty());

    // Valid metadata passes, including empty label values and long annotation values.
    let created = pools
        .create(
            &pp,
            &pool(
                json!({"env": "", "example.com/team": "A.b_c-1"}),
                json!({"karpenter.kubectl.io/scale-to-zero-saved-limits": "{\"version\":1}"}),
            ),
        )
        .await
        .unwrap();
    // Updates and patches are validated too.
    let mut bad = created.clone();
    bad.metadata.labels = Some([("env".to_string(), "bad value".to_string())].into());
    invalid(
        api_err(pools.replace("p", &pp, &bad).await),
        "metadata.labels",
    );
    invalid(
        api_err(
            pools
                .patch(
                    "p",
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(json!({"metadata": {"annotations": {"a b": "c"}}})),
                )
                .await,
        ),
        "metadata.annotations",
    );
    // Non-string values cannot be decoded into ObjectMeta.
    let e = api_err(
        pools
            .patch(
                "p",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({"metadata": {"labels": {"n": 1}}})),
            )
            .await,
    );
    assert_eq!(
        (e.code, e.reason.as_str()),
        (400, "BadRequest"),
        "{}",
        e.message
    );
    let stored = s.get("karpenter.sh/v1", "NodePool", None, "p").unwrap();
    assert_eq!(stored["metadata"]["labels"]["env"], "");
}

use crate::api_err;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube_double::ApiServer;
use serde_json::json;

fn seed_pod(
    s: &ApiServer,
    ns: &str,
    name: &str,
    labels: serde_json::Value,
    node: &str,
    phase: &str,
) {
    s.seed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": []},
        "status": {"phase": phase}
    }));
}

fn names(items: Vec<Pod>) -> Vec<String> {
    items.into_iter().filter_map(|p| p.metadata.name).collect()
}

#[tokio::test]
async fn label_selectors_cover_every_operator() {
    let s = ApiServer::start().await;
    seed_pod(
        &s,
        "default",
        "a",
        json!({"app": "web", "tier": "front"}),
        "n1",
        "Running",
    );
    seed_pod(&s, "default", "b", json!({"app": "db"}), "n1", "Running");
    seed_pod(
        &s,
        "default",
        "c",
        json!({"app": "cache", "tier": "back"}),
        "n2",
        "Pending",
    );
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    let sel = |q: &str| ListParams::default().labels(q);
    let cases = [
        ("app=web", vec!["a"]),
        ("app==db", vec!["b"]),
        ("app!=web", vec!["b", "c"]),
        ("app in (web,cache)", vec!["a", "c"]),
        ("app notin (web,cache)", vec!["b"]),
        ("tier", vec!["a", "c"]),
        ("!tier", vec!["b"]),
        ("tier,app!=cache", vec!["a"]),
    ];
    for (q, want) in cases {
        let got = names(pods.list(&sel(q)).await.unwrap().items);
        assert_eq!(got, want, "selector {q}");
    }
    let e = api_err(pods.list(&sel("app in web")).await);
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
}

#[tokio::test]
async fn field_selectors_per_kind_and_unsupported_fields() {
    let s = ApiServer::start().await;
    seed_pod(&s, "default", "a", json!({}), "n1", "Running");
    seed_pod(&s, "default", "b", json!({}), "n2", "Running");
    seed_pod(&s, "default", "c", json!({}), "n1", "Succeeded");
    seed_pod(&s, "other", "d", json!({}), "n1", "Running");
    let all: Api<Pod> = Api::all(s.client());
    let f = |q: &str| ListParams::default().fields(q);
    assert_eq!(
        names(all.list(&f("spec.nodeName=n1")).await.unwrap().items),
        vec!["a", "c", "d"]
    );
    assert_eq!(
        names(
            all.list(&f("spec.nodeName=n1,status.phase!=Succeeded"))
                .await
                .unwrap()
                .items
        ),
        vec!["a", "d"]
    );
    assert_eq!(
        names(
            all.list(&f("metadata.namespace=other"))
                .await
                .unwrap()
                .items
        ),
        vec!["d"]
    );
    assert_eq!(
        names(all.list(&f("metadata.name=b")).await.unwrap().items),
        vec!["b"]
    );
    let e = api_err(all.list(&f("spec.hostname=x")).await);
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    assert!(
        e.message
            .contains("field label not supported: spec.hostname"),
        "{}",
        e.message
    );

    s.seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {"unschedulable": true}}));
    s.seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}, "spec": {}}));
    let nodes: Api<Node> = Api::all(s.client());
    let sched: Vec<String> = nodes
        .list(&f("spec.unschedulable=false"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(sched, vec!["n2"]);
    let e = api_err(nodes.list(&f("status.phase=Running")).await);
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn pagination_with_limit_and_continue() {
    let s = ApiServer::start().await;
    for i in 0..7 {
        seed_pod(&s, "default", &format!("p{i}"), json!({}), "n", "Running");
    }
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = pods.list(&lp).await.unwrap();
        pages += 1;
        let expected_remaining = match pages {
            1 => Some(4),
            2 => Some(1),
            _ => None,
        };
        assert_eq!(page.metadata.remaining_item_count, expected_remaining);
        assert!(page.items.len() <= 3);
        assert!(page.metadata.resource_version.is_some());
        seen.extend(names(page.items));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..7).map(|i| format!("p{i}")).collect::<Vec<_>>());
    let e = api_err(
        pods.list(&ListParams::default().continue_token("not-a-token"))
            .await,
    );
    assert_eq!(e.code, 400);
    // Every list carries the current global resourceVersion.
    let list = pods.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.metadata.resource_version,
        Some(s.resource_version().to_string())
    );
}

#[tokio::test]
async fn all_namespaces_list() {
    let s = ApiServer::start().await;
    seed_pod(&s, "a", "x", json!({}), "n", "Running");
    seed_pod(&s, "b", "y", json!({}), "n", "Running");
    let all: Api<Pod> = Api::all(s.client());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
    let only_a: Api<Pod> = Api::namespaced(s.client(), "a");
    assert_eq!(
        names(only_a.list(&ListParams::default()).await.unwrap().items),
        vec!["x"]
    );
    assert!(s.requests().iter().any(|r| r.path == "/api/v1/pods"));
}

#[tokio::test]
async fn metadata_only_requests_get_partial_object_metadata() {
    use futures::StreamExt;
    use kube::core::PartialObjectMeta;
    use kube::runtime::watcher;
    let s = ApiServer::start().await;
    seed_pod(&s, "default", "m", json!({"app": "web"}), "n1", "Running");
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    let one = pods.get_metadata("m").await.unwrap();
    assert_eq!(one.metadata.name.as_deref(), Some("m"));
    assert_eq!(one.types.unwrap().kind, "PartialObjectMetadata");
    let list = pods
        .list_metadata(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(
        list.items[0].metadata.labels.as_ref().unwrap()["app"],
        "web"
    );
    // The raw body carries no spec or status.
    let req = http::Request::builder()
        .uri("/api/v1/namespaces/default/pods/m")
        .header(
            "accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        )
        .body(Vec::new())
        .unwrap();
    let raw: serde_json::Value = s.client().request(req).await.unwrap();
    assert!(
        raw.get("spec").is_none() && raw.get("status").is_none(),
        "{raw}"
    );
    let meta: Api<PartialObjectMeta<Pod>> = Api::namespaced(s.client(), "default");
    let mut stream = watcher(meta, watcher::Config::default()).boxed();
    let mut names = Vec::new();
    while let Some(ev) = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .unwrap()
    {
        match ev.unwrap() {
            watcher::Event::InitApply(p) => names.push(p.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(names, vec!["m"]);
}

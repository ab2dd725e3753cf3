use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use kube_double::ApiServer;
use serde_json::json;
use std::time::Duration;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "x"}}})).unwrap()
}

async fn next_event(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("watch event within 5s")
        .expect("stream open")
        .expect("event decodes")
}

fn describe(e: &WatchEvent<ConfigMap>) -> String {
    match e {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

#[tokio::test]
async fn watch_from_zero_sends_existing_then_changes_in_order() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "default"}}));
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let mut stream = cms
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED old");
    cms.create(&PostParams::default(), &cm("new"))
        .await
        .unwrap();
    cms.patch(
        "new",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    cms.delete("new", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(describe(&next_event(&mut stream).await));
    }
    assert_eq!(seen, vec!["ADDED new", "MODIFIED new", "DELETED new"]);
}

#[tokio::test]
async fn watch_from_resource_version_replays_only_later_changes() {
    let s = ApiServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let b = cms.create(&PostParams::default(), &cm("b")).await.unwrap();
    cms.create(&PostParams::default(), &cm("c")).await.unwrap();
    // Changes to other kinds do not show up.
    s.seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}));
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let rv = b.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED c");
    assert_eq!(describe(&next_event(&mut stream).await), "DELETED a");
}

#[tokio::test]
async fn too_old_resource_version_is_410_error_event() {
    let s = ApiServer::builder().watch_history(2).build().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let first = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    for n in ["b", "c", "d"] {
        cms.create(&PostParams::default(), &cm(n)).await.unwrap();
    }
    let rv = first.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut stream).await {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected 410, got {}", describe(&other)),
    }
    assert!(tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn bookmarks_and_timeout_end_the_stream() {
    let s = ApiServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let created = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let wp = WatchParams {
        bookmarks: true,
        ..WatchParams::default()
    }
    .timeout(1);
    let mut stream = cms.watch(&wp, &rv).await.unwrap().boxed();
    let ev = next_event(&mut stream).await;
    assert_eq!(describe(&ev), format!("BOOKMARK {rv}"));
    assert!(tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn selector_transitions_become_added_and_deleted() {
    let s = ApiServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let created = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let wp = WatchParams::default().labels("app=y");
    let mut stream = cms
        .watch(&wp, &created.metadata.resource_version.unwrap())
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "y"}}})),
    )
    .await
    .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED a");
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "MODIFIED a");
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "z"}}})),
    )
    .await
    .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "DELETED a");
}

#[tokio::test]
async fn kube_runtime_watcher_lists_watches_and_relists_after_410() {
    let s = ApiServer::builder().watch_history(1).build().await;
    s.seed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p0", "namespace": "default"}, "spec": {"containers": []}}));
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    let mut stream = watcher(pods.clone(), watcher::Config::default()).boxed();
    let name = |p: &Pod| p.metadata.name.clone().unwrap();
    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::Init
    ));
    match next(&mut stream).await.unwrap() {
        watcher::Event::InitApply(p) => assert_eq!(name(&p), "p0"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::InitDone
    ));
    // A change through the API arrives as Apply.
    let p1: Pod =
        serde_json::from_value(json!({"metadata": {"name": "p1"}, "spec": {"containers": []}}))
            .unwrap();
    pods.create(&PostParams::default(), &p1).await.unwrap();
    match next(&mut stream).await.unwrap() {
        watcher::Event::Apply(p) => assert_eq!(name(&p), "p1"),
        other => panic!("{other:?}"),
    }
    pods.delete("p0", &DeleteParams::default()).await.unwrap();
    match next(&mut stream).await.unwrap() {
        watcher::Event::Delete(p) => assert_eq!(name(&p), "p0"),
        other => panic!("{other:?}"),
    }
    // Two writes stored atomically overflow the one-change history before the open watch can
    // read them: it gets 410, the watcher reports it and re-lists.
    s.seed_all(vec![
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p2", "namespace": "default"}, "spec": {"containers": []}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p3", "namespace": "default"}, "spec": {"containers": []}}),
    ]);
    match next(&mut stream).await {
        Err(watcher::Error::WatchError(st)) => assert_eq!(st.code, 410),
        other => panic!("expected the 410 watch error, got {other:?}"),
    }
    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::Init
    ));
    let mut relisted = Vec::new();
    loop {
        match next(&mut stream).await.unwrap() {
            watcher::Event::InitApply(p) => relisted.push(name(&p)),
            watcher::Event::InitDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(relisted, vec!["p1", "p2", "p3"]);
    let lists = s
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.query.as_deref().is_some_and(|q| !q.contains("watch")))
        .count();
    assert!(lists >= 2, "the watcher re-listed");
}

type PodEvents = futures::stream::BoxStream<'static, Result<watcher::Event<Pod>, watcher::Error>>;

async fn next(stream: &mut PodEvents) -> Result<watcher::Event<Pod>, watcher::Error> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("watcher event within 5s")
        .expect("watcher stream open")
}

#[tokio::test]
async fn kube_runtime_watcher_with_streaming_lists() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p0", "namespace": "default"}, "spec": {"containers": []}}));
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    let mut stream = watcher(pods.clone(), watcher::Config::default().streaming_lists()).boxed();
    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::Init
    ));
    match next(&mut stream).await.unwrap() {
        watcher::Event::InitApply(p) => assert_eq!(p.metadata.name.as_deref(), Some("p0")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::InitDone
    ));
    s.seed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "default"}, "spec": {"containers": []}}));
    match next(&mut stream).await.unwrap() {
        watcher::Event::Apply(p) => assert_eq!(p.metadata.name.as_deref(), Some("p1")),
        other => panic!("{other:?}"),
    }
    assert!(
        s.requests()
            .iter()
            .all(|r| r.query.as_deref().is_some_and(|q| q.contains("watch"))),
        "no list call"
    );
}

#[tokio::test]
async fn watch_with_field_selector_across_namespaces() {
    let s = ApiServer::start().await;
    let pods: Api<Pod> = Api::all(s.client());
    let wp = WatchParams::default().fields("spec.nodeName=n1");
    let mut stream = pods.watch(&wp, "0").await.unwrap().boxed();
    s.seed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "off", "namespace": "a"}, "spec": {"nodeName": "n2", "containers": []}}));
    s.seed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on", "namespace": "b"}, "spec": {"nodeName": "n1", "containers": []}}));
    let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Added(p) => assert_eq!(
            (p.metadata.namespace.as_deref(), p.metadata.name.as_deref()),
            (Some("b"), Some("on"))
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn direct_modify_and_delete_emit_watch_events() {
    let s = ApiServer::start().await;
    s.seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "finalizers": ["karpenter.sh/termination"]}, "spec": {}}));
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(s.client());
    let mut stream = nodes
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let kind = |e: WatchEvent<k8s_openapi::api::core::v1::Node>| match e {
        WatchEvent::Added(_) => "ADDED",
        WatchEvent::Modified(_) => "MODIFIED",
        WatchEvent::Deleted(_) => "DELETED",
        _ => "OTHER",
    };
    let mut next = async || {
        kind(
            tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
        )
    };
    assert_eq!(next().await, "ADDED");
    let ready = s
        .modify("v1", "Node", None, "n", |n| {
            n["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        })
        .unwrap();
    assert_eq!(ready["status"]["conditions"][0]["status"], "True");
    assert_eq!(next().await, "MODIFIED");
    assert!(
        s.delete("v1", "Node", None, "n").unwrap()["metadata"]["deletionTimestamp"].is_string()
    );
    assert_eq!(next().await, "MODIFIED");
    s.modify("v1", "Node", None, "n", |n| {
        n["metadata"]["finalizers"] = json!([])
    });
    assert_eq!(next().await, "DELETED");
    assert!(s.get("v1", "Node", None, "n").is_none());
    assert!(s.modify("v1", "Node", None, "n", |_| {}).is_none());
}

#[tokio::test]
async fn watcher_survives_closed_watches_and_expired_history() {
    let s = ApiServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(s.client());
    let mut stream = watcher(pods.clone(), watcher::Config::default()).boxed();
    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::Init
    ));
    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::InitDone
    ));
    let watches = |s: &ApiServer| {
        s.requests()
            .iter()
            .filter(|r| r.query.as_deref().is_some_and(|q| q.contains("watch=true")))
            .count()
    };
    let pod = |name: &str| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": {"containers": []}});
    let applied = |e: watcher::Event<Pod>| match e {
        watcher::Event::Apply(p) => p.metadata.name.unwrap(),
        other => panic!("expected Apply, got {other:?}"),
    };
    s.seed(pod("a"));
    assert_eq!(applied(next(&mut stream).await.unwrap()), "a");
    assert_eq!(watches(&s), 1);
    // A closed watch is simply re-established from the last resourceVersion.
    s.close_watches();
    s.seed(pod("b"));
    assert_eq!(applied(next(&mut stream).await.unwrap()), "b");
    assert_eq!(watches(&s), 2, "b arrived on a new watch");
    // After a compaction the resumed watch gets 410 and the watcher re-lists.
    s.close_watches();
    s.seed(pod("c"));
    s.expire_watch_history();
    match next(&mut stream).await {
        Err(watcher::Error::WatchError(st)) => assert_eq!(st.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::Init
    ));
    let mut names = Vec::new();
    loop {
        match next(&mut stream).await.unwrap() {
            watcher::Event::InitApply(p) => names.push(p.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(names, vec!["a", "b", "c"]);
}

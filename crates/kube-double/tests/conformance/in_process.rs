//! The in-process double (`ApiServer::start_in_process`): the same semantics through kube's
//! client with no socket, and tokio's paused time running hours of virtual time at once while
//! watches and a reflector stay live.

use crate::api_err;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube_double::{ApiServer, Now};
use serde_json::json;
use std::time::Duration;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "x"}}})).unwrap()
}

/// 2026-01-01T00:00:00Z.
const EPOCH: i64 = 1_767_225_600;

/// A double whose timestamps follow tokio's (possibly paused) clock from [`EPOCH`].
fn virtual_double() -> ApiServer {
    let start = tokio::time::Instant::now();
    ApiServer::builder()
        .with_clock(Now::from_fn(move || {
            EPOCH + start.elapsed().as_secs() as i64
        }))
        .build_in_process()
}

#[tokio::test]
async fn crud_and_errors_through_the_in_process_client() {
    let s = ApiServer::start_in_process();
    assert!(s.is_in_process());
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let created = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    assert_eq!(created.metadata.resource_version.as_deref(), Some("5"));
    assert!(created.metadata.uid.is_some());
    let err = api_err(cms.create(&PostParams::default(), &cm("a")).await);
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    let got = cms.get("a").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "v");
    cms.create(&PostParams::default(), &cm("b")).await.unwrap();
    let listed = cms
        .list(&ListParams::default().labels("app=x").limit(1))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.continue_.is_some());
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let err = api_err(cms.get("a").await);
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    // custom resources too, through discovery-free dynamic APIs
    let ar = s.api_resource("karpenter.sh/v1", "NodePool").unwrap();
    let pools: Api<DynamicObject> = Api::all_with(s.client(), &ar);
    let pool: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "default"}, "spec": {"limits": {"cpu": "10"}}
    }))
    .unwrap();
    pools.create(&PostParams::default(), &pool).await.unwrap();
    assert_eq!(s.list("karpenter.sh/v1", "NodePool", None).len(), 1);
    // the same request log as over HTTP
    let writes: Vec<_> = s
        .writes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        writes,
        [
            "POST /api/v1/namespaces/default/configmaps",
            "POST /api/v1/namespaces/default/configmaps",
            "PATCH /api/v1/namespaces/default/configmaps/a",
            "POST /api/v1/namespaces/default/configmaps",
            "DELETE /api/v1/namespaces/default/configmaps/a",
            "POST /apis/karpenter.sh/v1/nodepools",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_watch_survives_virtual_time_and_sees_later_writes() {
    let s = virtual_double();
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let mut stream = cms
        .watch(&kube::api::WatchParams::default().timeout(290), "0")
        .await
        .unwrap()
        .boxed();
    // nothing to send: the watch's pending read must not keep paused time from advancing
    tokio::time::sleep(Duration::from_secs(200)).await;
    cms.create(&PostParams::default(), &cm("late"))
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the event arrives within 5 virtual seconds")
        .expect("the watch is still open")
        .unwrap();
    match ev {
        kube::api::WatchEvent::Added(o) => {
            assert_eq!(o.metadata.name.as_deref(), Some("late"));
            // the double stamped the virtual time, not the wall time
            let ts = o.metadata.creation_timestamp.unwrap().0.as_second();
            assert_eq!(ts, EPOCH + 200);
        }
        other => panic!("expected ADDED late, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_hour_of_paused_time_passes_at_once_under_a_live_reflector() {
    let s = virtual_double();
    s.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seeded", "namespace": "default"}}));
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(cms.clone(), watcher::Config::default()))
        .applied_objects()
        .boxed();
    let errors = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen_errors = errors.clone();
    let task = tokio::spawn(stream.for_each(move |r| {
        if r.is_err() {
            seen_errors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        futures::future::ready(())
    }));
    reader.wait_until_ready().await.unwrap();
    assert_eq!(reader.state().len(), 1);

    let wall = std::time::Instant::now();
    let virt = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(virt.elapsed() >= Duration::from_secs(3600));
    // an hour of virtual time, not of wall time (the bound only tells "instant" from "an hour")
    assert!(
        wall.elapsed() < Duration::from_secs(60),
        "{:?}",
        wall.elapsed()
    );

    cms.create(&PostParams::default(), &cm("after"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while reader.state().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the reflector sees the write made after the hour");
    let after = reader
        .state()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some("after"))
        .unwrap();
    assert_eq!(
        after
            .metadata
            .creation_timestamp
            .as_ref()
            .unwrap()
            .0
            .as_second(),
        EPOCH + 3600
    );
    task.abort();

    // The watcher listed once and then kept watching: each watch ran to its 290 s timeout and
    // was resumed from its resourceVersion, never failing into a re-list.
    assert_eq!(errors.load(std::sync::atomic::Ordering::SeqCst), 0);
    let reqs = s.requests();
    let watch = |r: &&kube_double::RecordedRequest| {
        r.query.as_deref().is_some_and(|q| q.contains("watch=true"))
    };
    let lists = reqs
        .iter()
        .filter(|r| r.method == "GET" && !watch(r))
        .count();
    let watches = reqs.iter().filter(watch).count();
    assert_eq!(lists, 1, "{reqs:#?}");
    assert!(watches >= 3600 / 290, "{watches} watches in an hour");
}

#[tokio::test]
async fn the_request_log_can_be_switched_off() {
    let s = ApiServer::builder()
        .without_request_log()
        .build_in_process();
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client());
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    assert!(s.requests().is_empty());
    assert_eq!(s.list("v1", "ConfigMap", Some("default")).len(), 1);
}

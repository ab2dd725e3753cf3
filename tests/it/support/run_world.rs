//! The end-to-end harness for `run`'s controllers: the API-server double, a cloud provider
//! (in memory or AWS over moto), the controllers, and the simulated kubelet and kube-scheduler
//! of `src/controllers/sim`. Shared by every `run_*` test module.
#![allow(dead_code)]
use std::sync::Arc;
use std::time::Duration;

use karpenter_scheduling::{Catalog, OverheadOptions};
use kube_double::ApiServer;
use kubectl_karpenter::cloud::provider::{CloudProvider, InMemoryProvider, SystemClock};
use kubectl_karpenter::controllers::clock::TokioClock;
use kubectl_karpenter::controllers::sim::kubelet::Kubelet;
use kubectl_karpenter::controllers::sim::replicaset::ReplicaSets;
use kubectl_karpenter::controllers::sim::scheduler::Scheduler;
use kubectl_karpenter::controllers::{self, Clock, Settings};
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";

pub fn node_class() -> Value {
    json!({
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        "spec": {"role": "KarpenterNodeRole", "amiSelectorTerms": [{"alias": "al2023@latest"}],
                 "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "demo"}}],
                 "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "demo"}}]}
    })
}

pub fn node_pool(name: &str, limits: Option<Value>) -> Value {
    let mut np = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": {"team": "web"}, "annotations": {"example.com/owner": "web"}},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                    "requirements": [
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m"]},
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {"key": "node.kubernetes.io/instance-type", "operator": "Exists", "minValues": 2}
                    ],
                    "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
                    "expireAfter": "336h",
                    "terminationGracePeriod": "1h"
                }
            },
            "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "0s"}
        }
    });
    if let Some(l) = limits {
        np["spec"]["limits"] = l;
    }
    np
}

/// A Deployment's pod (owned by its ReplicaSet), not yet looked at by the scheduler.
pub fn pod(name: &str, cpu: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "web-7d4b9", "uid": "rs-uid", "controller": true}]},
        "spec": {
            "containers": [{"name": "app", "image": "nginx",
                            "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}],
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}]
        },
        "status": {"phase": "Pending"}
    })
}

pub struct World<P: CloudProvider + 'static = InMemoryProvider> {
    pub server: ApiServer,
    pub provider: Arc<P>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    pub controllers: Option<controllers::Controllers>,
    /// The simulated ReplicaSet controller (evicted pods come back pending).
    pub replica_sets: Arc<ReplicaSets>,
}

pub fn in_memory() -> Arc<InMemoryProvider> {
    let provider = Arc::new(InMemoryProvider::new("demo", Arc::new(SystemClock)));
    provider.set_instance_types(
        Catalog::embedded()
            .instance_types(REGION, &OverheadOptions::default())
            .unwrap(),
    );
    provider
}

impl World<InMemoryProvider> {
    pub async fn start(objects: Vec<Value>) -> Self {
        Self::start_with(in_memory(), REGION, objects, |_| {}, true).await
    }
}

impl<P: CloudProvider + 'static> World<P> {
    /// Start over `provider` with `tune` applied to the settings, with or without the
    /// simulated kubelet.
    pub async fn start_with(
        provider: Arc<P>,
        region: &str,
        objects: Vec<Value>,
        tune: impl FnOnce(&mut Settings),
        with_kubelet: bool,
    ) -> Self {
        let server = ApiServer::start().await;
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        server.seed_all(objects);
        Self::start_over(server, provider, region, tune, with_kubelet)
    }

    /// Kill every controller, the kubelet and the scheduler as a crash would (their tasks are
    /// aborted wherever they are, mid-call included), then start fresh ones — a restarted
    /// `run`, with empty caches — over the same API server with `provider`.
    pub fn restart<Q: CloudProvider + 'static>(
        mut self,
        provider: Arc<Q>,
        region: &str,
        tune: impl FnOnce(&mut Settings),
        with_kubelet: bool,
    ) -> World<Q> {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(c) = self.controllers.take() {
            c.abort();
        }
        World::start_over(self.server, provider, region, tune, with_kubelet)
    }

    /// The controllers' shared context (to call a controller's pass directly).
    pub fn context(&self) -> &Arc<controllers::Context> {
        &self
            .controllers
            .as_ref()
            .expect("controllers running")
            .context
    }

    fn start_over(
        server: ApiServer,
        provider: Arc<P>,
        region: &str,
        tune: impl FnOnce(&mut Settings),
        with_kubelet: bool,
    ) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::default());
        let mut settings = Settings::new(region);
        settings.batch_idle_duration = Duration::from_millis(200);
        settings.batch_max_duration = Duration::from_secs(2);
        settings.name_seed = Some(42);
        // disruption acts only in tests that ask for it (they shorten the poll)
        settings.disruption_poll_period = Duration::from_secs(3600);
        settings.disruption_validation_delay = Duration::from_millis(500);
        settings.min_drain_time = Duration::from_millis(200);
        tune(&mut settings);
        let ctl = controllers::start(server.client(), provider.clone(), clock.clone(), settings);
        let mut kubelet = Kubelet::new(
            server.client(),
            provider.clone(),
            clock.clone(),
            Duration::from_millis(300),
        );
        kubelet.poll = Duration::from_millis(100);
        let mut replica_sets = ReplicaSets::new(server.client(), clock.clone());
        replica_sets.poll = Duration::from_millis(100);
        let replica_sets = Arc::new(replica_sets);
        let mut scheduler = Scheduler::new(server.client(), clock);
        scheduler.poll = Duration::from_millis(100);
        let mut tasks = vec![
            tokio::spawn(Arc::new(scheduler).run()),
            tokio::spawn(replica_sets.clone().run()),
        ];
        if with_kubelet {
            tasks.push(tokio::spawn(Arc::new(kubelet).run()));
        }
        World {
            server,
            provider,
            tasks,
            controllers: Some(ctl),
            replica_sets,
        }
    }

    pub fn list(&self, api_version: &str, kind: &str) -> Vec<Value> {
        self.server.list(api_version, kind, None)
    }

    /// Poll `done` every 50 ms for up to 60 s.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Self) -> bool) {
        for _ in 0..1200 {
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting until {what}\nnodeclaims: {:#}\nnodes: {:#}\npods: {:#}",
            json!(self.list("karpenter.sh/v1", "NodeClaim")),
            json!(self.list("v1", "Node")),
            json!(self.list("v1", "Pod")),
        );
    }

    pub fn unbound(&self) -> Vec<String> {
        self.list("v1", "Pod")
            .into_iter()
            .filter(|p| {
                p.pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            })
            .map(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    pub fn stop(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(c) = self.controllers.take() {
            c.abort();
        }
    }
}

pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a str> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["status"].as_str())
}

pub fn all_initialized<P: CloudProvider>(w: &World<P>) -> bool {
    let claims = w.list("karpenter.sh/v1", "NodeClaim");
    !claims.is_empty()
        && claims
            .iter()
            .all(|c| condition(c, "Initialized") == Some("True"))
}

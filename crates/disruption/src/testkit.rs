//! Test fixtures: a small catalog, NodePools, nodes and pods built by hand.
#![cfg(test)]

use std::collections::BTreeMap;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use karpenter_api::sh::v1;
use karpenter_scheduling::instancetype::{ON_DEMAND, SPOT};
use karpenter_scheduling::labels as l;
use karpenter_scheduling::model::RunningPod;
use karpenter_scheduling::requirements::{NodeSelectorRequirement, Operator};
use karpenter_scheduling::{ExistingNode, InstanceType, NodePool, Offering, Pod, Resources};

use crate::input::{BoundPod, DisruptionInput, NodeInput, PodBlock};
use crate::price::node_price;
use crate::timing::PoolSettings;

pub const NOW: &str = "2026-03-02T12:00:00Z";
pub const GI: i64 = 1 << 30;

pub fn now() -> Timestamp {
    NOW.parse().unwrap()
}

pub fn ty(name: &str, cpu: i64, mem_gi: i64, od: f64) -> InstanceType {
    let family = name.split('.').next().unwrap().to_string();
    let mut offerings = Vec::new();
    for zone in ["us-east-1a", "us-east-1b"] {
        offerings.push(Offering {
            zone: zone.into(),
            capacity_type: ON_DEMAND.into(),
            price: od,
            available: true,
        });
        offerings.push(Offering {
            zone: zone.into(),
            capacity_type: SPOT.into(),
            price: od * 0.4,
            available: true,
        });
    }
    let mut capacity = Resources::cpu_mem(cpu * 1000, mem_gi * GI);
    capacity.pods = 110;
    InstanceType::new(
        name,
        BTreeMap::from([
            (l::INSTANCE_FAMILY.to_string(), family),
            (l::ARCH.to_string(), "amd64".to_string()),
            (l::OS.to_string(), "linux".to_string()),
        ]),
        capacity,
        Resources::default(),
        offerings,
    )
}

/// m5.large (2/8, $0.096) … m5.4xlarge (16/64, $0.768), and c5.large (2/4, $0.085).
pub fn catalog() -> Vec<InstanceType> {
    vec![
        ty("m5.large", 2, 8, 0.096),
        ty("m5.xlarge", 4, 16, 0.192),
        ty("m5.2xlarge", 8, 32, 0.384),
        ty("m5.4xlarge", 16, 64, 0.768),
        ty("c5.large", 2, 4, 0.085),
    ]
}

pub fn nodepool(name: &str, f: impl FnOnce(&mut v1::NodePool)) -> v1::NodePool {
    let mut np = v1::NodePool::new(name, Default::default());
    f(&mut np);
    np
}

/// A scheduling NodePool allowing `capacity_types`.
pub fn sched_pool(name: &str, capacity_types: &[&str]) -> NodePool {
    NodePool {
        name: name.into(),
        requirements: vec![NodeSelectorRequirement::new(
            l::CAPACITY_TYPE,
            Operator::In,
            capacity_types,
        )],
        ..Default::default()
    }
}

pub fn pod(name: &str, cpu_m: i64, mem_gi: i64) -> Pod {
    Pod {
        namespace: "default".into(),
        name: name.into(),
        uid: name.into(),
        labels: BTreeMap::from([(
            "app".to_string(),
            name.split('-').next().unwrap().to_string(),
        )]),
        requests: Resources::cpu_mem(cpu_m, mem_gi * GI),
        ..Default::default()
    }
}

pub fn bound(p: Pod) -> BoundPod {
    BoundPod {
        pod: p,
        reschedulable: true,
        eviction_cost: 1.0,
        blocks: None,
        start_time: None,
    }
}

pub fn blocked(p: Pod, b: PodBlock) -> BoundPod {
    BoundPod {
        blocks: Some(b),
        ..bound(p)
    }
}

/// A managed, initialized, Ready node created two days ago.
pub fn node(
    name: &str,
    pool: &str,
    it: &InstanceType,
    zone: &str,
    ct: &str,
    pods: Vec<BoundPod>,
) -> NodeInput {
    let mut labels = it.labels.clone();
    labels.insert(l::ZONE.into(), zone.into());
    labels.insert(l::CAPACITY_TYPE.into(), ct.into());
    labels.insert(l::NODEPOOL.into(), pool.into());
    labels.insert(l::HOSTNAME.into(), name.into());
    let mut requested = Resources::default();
    let mut running = Vec::new();
    for p in &pods {
        let mut r = p.pod.requests.clone();
        r.pods = 1;
        requested.add(&r);
        running.push(RunningPod {
            namespace: p.pod.namespace.clone(),
            labels: p.pod.labels.clone(),
            pod_anti_affinity: p.pod.pod_anti_affinity.clone(),
        });
    }
    let created = now() - SignedDuration::from_hours(48);
    NodeInput {
        node: ExistingNode {
            name: name.into(),
            labels,
            taints: Vec::new(),
            capacity: it.capacity.clone(),
            allocatable: it.allocatable.clone(),
            requested,
            pods: running,
            host_ports: Vec::new(),
            initialized: true,
        },
        node_pool: Some(pool.into()),
        managed: true,
        ready: true,
        marked_for_deletion: false,
        instance_terminating: false,
        nominated: false,
        do_not_disrupt: false,
        created,
        initialized_at: Some(created),
        last_pod_event: Some(created),
        consolidatable_condition: false,
        expire_after: Some(SignedDuration::from_hours(720)),
        termination_grace_period: None,
        drift: None,
        pods,
        price: node_price(it, zone, ct),
    }
}

/// An input with the catalog and the given pools (v1 NodePool, allowed capacity types).
pub fn input(pools: &[(v1::NodePool, &[&str])], nodes: Vec<NodeInput>) -> DisruptionInput {
    DisruptionInput {
        now: now(),
        pools: pools
            .iter()
            .map(|(np, _)| PoolSettings::from_nodepool(np).unwrap())
            .collect(),
        scheduling_pools: pools
            .iter()
            .map(|(np, cts)| sched_pool(np.metadata.name.as_deref().unwrap(), cts))
            .collect(),
        instance_types: catalog(),
        daemon_sets: Vec::new(),
        nodes,
        pending_pods: Vec::new(),
    }
}

pub fn find<'a>(its: &'a [InstanceType], name: &str) -> &'a InstanceType {
    its.iter().find(|t| t.name == name).unwrap()
}

//! Synthetic instance types and pods shaped like upstream's scheduling benchmark
//! (`scheduling_benchmark_test.go`, fake cloud provider), for tests and benchmarks.
use std::collections::BTreeMap;

use crate::instancetype::{InstanceType, Offering, ON_DEMAND, SPOT};
use crate::labels;
use crate::model::{LabelSelector, PodAffinityTerm, TopologySpreadConstraint, WhenUnsatisfiable};
use crate::resources::Resources;
use crate::Pod;

/// Zones of the synthetic types.
pub const ZONES: [&str; 3] = ["test-zone-1", "test-zone-2", "test-zone-3"];

/// Type `i` (0-based) has `i+1` vCPU, `2(i+1)` GiB and `10(i+1)` pods; spot in zones 1–2,
/// on-demand in zones 1–3; price `0.1 × vCPU + 0.1 × GiB`; kube-reserved 100m / 10Mi.
pub fn instance_type(i: usize) -> InstanceType {
    let n = i as i64 + 1;
    let gib = 2 * n;
    let price = 0.1 * n as f64 + 0.1 * gib as f64;
    let mut offerings = Vec::new();
    for z in &ZONES[..2] {
        offerings.push(Offering {
            zone: z.to_string(),
            capacity_type: SPOT.into(),
            price,
            available: true,
        });
    }
    for z in &ZONES {
        offerings.push(Offering {
            zone: z.to_string(),
            capacity_type: ON_DEMAND.into(),
            price,
            available: true,
        });
    }
    let name = format!("fake-it-{i}");
    let mut l = BTreeMap::new();
    l.insert(labels::ARCH.to_string(), "amd64".to_string());
    l.insert(labels::OS.to_string(), "linux".to_string());
    l.insert(labels::INSTANCE_CPU.to_string(), n.to_string());
    l.insert(labels::INSTANCE_FAMILY.to_string(), "fake".to_string());
    InstanceType::new(
        &name,
        l,
        Resources {
            cpu_millis: n * 1000,
            memory_bytes: gib << 30,
            pods: 10 * n,
            ephemeral_bytes: 100 << 30,
            extended: BTreeMap::new(),
        },
        Resources::cpu_mem(100, 10 << 20),
        offerings,
    )
}

/// The first `n` synthetic types.
pub fn instance_types(n: usize) -> Vec<InstanceType> {
    (0..n).map(instance_type).collect()
}

/// A tiny deterministic PRNG (SplitMix64) so benchmarks and tests need no extra crates.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn pod(ns: &str, name: String, app: &str, rng: &mut SplitMix, idx: i64) -> Pod {
    const CPU: [i64; 5] = [100, 250, 500, 1000, 1500];
    const MEM: [i64; 6] = [100, 256, 512, 1024, 2048, 4096];
    let mut labels = BTreeMap::new();
    labels.insert("app".to_string(), app.to_string());
    Pod {
        namespace: ns.into(),
        uid: name.clone(),
        name,
        labels,
        requests: Resources::cpu_mem(CPU[rng.below(5)], MEM[rng.below(6)] << 20),
        creation_index: idx,
        ..Default::default()
    }
}

fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        match_expressions: Vec::new(),
    }
}

/// Upstream's benchmark pods: five equal fifths — generic, zonal spread (maxSkew 1,
/// DoNotSchedule), hostname spread, zonal self-affinity, hostname self-anti-affinity.
pub fn benchmark_pods(count: usize, seed: u64) -> Vec<Pod> {
    let mut rng = SplitMix(seed);
    let fifth = count / 5;
    let mut pods = Vec::with_capacity(count);
    for i in 0..count {
        let kind = i.checked_div(fifth).unwrap_or(0).min(4);
        let app = [
            "generic",
            "zone-spread",
            "host-spread",
            "zone-affinity",
            "host-anti",
        ][kind];
        let mut p = pod("default", format!("{app}-{i}"), app, &mut rng, i as i64);
        let spread = |key: &str| TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.into(),
            when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
            label_selector: selector(app),
            min_domains: None,
            node_affinity_policy: None,
            node_taints_policy: None,
            match_label_keys: Vec::new(),
        };
        let term = |key: &str| PodAffinityTerm {
            label_selector: selector(app),
            namespaces: Vec::new(),
            topology_key: key.into(),
        };
        match kind {
            1 => p.topology_spread_constraints.push(spread(labels::ZONE)),
            2 => p.topology_spread_constraints.push(spread(labels::HOSTNAME)),
            3 => p.pod_affinity.push(term(labels::ZONE)),
            4 => p.pod_anti_affinity.push(term(labels::HOSTNAME)),
            _ => {}
        }
        pods.push(p);
    }
    pods
}

/// Unconstrained pods with the benchmark's request distribution.
pub fn generic_pods(count: usize, seed: u64, app: &str) -> Vec<Pod> {
    let mut rng = SplitMix(seed);
    (0..count)
        .map(|i| pod("default", format!("{app}-{i}"), app, &mut rng, i as i64))
        .collect()
}

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

/// Zones of upstream's KWOK catalog.
pub const KWOK_ZONES: [&str; 4] = ["test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"];

/// Upstream's KWOK catalog, the one its performance suite runs on (`kwok/tools/gen_instance_types.go`,
/// `kwok/cloudprovider/helpers.go`): 144 types, every combination of 1, 2, 4, 8, 16, 32, 48, 64,
/// 96, 128, 192 or 256 vCPU × 2, 4 or 8 GiB per vCPU (families `c`, `s`, `m`) × linux or windows ×
/// amd64 or arm64, named `c-4x-amd64-linux`; `min(16 × vCPU, 1024)` pods and 20 GiB of
/// ephemeral storage; kube-reserved 100m / 10Mi; on-demand at `0.025 × vCPU + 0.001 × bytes/1e9`
/// per hour and spot at 70 % of it, in all four zones. Upstream's `karpenter.kwok.sh/instance-*`
/// labels are given as the AWS provider's (`karpenter.k8s.aws/instance-cpu`, `-memory` in MiB,
/// `-family`, `-category`, `-size` = `<cpu>x`), so NodePools written for EC2NodeClass select on
/// them.
pub fn kwok_instance_types() -> Vec<InstanceType> {
    let mut out = Vec::with_capacity(144);
    for cpu in [1i64, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256] {
        for (per_cpu, family) in [(2i64, "c"), (4, "s"), (8, "m")] {
            for os in ["linux", "windows"] {
                for arch in ["amd64", "arm64"] {
                    let name = format!("{family}-{cpu}x-{arch}-{os}");
                    let mem_bytes = (cpu * per_cpu) << 30;
                    let price = 0.025 * cpu as f64 + 0.001 * mem_bytes as f64 / 1e9;
                    let mut offerings = Vec::with_capacity(8);
                    for z in KWOK_ZONES {
                        for (ct, p) in [(SPOT, price * 0.7), (ON_DEMAND, price)] {
                            offerings.push(Offering {
                                zone: z.to_string(),
                                capacity_type: ct.into(),
                                price: p,
                                available: true,
                            });
                        }
                    }
                    let mut l = BTreeMap::new();
                    l.insert(labels::ARCH.to_string(), arch.to_string());
                    l.insert(labels::OS.to_string(), os.to_string());
                    l.insert(labels::INSTANCE_CPU.to_string(), cpu.to_string());
                    l.insert(
                        labels::INSTANCE_MEMORY.to_string(),
                        ((cpu * per_cpu) * 1024).to_string(),
                    );
                    l.insert(labels::INSTANCE_FAMILY.to_string(), family.to_string());
                    l.insert(labels::INSTANCE_CATEGORY.to_string(), family.to_string());
                    l.insert(labels::INSTANCE_SIZE.to_string(), format!("{cpu}x"));
                    out.push(InstanceType::new(
                        &name,
                        l,
                        Resources {
                            cpu_millis: cpu * 1000,
                            memory_bytes: mem_bytes,
                            pods: (cpu * 16).min(1024),
                            ephemeral_bytes: 20 << 30,
                            extended: BTreeMap::new(),
                        },
                        Resources::cpu_mem(100, 10 << 20),
                        offerings,
                    ));
                }
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kwok_catalog_matches_upstreams_generated_file() {
        let types = kwok_instance_types();
        assert_eq!(types.len(), 144);
        let names: std::collections::BTreeSet<&str> =
            types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.len(), 144, "names are unique");
        // upstream kwok/cloudprovider/instance_types.json, first entry
        let c1 = types.iter().find(|t| t.name == "c-1x-amd64-linux").unwrap();
        let od = c1
            .offerings
            .iter()
            .find(|o| o.capacity_type == ON_DEMAND)
            .unwrap();
        let spot = c1
            .offerings
            .iter()
            .find(|o| o.capacity_type == SPOT)
            .unwrap();
        assert!((od.price - 0.027147483648).abs() < 1e-12, "{}", od.price);
        assert!(
            (spot.price - 0.0190032385536).abs() < 1e-12,
            "{}",
            spot.price
        );
        assert_eq!(c1.offerings.len(), 8);
        assert_eq!(c1.allocatable.cpu_millis, 900);
        assert_eq!(c1.allocatable.memory_bytes, (2 << 30) - (10 << 20));
        assert_eq!(c1.allocatable.pods, 16);
        let m256 = types
            .iter()
            .find(|t| t.name == "m-256x-arm64-windows")
            .unwrap();
        assert_eq!(m256.capacity.pods, 1024);
        assert_eq!(m256.labels[labels::OS], "windows");
        assert_eq!(m256.labels[labels::INSTANCE_CPU], "256");
    }
}

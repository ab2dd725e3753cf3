//! Property tests: whatever the input, hard constraints hold in the solution, under both
//! strategies.
use std::collections::{BTreeMap, HashMap};

use karpenter_scheduling::labels::{HOSTNAME, ZONE};
use karpenter_scheduling::model::{
    LabelSelector, PodAffinityTerm, Taint, TaintEffect, Toleration, TopologySpreadConstraint,
    WhenUnsatisfiable,
};
use karpenter_scheduling::synthetic;
use karpenter_scheduling::{
    solve, NodePool, Pod, Problem, Resources, Solution, SolveOptions, Strategy as Packing,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Kind {
    Plain,
    ZoneSelector(usize),
    ZoneSpread,
    HostAnti,
    Tolerant,
}

fn arb_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Plain),
        (0usize..4).prop_map(Kind::ZoneSelector),
        Just(Kind::ZoneSpread),
        Just(Kind::HostAnti),
        Just(Kind::Tolerant),
    ]
}

fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        ..Default::default()
    }
}

fn build_pod(i: usize, kind: &Kind, cpu: i64, mem_mib: i64, skew: i32) -> Pod {
    let app = match kind {
        Kind::ZoneSpread => "spread",
        Kind::HostAnti => "anti",
        _ => "plain",
    };
    let mut p = Pod {
        namespace: "default".into(),
        name: format!("p{i}"),
        uid: format!("p{i:04}"),
        labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        requests: Resources::cpu_mem(cpu, mem_mib << 20),
        creation_index: i as i64,
        ..Default::default()
    };
    match kind {
        Kind::ZoneSelector(z) => {
            // zone index 3 does not exist: such pods must stay pending
            let zone = synthetic::ZONES.get(*z).copied().unwrap_or("test-zone-9");
            p.node_selector.insert(ZONE.into(), zone.into());
        }
        Kind::ZoneSpread => p
            .topology_spread_constraints
            .push(TopologySpreadConstraint {
                max_skew: skew,
                topology_key: ZONE.into(),
                when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                label_selector: selector("spread"),
                min_domains: None,
                node_affinity_policy: None,
                node_taints_policy: None,
                match_label_keys: vec![],
            }),
        Kind::HostAnti => p.pod_anti_affinity.push(PodAffinityTerm {
            label_selector: selector("anti"),
            namespaces: vec![],
            topology_key: HOSTNAME.into(),
        }),
        Kind::Tolerant => p.tolerations.push(Toleration {
            key: "dedicated".into(),
            operator: "Exists".into(),
            ..Default::default()
        }),
        Kind::Plain => {}
    }
    p
}

fn arb_problem() -> impl Strategy<Value = (Problem, i32)> {
    (
        4usize..16,
        proptest::collection::vec((arb_kind(), 1i64..30, 1i64..40), 1..40),
        proptest::option::of(2i64..20),
        any::<bool>(),
        1i32..3,
    )
        .prop_map(|(n_types, pods, limit, tainted, skew)| {
            let mut general = NodePool {
                name: "general".into(),
                ..Default::default()
            };
            if let Some(l) = limit {
                general.limits.insert("cpu".into(), l * 1000);
            }
            let mut pools = vec![general];
            if tainted {
                pools.push(NodePool {
                    name: "dedicated".into(),
                    weight: 10,
                    taints: vec![Taint {
                        key: "dedicated".into(),
                        value: "x".into(),
                        effect: TaintEffect::NoSchedule,
                    }],
                    ..Default::default()
                });
            }
            let pods = pods
                .iter()
                .enumerate()
                .map(|(i, (k, cpu, mem))| build_pod(i, k, cpu * 100, mem * 128, skew))
                .collect();
            (
                Problem {
                    instance_types: synthetic::instance_types(n_types),
                    node_pools: pools,
                    pods,
                    ..Default::default()
                },
                skew,
            )
        })
}

fn check(p: &Problem, s: &Solution, skew: i32) -> Result<(), TestCaseError> {
    let types: HashMap<&str, _> = p
        .instance_types
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let pools: HashMap<&str, &NodePool> =
        p.node_pools.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut seen = vec![0usize; p.pods.len()];
    let mut zone_count: BTreeMap<&str, i64> = synthetic::ZONES.iter().map(|z| (*z, 0)).collect();
    let mut cpu_used: HashMap<&str, i64> = HashMap::new();
    for c in &s.node_claims {
        let it = types[c.instance_type.as_str()];
        let np = pools[c.node_pool.as_str()];
        let mut sum = Resources::default();
        let mut anti = 0;
        for &i in &c.pods {
            seen[i] += 1;
            let pod = &p.pods[i];
            let mut r = pod.requests.clone();
            r.pods = 1;
            sum.add(&r);
            // taints
            for t in &np.taints {
                prop_assert!(
                    pod.tolerations.iter().any(|tol| tol.tolerates(t)),
                    "pod {} on tainted pool {}",
                    pod.name,
                    np.name
                );
            }
            // node selector
            if let Some(z) = pod.node_selector.get(ZONE) {
                prop_assert_eq!(z, &c.zone, "pod {} zone", &pod.name);
            }
            if pod.labels["app"] == "spread" {
                *zone_count.get_mut(c.zone.as_str()).unwrap() += 1;
            }
            if pod.labels["app"] == "anti" {
                anti += 1;
            }
        }
        prop_assert!(anti <= 1, "two anti-affinity pods share a node");
        prop_assert!(
            sum.fits(&it.allocatable),
            "claim over allocatable: {} > {}",
            sum,
            it.allocatable
        );
        prop_assert!(it
            .offerings
            .iter()
            .any(|o| o.zone == c.zone && o.capacity_type == c.capacity_type));
        *cpu_used.entry(np.name.as_str()).or_insert(0) += it.capacity.cpu_millis;
    }
    for (name, used) in cpu_used {
        if let Some(l) = pools[name].limits.get("cpu") {
            prop_assert!(used <= *l, "pool {} uses {}m of a {}m limit", name, used, l);
        }
    }
    for pp in &s.pending {
        seen[pp.pod] += 1;
        prop_assert!(!pp.reason.is_empty());
    }
    prop_assert!(
        seen.iter().all(|&n| n == 1),
        "every pod decided exactly once"
    );
    let max = zone_count.values().max().copied().unwrap_or(0);
    let min = zone_count.values().min().copied().unwrap_or(0);
    prop_assert!(
        max - min <= i64::from(skew),
        "zone skew {:?} exceeds {}",
        zone_count,
        skew
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn hard_constraints_hold((p, skew) in arb_problem()) {
        for strategy in [Packing::Karpenter, Packing::Default] {
            let s = solve(&p, &SolveOptions { strategy, ..Default::default() }).unwrap();
            check(&p, &s, skew)?;
        }
    }

    #[test]
    fn default_is_never_worse_than_karpenter((p, _skew) in arb_problem()) {
        let k = solve(&p, &SolveOptions { strategy: Packing::Karpenter, ..Default::default() }).unwrap();
        let d = solve(&p, &SolveOptions::default()).unwrap();
        prop_assert!(d.pending.len() <= k.pending.len());
        if d.pending.len() == k.pending.len() {
            prop_assert!(d.price_per_hour <= k.price_per_hour + 1e-9);
        }
        prop_assert!(d.lower_bound_price_per_hour <= d.price_per_hour + 1e-9);
        prop_assert!(k.lower_bound_price_per_hour <= k.price_per_hour + 1e-9);
    }

    #[test]
    fn lower_bound_never_exceeds_the_optimum(
        n_types in 3usize..9,
        pods in proptest::collection::vec((1i64..30, 1i64..48, any::<bool>()), 1..7),
    ) {
        let pods: Vec<Pod> = pods
            .iter()
            .enumerate()
            .map(|(i, &(cpu, mem, anti))| {
                let kind = if anti { Kind::HostAnti } else { Kind::Plain };
                build_pod(i, &kind, cpu * 100, mem * 128, 1)
            })
            .collect();
        let p = Problem {
            instance_types: synthetic::instance_types(n_types),
            node_pools: vec![NodePool { name: "general".into(), ..Default::default() }],
            pods,
            ..Default::default()
        };
        let optimum = brute_force_optimum(&p);
        for strategy in [Packing::Karpenter, Packing::Default] {
            let s = solve(&p, &SolveOptions { strategy, ..Default::default() }).unwrap();
            match optimum {
                Some(opt) => {
                    prop_assert!(s.pending.is_empty(), "{:?}", s.pending);
                    // the brute force is right: no solution beats it
                    prop_assert!(s.price_per_hour >= opt - 1e-9, "{} < optimum {}", s.price_per_hour, opt);
                    prop_assert!(
                        s.lower_bound_price_per_hour <= opt + 1e-9,
                        "bound {} > optimum {}", s.lower_bound_price_per_hour, opt
                    );
                }
                None => prop_assert!(!s.pending.is_empty()),
            }
        }
    }
}

/// The cheapest price of any placement of every pod on new nodes (one NodePool, no limits,
/// no DaemonSets): the minimum over set partitions of the pods, with at most one hostname
/// anti-affinity pod per block, of the cheapest type each block fits on. `None` when some pod
/// fits no type.
fn brute_force_optimum(p: &Problem) -> Option<f64> {
    let n = p.pods.len();
    let block_price = |block: &[usize]| -> Option<f64> {
        if block
            .iter()
            .filter(|&&i| p.pods[i].labels["app"] == "anti")
            .count()
            > 1
        {
            return None;
        }
        let mut sum = Resources::default();
        for &i in block {
            let mut r = p.pods[i].requests.clone();
            r.pods = 1;
            sum.add(&r);
        }
        p.instance_types
            .iter()
            .filter(|t| sum.fits(&t.allocatable))
            .filter_map(|t| {
                t.offerings
                    .iter()
                    .filter(|o| o.available)
                    .map(|o| o.price)
                    .min_by(f64::total_cmp)
            })
            .min_by(f64::total_cmp)
    };
    // restricted growth strings enumerate every set partition once
    let mut best: Option<f64> = None;
    let mut a = vec![0usize; n];
    loop {
        let blocks = a.iter().copied().max().unwrap_or(0) + 1;
        let mut total = Some(0.0);
        for b in 0..blocks {
            let block: Vec<usize> = (0..n).filter(|&i| a[i] == b).collect();
            total = match (total, block_price(&block)) {
                (Some(t), Some(pr)) => Some(t + pr),
                _ => None,
            };
        }
        if let Some(t) = total {
            best = Some(best.map_or(t, |b: f64| b.min(t)));
        }
        // next restricted growth string
        let mut i = n;
        loop {
            if i <= 1 {
                return best;
            }
            i -= 1;
            let max_prev = a[..i].iter().copied().max().unwrap_or(0);
            if a[i] <= max_prev {
                a[i] += 1;
                for x in a.iter_mut().skip(i + 1) {
                    *x = 0;
                }
                break;
            }
        }
    }
}

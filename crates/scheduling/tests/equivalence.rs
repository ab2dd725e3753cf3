//! Property test: the optimised solver (headroom arrays, plain-resource fit tables, per-NodePool
//! maxima, packings scored before their plans are built, per-group claim bitsets, sorted fit
//! index, shared sorted price lists) gives exactly the same solution as the straightforward
//! reference path, on random small problems, under both strategies.
use std::collections::BTreeMap;

use karpenter_scheduling::labels::{HOSTNAME, INSTANCE_CPU, ZONE};
use karpenter_scheduling::model::{
    InclusionPolicy, LabelSelector, PodAffinityTerm, Taint, TaintEffect, TopologySpreadConstraint,
    WhenUnsatisfiable,
};
use karpenter_scheduling::synthetic;
use karpenter_scheduling::{
    solve, DaemonSet, ExistingNode, NodePool, NodeSelectorRequirement, Operator, Pod, Problem,
    Requirement, Resources, SolveOptions, Strategy as Packing,
};
use proptest::prelude::*;

const GPU: &str = "nvidia.com/gpu";

fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        ..Default::default()
    }
}

/// kind: 0 plain, 1 zone spread (every other one with nodeTaintsPolicy Honor), 2 hostname spread, 3 zone affinity, 4 hostname anti-affinity,
/// 5 GPU request (extended resource: the fit tables must fall back), 6 zone nodeSelector,
/// 7 instance-cpu nodeSelector (label compatibility rows), 8 hostname anti-affinity against
/// the plain pods (they meet it as inverse anti-affinity), 9 hostname spread counting the plain
/// pods (owned, not self-selecting).
fn build_pod(i: usize, kind: u8, cpu: i64, mem_mib: i64, skew: i32) -> Pod {
    let app = [
        "plain",
        "zspread",
        "hspread",
        "zaff",
        "hanti",
        "gpu",
        "zsel",
        "cpusel",
        "antiplain",
        "spreadplain",
    ][kind as usize % 10];
    let mut p = Pod {
        namespace: "default".into(),
        name: format!("p{i}"),
        uid: format!("p{i:04}"),
        labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        requests: Resources::cpu_mem(cpu, mem_mib << 20),
        creation_index: i as i64,
        ..Default::default()
    };
    let spread = |key: &str| TopologySpreadConstraint {
        max_skew: skew,
        topology_key: key.into(),
        when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
        label_selector: selector(app),
        min_domains: None,
        node_affinity_policy: None,
        node_taints_policy: None,
        match_label_keys: vec![],
    };
    let term = |key: &str| PodAffinityTerm {
        label_selector: selector(app),
        namespaces: vec![],
        topology_key: key.into(),
    };
    match kind % 10 {
        1 => p
            .topology_spread_constraints
            .push(TopologySpreadConstraint {
                node_taints_policy: i.is_multiple_of(2).then_some(InclusionPolicy::Honor),
                ..spread(ZONE)
            }),
        2 => p.topology_spread_constraints.push(spread(HOSTNAME)),
        3 => p.pod_affinity.push(term(ZONE)),
        4 => p.pod_anti_affinity.push(term(HOSTNAME)),
        5 => {
            p.requests.extended.insert(GPU.into(), 1);
        }
        6 => {
            p.node_selector
                .insert(ZONE.into(), synthetic::ZONES[i % 3].into());
        }
        7 => {
            p.node_selector
                .insert(INSTANCE_CPU.into(), (2 + i % 6).to_string());
        }
        8 => p.pod_anti_affinity.push(PodAffinityTerm {
            label_selector: selector("plain"),
            ..term(HOSTNAME)
        }),
        9 => p
            .topology_spread_constraints
            .push(TopologySpreadConstraint {
                label_selector: selector("plain"),
                ..spread(HOSTNAME)
            }),
        _ => {}
    }
    p
}

type PodSpec = (u8, i64, i64);
type Knobs = (usize, Option<i64>, bool, bool, usize, i32, bool);

fn arb_problem() -> impl Strategy<Value = Problem> {
    let pods = proptest::collection::vec((0u8..10, 1i64..30, 1i64..40), 1..90);
    // types, cpu limit, daemonset, gpu types, existing nodes, skew, per-node fee
    let knobs = (
        3usize..14,
        proptest::option::of(1i64..40),
        any::<bool>(),
        any::<bool>(),
        0usize..4,
        1i32..3,
        any::<bool>(),
    );
    (pods, knobs).prop_map(|(pods, knobs): (Vec<PodSpec>, Knobs)| {
        let (n_types, limit, daemon, gpus, n_nodes, skew, fee) = knobs;
        let mut types = synthetic::instance_types(n_types);
        if fee {
            // a per-node fee makes fewer, larger nodes cheaper: the default strategy's merge
            // pass then finds merges to replay
            for it in types.iter_mut() {
                for o in it.offerings.iter_mut() {
                    o.price += 0.5;
                }
            }
        }
        if gpus {
            // every third type carries GPUs
            for it in types.iter_mut().step_by(3) {
                it.capacity.extended.insert(GPU.into(), 2);
                it.refresh_allocatable();
            }
        }
        let mut pool = NodePool {
            name: "default".into(),
            ..Default::default()
        };
        if let Some(l) = limit {
            pool.limits.insert("cpu".into(), l * 1000);
        }
        let daemon_sets = if daemon {
            vec![DaemonSet {
                name: "agent".into(),
                pod: Pod {
                    name: "agent".into(),
                    requests: Resources::cpu_mem(150, 200 << 20),
                    ..Default::default()
                },
            }]
        } else {
            Vec::new()
        };
        let existing_nodes = (0..n_nodes)
            .map(|i| ExistingNode {
                name: format!("node-{i}"),
                labels: BTreeMap::from([(ZONE.to_string(), synthetic::ZONES[i % 3].to_string())]),
                capacity: Resources::cpu_mem(2000, 4 << 30),
                allocatable: Resources {
                    pods: 20,
                    ..Resources::cpu_mem(1900, 3 << 30)
                },
                requested: Resources::cpu_mem(300 * i as i64, 512 << 20),
                // node-1 is tainted: no pod here tolerates it (nodeTaintsPolicy Honor skips it)
                taints: (i == 1)
                    .then(|| Taint {
                        key: "dedicated".into(),
                        value: String::new(),
                        effect: TaintEffect::NoSchedule,
                    })
                    .into_iter()
                    .collect(),
                initialized: true,
                ..Default::default()
            })
            .collect();
        Problem {
            instance_types: types,
            node_pools: vec![pool],
            daemon_sets,
            existing_nodes,
            pods: pods
                .iter()
                .enumerate()
                .map(|(i, &(k, cpu, mem))| build_pod(i, k, cpu * 100, mem * 128, skew))
                .collect(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn optimised_path_matches_reference_path(p in arb_problem()) {
        for strategy in [Packing::Karpenter, Packing::Default] {
            let fast = solve(&p, &SolveOptions { strategy, ..Default::default() })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let reference = solve(
                &p,
                &SolveOptions { strategy, reference_path: true, ..Default::default() },
            )
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(fast, reference, "strategy {:?}", strategy);
        }
    }
}

fn arb_requirement() -> impl Strategy<Value = Requirement> {
    let ops = prop_oneof![
        Just(Operator::In),
        Just(Operator::NotIn),
        Just(Operator::Exists),
        Just(Operator::DoesNotExist),
        Just(Operator::Gt),
        Just(Operator::Lt),
        Just(Operator::Gte),
        Just(Operator::Lte),
    ];
    let values = proptest::collection::vec(0u8..6, 0..4);
    (ops, values).prop_filter_map("valid term", |(op, vals)| {
        let vals: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
        let vals: Vec<&str> = match op {
            Operator::Exists | Operator::DoesNotExist => Vec::new(),
            Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte => {
                vals.iter().take(1).map(String::as_str).collect()
            }
            _ => vals.iter().map(String::as_str).collect(),
        };
        Requirement::from_term(&NodeSelectorRequirement::new("k", op, &vals)).ok()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `Requirement::intersects` (allocation-free) agrees with building the intersection.
    #[test]
    fn intersects_matches_intersection(a in arb_requirement(), b in arb_requirement()) {
        let absent_ok = |r: &Requirement| {
            matches!(r.operator(), Operator::NotIn | Operator::DoesNotExist)
        };
        let expected = (absent_ok(&a) && absent_ok(&b)) || !a.intersection(&b).is_empty();
        prop_assert_eq!(a.intersects(&b), expected, "{} ∩ {}", a, b);
    }
}

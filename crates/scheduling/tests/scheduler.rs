//! Scheduler scenarios, many re-expressed from upstream's scheduling suite
//! (`pkg/controllers/provisioning/scheduling/suite_test.go`, `topology_test.go`).
use std::collections::{BTreeMap, HashMap};

use karpenter_scheduling::labels::{CAPACITY_TYPE, HOSTNAME, INSTANCE_TYPE, ZONE};
use karpenter_scheduling::model::{
    ExistingNode, HostPort, InclusionPolicy, LabelSelector, PodAffinityTerm, Taint, TaintEffect,
    Toleration, TopologySpreadConstraint, Weighted, WhenUnsatisfiable,
};
use karpenter_scheduling::synthetic;
use karpenter_scheduling::{
    solve, DaemonSet, NodePool, NodeSelectorRequirement as Term, Operator, Pod, Problem, Resources,
    Solution, SolveOptions, Strategy,
};

const GIB: i64 = 1 << 30;

fn pool(name: &str) -> NodePool {
    NodePool {
        name: name.into(),
        ..Default::default()
    }
}

fn pod(name: &str, cpu: i64, mem_gib: i64) -> Pod {
    Pod {
        namespace: "default".into(),
        name: name.into(),
        uid: name.into(),
        labels: BTreeMap::from([("app".to_string(), "test".to_string())]),
        requests: Resources::cpu_mem(cpu, mem_gib * GIB),
        ..Default::default()
    }
}

fn pods(n: usize, cpu: i64, mem_gib: i64) -> Vec<Pod> {
    (0..n)
        .map(|i| pod(&format!("p{i}"), cpu, mem_gib))
        .collect()
}

fn term(key: &str, op: Operator, vals: &[&str]) -> Term {
    Term::new(key, op, vals)
}

fn sel() -> LabelSelector {
    LabelSelector {
        match_labels: BTreeMap::from([("app".to_string(), "test".to_string())]),
        ..Default::default()
    }
}

fn spread(key: &str, skew: i32, when: WhenUnsatisfiable) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: skew,
        topology_key: key.into(),
        when_unsatisfiable: when,
        label_selector: sel(),
        min_domains: None,
        node_affinity_policy: None,
        node_taints_policy: None,
        match_label_keys: Vec::new(),
    }
}

fn problem(types: usize, pools: Vec<NodePool>, pods: Vec<Pod>) -> Problem {
    Problem {
        instance_types: synthetic::instance_types(types),
        node_pools: pools,
        pods,
        ..Default::default()
    }
}

fn run(p: &Problem, strategy: Strategy) -> Solution {
    solve(
        p,
        &SolveOptions {
            strategy,
            ..Default::default()
        },
    )
    .expect("valid problem")
}

fn karpenter(p: &Problem) -> Solution {
    run(p, Strategy::Karpenter)
}

/// Pod index → (claim index, zone).
fn placements(s: &Solution) -> HashMap<usize, (usize, String)> {
    let mut m = HashMap::new();
    for (ci, c) in s.node_claims.iter().enumerate() {
        for &p in &c.pods {
            m.insert(p, (ci, c.zone.clone()));
        }
    }
    m
}

fn zone_counts(s: &Solution) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in &s.node_claims {
        *m.entry(c.zone.clone()).or_insert(0) += c.pods.len();
    }
    m
}

#[test]
fn unconstrained_pod_gets_the_cheapest_type_that_fits() {
    let s = karpenter(&problem(10, vec![pool("default")], vec![pod("a", 1500, 1)]));
    assert_eq!(s.node_claims.len(), 1);
    let c = &s.node_claims[0];
    // fake-it-1: 2 vCPU (1900m allocatable) is the smallest that fits 1500m
    assert_eq!(c.instance_type, "fake-it-1");
    assert_eq!(c.instance_types[0], "fake-it-1");
    assert!(!c.instance_types.contains(&"fake-it-0".to_string()));
    assert!((c.price_per_hour - 0.6).abs() < 1e-9);
    assert!(s.pending.is_empty());
}

#[test]
fn pods_pack_onto_one_claim_when_they_fit() {
    let s = karpenter(&problem(10, vec![pool("default")], pods(8, 500, 1)));
    assert_eq!(s.node_claims.len(), 1);
    // 4000m + 8 GiB: fake-it-4 (5 vCPU, 10 GiB) is the cheapest that fits
    assert_eq!(s.node_claims[0].instance_type, "fake-it-4");
}

#[test]
fn incompatible_node_selector_is_pending_with_reason() {
    let mut p = pod("a", 100, 1);
    p.node_selector.insert(ZONE.into(), "test-zone-9".into());
    let s = karpenter(&problem(5, vec![pool("default")], vec![p]));
    assert!(s.node_claims.is_empty());
    assert_eq!(s.pending.len(), 1);
    assert!(
        s.pending[0].reason.contains("default"),
        "{}",
        s.pending[0].reason
    );
    assert!(
        s.pending[0].reason.contains("test-zone-9"),
        "{}",
        s.pending[0].reason
    );
}

#[test]
fn custom_label_must_be_defined_by_the_pool() {
    let mut p = pod("a", 100, 1);
    p.node_selector.insert("team".into(), "ml".into());
    let s = karpenter(&problem(5, vec![pool("default")], vec![p.clone()]));
    assert_eq!(s.pending.len(), 1);
    assert!(s.pending[0].reason.contains("team"));
    let mut np = pool("ml");
    np.labels.insert("team".into(), "ml".into());
    let s = karpenter(&problem(5, vec![pool("default"), np], vec![p]));
    assert_eq!(s.node_claims.len(), 1);
    assert_eq!(s.node_claims[0].node_pool, "ml");
}

#[test]
fn restricted_labels_are_ignored() {
    let mut p = pod("a", 100, 1);
    p.node_selector.insert(HOSTNAME.into(), "n1".into());
    let s = karpenter(&problem(5, vec![pool("default")], vec![p]));
    assert!(s.pending[0].reason.contains("restricted"));
}

#[test]
fn taints_need_tolerations_but_startup_taints_do_not() {
    let mut np = pool("tainted");
    np.taints.push(Taint {
        key: "dedicated".into(),
        value: "gpu".into(),
        effect: TaintEffect::NoSchedule,
    });
    np.startup_taints.push(Taint {
        key: "init".into(),
        value: String::new(),
        effect: TaintEffect::NoSchedule,
    });
    let s = karpenter(&problem(5, vec![np.clone()], vec![pod("a", 100, 1)]));
    assert_eq!(s.pending.len(), 1);
    assert!(s.pending[0].reason.contains("dedicated"));
    let mut p = pod("a", 100, 1);
    p.tolerations.push(Toleration {
        key: "dedicated".into(),
        operator: "Equal".into(),
        value: "gpu".into(),
        effect: Some(TaintEffect::NoSchedule),
    });
    let s = karpenter(&problem(5, vec![np], vec![p]));
    assert_eq!(s.node_claims.len(), 1);
}

#[test]
fn prefer_no_schedule_taints_are_relaxed_last() {
    let mut np = pool("soft");
    np.taints.push(Taint {
        key: "soft".into(),
        value: String::new(),
        effect: TaintEffect::PreferNoSchedule,
    });
    let s = karpenter(&problem(5, vec![np], vec![pod("a", 100, 1)]));
    assert_eq!(s.node_claims.len(), 1);
}

#[test]
fn highest_weight_pool_wins_even_when_more_expensive() {
    let mut cheap = pool("cheap");
    cheap.weight = 1;
    let mut pricey = pool("pricey");
    pricey.weight = 10;
    pricey
        .requirements
        .push(term(INSTANCE_TYPE, Operator::In, &["fake-it-9"]));
    let s = karpenter(&problem(10, vec![cheap, pricey], vec![pod("a", 100, 1)]));
    assert_eq!(s.node_claims[0].node_pool, "pricey");
    assert_eq!(s.node_claims[0].instance_type, "fake-it-9");
}

#[test]
fn equal_weights_break_ties_by_reverse_name() {
    let s = karpenter(&problem(
        5,
        vec![pool("a"), pool("b")],
        vec![pod("x", 100, 1)],
    ));
    assert_eq!(s.node_claims[0].node_pool, "b");
}

#[test]
fn limits_are_never_exceeded() {
    let mut np = pool("limited");
    np.limits.insert("cpu".into(), 4000);
    // each pod needs a 2-vCPU node at least; 3 vCPU max per claim after limits → few nodes
    let s = karpenter(&problem(10, vec![np], pods(6, 1500, 1)));
    let used: i64 = s
        .node_claims
        .iter()
        .map(|c| {
            let i: usize = c
                .instance_type
                .trim_start_matches("fake-it-")
                .parse()
                .unwrap();
            (i as i64 + 1) * 1000
        })
        .sum();
    assert!(used <= 4000, "used {used}m of a 4000m limit");
    assert!(!s.pending.is_empty());
    assert!(
        s.pending[0].reason.contains("limits"),
        "{}",
        s.pending[0].reason
    );
}

#[test]
fn nodes_limit_of_zero_blocks_the_pool() {
    let mut np = pool("zero");
    np.limits.insert("nodes".into(), 0);
    let s = karpenter(&problem(5, vec![np], vec![pod("a", 100, 1)]));
    assert!(s.node_claims.is_empty());
    assert!(s.pending[0].reason.contains("nodes limit"));
}

#[test]
fn existing_nodes_are_filled_first() {
    let mut p = problem(5, vec![pool("default")], pods(3, 500, 1));
    p.existing_nodes.push(ExistingNode {
        name: "node-1".into(),
        labels: BTreeMap::from([(ZONE.to_string(), "test-zone-1".to_string())]),
        allocatable: Resources {
            cpu_millis: 1200,
            memory_bytes: 4 * GIB,
            pods: 10,
            ..Default::default()
        },
        initialized: true,
        ..Default::default()
    });
    let s = karpenter(&p);
    assert_eq!(s.existing_nodes["node-1"].len(), 2);
    assert_eq!(s.node_claims.len(), 1);
    assert_eq!(s.node_claims[0].pods.len(), 1);
}

#[test]
fn zonal_topology_spread_balances_across_zones() {
    // upstream: "should balance pods across zones" → skew [1, 1, 2]
    let ps: Vec<Pod> = (0..4)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.topology_spread_constraints
                .push(spread(ZONE, 1, WhenUnsatisfiable::DoNotSchedule));
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    let mut counts: Vec<usize> = zone_counts(&s).values().copied().collect();
    counts.sort();
    assert_eq!(counts, vec![1, 1, 2]);
}

#[test]
fn hostname_spread_puts_each_pod_on_its_own_node() {
    // upstream: "should balance pods across nodes" → skew [1, 1, 1, 1]
    let ps: Vec<Pod> = (0..4)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.topology_spread_constraints.push(spread(
                HOSTNAME,
                1,
                WhenUnsatisfiable::DoNotSchedule,
            ));
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    assert_eq!(s.node_claims.len(), 4);
}

#[test]
fn capacity_type_spread_uses_both_capacity_types() {
    let ps: Vec<Pod> = (0..4)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.topology_spread_constraints.push(spread(
                CAPACITY_TYPE,
                1,
                WhenUnsatisfiable::DoNotSchedule,
            ));
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    let mut by_ct: BTreeMap<String, usize> = BTreeMap::new();
    for c in &s.node_claims {
        *by_ct.entry(c.capacity_type.clone()).or_insert(0) += c.pods.len();
    }
    assert_eq!(by_ct.get("spot"), Some(&2));
    assert_eq!(by_ct.get("on-demand"), Some(&2));
}

#[test]
fn zone_spread_respects_node_affinity_domains() {
    // pods restricted to two zones spread only there
    let ps: Vec<Pod> = (0..4)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.required_node_affinity = vec![vec![term(
                ZONE,
                Operator::In,
                &["test-zone-1", "test-zone-2"],
            )]];
            p.topology_spread_constraints
                .push(spread(ZONE, 1, WhenUnsatisfiable::DoNotSchedule));
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    let counts = zone_counts(&s);
    assert_eq!(counts.get("test-zone-1"), Some(&2));
    assert_eq!(counts.get("test-zone-2"), Some(&2));
    assert!(s.pending.is_empty());
}

#[test]
fn hostname_anti_affinity_separates_pods() {
    let ps: Vec<Pod> = (0..3)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.pod_anti_affinity.push(PodAffinityTerm {
                label_selector: sel(),
                namespaces: vec![],
                topology_key: HOSTNAME.into(),
            });
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    assert_eq!(s.node_claims.len(), 3);
}

#[test]
fn zonal_anti_affinity_allows_one_pod_per_zone() {
    let ps: Vec<Pod> = (0..4)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.required_node_affinity =
                vec![vec![term(ZONE, Operator::In, &[synthetic::ZONES[i % 3]])]];
            p.pod_anti_affinity.push(PodAffinityTerm {
                label_selector: sel(),
                namespaces: vec![],
                topology_key: ZONE.into(),
            });
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    assert_eq!(s.node_claims.len(), 3);
    assert_eq!(s.pending.len(), 1);
    assert!(s.pending[0].reason.contains("anti-affinity"));
}

#[test]
fn inverse_anti_affinity_blocks_matching_pods() {
    // "a" runs with anti-affinity against app=web; web pods must not share its node
    let mut a = pod("a", 100, 1);
    a.labels = BTreeMap::from([("app".to_string(), "db".to_string())]);
    a.pod_anti_affinity.push(PodAffinityTerm {
        label_selector: LabelSelector {
            match_labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            ..Default::default()
        },
        namespaces: vec![],
        topology_key: HOSTNAME.into(),
    });
    a.requests.cpu_millis = 900; // sorted first
    let mut w = pod("w", 100, 1);
    w.labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
    let s = karpenter(&problem(5, vec![pool("default")], vec![a, w]));
    assert_eq!(s.node_claims.len(), 2);
}

#[test]
fn zonal_pod_affinity_colocates_in_one_zone() {
    let ps: Vec<Pod> = (0..6)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 1000, 1);
            p.pod_affinity.push(PodAffinityTerm {
                label_selector: sel(),
                namespaces: vec![],
                topology_key: ZONE.into(),
            });
            p
        })
        .collect();
    let s = karpenter(&problem(2, vec![pool("default")], ps));
    // fake-it-1 holds one 1000m pod: six nodes, one zone
    assert_eq!(s.node_claims.len(), 6);
    assert_eq!(zone_counts(&s).len(), 1);
}

#[test]
fn pod_affinity_to_a_running_pod_follows_its_zone() {
    let mut p = problem(5, vec![pool("default")], vec![]);
    let mut follower = pod("f", 100, 1);
    follower.labels.clear();
    follower.pod_affinity.push(PodAffinityTerm {
        label_selector: sel(),
        namespaces: vec![],
        topology_key: ZONE.into(),
    });
    p.pods.push(follower);
    p.existing_nodes.push(ExistingNode {
        name: "full".into(),
        labels: BTreeMap::from([(ZONE.to_string(), "test-zone-3".to_string())]),
        allocatable: Resources::default(),
        pods: vec![karpenter_scheduling::model::RunningPod {
            namespace: "default".into(),
            labels: sel().match_labels,
            pod_anti_affinity: vec![],
        }],
        ..Default::default()
    });
    let s = karpenter(&p);
    assert_eq!(s.node_claims.len(), 1);
    assert_eq!(s.node_claims[0].zone, "test-zone-3");
}

#[test]
fn host_ports_conflict_on_one_node() {
    let ps: Vec<Pod> = (0..2)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.host_ports.push(HostPort {
                host_ip: String::new(),
                port: 8080,
                protocol: String::new(),
            });
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    assert_eq!(s.node_claims.len(), 2);
}

#[test]
fn volume_topology_pins_the_zone() {
    let mut p = pod("a", 100, 1);
    p.volume_requirements = vec![term(ZONE, Operator::In, &["test-zone-3"])];
    let s = karpenter(&problem(5, vec![pool("default")], vec![p]));
    assert_eq!(s.node_claims[0].zone, "test-zone-3");
    assert_eq!(
        s.node_claims[0].capacity_type, "on-demand",
        "no spot in zone 3"
    );
}

#[test]
fn preferred_node_affinity_is_honoured_when_possible_and_relaxed_otherwise() {
    let mut p = pod("a", 100, 1);
    p.preferred_node_affinity.push(Weighted {
        weight: 10,
        term: vec![term(ZONE, Operator::In, &["test-zone-3"])],
    });
    let mut q = pod("b", 100, 1);
    q.preferred_node_affinity.push(Weighted {
        weight: 10,
        term: vec![term(ZONE, Operator::In, &["nowhere"])],
    });
    let s = karpenter(&problem(5, vec![pool("default")], vec![p, q]));
    assert!(s.pending.is_empty());
    let pl = placements(&s);
    assert_eq!(pl[&0].1, "test-zone-3");
}

#[test]
fn required_affinity_terms_are_tried_in_order() {
    let mut p = pod("a", 100, 1);
    p.required_node_affinity = vec![
        vec![term(ZONE, Operator::In, &["nowhere"])],
        vec![term(ZONE, Operator::In, &["test-zone-2"])],
    ];
    let s = karpenter(&problem(5, vec![pool("default")], vec![p]));
    assert_eq!(s.node_claims[0].zone, "test-zone-2");
}

#[test]
fn relaxation_drops_node_preference_before_schedule_anyway_spread() {
    // Upstream order: required OR-terms, preferred pod affinity, preferred pod anti-affinity,
    // preferred node affinity, then ScheduleAnyway spreads. The unsatisfiable node preference
    // must go first, so the hostname spread still separates the pods.
    let ps: Vec<Pod> = (0..3)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.preferred_node_affinity.push(Weighted {
                weight: 1,
                term: vec![term(ZONE, Operator::In, &["nowhere"])],
            });
            p.topology_spread_constraints.push(spread(
                HOSTNAME,
                1,
                WhenUnsatisfiable::ScheduleAnyway,
            ));
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    assert_eq!(s.node_claims.len(), 3);
}

#[test]
fn schedule_anyway_spread_is_relaxed_when_unsatisfiable() {
    // pods must stay in one zone but prefer spreading across zones: they all schedule
    let ps: Vec<Pod> = (0..3)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.node_selector.insert(ZONE.into(), "test-zone-1".into());
            p.topology_spread_constraints
                .push(spread(ZONE, 1, WhenUnsatisfiable::ScheduleAnyway));
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    assert!(s.pending.is_empty());
    // DoNotSchedule with nodeAffinityPolicy Honor (default): only zone 1 is eligible, no skew
    let mut dns = ps_do_not_schedule();
    for p in &mut dns {
        p.node_selector.insert(ZONE.into(), "test-zone-1".into());
    }
    let s = karpenter(&problem(5, vec![pool("default")], dns.clone()));
    assert!(s.pending.is_empty());
    // with nodeAffinityPolicy Ignore the empty zones count: only one pod fits the skew
    for p in &mut dns {
        p.topology_spread_constraints[0].node_affinity_policy =
            Some(karpenter_scheduling::model::InclusionPolicy::Ignore);
    }
    let s = karpenter(&problem(5, vec![pool("default")], dns));
    assert_eq!(
        s.pending.len(),
        2,
        "DoNotSchedule zone spread confined to one zone"
    );
    assert!(
        s.pending[0].reason.contains("maxSkew"),
        "{}",
        s.pending[0].reason
    );
}

fn ps_do_not_schedule() -> Vec<Pod> {
    (0..3)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 1);
            p.topology_spread_constraints
                .push(spread(ZONE, 1, WhenUnsatisfiable::DoNotSchedule));
            p
        })
        .collect()
}

#[test]
fn daemonset_overhead_is_charged_per_node() {
    let ds = DaemonSet {
        name: "agent".into(),
        pod: Pod {
            requests: Resources::cpu_mem(1000, GIB),
            ..Default::default()
        },
    };
    let mut p = problem(10, vec![pool("default")], vec![pod("a", 500, 1)]);
    let s = karpenter(&p);
    assert_eq!(s.node_claims[0].instance_type, "fake-it-0");
    p.daemon_sets.push(ds);
    let s = karpenter(&p);
    // 500m + 1000m daemon > fake-it-0's 900m
    assert_eq!(s.node_claims[0].instance_type, "fake-it-1");
    assert_eq!(s.node_claims[0].requests.cpu_millis, 1500);
}

#[test]
fn daemonset_not_tolerating_pool_taint_adds_no_overhead() {
    let mut np = pool("tainted");
    np.taints.push(Taint {
        key: "x".into(),
        value: String::new(),
        effect: TaintEffect::NoSchedule,
    });
    let mut a = pod("a", 500, 1);
    a.tolerations.push(Toleration {
        key: "x".into(),
        operator: "Exists".into(),
        ..Default::default()
    });
    let mut p = problem(10, vec![np], vec![a]);
    p.daemon_sets.push(DaemonSet {
        name: "agent".into(),
        pod: Pod {
            requests: Resources::cpu_mem(1000, GIB),
            ..Default::default()
        },
    });
    assert_eq!(karpenter(&p).node_claims[0].instance_type, "fake-it-0");
}

#[test]
fn min_values_keeps_enough_instance_types() {
    let mut np = pool("mv");
    let mut t = term(INSTANCE_TYPE, Operator::Exists, &[]);
    t.min_values = Some(3);
    np.requirements.push(t);
    // one 8-vCPU pod: fake-it-8 and fake-it-9 are the only types that fit → minValues fails
    let s = karpenter(&problem(10, vec![np.clone()], vec![pod("a", 8000, 1)]));
    assert_eq!(s.pending.len(), 1);
    assert!(
        s.pending[0].reason.contains("minValues"),
        "{}",
        s.pending[0].reason
    );
    let s = karpenter(&problem(10, vec![np], vec![pod("a", 1000, 1)]));
    assert!(s.node_claims[0].instance_types.len() >= 3);
}

#[test]
fn instance_type_list_is_truncated_cheapest_first() {
    let p = problem(400, vec![pool("default")], vec![pod("a", 100, 1)]);
    let mut o = SolveOptions {
        strategy: Strategy::Karpenter,
        ..Default::default()
    };
    o.max_instance_types = 60;
    let s = solve(&p, &o).unwrap();
    let c = &s.node_claims[0];
    assert_eq!(c.instance_types.len(), 60);
    assert_eq!(c.instance_types[0], "fake-it-0");
    assert_eq!(c.instance_types[59], "fake-it-59");
}

#[test]
fn gt_and_lt_on_instance_cpu_select_a_range() {
    let mut p = pod("a", 100, 1);
    p.required_node_affinity = vec![vec![
        term("karpenter.k8s.aws/instance-cpu", Operator::Gt, &["3"]),
        term("karpenter.k8s.aws/instance-cpu", Operator::Lte, &["6"]),
    ]];
    let s = karpenter(&problem(10, vec![pool("default")], vec![p]));
    let c = &s.node_claims[0];
    assert_eq!(c.instance_type, "fake-it-3");
    assert_eq!(
        c.instance_types.to_vec(),
        vec!["fake-it-3", "fake-it-4", "fake-it-5"]
    );
}

#[test]
fn upstream_benchmark_shape_schedules_everything() {
    let p = problem(
        400,
        vec![pool("default")],
        synthetic::benchmark_pods(500, 42),
    );
    let k = karpenter(&p);
    assert!(
        k.pending.is_empty(),
        "{:?}",
        &k.pending[..k.pending.len().min(3)]
    );
    // hostname anti-affinity fifth needs one node per pod
    assert!(k.node_claims.len() >= 100);
    let d = run(&p, Strategy::Default);
    assert!(d.pending.is_empty());
    assert!(d.node_claims.len() <= k.node_claims.len());
    assert!(d.price_per_hour <= k.price_per_hour + 1e-9);
    assert!(d.lower_bound_price_per_hour <= d.price_per_hour);
    assert!(d.lower_bound_price_per_hour > 0.0);
}

#[test]
fn lower_bound_counts_whole_pods_and_anti_affinity() {
    // one 3.5-vCPU pod: only fake-it-3 (4 vCPU, $1.2) or larger can hold it
    let s = karpenter(&problem(
        10,
        vec![pool("default")],
        vec![pod("big", 3500, 1)],
    ));
    assert!(
        (s.lower_bound_price_per_hour - 1.2).abs() < 1e-9,
        "{}",
        s.lower_bound_price_per_hour
    );
    assert!((s.price_per_hour - 1.2).abs() < 1e-9);
    // three mutually anti-affine small pods need three nodes: bound ≥ 3 × $0.3
    let ps: Vec<Pod> = (0..3)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 0);
            p.pod_anti_affinity.push(PodAffinityTerm {
                label_selector: sel(),
                namespaces: vec![],
                topology_key: HOSTNAME.into(),
            });
            p
        })
        .collect();
    let s = karpenter(&problem(5, vec![pool("default")], ps));
    assert!(
        (s.lower_bound_price_per_hour - 0.9).abs() < 1e-9,
        "{}",
        s.lower_bound_price_per_hour
    );
    assert!(s.price_per_hour >= s.lower_bound_price_per_hour);
}

#[test]
fn preferred_anti_affinity_is_honoured_then_relaxed() {
    let ps: Vec<Pod> = (0..3)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 100, 0);
            p.preferred_pod_anti_affinity.push(Weighted {
                weight: 50,
                term: PodAffinityTerm {
                    label_selector: sel(),
                    namespaces: vec![],
                    topology_key: HOSTNAME.into(),
                },
            });
            p
        })
        .collect();
    // honoured while capacity allows
    let s = karpenter(&problem(5, vec![pool("default")], ps.clone()));
    assert_eq!(s.node_claims.len(), 3);
    // a one-node limit forces relaxation: everything shares the node, nothing is pending
    let mut np = pool("default");
    np.limits.insert("nodes".into(), 1);
    let s = karpenter(&problem(5, vec![np], ps));
    assert_eq!(s.node_claims.len(), 1);
    assert!(s.pending.is_empty());
    assert_eq!(s.node_claims[0].pods.len(), 3);
}

// --- Parity with upstream topology_test.go ("Zonal" context) -------------------------------

fn zonal_pods(n: usize, skew: i32) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            let mut p = pod(&format!("z{i}"), 1100, 0);
            p.topology_spread_constraints.push(spread(
                ZONE,
                skew,
                WhenUnsatisfiable::DoNotSchedule,
            ));
            p
        })
        .collect()
}

fn zoned_pool(name: &str, zones: &[&str]) -> NodePool {
    let mut np = pool(name);
    np.requirements.push(term(ZONE, Operator::In, zones));
    np
}

/// A full node in `zone` running `n` pods that the spread selects.
fn full_node(name: &str, zone: &str, n: usize) -> ExistingNode {
    ExistingNode {
        name: name.into(),
        labels: BTreeMap::from([(ZONE.to_string(), zone.to_string())]),
        pods: (0..n)
            .map(|_| karpenter_scheduling::model::RunningPod {
                namespace: "default".into(),
                labels: sel().match_labels,
                pod_anti_affinity: vec![],
            })
            .collect(),
        ..Default::default()
    }
}

fn skew(s: &Solution, existing: &[(&str, usize)]) -> Vec<usize> {
    let mut counts = zone_counts(s);
    for (z, n) in existing {
        *counts.entry(z.to_string()).or_insert(0) += n;
    }
    let mut v: Vec<usize> = counts.into_values().filter(|&n| n > 0).collect();
    v.sort();
    v
}

#[test]
fn parity_respects_pool_zonal_subset_with_requirements() {
    let s = karpenter(&problem(
        5,
        vec![zoned_pool("default", &["test-zone-1", "test-zone-2"])],
        zonal_pods(4, 1),
    ));
    assert_eq!(skew(&s, &[]), vec![2, 2]);
}

#[test]
fn parity_respects_pool_zonal_subset_with_labels() {
    let mut np = pool("default");
    np.labels.insert(ZONE.into(), "test-zone-1".into());
    let s = karpenter(&problem(5, vec![np], zonal_pods(4, 1)));
    assert_eq!(skew(&s, &[]), vec![4]);
    assert!(s.node_claims.iter().all(|c| c.zone == "test-zone-1"));
}

#[test]
fn parity_respects_pool_zonal_labels_across_pools() {
    let mut a = zoned_pool("a", &["test-zone-1", "test-zone-2"]);
    a.labels.insert(ZONE.into(), "test-zone-1".into());
    let mut b = pool("b");
    b.labels.insert(ZONE.into(), "test-zone-2".into());
    let s = karpenter(&problem(5, vec![a, b], zonal_pods(4, 1)));
    assert_eq!(skew(&s, &[]), vec![2, 2]);
}

#[test]
fn parity_existing_pod_in_an_unreachable_zone_caps_the_others() {
    let mut p = problem(
        5,
        vec![zoned_pool("default", &["test-zone-1", "test-zone-2"])],
        zonal_pods(6, 1),
    );
    p.existing_nodes.push(full_node("n3", "test-zone-3", 1));
    let s = karpenter(&p);
    assert_eq!(skew(&s, &[("test-zone-3", 1)]), vec![1, 2, 2]);
    assert_eq!(s.pending.len(), 2);
}

#[test]
fn parity_does_not_violate_max_skew_when_do_not_schedule() {
    let mut p = problem(
        5,
        vec![zoned_pool("default", &["test-zone-2", "test-zone-3"])],
        zonal_pods(10, 1),
    );
    p.existing_nodes.push(full_node("n1", "test-zone-1", 1));
    let s = karpenter(&p);
    assert_eq!(skew(&s, &[("test-zone-1", 1)]), vec![1, 2, 2]);
    assert_eq!(s.pending.len(), 6);
}

#[test]
fn parity_schedules_to_the_non_minimum_domain_if_it_is_all_that_is_available() {
    let mut p = problem(
        5,
        vec![zoned_pool("default", &["test-zone-3"])],
        zonal_pods(10, 5),
    );
    p.existing_nodes.push(full_node("n1", "test-zone-1", 1));
    p.existing_nodes.push(full_node("n2", "test-zone-2", 1));
    let s = karpenter(&p);
    assert_eq!(
        skew(&s, &[("test-zone-1", 1), ("test-zone-2", 1)]),
        vec![1, 1, 6]
    );
    assert_eq!(s.pending.len(), 4);
}

// nodeTaintsPolicy (KEP-3094): with Honor, nodes and NodePools whose NoSchedule/NoExecute
// taints the pod does not tolerate neither offer domains nor count pods for the constraint.

fn dedicated_taint() -> Taint {
    Taint {
        key: "dedicated".into(),
        value: "db".into(),
        effect: TaintEffect::NoSchedule,
    }
}

fn honoring_spread_pods(n: usize, policy: Option<InclusionPolicy>) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), 500, 1);
            let mut c = spread(ZONE, 1, WhenUnsatisfiable::DoNotSchedule);
            c.node_taints_policy = policy;
            p.topology_spread_constraints.push(c);
            p
        })
        .collect()
}

fn zones_pool(name: &str, zones: &[&str]) -> NodePool {
    let mut np = pool(name);
    np.requirements.push(term(ZONE, Operator::In, zones));
    np
}

#[test]
fn node_taints_policy_honor_ignores_zones_only_an_untolerated_node_pool_offers() {
    // test-zone-3 is offered only by a NodePool whose taint the pods do not tolerate
    let mut dedicated = zones_pool("dedicated", &["test-zone-3"]);
    dedicated.taints.push(dedicated_taint());
    let pools = vec![
        zones_pool("general", &["test-zone-1", "test-zone-2"]),
        dedicated,
    ];
    for strategy in [Strategy::Karpenter, Strategy::Default] {
        // Ignore (the default): the empty test-zone-3 keeps the global minimum at 0, so only
        // one pod per reachable zone fits within maxSkew 1
        let ignore = run(
            &problem(10, pools.clone(), honoring_spread_pods(4, None)),
            strategy,
        );
        assert_eq!(ignore.pending.len(), 2, "{strategy:?}: {ignore:?}");
        assert_eq!(
            zone_counts(&ignore),
            BTreeMap::from([("test-zone-1".into(), 1), ("test-zone-2".into(), 1)])
        );
        // Honor: test-zone-3 is not a domain for these pods
        let honor = run(
            &problem(
                10,
                pools.clone(),
                honoring_spread_pods(4, Some(InclusionPolicy::Honor)),
            ),
            strategy,
        );
        assert!(
            honor.pending.is_empty(),
            "{strategy:?}: {:?}",
            honor.pending
        );
        assert_eq!(
            zone_counts(&honor),
            BTreeMap::from([("test-zone-1".into(), 2), ("test-zone-2".into(), 2)])
        );
    }
}

#[test]
fn node_taints_policy_honor_tolerated_taints_keep_the_domain() {
    // the same pods tolerating the taint: test-zone-3 is a domain again, as with Ignore
    let mut dedicated = zones_pool("dedicated", &["test-zone-3"]);
    dedicated.taints.push(dedicated_taint());
    let pools = vec![
        zones_pool("general", &["test-zone-1", "test-zone-2"]),
        dedicated,
    ];
    let mut pods = honoring_spread_pods(3, Some(InclusionPolicy::Honor));
    for p in &mut pods {
        p.tolerations.push(Toleration {
            key: "dedicated".into(),
            operator: "Exists".into(),
            ..Default::default()
        });
    }
    let s = karpenter(&problem(10, pools, pods));
    assert!(s.pending.is_empty(), "{:?}", s.pending);
    assert_eq!(
        zone_counts(&s),
        BTreeMap::from([
            ("test-zone-1".into(), 1),
            ("test-zone-2".into(), 1),
            ("test-zone-3".into(), 1)
        ])
    );
}

#[test]
fn node_taints_policy_honor_skips_untolerated_existing_nodes() {
    let tainted_node = |zone: &str, running: usize| ExistingNode {
        name: format!("tainted-{zone}"),
        labels: BTreeMap::from([(ZONE.to_string(), zone.to_string())]),
        taints: vec![dedicated_taint()],
        allocatable: Resources::default(),
        pods: (0..running)
            .map(|_| karpenter_scheduling::model::RunningPod {
                namespace: "default".into(),
                labels: sel().match_labels,
                pod_anti_affinity: vec![],
            })
            .collect(),
        initialized: true,
        ..Default::default()
    };
    // a domain only an untolerated node offers: Ignore leaves pods pending, Honor does not
    let mut p = problem(
        10,
        vec![zones_pool("general", &["test-zone-1", "test-zone-2"])],
        honoring_spread_pods(4, None),
    );
    p.existing_nodes.push(tainted_node("test-zone-3", 0));
    assert_eq!(karpenter(&p).pending.len(), 2);
    p.pods = honoring_spread_pods(4, Some(InclusionPolicy::Honor));
    let s = karpenter(&p);
    assert!(s.pending.is_empty(), "{:?}", s.pending);

    // matching pods on an untolerated node: counted with Ignore (test-zone-1 already holds 5,
    // so new pods avoid it), not with Honor
    let mut p = problem(10, vec![pool("general")], honoring_spread_pods(3, None));
    p.existing_nodes.push(tainted_node("test-zone-1", 5));
    let ignore = karpenter(&p);
    assert!(ignore.pending.is_empty());
    assert_eq!(zone_counts(&ignore).get("test-zone-1"), None, "{ignore:?}");
    p.pods = honoring_spread_pods(3, Some(InclusionPolicy::Honor));
    let honor = karpenter(&p);
    assert!(honor.pending.is_empty());
    assert_eq!(
        zone_counts(&honor),
        BTreeMap::from([
            ("test-zone-1".into(), 1),
            ("test-zone-2".into(), 1),
            ("test-zone-3".into(), 1)
        ])
    );
}

/// A NodeClaim can be built from a plan: its structured requirements are the NodePool's
/// requirements and labels narrowed by the pod (no hostname placeholder), and its
/// `spec.requirements` list the launch types under the instance-type key with the NodePool's
/// minValues (upstream `nodeclaimtemplate.go: ToNodeClaim`).
#[test]
fn a_plan_carries_its_nodeclaim_requirements_structured() {
    let mut np = pool("team-a");
    np.labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
    np.requirements
        .push(term("custom", Operator::In, &["x", "y"]));
    np.requirements.push(Term {
        min_values: Some(2),
        ..term(INSTANCE_TYPE, Operator::NotIn, &["fake-it-9"])
    });
    let mut a = pod("a", 100, 1);
    a.node_selector = BTreeMap::from([(ZONE.to_string(), "test-zone-2".to_string())]);
    a.required_node_affinity = vec![vec![term("custom", Operator::In, &["y"])]];
    let p = problem(10, vec![np], vec![a]);
    let opts = SolveOptions {
        strategy: Strategy::Karpenter,
        max_instance_types: 3,
        ..Default::default()
    };
    let s = solve(&p, &opts).expect("valid problem");
    assert_eq!(s.node_claims.len(), 1);
    let c = &s.node_claims[0];
    assert_eq!(c.instance_types.len(), 3, "{:?}", c.instance_types);

    // the narrowed requirements, structured (and the text is their rendering)
    let narrowed: Vec<(String, String)> = c
        .node_requirements
        .iter()
        .map(|(k, r)| (k.clone(), r.to_string()))
        .collect();
    let expect = |k: &str, r: &str| (k.to_string(), r.to_string());
    assert_eq!(
        narrowed,
        vec![
            expect("custom", "In [y]"),
            expect("karpenter.sh/nodepool", "In [team-a]"),
            expect(INSTANCE_TYPE, "NotIn [fake-it-9]"),
            expect("team", "In [a]"),
            expect(ZONE, "In [test-zone-2]"),
        ]
    );
    assert_eq!(
        c.node_requirements.get(INSTANCE_TYPE).unwrap().min_values,
        Some(2)
    );
    assert_eq!(c.requirements, c.node_requirements.to_string());

    // spec.requirements: the instance-type term is the launch list, cheapest first
    let launch: Vec<&str> = c.instance_types.iter().map(String::as_str).collect();
    assert_eq!(
        c.spec_requirements(),
        vec![
            term("custom", Operator::In, &["y"]),
            term("karpenter.sh/nodepool", Operator::In, &["team-a"]),
            Term {
                min_values: Some(2),
                ..term(INSTANCE_TYPE, Operator::In, &launch)
            },
            term("team", Operator::In, &["a"]),
            term(ZONE, Operator::In, &["test-zone-2"]),
        ]
    );
    assert_eq!(launch[0], c.instance_type);
}

/// The labels a planned NodeClaim carries: the NodePool label and the single-valued custom
/// requirements (the NodePool's labels among them); never well-known keys (the node gets those
/// from its instance type), the hostname placeholder, or a custom key still open to several
/// values.
#[test]
fn a_plan_labels_its_nodeclaim_with_its_single_valued_custom_requirements() {
    let mut np = pool("team-a");
    np.labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
    np.requirements
        .push(term("custom", Operator::In, &["x", "y"]));
    np.requirements
        .push(term("tier", Operator::In, &["gold", "silver"]));
    np.requirements.push(term("spare", Operator::Exists, &[]));
    np.requirements
        .push(term(CAPACITY_TYPE, Operator::In, &["on-demand"]));
    let mut a = pod("a", 100, 1);
    a.node_selector = BTreeMap::from([
        (ZONE.to_string(), "test-zone-3".to_string()),
        ("tier".to_string(), "gold".to_string()),
    ]);
    let s = karpenter(&problem(4, vec![np], vec![a]));
    assert_eq!(s.node_claims.len(), 1);
    let c = &s.node_claims[0];
    assert_eq!(
        c.labels(),
        BTreeMap::from([
            ("karpenter.sh/nodepool".to_string(), "team-a".to_string()),
            ("team".to_string(), "a".to_string()),
            ("tier".to_string(), "gold".to_string()),
        ])
    );
    // the zone and capacity type are single-valued requirements, but well-known: no labels
    assert_eq!(
        c.node_requirements.get(ZONE).and_then(|r| r.single()),
        Some("test-zone-3")
    );
    assert_eq!(
        c.node_requirements
            .get(CAPACITY_TYPE)
            .and_then(|r| r.single()),
        Some("on-demand")
    );
    assert!(c.node_requirements.get(HOSTNAME).is_none());
}

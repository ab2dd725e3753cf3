//! Scenario tests of the engine, per rule, and a replay check used by the property tests.
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::SignedDuration;
use karpenter_api::sh::v1;
use karpenter_scheduling::instancetype::{ON_DEMAND, SPOT};
use karpenter_scheduling::labels as l;
use karpenter_scheduling::{solve, ExistingNode, Problem, SolveOptions};

use crate::drift::{Drift, DriftReason};
use crate::input::{DisruptionInput, Options, PodBlock, Strategy};
use crate::plan::{Blocker, Plan, Reason};
use crate::testkit::*;

fn run(input: &DisruptionInput, strategy: Strategy) -> Plan {
    let opts = Options {
        strategy,
        ..Options::default()
    };
    crate::plan(input, &opts).unwrap().0
}

fn budget(nodes: &str) -> v1::Disruption {
    v1::Disruption {
        budgets: Some(vec![v1::Budget {
            nodes: Some(nodes.into()),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn unchosen<'a>(plan: &'a Plan, node: &str) -> &'a crate::plan::Unchosen {
    plan.unchosen
        .iter()
        .find(|u| u.node == node)
        .unwrap_or_else(|| panic!("{node} not in unchosen: {:#?}", plan.unchosen))
}

/// Replays a plan wave by wave in the scheduler, independently of the engine: in each wave the
/// candidates go, replacements come up empty (with their NodePool's labels and taints), and
/// every reschedulable pod of a removed node must fit, where the plan puts it, on what is left
/// (no new node), with its taints, affinities and topology spread (pods moved by earlier waves
/// count). Also checks every candidate existed once, the
/// budgets (`nodes: k` without schedule, per pool and wave, expiration aside) and that
/// `pricePerHourAfter` is the price of what is left.
/// A label naming each node in the replay, to pin pods where the engine put them
/// (`kubernetes.io/hostname` is refused in pod selectors by Karpenter's rules).
const PIN: &str = "replay.test/node";

pub fn replay(input: &DisruptionInput, plan: &Plan, budget_per_pool: Option<usize>) {
    let its = &input.instance_types;
    let mut nodes: Vec<(
        ExistingNode,
        Vec<karpenter_scheduling::Pod>,
        f64,
        Option<String>,
    )> = input
        .nodes
        .iter()
        .map(|n| {
            (
                n.node.clone(),
                n.pods
                    .iter()
                    .filter(|p| p.reschedulable)
                    .map(|p| p.pod.clone())
                    .collect(),
                n.price,
                n.node_pool.clone(),
            )
        })
        .collect();
    let mut seen = BTreeSet::new();
    let waves: BTreeSet<u32> = plan.commands.iter().map(|c| c.wave).collect();
    let mut prev = 0;
    for w in waves {
        assert_eq!(w, prev + 1, "waves are consecutive");
        prev = w;
        let cmds: Vec<_> = plan.commands.iter().filter(|c| c.wave == w).collect();
        let mut per_pool: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut pods = Vec::new();
        for c in &cmds {
            for name in &c.candidates {
                assert!(seen.insert(name.clone()), "{name} disrupted twice");
                let i = nodes
                    .iter()
                    .position(|n| &n.0.name == name)
                    .unwrap_or_else(|| panic!("candidate {name} does not exist in wave {w}"));
                let (_, ps, _, pool) = nodes.remove(i);
                let e = per_pool.entry(pool.unwrap_or_default()).or_default();
                if c.reason == Reason::Expired {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
                pods.extend(ps);
            }
        }
        if let Some(k) = budget_per_pool {
            for (pool, (expired, graceful)) in &per_pool {
                assert!(
                    *graceful <= k.saturating_sub(*expired),
                    "wave {w}: pool {pool} disrupts {graceful} nodes gracefully ({expired} expired), budget {k}"
                );
            }
        }
        for c in &cmds {
            for (i, r) in c.replacements.iter().enumerate() {
                let it = find(its, &r.instance_type);
                assert!(c.replacements.len() == 1 || r.price_per_hour > 0.0);
                let mut labels = it.labels.clone();
                let name = r.name.clone();
                let _ = i;
                labels.insert(l::ZONE.into(), r.zone.clone());
                labels.insert(l::CAPACITY_TYPE.into(), r.capacity_type.clone());
                labels.insert(l::NODEPOOL.into(), r.node_pool.clone());
                labels.insert(l::HOSTNAME.into(), name.clone());
                // The NodePool's labels and taints come with the node, so a pod that does not
                // tolerate them is caught below.
                let sp = input
                    .scheduling_pools
                    .iter()
                    .find(|p| p.name == r.node_pool);
                if let Some(sp) = sp {
                    labels.extend(sp.labels.clone());
                }
                nodes.push((
                    ExistingNode {
                        name,
                        labels,
                        taints: sp.map(|p| p.taints.clone()).unwrap_or_default(),
                        capacity: it.capacity.clone(),
                        allocatable: it.allocatable.clone(),
                        initialized: true,
                        ..Default::default()
                    },
                    Vec::new(),
                    r.price_per_hour,
                    Some(r.node_pool.clone()),
                ));
            }
        }
        // Each pod goes where the engine says (pinned by hostname), so the scheduler checks that
        // placement against resources, taints, affinities and spread, with no new node allowed.
        let placements: BTreeMap<&str, &str> = cmds
            .iter()
            .flat_map(|c| c.placements.iter().map(|(p, n)| (p.as_str(), n.as_str())))
            .collect();
        for p in &mut pods {
            let key = format!("{}/{}", p.namespace, p.name);
            let target = placements
                .get(key.as_str())
                .unwrap_or_else(|| panic!("wave {w}: no placement for displaced pod {key}"));
            p.node_selector.insert(PIN.into(), target.to_string());
        }
        for n in &mut nodes {
            n.0.labels.insert(PIN.into(), n.0.name.clone());
        }
        let problem = Problem {
            instance_types: its.clone(),
            node_pools: Vec::new(), // no new nodes: everything must fit
            daemon_sets: input.daemon_sets.clone(),
            existing_nodes: nodes.iter().map(|n| n.0.clone()).collect(),
            pods: pods.clone(),
        };
        let sol = solve(&problem, &SolveOptions::default()).unwrap();
        assert!(
            sol.pending.is_empty(),
            "wave {w}: {} pod(s) stranded, e.g. {}: {}",
            sol.pending.len(),
            problem.pods[sol.pending[0].pod].name,
            sol.pending[0].reason
        );
        for (name, ps) in &sol.existing_nodes {
            let n = nodes.iter_mut().find(|n| &n.0.name == name).unwrap();
            for &p in ps {
                let pod = &problem.pods[p];
                let mut r = pod.requests.clone();
                r.pods = 1;
                n.0.requested.add(&r);
                // Counted by later waves' spread, affinity and anti-affinity checks.
                n.0.pods.push(karpenter_scheduling::model::RunningPod {
                    namespace: pod.namespace.clone(),
                    labels: pod.labels.clone(),
                    pod_anti_affinity: pod.pod_anti_affinity.clone(),
                });
                n.1.push(pod.clone());
            }
        }
    }
    let deleting: BTreeSet<&str> = input
        .nodes
        .iter()
        .filter(|n| n.marked_for_deletion)
        .map(|n| n.name())
        .collect();
    let after: f64 = nodes
        .iter()
        .filter(|n| !deleting.contains(n.0.name.as_str()))
        .map(|n| n.2)
        .sum();
    assert!(
        (after - plan.price_per_hour_after).abs() < 1e-6,
        "after {after} vs plan {}",
        plan.price_per_hour_after
    );
    for u in &plan.unchosen {
        assert!(
            !seen.contains(&u.node),
            "{} both disrupted and unchosen",
            u.node
        );
    }
}

#[test]
fn empty_nodes_are_deleted_in_one_command() {
    let its = catalog();
    let m5 = find(&its, "m5.large");
    let nodes = vec![
        node("a", "default", m5, "us-east-1a", ON_DEMAND, vec![]),
        node("b", "default", m5, "us-east-1a", ON_DEMAND, vec![]),
        node(
            "c",
            "default",
            m5,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-1", 1500, 5))],
        ),
    ];
    let np = nodepool("default", |np| np.spec.disruption = Some(budget("100%")));
    let inp = input(&[(np, &[ON_DEMAND])], nodes);
    for s in [Strategy::Karpenter, Strategy::Default] {
        let plan = run(&inp, s);
        assert_eq!(plan.commands.len(), 1, "{s:?}: {:#?}", plan.commands);
        let c = &plan.commands[0];
        assert_eq!(c.reason, Reason::Empty);
        assert_eq!(c.candidates, ["a", "b"]);
        assert!(c.replacements.is_empty());
        assert!((c.savings_per_hour - 0.192).abs() < 1e-9);
        assert!((plan.price_per_hour_before - 0.288).abs() < 1e-9);
        assert!((plan.price_per_hour_after - 0.096).abs() < 1e-9);
        assert_eq!(unchosen(&plan, "c").blocker, Blocker::NoCheaperPlacement);
        replay(&inp, &plan, None);
    }
}

#[test]
fn underutilized_nodes_are_merged_and_a_big_one_replaced_by_a_cheaper_one() {
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let xxl = find(&its, "m5.2xlarge");
    let nodes = vec![
        node(
            "a",
            "default",
            xl,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-1", 1000, 2))],
        ),
        node(
            "b",
            "default",
            xl,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-2", 1000, 2))],
        ),
        node(
            "c",
            "default",
            xxl,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("db-1", 500, 1))],
        ),
    ];
    let np = nodepool("default", |np| np.spec.disruption = Some(budget("100%")));
    let inp = input(&[(np, &[ON_DEMAND])], nodes);
    for s in [Strategy::Karpenter, Strategy::Default] {
        let plan = run(&inp, s);
        replay(&inp, &plan, None);
        assert!(plan
            .commands
            .iter()
            .all(|c| c.reason == Reason::Underutilized));
        assert!(
            plan.price_per_hour_after < plan.price_per_hour_before - 0.3,
            "{s:?}: {} → {}: {:#?}",
            plan.price_per_hour_before,
            plan.price_per_hour_after,
            plan.commands
        );
        // Every replacement is strictly cheaper than what it replaces.
        for c in &plan.commands {
            assert!(c.savings_per_hour > 0.0, "{c:?}");
            assert!(!c.explanation.is_empty());
        }
    }
}

#[test]
fn no_command_when_the_replacement_would_not_be_cheaper() {
    let its = catalog();
    let c5 = find(&its, "c5.large");
    // 1.5 CPU and 3 GiB: c5.large is the cheapest type that fits; nothing cheaper exists.
    let nodes = vec![node(
        "a",
        "default",
        c5,
        "us-east-1a",
        ON_DEMAND,
        vec![bound(pod("web-1", 1500, 3))],
    )];
    let inp = input(&[(nodepool("default", |_| {}), &[ON_DEMAND])], nodes);
    for s in [Strategy::Karpenter, Strategy::Default] {
        let plan = run(&inp, s);
        assert!(plan.commands.is_empty(), "{:#?}", plan.commands);
        let u = unchosen(&plan, "a");
        assert_eq!(u.blocker, Blocker::NoCheaperPlacement);
        assert!(u.reason.contains("cheaper"), "{}", u.reason);
    }
}

#[test]
fn no_same_type_replacement_and_no_command_that_strands_a_pod() {
    let its = catalog();
    let l = find(&its, "m5.large");
    // Two m5.large at 1.5 CPU and 5 GiB each: they cannot share a node, the c5.large is too
    // small, and an m5.large replacing one is not cheaper.
    let nodes = vec![
        node(
            "a",
            "default",
            l,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-1", 1500, 5))],
        ),
        node(
            "b",
            "default",
            l,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-2", 1500, 5))],
        ),
    ];
    let inp = input(&[(nodepool("default", |_| {}), &[ON_DEMAND])], nodes);
    for s in [Strategy::Karpenter, Strategy::Default] {
        let plan = run(&inp, s);
        assert!(plan.commands.is_empty(), "{s:?}: {:#?}", plan.commands);
    }
    // A pod too big for any other node: never a delete.
    let big = find(&its, "m5.4xlarge");
    let nodes = vec![
        node(
            "a",
            "default",
            big,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("huge-1", 14000, 50))],
        ),
        node(
            "b",
            "default",
            l,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-1", 500, 1))],
        ),
    ];
    let inp = input(&[(nodepool("default", |_| {}), &[ON_DEMAND])], nodes);
    let plan = run(&inp, Strategy::Default);
    replay(&inp, &plan, None);
    assert!(plan
        .commands
        .iter()
        .all(|c| !c.candidates.contains(&"a".to_string())));
}

#[test]
fn do_not_disrupt_pods_and_nodes_and_pdbs_block() {
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let mk = |name: &str, b: Option<PodBlock>| {
        let p = pod(&format!("{name}-pod"), 200, 1);
        node(
            name,
            "default",
            xl,
            "us-east-1a",
            ON_DEMAND,
            vec![match b {
                Some(b) => blocked(p, b),
                None => bound(p),
            }],
        )
    };
    let mut dnd_node = mk("node-annotated", None);
    dnd_node.do_not_disrupt = true;
    let nodes = vec![
        mk(
            "pod-annotated",
            Some(PodBlock::DoNotDisrupt("default/pod-annotated-pod".into())),
        ),
        mk(
            "pdb",
            Some(PodBlock::Pdb(
                "default/pdb-pod".into(),
                "default/web".into(),
            )),
        ),
        dnd_node,
        node(
            "big",
            "default",
            find(&its, "m5.4xlarge"),
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("x-1", 100, 1))],
        ),
    ];
    let inp = input(
        &[(
            nodepool("default", |np| np.spec.disruption = Some(budget("100%"))),
            &[ON_DEMAND],
        )],
        nodes,
    );
    for s in [Strategy::Karpenter, Strategy::Default] {
        let plan = run(&inp, s);
        replay(&inp, &plan, None);
        let disrupted: Vec<&String> = plan.commands.iter().flat_map(|c| &c.candidates).collect();
        assert!(
            !disrupted
                .iter()
                .any(|n| ["pod-annotated", "pdb", "node-annotated"].contains(&n.as_str())),
            "{s:?}: {disrupted:?}"
        );
        assert!(
            disrupted.iter().any(|n| *n == "big"),
            "{s:?}: the unblocked node moves: {:#?}",
            plan.commands
        );
        assert_eq!(
            unchosen(&plan, "pod-annotated").blocker,
            Blocker::DoNotDisruptPod("default/pod-annotated-pod".into())
        );
        assert!(unchosen(&plan, "pod-annotated")
            .reason
            .contains("do-not-disrupt"));
        assert_eq!(
            unchosen(&plan, "pdb").blocker,
            Blocker::Pdb("default/web".into())
        );
        assert!(unchosen(&plan, "pdb")
            .reason
            .contains("PodDisruptionBudget default/web"));
        assert_eq!(
            unchosen(&plan, "node-annotated").blocker,
            Blocker::DoNotDisruptNode
        );
    }
}

#[test]
fn budgets_bound_each_wave() {
    let its = catalog();
    let m5 = find(&its, "m5.large");
    let nodes: Vec<_> = (0..10)
        .map(|i| {
            node(
                &format!("n{i}"),
                "default",
                m5,
                "us-east-1a",
                ON_DEMAND,
                vec![],
            )
        })
        .collect();
    let np = nodepool("default", |np| np.spec.disruption = Some(budget("2")));
    let inp = input(&[(np, &[ON_DEMAND])], nodes);
    for s in [Strategy::Karpenter, Strategy::Default] {
        let plan = run(&inp, s);
        replay(&inp, &plan, Some(2));
        assert_eq!(plan.commands.len(), 5, "{s:?}");
        assert!(plan.commands.iter().all(|c| c.candidates.len() == 2));
        assert_eq!(plan.commands.last().unwrap().wave, 5);
        assert_eq!(plan.price_per_hour_after, 0.0);
    }
    // A percentage: 10% of 10 nodes → 1 per wave, then of 9 → 1 (rounded up), ...
    let nodes: Vec<_> = (0..10)
        .map(|i| {
            node(
                &format!("n{i}"),
                "default",
                m5,
                "us-east-1a",
                ON_DEMAND,
                vec![],
            )
        })
        .collect();
    let inp = input(&[(nodepool("default", |_| {}), &[ON_DEMAND])], nodes);
    let plan = run(&inp, Strategy::Default);
    replay(&inp, &plan, Some(1));
    assert_eq!(plan.commands.len(), 10);
    // Nodes already disrupting count against the budget; a zero budget blocks with a reason.
    let mut nodes: Vec<_> = (0..4)
        .map(|i| {
            node(
                &format!("n{i}"),
                "default",
                m5,
                "us-east-1a",
                ON_DEMAND,
                vec![],
            )
        })
        .collect();
    nodes[0].ready = false;
    nodes[0].pods.clear();
    let np = nodepool("default", |np| np.spec.disruption = Some(budget("1")));
    let inp = input(&[(np, &[ON_DEMAND])], nodes);
    let plan = run(&inp, Strategy::Default);
    assert!(
        plan.commands.is_empty(),
        "the NotReady node uses the only disruption: {:#?}",
        plan.commands
    );
    let u = unchosen(&plan, "n1");
    assert_eq!(
        u.blocker,
        Blocker::Budget(crate::budget::DisruptionReason::Empty)
    );
    assert!(
        u.reason.contains("allows 1 of its 4") && u.reason.contains("1 already disrupting"),
        "{}",
        u.reason
    );
}

#[test]
fn per_reason_budget_blocks_consolidation_but_not_emptiness() {
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let nodes = vec![
        node("empty", "default", xl, "us-east-1a", ON_DEMAND, vec![]),
        node(
            "a",
            "default",
            xl,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-1", 500, 1))],
        ),
        node(
            "b",
            "default",
            xl,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-2", 500, 1))],
        ),
    ];
    let np = nodepool("default", |np| {
        np.spec.disruption = Some(v1::Disruption {
            budgets: Some(vec![
                v1::Budget {
                    nodes: Some("100%".into()),
                    ..Default::default()
                },
                v1::Budget {
                    nodes: Some("0".into()),
                    reasons: Some(vec!["Underutilized".into()]),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        })
    });
    let inp = input(&[(np, &[ON_DEMAND])], nodes);
    let plan = run(&inp, Strategy::Default);
    assert_eq!(plan.commands.len(), 1);
    assert_eq!(plan.commands[0].reason, Reason::Empty);
    assert_eq!(
        unchosen(&plan, "a").blocker,
        Blocker::Budget(crate::budget::DisruptionReason::Underutilized)
    );
}

#[test]
fn consolidate_after_and_policy() {
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let mut recent = node(
        "recent",
        "default",
        xl,
        "us-east-1a",
        ON_DEMAND,
        vec![bound(pod("web-1", 500, 1))],
    );
    recent.last_pod_event = Some(now() - SignedDuration::from_secs(60));
    let old = node(
        "old",
        "default",
        xl,
        "us-east-1a",
        ON_DEMAND,
        vec![bound(pod("web-2", 500, 1))],
    );
    let np = nodepool("default", |np| {
        np.spec.disruption = Some(v1::Disruption {
            consolidate_after: Some("5m".into()),
            budgets: Some(vec![v1::Budget {
                nodes: Some("100%".into()),
                ..Default::default()
            }]),
            ..Default::default()
        })
    });
    let inp = input(&[(np, &[ON_DEMAND])], vec![recent, old]);
    let plan = run(&inp, Strategy::Default);
    replay(&inp, &plan, None);
    assert_eq!(plan.commands.len(), 1);
    assert_eq!(plan.commands[0].candidates, ["old"]);
    let u = unchosen(&plan, "recent");
    assert_eq!(u.blocker, Blocker::ConsolidateAfter);
    assert!(u.reason.contains("2026-03-02T12:04:00Z"), "{}", u.reason);
    // WhenEmpty: non-empty nodes stay; Never: nothing happens, not even to empty nodes.
    for (policy, after) in [("WhenEmpty", "0s"), ("WhenEmptyOrUnderutilized", "Never")] {
        let nodes = vec![
            node(
                "a",
                "default",
                xl,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-1", 500, 1))],
            ),
            node(
                "b",
                "default",
                xl,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-2", 500, 1))],
            ),
            node("e", "default", xl, "us-east-1a", ON_DEMAND, vec![]),
        ];
        let np = nodepool("default", |np| {
            np.spec.disruption = Some(v1::Disruption {
                consolidation_policy: Some(policy.into()),
                consolidate_after: Some(after.into()),
                budgets: Some(vec![v1::Budget {
                    nodes: Some("100%".into()),
                    ..Default::default()
                }]),
            })
        });
        let inp = input(&[(np, &[ON_DEMAND])], nodes);
        let plan = run(&inp, Strategy::Default);
        let want = if after == "Never" {
            Blocker::ConsolidationDisabled
        } else {
            Blocker::WhenEmptyPolicy
        };
        assert_eq!(unchosen(&plan, "a").blocker, want, "{policy}/{after}");
        if after == "Never" {
            assert!(plan.commands.is_empty());
        } else {
            assert_eq!(plan.commands.len(), 1);
            assert_eq!(plan.commands[0].reason, Reason::Empty);
        }
    }
}

#[test]
fn drift_replaces_and_terminationgraceperiod_makes_it_eventual() {
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let drift = Drift {
        reason: DriftReason::AMIDrift,
        since: now(),
        detail: "the node runs ami-old".into(),
    };
    // Fully used node: its pods need a replacement.
    let mut a = node(
        "a",
        "default",
        xl,
        "us-east-1a",
        ON_DEMAND,
        vec![bound(pod("web-1", 3000, 10))],
    );
    a.drift = Some(drift.clone());
    let mut b = node(
        "b",
        "default",
        xl,
        "us-east-1a",
        ON_DEMAND,
        vec![blocked(
            pod("db-1", 3000, 10),
            PodBlock::Pdb("default/db-1".into(), "default/db".into()),
        )],
    );
    b.drift = Some(drift.clone());
    let inp = input(
        &[(
            nodepool("default", |np| np.spec.disruption = Some(budget("100%"))),
            &[ON_DEMAND],
        )],
        vec![a.clone(), b.clone()],
    );
    for s in [Strategy::Karpenter, Strategy::Default] {
        let plan = run(&inp, s);
        replay(&inp, &plan, None);
        assert_eq!(plan.commands.len(), 1, "{s:?}: {:#?}", plan.commands);
        let c = &plan.commands[0];
        assert_eq!(
            (c.reason, c.candidates.as_slice()),
            (Reason::Drifted, ["a".to_string()].as_slice())
        );
        assert_eq!(c.replacements.len(), 1);
        assert!(c.explanation.contains("AMIDrift"), "{}", c.explanation);
        let u = unchosen(&plan, "b");
        assert_eq!(u.blocker, Blocker::Pdb("default/db".into()));
        assert!(u.reason.contains("drifted"), "{}", u.reason);
    }
    // With a terminationGracePeriod the PDB no longer blocks drift.
    b.termination_grace_period = Some(SignedDuration::from_hours(1));
    let inp = input(
        &[(
            nodepool("default", |np| np.spec.disruption = Some(budget("100%"))),
            &[ON_DEMAND],
        )],
        vec![a, b],
    );
    let plan = run(&inp, Strategy::Default);
    replay(&inp, &plan, None);
    let drifted: Vec<&String> = plan.commands.iter().flat_map(|c| &c.candidates).collect();
    assert_eq!(drifted, ["a", "b"]);
    // Karpenter: one drift command per pass.
    let plan = run(&inp, Strategy::Karpenter);
    assert_eq!(
        plan.commands.iter().map(|c| c.wave).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn expiration_is_forceful_and_first() {
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let mut a = node(
        "a",
        "default",
        xl,
        "us-east-1a",
        ON_DEMAND,
        vec![blocked(
            pod("web-1", 3000, 10),
            PodBlock::DoNotDisrupt("default/web-1".into()),
        )],
    );
    a.created = now() - SignedDuration::from_hours(721);
    a.termination_grace_period = Some(SignedDuration::from_hours(2));
    let mut never = node(
        "b",
        "default",
        xl,
        "us-east-1a",
        ON_DEMAND,
        vec![bound(pod("web-2", 3000, 10))],
    );
    never.created = now() - SignedDuration::from_hours(10_000);
    never.expire_after = None;
    let np = nodepool("default", |np| np.spec.disruption = Some(budget("0")));
    let inp = input(&[(np, &[ON_DEMAND])], vec![a, never]);
    let plan = run(&inp, Strategy::Default);
    replay(&inp, &plan, None);
    assert_eq!(plan.commands.len(), 1);
    let c = &plan.commands[0];
    assert_eq!((c.reason, c.wave), (Reason::Expired, 1));
    assert_eq!(c.candidates, ["a"]);
    assert_eq!(c.replacements.len(), 1, "the provisioner re-plans its pod");
    assert!(
        c.explanation.contains("forceful") && c.explanation.contains("terminationGracePeriod (2h)"),
        "{}",
        c.explanation
    );
    assert_eq!(
        unchosen(&plan, "b").blocker,
        Blocker::Budget(crate::budget::DisruptionReason::Underutilized)
    );
}

#[test]
fn spot_to_spot_needs_the_gate() {
    let its = catalog();
    let xl = find(&its, "m5.2xlarge");
    let nodes = vec![node(
        "s",
        "default",
        xl,
        "us-east-1a",
        SPOT,
        vec![bound(pod("web-1", 500, 1))],
    )];
    let inp = input(&[(nodepool("default", |_| {}), &[SPOT])], nodes);
    let plan = run(&inp, Strategy::Default);
    assert!(plan.commands.is_empty());
    let u = unchosen(&plan, "s");
    assert!(
        u.reason.contains("SpotToSpotConsolidation is disabled"),
        "{}",
        u.reason
    );
    // With the gate, a catalog of 5 types has fewer than 15 cheaper ones.
    let opts = Options {
        spot_to_spot_consolidation: true,
        ..Options::default()
    };
    let plan = crate::plan(&inp, &opts).unwrap().0;
    assert!(plan.commands.is_empty());
    assert!(
        unchosen(&plan, "s").reason.contains("requires 15 cheaper"),
        "{}",
        unchosen(&plan, "s").reason
    );
    // Spot candidates that empty out are still deleted (no replacement needed).
    let nodes = vec![
        node(
            "s1",
            "default",
            xl,
            "us-east-1a",
            SPOT,
            vec![bound(pod("web-1", 500, 1))],
        ),
        node(
            "s2",
            "default",
            xl,
            "us-east-1a",
            SPOT,
            vec![bound(pod("web-2", 500, 1))],
        ),
    ];
    let inp = input(
        &[(
            nodepool("default", |np| np.spec.disruption = Some(budget("100%"))),
            &[SPOT],
        )],
        nodes,
    );
    let plan = run(&inp, Strategy::Karpenter);
    replay(&inp, &plan, None);
    assert_eq!(plan.commands.len(), 1);
    assert!(plan.commands[0].replacements.is_empty());
}

#[test]
fn unmanaged_uninitialized_and_deleting_nodes_are_not_candidates() {
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let mut unmanaged = node("u", "default", xl, "us-east-1a", ON_DEMAND, vec![]);
    unmanaged.managed = false;
    unmanaged.node_pool = None;
    let mut uninit = node("i", "default", xl, "us-east-1a", ON_DEMAND, vec![]);
    uninit.node.initialized = false;
    let mut deleting = node("d", "default", xl, "us-east-1a", ON_DEMAND, vec![]);
    deleting.marked_for_deletion = true;
    let mut orphan = node("o", "gone", xl, "us-east-1a", ON_DEMAND, vec![]);
    orphan.node_pool = Some("gone".into());
    let inp = input(
        &[(
            nodepool("default", |np| np.spec.disruption = Some(budget("100%"))),
            &[ON_DEMAND],
        )],
        vec![unmanaged, uninit, deleting, orphan],
    );
    let plan = run(&inp, Strategy::Default);
    assert!(plan.commands.is_empty(), "{:#?}", plan.commands);
    assert_eq!(unchosen(&plan, "u").blocker, Blocker::NotManaged);
    assert_eq!(unchosen(&plan, "i").blocker, Blocker::NotInitialized);
    assert_eq!(unchosen(&plan, "d").blocker, Blocker::Deleting);
    assert_eq!(unchosen(&plan, "o").blocker, Blocker::NodePoolNotFound);
}

#[test]
fn default_strategy_is_never_dearer_than_karpenter_here_and_needs_fewer_waves() {
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let nodes: Vec<_> = (0..12)
        .map(|i| {
            node(
                &format!("n{i:02}"),
                "default",
                xl,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod(&format!("web-{i}"), 700, 2))],
            )
        })
        .collect();
    let np = nodepool("default", |np| np.spec.disruption = Some(budget("50%")));
    let inp = input(&[(np, &[ON_DEMAND])], nodes);
    let k = run(&inp, Strategy::Karpenter);
    let d = run(&inp, Strategy::Default);
    replay(&inp, &k, Some(6));
    replay(&inp, &d, Some(6));
    assert!(
        d.price_per_hour_after <= k.price_per_hour_after + 1e-9,
        "{} vs {}",
        d.price_per_hour_after,
        k.price_per_hour_after
    );
    let waves = |p: &Plan| p.commands.iter().map(|c| c.wave).max().unwrap_or(0);
    assert!(waves(&d) <= waves(&k), "{} vs {}", waves(&d), waves(&k));
    assert!(d.price_per_hour_after < d.price_per_hour_before);
}

mod props {
    use super::{blocked, bound, budget, catalog, input, node, nodepool, pod, replay};
    use super::{BTreeMap, DisruptionInput, Options, PodBlock, ON_DEMAND, SPOT};
    use crate::input::NodeInput;
    use crate::input::Strategy as Mode;
    use karpenter_scheduling::labels as l;
    use karpenter_scheduling::model::{
        LabelSelector, PodAffinityTerm, Taint, TaintEffect, Toleration, TopologySpreadConstraint,
        WhenUnsatisfiable,
    };
    use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, proptest, ProptestConfig};
    use proptest::strategy::Strategy;

    #[derive(Debug, Clone)]
    struct NodeSpec {
        pool: usize,
        ty: usize,
        zone: bool,
        spot: bool,
        pods: Vec<(i64, i64, u8)>,
    }

    fn node_spec() -> impl Strategy<Value = NodeSpec> {
        (
            0usize..2,
            0usize..5,
            any::<bool>(),
            prop::bool::weighted(0.2),
            prop::collection::vec((100i64..2500, 1i64..7, 0u8..10), 0..5),
        )
            .prop_map(|(pool, ty, zone, spot, pods)| NodeSpec {
                pool,
                ty,
                zone,
                spot,
                pods,
            })
    }

    /// A random cluster; without `constraints`, no pod has spread or (anti-)affinity terms
    /// (the simulations' shortcuts apply).
    fn build(
        specs: &[NodeSpec],
        budget_k: usize,
        spot_pool: bool,
        constraints: bool,
    ) -> DisruptionInput {
        let its = catalog();
        let mut nodes: Vec<NodeInput> = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let it = &its[s.ty];
            let pool = if s.pool == 0 { "a" } else { "b" };
            let ct = if s.spot && spot_pool && pool == "b" {
                SPOT
            } else {
                ON_DEMAND
            };
            let zone = if s.zone { "us-east-1a" } else { "us-east-1b" };
            let mut used = karpenter_scheduling::Resources::default();
            let mut pods = Vec::new();
            for (j, &(cpu, mem, kind)) in s.pods.iter().enumerate() {
                // db pods (kind 7) repel each other per host, so at most one per node; spread
                // pods (kind 6) spread over zones (max skew 1, hard); cache pods (kind 5)
                // need a web pod in their zone.
                let kind = if constraints { kind } else { kind % 5 };
                let app = match kind {
                    7 => "db",
                    6 => "spread",
                    5 => "cache",
                    _ => ["web", "api"][usize::from(kind) % 2],
                };
                if kind == 7
                    && pods.iter().any(|b: &crate::input::BoundPod| {
                        b.pod.labels.get("app").is_some_and(|a| a == "db")
                    })
                {
                    continue;
                }
                let mut p = pod(&format!("{app}-{i}-{j}"), cpu, mem);
                let mut need = used.clone();
                need.add(&p.requests);
                need.pods += 1;
                if !need.fits(&it.allocatable) {
                    continue;
                }
                // Pool b's nodes are tainted: their pods tolerate it, and so do api pods
                // elsewhere; web pods on pool a must never land on pool b.
                if pool == "b" || app == "api" {
                    p.tolerations = vec![Toleration {
                        key: TAINT.into(),
                        operator: "Equal".into(),
                        value: "b".into(),
                        effect: Some(TaintEffect::NoSchedule),
                    }];
                }
                if kind == 6 {
                    p.topology_spread_constraints = vec![TopologySpreadConstraint {
                        max_skew: 1,
                        topology_key: l::ZONE.into(),
                        when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                        label_selector: LabelSelector {
                            match_labels: BTreeMap::from([("app".into(), app.into())]),
                            ..Default::default()
                        },
                        min_domains: None,
                        node_affinity_policy: None,
                        node_taints_policy: None,
                        match_label_keys: vec![],
                    }];
                }
                if kind == 5 {
                    p.pod_affinity = vec![PodAffinityTerm {
                        label_selector: LabelSelector {
                            match_labels: BTreeMap::from([("app".into(), "web".into())]),
                            ..Default::default()
                        },
                        namespaces: vec![],
                        topology_key: l::ZONE.into(),
                    }];
                }
                if kind == 7 {
                    // One db per host, hard.
                    p.pod_anti_affinity = vec![PodAffinityTerm {
                        label_selector: LabelSelector {
                            match_labels: BTreeMap::from([("app".into(), app.into())]),
                            ..Default::default()
                        },
                        namespaces: vec![],
                        topology_key: l::HOSTNAME.into(),
                    }];
                }
                used = need;
                pods.push(match kind {
                    8 => blocked(p, PodBlock::DoNotDisrupt(format!("default/{app}-{i}-{j}"))),
                    9 => blocked(
                        p,
                        PodBlock::Pdb(format!("default/{app}-{i}-{j}"), "default/pdb".into()),
                    ),
                    _ => bound(p),
                });
            }
            let mut n = node(&format!("n{i:02}"), pool, it, zone, ct, pods);
            if pool == "b" {
                n.node.taints = vec![b_taint()];
            }
            nodes.push(n);
        }
        let np = |name: &str| {
            nodepool(name, |np| {
                np.spec.disruption = Some(budget(&budget_k.to_string()))
            })
        };
        let b_cts: &[&str] = if spot_pool {
            &[SPOT, ON_DEMAND]
        } else {
            &[ON_DEMAND]
        };
        let mut inp = input(&[(np("a"), &[ON_DEMAND]), (np("b"), b_cts)], nodes);
        inp.scheduling_pools[1].taints = vec![b_taint()];
        inp
    }

    /// The taint of pool b's nodes.
    const TAINT: &str = "example.com/dedicated";

    fn b_taint() -> Taint {
        Taint {
            key: TAINT.into(),
            value: "b".into(),
            effect: TaintEffect::NoSchedule,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        /// Applying the commands never strands a pod, never breaks a hard constraint (taints,
        /// anti-affinity, pod affinity, zone spread: see `replay`), never exceeds a budget,
        /// and never raises $/h, in either strategy.
        #[test]
        fn plans_are_safe(
            specs in prop::collection::vec(node_spec(), 1..8),
            k in 1usize..4,
            spot_pool in any::<bool>(),
            gate in any::<bool>(),
        ) {
            let inp = build(&specs, k, spot_pool, true);
            let mut after = Vec::new();
            for strategy in [Mode::Karpenter, Mode::Default] {
                let opts = Options { strategy, spot_to_spot_consolidation: gate, ..Options::default() };
                let (plan, _) = crate::plan(&inp, &opts).unwrap();
                replay(&inp, &plan, Some(k));
                after.push(plan.price_per_hour_after);
                prop_assert!(plan.price_per_hour_after <= plan.price_per_hour_before + 1e-9,
                    "{strategy:?}: {} -> {}", plan.price_per_hour_before, plan.price_per_hour_after);
                for c in &plan.commands {
                    prop_assert!(c.savings_per_hour >= 0.0, "{c:?}");
                }
                // Every node is either disrupted or explained.
                let disrupted = plan
                    .commands
                    .iter()
                    .flat_map(|c| &c.candidates)
                    .filter(|n| inp.nodes.iter().any(|x| x.name() == n.as_str()))
                    .count();
                prop_assert_eq!(disrupted + plan.unchosen.len(), inp.nodes.len());
                // Blocked nodes are never disrupted.
                for n in &inp.nodes {
                    if n.pods.iter().any(|p| p.blocks.is_some()) {
                        prop_assert!(!plan.commands.iter().any(|c| c.candidates.iter().any(|x| x == n.name())));
                    }
                }
            }
            // The default strategy never ends dearer than upstream's.
            prop_assert!(after[1] <= after[0] + 1e-9, "default {} vs karpenter {}", after[1], after[0]);
        }

        /// The simulations' shortcuts (full nodes left out, the nodes a first fit reaches
        /// tried first) change no plan: every field, placements and stats included, in both
        /// strategies, with and without spread and affinity terms.
        #[test]
        fn shortcuts_change_no_plan(
            specs in prop::collection::vec(node_spec(), 1..10),
            k in 1usize..5,
            spot_pool in any::<bool>(),
            constraints in prop::bool::weighted(0.25),
        ) {
            let inp = build(&specs, k, spot_pool, constraints);
            for strategy in [Mode::Karpenter, Mode::Default] {
                let opts = Options { strategy, ..Options::default() };
                let fast = crate::plan(&inp, &opts).unwrap();
                let exact = crate::engine::plan_without_shortcuts(&inp, &opts).unwrap();
                prop_assert_eq!(format!("{fast:?}"), format!("{exact:?}"));
            }
        }
    }
}

#[test]
fn commands_are_revalidated_against_fresh_state() {
    use crate::engine::{validate, ValidationError};
    let its = catalog();
    let xl = find(&its, "m5.xlarge");
    let xxl = find(&its, "m5.2xlarge");
    let nodes = vec![
        node(
            "a",
            "default",
            xl,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-1", 1000, 2))],
        ),
        node(
            "b",
            "default",
            xl,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-2", 1000, 2))],
        ),
        node("e1", "default", xxl, "us-east-1a", ON_DEMAND, vec![]),
        node("e2", "default", xxl, "us-east-1a", ON_DEMAND, vec![]),
    ];
    let np = nodepool("default", |np| np.spec.disruption = Some(budget("100%")));
    let inp = input(&[(np, &[ON_DEMAND])], nodes);
    let opts = Options::default();
    let plan = crate::plan(&inp, &opts).unwrap().0;
    let empty = plan
        .commands
        .iter()
        .find(|c| c.reason == Reason::Empty)
        .unwrap()
        .clone();
    assert_eq!(empty.candidates, ["e1", "e2"]);
    // Unchanged state: valid as is.
    assert_eq!(
        validate(&inp, &empty, &opts).unwrap().candidates,
        empty.candidates
    );
    // A pod landed on e1 meanwhile: emptiness keeps e2 only.
    let mut changed = inp.clone();
    changed.nodes[2].pods.push(bound(pod("late-1", 100, 1)));
    let v = validate(&changed, &empty, &opts).unwrap();
    assert_eq!(v.candidates, ["e2"]);
    assert!((v.savings_per_hour - 0.384).abs() < 1e-9);
    // Both gained pods: nothing left.
    changed.nodes[3].pods.push(bound(pod("late-2", 100, 1)));
    assert!(matches!(
        validate(&changed, &empty, &opts),
        Err(ValidationError::Churn(2))
    ));
    // A budget now at zero.
    let mut zero = inp.clone();
    zero.pools[0] = crate::timing::PoolSettings::from_nodepool(&nodepool("default", |np| {
        np.spec.disruption = Some(budget("0"))
    }))
    .unwrap();
    assert!(matches!(
        validate(&zero, &empty, &opts),
        Err(ValidationError::Budget(_))
    ));
    // Consolidation: a candidate that became do-not-disrupt invalidates the whole command.
    let cons = crate::plan::Command {
        reason: Reason::Underutilized,
        wave: 1,
        candidates: vec!["a".into()],
        replacements: vec![],
        savings_per_hour: 0.192,
        explanation: String::new(),
        method: crate::plan::Method::SingleNodeConsolidation,
        node_pools: vec!["default".into()],
        placements: vec![],
    };
    assert!(validate(&inp, &cons, &opts).is_ok());
    let mut dnd = inp.clone();
    dnd.nodes[0].do_not_disrupt = true;
    assert!(matches!(
        validate(&dnd, &cons, &opts),
        Err(ValidationError::Churn(1))
    ));
    // Its pods no longer fit elsewhere: b filled up and the empty nodes are gone.
    let mut full = inp.clone();
    full.nodes.truncate(2);
    full.nodes[1].pods.push(bound(pod("big-1", 2900, 10)));
    full.nodes[1]
        .node
        .requested
        .add(&karpenter_scheduling::Resources::cpu_mem(2900, 10 * GI));
    let r = validate(&full, &cons, &opts);
    assert!(
        matches!(
            r,
            Err(ValidationError::Changed(_)) | Err(ValidationError::Scheduling(_))
        ),
        "{r:?}"
    );
}

/// Upstream's disruption suites (`pkg/controllers/disruption/*_test.go`), re-expressed as
/// plans under `Strategy::Karpenter`; each test names the upstream case it mirrors.
mod parity {
    use super::*;
    use crate::input::NodeInput;
    use karpenter_scheduling::model::{LabelSelector, PodAffinityTerm};
    use karpenter_scheduling::Offering;

    fn karpenter(inp: &DisruptionInput) -> Plan {
        let plan = run(inp, Strategy::Karpenter);
        replay(inp, &plan, None);
        plan
    }

    fn pool100() -> v1::NodePool {
        nodepool("default", |np| np.spec.disruption = Some(budget("100%")))
    }

    fn first_wave(plan: &Plan) -> Vec<&String> {
        plan.commands
            .iter()
            .filter(|c| c.wave == 1)
            .flat_map(|c| &c.candidates)
            .collect()
    }

    /// emptiness_test.go / consolidation_test.go "should only allow 3 empty nodes to be
    /// disrupted", "should allow all empty nodes to be disrupted", "should allow no empty
    /// nodes to be disrupted".
    #[test]
    fn empty_node_budgets() {
        let its = catalog();
        let m5 = find(&its, "m5.large");
        for (b, want) in [("3", 3), ("100%", 10), ("0", 0)] {
            let nodes: Vec<_> = (0..10)
                .map(|i| {
                    node(
                        &format!("n{i}"),
                        "default",
                        m5,
                        "us-east-1a",
                        ON_DEMAND,
                        vec![],
                    )
                })
                .collect();
            let np = nodepool("default", |np| np.spec.disruption = Some(budget(b)));
            let plan = karpenter(&input(&[(np, &[ON_DEMAND])], nodes));
            assert_eq!(first_wave(&plan).len(), want, "budget {b}");
        }
    }

    /// "should allow 2 nodes from each nodePool to be deleted" (multi-node delete, budgets per
    /// pool): 10 underused nodes in each of two pools with a budget of 2.
    #[test]
    fn budgets_per_nodepool_in_multi_node_consolidation() {
        let its = catalog();
        let xl = find(&its, "m5.xlarge");
        let mut nodes = Vec::new();
        for pool in ["a", "b"] {
            for i in 0..10 {
                nodes.push(node(
                    &format!("{pool}{i}"),
                    pool,
                    xl,
                    "us-east-1a",
                    ON_DEMAND,
                    vec![bound(pod(&format!("web-{pool}{i}"), 200, 1))],
                ));
            }
        }
        let np = |n: &str| nodepool(n, |np| np.spec.disruption = Some(budget("2")));
        let inp = input(&[(np("a"), &[ON_DEMAND]), (np("b"), &[ON_DEMAND])], nodes);
        let plan = run(&inp, Strategy::Karpenter);
        replay(&inp, &plan, Some(2));
        let w1 = &plan.commands[0];
        assert_eq!(w1.candidates.len(), 4, "{w1:?}");
        assert_eq!(w1.node_pools.iter().filter(|p| *p == "a").count(), 2);
    }

    /// "can delete nodes, when non-Karpenter capacity can fit pods".
    #[test]
    fn unmanaged_capacity_takes_the_pods() {
        let its = catalog();
        let l = find(&its, "m5.large");
        let xxl = find(&its, "m5.2xlarge");
        let mut unmanaged = node("static", "none", xxl, "us-east-1a", ON_DEMAND, vec![]);
        unmanaged.managed = false;
        unmanaged.node_pool = None;
        let nodes = vec![
            unmanaged,
            node(
                "k",
                "default",
                l,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-1", 1000, 5))],
            ),
        ];
        let plan = karpenter(&input(&[(pool100(), &[ON_DEMAND])], nodes));
        assert_eq!(plan.commands.len(), 1);
        assert_eq!(plan.commands[0].candidates, ["k"]);
        assert!(plan.commands[0].replacements.is_empty());
        assert_eq!(
            plan.commands[0].placements,
            [("default/web-1".to_string(), "static".to_string())]
        );
    }

    /// "won't delete node if it would require pods to schedule on an uninitialized node".
    #[test]
    fn uninitialized_nodes_are_no_destination() {
        let its = catalog();
        let l = find(&its, "m5.large");
        let xxl = find(&its, "m5.2xlarge");
        let mut fresh = node("fresh", "default", xxl, "us-east-1a", ON_DEMAND, vec![]);
        fresh.node.initialized = false;
        let nodes = vec![
            fresh,
            node(
                "k",
                "default",
                l,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-1", 1000, 5))],
            ),
        ];
        let plan = karpenter(&input(&[(pool100(), &[ON_DEMAND])], nodes));
        assert!(plan.commands.is_empty(), "{:#?}", plan.commands);
        assert!(
            unchosen(&plan, "k").reason.contains("uninitialized"),
            "{}",
            unchosen(&plan, "k").reason
        );
    }

    /// "won't delete node if it would violate pod anti-affinity".
    #[test]
    fn anti_affinity_is_kept() {
        let its = catalog();
        let xl = find(&its, "m5.xlarge");
        let anti = |name: &str| {
            let mut p = pod(name, 100, 1);
            p.labels.insert("app".into(), "db".into());
            p.pod_anti_affinity = vec![PodAffinityTerm {
                label_selector: LabelSelector {
                    match_labels: BTreeMap::from([("app".into(), "db".into())]),
                    ..Default::default()
                },
                namespaces: vec![],
                topology_key: l::HOSTNAME.into(),
            }];
            bound(p)
        };
        let nodes = vec![
            node(
                "a",
                "default",
                xl,
                "us-east-1a",
                ON_DEMAND,
                vec![anti("db-1"), bound(pod("web-1", 2500, 10))],
            ),
            node(
                "b",
                "default",
                xl,
                "us-east-1a",
                ON_DEMAND,
                vec![anti("db-2")],
            ),
        ];
        let plan = karpenter(&input(&[(pool100(), &[ON_DEMAND])], nodes));
        // b cannot be deleted (db-2 may not join db-1); it may be replaced by a cheaper node.
        for c in &plan.commands {
            assert!(
                !c.replacements.is_empty() || !c.candidates.contains(&"b".to_string()),
                "{c:?}"
            );
        }
    }

    /// "can merge 3 nodes into 1".
    #[test]
    fn three_nodes_merge_into_one() {
        let its = catalog();
        let l = find(&its, "m5.large");
        let nodes: Vec<_> = (0..3)
            .map(|i| {
                node(
                    &format!("n{i}"),
                    "default",
                    l,
                    "us-east-1a",
                    ON_DEMAND,
                    vec![bound(pod(&format!("web-{i}"), 600, 1))],
                )
            })
            .collect();
        let plan = karpenter(&input(&[(pool100(), &[ON_DEMAND])], nodes));
        assert_eq!(plan.commands.len(), 1, "{:#?}", plan.commands);
        let c = &plan.commands[0];
        assert_eq!(c.candidates.len(), 3);
        assert_eq!(c.replacements.len(), 1);
        assert!(c.replacements[0].price_per_hour < 3.0 * 0.096);
        assert!(
            c.explanation.contains("fit on one cheaper"),
            "{}",
            c.explanation
        );
    }

    /// "should consolidate the node with best savings ratio first": the dearest, least
    /// disruptive node is tried first.
    #[test]
    fn best_savings_ratio_first() {
        let its = catalog();
        let l = find(&its, "m5.large");
        let xxl = find(&its, "m5.2xlarge");
        let nodes = vec![
            node(
                "cheap",
                "default",
                l,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-1", 100, 1))],
            ),
            node(
                "dear",
                "default",
                xxl,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-2", 100, 1))],
            ),
            node(
                "big",
                "default",
                find(&its, "m5.4xlarge"),
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-3", 100, 1))],
            ),
        ];
        let np = nodepool("default", |np| np.spec.disruption = Some(budget("1")));
        let plan = karpenter(&input(&[(np, &[ON_DEMAND])], nodes));
        assert_eq!(
            plan.commands[0].candidates,
            ["big"],
            "$0.768/h for one pod: best ratio"
        );
    }

    /// "can delete nodes with a permanently pending pod": a pod no node can hold does not block
    /// consolidation.
    #[test]
    fn permanently_pending_pods_do_not_block() {
        let its = catalog();
        let xl = find(&its, "m5.xlarge");
        let nodes = vec![
            node(
                "a",
                "default",
                xl,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-1", 500, 1))],
            ),
            node(
                "b",
                "default",
                xl,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-2", 500, 1))],
            ),
        ];
        let mut inp = input(&[(pool100(), &[ON_DEMAND])], nodes);
        inp.pending_pods.push(pod("huge-1", 100_000, 1));
        let plan = karpenter(&inp);
        assert!(!plan.commands.is_empty());
        assert!(plan.price_per_hour_after < plan.price_per_hour_before);
    }

    /// "won't replace node if any spot replacement is more expensive": the replacement may be
    /// spot in a zone where spot costs more than the node.
    #[test]
    fn worst_case_spot_price_decides() {
        let mut its = catalog();
        // c5.large spot: cheap in 1a, dearer than an m5.large in 1b.
        let c5 = its.iter_mut().find(|t| t.name == "c5.large").unwrap();
        c5.offerings = vec![
            Offering {
                zone: "us-east-1a".into(),
                capacity_type: SPOT.into(),
                price: 0.03,
                available: true,
            },
            Offering {
                zone: "us-east-1b".into(),
                capacity_type: SPOT.into(),
                price: 0.2,
                available: true,
            },
            Offering {
                zone: "us-east-1a".into(),
                capacity_type: ON_DEMAND.into(),
                price: 0.085,
                available: true,
            },
        ];
        let m5 = its.iter().find(|t| t.name == "m5.large").unwrap().clone();
        let nodes: Vec<NodeInput> = vec![node(
            "a",
            "default",
            &m5,
            "us-east-1a",
            ON_DEMAND,
            vec![bound(pod("web-1", 1000, 2))],
        )];
        let mut inp = input(&[(pool100(), &[ON_DEMAND, SPOT])], nodes);
        inp.instance_types = its;
        let plan = karpenter(&inp);
        assert!(
            plan.commands
                .iter()
                .all(|c| c.replacements.iter().all(|r| r.instance_type != "c5.large")),
            "{:#?}",
            plan.commands
        );
    }

    /// "should not consolidate pods onto a destination node that is under its consolidateAfter
    /// window", then the same after the window.
    #[test]
    fn destinations_inside_consolidate_after_are_refused() {
        let its = catalog();
        let c5 = find(&its, "c5.large");
        let mk = |recent: bool| {
            let mut dest = node(
                "dest",
                "default",
                c5,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-1", 300, 1)), bound(pod("web-2", 300, 1))],
            );
            dest.last_pod_event = Some(if recent {
                now()
            } else {
                now() - SignedDuration::from_mins(2)
            });
            let mut src = node(
                "src",
                "default",
                c5,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-3", 300, 1))],
            );
            src.consolidatable_condition = true;
            let np = nodepool("default", |np| {
                np.spec.disruption = Some(v1::Disruption {
                    consolidate_after: Some("1m".into()),
                    budgets: Some(vec![v1::Budget {
                        nodes: Some("100%".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                })
            });
            input(&[(np, &[ON_DEMAND])], vec![dest, src])
        };
        let plan = karpenter(&mk(true));
        assert!(plan.commands.is_empty(), "{:#?}", plan.commands);
        let plan = karpenter(&mk(false));
        assert_eq!(plan.commands.len(), 1);
        assert_eq!(plan.commands[0].candidates, ["src"]);
    }

    /// "should not consolidate static NodePool nodes".
    #[test]
    fn static_pools_are_left_alone() {
        let its = catalog();
        let xl = find(&its, "m5.xlarge");
        let nodes = vec![
            node("a", "default", xl, "us-east-1a", ON_DEMAND, vec![]),
            node(
                "b",
                "default",
                xl,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod("web-1", 100, 1))],
            ),
        ];
        let np = nodepool("default", |np| {
            np.spec.replicas = Some(2);
            np.spec.disruption = Some(budget("100%"));
        });
        let plan = karpenter(&input(&[(np, &[ON_DEMAND])], nodes));
        assert!(plan.commands.is_empty(), "{:#?}", plan.commands);
        assert_eq!(unchosen(&plan, "b").blocker, Blocker::StaticNodePool);
    }
}

#[test]
fn default_strategy_repacks_many_nodes_onto_fewer() {
    let its = catalog();
    let xxl = find(&its, "m5.2xlarge");
    // Four 5-CPU pods, one per 8-CPU node: no two share an m5.2xlarge, three fit an
    // m5.4xlarge (as dear as two m5.2xlarge), and no single node holds all four.
    let nodes: Vec<_> = (0..4)
        .map(|i| {
            node(
                &format!("n{i}"),
                "default",
                xxl,
                "us-east-1a",
                ON_DEMAND,
                vec![bound(pod(&format!("batch-{i}"), 5000, 10))],
            )
        })
        .collect();
    let np = nodepool("default", |np| np.spec.disruption = Some(budget("100%")));
    let inp = input(&[(np, &[ON_DEMAND])], nodes);
    let d = run(&inp, Strategy::Default);
    replay(&inp, &d, None);
    let repack = d
        .commands
        .iter()
        .find(|c| c.method == crate::plan::Method::Repack)
        .unwrap_or_else(|| panic!("a repack: {:#?}", d.commands));
    assert_eq!(repack.candidates.len(), 4, "{repack:?}");
    assert_eq!(repack.replacements.len(), 2);
    assert!(
        repack.explanation.contains("repack onto 2 cheaper nodes"),
        "{}",
        repack.explanation
    );
    assert_eq!(d.commands.iter().map(|c| c.wave).max(), Some(1), "one wave");
    let k = run(&inp, Strategy::Karpenter);
    replay(&inp, &k, None);
    assert!(
        k.commands.iter().all(|c| c.replacements.len() <= 1),
        "upstream never launches more than one"
    );
    // Upstream merges three of them (the fourth pod needs a second node, which it never
    // launches); the repack moves all four at the same price.
    assert!(
        k.commands.iter().all(|c| c.candidates.len() <= 3),
        "{:#?}",
        k.commands
    );
    assert!(d.price_per_hour_after <= k.price_per_hour_after + 1e-9);
}

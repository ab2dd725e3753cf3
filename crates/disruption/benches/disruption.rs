//! Disruption engine figures (run: `cargo bench -p karpenter-disruption`). Prints, for each
//! scenario and strategy: the median wall and CPU time over `--runs N` (default 5) plans,
//! commands, waves, simulations, $/h before and after, the LP lower bound on $/h (the nodes
//! that must stay plus `karpenter_scheduling::lp`'s bound for the rest) and, for the karpenter
//! strategy, how many upstream loops and minutes the same plan would take. `--digest` prints a
//! fingerprint of each plan instead (to check that a speed-up changed no decision); `--quick`
//! runs a small scenario; `--only default|karpenter` and `--case N` narrow the run.
//!
//! Scenarios (issue 12's targets): 2,000 underutilised m5.xlarge nodes carrying 20,000 bound
//! pods in one NodePool (a few do-not-disrupt pods); 20 NodePools with 1,000 nodes.
use std::collections::BTreeMap;
use std::time::Instant;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use karpenter_api::sh::v1;
use karpenter_disruption::input::{
    BoundPod, DisruptionInput, NodeInput, Options, PodBlock, Strategy,
};
use karpenter_disruption::plan::{Method, Reason};
use karpenter_disruption::timing::PoolSettings;
use karpenter_scheduling::instancetype::ON_DEMAND;
use karpenter_scheduling::labels as l;
use karpenter_scheduling::lp::{lower_bound, Column};
use karpenter_scheduling::model::RunningPod;
use karpenter_scheduling::requirements::{NodeSelectorRequirement, Operator};
use karpenter_scheduling::{ExistingNode, InstanceType, NodePool, Offering, Pod, Resources};

const GI: i64 = 1 << 30;

fn ty(name: &str, cpu: i64, mem_gi: i64, price: f64) -> InstanceType {
    let mut cap = Resources::cpu_mem(cpu * 1000, mem_gi * GI);
    cap.pods = 110;
    InstanceType::new(
        name,
        BTreeMap::from([
            (
                l::INSTANCE_FAMILY.to_string(),
                name.split('.').next().unwrap().to_string(),
            ),
            (l::ARCH.to_string(), "amd64".to_string()),
        ]),
        cap,
        Resources::cpu_mem(100, GI / 2),
        ["us-east-1a", "us-east-1b", "us-east-1c"]
            .iter()
            .map(|z| Offering {
                zone: z.to_string(),
                capacity_type: ON_DEMAND.into(),
                price,
                available: true,
            })
            .collect(),
    )
}

fn catalog() -> Vec<InstanceType> {
    let mut v = Vec::new();
    for (fam, mem, base) in [("m5", 4, 0.048), ("c5", 2, 0.0425), ("r5", 8, 0.063)] {
        for (size, cpu) in [
            ("large", 2),
            ("xlarge", 4),
            ("2xlarge", 8),
            ("4xlarge", 16),
            ("8xlarge", 32),
        ] {
            v.push(ty(
                &format!("{fam}.{size}"),
                cpu,
                cpu * mem,
                base * cpu as f64,
            ));
        }
    }
    v
}

fn scenario(pools: usize, nodes: usize, pods_per_node: usize) -> DisruptionInput {
    let now: Timestamp = "2026-03-02T12:00:00Z".parse().unwrap();
    let its = catalog();
    let xl = its.iter().find(|t| t.name == "m5.xlarge").unwrap().clone();
    let mut out = Vec::new();
    for i in 0..nodes {
        let pool = format!("pool-{}", i % pools);
        let name = format!("node-{i:05}");
        let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][i % 3];
        let mut labels = xl.labels.clone();
        labels.insert(l::ZONE.into(), zone.into());
        labels.insert(l::CAPACITY_TYPE.into(), ON_DEMAND.into());
        labels.insert(l::NODEPOOL.into(), pool.clone());
        labels.insert(l::HOSTNAME.into(), name.clone());
        let mut requested = Resources::default();
        let mut running = Vec::new();
        let mut pods = Vec::new();
        for j in 0..pods_per_node {
            let app = format!("app-{}", (i * pods_per_node + j) % 50);
            let p = Pod {
                namespace: "default".into(),
                name: format!("{app}-{i}-{j}"),
                uid: format!("{i}-{j}"),
                labels: BTreeMap::from([("app".to_string(), app)]),
                requests: Resources::cpu_mem(100, GI / 4),
                ..Default::default()
            };
            let mut r = p.requests.clone();
            r.pods = 1;
            requested.add(&r);
            running.push(RunningPod {
                namespace: "default".into(),
                labels: p.labels.clone(),
                pod_anti_affinity: vec![],
            });
            let blocks = (i % 400 == 7 && j == 0)
                .then(|| PodBlock::DoNotDisrupt(format!("default/{}", p.name)));
            pods.push(BoundPod {
                pod: p,
                reschedulable: true,
                eviction_cost: 1.0,
                blocks,
                start_time: None,
            });
        }
        let created = now - SignedDuration::from_hours(48);
        out.push(NodeInput {
            node: ExistingNode {
                name,
                labels,
                taints: vec![],
                capacity: xl.capacity.clone(),
                allocatable: xl.allocatable.clone(),
                requested,
                pods: running,
                host_ports: vec![],
                initialized: true,
            },
            node_pool: Some(pool),
            managed: true,
            ready: true,
            marked_for_deletion: false,
            instance_terminating: false,
            nominated: false,
            do_not_disrupt: false,
            created,
            initialized_at: Some(created),
            last_pod_event: Some(created),
            consolidatable_condition: true,
            expire_after: None,
            termination_grace_period: None,
            drift: None,
            pods,
            price: 0.192,
        });
    }
    let names: Vec<String> = (0..pools).map(|p| format!("pool-{p}")).collect();
    DisruptionInput {
        now,
        pools: names
            .iter()
            .map(|n| {
                let mut np = v1::NodePool::new(n, Default::default());
                np.spec.template.spec.expire_after = Some("Never".into());
                PoolSettings::from_nodepool(&np).unwrap()
            })
            .collect(),
        scheduling_pools: names
            .iter()
            .map(|n| NodePool {
                name: n.clone(),
                requirements: vec![NodeSelectorRequirement::new(
                    l::CAPACITY_TYPE,
                    Operator::In,
                    &[ON_DEMAND],
                )],
                ..Default::default()
            })
            .collect(),
        instance_types: its,
        daemon_sets: vec![],
        nodes: out,
        pending_pods: vec![],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let cases: Vec<(&str, usize, usize, usize)> = if quick {
        vec![("200 nodes / 2,000 pods, 1 NodePool", 1, 200, 10)]
    } else {
        vec![
            ("2,000 nodes / 20,000 pods, 1 NodePool", 1, 2000, 10),
            ("1,000 nodes / 10,000 pods, 20 NodePools", 20, 1000, 10),
        ]
    };
    let verbose = args.iter().any(|a| a == "--verbose");
    let digest = args.iter().any(|a| a == "--digest");
    // `--only default|karpenter` and `--case N` (0-based) narrow the run, for profiling.
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let only = arg("--only");
    let case: Option<usize> = arg("--case").and_then(|c| c.parse().ok());
    let runs: usize = arg("--runs")
        .and_then(|c| c.parse().ok())
        .unwrap_or(5)
        .max(1);
    for (ci, (label, pools, nodes, ppn)) in cases.into_iter().enumerate() {
        if case.is_some_and(|c| c != ci) {
            continue;
        }
        let input = scenario(pools, nodes, ppn);
        let mut after = Vec::new();
        for strategy in [Strategy::Default, Strategy::Karpenter] {
            if only
                .as_deref()
                .is_some_and(|o| !format!("{strategy:?}").eq_ignore_ascii_case(o))
            {
                continue;
            }
            let opts = Options {
                strategy,
                ..Options::default()
            };
            let t = Instant::now();
            let cpu0 = cpu_seconds();
            let (plan, stats) = karpenter_disruption::plan(&input, &opts).unwrap();
            let dt = t.elapsed();
            let cpu = cpu_seconds() - cpu0;
            let waves = plan.commands.iter().map(|c| c.wave).max().unwrap_or(0);
            if digest {
                // A fingerprint of the whole plan (every field, placements included) and the
                // stats, to check that a speed-up changed no decision.
                let text = format!("{plan:?} {stats:?}");
                let h = text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
                });
                println!(
                    "{label} [{strategy:?}]: digest={h:016x} commands={} $/h={:.3} ({:.2} s, cpu {cpu:.2} s)",
                    plan.commands.len(),
                    plan.price_per_hour_after,
                    dt.as_secs_f64()
                );
                continue;
            }
            if verbose {
                let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
                for u in &plan.unchosen {
                    let key: String = u.reason.chars().take(70).collect();
                    *reasons.entry(key).or_default() += 1;
                }
                for c in &plan.commands {
                    println!(
                        "  wave {} {} {} nodes -> {} new: {}",
                        c.wave,
                        c.reason,
                        c.candidates.len(),
                        c.replacements.len(),
                        c.explanation.chars().take(90).collect::<String>()
                    );
                }
                for (r, n) in reasons {
                    println!("  unchosen {n}: {r}");
                }
            }
            let disrupted: usize = plan.commands.iter().map(|c| c.candidates.len()).sum();
            // Repeat for a median: the machine is shared.
            let mut walls = vec![dt.as_secs_f64()];
            let mut cpus = vec![cpu];
            for _ in 1..runs {
                let t = Instant::now();
                let cpu0 = cpu_seconds();
                let _ = karpenter_disruption::plan(&input, &opts).unwrap();
                walls.push(t.elapsed().as_secs_f64());
                cpus.push(cpu_seconds() - cpu0);
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let bound = lp_bound(&input);
            let shape = shape_bound(&input)
                .map(|b| {
                    format!(
                        "; one pod shape, so also ${b:.2}/h (pods per node), {:+.1} % above it",
                        (plan.price_per_hour_after / b - 1.0) * 100.0
                    )
                })
                .unwrap_or_default();
            println!(
                "{label} [{strategy:?}]: median {:.2} s (cpu {:.2} s) over {runs} runs, {} commands in {waves} waves ({disrupted} nodes), {} simulations ({} multi-node, {} single-node), ${:.2}/h -> ${:.2}/h; LP lower bound ${bound:.2}/h, {:+.1} % above it{shape}{}",
                median(&mut walls),
                median(&mut cpus),
                plan.commands.len(),
                stats.simulations,
                stats.multi_node_simulations,
                stats.single_node_simulations,
                plan.price_per_hour_before,
                plan.price_per_hour_after,
                (plan.price_per_hour_after / bound - 1.0) * 100.0,
                if stats.upstream_plan { " (upstream's plan kept: cheaper)" } else { "" }
            );
            if strategy == Strategy::Karpenter {
                let (least, most) = upstream_minutes(&plan);
                println!(
                    "    upstream: {} loops (one command each); at least {least:.1} min waiting on its 15 s validations, up to {most:.1} min when every search runs to upstream's caps (multi-node 1 min, single-node 3 min, and one idle pass at the end)",
                    stats.passes
                );
            }
            after.push((strategy, plan.price_per_hour_after));
        }
        if let [(_, d), (_, k)] = after[..] {
            println!(
                "    default ${d:.2}/h vs karpenter ${k:.2}/h: {}",
                if d <= k + 1e-9 {
                    "default no dearer"
                } else {
                    "DEFAULT DEARER"
                }
            );
        }
    }
}

/// A lower bound on the $/h of any end state: the nodes that must stay (a blocked pod, a
/// do-not-disrupt node, unmanaged) at their price, plus the LP bound
/// (`karpenter_scheduling::lp`) for whatever of the bound pods' requests their allocatable
/// cannot hold, over the catalog's types at their cheapest available offering.
fn lp_bound(input: &DisruptionInput) -> f64 {
    let quad = |r: &Resources| {
        [
            r.cpu_millis as f64,
            r.memory_bytes as f64,
            r.pods as f64,
            r.ephemeral_bytes as f64,
        ]
    };
    let mut demand = [0.0; 4];
    let mut stay_price = 0.0;
    for n in &input.nodes {
        for p in &n.pods {
            let mut r = p.pod.requests.clone();
            r.pods = 1;
            for (d, v) in demand.iter_mut().zip(quad(&r)) {
                *d += v;
            }
        }
        let stays = !n.managed || n.do_not_disrupt || n.pods.iter().any(|p| p.blocks.is_some());
        if stays {
            stay_price += n.price;
            for (d, v) in demand.iter_mut().zip(quad(&n.node.allocatable)) {
                *d -= v;
            }
        }
    }
    let demand: Vec<f64> = demand.iter().map(|d| d.max(0.0)).collect();
    let columns: Vec<Column> = input
        .instance_types
        .iter()
        .filter_map(|t| {
            let price = t
                .offerings
                .iter()
                .filter(|o| o.available)
                .map(|o| o.price)
                .min_by(f64::total_cmp)?;
            Some(Column {
                alloc: quad(&t.allocatable).to_vec(),
                price,
            })
        })
        .collect();
    stay_price + lower_bound(&columns, &demand).unwrap_or(f64::NAN)
}

/// When every bound pod has the same requests, a tighter bound than the LP's: a node of type
/// `t` holds at most `k_t` such pods (its allocatable in every dimension, pod slots included), so
/// the pods the must-stay nodes cannot hold cost at least `min_t price_t / k_t` each. The LP
/// pools each resource over all nodes, as if one pod's CPU could sit on one node and its memory
/// on another; with 110 pod slots per node and small pods that is far below any real packing.
fn shape_bound(input: &DisruptionInput) -> Option<f64> {
    let mut shape: Option<Resources> = None;
    let mut count = 0i64;
    for n in &input.nodes {
        for p in &n.pods {
            let mut r = p.pod.requests.clone();
            r.pods = 1;
            if shape.as_ref().is_some_and(|s| *s != r) {
                return None;
            }
            shape = Some(r);
            count += 1;
        }
    }
    let shape = shape?;
    let per_node = |alloc: &Resources| -> i64 {
        let dim = |have: i64, need: i64| {
            if need > 0 {
                have.max(0) / need
            } else {
                i64::MAX
            }
        };
        dim(alloc.cpu_millis, shape.cpu_millis)
            .min(dim(alloc.memory_bytes, shape.memory_bytes))
            .min(dim(alloc.pods, shape.pods))
            .min(dim(alloc.ephemeral_bytes, shape.ephemeral_bytes))
    };
    let mut stay_price = 0.0;
    for n in &input.nodes {
        if !n.managed || n.do_not_disrupt || n.pods.iter().any(|p| p.blocks.is_some()) {
            stay_price += n.price;
            count -= per_node(&n.node.allocatable);
        }
    }
    let per_pod = input
        .instance_types
        .iter()
        .filter_map(|t| {
            let k = per_node(&t.allocatable);
            let price = t
                .offerings
                .iter()
                .filter(|o| o.available)
                .map(|o| o.price)
                .min_by(f64::total_cmp)?;
            (k > 0).then(|| price / k as f64)
        })
        .min_by(f64::total_cmp)?;
    Some(stay_price + count.max(0) as f64 * per_pod)
}

/// Upstream's wall time for a `karpenter`-strategy plan, in minutes: at least its 15 s
/// validation sleeps (one per emptiness or consolidation command; upstream's loop blocks on
/// them), at most that plus each pass's search running to its cap (karpenter-core.md §3.7: a
/// multi-node search 1 min; a single-node command only after multi-node found nothing, then
/// up to 3 min) and a last pass that finds nothing (both searches). Drains and launches come on
/// top.
fn upstream_minutes(plan: &karpenter_disruption::Plan) -> (f64, f64) {
    let mut least = 0.0;
    let mut most = 4.0 * 60.0;
    for c in &plan.commands {
        if matches!(c.reason, Reason::Empty | Reason::Underutilized) {
            least += 15.0;
            most += 15.0;
        }
        most += match c.method {
            Method::MultiNodeConsolidation | Method::Repack => 60.0,
            Method::SingleNodeConsolidation => 60.0 + 180.0,
            _ => 0.0,
        };
    }
    (least / 60.0, most / 60.0)
}

/// CPU time of this process so far (user + system, all threads), from `/proc/self/stat`; 0
/// where that is not available. On a shared machine it says how much work a plan took when the
/// wall time also counts waiting for a core.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the command name (which may hold spaces) start at state (field 3)
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state; 100 ticks/s
    (ticks(11) + ticks(12)) / 100.0
}

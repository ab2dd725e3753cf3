//! One solve of upstream's benchmark shape, for profiling under callgrind:
//! `cargo run --release -p karpenter-scheduling --example profile_solve -- <pods> <karpenter|default> [warm-up solves]`.
use std::collections::BTreeMap;

/// Same allocator as the binary and the benchmarks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use karpenter_scheduling::synthetic;
use karpenter_scheduling::{solve, NodePool, Problem, SolveOptions, Strategy};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let strategy = match args.get(2).map(String::as_str) {
        Some("karpenter") => Strategy::Karpenter,
        _ => Strategy::Default,
    };
    let p = Problem {
        instance_types: synthetic::instance_types(400),
        node_pools: vec![NodePool {
            name: "default".into(),
            limits: BTreeMap::from([("cpu".to_string(), i64::MAX / 4)]),
            ..Default::default()
        }],
        pods: synthetic::benchmark_pods(pods, 0xC0FFEE),
        ..Default::default()
    };
    let opts = SolveOptions {
        strategy,
        ..Default::default()
    };
    // optional third argument: solve that many times first (warm allocator and caches)
    let warm: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    for _ in 0..warm {
        let _ = solve(&p, &opts);
    }
    match solve(&p, &opts) {
        Ok(s) => println!(
            "nodes={} pending={} $/h={:.3}",
            s.node_claims.len(),
            s.pending.len(),
            s.price_per_hour
        ),
        Err(e) => eprintln!("error: {e}"),
    }
}

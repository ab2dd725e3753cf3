//! Converts 1,000 Provisioner documents (one multi-document YAML stream) and prints the
//! throughput: parsing, conversion with the CRD self-check, and YAML rendering.
use std::time::{Duration, Instant};

use karpenter_convert::render::{render_all, Format};
use karpenter_convert::{convert, parse_documents, CrdValidator, Options};

const DOCS: usize = 1_000;
const ROUNDS: usize = 5;

fn input() -> String {
    let mut text = String::new();
    for i in 0..DOCS {
        text.push_str(&format!(
            "---
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: pool-{i}
spec:
  labels:
    team: team-{team}
  requirements:
    - key: karpenter.sh/capacity-type
      operator: In
      values: [spot, on-demand]
    - key: karpenter.k8s.aws/instance-cpu
      operator: In
      values: [\"4\", \"8\", \"16\"]
    - key: topology.kubernetes.io/zone
      operator: In
      values: [us-west-2a, us-west-2b]
  taints:
    - key: example.com/pool
      value: pool-{i}
      effect: NoSchedule
  kubeletConfiguration:
    maxPods: {max_pods}
  limits:
    resources:
      cpu: \"{cpu}\"
      memory: {mem}Gi
  ttlSecondsAfterEmpty: 30
  ttlSecondsUntilExpired: 2592000
  weight: {weight}
  providerRef:
    name: class-{class}
",
            team = i % 7,
            max_pods = 20 + i % 90,
            cpu = 100 + i,
            mem = 400 + i,
            weight = 1 + i % 100,
            class = i % 10,
        ));
    }
    text
}

fn main() {
    let text = input();
    let validator = CrdValidator;
    let mut timings: Vec<(Duration, Duration, Duration)> = Vec::new();
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        let docs = parse_documents("bench.yaml", &text).expect("parse");
        let t1 = Instant::now();
        let opts = Options {
            validator: Some(&validator),
            ..Options::default()
        };
        let conv = convert(&docs, &opts).expect("convert");
        let t2 = Instant::now();
        let out = render_all(&conv.objects, Format::Yaml).expect("render");
        let t3 = Instant::now();
        assert_eq!(docs.len(), DOCS);
        assert_eq!(conv.objects.len(), DOCS);
        bytes = out.len();
        timings.push((t1 - t0, t2 - t1, t3 - t2));
    }
    // Report the median round.
    timings.sort_by_key(|(a, b, c)| *a + *b + *c);
    let (parse, conv, render) = timings[ROUNDS / 2];
    let total = parse + conv + render;
    println!("convert_1000: {DOCS} Provisioner documents ({} KiB in, {} KiB out), median of {ROUNDS} rounds", text.len() / 1024, bytes / 1024);
    println!("  parse     {:>8.1} ms", parse.as_secs_f64() * 1e3);
    println!(
        "  convert   {:>8.1} ms (incl. v1 CRD self-check of every output)",
        conv.as_secs_f64() * 1e3
    );
    println!("  render    {:>8.1} ms", render.as_secs_f64() * 1e3);
    println!(
        "  total     {:>8.1} ms = {:.0} docs/s",
        total.as_secs_f64() * 1e3,
        DOCS as f64 / total.as_secs_f64()
    );
}

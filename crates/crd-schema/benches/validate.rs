//! Prints how long loading the embedded CRDs and validating the valid fixtures take.
//! Run with `cargo bench -p crd-schema --bench validate`.

use std::time::Instant;

use crd_schema::karpenter;
use serde_json::Value;

fn main() {
    let start = Instant::now();
    karpenter::load_all().expect("embedded CRDs load");
    let load = start.elapsed();

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let mut fixtures: Vec<(String, Value)> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let v =
                serde_saphyr::from_str(&std::fs::read_to_string(&p).expect("read")).expect("yaml");
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));

    println!(
        "load all {} embedded CRDs (parse YAML, schemas, CEL): {load:?}",
        karpenter::CRDS.len()
    );
    const ITERS: u32 = 2_000;
    for (name, obj) in &fixtures {
        let start = Instant::now();
        for _ in 0..ITERS {
            karpenter::validate_object(std::hint::black_box(obj)).expect("valid fixture");
        }
        let per = start.elapsed() / ITERS;
        println!(
            "validate {name:<36} {per:>10.2?} per object ({:.0} objects/s)",
            1.0 / per.as_secs_f64()
        );
    }
}

//! Round-trip every Karpenter example object found in the shared reference material and in our fixtures.
//!
//! Comparison rules are in `support::diff`: `null` counts as absent, and numeric quantities come back as
//! strings with the same text. Nothing else may change.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{assert_round_trip, is_modelled, load_yaml, yaml_docs};

/// Fenced ```yaml blocks of a Markdown file.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed.starts_with("```yaml") || trimmed.starts_with("```yml") => {
                current = Some(String::new())
            }
            Some(_) if trimmed.starts_with("```") => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// A document that names a modelled kind but is only a snippet (no `metadata` or no `spec`).
fn is_fragment(doc: &Value) -> bool {
    doc.get("metadata").is_none() || doc.get("spec").is_none()
}

fn check_docs(
    docs: Vec<Value>,
    origin: &str,
    checked: &mut Vec<String>,
    skipped: &mut Vec<String>,
) {
    for (i, doc) in docs.iter().enumerate() {
        if !is_modelled(doc) {
            continue;
        }
        let origin = format!("{origin} doc {i}");
        if is_fragment(doc) {
            skipped.push(origin);
            continue;
        }
        assert_round_trip(doc, &origin);
        checked.push(origin);
    }
}

#[test]
fn reference_and_crd_examples_round_trip() {
    let shared = support::shared_dir();
    let mut checked = Vec::new();
    let mut skipped = Vec::new();

    let mut md_files: Vec<_> = std::fs::read_dir(shared.join("reference"))
        .expect("read reference dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    md_files.sort();
    for path in &md_files {
        let text = std::fs::read_to_string(path).expect("read markdown");
        for (b, block) in yaml_blocks(&text).into_iter().enumerate() {
            // A block that is not valid YAML on its own is a fragment.
            let Ok(docs) = yaml_docs(&block) else {
                skipped.push(format!("{} block {b}", path.display()));
                continue;
            };
            check_docs(
                docs,
                &format!("{} block {b}", path.display()),
                &mut checked,
                &mut skipped,
            );
        }
    }

    // The CRD directory holds schemas (and CloudFormation templates); any Karpenter object in it is checked too.
    for entry in walk(&shared.join("crds")) {
        if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&entry).expect("read yaml");
            if let Ok(docs) = yaml_docs(&text) {
                check_docs(
                    docs,
                    &entry.display().to_string(),
                    &mut checked,
                    &mut skipped,
                );
            }
        }
    }

    eprintln!(
        "checked {} reference objects, skipped fragments: {skipped:?}",
        checked.len()
    );
    // karpenter-core.md §4.1 NodePool, karpenter-aws.md §14 EC2NodeClass, convert-mapping.md composed NodePool.
    assert!(
        checked.len() >= 3,
        "expected at least 3 reference objects, checked {checked:?}"
    );
}

#[test]
fn fixtures_round_trip() {
    let dir = support::fixtures_dir();
    let mut kinds = std::collections::BTreeSet::new();
    let mut count = 0;
    for path in walk(&dir) {
        for (i, doc) in load_yaml(&path).iter().enumerate() {
            let origin = format!("{} doc {i}", path.display());
            assert!(
                is_modelled(doc),
                "{origin}: fixture is not a modelled Karpenter kind"
            );
            let obj = assert_round_trip(doc, &origin);
            kinds.insert((obj.api_version(), obj.kind()));
            count += 1;
        }
    }
    assert!(
        count >= 17,
        "expected at least 17 fixture objects, found {count}"
    );
    let missing: Vec<_> = karpenter_api::KarpenterObject::SUPPORTED
        .iter()
        .filter(|k| !kinds.contains(*k))
        .collect();
    assert!(missing.is_empty(), "no fixture for {missing:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

//! Realistic Karpenter objects (tests/fixtures/valid/*.yaml) pass validation, and defaulting fills what the API
//! server would.

use crd_schema::karpenter;
use serde_json::{json, Value};

fn fixtures() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable fixture");
            let value: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_valid_fixture_passes() {
    let all = fixtures();
    assert!(
        all.len() >= 10,
        "expected the fixture set, found {}",
        all.len()
    );
    let mut kinds = std::collections::BTreeSet::new();
    for (file, obj) in &all {
        if let Err(e) = karpenter::validate_object(obj) {
            panic!("{file} should be valid:\n{e}");
        }
        kinds.insert(format!(
            "{} {}",
            obj["apiVersion"].as_str().unwrap(),
            obj["kind"].as_str().unwrap()
        ));
    }
    for want in [
        "karpenter.sh/v1 NodePool",
        "karpenter.sh/v1 NodeClaim",
        "karpenter.k8s.aws/v1 EC2NodeClass",
        "karpenter.sh/v1beta1 NodePool",
        "karpenter.k8s.aws/v1beta1 EC2NodeClass",
        "karpenter.sh/v1alpha5 Provisioner",
        "karpenter.k8s.aws/v1alpha1 AWSNodeTemplate",
    ] {
        assert!(kinds.contains(want), "no valid fixture for {want}");
    }
}

#[test]
fn defaults_are_applied_like_the_api_server() {
    let all = fixtures();
    let (_, minimal) = all
        .iter()
        .find(|(f, _)| f == "v1-nodepool-minimal.yaml")
        .expect("fixture");
    let schema = karpenter::schema("karpenter.sh/v1", "NodePool").unwrap();
    let mut obj = minimal.clone();
    schema.apply_defaults(&mut obj);
    // The disruption default, then the defaults nested inside it (applied to the value just defaulted).
    assert_eq!(
        obj["spec"]["disruption"],
        json!({"consolidateAfter": "0s", "consolidationPolicy": "WhenEmptyOrUnderutilized", "budgets": [{"nodes": "10%"}]})
    );
    assert_eq!(
        obj["spec"]["template"]["spec"]["expireAfter"],
        json!("720h")
    );
    // Defaulting does not overwrite what is set.
    let (_, full) = all
        .iter()
        .find(|(f, _)| f == "v1-nodepool-default.yaml")
        .expect("fixture");
    let mut obj = full.clone();
    schema.apply_defaults(&mut obj);
    assert_eq!(obj["spec"]["disruption"]["consolidateAfter"], json!("1m"));
    assert_eq!(
        obj["spec"]["disruption"]["budgets"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let ec2 = karpenter::schema("karpenter.k8s.aws/v1", "EC2NodeClass").unwrap();
    let mut nc = json!({"spec": {"metadataOptions": {"httpTokens": "optional"}}});
    ec2.apply_defaults(&mut nc);
    assert_eq!(
        nc["spec"]["metadataOptions"],
        json!({"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "optional"})
    );
    // A null for a non-nullable field with a default is replaced by the default.
    let mut nc = json!({"spec": {"metadataOptions": null}});
    ec2.apply_defaults(&mut nc);
    assert_eq!(
        nc["spec"]["metadataOptions"]["httpPutResponseHopLimit"],
        json!(1)
    );
}

#[test]
fn cel_rules_see_defaulted_values() {
    // v1beta1: consolidationPolicy WhenEmpty requires consolidateAfter. The v1beta1 disruption default is
    // {consolidationPolicy: WhenUnderutilized, expireAfter: 720h}, so an absent disruption block is valid,
    // while an explicit WhenEmpty without consolidateAfter is not.
    let base = json!({
        "apiVersion": "karpenter.sh/v1beta1", "kind": "NodePool", "metadata": {"name": "a"},
        "spec": {"template": {"spec": {"nodeClassRef": {"name": "default"}, "requirements": []}}}
    });
    karpenter::validate_object(&base).unwrap();
    let mut when_empty = base.clone();
    when_empty["spec"]["disruption"] = json!({"consolidationPolicy": "WhenEmpty"});
    let err = karpenter::validate_object(&when_empty)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("spec.disruption: Invalid value: consolidateAfter must be specified with consolidationPolicy=WhenEmpty"),
        "{err}"
    );
}

#[test]
fn update_runs_transition_rules() {
    let all = fixtures();
    let (_, nodepool) = all
        .iter()
        .find(|(f, _)| f == "v1-nodepool-default.yaml")
        .expect("fixture");
    let schema = karpenter::schema("karpenter.sh/v1", "NodePool").unwrap();
    schema
        .validate_update(nodepool, nodepool)
        .expect("an unchanged object is a valid update");
    let mut changed = nodepool.clone();
    changed["spec"]["template"]["spec"]["nodeClassRef"]["kind"] = json!("OtherNodeClass");
    schema.validate(&changed).expect("kind is free on create");
    let errs = schema.validate_update(&changed, nodepool).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].path, "spec.template.spec.nodeClassRef");
    assert_eq!(
        errs[0].to_string(),
        "spec.template.spec.nodeClassRef: Invalid value: nodeClassRef.kind is immutable"
    );
    let mut to_static = nodepool.clone();
    to_static["spec"]["replicas"] = json!(2);
    to_static["spec"].as_object_mut().unwrap().remove("weight");
    to_static["spec"]["limits"] = json!({"nodes": 4});
    schema
        .validate(&to_static)
        .expect("a static NodePool is valid on create");
    let errs = schema.validate_update(&to_static, nodepool).unwrap_err();
    assert!(
        errs.iter().any(|e| e
            .message
            .contains("Cannot transition NodePool between static")),
        "{errs:?}"
    );
}

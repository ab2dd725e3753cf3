//! Targeted behaviour of the conversion: errors that name the field, warnings, defaults.
use karpenter_convert::{
    convert, parse_documents, Conversion, ConvertErrors, CrdValidator, Options, Target,
};
use serde_json::{json, Value};

fn run_with(yaml: &str, opts: &Options<'_>) -> Result<Conversion, ConvertErrors> {
    let docs = parse_documents("in.yaml", yaml).expect("parse");
    convert(&docs, opts)
}

fn run(yaml: &str) -> Result<Conversion, ConvertErrors> {
    let v = CrdValidator;
    run_with(
        yaml,
        &Options {
            validator: Some(&v),
            ..Options::default()
        },
    )
}

fn error_text(yaml: &str) -> String {
    run(yaml).expect_err("conversion should fail").to_string()
}

const TEMPLATE: &str = "apiVersion: karpenter.k8s.aws/v1alpha1
kind: AWSNodeTemplate
metadata: {name: t}
spec:
  subnetSelector: {karpenter.sh/discovery: c}
  securityGroupSelector: {karpenter.sh/discovery: c}
";

fn provisioner(spec: &str) -> String {
    format!("apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {{name: p}}\nspec:\n{spec}")
}

#[test]
fn provider_and_provider_ref_are_exclusive() {
    let e = error_text(&provisioner(
        "  providerRef: {name: t}\n  provider: {subnetSelector: {a: b}, securityGroupSelector: {a: b}}\n",
    ));
    assert!(e.contains("in.yaml:1 Provisioner/p spec.provider: spec.provider and spec.providerRef are mutually exclusive"), "{e}");
}

#[test]
fn missing_provider_ref_is_an_error() {
    let e = error_text(&provisioner("  weight: 5\n"));
    assert!(
        e.contains("Provisioner/p spec.providerRef: a Provisioner needs spec.providerRef"),
        "{e}"
    );
}

#[test]
fn kubelet_cel_rules_are_checked_before_output() {
    let e = error_text(&provisioner(
        "  providerRef: {name: t}\n  kubeletConfiguration:\n    imageGCHighThresholdPercent: 50\n    imageGCLowThresholdPercent: 60\n",
    ));
    assert!(e.contains("spec.kubeletConfiguration.imageGCHighThresholdPercent: must be greater than imageGCLowThresholdPercent (50 <= 60)"), "{e}");
    let e = error_text(&provisioner(
        "  providerRef: {name: t}\n  kubeletConfiguration:\n    evictionSoft: {memory.available: 1Gi}\n",
    ));
    assert!(
        e.contains("spec.kubeletConfiguration.evictionSoft: evictionSoft keys"),
        "{e}"
    );
    let e = error_text(&provisioner(
        "  providerRef: {name: t}\n  kubeletConfiguration:\n    evictionHard: {memory.free: 1Gi}\n",
    ));
    assert!(
        e.contains("spec.kubeletConfiguration.evictionHard.memory.free"),
        "{e}"
    );
}

#[test]
fn every_bad_object_is_reported_at_once() {
    let yaml = format!(
        "{}---\n{}",
        provisioner("  weight: 5\n"),
        TEMPLATE.replace("  subnetSelector: {karpenter.sh/discovery: c}\n", "")
    );
    let errs = run(&yaml).expect_err("both objects are bad");
    assert_eq!(errs.0.len(), 2, "{errs}");
    assert_eq!(errs.0[0].location.doc, 1);
    assert_eq!(errs.0[1].location.doc, 2);
    assert_eq!(errs.0[1].field, "spec.subnetSelector");
}

#[test]
fn duplicate_output_names_are_an_error() {
    let yaml = format!(
        "{TEMPLATE}---\n{}",
        "apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {name: t}\nspec:\n  provider: {subnetSelector: {a: b}, securityGroupSelector: {a: b}}\n"
    );
    let e = error_text(&yaml);
    assert!(
        e.contains("produces EC2NodeClass t which in.yaml:1 also produces"),
        "{e}"
    );
}

#[test]
fn custom_without_ami_selector_is_an_error() {
    let e = error_text(&TEMPLATE.replace("spec:\n", "spec:\n  amiFamily: Custom\n"));
    assert!(
        e.contains("AWSNodeTemplate/t spec.amiSelector: amiFamily Custom has no AMI discovery"),
        "{e}"
    );
}

#[test]
fn plain_number_volume_size_is_an_error() {
    let yaml = format!("{TEMPLATE}  blockDeviceMappings:\n  - deviceName: /dev/xvda\n    ebs: {{volumeSize: 20}}\n");
    let e = error_text(&yaml);
    assert!(
        e.contains("spec.blockDeviceMappings[0].ebs.volumeSize: `20` is a plain number"),
        "{e}"
    );
}

#[test]
fn invalid_selector_ids_are_errors() {
    let e = error_text(&TEMPLATE.replace(
        "subnetSelector: {karpenter.sh/discovery: c}",
        "subnetSelector: {aws-ids: sg-123}",
    ));
    assert!(
        e.contains("spec.subnetSelector: `sg-123` is not a valid id: expected `subnet-…`"),
        "{e}"
    );
}

#[test]
fn too_many_terms_is_an_error() {
    let e = error_text(&TEMPLATE.replace(
        "subnetSelector: {karpenter.sh/discovery: c}",
        "subnetSelector: {a: '1,2,3,4', b: '1,2,3,4', c: '1,2'}",
    ));
    assert!(e.contains("expands to 32 terms"), "{e}");
}

#[test]
fn machines_and_v1_objects() {
    let v1 = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: already}\nspec: {template: {spec: {nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: x}, requirements: []}}}\n";
    let conv = run(v1).expect("v1 passes through");
    assert_eq!(conv.objects.len(), 1);
    assert_eq!(conv.objects[0].value["metadata"]["name"], "already");
    assert!(conv.warnings.is_empty());

    let v = CrdValidator;
    let err = run_with(
        v1,
        &Options {
            target: Target::V1beta1,
            validator: Some(&v),
            ..Options::default()
        },
    )
    .expect_err("cannot down-convert");
    assert!(
        err.to_string()
            .contains("cannot be converted down to v1beta1"),
        "{err}"
    );
}

#[test]
fn nodeclaim_without_its_nodepool_gets_the_v1_default_expiry() {
    let yaml = "apiVersion: karpenter.sh/v1beta1\nkind: NodeClaim\nmetadata: {name: nc, labels: {karpenter.sh/nodepool: gone}}\nspec:\n  nodeClassRef: {name: default}\n  requirements: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]\n  kubelet: {maxPods: 3}\n";
    let conv = run(yaml).expect("converts");
    let spec = &conv.objects[0].value["spec"];
    assert_eq!(spec["expireAfter"], "720h0m0s");
    assert_eq!(
        spec["nodeClassRef"],
        json!({"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"})
    );
    let fields: Vec<&str> = conv.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["kind", "spec.kubelet", "spec.expireAfter"]);
}

#[test]
fn v1beta1_ubuntu_without_terms_is_an_error_and_unknown_fields_warn() {
    let yaml = "apiVersion: karpenter.k8s.aws/v1beta1\nkind: EC2NodeClass\nmetadata: {name: u}\nspec:\n  amiFamily: Ubuntu\n  role: r\n  subnetSelectorTerms: [{tags: {a: b}}]\n  securityGroupSelectorTerms: [{tags: {a: b}}]\n";
    let e = error_text(yaml);
    assert!(
        e.contains("EC2NodeClass/u spec.amiSelectorTerms: amiFamily Ubuntu has no AMI discovery"),
        "{e}"
    );

    let yaml = "apiVersion: karpenter.k8s.aws/v1beta1\nkind: EC2NodeClass\nmetadata: {name: b}\nspec:\n  amiFamily: Bottlerocket\n  role: r\n  futureField: 1\n  subnetSelectorTerms: [{id: subnet-1, tags: {a: b}}]\n  securityGroupSelectorTerms: [{tags: {a: b}}]\n";
    let conv = run(yaml).expect("converts");
    let spec = &conv.objects[0].value["spec"];
    assert_eq!(spec["subnetSelectorTerms"], json!([{"id": "subnet-1"}]));
    assert_eq!(
        spec["amiSelectorTerms"],
        json!([{"alias": "bottlerocket@latest"}])
    );
    let fields: Vec<&str> = conv.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["spec.futureField", "spec.subnetSelectorTerms[0]"]);
}

#[test]
fn unknown_provisioner_fields_warn_without_a_schema() {
    // Without the source schema (library use without a validator), unknown fields are dropped
    // with a warning rather than silently.
    let conv = run_with(
        &provisioner("  providerRef: {name: t}\n  surprise: 1\n"),
        &Options::default(),
    )
    .expect("converts");
    assert_eq!(conv.warnings.len(), 1);
    assert_eq!(conv.warnings[0].field, "spec.surprise");
    assert_eq!(
        conv.warnings[0].to_string(),
        "WARN in.yaml:1 Provisioner/p spec.surprise: unknown field for Provisioner, dropped; remove it or check its spelling"
    );
}

#[test]
fn requirements_values_from_yaml_numbers_become_strings() {
    let conv = run(&provisioner(
        "  providerRef: {name: t}\n  requirements: [{key: karpenter.k8s.aws/instance-cpu, operator: In, values: [4, 8]}]\n",
    ));
    // The v1alpha5 schema requires strings, so YAML numbers are an input error there.
    let e = conv.expect_err("schema rejects numbers").to_string();
    assert!(e.contains("spec.requirements[0].values[0]"), "{e}");
    // Without the schema they are stringified.
    let conv = run_with(
        &provisioner("  providerRef: {name: t}\n  requirements: [{key: karpenter.k8s.aws/instance-cpu, operator: In, values: [4, 8]}]\n"),
        &Options::default(),
    )
    .expect("converts");
    let reqs = &conv.objects[0].value["spec"]["template"]["spec"]["requirements"][0];
    assert_eq!(reqs["values"], json!(["4", "8"]));
}

#[test]
fn alpha_defaults_respect_present_keys() {
    let conv = run(&provisioner(
        "  providerRef: {name: t}\n  requirements:\n  - {key: karpenter.k8s.aws/instance-family, operator: In, values: [m5]}\n  - {key: kubernetes.io/os, operator: In, values: [linux]}\n",
    ))
    .expect("converts");
    let keys: Vec<Value> = conv.objects[0].value["spec"]["template"]["spec"]["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .map(|r| r["key"].clone())
        .collect();
    assert_eq!(
        keys,
        [
            json!("karpenter.k8s.aws/instance-family"),
            json!("kubernetes.io/os"),
            json!("kubernetes.io/arch"),
            json!("karpenter.sh/capacity-type")
        ]
    );
}

#[test]
fn split_class_names_never_collide() {
    let template = |name: &str| {
        TEMPLATE.replace(
            "metadata: {name: t}",
            &format!("metadata: {{name: {name}}}"),
        )
    };
    let prov = |name: &str, max_pods: u32| {
        format!("apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {{name: {name}}}\nspec:\n  providerRef: {{name: shared}}\n  kubeletConfiguration: {{maxPods: {max_pods}}}\n")
    };
    let yaml = [
        template("shared"),
        template("shared-b"),
        prov("a", 10),
        prov("b", 20),
    ]
    .join("---\n");
    let conv = run(&yaml).expect("converts");
    let names: Vec<String> = conv
        .objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o.value["kind"].as_str().unwrap_or(""),
                o.value["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "EC2NodeClass/shared",
            "EC2NodeClass/shared-b-2",
            "EC2NodeClass/shared-b",
            "NodePool/a",
            "NodePool/b"
        ]
    );
    let b = &conv.objects[4].value;
    assert_eq!(
        b["spec"]["template"]["spec"]["nodeClassRef"]["name"],
        "shared-b-2"
    );
    assert_eq!(
        conv.objects[1].value["spec"]["kubelet"],
        json!({"maxPods": 20})
    );
    assert_eq!(
        conv.objects[0].value["spec"]["kubelet"],
        json!({"maxPods": 10})
    );
    assert!(conv.objects[2].value["spec"].get("kubelet").is_none());
}

#[test]
fn ttl_longer_than_a_go_duration_is_an_error() {
    // 9223372036 s is the longest Go duration; one second more cannot be read by Karpenter.
    let ok = run(&format!(
        "{}---\n{TEMPLATE}",
        provisioner("  providerRef: {name: t}\n  ttlSecondsUntilExpired: 9223372036\n")
    ))
    .expect("the longest Go duration converts");
    let pool = &ok.objects[0].value;
    assert_eq!(
        pool["spec"]["template"]["spec"]["expireAfter"],
        json!("2562047h47m16s")
    );
    for key in ["ttlSecondsUntilExpired", "ttlSecondsAfterEmpty"] {
        let e = error_text(&format!(
            "{}---\n{TEMPLATE}",
            provisioner(&format!(
                "  providerRef: {{name: t}}\n  {key}: 9223372037\n"
            ))
        ));
        assert!(
            e.contains(&format!(
                "in.yaml:1 Provisioner/p spec.{key}: 9223372037 seconds is longer than Karpenter can hold"
            )),
            "{e}"
        );
        assert!(e.contains("use a smaller value"), "{e}");
    }
}

#[test]
fn unquoted_boolean_or_number_name_says_to_quote_it() {
    for (raw, found) in [("n", "a boolean"), ("123", "a number")] {
        let yaml = format!(
            "apiVersion: karpenter.sh/v1beta1\nkind: NodePool\nmetadata: {{name: {raw}}}\nspec:\n  template:\n    spec:\n      nodeClassRef: {{name: d}}\n      requirements: []\n"
        );
        let e = run_with(&yaml, &Options::default())
            .expect_err("a non-string name is an error")
            .to_string();
        assert!(
            e.contains(&format!(
                "metadata.name: must be a string, found {found}: quote the name in YAML"
            )),
            "{e}"
        );
    }
    let e = run_with(
        "apiVersion: karpenter.sh/v1beta1\nkind: NodePool\nmetadata: [a]\nspec: {}\n",
        &Options::default(),
    )
    .expect_err("a sequence as metadata is an error")
    .to_string();
    assert!(
        e.contains("metadata: must be a mapping, found a sequence"),
        "{e}"
    );
}

#[test]
fn v1_objects_passed_through_and_converted_nodeclaims_are_self_checked() {
    // An already-v1 NodePool is passed through, but still checked against the v1 CRD.
    let e =
        error_text("apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: a}\nspec: {}\n");
    assert!(
        e.contains("in.yaml:1 NodePool/a spec.template: the converted NodePool (karpenter.sh/v1) would be rejected by the API server"),
        "{e}"
    );
    // A converted NodeClaim is checked too (here: its taint's timeAdded is not a timestamp).
    let e = error_text(
        "apiVersion: karpenter.sh/v1beta1\nkind: NodeClaim\nmetadata: {name: c}\nspec:\n  nodeClassRef: {name: d}\n  requirements: []\n  taints:\n  - {key: a, effect: NoSchedule, timeAdded: yesterday}\n",
    );
    assert!(
        e.contains("NodeClaim/c spec.taints[0].timeAdded: the converted NodeClaim (karpenter.sh/v1) would be rejected"),
        "{e}"
    );
    assert!(e.contains("must be of format date-time"), "{e}");
    // v1beta1 objects passed through with --to v1beta1 are not checked against the v0.32 CRDs,
    // which refuse later v1beta1 values such as amiFamily AL2023 (v0.35).
    let class = "apiVersion: karpenter.k8s.aws/v1beta1\nkind: EC2NodeClass\nmetadata: {name: a}\nspec:\n  amiFamily: AL2023\n  role: R\n  subnetSelectorTerms: [{tags: {a: b}}]\n  securityGroupSelectorTerms: [{tags: {a: b}}]\n";
    let doc = parse_documents("in.yaml", class).expect("parse");
    assert!(
        crd_schema::karpenter::validate_object(&doc[0].value).is_err(),
        "the v0.32 CRD refuses AL2023"
    );
    let v = CrdValidator;
    let out = run_with(
        class,
        &Options {
            target: Target::V1beta1,
            validator: Some(&v),
            ..Options::default()
        },
    )
    .expect("v1beta1 passes through");
    assert_eq!(out.objects[0].value, doc[0].value);
}

#[test]
fn durations_karpenter_cannot_read_are_errors() {
    let pool = |disruption: &str| {
        format!("apiVersion: karpenter.sh/v1beta1\nkind: NodePool\nmetadata: {{name: a}}\nspec:\n  template: {{spec: {{nodeClassRef: {{name: d}}, requirements: []}}}}\n  disruption: {disruption}\n")
    };
    let e = error_text(&pool("{expireAfter: 99999999999h}"));
    assert!(
        e.contains("NodePool/a spec.disruption.expireAfter: `99999999999h` is not a duration Karpenter can read"),
        "{e}"
    );
    assert!(e.contains("or Never"), "{e}");
    let e = error_text(&pool(
        "{consolidationPolicy: WhenEmpty, consolidateAfter: 3000000h}",
    ));
    assert!(
        e.contains(
            "spec.disruption.consolidateAfter: `3000000h` is not a duration Karpenter can read"
        ),
        "{e}"
    );
    let ok = run(&pool(
        "{consolidationPolicy: WhenEmpty, consolidateAfter: 90m, expireAfter: Never}",
    ))
    .expect("valid durations convert");
    let spec = &ok.objects[0].value["spec"];
    assert_eq!(spec["disruption"]["consolidateAfter"], json!("1h30m0s"));
    assert_eq!(spec["template"]["spec"]["expireAfter"], json!("Never"));

    let e = error_text(&format!(
        "{}---\n{TEMPLATE}",
        provisioner("  providerRef: {name: t}\n  kubeletConfiguration:\n    evictionSoft: {memory.available: 1Gi}\n    evictionSoftGracePeriod: {memory.available: 99999999999h}\n")
    ));
    assert!(
        e.contains("evictionSoftGracePeriod.memory.available: `99999999999h` is not a duration Karpenter can read"),
        "{e}"
    );
}

#[test]
fn a_kept_instance_profile_warns_that_it_needs_v0_32_2_for_v1beta1() {
    let template = "apiVersion: karpenter.k8s.aws/v1alpha1
kind: AWSNodeTemplate
metadata: {name: t}
spec:
  instanceProfile: KarpenterNodeInstanceProfile-demo
  subnetSelector: {karpenter.sh/discovery: c}
  securityGroupSelector: {karpenter.sh/discovery: c}
";
    let v = CrdValidator;
    let to = |target| {
        run_with(
            template,
            &Options {
                target,
                validator: Some(&v),
                ..Options::default()
            },
        )
        .expect("converts")
    };
    let conv = to(Target::V1beta1);
    assert_eq!(
        conv.objects[0].value["spec"]["instanceProfile"],
        "KarpenterNodeInstanceProfile-demo"
    );
    let w: Vec<_> = conv
        .warnings
        .iter()
        .filter(|w| w.field == "spec.instanceProfile")
        .collect();
    assert_eq!(w.len(), 1, "{:?}", conv.warnings);
    assert_eq!(
        (w[0].kind.as_str(), w[0].name.as_str()),
        ("AWSNodeTemplate", "t")
    );
    for needle in ["v0.32.2", "v0.32.0", "role", "--node-role"] {
        assert!(w[0].message.contains(needle), "{needle}: {}", w[0].message);
    }
    // Karpenter v1 reads instanceProfile in every release: no warning there.
    let conv = to(Target::V1);
    assert_eq!(
        conv.objects[0].value["spec"]["instanceProfile"],
        "KarpenterNodeInstanceProfile-demo"
    );
    assert!(
        conv.warnings
            .iter()
            .all(|w| w.field != "spec.instanceProfile"),
        "{:?}",
        conv.warnings
    );
}

//! `KarpenterObject` dispatch, errors, typed access and output order.

mod support;

use karpenter_api::common::NodeSelectorRequirementWithMinValues;
use karpenter_api::{aws, sh, ApiError, KarpenterObject};
use serde_json::{json, Value};

fn fixture(file: &str, index: usize) -> Value {
    support::load_yaml(&support::fixtures_dir().join(file))
        .into_iter()
        .nth(index)
        .unwrap_or_else(|| panic!("{file} has no document {index}"))
}

#[test]
fn other_groups_are_not_karpenter() {
    let err = KarpenterObject::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}
    }))
    .unwrap_err();
    assert!(err.is_not_karpenter(), "{err:?}");
    match err {
        ApiError::NotKarpenter { api_version, kind } => {
            assert_eq!((api_version.as_str(), kind.as_str()), ("v1", "ConfigMap"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A group that merely starts with a Karpenter group name is not Karpenter either.
    let err = KarpenterObject::from_value(
        json!({"apiVersion": "karpenter.sh.example.com/v1", "kind": "NodePool"}),
    )
    .unwrap_err();
    assert!(err.is_not_karpenter(), "{err:?}");
}

#[test]
fn unmodelled_karpenter_kinds_are_reported_separately() {
    for (api_version, kind) in [
        ("karpenter.sh/v1alpha1", "NodeOverlay"),
        ("karpenter.sh/v2", "NodePool"),
        ("karpenter.k8s.aws/v1", "AWSNodeTemplate"),
    ] {
        let err = KarpenterObject::from_value(
            json!({"apiVersion": api_version, "kind": kind, "metadata": {}}),
        )
        .unwrap_err();
        assert!(!err.is_not_karpenter());
        assert!(
            matches!(&err, ApiError::UnsupportedKarpenterKind { api_version: v, kind: k } if v == api_version && k == kind),
            "{err:?}"
        );
        assert!(err.to_string().contains("is not supported"), "{err}");
    }
}

#[test]
fn documents_without_type_meta_are_rejected() {
    let cases = [
        (json!("just a string"), "expected a mapping, found a string"),
        (json!({"kind": "NodePool"}), "`apiVersion` is missing"),
        (
            json!({"apiVersion": "karpenter.sh/v1"}),
            "`kind` is missing",
        ),
        (
            json!({"apiVersion": 1, "kind": "NodePool"}),
            "`apiVersion` must be a non-empty string, found a number",
        ),
        (
            json!({"apiVersion": "karpenter.sh/v1", "kind": ""}),
            "`kind` must be a non-empty string, found an empty string",
        ),
    ];
    for (doc, expected) in cases {
        let err = KarpenterObject::from_value(doc.clone()).unwrap_err();
        assert!(
            matches!(err, ApiError::NotAnObject { .. }),
            "{doc}: {err:?}"
        );
        assert!(err.to_string().contains(expected), "{doc}: {err}");
    }
}

#[test]
fn bad_field_errors_name_the_object_and_the_path() {
    let mut doc = fixture("provisioner_v1alpha5.yaml", 0);
    doc["spec"]["limits"]["resources"]["cpu"] = json!({"nested": true});
    let err = KarpenterObject::from_value(doc).unwrap_err();
    match &err {
        ApiError::InvalidField {
            api_version,
            kind,
            name,
            path,
            message,
        } => {
            assert_eq!(api_version, "karpenter.sh/v1alpha5");
            assert_eq!(kind, "Provisioner");
            assert_eq!(name, "default");
            assert_eq!(path, "spec.limits.resources.cpu");
            assert!(message.contains("invalid type: map"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("Provisioner \"default\" (karpenter.sh/v1alpha5): spec.limits.resources.cpu: invalid type: map"),
        "{text}"
    );

    let mut doc = fixture("nodepool_v1.yaml", 0);
    doc["spec"]["template"]["spec"]["requirements"][1]["minValues"] = json!("three");
    let err = KarpenterObject::from_value(doc).unwrap_err();
    assert!(
        err.to_string()
            .contains("NodePool \"default\" (karpenter.sh/v1): spec.template.spec.requirements[1].minValues: invalid type: string \"three\""),
        "{err}"
    );
}

#[test]
fn missing_required_fields_are_reported() {
    let err = KarpenterObject::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "np"},
        "spec": {"template": {"spec": {"requirements": []}}}
    }))
    .unwrap_err();
    match &err {
        ApiError::InvalidField { path, message, .. } => {
            assert_eq!(path, "spec.template.spec");
            assert!(
                message.contains("missing field `nodeClassRef`"),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // Without a name the message still identifies the object.
    let err = KarpenterObject::from_value(json!({
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {}, "spec": {}
    }))
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("EC2NodeClass \"<unnamed>\" (karpenter.k8s.aws/v1): spec: missing field"),
        "{err}"
    );
}

#[test]
fn strict_mode_reports_unknown_fields() {
    let mut doc = fixture("nodepool_v1.yaml", 0);
    doc["spec"]["template"]["spec"]["kubelet"] = json!({"maxPods": 10});
    doc["spec"]["disruption"]["expireAfter"] = json!("720h");
    doc["spec"]["disruption"]["budgets"][0]["typo"] = json!(1);
    doc["metadata"]["creationTimestamp"] = Value::Null;

    // Lenient decoding drops them, as the API server's pruning would.
    let lenient = KarpenterObject::from_value(doc.clone()).expect("lenient decode");
    let out = lenient.to_value().expect("serialize");
    assert!(out["spec"]["template"]["spec"].get("kubelet").is_none());

    let err = KarpenterObject::from_value_strict(doc).unwrap_err();
    match &err {
        ApiError::UnknownFields {
            kind, name, paths, ..
        } => {
            assert_eq!((kind.as_str(), name.as_str()), ("NodePool", "default"));
            assert_eq!(
                paths,
                &[
                    "spec.template.spec.kubelet".to_string(),
                    "spec.disruption.budgets[0].typo".to_string(),
                    "spec.disruption.expireAfter".to_string(),
                ]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("unknown fields spec.template.spec.kubelet, "),
        "{err}"
    );

    // Clean objects pass strict mode unchanged.
    for (file, i) in [
        ("nodepool_v1.yaml", 2),
        ("ec2nodeclass_v1beta1.yaml", 1),
        ("provisioner_v1alpha5.yaml", 1),
    ] {
        KarpenterObject::from_value_strict(fixture(file, i))
            .unwrap_or_else(|e| panic!("{file}[{i}]: {e}"));
    }
}

#[test]
fn typed_fields_carry_the_values() {
    let KarpenterObject::NodePoolV1(np) =
        KarpenterObject::from_value(fixture("nodepool_v1.yaml", 0)).unwrap()
    else {
        panic!("expected a v1 NodePool");
    };
    let spec = &np.spec.template.spec;
    assert_eq!(spec.node_class_ref.group, "karpenter.k8s.aws");
    assert_eq!(spec.node_class_ref.kind, "EC2NodeClass");
    assert_eq!(
        spec.requirements[2],
        NodeSelectorRequirementWithMinValues {
            key: "karpenter.k8s.aws/instance-family".into(),
            operator: "Exists".into(),
            values: None,
            min_values: Some(3),
        }
    );
    assert_eq!(spec.expire_after.as_deref(), Some("720h"));
    assert_eq!(spec.termination_grace_period.as_deref(), Some("48h"));
    let taint = &spec.taints.as_ref().unwrap()[0];
    assert_eq!(
        (
            taint.key.as_str(),
            taint.value.as_deref(),
            taint.effect.as_str()
        ),
        ("dedicated", Some("platform"), "NoSchedule")
    );
    let disruption = np.spec.disruption.as_ref().unwrap();
    let budgets = disruption.budgets.as_ref().unwrap();
    assert_eq!(budgets[0].nodes.as_deref(), Some("10%"));
    assert_eq!(
        budgets[1].reasons.as_deref(),
        Some(&["Underutilized".to_string(), "Drifted".to_string()][..])
    );
    let limits = np.spec.limits.as_ref().unwrap();
    assert_eq!(limits["cpu"].0, "1000", "numeric quantity keeps its digits");
    assert_eq!(limits["memory"].0, "1000Gi");
    assert_eq!(np.spec.weight, Some(10));

    let KarpenterObject::ProvisionerV1alpha5(p) =
        KarpenterObject::from_value(fixture("provisioner_v1alpha5.yaml", 1)).unwrap()
    else {
        panic!("expected a Provisioner");
    };
    let provider = p.spec.provider.clone().expect("inline provider");
    let aws: aws::v1alpha1::AWS =
        serde_json::from_value(Value::Object(provider)).expect("decode AWS provider");
    assert_eq!(aws.ami_family.as_deref(), Some("Bottlerocket"));
    assert_eq!(
        aws.metadata_options.unwrap().http_put_response_hop_limit,
        Some(2)
    );
    assert_eq!(
        aws.block_device_mappings.unwrap()[0]
            .ebs
            .as_ref()
            .unwrap()
            .volume_size
            .as_ref()
            .unwrap()
            .0,
        "100Gi"
    );

    let KarpenterObject::EC2NodeClassV1(nc) =
        KarpenterObject::from_value(fixture("ec2nodeclass_v1.yaml", 1)).unwrap()
    else {
        panic!("expected a v1 EC2NodeClass");
    };
    let status = nc.status.as_ref().unwrap();
    assert_eq!(status.amis.as_ref().unwrap()[1].deprecated, Some(true));
    let cr = &status.capacity_reservations.as_ref().unwrap()[0];
    assert_eq!(
        (cr.owner_id.as_str(), cr.reservation_type.as_deref()),
        ("012345678901", Some("capacity-block"))
    );
    let ready = status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.observed_generation),
        ("True", Some(1))
    );
}

#[test]
fn output_has_kubectl_order_and_is_deterministic() {
    let doc = fixture("nodepool_v1.yaml", 2);
    let obj = KarpenterObject::from_value(doc).unwrap();
    let out = obj.to_value().unwrap();
    let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);
    let spec_keys: Vec<_> = out["spec"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(spec_keys, ["template", "disruption"]);
    // Same object, same bytes.
    assert_eq!(
        serde_json::to_string(&out).unwrap(),
        serde_json::to_string(&obj.to_value().unwrap()).unwrap()
    );
}

#[test]
fn objects_built_in_code_serialize_with_type_meta() {
    let np = sh::v1::NodePool::new(
        "built",
        sh::v1::NodePoolSpec {
            template: sh::v1::NodeClaimTemplate {
                metadata: None,
                spec: sh::v1::NodeClaimTemplateSpec {
                    node_class_ref: sh::v1::NodeClassReference {
                        group: "karpenter.k8s.aws".into(),
                        kind: "EC2NodeClass".into(),
                        name: "default".into(),
                    },
                    requirements: vec![],
                    ..Default::default()
                },
            },
            ..Default::default()
        },
    );
    let obj = KarpenterObject::from(np);
    assert_eq!(obj.name(), Some("built"));
    assert_eq!(
        obj.to_value().unwrap(),
        json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "built"},
            "spec": {"template": {"spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                "requirements": []
            }}}
        })
    );
}

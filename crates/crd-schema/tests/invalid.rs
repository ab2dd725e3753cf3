//! Minimally wrong objects fail with the expected field path and message (kube-apiserver wording).

use crd_schema::karpenter::{self, ValidationError};
use crd_schema::{Rule, Violation};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/valid")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn violations(obj: &Value) -> Vec<Violation> {
    match karpenter::validate_object(obj) {
        Ok(()) => Vec::new(),
        Err(ValidationError::Invalid { violations, .. }) => violations,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// Applies `mutate` to fixture `file` (valid as is) and asserts that the violations, rendered as
/// `path: message`, are exactly `expected` (in order).
#[track_caller]
fn assert_violations(
    file: &str,
    mutate: impl FnOnce(&mut Value),
    expected: &[&str],
) -> Vec<Violation> {
    let mut obj = fixture(file);
    assert!(
        violations(&obj).is_empty(),
        "{file} must be valid before mutation"
    );
    mutate(&mut obj);
    let found = violations(&obj);
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(lines, expected, "violations of mutated {file}");
    found
}

/// Like [`assert_violations`] with exactly one expected violation.
#[track_caller]
fn assert_invalid(file: &str, mutate: impl FnOnce(&mut Value), expected: &str) -> Vec<Violation> {
    assert_violations(file, mutate, &[expected])
}

const NP: &str = "v1-nodepool-default.yaml";
const NC: &str = "v1-ec2nodeclass-default.yaml";

fn reqs(obj: &mut Value) -> &mut Value {
    &mut obj["spec"]["template"]["spec"]["requirements"]
}

// ---- NodePool v1 ----

#[test]
fn nodepool_requirement_on_the_nodepool_label_is_restricted() {
    let v = assert_invalid(
        NP,
        |o| reqs(o)[0] = json!({"key": "karpenter.sh/nodepool", "operator": "In", "values": ["x"]}),
        "spec.template.spec.requirements[0].key: Invalid value: \"karpenter.sh/nodepool\": label \"karpenter.sh/nodepool\" is restricted",
    );
    assert_eq!(
        v[0].rule,
        Rule::Cel("self != \"karpenter.sh/nodepool\"".into())
    );
}

#[test]
fn nodepool_requirement_in_without_values() {
    assert_invalid(
        NP,
        |o| reqs(o)[2]["values"] = json!([]),
        "spec.template.spec.requirements: Invalid value: requirements with operator 'In' must have a value defined",
    );
}

#[test]
fn nodepool_requirement_gt_with_two_values() {
    assert_invalid(
        NP,
        |o| reqs(o)[3]["values"] = json!(["2", "3"]),
        "spec.template.spec.requirements: Invalid value: requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value",
    );
}

#[test]
fn nodepool_requirement_gt_with_a_non_integer_value() {
    // int("abc") is an evaluation error, reported as a violation (never a panic).
    let v = assert_invalid(
        NP,
        |o| reqs(o)[3]["values"] = json!(["abc"]),
        "spec.template.spec.requirements: Invalid value: \"array\": cannot convert \"abc\" to int evaluating rule: requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value",
    );
    assert_eq!(v.len(), 1);
}

#[test]
fn nodepool_requirement_min_values_above_value_count() {
    assert_invalid(
        NP,
        |o| reqs(o)[0]["minValues"] = json!(4),
        "spec.template.spec.requirements: Invalid value: requirements with 'minValues' must have at least that many values specified in the 'values' field",
    );
}

#[test]
fn nodepool_requirement_unknown_operator() {
    let v = assert_invalid(
        NP,
        |o| reqs(o)[0]["operator"] = json!("Matches"),
        "spec.template.spec.requirements[0].operator: Unsupported value: \"Matches\": supported values: \"Gte\", \"Lte\", \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", \"Gt\", \"Lt\"",
    );
    assert_eq!(v[0].rule, Rule::Enum);
}

#[test]
fn nodepool_requirement_kubernetes_io_domain_is_allowed_in_v1_but_not_v1beta1() {
    let mut obj = fixture(NP);
    reqs(&mut obj)[0]["key"] = json!("kubernetes.io/custom");
    assert!(
        violations(&obj).is_empty(),
        "v1 dropped the kubernetes.io requirement-key restriction"
    );
    assert_invalid(
        "v1beta1-nodepool.yaml",
        |o| reqs(o)[0]["key"] = json!("kubernetes.io/custom"),
        "spec.template.spec.requirements[0].key: Invalid value: \"kubernetes.io/custom\": label domain \"kubernetes.io\" is restricted",
    );
}

#[test]
fn nodepool_requirement_hostname_is_restricted() {
    assert_invalid(
        NP,
        |o| reqs(o)[0]["key"] = json!("kubernetes.io/hostname"),
        "spec.template.spec.requirements[0].key: Invalid value: \"kubernetes.io/hostname\": label \"kubernetes.io/hostname\" is restricted",
    );
}

#[test]
fn nodepool_requirement_unknown_karpenter_aws_label() {
    assert_invalid(
        NP,
        |o| reqs(o)[0]["key"] = json!("karpenter.k8s.aws/instance-colour"),
        "spec.template.spec.requirements[0].key: Invalid value: \"karpenter.k8s.aws/instance-colour\": label domain \"karpenter.k8s.aws\" is restricted",
    );
}

#[test]
fn nodepool_weight_zero() {
    let v = assert_invalid(
        NP,
        |o| o["spec"]["weight"] = json!(0),
        "spec.weight: Invalid value: 0: must be greater than or equal to 1",
    );
    assert_eq!(v[0].rule, Rule::Minimum);
    assert_invalid(
        NP,
        |o| o["spec"]["weight"] = json!(101),
        "spec.weight: Invalid value: 101: must be less than or equal to 100",
    );
}

#[test]
fn nodepool_weight_wrong_type() {
    let v = assert_invalid(
        NP,
        |o| o["spec"]["weight"] = json!("10"),
        "spec.weight: Invalid value: \"10\": must be of type integer",
    );
    assert_eq!(v[0].rule, Rule::Type);
    assert_invalid(
        NP,
        |o| o["spec"]["weight"] = json!(1.5),
        "spec.weight: Invalid value: 1.5: must be of type integer",
    );
}

#[test]
fn nodepool_budget_schedule_without_duration() {
    assert_invalid(
        NP,
        |o| {
            o["spec"]["disruption"]["budgets"][2]
                .as_object_mut()
                .unwrap()
                .remove("duration")
                .map(drop)
                .unwrap()
        },
        "spec.disruption.budgets: Invalid value: 'schedule' must be set with 'duration'",
    );
}

#[test]
fn nodepool_budget_nodes_pattern() {
    let v = assert_invalid(
        NP,
        |o| o["spec"]["disruption"]["budgets"][0]["nodes"] = json!("110%"),
        "spec.disruption.budgets[0].nodes: Invalid value: \"110%\": must match '^((100|[0-9]{1,2})%|[0-9]+)$'",
    );
    assert_eq!(v[0].rule, Rule::Pattern);
}

#[test]
fn nodepool_budget_reason_enum_and_set_uniqueness() {
    assert_invalid(
        NP,
        |o| o["spec"]["disruption"]["budgets"][2]["reasons"] = json!(["Empty", "Empty"]),
        "spec.disruption.budgets[2].reasons[1]: Duplicate value: \"Empty\"",
    );
}

#[test]
fn nodepool_consolidate_after_pattern() {
    assert_invalid(
        NP,
        |o| o["spec"]["disruption"]["consolidateAfter"] = json!("5 minutes"),
        "spec.disruption.consolidateAfter: Invalid value: \"5 minutes\": must match '^(([0-9]+(s|m|h))+|Never)$'",
    );
}

#[test]
fn nodepool_unknown_field() {
    let v = assert_invalid(
        NP,
        |o| o["spec"]["fooBar"] = json!(1),
        "spec.fooBar: field not declared in schema",
    );
    assert_eq!(v[0].rule, Rule::UnknownField);
    assert_invalid(
        NP,
        |o| reqs(o)[1]["minvalues"] = json!(1),
        "spec.template.spec.requirements[1].minvalues: field not declared in schema",
    );
}

#[test]
fn nodepool_missing_node_class_ref() {
    let v = assert_invalid(
        NP,
        |o| {
            o["spec"]["template"]["spec"]
                .as_object_mut()
                .unwrap()
                .remove("nodeClassRef")
                .map(drop)
                .unwrap()
        },
        "spec.template.spec.nodeClassRef: Required value",
    );
    assert_eq!(v[0].rule, Rule::Required);
}

#[test]
fn nodepool_null_fields_are_dropped_like_the_api_server_does() {
    // A null for a required field without a default is dropped, so the field is then missing.
    assert_invalid(
        NP,
        |o| o["spec"]["template"]["spec"]["nodeClassRef"] = Value::Null,
        "spec.template.spec.nodeClassRef: Required value",
    );
    // A null for an optional field is dropped silently; one with a default gets the default.
    let mut obj = fixture(NP);
    obj["spec"]["weight"] = Value::Null;
    obj["spec"]["template"]["spec"]["expireAfter"] = Value::Null;
    assert!(violations(&obj).is_empty());
    let schema = karpenter::schema("karpenter.sh/v1", "NodePool").unwrap();
    schema.apply_defaults(&mut obj);
    assert_eq!(
        obj["spec"]["template"]["spec"]["expireAfter"],
        json!("720h")
    );
}

#[test]
fn nodepool_node_class_ref_empty_name() {
    assert_invalid(
        NP,
        |o| o["spec"]["template"]["spec"]["nodeClassRef"]["name"] = json!(""),
        "spec.template.spec.nodeClassRef.name: Invalid value: \"\": name may not be empty",
    );
}

#[test]
fn nodepool_template_label_in_restricted_domain() {
    assert_invalid(
        NP,
        |o| o["spec"]["template"]["metadata"]["labels"]["karpenter.sh/custom"] = json!("x"),
        "spec.template.metadata.labels: Invalid value: label domain \"karpenter.sh\" is restricted",
    );
}

#[test]
fn nodepool_template_label_value_too_long() {
    let v = assert_invalid(
        NP,
        |o| o["spec"]["template"]["metadata"]["labels"]["team"] = json!("a".repeat(64)),
        "spec.template.metadata.labels[team]: Too long: may not be more than 63 characters",
    );
    assert_eq!(v[0].rule, Rule::MaxLength);
}

#[test]
fn nodepool_limits_quantity_pattern() {
    assert_invalid(
        NP,
        |o| o["spec"]["limits"]["cpu"] = json!("lots"),
        "spec.limits[cpu]: Invalid value: \"lots\": must match '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$'",
    );
    assert_invalid(
        NP,
        |o| o["spec"]["limits"]["cpu"] = json!(true),
        "spec.limits[cpu]: Invalid value: true: must be of type integer or string",
    );
}

#[test]
fn nodepool_taint_effect_enum() {
    assert_invalid(
        NP,
        |o| o["spec"]["template"]["spec"]["taints"][0]["effect"] = json!("NoScheduleEver"),
        "spec.template.spec.taints[0].effect: Unsupported value: \"NoScheduleEver\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
    );
}

#[test]
fn nodepool_too_many_requirements() {
    assert_invalid(
        NP,
        |o| {
            let r = json!({"key": "example.com/x", "operator": "Exists"});
            *reqs(o) = Value::Array(vec![r; 101]);
        },
        "spec.template.spec.requirements: Too many: 101: must have at most 100 items",
    );
}

#[test]
fn static_nodepool_rules() {
    let f = "v1-nodepool-static.yaml";
    assert_invalid(
        f,
        |o| o["spec"]["weight"] = json!(10),
        "spec: Invalid value: 'weight' is not supported on static NodePools",
    );
    assert_invalid(
        f,
        |o| o["spec"]["limits"]["cpu"] = json!("10"),
        "spec: Invalid value: only 'limits.nodes' is supported on static NodePools",
    );
    assert_invalid(
        f,
        |o| o["spec"]["replicas"] = json!(-1),
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
}

#[test]
fn nodepool_metadata_checks() {
    let v = assert_invalid(
        NP,
        |o| o["metadata"]["name"] = json!("Default"),
        "metadata.name: Invalid value: \"Default\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
    assert_eq!(v[0].rule, Rule::Metadata);
    assert_invalid(
        NP,
        |o| o["metadata"]["name"] = json!("a".repeat(254)),
        &format!(
            "metadata.name: Invalid value: \"{}\": must be no more than 253 characters",
            "a".repeat(254)
        ),
    );
    assert_invalid(
        NP,
        |o| {
            o["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("name")
                .map(drop)
                .unwrap()
        },
        "metadata.name: Required value: name or generateName is required",
    );
    assert_invalid(
        NP,
        |o| o["metadata"]["labels"]["team"] = json!("platform team"),
        "metadata.labels: Invalid value: \"platform team\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
    assert_invalid(
        NP,
        |o| o["metadata"]["labels"]["Example.com/team"] = json!("a"),
        "metadata.labels: Invalid value: \"Example.com/team\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
    assert_invalid(
        NP,
        |o| o["metadata"]["annotations"]["a/b/c"] = json!("x"),
        "metadata.annotations: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    );
    assert_invalid(
        NP,
        |o| o["metadata"]["labelz"] = json!({}),
        "metadata.labelz: field not declared in schema",
    );
    // Namespace is cleared by the API server for cluster-scoped kinds, so it is not an error.
    let mut obj = fixture(NP);
    obj["metadata"]["namespace"] = json!("default");
    assert!(violations(&obj).is_empty());
}

#[test]
fn wrong_api_version_for_the_schema() {
    let schema = karpenter::schema("karpenter.sh/v1", "NodePool").unwrap();
    let mut obj = fixture(NP);
    obj["apiVersion"] = json!("karpenter.sh/v1beta1");
    let errs = schema.validate(&obj).unwrap_err();
    assert_eq!(errs[0].to_string(), "apiVersion: Invalid value: \"karpenter.sh/v1beta1\": must be \"karpenter.sh/v1\" for this schema");
    assert_eq!(errs[0].rule, Rule::TypeMeta);
}

#[test]
fn unknown_kind_is_a_typed_error() {
    let err = karpenter::validate("karpenter.sh/v2", "NodePool", &json!({})).unwrap_err();
    assert!(matches!(err, ValidationError::UnknownKind { .. }));
    assert!(
        err.to_string().contains("karpenter.sh/v1 NodePool"),
        "{err}"
    );
}

#[test]
fn error_display_lists_every_violation() {
    let mut obj = fixture(NP);
    obj["spec"]["weight"] = json!(0);
    obj["spec"]["fooBar"] = json!(true);
    let err = karpenter::validate_object(&obj).unwrap_err().to_string();
    assert_eq!(
        err,
        "NodePool \"default\" is invalid:\n  * spec.fooBar: field not declared in schema\n  * spec.weight: Invalid value: 0: must be greater than or equal to 1"
    );
}

// ---- EC2NodeClass v1 ----

#[test]
fn ec2nodeclass_role_and_instance_profile() {
    assert_invalid(
        NC,
        |o| o["spec"]["instanceProfile"] = json!("my-profile"),
        "spec: Invalid value: must specify exactly one of ['role', 'instanceProfile']",
    );
    assert_invalid(
        NC,
        |o| {
            o["spec"]
                .as_object_mut()
                .unwrap()
                .remove("role")
                .map(drop)
                .unwrap()
        },
        "spec: Invalid value: must specify exactly one of ['role', 'instanceProfile']",
    );
}

#[test]
fn ec2nodeclass_ami_selector_term_mixing_id_and_tags() {
    assert_invalid(
        NC,
        |o| {
            o["spec"]["amiFamily"] = json!("AL2023");
            o["spec"]["amiSelectorTerms"] = json!([{"id": "ami-0123456789abcdef0", "tags": {"a": "b"}}]);
        },
        "spec.amiSelectorTerms: Invalid value: 'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms",
    );
}

#[test]
fn ec2nodeclass_alias_unknown_family() {
    assert_invalid(
        NC,
        |o| o["spec"]["amiSelectorTerms"][0]["alias"] = json!("foo@latest"),
        "spec.amiSelectorTerms[0].alias: Invalid value: \"foo@latest\": family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022', 'windows2025'",
    );
}

#[test]
fn ec2nodeclass_alias_format_and_windows_version() {
    let v = assert_invalid(
        NC,
        |o| o["spec"]["amiSelectorTerms"][0]["alias"] = json!("al2023"),
        "spec.amiSelectorTerms[0].alias: Invalid value: \"al2023\": 'alias' is improperly formatted, must match the format 'family@version'",
    );
    assert_eq!(v.len(), 1, "{v:?}");
    assert_invalid(
        NC,
        |o| o["spec"]["amiSelectorTerms"][0]["alias"] = json!("windows2022@v20240807"),
        "spec.amiSelectorTerms[0].alias: Invalid value: \"windows2022@v20240807\": windows families may only specify version 'latest'",
    );
}

#[test]
fn ec2nodeclass_alias_with_other_terms_and_family_mismatch() {
    assert_invalid(
        NC,
        |o| o["spec"]["amiSelectorTerms"] = json!([{"alias": "al2023@latest"}, {"id": "ami-0123456789abcdef0"}]),
        "spec.amiSelectorTerms: Invalid value: 'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["amiFamily"] = json!("Bottlerocket"),
        "spec: Invalid value: if set, amiFamily must be 'AL2023' or 'Custom' when using an AL2023 alias",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["amiSelectorTerms"] = json!([{"id": "ami-0123456789abcdef0"}]),
        "spec: Invalid value: must specify amiFamily if amiSelectorTerms does not contain an alias",
    );
}

#[test]
fn ec2nodeclass_eviction_soft_without_grace_period() {
    assert_invalid(
        NC,
        |o| o["spec"]["kubelet"]["evictionSoft"]["imagefs.available"] = json!("10%"),
        "spec.kubelet: Invalid value: evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod",
    );
    // An unsupported key is reported by the key rule, and (having no grace period) by the pairing rule too.
    assert_violations(
        NC,
        |o| o["spec"]["kubelet"]["evictionSoft"]["memory.free"] = json!("10%"),
        &[
            "spec.kubelet.evictionSoft: Invalid value: valid keys for evictionSoft are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available']",
            "spec.kubelet: Invalid value: evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod",
        ],
    );
}

#[test]
fn ec2nodeclass_image_gc_thresholds() {
    assert_invalid(
        NC,
        |o| o["spec"]["kubelet"]["imageGCLowThresholdPercent"] = json!(85),
        "spec.kubelet: Invalid value: imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["kubelet"]["imageGCHighThresholdPercent"] = json!(101),
        "spec.kubelet.imageGCHighThresholdPercent: Invalid value: 101: must be less than or equal to 100",
    );
}

#[test]
fn ec2nodeclass_restricted_tags() {
    assert_invalid(
        NC,
        |o| o["spec"]["tags"]["kubernetes.io/cluster/x"] = json!("owned"),
        "spec.tags: Invalid value: tag contains a restricted tag matching kubernetes.io/cluster/",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["tags"]["karpenter.sh/nodepool"] = json!("default"),
        "spec.tags: Invalid value: tag contains a restricted tag matching karpenter.sh/nodepool",
    );
}

#[test]
fn ec2nodeclass_selector_terms() {
    // Upstream's `!self.all(x, has(x.id) && has(x.tags))` is also false for an empty list (vacuous `all`), so a
    // real API server reports both messages.
    assert_violations(
        NC,
        |o| o["spec"]["subnetSelectorTerms"] = json!([]),
        &[
            "spec.subnetSelectorTerms: Invalid value: subnetSelectorTerms cannot be empty",
            "spec.subnetSelectorTerms: Invalid value: 'id' is mutually exclusive, cannot be set with a combination of other fields in a subnet selector term",
        ],
    );
    assert_invalid(
        NC,
        |o| o["spec"]["subnetSelectorTerms"] = json!([{}]),
        "spec.subnetSelectorTerms: Invalid value: expected at least one, got none, ['tags', 'id']",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["securityGroupSelectorTerms"][0]["tags"]["environment"] = json!(""),
        "spec.securityGroupSelectorTerms[0].tags: Invalid value: empty tag keys or values aren't supported",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["subnetSelectorTerms"][1]["id"] = json!("sn-123"),
        "spec.subnetSelectorTerms[1].id: Invalid value: \"sn-123\": must match 'subnet-[0-9a-z]+'",
    );
}

#[test]
fn ec2nodeclass_block_devices() {
    assert_invalid(
        NC,
        |o| {
            let second = json!({"deviceName": "/dev/xvdb", "ebs": {"volumeSize": "20Gi"}, "rootVolume": true});
            o["spec"]["blockDeviceMappings"].as_array_mut().unwrap().push(second);
        },
        "spec.blockDeviceMappings: Invalid value: must have only one blockDeviceMappings with rootVolume",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["blockDeviceMappings"][0]["ebs"] = json!({"volumeType": "gp3"}),
        "spec.blockDeviceMappings[0].ebs: Invalid value: snapshotID or volumeSize must be defined",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["blockDeviceMappings"][0]["ebs"]["volumeType"] = json!("gp4"),
        "spec.blockDeviceMappings[0].ebs.volumeType: Unsupported value: \"gp4\": supported values: \"standard\", \"io1\", \"io2\", \"gp2\", \"sc1\", \"st1\", \"gp3\"",
    );
}

#[test]
fn ec2nodeclass_kube_reserved_keys_and_metadata_options() {
    assert_invalid(
        NC,
        |o| o["spec"]["kubelet"]["kubeReserved"]["gpu"] = json!("1"),
        "spec.kubelet.kubeReserved: Invalid value: valid keys for kubeReserved are ['cpu','memory','ephemeral-storage','pid']",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["kubelet"]["kubeReserved"]["cpu"] = json!("-1"),
        "spec.kubelet.kubeReserved: Invalid value: kubeReserved value cannot be a negative resource quantity",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["metadataOptions"]["httpPutResponseHopLimit"] = json!(65),
        "spec.metadataOptions.httpPutResponseHopLimit: Invalid value: 65: must be less than or equal to 64",
    );
}

#[test]
fn ec2nodeclass_network_interfaces() {
    assert_invalid(
        NC,
        |o| {
            o["spec"]["networkInterfaces"] = json!([
                {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"},
                {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "efa-only"}
            ])
        },
        "spec.networkInterfaces: Invalid value: networkInterfaces must not have duplicate networkCardIndex and deviceIndex pairs, and can have at most one efa device per network card",
    );
    assert_invalid(
        NC,
        |o| o["spec"]["networkInterfaces"] = json!([{"networkCardIndex": 1, "deviceIndex": 0, "interfaceType": "interface"}]),
        "spec.networkInterfaces: Invalid value: networkInterfaces must include a primary interface with interfaceType='interface'",
    );
}

// ---- NodeClaim v1 ----

#[test]
fn unknown_fields_are_pruned_before_cel_rules_run() {
    // NodeClaim spec is immutable (`self == oldSelf`). An undeclared field is reported, then pruned as the API
    // server does, so it does not also count as a change of spec.
    let schema = karpenter::schema("karpenter.sh/v1", "NodeClaim").unwrap();
    let old = fixture("v1-nodeclaim.yaml");
    let mut new = old.clone();
    new["spec"]["bogus"] = json!(1);
    let errs = schema.validate_update(&new, &old).unwrap_err();
    let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["spec.bogus: field not declared in schema"]);
    new["spec"]["expireAfter"] = json!("24h");
    let errs = schema.validate_update(&new, &old).unwrap_err();
    let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "spec.bogus: field not declared in schema",
            "spec: Invalid value: spec is immutable"
        ]
    );
}

#[test]
fn nodeclaim_rules() {
    let f = "v1-nodeclaim.yaml";
    assert_invalid(
        f,
        |o| o["spec"]["requirements"][0]["values"] = json!([]),
        "spec.requirements: Invalid value: requirements with operator 'In' must have a value defined",
    );
    assert_invalid(f, |o| o["spec"]["resources"]["requests"]["cpu"] = json!("1.5 cores"), "spec.resources.requests[cpu]: Invalid value: \"1.5 cores\": must match '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$'");
    assert_invalid(
        f,
        |o| o["status"] = json!({"capacity": {"cpu": "4"}, "bogus": 1}),
        "status.bogus: field not declared in schema",
    );
    assert_invalid(
        f,
        |o| {
            o["status"] = json!({"conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"},
                {"type": "Ready", "status": "False", "reason": "NotReady", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}
            ]})
        },
        "status.conditions[1]: Duplicate value: {\"type\":\"Ready\"}",
    );
    assert_invalid(
        f,
        |o| o["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": "yesterday"}]}),
        "status.conditions[0].lastTransitionTime: Invalid value: \"yesterday\": must be of format date-time: expected an RFC 3339 timestamp like 2024-01-02T15:04:05Z",
    );
}

// ---- v1beta1 / v1alpha5 ----

#[test]
fn v1beta1_nodepool_rules() {
    let f = "v1beta1-nodepool.yaml";
    assert_invalid(
        f,
        |o| o["spec"]["disruption"]["consolidateAfter"] = json!("30s"),
        "spec.disruption: Invalid value: consolidateAfter cannot be combined with consolidationPolicy=WhenUnderutilized",
    );
    assert_invalid(
        f,
        |o| o["spec"]["template"]["metadata"]["labels"]["karpenter.sh/foo"] = json!("x"),
        "spec.template.metadata.labels: Invalid value: label domain \"karpenter.sh\" is restricted",
    );
    assert_invalid(
        f,
        |o| o["spec"]["disruption"]["budgets"] = json!([]),
        "spec.disruption.budgets: field not declared in schema",
    );
}

#[test]
fn v1beta1_ec2nodeclass_rules() {
    assert_invalid(
        "v1beta1-ec2nodeclass.yaml",
        |o| o["spec"]["amiSelectorTerms"] = json!([{"id": "ami-0123456789abcdef0", "name": "x"}]),
        "spec.amiSelectorTerms: Invalid value: 'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms",
    );
}

#[test]
fn v1alpha5_provisioner_structural_rules() {
    let f = "v1alpha5-provisioner.yaml";
    assert_invalid(
        f,
        |o| o["spec"]["weight"] = json!(0),
        "spec.weight: Invalid value: 0: must be greater than or equal to 1",
    );
    assert_invalid(
        f,
        |o| o["spec"]["ttlSecondsAfterEmty"] = json!(30),
        "spec.ttlSecondsAfterEmty: field not declared in schema",
    );
}

//! Golden tests over `tests/fixtures/`: the rendered output and the warnings of every case are
//! snapshotted, and every Karpenter output object is validated against the upstream CRDs
//! (v1 against crds/v1, v1beta1 against crds/v0.32).
use std::path::PathBuf;

use karpenter_convert::render::{self, Format};
use karpenter_convert::{convert, parse_documents, CrdValidator, Document, Options, Target};

fn fixture(name: &str) -> (String, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (format!("fixtures/{name}"), text)
}

#[derive(Default, Clone)]
struct Case {
    target: Target,
    ignore_defaults: bool,
    node_role: Option<&'static str>,
    only_karpenter: bool,
}

/// Convert `files` and return the snapshot text; panics if an output fails its CRD schema.
fn run(files: &[&str], case: Case) -> String {
    let mut docs: Vec<Document> = Vec::new();
    for f in files {
        let (name, text) = fixture(f);
        match parse_documents(&name, &text) {
            Ok(d) => docs.extend(d),
            Err(e) => return format!("# error\n{e}\n"),
        }
    }
    let validator = CrdValidator;
    let opts = Options {
        target: case.target,
        ignore_defaults: case.ignore_defaults,
        node_role: case.node_role.map(str::to_string),
        only_karpenter: case.only_karpenter,
        validator: Some(&validator),
    };
    match convert(&docs, &opts) {
        Err(e) => format!("# error\n{e}\n"),
        Ok(conv) => {
            for o in &conv.objects {
                let api = o.value["apiVersion"].as_str().unwrap_or_default();
                // Objects passed through unchanged (already the target version) are the input's.
                let passed_through = docs.iter().any(|d| d.value == o.value);
                if api.starts_with("karpenter.") && !passed_through {
                    let kind = o.value["kind"].as_str().unwrap_or_default();
                    if let Err(e) = crd_schema::karpenter::validate(api, kind, &o.value) {
                        panic!("output {kind} fails the {api} CRD schema: {e}");
                    }
                    let expected = match case.target {
                        Target::V1 => "/v1",
                        Target::V1beta1 => "/v1beta1",
                    };
                    assert!(api.ends_with(expected), "{api} is not the target version");
                }
            }
            let yaml = render::render_all(&conv.objects, Format::Yaml).expect("render");
            let mut out = yaml;
            out.push_str("# warnings\n");
            for w in &conv.warnings {
                out.push_str(&w.to_string());
                out.push('\n');
            }
            out
        }
    }
}

fn v1() -> Case {
    Case::default()
}

fn v1beta1() -> Case {
    Case {
        target: Target::V1beta1,
        ..Case::default()
    }
}

macro_rules! golden {
    ($name:ident, $files:expr, $case:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), run(&$files, $case));
        }
    };
}

golden!(
    provisioner_v1,
    ["provisioner.yaml", "nodetemplate.yaml"],
    v1()
);
golden!(
    provisioner_v1beta1,
    ["provisioner.yaml", "nodetemplate.yaml"],
    v1beta1()
);
golden!(provisioner_defaults_v1, ["provisioner_defaults.yaml"], v1());
golden!(
    provisioner_defaults_v1beta1,
    ["provisioner_defaults.yaml"],
    v1beta1()
);
golden!(
    provisioner_no_defaults,
    ["provisioner_defaults.yaml"],
    Case {
        ignore_defaults: true,
        ..v1()
    }
);
golden!(
    provisioner_legacy_keys,
    ["provisioner_legacy_keys.yaml"],
    v1()
);
golden!(
    provisioner_kubectl_output,
    ["provisioner_kubectl_output.yaml"],
    Case {
        ignore_defaults: true,
        ..v1()
    }
);
golden!(
    provisioner_kubectl_output_v1beta1,
    ["provisioner_kubectl_output.yaml"],
    Case {
        ignore_defaults: true,
        ..v1beta1()
    }
);
golden!(
    provisioner_consolidation_v1,
    ["provisioner_consolidation.yaml"],
    v1()
);
golden!(
    provisioner_consolidation_v1beta1,
    ["provisioner_consolidation.yaml"],
    v1beta1()
);
golden!(provisioner_provider_v1, ["provisioner_provider.yaml"], v1());
golden!(
    provisioner_provider_node_role,
    ["provisioner_provider.yaml"],
    Case {
        node_role: Some("KarpenterNodeRole-my-cluster"),
        ..v1()
    }
);
golden!(
    provisioner_provider_v1beta1,
    ["provisioner_provider.yaml"],
    v1beta1()
);
golden!(provisioner_lossy, ["provisioner_lossy.yaml"], v1());
golden!(nodetemplate_v1, ["nodetemplate.yaml"], v1());
golden!(nodetemplate_v1beta1, ["nodetemplate.yaml"], v1beta1());
golden!(
    nodetemplate_no_amifamily_v1,
    ["nodetemplate_no_amifamily.yaml"],
    v1()
);
golden!(
    nodetemplate_no_amifamily_v1beta1,
    ["nodetemplate_no_amifamily.yaml"],
    v1beta1()
);
golden!(
    nodetemplate_kubectl_output,
    ["nodetemplate_kubectl_output.yaml"],
    Case {
        node_role: Some("KarpenterNodeRole-my-cluster"),
        ..v1()
    }
);
golden!(
    nodetemplate_cdl_ami_selectors,
    ["nodetemplate_cdl_amiSelectors_tags.yaml"],
    v1()
);
golden!(
    nodetemplate_cdl_subnet_selectors,
    ["nodetemplate_cdl_subnetSelectors_tags.yaml"],
    v1()
);
golden!(
    nodetemplate_cdl_security_group_selectors,
    ["nodetemplate_cdl_securityGroupSelectors_tags.yaml"],
    v1()
);
golden!(
    nodetemplate_launch_template,
    ["nodetemplate_launch_template_name.yaml"],
    v1()
);
golden!(nodetemplate_ubuntu_v1, ["nodetemplate_ubuntu.yaml"], v1());
golden!(
    nodetemplate_ubuntu_v1beta1,
    ["nodetemplate_ubuntu.yaml"],
    v1beta1()
);
golden!(
    nodetemplate_ubuntu_no_selector,
    ["nodetemplate_ubuntu_no_selector.yaml"],
    v1()
);
golden!(nodetemplate_custom, ["nodetemplate_custom.yaml"], v1());
golden!(
    nodetemplate_custom_node_role,
    ["nodetemplate_custom.yaml"],
    Case {
        node_role: Some("KarpenterNodeRole-my-cluster"),
        ..v1()
    }
);
golden!(kubelet_shared, ["kubelet_shared.yaml"], v1());
golden!(kubelet_conflict, ["kubelet_conflict.yaml"], v1());
golden!(
    kubelet_conflict_v1beta1,
    ["kubelet_conflict.yaml"],
    v1beta1()
);
golden!(kubelet_missing_class, ["kubelet_missing_class.yaml"], v1());
golden!(
    unknown_kind_passthrough,
    ["unknown_kind.yaml", "provisioner_defaults.yaml"],
    v1()
);
golden!(
    unknown_kind_only_karpenter,
    ["unknown_kind.yaml", "provisioner_defaults.yaml"],
    Case {
        only_karpenter: true,
        ..v1()
    }
);
golden!(list_json, ["list.json"], v1());
golden!(v1beta1_to_v1, ["v1beta1.yaml"], v1());
golden!(v1beta1_passthrough, ["v1beta1.yaml"], v1beta1());
golden!(invalid_api_version, ["invalid_api_version.yaml"], v1());
golden!(invalid_source_schema, ["invalid_source_schema.yaml"], v1());
golden!(malformed_yaml, ["malformed.yaml"], v1());

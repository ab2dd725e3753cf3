//! Acceptance for issue 11 item 3: one EC2NodeClass, one answer. The same class — kubelet
//! kubeReserved, systemReserved, evictionHard and evictionSoft, a 200 GiB root volume, an
//! amd64-only AMI and two of three subnets — goes to the AWS provider's instance-type listing
//! (on moto), to `instance-types` (live against moto and `--offline`, the class read from the
//! Kubernetes API-server double) and to `simulate` (`-f` manifests and `--from-cluster`). All
//! of them report the same allocatable CPU, memory, ephemeral storage and max pods per type,
//! and the same instance types and zones once the class's resolved status narrows them.
//!
//! moto's DescribeInstanceTypes data and the embedded catalog `simulate` and `--offline` read
//! agree on vCPUs, memory, ENIs, IPv4 per ENI and zones for every type the NodePool below
//! allows (checked by the test before comparing), so one allocatable per type is expected.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_scheduling::{InstanceType, NodeSelectorRequirement, Operator, Requirements};
use kubectl_karpenter::cloud::aws::provider::AwsProvider;
use kubectl_karpenter::cloud::aws::AwsContext;
use kubectl_karpenter::cloud::provider::CloudProvider;
use serde_json::{json, Value};

use super::world;
use crate::support::moto::Moto;

/// The embedded catalog prices us-east-1 only, so everything runs there.
const REGION: &str = "us-east-1";
const CLASS: &str = "reserved";
const POOL: &str = "general";
/// amd64 types whose allocatable every consumer must agree on.
const PROBED: [&str; 4] = ["m5.large", "c5.xlarge", "r5.large", "m6i.xlarge"];
const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

struct Aws {
    ctx: AwsContext,
    /// Tagged subnets by zone: us-east-1a, b, c.
    subnets: BTreeMap<String, String>,
    sg: String,
    x86_ami: String,
}

fn tags(rt: ResourceType, kv: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(
            kv.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build()
}

async fn aws(moto: &Moto) -> Aws {
    let mut o = moto.options();
    o.region = Some(REGION.into());
    let ctx = AwsContext::load(o).await.expect("context");
    let ec2 = ctx.ec2();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap()
        .to_string();
    let mut subnets = BTreeMap::new();
    for (i, zone) in ["us-east-1a", "us-east-1b", "us-east-1c"]
        .iter()
        .enumerate()
    {
        let id = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*zone)
            .tag_specifications(tags(
                ResourceType::Subnet,
                &[("karpenter.sh/discovery", "demo")],
            ))
            .send()
            .await
            .unwrap()
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap()
            .to_string();
        subnets.insert(zone.to_string(), id);
    }
    let sg = ec2
        .create_security_group()
        .group_name("nodes")
        .description("nodes")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    ctx.iam()
        .create_role()
        .role_name(world::ROLE)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let x86_ami = ctx
        .ssm()
        .get_parameter()
        .name(world::AL2023_X86)
        .send()
        .await
        .unwrap()
        .parameter()
        .and_then(|p| p.value())
        .unwrap()
        .to_string();
    Aws {
        ctx,
        subnets,
        sg,
        x86_ami,
    }
}

/// The EC2NodeClass under test: reserved and eviction settings, a 200 GiB root volume, the
/// amd64 AL2023 AMI by id, and the subnets of us-east-1a and us-east-1b only.
fn class(a: &Aws) -> Value {
    json!({
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
        "metadata": {"name": CLASS, "uid": "uid-reserved"},
        "spec": {
            "amiFamily": "AL2023",
            "amiSelectorTerms": [{"id": a.x86_ami}],
            "role": world::ROLE,
            "subnetSelectorTerms": [{"id": a.subnets["us-east-1a"]}, {"id": a.subnets["us-east-1b"]}],
            "securityGroupSelectorTerms": [{"id": a.sg}],
            "kubelet": {
                "kubeReserved": {"cpu": "150m", "memory": "600Mi"},
                "systemReserved": {"cpu": "100m", "memory": "200Mi", "ephemeral-storage": "2Gi"},
                "evictionHard": {"memory.available": "5%", "nodefs.available": "12%"},
                "evictionSoft": {"memory.available": "700Mi", "nodefs.available": "15%"},
                "evictionSoftGracePeriod": {"memory.available": "1m", "nodefs.available": "1m"}
            },
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "rootVolume": true,
                "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": true}}]
        }
    })
}

fn pool_requirements() -> Value {
    json!([
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
        {"key": "karpenter.k8s.aws/instance-generation", "operator": "In", "values": ["5", "6"]},
        {"key": "karpenter.k8s.aws/instance-cpu", "operator": "In", "values": ["2", "4"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}
    ])
}

fn pool() -> Value {
    json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": POOL},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": CLASS},
            "requirements": pool_requirements()
        }}}
    })
}

fn requirements() -> Requirements {
    let terms: Vec<NodeSelectorRequirement> = pool_requirements()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| NodeSelectorRequirement {
            key: t["key"].as_str().unwrap().into(),
            operator: Operator::parse(t["operator"].as_str().unwrap()).unwrap(),
            values: t["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
            min_values: None,
        })
        .collect();
    Requirements::from_terms(&terms).unwrap()
}

/// Allocatable as every consumer must report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Alloc {
    cpu_millis: i64,
    memory_mib: i64,
    ephemeral_mib: i64,
    max_pods: i64,
}

fn alloc_of(it: &InstanceType) -> Alloc {
    Alloc {
        cpu_millis: it.allocatable.cpu_millis,
        memory_mib: it.allocatable.memory_bytes >> 20,
        ephemeral_mib: it.allocatable.ephemeral_bytes >> 20,
        max_pods: it.capacity.pods,
    }
}

fn alloc_of_row(r: &Value) -> Alloc {
    Alloc {
        cpu_millis: (r["allocatableCpu"].as_f64().unwrap() * 1000.0).round() as i64,
        memory_mib: r["allocatableMemoryMiB"].as_i64().unwrap(),
        ephemeral_mib: r["allocatableEphemeralStorageMiB"].as_i64().unwrap(),
        max_pods: r["maxPods"].as_i64().unwrap(),
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"));
    c.env_remove("KUBECONFIG")
        .env_remove("AWS_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG");
    c
}

fn ok_json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// `instance-types --nodepool general -o json`, live against moto or `--offline`.
async fn instance_types(kc: &Path, moto_endpoint: Option<String>) -> Vec<Value> {
    let kc = kc.to_path_buf();
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let mut c = bin();
        c.args([
            "instance-types",
            "--region",
            REGION,
            "-o",
            "json",
            "--nodepool",
            POOL,
        ])
        .arg("--kubeconfig")
        .arg(&kc);
        match moto_endpoint {
            Some(endpoint) => c
                .env("HOME", &home_path)
                .env("AWS_ENDPOINT_URL", endpoint)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_MAX_ATTEMPTS", "1"),
            None => c.arg("--offline"),
        };
        c.output().unwrap()
    })
    .await
    .unwrap();
    drop(home);
    ok_json(out).as_array().unwrap().clone()
}

async fn simulate(args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args([
                "simulate",
                "--region",
                REGION,
                "--strategy",
                "karpenter",
                "-o",
                "json",
            ])
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    ok_json(out)
}

fn pod(ns: &str, name: &str, requests: Value, extra: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "app", "resources": {"requests": requests}}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/0 nodes are available"}]}
    });
    for (k, v) in extra.as_object().unwrap() {
        p["spec"][k] = v.clone();
    }
    p
}

fn on_type(t: &str) -> Value {
    json!({"nodeSelector": {"node.kubernetes.io/instance-type": t}})
}

/// The NodeClaims of a plan: (instance type, zone, instance types, pods).
fn claims(plan: &Value) -> Vec<(String, String, BTreeSet<String>, BTreeSet<String>)> {
    let strings = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    plan["nodeClaims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["instanceType"].as_str().unwrap().to_string(),
                c["zone"].as_str().unwrap().to_string(),
                strings(&c["instanceTypes"]),
                strings(&c["pods"]),
            )
        })
        .collect()
}

fn pending(plan: &Value) -> BTreeSet<String> {
    plan["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pod"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ec2nodeclass_gives_one_allocatable_and_one_set_of_types_and_zones_to_simulate_instance_types_and_the_provider(
) {
    let moto = Moto::start();
    let a = aws(&moto).await;

    // --- the AWS provider, on moto -------------------------------------------------------
    let nc: EC2NodeClass = serde_json::from_value(class(&a)).unwrap();
    let mut cluster = world::cluster();
    cluster.endpoint = "https://ABC.gr7.us-east-1.eks.amazonaws.com".into();
    let provider = AwsProvider::new(a.ctx.clone(), cluster);
    let resolved = provider.resolve_nodeclass(&nc).await.expect("resolve");
    let status = resolved.status();
    let status_zones: BTreeSet<String> = status
        .subnets
        .iter()
        .flatten()
        .map(|s| s.zone.clone())
        .collect();
    assert_eq!(
        status_zones,
        BTreeSet::from(["us-east-1a".to_string(), "us-east-1b".to_string()])
    );
    let reqs = requirements();
    let from_provider: BTreeMap<String, InstanceType> = provider
        .instance_types(CLASS)
        .await
        .expect("instance types")
        .into_iter()
        .filter(|it| it.labels_compatible(&reqs))
        .filter(|it| {
            it.offerings
                .iter()
                .any(|o| o.available && o.capacity_type == "on-demand")
        })
        .map(|it| (it.name.clone(), it))
        .collect();
    assert!(from_provider.len() > 20, "{:?}", from_provider.keys());

    // upstream's formula for m5.large (2 vCPU, 8192 MiB, 3 ENIs × 10 IPv4), as an anchor:
    // memory capacity 8192 − ceil(8192 × 7.5%) = 7577Mi; eviction memory max(5% = 379Mi,
    // 700Mi soft) = 700Mi; ephemeral eviction max(12%, 15% soft) of 200Gi = 30Gi.
    assert_eq!(
        alloc_of(&from_provider["m5.large"]),
        Alloc {
            cpu_millis: 2000 - 150 - 100,
            memory_mib: 7577 - 600 - 200 - 700,
            ephemeral_mib: (200 - 1 - 2 - 30) * 1024,
            max_pods: 29,
        }
    );
    // r5.large: 5% of its 15155Mi (758Mi) beats the 700Mi soft threshold
    assert_eq!(
        from_provider["r5.large"].allocatable.memory_bytes,
        (15155 - 600 - 200) * MIB - (15155 * MIB * 5 + 99) / 100
    );
    for t in PROBED {
        assert_eq!(
            from_provider[t].capacity.ephemeral_bytes,
            200 * GIB,
            "the 200Gi root volume"
        );
    }

    // --- the same class, with the status the provider resolved, in the API-server double --
    let server = kube_double::ApiServer::start().await;
    let mut with_status = class(&a);
    with_status["status"] = serde_json::to_value(&status).unwrap();
    server.seed(with_status);
    server.seed(pool());
    // one small pod (its NodeClaim lists every type the pool and class allow) in `types`,
    // four zone-spread pods (their NodeClaims cover every allowed zone) in `zones`
    server.seed(pod(
        "types",
        "small",
        json!({"cpu": "10m", "memory": "16Mi"}),
        json!({}),
    ));
    for i in 0..4 {
        let mut p = pod(
            "zones",
            &format!("spread-{i}"),
            json!({"cpu": "1", "memory": "1Gi"}),
            json!({"topologySpreadConstraints": [{"maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"tier": "spread"}}}]}),
        );
        p["metadata"]["labels"]["tier"] = "spread".into();
        server.seed(p);
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();

    // --- instance-types, live against moto and offline ------------------------------------
    let live = instance_types(&kc, Some(moto.endpoint())).await;
    let offline = instance_types(&kc, None).await;
    let rows = |rows: &[Value]| -> BTreeMap<String, (Alloc, BTreeSet<String>)> {
        rows.iter()
            .map(|r| {
                let zones = r["zones"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|z| z.as_str().unwrap().to_string())
                    .collect();
                (
                    r["name"].as_str().unwrap().to_string(),
                    (alloc_of_row(r), zones),
                )
            })
            .collect()
    };
    let live = rows(&live);
    let offline = rows(&offline);
    let provider_rows: BTreeMap<String, (Alloc, BTreeSet<String>)> = from_provider
        .iter()
        .map(|(n, it)| {
            let zones = it
                .offerings
                .iter()
                .filter(|o| o.available && o.capacity_type == "on-demand")
                .map(|o| o.zone.clone())
                .collect();
            (n.clone(), (alloc_of(it), zones))
        })
        .collect();
    assert_eq!(live, provider_rows, "instance-types (live) = the provider");
    assert_eq!(
        offline, provider_rows,
        "instance-types --offline (embedded catalog) = the provider"
    );
    for (name, (_, zones)) in &provider_rows {
        assert!(zones.is_subset(&status_zones), "{name}: {zones:?}");
        assert!(
            !from_provider[name].labels["kubernetes.io/arch"].contains("arm64"),
            "{name}: the class's only AMI is amd64"
        );
    }
    for t in PROBED {
        assert!(provider_rows.contains_key(t), "{t} is listed");
    }

    // --- simulate --from-cluster: the same types and zones ---------------------------------
    let kc_arg = kc.display().to_string();
    let plan = simulate(vec![
        "--from-cluster".into(),
        "--kubeconfig".into(),
        kc_arg.clone(),
        "-n".into(),
        "types".into(),
    ])
    .await;
    let c = claims(&plan);
    assert_eq!(c.len(), 1, "{plan}");
    let sim_types = &c[0].2;
    let want: BTreeSet<String> = provider_rows.keys().cloned().collect();
    assert_eq!(
        sim_types, &want,
        "simulate --from-cluster considers exactly these types"
    );
    let plan = simulate(vec![
        "--from-cluster".into(),
        "--kubeconfig".into(),
        kc_arg,
        "-n".into(),
        "zones".into(),
    ])
    .await;
    assert!(pending(&plan).is_empty(), "{plan}");
    let sim_zones: BTreeSet<String> = claims(&plan).into_iter().map(|c| c.1).collect();
    assert_eq!(sim_zones, status_zones, "{plan}");

    // --- simulate -f: the same allocatable, probed at its edges ----------------------------
    // Per type: a pod requesting exactly the allocatable CPU, memory and ephemeral storage
    // fits; one more millicore, byte of memory or byte of storage does not; maxPods small
    // pods share one node and one more needs a second.
    let mut docs = vec![class(&a), pool()];
    let mut fits = BTreeSet::new();
    let mut over = BTreeSet::new();
    for t in PROBED {
        let it = &from_provider[t];
        let (cpu, mem, eph) = (
            it.allocatable.cpu_millis,
            it.allocatable.memory_bytes,
            it.allocatable.ephemeral_bytes,
        );
        let req = |c: i64, m: i64, e: i64| json!({"cpu": format!("{c}m"), "memory": m.to_string(), "ephemeral-storage": e.to_string()});
        let short = t.replace('.', "-");
        for (name, r) in [
            (format!("{short}-fits"), req(cpu, mem, eph)),
            (format!("{short}-over-cpu"), req(cpu + 1, mem, eph)),
            (format!("{short}-over-memory"), req(cpu, mem + 1, eph)),
            (format!("{short}-over-storage"), req(cpu, mem, eph + 1)),
        ] {
            if name.ends_with("fits") {
                fits.insert(format!("default/{name}"));
            } else {
                over.insert(format!("default/{name}"));
            }
            docs.push(pod("default", &name, r, on_type(t)));
        }
        for i in 0..=it.capacity.pods {
            docs.push(pod(
                "default",
                &format!("{short}-small-{i}"),
                json!({"cpu": "1m", "memory": "1Mi"}),
                on_type(t),
            ));
        }
    }
    let manifest = dir.path().join("manifest.yaml");
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    std::fs::write(&manifest, text.join("\n---\n")).unwrap();
    let plan = simulate(vec!["-f".into(), manifest.display().to_string()]).await;
    assert_eq!(
        pending(&plan),
        over,
        "exactly the pods over allocatable stay pending"
    );
    let c = claims(&plan);
    for f in &fits {
        let claim = c.iter().find(|c| c.3.contains(f)).expect(f);
        assert_eq!(claim.3.len(), 1, "{f} fills its node alone");
        assert!(f.contains(&claim.0.replace('.', "-")), "{f} on {}", claim.0);
    }
    for t in PROBED {
        let short = t.replace('.', "-");
        let mut small: Vec<usize> = c
            .iter()
            .filter(|c| {
                c.3.iter()
                    .any(|p| p.starts_with(&format!("default/{short}-small-")))
            })
            .map(|c| {
                assert_eq!(c.0, t);
                c.3.len()
            })
            .collect();
        small.sort();
        let max_pods = from_provider[t].capacity.pods as usize;
        assert_eq!(small, [1, max_pods], "{t}: maxPods {max_pods} per node");
    }
}

//! Resolution, launch, terminate, GC and the CreateFleet seam.
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::types::Filter;
use karpenter_scheduling::instancetype::{ON_DEMAND, SPOT};
use karpenter_scheduling::model::{Taint, TaintEffect};
use karpenter_scheduling::{labels, InstanceType, Offering, Requirement, Requirements, Resources};
use kubectl_karpenter::cloud::aws::provider::launch::{
    Fleet, FleetError, FleetInstance, FleetRequest, FleetResult,
};
use kubectl_karpenter::cloud::aws::provider::AwsProvider;
use kubectl_karpenter::cloud::aws::AwsError;
use kubectl_karpenter::cloud::provider::{
    orphans, CloudError, CloudProvider, FakeClock, NodeClaimRequest, OfferingKey,
    UNAVAILABLE_OFFERING_TTL,
};

use super::world::{self, CLUSTER};
use crate::support::moto::Moto;

#[tokio::test]
async fn resolving_the_nodeclass_yields_tagged_subnets_sgs_ami_and_profile() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let w = world::build(&ctx).await;
    let p = AwsProvider::new(ctx.clone(), world::cluster());
    let r = p
        .resolve_nodeclass(&world::nodeclass())
        .await
        .expect("resolve");

    let status = r.status();
    let mut subnets: Vec<(String, String, bool)> = status
        .subnets
        .unwrap()
        .into_iter()
        .map(|s| (s.zone, s.id, s.zone_id.is_some()))
        .collect();
    subnets.sort();
    let want: Vec<(String, String, bool)> = w
        .subnets
        .iter()
        .map(|(z, id)| (z.clone(), id.clone(), true))
        .collect();
    assert_eq!(
        subnets, want,
        "exactly the three tagged subnets, with zone ids"
    );

    let sgs = status.security_groups.unwrap();
    assert_eq!(sgs.len(), 1);
    assert_eq!(sgs[0].id, w.sg);
    assert_eq!(sgs[0].name.as_deref(), Some("demo-nodes"));

    let amis = status.amis.unwrap();
    let x86 = amis
        .iter()
        .find(|a| a.id == w.al2023_ami)
        .expect("the seeded AL2023 x86_64 standard AMI");
    assert!(x86
        .name
        .as_deref()
        .unwrap()
        .contains("al2023-x86_64-standard-1.31"));
    assert!(x86
        .requirements
        .iter()
        .any(|r| r.key == labels::ARCH && r.values.as_deref() == Some(&["amd64".to_string()][..])));
    assert!(amis.iter().any(|a| a
        .name
        .as_deref()
        .is_some_and(|n| n.contains("arm64-standard"))));

    let profile = status.instance_profile.expect("managed instance profile");
    assert!(profile.starts_with("demo_"), "{profile}");
    let got = ctx
        .iam()
        .get_instance_profile()
        .instance_profile_name(&profile)
        .send()
        .await
        .expect("profile exists");
    let ip = got.instance_profile().unwrap();
    assert_eq!(ip.path(), "/karpenter/us-west-2/demo/0000-uid/");
    assert_eq!(ip.roles().len(), 1);
    assert_eq!(ip.roles()[0].role_name(), world::ROLE);
    // idempotent
    let again = p
        .resolve_nodeclass(&world::nodeclass())
        .await
        .expect("again");
    assert_eq!(again.instance_profile.as_deref(), Some(profile.as_str()));
}

#[tokio::test]
async fn a_selector_matching_nothing_names_the_field() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let _w = world::build(&ctx).await;
    let mut nc = world::nodeclass();
    nc.spec.subnet_selector_terms[0].tags = Some(BTreeMap::from([(
        "karpenter.sh/discovery".to_string(),
        "nope".to_string(),
    )]));
    let p = AwsProvider::new(ctx, world::cluster());
    let err = p.resolve_nodeclass(&nc).await.unwrap_err().to_string();
    assert!(
        err.contains("EC2NodeClass default") && err.contains("spec.subnetSelectorTerms"),
        "{err}"
    );
}

fn allowed(types: &[&str]) -> Requirements {
    let mut r = Requirements::new();
    r.add(
        labels::INSTANCE_TYPE,
        Requirement::in_values(types.iter().copied()),
    );
    r
}

#[tokio::test]
async fn launch_tags_terminate_gc_and_launch_template_cleanup_against_moto() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let w = world::build(&ctx).await;
    let p = AwsProvider::new(ctx.clone(), world::cluster());
    p.resolve_nodeclass(&world::nodeclass())
        .await
        .expect("resolve");
    let all = p.instance_types("default").await.expect("instance types");
    let unresolved = p
        .instance_types("not-resolved")
        .await
        .expect_err("a class that was never resolved");
    assert!(
        matches!(&unresolved, CloudError::NodeClassNotReady(m) if m.contains("EC2NodeClass not-resolved")),
        "{unresolved:?}"
    );
    let m5 = all.iter().find(|t| t.name == "m5.large").expect("m5.large");
    assert_eq!(m5.capacity.pods, 29);
    assert!(
        m5.offerings.iter().all(|o| w.subnets.contains_key(&o.zone)),
        "zones limited to the subnets' zones"
    );

    let wanted = ["m5.large", "c5.large"];
    let mut requirements = allowed(&wanted);
    requirements.add(labels::CAPACITY_TYPE, Requirement::in_values([ON_DEMAND]));
    let req = |name: &str| NodeClaimRequest {
        nodeclaim: name.to_string(),
        nodepool: "default".into(),
        nodeclass: "default".into(),
        requirements: requirements.clone(),
        instance_types: all
            .iter()
            .filter(|t| wanted.contains(&t.name.as_str()))
            .cloned()
            .collect(),
        labels: BTreeMap::from([("team".to_string(), "ml".to_string())]),
        taints: vec![
            Taint {
                key: "nvidia.com/gpu".into(),
                value: "true".into(),
                effect: TaintEffect::NoSchedule,
            },
            Taint {
                key: "node.cilium.io/agent-not-ready".into(),
                value: String::new(),
                effect: TaintEffect::NoExecute,
            },
        ],
    };
    let inst = p.create(&req("default-abc12")).await.expect("launch");
    assert!(wanted.contains(&inst.instance_type.as_str()), "{inst:?}");
    assert!(w.subnets.contains_key(&inst.zone), "{inst:?}");
    assert_eq!(inst.capacity_type, ON_DEMAND);

    // what EC2 actually has
    let got = p.get(&inst.id).await.expect("get");
    assert_eq!(got.instance_type, inst.instance_type);
    assert!(w
        .subnets
        .values()
        .any(|s| Some(s) == got.subnet_id.as_ref()));
    for (k, v) in [
        ("karpenter.sh/nodepool", "default"),
        ("karpenter.k8s.aws/ec2nodeclass", "default"),
        ("karpenter.sh/nodeclaim", "default-abc12"),
        ("eks:eks-cluster-name", CLUSTER),
        ("kubernetes.io/cluster/demo", "owned"),
        ("Name", "default-abc12"),
        ("team", "platform"),
    ] {
        assert_eq!(
            got.tags.get(k).map(String::as_str),
            Some(v),
            "tag {k}: {:?}",
            got.tags
        );
    }

    // the launch template: named and tagged as upstream
    let lts = ctx
        .ec2()
        .describe_launch_templates()
        .filters(
            Filter::builder()
                .name("tag:eks:eks-cluster-name")
                .values(CLUSTER)
                .build(),
        )
        .send()
        .await
        .expect("describe lts");
    let lts = lts.launch_templates();
    assert_eq!(lts.len(), 1, "one AMI × max-pods group");
    let lt = &lts[0];
    assert!(lt
        .launch_template_name()
        .unwrap()
        .starts_with("karpenter.k8s.aws/"));
    let lt_tags: BTreeMap<_, _> = lt
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(
        lt_tags.get("karpenter.k8s.aws/ec2nodeclass"),
        Some(&"default")
    );
    assert_eq!(lt_tags.get("karpenter.sh/nodepool"), Some(&"default"));
    assert_eq!(lt_tags.get("kubernetes.io/cluster/demo"), Some(&"owned"));
    let data = ctx
        .ec2()
        .describe_launch_template_versions()
        .launch_template_id(lt.launch_template_id().unwrap())
        .send()
        .await
        .expect("versions");
    let d = data.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    assert_eq!(d.image_id(), Some(w.al2023_ami.as_str()));
    assert_eq!(d.security_group_ids(), std::slice::from_ref(&w.sg));
    use base64::Engine as _;
    let ud = base64::engine::general_purpose::STANDARD
        .decode(d.user_data().unwrap())
        .unwrap();
    let ud = String::from_utf8(ud).unwrap();
    assert!(
        ud.contains("kind: NodeConfig") && ud.contains("name: \"demo\""),
        "{ud}"
    );
    // the NodePool's taints and startup taints and its labels reach kubelet: Karpenter marks
    // these nodes do-not-sync-taints, so nothing else would put the taints on the node
    for want in [
        "key: \"nvidia.com/gpu\"\n        value: \"true\"",
        "key: \"node.cilium.io/agent-not-ready\"",
        "key: \"karpenter.sh/unregistered\"",
        "team=ml",
        "karpenter.sh/do-not-sync-taints=true",
    ] {
        assert!(ud.contains(want), "user data lacks {want:?}:\n{ud}");
    }

    // a second launch reuses the template; an orphan and an unrelated instance
    let second = p
        .create(&req("default-def34"))
        .await
        .expect("second launch");
    let orphan = p
        .create(&req("gone-nodeclaim"))
        .await
        .expect("orphan launch");
    ctx.ec2()
        .run_instances()
        .image_id(&w.al2023_ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(&w.untagged_subnet)
        .send()
        .await
        .expect("unrelated instance");
    let lts_after = ctx
        .ec2()
        .describe_launch_templates()
        .filters(
            Filter::builder()
                .name("tag:eks:eks-cluster-name")
                .values(CLUSTER)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(lts_after.launch_templates().len(), 1, "template reused");

    let listed = p.list().await.expect("list");
    let mut ids: Vec<_> = listed.iter().map(|i| i.id.clone()).collect();
    ids.sort();
    let mut want = vec![inst.id.clone(), second.id.clone(), orphan.id.clone()];
    want.sort();
    assert_eq!(ids, want, "only instances tagged for the cluster");
    let known: HashSet<String> = ["default-abc12".to_string(), "default-def34".to_string()].into();
    let gc: Vec<_> = orphans(&listed, &known)
        .iter()
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(gc, std::slice::from_ref(&orphan.id));

    // terminate removes it
    p.delete(&orphan.id).await.expect("terminate");
    assert!(matches!(
        p.get(&orphan.id).await,
        Err(CloudError::NotFound(_))
    ));
    assert!(matches!(
        p.delete(&orphan.id).await,
        Err(CloudError::NotFound(_))
    ));
    assert_eq!(p.list().await.unwrap().len(), 2);

    // post-registration tagging
    p.tag_registered(
        &inst.id,
        "ip-10-0-0-5.us-west-2.compute.internal",
        "default-abc12",
    )
    .await
    .expect("tag");
    assert_eq!(
        p.get(&inst.id).await.unwrap().tags["Name"],
        "ip-10-0-0-5.us-west-2.compute.internal"
    );

    // NodeClass cleanup deletes its launch templates
    assert_eq!(
        p.delete_launch_templates("default").await.expect("cleanup"),
        1
    );
    let left = ctx
        .ec2()
        .describe_launch_templates()
        .filters(
            Filter::builder()
                .name("tag:eks:eks-cluster-name")
                .values(CLUSTER)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(left.launch_templates().is_empty());
}

/// A scripted CreateFleet: records requests and answers from a queue of results.
#[derive(Default)]
struct ScriptedFleet {
    requests: Mutex<Vec<FleetRequest>>,
    answers: Mutex<Vec<FleetResult>>,
}

impl Fleet for ScriptedFleet {
    async fn create_fleet(&self, req: &FleetRequest) -> Result<FleetResult, AwsError> {
        self.requests.lock().unwrap().push(req.clone());
        let mut a = self.answers.lock().unwrap();
        Ok(if a.is_empty() {
            FleetResult::default()
        } else {
            a.remove(0)
        })
    }
}

fn priced(name: &str, arch: &str, prices: &[(&str, &str, f64)]) -> InstanceType {
    InstanceType::new(
        name,
        BTreeMap::from([
            (labels::ARCH.to_string(), arch.to_string()),
            (labels::OS.to_string(), "linux".to_string()),
        ]),
        Resources {
            cpu_millis: 2000,
            memory_bytes: 8 << 30,
            pods: 29,
            ephemeral_bytes: 20 << 30,
            extended: BTreeMap::new(),
        },
        Resources::default(),
        prices
            .iter()
            .map(|(z, ct, p)| Offering {
                zone: z.to_string(),
                capacity_type: ct.to_string(),
                price: *p,
                available: true,
            })
            .collect(),
    )
}

fn ice(t: &str, zone: &str) -> FleetError {
    FleetError {
        instance_type: Some(t.into()),
        subnet_id: None,
        zone: Some(zone.into()),
        code: "InsufficientInstanceCapacity".into(),
        message: "no capacity".into(),
    }
}

#[tokio::test]
async fn insufficient_capacity_excludes_the_offering_for_the_ttl_and_the_next_cheapest_is_used() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let w = world::build(&ctx).await;
    let clock = Arc::new(FakeClock::default());
    let fleet = ScriptedFleet::default();
    let p = AwsProvider::with_fleet(ctx, world::cluster(), fleet, clock.clone());
    p.resolve_nodeclass(&world::nodeclass())
        .await
        .expect("resolve");

    let types = vec![
        priced(
            "m5.large",
            "amd64",
            &[
                ("us-west-2a", SPOT, 0.03),
                ("us-west-2b", SPOT, 0.05),
                ("us-west-2a", ON_DEMAND, 0.096),
            ],
        ),
        priced(
            "c5.large",
            "amd64",
            &[("us-west-2a", SPOT, 0.04), ("us-west-2a", ON_DEMAND, 0.085)],
        ),
        priced(
            "m6g.large",
            "arm64",
            &[("us-west-2c", SPOT, 0.02), ("us-west-2c", ON_DEMAND, 0.077)],
        ),
        // pricier spot than the cheapest on-demand: dropped
        priced("r5.large", "amd64", &[("us-west-2a", SPOT, 0.2)]),
        // zone without a subnet: no override
        priced("t3.large", "amd64", &[("us-west-2d", SPOT, 0.01)]),
    ];
    let req = NodeClaimRequest {
        nodeclaim: "default-x".into(),
        nodepool: "default".into(),
        nodeclass: "default".into(),
        requirements: Requirements::new(),
        instance_types: types,
        labels: BTreeMap::new(),
        taints: vec![],
    };

    // 1st: every override fails with ICE on m6g.large/us-west-2c (the cheapest)
    p.fleet().answers.lock().unwrap().push(FleetResult {
        instances: vec![],
        errors: vec![ice("m6g.large", "us-west-2c")],
    });
    let err = p.create(&req).await.unwrap_err();
    assert!(
        matches!(err, CloudError::InsufficientCapacity { .. }),
        "{err}"
    );
    let first = p.fleet().requests.lock().unwrap()[0].clone();
    assert_eq!(first.capacity_type, SPOT);
    let order: Vec<(String, String, String)> = first
        .overrides()
        .map(|(_, o)| (o.instance_type.clone(), o.zone.clone(), o.subnet_id.clone()))
        .collect();
    assert_eq!(
        order
            .iter()
            .map(|(t, z, _)| (t.as_str(), z.as_str()))
            .collect::<Vec<_>>(),
        [
            ("m6g.large", "us-west-2c"),
            ("m5.large", "us-west-2a"),
            ("c5.large", "us-west-2a"),
            ("m5.large", "us-west-2b"),
        ],
        "cheapest first; r5 (spot above on-demand) and t3 (no subnet) left out"
    );
    for (_, z, s) in &order {
        assert_eq!(&w.subnets[z], s, "override uses the zone's subnet");
    }
    assert_eq!(
        first.configs.len(),
        2,
        "x86 and arm64 AMIs get their own launch templates"
    );
    assert_eq!(first.tags["karpenter.sh/nodeclaim"], "default-x");
    assert!(p
        .unavailable()
        .is_unavailable(&OfferingKey::new(SPOT, "m6g.large", "us-west-2c")));

    // 2nd: partial fulfilment: one instance, and an ICE error on another override
    p.fleet().answers.lock().unwrap().push(FleetResult {
        instances: vec![FleetInstance {
            id: "i-0000000000000abcd".into(),
            instance_type: "c5.large".into(),
            subnet_id: Some(w.subnets["us-west-2a"].clone()),
            zone: None,
        }],
        errors: vec![ice("m5.large", "us-west-2a")],
    });
    let inst = p
        .create(&req)
        .await
        .expect("partial fulfilment still launches");
    assert_eq!(inst.instance_type, "c5.large");
    assert_eq!(inst.zone, "us-west-2a", "zone from the override's subnet");
    let second = p.fleet().requests.lock().unwrap()[1].clone();
    assert_eq!(
        second
            .overrides()
            .next()
            .map(|(_, o)| o.instance_type.as_str()),
        Some("m5.large"),
        "the ICE'd offering is excluded; the next cheapest leads"
    );
    assert!(second
        .overrides()
        .all(|(_, o)| o.instance_type != "m6g.large"));
    assert!(p
        .unavailable()
        .is_unavailable(&OfferingKey::new(SPOT, "m5.large", "us-west-2a")));

    // after the TTL both offerings are back
    clock.advance(UNAVAILABLE_OFFERING_TTL);
    let _ = p.create(&req).await;
    let third = p.fleet().requests.lock().unwrap()[2].clone();
    assert_eq!(
        third
            .overrides()
            .next()
            .map(|(_, o)| o.instance_type.as_str()),
        Some("m6g.large")
    );

    // on-demand only: on-demand capacity type and its cheapest first
    let mut od = req.clone();
    od.requirements
        .add(labels::CAPACITY_TYPE, Requirement::in_values([ON_DEMAND]));
    let _ = p.create(&od).await;
    let fourth = p.fleet().requests.lock().unwrap()[3].clone();
    assert_eq!(fourth.capacity_type, ON_DEMAND);
    let prices: Vec<f64> = fourth.overrides().map(|(_, o)| o.priority).collect();
    assert_eq!(prices, [0.077, 0.085, 0.096]);
}

#[tokio::test]
async fn a_spot_launch_through_the_real_create_fleet_is_a_spot_instance() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let w = world::build(&ctx).await;
    let p = AwsProvider::new(ctx, world::cluster());
    p.resolve_nodeclass(&world::nodeclass())
        .await
        .expect("resolve");
    let req = NodeClaimRequest {
        nodeclaim: "spot-1".into(),
        nodepool: "default".into(),
        nodeclass: "default".into(),
        requirements: Requirements::new(),
        instance_types: vec![
            priced(
                "m5.large",
                "amd64",
                &[("us-west-2b", SPOT, 0.03), ("us-west-2b", ON_DEMAND, 0.096)],
            ),
            priced("c5.large", "amd64", &[("us-west-2c", SPOT, 0.05)]),
        ],
        labels: BTreeMap::new(),
        taints: vec![],
    };
    let inst = p.create(&req).await.expect("spot launch");
    assert_eq!(inst.capacity_type, SPOT);
    assert_eq!(
        (inst.instance_type.as_str(), inst.zone.as_str()),
        ("m5.large", "us-west-2b")
    );
    let got = p.get(&inst.id).await.expect("get");
    assert_eq!(got.capacity_type, SPOT, "EC2 reports a spot lifecycle");
    assert_eq!(
        got.subnet_id.as_deref(),
        Some(w.subnets["us-west-2b"].as_str())
    );
    p.unavailable().mark_spot_interrupted(&got);
    assert!(p
        .unavailable()
        .is_unavailable(&OfferingKey::new(SPOT, "m5.large", "us-west-2b")));
}

#[tokio::test]
async fn a_subnet_out_of_addresses_takes_its_zone_out_for_every_type() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let w = world::build(&ctx).await;
    let clock = Arc::new(FakeClock::default());
    let p = AwsProvider::with_fleet(ctx, world::cluster(), ScriptedFleet::default(), clock);
    p.resolve_nodeclass(&world::nodeclass())
        .await
        .expect("resolve");
    let req = NodeClaimRequest {
        nodeclaim: "default-ip".into(),
        nodepool: "default".into(),
        nodeclass: "default".into(),
        requirements: Requirements::new(),
        instance_types: vec![
            priced(
                "m5.large",
                "amd64",
                &[
                    ("us-west-2a", ON_DEMAND, 0.096),
                    ("us-west-2b", ON_DEMAND, 0.097),
                ],
            ),
            priced("c5.large", "amd64", &[("us-west-2a", ON_DEMAND, 0.085)]),
        ],
        labels: BTreeMap::new(),
        taints: vec![],
    };
    // the zone's subnet has no free addresses: EC2 names the subnet, not the zone
    p.fleet().answers.lock().unwrap().push(FleetResult {
        instances: vec![],
        errors: vec![FleetError {
            instance_type: Some("c5.large".into()),
            subnet_id: Some(w.subnets["us-west-2a"].clone()),
            zone: None,
            code: "InsufficientFreeAddressesInSubnet".into(),
            message: "no free addresses".into(),
        }],
    });
    assert!(p.create(&req).await.is_err());
    for t in ["c5.large", "m5.large"] {
        assert!(
            p.unavailable()
                .is_unavailable(&OfferingKey::new(ON_DEMAND, t, "us-west-2a")),
            "{t} in the full subnet's zone"
        );
    }
    let _ = p.create(&req).await;
    let second = p.fleet().requests.lock().unwrap()[1].clone();
    let zones: Vec<&str> = second.overrides().map(|(_, o)| o.zone.as_str()).collect();
    assert_eq!(zones, ["us-west-2b"], "only the other zone is tried");
}

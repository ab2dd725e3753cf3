//! `kubectl karpenter setup`: plan output goldens, and apply / converge / drift / teardown against moto.
//!
//! Expectations come from the upstream getting-started template (controller policies are read from
//! `../shared/crds/cloudformation/cloudformation-v1.yaml`) and from `../shared/reference/karpenter-aws.md`
//! §16 (role, queue, queue policy, rules), and are compared as parsed JSON.
mod template;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use kubectl_karpenter::setup::apply::{apply, RetryPolicy};
use kubectl_karpenter::setup::aws::AwsLive;
use kubectl_karpenter::setup::cluster::ClusterFacts;
use kubectl_karpenter::setup::live::{EksState, LiveState};
use kubectl_karpenter::setup::policy::{normalize_pattern, normalize_policy, parse_document};
use kubectl_karpenter::setup::{
    plan, read_and_plan, read_and_plan_teardown, render, ActionKind, AdoptScope, ClusterName,
    Desired, Live, Operation, Partition, Plan, ReadScope, ResourceKind, SetupError, Target,
    OWNERSHIP_TAG,
};
use serde_json::{json, Value};

use crate::support;
use crate::support::moto::{Moto, ACCOUNT_ID, REGION};

fn target(cluster: &str) -> Target {
    Target {
        cluster: ClusterName::new(cluster).unwrap(),
        partition: Partition::Aws,
        region: REGION.into(),
        account: ACCOUNT_ID.into(),
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
    }
}

async fn converge<L: Live>(live: &L, desired: &Desired) -> Plan {
    let plan = read_and_plan(live, desired).await.unwrap();
    let mut out = Vec::new();
    apply(live, &plan, fast_retry(), &mut out).await.unwrap();
    plan
}

fn golden(name: &str, value: &str) {
    insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, value);
    });
}

/// The plan as `-o json` prints it.
fn plan_json(plan: &Plan) -> String {
    kubectl_karpenter::cli::output::to_json(plan).unwrap()
}

fn changed(plan: &Plan) -> Vec<(ResourceKind, String, ActionKind)> {
    plan.changes()
        .map(|a| (a.kind, a.name.clone(), a.action))
        .collect()
}

// ---------------------------------------------------------------- pure: desired state and plan

#[test]
fn desired_controller_policies_equal_the_upstream_template() {
    let d = Desired::new(target("demo"));
    let expected = template::controller_policies("demo", REGION, ACCOUNT_ID);
    let got: BTreeMap<String, Value> = d
        .controller_policies
        .iter()
        .map(|p| (p.name.clone(), p.document.clone()))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, doc) in &expected {
        // Exact JSON equality (not just normalised): same statements, same order, same shapes.
        assert_eq!(&got[name], doc, "policy {name} differs from the template");
    }
}

#[test]
fn plan_for_an_empty_account_creates_everything_in_dependency_order() {
    let d = Desired::new(target("demo"));
    let p = plan(&d, &LiveState::default());
    let kinds: Vec<ResourceKind> = p.actions.iter().map(|a| a.kind).collect();
    assert_eq!(kinds.len(), 6 + 1 + 1 + 2 + 5);
    assert!(p.actions.iter().all(|a| a.action == ActionKind::Create));
    let pos = |k| kinds.iter().position(|x| *x == k).unwrap();
    assert!(pos(ResourceKind::IamRole) < pos(ResourceKind::IamInstanceProfile));
    assert!(pos(ResourceKind::SqsQueue) < pos(ResourceKind::SqsQueuePolicy));
    assert!(pos(ResourceKind::SqsQueuePolicy) < pos(ResourceKind::EventRule));
}

#[test]
fn golden_plan_table_and_json_for_a_new_cluster() {
    let d = Desired::new(target("demo"));
    let p = plan(&d, &LiveState::default());
    golden("plan_create_table", &render::table(&p));
    golden("plan_create_json", &plan_json(&p));
}

/// A live state equal to the desired one, written in the shapes AWS returns (single strings,
/// reordered statements), with a policy and a rule pattern changed by hand. Every resource
/// carries setup's ownership tag, as setup creates them.
fn drifted_live(d: &Desired) -> LiveState {
    use kubectl_karpenter::setup::live::*;
    let tags = d.ownership_tags();
    let mut live = LiveState::default();
    live.roles.insert(
        d.node_role.name.clone(),
        LiveRole {
            name: d.node_role.name.clone(),
            trust: json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
                "Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}),
            attached_policy_arns: d.node_role.managed_policy_arns[..3]
                .iter()
                .cloned()
                .collect(),
            tags: tags.clone(),
            ..Default::default()
        },
    );
    for p in &d.controller_policies {
        let mut doc = p.document.clone();
        if let Some(st) = doc["Statement"].as_array_mut() {
            st.reverse();
        }
        live.policies.insert(
            p.name.clone(),
            LivePolicy {
                name: p.name.clone(),
                arn: p.arn.clone(),
                document: doc,
                tags: tags.clone(),
                ..Default::default()
            },
        );
    }
    let lifecycle = &d.controller_policies[0];
    live.policies.get_mut(&lifecycle.name).unwrap().document["Statement"][0]["Action"] =
        json!("ec2:RunInstances");
    live.instance_profiles.insert(
        d.node_instance_profile.name.clone(),
        LiveInstanceProfile {
            name: d.node_instance_profile.name.clone(),
            path: "/".into(),
            roles: vec![d.node_role.name.clone()],
            tags: tags.clone(),
        },
    );
    live.queue = Some(LiveQueue {
        url: "http://x/123456789012/demo".into(),
        attributes: BTreeMap::from([
            ("MessageRetentionPeriod".into(), "345600".into()),
            ("SqsManagedSseEnabled".into(), "true".into()),
        ]),
        policy: Some(d.queue.policy.clone()),
        tags: tags.clone(),
    });
    for r in &d.rules {
        live.rules.insert(
            r.name.clone(),
            LiveRule {
                name: r.name.clone(),
                pattern: Some(r.pattern.clone()),
                state: "ENABLED".into(),
                targets: r.targets.clone(),
                tags: tags.clone(),
            },
        );
    }
    let spot = &d.rules[1];
    live.rules.get_mut(&spot.name).unwrap().pattern =
        Some(json!({"source":["aws.ec2"],"detail-type":["Something else"]}));
    live
}

#[test]
fn golden_plan_table_and_json_for_drift() {
    let d = Desired::new(target("demo"));
    let p = plan(&d, &drifted_live(&d));
    golden("plan_drift_table", &render::table(&p));
    golden("plan_drift_json", &plan_json(&p));
    assert_eq!(
        changed(&p),
        vec![
            (
                ResourceKind::IamPolicy,
                "KarpenterControllerNodeLifecyclePolicy-demo".into(),
                ActionKind::Update
            ),
            (
                ResourceKind::IamRole,
                "KarpenterNodeRole-demo".into(),
                ActionKind::Update
            ),
            (ResourceKind::SqsQueue, "demo".into(), ActionKind::Update),
            (
                ResourceKind::EventRule,
                "Karpenter-demo-SpotInterruption".into(),
                ActionKind::Update
            ),
        ]
    );
}

#[test]
fn plan_json_is_the_documented_contract() {
    let d = Desired::new(target("demo"));
    let v: Value = serde_json::from_str(&plan_json(&plan(&d, &LiveState::default()))).unwrap();
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["cluster", "region", "account", "actions"]);
    let actions = v["actions"].as_array().unwrap();
    for a in actions {
        let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["kind", "name", "action", "detail"]);
    }
    assert_eq!(actions[0]["kind"], "iam-policy");
    assert_eq!(actions[0]["action"], "create");
}

#[test]
fn golden_teardown_plan() {
    use kubectl_karpenter::setup::live::*;
    let d = Desired::new(target("demo"));
    let mut live = drifted_live(&d);
    live.roles
        .get_mut(&d.node_role.name)
        .unwrap()
        .instance_profiles = vec![
        d.node_instance_profile.name.clone(),
        "demo_123".into(),
        "someone-elses".into(),
    ];
    live.policies
        .get_mut(&d.controller_policies[0].name)
        .unwrap()
        .attached_roles = vec!["demo-karpenter".into()];
    live.policies
        .get_mut(&d.controller_policies[0].name)
        .unwrap()
        .other_versions = vec!["v1".into()];
    live.launch_templates = vec![LiveLaunchTemplate {
        id: "lt-0123456789abcdef0".into(),
        name: "karpenter.k8s.aws/1234567890".into(),
    }];
    live.karpenter_instance_profiles = vec![LiveInstanceProfile {
        name: "demo_123".into(),
        path: "/karpenter/us-west-2/demo/uid/".into(),
        roles: vec![d.node_role.name.clone()],
        ..Default::default()
    }];
    let p = kubectl_karpenter::setup::plan_teardown(&d, &live);
    golden("plan_teardown_table", &render::table(&p));
    golden("plan_teardown_json", &plan_json(&p));
    let ops: Vec<String> = p
        .actions
        .iter()
        .flat_map(|a| a.operations.iter().map(Operation::describe))
        .collect();
    let pos = |needle: &str| {
        ops.iter()
            .position(|o| o == needle)
            .unwrap_or_else(|| panic!("{needle} not in {ops:#?}"))
    };
    // Targets before rules; profiles emptied before the role goes; the role is detached from
    // the profile it does not own instead of deleting that profile; policies detached first.
    assert!(
        pos("events:RemoveTargets Karpenter-demo-Rebalance")
            < pos("events:DeleteRule Karpenter-demo-Rebalance")
    );
    assert!(
        pos("iam:RemoveRoleFromInstanceProfile demo_123 KarpenterNodeRole-demo")
            < pos("iam:DeleteRole KarpenterNodeRole-demo")
    );
    assert!(
        pos("iam:RemoveRoleFromInstanceProfile someone-elses KarpenterNodeRole-demo")
            < pos("iam:DeleteRole KarpenterNodeRole-demo")
    );
    assert!(!ops
        .iter()
        .any(|o| o == "iam:DeleteInstanceProfile someone-elses"));
    assert!(
        pos("iam:DetachRolePolicy demo-karpenter KarpenterControllerNodeLifecyclePolicy-demo")
            < pos("iam:DeletePolicy KarpenterControllerNodeLifecyclePolicy-demo")
    );
    assert!(
        pos("iam:DeletePolicyVersion KarpenterControllerNodeLifecyclePolicy-demo v1")
            < pos("iam:DeletePolicy KarpenterControllerNodeLifecyclePolicy-demo")
    );
}

// ---------------------------------------------------------------- moto: apply and converge

/// Reads what moto holds, independently of the adapter, and checks it equals the template.
async fn assert_matches_template(moto: &Moto, cluster: &str) {
    let aws = moto.context().await;
    let (iam, sqs, events) = (aws.iam(), aws.sqs(), aws.eventbridge());
    let (c, r, a) = (cluster, REGION, ACCOUNT_ID);
    // The upstream template's resources, tags resolved for this cluster.
    let upstream = template::resources(c, r, a);
    let props = |id: &str| &upstream[id]["Properties"];

    // Controller policies: the template's documents.
    for (name, expected) in template::controller_policies(c, r, a) {
        let arn = format!("arn:aws:iam::{a}:policy/{name}");
        let policy = iam.get_policy().policy_arn(&arn).send().await.unwrap();
        let policy = policy.policy().unwrap();
        assert_eq!(policy.path(), Some("/"));
        let version = iam
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(policy.default_version_id().unwrap())
            .send()
            .await
            .unwrap();
        let doc = parse_document(version.policy_version().unwrap().document().unwrap()).unwrap();
        assert_eq!(
            normalize_policy(&doc),
            normalize_policy(&expected),
            "policy {name}"
        );
    }

    // Node role: trust, path, the four managed policies.
    let role_name = format!("KarpenterNodeRole-{c}");
    let role = iam.get_role().role_name(&role_name).send().await.unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.path(), "/");
    let trust = parse_document(role.assume_role_policy_document().unwrap()).unwrap();
    assert_eq!(
        normalize_policy(&trust),
        normalize_policy(
            &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Principal":{"Service":"ec2.amazonaws.com"},"Action":["sts:AssumeRole"]}]})
        )
    );
    assert_eq!(
        normalize_policy(&trust),
        normalize_policy(&props("KarpenterNodeRole")["AssumeRolePolicyDocument"]),
        "node role trust vs the upstream template"
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role_name)
        .send()
        .await
        .unwrap();
    let mut arns: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    arns.sort();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        ]
    );

    let mut upstream_arns: Vec<&str> = props("KarpenterNodeRole")["ManagedPolicyArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    upstream_arns.sort();
    assert_eq!(
        arns, upstream_arns,
        "node role policies vs the upstream template"
    );

    // Instance profile holding the node role.
    let profile = iam
        .get_instance_profile()
        .instance_profile_name(format!("KarpenterNodeInstanceProfile-{c}"))
        .send()
        .await
        .unwrap();
    let roles: Vec<&str> = profile
        .instance_profile()
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name())
        .collect();
    assert_eq!(roles, [role_name.as_str()]);

    // Queue: name, retention, SSE, policy.
    let url = sqs
        .get_queue_url()
        .queue_name(c)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(
        attrs[&QueueAttributeName::MessageRetentionPeriod].as_str(),
        "300"
    );
    assert_eq!(
        attrs[&QueueAttributeName::SqsManagedSseEnabled].as_str(),
        "true"
    );
    for key in [
        QueueAttributeName::MessageRetentionPeriod,
        QueueAttributeName::SqsManagedSseEnabled,
    ] {
        assert_eq!(
            attrs[&key],
            props("KarpenterInterruptionQueue")[key.as_str()].to_string(),
            "queue attribute {key:?} vs the upstream template"
        );
    }
    let queue_arn = format!("arn:aws:sqs:{r}:{a}:{c}");
    let policy: Value = serde_json::from_str(&attrs[&QueueAttributeName::Policy]).unwrap();
    let expected_policy = json!({
        "Id": "EC2InterruptionPolicy",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
             "Action": "sqs:SendMessage", "Resource": queue_arn},
            {"Sid": "DenyHTTP", "Effect": "Deny", "Action": "sqs:*", "Resource": queue_arn,
             "Condition": {"Bool": {"aws:SecureTransport": false}}, "Principal": "*"}
        ]
    });
    assert_eq!(
        normalize_policy(&policy),
        normalize_policy(&expected_policy)
    );

    assert_eq!(
        normalize_policy(&policy),
        normalize_policy(&props("KarpenterInterruptionQueuePolicy")["PolicyDocument"]),
        "queue policy vs the upstream template"
    );

    // Every rule of the upstream template exists as Karpenter-<C>-<LogicalId without "Rule">,
    // with the template's pattern and targets.
    let upstream_rules: Vec<(&String, &Value)> = upstream
        .iter()
        .filter(|(_, v)| v["Type"] == "AWS::Events::Rule")
        .collect();
    assert_eq!(upstream_rules.len(), 5);
    for (logical_id, rule) in upstream_rules {
        let short = logical_id.strip_suffix("Rule").unwrap();
        let name = format!("Karpenter-{c}-{short}");
        let live = events.describe_rule().name(&name).send().await.unwrap();
        let pattern: Value = serde_json::from_str(live.event_pattern().unwrap()).unwrap();
        assert_eq!(
            normalize_pattern(&pattern),
            normalize_pattern(&rule["Properties"]["EventPattern"]),
            "rule {name} vs the upstream template"
        );
        let targets = events
            .list_targets_by_rule()
            .rule(&name)
            .send()
            .await
            .unwrap();
        let got: Vec<Value> = targets
            .targets()
            .iter()
            .map(|t| json!({"Id": t.id(), "Arn": t.arn()}))
            .collect();
        assert_eq!(
            Value::Array(got),
            rule["Properties"]["Targets"],
            "targets of {name}"
        );
    }

    // Five rules: pattern and the single queue target each.
    let expected_rules = [
        ("ScheduledChange", "aws.health", "AWS Health Event"),
        (
            "SpotInterruption",
            "aws.ec2",
            "EC2 Spot Instance Interruption Warning",
        ),
        (
            "Rebalance",
            "aws.ec2",
            "EC2 Instance Rebalance Recommendation",
        ),
        (
            "InstanceStateChange",
            "aws.ec2",
            "EC2 Instance State-change Notification",
        ),
        (
            "CapacityReservationInterruption",
            "aws.ec2",
            "EC2 Capacity Reservation Instance Interruption Warning",
        ),
    ];
    for (short, source, detail_type) in expected_rules {
        let name = format!("Karpenter-{c}-{short}");
        let rule = events.describe_rule().name(&name).send().await.unwrap();
        assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
        let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
        assert_eq!(
            normalize_pattern(&pattern),
            normalize_pattern(&json!({"source": [source], "detail-type": [detail_type]})),
            "rule {name}"
        );
        let targets = events
            .list_targets_by_rule()
            .rule(&name)
            .send()
            .await
            .unwrap();
        let targets: Vec<(&str, &str)> = targets
            .targets()
            .iter()
            .map(|t| (t.id(), t.arn()))
            .collect();
        assert_eq!(
            targets,
            [("KarpenterInterruptionQueueTarget", queue_arn.as_str())]
        );
    }
}

#[tokio::test]
async fn apply_creates_the_template_state_and_a_second_run_plans_nothing() {
    let moto = Moto::start();
    let live = AwsLive::new(&moto.context().await.config);
    let d = Desired::new(target("demo"));

    let first = converge(&live, &d).await;
    assert_eq!(first.counts(), (15, 0, 0));
    assert_matches_template(&moto, "demo").await;

    let second = read_and_plan(&live, &d).await.unwrap();
    assert!(second.is_empty(), "{}", render::table(&second));
}

#[tokio::test]
async fn dry_run_plan_changes_nothing() {
    let moto = Moto::start();
    let live = AwsLive::new(&moto.context().await.config);
    let d = Desired::new(target("demo"));
    let before = live.read(&d, ReadScope::Teardown).await.unwrap();
    let p = read_and_plan(&live, &d).await.unwrap();
    assert_eq!(p.counts(), (15, 0, 0));
    let after = live.read(&d, ReadScope::Teardown).await.unwrap();
    assert_eq!(before, after);
    assert_eq!(after, LiveState::default());
}

/// Wraps a [`Live`] and fails chosen operations.
struct Faulty<L> {
    inner: L,
    calls: AtomicUsize,
    /// Fail the call with this index (0-based) with an AWS error.
    fail_at: Option<usize>,
    /// Throttle these many first attempts of every operation.
    throttle_first: usize,
    seen: Mutex<Vec<String>>,
}

impl<L: Live + Sync> Live for Faulty<L> {
    async fn read(&self, desired: &Desired, scope: ReadScope) -> Result<LiveState, SetupError> {
        self.inner.read(desired, scope).await
    }

    async fn cluster(&self, name: &str) -> Result<Option<ClusterFacts>, SetupError> {
        self.inner.cluster(name).await
    }

    async fn read_eks(&self, desired: &Desired) -> Result<EksState, SetupError> {
        self.inner.read_eks(desired).await
    }

    async fn apply(&self, op: &Operation) -> Result<(), SetupError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_at == Some(n) {
            return Err(SetupError::Aws {
                action: op.api_action().into(),
                message: "InternalFailure: injected".into(),
            });
        }
        {
            let mut seen = self.seen.lock().unwrap();
            let key = op.describe();
            let attempts = seen.iter().filter(|s| **s == key).count();
            seen.push(key);
            if attempts < self.throttle_first {
                return Err(SetupError::Throttled {
                    action: op.api_action().into(),
                    message: "Throttling: Rate exceeded".into(),
                });
            }
        }
        self.inner.apply(op).await
    }
}

#[tokio::test]
async fn failure_mid_apply_then_rerun_converges_without_duplicates() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let d = Desired::new(target("demo"));
    let first = read_and_plan(&AwsLive::new(&aws.config), &d).await.unwrap();
    let total_ops: usize = first.actions.iter().map(|a| a.operations.len()).sum();

    // Fail in the middle of the plan (the queue policy comes after the queue).
    let fail_at = first
        .actions
        .iter()
        .take_while(|a| a.kind != ResourceKind::SqsQueuePolicy)
        .map(|a| a.operations.len())
        .sum::<usize>();
    let faulty = Faulty {
        inner: AwsLive::new(&aws.config),
        calls: AtomicUsize::new(0),
        fail_at: Some(fail_at),
        throttle_first: 0,
        seen: Mutex::default(),
    };
    let mut out = Vec::new();
    let err = apply(&faulty, &first, fast_retry(), &mut out)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("sqs:SetQueueAttributes"), "{msg}");
    assert!(msg.contains("re-run"), "{msg}");
    assert!(fail_at > 0 && fail_at < total_ops);

    // The re-run plans only what is missing, and converges.
    let live = AwsLive::new(&aws.config);
    let second = read_and_plan(&live, &d).await.unwrap();
    let (creates, updates, deletes) = second.counts();
    assert_eq!(deletes, 0);
    assert_eq!(creates + updates, 1 + 5, "{}", render::table(&second));
    assert_eq!(
        second.changes().next().map(|a| a.kind),
        Some(ResourceKind::SqsQueuePolicy)
    );
    apply(&live, &second, fast_retry(), &mut out).await.unwrap();
    assert!(read_and_plan(&live, &d).await.unwrap().is_empty());
    assert_matches_template(&moto, "demo").await;

    // No duplicates: one version per policy, one target per rule, one queue, one profile role.
    let iam = aws.iam();
    for p in &d.controller_policies {
        let versions = iam
            .list_policy_versions()
            .policy_arn(&p.arn)
            .send()
            .await
            .unwrap();
        assert_eq!(versions.versions().len(), 1, "{}", p.name);
    }
    let queues = aws
        .sqs()
        .list_queues()
        .queue_name_prefix("demo")
        .send()
        .await
        .unwrap();
    assert_eq!(queues.queue_urls().len(), 1);
    let rules = aws
        .eventbridge()
        .list_rules()
        .name_prefix("Karpenter-demo-")
        .send()
        .await
        .unwrap();
    assert_eq!(rules.rules().len(), 5);
}

#[tokio::test]
async fn throttled_calls_are_retried_with_backoff() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let d = Desired::new(target("demo"));
    let faulty = Faulty {
        inner: AwsLive::new(&aws.config),
        calls: AtomicUsize::new(0),
        fail_at: None,
        throttle_first: 1,
        seen: Mutex::default(),
    };
    let p = read_and_plan(&faulty, &d).await.unwrap();
    let mut out = Vec::new();
    let report = apply(&faulty, &p, fast_retry(), &mut out).await.unwrap();
    let ops: usize = p.actions.iter().map(|a| a.operations.len()).sum();
    assert_eq!(report.retries, ops);
    assert_eq!(report.applied, ops);
    assert!(String::from_utf8_lossy(&out).contains("throttled or not yet visible; retrying"));
    assert!(read_and_plan(&faulty, &d).await.unwrap().is_empty());

    // Throttled on every attempt: gives up and names the action.
    let stubborn = Faulty {
        inner: AwsLive::new(&aws.config),
        calls: AtomicUsize::new(0),
        fail_at: None,
        throttle_first: usize::MAX,
        seen: Mutex::default(),
    };
    let d2 = Desired::new(target("other"));
    let p2 = read_and_plan(&stubborn, &d2).await.unwrap();
    let mut out = Vec::new();
    let err = apply(&stubborn, &p2, fast_retry(), &mut out)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("throttled"), "{err}");
    assert!(err.to_string().contains("iam:CreatePolicy"), "{err}");
    // max_attempts calls of the first operation, the delay doubling between them, then the stop.
    assert_eq!(stubborn.seen.lock().unwrap().len(), 3);
    let progress = String::from_utf8_lossy(&out);
    let waits: Vec<&str> = progress
        .lines()
        .filter_map(|l| l.split("retrying in ").nth(1))
        .collect();
    assert_eq!(waits, ["1 ms", "2 ms"], "{progress}");
}

#[tokio::test]
async fn drift_is_shown_as_update_and_repaired() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let live = AwsLive::new(&aws.config);
    let d = Desired::new(target("demo"));
    converge(&live, &d).await;

    // Edit a policy and a rule pattern by hand.
    let lifecycle = &d.controller_policies[0];
    aws.iam()
        .create_policy_version()
        .policy_arn(&lifecycle.arn)
        .policy_document(
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]})
                .to_string(),
        )
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let spot = &d.rules[1];
    aws.eventbridge()
        .put_rule()
        .name(&spot.name)
        .event_pattern(json!({"source":["aws.ec2"],"detail-type":["Nope"]}).to_string())
        .send()
        .await
        .unwrap();
    // And one the adapter should not care about: the same pattern with reordered keys.
    let health = &d.rules[0];
    aws.eventbridge()
        .put_rule()
        .name(&health.name)
        .event_pattern(r#"{"detail-type":["AWS Health Event"],"source":["aws.health"]}"#)
        .send()
        .await
        .unwrap();

    let p = read_and_plan(&live, &d).await.unwrap();
    assert_eq!(
        changed(&p),
        vec![
            (
                ResourceKind::IamPolicy,
                lifecycle.name.clone(),
                ActionKind::Update
            ),
            (
                ResourceKind::EventRule,
                spot.name.clone(),
                ActionKind::Update
            ),
        ]
    );
    let mut out = Vec::new();
    apply(&live, &p, fast_retry(), &mut out).await.unwrap();
    assert!(read_and_plan(&live, &d).await.unwrap().is_empty());
    assert_matches_template(&moto, "demo").await;
}

#[tokio::test]
async fn policy_updates_stay_within_five_versions() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let live = AwsLive::new(&aws.config);
    let d = Desired::new(target("demo"));
    converge(&live, &d).await;
    let arn = &d.controller_policies[2].arn;
    for i in 0..4 {
        aws.iam()
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(
                json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":format!("eks:Op{i}"),"Resource":"*"}]})
                    .to_string(),
            )
            .set_as_default(true)
            .send()
            .await
            .unwrap();
    }
    let p = converge(&live, &d).await;
    assert_eq!(p.counts(), (0, 1, 0));
    assert!(read_and_plan(&live, &d).await.unwrap().is_empty());
    let versions = aws
        .iam()
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 5);
}

// ---------------------------------------------------------------- moto: teardown

#[tokio::test]
async fn teardown_removes_the_cluster_and_leaves_other_clusters_alone() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let live = AwsLive::new(&aws.config);
    let demo = Desired::new(target("demo"));
    let other = Desired::new(target("demo-2"));
    converge(&live, &demo).await;
    converge(&live, &other).await;

    // Karpenter's runtime leftovers for both clusters: a launch template and a managed profile each.
    let ec2 = aws.ec2();
    for (cluster, key) in [
        ("demo", "eks:eks-cluster-name"),
        ("demo-2", "eks:eks-cluster-name"),
        ("demo", "karpenter.k8s.aws/cluster"),
    ] {
        let spec = aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::LaunchTemplate)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key(key)
                    .value(cluster)
                    .build(),
            )
            .build();
        ec2.create_launch_template()
            .launch_template_name(format!("karpenter.k8s.aws/{cluster}-{}", key.len()))
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
                    .build(),
            )
            .tag_specifications(spec)
            .send()
            .await
            .unwrap();
    }
    let iam = aws.iam();
    for cluster in ["demo", "demo-2"] {
        let name = format!("{cluster}_1234567890");
        iam.create_instance_profile()
            .instance_profile_name(&name)
            .path(format!("/karpenter/{REGION}/{cluster}/uid-1/"))
            .send()
            .await
            .unwrap();
        iam.add_role_to_instance_profile()
            .instance_profile_name(&name)
            .role_name(format!("KarpenterNodeRole-{cluster}"))
            .send()
            .await
            .unwrap();
    }

    let p = read_and_plan_teardown(&live, &demo).await.unwrap();
    let (c, u, del) = p.counts();
    assert_eq!((c, u), (0, 0));
    // 5 rules + queue + 2 launch templates + 2 profiles + role + 6 policies
    assert_eq!(del, 5 + 1 + 2 + 2 + 1 + 6, "{}", render::table(&p));
    let mut out = Vec::new();
    apply(&live, &p, fast_retry(), &mut out).await.unwrap();

    // Nothing of demo is left, as the adapter reads it...
    let left = live.read(&demo, ReadScope::Teardown).await.unwrap();
    assert_eq!(left, LiveState::default());
    // ...and as the raw APIs show it.
    assert!(iam
        .get_role()
        .role_name("KarpenterNodeRole-demo")
        .send()
        .await
        .is_err());
    assert!(iam
        .get_instance_profile()
        .instance_profile_name("KarpenterNodeInstanceProfile-demo")
        .send()
        .await
        .is_err());
    let policies: Vec<String> = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .filter_map(|p| p.policy_name().map(str::to_string))
        .collect();
    let demo_policies: Vec<&String> = policies.iter().filter(|n| n.ends_with("-demo")).collect();
    // demo-2's six are still listed (so the listing itself is not empty by accident).
    assert_eq!(
        policies.iter().filter(|n| n.ends_with("-demo-2")).count(),
        6,
        "{policies:?}"
    );
    assert!(demo_policies.is_empty(), "{demo_policies:?}");
    // moto ignores PathPrefix: filter here.
    let profiles = iam.list_instance_profiles().send().await.unwrap();
    let demo_profiles: Vec<&str> = profiles
        .instance_profiles()
        .iter()
        .filter(|p| p.path().starts_with(&format!("/karpenter/{REGION}/demo/")))
        .map(|p| p.instance_profile_name())
        .collect();
    assert!(demo_profiles.is_empty(), "{demo_profiles:?}");
    // demo-2's Karpenter-made profile is still there (the filter above would see it if it were demo's).
    assert!(profiles.instance_profiles().iter().any(|p| p
        .path()
        .starts_with(&format!("/karpenter/{REGION}/demo-2/"))));
    assert!(aws
        .sqs()
        .get_queue_url()
        .queue_name("demo")
        .send()
        .await
        .is_err());
    let rules = aws
        .eventbridge()
        .list_rules()
        .name_prefix("Karpenter-demo-")
        .send()
        .await
        .unwrap();
    let demo_rules: Vec<&str> = rules
        .rules()
        .iter()
        .filter_map(|r| r.name())
        .filter(|n| !n.starts_with("Karpenter-demo-2-"))
        .collect();
    assert!(demo_rules.is_empty(), "{demo_rules:?}");
    assert!(read_and_plan_teardown(&live, &demo)
        .await
        .unwrap()
        .is_empty());
    let lts = ec2.describe_launch_templates().send().await.unwrap();
    let names: Vec<&str> = lts
        .launch_templates()
        .iter()
        .filter_map(|l| l.launch_template_name())
        .collect();
    assert_eq!(names, ["karpenter.k8s.aws/demo-2-20"]);

    // demo-2 is untouched: still converged, its leftovers still there.
    assert!(read_and_plan(&live, &other).await.unwrap().is_empty());
    assert_matches_template(&moto, "demo-2").await;
    let other_left = live.read(&other, ReadScope::Teardown).await.unwrap();
    assert_eq!(other_left.karpenter_instance_profiles.len(), 1);
    assert_eq!(other_left.launch_templates.len(), 1);

    // A second teardown finds nothing to do; setup afterwards recreates everything.
    let again = converge(&live, &demo).await;
    assert_eq!(again.counts(), (15, 0, 0));
}

// ---------------------------------------------------------------- errors

#[test]
fn access_denied_names_the_missing_action() {
    let aws_err = kubectl_karpenter::cloud::aws::classify_code(
        "iam:CreateRole",
        Some("AccessDenied"),
        Some("User: arn:aws:iam::123456789012:user/dev is not authorized to perform: iam:CreateRole on resource: role KarpenterNodeRole-demo"),
        Some(403),
    );
    let err = kubectl_karpenter::setup::aws::from_aws(aws_err);
    assert!(matches!(err, SetupError::AccessDenied { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("grant iam:CreateRole"), "{msg}");
}

// ---------------------------------------------------------------- the command itself

fn cli(moto: &Moto, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl-karpenter")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn command_plans_refuses_without_yes_applies_converges_and_deletes() {
    let moto = Moto::start();
    let live = AwsLive::new(&moto.context().await.config);
    let d = Desired::new(target("demo"));

    // --dry-run -o json: the plan contract on stdout, nothing changed.
    let out = cli(
        &moto,
        &["setup", "--cluster-name", "demo", "--dry-run", "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cluster"], "demo");
    assert_eq!(v["account"], ACCOUNT_ID);
    let actions = v["actions"].as_array().unwrap();
    // The template's 15 resources, plus the spot service-linked role (no EKS cluster in moto, so
    // the cluster-dependent steps are skipped with a note).
    assert_eq!(actions.len(), 16);
    assert_eq!(actions[15]["kind"], "iam-service-linked-role");
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
    assert!(actions.iter().all(|a| a["action"] == "create"));
    assert_eq!(
        live.read(&d, ReadScope::Setup).await.unwrap(),
        LiveState::default()
    );

    // -o yaml carries the same contract.
    let out = cli(
        &moto,
        &["setup", "--cluster-name", "demo", "--dry-run", "-o", "yaml"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let y: Value = serde_saphyr::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(y, v);

    // No --yes and stdin is not a terminal: refuse, change nothing.
    let out = cli(&moto, &["setup", "--cluster-name", "demo"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    assert_eq!(
        live.read(&d, ReadScope::Setup).await.unwrap(),
        LiveState::default()
    );

    // --yes: applies, with progress and the Helm settings.
    let out = cli(&moto, &["setup", "--cluster-name", "demo", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ok    iam:CreateRole KarpenterNodeRole-demo"),
        "{stdout}"
    );
    assert!(stdout.contains("settings.clusterName=demo"), "{stdout}");
    assert!(
        stdout.contains("settings.interruptionQueue=demo"),
        "{stdout}"
    );
    assert_matches_template(&moto, "demo").await;

    // Re-run: nothing to change.
    let out = cli(&moto, &["setup", "--cluster-name", "demo", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["action"] == "none"));

    // --delete --dry-run: the teardown plan, nothing removed.
    let out = cli(
        &moto,
        &["setup", "--cluster-name", "demo", "--delete", "--dry-run"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("14 to delete."), "{stdout}");
    assert!(stdout.contains("Dry run: nothing was changed."), "{stdout}");
    assert_matches_template(&moto, "demo").await;

    // --delete --yes: everything goes.
    let out = cli(
        &moto,
        &["setup", "--cluster-name", "demo", "--delete", "--yes"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // 5 rules + queue + profile + node role + 6 policies; the spot service-linked role is shared
    // by the account and stays.
    assert!(
        text(&out.stdout).contains("0 to create, 0 to update, 14 to delete."),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        live.read(&d, ReadScope::Teardown).await.unwrap(),
        LiveState::default()
    );
}

#[test]
fn command_errors_are_specific() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(["setup", "--dry-run"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--cluster-name"),
        "{}",
        text(&out.stderr)
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(["setup", "--cluster-name", "bad name"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid cluster name"),
        "{}",
        text(&out.stderr)
    );
}

/// Flags that ask for two different things are usage errors (exit 2), refused before any AWS call.
#[test]
fn conflicting_flags_are_usage_errors() {
    for (args, both) in [
        (
            &["--delete", "--from-cloudformation"][..],
            ["--from-cloudformation", "--delete"],
        ),
        (
            &["--delete", "--from-cloudformation", "Karpenter-demo"][..],
            ["--from-cloudformation", "--delete"],
        ),
        (
            &["--export-cloudformation", "--delete"][..],
            ["--export-cloudformation", "--delete"],
        ),
        (
            &["--export-cloudformation", "--from-cloudformation"][..],
            ["--export-cloudformation", "--from-cloudformation"],
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
            .args(["setup", "--cluster-name", "demo"])
            .args(args)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens: any call would fail
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        for flag in both {
            assert!(err.contains(flag), "{args:?}: {err}");
        }
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
    }
}

/// A service account or namespace that Kubernetes would refuse is caught before any AWS call, by
/// flag: --service-account as a usage error (2), -n as an error (1).
#[test]
fn invalid_service_account_and_namespace_are_refused() {
    for (args, code, needle) in [
        (
            &["--service-account", "Karpenter_SA"][..],
            2,
            "--service-account",
        ),
        (
            &["-n", "Kube_System"][..],
            1,
            "invalid namespace \"Kube_System\"",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
            .args(["setup", "--cluster-name", "demo", "--dry-run"])
            .args(args)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens: any call would fail
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(err.contains("lower case alphanumeric"), "{args:?}: {err}");
        assert!(!err.contains("GetCallerIdentity"), "{args:?}: {err}");
    }
}

#[test]
fn invalid_cluster_names_say_what_is_wrong() {
    let long = "a".repeat(101);
    for (name, why) in [
        (long.as_str(), "at most 100 characters"),
        ("bad!name", "'!' is not allowed"),
        ("", "empty"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
            .args(["setup", "--cluster-name", name, "--dry-run"])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens: any call would fail
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name:?}: {err}");
        assert!(err.contains("invalid cluster name"), "{name:?}: {err}");
        assert!(err.contains(why), "{name:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one paragraph: {err}");
    }
}

// ---------------------------------------------------------------- the steps the template leaves to the user

/// moto has no EKS access entries, Pod Identity or add-ons: this fake answers the EKS half of the
/// [`Live`] port in memory (cluster facts given by the test) and passes everything else to moto.
struct FakeEks<L> {
    inner: L,
    facts: Option<ClusterFacts>,
    state: Mutex<EksState>,
    next_id: AtomicUsize,
    eks_calls: Mutex<Vec<String>>,
}

impl<L> FakeEks<L> {
    fn new(inner: L, facts: Option<ClusterFacts>) -> Self {
        Self {
            inner,
            facts,
            state: Mutex::default(),
            next_id: AtomicUsize::new(1),
            eks_calls: Mutex::default(),
        }
    }
}

impl<L: Live + Sync> Live for FakeEks<L> {
    async fn read(&self, desired: &Desired, scope: ReadScope) -> Result<LiveState, SetupError> {
        self.inner.read(desired, scope).await
    }

    async fn cluster(&self, _name: &str) -> Result<Option<ClusterFacts>, SetupError> {
        Ok(self.facts.clone())
    }

    async fn read_eks(&self, desired: &Desired) -> Result<EksState, SetupError> {
        let state = self.state.lock().unwrap();
        let mut out = EksState::default();
        if let Some(pi) = &desired.pod_identity {
            out.pod_identity_associations = state
                .pod_identity_associations
                .iter()
                .filter(|a| a.namespace == pi.namespace && a.service_account == pi.service_account)
                .cloned()
                .collect();
        }
        if let Some(ae) = &desired.access_entry {
            out.access_entry = state
                .access_entry
                .clone()
                .filter(|e| e.principal_arn == ae.principal_arn);
        }
        Ok(out)
    }

    async fn apply(&self, op: &Operation) -> Result<(), SetupError> {
        use kubectl_karpenter::setup::live::{LiveAccessEntry, LivePodIdentityAssociation};
        let exists = |what: &str| SetupError::AlreadyExists {
            action: op.api_action().into(),
            message: what.into(),
        };
        let missing = |what: &str| SetupError::NotFound {
            action: op.api_action().into(),
            message: what.into(),
        };
        let mut state = self.state.lock().unwrap();
        match op {
            Operation::CreatePodIdentityAssociation {
                namespace,
                service_account,
                role_arn,
                ..
            } => {
                if state
                    .pod_identity_associations
                    .iter()
                    .any(|a| &a.namespace == namespace && &a.service_account == service_account)
                {
                    return Err(exists("association"));
                }
                let id = format!("a-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
                state
                    .pod_identity_associations
                    .push(LivePodIdentityAssociation {
                        id,
                        namespace: namespace.clone(),
                        service_account: service_account.clone(),
                        role_arn: role_arn.clone(),
                    });
            }
            Operation::UpdatePodIdentityAssociation { id, role_arn, .. } => {
                let a = state
                    .pod_identity_associations
                    .iter_mut()
                    .find(|a| &a.id == id)
                    .ok_or_else(|| missing("association"))?;
                a.role_arn = role_arn.clone();
            }
            Operation::DeletePodIdentityAssociation { id, .. } => {
                let before = state.pod_identity_associations.len();
                state.pod_identity_associations.retain(|a| &a.id != id);
                if before == state.pod_identity_associations.len() {
                    return Err(missing("association"));
                }
            }
            Operation::CreateAccessEntry {
                principal_arn,
                kind,
                ..
            } => {
                if state.access_entry.is_some() {
                    return Err(exists("access entry"));
                }
                state.access_entry = Some(LiveAccessEntry {
                    principal_arn: principal_arn.clone(),
                    kind: kind.clone(),
                });
            }
            Operation::DeleteAccessEntry { .. } => {
                state
                    .access_entry
                    .take()
                    .ok_or_else(|| missing("access entry"))?;
            }
            other => {
                drop(state);
                return self.inner.apply(other).await;
            }
        }
        self.eks_calls.lock().unwrap().push(op.describe());
        Ok(())
    }
}

/// A VPC with two subnets and a security group in moto, and cluster facts pointing at them.
async fn moto_cluster_facts(moto: &Moto, cluster: &str) -> ClusterFacts {
    let ec2 = moto.context().await.ec2();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnet_ids = vec![];
    for (i, az) in ["us-west-2a", "us-west-2b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnet_ids.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let sg = ec2
        .create_security_group()
        .group_name(format!("{cluster}-cluster"))
        .description("cluster")
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    ClusterFacts {
        name: cluster.into(),
        endpoint: Some("https://example.eks.amazonaws.com".into()),
        oidc_issuer: Some("https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE0123456789".into()),
        vpc_id: Some(vpc_id),
        subnet_ids,
        security_group_ids: vec![sg.group_id().unwrap().to_string()],
        authentication_mode: Some("API_AND_CONFIG_MAP".into()),
        addons: vec!["vpc-cni".into(), "eks-pod-identity-agent".into()],
    }
}

async fn spot_role_exists(moto: &Moto) -> bool {
    let roles = moto
        .context()
        .await
        .iam()
        .list_roles()
        .send()
        .await
        .unwrap();
    roles
        .roles()
        .iter()
        .any(|r| r.path() == "/aws-service-role/spot.amazonaws.com/")
}

async fn discovery_tag(moto: &Moto, id: &str) -> Option<String> {
    let out = moto
        .context()
        .await
        .ec2()
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .find(|t| t.key() == Some("karpenter.sh/discovery"))
        .and_then(|t| t.value().map(str::to_string))
}

#[tokio::test]
async fn pod_identity_access_entry_tags_and_spot_role_converge_and_tear_down() {
    use kubectl_karpenter::setup::cluster::{decide, teardown_extras, ExtrasRequest, IdentityMode};
    let moto = Moto::start();
    let aws = moto.context().await;
    let facts = moto_cluster_facts(&moto, "demo").await;
    let live = FakeEks::new(AwsLive::new(&aws.config), Some(facts.clone()));
    let (extras, _notes) = decide("demo", Some(&facts), &ExtrasRequest::default()).unwrap();
    assert_eq!(extras.identity, IdentityMode::PodIdentity);
    let d = Desired::new(target("demo")).with_extras(&extras);

    let first = converge(&live, &d).await;
    let kinds: Vec<&str> = first.changes().map(|a| a.kind.as_str()).collect();
    for k in [
        "eks-pod-identity-association",
        "eks-access-entry",
        "ec2-discovery-tag",
        "iam-service-linked-role",
    ] {
        assert!(kinds.contains(&k), "{k} not planned: {kinds:?}");
    }
    let again = read_and_plan(&live, &d).await.unwrap();
    assert!(again.is_empty(), "{}", render::table(&again));
    assert_matches_template(&moto, "demo").await;

    // Controller role: Pod Identity trust, the six controller policies attached.
    let iam = aws.iam();
    let role = iam
        .get_role()
        .role_name("demo-karpenter")
        .send()
        .await
        .unwrap();
    let trust =
        parse_document(role.role().unwrap().assume_role_policy_document().unwrap()).unwrap();
    assert_eq!(
        normalize_policy(&trust),
        normalize_policy(
            &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]})
        )
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name("demo-karpenter")
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .collect();
    names.sort();
    let mut expected: Vec<String> = d
        .controller_policies
        .iter()
        .map(|p| p.name.clone())
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    // EKS parts (fake): association to the controller role, EC2_LINUX entry for the node role.
    {
        let state = live.state.lock().unwrap();
        assert_eq!(state.pod_identity_associations.len(), 1);
        let a = &state.pod_identity_associations[0];
        assert_eq!(
            (
                a.namespace.as_str(),
                a.service_account.as_str(),
                a.role_arn.as_str()
            ),
            (
                "kube-system",
                "karpenter",
                "arn:aws:iam::123456789012:role/demo-karpenter"
            )
        );
        let e = state.access_entry.as_ref().unwrap();
        assert_eq!(
            e.principal_arn,
            "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo"
        );
        assert_eq!(e.kind, "EC2_LINUX");
    }
    // Tags and the spot role in moto.
    for id in facts.subnet_ids.iter().chain(&facts.security_group_ids) {
        assert_eq!(
            discovery_tag(&moto, id).await.as_deref(),
            Some("demo"),
            "{id}"
        );
    }
    assert!(spot_role_exists(&moto).await);

    // A subnet tagged for another cluster is reported and left alone.
    aws.ec2()
        .create_tags()
        .resources(&facts.subnet_ids[1])
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("karpenter.sh/discovery")
                .value("other")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let p = read_and_plan(&live, &d).await.unwrap();
    assert!(p.is_empty());
    let row = p
        .actions
        .iter()
        .find(|a| a.name == facts.subnet_ids[1])
        .unwrap();
    assert!(row.detail.contains("another cluster"), "{}", row.detail);

    // Teardown removes the association, access entry, controller role and our tags; keeps the spot role.
    let td = Desired::new(target("demo")).with_extras(&teardown_extras(
        Some(&facts),
        "kube-system",
        "karpenter",
    ));
    let p = read_and_plan_teardown(&live, &td).await.unwrap();
    let mut out = Vec::new();
    apply(&live, &p, fast_retry(), &mut out).await.unwrap();
    {
        let state = live.state.lock().unwrap();
        assert!(state.pod_identity_associations.is_empty());
        assert!(state.access_entry.is_none());
    }
    assert!(iam
        .get_role()
        .role_name("demo-karpenter")
        .send()
        .await
        .is_err());
    assert_eq!(discovery_tag(&moto, &facts.subnet_ids[0]).await, None);
    assert_eq!(
        discovery_tag(&moto, &facts.subnet_ids[1]).await.as_deref(),
        Some("other")
    );
    assert!(spot_role_exists(&moto).await);
    assert!(read_and_plan_teardown(&live, &td).await.unwrap().is_empty());
}

#[tokio::test]
async fn irsa_creates_the_oidc_provider_and_a_web_identity_trust() {
    use kubectl_karpenter::setup::cluster::{decide, ExtrasRequest, IdentityMode};
    let moto = Moto::start();
    let aws = moto.context().await;
    let mut facts = moto_cluster_facts(&moto, "demo").await;
    facts.addons.clear();
    let live = FakeEks::new(AwsLive::new(&aws.config), Some(facts.clone()));
    let (extras, notes) = decide("demo", Some(&facts), &ExtrasRequest::default()).unwrap();
    assert_eq!(extras.identity, IdentityMode::Irsa);
    assert!(notes.iter().any(|n| n.contains("IRSA")));
    let d = Desired::new(target("demo")).with_extras(&extras);
    converge(&live, &d).await;
    let again = read_and_plan(&live, &d).await.unwrap();
    assert!(again.is_empty(), "{}", render::table(&again));

    let issuer = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE0123456789";
    let providers = aws
        .iam()
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:iam::123456789012:oidc-provider/{issuer}");
    assert!(providers
        .open_id_connect_provider_list()
        .iter()
        .any(|p| p.arn() == Some(arn.as_str())));
    // The provider setup created carries its ownership tag.
    let provider = aws
        .iam()
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(
        provider
            .tags()
            .iter()
            .any(|t| t.key() == OWNERSHIP_TAG && t.value() == "demo"),
        "{:?}",
        provider.tags()
    );
    let role = aws
        .iam()
        .get_role()
        .role_name("demo-karpenter")
        .send()
        .await
        .unwrap();
    let trust =
        parse_document(role.role().unwrap().assume_role_policy_document().unwrap()).unwrap();
    assert_eq!(
        normalize_policy(&trust),
        normalize_policy(
            &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Principal":{"Federated": arn},"Action":"sts:AssumeRoleWithWebIdentity",
            "Condition":{"StringEquals":{
                format!("{issuer}:aud"): "sts.amazonaws.com",
                format!("{issuer}:sub"): "system:serviceaccount:kube-system:karpenter"}}}]})
        )
    );
    assert!(live
        .state
        .lock()
        .unwrap()
        .pod_identity_associations
        .is_empty());
    assert!(d
        .helm_settings()
        .values()
        .any(|v| v == "arn:aws:iam::123456789012:role/demo-karpenter"));
}

#[tokio::test]
async fn cluster_facts_come_from_describe_cluster() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let facts = moto_cluster_facts(&moto, "demo").await;
    let vpc = aws_sdk_eks::types::VpcConfigRequest::builder()
        .set_subnet_ids(Some(facts.subnet_ids.clone()))
        .set_security_group_ids(Some(facts.security_group_ids.clone()))
        .build();
    aws.eks()
        .create_cluster()
        .name("demo")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(vpc)
        .send()
        .await
        .unwrap();
    let live = AwsLive::new(&aws.config);
    let got = live.cluster("demo").await.unwrap().expect("cluster found");
    assert_eq!(got.subnet_ids, facts.subnet_ids);
    assert!(facts
        .security_group_ids
        .iter()
        .all(|sg| got.security_group_ids.contains(sg)));
    assert!(got.endpoint.is_some());
    assert_eq!(live.cluster("absent").await.unwrap(), None);
}

#[test]
fn export_cloudformation_prints_a_template_without_calling_aws() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args([
            "setup",
            "--cluster-name",
            "demo",
            "--export-cloudformation",
            "-o",
            "json",
        ])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens: any call would fail
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["AWSTemplateFormatVersion"], "2010-09-09");
    // The controller policies, once CloudFormation has substituted them, equal the upstream template's.
    let expected = template::controller_policies("demo", REGION, ACCOUNT_ID);
    for (name, doc) in expected {
        let found = t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .find(|r| r["Properties"]["ManagedPolicyName"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} missing"));
        let sub = found["Properties"]["PolicyDocument"]["Fn::Sub"]
            .as_str()
            .unwrap();
        let vars = BTreeMap::from([
            ("AWS::Partition", "aws".to_string()),
            ("AWS::Region", REGION.to_string()),
            ("AWS::AccountId", ACCOUNT_ID.to_string()),
        ]);
        let got: Value = serde_json::from_str(&template::substitute(sub, &vars)).unwrap();
        assert_eq!(got, doc, "{name}");
    }

    let yaml = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(["setup", "--cluster-name", "demo", "--export-cloudformation"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(yaml.status.success(), "{}", text(&yaml.stderr));
    golden("export_cloudformation_yaml", &text(&yaml.stdout));
}

// ---------------------------------------------------------------- adopting a CloudFormation stack

/// Deploy the upstream v0.27 getting-started template as stack Karpenter-demo for cluster demo.
async fn create_v027_stack(aws: &kubectl_karpenter::cloud::aws::AwsContext) {
    let body = std::fs::read_to_string(
        support::shared_dir().join("crds/cloudformation/cloudformation-v0.27.yaml"),
    )
    .unwrap();
    aws.cloudformation()
        .create_stack()
        .stack_name("Karpenter-demo")
        .template_body(body)
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("ClusterName")
                .parameter_value("demo")
                .build(),
        )
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn adopts_a_v027_stack_then_converges_without_duplicate_rules() {
    use kubectl_karpenter::setup::adopt::{adopt, adoption_rows, Stacks};
    let moto = Moto::start();
    let aws = moto.context().await;
    create_v027_stack(&aws).await;
    let live = AwsLive::new(&aws.config).with_poll_interval(Duration::from_millis(10));
    let d = Desired::new(target("demo"));

    let info = live
        .describe_stack("Karpenter-demo")
        .await
        .unwrap()
        .unwrap();
    let rows = adoption_rows(&info, &d);
    let fate = |logical: &str| {
        rows.iter()
            .find(|r| r.logical_id == logical)
            .map(|r| r.fate.clone())
            .unwrap_or_else(|| panic!("{logical} not in {rows:#?}"))
    };
    assert_eq!(fate("KarpenterNodeRole"), "adopt");
    assert_eq!(fate("KarpenterNodeInstanceProfile"), "adopt");
    assert_eq!(fate("KarpenterInterruptionQueue"), "adopt");
    assert_eq!(fate("KarpenterControllerPolicy"), "keep");
    assert_eq!(fate("SpotInterruptionRule"), "replace");

    let mut out = Vec::new();
    let (plan, _) = adopt(&live, &d, "Karpenter-demo", fast_retry(), &mut out)
        .await
        .unwrap();
    // Role, profile and queue were taken over (updated or unchanged), not created again.
    for (kind, name) in [
        (ResourceKind::IamRole, "KarpenterNodeRole-demo"),
        (
            ResourceKind::IamInstanceProfile,
            "KarpenterNodeInstanceProfile-demo",
        ),
        (ResourceKind::SqsQueue, "demo"),
    ] {
        let row = plan
            .actions
            .iter()
            .find(|a| a.kind == kind && a.name == name)
            .unwrap();
        assert_ne!(
            row.action,
            ActionKind::Create,
            "{name}: {}",
            render::table(&plan)
        );
    }
    assert_eq!(
        plan.actions
            .iter()
            .filter(|a| a.kind == ResourceKind::EventRule && a.action == ActionKind::Delete)
            .count(),
        4,
        "{}",
        render::table(&plan)
    );

    // The stack is gone, its resources remain, and the account now matches the v1 template.
    assert!(live
        .describe_stack("Karpenter-demo")
        .await
        .unwrap()
        .is_none());
    assert_matches_template(&moto, "demo").await;
    assert!(read_and_plan(&live, &d).await.unwrap().is_empty());
    let rules = live.rules_targeting(&d.queue.arn).await.unwrap();
    let mut expected: Vec<String> = d.rules.iter().map(|r| r.name.clone()).collect();
    let mut got = rules.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "exactly setup's five rules target the queue");
    // The old single controller policy is kept for the user to retire.
    assert!(aws
        .iam()
        .get_policy()
        .policy_arn("arn:aws:iam::123456789012:policy/KarpenterControllerPolicy-demo")
        .send()
        .await
        .is_ok());

    // Re-running the adoption is a no-op.
    let (again, _) = adopt(&live, &d, "Karpenter-demo", fast_retry(), &mut out)
        .await
        .unwrap();
    assert!(again.is_empty(), "{}", render::table(&again));
}

#[test]
fn superseded_ecr_policy_is_detached_after_pull_only_is_attached() {
    use kubectl_karpenter::setup::live::LiveRole;
    let d = Desired::new(target("demo"));
    let mut live = LiveState::default();
    let mut attached: std::collections::BTreeSet<String> =
        d.node_role.managed_policy_arns.iter().cloned().collect();
    attached.remove("arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly");
    attached.insert("arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly".into());
    attached.insert("arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy".into());
    live.roles.insert(
        d.node_role.name.clone(),
        LiveRole {
            name: d.node_role.name.clone(),
            trust: d.node_role.trust.clone(),
            attached_policy_arns: attached,
            tags: d.ownership_tags(),
            ..Default::default()
        },
    );
    let p = plan(&d, &live);
    let row = p
        .actions
        .iter()
        .find(|a| a.kind == ResourceKind::IamRole)
        .unwrap();
    let ops: Vec<String> = row.operations.iter().map(Operation::describe).collect();
    assert_eq!(
        ops,
        [
            "iam:AttachRolePolicy KarpenterNodeRole-demo AmazonEC2ContainerRegistryPullOnly",
            "iam:DetachRolePolicy KarpenterNodeRole-demo AmazonEC2ContainerRegistryReadOnly",
        ],
        "the user's own CloudWatch policy stays attached"
    );
}

mod normalisation {
    use super::*;
    use proptest::prelude::*;

    /// A policy in the shapes AWS may hand back: each single-element list possibly as a bare
    /// string, statements and list items in any order.
    fn reshaped(doc: &Value, seed: &[u8]) -> Value {
        let mut i = 0usize;
        let mut next = || {
            let b = seed.get(i % seed.len().max(1)).copied().unwrap_or(0);
            i += 1;
            b
        };
        let mut doc = doc.clone();
        let statements = doc["Statement"].as_array_mut().unwrap();
        for st in statements.iter_mut() {
            for key in ["Action", "Resource"] {
                let Some(Value::Array(items)) = st.get(key).cloned() else {
                    continue;
                };
                let mut items = items;
                let len = items.len().max(1);
                items.rotate_left(next() as usize % len);
                st[key] = if items.len() == 1 && next() % 2 == 0 {
                    items[0].clone()
                } else {
                    Value::Array(items)
                };
            }
        }
        let n = statements.len();
        statements.rotate_left(next() as usize % n.max(1));
        if next() % 2 == 0 {
            statements.reverse();
        }
        doc
    }

    proptest! {
        #[test]
        fn reshaping_never_changes_equality(seed in proptest::collection::vec(any::<u8>(), 1..16), which in 0usize..6) {
            let d = Desired::new(target("demo"));
            let doc = &d.controller_policies[which].document;
            prop_assert!(kubectl_karpenter::setup::policy::policies_equal(doc, &reshaped(doc, &seed)));
        }

        #[test]
        fn dropping_an_action_is_always_a_difference(seed in proptest::collection::vec(any::<u8>(), 1..16), which in 0usize..6) {
            let d = Desired::new(target("demo"));
            let doc = &d.controller_policies[which].document;
            let mut changed = doc.clone();
            let st = &mut changed["Statement"][seed[0] as usize % doc["Statement"].as_array().unwrap().len()];
            st["Action"] = json!("ec2:SomethingElse");
            prop_assert!(!kubectl_karpenter::setup::policy::policies_equal(doc, &reshaped(&changed, &seed)));
        }
    }
}

#[tokio::test]
async fn aws_auth_node_access_maps_the_node_role_and_teardown_unmaps_it() {
    use kubectl_karpenter::setup::aws_auth::KubeAwsAuth;
    use kubectl_karpenter::setup::cluster::{
        decide, teardown_extras, ExtrasRequest, NodeAccessMode,
    };
    let moto = Moto::start();
    let aws = moto.context().await;
    let kube = kube_double::ApiServer::start().await;
    let existing = "- rolearn: arn:aws:iam::123456789012:role/managed-ng\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n  - system:bootstrappers\n  - system:nodes\n";
    kube.seed(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": {"mapRoles": existing}
    }));
    let mut facts = moto_cluster_facts(&moto, "demo").await;
    facts.authentication_mode = Some("CONFIG_MAP".into());
    let live = KubeAwsAuth::new(
        FakeEks::new(AwsLive::new(&aws.config), Some(facts.clone())),
        kube.client(),
    );
    let (extras, _) = decide("demo", Some(&facts), &ExtrasRequest::default()).unwrap();
    assert_eq!(extras.node_access, NodeAccessMode::AwsAuth);
    let d = Desired::new(target("demo")).with_extras(&extras);
    let first = converge(&live, &d).await;
    let row = first
        .actions
        .iter()
        .find(|a| a.kind == ResourceKind::K8sAwsAuth)
        .unwrap();
    assert_eq!(row.action, ActionKind::Update);
    let again = read_and_plan(&live, &d).await.unwrap();
    assert!(again.is_empty(), "{}", render::table(&again));

    let map_roles = |kube: &kube_double::ApiServer| -> Vec<Value> {
        let cm = kube
            .get("v1", "ConfigMap", Some("kube-system"), "aws-auth")
            .expect("aws-auth exists");
        serde_saphyr::from_str(cm["data"]["mapRoles"].as_str().unwrap()).unwrap()
    };
    let roles = map_roles(&kube);
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert_eq!(
        roles[0]["rolearn"],
        "arn:aws:iam::123456789012:role/managed-ng"
    );
    assert_eq!(
        roles[1],
        json!({"rolearn": "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo",
               "username": "system:node:{{EC2PrivateDNSName}}",
               "groups": ["system:bootstrappers", "system:nodes"]})
    );

    let td = Desired::new(target("demo")).with_extras(&teardown_extras(
        Some(&facts),
        "kube-system",
        "karpenter",
    ));
    let p = read_and_plan_teardown(&live, &td).await.unwrap();

    // Between plan and apply someone maps another role: the teardown keeps it.
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(kube.client(), "kube-system");
    let mut cm = api.get("aws-auth").await.unwrap();
    let data = cm.data.get_or_insert_with(Default::default);
    let text = data.get("mapRoles").cloned().unwrap_or_default();
    data.insert(
        "mapRoles".into(),
        format!("{text}- rolearn: arn:aws:iam::123456789012:role/added-later\n  username: admin\n  groups:\n  - system:masters\n"),
    );
    api.replace("aws-auth", &Default::default(), &cm)
        .await
        .unwrap();
    assert_eq!(map_roles(&kube).len(), 3);

    let mut out = Vec::new();
    apply(&live, &p, fast_retry(), &mut out).await.unwrap();
    let roles = map_roles(&kube);
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert_eq!(
        roles[0]["rolearn"],
        "arn:aws:iam::123456789012:role/managed-ng"
    );
    assert_eq!(
        roles[1]["rolearn"],
        "arn:aws:iam::123456789012:role/added-later"
    );
}

#[tokio::test]
async fn command_adopts_a_stack_with_from_cloudformation() {
    let moto = Moto::start();
    let aws = moto.context().await;
    create_v027_stack(&aws).await;

    // A missing stack is named in the error.
    let out = cli(
        &moto,
        &[
            "setup",
            "--cluster-name",
            "demo",
            "--from-cloudformation",
            "Nope",
            "--yes",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("stack Nope not found"),
        "{}",
        text(&out.stderr)
    );

    // Dry run: shows what the stack owns and the plan, changes nothing.
    let out = cli(
        &moto,
        &[
            "setup",
            "--cluster-name",
            "demo",
            "--from-cloudformation",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Stack Karpenter-demo (CREATE_COMPLETE) owns"),
        "{stdout}"
    );
    assert!(stdout.contains("KarpenterControllerPolicy"), "{stdout}");
    let live = AwsLive::new(&aws.config);
    use kubectl_karpenter::setup::adopt::Stacks;
    assert!(live
        .describe_stack("Karpenter-demo")
        .await
        .unwrap()
        .is_some());

    let out = cli(
        &moto,
        &[
            "setup",
            "--cluster-name",
            "demo",
            "--from-cloudformation",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("stack Karpenter-demo deleted (resources retained)"));
    assert!(live
        .describe_stack("Karpenter-demo")
        .await
        .unwrap()
        .is_none());
    assert_matches_template(&moto, "demo").await;
}

// ---------------------------------------------------------------- logs (issue 15)

/// The binary against moto with `args`, static credentials given as `secret`/`token`, and the
/// developer's own AWS settings kept out.
fn cli_with_credentials(
    moto: &Moto,
    args: &[&str],
    secret: &str,
    token: &str,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env_remove("RUST_LOG")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", token)
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl-karpenter")
}

/// `-vvv` traces our own code, but the AWS SDK, hyper and rustls stay at debug: no secret
/// access key, session token or request signature reaches the log.
#[test]
fn vvv_never_logs_credentials_or_request_signatures() {
    let moto = Moto::start();
    let secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETxKEYx0001";
    let token = "FwoGZXIvYXdzSESSIONxTOKENxEXAMPLEx0002";
    let out = cli_with_credentials(
        &moto,
        &["-vvv", "setup", "--cluster-name", "demo", "--dry-run"],
        secret,
        token,
    );
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    // The run was verbose and reached the SDK (its debug lines are kept).
    assert!(log.contains("DEBUG") && log.contains("aws_"), "{log}");
    for leak in [secret, token, "Signature=", "x-amz-security-token"] {
        assert!(!log.contains(leak), "{leak:?} in the -vvv log:\n{log}");
    }
}

/// Off EC2 and without a region, at default verbosity: none of the SDK's credential/region
/// probing warnings (IMDS) and no ANSI colour when stderr is not a terminal; our own error
/// paragraph says what was looked at.
#[test]
fn default_verbosity_hides_sdk_probing_warnings_and_pipes_get_no_colour() {
    let moto = Moto::start();
    let run = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(["setup", "--cluster-name", "x", "--dry-run"]);
        std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .env("TERM", "xterm-256color")
            .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            )
            // An instance metadata service that answers, but not as IMDS does (off EC2 behind
            // a proxy, say): the SDK's probe fails and used to WARN with a dump of the response.
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", moto.endpoint())
            .env("AWS_MAX_ATTEMPTS", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run kubectl-karpenter")
    };
    let out = run(&[]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("error:") && err.contains("region"), "{err}");
    assert!(
        !err.contains("WARN"),
        "SDK warning at default verbosity:\n{err}"
    );
    assert!(!err.contains('\u{1b}'), "ANSI codes on a pipe:\n{err:?}");
    // Verbose logs on a pipe are plain text too.
    let out = run(&["-vv"]);
    let err = text(&out.stderr);
    assert!(err.contains("DEBUG"), "{err}");
    assert!(!err.contains('\u{1b}'), "ANSI codes on a pipe:\n{err:?}");
}

/// Run the binary with stderr on a pseudo-terminal; returns what it wrote there.
fn stderr_on_a_terminal(args: &[&str], envs: &[(&str, &str)]) -> String {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new file descriptors, owned by the Files built below.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    let (mut master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut child = {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TERM", "xterm-256color")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(slave));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.spawn().expect("spawn kubectl-karpenter")
        // `cmd`, and with it our copy of the terminal's slave end, is dropped here.
    };
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            // EIO once the child has exited and closed the terminal.
            Err(_) => break,
        }
    }
    child.wait().expect("wait");
    text(&bytes)
}

/// On a terminal, logs and the error paragraph are coloured unless `NO_COLOR` is set.
#[test]
fn no_color_turns_off_ansi_on_a_terminal() {
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let base = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
        ("AWS_MAX_ATTEMPTS", "1"),
    ];
    let args = ["-vv", "setup", "--cluster-name", "demo", "--dry-run"];
    let coloured = stderr_on_a_terminal(&args, &base);
    assert!(coloured.contains("DEBUG"), "{coloured}");
    assert!(
        coloured.contains('\u{1b}'),
        "a terminal gets colour:\n{coloured:?}"
    );
    let mut no_color = base.to_vec();
    no_color.push(("NO_COLOR", "1"));
    let plain = stderr_on_a_terminal(&args, &no_color);
    assert!(plain.contains("DEBUG"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "NO_COLOR still coloured:\n{plain:?}"
    );
}

// ---------------------------------------------------------------- retiring a stack: DeletionPolicy: Retain

#[test]
fn the_v1_template_gets_retain_on_every_resource_and_nothing_else_changes() {
    use kubectl_karpenter::setup::retain::{deletion_policies, retain_template};
    let body = std::fs::read_to_string(
        support::shared_dir().join("crds/cloudformation/cloudformation-v1.yaml"),
    )
    .unwrap();
    let before = deletion_policies(&body).unwrap();
    assert_eq!(before.len(), 14, "{before:?}");
    let out = retain_template(&body).unwrap();
    let after = deletion_policies(&out).unwrap();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "no resource lost"
    );
    assert!(
        after.values().all(|v| v.as_deref() == Some("Retain")),
        "{after:?}"
    );
    // The edit only adds one line per resource: without those lines the template is unchanged,
    // byte for byte (its !Sub/!GetAtt/!Ref tags and block scalars included).
    let without: String = out
        .split_inclusive('\n')
        .filter(|l| l != &"    DeletionPolicy: Retain\n")
        .collect();
    assert_eq!(without, body);
    // Editing again changes nothing.
    assert_eq!(retain_template(&out).unwrap(), out);
}

/// Resource headers followed by comments, and flow-style resources: the line-based rewrite this
/// replaced left these without `DeletionPolicy: Retain`, so deleting the stack deleted them.
const COMMENTED_FLOW_TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  ClusterName: {Type: String}
Resources:
  KarpenterNodeRole: # the node role, kept by kubectl-karpenter
    Type: "AWS::IAM::Role"
    Properties:
      RoleName: !Sub "KarpenterNodeRole-${ClusterName}"
      Path: /
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: !Sub "ec2.${AWS::URLSuffix}"}, Action: ["sts:AssumeRole"]}]}
  KarpenterNodeInstanceProfile:
    # the instance profile of v0.x nodes
    Type: AWS::IAM::InstanceProfile
    Properties: {InstanceProfileName: !Sub "KarpenterNodeInstanceProfile-${ClusterName}", Path: /, Roles: [!Ref KarpenterNodeRole]}
  KarpenterInterruptionQueue: {Type: "AWS::SQS::Queue", Properties: {QueueName: !Ref ClusterName, MessageRetentionPeriod: 300}}
Outputs:
  QueueArn: {Value: !GetAtt KarpenterInterruptionQueue.Arn}
"#;

async fn create_stack(aws: &kubectl_karpenter::cloud::aws::AwsContext, name: &str, body: &str) {
    aws.cloudformation()
        .create_stack()
        .stack_name(name)
        .template_body(body)
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("ClusterName")
                .parameter_value("demo")
                .build(),
        )
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
}

/// The ids AWS gave the stack's role, profile and queue (they change if one is recreated).
async fn node_role_profile_and_queue(
    aws: &kubectl_karpenter::cloud::aws::AwsContext,
) -> Option<(String, String, String)> {
    let role = aws
        .iam()
        .get_role()
        .role_name("KarpenterNodeRole-demo")
        .send()
        .await
        .ok()?;
    let profile = aws
        .iam()
        .get_instance_profile()
        .instance_profile_name("KarpenterNodeInstanceProfile-demo")
        .send()
        .await
        .ok()?;
    let url = aws
        .sqs()
        .get_queue_url()
        .queue_name("demo")
        .send()
        .await
        .ok()?;
    let created = aws
        .sqs()
        .get_queue_attributes()
        .queue_url(url.queue_url()?)
        .attribute_names(QueueAttributeName::CreatedTimestamp)
        .send()
        .await
        .ok()?;
    Some((
        role.role()?.role_id().to_string(),
        profile
            .instance_profile()?
            .instance_profile_id()
            .to_string(),
        created
            .attributes()?
            .get(&QueueAttributeName::CreatedTimestamp)?
            .clone(),
    ))
}

#[tokio::test]
async fn a_stack_with_comments_and_flow_style_is_retired_without_losing_a_resource() {
    use kubectl_karpenter::setup::adopt::{retain_and_delete, Stacks};
    let moto = Moto::start();
    let aws = moto.context().await;
    create_stack(&aws, "Karpenter-demo", COMMENTED_FLOW_TEMPLATE).await;
    let live = AwsLive::new(&aws.config).with_poll_interval(Duration::from_millis(10));
    let ids = node_role_profile_and_queue(&aws)
        .await
        .expect("stack made them");
    assert_eq!(
        live.describe_stack("Karpenter-demo")
            .await
            .unwrap()
            .unwrap()
            .resources
            .len(),
        3
    );

    retain_and_delete(&live, "Karpenter-demo").await.unwrap();

    assert!(live
        .describe_stack("Karpenter-demo")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        node_role_profile_and_queue(&aws).await,
        Some(ids),
        "the role, the profile and the queue outlive their stack"
    );
}

/// The AWS adapter, except that the stack update drops the Retain of one resource again (as a
/// concurrent update of the stack, or an edit that missed a resource, would).
struct UpdateDropsRetain {
    inner: AwsLive,
    header: &'static str,
}

impl kubectl_karpenter::setup::adopt::Stacks for UpdateDropsRetain {
    async fn describe_stack(
        &self,
        name: &str,
    ) -> Result<Option<kubectl_karpenter::setup::adopt::StackInfo>, SetupError> {
        self.inner.describe_stack(name).await
    }
    async fn stack_template(&self, name: &str) -> Result<String, SetupError> {
        self.inner.stack_template(name).await
    }
    async fn update_stack_template(&self, name: &str, body: &str) -> Result<bool, SetupError> {
        let with_retain = format!("{}\n    DeletionPolicy: Retain\n", self.header);
        assert!(body.contains(&with_retain), "{body}");
        let body = body.replace(&with_retain, &format!("{}\n", self.header));
        self.inner.update_stack_template(name, &body).await
    }
    async fn wait_stack(&self, name: &str) -> Result<Option<String>, SetupError> {
        self.inner.wait_stack(name).await
    }
    async fn delete_stack(&self, name: &str) -> Result<(), SetupError> {
        self.inner.delete_stack(name).await
    }
    async fn rules_targeting(&self, arn: &str) -> Result<Vec<String>, SetupError> {
        self.inner.rules_targeting(arn).await
    }
}

#[tokio::test]
async fn a_stack_whose_update_left_a_resource_unretained_is_not_deleted() {
    use kubectl_karpenter::setup::adopt::{retain_and_delete, Stacks};
    let moto = Moto::start();
    let aws = moto.context().await;
    create_v027_stack(&aws).await;
    let stacks = UpdateDropsRetain {
        inner: AwsLive::new(&aws.config).with_poll_interval(Duration::from_millis(10)),
        header: "  KarpenterInterruptionQueue:",
    };
    let ids = node_role_profile_and_queue(&aws)
        .await
        .expect("stack made them");

    let err = retain_and_delete(&stacks, "Karpenter-demo")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SetupError::NotRetained { stack, resources }
            if stack == "Karpenter-demo" && resources == &["KarpenterInterruptionQueue"]),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("was not deleted"), "{msg}");
    assert!(msg.contains("KarpenterInterruptionQueue"), "{msg}");
    // Nothing deleted: the stack and every resource are still there.
    let info = stacks.describe_stack("Karpenter-demo").await.unwrap();
    assert_eq!(info.map(|i| i.status).as_deref(), Some("UPDATE_COMPLETE"));
    assert_eq!(node_role_profile_and_queue(&aws).await, Some(ids));
}

// ---------------------------------------------------------------- ownership: only what setup made

/// What a hand-made `demo-karpenter` role and a hand-made queue `demo` look like, read back.
#[derive(Debug, PartialEq)]
struct HandMade {
    role_trust: Value,
    role_attached: Vec<String>,
    role_inline: Vec<String>,
    role_tags: Vec<(String, String)>,
    queue_attributes: BTreeMap<String, String>,
    queue_tags: BTreeMap<String, String>,
}

const HAND_MADE_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#;

/// Someone else's `<cluster>-karpenter` role (with an inline policy and a customer managed policy
/// of its own) and queue named after the cluster (other retention, its own policy and tags).
async fn make_hand_made(aws: &kubectl_karpenter::cloud::aws::AwsContext) {
    let iam = aws.iam();
    iam.create_role()
        .role_name("demo-karpenter")
        .assume_role_policy_document(HAND_MADE_TRUST)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("platform")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let own = iam
        .create_policy()
        .policy_name("platform-karpenter")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("demo-karpenter")
        .policy_arn(own.policy().unwrap().arn().unwrap())
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("demo-karpenter")
        .policy_name("inline")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    aws.sqs()
        .create_queue()
        .queue_name("demo")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .attributes(
            QueueAttributeName::Policy,
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sqs:SendMessage","Resource":"*"}]}"#,
        )
        .tags("team", "platform")
        .send()
        .await
        .unwrap();
}

async fn read_hand_made(aws: &kubectl_karpenter::cloud::aws::AwsContext) -> Option<HandMade> {
    let iam = aws.iam();
    let role = iam
        .get_role()
        .role_name("demo-karpenter")
        .send()
        .await
        .ok()?;
    let role = role.role()?;
    let attached = iam
        .list_attached_role_policies()
        .role_name("demo-karpenter")
        .send()
        .await
        .unwrap();
    let inline = iam
        .list_role_policies()
        .role_name("demo-karpenter")
        .send()
        .await
        .unwrap();
    let url = aws
        .sqs()
        .get_queue_url()
        .queue_name("demo")
        .send()
        .await
        .ok()?;
    let url = url.queue_url()?;
    let attrs = aws
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let tags = aws
        .sqs()
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .unwrap();
    let mut role_tags: Vec<(String, String)> = role
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    role_tags.sort();
    Some(HandMade {
        role_trust: normalize_policy(
            &parse_document(role.assume_role_policy_document().unwrap()).unwrap(),
        ),
        role_attached: attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_name().map(str::to_string))
            .collect(),
        role_inline: inline.policy_names().to_vec(),
        role_tags,
        queue_attributes: attrs
            .attributes()
            .unwrap()
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k,
                    QueueAttributeName::MessageRetentionPeriod
                        | QueueAttributeName::Policy
                        | QueueAttributeName::SqsManagedSseEnabled
                )
            })
            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
            .collect(),
        queue_tags: tags
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    })
}

#[tokio::test]
async fn a_hand_made_role_and_queue_survive_setup_and_teardown_untouched() {
    let moto = Moto::start();
    let aws = moto.context().await;
    make_hand_made(&aws).await;
    let before = read_hand_made(&aws).await.unwrap();
    assert_eq!(before.role_attached, ["platform-karpenter"]);
    assert_eq!(before.role_inline, ["inline"]);

    let out = cli(&moto, &["setup", "--cluster-name", "demo", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("exists, not managed by kubectl-karpenter"),
        "{stdout}"
    );
    assert!(!stdout.contains("sqs:SetQueueAttributes"), "{stdout}");
    assert_eq!(read_hand_made(&aws).await.as_ref(), Some(&before));

    // The teardown plan names them and leaves them; everything setup made goes.
    let out = cli(
        &moto,
        &[
            "setup",
            "--cluster-name",
            "demo",
            "--delete",
            "-o",
            "json",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |kind: &str, name: &str| {
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == kind && a["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{kind} {name} not in {v:#}"))
    };
    for (kind, name) in [("iam-role", "demo-karpenter"), ("sqs-queue", "demo")] {
        let r = row(kind, name);
        assert_eq!(r["action"], "none", "{r}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap()
                .starts_with("exists, not managed by kubectl-karpenter"),
            "{r}"
        );
    }
    assert_eq!(
        row("iam-role", "KarpenterNodeRole-demo")["action"],
        "delete"
    );

    let out = cli(
        &moto,
        &["setup", "--cluster-name", "demo", "--delete", "--yes"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        read_hand_made(&aws).await.as_ref(),
        Some(&before),
        "{}",
        text(&out.stdout)
    );
    assert!(aws
        .iam()
        .get_role()
        .role_name("KarpenterNodeRole-demo")
        .send()
        .await
        .is_err());
    // Rules setup created went with the teardown; the queue stayed.
    let live = AwsLive::new(&aws.config);
    let d = Desired::new(target("demo"));
    let left = live.read(&d, ReadScope::Teardown).await.unwrap();
    assert!(left.rules.is_empty() && left.policies.is_empty());
    assert_eq!(
        left.roles.keys().collect::<Vec<_>>(),
        ["demo-karpenter"],
        "only the hand-made role is left"
    );
    assert!(left.queue.is_some());

    // --adopt takes the queue over (setup wants it): tagged and converged; the role is not one
    // setup wants without a cluster, so it stays as it is.
    let out = cli(
        &moto,
        &["setup", "--cluster-name", "demo", "--adopt", "--yes"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("ok    sqs:TagQueue demo {OWNERSHIP_TAG}=demo")),
        "{}",
        text(&out.stdout)
    );
    let adopted = read_hand_made(&aws).await.unwrap();
    assert_eq!(adopted.queue_attributes["MessageRetentionPeriod"], "300");
    assert_eq!(adopted.role_trust, before.role_trust);
    // Now setup's: a plain teardown deletes the queue, and still leaves the role.
    let out = cli(
        &moto,
        &["setup", "--cluster-name", "demo", "--delete", "--yes"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(aws
        .sqs()
        .get_queue_url()
        .queue_name("demo")
        .send()
        .await
        .is_err());
    assert!(aws
        .iam()
        .get_role()
        .role_name("demo-karpenter")
        .send()
        .await
        .is_ok());
    // --delete --adopt deletes it too.
    let out = cli(
        &moto,
        &[
            "setup",
            "--cluster-name",
            "demo",
            "--delete",
            "--adopt",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(aws
        .iam()
        .get_role()
        .role_name("demo-karpenter")
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn with_adopt_a_hand_made_role_and_queue_are_converged_then_torn_down() {
    use kubectl_karpenter::setup::cluster::{decide, teardown_extras, ExtrasRequest};
    let moto = Moto::start();
    let aws = moto.context().await;
    make_hand_made(&aws).await;
    let before = read_hand_made(&aws).await.unwrap();
    let facts = moto_cluster_facts(&moto, "demo").await;
    let live = FakeEks::new(AwsLive::new(&aws.config), Some(facts.clone()));
    let (extras, _) = decide("demo", Some(&facts), &ExtrasRequest::default()).unwrap();
    let d = Desired::new(target("demo")).with_extras(&extras);
    assert!(
        d.controller_role.is_some(),
        "pod identity wants demo-karpenter"
    );

    // Without --adopt: shown, left untouched, even though setup wants that role.
    let p = read_and_plan(&live, &d).await.unwrap();
    for (kind, name) in [
        (ResourceKind::IamRole, "demo-karpenter"),
        (ResourceKind::SqsQueue, "demo"),
        (ResourceKind::SqsQueuePolicy, "demo"),
    ] {
        let r = p
            .actions
            .iter()
            .find(|a| a.kind == kind && a.name == name)
            .unwrap();
        assert_eq!(r.action, ActionKind::None, "{}", render::table(&p));
        assert!(r.operations.is_empty());
        assert!(r.detail.contains("not managed"), "{}", r.detail);
    }
    let mut out = Vec::new();
    apply(&live, &p, fast_retry(), &mut out).await.unwrap();
    assert_eq!(read_hand_made(&aws).await.as_ref(), Some(&before));

    // --adopt: tagged, then converged like setup's own.
    let adopting = d.clone().adopting(AdoptScope::All);
    let p = read_and_plan(&live, &adopting).await.unwrap();
    let role_row = p
        .actions
        .iter()
        .find(|a| a.kind == ResourceKind::IamRole && a.name == "demo-karpenter")
        .unwrap();
    assert_eq!(role_row.action, ActionKind::Update);
    assert_eq!(
        role_row.operations[0].describe(),
        format!("iam:TagRole demo-karpenter {OWNERSHIP_TAG}=demo")
    );
    apply(&live, &p, fast_retry(), &mut out).await.unwrap();
    assert!(read_and_plan(&live, &adopting).await.unwrap().is_empty());
    // Converged: the next run without --adopt sees them as setup's and plans nothing.
    let again = read_and_plan(&live, &d).await.unwrap();
    assert!(again.is_empty(), "{}", render::table(&again));
    let after = read_hand_made(&aws).await.unwrap();
    assert!(after
        .role_tags
        .contains(&(OWNERSHIP_TAG.to_string(), "demo".to_string())));
    assert_eq!(
        after.queue_tags.get(OWNERSHIP_TAG).map(String::as_str),
        Some("demo")
    );
    assert_eq!(after.queue_attributes["MessageRetentionPeriod"], "300");
    assert_eq!(after.queue_attributes["SqsManagedSseEnabled"], "true");
    assert!(after.role_attached.len() >= 7, "{:?}", after.role_attached);
    assert!(after
        .role_trust
        .to_string()
        .contains("pods.eks.amazonaws.com"));

    // Later teardown (no --adopt needed any more): they go with the rest.
    let td = Desired::new(target("demo")).with_extras(&teardown_extras(
        Some(&facts),
        "kube-system",
        "karpenter",
    ));
    let p = read_and_plan_teardown(&live, &td).await.unwrap();
    apply(&live, &p, fast_retry(), &mut out).await.unwrap();
    assert_eq!(read_hand_made(&aws).await, None);
    assert!(read_and_plan_teardown(&live, &td).await.unwrap().is_empty());
}

#[tokio::test]
async fn everything_setup_creates_carries_the_ownership_tag() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let out = cli(&moto, &["setup", "--cluster-name", "demo", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let live = AwsLive::new(&aws.config);
    let d = Desired::new(target("demo"));
    let state = live.read(&d, ReadScope::Setup).await.unwrap();
    let owned = d.ownership_tags();
    assert_eq!(state.roles.len(), 1);
    assert!(state.roles.values().all(|r| r.tags == owned));
    assert_eq!(state.policies.len(), 6);
    assert!(state.policies.values().all(|p| p.tags == owned));
    assert_eq!(state.instance_profiles.len(), 1);
    assert!(state.instance_profiles.values().all(|p| p.tags == owned));
    assert_eq!(state.queue.as_ref().unwrap().tags, owned);
    assert_eq!(state.rules.len(), 5);
    assert!(state.rules.values().all(|r| r.tags == owned));
    // Independently of the adapter: what IAM and EventBridge report.
    let role = aws
        .iam()
        .get_role()
        .role_name("KarpenterNodeRole-demo")
        .send()
        .await
        .unwrap();
    assert_eq!(role.role().unwrap().tags()[0].key(), OWNERSHIP_TAG);
    let rule_tags = aws
        .eventbridge()
        .list_tags_for_resource()
        .resource_arn("arn:aws:events:us-west-2:123456789012:rule/Karpenter-demo-SpotInterruption")
        .send()
        .await
        .unwrap();
    assert_eq!(rule_tags.tags()[0].key(), OWNERSHIP_TAG);
    assert_eq!(rule_tags.tags()[0].value(), "demo");
}

#[tokio::test]
async fn teardown_names_the_instances_still_using_the_instance_profile() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let out = cli(&moto, &["setup", "--cluster-name", "demo", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ec2 = aws.ec2();
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    let mut ids = vec![];
    for (key, value) in [
        ("kubernetes.io/cluster/demo", "owned"),
        ("eks:eks-cluster-name", "demo"),
        ("kubernetes.io/cluster/other", "owned"),
    ] {
        let run = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
            .min_count(1)
            .max_count(1)
            .iam_instance_profile(
                aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                    .name("KarpenterNodeInstanceProfile-demo")
                    .build(),
            )
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                    .tags(tag(key, value))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ids.push(run.instances()[0].instance_id().unwrap().to_string());
    }
    // A terminated one is not named.
    let gone = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(tag("kubernetes.io/cluster/demo", "owned"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let gone = gone.instances()[0].instance_id().unwrap().to_string();
    ec2.terminate_instances()
        .instance_ids(&gone)
        .send()
        .await
        .unwrap();

    let out = cli(
        &moto,
        &["setup", "--cluster-name", "demo", "--delete", "--dry-run"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: "))
        .unwrap_or_else(|| panic!("no warning in {err}"));
    assert!(
        warning.contains("2 EC2 instances tagged for cluster demo"),
        "{warning}"
    );
    for id in &ids[..2] {
        assert!(
            warning.contains(&format!(
                "{id} (running, instance profile KarpenterNodeInstanceProfile-demo)"
            )),
            "{warning}"
        );
    }
    assert!(!warning.contains(&ids[2]), "another cluster's: {warning}");
    assert!(!warning.contains(&gone), "terminated: {warning}");
    // -o json carries it too.
    let out = cli(
        &moto,
        &[
            "setup",
            "--cluster-name",
            "demo",
            "--delete",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["warnings"][0].as_str().unwrap().contains(&ids[0]),
        "{v:#}"
    );
}

/// A retried AddRoleToInstanceProfile whose first attempt succeeded (its response lost with the
/// connection) answers LimitExceeded; with our role already in the profile that is success,
/// with another role it is still an error.
#[tokio::test]
async fn adding_the_role_a_profile_already_holds_is_success_and_a_foreign_role_is_not() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let live = AwsLive::new(&aws.config);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    for name in ["NodeRole", "OtherRole"] {
        live.apply(&Operation::CreateRole {
            name: name.into(),
            path: "/".into(),
            trust: trust.clone(),
            tags: BTreeMap::new(),
        })
        .await
        .unwrap();
    }
    live.apply(&Operation::CreateInstanceProfile {
        name: "profile".into(),
        path: "/".into(),
        tags: BTreeMap::new(),
    })
    .await
    .unwrap();
    let add = |role: &str| Operation::AddRoleToInstanceProfile {
        profile: "profile".into(),
        role: role.into(),
    };
    live.apply(&add("NodeRole")).await.unwrap();
    live.apply(&add("NodeRole"))
        .await
        .expect("the role is already there: a repeat is success");
    let err = live.apply(&add("OtherRole")).await.unwrap_err();
    assert!(err.to_string().contains("LimitExceeded"), "{err}");
}

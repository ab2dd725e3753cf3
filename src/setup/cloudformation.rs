//! `--export-cloudformation`: the CloudFormation template equivalent to what setup creates (the
//! getting-started template's resources plus the node instance profile, with setup's stable rule
//! names), for users who must stay on CloudFormation. Pure, and independent of any account: ARNs use
//! `${AWS::Partition}`, `${AWS::Region}` and `${AWS::AccountId}` through `Fn::Sub`, and policy
//! documents are `Fn::Sub` JSON strings as in the upstream template (their condition keys contain
//! the cluster name, which CloudFormation cannot substitute inside object keys).
use serde_json::{json, Map, Value};

use super::desired::{ClusterName, Desired, Partition, Target};

const QUEUE: &str = "KarpenterInterruptionQueue";

fn sub(s: &str) -> Value {
    let s = s.replace("arn:aws:", "arn:${AWS::Partition}:");
    if s.contains("${") {
        json!({ "Fn::Sub": s })
    } else {
        Value::String(s)
    }
}

fn queue_arn() -> Value {
    json!({ "Fn::GetAtt": [QUEUE, "Arn"] })
}

/// Replace every string equal to `from` with `to`, recursively.
fn replace_value(v: &Value, from: &str, to: &Value) -> Value {
    match v {
        Value::String(s) if s == from => to.clone(),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| replace_value(i, from, to)).collect())
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), replace_value(v, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The template for `cluster`.
pub fn template(cluster: &ClusterName) -> Value {
    let d = Desired::new(Target {
        cluster: cluster.clone(),
        partition: Partition::Aws,
        region: "${AWS::Region}".into(),
        account: "${AWS::AccountId}".into(),
    });
    let mut resources = Map::new();
    resources.insert(
        "KarpenterNodeRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": d.node_role.name,
                "Path": d.node_role.path,
                "AssumeRolePolicyDocument": replace_value(
                    &d.node_role.trust,
                    "ec2.amazonaws.com",
                    &json!({ "Fn::Sub": "ec2.${AWS::URLSuffix}" })
                ),
                "ManagedPolicyArns": d.node_role.managed_policy_arns.iter().map(|a| sub(a)).collect::<Vec<_>>(),
            }
        }),
    );
    resources.insert(
        "KarpenterNodeInstanceProfile".into(),
        json!({
            "Type": "AWS::IAM::InstanceProfile",
            "Properties": {
                "InstanceProfileName": d.node_instance_profile.name,
                "Path": d.node_instance_profile.path,
                "Roles": [{ "Ref": "KarpenterNodeRole" }]
            }
        }),
    );
    for p in &d.controller_policies {
        let logical = p
            .name
            .trim_start_matches("KarpenterController")
            .split('-')
            .next()
            .unwrap_or("Controller")
            .to_string();
        let document = serde_json::to_string_pretty(&p.document).unwrap_or_default();
        resources.insert(
            logical,
            json!({
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "ManagedPolicyName": p.name,
                    "Path": p.path,
                    "PolicyDocument": sub(&document)
                }
            }),
        );
    }
    resources.insert(
        QUEUE.into(),
        json!({
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": d.queue.name,
                "MessageRetentionPeriod": 300,
                "SqsManagedSseEnabled": true
            }
        }),
    );
    let arn_text = d.queue.arn.clone();
    resources.insert(
        "KarpenterInterruptionQueuePolicy".into(),
        json!({
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{ "Ref": QUEUE }],
                "PolicyDocument": replace_value(&d.queue.policy, &arn_text, &queue_arn())
            }
        }),
    );
    for r in &d.rules {
        resources.insert(
            r.logical_id.clone(),
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Name": r.name,
                    "EventPattern": r.pattern,
                    "Targets": r.targets.iter().map(|t| json!({ "Id": t.id, "Arn": queue_arn() })).collect::<Vec<_>>()
                }
            }),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "Karpenter's AWS resources for EKS cluster {cluster}, as `kubectl karpenter setup` creates them \
             (the getting-started template plus KarpenterNodeInstanceProfile-{cluster})"
        ),
        "Resources": resources
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn substitute(v: &Value, region: &str, account: &str) -> Value {
        match v {
            Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => {
                let s = m["Fn::Sub"]
                    .as_str()
                    .unwrap()
                    .replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", region)
                    .replace("${AWS::AccountId}", account)
                    .replace("${AWS::URLSuffix}", "amazonaws.com");
                assert!(!s.contains("${"), "{s}");
                serde_json::from_str(&s).unwrap_or(Value::String(s))
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| substitute(i, region, account))
                    .collect(),
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), substitute(v, region, account)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    #[test]
    fn substituted_template_equals_the_desired_state() {
        let c = ClusterName::new("demo").unwrap();
        let t = substitute(&template(&c), "eu-west-1", "111122223333");
        let d = Desired::new(Target {
            cluster: c,
            partition: Partition::Aws,
            region: "eu-west-1".into(),
            account: "111122223333".into(),
        });
        let res = &t["Resources"];
        for p in &d.controller_policies {
            let found = res
                .as_object()
                .unwrap()
                .values()
                .find(|r| r["Properties"]["ManagedPolicyName"] == p.name.as_str())
                .unwrap_or_else(|| panic!("{} missing", p.name));
            assert_eq!(found["Properties"]["PolicyDocument"], p.document);
        }
        assert_eq!(
            res["KarpenterNodeRole"]["Properties"]["AssumeRolePolicyDocument"],
            d.node_role.trust
        );
        assert_eq!(
            res["KarpenterNodeRole"]["Properties"]["ManagedPolicyArns"],
            json!(d.node_role.managed_policy_arns)
        );
        for r in &d.rules {
            assert_eq!(res[&r.logical_id]["Properties"]["Name"], r.name.as_str());
            assert_eq!(res[&r.logical_id]["Properties"]["EventPattern"], r.pattern);
        }
        assert_eq!(res.as_object().unwrap().len(), 2 + 6 + 2 + 5);
        let qp = &res["KarpenterInterruptionQueuePolicy"]["Properties"]["PolicyDocument"];
        assert_eq!(qp["Statement"][0]["Resource"], queue_arn());
    }
}

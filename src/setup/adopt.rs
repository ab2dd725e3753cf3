//! `--from-cloudformation`: take over the resources of a getting-started CloudFormation stack
//! (v0.27-era or v1), then delete the stack while retaining them.
//!
//! The pure half: what each stack resource becomes ([`adoption_rows`]), the template rewrite that
//! sets `DeletionPolicy: Retain` on every resource ([`retain_template`]), and the clean-up of the
//! stack's EventBridge rules, whose names CloudFormation generated ([`stale_rule_deletes`]). The
//! [`Stacks`] port does the CloudFormation calls.
use std::future::Future;

use serde::Serialize;

use super::desired::Desired;
use super::live::Operation;
use super::plan::{ActionKind, PlannedAction, ResourceKind};
use super::SetupError;

/// One resource of a stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackResource {
    /// Logical id.
    pub logical_id: String,
    /// Resource type (`AWS::IAM::Role`, ...).
    pub resource_type: String,
    /// Physical id (name, ARN or URL).
    pub physical_id: String,
}

/// A stack and its resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackInfo {
    /// Stack name.
    pub name: String,
    /// Stack status.
    pub status: String,
    /// Resources.
    pub resources: Vec<StackResource>,
}

/// What adoption does with one stack resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdoptRow {
    /// Logical id.
    pub logical_id: String,
    /// Resource type.
    pub resource_type: String,
    /// Physical id.
    pub physical_id: String,
    /// `adopt`, `replace` or `keep`.
    pub fate: String,
    /// Why / by what.
    pub detail: String,
}

fn last_segment(id: &str) -> &str {
    id.rsplit(['/', ':']).next().unwrap_or(id)
}

/// What happens to each resource of `stack` when setup takes it over.
pub fn adoption_rows(stack: &StackInfo, desired: &Desired) -> Vec<AdoptRow> {
    stack
        .resources
        .iter()
        .map(|r| {
            let name = last_segment(&r.physical_id);
            let (fate, detail) = match r.resource_type.as_str() {
                "AWS::IAM::Role" if name == desired.node_role.name => {
                    ("adopt", "iam-role, brought to the v1 policies".to_string())
                }
                "AWS::IAM::InstanceProfile" if name == desired.node_instance_profile.name => {
                    ("adopt", "iam-instance-profile".to_string())
                }
                "AWS::IAM::ManagedPolicy"
                    if desired.controller_policies.iter().any(|p| p.name == name) =>
                {
                    ("adopt", "iam-policy".to_string())
                }
                "AWS::IAM::ManagedPolicy" => (
                    "keep",
                    format!(
                        "not managed by setup (the pre-v1.9 single controller policy): attach the six \
                         KarpenterController*Policy-{} policies to the controller role, then detach and \
                         delete {name}",
                        desired.target.cluster
                    ),
                ),
                "AWS::SQS::Queue" if name == desired.queue.name => {
                    ("adopt", "sqs-queue (SSE and retention enforced)".to_string())
                }
                "AWS::SQS::QueuePolicy" => ("adopt", "replaced by setup's queue policy".to_string()),
                "AWS::Events::Rule" => (
                    "replace",
                    "deleted after setup's Karpenter-<cluster>-* rules exist (CloudFormation named it)"
                        .to_string(),
                ),
                _ => ("keep", "not a resource setup manages".to_string()),
            };
            AdoptRow {
                logical_id: r.logical_id.clone(),
                resource_type: r.resource_type.clone(),
                physical_id: r.physical_id.clone(),
                fate: fate.to_string(),
                detail,
            }
        })
        .collect()
}

/// Render adoption rows as a table.
pub fn adoption_table(stack: &StackInfo, rows: &[AdoptRow]) -> String {
    let cells: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.logical_id.as_str(),
                r.resource_type.as_str(),
                r.physical_id.as_str(),
                r.fate.as_str(),
                r.detail.as_str(),
            ]
        })
        .collect();
    format!(
        "Stack {} ({}) owns {} resources:\n{}",
        stack.name,
        stack.status,
        rows.len(),
        super::render::aligned(
            ["LOGICAL ID", "TYPE", "PHYSICAL ID", "FATE", "DETAIL"],
            &cells
        )
    )
}

/// Rewrite a template body so that every resource has `DeletionPolicy: Retain` (JSON templates are
/// edited as JSON; YAML templates as text, since their `!Sub`-style tags have no JSON form).
pub fn retain_template(body: &str) -> Result<String, SetupError> {
    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) {
        let resources = v
            .get_mut("Resources")
            .and_then(|r| r.as_object_mut())
            .ok_or_else(|| SetupError::Malformed {
                what: "the stack template".into(),
                message: "it has no Resources object".into(),
            })?;
        for r in resources.values_mut() {
            if let Some(o) = r.as_object_mut() {
                o.insert("DeletionPolicy".into(), "Retain".into());
            }
        }
        return serde_json::to_string_pretty(&v).map_err(|e| SetupError::Malformed {
            what: "the stack template".into(),
            message: e.to_string(),
        });
    }
    let lines: Vec<&str> = body.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == "Resources:") else {
        return Err(SetupError::Malformed {
            what: "the stack template".into(),
            message: "no top-level `Resources:` line found".into(),
        });
    };
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let child_indent = lines[start + 1..]
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| indent_of(l))
        .filter(|i| *i > 0)
        .ok_or_else(|| SetupError::Malformed {
            what: "the stack template".into(),
            message: "`Resources:` is empty".into(),
        })?;
    let mut out: Vec<String> = lines[..=start].iter().map(|l| l.to_string()).collect();
    let mut in_resources = true;
    for l in &lines[start + 1..] {
        let blank = l.trim().is_empty() || l.trim_start().starts_with('#');
        if !blank && indent_of(l) == 0 {
            in_resources = false;
        }
        if in_resources && !blank {
            let ind = indent_of(l);
            // Drop an existing DeletionPolicy of a resource; it is re-added below.
            if ind == child_indent + 2 && l.trim_start().starts_with("DeletionPolicy:") {
                continue;
            }
            out.push(l.to_string());
            if ind == child_indent && l.trim_end().ends_with(':') {
                out.push(format!(
                    "{}DeletionPolicy: Retain",
                    " ".repeat(child_indent + 2)
                ));
            }
            continue;
        }
        out.push(l.to_string());
    }
    let mut s = out.join("\n");
    s.push('\n');
    Ok(s)
}

/// Delete rows for the stack's rules (CloudFormation names them `<stack>-<LogicalId>-<random>`)
/// that target the interruption queue, so events are not delivered twice once setup's rules exist.
pub fn stale_rule_deletes(
    stack: &str,
    desired: &Desired,
    rules_targeting_queue: &[String],
) -> Vec<PlannedAction> {
    let prefix = format!("{stack}-");
    rules_targeting_queue
        .iter()
        .filter(|n| n.starts_with(&prefix) && !desired.rules.iter().any(|r| &r.name == *n))
        .map(|n| PlannedAction {
            kind: ResourceKind::EventRule,
            name: n.clone(),
            action: ActionKind::Delete,
            detail: format!("left by stack {stack}; replaced by setup's rule"),
            operations: vec![
                Operation::RemoveTargets {
                    rule: n.clone(),
                    ids: vec![super::desired::QUEUE_TARGET_ID.into()],
                },
                Operation::DeleteRule { name: n.clone() },
            ],
        })
        .collect()
}

/// CloudFormation calls adoption needs.
pub trait Stacks {
    /// The stack and its resources; `None` if it does not exist.
    fn describe_stack(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<StackInfo>, SetupError>> + Send;

    /// Set `DeletionPolicy: Retain` on every resource (update the stack with the rewritten
    /// template), then delete the stack, waiting for each step.
    fn retain_and_delete(&self, name: &str) -> impl Future<Output = Result<(), SetupError>> + Send;

    /// Names of the rules on the default bus that target `arn`.
    fn rules_targeting(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<String>, SetupError>> + Send;
}

/// The setup plan plus the deletion of the stack's own rules (appended, so setup's rules exist first).
pub async fn plan_with_stale_rules<L: super::Live + Stacks>(
    live: &L,
    desired: &Desired,
    stack: &str,
) -> Result<super::Plan, SetupError> {
    let mut plan = super::read_and_plan(live, desired).await?;
    let rules = live.rules_targeting(&desired.queue.arn).await?;
    plan.actions
        .extend(stale_rule_deletes(stack, desired, &rules));
    Ok(plan)
}

/// Adopt `stack`: retain its resources and delete it, then converge to `desired` (removing the
/// stack's rules once setup's exist). Re-running after a failure continues from where it stopped.
pub async fn adopt<L: super::Live + Stacks>(
    live: &L,
    desired: &Desired,
    stack: &str,
    retry: super::apply::RetryPolicy,
    out: &mut dyn std::io::Write,
) -> Result<(super::Plan, super::apply::ApplyReport), SetupError> {
    if live.describe_stack(stack).await?.is_some() {
        let _ = writeln!(
            out,
            "retaining the resources of stack {stack} and deleting the stack"
        );
        live.retain_and_delete(stack).await?;
    }
    // Plan after the stack is gone: an update may have replaced the stack's rules.
    let plan = plan_with_stale_rules(live, desired, stack).await?;
    let report = super::apply::apply(live, &plan, retry, out).await?;
    Ok((plan, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_templates_get_retain_on_every_resource() {
        let body = "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  # the role\n  Role:\n    Type: AWS::IAM::Role\n    DeletionPolicy: Delete\n    Properties:\n      RoleName: !Sub \"r-${X}\"\n      Nested:\n        Key: v\n  Queue:\n    Type: AWS::SQS::Queue\nOutputs:\n  Out:\n    Value: x\n";
        let out = retain_template(body).unwrap();
        assert_eq!(out.matches("DeletionPolicy: Retain").count(), 2, "{out}");
        assert!(!out.contains("DeletionPolicy: Delete"));
        assert!(out.contains("  Role:\n    DeletionPolicy: Retain\n    Type: AWS::IAM::Role"));
        assert!(out.contains("Outputs:\n  Out:\n    Value: x"), "{out}");
        assert!(out.contains("RoleName: !Sub \"r-${X}\""));
    }

    #[test]
    fn json_templates_get_retain_on_every_resource() {
        let out = retain_template(
            r#"{"Resources":{"A":{"Type":"T"},"B":{"Type":"T","DeletionPolicy":"Delete"}}}"#,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Resources"]["A"]["DeletionPolicy"], "Retain");
        assert_eq!(v["Resources"]["B"]["DeletionPolicy"], "Retain");
        assert!(retain_template("Foo: bar\n").is_err());
    }
}

//! `--from-cloudformation`: take over the resources of a getting-started CloudFormation stack
//! (v0.27-era or v1), then delete the stack while retaining them.
//!
//! The pure half: what each stack resource becomes ([`adoption_rows`]), the clean-up of the
//! stack's EventBridge rules, whose names CloudFormation generated ([`stale_rule_deletes`]), and
//! the order of the stack's retirement ([`retain_and_delete`]: the template edit of
//! [`super::retain`], the update, a check of the updated template against the stack's resources,
//! and only then the delete). The [`Stacks`] port does the CloudFormation calls, one per method.
use std::future::Future;

use serde::Serialize;

use super::desired::Desired;
use super::live::Operation;
use super::plan::{ActionKind, PlannedAction, ResourceKind};
use super::retain::{not_retained, retain_template};
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
    /// The stack and its resources (`cloudformation:DescribeStacks`, `DescribeStackResources`);
    /// `None` if it does not exist.
    fn describe_stack(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<StackInfo>, SetupError>> + Send;

    /// The stack's current template body (`cloudformation:GetTemplate`).
    fn stack_template(&self, name: &str)
        -> impl Future<Output = Result<String, SetupError>> + Send;

    /// Update the stack to `body`, keeping its parameters (`cloudformation:UpdateStack`); `false`
    /// when CloudFormation reports nothing to update. Does not wait.
    fn update_stack_template(
        &self,
        name: &str,
        body: &str,
    ) -> impl Future<Output = Result<bool, SetupError>> + Send;

    /// Wait until the stack leaves `*_IN_PROGRESS`; its final status (`None`: gone).
    fn wait_stack(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, SetupError>> + Send;

    /// `cloudformation:DeleteStack` (does not wait).
    fn delete_stack(&self, name: &str) -> impl Future<Output = Result<(), SetupError>> + Send;

    /// Names of the rules on the default bus that target `arn`.
    fn rules_targeting(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<String>, SetupError>> + Send;
}

/// Whether a stack may be deleted after the update that sets `DeletionPolicy: Retain`: an update
/// that was made must have completed (`UPDATE_ROLLBACK_COMPLETE` means it was undone and
/// nothing is retained); with nothing to update the template already retains everything, so
/// any settled state an earlier change left is fine. A stack that is gone needs no delete.
fn retained_after_update(updated: bool, status: Option<&str>) -> bool {
    match status {
        None => true,
        Some(s) if updated => s == "UPDATE_COMPLETE",
        Some(s) => matches!(
            s,
            "UPDATE_COMPLETE" | "CREATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE"
        ),
    }
}

/// Set `DeletionPolicy: Retain` on every resource of stack `name` (update it with the edited
/// template), then delete it, waiting for each step. Before the delete, the stack's template is
/// read again and every resource DescribeStackResources lists must be retained in it; otherwise
/// nothing is deleted and the error names the resources that would have gone with the stack.
pub async fn retain_and_delete<S: Stacks>(stacks: &S, name: &str) -> Result<(), SetupError> {
    let body = stacks.stack_template(name).await?;
    let retained = retain_template(&body)?;
    let updated = stacks.update_stack_template(name, &retained).await?;
    match stacks.wait_stack(name).await?.as_deref() {
        None => return Ok(()),
        status if retained_after_update(updated, status) => {}
        status => {
            let other = status.unwrap_or("unknown");
            return Err(SetupError::Aws {
                action: "cloudformation:UpdateStack".into(),
                message: format!(
                    "stack {name} ended in {other} while setting DeletionPolicy: Retain; nothing was deleted"
                ),
            });
        }
    }
    let Some(info) = stacks.describe_stack(name).await? else {
        return Ok(());
    };
    let current = stacks.stack_template(name).await?;
    let listed: Vec<String> = info
        .resources
        .iter()
        .map(|r| r.logical_id.clone())
        .collect();
    let missing = not_retained(&current, &listed)?;
    if !missing.is_empty() {
        return Err(SetupError::NotRetained {
            stack: name.to_string(),
            resources: missing,
        });
    }
    stacks.delete_stack(name).await?;
    match stacks.wait_stack(name).await?.as_deref() {
        None | Some("DELETE_COMPLETE") => Ok(()),
        Some(other) => Err(SetupError::Aws {
            action: "cloudformation:DeleteStack".into(),
            message: format!("stack {name} ended in {other}"),
        }),
    }
}

/// `desired`, adopting the resources of `stack` that setup manages under the same names (the
/// stack's resources lack setup's ownership tag; adoption tags them).
pub fn adopting_stack(desired: &Desired, stack: &StackInfo) -> Desired {
    let names = stack
        .resources
        .iter()
        .map(|r| last_segment(&r.physical_id).to_string())
        .filter(|n| !n.is_empty())
        .collect();
    desired
        .clone()
        .adopting(super::desired::AdoptScope::Named(names))
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
    let mut desired = desired.clone();
    if let Some(info) = live.describe_stack(stack).await? {
        desired = adopting_stack(&desired, &info);
        // Tag what is taken over before the stack goes, so that a re-run after a failure finds
        // the resources already setup's.
        let mut tagging = super::read_and_plan(live, &desired).await?;
        for row in &mut tagging.actions {
            row.operations
                .retain(|op| matches!(op, Operation::Tag { .. }));
        }
        tagging.actions.retain(|row| !row.operations.is_empty());
        super::apply::apply(live, &tagging, retry, out).await?;
        let _ = writeln!(
            out,
            "retaining the resources of stack {stack} and deleting the stack"
        );
        retain_and_delete(live, stack).await?;
    }
    // Plan after the stack is gone: an update may have replaced the stack's rules.
    let plan = plan_with_stale_rules(live, &desired, stack).await?;
    let report = super::apply::apply(live, &plan, retry, out).await?;
    Ok((plan, report))
}

#[cfg(test)]
mod tests {
    use super::retained_after_update;

    #[test]
    fn a_rolled_back_retain_update_stops_the_stack_deletion() {
        assert!(retained_after_update(true, Some("UPDATE_COMPLETE")));
        assert!(
            !retained_after_update(true, Some("UPDATE_ROLLBACK_COMPLETE")),
            "the Retain policies were rolled back: deleting the stack would delete the resources"
        );
        assert!(!retained_after_update(true, Some("UPDATE_FAILED")));
        // nothing to update: an earlier run already retained everything
        assert!(retained_after_update(
            false,
            Some("UPDATE_ROLLBACK_COMPLETE")
        ));
        assert!(retained_after_update(false, Some("CREATE_COMPLETE")));
        assert!(!retained_after_update(false, Some("ROLLBACK_COMPLETE")));
        assert!(retained_after_update(true, None));
    }
}

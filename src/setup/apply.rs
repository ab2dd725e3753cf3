//! Apply a plan through the [`Live`] port, in order, with progress output.
//!
//! Every operation is a single idempotent step and the plan is recomputed from a fresh read on each
//! run, so a failure part-way leaves a state the next run converges from. Throttling is retried with
//! exponential backoff; "already exists" on a create and "not found" on a delete count as done.
use std::io::Write;
use std::time::Duration;

use super::live::{Live, Operation};
use super::plan::Plan;
use super::render::verb;
use super::SetupError;

/// Retry policy for throttled calls.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per operation (including the first).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled each time after.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Operations that changed something.
    pub applied: usize,
    /// Operations that found their work already done (already exists / not found).
    pub already_done: usize,
    /// Throttled attempts that were retried.
    pub retries: usize,
}

fn is_create(op: &Operation) -> bool {
    matches!(
        op,
        Operation::CreateRole { .. }
            | Operation::CreatePolicy { .. }
            | Operation::CreateInstanceProfile { .. }
            | Operation::AttachRolePolicy { .. }
    )
}

fn is_delete(op: &Operation) -> bool {
    matches!(
        op,
        Operation::DetachRolePolicy { .. }
            | Operation::DeleteRoleInlinePolicy { .. }
            | Operation::DeleteRole { .. }
            | Operation::DeletePolicyVersion { .. }
            | Operation::DeletePolicy { .. }
            | Operation::RemoveRoleFromInstanceProfile { .. }
            | Operation::DeleteInstanceProfile { .. }
            | Operation::DeleteQueue { .. }
            | Operation::RemoveTargets { .. }
            | Operation::DeleteRule { .. }
            | Operation::DeleteLaunchTemplate { .. }
    )
}

/// IAM is eventually consistent: a role or OIDC provider created a moment ago can be refused by
/// the next call that names it. Those refusals are retried like throttling.
fn is_propagation_delay(op: &Operation, err: &SetupError) -> bool {
    let SetupError::Aws { message, .. } = err else {
        return false;
    };
    let names_new_iam_entity = matches!(
        op,
        Operation::CreateRole { .. }
            | Operation::UpdateTrust { .. }
            | Operation::AddRoleToInstanceProfile { .. }
            | Operation::CreatePodIdentityAssociation { .. }
            | Operation::UpdatePodIdentityAssociation { .. }
            | Operation::CreateAccessEntry { .. }
    );
    let m = message.to_ascii_lowercase();
    names_new_iam_entity
        && (m.contains("invalid principal")
            || m.contains("principalarn")
            || (m.contains("invalidparameter") && m.contains("role")))
}

/// Apply every changing row of `plan`, writing one progress line per row and per operation to `out`.
pub async fn apply<L: Live>(
    live: &L,
    plan: &Plan,
    retry: RetryPolicy,
    out: &mut dyn Write,
) -> Result<ApplyReport, SetupError> {
    let mut report = ApplyReport::default();
    for row in plan.changes() {
        let _ = writeln!(
            out,
            "{} {} {}",
            verb(row.action),
            row.kind.as_str(),
            row.name
        );
        for op in &row.operations {
            let mut attempt = 1;
            loop {
                match live.apply(op).await {
                    Ok(()) => {
                        report.applied += 1;
                        let _ = writeln!(out, "  ok    {}", op.describe());
                        break;
                    }
                    Err(SetupError::AlreadyExists { .. }) if is_create(op) => {
                        report.already_done += 1;
                        let _ = writeln!(out, "  ok    {} (already exists)", op.describe());
                        break;
                    }
                    Err(SetupError::NotFound { .. }) if is_delete(op) => {
                        report.already_done += 1;
                        let _ = writeln!(out, "  ok    {} (already gone)", op.describe());
                        break;
                    }
                    Err(e)
                        if attempt < retry.max_attempts
                            && (matches!(e, SetupError::Throttled { .. })
                                || is_propagation_delay(op, &e)) =>
                    {
                        let delay = retry.base_delay * 2u32.saturating_pow(attempt - 1);
                        let _ = writeln!(
                            out,
                            "  wait  {} throttled or not yet visible; retrying in {} ms",
                            op.describe(),
                            delay.as_millis()
                        );
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        report.retries += 1;
                    }
                    Err(e) => {
                        let _ = writeln!(out, "  FAIL  {}", op.describe());
                        return Err(SetupError::Apply {
                            step: op.describe(),
                            applied: report.applied,
                            source: Box::new(e),
                        });
                    }
                }
            }
        }
    }
    let _ = out.flush();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::setup::cluster::ClusterFacts;
    use crate::setup::live::{EksState, LiveState, ReadScope};
    use crate::setup::plan::{ActionKind, PlannedAction, ResourceKind};
    use crate::setup::Desired;

    /// Fails each operation with the queued errors first, then succeeds; records every call.
    struct Scripted {
        errors: Mutex<Vec<SetupError>>,
        calls: Mutex<Vec<String>>,
    }

    impl Live for Scripted {
        async fn read(&self, _: &Desired, _: ReadScope) -> Result<LiveState, SetupError> {
            Ok(LiveState::default())
        }
        async fn cluster(&self, _: &str) -> Result<Option<ClusterFacts>, SetupError> {
            Ok(None)
        }
        async fn read_eks(&self, _: &Desired) -> Result<EksState, SetupError> {
            Ok(EksState::default())
        }
        async fn apply(&self, op: &Operation) -> Result<(), SetupError> {
            self.calls.lock().unwrap().push(op.describe());
            match self.errors.lock().unwrap().pop() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }

    fn one_op_plan(op: Operation) -> Plan {
        Plan {
            cluster: "demo".into(),
            region: "us-west-2".into(),
            account: "123456789012".into(),
            actions: vec![PlannedAction {
                kind: ResourceKind::EksAccessEntry,
                name: "KarpenterNodeRole-demo".into(),
                action: ActionKind::Create,
                detail: String::new(),
                operations: vec![op],
            }],
            warnings: vec![],
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn a_role_not_yet_visible_to_eks_is_retried() {
        let live = Scripted {
            errors: Mutex::new(vec![SetupError::Aws {
                action: "eks:CreateAccessEntry".into(),
                message: "InvalidParameterException: The specified principalArn could not be found"
                    .into(),
            }]),
            calls: Mutex::default(),
        };
        let plan = one_op_plan(Operation::CreateAccessEntry {
            cluster: "demo".into(),
            principal_arn: "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo".into(),
            kind: "EC2_LINUX".into(),
        });
        let mut out = Vec::new();
        let report = apply(&live, &plan, fast(), &mut out).await.unwrap();
        assert_eq!((report.applied, report.retries), (1, 1));
        assert_eq!(live.calls.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn other_errors_stop_the_apply_and_name_the_step() {
        let live = Scripted {
            errors: Mutex::new(vec![SetupError::AccessDenied {
                action: "eks:CreateAccessEntry".into(),
                message: "not authorized".into(),
            }]),
            calls: Mutex::default(),
        };
        let plan = one_op_plan(Operation::CreateAccessEntry {
            cluster: "demo".into(),
            principal_arn: "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo".into(),
            kind: "EC2_LINUX".into(),
        });
        let mut out = Vec::new();
        let err = apply(&live, &plan, fast(), &mut out).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("grant eks:CreateAccessEntry"), "{msg}");
        assert!(msg.contains("re-run"), "{msg}");
        assert_eq!(live.calls.lock().unwrap().len(), 1);
    }
}

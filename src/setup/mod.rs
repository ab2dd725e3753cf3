//! `setup`: Karpenter's AWS side (IAM, SQS, EventBridge) by direct API calls, replacing the
//! getting-started CloudFormation template.
//!
//! Ports and adapters: [`desired`] (pure: what the template creates for a cluster), [`plan`]
//! (pure: desired vs live → actions), [`live::Live`] (the port that reads and changes the account),
//! [`aws::AwsLive`] (its AWS adapter) and [`apply`] (ordered, idempotent apply and teardown).
pub mod adopt;
pub mod apply;
pub mod aws;
pub mod aws_auth;
pub mod cloudformation;
pub mod cluster;
pub mod desired;
pub mod live;
pub mod plan;
pub mod policy;
pub mod render;
pub mod retain;

pub use desired::{AdoptScope, ClusterName, Desired, Partition, Target, OWNERSHIP_TAG};
pub use live::{Live, LiveState, Operation, ReadScope};
pub use plan::{plan, plan_teardown, ActionKind, Plan, PlannedAction, ResourceKind};

/// Errors from setup. AWS errors name the API action that failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The cluster name is not a valid EKS cluster name, or too long for the names setup derives.
    #[error("invalid cluster name {name:?}: {reason}")]
    InvalidClusterName {
        /// The name given.
        name: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The caller's credentials are not allowed to call `action`.
    #[error(
        "access denied: the caller is not allowed to call {action} ({message}); \
         grant {action} to the identity running setup"
    )]
    AccessDenied {
        /// The missing IAM action, e.g. `iam:CreateRole`.
        action: String,
        /// AWS's message.
        message: String,
    },
    /// AWS throttled the call (retried with backoff before this is returned).
    #[error("{action} was throttled by AWS: {message}")]
    Throttled {
        /// API action.
        action: String,
        /// AWS's message.
        message: String,
    },
    /// The resource already exists.
    #[error("{action}: already exists: {message}")]
    AlreadyExists {
        /// API action.
        action: String,
        /// AWS's message.
        message: String,
    },
    /// The resource does not exist.
    #[error("{action}: not found: {message}")]
    NotFound {
        /// API action.
        action: String,
        /// AWS's message.
        message: String,
    },
    /// Any other AWS error.
    #[error("{action} failed: {message}")]
    Aws {
        /// API action.
        action: String,
        /// AWS's message, with its error code.
        message: String,
    },
    /// AWS returned something setup cannot read (e.g. a policy document that is not JSON).
    #[error("cannot read {what}: {message}")]
    Malformed {
        /// What was being read.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// The EKS cluster does not exist but a requested step needs it.
    #[error(
        "EKS cluster {cluster} not found in this account and region; create it first, or leave out \
         --identity/--node-access to set up only the IAM, SQS and EventBridge parts"
    )]
    ClusterNotFound {
        /// Cluster name.
        cluster: String,
    },
    /// A requested step cannot be done for this cluster.
    #[error("{what}; {hint}")]
    Unsupported {
        /// What was asked and why it cannot be done.
        what: String,
        /// What to do instead.
        hint: String,
    },
    /// After the update that sets `DeletionPolicy: Retain`, the stack's template still lets
    /// CloudFormation delete some of its resources; the stack is not deleted.
    #[error(
        "stack {stack} was not deleted: its template does not retain {} ({}), so deleting the \
         stack would delete them; set DeletionPolicy: Retain on them in the stack (or remove them \
         from it), then re-run",
        if resources.len() == 1 { "this resource" } else { "these resources" },
        resources.join(", ")
    )]
    NotRetained {
        /// Stack name.
        stack: String,
        /// Logical ids of the resources without `DeletionPolicy: Retain`.
        resources: Vec<String>,
    },
    /// An operation failed mid-apply. Everything before it is applied; re-running converges.
    #[error(
        "{step} failed after {applied} change(s) were applied; re-run the same command to converge: {source}"
    )]
    Apply {
        /// The operation that failed.
        step: String,
        /// How many operations succeeded before it.
        applied: usize,
        /// The cause.
        #[source]
        source: Box<SetupError>,
    },
}

/// Read the live state and plan the changes that take it to `desired`.
pub async fn read_and_plan<L: Live>(live: &L, desired: &Desired) -> Result<Plan, SetupError> {
    let mut state = live.read(desired, ReadScope::Setup).await?;
    state.eks = live.read_eks(desired).await?;
    Ok(plan(desired, &state))
}

/// Read the live state (with Karpenter's runtime leftovers) and plan the teardown.
pub async fn read_and_plan_teardown<L: Live>(
    live: &L,
    desired: &Desired,
) -> Result<Plan, SetupError> {
    let mut state = live.read(desired, ReadScope::Teardown).await?;
    state.eks = live.read_eks(desired).await?;
    Ok(plan_teardown(desired, &state))
}

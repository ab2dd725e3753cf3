//! `kubectl karpenter setup`: plan, confirm, apply (or tear down) Karpenter's AWS side for one cluster.
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context as _;

use super::{GlobalArgs, OutputFormat};
use crate::cloud::aws::AwsContext;
use crate::setup::adopt::{
    adopt, adopting_stack, adoption_rows, adoption_table, plan_with_stale_rules, Stacks,
};
use crate::setup::apply::{apply, RetryPolicy};
use crate::setup::aws::AwsLive;
use crate::setup::aws_auth::KubeAwsAuth;
use crate::setup::cluster::{decide, teardown_extras, ExtrasRequest, IdentityMode, NodeAccessMode};
use crate::setup::{
    read_and_plan, read_and_plan_teardown, render, AdoptScope, ClusterName, Desired, Live,
    Partition, Plan, Target,
};

/// How the Karpenter controller gets its AWS credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Identity {
    /// An IAM role bound to the `karpenter` service account by an EKS Pod Identity association
    PodIdentity,
    /// An IAM role trusted by the cluster's OIDC provider (IRSA)
    Irsa,
    /// No controller role: attach the six controller policies to a role yourself
    None,
}

/// How nodes launched with the node role are allowed to join the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NodeAccess {
    /// An EKS access entry of type EC2_LINUX for the node role
    AccessEntry,
    /// A mapRoles entry in the kube-system/aws-auth ConfigMap
    AwsAuth,
    /// Leave node authorization to you
    None,
}

/// Create (or delete) Karpenter's AWS resources for a cluster: what the getting-started
/// CloudFormation template creates, by direct API calls. Shows a plan first.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Needs --cluster-name. Creates KarpenterNodeRole-<C> (+ KarpenterNodeInstanceProfile-<C>), \
the six KarpenterController*Policy-<C> policies, the SQS queue <C> with its policy, and five \
EventBridge rules Karpenter-<C>-*, each tagged kubectl-karpenter.io/managed-by=<C>. Re-running \
converges; --delete removes what carries that tag. Resources under these names without the tag are \
left untouched unless --adopt is given."
)]
pub struct SetupArgs {
    /// Show the plan and stop without changing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Remove everything setup creates for the cluster, plus the launch templates and instance
    /// profiles Karpenter created at runtime (found by tags and path)
    #[arg(long)]
    pub delete: bool,
    /// Controller role `<cluster>-karpenter` and its binding [default: pod-identity if the
    /// eks-pod-identity-agent add-on is installed, else irsa if the cluster has an OIDC issuer, else none]
    #[arg(long, value_enum)]
    pub identity: Option<Identity>,
    /// Node join authorization for KarpenterNodeRole-<cluster> [default: access-entry when the
    /// cluster's authentication mode allows it, else aws-auth (needs the cluster's kubeconfig)]
    #[arg(long, value_enum)]
    pub node_access: Option<NodeAccess>,
    /// Tag the cluster's subnets and security groups karpenter.sh/discovery=<cluster>
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tag_discovery: bool,
    /// Create the EC2 spot service-linked role (AWSServiceRoleForEC2Spot) if it is missing
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub spot_service_linked_role: bool,
    /// Karpenter's service account name (its namespace is -n, default kube-system)
    #[arg(long, default_value = "karpenter", value_name = "NAME", value_parser = service_account_name)]
    pub service_account: String,
    /// Adopt the resources of an existing getting-started CloudFormation stack (default
    /// Karpenter-<cluster>): show what it owns, take them over, delete the stack retaining them.
    /// Not with --delete: adopt first, then delete
    #[arg(
        long,
        value_name = "STACK",
        num_args = 0..=1,
        default_missing_value = "",
        conflicts_with = "delete"
    )]
    pub from_cloudformation: Option<String>,
    /// Print the equivalent CloudFormation template (YAML, or JSON with -o json) instead of
    /// calling AWS
    #[arg(long, conflicts_with_all = ["delete", "from_cloudformation"])]
    pub export_cloudformation: bool,
    /// Take over resources that exist under setup's names without its ownership tag
    /// (kubectl-karpenter.io/managed-by=<cluster>): tag them and converge them; with --delete,
    /// delete them too. Without it they are shown as "not managed" and left untouched
    #[arg(long, conflicts_with = "export_cloudformation")]
    pub adopt: bool,
}

pub async fn run(global: &GlobalArgs, args: SetupArgs) -> anyhow::Result<ExitCode> {
    if args.export_cloudformation {
        let cluster = global.cluster_name.as_deref().context(
            "--export-cloudformation needs the EKS cluster name: pass --cluster-name NAME",
        )?;
        let template = crate::setup::cloudformation::template(&ClusterName::new(cluster)?);
        let text = match global.output {
            Some(OutputFormat::Json) => super::output::to_json(&template)?,
            _ => super::output::to_yaml(&template)?,
        };
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let cluster = global.cluster_name.as_deref().context(
        "setup needs the EKS cluster name: pass --cluster-name NAME (the name `aws eks list-clusters` shows)",
    )?;
    let cluster = ClusterName::new(cluster)?;
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| "kube-system".to_string());
    let problems = crd_schema::metadata::dns1123_label_errors(&namespace);
    if !problems.is_empty() {
        anyhow::bail!(
            "invalid namespace {namespace:?} for Karpenter's service account: {}; pass the namespace \
             Karpenter runs in with -n (default kube-system)",
            problems.join("; ")
        );
    }
    let aws = AwsContext::load(global.aws_options()).await?;
    let account = aws.account_id().await?;
    let region = aws.region().to_string();
    let live = AwsLive::new(&aws.config);
    let facts = live.cluster(cluster.as_str()).await?;
    let base = Desired::new(Target {
        cluster,
        partition: Partition::for_region(&region),
        region,
        account,
    });
    let base = if args.adopt {
        base.adopting(AdoptScope::All)
    } else {
        base
    };
    let desired = if args.delete {
        base.with_extras(&teardown_extras(
            facts.as_ref(),
            &namespace,
            &args.service_account,
        ))
    } else {
        let request = ExtrasRequest {
            identity: args.identity.map(|i| match i {
                Identity::PodIdentity => IdentityMode::PodIdentity,
                Identity::Irsa => IdentityMode::Irsa,
                Identity::None => IdentityMode::None,
            }),
            node_access: args.node_access.map(|n| match n {
                NodeAccess::AccessEntry => NodeAccessMode::AccessEntry,
                NodeAccess::AwsAuth => NodeAccessMode::AwsAuth,
                NodeAccess::None => NodeAccessMode::None,
            }),
            tag_discovery: args.tag_discovery,
            spot_service_linked_role: args.spot_service_linked_role,
            namespace,
            service_account: args.service_account.clone(),
        };
        let (extras, notes) = decide(base.target.cluster.as_str(), facts.as_ref(), &request)?;
        for note in notes {
            eprintln!("note: {note}");
        }
        base.with_extras(&extras)
    };

    let mut desired = desired;
    if desired.aws_auth_role.is_some() {
        match kube_client_for(global, facts.as_ref()).await {
            Ok(client) => {
                let live = KubeAwsAuth::new(live, client);
                return execute(global, &args, &live, &desired).await;
            }
            // Asked for explicitly: the user must fix the kubeconfig.
            Err(e) if args.node_access == Some(NodeAccess::AwsAuth) => return Err(e),
            // Detected: skip that one step and say how to do it.
            Err(e) => {
                let role = desired.target.role_arn(&desired.node_role.name);
                if args.delete {
                    eprintln!(
                        "note: skipped kube-system/aws-auth ({e:#}); remove the mapRoles entry of \
                         {role} by hand if setup added it"
                    );
                } else {
                    eprintln!(
                        "note: skipped the aws-auth step ({e:#}); map {role} in kube-system/aws-auth \
                         (username system:node:{{{{EC2PrivateDNSName}}}}, groups system:bootstrappers, \
                         system:nodes), or re-run with a kubeconfig for the cluster"
                    );
                }
                desired.aws_auth_role = None;
            }
        }
    }
    execute(global, &args, &live, &desired).await
}

/// `--service-account`: a Kubernetes object name (DNS-1123 subdomain).
fn service_account_name(s: &str) -> Result<String, String> {
    let problems = crd_schema::metadata::dns1123_subdomain_errors(s);
    if problems.is_empty() {
        Ok(s.to_string())
    } else {
        Err(format!(
            "not a Kubernetes service account name: {}",
            problems.join("; ")
        ))
    }
}

/// A Kubernetes client for the cluster being set up; refuses a kubeconfig context that points at
/// another API server.
async fn kube_client_for(
    global: &GlobalArgs,
    facts: Option<&crate::setup::cluster::ClusterFacts>,
) -> anyhow::Result<kube::Client> {
    let config = crate::cluster::client::config(&global.kube_options())
        .await
        .context(
            "node access through the aws-auth ConfigMap needs a kubeconfig for the cluster \
         (or pass --node-access access-entry|none)",
        )?;
    if let Some(endpoint) = facts.and_then(|f| f.endpoint.as_deref()) {
        let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
        let url = config.cluster_url.to_string();
        if norm(&url) != norm(endpoint) {
            anyhow::bail!(
                "the kubeconfig context talks to {url}, but the cluster's endpoint is {endpoint}: \
                 pick the right one with --context (or --kubeconfig) before setup edits kube-system/aws-auth"
            );
        }
    }
    Ok(kube::Client::try_from(config)?)
}

async fn execute<L: Live + Stacks + Sync>(
    global: &GlobalArgs,
    args: &SetupArgs,
    live: &L,
    desired: &Desired,
) -> anyhow::Result<ExitCode> {
    let format = global.output.unwrap_or(OutputFormat::Table);
    if let Some(stack) = &args.from_cloudformation {
        return adopt_stack(global, args, live, desired, stack, format).await;
    }
    let plan = if args.delete {
        read_and_plan_teardown(live, desired).await?
    } else {
        read_and_plan(live, desired).await?
    };
    print_plan(&plan, format)?;
    let mut progress = progress_sink(format);

    if plan.is_empty() {
        if !args.delete {
            print_settings(desired, &mut progress);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        let _ = writeln!(progress, "Dry run: nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    if !global.yes && !confirm(&plan, args.delete)? {
        let _ = writeln!(progress, "Nothing was changed.");
        return Ok(ExitCode::FAILURE);
    }
    let report = apply(live, &plan, RetryPolicy::default(), &mut progress).await?;
    let _ = writeln!(
        progress,
        "Done: {} change(s) applied{}.",
        report.applied,
        if report.already_done > 0 {
            format!(", {} already in place", report.already_done)
        } else {
            String::new()
        }
    );
    if !args.delete {
        print_settings(desired, &mut progress);
    }
    Ok(ExitCode::SUCCESS)
}

async fn adopt_stack<L: Live + Stacks + Sync>(
    global: &GlobalArgs,
    args: &SetupArgs,
    live: &L,
    desired: &Desired,
    stack: &str,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let stack = if stack.is_empty() {
        format!("Karpenter-{}", desired.target.cluster)
    } else {
        stack.to_string()
    };
    let mut progress = progress_sink(format);
    let info = live.describe_stack(&stack).await?.with_context(|| {
        format!(
            "CloudFormation stack {stack} not found in {} (account {}); pass the stack's name: \
             --from-cloudformation NAME",
            desired.target.region, desired.target.account
        )
    })?;
    let rows = adoption_table(&info, &adoption_rows(&info, desired));
    let _ = write!(progress, "{rows}");
    let preview = plan_with_stale_rules(live, &adopting_stack(desired, &info), &stack).await?;
    print_plan(&preview, format)?;
    if args.dry_run {
        let _ = writeln!(progress, "Dry run: nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    if !global.yes {
        let _ = writeln!(
            progress,
            "Then stack {stack} is deleted with DeletionPolicy: Retain on every resource (the resources stay)."
        );
        if !confirm(&preview, false)? {
            let _ = writeln!(progress, "Nothing was changed.");
            return Ok(ExitCode::FAILURE);
        }
    }
    let (_, report) = adopt(live, desired, &stack, RetryPolicy::default(), &mut progress).await?;
    let _ = writeln!(
        progress,
        "Done: stack {stack} deleted (resources retained); {} change(s) applied.",
        report.applied
    );
    print_settings(desired, &mut progress);
    Ok(ExitCode::SUCCESS)
}

/// Where progress lines go: stdout under a table, stderr when stdout carries JSON or YAML.
fn progress_sink(format: OutputFormat) -> Box<dyn Write> {
    match format {
        OutputFormat::Table => Box::new(std::io::stdout()),
        _ => Box::new(std::io::stderr()),
    }
}

fn print_plan(plan: &Plan, format: OutputFormat) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Table => render::table(plan),
        OutputFormat::Json => super::output::to_json(plan)?,
        OutputFormat::Yaml => super::output::to_yaml(plan)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

fn print_settings(desired: &Desired, out: &mut dyn Write) {
    let _ = writeln!(out, "\nKarpenter settings (Helm values):");
    for (k, v) in desired.helm_settings() {
        let _ = writeln!(out, "  --set {k}={v}");
    }
    let _ = writeln!(
        out,
        "EC2NodeClass spec.role: {} (or spec.instanceProfile: {})",
        desired.node_role.name, desired.node_instance_profile.name
    );
    match &desired.controller_role {
        Some(role) => {
            let how = if desired.pod_identity.is_some() {
                "EKS Pod Identity"
            } else {
                "IRSA"
            };
            let _ = writeln!(
                out,
                "Controller role: {} ({how})",
                desired.target.role_arn(&role.name)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Controller role: not managed by this run. Attach these policies to the role \
                 Karpenter's service account uses (or re-run with --identity pod-identity|irsa):"
            );
            for p in &desired.controller_policies {
                let _ = writeln!(out, "  {}", p.arn);
            }
        }
    }
}

/// Ask on the terminal; refuse when stdin is not one.
fn confirm(plan: &Plan, delete: bool) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to change AWS without confirmation: stdin is not a terminal. \
             Re-run with --yes to apply, or with --dry-run to only show the plan"
        );
    }
    let (c, u, d) = plan.counts();
    eprint!(
        "{} account {} in {}: {c} to create, {u} to update, {d} to delete. Continue? [y/N] ",
        if delete { "Tear down in" } else { "Apply to" },
        plan.account,
        plan.region
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

//! `kubectl karpenter scale-to-zero`: take pools to zero and restore them; `schedule` prints
//! the CronJob/RBAC manifests that do it on a timetable. The logic lives in [`crate::scale`].
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use super::{GlobalArgs, OutputFormat};
use crate::scale::cluster::{self, KindFilter, Options, Selection};
use crate::scale::plan::{limits_text, Direction, Plan, PoolAction};
use crate::scale::schedule::{self, ScheduleSpec};

/// Pool selection, shared by the command and `schedule`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectionArgs {
    /// Pools (NodePools or Provisioners) by name
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Every pool in the cluster
    #[arg(long, conflicts_with_all = ["names", "selector"])]
    pub all: bool,
    /// Pools whose labels match this selector (kubectl syntax: `env=dev,team in (a,b)`)
    #[arg(short = 'l', long, value_name = "SELECTOR", conflicts_with = "names")]
    pub selector: Option<String>,
    /// Leave these pools out (repeatable or comma-separated)
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Only NodePools (karpenter.sh v1/v1beta1) or only Provisioners (v1alpha5)
    #[arg(long, value_enum)]
    pub kind: Option<KindFilter>,
}

impl SelectionArgs {
    fn to_selection(&self) -> Selection {
        Selection {
            names: self.names.clone(),
            all: self.all,
            selector: self.selector.clone(),
            exclude: self.exclude.clone(),
            kind: self.kind,
        }
    }

    /// The same selection as command-line arguments (for the CronJobs).
    fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.all {
            args.push("--all".to_string());
        }
        if let Some(s) = &self.selector {
            args.extend(["--selector".to_string(), s.clone()]);
        }
        if !self.exclude.is_empty() {
            args.extend(["--exclude".to_string(), self.exclude.join(",")]);
        }
        if let Some(k) = self.kind {
            let k = match k {
                KindFilter::Nodepool => "nodepool",
                KindFilter::Provisioner => "provisioner",
            };
            args.extend(["--kind".to_string(), k.to_string()]);
        }
        if !self.names.is_empty() {
            args.push("--".to_string());
            args.extend(self.names.iter().cloned());
        }
        args
    }
}

/// Arguments of `scale-to-zero`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "The original limits are kept in the annotation karpenter.kubectl.io/scale-to-zero-saved-limits \
                  until `--restore` puts them back.\n\nExamples:\n  \
                  kubectl karpenter scale-to-zero --all --dry-run\n  \
                  kubectl karpenter scale-to-zero -l env=dev --exclude system\n  \
                  kubectl karpenter scale-to-zero --restore --all\n  \
                  kubectl karpenter scale-to-zero schedule --down '30 22 * * 1-5' --up '0 7 * * 1-5' --time-zone Europe/Paris --all"
)]
pub struct ScaleToZeroArgs {
    #[command(subcommand)]
    pub command: Option<ScaleToZeroCommand>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Put back the recorded limits and remove the record (same as `kubectl karpenter scale-up`)
    #[arg(long)]
    pub restore: bool,
    /// With --restore: the limits for pools without a usable record (none, unreadable, or
    /// holding zero), e.g. `cpu=1000,memory=1000Gi`; pools with a record get the recorded ones
    #[arg(long, value_name = "NAME=QUANTITY,...", requires = "restore")]
    pub limits: Option<String>,
    /// Only block new capacity; keep the existing nodes
    #[arg(long, conflicts_with = "restore")]
    pub keep_nodes: bool,
    /// Also remove nodes with do-not-disrupt pods or blocked by a PodDisruptionBudget, and record
    /// a pool whose limits are already zero (its restore then puts back zero)
    #[arg(long, conflicts_with = "restore")]
    pub force: bool,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `scale-up` (the same as `scale-to-zero --restore`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ScaleUpArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// The limits for pools without a usable record, e.g. `cpu=1000,memory=1000Gi`
    #[arg(long, value_name = "NAME=QUANTITY,...")]
    pub limits: Option<String>,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

impl From<ScaleUpArgs> for ScaleToZeroArgs {
    fn from(a: ScaleUpArgs) -> Self {
        ScaleToZeroArgs {
            selection: a.selection,
            restore: true,
            limits: a.limits,
            dry_run: a.dry_run,
            ..Default::default()
        }
    }
}

/// Subcommands of `scale-to-zero`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ScaleToZeroCommand {
    /// Print a ServiceAccount, ClusterRole/Binding and two CronJobs that scale down and up on a schedule
    Schedule(ScheduleArgs),
}

/// Arguments of `scale-to-zero schedule`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScheduleArgs {
    /// When to scale down (cron, 5 fields)
    #[arg(long, value_name = "CRON")]
    pub down: String,
    /// When to restore (cron, 5 fields)
    #[arg(long, value_name = "CRON")]
    pub up: String,
    /// IANA time zone of both schedules
    #[arg(long, value_name = "TZ", default_value = "Etc/UTC")]
    pub time_zone: String,
    /// Image that runs kubectl-karpenter (default: ghcr.io/kubectl-karpenter/kubectl-karpenter:v<version>)
    #[arg(long)]
    pub image: Option<String>,
    /// Name of the ServiceAccount, ClusterRole(Binding) and prefix of the CronJobs
    #[arg(long, default_value = "karpenter-scale-to-zero")]
    pub name: String,
    /// The down job only blocks new capacity
    #[arg(long)]
    pub keep_nodes: bool,
    /// The down job also removes nodes blocked by do-not-disrupt pods or PDBs
    #[arg(long, conflicts_with = "keep_nodes")]
    pub force: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

/// The namespace of the schedule's ServiceAccount and CronJobs when `-n` is not given.
pub const DEFAULT_SCHEDULE_NAMESPACE: &str = "kube-system";

/// A confirmation callback: shown the plan, says whether to go ahead.
pub type Confirm = Box<dyn FnMut(&Plan) -> anyhow::Result<bool> + Send>;

/// The confirmation used by the CLI: `--yes` always proceeds; an interactive terminal asks;
/// otherwise refuse rather than hang.
pub fn confirmer(yes: bool, interactive: bool) -> Confirm {
    if yes {
        return Box::new(|_| Ok(true));
    }
    if interactive {
        return Box::new(|plan: &Plan| {
            let what = match plan.direction {
                Direction::Down => "Scale these pools to zero",
                Direction::Up => "Restore these pools",
            };
            Ok(dialoguer::Confirm::new()
                .with_prompt(format!("{what}?"))
                .default(false)
                .interact()?)
        });
    }
    Box::new(|_| {
        anyhow::bail!(
            "refusing to change the cluster without confirmation: stdin is not a terminal. \
             Pass --yes (as the scheduled CronJobs do), or --dry-run to only print the plan"
        )
    })
}

/// A selection that is not exactly one of NAME..., `--all` and a non-empty `-l` is a usage
/// error (exit 2, as clap's own conflicts are).
fn check_selection(sel: &SelectionArgs) -> anyhow::Result<()> {
    cluster::check_selection(&sel.to_selection())
        .map_err(|e| super::UsageError(e.to_string()).into())
}

/// Render the schedule manifests.
pub fn render_schedule(global: &GlobalArgs, args: &ScheduleArgs) -> anyhow::Result<String> {
    let sel = &args.selection;
    check_selection(sel)?;
    if let Some(s) = &sel.selector {
        crate::scale::selector::Selector::parse(s)?;
    }
    let valid_name = |n: &String| {
        !n.is_empty()
            && n.len() <= 253
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
    };
    if let Some(bad) = sel
        .names
        .iter()
        .chain(&sel.exclude)
        .find(|n| !valid_name(n))
    {
        anyhow::bail!("{bad:?} is not a valid pool name (lower-case letters, digits, '-' and '.')");
    }
    let mut down_args = Vec::new();
    if args.keep_nodes {
        down_args.push("--keep-nodes".to_string());
    }
    if args.force {
        down_args.push("--force".to_string());
    }
    let spec = ScheduleSpec {
        down: args.down.clone(),
        up: args.up.clone(),
        time_zone: args.time_zone.clone(),
        image: args.image.clone().unwrap_or_else(schedule::default_image),
        namespace: global
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULE_NAMESPACE.to_string()),
        name: args.name.clone(),
        selection_args: sel.to_args(),
        down_args,
    };
    Ok(schedule::render(&spec)?)
}

fn print_plan(plan: &Plan, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Table => plan.to_table(),
        OutputFormat::Yaml => super::output::to_yaml(plan)?,
        OutputFormat::Json => super::output::to_json(plan)?,
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// Run `scale-to-zero` (down or `--restore`) against `client`. The plan goes to `out` in the
/// chosen format; warnings and, for yaml/json, the progress lines go to `err`.
pub async fn execute(
    client: &kube::Client,
    global: &GlobalArgs,
    args: &ScaleToZeroArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    confirm: &mut Confirm,
) -> anyhow::Result<ExitCode> {
    let format = global.output.unwrap_or(OutputFormat::Table);
    check_selection(&args.selection)?;
    let restore_limits = match &args.limits {
        Some(text) => Some(
            crate::scale::record::parse_limits(text)
                .map_err(|e| super::UsageError(format!("--limits {text:?}: {e}")))?,
        ),
        None => None,
    };
    let opts = Options {
        direction: if args.restore {
            Direction::Up
        } else {
            Direction::Down
        },
        selection: args.selection.to_selection(),
        keep_nodes: args.keep_nodes,
        force: args.force,
        dry_run: args.dry_run,
        restore_limits,
    };
    let (plan, pools, warnings) = cluster::build_plan(client, &opts).await?;
    print_plan(&plan, format, out)?;
    for w in &warnings {
        writeln!(err, "warning: {w}")?;
    }
    // Pools left alone because of an error about them: reported, and the exit is non-zero once
    // the other pools are done.
    let refused = || -> anyhow::Result<ExitCode> {
        match plan.errors() {
            e if e.is_empty() => Ok(ExitCode::SUCCESS),
            e => Err(cluster::ScaleError::Refused(e).into()),
        }
    };
    if args.dry_run {
        writeln!(err, "dry run: nothing was changed")?;
        return refused();
    }
    if !plan.has_changes() {
        writeln!(err, "nothing to change")?;
        return refused();
    }
    if !confirm(&plan)? {
        writeln!(err, "aborted: nothing was changed")?;
        return Ok(ExitCode::FAILURE);
    }
    let (applied, result) = cluster::apply(client, &plan, &pools, &opts).await;
    let progress: &mut dyn Write = if format == OutputFormat::Table {
        out
    } else {
        err
    };
    for (p, a) in plan.pools.iter().zip(&applied) {
        let pool = format!("{}/{}", p.kind.to_lowercase(), p.name);
        if a.updated {
            let retried = if a.attempts > 1 {
                format!(" (after {} conflicts)", a.attempts - 1)
            } else {
                String::new()
            };
            let replicas = p
                .new_replicas
                .map(|r| format!(", replicas {r}"))
                .unwrap_or_default();
            let verb = match (plan.direction, p.action) {
                (Direction::Down, _) => "limits set to",
                (Direction::Up, PoolAction::RestoreFromLimits) => "limits set from --limits to",
                (Direction::Up, _) => "limits restored to",
            };
            writeln!(
                progress,
                "{pool}: {verb} {}{replicas}{retried}",
                limits_text(&p.new_limits)
            )?;
        }
        for d in &a.deleted {
            writeln!(
                progress,
                "{pool}: deleted {d}; Karpenter drains and terminates its node"
            )?;
        }
        for k in &a.kept {
            writeln!(progress, "{pool}: kept {k}")?;
        }
    }
    match (result, plan.errors()) {
        (Ok(()), _) => refused(),
        (Err(e), refused) if refused.is_empty() => Err(e.into()),
        (Err(cluster::ScaleError::Partial(mut errors)), refused) => {
            errors.push(cluster::ScaleError::Refused(refused));
            Err(cluster::ScaleError::Partial(errors).into())
        }
        (Err(e), refused) => {
            Err(cluster::ScaleError::Partial(vec![e, cluster::ScaleError::Refused(refused)]).into())
        }
    }
}

/// Entry point from the CLI dispatcher.
pub async fn run(global: &GlobalArgs, args: ScaleToZeroArgs) -> anyhow::Result<ExitCode> {
    if let Some(ScaleToZeroCommand::Schedule(s)) = &args.command {
        print!("{}", render_schedule(global, s)?);
        return Ok(ExitCode::SUCCESS);
    }
    let client = crate::cluster::client::client(&global.kube_options()).await?;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut confirm = confirmer(global.yes, interactive);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    execute(
        &client,
        global,
        &args,
        &mut stdout.lock(),
        &mut stderr.lock(),
        &mut confirm,
    )
    .await
}

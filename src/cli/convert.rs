//! `kubectl karpenter convert`: v1alpha5/v1alpha1/v1beta1 Karpenter objects → v1 (or v1beta1).
//!
//! Reads files, directories (`-R`), stdin (`-`) or the live cluster (`--from-cluster`),
//! converts everything in memory with `karpenter-convert`, self-checks every output against
//! the upstream CRD schema, prints `WARN` lines on stderr, and only then prints or writes.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use karpenter_convert::render::{self, Format};
use karpenter_convert::{CrdValidator, Document, Options, Target};

use super::{GlobalArgs, OutputFormat, UsageError};

/// Target API version for `--to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToVersion {
    /// karpenter.sh/v1 + karpenter.k8s.aws/v1 (Karpenter v1.0 and later)
    V1,
    /// karpenter.sh/v1beta1 + karpenter.k8s.aws/v1beta1 (what karpenter-convert produced)
    V1beta1,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  kubectl karpenter convert -f provisioner.yaml > nodepool.yaml\n  \
kubectl karpenter convert -f manifests/ -R --node-role KarpenterNodeRole-my-cluster --output-dir v1/\n  \
kubectl get provisioners,awsnodetemplates -o yaml | kubectl karpenter convert -f -\n  \
kubectl karpenter convert --from-cluster --strict"
)]
pub struct ConvertArgs {
    /// File or directory to convert, `-` for stdin (repeatable)
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub filename: Vec<PathBuf>,
    /// Also read subdirectories of the directories given with -f
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// API version to produce
    #[arg(long, value_enum, default_value = "v1", value_name = "VERSION")]
    pub to: ToVersion,
    /// Do not add the v1alpha5 default requirements (os, arch, capacity-type, instance category/generation)
    #[arg(long)]
    pub ignore_defaults: bool,
    /// IAM role for the EC2NodeClasses (replaces an instanceProfile and the $KARPENTER_NODE_ROLE placeholder)
    #[arg(long, value_name = "NAME")]
    pub node_role: Option<String>,
    /// Drop objects that are not Karpenter objects instead of passing them through
    #[arg(long)]
    pub only_karpenter: bool,
    /// Fail (exit 1, print nothing) if there is any warning
    #[arg(long)]
    pub strict: bool,
    /// Write one file per object into DIR instead of printing
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Read the live Provisioners, AWSNodeTemplates and v1beta1 objects from the cluster
    #[arg(long, conflicts_with = "filename")]
    pub from_cluster: bool,
}

/// Run `convert`.
pub fn run(global: &GlobalArgs, args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let format = match global.output {
        None | Some(OutputFormat::Yaml) => Format::Yaml,
        Some(OutputFormat::Json) => Format::Json,
        Some(OutputFormat::Table) => {
            return Err(UsageError(
                "convert prints manifests: use -o yaml (the default) or -o json, not -o table"
                    .into(),
            )
            .into())
        }
    };
    let docs = if args.from_cluster {
        super::runtime()?.block_on(read_cluster(global))?
    } else {
        if args.filename.is_empty() {
            return Err(UsageError(
                "must specify -f/--filename (a file, a directory, or - for stdin) or --from-cluster"
                    .into(),
            )
            .into());
        }
        read_inputs(&args.filename, args.recursive)?
    };
    if docs.is_empty() {
        if args.from_cluster {
            bail!(
                "no objects passed to convert: the cluster has no v1alpha5 Provisioners, v1alpha1 \
                 AWSNodeTemplates or v1beta1 NodePools/EC2NodeClasses (nothing left to convert)"
            );
        }
        let inputs: Vec<String> = args
            .filename
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        bail!(
            "no objects passed to convert: {} held no Kubernetes objects (empty, or only comments); \
             pass manifests with apiVersion and kind",
            inputs.join(", ")
        );
    }
    let validator = CrdValidator;
    let options = Options {
        target: match args.to {
            ToVersion::V1 => Target::V1,
            ToVersion::V1beta1 => Target::V1beta1,
        },
        ignore_defaults: args.ignore_defaults,
        node_role: args.node_role.clone(),
        only_karpenter: args.only_karpenter,
        validator: Some(&validator),
    };
    let conversion = karpenter_convert::convert(&docs, &options)?;
    for w in &conversion.warnings {
        eprintln!("{w}");
    }
    if args.strict && !conversion.warnings.is_empty() {
        bail!(
            "{} warning(s) and --strict is set: nothing was written; fix the inputs or drop --strict",
            conversion.warnings.len()
        );
    }
    if conversion.objects.is_empty() {
        bail!("nothing to output: no object was converted or passed through");
    }
    match &args.output_dir {
        Some(dir) => write_dir(dir, &conversion.objects, format)?,
        None => {
            let text = render::render_all(&conversion.objects, format)?;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Read every `-f` argument: `-` (stdin, once), files, and directories of `.yaml/.yml/.json`.
fn read_inputs(paths: &[PathBuf], recursive: bool) -> anyhow::Result<Vec<Document>> {
    let mut docs = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        let shown = path.display().to_string();
        if shown == "-" {
            if stdin_read {
                bail!("-f - given twice: stdin can be read once");
            }
            stdin_read = true;
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin (-f -)")?;
            docs.extend(karpenter_convert::parse_documents("-", &text)?);
            continue;
        }
        if shown.starts_with("http://") || shown.starts_with("https://") {
            bail!("{shown}: URLs are not read (convert is offline); download the file and pass its path");
        }
        let meta = std::fs::metadata(path)
            .with_context(|| format!("{shown}: cannot read (check the path given to -f)"))?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, recursive, &mut files)?;
            if files.is_empty() {
                bail!(
                    "{shown}: no .yaml, .yml or .json files{}",
                    if recursive {
                        ""
                    } else {
                        " (use -R for subdirectories)"
                    }
                );
            }
            files
        } else {
            vec![path.clone()]
        };
        for file in files {
            let name = file.display().to_string();
            let bytes = std::fs::read(&file).with_context(|| format!("{name}: cannot read"))?;
            let text =
                String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{name}: not UTF-8 text"))?;
            docs.extend(karpenter_convert::parse_documents(&name, &text)?);
        }
    }
    Ok(docs)
}

fn collect_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list directory", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: cannot list directory", dir.display()))?;
    entries.sort();
    for path in entries {
        // Symlinked directories are not followed (no loops); symlinked files are read.
        let is_real_dir = std::fs::symlink_metadata(&path)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if is_real_dir {
            if recursive {
                collect_dir(&path, recursive, out)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Validate everything, then write: temp files in `dir` first, renamed only once all are written.
fn write_dir(
    dir: &Path,
    objects: &[karpenter_convert::OutputObject],
    format: Format,
) -> anyhow::Result<()> {
    let names = render::file_names(objects, format);
    let rendered: Vec<String> = objects
        .iter()
        .map(|o| render::render_one(&o.value, format))
        .collect::<Result<_, _>>()?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--output-dir {}: cannot create", dir.display()))?;
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for (name, text) in names.iter().zip(&rendered) {
            let final_path = dir.join(name);
            let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
            std::fs::write(&temp, text)
                .with_context(|| format!("{}: cannot write", temp.display()))?;
            temps.push((temp, final_path));
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (temp, _) in &temps {
            let _ = std::fs::remove_file(temp);
        }
        return Err(e);
    }
    for (temp, final_path) in &temps {
        std::fs::rename(temp, final_path)
            .with_context(|| format!("{}: cannot write", final_path.display()))?;
    }
    for (_, final_path) in &temps {
        eprintln!("wrote {}", final_path.display());
    }
    Ok(())
}

/// The old Karpenter kinds read by `--from-cluster`: (group, version, kind, plural).
const CLUSTER_KINDS: &[(&str, &str, &str, &str)] = &[
    ("karpenter.sh", "v1alpha5", "Provisioner", "provisioners"),
    (
        "karpenter.k8s.aws",
        "v1alpha1",
        "AWSNodeTemplate",
        "awsnodetemplates",
    ),
    ("karpenter.sh", "v1beta1", "NodePool", "nodepools"),
    (
        "karpenter.k8s.aws",
        "v1beta1",
        "EC2NodeClass",
        "ec2nodeclasses",
    ),
];

/// List the old Karpenter objects from the cluster. Kinds the cluster does not serve are skipped.
async fn read_cluster(global: &GlobalArgs) -> anyhow::Result<Vec<Document>> {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
    let client = crate::cluster::client::client(&global.kube_options()).await?;
    let mut docs = Vec::new();
    for (group, version, kind, plural) in CLUSTER_KINDS {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "listing {plural}.{group}/{version} from the cluster"
                )))
            }
        };
        for (n, mut item) in list.items.into_iter().enumerate() {
            item.types = Some(kube::api::TypeMeta {
                api_version: format!("{group}/{version}"),
                kind: kind.to_string(),
            });
            let value = serde_json::to_value(&item)?;
            let location = karpenter_convert::Location::new(format!("cluster/{plural}"), n + 1);
            docs.push(Document {
                location,
                value: karpenter_convert::strip_server_fields(value),
            });
        }
    }
    Ok(docs)
}

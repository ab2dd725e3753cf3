//! Build a kube-rs `Client` the way kubectl does: `--kubeconfig`, else `$KUBECONFIG`, else
//! `~/.kube/config`, else the in-cluster service account (for CronJobs); `--context` picks a
//! context. Failures become one paragraph that says what was looked for and where.
//!
//! The CLI turns its flags into [`KubeOptions`]; nothing here knows the command line.
use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Where to find the cluster: kubectl's `--kubeconfig`, `--context` and `--namespace`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeOptions {
    /// `--kubeconfig`; otherwise `$KUBECONFIG`, `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; otherwise the kubeconfig's current context.
    pub context: Option<String>,
    /// `--namespace`; otherwise the context's namespace.
    pub namespace: Option<String>,
}

/// Why no Kubernetes client could be built.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct KubeconfigProblem {
    /// What was looked for, where, and how to fix it (one paragraph).
    pub message: String,
}

/// Where a kubeconfig would be read from, in kubectl's order.
///
/// Like kubectl, files listed in `$KUBECONFIG` that do not exist (and empty entries) are skipped;
/// a missing `--kubeconfig` file is an error when it is read.
fn kubeconfig_source(opts: &KubeOptions) -> (String, Option<Vec<PathBuf>>) {
    if let Some(path) = &opts.kubeconfig {
        return (
            format!("--kubeconfig {}", path.display()),
            Some(vec![path.clone()]),
        );
    }
    if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let described = format!("$KUBECONFIG={}", value.to_string_lossy());
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty() && p.exists())
            .collect();
        if paths.is_empty() {
            return (
                format!("{described} (no listed file exists)"),
                Some(Vec::new()),
            );
        }
        return (described, Some(paths));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let default = home.join(".kube").join("config");
    if default.exists() {
        return (default.display().to_string(), Some(vec![default]));
    }
    (
        format!(
            "{} (absent), then the in-cluster service account",
            default.display()
        ),
        None,
    )
}

/// The first line of an error's text: parsers append multi-line source snippets, which would break the
/// one-paragraph message.
fn first_line(err: &dyn std::fmt::Display) -> String {
    let text = err.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// Load the kube-rs configuration for `opts`.
pub async fn config(opts: &KubeOptions) -> Result<kube::Config, KubeconfigProblem> {
    let (described, paths) = kubeconfig_source(opts);
    let hint = "Pass --kubeconfig PATH or set KUBECONFIG, or write one with \
                `aws eks update-kubeconfig --name <cluster>`.";
    let mut config = match paths {
        Some(paths) => {
            let mut merged: Option<Kubeconfig> = None;
            for path in &paths {
                let kc = Kubeconfig::read_from(path).map_err(|e| KubeconfigProblem {
                    message: format!(
                        "cannot read the kubeconfig {}: {}. Looked at {described}. {hint}",
                        path.display(),
                        first_line(&e)
                    ),
                })?;
                merged = Some(match merged {
                    None => kc,
                    Some(prev) => prev.merge(kc).map_err(|e| KubeconfigProblem {
                        message: format!(
                            "cannot merge the kubeconfigs in {described}: {}. {hint}",
                            first_line(&e)
                        ),
                    })?,
                });
            }
            let Some(kc) = merged else {
                return Err(KubeconfigProblem {
                    message: format!("no kubeconfig to read: looked at {described}. {hint}"),
                });
            };
            let options = KubeConfigOptions {
                context: opts.context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| {
                    let context = opts
                        .context
                        .as_deref()
                        .map(|c| format!("context {c:?}"))
                        .unwrap_or_else(|| "the current context".to_string());
                    KubeconfigProblem {
                        message: format!(
                            "the kubeconfig from {described} is not usable with {context}: {}. {hint}",
                            first_line(&e)
                        ),
                    }
                })?
        }
        None => kube::Config::incluster().map_err(|e| KubeconfigProblem {
            message: format!(
                "no Kubernetes configuration found: looked for {described}, and the in-cluster \
                 service account is not available ({}). {hint}",
                first_line(&e)
            ),
        })?,
    };
    if let Some(ns) = &opts.namespace {
        config.default_namespace = ns.clone();
    }
    Ok(config)
}

/// A kube-rs client for `opts`.
pub async fn client(opts: &KubeOptions) -> anyhow::Result<kube::Client> {
    let config = config(opts).await?;
    Ok(kube::Client::try_from(config)?)
}

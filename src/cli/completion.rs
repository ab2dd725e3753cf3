//! `kubectl karpenter completion <shell>`: print a completion script generated from the CLI itself.
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// Arguments of `completion`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to generate the script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The completion script for `shell`, for the binary name `kubectl-karpenter`.
pub fn script(shell: Shell) -> String {
    let mut cmd = super::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kubectl-karpenter", &mut buf);
    String::from_utf8(buf).expect("clap_complete writes UTF-8")
}

/// Run `completion`: print the script on stdout.
pub fn run(args: CompletionArgs) -> anyhow::Result<ExitCode> {
    print!("{}", script(args.shell));
    Ok(ExitCode::SUCCESS)
}

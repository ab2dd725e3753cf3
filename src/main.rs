//! `kubectl-karpenter`: clap entry point. Parsing and dispatch live in `kubectl_karpenter::cli`.
fn main() -> std::process::ExitCode {
    kubectl_karpenter::cli::main()
}

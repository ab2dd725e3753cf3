//! Output formats shared by every subcommand (`-o table|yaml|json`).
use serde::Serialize;

/// The `-o` output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable table
    Table,
    /// YAML (deterministic key order)
    Yaml,
    /// JSON (deterministic key order, pretty-printed)
    Json,
}

/// Serialize `value` as pretty JSON with a trailing newline.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// Serialize `value` as YAML.
pub fn to_yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(value)?)
}

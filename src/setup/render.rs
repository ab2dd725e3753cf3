//! Plan output: an aligned table for people, JSON/YAML (the [`Plan`] serialization) for machines.
use std::fmt::Write as _;

use super::plan::{ActionKind, Plan};

/// Render the plan as a table (`KIND NAME ACTION DETAIL`) followed by a one-line summary.
pub fn table(plan: &Plan) -> String {
    let header = ["KIND", "NAME", "ACTION", "DETAIL"];
    let rows: Vec<[&str; 4]> = plan
        .actions
        .iter()
        .map(|a| {
            [
                a.kind.as_str(),
                a.name.as_str(),
                a.action.as_str(),
                a.detail.as_str(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line = format!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out, "{}", summary(plan));
    out
}

/// `Plan for cluster C in R (account A): 3 to create, 1 to update, 0 to delete.` or `... nothing to change.`
pub fn summary(plan: &Plan) -> String {
    let (c, u, d) = plan.counts();
    let head = format!(
        "Plan for cluster {} in {} (account {}):",
        plan.cluster, plan.region, plan.account
    );
    if c + u + d == 0 {
        format!("{head} nothing to change.")
    } else {
        format!("{head} {c} to create, {u} to update, {d} to delete.")
    }
}

/// The plan as pretty JSON with a trailing newline.
pub fn json(plan: &Plan) -> String {
    let mut s =
        serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\":{e:?}}}"));
    s.push('\n');
    s
}

/// A short verb for progress lines.
pub fn verb(action: ActionKind) -> &'static str {
    match action {
        ActionKind::Create => "creating",
        ActionKind::Update => "updating",
        ActionKind::Delete => "deleting",
        ActionKind::None => "keeping",
    }
}

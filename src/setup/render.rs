//! Plan output for people: an aligned table and progress verbs. Machines get the [`Plan`]
//! serialization (the CLI prints it as JSON or YAML).
use std::fmt::Write as _;

use super::plan::{ActionKind, Plan};

/// Render the plan as a table (`KIND NAME ACTION DETAIL`) followed by a one-line summary.
pub fn table(plan: &Plan) -> String {
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
    let mut out = aligned(["KIND", "NAME", "ACTION", "DETAIL"], &rows);
    let _ = writeln!(out, "{}", summary(plan));
    out
}

/// Lay `rows` out under `header` in columns two spaces apart, each as wide as its widest cell (the
/// last column is not padded; trailing spaces are trimmed).
pub fn aligned<const N: usize>(header: [&str; N], rows: &[[&str; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 < N {
                let _ = write!(line, "{cell:w$}  ", w = widths[i]);
            } else {
                line.push_str(cell);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
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

/// A short verb for progress lines.
pub fn verb(action: ActionKind) -> &'static str {
    match action {
        ActionKind::Create => "creating",
        ActionKind::Update => "updating",
        ActionKind::Delete => "deleting",
        ActionKind::None => "keeping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_by_characters_and_lines_have_no_trailing_spaces() {
        let out = aligned(["A", "B", "C"], &[["ä-long", "x", ""], ["b", "yy", "z"]]);
        assert_eq!(out, "A       B   C\nä-long  x\nb       yy  z\n");
    }
}

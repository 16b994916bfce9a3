//! Markdown for CI summaries (GitHub's `$GITHUB_STEP_SUMMARY`, a GitLab merge
//! request note): a verdict, a summary table, counts by kind, and the first
//! differences.

use std::fmt::Write;

use crate::diff::DifferenceKind;
use crate::report::Report;

/// How many differences the Markdown lists; the JSON and JUnit reports hold
/// the rest.
pub const MARKDOWN_MAX_ROWS: usize = 50;

/// Escapes a table cell: pipes and newlines would break the table, and
/// backticks, angle brackets and asterisks would start markup.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' | '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The report as GitHub-flavoured Markdown.
pub fn markdown(report: &Report) -> String {
    let mut s = String::new();
    let verdict = match report.exit_code() {
        0 => "✅ **clean**: the new schema holds exactly the legacy rows".to_string(),
        1 => format!("❌ **{} differences**", report.total_differences),
        _ => "⚠️ **could not run**: the verification is incomplete".to_string(),
    };
    let _ = writeln!(s, "## switchyard verify: {}\n\n{verdict}\n", cell(&report.database));
    summary_table(&mut s, report);
    if report.total_differences > 0 {
        differences_tables(&mut s, report);
    }
    for e in &report.errors {
        let _ = writeln!(s, "\n> **error:** {}", cell(e));
    }
    s
}

/// Rows, chunks, each check, I3 violations, warnings and time.
fn summary_table(s: &mut String, report: &Report) {
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| Legacy rows (todos) | {} |", report.rows.legacy);
    let _ = writeln!(
        s,
        "| New rows (todos_active + todos_archived) | {} + {} = {} |",
        report.rows.active,
        report.rows.archived,
        report.rows.new_side()
    );
    let _ = writeln!(s, "| Chunks (differing) | {} ({}) |", report.chunks.len(), report.differing_chunks());
    for c in &report.checks {
        let state = match (&c.error, c.differences) {
            (Some(e), _) => format!("error: {}", cell(e)),
            (None, 0) => "ok".into(),
            (None, n) => format!("{n} differences"),
        };
        let _ = writeln!(s, "| Check {} | {state} |", cell(&c.name));
    }
    let _ = writeln!(s, "| I3 violations | {} |", report.i3_violations);
    let _ = writeln!(s, "| Not yet archived (warning) | {} |", report.warnings.not_yet_archived);
    let _ = writeln!(s, "| Archived within retention (warning) | {} |", report.warnings.archived_within_retention);
    let _ = writeln!(
        s,
        "| Time | {:.1} s ({:.0} rows/s, {} jobs) |",
        report.elapsed_seconds, report.rows_per_second, report.settings.jobs
    );
}

/// Counts by kind, then the first [`MARKDOWN_MAX_ROWS`] differences.
fn differences_tables(s: &mut String, report: &Report) {
    let _ = writeln!(s, "\n| Kind | Count | Meaning |\n|---|---:|---|");
    for k in DifferenceKind::ALL {
        let n = report.count(k);
        if n > 0 {
            let _ = writeln!(s, "| `{}` | {n} | {} |", k.as_str(), cell(k.explain()));
        }
    }
    let _ = writeln!(s, "\n| Id | Kind | Columns | Table | Detail |\n|---|---|---|---|---|");
    for d in report.differences.iter().take(MARKDOWN_MAX_ROWS) {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} |",
            cell(&d.id),
            d.kind,
            cell(&d.columns.join(", ")),
            cell(d.table.as_deref().unwrap_or("")),
            cell(d.detail.as_deref().unwrap_or(""))
        );
    }
    let listed = report.differences.len().min(MARKDOWN_MAX_ROWS) as u64;
    if report.total_differences > listed {
        let _ = writeln!(
            s,
            "\n{} more differences are in the JSON and JUnit reports (up to --max-differences).",
            report.total_differences - listed
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    #[test]
    fn summary_table_and_difference_rows() {
        let m = markdown(&fixtures::dirty());
        assert!(m.contains("❌ **3 differences**"), "{m}");
        assert!(m.contains("| Legacy rows (todos) | 20 |"), "{m}");
        assert!(m.contains("| Chunks (differing) | 2 (1) |"), "{m}");
        assert!(m.contains("| `different_values` | 1 |"), "{m}");
        assert!(
            m.contains("| 8b000000-0000-0000-0000-000000000002 | `different_values` | title, tags | todos\\_active |"),
            "{m}"
        );
    }

    #[test]
    fn cells_cannot_break_the_table() {
        let m = markdown(&fixtures::dirty());
        let row = m.lines().find(|l| l.contains("8b000000")).expect("row");
        // 6 unescaped pipes: the 5 columns' borders.
        let unescaped = row.replace("\\|", "").matches('|').count();
        assert_eq!(unescaped, 6, "{row}");
        assert!(row.contains("&lt;b&gt;"), "{row}");
    }

    #[test]
    fn clean_report_is_a_green_verdict() {
        assert!(markdown(&fixtures::clean()).contains("✅ **clean**"));
    }
}

//! The human report: a verdict first, then counts, then the differences.

use std::fmt::Write;

use crate::diff::DifferenceKind;
use crate::report::Report;

/// The report as plain text for a terminal or a log.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    let verdict = match report.exit_code() {
        0 => "CLEAN: the new schema holds exactly the legacy rows".to_string(),
        1 => format!("DIFFERENCES: {} found", report.total_differences),
        _ => "COULD NOT RUN: the verification is incomplete".to_string(),
    };
    let _ = writeln!(s, "switchyard verify of {}: {verdict}", report.database);
    let _ = writeln!(
        s,
        "rows compared: legacy {}, new {} (todos_active {}, todos_archived {})",
        report.rows.legacy,
        report.rows.new_side(),
        report.rows.active,
        report.rows.archived
    );
    let _ = writeln!(
        s,
        "chunks: {} ({} differing), {:.1} s, {:.0} rows/s, {} jobs",
        report.chunks.len(),
        report.differing_chunks(),
        report.elapsed_seconds,
        report.rows_per_second,
        report.settings.jobs
    );
    checks(&mut s, report);
    if report.total_differences > 0 {
        differences(&mut s, report);
    }
    let w = report.warnings;
    if w.not_yet_archived > 0 || w.archived_within_retention > 0 {
        let _ = writeln!(
            s,
            "warnings (not differences): {} done todos past the {}-day retention still in todos_active (archival pending); {} archived todos completed within the retention",
            w.not_yet_archived, report.settings.retention_days, w.archived_within_retention
        );
    }
    for e in &report.errors {
        let _ = writeln!(s, "error: {e}");
    }
    s
}

/// One line per whole-table check and representative read.
fn checks(s: &mut String, report: &Report) {
    for c in &report.checks {
        let state = match (&c.error, c.differences) {
            (Some(e), _) => format!("error: {e}"),
            (None, 0) => "ok".to_string(),
            (None, n) => format!("{n} differences"),
        };
        let detail = c.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
        let _ = writeln!(s, "check {}: {state}{detail}", c.name);
    }
}

/// Counts by kind, then each listed difference and how many were not listed.
fn differences(s: &mut String, report: &Report) {
    let _ = writeln!(s, "differences by kind:");
    for k in DifferenceKind::ALL {
        let n = report.count(k);
        if n > 0 {
            let _ = writeln!(s, "  {:<28} {n:>8}  {}", k.as_str(), k.explain());
        }
    }
    let _ = writeln!(s, "I3 violations: {}", report.i3_violations);
    for d in &report.differences {
        let _ = write!(s, "  {} {}", d.kind, d.id);
        if !d.columns.is_empty() {
            let _ = write!(s, " columns: {}", d.columns.join(", "));
        }
        if let Some(t) = &d.table {
            let _ = write!(s, " in {t}");
        }
        if let Some(detail) = &d.detail {
            let _ = write!(s, " ({detail})");
        }
        let _ = writeln!(s, " [{}]", d.check);
    }
    if report.differences_truncated {
        let _ = writeln!(
            s,
            "  ... {} more not listed (--max-differences {})",
            report.total_differences - report.differences.len() as u64,
            report.settings.max_differences
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    #[test]
    fn dirty_report_gives_verdict_counts_and_each_difference() {
        let t = text(&fixtures::dirty());
        assert!(t.starts_with("switchyard verify of app: DIFFERENCES: 3 found"), "{t}");
        assert!(t.contains("rows compared: legacy 20, new 19 (todos_active 15, todos_archived 4)"), "{t}");
        assert!(
            t.contains("different_values 8b000000-0000-0000-0000-000000000002 columns: title, tags in todos_active"),
            "{t}"
        );
        assert!(t.contains("check depth: 1 differences"), "{t}");
    }

    #[test]
    fn clean_report_says_clean() {
        let t = text(&fixtures::clean());
        assert!(t.contains("CLEAN"), "{t}");
        assert!(!t.contains("differences by kind"), "{t}");
    }
}

//! The verification report: what was compared, what differs, how long it
//! took. Pure data; [`crate::render`] turns it into text, JSON, JUnit XML or
//! Markdown, and [`crate::runs`] stores its summary in
//! `switchyard.verify_runs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::diff::{Difference, DifferenceKind};

/// Exit status of `switchyard verify`: no differences.
pub const EXIT_CLEAN: u8 = 0;
/// Exit status of `switchyard verify`: differences found.
pub const EXIT_DIFFERENCES: u8 = 1;
/// Exit status of `switchyard verify`: the verification could not run (fully).
pub const EXIT_COULD_NOT_RUN: u8 = 2;

/// Settings the run used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub jobs: usize,
    pub chunk_size: u64,
    pub max_rows_per_sec: Option<u64>,
    pub retention_days: u32,
    pub max_differences: usize,
}

/// Rows read on each side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Rows of legacy `todos`.
    pub legacy: u64,
    /// Rows of `todos_active`.
    pub active: u64,
    /// Rows of `todos_archived`.
    pub archived: u64,
}

impl RowCounts {
    /// Rows on the new side (active + archived).
    pub fn new_side(&self) -> u64 {
        self.active + self.archived
    }
}

/// Counts that are not differences: the schedule, not the data, is behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warnings {
    /// Done rows in `todos_active` completed longer ago than the retention:
    /// the next archival run moves them.
    pub not_yet_archived: u64,
    /// Rows in `todos_archived` completed within the retention (or never):
    /// archived by an earlier, shorter retention, or by hand.
    pub archived_within_retention: u64,
}

/// One key range compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkResult {
    /// 1-based position in key order.
    pub index: usize,
    /// First key of the range (inclusive).
    pub lo: String,
    /// Last key of the range (inclusive).
    pub hi: String,
    pub legacy_rows: u64,
    pub active_rows: u64,
    pub archived_rows: u64,
    /// Counts and hashes agreed and no archived row was not done.
    pub matched: bool,
    /// Differences the drill-down found in this range.
    pub differences: u64,
    pub seconds: f64,
}

impl ChunkResult {
    /// The check name differences of this chunk carry.
    pub fn name(&self) -> String {
        chunk_name(self.index)
    }
}

/// The check name of chunk `index`.
pub fn chunk_name(index: usize) -> String {
    format!("chunk {index}")
}

/// One whole-table check (depth) or representative read (`--queries`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `depth`, or `query NAME`.
    pub name: String,
    pub differences: u64,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Set when the check could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CheckResult {
    /// The run's error line for a check that could not run: `NAME: error`.
    pub fn run_error(&self) -> Option<String> {
        self.error.as_ref().map(|e| format!("{}: {e}", self.name))
    }
}

/// Everything one `switchyard verify` run found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `switchyard verify <version>`.
    pub tool: String,
    /// The database verified (its name, never the URL with its password).
    pub database: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    pub elapsed_seconds: f64,
    /// No differences and no errors.
    pub clean: bool,
    pub settings: Settings,
    /// Rows read on each side by the chunk comparison.
    pub rows: RowCounts,
    /// Legacy rows compared per second of the whole run.
    pub rows_per_second: f64,
    pub chunks: Vec<ChunkResult>,
    pub checks: Vec<CheckResult>,
    /// Differences of each kind (every kind present, zeros included).
    pub difference_counts: BTreeMap<String, u64>,
    pub total_differences: u64,
    /// Ids in both todos_active and todos_archived.
    pub i3_violations: u64,
    /// The differences, at most `settings.max_differences` of them.
    pub differences: Vec<Difference>,
    /// More differences were found than are listed.
    pub differences_truncated: bool,
    pub warnings: Warnings,
    /// What kept (part of) the verification from running.
    pub errors: Vec<String>,
}

impl Report {
    /// An empty report with every difference kind counted at zero.
    pub fn new(tool: impl Into<String>, database: impl Into<String>, settings: Settings) -> Self {
        Report {
            tool: tool.into(),
            database: database.into(),
            settings,
            difference_counts: DifferenceKind::ALL.iter().map(|k| (k.as_str().to_string(), 0)).collect(),
            clean: true,
            ..Report::default()
        }
    }

    /// Counts a difference, and lists it while under `max_differences`.
    pub fn add_difference(&mut self, d: Difference) {
        *self.difference_counts.entry(d.kind.as_str().to_string()).or_default() += 1;
        self.total_differences += 1;
        if d.kind == DifferenceKind::InBothActiveAndArchived {
            self.i3_violations += 1;
        }
        if self.differences.len() < self.settings.max_differences {
            self.differences.push(d);
        } else {
            self.differences_truncated = true;
        }
        self.clean = false;
    }

    /// Counts `n` differences of `kind` that were found but not fetched.
    pub fn add_unlisted(&mut self, kind: DifferenceKind, n: u64) {
        if n == 0 {
            return;
        }
        *self.difference_counts.entry(kind.as_str().to_string()).or_default() += n;
        self.total_differences += n;
        if kind == DifferenceKind::InBothActiveAndArchived {
            self.i3_violations += n;
        }
        self.differences_truncated = true;
        self.clean = false;
    }

    /// Records something that kept the verification from running fully.
    pub fn add_error(&mut self, e: impl Into<String>) {
        self.errors.push(e.into());
        self.clean = false;
    }

    /// Records a whole-table check or representative read; one that could
    /// not run is also an error of the run ([`CheckResult::run_error`]).
    pub fn add_check(&mut self, check: CheckResult) {
        if let Some(e) = check.run_error() {
            self.add_error(e);
        }
        self.checks.push(check);
    }

    /// How many of a kind were found.
    pub fn count(&self, kind: DifferenceKind) -> u64 {
        self.difference_counts.get(kind.as_str()).copied().unwrap_or(0)
    }

    /// 0 clean, 1 differences, 2 could not run (errors win over differences:
    /// a partial run proves nothing either way).
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            EXIT_COULD_NOT_RUN
        } else if self.total_differences > 0 {
            EXIT_DIFFERENCES
        } else {
            EXIT_CLEAN
        }
    }

    /// Chunks whose counts or hashes disagreed.
    pub fn differing_chunks(&self) -> usize {
        self.chunks.iter().filter(|c| !c.matched).count()
    }

    /// The listed differences a check found.
    pub fn differences_of<'a>(&'a self, check: &'a str) -> impl Iterator<Item = &'a Difference> + 'a {
        self.differences.iter().filter(move |d| d.check == check)
    }

    /// The summary stored in `switchyard.verify_runs.summary`: the report
    /// without the per-chunk list, with at most 100 differences.
    pub fn summary(&self) -> serde_json::Value {
        let mut short = self.clone();
        short.chunks.clear();
        short.differences.truncate(100);
        let mut v = serde_json::to_value(&short).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("chunk_count".into(), self.chunks.len().into());
            o.insert("differing_chunks".into(), self.differing_chunks().into());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(kind: DifferenceKind, id: &str) -> Difference {
        Difference { kind, id: id.into(), columns: vec![], table: None, detail: None, check: "chunk 1".into() }
    }

    #[test]
    fn differences_are_counted_all_but_listed_up_to_the_cap() {
        let mut r = Report::new("t", "db", Settings { max_differences: 2, ..Settings::default() });
        assert_eq!(r.exit_code(), EXIT_CLEAN);
        for i in 0..3 {
            r.add_difference(d(DifferenceKind::MissingInNew, &i.to_string()));
        }
        r.add_difference(d(DifferenceKind::InBothActiveAndArchived, "x"));
        assert_eq!(r.total_differences, 4);
        assert_eq!(r.differences.len(), 2);
        assert!(r.differences_truncated);
        assert_eq!(r.count(DifferenceKind::MissingInNew), 3);
        assert_eq!(r.i3_violations, 1);
        assert_eq!(r.exit_code(), EXIT_DIFFERENCES);
        assert!(!r.clean);
    }

    #[test]
    fn errors_mean_could_not_run() {
        let mut r = Report::new("t", "db", Settings::default());
        r.add_difference(d(DifferenceKind::WrongDepth, "a"));
        r.add_error("connection lost");
        assert_eq!(r.exit_code(), EXIT_COULD_NOT_RUN);
    }

    #[test]
    fn summary_leaves_out_chunks_but_counts_them() {
        let mut r = Report::new("t", "db", Settings::default());
        r.chunks.push(ChunkResult { index: 1, matched: false, ..ChunkResult::default() });
        let s = r.summary();
        assert_eq!(s["chunk_count"], 1);
        assert_eq!(s["differing_chunks"], 1);
        assert_eq!(s["chunks"].as_array().map(Vec::len), Some(0));
        assert_eq!(s["difference_counts"]["wrong_depth"], 0);
    }
}

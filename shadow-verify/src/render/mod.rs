//! Report renderers: human text, JSON (the [`Report`] as serde sees it),
//! JUnit XML (for CI test tabs) and Markdown (for CI job summaries).

mod junit;
mod markdown;
mod text;

use std::path::Path;
use std::str::FromStr;

use crate::report::Report;

pub use junit::{junit, xml_escape};
pub use markdown::markdown;
pub use text::text;

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Junit,
    Markdown,
}

impl Format {
    /// The format a file name suggests: `.json`, `.xml` (JUnit), `.md` /
    /// `.markdown`; anything else is text.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Format::Json,
            Some("xml") | Some("junit") => Format::Junit,
            Some("md") | Some("markdown") => Format::Markdown,
            _ => Format::Text,
        }
    }

    /// Renders `report` in this format.
    pub fn render(self, report: &Report) -> String {
        match self {
            Format::Text => text(report),
            Format::Json => json(report),
            Format::Junit => junit(report),
            Format::Markdown => markdown(report),
        }
    }
}

/// Why a format name was refused.
#[derive(Debug, thiserror::Error)]
#[error("unknown report format {0:?} (expected text, json, junit or markdown)")]
pub struct UnknownFormat(String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "txt" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "junit" | "xml" => Ok(Format::Junit),
            "markdown" | "md" => Ok(Format::Markdown),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

/// The report as pretty-printed JSON, ending in a newline.
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
pub(crate) mod fixtures {
    use crate::diff::{Difference, DifferenceKind};
    use crate::report::{CheckResult, ChunkResult, Report, Settings};

    /// A report with one clean and one differing chunk, a failed depth check
    /// and hostile characters in the details.
    pub fn dirty() -> Report {
        let mut r = Report::new(
            "switchyard verify 0.1.0",
            "app",
            Settings { jobs: 2, chunk_size: 10, max_differences: 10, retention_days: 30, max_rows_per_sec: None },
        );
        r.rows.legacy = 20;
        r.rows.active = 15;
        r.rows.archived = 4;
        r.chunks.push(ChunkResult {
            index: 1,
            lo: "00000000-0000-0000-0000-000000000000".into(),
            hi: "7fffffff-ffff-ffff-ffff-ffffffffffff".into(),
            legacy_rows: 10,
            active_rows: 8,
            archived_rows: 2,
            matched: true,
            differences: 0,
            seconds: 0.01,
        });
        r.chunks.push(ChunkResult {
            index: 2,
            lo: "80000000-0000-0000-0000-000000000000".into(),
            hi: "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
            legacy_rows: 10,
            active_rows: 7,
            archived_rows: 2,
            matched: false,
            differences: 2,
            seconds: 0.02,
        });
        r.checks.push(CheckResult { name: "depth".into(), differences: 1, seconds: 0.03, detail: None, error: None });
        r.add_difference(Difference {
            kind: DifferenceKind::MissingInNew,
            id: "8a000000-0000-0000-0000-000000000001".into(),
            columns: vec![],
            table: None,
            detail: None,
            check: "chunk 2".into(),
        });
        r.add_difference(Difference {
            kind: DifferenceKind::DifferentValues,
            id: "8b000000-0000-0000-0000-000000000002".into(),
            columns: vec!["title".into(), "tags".into()],
            table: Some("todos_active".into()),
            detail: Some("<b>\"quoted\" & 'odd'|pipe\u{1}".into()),
            check: "chunk 2".into(),
        });
        r.add_difference(Difference {
            kind: DifferenceKind::WrongDepth,
            id: "8c000000-0000-0000-0000-000000000003".into(),
            columns: vec![],
            table: Some("todos_active".into()),
            detail: Some("depth 5, expected 1".into()),
            check: "depth".into(),
        });
        r
    }

    pub fn clean() -> Report {
        let mut r = Report::new("switchyard verify 0.1.0", "app", Settings::default());
        r.chunks.push(ChunkResult {
            index: 1,
            matched: true,
            legacy_rows: 3,
            active_rows: 3,
            ..ChunkResult::default()
        });
        r.checks.push(CheckResult { name: "depth".into(), ..CheckResult::default() });
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name_and_by_extension() {
        assert_eq!("JUnit".parse::<Format>().ok(), Some(Format::Junit));
        assert_eq!("md".parse::<Format>().ok(), Some(Format::Markdown));
        assert!("yaml".parse::<Format>().is_err());
        assert_eq!(Format::from_path(Path::new("out/verify.xml")), Format::Junit);
        assert_eq!(Format::from_path(Path::new("summary.MD")), Format::Markdown);
        assert_eq!(Format::from_path(Path::new("r.json")), Format::Json);
        assert_eq!(Format::from_path(Path::new("report")), Format::Text);
    }

    #[test]
    fn json_round_trips() {
        let r = fixtures::dirty();
        let back: Report = serde_json::from_str(&json(&r)).expect("parse");
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&json(&r)).expect("parse");
        assert_eq!(v["differences"][1]["kind"], "different_values");
        assert_eq!(v["differences"][1]["columns"][0], "title");
        assert_eq!(v["difference_counts"]["missing_in_new"], 1);
        assert_eq!(v["clean"], false);
    }
}

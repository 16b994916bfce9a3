//! Kinds of difference and how drilled-down rows are classified into them.
//!
//! The routing rule (docs/invariants.md, "A todo is archived") decides what is a difference: a row belongs
//! to exactly one of `todos_active` and `todos_archived` (I3), and an archived
//! row is done. A done row in `todos_active` whose completion is older than
//! the retention is merely not archived yet (archival runs on a schedule):
//! that is a warning count in the report, never a difference.

use serde::{Deserialize, Serialize};

/// What is wrong with a row (or a query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// In legacy `todos`, in neither new table.
    MissingInNew,
    /// In a new table, not in legacy `todos` (or a second copy in one table).
    ExtraInNew,
    /// In both schemas, some columns differ (named in `columns`).
    DifferentValues,
    /// In both `todos_active` and `todos_archived` (violates I3).
    InBothActiveAndArchived,
    /// In `todos_archived` without status 'done': the routing rule forbids it.
    WrongTable,
    /// `depth` is not 0 for a root or the parent's depth + 1 below it.
    WrongDepth,
    /// A representative read (`--queries`) answered differently.
    QueryMismatch,
}

impl DifferenceKind {
    /// Every kind, in report order.
    pub const ALL: [DifferenceKind; 7] = [
        DifferenceKind::MissingInNew,
        DifferenceKind::ExtraInNew,
        DifferenceKind::DifferentValues,
        DifferenceKind::InBothActiveAndArchived,
        DifferenceKind::WrongTable,
        DifferenceKind::WrongDepth,
        DifferenceKind::QueryMismatch,
    ];

    /// The snake_case name used in every report format.
    pub fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::MissingInNew => "missing_in_new",
            DifferenceKind::ExtraInNew => "extra_in_new",
            DifferenceKind::DifferentValues => "different_values",
            DifferenceKind::InBothActiveAndArchived => "in_both_active_and_archived",
            DifferenceKind::WrongTable => "wrong_table",
            DifferenceKind::WrongDepth => "wrong_depth",
            DifferenceKind::QueryMismatch => "query_mismatch",
        }
    }

    /// One sentence for people reading a report.
    pub fn explain(self) -> &'static str {
        match self {
            DifferenceKind::MissingInNew => "in legacy todos but in neither new table",
            DifferenceKind::ExtraInNew => "in the new tables but not in legacy todos",
            DifferenceKind::DifferentValues => "in both schemas with different column values",
            DifferenceKind::InBothActiveAndArchived => "in both todos_active and todos_archived (I3)",
            DifferenceKind::WrongTable => "in todos_archived without status 'done'",
            DifferenceKind::WrongDepth => "depth is not 0 for a root or the parent's depth + 1",
            DifferenceKind::QueryMismatch => "a representative read answers differently on the new schema",
        }
    }
}

impl std::fmt::Display for DifferenceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub kind: DifferenceKind,
    /// The todo id (or, for a query mismatch, the query's name).
    pub id: String,
    /// The differing columns (for `different_values`), else empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// The new table the row was found in, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Free-form detail (expected vs found depth, row counts of a query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The check that found it: `chunk N`, `depth` or `query NAME`.
    pub check: String,
}

/// One row returned by the drill-down statement
/// ([`crate::plan::Spec::chunk_drill_sql`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillRow {
    pub id: String,
    pub in_legacy: bool,
    /// The new table this copy is in; `None` when the row is missing in new.
    pub new_table: Option<String>,
    pub new_status: Option<String>,
    /// One flag per compared column: does this copy differ from legacy?
    pub differs: Vec<bool>,
}

/// Turns the drill-down rows of one chunk (sorted by id) into differences.
/// `columns` names the flags of [`DrillRow::differs`]; `archived` is the name
/// of the archived table.
pub fn classify(rows: &[DrillRow], columns: &[String], archived: &str, check: &str) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let mut j = i;
        while j < rows.len() && rows[j].id == rows[i].id {
            j += 1;
        }
        classify_one(&rows[i..j], columns, archived, check, &mut out);
        i = j;
    }
    out
}

fn classify_one(group: &[DrillRow], columns: &[String], archived: &str, check: &str, out: &mut Vec<Difference>) {
    let id = &group[0].id;
    let in_legacy = group.iter().any(|r| r.in_legacy);
    let copies: Vec<&DrillRow> = group.iter().filter(|r| r.new_table.is_some()).collect();
    let diff = |kind, table: Option<&String>, columns: Vec<String>, detail: Option<String>| Difference {
        kind,
        id: id.clone(),
        columns,
        table: table.cloned(),
        detail,
        check: check.to_string(),
    };
    if copies.is_empty() {
        out.push(diff(DifferenceKind::MissingInNew, None, vec![], None));
        return;
    }
    if !in_legacy {
        out.push(diff(DifferenceKind::ExtraInNew, copies[0].new_table.as_ref(), vec![], None));
    }
    let in_archived = copies.iter().filter(|r| r.new_table.as_deref() == Some(archived)).count();
    if in_archived > 0 && in_archived < copies.len() {
        out.push(diff(DifferenceKind::InBothActiveAndArchived, None, vec![], None));
    }
    // Several copies in one table (todos_active's key is (id, user_id)):
    // every copy beyond the first is extra.
    let mut seen: Vec<&str> = Vec::new();
    for c in &copies {
        let table = c.new_table.as_deref().unwrap_or_default();
        if seen.contains(&table) {
            out.push(diff(
                DifferenceKind::ExtraInNew,
                c.new_table.as_ref(),
                vec![],
                Some(format!("a second copy in {table}")),
            ));
        }
        seen.push(table);
    }
    for c in &copies {
        if in_legacy {
            let cols: Vec<String> =
                c.differs.iter().zip(columns).filter(|(d, _)| **d).map(|(_, name)| name.clone()).collect();
            if !cols.is_empty() {
                out.push(diff(DifferenceKind::DifferentValues, c.new_table.as_ref(), cols, None));
            }
        }
        if c.new_table.as_deref() == Some(archived) && c.new_status.as_deref() != Some("done") {
            let status = c.new_status.as_deref().unwrap_or("NULL");
            out.push(diff(
                DifferenceKind::WrongTable,
                c.new_table.as_ref(),
                vec![],
                Some(format!("status '{status}' in {archived}: archived rows must be done")),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<String> {
        ["id", "title", "status"].iter().map(|s| s.to_string()).collect()
    }

    fn row(id: &str, in_legacy: bool, table: Option<&str>, status: &str, differs: [bool; 3]) -> DrillRow {
        DrillRow {
            id: id.into(),
            in_legacy,
            new_table: table.map(Into::into),
            new_status: table.map(|_| status.into()),
            differs: differs.to_vec(),
        }
    }

    fn kinds(d: &[Difference]) -> Vec<(String, DifferenceKind)> {
        d.iter().map(|d| (d.id.clone(), d.kind)).collect()
    }

    #[test]
    fn one_sided_rows_are_missing_or_extra() {
        let rows = [row("a", true, None, "", [true; 3]), row("b", false, Some("todos_active"), "todo", [true; 3])];
        let d = classify(&rows, &cols(), "todos_archived", "chunk 1");
        assert_eq!(
            kinds(&d),
            vec![("a".into(), DifferenceKind::MissingInNew), ("b".into(), DifferenceKind::ExtraInNew)]
        );
        assert_eq!(d[1].table.as_deref(), Some("todos_active"));
        assert_eq!(d[0].check, "chunk 1");
    }

    #[test]
    fn different_values_name_the_columns() {
        let rows = [row("a", true, Some("todos_active"), "todo", [false, true, true])];
        let d = classify(&rows, &cols(), "todos_archived", "c");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, DifferenceKind::DifferentValues);
        assert_eq!(d[0].columns, vec!["title".to_string(), "status".to_string()]);
    }

    #[test]
    fn a_row_in_both_tables_is_an_i3_violation_even_with_equal_values() {
        let rows = [
            row("a", true, Some("todos_active"), "done", [false; 3]),
            row("a", true, Some("todos_archived"), "done", [false; 3]),
        ];
        let d = classify(&rows, &cols(), "todos_archived", "c");
        assert_eq!(kinds(&d), vec![("a".into(), DifferenceKind::InBothActiveAndArchived)]);
    }

    #[test]
    fn a_not_done_archived_row_is_in_the_wrong_table() {
        let rows = [row("a", true, Some("todos_archived"), "todo", [false; 3])];
        let d = classify(&rows, &cols(), "todos_archived", "c");
        assert_eq!(kinds(&d), vec![("a".into(), DifferenceKind::WrongTable)]);
        assert!(d[0].detail.as_deref().unwrap_or_default().contains("'todo'"));
    }

    #[test]
    fn a_done_active_row_is_not_a_difference() {
        let rows = [row("a", true, Some("todos_active"), "done", [false; 3])];
        assert!(classify(&rows, &cols(), "todos_archived", "c").is_empty());
    }

    #[test]
    fn a_second_copy_in_one_table_is_extra() {
        let rows = [
            row("a", true, Some("todos_active"), "todo", [false; 3]),
            row("a", true, Some("todos_active"), "todo", [false, false, false]),
        ];
        let d = classify(&rows, &cols(), "todos_archived", "c");
        assert_eq!(kinds(&d), vec![("a".into(), DifferenceKind::ExtraInNew)]);
    }

    #[test]
    fn kinds_serialize_as_snake_case() {
        for k in DifferenceKind::ALL {
            assert_eq!(serde_json::to_string(&k).expect("json"), format!("\"{}\"", k.as_str()));
        }
    }
}

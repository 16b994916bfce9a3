//! The kind of a statement that is neither a query nor a plain write:
//! COPY, EXPLAIN, and what anything else is called in a refusal.

use sqlparser::ast::{CopySource, SetExpr, Statement, UtilityOption};

use super::{is_table, StmtKind};
use crate::spec::MigrationSpec;

/// COPY of the table itself (in or out), of another table, or of a query.
pub(super) fn copy(source: &CopySource, to: bool, spec: &MigrationSpec) -> StmtKind {
    match source {
        CopySource::Table { table_name, .. } if is_table(table_name, spec) => {
            if to {
                StmtKind::CopyTableTo
            } else {
                StmtKind::CopyIntoTable
            }
        }
        CopySource::Table { .. } => StmtKind::Other("COPY".into()),
        CopySource::Query(_) => StmtKind::CopyQueryTo,
    }
}

/// EXPLAIN, whether it runs the statement (ANALYZE) and whether that writes.
pub(super) fn explain(
    analyze: bool,
    statement: &Statement,
    options: Option<&[UtilityOption]>,
    writes_in_with: bool,
) -> StmtKind {
    let opt_analyze = options.is_some_and(|o| o.iter().any(|u| u.name.value.eq_ignore_ascii_case("analyze")));
    let writes = match statement {
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => true,
        Statement::Query(q) => {
            matches!(*q.body, SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_)) || writes_in_with
        }
        _ => true,
    };
    StmtKind::Explain { analyze: analyze || opt_analyze, writes }
}

/// Any other statement: named by its leading keywords, up to the table's name.
pub(super) fn other(stmt: &Statement, spec: &MigrationSpec) -> StmtKind {
    let name = stmt.to_string();
    let kw: Vec<&str> = name
        .split_whitespace()
        .take_while(|w| !w.to_ascii_lowercase().contains(spec.legacy.table.as_str()))
        .take(2)
        .collect();
    StmtKind::Other(if kw.is_empty() { "this statement".to_string() } else { kw.join(" ") })
}

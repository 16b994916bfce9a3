//! The planner: one statement and a phase in, a [`Plan`] out (the phase table
//! in docs/invariants.md).
//!
//! | phase      | reads of todos          | writes to todos                         |
//! |------------|-------------------------|-----------------------------------------|
//! | legacy     | passthrough             | passthrough                             |
//! | dual_write | passthrough (+ shadow)  | legacy write + `mirror_todos`           |
//! | read_new   | union of new tables     | legacy write + `mirror_todos`           |
//! | write_new  | union of new tables     | new-table write + `mirror_todos_to_legacy` |
//! | new_only   | union of new tables     | new-table write + `todos_new_written`   |

use crate::classify::{self, Analysis, ClassifyError, StmtKind};
use crate::fastpath::{self, Touch};
use crate::lock;
use crate::plan::{Action, Phase, Plan, ResultShape};
use crate::read;
use crate::refuse::Refusal;
use crate::shadow::ShadowRead;
use crate::spec::MigrationSpec;
use crate::splice::render;
use crate::write;

/// Plans `sql` for `phase` under `spec`. Never panics, never does I/O.
pub fn plan(spec: &MigrationSpec, phase: Phase, sql: &str) -> Plan {
    if phase == Phase::Legacy || fastpath::scan(sql, &spec.legacy.table) == Touch::No || fastpath::names_a_cursor(sql) {
        return Plan::passthrough(sql);
    }
    let table = spec.legacy.table.clone();
    let a = match classify::analyze(sql, spec) {
        Ok(Some(a)) => a,
        Ok(None) => return Plan::passthrough(sql),
        Err(ClassifyError::Parse(detail)) => return Plan::refuse(Refusal::Unparsable { table, detail }.to_string()),
        Err(e) => return Plan::refuse(Refusal::NotCovered { construct: e.to_string(), phase }.to_string()),
    };
    if a.statements > 1 {
        return Plan::refuse(Refusal::MultiStatement { table }.to_string());
    }
    if a.shadowing_cte {
        return not_covered(format!("a WITH query named {table}"), phase);
    }
    if a.tablesample && phase.reads_new() {
        return not_covered(format!("TABLESAMPLE in a statement touching {table}"), phase);
    }
    if a.stray_refs > 0 {
        if let StmtKind::Other(kw) = &a.kind {
            return Plan::refuse(Refusal::Ddl { construct: kw.clone(), table, phase }.to_string());
        }
        return not_covered(format!("a reference to {table} in this position"), phase);
    }
    if a.cursor.is_some() && !a.pure_query {
        // Nothing to mirror: the cursor's query never runs.
        return with_reason(
            Plan::passthrough(sql),
            "PostgreSQL refuses a cursor over a data-modifying statement before running anything",
        );
    }
    match &a.kind {
        StmtKind::Other(kw) => Plan::refuse(Refusal::Ddl { construct: kw.clone(), table, phase }.to_string()),
        StmtKind::CopyIntoTable => Plan::refuse(Refusal::CopyInto { table, phase }.to_string()),
        StmtKind::CopyTableTo if phase.reads_new() => {
            not_covered(format!("COPY {table} TO (use COPY (SELECT ... FROM {table}) TO)"), phase)
        }
        StmtKind::CopyTableTo => {
            with_reason(Plan::passthrough(sql), "COPY TO reads the legacy table, which is current")
        }
        StmtKind::Explain { analyze: true, writes: true } => {
            not_covered(format!("EXPLAIN ANALYZE of a write to {table}"), phase)
        }
        StmtKind::Explain { writes: true, .. } => {
            with_reason(Plan::passthrough(sql), "EXPLAIN without ANALYZE runs nothing")
        }
        StmtKind::Dml if !a.sites.is_empty() => match write::plan_writes(sql, &a, spec, phase) {
            Ok(p) => p,
            Err(write::Unsupported(construct)) => not_covered(construct, phase),
        },
        StmtKind::Dml | StmtKind::CopyQueryTo | StmtKind::Explain { .. } => plan_read(sql, &a, spec, phase),
    }
}

fn not_covered(construct: String, phase: Phase) -> Plan {
    Plan::refuse(Refusal::NotCovered { construct, phase }.to_string())
}

fn with_reason(mut p: Plan, reason: &str) -> Plan {
    p.reason = Some(reason.to_string());
    p
}

/// Whether a read's two forms can be compared deterministically.
fn shadowable(a: &Analysis) -> bool {
    a.pure_query && !a.locks_table && !a.volatile && !a.unordered_limit
}

fn plan_read(sql: &str, a: &Analysis, spec: &MigrationSpec, phase: Phase) -> Plan {
    if a.reads.is_empty() {
        return Plan::passthrough(sql);
    }
    if a.locks_table {
        return plan_locking_read(sql, a, spec, phase);
    }
    let legacy_stmt = sql.get(a.start..a.end).unwrap_or(sql);
    let shadow = || -> Option<ShadowRead> {
        if a.cursor.is_some() || !shadowable(a) {
            return None;
        }
        let edits = read::read_edits(a, spec);
        render(sql, a.start, a.end, &edits).ok().map(|n| ShadowRead::new(legacy_stmt, n))
    };
    if !phase.reads_new() {
        let mut p = with_reason(Plan::passthrough(sql), "reads are served from the legacy table in dual_write");
        p.shadow = shadow();
        return p;
    }
    let Ok(new_sql) = render(sql, 0, sql.len(), &read::read_edits(a, spec)) else {
        return not_covered("overlapping references".into(), phase);
    };
    Plan {
        action: Action::Rewrite,
        sql: new_sql,
        result: ResultShape::as_reported(),
        shadow: if phase == Phase::NewOnly { None } else { shadow() },
        reason: Some(format!(
            "reads of {} served from {} and {}",
            spec.legacy.table, spec.new.active.table, spec.new.archived.table
        )),
        columns: a.columns.clone(),
    }
}

/// A read with a lock clause on the table locks the rows a following write
/// of the same transaction takes first: legacy's while writes go to legacy
/// (through read_new), the new tables' from write_new on (see [`lock`]).
fn plan_locking_read(sql: &str, a: &Analysis, spec: &MigrationSpec, phase: Phase) -> Plan {
    let table = &spec.legacy.table;
    if !phase.writes_new() {
        return with_reason(
            Plan::passthrough(sql),
            "a locking read is served from the legacy table, where writes go until write_new",
        );
    }
    if a.cursor.is_some_and(|c| a.top_locks && (c.hold || c.scroll)) {
        return with_reason(
            Plan::passthrough(sql),
            "PostgreSQL refuses a holdable, scrollable or insensitive cursor with a lock clause before running anything",
        );
    }
    let rewritten = |sql: String, how: &str| Plan {
        action: Action::Rewrite,
        sql,
        result: ResultShape::as_reported(),
        shadow: None,
        reason: Some(format!("a locking read of {table} {how}")),
        columns: a.columns.clone(),
    };
    if a.pure_query && a.reads.len() == 1 && a.simple_select {
        if let Some(out) = lock::branches(sql, a, &a.reads[0], spec) {
            return rewritten(out, "split into one branch per new table");
        }
    }
    let refused = |why: &str| not_covered(format!("SELECT ... FOR UPDATE/FOR SHARE of {table} {why}"), phase);
    if !(a.pure_query && a.reads.len() == 1 && a.top_locks && a.single_table && a.ctes.is_empty()) {
        return refused("with joins, WITH, subqueries over it or a lock clause in a subquery");
    }
    match lock::lateral(sql, a, &a.reads[0], spec) {
        Ok(out) => rewritten(out, "locking row by row in the new tables, in order, up to its LIMIT"),
        Err(why) => refused(&format!("({why})")),
    }
}

#[cfg(test)]
mod tests;

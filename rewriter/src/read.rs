//! Reads in the new schema: each reference to the legacy table becomes a
//! derived table that unions `todos_active` and `todos_archived` under the
//! same alias and the legacy column list, spliced into the original text.

use crate::classify::{Analysis, RecursiveStep, TableRef};
use crate::spec::MigrationSpec;
use crate::splice::Edit;

/// `(SELECT <legacy columns> FROM active UNION ALL SELECT <legacy columns> FROM archived)`.
pub fn union_sql(spec: &MigrationSpec) -> String {
    let cols = spec.columns.legacy.join(", ");
    format!(
        "(SELECT {cols} FROM {s}.{a} UNION ALL SELECT {cols} FROM {s}.{r})",
        s = spec.new.schema,
        a = spec.new.active.table,
        r = spec.new.archived.table
    )
}

/// The edit turning one read reference into the union, keeping its alias
/// (or naming the derived table after the legacy table when it had none).
pub fn read_edit(r: &TableRef, union: &str, spec: &MigrationSpec) -> Edit {
    match r.alias {
        Some(_) => Edit::new(r.start, r.end, union),
        None => Edit::new(r.start, r.end, format!("{union} AS {}", spec.legacy.table)),
    }
}

/// The edits for every read reference of the analysed statement; a
/// reference in a recursive step joined to its CTE is read through LATERAL
/// ([`step_edit`]).
pub fn read_edits(a: &Analysis, spec: &MigrationSpec) -> Vec<Edit> {
    let union = union_sql(spec);
    a.reads
        .iter()
        .enumerate()
        .map(|(i, r)| match a.recursive_steps.iter().find(|s| s.read == i) {
            Some(step) => step_edit(step, r, spec),
            None => read_edit(r, &union, spec),
        })
        .collect()
}

/// `todos t JOIN tree ON <cond>` (or `tree JOIN todos t ON <cond>`) becomes
/// `tree CROSS JOIN LATERAL (SELECT * FROM (<active's legacy columns>) AS t
/// WHERE (<cond>) UNION ALL <the same over archived>) AS t`: each branch is
/// probed per row of the working table (through the partitions' parent
/// indexes) instead of the whole union being hashed on every iteration.
/// The inner derived tables show only legacy's columns, so the condition's
/// `t.column` means what it meant; the row set is the inner join's.
pub fn step_edit(step: &RecursiveStep, r: &TableRef, spec: &MigrationSpec) -> Edit {
    let cols = spec.columns.legacy.join(", ");
    let alias = r.alias.clone().unwrap_or_else(|| spec.legacy.table.clone());
    let branch = |table: &str| {
        format!("SELECT * FROM (SELECT {cols} FROM {}.{table}) AS {alias} WHERE ({})", spec.new.schema, step.cond)
    };
    Edit::new(
        step.start,
        step.end,
        format!(
            "{} CROSS JOIN LATERAL ({} UNION ALL {}) AS {alias}",
            step.cte,
            branch(&spec.new.active.table),
            branch(&spec.new.archived.table)
        ),
    )
}

//! Reads in the new schema: each reference to the legacy table becomes a
//! derived table that unions `todos_active` and `todos_archived` under the
//! same alias and the legacy column list, spliced into the original text.

use crate::classify::TableRef;
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

/// The edits for every read reference.
pub fn read_edits(reads: &[TableRef], spec: &MigrationSpec) -> Vec<Edit> {
    let union = union_sql(spec);
    reads.iter().map(|r| read_edit(r, &union, spec)).collect()
}

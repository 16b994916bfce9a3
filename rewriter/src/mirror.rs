//! How a rewritten write's row images reach the other schema: the general
//! mirror function, or for the common shapes something that costs about one
//! more row write.
//!
//! The general functions (migrations 0010-0013) handle any image: upsert by
//! id, a user moved, a row archived or reopened, depth recomputed, a subtree
//! re-parented. Two shapes need none of that:
//!
//! * [`Shape::NewRows`]: a plain INSERT (no ON CONFLICT). The ids are new in
//!   both schemas (the primary key of the written side just accepted them,
//!   and the schemas hold the same ids), a root's depth is 0 and a new row
//!   has no descendants: when every row is a root, the other side gets a
//!   plain INSERT in the same statement. A statement that also writes
//!   children (parent set) goes through the general function, all of it, so
//!   the order in which PostgreSQL runs the CTEs never matters.
//! * [`Shape::NewRoots`]: a plain INSERT whose column list leaves the parent
//!   out, so that every row is a root (the parent's default is NULL in both
//!   schemas). The plain INSERT alone, without the run-time test for
//!   children and the general function beside it; in new_only, nothing.
//!   When it is the whole statement and returns nothing, the other side's
//!   INSERT is the statement's main query (`write::plan_writes`): its
//!   command tag counts the same rows, and nothing is hidden from the client.
//! * [`Shape::InPlace`]: an UPDATE that assigns neither the key, the owner,
//!   the parent nor the status. Each row stays in the table and partition it
//!   is in, keeps its depth and its subtree. In write_new the legacy row is
//!   updated in the same statement; in new_only there is nothing to do; in
//!   dual_write and read_new `mirror_todos_in_place` (0017) updates the copy
//!   where it is, by (id, user_id) so that one partition is probed, and
//!   falls back to the general upsert for a row not copied yet. That one
//!   stays a function: its statements take fresh snapshots, so a copy the
//!   backfill committed while this write waited for the legacy row is seen.

use crate::plan::Phase;
use crate::spec::MigrationSpec;

/// What a write may change, as far as mirroring cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Anything: the general mirror function.
    General,
    /// A plain INSERT (no ON CONFLICT).
    NewRows,
    /// A plain INSERT whose column list leaves the parent out: roots only.
    NewRoots,
    /// An UPDATE assigning neither key, partition key, parent nor status.
    InPlace,
}

/// The columns whose assignment rules out [`Shape::InPlace`].
pub(crate) fn moves_rows(spec: &MigrationSpec, column: &str) -> bool {
    spec.legacy.key.iter().any(|k| k == column)
        || column == spec.new.partition_key
        || column == spec.derived.depth.parent_column
        || column == "status"
}

/// The other side's copy of root todos just inserted, whose images are
/// `rows`: a plain INSERT, depth 0 on the new side. None in new_only, where
/// the statement itself wrote the only side kept (depth 0 by default).
pub(crate) fn roots_copy(spec: &MigrationSpec, phase: Phase, rows: &str) -> Option<String> {
    let cols = spec.columns.legacy.join(", ");
    match phase {
        Phase::NewOnly => None,
        Phase::WriteNew => Some(format!("INSERT INTO {} ({cols}) SELECT {cols} FROM {rows}", spec.legacy_type())),
        _ => {
            let active = format!("{}.{}", spec.new.schema, spec.new.active.table);
            let depth = &spec.derived.depth.column;
            Some(format!("INSERT INTO {active} ({cols}, {depth}) SELECT {cols}, 0 FROM {rows}"))
        }
    }
}

/// The mirror CTEs (possibly none) for site `k`, whose row images are `rows`.
pub(crate) fn ctes(spec: &MigrationSpec, phase: Phase, shape: Shape, op: &str, k: usize, rows: &str) -> Vec<String> {
    let general_fn = match phase {
        Phase::WriteNew => spec.to_legacy_fn(),
        Phase::NewOnly => spec.new_only_fn(),
        _ => spec.to_new_fn(),
    };
    let images = format!("(SELECT array_agg({rows}::{}) FROM {rows})", spec.legacy_type());
    let sink = spec.sink();
    let call = |f: &str| format!("sy_mirror_{k} AS (INSERT INTO {sink} (n) SELECT 1 WHERE {f}('{op}', {images}) < 0)");
    let parent = &spec.derived.depth.parent_column;
    let children = format!("EXISTS (SELECT 1 FROM {rows} WHERE {parent} IS NOT NULL)");
    match (shape, phase) {
        (Shape::General, _) => vec![call(&general_fn)],
        (Shape::NewRows, _) => {
            let general = format!(
                "sy_mirror_{k} AS (INSERT INTO {sink} (n) SELECT 1 WHERE CASE WHEN {children} \
                 THEN {general_fn}('{op}', {images}) < 0 ELSE false END)"
            );
            match roots_copy(spec, phase, rows) {
                Some(copy) => vec![format!("sy_plain_{k} AS ({copy} WHERE NOT {children})"), general],
                None => vec![general],
            }
        }
        (Shape::NewRoots, _) => {
            roots_copy(spec, phase, rows).map(|copy| format!("sy_plain_{k} AS ({copy})")).into_iter().collect()
        }
        (Shape::InPlace, Phase::NewOnly) => Vec::new(),
        (Shape::InPlace, Phase::WriteNew) => {
            let rest: Vec<&String> = spec.columns.legacy.iter().filter(|c| !spec.legacy.key.contains(c)).collect();
            let set_cols = rest.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
            let vals = rest.iter().map(|c| format!("sy_i.{c}")).collect::<Vec<_>>().join(", ");
            let on = spec.legacy.key.iter().map(|c| format!("sy_l.{c} = sy_i.{c}")).collect::<Vec<_>>().join(" AND ");
            vec![format!(
                "sy_plain_{k} AS (UPDATE {} AS sy_l SET ({set_cols}) = ROW({vals}) FROM {rows} AS sy_i WHERE {on})",
                spec.legacy_type()
            )]
        }
        (Shape::InPlace, _) => vec![format!(
            "sy_mirror_{k} AS (INSERT INTO {sink} (n) SELECT 1 WHERE {}({images}) < 0)",
            spec.in_place_fn()
        )],
    }
}

#[cfg(test)]
mod tests {
    use crate::{Phase, Rewriter};

    fn sql(phase: Phase, q: &str) -> String {
        Rewriter::with_default_spec().plan(phase, q).sql.clone()
    }

    #[test]
    fn an_update_that_moves_no_row_is_mirrored_in_place() {
        for q in [
            "UPDATE todos SET title = $1, priority = priority + 1 WHERE id = $2",
            "UPDATE todos SET (title, description) = ($1, $2) WHERE id = $3",
            "UPDATE todos t SET project_id = p.id FROM projects p WHERE p.user_id = t.user_id",
        ] {
            assert!(sql(Phase::DualWrite, q).contains("switchyard.mirror_todos_in_place("), "{q}");
            assert!(sql(Phase::WriteNew, q).contains("UPDATE public.todos AS sy_l SET"), "{q}");
            assert!(!sql(Phase::WriteNew, q).contains("mirror_todos_to_legacy"), "{q}");
            assert!(!sql(Phase::NewOnly, q).contains("todos_new_written"), "{q}");
        }
    }

    #[test]
    fn an_update_that_may_move_a_row_takes_the_general_mirror() {
        for q in [
            "UPDATE todos SET status = $1 WHERE id = $2",
            "UPDATE todos SET parent_todo_id = $1 WHERE id = $2",
            "UPDATE todos SET user_id = $1 WHERE id = $2",
            "UPDATE todos SET id = gen_random_uuid() WHERE id = $1",
        ] {
            assert!(sql(Phase::DualWrite, q).contains("switchyard.mirror_todos('U'"), "{q}");
            assert!(sql(Phase::WriteNew, q).contains("switchyard.mirror_todos_to_legacy('U'"), "{q}");
            assert!(sql(Phase::NewOnly, q).contains("switchyard.todos_new_written('U'"), "{q}");
        }
        // A row constructor from a sub-select cannot be told apart: general.
        let q = "UPDATE todos SET (title, status) = (SELECT 'x', 'done') WHERE id = $1";
        assert!(sql(Phase::DualWrite, q).contains("switchyard.mirror_todos('U'"), "{q}");
    }

    #[test]
    fn a_plain_insert_of_roots_is_mirrored_by_a_plain_insert_and_children_by_the_function() {
        let q = "INSERT INTO todos (user_id, parent_todo_id, title) VALUES ($1, $2, $3)";
        let dual = sql(Phase::DualWrite, q);
        assert!(dual.contains("sy_plain_0 AS (INSERT INTO public.todos_active"), "{dual}");
        assert!(dual.contains("CASE WHEN EXISTS (SELECT 1 FROM sy_rows_0 WHERE parent_todo_id IS NOT NULL)"), "{dual}");
        assert!(sql(Phase::WriteNew, q).contains("sy_plain_0 AS (INSERT INTO public.todos ("));
        let upsert =
            sql(Phase::DualWrite, "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING");
        assert!(!upsert.contains("sy_plain_0"), "an upsert may meet an existing id: {upsert}");
    }

    #[test]
    fn an_insert_leaving_the_parent_out_is_copied_without_the_function() {
        let lone = "INSERT INTO todos (user_id, title) VALUES ($1, $2)";
        assert!(
            sql(Phase::DualWrite, lone).ends_with(") INSERT INTO public.todos_active (id, user_id, project_id, parent_todo_id, \
             title, description, status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, \
             completed_at, depth) SELECT id, user_id, project_id, parent_todo_id, title, description, status, priority, \
             due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at, 0 FROM sy_rows_0"),
            "{}",
            sql(Phase::DualWrite, lone)
        );
        assert_eq!(
            sql(Phase::NewOnly, lone),
            "INSERT INTO public.todos_active AS todos (user_id, title) VALUES ($1, $2)"
        );
        // Inside a statement that reads its rows: the copy is a CTE.
        let returning = sql(Phase::WriteNew, "INSERT INTO todos (user_id, title) VALUES ($1, $2) RETURNING id");
        assert!(returning.contains("sy_plain_0 AS (INSERT INTO public.todos (id, "), "{returning}");
        assert!(!returning.contains("WHERE NOT EXISTS"), "{returning}");
        for phase in [Phase::DualWrite, Phase::WriteNew, Phase::NewOnly] {
            assert!(!sql(phase, lone).contains("switchyard."), "{phase}: {}", sql(phase, lone));
        }
    }
}

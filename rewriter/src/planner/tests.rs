//! The planner's decisions as tables: for statements and phases, the plan's
//! action, the tables of the todos family the SQL it sends touches, the
//! mirror function it calls, the command tag and whether the rows are hidden
//! (the client wrote no RETURNING), and whether a read is shadowed. Shapes
//! and decisions, not SQL strings: how a rewrite is spelled is free to
//! change, what it touches is not.

use std::collections::BTreeSet;

use super::*;
use crate::plan::CommandTag;

const TABLES: [&str; 3] = ["todos", "todos_active", "todos_archived"];
const MIRRORS: [&str; 4] = ["mirror_todos", "mirror_todos_in_place", "mirror_todos_to_legacy", "todos_new_written"];

/// What a plan comes to.
#[derive(Debug, PartialEq)]
struct Shape {
    action: Action,
    /// The todos-family relations read or written by what is sent.
    tables: BTreeSet<&'static str>,
    /// The mirror function called, if any.
    mirror: Option<&'static str>,
    tag: CommandTag,
    hide_rows: bool,
    shadow: bool,
}

/// The relations named after FROM, INTO, UPDATE or JOIN in `sql` (schema
/// dropped; CTE names are not in [`TABLES`]), and the mirror function called.
fn touched(sql: &str) -> (BTreeSet<&'static str>, Option<&'static str>) {
    let tokens: Vec<&str> =
        sql.split(|c: char| c.is_whitespace() || "(),;".contains(c)).filter(|t| !t.is_empty()).collect();
    let mut tables = BTreeSet::new();
    for pair in tokens.windows(2) {
        if ["FROM", "INTO", "UPDATE", "JOIN"].iter().any(|k| pair[0].eq_ignore_ascii_case(k)) {
            let name = pair[1].trim_start_matches("public.");
            tables.extend(TABLES.iter().find(|t| **t == name));
        }
    }
    let mirror = MIRRORS.into_iter().find(|m| sql.contains(&format!("switchyard.{m}(")));
    (tables, mirror)
}

fn shape_of(phase: Phase, sql: &str) -> Shape {
    let p = plan(&MigrationSpec::default_todos(), phase, sql);
    let (tables, mirror) = touched(if p.action == Action::Passthrough { sql } else { &p.sql });
    Shape {
        action: p.action,
        tables,
        mirror,
        tag: p.result.command_tag,
        hide_rows: p.result.hide_rows,
        shadow: p.shadow.is_some(),
    }
}

fn shape(action: Action, tables: &[&'static str], mirror: Option<&'static str>, tag: CommandTag, hide: bool) -> Shape {
    Shape { action, tables: tables.iter().copied().collect(), mirror, tag, hide_rows: hide, shadow: false }
}

/// A statement passed through as the client wrote it.
fn passed(tables: &[&'static str]) -> Shape {
    shape(Action::Passthrough, tables, None, CommandTag::AsReported, false)
}

/// A read served from both new tables.
fn from_new_tables() -> Shape {
    shape(Action::Rewrite, &["todos_active", "todos_archived"], None, CommandTag::AsReported, false)
}

fn shadowed(s: Shape) -> Shape {
    Shape { shadow: true, ..s }
}

const ACTIVE_PHASES: [Phase; 4] = [Phase::DualWrite, Phase::ReadNew, Phase::WriteNew, Phase::NewOnly];

fn check(table: Vec<(&str, [Shape; 4])>) {
    for (sql, per_phase) in table {
        assert_eq!(
            shape_of(Phase::Legacy, sql),
            passed(&Vec::from_iter(touched(sql).0)),
            "legacy passes everything: {sql}"
        );
        for (phase, want) in ACTIVE_PHASES.into_iter().zip(per_phase) {
            assert_eq!(shape_of(phase, sql), want, "{phase}: {sql}");
        }
    }
}

#[test]
fn reads_stay_on_legacy_in_dual_write_then_come_from_the_new_tables() {
    let both = || shadowed(from_new_tables());
    check(vec![
        ("SELECT * FROM users WHERE id = $1", [passed(&[]), passed(&[]), passed(&[]), passed(&[])]),
        (
            "SELECT id, title FROM todos WHERE user_id = $1",
            [shadowed(passed(&["todos"])), both(), both(), from_new_tables()],
        ),
        (
            "SELECT * FROM todos t JOIN projects p ON p.id = t.project_id",
            [shadowed(passed(&["todos"])), both(), both(), from_new_tables()],
        ),
        // A locking read locks where the writes go; it is never shadowed.
        (
            "SELECT id FROM todos WHERE id = $1 FOR UPDATE",
            [passed(&["todos"]), passed(&["todos"]), from_new_tables(), from_new_tables()],
        ),
    ]);
}

#[test]
fn writes_go_where_the_phase_says_and_are_mirrored_to_the_other_side() {
    use CommandTag::{Delete, Insert, Update};
    let w = |tables: &[&'static str], mirror, tag, hide| shape(Action::Rewrite, tables, Some(mirror), tag, hide);
    let new_tables = ["todos_active", "todos_archived"];
    let plain = |tables: &[&'static str], tag, hide| shape(Action::Rewrite, tables, None, tag, hide);
    let as_reported = CommandTag::AsReported;
    check(vec![
        // Rows that may have a parent: the general function keeps depth.
        (
            "INSERT INTO todos (id, user_id, parent_todo_id, title) VALUES ($1, $2, $3, $4)",
            [
                w(&["todos", "todos_active"], "mirror_todos", Insert, true),
                w(&["todos", "todos_active"], "mirror_todos", Insert, true),
                w(&["todos", "todos_active"], "mirror_todos_to_legacy", Insert, true),
                w(&["todos_active"], "todos_new_written", Insert, true),
            ],
        ),
        // Roots (the parent not named): a plain copy, no function. Alone and
        // returning nothing, the copy is the main query and its tag is the
        // client's; in new_only the client's INSERT on todos_active alone.
        (
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3)",
            [
                plain(&["todos", "todos_active"], as_reported, false),
                plain(&["todos", "todos_active"], as_reported, false),
                plain(&["todos", "todos_active"], as_reported, false),
                plain(&["todos_active"], as_reported, false),
            ],
        ),
        (
            "INSERT INTO todos (user_id, title) VALUES ($1, $2) RETURNING id",
            [
                plain(&["todos", "todos_active"], Insert, false),
                plain(&["todos", "todos_active"], Insert, false),
                plain(&["todos", "todos_active"], Insert, false),
                plain(&["todos_active"], Insert, false),
            ],
        ),
        // Every column, by position: the parent among them.
        (
            "INSERT INTO todos SELECT * FROM todos WHERE id = $1",
            [
                w(&["todos", "todos_active"], "mirror_todos", Insert, true),
                w(&["todos", "todos_active"], "mirror_todos", Insert, true),
                w(&["todos", "todos_active", "todos_archived"], "mirror_todos_to_legacy", Insert, true),
                w(&["todos_active", "todos_archived"], "todos_new_written", Insert, true),
            ],
        ),
        (
            "UPDATE todos SET status = 'done' WHERE id = $1",
            [
                w(&["todos"], "mirror_todos", Update, true),
                w(&["todos"], "mirror_todos", Update, true),
                w(&new_tables, "mirror_todos_to_legacy", Update, true),
                w(&new_tables, "todos_new_written", Update, true),
            ],
        ),
        // An update leaving status alone changes the copy in place, and
        // from write_new on mirrors to legacy by a plain UPDATE.
        (
            "UPDATE todos SET title = $1 WHERE id = $2 RETURNING id",
            [
                w(&["todos"], "mirror_todos_in_place", Update, false),
                w(&["todos"], "mirror_todos_in_place", Update, false),
                shape(Action::Rewrite, &["todos", "todos_active", "todos_archived"], None, Update, false),
                shape(Action::Rewrite, &new_tables, None, Update, false),
            ],
        ),
        (
            "DELETE FROM todos WHERE id = $1",
            [
                w(&["todos"], "mirror_todos", Delete, true),
                w(&["todos"], "mirror_todos", Delete, true),
                w(&new_tables, "mirror_todos_to_legacy", Delete, true),
                w(&new_tables, "todos_new_written", Delete, true),
            ],
        ),
    ]);
}

/// The refusal reasons (SQLSTATE 0A000 on the wire) per phase; `None`: not refused.
fn refusals() -> Vec<(&'static str, [Option<&'static str>; 4])> {
    let all = |r| [Some(r); 4];
    let once_new = |r| [None, None, Some(r), Some(r)];
    let once_read = |r| [None, Some(r), Some(r), Some(r)];
    vec![
        ("SELECT 1 FROM users", [None; 4]),
        ("TRUNCATE todos", all("TRUNCATE on todos is not allowed while todos is being migrated")),
        ("COPY todos FROM STDIN", all("COPY into todos is not supported during the migration")),
        ("COPY todos TO STDOUT", once_read("COPY todos TO (use COPY (SELECT ... FROM todos) TO) is not supported")),
        ("EXPLAIN ANALYZE DELETE FROM todos", all("EXPLAIN ANALYZE of a write to todos is not supported")),
        ("WITH todos AS (SELECT 1) SELECT * FROM todos", all("a WITH query named todos is not supported")),
        ("SELECT * FROM todos WHERE", all("a statement touching todos does not parse")),
        (
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'x') ON CONFLICT ON CONSTRAINT todos_pkey DO NOTHING",
            once_new("ON CONFLICT ON CONSTRAINT"),
        ),
        (
            "UPDATE todos SET (title, updated_at) = ($1, now()) WHERE id = $2",
            once_new("updated_at"),
        ),
    ]
}

#[test]
fn refusals_name_the_construct_and_the_phase() {
    let spec = MigrationSpec::default_todos();
    for (sql, per_phase) in refusals() {
        for (phase, want) in ACTIVE_PHASES.into_iter().zip(per_phase) {
            let p = plan(&spec, phase, sql);
            match want {
                None => assert_ne!(p.action, Action::Refuse, "{phase}: {sql}: {:?}", p.reason),
                Some(why) => {
                    assert_eq!(p.action, Action::Refuse, "{phase}: {sql}");
                    let reason = p.reason.unwrap_or_default();
                    assert!(reason.contains(why), "{phase}: {sql}: {reason}");
                    assert!(reason.starts_with("switchyard: "), "{phase}: {sql}: {reason}");
                    assert_eq!(p.sql, "", "{phase}: nothing of a refused statement is sent");
                }
            }
        }
    }
}

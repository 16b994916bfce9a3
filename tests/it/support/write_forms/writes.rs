//! The write sequence: inserts, updates and deletes in the forms applications
//! and ORMs send, run in this order on one seeded pair; later forms rely on
//! rows earlier ones wrote (t50..t61) and change rows they moved (t6 is
//! updated in the archive, then reopened).

use super::{form, Deviation, WriteForm};
use crate::support::fixture::{t, u, P1, U1, U2, V};
use switchyard_rewriter::Phase;

/// Planned while legacy takes the writes; refused (0A000) once writes go to
/// the new tables, whose constraints have other names and whose
/// updated_at is set by the mirror.
const REFUSED_ONCE_WRITES_GO_NEW: &[(Phase, Deviation)] =
    &[(Phase::WriteNew, Deviation::Refused), (Phase::NewOnly, Deviation::Refused)];

pub fn forms() -> Vec<WriteForm> {
    use V::*;
    let tags = |v: &[&str]| Texts(v.iter().map(|s| s.to_string()).collect());
    vec![
        form(
            "insert one row with placeholders, RETURNING defaults",
            "INSERT INTO todos (id, user_id, project_id, title, priority, tags) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING todos.id, todos.status, todos.created_at, todos.updated_at, todos.metadata",
            vec![Id(t(50)), Id(u(U1)), Id(u(P1)), Text("New todo"), Int(2), tags(&["x", "y"])],
        ),
        form(
            "insert several rows: a parent and its AI subtasks",
            "INSERT INTO todos (id, user_id, parent_todo_id, title, ai_generated) VALUES \
             ($1, $2, NULL, 'AI parent', false), ($3, $2, $1, 'AI child', true), ($4, $2, $3, 'AI grandchild', true) \
             RETURNING id, parent_todo_id",
            vec![Id(t(51)), Id(u(U1)), Id(t(52)), Id(t(53))],
        ),
        form(
            "insert from a SELECT over todos, generated ids, RETURNING",
            "INSERT INTO todos (user_id, parent_todo_id, title, ai_generated, metadata) \
             SELECT t.user_id, t.id, s.title, true, jsonb_build_object('model', $2::text) \
             FROM todos t, unnest($3::text[]) AS s(title) WHERE t.id = $1 \
             RETURNING title, parent_todo_id, id, ai_generated, metadata",
            vec![Id(t(4)), Text("gpt"), tags(&["step one", "step two"])],
        ),
        form("insert DEFAULT VALUES fails the same way", "INSERT INTO todos DEFAULT VALUES", vec![]),
        form(
            "insert a full row by position",
            "INSERT INTO todos VALUES ($1, $2, NULL, NULL, 'full row', NULL, 'todo', 0, NULL, false, '{}', NULL, \
             '2024-02-01 00:00:00+00', '2024-02-01 00:00:00+00', NULL)",
            vec![Id(t(57)), Id(u(U2))],
        ),
        form(
            "insert ON CONFLICT DO NOTHING",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'duplicate') ON CONFLICT DO NOTHING",
            vec![Id(t(1)), Id(u(U1))],
        ),
        form(
            "insert ON CONFLICT (id) DO NOTHING RETURNING, one row new",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3), ($4, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id",
            vec![Id(t(1)), Id(u(U1)), Text("dup or new"), Id(t(58))],
        ),
        form(
            "insert ON CONFLICT (id) DO UPDATE RETURNING *",
            "INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, $3, 9) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, priority = EXCLUDED.priority RETURNING *",
            vec![Id(t(2)), Id(u(U1)), Text("Book flights (upserted)")],
        ),
        form(
            "insert with an alias, ON CONFLICT DO UPDATE from the old row and EXCLUDED",
            "INSERT INTO todos AS t (id, user_id, title) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET title = t.title || ' / ' || excluded.title, updated_at = excluded.updated_at \
             RETURNING t.id, t.title",
            vec![Id(t(3)), Id(u(U1)), Text("merged")],
        ),
        WriteForm {
            name: "insert ON CONFLICT ON CONSTRAINT (the legacy constraint's name)",
            sql: "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT ON CONSTRAINT todos_pkey DO NOTHING",
            params: vec![Id(t(1)), Id(u(U1)), Text("dup")],
            deviations: REFUSED_ONCE_WRITES_GO_NEW,
        },
        form(
            "insert with expressions",
            "INSERT INTO todos (id, user_id, title, status, priority, due_date, tags, metadata) \
             VALUES ($1, $2, upper($3), 'in_progress', 2 * 3, '2030-01-01 00:00:00+00'::timestamptz + interval '1 day', \
             ARRAY['a', 'b'], '{\"source\": \"api\"}'::jsonb) \
             RETURNING id, title, due_date, priority, tags, metadata, status",
            vec![Id(t(55)), Id(u(U2)), Text("expr")],
        ),
        form(
            "insert with now(), a generated id and defaults",
            "INSERT INTO todos (user_id, title, due_date, metadata) \
             VALUES ($1, upper($2), now() + interval '1 day', jsonb_build_object('src', 'api')) \
             RETURNING id, title, due_date, created_at, updated_at, status, tags",
            vec![Id(u(U2)), Text("expr")],
        ),
        form(
            "insert RETURNING expressions and aliases",
            "INSERT INTO todos AS n (id, user_id, title, priority) VALUES ($1, $2, $3, 4) \
             RETURNING n.id, upper(n.title) AS shout, n.priority * 2 AS doubled, n.tags || ARRAY['new'] AS tagged, n.status = 'todo' AS open",
            vec![Id(t(61)), Id(u(U1)), Text("loud")],
        ),
        form(
            "insert ... SELECT WHERE NOT EXISTS",
            "INSERT INTO todos (id, user_id, title) SELECT $1::uuid, $2::uuid, $3::text \
             WHERE NOT EXISTS (SELECT 1 FROM todos WHERE user_id = $2 AND title = $3)",
            vec![Id(t(56)), Id(u(U2)), Text("only once")],
        ),
        form(
            "update a status, no RETURNING",
            "UPDATE todos SET status = $1 WHERE id = $2 AND user_id = $3",
            vec![Text("in_progress"), Id(t(3)), Id(u(U1))],
        ),
        form(
            "complete a todo, RETURNING *",
            "UPDATE todos SET status = 'done', completed_at = now() WHERE id = $1 AND user_id = $2 RETURNING *",
            vec![Id(t(3)), Id(u(U1))],
        ),
        form(
            "complete the open subtasks of a parent",
            "UPDATE todos SET status = 'done', completed_at = '2024-03-01 00:00:00+00' WHERE parent_todo_id = $1 AND status <> 'done'",
            vec![Id(t(51))],
        ),
        form(
            "update with a row constructor",
            "UPDATE todos SET (title, priority) = ($1, $2) WHERE user_id = $3 AND status <> 'done'",
            vec![Text("Renamed"), Int(7), Id(u(U2))],
        ),
        form(
            "update with a row subquery over todos",
            "UPDATE todos SET (title, description) = (SELECT title, description FROM todos WHERE id = $1) WHERE id = $2",
            vec![Id(t(1)), Id(t(57))],
        ),
        WriteForm {
            name: "update a row constructor that sets updated_at",
            sql: "UPDATE todos SET (title, updated_at) = ($1, now()) WHERE id = $2",
            params: vec![Text("stamped"), Id(t(50))],
            deviations: REFUSED_ONCE_WRITES_GO_NEW,
        },
        form(
            "update FROM another table, RETURNING, touching an archived row",
            "UPDATE todos t SET project_id = p.id FROM projects p \
             WHERE p.name = $1 AND p.user_id = t.user_id AND t.parent_todo_id IS NULL RETURNING t.id, t.project_id",
            vec![Text("Home")],
        ),
        form(
            "update FROM VALUES",
            "UPDATE todos SET priority = v.p FROM (VALUES ($1::uuid, $2::int), ($3::uuid, $4::int)) AS v(id, p) WHERE todos.id = v.id",
            vec![Id(t(1)), Int(11), Id(t(6)), Int(12)],
        ),
        form(
            "update with a subquery on todos",
            "UPDATE todos SET priority = priority + 1 WHERE parent_todo_id IN (SELECT id FROM todos WHERE title = $1)",
            vec![Text("Plan trip")],
        ),
        form(
            "update RETURNING expressions over old and new values",
            "UPDATE todos SET priority = priority * 10 WHERE user_id = $1 AND parent_todo_id IS NOT NULL \
             RETURNING id, priority / 10 AS was, title || ' (' || status || ')' AS label, \
             coalesce(due_date, created_at) > '2023-01-01' AS dated",
            vec![Id(u(U1))],
        ),
        form(
            "update an archived row, RETURNING",
            "UPDATE todos SET description = $1 WHERE id = $2 RETURNING id, description, updated_at",
            vec![Text("archived note"), Id(t(6))],
        ),
        form(
            "move a subtree under another parent",
            "UPDATE todos SET parent_todo_id = $1 WHERE id = $2",
            vec![Id(t(53)), Id(t(2))],
        ),
        form(
            "a client-set updated_at is overridden like the trigger does",
            "UPDATE todos SET title = 'touched', updated_at = '2000-01-01' WHERE id = $1",
            vec![Id(t(1))],
        ),
        form(
            "update an array and jsonb, RETURNING",
            "UPDATE todos SET tags = array_append(tags, $1), metadata = coalesce(metadata, '{}'::jsonb) || $2::text::jsonb \
             WHERE id = $3 AND NOT ($1 = ANY(tags)) RETURNING tags, metadata",
            vec![Text("urgent"), Text("{\"seen\": true}"), Id(t(4))],
        ),
        form(
            "an UPDATE inside WITH, read by the main query",
            "WITH done AS (UPDATE todos SET status = 'done', completed_at = '2024-05-01 00:00:00+00' WHERE id = $1 \
             RETURNING id, parent_todo_id) SELECT count(*) FROM todos WHERE parent_todo_id IN (SELECT id FROM done)",
            vec![Id(t(2))],
        ),
        form(
            "complete a todo and its children with a row constructor",
            "UPDATE todos SET (status, completed_at) = ('done', now()) WHERE id = $1 OR parent_todo_id = $1",
            vec![Id(t(7))],
        ),
        // Once writes go to the new tables, the row moves from todos_archived
        // back to todos_active (the archive's CHECK allows only done rows).
        form(
            "reopen an archived todo, RETURNING",
            "UPDATE todos SET status = 'todo', completed_at = NULL WHERE id = $1 RETURNING id, status, updated_at",
            vec![Id(t(6))],
        ),
        form(
            "reopen a todo assigning DEFAULT (Django's save(force_update=True)): the table's defaults apply",
            "UPDATE todos SET status = 'todo', completed_at = NULL, priority = DEFAULT, created_at = DEFAULT, \
             updated_at = DEFAULT WHERE id = $1 RETURNING id, status, priority",
            vec![Id(t(6))],
        ),
        form(
            "delete USING another table, RETURNING",
            "DELETE FROM todos t USING projects p WHERE t.project_id = p.id AND p.name = $1 AND t.status = 'in_progress' RETURNING t.id",
            vec![Text("Work")],
        ),
        form(
            "delete USING, no RETURNING",
            "DELETE FROM todos USING projects p WHERE todos.project_id = p.id AND p.user_id = $1 AND todos.priority > 10",
            vec![Id(u(U1))],
        ),
        form("delete a parent: children cascade", "DELETE FROM todos WHERE id = $1", vec![Id(t(51))]),
        form("delete an archived parent, RETURNING", "DELETE FROM todos WHERE id = $1 RETURNING title", vec![Id(t(5))]),
        form(
            "a DELETE inside WITH that nothing reads",
            "WITH gone AS (DELETE FROM todos WHERE id = $1) SELECT 1 WHERE false",
            vec![Id(t(8))],
        ),
        form(
            "a DELETE inside WITH, counted by the main query",
            "WITH gone AS (DELETE FROM todos WHERE user_id = $1 AND status = 'done' RETURNING id) SELECT count(*) FROM gone",
            vec![Id(u(U2))],
        ),
        form(
            "an INSERT inside WITH, returned by the main query",
            "WITH x AS (INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'cte insert') RETURNING id) SELECT id FROM x",
            vec![Id(t(54)), Id(u(U2))],
        ),
        form(
            "an UPDATE under a WITH of reads",
            "WITH p AS (SELECT id FROM projects WHERE name = $1) UPDATE todos SET project_id = p.id FROM p WHERE todos.id = $2",
            vec![Text("Work"), Id(t(54))],
        ),
        form(
            "an INSERT under a WITH of reads",
            "WITH src AS (SELECT $1::uuid AS uid) INSERT INTO todos (id, user_id, title) SELECT $2::uuid, uid, 'from cte' FROM src",
            vec![Id(u(U1)), Id(t(59))],
        ),
        WriteForm {
            name: "a child of a missing parent fails on the legacy foreign key",
            sql: "INSERT INTO todos (user_id, parent_todo_id, title) VALUES ($1, $2, 'orphan')",
            params: vec![Id(u(U1)), Id(t(99))],
            // new_only has no legacy table, hence no foreign key on parent_todo_id.
            deviations: &[(Phase::NewOnly, Deviation::Skip)],
        },
        form(
            "a CHECK violation fails the same way",
            "UPDATE todos SET status = 'blocked' WHERE id = $1",
            vec![Id(t(1))],
        ),
        form(
            "lower case, schema-qualified insert",
            "insert into public.todos (id, user_id, title) values ($1, $2, 'qualified')",
            vec![Id(t(60)), Id(u(U1))],
        ),
        form(
            "lower case update with upper-case names",
            "update TODOS set STATUS = 'done', completed_at = '2024-06-01 00:00:00+00' where ID = $1",
            vec![Id(t(60))],
        ),
        form(
            "a quoted table name and a trailing comment",
            "UPDATE \"todos\" SET title = $1 WHERE id = $2 -- trailing comment",
            vec![Text("quoted"), Id(t(60))],
        ),
        form(
            "SQLAlchemy-style DELETE RETURNING",
            "DELETE FROM todos WHERE todos.id = $1::UUID RETURNING todos.id, todos.title",
            vec![Id(t(60))],
        ),
        form(
            "a statement over several lines, as psql and ORMs send them",
            "UPDATE todos\n   SET priority = $1,\n       title = title || ' (ml)'\n WHERE id = $2\nRETURNING id,\n          priority",
            vec![Int(5), Id(t(4))],
        ),
        form("UPDATE ONLY todos", "UPDATE ONLY todos SET priority = 4 WHERE id = $1 RETURNING priority", vec![Id(t(1))]),
        form("update every row", "UPDATE todos SET priority = priority + 1", vec![]),
        form("delete every done todo", "DELETE FROM todos WHERE status = 'done'", vec![]),
    ]
}

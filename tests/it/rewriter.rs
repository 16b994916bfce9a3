//! The rewriter against a real PostgreSQL: every write form in every phase
//! leaves both schemas equal (an independent comparison over all legacy
//! columns, I3, depth) and returns what the original statement returns on a
//! twin database holding only the legacy schema; reads in the new schema
//! return the same rows; the shadow statement runs and agrees.

use crate::support;

#[path = "rewriter/fixture.rs"]
pub(crate) mod fixture;

use fixture::*;
use switchyard_rewriter::{Action, Phase, Rewriter};
use tokio_postgres::Client;

/// One write form: the statement, its parameters, and the phases it runs in.
struct Form {
    name: &'static str,
    sql: &'static str,
    params: Vec<V>,
    skip: &'static [Phase],
}

fn form(name: &'static str, sql: &'static str, params: Vec<V>) -> Form {
    Form { name, sql, params, skip: &[] }
}

fn forms() -> Vec<Form> {
    use V::*;
    vec![
        form(
            "insert one row with placeholders, RETURNING defaults",
            "INSERT INTO todos (id, user_id, project_id, title, priority, tags) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING todos.id, todos.status, todos.created_at, todos.updated_at, todos.metadata",
            vec![Id(t(50)), Id(u(U1)), Id(u(P1)), Text("New todo"), Int(2), Texts(vec!["x".into(), "y".into()])],
        ),
        form(
            "insert several rows: a parent and its AI subtasks",
            "INSERT INTO todos (id, user_id, parent_todo_id, title, ai_generated) VALUES \
             ($1, $2, NULL, 'AI parent', false), ($3, $2, $1, 'AI child', true), ($4, $2, $3, 'AI grandchild', true)",
            vec![Id(t(51)), Id(u(U1)), Id(t(52)), Id(t(53))],
        ),
        form(
            "insert from a SELECT over todos, generated ids",
            "INSERT INTO todos (user_id, parent_todo_id, title, ai_generated) \
             SELECT t.user_id, t.id, s.title, true FROM todos t, unnest($2::text[]) AS s(title) WHERE t.id = $1 \
             RETURNING title, parent_todo_id, id, ai_generated",
            vec![Id(t(4)), Texts(vec!["step one".into(), "step two".into()])],
        ),
        form("insert DEFAULT VALUES fails the same way", "INSERT INTO todos DEFAULT VALUES", vec![]),
        form(
            "insert ON CONFLICT DO NOTHING",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'duplicate') ON CONFLICT DO NOTHING",
            vec![Id(t(1)), Id(u(U1))],
        ),
        form(
            "insert ON CONFLICT (id) DO UPDATE RETURNING *",
            "INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, $3, 9) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, priority = EXCLUDED.priority RETURNING *",
            vec![Id(t(2)), Id(u(U1)), Text("Book flights (upserted)")],
        ),
        form(
            "insert with expressions, now() and defaults",
            "INSERT INTO todos (user_id, title, due_date, metadata) \
             VALUES ($1, upper($2), now() + interval '1 day', jsonb_build_object('src', 'api')) \
             RETURNING id, title, due_date, created_at, updated_at, status, tags",
            vec![Id(u(U2)), Text("expr")],
        ),
        form("update a status, no RETURNING", "UPDATE todos SET status = $1 WHERE id = $2", vec![Text("in_progress"), Id(t(3))]),
        form(
            "complete a todo, RETURNING *",
            "UPDATE todos SET status = 'done', completed_at = now() WHERE id = $1 AND user_id = $2 RETURNING *",
            vec![Id(t(3)), Id(u(U1))],
        ),
        form(
            "update with a row constructor",
            "UPDATE todos SET (title, priority) = ($1, $2) WHERE user_id = $3 AND status <> 'done'",
            vec![Text("Renamed"), Int(7), Id(u(U2))],
        ),
        form(
            "update FROM another table, touching an archived row",
            "UPDATE todos t SET project_id = p.id FROM projects p \
             WHERE p.name = $1 AND p.user_id = t.user_id AND t.parent_todo_id IS NULL RETURNING t.id, t.project_id",
            vec![Text("Home")],
        ),
        form(
            "update with a subquery on todos",
            "UPDATE todos SET priority = priority + 1 WHERE parent_todo_id IN (SELECT id FROM todos WHERE title = $1)",
            vec![Text("Plan trip")],
        ),
        form(
            "update an archived row",
            "UPDATE todos SET description = $1 WHERE id = $2 RETURNING id, description, updated_at",
            vec![Text("archived note"), Id(t(6))],
        ),
        form("move a subtree under another parent", "UPDATE todos SET parent_todo_id = $1 WHERE id = $2", vec![Id(t(53)), Id(t(2))]),
        form(
            "a client-set updated_at is overridden like the trigger does",
            "UPDATE todos SET title = 'touched', updated_at = '2000-01-01' WHERE id = $1",
            vec![Id(t(1))],
        ),
        form(
            "an UPDATE inside WITH, read by the main query",
            "WITH done AS (UPDATE todos SET status = 'done', completed_at = now() WHERE id = $1 RETURNING id, parent_todo_id) \
             SELECT count(*) FROM todos WHERE parent_todo_id IN (SELECT id FROM done)",
            vec![Id(t(2))],
        ),
        form(
            "complete with a row constructor",
            "UPDATE todos SET (status, completed_at) = ('done', now()) WHERE id = $1 OR parent_todo_id = $1",
            vec![Id(t(7))],
        ),
        form(
            "reopen an archived todo: it moves back to todos_active",
            "UPDATE todos SET status = 'todo', completed_at = NULL WHERE id = $1 RETURNING id, status, updated_at",
            vec![Id(t(6))],
        ),
        form(
            "reopen an archived todo assigning DEFAULT (Django's save(force_update=True)): the table's defaults apply",
            "UPDATE todos SET status = 'todo', completed_at = NULL, priority = DEFAULT, created_at = DEFAULT, \
             updated_at = DEFAULT WHERE id = $1 RETURNING id, status, priority",
            vec![Id(t(6))],
        ),
        form(
            "delete USING another table, RETURNING",
            "DELETE FROM todos t USING projects p WHERE t.project_id = p.id AND p.name = $1 AND t.status = 'in_progress' RETURNING t.id",
            vec![Text("Work")],
        ),
        form("delete a parent: children cascade", "DELETE FROM todos WHERE id = $1", vec![Id(t(51))]),
        form("delete an archived parent, RETURNING", "DELETE FROM todos WHERE id = $1 RETURNING title", vec![Id(t(5))]),
        form(
            "a DELETE inside WITH that nothing reads",
            "WITH gone AS (DELETE FROM todos WHERE id = $1) SELECT 1 WHERE false",
            vec![Id(t(8))],
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
        Form {
            name: "a child of a missing parent fails on the legacy foreign key",
            sql: "INSERT INTO todos (user_id, parent_todo_id, title) VALUES ($1, $2, 'orphan')",
            params: vec![Id(u(U1)), Id(t(99))],
            // new_only has no legacy table, hence no foreign key on parent_todo_id.
            skip: &[Phase::NewOnly],
        },
        form("UPDATE ONLY todos", "UPDATE ONLY todos SET priority = 4 WHERE id = $1 RETURNING priority", vec![Id(t(1))]),
        form("delete every done todo", "DELETE FROM todos WHERE status = 'done'", vec![]),
    ]
}

/// What a statement produced: rows (normalised; sorted, since RETURNING order is
/// unspecified and the new schema returns active rows before archived ones) and
/// the affected count, or an error's SQLSTATE.
#[derive(Debug, PartialEq)]
enum Outcome {
    Rows { rows: Vec<Vec<String>>, count: u64 },
    Error(String),
}

async fn begin(c: &Client, norm: &mut Norm) {
    c.batch_execute("BEGIN").await.unwrap_or_else(|e| panic!("begin: {e}"));
    let now: std::time::SystemTime =
        c.query_one("SELECT now()", &[]).await.unwrap_or_else(|e| panic!("now: {e}")).get(0);
    norm.nows.push(now);
}

async fn finish(c: &Client, ok: bool) {
    c.batch_execute(if ok { "COMMIT" } else { "ROLLBACK" }).await.unwrap_or_else(|e| panic!("end: {e}"));
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map_or_else(|| format!("no sqlstate: {e}"), |c| c.code().to_string())
}

/// The original statement on the twin.
async fn run_original(c: &Client, f: &Form, norm: &mut Norm) -> Outcome {
    begin(c, norm).await;
    let stmt = c.prepare(f.sql).await;
    let out = match stmt {
        Err(e) => Outcome::Error(sqlstate(&e)),
        Ok(stmt) if stmt.columns().is_empty() => match c.execute(&stmt, &refs(&f.params)).await {
            Ok(n) => Outcome::Rows { rows: Vec::new(), count: n },
            Err(e) => Outcome::Error(sqlstate(&e)),
        },
        Ok(stmt) => match c.query(&stmt, &refs(&f.params)).await {
            Ok(rows) => Outcome::Rows { count: rows.len() as u64, rows: norm.sorted(&rows) },
            Err(e) => Outcome::Error(sqlstate(&e)),
        },
    };
    finish(c, matches!(out, Outcome::Rows { .. })).await;
    out
}

/// The rewritten statement on the migrated database, mapped back the way the
/// proxy maps it (hidden rows → the count in `sy_count`).
async fn run_rewritten(c: &Client, f: &Form, phase: Phase, rw: &Rewriter, norm: &mut Norm) -> Outcome {
    let plan = rw.plan(phase, f.sql);
    assert_eq!(plan.action, Action::Rewrite, "{}: {phase}: {:?}", f.name, plan.reason);
    begin(c, norm).await;
    let out = match c.query(plan.sql.as_str(), &refs(&f.params)).await {
        Err(e) => Outcome::Error(sqlstate(&e)),
        Ok(rows) if plan.result.hide_rows => {
            assert_eq!(rows.len(), 1, "{}: one sy_count row", f.name);
            let n: i64 = rows[0].get("sy_count");
            Outcome::Rows { rows: Vec::new(), count: n as u64 }
        }
        Ok(rows) => Outcome::Rows { count: rows.len() as u64, rows: norm.sorted(&rows) },
    };
    finish(c, matches!(out, Outcome::Rows { .. })).await;
    out
}

/// Parameter types and result columns the client would see from Describe.
async fn describe(c: &Client, sql: &str) -> Result<(Vec<String>, Vec<(String, String)>), String> {
    let s = c.prepare(sql).await.map_err(|e| sqlstate(&e))?;
    Ok((
        s.params().iter().map(|t| t.name().to_string()).collect(),
        s.columns().iter().map(|c| (c.name().to_string(), c.type_().name().to_string())).collect(),
    ))
}

async fn twin_pair() -> (support::TestDb, support::TestDb) {
    let twin = support::legacy_db().await;
    let db = support::migrated_db().await;
    twin.client.batch_execute(&seed_sql()).await.unwrap_or_else(|e| panic!("seed twin: {e}"));
    db.client.batch_execute(&seed_sql()).await.unwrap_or_else(|e| panic!("seed: {e}"));
    db.client.batch_execute(BACKFILL_SQL).await.unwrap_or_else(|e| panic!("backfill: {e}"));
    (twin, db)
}

/// Upserts by id of archived, active and new todos: the conflict target is
/// the legacy key wherever the row lives in the new tables.
fn upsert_forms() -> Vec<Form> {
    use V::*;
    vec![
        form(
            "upsert of an archived todo with DO NOTHING does nothing",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'again') ON CONFLICT (id) DO NOTHING RETURNING id, status",
            vec![Id(t(6)), Id(u(U1))],
        ),
        form(
            "ON CONFLICT DO NOTHING without a target skips an archived todo and inserts a new one",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'again'), ($3, $2, 'fresh') ON CONFLICT DO NOTHING",
            vec![Id(t(5)), Id(u(U1)), Id(t(60))],
        ),
        form(
            "upsert of an archived todo whose DO UPDATE WHERE rejects it changes nothing",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title WHERE todos.priority > 100 RETURNING *",
            vec![Id(t(6)), Id(u(U1)), Text("nope")],
        ),
        form(
            "upsert of an archived todo updates it in the archive, still done",
            "INSERT INTO todos AS t (id, user_id, title) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, description = t.description || ' (again)' RETURNING *",
            vec![Id(t(6)), Id(u(U1)), Text("Old subtask (upserted)")],
        ),
        form(
            "upsert of an archived todo without RETURNING counts the updated row",
            "INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, 'x', 4) \
             ON CONFLICT (id) DO UPDATE SET priority = EXCLUDED.priority WHERE todos.status = 'done'",
            vec![Id(t(5)), Id(u(U1))],
        ),
        form(
            "upsert of an active todo proposed under another user updates the owner's row",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'other user') \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title RETURNING id, user_id, title",
            vec![Id(t(4)), Id(u(U1))],
        ),
        form(
            "upsert reopening an archived todo moves it to todos_active, beside a new row",
            "INSERT INTO todos (id, user_id, title, status) VALUES ($1, $2, 'reopened', 'todo'), ($3, $2, 'brand new', 'todo') \
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, completed_at = NULL \
             RETURNING id, title, status, completed_at, updated_at",
            vec![Id(t(6)), Id(u(U1)), Id(t(61))],
        ),
        form(
            "upsert reopening an archived todo with DO UPDATE SET col = DEFAULT",
            "INSERT INTO todos (id, user_id, title, status) VALUES ($1, $2, 'reopened', 'todo') \
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, completed_at = NULL, priority = DEFAULT \
             RETURNING id, status, priority",
            vec![Id(t(6)), Id(u(U1))],
        ),
        form(
            "upsert proposing one id twice fails as on legacy",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'a'), ($1, $2, 'b') \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title",
            vec![Id(t(5)), Id(u(U1))],
        ),
        form(
            "upsert with a NULL title fails before the conflict check",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, NULL) ON CONFLICT (id) DO UPDATE SET priority = 1",
            vec![Id(t(5)), Id(u(U1))],
        ),
        form(
            "upsert of new and active ids by id",
            "INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, 'upsert new', 1), ($3, $2, 'upsert active', 8) \
             ON CONFLICT (id) DO UPDATE SET priority = todos.priority + EXCLUDED.priority RETURNING id, title, priority",
            vec![Id(t(62)), Id(u(U1)), Id(t(1))],
        ),
    ]
}

/// Whether the backfill is on record as complete: the mirror functions take
/// their during-backfill paths (legacy descendants locked and walked on a
/// delete) until it is, and their fast paths after.
#[derive(Clone, Copy, PartialEq)]
enum Backfill {
    Running,
    Complete,
}

async fn every_write_form_keeps_both_schemas_equal(phase: Phase) {
    run_forms_against_twin(phase, forms(), Backfill::Running).await;
}

async fn every_write_form_keeps_both_schemas_equal_after_the_backfill(phase: Phase) {
    run_forms_against_twin(phase, forms(), Backfill::Complete).await;
}

async fn every_upsert_by_id_keeps_both_schemas_equal(phase: Phase) {
    run_forms_against_twin(phase, upsert_forms(), Backfill::Running).await;
}

async fn run_forms_against_twin(phase: Phase, forms: Vec<Form>, backfill: Backfill) {
    let rw = Rewriter::with_default_spec();
    let (twin, db) = twin_pair().await;
    if backfill == Backfill::Complete {
        db.client
            .batch_execute(
                "INSERT INTO switchyard.backfill_progress (table_name, rows_copied, completed, finished_at)
                 VALUES ('todos', 8, true, now())",
            )
            .await
            .expect("backfill on record");
    }
    let archived: i64 = db.client.query_one("SELECT count(*) FROM todos_archived", &[]).await.expect("count").get(0);
    assert_eq!(archived, 2, "the fixture archives t5 and t6");
    let legacy_kept = phase != Phase::NewOnly;
    let (mut nt, mut nd) = (Norm::new(), Norm::new());
    for f in forms.iter().filter(|f| !f.skip.contains(&phase)) {
        let at = format!("{phase}: {}", f.name);
        // Describe: same parameter types; same columns unless the proxy hides them.
        let plan = rw.plan(phase, f.sql);
        let (orig_params, orig_cols) = describe(&twin.client, f.sql).await.unwrap_or_default();
        if let Ok((params, cols)) = describe(&db.client, &plan.sql).await {
            assert_eq!(params, orig_params, "{at}: parameter types");
            if plan.result.hide_rows {
                assert!(orig_cols.is_empty(), "{at}: rows hidden only when the client wrote no RETURNING");
            } else {
                assert_eq!(cols, orig_cols, "{at}: result columns");
            }
        }
        let want = run_original(&twin.client, f, &mut nt).await;
        let got = run_rewritten(&db.client, f, phase, &rw, &mut nd).await;
        assert_eq!(got, want, "{at}: what the client sees");
        let twin_rows = legacy_rows(&twin.client, &nt).await;
        assert_eq!(new_rows(&db.client, &nd).await, twin_rows, "{at}: the new schema holds what legacy alone would");
        if legacy_kept {
            assert_eq!(legacy_rows(&db.client, &nd).await, twin_rows, "{at}: legacy holds what legacy alone would");
        }
        let (diff, i3, depth, archived_not_done) = invariants(&db.client, legacy_kept).await;
        assert_eq!((diff, i3, depth, archived_not_done), (0, 0, 0, 0), "{at}: (differences, I3, depth, archive CHECK)");
    }
}

#[tokio::test]
async fn dual_write_mirrors_every_write_form_to_the_new_schema() {
    every_write_form_keeps_both_schemas_equal(Phase::DualWrite).await;
}

#[tokio::test]
async fn read_new_mirrors_every_write_form_to_the_new_schema() {
    every_write_form_keeps_both_schemas_equal(Phase::ReadNew).await;
}

#[tokio::test]
async fn write_new_applies_every_write_form_to_the_new_tables_and_mirrors_to_legacy() {
    every_write_form_keeps_both_schemas_equal(Phase::WriteNew).await;
}

#[tokio::test]
async fn new_only_applies_every_write_form_to_the_new_tables() {
    every_write_form_keeps_both_schemas_equal(Phase::NewOnly).await;
}

#[tokio::test]
async fn dual_write_after_the_backfill_mirrors_every_write_form_to_the_new_schema() {
    every_write_form_keeps_both_schemas_equal_after_the_backfill(Phase::DualWrite).await;
}

#[tokio::test]
async fn read_new_after_the_backfill_mirrors_every_write_form_to_the_new_schema() {
    every_write_form_keeps_both_schemas_equal_after_the_backfill(Phase::ReadNew).await;
}

#[tokio::test]
async fn write_new_after_the_backfill_applies_every_write_form_and_mirrors_to_legacy() {
    every_write_form_keeps_both_schemas_equal_after_the_backfill(Phase::WriteNew).await;
}

#[tokio::test]
async fn new_only_after_the_backfill_applies_every_write_form_to_the_new_tables() {
    every_write_form_keeps_both_schemas_equal_after_the_backfill(Phase::NewOnly).await;
}

#[tokio::test]
async fn dual_write_upserts_by_id_as_legacy_does() {
    every_upsert_by_id_keeps_both_schemas_equal(Phase::DualWrite).await;
}

#[tokio::test]
async fn read_new_upserts_by_id_as_legacy_does() {
    every_upsert_by_id_keeps_both_schemas_equal(Phase::ReadNew).await;
}

#[tokio::test]
async fn write_new_upserts_by_id_across_todos_active_and_todos_archived() {
    every_upsert_by_id_keeps_both_schemas_equal(Phase::WriteNew).await;
}

#[tokio::test]
async fn new_only_upserts_by_id_across_todos_active_and_todos_archived() {
    every_upsert_by_id_keeps_both_schemas_equal(Phase::NewOnly).await;
}

#[tokio::test]
async fn an_update_in_place_of_a_row_the_backfill_has_not_copied_yet_copies_it() {
    let rw = Rewriter::with_default_spec();
    let (_twin, db) = twin_pair().await;
    // The copy of t1 is missing, as before the backfill reaches it.
    db.client.execute("DELETE FROM todos_active WHERE id = $1", &[&t(1)]).await.expect("drop the copy");
    let plan = rw.plan(Phase::DualWrite, "UPDATE todos SET title = $1 WHERE id = $2");
    assert!(plan.sql.contains("mirror_todos_in_place"), "{}", plan.sql);
    db.client.query(plan.sql.as_str(), &[&"retitled", &t(1)]).await.expect("update");
    let title: String =
        db.client.query_one("SELECT title FROM todos_active WHERE id = $1", &[&t(1)]).await.expect("copied").get(0);
    assert_eq!(title, "retitled");
    let (diff, i3, depth, bad) = invariants(&db.client, true).await;
    assert_eq!((diff, i3, depth, bad), (0, 0, 0, 0));
}

#[test]
fn an_upsert_moving_a_todo_to_another_user_or_id_is_refused_on_the_new_tables() {
    let rw = Rewriter::with_default_spec();
    for set in ["user_id = EXCLUDED.user_id", "id = gen_random_uuid()"] {
        let sql =
            format!("INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'x') ON CONFLICT (id) DO UPDATE SET {set}");
        for phase in [Phase::WriteNew, Phase::NewOnly] {
            let plan = rw.plan(phase, &sql);
            assert_eq!(plan.action, Action::Refuse, "{phase}: {sql}");
            assert!(plan.reason.as_deref().unwrap_or("").contains("ON CONFLICT DO UPDATE SET"), "{:?}", plan.reason);
        }
        assert_eq!(rw.plan(Phase::DualWrite, &sql).action, Action::Rewrite, "legacy takes it in dual_write");
    }
}

/// Reads as applications write them, with their parameters.
fn reads() -> Vec<(&'static str, Vec<V>)> {
    use V::*;
    vec![
        (
            "SELECT todos.id, todos.user_id, todos.project_id, todos.parent_todo_id, todos.title, todos.description, todos.status, \
             todos.priority, todos.due_date, todos.ai_generated, todos.tags, todos.metadata, todos.created_at, todos.updated_at, \
             todos.completed_at FROM todos WHERE todos.user_id = $1::UUID ORDER BY todos.priority DESC, todos.created_at DESC, todos.id LIMIT $2::INTEGER OFFSET $3::INTEGER",
            vec![Id(u(U1)), Int(10), Int(0)],
        ),
        ("SELECT * FROM todos WHERE status = 'done'", vec![]),
        ("SELECT * FROM todos WHERE status <> 'done' AND user_id = $1", vec![Id(u(U1))]),
        ("SELECT status, count(*) AS n FROM todos GROUP BY status", vec![]),
        (
            "WITH RECURSIVE tree AS (SELECT id, parent_todo_id, title, 0 AS level FROM todos WHERE id = $1 \
             UNION ALL SELECT t.id, t.parent_todo_id, t.title, tree.level + 1 FROM todos t JOIN tree ON t.parent_todo_id = tree.id) \
             SELECT id, title, level FROM tree",
            vec![Id(t(5))],
        ),
        ("SELECT p.title, count(c.id) AS children FROM todos p LEFT JOIN todos c ON c.parent_todo_id = p.id GROUP BY p.title", vec![]),
        ("SELECT u.email, (SELECT count(*) FROM todos WHERE todos.user_id = u.id) AS n FROM users u", vec![]),
        ("SELECT id, title, row_number() OVER (PARTITION BY user_id ORDER BY priority DESC, id) AS rank FROM todos", vec![]),
        ("SELECT * FROM \"public\".\"todos\" t WHERE t.id::text = ANY($1::text[])", vec![Texts(vec![t(1).to_string(), t(6).to_string()])]),
    ]
}

#[tokio::test]
async fn reads_in_the_new_schema_return_what_legacy_returns_and_the_shadow_agrees() {
    let rw = Rewriter::with_default_spec();
    let (_twin, db) = twin_pair().await;
    let n = Norm::new();
    for (sql, params) in reads() {
        let legacy = db.client.query(sql, &refs(&params)).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        for phase in [Phase::ReadNew, Phase::WriteNew, Phase::NewOnly] {
            let plan = rw.plan(phase, sql);
            assert_eq!(plan.action, Action::Rewrite, "{phase}: {sql}");
            let new = db
                .client
                .query(plan.sql.as_str(), &refs(&params))
                .await
                .unwrap_or_else(|e| panic!("{phase}: {sql}: {e}"));
            assert_eq!(n.sorted(&new), n.sorted(&legacy), "{phase}: {sql}");
            let cols = |rows: &[tokio_postgres::Row]| {
                rows.first().map(|r| r.columns().iter().map(|c| c.name().to_string()).collect::<Vec<_>>())
            };
            assert_eq!(cols(&new), cols(&legacy), "{phase}: column names kept");
        }
        for phase in [Phase::DualWrite, Phase::ReadNew, Phase::WriteNew] {
            if let Some(shadow) = &rw.plan(phase, sql).shadow {
                let row = db
                    .client
                    .query_one(shadow.counts_sql().as_str(), &refs(&params))
                    .await
                    .unwrap_or_else(|e| panic!("shadow {sql}: {e}"));
                let (only_legacy, only_new): (i64, i64) = (row.get("only_in_legacy"), row.get("only_in_new"));
                assert_eq!((only_legacy, only_new), (0, 0), "{phase}: shadow of {sql}");
            }
        }
    }
}

#[tokio::test]
async fn the_shadow_statement_counts_rows_that_differ() {
    let rw = Rewriter::with_default_spec();
    let (_twin, db) = twin_pair().await;
    // Tamper with the new schema behind the mirror's back.
    db.client.execute("UPDATE todos_active SET title = 'tampered' WHERE id = $1", &[&t(1)]).await.expect("tamper");
    let plan = rw.plan(Phase::ReadNew, "SELECT id, title FROM todos WHERE user_id = $1");
    let shadow = plan.shadow.clone().expect("a plain read is shadowed");
    let row = db.client.query_one(shadow.counts_sql().as_str(), &[&u(U1)]).await.expect("shadow runs");
    let (only_legacy, only_new): (i64, i64) = (row.get("only_in_legacy"), row.get("only_in_new"));
    assert_eq!((only_legacy, only_new), (1, 1));
}

#[tokio::test]
async fn a_mirror_failure_rolls_back_the_client_write() {
    // I1: the mirror commits or rolls back with the client's statement. In
    // write_new the new tables accept a parent that does not exist (they have
    // no foreign key on parent_todo_id), the legacy mirror does not: the
    // statement fails with the legacy error and nothing stays on either side.
    let rw = Rewriter::with_default_spec();
    let (_twin, db) = twin_pair().await;
    let plan = rw.plan(Phase::WriteNew, "UPDATE todos SET parent_todo_id = $1 WHERE id = $2");
    let err =
        db.client.query(plan.sql.as_str(), &[&t(99), &t(1)]).await.expect_err("the legacy foreign key rejects it");
    assert_eq!(err.code().map(|c| c.code()), Some("23503"));
    let parent: Option<uuid::Uuid> = db
        .client
        .query_one("SELECT parent_todo_id FROM todos_active WHERE id = $1", &[&t(1)])
        .await
        .expect("new")
        .get(0);
    assert_eq!(parent, None, "nothing of the failed statement is left in the new tables");
    let (diff, i3, depth, bad) = invariants(&db.client, true).await;
    assert_eq!((diff, i3, depth, bad), (0, 0, 0, 0));
}

#[tokio::test]
async fn the_mirror_function_is_idempotent_for_the_backfill() {
    let (_twin, db) = twin_pair().await;
    let before = new_rows(&db.client, &Norm::new()).await;
    db.client.batch_execute("SELECT switchyard.mirror_todos('U', array_agg(t)) FROM todos t").await.expect("again");
    db.client.batch_execute("SELECT switchyard.mirror_todos('I', array_agg(t)) FROM todos t").await.expect("and again");
    assert_eq!(new_rows(&db.client, &Norm::new()).await, before);
    let (diff, i3, depth, bad) = invariants(&db.client, true).await;
    assert_eq!((diff, i3, depth, bad), (0, 0, 0, 0));
    let depths: Vec<(String, i32)> = db
        .client
        .query(
            "SELECT title, depth FROM todos_active UNION ALL SELECT title, depth FROM todos_archived ORDER BY 1",
            &[],
        )
        .await
        .expect("depths")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(depths.contains(&("Compare prices".to_string(), 2)), "{depths:?}");
    assert!(depths.contains(&("Open subtask".to_string(), 1)), "a child of an archived parent: {depths:?}");
}

fn rewrite_cli(args: &[&str], stdin: Option<&str>) -> (i32, String) {
    use std::io::Write;
    let mut cmd = std::process::Command::new(support::switchyard_bin());
    cmd.arg("rewrite").args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    let mut child = cmd.spawn().expect("spawn switchyard rewrite");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn switchyard_rewrite_prints_the_plan_as_json() {
    let (code, out) =
        rewrite_cli(&["--phase", "dual_write", "--json", "--sql", "UPDATE todos SET status = $1 WHERE id = $2"], None);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["action"], "rewrite");
    assert!(v["sql"].as_str().unwrap_or("").contains("switchyard.mirror_todos('U'"));
    assert_eq!(v["result"]["command_tag"], "update");
    assert_eq!(v["result"]["hide_rows"], true);
    assert!(v["shadow"].is_null());
    let (code, out) = rewrite_cli(&["--phase", "read_new", "--json"], Some("SELECT title FROM todos WHERE id = $1"));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(v["sql"].as_str().unwrap_or("").ends_with(") AS todos WHERE id = $1"));
    assert!(v["shadow"].as_str().unwrap_or("").contains("EXCEPT ALL"));
}

#[test]
fn switchyard_rewrite_exits_3_on_a_refusal() {
    let (code, out) = rewrite_cli(&["--phase", "write_new", "--sql", "TRUNCATE todos"], None);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("action: refuse") && out.contains("TRUNCATE"), "{out}");
    let (code, _) = rewrite_cli(&["--phase", "legacy", "--sql", "TRUNCATE todos"], None);
    assert_eq!(code, 0, "the legacy phase refuses nothing");
}

#[test]
fn switchyard_rewrite_check_reports_every_phase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queries.sql");
    std::fs::write(
        &path,
        "SELECT * FROM users WHERE id = $1\nUPDATE todos SET title = $1 WHERE id = $2\nCOPY todos FROM STDIN\n",
    )
    .expect("write");
    let p = path.to_string_lossy().into_owned();
    let (code, out) = rewrite_cli(&["--check", &p], None);
    assert_eq!(code, 3, "a refusal in some phase: {out}");
    assert!(out.contains("3 statements"), "{out}");
    assert!(out.contains("dual_write passthrough     1  rewrite     1  refuse     1"), "{out}");
    let (code, out) = rewrite_cli(&["--check", &p, "--json"], None);
    assert_eq!(code, 3);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["plans"]["write_new"]["action"], "rewrite");
    assert_eq!(lines[2]["plans"]["new_only"]["action"], "refuse");
}

#[test]
fn switchyard_rewrite_takes_sql_that_starts_with_a_comment() {
    let (code, out) = rewrite_cli(&["--phase", "dual_write", "--sql", "-- note\nSELECT 1"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("action: passthrough"), "{out}");
    let (code, out) =
        rewrite_cli(&["--phase", "dual_write", "--json", "--sql", "-- note\nDELETE FROM todos WHERE id = $1"], None);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["action"], "rewrite");
    assert_eq!(v["result"]["command_tag"], "delete");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queries.sql");
    std::fs::write(
        &path,
        "-- the app's queries\nUPDATE todos SET title = $1 WHERE id = $2;\n-- health check\nSELECT 1;\n",
    )
    .expect("write");
    let (code, out) = rewrite_cli(&["--check", &path.to_string_lossy()], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 statements"), "{out}");
    assert!(out.contains("dual_write passthrough     1  rewrite     1  refuse     0"), "{out}");
}

#[tokio::test]
async fn a_locking_read_in_write_new_locks_the_row_in_the_new_tables() {
    let rw = Rewriter::with_default_spec();
    let (_twin, db) = twin_pair().await;
    let sql = "SELECT todos.id, todos.status, todos.title FROM todos WHERE todos.id = $1::UUID FOR UPDATE";
    let n = Norm::new();
    for (phase, id) in [(Phase::WriteNew, t(1)), (Phase::NewOnly, t(6))] {
        let plan = rw.plan(phase, sql);
        assert_eq!(plan.action, Action::Rewrite, "{phase}: {:?}", plan.reason);
        let legacy = db.client.query(sql, &[&id]).await.expect("legacy");
        db.client.batch_execute("BEGIN").await.expect("begin");
        let rows = db.client.query(plan.sql.as_str(), &[&id]).await.expect("rewritten locking read");
        assert_eq!(n.rows(&rows), n.rows(&legacy), "{phase}: same row");
        // Another session cannot lock the same new-table row meanwhile.
        let other = db.connect().await;
        let locked = other
            .query("SELECT id FROM todos_active WHERE id = $1 FOR UPDATE NOWAIT", &[&id])
            .await
            .and(other.query("SELECT id FROM todos_archived WHERE id = $1 FOR UPDATE NOWAIT", &[&id]).await);
        let code = locked.err().and_then(|e| e.code().map(|c| c.code().to_string()));
        assert_eq!(code.as_deref(), Some("55P03"), "{phase}: the row is locked");
        db.client.batch_execute("ROLLBACK").await.expect("rollback");
    }
}

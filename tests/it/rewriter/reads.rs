//! Reads in the new schema return what legacy returns, the shadow statement
//! agrees (and counts rows that differ), and a locking read locks the row in
//! the new tables.

use switchyard_rewriter::{Action, Phase, Rewriter};

use super::twin::twin_pair;
use crate::support::assert_same_as_legacy;
use crate::support::fixture::*;

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
        // Recursive steps joined to their CTE are read through LATERAL; these
        // vary the join order, aliases, the condition and the step's list, and
        // include shapes that keep the plain union (unqualified columns).
        (
            "WITH RECURSIVE sub AS (SELECT id, parent_todo_id, 1 AS lvl FROM todos WHERE id = $1 \
             UNION SELECT c.id, c.parent_todo_id, s.lvl + 1 FROM sub AS s INNER JOIN todos AS c \
             ON c.parent_todo_id = s.id AND c.status <> 'done' WHERE s.lvl < 5) SELECT id, lvl FROM sub",
            vec![Id(t(5))],
        ),
        (
            "WITH RECURSIVE tree AS (SELECT * FROM todos WHERE id = $1 \
             UNION ALL SELECT t.* FROM todos t JOIN tree ON t.parent_todo_id = tree.id) SELECT id, title, depth_hint FROM \
             (SELECT id, title, parent_todo_id IS NULL AS depth_hint FROM tree) x",
            vec![Id(t(5))],
        ),
        (
            "WITH RECURSIVE tree AS (SELECT id, 0 AS depth FROM todos WHERE id = $1 \
             UNION ALL SELECT todos.id, tree.depth + 1 FROM todos JOIN tree ON todos.parent_todo_id = tree.id AND depth < 1) \
             SELECT id, depth FROM tree",
            vec![Id(t(5))],
        ),
        (
            "WITH RECURSIVE tree(node) AS (SELECT id FROM todos WHERE id = $1 \
             UNION ALL SELECT t.id FROM todos t JOIN tree ON parent_todo_id = node) SELECT node FROM tree",
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
            assert_same_as_legacy(&n.sorted(&legacy), &n.sorted(&new), format_args!("{phase}: {sql}"));
            let cols = |rows: &[tokio_postgres::Row]| {
                rows.first().map(|r| r.columns().iter().map(|c| c.name().to_string()).collect::<Vec<_>>())
            };
            assert_same_as_legacy(&cols(&legacy), &cols(&new), format_args!("{phase}: column names of {sql}"));
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
        assert_same_as_legacy(&n.rows(&legacy), &n.rows(&rows), format_args!("{phase}: the locked row"));
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

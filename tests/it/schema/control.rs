//! The switchyard control schema: phase changes leave a history, shadow
//! mismatch samples are capped, maintenance logging helpers.

use super::fixtures::{count, exec, strings};
use crate::support;

#[tokio::test]
async fn every_phase_change_is_recorded_in_phase_history_whoever_makes_it() {
    let db = support::migrated_db().await;
    exec(
        &db.client,
        "UPDATE switchyard.migration_state SET phase = 'dual_write', epoch = 1, updated_by = 'alice', reason = 'go' WHERE table_name = 'todos';
         UPDATE switchyard.migration_state SET reason = 'noted' WHERE table_name = 'todos';
         UPDATE switchyard.migration_state SET phase = 'legacy', epoch = 2, updated_by = 'bob', reason = 'back' WHERE table_name = 'todos'",
    )
    .await;
    let history = strings(
        &db.client,
        "SELECT coalesce(from_phase, '-') || ' > ' || to_phase || ' @' || epoch || ' by ' || changed_by || ': ' || reason
         FROM switchyard.phase_history WHERE table_name = 'todos' ORDER BY id",
        &[],
    )
    .await;
    assert_eq!(
        history,
        [
            "- > legacy @0 by switchyard migrate: initial state",
            "legacy > dual_write @1 by alice: go",
            "dual_write > legacy @2 by bob: back",
        ],
        "a change of reason alone is not a phase change"
    );
}

#[tokio::test]
async fn shadow_mismatch_samples_keep_only_the_newest_thousand() {
    let db = support::migrated_db().await;
    exec(
        &db.client,
        "INSERT INTO switchyard.shadow_mismatches (statement, only_in_legacy) SELECT 'SELECT ' || g, 1 FROM generate_series(1, 1200) g;
         INSERT INTO switchyard.shadow_mismatches (statement, only_in_new) VALUES ('SELECT newest', 1)",
    )
    .await;
    assert_eq!(count(&db.client, "SELECT count(*) FROM switchyard.shadow_mismatches", &[]).await, 1000);
    let oldest =
        strings(&db.client, "SELECT statement FROM switchyard.shadow_mismatches ORDER BY id LIMIT 1", &[]).await;
    assert_eq!(oldest, ["SELECT 202"]);
    let newest =
        strings(&db.client, "SELECT statement FROM switchyard.shadow_mismatches ORDER BY id DESC LIMIT 1", &[]).await;
    assert_eq!(newest, ["SELECT newest"]);
}

#[tokio::test]
async fn the_logging_helpers_open_and_close_a_maintenance_history_row() {
    let db = support::migrated_db().await;
    let id: i64 = db
        .client
        .query_one(
            "SELECT switchyard.maintenance_begin('weekly_maintenance', 'vacuum_todos_active', '{\"by\": \"cli\"}')",
            &[],
        )
        .await
        .expect("begin")
        .get(0);
    let running = strings(&db.client, "SELECT status FROM maintenance_history WHERE id = $1", &[&id]).await;
    assert_eq!(running, ["running"]);
    exec(
        &db.client,
        &format!(
            "SELECT switchyard.maintenance_finish({id}, 'failed', NULL, '{{\"attempt\": 2}}', 'canceling statement')"
        ),
    )
    .await;
    let row = db
        .client
        .query_one(
            "SELECT status, error, detail::text, finished_at >= started_at FROM maintenance_history WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2), row.get::<_, bool>(3)),
        ("failed".into(), "canceling statement".into(), "{\"by\": \"cli\", \"attempt\": 2}".into(), true)
    );
}

#[tokio::test]
async fn lock_table_gives_up_with_lock_not_available_after_its_short_tries_and_locks_once_the_table_is_free() {
    let db = support::migrated_db().await;
    let reader = db.connect().await;
    reader.batch_execute("BEGIN; SELECT count(*) FROM todos_archived").await.expect("reader holds ACCESS SHARE");

    let err = db
        .client
        .query_one("SELECT switchyard.lock_table('todos_archived', 'access exclusive', '20 milliseconds', 3)", &[])
        .await
        .expect_err("the reader holds the table");
    assert_eq!(super::fixtures::sqlstate(&err), "55P03");

    reader.batch_execute("COMMIT").await.expect("commit");
    db.client.batch_execute("BEGIN").await.expect("begin");
    let attempts: i32 = db
        .client
        .query_one("SELECT switchyard.lock_table('todos_archived', 'ACCESS EXCLUSIVE', '20 milliseconds', 3)", &[])
        .await
        .expect("lock")
        .get(0);
    assert_eq!(attempts, 1);
    let held = count(
        &db.client,
        "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'todos_archived'::regclass AND mode = 'AccessExclusiveLock' AND granted",
        &[],
    )
    .await;
    assert_eq!(held, 1, "the lock outlives the function, until the transaction ends");
    let timeout = strings(&db.client, "SHOW lock_timeout", &[]).await;
    assert_eq!(timeout, ["0"], "the caller's lock_timeout is restored");
    db.client.batch_execute("ROLLBACK").await.expect("rollback");

    let bad = db
        .client
        .query_one(
            "SELECT switchyard.lock_table('todos_archived', 'ACCESS EXCLUSIVE; DROP TABLE users', '1 second', 1)",
            &[],
        )
        .await;
    assert_eq!(bad.map(|_| ()).map_err(|e| super::fixtures::sqlstate(&e)), Err("22023".to_string()));
}

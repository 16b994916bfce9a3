//! The archival and the backfill take their locks in the application's order
//! (the users or projects row first, then todos), so deleting a user while
//! either runs never fails with a deadlock the app did not have before the
//! migration: the delete waits at most for the job's batch, then succeeds.
//!
//! Each test builds the interleaving that closed the cycle before: the job
//! holding its todos locks, the app's `DELETE FROM users` holding the user's
//! row and waiting in its cascade, then the job checking the foreign key to
//! that user. Which side of a cycle PostgreSQL aborts depends on whose
//! deadlock_timeout fires first, a matter of timing in production; the job's
//! sessions raise theirs here, so that a cycle, if one forms, aborts the app.

use crate::support;

use std::time::Duration;

use tokio_postgres::Client;

const A: &str = "00000000-0000-4000-8000-00000000000a";
const B: &str = "00000000-0000-4000-8000-00000000000b";

/// Users A and B, each with a project and done todos in legacy, copied to the
/// new tables unless `backfilled` is false. B's todos were completed in
/// 2020, A's 40 days ago.
async fn two_users(db: &support::TestDb, backfilled: bool) {
    db.client
        .batch_execute(&format!(
            "INSERT INTO users (id, email) VALUES ('{A}', 'a@example.com'), ('{B}', 'b@example.com');
             INSERT INTO projects (id, user_id, name) VALUES ('{A}', '{A}', 'a'), ('{B}', '{B}', 'b');
             INSERT INTO todos (user_id, project_id, title, status, completed_at)
               SELECT u, u, 'done ' || g, 'done', CASE WHEN u = '{B}' THEN '2020-01-01'::timestamptz ELSE now() - interval '40 days' END
               FROM generate_series(1, 20) g, unnest(ARRAY['{A}', '{B}']::uuid[]) u;"
        ))
        .await
        .expect("rows");
    if backfilled {
        db.client.batch_execute("SELECT switchyard.mirror_todos('I', array_agg(t)) FROM todos t").await.expect("copy");
    }
}

/// Waits until a session running `query_prefix` waits for a lock.
async fn wait_for_lock_wait(db: &support::TestDb, query_prefix: &str) {
    let watcher = db.connect().await;
    for _ in 0..500 {
        let n: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1 || '%'",
                &[&query_prefix],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no session running {query_prefix:?} started waiting for a lock");
}

/// The app deletes user A on its own connection.
async fn delete_user_a(db: &support::TestDb) -> tokio::task::JoinHandle<Result<u64, tokio_postgres::Error>> {
    let app = db.connect().await;
    tokio::spawn(async move { app.execute(&format!("DELETE FROM users WHERE id = '{A}'"), &[]).await })
}

async fn rows_of_a(c: &Client) -> i64 {
    c.query_one(
        &format!(
            "SELECT (SELECT count(*) FROM todos WHERE user_id = '{A}') + (SELECT count(*) FROM todos_active WHERE user_id = '{A}')
                  + (SELECT count(*) FROM todos_archived WHERE user_id = '{A}')"
        ),
        &[],
    )
    .await
    .expect("count")
    .get(0)
}

#[tokio::test]
async fn a_user_deleted_while_the_archival_holds_todos_active_is_deleted_without_a_deadlock() {
    let db = support::migrated_db().await;
    two_users(&db, true).await;
    // The archival's transaction holds SHARE ROW EXCLUSIVE on todos_active
    // after a first batch (B's todos) ...
    let job = db.connect().await;
    job.batch_execute("BEGIN; SET LOCAL deadlock_timeout = '10s'").await.expect("begin");
    let first: i32 =
        job.query_one("SELECT archive_completed_todos_batch('5 years', 100)", &[]).await.expect("batch").get(0);
    assert_eq!(first, 20, "B's todos are archived first");
    // ... when the app deletes A: its cascade waits for todos_active ...
    let app = delete_user_a(&db).await;
    wait_for_lock_wait(&db, "DELETE FROM users").await;
    // ... and the next batch reaches A's todos, whose foreign key to A the
    // delete holds.
    let second: i32 =
        job.query_one("SELECT archive_completed_todos_batch('30 days', 100)", &[]).await.expect("batch").get(0);
    job.batch_execute("COMMIT").await.expect("commit");
    let deleted = app.await.expect("join").expect("the app's DELETE succeeds");
    assert_eq!(deleted, 1);
    assert_eq!(second, 0, "A's todos were left to a later batch, not waited for");
    assert_eq!(rows_of_a(&db.client).await, 0, "A's todos are gone from both schemas");
    let archived: i64 = db.client.query_one("SELECT count(*) FROM todos_archived", &[]).await.expect("n").get(0);
    assert_eq!(archived, 20);
}

#[tokio::test]
async fn a_user_deleted_while_a_backfill_batch_runs_is_deleted_without_a_deadlock() {
    let db = support::migrated_db().await;
    two_users(&db, false).await;
    support::force_phase(&db, "dual_write").await;
    // Something holds todos_active, so the batch stops inside, holding
    // whatever it locked before (before: its FOR SHARE on the legacy rows).
    let blocker = db.connect().await;
    blocker.batch_execute("BEGIN; LOCK TABLE todos_active IN SHARE MODE").await.expect("blocker");
    let job = db.connect().await;
    job.batch_execute("BEGIN; SET LOCAL deadlock_timeout = '10s'").await.expect("begin");
    let batch = tokio::spawn(async move {
        let r = job
            .query_one(
                "SELECT copied FROM switchyard.backfill_todos('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 1000)",
                &[],
            )
            .await;
        job.batch_execute("COMMIT").await.expect("commit");
        r.map(|row| row.get::<_, i64>(0))
    });
    wait_for_lock_wait(&db, "SELECT copied FROM switchyard.backfill_todos").await;
    let app = delete_user_a(&db).await;
    wait_for_lock_wait(&db, "DELETE FROM users").await;
    blocker.batch_execute("COMMIT").await.expect("release");
    let deleted = app.await.expect("join").expect("the app's DELETE succeeds");
    assert_eq!(deleted, 1);
    let copied = batch.await.expect("join").expect("the batch succeeds");
    assert_eq!(copied, 40, "the batch held A's rows and B's");
    assert_eq!(rows_of_a(&db.client).await, 0, "A's todos are gone from both schemas");
    let (legacy, new): (i64, i64) = {
        let r = db
            .client
            .query_one("SELECT (SELECT count(*) FROM todos), (SELECT count(*) FROM todos_active)", &[])
            .await
            .expect("counts");
        (r.get(0), r.get(1))
    };
    assert_eq!((legacy, new), (20, 20), "B's todos in both schemas");
}

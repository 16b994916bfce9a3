//! `archive_completed_todos` moves exactly the done todos completed before
//! now() - retention from todos_active to todos_archived, in batches, logs the
//! run, and keeps invariant I3 (no id in both tables) while writers update and
//! delete the same rows in both tables in one statement, as rewritten app
//! writes do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Barrier};
use tokio_postgres::Client;
use uuid::Uuid;

use super::fixtures::{active_todos, count, ids_in, ids_in_both_tables, sqlstate, user};
use crate::support;

/// A rewritten app UPDATE: both tables in one statement, todos_active first.
/// Returns (rows updated in todos_active, rows updated in todos_archived).
const UPDATE_BOTH: &str = "WITH a AS (UPDATE todos_active SET priority = priority + 1 WHERE id = $1 RETURNING id),
                                b AS (UPDATE todos_archived SET priority = priority + 1 WHERE id = $1 RETURNING id)
                           SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b)";

/// A rewritten app DELETE, same shape.
const DELETE_BOTH: &str = "WITH a AS (DELETE FROM todos_active WHERE id = $1 RETURNING id),
                                b AS (DELETE FROM todos_archived WHERE id = $1 RETURNING id)
                           SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b)";

async fn both(client: &Client, sql: &str, id: Uuid) -> (i64, i64) {
    let row = client
        .query_one(sql, &[&id])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", switchyard_pgconn::describe_pg_error(&e)));
    (row.get(0), row.get(1))
}

async fn backend_pid(client: &Client) -> i32 {
    client.query_one("SELECT pg_backend_pid()", &[]).await.expect("pid").get(0)
}

/// Waits until backend `pid` is blocked waiting for a heavyweight lock.
async fn until_waiting_for_a_lock(observer: &Client, pid: i32) {
    for _ in 0..1000 {
        let waiting: bool = observer
            .query_one(
                "SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("backend {pid} never waited for a lock");
}

#[tokio::test]
async fn archive_moves_exactly_the_done_todos_completed_before_the_retention_in_batches_and_logs_the_run() {
    let db = support::migrated_db().await;
    let c = &db.client;
    let u = user(c).await;
    let mut eligible = active_todos(c, u, 25, "done", Some(40)).await;
    let decorated = eligible[0];
    let recent_done = active_todos(c, u, 5, "done", Some(10)).await;
    let done_without_date = active_todos(c, u, 3, "done", None).await;
    let open_but_old_date = active_todos(c, u, 4, "in_progress", Some(40)).await;
    let todo = active_todos(c, u, 6, "todo", None).await;
    c.execute(
        "UPDATE todos_active SET depth = 2, tags = '{a,b}', metadata = '{\"k\": 1}' WHERE id = $1",
        &[&decorated],
    )
    .await
    .expect("decorate one row");
    let before: String = c
        .query_one("SELECT row_to_json(t)::text FROM todos_active t WHERE id = $1", &[&decorated])
        .await
        .expect("row image")
        .get(0);

    let moved: i32 = c.query_one("SELECT archive_completed_todos('30 days', 10)", &[]).await.expect("archive").get(0);

    assert_eq!(moved, 25);
    eligible.sort();
    assert_eq!(ids_in(c, "todos_archived", u).await, eligible);
    let mut remaining: Vec<Uuid> = [recent_done, done_without_date, open_but_old_date, todo].concat();
    remaining.sort();
    assert_eq!(ids_in(c, "todos_active", u).await, remaining);
    assert_eq!(ids_in_both_tables(c).await, 0);

    // The archived row is the active row, column for column, plus archived_at.
    let after: String = c
        .query_one(
            "SELECT (row_to_json(t)::jsonb - 'archived_at')::json::text FROM todos_archived t WHERE id = $1",
            &[&decorated],
        )
        .await
        .expect("archived image")
        .get(0);
    let as_json = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("json");
    assert_eq!(as_json(&after), as_json(&before));
    let stamped =
        count(c, "SELECT count(*) FROM todos_archived WHERE archived_at > now() - interval '1 minute'", &[]).await;
    assert_eq!(stamped, 25, "archived_at is the time of archival");

    let log = c
        .query(
            "SELECT status, rows_affected, (detail->>'batches')::int, detail->>'retention', finished_at IS NOT NULL
             FROM maintenance_history WHERE job = 'archive_completed_todos'",
            &[],
        )
        .await
        .expect("maintenance_history");
    assert_eq!(log.len(), 1);
    let r = &log[0];
    assert_eq!(
        (
            r.get::<_, String>(0),
            r.get::<_, Option<i64>>(1),
            r.get::<_, i32>(2),
            r.get::<_, String>(3),
            r.get::<_, bool>(4)
        ),
        ("succeeded".to_string(), Some(25), 3, "30 days".to_string(), true),
        "one logged run of three batches (10 + 10 + 5)"
    );
}

#[tokio::test]
async fn an_archival_batch_moves_at_most_batch_size_rows_and_returns_zero_when_nothing_is_left() {
    let db = support::migrated_db().await;
    let c = &db.client;
    let u = user(c).await;
    active_todos(c, u, 23, "done", Some(31)).await;
    let mut moved = Vec::new();
    loop {
        let n: i32 =
            c.query_one("SELECT archive_completed_todos_batch('30 days', 10)", &[]).await.expect("batch").get(0);
        moved.push(n);
        if n == 0 {
            break;
        }
    }
    assert_eq!(moved, [10, 10, 3, 0]);
    assert_eq!(count(c, "SELECT count(*) FROM todos_archived", &[]).await, 23);
    assert_eq!(count(c, "SELECT count(*) FROM todos_active", &[]).await, 0);
}

#[tokio::test]
async fn archival_refuses_to_run_outside_read_committed() {
    let db = support::migrated_db().await;
    let u = user(&db.client).await;
    active_todos(&db.client, u, 2, "done", Some(60)).await;
    db.client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.expect("begin");
    let err = db.client.query_one("SELECT archive_completed_todos_batch()", &[]).await.expect_err("must refuse");
    assert_eq!(sqlstate(&err), "25000");
    db.client.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(count(&db.client, "SELECT count(*) FROM todos_active", &[]).await, 2, "nothing moved");
}

#[tokio::test]
async fn an_archival_batch_gives_up_with_lock_not_available_while_a_transaction_keeps_writing_todos_active() {
    let db = support::migrated_db().await;
    let u = user(&db.client).await;
    let ids = active_todos(&db.client, u, 3, "done", Some(60)).await;
    let writer = db.connect().await;
    writer.batch_execute("BEGIN").await.expect("begin");
    writer.execute("UPDATE todos_active SET title = 'held' WHERE id = $1", &[&ids[0]]).await.expect("update");

    let err = db
        .client
        .query_one("SELECT archive_completed_todos_batch('30 days', 10, '20 milliseconds', 3)", &[])
        .await
        .expect_err("the writer holds todos_active");
    assert_eq!(sqlstate(&err), "55P03");
    assert!(switchyard_pgconn::describe_pg_error(&err).contains("3 attempts"), "{err:?}");

    writer.batch_execute("COMMIT").await.expect("commit");
    let moved: i32 = db
        .client
        .query_one("SELECT archive_completed_todos_batch('30 days', 10, '20 milliseconds', 3)", &[])
        .await
        .expect("retry")
        .get(0);
    assert_eq!(moved, 3);
    let title: String =
        db.client.query_one("SELECT title FROM todos_archived WHERE id = $1", &[&ids[0]]).await.expect("row").get(0);
    assert_eq!(title, "held", "the committed update was archived with the row");
}

#[tokio::test]
async fn a_todo_reopened_while_the_batch_waits_for_its_lock_is_not_archived() {
    let db = support::migrated_db().await;
    let u = user(&db.client).await;
    let ids = active_todos(&db.client, u, 4, "done", Some(60)).await;
    let observer = db.connect().await;
    let writer = db.connect().await;
    writer.batch_execute("BEGIN").await.expect("begin");
    writer
        .execute("UPDATE todos_active SET status = 'in_progress', completed_at = NULL WHERE id = $1", &[&ids[0]])
        .await
        .expect("reopen");

    // The batch picks its candidates (ids[0] still looks done to it), then
    // waits for the writer's transaction.
    let archiver = db.connect().await;
    let pid = backend_pid(&archiver).await;
    let batch = tokio::spawn(async move {
        archiver
            .query_one("SELECT archive_completed_todos_batch('30 days', 10, '30 seconds', 1)", &[])
            .await
            .map(|r| r.get::<_, i32>(0))
    });
    until_waiting_for_a_lock(&observer, pid).await;
    writer.batch_execute("COMMIT").await.expect("commit");

    let moved = batch.await.expect("join").expect("batch");
    assert_eq!(moved, 3);
    let status: String = db
        .client
        .query_one("SELECT status FROM todos_active WHERE id = $1", &[&ids[0]])
        .await
        .expect("still active")
        .get(0);
    assert_eq!(status, "in_progress");
    assert_eq!(ids_in_both_tables(&db.client).await, 0);
}

#[tokio::test]
async fn a_write_blocked_by_an_archival_batch_finds_the_row_in_todos_archived_once_the_batch_commits() {
    let db = support::migrated_db().await;
    let u = user(&db.client).await;
    let ids = active_todos(&db.client, u, 2, "done", Some(60)).await;
    let observer = db.connect().await;
    db.client.batch_execute("BEGIN").await.expect("begin");
    let moved: i32 = db.client.query_one("SELECT archive_completed_todos_batch()", &[]).await.expect("batch").get(0);
    assert_eq!(moved, 2);

    let updater = db.connect().await;
    let deleter = db.connect().await;
    let (update_pid, delete_pid) = (backend_pid(&updater).await, backend_pid(&deleter).await);
    let (a, b) = (ids[0], ids[1]);
    let update = tokio::spawn(async move { both(&updater, UPDATE_BOTH, a).await });
    let delete = tokio::spawn(async move { both(&deleter, DELETE_BOTH, b).await });
    until_waiting_for_a_lock(&observer, update_pid).await;
    until_waiting_for_a_lock(&observer, delete_pid).await;
    db.client.batch_execute("COMMIT").await.expect("commit");

    assert_eq!(update.await.expect("join"), (0, 1), "the update lands on the archived row");
    assert_eq!(delete.await.expect("join"), (0, 1), "the delete removes the archived row");
    let priority: i32 =
        db.client.query_one("SELECT priority FROM todos_archived WHERE id = $1", &[&a]).await.expect("row").get(0);
    assert_eq!(priority, 1);
    assert_eq!(count(&db.client, "SELECT count(*) FROM todos_archived WHERE id = $1", &[&b]).await, 0);
    assert_eq!(count(&db.client, "SELECT count(*) FROM todos_active", &[]).await, 0);
}

/// What one concurrent writer saw.
#[derive(Default)]
struct Tally {
    acknowledged: HashMap<Uuid, i32>,
    hit_active: u64,
    hit_archived: u64,
    /// Statements that found the row in neither table, or in both.
    anomalies: Vec<(Uuid, i64, i64)>,
}

#[tokio::test]
async fn concurrent_updates_and_deletes_on_both_tables_are_neither_lost_nor_doubled_while_archiving() {
    const ROWS: i32 = 300;
    const DELETED: usize = 60;
    const WRITERS: usize = 3;
    let db = support::migrated_db().await;
    let u = user(&db.client).await;
    let ids = active_todos(&db.client, u, ROWS, "done", Some(45)).await;
    let (to_delete, to_update) = (ids[..DELETED].to_vec(), Arc::new(ids[DELETED..].to_vec()));

    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(WRITERS + 2));
    let (batches_tx, batches_rx) = watch::channel(0_u32);

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, ids, stop, start) = (db.connect().await, to_update.clone(), stop.clone(), start.clone());
        writers.push(tokio::spawn(async move {
            let stmt = client.prepare(UPDATE_BOTH).await.expect("prepare");
            let mut tally = Tally::default();
            let mut i = w * 7;
            let mut started = false;
            while !stop.load(Ordering::Relaxed) {
                let id = ids[i % ids.len()];
                i += 13;
                let row = client.query_one(&stmt, &[&id]).await.expect("update both");
                let (a, b): (i64, i64) = (row.get(0), row.get(1));
                match (a, b) {
                    (1, 0) => tally.hit_active += 1,
                    (0, 1) => tally.hit_archived += 1,
                    _ => tally.anomalies.push((id, a, b)),
                }
                if a + b == 1 {
                    *tally.acknowledged.entry(id).or_default() += 1;
                }
                if !started {
                    started = true;
                    start.wait().await;
                }
            }
            tally
        }));
    }

    let deleter = {
        let (client, start, mut batches) = (db.connect().await, start.clone(), batches_rx.clone());
        tokio::spawn(async move {
            start.wait().await;
            let mut seen = Vec::new();
            let (first, second) = to_delete.split_at(DELETED / 2);
            for id in first {
                seen.push((*id, both(&client, DELETE_BOTH, *id).await));
            }
            // The second half once archival is well under way.
            batches.wait_for(|n| *n >= 20).await.expect("archiver alive");
            for id in second {
                seen.push((*id, both(&client, DELETE_BOTH, *id).await));
            }
            seen
        })
    };

    let archiver = {
        let (client, start, stop) = (db.connect().await, start.clone(), stop.clone());
        tokio::spawn(async move {
            start.wait().await;
            let mut batches = 0_u32;
            loop {
                let n: i32 = client
                    .query_one("SELECT archive_completed_todos_batch('30 days', 5)", &[])
                    .await
                    .unwrap_or_else(|e| panic!("batch: {}", switchyard_pgconn::describe_pg_error(&e)))
                    .get(0);
                if n == 0 {
                    break;
                }
                batches += 1;
                batches_tx.send_replace(batches);
            }
            // Keep the channel's last value meaningful for the deleter, then stop writers.
            batches_tx.send_replace(u32::MAX);
            stop.store(true, Ordering::Relaxed);
            batches
        })
    };

    let batches = archiver.await.expect("archiver");
    let deletes = deleter.await.expect("deleter");
    let mut acknowledged: HashMap<Uuid, i32> = HashMap::new();
    let (mut hit_active, mut hit_archived, mut anomalies) = (0, 0, Vec::new());
    for w in writers {
        let t = w.await.expect("writer");
        for (id, n) in t.acknowledged {
            *acknowledged.entry(id).or_default() += n;
        }
        hit_active += t.hit_active;
        hit_archived += t.hit_archived;
        anomalies.extend(t.anomalies);
    }

    assert!(batches >= 20, "archival ran in many batches: {batches}");
    assert!(anomalies.is_empty(), "updates that found the row in neither table or both: {anomalies:?}");
    let bad_deletes: Vec<_> = deletes.iter().filter(|(_, (a, b))| a + b != 1).collect();
    assert!(bad_deletes.is_empty(), "deletes that did not find exactly one row: {bad_deletes:?}");
    assert!(
        hit_active > 0 && hit_archived > 0,
        "writers hit both tables: {hit_active} active, {hit_archived} archived"
    );

    let c = &db.client;
    assert_eq!(ids_in_both_tables(c).await, 0, "I3");
    let deleted: Vec<Uuid> = deletes.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        count(
            c,
            "SELECT count(*) FROM (SELECT id FROM todos_active UNION ALL SELECT id FROM todos_archived) t WHERE id = ANY($1)",
            &[&deleted]
        )
        .await,
        0,
        "deleted rows are gone from both tables"
    );
    let mut survivors = to_update.to_vec();
    survivors.sort();
    assert_eq!(ids_in(c, "todos_archived", u).await, survivors, "every surviving row was archived exactly once");
    assert_eq!(count(c, "SELECT count(*) FROM todos_active", &[]).await, 0);
    let priorities: HashMap<Uuid, i32> = c
        .query("SELECT id, priority FROM todos_archived", &[])
        .await
        .expect("priorities")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let lost: Vec<_> = survivors
        .iter()
        .filter(|id| priorities[*id] != acknowledged.get(*id).copied().unwrap_or(0))
        .map(|id| (id, priorities[id], acknowledged.get(id).copied().unwrap_or(0)))
        .collect();
    assert!(lost.is_empty(), "rows whose priority is not the number of acknowledged increments: {lost:?}");
}

#[tokio::test]
async fn a_plpgsql_write_to_both_tables_blocked_by_a_batch_also_finds_the_row_archived_with_a_cached_plan() {
    // The mirror functions are plpgsql: their statements run from cached
    // plans, whose locks are taken before the statement's snapshot too.
    let db = support::migrated_db().await;
    let u = user(&db.client).await;
    let ids = active_todos(&db.client, u, 2, "done", Some(60)).await;
    super::fixtures::exec(
        &db.client,
        "CREATE FUNCTION pg_temp_bump(p uuid) RETURNS text LANGUAGE plpgsql AS $$
         DECLARE a bigint; b bigint;
         BEGIN
           WITH x AS (UPDATE todos_active SET priority = priority + 1 WHERE id = p RETURNING 1),
                y AS (UPDATE todos_archived SET priority = priority + 1 WHERE id = p RETURNING 1)
           SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM y) INTO a, b;
           RETURN a || ',' || b;
         END $$",
    )
    .await;
    let writer = db.connect().await;
    for _ in 0..7 {
        let r: String = writer.query_one("SELECT pg_temp_bump($1)", &[&ids[0]]).await.expect("warm up").get(0);
        assert_eq!(r, "1,0");
    }
    let observer = db.connect().await;
    db.client.batch_execute("BEGIN").await.expect("begin");
    let moved: i32 = db.client.query_one("SELECT archive_completed_todos_batch()", &[]).await.expect("batch").get(0);
    assert_eq!(moved, 2);
    let pid = backend_pid(&writer).await;
    let a = ids[0];
    let bump =
        tokio::spawn(
            async move { writer.query_one("SELECT pg_temp_bump($1)", &[&a]).await.map(|r| r.get::<_, String>(0)) },
        );
    until_waiting_for_a_lock(&observer, pid).await;
    db.client.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(bump.await.expect("join").expect("bump"), "0,1");
    let priority: i32 =
        db.client.query_one("SELECT priority FROM todos_archived WHERE id = $1", &[&a]).await.expect("row").get(0);
    assert_eq!(priority, 8);
}

#[tokio::test]
async fn a_batch_skips_rows_another_transaction_holds_for_update_instead_of_waiting_with_the_table_locked() {
    let db = support::migrated_db().await;
    let u = user(&db.client).await;
    let ids = active_todos(&db.client, u, 5, "done", Some(60)).await;
    let holder = db.connect().await;
    holder.batch_execute("BEGIN").await.expect("begin");
    holder.query("SELECT 1 FROM todos_active WHERE id = $1 FOR UPDATE", &[&ids[0]]).await.expect("row lock");

    // Were it to wait for the row, every writer would wait behind its table
    // lock; the timeout turns such a regression into a failure, not a hang.
    db.client.batch_execute("SET statement_timeout = '20s'").await.expect("timeout");
    let moved: i32 =
        db.client.query_one("SELECT archive_completed_todos_batch('30 days', 10)", &[]).await.expect("batch").get(0);
    assert_eq!(moved, 4);
    assert_eq!(ids_in(&db.client, "todos_active", u).await, [ids[0]]);
    let again: i32 =
        db.client.query_one("SELECT archive_completed_todos_batch('30 days', 10)", &[]).await.expect("batch").get(0);
    assert_eq!(again, 0, "only the held row is left, and it is skipped");

    holder.batch_execute("COMMIT").await.expect("commit");
    let last: i32 =
        db.client.query_one("SELECT archive_completed_todos_batch('30 days', 10)", &[]).await.expect("batch").get(0);
    assert_eq!(last, 1);
    assert_eq!(ids_in_both_tables(&db.client).await, 0);
}

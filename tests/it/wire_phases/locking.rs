//! Locking reads through the proxy in every phase, against the twin used
//! directly: `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE`, `FOR KEY SHARE`
//! with ORDER BY, LIMIT and OFFSET, `SKIP LOCKED` and `NOWAIT`, as ORMs
//! (Django's `select_for_update().get()`), query builders and job queues
//! send them. Each returns the rows legacy returns, and a second session
//! then sees exactly what it sees on legacy: the same rows skipped, the same
//! 55P03, the same wait, after which it gets the newest row version or, when
//! that no longer matches, the next row.

use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::common::*;
use super::fixture::{t, u, U1};
use crate::support::{self, assert_same_as_legacy, assert_same_lines, TestDb};

const DJANGO_GET: &str = "SELECT \"todos\".\"id\", \"todos\".\"title\", \"todos\".\"status\" FROM \"todos\" \
                          WHERE \"todos\".\"id\" = $1 LIMIT 21 FOR UPDATE";
const QUEUE: &str = "SELECT id, title, priority FROM todos WHERE status <> 'done' \
                     ORDER BY priority DESC, id LIMIT $1 FOR UPDATE SKIP LOCKED";
const PAGE: &str = "SELECT t.id, t.title FROM todos AS t WHERE t.user_id = $1 \
                    ORDER BY t.created_at, t.id LIMIT $2 OFFSET $3 FOR NO KEY UPDATE OF t";
const STRENGTHS: [&str; 4] = ["FOR KEY SHARE", "FOR SHARE", "FOR NO KEY UPDATE", "FOR UPDATE"];

/// Rows as text, or the error's SQLSTATE.
type Seen = Result<Vec<Vec<String>>, String>;

async fn seen(c: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Seen {
    match c.query(sql, params).await {
        Ok(rows) => Ok(rows.iter().map(|r| (0..r.len()).map(|i| norm_cell(r, i)).collect()).collect()),
        Err(e) => Err(sqlstate(&e)),
    }
}

/// Two sessions through the proxy and two on the twin.
struct Sessions {
    app: [Client; 2],
    twin: [Client; 2],
}

impl Sessions {
    async fn open(pair: &Pair) -> Sessions {
        Sessions {
            app: [pair.proxy.connect().await, pair.proxy.connect().await],
            twin: [pair.twin.connect().await, pair.twin.connect().await],
        }
    }

    /// Runs `sql` in session `i` on both sides; both must see the same.
    async fn both(&self, i: usize, sql: &str, params: &[&(dyn ToSql + Sync)], at: &str) -> Seen {
        let (got, want) = tokio::join!(seen(&self.app[i], sql, params), seen(&self.twin[i], sql, params));
        assert_same_as_legacy(&want, &got, format_args!("{at}: session {i}: {sql}"));
        got
    }

    async fn batch(&self, i: usize, sql: &str) {
        self.app[i].batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        self.twin[i].batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql} on the twin: {e}"));
    }
}

/// Whether the row is locked in (legacy, the new tables), tried directly.
async fn locked_where(db: &TestDb, id: uuid::Uuid) -> (bool, bool) {
    let c = db.connect().await;
    let locked = |sql: &'static str| {
        let c = &c;
        async move {
            match c.query(sql, &[&id]).await {
                Ok(_) => false,
                Err(e) if sqlstate(&e) == "55P03" => true,
                Err(e) => panic!("{sql}: {e}"),
            }
        }
    };
    let legacy = locked("SELECT 1 FROM todos WHERE id = $1 FOR UPDATE NOWAIT").await;
    let active = locked("SELECT 1 FROM todos_active WHERE id = $1 FOR UPDATE NOWAIT").await;
    let archived = locked("SELECT 1 FROM todos_archived WHERE id = $1 FOR UPDATE NOWAIT").await;
    (legacy, active || archived)
}

/// Django's get(pk) with a lock, on an active and an archived todo: the same
/// row, locked where the transaction's next write locks it first, and the
/// second session cannot have it.
async fn orm_get_locks_the_row(pair: &Pair, s: &Sessions, at: &str) {
    let expected = if ["write_new", "new_only"].contains(&at) { (false, true) } else { (true, false) };
    for id in [t(1), t(6)] {
        s.batch(0, "BEGIN").await;
        let rows = s.both(0, DJANGO_GET, &[&id], at).await;
        assert_eq!(rows.as_ref().map(Vec::len), Ok(1), "{at}: {rows:?}");
        assert_eq!(locked_where(&pair.db, id).await, expected, "{at}: (legacy, new tables) locked");
        let nowait = s.both(1, "SELECT id FROM todos WHERE id = $1 LIMIT 1 FOR UPDATE NOWAIT", &[&id], at).await;
        assert_eq!(nowait, Err("55P03".into()), "{at}: the row is locked");
        let skip_locked = "SELECT id FROM todos WHERE id = $1 ORDER BY id LIMIT 5 FOR SHARE SKIP LOCKED";
        let skip = s.both(1, skip_locked, &[&id], at).await;
        assert_eq!(skip, Ok(vec![]), "{at}: skipped");
        s.batch(0, "ROLLBACK").await;
    }
}

/// Two workers of a job queue take disjoint jobs, in order, and only the
/// rows they return are locked.
async fn queue_workers_take_disjoint_jobs(s: &Sessions, at: &str) {
    s.batch(0, "BEGIN").await;
    s.batch(1, "BEGIN").await;
    let first = s.both(0, QUEUE, &[&2i64], at).await.expect("first worker");
    let second = s.both(1, QUEUE, &[&2i64], at).await.expect("second worker");
    assert_eq!((first.len(), second.len()), (2, 2), "{at}");
    assert!(first.iter().all(|r| !second.contains(r)), "{at}: disjoint: {first:?} {second:?}");
    // What the first worker locked: exactly the two rows it returned.
    let open = "SELECT id FROM todos WHERE status <> 'done' ORDER BY id FOR UPDATE SKIP LOCKED";
    let unlocked = s.both(1, open, &[], at).await.expect("the rest");
    assert_eq!(unlocked.len(), 3, "{at}: the second worker's two and one nobody took: {unlocked:?}");
    s.batch(0, "ROLLBACK").await;
    s.batch(1, "ROLLBACK").await;
}

/// LIMIT with OFFSET locks the rows OFFSET skips too, as legacy does.
async fn offset_rows_are_locked_too(s: &Sessions, at: &str) {
    s.batch(0, "BEGIN").await;
    let page = s.both(0, PAGE, &[&u(U1), &1i64, &2i64], at).await.expect("page");
    assert_eq!(page.first().map(|r| r[0].clone()), Some(t(3).to_string()), "{at}");
    let all = "SELECT id FROM todos WHERE user_id = $1 ORDER BY id FOR UPDATE SKIP LOCKED";
    let unlocked = s.both(1, all, &[&u(U1)], at).await.expect("the rest");
    let ids: Vec<String> = unlocked.iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, [t(5), t(6), t(7)].map(|i| i.to_string()), "{at}: t1 and t2 (skipped) and t3 are locked");
    s.batch(0, "ROLLBACK").await;
}

/// The lock strength is kept: which second lock conflicts with which first.
async fn lock_strengths_conflict_as_on_legacy(s: &Sessions, at: &str) {
    let id = t(2);
    for held in STRENGTHS {
        s.batch(0, "BEGIN").await;
        let sql = format!("SELECT id, status FROM todos WHERE id = $1 ORDER BY id LIMIT 1 {held}");
        s.both(0, &sql, &[&id], at).await.expect("first lock");
        let mut outcomes = Vec::new();
        for wanted in STRENGTHS {
            let sql = format!("SELECT id FROM todos WHERE id = $1 {wanted} NOWAIT");
            outcomes.push(s.both(1, &sql, &[&id], &format!("{at}: {held} then {wanted}")).await.is_ok());
        }
        let expected = match held {
            "FOR KEY SHARE" => [true, true, true, false],
            "FOR SHARE" => [true, true, false, false],
            "FOR NO KEY UPDATE" => [true, false, false, false],
            _ => [false, false, false, false],
        };
        assert_eq!(outcomes, expected, "{at}: {held}");
        s.batch(0, "ROLLBACK").await;
    }
}

/// Backends of `db` waiting for a lock.
async fn waiting(db: &TestDb) -> i64 {
    db.client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

async fn until_waiting(db: &TestDb, at: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while waiting(db).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "{at}: the second session never waited for the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A locking read waits for the row's writer, then re-checks its WHERE on
/// the newest version: the updated row when it still matches, else the next.
async fn a_waiting_read_sees_the_writers_commit(pair: &Pair, s: &Sessions, at: &str, change: &str, want_id: u32) {
    let sql = "SELECT id, title, status FROM todos WHERE user_id = $1 AND status <> 'done' \
               ORDER BY priority DESC, id LIMIT 1 FOR UPDATE";
    let mut results = Vec::new();
    for (side, (first, second), db) in
        [("proxy", (&s.app[0], &s.app[1]), &pair.db), ("twin", (&s.twin[0], &s.twin[1]), &pair.twin)]
    {
        first.batch_execute("BEGIN").await.expect("begin");
        first.execute(change, &[&t(1)]).await.unwrap_or_else(|e| panic!("{at}: {side}: {change}: {e}"));
        let user = u(U1);
        let params: [&(dyn ToSql + Sync); 1] = [&user];
        let (read, ()) = tokio::join!(seen(second, sql, &params), async {
            until_waiting(db, &format!("{at}: {side}")).await;
            first.batch_execute("COMMIT").await.expect("commit");
        });
        results.push(read);
    }
    assert_eq!(results[0], results[1], "{at}: after waiting for {change}");
    let rows = results.remove(0).expect("rows");
    assert_eq!(rows.first().map(|r| r[0].clone()), Some(t(want_id).to_string()), "{at}: {rows:?}");
}

#[tokio::test]
async fn locking_reads_lock_and_return_what_legacy_does_in_every_phase() {
    let pair = Pair::new("legacy").await;
    for phase in ["legacy", "dual_write", "read_new", "write_new", "new_only"] {
        support::force_phase(&pair.db, phase).await;
        support::wait_for_instances(&pair.db).await;
        reseed(&pair.db, &pair.twin).await;
        let s = Sessions::open(&pair).await;
        orm_get_locks_the_row(&pair, &s, phase).await;
        queue_workers_take_disjoint_jobs(&s, phase).await;
        offset_rows_are_locked_too(&s, phase).await;
        lock_strengths_conflict_as_on_legacy(&s, phase).await;
        // t1 (priority 3) is U1's first open todo; renamed, it is still the one.
        let rename = "UPDATE todos SET title = 'renamed while locked' WHERE id = $1";
        a_waiting_read_sees_the_writers_commit(&pair, &s, phase, rename, 1).await;
        // Done, it no longer matches: the read moves on to t2 (priority 2).
        let finish = "UPDATE todos SET status = 'done', completed_at = '2030-01-01' WHERE id = $1";
        a_waiting_read_sees_the_writers_commit(&pair, &s, phase, finish, 2).await;
        if phase == "legacy" {
            let (mine, theirs) = (legacy_image(&pair.db.client).await, legacy_image(&pair.twin.client).await);
            assert_same_lines(&theirs, &mine, phase);
        } else {
            assert_in_step(&pair.db, &pair.twin, phase != "new_only", phase).await;
        }
    }
}

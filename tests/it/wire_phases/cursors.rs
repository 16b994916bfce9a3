//! Cursors over todos through the proxy in every phase, against the twin
//! used directly: SQL-level cursors (`DECLARE` with or without `HOLD`,
//! `SCROLL`/`NO SCROLL`, `BINARY`, `FOR UPDATE`; `FETCH`, `MOVE`, `CLOSE`)
//! as Django's `QuerySet.iterator()` and psycopg's named cursors use them,
//! and protocol-level portals read a few rows per Execute (pgjdbc's
//! `setFetchSize`, asyncpg's cursors). The client sees the same rows, row
//! counts and errors; a cursor `FOR UPDATE` locks the rows it has fetched.

use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::common::*;
use super::fixture::{t, u, U1};
use crate::support::{self, assert_same_as_legacy};

/// What a simple-protocol script showed: each row and each completion.
async fn script(c: &Client, sql: &str) -> Vec<String> {
    match c.simple_query(sql).await {
        Ok(msgs) => msgs
            .iter()
            .map(|m| match m {
                SimpleQueryMessage::Row(r) => {
                    let cells: Vec<String> = (0..r.len())
                        .map(|i| match r.try_get(i) {
                            Ok(v) => v.map_or("NULL".into(), norm_text),
                            Err(_) => "<not text>".into(),
                        })
                        .map(|v| v.escape_debug().to_string())
                        .collect();
                    format!("row {}", cells.join(" | "))
                }
                SimpleQueryMessage::CommandComplete(n) => format!("complete {n}"),
                _ => "other".into(),
            })
            .collect(),
        Err(e) => vec![format!("error {}: {}", sqlstate(&e), e.as_db_error().map_or("", |d| d.message()))],
    }
}

type Seen = Result<Vec<Vec<String>>, String>;

async fn seen(c: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Seen {
    match c.query(sql, params).await {
        Ok(rows) => Ok(rows.iter().map(|r| (0..r.len()).map(|i| norm_cell(r, i)).collect()).collect()),
        Err(e) => Err(sqlstate(&e)),
    }
}

/// Simple-protocol scripts: Django's iterator (a holdable cursor in
/// autocommit, fetched in batches after its transaction ended), scrolling,
/// a binary cursor, and a cursor used after CLOSE.
const SCRIPTS: &[&str] = &[
    "DECLARE \"_django_curs_1_sync_1\" NO SCROLL CURSOR WITH HOLD FOR SELECT \"todos\".\"id\", \"todos\".\"title\" \
     FROM \"todos\" WHERE \"todos\".\"user_id\" = '11111111-1111-4111-8111-111111111111'::uuid ORDER BY \"todos\".\"id\" ASC",
    "FETCH FORWARD 2 FROM \"_django_curs_1_sync_1\"",
    "MOVE FORWARD 1 IN \"_django_curs_1_sync_1\"",
    "FETCH FORWARD 2000 FROM \"_django_curs_1_sync_1\"",
    "CLOSE \"_django_curs_1_sync_1\"",
    "FETCH 1 FROM \"_django_curs_1_sync_1\"",
    "BEGIN; DECLARE s SCROLL CURSOR FOR SELECT id, title, status FROM todos ORDER BY priority DESC, id; \
     FETCH LAST FROM s; FETCH PRIOR FROM s; FETCH ABSOLUTE 2 FROM s; MOVE RELATIVE -1 IN s; FETCH NEXT FROM s; \
     CLOSE s; COMMIT",
    "BEGIN; DECLARE b BINARY CURSOR FOR SELECT priority FROM todos WHERE status = 'done' ORDER BY id; \
     FETCH ALL FROM b; COMMIT",
    "BEGIN; DECLARE a INSENSITIVE CURSOR WITHOUT HOLD FOR SELECT count(*) FROM todos t JOIN todos p ON p.id = t.parent_todo_id; \
     FETCH a; COMMIT",
    // PostgreSQL refuses these itself, before running anything.
    "DECLARE h CURSOR WITH HOLD FOR SELECT id FROM todos FOR UPDATE",
    "BEGIN; DECLARE w CURSOR FOR WITH d AS (DELETE FROM todos RETURNING id) SELECT * FROM d",
    "ROLLBACK",
];

async fn simple_protocol_cursors(pair: &Pair, app: &Client, at: &str) {
    for sql in SCRIPTS {
        let (got, want) = tokio::join!(script(app, sql), script(&pair.twin.client, sql));
        assert_same_as_legacy(&want, &got, format_args!("{at}: {sql}"));
    }
}

/// psycopg 3's named cursor: DECLARE with a bound parameter, then FETCH, in
/// the extended protocol.
async fn extended_protocol_cursors(pair: &Pair, app: &Client, at: &str) {
    let user = u(U1);
    let declare = "DECLARE e CURSOR WITH HOLD FOR SELECT id, title FROM todos WHERE user_id = $1 ORDER BY id";
    for (sql, params) in [
        (declare, vec![&user as &(dyn ToSql + Sync)]),
        ("FETCH 4 FROM e", vec![]),
        ("FETCH ALL FROM e", vec![]),
        ("CLOSE e", vec![]),
    ] {
        let (got, want) = tokio::join!(seen(app, sql, &params), seen(&pair.twin.client, sql, &params));
        assert_same_as_legacy(&want, &got, format_args!("{at}: {sql}"));
    }
}

/// A cursor FOR UPDATE locks the rows it has fetched, and only those.
async fn a_locking_cursor_locks_what_it_fetched(pair: &Pair, app: &[Client; 2], at: &str) {
    let twin = [pair.twin.connect().await, pair.twin.connect().await];
    let user = u(U1);
    let params: [&(dyn ToSql + Sync); 1] = [&user];
    let mut outcomes = Vec::new();
    for side in [app, &twin] {
        side[0].batch_execute("BEGIN").await.expect("begin");
        let declare = "DECLARE l CURSOR FOR SELECT id, title FROM todos WHERE user_id = $1 ORDER BY id FOR UPDATE";
        side[0].execute(declare, &params).await.unwrap_or_else(|e| panic!("{at}: declare: {e}"));
        let fetched = seen(&side[0], "FETCH 2 FROM l", &[]).await;
        let rest = "SELECT id FROM todos WHERE user_id = $1 ORDER BY id FOR UPDATE SKIP LOCKED";
        let unlocked = seen(&side[1], rest, &params).await;
        side[0].batch_execute("ROLLBACK").await.expect("rollback");
        outcomes.push((fetched, unlocked));
    }
    assert_eq!(outcomes[0], outcomes[1], "{at}: fetched, then what another session can lock");
    assert_eq!(outcomes[0].1.as_ref().map(Vec::len), Ok(4), "{at}: two of U1's six are locked");
}

/// Portals read a few rows per Execute (max_rows), PortalSuspended between.
async fn portals_fetch_in_batches(pair: &Pair, at: &str) {
    let user = u(U1);
    let plain = "SELECT id, title FROM todos WHERE user_id = $1 ORDER BY id";
    let locking = "SELECT id, status FROM todos WHERE user_id = $1 ORDER BY priority DESC, id LIMIT 5 FOR UPDATE";
    for sql in [plain, locking] {
        let mut batches = Vec::new();
        for mut c in [pair.proxy.connect().await, pair.twin.connect().await] {
            batches.push(batched(&mut c, sql, &user).await.unwrap_or_else(|e| panic!("{at}: {sql}: {e}")));
        }
        assert_eq!(batches[0], batches[1], "{at}: {sql}");
        assert!(batches[0].len() >= 3, "{at}: several batches: {:?}", batches[0]);
    }
}

async fn batched(c: &mut Client, sql: &str, user: &uuid::Uuid) -> Result<Vec<Vec<Vec<String>>>, tokio_postgres::Error> {
    let c = c.transaction().await?;
    let stmt = c.prepare(sql).await?;
    let portal = c.bind(&stmt, &[user]).await?;
    let mut batches = Vec::new();
    loop {
        let stream = c.query_portal_raw(&portal, 2).await?;
        pin_mut!(stream);
        let mut rows = Vec::new();
        while let Some(r) = stream.try_next().await? {
            rows.push((0..r.len()).map(|i| norm_cell(&r, i)).collect::<Vec<_>>());
        }
        if rows.is_empty() {
            break;
        }
        batches.push(rows);
    }
    c.commit().await?;
    Ok(batches)
}

/// Which schema a cursor reads: a title changed in the new tables alone
/// (behind the mirror's back) shows where reads come from in the phase, and
/// a cursor FOR UPDATE reads where it locks.
async fn a_cursor_reads_where_the_phase_reads(pair: &Pair, app: &Client, phase: &str) {
    let marked = "UPDATE todos_active SET title = 'new tables only' WHERE id = $1";
    pair.db.client.execute(marked, &[&t(1)]).await.expect("mark the new tables");
    let reads_new = phase != "dual_write";
    let locks_new = ["write_new", "new_only"].contains(&phase);
    for (declare, new) in [
        ("DECLARE c CURSOR FOR SELECT title FROM todos WHERE id = $1", reads_new),
        ("DECLARE c CURSOR FOR SELECT title FROM todos WHERE id = $1 ORDER BY id LIMIT 1 FOR UPDATE", locks_new),
    ] {
        app.batch_execute("BEGIN").await.expect("begin");
        app.execute(declare, &[&t(1)]).await.unwrap_or_else(|e| panic!("{phase}: {declare}: {e}"));
        let title: String = app.query_one("FETCH 1 FROM c", &[]).await.expect("fetch").get(0);
        app.batch_execute("ROLLBACK").await.expect("rollback");
        let want = if new { "new tables only" } else { "Plan trip" };
        assert_eq!(title, want, "{phase}: {declare}");
    }
    reseed(&pair.db, &pair.twin).await;
}

#[tokio::test]
async fn cursors_and_portals_over_todos_behave_as_on_legacy_in_every_phase() {
    let pair = Pair::new("legacy").await;
    reseed(&pair.db, &pair.twin).await;
    for phase in ["legacy", "dual_write", "read_new", "write_new", "new_only"] {
        support::force_phase(&pair.db, phase).await;
        support::wait_for_instances(&pair.db).await;
        let app = [pair.proxy.connect().await, pair.proxy.connect().await];
        simple_protocol_cursors(&pair, &app[0], phase).await;
        extended_protocol_cursors(&pair, &app[0], phase).await;
        a_locking_cursor_locks_what_it_fetched(&pair, &app, phase).await;
        portals_fetch_in_batches(&pair, phase).await;
        if phase != "legacy" {
            a_cursor_reads_where_the_phase_reads(&pair, &app[0], phase).await;
        }
    }
}

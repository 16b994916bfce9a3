//! Refusals in the middle of an extended-protocol pipeline (tokio-postgres
//! sends the requests of concurrent queries on one connection without
//! waiting): the 0A000 goes to the refused query, and the others get what
//! PostgreSQL gives them after an error in that position, shown by a twin
//! that fails the same position with an error of its own. A pipeline whose
//! rest is sent after its error was read is discarded up to its Sync, as on
//! PostgreSQL, and leaves nothing behind that holds a phase; so do random
//! pipelines read at random points across flips. The bare protocol client
//! (`support::raw`) shows what drivers hide.

use tokio_postgres::Client;

use super::common::*;
use super::fixture::{t, u, U1};
use crate::support::assert_same_as_legacy;
use crate::support::raw::{bind, close, describe, error_fields, execute, flush, parse, query, sync, Conn, Msg};

type Res = Result<u64, String>;

fn res(r: Result<u64, tokio_postgres::Error>) -> Res {
    r.map_err(|e| sqlstate(&e))
}

/// Three statements sent as one pipeline; the middle one is `bad`.
async fn three(c: &Client, first: uuid::Uuid, bad: &str, third: uuid::Uuid) -> (Res, Res, Res) {
    let sql = "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'pipelined')";
    let user = u(U1);
    let (p1, p3): ([&(dyn tokio_postgres::types::ToSql + Sync); 2], [&(dyn tokio_postgres::types::ToSql + Sync); 2]) =
        ([&first, &user], [&third, &user]);
    let (a, b, c3) = futures_util::join!(c.execute(sql, &p1), c.execute(bad, &[]), c.execute(sql, &p3));
    (res(a), res(b), res(c3))
}

/// The same pipeline's other answers with the middle error's code blanked.
fn others(r: &(Res, Res, Res)) -> (Res, Res) {
    (r.0.clone(), r.2.clone())
}

#[tokio::test]
async fn a_refusal_mid_pipeline_goes_to_its_own_query() {
    let pair = Pair::new("dual_write").await;
    let app = pair.proxy.connect().await;
    let twin = &pair.twin.client;

    // Outside a transaction block each query has its own Sync: the others succeed.
    let got = three(&app, t(61), "TRUNCATE todos", t(62)).await;
    assert_eq!(got.1, Err("0A000".to_string()), "the refusal goes to the refused query: {got:?}");
    // A refusal comes at Parse; the twin's error of choice does too.
    let want = three(twin, t(61), "SELECT * FROM no_such_table", t(62)).await;
    assert_eq!(want.1, Err("42P01".to_string()));
    assert_eq!(others(&got), others(&want), "the other queries");
    assert_eq!(others(&got), (Ok(1), Ok(1)));

    // Prepares pipelined: the refused Parse fails alone.
    let (a, b, c) = futures_util::join!(
        app.prepare("SELECT id FROM todos WHERE id = $1"),
        app.prepare("LOCK TABLE todos IN SHARE MODE"),
        app.prepare("UPDATE todos SET priority = $1 WHERE id = $2")
    );
    assert!(a.is_ok() && c.is_ok(), "{a:?} {c:?}");
    assert_eq!(b.map(|_| ()).map_err(|e| sqlstate(&e)), Err("0A000".to_string()));

    // In a transaction block, the error aborts it: what follows fails 25P02,
    // and the rollback undoes what came before.
    app.batch_execute("BEGIN").await.expect("begin");
    twin.batch_execute("BEGIN").await.expect("begin");
    let got = three(&app, t(63), "ALTER TABLE todos ADD COLUMN x int", t(64)).await;
    let want = three(twin, t(63), "SELECT * FROM no_such_table", t(64)).await;
    assert_eq!(got.1, Err("0A000".to_string()), "{got:?}");
    assert_eq!(others(&got), others(&want));
    // All three Parses are sent before any Execute: the first's Execute
    // arrives after the error.
    assert_eq!(others(&got), (Err("25P02".to_string()), Err("25P02".to_string())));
    let after = app.execute("SELECT 1", &[]).await.map_err(|e| sqlstate(&e));
    assert_eq!(after, Err("25P02".to_string()), "the block stays aborted");
    app.batch_execute("ROLLBACK").await.expect("rollback");
    twin.batch_execute("ROLLBACK").await.expect("rollback");
    assert_in_step(&pair.db, &pair.twin, true, "after the pipelines").await;
    let n: i64 = pair
        .db
        .client
        .query_one("SELECT count(*) FROM todos WHERE title = 'pipelined'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 2, "t61 and t62 only");

    // A statement prepared in read_new and refused at Bind once write_new is
    // in force, between two that run.
    crate::support::force_phase(&pair.db, "read_new").await;
    crate::support::wait_for_instances(&pair.db).await;
    let ok = app.prepare("UPDATE todos SET priority = priority + 1 WHERE id = $1").await.expect("prepare");
    let by_name = app
        .prepare("INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'c') ON CONFLICT ON CONSTRAINT todos_pkey DO NOTHING")
        .await
        .expect("prepare by constraint name");
    let sel = app.prepare("SELECT priority FROM todos WHERE id = $1").await.expect("prepare select");
    assert_eq!(app.execute(&by_name, &[&t(65), &u(U1)]).await.expect("read_new runs it"), 1);
    crate::support::force_phase(&pair.db, "write_new").await;
    crate::support::wait_for_instances(&pair.db).await;
    let (user, t61, t62, t66) = (u(U1), t(61), t(62), t(66));
    let (p61, p62): ([&(dyn tokio_postgres::types::ToSql + Sync); 1], [&(dyn tokio_postgres::types::ToSql + Sync); 1]) =
        ([&t61], [&t62]);
    let p66: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&t66, &user];
    let (a, b, c, d) = futures_util::join!(
        app.execute(&ok, &p61),
        app.execute(&by_name, &p66),
        app.query_one(&sel, &p61),
        app.execute(&ok, &p62)
    );
    assert_eq!(res(a), Ok(1));
    assert_eq!(res(b), Err("0A000".to_string()));
    assert_eq!(c.expect("the read after the refusal").get::<_, i32>(0), 1);
    assert_eq!(res(d), Ok(1));
    // And in a transaction block.
    let mut app = app;
    let tx = app.transaction().await.expect("begin");
    let (a, b, c) = futures_util::join!(tx.execute(&ok, &p61), tx.execute(&by_name, &p66), tx.execute(&ok, &p62));
    assert_eq!((res(a), res(b), res(c)), (Ok(1), Err("0A000".to_string()), Err("25P02".to_string())));
    tx.rollback().await.expect("rollback");
    let prio: i32 = app.query_one(&sel, &[&t(61)]).await.expect("select").get(0);
    assert_eq!(prio, 1, "the rolled-back update left nothing");
    let landed: i64 = pair
        .db
        .client
        .query_one("SELECT count(*) FROM todos WHERE id IN ($1, $2)", &[&t(65), &t(66)])
        .await
        .expect("count")
        .get(0);
    assert_eq!(landed, 1, "t65 only: the refused insert ran nowhere");
    assert_eq!(crate::support::schemas_differ(&pair.db.client).await, None);
}

/// A simple Query's answer: per statement its rows (normalised, sorted) and
/// count, or the SQLSTATE of its error.
async fn simple(c: &Client, sql: &str) -> Result<Vec<(Vec<Vec<String>>, u64)>, String> {
    let messages = c.simple_query(sql).await.map_err(|e| sqlstate(&e))?;
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for m in messages {
        match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                rows.push((0..r.len()).map(|i| r.get(i).map_or("NULL".to_string(), norm_text)).collect::<Vec<_>>())
            }
            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => {
                rows.sort();
                out.push((std::mem::take(&mut rows), n));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[tokio::test]
async fn several_statements_in_one_query_answer_each_and_fail_together() {
    let pair = Pair::new("read_new").await;
    let app = pair.proxy.connect().await;
    let twin = &pair.twin.client;
    let (a, b) = (t(71), t(72));
    let mixed = format!(
        "INSERT INTO todos (id, user_id, title) VALUES ('{a}', '{U1}', 'multi') RETURNING id, title; -- a comment after a statement
         UPDATE todos SET priority = 3 WHERE id = '{a}' -- a comment before the semicolon
         ; SELECT count(*) FROM todos WHERE title = 'multi';
         /* a block comment */ DELETE FROM todos WHERE id = '{}';
         SELECT title, priority FROM todos WHERE id = '{a}'",
        t(8)
    );
    let got = simple(&app, &mixed).await;
    assert_same_as_legacy(&simple(twin, &mixed).await, &got, "several statements in one Query");
    assert_eq!(got.as_ref().map(|r| r.iter().map(|(_, n)| *n).collect::<Vec<_>>()), Ok(vec![1, 1, 1, 1, 1]));
    assert_in_step(&pair.db, &pair.twin, true, "a multi-statement query").await;

    // One implicit transaction: an error anywhere undoes the statements
    // before it, and those after it do not run.
    let with = |middle: &str| {
        format!(
            "INSERT INTO todos (id, user_id, title) VALUES ('{b}', '{U1}', 'undone'); {middle}; UPDATE todos SET title = 'never' WHERE id = '{a}'"
        )
    };
    assert_eq!(simple(&app, &with("TRUNCATE todos")).await, Err("0A000".to_string()));
    assert_eq!(simple(twin, &with("SELECT * FROM no_such_table")).await, Err("42P01".to_string()));
    assert_in_step(&pair.db, &pair.twin, true, "a refusal in a multi-statement query").await;
    let n: i64 = pair
        .db
        .client
        .query_one("SELECT count(*) FROM todos WHERE id = $1 OR title = 'never'", &[&b])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 0, "nothing of the refused query ran");

    // A transaction block opened and closed inside one query.
    let block = format!(
        "BEGIN; UPDATE todos SET priority = 9 WHERE id = '{a}'; DELETE FROM todos WHERE id = '{}'; COMMIT",
        t(1)
    );
    let got = simple(&app, &block).await;
    assert_same_as_legacy(&simple(twin, &block).await, &got, "a transaction block in one Query");
    assert_in_step(&pair.db, &pair.twin, true, "a transaction block in one query").await;
    assert_eq!(
        simple(&app, "SELECT 1").await,
        Ok(vec![(vec![vec!["1".to_string()]], 1)]),
        "the session is idle and usable"
    );
}

/// Fetches a bound portal `batch` rows at a time; the rows and the count of
/// the last CommandComplete.
async fn fetch_in_batches(c: &mut Client, sql: &str, batch: i32) -> (Vec<Vec<String>>, Vec<Option<u64>>) {
    use futures_util::TryStreamExt;
    let tx = c.transaction().await.expect("begin");
    let stmt = tx.prepare(sql).await.expect("prepare");
    let portal = tx.bind(&stmt, &[]).await.expect("bind");
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    loop {
        let stream = tx.query_portal_raw(&portal, batch).await.expect("execute");
        futures_util::pin_mut!(stream);
        let mut got = Vec::new();
        while let Some(r) = stream.try_next().await.expect("rows") {
            got.push(r);
        }
        counts.push(stream.rows_affected());
        let done = got.len() < batch as usize;
        rows.extend(sorted_rows(&got));
        if done || counts.len() > 10 {
            break;
        }
    }
    tx.commit().await.expect("commit");
    rows.sort();
    (rows, counts)
}

#[tokio::test]
async fn a_write_returning_rows_fetched_in_batches_reports_its_own_tag() {
    let mut pair = Pair::new("dual_write").await;
    let mut app = pair.proxy.connect().await;
    // Five rows returned two at a time (Execute with a row limit, PortalSuspended).
    let insert = format!(
        "INSERT INTO todos (id, user_id, title) SELECT ('aaaaaaaa-0000-4000-8000-0000000000' || (60 + g))::uuid, '{U1}', 'batch ' || g \
         FROM generate_series(1, 5) g RETURNING id, title"
    );
    let got = fetch_in_batches(&mut app, &insert, 2).await;
    let want = fetch_in_batches(&mut pair.twin.client, &insert, 2).await;
    assert_same_as_legacy(&want, &got, "rows and command tags, batch by batch");
    assert_eq!(got.0.len(), 5);
    let update = "UPDATE todos SET priority = 7 WHERE title LIKE 'batch %' RETURNING id, priority";
    let got = fetch_in_batches(&mut app, update, 2).await;
    assert_same_as_legacy(&fetch_in_batches(&mut pair.twin.client, update, 2).await, &got, update);
    assert_in_step(&pair.db, &pair.twin, true, "writes fetched in batches").await;
}

/// Messages up to ReadyForQuery as (tag, body), an ErrorResponse's body
/// shortened to its SQLSTATE, notices and parameter statuses left out.
fn brief(messages: Vec<Msg>) -> Vec<(u8, Vec<u8>)> {
    messages
        .into_iter()
        .filter(|m| !matches!(m.tag, b'S' | b'N'))
        .map(|m| match m.tag {
            b'E' => (m.tag, error_fields(&m.body).get(&'C').cloned().unwrap_or_default().into_bytes()),
            _ => (m.tag, m.body),
        })
        .collect()
}

/// Sends `frames` and a Sync; the answers up to ReadyForQuery, in [`brief`].
async fn synced(c: &mut Conn, mut frames: Vec<Vec<u8>>) -> Vec<(u8, Vec<u8>)> {
    frames.push(sync());
    brief(c.exchange(&frames).await)
}

/// Sends `frames` and a Flush; the answers up to the first CommandComplete
/// or ErrorResponse (the implicit transaction stays open).
async fn flushed(c: &mut Conn, mut frames: Vec<Vec<u8>>) -> Vec<(u8, Vec<u8>)> {
    frames.push(flush());
    c.send(&frames).await;
    brief(c.until(b"CE").await)
}

/// Parse of the unnamed statement, Bind of the unnamed portal to `statement`, Execute.
fn run(sql: &str) -> Vec<Vec<u8>> {
    vec![parse("", sql, &[]), bind("", "", &[]), execute("", 0)]
}

#[tokio::test]
async fn a_refusal_leaves_the_clients_unnamed_statement_alone() {
    let pair = Pair::new("dual_write").await;
    let mut outcomes = Vec::new();
    for (url, bad) in [(pair.proxy.url(), "TRUNCATE todos"), (pair.twin.url.clone(), "SELECT * FROM no_such_table")] {
        let mut c = Conn::connect(&url).await;
        let parsed = synced(&mut c, vec![parse("", "SELECT 41 + 1 AS answer", &[])]).await;
        // A named statement fails at Parse (refused through the proxy) ...
        let failed = synced(&mut c, vec![parse("s1", bad, &[])]).await;
        // ... and the unnamed statement parsed before is still the client's.
        let reused = synced(&mut c, vec![bind("", "", &[]), execute("", 0)]).await;
        outcomes.push((parsed, failed, reused));
    }
    let (proxy, twin) = (&outcomes[0], &outcomes[1]);
    assert_eq!(proxy.1, vec![(b'E', b"0A000".to_vec()), (b'Z', b"I".to_vec())], "the refusal");
    assert_eq!(twin.1[0].0, b'E');
    assert_eq!((&proxy.0, &proxy.2), (&twin.0, &twin.2), "the unnamed statement before and after the refusal");
    assert!(proxy.2.iter().any(|(t, b)| *t == b'D' && b.ends_with(b"42")), "{:?}", proxy.2);
}

/// The text of the DataRows among some messages (one column each).
fn row_texts(messages: &[(u8, Vec<u8>)]) -> String {
    messages
        .iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, b)| String::from_utf8_lossy(b.get(6..).unwrap_or(&[])).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn an_implicit_transaction_kept_open_by_flush_keeps_its_phase() {
    // Drivers that Flush instead of Sync between statements (pgx, node-postgres)
    // keep one implicit transaction open across several requests: a flip
    // in between must not split it.
    let pair = Pair::new("dual_write").await;
    let mut c = Conn::connect(&pair.proxy.url()).await;
    let explain = "EXPLAIN (COSTS OFF) SELECT id FROM todos";
    let before = flushed(&mut c, run(explain)).await;
    assert!(!row_texts(&before).contains("todos_active"), "dual_write reads legacy: {before:?}");
    crate::support::force_phase(&pair.db, "read_new").await;
    wait_served(&pair.proxy, "read_new").await;
    let (_, held) = acks(&pair.db).await;
    assert_eq!(
        held.first().and_then(|(p, _)| p.clone()).as_deref(),
        Some("dual_write"),
        "the open implicit transaction is vouched for"
    );
    let after = synced(&mut c, run(explain)).await;
    assert!(after.iter().all(|(t, _)| *t != b'E'), "{after:?}");
    assert!(
        !row_texts(&after).contains("todos_active"),
        "the same implicit transaction keeps dual_write: {}",
        row_texts(&after)
    );
    // The next transaction runs read_new.
    let next = synced(&mut c, run(explain)).await;
    assert!(row_texts(&next).contains("todos_active"), "{}", row_texts(&next));
    crate::support::wait_for_instances(&pair.db).await;
}

/// RowDescriptions with each field's table OID and column number zeroed.
/// A known limitation: the rewritten statement returns its rows from a CTE
/// (or, for reads in the new schema, a derived table), for which PostgreSQL
/// reports no source column; names, types, modifiers and formats must match.
fn without_table_columns(messages: &[(u8, Vec<u8>)]) -> Vec<(u8, Vec<u8>)> {
    messages
        .iter()
        .map(|(t, b)| {
            if *t != b'T' {
                return (*t, b.clone());
            }
            let mut b = b.clone();
            let n = i16::from_be_bytes([b[0], b[1]]) as usize;
            let mut at = 2;
            for _ in 0..n {
                at += b[at..].iter().position(|c| *c == 0).expect("name") + 1;
                b[at..at + 6].fill(0);
                at += 18;
            }
            (*t, b)
        })
        .collect()
}

#[tokio::test]
async fn describing_a_portal_of_a_rewritten_write_answers_as_postgresql_does() {
    let pair = Pair::new("write_new").await;
    let statements = [
        format!("UPDATE todos SET priority = 5 WHERE id = '{}'", t(1)),
        format!("UPDATE todos SET priority = 6 WHERE id = '{}' RETURNING id, priority", t(1)),
        format!("DELETE FROM todos WHERE id = '{}'", t(3)),
        format!("INSERT INTO todos (id, user_id, title) VALUES ('{}', '{U1}', 'described') RETURNING title", t(62)),
    ];
    let mut answers = Vec::new();
    for url in [pair.proxy.url(), pair.twin.url.clone()] {
        let mut c = Conn::connect(&url).await;
        let mut mine = Vec::new();
        for sql in &statements {
            let frames = vec![parse("", sql, &[]), bind("", "", &[]), describe(b'P', ""), execute("", 0)];
            mine.push(synced(&mut c, frames).await);
        }
        answers.push(mine);
    }
    for (k, sql) in statements.iter().enumerate() {
        let (mine, theirs) = (without_table_columns(&answers[0][k]), without_table_columns(&answers[1][k]));
        assert_eq!(mine, theirs, "{sql}: Parse, Bind, Describe portal, Execute through the proxy vs directly");
    }
    assert!(answers[0][0].iter().any(|(t, _)| *t == b'n'), "NoData for a write without RETURNING: {:?}", answers[0][0]);
    assert_in_step(&pair.db, &pair.twin, true, "after the described writes").await;
}

#[tokio::test]
async fn an_error_read_before_the_rest_of_its_pipeline_is_sent_discards_that_rest_and_the_phase_moves_on() {
    // psycopg 3's pipeline mode flushes and reads each answer as it comes:
    // the rest of a pipeline may be sent after its error was read.
    // PostgreSQL discards all of it up to the Sync, the proxy's own messages
    // among it too, and the transaction ends there.
    let pair = Pair::new("dual_write").await;
    let read = "SELECT id, title FROM todos WHERE user_id = $1 ORDER BY id";
    let insert = |n| format!("INSERT INTO todos (id, user_id, title) VALUES ('{}', '{U1}', 'piped')", t(n));
    let s1 = || vec![bind("", "s1", &[Some(U1)]), execute("", 0)];
    let (mut app, mut twin) = (Conn::connect(&pair.proxy.url()).await, Conn::connect(&pair.twin.url).await);
    let both = |app: Vec<(u8, Vec<u8>)>, twin: Vec<(u8, Vec<u8>)>, at: &str| {
        assert_eq!(app, twin, "{at}: through the proxy vs directly");
        app
    };
    let frames = vec![parse("s1", read, &[])];
    both(synced(&mut app, frames.clone()).await, synced(&mut twin, frames).await, "s1 prepared in dual_write");
    crate::support::force_phase(&pair.db, "read_new").await;
    wait_served(&pair.proxy, "read_new").await;

    let refused = flushed(&mut app, vec![parse("", "TRUNCATE todos", &[])]).await;
    assert_eq!(refused, [(b'E', b"0A000".to_vec())]);
    let failed = flushed(&mut twin, vec![parse("", "SELECT * FROM no_such_table", &[])]).await;
    assert_eq!(failed, [(b'E', b"42P01".to_vec())]);
    // s1's first Execute in read_new (the proxy parses its read_new variant
    // first) and an insert: discarded.
    let rest = [s1(), run(&insert(64))].concat();
    let discarded = both(synced(&mut app, rest.clone()).await, synced(&mut twin, rest).await, "the rest");
    assert_eq!(discarded, [(b'Z', b"I".to_vec())], "nothing but the Sync's ReadyForQuery");

    // The next request is answered as it should be, s1 included.
    let next = [s1(), run(&insert(65))].concat();
    let answered =
        both(synced(&mut app, next.clone()).await, synced(&mut twin, next).await, "after the discarded rest");
    assert!(answered.iter().any(|(tag, _)| *tag == b'D'), "s1 returns U1's todos: {answered:?}");
    assert!(answered.contains(&(b'C', b"INSERT 0 1\0".to_vec())), "{answered:?}");

    // No transaction is left holding read_new: the flip is acknowledged.
    crate::support::force_phase(&pair.db, "write_new").await;
    wait_all_acknowledged(&pair.db, "the instance acknowledges write_new").await;
    let last = [s1(), run(&insert(66))].concat();
    both(synced(&mut app, last.clone()).await, synced(&mut twin, last).await, "in write_new");
    assert_in_step(&pair.db, &pair.twin, true, "after the pipelines").await;
}

/// One request of a random pipeline.
#[derive(Debug, Clone, Copy)]
enum Request {
    /// The statement `r` prepared in dual_write: U1's todos.
    Read,
    /// A new todo: INSERT 0 1.
    Insert(u32),
    /// A todo that exists: 23505.
    Duplicate,
    /// 22012, on no table.
    DivideByZero,
    /// The statement `u` prepared in dual_write: UPDATE 1.
    Update(u32, u32),
    /// TRUNCATE through the proxy, refused (0A000) at its Parse; a Parse
    /// that fails with 42P01 on the twin.
    Refused,
    /// Describe of `r`: no CommandComplete.
    Describe,
    /// Close and Parse of `r` again (the proxy closes its variants): no
    /// CommandComplete.
    Reprepare,
    /// A simple Query in the middle: it ends the implicit transaction as a
    /// Sync would, with its own ReadyForQuery (discarded after an error).
    Simple,
    /// No message: the migration moves to this phase of [`FLIPS`] while
    /// the pipeline's transaction is open.
    Flip(usize),
}

const FLIPS: [&str; 3] = ["dual_write", "read_new", "write_new"];

const READ_R: &str = "SELECT id, title, priority FROM todos WHERE user_id = $1 ORDER BY id";

impl Request {
    fn fails(self) -> bool {
        matches!(self, Request::Duplicate | Request::DivideByZero | Request::Refused)
    }

    /// How many CommandCompletes or ErrorResponses answer it.
    fn completions(self) -> usize {
        usize::from(!matches!(self, Request::Describe | Request::Reprepare | Request::Flip(_)))
    }

    fn frames(self, twin: bool) -> Vec<Vec<u8>> {
        let insert = |id| format!("INSERT INTO todos (id, user_id, title) VALUES ('{id}', '{U1}', 'random')");
        match self {
            Request::Read => vec![bind("", "r", &[Some(U1)]), execute("", 0)],
            Request::Insert(n) => run(&insert(t(n))),
            Request::Duplicate => run(&insert(t(1))),
            Request::DivideByZero => run("SELECT 1 / 0"),
            Request::Update(n, priority) => {
                let (id, priority) = (t(n).to_string(), priority.to_string());
                vec![bind("", "u", &[Some(&priority), Some(&id)]), execute("", 0)]
            }
            Request::Refused if twin => run("SELECT * FROM no_such_table"),
            Request::Refused => run("TRUNCATE todos"),
            Request::Describe => vec![describe(b'S', "r")],
            Request::Reprepare => vec![close(b'S', "r"), parse("r", READ_R, &[])],
            Request::Simple => vec![query(&format!("SELECT count(*) FROM todos WHERE user_id = '{U1}'"))],
            Request::Flip(_) => Vec::new(),
        }
    }
}

/// Sends `requests` as one pipeline, the way `plan` says: after each, a
/// Flush and a read of what is unread (never once a request sent failed,
/// whose followers PostgreSQL discards), else nothing; then a Sync. All
/// answers, in [`brief`], table OIDs and column numbers zeroed. `proxied`:
/// the database behind the proxy, whose phase a [`Request::Flip`] moves.
async fn pipeline(
    c: &mut Conn,
    proxied: Option<&crate::support::TestDb>,
    requests: &[Request],
    plan: &[bool],
) -> Vec<(u8, Vec<u8>)> {
    let mut answers = Vec::new();
    // CommandCompletes or ErrorResponses, and ReadyForQuerys, still to read.
    let (mut completions, mut readies, mut doomed) = (0usize, 0usize, false);
    for (request, read_now) in requests.iter().zip(plan) {
        if let (&Request::Flip(to), Some(db)) = (request, proxied) {
            crate::support::force_phase(db, FLIPS[to]).await;
        }
        let mut frames = request.frames(proxied.is_none());
        if !doomed {
            completions += request.completions();
            readies += usize::from(matches!(request, Request::Simple));
        }
        if *read_now && !doomed {
            frames.push(flush());
        }
        c.send(&frames).await;
        while *read_now && !doomed && completions > 0 {
            let m = c.read().await;
            completions -= usize::from(matches!(m.tag, b'C' | b'E'));
            readies -= usize::from(m.tag == b'Z');
            answers.push(m);
        }
        doomed |= request.fails();
    }
    c.send(&[sync()]).await;
    readies += 1;
    while readies > 0 {
        let m = c.read().await;
        readies -= usize::from(m.tag == b'Z');
        answers.push(m);
    }
    without_table_columns(&brief(answers))
}

/// One line per message: its tag, and its body with bytes outside
/// printable ASCII escaped.
fn readable(messages: &[(u8, Vec<u8>)]) -> String {
    messages.iter().map(|(tag, body)| format!("{} {}\n", *tag as char, body.escape_ascii())).collect()
}

#[tokio::test]
async fn random_pipelines_read_at_random_points_answer_as_postgresql_does_across_flips() {
    use rand::{Rng, SeedableRng};
    // Pipelines of requests that succeed or fail, sent with Flushes and
    // reads at random points (how psycopg 3, pgx and node-postgres send),
    // some inside a transaction block, with flips between them: every answer
    // as the twin gives it, and every flip acknowledged.
    let pair = Pair::new("dual_write").await;
    let (mut app, mut twin) = (Conn::connect(&pair.proxy.url()).await, Conn::connect(&pair.twin.url).await);
    let prepare = vec![parse("r", READ_R, &[]), parse("u", "UPDATE todos SET priority = $1 WHERE id = $2", &[])];
    assert_eq!(synced(&mut app, prepare.clone()).await, synced(&mut twin, prepare).await, "r and u prepared");
    // Another seed to explore: SWITCHYARD_TEST_SEED.
    let seed = std::env::var("SWITCHYARD_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut next_id, mut phase) = (1000, "dual_write");
    for k in 0..120 {
        if rng.random_bool(0.1) {
            phase = FLIPS[rng.random_range(0..3)];
            crate::support::force_phase(&pair.db, phase).await;
            wait_all_acknowledged(&pair.db, &format!("pipeline {k}: the flip to {phase}")).await;
        }
        let mut requests: Vec<Request> = (0..rng.random_range(1..=5))
            .map(|_| match rng.random_range(0..15) {
                0..=2 => Request::Read,
                3..=4 => {
                    next_id += 1;
                    Request::Insert(next_id)
                }
                5 => Request::Duplicate,
                6 => Request::DivideByZero,
                7..=9 => Request::Update([1, 2, 3][rng.random_range(0..3)], rng.random_range(0..10)),
                10 => Request::Refused,
                11 => Request::Describe,
                12 => Request::Simple,
                _ => Request::Reprepare,
            })
            .collect();
        // A few pipelines flip the phase between two of their requests.
        if rng.random_bool(0.05) {
            let at = rng.random_range(0..=requests.len());
            requests.insert(at, Request::Flip(rng.random_range(0..3)));
        }
        let plan: Vec<bool> = requests.iter().map(|_| rng.random_bool(0.4)).collect();
        let block = rng.random_bool(0.25);
        let mut answers = Vec::new();
        for (c, proxied) in [(&mut app, Some(&pair.db)), (&mut twin, None)] {
            let mut mine = Vec::new();
            if block {
                mine.extend(brief(c.exchange(&[query("BEGIN")]).await));
            }
            mine.extend(pipeline(c, proxied, &requests, &plan).await);
            if block {
                mine.extend(brief(c.exchange(&[query("COMMIT")]).await));
            }
            answers.push(mine);
        }
        // The refusal in the twin's terms.
        let refusal = (b'E', b"0A000".to_vec());
        answers[0].iter_mut().filter(|a| **a == refusal).for_each(|a| a.1 = b"42P01".to_vec());
        crate::support::assert_same_lines(
            &readable(&answers[1]),
            &readable(&answers[0]),
            format_args!("seed {seed}, pipeline {k} in {phase} (block: {block}): {requests:?}, read after {plan:?}"),
        );
        if let Some(Request::Flip(to)) = requests.iter().rev().find(|r| matches!(r, Request::Flip(_))) {
            phase = FLIPS[*to];
            wait_all_acknowledged(&pair.db, &format!("pipeline {k}: the flip to {phase} inside it, once it ended"))
                .await;
        }
    }
    assert_in_step(&pair.db, &pair.twin, true, "after the random pipelines").await;
}

//! Refusals in the middle of an extended-protocol pipeline (tokio-postgres
//! sends the requests of concurrent queries on one connection without
//! waiting): the 0A000 goes to the refused query, and the others get what
//! PostgreSQL gives them after an error in that position, shown by a twin
//! that fails the same position with an error of its own.

use tokio_postgres::Client;

use crate::common::*;
use crate::fixture::{t, u, U1};

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
    let n: i64 = pair.db.client.query_one("SELECT count(*) FROM todos WHERE title = 'pipelined'", &[]).await.expect("count").get(0);
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
    let (p61, p62): ([&(dyn tokio_postgres::types::ToSql + Sync); 1], [&(dyn tokio_postgres::types::ToSql + Sync); 1]) = ([&t61], [&t62]);
    let p66: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&t66, &user];
    let (a, b, c, d) = futures_util::join!(app.execute(&ok, &p61), app.execute(&by_name, &p66), app.query_one(&sel, &p61), app.execute(&ok, &p62));
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
    let landed: i64 = pair.db.client.query_one("SELECT count(*) FROM todos WHERE id IN ($1, $2)", &[&t(65), &t(66)]).await.expect("count").get(0);
    assert_eq!(landed, 1, "t65 only: the refused insert ran nowhere");
    assert_eq!(crate::support::schemas_differ(&pair.db.client).await, None);
}

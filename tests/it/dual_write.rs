//! A legacy app pointed at switchyard keeps both schemas in step: in
//! dual_write every write through the proxy is mirrored in the same
//! statement, the client sees exactly what PostgreSQL would have told it,
//! and what cannot be mirrored safely is refused with 0A000 (I1, I4, I5).

use crate::support;

use tokio_postgres::SimpleQueryMessage;

const USER: &str = "00000000-0000-0000-0000-0000000000a1";

async fn dual_write_setup() -> (support::TestDb, support::ProxyProcess) {
    let db = support::migrated_db().await;
    db.client
        .batch_execute(&format!("INSERT INTO users (id, email) VALUES ('{USER}', 'dw@example.com')"))
        .await
        .expect("user");
    let proxy = support::spawn_proxy(&db).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    (db, proxy)
}

fn tag_of(messages: &[SimpleQueryMessage]) -> Vec<u64> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn prepared_writes_are_mirrored_and_report_their_own_counts() {
    let (db, proxy) = dual_write_setup().await;
    let app = proxy.connect().await;
    let user: uuid::Uuid = USER.parse().expect("uuid");

    let insert =
        app.prepare("INSERT INTO todos (user_id, title, priority) VALUES ($1, $2, $3)").await.expect("prepare insert");
    assert!(insert.columns().is_empty(), "no RETURNING: Describe must say NoData");
    for i in 0..5 {
        let n = app.execute(&insert, &[&user, &format!("task {i}"), &i]).await.expect("insert");
        assert_eq!(n, 1);
    }
    let n =
        app.execute("UPDATE todos SET status = 'in_progress' WHERE priority >= $1", &[&2i32]).await.expect("update");
    assert_eq!(n, 3, "UPDATE n counts the client's rows");
    let rows = app
        .query("UPDATE todos SET priority = priority + 10 WHERE priority < $1 RETURNING id, priority", &[&2i32])
        .await
        .expect("update returning");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].columns().len(), 2, "only the client's RETURNING columns");
    assert!(rows.iter().all(|r| r.get::<_, i32>(1) >= 10));
    let n = app.execute("DELETE FROM todos WHERE title = $1", &[&"task 4"]).await.expect("delete");
    assert_eq!(n, 1);

    assert_eq!(support::schemas_differ(&db.client).await, None);
    let legacy: i64 = db.client.query_one("SELECT count(*) FROM todos", &[]).await.expect("count").get(0);
    assert_eq!(legacy, 4);
}

#[tokio::test]
async fn simple_protocol_writes_are_mirrored_with_their_command_tags() {
    let (db, proxy) = dual_write_setup().await;
    let app = proxy.connect().await;
    let messages = app
        .simple_query(&format!(
            "INSERT INTO todos (user_id, title) VALUES ('{USER}', 'a'), ('{USER}', 'b'), ('{USER}', 'c');
             SELECT 42;
             UPDATE todos SET title = title || '!' WHERE title IN ('a', 'b');
             DELETE FROM todos WHERE title = 'c'"
        ))
        .await
        .expect("multi-statement query");
    assert_eq!(tag_of(&messages), vec![3, 1, 2, 1]);
    let rows: Vec<&str> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0),
            _ => None,
        })
        .collect();
    assert_eq!(rows, vec!["42"], "no wrapper rows reach the client");
    assert_eq!(support::schemas_differ(&db.client).await, None);
}

#[tokio::test]
async fn defaults_now_and_the_updated_at_trigger_come_out_identical_on_both_sides() {
    let (db, proxy) = dual_write_setup().await;
    let app = proxy.connect().await;
    app.batch_execute(&format!("INSERT INTO todos (user_id, title) VALUES ('{USER}', 'clock')"))
        .await
        .expect("insert with defaults");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.batch_execute("UPDATE todos SET title = 'clock 2' WHERE title = 'clock'").await.expect("update fires trigger");
    assert_eq!(support::schemas_differ(&db.client).await, None);
    let moved: bool = db
        .client
        .query_one("SELECT updated_at > created_at FROM todos WHERE title = 'clock 2'", &[])
        .await
        .expect("trigger")
        .get(0);
    assert!(moved, "the legacy trigger ran");
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_neither_schema_changed() {
    let (db, proxy) = dual_write_setup().await;
    let mut app = proxy.connect().await;
    let tx = app.transaction().await.expect("begin");
    tx.execute(&format!("INSERT INTO todos (user_id, title) VALUES ('{USER}', 'ghost')"), &[]).await.expect("insert");
    tx.rollback().await.expect("rollback");
    let n: i64 = db
        .client
        .query_one("SELECT (SELECT count(*) FROM todos) + (SELECT count(*) FROM todos_active)", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn unsafe_statements_are_refused_with_0a000_and_nothing_runs() {
    let (db, proxy) = dual_write_setup().await;
    let app = proxy.connect().await;
    app.batch_execute(&format!("INSERT INTO todos (user_id, title) VALUES ('{USER}', 'keep me')"))
        .await
        .expect("insert");

    for sql in ["TRUNCATE todos", "ALTER TABLE todos ADD COLUMN x int", "COPY todos FROM STDIN"] {
        let err = app.batch_execute(sql).await.expect_err(sql);
        let db_err = err.as_db_error().unwrap_or_else(|| panic!("{sql}: not a server error: {err}"));
        assert_eq!(db_err.code().code(), "0A000", "{sql}");
        assert!(db_err.message().to_lowercase().contains("todos"), "{sql}: {}", db_err.message());
    }
    // Extended protocol: the refusal arrives for the Parse.
    let err = app.prepare("TRUNCATE todos").await.expect_err("prepare truncate");
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("0A000"));

    // The connection stays usable, and a transaction block is left aborted.
    assert_eq!(app.query_one("SELECT 1", &[]).await.expect("still usable").get::<_, i32>(0), 1);
    app.batch_execute("BEGIN").await.expect("begin");
    app.batch_execute("TRUNCATE todos").await.expect_err("refused in a block");
    let err = app.batch_execute("SELECT 1").await.expect_err("block must be aborted");
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("25P02"));
    app.batch_execute("ROLLBACK").await.expect("rollback");

    let n: i64 = db.client.query_one("SELECT count(*) FROM todos", &[]).await.expect("count").get(0);
    assert_eq!(n, 1, "nothing of a refused statement ran");
    assert_eq!(support::schemas_differ(&db.client).await, None);
}

#[tokio::test]
async fn traffic_that_does_not_touch_todos_passes_through_unchanged() {
    let (db, proxy) = dual_write_setup().await;
    let app = proxy.connect().await;
    let n = app
        .execute("INSERT INTO projects (user_id, name) VALUES ($1, 'p')", &[&USER.parse::<uuid::Uuid>().expect("uuid")])
        .await
        .expect("insert project");
    assert_eq!(n, 1);
    let row = app.query_one("SELECT name, 'todos' AS word FROM projects", &[]).await.expect("select");
    assert_eq!(row.get::<_, &str>(1), "todos");
    let count: i64 = db.client.query_one("SELECT count(*) FROM projects", &[]).await.expect("count").get(0);
    assert_eq!(count, 1);
}

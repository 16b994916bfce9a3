//! A proxy never runs a statement touching todos under a phase it has not
//! read: not when it has just started (clients already knocking), not when
//! its control database stops answering. Such statements wait a bounded
//! time, then get SQLSTATE 57P03; other traffic keeps flowing.

use std::time::Duration;

use switchyard_proxy::route::phase_gate::{PHASE_UNKNOWN_MESSAGE, PHASE_UNKNOWN_SQLSTATE};

use super::connect_when_listening;
use crate::support::{self, ChildGuard, TestDb};

const USER: &str = "00000000-0000-4000-8000-0000000000a1";

/// A migrated database in dual_write with one user.
async fn dual_write_db() -> TestDb {
    let db = support::migrated_db().await;
    db.client
        .batch_execute(&format!("INSERT INTO users (id, email) VALUES ('{USER}', 'ann@example.com')"))
        .await
        .expect("user");
    support::force_phase(&db, "dual_write").await;
    db
}

fn user() -> uuid::Uuid {
    USER.parse().expect("uuid")
}

/// Whether the todo is in legacy and in todos_active.
async fn whereabouts(db: &TestDb, id: uuid::Uuid) -> (bool, bool) {
    let row = db
        .client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM todos WHERE id = $1), EXISTS (SELECT 1 FROM todos_active WHERE id = $1)",
            &[&id],
        )
        .await
        .expect("whereabouts");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_proxy_started_in_dual_write_mirrors_the_first_insert_of_a_client_already_knocking() {
    let db = dual_write_db().await;
    for attempt in 0..8 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let url = format!("postgres://postgres@127.0.0.1:{port}/{}", db.name);
        let extended = attempt % 2 == 0;
        let client = tokio::spawn(async move {
            let client = connect_when_listening(&url).await;
            let title = format!("first after start {attempt}");
            if extended {
                let sql = "INSERT INTO todos (user_id, title) VALUES ($1, $2) RETURNING id";
                client.query_one(sql, &[&user(), &title]).await.map(|r| r.get::<_, uuid::Uuid>(0))
            } else {
                let sql = format!("INSERT INTO todos (user_id, title) VALUES ('{USER}', '{title}') RETURNING id");
                let rows = client.simple_query(&sql).await?;
                let id = rows.iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|s| s.parse().expect("uuid")),
                    _ => None,
                });
                Ok(id.expect("RETURNING id"))
            }
        });
        let proxy = std::process::Command::new(support::switchyard_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--upstream", &db.url])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .spawn()
            .map(ChildGuard::new)
            .expect("spawn switchyard serve");
        let id = tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("the insert is answered")
            .expect("client task")
            .unwrap_or_else(|e| panic!("attempt {attempt}: the first insert failed: {e}"));
        let (legacy, active) = whereabouts(&db, id).await;
        assert!(
            legacy && active,
            "attempt {attempt} (extended: {extended}): in legacy {legacy}, in todos_active {active}"
        );
        drop(proxy);
    }
}

/// The SQLSTATE and message of a failed statement.
fn failure<T>(result: Result<T, tokio_postgres::Error>, what: &str) -> (String, String) {
    match result {
        Ok(_) => panic!("{what}: ran without a known phase"),
        Err(e) => match e.as_db_error() {
            Some(db) => (db.code().code().to_string(), db.message().to_string()),
            None => panic!("{what}: {e}"),
        },
    }
}

fn assert_phase_unknown<T>(result: Result<T, tokio_postgres::Error>, what: &str) {
    let (code, message) = failure(result, what);
    assert_eq!((code.as_str(), message.as_str()), (PHASE_UNKNOWN_SQLSTATE, PHASE_UNKNOWN_MESSAGE), "{what}");
}

#[tokio::test]
async fn without_a_readable_phase_todos_statements_wait_then_get_57p03_while_other_traffic_flows() {
    let db = dual_write_db().await;
    // The control database stops answering: the phase row is locked.
    let locker = db.connect().await;
    locker.batch_execute("BEGIN; LOCK TABLE switchyard.migration_state IN ACCESS EXCLUSIVE MODE").await.expect("lock");
    let proxy = support::spawn_proxy_with(&db, &["--phase-wait", "0.3", "--phase-trust", "1"]).await;
    let c = proxy.connect().await;
    let users: i64 = c.query_one("SELECT count(*) FROM users", &[]).await.expect("other tables").get(0);
    assert_eq!(users, 1);
    let insert = format!("INSERT INTO todos (user_id, title) VALUES ('{USER}', 'x') RETURNING id");
    assert_phase_unknown(c.simple_query(&insert).await, "simple insert");
    assert_phase_unknown(c.simple_query("SELECT count(*) FROM todos").await, "simple read");
    assert_phase_unknown(c.prepare("INSERT INTO todos (user_id, title) VALUES ($1, $2)").await, "prepared insert");
    c.batch_execute("BEGIN").await.expect("begin");
    c.simple_query("SELECT 1").await.expect("a transaction without todos runs");
    assert_phase_unknown(c.simple_query(&insert).await, "insert in a transaction");
    c.batch_execute("ROLLBACK").await.expect("rollback");
    let todos: i64 = db.client.query_one("SELECT count(*) FROM todos", &[]).await.expect("count").get(0);
    assert_eq!(todos, 0, "nothing ran");

    // The phase is read: the insert runs, mirrored.
    locker.batch_execute("COMMIT").await.expect("unlock");
    let mut inserted = None;
    for _ in 0..20 {
        match c.query_one(insert.as_str(), &[]).await {
            Ok(row) => {
                inserted = Some(row.get(0));
                break;
            }
            Err(e) => assert_phase_unknown(Err::<(), _>(e), "insert while the phase is being read"),
        }
    }
    let (legacy, active) = whereabouts(&db, inserted.expect("the insert runs once the phase is read")).await;
    assert!(legacy && active, "in legacy {legacy}, in todos_active {active}");

    // Unreadable again for longer than the phase is trusted: back to waiting.
    locker.batch_execute("BEGIN; LOCK TABLE switchyard.migration_state IN ACCESS EXCLUSIVE MODE").await.expect("lock");
    let mut refused = None;
    for _ in 0..200 {
        if let Err(e) = c.simple_query("SELECT count(*) FROM todos").await {
            refused = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_phase_unknown(Err::<(), _>(refused.expect("the phase stops being trusted")), "read after the trust ran out");
    c.simple_query("SELECT count(*) FROM users").await.expect("other tables still flow");
    locker.batch_execute("COMMIT").await.expect("unlock");
}

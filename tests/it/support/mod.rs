//! Shared helpers for the integration tests: one throwaway PostgreSQL per test
//! binary (see `switchyard-localpg`) and one fresh database per test.
#![allow(dead_code)]

use tokio_postgres::Client;

pub mod child;
pub mod expect;
pub mod fixture;
pub mod http;
pub mod raw;
pub mod write_forms;
pub use child::ChildGuard;
pub use expect::{assert_same_as_legacy, assert_same_lines};

/// A database of its own for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub client: Client,
}

impl TestDb {
    /// Another connection to the same database.
    pub async fn connect(&self) -> Client {
        connect(&self.url).await
    }
}

/// A fresh database holding the legacy TodoList schema (control/src/legacy/schema.sql), no rows.
pub async fn legacy_db() -> TestDb {
    db_with(switchyard_control::legacy::SCHEMA_SQL).await
}

/// A fresh database holding the legacy schema with every Switchyard migration
/// applied (through the real `Migrator`, so `switchyard.schema_migrations` is
/// filled), no rows.
pub async fn migrated_db() -> TestDb {
    let server = switchyard_localpg::shared();
    let name = server
        .create_database_with("legacy+migrations", async |client: &mut Client| {
            client.batch_execute(switchyard_control::legacy::SCHEMA_SQL).await.map_err(|e| e.to_string())?;
            switchyard_control::migrate::Migrator::embedded().run(client, false).await.map_err(|e| e.to_string())?;
            Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("creating a migrated test database: {e}"));
    let url = server.url(&name);
    let client = connect(&url).await;
    TestDb { name, url, client }
}

/// A fresh, empty database.
pub async fn empty_db() -> TestDb {
    db_with("SELECT 1").await
}

/// A fresh database holding whatever `init_sql` creates.
pub async fn db_with(init_sql: &str) -> TestDb {
    let server = switchyard_localpg::shared();
    let name = server.create_database(init_sql).await.unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let url = server.url(&name);
    let client = connect(&url).await;
    TestDb { name, url, client }
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// The path of the freshly built `switchyard` binary.
pub fn switchyard_bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_switchyard"))
}

/// A `switchyard serve` process in front of a test database, killed on drop
/// (also when the test panics).
pub struct ProxyProcess {
    pub port: u16,
    child: ChildGuard,
    /// The database the proxy's clients connect to.
    pub db_name: String,
}

impl ProxyProcess {
    /// A URL for tokio-postgres that goes through the proxy.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{}", self.port, self.db_name)
    }

    pub async fn connect(&self) -> Client {
        connect(&self.url()).await
    }

    /// Sends SIGTERM and waits for the process to exit (SIGKILL and a panic
    /// when it does not within the grace period).
    pub fn terminate(self) -> std::process::ExitStatus {
        self.child.terminate()
    }
}

/// Starts `switchyard serve` for `db` (following its phase) and waits until
/// it accepts connections.
pub async fn spawn_proxy(db: &TestDb) -> ProxyProcess {
    spawn_proxy_with(db, &[]).await
}

pub async fn spawn_proxy_with(db: &TestDb, extra: &[&str]) -> ProxyProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let child = std::process::Command::new(switchyard_bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--upstream",
            &db.url,
            "--phase-poll-interval",
            "0.2",
        ])
        .args(extra)
        .env("RUST_LOG", std::env::var("SWITCHYARD_TEST_PROXY_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn switchyard serve");
    let proxy = ProxyProcess { port, child: ChildGuard::new(child), db_name: db.name.clone() };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return proxy;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("switchyard serve did not start listening on {port}");
}

/// Moves the migration straight to `phase` (tests only: no guards) and waits
/// until `proxy` has picked it up (its instance acknowledges the epoch).
pub async fn force_phase(db: &TestDb, phase: &str) {
    db.client
        .execute(
            "UPDATE switchyard.migration_state SET phase = $1, epoch = epoch + 1, reason = 'test' WHERE table_name = 'todos'",
            &[&phase],
        )
        .await
        .expect("set phase");
}

/// Waits until every registered instance acknowledges the current epoch.
/// The bound only guards against a hang: on a loaded 2-core machine, with
/// every test in one binary sharing one cluster, an acknowledgment has
/// taken over 10 s.
pub async fn wait_for_instances(db: &TestDb) {
    for _ in 0..600 {
        let row = db
            .client
            .query_one(
                "SELECT count(*) FILTER (WHERE i.acknowledged_epoch IS DISTINCT FROM s.epoch), count(*)
                 FROM switchyard.proxy_instances i, switchyard.migration_state s WHERE s.table_name = 'todos'",
                &[],
            )
            .await
            .expect("instances");
        let (behind, all): (i64, i64) = (row.get(0), row.get(1));
        if all > 0 && behind == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("proxy instances did not acknowledge the phase");
}

/// The legacy table and the new schema hold the same rows over every legacy
/// column, no id is in both new tables (I3), and depth is right. Returns a
/// description of the first difference.
pub async fn schemas_differ(client: &Client) -> Option<String> {
    let cols = "id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at";
    let row = client
        .query_one(
            &format!(
                "WITH l AS (SELECT {cols} FROM todos),
                      n AS (SELECT {cols} FROM todos_active UNION ALL SELECT {cols} FROM todos_archived)
                 SELECT (SELECT count(*) FROM (SELECT * FROM l EXCEPT ALL SELECT * FROM n) x),
                        (SELECT count(*) FROM (SELECT * FROM n EXCEPT ALL SELECT * FROM l) y),
                        (SELECT count(*) FROM todos_active a JOIN todos_archived r USING (id)),
                        (SELECT count(*) FROM (SELECT id, parent_todo_id, depth FROM todos_active UNION ALL SELECT id, parent_todo_id, depth FROM todos_archived) c
                          LEFT JOIN (SELECT id, depth FROM todos_active UNION ALL SELECT id, depth FROM todos_archived) p ON p.id = c.parent_todo_id
                          WHERE c.depth IS DISTINCT FROM CASE WHEN c.parent_todo_id IS NULL THEN 0 ELSE p.depth + 1 END)"
            ),
            &[],
        )
        .await
        .expect("compare schemas");
    let (only_legacy, only_new, both, depth): (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    (only_legacy + only_new + both + depth > 0).then(|| {
        format!("{only_legacy} rows only in legacy, {only_new} only in new, {both} in both new tables, {depth} with a wrong depth")
    })
}

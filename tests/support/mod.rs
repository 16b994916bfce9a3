//! Shared helpers for the integration tests: one throwaway PostgreSQL per test
//! binary (see `switchyard-localpg`) and one fresh database per test.
#![allow(dead_code)]

use tokio_postgres::Client;

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

/// A fresh database holding the legacy TodoList schema (design §1), no rows.
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

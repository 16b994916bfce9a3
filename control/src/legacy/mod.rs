//! The legacy TodoList application Switchyard migrates from: its schema
//! (the TodoList app's tables as it ships them) and a generator of realistic data for it.

mod seed;
pub mod words;

pub use seed::{load, SeedCounts, SeedOptions};

/// The legacy schema, verbatim as the application creates it.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// Creates the legacy schema unless a `todos` table already exists in the
/// current schema. Returns whether it created it.
pub async fn ensure_schema(client: &tokio_postgres::Client) -> Result<bool, tokio_postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('todos') IS NOT NULL", &[]).await?.get(0);
    if exists {
        return Ok(false);
    }
    client.batch_execute(SCHEMA_SQL).await?;
    Ok(true)
}

//! `switchyard.schema_migrations`: the migrations applied, with their
//! checksums. The one control table no migration creates: the runner must
//! read it before any migration has run, so [`applied`] creates it.

use std::time::Duration;

use tokio_postgres::GenericClient;

/// `(name, checksum)` of every applied migration, by name; creates the
/// schema and the table on first use.
pub async fn applied(client: &impl GenericClient) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    client
        .batch_execute(
            "SET client_min_messages = warning;
             CREATE SCHEMA IF NOT EXISTS switchyard;
             CREATE TABLE IF NOT EXISTS switchyard.schema_migrations (
               name text PRIMARY KEY,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now(),
               duration_ms bigint NOT NULL)",
        )
        .await?;
    let rows = client.query("SELECT name, checksum FROM switchyard.schema_migrations ORDER BY name", &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Records migration `name` as applied (in the migration's transaction).
pub async fn record(
    client: &impl GenericClient,
    name: &str,
    checksum: &str,
    took: Duration,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO switchyard.schema_migrations (name, checksum, duration_ms) VALUES ($1, $2, $3)",
            &[&name, &checksum, &(took.as_millis() as i64)],
        )
        .await?;
    Ok(())
}

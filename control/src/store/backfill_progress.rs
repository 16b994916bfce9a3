//! `switchyard.backfill_progress` (migration 0001): one row per table, the
//! backfill's keyset checkpoint, its counts, the pause flag and whether it
//! completed.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Where a backfill stands, as checkpointed.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub last_key: Option<Uuid>,
    pub rows_copied: i64,
    pub batches: i64,
    pub completed: bool,
}

/// Whether it completed, and when it finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub completed: bool,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The row of a backfill's run so far, for `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub rows_copied: i64,
    pub batches: i64,
    pub completed: bool,
    pub paused: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds from start to finish, or to the last update while running.
    pub elapsed_seconds: f64,
    /// The legacy table's row estimate (`pg_class.reltuples`, 0 when unknown).
    pub legacy_rows_estimate: i64,
}

/// Forgets the table's backfill (a restart, or going back to legacy).
pub async fn forget(client: &impl GenericClient, table: &str) -> Result<u64, tokio_postgres::Error> {
    client.execute("DELETE FROM switchyard.backfill_progress WHERE table_name = $1", &[&table]).await
}

/// Creates the table's row unless it exists, and returns its checkpoint.
pub async fn start(client: &impl GenericClient, table: &str) -> Result<Checkpoint, tokio_postgres::Error> {
    client
        .execute("INSERT INTO switchyard.backfill_progress (table_name) VALUES ($1) ON CONFLICT DO NOTHING", &[&table])
        .await?;
    let row = client
        .query_one(
            "SELECT last_key, rows_copied, batches, completed FROM switchyard.backfill_progress WHERE table_name = $1",
            &[&table],
        )
        .await?;
    Ok(Checkpoint { last_key: row.get(0), rows_copied: row.get(1), batches: row.get(2), completed: row.get(3) })
}

/// Records one copied batch ending at `last_key`.
pub async fn advance(
    client: &impl GenericClient,
    table: &str,
    last_key: Uuid,
    rows: i64,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE switchyard.backfill_progress SET last_key = $2, rows_copied = rows_copied + $3,
                    batches = batches + 1, updated_at = now() WHERE table_name = $1",
            &[&table, &last_key, &rows],
        )
        .await?;
    Ok(())
}

/// Marks the backfill complete.
pub async fn complete(client: &impl GenericClient, table: &str) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE switchyard.backfill_progress SET completed = true, finished_at = now(), updated_at = now()
             WHERE table_name = $1",
            &[&table],
        )
        .await?;
    Ok(())
}

/// Whether the running backfill is asked to pause.
pub async fn paused(client: &impl GenericClient, table: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT paused FROM switchyard.backfill_progress WHERE table_name = $1", &[&table])
        .await?
        .is_some_and(|r| r.get::<_, bool>(0)))
}

/// Sets or clears the pause flag; false when the table has no backfill.
pub async fn set_paused(client: &impl GenericClient, table: &str, paused: bool) -> Result<bool, tokio_postgres::Error> {
    let n = client
        .execute(
            "UPDATE switchyard.backfill_progress SET paused = $2, updated_at = now() WHERE table_name = $1",
            &[&table, &paused],
        )
        .await?;
    Ok(n > 0)
}

/// Whether the backfill completed and when; `None` when none ran.
pub async fn completion(client: &impl GenericClient, table: &str) -> Result<Option<Completion>, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT completed, finished_at FROM switchyard.backfill_progress WHERE table_name = $1", &[&table])
        .await?
        .map(|r| Completion { completed: r.get(0), finished_at: r.get(1) }))
}

/// Rows copied so far (0 when no backfill ran).
pub async fn rows_copied(client: &impl GenericClient, table: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT rows_copied FROM switchyard.backfill_progress WHERE table_name = $1", &[&table])
        .await?
        .map_or(0, |r| r.get(0)))
}

/// The backfill's row with its elapsed time and the legacy row estimate.
pub async fn summary(client: &impl GenericClient, table: &str) -> Result<Option<Summary>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT p.rows_copied, p.batches, p.completed, p.paused, p.started_at, p.finished_at,
                    extract(epoch FROM coalesce(p.finished_at, p.updated_at) - p.started_at)::float8,
                    greatest((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), 0)::int8
             FROM switchyard.backfill_progress p WHERE p.table_name = $1",
            &[&table],
        )
        .await?;
    Ok(row.map(|r| Summary {
        rows_copied: r.get(0),
        batches: r.get(1),
        completed: r.get(2),
        paused: r.get(3),
        started_at: r.get(4),
        finished_at: r.get(5),
        elapsed_seconds: r.get(6),
        legacy_rows_estimate: r.get(7),
    }))
}

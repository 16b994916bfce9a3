//! `switchyard.migration_state` (migration 0001): one row per migrated
//! table, its phase and epoch. The row's trigger records each change in
//! `phase_history` and notifies the listening proxy instances.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

/// A table's state row. The phase is the stored text; parsing it is the
/// caller's (`phase::parse_phase`).
#[derive(Debug, Clone, PartialEq)]
pub struct StateRow {
    pub phase: String,
    pub epoch: i64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub reason: Option<String>,
}

/// Whether the control schema exists in the connected database (its state
/// table stands for the rest).
pub async fn exists(client: &impl GenericClient) -> Result<bool, tokio_postgres::Error> {
    Ok(client.query_one("SELECT to_regclass('switchyard.migration_state') IS NOT NULL", &[]).await?.get(0))
}

/// The row of `table`; `None` when the table is not migrated.
pub async fn read(client: &impl GenericClient, table: &str) -> Result<Option<StateRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT phase, epoch, updated_at, updated_by, reason FROM switchyard.migration_state WHERE table_name = $1",
            &[&table],
        )
        .await?;
    Ok(row.map(|r| StateRow {
        phase: r.get(0),
        epoch: r.get(1),
        updated_at: r.get(2),
        updated_by: r.get(3),
        reason: r.get(4),
    }))
}

/// Locks the row of `table` until the transaction ends (`FOR UPDATE`, so
/// phase changes run one at a time) and returns its `(phase, epoch)`.
pub async fn lock(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
) -> Result<Option<(String, i64)>, tokio_postgres::Error> {
    let row = tx
        .query_opt("SELECT phase, epoch FROM switchyard.migration_state WHERE table_name = $1 FOR UPDATE", &[&table])
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Sets the phase and epoch of `table`, recording who and why.
pub async fn set_phase(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    phase: &str,
    epoch: i64,
    actor: &str,
    reason: &str,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "UPDATE switchyard.migration_state SET phase = $2, epoch = $3, updated_at = now(), updated_by = $4, reason = $5
         WHERE table_name = $1",
        &[&table, &phase, &epoch, &actor, &reason],
    )
    .await?;
    Ok(())
}

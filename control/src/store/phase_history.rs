//! `switchyard.phase_history` (migration 0001): every phase change, written
//! by the trigger on `migration_state`; read here only.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

/// One entry of the phase history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    pub from: Option<String>,
    pub to: String,
    pub epoch: i64,
    pub at: DateTime<Utc>,
    pub by: Option<String>,
    pub reason: Option<String>,
}

/// The newest `limit` phase changes of `table`, oldest first.
pub async fn newest(
    client: &impl GenericClient,
    table: &str,
    limit: i64,
) -> Result<Vec<HistoryEntry>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT * FROM (SELECT from_phase, to_phase, epoch, changed_at, changed_by, reason, id
                            FROM switchyard.phase_history WHERE table_name = $1 ORDER BY id DESC LIMIT $2) h ORDER BY id",
            &[&table, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| HistoryEntry {
            from: r.get(0),
            to: r.get(1),
            epoch: r.get(2),
            at: r.get(3),
            by: r.get(4),
            reason: r.get(5),
        })
        .collect())
}

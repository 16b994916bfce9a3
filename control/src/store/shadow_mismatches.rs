//! `switchyard.shadow_mismatches` (migration 0001): samples of shadow reads
//! whose legacy and new forms differed, written by every proxy instance and
//! shown by `status`. A trigger keeps the newest 1000.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

/// A mismatch to record. `params` and `sample` are JSON texts; the row's
/// table is the column's default (`todos`).
#[derive(Debug, Clone)]
pub struct NewMismatch<'a> {
    pub phase: &'a str,
    pub instance_id: Option<&'a str>,
    pub statement: &'a str,
    pub params: &'a str,
    pub legacy_rows: i64,
    pub new_rows: i64,
    pub only_in_legacy: i64,
    pub only_in_new: i64,
    pub sample: &'a str,
}

/// One recorded shadow mismatch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MismatchSample {
    pub at: DateTime<Utc>,
    pub phase: Option<String>,
    pub instance_id: Option<String>,
    pub statement: String,
    pub params: Option<String>,
    pub only_in_legacy: i64,
    pub only_in_new: i64,
}

/// Records one mismatch.
pub async fn record(client: &impl GenericClient, m: &NewMismatch<'_>) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO switchyard.shadow_mismatches \
             (phase, instance_id, statement, params, legacy_rows, new_rows, only_in_legacy, only_in_new, sample) \
             VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7, $8, $9::text::jsonb)",
            &[
                &m.phase,
                &m.instance_id,
                &m.statement,
                &m.params,
                &m.legacy_rows,
                &m.new_rows,
                &m.only_in_legacy,
                &m.only_in_new,
                &m.sample,
            ],
        )
        .await?;
    Ok(())
}

/// How many samples are kept for `table`.
pub async fn count(client: &impl GenericClient, table: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_one("SELECT count(*) FROM switchyard.shadow_mismatches WHERE table_name = $1", &[&table])
        .await?
        .get(0))
}

/// The newest `limit` samples of `table`, newest first.
pub async fn newest(
    client: &impl GenericClient,
    table: &str,
    limit: i64,
) -> Result<Vec<MismatchSample>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT at, phase, instance_id, statement, params::text, only_in_legacy, only_in_new
             FROM switchyard.shadow_mismatches WHERE table_name = $1 ORDER BY id DESC LIMIT $2",
            &[&table, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| MismatchSample {
            at: r.get(0),
            phase: r.get(1),
            instance_id: r.get(2),
            statement: r.get(3),
            params: r.get(4),
            only_in_legacy: r.get(5),
            only_in_new: r.get(6),
        })
        .collect())
}

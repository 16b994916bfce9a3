//! `switchyard.verify_runs` (migration 0001): one row per verify run, so the
//! read_new phase guard can ask for a recent clean one ([`latest_clean`]).
//!
//! A run inserts its row when it starts (`clean` NULL) and completes it when it
//! ends: `clean` true or false, `differences`, and the report's summary. A run
//! that could not finish leaves `clean` NULL with the error in `summary`.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

/// A recorded verify run.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyRun {
    pub id: i64,
    pub table_name: String,
    /// Seconds since the epoch.
    pub started_at: f64,
    /// Seconds since the epoch; `None` while running.
    pub finished_at: Option<f64>,
    /// `None` while running or when it could not run.
    pub clean: Option<bool>,
    pub differences: Option<i64>,
    pub summary: Option<serde_json::Value>,
    /// Seconds since it finished, by the database's clock.
    pub age_seconds: Option<f64>,
}

/// Inserts the row of a starting run and returns its id.
pub async fn record_start(client: &impl GenericClient, table: &str) -> Result<i64, tokio_postgres::Error> {
    let row =
        client.query_one("INSERT INTO switchyard.verify_runs (table_name) VALUES ($1) RETURNING id", &[&table]).await?;
    row.try_get(0)
}

/// Completes a run's row. `clean` is `None` when the run could not finish.
pub async fn record_finish(
    client: &impl GenericClient,
    id: i64,
    clean: Option<bool>,
    differences: i64,
    summary: &serde_json::Value,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE switchyard.verify_runs SET finished_at = now(), clean = $2, differences = $3, summary = $4 WHERE id = $1",
            &[&id, &clean, &differences, summary],
        )
        .await?;
    Ok(())
}

const SELECT_RUN: &str =
    "SELECT id, table_name, extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8, \
     clean, differences, summary, extract(epoch FROM now() - finished_at)::float8 FROM switchyard.verify_runs";

fn from_row(r: &tokio_postgres::Row) -> Result<VerifyRun, tokio_postgres::Error> {
    Ok(VerifyRun {
        id: r.try_get(0)?,
        table_name: r.try_get(1)?,
        started_at: r.try_get(2)?,
        finished_at: r.try_get(3)?,
        clean: r.try_get(4)?,
        differences: r.try_get(5)?,
        summary: r.try_get(6)?,
        age_seconds: r.try_get(7)?,
    })
}

/// The most recently finished run for `table` (clean or not).
pub async fn last_finished(
    client: &impl GenericClient,
    table: &str,
) -> Result<Option<VerifyRun>, tokio_postgres::Error> {
    let sql =
        format!("{SELECT_RUN} WHERE table_name = $1 AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1");
    client.query_opt(&sql, &[&table]).await?.as_ref().map(from_row).transpose()
}

/// The most recent clean run for `table`, of those started at or after
/// `started_after` (the backfill's end, for the read_new guard: a run that
/// began before the copy finished proves nothing). A later run with
/// differences does not hide an earlier clean one here; a guard that wants
/// "the latest run was clean" uses [`last_finished`].
pub async fn latest_clean(
    client: &impl GenericClient,
    table: &str,
    started_after: Option<DateTime<Utc>>,
) -> Result<Option<VerifyRun>, tokio_postgres::Error> {
    let sql = format!(
        "{SELECT_RUN} WHERE table_name = $1 AND clean AND finished_at IS NOT NULL \
         AND ($2::timestamptz IS NULL OR started_at >= $2) ORDER BY finished_at DESC LIMIT 1"
    );
    client.query_opt(&sql, &[&table, &started_after]).await?.as_ref().map(from_row).transpose()
}

/// The most recent clean run for `table` if it finished at most
/// `max_age_seconds` ago.
pub async fn last_clean_within(
    client: &impl GenericClient,
    table: &str,
    max_age_seconds: f64,
) -> Result<Option<VerifyRun>, tokio_postgres::Error> {
    let run = latest_clean(client, table, None).await?;
    Ok(run.filter(|r| r.age_seconds.is_some_and(|age| age <= max_age_seconds)))
}

/// The newest run as `status` shows it, finished or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Newest {
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub clean: Option<bool>,
    pub differences: Option<i64>,
    /// Seconds since it finished (or started, while it runs), by the
    /// database's clock.
    pub age_seconds: f64,
}

/// The most recently started run for `table`, finished or not.
pub async fn newest(client: &impl GenericClient, table: &str) -> Result<Option<Newest>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT started_at, finished_at, clean, differences,
                    extract(epoch FROM now() - coalesce(finished_at, started_at))::float8
             FROM switchyard.verify_runs WHERE table_name = $1 ORDER BY id DESC LIMIT 1",
            &[&table],
        )
        .await?;
    Ok(row.map(|r| Newest {
        started_at: r.get(0),
        finished_at: r.get(1),
        clean: r.get(2),
        differences: r.get(3),
        age_seconds: r.get(4),
    }))
}

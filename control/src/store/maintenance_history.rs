//! `switchyard.maintenance_history` (migration 0001): one row per
//! maintenance run and per step, opened and closed through the migration's
//! `maintenance_begin` / `maintenance_finish`. Each call commits on its own
//! (autocommit), so a failed step still leaves its 'failed' row behind.

use std::time::Duration;

use tokio_postgres::GenericClient;

/// Opens the row of a run of `job` started by the CLI; returns its id.
pub async fn begin_run(client: &impl GenericClient, job: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_one(
            "SELECT switchyard.maintenance_begin($1, NULL, jsonb_build_object('source', 'switchyard maintain'))",
            &[&job],
        )
        .await?
        .get(0))
}

/// Closes a run's row: failed when any step failed.
pub async fn finish_run(
    client: &impl GenericClient,
    run_id: i64,
    failed_steps: i64,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "SELECT switchyard.maintenance_finish($1, $2, NULL, jsonb_build_object('failed_steps', $3::int8))",
            &[&run_id, &if failed_steps > 0 { "failed" } else { "succeeded" }, &failed_steps],
        )
        .await?;
    Ok(())
}

/// Opens the row of one step of `job`; returns its id.
pub async fn begin_step(client: &impl GenericClient, job: &str, step: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(client.query_one("SELECT switchyard.maintenance_begin($1, $2)", &[&job, &step]).await?.get(0))
}

/// Closes a step's row as succeeded, with what it did.
pub async fn step_succeeded(
    client: &impl GenericClient,
    log_id: i64,
    rows: Option<i64>,
    detail: &str,
    took: Duration,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "SELECT switchyard.maintenance_finish($1, 'succeeded', $2, jsonb_build_object('detail', $3::text, 'ms', $4::int8))",
            &[&log_id, &rows, &detail, &(took.as_millis() as i64)],
        )
        .await?;
    Ok(())
}

/// Closes a step's row as failed, with the error.
pub async fn step_failed(
    client: &impl GenericClient,
    log_id: i64,
    message: &str,
    took: Duration,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "SELECT switchyard.maintenance_finish($1, 'failed', NULL, jsonb_build_object('ms', $3::int8), $2)",
            &[&log_id, &message, &(took.as_millis() as i64)],
        )
        .await?;
    Ok(())
}

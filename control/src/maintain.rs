//! The seed's daily and weekly maintenance procedures, run step by step from
//! the CLI so that each step is its own transaction (archival under live
//! traffic must not hold its lock across batches, and VACUUM cannot run in a
//! function or a transaction block). Every step is timed and logged in
//! `switchyard.maintenance_history` ([`crate::store::maintenance_history`]).

use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::error::ControlError;
use crate::store::maintenance_history;

/// Daily or weekly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Procedure {
    Daily,
    Weekly,
}

impl Procedure {
    fn job(self) -> &'static str {
        match self {
            Procedure::Daily => "daily_maintenance",
            Procedure::Weekly => "weekly_maintenance",
        }
    }
}

/// Settings of a maintenance run.
#[derive(Debug, Clone)]
pub struct MaintainConfig {
    /// Done todos completed longer ago than this are archived.
    pub retention: Duration,
    pub batch_size: i32,
    pub months_ahead: i32,
    /// Weekly: drop archive partitions wholly older than this (None: keep all).
    pub drop_after: Option<Duration>,
    /// Weekly: drop even while legacy still holds the rows (mid-migration).
    pub force_drop: bool,
    /// How many lock timeouts one archival batch may retry before the step fails.
    pub max_lock_retries: u32,
    /// Hand the archive partitions to pg_partman first (see `partman`).
    pub partman: bool,
}

impl Default for MaintainConfig {
    fn default() -> Self {
        MaintainConfig {
            retention: Duration::from_secs(30 * 86_400),
            batch_size: 1000,
            months_ahead: 3,
            drop_after: None,
            force_drop: false,
            max_lock_retries: 50,
            partman: false,
        }
    }
}

/// The outcome of one step.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub step: String,
    pub ok: bool,
    pub rows: Option<i64>,
    pub detail: String,
    pub took: Duration,
}

/// Runs every step of `procedure`; a failing step is logged and reported and
/// the remaining steps still run. Returns the outcomes in order.
pub async fn run(
    client: &Client,
    procedure: Procedure,
    cfg: &MaintainConfig,
) -> Result<Vec<StepOutcome>, ControlError> {
    let job = procedure.job();
    let run_id = maintenance_history::begin_run(client, job).await?;
    let mut steps: Vec<(String, String)> = match procedure {
        Procedure::Daily => vec![
            ("analyze".into(), "ANALYZE todos_active; ANALYZE todos_archived; ANALYZE ai_todo_interactions".into()),
            ("create_archive_partitions".into(), String::new()),
            ("archive_completed_todos".into(), String::new()),
            ("check_partition_health".into(), String::new()),
        ],
        Procedure::Weekly => {
            let mut steps: Vec<(String, String)> = client
                .query("SELECT step, command FROM weekly_maintenance_steps() ORDER BY step_no", &[])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            if cfg.drop_after.is_some() {
                steps.insert(steps.len().saturating_sub(1), ("drop_old_archive_partitions".into(), String::new()));
            }
            steps
        }
    };
    if cfg.partman {
        steps.insert(0, ("partman_adopt".into(), String::new()));
    }
    let mut outcomes = Vec::new();
    for (step, command) in steps {
        let log_id = maintenance_history::begin_step(client, job, &step).await?;
        let started = Instant::now();
        let result = run_step(client, &step, &command, cfg).await;
        let took = started.elapsed();
        let outcome = match result {
            Ok((rows, detail)) => {
                maintenance_history::step_succeeded(client, log_id, rows, &detail, took).await?;
                StepOutcome { step, ok: true, rows, detail, took }
            }
            Err(message) => {
                maintenance_history::step_failed(client, log_id, &message, took).await?;
                StepOutcome { step, ok: false, rows: None, detail: message, took }
            }
        };
        outcomes.push(outcome);
    }
    let failed = outcomes.iter().filter(|o| !o.ok).count() as i64;
    maintenance_history::finish_run(client, run_id, failed).await?;
    Ok(outcomes)
}

fn interval(d: Duration) -> String {
    format!("{} seconds", d.as_secs())
}

async fn run_step(
    client: &Client,
    step: &str,
    command: &str,
    cfg: &MaintainConfig,
) -> Result<(Option<i64>, String), String> {
    let pg = |e: tokio_postgres::Error| switchyard_pgconn::describe_pg_error(&e);
    match step {
        "create_archive_partitions" => {
            let n: i32 = client
                .query_one("SELECT create_archive_partitions($1)", &[&cfg.months_ahead])
                .await
                .map_err(pg)?
                .get(0);
            Ok((Some(n as i64), format!("{n} partitions created")))
        }
        "archive_completed_todos" => archive(client, cfg).await,
        "partman_adopt" => {
            let adoption = crate::partman::adopt(client, cfg.months_ahead).await.map_err(|e| e.to_string())?;
            let detail = if adoption.adopted_now {
                format!(
                    "pg_partman now manages todos_archived ({} partitions renamed to its pattern)",
                    adoption.renamed.len()
                )
            } else {
                "pg_partman already manages todos_archived".to_string()
            };
            Ok((Some(adoption.renamed.len() as i64), detail))
        }
        "drop_old_archive_partitions"
            if crate::partman::managing_schema(client).await.map_err(|e| e.to_string())?.is_some() =>
        {
            // The guard drop_old_archive_partitions() applies in SQL.
            let phase = crate::state::current(client, "todos").await.map_err(|e| e.to_string())?.phase;
            if phase.writes_both() && !cfg.force_drop {
                return Err(format!(
                    "todos is in phase {phase}, where legacy still holds the archived rows; dropping them would make the two schemas differ (wait for new_only, or pass --force-drop)"
                ));
            }
            let after = cfg.drop_after.unwrap_or_default();
            let dropped = crate::partman::apply_retention(client, after).await.map_err(|e| e.to_string())?;
            Ok((Some(dropped.len() as i64), format!("{} partitions dropped by pg_partman's retention", dropped.len())))
        }
        "drop_old_archive_partitions" => {
            let after = cfg.drop_after.map(interval).unwrap_or_default();
            let n: i32 = client
                .query_one("SELECT drop_old_archive_partitions($1::text::interval, $2)", &[&after, &cfg.force_drop])
                .await
                .map_err(pg)?
                .get(0);
            Ok((Some(n as i64), format!("{n} partitions dropped")))
        }
        "check_partition_health" => {
            let rows = client
                .query("SELECT check_name, coalesce(object_name, ''), detail FROM check_partition_health() WHERE status <> 'OK'", &[])
                .await
                .map_err(pg)?;
            let problems: Vec<String> = rows
                .iter()
                .map(|r| format!("{} {}: {}", r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, String>(2)))
                .collect();
            let detail = if problems.is_empty() { "healthy".to_string() } else { problems.join("; ") };
            Ok((Some(problems.len() as i64), detail))
        }
        _ => {
            client.batch_execute(command).await.map_err(pg)?;
            Ok((None, command.to_string()))
        }
    }
}

/// Archival one batch per transaction, so the lock on todos_active is held
/// only for one batch's move; lock timeouts are retried with backoff.
async fn archive(client: &Client, cfg: &MaintainConfig) -> Result<(Option<i64>, String), String> {
    let retention = interval(cfg.retention);
    let mut total: i64 = 0;
    let mut batches = 0;
    let mut retries = 0u32;
    loop {
        match client
            .query_one("SELECT archive_completed_todos_batch($1::text::interval, $2)", &[&retention, &cfg.batch_size])
            .await
        {
            Ok(row) => {
                let n: i32 = row.get(0);
                if n == 0 {
                    break;
                }
                total += n as i64;
                batches += 1;
                retries = 0;
            }
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) && retries < cfg.max_lock_retries => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(50 * retries as u64)).await;
            }
            Err(e) => return Err(switchyard_pgconn::describe_pg_error(&e)),
        }
    }
    Ok((Some(total), format!("{total} todos archived in {batches} batches")))
}

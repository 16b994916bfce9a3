//! Reading and changing a table's migration phase in `switchyard.migration_state`.
//!
//! A change runs in one transaction that locks the table's state row, gathers
//! the guards' facts, checks them (`phase::check_move`) and bumps the epoch.
//! The row's trigger records the history and notifies listening instances.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use crate::error::ControlError;
use crate::phase::{check_move, GuardFacts, InstanceAck, Phase, Refusal};

/// The phase of one migrated table.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseState {
    pub table: String,
    pub phase: Phase,
    pub epoch: i64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub reason: Option<String>,
}

/// Whether the control schema exists in the connected database.
pub async fn control_schema_exists(client: &Client) -> Result<bool, ControlError> {
    Ok(client.query_one("SELECT to_regclass('switchyard.migration_state') IS NOT NULL", &[]).await?.get(0))
}

/// The current phase of `table`.
pub async fn current(client: &Client, table: &str) -> Result<PhaseState, ControlError> {
    if !control_schema_exists(client).await? {
        return Err(ControlError::NotMigrated);
    }
    let row = client
        .query_opt(
            "SELECT phase, epoch, updated_at, updated_by, reason FROM switchyard.migration_state WHERE table_name = $1",
            &[&table],
        )
        .await?
        .ok_or_else(|| ControlError::UnknownTable(table.to_string()))?;
    Ok(PhaseState {
        table: table.to_string(),
        phase: crate::phase::parse_phase(&row.get::<_, String>(0))?,
        epoch: row.get(1),
        updated_at: row.get(2),
        updated_by: row.get(3),
        reason: row.get(4),
    })
}

/// A requested phase change.
#[derive(Debug, Clone)]
pub struct MoveRequest {
    pub table: String,
    pub to: Phase,
    pub reason: String,
    /// Who asks (recorded as updated_by).
    pub actor: String,
    /// Skip forceable guards; what was skipped is written to the history.
    pub force: bool,
    pub confirm: bool,
    pub max_verify_age: Duration,
    /// Instances with an older heartbeat are not live.
    pub instance_liveness: Duration,
}

/// What a successful change did.
#[derive(Debug, Clone)]
pub struct MoveOutcome {
    pub from: Phase,
    pub to: Phase,
    pub epoch: i64,
    /// Guards skipped by `--force`.
    pub forced: Vec<Refusal>,
}

/// Moves `req.table` to `req.to` if the guards allow it.
pub async fn move_phase(client: &mut Client, req: &MoveRequest) -> Result<MoveOutcome, ControlError> {
    if !control_schema_exists(client).await? {
        return Err(ControlError::NotMigrated);
    }
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT phase, epoch FROM switchyard.migration_state WHERE table_name = $1 FOR UPDATE",
            &[&req.table],
        )
        .await?
        .ok_or_else(|| ControlError::UnknownTable(req.table.clone()))?;
    let from: Phase = crate::phase::parse_phase(&row.get::<_, String>(0))?;
    let epoch: i64 = row.get(1);
    let facts = gather_facts(&tx, req, epoch).await?;
    let refusals = check_move(from, req.to, &facts);
    let (forced, blocking): (Vec<Refusal>, Vec<Refusal>) =
        refusals.into_iter().partition(|r| req.force && r.forceable());
    if !blocking.is_empty() {
        return Err(ControlError::Refused(blocking));
    }
    let mut reason = req.reason.clone();
    if !forced.is_empty() {
        let skipped: Vec<String> = forced.iter().map(|r| r.to_string()).collect();
        reason.push_str(&format!(" [forced past: {}]", skipped.join("; ")));
    }
    let new_epoch = epoch + 1;
    tx.execute(
        "UPDATE switchyard.migration_state SET phase = $2, epoch = $3, updated_at = now(), updated_by = $4, reason = $5
         WHERE table_name = $1",
        &[&req.table, &req.to.as_str(), &new_epoch, &req.actor, &reason],
    )
    .await?;
    if req.to == Phase::Legacy {
        // Writes are no longer mirrored: whatever the backfill did is stale,
        // and read_new must wait for a new backfill and verify.
        crate::store::backfill_progress::forget(&tx, &req.table).await?;
    }
    tx.commit().await?;
    Ok(MoveOutcome { from, to: req.to, epoch: new_epoch, forced })
}

async fn gather_facts(
    tx: &tokio_postgres::Transaction<'_>,
    req: &MoveRequest,
    epoch: i64,
) -> Result<GuardFacts, ControlError> {
    guard_facts(tx, &req.table, epoch, req.max_verify_age, req.instance_liveness, req.confirm).await
}

/// What the phase guards look at for `table` at `epoch` (read in the
/// changing transaction by [`move_phase`], outside one by `status`).
pub async fn guard_facts(
    client: &impl tokio_postgres::GenericClient,
    table: &str,
    epoch: i64,
    max_verify_age: Duration,
    instance_liveness: Duration,
    confirmed: bool,
) -> Result<GuardFacts, ControlError> {
    let backfill = crate::store::backfill_progress::completion(client, table).await?;
    let backfill_complete = backfill.as_ref().is_some_and(|b| b.completed);
    let backfill_finished: Option<DateTime<Utc>> = backfill.and_then(|b| b.finished_at);
    let clean_verify_age = if backfill_complete {
        crate::store::verify_runs::latest_clean(client, table, backfill_finished)
            .await?
            .and_then(|run| run.age_seconds)
            .map(|age| Duration::from_secs_f64(age.max(0.0)))
    } else {
        None
    };
    let live_instances = live_instances(client, instance_liveness).await?;
    Ok(GuardFacts { epoch, backfill_complete, clean_verify_age, max_verify_age, live_instances, confirmed })
}

/// Instances that have sent a heartbeat within `liveness`.
pub async fn live_instances(
    client: &impl tokio_postgres::GenericClient,
    liveness: Duration,
) -> Result<Vec<InstanceAck>, ControlError> {
    let rows = client
        .query(
            "SELECT instance_id, acknowledged_phase, acknowledged_epoch FROM switchyard.proxy_instances
             WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY instance_id",
            &[&liveness.as_secs_f64()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(InstanceAck {
                instance_id: r.get(0),
                phase: r.get::<_, Option<String>>(1).map(|p| crate::phase::parse_phase(&p)).transpose()?,
                epoch: r.get(2),
            })
        })
        .collect()
}

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
pub async fn history(client: &Client, table: &str, limit: i64) -> Result<Vec<HistoryEntry>, ControlError> {
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

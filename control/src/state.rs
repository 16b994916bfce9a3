//! Reading and changing a table's migration phase (`switchyard.migration_state`,
//! through [`crate::store::migration_state`]).
//!
//! A change runs in one transaction that locks the table's state row, gathers
//! the guards' facts, checks them (`phase::check_move`) and bumps the epoch.
//! The row's trigger records the history and notifies listening instances.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use crate::error::ControlError;
use crate::phase::{check_move, parse_phase, GuardFacts, InstanceAck, Phase, Refusal};
use crate::store::{backfill_progress, migration_state, proxy_instances, verify_runs};

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
    Ok(migration_state::exists(client).await?)
}

/// The current phase of `table`.
pub async fn current(client: &Client, table: &str) -> Result<PhaseState, ControlError> {
    if !control_schema_exists(client).await? {
        return Err(ControlError::NotMigrated);
    }
    let row =
        migration_state::read(client, table).await?.ok_or_else(|| ControlError::UnknownTable(table.to_string()))?;
    Ok(PhaseState {
        table: table.to_string(),
        phase: parse_phase(&row.phase)?,
        epoch: row.epoch,
        updated_at: row.updated_at,
        updated_by: row.updated_by,
        reason: row.reason,
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
    let (from, epoch) =
        migration_state::lock(&tx, &req.table).await?.ok_or_else(|| ControlError::UnknownTable(req.table.clone()))?;
    let from: Phase = parse_phase(&from)?;
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
    migration_state::set_phase(&tx, &req.table, req.to.as_str(), new_epoch, &req.actor, &reason).await?;
    if req.to == Phase::Legacy {
        // Writes are no longer mirrored: whatever the backfill did is stale,
        // and read_new must wait for a new backfill and verify.
        backfill_progress::forget(&tx, &req.table).await?;
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
    let backfill = backfill_progress::completion(client, table).await?;
    let backfill_complete = backfill.as_ref().is_some_and(|b| b.completed);
    let backfill_finished: Option<DateTime<Utc>> = backfill.and_then(|b| b.finished_at);
    let clean_verify_age = if backfill_complete {
        verify_runs::latest_clean(client, table, backfill_finished)
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
    proxy_instances::live(client, liveness)
        .await?
        .into_iter()
        .map(|r| {
            Ok(InstanceAck {
                instance_id: r.instance_id,
                phase: r.phase.as_deref().map(parse_phase).transpose()?,
                epoch: r.epoch,
            })
        })
        .collect()
}

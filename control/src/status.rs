//! Where a migration stands, gathered once into a typed [`Status`]: the
//! phase ladder, what the next step's guard still needs, the backfill's
//! progress, the last verify, the live instances and the epochs they
//! acknowledged, shadow-read mismatch samples and the phase history.
//!
//! `switchyard status` (text, JSON, `--watch`) and every proxy's status page
//! (`/status`, `/status.json`) render this one value; none of them queries
//! the control schema on its own.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::error::ControlError;
use crate::phase::{check_move, Phase};
use crate::state;
use crate::store::backfill_ranges::BackfillRange;
use crate::store::phase_history::{self, HistoryEntry};
use crate::store::shadow_mismatches::{self, MismatchSample};
use crate::store::{backfill_progress, backfill_ranges, proxy_instances, verify_runs};

/// How [`gather`] judges the guards and how much it reads.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// read_new needs a clean verify younger than this (`phase set`'s default).
    pub max_verify_age: Duration,
    /// Instances silent for longer than this are not live.
    pub instance_liveness: Duration,
    /// Phase changes shown, newest last.
    pub history: i64,
    /// Shadow mismatch samples shown, newest first.
    pub samples: i64,
}

impl Default for StatusOptions {
    fn default() -> Self {
        StatusOptions {
            max_verify_age: Duration::from_secs(3600),
            instance_liveness: Duration::from_secs(30),
            history: 20,
            samples: 5,
        }
    }
}

/// Everything the cockpit shows about one migrated table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub table: String,
    pub gathered_at: DateTime<Utc>,
    pub phase: Phase,
    pub epoch: i64,
    pub since: DateTime<Utc>,
    pub updated_by: String,
    pub reason: Option<String>,
    /// Every phase in order, and where the migration is on it.
    pub ladder: Vec<Rung>,
    /// The step forward and what its guard still needs; `None` in new_only.
    pub next: Option<NextStep>,
    pub backfill: Option<BackfillStatus>,
    pub last_verify: Option<VerifyStatus>,
    pub instances: Vec<InstanceStatus>,
    pub shadow: ShadowStatus,
    pub history: Vec<HistoryEntry>,
}

/// One phase on the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    pub phase: Phase,
    /// `done`, `current` or `ahead`.
    pub state: String,
}

/// The next phase forward and the guards that would refuse it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextStep {
    pub phase: Phase,
    /// Empty when `phase set` would be allowed now.
    pub blocked_by: Vec<String>,
}

/// The backfill's progress. The rate is the average since the backfill
/// started (`started_at` to its last batch), so a paused or resumed run
/// shows a lower rate than its batches achieve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillStatus {
    pub rows_copied: i64,
    pub batches: i64,
    /// The planner's estimate of the legacy table's rows (0 before the
    /// table was first analyzed).
    pub legacy_rows_estimate: i64,
    /// 0..=100; 100 once completed.
    pub percent: f64,
    pub rows_per_sec: Option<f64>,
    /// Seconds left at `rows_per_sec`; `None` when complete or unknown.
    pub eta_secs: Option<f64>,
    pub completed: bool,
    pub paused: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Key ranges of a `backfill --jobs N` run (one for a single job).
    pub ranges: Vec<BackfillRange>,
}

/// The newest verify run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyStatus {
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds since it finished (or started, while it runs).
    pub age_secs: f64,
    /// `None` while it runs or when it could not run.
    pub clean: Option<bool>,
    pub differences: Option<i64>,
}

impl VerifyStatus {
    /// `clean`, `N differences`, `running` or `could not run`.
    pub fn result(&self) -> String {
        match (self.clean, self.finished_at) {
            (Some(true), _) => "clean".into(),
            (Some(false), _) => format!("{} differences", self.differences.unwrap_or(0)),
            (None, None) => "running".into(),
            (None, Some(_)) => "could not run".into(),
        }
    }
}

/// A registered proxy instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub instance_id: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_age_secs: f64,
    /// Its heartbeat is within the liveness window (the guards count it).
    pub live: bool,
    pub acknowledged_phase: Option<String>,
    pub acknowledged_epoch: Option<i64>,
    /// It acknowledged the current epoch.
    pub current: bool,
}

/// Shadow reads: outcomes by kind as counted by one proxy (its own page
/// fills them in; `None` from the CLI, which sees no proxy's counters), and
/// the mismatch samples every instance records in the control schema.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShadowStatus {
    pub outcomes: Option<Vec<Count>>,
    pub skipped: Option<Vec<Count>>,
    /// Samples kept in `switchyard.shadow_mismatches` (the newest 1000).
    pub recorded_mismatches: i64,
    pub samples: Vec<MismatchSample>,
}

/// A labelled count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub kind: String,
    pub count: u64,
}

/// Reads where `table`'s migration stands.
pub async fn gather(client: &Client, table: &str, opts: &StatusOptions) -> Result<Status, ControlError> {
    let s = state::current(client, table).await?;
    let next = match Phase::ALL.iter().position(|p| *p == s.phase).and_then(|i| Phase::ALL.get(i + 1)) {
        Some(&to) => {
            let facts =
                state::guard_facts(client, table, s.epoch, opts.max_verify_age, opts.instance_liveness, false).await?;
            let blocked_by = check_move(s.phase, to, &facts).iter().map(|r| r.to_string()).collect();
            Some(NextStep { phase: to, blocked_by })
        }
        None => None,
    };
    let history = phase_history::newest(client, table, opts.history).await?;
    Ok(Status {
        ladder: ladder(s.phase),
        next,
        backfill: backfill(client, table).await?,
        last_verify: last_verify(client, table).await?,
        instances: instances(client, s.epoch, opts.instance_liveness).await?,
        shadow: shadow(client, table, opts.samples).await?,
        history,
        table: s.table,
        gathered_at: Utc::now(),
        phase: s.phase,
        epoch: s.epoch,
        since: s.updated_at,
        updated_by: s.updated_by,
        reason: s.reason,
    })
}

/// The ladder with `current` marked.
pub fn ladder(current: Phase) -> Vec<Rung> {
    let at = Phase::ALL.iter().position(|p| *p == current).unwrap_or(0);
    Phase::ALL
        .iter()
        .enumerate()
        .map(|(i, &phase)| {
            let state = match i.cmp(&at) {
                std::cmp::Ordering::Less => "done",
                std::cmp::Ordering::Equal => "current",
                std::cmp::Ordering::Greater => "ahead",
            };
            Rung { phase, state: state.into() }
        })
        .collect()
}

async fn backfill(client: &Client, table: &str) -> Result<Option<BackfillStatus>, ControlError> {
    let Some(row) = backfill_progress::summary(client, table).await? else {
        return Ok(None);
    };
    let (rows_copied, completed) = (row.rows_copied, row.completed);
    let estimate = row.legacy_rows_estimate;
    let elapsed = row.elapsed_seconds;
    let ranges = backfill_ranges::progress(client, table).await?;
    Ok(Some(BackfillStatus {
        rows_copied,
        batches: row.batches,
        legacy_rows_estimate: estimate,
        percent: percent(rows_copied, estimate, completed),
        rows_per_sec: (elapsed > 0.0 && rows_copied > 0).then(|| rows_copied as f64 / elapsed),
        eta_secs: eta(rows_copied, estimate, completed, elapsed),
        completed,
        paused: row.paused,
        started_at: row.started_at,
        finished_at: row.finished_at,
        ranges,
    }))
}

/// How far the copy is, 0..=100 (the estimate can lag the real row count).
pub fn percent(copied: i64, estimate: i64, completed: bool) -> f64 {
    if completed {
        return 100.0;
    }
    if estimate <= 0 {
        return 0.0;
    }
    (100.0 * copied as f64 / estimate as f64).clamp(0.0, 99.9)
}

/// Seconds left at the average rate so far.
pub fn eta(copied: i64, estimate: i64, completed: bool, elapsed_secs: f64) -> Option<f64> {
    if completed || copied <= 0 || elapsed_secs <= 0.0 {
        return None;
    }
    let rate = copied as f64 / elapsed_secs;
    Some((estimate - copied).max(0) as f64 / rate)
}

async fn last_verify(client: &Client, table: &str) -> Result<Option<VerifyStatus>, ControlError> {
    let run = verify_runs::newest(client, table).await?;
    Ok(run.map(|r| VerifyStatus {
        started_at: r.started_at,
        finished_at: r.finished_at,
        clean: r.clean,
        differences: r.differences,
        age_secs: r.age_seconds.max(0.0),
    }))
}

async fn instances(client: &Client, epoch: i64, liveness: Duration) -> Result<Vec<InstanceStatus>, ControlError> {
    let rows = proxy_instances::list(client).await?;
    Ok(rows
        .into_iter()
        .map(|i| InstanceStatus {
            live: i.heartbeat_age_secs <= liveness.as_secs_f64(),
            current: i.acknowledged_epoch == Some(epoch),
            instance_id: i.instance_id,
            host: i.host,
            started_at: i.started_at,
            heartbeat_age_secs: i.heartbeat_age_secs,
            acknowledged_phase: i.acknowledged_phase,
            acknowledged_epoch: i.acknowledged_epoch,
        })
        .collect())
}

async fn shadow(client: &Client, table: &str, samples: i64) -> Result<ShadowStatus, ControlError> {
    let recorded = shadow_mismatches::count(client, table).await?;
    let samples = shadow_mismatches::newest(client, table, samples).await?;
    Ok(ShadowStatus { outcomes: None, skipped: None, recorded_mismatches: recorded, samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_marks_done_current_and_ahead() {
        let states: Vec<String> = ladder(Phase::ReadNew).into_iter().map(|r| r.state).collect();
        assert_eq!(states, ["done", "done", "current", "ahead", "ahead"]);
    }

    #[test]
    fn percent_and_eta_follow_the_estimate_until_complete() {
        assert_eq!(percent(50, 200, false), 25.0);
        assert_eq!(percent(300, 200, false), 99.9, "an old estimate never shows 100 before completion");
        assert_eq!(percent(10, 0, true), 100.0);
        assert_eq!(eta(50, 200, false, 10.0), Some(30.0));
        assert_eq!(eta(50, 200, true, 10.0), None);
        assert_eq!(eta(0, 200, false, 10.0), None);
    }
}

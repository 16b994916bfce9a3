//! The backfill: copies existing legacy rows into the new schema beside live
//! traffic (docs/runbook.md, 2.3; docs/invariants.md, I1 and I2).
//!
//! Keyset batches over the legacy primary key. Each batch is one transaction:
//! lock the batch's legacy rows `FOR SHARE` (a concurrent update of them
//! waits, then mirrors its newer image after ours), upsert them through the
//! same mirror function the proxy uses, and record the checkpoint. So a kill
//! loses at most the batch in flight, a rerun redoes nothing twice, and the
//! copy never overwrites a newer image with an older one.
//!
//! It terminates under any insert rate: rows inserted while it runs are
//! mirrored by the proxy (the phase is dual_write or later), so the backfill
//! only has to reach the end of the key range as it stood, not chase it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::error::ControlError;
use crate::phase::Phase;
use crate::state;
use crate::store::{backfill_progress, backfill_ranges};
pub use ranges::split_key_space;
use ranges::{key_ranges, KeyRange};

mod ranges;

/// One runner at a time per database, across machines.
const ADVISORY_LOCK_KEY: i64 = 0x5357_4246_494c; // "SWBFIL"

/// How the backfill runs.
#[derive(Debug, Clone)]
pub struct BackfillConfig {
    pub table: String,
    /// Rows per batch to start with.
    pub batch_size: i64,
    /// Adapt the batch size so a batch takes about this long.
    pub max_batch: Option<Duration>,
    /// Pause between batches (throttle).
    pub sleep: Duration,
    /// `lock_timeout` for a batch; a timeout is retried with jitter.
    pub lock_timeout: Duration,
    /// Pause while any replica lags more than this.
    pub max_replica_lag: Option<Duration>,
    /// Forget the checkpoint and start over.
    pub restart: bool,
    /// Start even though a live proxy instance has not acknowledged a
    /// mirroring phase (its writes would not reach the new schema).
    pub ignore_instances: bool,
    pub instance_liveness: Duration,
    /// Key ranges copied side by side, each job on its own connection
    /// (opened from `database_url`). Fixed when a backfill starts; a resumed
    /// run works through the ranges that are left.
    pub jobs: usize,
    pub database_url: Option<String>,
}

impl Default for BackfillConfig {
    fn default() -> Self {
        BackfillConfig {
            table: "todos".into(),
            batch_size: 5000,
            max_batch: Some(Duration::from_millis(500)),
            sleep: Duration::ZERO,
            lock_timeout: Duration::from_millis(500),
            max_replica_lag: None,
            restart: false,
            ignore_instances: false,
            instance_liveness: Duration::from_secs(30),
            jobs: 1,
            database_url: None,
        }
    }
}

/// Where the backfill stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub rows_copied: i64,
    pub batches: i64,
    pub last_key: Option<Uuid>,
    pub completed: bool,
    /// Legacy rows when the run started (for an ETA).
    pub total_estimate: i64,
    pub batch_size: i64,
    pub paused: bool,
    pub lock_retries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("another backfill is running: {0}")]
    AlreadyRunning(String),
    #[error(
        "the phase is {0}; the backfill needs dual_write, read_new or write_new so that concurrent writes are mirrored"
    )]
    WrongPhase(Phase),
    #[error("live proxy instances have not acknowledged a mirroring phase yet, so their writes would be missed: {0} (wait for them, or pass --ignore-instances)")]
    InstancesLagging(String),
    #[error("--jobs above 1 needs a database URL to open connections")]
    JobsNeedUrl,
    /// A worker task panicked or was cancelled.
    #[error("a backfill job failed: {0}")]
    JobFailed(#[source] tokio::task::JoinError),
    /// A worker panicked while holding the queue of key ranges.
    #[error("the backfill's queue of key ranges was poisoned by a panicking job")]
    QueuePoisoned,
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl From<tokio_postgres::Error> for BackfillError {
    fn from(e: tokio_postgres::Error) -> Self {
        BackfillError::Control(e.into())
    }
}

/// Runs the backfill to completion on `client` (a dedicated connection: it
/// holds the advisory lock). `report` is called after every batch and pause.
pub async fn run(
    client: &mut Client,
    cfg: &BackfillConfig,
    mut report: impl FnMut(&Progress),
) -> Result<Progress, BackfillError> {
    let locked: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&ADVISORY_LOCK_KEY]).await?.get(0);
    if !locked {
        return Err(BackfillError::AlreadyRunning(lock_holder(client).await?));
    }
    let result = run_locked(client, cfg, &mut report).await;
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&ADVISORY_LOCK_KEY]).await;
    result
}

async fn lock_holder(client: &Client) -> Result<String, BackfillError> {
    let rows = client
        .query(
            "SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), coalesce(host(a.client_addr), 'local'), a.backend_start::text
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND ((l.classid::int8 << 32) | l.objid::int8) = $1
             ORDER BY a.backend_start LIMIT 1",
            &[&ADVISORY_LOCK_KEY],
        )
        .await?;
    Ok(match rows.first() {
        Some(r) => format!(
            "backend pid {} ({}) from {} since {}",
            r.get::<_, i32>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, String>(3)
        ),
        None => "a session that has since ended; try again".into(),
    })
}

async fn run_locked(
    client: &mut Client,
    cfg: &BackfillConfig,
    report: &mut impl FnMut(&Progress),
) -> Result<Progress, BackfillError> {
    check_preconditions(client, cfg).await?;
    // Batches are short generic plans; JIT compiling them costs more than
    // running them.
    client.batch_execute("SET jit = off").await?;
    if cfg.restart {
        backfill_progress::forget(client, &cfg.table).await?;
    }
    let checkpoint = backfill_progress::start(client, &cfg.table).await?;
    let mut p = Progress {
        last_key: checkpoint.last_key,
        rows_copied: checkpoint.rows_copied,
        batches: checkpoint.batches,
        completed: checkpoint.completed,
        batch_size: cfg.batch_size.max(1),
        ..Progress::default()
    };
    p.total_estimate = client.query_one("SELECT count(*) FROM todos", &[]).await?.get(0);
    if p.completed {
        report(&p);
        return Ok(p);
    }
    let ranges = key_ranges(client, cfg, p.last_key).await?;
    if p.rows_copied > 0 {
        tracing::info!(rows = p.rows_copied, ranges = ranges.len(), "resuming the backfill from its checkpoints");
    }
    let jobs = cfg.jobs.clamp(1, ranges.len().max(1));
    let queue = Arc::new(Mutex::new(VecDeque::from(ranges)));
    if jobs == 1 {
        copy_ranges(client, cfg, &queue, &mut |e| p.apply(e, report)).await?;
    } else {
        copy_in_parallel(cfg, jobs, &queue, &mut p, report).await?;
    }
    complete(client, cfg, &mut p, report).await?;
    Ok(p)
}

/// The backfill runs only while writes are mirrored legacy -> new, and only
/// once every live proxy instance has acknowledged such a phase.
async fn check_preconditions(client: &Client, cfg: &BackfillConfig) -> Result<(), BackfillError> {
    let phase = state::current(client, &cfg.table).await?.phase;
    if !phase.writes_both() {
        return Err(BackfillError::WrongPhase(phase));
    }
    if !cfg.ignore_instances {
        let lagging: Vec<String> = state::live_instances(client, cfg.instance_liveness)
            .await?
            .into_iter()
            .filter(|i| matches!(i.phase, None | Some(Phase::Legacy)))
            .map(|i| i.instance_id)
            .collect();
        if !lagging.is_empty() {
            return Err(BackfillError::InstancesLagging(lagging.join(", ")));
        }
    }
    Ok(())
}

/// `jobs` workers, each on its own connection, take key ranges from `queue`
/// until it is empty; their events are applied to `p` as they come.
async fn copy_in_parallel(
    cfg: &BackfillConfig,
    jobs: usize,
    queue: &Arc<Mutex<VecDeque<KeyRange>>>,
    p: &mut Progress,
    report: &mut impl FnMut(&Progress),
) -> Result<(), BackfillError> {
    let url = cfg.database_url.as_deref().ok_or(BackfillError::JobsNeedUrl)?;
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let mut workers = tokio::task::JoinSet::new();
    for job in 0..jobs {
        let (mut worker, connection) = switchyard_pgconn::connect_raw(url).await.map_err(ControlError::from)?;
        tokio::spawn(connection);
        worker
            .batch_execute(&format!(
                "SET jit = off; SET application_name = 'switchyard backfill pid {} job {job}'",
                std::process::id()
            ))
            .await?;
        let (cfg, queue, events) = (cfg.clone(), Arc::clone(queue), events.clone());
        workers.spawn(async move {
            copy_ranges(&mut worker, &cfg, &queue, &mut |e| {
                let _ = events.send(e);
            })
            .await
        });
    }
    drop(events);
    loop {
        tokio::select! {
            Some(e) = received.recv() => p.apply(e, report),
            finished = workers.join_next() => match finished {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) => {
                    return Err(BackfillError::JobFailed(e))
                }
            },
        }
    }
    while let Ok(e) = received.try_recv() {
        p.apply(e, report);
    }
    Ok(())
}

/// Repairs the depths left stale by re-parenting during the copy and marks
/// the backfill complete, in one transaction.
async fn complete(
    client: &mut Client,
    cfg: &BackfillConfig,
    p: &mut Progress,
    report: &mut impl FnMut(&Progress),
) -> Result<(), BackfillError> {
    let tx = client.transaction().await?;
    // Depths left stale by re-parenting while rows were still missing, fixed
    // now that every row is present (migration 0013).
    let repaired: i64 = tx.query_one("SELECT switchyard.repair_depths()", &[]).await?.get(0);
    if repaired > 0 {
        tracing::info!(repaired, "depth recomputed below todos re-parented during the backfill");
    }
    backfill_progress::complete(&tx, &cfg.table).await?;
    tx.commit().await?;
    p.completed = true;
    report(p);
    tracing::info!(rows = p.rows_copied, batches = p.batches, "backfill complete");
    Ok(())
}

/// What a job reports to the run.
enum Event {
    Batch { rows: i64, last_key: Uuid, batch_size: i64 },
    Paused,
    LockRetry,
}

impl Progress {
    fn apply(&mut self, event: Event, report: &mut impl FnMut(&Progress)) {
        match event {
            Event::Batch { rows, last_key, batch_size } => {
                self.rows_copied += rows;
                self.batches += 1;
                self.last_key = Some(last_key);
                self.batch_size = batch_size;
                self.paused = false;
            }
            Event::Paused if self.paused => return,
            Event::Paused => self.paused = true,
            Event::LockRetry => {
                self.lock_retries += 1;
                return;
            }
        }
        report(self);
    }
}

/// Copies ranges taken from `queue` until it is empty, batch by batch, each
/// batch one transaction with its checkpoint.
async fn copy_ranges(
    client: &mut Client,
    cfg: &BackfillConfig,
    queue: &Mutex<VecDeque<KeyRange>>,
    emit: &mut impl FnMut(Event),
) -> Result<(), BackfillError> {
    let copy_batch = client.prepare("SELECT copied, last_id FROM switchyard.backfill_todos($1, $2, $3)").await?;
    let mut rng_state: u64 = std::process::id() as u64 | 1;
    let mut batch_size = cfg.batch_size.max(1);
    loop {
        let next = queue.lock().map_err(|_| BackfillError::QueuePoisoned)?.pop_front();
        let Some(mut range) = next else { return Ok(()) };
        loop {
            if paused(client, &cfg.table).await? || replica_lagging(client, cfg.max_replica_lag).await? {
                emit(Event::Paused);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            let started = Instant::now();
            let tx = client.transaction().await?;
            tx.batch_execute(&format!("SET LOCAL lock_timeout = '{}ms'", cfg.lock_timeout.as_millis().max(1))).await?;
            let size = i32::try_from(batch_size).unwrap_or(i32::MAX);
            let batch = match tx.query_one(&copy_batch, &[&range.cursor, &range.upto, &size]).await {
                Ok(row) => row,
                Err(e)
                    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                        || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) =>
                {
                    drop(tx);
                    emit(Event::LockRetry);
                    metrics::counter!("switchyard_backfill_lock_retries_total").increment(1);
                    rng_state ^= rng_state << 13;
                    rng_state ^= rng_state >> 7;
                    rng_state ^= rng_state << 17;
                    let jitter = Duration::from_millis(20 + rng_state % 200);
                    tracing::debug!(retry_in = ?jitter, "backfill batch hit lock_timeout; retrying");
                    tokio::time::sleep(jitter).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let n: i64 = batch.get(0);
            if n == 0 {
                backfill_ranges::finish(&tx, &cfg.table, range.no).await?;
                tx.commit().await?;
                break;
            }
            let last: Uuid = batch.get(1);
            backfill_ranges::advance(&tx, &cfg.table, range.no, last, n).await?;
            backfill_progress::advance(&tx, &cfg.table, last, n).await?;
            tx.commit().await?;
            range.cursor = last;
            metrics::counter!("switchyard_backfill_rows_total").increment(n as u64);
            emit(Event::Batch { rows: n, last_key: last, batch_size });
            if let Some(target) = cfg.max_batch {
                batch_size = adapt_batch_size(batch_size, started.elapsed(), target);
            }
            if !cfg.sleep.is_zero() {
                tokio::time::sleep(cfg.sleep).await;
            }
        }
    }
}

/// Scales the batch toward `target` by the time the last one took (at most
/// halving or doubling it per batch, so one slow batch does not swing it);
/// between 10 and 50,000 rows.
pub fn adapt_batch_size(current: i64, took: Duration, target: Duration) -> i64 {
    let ratio = target.as_secs_f64() / took.as_secs_f64().max(1e-3);
    let next = (current as f64 * ratio.clamp(0.5, 2.0)) as i64;
    next.clamp(10, 50_000)
}

async fn paused(client: &Client, table: &str) -> Result<bool, BackfillError> {
    Ok(backfill_progress::paused(client, table).await?)
}

async fn replica_lagging(client: &Client, max: Option<Duration>) -> Result<bool, BackfillError> {
    let Some(max) = max else { return Ok(false) };
    let lag: Option<f64> = client
        .query_one("SELECT max(extract(epoch FROM greatest(write_lag, flush_lag, replay_lag)))::float8 FROM pg_stat_replication", &[])
        .await?
        .get(0);
    Ok(lag.is_some_and(|l| l > max.as_secs_f64()))
}

/// Sets or clears the pause flag the running backfill checks before every batch.
pub async fn set_paused(client: &Client, table: &str, paused: bool) -> Result<bool, BackfillError> {
    Ok(backfill_progress::set_paused(client, table, paused).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_space_splits_into_contiguous_ranges() {
        assert_eq!(split_key_space(1), vec![(Uuid::nil(), Uuid::max())]);
        let four = split_key_space(4);
        assert_eq!(four.len(), 4);
        assert_eq!(four[0].0, Uuid::nil());
        assert_eq!(four[3].1, Uuid::max());
        for w in four.windows(2) {
            assert_eq!(w[0].1, w[1].0, "each range starts where the last one ended");
            assert!(w[0].0 < w[0].1);
        }
        assert_eq!(four[2].0.to_string(), "7fffffff-ffff-ffff-ffff-fffffffffffe");
    }

    #[test]
    fn batch_size_adapts_toward_the_target_time() {
        let target = Duration::from_millis(500);
        let next = |current, took_ms| adapt_batch_size(current, Duration::from_millis(took_ms), target);
        assert_eq!(next(1000, 2000), 500, "at most halved");
        assert_eq!(next(1000, 625), 800);
        assert_eq!(next(1000, 400), 1250);
        assert_eq!(next(1000, 100), 2000, "at most doubled");
        assert_eq!(next(12, 5000), 10);
        assert_eq!(next(40_000, 0), 50_000);
    }
}

//! Keeps a proxy instance's view of the phase current.
//!
//! A background task LISTENs on `switchyard_migration_state` (the state row's
//! trigger notifies on every change) and polls as a fallback, publishing the
//! phase on a `watch` channel that sessions read when a transaction starts:
//! a borrow, no I/O on the client's path. After publishing, it acknowledges
//! the epoch in `proxy_instances`, so `phase set new_only` can tell that every
//! instance has moved. With no control schema yet it publishes `legacy`
//! (plain passthrough) and keeps looking.
//!
//! The channel holds `None` until the phase has been read, and again once
//! the last read is older than [`WatcherConfig::trust`]: a flip may have
//! happened unseen, and the guards that wait for instances stop waiting for
//! one whose heartbeat is old (docs/architecture.md, "Not knowing the phase").

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_postgres::AsyncMessage;

use crate::error::ControlError;
use crate::phase::Phase;
use crate::state;
use crate::store::proxy_instances::{self, Registration};

/// The phase a session uses for a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSnapshot {
    pub phase: Phase,
    pub epoch: i64,
    /// False while the database has no control schema (then legacy).
    pub from_database: bool,
}

impl Default for PhaseSnapshot {
    fn default() -> Self {
        PhaseSnapshot { phase: Phase::Legacy, epoch: 0, from_database: false }
    }
}

/// Maps the phase the watcher published to the one this instance can vouch
/// for: a proxy answers with the oldest phase a transaction still runs under.
pub type Acknowledge = Arc<dyn Fn(PhaseSnapshot) -> PhaseSnapshot + Send + Sync>;

/// How the watcher behaves.
#[derive(Clone)]
pub struct WatcherConfig {
    pub database_url: String,
    pub table: String,
    pub registration: Registration,
    /// Poll even without notifications (a lost NOTIFY only delays a flip).
    pub poll_interval: Duration,
    pub heartbeat_interval: Duration,
    /// What to acknowledge; `None` acknowledges what was published.
    pub acknowledge: Option<Acknowledge>,
    /// Notified when what `acknowledge` answers may have changed (the last
    /// transaction of an older phase ended): acknowledged then, not at the
    /// next heartbeat.
    pub acknowledgment_changed: Option<Arc<tokio::sync::Notify>>,
    /// How long a phase read stays good without a fresh read; keep it well
    /// below the liveness window `phase set` and the backfill count
    /// instances in (their heartbeats stop with the reads).
    pub trust: Duration,
}

impl WatcherConfig {
    fn acknowledged(&self, published: PhaseSnapshot) -> PhaseSnapshot {
        match &self.acknowledge {
            Some(f) => f(published),
            None => published,
        }
    }
}

/// The watcher's channel: the latest phase, `None` while it is not known.
pub type PhaseReceiver = watch::Receiver<Option<PhaseSnapshot>>;
type PhaseSender = watch::Sender<Option<PhaseSnapshot>>;

/// Starts the watcher; the receiver holds the latest phase once read.
pub fn spawn(config: WatcherConfig) -> (PhaseReceiver, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(None);
    let handle = tokio::spawn(async move {
        let mut backoff = Backoff::default();
        let mut warned_missing = false;
        let fresh = Freshness::new(config.trust);
        loop {
            let mut connected = false;
            let session = watch_once(&config, &tx, &fresh, &mut warned_missing, &mut connected);
            match fresh.expire_during(&tx, session).await {
                Ok(()) => return, // every receiver is gone
                Err(e) => {
                    let phase = tx.borrow().map_or("not known".to_string(), |s| s.phase.to_string());
                    tracing::warn!(error = %e, "phase watcher lost its connection; phase {phase}, retrying");
                    let pause = backoff.after_failure(connected);
                    fresh.expire_during(&tx, tokio::time::sleep(pause)).await;
                }
            }
        }
    });
    (rx, handle)
}

/// When the phase was last read, and how long that read is trusted.
struct Freshness {
    trust: Duration,
    read_at: Mutex<Option<Instant>>,
}

impl Freshness {
    fn new(trust: Duration) -> Freshness {
        Freshness { trust, read_at: Mutex::new(None) }
    }

    fn mark_read(&self) {
        if let Ok(mut r) = self.read_at.lock() {
            *r = Some(Instant::now());
        }
    }

    fn expires_at(&self) -> Option<Instant> {
        self.read_at.lock().ok().and_then(|r| *r).map(|at| at + self.trust)
    }

    /// Runs `work`, withdrawing the published phase (`None`) if the last
    /// read grows older than the trust meanwhile.
    async fn expire_during<F: Future>(&self, tx: &PhaseSender, work: F) -> F::Output {
        tokio::pin!(work);
        loop {
            // Nothing to withdraw yet: look again after a trust period (a
            // read may have been published meanwhile).
            let deadline = self.expires_at().filter(|_| tx.borrow().is_some());
            let expiry = tokio::time::sleep_until(deadline.unwrap_or_else(|| Instant::now() + self.trust));
            tokio::select! {
                out = &mut work => return out,
                () = expiry => {
                    if self.expires_at().is_some_and(|at| at <= Instant::now()) {
                        tracing::warn!(trust = ?self.trust, "the phase has not been read for longer than it is trusted: statements touching the table wait until it is read again");
                        tx.send_replace(None);
                    }
                }
            }
        }
    }
}

/// How long to wait before reconnecting: doubling while connecting fails,
/// back to the start once a connection has worked, so a watcher that lost a
/// healthy connection reconnects at once rather than after the cap.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(5);

    /// The pause after a failure; `connected` says whether the connection
    /// that failed had been established.
    fn after_failure(&mut self, connected: bool) -> Duration {
        if connected {
            self.next = Self::FIRST;
        }
        let pause = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::FIRST }
    }
}

/// One connection's lifetime: LISTEN, then refresh on notifications and
/// ticks. Sets `connected` once the connection is up (LISTEN done).
async fn watch_once(
    config: &WatcherConfig,
    tx: &PhaseSender,
    fresh: &Freshness,
    warned_missing: &mut bool,
    connected: &mut bool,
) -> Result<(), ControlError> {
    let (client, mut connection) = switchyard_pgconn::connect_raw(&config.database_url).await?;
    let (notify_tx, mut notify_rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if notify_tx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "phase watcher connection failed");
                    break;
                }
            }
        }
    });
    let _abort_driver = AbortOnDrop(driver);
    client.batch_execute("LISTEN switchyard_migration_state").await?;
    *connected = true;
    let mut registered = false;
    // What this connection last wrote to proxy_instances.
    let mut acknowledged: Option<PhaseSnapshot> = None;
    let mut poll = tokio::time::interval(config.poll_interval);
    let mut beat = tokio::time::interval(config.heartbeat_interval);
    loop {
        tokio::select! {
            _ = tx.closed() => {
                if registered {
                    let _ = proxy_instances::deregister(&client, &config.registration.instance_id).await;
                }
                return Ok(());
            }
            n = notify_rx.recv() => {
                if n.is_none() {
                    return Err(ControlError::ListenClosed);
                }
                refresh(&client, config, tx, fresh, warned_missing, &mut registered, &mut acknowledged).await?;
            }
            _ = poll.tick() => refresh(&client, config, tx, fresh, warned_missing, &mut registered, &mut acknowledged).await?,
            _ = beat.tick() => {
                if registered {
                    acknowledge(&client, config, tx, &mut acknowledged, true).await?;
                }
            }
            () = notified(config.acknowledgment_changed.as_deref()) => {
                if registered {
                    acknowledge(&client, config, tx, &mut acknowledged, false).await?;
                }
            }
        }
    }
}

/// Writes what the instance acknowledges for the published phase, with a
/// heartbeat: always on a `beat`, else only when it changed since the last
/// write (`acknowledged`).
async fn acknowledge(
    client: &tokio_postgres::Client,
    config: &WatcherConfig,
    tx: &PhaseSender,
    acknowledged: &mut Option<PhaseSnapshot>,
    beat: bool,
) -> Result<(), ControlError> {
    let published = *tx.borrow();
    let Some(s) = published.map(|p| config.acknowledged(p)) else {
        return Ok(());
    };
    if beat || *acknowledged != Some(s) {
        proxy_instances::heartbeat(client, &config.registration, s.phase, s.epoch).await?;
        *acknowledged = Some(s);
    }
    Ok(())
}

/// Waits for `n`, or forever without one.
async fn notified(n: Option<&tokio::sync::Notify>) {
    match n {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

async fn refresh(
    client: &tokio_postgres::Client,
    config: &WatcherConfig,
    tx: &PhaseSender,
    fresh: &Freshness,
    warned_missing: &mut bool,
    registered: &mut bool,
    acknowledged: &mut Option<PhaseSnapshot>,
) -> Result<(), ControlError> {
    match state::current(client, &config.table).await {
        Ok(s) => {
            let snapshot = PhaseSnapshot { phase: s.phase, epoch: s.epoch, from_database: true };
            fresh.mark_read();
            let changed = *tx.borrow() != Some(snapshot);
            if changed {
                tracing::info!(phase = %s.phase, epoch = s.epoch, table = %config.table, "phase now in effect for new transactions");
                tx.send_replace(Some(snapshot));
            }
            let first = !*registered;
            if first {
                proxy_instances::register(client, &config.registration).await?;
                *registered = true;
            }
            if changed || first {
                acknowledge(client, config, tx, acknowledged, true).await?;
            }
            Ok(())
        }
        Err(ControlError::NotMigrated) | Err(ControlError::UnknownTable(_)) => {
            fresh.mark_read();
            if tx.borrow().is_none() {
                tx.send_replace(Some(PhaseSnapshot::default()));
            }
            if !*warned_missing {
                tracing::info!("no Switchyard control schema in the database yet: running in legacy (passthrough); run `switchyard migrate` to begin");
                *warned_missing = true;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reconnect_backoff_doubles_to_its_cap_and_restarts_after_a_working_connection() {
        let mut b = Backoff::default();
        let failing: Vec<u128> = (0..7).map(|_| b.after_failure(false).as_millis()).collect();
        assert_eq!(failing, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(b.after_failure(true), Backoff::FIRST, "a connection that worked resets the backoff");
        assert_eq!(b.after_failure(false).as_millis(), 400);
    }
}

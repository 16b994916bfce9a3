//! The legacy TodoList app's workload, for tests, the demo and benchmarks.
//!
//! # Brief overview
//!
//! A run opens `clients` connections to a database or to a proxy in front of
//! it, and each acts like the app's service layer (the scaling guide's
//! Phase 4): it creates todos (sometimes with 2–4 AI-generated subtasks in one transaction),
//! lists a user's todos with filters, ordering and pagination, changes
//! statuses, completes, edits, deletes (subtasks cascade through the legacy
//! foreign key) and walks hierarchies with a recursive CTE. Every operation
//! goes over either the extended protocol (statements prepared once per
//! connection) or the simple protocol (values inlined as quoted literals,
//! sometimes a whole transaction in one Query message). Only the legacy
//! tables are named: the workload is the legacy app.
//!
//! Each client works on its own share of the existing users (it creates
//! users when there are fewer than clients) and on the todos it created or
//! found, so the writes to one todo come from one client in order. That
//! makes the [`Ledger`] of acknowledged writes exact, and
//! [`Ledger::check`] can tell whether a database holds exactly what was
//! acknowledged: no lost write, no phantom.
//!
//! The report ([`WorkloadReport`]) has ops/s and latency percentiles per
//! operation and in total, errors with their first messages, statements per
//! protocol, and per-phase counts when the caller marks phase boundaries.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use switchyard_workload::{start, Schema, WorkloadConfig};
//!
//! let handle = start(WorkloadConfig::new(url, 16)).await?;
//! tokio::time::sleep(Duration::from_secs(5)).await;
//! let mark = handle.mark("dual_write"); // then flip the phase
//! tokio::time::sleep(Duration::from_secs(5)).await;
//! assert_eq!(handle.errors_since(&mark), 0);
//! let report = handle.stop_and_wait().await?;
//! println!("{}", report.render_text()); // report.phases: "start", "dual_write"
//! let (direct, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
//! tokio::spawn(conn);
//! assert!(report.ledger.check(&direct, Schema::Legacy).await?.is_clean());
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod gen;
mod ledger;
mod op;
mod report;
mod session;
pub mod soak;
mod sql;
mod stats;
mod stmt;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use uuid::Uuid;

pub use config::{Mix, WorkloadConfig};
pub use error::WorkloadError;
pub use ledger::{Entry, Expect, Ledger, LedgerCheck, LedgerSummary, Mismatch, Schema, Status};
pub use op::{Op, Protocol};
pub use report::{Latency, OpSummary, PhaseSummary, ProtocolCounts, WorkloadReport};
pub use stats::{ErrorSample, LiveCounters, Snapshot};
use switchyard_pgconn::describe_pg_error;
pub use tokio_util::sync::CancellationToken;

use client::{Client, ClientSetup, User};
use report::{Mark, Parts};
use stats::ClientStats;

/// At most this many existing users are read at start and shared out.
const MAX_USERS: i64 = 10_000;

/// Runs a workload for `config.duration` (which must be set) and reports.
pub async fn run(config: WorkloadConfig) -> Result<WorkloadReport, WorkloadError> {
    if config.duration.is_none() {
        return Err(WorkloadError::Config("run needs a duration; use run_until or start to stop it yourself".into()));
    }
    start(config).await?.wait().await
}

/// Runs a workload until `stop` is cancelled (or `config.duration` ends,
/// when set) and reports.
pub async fn run_until(config: WorkloadConfig, stop: CancellationToken) -> Result<WorkloadReport, WorkloadError> {
    start_with(config, stop).await?.wait().await
}

/// Starts a workload in the background and returns its handle: mark phases,
/// snapshot the counters, stop it, wait for its report.
pub async fn start(config: WorkloadConfig) -> Result<WorkloadHandle, WorkloadError> {
    start_with(config, CancellationToken::new()).await
}

/// [`start`], stopping when `stop` is cancelled.
pub async fn start_with(config: WorkloadConfig, stop: CancellationToken) -> Result<WorkloadHandle, WorkloadError> {
    config.validate().map_err(WorkloadError::Config)?;
    let users = prepare_users(&config).await?;
    let config = Arc::new(config);
    let live = Arc::new(LiveCounters::new());
    let started = Instant::now();
    let deadline = config.duration.map(|d| started + d);
    let mut shares: Vec<Vec<User>> = vec![Vec::new(); config.clients];
    for (i, u) in users.into_iter().enumerate() {
        shares[i % config.clients].push(u);
    }
    let tasks = shares
        .into_iter()
        .enumerate()
        .map(|(index, users)| {
            let setup =
                ClientSetup { index, config: config.clone(), users, live: live.clone(), stop: stop.clone(), deadline };
            tokio::spawn(Client::new(setup).run())
        })
        .collect();
    Ok(WorkloadHandle { clients: config.clients, stop, live, marks: Mutex::new(Vec::new()), started, tasks })
}

/// Reads the users (and their projects) the clients share out, creating
/// users when there are fewer than clients.
async fn prepare_users(config: &WorkloadConfig) -> Result<Vec<User>, WorkloadError> {
    let (client, conn) = tokio_postgres::connect(&config.url, NoTls)
        .await
        .map_err(|e| WorkloadError::Connect { url: config.url.clone(), message: describe_pg_error(&e) })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let setup = |e: tokio_postgres::Error| WorkloadError::Setup(describe_pg_error(&e));
    let mut ids: Vec<Uuid> = client
        .query("SELECT id FROM users ORDER BY id LIMIT $1", &[&MAX_USERS])
        .await
        .map_err(setup)?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(setup)?;
    while ids.len() < config.clients {
        let email = format!("workload-{}@example.com", Uuid::new_v4());
        let row = client
            .query_one("INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id", &[&email, &"Workload user"])
            .await
            .map_err(setup)?;
        ids.push(row.try_get(0).map_err(setup)?);
    }
    let mut projects: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for r in client.query("SELECT id, user_id FROM projects WHERE user_id = ANY($1)", &[&ids]).await.map_err(setup)? {
        let (id, user): (Uuid, Uuid) = (r.try_get(0).map_err(setup)?, r.try_get(1).map_err(setup)?);
        projects.entry(user).or_default().push(id);
    }
    Ok(ids.into_iter().map(|id| User { id, projects: projects.remove(&id).unwrap_or_default() }).collect())
}

/// A running workload.
pub struct WorkloadHandle {
    clients: usize,
    stop: CancellationToken,
    live: Arc<LiveCounters>,
    marks: Mutex<Vec<Mark>>,
    started: Instant,
    tasks: Vec<JoinHandle<(Ledger, ClientStats)>>,
}

impl WorkloadHandle {
    /// The live counters, shared with the clients.
    pub fn counters(&self) -> Arc<LiveCounters> {
        self.live.clone()
    }

    /// The counts now; `later.since(&earlier)` gives what happened between.
    pub fn snapshot(&self) -> Snapshot {
        self.live.snapshot()
    }

    /// Failed operations and connection attempts since `earlier` (a
    /// [`WorkloadHandle::mark`] or [`WorkloadHandle::snapshot`]).
    pub fn errors_since(&self, earlier: &Snapshot) -> u64 {
        self.live.snapshot().since(earlier).errors_total()
    }

    /// Marks the start of a phase: the report gives ops and errors (with the
    /// first messages) from each mark to the next. Returns the counts now.
    pub fn mark(&self, label: impl Into<String>) -> Snapshot {
        let snapshot = self.live.snapshot();
        if let Ok(mut marks) = self.marks.lock() {
            marks.push(Mark { label: label.into(), at_s: self.started.elapsed().as_secs_f64(), snapshot });
            self.live.set_phase(marks.len());
        }
        snapshot
    }

    /// The token that stops the clients (between operations; an operation
    /// in flight gets `stop_grace` to finish).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Asks the clients to stop.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Stops the clients and waits for the report.
    pub async fn stop_and_wait(self) -> Result<WorkloadReport, WorkloadError> {
        self.stop();
        self.wait().await
    }

    /// Waits for the clients to end (duration over or stopped) and reports.
    pub async fn wait(self) -> Result<WorkloadReport, WorkloadError> {
        let mut stats = ClientStats::new();
        let mut ledger = Ledger::new();
        let mut failure = None;
        for t in self.tasks {
            match t.await {
                Ok((l, s)) => {
                    ledger.merge(l);
                    stats.merge(&s);
                }
                Err(e) => failure = Some(e.to_string()),
            }
        }
        if let Some(e) = failure {
            return Err(WorkloadError::Client(e));
        }
        let elapsed_s = self.started.elapsed().as_secs_f64();
        let marks = self.marks.lock().map(|m| m.clone()).unwrap_or_default();
        let samples = self.live.samples();
        Ok(WorkloadReport::build(Parts {
            clients: self.clients,
            elapsed_s,
            ops: &stats.ops,
            statements: ProtocolCounts { extended: stats.extended_statements, simple: stats.simple_statements },
            reconnects: stats.reconnects,
            marks: &marks,
            end: self.live.snapshot(),
            samples: &samples,
            ledger,
        }))
    }
}

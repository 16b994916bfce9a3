//! The fault-injection soak's clients: the legacy app's writes and reads,
//! each checked against PostgreSQL itself at the moment it is acknowledged.
//!
//! Each client owns some users and, having read every todo of theirs
//! before its first write, knows their exact state. It works through one
//! proxy instance with one protocol (extended with prepared statements, or
//! simple with inlined literals); every write is one transaction that also
//! inserts a marker row into `soak_markers`. After a COMMIT is
//! acknowledged, the rows it wrote are read back directly from both schemas
//! (a later write could heal a divergence, so only checking at the end
//! would hide it). When the answer to a COMMIT is lost, the marker settles
//! whether it happened, and the rows must then show all of it or none.
//! Reads through the proxy are compared with the ledger.
//!
//! The caller (`switchyard soak`) owns the cluster, the proxies, the phase
//! walk and the faults; it tells the clients when the backfill is done (from
//! then on every todo, not only those they created, must be mirrored) and
//! asks them to hold a transaction open across a phase flip ([`Control`]).

mod check;
mod client;
mod model;
mod ops;
mod outcome;
mod stmt;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::WorkloadError;
use crate::ledger::{Entry, Expect, Ledger, Status};
use crate::op::Protocol;
use switchyard_pgconn::describe_pg_error;

pub use outcome::{Counts, ErrorEvent, ErrorKind, Finding, FindingKind};
pub use stmt::MARKERS_SQL;

use client::SoakClient;
use model::{Model, SoakUser};

/// The clients of a soak.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The proxy instances; client `i` connects to `proxy_urls[i % len]`.
    pub proxy_urls: Vec<String>,
    /// PostgreSQL itself, for reading back and settling.
    pub direct_url: String,
    /// Half on each protocol, spread over the proxies.
    pub clients: usize,
    pub seed: u64,
    /// Chance that a write deletes one of the client's users (it keeps one).
    pub user_delete_rate: f64,
}

/// What the orchestrator tells running clients.
pub struct Control {
    backfilled: AtomicBool,
    hold: watch::Sender<u64>,
    release: watch::Sender<u64>,
    held: AtomicUsize,
    held_changed: Notify,
}

impl Control {
    fn new() -> Control {
        Control {
            backfilled: AtomicBool::new(false),
            hold: watch::channel(0).0,
            release: watch::channel(0).0,
            held: AtomicUsize::new(0),
            held_changed: Notify::new(),
        }
    }

    /// From now on every todo must be in the new schema, not only the ones
    /// the clients created.
    pub fn set_backfilled(&self) {
        self.backfilled.store(true, Ordering::SeqCst);
    }

    pub(crate) fn backfilled(&self) -> bool {
        self.backfilled.load(Ordering::SeqCst)
    }

    /// Asks every client to open a write transaction and keep it open until
    /// [`Control::release`]; waits up to `limit` until `clients` hold one.
    /// Returns how many do.
    pub async fn hold_all(&self, clients: usize, limit: Duration) -> usize {
        self.held.store(0, Ordering::SeqCst);
        self.hold.send_modify(|g| *g += 1);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.held_changed.notified();
            let n = self.held.load(Ordering::SeqCst);
            if n >= clients || tokio::time::Instant::now() >= deadline {
                return n;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Lets the held transactions commit.
    pub fn release(&self) {
        let generation = *self.hold.borrow();
        self.release.send_replace(generation);
    }

    pub(crate) fn hold_requested(&self) -> u64 {
        *self.hold.borrow()
    }

    /// Called by a client holding its transaction open for `generation`;
    /// returns when released (or after `limit`).
    pub(crate) async fn holding(&self, generation: u64, limit: Duration) {
        self.held.fetch_add(1, Ordering::SeqCst);
        self.held_changed.notify_waiters();
        let mut rx = self.release.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|g| *g >= generation)).await;
    }
}

/// Running soak clients.
pub struct SoakHandle {
    pub control: Arc<Control>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<SoakClient>>,
}

/// Everything the clients did and found.
pub struct SoakRun {
    pub counts: Counts,
    pub errors: Vec<ErrorEvent>,
    pub findings: Vec<Finding>,
    /// Every client's ledger, merged.
    pub ledger: Ledger,
}

impl SoakRun {
    /// Reads every todo of the ledger back directly from both schemas:
    /// each problem is a kind, the todo's id and what is wrong.
    pub async fn check_at_end(
        &self,
        direct: &tokio_postgres::Client,
    ) -> Result<Vec<(FindingKind, Uuid, String)>, WorkloadError> {
        check::everything(direct, &self.ledger).await.map_err(|e| WorkloadError::Check(describe_pg_error(&e)))
    }
}

impl SoakHandle {
    /// Stops the clients (an operation in flight finishes) and gathers.
    pub async fn stop(self) -> Result<SoakRun, WorkloadError> {
        self.stop.cancel();
        let mut run =
            SoakRun { counts: Counts::default(), errors: Vec::new(), findings: Vec::new(), ledger: Ledger::new() };
        for t in self.tasks {
            let c = t.await.map_err(|e| WorkloadError::Client(e.to_string()))?;
            run.counts.merge(&c.counts);
            run.errors.extend(c.errors);
            run.findings.extend(c.findings);
            run.ledger.merge(c.model.ledger);
        }
        Ok(run)
    }
}

/// Reads every user's todos and projects directly, shares the users out and
/// starts the clients.
pub async fn start(config: SoakConfig) -> Result<SoakHandle, WorkloadError> {
    if config.clients == 0 || config.proxy_urls.is_empty() {
        return Err(WorkloadError::Config("a soak needs clients and at least one proxy".into()));
    }
    let (direct, conn) = tokio_postgres::connect(&config.direct_url, tokio_postgres::NoTls)
        .await
        .map_err(|e| WorkloadError::Connect { url: config.direct_url.clone(), message: describe_pg_error(&e) })?;
    tokio::spawn(conn);
    let models = load_models(&direct, config.clients).await?;
    let control = Arc::new(Control::new());
    let stop = CancellationToken::new();
    let proxies = config.proxy_urls.len();
    let tasks = models
        .into_iter()
        .enumerate()
        .map(|(index, (users, model))| {
            let proto = if (index / proxies).is_multiple_of(2) { Protocol::Extended } else { Protocol::Simple };
            let client = SoakClient::new(client::Setup {
                index,
                proto,
                proxy_url: config.proxy_urls[index % proxies].clone(),
                direct_url: config.direct_url.clone(),
                control: control.clone(),
                stop: stop.clone(),
                seed: config.seed.wrapping_add(index as u64),
                users,
                model,
                user_delete_rate: config.user_delete_rate,
            });
            tokio::spawn(client.run())
        })
        .collect();
    Ok(SoakHandle { control, stop, tasks })
}

/// Each client's users (with their projects) and model of their todos, as
/// the database holds them now: users in id order, dealt out round robin.
async fn load_models(
    direct: &tokio_postgres::Client,
    clients: usize,
) -> Result<Vec<(Vec<SoakUser>, Model)>, WorkloadError> {
    let setup = |e: tokio_postgres::Error| WorkloadError::Setup(describe_pg_error(&e));
    let users: Vec<Uuid> =
        direct.query("SELECT id FROM users ORDER BY id", &[]).await.map_err(setup)?.iter().map(|r| r.get(0)).collect();
    if users.len() < clients {
        return Err(WorkloadError::Config(format!("{} users for {} clients", users.len(), clients)));
    }
    let mut projects: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for r in direct.query("SELECT id, user_id FROM projects", &[]).await.map_err(setup)? {
        projects.entry(r.get(1)).or_default().push(r.get(0));
    }
    let mut models: Vec<(Vec<SoakUser>, Model)> = (0..clients).map(|_| Default::default()).collect();
    let owner: HashMap<Uuid, usize> = users.iter().enumerate().map(|(i, u)| (*u, i % clients)).collect();
    for u in &users {
        models[owner[u]].0.push(SoakUser { id: *u, projects: projects.remove(u).unwrap_or_default() });
    }
    let rows = direct
        .query("SELECT id, user_id, title, status, completed_at IS NOT NULL, parent_todo_id FROM todos", &[])
        .await
        .map_err(setup)?;
    for r in rows {
        let user: Uuid = r.get(1);
        let status: String = r.get(3);
        let entry = Entry {
            expect: Expect::Present,
            title: Some(r.get(2)),
            status: Status::parse(&status),
            completed: Some(r.get(4)),
            parent: Some(r.get(5)),
        };
        if let Some(i) = owner.get(&user) {
            models[*i].1.load(r.get(0), user, entry);
        }
    }
    Ok(models)
}

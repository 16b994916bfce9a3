//! One simulated app client: a loop that picks an operation, runs it on its
//! connection with one of the two protocols, times it, and records in its
//! ledger what the server acknowledged. It reconnects when the connection
//! breaks and stops between operations (an in-flight one gets a grace period).
//!
//! [`pool`] is the working set of todos it knows; [`ops`] the operations of
//! the TodoList service layer it runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::WorkloadConfig;
use crate::ledger::{Created, Ledger, Status};
use crate::op::{Op, Protocol};
use crate::session::{ConnectError, OpError, Session};
use crate::stats::{ClientStats, LiveCounters};

/// How long a ROLLBACK after a failed operation may take before the
/// connection is given up.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A user this client works for, with the user's projects.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: Uuid,
    pub(crate) projects: Vec<Uuid>,
}

mod ops;
mod pool;

use pool::{Known, Pool};

/// What an acknowledged operation changes in the ledger and working set.
enum Effect {
    Created(Vec<Created>, Uuid),
    Updated { id: Uuid, title: Option<String>, status: Option<Status>, completed: Option<bool> },
    Deleted(Vec<Uuid>),
    Found(Vec<Known>),
}

/// The writes of the operation in flight, for when it does not end well.
#[derive(Default)]
struct Pending {
    /// Ids a write was sent for: uncertain if the connection fails.
    ids: Vec<Uuid>,
    /// Ids of rows being inserted: absent if the server refuses.
    creates: Vec<Uuid>,
    /// A transaction block is open.
    in_tx: bool,
}

impl Pending {
    fn clear(&mut self) {
        self.ids.clear();
        self.creates.clear();
        self.in_tx = false;
    }
}

/// Everything a client needs, given by the runner.
pub(crate) struct ClientSetup {
    pub(crate) index: usize,
    pub(crate) config: Arc<WorkloadConfig>,
    pub(crate) users: Vec<User>,
    pub(crate) live: Arc<LiveCounters>,
    pub(crate) stop: CancellationToken,
    pub(crate) deadline: Option<Instant>,
}

pub(crate) struct Client {
    setup: ClientSetup,
    cumulative: [u32; Op::COUNT],
    rng: StdRng,
    /// Ids come from the OS's randomness, whatever the seed: two runs with
    /// one seed on one database must not collide.
    ids: StdRng,
    pool: Pool,
    ledger: Ledger,
    stats: ClientStats,
    session: Option<Session>,
    pending: Pending,
    /// Numbers titles so that each edit writes a new value.
    counter: u64,
    /// Roots this client created, with the subtasks created under them: the
    /// whole subtree of such a root is known, so a walk of it is checked.
    created_roots: HashMap<Uuid, Vec<Uuid>>,
}

impl Client {
    pub(crate) fn new(setup: ClientSetup) -> Client {
        let seed = setup
            .config
            .seed
            .unwrap_or_else(rand::random)
            .wrapping_add((setup.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Client {
            cumulative: setup.config.mix.cumulative(),
            rng: StdRng::seed_from_u64(seed),
            ids: StdRng::from_os_rng(),
            pool: Pool::new(setup.config.todos_per_client),
            ledger: Ledger::new(),
            stats: ClientStats::new(),
            session: None,
            pending: Pending::default(),
            counter: 0,
            created_roots: HashMap::new(),
            setup,
        }
    }

    fn done(&self) -> bool {
        self.setup.stop.is_cancelled() || self.setup.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Runs until the deadline or the stop; returns the ledger and the numbers.
    pub(crate) async fn run(mut self) -> (Ledger, ClientStats) {
        while !self.done() {
            if !self.ensure_session().await {
                break;
            }
            let op = self.pick_op();
            let proto = if self.rng.random_bool(self.setup.config.simple_fraction) {
                Protocol::Simple
            } else {
                Protocol::Extended
            };
            self.one(op, proto).await;
        }
        self.drop_session();
        (self.ledger, self.stats)
    }

    fn pick_op(&mut self) -> Op {
        let total = self.cumulative[Op::COUNT - 1];
        let r = self.rng.random_range(0..total);
        let op = Op::ALL[self.cumulative.iter().position(|c| r < *c).unwrap_or(0)];
        match op {
            Op::SetStatus | Op::Complete | Op::Edit | Op::Delete | Op::Walk if self.pool.is_empty() => Op::List,
            op => op,
        }
    }

    /// Runs one operation and accounts for it.
    async fn one(&mut self, op: Op, proto: Protocol) {
        self.pending.clear();
        let stop = self.setup.stop.clone();
        let grace = self.setup.config.stop_grace;
        let timeout = self.setup.config.op_timeout;
        let started = Instant::now();
        let result = tokio::select! {
            r = self.perform(op, proto) => Some(r),
            _ = async { stop.cancelled().await; tokio::time::sleep(grace).await } => None,
            _ = tokio::time::sleep(timeout) => None,
        };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        match result {
            Some(Ok(effect)) => {
                self.apply(effect);
                self.stats.record(op, proto, micros, true);
                self.setup.live.ok(op);
            }
            Some(Err(e)) => {
                self.failed(&e).await;
                self.stats.record(op, proto, micros, false);
                self.setup.live.error(op, format!("{} ({proto:?}): {}", op, e.describe()));
            }
            None => {
                // Abandoned mid-flight: whatever was sent may or may not commit.
                let ids = std::mem::take(&mut self.pending.ids);
                self.uncertain(&ids);
                self.drop_session();
                self.stats.record(op, proto, micros, false);
                let why = if self.setup.stop.is_cancelled() {
                    "still running after the stop's grace period"
                } else {
                    "timed out"
                };
                self.setup.live.error(op, format!("{op} ({proto:?}): {why}"));
            }
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Created(todos, user) => {
                for t in &todos {
                    self.pool.add(Known { id: t.id, user, status: t.status });
                }
                if let Some(root) = todos.first().filter(|t| t.parent.is_none()) {
                    self.created_roots.insert(root.id, todos[1..].iter().map(|t| t.id).collect());
                }
                self.ledger.created(&todos);
            }
            Effect::Updated { id, title, status, completed } => {
                if let Some(s) = status {
                    self.pool.set_status(&id, s);
                }
                self.ledger.updated(id, title.as_deref(), status, completed);
            }
            Effect::Deleted(ids) => {
                for id in &ids {
                    self.pool.remove(id);
                    self.created_roots.remove(id);
                }
                self.ledger.deleted(&ids);
            }
            Effect::Found(todos) => {
                for k in todos {
                    self.pool.add(k);
                }
            }
        }
    }

    async fn failed(&mut self, e: &OpError) {
        let pending = std::mem::take(&mut self.pending);
        let rejected_by_server = matches!(e, OpError::Pg(pg) if definitely_not_applied(pg));
        match e {
            OpError::Pg(_) if rejected_by_server => self.ledger.rejected(&pending.creates),
            OpError::Pg(_) => self.uncertain(&pending.ids),
            // The server answered but not as expected (a row gone): nothing
            // to change in the ledger; the check will tell whether it is lost.
            OpError::Unexpected(_) => {
                for id in &pending.ids {
                    self.pool.remove(id);
                }
                if pending.in_tx {
                    // Rolled back below; a create's ids must then be absent.
                    self.ledger.rejected(&pending.creates);
                }
            }
        }
        if let Some(s) = self.session.as_mut() {
            let healthy = !s.is_closed()
                && (!pending.in_tx || tokio::time::timeout(ROLLBACK_TIMEOUT, s.rollback()).await.is_ok());
            if !healthy {
                self.drop_session();
            }
        }
    }

    fn uncertain(&mut self, ids: &[Uuid]) {
        for id in ids {
            self.pool.remove(id);
        }
        self.ledger.uncertain(ids);
    }

    fn drop_session(&mut self) {
        if let Some(s) = self.session.take() {
            self.stats.extended_statements += s.wire.extended;
            self.stats.simple_statements += s.wire.simple;
        }
    }

    /// Connects when there is no live connection, retrying with backoff
    /// until connected or stopped. Returns whether there is a connection.
    async fn ensure_session(&mut self) -> bool {
        if self.session.as_ref().is_some_and(|s| !s.is_closed()) {
            return true;
        }
        let reconnect = self.session.is_some() || self.stats.extended_statements + self.stats.simple_statements > 0;
        self.drop_session();
        let mut backoff = Duration::from_millis(50);
        loop {
            if self.done() {
                return false;
            }
            let connecting =
                tokio::time::timeout(self.setup.config.op_timeout, Session::connect(&self.setup.config.url));
            let stop = self.setup.stop.clone();
            let attempt = tokio::select! {
                r = connecting => r.unwrap_or_else(|_| Err(ConnectError::TimedOut)),
                _ = stop.cancelled() => return false,
            };
            match attempt {
                Ok(s) => {
                    self.session = Some(s);
                    if reconnect {
                        self.stats.reconnects += 1;
                    }
                    return true;
                }
                Err(e) => {
                    self.setup.live.connect_error(format!("connect: {e}"));
                    let stop = self.setup.stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.cancelled() => return false,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    fn user(&mut self) -> User {
        let users = &self.setup.users;
        users[self.rng.random_range(0..users.len())].clone()
    }

    fn new_id(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.ids.random()).into_uuid()
    }

    fn next_n(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// Whether an error proves the write it answered did not take effect: an
/// ERROR (not FATAL or PANIC) from the server, other than a connection
/// problem, operator intervention or internal error, after which the
/// transaction is rolled back. A backend terminated mid-commit answers FATAL
/// 57P01 whether or not its commit reached the disk.
fn definitely_not_applied(e: &tokio_postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        return false;
    };
    let error = db.parsed_severity().map_or(db.severity() == "ERROR", |s| s == tokio_postgres::error::Severity::Error);
    error && !matches!(db.code().code().get(..2), Some("08" | "57" | "58" | "XX"))
}

//! One simulated app client: a loop that picks an operation, runs it on its
//! connection with one of the two protocols, times it, and records in its
//! ledger what the server acknowledged. It reconnects when the connection
//! breaks and stops between operations (an in-flight one gets a grace period).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::WorkloadConfig;
use crate::gen::{self, NewTodo};
use crate::ledger::{Created, Expect, Ledger, Status};
use crate::op::{Op, Protocol};
use crate::session::{ConnectError, OpError, Rows, Session};
use crate::sql::{inline, Val};
use crate::stats::{ClientStats, LiveCounters};
use crate::stmt::Stmt;

/// How long a ROLLBACK after a failed operation may take before the
/// connection is given up.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A user this client works for, with the user's projects.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: Uuid,
    pub(crate) projects: Vec<Uuid>,
}

/// A todo in the working set.
#[derive(Debug, Clone, Copy)]
struct Known {
    id: Uuid,
    user: Uuid,
    status: Status,
}

/// The todos a client knows of, with O(1) add, remove and random pick.
struct Pool {
    items: Vec<Known>,
    index: HashMap<Uuid, usize>,
    cap: usize,
}

impl Pool {
    fn new(cap: usize) -> Pool {
        Pool { items: Vec::new(), index: HashMap::new(), cap }
    }

    fn add(&mut self, k: Known) {
        if let Some(&i) = self.index.get(&k.id) {
            self.items[i].status = k.status;
        } else if self.items.len() < self.cap {
            self.index.insert(k.id, self.items.len());
            self.items.push(k);
        }
    }

    fn remove(&mut self, id: &Uuid) {
        if let Some(i) = self.index.remove(id) {
            self.items.swap_remove(i);
            if let Some(moved) = self.items.get(i) {
                self.index.insert(moved.id, i);
            }
        }
    }

    fn set_status(&mut self, id: &Uuid, status: Status) {
        if let Some(&i) = self.index.get(id) {
            self.items[i].status = status;
        }
    }

    fn pick(&self, rng: &mut StdRng) -> Option<Known> {
        if self.items.is_empty() {
            None
        } else {
            Some(self.items[rng.random_range(0..self.items.len())])
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

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

    async fn perform(&mut self, op: Op, proto: Protocol) -> Result<Effect, OpError> {
        let Some(mut s) = self.session.take() else {
            return Err(OpError::Unexpected("no connection".into()));
        };
        let r = match op {
            Op::Create => self.create(&mut s, proto).await,
            Op::List => self.list(&mut s, proto).await,
            Op::SetStatus => self.set_status(&mut s, proto).await,
            Op::Complete => self.complete(&mut s, proto).await,
            Op::Edit => self.edit(&mut s, proto).await,
            Op::Delete => self.delete(&mut s, proto).await,
            Op::Walk => self.walk(&mut s, proto).await,
        };
        self.session = Some(s);
        r
    }

    fn target(&mut self) -> Result<Known, OpError> {
        self.pool.pick(&mut self.rng).ok_or_else(|| OpError::Unexpected("no todo to work on".into()))
    }

    async fn create(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let user = self.user();
        let project = if !user.projects.is_empty() && self.rng.random_bool(0.6) {
            Some(user.projects[self.rng.random_range(0..user.projects.len())])
        } else {
            None
        };
        let n = self.next_n();
        let server_ids = self.rng.random_bool(0.25);
        let subtasks = if self.rng.random_bool(0.3) { self.rng.random_range(2..=4) } else { 0 };
        let id = self.new_id();
        let mut parent = gen::root(&mut self.rng, id, user.id, project, n);
        let mut children = Vec::with_capacity(subtasks);
        for k in 0..subtasks {
            let id = self.new_id();
            children.push(gen::subtask(&mut self.rng, id, &parent, k));
        }

        if subtasks > 0 && proto == Protocol::Simple && !server_ids {
            // The whole transaction in one Query message.
            let mut sql = String::from("BEGIN;\n");
            for t in std::iter::once(&parent).chain(&children) {
                sql.push_str(&inline(Stmt::Insert.sql(), &t.params(true)));
                sql.push_str(";\n");
                self.pending.ids.push(t.id);
                self.pending.creates.push(t.id);
            }
            sql.push_str("COMMIT");
            self.pending.in_tx = true;
            let counts = s.batch(&sql).await?;
            self.pending.in_tx = false;
            let inserted: u64 = counts.iter().sum();
            if inserted != 1 + children.len() as u64 {
                return Err(OpError::Unexpected(format!("batch inserted {inserted} rows, not {}", 1 + children.len())));
            }
        } else {
            if subtasks > 0 {
                s.execute(proto, Stmt::Begin, &[]).await?;
                self.pending.in_tx = true;
            }
            self.insert(s, proto, &mut parent, server_ids).await?;
            for c in &mut children {
                c.parent = Some(parent.id);
                self.insert(s, proto, c, server_ids).await?;
            }
            if subtasks > 0 {
                s.execute(proto, Stmt::Commit, &[]).await?;
                self.pending.in_tx = false;
            }
        }
        let created = std::iter::once(&parent)
            .chain(&children)
            .map(|t| Created { id: t.id, title: t.title.clone(), status: t.status, parent: t.parent })
            .collect();
        Ok(Effect::Created(created, user.id))
    }

    /// Inserts one todo; with `server_id` the column default makes its id,
    /// read back with RETURNING into `t.id`.
    async fn insert(
        &mut self,
        s: &mut Session,
        proto: Protocol,
        t: &mut NewTodo,
        server_id: bool,
    ) -> Result<(), OpError> {
        if server_id {
            let rows = s.query(proto, Stmt::InsertReturning, &t.params(false)).await?;
            if rows.len() != 1 {
                return Err(OpError::Unexpected(format!("INSERT RETURNING gave {} rows", rows.len())));
            }
            t.id = rows.uuid(0, 0)?;
            self.pending.ids.push(t.id);
            self.pending.creates.push(t.id);
        } else {
            self.pending.ids.push(t.id);
            self.pending.creates.push(t.id);
            let n = s.execute(proto, Stmt::Insert, &t.params(true)).await?;
            if n != 1 {
                return Err(OpError::Unexpected(format!("INSERT inserted {n} rows")));
            }
        }
        Ok(())
    }

    async fn list(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let user = self.user();
        let limit = Val::BigInt(20);
        let offset = Val::BigInt(20 * self.rng.random_range(0..3));
        let status = [Status::Todo, Status::InProgress, Status::Done][self.rng.random_range(0..3)];
        let soon = chrono::Utc::now() + chrono::Duration::days(7);
        let rows = match self.rng.random_range(0..4) {
            1 => {
                s.query(proto, Stmt::ListByStatus, &[Val::Uuid(user.id), Val::Text(status.as_str()), limit, offset])
                    .await?
            }
            2 if !user.projects.is_empty() => {
                let p = user.projects[self.rng.random_range(0..user.projects.len())];
                s.query(proto, Stmt::ListByProject, &[Val::Uuid(user.id), Val::Uuid(p), limit, offset]).await?
            }
            3 => {
                s.query(proto, Stmt::ListDueSoon, &[Val::Uuid(user.id), Val::OptTs(Some(soon)), limit, offset]).await?
            }
            _ => s.query(proto, Stmt::ListAll, &[Val::Uuid(user.id), limit, offset]).await?,
        };
        Ok(Effect::Found(found(&rows, user.id, 0, 3)?))
    }

    async fn set_status(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        let status = match t.status {
            Status::Todo => Status::InProgress,
            Status::InProgress => Status::Todo,
            Status::Done => {
                if self.rng.random_bool(0.5) {
                    Status::Todo
                } else {
                    Status::InProgress
                }
            }
        };
        self.pending.ids.push(t.id);
        let n = s
            .execute(proto, Stmt::SetStatus, &[Val::Uuid(t.id), Val::Uuid(t.user), Val::Text(status.as_str())])
            .await?;
        expect_one(n, "UPDATE", t.id)?;
        Ok(Effect::Updated { id: t.id, title: None, status: Some(status), completed: Some(false) })
    }

    async fn complete(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        self.pending.ids.push(t.id);
        let n = s.execute(proto, Stmt::Complete, &[Val::Uuid(t.id), Val::Uuid(t.user)]).await?;
        expect_one(n, "UPDATE", t.id)?;
        Ok(Effect::Updated { id: t.id, title: None, status: Some(Status::Done), completed: Some(true) })
    }

    async fn edit(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        let n = self.next_n();
        let title = format!("{} (edited)", gen::title(&mut self.rng, n));
        let description = gen::description(&mut self.rng, &title);
        let tags = gen::tags(&mut self.rng);
        let metadata = gen::edit_metadata(&mut self.rng, n);
        self.pending.ids.push(t.id);
        let params = [
            Val::Uuid(t.id),
            Val::Uuid(t.user),
            Val::Text(&title),
            Val::OptText(Some(&description)),
            Val::Tags(&tags),
            Val::Json(&metadata),
        ];
        let n = s.execute(proto, Stmt::Edit, &params).await?;
        expect_one(n, "UPDATE", t.id)?;
        Ok(Effect::Updated { id: t.id, title: Some(title), status: None, completed: None })
    }

    /// Deletes a todo in a transaction that first reads its subtree, which
    /// the legacy foreign key's cascade deletes with it.
    async fn delete(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        s.execute(proto, Stmt::Begin, &[]).await?;
        self.pending.in_tx = true;
        let rows = s.query(proto, Stmt::Subtree, &[Val::Uuid(t.id), Val::Uuid(t.user)]).await?;
        let mut ids = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            ids.push(rows.uuid(i, 0)?);
        }
        if ids.is_empty() {
            self.pending.ids.push(t.id);
            return Err(OpError::Unexpected(format!("todo {} vanished: its subtree is empty", t.id)));
        }
        self.pending.ids.extend(&ids);
        let n = s.execute(proto, Stmt::Delete, &[Val::Uuid(t.id), Val::Uuid(t.user)]).await?;
        expect_one(n, "DELETE", t.id)?;
        s.execute(proto, Stmt::Commit, &[]).await?;
        self.pending.in_tx = false;
        Ok(Effect::Deleted(ids))
    }

    async fn walk(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        let rows = s.query(proto, Stmt::Walk, &[Val::Uuid(t.id), Val::Uuid(t.user)]).await?;
        if rows.len() == 0 {
            self.pending.ids.push(t.id);
            return Err(OpError::Unexpected(format!("todo {} vanished: the hierarchy walk found nothing", t.id)));
        }
        let todos = found(&rows, t.user, 0, 3)?;
        if let Some(expected) = self.expected_subtree(&t.id) {
            let got: HashSet<Uuid> = todos.iter().map(|k| k.id).collect();
            if got != expected || todos.len() != rows.len() {
                return Err(OpError::Unexpected(format!(
                    "the walk of todo {} read {} todos, {} acknowledged ({} missing, {} not expected)",
                    t.id,
                    rows.len(),
                    expected.len(),
                    expected.difference(&got).count(),
                    got.difference(&expected).count()
                )));
            }
        }
        Ok(Effect::Found(todos))
    }

    /// The ids a walk of `root` must read (read-your-writes), when this
    /// client created it and every write under it has a known outcome.
    fn expected_subtree(&self, root: &Uuid) -> Option<HashSet<Uuid>> {
        let children = self.created_roots.get(root)?;
        let mut out = HashSet::with_capacity(children.len() + 1);
        out.insert(*root);
        for c in children {
            match self.ledger.get(c).map(|e| e.expect) {
                Some(Expect::Present) => {
                    out.insert(*c);
                }
                Some(Expect::Deleted) => {}
                _ => return None,
            }
        }
        (self.ledger.get(root).map(|e| e.expect) == Some(Expect::Present)).then_some(out)
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

fn expect_one(n: u64, verb: &str, id: Uuid) -> Result<(), OpError> {
    if n == 1 {
        Ok(())
    } else {
        Err(OpError::Unexpected(format!("todo {id} vanished: {verb} {n}")))
    }
}

/// The todos in `rows` (id and status columns given), for the working set.
fn found(rows: &Rows, user: Uuid, id_col: usize, status_col: usize) -> Result<Vec<Known>, OpError> {
    let mut out = Vec::with_capacity(rows.len());
    let mut seen = HashSet::with_capacity(rows.len());
    for i in 0..rows.len() {
        let id = rows.uuid(i, id_col)?;
        let s = rows.text(i, status_col)?;
        let status =
            Status::parse(&s).ok_or_else(|| OpError::Unexpected(format!("status {s:?} is not a legacy status")))?;
        if seen.insert(id) {
            out.push(Known { id, user, status });
        }
    }
    Ok(out)
}

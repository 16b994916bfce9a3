//! One soak client's loop: pick an operation, run it (a write as one
//! transaction with its marker), then read back directly what an
//! acknowledged write changed, or settle a commit whose answer was lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::op::Protocol;
use crate::session::{OpError, Session};
use crate::sql::Val;
use crate::stmt::Stmt;

use super::check::{self, Problem};
use super::model::{Effect, Model, SoakUser};
use super::outcome::{Counts, ErrorEvent, ErrorKind, Finding};
use super::stmt::{SoakStmt, SETTLE_SQL};
use super::Control;

/// A write transaction or a read taking longer than this is given up (more
/// than a held transaction may wait for its release).
const OP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client keeps trying to read back or settle through faults.
const DIRECT_PATIENCE: Duration = Duration::from_secs(90);
/// The longest a transaction is held open for a flip.
const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// The operations, with their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SoakOp {
    Create,
    Edit,
    SetStatus,
    Complete,
    Delete,
    Upsert,
    DeleteUser,
    ReadOne,
    ListUser,
    /// An edit whose transaction stays open until the orchestrator releases it.
    Hold,
}

impl SoakOp {
    const WEIGHTED: [(SoakOp, u32); 8] = [
        (SoakOp::Create, 16),
        (SoakOp::Edit, 14),
        (SoakOp::SetStatus, 10),
        (SoakOp::Complete, 12),
        (SoakOp::Delete, 7),
        (SoakOp::Upsert, 12),
        (SoakOp::ReadOne, 15),
        (SoakOp::ListUser, 10),
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            SoakOp::Create => "create",
            SoakOp::Edit => "edit",
            SoakOp::SetStatus => "set_status",
            SoakOp::Complete => "complete",
            SoakOp::Delete => "delete",
            SoakOp::Upsert => "upsert",
            SoakOp::DeleteUser => "delete_user",
            SoakOp::ReadOne => "read_one",
            SoakOp::ListUser => "list_user",
            SoakOp::Hold => "hold",
        }
    }
}

/// Where a write transaction got to.
enum Stage {
    Open,
    CommitSent(Effect),
}

pub(crate) struct Setup {
    pub(crate) index: usize,
    pub(crate) proto: Protocol,
    pub(crate) proxy_url: String,
    pub(crate) direct_url: String,
    pub(crate) control: Arc<Control>,
    pub(crate) stop: CancellationToken,
    pub(crate) seed: u64,
    pub(crate) users: Vec<SoakUser>,
    pub(crate) model: Model,
    pub(crate) user_delete_rate: f64,
}

pub(crate) struct SoakClient {
    pub(crate) setup: Setup,
    pub(crate) rng: StdRng,
    ids: StdRng,
    pub(crate) model: Model,
    session: Option<Session>,
    direct: Option<Client>,
    served_hold: u64,
    /// The operation in flight.
    op: SoakOp,
    pub(crate) counter: u64,
    /// Ids the operation in flight works on, read back when it goes wrong.
    pub(crate) touching: Vec<Uuid>,
    pub(crate) counts: Counts,
    pub(crate) errors: Vec<ErrorEvent>,
    pub(crate) findings: Vec<Finding>,
}

impl SoakClient {
    pub(crate) fn new(mut setup: Setup) -> SoakClient {
        let model = std::mem::take(&mut setup.model);
        SoakClient {
            rng: StdRng::seed_from_u64(setup.seed),
            ids: StdRng::from_os_rng(),
            model,
            session: None,
            direct: None,
            served_hold: setup.control.hold_requested(),
            op: SoakOp::ReadOne,
            counter: 0,
            touching: Vec::new(),
            counts: Counts::default(),
            errors: Vec::new(),
            findings: Vec::new(),
            setup,
        }
    }

    pub(crate) fn proto(&self) -> Protocol {
        self.setup.proto
    }

    pub(crate) fn new_id(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.ids.random()).into_uuid()
    }

    pub(crate) async fn run(mut self) -> SoakClient {
        while !self.setup.stop.is_cancelled() {
            if !self.ensure_session().await {
                break;
            }
            let op = self.pick();
            self.counts.ops += 1;
            *self.counts.by_op.entry(op.name()).or_default() += 1;
            self.touching.clear();
            self.op = op;
            match op {
                SoakOp::ReadOne | SoakOp::ListUser => self.read(op).await,
                _ => self.write(op).await,
            }
        }
        self
    }

    fn pick(&mut self) -> SoakOp {
        if self.setup.control.hold_requested() > self.served_hold {
            return SoakOp::Hold;
        }
        if self.setup.users.len() > 1 && self.rng.random_bool(self.setup.user_delete_rate) {
            return SoakOp::DeleteUser;
        }
        let total: u32 = SoakOp::WEIGHTED.iter().map(|(_, w)| w).sum();
        let mut r = self.rng.random_range(0..total);
        for (op, w) in SoakOp::WEIGHTED {
            if r < w {
                return op;
            }
            r -= w;
        }
        SoakOp::ReadOne
    }

    /// Connects to the proxy when there is no live connection, retrying
    /// until connected or stopped.
    async fn ensure_session(&mut self) -> bool {
        if self.session.as_ref().is_some_and(|s| !s.is_closed()) {
            return true;
        }
        self.session = None;
        let mut backoff = Duration::from_millis(50);
        while !self.setup.stop.is_cancelled() {
            let connect = Session::connect_with(&self.setup.proxy_url, &SoakStmt::SQL);
            match tokio::time::timeout(Duration::from_secs(10), connect).await {
                Ok(Ok(s)) => {
                    self.session = Some(s);
                    return true;
                }
                Ok(Err(e)) => self.error("connect", ErrorKind::Connection, format!("connect: {e}")),
                Err(_) => self.error("connect", ErrorKind::Connection, "connect: timed out".into()),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
        false
    }

    pub(crate) fn error(&mut self, op: &'static str, kind: ErrorKind, message: String) {
        self.errors.push(ErrorEvent { at: Instant::now(), client: self.setup.index, kind, op, message });
    }

    async fn read(&mut self, op: SoakOp) {
        let Some(mut s) = self.session.take() else {
            return;
        };
        let r = match tokio::time::timeout(OP_TIMEOUT, self.read_body(&mut s, op)).await {
            Ok(r) => r,
            Err(_) => Err(OpError::Unexpected("timed out".into())),
        };
        self.session = Some(s);
        match r {
            Ok(None) => self.counts.reads += 1,
            Ok(Some(mismatch)) => {
                self.error(op.name(), ErrorKind::ReadMismatch, mismatch);
                self.verify(&self.touching.clone(), None, false).await;
            }
            Err(e) => self.failed(op, &e, false).await,
        }
    }

    async fn write(&mut self, op: SoakOp) {
        let Some(mut s) = self.session.take() else {
            return;
        };
        let marker = self.new_id();
        let mut stage = Stage::Open;
        let r = match tokio::time::timeout(OP_TIMEOUT, self.transact(&mut s, op, marker, &mut stage)).await {
            Ok(r) => r,
            Err(_) => Err(OpError::Unexpected("timed out".into())),
        };
        let timed_out = matches!(&r, Err(OpError::Unexpected(m)) if m == "timed out");
        self.session = (!timed_out).then_some(s);
        match (r, stage) {
            (Ok(effect), _) => {
                self.counts.committed += 1;
                self.apply(&effect);
                self.verify_effect(&effect, false).await;
            }
            (Err(e), Stage::CommitSent(effect)) if timed_out || ErrorKind::of(&e) == ErrorKind::Connection => {
                self.error(op.name(), ErrorKind::Connection, format!("COMMIT unanswered: {}", e.describe()));
                self.session = None;
                self.settle(marker, effect).await;
            }
            (Err(e), _) => self.failed(op, &e, true).await,
        }
    }

    /// BEGIN, the operation's statements, the marker, COMMIT.
    async fn transact(
        &mut self,
        s: &mut Session,
        op: SoakOp,
        marker: Uuid,
        stage: &mut Stage,
    ) -> Result<Effect, OpError> {
        let proto = self.proto();
        s.execute(proto, Stmt::Begin, &[]).await?;
        let effect = self.body(s, op).await?;
        s.execute(proto, SoakStmt::Marker, &[Val::Uuid(marker), Val::Int(self.setup.index as i32)]).await?;
        if op == SoakOp::Hold {
            self.served_hold = self.setup.control.hold_requested();
            self.counts.held += 1;
            self.setup.control.holding(self.served_hold, HOLD_LIMIT).await;
        }
        *stage = Stage::CommitSent(effect.clone());
        s.execute(proto, Stmt::Commit, &[]).await?;
        Ok(effect)
    }

    /// A failed operation that was not in doubt: nothing of it committed.
    async fn failed(&mut self, op: SoakOp, e: &OpError, in_tx: bool) {
        let kind = ErrorKind::of(e);
        self.error(op.name(), kind, e.describe());
        if let Some(s) = self.session.as_mut() {
            let healthy =
                !s.is_closed() && (!in_tx || tokio::time::timeout(Duration::from_secs(5), s.rollback()).await.is_ok());
            if !healthy {
                self.session = None;
            }
        }
        if kind == ErrorKind::WrongResult {
            // The ledger says the row is there: is it, in both schemas?
            self.verify(&self.touching.clone(), None, false).await;
        }
    }

    /// A connection to PostgreSQL itself, reconnecting when needed.
    async fn direct(&mut self) -> Option<Client> {
        if let Some(c) = self.direct.take().filter(|c| !c.is_closed()) {
            return Some(c);
        }
        let connect = tokio_postgres::connect(&self.setup.direct_url, tokio_postgres::NoTls);
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok((client, conn))) => {
                tokio::spawn(conn);
                Some(client)
            }
            _ => None,
        }
    }

    /// Whether `id` must already be in the new schema.
    fn mirrored(&self, id: &Uuid) -> bool {
        self.setup.control.backfilled() || self.model.born.contains(id)
    }

    async fn verify_effect(&mut self, effect: &Effect, in_doubt: bool) {
        let gone = match effect {
            Effect::UserDeleted { user, .. } => Some(*user),
            _ => None,
        };
        self.verify(&effect.ids(), gone, in_doubt).await;
    }

    /// Reads `ids` (and a deleted user's leftovers) back directly and
    /// records what differs from the ledger or between the schemas.
    async fn verify(&mut self, ids: &[Uuid], gone_user: Option<Uuid>, in_doubt: bool) {
        let started = Instant::now();
        while started.elapsed() < DIRECT_PATIENCE {
            let Some(client) = self.direct().await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let result = self.read_problems(&client, ids, gone_user).await;
            self.direct = Some(client);
            match result {
                Ok(problems) => {
                    for (kind, id, detail) in problems {
                        let (at, client, op) = (Instant::now(), self.setup.index, self.op.name());
                        self.findings.push(Finding { at, client, op, kind, id, in_doubt, detail });
                    }
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        self.error("read_back", ErrorKind::Unsettled, format!("could not read back {} rows", ids.len()));
    }

    async fn read_problems(
        &self,
        client: &Client,
        ids: &[Uuid],
        gone_user: Option<Uuid>,
    ) -> Result<Vec<Problem>, tokio_postgres::Error> {
        let back = check::read_back(client, ids).await?;
        let mut problems = back.problems(&self.model.ledger, ids, |id| self.mirrored(id));
        if let Some(user) = gone_user {
            let (legacy, new, user_row) = check::user_leftovers(client, &user).await?;
            if legacy + new > 0 || user_row {
                let detail = format!(
                    "user {user} deleted, acknowledged: user row left {user_row}, {legacy} legacy and {new} new todos left"
                );
                problems.push((super::FindingKind::Lost, user, detail));
            }
        }
        Ok(problems)
    }

    /// Settles a commit whose answer was lost with its marker, then checks
    /// that its rows show all of it or none.
    async fn settle(&mut self, marker: Uuid, effect: Effect) {
        let started = Instant::now();
        while started.elapsed() < DIRECT_PATIENCE {
            let Some(client) = self.direct().await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let r = client.query_opt(SETTLE_SQL, &[&marker]).await;
            self.direct = Some(client);
            match r {
                Ok(Some(_)) => {
                    self.counts.in_doubt_aborted += 1;
                    if let Effect::Created(todos, _) = &effect {
                        // Never committed: the ids must be absent.
                        self.model.ledger.rejected(&todos.iter().map(|t| t.id).collect::<Vec<_>>());
                    }
                    self.verify(&effect.ids(), None, true).await;
                    return;
                }
                Ok(None) => {
                    self.counts.in_doubt_committed += 1;
                    self.apply(&effect);
                    self.verify_effect(&effect, true).await;
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        self.error("settle", ErrorKind::Unsettled, format!("marker {marker} could not be settled"));
        self.model.uncertain(&effect.ids());
    }

    fn apply(&mut self, effect: &Effect) {
        self.model.apply(effect);
        if let Effect::UserDeleted { user, .. } = effect {
            self.setup.users.retain(|u| u.id != *user);
        }
    }

    pub(crate) fn user(&mut self) -> SoakUser {
        let users = &self.setup.users;
        users[self.rng.random_range(0..users.len())].clone()
    }
}

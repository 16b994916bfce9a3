//! What a soak client brings back: counts, its errors by kind (with when
//! they happened, so connection errors can be matched with fault windows)
//! and its findings (acknowledged writes not stored, schemas that differ).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use uuid::Uuid;

use crate::session::OpError;

/// How an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection broke or could not be opened (SQLSTATE classes 08 and
    /// 57, or no answer at all): expected inside a fault window only.
    Connection,
    /// 40P01.
    Deadlock,
    /// 40001.
    Serialization,
    /// 0A000: the proxy refused a statement.
    Refused,
    /// Any other server error.
    Server,
    /// The server answered, not as the ledger says it must (an UPDATE of a
    /// todo the client owns changed no row, say).
    WrongResult,
    /// A read through the proxy disagrees with the client's ledger.
    ReadMismatch,
    /// A commit whose answer was lost could not be settled.
    Unsettled,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connection => "connection",
            ErrorKind::Deadlock => "deadlock",
            ErrorKind::Serialization => "serialization",
            ErrorKind::Refused => "refused",
            ErrorKind::Server => "server",
            ErrorKind::WrongResult => "wrong_result",
            ErrorKind::ReadMismatch => "read_mismatch",
            ErrorKind::Unsettled => "unsettled",
        }
    }

    pub(crate) fn of(e: &OpError) -> ErrorKind {
        let OpError::Pg(pg) = e else {
            return ErrorKind::WrongResult;
        };
        let Some(db) = pg.as_db_error() else {
            return ErrorKind::Connection;
        };
        match db.code().code() {
            "40P01" => ErrorKind::Deadlock,
            "40001" => ErrorKind::Serialization,
            "0A000" => ErrorKind::Refused,
            c if c.starts_with("08") || c.starts_with("57") => ErrorKind::Connection,
            _ => ErrorKind::Server,
        }
    }
}

/// One failed operation.
#[derive(Debug, Clone)]
pub struct ErrorEvent {
    pub at: Instant,
    pub client: usize,
    pub kind: ErrorKind,
    pub op: &'static str,
    pub message: String,
}

/// What a direct read found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A schema does not hold the last acknowledged state of a todo.
    Lost,
    /// The legacy row and the new schema's row differ (I1), or the id is in
    /// both new tables (I3).
    Divergent,
}

/// One todo found wrong, and when (the phase is the caller's to tell).
#[derive(Debug, Clone)]
pub struct Finding {
    pub at: Instant,
    pub client: usize,
    /// The operation whose write (or read) led to the finding.
    pub op: &'static str,
    pub kind: FindingKind,
    pub id: Uuid,
    /// Whether it was found after settling an in-doubt commit.
    pub in_doubt: bool,
    pub detail: String,
}

/// Counts of one client, or of all.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub ops: u64,
    /// Write transactions whose COMMIT was acknowledged.
    pub committed: u64,
    /// Reads compared with the ledger.
    pub reads: u64,
    /// Commits whose answer was lost, settled by their marker.
    pub in_doubt_committed: u64,
    pub in_doubt_aborted: u64,
    /// Write transactions that held their transaction open for a flip.
    pub held: u64,
    /// Operations by name.
    pub by_op: BTreeMap<&'static str, u64>,
}

impl Counts {
    pub(crate) fn merge(&mut self, o: &Counts) {
        self.ops += o.ops;
        self.committed += o.committed;
        self.reads += o.reads;
        self.in_doubt_committed += o.in_doubt_committed;
        self.in_doubt_aborted += o.in_doubt_aborted;
        self.held += o.held;
        for (k, v) in &o.by_op {
            *self.by_op.entry(k).or_default() += v;
        }
    }
}

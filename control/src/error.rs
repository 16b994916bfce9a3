//! Errors of the control plane.

use crate::phase::{Refusal, UnknownPhase};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the database has no Switchyard control schema; run `switchyard migrate` first")]
    NotMigrated,
    #[error("no migration state for table {0:?}")]
    UnknownTable(String),
    #[error("refused: {}", list(.0))]
    Refused(Vec<Refusal>),
    #[error(transparent)]
    UnknownPhase(#[from] UnknownPhase),
    #[error("postgres: {}", switchyard_pgconn::describe_pg_error(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres: {0}")]
    Connect(#[from] switchyard_pgconn::ConnectError),
    /// The phase watcher's LISTEN connection ended, so it would miss phase
    /// changes.
    #[error("the LISTEN connection closed")]
    ListenClosed,
}

fn list(refusals: &[Refusal]) -> String {
    refusals.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; ")
}

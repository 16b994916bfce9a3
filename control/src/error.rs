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
    #[error("postgres: {0}")]
    Postgres(String),
}

fn list(refusals: &[Refusal]) -> String {
    refusals.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; ")
}

impl From<switchyard_pgconn::ConnectError> for ControlError {
    fn from(e: switchyard_pgconn::ConnectError) -> Self {
        ControlError::Postgres(e.to_string())
    }
}

impl From<tokio_postgres::Error> for ControlError {
    fn from(e: tokio_postgres::Error) -> Self {
        ControlError::Postgres(crate::describe_pg_error(&e))
    }
}

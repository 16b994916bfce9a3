//! The crate's error type.

/// Why a workload could not run (individual operation failures are not
/// errors of the run: they are counted in the report).
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The configuration cannot work (no clients, an empty mix, ...).
    #[error("invalid workload configuration: {0}")]
    Config(String),
    /// The first connection, used to find users and projects, failed.
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    /// Reading or creating the users and projects the clients work on failed.
    #[error("cannot prepare the workload: {0}")]
    Setup(String),
    /// A client task ended abnormally.
    #[error("a workload client failed: {0}")]
    Client(String),
    /// The ledger check could not read the database.
    #[error("ledger check could not read the database: {0}")]
    Check(String),
}

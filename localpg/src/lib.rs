//! Throwaway PostgreSQL clusters started from the system's own binaries.
//!
//! The integration tests and `switchyard demo` both need a real PostgreSQL
//! that nobody has to set up by hand. [`Cluster::start`] runs `initdb` and
//! `postgres` in a fresh directory on a free loopback port (as the `postgres`
//! user when we are root, because PostgreSQL refuses to run as root) and stops
//! and deletes it when the process exits.
//!
//! Tests share one cluster per test binary through [`shared`], which honours
//! `SWITCHYARD_TEST_DATABASE_URL` to point at an existing server instead, and
//! give every test its own database ([`Server::create_database`]).

mod binaries;
mod cluster;
mod server;

pub use binaries::{find_binary, BinDir};
pub use cluster::{Cluster, ClusterOptions};
pub use server::{shared, Server, TEST_ROLES};

/// What can go wrong starting or talking to a throwaway cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("PostgreSQL server binaries not found ({0}); install them with `apt-get install postgresql` or set SWITCHYARD_PG_BINDIR")]
    BinariesMissing(String),
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
    #[error("PostgreSQL did not accept connections on port {port} within {seconds}s; its log says:\n{log}")]
    StartTimeout { port: u16, seconds: u64, log: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("postgres: {}", switchyard_pgconn::describe_pg_error(.0))]
    Postgres(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

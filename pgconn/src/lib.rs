//! # switchyard-pgconn
//!
//! Every side connection Switchyard opens to PostgreSQL (the control plane,
//! the phase watcher, shadow reads, the backfill, verify, maintain and the
//! CLI) goes through [`connect`], so all of them honour libpq's TLS settings
//! (<https://www.postgresql.org/docs/current/libpq-ssl.html>):
//!
//! - `sslmode`: `disable`, `prefer` (TLS when offered, unverified; the
//!   default), `require` (TLS, unverified), `verify-ca` (the chain checked
//!   against the roots), `verify-full` (chain and host name);
//! - `sslrootcert`: a PEM file of roots for the verifying modes (the system
//!   bundle otherwise).
//!
//! They come from the connection string (URL query or `key=value` form),
//! else from `PGSSLMODE` and `PGSSLROOTCERT` as for libpq; a caller's own
//! flags go into the string with [`with_defaults`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchyard_pgconn::ConnectError> {
//! let url = "postgres://app@db.internal/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem";
//! let client = switchyard_pgconn::connect(url).await?;
//! client.simple_query("SELECT 1").await?;
//! # Ok(()) }
//! ```

mod params;
mod tls;

use std::path::PathBuf;

use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

pub use params::SslMode;
pub use tls::client_config;

/// TLS settings for [`with_defaults`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub sslmode: Option<SslMode>,
    pub root_cert: Option<PathBuf>,
}

/// A connection to drive (`.await` it, or poll its messages).
pub type Connection = tokio_postgres::Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// Why a side connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connection string: {0}")]
    Params(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{}", describe_pg_error(.0))]
    Postgres(#[from] tokio_postgres::Error),
}

/// A one-line description of a driver error, for logs and operators:
/// tokio-postgres prints only "db error" or "error performing TLS
/// handshake", so say what the server said (severity, message, SQLSTATE,
/// detail, where), or the chain of causes.
pub fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; detail: {d}"));
        }
        if let Some(w) = db.where_() {
            s.push_str(&format!("; where: {w}"));
        }
        return s;
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Opens a connection and returns it undriven, for callers that poll its
/// messages (LISTEN).
pub async fn connect_raw(url: &str) -> Result<(Client, Connection), ConnectError> {
    let settings = params::split(url)?;
    let config = tls::client_config(settings.sslmode, settings.root_cert.as_deref())?;
    let mut pg: tokio_postgres::Config = settings.rest.parse()?;
    pg.ssl_mode(settings.sslmode.transport());
    let (client, connection) = pg.connect(MakeRustlsConnect::new(config)).await?;
    Ok((client, connection))
}

/// Opens a connection driven on a background task.
pub async fn connect(url: &str) -> Result<Client, ConnectError> {
    let (client, connection) = connect_raw(url).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "side connection ended");
        }
    });
    Ok(client)
}

/// `url` with `defaults` added where it names no TLS setting of its own (a
/// command's flags, the proxy's upstream settings).
pub fn with_defaults(url: &str, defaults: &TlsOptions) -> String {
    params::with_defaults(url, defaults)
}

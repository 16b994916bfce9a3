//! One client connection of the app: its prepared statements, and sending a
//! statement with either protocol while counting what went on the wire.

use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage, SimpleQueryRow, Statement};
use uuid::Uuid;

use crate::op::Protocol;
use crate::sql::{inline, Val};
use crate::stmt::{Prepared, Stmt};

/// Why an operation failed.
#[derive(Debug)]
pub(crate) enum OpError {
    /// The driver or the server reported an error.
    Pg(tokio_postgres::Error),
    /// The server answered, but not what the app expects (a row gone, a
    /// value that does not parse).
    Unexpected(String),
}

impl From<tokio_postgres::Error> for OpError {
    fn from(e: tokio_postgres::Error) -> Self {
        OpError::Pg(e)
    }
}

impl OpError {
    pub(crate) fn describe(&self) -> String {
        match self {
            OpError::Pg(e) => switchyard_pgconn::describe_pg_error(e),
            OpError::Unexpected(m) => m.clone(),
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) enum ConnectError {
    Pg(tokio_postgres::Error),
    TimedOut,
}

impl From<tokio_postgres::Error> for ConnectError {
    fn from(e: tokio_postgres::Error) -> Self {
        ConnectError::Pg(e)
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Pg(e) => f.write_str(&switchyard_pgconn::describe_pg_error(e)),
            ConnectError::TimedOut => f.write_str("timed out"),
        }
    }
}

/// Statements sent, by protocol.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WireCounts {
    pub(crate) extended: u64,
    pub(crate) simple: u64,
}

/// A connection with every [`Stmt`] (and the caller's extra statements) prepared.
pub(crate) struct Session {
    client: Client,
    prepared: Vec<Statement>,
    pub(crate) wire: WireCounts,
}

impl Session {
    pub(crate) async fn connect(url: &str) -> Result<Session, ConnectError> {
        Session::connect_with(url, &[]).await
    }

    /// Connects and prepares [`Stmt::ALL`], then `extra` in order: a
    /// [`Prepared`] statement's slot is its position in that sequence.
    pub(crate) async fn connect_with(url: &str, extra: &[&'static str]) -> Result<Session, ConnectError> {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("workload connection ended: {e}");
            }
        });
        let mut prepared = Vec::with_capacity(Stmt::ALL.len());
        for sql in Stmt::ALL.iter().map(|s| s.sql()).chain(extra.iter().copied()) {
            prepared.push(client.prepare(sql).await?);
        }
        Ok(Session { client, prepared, wire: WireCounts::default() })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn params<'a>(params: &'a [Val<'a>]) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect()
    }

    /// Runs a statement returning rows.
    pub(crate) async fn query(
        &mut self,
        proto: Protocol,
        stmt: impl Prepared,
        params: &[Val<'_>],
    ) -> Result<Rows, OpError> {
        match proto {
            Protocol::Extended => {
                self.wire.extended += 1;
                let rows = self.client.query(&self.prepared[stmt.slot()], &Self::params(params)).await?;
                Ok(Rows::Extended(rows))
            }
            Protocol::Simple => {
                self.wire.simple += 1;
                let msgs = self.client.simple_query(&inline(stmt.sql(), params)).await?;
                let rows = msgs
                    .into_iter()
                    .filter_map(|m| match m {
                        SimpleQueryMessage::Row(r) => Some(r),
                        _ => None,
                    })
                    .collect();
                Ok(Rows::Simple(rows))
            }
        }
    }

    /// Runs a statement and returns its command tag's row count.
    pub(crate) async fn execute(
        &mut self,
        proto: Protocol,
        stmt: impl Prepared,
        params: &[Val<'_>],
    ) -> Result<u64, OpError> {
        match proto {
            Protocol::Extended => {
                self.wire.extended += 1;
                Ok(self.client.execute(&self.prepared[stmt.slot()], &Self::params(params)).await?)
            }
            Protocol::Simple => {
                self.wire.simple += 1;
                let msgs = self.client.simple_query(&inline(stmt.sql(), params)).await?;
                Ok(last_count(&msgs))
            }
        }
    }

    /// Sends several statements in one Query message; returns each
    /// statement's row count.
    pub(crate) async fn batch(&mut self, sql: &str) -> Result<Vec<u64>, OpError> {
        self.wire.simple += 1;
        let msgs = self.client.simple_query(sql).await?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::CommandComplete(n) => Some(*n),
                _ => None,
            })
            .collect())
    }

    /// Ends a failed transaction block; errors are ignored (the connection
    /// may be gone, which the caller finds out by itself).
    pub(crate) async fn rollback(&mut self) {
        self.wire.simple += 1;
        let _ = self.client.simple_query("ROLLBACK").await;
    }
}

fn last_count(msgs: &[SimpleQueryMessage]) -> u64 {
    msgs.iter()
        .rev()
        .find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(0)
}

/// Rows from either protocol: typed (extended) or text (simple).
pub(crate) enum Rows {
    Extended(Vec<Row>),
    Simple(Vec<SimpleQueryRow>),
}

impl Rows {
    pub(crate) fn len(&self) -> usize {
        match self {
            Rows::Extended(r) => r.len(),
            Rows::Simple(r) => r.len(),
        }
    }

    pub(crate) fn uuid(&self, row: usize, col: usize) -> Result<Uuid, OpError> {
        self.opt_uuid(row, col)?.ok_or_else(|| OpError::Unexpected(format!("column {col} of row {row} is NULL")))
    }

    pub(crate) fn opt_uuid(&self, row: usize, col: usize) -> Result<Option<Uuid>, OpError> {
        match self {
            Rows::Extended(r) => Ok(r[row].try_get::<_, Option<Uuid>>(col)?),
            Rows::Simple(r) => match r[row].try_get(col)? {
                None => Ok(None),
                Some(s) => {
                    Uuid::parse_str(s).map(Some).map_err(|e| OpError::Unexpected(format!("{s:?} is not a uuid: {e}")))
                }
            },
        }
    }

    pub(crate) fn flag(&self, row: usize, col: usize) -> Result<bool, OpError> {
        match self {
            Rows::Extended(r) => Ok(r[row].try_get::<_, bool>(col)?),
            Rows::Simple(r) => match r[row].try_get(col)? {
                Some("t") => Ok(true),
                Some("f") => Ok(false),
                other => Err(OpError::Unexpected(format!("column {col} of row {row} is {other:?}, not a boolean"))),
            },
        }
    }

    pub(crate) fn text(&self, row: usize, col: usize) -> Result<String, OpError> {
        match self {
            Rows::Extended(r) => Ok(r[row].try_get::<_, String>(col)?),
            Rows::Simple(r) => r[row]
                .try_get(col)?
                .map(str::to_owned)
                .ok_or_else(|| OpError::Unexpected(format!("column {col} of row {row} is NULL"))),
        }
    }
}

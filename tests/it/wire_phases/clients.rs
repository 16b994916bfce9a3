//! One write form as a client sends it: by tokio-postgres prepared (extended
//! protocol, parameters bound), with the unnamed statement (`query_typed`)
//! or simple (literal SQL), and what that client saw, normalised so that the
//! proxy's answer and the twin's can be compared.

use futures_util::TryStreamExt;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row, SimpleQueryMessage};

use super::common::*;
use crate::support::fixture::refs;
use crate::support::write_forms::WriteForm;

/// How a client sends a form; psql runs a whole sequence in one session
/// (`wire_phases::psql`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Channel {
    Prepared,
    /// The unnamed statement: Parse, Bind, Describe, Execute and Sync at once
    /// (tokio-postgres `query_typed`), parameter types from the twin.
    Unnamed,
    Simple,
    Psql,
}

/// What a client saw.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Extended protocol: parameter types, result columns, rows, affected count.
    Prepared {
        params: Vec<String>,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        count: Option<u64>,
    },
    /// Simple protocol: per statement, its columns, rows and count.
    Simple {
        results: Vec<(Vec<String>, Vec<Vec<String>>, u64)>,
    },
    Error(String),
}

impl Outcome {
    pub fn refused(&self) -> bool {
        match self {
            Outcome::Error(code) => code == "0A000",
            _ => false,
        }
    }
}

/// Every row of a result stream, and the affected count its completion gave.
async fn drain(stream: tokio_postgres::RowStream) -> Result<(Vec<Row>, Option<u64>), tokio_postgres::Error> {
    futures_util::pin_mut!(stream);
    let mut rows = Vec::new();
    while let Some(r) = stream.try_next().await? {
        rows.push(r);
    }
    Ok((rows, stream.rows_affected()))
}

async fn run_prepared(c: &Client, f: &WriteForm) -> Outcome {
    let stmt = match c.prepare(f.sql).await {
        Ok(s) => s,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    let params = stmt.params().iter().map(|t| t.name().to_string()).collect();
    let columns = stmt.columns().iter().map(|c| format!("{} {}", c.name(), c.type_().name())).collect();
    let stream = match c.query_raw(&stmt, refs(&f.params)).await {
        Ok(s) => s,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    let (rows, count) = match drain(stream).await {
        Ok(r) => r,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    Outcome::Prepared { params, columns, rows: sorted_rows(&rows), count }
}

async fn run_unnamed(c: &Client, f: &WriteForm, types: &[Type]) -> Outcome {
    let params: Vec<(&(dyn tokio_postgres::types::ToSql + Sync), Type)> =
        refs(&f.params).into_iter().zip(types.iter().cloned()).collect();
    let stream = match c.query_typed_raw(f.sql, params).await {
        Ok(s) => s,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    let (rows, count) = match drain(stream).await {
        Ok(r) => r,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    let columns = rows
        .first()
        .map_or_else(Vec::new, |r| r.columns().iter().map(|c| format!("{} {}", c.name(), c.type_().name())).collect());
    Outcome::Prepared { params: Vec::new(), columns, rows: sorted_rows(&rows), count }
}

async fn run_simple(c: &Client, sql: &str) -> Outcome {
    let messages = match c.simple_query(sql).await {
        Ok(m) => m,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    let mut results = Vec::new();
    let (mut columns, mut rows) = (Vec::new(), Vec::new());
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => columns = cols.iter().map(|c| c.name().to_string()).collect(),
            SimpleQueryMessage::Row(r) => {
                rows.push((0..r.len()).map(|i| r.get(i).map_or("NULL".to_string(), norm_text)).collect::<Vec<_>>())
            }
            SimpleQueryMessage::CommandComplete(n) => {
                rows.sort();
                results.push((std::mem::take(&mut columns), std::mem::take(&mut rows), n));
            }
            _ => {}
        }
    }
    Outcome::Simple { results }
}

/// `f` sent by `channel` on `c`; the unnamed statement binds `types` (the
/// parameter types the twin infers).
pub async fn run(channel: Channel, c: &Client, f: &WriteForm, types: &[Type]) -> Outcome {
    match channel {
        Channel::Prepared => run_prepared(c, f).await,
        Channel::Unnamed => run_unnamed(c, f, types).await,
        Channel::Simple => run_simple(c, &f.literal_sql()).await,
        Channel::Psql => unreachable!("psql runs a whole sequence in one session"),
    }
}

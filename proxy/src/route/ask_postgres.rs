//! Asking PostgreSQL what legacy would have said about the client's own
//! text, without running it: the text is parsed (a Parse, never a Bind or an
//! Execute) on a side connection, where legacy `todos` exists in every
//! phase, and PostgreSQL's error, if any, is what a direct client would have
//! been told.
//!
//! Two answers need it, both only after an error came back (off the hot
//! path): a statement the rewriter cannot parse, refused with 0A000 where
//! PostgreSQL reports its own syntax error with a position; and an error of
//! a rewritten statement whose position counts in the proxy's SQL, where
//! legacy's counts in the client's. [`AskPostgres`] holds one side
//! connection for the whole proxy, opened on the first question and again
//! after it is lost; [`ErrorFields`] is an ErrorResponse's fields in the
//! order PostgreSQL sends them.
//! <https://www.postgresql.org/docs/current/protocol-error-fields.html>

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::sync::Mutex;
use tokio_postgres::error::{DbError, ErrorPosition};
use tokio_postgres::types::{Kind, Type};

use crate::protocol::{tags, write_message};

/// How long one question may take before the client gets the error as it came.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// An ErrorResponse's fields, (code, value), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields(pub Vec<(u8, String)>);

impl ErrorFields {
    /// The fields of an ErrorResponse body; None when malformed.
    pub fn parse(body: &[u8]) -> Option<ErrorFields> {
        let mut fields = Vec::new();
        let mut rest = body;
        loop {
            let (&code, tail) = rest.split_first()?;
            if code == 0 {
                return Some(ErrorFields(fields));
            }
            let end = tail.iter().position(|b| *b == 0)?;
            fields.push((code, String::from_utf8_lossy(&tail[..end]).into_owned()));
            rest = &tail[end + 1..];
        }
    }

    pub fn get(&self, code: u8) -> Option<&str> {
        self.0.iter().find(|(c, _)| *c == code).map(|(_, v)| v.as_str())
    }

    /// Sets a field's value in place, or drops the field when `value` is None.
    pub fn set(&mut self, code: u8, value: Option<String>) {
        match value {
            Some(v) => match self.0.iter_mut().find(|(c, _)| *c == code) {
                Some(field) => field.1 = v,
                None => self.0.push((code, v)),
            },
            None => self.0.retain(|(c, _)| *c != code),
        }
    }

    /// The whole ErrorResponse message.
    pub fn message(&self) -> BytesMut {
        let mut out = BytesMut::new();
        write_message(&mut out, tags::ERROR_RESPONSE, |b| {
            for (code, value) in &self.0 {
                b.put_u8(*code);
                b.put_slice(value.as_bytes());
                b.put_u8(0);
            }
            b.put_u8(0);
        });
        out
    }

    fn from_db(e: &DbError) -> ErrorFields {
        let mut f: Vec<(u8, String)> = vec![(b'S', e.severity().to_string())];
        let mut opt = |code: u8, v: Option<&str>| {
            if let Some(v) = v {
                f.push((code, v.to_string()));
            }
        };
        opt(b'V', e.parsed_severity().map(|s| s.to_string()).as_deref());
        opt(b'C', Some(e.code().code()));
        opt(b'M', Some(e.message()));
        opt(b'D', e.detail());
        opt(b'H', e.hint());
        match e.position() {
            Some(ErrorPosition::Original(p)) => opt(b'P', Some(&p.to_string())),
            Some(ErrorPosition::Internal { position, query }) => {
                opt(b'p', Some(&position.to_string()));
                opt(b'q', Some(query));
            }
            None => {}
        }
        opt(b'W', e.where_());
        opt(b's', e.schema());
        opt(b't', e.table());
        opt(b'c', e.column());
        opt(b'd', e.datatype());
        opt(b'n', e.constraint());
        opt(b'F', e.file());
        opt(b'L', e.line().map(|l| l.to_string()).as_deref());
        opt(b'R', e.routine());
        ErrorFields(f)
    }
}

/// The client's own statement as the proxy rewrote or refused it: its text,
/// for asking PostgreSQL what legacy would have said of its error, and its
/// result columns' origins
/// ([`AskPostgres::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientText {
    pub sql: String,
    pub param_types: Vec<u32>,
    /// Characters before the statement in the client's Query message:
    /// PostgreSQL counts a simple Query's error positions from its start.
    pub offset: usize,
    /// Refused because the rewriter cannot parse it: PostgreSQL's own error
    /// about the text, if it has one, replaces the refusal.
    pub refused: bool,
    /// Where its result columns come from, as the rewriter read them from
    /// the client's select list (for RowDescription, [`crate::route::row_origin`]).
    pub columns: Option<Vec<switchyard_rewriter::ColumnOrigin>>,
}

/// SQLSTATE `syntax_error`.
const SYNTAX_ERROR: &str = "42601";

/// The error legacy would have given for `text`, whose statement got the
/// error `body`, from PostgreSQL's `answer` about the client's text (None:
/// it could not be asked): for a refused text, PostgreSQL's own syntax
/// error; for a rewritten statement, the error with legacy's position when
/// PostgreSQL reports the same SQLSTATE, else with none rather than one in
/// the proxy's SQL. None: the error stays as it is.
pub fn legacy_error(text: &ClientText, answer: Option<Parsed>, body: &[u8]) -> Option<BytesMut> {
    let legacy = match answer {
        Some(Parsed::Rejected(mut e)) => {
            let shifted = e.get(b'P').and_then(|p| p.parse::<usize>().ok()).map(|p| (p + text.offset).to_string());
            e.set(b'P', shifted);
            Some(e)
        }
        _ => None,
    };
    if text.refused {
        // Only a syntax error: other errors depend on the session's state
        // (search_path, temporary tables), which the side connection that
        // was asked does not share.
        return legacy.filter(|e| e.get(b'C') == Some(SYNTAX_ERROR)).map(|e| e.message());
    }
    let mut fields = ErrorFields::parse(body)?;
    let position = legacy.filter(|e| e.get(b'C') == fields.get(b'C')).and_then(|e| e.get(b'P').map(str::to_string));
    fields.set(b'P', position);
    Some(fields.message())
}

/// What PostgreSQL said of the client's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Accepted,
    Rejected(ErrorFields),
}

/// The side connection questions are asked on.
pub struct AskPostgres {
    url: String,
    side: Mutex<Option<tokio_postgres::Client>>,
}

impl AskPostgres {
    /// Questions go to the database at `url` (the one the proxy serves).
    pub fn new(url: impl Into<String>) -> AskPostgres {
        AskPostgres { url: url.into(), side: Mutex::new(None) }
    }

    /// Parses `sql` with the client's parameter types (0: unspecified) and
    /// says whether PostgreSQL accepts it; None when it could not be asked.
    pub async fn parse(&self, sql: &str, param_types: &[u32]) -> Option<Parsed> {
        tokio::time::timeout(ASK_TIMEOUT, self.ask(sql, param_types)).await.ok().flatten()
    }

    async fn ask(&self, sql: &str, param_types: &[u32]) -> Option<Parsed> {
        let mut side = self.side.lock().await;
        if side.as_ref().is_none_or(|c| c.is_closed()) {
            *side = switchyard_pgconn::connect(&self.url)
                .await
                .inspect_err(|e| tracing::warn!(error = %e, "cannot ask PostgreSQL about a client's statement"))
                .ok();
        }
        let types: Vec<Type> = param_types.iter().map(|&oid| type_of(oid)).collect();
        match side.as_ref()?.prepare_typed(sql, &types).await {
            Ok(_) => Some(Parsed::Accepted),
            Err(e) => e.as_db_error().map(|db| Parsed::Rejected(ErrorFields::from_db(db))),
        }
    }
}

/// A parameter type by OID as the Parse sends it, known to the driver or not.
fn type_of(oid: u32) -> Type {
    Type::from_oid(oid).unwrap_or_else(|| Type::new(format!("oid_{oid}"), oid, Kind::Pseudo, "pg_catalog".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_fields_round_trip_and_change_in_place() {
        let body = b"SERROR\0C42601\0Msyntax error at end of input\0P51\0Fscan.l\0\0";
        let mut f = ErrorFields::parse(body).expect("fields");
        assert_eq!(f.get(b'P'), Some("51"));
        assert_eq!(&f.message()[5..], &body[..]);
        f.set(b'P', Some("7".into()));
        f.set(b'F', None);
        assert_eq!(&f.message()[5..], b"SERROR\0C42601\0Msyntax error at end of input\0P7\0\0");
        assert!(ErrorFields::parse(b"SERROR").is_none());
    }
}

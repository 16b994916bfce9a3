//! Decoding the client messages the proxy needs: Query, Parse, Bind,
//! Describe, Execute, Sync, Close, Terminate. Everything else is forwarded
//! without being decoded. Also the few the router writes itself to the
//! upstream in a client's place (Query, Parse, Bind, Execute, Close).
//! See <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use bytes::{BufMut, BytesMut};

use super::tags::*;
use super::{put_cstr, write_message, Cursor, ProtocolError};

/// A decoded frontend message borrowing from its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontendMessage<'a> {
    Query {
        sql: &'a str,
    },
    Parse {
        statement: &'a str,
        sql: &'a str,
        param_types: Vec<u32>,
    },
    /// Only the names are decoded; parameters stay raw for whoever needs them.
    Bind {
        portal: &'a str,
        statement: &'a str,
        rest: &'a [u8],
    },
    Describe {
        kind: u8,
        name: &'a str,
    },
    Execute {
        portal: &'a str,
        max_rows: i32,
    },
    Close {
        kind: u8,
        name: &'a str,
    },
    Sync,
    Flush,
    Terminate,
    /// A message the proxy does not decode.
    Other {
        tag: u8,
    },
}

/// Decodes the body of a frontend message with `tag`.
pub fn decode(tag: u8, body: &[u8]) -> Result<FrontendMessage<'_>, ProtocolError> {
    let mut c = Cursor::new(body);
    let msg = match tag {
        QUERY => FrontendMessage::Query { sql: c.cstr()? },
        PARSE => {
            let statement = c.cstr()?;
            let sql = c.cstr()?;
            // Unsigned, as PostgreSQL reads it: up to 65,535 parameters.
            let n = c.u16()?;
            let mut param_types = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                param_types.push(c.u32()?);
            }
            FrontendMessage::Parse { statement, sql, param_types }
        }
        BIND => {
            let portal = c.cstr()?;
            let statement = c.cstr()?;
            return Ok(FrontendMessage::Bind { portal, statement, rest: c.remaining() });
        }
        DESCRIBE | CLOSE => {
            let kind = c.u8()?;
            if kind != b'S' && kind != b'P' {
                return Err(ProtocolError::Invalid { what: "describe/close kind" });
            }
            let name = c.cstr()?;
            if tag == DESCRIBE {
                FrontendMessage::Describe { kind, name }
            } else {
                FrontendMessage::Close { kind, name }
            }
        }
        EXECUTE => FrontendMessage::Execute { portal: c.cstr()?, max_rows: c.i32()? },
        SYNC => FrontendMessage::Sync,
        FLUSH => FrontendMessage::Flush,
        TERMINATE => FrontendMessage::Terminate,
        other => return Ok(FrontendMessage::Other { tag: other }),
    };
    c.finish()?;
    Ok(msg)
}

/// A simple Query of `sql`.
pub fn write_query(out: &mut BytesMut, sql: &str) {
    write_message(out, QUERY, |b| put_cstr(b, sql.as_bytes()));
}

/// Parse of `sql` as statement `name` with the given parameter type OIDs.
pub fn write_parse(out: &mut BytesMut, name: &str, sql: &str, param_types: &[u32]) {
    write_message(out, PARSE, |b| {
        put_cstr(b, name.as_bytes());
        put_cstr(b, sql.as_bytes());
        // A Parse carries at most u16::MAX types (decoded from a u16 count).
        b.put_u16(u16::try_from(param_types.len()).unwrap_or(u16::MAX));
        for t in param_types {
            b.put_u32(*t);
        }
    });
}

/// Bind of `portal` to `statement`, with the rest of a Bind body (formats,
/// values, result formats) as the client sent it.
pub fn write_bind(out: &mut BytesMut, portal: &str, statement: &str, rest: &[u8]) {
    write_message(out, BIND, |b| {
        put_cstr(b, portal.as_bytes());
        put_cstr(b, statement.as_bytes());
        b.put_slice(rest);
    });
}

/// The rest of a Bind body with no parameters and default result formats.
pub const BIND_NOTHING: [u8; 6] = [0; 6];

/// Execute of `portal` with no row limit.
pub fn write_execute_all(out: &mut BytesMut, portal: &str) {
    write_message(out, EXECUTE, |b| {
        put_cstr(b, portal.as_bytes());
        b.put_i32(0);
    });
}

/// Close of a statement (`kind` b'S') or portal (b'P').
pub fn write_close(out: &mut BytesMut, kind: u8, name: &str) {
    write_message(out, CLOSE, |b| {
        b.put_u8(kind);
        put_cstr(b, name.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_parse_with_parameter_types() {
        let body = b"s1\0SELECT $1\0\0\x01\0\0\0\x17";
        assert_eq!(
            decode(PARSE, body),
            Ok(FrontendMessage::Parse { statement: "s1", sql: "SELECT $1", param_types: vec![23] })
        );
    }

    #[test]
    fn rejects_truncated_and_trailing_bytes() {
        assert_eq!(decode(QUERY, b"SELECT 1"), Err(ProtocolError::UnterminatedString));
        assert!(decode(EXECUTE, b"\0\0\0").is_err());
        assert!(decode(SYNC, b"x").is_err());
        assert!(decode(PARSE, b"\0q\0\xff\xff").is_err(), "65,535 types announced, none sent");
    }

    #[test]
    fn parse_counts_parameter_types_unsigned() {
        let mut body = b"s\0SELECT 1\0".to_vec();
        body.extend_from_slice(&40_000u16.to_be_bytes());
        body.extend(std::iter::repeat_n([0, 0, 0, 23], 40_000).flatten());
        match decode(PARSE, &body) {
            Ok(FrontendMessage::Parse { param_types, .. }) => assert_eq!(param_types.len(), 40_000),
            other => panic!("expected a Parse, got {other:?}"),
        }
    }
}

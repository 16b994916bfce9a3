//! Decoding the client messages the proxy (and later the rewriter) needs:
//! Query, Parse, Bind, Describe, Execute, Sync, Close, Terminate. Everything
//! else is forwarded without being decoded.
//! See <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use super::tags::*;
use super::{Cursor, ProtocolError};

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

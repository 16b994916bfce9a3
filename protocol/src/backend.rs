//! Decoding the server messages the proxy acts on (Authentication*,
//! BackendKeyData, ReadyForQuery, ErrorResponse, ParameterStatus) and
//! encoding the few it writes itself.
//! See <https://www.postgresql.org/docs/current/protocol-message-formats.html>
//! and <https://www.postgresql.org/docs/current/protocol-error-fields.html>.

use bytes::{BufMut, BytesMut};

use super::startup::MAX_CANCEL_KEY_LEN;
use super::tags::*;
use super::{put_cstr, write_message, Cursor, ProtocolError};

/// A decoded backend message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendMessage<'a> {
    /// An authentication request: its code and the code-specific data.
    Authentication {
        code: i32,
        data: &'a [u8],
    },
    BackendKeyData {
        pid: i32,
        secret: &'a [u8],
    },
    /// Transaction status: `I` idle, `T` in a transaction, `E` in a failed one.
    ReadyForQuery {
        status: u8,
    },
    ErrorResponse {
        fields: Vec<(u8, &'a str)>,
    },
    ParameterStatus {
        name: &'a str,
        value: &'a str,
    },
    Other {
        tag: u8,
    },
}

/// Decodes the body of a backend message with `tag`.
pub fn decode(tag: u8, body: &[u8]) -> Result<BackendMessage<'_>, ProtocolError> {
    let mut c = Cursor::new(body);
    let msg = match tag {
        AUTHENTICATION => return Ok(BackendMessage::Authentication { code: c.i32()?, data: c.remaining() }),
        BACKEND_KEY_DATA => {
            let pid = c.i32()?;
            let secret = c.remaining();
            if secret.len() < 4 || secret.len() > MAX_CANCEL_KEY_LEN {
                return Err(ProtocolError::Invalid { what: "cancel key length" });
            }
            return Ok(BackendMessage::BackendKeyData { pid, secret });
        }
        READY_FOR_QUERY => {
            let status = c.u8()?;
            if !matches!(status, b'I' | b'T' | b'E') {
                return Err(ProtocolError::Invalid { what: "transaction status" });
            }
            BackendMessage::ReadyForQuery { status }
        }
        ERROR_RESPONSE => BackendMessage::ErrorResponse { fields: decode_fields(&mut c)? },
        PARAMETER_STATUS => BackendMessage::ParameterStatus { name: c.cstr()?, value: c.cstr()? },
        other => return Ok(BackendMessage::Other { tag: other }),
    };
    c.finish()?;
    Ok(msg)
}

fn decode_fields<'a>(c: &mut Cursor<'a>) -> Result<Vec<(u8, &'a str)>, ProtocolError> {
    let mut fields = Vec::new();
    loop {
        let code = c.u8()?;
        if code == 0 {
            return Ok(fields);
        }
        fields.push((code, c.cstr()?));
    }
}

/// The SASL mechanisms of an AuthenticationSASL request, in order.
pub fn sasl_mechanisms(data: &[u8]) -> Result<Vec<&str>, ProtocolError> {
    let mut c = Cursor::new(data);
    let mut out = Vec::new();
    loop {
        let m = c.cstr()?;
        if m.is_empty() {
            c.finish()?;
            return Ok(out);
        }
        out.push(m);
    }
}

/// Severity of an error the proxy itself reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// Appends an ErrorResponse with severity, SQLSTATE and message.
pub fn error_response(buf: &mut BytesMut, severity: Severity, sqlstate: &str, message: &str) {
    write_message(buf, ERROR_RESPONSE, |b| {
        for (code, value) in [(b'S', severity.as_str()), (b'V', severity.as_str()), (b'C', sqlstate), (b'M', message)] {
            b.put_u8(code);
            put_cstr(b, value.as_bytes());
        }
        b.put_u8(0);
    });
}

/// Appends a BackendKeyData.
pub fn backend_key_data(buf: &mut BytesMut, pid: i32, secret: &[u8]) {
    write_message(buf, BACKEND_KEY_DATA, |b| {
        b.put_i32(pid);
        b.put_slice(secret);
    });
}

/// Appends an AuthenticationSASL offering `mechanisms`.
pub fn authentication_sasl(buf: &mut BytesMut, mechanisms: &[&str]) {
    write_message(buf, AUTHENTICATION, |b| {
        b.put_i32(AUTH_SASL);
        for m in mechanisms {
            put_cstr(b, m.as_bytes());
        }
        b.put_u8(0);
    });
}

/// Appends a ReadyForQuery.
pub fn ready_for_query(buf: &mut BytesMut, status: u8) {
    write_message(buf, READY_FOR_QUERY, |b| b.put_u8(status));
}

/// Appends a Terminate (a frontend message, sent by the proxy to the server).
pub fn terminate(buf: &mut BytesMut) {
    write_message(buf, TERMINATE, |_| {});
}

/// The SQLSTATE among an ErrorResponse's fields, if it has one.
pub fn sqlstate<'a>(fields: &[(u8, &'a str)]) -> Option<&'a str> {
    fields.iter().find(|(c, _)| *c == b'C').map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split_frame;

    #[test]
    fn error_response_round_trips() {
        let mut buf = BytesMut::new();
        error_response(&mut buf, Severity::Fatal, "08P01", "bad");
        let f = split_frame(&mut buf, 1000).expect("valid").expect("complete");
        match decode(f.tag, &f.body).expect("decodes") {
            BackendMessage::ErrorResponse { fields } => {
                assert!(fields.contains(&(b'C', "08P01")));
                assert!(fields.contains(&(b'S', "FATAL")));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn sasl_mechanism_lists_decode() {
        assert_eq!(
            sasl_mechanisms(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
            Ok(vec!["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])
        );
        assert!(sasl_mechanisms(b"SCRAM").is_err());
    }

    #[test]
    fn ready_for_query_validates_status() {
        assert_eq!(decode(READY_FOR_QUERY, b"T"), Ok(BackendMessage::ReadyForQuery { status: b'T' }));
        assert!(decode(READY_FOR_QUERY, b"x").is_err());
        assert!(decode(READY_FOR_QUERY, b"").is_err());
    }
}

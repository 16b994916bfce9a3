//! The untagged packets a connection opens with: StartupMessage, SSLRequest,
//! GSSENCRequest and CancelRequest.
//! See <https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP>
//! and <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use bytes::{BufMut, Bytes, BytesMut};

use super::tags::{CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE};
use super::{Cursor, ProtocolError};

/// PostgreSQL refuses startup packets longer than this (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_LEN: usize = 10_000;

/// The longest cancel key protocol 3.2 allows is 256 bytes.
pub const MAX_CANCEL_KEY_LEN: usize = 256;

/// One decoded startup-phase packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    Cancel {
        pid: i32,
        secret: Bytes,
    },
    /// A StartupMessage. `raw` is the whole packet as received, to forward.
    Startup {
        version: u32,
        params: Vec<(String, String)>,
        raw: Bytes,
    },
}

impl StartupPacket {
    /// The value of a startup parameter such as `user` or `database`.
    pub fn param(&self, name: &str) -> Option<&str> {
        match self {
            StartupPacket::Startup { params, .. } => params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

/// Splits and decodes one startup packet off the front of `buf`; `Ok(None)`
/// when more bytes are needed. Protocol versions other than 3.x are refused
/// (the server would refuse them too); minor versions pass through so the
/// server can negotiate them.
pub fn split_startup(buf: &mut BytesMut) -> Result<Option<StartupPacket>, ProtocolError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if len < 8 || len as usize > MAX_STARTUP_LEN {
        return Err(ProtocolError::BadLength(i64::from(len)));
    }
    let len = len as usize;
    if buf.len() < len {
        buf.reserve(len - buf.len());
        return Ok(None);
    }
    let raw = buf.split_to(len).freeze();
    decode_startup(raw).map(Some)
}

fn decode_startup(raw: Bytes) -> Result<StartupPacket, ProtocolError> {
    let mut c = Cursor::new(&raw[4..]);
    let code = c.u32()?;
    match code {
        SSL_REQUEST_CODE => {
            c.finish()?;
            Ok(StartupPacket::SslRequest)
        }
        GSSENC_REQUEST_CODE => {
            c.finish()?;
            Ok(StartupPacket::GssEncRequest)
        }
        CANCEL_REQUEST_CODE => {
            let pid = c.i32()?;
            let secret = c.remaining();
            if secret.len() < 4 || secret.len() > MAX_CANCEL_KEY_LEN {
                return Err(ProtocolError::Invalid { what: "cancel key length" });
            }
            Ok(StartupPacket::Cancel { pid, secret: Bytes::copy_from_slice(secret) })
        }
        version => {
            let (major, minor) = ((version >> 16) as u16, (version & 0xffff) as u16);
            if major != 3 {
                return Err(ProtocolError::UnsupportedVersion { major, minor });
            }
            let params = decode_params(&mut c)?;
            Ok(StartupPacket::Startup { version, params, raw })
        }
    }
}

fn decode_params(c: &mut Cursor<'_>) -> Result<Vec<(String, String)>, ProtocolError> {
    let mut params = Vec::new();
    loop {
        let name = c.cstr()?;
        if name.is_empty() {
            break;
        }
        let value = c.cstr()?;
        params.push((name.to_owned(), value.to_owned()));
    }
    c.finish()?;
    if !params.iter().any(|(k, _)| k == "user") {
        return Err(ProtocolError::Invalid { what: "startup packet: no user name" });
    }
    Ok(params)
}

/// Appends an SSLRequest.
pub fn ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_u32(SSL_REQUEST_CODE);
}

/// Appends a CancelRequest for the given backend key.
pub fn cancel_request(buf: &mut BytesMut, pid: i32, secret: &[u8]) {
    buf.put_i32((12 + secret.len()) as i32);
    buf.put_u32(CANCEL_REQUEST_CODE);
    buf.put_i32(pid);
    buf.put_slice(secret);
}

/// Appends a StartupMessage (tests and the readiness probe use it).
pub fn startup_message(buf: &mut BytesMut, version: u32, params: &[(&str, &str)]) {
    let start = buf.len();
    buf.put_i32(0);
    buf.put_u32(version);
    for (k, v) in params {
        super::put_cstr(buf, k.as_bytes());
        super::put_cstr(buf, v.as_bytes());
    }
    buf.put_u8(0);
    let len = (buf.len() - start) as i32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::PROTOCOL_3_0;

    #[test]
    fn decodes_a_startup_message_and_keeps_it_raw() {
        let mut buf = BytesMut::new();
        startup_message(&mut buf, PROTOCOL_3_0, &[("user", "alice"), ("database", "db")]);
        let copy = buf.clone().freeze();
        let p = split_startup(&mut buf).expect("valid").expect("complete");
        assert_eq!(p.param("user"), Some("alice"));
        assert_eq!(p.param("database"), Some("db"));
        match p {
            StartupPacket::Startup { raw, version, .. } => {
                assert_eq!(raw, copy);
                assert_eq!(version, PROTOCOL_3_0);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn refuses_bogus_versions_and_lengths() {
        let mut buf = BytesMut::new();
        startup_message(&mut buf, 0x0009_0000, &[("user", "a")]);
        assert_eq!(split_startup(&mut buf), Err(ProtocolError::UnsupportedVersion { major: 9, minor: 0 }));
        let mut buf = BytesMut::from(&[0x80u8, 0, 0, 0][..]);
        assert!(split_startup(&mut buf).is_err());
    }

    #[test]
    fn decodes_cancel_and_ssl_requests() {
        let mut buf = BytesMut::new();
        ssl_request(&mut buf);
        cancel_request(&mut buf, 42, &[1, 2, 3, 4]);
        assert_eq!(split_startup(&mut buf), Ok(Some(StartupPacket::SslRequest)));
        assert_eq!(
            split_startup(&mut buf),
            Ok(Some(StartupPacket::Cancel { pid: 42, secret: Bytes::from_static(&[1, 2, 3, 4]) }))
        );
    }
}

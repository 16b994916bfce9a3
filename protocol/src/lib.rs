//! # switchyard-protocol
//!
//! The PostgreSQL frontend/backend protocol 3.0 as pure functions over
//! buffers: framing, the startup packets, the few messages the proxy decodes
//! and the few it writes itself. Nothing here touches a socket
//! or a runtime (as rust-postgres keeps `postgres-protocol` apart from
//! `tokio-postgres`); `switchyard-proxy` does the I/O.
//!
//! Protocol reference: <https://www.postgresql.org/docs/current/protocol-message-formats.html>
//! and <https://www.postgresql.org/docs/current/protocol-flow.html>.
//!
//! Every decoder is bounds-checked through [`cursor::Cursor`] and returns a
//! [`ProtocolError`] instead of panicking: the input comes from the network.

pub mod backend;
pub mod bind;
mod cursor;
pub mod frontend;
pub mod startup;
pub mod tags;

use bytes::{Buf, BytesMut};

pub use cursor::Cursor;

/// Size of a regular message header: one tag byte and a four-byte length
/// that counts itself but not the tag.
pub const HEADER_LEN: usize = 5;

/// What is wrong with bytes that claim to be protocol messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("invalid message length {0}")]
    BadLength(i64),
    #[error("message of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("unexpected end of message")]
    Truncated,
    #[error("string is not null-terminated")]
    UnterminatedString,
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("unsupported frontend protocol {major}.{minor}")]
    UnsupportedVersion { major: u16, minor: u16 },
    #[error("invalid {what}")]
    Invalid { what: &'static str },
}

/// One complete message: its tag and its body (without the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub body: BytesMut,
}

/// A message header as announced by its first five bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub tag: u8,
    /// Length of the body, the header excluded.
    pub body_len: usize,
}

impl Header {
    /// Length of the whole message, tag and length word included.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.body_len
    }
}

/// Reads the header at the start of `buf` without consuming anything.
/// `Ok(None)` means fewer than five bytes are available. A length below four
/// or one whose body exceeds `max_body` is an error.
pub fn peek_header(buf: &[u8], max_body: usize) -> Result<Option<Header>, ProtocolError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if len < 4 {
        return Err(ProtocolError::BadLength(i64::from(len)));
    }
    // `len >= 4` so the cast is lossless.
    let body_len = len as usize - 4;
    if body_len > max_body {
        return Err(ProtocolError::TooLarge { len: body_len, max: max_body });
    }
    Ok(Some(Header { tag: head[0], body_len }))
}

/// Splits one complete message off the front of `buf`. `Ok(None)` means more
/// bytes are needed (and `buf` is left as it was, with room reserved for the
/// rest of the message). The body never exceeds `max_body` bytes.
pub fn split_frame(buf: &mut BytesMut, max_body: usize) -> Result<Option<Frame>, ProtocolError> {
    let Some(header) = peek_header(buf, max_body)? else {
        return Ok(None);
    };
    if buf.len() < header.frame_len() {
        buf.reserve(header.frame_len() - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let body = buf.split_to(header.body_len);
    Ok(Some(Frame { tag: header.tag, body }))
}

/// Appends a message with `tag` whose body `write_body` appends, patching the
/// length word afterwards.
pub fn write_message(buf: &mut BytesMut, tag: u8, write_body: impl FnOnce(&mut BytesMut)) {
    use bytes::BufMut;
    buf.put_u8(tag);
    let len_at = buf.len();
    buf.put_i32(0);
    write_body(buf);
    let len = (buf.len() - len_at) as i32;
    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends a null-terminated string.
pub fn put_cstr(buf: &mut BytesMut, s: &[u8]) {
    buf.extend_from_slice(s);
    buf.extend_from_slice(&[0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_frame_waits_for_the_whole_message() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x09SEL"[..]);
        assert_eq!(split_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(b"1\0");
        let f = split_frame(&mut buf, 100).expect("valid").expect("complete");
        assert_eq!(f.tag, b'Q');
        assert_eq!(&f.body[..], b"SEL1\0");
        assert!(buf.is_empty());
    }

    #[test]
    fn split_frame_rejects_short_negative_and_huge_lengths() {
        for len in [0i32, 3, -1, i32::MIN] {
            let mut buf = BytesMut::new();
            buf.extend_from_slice(b"Q");
            buf.extend_from_slice(&len.to_be_bytes());
            assert_eq!(split_frame(&mut buf, 100), Err(ProtocolError::BadLength(i64::from(len))));
        }
        let mut buf = BytesMut::from(&b"Q\x7f\xff\xff\xff"[..]);
        assert!(matches!(split_frame(&mut buf, 1 << 20), Err(ProtocolError::TooLarge { .. })));
    }
}

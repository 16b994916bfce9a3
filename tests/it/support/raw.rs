//! A minimal protocol-3.0 client over a TCP socket, for what real drivers
//! send and client libraries hide: Execute row limits, PortalSuspended,
//! every ErrorResponse field, RowDescription's table OIDs and attribute
//! numbers, BackendKeyData, 65,535 parameters, the unnamed statement reused,
//! pipelines read before their Sync. Trust authentication only (what the
//! test clusters use).

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One backend message: its tag and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Msg {
    /// A CommandComplete's tag, an ErrorResponse's code and message, or the tag letter.
    pub fn summary(&self) -> String {
        match self.tag {
            b'C' => format!("C {}", cstr(&self.body)),
            b'E' => {
                let f = error_fields(&self.body);
                format!("E {} {}", f.get(&'C').cloned().unwrap_or_default(), f.get(&'M').cloned().unwrap_or_default())
            }
            b'D' => format!("D {:?}", data_row(&self.body)),
            t => (t as char).to_string(),
        }
    }
}

/// A connection that has finished startup.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    /// The BackendKeyData the client was told: process id and secret.
    pub key: (i32, Vec<u8>),
}

impl Conn {
    /// Connects as the URL's user (`postgres://USER@HOST:PORT/DB`).
    pub async fn connect(url: &str) -> Conn {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (user, rest) = rest.split_once('@').expect("a user in the URL");
        let (addr, db) = rest.split_once('/').expect("a database in the URL");
        let db = db.split('?').next().unwrap_or(db);
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut c = Conn { stream, buf: BytesMut::new(), key: (0, Vec::new()) };
        let mut body = Vec::new();
        body.put_i32(196_608);
        for (k, v) in [("user", user), ("database", db)] {
            put_cstr(&mut body, k);
            put_cstr(&mut body, v);
        }
        body.put_u8(0);
        let mut packet = Vec::new();
        packet.put_i32(body.len() as i32 + 4);
        packet.extend_from_slice(&body);
        c.stream.write_all(&packet).await.expect("startup");
        loop {
            let m = c.read().await;
            match m.tag {
                b'R' => assert_eq!(&m.body[..4], &[0, 0, 0, 0], "only trust authentication is supported"),
                b'K' => {
                    c.key =
                        (i32::from_be_bytes(m.body[..4].try_into().expect("a 4-byte process id")), m.body[4..].to_vec())
                }
                b'E' => panic!("startup failed: {}", m.summary()),
                b'Z' => return c,
                _ => {}
            }
        }
    }

    pub async fn send(&mut self, frames: &[Vec<u8>]) {
        self.stream.write_all(&frames.concat()).await.expect("send");
    }

    pub async fn read(&mut self) -> Msg {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes(self.buf[1..5].try_into().expect("a 4-byte length")) as usize;
                if self.buf.len() > len {
                    let tag = self.buf.get_u8();
                    self.buf.advance(4);
                    let body = self.buf.split_to(len - 4).to_vec();
                    return Msg { tag, body };
                }
            }
            let n = self.stream.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "the server closed the connection");
        }
    }

    /// Every message up to and including the first whose tag is in `tags`.
    pub async fn until(&mut self, tags: &[u8]) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            let m = self.read().await;
            let done = tags.contains(&m.tag);
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// Every message up to and including the next ReadyForQuery.
    pub async fn until_ready(&mut self) -> Vec<Msg> {
        self.until(b"Z").await
    }

    /// Sends `frames` and returns the answer up to ReadyForQuery.
    pub async fn exchange(&mut self, frames: &[Vec<u8>]) -> Vec<Msg> {
        self.send(frames).await;
        self.until_ready().await
    }

    /// A simple query that must succeed; its DataRows as text.
    pub async fn simple(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        let answer = self.exchange(&[query(sql)]).await;
        if let Some(e) = answer.iter().find(|m| m.tag == b'E') {
            panic!("{sql}: {}", e.summary());
        }
        answer.iter().filter(|m| m.tag == b'D').map(|m| data_row(&m.body)).collect()
    }
}

fn put_cstr(b: &mut Vec<u8>, s: &str) {
    b.put_slice(s.as_bytes());
    b.put_u8(0);
}

fn frame(tag: u8, body: Vec<u8>) -> Vec<u8> {
    let mut f = Vec::with_capacity(body.len() + 5);
    f.put_u8(tag);
    f.put_i32(body.len() as i32 + 4);
    f.extend_from_slice(&body);
    f
}

pub fn query(sql: &str) -> Vec<u8> {
    let mut b = Vec::new();
    put_cstr(&mut b, sql);
    frame(b'Q', b)
}

/// Parse with parameter types (the count as PostgreSQL reads it: unsigned).
pub fn parse(name: &str, sql: &str, types: &[u32]) -> Vec<u8> {
    let mut b = Vec::new();
    put_cstr(&mut b, name);
    put_cstr(&mut b, sql);
    b.put_u16(u16::try_from(types.len()).expect("at most 65,535 types"));
    types.iter().for_each(|t| b.put_u32(*t));
    frame(b'P', b)
}

/// Bind of text parameters (None: NULL), results in text.
pub fn bind(portal: &str, statement: &str, values: &[Option<&str>]) -> Vec<u8> {
    let mut b = Vec::new();
    put_cstr(&mut b, portal);
    put_cstr(&mut b, statement);
    b.put_u16(0);
    b.put_u16(u16::try_from(values.len()).expect("at most 65,535 values"));
    for v in values {
        match v {
            Some(v) => {
                b.put_i32(v.len() as i32);
                b.put_slice(v.as_bytes());
            }
            None => b.put_i32(-1),
        }
    }
    b.put_u16(0);
    frame(b'B', b)
}

pub fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut b = vec![kind];
    put_cstr(&mut b, name);
    frame(b'D', b)
}

/// Close of a statement (`S`) or portal (`P`).
pub fn close(kind: u8, name: &str) -> Vec<u8> {
    let mut b = vec![kind];
    put_cstr(&mut b, name);
    frame(b'C', b)
}

pub fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut b = Vec::new();
    put_cstr(&mut b, portal);
    b.put_i32(max_rows);
    frame(b'E', b)
}

pub fn sync() -> Vec<u8> {
    frame(b'S', Vec::new())
}

/// Flush: the answers so far, without ending the implicit transaction.
pub fn flush() -> Vec<u8> {
    frame(b'H', Vec::new())
}

fn cstr(b: &[u8]) -> String {
    String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or_default()).into_owned()
}

/// A DataRow's values as text (the tests bind text results).
pub fn data_row(body: &[u8]) -> Vec<Option<String>> {
    let mut b = body;
    let n = b.get_u16();
    (0..n)
        .map(|_| {
            let len = b.get_i32();
            (len >= 0).then(|| {
                let v = String::from_utf8_lossy(&b[..len as usize]).into_owned();
                b.advance(len as usize);
                v
            })
        })
        .collect()
}

/// An ErrorResponse's or NoticeResponse's fields by their code letter.
pub fn error_fields(body: &[u8]) -> BTreeMap<char, String> {
    body.split(|c| *c == 0)
        .filter(|f| !f.is_empty())
        .map(|f| (f[0] as char, String::from_utf8_lossy(&f[1..]).into_owned()))
        .collect()
}

/// One RowDescription field: name, table OID, attribute number, type OID,
/// type size, type modifier, format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub table: u32,
    pub attnum: i16,
    pub type_oid: u32,
    pub size: i16,
    pub modifier: i32,
    pub format: i16,
}

pub fn row_description(body: &[u8]) -> Vec<Field> {
    let mut b = body;
    let n = b.get_u16();
    (0..n)
        .map(|_| {
            let name = cstr(b);
            b.advance(name.len() + 1);
            Field {
                name,
                table: b.get_u32(),
                attnum: b.get_i16(),
                type_oid: b.get_u32(),
                size: b.get_i16(),
                modifier: b.get_i32(),
                format: b.get_i16(),
            }
        })
        .collect()
}

/// Sends a CancelRequest for `key` to `url`'s host, as libpq does.
pub async fn cancel(url: &str, key: &(i32, Vec<u8>)) {
    let rest = url.split_once('@').map_or(url, |(_, r)| r);
    let addr = rest.split('/').next().unwrap_or(rest);
    let mut stream = TcpStream::connect(addr).await.expect("connect to cancel");
    let mut packet = Vec::new();
    packet.put_i32(12 + key.1.len() as i32);
    packet.put_i32(80_877_102);
    packet.put_i32(key.0);
    packet.put_slice(&key.1);
    stream.write_all(&packet).await.expect("cancel request");
    // The server answers by closing the connection.
    let _ = stream.read(&mut [0u8; 16]).await;
}

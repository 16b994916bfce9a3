//! The session loop over in-memory streams with a scripted upstream: the
//! interceptor seam, transaction-status tracking, streaming, dripped bytes.

use std::sync::{Arc, Mutex};

use bytes::{BufMut, BytesMut};
use switchyard_proxy::protocol::frontend::FrontendMessage;
use switchyard_proxy::protocol::{tags, write_message};
use switchyard_proxy::{Ended, Interceptor, Metrics, PassThrough, Session, SessionInfo, TxStatus, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

fn query(sql: &str) -> BytesMut {
    let mut b = BytesMut::new();
    write_message(&mut b, tags::QUERY, |b| {
        b.put_slice(sql.as_bytes());
        b.put_u8(0);
    });
    b
}

fn ready(status: u8) -> BytesMut {
    let mut b = BytesMut::new();
    write_message(&mut b, tags::READY_FOR_QUERY, |b| b.put_u8(status));
    b
}

/// Rewrites `SELECT 1` to `SELECT 2` and records the status it saw.
struct Rewrite(Arc<Mutex<Vec<(String, TxStatus)>>>);

impl Interceptor for Rewrite {
    fn tags(&self) -> &[u8] {
        &[tags::QUERY]
    }

    fn on_message(&mut self, message: &FrontendMessage<'_>, _: &[u8], session: &SessionInfo) -> Verdict {
        let FrontendMessage::Query { sql } = message else {
            return Verdict::Forward;
        };
        if let Ok(mut seen) = self.0.lock() {
            seen.push((sql.to_string(), session.tx_status));
        }
        if *sql == "SELECT 1" {
            Verdict::Replace(query("SELECT 2"))
        } else {
            Verdict::Forward
        }
    }
}

fn session(interceptor: Box<dyn Interceptor>) -> (DuplexStream, DuplexStream, tokio::task::JoinHandle<Ended>) {
    let (client, proxy_client_side) = tokio::io::duplex(64 * 1024);
    let (proxy_upstream_side, upstream) = tokio::io::duplex(64 * 1024);
    let s = Session::new(
        proxy_client_side,
        proxy_upstream_side,
        BytesMut::new(),
        BytesMut::new(),
        interceptor,
        1 << 20,
        Arc::new(Metrics::default()),
    );
    let task = tokio::spawn(async move { s.run(std::future::pending()).await.expect("session ends cleanly") });
    (client, upstream, task)
}

async fn read_exact(stream: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).await.expect("read");
    buf
}

#[tokio::test]
async fn the_interceptor_replaces_what_it_asks_for_and_sees_the_transaction_status() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (mut client, mut upstream, task) = session(Box::new(Rewrite(Arc::clone(&seen))));
    let mut sent = query("SELECT 1");
    sent.extend_from_slice(&[tags::SYNC, 0, 0, 0, 4]);
    client.write_all(&sent).await.expect("send");
    let mut expected = query("SELECT 2").to_vec();
    expected.extend_from_slice(&[tags::SYNC, 0, 0, 0, 4]);
    assert_eq!(read_exact(&mut upstream, expected.len()).await, expected);

    upstream.write_all(&ready(b'T')).await.expect("reply");
    assert_eq!(read_exact(&mut client, 6).await, ready(b'T').to_vec());
    client.write_all(&query("SELECT 3")).await.expect("send");
    assert_eq!(read_exact(&mut upstream, query("SELECT 3").len()).await, query("SELECT 3").to_vec());
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![("SELECT 1".to_owned(), TxStatus::Idle), ("SELECT 3".to_owned(), TxStatus::InTransaction)]
    );
    drop(client);
    assert_eq!(task.await.expect("task"), Ended::ClientClosed);
}

#[tokio::test]
async fn bytes_dripped_one_at_a_time_arrive_unchanged_both_ways() {
    let (mut client, mut upstream, task) = session(Box::new(PassThrough));
    let mut stream = BytesMut::new();
    for i in 0..50 {
        stream.extend_from_slice(&query(&format!("SELECT {i}")));
    }
    let mut copy = BytesMut::new();
    write_message(&mut copy, tags::COPY_DATA, |b| b.put_slice(&vec![7u8; 200_000]));
    stream.extend_from_slice(&copy);
    stream.extend_from_slice(&[tags::TERMINATE, 0, 0, 0, 4]);
    let expected = stream.to_vec();
    let writer = tokio::spawn(async move {
        for chunk in stream.chunks(1 + 997 % 13) {
            client.write_all(chunk).await.expect("drip");
        }
        client
    });
    assert_eq!(read_exact(&mut upstream, expected.len()).await, expected);
    let mut client = writer.await.expect("writer");
    let mut reply = BytesMut::new();
    for s in [b'I', b'T', b'E'] {
        reply.extend_from_slice(&ready(s));
    }
    for b in reply.iter() {
        upstream.write_all(&[*b]).await.expect("drip reply");
    }
    assert_eq!(read_exact(&mut client, reply.len()).await, reply.to_vec());
    drop(upstream);
    let ended = task.await.expect("task");
    assert_eq!(ended, Ended::UpstreamClosed);
}

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use switchyard_proxy::protocol::{split_frame, startup::startup_message, tags::PROTOCOL_3_0};
use switchyard_proxy::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::Client;

use super::common::{
    assert_alive, config, config_for, connect, describe, sqlstate, start_with, try_connect, TestProxy,
};
use crate::support;

/// Messages a raw connection received until the proxy closed it.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut buf = BytesMut::new();
    let read = async {
        loop {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("the proxy closes the connection");
    let mut frames = Vec::new();
    while let Ok(Some(f)) = split_frame(&mut buf, 1 << 20) {
        frames.push((f.tag, f.body.to_vec()));
    }
    frames
}

/// Messages a raw connection received up to and including ReadyForQuery.
async fn read_until_ready(stream: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    read_until_nth_ready(stream, 1).await
}

/// Messages up to and including the `n`th ReadyForQuery (the stream must
/// not have been read past an earlier one).
async fn read_until_nth_ready(stream: &mut TcpStream, n: usize) -> Vec<(u8, Vec<u8>)> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut seen = 0;
    let read = async {
        loop {
            while let Some(f) = split_frame(&mut buf, 1 << 20).expect("valid server messages") {
                frames.push((f.tag, f.body.to_vec()));
                if f.tag == b'Z' {
                    seen += 1;
                    if seen == n {
                        return;
                    }
                }
            }
            assert!(stream.read_buf(&mut buf).await.expect("read") > 0, "closed before ReadyForQuery");
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("ReadyForQuery in time");
    frames
}

/// The SQLSTATE of the first ErrorResponse among `frames`.
fn error_code(frames: &[(u8, Vec<u8>)]) -> Option<String> {
    let (_, body) = frames.iter().find(|(t, _)| *t == b'E')?;
    let mut fields = body.split(|&b| b == 0);
    fields.find(|f| f.first() == Some(&b'C')).map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
}

/// A raw connection through the proxy, past startup (trust auth).
async fn raw_session(proxy: &TestProxy, db: &str, app: &str) -> TcpStream {
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut buf = BytesMut::new();
    startup_message(&mut buf, PROTOCOL_3_0, &[("user", "postgres"), ("database", db), ("application_name", app)]);
    s.write_all(&buf).await.expect("startup");
    let mut buf = BytesMut::new();
    loop {
        while let Some(f) = split_frame(&mut buf, 1 << 20).expect("valid server messages") {
            assert_ne!(f.tag, b'E', "startup failed: {:?}", String::from_utf8_lossy(&f.body));
            if f.tag == b'Z' {
                return s;
            }
        }
        assert!(s.read_buf(&mut buf).await.expect("read") > 0, "closed during startup");
    }
}

async fn backends_named(observer: &Client, app: &str) -> i64 {
    observer
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&app])
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Waits until the upstream backends of `app` are gone.
async fn assert_backend_gone(observer: &Client, app: &str) {
    for _ in 0..100 {
        if backends_named(observer, app).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the upstream connection of {app} was not closed");
}

#[tokio::test]
async fn bad_input_closes_only_the_offending_client() {
    let db = support::empty_db().await;
    let mut cfg = config();
    cfg.max_message_size = 1 << 20;
    let proxy = start_with(cfg).await;
    let mut others = Vec::new();
    for _ in 0..50 {
        others.push(connect(&proxy.url(&db.name)).await);
    }
    let busy = {
        let clients = std::mem::take(&mut others);
        tokio::spawn(async move {
            for round in 0..5i32 {
                for c in &clients {
                    let v: i32 =
                        c.query_one("SELECT $1::int + 1", &[&round]).await.expect("a bystander's query").get(0);
                    assert_eq!(v, round + 1);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            clients
        })
    };

    // Garbage instead of a startup packet.
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("send");
    assert_eq!(error_code(&read_until_closed(&mut s).await).as_deref(), Some("08P01"), "garbage");

    // A startup packet with a bogus protocol version.
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut buf = BytesMut::new();
    startup_message(&mut buf, 0x0009_0000, &[("user", "postgres")]);
    s.write_all(&buf).await.expect("send");
    assert_eq!(error_code(&read_until_closed(&mut s).await).as_deref(), Some("0A000"), "bogus version");

    // A truncated startup packet, then the client goes away.
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(&[0, 0, 0, 100, 0, 3, 0, 0, b'u']).await.expect("send");
    s.shutdown().await.expect("half-close");
    assert_eq!(error_code(&read_until_closed(&mut s).await), None, "truncated startup");

    // A length of 2^31 in a session.
    let mut s = raw_session(&proxy, &db.name, "neg_len").await;
    s.write_all(&[b'Q', 0x80, 0, 0, 0]).await.expect("send");
    assert_eq!(error_code(&read_until_closed(&mut s).await).as_deref(), Some("08P01"), "length 2^31");
    assert_backend_gone(&db.client, "neg_len").await;

    // A length below four.
    let mut s = raw_session(&proxy, &db.name, "short_len").await;
    s.write_all(&[b'Q', 0, 0, 0, 2]).await.expect("send");
    assert_eq!(error_code(&read_until_closed(&mut s).await).as_deref(), Some("08P01"), "length 2");

    // A message larger than the configured maximum.
    let mut s = raw_session(&proxy, &db.name, "too_large").await;
    s.write_all(&[b'Q', 0x7f, 0xff, 0xff, 0xff]).await.expect("send");
    assert_eq!(error_code(&read_until_closed(&mut s).await).as_deref(), Some("54000"), "too large");
    assert_backend_gone(&db.client, "too_large").await;

    // A well-framed message with garbage inside is PostgreSQL's to judge:
    // it answers 08P01 and the session goes on.
    let mut s = raw_session(&proxy, &db.name, "bad_body").await;
    s.write_all(&[b'Q', 0, 0, 0, 7, b'S', b'E', b'L']).await.expect("send");
    assert_eq!(error_code(&read_until_ready(&mut s).await).as_deref(), Some("08P01"), "unterminated query string");
    s.write_all(b"Q\0\0\0\x0dSELECT 1\0").await.expect("send");
    let frames = read_until_ready(&mut s).await;
    assert!(frames.iter().any(|(t, _)| *t == b'D') && error_code(&frames).is_none(), "usable after: {frames:?}");

    // A client that disconnects in the middle of a message.
    let mut s = raw_session(&proxy, &db.name, "mid_message").await;
    let mut msg = BytesMut::new();
    msg.put_u8(b'Q');
    msg.put_i32(1000);
    msg.put_slice(b"SELECT 1 -- and then nothing");
    s.write_all(&msg).await.expect("send");
    drop(s);
    assert_backend_gone(&db.client, "mid_message").await;

    let clients = busy.await.expect("bystanders kept working");
    for c in &clients {
        assert_alive(c).await;
    }
    let metrics = proxy.handle.metrics();
    assert!(metrics.errors(ErrorKind::ClientProtocol) >= 3, "{}", metrics.render());
    assert_eq!(metrics.errors(ErrorKind::ClientMessageTooLarge), 1);
}

#[tokio::test]
async fn an_oversized_query_gets_54000_and_the_proxy_goes_on() {
    let db = support::empty_db().await;
    let mut cfg = config();
    cfg.max_message_size = 64 * 1024;
    let proxy = start_with(cfg).await;
    let client = connect(&proxy.url(&db.name)).await;
    let sql = format!("SELECT '{}'", "x".repeat(100 * 1024));
    let err = client.simple_query(&sql).await.expect_err("too large");
    assert_eq!(sqlstate(&err).as_deref(), Some("54000"), "{}", describe(&err));
    assert!(client.is_closed() || client.simple_query("SELECT 1").await.is_err(), "that client is closed");
    let fresh = connect(&proxy.url(&db.name)).await;
    let big = format!("SELECT '{}'", "x".repeat(60 * 1024));
    fresh.simple_query(&big).await.expect("below the limit passes");
}

#[tokio::test]
async fn an_unreachable_upstream_gives_08001_without_its_address() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let upstream = switchyard_proxy::Upstream::parse(&format!("postgres://127.0.0.1:{free}/x")).expect("url");
    let proxy = start_with(config_for(upstream)).await;
    let err = tokio::time::timeout(Duration::from_secs(30), try_connect(&proxy.url("x")))
        .await
        .expect("the client is answered, not left waiting")
        .expect_err("refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("08001"), "{}", describe(&err));
    let told = describe(&err);
    assert!(!told.contains(&free.to_string()) && !told.contains("127.0.0.1"), "the address leaked: {told}");
    assert!(!told.to_lowercase().contains("refused"), "the OS error leaked: {told}");
}

#[tokio::test]
async fn clients_beyond_the_limit_get_53300_until_reload_raises_it() {
    let db = support::empty_db().await;
    let mut cfg = config();
    cfg.max_client_connections = 2;
    let proxy = start_with(cfg.clone()).await;
    let a = connect(&proxy.url(&db.name)).await;
    let b = connect(&proxy.url(&db.name)).await;
    let err = try_connect(&proxy.url(&db.name)).await.expect_err("over the limit");
    assert_eq!(sqlstate(&err).as_deref(), Some("53300"), "{}", describe(&err));
    drop(b);
    let mut c = None;
    for _ in 0..100 {
        if let Ok(client) = try_connect(&proxy.url(&db.name)).await {
            c = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = c.expect("a slot frees up when a client leaves");
    cfg.max_client_connections = 3;
    proxy.handle.reload(&cfg).expect("reload");
    let d = connect(&proxy.url(&db.name)).await;
    for client in [&a, &c, &d] {
        assert_alive(client).await;
    }
}

#[tokio::test]
async fn an_upstream_killed_mid_query_fails_the_query_promptly_and_service_resumes() {
    let cluster = tokio::task::spawn_blocking(|| {
        switchyard_localpg::Cluster::start(&switchyard_localpg::ClusterOptions::default()).expect("dedicated cluster")
    })
    .await
    .expect("start task");
    let cluster = std::sync::Arc::new(cluster);
    let upstream = switchyard_proxy::Upstream::parse(&cluster.url("postgres")).expect("url");
    let proxy = start_with(config_for(upstream)).await;
    let client = connect(&proxy.url("postgres")).await;
    let query = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = std::sync::Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.stop().expect("stop")).await.expect("stop task");
    let result =
        tokio::time::timeout(Duration::from_secs(10), query).await.expect("the query ends promptly").expect("task");
    assert!(result.is_err(), "the query fails");
    let err = try_connect(&proxy.url("postgres")).await.expect_err("upstream down");
    assert!(matches!(sqlstate(&err).as_deref(), Some("08001") | Some("08006")), "{}", describe(&err));
    let c = std::sync::Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.restart().expect("restart")).await.expect("restart task");
    let again = connect(&proxy.url("postgres")).await;
    assert_alive(&again).await;
    drop(again);
    let c = std::sync::Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.stop()).await.expect("final stop").ok();
}

#[tokio::test]
async fn shutdown_stops_accepting_drains_then_closes_with_57p01() {
    let db = support::empty_db().await;
    let mut cfg = config();
    cfg.drain_timeout = Duration::from_millis(800);
    let proxy = start_with(cfg).await;
    let client = connect(&proxy.url(&db.name)).await;
    let url = proxy.url(&db.name);
    proxy.handle.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(try_connect(&url).await.is_err(), "no new clients after shutdown");
    assert_alive(&client).await;
    let TestProxy { task, .. } = proxy;
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("the proxy stops after draining").expect("task");
    let err = client.simple_query("SELECT 1").await.expect_err("closed after the drain timeout");
    assert!(client.is_closed() || matches!(sqlstate(&err).as_deref(), Some("57P01")), "closed: {}", describe(&err));
}

#[tokio::test]
async fn a_function_call_and_a_pipelined_startup_pass_through() {
    let db = support::empty_db().await;
    let proxy = super::common::start().await;
    let mut s = raw_session(&proxy, &db.name, "fcall").await;
    // FunctionCall int4pl(2, 3) (OID 177), arguments and result as text.
    let mut msg = BytesMut::new();
    switchyard_proxy::protocol::write_message(&mut msg, b'F', |b| {
        b.put_u32(177);
        b.put_i16(1);
        b.put_i16(0);
        b.put_i16(2);
        for arg in [b"2", b"3"] {
            b.put_i32(1);
            b.put_slice(arg);
        }
        b.put_i16(0);
    });
    s.write_all(&msg).await.expect("send");
    let frames = read_until_ready(&mut s).await;
    let (_, body) = frames.iter().find(|(t, _)| *t == b'V').expect("FunctionCallResponse");
    assert_eq!(&body[..], &[0, 0, 0, 1, b'5'], "{frames:?}");
    assert_eq!(error_code(&frames), None);

    // A client that sends its first query right behind its startup packet.
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut buf = BytesMut::new();
    startup_message(&mut buf, PROTOCOL_3_0, &[("user", "postgres"), ("database", &db.name)]);
    buf.extend_from_slice(b"Q\0\0\0\x0dSELECT 7\0");
    s.write_all(&buf).await.expect("send");
    let frames = read_until_nth_ready(&mut s, 2).await;
    let first_ready = frames.iter().position(|(t, _)| *t == b'Z').expect("ReadyForQuery");
    let (startup, answer) = frames.split_at(first_ready + 1);
    assert!(startup.iter().any(|(t, _)| *t == b'K'), "BackendKeyData during startup");
    let (_, row) = answer.iter().find(|(t, _)| *t == b'D').expect("DataRow");
    assert_eq!(&row[..], &[0, 1, 0, 0, 0, 1, b'7']);
}

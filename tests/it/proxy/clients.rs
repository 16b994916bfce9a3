use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::AsyncMessage;

use super::common::{assert_alive, connect, describe, sqlstate, start, start_with, try_connect};
use crate::support;

/// A value's binary wire format, whatever its type.
#[derive(Debug, PartialEq)]
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

const TYPED_ROW: &str = "SELECT gen_random_uuid() IS NOT NULL, '6f1c2b7e-9a7d-4d0e-8c55-3d1f5e2a9b10'::uuid,
    '{\"a\": [1, 2, {\"b\": null}], \"c\": \"ü\"}'::jsonb, ARRAY[1, 2, NULL, 4]::int[], ARRAY['x', 'y z']::text[],
    12345678901234567890.123456789::numeric, '-0.5'::numeric, 'NaN'::numeric,
    '2024-02-29 23:59:59.123456+05:30'::timestamptz, 'infinity'::timestamptz, NULL::text, '\\xdeadbeef'::bytea,
    3.25::float8, 9223372036854775807::int8, interval '1 year 2 days 03:04:05'";

#[tokio::test]
async fn binary_format_values_arrive_byte_for_byte_as_directly() {
    let db = support::empty_db().await;
    let proxy = start().await;
    let through = connect(&proxy.url(&db.name)).await;
    let direct: Vec<Raw> = {
        let row = db.client.query_one(TYPED_ROW, &[]).await.expect("direct");
        (0..row.len()).map(|i| row.get(i)).collect()
    };
    let proxied: Vec<Raw> = {
        let row = through.query_one(TYPED_ROW, &[]).await.expect("through the proxy");
        (0..row.len()).map(|i| row.get(i)).collect()
    };
    assert_eq!(proxied, direct);
    let (u, j, a): (uuid::Uuid, serde_json::Value, Vec<Option<i32>>) = {
        let row = through
            .query_one(
                "SELECT $1::uuid, $2::jsonb, $3::int[]",
                &[&uuid::Uuid::nil(), &serde_json::json!({"k": [true]}), &vec![Some(1), None]],
            )
            .await
            .expect("typed parameters");
        (row.get(0), row.get(1), row.get(2))
    };
    assert_eq!((u, j, a), (uuid::Uuid::nil(), serde_json::json!({"k": [true]}), vec![Some(1), None]));
}

#[tokio::test]
async fn pipelined_queries_come_back_in_order() {
    let db = support::empty_db().await;
    let proxy = start().await;
    let client = connect(&proxy.url(&db.name)).await;
    let stmt = client.prepare("SELECT $1::int * 2, repeat('x', $1::int)").await.expect("prepare");
    let queries = (0..200).map(|i| {
        let client = &client;
        let stmt = &stmt;
        async move { client.query_one(stmt, &[&i]).await }
    });
    let rows = futures_util::future::join_all(queries).await;
    for (i, row) in rows.into_iter().enumerate() {
        let row = row.expect("pipelined query");
        assert_eq!(row.get::<_, i32>(0), i as i32 * 2);
        assert_eq!(row.get::<_, String>(1).len(), i);
    }
}

#[tokio::test]
async fn prepared_statements_are_reused_and_transactions_work() {
    let db = support::legacy_db().await;
    let proxy = start().await;
    let mut client = connect(&proxy.url(&db.name)).await;
    let insert = client.prepare("INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id").await.expect("prepare");
    for i in 0..20 {
        client.query_one(&insert, &[&format!("u{i}@example.com"), &"n"]).await.expect("insert");
    }
    let tx = client.transaction().await.expect("begin");
    tx.execute("DELETE FROM users WHERE email LIKE 'u1%'", &[]).await.expect("delete");
    tx.rollback().await.expect("rollback");
    let n: i64 = client.query_one("SELECT count(*) FROM users", &[]).await.expect("count").get(0);
    assert_eq!(n, 20);
    let updated = client.execute("UPDATE users SET name = 'm' WHERE email LIKE 'u1%'", &[]).await.expect("update");
    assert_eq!(updated, 11, "command tags pass through (UPDATE 11)");
}

#[tokio::test]
async fn copy_in_and_copy_out_move_the_same_rows() {
    let db = support::empty_db().await;
    db.client.batch_execute("CREATE TABLE t (id int, body text)").await.expect("create");
    let proxy = start().await;
    let client = connect(&proxy.url(&db.name)).await;
    let sink = client.copy_in("COPY t FROM STDIN").await.expect("copy in");
    let mut sink = Box::pin(sink);
    let mut expected = String::new();
    for i in 0..5000 {
        let line = format!("{i}\tline {i} {}\n", "y".repeat(i % 300));
        expected.push_str(&line);
        sink.send(Bytes::from(line)).await.expect("send");
    }
    assert_eq!(sink.as_mut().finish().await.expect("finish"), 5000);
    let out = client.copy_out("COPY (SELECT * FROM t ORDER BY id) TO STDOUT").await.expect("copy out");
    let chunks: Vec<Bytes> = out.try_collect().await.expect("collect");
    let got: Vec<u8> = chunks.concat();
    assert_eq!(String::from_utf8(got).expect("utf8"), expected);
    let direct: i64 = db.client.query_one("SELECT count(*) FROM t", &[]).await.expect("count").get(0);
    assert_eq!(direct, 5000);
}

#[tokio::test]
async fn notifications_reach_a_listener_through_the_proxy() {
    let db = support::empty_db().await;
    let proxy = start().await;
    let (listener, mut conn) =
        tokio_postgres::connect(&proxy.url(&db.name), tokio_postgres::NoTls).await.expect("connect");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            if let AsyncMessage::Notification(n) = m {
                let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });
    listener.batch_execute("LISTEN jobs").await.expect("listen");
    let sender = connect(&proxy.url(&db.name)).await;
    sender.batch_execute("NOTIFY jobs, 'first'; SELECT pg_notify('jobs', 'second')").await.expect("notify");
    for expected in ["first", "second"] {
        let (channel, payload) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("notification in time")
            .expect("notification");
        assert_eq!((channel.as_str(), payload.as_str()), ("jobs", expected));
    }
}

#[tokio::test]
async fn cancelling_through_the_proxy_stops_the_running_query_and_only_it() {
    let db = support::empty_db().await;
    let proxy = start().await;
    let client = Arc::new(connect(&proxy.url(&db.name)).await);
    let bystander = connect(&proxy.url(&db.name)).await;
    let token = client.cancel_token();
    let sleeper = {
        let client = Arc::clone(&client);
        tokio::spawn(async move { client.simple_query("SELECT pg_sleep(3600)").await })
    };
    wait_until_running(&bystander, "SELECT pg_sleep(3600)").await;
    token.cancel_query(tokio_postgres::NoTls).await.expect("cancel request sent");
    // The sleep is an hour: the query ending at all is the cancel's doing.
    let result = tokio::time::timeout(Duration::from_secs(60), sleeper).await.expect("query ends").expect("task");
    let err = result.expect_err("the query is cancelled");
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{}", describe(&err));
    assert_alive(&client).await;
    assert_alive(&bystander).await;
}

/// Waits until PostgreSQL reports `query` as running, so that a cancel sent
/// next finds it there.
async fn wait_until_running(observer: &tokio_postgres::Client, query: &str) {
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1";
    for _ in 0..600 {
        let n: i64 = observer.query_one(sql, &[&query]).await.expect("pg_stat_activity").get(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{query} never started running");
}

#[tokio::test]
async fn a_cancel_with_a_wrong_key_cancels_nothing() {
    let db = support::empty_db().await;
    let proxy = start().await;
    let client = Arc::new(connect(&proxy.url(&db.name)).await);
    let query = {
        let client = Arc::clone(&client);
        tokio::spawn(async move { client.simple_query("SELECT pg_sleep(1.5)").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A CancelRequest with a made-up key: the proxy must not cancel anyone.
    let mut raw = tokio::net::TcpStream::connect(proxy.addr).await.expect("connect");
    let mut req = bytes::BytesMut::new();
    switchyard_proxy::protocol::startup::cancel_request(&mut req, 12345, b"nope");
    tokio::io::AsyncWriteExt::write_all(&mut raw, &req).await.expect("send");
    let result = query.await.expect("task");
    assert!(result.is_ok(), "the query finished normally: {:?}", result.err().map(|e| describe(&e)));
}

#[tokio::test]
async fn errors_keep_their_sqlstate_in_both_protocols() {
    let db = support::legacy_db().await;
    let proxy = start().await;
    let client = connect(&proxy.url(&db.name)).await;
    client.batch_execute("INSERT INTO users (email) VALUES ('dup@example.com')").await.expect("seed");
    let cases = [
        ("SELECT 1/0", "22012"),
        ("INSERT INTO users (email) VALUES ('dup@example.com')", "23505"),
        ("SELEC 1", "42601"),
        ("SELECT * FROM no_such_table", "42P01"),
        ("INSERT INTO todos (user_id, title) VALUES (gen_random_uuid(), 't')", "23503"),
        ("SELECT 'x'::int", "22P02"),
    ];
    for (sql, code) in cases {
        let simple = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&simple).as_deref(), Some(code), "simple {sql}: {}", describe(&simple));
        let extended = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(sqlstate(&extended).as_deref(), Some(code), "extended {sql}: {}", describe(&extended));
    }
    let direct = db.client.simple_query("SELECT 1/0").await.expect_err("direct");
    let proxied = client.simple_query("SELECT 1/0").await.expect_err("proxied");
    let (d, p) = (direct.as_db_error().expect("db"), proxied.as_db_error().expect("db"));
    assert_eq!((d.severity(), d.message(), d.routine()), (p.severity(), p.message(), p.routine()));
    assert_alive(&client).await;
}

#[tokio::test]
async fn password_users_log_in_with_scram_md5_and_cleartext() {
    let db = support::empty_db().await;
    let proxy = start().await;
    for (user, password, _) in switchyard_localpg::TEST_ROLES {
        let client = connect(&proxy.url_as(user, password, &db.name)).await;
        let who: String = client.query_one("SELECT current_user::text", &[]).await.expect("whoami").get(0);
        assert_eq!(&who, user);
    }
}

#[tokio::test]
async fn a_wrong_password_fails_with_28p01() {
    let db = support::empty_db().await;
    let proxy = start().await;
    for user in ["sy_scram", "sy_md5", "sy_password"] {
        let err = try_connect(&proxy.url_as(user, "wrong", &db.name)).await.expect_err("refused");
        assert_eq!(sqlstate(&err).as_deref(), Some("28P01"), "{user}: {}", describe(&err));
    }
    assert_alive(&connect(&proxy.url(&db.name)).await).await;
}

fn tls_client_config(cert_der: Vec<u8>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(cert_der)).expect("root");
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn a_client_with_sslmode_require_gets_tls_from_the_proxy() {
    let db = support::empty_db().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let mut config = super::common::config();
    config.tls_cert = Some(cert_path);
    config.tls_key = Some(key_path);
    let proxy = start_with(config).await;
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_client_config(cert.cert.der().to_vec()));
    let url = format!(
        "host=localhost port={} user=sy_scram password=scram-secret dbname={} sslmode=require",
        proxy.addr.port(),
        db.name
    );
    let (client, conn) =
        tokio_postgres::connect(&url, tls).await.unwrap_or_else(|e| panic!("TLS connect: {}", describe(&e)));
    tokio::spawn(conn);
    assert_alive(&client).await;
    // Without a certificate the proxy answers 'N', so sslmode=require fails.
    let plain = start().await;
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_client_config(cert.cert.der().to_vec()));
    let url = format!("host=localhost port={} user=postgres dbname={} sslmode=require", plain.addr.port(), db.name);
    assert!(tokio_postgres::connect(&url, tls).await.is_err(), "no TLS without a certificate");
}

#[tokio::test]
async fn two_hundred_concurrent_clients_are_all_answered() {
    let db = support::empty_db().await;
    let proxy = start().await;
    let url = proxy.url(&db.name);
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let url = url.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let client = connect(&url).await;
                barrier.wait().await;
                let mut sum = 0i64;
                for j in 0..10i64 {
                    sum += client
                        .query_one("SELECT $1::int8 + $2::int8", &[&(i as i64), &j])
                        .await
                        .expect("query")
                        .get::<_, i64>(0);
                }
                sum
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let sum = tokio::time::timeout(Duration::from_secs(60), t).await.expect("in time").expect("client task");
        assert_eq!(sum, 10 * i as i64 + 45);
    }
}

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{config, config_for, connect, start_with};
use crate::support;

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect to metrics");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("response");
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line");
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

#[tokio::test]
async fn metrics_count_connections_queries_bytes_and_latency() {
    let db = support::empty_db().await;
    let mut cfg = config();
    cfg.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    // Sessions on the caller's runtime rather than worker threads.
    cfg.workers = 0;
    let proxy = start_with(cfg).await;
    let addr = proxy.metrics_addr.expect("metrics listener");
    let client = connect(&proxy.url(&db.name)).await;
    for _ in 0..5 {
        client.simple_query("SELECT 1").await.expect("simple");
        client.query("SELECT $1::int", &[&1i32]).await.expect("extended");
    }
    let (status, m) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(value(&m, "switchyard_client_connections "), 1.0);
    assert_eq!(value(&m, "switchyard_upstream_connections "), 1.0);
    assert_eq!(value(&m, "switchyard_queries_total{protocol=\"simple\"} "), 5.0);
    assert!(value(&m, "switchyard_queries_total{protocol=\"extended\"} ") >= 5.0);
    assert!(value(&m, "switchyard_bytes_total{direction=\"client_to_upstream\"} ") > 0.0);
    assert!(value(&m, "switchyard_bytes_total{direction=\"upstream_to_client\"} ") > 0.0);
    assert!(value(&m, "switchyard_request_duration_seconds_count ") >= 10.0);
    assert!(m.contains("# HELP switchyard_errors_total"));
    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    assert_eq!(get(addr, "/nope").await.0, 404);
    drop(client);
    proxy.stop().await;
}

#[tokio::test]
async fn readyz_fails_while_the_upstream_does_not_answer() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut cfg = config_for(switchyard_proxy::Upstream::parse(&format!("127.0.0.1:{free}")).expect("url"));
    cfg.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let proxy = start_with(cfg).await;
    let addr = proxy.metrics_addr.expect("metrics listener");
    assert_eq!(get(addr, "/healthz").await.0, 200);
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
}

use std::net::SocketAddr;

use super::common::{config, config_for, connect, start_with};
use crate::support;

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    crate::support::http::get(addr.port(), path).await
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

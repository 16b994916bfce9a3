//! HTTP GETs against the endpoints the tests start (metrics, status page).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `GET path` on 127.0.0.1:`port`; the status code and the body.
pub async fn get(port: u16, path: &str) -> (u16, String) {
    try_get(port, path).await.unwrap_or_else(|e| panic!("GET 127.0.0.1:{port}{path}: {e}"))
}

/// [`get`], or why it failed (nothing listening yet, a broken response).
pub async fn try_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.map_err(|e| e.to_string())?;
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("no status line: {out}"))?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// The value of `series` (name and labels as rendered) in a /metrics body.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

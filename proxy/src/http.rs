//! A tiny HTTP/1.1 responder for `/metrics` (Prometheus text format),
//! `/healthz` (the process is up) and `/readyz` (the upstream answers and
//! the proxy is not shutting down). One request per connection.
//! See <https://prometheus.io/docs/instrumenting/exposition_formats/>.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::listener::Inner;

pub(crate) async fn serve(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(respond(stream, Arc::clone(&inner)));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn respond(mut stream: TcpStream, inner: Arc<Inner>) {
    let mut req = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            req.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if !matches!(tokio::time::timeout(Duration::from_secs(5), read).await, Ok(Ok(()))) {
        return;
    }
    let line = req.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, content_type, body) = if method != b"GET" {
        ("405 Method Not Allowed", "text/plain", "only GET\n".to_owned())
    } else {
        match path {
            b"/metrics" => ("200 OK", "text/plain; version=0.0.4", inner.metrics.render()),
            b"/healthz" => ("200 OK", "text/plain", "ok\n".to_owned()),
            b"/readyz" if inner.stopping() => ("503 Service Unavailable", "text/plain", "shutting down\n".to_owned()),
            b"/readyz" => match inner.connector.probe().await {
                Ok(()) => ("200 OK", "text/plain", "ready\n".to_owned()),
                Err(e) => ("503 Service Unavailable", "text/plain", format!("upstream: {e}\n")),
            },
            _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

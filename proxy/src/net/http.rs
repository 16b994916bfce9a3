//! A tiny HTTP/1.1 responder, one GET per connection. The proxy serves
//! `/metrics` (Prometheus text format), `/healthz` (the process is up),
//! `/readyz` (the upstream answers and the proxy is not shutting down), and
//! whatever an installed [`HttpHandler`] adds (the binary's status page and
//! the metrics of jobs it runs). CLI jobs serve their own handler with
//! [`serve_http`].
//! See <https://prometheus.io/docs/instrumenting/exposition_formats/>.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// One HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status line, e.g. `200 OK`.
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
}

impl HttpResponse {
    pub fn ok(content_type: &'static str, body: String) -> HttpResponse {
        HttpResponse { status: "200 OK", content_type, body }
    }

    pub(crate) fn text(status: &'static str, body: &str) -> HttpResponse {
        HttpResponse { status, content_type: "text/plain", body: body.to_owned() }
    }
}

/// A boxed future, so handlers can be trait objects.
pub type HttpFuture<'a> = Pin<Box<dyn Future<Output = Option<HttpResponse>> + Send + 'a>>;

/// Pages served over HTTP.
pub trait HttpHandler: Send + Sync + 'static {
    /// The response to `GET path` (query string removed), `None`: not found.
    fn get<'a>(&'a self, path: &'a str) -> HttpFuture<'a>;

    /// Series appended to the proxy's `/metrics` (Prometheus text format).
    fn metrics(&self) -> String {
        String::new()
    }
}

/// Serves `handler` on `listener` until the task is dropped.
pub async fn serve_http(listener: TcpListener, handler: Arc<dyn HttpHandler>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(respond(stream, Arc::clone(&handler)));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn respond(mut stream: TcpStream, handler: Arc<dyn HttpHandler>) {
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
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = String::from_utf8_lossy(target.split(|&b| b == b'?').next().unwrap_or_default()).into_owned();
    let response = if method != b"GET" {
        HttpResponse::text("405 Method Not Allowed", "only GET\n")
    } else {
        handler.get(&path).await.unwrap_or_else(|| HttpResponse::text("404 Not Found", "not found\n"))
    };
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(response.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

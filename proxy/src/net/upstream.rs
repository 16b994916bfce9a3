//! Connecting to the upstream PostgreSQL: TCP with a timeout, then the
//! SSLRequest dance for the configured sslmode
//! (<https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL>).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;

use crate::config::{SslMode, Upstream};
use crate::error::UpstreamError;
use crate::net::tls::{self, MaybeTls, TlsConfigError};
use crate::protocol::startup::ssl_request;

/// A connected upstream stream.
pub type UpstreamStream = MaybeTls<TcpStream>;

/// Opens connections to the upstream, the same way every time.
#[derive(Debug, Clone)]
pub struct Connector {
    upstream: Upstream,
    tls: Option<Arc<ClientConfig>>,
    timeout: Duration,
}

impl Connector {
    pub fn new(upstream: &Upstream, timeout: Duration) -> Result<Connector, TlsConfigError> {
        Ok(Connector { upstream: upstream.clone(), tls: tls::client_config(upstream)?, timeout })
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Connects and negotiates TLS per sslmode, within the connect timeout.
    pub async fn connect(&self) -> Result<UpstreamStream, UpstreamError> {
        let addr = self.upstream.addr();
        match tokio::time::timeout(self.timeout, self.connect_inner(&addr)).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout { addr, millis: self.timeout.as_millis() }),
        }
    }

    async fn connect_inner(&self, addr: &str) -> Result<UpstreamStream, UpstreamError> {
        let connect_err = |source| UpstreamError::Connect { addr: addr.to_owned(), source };
        let mut tcp =
            TcpStream::connect((self.upstream.host.as_str(), self.upstream.port)).await.map_err(connect_err)?;
        tcp.set_nodelay(true).map_err(connect_err)?;
        let Some(tls) = &self.tls else {
            return Ok(MaybeTls::Plain(tcp));
        };
        match ask_for_tls(&mut tcp).await.map_err(connect_err)? {
            b'S' => {}
            b'N' if self.upstream.sslmode == SslMode::Prefer => return Ok(MaybeTls::Plain(tcp)),
            b'N' => return Err(UpstreamError::TlsRefused),
            other => return Err(UpstreamError::BadSslResponse(other)),
        }
        let name = tls::server_name(&self.upstream.host)
            .ok_or_else(|| UpstreamError::ServerName(self.upstream.host.clone()))?;
        let stream =
            tokio_rustls::TlsConnector::from(Arc::clone(tls)).connect(name, tcp).await.map_err(UpstreamError::Tls)?;
        Ok(MaybeTls::Tls(Box::new(tokio_rustls::TlsStream::Client(stream))))
    }

    /// Whether a PostgreSQL answers at the upstream address: it must answer
    /// an SSLRequest with `S` or `N`. Opens no session.
    pub async fn probe(&self) -> Result<(), UpstreamError> {
        let addr = self.upstream.addr();
        let connect_err = |source| UpstreamError::Connect { addr: addr.clone(), source };
        let probe = async {
            let mut tcp =
                TcpStream::connect((self.upstream.host.as_str(), self.upstream.port)).await.map_err(connect_err)?;
            match ask_for_tls(&mut tcp).await.map_err(connect_err)? {
                b'S' | b'N' => Ok(()),
                other => Err(UpstreamError::BadSslResponse(other)),
            }
        };
        match tokio::time::timeout(self.timeout, probe).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout { addr: addr.clone(), millis: self.timeout.as_millis() }),
        }
    }
}

/// Sends an SSLRequest and returns the server's one-byte answer.
async fn ask_for_tls(tcp: &mut TcpStream) -> std::io::Result<u8> {
    let mut req = BytesMut::with_capacity(8);
    ssl_request(&mut req);
    tcp.write_all(&req).await?;
    tcp.read_u8().await
}

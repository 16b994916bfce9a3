//! The listening side: [`Proxy`] accepts clients, enforces the connection
//! limit, runs one task per session, and shuts down gracefully (stop
//! accepting, drain, then close what is left with 57P01). [`ProxyHandle`]
//! controls a running proxy: shutdown, reload, metrics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::rustls::ServerConfig;
use tracing::{debug, error, info, warn, Instrument};

use crate::config::Config;
use crate::error::{ErrorSource, SessionError};
use crate::metrics::{ErrorKind, Gauge, GaugeGuard, Metrics};
use crate::net::cancel::{send_cancel, CancelMap};
use crate::net::http::{HttpFuture, HttpHandler, HttpResponse, METRICS_CONTENT_TYPE};
use crate::net::startup::{self, Authenticated};
use crate::net::tls::{self, TlsConfigError};
use crate::net::upstream::Connector;
use crate::protocol::startup::StartupPacket;
use crate::session::intercept::{InterceptorFactory, PassThrough};
use crate::session::Session;

/// Why the proxy could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
}

/// The settings a SIGHUP may change; each applies to connections accepted
/// afterwards (and the drain timeout to the next shutdown).
#[derive(Debug, Clone)]
struct Reloadable {
    tls: Option<Arc<ServerConfig>>,
    max_client_connections: usize,
    max_message_size: usize,
    startup_timeout: Duration,
    drain_timeout: Duration,
}

impl Reloadable {
    fn from(config: &Config) -> Result<Reloadable, TlsConfigError> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
            _ => None,
        };
        Ok(Reloadable {
            tls,
            max_client_connections: config.max_client_connections,
            max_message_size: config.max_message_size,
            startup_timeout: config.startup_timeout,
            drain_timeout: config.drain_timeout,
        })
    }
}

struct Inner {
    pub(crate) connector: Connector,
    settings: RwLock<Reloadable>,
    pub(crate) metrics: Arc<Metrics>,
    cancel: Arc<CancelMap>,
    interceptor: RwLock<InterceptorFactory>,
    /// More pages and metrics on the metrics port.
    http_handler: RwLock<Option<Arc<dyn HttpHandler>>>,
    /// Client sessions past startup, counted against the limit.
    active: AtomicUsize,
    next_id: AtomicU64,
    /// Set to stop accepting.
    stop: watch::Sender<bool>,
    /// Set to close the remaining sessions.
    kill: watch::Sender<bool>,
}

impl Inner {
    fn settings(&self) -> Reloadable {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    pub(crate) fn http_handler(&self) -> Option<Arc<dyn HttpHandler>> {
        self.http_handler.read().ok().and_then(|h| h.clone())
    }
}

/// A bound, not yet running, proxy.
pub struct Proxy {
    /// Kept as a std listener until `run`, so it can be cloned for workers
    /// and still served on the caller's runtime if no worker starts.
    listener: std::net::TcpListener,
    metrics_listener: Option<TcpListener>,
    inner: Arc<Inner>,
    workers: usize,
}

/// Controls a running [`Proxy`]; cheap to clone.
#[derive(Clone)]
pub struct ProxyHandle {
    inner: Arc<Inner>,
}

impl Proxy {
    /// Binds the client (and metrics) listeners and prepares TLS.
    pub async fn bind(config: Config) -> Result<Proxy, ProxyError> {
        let listener = std::net::TcpListener::bind(config.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| ProxyError::Bind { addr: config.listen, source })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| ProxyError::Bind { addr, source })?),
            None => None,
        };
        let passthrough: InterceptorFactory = Arc::new(|| Box::new(PassThrough));
        let inner = Inner {
            connector: Connector::new(&config.upstream, config.connect_timeout)?,
            settings: RwLock::new(Reloadable::from(&config)?),
            metrics: Arc::new(Metrics::default()),
            cancel: Arc::new(CancelMap::default()),
            interceptor: RwLock::new(passthrough),
            http_handler: RwLock::new(None),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            stop: watch::Sender::new(false),
            kill: watch::Sender::new(false),
        };
        Ok(Proxy { listener, metrics_listener, inner: Arc::new(inner), workers: config.workers })
    }

    /// Installs what builds each new session's [`crate::Interceptor`].
    pub fn with_interceptor(self, factory: InterceptorFactory) -> Proxy {
        if let Ok(mut f) = self.inner.interceptor.write() {
            *f = factory;
        }
        self
    }

    /// Adds `handler`'s pages and metrics to the metrics port.
    pub fn with_http_handler(self, handler: Arc<dyn HttpHandler>) -> Proxy {
        if let Ok(mut h) = self.inner.http_handler.write() {
            *h = Some(handler);
        }
        self
    }

    /// The address clients connect to (useful after binding port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The metrics endpoint's address, when configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn handle(&self) -> ProxyHandle {
        ProxyHandle { inner: Arc::clone(&self.inner) }
    }

    /// Serves until [`ProxyHandle::shutdown`], then drains: sessions get
    /// the drain timeout to finish, the rest are told 57P01 and closed.
    ///
    /// With `workers > 0` (the default: one per CPU) each worker is an OS
    /// thread with its own single-threaded runtime accepting from the same
    /// socket, and a session lives on the worker that accepted it: no
    /// cross-thread wake-ups on the hot path. With `workers = 0` sessions
    /// run on the caller's runtime.
    pub async fn run(self) {
        let Proxy { listener, metrics_listener, inner, workers } = self;
        let http = metrics_listener.map(|l| {
            let routes: Arc<dyn HttpHandler> = Arc::new(ProxyRoutes(Arc::clone(&inner)));
            tokio::spawn(crate::net::http::serve_http(l, routes))
        });
        let unserved = if workers == 0 { Some(listener) } else { run_workers(listener, &inner, workers).await };
        if let Some(listener) = unserved {
            match TcpListener::from_std(listener) {
                Ok(l) => accept_loop(l, Arc::clone(&inner)).await,
                Err(e) => error!(error = %e, "cannot listen on this runtime; the proxy stops"),
            }
        }
        if let Some(h) = http {
            h.abort();
        }
        info!("proxy stopped");
    }
}

/// Runs `n` worker threads, each accepting from a clone of `listener`, until
/// they have drained. Gives the listener back when no worker could start, so
/// the caller serves on its own runtime instead of stopping.
async fn run_workers(
    std_listener: std::net::TcpListener,
    inner: &Arc<Inner>,
    n: usize,
) -> Option<std::net::TcpListener> {
    let mut done = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let cloned = match std_listener.try_clone() {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "cannot clone the listener for a worker");
                continue;
            }
        };
        let inner = Arc::clone(inner);
        let spawned = std::thread::Builder::new().name(format!("switchyard-worker-{i}")).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(async move {
                    match TcpListener::from_std(cloned) {
                        Ok(l) => accept_loop(l, inner).await,
                        Err(e) => warn!(error = %e, "worker cannot listen"),
                    }
                }),
                Err(e) => warn!(error = %e, "worker runtime failed to start"),
            }
            drop(tx);
        });
        match spawned {
            Ok(_) => done.push(rx),
            Err(e) => warn!(error = %e, "cannot start a worker thread"),
        }
    }
    if done.is_empty() {
        warn!("no worker started; serving on this runtime");
        return Some(std_listener);
    }
    drop(std_listener);
    for rx in done {
        let _ = rx.await;
    }
    None
}

/// Accepts clients until shutdown, then drains this loop's sessions.
async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    let mut sessions = JoinSet::new();
    let mut stop = inner.stop.subscribe();
    loop {
        tokio::select! {
            () = until_set(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let id = inner.next_id.fetch_add(1, Relaxed);
                    let span = tracing::info_span!("conn", id, %peer, user = tracing::field::Empty, db = tracing::field::Empty);
                    sessions.spawn(handle_client(Arc::clone(&inner), tcp).instrument(span));
                }
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    let drain = inner.settings().drain_timeout;
    info!(sessions = sessions.len(), drain_secs = drain.as_secs_f64(), "stopped accepting; draining sessions");
    let deadline = tokio::time::sleep(drain);
    tokio::pin!(deadline);
    while !sessions.is_empty() {
        tokio::select! {
            () = &mut deadline => break,
            _ = sessions.join_next() => {}
        }
    }
    if !sessions.is_empty() {
        info!(sessions = sessions.len(), "drain timeout reached; closing the remaining sessions");
        inner.kill.send_replace(true);
        let _ =
            tokio::time::timeout(Duration::from_secs(2), async { while sessions.join_next().await.is_some() {} }).await;
        sessions.abort_all();
    }
}

impl ProxyHandle {
    /// Stops accepting and starts draining; [`Proxy::run`] returns when done.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }

    /// Applies the reloadable settings of `config`: client TLS, connection
    /// limit, maximum message size, startup and drain timeouts. The listen
    /// and upstream addresses are not reloadable (cancel keys and open
    /// sessions are tied to them); changing them needs a restart.
    pub fn reload(&self, config: &Config) -> Result<(), ProxyError> {
        let next = Reloadable::from(config)?;
        if let Ok(mut s) = self.inner.settings.write() {
            *s = next;
        }
        Ok(())
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.inner.metrics)
    }

    /// Client sessions past their startup packet.
    pub fn active_sessions(&self) -> usize {
        self.inner.active.load(Relaxed)
    }
}

/// Counts a session against the limit while alive.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn take_slot(active: &AtomicUsize, max: usize) -> Option<Slot<'_>> {
    active.fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1)).ok().map(|_| Slot(active))
}

async fn handle_client(inner: Arc<Inner>, tcp: TcpStream) {
    let _gauge = GaugeGuard::new(&inner.metrics, Gauge::ClientConnections);
    inner.metrics.client_connections_total.fetch_add(1, Relaxed);
    let _ = tcp.set_nodelay(true);
    match serve_client(&inner, tcp).await {
        Ok(()) => debug!("connection closed"),
        Err(e) => {
            inner.metrics.error(e.kind());
            match e {
                SessionError::Io(ErrorSource::Client(_)) | SessionError::StartupTimeout => {
                    debug!(error = %e, "connection closed")
                }
                _ => info!(error = %e, kind = e.kind().label(), "connection closed"),
            }
        }
    }
}

async fn serve_client(inner: &Arc<Inner>, tcp: TcpStream) -> Result<(), SessionError> {
    let settings = inner.settings();
    let mut client_buf = BytesMut::with_capacity(8 * 1024);
    let negotiated =
        tokio::time::timeout(settings.startup_timeout, startup::negotiate(tcp, settings.tls.clone(), &mut client_buf))
            .await;
    let (mut client, packet) = negotiated.map_err(|_| SessionError::StartupTimeout)??;
    let raw = match packet {
        StartupPacket::Cancel { pid, secret } => return forward_cancel(inner, pid, &secret).await,
        StartupPacket::Startup { raw, ref params, .. } => {
            let span = tracing::Span::current();
            for (k, v) in params {
                match k.as_str() {
                    "user" => span.record("user", v.as_str()),
                    "database" => span.record("db", v.as_str()),
                    _ => &span,
                };
            }
            raw
        }
        StartupPacket::SslRequest | StartupPacket::GssEncRequest => return Err(SessionError::UnexpectedTls),
    };
    let Some(_slot) = take_slot(&inner.active, settings.max_client_connections) else {
        let e = SessionError::TooManyClients(settings.max_client_connections);
        startup::report(&mut client, &e).await;
        return Err(e);
    };
    let mut upstream = match inner.connector.connect().await {
        Ok(u) => u,
        Err(e) => {
            let e = SessionError::Upstream(e);
            startup::report(&mut client, &e).await;
            return Err(e);
        }
    };
    let _upstream_gauge = GaugeGuard::new(&inner.metrics, Gauge::UpstreamConnections);
    let sent = async {
        upstream.write_all(&raw).await?;
        upstream.flush().await
    };
    sent.await.map_err(|e| SessionError::Io(ErrorSource::Upstream(e)))?;
    let mut upstream_buf = BytesMut::with_capacity(8 * 1024);
    let auth = startup::relay_auth(
        &mut client,
        &mut client_buf,
        &mut upstream,
        &mut upstream_buf,
        &inner.cancel,
        settings.max_message_size,
    );
    let auth = match tokio::time::timeout(settings.startup_timeout, auth).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            startup::report(&mut client, &e).await;
            return Err(e);
        }
        Err(_) => return Err(SessionError::StartupTimeout),
    };
    let Authenticated::Ready(_registration) = auth else {
        return Ok(());
    };
    debug!("session started");
    let interceptor = match inner.interceptor.read() {
        Ok(f) => f(),
        Err(poisoned) => (poisoned.into_inner())(),
    };
    let session = Session::new(
        client,
        upstream,
        client_buf,
        upstream_buf,
        interceptor,
        settings.max_message_size,
        Arc::clone(&inner.metrics),
    );
    let mut kill = inner.kill.subscribe();
    let killed = async move { until_set(&mut kill).await };
    session.run(killed).await.map(|_| ())
}

/// Completes once the flag is set; never if its sender is gone.
async fn until_set(rx: &mut watch::Receiver<bool>) {
    let gone = rx.wait_for(|v| *v).await.is_err();
    if gone {
        std::future::pending::<()>().await;
    }
}

async fn forward_cancel(inner: &Inner, pid: i32, secret: &[u8]) -> Result<(), SessionError> {
    let Some(key) = inner.cancel.lookup(pid, secret) else {
        inner.metrics.error(ErrorKind::Cancel);
        debug!(pid, "cancel request with an unknown key ignored");
        return Ok(());
    };
    debug!(pid, "forwarding a cancel request");
    if let Err(e) = send_cancel(&inner.connector, &key).await {
        inner.metrics.error(ErrorKind::Cancel);
        warn!(error = %e, "forwarding a cancel request failed");
    }
    Ok(())
}

/// The proxy's own endpoints, then the installed handler's.
struct ProxyRoutes(Arc<Inner>);

impl HttpHandler for ProxyRoutes {
    fn get<'a>(&'a self, path: &'a str) -> HttpFuture<'a> {
        Box::pin(async move {
            let inner = &self.0;
            let extra = inner.http_handler();
            Some(match path {
                "/metrics" => {
                    let mut body = inner.metrics.render();
                    if let Some(h) = &extra {
                        body.push_str(&h.metrics());
                    }
                    HttpResponse::ok(METRICS_CONTENT_TYPE, body)
                }
                "/healthz" => HttpResponse::text("200 OK", "ok\n"),
                "/readyz" if inner.stopping() => HttpResponse::text("503 Service Unavailable", "shutting down\n"),
                "/readyz" => match inner.connector.probe().await {
                    Ok(()) => HttpResponse::text("200 OK", "ready\n"),
                    Err(e) => HttpResponse::text("503 Service Unavailable", &format!("upstream: {e}\n")),
                },
                _ => match &extra {
                    Some(h) => h.get(path).await?,
                    None => return None,
                },
            })
        })
    }
}

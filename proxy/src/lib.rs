//! # switchyard-proxy
//!
//! The PostgreSQL wire-protocol proxy that applications connect to instead
//! of PostgreSQL: one upstream connection per client (session mode),
//! authentication relayed (trust, password, md5, SCRAM-SHA-256) so the proxy
//! never holds users' passwords, cancel requests mapped through proxy-owned
//! keys, TLS on both sides. Traffic that cannot touch the migrated table is
//! forwarded as raw bytes; the rest goes through an [`Interceptor`], which in
//! `switchyard serve` is the router ([`route`]): it plans each statement with
//! the rewriter for the session's phase, and the response fix-up
//! gives the client back the replies its own statement would have had.
//!
//! ## Layout (the data flow, outside in)
//! - [`net`]: sockets. [`Proxy`] and [`ProxyHandle`] accept clients; the
//!   startup relay authenticates them against their own upstream; cancel
//!   requests, TLS, the HTTP endpoints.
//! - [`session`]: the steady-state forwarding loop of one client, generic over
//!   `AsyncRead + AsyncWrite`, and the [`Interceptor`] seam it calls.
//! - [`route`]: the router behind that seam (`switchyard serve`'s
//!   interceptor): plans, the phase gate, the reply fix-up, legacy's names.
//! - [`shadow`]: sampled reads compared on side connections, off the client's path.
//! - [`protocol`] (the `switchyard-protocol` crate): the wire protocol as
//!   pure functions over buffers (framing, startup packets, the messages the
//!   proxy decodes or writes), no I/O, no runtime.
//! - `config`, `metrics` (every exported series and its labels), `error`.
//!
//! ## Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use switchyard_proxy::{Config, Proxy, Upstream};
//! let config = Config::new("127.0.0.1:6432".parse()?, Upstream::parse("postgres://127.0.0.1:5432/app")?);
//! let proxy = Proxy::bind(config).await?;
//! let handle = proxy.handle();
//! let server = tokio::spawn(proxy.run());
//! // ... later:
//! handle.shutdown();
//! server.await?;
//! # Ok(()) }
//! ```
//!
//! Protocol reference: <https://www.postgresql.org/docs/current/protocol.html>.

mod config;
mod error;
mod metrics;
pub mod net;
/// The wire protocol as pure functions over buffers, its own crate so that
/// nothing in it can reach a socket.
pub use switchyard_protocol as protocol;
pub mod route;
pub mod session;
pub mod shadow;

pub use config::{Config, ConfigArgs, ConfigError, LogFormat, ShadowSettings, SslMode, Upstream};
pub use error::{ErrorSource, SessionError, UpstreamError};
pub use metrics::{Direction, ErrorKind, Metrics, QueryProtocol, RouteAction, ShadowOutcome, SkipReason};
pub use net::cancel::{CancelKey, CancelMap};
pub use net::http::{serve_http, HttpFuture, HttpHandler, HttpResponse, METRICS_CONTENT_TYPE};
pub use net::listener::{Proxy, ProxyError, ProxyHandle};
pub use net::tls::{MaybeTls, TlsConfigError};
pub use session::intercept::{Interceptor, InterceptorFactory, PassThrough, SessionInfo, TxStatus, Verdict};
pub use session::{Ended, Session};

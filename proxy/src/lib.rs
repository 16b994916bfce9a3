//! # switchyard-proxy
//!
//! The PostgreSQL wire-protocol proxy that applications connect to instead
//! of PostgreSQL: one upstream connection per client (session mode),
//! authentication relayed (trust, password, md5, SCRAM-SHA-256) so the proxy
//! never holds users' passwords, cancel requests mapped through proxy-owned
//! keys, TLS on both sides. Traffic that cannot touch the migrated table is
//! forwarded as raw bytes; the rest goes through an [`Interceptor`], which in
//! `switchyard serve` is the router (`route`): it plans each statement with
//! the rewriter for the session's phase, and the response fix-up (`fixup`)
//! gives the client back the replies its own statement would have had.
//!
//! ## Layout
//! - [`protocol`]: the wire protocol as pure functions over buffers
//!   (framing, startup packets, the messages the proxy decodes or writes);
//! - `listener`: [`Proxy`] and [`ProxyHandle`], accepting, limits, shutdown;
//! - `startup`: SSL negotiation and the authentication relay;
//! - `session`: the steady-state forwarding loop, generic over
//!   `AsyncRead + AsyncWrite`;
//! - `intercept`: the [`Interceptor`] seam; `route`: the router behind it;
//!   `fixup`: replies restored to what the client's statement would get;
//! - `legacy_names`: errors (and result metadata) of rewritten statements
//!   named as the legacy table would name them; `row_origin`: their
//!   RowDescription with legacy's table OID; `catalog` loads the facts;
//! - `shadow`: sampled reads compared on side connections, off the client's path;
//! - `upstream`, `tls`, `cancel`, `config`, `metrics`, `http`, `error`.
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

mod cancel;
pub mod catalog;
mod config;
mod error;
pub mod fixup;
mod http;
mod intercept;
pub mod legacy_names;
mod listener;
mod metrics;
pub mod phase_gate;
pub mod protocol;
pub mod route;
pub mod row_origin;
mod session;
pub mod shadow;
mod startup;
mod tls;
mod upstream;

pub use cancel::{CancelKey, CancelMap};
pub use config::{Config, ConfigArgs, ConfigError, LogFormat, ShadowSettings, SslMode, Upstream};
pub use error::{ErrorSource, SessionError, UpstreamError};
pub use http::{serve_http, HttpFuture, HttpHandler, HttpResponse, METRICS_CONTENT_TYPE};
pub use intercept::{Interceptor, InterceptorFactory, PassThrough, SessionInfo, TxStatus, Verdict};
pub use listener::{Proxy, ProxyError, ProxyHandle};
pub use metrics::{Direction, Metrics, QueryProtocol, SHADOW_OUTCOMES};
pub use session::{Ended, Session};
pub use tls::{MaybeTls, TlsConfigError};

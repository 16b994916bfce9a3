//! The passthrough proxy, end to end: a real PostgreSQL, real clients
//! (tokio-postgres, psql, pgbench), and a proxy started in-process for each
//! test on 127.0.0.1:0.

/// Starting proxies and clients for the tests below.
#[path = "proxy/common.rs"]
mod common;

/// tokio-postgres through the proxy: types, pipelining, COPY, NOTIFY, cancel, auth, TLS.
#[path = "proxy/clients.rs"]
mod clients;

/// TLS from the proxy to PostgreSQL: disable, prefer, require, verify-full.
#[path = "proxy/upstream_tls.rs"]
mod upstream_tls;

/// psql and pgbench through the proxy give what they give directly.
#[path = "proxy/tools.rs"]
mod tools;

/// Bad input, limits, a lost upstream, shutdown: one client's trouble stays its own.
#[path = "proxy/robustness.rs"]
mod robustness;

/// /metrics, /healthz and /readyz.
#[path = "proxy/observability.rs"]
mod observability;

/// The `switchyard serve` binary: config file, SIGHUP, SIGTERM, JSON logs.
#[path = "proxy/binary.rs"]
mod binary;

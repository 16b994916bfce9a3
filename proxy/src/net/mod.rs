//! Everything that touches a socket: accepting clients ([`listener`]), the
//! startup and authentication relay ([`startup`]), upstream connections
//! ([`upstream`]), TLS on both sides ([`tls`]), cancel requests mapped
//! through the proxy's own keys ([`cancel`]) and the HTTP endpoints
//! ([`http`]).

pub mod cancel;
pub mod http;
pub mod listener;
pub mod startup;
pub mod tls;
pub mod upstream;

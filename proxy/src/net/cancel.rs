//! Query cancellation across the proxy
//! (<https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS>).
//!
//! Each client is told its upstream backend's real process id, so
//! `pg_backend_pid()`, the PID in its own NOTIFY messages and the server's
//! logs agree with what its driver reports, but a secret of the proxy's own,
//! random, mapped here to the secret the upstream sent. A CancelRequest to
//! the proxy is looked up and forwarded with the upstream's key over a new
//! upstream connection, so a client can only cancel its own query, and
//! upstream secrets never leave the proxy.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::UpstreamError;
use crate::net::upstream::Connector;
use crate::protocol::startup::cancel_request;

/// A backend's cancel key: process id and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelKey {
    pub pid: i32,
    pub secret: Bytes,
}

/// Proxy keys to upstream keys, for every live session, by process id.
/// A process id is normally one session's, but a new session may reuse it
/// before the old one's mapping is dropped: each keeps its own secret.
#[derive(Debug, Default)]
pub struct CancelMap {
    map: DashMap<i32, Vec<(Bytes, CancelKey)>>,
}

impl CancelMap {
    /// Registers a session whose upstream key is `upstream` and returns the
    /// proxy key to give its client (the upstream's process id, a secret of
    /// the proxy's); the mapping lives as long as the guard.
    pub fn register(self: &Arc<Self>, upstream: CancelKey) -> CancelRegistration {
        let secret_len = upstream.secret.len().max(4);
        let secret: Bytes = (0..secret_len).map(|_| rand::random::<u8>()).collect::<Vec<u8>>().into();
        let pid = upstream.pid;
        self.map.entry(pid).or_default().push((secret.clone(), upstream));
        CancelRegistration { map: Arc::clone(self), key: CancelKey { pid, secret } }
    }

    /// The upstream key for a proxy key, if the proxy key is valid.
    pub fn lookup(&self, pid: i32, secret: &[u8]) -> Option<CancelKey> {
        let entry = self.map.get(&pid)?;
        // Every candidate is compared, in constant time each.
        let mut found = None;
        for (expected, upstream) in entry.value() {
            if constant_time_eq(expected, secret) {
                found = Some(upstream.clone());
            }
        }
        found
    }

    /// The number of live sessions registered.
    pub fn len(&self) -> usize {
        self.map.iter().map(|e| e.value().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Keeps a session's cancel mapping alive; removes it when dropped.
#[derive(Debug)]
pub struct CancelRegistration {
    map: Arc<CancelMap>,
    key: CancelKey,
}

impl CancelRegistration {
    /// The key the client was given.
    pub fn proxy_key(&self) -> &CancelKey {
        &self.key
    }
}

impl Drop for CancelRegistration {
    fn drop(&mut self) {
        let secret = &self.key.secret;
        self.map.map.remove_if_mut(&self.key.pid, |_, sessions| {
            sessions.retain(|(s, _)| s != secret);
            sessions.is_empty()
        });
    }
}

/// Sends a CancelRequest for `key` to the upstream over a new connection
/// and waits for the server to close it (it answers nothing).
pub async fn send_cancel(connector: &Connector, key: &CancelKey) -> Result<(), UpstreamError> {
    let mut stream = connector.connect().await?;
    let mut buf = BytesMut::with_capacity(16 + key.secret.len());
    cancel_request(&mut buf, key.pid, &key.secret);
    let io_err = |source| UpstreamError::Connect { addr: connector.upstream().addr(), source };
    stream.write_all(&buf).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;
    let mut sink = [0u8; 64];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut sink)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_proxy_keys_to_upstream_keys_until_dropped() {
        let map = Arc::new(CancelMap::default());
        let upstream = CancelKey { pid: 77, secret: Bytes::from_static(b"abcd") };
        let reg = map.register(upstream.clone());
        let key = reg.proxy_key().clone();
        assert_eq!(key.pid, 77, "the client is told the server's process id");
        assert_ne!(key.secret, upstream.secret, "but not the server's secret");
        assert_eq!(map.lookup(key.pid, &key.secret), Some(upstream.clone()));
        assert_eq!(map.lookup(key.pid, b"wrong"), None);
        assert_eq!(map.lookup(key.pid, &upstream.secret), None);
        drop(reg);
        assert_eq!(map.lookup(key.pid, &key.secret), None);
        assert!(map.is_empty());
    }

    #[test]
    fn a_reused_process_id_keeps_each_sessions_secret() {
        let map = Arc::new(CancelMap::default());
        let old = CancelKey { pid: 9, secret: Bytes::from_static(b"old!") };
        let new = CancelKey { pid: 9, secret: Bytes::from_static(b"new!") };
        let (old_reg, new_reg) = (map.register(old.clone()), map.register(new.clone()));
        assert_eq!(map.len(), 2);
        let new_key = new_reg.proxy_key().clone();
        assert_eq!(map.lookup(9, &old_reg.proxy_key().secret), Some(old));
        drop(old_reg);
        assert_eq!(map.lookup(9, &new_key.secret), Some(new));
        drop(new_reg);
        assert!(map.is_empty());
    }
}

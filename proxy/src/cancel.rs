//! Query cancellation across the proxy
//! (<https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS>).
//!
//! Each client gets the proxy's own BackendKeyData, random, mapped here to
//! the key its upstream backend sent. A CancelRequest to the proxy is looked
//! up and forwarded with the upstream's key over a new upstream connection,
//! so a client can only cancel its own query, and upstream keys never leave
//! the proxy.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::UpstreamError;
use crate::protocol::startup::cancel_request;
use crate::upstream::Connector;

/// A backend's cancel key: process id and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelKey {
    pub pid: i32,
    pub secret: Bytes,
}

/// Proxy keys to upstream keys, for every live session.
#[derive(Debug, Default)]
pub struct CancelMap {
    map: DashMap<i32, (Bytes, CancelKey)>,
}

impl CancelMap {
    /// Registers a session whose upstream key is `upstream` and returns the
    /// proxy key to give its client; the mapping lives as long as the guard.
    pub fn register(self: &Arc<Self>, upstream: CancelKey) -> CancelRegistration {
        let secret_len = upstream.secret.len().max(4);
        loop {
            let pid = rand::random::<i32>() & 0x7fff_ffff;
            if pid == 0 {
                continue;
            }
            if let Entry::Vacant(v) = self.map.entry(pid) {
                let secret: Vec<u8> = (0..secret_len).map(|_| rand::random::<u8>()).collect();
                let secret = Bytes::from(secret);
                v.insert((secret.clone(), upstream));
                return CancelRegistration { map: Arc::clone(self), key: CancelKey { pid, secret } };
            }
        }
    }

    /// The upstream key for a proxy key, if the proxy key is valid.
    pub fn lookup(&self, pid: i32, secret: &[u8]) -> Option<CancelKey> {
        let entry = self.map.get(&pid)?;
        let (expected, upstream) = entry.value();
        constant_time_eq(expected, secret).then(|| upstream.clone())
    }

    pub fn len(&self) -> usize {
        self.map.len()
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
        self.map.map.remove(&self.key.pid);
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
        assert_eq!(map.lookup(key.pid, &key.secret), Some(upstream));
        assert_eq!(map.lookup(key.pid, b"wrong"), None);
        drop(reg);
        assert_eq!(map.lookup(key.pid, &key.secret), None);
        assert!(map.is_empty());
    }
}

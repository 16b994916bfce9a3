//! The behaviour specifications of Switchyard under faults and hostile
//! input: a proxy that has not read the phase yet, refusals quoting any
//! statement text, side connections over TLS.

use std::time::Duration;

/// Connects (without TLS) as soon as something listens at `url`: tries
/// every 2 ms, for 30 s at most.
async fn connect_when_listening(url: &str) -> tokio_postgres::Client {
    for _ in 0..15_000 {
        if let Ok((client, conn)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            return client;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("nothing listened at {url}");
}

/// A refusal stays a refusal whatever the refused statement holds.
#[path = "faults/refusals.rs"]
mod refusals;

/// A proxy serves statements touching todos only under a phase it has read.
#[path = "faults/phase.rs"]
mod phase;

/// Side connections over TLS against a server that accepts nothing else.
#[path = "faults/tls.rs"]
mod tls;

//! The process id a client is told is its server backend's, as without the
//! proxy (libpq's PQbackendPID, pgjdbc's getBackendPID, "ignore my own
//! notifications" filters); the secret is the proxy's own, and cancelling
//! through the proxy still reaches the right query.

use super::common::Pair;
use crate::support::raw::{cancel, Conn};

#[tokio::test]
async fn clients_are_told_their_servers_process_id_and_can_still_cancel() {
    let pair = Pair::new("dual_write").await;
    let url = pair.proxy.url();
    let mut app = Conn::connect(&url).await;
    let (pid, secret) = app.key.clone();
    let server_pid = app.simple("SELECT pg_backend_pid()").await[0][0].clone();
    assert_eq!(server_pid, Some(pid.to_string()), "pg_backend_pid() is the BackendKeyData's process id");
    let seen: i64 = pair
        .db
        .client
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND datname = current_database()", &[&pid])
        .await
        .expect("pg_stat_activity")
        .get(0);
    assert_eq!(seen, 1, "pg_stat_activity shows the process id the client was told");

    // The session's own notifications carry its process id.
    let answer = app.exchange(&[crate::support::raw::query("LISTEN wire_pid; NOTIFY wire_pid, 'mine'")]).await;
    let note = answer.iter().find(|m| m.tag == b'A').expect("a NotificationResponse");
    assert_eq!(i32::from_be_bytes(note.body[..4].try_into().expect("a 4-byte process id")), pid, "NOTIFY's process id");

    // A wrong secret cancels nothing; the right one cancels the query.
    app.send(&[crate::support::raw::query("SELECT pg_sleep(0.5), 'not cancelled'")]).await;
    cancel(&url, &(pid, vec![0; secret.len()])).await;
    let answer: Vec<String> = app.until_ready().await.iter().map(|m| m.summary()).collect();
    assert!(answer.iter().any(|m| m == "C SELECT 1"), "a wrong secret must not cancel: {answer:?}");
    app.send(&[crate::support::raw::query("SELECT pg_sleep(60)")]).await;
    // Cancel until the query is cancelled: the sleep may not have started
    // when the first request arrives.
    let cancelled = async {
        loop {
            cancel(&url, &(pid, secret.clone())).await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let answer = tokio::select! {
        a = app.until_ready() => a,
        _ = cancelled => unreachable!(),
    };
    let answer: Vec<String> = answer.iter().map(|m| m.summary()).collect();
    assert!(answer.iter().any(|m| m.starts_with("E 57014")), "the query is cancelled: {answer:?}");
    assert_eq!(app.simple("SELECT 1").await, vec![vec![Some("1".to_string())]], "the session goes on");
}

//! Every write form of the corpus (`support::write_forms`), through the
//! proxy, in every phase and by four clients: tokio-postgres prepared,
//! with the unnamed statement and simple (`wire_phases::clients`), and psql
//! (`wire_phases::psql`). The client must see what the same statement shows
//! on a twin database used directly (rows, command tags and counts,
//! parameter and result columns, SQLSTATEs), and after each statement both
//! schemas must be equal and hold what the twin's legacy table holds (I1, I5).

use switchyard_rewriter::Phase;
use tokio_postgres::Client;

use super::clients::{run, Channel};
use super::common::*;
use super::psql::psql_session;
use crate::support::assert_same_as_legacy;
use crate::support::write_forms::{self, Deviation};

async fn every_write_form_through_the_proxy(phase: Phase) {
    let pair = Pair::new(phase.as_str()).await;
    let app = pair.proxy.connect().await;
    let legacy_kept = phase != Phase::NewOnly;
    let mut fresh = true;
    for seq in write_forms::sequences() {
        for channel in [Channel::Prepared, Channel::Unnamed, Channel::Simple, Channel::Psql] {
            if !fresh {
                reseed(&pair.db, &pair.twin).await;
            }
            fresh = false;
            if channel == Channel::Psql {
                psql_session(&pair, phase, &seq).await;
                continue;
            }
            for f in &seq.forms {
                let at = format!("{phase}, {channel:?}, {}: {}", seq.name, f.name);
                let deviation = f.deviation(phase);
                if deviation == Some(Deviation::Skip) {
                    continue;
                }
                let types = match pair.twin.client.prepare(f.sql).await {
                    Ok(s) => s.params().to_vec(),
                    Err(_) => Vec::new(),
                };
                let got = run(channel, &app, f, &types).await;
                match deviation {
                    None => {
                        let want = run(channel, &pair.twin.client, f, &types).await;
                        assert_same_as_legacy(&want, &got, format_args!("{at}: what the client sees"));
                    }
                    Some(Deviation::Refused) => {
                        assert!(got.refused(), "{at}: expected a 0A000 refusal, got {got:?}")
                    }
                    Some(Deviation::Skip) => {}
                }
                assert_in_step(&pair.db, &pair.twin, legacy_kept, &at).await;
            }
        }
    }
    // The statements did something: rows were written, changed and deleted.
    let rows: i64 = pair.twin.client.query_one("SELECT count(*) FROM todos", &[]).await.expect("count").get(0);
    assert!(rows > 0, "{phase}: some todos are left");
    check_prepared_describe(&app).await;
}

/// Describe of a rewritten write without RETURNING says NoData; with one,
/// the client's own columns.
async fn check_prepared_describe(app: &Client) {
    let s = app.prepare("UPDATE todos SET priority = $1 WHERE id = $2").await.expect("prepare");
    assert!(s.columns().is_empty(), "no RETURNING: NoData");
    let s = app.prepare("DELETE FROM todos WHERE id = $1 RETURNING id, title").await.expect("prepare");
    let cols: Vec<&str> = s.columns().iter().map(|c| c.name()).collect();
    assert_eq!(cols, ["id", "title"]);
}

#[tokio::test]
async fn every_write_form_in_dual_write() {
    every_write_form_through_the_proxy(Phase::DualWrite).await;
}

#[tokio::test]
async fn every_write_form_in_read_new() {
    every_write_form_through_the_proxy(Phase::ReadNew).await;
}

#[tokio::test]
async fn every_write_form_in_write_new() {
    every_write_form_through_the_proxy(Phase::WriteNew).await;
}

#[tokio::test]
async fn every_write_form_in_new_only() {
    every_write_form_through_the_proxy(Phase::NewOnly).await;
}

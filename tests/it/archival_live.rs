//! Archival runs under live traffic in every phase from dual_write to
//! new_only: no todo id is ever in both new tables (I3) and no acknowledged
//! write is lost, while the app completes, edits, reopens and deletes the
//! very rows the archival moves (invariant I3, docs/invariants.md).

use crate::support;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchyard_control::backfill::{self, BackfillConfig};
use switchyard_control::legacy::{self, SeedOptions};
use switchyard_workload::{Schema, WorkloadConfig};

async fn in_both_tables(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM todos_active a JOIN todos_archived r USING (id)", &[])
        .await
        .expect("I3 check")
        .get(0)
}

#[tokio::test]
async fn archival_in_a_loop_beside_the_app_keeps_i3_and_every_acknowledged_write() {
    let mut db = support::migrated_db().await;
    let opts = SeedOptions { users: 40, todos_per_user: 40, seed: 5, anchor: chrono::Utc::now() };
    legacy::load(&mut db.client, &opts).await.expect("seed");
    let proxy = support::spawn_proxy(&db).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let mut bf = db.connect().await;
    backfill::run(&mut bf, &BackfillConfig::default(), |_| {}).await.expect("backfill");

    let workload = switchyard_workload::start(WorkloadConfig::new(proxy.url(), 4)).await.expect("workload");
    // Retention zero: every done todo is eligible the moment it is completed,
    // so the archival fights the app for the rows it is writing.
    let stop = Arc::new(AtomicBool::new(false));
    let moved = Arc::new(AtomicI64::new(0));
    let archiver = {
        let (stop, moved) = (Arc::clone(&stop), Arc::clone(&moved));
        let client = db.connect().await;
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.query_one("SELECT archive_completed_todos_batch('0 seconds', 50)", &[]).await {
                    Ok(row) => {
                        let n: i32 = row.get(0);
                        moved.fetch_add(n as i64, Ordering::Relaxed);
                        if n == 0 {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    // Lock timeouts are retried by the caller, as the CLI does.
                    Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {}
                    Err(e) => panic!("archival failed: {e:?}"),
                }
            }
        })
    };

    for phase in ["dual_write", "read_new", "write_new", "new_only"] {
        if phase != "dual_write" {
            support::force_phase(&db, phase).await;
            support::wait_for_instances(&db).await;
        }
        let mark = workload.mark(phase);
        tokio::time::sleep(Duration::from_secs(3)).await;
        if workload.snapshot().since(&mark).errors_total() > 0 {
            stop.store(true, Ordering::Relaxed);
            let report = workload.stop_and_wait().await.expect("workload");
            panic!("client errors in {phase}:\n{}", report.render_text());
        }
        assert_eq!(in_both_tables(&db.client).await, 0, "I3 broken in {phase}");
    }
    stop.store(true, Ordering::Relaxed);
    archiver.await.expect("archiver");
    let report = workload.stop_and_wait().await.expect("workload");
    assert_eq!(report.errors(), 0, "{}", report.render_text());
    assert!(moved.load(Ordering::Relaxed) > 0, "the archival moved nothing: the test proved nothing");
    assert_eq!(in_both_tables(&db.client).await, 0);
    let check = report.ledger.check(&db.client, Schema::New).await.expect("ledger");
    assert!(check.is_clean(), "acknowledged writes lost in the new schema: {check:?}");
}

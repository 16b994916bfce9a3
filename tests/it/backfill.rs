//! The backfill copies existing rows into the new schema while the app keeps
//! writing through the proxy: resumable, pausable, one runner at a time, and
//! never a lost or stale row (invariant I2, docs/invariants.md).

use crate::support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_control::backfill::{self, BackfillConfig, BackfillError};
use switchyard_control::legacy::{self, SeedOptions};
use switchyard_workload::{Schema, WorkloadConfig};

async fn seeded(users: u32, todos_per_user: u32) -> support::TestDb {
    let mut db = support::migrated_db().await;
    let opts = SeedOptions { users, todos_per_user, seed: 11, anchor: chrono::Utc::now() };
    legacy::load(&mut db.client, &opts).await.expect("seed legacy data");
    db
}

fn backfill_cli(db: &support::TestDb, extra: &[&str]) -> Child {
    Command::new(support::switchyard_bin())
        .args(["backfill", "--database-url", &db.url])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchyard backfill")
}

async fn progress(db: &support::TestDb) -> (i64, bool) {
    db.client
        .query_opt("SELECT rows_copied, completed FROM switchyard.backfill_progress WHERE table_name = 'todos'", &[])
        .await
        .expect("progress")
        .map(|r| (r.get(0), r.get(1)))
        .unwrap_or((0, false))
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the backfill CLI again after a kill, until it gets the runner lock:
/// the killed process's backend may hold it a moment longer, and the rerun
/// says who holds it. Waited for off the runtime: a workload's sessions may
/// run on it, and a blocked runtime would leave them in open transactions the
/// backfill then waits for.
async fn resume_after_kill(db: &support::TestDb, args: &[&str]) -> std::process::Output {
    let started = Instant::now();
    loop {
        let resume = backfill_cli(db, args);
        let out = tokio::task::spawn_blocking(move || resume.wait_with_output()).await.expect("join").expect("resume");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success()
            || !stderr.contains("another backfill is running")
            || started.elapsed() > Duration::from_secs(20)
        {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn backfill_under_live_writes_through_the_proxy_leaves_no_difference() {
    let db = seeded(1000, 100).await;
    let proxy = support::spawn_proxy(&db).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;

    // The app keeps writing (creates, updates, completions, deletes) on both
    // sides of the backfill's cursor.
    let workload = switchyard_workload::start(WorkloadConfig::new(proxy.url(), 4)).await.expect("start workload");
    let mut client = db.connect().await;
    let done = backfill::run(&mut client, &BackfillConfig::default(), |_| {}).await.expect("backfill");
    assert!(done.completed);
    assert!(done.rows_copied >= 100_000, "copied {}", done.rows_copied);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = workload.stop_and_wait().await.expect("workload");
    assert_eq!(
        report.errors(),
        0,
        "{}\n{:#?}",
        report.render_text(),
        report.operations.iter().map(|o| &o.first_errors).collect::<Vec<_>>()
    );
    assert!(report.total.ops > 0);
    let ops = |name: &str| report.operations.iter().find(|o| o.op == name).map_or(0, |o| o.ops);
    for name in ["create", "edit", "set_status", "complete", "delete"] {
        assert!(ops(name) > 0, "the workload ran no {name} while the backfill ran: {}", report.render_text());
    }

    assert_eq!(support::schemas_differ(&db.client).await, None);
    for schema in [Schema::Legacy, Schema::New] {
        let check = report.ledger.check(&db.client, schema).await.expect("ledger check");
        assert!(check.is_clean(), "{schema:?}: {check:?}");
    }
    drop(proxy);
}

#[tokio::test]
async fn a_killed_backfill_resumes_from_its_checkpoint_and_redoes_nothing_committed() {
    let db = seeded(200, 100).await;
    support::force_phase(&db, "dual_write").await;
    let mut child = backfill_cli(&db, &["--batch-size", "200", "--max-batch-ms", "0", "--sleep-ms", "5"]);
    wait_until("a few batches are in", Duration::from_secs(60), async || progress(&db).await.0 >= 2_000).await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    let (at_kill, completed) = progress(&db).await;
    assert!(!completed && at_kill < 20_000, "killed too late to test a resume ({at_kill})");

    let out = resume_after_kill(&db, &["--batch-size", "200", "--max-batch-ms", "0"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (rows, completed) = progress(&db).await;
    assert!(completed);
    // Every batch is committed with its checkpoint: a killed batch rolled
    // back whole, so no row was counted twice.
    assert_eq!(rows, 20_000, "rows copied across both runs");
    assert_eq!(support::schemas_differ(&db.client).await, None);
}

#[tokio::test]
async fn pause_stops_the_backfill_within_one_batch_and_resume_continues() {
    let db = seeded(100, 100).await;
    support::force_phase(&db, "dual_write").await;
    let child = backfill_cli(&db, &["--batch-size", "100", "--max-batch-ms", "0", "--sleep-ms", "20"]);
    wait_until("the backfill is under way", Duration::from_secs(60), async || progress(&db).await.0 >= 500).await;

    let status =
        Command::new(support::switchyard_bin()).args(["backfill", "pause", "--database-url", &db.url]).status();
    assert!(status.expect("pause").success());
    let at_pause = progress(&db).await.0;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let settled = progress(&db).await.0;
    assert!(settled - at_pause <= 100, "more than one batch after pause: {at_pause} -> {settled}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(progress(&db).await.0, settled, "paused backfill kept copying");

    let status =
        Command::new(support::switchyard_bin()).args(["backfill", "resume", "--database-url", &db.url]).status();
    assert!(status.expect("resume").success());
    let out = child.wait_with_output().expect("backfill finishes");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(progress(&db).await, (10_000, true));
    assert_eq!(support::schemas_differ(&db.client).await, None);
}

#[tokio::test]
async fn lock_timeouts_are_retried_not_fatal() {
    let db = seeded(20, 50).await;
    support::force_phase(&db, "dual_write").await;
    // Another transaction holds a row lock the first batch needs.
    let holder = db.connect().await;
    holder.batch_execute("BEGIN; SELECT * FROM todos ORDER BY id LIMIT 1 FOR UPDATE").await.expect("lock a row");
    let mut client = db.connect().await;
    let cfg = BackfillConfig { lock_timeout: Duration::from_millis(50), ..BackfillConfig::default() };
    let run = tokio::spawn(async move { backfill::run(&mut client, &cfg, |_| {}).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    holder.batch_execute("COMMIT").await.expect("release");
    let done = run.await.expect("join").expect("backfill survives lock timeouts");
    assert!(done.completed);
    assert!(done.lock_retries > 0, "the lock was never hit");
    assert_eq!(support::schemas_differ(&db.client).await, None);
}

#[tokio::test]
async fn one_runner_at_a_time_and_only_while_writes_are_mirrored() {
    let db = seeded(10, 10).await;
    let mut client = db.connect().await;
    let err = backfill::run(&mut client, &BackfillConfig::default(), |_| {}).await.expect_err("ran in legacy");
    assert!(matches!(err, BackfillError::WrongPhase(_)), "{err}");

    support::force_phase(&db, "dual_write").await;
    let holder = db.connect().await;
    holder.batch_execute("SET application_name = 'the other runner'").await.expect("name");
    holder.query_one("SELECT pg_advisory_lock($1)", &[&0x5357_4246_494c_i64]).await.expect("take the runner lock");
    let err = backfill::run(&mut client, &BackfillConfig::default(), |_| {}).await.expect_err("two runners");
    assert!(err.to_string().contains("the other runner"), "{err}");
}

#[tokio::test]
async fn serve_with_backfill_runs_it_once_across_instances_when_writes_are_mirrored() {
    let db = seeded(50, 40).await;
    let a = support::spawn_proxy_with(&db, &["--backfill"]).await;
    let b = support::spawn_proxy_with(&db, &["--backfill"]).await;
    // In legacy nothing is copied: writes are not mirrored yet.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(progress(&db).await, (0, false));
    support::force_phase(&db, "dual_write").await;
    wait_until("the instances' backfill completes", Duration::from_secs(120), async || progress(&db).await.1).await;
    let (rows, _) = progress(&db).await;
    assert_eq!(rows, 2_000, "copied once, by one leader");
    assert_eq!(support::schemas_differ(&db.client).await, None);
    drop((a, b));
}

#[tokio::test]
async fn reparenting_while_rows_are_still_missing_leaves_every_depth_right_once_complete() {
    // root -> mid -> leaf, and another root. Only leaf reaches the new tables
    // before the backfill (a live update mirrors it, depth 2); mid is still
    // missing when root is moved under other_root, so the mirrored walk down
    // from root cannot reach leaf. The backfill must still end with leaf at 3.
    let db = seeded(2, 1).await;
    let ids: Vec<uuid::Uuid> = (0..4).map(|_| uuid::Uuid::new_v4()).collect();
    let (root, mid, leaf, other_root) = (ids[0], ids[1], ids[2], ids[3]);
    db.client
        .execute(
            "INSERT INTO todos (id, user_id, parent_todo_id, title)
             SELECT v.id, (SELECT id FROM users ORDER BY id LIMIT 1), v.parent, 'chain'
             FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY v(id, parent, n) ORDER BY n",
            &[&vec![root, other_root, mid, leaf], &vec![None, None, Some(root), Some(mid)]],
        )
        .await
        .expect("legacy chain");
    let proxy = support::spawn_proxy(&db).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let app = proxy.connect().await;
    app.execute("UPDATE todos SET title = 'touched' WHERE id = $1", &[&leaf]).await.expect("mirror the leaf");
    app.execute("UPDATE todos SET parent_todo_id = $2 WHERE id = $1", &[&root, &other_root])
        .await
        .expect("re-parent root");

    let depth_of = async |id: uuid::Uuid| -> Option<i32> {
        db.client
            .query_opt("SELECT depth FROM todos_active WHERE id = $1", &[&id])
            .await
            .expect("depth")
            .map(|r| r.get(0))
    };
    assert_eq!(depth_of(root).await, Some(1), "the re-parented row itself");
    assert_eq!(depth_of(mid).await, None, "mid is not copied yet");
    assert_eq!(depth_of(leaf).await, Some(2), "stale until the backfill completes");

    let mut client = db.connect().await;
    let done = backfill::run(&mut client, &BackfillConfig::default(), |_| {}).await.expect("backfill");
    assert!(done.completed);
    assert_eq!(depth_of(mid).await, Some(2));
    assert_eq!(depth_of(leaf).await, Some(3));
    assert_eq!(support::schemas_differ(&db.client).await, None);
    drop(proxy);
}

#[tokio::test]
async fn two_jobs_copy_their_own_key_ranges_side_by_side_and_resume_after_a_kill() {
    let db = seeded(200, 100).await;
    let proxy = support::spawn_proxy(&db).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let workload = switchyard_workload::start(WorkloadConfig::new(proxy.url(), 2)).await.expect("start workload");

    let args = ["--jobs", "2", "--batch-size", "300", "--max-batch-ms", "0", "--sleep-ms", "5"];
    let mut child = backfill_cli(&db, &args);
    wait_until("a few batches are in", Duration::from_secs(60), async || progress(&db).await.0 >= 3_000).await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    let ranges: Vec<(i32, i64, bool)> = db
        .client
        .query("SELECT range_no, rows_copied, done FROM switchyard.backfill_ranges ORDER BY range_no", &[])
        .await
        .expect("ranges")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(ranges.iter().all(|&(_, rows, _)| rows > 0), "both jobs copied side by side: {ranges:?}");
    let (at_kill, completed) = progress(&db).await;
    assert!(!completed && at_kill < 20_000, "killed too late to test a resume ({at_kill})");

    let out = resume_after_kill(&db, &args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = workload.stop_and_wait().await.expect("workload");
    assert_eq!(report.errors(), 0, "{}", report.render_text());
    let (rows, completed) = progress(&db).await;
    assert!(completed);
    let per_range: i64 = db
        .client
        .query_one("SELECT sum(rows_copied)::int8 FROM switchyard.backfill_ranges WHERE done", &[])
        .await
        .expect("ranges")
        .get(0);
    assert_eq!(rows, per_range, "the total is the sum of the ranges");
    assert!(rows >= 20_000, "every legacy row at the start was copied once at least ({rows})");
    let status = Command::new(support::switchyard_bin())
        .args(["status", "--json", "--database-url", &db.url])
        .output()
        .expect("switchyard status");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json");
    let ranges = status["backfill"]["ranges"].as_array().expect("ranges in status");
    assert_eq!(ranges.len(), 2, "{status}");
    assert!(ranges.iter().all(|r| r["done"] == true), "{status}");
    assert_eq!(support::schemas_differ(&db.client).await, None);
    for schema in [Schema::Legacy, Schema::New] {
        let check = report.ledger.check(&db.client, schema).await.expect("ledger check");
        assert!(check.is_clean(), "{schema:?}: {check:?}");
    }
    drop(proxy);
}

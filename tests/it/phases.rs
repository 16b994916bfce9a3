//! Phases move one step at a time, behind guards, and every proxy instance
//! follows them (docs/invariants.md, "Phases" and "Guards").

use crate::support;

use std::time::Duration;

use switchyard_control::phase::Phase;
use switchyard_control::state::{self, MoveRequest};
use switchyard_control::store::proxy_instances::Registration;
use switchyard_control::watcher::{self, WatcherConfig};
use switchyard_control::ControlError;

fn request(to: Phase) -> MoveRequest {
    MoveRequest {
        table: "todos".into(),
        to,
        reason: format!("test moves to {to}"),
        actor: "phases test".into(),
        force: false,
        confirm: false,
        max_verify_age: Duration::from_secs(3600),
        instance_liveness: Duration::from_secs(30),
    }
}

async fn mark_backfill_complete_and_verified(db: &support::TestDb) {
    db.client
        .batch_execute(
            "INSERT INTO switchyard.backfill_progress (table_name, rows_copied, completed, finished_at)
               VALUES ('todos', 0, true, now() - interval '1 second');
             INSERT INTO switchyard.verify_runs (table_name, started_at, finished_at, clean, differences)
               VALUES ('todos', now(), now(), true, 0);",
        )
        .await
        .expect("record backfill and verify");
}

fn switchyard(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(support::switchyard_bin()).args(args).output().expect("run switchyard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_fresh_migration_starts_in_legacy_at_epoch_zero() {
    let db = support::migrated_db().await;
    let s = state::current(&db.client, "todos").await.expect("state");
    assert_eq!((s.phase, s.epoch), (Phase::Legacy, 0));
}

#[tokio::test]
async fn moves_go_one_step_at_a_time_and_are_recorded() {
    let mut db = support::migrated_db().await;
    let err = state::move_phase(&mut db.client, &request(Phase::ReadNew)).await.expect_err("skipped a phase");
    assert!(err.to_string().contains("legacy -> dual_write -> read_new"), "{err}");

    let out = state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("to dual_write");
    assert_eq!((out.from, out.to, out.epoch), (Phase::Legacy, Phase::DualWrite, 1));
    let back = state::move_phase(&mut db.client, &request(Phase::Legacy)).await.expect("back to legacy");
    assert_eq!(back.epoch, 2);

    let history = switchyard_control::store::phase_history::newest(&db.client, "todos", 10).await.expect("history");
    let moves: Vec<(Option<String>, String)> = history.iter().map(|h| (h.from.clone(), h.to.clone())).collect();
    assert_eq!(
        moves,
        vec![
            (None, "legacy".to_string()),
            (Some("legacy".to_string()), "dual_write".to_string()),
            (Some("dual_write".to_string()), "legacy".to_string())
        ]
    );
    assert_eq!(history[1].reason.as_deref(), Some("test moves to dual_write"));
}

#[tokio::test]
async fn read_new_waits_for_backfill_and_a_clean_verify_unless_forced() {
    let mut db = support::migrated_db().await;
    state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("to dual_write");
    let err = state::move_phase(&mut db.client, &request(Phase::ReadNew)).await.expect_err("guard let it through");
    let ControlError::Refused(refusals) = err else { panic!("expected a refusal") };
    assert_eq!(refusals.len(), 2, "{refusals:?}");

    let mut forced = request(Phase::ReadNew);
    forced.force = true;
    let out = state::move_phase(&mut db.client, &forced).await.expect("forced");
    assert_eq!(out.forced.len(), 2);
    let s = state::current(&db.client, "todos").await.expect("state");
    assert_eq!(s.phase, Phase::ReadNew);
    assert!(s.reason.unwrap_or_default().contains("forced past"), "the history must say what was forced");
}

#[tokio::test]
async fn read_new_is_allowed_after_backfill_and_a_fresh_clean_verify() {
    let mut db = support::migrated_db().await;
    state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("to dual_write");
    mark_backfill_complete_and_verified(&db).await;
    state::move_phase(&mut db.client, &request(Phase::ReadNew)).await.expect("to read_new");
}

#[tokio::test]
async fn returning_to_legacy_invalidates_the_backfill() {
    let mut db = support::migrated_db().await;
    state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("to dual_write");
    mark_backfill_complete_and_verified(&db).await;
    state::move_phase(&mut db.client, &request(Phase::Legacy)).await.expect("back to legacy");
    state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("dual_write again");
    let err = state::move_phase(&mut db.client, &request(Phase::ReadNew)).await.expect_err("stale backfill accepted");
    assert!(err.to_string().contains("backfill"), "{err}");
}

async fn walk_to_write_new(db: &mut support::TestDb) {
    state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("to dual_write");
    mark_backfill_complete_and_verified(db).await;
    state::move_phase(&mut db.client, &request(Phase::ReadNew)).await.expect("to read_new");
    state::move_phase(&mut db.client, &request(Phase::WriteNew)).await.expect("to write_new");
}

fn watch(db: &support::TestDb) -> (watcher::PhaseReceiver, tokio::task::JoinHandle<()>) {
    watcher::spawn(WatcherConfig {
        database_url: db.url.clone(),
        table: "todos".into(),
        registration: Registration::for_this_process(),
        // Long poll: the flip must arrive by NOTIFY.
        poll_interval: Duration::from_secs(30),
        heartbeat_interval: Duration::from_secs(30),
        acknowledge: None,
        acknowledgment_changed: None,
        trust: Duration::from_secs(60),
    })
}

async fn wait_for(rx: &mut watcher::PhaseReceiver, phase: Phase) {
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.is_some_and(|s| s.phase == phase && s.from_database)),
    )
    .await
    .unwrap_or_else(|_| panic!("instance did not reach {phase}"))
    .expect("watcher alive");
}

#[tokio::test]
async fn two_instances_flip_together_and_new_only_waits_for_both() {
    let mut db = support::migrated_db().await;
    let (mut a, _ta) = watch(&db);
    let (mut b, tb) = watch(&db);
    wait_for(&mut a, Phase::Legacy).await;
    wait_for(&mut b, Phase::Legacy).await;

    walk_to_write_new(&mut db).await;
    wait_for(&mut a, Phase::WriteNew).await;
    wait_for(&mut b, Phase::WriteNew).await;
    // Both acknowledgments are written after the watch channels change.
    support::wait_for_instances(&db).await;

    // Instance b stops following (its watcher dies but its row stays live):
    // simulate a lagging instance by rolling its acknowledgment back.
    tb.abort();
    let _ = tb.await;
    drop(b);
    let lagged = db
        .client
        .execute(
            "UPDATE switchyard.proxy_instances SET acknowledged_phase = 'read_new', acknowledged_epoch = 2, heartbeat_at = now()
             WHERE acknowledged_epoch = 3 AND instance_id = (SELECT instance_id FROM switchyard.proxy_instances ORDER BY started_at DESC, instance_id LIMIT 1)",
            &[],
        )
        .await
        .expect("lag one instance");
    assert_eq!(lagged, 1, "exactly one instance made to lag");

    let mut to_new_only = request(Phase::NewOnly);
    to_new_only.confirm = true;
    let err = state::move_phase(&mut db.client, &to_new_only).await.expect_err("new_only with a lagging instance");
    assert!(err.to_string().contains("on read_new at epoch 2"), "{err}");

    db.client
        .execute("UPDATE switchyard.proxy_instances SET acknowledged_phase = 'write_new', acknowledged_epoch = 3", &[])
        .await
        .expect("catch up");
    to_new_only.confirm = false;
    let err = state::move_phase(&mut db.client, &to_new_only).await.expect_err("new_only without --confirm");
    assert!(err.to_string().contains("--confirm"), "{err}");
    to_new_only.confirm = true;
    state::move_phase(&mut db.client, &to_new_only).await.expect("to new_only");
    wait_for(&mut a, Phase::NewOnly).await;

    let err = state::move_phase(&mut db.client, &request(Phase::WriteNew)).await.expect_err("left new_only");
    assert!(err.to_string().contains("no longer kept"), "{err}");
}

#[tokio::test]
async fn an_instance_acknowledges_a_flip_when_its_last_older_transaction_ends_not_at_its_next_heartbeat() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut db = support::migrated_db().await;
    // An instance with a transaction still open under the phase it started in.
    let open = Arc::new(AtomicBool::new(true));
    let changed = Arc::new(tokio::sync::Notify::new());
    let first = Arc::new(std::sync::Mutex::new(None));
    let acknowledge: watcher::Acknowledge = {
        let (open, first) = (Arc::clone(&open), Arc::clone(&first));
        Arc::new(move |published: watcher::PhaseSnapshot| {
            let mut first = first.lock().expect("first");
            let held = *first.get_or_insert(published);
            if open.load(Ordering::SeqCst) {
                held
            } else {
                published
            }
        })
    };
    let (mut rx, _task) = watcher::spawn(WatcherConfig {
        database_url: db.url.clone(),
        table: "todos".into(),
        registration: Registration::for_this_process(),
        poll_interval: Duration::from_secs(30),
        // No heartbeat within the test: an acknowledgment comes from a flip or a notification.
        heartbeat_interval: Duration::from_secs(3600),
        acknowledge: Some(acknowledge),
        acknowledgment_changed: Some(Arc::clone(&changed)),
        trust: Duration::from_secs(7200),
    });
    wait_for(&mut rx, Phase::Legacy).await;
    state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("to dual_write");
    wait_for(&mut rx, Phase::DualWrite).await;
    let acked = || async {
        let row = db.client.query_one("SELECT acknowledged_phase FROM switchyard.proxy_instances", &[]).await;
        row.expect("one instance").get::<_, Option<String>>(0)
    };
    // The flip is seen, but the open transaction is vouched for.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(acked().await.as_deref(), Some("legacy"));

    open.store(false, Ordering::SeqCst);
    changed.notify_one();
    tokio::time::timeout(Duration::from_secs(10), async {
        while acked().await.as_deref() != Some("dual_write") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("dual_write acknowledged once the transaction ended, an hour before the next heartbeat");
}

#[tokio::test]
async fn the_cli_shows_sets_refuses_and_reports_status() {
    let db = support::migrated_db().await;
    let (code, out, err) = switchyard(&["phase", "show", "--database-url", &db.url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("todos: legacy (epoch 0)"), "{out}");

    let (code, out, err) =
        switchyard(&["phase", "set", "dual_write", "--reason", "start mirroring", "--database-url", &db.url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("legacy -> dual_write (epoch 1)"), "{out}");

    let (code, _out, err) =
        switchyard(&["phase", "set", "read_new", "--reason", "too early", "--database-url", &db.url]);
    assert_eq!(code, 1, "a refused move exits 1");
    assert!(err.contains("backfill") && err.contains("--force skips this"), "{err}");

    let (code, out, err) = switchyard(&["status", "--json", "--database-url", &db.url]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("status --json is JSON");
    assert_eq!(v["phase"], "dual_write");
    assert_eq!(v["epoch"], 1);
    assert_eq!(v["history"].as_array().map(|h| h.len()), Some(2));
    assert!(v["backfill"].is_null());
}

#[tokio::test]
async fn without_a_control_schema_an_instance_runs_in_legacy() {
    let db = support::legacy_db().await;
    let (mut rx, _t) = watch(&db);
    let s = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(Option::is_some))
        .await
        .expect("the watcher reads the database")
        .expect("watcher alive")
        .expect("read");
    assert_eq!(s.phase, Phase::Legacy);
    assert!(!s.from_database);
    let err = state::current(&db.client, "todos").await.expect_err("no control schema");
    assert!(matches!(err, ControlError::NotMigrated));
}

#[tokio::test]
async fn entering_a_phase_that_reads_the_new_tables_warns_while_jit_can_compile_them() {
    let mut db = support::migrated_db().await;
    state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("to dual_write");
    mark_backfill_complete_and_verified(&db).await;
    let jit = |on: &str| format!("ALTER DATABASE \"{}\" SET jit = {on}", db.name);

    db.client.batch_execute(&jit("on")).await.expect("jit on");
    let (code, out, err) = switchyard(&["phase", "set", "read_new", "--reason", "jit on", "--database-url", &db.url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dual_write -> read_new"), "{out}");
    assert!(err.contains("warning: jit is on") && err.contains("SET jit = off"), "{err}");

    db.client.batch_execute(&jit("off")).await.expect("jit off");
    let (code, _out, err) =
        switchyard(&["phase", "set", "write_new", "--reason", "jit off", "--database-url", &db.url]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("jit"), "no warning once jit is off: {err}");
}

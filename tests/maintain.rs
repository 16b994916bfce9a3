//! `switchyard maintain daily|weekly` runs the seed's procedures step by step,
//! logs every step, retries lock timeouts, and fails loudly when a step fails.

mod support;

use std::process::Command;
use std::time::Duration;

fn switchyard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(support::switchyard_bin()).args(args).output().expect("run switchyard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A user and `old` done todos completed 40 days ago plus `fresh` done
/// yesterday and `open` not done, written straight into todos_active.
async fn active_rows(db: &support::TestDb, old: i32, fresh: i32, open: i32) {
    db.client
        .batch_execute(&format!(
            "INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'm@example.com');
             INSERT INTO todos_active (user_id, title, status, completed_at)
               SELECT '00000000-0000-0000-0000-000000000001', 'old ' || g, 'done', now() - interval '40 days' FROM generate_series(1, {old}) g;
             INSERT INTO todos_active (user_id, title, status, completed_at)
               SELECT '00000000-0000-0000-0000-000000000001', 'fresh ' || g, 'done', now() - interval '1 day' FROM generate_series(1, {fresh}) g;
             INSERT INTO todos_active (user_id, title, status)
               SELECT '00000000-0000-0000-0000-000000000001', 'open ' || g, 'todo' FROM generate_series(1, {open}) g;"
        ))
        .await
        .expect("rows");
}

#[tokio::test]
async fn daily_archives_eligible_todos_in_batches_and_logs_every_step() {
    let db = support::migrated_db().await;
    active_rows(&db, 250, 20, 30).await;
    let (code, out, err) = switchyard(&["maintain", "daily", "--batch-size", "100", "--database-url", &db.url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("250 todos archived in 3 batches"), "{out}");

    let counts = db
        .client
        .query_one(
            "SELECT (SELECT count(*) FROM todos_archived), (SELECT count(*) FROM todos_active),
                    (SELECT count(*) FROM todos_active a JOIN todos_archived r USING (id))",
            &[],
        )
        .await
        .expect("counts");
    assert_eq!((counts.get::<_, i64>(0), counts.get::<_, i64>(1), counts.get::<_, i64>(2)), (250, 50, 0));

    let steps: Vec<(String, String)> = db
        .client
        .query(
            "SELECT step, status FROM switchyard.maintenance_history WHERE job = 'daily_maintenance' AND step IS NOT NULL ORDER BY id",
            &[],
        )
        .await
        .expect("history")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let names: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["analyze", "create_archive_partitions", "archive_completed_todos", "check_partition_health"]);
    assert!(steps.iter().all(|(_, status)| status == "succeeded"), "{steps:?}");
}

#[tokio::test]
async fn archival_retries_lock_timeouts_instead_of_failing() {
    let db = support::migrated_db().await;
    active_rows(&db, 50, 0, 0).await;
    // Another session holds a conflicting lock on todos_active for a while.
    let blocker = db.connect().await;
    blocker.batch_execute("BEGIN; LOCK TABLE todos_active IN ROW EXCLUSIVE MODE").await.expect("lock");
    let url = db.url.clone();
    let run = tokio::task::spawn_blocking(move || switchyard(&["maintain", "daily", "--database-url", &url]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    blocker.batch_execute("COMMIT").await.expect("release");
    let (code, out, err) = run.await.expect("join");
    assert_eq!(code, 0, "a held lock must delay archival, not fail it: {out}{err}");
    assert!(out.contains("50 todos archived"), "{out}");
}

#[tokio::test]
async fn weekly_vacuums_and_a_failed_step_exits_non_zero() {
    let db = support::migrated_db().await;
    let (code, out, err) = switchyard(&["maintain", "weekly", "--database-url", &db.url]);
    assert_eq!(code, 0, "{out}{err}");
    for step in ["vacuum_todos_active", "vacuum_todos_archived", "vacuum_ai_todo_interactions", "check_partition_health"] {
        assert!(out.contains(step), "{step} missing from {out}");
    }
    let vacuumed: bool = db
        .client
        .query_one("SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'todos_active_part_00'", &[])
        .await
        .expect("stats")
        .get(0);
    assert!(vacuumed, "VACUUM reached the partitions");

    // Mid-migration, dropping archive partitions would lose rows legacy still
    // has; the step refuses, the run says so and exits 1.
    db.client
        .batch_execute("UPDATE switchyard.migration_state SET phase = 'dual_write', epoch = epoch + 1")
        .await
        .expect("phase");
    let (code, out, err) = switchyard(&["maintain", "weekly", "--drop-after", "1day", "--database-url", &db.url]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAILED") && out.contains("drop_old_archive_partitions"), "{out}");
    assert!(err.contains("failed"), "{err}");
}

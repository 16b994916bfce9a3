//! `switchyard maintain daily|weekly` runs the seed's procedures step by step,
//! logs every step, retries lock timeouts, and fails loudly when a step fails.

use crate::support;

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
    for step in
        ["vacuum_todos_active", "vacuum_todos_archived", "vacuum_ai_todo_interactions", "check_partition_health"]
    {
        assert!(out.contains(step), "{step} missing from {out}");
    }
    let vacuumed: bool = db
        .client
        .query_one(
            "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'todos_active_part_00'",
            &[],
        )
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

#[tokio::test]
async fn partman_takes_over_the_archive_partitions_and_maintenance_keeps_working() {
    let db = support::migrated_db().await;
    active_rows(&db, 120, 5, 5).await;
    // An archive month from long ago, for the retention to drop later.
    db.client
        .execute("SELECT create_archive_partitions(0, (now() - interval '14 months')::date)", &[])
        .await
        .expect("old partitions");
    let old_month: String = db
        .client
        .query_one("SELECT to_char(now() AT TIME ZONE 'UTC' - interval '14 months', 'YYYY_MM')", &[])
        .await
        .expect("month")
        .get(0);

    let (code, out, err) = switchyard(&[
        "maintain",
        "daily",
        "--partman",
        "--months-ahead",
        "5",
        "--batch-size",
        "50",
        "--database-url",
        &db.url,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pg_partman now manages todos_archived"), "{out}");
    assert!(out.contains("120 todos archived"), "{out}");

    // pg_partman's naming, the default partition kept, and partitions made
    // five months ahead by pg_partman's maintenance.
    let names: Vec<String> = db
        .client
        .query("SELECT partition_name FROM switchyard.archive_partition_ranges() ORDER BY lower_bound", &[])
        .await
        .expect("partitions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("todos_archived_p")), "{names:?}");
    assert!(names.contains(&format!("todos_archived_p{old_month}")), "{names:?}");
    let ahead: bool = db
        .client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM switchyard.archive_partition_ranges()
                            WHERE lower_bound = date_trunc('month', now() AT TIME ZONE 'UTC' + interval '5 months') AT TIME ZONE 'UTC')",
            &[],
        )
        .await
        .expect("ahead")
        .get(0);
    assert!(ahead, "no partition five months ahead: {names:?}");
    let (archived, both, unhealthy, has_default): (i64, i64, i64, bool) = {
        let r = db
            .client
            .query_one(
                "SELECT (SELECT count(*) FROM todos_archived),
                        (SELECT count(*) FROM todos_active a JOIN todos_archived r USING (id)),
                        (SELECT count(*) FROM check_partition_health() WHERE status <> 'OK'),
                        to_regclass('todos_archived_default') IS NOT NULL",
                &[],
            )
            .await
            .expect("state");
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert_eq!((archived, both, unhealthy, has_default), (120, 0, 0, true));

    // A second run finds pg_partman in charge and changes nothing.
    let (code, out, err) =
        switchyard(&["maintain", "daily", "--partman", "--months-ahead", "5", "--database-url", &db.url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pg_partman already manages todos_archived"), "{out}");

    // Weekly retention through pg_partman: refused mid-migration, applied in
    // new_only, and only to months wholly past it.
    db.client
        .batch_execute("UPDATE switchyard.migration_state SET phase = 'dual_write', epoch = epoch + 1")
        .await
        .expect("phase");
    let (code, out, _) = switchyard(&["maintain", "weekly", "--drop-after", "365days", "--database-url", &db.url]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("legacy still holds the archived rows"), "{out}");
    db.client
        .batch_execute("UPDATE switchyard.migration_state SET phase = 'new_only', epoch = epoch + 1")
        .await
        .expect("phase");
    let (code, out, err) = switchyard(&["maintain", "weekly", "--drop-after", "365days", "--database-url", &db.url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dropped by pg_partman's retention"), "{out}");
    let gone: bool = db
        .client
        .query_one("SELECT to_regclass($1) IS NULL", &[&format!("todos_archived_p{old_month}")])
        .await
        .expect("dropped")
        .get(0);
    assert!(gone, "the partition from 14 months ago survived retention");
    let kept: i64 = db.client.query_one("SELECT count(*) FROM todos_archived", &[]).await.expect("count").get(0);
    assert_eq!(kept, 120, "this month's archive must stay");
}

#[tokio::test]
async fn partman_adoption_keeps_the_default_partition_and_its_rows() {
    let db = support::migrated_db().await;
    active_rows(&db, 0, 0, 0).await;
    // A row archived far beyond the monthly partitions sits in the default.
    db.client
        .batch_execute(
            "INSERT INTO todos_archived (user_id, title, status, completed_at, archived_at)
             VALUES ('00000000-0000-0000-0000-000000000001', 'far', 'done', now(), now() + interval '3 years')",
        )
        .await
        .expect("row in the default partition");
    let default_oid = "SELECT 'todos_archived_default'::regclass::oid";
    let before: u32 = db.client.query_one(default_oid, &[]).await.expect("default").get(0);
    // Months ahead as migrate made them: pg_partman has nothing to create.
    let (code, out, err) =
        switchyard(&["maintain", "daily", "--partman", "--months-ahead", "3", "--database-url", &db.url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pg_partman now manages todos_archived"), "{out}");
    let after: u32 = db.client.query_one(default_oid, &[]).await.expect("default").get(0);
    assert_eq!(after, before, "the same default partition, re-attached");
    // The daily step moved the row into a partition of its month, as
    // create_archive_partitions does without pg_partman.
    let (in_default, its_partition): (i64, String) = {
        let r = db
            .client
            .query_one(
                "SELECT (SELECT count(*) FROM todos_archived_default),
                        (SELECT tableoid::regclass::text FROM todos_archived WHERE title = 'far')",
                &[],
            )
            .await
            .expect("where the row is");
        (r.get(0), r.get(1))
    };
    assert_eq!(in_default, 0, "{out}");
    assert!(its_partition.starts_with("todos_archived_p"), "{its_partition}");
    let unhealthy: i64 = db
        .client
        .query_one("SELECT count(*) FROM check_partition_health() WHERE status <> 'OK'", &[])
        .await
        .expect("health")
        .get(0);
    assert_eq!(unhealthy, 0);
}

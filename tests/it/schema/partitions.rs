//! Archive partition management (create idempotently, drop by retention),
//! check_partition_health(), statistics, and the daily and weekly jobs.

use super::fixtures::{archive_partition_name, count, exec, partitions_of, sqlstate, strings, user};
use crate::support;

/// A migrated database whose session works in UTC, like the partition bounds.
async fn migrated() -> support::TestDb {
    let db = support::migrated_db().await;
    exec(&db.client, "SET TimeZone = 'UTC'").await;
    db
}

async fn create(db: &support::TestDb, months_ahead: i32, from_months_ago: Option<i32>) -> i32 {
    db.client
        .query_one(
            "SELECT create_archive_partitions($1, (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $2))::date)",
            &[&months_ahead, &from_months_ago],
        )
        .await
        .unwrap_or_else(|e| panic!("create_archive_partitions: {}", switchyard_pgconn::describe_pg_error(&e)))
        .get(0)
}

/// Inserts one archived todo with archived_at = `at` (an SQL expression).
async fn archived_at(db: &support::TestDb, at: &str) -> uuid::Uuid {
    let u = user(&db.client).await;
    let sql = format!(
        "INSERT INTO todos_archived (user_id, title, status, completed_at, archived_at)
         VALUES ($1, 'old', 'done', {at}, {at}) RETURNING id"
    );
    db.client.query_one(&sql, &[&u]).await.expect("insert archived").get(0)
}

/// Names of todos_archived_YYYY_MM for months `from..=to` relative to now.
async fn month_names(db: &support::TestDb, from: i32, to: i32) -> Vec<String> {
    let mut names = Vec::new();
    for offset in from..=to {
        names.push(archive_partition_name(&db.client, offset).await);
    }
    names
}

async fn health(db: &support::TestDb, check: &str) -> Vec<(Option<String>, String, String)> {
    db.client
        .query(
            "SELECT object_name, status, detail FROM check_partition_health() WHERE check_name = $1 ORDER BY object_name COLLATE \"C\"",
            &[&check],
        )
        .await
        .expect("check_partition_health")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn creating_archive_partitions_again_creates_nothing_and_changes_nothing() {
    let db = migrated().await;
    let mut initial = month_names(&db, 0, 3).await;
    initial.push("todos_archived_default".into());
    assert_eq!(
        partitions_of(&db.client, "todos_archived").await,
        initial,
        "an empty legacy app gets this month and three ahead"
    );

    assert_eq!(create(&db, 3, None).await, 0);
    assert_eq!(partitions_of(&db.client, "todos_archived").await, initial);

    assert_eq!(create(&db, 5, Some(2)).await, 4, "two months back, two more ahead");
    let after = partitions_of(&db.client, "todos_archived").await;
    assert_eq!(create(&db, 5, Some(2)).await, 0);
    assert_eq!(create(&db, 4, Some(1)).await, 0);
    assert_eq!(partitions_of(&db.client, "todos_archived").await, after);
    let mut expected = month_names(&db, -2, 5).await;
    expected.push("todos_archived_default".into());
    assert_eq!(after, expected);

    let logged = count(
        &db.client,
        "SELECT count(*) FROM maintenance_history WHERE job = 'create_archive_partitions' AND status = 'succeeded'",
        &[],
    )
    .await;
    assert_eq!(logged, 5, "the migration's run and the four above");
}

#[tokio::test]
async fn dropping_old_archive_partitions_removes_only_those_wholly_older_than_the_retention() {
    let db = migrated().await;
    create(&db, 3, Some(6)).await;
    let in_dropped = archived_at(&db, "date_trunc('month', now()) - interval '5 months' + interval '1 day'").await;
    let in_kept = archived_at(&db, "date_trunc('month', now()) - interval '3 months' + interval '1 day'").await;
    let in_default = archived_at(&db, "now() - interval '3 years'").await;

    // now() - 3 months falls inside the month three back: the three months
    // before it end at or before the cutoff, that one does not.
    let dropped: i32 =
        db.client.query_one("SELECT drop_old_archive_partitions('3 months')", &[]).await.expect("drop").get(0);

    assert_eq!(dropped, 3);
    let mut expected = month_names(&db, -3, 3).await;
    expected.push("todos_archived_default".into());
    assert_eq!(partitions_of(&db.client, "todos_archived").await, expected);
    let present = |id| {
        let c = &db.client;
        async move { count(c, "SELECT count(*) FROM todos_archived WHERE id = $1", &[&id]).await }
    };
    assert_eq!(present(in_dropped).await, 0);
    assert_eq!(present(in_kept).await, 1);
    assert_eq!(present(in_default).await, 1, "the default partition is never dropped");

    let logged = strings(
        &db.client,
        "SELECT detail->'dropped'->>0 FROM maintenance_history WHERE job = 'drop_old_archive_partitions' AND status = 'succeeded'",
        &[],
    )
    .await;
    assert_eq!(logged, [archive_partition_name(&db.client, -6).await]);

    assert_eq!(
        db.client
            .query_one("SELECT drop_old_archive_partitions('3 months')", &[])
            .await
            .expect("again")
            .get::<_, i32>(0),
        0
    );
}

#[tokio::test]
async fn dropping_archive_partitions_is_refused_while_legacy_still_holds_the_rows_unless_forced() {
    let db = migrated().await;
    create(&db, 3, Some(2)).await;
    exec(
        &db.client,
        "UPDATE switchyard.migration_state SET phase = 'dual_write', epoch = 1 WHERE table_name = 'todos'",
    )
    .await;
    let err = db.client.query_one("SELECT drop_old_archive_partitions('1 month')", &[]).await.expect_err("refused");
    assert_eq!(sqlstate(&err), "55000");
    assert!(switchyard_pgconn::describe_pg_error(&err).contains("dual_write"), "{err:?}");
    let forced: i32 = db
        .client
        .query_one("SELECT drop_old_archive_partitions('1 month', force => true)", &[])
        .await
        .expect("forced")
        .get(0);
    assert_eq!(forced, 1, "the month two back ends before now() - 1 month");
}

#[tokio::test]
async fn rows_in_the_default_partition_are_a_health_problem_until_their_month_gets_its_partition() {
    let db = migrated().await;
    assert_eq!(health(&db, "default_partition_rows").await[0].1, "OK");
    let id = archived_at(&db, "now() - interval '2 years'").await;
    let landed: String = db
        .client
        .query_one("SELECT tableoid::regclass::text FROM todos_archived WHERE id = $1", &[&id])
        .await
        .expect("row")
        .get(0);
    assert_eq!(landed, "todos_archived_default");

    let report = health(&db, "default_partition_rows").await;
    assert_eq!(report.len(), 1);
    let (object, status, detail) = &report[0];
    assert_eq!((object.as_deref(), status.as_str()), (Some("todos_archived_default"), "WARNING"));
    assert!(detail.starts_with("1 rows in the default partition"), "{detail}");

    // Creating the partitions from that month moves the row out of the default.
    let created = create(&db, 3, Some(24)).await;
    assert_eq!(created, 24, "24 months back to the month before this one");
    let landed: String = db
        .client
        .query_one("SELECT tableoid::regclass::text FROM todos_archived WHERE id = $1", &[&id])
        .await
        .expect("row")
        .get(0);
    assert_eq!(landed, archive_partition_name(&db.client, -24).await);
    assert_eq!(health(&db, "default_partition_rows").await[0].1, "OK");
    let moved = count(
        &db.client,
        "SELECT (detail->>'rows_moved_from_default')::bigint FROM maintenance_history WHERE job = 'create_archive_partitions' ORDER BY id DESC LIMIT 1",
        &[],
    )
    .await;
    assert_eq!(moved, 1);
    // The moved-into partition was attached with every index of the parent.
    let indexes =
        count(&db.client, "SELECT count(*) FROM pg_index WHERE indrelid = $1::text::regclass", &[&landed]).await;
    let parent_indexes =
        count(&db.client, "SELECT count(*) FROM pg_index WHERE indrelid = 'todos_archived'::regclass", &[]).await;
    assert_eq!(indexes, parent_indexes);
}

#[tokio::test]
async fn a_missing_partition_for_this_month_is_critical_and_for_the_next_months_a_warning() {
    let db = migrated().await;
    let this_month = archive_partition_name(&db.client, 0).await;
    let next_month = archive_partition_name(&db.client, 1).await;
    exec(&db.client, &format!("DROP TABLE {this_month}; DROP TABLE {next_month}")).await;
    let mut report = health(&db, "archive_partitions").await;
    report.sort();
    assert_eq!(
        report.iter().map(|(o, s, _)| (o.clone().unwrap_or_default(), s.clone())).collect::<Vec<_>>(),
        [(this_month, "CRITICAL".to_string()), (next_month, "WARNING".to_string())]
    );
    assert_eq!(create(&db, 3, None).await, 2);
    assert_eq!(health(&db, "archive_partitions").await[0].1, "OK");
}

#[tokio::test]
async fn a_detached_hash_partition_is_critical() {
    let db = migrated().await;
    exec(&db.client, "ALTER TABLE todos_active DETACH PARTITION todos_active_part_15").await;
    let report = health(&db, "hash_partitions").await;
    assert_eq!(report.len(), 1);
    assert_eq!((report[0].0.as_deref(), report[0].1.as_str()), (Some("todos_active"), "CRITICAL"));
    assert!(report[0].2.contains("15 partitions, expected 16"), "{}", report[0].2);
}

#[tokio::test]
async fn partition_statistics_and_index_usage_cover_every_partition() {
    let db = migrated().await;
    let u = user(&db.client).await;
    super::fixtures::active_todos(&db.client, u, 7, "todo", None).await;
    let exact = count(
        &db.client,
        "SELECT sum(row_count)::bigint FROM get_partition_statistics(exact => true) WHERE parent_table = 'todos_active'",
        &[],
    )
    .await;
    assert_eq!(exact, 7);
    let rows = count(&db.client, "SELECT count(*) FROM get_partition_statistics()", &[]).await;
    assert_eq!(rows, 16 + 8 + 5, "16 active, 8 AI, 4 monthly archive and the default");

    // One row per partition index, each with the parent index it belongs to.
    let partition_indexes = count(
        &db.client,
        "SELECT count(*) FROM pg_inherits ti JOIN pg_index ci ON ci.indrelid = ti.inhrelid
         WHERE ti.inhparent IN ('todos_active'::regclass, 'todos_archived'::regclass, 'ai_todo_interactions'::regclass)",
        &[],
    )
    .await;
    assert!(partition_indexes >= 16 * 6 + 5 * 3 + 8 * 3);
    assert_eq!(
        count(&db.client, "SELECT count(*) FROM get_index_usage_stats() WHERE parent_index IS NOT NULL", &[]).await,
        partition_indexes
    );
    assert_eq!(count(&db.client, "SELECT count(*) FROM get_index_usage_stats()", &[]).await, partition_indexes);
    let seed_index_copies = count(
        &db.client,
        "SELECT count(*) FROM get_index_usage_stats() WHERE parent_index = 'idx_todos_active_user_status_priority'",
        &[],
    )
    .await;
    assert_eq!(seed_index_copies, 16);
}

#[tokio::test]
async fn daily_maintenance_analyzes_creates_partitions_archives_checks_and_logs_each_step() {
    let db = migrated().await;
    let u = user(&db.client).await;
    super::fixtures::active_todos(&db.client, u, 5, "done", Some(40)).await;
    super::fixtures::active_todos(&db.client, u, 2, "done", Some(3)).await;

    let steps = db
        .client
        .query("SELECT step, status, rows_affected FROM run_daily_maintenance(months_ahead => 4)", &[])
        .await
        .expect("run_daily_maintenance");
    let got: Vec<(String, String, Option<i64>)> = steps.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        got,
        [
            ("analyze".to_string(), "succeeded".to_string(), None),
            ("create_archive_partitions".into(), "succeeded".into(), Some(1)),
            ("archive_completed_todos".into(), "succeeded".into(), Some(5)),
            ("check_partition_health".into(), "succeeded".into(), Some(0)),
        ]
    );
    assert_eq!(count(&db.client, "SELECT count(*) FROM todos_archived", &[]).await, 5);
    let unanalyzed = count(
        &db.client,
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'todos_active'::regclass AND c.reltuples < 0",
        &[],
    )
    .await;
    assert_eq!(unanalyzed, 0, "ANALYZE ran on every active partition");

    let log = strings(
        &db.client,
        "SELECT coalesce(step, '(run)') || ' ' || status FROM maintenance_history WHERE job = 'daily_maintenance' ORDER BY id",
        &[],
    )
    .await;
    assert_eq!(
        log,
        [
            "(run) succeeded",
            "analyze succeeded",
            "create_archive_partitions succeeded",
            "archive_completed_todos succeeded",
            "check_partition_health succeeded",
        ]
    );
}

#[tokio::test]
async fn a_failing_daily_step_is_logged_as_failed_and_the_other_steps_still_run() {
    let db = migrated().await;
    let u = user(&db.client).await;
    super::fixtures::active_todos(&db.client, u, 3, "done", Some(40)).await;
    let steps = db
        .client
        .query("SELECT step, status FROM run_daily_maintenance(months_ahead => 500)", &[])
        .await
        .expect("the run itself does not fail");
    let got: Vec<(String, String)> = steps.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        [
            ("analyze".to_string(), "succeeded".to_string()),
            ("create_archive_partitions".into(), "failed".into()),
            ("archive_completed_todos".into(), "succeeded".into()),
            ("check_partition_health".into(), "succeeded".into()),
        ]
    );
    assert_eq!(count(&db.client, "SELECT count(*) FROM todos_archived", &[]).await, 3);
    let failed = strings(
        &db.client,
        "SELECT coalesce(step, '(run)') || ': ' || coalesce(error, '') FROM maintenance_history
         WHERE job = 'daily_maintenance' AND status = 'failed' ORDER BY id",
        &[],
    )
    .await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0], "(run): ", "the run is marked failed");
    assert!(
        failed[1].starts_with(
            "create_archive_partitions: create_archive_partitions: months_ahead must be between 0 and 120"
        ),
        "{failed:?}"
    );
    assert!(failed[1].ends_with("(SQLSTATE 22023)"), "{failed:?}");
}

#[tokio::test]
async fn the_weekly_steps_are_top_level_commands_that_vacuum_every_partitioned_table() {
    let db = migrated().await;
    let u = user(&db.client).await;
    super::fixtures::active_todos(&db.client, u, 50, "todo", None).await;
    exec(&db.client, "DELETE FROM todos_active").await;
    let commands = strings(&db.client, "SELECT command FROM weekly_maintenance_steps() ORDER BY step_no", &[]).await;
    for table in ["todos_active", "todos_archived", "ai_todo_interactions"] {
        assert!(commands.contains(&format!("VACUUM (ANALYZE) {table}")), "{commands:?}");
    }
    // Each runs as the CLI will run it: alone, outside any transaction block.
    for command in &commands {
        db.client
            .simple_query(command)
            .await
            .unwrap_or_else(|e| panic!("{command}: {}", switchyard_pgconn::describe_pg_error(&e)));
    }
    // The same VACUUM inside a function is what PostgreSQL refuses.
    let err = db
        .client
        .batch_execute("DO $$ BEGIN EXECUTE 'VACUUM todos_active'; END $$")
        .await
        .expect_err("VACUUM in a function");
    assert_eq!(sqlstate(&err), "25001");
}

#[tokio::test]
async fn archive_months_are_utc_months_whatever_the_sessions_time_zone_and_date_style() {
    let db = migrated().await;
    let other = db.connect().await;
    exec(&other, "SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'").await;
    let created: i32 =
        other.query_one("SELECT create_archive_partitions(3, '2021-03-17')", &[]).await.expect("create").get(0);
    assert!(created > 50, "{created}");
    // Read back in UTC and ISO.
    let bound = strings(
        &db.client,
        "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'todos_archived_2021_03'",
        &[],
    )
    .await;
    assert_eq!(bound, ["FOR VALUES FROM ('2021-03-01 00:00:00+00') TO ('2021-04-01 00:00:00+00')"]);
    let dropped: i32 =
        other.query_one("SELECT drop_old_archive_partitions('1 month')", &[]).await.expect("drop").get(0);
    assert_eq!(dropped, created - 1, "every month created but last month, which ends after now() - 1 month");
}

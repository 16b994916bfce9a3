//! `migrate` on a database already holding the legacy app and its data
//! creates exactly the seed's objects, asserted from the catalogs.

use switchyard_control::legacy::{self, SeedOptions};
use switchyard_control::migrate::Migrator;

use super::fixtures::{count, partitions_of, strings};
use crate::support;

/// A legacy database with realistic data (done todos completed over the last
/// 120 days), then every migration applied by the real runner.
async fn migrated_legacy_app() -> support::TestDb {
    let mut db = support::legacy_db().await;
    let opts = SeedOptions { users: 20, todos_per_user: 12, seed: 42, anchor: chrono::Utc::now() };
    legacy::load(&mut db.client, &opts).await.expect("seed legacy data");
    Migrator::embedded().run(&mut db.client, false).await.expect("migrate");
    db.client.batch_execute("SET TimeZone = 'UTC'").await.expect("set timezone");
    db
}

#[tokio::test]
async fn todos_active_has_sixteen_hash_partitions_by_user_id_named_part_00_to_15() {
    let db = migrated_legacy_app().await;
    let expected: Vec<String> = (0..16).map(|i| format!("todos_active_part_{i:02}")).collect();
    assert_eq!(partitions_of(&db.client, "todos_active").await, expected);
    let key = strings(&db.client, "SELECT pg_get_partkeydef('todos_active'::regclass)", &[]).await;
    assert_eq!(key, ["HASH (user_id)"]);
    for (i, name) in expected.iter().enumerate() {
        let bound =
            strings(&db.client, "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = $1", &[name])
                .await;
        assert_eq!(bound, [format!("FOR VALUES WITH (modulus 16, remainder {i})")], "{name}");
    }
}

#[tokio::test]
async fn ai_todo_interactions_has_eight_hash_partitions_by_user_id_named_part_0_to_7() {
    let db = migrated_legacy_app().await;
    let expected: Vec<String> = (0..8).map(|i| format!("ai_todo_interactions_part_{i}")).collect();
    assert_eq!(partitions_of(&db.client, "ai_todo_interactions").await, expected);
    let key = strings(&db.client, "SELECT pg_get_partkeydef('ai_todo_interactions'::regclass)", &[]).await;
    assert_eq!(key, ["HASH (user_id)"]);
    for (i, name) in expected.iter().enumerate() {
        let bound =
            strings(&db.client, "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = $1", &[name])
                .await;
        assert_eq!(bound, [format!("FOR VALUES WITH (modulus 8, remainder {i})")], "{name}");
    }
}

#[tokio::test]
async fn todos_archived_has_a_monthly_partition_from_the_oldest_done_todo_through_three_months_ahead_plus_the_default()
{
    let db = migrated_legacy_app().await;
    let done = count(
        &db.client,
        "SELECT count(*) FROM todos WHERE status = 'done' AND completed_at < now() - interval '60 days'",
        &[],
    )
    .await;
    assert!(done > 0, "the seeded data has done todos completed months ago");

    // Every UTC month from the oldest completed_at to three months ahead,
    // bounded by the first instants of that month and the next.
    let expected_monthly = db
        .client
        .query(
            "SELECT 'todos_archived_' || to_char(m, 'YYYY_MM'),
                    format('FOR VALUES FROM (%L) TO (%L)', m::text || '+00', (m + interval '1 month')::text || '+00')
             FROM generate_series(
                    (SELECT date_trunc('month', min(completed_at) AT TIME ZONE 'UTC') FROM todos WHERE status = 'done'),
                    date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months',
                    interval '1 month') m
             ORDER BY m",
            &[],
        )
        .await
        .expect("expected months")
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect::<Vec<_>>();
    assert!(expected_monthly.len() >= 5, "120 days of done todos plus 3 months ahead: {expected_monthly:?}");

    let actual = db
        .client
        .query(
            "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'todos_archived'::regclass ORDER BY c.relname::text COLLATE \"C\"",
            &[],
        )
        .await
        .expect("archive partitions")
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect::<Vec<_>>();
    let mut expected = expected_monthly;
    expected.push(("todos_archived_default".into(), "DEFAULT".into()));
    assert_eq!(actual, expected);

    let key = strings(&db.client, "SELECT pg_get_partkeydef('todos_archived'::regclass)", &[]).await;
    assert_eq!(key, ["RANGE (archived_at)"]);
    let uncovered = count(
        &db.client,
        "SELECT count(*) FROM todos WHERE status = 'done' AND completed_at IS NOT NULL
           AND to_regclass('todos_archived_' || to_char(completed_at AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL",
        &[],
    )
    .await;
    assert_eq!(uncovered, 0, "every done todo's month has its archive partition");
}

/// The definition of index `name` if it is declared on `parent` itself.
async fn index_on_parent(db: &support::TestDb, parent: &str, name: &str) -> Vec<String> {
    strings(
        &db.client,
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1::text::regclass AND indexrelid = to_regclass($2)",
        &[&parent, &name],
    )
    .await
}

#[tokio::test]
async fn the_seeds_indexes_are_declared_on_each_parent_with_the_seeds_columns_and_where_clauses() {
    let db = migrated_legacy_app().await;
    let status_open =
        "((status)::text = ANY ((ARRAY['todo'::character varying, 'in_progress'::character varying])::text[]))";
    let expected: Vec<(&str, &str, String)> = vec![
        ("todos_active", "todos_active_pkey", "CREATE UNIQUE INDEX todos_active_pkey ON ONLY public.todos_active USING btree (id, user_id)".into()),
        ("todos_active", "idx_todos_active_user_status_priority", format!("CREATE INDEX idx_todos_active_user_status_priority ON ONLY public.todos_active USING btree (user_id, status, priority DESC) WHERE {status_open}")),
        ("todos_active", "idx_todos_active_user_created", "CREATE INDEX idx_todos_active_user_created ON ONLY public.todos_active USING btree (user_id, created_at DESC)".into()),
        ("todos_active", "idx_todos_active_user_project", "CREATE INDEX idx_todos_active_user_project ON ONLY public.todos_active USING btree (user_id, project_id, created_at DESC) WHERE (project_id IS NOT NULL)".into()),
        ("todos_active", "idx_todos_active_parent_user", "CREATE INDEX idx_todos_active_parent_user ON ONLY public.todos_active USING btree (parent_todo_id, user_id) WHERE (parent_todo_id IS NOT NULL)".into()),
        ("todos_active", "idx_todos_active_user_due", format!("CREATE INDEX idx_todos_active_user_due ON ONLY public.todos_active USING btree (user_id, due_date, status) WHERE ((due_date IS NOT NULL) AND {status_open})")),
        ("todos_archived", "todos_archived_pkey", "CREATE UNIQUE INDEX todos_archived_pkey ON ONLY public.todos_archived USING btree (id, archived_at)".into()),
        ("todos_archived", "idx_todos_archived_user_archived", "CREATE INDEX idx_todos_archived_user_archived ON ONLY public.todos_archived USING btree (user_id, archived_at DESC)".into()),
        ("todos_archived", "idx_todos_archived_project_date", "CREATE INDEX idx_todos_archived_project_date ON ONLY public.todos_archived USING btree (project_id, archived_at DESC) WHERE (project_id IS NOT NULL)".into()),
        ("ai_todo_interactions", "ai_todo_interactions_pkey", "CREATE UNIQUE INDEX ai_todo_interactions_pkey ON ONLY public.ai_todo_interactions USING btree (id, user_id)".into()),
        ("ai_todo_interactions", "idx_ai_todo_interactions_user_date", "CREATE INDEX idx_ai_todo_interactions_user_date ON ONLY public.ai_todo_interactions USING btree (user_id, created_at DESC)".into()),
        ("ai_todo_interactions", "idx_ai_todo_interactions_todo_type", "CREATE INDEX idx_ai_todo_interactions_todo_type ON ONLY public.ai_todo_interactions USING btree (todo_id, interaction_type)".into()),
    ];
    for (parent, name, definition) in expected {
        assert_eq!(index_on_parent(&db, parent, name).await, [definition], "{name} on {parent}");
    }
    // None of the seed's per-partition index names: the parents' indexes
    // replace them, and PostgreSQL names the partitions' copies itself.
    let per_partition = count(&db.client, "SELECT count(*) FROM pg_class WHERE relkind = 'i' AND relname ~ '^idx_(todos_active|todos_archived|ai_todo_interactions)_(part|[0-9])'", &[]).await;
    assert_eq!(per_partition, 0);
}

#[tokio::test]
async fn every_partition_present_and_future_has_a_valid_attached_copy_of_each_parent_index() {
    let db = migrated_legacy_app().await;
    // A partition created after the migration inherits them too.
    let created: i32 = db.client.query_one("SELECT create_archive_partitions(5)", &[]).await.expect("create").get(0);
    assert_eq!(created, 2);
    for (parent, seed_indexes) in [("todos_active", 6_i64), ("todos_archived", 3), ("ai_todo_interactions", 3)] {
        let parent_indexes =
            count(&db.client, "SELECT count(*) FROM pg_index WHERE indrelid = $1::text::regclass", &[&parent]).await;
        assert!(parent_indexes >= seed_indexes, "{parent}: {parent_indexes} indexes");
        // Partitions lacking one of the parent's indexes, as (partition, parent index).
        let missing = strings(
            &db.client,
            "SELECT c.relname || ' lacks ' || pi.indexrelid::regclass::text
             FROM pg_inherits ti JOIN pg_class c ON c.oid = ti.inhrelid
             CROSS JOIN pg_index pi
             WHERE ti.inhparent = $1::text::regclass AND pi.indrelid = $1::text::regclass
               AND NOT EXISTS (
                 SELECT 1 FROM pg_inherits ii JOIN pg_index ci ON ci.indexrelid = ii.inhrelid
                 WHERE ii.inhparent = pi.indexrelid AND ci.indrelid = c.oid AND ci.indisvalid)",
            &[&parent],
        )
        .await;
        assert!(missing.is_empty(), "{missing:?}");
        let partitions = partitions_of(&db.client, parent).await.len() as i64;
        let indexes = count(
            &db.client,
            "SELECT count(*) FROM pg_inherits ti JOIN pg_index ci ON ci.indrelid = ti.inhrelid WHERE ti.inhparent = $1::text::regclass",
            &[&parent],
        )
        .await;
        assert_eq!(indexes, partitions * parent_indexes, "{parent}: exactly the parent's indexes on each partition");
    }
}

#[tokio::test]
async fn the_new_tables_carry_every_legacy_column_with_its_type_default_and_nullability_plus_depth() {
    let db = migrated_legacy_app().await;
    async fn columns(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
        strings(
            client,
            "SELECT attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END
                        || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                 WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&table],
        )
        .await
    }
    let mut legacy = columns(&db.client, "todos").await;
    // The legacy id is NOT NULL as a primary key column; so is the new one.
    legacy.push("depth integer not null default 0".into());
    assert_eq!(columns(&db.client, "todos_active").await, legacy);
    legacy.push("archived_at timestamp with time zone not null default now()".into());
    assert_eq!(columns(&db.client, "todos_archived").await, legacy);

    async fn checks(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
        strings(client, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'c' ORDER BY pg_get_constraintdef(oid) COLLATE \"C\"", &[&table]).await
    }
    let status_in = "CHECK (((status)::text = ANY ((ARRAY['todo'::character varying, 'in_progress'::character varying, 'done'::character varying])::text[])))";
    assert_eq!(checks(&db.client, "todos").await, [status_in]);
    assert_eq!(checks(&db.client, "todos_active").await, [status_in, "CHECK ((depth >= 0))"]);
    assert_eq!(
        checks(&db.client, "todos_archived").await,
        ["CHECK (((status)::text = 'done'::text))", status_in, "CHECK ((depth >= 0))"]
    );
}

#[tokio::test]
async fn foreign_keys_to_users_and_projects_keep_the_legacy_delete_actions_and_parent_todo_id_has_none() {
    let db = migrated_legacy_app().await;
    async fn fks(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
        strings(
            client,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'f' ORDER BY pg_get_constraintdef(oid) COLLATE \"C\"",
            &[&table],
        )
        .await
    }
    let expected = [
        "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE SET NULL",
        "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
    ];
    assert_eq!(fks(&db.client, "todos_active").await, expected);
    assert_eq!(fks(&db.client, "todos_archived").await, expected);
    assert_eq!(
        fks(&db.client, "ai_todo_interactions").await,
        ["FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE"]
    );
}

#[tokio::test]
async fn deleting_a_user_or_a_project_acts_on_the_new_tables_as_on_legacy() {
    let db = support::migrated_db().await;
    let c = &db.client;
    let row = c
        .query_one(
            "WITH u AS (INSERT INTO users (email) VALUES ('fk@example.com') RETURNING id),
                  p AS (INSERT INTO projects (user_id, name) SELECT id, 'p' FROM u RETURNING id, user_id),
                  a AS (INSERT INTO todos_active (user_id, project_id, title) SELECT user_id, id, 'a' FROM p RETURNING id),
                  b AS (INSERT INTO todos_archived (user_id, project_id, title, status) SELECT user_id, id, 'b', 'done' FROM p RETURNING id),
                  i AS (INSERT INTO ai_todo_interactions (todo_id, user_id, interaction_type) SELECT a.id, p.user_id, 'subtasks' FROM a, p RETURNING id)
             SELECT (SELECT id FROM u), (SELECT id FROM p), (SELECT id FROM a), (SELECT id FROM b)",
            &[],
        )
        .await
        .expect("insert");
    let (user, project, active, archived): (uuid::Uuid, uuid::Uuid, uuid::Uuid, uuid::Uuid) =
        (row.get(0), row.get(1), row.get(2), row.get(3));

    c.execute("DELETE FROM projects WHERE id = $1", &[&project]).await.expect("delete project");
    let project_ids = count(
        c,
        "SELECT count(project_id) FROM (SELECT project_id FROM todos_active WHERE id = $1 UNION ALL SELECT project_id FROM todos_archived WHERE id = $2) t",
        &[&active, &archived],
    )
    .await;
    assert_eq!(project_ids, 0, "ON DELETE SET NULL in both tables");

    c.execute("DELETE FROM users WHERE id = $1", &[&user]).await.expect("delete user");
    let left = count(
        c,
        "SELECT (SELECT count(*) FROM todos_active) + (SELECT count(*) FROM todos_archived) + (SELECT count(*) FROM ai_todo_interactions)",
        &[],
    )
    .await;
    assert_eq!(left, 0, "ON DELETE CASCADE from users");
}

#[tokio::test]
async fn ai_todo_interactions_has_the_seeds_columns() {
    let db = support::migrated_db().await;
    let columns = strings(
        &db.client,
        "SELECT attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END
                || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = 'ai_todo_interactions'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        &[],
    )
    .await;
    assert_eq!(
        columns,
        [
            "id uuid not null default gen_random_uuid()",
            "todo_id uuid not null",
            "user_id uuid not null",
            "interaction_type character varying(50) not null",
            "prompt text",
            "response jsonb",
            "model text",
            "tokens_used integer",
            "created_at timestamp with time zone not null default now()",
        ]
    );
}

#[tokio::test]
async fn the_seeds_maintenance_functions_and_monitoring_views_exist_in_public() {
    let db = migrated_legacy_app().await;
    for function in [
        "archive_completed_todos(interval,integer)",
        "archive_completed_todos_batch(interval,integer,interval,integer)",
        "check_partition_health()",
        "create_archive_partitions(integer,date)",
        "drop_old_archive_partitions(interval,boolean)",
        "get_index_usage_stats()",
        "get_partition_statistics(boolean)",
        "run_daily_maintenance(interval,integer,integer)",
        "weekly_maintenance_steps()",
    ] {
        let found =
            strings(&db.client, "SELECT coalesce(to_regprocedure('public.' || $1)::text, 'missing')", &[&function])
                .await;
        assert_eq!(found, [function]);
    }
    for view in ["maintenance_history", "partition_monitor"] {
        assert_eq!(
            count(&db.client, "SELECT count(*) FROM pg_views WHERE schemaname = 'public' AND viewname = $1", &[&view])
                .await,
            1,
            "{view}"
        );
    }
    // The seed's own monitoring queries run as written.
    for sql in [
        "SELECT * FROM partition_monitor WHERE vacuum_status != 'OK'",
        "SELECT * FROM maintenance_history ORDER BY started_at DESC LIMIT 5",
        "SELECT table_name, index_name, index_scans FROM get_index_usage_stats() WHERE index_scans > 0 ORDER BY index_scans DESC",
        "SELECT * FROM check_partition_health()",
        "SELECT * FROM get_partition_statistics() ORDER BY size_mb DESC",
    ] {
        db.client.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {}", switchyard_pgconn::describe_pg_error(&e)));
    }
    let monitored = count(&db.client, "SELECT count(*) FROM partition_monitor", &[]).await;
    let partitions = count(
        &db.client,
        "SELECT count(*) FROM pg_inherits WHERE inhparent IN ('todos_active'::regclass, 'todos_archived'::regclass, 'ai_todo_interactions'::regclass)",
        &[],
    )
    .await;
    assert_eq!(monitored, partitions, "partition_monitor shows every partition");
}

#[tokio::test]
async fn the_control_schema_starts_todos_in_the_legacy_phase_at_epoch_zero() {
    let db = migrated_legacy_app().await;
    let tables = strings(
        &db.client,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'switchyard' ORDER BY tablename::text COLLATE \"C\"",
        &[],
    )
    .await;
    for table in [
        "backfill_progress",
        "maintenance_history",
        "migration_state",
        "phase_history",
        "proxy_instances",
        "schema_migrations",
        "shadow_mismatches",
        "verify_runs",
    ] {
        assert!(tables.iter().any(|t| t == table), "switchyard.{table} missing from {tables:?}");
    }
    let state = db
        .client
        .query("SELECT table_name, phase, epoch FROM switchyard.migration_state", &[])
        .await
        .expect("migration_state");
    assert_eq!(state.len(), 1);
    assert_eq!(
        (state[0].get::<_, String>(0), state[0].get::<_, String>(1), state[0].get::<_, i64>(2)),
        ("todos".into(), "legacy".into(), 0)
    );
    let bad_phase = db.client.execute("UPDATE switchyard.migration_state SET phase = 'sideways'", &[]).await;
    assert_eq!(
        bad_phase.as_ref().map_err(super::fixtures::sqlstate).err().as_deref(),
        Some("23514"),
        "phase is checked"
    );
}

#[tokio::test]
async fn a_freshly_migrated_database_is_healthy() {
    let db = migrated_legacy_app().await;
    let problems = strings(
        &db.client,
        "SELECT check_name || ': ' || detail FROM check_partition_health() WHERE status <> 'OK'",
        &[],
    )
    .await;
    assert!(problems.is_empty(), "{problems:?}");
    let checks = strings(
        &db.client,
        "SELECT check_name FROM (SELECT DISTINCT check_name FROM check_partition_health()) h ORDER BY check_name COLLATE \"C\"",
        &[],
    )
    .await;
    assert_eq!(checks, ["archive_partitions", "default_partition_rows", "hash_partitions", "vacuum"]);
}

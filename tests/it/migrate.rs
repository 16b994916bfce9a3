//! `switchyard migrate`: ordered, checksummed, idempotent, and it never
//! touches the legacy application's tables.

use crate::support;

use std::process::Command;

use switchyard_control::legacy::{self, SeedOptions};
use switchyard_control::migrate::{MigrateError, Migration, Migrator};

async fn seeded_legacy_db(users: u32, todos_per_user: u32) -> support::TestDb {
    let mut db = support::legacy_db().await;
    let opts = SeedOptions { users, todos_per_user, seed: 7, anchor: chrono_anchor() };
    legacy::load(&mut db.client, &opts).await.expect("seed legacy data");
    db
}

fn chrono_anchor() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z").expect("anchor").with_timezone(&chrono::Utc)
}

fn pg_dump_legacy(url: &str) -> String {
    let pg_dump =
        switchyard_localpg::shared().cluster.as_ref().map(|c| c.tool("pg_dump")).unwrap_or_else(|| "pg_dump".into());
    // One table per dump: pg_dump's order among several tables follows
    // dependencies, which new objects (functions taking todos[]) reshuffle.
    let mut all = String::new();
    for table in ["users", "projects", "todos", "files"] {
        let out = Command::new(&pg_dump).args(["--no-owner", "-t", table, "-d", url]).output().expect("run pg_dump");
        assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
        // pg_dump wraps its output in \restrict lines with a random key each run.
        let text = String::from_utf8(out.stdout).expect("utf-8 dump");
        for line in text.lines().filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")) {
            all.push_str(line);
            all.push('\n');
        }
    }
    all
}

fn switchyard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(support::switchyard_bin()).args(args).output().expect("run switchyard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn migrate_applies_every_migration_once_and_a_rerun_applies_nothing() {
    let db = seeded_legacy_db(20, 10).await;
    let total = Migrator::embedded().migrations().len();
    assert!(total > 0, "no migrations are embedded");

    let (code, out, err) = switchyard(&["migrate", "--database-url", &db.url]);
    assert_eq!(code, 0, "first migrate failed: {out}{err}");
    assert!(out.contains(&format!("{total} migrations applied")), "{out}");

    let (code, out, err) = switchyard(&["migrate", "--database-url", &db.url]);
    assert_eq!(code, 0, "second migrate failed: {out}{err}");
    assert!(out.contains("nothing to do"), "{out}");
    let recorded: i64 =
        db.client.query_one("SELECT count(*) FROM switchyard.schema_migrations", &[]).await.expect("count").get(0);
    assert_eq!(recorded as usize, total);
}

#[tokio::test]
async fn dry_run_lists_pending_migrations_and_changes_nothing() {
    let db = support::legacy_db().await;
    let (code, out, err) = switchyard(&["migrate", "--dry-run", "--database-url", &db.url]);
    assert_eq!(code, 0, "{out}{err}");
    for m in Migrator::embedded().migrations() {
        assert!(out.contains(&format!("would apply {}", m.name)), "{} missing from:\n{out}", m.name);
    }
    let applied: i64 =
        db.client.query_one("SELECT count(*) FROM switchyard.schema_migrations", &[]).await.expect("count").get(0);
    assert_eq!(applied, 0);
    let new_tables: bool =
        db.client.query_one("SELECT to_regclass('todos_active') IS NOT NULL", &[]).await.expect("regclass").get(0);
    assert!(!new_tables, "dry run created todos_active");
}

#[tokio::test]
async fn a_migration_changed_after_it_was_applied_is_refused_by_name() {
    let mut db = support::legacy_db().await;
    Migrator::embedded().run(&mut db.client, false).await.expect("first run");

    let mut tampered: Vec<Migration> = Migrator::embedded().migrations().to_vec();
    let victim = tampered[0].name.clone();
    tampered[0] = Migration::new(victim.clone(), format!("{}\n-- edited later", tampered[0].sql));
    let err = Migrator::new(tampered).run(&mut db.client, false).await.expect_err("tampered migration accepted");
    assert!(matches!(&err, MigrateError::Tampered { name, .. } if *name == victim), "{err}");
    assert!(err.to_string().contains(&victim), "message must name the migration: {err}");
}

#[tokio::test]
async fn a_database_migrated_before_a_comment_correction_still_migrates() {
    let mut db = support::legacy_db().await;
    Migrator::embedded().run(&mut db.client, false).await.expect("first run");
    // Checksums migrations were applied with before their headers were corrected.
    for (name, old) in [
        ("0010_mirror_functions", "b632495574e6dfbbb13ac1c02c5bad2d5430197215c5b2c027b2893ac894567f"),
        ("0010_mirror_functions", "fdb3d90d916c4c50456d639d65d01262d47a1da9c2aaa25279c3d650412003ed"),
        ("0001_control_schema", "8d151fb1216e56390963540fa91f2cefac07e6919d5749e1671738636dbd7118"),
        ("0002_partitioned_tables", "2c6b825f0eceb7e5332c249b8e9731565d3febad20f8371846d2ad5da1d335c4"),
        ("0004_maintenance", "d0f218b4be8d84004dcbfdf70f72c14b31cb81fec11c1af41bd39c303edd6015"),
        ("0011_shadow_settings", "a01422c8753301926381f947f061ddfe24f8e604517df579c1e6bed68787c5d4"),
    ] {
        let current: String = db
            .client
            .query_one("SELECT checksum FROM switchyard.schema_migrations WHERE name = $1", &[&name])
            .await
            .expect("recorded checksum")
            .get(0);
        db.client
            .execute("UPDATE switchyard.schema_migrations SET checksum = $2 WHERE name = $1", &[&name, &old])
            .await
            .expect("record the old checksum");
        let report = Migrator::embedded().run(&mut db.client, false).await.expect("the old checksum is accepted");
        assert!(report.applied.is_empty(), "{name}: nothing is re-applied: {:?}", report.applied);
        db.client
            .execute("UPDATE switchyard.schema_migrations SET checksum = $2 WHERE name = $1", &[&name, &current])
            .await
            .expect("restore the checksum");
    }
}

#[tokio::test]
async fn a_failing_migration_rolls_back_alone_and_names_itself() {
    let mut db = support::legacy_db().await;
    let migrator = Migrator::new(vec![
        Migration::new("0001_ok", "CREATE TABLE sy_probe_ok (x int)"),
        Migration::new("0002_broken", "CREATE TABLE sy_probe_broken (x int); SELECT no_such_function()"),
    ]);
    let err = migrator.run(&mut db.client, false).await.expect_err("broken migration applied");
    assert!(err.to_string().contains("0002_broken"), "{err}");
    let (ok, broken): (bool, bool) = {
        let r = db
            .client
            .query_one("SELECT to_regclass('sy_probe_ok') IS NOT NULL, to_regclass('sy_probe_broken') IS NOT NULL", &[])
            .await
            .expect("regclass");
        (r.get(0), r.get(1))
    };
    assert!(ok, "the good migration before it must stay applied");
    assert!(!broken, "nothing of the failed migration may remain");
}

#[tokio::test]
async fn legacy_tables_are_byte_identical_before_and_after_migrate() {
    let db = seeded_legacy_db(30, 20).await;
    let before = pg_dump_legacy(&db.url);
    let (code, out, err) = switchyard(&["migrate", "--database-url", &db.url]);
    assert_eq!(code, 0, "{out}{err}");
    let after = pg_dump_legacy(&db.url);
    assert!(before.contains("COPY public.todos"), "dump holds the data");
    assert!(before == after, "migrate changed the legacy tables");
}

#[tokio::test]
async fn seed_legacy_is_deterministic_and_realistic() {
    let a = seeded_legacy_db(10, 30).await;
    let b = seeded_legacy_db(10, 30).await;
    let digest = "SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM todos t";
    let da: String = a.client.query_one(digest, &[]).await.expect("digest a").get(0);
    let db_: String = b.client.query_one(digest, &[]).await.expect("digest b").get(0);
    assert_eq!(da, db_, "same seed and anchor must give the same rows");

    let row = a
        .client
        .query_one(
            "WITH RECURSIVE tree AS (
               SELECT id, 0 AS depth FROM todos WHERE parent_todo_id IS NULL
               UNION ALL SELECT t.id, tree.depth + 1 FROM todos t JOIN tree ON t.parent_todo_id = tree.id)
             SELECT (SELECT max(depth) FROM tree),
                    (SELECT count(*) FROM todos WHERE status = 'done' AND completed_at IS NOT NULL),
                    (SELECT count(*) FROM todos WHERE status <> 'done' AND completed_at IS NOT NULL),
                    (SELECT count(DISTINCT status) FROM todos),
                    (SELECT count(*) FROM todos WHERE ai_generated AND parent_todo_id IS NOT NULL),
                    (SELECT count(*) FROM todos WHERE completed_at < timestamptz '2026-11-01T12:00:00Z' - interval '30 days')",
            &[],
        )
        .await
        .expect("shape");
    let max_depth: i32 = row.get(0);
    assert!(max_depth >= 2, "AI subtasks at least two levels deep, got {max_depth}");
    assert!(row.get::<_, i64>(1) > 0, "some todos are done");
    assert_eq!(row.get::<_, i64>(2), 0, "only done todos have completed_at");
    assert_eq!(row.get::<_, i64>(3), 3, "all three statuses occur");
    assert!(row.get::<_, i64>(4) > 0, "AI-generated subtasks exist");
    assert!(row.get::<_, i64>(5) > 0, "some done todos are old enough to archive");
}

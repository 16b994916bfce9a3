//! `switchyard verify`: a faithful copy verifies clean, every kind of
//! difference injected into the new tables is found with its id and kind,
//! and the reports CI reads (JUnit, JSON, Markdown) parse and agree.

use crate::support;

use std::process::Command;

use serde_json::Value;
use switchyard_control::legacy::{self, SeedOptions};
use switchyard_rewriter::shadow::ShadowRead;
use switchyard_shadow_verify as sv;
use uuid::Uuid;

const COLS: &str = "id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, \
                    ai_generated, tags, metadata, created_at, updated_at, completed_at";

/// Legacy data copied to the new schema by plain SQL: depth by a recursive
/// CTE, done todos completed over 30 days ago archived, the rest active. Run
/// as one simple-query batch, so one transaction: both INSERTs see the same
/// now(), and no row lands in both tables.
fn copy_sql() -> String {
    format!(
        "CREATE TEMP TABLE sy_depth AS
           WITH RECURSIVE tree (id, depth) AS (
             SELECT id, 0 FROM todos WHERE parent_todo_id IS NULL
             UNION ALL SELECT c.id, tree.depth + 1 FROM todos c JOIN tree ON c.parent_todo_id = tree.id)
           SELECT * FROM tree;
         INSERT INTO todos_active ({COLS}, depth)
           SELECT {COLS}, depth FROM todos JOIN sy_depth USING (id)
           WHERE NOT (status = 'done' AND completed_at < now() - interval '30 days');
         INSERT INTO todos_archived ({COLS}, depth, archived_at)
           SELECT {COLS}, depth, now() FROM todos JOIN sy_depth USING (id)
           WHERE status = 'done' AND completed_at < now() - interval '30 days';
         DROP TABLE sy_depth;"
    )
}

/// A migrated database with 30 users × 20 todos, copied to the new schema.
async fn copied_db() -> support::TestDb {
    let mut db = support::migrated_db().await;
    let opts = SeedOptions { users: 30, todos_per_user: 20, seed: 11, anchor: chrono::Utc::now() };
    legacy::load(&mut db.client, &opts).await.expect("seed legacy data");
    db.client.batch_execute(&copy_sql()).await.expect("copy to the new schema");
    db
}

async fn one_id(db: &support::TestDb, sql: &str) -> Uuid {
    db.client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

fn switchyard_verify(db: &support::TestDb, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify", "--database-url", &db.url, "--no-progress", "--chunk-size", "100"];
    if !extra.contains(&"--jobs") {
        args.extend_from_slice(&["--jobs", "2"]);
    }
    args.extend_from_slice(extra);
    let out = Command::new(support::switchyard_bin()).args(&args).output().expect("run switchyard verify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs verify with a JSON report on stdout; returns the exit code and report.
fn verify_json(db: &support::TestDb, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = switchyard_verify(db, &args);
    let report =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}\nstderr: {err}"));
    (code, report)
}

/// `(id, kind)` of every listed difference.
fn found(report: &Value) -> Vec<(String, String)> {
    report["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| (d["id"].as_str().unwrap_or_default().to_string(), d["kind"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn assert_only(report: &Value, id: Uuid, kind: &str) {
    assert_eq!(found(report), vec![(id.to_string(), kind.to_string())], "{report:#}");
    assert_eq!(report["total_differences"], 1);
    assert_eq!(report["difference_counts"][kind], 1);
    assert_eq!(report["clean"], false);
}

#[tokio::test]
async fn a_faithful_copy_verifies_clean_and_the_run_is_recorded_for_the_guard() {
    let db = copied_db().await;
    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["clean"], true);
    assert_eq!(report["total_differences"], 0);
    assert_eq!(report["rows"]["legacy"], 600);
    let new = report["rows"]["active"].as_u64().unwrap_or(0) + report["rows"]["archived"].as_u64().unwrap_or(0);
    assert_eq!(new, 600);
    assert!(report["rows"]["archived"].as_u64().unwrap_or(0) > 0, "the seed has old done todos: {report:#}");
    assert!(report["chunks"].as_array().map_or(0, Vec::len) >= 6, "600 rows in chunks of 100: {report:#}");
    let depth = report["checks"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "depth")).expect("depth check");
    assert_eq!(depth["differences"], 0);

    let run = sv::last_finished(&db.client, "todos").await.expect("read verify_runs").expect("a recorded run");
    assert_eq!(run.clean, Some(true));
    assert_eq!(run.differences, Some(0));
    assert_eq!(run.summary.as_ref().map(|s| s["rows"]["legacy"].clone()), Some(Value::from(600)));
    let recent = sv::last_clean_within(&db.client, "todos", 3600.0).await.expect("read verify_runs");
    assert_eq!(recent.map(|r| r.id), Some(run.id));
}

#[tokio::test]
async fn a_changed_column_is_different_values_naming_the_columns() {
    let db = copied_db().await;
    let id = one_id(
        &db,
        "UPDATE todos_active SET title = title || ' (edited)', tags = tags || '{x}'::text[] \
                          WHERE id = (SELECT min(id::text)::uuid FROM todos_active) RETURNING id",
    )
    .await;
    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 1);
    assert_only(&report, id, "different_values");
    assert_eq!(report["differences"][0]["columns"], serde_json::json!(["title", "tags"]));
    assert_eq!(report["differences"][0]["table"], "todos_active");
}

#[tokio::test]
async fn a_row_missing_in_the_new_tables_is_missing_in_new() {
    let db = copied_db().await;
    let id = one_id(
        &db,
        "DELETE FROM todos_archived WHERE id = (SELECT max(id::text)::uuid FROM todos_archived) RETURNING id",
    )
    .await;
    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 1);
    assert_only(&report, id, "missing_in_new");
}

#[tokio::test]
async fn a_row_only_in_the_new_tables_is_extra_in_new() {
    let db = copied_db().await;
    let id = one_id(
        &db,
        &format!(
            "INSERT INTO todos_active ({COLS}, depth) SELECT gen_random_uuid(), user_id, project_id, NULL, title, description, \
             status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at, 0 \
             FROM todos_active LIMIT 1 RETURNING id"
        ),
    )
    .await;
    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 1);
    assert_only(&report, id, "extra_in_new");
}

#[tokio::test]
async fn a_row_in_both_active_and_archived_violates_i3() {
    let db = copied_db().await;
    let id = one_id(
        &db,
        &format!(
            "INSERT INTO todos_active ({COLS}, depth) SELECT {COLS}, depth FROM todos_archived \
             ORDER BY id LIMIT 1 RETURNING id"
        ),
    )
    .await;
    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 1);
    assert_only(&report, id, "in_both_active_and_archived");
    assert_eq!(report["i3_violations"], 1);
}

#[tokio::test]
async fn a_not_done_row_in_todos_archived_is_in_the_wrong_table() {
    let db = copied_db().await;
    // The CHECK forbids it; only someone bypassing it could put it there.
    db.client
        .batch_execute("ALTER TABLE todos_archived DROP CONSTRAINT todos_archived_status_done")
        .await
        .expect("drop check");
    let id = one_id(
        &db,
        &format!(
            "WITH moved AS (DELETE FROM todos_active WHERE id = (SELECT min(id::text)::uuid FROM todos_active WHERE status = 'todo') \
                            RETURNING {COLS}, depth) \
             INSERT INTO todos_archived ({COLS}, depth, archived_at) SELECT {COLS}, depth, now() FROM moved RETURNING id"
        ),
    )
    .await;
    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 1);
    assert_only(&report, id, "wrong_table");
    assert_eq!(report["differences"][0]["table"], "todos_archived");
}

#[tokio::test]
async fn a_done_row_past_the_retention_still_active_is_a_warning_not_a_difference() {
    let db = copied_db().await;
    // Completed 10..30 days ago: active under a 30-day retention, overdue under 5 days.
    let (code, report) = verify_json(&db, &["--retention-days", "5"]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["warnings"]["not_yet_archived"].as_u64().unwrap_or(0) > 0, "{report:#}");
    let (code, report) = verify_json(&db, &["--retention-days", "1000"]);
    assert_eq!(code, 0);
    assert_eq!(report["warnings"]["archived_within_retention"], report["rows"]["archived"]);
}

#[tokio::test]
async fn a_wrong_depth_is_reported_for_that_row_only() {
    let db = copied_db().await;
    let leaf = "SELECT t.id FROM todos_active t WHERE t.parent_todo_id IS NOT NULL \
                AND NOT EXISTS (SELECT 1 FROM todos c WHERE c.parent_todo_id = t.id) ORDER BY t.id LIMIT 1";
    let id = one_id(&db, &format!("UPDATE todos_active SET depth = depth + 5 WHERE id = ({leaf}) RETURNING id")).await;
    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 1);
    assert_only(&report, id, "wrong_depth");
    let detail = report["differences"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("expected 1") || detail.contains("expected 2"), "{detail}");
}

#[tokio::test]
async fn junit_json_and_markdown_reports_parse_and_hold_every_difference() {
    let db = copied_db().await;
    let changed = one_id(&db, "UPDATE todos_active SET priority = priority + 1 WHERE id = (SELECT min(id::text)::uuid FROM todos_active) RETURNING id").await;
    let missing = one_id(&db, "DELETE FROM todos_active WHERE id = (SELECT max(id::text)::uuid FROM todos_active WHERE parent_todo_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM todos c WHERE c.parent_todo_id = todos_active.id)) RETURNING id").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("verify.json");
    let junit = dir.path().join("reports/junit.xml");
    let md = dir.path().join("summary.md");
    let (code, out, err) = switchyard_verify(
        &db,
        &[
            "--output",
            json.to_str().expect("path"),
            "--output",
            junit.to_str().expect("path"),
            "--output",
            md.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("DIFFERENCES: 2 found"), "stdout gets the text report: {out}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json file")).expect("JSON parses");
    let mut f = found(&report);
    f.sort();
    let mut expected = vec![
        (changed.to_string(), "different_values".to_string()),
        (missing.to_string(), "missing_in_new".to_string()),
    ];
    expected.sort();
    assert_eq!(f, expected);

    // Python's XML parser is strict: it refuses anything not well-formed.
    let script = "import sys, xml.etree.ElementTree as ET\n\
                  root = ET.parse(sys.argv[1]).getroot()\n\
                  suite = root.find('testsuite')\n\
                  print(suite.get('tests'), suite.get('failures'))\n\
                  for f in root.iter('failure'): print(f.get('message'))";
    let py = Command::new("python3").args(["-c", script, junit.to_str().expect("path")]).output().expect("run python3");
    assert!(py.status.success(), "JUnit XML does not parse: {}", String::from_utf8_lossy(&py.stderr));
    let py_out = String::from_utf8_lossy(&py.stdout);
    let mut lines = py_out.lines();
    let counts = lines.next().unwrap_or_default();
    let chunks = report["chunks"].as_array().map_or(0, Vec::len);
    let failing_chunks = report["chunks"].as_array().map_or(0, |c| c.iter().filter(|c| c["matched"] == false).count());
    assert_eq!(counts, format!("{} {failing_chunks}", chunks + 1), "tests = chunks + depth check");
    let failures: Vec<&str> = lines.collect();
    assert_eq!(failures.len(), 2, "{py_out}");
    assert!(failures.contains(&format!("different_values {changed} (columns: priority)").as_str()), "{py_out}");
    assert!(failures.contains(&format!("missing_in_new {missing}").as_str()), "{py_out}");

    let summary = std::fs::read_to_string(&md).expect("markdown file");
    assert!(summary.contains("❌ **2 differences**"), "{summary}");
    assert!(summary.contains(&changed.to_string()) && summary.contains(&missing.to_string()), "{summary}");

    let run = sv::last_finished(&db.client, "todos").await.expect("read verify_runs").expect("recorded");
    assert_eq!((run.clean, run.differences), (Some(false), Some(2)));
}

#[tokio::test]
async fn representative_reads_run_in_both_forms_and_a_corruption_shows_in_them() {
    let db = copied_db().await;
    let user = one_id(&db, "SELECT user_id FROM todos GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1").await;
    let root = one_id(
        &db,
        &format!("SELECT id FROM todos_active WHERE user_id = '{user}' AND parent_todo_id IS NULL ORDER BY id LIMIT 1"),
    )
    .await;
    let file = serde_json::json!([
        {"name": "list open todos", "sql": "SELECT id, title, priority FROM todos t WHERE t.user_id = $1 AND t.status <> 'done' ORDER BY priority DESC, created_at DESC", "params": [user.to_string()]},
        {"name": "walk a hierarchy", "sql": "WITH RECURSIVE tree AS (SELECT id, title, 0 AS lvl FROM todos WHERE id = $1 UNION ALL SELECT c.id, c.title, tree.lvl + 1 FROM todos c JOIN tree ON c.parent_todo_id = tree.id) SELECT * FROM tree", "params": [root.to_string()]},
        {"name": "count by status", "sql": "SELECT status, count(*) FROM todos WHERE user_id = $1 GROUP BY status", "param_sets": [[user.to_string()], [Uuid::nil().to_string()]]}
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queries.json");
    std::fs::write(&path, file.to_string()).expect("write queries");
    let queries = path.to_str().expect("path");

    let (code, report) = verify_json(&db, &["--queries", queries]);
    assert_eq!(code, 0, "{report:#}");
    let names: Vec<&str> =
        report["checks"].as_array().expect("checks").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        vec![
            "depth",
            "query list open todos",
            "query walk a hierarchy",
            "query count by status #1",
            "query count by status #2"
        ]
    );

    db.client
        .execute(&format!("UPDATE todos_active SET title = 'corrupted' WHERE id = '{root}'"), &[])
        .await
        .expect("corrupt");
    let (code, report) = verify_json(&db, &["--queries", queries]);
    assert_eq!(code, 1);
    let mut f = found(&report);
    f.sort();
    assert!(f.contains(&(root.to_string(), "different_values".into())), "{f:?}");
    assert!(f.contains(&("walk a hierarchy".into(), "query_mismatch".into())), "{f:?}");
    let hierarchy = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "query walk a hierarchy"))
        .expect("check");
    assert!(
        hierarchy["detail"].as_str().unwrap_or_default().contains("only in legacy 1, only in new 1"),
        "{hierarchy}"
    );
}

#[tokio::test]
async fn sampled_boundaries_and_many_jobs_still_cover_the_ends_of_the_key_space() {
    let db = copied_db().await;
    let mut ids = Vec::new();
    for id in ["00000000-0000-0000-0000-000000000001", "ffffffff-ffff-ffff-ffff-fffffffffffe"] {
        ids.push(
            one_id(
                &db,
                &format!(
                    "INSERT INTO todos_active ({COLS}, depth) SELECT '{id}', user_id, project_id, NULL, title, description, \
                     status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at, 0 \
                     FROM todos_active LIMIT 1 RETURNING id"
                ),
            )
            .await,
        );
    }
    db.client.batch_execute("ANALYZE todos").await.expect("analyze");
    let opts = sv::Options {
        database_url: db.url.clone(),
        jobs: 4,
        chunk_size: 50,
        exact_boundaries_up_to: 0,
        progress: false,
        ..sv::Options::default()
    };
    let report = sv::verify(&opts).await.expect("verify runs");
    assert!(report.chunks.len() > 3, "sampled boundaries give several chunks: {}", report.chunks.len());
    assert_eq!(report.rows.legacy, 600);
    let found: Vec<(String, sv::DifferenceKind)> = report.differences.iter().map(|d| (d.id.clone(), d.kind)).collect();
    assert_eq!(found, ids.iter().map(|i| (i.to_string(), sv::DifferenceKind::ExtraInNew)).collect::<Vec<_>>());
    assert_eq!(report.exit_code(), sv::EXIT_DIFFERENCES);
}

#[tokio::test]
async fn a_paced_comparison_still_compares_every_row_and_reports_its_limit() {
    // How the pace is kept is the throttle's unit tests' matter (pure
    // reservations on a shared clock); here: pacing loses nothing.
    let db = copied_db().await;
    let (code, report) = verify_json(&db, &["--max-rows-per-sec", "1000", "--jobs", "3"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["settings"]["max_rows_per_sec"], 1000, "{report:#}");
    assert_eq!(report["rows"]["legacy"], 600, "{report:#}");
}

#[tokio::test]
async fn without_the_new_schema_verify_cannot_run() {
    let db = support::legacy_db().await;
    let (code, out, err) = switchyard_verify(&db, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("todos_active does not exist"), "{err}");
}

#[tokio::test]
async fn writes_committed_to_both_schemas_during_the_run_cause_no_false_differences() {
    let db = copied_db().await;
    let ids: Vec<Uuid> = db
        .client
        .query("SELECT id FROM todos_active WHERE status <> 'done' ORDER BY id", &[])
        .await
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let done: Vec<Uuid> = db
        .client
        .query("SELECT id FROM todos_active WHERE status = 'done' ORDER BY id", &[])
        .await
        .expect("done ids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!ids.is_empty() && !done.is_empty());
    let writer = db.connect().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_w = stop.clone();
    // Like the proxy's dual write: each change commits to both schemas in one
    // transaction; archival moves a done row in one transaction too.
    let writes = tokio::spawn(async move {
        let mut n = 0usize;
        while !stop_w.load(std::sync::atomic::Ordering::Relaxed) {
            let id = ids[n % ids.len()];
            let sql = if n % 5 == 4 && n / 5 < done.len() {
                let d = done[n / 5];
                format!(
                    "BEGIN; WITH m AS (DELETE FROM todos_active WHERE id = '{d}' RETURNING *) \
                     INSERT INTO todos_archived SELECT m.*, now() FROM m; COMMIT;"
                )
            } else {
                format!(
                    "BEGIN; UPDATE todos SET title = 'edit {n}', priority = priority + 1 WHERE id = '{id}'; \
                     UPDATE todos_active SET title = 'edit {n}', priority = priority + 1, updated_at = now() WHERE id = '{id}'; COMMIT;"
                )
            };
            writer.batch_execute(&sql).await.expect("concurrent write");
            n += 1;
        }
        n
    });
    let opts = sv::Options {
        database_url: db.url.clone(),
        jobs: 3,
        chunk_size: 40,
        max_rows_per_sec: Some(1500),
        progress: false,
        ..sv::Options::default()
    };
    let report = sv::verify(&opts).await.expect("verify runs");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = writes.await.expect("writer");
    assert!(n > 20, "the writer ran during the verification: {n} writes");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.total_differences, 0, "{:#?}", report.differences);
    assert_eq!(report.rows.legacy, 600);
}

/// One write of the legacy app, mirrored by row image in the same statement
/// as the proxy does in dual_write (design §5): update, complete (long ago,
/// so archival moves it), insert a subtask, delete (children cascade).
fn mirrored_write(n: usize, id: Uuid) -> String {
    let mirror = |op: &str, cte: &str| {
        format!("WITH w AS ({cte} RETURNING todos.*) SELECT switchyard.mirror_todos('{op}', array_agg(w::todos)) FROM w HAVING count(*) > 0")
    };
    match n % 7 {
        0..=2 => mirror("U", &format!("UPDATE todos SET title = 'edit {n}', priority = priority + 1, tags = tags || '{{load}}'::text[] WHERE id = '{id}'")),
        3 => mirror("U", &format!("UPDATE todos SET status = 'done', completed_at = now() - interval '40 days' WHERE id = '{id}'")),
        4 => mirror("U", &format!("UPDATE todos SET status = 'in_progress', completed_at = NULL WHERE id = '{id}'")),
        5 => mirror(
            "I",
            &format!("INSERT INTO todos (user_id, project_id, parent_todo_id, title, ai_generated) SELECT user_id, project_id, id, 'subtask {n}', true FROM todos WHERE id = '{id}'"),
        ),
        _ => mirror("D", &format!("DELETE FROM todos WHERE id = '{id}'")),
    }
}

#[tokio::test]
async fn after_a_backfill_under_mirrored_load_and_archival_verify_is_clean() {
    let mut db = support::migrated_db().await;
    let opts = SeedOptions { users: 30, todos_per_user: 20, seed: 5, anchor: chrono::Utc::now() };
    legacy::load(&mut db.client, &opts).await.expect("seed legacy data");
    db.client
        .batch_execute(
            "UPDATE switchyard.migration_state SET phase = 'dual_write', epoch = epoch + 1 WHERE table_name = 'todos'",
        )
        .await
        .expect("enter dual_write");
    let ids: Vec<Uuid> = db
        .client
        .query("SELECT id FROM todos ORDER BY md5(id::text)", &[])
        .await
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect();

    let writer = db.connect().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_w = stop.clone();
    let load = tokio::spawn(async move {
        let mut n = 0usize;
        while !stop_w.load(std::sync::atomic::Ordering::Relaxed) {
            let sql = if n % 25 == 24 {
                "SELECT archive_completed_todos()".to_string()
            } else {
                mirrored_write(n, ids[(n * 7) % ids.len()])
            };
            writer
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {}", switchyard_pgconn::describe_pg_error(&e)));
            n += 1;
        }
        n
    });

    let mut bf = db.connect().await;
    let cfg = switchyard_control::backfill::BackfillConfig { batch_size: 40, max_batch: None, ..Default::default() };
    let progress = switchyard_control::backfill::run(&mut bf, &cfg, |_| {}).await.expect("backfill");
    assert!(progress.completed);

    // Verify while the load goes on, then once it has stopped.
    let opts = sv::Options {
        database_url: db.url.clone(),
        jobs: 2,
        chunk_size: 60,
        max_rows_per_sec: Some(1000),
        progress: false,
        ..sv::Options::default()
    };
    let during = sv::verify(&opts).await.expect("verify under load");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = load.await.expect("load");
    assert!(during.errors.is_empty(), "{:?}", during.errors);
    assert_eq!(during.total_differences, 0, "under load: {:#?}", during.differences);
    assert!(writes > 20, "the load ran during backfill and verify: {writes} writes");

    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["rows"]["archived"].as_u64().unwrap_or(0) > 0, "archival ran: {report:#}");
}

#[tokio::test]
async fn the_shadow_compare_statement_counts_and_samples_differences_both_ways() {
    let db = copied_db().await;
    let legacy = "SELECT id, title FROM todos WHERE user_id = (SELECT min(user_id::text)::uuid FROM todos)";
    let spec = sv::Spec::default();
    let new = legacy.replace("FROM todos WHERE", &format!("FROM {} todos WHERE", spec.new_relation()));
    let row =
        db.client.query_one(&ShadowRead::new(legacy, new.as_str()).with_samples_sql(5), &[]).await.expect("compare");
    let n: i64 = row.get("legacy_rows");
    assert!(n > 0);
    assert_eq!(
        (row.get::<_, i64>("new_rows"), row.get::<_, i64>("only_in_legacy"), row.get::<_, i64>("only_in_new")),
        (n, 0, 0)
    );
    assert_eq!(row.get::<_, Value>("sample_only_in_new"), serde_json::json!([]));

    let id = one_id(&db, &format!("UPDATE todos_active SET title = 'drifted' WHERE id IN (SELECT id FROM ({legacy}) l) AND id = (SELECT min(id::text)::uuid FROM todos_active WHERE user_id = (SELECT min(user_id::text)::uuid FROM todos)) RETURNING id")).await;
    let row = db.client.query_one(&ShadowRead::new(legacy, new.as_str()).counts_sql(), &[]).await.expect("compare");
    assert_eq!((row.get::<_, i64>("only_in_legacy"), row.get::<_, i64>("only_in_new")), (1, 1));
    let row =
        db.client.query_one(&ShadowRead::new(legacy, new.as_str()).with_samples_sql(5), &[]).await.expect("compare");
    assert_eq!(
        row.get::<_, Value>("sample_only_in_new"),
        serde_json::json!([{"id": id.to_string(), "title": "drifted"}])
    );
    assert_eq!(row.get::<_, Value>("sample_only_in_legacy")[0]["id"], id.to_string());
}

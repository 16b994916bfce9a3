//! What the verify tests share: a migrated database with seeded legacy rows
//! copied to the new schema by plain SQL, and `switchyard verify` run as a
//! process with its JSON report parsed.

use std::process::Command;

use serde_json::Value;
use switchyard_control::legacy::{self, SeedOptions};
use uuid::Uuid;

use crate::support;

pub const COLS: &str = "id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, \
                    ai_generated, tags, metadata, created_at, updated_at, completed_at";

/// Legacy data copied to the new schema by plain SQL: depth by a recursive
/// CTE, done todos completed over 30 days ago archived, the rest active. Run
/// as one simple-query batch, so one transaction: both INSERTs see the same
/// now(), and no row lands in both tables.
pub fn copy_sql() -> String {
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
pub async fn copied_db() -> support::TestDb {
    let mut db = support::migrated_db().await;
    let opts = SeedOptions { users: 30, todos_per_user: 20, seed: 11, anchor: chrono::Utc::now() };
    legacy::load(&mut db.client, &opts).await.expect("seed legacy data");
    db.client.batch_execute(&copy_sql()).await.expect("copy to the new schema");
    db
}

pub async fn one_id(db: &support::TestDb, sql: &str) -> Uuid {
    db.client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Runs `switchyard ARGS`; returns the exit code, stdout and stderr.
pub fn run_switchyard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(support::switchyard_bin()).args(args).output().expect("run switchyard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn switchyard_verify(db: &support::TestDb, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify", "--database-url", &db.url, "--no-progress", "--chunk-size", "100"];
    if !extra.contains(&"--jobs") {
        args.extend_from_slice(&["--jobs", "2"]);
    }
    args.extend_from_slice(extra);
    run_switchyard(&args)
}

/// Runs verify with a JSON report on stdout; returns the exit code and report.
pub fn verify_json(db: &support::TestDb, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = switchyard_verify(db, &args);
    let report =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}\nstderr: {err}"));
    (code, report)
}

/// `(id, kind)` of every listed difference.
pub fn found(report: &Value) -> Vec<(String, String)> {
    report["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| (d["id"].as_str().unwrap_or_default().to_string(), d["kind"].as_str().unwrap_or_default().to_string()))
        .collect()
}

pub fn assert_only(report: &Value, id: Uuid, kind: &str) {
    assert_eq!(found(report), vec![(id.to_string(), kind.to_string())], "{report:#}");
    assert_eq!(report["total_differences"], 1);
    assert_eq!(report["difference_counts"][kind], 1);
    assert_eq!(report["clean"], false);
}

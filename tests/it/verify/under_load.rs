//! Writes committed to both schemas while the verifier runs (the proxy's
//! dual write, archival, a backfill under mirrored load) cause no false
//! differences: each chunk is one statement, one snapshot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use switchyard_control::legacy::{self, SeedOptions};
use switchyard_shadow_verify as sv;
use tokio_postgres::Client;
use uuid::Uuid;

use super::common::{copied_db, verify_json};
use crate::support;

/// A client writing batch `sql_for(0)`, `sql_for(1)`, ... one after the other
/// until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<usize>,
}

impl Writer {
    fn start(client: Client, sql_for: impl Fn(usize) -> String + Send + 'static) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            while !stopped.load(Ordering::Relaxed) {
                let sql = sql_for(n);
                client
                    .batch_execute(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {}", switchyard_pgconn::describe_pg_error(&e)));
                n += 1;
            }
            n
        });
        Writer { stop, task }
    }

    /// Stops after the batch under way; returns how many batches ran.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("writer")
    }
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
    // Like the proxy's dual write: each change commits to both schemas in one
    // transaction; archival moves a done row in one transaction too.
    let writes = Writer::start(db.connect().await, move |n| {
        let id = ids[n % ids.len()];
        if n % 5 == 4 && n / 5 < done.len() {
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
        }
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
    let n = writes.stop().await;
    assert!(n > 20, "the writer ran during the verification: {n} writes");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.total_differences, 0, "{:#?}", report.differences);
    assert_eq!(report.rows.legacy, 600);
}

/// One write of the legacy app, mirrored by row image in the same statement
/// as the proxy does in dual_write (invariant I1): update, complete (long ago,
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

    let load = Writer::start(db.connect().await, move |n| {
        if n % 25 == 24 {
            "SELECT archive_completed_todos()".to_string()
        } else {
            mirrored_write(n, ids[(n * 7) % ids.len()])
        }
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
    let writes = load.stop().await;
    assert!(during.errors.is_empty(), "{:?}", during.errors);
    assert_eq!(during.total_differences, 0, "under load: {:#?}", during.differences);
    assert!(writes > 20, "the load ran during backfill and verify: {writes} writes");

    let (code, report) = verify_json(&db, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["rows"]["archived"].as_u64().unwrap_or(0) > 0, "archival ran: {report:#}");
}

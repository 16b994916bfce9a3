//! Real Python applications' drivers through `switchyard serve`: psycopg2
//! (simple query protocol, parameters interpolated by the client), psycopg 3
//! (extended protocol with server-side binding, prepared statements, pipeline
//! mode, binary results) and asyncpg (binary formats, named prepared
//! statements, `executemany`). Each driver gets what it would get from
//! PostgreSQL directly: its writes reach both schemas (I1), its row counts
//! and `RETURNING` rows are the client's own, its reads of todos are the
//! rows a direct query returns in every phase, refusals arrive as SQLSTATE
//! 0A000 on a connection that stays usable (I4), and prepared statements
//! outlive phase flips.
//!
//! The scripts are in tests/python/; they run with the interpreter of
//! `.venv-tests` (`scripts/ensure-python-drivers.sh` creates it) or
//! `SWITCHYARD_TEST_PYTHON`. They report what they saw step by step as JSON
//! lines; between two steps this file checks the database directly and
//! flips the phase.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const USER: &str = "00000000-0000-0000-0000-0000000000b1";

/// How long one step of a script may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter with the drivers: `SWITCHYARD_TEST_PYTHON`, or the
/// virtualenv scripts/ensure-python-drivers.sh creates. Missing drivers fail
/// the test: they are never a reason to skip it.
fn python() -> PathBuf {
    let python = std::env::var_os("SWITCHYARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(".venv-tests/bin/python"));
    let probe = std::process::Command::new(&python)
        .args(["-c", "import psycopg, psycopg2, asyncpg"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the Python interpreter {}: {e}\nrun scripts/ensure-python-drivers.sh \
                 (or set SWITCHYARD_TEST_PYTHON to a python with psycopg, psycopg2 and asyncpg)",
                python.display()
            )
        });
    assert!(
        probe.status.success(),
        "the Python drivers do not import with {}:\n{}\nrun scripts/ensure-python-drivers.sh \
         (or set SWITCHYARD_TEST_PYTHON to a python with psycopg, psycopg2 and asyncpg)",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    python
}

/// One of the scripts in tests/python/, running, driven step by step.
struct Script {
    name: String,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Script {
    async fn start(script: &str, args: &[&str]) -> Script {
        let path = manifest_dir().join("tests/python").join(script);
        let mut child = Command::new(python())
            .arg(&path)
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", path.display()));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Script { name: script.to_string(), child, stdin, stdout }
    }

    /// What the script saw in its next step, which must be `step`.
    async fn step(&mut self, step: &str) -> Value {
        let line = match tokio::time::timeout(STEP_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                let failure = self.failure().await;
                panic!("{} ended before step {step}: {failure}", self.name)
            }
            Ok(Err(e)) => panic!("{}: reading step {step}: {e}", self.name),
            Err(_) => panic!("{}: step {step} did not finish within {STEP_TIMEOUT:?}", self.name),
        };
        let seen: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: step {step}: not JSON ({e}): {line}", self.name));
        assert_eq!(seen["step"], step, "{}: steps out of order: {seen}", self.name);
        seen
    }

    /// Lets the script go on with its next step.
    async fn go_on(&mut self) {
        self.stdin.write_all(b"go\n").await.unwrap_or_else(|e| panic!("{}: writing go: {e}", self.name));
        self.stdin.flush().await.unwrap_or_else(|e| panic!("{}: flushing go: {e}", self.name));
    }

    /// Lets the script go on after its last step and requires it to exit 0
    /// without reporting anything more.
    async fn finish(mut self) {
        self.go_on().await;
        let extra = tokio::time::timeout(STEP_TIMEOUT, self.stdout.next_line()).await;
        match extra {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(line))) => panic!("{}: unexpected output after the last step: {line}", self.name),
            Ok(Err(e)) => panic!("{}: reading its end: {e}", self.name),
            Err(_) => panic!("{}: did not end within {STEP_TIMEOUT:?}", self.name),
        }
        let status = self.child.wait().await.unwrap_or_else(|e| panic!("{}: wait: {e}", self.name));
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr).await;
        }
        assert!(status.success(), "{} exited with {status}:\n{stderr}", self.name);
    }

    /// The exit status and stderr of a script that ended early.
    async fn failure(&mut self) -> String {
        let status = tokio::time::timeout(STEP_TIMEOUT, self.child.wait()).await;
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr).await;
        }
        format!("{status:?}\n{stderr}")
    }
}

/// A migrated database with one user, behind a proxy serving `phase`.
async fn proxied(phase: &str) -> (support::TestDb, support::ProxyProcess) {
    let db = support::migrated_db().await;
    db.client
        .batch_execute(&format!("INSERT INTO users (id, email) VALUES ('{USER}', 'py@example.com')"))
        .await
        .expect("user");
    let proxy = support::spawn_proxy(&db).await;
    flip(&db, phase).await;
    (db, proxy)
}

/// Moves the migration to `phase` and waits until the proxy acknowledges it.
async fn flip(db: &support::TestDb, phase: &str) {
    support::force_phase(db, phase).await;
    support::wait_for_instances(db).await;
}

/// The rows of `table` read directly, in the form tests/python/steps.py
/// gives a driver's rows (uuids as text, timestamps as microseconds).
async fn direct_rows(db: &support::TestDb, table: &str) -> Value {
    let us = |c: &str| format!("'{c}', (extract(epoch FROM {c}) * 1000000)::int8");
    let sql = format!(
        "SELECT coalesce(json_agg(json_build_object(
            'id', id::text, 'user_id', user_id::text, 'project_id', project_id::text,
            'parent_todo_id', parent_todo_id::text, 'title', title, 'description', description,
            'status', status, 'priority', priority, {}, 'ai_generated', ai_generated, 'tags', tags,
            'metadata', metadata, {}, {}, {}) ORDER BY id), '[]')::text FROM {table}",
        us("due_date"),
        us("created_at"),
        us("updated_at"),
        us("completed_at"),
    );
    let text: String = db.client.query_one(&sql, &[]).await.unwrap_or_else(|e| panic!("read {table}: {e}")).get(0);
    serde_json::from_str(&text).expect("json rows")
}

/// Rows in legacy todos, todos_active and todos_archived.
async fn counts(db: &support::TestDb) -> (i64, i64, i64) {
    let row = db
        .client
        .query_one(
            "SELECT (SELECT count(*) FROM todos), (SELECT count(*) FROM todos_active), (SELECT count(*) FROM todos_archived)",
            &[],
        )
        .await
        .expect("counts");
    (row.get(0), row.get(1), row.get(2))
}

/// Both schemas hold the same rows, and a driver's read of todos through the
/// proxy returned exactly them.
async fn assert_in_step(db: &support::TestDb, read: &Value, context: &str) {
    assert_eq!(support::schemas_differ(&db.client).await, None, "{context}: schemas differ");
    assert_eq!(read, &direct_rows(db, "todos").await, "{context}: the driver's read of todos through the proxy");
}

fn refusal_is_0a000(seen: &Value, context: &str) {
    assert_eq!(seen["pgcode"], "0A000", "{context}: {seen}");
    let message = seen["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("switchyard:") && message.contains("todos"), "{context}: {message}");
}

// ---------------------------------------------------------------- psycopg2

#[tokio::test]
async fn psycopg2_in_legacy_passes_everything_through_untouched() {
    let (db, proxy) = proxied("legacy").await;
    let mut py = Script::start("psycopg2_client.py", &["legacy", &proxy.url(), USER]).await;

    let seen = py.step("legacy").await;
    assert_eq!(seen["note_ids"], json!([1, 2, 3]), "{seen}");
    assert_eq!(
        seen["selected"],
        json!([
            ["it's a note", ["a", "b c"]],
            ["ünïcödé; DROP TABLE notes; --", ["a", "b c"]],
            ["back\\slash", ["a", "b c"]]
        ]),
        "client-side interpolation quotes every value"
    );
    assert_eq!(seen["updated_in_tx"], 4, "{seen}");
    assert_eq!(seen["after_rollback"], json!([3, 0]), "the rolled-back insert and update are gone");
    assert_eq!(seen["duplicate"]["pgcode"], "23505", "PostgreSQL's own errors pass through: {seen}");
    assert_eq!(seen["todo_ids"].as_array().map(Vec::len), Some(2), "{seen}");
    assert_eq!(seen["comment"], Value::Null, "nothing is refused in legacy: {seen}");
    assert_eq!(seen["usable"], true);
    py.finish().await;

    let notes: Vec<String> = db
        .client
        .query("SELECT body FROM notes ORDER BY id", &[])
        .await
        .expect("notes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(notes, ["it's a note", "ünïcödé; DROP TABLE notes; --", "back\\slash"]);
    assert_eq!(counts(&db).await, (2, 0, 0), "legacy writes reach legacy todos only");
    let comment: Option<String> =
        db.client.query_one("SELECT obj_description('todos'::regclass)", &[]).await.expect("comment").get(0);
    assert_eq!(comment.as_deref(), Some("commented through psycopg2"));
}

#[tokio::test]
async fn psycopg2_in_dual_write_mirrors_writes_reports_rowcounts_and_gets_refusals_as_0a000() {
    let (db, proxy) = proxied("dual_write").await;
    let mut py = Script::start("psycopg2_client.py", &["dual_write", &proxy.url(), USER]).await;

    let seen = py.step("writes").await;
    assert_eq!(seen["inserted"], 3, "{seen}");
    let ids: Vec<String> = serde_json::from_value(seen["ids"].clone()).expect("ids");
    assert_eq!(ids.len(), 3, "RETURNING id gives the client one row per inserted todo");
    assert_eq!((&seen["updated"], &seen["updated_none"], &seen["deleted"]), (&json!(2), &json!(0), &json!(1)));
    assert_in_step(&db, &seen["read"], "psycopg2 writes").await;
    assert_eq!(counts(&db).await, (2, 2, 0));
    let read = seen["read"].as_array().expect("rows");
    let one = read.iter().find(|r| r["id"] == ids[0].as_str()).expect("first todo");
    assert_eq!((&one["title"], &one["status"]), (&json!("it's one"), &json!("done")));
    assert_eq!(one["tags"], json!(["home", "o'clock"]));
    assert_eq!(one["metadata"], json!({"source": "psycopg2", "n": 1}));
    py.go_on().await;

    let seen = py.step("rolled_back").await;
    assert_eq!((&seen["updated_in_tx"], &seen["deleted_in_tx"]), (&json!(3), &json!(1)), "{seen}");
    assert_in_step(&db, &seen["read"], "after a rollback").await;
    assert_eq!(counts(&db).await, (2, 2, 0), "the rolled-back insert and delete left neither schema changed");
    let priorities: i64 = db
        .client
        .query_one(
            "SELECT (SELECT count(*) FROM todos WHERE priority = 99) + (SELECT count(*) FROM todos_active WHERE priority = 99)",
            &[],
        )
        .await
        .expect("priorities")
        .get(0);
    assert_eq!(priorities, 0, "the rolled-back update left neither schema changed");
    py.go_on().await;

    let seen = py.step("refused").await;
    for (sql, refusal) in seen["refused"].as_object().expect("refusals") {
        refusal_is_0a000(refusal, sql);
        assert_eq!(refusal["count_after"], 2, "{sql}: nothing of it ran, and the connection answers after rollback");
    }
    assert_eq!(seen["refused"].as_object().map(|m| m.len()), Some(3), "TRUNCATE, ALTER TABLE, COPY FROM STDIN");
    assert_eq!(
        seen["streamed"],
        direct_rows(&db, "todos").await,
        "a named cursor over todos streams the rows a direct read returns"
    );
    refusal_is_0a000(&seen["in_tx"], "TRUNCATE inside a transaction");
    assert_eq!(seen["aborted"]["pgcode"], "25P02", "the refusal aborts the transaction block: {seen}");
    refusal_is_0a000(&seen["autocommit"], "TRUNCATE in autocommit");
    assert_eq!(seen["count_autocommit"], 2, "in autocommit the next statement runs at once");
    assert_in_step(&db, &seen["read"], "after the refusals").await;
    py.finish().await;
    assert_eq!(counts(&db).await, (2, 2, 0), "the insert before the refusal in the same transaction was rolled back");
}

// ---------------------------------------------------------------- psycopg 3

#[tokio::test]
async fn psycopg3_prepared_pipelined_and_binary_traffic_keeps_both_schemas_equal_from_dual_write_to_write_new() {
    let (db, proxy) = proxied("dual_write").await;
    let phases = ["dual_write", "read_new", "write_new"];
    let mut args = vec![proxy.url(), USER.to_string()];
    args.extend(phases.iter().map(|p| p.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut py = Script::start("psycopg3_client.py", &args).await;
    let mut first_prepared: Option<Vec<String>> = None;

    for (k, phase) in phases.into_iter().enumerate() {
        if k > 0 {
            // The same connection, and its prepared statements, go on in the next phase.
            flip(&db, phase).await;
            py.go_on().await;
        }
        let seen = py.step(phase).await;
        let ids = |key: &str| -> Vec<String> { serde_json::from_value(seen[key].clone()).expect("ids") };
        let mut all = [ids("inserted_ids"), ids("executemany_ids"), ids("piped_ids")].concat();
        assert_eq!(all.len(), 3 + 4 + 3, "{phase}: RETURNING id for each insert, executemany and pipeline included");
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10, "{phase}: distinct ids");
        assert_eq!(seen["updated"], 2, "{phase}: {seen}");
        assert_eq!(seen["updated_returning"], json!([11, 12, 13, 14]), "{phase}: UPDATE ... RETURNING rows");
        assert_eq!(seen["deleted"], 1, "{phase}");
        assert_eq!(
            seen["piped_rowcounts"],
            json!([1, 1]),
            "{phase}: rowcounts of an UPDATE and a DELETE in a pipeline"
        );
        refusal_is_0a000(&seen["refused"], &format!("{phase}: TRUNCATE through the extended protocol"));
        assert_eq!(seen["binary_format"], 1, "{phase}: the binary cursor got binary columns");
        assert_eq!(seen["refused"]["usable"], 42, "{phase}: the connection answers after the refusal");
        refusal_is_0a000(&seen["refused"]["in_pipeline"], &format!("{phase}: TRUNCATE in the middle of a pipeline"));
        let n = 8 * (k as i64 + 1);
        assert_eq!(seen["copied_select"], n, "{phase}: COPY (SELECT ... FROM todos) TO STDOUT gives every row");
        if phase == "dual_write" {
            assert_eq!(seen["refused"]["copy_table"], Value::Null, "dual_write: COPY todos TO is served from legacy");
            assert_eq!(seen["refused"]["copied_table"], n);
        } else {
            refusal_is_0a000(&seen["refused"]["copy_table"], &format!("{phase}: COPY todos TO (the table form)"));
        }
        // psycopg's own statements (the proxy adds its replans for a phase under names of its own).
        let prepared: Vec<&str> = seen["prepared"]
            .as_array()
            .expect("prepared")
            .iter()
            .filter_map(Value::as_str)
            .filter(|name| name.starts_with("_pg3_"))
            .collect();
        assert!(prepared.len() >= 8, "{phase}: psycopg prepared each statement on the server: {}", seen["prepared"]);
        let prepared: Vec<String> = prepared.into_iter().map(str::to_string).collect();
        match &first_prepared {
            None => first_prepared = Some(prepared),
            Some(first) => assert_eq!(
                &prepared, first,
                "{phase}: the statements prepared in dual_write are executed by name, none prepared again"
            ),
        }
        assert_in_step(&db, &seen["read"], &format!("{phase}: text read")).await;
        assert_in_step(&db, &seen["read_binary"], &format!("{phase}: binary read")).await;
        assert_eq!(
            counts(&db).await,
            (n, n, 0),
            "{phase}: 10 inserted and 2 deleted per phase; the rolled-back pipeline and the refused one left nothing"
        );
    }
    py.finish().await;
}

// ---------------------------------------------------------------- asyncpg

/// What asyncpg's round of writes in `phase` must have seen (tests/python/asyncpg_client.py `writes`).
fn assert_asyncpg_round(seen: &Value, phase: &str, rows_after: i64) {
    assert_eq!(seen["bulk"], 100, "{phase}: executemany inserted all 100 rows: {seen}");
    assert_eq!(seen["returning"], json!([format!("{phase} returning a"), format!("{phase} returning b")]), "{phase}");
    assert_eq!(
        (&seen["updated"], &seen["done"], &seen["deleted"]),
        (&json!(2), &json!(20), &json!(20)),
        "{phase}: command tags"
    );
    assert_eq!(seen["updated_in_tx"], rows_after + 1, "{phase}: UPDATE n inside the rolled-back transaction");
    assert_eq!(seen["deleted_in_tx"], 1, "{phase}");
    refusal_is_0a000(&seen["truncate"], &format!("{phase}: TRUNCATE todos"));
    refusal_is_0a000(&seen["copy_in"], &format!("{phase}: copy_records_to_table (COPY todos FROM STDIN, binary)"));
    assert_eq!(seen["usable"], 42, "{phase}: the connection answers after the refusals");
    assert_eq!(
        (&seen["paged"], &seen["paged_distinct"]),
        (&json!(rows_after), &json!(rows_after)),
        "{phase}: a cursor (a portal read 7 rows at a time) sees every row once"
    );
}

#[tokio::test]
async fn asyncpg_binary_executemany_and_prepared_statements_work_across_a_flip_to_write_new() {
    let (db, proxy) = proxied("dual_write").await;
    let mut py = Script::start("asyncpg_client.py", &[&proxy.url(), USER]).await;

    let seen = py.step("dual_write").await;
    assert_asyncpg_round(&seen, "dual_write", 82);
    assert_eq!(seen["locking_read"], Value::Null, "dual_write serves a locking read from legacy: {seen}");
    assert_in_step(&db, &seen["read"], "asyncpg in dual_write").await;
    assert_eq!(counts(&db).await, (82, 82, 0), "100 + 2 inserted, 20 deleted, mirrored; the rollback left nothing");

    // A marker in the new tables only tells which side a read is served from.
    let probe: uuid::Uuid = seen["probe"]["id"].as_str().expect("probe id").parse().expect("uuid");
    let legacy_title = seen["probe"]["title"].as_str().expect("probe title").to_string();
    let marked = db
        .client
        .execute("UPDATE todos_active SET title = 'only in the new tables' WHERE id = $1", &[&probe])
        .await
        .expect("marker");
    assert_eq!(marked, 1);
    assert!(support::schemas_differ(&db.client).await.is_some(), "the marker is in the new tables only");
    py.go_on().await;
    let seen = py.step("read_dual_write").await;
    assert_eq!(seen["title"], legacy_title.as_str(), "a prepared read in dual_write is served from legacy");

    flip(&db, "read_new").await;
    flip(&db, "write_new").await;
    py.go_on().await;
    let seen = py.step("after_flip").await;
    assert_eq!(
        seen["title"], "only in the new tables",
        "the statement prepared in dual_write reads the new tables after the flip"
    );
    db.client
        .execute("UPDATE todos_active SET title = $2 WHERE id = $1", &[&probe, &legacy_title])
        .await
        .expect("remove the marker");
    let new_id: uuid::Uuid = seen["new_id"].as_str().expect("new id").parse().expect("uuid");
    let row = db
        .client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM todos WHERE id = $1), EXISTS (SELECT 1 FROM todos_active WHERE id = $1)",
            &[&new_id],
        )
        .await
        .expect("whereabouts");
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, bool>(1)),
        (true, true),
        "the insert prepared before the flip is mirrored"
    );
    assert_eq!(support::schemas_differ(&db.client).await, None);
    assert_eq!(counts(&db).await, (83, 83, 0));
    py.go_on().await;

    let seen = py.step("write_new").await;
    assert_asyncpg_round(&seen, "write_new", 165);
    // Locked in the new tables, where write_new writes (tests/it/wire_phases/locking.rs
    // compares the rows and the locks with a twin).
    assert_eq!(seen["locking_read"], Value::Null, "write_new serves a locking read with ORDER BY and LIMIT: {seen}");
    assert_in_step(&db, &seen["read"], "asyncpg in write_new").await;
    assert_eq!(counts(&db).await, (165, 165, 0));
    py.finish().await;
}

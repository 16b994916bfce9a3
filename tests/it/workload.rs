//! The legacy app workload (`switchyard-workload`, `switchyard workload`)
//! against PostgreSQL directly: it performs every service-layer operation in
//! both protocols without errors, its ledger of acknowledged writes checks
//! clean, the check fails when the database loses or invents a write, and
//! the CLI reports throughput and percentiles.

use crate::support;

use std::time::Duration;

use switchyard_control::legacy::{load, SeedOptions};
use switchyard_workload::{self as wl, Expect, Mismatch, Op, Schema, WorkloadConfig};
use uuid::Uuid;

/// A legacy database with realistic data: 20 users, 600 todos.
async fn seeded_db() -> support::TestDb {
    let mut db = support::legacy_db().await;
    let opts = SeedOptions { users: 20, todos_per_user: 30, seed: 7, anchor: chrono::Utc::now() };
    load(&mut db.client, &opts).await.expect("loading the legacy seed");
    db
}

fn config(url: &str, clients: usize, secs: f64) -> WorkloadConfig {
    WorkloadConfig::new(url, clients).with_duration(Duration::from_secs_f64(secs)).with_seed(42)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_runs_in_both_protocols_without_errors_and_the_ledger_checks_clean() {
    let db = seeded_db().await;
    let started: chrono::DateTime<chrono::Utc> =
        db.client.query_one("SELECT now()", &[]).await.expect("a statement on the test database").get(0);

    let report = wl::run(config(&db.url, 4, 3.0)).await.expect("the workload runs");

    assert_eq!(report.errors(), 0, "{}", report.render_text());
    for op in Op::ALL {
        let s = report.op(op);
        assert!(s.ops > 0, "no successful {op}:\n{}", report.render_text());
        assert!(
            s.by_protocol.extended > 0 && s.by_protocol.simple > 0,
            "{op} used one protocol only: {:?}",
            s.by_protocol
        );
        assert!(s.latency_ms.p50 > 0.0 && s.latency_ms.p50 <= s.latency_ms.p99 && s.latency_ms.p99 <= s.latency_ms.max);
    }
    assert!(report.statements.extended > 0 && report.statements.simple > 0, "{:?}", report.statements);
    let l = report.ledger_summary;
    assert!(l.present > 0 && l.deleted > 0, "{l:?}");
    assert_eq!(l.uncertain, 0);

    let check = report.ledger.check(&db.client, Schema::Legacy).await.expect("the check runs");
    assert!(check.is_clean(), "{check}");
    assert_eq!(check.checked, l.present + l.deleted + l.rejected);

    // Independently of the ledger: subtasks were created in transactions
    // under new parents, and edits and completions reached the table.
    let row = db
        .client
        .query_one(
            "SELECT count(*) FILTER (WHERE c.ai_generated AND p.created_at >= $1),
                    (SELECT count(*) FROM todos WHERE title LIKE '%(edited)'),
                    (SELECT count(*) FROM todos WHERE status = 'done' AND completed_at >= $1)
             FROM todos c JOIN todos p ON c.parent_todo_id = p.id",
            &[&started],
        )
        .await
        .expect("a statement on the test database");
    let (subtasks, edited, completed): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert!(
        subtasks >= 2 && edited > 0 && completed > 0,
        "subtasks {subtasks}, edited {edited}, completed {completed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_check_fails_when_the_database_loses_changes_or_invents_a_write() {
    let db = seeded_db().await;
    let report = wl::run(config(&db.url, 2, 1.5)).await.expect("the workload runs");
    assert_eq!(report.errors(), 0, "{}", report.render_text());
    assert!(report.ledger.check(&db.client, Schema::Legacy).await.expect("the ledger check runs").is_clean());

    // Leaves: no cascade muddies which mismatch each change causes.
    let leaf = |e: &&(&Uuid, &wl::Entry)| e.1.expect == Expect::Present && e.1.title.is_some();
    let mut present: Vec<Uuid> = Vec::new();
    for (id, _) in report.ledger.entries().filter(|e| leaf(&e)) {
        let children: i64 = db
            .client
            .query_one("SELECT count(*) FROM todos WHERE parent_todo_id = $1", &[id])
            .await
            .expect("a statement on the test database")
            .get(0);
        if children == 0 {
            present.push(*id);
        }
        if present.len() == 2 {
            break;
        }
    }
    let deleted =
        report.ledger.entries().find(|(_, e)| e.expect == Expect::Deleted).map(|(id, _)| *id).expect("a deletion");
    let [retitled, removed] = present[..] else { panic!("two acknowledged leaf todos needed, got {present:?}") };

    db.client
        .execute("UPDATE todos SET title = 'changed behind its back' WHERE id = $1", &[&retitled])
        .await
        .expect("a statement on the test database");
    db.client.execute("DELETE FROM todos WHERE id = $1", &[&removed]).await.expect("a statement on the test database");
    db.client
        .execute("INSERT INTO todos (id, user_id, title) SELECT $1, id, 'resurrected' FROM users LIMIT 1", &[&deleted])
        .await
        .expect("a statement on the test database");

    let check = report.ledger.check(&db.client, Schema::Legacy).await.expect("the ledger check runs");
    assert!(!check.is_clean());
    assert_eq!(check.mismatch_count, 3, "{check}");
    assert!(check.mismatches.contains(&Mismatch::Lost { id: removed }), "{check}");
    assert!(check.mismatches.contains(&Mismatch::Phantom { id: deleted, expected: Expect::Deleted }), "{check}");
    assert!(
        check.mismatches.iter().any(|m| matches!(m, Mismatch::Stale { id, column: "title", .. } if *id == retitled)),
        "{check}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_the_server_refuses_are_counted_with_their_message_and_left_out_of_the_ledger() {
    let db = seeded_db().await;
    // Edits are refused, and so are creates of one kind of title.
    db.client
        .batch_execute(
            "ALTER TABLE todos ADD CONSTRAINT no_edits CHECK (title NOT LIKE '%(edited)');
             CREATE FUNCTION no_groceries() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.title LIKE 'Buy groceries%' THEN
                 RAISE EXCEPTION 'no more groceries' USING ERRCODE = 'check_violation';
               END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER no_groceries BEFORE INSERT ON todos FOR EACH ROW EXECUTE FUNCTION no_groceries();",
        )
        .await
        .expect("a statement on the test database");

    let report = wl::run(config(&db.url, 2, 2.0)).await.expect("the workload runs");

    let edit = report.op(Op::Edit);
    assert!(edit.errors > 0 && edit.ops == 0, "{}", report.render_text());
    assert!(edit.first_errors.iter().all(|m| m.contains("23514") && m.contains("no_edits")), "{:?}", edit.first_errors);
    assert!(report.op(Op::Create).errors > 0 && report.op(Op::Create).ops > 0, "{}", report.render_text());
    for op in [Op::List, Op::SetStatus, Op::Complete, Op::Delete, Op::Walk] {
        assert_eq!(report.op(op).errors, 0, "{}", report.render_text());
    }
    // Refused creates' ids are recorded as absent, and are.
    assert!(report.ledger_summary.rejected > 0, "{:?}", report.ledger_summary);
    let check = report.ledger.check(&db.client, Schema::Legacy).await.expect("the ledger check runs");
    assert!(check.is_clean(), "{check}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_ends_the_run_and_marked_phases_get_their_own_counts() {
    let db = seeded_db().await;
    let handle = wl::start(WorkloadConfig::new(&db.url, 3)).await.expect("the workload starts");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mark = handle.mark("second");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let since = handle.snapshot().since(&mark);
    assert!(since.ok_total() > 0 && since.errors_total() == 0, "{since:?}");
    assert_eq!(handle.errors_since(&mark), 0);

    let report = tokio::time::timeout(Duration::from_secs(10), handle.stop_and_wait())
        .await
        .expect("the clients stop rather than hang")
        .expect("and report");

    let labels: Vec<&str> = report.phases.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["start", "second"]);
    assert!(report.phases.iter().all(|p| p.ops > 0 && p.errors == 0), "{:?}", report.phases);
    assert_eq!(report.phases.iter().map(|p| p.ops).sum::<u64>(), report.total.ops);
    assert!(report.ledger.check(&db.client, Schema::Legacy).await.expect("the ledger check runs").is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hierarchy_walk_missing_an_acknowledged_subtask_is_an_error_and_the_ledger_reports_it() {
    let db = support::legacy_db().await;
    let mut config = WorkloadConfig::new(&db.url, 2).with_seed(5);
    config.mix = wl::Mix { create: 1, list: 0, set_status: 0, complete: 0, edit: 0, delete: 0, walk: 2 };
    let handle = wl::start(config).await.expect("the workload starts");
    // Subtasks leave their parents behind the app's back while it walks its
    // hierarchies (they stay: walks that start at a subtask still work).
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        db.client
            .execute("UPDATE todos SET parent_todo_id = NULL WHERE parent_todo_id IS NOT NULL", &[])
            .await
            .expect("a statement on the test database");
    }
    let report = handle.stop_and_wait().await.expect("the workload reports");

    let walk = report.op(Op::Walk);
    assert!(walk.errors > 0, "{}", report.render_text());
    assert!(
        walk.first_errors.iter().all(|m| m.contains("acknowledged") && m.contains(" missing")),
        "{:?}",
        walk.first_errors
    );
    let check = report.ledger.check(&db.client, Schema::Legacy).await.expect("the ledger check runs");
    assert!(check.mismatches.iter().all(|m| matches!(m, Mismatch::Stale { column: "parent_todo_id", .. })), "{check}");
    assert!(!check.is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_after_their_backends_are_killed_and_unknown_outcomes_stay_out_of_the_check() {
    let db = seeded_db().await;
    let handle = wl::start(WorkloadConfig::new(&db.url, 4).with_seed(3)).await.expect("the workload starts");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        db.client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                &[],
            )
            .await
            .expect("a statement on the test database");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = handle.mark("after the kills");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = handle.snapshot().since(&after);
    let report = handle.stop_and_wait().await.expect("the workload reports");

    assert!(report.reconnects >= 4, "{}", report.render_text());
    let (during, after) = (&report.phases[0], &report.phases[1]);
    assert_eq!(during.errors, during.errors_by_op.values().sum::<u64>());
    assert!(after.errors_by_op.is_empty(), "{after:?}");
    assert!(since.ok_total() > 0 && since.errors_total() == 0, "{since:?}");
    let check = report.ledger.check(&db.client, Schema::Legacy).await.expect("the ledger check runs");
    assert!(check.is_clean(), "{check}");
    assert_eq!(check.uncertain, report.ledger_summary.uncertain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_users_the_workload_creates_one_per_client_and_works_on_its_own_todos() {
    let db = support::legacy_db().await;
    let report = wl::run(config(&db.url, 3, 1.0)).await.expect("the workload runs");
    let users: i64 =
        db.client.query_one("SELECT count(*) FROM users", &[]).await.expect("a statement on the test database").get(0);
    assert_eq!(users, 3);
    assert_eq!(report.errors(), 0, "{}", report.render_text());
    assert!(report.op(Op::Create).ops > 0 && report.ledger_summary.present > 0);
    assert!(report.ledger.check(&db.client, Schema::Legacy).await.expect("the ledger check runs").is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_ops_per_second_percentiles_and_the_ledger_check_as_json() {
    let db = seeded_db().await;
    let out = tokio::process::Command::new(support::switchyard_bin())
        .args([
            "workload",
            "--url",
            &db.url,
            "--clients",
            "2",
            "--duration",
            "2",
            "--json",
            "--ledger-check-url",
            &db.url,
        ])
        .output()
        .await
        .expect("running switchyard workload");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");

    assert_eq!(json["clients"], 2);
    assert!(json["total"]["ops_per_s"].as_f64().expect("a JSON field of the report") > 0.0, "{json:#}");
    let ops = json["operations"].as_array().expect("a JSON field of the report");
    let names: Vec<&str> = ops.iter().map(|o| o["op"].as_str().expect("a JSON field of the report")).collect();
    assert_eq!(names, ["create", "list", "set_status", "complete", "edit", "delete", "walk"]);
    for o in ops.iter().chain([&json["total"]]) {
        let l = &o["latency_ms"];
        let (p50, p90, p99, max) = (
            l["p50"].as_f64().expect("a JSON field of the report"),
            l["p90"].as_f64().expect("a JSON field of the report"),
            l["p99"].as_f64().expect("a JSON field of the report"),
            l["max"].as_f64().expect("a JSON field of the report"),
        );
        assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{o:#}");
        assert_eq!(o["errors"], 0, "{o:#}");
    }
    let checks = json["ledger_checks"].as_array().expect("a JSON field of the report");
    assert_eq!(checks.len(), 1, "legacy only: no new schema here");
    assert_eq!(checks[0]["schema"], "legacy");
    assert_eq!(checks[0]["mismatch_count"], 0);
    assert!(checks[0]["checked"].as_u64().expect("a JSON field of the report") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_a_table_and_exits_1_when_the_ledger_check_fails() {
    let db = seeded_db().await;
    // The check reads a database where the todos table lost every row the
    // workload touches: a different, empty database.
    let other = support::legacy_db().await;
    let out = tokio::process::Command::new(support::switchyard_bin())
        .args(["workload", "--url", &db.url, "--clients", "2", "--duration", "1", "--ledger-check-url", &other.url])
        .output()
        .await
        .expect("running switchyard workload");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    for needle in ["ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "create", "walk", "total", "lost write"] {
        assert!(stdout.contains(needle), "{needle:?} missing from:\n{stdout}");
    }
}

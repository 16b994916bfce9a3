//! Every kind of difference injected into the new tables is found with its
//! id and kind, and a faithful copy verifies clean (and is recorded for the
//! read_new phase guard).

use serde_json::Value;
use switchyard_shadow_verify as sv;

use super::common::{assert_only, copied_db, one_id, verify_json, COLS};

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

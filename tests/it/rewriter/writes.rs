//! Every write form of the corpus in every phase, planned by the rewriter
//! and run on a migrated database, against a legacy twin; and the mirror's
//! own guarantees (it commits or rolls back with the client's statement, it
//! copies a row the backfill has not reached, it is idempotent).

use switchyard_rewriter::{Action, Phase, Rewriter};

use super::twin::{run_sequence_against_twin, twin_pair, Backfill};
use crate::support::fixture::*;
use crate::support::write_forms;

async fn every_write_form_keeps_both_schemas_equal(phase: Phase) {
    run_sequence_against_twin(phase, write_forms::writes(), Backfill::Running).await;
}

async fn every_write_form_keeps_both_schemas_equal_after_the_backfill(phase: Phase) {
    run_sequence_against_twin(phase, write_forms::writes(), Backfill::Complete).await;
}

async fn every_upsert_by_id_keeps_both_schemas_equal(phase: Phase) {
    run_sequence_against_twin(phase, write_forms::upserts_by_id(), Backfill::Running).await;
}

#[tokio::test]
async fn dual_write_mirrors_every_write_form_to_the_new_schema() {
    every_write_form_keeps_both_schemas_equal(Phase::DualWrite).await;
}

#[tokio::test]
async fn read_new_mirrors_every_write_form_to_the_new_schema() {
    every_write_form_keeps_both_schemas_equal(Phase::ReadNew).await;
}

#[tokio::test]
async fn write_new_applies_every_write_form_to_the_new_tables_and_mirrors_to_legacy() {
    every_write_form_keeps_both_schemas_equal(Phase::WriteNew).await;
}

#[tokio::test]
async fn new_only_applies_every_write_form_to_the_new_tables() {
    every_write_form_keeps_both_schemas_equal(Phase::NewOnly).await;
}

#[tokio::test]
async fn dual_write_after_the_backfill_mirrors_every_write_form_to_the_new_schema() {
    every_write_form_keeps_both_schemas_equal_after_the_backfill(Phase::DualWrite).await;
}

#[tokio::test]
async fn read_new_after_the_backfill_mirrors_every_write_form_to_the_new_schema() {
    every_write_form_keeps_both_schemas_equal_after_the_backfill(Phase::ReadNew).await;
}

#[tokio::test]
async fn write_new_after_the_backfill_applies_every_write_form_and_mirrors_to_legacy() {
    every_write_form_keeps_both_schemas_equal_after_the_backfill(Phase::WriteNew).await;
}

#[tokio::test]
async fn new_only_after_the_backfill_applies_every_write_form_to_the_new_tables() {
    every_write_form_keeps_both_schemas_equal_after_the_backfill(Phase::NewOnly).await;
}

#[tokio::test]
async fn dual_write_upserts_by_id_as_legacy_does() {
    every_upsert_by_id_keeps_both_schemas_equal(Phase::DualWrite).await;
}

#[tokio::test]
async fn read_new_upserts_by_id_as_legacy_does() {
    every_upsert_by_id_keeps_both_schemas_equal(Phase::ReadNew).await;
}

#[tokio::test]
async fn write_new_upserts_by_id_across_todos_active_and_todos_archived() {
    every_upsert_by_id_keeps_both_schemas_equal(Phase::WriteNew).await;
}

#[tokio::test]
async fn new_only_upserts_by_id_across_todos_active_and_todos_archived() {
    every_upsert_by_id_keeps_both_schemas_equal(Phase::NewOnly).await;
}

#[tokio::test]
async fn an_update_in_place_of_a_row_the_backfill_has_not_copied_yet_copies_it() {
    let rw = Rewriter::with_default_spec();
    let (_twin, db) = twin_pair().await;
    // The copy of t1 is missing, as before the backfill reaches it.
    db.client.execute("DELETE FROM todos_active WHERE id = $1", &[&t(1)]).await.expect("drop the copy");
    let plan = rw.plan(Phase::DualWrite, "UPDATE todos SET title = $1 WHERE id = $2");
    assert!(plan.sql.contains("mirror_todos_in_place"), "{}", plan.sql);
    db.client.query(plan.sql.as_str(), &[&"retitled", &t(1)]).await.expect("update");
    let title: String =
        db.client.query_one("SELECT title FROM todos_active WHERE id = $1", &[&t(1)]).await.expect("copied").get(0);
    assert_eq!(title, "retitled");
    let (diff, i3, depth, bad) = invariants(&db.client, true).await;
    assert_eq!((diff, i3, depth, bad), (0, 0, 0, 0));
}

#[test]
fn an_upsert_moving_a_todo_to_another_user_or_id_is_refused_on_the_new_tables() {
    let rw = Rewriter::with_default_spec();
    for set in ["user_id = EXCLUDED.user_id", "id = gen_random_uuid()"] {
        let sql =
            format!("INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'x') ON CONFLICT (id) DO UPDATE SET {set}");
        for phase in [Phase::WriteNew, Phase::NewOnly] {
            let plan = rw.plan(phase, &sql);
            assert_eq!(plan.action, Action::Refuse, "{phase}: {sql}");
            assert!(plan.reason.as_deref().unwrap_or("").contains("ON CONFLICT DO UPDATE SET"), "{:?}", plan.reason);
        }
        assert_eq!(rw.plan(Phase::DualWrite, &sql).action, Action::Rewrite, "legacy takes it in dual_write");
    }
}

#[tokio::test]
async fn a_mirror_failure_rolls_back_the_client_write() {
    // I1: the mirror commits or rolls back with the client's statement. In
    // write_new the new tables accept a parent that does not exist (they have
    // no foreign key on parent_todo_id), the legacy mirror does not: the
    // statement fails with the legacy error and nothing stays on either side.
    let rw = Rewriter::with_default_spec();
    let (_twin, db) = twin_pair().await;
    let plan = rw.plan(Phase::WriteNew, "UPDATE todos SET parent_todo_id = $1 WHERE id = $2");
    let err =
        db.client.query(plan.sql.as_str(), &[&t(99), &t(1)]).await.expect_err("the legacy foreign key rejects it");
    assert_eq!(err.code().map(|c| c.code()), Some("23503"));
    let parent: Option<uuid::Uuid> = db
        .client
        .query_one("SELECT parent_todo_id FROM todos_active WHERE id = $1", &[&t(1)])
        .await
        .expect("new")
        .get(0);
    assert_eq!(parent, None, "nothing of the failed statement is left in the new tables");
    let (diff, i3, depth, bad) = invariants(&db.client, true).await;
    assert_eq!((diff, i3, depth, bad), (0, 0, 0, 0));
}

#[tokio::test]
async fn the_mirror_function_is_idempotent_for_the_backfill() {
    let (_twin, db) = twin_pair().await;
    let before = new_rows(&db.client, &Norm::new()).await;
    db.client.batch_execute("SELECT switchyard.mirror_todos('U', array_agg(t)) FROM todos t").await.expect("again");
    db.client.batch_execute("SELECT switchyard.mirror_todos('I', array_agg(t)) FROM todos t").await.expect("and again");
    assert_eq!(new_rows(&db.client, &Norm::new()).await, before);
    let (diff, i3, depth, bad) = invariants(&db.client, true).await;
    assert_eq!((diff, i3, depth, bad), (0, 0, 0, 0));
    let depths: Vec<(String, i32)> = db
        .client
        .query(
            "SELECT title, depth FROM todos_active UNION ALL SELECT title, depth FROM todos_archived ORDER BY 1",
            &[],
        )
        .await
        .expect("depths")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(depths.contains(&("Compare prices".to_string(), 2)), "{depths:?}");
    assert!(depths.contains(&("Open subtask".to_string(), 1)), "a child of an archived parent: {depths:?}");
}

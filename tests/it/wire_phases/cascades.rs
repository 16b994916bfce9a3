//! I7: the legacy foreign-key actions that touch todos have the same effect
//! in every phase: a deleted user takes its todos along (CASCADE), a deleted
//! project leaves its todos without one (SET NULL, which in legacy also fires
//! the updated_at trigger), a deleted parent todo takes its subtree along.

use super::common::*;
use super::fixture::{t, u, P1, U2};

#[tokio::test]
async fn deleting_a_user_a_project_or_a_parent_todo_has_the_same_effect_in_every_phase() {
    let pair = Pair::new("dual_write").await;
    let app = pair.proxy.connect().await;
    for phase in PHASES {
        reseed(&pair.db, &pair.twin).await;
        crate::support::force_phase(&pair.db, phase).await;
        crate::support::wait_for_instances(&pair.db).await;
        let legacy_kept = phase != "new_only";
        let steps: [(&str, String, Vec<u32>); 4] = [
            // t1 and t2 are in project P1 ("Home").
            ("a project (SET NULL)", format!("DELETE FROM projects WHERE id = '{P1}'"), vec![]),
            // U2 owns t4 and t8, and project P2.
            ("a user (CASCADE)", format!("DELETE FROM users WHERE id = '{U2}'"), vec![4, 8]),
            // t2 has the child t3.
            ("an active parent todo (its subtree)", format!("DELETE FROM todos WHERE id = '{}'", t(2)), vec![2, 3]),
            // t5 is archived, with an archived child t6 and an active child t7.
            (
                "an archived parent todo (its subtree)",
                format!("DELETE FROM todos WHERE id = '{}'", t(5)),
                vec![5, 6, 7],
            ),
        ];
        for (k, (what, sql, gone)) in steps.iter().enumerate() {
            let at = format!("{phase}: deleting {what}");
            // Alternate the protocols.
            let n = if k % 2 == 0 {
                app.execute(sql.as_str(), &[]).await.unwrap_or_else(|e| panic!("{at}: {e}"))
            } else {
                app.simple_query(sql).await.unwrap_or_else(|e| panic!("{at}: {e}")).iter().fold(0, |acc, m| match m {
                    tokio_postgres::SimpleQueryMessage::CommandComplete(n) => acc + n,
                    _ => acc,
                })
            };
            assert_eq!(n, 1, "{at}: DELETE 1");
            pair.twin.client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{at}: twin: {e}"));
            for id in gone {
                let left: i64 = pair
                    .db
                    .client
                    .query_one(
                        "SELECT (SELECT count(*) FROM todos_active WHERE id = $1) + (SELECT count(*) FROM todos_archived WHERE id = $1)",
                        &[&t(*id)],
                    )
                    .await
                    .expect("count")
                    .get(0);
                assert_eq!(left, 0, "{at}: t{id} is gone from the new schema");
            }
            let with_project: i64 = pair
                .db
                .client
                .query_one(
                    "SELECT (SELECT count(*) FROM todos_active WHERE project_id = $1) + (SELECT count(*) FROM todos_archived WHERE project_id = $1)",
                    &[&u(P1)],
                )
                .await
                .expect("count")
                .get(0);
            assert_eq!(with_project, 0, "{at}: no todo keeps the deleted project");
            assert_in_step(&pair.db, &pair.twin, legacy_kept, &at).await;
        }
        let left: Vec<uuid::Uuid> = pair
            .db
            .client
            .query("SELECT id FROM todos_active UNION ALL SELECT id FROM todos_archived ORDER BY 1", &[])
            .await
            .expect("left")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(left, vec![t(1)], "{phase}: only t1 is left");
    }
}

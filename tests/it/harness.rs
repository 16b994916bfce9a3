//! The test harness itself: a throwaway PostgreSQL, one database per test.

use crate::support;

#[tokio::test]
async fn each_test_gets_its_own_database_with_the_legacy_schema() {
    let a = support::legacy_db().await;
    let b = support::legacy_db().await;
    assert_ne!(a.name, b.name);
    a.client.execute("INSERT INTO users (email) VALUES ('a@example.com')", &[]).await.expect("insert into a");
    let in_b: i64 = b.client.query_one("SELECT count(*) FROM users", &[]).await.expect("count").get(0);
    assert_eq!(in_b, 0, "databases must be isolated");
    let tables: i64 = a
        .client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('users','projects','todos','files')",
            &[],
        )
        .await
        .expect("catalog")
        .get(0);
    assert_eq!(tables, 4);
}

#[tokio::test]
async fn the_updated_at_trigger_is_installed() {
    let db = support::legacy_db().await;
    let row = db
        .client
        .query_one(
            "WITH u AS (INSERT INTO users (email) VALUES ('t@example.com') RETURNING id)
             INSERT INTO todos (user_id, title, updated_at) SELECT id, 't', now() - interval '1 day' FROM u RETURNING id",
            &[],
        )
        .await
        .expect("insert");
    let id: uuid::Uuid = row.get(0);
    db.client.execute("UPDATE todos SET title = 'u' WHERE id = $1", &[&id]).await.expect("update");
    let fresh: bool = db
        .client
        .query_one("SELECT updated_at > now() - interval '1 minute' FROM todos WHERE id = $1", &[&id])
        .await
        .expect("select")
        .get(0);
    assert!(fresh);
}

#[tokio::test]
async fn migrated_databases_have_the_control_schema_and_migration_history() {
    let db = support::migrated_db().await;
    let applied: i64 =
        db.client.query_one("SELECT count(*) FROM switchyard.schema_migrations", &[]).await.expect("history").get(0);
    assert_eq!(applied as usize, switchyard_control::migrate::Migrator::embedded().migrations().len());
}

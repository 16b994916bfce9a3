//! Row inserts and catalog queries shared by the schema tests.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient};
use uuid::Uuid;

/// `SELECT count(*) ...` (or any single bigint).
pub async fn count(client: &impl GenericClient, sql: &str, params: &[&(dyn ToSql + Sync)]) -> i64 {
    client
        .query_one(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", switchyard_pgconn::describe_pg_error(&e)))
        .get(0)
}

/// The first column of every row, as text.
pub async fn strings(client: &impl GenericClient, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Vec<String> {
    client
        .query(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", switchyard_pgconn::describe_pg_error(&e)))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Runs statements that return nothing of interest.
pub async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {}", switchyard_pgconn::describe_pg_error(&e)));
}

/// A new user; returns its id.
pub async fn user(client: &Client) -> Uuid {
    client
        .query_one("INSERT INTO users (email) VALUES (gen_random_uuid() || '@example.com') RETURNING id", &[])
        .await
        .expect("insert user")
        .get(0)
}

/// Inserts `n` todos of `user` into todos_active with the given status and
/// completed_at = now() - `completed_days_ago` days (NULL when None); returns
/// their ids.
pub async fn active_todos(
    client: &Client,
    user: Uuid,
    n: i32,
    status: &str,
    completed_days_ago: Option<i32>,
) -> Vec<Uuid> {
    client
        .query(
            "INSERT INTO todos_active (user_id, title, status, completed_at)
             SELECT $1::uuid, $3::text || ' #' || g, $3::text, now() - make_interval(days => $4::int)
             FROM generate_series(1, $2::int) g
             RETURNING id",
            &[&user, &n, &status, &completed_days_ago],
        )
        .await
        .expect("insert todos_active")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The ids of `user`'s todos in `table`, sorted.
pub async fn ids_in(client: &Client, table: &str, user: Uuid) -> Vec<Uuid> {
    let sql = format!("SELECT id FROM {table} WHERE user_id = $1 ORDER BY id");
    client.query(&sql, &[&user]).await.expect("select ids").iter().map(|r| r.get(0)).collect()
}

/// Ids present in both todos_active and todos_archived (invariant I3: none).
pub async fn ids_in_both_tables(client: &Client) -> i64 {
    count(client, "SELECT count(*) FROM todos_active a JOIN todos_archived b USING (id)", &[]).await
}

/// The partitions of `parent`, sorted by name.
pub async fn partitions_of(client: &Client, parent: &str) -> Vec<String> {
    strings(
        client,
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = $1::text::regclass ORDER BY c.relname::text COLLATE \"C\"",
        &[&parent],
    )
    .await
}

/// `todos_archived_YYYY_MM` for the UTC month `offset` months from now.
pub async fn archive_partition_name(client: &Client, offset: i32) -> String {
    client
        .query_one(
            "SELECT 'todos_archived_' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => $1), 'YYYY_MM')",
            &[&offset],
        )
        .await
        .expect("partition name")
        .get(0)
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

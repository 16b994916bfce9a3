//! RowDescription of statements on todos, in Describe replies and in
//! answers: each column that comes from todos carries legacy todos' table
//! OID and attribute number, as PostgreSQL reports them for the client's
//! own statement; columns of other tables and computed ones keep theirs.

use tokio_postgres::Client;

use crate::common::{Pair, PHASES};
use crate::fixture::{t, U1};
use crate::raw::{describe, parse, query, row_description, sync, Conn, Msg};

/// Each column as (name, table name or "", attribute number, type OID, type modifier).
type Column = (String, String, i16, u32, i32);

async fn columns(c: &Client, answer: &[Msg]) -> Vec<Vec<Column>> {
    let mut out = Vec::new();
    for m in answer.iter().filter(|m| m.tag == b'T') {
        let mut cols = Vec::new();
        for f in row_description(&m.body) {
            let table = if f.table == 0 {
                String::new()
            } else {
                c.query_one("SELECT relname::text FROM pg_class WHERE oid = $1", &[&f.table])
                    .await
                    .expect("relname")
                    .get(0)
            };
            cols.push((f.name, table, f.attnum, f.type_oid, f.modifier));
        }
        out.push(cols);
    }
    out
}

#[tokio::test]
async fn result_columns_from_todos_carry_legacy_table_oids_in_every_phase() {
    let reads = [
        "SELECT * FROM todos WHERE user_id = $1".to_string(),
        "SELECT t.id, t.title, u.email, t.priority + 1 AS next FROM todos t JOIN users u ON u.id = t.user_id"
            .to_string(),
        "SELECT status, count(*) FROM todos GROUP BY status".to_string(),
        "WITH RECURSIVE tree AS (SELECT id, title FROM todos WHERE parent_todo_id IS NULL \
         UNION ALL SELECT t.id, t.title FROM todos t JOIN tree ON t.parent_todo_id = tree.id) SELECT * FROM tree"
            .to_string(),
    ];
    let writes = [
        format!("INSERT INTO todos (id, user_id, title) VALUES ('{}', '{U1}', 'meta') RETURNING *", t(90)),
        format!("UPDATE todos SET priority = 2 WHERE id = '{}' RETURNING id, title, priority * 2 AS twice", t(90)),
        format!("DELETE FROM todos WHERE id = '{}' RETURNING id, status", t(90)),
    ];
    for phase in PHASES {
        let pair = Pair::new(phase).await;
        let mut app = Conn::connect(&pair.proxy.url()).await;
        let mut twin = Conn::connect(&pair.twin.url).await;
        for sql in reads.iter().chain(&writes) {
            let frames = [parse("", sql, &[]), describe(b'S', ""), sync()];
            let got = columns(&pair.db.client, &app.exchange(&frames).await).await;
            let want = columns(&pair.twin.client, &twin.exchange(&frames).await).await;
            assert_eq!(got, want, "{phase}: Describe of {sql}");
            assert!(!got.is_empty());
        }
        for sql in reads.iter().map(|s| s.replace("$1", &format!("'{U1}'"))).chain(writes.iter().cloned()) {
            let got = columns(&pair.db.client, &app.exchange(&[query(&sql)]).await).await;
            let want = columns(&pair.twin.client, &twin.exchange(&[query(&sql)]).await).await;
            assert_eq!(got, want, "{phase}: answer to {sql}");
        }
    }
}

//! RowDescription of statements on todos, in Describe replies and in
//! answers: each column that comes from todos carries legacy todos' table
//! OID and attribute number, as PostgreSQL reports them for the client's
//! own statement; columns of other tables and computed ones keep theirs.

use tokio_postgres::Client;

use super::common::{Pair, PHASES};
use super::fixture::{t, U1};
use crate::support::assert_same_as_legacy;
use crate::support::raw::{bind, describe, execute, parse, query, row_description, sync, Conn, Msg};

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
        // Columns under another name are still todos' columns; a computed one
        // under a column's name is not.
        "SELECT id AS todo_id, t.title AS name, priority + 1 AS priority, status AS \"Status\" FROM todos t \
         WHERE user_id = $1"
            .to_string(),
        "SELECT t.title AS name, u.email AS who, t.status FROM todos t JOIN users u ON u.id = t.user_id".to_string(),
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
            assert_same_as_legacy(&want, &got, format_args!("{phase}: Describe of {sql}"));
            assert!(!got.is_empty());
        }
        for sql in reads.iter().map(|s| s.replace("$1", &format!("'{U1}'"))).chain(writes.iter().cloned()) {
            let got = columns(&pair.db.client, &app.exchange(&[query(&sql)]).await).await;
            let want = columns(&pair.twin.client, &twin.exchange(&[query(&sql)]).await).await;
            assert_same_as_legacy(&want, &got, format_args!("{phase}: answer to {sql}"));
        }
    }
}

/// The columns of every RowDescription that the same steps give on the
/// proxied connection and on the twin, step by step.
async fn same_columns(pair: &Pair, app: &mut Conn, twin: &mut Conn, steps: &[Vec<Vec<u8>>], at: &str) {
    for (i, frames) in steps.iter().enumerate() {
        let (got, want) = (app.exchange(frames).await, twin.exchange(frames).await);
        assert!(
            !got.iter().any(|m| m.tag == b'E'),
            "{at}, step {i}: {:?}",
            got.iter().map(Msg::summary).collect::<Vec<_>>()
        );
        let got = columns(&pair.db.client, &got).await;
        assert_eq!(got, columns(&pair.twin.client, &want).await, "{at}, step {i}");
    }
}

#[tokio::test]
async fn fetch_from_a_declared_cursor_carries_legacy_table_oids_in_every_phase() {
    let fetch = "FETCH 2 FROM c";
    let extended_fetch =
        vec![parse("", fetch, &[]), describe(b'S', ""), bind("", "", &[]), describe(b'P', ""), execute("", 0), sync()];
    for phase in PHASES {
        let pair = Pair::new(phase).await;
        let mut app = Conn::connect(&pair.proxy.url()).await;
        let mut twin = Conn::connect(&pair.twin.url).await;
        let in_transaction = [
            vec![query("BEGIN")],
            vec![query(&format!("DECLARE c SCROLL CURSOR FOR SELECT * FROM todos WHERE user_id = '{U1}' ORDER BY id"))],
            vec![query(fetch)],
            extended_fetch.clone(),
            vec![query("MOVE ABSOLUTE 0 IN c; FETCH NEXT FROM c")],
            vec![query("CLOSE c")],
            vec![query("COMMIT")],
        ];
        same_columns(&pair, &mut app, &mut twin, &in_transaction, &format!("{phase}: a cursor in a transaction")).await;
        // WITH HOLD outlives its transaction, declared through the extended protocol.
        let declare = "DECLARE c CURSOR WITH HOLD FOR SELECT id, title, status FROM todos ORDER BY id";
        let held = [
            vec![parse("", declare, &[]), bind("", "", &[]), execute("", 0), sync()],
            vec![query(fetch)],
            extended_fetch.clone(),
            vec![query("CLOSE ALL")],
            // The same name over another table: its FETCH is told as it is.
            vec![query("BEGIN")],
            vec![query("DECLARE c CURSOR FOR SELECT id, email FROM users")],
            vec![query(fetch)],
            extended_fetch.clone(),
            vec![query("COMMIT")],
        ];
        same_columns(&pair, &mut app, &mut twin, &held, &format!("{phase}: a cursor WITH HOLD")).await;
    }
}

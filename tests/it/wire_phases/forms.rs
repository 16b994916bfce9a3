//! Every write form of the rewriter's corpus, through the proxy, in every
//! phase and by four clients: tokio-postgres prepared (extended protocol,
//! parameters bound), tokio-postgres with the unnamed statement
//! (`query_typed`), tokio-postgres simple (literal SQL) and psql (one
//! session per side). The client must see what the same statement shows on
//! a twin database used directly (rows, command tags and counts, parameter
//! and result columns, SQLSTATEs), and after each statement both schemas
//! must be equal and hold what the twin's legacy table holds (I1, I5).

use std::process::Command;

use futures_util::TryStreamExt;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::common::*;
use super::fixture::{refs, t, u, P1, U1, U2, V};
use crate::support::TestDb;

/// How the proxy's answer may deviate from the twin's in a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Deviation {
    /// Refused with 0A000 (I4); nothing runs.
    Refused,
    /// Not run in that phase (legacy's constraints are gone in new_only).
    Skip,
}

struct Form {
    name: &'static str,
    sql: &'static str,
    params: Vec<V>,
    deviations: &'static [(&'static str, Deviation)],
}

fn form(name: &'static str, sql: &'static str, params: Vec<V>) -> Form {
    Form { name, sql, params, deviations: &[] }
}

const REFUSED_ONCE_WRITES_GO_NEW: &[(&str, Deviation)] =
    &[("write_new", Deviation::Refused), ("new_only", Deviation::Refused)];

fn forms() -> Vec<Form> {
    use V::*;
    let tags = |v: &[&str]| Texts(v.iter().map(|s| s.to_string()).collect());
    vec![
        form(
            "insert one row with placeholders, RETURNING defaults",
            "INSERT INTO todos (id, user_id, project_id, title, priority, tags) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING todos.id, todos.status, todos.created_at, todos.updated_at, todos.metadata",
            vec![Id(t(50)), Id(u(U1)), Id(u(P1)), Text("New todo"), Int(2), tags(&["x", "y"])],
        ),
        form(
            "insert several rows: a parent and its AI subtasks",
            "INSERT INTO todos (id, user_id, parent_todo_id, title, ai_generated) VALUES \
             ($1, $2, NULL, 'AI parent', false), ($3, $2, $1, 'AI child', true), ($4, $2, $3, 'AI grandchild', true) \
             RETURNING id, parent_todo_id",
            vec![Id(t(51)), Id(u(U1)), Id(t(52)), Id(t(53))],
        ),
        form(
            "insert from a SELECT over todos, generated ids, RETURNING",
            "INSERT INTO todos (user_id, parent_todo_id, title, ai_generated, metadata) \
             SELECT t.user_id, t.id, s.title, true, jsonb_build_object('model', $2::text) \
             FROM todos t, unnest($3::text[]) AS s(title) WHERE t.id = $1 \
             RETURNING title, parent_todo_id, id, ai_generated, metadata",
            vec![Id(t(4)), Text("gpt"), tags(&["step one", "step two"])],
        ),
        form("insert DEFAULT VALUES fails the same way", "INSERT INTO todos DEFAULT VALUES", vec![]),
        form(
            "insert a full row by position",
            "INSERT INTO todos VALUES ($1, $2, NULL, NULL, 'full row', NULL, 'todo', 0, NULL, false, '{}', NULL, \
             '2024-02-01 00:00:00+00', '2024-02-01 00:00:00+00', NULL)",
            vec![Id(t(57)), Id(u(U2))],
        ),
        form(
            "insert ON CONFLICT DO NOTHING",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'duplicate') ON CONFLICT DO NOTHING",
            vec![Id(t(1)), Id(u(U1))],
        ),
        form(
            "insert ON CONFLICT (id) DO NOTHING RETURNING, one row new",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3), ($4, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id",
            vec![Id(t(1)), Id(u(U1)), Text("dup or new"), Id(t(58))],
        ),
        form(
            "insert ON CONFLICT (id) DO UPDATE RETURNING *",
            "INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, $3, 9) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, priority = EXCLUDED.priority RETURNING *",
            vec![Id(t(2)), Id(u(U1)), Text("Book flights (upserted)")],
        ),
        form(
            "insert with an alias, ON CONFLICT DO UPDATE from the old row and EXCLUDED",
            "INSERT INTO todos AS t (id, user_id, title) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET title = t.title || ' / ' || excluded.title, updated_at = excluded.updated_at \
             RETURNING t.id, t.title",
            vec![Id(t(3)), Id(u(U1)), Text("merged")],
        ),
        Form {
            name: "insert ON CONFLICT ON CONSTRAINT (the legacy constraint's name)",
            sql: "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT ON CONSTRAINT todos_pkey DO NOTHING",
            params: vec![Id(t(1)), Id(u(U1)), Text("dup")],
            deviations: REFUSED_ONCE_WRITES_GO_NEW,
        },
        form(
            "insert with expressions",
            "INSERT INTO todos (id, user_id, title, status, priority, due_date, tags, metadata) \
             VALUES ($1, $2, upper($3), 'in_progress', 2 * 3, '2030-01-01 00:00:00+00'::timestamptz + interval '1 day', \
             ARRAY['a', 'b'], '{\"source\": \"api\"}'::jsonb) \
             RETURNING id, title, due_date, priority, tags, metadata, status",
            vec![Id(t(55)), Id(u(U2)), Text("expr")],
        ),
        form(
            "insert RETURNING expressions and aliases",
            "INSERT INTO todos AS n (id, user_id, title, priority) VALUES ($1, $2, $3, 4) \
             RETURNING n.id, upper(n.title) AS shout, n.priority * 2 AS doubled, n.tags || ARRAY['new'] AS tagged, n.status = 'todo' AS open",
            vec![Id(t(61)), Id(u(U1)), Text("loud")],
        ),
        form(
            "insert ... SELECT WHERE NOT EXISTS",
            "INSERT INTO todos (id, user_id, title) SELECT $1::uuid, $2::uuid, $3::text \
             WHERE NOT EXISTS (SELECT 1 FROM todos WHERE user_id = $2 AND title = $3)",
            vec![Id(t(56)), Id(u(U2)), Text("only once")],
        ),
        form(
            "update a status, no RETURNING",
            "UPDATE todos SET status = $1 WHERE id = $2 AND user_id = $3",
            vec![Text("in_progress"), Id(t(3)), Id(u(U1))],
        ),
        form(
            "complete a todo, RETURNING *",
            "UPDATE todos SET status = 'done', completed_at = now() WHERE id = $1 AND user_id = $2 RETURNING *",
            vec![Id(t(3)), Id(u(U1))],
        ),
        form(
            "complete the open subtasks of a parent",
            "UPDATE todos SET status = 'done', completed_at = '2024-03-01 00:00:00+00' WHERE parent_todo_id = $1 AND status <> 'done'",
            vec![Id(t(51))],
        ),
        form(
            "update with a row constructor",
            "UPDATE todos SET (title, priority) = ($1, $2) WHERE user_id = $3 AND status <> 'done'",
            vec![Text("Renamed"), Int(7), Id(u(U2))],
        ),
        form(
            "update with a row subquery over todos",
            "UPDATE todos SET (title, description) = (SELECT title, description FROM todos WHERE id = $1) WHERE id = $2",
            vec![Id(t(1)), Id(t(57))],
        ),
        Form {
            name: "update a row constructor that sets updated_at",
            sql: "UPDATE todos SET (title, updated_at) = ($1, now()) WHERE id = $2",
            params: vec![Text("stamped"), Id(t(50))],
            deviations: REFUSED_ONCE_WRITES_GO_NEW,
        },
        form(
            "update FROM another table, RETURNING, touching an archived row",
            "UPDATE todos t SET project_id = p.id FROM projects p \
             WHERE p.name = $1 AND p.user_id = t.user_id AND t.parent_todo_id IS NULL RETURNING t.id, t.project_id",
            vec![Text("Home")],
        ),
        form(
            "update FROM VALUES",
            "UPDATE todos SET priority = v.p FROM (VALUES ($1::uuid, $2::int), ($3::uuid, $4::int)) AS v(id, p) WHERE todos.id = v.id",
            vec![Id(t(1)), Int(11), Id(t(6)), Int(12)],
        ),
        form(
            "update with a subquery on todos",
            "UPDATE todos SET priority = priority + 1 WHERE parent_todo_id IN (SELECT id FROM todos WHERE title = $1)",
            vec![Text("Plan trip")],
        ),
        form(
            "update RETURNING expressions over old and new values",
            "UPDATE todos SET priority = priority * 10 WHERE user_id = $1 AND parent_todo_id IS NOT NULL \
             RETURNING id, priority / 10 AS was, title || ' (' || status || ')' AS label, \
             coalesce(due_date, created_at) > '2023-01-01' AS dated",
            vec![Id(u(U1))],
        ),
        form(
            "update an archived row, RETURNING",
            "UPDATE todos SET description = $1 WHERE id = $2 RETURNING id, description, updated_at",
            vec![Text("archived note"), Id(t(6))],
        ),
        form(
            "move a subtree under another parent",
            "UPDATE todos SET parent_todo_id = $1 WHERE id = $2",
            vec![Id(t(53)), Id(t(2))],
        ),
        form(
            "a client-set updated_at is overridden like the trigger does",
            "UPDATE todos SET title = 'touched', updated_at = '2000-01-01' WHERE id = $1",
            vec![Id(t(1))],
        ),
        form(
            "update an array and jsonb, RETURNING",
            "UPDATE todos SET tags = array_append(tags, $1), metadata = coalesce(metadata, '{}'::jsonb) || $2::text::jsonb \
             WHERE id = $3 AND NOT ($1 = ANY(tags)) RETURNING tags, metadata",
            vec![Text("urgent"), Text("{\"seen\": true}"), Id(t(4))],
        ),
        form(
            "an UPDATE inside WITH, read by the main query",
            "WITH done AS (UPDATE todos SET status = 'done', completed_at = '2024-05-01 00:00:00+00' WHERE id = $1 \
             RETURNING id, parent_todo_id) SELECT count(*) FROM todos WHERE parent_todo_id IN (SELECT id FROM done)",
            vec![Id(t(2))],
        ),
        // Once writes go to the new tables, the row moves from todos_archived
        // back to todos_active (the archive's CHECK allows only done rows).
        form("reopen an archived todo", "UPDATE todos SET status = 'todo', completed_at = NULL WHERE id = $1", vec![Id(t(6))]),
        form(
            "delete USING another table, RETURNING",
            "DELETE FROM todos t USING projects p WHERE t.project_id = p.id AND p.name = $1 AND t.status = 'in_progress' RETURNING t.id",
            vec![Text("Work")],
        ),
        form(
            "delete USING, no RETURNING",
            "DELETE FROM todos USING projects p WHERE todos.project_id = p.id AND p.user_id = $1 AND todos.priority > 10",
            vec![Id(u(U1))],
        ),
        form("delete a parent: children cascade", "DELETE FROM todos WHERE id = $1", vec![Id(t(51))]),
        form("delete an archived parent, RETURNING", "DELETE FROM todos WHERE id = $1 RETURNING title", vec![Id(t(5))]),
        form(
            "a DELETE inside WITH that nothing reads",
            "WITH gone AS (DELETE FROM todos WHERE id = $1) SELECT 1 WHERE false",
            vec![Id(t(8))],
        ),
        form(
            "a DELETE inside WITH, counted by the main query",
            "WITH gone AS (DELETE FROM todos WHERE user_id = $1 AND status = 'done' RETURNING id) SELECT count(*) FROM gone",
            vec![Id(u(U2))],
        ),
        form(
            "an INSERT inside WITH, returned by the main query",
            "WITH x AS (INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'cte insert') RETURNING id) SELECT id FROM x",
            vec![Id(t(54)), Id(u(U2))],
        ),
        form(
            "an UPDATE under a WITH of reads",
            "WITH p AS (SELECT id FROM projects WHERE name = $1) UPDATE todos SET project_id = p.id FROM p WHERE todos.id = $2",
            vec![Text("Work"), Id(t(54))],
        ),
        form(
            "an INSERT under a WITH of reads",
            "WITH src AS (SELECT $1::uuid AS uid) INSERT INTO todos (id, user_id, title) SELECT $2::uuid, uid, 'from cte' FROM src",
            vec![Id(u(U1)), Id(t(59))],
        ),
        Form {
            name: "a child of a missing parent fails on the legacy foreign key",
            sql: "INSERT INTO todos (user_id, parent_todo_id, title) VALUES ($1, $2, 'orphan')",
            params: vec![Id(u(U1)), Id(t(99))],
            // new_only has no legacy table, hence no foreign key on parent_todo_id.
            deviations: &[("new_only", Deviation::Skip)],
        },
        form(
            "a CHECK violation fails the same way",
            "UPDATE todos SET status = 'blocked' WHERE id = $1",
            vec![Id(t(1))],
        ),
        form(
            "lower case, schema-qualified insert",
            "insert into public.todos (id, user_id, title) values ($1, $2, 'qualified')",
            vec![Id(t(60)), Id(u(U1))],
        ),
        form(
            "lower case update with upper-case names",
            "update TODOS set STATUS = 'done', completed_at = '2024-06-01 00:00:00+00' where ID = $1",
            vec![Id(t(60))],
        ),
        form(
            "a quoted table name and a trailing comment",
            "UPDATE \"todos\" SET title = $1 WHERE id = $2 -- trailing comment",
            vec![Text("quoted"), Id(t(60))],
        ),
        form(
            "SQLAlchemy-style DELETE RETURNING",
            "DELETE FROM todos WHERE todos.id = $1::UUID RETURNING todos.id, todos.title",
            vec![Id(t(60))],
        ),
        form(
            "a statement over several lines, as psql and ORMs send them",
            "UPDATE todos\n   SET priority = $1,\n       title = title || ' (ml)'\n WHERE id = $2\nRETURNING id,\n          priority",
            vec![Int(5), Id(t(4))],
        ),
        form("update every row", "UPDATE todos SET priority = priority + 1", vec![]),
        form("delete every done todo", "DELETE FROM todos WHERE status = 'done'", vec![]),
    ]
}

/// The SQL with its parameters written in as literals (simple protocol, psql).
fn literal_sql(f: &Form) -> String {
    let mut sql = f.sql.to_string();
    for (i, v) in f.params.iter().enumerate().rev() {
        let lit = match v {
            V::Id(id) => format!("'{id}'::uuid"),
            V::Text(s) => format!("'{}'", s.replace('\'', "''")),
            V::Int(n) => n.to_string(),
            V::Texts(v) => {
                let items: Vec<String> = v.iter().map(|s| format!("'{}'", s.replace('\'', "''"))).collect();
                format!("ARRAY[{}]::text[]", items.join(", "))
            }
        };
        sql = sql.replace(&format!("${}", i + 1), &lit);
    }
    sql
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Channel {
    Prepared,
    /// The unnamed statement: Parse, Bind, Describe, Execute and Sync at once
    /// (tokio-postgres `query_typed`), parameter types from the twin.
    Unnamed,
    Simple,
    Psql,
}

/// What a client saw.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Extended protocol: parameter types, result columns, rows, affected count.
    Prepared {
        params: Vec<String>,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        count: Option<u64>,
    },
    /// Simple protocol: per statement, its columns, rows and count.
    Simple {
        results: Vec<(Vec<String>, Vec<Vec<String>>, u64)>,
    },
    Error(String),
}

impl Outcome {
    fn refused(&self) -> bool {
        match self {
            Outcome::Error(code) => code == "0A000",
            _ => false,
        }
    }
}

async fn run_prepared(c: &Client, f: &Form) -> Outcome {
    let stmt = match c.prepare(f.sql).await {
        Ok(s) => s,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    let params = stmt.params().iter().map(|t| t.name().to_string()).collect();
    let columns = stmt.columns().iter().map(|c| format!("{} {}", c.name(), c.type_().name())).collect();
    let stream = match c.query_raw(&stmt, refs(&f.params)).await {
        Ok(s) => s,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    futures_util::pin_mut!(stream);
    let mut rows = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(r)) => rows.push(r),
            Ok(None) => break,
            Err(e) => return Outcome::Error(sqlstate(&e)),
        }
    }
    Outcome::Prepared { params, columns, rows: sorted_rows(&rows), count: stream.rows_affected() }
}

async fn run_unnamed(c: &Client, f: &Form, types: &[tokio_postgres::types::Type]) -> Outcome {
    let params: Vec<(&(dyn tokio_postgres::types::ToSql + Sync), tokio_postgres::types::Type)> =
        refs(&f.params).into_iter().zip(types.iter().cloned()).collect();
    let stream = match c.query_typed_raw(f.sql, params).await {
        Ok(s) => s,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    futures_util::pin_mut!(stream);
    let mut rows = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(r)) => rows.push(r),
            Ok(None) => break,
            Err(e) => return Outcome::Error(sqlstate(&e)),
        }
    }
    let columns = rows
        .first()
        .map_or_else(Vec::new, |r| r.columns().iter().map(|c| format!("{} {}", c.name(), c.type_().name())).collect());
    Outcome::Prepared { params: Vec::new(), columns, rows: sorted_rows(&rows), count: stream.rows_affected() }
}

async fn run_simple(c: &Client, sql: &str) -> Outcome {
    let messages = match c.simple_query(sql).await {
        Ok(m) => m,
        Err(e) => return Outcome::Error(sqlstate(&e)),
    };
    let mut results = Vec::new();
    let (mut columns, mut rows) = (Vec::new(), Vec::new());
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => columns = cols.iter().map(|c| c.name().to_string()).collect(),
            SimpleQueryMessage::Row(r) => {
                rows.push((0..r.len()).map(|i| r.get(i).map_or("NULL".to_string(), norm_text)).collect::<Vec<_>>())
            }
            SimpleQueryMessage::CommandComplete(n) => {
                rows.sort();
                results.push((std::mem::take(&mut columns), std::mem::take(&mut rows), n));
            }
            _ => {}
        }
    }
    Outcome::Simple { results }
}

/// The port in a `postgres://user@host:port/db` URL.
fn port_of(url: &str) -> String {
    let authority = url.split('@').nth(1).and_then(|r| r.split('/').next()).unwrap_or("");
    authority.rsplit(':').next().unwrap_or("5432").to_string()
}

/// psql (from PATH) running a script in one session, stderr kept apart.
fn psql_script(port: &str, db: &str, script: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-v",
            "VERBOSITY=sqlstate",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-d",
            db,
            "-f",
            "-",
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run psql (it must be on PATH)");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write the script");
    let out = child.wait_with_output().expect("psql");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The forms as one psql script: each between markers, followed by the
/// SQLSTATE and row count psql recorded for it.
fn script(forms: &[(usize, &Form)]) -> String {
    let mut s = String::new();
    for (k, f) in forms {
        s.push_str(&format!("\\echo '#form {k}'\n{}\n;\n\\echo '#end' :SQLSTATE :ROW_COUNT\n", literal_sql(f)));
    }
    s
}

/// psql's output per form: its lines (normalised, sorted; the table, the
/// command tag, `#end SQLSTATE ROW_COUNT`).
fn segments(stdout: &str) -> std::collections::BTreeMap<usize, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for line in stdout.lines() {
        if let Some(k) = line.strip_prefix("#form ").and_then(|k| k.trim().parse().ok()) {
            if let Some((k, mut lines)) = current.take() {
                lines.sort();
                out.insert(k, lines);
            }
            current = Some((k, Vec::new()));
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line.split('|').map(norm_text).collect::<Vec<_>>().join("|"));
        }
    }
    if let Some((k, mut lines)) = current.take() {
        lines.sort();
        out.insert(k, lines);
    }
    out
}

/// Every form by psql over the simple protocol, one session through the
/// proxy and one on the twin; the output of each form compared, and the
/// schemas after the session.
async fn psql_session(pair: &Pair, phase: &str) {
    let all = forms();
    let mine: Vec<(usize, &Form)> =
        all.iter().enumerate().filter(|(_, f)| deviation(f, phase) != Some(Deviation::Skip)).collect();
    let theirs: Vec<(usize, &Form)> = all.iter().enumerate().filter(|(_, f)| deviation(f, phase).is_none()).collect();
    let (proxy_port, twin_port) = (pair.proxy.port.to_string(), port_of(&pair.twin.url));
    let (db, twin) = (pair.db.name.clone(), pair.twin.name.clone());
    let (s_mine, s_theirs) = (script(&mine), script(&theirs));
    let mine_out = tokio::task::spawn_blocking(move || psql_script(&proxy_port, &db, &s_mine));
    let theirs_out = tokio::task::spawn_blocking(move || psql_script(&twin_port, &twin, &s_theirs));
    let ((code, stdout, stderr), (twin_code, twin_stdout, _)) =
        (mine_out.await.expect("psql"), theirs_out.await.expect("psql"));
    assert_eq!((code, twin_code), (0, 0), "psql sessions: {stderr}");
    let (got, want) = (segments(&stdout), segments(&twin_stdout));
    for (k, f) in &mine {
        let at = format!("{phase}, psql: {}", f.name);
        let seg = got.get(k).unwrap_or_else(|| panic!("{at}: no output\n{stdout}\n{stderr}"));
        let end = seg.iter().find(|l| l.starts_with("#end")).unwrap_or_else(|| panic!("{at}: {seg:?}"));
        match deviation(f, phase) {
            None => assert_eq!(Some(seg), want.get(k), "{at}: what psql shows through the proxy vs directly"),
            Some(Deviation::Refused) => assert!(end.starts_with("#end 0A000 "), "{at}: expected a refusal: {seg:?}"),
            Some(Deviation::Skip) => {}
        }
    }
    // The comparison covers psql's command tags: the first form inserts one
    // row with RETURNING, the fourth fails NOT NULL.
    assert!(got.get(&0).is_some_and(|seg| seg.contains(&"INSERT 0 1".to_string())), "{phase}, psql: {:?}", got.get(&0));
    assert!(
        got.get(&3).is_some_and(|seg| seg.iter().any(|l| l.starts_with("#end 23502"))),
        "{phase}, psql: {:?}",
        got.get(&3)
    );
    let refusals = stderr.matches("0A000").count();
    let expected = mine.iter().filter(|(_, f)| deviation(f, phase) == Some(Deviation::Refused)).count();
    assert_eq!(refusals, expected, "psql's stderr shows each refusal once: {stderr}");
    assert_in_step(&pair.db, &pair.twin, phase != "new_only", &format!("{phase}, after the psql session")).await;
}

fn deviation(f: &Form, phase: &str) -> Option<Deviation> {
    f.deviations.iter().find(|(p, _)| *p == phase).map(|(_, d)| *d)
}

async fn run(
    channel: Channel,
    c: &Client,
    port: &str,
    db: &str,
    f: &Form,
    types: &[tokio_postgres::types::Type],
) -> Outcome {
    match channel {
        Channel::Prepared => run_prepared(c, f).await,
        Channel::Unnamed => run_unnamed(c, f, types).await,
        Channel::Simple => run_simple(c, &literal_sql(f)).await,
        Channel::Psql => unreachable!("psql runs the forms as one session: {port} {db}"),
    }
}

async fn every_write_form_through_the_proxy(phase: &str) {
    let pair = Pair::new(phase).await;
    let app = pair.proxy.connect().await;
    let legacy_kept = phase != "new_only";
    let proxy_port = pair.proxy.port.to_string();
    let twin_port = port_of(&pair.twin.url);
    for (k, channel) in [Channel::Prepared, Channel::Unnamed, Channel::Simple, Channel::Psql].into_iter().enumerate() {
        if k > 0 {
            reseed(&pair.db, &pair.twin).await;
        }
        if channel == Channel::Psql {
            psql_session(&pair, phase).await;
            continue;
        }
        for f in forms() {
            let at = format!("{phase}, {channel:?}: {}", f.name);
            let deviation = deviation(&f, phase);
            if deviation == Some(Deviation::Skip) {
                continue;
            }
            let types = match pair.twin.client.prepare(f.sql).await {
                Ok(s) => s.params().to_vec(),
                Err(_) => Vec::new(),
            };
            let got = run(channel, &app, &proxy_port, &pair.db.name, &f, &types).await;
            match deviation {
                None => {
                    let want = run(channel, &pair.twin.client, &twin_port, &pair.twin.name, &f, &types).await;
                    assert_eq!(got, want, "{at}: what the client sees through the proxy vs directly");
                }
                Some(Deviation::Refused) => {
                    assert!(got.refused(), "{at}: expected a 0A000 refusal, got {got:?}")
                }
                Some(Deviation::Skip) => {}
            }
            assert_in_step(&pair.db, &pair.twin, legacy_kept, &at).await;
        }
    }
    // The statements did something: rows were written, changed and deleted.
    let rows: i64 = pair.twin.client.query_one("SELECT count(*) FROM todos", &[]).await.expect("count").get(0);
    assert!(rows > 0, "{phase}: some todos are left");
    check_prepared_describe(&pair.db, &app).await;
}

/// Describe of a rewritten write without RETURNING says NoData; with one,
/// the client's own columns.
async fn check_prepared_describe(_db: &TestDb, app: &Client) {
    let s = app.prepare("UPDATE todos SET priority = $1 WHERE id = $2").await.expect("prepare");
    assert!(s.columns().is_empty(), "no RETURNING: NoData");
    let s = app.prepare("DELETE FROM todos WHERE id = $1 RETURNING id, title").await.expect("prepare");
    let cols: Vec<&str> = s.columns().iter().map(|c| c.name()).collect();
    assert_eq!(cols, ["id", "title"]);
}

#[tokio::test]
async fn every_write_form_in_dual_write() {
    every_write_form_through_the_proxy("dual_write").await;
}

#[tokio::test]
async fn every_write_form_in_read_new() {
    every_write_form_through_the_proxy("read_new").await;
}

#[tokio::test]
async fn every_write_form_in_write_new() {
    every_write_form_through_the_proxy("write_new").await;
}

#[tokio::test]
async fn every_write_form_in_new_only() {
    every_write_form_through_the_proxy("new_only").await;
}

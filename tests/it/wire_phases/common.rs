//! What the wire tests share: a proxied database and its twin, seeding, the
//! phase a proxy serves new transactions with, and values normalised so that
//! two databases can be compared (generated ids, now()).

use std::time::{Duration, SystemTime};

use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row, SimpleQueryMessage};

use super::fixture::{self, t, u, P1, P2, U1, U2};
use crate::support::{self, ProxyProcess, TestDb};

/// The migration phases the proxy rewrites in.
pub const PHASES: [&str; 4] = ["dual_write", "read_new", "write_new", "new_only"];

/// A migrated database behind a proxy, and a twin with the same rows that
/// stays in legacy and is used directly.
pub struct Pair {
    pub db: TestDb,
    pub twin: TestDb,
    pub proxy: ProxyProcess,
}

impl Pair {
    /// Both seeded with the fixture's rows (the proxied one backfilled and
    /// archived), the proxy serving `phase`.
    pub async fn new(phase: &str) -> Pair {
        let (db, twin) = tokio::join!(support::migrated_db(), support::migrated_db());
        reseed(&db, &twin).await;
        let proxy = support::spawn_proxy(&db).await;
        support::force_phase(&db, phase).await;
        support::wait_for_instances(&db).await;
        Pair { db, twin, proxy }
    }
}

/// Empties both databases and seeds them again (directly, not through the proxy).
pub async fn reseed(db: &TestDb, twin: &TestDb) {
    const EMPTY: &str =
        "TRUNCATE users, projects, todos, files, todos_active, todos_archived, ai_todo_interactions CASCADE;";
    db.client
        .batch_execute(&format!("{EMPTY}{}{}", fixture::seed_sql(), fixture::BACKFILL_SQL))
        .await
        .unwrap_or_else(|e| panic!("seed: {e}"));
    twin.client
        .batch_execute(&format!("{EMPTY}{}", fixture::seed_sql()))
        .await
        .unwrap_or_else(|e| panic!("seed twin: {e}"));
    let archived: i64 = db.client.query_one("SELECT count(*) FROM todos_archived", &[]).await.expect("count").get(0);
    assert_eq!(archived, 2, "the fixture archives t5 and t6");
}

pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map_or_else(|| format!("no sqlstate: {e}"), |c| c.code().to_string())
}

/// Planned in dual_write and read_new, refused once writes go to the new
/// tables (their constraints have other names).
pub const BY_CONSTRAINT_NAME: &str =
    "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'c') ON CONFLICT ON CONSTRAINT todos_pkey DO NOTHING";

/// The phase the proxy gives a transaction starting now, told from outside
/// by statements each phase plans differently (Parse only: nothing runs).
pub async fn served_phase(proxy: &ProxyProcess) -> String {
    let c = proxy.connect().await;
    if c.prepare("TRUNCATE todos").await.is_ok() {
        return "legacy".into();
    }
    let plan: Vec<String> = c
        .simple_query("EXPLAIN (COSTS OFF) SELECT id FROM todos")
        .await
        .expect("explain")
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    if !plan.join("\n").contains("todos_active") {
        return "dual_write".into();
    }
    match c.prepare(BY_CONSTRAINT_NAME).await {
        Ok(_) => "read_new".into(),
        // write_new and new_only are told apart by the acknowledgment only.
        Err(_) => "write_new".into(),
    }
}

/// Polls until the proxy serves `phase` to new transactions (it may still
/// acknowledge an older one while transactions run under it).
pub async fn wait_served(proxy: &ProxyProcess, phase: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = served_phase(proxy).await;
        if now == phase {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the proxy still serves {now}, not {phase}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The current epoch and what every registered instance acknowledged.
pub async fn acks(db: &TestDb) -> (i64, Vec<(Option<String>, Option<i64>)>) {
    let epoch: i64 = db
        .client
        .query_one("SELECT epoch FROM switchyard.migration_state WHERE table_name = 'todos'", &[])
        .await
        .expect("epoch")
        .get(0);
    let rows = db
        .client
        .query(
            "SELECT acknowledged_phase, acknowledged_epoch FROM switchyard.proxy_instances ORDER BY instance_id",
            &[],
        )
        .await
        .expect("instances");
    (epoch, rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Polls `cond` on the acknowledgments until it holds.
pub async fn wait_acks(db: &TestDb, what: &str, cond: impl Fn(i64, &[(Option<String>, Option<i64>)]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (epoch, a) = acks(db).await;
        if cond(epoch, &a) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: epoch {epoch}, acknowledgments {a:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until every registered instance acknowledges the current epoch.
pub async fn wait_all_acknowledged(db: &TestDb, what: &str) {
    wait_acks(db, what, |epoch, a| !a.is_empty() && a.iter().all(|(_, e)| *e == Some(epoch))).await;
}

/// Ids the tests write explicitly keep their value; others are generated.
fn known_uuid(s: &str) -> bool {
    s.starts_with("aaaaaaaa-") || [U1, U2, P1, P2].contains(&s)
}

fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// Timestamps the tests write are in 2000..2024 or 2030 and later; ones
/// from now() are this year, give or take one.
fn recent_year(year: i32) -> bool {
    let this = 1970
        + (SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) / 31_556_952)
            as i32;
    (this - 1..=this + 1).contains(&year)
}

/// One value as text, generated ids and now()-made timestamps replaced.
pub fn norm_text(s: &str) -> String {
    if looks_like_uuid(s) {
        return if known_uuid(s) { s.to_string() } else { "NEW-ID".into() };
    }
    let b = s.as_bytes();
    if b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' {
        if let Ok(y) = s[..4].parse::<i32>() {
            if recent_year(y) {
                return "RECENT".into();
            }
        }
    }
    s.to_string()
}

/// One typed value as text (extended protocol), normalised like [`norm_text`].
pub fn norm_cell(row: &Row, i: usize) -> String {
    fn o<T: ToString>(v: Option<T>) -> String {
        v.map_or("NULL".into(), |x| x.to_string())
    }
    match row.columns()[i].type_().clone() {
        Type::UUID => o(row.get::<_, Option<uuid::Uuid>>(i).map(|x| norm_text(&x.to_string()))),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => o(row.get::<_, Option<String>>(i)),
        Type::INT4 => o(row.get::<_, Option<i32>>(i)),
        Type::INT8 => o(row.get::<_, Option<i64>>(i)),
        Type::BOOL => o(row.get::<_, Option<bool>>(i)),
        Type::TIMESTAMPTZ => o(row
            .get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)
            .map(|x| norm_text(&x.format("%Y-%m-%d %H:%M:%S%.f").to_string()))),
        Type::JSONB | Type::JSON => o(row.get::<_, Option<serde_json::Value>>(i)),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => {
            o(row.get::<_, Option<Vec<String>>>(i).map(|v| format!("{{{}}}", v.join(","))))
        }
        other => panic!("the test cannot compare a value of type {other}"),
    }
}

/// Rows of one result, normalised and sorted (RETURNING order is not
/// specified, and the new schema returns active rows before archived ones).
pub fn sorted_rows(rows: &[Row]) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = rows.iter().map(|r| (0..r.len()).map(|i| norm_cell(r, i)).collect()).collect();
    v.sort();
    v
}

/// The legacy columns of every todo, normalised, one line each, sorted.
fn image_sql(from: &str) -> String {
    let id = |c: &str| format!("CASE WHEN {c}::text LIKE 'aaaaaaaa-%' OR {c} IS NULL THEN {c}::text ELSE 'NEW-ID' END");
    let ts = |c: &str| {
        format!("CASE WHEN {c} BETWEEN now() - interval '1 day' AND now() + interval '3 days' THEN 'RECENT' ELSE {c}::text END")
    };
    let cols = [
        id("id"),
        "user_id".into(),
        "project_id".into(),
        id("parent_todo_id"),
        "title".into(),
        "description".into(),
        "status".into(),
        "priority".into(),
        ts("due_date"),
        "ai_generated".into(),
        "tags".into(),
        "metadata".into(),
        ts("created_at"),
        ts("updated_at"),
        ts("completed_at"),
    ];
    let line: Vec<String> = cols.iter().map(|c| format!("coalesce(({c})::text, 'NULL')")).collect();
    format!(
        "SELECT coalesce(string_agg(r, E'\\n' ORDER BY r), '') FROM (SELECT concat_ws(' | ', {}) AS r FROM {from}) x",
        line.join(", ")
    )
}

pub async fn legacy_image(c: &Client) -> String {
    c.query_one(&image_sql("todos"), &[]).await.unwrap_or_else(|e| panic!("legacy image: {e}")).get(0)
}

pub async fn new_image(c: &Client) -> String {
    let cols = fixture::COLS;
    let from = format!("(SELECT {cols} FROM todos_active UNION ALL SELECT {cols} FROM todos_archived) n");
    c.query_one(&image_sql(&from), &[]).await.unwrap_or_else(|e| panic!("new image: {e}")).get(0)
}

/// I3, depth and the archive's CHECK in the new schema.
pub async fn new_schema_sound(c: &Client) -> Option<String> {
    let (_, i3, depth, bad) = fixture::invariants(c, false).await;
    (i3 + depth + bad > 0)
        .then(|| format!("{i3} ids in both new tables, {depth} wrong depths, {bad} archived rows not done"))
}

/// After a step: both schemas equal (while legacy is kept), the new schema
/// sound, and the new schema holding what the twin's legacy table holds.
pub async fn assert_in_step(db: &TestDb, twin: &TestDb, legacy_kept: bool, at: &str) {
    if legacy_kept {
        assert_eq!(support::schemas_differ(&db.client).await, None, "{at}: legacy and new schema");
    }
    assert_eq!(new_schema_sound(&db.client).await, None, "{at}");
    let (mine, theirs) = (new_image(&db.client).await, legacy_image(&twin.client).await);
    support::assert_same_lines(&theirs, &mine, format_args!("{at}: the new schema against the twin's todos"));
}

/// Ids of test users (beyond the fixture's).
pub fn uid(n: u32) -> uuid::Uuid {
    u(&format!("bbbbbbbb-0000-4000-8000-{n:012}"))
}

/// A todo id of the fixture's family.
pub fn tid(n: u32) -> uuid::Uuid {
    t(n)
}

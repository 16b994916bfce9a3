//! A migrated database and its legacy twin: the corpus's write forms run as
//! written on the twin and as the rewriter plans them on the migrated
//! database, and everything a client or the data could tell apart is
//! compared after each.

use switchyard_rewriter::{Action, Phase, Rewriter};
use tokio_postgres::Client;

use crate::support::fixture::*;
use crate::support::write_forms::{Deviation, Sequence, WriteForm};
use crate::support::{self, assert_same_as_legacy};

/// What a statement produced: rows (normalised; sorted, since RETURNING order is
/// unspecified and the new schema returns active rows before archived ones) and
/// the affected count, or an error's SQLSTATE.
#[derive(Debug, PartialEq)]
enum Outcome {
    Rows { rows: Vec<Vec<String>>, count: u64 },
    Error(String),
}

async fn begin(c: &Client, norm: &mut Norm) {
    c.batch_execute("BEGIN").await.unwrap_or_else(|e| panic!("begin: {e}"));
    let now: std::time::SystemTime =
        c.query_one("SELECT now()", &[]).await.unwrap_or_else(|e| panic!("now: {e}")).get(0);
    norm.nows.push(now);
}

async fn finish(c: &Client, ok: bool) {
    c.batch_execute(if ok { "COMMIT" } else { "ROLLBACK" }).await.unwrap_or_else(|e| panic!("end: {e}"));
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map_or_else(|| format!("no sqlstate: {e}"), |c| c.code().to_string())
}

/// The original statement on the twin.
async fn run_original(c: &Client, f: &WriteForm, norm: &mut Norm) -> Outcome {
    begin(c, norm).await;
    let stmt = c.prepare(f.sql).await;
    let out = match stmt {
        Err(e) => Outcome::Error(sqlstate(&e)),
        Ok(stmt) if stmt.columns().is_empty() => match c.execute(&stmt, &refs(&f.params)).await {
            Ok(n) => Outcome::Rows { rows: Vec::new(), count: n },
            Err(e) => Outcome::Error(sqlstate(&e)),
        },
        Ok(stmt) => match c.query(&stmt, &refs(&f.params)).await {
            Ok(rows) => Outcome::Rows { count: rows.len() as u64, rows: norm.sorted(&rows) },
            Err(e) => Outcome::Error(sqlstate(&e)),
        },
    };
    finish(c, matches!(out, Outcome::Rows { .. })).await;
    out
}

/// The rewritten statement on the migrated database, mapped back the way the
/// proxy maps it (hidden rows → the count in `sy_count`; a statement that
/// returns no rows → the count in its own command tag).
async fn run_rewritten(c: &Client, f: &WriteForm, plan: &switchyard_rewriter::Plan, norm: &mut Norm) -> Outcome {
    begin(c, norm).await;
    let out = match c.prepare(plan.sql.as_str()).await {
        Err(e) => Outcome::Error(sqlstate(&e)),
        Ok(stmt) if stmt.columns().is_empty() => match c.execute(&stmt, &refs(&f.params)).await {
            Ok(n) => Outcome::Rows { rows: Vec::new(), count: n },
            Err(e) => Outcome::Error(sqlstate(&e)),
        },
        Ok(stmt) => match c.query(&stmt, &refs(&f.params)).await {
            Err(e) => Outcome::Error(sqlstate(&e)),
            Ok(rows) if plan.result.hide_rows => {
                assert_eq!(rows.len(), 1, "{}: one sy_count row", f.name);
                let n: i64 = rows[0].get("sy_count");
                Outcome::Rows { rows: Vec::new(), count: n as u64 }
            }
            Ok(rows) => Outcome::Rows { count: rows.len() as u64, rows: norm.sorted(&rows) },
        },
    };
    finish(c, matches!(out, Outcome::Rows { .. })).await;
    out
}

/// Parameter types and result columns the client would see from Describe.
async fn describe(c: &Client, sql: &str) -> Result<(Vec<String>, Vec<(String, String)>), String> {
    let s = c.prepare(sql).await.map_err(|e| sqlstate(&e))?;
    Ok((
        s.params().iter().map(|t| t.name().to_string()).collect(),
        s.columns().iter().map(|c| (c.name().to_string(), c.type_().name().to_string())).collect(),
    ))
}

/// The legacy twin and the migrated database, seeded alike, the migrated one
/// backfilled (t5 and t6 archived).
pub async fn twin_pair() -> (support::TestDb, support::TestDb) {
    let twin = support::legacy_db().await;
    let db = support::migrated_db().await;
    twin.client.batch_execute(&seed_sql()).await.unwrap_or_else(|e| panic!("seed twin: {e}"));
    db.client.batch_execute(&seed_sql()).await.unwrap_or_else(|e| panic!("seed: {e}"));
    db.client.batch_execute(BACKFILL_SQL).await.unwrap_or_else(|e| panic!("backfill: {e}"));
    (twin, db)
}

/// Whether the backfill is on record as complete: the mirror functions take
/// their during-backfill paths (legacy descendants locked and walked on a
/// delete) until it is, and their fast paths after.
#[derive(Clone, Copy, PartialEq)]
pub enum Backfill {
    Running,
    Complete,
}

/// Runs `seq` on a fresh pair in `phase`: per form, the same parameter types
/// and columns (unless the rows are hidden), the same rows, count or
/// SQLSTATE as the twin, then both schemas holding what the twin's legacy
/// table holds, and the in-database invariants.
pub async fn run_sequence_against_twin(phase: Phase, seq: Sequence, backfill: Backfill) {
    let rw = Rewriter::with_default_spec();
    let (twin, db) = twin_pair().await;
    if backfill == Backfill::Complete {
        db.client
            .batch_execute(
                "INSERT INTO switchyard.backfill_progress (table_name, rows_copied, completed, finished_at)
                 VALUES ('todos', 8, true, now())",
            )
            .await
            .expect("backfill on record");
    }
    let archived: i64 = db.client.query_one("SELECT count(*) FROM todos_archived", &[]).await.expect("count").get(0);
    assert_eq!(archived, 2, "the fixture archives t5 and t6");
    let legacy_kept = phase != Phase::NewOnly;
    let (mut nt, mut nd) = (Norm::new(), Norm::new());
    for f in &seq.forms {
        let at = format!("{phase}, {}: {}", seq.name, f.name);
        let plan = rw.plan(phase, f.sql);
        match f.deviation(phase) {
            Some(Deviation::Skip) => continue,
            Some(Deviation::Refused) => {
                assert_eq!(plan.action, Action::Refuse, "{at}: {plan:?}");
                assert!(plan.reason.as_deref().is_some_and(|r| !r.is_empty()), "{at}: a refusal names why");
                continue;
            }
            None => assert_eq!(plan.action, Action::Rewrite, "{at}: {:?}", plan.reason),
        }
        // Describe: same parameter types; same columns unless the proxy hides them.
        let (orig_params, orig_cols) = describe(&twin.client, f.sql).await.unwrap_or_default();
        if let Ok((params, cols)) = describe(&db.client, &plan.sql).await {
            assert_same_as_legacy(&orig_params, &params, format_args!("{at}: parameter types"));
            if plan.result.hide_rows {
                assert!(orig_cols.is_empty(), "{at}: rows hidden only when the client wrote no RETURNING");
            } else {
                assert_same_as_legacy(&orig_cols, &cols, format_args!("{at}: result columns"));
            }
        }
        let want = run_original(&twin.client, f, &mut nt).await;
        let got = run_rewritten(&db.client, f, &plan, &mut nd).await;
        assert_same_as_legacy(&want, &got, format_args!("{at}: what the client sees"));
        let twin_rows = legacy_rows(&twin.client, &nt).await;
        let new = new_rows(&db.client, &nd).await;
        assert_same_as_legacy(&twin_rows, &new, format_args!("{at}: the new schema holds what legacy alone would"));
        if legacy_kept {
            let legacy = legacy_rows(&db.client, &nd).await;
            assert_same_as_legacy(&twin_rows, &legacy, format_args!("{at}: legacy holds what legacy alone would"));
        }
        let (diff, i3, depth, archived_not_done) = invariants(&db.client, legacy_kept).await;
        assert_eq!((diff, i3, depth, archived_not_done), (0, 0, 0, 0), "{at}: (differences, I3, depth, archive CHECK)");
    }
}

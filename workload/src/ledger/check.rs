//! The check that a database holds exactly what the ledger says was
//! acknowledged: read back by id in batches, compared entry by entry.

use std::collections::HashMap;

use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

use super::{Entry, Expect, Ledger};
use crate::error::WorkloadError;
use switchyard_pgconn::describe_pg_error;

/// Which schema a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schema {
    /// The legacy `todos` table.
    Legacy,
    /// `todos_active UNION ALL todos_archived`.
    New,
}

impl Schema {
    fn query(self) -> &'static str {
        match self {
            Schema::Legacy => {
                "SELECT id, title, status, completed_at IS NOT NULL, parent_todo_id FROM todos WHERE id = ANY($1)"
            }
            Schema::New => {
                "SELECT id, title, status, completed_at IS NOT NULL, parent_todo_id FROM \
                 (SELECT id, title, status, completed_at, parent_todo_id FROM todos_active \
                  UNION ALL SELECT id, title, status, completed_at, parent_todo_id FROM todos_archived) t \
                 WHERE id = ANY($1)"
            }
        }
    }
}

impl std::fmt::Display for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Schema::Legacy => "legacy (todos)",
            Schema::New => "new (todos_active + todos_archived)",
        })
    }
}

/// One way the database differs from the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    /// An acknowledged todo is missing.
    Lost { id: Uuid },
    /// A todo acknowledged as deleted, or whose create was refused, exists.
    Phantom { id: Uuid, expected: Expect },
    /// A column does not hold the last acknowledged value.
    Stale { id: Uuid, column: &'static str, expected: String, found: String },
    /// The id is there more than once (in both new tables, say).
    Duplicate { id: Uuid, copies: usize },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Lost { id } => write!(f, "lost write: acknowledged todo {id} is missing"),
            Mismatch::Phantom { id, expected } => {
                let why = if *expected == Expect::Deleted { "deleted" } else { "refused at create" };
                write!(f, "phantom: todo {id} exists but was acknowledged {why}")
            }
            Mismatch::Stale { id, column, expected, found } => {
                write!(f, "stale: todo {id} {column} is {found}, last acknowledged {expected}")
            }
            Mismatch::Duplicate { id, copies } => {
                write!(f, "duplicate: todo {id} is there {copies} times")
            }
        }
    }
}

/// The result of [`Ledger::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerCheck {
    pub schema: Schema,
    /// Ids checked (every entry but the uncertain ones).
    pub checked: usize,
    /// Ids left out because their last write's outcome is unknown.
    pub uncertain: usize,
    /// How many mismatches there are in all.
    pub mismatch_count: usize,
    /// The first [`LedgerCheck::MAX_LISTED`] mismatches.
    pub mismatches: Vec<Mismatch>,
}

impl LedgerCheck {
    /// How many mismatches are kept for display.
    pub const MAX_LISTED: usize = 100;

    /// Whether the database holds exactly what was acknowledged.
    pub fn is_clean(&self) -> bool {
        self.mismatch_count == 0
    }
}

impl std::fmt::Display for LedgerCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_clean() {
            write!(
                f,
                "ledger check on {}: clean, {} todos checked, {} uncertain left out",
                self.schema, self.checked, self.uncertain
            )
        } else {
            writeln!(
                f,
                "ledger check on {}: {} mismatches in {} todos checked ({} uncertain left out)",
                self.schema, self.mismatch_count, self.checked, self.uncertain
            )?;
            for m in &self.mismatches {
                writeln!(f, "  {m}")?;
            }
            Ok(())
        }
    }
}

/// What one row read back holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) title: String,
    pub(crate) status: String,
    pub(crate) completed: bool,
    pub(crate) parent: Option<Uuid>,
}

const CHECK_BATCH: usize = 5_000;

impl Ledger {
    /// Verifies that the database behind `client` holds exactly what was
    /// acknowledged: acknowledged todos present with their last acknowledged
    /// values, deleted and refused ones absent, each id at most once.
    /// Uncertain ids are left out. Connect `client` to the database itself,
    /// not through a proxy, to see what is stored.
    pub async fn check(&self, client: &Client, schema: Schema) -> Result<LedgerCheck, WorkloadError> {
        let ids: Vec<Uuid> =
            self.entries.iter().filter(|(_, e)| e.expect != Expect::Uncertain).map(|(id, _)| *id).collect();
        let stmt = client.prepare(schema.query()).await.map_err(|e| WorkloadError::Check(describe_pg_error(&e)))?;
        let mut found: HashMap<Uuid, Vec<Found>> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHECK_BATCH) {
            let rows = client.query(&stmt, &[&chunk]).await.map_err(|e| WorkloadError::Check(describe_pg_error(&e)))?;
            for r in rows {
                let parse = || -> Result<(Uuid, Found), tokio_postgres::Error> {
                    Ok((
                        r.try_get(0)?,
                        Found {
                            title: r.try_get(1)?,
                            status: r.try_get(2)?,
                            completed: r.try_get(3)?,
                            parent: r.try_get(4)?,
                        },
                    ))
                };
                let (id, f) = parse().map_err(|e| WorkloadError::Check(describe_pg_error(&e)))?;
                found.entry(id).or_default().push(f);
            }
        }
        Ok(self.compare(schema, &found))
    }

    /// The comparison behind [`Ledger::check`], given what was read back.
    pub(crate) fn compare(&self, schema: Schema, found: &HashMap<Uuid, Vec<Found>>) -> LedgerCheck {
        let mut out = LedgerCheck { schema, checked: 0, uncertain: 0, mismatch_count: 0, mismatches: Vec::new() };
        let push = |out: &mut LedgerCheck, m: Mismatch| {
            out.mismatch_count += 1;
            if out.mismatches.len() < LedgerCheck::MAX_LISTED {
                out.mismatches.push(m);
            }
        };
        let mut ids: Vec<&Uuid> = self.entries.keys().collect();
        ids.sort();
        for id in ids {
            let Some(e) = self.entries.get(id) else {
                continue;
            };
            if e.expect == Expect::Uncertain {
                out.uncertain += 1;
                continue;
            }
            out.checked += 1;
            let rows = found.get(id).map(Vec::as_slice).unwrap_or(&[]);
            for m in self.mismatches_of(id, rows) {
                push(&mut out, m);
            }
        }
        out
    }

    /// How the rows read back for `id` differ from its entry (nothing for an
    /// uncertain or unknown id).
    pub(crate) fn mismatches_of(&self, id: &Uuid, rows: &[Found]) -> Vec<Mismatch> {
        let Some(e) = self.entries.get(id) else {
            return Vec::new();
        };
        match (e.expect, rows) {
            (Expect::Uncertain, _) | (Expect::Deleted | Expect::Rejected, []) => Vec::new(),
            (Expect::Present, []) => vec![Mismatch::Lost { id: *id }],
            (Expect::Present, [row]) => stale(*id, e, row),
            (Expect::Present, many) => vec![Mismatch::Duplicate { id: *id, copies: many.len() }],
            (expected, _) => vec![Mismatch::Phantom { id: *id, expected }],
        }
    }
}

fn stale(id: Uuid, e: &Entry, row: &Found) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(t) = &e.title {
        if *t != row.title {
            out.push(Mismatch::Stale {
                id,
                column: "title",
                expected: format!("{t:?}"),
                found: format!("{:?}", row.title),
            });
        }
    }
    if let Some(s) = e.status {
        if s.as_str() != row.status {
            out.push(Mismatch::Stale { id, column: "status", expected: s.as_str().into(), found: row.status.clone() });
        }
    }
    if let Some(c) = e.completed {
        if c != row.completed {
            let show = |set: bool| if set { "set" } else { "NULL" }.to_string();
            out.push(Mismatch::Stale { id, column: "completed_at", expected: show(c), found: show(row.completed) });
        }
    }
    if let Some(p) = e.parent {
        if p != row.parent {
            let show = |p: Option<Uuid>| p.map_or_else(|| "NULL".to_string(), |u| u.to_string());
            out.push(Mismatch::Stale { id, column: "parent_todo_id", expected: show(p), found: show(row.parent) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Created, Status};

    fn found(title: &str, status: &str, completed: bool, parent: Option<Uuid>) -> Found {
        Found { title: title.into(), status: status.into(), completed, parent }
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_database_holding_exactly_the_acknowledged_writes_is_clean() {
        let mut l = Ledger::new();
        l.created(&[
            Created { id: id(1), title: "a".into(), status: Status::Todo, parent: None },
            Created { id: id(2), title: "b".into(), status: Status::Todo, parent: Some(id(1)) },
        ]);
        l.updated(id(2), None, Some(Status::Done), Some(true));
        l.deleted(&[id(3)]);
        l.rejected(&[id(4)]);
        let db = HashMap::from([
            (id(1), vec![found("a", "todo", false, None)]),
            (id(2), vec![found("b", "done", true, Some(id(1)))]),
        ]);
        let check = l.compare(Schema::Legacy, &db);
        assert!(check.is_clean(), "{check}");
        assert_eq!(check.checked, 4);
    }

    #[test]
    fn lost_phantom_stale_and_duplicate_rows_are_each_reported() {
        let mut l = Ledger::new();
        l.created(&[
            Created { id: id(1), title: "a".into(), status: Status::Todo, parent: None },
            Created { id: id(2), title: "b".into(), status: Status::Todo, parent: None },
            Created { id: id(5), title: "e".into(), status: Status::Todo, parent: None },
        ]);
        l.updated(id(2), Some("b2"), None, None);
        l.deleted(&[id(3)]);
        l.rejected(&[id(4)]);
        let db = HashMap::from([
            (id(2), vec![found("b", "todo", false, None)]),
            (id(3), vec![found("c", "todo", false, None)]),
            (id(4), vec![found("d", "todo", false, None)]),
            (id(5), vec![found("e", "todo", false, None), found("e", "todo", false, None)]),
        ]);
        let check = l.compare(Schema::New, &db);
        assert_eq!(
            check.mismatches,
            vec![
                Mismatch::Lost { id: id(1) },
                Mismatch::Stale { id: id(2), column: "title", expected: "\"b2\"".into(), found: "\"b\"".into() },
                Mismatch::Phantom { id: id(3), expected: Expect::Deleted },
                Mismatch::Phantom { id: id(4), expected: Expect::Rejected },
                Mismatch::Duplicate { id: id(5), copies: 2 },
            ]
        );
    }

    #[test]
    fn uncertain_writes_are_left_out_and_stay_uncertain() {
        let mut l = Ledger::new();
        l.created(&[Created { id: id(1), title: "a".into(), status: Status::Todo, parent: None }]);
        l.uncertain(&[id(1)]);
        l.updated(id(1), Some("later"), None, None);
        l.deleted(&[id(1)]);
        let check = l.compare(Schema::Legacy, &HashMap::new());
        assert!(check.is_clean());
        assert_eq!((check.checked, check.uncertain), (0, 1));
    }
}

//! Reading rows back directly from PostgreSQL (never through the proxy), in
//! both schemas with one snapshot, and what they must hold: the ledger's
//! state in legacy, and in the new schema once it mirrors the todo; the same
//! row over every legacy column in both (I1); at most one new copy (I3).

use std::collections::HashMap;

use tokio_postgres::Client;
use uuid::Uuid;

use crate::ledger::{Found, Ledger};

use super::outcome::FindingKind;

/// The legacy columns, in the order both schemas' rows are rendered.
const COLUMNS: &str = "id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, \
                       ai_generated, tags, metadata, created_at, updated_at, completed_at";

fn read_back_sql() -> String {
    let part = |side: &str, table: &str| {
        format!(
            "SELECT '{side}'::text, id, title, status, completed_at IS NOT NULL, parent_todo_id, \
             ROW({COLUMNS})::text FROM {table} WHERE id = ANY($1)"
        )
    };
    format!(
        "{} UNION ALL {} UNION ALL {}",
        part("legacy", "todos"),
        part("new", "todos_active"),
        part("new", "todos_archived")
    )
}

/// A row as read back: the ledger's columns, and the whole row as text.
#[derive(Debug, Clone)]
struct Copy {
    found: Found,
    text: String,
}

/// Both schemas' rows of some ids, read in one statement.
#[derive(Default)]
pub(crate) struct ReadBack {
    legacy: HashMap<Uuid, Vec<Copy>>,
    new: HashMap<Uuid, Vec<Copy>>,
}

pub(crate) async fn read_back(client: &Client, ids: &[Uuid]) -> Result<ReadBack, tokio_postgres::Error> {
    let mut out = ReadBack::default();
    for r in client.query(&read_back_sql(), &[&ids]).await? {
        let side: String = r.try_get(0)?;
        let copy = Copy {
            found: Found {
                title: r.try_get(2)?,
                status: r.try_get(3)?,
                completed: r.try_get(4)?,
                parent: r.try_get(5)?,
            },
            text: r.try_get(6)?,
        };
        let map = if side == "legacy" { &mut out.legacy } else { &mut out.new };
        map.entry(r.try_get(1)?).or_default().push(copy);
    }
    Ok(out)
}

/// Whatever a read-back shows wrong for one id.
pub(crate) type Problem = (FindingKind, Uuid, String);

impl ReadBack {
    /// Compares the rows of `ids` with the ledger; `mirrored(id)` says
    /// whether the new schema must already hold the todo's state.
    pub(crate) fn problems(&self, ledger: &Ledger, ids: &[Uuid], mirrored: impl Fn(&Uuid) -> bool) -> Vec<Problem> {
        let mut out = Vec::new();
        for id in ids {
            let legacy = self.found(&self.legacy, id);
            for m in ledger.mismatches_of(id, &legacy) {
                out.push((FindingKind::Lost, *id, format!("legacy: {m}")));
            }
            if !mirrored(id) {
                continue;
            }
            let new = self.found(&self.new, id);
            for m in ledger.mismatches_of(id, &new) {
                out.push((FindingKind::Lost, *id, format!("new: {m}")));
            }
            if let Some(d) = self.divergence(id) {
                out.push((FindingKind::Divergent, *id, d));
            }
        }
        out
    }

    fn found(&self, map: &HashMap<Uuid, Vec<Copy>>, id: &Uuid) -> Vec<Found> {
        map.get(id).map(|v| v.iter().map(|c| c.found.clone()).collect()).unwrap_or_default()
    }

    /// How legacy and new differ for `id`, if they do.
    fn divergence(&self, id: &Uuid) -> Option<String> {
        let none = Vec::new();
        let legacy = self.legacy.get(id).unwrap_or(&none);
        let new = self.new.get(id).unwrap_or(&none);
        match (legacy.as_slice(), new.as_slice()) {
            ([], []) => None,
            ([l], [n]) if l.text == n.text => None,
            ([l], [n]) => Some(format!("legacy row {} differs from new row {}", l.text, n.text)),
            (l, n) => Some(format!("{} legacy copies, {} new copies", l.len(), n.len())),
        }
    }
}

/// What the rows of every todo in `ledger` show wrong now: the check at
/// the end, when every todo must be in both schemas.
pub(crate) async fn everything(client: &Client, ledger: &Ledger) -> Result<Vec<Problem>, tokio_postgres::Error> {
    let ids: Vec<Uuid> = ledger.entries().map(|(id, _)| *id).collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(5_000) {
        out.extend(read_back(client, chunk).await?.problems(ledger, chunk, |_| true));
    }
    Ok(out)
}

/// How many todos of `user` are left in legacy and in the new schema, and
/// whether the user row is.
pub(crate) async fn user_leftovers(client: &Client, user: &Uuid) -> Result<(i64, i64, bool), tokio_postgres::Error> {
    let r = client
        .query_one(
            "SELECT (SELECT count(*) FROM todos WHERE user_id = $1),
                    (SELECT count(*) FROM todos_active WHERE user_id = $1)
                      + (SELECT count(*) FROM todos_archived WHERE user_id = $1),
                    EXISTS (SELECT 1 FROM users WHERE id = $1)",
            &[user],
        )
        .await?;
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

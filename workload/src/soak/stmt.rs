//! The soak's statements beside the service layer's ([`crate::stmt::Stmt`]):
//! the marker row every write transaction carries, upserts by id, a user's
//! deletion, and the reads compared with the ledger. Only legacy names and
//! `soak_markers` (a table of its own, outside the migrated one) appear.

use crate::stmt::{Prepared, Stmt};

/// The marker table: a write transaction inserts its marker, so a commit
/// whose answer was lost can be settled by looking for the marker.
pub const MARKERS_SQL: &str = "CREATE TABLE IF NOT EXISTS soak_markers (
  id uuid PRIMARY KEY,
  client_index integer NOT NULL,
  settled_absent boolean NOT NULL DEFAULT false,
  at timestamptz NOT NULL DEFAULT now())";

/// Settles an in-doubt commit: inserting its marker's id either conflicts
/// with the committed marker (no row returned: the commit happened), or
/// succeeds, after which the original transaction can never commit (its
/// own insert of the id would fail; if still running it waits on this one).
pub(crate) const SETTLE_SQL: &str = "INSERT INTO soak_markers (id, client_index, settled_absent) \
     VALUES ($1, -1, true) ON CONFLICT (id) DO NOTHING RETURNING id";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SoakStmt {
    Marker,
    /// Insert or, when the id exists, change its title.
    Upsert,
    ReadOne,
    ListUser,
    DeleteUser,
}

impl SoakStmt {
    /// The texts [`crate::session::Session::connect_with`] prepares after
    /// the service layer's, in slot order.
    pub(crate) const SQL: [&'static str; 5] = [
        "INSERT INTO soak_markers (id, client_index) VALUES ($1, $2)",
        "INSERT INTO todos (id, user_id, title, status, priority) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title",
        "SELECT id, title, status, completed_at IS NOT NULL, parent_todo_id FROM todos WHERE id = $1 AND user_id = $2",
        "SELECT id, title, status, completed_at IS NOT NULL, parent_todo_id FROM todos WHERE user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ];
}

impl Prepared for SoakStmt {
    fn slot(self) -> usize {
        Stmt::ALL.len() + self as usize
    }

    fn sql(self) -> &'static str {
        SoakStmt::SQL[self as usize]
    }
}

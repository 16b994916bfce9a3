//! Plans: what the proxy sends for one client statement and how it restores
//! what the client would have seen (invariant I5, docs/invariants.md).

use serde::Serialize;

/// The migration phase a statement is planned for (docs/invariants.md,
/// "Phases").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Legacy,
    DualWrite,
    ReadNew,
    WriteNew,
    NewOnly,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] = [Phase::Legacy, Phase::DualWrite, Phase::ReadNew, Phase::WriteNew, Phase::NewOnly];

    /// The phase's name as written in configuration and the control schema.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Legacy => "legacy",
            Phase::DualWrite => "dual_write",
            Phase::ReadNew => "read_new",
            Phase::WriteNew => "write_new",
            Phase::NewOnly => "new_only",
        }
    }

    /// Reads come from the new tables.
    pub fn reads_new(self) -> bool {
        matches!(self, Phase::ReadNew | Phase::WriteNew | Phase::NewOnly)
    }

    /// Writes are applied to the new tables.
    pub fn writes_new(self) -> bool {
        matches!(self, Phase::WriteNew | Phase::NewOnly)
    }

    /// Every write reaches both schemas: legacy stays complete and the new
    /// tables follow it (or the other way round in write_new).
    pub fn writes_both(self) -> bool {
        matches!(self, Phase::DualWrite | Phase::ReadNew | Phase::WriteNew)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Phase::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            format!("unknown phase `{s}` (expected legacy, dual_write, read_new, write_new or new_only)")
        })
    }
}

/// What to do with the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send the client's bytes unchanged.
    Passthrough,
    /// Send [`Plan::sql`] instead.
    Rewrite,
    /// Send nothing; answer the client with SQLSTATE 0A000 and [`Plan::reason`].
    Refuse,
}

/// The command tag the client must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandTag {
    /// Whatever PostgreSQL reports (passthrough, reads, refusals).
    AsReported,
    /// `INSERT 0 n`
    Insert,
    /// `UPDATE n`
    Update,
    /// `DELETE n`
    Delete,
}

impl CommandTag {
    /// The tag text for `n` affected rows; `None` for [`CommandTag::AsReported`].
    pub fn render(self, n: u64) -> Option<String> {
        match self {
            CommandTag::AsReported => None,
            CommandTag::Insert => Some(format!("INSERT 0 {n}")),
            CommandTag::Update => Some(format!("UPDATE {n}")),
            CommandTag::Delete => Some(format!("DELETE {n}")),
        }
    }
}

/// How the rewritten statement's result maps back to the client's.
///
/// For a rewritten top-level write ([`CommandTag`] other than `AsReported`):
/// - `hide_rows == true` (the client wrote no RETURNING): the statement
///   returns exactly one row of one `bigint` column, `sy_count`, the affected
///   count. The proxy drops its RowDescription (answers Describe with NoData)
///   and its DataRow, and replaces `SELECT 1` by `command_tag.render(sy_count)`.
///   Bind it with zero result-format codes so `sy_count` arrives as text.
/// - `hide_rows == false` (the client wrote RETURNING): the rows are exactly
///   the client's RETURNING rows, columns as written; the proxy replaces
///   `SELECT n` by `command_tag.render(n)`.
///
/// Otherwise (`AsReported`) the result goes to the client as PostgreSQL sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultShape {
    pub command_tag: CommandTag,
    pub hide_rows: bool,
    /// The client's RETURNING list as written, when a rewritten write has one;
    /// `None` means "as written" (the statement's own columns).
    pub client_columns: Option<Vec<String>>,
}

impl ResultShape {
    /// The result exactly as PostgreSQL reports it.
    pub fn as_reported() -> Self {
        ResultShape { command_tag: CommandTag::AsReported, hide_rows: false, client_columns: None }
    }
}

/// A plan for one statement in one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub action: Action,
    /// What to send: the original text for a passthrough, the rewrite, or
    /// empty for a refusal.
    pub sql: String,
    pub result: ResultShape,
    /// The legacy and new forms of a read, for the shadow comparison. Same
    /// parameters as `sql`.
    pub shadow: Option<crate::shadow::ShadowRead>,
    /// Why it was refused (the client's error message), or a note on why it
    /// was rewritten or passed.
    pub reason: Option<String>,
    /// Where each result column of a rewritten read comes from in the
    /// client's select list, when it can be told ([`crate::origins`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<crate::origins::ColumnOrigin>>,
}

/// SQLSTATE for a refusal: `feature_not_supported`.
pub const REFUSAL_SQLSTATE: &str = "0A000";

impl Plan {
    /// Send `sql` unchanged.
    pub fn passthrough(sql: &str) -> Self {
        Plan {
            action: Action::Passthrough,
            sql: sql.to_string(),
            result: ResultShape::as_reported(),
            shadow: None,
            reason: None,
            columns: None,
        }
    }

    /// Refuse with a message naming the construct.
    pub fn refuse(reason: impl Into<String>) -> Self {
        Plan {
            action: Action::Refuse,
            sql: String::new(),
            result: ResultShape::as_reported(),
            shadow: None,
            reason: Some(reason.into()),
            columns: None,
        }
    }

    /// The plan as the JSON object `switchyard rewrite --json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

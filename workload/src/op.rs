//! The operations of the TodoList service layer, and the two wire protocols
//! they are sent with.

use serde::Serialize;

/// One service-layer operation of the legacy app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create a todo, sometimes with 2–4 AI-generated subtasks in one transaction.
    Create,
    /// List a user's todos with filters, ordering and pagination.
    List,
    /// Change a todo's status to `todo` or `in_progress` (clearing `completed_at`).
    SetStatus,
    /// Complete a todo: status `done`, `completed_at = now()`.
    Complete,
    /// Edit title, description, tags and metadata.
    Edit,
    /// Delete a todo; its subtasks cascade through the legacy foreign key.
    Delete,
    /// Walk a todo's subtree with a recursive CTE.
    Walk,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 7] = [Op::Create, Op::List, Op::SetStatus, Op::Complete, Op::Edit, Op::Delete, Op::Walk];
    /// How many operations there are.
    pub const COUNT: usize = Op::ALL.len();

    /// The operation's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::List => "list",
            Op::SetStatus => "set_status",
            Op::Complete => "complete",
            Op::Edit => "edit",
            Op::Delete => "delete",
            Op::Walk => "walk",
        }
    }

    /// Position in [`Op::ALL`], for per-operation arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the operation writes.
    pub fn writes(self) -> bool {
        !matches!(self, Op::List | Op::Walk)
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The PostgreSQL wire protocol an operation's statements are sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Prepared statements: Parse once per connection, then Bind/Execute with parameters.
    Extended,
    /// Query messages with the values inlined as properly quoted literals.
    Simple,
}

//! The statements the service layer sends, as an ORM such as SQLAlchemy
//! would write them: one table per DML statement, `user_id` in every WHERE
//! (the app scopes everything to the signed-in user), `RETURNING` where the
//! app needs server-generated values. Only legacy names appear here: the
//! workload is the legacy app and knows nothing of the new schema.

/// Every statement a session prepares; the discriminant indexes its
/// prepared-statement table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stmt {
    Begin,
    Commit,
    /// A todo with a client-generated id.
    Insert,
    /// A todo with the column default's id, returned.
    InsertReturning,
    ListAll,
    ListByStatus,
    ListByProject,
    ListDueSoon,
    SetStatus,
    Complete,
    Edit,
    Subtree,
    Delete,
    Walk,
}

/// A statement a [`crate::session::Session`] prepares: its text, and its
/// slot in the session's table of prepared statements.
pub(crate) trait Prepared: Copy {
    fn slot(self) -> usize;
    fn sql(self) -> &'static str;
}

impl Prepared for Stmt {
    fn slot(self) -> usize {
        self.index()
    }

    fn sql(self) -> &'static str {
        Stmt::sql(self)
    }
}

impl Stmt {
    pub(crate) const ALL: [Stmt; 14] = [
        Stmt::Begin,
        Stmt::Commit,
        Stmt::Insert,
        Stmt::InsertReturning,
        Stmt::ListAll,
        Stmt::ListByStatus,
        Stmt::ListByProject,
        Stmt::ListDueSoon,
        Stmt::SetStatus,
        Stmt::Complete,
        Stmt::Edit,
        Stmt::Subtree,
        Stmt::Delete,
        Stmt::Walk,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The statement text, `$n` placeholders for parameters.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Stmt::Begin => "BEGIN",
            Stmt::Commit => "COMMIT",
            Stmt::Insert => {
                "INSERT INTO todos (id, user_id, project_id, parent_todo_id, title, description, status, priority, \
                 due_date, ai_generated, tags, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            }
            Stmt::InsertReturning => {
                "INSERT INTO todos (user_id, project_id, parent_todo_id, title, description, status, priority, \
                 due_date, ai_generated, tags, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 RETURNING id, created_at"
            }
            Stmt::ListAll => {
                "SELECT id, parent_todo_id, title, status, priority, due_date, created_at FROM todos \
                 WHERE user_id = $1 ORDER BY priority DESC, created_at DESC LIMIT $2 OFFSET $3"
            }
            Stmt::ListByStatus => {
                "SELECT id, parent_todo_id, title, status, priority, due_date, created_at FROM todos \
                 WHERE user_id = $1 AND status = $2 ORDER BY priority DESC, created_at DESC LIMIT $3 OFFSET $4"
            }
            Stmt::ListByProject => {
                "SELECT id, parent_todo_id, title, status, priority, due_date, created_at FROM todos \
                 WHERE user_id = $1 AND project_id = $2 ORDER BY priority DESC, created_at DESC LIMIT $3 OFFSET $4"
            }
            Stmt::ListDueSoon => {
                "SELECT id, parent_todo_id, title, status, priority, due_date, created_at FROM todos \
                 WHERE user_id = $1 AND status <> 'done' AND due_date IS NOT NULL AND due_date < $2 \
                 ORDER BY priority DESC, created_at DESC LIMIT $3 OFFSET $4"
            }
            Stmt::SetStatus => "UPDATE todos SET status = $3, completed_at = NULL WHERE id = $1 AND user_id = $2",
            Stmt::Complete => "UPDATE todos SET status = 'done', completed_at = now() WHERE id = $1 AND user_id = $2",
            Stmt::Edit => {
                "UPDATE todos SET title = $3, description = $4, tags = $5, metadata = $6 WHERE id = $1 AND user_id = $2"
            }
            Stmt::Subtree => {
                "WITH RECURSIVE subtree AS (SELECT id FROM todos WHERE id = $1 AND user_id = $2 \
                 UNION ALL SELECT t.id FROM todos t JOIN subtree s ON t.parent_todo_id = s.id) SELECT id FROM subtree"
            }
            Stmt::Delete => "DELETE FROM todos WHERE id = $1 AND user_id = $2",
            Stmt::Walk => {
                "WITH RECURSIVE tree AS (SELECT id, parent_todo_id, title, status, 0 AS depth FROM todos \
                 WHERE id = $1 AND user_id = $2 \
                 UNION ALL SELECT t.id, t.parent_todo_id, t.title, t.status, tree.depth + 1 FROM todos t \
                 JOIN tree ON t.parent_todo_id = tree.id) \
                 SELECT id, parent_todo_id, title, status, depth FROM tree ORDER BY depth, id"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_indexed_by_discriminant_and_names_only_legacy_tables() {
        for (i, s) in Stmt::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            let sql = s.sql().to_ascii_lowercase();
            assert!(!sql.contains("todos_active") && !sql.contains("todos_archived"), "{sql}");
        }
    }
}

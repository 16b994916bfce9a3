-- 0003: the seed's Phase 5.2 indexes, declared once on each partitioned
-- parent instead of once per partition. PostgreSQL creates the matching index
-- on every existing partition now and on every partition created or attached
-- later (the monthly archive partitions included), naming each one itself.
--
-- The seed built them per partition because CREATE INDEX CONCURRENTLY is not
-- supported on a partitioned parent. That only matters for a big table under
-- traffic; these tables were created empty by 0002 (in this same migration
-- run), so a plain CREATE INDEX is instant. See docs/schema.md.
--
-- Same columns, order and WHERE clauses as the seed:
--   todos_active: 5, todos_archived: 2, ai_todo_interactions: 2.

-- Most important: a user's open todos by status and priority.
CREATE INDEX idx_todos_active_user_status_priority
  ON todos_active (user_id, status, priority DESC)
  WHERE status IN ('todo', 'in_progress');

-- Chronological ordering.
CREATE INDEX idx_todos_active_user_created
  ON todos_active (user_id, created_at DESC);

-- Project-based queries.
CREATE INDEX idx_todos_active_user_project
  ON todos_active (user_id, project_id, created_at DESC)
  WHERE project_id IS NOT NULL;

-- Hierarchical relationships (children of a todo).
CREATE INDEX idx_todos_active_parent_user
  ON todos_active (parent_todo_id, user_id)
  WHERE parent_todo_id IS NOT NULL;

-- Due date queries.
CREATE INDEX idx_todos_active_user_due
  ON todos_active (user_id, due_date, status)
  WHERE due_date IS NOT NULL AND status IN ('todo', 'in_progress');

-- Time-based archive queries.
CREATE INDEX idx_todos_archived_user_archived
  ON todos_archived (user_id, archived_at DESC);

-- Project completion history.
CREATE INDEX idx_todos_archived_project_date
  ON todos_archived (project_id, archived_at DESC)
  WHERE project_id IS NOT NULL;

-- User-based AI history.
CREATE INDEX idx_ai_todo_interactions_user_date
  ON ai_todo_interactions (user_id, created_at DESC);

-- Todo-specific interactions.
CREATE INDEX idx_ai_todo_interactions_todo_type
  ON ai_todo_interactions (todo_id, interaction_type);

-- 0015: INSERT ... ON CONFLICT (id) on the new tables, honoured across
-- todos_active and todos_archived (write_new, new_only).
--
-- Legacy has one primary key, id. The new tables have (id, user_id) and
-- (id, archived_at): no index sees a conflict on id alone across both, so
-- the rewriter cannot hand the client's ON CONFLICT to PostgreSQL as it is.
-- It splits the statement instead (rewriter/src/upsert.rs):
--
--   1. the client's INSERT, without its ON CONFLICT clause, goes into the
--      view below: its columns, types and defaults are the legacy table's,
--      so parameters are inferred as on legacy and defaults are evaluated
--      once; its INSTEAD OF trigger checks NOT NULL and the status CHECK as
--      legacy checks a proposed row (before the conflict check) and stores
--      nothing; RETURNING yields the proposed rows;
--   2. proposed rows whose id exists nowhere are inserted into todos_active
--      (ON CONFLICT (id, user_id) still catches a concurrent insert);
--   3. proposed rows whose id exists take the client's DO UPDATE (with its
--      WHERE) where the row lives: in todos_active, in todos_archived while
--      the new status is done, or out of the archive into todos_active when
--      the update reopens it. DO NOTHING skips them.

CREATE VIEW switchyard.todos_proposed AS
  SELECT id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date,
         ai_generated, tags, metadata, created_at, updated_at, completed_at
  FROM public.todos_active
  LIMIT 0;
COMMENT ON VIEW switchyard.todos_proposed IS
  'Stores nothing: the rows an INSERT ... ON CONFLICT proposes, with the legacy defaults applied (see 0015)';

ALTER VIEW switchyard.todos_proposed ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER VIEW switchyard.todos_proposed ALTER COLUMN status SET DEFAULT 'todo';
ALTER VIEW switchyard.todos_proposed ALTER COLUMN priority SET DEFAULT 0;
ALTER VIEW switchyard.todos_proposed ALTER COLUMN ai_generated SET DEFAULT false;
ALTER VIEW switchyard.todos_proposed ALTER COLUMN tags SET DEFAULT '{}';
ALTER VIEW switchyard.todos_proposed ALTER COLUMN created_at SET DEFAULT now();
ALTER VIEW switchyard.todos_proposed ALTER COLUMN updated_at SET DEFAULT now();

-- The checks legacy makes on a proposed row before looking for a conflict,
-- with legacy's names in the messages.
CREATE FUNCTION switchyard.todos_proposed_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
DECLARE
  missing text;
BEGIN
  missing := CASE
    WHEN NEW.id IS NULL THEN 'id'
    WHEN NEW.user_id IS NULL THEN 'user_id'
    WHEN NEW.title IS NULL THEN 'title'
    WHEN NEW.status IS NULL THEN 'status'
    WHEN NEW.priority IS NULL THEN 'priority'
    WHEN NEW.ai_generated IS NULL THEN 'ai_generated'
    WHEN NEW.tags IS NULL THEN 'tags'
    WHEN NEW.created_at IS NULL THEN 'created_at'
    WHEN NEW.updated_at IS NULL THEN 'updated_at'
  END;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'null value in column "%" of relation "todos" violates not-null constraint', missing
      USING ERRCODE = 'not_null_violation', COLUMN = missing, TABLE = 'todos', SCHEMA = 'public';
  END IF;
  IF NEW.status NOT IN ('todo', 'in_progress', 'done') THEN
    RAISE EXCEPTION 'new row for relation "todos" violates check constraint "todos_status_check"'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'todos_status_check', TABLE = 'todos', SCHEMA = 'public';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER todos_proposed_instead
  INSTEAD OF INSERT ON switchyard.todos_proposed
  FOR EACH ROW EXECUTE FUNCTION switchyard.todos_proposed_check();

-- Legacy refuses an ON CONFLICT DO UPDATE that proposes the same id twice
-- (the second would update a row the command already wrote). The rewritten
-- statement calls this when the proposed ids repeat.
CREATE FUNCTION switchyard.upsert_affects_row_twice() RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
  RAISE EXCEPTION 'ON CONFLICT DO UPDATE command cannot affect row a second time'
    USING ERRCODE = 'cardinality_violation',
          HINT = 'Ensure that no rows proposed for insertion within the same command have duplicate constrained values.';
END
$$;

-- 0020: single-row writes on the new tables without per-partition waste.
--
-- Profiled (docs/benchmarks.md, "Where a single-row update and delete spend
-- their time"): on PostgreSQL 15 a statement over a partitioned table whose
-- partitions are not pruned before the executor starts pays, on every call,
-- the executor start-up of every partition's scan (perf: ExecutorStart about
-- half of the backend's time for an UPDATE of todos_active by id). What is
-- pruned at plan time or at executor start costs one partition.
--
-- Supersedes:
-- * mirror_todos_in_place (0017) now runs with a generic plan. Its UPDATE of
--   todos_active names (id, user_id) from PL/pgSQL variables, external
--   parameters, so the generic plan is pruned to one partition when the
--   executor starts. PL/pgSQL's plan cache chose a custom plan instead, and
--   planned the UPDATE over todos_active again on every call (one plan per
--   call in pg_stat_statements, 0.18 ms each).
-- * delete_todos_new (0010) and todos_new_upkeep's 'D' (0019) no longer walk
--   todo_descendants and then delete the collected ids (three statements over
--   all 25 partitions, the recursive walk started over every partition twice):
--   delete_todo_subtrees below deletes the children of the given todos level
--   by level, one statement per level, as legacy's ON DELETE CASCADE does.
--   Deleting a leaf, the common case, is one statement that finds nothing.
--   todo_descendants (0018) stays for callers that need the ids.
-- * These functions lock todos_active alone (LOCK TABLE ONLY): the plain
--   LOCK TABLE also locks every partition, after looking them up in the
--   catalog (find_all_inheritors, about 5 % of a mirrored update in perf).
--   The archival's SHARE ROW EXCLUSIVE is taken on todos_active itself (and
--   its partitions), so the lock on the parent alone is what the archival
--   protocol (0004) needs; the statements that follow lock the partitions
--   they touch.
--
-- Unchanged: which rows are deleted (the given todos, all their descendants
-- in either table, and during the backfill the legacy descendants' copies),
-- the lock order (todos_active first), ai_todo_interactions (not tied to
-- todos by a key; no path deletes from it when a todo goes).

-- As in 0017, with a generic plan and the lock on todos_active alone.
CREATE OR REPLACE FUNCTION switchyard.mirror_todos_in_place(rows public.todos[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  r public.todos;
  missing public.todos[] := '{}';
BEGIN
  IF coalesce(cardinality(rows), 0) = 0 THEN
    RETURN 0;
  END IF;
  -- Conflicts with the archival's SHARE ROW EXCLUSIVE (0004): no row moves
  -- to the archive between the two probes.
  LOCK TABLE ONLY todos_active IN ROW EXCLUSIVE MODE;
  -- Row by row, so that each probe names its partition by (id, user_id).
  FOREACH r IN ARRAY rows LOOP
    UPDATE todos_active a
    SET (project_id, parent_todo_id, title, description, status, priority, due_date,
         ai_generated, tags, metadata, created_at, updated_at, completed_at)
      = (r.project_id, r.parent_todo_id, r.title, r.description, r.status, r.priority, r.due_date,
         r.ai_generated, r.tags, r.metadata, r.created_at, r.updated_at, r.completed_at)
    WHERE a.id = r.id AND a.user_id = r.user_id;
    CONTINUE WHEN FOUND;
    UPDATE todos_archived a
    SET (project_id, parent_todo_id, title, description, status, priority, due_date,
         ai_generated, tags, metadata, created_at, updated_at, completed_at)
      = (r.project_id, r.parent_todo_id, r.title, r.description, r.status, r.priority, r.due_date,
         r.ai_generated, r.tags, r.metadata, r.created_at, r.updated_at, r.completed_at)
    WHERE a.id = r.id AND a.user_id = r.user_id;
    CONTINUE WHEN FOUND;
    missing := missing || r;
  END LOOP;
  IF cardinality(missing) > 0 THEN
    PERFORM switchyard.upsert_todos_new(missing);
  END IF;
  RETURN cardinality(rows);
END
$$;

-- Deletes every todo below the given ones from the new tables (not the ones
-- themselves): the children of the current level from both tables in one
-- statement, their ids the next level. Rows already deleted are not seen
-- again, so a cycle of parents ends too. Returns the number deleted.
CREATE FUNCTION switchyard.delete_todo_subtrees(parents uuid[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  level uuid[] := parents;
  deleted bigint := 0;
  depth integer := 0;
BEGIN
  LOCK TABLE ONLY todos_active IN ROW EXCLUSIVE MODE;
  WHILE coalesce(cardinality(level), 0) > 0 AND depth < 10000 LOOP
    WITH a AS (DELETE FROM todos_active t WHERE t.parent_todo_id = ANY (level) RETURNING t.id),
         r AS (DELETE FROM todos_archived t WHERE t.parent_todo_id = ANY (level) RETURNING t.id)
    SELECT ARRAY(SELECT a.id FROM a UNION ALL SELECT r.id FROM r) INTO level;
    deleted := deleted + cardinality(level);
    depth := depth + 1;
  END LOOP;
  RETURN deleted;
END
$$;
COMMENT ON FUNCTION switchyard.delete_todo_subtrees(uuid[]) IS
  'Deletes all descendants of the given todos from todos_active and todos_archived, level by level (legacy''s ON DELETE CASCADE)';

-- As in 0010, with the descendants deleted by delete_todo_subtrees.
CREATE OR REPLACE FUNCTION switchyard.delete_todos_new(ids uuid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  doomed uuid[];
  cascading uuid[] := '{}';
BEGIN
  LOCK TABLE ONLY todos_active IN ROW EXCLUSIVE MODE;
  -- While the backfill runs, the new tables may not hold a descendant yet
  -- that the legacy ON DELETE CASCADE will remove at the end of the client's
  -- statement, after this function has run. A backfill batch holding it FOR
  -- SHARE would copy it over afterwards: a row only in new. So lock those
  -- legacy descendants first (the batch, if any, commits), then delete their
  -- copies too. After the backfill both schemas hold the same hierarchy and
  -- the walk below (a scan, legacy has no index on parent_todo_id) is skipped.
  IF NOT EXISTS (SELECT 1 FROM switchyard.backfill_progress WHERE table_name = 'todos' AND completed) THEN
    WITH RECURSIVE d(id) AS (
      SELECT t.id FROM todos t WHERE t.parent_todo_id = ANY (ids)
      UNION
      SELECT t.id FROM todos t JOIN d ON t.parent_todo_id = d.id)
    SELECT coalesce(array_agg(id), '{}') INTO cascading FROM d;
    IF cardinality(cascading) > 0 THEN
      PERFORM 1 FROM todos WHERE id = ANY (cascading) ORDER BY id FOR UPDATE;
    END IF;
  END IF;
  doomed := ids || cascading;
  DELETE FROM todos_active WHERE id = ANY (doomed);
  DELETE FROM todos_archived WHERE id = ANY (doomed);
  PERFORM switchyard.delete_todo_subtrees(doomed);
END
$$;

-- As in 0019, the descendants of deleted rows deleted by delete_todo_subtrees
-- once the backfill is complete. Before that (write_new or new_only forced
-- past the guards) delete_todos_new's during-backfill walk still runs.
CREATE OR REPLACE FUNCTION switchyard.todos_new_upkeep(op text, rows public.todos[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  ids uuid[];
BEGIN
  IF coalesce(cardinality(rows), 0) = 0 THEN
    RETURN 0;
  END IF;
  ids := ARRAY(SELECT r.id FROM unnest(rows) r);
  LOCK TABLE ONLY todos_active IN ROW EXCLUSIVE MODE;
  IF op = 'D' THEN
    -- The rows themselves are gone; their descendants follow.
    IF EXISTS (SELECT 1 FROM switchyard.backfill_progress WHERE table_name = 'todos' AND completed) THEN
      PERFORM switchyard.delete_todo_subtrees(ids);
    ELSE
      PERFORM switchyard.delete_todos_new(switchyard.todo_descendants(ids));
    END IF;
  ELSIF op IN ('I', 'U') THEN
    PERFORM switchyard.refresh_todo_depth(ids);
  ELSE
    RAISE EXCEPTION 'switchyard.todos_new_written: unknown op %', op USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN cardinality(rows);
END
$$;

-- 0010: the mirror functions: dual writes by row image (docs/rewriter.md).
--
-- A rewritten write hands the full row images of the rows it wrote to one of
-- these, in the same statement (see rewriter/src/write.rs):
--
--   switchyard.mirror_todos(op, rows)            legacy -> new   (dual_write, read_new; the backfill)
--   switchyard.mirror_todos_to_legacy(op, rows)  new -> legacy   (write_new)
--   switchyard.todos_new_written(op, rows)       new-side upkeep (new_only: depth, descendants)
--
-- op is 'I' (insert), 'U' (update) or 'D' (delete); 'I' and 'U' are both an
-- idempotent upsert by id. rows are legacy row images (public.todos[]).
-- Each returns how many images it received (never negative: the rewriter's
-- wrapper relies on that to keep switchyard.mirror_sink empty).
--
-- Rules:
--  * Statements run in order (unlike a WITH's sub-statements).
--  * todos_active is touched first: LOCK ... IN ROW EXCLUSIVE MODE conflicts
--    with the archival's SHARE ROW EXCLUSIVE, so once it is granted no row can
--    move to todos_archived under us, and the following statements (each with
--    a fresh READ COMMITTED snapshot) see any move that committed before.
--  * Routing: a row already in todos_archived stays there while it is done;
--    every other row lives in todos_active. (A reopened archived todo must
--    leave the archive: its CHECK (status = 'done') allows nothing else.)
--  * depth: 0 for a root, parent's depth + 1 below. This file computed it
--    from the new tables and walked down every written row's descendants;
--    0013 replaced that for legacy -> new (depth read from the legacy
--    hierarchy, a walk down only when a row's parent changes, repair_depths
--    when the backfill completes) and 0018 keeps those walks' plans cached.
--    todos_new_written (write_new, new_only) computes it from the new tables.
--    schema/current.sql holds the functions as they are now.
--  * Deleting a todo deletes its descendants in the new tables (the legacy
--    foreign key does it in legacy; the new tables have none on parent_todo_id).
--  * updated_at: the legacy BEFORE UPDATE trigger sets updated_at := now().
--    Legacy -> new copies the image after the trigger ran. New -> legacy
--    updates legacy rows whose new image already carries updated_at = now()
--    (the rewriter forces it in new-table UPDATEs and ON CONFLICT DO UPDATE),
--    and now() is the transaction's timestamp, so the trigger writes the very
--    same value. Legacy tables are never altered (no DISABLE TRIGGER).

-- Always empty: the wrapper calls a mirror function inside
-- INSERT INTO switchyard.mirror_sink ... WHERE <mirror call> < 0, because a
-- data-modifying CTE is run to completion whether or not anything reads it.
-- Every function here runs with jit = off: their statements are short
-- generic plans (array parameters, recursive CTEs over partitioned tables)
-- whose cost estimates exceed jit_above_cost, and compiling them took
-- seconds per call while executing them takes milliseconds (measured: a
-- 1,000-row mirror call, 14 s with JIT, 0.8 s without).
CREATE TABLE switchyard.mirror_sink (
  n integer,
  CONSTRAINT mirror_sink_stays_empty CHECK (n IS NULL AND n IS NOT NULL)
);
COMMENT ON TABLE switchyard.mirror_sink IS
  'Never holds rows; rewritten writes run their mirror call inside an INSERT into it (see 0010_mirror_functions.sql)';

-- Descendant walks of the archive need this (todos_active has
-- idx_todos_active_parent_user from 0003).
CREATE INDEX idx_todos_archived_parent ON todos_archived (parent_todo_id);

-- Every todo below the given ones in the new tables (not the ones themselves).
CREATE FUNCTION switchyard.todo_descendants(ids uuid[])
RETURNS uuid[]
LANGUAGE sql
SET search_path = public, pg_temp
SET jit = off
AS $$
  WITH RECURSIVE d(id, n) AS (
    SELECT c.id, 1
    FROM (SELECT id, parent_todo_id FROM todos_active
          UNION ALL SELECT id, parent_todo_id FROM todos_archived) c
    WHERE c.parent_todo_id = ANY (ids)
    UNION
    SELECT c.id, d.n + 1
    FROM d
    JOIN (SELECT id, parent_todo_id FROM todos_active
          UNION ALL SELECT id, parent_todo_id FROM todos_archived) c ON c.parent_todo_id = d.id
    WHERE d.n < 10000
  )
  SELECT coalesce(array_agg(DISTINCT id), '{}') FROM d
$$;

-- Recomputes depth for the given todos and all their descendants, from the
-- hierarchy held in the new tables. Keeps one invariant, row by row: depth is
-- the parent's depth + 1, or 0 while the parent is not in the new tables.
-- When every row is present (after the backfill) that is the true depth.
-- Walks only down from the given rows: those whose parent is not among them
-- start from their parent's stored depth; the rest are reached by the walk,
-- so a re-parented subtree never keeps a stale depth. Cost: the given rows
-- and their descendants, by primary-key and parent-index probes.
CREATE FUNCTION switchyard.refresh_todo_depth(ids uuid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
BEGIN
  WITH RECURSIVE
  given AS (
    SELECT a.id, a.parent_todo_id FROM todos_active a WHERE a.id = ANY (ids)
    UNION ALL
    SELECT r.id, r.parent_todo_id FROM todos_archived r WHERE r.id = ANY (ids)),
  starts AS (
    SELECT g.id,
           coalesce((SELECT p.depth + 1 FROM (
                       SELECT depth FROM todos_active WHERE id = g.parent_todo_id
                       UNION ALL
                       SELECT depth FROM todos_archived WHERE id = g.parent_todo_id) p LIMIT 1), 0) AS depth
    FROM given g
    WHERE g.parent_todo_id IS NULL OR NOT g.parent_todo_id = ANY (ids)),
  tree(id, depth, n) AS (
    SELECT id, depth, 0 FROM starts
    UNION ALL
    SELECT c.id, tree.depth + 1, tree.n + 1
    FROM tree
    JOIN LATERAL (
      SELECT a.id FROM todos_active a WHERE a.parent_todo_id = tree.id
      UNION ALL
      SELECT r.id FROM todos_archived r WHERE r.parent_todo_id = tree.id) c ON true
    WHERE tree.n < 10000),
  want AS (SELECT DISTINCT ON (id) id, depth FROM tree ORDER BY id, depth DESC),
  fix_active AS (
    UPDATE todos_active a SET depth = w.depth FROM want w
    WHERE a.id = w.id AND a.depth <> w.depth RETURNING a.id)
  UPDATE todos_archived a SET depth = w.depth FROM want w
  WHERE a.id = w.id AND a.depth <> w.depth;
END
$$;

-- Upserts legacy row images into the new tables (routing as above).
CREATE FUNCTION switchyard.upsert_todos_new(rows public.todos[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
BEGIN
  LOCK TABLE todos_active IN ROW EXCLUSIVE MODE;
  -- Active rows whose user_id changed: the (id, user_id) key moves.
  DELETE FROM todos_active a USING unnest(rows) r
  WHERE a.id = r.id AND a.user_id <> r.user_id;
  -- Archived rows stay archived while done ...
  UPDATE todos_archived a
  SET (user_id, project_id, parent_todo_id, title, description, status, priority, due_date,
       ai_generated, tags, metadata, created_at, updated_at, completed_at)
    = (r.user_id, r.project_id, r.parent_todo_id, r.title, r.description, r.status, r.priority, r.due_date,
       r.ai_generated, r.tags, r.metadata, r.created_at, r.updated_at, r.completed_at)
  FROM unnest(rows) r
  WHERE a.id = r.id AND r.status = 'done';
  -- ... and leave the archive when reopened.
  DELETE FROM todos_archived a USING unnest(rows) r
  WHERE a.id = r.id AND r.status <> 'done';
  INSERT INTO todos_active (id, user_id, project_id, parent_todo_id, title, description, status, priority,
                            due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at)
  SELECT r.id, r.user_id, r.project_id, r.parent_todo_id, r.title, r.description, r.status, r.priority,
         r.due_date, r.ai_generated, r.tags, r.metadata, r.created_at, r.updated_at, r.completed_at
  FROM unnest(rows) r
  WHERE NOT EXISTS (SELECT 1 FROM todos_archived a WHERE a.id = r.id)
  ON CONFLICT (id, user_id) DO UPDATE
  SET (project_id, parent_todo_id, title, description, status, priority, due_date,
       ai_generated, tags, metadata, created_at, updated_at, completed_at)
    = (excluded.project_id, excluded.parent_todo_id, excluded.title, excluded.description, excluded.status,
       excluded.priority, excluded.due_date, excluded.ai_generated, excluded.tags, excluded.metadata,
       excluded.created_at, excluded.updated_at, excluded.completed_at);
  PERFORM switchyard.refresh_todo_depth(ARRAY(SELECT r.id FROM unnest(rows) r));
END
$$;

-- Deletes the given todos and their descendants from the new tables.
CREATE FUNCTION switchyard.delete_todos_new(ids uuid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
DECLARE
  doomed uuid[];
  cascading uuid[] := '{}';
BEGIN
  LOCK TABLE todos_active IN ROW EXCLUSIVE MODE;
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
  doomed := ids || cascading || switchyard.todo_descendants(ids);
  DELETE FROM todos_active WHERE id = ANY (doomed);
  DELETE FROM todos_archived WHERE id = ANY (doomed);
END
$$;

CREATE FUNCTION switchyard.mirror_todos(op text, rows public.todos[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
BEGIN
  IF coalesce(cardinality(rows), 0) = 0 THEN
    RETURN 0;
  END IF;
  IF op = 'D' THEN
    PERFORM switchyard.delete_todos_new(ARRAY(SELECT r.id FROM unnest(rows) r));
  ELSIF op IN ('I', 'U') THEN
    PERFORM switchyard.upsert_todos_new(rows);
  ELSE
    RAISE EXCEPTION 'switchyard.mirror_todos: unknown op %', op USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN cardinality(rows);
END
$$;
COMMENT ON FUNCTION switchyard.mirror_todos(text, public.todos[]) IS
  'Mirrors legacy row images into todos_active/todos_archived (I/U upsert, D delete with descendants); idempotent';

CREATE FUNCTION switchyard.todos_new_written(op text, rows public.todos[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
DECLARE
  ids uuid[];
BEGIN
  IF coalesce(cardinality(rows), 0) = 0 THEN
    RETURN 0;
  END IF;
  ids := ARRAY(SELECT r.id FROM unnest(rows) r);
  LOCK TABLE todos_active IN ROW EXCLUSIVE MODE;
  IF op = 'D' THEN
    -- The rows themselves are gone; their descendants follow.
    PERFORM switchyard.delete_todos_new(switchyard.todo_descendants(ids));
  ELSIF op IN ('I', 'U') THEN
    PERFORM switchyard.refresh_todo_depth(ids);
  ELSE
    RAISE EXCEPTION 'switchyard.todos_new_written: unknown op %', op USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN cardinality(rows);
END
$$;
COMMENT ON FUNCTION switchyard.todos_new_written(text, public.todos[]) IS
  'Upkeep after a write applied to the new tables: depth (I/U), descendants deleted (D)';

CREATE FUNCTION switchyard.mirror_todos_to_legacy(op text, rows public.todos[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
BEGIN
  IF coalesce(cardinality(rows), 0) = 0 THEN
    RETURN 0;
  END IF;
  PERFORM switchyard.todos_new_written(op, rows);
  IF op = 'D' THEN
    -- The legacy foreign key cascades to legacy descendants (and files).
    DELETE FROM todos t USING unnest(rows) r WHERE t.id = r.id;
  ELSIF op IN ('I', 'U') THEN
    -- The legacy trigger sets updated_at := now(); the image already holds now().
    UPDATE todos t
    SET (user_id, project_id, parent_todo_id, title, description, status, priority, due_date,
         ai_generated, tags, metadata, created_at, updated_at, completed_at)
      = (r.user_id, r.project_id, r.parent_todo_id, r.title, r.description, r.status, r.priority, r.due_date,
         r.ai_generated, r.tags, r.metadata, r.created_at, r.updated_at, r.completed_at)
    FROM unnest(rows) r
    WHERE t.id = r.id;
    INSERT INTO todos (id, user_id, project_id, parent_todo_id, title, description, status, priority,
                       due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at)
    SELECT r.id, r.user_id, r.project_id, r.parent_todo_id, r.title, r.description, r.status, r.priority,
           r.due_date, r.ai_generated, r.tags, r.metadata, r.created_at, r.updated_at, r.completed_at
    FROM unnest(rows) r
    WHERE NOT EXISTS (SELECT 1 FROM todos t WHERE t.id = r.id);
  ELSE
    RAISE EXCEPTION 'switchyard.mirror_todos_to_legacy: unknown op %', op USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN cardinality(rows);
END
$$;
COMMENT ON FUNCTION switchyard.mirror_todos_to_legacy(text, public.todos[]) IS
  'Mirrors new-table row images into legacy todos (write_new), plus the new-side upkeep of todos_new_written';

-- I7: deleting a project sets project_id to NULL in both schemas (ON DELETE
-- SET NULL), and in legacy that UPDATE fires the app's BEFORE UPDATE trigger,
-- so updated_at becomes now(). The new tables keep the foreign key but not
-- the trigger (the mirror functions carry each image's updated_at), so the
-- same foreign-key action must touch updated_at there too. Only updates run
-- by a foreign-key action match: they run inside the referential-integrity
-- trigger (pg_trigger_depth() > 0), while every write of the proxy, the
-- mirror functions, the backfill and the archival runs at depth 0.
CREATE FUNCTION switchyard.touch_updated_at_on_set_null() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION switchyard.touch_updated_at_on_set_null() IS
  'I7: what the legacy updated_at trigger does when ON DELETE SET NULL clears todos.project_id';

CREATE TRIGGER todos_active_project_set_null
  BEFORE UPDATE OF project_id ON todos_active
  FOR EACH ROW
  WHEN (pg_trigger_depth() > 0 AND OLD.project_id IS NOT NULL AND NEW.project_id IS NULL)
  EXECUTE FUNCTION switchyard.touch_updated_at_on_set_null();

CREATE TRIGGER todos_archived_project_set_null
  BEFORE UPDATE OF project_id ON todos_archived
  FOR EACH ROW
  WHEN (pg_trigger_depth() > 0 AND OLD.project_id IS NOT NULL AND NEW.project_id IS NULL)
  EXECUTE FUNCTION switchyard.touch_updated_at_on_set_null();

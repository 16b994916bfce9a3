-- 0019: the legacy parent foreign key, kept by the new tables on their own.
--
-- Legacy todos has parent_todo_id REFERENCES todos(id): a todo whose parent
-- does not exist is refused with 23503. The new tables cannot declare it (a
-- foreign key into a partitioned table must name the whole partition key,
-- and the parent may be in either table). While legacy is written
-- (dual_write, read_new) or mirrored to (write_new) its own key refuses such
-- a row in the same statement; in new_only nothing did, and an orphan was
-- accepted that legacy would have refused.
--
-- todos_new_written (0010), the upkeep every write applied to the new tables
-- runs in new_only, now checks the parents of the rows it is given first
-- (write_new's mirror into legacy keeps the unchecked upkeep, renamed
-- todos_new_upkeep: legacy's own key refuses an orphan there): each must exist in todos_active or todos_archived (the rows
-- the same statement wrote are visible to it), locked FOR KEY SHARE as
-- legacy's key check locks it, so a concurrent delete of the parent waits.
-- A missing parent raises legacy's error: its SQLSTATE, message, detail and
-- fields, with legacy's constraint name read from the catalog (PostgreSQL's
-- default name when legacy todos is gone).

CREATE FUNCTION switchyard.check_todo_parents(rows public.todos[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
DECLARE
  parents uuid[];
  missing uuid;
  fk_name text := 'todos_parent_todo_id_fkey';
BEGIN
  parents := ARRAY(SELECT DISTINCT r.parent_todo_id FROM unnest(rows) r
                   WHERE r.parent_todo_id IS NOT NULL ORDER BY 1);
  IF cardinality(parents) = 0 THEN
    RETURN;
  END IF;
  -- Active first, as every write locks it first (the archival lock protocol).
  PERFORM 1 FROM todos_active a WHERE a.id = ANY (parents) ORDER BY a.id FOR KEY SHARE;
  PERFORM 1 FROM todos_archived h WHERE h.id = ANY (parents) ORDER BY h.id FOR KEY SHARE;
  SELECT p INTO missing FROM unnest(parents) p
  WHERE NOT EXISTS (SELECT 1 FROM todos_active a WHERE a.id = p)
    AND NOT EXISTS (SELECT 1 FROM todos_archived h WHERE h.id = p)
  LIMIT 1;
  IF missing IS NULL THEN
    RETURN;
  END IF;
  SELECT c.conname INTO fk_name
  FROM pg_constraint c
  JOIN pg_attribute att ON att.attrelid = c.conrelid AND att.attnum = c.conkey[1]
  WHERE c.conrelid = to_regclass('public.todos') AND c.contype = 'f'
    AND c.confrelid = c.conrelid AND att.attname = 'parent_todo_id'
  LIMIT 1;
  RAISE EXCEPTION 'insert or update on table "todos" violates foreign key constraint "%"',
    coalesce(fk_name, 'todos_parent_todo_id_fkey')
    USING ERRCODE = 'foreign_key_violation',
          DETAIL = format('Key (parent_todo_id)=(%s) is not present in table "todos".', missing),
          SCHEMA = 'public', TABLE = 'todos',
          CONSTRAINT = coalesce(fk_name, 'todos_parent_todo_id_fkey');
END
$$;
COMMENT ON FUNCTION switchyard.check_todo_parents(public.todos[]) IS
  'Legacy''s parent foreign key on the new tables: every parent_todo_id of the rows exists (locked FOR KEY SHARE), else legacy''s 23503';

-- The upkeep itself, unchecked: write_new's mirror into legacy runs it, and
-- there legacy's own key refuses an orphan with exactly legacy's error.
CREATE FUNCTION switchyard.todos_new_upkeep(op text, rows public.todos[])
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
COMMENT ON FUNCTION switchyard.todos_new_upkeep(text, public.todos[]) IS
  'Upkeep after a write applied to the new tables: depth (I/U), descendants deleted (D)';

-- new_only: the parents checked, then the upkeep.
CREATE OR REPLACE FUNCTION switchyard.todos_new_written(op text, rows public.todos[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  IF op IN ('I', 'U') THEN
    PERFORM switchyard.check_todo_parents(rows);
  END IF;
  RETURN switchyard.todos_new_upkeep(op, rows);
END
$$;
COMMENT ON FUNCTION switchyard.todos_new_written(text, public.todos[]) IS
  'new_only: legacy''s parent key checked (I/U), then the upkeep of todos_new_upkeep';

-- write_new: as in 0010, with the unchecked upkeep.
CREATE OR REPLACE FUNCTION switchyard.mirror_todos_to_legacy(op text, rows public.todos[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  IF coalesce(cardinality(rows), 0) = 0 THEN
    RETURN 0;
  END IF;
  PERFORM switchyard.todos_new_upkeep(op, rows);
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

-- 0017: the legacy -> new mirror of an UPDATE that moves no row (dual_write,
-- read_new): one that assigns neither id, user_id, parent_todo_id nor status
-- (rewriter/src/mirror.rs decides). Such a row stays in the table and the
-- partition it is in, keeps its depth and its subtree, so the copy is updated
-- where it is: by (id, user_id) in todos_active (one partition probed), else
-- by id in todos_archived. A row with no copy yet (the backfill has not
-- reached it) takes the general upsert_todos_new, like every other row did.
--
-- A plpgsql function rather than SQL in the rewritten statement: each of its
-- statements takes a fresh snapshot, so a copy that a backfill batch
-- committed while the client's UPDATE waited for the legacy row (the batch
-- holds it FOR SHARE) is seen and updated.

CREATE FUNCTION switchyard.mirror_todos_in_place(rows public.todos[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
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
  LOCK TABLE todos_active IN ROW EXCLUSIVE MODE;
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
COMMENT ON FUNCTION switchyard.mirror_todos_in_place(public.todos[]) IS
  'Mirrors legacy images of updates that move no row (same id, user, parent, status) into their copies where they are; the general upsert for rows not copied yet';

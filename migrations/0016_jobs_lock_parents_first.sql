-- 0016: the archival and the backfill take their locks in the application's
-- order, so that neither can deadlock with a statement of the app.
--
-- The app's order when it deletes a user or a project: the users (projects)
-- row first (the DELETE's own row lock), then, in the foreign keys' cascades
-- at the end of the statement, the todos rows and tables. Both jobs used to
-- take the opposite order: their todos locks first (the archival its SHARE
-- ROW EXCLUSIVE lock on todos_active, the backfill its FOR SHARE on a batch
-- of legacy todos), then, inserting into the new tables, the foreign-key
-- checks' FOR KEY SHARE on users and projects, which wait for a delete in
-- progress, whose cascade waits for the job's todos locks: 40P01, and
-- PostgreSQL may pick the app's statement as the victim.
--
--  * The archival takes FOR KEY SHARE on the owners and projects of its
--    candidates right after its table lock, with SKIP LOCKED: a candidate
--    whose user or project is being deleted (or has its key changed) is left
--    for a later batch, so the archival never waits on those rows while it
--    holds the table lock. (A deleted user's todos go with it anyway.)
--  * The backfill cannot skip a row, so it waits, but before it holds any
--    todos lock: it takes FOR KEY SHARE on the users and projects of the batch
--    first, in key order, then the batch FOR SHARE. A row of the batch whose
--    parent rows were not locked first (inserted in between) is locked NOWAIT
--    afterwards; if that fails the batch fails with 55P03 and the backfill
--    retries it, having released everything.

CREATE OR REPLACE FUNCTION archive_completed_todos_batch(retention interval DEFAULT '30 days',
                                                         batch_size integer DEFAULT 1000,
                                                         lock_wait interval DEFAULT '200 milliseconds',
                                                         max_attempts integer DEFAULT 10)
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
  v_cutoff      timestamptz;
  v_ids         uuid[];
  v_users       uuid[];
  v_owners      uuid[];
  v_projects    uuid[];
  v_locked      boolean := false;
  v_rescanned   boolean := false;
  v_moved       integer;
BEGIN
  IF retention IS NULL OR retention < interval '0' THEN
    RAISE EXCEPTION 'archive_completed_todos_batch: retention must be a non-negative interval, got %', retention
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'archive_completed_todos_batch: batch_size must be at least 1, got %', batch_size
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'archive_completed_todos_batch must run in a READ COMMITTED transaction, not %',
                    upper(current_setting('transaction_isolation'))
      USING ERRCODE = 'invalid_transaction_state',
            HINT = 'The move must see rows that writers committed while it waited for its lock.';
  END IF;
  v_cutoff := now() - retention;

  LOOP
    SELECT array_agg(c.id), array_agg(c.user_id), array_agg(c.project_id) INTO v_ids, v_users, v_projects
    FROM (SELECT t.id, t.user_id, t.project_id FROM todos_active t
          WHERE t.status = 'done' AND t.completed_at < v_cutoff
          LIMIT batch_size) c;
    IF v_ids IS NULL THEN
      RETURN 0;
    END IF;

    IF NOT v_locked THEN
      PERFORM switchyard.lock_table('todos_active', 'SHARE ROW EXCLUSIVE', lock_wait, max_attempts);
      v_locked := true;
    END IF;

    -- What the foreign-key checks of the INSERT below would wait for, taken
    -- now without waiting: rows whose owner or project is locked are left.
    v_owners := ARRAY(SELECT u.id FROM users u WHERE u.id = ANY (v_users)
                      ORDER BY u.id FOR KEY SHARE OF u SKIP LOCKED);
    v_projects := ARRAY(SELECT p.id FROM projects p WHERE p.id = ANY (v_projects)
                        ORDER BY p.id FOR KEY SHARE OF p SKIP LOCKED);

    -- A fresh snapshot, taken after the lock: rows changed since the
    -- candidate scan are seen as committed, and re-checked. Rows another
    -- transaction holds with SELECT ... FOR UPDATE/SHARE (which the table
    -- lock does not exclude) are skipped, not waited for: waiting here would
    -- keep every writer of todos_active waiting too. A later batch takes them.
    WITH picked AS (
      SELECT t.id, t.user_id
      FROM todos_active t
      JOIN unnest(v_ids, v_users) AS c(id, user_id) ON t.id = c.id AND t.user_id = c.user_id
      WHERE t.status = 'done' AND t.completed_at < v_cutoff
        AND t.user_id = ANY (v_owners)
        AND (t.project_id IS NULL OR t.project_id = ANY (v_projects))
      FOR UPDATE OF t SKIP LOCKED
    ), moved AS (
      DELETE FROM todos_active t
      USING picked p
      WHERE t.id = p.id AND t.user_id = p.user_id
      RETURNING t.*
    )
    INSERT INTO todos_archived (id, user_id, project_id, parent_todo_id, title, description, status, priority,
                                due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at,
                                depth, archived_at)
    SELECT id, user_id, project_id, parent_todo_id, title, description, status, priority,
           due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at,
           depth, now()
    FROM moved;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    IF v_moved > 0 OR v_rescanned THEN
      RETURN v_moved;
    END IF;
    -- Every candidate changed (or was row-locked) before the lock was
    -- granted. Look once more, now under the lock, where only row locks can
    -- still make a candidate wait for a later run.
    v_rescanned := true;
  END LOOP;
END
$$;

-- Locks FOR KEY SHARE the users and projects the given legacy todos refer to,
-- in key order; waits (callers hold no todos lock yet) unless nowait, where
-- a row locked by another transaction fails with 55P03.
CREATE FUNCTION switchyard.lock_todo_parents(ids uuid[], nowait boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
BEGIN
  IF nowait THEN
    PERFORM 1 FROM users u WHERE u.id IN (SELECT t.user_id FROM todos t WHERE t.id = ANY (ids))
    ORDER BY u.id FOR KEY SHARE OF u NOWAIT;
    PERFORM 1 FROM projects p WHERE p.id IN (SELECT t.project_id FROM todos t WHERE t.id = ANY (ids))
    ORDER BY p.id FOR KEY SHARE OF p NOWAIT;
  ELSE
    PERFORM 1 FROM users u WHERE u.id IN (SELECT t.user_id FROM todos t WHERE t.id = ANY (ids))
    ORDER BY u.id FOR KEY SHARE OF u;
    PERFORM 1 FROM projects p WHERE p.id IN (SELECT t.project_id FROM todos t WHERE t.id = ANY (ids))
    ORDER BY p.id FOR KEY SHARE OF p;
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION switchyard.backfill_todos(after uuid, upto uuid, max_rows integer, OUT copied bigint, OUT last_id uuid)
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  batch uuid[];
  copied_already uuid[];
BEGIN
  -- Parents first (the app's lock order), from an unlocked look at the batch.
  PERFORM switchyard.lock_todo_parents(ARRAY(SELECT t.id FROM todos t WHERE t.id > after AND t.id <= upto
                                             ORDER BY t.id LIMIT max_rows), false);
  -- A concurrent write of these rows waits for this transaction, then
  -- mirrors its newer image over ours.
  batch := ARRAY(SELECT t.id FROM todos t WHERE t.id > after AND t.id <= upto
                 ORDER BY t.id LIMIT max_rows FOR SHARE OF t);
  copied := cardinality(batch);
  IF copied = 0 THEN
    RETURN;
  END IF;
  last_id := batch[copied];
  -- Rows that arrived in between: their parents without waiting.
  PERFORM switchyard.lock_todo_parents(batch, true);
  -- Conflicts with the archival (SHARE ROW EXCLUSIVE): no row moves to the
  -- archive under us, and the statements below see any move before.
  LOCK TABLE todos_active IN ROW EXCLUSIVE MODE;
  copied_already := ARRAY(
    SELECT a.id FROM todos_active a WHERE a.id > after AND a.id <= last_id
    UNION
    SELECT r.id FROM todos_archived r WHERE r.id > after AND r.id <= last_id);
  IF cardinality(copied_already) > 0 THEN
    -- FOR SHARE again: the range may hold rows inserted since the batch was
    -- locked; their images must be the newest too.
    PERFORM switchyard.upsert_todos_new(ARRAY(
      SELECT t FROM todos t
      WHERE t.id > after AND t.id <= last_id AND t.id = ANY (copied_already)
      ORDER BY t.id FOR SHARE OF t));
  END IF;
  -- The rest of the batch: only rows this transaction locked. A row
  -- inserted into the range since is mirrored by the proxy, and a delete of
  -- it may be committing right now: copying it unlocked could bring it back.
  -- Depth from the legacy parents, two levels by join (primary-key probes;
  -- the seed's trees are that deep), deeper chains by a walk.
  INSERT INTO todos_active
  SELECT t.*,
         CASE WHEN t.parent_todo_id IS NULL THEN 0
              WHEN p1.parent_todo_id IS NULL THEN 1
              WHEN p2.parent_todo_id IS NULL THEN 2
              ELSE 2 + switchyard.legacy_depth(p2.id) END
  FROM unnest(batch) b(id)
  JOIN todos t ON t.id = b.id
  LEFT JOIN todos p1 ON p1.id = t.parent_todo_id
  LEFT JOIN todos p2 ON p2.id = p1.parent_todo_id
  WHERE NOT (t.id = ANY (copied_already))
  ON CONFLICT (id, user_id) DO NOTHING;
END
$$;

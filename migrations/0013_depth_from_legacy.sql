-- 0013: depth from the legacy hierarchy, and a set-based backfill batch
-- (the backfill ran at 0.08 of its INSERT ... SELECT bound).
--
-- While writes are mirrored legacy -> new (dual_write, read_new) the legacy
-- table holds the whole hierarchy, indexed by its primary key. So the depth
-- of a row is computed there, by walking up its parents (a few primary-key
-- probes), instead of from the new tables, which hold only part of the
-- hierarchy until the backfill ends. Consequences:
--
--  * Every depth written into the new tables is the true depth at once, so
--    a row copied before its parent needs no correction when the parent
--    arrives: the backfill no longer walks down from each row it copies (it
--    probed 25 partitions per row for children; most of a batch's time).
--  * A mirrored write walks down the new tables only when a row's parent
--    changed (re-parenting), not on every write.
--  * Re-parenting while the backfill is incomplete: the walk down the new
--    tables cannot pass a descendant that is not copied yet (and a row that
--    is not copied itself has no old parent to compare with), so rows below
--    keep their old depth. switchyard.repair_depths, run by the backfill in
--    the transaction that marks it complete, finds every row whose depth
--    disagrees with its parent's in one hash join over the new tables (about
--    a second per million rows) and fixes those subtrees.
--
-- switchyard.backfill_todos copies one keyset batch of a key range in set-based
-- statements: copies already present (mirrored since dual_write began) are
-- found by range scans of each partition's primary key over the batch's id
-- range, not by probing every partition per row.
--
-- write_new and new_only keep 0010/0012's todos_new_written, which computes
-- depth from the new tables: by then the backfill is complete.

-- The backfill's key ranges (`switchyard backfill --jobs N` splits the uuid
-- space into N of them, copied side by side on N connections), each with its
-- own checkpoint. backfill_progress keeps the totals and the completion.
CREATE TABLE switchyard.backfill_ranges (
  table_name  text NOT NULL REFERENCES switchyard.backfill_progress (table_name) ON DELETE CASCADE,
  range_no    integer NOT NULL CHECK (range_no >= 0),
  after_key   uuid NOT NULL,
  upto_key    uuid NOT NULL,
  last_key    uuid,
  rows_copied bigint NOT NULL DEFAULT 0 CHECK (rows_copied >= 0),
  done        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (table_name, range_no),
  CHECK (after_key < upto_key)
);
COMMENT ON TABLE switchyard.backfill_ranges IS
  'Key ranges of a backfill, each copied from after_key (exclusive) to upto_key (inclusive) with its own checkpoint';

-- The depth of each given row image in the legacy hierarchy: 0 for a root,
-- else the number of ancestors. A broken or cyclic chain (legacy allows a
-- cycle) yields no row; callers use 0.
CREATE FUNCTION switchyard.depth_in_legacy(rows public.todos[])
RETURNS TABLE (id uuid, depth integer)
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
  WITH RECURSIVE up(id, cur, d) AS (
    SELECT r.id, r.parent_todo_id, 0 FROM unnest(rows) r
    UNION ALL
    SELECT up.id, t.parent_todo_id, up.d + 1
    FROM up JOIN todos t ON t.id = up.cur
    WHERE up.d < 10000)
  SELECT up.id, up.d FROM up WHERE up.cur IS NULL
$$;

-- Recomputes depth below the given todos in the new tables, from the
-- depths the given rows hold (descendants only).
CREATE FUNCTION switchyard.refresh_descendant_depths(ids uuid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  want_ids uuid[];
  want_depths integer[];
BEGIN
  WITH RECURSIVE
  given AS (
    SELECT a.id, a.depth FROM todos_active a WHERE a.id = ANY (ids)
    UNION ALL
    SELECT r.id, r.depth FROM todos_archived r WHERE r.id = ANY (ids)),
  tree(id, depth, n) AS (
    SELECT id, depth, 0 FROM given
    UNION ALL
    SELECT c.id, tree.depth + 1, tree.n + 1
    FROM tree
    JOIN LATERAL (
      SELECT a.id FROM todos_active a WHERE a.parent_todo_id = tree.id
      UNION ALL
      SELECT r.id FROM todos_archived r WHERE r.parent_todo_id = tree.id) c ON true
    WHERE tree.n < 10000),
  want AS (SELECT DISTINCT ON (id) id, depth FROM tree WHERE n > 0 ORDER BY id, depth DESC)
  SELECT array_agg(id), array_agg(depth) INTO want_ids, want_depths FROM want;
  IF want_ids IS NULL THEN
    RETURN;
  END IF;
  UPDATE todos_active a SET depth = w.depth
  FROM unnest(want_ids, want_depths) w(id, depth)
  WHERE a.id = ANY (want_ids) AND a.id = w.id AND a.depth <> w.depth;
  UPDATE todos_archived a SET depth = w.depth
  FROM unnest(want_ids, want_depths) w(id, depth)
  WHERE a.id = ANY (want_ids) AND a.id = w.id AND a.depth <> w.depth;
END
$$;

-- Legacy row images -> new tables (routing as in 0010), depth from legacy.
CREATE OR REPLACE FUNCTION switchyard.upsert_todos_new(rows public.todos[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  img todos_active[];
  moved uuid[];
BEGIN
  LOCK TABLE todos_active IN ROW EXCLUSIVE MODE;
  img := ARRAY(SELECT ROW(r.*, coalesce(d.depth, 0))::todos_active
               FROM unnest(rows) r LEFT JOIN switchyard.depth_in_legacy(rows) d ON d.id = r.id);
  -- Rows whose parent changed: their subtrees in the new tables move too.
  moved := ARRAY(
    SELECT a.id FROM todos_active a JOIN unnest(img) i ON a.id = i.id
    WHERE a.parent_todo_id IS DISTINCT FROM i.parent_todo_id
    UNION
    SELECT a.id FROM todos_archived a JOIN unnest(img) i ON a.id = i.id
    WHERE a.parent_todo_id IS DISTINCT FROM i.parent_todo_id);
  -- Active rows whose user_id changed: the (id, user_id) key moves.
  DELETE FROM todos_active a USING unnest(img) i
  WHERE a.id = i.id AND a.user_id <> i.user_id;
  -- Archived rows stay archived while done ...
  UPDATE todos_archived a
  SET (user_id, project_id, parent_todo_id, title, description, status, priority, due_date,
       ai_generated, tags, metadata, created_at, updated_at, completed_at, depth)
    = (i.user_id, i.project_id, i.parent_todo_id, i.title, i.description, i.status, i.priority, i.due_date,
       i.ai_generated, i.tags, i.metadata, i.created_at, i.updated_at, i.completed_at, i.depth)
  FROM unnest(img) i
  WHERE a.id = i.id AND i.status = 'done';
  -- ... and leave the archive when reopened.
  DELETE FROM todos_archived a USING unnest(img) i
  WHERE a.id = i.id AND i.status <> 'done';
  INSERT INTO todos_active
  SELECT i.* FROM unnest(img) i
  WHERE NOT EXISTS (SELECT 1 FROM todos_archived a WHERE a.id = i.id)
  ON CONFLICT (id, user_id) DO UPDATE
  SET (project_id, parent_todo_id, title, description, status, priority, due_date,
       ai_generated, tags, metadata, created_at, updated_at, completed_at, depth)
    = (excluded.project_id, excluded.parent_todo_id, excluded.title, excluded.description, excluded.status,
       excluded.priority, excluded.due_date, excluded.ai_generated, excluded.tags, excluded.metadata,
       excluded.created_at, excluded.updated_at, excluded.completed_at, excluded.depth);
  IF cardinality(moved) > 0 THEN
    PERFORM switchyard.refresh_descendant_depths(moved);
  END IF;
END
$$;

-- The depth of one legacy todo: how many ancestors it has.
CREATE FUNCTION switchyard.legacy_depth(todo uuid)
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
  WITH RECURSIVE up(cur, d) AS (
    SELECT t.parent_todo_id, 0 FROM todos t WHERE t.id = todo
    UNION ALL
    SELECT t.parent_todo_id, up.d + 1
    FROM up JOIN todos t ON t.id = up.cur
    WHERE up.d < 10000)
  SELECT max(d) FROM up
$$;

-- One backfill batch: the next max_rows legacy rows after `after` and up to
-- `upto` in key order, locked FOR SHARE, copied into the new tables. Returns
-- how many rows the batch held and its last key (NULL when there were none
-- left in the range).
--
-- Cost per row is close to a plain INSERT ... SELECT: the lock statement
-- reads only keys; rows that already have a copy (the proxy mirrored them
-- since dual_write began) are found by one primary-key range scan per
-- partition and go through upsert_todos_new; the rest are inserted straight
-- from legacy, depth computed in the same statement.
CREATE FUNCTION switchyard.backfill_todos(after uuid, upto uuid, max_rows integer, OUT copied bigint, OUT last_id uuid)
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  batch uuid[];
  copied_already uuid[];
BEGIN
  -- A concurrent write of these rows waits for this transaction, then
  -- mirrors its newer image over ours.
  batch := ARRAY(SELECT t.id FROM todos t WHERE t.id > after AND t.id <= upto
                 ORDER BY t.id LIMIT max_rows FOR SHARE OF t);
  copied := cardinality(batch);
  IF copied = 0 THEN
    RETURN;
  END IF;
  last_id := batch[copied];
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
COMMENT ON FUNCTION switchyard.backfill_todos(uuid, uuid, integer) IS
  'One backfill batch: the next max_rows legacy todos in (after, upto], locked FOR SHARE and upserted into the new tables';

-- Run by the backfill in the transaction that marks it complete, when every
-- legacy row has a copy: rows whose depth disagrees with their parent's
-- (left behind by re-parenting while rows were missing) get their depth
-- from legacy, and their subtrees are walked again. Returns how many rows
-- were found wrong.
CREATE FUNCTION switchyard.repair_depths()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET work_mem = '256MB'
AS $$
DECLARE
  wrong uuid[];
  images public.todos[];
  found bigint := 0;
BEGIN
  LOCK TABLE todos_active IN ROW EXCLUSIVE MODE;
  FOR round IN 1..3 LOOP
    wrong := ARRAY(
      WITH n AS (
        SELECT id, parent_todo_id, depth FROM todos_active
        UNION ALL
        SELECT id, parent_todo_id, depth FROM todos_archived)
      SELECT c.id FROM n c LEFT JOIN n p ON p.id = c.parent_todo_id
      WHERE c.depth IS DISTINCT FROM CASE WHEN c.parent_todo_id IS NULL THEN 0 ELSE coalesce(p.depth + 1, 0) END);
    EXIT WHEN cardinality(wrong) = 0;
    found := found + cardinality(wrong);
    -- Hold them still while their depths are recomputed from legacy.
    images := ARRAY(SELECT t FROM todos t WHERE t.id = ANY (wrong) ORDER BY t.id FOR SHARE OF t);
    UPDATE todos_active a SET depth = coalesce(d.depth, 0)
    FROM unnest(images) r LEFT JOIN switchyard.depth_in_legacy(images) d ON d.id = r.id
    WHERE a.id = ANY (wrong) AND a.id = r.id AND a.depth <> coalesce(d.depth, 0);
    UPDATE todos_archived a SET depth = coalesce(d.depth, 0)
    FROM unnest(images) r LEFT JOIN switchyard.depth_in_legacy(images) d ON d.id = r.id
    WHERE a.id = ANY (wrong) AND a.id = r.id AND a.depth <> coalesce(d.depth, 0);
    PERFORM switchyard.refresh_descendant_depths(wrong);
  END LOOP;
  RETURN found;
END
$$;
COMMENT ON FUNCTION switchyard.repair_depths() IS
  'Fixes depths left stale by re-parenting during the backfill; run when the backfill completes';

-- 0018: the recursive walks as plpgsql, so their plans are cached.
--
-- A LANGUAGE sql function that is not inlined (these carry SET options, so
-- they never are) plans its statement again on every call; PostgreSQL keeps
-- no plan across calls. todo_descendants plans a recursive union over every
-- partition of both new tables: about 25 ms per call on a loaded 2-core
-- machine, paid by every mirrored DELETE (bench/writes.sh measured single-row
-- deletes in the new layout at about 50 ms). In plpgsql the generic plan is
-- made once per session and reused; its recursive step probes indexes per
-- row, as refresh_todo_depth's does (0010). Same results.

CREATE OR REPLACE FUNCTION switchyard.todo_descendants(ids uuid[])
RETURNS uuid[]
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  -- The recursive step probes the parent index of each table per row
  -- (LATERAL): a join of the whole union to d would be hashed in the generic
  -- plan, every partition read in full on each call.
  RETURN ARRAY(
    WITH RECURSIVE d(id, n) AS (
      SELECT c.id, 1
      FROM (SELECT a.id FROM todos_active a WHERE a.parent_todo_id = ANY (ids)
            UNION ALL SELECT r.id FROM todos_archived r WHERE r.parent_todo_id = ANY (ids)) c
      UNION
      SELECT c.id, d.n + 1
      FROM d
      JOIN LATERAL (SELECT a.id FROM todos_active a WHERE a.parent_todo_id = d.id
                    UNION ALL SELECT r.id FROM todos_archived r WHERE r.parent_todo_id = d.id) c ON true
      WHERE d.n < 10000
    )
    SELECT DISTINCT id FROM d);
END
$$;

CREATE OR REPLACE FUNCTION switchyard.depth_in_legacy(rows public.todos[])
RETURNS TABLE (id uuid, depth integer)
LANGUAGE plpgsql
STABLE
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN QUERY
  WITH RECURSIVE up(id, cur, d) AS (
    SELECT r.id, r.parent_todo_id, 0 FROM unnest(rows) r
    UNION ALL
    SELECT up.id, t.parent_todo_id, up.d + 1
    FROM up JOIN todos t ON t.id = up.cur
    WHERE up.d < 10000)
  SELECT up.id, up.d FROM up WHERE up.cur IS NULL;
END
$$;

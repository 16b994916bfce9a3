-- 0012: mirror functions that cost what one write costs, not what the table
-- costs (measured with bench/phases.sh and bench/backfill.sh; docs/benchmarks.md).
--
-- 1. refresh_todo_depth (0010) joined todos_active to its `want` set inside
--    one UPDATE. The planner estimates a recursive CTE's DISTINCT ON at 200
--    rows, so it hashed every row of todos_active (a sequential scan of all 16
--    partitions) on every call: 250 ms per mirrored single-row write at
--    100,000 todos, growing with the table. Now `want` is collected into two
--    arrays first and the UPDATEs carry `id = ANY (want_ids)`, an index
--    condition on the big side whatever the join estimate; when nothing is
--    wanted they do not run. Same rule as before: depth is the parent's depth
--    + 1 (0 while the parent is absent), for the given rows and everything
--    below them in the new tables.
-- 2. plan_cache_mode = force_generic_plan on every mirror function. Their
--    statements take array parameters; PL/pgSQL's plan cache kept choosing a
--    custom plan, so every call re-planned a dozen statements over 25
--    partitions (half of a mirrored write's time in perf: GetCachedPlan,
--    get_relation_info, constraint exclusion). The generic plans are the
--    same index-probe plans; planned once per session.

CREATE OR REPLACE FUNCTION switchyard.refresh_todo_depth(ids uuid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
AS $$
DECLARE
  want_ids uuid[];
  want_depths integer[];
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
  want AS (SELECT DISTINCT ON (id) id, depth FROM tree ORDER BY id, depth DESC)
  SELECT array_agg(id), array_agg(depth) INTO want_ids, want_depths FROM want;
  IF want_ids IS NULL THEN
    RETURN;
  END IF;
  -- The id = ANY (want_ids) bound gives the planner an index condition on
  -- the big side: joined only to the want set, it estimated that set at 200
  -- rows and hashed every row of todos_active on each call.
  UPDATE todos_active a SET depth = w.depth
  FROM unnest(want_ids, want_depths) w(id, depth)
  WHERE a.id = ANY (want_ids) AND a.id = w.id AND a.depth <> w.depth;
  UPDATE todos_archived a SET depth = w.depth
  FROM unnest(want_ids, want_depths) w(id, depth)
  WHERE a.id = ANY (want_ids) AND a.id = w.id AND a.depth <> w.depth;
END
$$;

ALTER FUNCTION switchyard.mirror_todos(text, public.todos[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION switchyard.upsert_todos_new(public.todos[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION switchyard.refresh_todo_depth(uuid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION switchyard.delete_todos_new(uuid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION switchyard.todo_descendants(uuid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION switchyard.todos_new_written(text, public.todos[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION switchyard.mirror_todos_to_legacy(text, public.todos[]) SET plan_cache_mode = force_generic_plan;

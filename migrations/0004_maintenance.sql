-- 0004: the seed's maintenance layer (Phase 3 and its deployment guide):
-- archival, archive partition management, statistics, health checks and the
-- two monitoring views. create_archive_partitions() is in 0002, which needs it.
--
-- Every job logs a row in switchyard.maintenance_history (0001). A function
-- cannot commit, and VACUUM cannot run inside one; what needs either is left
-- to the CLI, which runs the building blocks below one transaction at a time:
--   * archival under live traffic: archive_completed_todos_batch() in a loop,
--     one transaction per batch (archive_completed_todos() runs every batch in
--     the caller's transaction and so holds its lock until that commits);
--   * the weekly VACUUM: the commands weekly_maintenance_steps() lists.
--
-- Archival vs concurrent writes (docs/invariants.md, I3): a batch takes
-- LOCK TABLE todos_active IN SHARE ROW EXCLUSIVE MODE, which conflicts with
-- every INSERT/UPDATE/DELETE on todos_active and with itself, then deletes the
-- batch from todos_active and inserts it into todos_archived in one statement.
-- A writer that touches todos_active first (as rewritten statements and the
-- mirror functions do) either finishes before the batch locks, so the batch
-- moves its committed result, or waits for the batch to commit and then, its
-- snapshot being taken after the wait, finds the row in todos_archived. No
-- write is lost and no id ends in both tables or in neither.

-- Partitions of the three partitioned tables, with their activity counters
-- and whether they need a VACUUM or an ANALYZE (the seed's monitoring query
-- is `SELECT * FROM partition_monitor WHERE vacuum_status != 'OK'`).
-- Thresholds: more than 1000 dead rows and over 20% of the live ones needs a
-- vacuum; more than 1000 changes since the last analyze and over 10% of the
-- live rows needs an analyze.
CREATE VIEW partition_monitor AS
SELECT parent.relname::text                                  AS parent_table,
       c.relname::text                                       AS partition_name,
       pg_get_expr(c.relpartbound, c.oid)                    AS partition_bound,
       coalesce(s.n_live_tup, 0)                             AS live_rows,
       coalesce(s.n_dead_tup, 0)                             AS dead_rows,
       round(100.0 * s.n_dead_tup / nullif(s.n_live_tup + s.n_dead_tup, 0), 1) AS dead_pct,
       coalesce(s.n_mod_since_analyze, 0)                    AS modified_since_analyze,
       pg_total_relation_size(c.oid)                         AS total_bytes,
       pg_size_pretty(pg_total_relation_size(c.oid))         AS total_size,
       greatest(s.last_vacuum, s.last_autovacuum)            AS last_vacuum,
       greatest(s.last_analyze, s.last_autoanalyze)          AS last_analyze,
       CASE
         WHEN s.n_dead_tup > 1000 AND s.n_dead_tup > 0.2 * greatest(s.n_live_tup, 1) THEN 'NEEDS_VACUUM'
         WHEN s.n_mod_since_analyze > 1000 AND s.n_mod_since_analyze > 0.1 * greatest(s.n_live_tup, 1) THEN 'NEEDS_ANALYZE'
         ELSE 'OK'
       END                                                   AS vacuum_status
FROM pg_inherits i
JOIN pg_class parent ON parent.oid = i.inhparent
JOIN pg_class c ON c.oid = i.inhrelid
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE i.inhparent IN ('todos_active'::regclass, 'todos_archived'::regclass, 'ai_todo_interactions'::regclass);

COMMENT ON VIEW partition_monitor IS
  'Partitions of todos_active, todos_archived and ai_todo_interactions with size, dead rows and vacuum_status (OK, NEEDS_VACUUM, NEEDS_ANALYZE)';

-- The seed's `SELECT * FROM maintenance_history ORDER BY started_at DESC`.
CREATE VIEW maintenance_history AS
SELECT id, job, step, started_at, finished_at, finished_at - started_at AS duration,
       status, rows_affected, detail, error
FROM switchyard.maintenance_history;

COMMENT ON VIEW maintenance_history IS 'Maintenance runs, from switchyard.maintenance_history';

-- One archival batch: moves up to batch_size done todos whose completed_at is
-- older than now() - retention from todos_active to todos_archived, with
-- archived_at = now(). Returns the number moved; 0 means nothing is eligible.
--
-- Candidates are found before the lock (a plain read, blocking nobody), so
-- the lock is held only for the move itself when the batch is its own
-- transaction: primary-key lookups, with eligibility checked again under the
-- lock. Rows other transactions hold FOR UPDATE/SHARE are skipped for a later
-- batch rather than waited for. The lock is tried with a short
-- lock_timeout (lock_wait) and retried with backoff up to max_attempts times,
-- then the batch fails with SQLSTATE 55P03 (lock_not_available) and the caller
-- retries later. Must run in READ COMMITTED so that the move sees what
-- writers committed while it waited. Not logged itself: callers log the run.
CREATE FUNCTION archive_completed_todos_batch(retention interval DEFAULT '30 days',
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
    SELECT array_agg(c.id), array_agg(c.user_id) INTO v_ids, v_users
    FROM (SELECT t.id, t.user_id FROM todos_active t
          WHERE t.status = 'done' AND t.completed_at < v_cutoff
          LIMIT batch_size) c;
    IF v_ids IS NULL THEN
      RETURN 0;
    END IF;

    IF NOT v_locked THEN
      PERFORM switchyard.lock_table('todos_active', 'SHARE ROW EXCLUSIVE', lock_wait, max_attempts);
      v_locked := true;
    END IF;

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

COMMENT ON FUNCTION archive_completed_todos_batch(interval, integer, interval, integer) IS
  'Moves one batch of done todos older than the retention from todos_active to todos_archived under SHARE ROW EXCLUSIVE on todos_active; returns rows moved (0: none eligible). Call once per transaction under live traffic.';

-- Archives every eligible todo, batch after batch, in the caller's
-- transaction, and logs the run. The lock taken by the first batch is held
-- until that transaction commits: under live traffic with a large backlog,
-- call archive_completed_todos_batch() once per transaction instead.
CREATE FUNCTION archive_completed_todos(retention interval DEFAULT '30 days', batch_size integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
  v_log     bigint;
  v_n       integer;
  v_total   integer := 0;
  v_batches integer := 0;
BEGIN
  v_log := switchyard.maintenance_begin('archive_completed_todos', NULL,
             jsonb_build_object('retention', retention::text, 'batch_size', batch_size));
  LOOP
    v_n := archive_completed_todos_batch(retention, batch_size);
    EXIT WHEN v_n = 0;
    v_total := v_total + v_n;
    v_batches := v_batches + 1;
  END LOOP;
  PERFORM switchyard.maintenance_finish(v_log, 'succeeded', v_total, jsonb_build_object('batches', v_batches));
  RETURN v_total;
END
$$;

COMMENT ON FUNCTION archive_completed_todos(interval, integer) IS
  'Moves every done todo completed before now() - retention to todos_archived, in batches, in one transaction; returns rows moved; logged';

-- Drops monthly archive partitions lying wholly before now() - retention
-- (their upper bound is at or before it); never the default partition, never
-- a partition not named todos_archived_YYYY_MM. Returns how many it dropped.
--
-- Dropping archived todos while legacy still holds them makes the verifier
-- report differences, so this refuses during dual_write, read_new and
-- write_new unless force is true.
CREATE FUNCTION drop_old_archive_partitions(retention interval, force boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
  v_log     bigint;
  v_cutoff  timestamptz;
  v_phase   text;
  v_dropped text[] := '{}';
  v_rows    bigint := 0;
  r         record;
BEGIN
  IF retention IS NULL OR retention < interval '0' THEN
    RAISE EXCEPTION 'drop_old_archive_partitions: retention must be a non-negative interval, got %', retention
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT phase INTO v_phase FROM switchyard.migration_state WHERE table_name = 'todos';
  IF v_phase IN ('dual_write', 'read_new', 'write_new') AND NOT coalesce(force, false) THEN
    RAISE EXCEPTION 'drop_old_archive_partitions: todos is in phase %, where legacy still holds the archived rows; dropping them would make the two schemas differ', v_phase
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Wait for new_only, or pass force => true.';
  END IF;
  v_cutoff := now() - retention;
  v_log := switchyard.maintenance_begin('drop_old_archive_partitions', NULL,
             jsonb_build_object('retention', retention::text, 'cutoff', v_cutoff, 'force', force));
  -- DROP TABLE of a partition locks the parent ACCESS EXCLUSIVE: take it in
  -- short tries, and only when something is to be dropped (below).

  FOR r IN
    SELECT c.relname::text AS name, c.reltuples, b.upper_bound
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (
      SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper_bound
    ) b
    WHERE i.inhparent = 'todos_archived'::regclass
      AND c.relname ~ '^todos_archived_[0-9]{4}_[0-9]{2}$'
      AND b.upper_bound <= v_cutoff
    ORDER BY b.upper_bound
  LOOP
    PERFORM switchyard.lock_table('todos_archived', 'ACCESS EXCLUSIVE', '200 milliseconds', 25);
    EXECUTE format('DROP TABLE %I', r.name);
    v_dropped := v_dropped || r.name;
    v_rows := v_rows + greatest(r.reltuples, 0)::bigint;
  END LOOP;

  PERFORM switchyard.maintenance_finish(v_log, 'succeeded', cardinality(v_dropped),
            jsonb_build_object('dropped', to_jsonb(v_dropped), 'estimated_rows_dropped', v_rows));
  RETURN cardinality(v_dropped);
END
$$;

COMMENT ON FUNCTION drop_old_archive_partitions(interval, boolean) IS
  'Drops todos_archived_YYYY_MM partitions wholly older than now() - retention (never the default); refuses mid-migration unless forced; logged';

-- Per-partition statistics, the seed's `SELECT * FROM
-- get_partition_statistics() ORDER BY size_mb DESC`. Row counts are the
-- statistics system's estimates unless exact is true, which counts every
-- partition (a full scan of each).
CREATE FUNCTION get_partition_statistics(exact boolean DEFAULT false)
RETURNS TABLE (parent_table text, partition_name text, partition_bound text, row_count bigint,
               dead_rows bigint, total_bytes bigint, size_mb numeric, vacuum_status text,
               last_vacuum timestamptz, last_analyze timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM partition_monitor m ORDER BY m.parent_table, m.partition_name LOOP
    parent_table := r.parent_table;
    partition_name := r.partition_name;
    partition_bound := r.partition_bound;
    IF exact THEN
      EXECUTE format('SELECT count(*) FROM %I', r.partition_name) INTO row_count;
    ELSE
      row_count := r.live_rows;
    END IF;
    dead_rows := r.dead_rows;
    total_bytes := r.total_bytes;
    size_mb := round(r.total_bytes / 1048576.0, 2);
    vacuum_status := r.vacuum_status;
    last_vacuum := r.last_vacuum;
    last_analyze := r.last_analyze;
    RETURN NEXT;
  END LOOP;
END
$$;

COMMENT ON FUNCTION get_partition_statistics(boolean) IS
  'Rows (estimated, or exact), dead rows, size and vacuum status of every partition of the new tables';

-- Health checks, one row per problem and one 'OK' row per check that found
-- none, so `SELECT * FROM check_partition_health() WHERE status <> 'OK'` lists
-- what needs attention:
--   hash_partitions         todos_active has 16 partitions, ai_todo_interactions 8
--   archive_partitions      a monthly partition exists for this month and the next two
--   default_partition_rows  nothing in todos_archived_default (rows there mean a
--                           month without its partition; create_archive_partitions
--                           moves them out)
--   vacuum                  every partition's vacuum_status is OK (partition_monitor)
CREATE FUNCTION check_partition_health()
RETURNS TABLE (check_name text, object_name text, status text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
  v_count   bigint;
  v_min     timestamptz;
  v_max     timestamptz;
  v_month   timestamp;
  v_name    text;
  v_found   boolean;
  r         record;
BEGIN
  -- hash_partitions
  v_found := false;
  FOR r IN
    SELECT t.parent, t.expected, (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = t.parent) AS actual
    FROM (VALUES ('todos_active'::regclass, 16), ('ai_todo_interactions'::regclass, 8)) AS t(parent, expected)
  LOOP
    IF r.actual <> r.expected THEN
      v_found := true;
      check_name := 'hash_partitions'; object_name := r.parent::text; status := 'CRITICAL';
      detail := format('%s has %s partitions, expected %s', r.parent, r.actual, r.expected);
      RETURN NEXT;
    END IF;
  END LOOP;
  IF NOT v_found THEN
    check_name := 'hash_partitions'; object_name := NULL; status := 'OK';
    detail := 'todos_active has 16 partitions, ai_todo_interactions 8'; RETURN NEXT;
  END IF;

  -- archive_partitions: this month (CRITICAL when missing) and the next two.
  v_found := false;
  FOR k IN 0..2 LOOP
    v_month := date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => k);
    v_name := 'todos_archived_' || to_char(v_month, 'YYYY_MM');
    IF NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = 'todos_archived'::regclass AND c.relname = v_name) THEN
      v_found := true;
      check_name := 'archive_partitions'; object_name := v_name;
      status := CASE WHEN k = 0 THEN 'CRITICAL' ELSE 'WARNING' END;
      detail := format('missing archive partition %s; run SELECT create_archive_partitions(3)', v_name);
      RETURN NEXT;
    END IF;
  END LOOP;
  IF NOT v_found THEN
    check_name := 'archive_partitions'; object_name := NULL; status := 'OK';
    detail := 'this month and the next two have their partitions'; RETURN NEXT;
  END IF;

  -- default_partition_rows
  SELECT count(*), min(d.archived_at), max(d.archived_at) INTO v_count, v_min, v_max FROM todos_archived_default d;
  check_name := 'default_partition_rows'; object_name := 'todos_archived_default';
  IF v_count > 0 THEN
    status := 'WARNING';
    detail := format('%s rows in the default partition, archived_at from %s to %s; run create_archive_partitions(0, %L) to give their months partitions',
                     v_count, v_min, v_max, (date_trunc('month', v_min AT TIME ZONE 'UTC'))::date);
  ELSE
    status := 'OK'; detail := 'the default partition is empty';
  END IF;
  RETURN NEXT;

  -- vacuum
  v_found := false;
  FOR r IN SELECT * FROM partition_monitor m WHERE m.vacuum_status <> 'OK' ORDER BY m.partition_name LOOP
    v_found := true;
    check_name := 'vacuum'; object_name := r.partition_name; status := 'WARNING';
    detail := format('%s: %s dead rows (%s%%), %s changes since the last analyze',
                     r.vacuum_status, r.dead_rows, coalesce(r.dead_pct, 0), r.modified_since_analyze);
    RETURN NEXT;
  END LOOP;
  IF NOT v_found THEN
    check_name := 'vacuum'; object_name := NULL; status := 'OK';
    detail := 'no partition needs a vacuum or an analyze'; RETURN NEXT;
  END IF;
END
$$;

COMMENT ON FUNCTION check_partition_health() IS
  'Health of the partitioned tables: one row per problem (WARNING or CRITICAL), one OK row per clean check';

-- Index usage per partition index, with the index declared on the parent
-- (0003) it belongs to; the seed's `SELECT table_name, index_name,
-- index_scans FROM get_index_usage_stats() WHERE index_scans > 0`.
CREATE FUNCTION get_index_usage_stats()
RETURNS TABLE (parent_table text, table_name text, parent_index text, index_name text,
               index_scans bigint, tuples_read bigint, tuples_fetched bigint, size_bytes bigint)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
  SELECT pt.relname::text, s.relname::text, pi.relname::text, s.indexrelname::text,
         s.idx_scan, s.idx_tup_read, s.idx_tup_fetch, pg_relation_size(s.indexrelid)
  FROM pg_stat_user_indexes s
  JOIN pg_inherits ti ON ti.inhrelid = s.relid
  JOIN pg_class pt ON pt.oid = ti.inhparent
  LEFT JOIN pg_inherits ii ON ii.inhrelid = s.indexrelid
  LEFT JOIN pg_class pi ON pi.oid = ii.inhparent
  WHERE ti.inhparent IN ('todos_active'::regclass, 'todos_archived'::regclass, 'ai_todo_interactions'::regclass)
  ORDER BY pt.relname, s.relname, s.indexrelname
$$;

COMMENT ON FUNCTION get_index_usage_stats() IS
  'Scans, tuples and size of every partition index of the new tables, with its parent table and parent index';

-- The daily job in one call: refresh planner statistics, create the archive
-- partitions ahead, archive, check health. Each step runs in its own
-- subtransaction: a failing step is logged and reported, the others still
-- run. Archival comes after the ANALYZE and the partition DDL because its
-- lock on todos_active is held until the caller commits; a CLI under live
-- traffic runs these steps in separate transactions instead (see
-- docs/schema.md). Returns one row per step.
CREATE FUNCTION run_daily_maintenance(retention interval DEFAULT '30 days',
                                      batch_size integer DEFAULT 1000,
                                      months_ahead integer DEFAULT 3)
RETURNS TABLE (step text, status text, rows_affected bigint, detail text)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
  v_log    bigint;
  v_step   bigint;
  v_failed integer := 0;
  v_total  bigint := 0;
  v_rows   bigint;
  v_detail text;
  v_status text;
  v_name   text;
BEGIN
  v_log := switchyard.maintenance_begin('daily_maintenance', NULL,
             jsonb_build_object('retention', retention::text, 'batch_size', batch_size, 'months_ahead', months_ahead));

  FOREACH v_name IN ARRAY ARRAY['analyze', 'create_archive_partitions', 'archive_completed_todos', 'check_partition_health'] LOOP
    v_step := switchyard.maintenance_begin('daily_maintenance', v_name);
    v_rows := NULL;
    v_detail := NULL;
    BEGIN
      CASE v_name
        WHEN 'analyze' THEN
          ANALYZE todos_active;
          ANALYZE todos_archived;
          ANALYZE ai_todo_interactions;
          v_detail := 'ANALYZE todos_active, todos_archived, ai_todo_interactions';
        WHEN 'create_archive_partitions' THEN
          v_rows := create_archive_partitions(months_ahead);
          v_detail := format('%s partitions created', v_rows);
        WHEN 'archive_completed_todos' THEN
          v_rows := archive_completed_todos(retention, batch_size);
          v_detail := format('%s todos archived', v_rows);
        WHEN 'check_partition_health' THEN
          SELECT count(*), string_agg(h.check_name || ' ' || coalesce(h.object_name, '') || ': ' || h.detail, '; ')
          INTO v_rows, v_detail
          FROM check_partition_health() h WHERE h.status <> 'OK';
          v_detail := coalesce(v_detail, 'healthy');
      END CASE;
      v_status := 'succeeded';
      PERFORM switchyard.maintenance_finish(v_step, v_status, v_rows);
    EXCEPTION WHEN OTHERS THEN
      -- The subtransaction rolled back the step's own log row too.
      v_status := 'failed';
      v_detail := SQLERRM;
      v_failed := v_failed + 1;
      v_step := switchyard.maintenance_begin('daily_maintenance', v_name);
      PERFORM switchyard.maintenance_finish(v_step, v_status, NULL, NULL, format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE));
    END;
    IF v_name IN ('create_archive_partitions', 'archive_completed_todos') THEN
      v_total := v_total + coalesce(v_rows, 0);
    END IF;
    step := v_name; status := v_status; rows_affected := v_rows; detail := v_detail;
    RETURN NEXT;
  END LOOP;

  PERFORM switchyard.maintenance_finish(v_log, CASE WHEN v_failed > 0 THEN 'failed' ELSE 'succeeded' END,
            v_total, jsonb_build_object('failed_steps', v_failed));
END
$$;

COMMENT ON FUNCTION run_daily_maintenance(interval, integer, integer) IS
  'Daily job: ANALYZE, create archive partitions ahead, archive, health check; one row per step; logged';

-- The weekly job cannot be a function: VACUUM refuses to run inside one (or
-- inside any transaction block). `switchyard maintain weekly` runs these
-- commands in order, each on its own at top level, and logs the run with
-- switchyard.maintenance_begin('weekly_maintenance', <step>) /
-- switchyard.maintenance_finish(...). VACUUM on a partitioned parent
-- processes every partition.
CREATE FUNCTION weekly_maintenance_steps()
RETURNS TABLE (step_no integer, step text, command text, purpose text)
LANGUAGE sql IMMUTABLE
AS $$
  VALUES
    (1, 'vacuum_todos_active', 'VACUUM (ANALYZE) todos_active',
        'reclaim the rows archival and app updates deleted; refresh planner statistics'),
    (2, 'vacuum_todos_archived', 'VACUUM (ANALYZE) todos_archived',
        'set visibility and freeze maps on the archive, which is mostly appended to'),
    (3, 'vacuum_ai_todo_interactions', 'VACUUM (ANALYZE) ai_todo_interactions',
        'reclaim dead rows; refresh planner statistics'),
    (4, 'check_partition_health', 'SELECT * FROM check_partition_health() WHERE status <> ''OK''',
        'report what still needs attention after the vacuum')
$$;

COMMENT ON FUNCTION weekly_maintenance_steps() IS
  'The weekly procedure as commands for the CLI to run at top level (VACUUM cannot run in a function)';

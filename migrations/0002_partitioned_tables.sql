-- 0002: the new, partitioned schema (the scaling guide's Phase 1; docs/schema.md).
--
--   todos_active          HASH (user_id), 16 partitions todos_active_part_00.._15
--   todos_archived        RANGE (archived_at), monthly todos_archived_YYYY_MM + todos_archived_default
--   ai_todo_interactions  HASH (user_id), 8 partitions ai_todo_interactions_part_0.._7
--
-- Columns, types, defaults and CHECKs are the legacy todos table's (design
-- §1), in the same order, plus depth (and archived_at for the archive), so a
-- legacy row image maps onto them column by column. Outgoing foreign keys keep
-- the legacy ON DELETE actions (invariant I7). parent_todo_id has no foreign
-- key: a partitioned table's key includes the partition column, so (id) alone
-- cannot be referenced; the mirror functions delete descendants instead.
--
-- The legacy tables are only read (to size the archive), never altered.

CREATE TABLE todos_active (
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  project_id     uuid REFERENCES projects (id) ON DELETE SET NULL,
  parent_todo_id uuid,
  title          varchar(500) NOT NULL,
  description    text,
  status         varchar(20) NOT NULL DEFAULT 'todo'
                 CONSTRAINT todos_active_status_check CHECK (status IN ('todo', 'in_progress', 'done')),
  priority       integer NOT NULL DEFAULT 0,
  due_date       timestamptz,
  ai_generated   boolean NOT NULL DEFAULT false,
  tags           text[] NOT NULL DEFAULT '{}',
  metadata       jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  completed_at   timestamptz,
  depth          integer NOT NULL DEFAULT 0 CONSTRAINT todos_active_depth_check CHECK (depth >= 0),
  CONSTRAINT todos_active_pkey PRIMARY KEY (id, user_id)
) PARTITION BY HASH (user_id);

COMMENT ON TABLE todos_active IS
  'Live todos (every status), hash-partitioned by user_id; done todos move to todos_archived after the retention';

DO $$
BEGIN
  FOR i IN 0..15 LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF todos_active FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                   'todos_active_part_' || lpad(i::text, 2, '0'), i);
  END LOOP;
END
$$;

CREATE TABLE todos_archived (
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  project_id     uuid REFERENCES projects (id) ON DELETE SET NULL,
  parent_todo_id uuid,
  title          varchar(500) NOT NULL,
  description    text,
  status         varchar(20) NOT NULL DEFAULT 'todo'
                 CONSTRAINT todos_archived_status_check CHECK (status IN ('todo', 'in_progress', 'done')),
  priority       integer NOT NULL DEFAULT 0,
  due_date       timestamptz,
  ai_generated   boolean NOT NULL DEFAULT false,
  tags           text[] NOT NULL DEFAULT '{}',
  metadata       jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  completed_at   timestamptz,
  depth          integer NOT NULL DEFAULT 0 CONSTRAINT todos_archived_depth_check CHECK (depth >= 0),
  archived_at    timestamptz NOT NULL DEFAULT now(),
  -- Only done todos are archived; the planner uses this to skip the archive
  -- for reads filtering on another status.
  CONSTRAINT todos_archived_status_done CHECK (status = 'done'),
  CONSTRAINT todos_archived_pkey PRIMARY KEY (id, archived_at)
) PARTITION BY RANGE (archived_at);

COMMENT ON TABLE todos_archived IS
  'Done todos past the retention, range-partitioned by archived_at into monthly partitions (UTC months)';

-- Catches rows outside every monthly partition; check_partition_health()
-- reports rows here, and create_archive_partitions() moves them out.
CREATE TABLE todos_archived_default PARTITION OF todos_archived DEFAULT;

CREATE TABLE ai_todo_interactions (
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  todo_id          uuid NOT NULL,
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  interaction_type varchar(50) NOT NULL,
  prompt           text,
  response         jsonb,
  model            text,
  tokens_used      integer,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ai_todo_interactions_pkey PRIMARY KEY (id, user_id)
) PARTITION BY HASH (user_id);

COMMENT ON TABLE ai_todo_interactions IS
  'AI generation history per todo, hash-partitioned by user_id';

DO $$
BEGIN
  FOR i IN 0..7 LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF ai_todo_interactions FOR VALUES WITH (MODULUS 8, REMAINDER %s)',
                   'ai_todo_interactions_part_' || i, i);
  END LOOP;
END
$$;

-- Monthly archive partitions. A month is a UTC calendar month, whatever the
-- session's TimeZone, so names and bounds never depend on who runs this.
--
-- Creates todos_archived_YYYY_MM for every month from from_month (default:
-- the current month) through months_ahead months after the current one,
-- skipping those that exist: idempotent. Rows already sitting in the default
-- partition for a new month are moved into it (a plain CREATE ... PARTITION OF
-- would fail on them). Returns how many partitions it created; each run is
-- logged in switchyard.maintenance_history. Takes ACCESS EXCLUSIVE on
-- todos_archived only when it has something to create, in 200 ms tries
-- (switchyard.lock_table), failing with 55P03 after 25.
CREATE FUNCTION create_archive_partitions(months_ahead integer DEFAULT 3, from_month date DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
  v_log     bigint;
  v_current timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
  v_month   timestamp;
  v_last    timestamp;
  v_name    text;
  v_lo      timestamptz;
  v_hi      timestamptz;
  v_lo_text text;
  v_hi_text text;
  v_moved   bigint;
  v_created text[] := '{}';
  v_total_moved bigint := 0;
BEGIN
  IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
    RAISE EXCEPTION 'create_archive_partitions: months_ahead must be between 0 and 120, got %', months_ahead
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_log := switchyard.maintenance_begin('create_archive_partitions', NULL,
             jsonb_build_object('months_ahead', months_ahead, 'from_month', from_month));
  v_month := least(coalesce(date_trunc('month', from_month::timestamp), v_current), v_current);
  v_last := v_current + make_interval(months => months_ahead);

  WHILE v_month <= v_last LOOP
    v_name := 'todos_archived_' || to_char(v_month, 'YYYY_MM');
    v_lo := v_month AT TIME ZONE 'UTC';
    v_hi := (v_month + interval '1 month') AT TIME ZONE 'UTC';
    -- Bounds spelled in ISO with an explicit offset, whatever the DateStyle.
    v_lo_text := to_char(v_month, 'YYYY-MM-DD HH24:MI:SS') || '+00';
    v_hi_text := to_char(v_month + interval '1 month', 'YYYY-MM-DD HH24:MI:SS') || '+00';
    IF to_regclass(format('public.%I', v_name)) IS NULL THEN
      -- CREATE ... PARTITION OF takes this lock anyway; taking it first, in
      -- short tries, closes the gap between the check on the default
      -- partition below and the DDL, and never queues readers for long.
      PERFORM switchyard.lock_table('todos_archived', 'ACCESS EXCLUSIVE', '200 milliseconds', 25);
      IF EXISTS (SELECT 1 FROM todos_archived_default WHERE archived_at >= v_lo AND archived_at < v_hi) THEN
        EXECUTE format('CREATE TABLE %I (LIKE todos_archived INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
        EXECUTE format(
          'WITH moved AS (DELETE FROM todos_archived_default WHERE archived_at >= $1 AND archived_at < $2 RETURNING *)
           INSERT INTO %I SELECT * FROM moved', v_name) USING v_lo, v_hi;
        GET DIAGNOSTICS v_moved = ROW_COUNT;
        v_total_moved := v_total_moved + v_moved;
        EXECUTE format('ALTER TABLE todos_archived ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', v_name, v_lo_text, v_hi_text);
      ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF todos_archived FOR VALUES FROM (%L) TO (%L)', v_name, v_lo_text, v_hi_text);
      END IF;
      v_created := v_created || v_name;
    END IF;
    v_month := v_month + interval '1 month';
  END LOOP;

  PERFORM switchyard.maintenance_finish(v_log, 'succeeded', cardinality(v_created),
            jsonb_build_object('created', to_jsonb(v_created), 'rows_moved_from_default', v_total_moved));
  RETURN cardinality(v_created);
END
$$;

COMMENT ON FUNCTION create_archive_partitions(integer, date) IS
  'Creates monthly todos_archived partitions (UTC months) from from_month (default: this month) through months_ahead months ahead; idempotent; moves matching rows out of the default partition';

-- The archive starts out covering every month the existing data could need:
-- from the month of the oldest completed_at among done legacy todos (what
-- archival would move) through three months ahead. At most ten years back, so
-- one absurd completed_at cannot create thousands of partitions; anything
-- older lands in the default partition, which check_partition_health()
-- reports.
SELECT create_archive_partitions(3, (
  SELECT CASE WHEN min(completed_at) IS NOT NULL THEN
           greatest(date_trunc('month', min(completed_at) AT TIME ZONE 'UTC'),
                    date_trunc('month', now() AT TIME ZONE 'UTC') - interval '120 months')::date
         END
  FROM todos
  WHERE status = 'done'));

-- Generated: every table, index, view, function and trigger the migrations
-- add to a database holding the legacy schema, as PostgreSQL prints them
-- back. Do not edit: change migrations/, then run
--   SWITCHYARD_UPDATE_SCHEMA=1 cargo test --test it schema::current
-- docs/schema.md lists which migration last defined each object.

-- table public.ai_todo_interactions
CREATE TABLE public.ai_todo_interactions (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    todo_id uuid NOT NULL,
    user_id uuid NOT NULL,
    interaction_type character varying(50) NOT NULL,
    prompt text,
    response jsonb,
    model text,
    tokens_used integer,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    CONSTRAINT ai_todo_interactions_pkey PRIMARY KEY (id, user_id),
    CONSTRAINT ai_todo_interactions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE
) PARTITION BY HASH (user_id);
CREATE TABLE public.ai_todo_interactions_part_0 PARTITION OF public.ai_todo_interactions FOR VALUES WITH (modulus 8, remainder 0);
CREATE TABLE public.ai_todo_interactions_part_1 PARTITION OF public.ai_todo_interactions FOR VALUES WITH (modulus 8, remainder 1);
CREATE TABLE public.ai_todo_interactions_part_2 PARTITION OF public.ai_todo_interactions FOR VALUES WITH (modulus 8, remainder 2);
CREATE TABLE public.ai_todo_interactions_part_3 PARTITION OF public.ai_todo_interactions FOR VALUES WITH (modulus 8, remainder 3);
CREATE TABLE public.ai_todo_interactions_part_4 PARTITION OF public.ai_todo_interactions FOR VALUES WITH (modulus 8, remainder 4);
CREATE TABLE public.ai_todo_interactions_part_5 PARTITION OF public.ai_todo_interactions FOR VALUES WITH (modulus 8, remainder 5);
CREATE TABLE public.ai_todo_interactions_part_6 PARTITION OF public.ai_todo_interactions FOR VALUES WITH (modulus 8, remainder 6);
CREATE TABLE public.ai_todo_interactions_part_7 PARTITION OF public.ai_todo_interactions FOR VALUES WITH (modulus 8, remainder 7);

-- table public.todos_active
CREATE TABLE public.todos_active (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    project_id uuid,
    parent_todo_id uuid,
    title character varying(500) NOT NULL,
    description text,
    status character varying(20) NOT NULL DEFAULT 'todo'::character varying,
    priority integer NOT NULL DEFAULT 0,
    due_date timestamp with time zone,
    ai_generated boolean NOT NULL DEFAULT false,
    tags text[] NOT NULL DEFAULT '{}'::text[],
    metadata jsonb,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    completed_at timestamp with time zone,
    depth integer NOT NULL DEFAULT 0,
    CONSTRAINT todos_active_depth_check CHECK ((depth >= 0)),
    CONSTRAINT todos_active_pkey PRIMARY KEY (id, user_id),
    CONSTRAINT todos_active_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.projects(id) ON DELETE SET NULL,
    CONSTRAINT todos_active_status_check CHECK (((status)::text = ANY ((ARRAY['todo'::character varying, 'in_progress'::character varying, 'done'::character varying])::text[]))),
    CONSTRAINT todos_active_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE
) PARTITION BY HASH (user_id);
CREATE TABLE public.todos_active_part_00 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 0);
CREATE TABLE public.todos_active_part_01 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 1);
CREATE TABLE public.todos_active_part_02 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 2);
CREATE TABLE public.todos_active_part_03 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 3);
CREATE TABLE public.todos_active_part_04 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 4);
CREATE TABLE public.todos_active_part_05 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 5);
CREATE TABLE public.todos_active_part_06 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 6);
CREATE TABLE public.todos_active_part_07 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 7);
CREATE TABLE public.todos_active_part_08 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 8);
CREATE TABLE public.todos_active_part_09 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 9);
CREATE TABLE public.todos_active_part_10 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 10);
CREATE TABLE public.todos_active_part_11 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 11);
CREATE TABLE public.todos_active_part_12 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 12);
CREATE TABLE public.todos_active_part_13 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 13);
CREATE TABLE public.todos_active_part_14 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 14);
CREATE TABLE public.todos_active_part_15 PARTITION OF public.todos_active FOR VALUES WITH (modulus 16, remainder 15);

-- table public.todos_archived
CREATE TABLE public.todos_archived (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    project_id uuid,
    parent_todo_id uuid,
    title character varying(500) NOT NULL,
    description text,
    status character varying(20) NOT NULL DEFAULT 'todo'::character varying,
    priority integer NOT NULL DEFAULT 0,
    due_date timestamp with time zone,
    ai_generated boolean NOT NULL DEFAULT false,
    tags text[] NOT NULL DEFAULT '{}'::text[],
    metadata jsonb,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    completed_at timestamp with time zone,
    depth integer NOT NULL DEFAULT 0,
    archived_at timestamp with time zone NOT NULL DEFAULT now(),
    CONSTRAINT todos_archived_depth_check CHECK ((depth >= 0)),
    CONSTRAINT todos_archived_pkey PRIMARY KEY (id, archived_at),
    CONSTRAINT todos_archived_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.projects(id) ON DELETE SET NULL,
    CONSTRAINT todos_archived_status_check CHECK (((status)::text = ANY ((ARRAY['todo'::character varying, 'in_progress'::character varying, 'done'::character varying])::text[]))),
    CONSTRAINT todos_archived_status_done CHECK (((status)::text = 'done'::text)),
    CONSTRAINT todos_archived_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE
) PARTITION BY RANGE (archived_at);
CREATE TABLE public.todos_archived_default PARTITION OF public.todos_archived DEFAULT;

-- table switchyard.backfill_progress
CREATE TABLE switchyard.backfill_progress (
    table_name text NOT NULL,
    last_key uuid,
    rows_copied bigint NOT NULL DEFAULT 0,
    batches bigint NOT NULL DEFAULT 0,
    started_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    finished_at timestamp with time zone,
    paused boolean NOT NULL DEFAULT false,
    completed boolean NOT NULL DEFAULT false,
    CONSTRAINT backfill_progress_batches_check CHECK ((batches >= 0)),
    CONSTRAINT backfill_progress_completed_has_finish CHECK (((NOT completed) OR (finished_at IS NOT NULL))),
    CONSTRAINT backfill_progress_pkey PRIMARY KEY (table_name),
    CONSTRAINT backfill_progress_rows_copied_check CHECK ((rows_copied >= 0)),
    CONSTRAINT backfill_progress_table_name_fkey FOREIGN KEY (table_name) REFERENCES switchyard.migration_state(table_name) ON DELETE CASCADE
);

-- table switchyard.backfill_ranges
CREATE TABLE switchyard.backfill_ranges (
    table_name text NOT NULL,
    range_no integer NOT NULL,
    after_key uuid NOT NULL,
    upto_key uuid NOT NULL,
    last_key uuid,
    rows_copied bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    CONSTRAINT backfill_ranges_check CHECK ((after_key < upto_key)),
    CONSTRAINT backfill_ranges_pkey PRIMARY KEY (table_name, range_no),
    CONSTRAINT backfill_ranges_range_no_check CHECK ((range_no >= 0)),
    CONSTRAINT backfill_ranges_rows_copied_check CHECK ((rows_copied >= 0)),
    CONSTRAINT backfill_ranges_table_name_fkey FOREIGN KEY (table_name) REFERENCES switchyard.backfill_progress(table_name) ON DELETE CASCADE
);

-- table switchyard.maintenance_history
CREATE TABLE switchyard.maintenance_history (
    id bigint NOT NULL,
    job text NOT NULL,
    step text,
    started_at timestamp with time zone NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamp with time zone,
    status text NOT NULL DEFAULT 'running'::text,
    rows_affected bigint,
    detail jsonb,
    error text,
    CONSTRAINT maintenance_history_pkey PRIMARY KEY (id),
    CONSTRAINT maintenance_history_status_check CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text, 'skipped'::text])))
);

-- table switchyard.migration_state
CREATE TABLE switchyard.migration_state (
    table_name text NOT NULL,
    phase text NOT NULL DEFAULT 'legacy'::text,
    epoch bigint NOT NULL DEFAULT 0,
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_by text NOT NULL DEFAULT CURRENT_USER,
    reason text,
    CONSTRAINT migration_state_epoch_check CHECK ((epoch >= 0)),
    CONSTRAINT migration_state_phase_check CHECK ((phase = ANY (ARRAY['legacy'::text, 'dual_write'::text, 'read_new'::text, 'write_new'::text, 'new_only'::text]))),
    CONSTRAINT migration_state_pkey PRIMARY KEY (table_name)
);

-- table switchyard.mirror_sink
CREATE TABLE switchyard.mirror_sink (
    n integer,
    CONSTRAINT mirror_sink_stays_empty CHECK (((n IS NULL) AND (n IS NOT NULL)))
);

-- table switchyard.phase_history
CREATE TABLE switchyard.phase_history (
    id bigint NOT NULL,
    table_name text NOT NULL,
    from_phase text,
    to_phase text NOT NULL,
    epoch bigint NOT NULL,
    changed_at timestamp with time zone NOT NULL DEFAULT now(),
    changed_by text,
    reason text,
    CONSTRAINT phase_history_pkey PRIMARY KEY (id),
    CONSTRAINT phase_history_table_name_fkey FOREIGN KEY (table_name) REFERENCES switchyard.migration_state(table_name) ON DELETE CASCADE
);

-- table switchyard.proxy_instances
CREATE TABLE switchyard.proxy_instances (
    instance_id text NOT NULL,
    host text NOT NULL,
    pid integer,
    version text,
    started_at timestamp with time zone NOT NULL DEFAULT now(),
    heartbeat_at timestamp with time zone NOT NULL DEFAULT now(),
    acknowledged_epoch bigint,
    acknowledged_phase text,
    CONSTRAINT proxy_instances_phase_check CHECK ((acknowledged_phase = ANY (ARRAY['legacy'::text, 'dual_write'::text, 'read_new'::text, 'write_new'::text, 'new_only'::text]))),
    CONSTRAINT proxy_instances_pkey PRIMARY KEY (instance_id)
);

-- table switchyard.schema_migrations
CREATE TABLE switchyard.schema_migrations (
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone NOT NULL DEFAULT now(),
    duration_ms bigint NOT NULL,
    CONSTRAINT schema_migrations_pkey PRIMARY KEY (name)
);

-- table switchyard.shadow_mismatches
CREATE TABLE switchyard.shadow_mismatches (
    id bigint NOT NULL,
    table_name text NOT NULL DEFAULT 'todos'::text,
    phase text,
    instance_id text,
    statement text NOT NULL,
    params jsonb,
    legacy_rows bigint,
    new_rows bigint,
    only_in_legacy bigint NOT NULL DEFAULT 0,
    only_in_new bigint NOT NULL DEFAULT 0,
    sample jsonb,
    at timestamp with time zone NOT NULL DEFAULT now(),
    CONSTRAINT shadow_mismatches_pkey PRIMARY KEY (id)
);

-- table switchyard.shadow_settings
CREATE TABLE switchyard.shadow_settings (
    phase text NOT NULL,
    sample_rate double precision NOT NULL,
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_by text NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT shadow_settings_phase_check CHECK ((phase = ANY (ARRAY['legacy'::text, 'dual_write'::text, 'read_new'::text, 'write_new'::text, 'new_only'::text]))),
    CONSTRAINT shadow_settings_pkey PRIMARY KEY (phase),
    CONSTRAINT shadow_settings_sample_rate_check CHECK (((sample_rate >= (0)::double precision) AND (sample_rate <= (1)::double precision)))
);

-- table switchyard.verify_runs
CREATE TABLE switchyard.verify_runs (
    id bigint NOT NULL,
    table_name text NOT NULL DEFAULT 'todos'::text,
    started_at timestamp with time zone NOT NULL DEFAULT now(),
    finished_at timestamp with time zone,
    clean boolean,
    differences bigint,
    summary jsonb,
    CONSTRAINT verify_runs_differences_check CHECK ((differences >= 0)),
    CONSTRAINT verify_runs_pkey PRIMARY KEY (id)
);

-- index public.idx_ai_todo_interactions_todo_type
CREATE INDEX idx_ai_todo_interactions_todo_type ON ONLY public.ai_todo_interactions USING btree (todo_id, interaction_type);

-- index public.idx_ai_todo_interactions_user_date
CREATE INDEX idx_ai_todo_interactions_user_date ON ONLY public.ai_todo_interactions USING btree (user_id, created_at DESC);

-- index public.idx_todos_active_parent_user
CREATE INDEX idx_todos_active_parent_user ON ONLY public.todos_active USING btree (parent_todo_id, user_id) WHERE (parent_todo_id IS NOT NULL);

-- index public.idx_todos_active_user_created
CREATE INDEX idx_todos_active_user_created ON ONLY public.todos_active USING btree (user_id, created_at DESC);

-- index public.idx_todos_active_user_due
CREATE INDEX idx_todos_active_user_due ON ONLY public.todos_active USING btree (user_id, due_date, status) WHERE ((due_date IS NOT NULL) AND ((status)::text = ANY ((ARRAY['todo'::character varying, 'in_progress'::character varying])::text[])));

-- index public.idx_todos_active_user_project
CREATE INDEX idx_todos_active_user_project ON ONLY public.todos_active USING btree (user_id, project_id, created_at DESC) WHERE (project_id IS NOT NULL);

-- index public.idx_todos_active_user_status_priority
CREATE INDEX idx_todos_active_user_status_priority ON ONLY public.todos_active USING btree (user_id, status, priority DESC) WHERE ((status)::text = ANY ((ARRAY['todo'::character varying, 'in_progress'::character varying])::text[]));

-- index public.idx_todos_archived_parent
CREATE INDEX idx_todos_archived_parent ON ONLY public.todos_archived USING btree (parent_todo_id);

-- index public.idx_todos_archived_project_date
CREATE INDEX idx_todos_archived_project_date ON ONLY public.todos_archived USING btree (project_id, archived_at DESC) WHERE (project_id IS NOT NULL);

-- index public.idx_todos_archived_user_archived
CREATE INDEX idx_todos_archived_user_archived ON ONLY public.todos_archived USING btree (user_id, archived_at DESC);

-- index switchyard.maintenance_history_started_idx
CREATE INDEX maintenance_history_started_idx ON switchyard.maintenance_history USING btree (started_at DESC);

-- index switchyard.phase_history_table_changed_idx
CREATE INDEX phase_history_table_changed_idx ON switchyard.phase_history USING btree (table_name, changed_at);

-- index switchyard.proxy_instances_heartbeat_idx
CREATE INDEX proxy_instances_heartbeat_idx ON switchyard.proxy_instances USING btree (heartbeat_at);

-- index switchyard.verify_runs_table_finished_idx
CREATE INDEX verify_runs_table_finished_idx ON switchyard.verify_runs USING btree (table_name, finished_at DESC);

-- view public.maintenance_history
CREATE VIEW public.maintenance_history AS
 SELECT maintenance_history.id,
    maintenance_history.job,
    maintenance_history.step,
    maintenance_history.started_at,
    maintenance_history.finished_at,
    maintenance_history.finished_at - maintenance_history.started_at AS duration,
    maintenance_history.status,
    maintenance_history.rows_affected,
    maintenance_history.detail,
    maintenance_history.error
   FROM switchyard.maintenance_history;

-- view public.partition_monitor
CREATE VIEW public.partition_monitor AS
 SELECT parent.relname::text AS parent_table,
    c.relname::text AS partition_name,
    pg_get_expr(c.relpartbound, c.oid) AS partition_bound,
    COALESCE(s.n_live_tup, 0::bigint) AS live_rows,
    COALESCE(s.n_dead_tup, 0::bigint) AS dead_rows,
    round(100.0 * s.n_dead_tup::numeric / NULLIF(s.n_live_tup + s.n_dead_tup, 0)::numeric, 1) AS dead_pct,
    COALESCE(s.n_mod_since_analyze, 0::bigint) AS modified_since_analyze,
    pg_total_relation_size(c.oid::regclass) AS total_bytes,
    pg_size_pretty(pg_total_relation_size(c.oid::regclass)) AS total_size,
    GREATEST(s.last_vacuum, s.last_autovacuum) AS last_vacuum,
    GREATEST(s.last_analyze, s.last_autoanalyze) AS last_analyze,
        CASE
            WHEN s.n_dead_tup > 1000 AND s.n_dead_tup::numeric > (0.2 * GREATEST(s.n_live_tup, 1::bigint)::numeric) THEN 'NEEDS_VACUUM'::text
            WHEN s.n_mod_since_analyze > 1000 AND s.n_mod_since_analyze::numeric > (0.1 * GREATEST(s.n_live_tup, 1::bigint)::numeric) THEN 'NEEDS_ANALYZE'::text
            ELSE 'OK'::text
        END AS vacuum_status
   FROM pg_inherits i
     JOIN pg_class parent ON parent.oid = i.inhparent
     JOIN pg_class c ON c.oid = i.inhrelid
     LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
  WHERE i.inhparent = ANY (ARRAY['public.todos_active'::regclass::oid, 'public.todos_archived'::regclass::oid, 'public.ai_todo_interactions'::regclass::oid]);

-- view switchyard.todos_proposed
CREATE VIEW switchyard.todos_proposed AS
 SELECT todos_active.id,
    todos_active.user_id,
    todos_active.project_id,
    todos_active.parent_todo_id,
    todos_active.title,
    todos_active.description,
    todos_active.status,
    todos_active.priority,
    todos_active.due_date,
    todos_active.ai_generated,
    todos_active.tags,
    todos_active.metadata,
    todos_active.created_at,
    todos_active.updated_at,
    todos_active.completed_at
   FROM public.todos_active
 LIMIT 0;

-- function public.archive_completed_todos(interval,integer)
CREATE OR REPLACE FUNCTION public.archive_completed_todos(retention interval DEFAULT '30 days'::interval, batch_size integer DEFAULT 1000)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

-- function public.archive_completed_todos_batch(interval,integer,interval,integer)
CREATE OR REPLACE FUNCTION public.archive_completed_todos_batch(retention interval DEFAULT '30 days'::interval, batch_size integer DEFAULT 1000, lock_wait interval DEFAULT '00:00:00.2'::interval, max_attempts integer DEFAULT 10)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

-- function public.check_partition_health()
CREATE OR REPLACE FUNCTION public.check_partition_health()
 RETURNS TABLE(check_name text, object_name text, status text, detail text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
  v_month  timestamp;
  v_prefix text := CASE WHEN switchyard.partman_schema_for_archive() IS NULL THEN 'todos_archived_' ELSE 'todos_archived_p' END;
  v_found  boolean := false;
BEGIN
  RETURN QUERY
    SELECT h.check_name, h.object_name, h.status, h.detail
    FROM switchyard.check_partition_health_by_name() h WHERE h.check_name = 'hash_partitions';
  -- archive_partitions: this month (CRITICAL when missing) and the next two,
  -- each covered whole by some partition's range, whatever its name.
  FOR k IN 0..2 LOOP
    v_month := date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => k);
    IF NOT EXISTS (SELECT 1 FROM switchyard.archive_partition_ranges() p
                   WHERE p.lower_bound <= v_month AT TIME ZONE 'UTC'
                     AND p.upper_bound >= (v_month + interval '1 month') AT TIME ZONE 'UTC') THEN
      v_found := true;
      check_name := 'archive_partitions'; object_name := v_prefix || to_char(v_month, 'YYYY_MM');
      status := CASE WHEN k = 0 THEN 'CRITICAL' ELSE 'WARNING' END;
      detail := format('missing archive partition %s; run SELECT create_archive_partitions(3)', object_name);
      RETURN NEXT;
    END IF;
  END LOOP;
  IF NOT v_found THEN
    check_name := 'archive_partitions'; object_name := NULL; status := 'OK';
    detail := 'this month and the next two have their partitions'; RETURN NEXT;
  END IF;
  RETURN QUERY
    SELECT h.check_name, h.object_name, h.status, h.detail
    FROM switchyard.check_partition_health_by_name() h WHERE h.check_name NOT IN ('hash_partitions', 'archive_partitions');
END
$function$;

-- function public.create_archive_partitions(integer,date)
CREATE OR REPLACE FUNCTION public.create_archive_partitions(months_ahead integer DEFAULT 3, from_month date DEFAULT NULL::date)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
  v_partman text := switchyard.partman_schema_for_archive();
  v_before  integer;
  v_after   integer;
  v_log     bigint;
  v_moved   bigint;
  v_total_moved bigint := 0;
BEGIN
  IF v_partman IS NULL THEN
    RETURN switchyard.create_archive_partitions_by_name(months_ahead, from_month);
  END IF;
  IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
    RAISE EXCEPTION 'create_archive_partitions: months_ahead must be between 0 and 120, got %', months_ahead
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_log := switchyard.maintenance_begin('create_archive_partitions', NULL,
             jsonb_build_object('months_ahead', months_ahead, 'managed_by', 'pg_partman'));
  SELECT count(*) INTO v_before FROM switchyard.archive_partition_ranges();
  EXECUTE format('UPDATE %I.part_config SET premake = $1 WHERE parent_table = $2', v_partman)
    USING months_ahead, 'public.todos_archived';
  -- Our partitions are UTC months; pg_partman computes months in the
  -- session's time zone.
  PERFORM set_config('TimeZone', 'UTC', true);
  -- Rows in the default partition first, into partitions of their months
  -- (as 0002's function does): run_maintenance plans from the newest value
  -- in the set and could not attach a month the default still holds rows of.
  LOOP
    EXECUTE format('SELECT %I.partition_data_time($1, p_batch_count => 12, p_analyze => false)', v_partman)
      INTO v_moved USING 'public.todos_archived';
    v_total_moved := v_total_moved + coalesce(v_moved, 0);
    EXIT WHEN coalesce(v_moved, 0) = 0;
  END LOOP;
  EXECUTE format('SELECT %I.run_maintenance($1)', v_partman) USING 'public.todos_archived';
  SELECT count(*) INTO v_after FROM switchyard.archive_partition_ranges();
  PERFORM switchyard.maintenance_finish(v_log, 'succeeded', greatest(v_after - v_before, 0),
            jsonb_build_object('managed_by', 'pg_partman', 'rows_moved_from_default', v_total_moved));
  RETURN greatest(v_after - v_before, 0);
END
$function$;

-- function public.drop_old_archive_partitions(interval,boolean)
CREATE OR REPLACE FUNCTION public.drop_old_archive_partitions(retention interval, force boolean DEFAULT false)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

-- function public.get_index_usage_stats()
CREATE OR REPLACE FUNCTION public.get_index_usage_stats()
 RETURNS TABLE(parent_table text, table_name text, parent_index text, index_name text, index_scans bigint, tuples_read bigint, tuples_fetched bigint, size_bytes bigint)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
  SELECT pt.relname::text, s.relname::text, pi.relname::text, s.indexrelname::text,
         s.idx_scan, s.idx_tup_read, s.idx_tup_fetch, pg_relation_size(s.indexrelid)
  FROM pg_stat_user_indexes s
  JOIN pg_inherits ti ON ti.inhrelid = s.relid
  JOIN pg_class pt ON pt.oid = ti.inhparent
  LEFT JOIN pg_inherits ii ON ii.inhrelid = s.indexrelid
  LEFT JOIN pg_class pi ON pi.oid = ii.inhparent
  WHERE ti.inhparent IN ('todos_active'::regclass, 'todos_archived'::regclass, 'ai_todo_interactions'::regclass)
  ORDER BY pt.relname, s.relname, s.indexrelname
$function$;

-- function public.get_partition_statistics(boolean)
CREATE OR REPLACE FUNCTION public.get_partition_statistics(exact boolean DEFAULT false)
 RETURNS TABLE(parent_table text, partition_name text, partition_bound text, row_count bigint, dead_rows bigint, total_bytes bigint, size_mb numeric, vacuum_status text, last_vacuum timestamp with time zone, last_analyze timestamp with time zone)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

-- function public.run_daily_maintenance(interval,integer,integer)
CREATE OR REPLACE FUNCTION public.run_daily_maintenance(retention interval DEFAULT '30 days'::interval, batch_size integer DEFAULT 1000, months_ahead integer DEFAULT 3)
 RETURNS TABLE(step text, status text, rows_affected bigint, detail text)
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

-- function public.weekly_maintenance_steps()
CREATE OR REPLACE FUNCTION public.weekly_maintenance_steps()
 RETURNS TABLE(step_no integer, step text, command text, purpose text)
 LANGUAGE sql
 IMMUTABLE
AS $function$
  VALUES
    (1, 'vacuum_todos_active', 'VACUUM (ANALYZE) todos_active',
        'reclaim the rows archival and app updates deleted; refresh planner statistics'),
    (2, 'vacuum_todos_archived', 'VACUUM (ANALYZE) todos_archived',
        'set visibility and freeze maps on the archive, which is mostly appended to'),
    (3, 'vacuum_ai_todo_interactions', 'VACUUM (ANALYZE) ai_todo_interactions',
        'reclaim dead rows; refresh planner statistics'),
    (4, 'check_partition_health', 'SELECT * FROM check_partition_health() WHERE status <> ''OK''',
        'report what still needs attention after the vacuum')
$function$;

-- function switchyard.archive_partition_ranges()
CREATE OR REPLACE FUNCTION switchyard.archive_partition_ranges()
 RETURNS TABLE(partition_name text, lower_bound timestamp with time zone, upper_bound timestamp with time zone)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
  SELECT c.relname::text,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'public.todos_archived'::regclass
    AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
$function$;

-- function switchyard.backfill_todos(uuid,uuid,integer)
CREATE OR REPLACE FUNCTION switchyard.backfill_todos(after uuid, upto uuid, max_rows integer, OUT copied bigint, OUT last_id uuid)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.cap_shadow_mismatches()
CREATE OR REPLACE FUNCTION switchyard.cap_shadow_mismatches()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  DELETE FROM switchyard.shadow_mismatches
  WHERE id < (SELECT id FROM switchyard.shadow_mismatches ORDER BY id DESC OFFSET 999 LIMIT 1);
  RETURN NULL;
END
$function$;

-- function switchyard.check_partition_health_by_name()
CREATE OR REPLACE FUNCTION switchyard.check_partition_health_by_name()
 RETURNS TABLE(check_name text, object_name text, status text, detail text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

-- function switchyard.check_todo_parents(public.todos[])
CREATE OR REPLACE FUNCTION switchyard.check_todo_parents(rows public.todos[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
AS $function$
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
$function$;

-- function switchyard.create_archive_partitions_by_name(integer,date)
CREATE OR REPLACE FUNCTION switchyard.create_archive_partitions_by_name(months_ahead integer DEFAULT 3, from_month date DEFAULT NULL::date)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

-- function switchyard.delete_todo_subtrees(uuid[])
CREATE OR REPLACE FUNCTION switchyard.delete_todo_subtrees(parents uuid[])
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.delete_todos_new(uuid[])
CREATE OR REPLACE FUNCTION switchyard.delete_todos_new(ids uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.depth_in_legacy(public.todos[])
CREATE OR REPLACE FUNCTION switchyard.depth_in_legacy(rows public.todos[])
 RETURNS TABLE(id uuid, depth integer)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.legacy_depth(uuid)
CREATE OR REPLACE FUNCTION switchyard.legacy_depth(todo uuid)
 RETURNS integer
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
  WITH RECURSIVE up(cur, d) AS (
    SELECT t.parent_todo_id, 0 FROM todos t WHERE t.id = todo
    UNION ALL
    SELECT t.parent_todo_id, up.d + 1
    FROM up JOIN todos t ON t.id = up.cur
    WHERE up.d < 10000)
  SELECT max(d) FROM up
$function$;

-- function switchyard.lock_table(regclass,text,interval,integer)
CREATE OR REPLACE FUNCTION switchyard.lock_table(target regclass, lock_mode text, lock_wait interval, max_attempts integer)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_mode    text := upper(lock_mode);
  v_old     text := current_setting('lock_timeout');
  v_attempt integer := 0;
BEGIN
  IF v_mode IS NULL OR v_mode NOT IN ('ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE',
                                      'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE') THEN
    RAISE EXCEPTION 'switchyard.lock_table: unknown lock mode %', lock_mode USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF lock_wait IS NULL OR lock_wait < interval '1 millisecond' OR max_attempts IS NULL OR max_attempts < 1 THEN
    RAISE EXCEPTION 'switchyard.lock_table: lock_wait must be at least 1ms and max_attempts at least 1'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  LOOP
    v_attempt := v_attempt + 1;
    BEGIN
      PERFORM set_config('lock_timeout', ceil(extract(epoch FROM lock_wait) * 1000)::bigint::text, true);
      EXECUTE format('LOCK TABLE %s IN %s MODE', target, v_mode);
      PERFORM set_config('lock_timeout', v_old, true);
      RETURN v_attempt;
    EXCEPTION WHEN lock_not_available THEN
      IF v_attempt >= max_attempts THEN
        RAISE EXCEPTION 'could not lock % in % mode: other transactions held it through % attempts of %',
                        target, v_mode, max_attempts, lock_wait
          USING ERRCODE = 'lock_not_available',
                HINT = 'Long transactions are using the table; retry later.';
      END IF;
      PERFORM pg_sleep(least(0.05 * v_attempt, 1.0));
    END;
  END LOOP;
END
$function$;

-- function switchyard.lock_todo_parents(uuid[],boolean)
CREATE OR REPLACE FUNCTION switchyard.lock_todo_parents(ids uuid[], nowait boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
AS $function$
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
$function$;

-- function switchyard.maintenance_begin(text,text,jsonb)
CREATE OR REPLACE FUNCTION switchyard.maintenance_begin(p_job text, p_step text DEFAULT NULL::text, p_detail jsonb DEFAULT NULL::jsonb)
 RETURNS bigint
 LANGUAGE sql
AS $function$
  INSERT INTO switchyard.maintenance_history (job, step, detail)
  VALUES (p_job, p_step, p_detail)
  RETURNING id
$function$;

-- function switchyard.maintenance_finish(bigint,text,bigint,jsonb,text)
CREATE OR REPLACE FUNCTION switchyard.maintenance_finish(p_id bigint, p_status text, p_rows_affected bigint DEFAULT NULL::bigint, p_detail jsonb DEFAULT NULL::jsonb, p_error text DEFAULT NULL::text)
 RETURNS void
 LANGUAGE sql
AS $function$
  UPDATE switchyard.maintenance_history
  SET finished_at = clock_timestamp(),
      status = p_status,
      rows_affected = p_rows_affected,
      detail = CASE WHEN p_detail IS NULL THEN detail ELSE coalesce(detail, '{}'::jsonb) || p_detail END,
      error = p_error
  WHERE id = p_id
$function$;

-- function switchyard.mirror_todos(text,public.todos[])
CREATE OR REPLACE FUNCTION switchyard.mirror_todos(op text, rows public.todos[])
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.mirror_todos_in_place(public.todos[])
CREATE OR REPLACE FUNCTION switchyard.mirror_todos_in_place(rows public.todos[])
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.mirror_todos_to_legacy(text,public.todos[])
CREATE OR REPLACE FUNCTION switchyard.mirror_todos_to_legacy(op text, rows public.todos[])
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.on_migration_state_change()
CREATE OR REPLACE FUNCTION switchyard.on_migration_state_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.phase IS DISTINCT FROM OLD.phase OR NEW.epoch IS DISTINCT FROM OLD.epoch THEN
    INSERT INTO switchyard.phase_history (table_name, from_phase, to_phase, epoch, changed_at, changed_by, reason)
    VALUES (NEW.table_name,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.phase END,
            NEW.phase, NEW.epoch, NEW.updated_at, NEW.updated_by, NEW.reason);
  END IF;
  PERFORM pg_notify('switchyard_migration_state',
                    json_build_object('table_name', NEW.table_name, 'phase', NEW.phase, 'epoch', NEW.epoch)::text);
  RETURN NEW;
END
$function$;

-- function switchyard.partman_schema_for_archive()
CREATE OR REPLACE FUNCTION switchyard.partman_schema_for_archive()
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
  v_schema text;
  v_managed boolean;
BEGIN
  SELECT n.nspname INTO v_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  WHERE e.extname = 'pg_partman';
  IF v_schema IS NULL THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.part_config WHERE parent_table = %L)', v_schema, 'public.todos_archived')
    INTO v_managed;
  RETURN CASE WHEN v_managed THEN v_schema END;
END
$function$;

-- function switchyard.refresh_descendant_depths(uuid[])
CREATE OR REPLACE FUNCTION switchyard.refresh_descendant_depths(ids uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.refresh_todo_depth(uuid[])
CREATE OR REPLACE FUNCTION switchyard.refresh_todo_depth(ids uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.repair_depths()
CREATE OR REPLACE FUNCTION switchyard.repair_depths()
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET work_mem TO '256MB'
AS $function$
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
$function$;

-- function switchyard.todo_descendants(uuid[])
CREATE OR REPLACE FUNCTION switchyard.todo_descendants(ids uuid[])
 RETURNS uuid[]
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.todos_new_upkeep(text,public.todos[])
CREATE OR REPLACE FUNCTION switchyard.todos_new_upkeep(op text, rows public.todos[])
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- function switchyard.todos_new_written(text,public.todos[])
CREATE OR REPLACE FUNCTION switchyard.todos_new_written(op text, rows public.todos[])
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
  IF op IN ('I', 'U') THEN
    PERFORM switchyard.check_todo_parents(rows);
  END IF;
  RETURN switchyard.todos_new_upkeep(op, rows);
END
$function$;

-- function switchyard.todos_proposed_check()
CREATE OR REPLACE FUNCTION switchyard.todos_proposed_check()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
AS $function$
DECLARE
  missing text;
BEGIN
  missing := CASE
    WHEN NEW.id IS NULL THEN 'id'
    WHEN NEW.user_id IS NULL THEN 'user_id'
    WHEN NEW.title IS NULL THEN 'title'
    WHEN NEW.status IS NULL THEN 'status'
    WHEN NEW.priority IS NULL THEN 'priority'
    WHEN NEW.ai_generated IS NULL THEN 'ai_generated'
    WHEN NEW.tags IS NULL THEN 'tags'
    WHEN NEW.created_at IS NULL THEN 'created_at'
    WHEN NEW.updated_at IS NULL THEN 'updated_at'
  END;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'null value in column "%" of relation "todos" violates not-null constraint', missing
      USING ERRCODE = 'not_null_violation', COLUMN = missing, TABLE = 'todos', SCHEMA = 'public';
  END IF;
  IF NEW.status NOT IN ('todo', 'in_progress', 'done') THEN
    RAISE EXCEPTION 'new row for relation "todos" violates check constraint "todos_status_check"'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'todos_status_check', TABLE = 'todos', SCHEMA = 'public';
  END IF;
  RETURN NEW;
END
$function$;

-- function switchyard.touch_updated_at_on_set_null()
CREATE OR REPLACE FUNCTION switchyard.touch_updated_at_on_set_null()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
AS $function$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$function$;

-- function switchyard.upsert_affects_row_twice()
CREATE OR REPLACE FUNCTION switchyard.upsert_affects_row_twice()
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
BEGIN
  RAISE EXCEPTION 'ON CONFLICT DO UPDATE command cannot affect row a second time'
    USING ERRCODE = 'cardinality_violation',
          HINT = 'Ensure that no rows proposed for insertion within the same command have duplicate constrained values.';
END
$function$;

-- function switchyard.upsert_todos_new(public.todos[])
CREATE OR REPLACE FUNCTION switchyard.upsert_todos_new(rows public.todos[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

-- trigger migration_state_changed on switchyard.migration_state
CREATE TRIGGER migration_state_changed AFTER INSERT OR UPDATE ON switchyard.migration_state FOR EACH ROW EXECUTE FUNCTION switchyard.on_migration_state_change();

-- trigger shadow_mismatches_capped on switchyard.shadow_mismatches
CREATE TRIGGER shadow_mismatches_capped AFTER INSERT ON switchyard.shadow_mismatches FOR EACH STATEMENT EXECUTE FUNCTION switchyard.cap_shadow_mismatches();

-- trigger todos_active_project_set_null on public.todos_active
CREATE TRIGGER todos_active_project_set_null BEFORE UPDATE OF project_id ON public.todos_active FOR EACH ROW WHEN (((pg_trigger_depth() > 0) AND (old.project_id IS NOT NULL) AND (new.project_id IS NULL))) EXECUTE FUNCTION switchyard.touch_updated_at_on_set_null();

-- trigger todos_archived_project_set_null on public.todos_archived
CREATE TRIGGER todos_archived_project_set_null BEFORE UPDATE OF project_id ON public.todos_archived FOR EACH ROW WHEN (((pg_trigger_depth() > 0) AND (old.project_id IS NOT NULL) AND (new.project_id IS NULL))) EXECUTE FUNCTION switchyard.touch_updated_at_on_set_null();

-- trigger todos_proposed_instead on switchyard.todos_proposed
CREATE TRIGGER todos_proposed_instead INSTEAD OF INSERT ON switchyard.todos_proposed FOR EACH ROW EXECUTE FUNCTION switchyard.todos_proposed_check();

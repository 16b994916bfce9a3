-- 0014: archive partitions known by their bounds, not their names, so the
-- set can be handed to pg_partman (`switchyard maintain … --partman`), which
-- names monthly children todos_archived_pYYYY_MM.
--
-- 0002's create_archive_partitions and 0004's check_partition_health found
-- a month's partition by the name todos_archived_YYYY_MM. Both are wrapped
-- here rather than rewritten (migrations are append-only): the originals
-- move to the switchyard schema and the public functions, same signatures,
-- decide by bounds.
--  * create_archive_partitions: when pg_partman manages todos_archived it
--    moves rows out of the default partition (partman.partition_data_time)
--    and runs partman.run_maintenance for the set (its premake says how far
--    ahead); otherwise 0002's function, as before.
--  * check_partition_health: 0004's checks, except that a month counts as
--    covered when any partition's range holds all of it.

ALTER FUNCTION public.create_archive_partitions(integer, date) RENAME TO create_archive_partitions_by_name;
ALTER FUNCTION public.create_archive_partitions_by_name(integer, date) SET SCHEMA switchyard;
ALTER FUNCTION public.check_partition_health() RENAME TO check_partition_health_by_name;
ALTER FUNCTION public.check_partition_health_by_name() SET SCHEMA switchyard;

-- The partitions of todos_archived with their ranges (the default has none).
CREATE FUNCTION switchyard.archive_partition_ranges()
RETURNS TABLE (partition_name text, lower_bound timestamptz, upper_bound timestamptz)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
  SELECT c.relname::text,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'public.todos_archived'::regclass
    AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
$$;

-- Whether pg_partman manages todos_archived (and in which schema it lives).
CREATE FUNCTION switchyard.partman_schema_for_archive()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
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
$$;

CREATE FUNCTION public.create_archive_partitions(months_ahead integer DEFAULT 3, from_month date DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION public.create_archive_partitions(integer, date) IS
  'Creates monthly todos_archived partitions through months_ahead months ahead (by pg_partman''s run_maintenance when it manages the set); idempotent';

CREATE FUNCTION public.check_partition_health()
RETURNS TABLE (check_name text, object_name text, status text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION public.check_partition_health() IS
  'Health of the partitioned tables: one row per problem (WARNING or CRITICAL), one OK row per clean check';

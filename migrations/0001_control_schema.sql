-- 0001: the Switchyard control plane, kept in PostgreSQL itself
-- (docs/architecture.md). Every proxy instance and every CLI command reads and writes
-- the migration's state here, so they all see the same phase.
--
-- The migration runner creates switchyard.schema_migrations itself before any
-- migration runs, hence IF NOT EXISTS on the schema. Nothing here touches the
-- legacy tables.

CREATE SCHEMA IF NOT EXISTS switchyard;

COMMENT ON SCHEMA switchyard IS
  'Switchyard control plane: migration phases, proxy instances, backfill, verification, shadow samples, maintenance history';

-- One row per migrated table: which phase it is in (docs/invariants.md) and an epoch
-- that increases by one on every phase change, so that instances can
-- acknowledge exactly the change they have applied.
CREATE TABLE switchyard.migration_state (
  table_name text PRIMARY KEY,
  phase      text NOT NULL DEFAULT 'legacy'
             CONSTRAINT migration_state_phase_check
             CHECK (phase IN ('legacy', 'dual_write', 'read_new', 'write_new', 'new_only')),
  epoch      bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT current_user,
  reason     text
);

INSERT INTO switchyard.migration_state (table_name, phase, epoch, updated_by, reason)
VALUES ('todos', 'legacy', 0, 'switchyard migrate', 'initial state');

-- Every phase change, newest last. Written by a trigger on migration_state so
-- that the history cannot miss a change, whoever makes it.
CREATE TABLE switchyard.phase_history (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_name text NOT NULL REFERENCES switchyard.migration_state (table_name) ON DELETE CASCADE,
  from_phase text,
  to_phase   text NOT NULL,
  epoch      bigint NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by text,
  reason     text
);
CREATE INDEX phase_history_table_changed_idx ON switchyard.phase_history (table_name, changed_at);

-- Records each phase change in phase_history and tells listening proxy
-- instances (LISTEN switchyard_migration_state; payload is the row as JSON).
-- Instances also poll, so a lost notification only delays them.
CREATE FUNCTION switchyard.on_migration_state_change() RETURNS trigger
LANGUAGE plpgsql AS $$
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
$$;

CREATE TRIGGER migration_state_changed
  AFTER INSERT OR UPDATE ON switchyard.migration_state
  FOR EACH ROW EXECUTE FUNCTION switchyard.on_migration_state_change();

-- The seeded row above predates the trigger: give it its history entry.
INSERT INTO switchyard.phase_history (table_name, from_phase, to_phase, epoch, changed_at, changed_by, reason)
SELECT table_name, NULL, phase, epoch, updated_at, updated_by, reason FROM switchyard.migration_state;

-- Live proxy instances: a heartbeat, and the epoch/phase each has applied.
-- Guards (entering new_only) require every live instance to have acknowledged.
CREATE TABLE switchyard.proxy_instances (
  instance_id        text PRIMARY KEY,
  host               text NOT NULL,
  pid                integer,
  version            text,
  started_at         timestamptz NOT NULL DEFAULT now(),
  heartbeat_at       timestamptz NOT NULL DEFAULT now(),
  acknowledged_epoch bigint,
  acknowledged_phase text
             CONSTRAINT proxy_instances_phase_check
             CHECK (acknowledged_phase IN ('legacy', 'dual_write', 'read_new', 'write_new', 'new_only'))
);
CREATE INDEX proxy_instances_heartbeat_idx ON switchyard.proxy_instances (heartbeat_at);

-- The backfill's resumable checkpoint: keyset position over the legacy
-- primary key (todos.id is uuid), one row per migrated table.
CREATE TABLE switchyard.backfill_progress (
  table_name  text PRIMARY KEY REFERENCES switchyard.migration_state (table_name) ON DELETE CASCADE,
  last_key    uuid,
  rows_copied bigint NOT NULL DEFAULT 0 CHECK (rows_copied >= 0),
  batches     bigint NOT NULL DEFAULT 0 CHECK (batches >= 0),
  started_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  paused      boolean NOT NULL DEFAULT false,
  completed   boolean NOT NULL DEFAULT false,
  CONSTRAINT backfill_progress_completed_has_finish CHECK (NOT completed OR finished_at IS NOT NULL)
);

-- Verifier runs; the read_new guard asks for a recent clean one.
CREATE TABLE switchyard.verify_runs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_name  text NOT NULL DEFAULT 'todos',
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  clean       boolean,          -- NULL while running or when it could not run
  differences bigint CHECK (differences >= 0),
  summary     jsonb
);
CREATE INDEX verify_runs_table_finished_idx ON switchyard.verify_runs (table_name, finished_at DESC);

-- Samples of shadow-read mismatches: the statement, its parameters, the row
-- counts each way and the first differing rows. Capped (see the trigger) so a
-- systematic mismatch cannot fill the disk; the proxy's metrics count them all.
CREATE TABLE switchyard.shadow_mismatches (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_name     text NOT NULL DEFAULT 'todos',
  phase          text,
  instance_id    text,
  statement      text NOT NULL,
  params         jsonb,
  legacy_rows    bigint,          -- rows the legacy form returned
  new_rows       bigint,          -- rows the new form returned
  only_in_legacy bigint NOT NULL DEFAULT 0,
  only_in_new    bigint NOT NULL DEFAULT 0,
  sample         jsonb,           -- first differing rows: {"only_in_legacy": [...], "only_in_new": [...]}
  at             timestamptz NOT NULL DEFAULT now()
);

-- Keeps the newest 1000 samples.
CREATE FUNCTION switchyard.cap_shadow_mismatches() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM switchyard.shadow_mismatches
  WHERE id < (SELECT id FROM switchyard.shadow_mismatches ORDER BY id DESC OFFSET 999 LIMIT 1);
  RETURN NULL;
END
$$;

CREATE TRIGGER shadow_mismatches_capped
  AFTER INSERT ON switchyard.shadow_mismatches
  FOR EACH STATEMENT EXECUTE FUNCTION switchyard.cap_shadow_mismatches();

-- One row per maintenance job or step (archival, partition management, daily
-- and weekly runs). public.maintenance_history (migration 0004) is the view
-- the seed's monitoring queries read.
CREATE TABLE switchyard.maintenance_history (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job           text NOT NULL,
  step          text,
  started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at   timestamptz,
  status        text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
  rows_affected bigint,
  detail        jsonb,
  error         text
);
CREATE INDEX maintenance_history_started_idx ON switchyard.maintenance_history (started_at DESC);

-- Logging helpers for the maintenance functions and for the CLI (which runs
-- what functions cannot, e.g. VACUUM): begin returns the row id, finish
-- closes it. Run by the CLI in autocommit mode, a failed job still leaves its
-- 'failed' row behind.
CREATE FUNCTION switchyard.maintenance_begin(p_job text, p_step text DEFAULT NULL, p_detail jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE sql AS $$
  INSERT INTO switchyard.maintenance_history (job, step, detail)
  VALUES (p_job, p_step, p_detail)
  RETURNING id
$$;

CREATE FUNCTION switchyard.maintenance_finish(p_id bigint, p_status text, p_rows_affected bigint DEFAULT NULL,
                                              p_detail jsonb DEFAULT NULL, p_error text DEFAULT NULL)
RETURNS void
LANGUAGE sql AS $$
  UPDATE switchyard.maintenance_history
  SET finished_at = clock_timestamp(),
      status = p_status,
      rows_affected = p_rows_affected,
      detail = CASE WHEN p_detail IS NULL THEN detail ELSE coalesce(detail, '{}'::jsonb) || p_detail END,
      error = p_error
  WHERE id = p_id
$$;

-- Takes a table lock the way maintenance must under live traffic: each try
-- waits at most lock_wait (a queued ACCESS EXCLUSIVE request stalls every
-- later reader, so the wait must be short), then backs off (50 ms per attempt
-- so far, at most 1 s) and tries again, up to max_attempts; then fails with
-- SQLSTATE 55P03 (lock_not_available) so the caller can retry later. The lock
-- is held until the caller's transaction ends. Returns the attempts used.
CREATE FUNCTION switchyard.lock_table(target regclass, lock_mode text, lock_wait interval, max_attempts integer)
RETURNS integer
LANGUAGE plpgsql AS $$
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
$$;

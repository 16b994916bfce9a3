-- Shadow-read sample rates changed at run time (docs/shadow.md): a row overrides
-- the rate `switchyard serve` was started with for that phase; no row, the
-- configured rate. Proxies re-read this table every few seconds
-- (--shadow-settings-poll).
CREATE TABLE switchyard.shadow_settings (
  phase       text PRIMARY KEY
              CHECK (phase IN ('legacy', 'dual_write', 'read_new', 'write_new', 'new_only')),
  sample_rate float8 NOT NULL CHECK (sample_rate >= 0 AND sample_rate <= 1),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL DEFAULT current_user
);

COMMENT ON TABLE switchyard.shadow_settings IS
  'Shadow-read sample rate per phase, overriding the proxies'' configured rates at run time';

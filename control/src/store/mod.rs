//! The control tables of the `switchyard` schema behind one door: every
//! statement the proxy, the CLI, the backfill and the demo run against them
//! is here, one module per table, so a change of a table (a migration) has
//! one place to look for its readers and writers. Each function takes any
//! client or transaction and returns the driver's error; callers wrap it in
//! their own.

pub mod backfill_progress;
pub mod backfill_ranges;
pub mod maintenance_history;
pub mod migration_state;
pub mod phase_history;
pub mod proxy_instances;
pub mod schema_migrations;
pub mod shadow_mismatches;
pub mod shadow_settings;
pub mod verify_runs;

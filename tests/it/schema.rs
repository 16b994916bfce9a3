//! The SQL migrations (migrations/0001..0004) against a real PostgreSQL: the
//! objects they create, read back from the catalogs, and what the maintenance
//! functions do to the data, including archival under concurrent writes.

// Shared fixtures: row inserts and catalog queries.
#[path = "schema/fixtures.rs"]
mod fixtures;

// `migrate` on a legacy database with data creates exactly the seed's objects.
#[path = "schema/objects.rs"]
mod objects;

// archive_completed_todos: exactly the eligible rows, in batches, logged, I3
// kept, and no concurrent update or delete lost.
#[path = "schema/archival.rs"]
mod archival;

// Archive partition management, the health check, the daily and weekly jobs.
#[path = "schema/partitions.rs"]
mod partitions;

// The switchyard control schema: phase history, capped shadow samples.
#[path = "schema/control.rs"]
mod control;

// schema/current.sql and docs/schema.md's defined-in table match the migrations.
#[path = "schema/current.rs"]
mod current;

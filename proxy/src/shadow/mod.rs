//! Shadow reads: a sample of the reads of the migrated table is
//! run again, off the client's path, in its legacy and new forms in ONE
//! statement on a side connection, so both forms see one snapshot and
//! concurrent writes cause no false differences.
//!
//! - [`ShadowSampler`] is shared by every session: a sample rate per phase
//!   (configured, overridden at run time by `switchyard.shadow_settings`,
//!   polled), a bounded queue that the router offers jobs to with `try_send`
//!   (full: the job is dropped and counted, the client never waits), and
//!   worker tasks with their own connections.
//! - Parameters: the client's Bind values are kept as raw bytes with their
//!   format codes, and the shadow statement is prepared on the side
//!   connection with the parameter type OIDs the client's Parse named (0:
//!   inferred by PostgreSQL, as for the client's statement). Each value is
//!   sent back in the format the client used (a text-format value as text, a
//!   binary one as binary): PostgreSQL decodes them exactly as it decoded the
//!   client's.
//! - Outcomes: `switchyard_shadow_reads_total{outcome}` (match, mismatch,
//!   skipped, dropped, error) and `switchyard_shadow_skipped_total{reason}`.
//!   A mismatch is logged and sampled into `switchyard.shadow_mismatches`
//!   (capped by a trigger) with the first differing rows each way.
//!
//! [`sampler`] decides which reads are sampled and queues them without
//! waiting; [`job`] is what is queued (the client's statement, plan and
//! parameters as bound); [`worker`] runs the comparisons and the settings
//! poll on side connections.

mod job;
mod sampler;
mod worker;

pub use job::{params_from_bind, Param, ShadowJob};
pub use sampler::{parse_rate, wants, ShadowConfig, ShadowSampler};

//! Proof that the new schema answers like the old one (invariant I2 in
//! docs/invariants.md; how, in docs/verify.md), compared in one snapshot.
//!
//! # Brief overview
//!
//! `switchyard verify` compares the legacy `todos` table with
//! `todos_active ∪ todos_archived` over every legacy column. The legacy key
//! space is cut into chunks ([`chunks`]); each chunk is compared in ONE
//! statement (one snapshot: count and an order-independent hash per side,
//! [`plan::Spec::chunk_compare_sql`]); a differing chunk is drilled down to
//! row ids ([`plan::Spec::chunk_drill_sql`]) and each row classified
//! ([`diff`]): missing in new, extra in new, different values (naming the
//! columns), in both active and archived (I3), wrong table, wrong depth.
//! Representative reads from a file ([`queries`]) run in their legacy form
//! and the form the rewriter plans for read_new, in one snapshot
//! (`switchyard_rewriter::shadow::ShadowRead`, the statement the proxy's
//! shadow reads send). The [`report::Report`] renders as
//! text, JSON, JUnit XML or Markdown ([`render`]) and is recorded in
//! `switchyard.verify_runs` ([`runs`]), which the read_new phase guard reads.
//!
//! Pure parts (plan, chunks, diff, report, render, queries) do no I/O; only
//! [`verify`] and [`runs`] talk to PostgreSQL.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use switchyard_shadow_verify::{verify, Format, Options};
//! let opts = Options { database_url: "postgres://localhost/app".into(), ..Options::default() };
//! let report = verify(&opts).await?;
//! print!("{}", Format::Text.render(&report));
//! std::process::exit(report.exit_code().into());
//! # }
//! ```

pub mod chunks;
mod depth;
pub mod diff;
pub mod plan;
pub mod queries;
mod reads;
pub mod render;
pub mod report;
mod throttle;
mod verify;

pub use diff::{Difference, DifferenceKind};
pub use plan::{Spec, LEGACY_COLUMNS};
pub use render::Format;
pub use report::{Report, EXIT_CLEAN, EXIT_COULD_NOT_RUN, EXIT_DIFFERENCES};
pub use switchyard_control::store::verify_runs::{self as runs, last_clean_within, last_finished, VerifyRun};
pub use verify::{connect, verify, Options, VerifyError};
